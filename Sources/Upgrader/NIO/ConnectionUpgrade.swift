import Multistream
import NIOCore
import Noise
import P2PCore
import TLS
import Yamux

/// The glue between ``UpgradeStateMachine`` and the protocol handlers of one connection: it feeds
/// the handlers' results in as events and performs the actions that come out, by adding handlers
/// to the pipeline. Confined to the channel's event loop.
///
/// Pipeline as the upgrade goes (handlers are added behind each other, so bytes a negotiation read
/// ahead reach the next layer):
///
///     [multistream(security)] → [Noise | TLS] → [multistream(muxer)]? → [YamuxMultiplexer]
///
/// The multistream handlers remove themselves once their protocol is agreed.
/// `@unchecked Sendable`: every member is touched only on the channel's event loop, where all the
/// futures it subscribes to complete; the closures merely cross into `@Sendable` signatures.
final class ConnectionUpgrade: @unchecked Sendable {
    private let host: UpgradeHost
    private let channel: any Channel
    private let role: ConnectionRole
    private let expectedPeer: PeerID?
    private var machine: UpgradeStateMachine
    private let promise: EventLoopPromise<UpgradedConnection>
    private var timeout: Scheduled<Void>?
    private var multiplexer: YamuxMultiplexer?

    private init(
        host: UpgradeHost,
        channel: any Channel,
        role: ConnectionRole,
        startedAt: NIODeadline,
        expectedPeer: PeerID?
    ) {
        self.host = host
        self.channel = channel
        self.role = role
        self.expectedPeer = expectedPeer
        self.machine = UpgradeStateMachine(role: role, configuration: host.configuration, start: startedAt)
        self.promise = channel.eventLoop.makePromise(of: UpgradedConnection.self)
    }

    static func start(
        host: UpgradeHost,
        channel: any Channel,
        role: ConnectionRole,
        startedAt: NIODeadline,
        connectedAt: NIODeadline,
        expectedPeer: PeerID?
    ) -> EventLoopFuture<UpgradedConnection> {
        let upgrade = ConnectionUpgrade(
            host: host, channel: channel, role: role, startedAt: startedAt, expectedPeer: expectedPeer
        )
        let timeoutAmount = host.configuration.upgradeTimeout
        // The timeout counts from the start of the dial, so a slow connect eats into it.
        upgrade.timeout = channel.eventLoop.scheduleTask(deadline: startedAt + timeoutAmount) {
            upgrade.perform(upgrade.machine.timedOut(after: timeoutAmount, at: .now()))
        }
        // The upgrade starts before the close is watched: a channel the peer already closed (it
        // accepted and closed at once) runs the callback right here, and the machine must have
        // started to fail it (its multistream-select then sees the end of input, or the close).
        upgrade.perform(upgrade.machine.tcpConnected(at: connectedAt))
        channel.closeFuture.whenComplete { _ in
            upgrade.perform(upgrade.machine.connectionClosed(at: .now()))
        }
        // Dialed channels are created with autoRead off so that nothing the listener sends at once
        // (go sends its multistream header on accept) is read before the negotiation is in place.
        _ = channel.setOption(ChannelOptions.autoRead, value: true)
        return upgrade.promise.futureResult
    }

    // MARK: - Actions

    private func perform(_ action: UpgradeStateMachine.Action) {
        switch action {
        case .negotiateSecurity(let proposals, let lazy):
            self.negotiateSecurity(proposals: proposals, lazy: lazy)
        case .runHandshake(let security, let muxers):
            self.runHandshake(security, muxers: muxers)
        case .negotiateMuxer(let proposals, let lazy):
            self.negotiateMuxer(proposals: proposals, lazy: lazy)
        case .startMuxer:
            self.startMuxer()
        case .completed(let outcome):
            self.timeout?.cancel()
            guard let multiplexer = self.multiplexer else {
                preconditionFailure("upgrade completed without a multiplexer")
            }
            self.promise.succeed(
                UpgradedConnection(
                    channel: self.channel, outcome: outcome, multiplexer: multiplexer,
                    multistream: self.host.configuration.multistream
                )
            )
        case .fail(let error):
            self.timeout?.cancel()
            self.promise.fail(error)
            self.channel.close(promise: nil)
        case .none:
            break
        }
    }

    private func stepFailed(_ error: any Error) {
        self.perform(self.machine.stepFailed(error, at: .now()))
    }

    /// Stage 1: multistream-select for the security protocol.
    private func negotiateSecurity(proposals: [ProtocolID], lazy: Bool) {
        let install: MultistreamDialerHandler.NextLayerInstaller = { protocolID, channel in
            // Lazily, this runs before the listener's echo: the proposal is taken as agreed.
            self.perform(self.machine.securityAgreed(protocolID, at: .now()))
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        // Lazily, the handshake runs before the listener's answer; a refusal is still reported
        // as the negotiation's failure.
        let negotiationFailed: @Sendable (any Error) -> Void = { error in
            self.perform(self.machine.securityNegotiationFailed(error, at: .now()))
        }
        do {
            switch self.role {
            case .initiator:
                let handler = MultistreamDialerHandler(protocols: proposals, mode: lazy ? .lazy : .strict, nextLayer: install)
                try self.channel.pipeline.syncOperations.addHandler(handler)
                handler.negotiationResult.whenFailure(negotiationFailed)
            case .responder:
                let handler = MultistreamListenerHandler(protocols: proposals, nextLayer: install)
                try self.channel.pipeline.syncOperations.addHandler(handler)
                handler.negotiationResult.whenFailure(negotiationFailed)
            }
        } catch {
            self.stepFailed(error)
        }
    }

    /// Stage 2: the secure handshake, added behind the multistream handler.
    private func runHandshake(_ security: UpgradeSecurity, muxers: [ProtocolID]) {
        let eventLoop = self.channel.eventLoop
        do {
            switch security {
            case .noise:
                let promise = eventLoop.makePromise(of: NoiseHandshakeResult.self)
                let configuration = NoiseConfiguration(
                    identity: self.host.configuration.identity,
                    expectedRemotePeerID: self.expectedPeer,
                    muxers: muxers
                )
                let handler = try NoiseHandler(role: self.role, configuration: configuration, handshakePromise: promise)
                try self.channel.pipeline.syncOperations.addHandler(handler)
                promise.futureResult.whenComplete { result in
                    switch result {
                    case .success(let handshake):
                        let info = SecureChannelInfo(
                            security: .noise, remotePeerID: handshake.remotePeerID, earlyMuxer: handshake.earlyMuxer
                        )
                        self.perform(self.machine.handshakeCompleted(info, at: .now()))
                    case .failure(let error):
                        self.stepFailed(error)
                    }
                }
            case .tls:
                let handler = TLSHandler(
                    context: self.host.tlsContext, role: self.role, expectedRemotePeerID: self.expectedPeer,
                    eventLoop: eventLoop
                )
                try self.channel.pipeline.syncOperations.addHandler(handler)
                handler.handshakeResult.whenComplete { result in
                    switch result {
                    case .success(let handshake):
                        let info = SecureChannelInfo(
                            security: .tls, remotePeerID: handshake.remotePeerID,
                            earlyMuxer: handshake.negotiatedMuxer
                        )
                        self.perform(self.machine.handshakeCompleted(info, at: .now()))
                    case .failure(let error):
                        self.stepFailed(error)
                    }
                }
            }
        } catch {
            self.stepFailed(error)
        }
    }

    /// Stage 4: multistream-select for the muxer inside the secure channel.
    private func negotiateMuxer(proposals: [ProtocolID], lazy: Bool) {
        let install: MultistreamDialerHandler.NextLayerInstaller = { protocolID, channel in
            self.perform(self.machine.muxerAgreed(protocolID, at: .now()))
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        do {
            switch self.role {
            case .initiator:
                let handler = MultistreamDialerHandler(protocols: proposals, mode: lazy ? .lazy : .strict, nextLayer: install)
                try self.channel.pipeline.syncOperations.addHandler(handler)
                handler.negotiationResult.whenFailure { self.stepFailed($0) }
            case .responder:
                let handler = MultistreamListenerHandler(protocols: proposals, nextLayer: install)
                try self.channel.pipeline.syncOperations.addHandler(handler)
                handler.negotiationResult.whenFailure { self.stepFailed($0) }
            }
        } catch {
            self.stepFailed(error)
        }
    }

    /// Stage 5: yamux, behind everything else.
    private func startMuxer() {
        // The listener side of stream negotiation has one form only: lazy dialers need nothing different from it.
        let multiplexer = YamuxMultiplexer(
            role: self.role,
            configuration: self.host.yamuxConfiguration,
            inboundStreamInitializer: { stream in UpgradedConnection.serveStream(stream) }
        )
        do {
            try self.channel.pipeline.syncOperations.addHandler(multiplexer)
            self.multiplexer = multiplexer
            self.perform(self.machine.muxerStarted(at: .now()))
        } catch {
            self.stepFailed(error)
        }
    }
}
