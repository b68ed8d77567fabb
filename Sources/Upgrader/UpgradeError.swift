/// An upgrade failure: the stage that was under way and what went wrong there, in the style of
/// go-libp2p's upgrader errors ("failed to negotiate security protocol: …").
///
/// ``description`` is `"<stage>: <reason>"`, the form the `dial` command prints.
public struct UpgradeError: Error, CustomStringConvertible {
    /// Where the upgrade stopped.
    public let stage: UpgradeStage
    /// The protocol module's error (`MultistreamError`, `NoiseError`, `TLSError`, `YamuxError`,
    /// an I/O error) or an ``UpgradeFailure``.
    public let underlying: any Error
    /// The milestones reached before the failure, when the upgrade got far enough to keep a
    /// timeline (from the TCP connect on); nil for errors raised outside an upgrade.
    ///
    /// Kept so that a failed connection still reports how far it got and when: a handshake that
    /// fails after 20 ms says more than one that fails at once.
    public let timeline: UpgradeTimeline?
    /// The security protocol whose handshake was under way or done, when the failure came after
    /// the security negotiation; nil before that (a lazy dialer's proposal that the listener
    /// refuses was never agreed).
    public let security: UpgradeSecurity?

    /// Wraps `underlying` with the stage it happened in.
    ///
    /// - Parameters:
    ///   - stage: The stage under way.
    ///   - underlying: What went wrong there.
    ///   - timeline: The milestones reached so far, if known.
    ///   - security: The security protocol agreed before the failure, if any.
    public init(stage: UpgradeStage, underlying: any Error, timeline: UpgradeTimeline? = nil, security: UpgradeSecurity? = nil) {
        self.stage = stage
        self.underlying = underlying
        self.timeline = timeline
        self.security = security
    }

    public var description: String { "\(self.stage): \(self.underlying)" }
}

/// Failures the upgrader itself detects, as opposed to those of a protocol module.
public struct UpgradeFailure: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong.
    public let diagnostics: String

    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: UpgradeFailure, rhs: UpgradeFailure) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "\(self.code): \(self.diagnostics)" }

    /// The kinds of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case timedOut
            case connectionClosed
            case unsupportedProtocol
            case unsupportedMuxer
            case echoMismatch
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The stage did not finish within the upgrade timeout.
        public static let timedOut = Code(.timedOut)
        /// The peer closed the connection before the upgrade finished.
        public static let connectionClosed = Code(.connectionClosed)
        /// multistream-select agreed on a protocol this side cannot run.
        public static let unsupportedProtocol = Code(.unsupportedProtocol)
        /// The agreed muxer is not one this side runs.
        public static let unsupportedMuxer = Code(.unsupportedMuxer)
        /// The echo stream returned other bytes than were sent.
        public static let echoMismatch = Code(.echoMismatch)

        public var description: String { self.base.rawValue }
    }

    @inline(never)
    static func timedOut(_ stage: UpgradeStage, after timeout: String) -> UpgradeFailure {
        UpgradeFailure(.timedOut, "no progress in \(stage) within \(timeout)")
    }

    @inline(never)
    static func connectionClosed() -> UpgradeFailure {
        UpgradeFailure(.connectionClosed, "the peer closed the connection")
    }

    @inline(never)
    static func unsupportedProtocol(_ id: String) -> UpgradeFailure {
        UpgradeFailure(.unsupportedProtocol, "agreed on \(id), which this side does not run")
    }

    @inline(never)
    static func unsupportedMuxer(_ id: String) -> UpgradeFailure {
        UpgradeFailure(.unsupportedMuxer, "agreed on muxer \(id), which this side does not run")
    }

    @inline(never)
    static func echoMismatch(sent: Int, received: Int) -> UpgradeFailure {
        UpgradeFailure(.echoMismatch, "sent \(sent) bytes, got \(received) different bytes back")
    }
}
