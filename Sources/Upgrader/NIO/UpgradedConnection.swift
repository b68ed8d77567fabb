import Multistream
import NIOCore
import P2PCore
import Yamux

/// A connection whose upgrade finished: a yamux session over a secure channel.
public struct UpgradedConnection: @unchecked Sendable {
    /// The TCP channel.
    public let channel: any Channel
    /// The path the upgrade took and when each milestone was reached.
    public let outcome: UpgradeOutcome
    /// The session's multiplexer. Use it on the channel's event loop.
    public let multiplexer: YamuxMultiplexer
    /// How this side runs each stream's multistream-select.
    let multistream: MultistreamMode

    /// The per-stream protocols this side serves to streams the peer opens.
    public static let servedProtocols: [ProtocolID] = [.echo, .ping]

    /// Opens an `/echo/1.0.0` stream, sends `payload` and completes with the moment the same bytes
    /// came back. The stream's protocol is negotiated strictly or lazily as the host's
    /// ``MultistreamMode`` says. Fails with ``UpgradeError`` at stage `first_stream`.
    public func echo(payload: ByteBuffer, timeout: TimeAmount = UpgradeLimits.defaultStreamTimeout) -> EventLoopFuture<NIODeadline> {
        let eventLoop = self.channel.eventLoop
        let client = EchoClientHandler(payload: payload, eventLoop: eventLoop)
        let opened = self.openStream(
            protocol: .echo,
            install: { try $0.pipeline.syncOperations.addHandler(client) },
            negotiationFailed: { client.streamFailed($0) }
        )
        let timeoutTask = eventLoop.scheduleTask(in: timeout) {
            client.streamFailed(UpgradeFailure.timedOut(.firstStream, after: "\(timeout.nanoseconds / 1_000_000) ms"))
        }
        opened.whenFailure { client.streamFailed($0) }
        return client.response
            .map { NIODeadline.now() }
            .flatMapErrorThrowing { error in
                throw UpgradeError(stage: .firstStream, underlying: error)
            }
            .always { _ in
                timeoutTask.cancel()
                opened.whenSuccess { $0.close(promise: nil) }
            }
    }

    /// Opens a stream, negotiates `protocolID` on it (strictly or lazily, as the host's
    /// ``MultistreamMode`` says) and calls `install` to add the protocol's handlers.
    ///
    /// - Parameters:
    ///   - install: Adds the protocol handlers to the stream channel, on its event loop.
    ///   - negotiationFailed: Told when the peer refuses the protocol (also after the stream
    ///     future succeeded, in lazy mode).
    /// - Returns: The stream channel, once it is open and the handlers are set up.
    public func openStream(
        protocol protocolID: ProtocolID,
        install: @escaping @Sendable (any Channel) throws -> Void,
        negotiationFailed: @escaping @Sendable (any Error) -> Void = { _ in }
    ) -> EventLoopFuture<any Channel> {
        let mode: MultistreamDialerStateMachine.Mode = self.multistream == .lazy ? .lazy : .strict
        let multiplexer = self.multiplexer
        return self.channel.eventLoop.flatSubmit {
            multiplexer.openStream { stream in
                stream.eventLoop.makeCompletedFuture {
                    let negotiation = MultistreamDialerHandler(protocols: [protocolID], mode: mode) { _, channel in
                        channel.eventLoop.makeCompletedFuture { try install(channel) }
                    }
                    try stream.pipeline.syncOperations.addHandler(negotiation)
                    negotiation.negotiationResult.whenFailure(negotiationFailed)
                }
            }
        }
    }

    /// Closes the connection (yamux sends Go Away).
    public func close() -> EventLoopFuture<Void> {
        self.channel.close()
    }

    /// Sets up a stream the peer opened: multistream-select among ``servedProtocols``, then the
    /// protocol's handler. Anything else gets `na` (peers open `/ipfs/id/1.0.0` at once; that must
    /// not harm the connection).
    static func serveStream(_ stream: any Channel) -> EventLoopFuture<Void> {
        stream.eventLoop.makeCompletedFuture {
            let negotiation = MultistreamListenerHandler(protocols: servedProtocols) { protocolID, channel in
                channel.eventLoop.makeCompletedFuture {
                    try StreamProtocolServer.addHandlers(for: protocolID, to: channel.pipeline.syncOperations)
                }
            }
            try stream.pipeline.syncOperations.addHandler(negotiation)
        }
    }
}
