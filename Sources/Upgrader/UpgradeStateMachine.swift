import NIOCore
import P2PCore

/// What the secure handshake established, as the upgrade needs it.
public struct SecureChannelInfo: Hashable, Sendable {
    /// The security protocol that ran.
    public let security: UpgradeSecurity
    /// The peer's verified identity.
    public let remotePeerID: PeerID
    /// The muxer agreed inside the handshake, or nil when either side sent no list (classic mode,
    /// or a peer that does not negotiate early: rust, older go), so multistream-select must run.
    public let earlyMuxer: ProtocolID?

    /// Describes a completed handshake.
    public init(security: UpgradeSecurity, remotePeerID: PeerID, earlyMuxer: ProtocolID?) {
        self.security = security
        self.remotePeerID = remotePeerID
        self.earlyMuxer = earlyMuxer
    }
}

/// The path an upgrade really took.
public struct UpgradeOutcome: Hashable, Sendable {
    /// The security protocol and the verified peer.
    public let secureChannel: SecureChannelInfo
    /// The muxer that runs.
    public let muxer: ProtocolID
    /// Whether the muxer was agreed inside the handshake (no multistream-select round for it).
    public let usedEarlyNegotiation: Bool
    /// When each milestone was reached.
    public let timeline: UpgradeTimeline
}

/// The connection upgrade as a pure state machine: events in (TCP connected, security agreed,
/// handshake done, …), actions out (run multistream-select with these proposals, run this
/// handshake, start this muxer). It holds no channel and reads no clock: every event carries `now`.
///
/// The sequence is go-libp2p's `Upgrader.upgrade` / `setupMuxer`, the classic-versus-early branch
/// this suite measures:
///
///     stage 1  multistream-select: security protocol     (1 RTT strict, 0 lazy)
///     stage 2  Noise XX or TLS 1.3 handshake             (1 RTT for the dialer)
///     stage 3  early muxer from the handshake?           yes → stage 5
///     stage 4  multistream-select: muxer, in the channel (1 RTT strict, 0 lazy)
///     stage 5  start yamux
public struct UpgradeStateMachine {
    private enum State {
        case idle
        case negotiatingSecurity
        case handshaking(UpgradeSecurity)
        case negotiatingMuxer(SecureChannelInfo)
        case startingMuxer(SecureChannelInfo, muxer: ProtocolID, early: Bool)
        case ready(UpgradeOutcome)
        case failed(UpgradeStage)
    }

    /// What the glue must do next.
    public enum Action {
        /// Run multistream-select for the security protocol: as dialer, propose `proposals` in
        /// order (lazily when `lazy` and there is a single one); as listener, accept any of them.
        case negotiateSecurity(proposals: [ProtocolID], lazy: Bool)
        /// Run the handshake, carrying `muxers` for early negotiation (empty in classic mode).
        case runHandshake(UpgradeSecurity, muxers: [ProtocolID])
        /// Run multistream-select for the muxer inside the secure channel.
        case negotiateMuxer(proposals: [ProtocolID], lazy: Bool)
        /// Start the muxer.
        case startMuxer(ProtocolID)
        /// The upgrade is complete.
        case completed(UpgradeOutcome)
        /// The upgrade failed: close the connection and report the error.
        case fail(UpgradeError)
        /// Nothing to do (an event after the upgrade already ended).
        case none
    }

    /// This side's role.
    public let role: ConnectionRole
    private let security: [UpgradeSecurity]
    private let handshakeMuxers: [ProtocolID]
    private let muxers: [ProtocolID]
    private let lazy: Bool
    private var state: State = .idle
    /// The milestones so far.
    public private(set) var timeline: UpgradeTimeline

    /// A machine for one connection.
    ///
    /// - Parameters:
    ///   - role: Initiator for the dialer, responder for the listener.
    ///   - configuration: The knobs; only the dialer's multistream mode matters (listeners answer both).
    ///   - start: When the dial (or accept) started.
    public init(role: ConnectionRole, configuration: UpgradeConfiguration, start: NIODeadline) {
        self.role = role
        self.security = configuration.security
        self.handshakeMuxers = configuration.handshakeMuxers
        self.muxers = configuration.muxers
        self.lazy = role == .initiator && configuration.multistream == .lazy
        self.timeline = UpgradeTimeline(start: start)
    }

    /// The stage under way, for error reports; nil once the upgrade has ended.
    public var currentStage: UpgradeStage? {
        switch self.state {
        case .idle: .tcpConnect
        case .negotiatingSecurity: .securityNegotiation
        case .handshaking: .secureHandshake
        case .negotiatingMuxer: .muxerNegotiation
        case .startingMuxer: .muxerSetup
        case .ready, .failed: nil
        }
    }

    /// The TCP connection is up (dialer) or was accepted (listener).
    public mutating func tcpConnected(at now: NIODeadline) -> Action {
        switch self.state {
        case .idle:
            self.timeline.record(.tcpConnected, at: now)
            self.state = .negotiatingSecurity
            let proposals = self.security.map(\.protocolID)
            return .negotiateSecurity(proposals: proposals, lazy: self.lazy && proposals.count == 1)
        case .failed:
            // The connection closed or timed out before the upgrade could start (a peer that
            // accepts and closes at once): the failure was already reported.
            return .none
        case .negotiatingSecurity, .handshaking, .negotiatingMuxer, .startingMuxer, .ready:
            preconditionFailure("tcpConnected in state \(self.state)")
        }
    }

    /// multistream-select agreed on `protocolID` for security.
    public mutating func securityAgreed(_ protocolID: ProtocolID, at now: NIODeadline) -> Action {
        switch self.state {
        case .negotiatingSecurity:
            guard let security = UpgradeSecurity(protocolID: protocolID), self.security.contains(security) else {
                return self.fail(.securityNegotiation, UpgradeFailure.unsupportedProtocol(protocolID.rawValue))
            }
            self.timeline.record(.securityAgreed, at: now)
            self.state = .handshaking(security)
            return .runHandshake(security, muxers: self.handshakeMuxers)
        case .failed, .ready:
            return .none
        case .idle, .handshaking, .negotiatingMuxer, .startingMuxer:
            preconditionFailure("securityAgreed in state \(self.state)")
        }
    }

    /// The handshake completed and the peer's identity checked out.
    public mutating func handshakeCompleted(_ info: SecureChannelInfo, at now: NIODeadline) -> Action {
        switch self.state {
        case .handshaking:
            self.timeline.record(.handshakeDone, at: now)
            if let muxer = info.earlyMuxer {
                guard self.muxers.contains(muxer), muxer == .yamux else {
                    return self.fail(.muxerSetup, UpgradeFailure.unsupportedMuxer(muxer.rawValue))
                }
                self.state = .startingMuxer(info, muxer: muxer, early: true)
                return .startMuxer(muxer)
            }
            self.state = .negotiatingMuxer(info)
            return .negotiateMuxer(proposals: self.muxers, lazy: self.lazy && self.muxers.count == 1)
        case .failed, .ready:
            return .none
        case .idle, .negotiatingSecurity, .negotiatingMuxer, .startingMuxer:
            preconditionFailure("handshakeCompleted in state \(self.state)")
        }
    }

    /// multistream-select inside the secure channel agreed on `muxer`.
    public mutating func muxerAgreed(_ muxer: ProtocolID, at now: NIODeadline) -> Action {
        switch self.state {
        case .negotiatingMuxer(let info):
            guard self.muxers.contains(muxer), muxer == .yamux else {
                return self.fail(.muxerNegotiation, UpgradeFailure.unsupportedMuxer(muxer.rawValue))
            }
            self.state = .startingMuxer(info, muxer: muxer, early: false)
            return .startMuxer(muxer)
        case .failed, .ready:
            return .none
        case .idle, .negotiatingSecurity, .handshaking, .startingMuxer:
            preconditionFailure("muxerAgreed in state \(self.state)")
        }
    }

    /// The muxer runs.
    public mutating func muxerStarted(at now: NIODeadline) -> Action {
        switch self.state {
        case .startingMuxer(let info, let muxer, let early):
            self.timeline.record(.muxerReady, at: now)
            let outcome = UpgradeOutcome(
                secureChannel: info,
                muxer: muxer,
                usedEarlyNegotiation: early,
                timeline: self.timeline
            )
            self.state = .ready(outcome)
            return .completed(outcome)
        case .failed, .ready:
            return .none
        case .idle, .negotiatingSecurity, .handshaking, .negotiatingMuxer:
            preconditionFailure("muxerStarted in state \(self.state)")
        }
    }

    /// The step under way failed with `error` (a protocol module's error, or an I/O error).
    public mutating func stepFailed(_ error: any Error, at now: NIODeadline) -> Action {
        guard let stage = self.currentStage else { return .none }
        return self.fail(stage, error)
    }

    /// multistream-select for the security protocol failed (`na` to every proposal, garbage, a
    /// close before agreement). A lazy dialer has started the handshake on its proposal already,
    /// so the failure may arrive while handshaking; it is still the negotiation's (go's "failed to
    /// negotiate security protocol"), not the handshake's.
    public mutating func securityNegotiationFailed(_ error: any Error, at now: NIODeadline) -> Action {
        switch self.state {
        case .negotiatingSecurity, .handshaking:
            return self.fail(.securityNegotiation, error)
        case .idle, .negotiatingMuxer, .startingMuxer, .ready, .failed:
            return self.stepFailed(error, at: now)
        }
    }

    /// The connection closed before the upgrade finished.
    public mutating func connectionClosed(at now: NIODeadline) -> Action {
        guard let stage = self.currentStage else { return .none }
        return self.fail(stage, UpgradeFailure.connectionClosed())
    }

    /// The upgrade timeout fired.
    public mutating func timedOut(after timeout: TimeAmount, at now: NIODeadline) -> Action {
        guard let stage = self.currentStage else { return .none }
        return self.fail(stage, UpgradeFailure.timedOut(stage, after: "\(timeout.nanoseconds / 1_000_000) ms"))
    }

    private mutating func fail(_ stage: UpgradeStage, _ error: any Error) -> Action {
        // The error carries what was reached, so a failed connection still reports its stages.
        let security = stage > .securityNegotiation ? self.agreedSecurity : nil
        self.state = .failed(stage)
        return .fail(UpgradeError(stage: stage, underlying: error, timeline: self.timeline, security: security))
    }

    /// The security protocol of the handshake under way or done; nil before it and after the end.
    private var agreedSecurity: UpgradeSecurity? {
        switch self.state {
        case .handshaking(let security): security
        case .negotiatingMuxer(let info), .startingMuxer(let info, _, _): info.security
        case .ready(let outcome): outcome.secureChannel.security
        case .idle, .negotiatingSecurity, .failed: nil
        }
    }
}
