/// What the runner measured for one dialed connection of a scenario.
///
/// Warm-up connections are not recorded. A failed connection is recorded with the stages it
/// reached and a ``Failure``; the statistics count it as a failure for every stage it missed.
public struct ConnectionSample: Hashable, Sendable {
    /// The stage timestamps, in microseconds since the dialer started the dial.
    ///
    /// A stage the connection did not reach is `nil`.
    public struct Timestamps: Hashable, Sendable {
        /// See ``ConnectionStage/tcpConnected``.
        public var tcpConnected: UInt64?
        /// See ``ConnectionStage/securityAgreed``.
        public var securityAgreed: UInt64?
        /// See ``ConnectionStage/handshakeDone``.
        public var handshakeDone: UInt64?
        /// See ``ConnectionStage/muxerReady``.
        public var muxerReady: UInt64?
        /// See ``ConnectionStage/firstEcho``.
        public var firstEcho: UInt64?

        /// Creates timestamps; stages not given were not reached.
        public init(
            tcpConnected: UInt64? = nil,
            securityAgreed: UInt64? = nil,
            handshakeDone: UInt64? = nil,
            muxerReady: UInt64? = nil,
            firstEcho: UInt64? = nil
        ) {
            self.tcpConnected = tcpConnected
            self.securityAgreed = securityAgreed
            self.handshakeDone = handshakeDone
            self.muxerReady = muxerReady
            self.firstEcho = firstEcho
        }

        /// The timestamp of `stage`, `nil` if the connection did not reach it.
        public subscript(stage: ConnectionStage) -> UInt64? {
            get {
                switch stage {
                case .tcpConnected: self.tcpConnected
                case .securityAgreed: self.securityAgreed
                case .handshakeDone: self.handshakeDone
                case .muxerReady: self.muxerReady
                case .firstEcho: self.firstEcho
                }
            }
            set {
                switch stage {
                case .tcpConnected: self.tcpConnected = newValue
                case .securityAgreed: self.securityAgreed = newValue
                case .handshakeDone: self.handshakeDone = newValue
                case .muxerReady: self.muxerReady = newValue
                case .firstEcho: self.firstEcho = newValue
                }
            }
        }
    }

    /// The listener's side of the same connection, on the dialer's time axis: microseconds since
    /// the dialer started the dial. The runner's dialer and listener live in one process and read
    /// one monotonic clock, so the two timelines can be laid over each other; that is what shows
    /// where a round trip waits on the other side's computation.
    public struct ListenerTimestamps: Hashable, Sendable {
        /// The listener accepted the TCP connection.
        public var accepted: UInt64?
        /// The listener agreed on the security protocol (it wrote its multistream-select echo).
        public var securityAgreed: UInt64?
        /// The listener's side of the handshake completed: Noise msg3 or the TLS client Finished
        /// arrived and the dialer's identity checked out.
        public var handshakeDone: UInt64?
        /// The listener's yamux session runs.
        public var muxerReady: UInt64?

        /// The listener stages in order, with their CSV column names.
        public static var columns: [(name: String, keyPath: WritableKeyPath<ListenerTimestamps, UInt64?>)] {
            [
                ("listener_accepted_us", \.accepted),
                ("listener_security_agreed_us", \.securityAgreed),
                ("listener_handshake_done_us", \.handshakeDone),
                ("listener_muxer_ready_us", \.muxerReady),
            ]
        }

        /// Creates timestamps; stages not given were not reached (or not seen).
        public init(
            accepted: UInt64? = nil,
            securityAgreed: UInt64? = nil,
            handshakeDone: UInt64? = nil,
            muxerReady: UInt64? = nil
        ) {
            self.accepted = accepted
            self.securityAgreed = securityAgreed
            self.handshakeDone = handshakeDone
            self.muxerReady = muxerReady
        }
    }

    /// What the connection actually negotiated, as the dialer saw it.
    ///
    /// Each part is `nil` until known; a connection that failed early knows less.
    public struct Path: Hashable, Sendable {
        /// The security protocol in use.
        public var security: Scenario.Security?
        /// The muxer protocol ID in use, e.g. `/yamux/1.0.0`.
        public var muxer: String?
        /// Whether the muxer came from the handshake (`true`) or from multistream-select (`false`).
        public var earlyMuxerNegotiation: Bool?

        /// Creates a path.
        public init(security: Scenario.Security? = nil, muxer: String? = nil, earlyMuxerNegotiation: Bool? = nil) {
            self.security = security
            self.muxer = muxer
            self.earlyMuxerNegotiation = earlyMuxerNegotiation
        }
    }

    /// Why a connection failed: the upgrade stage that failed and the reason, written `stage: reason`.
    public struct Failure: Hashable, Sendable, CustomStringConvertible {
        /// The failing stage as the upgrader names it (for example `secureHandshake`); may be empty.
        public var stage: String
        /// What went wrong.
        public var reason: String

        /// Creates a failure.
        public init(stage: String, reason: String) {
            self.stage = stage
            self.reason = reason
        }

        /// Parses the `stage: reason` form; text without `": "` is all reason.
        public init(parsing text: String) {
            let characters = Array(text)
            for index in characters.indices.dropLast() where characters[index] == ":" && characters[index + 1] == " " {
                self.init(stage: String(characters[..<index]), reason: String(characters[(index + 2)...]))
                return
            }
            self.init(stage: "", reason: text)
        }

        /// `stage: reason`, or the reason alone when the stage is empty.
        public var description: String { self.stage.isEmpty ? self.reason : "\(self.stage): \(self.reason)" }
    }

    /// The scenario the connection belongs to.
    public var scenario: Scenario
    /// The connection's number within its scenario, from 0, after the warm-up connections.
    public var index: Int
    /// When the dialer reached each stage.
    public var timestamps: Timestamps
    /// What was negotiated.
    public var path: Path
    /// Why the connection failed, `nil` if it did not.
    public var failure: Failure?
    /// The listener's timeline, when the runner could match the listener's end of the connection
    /// to this one (see ``ListenerTimestamps``); `nil` otherwise.
    public var listener: ListenerTimestamps?
    /// For each stage reached, the microseconds of its time spent on the network along the
    /// connection's critical path (``CriticalPath``); the rest was computation. `nil` when the
    /// two ends' activity could not be matched (a relay path) or did not explain the stage.
    public var network: Timestamps?
    /// For each stage reached, the microseconds of its time the listener spent computing on the
    /// critical path; `nil` as ``network``.
    public var listenerCompute: Timestamps?
    /// For each stage reached, the one-way trips on its critical path (the connect counting two):
    /// twice the round trips the dialer waited for, which ``RoundTripModel`` predicts exactly;
    /// `nil` as ``network``.
    public var flights: Timestamps?
    /// Durations another implementation's dialer reported about itself (docs/peers.md, `own_us`):
    /// for go, how long `Host.Connect` took and go's own handshake latency; `nil` for UpgradeBench's
    /// dialer, whose stages say it all.
    public var reportedByDialer: ReportedDurations?

    /// What a dialer of another implementation measured about its own connection, µs.
    public struct ReportedDurations: Hashable, Sendable {
        /// Its connect call, from its start to its return (go: `Host.Connect`, which waits for
        /// identify; docs/go-libp2p.md).
        public var connect: UInt64?
        /// Its own handshake measure (go: `libp2p_swarm_handshake_latency_seconds`).
        public var handshake: UInt64?

        /// Creates durations.
        public init(connect: UInt64? = nil, handshake: UInt64? = nil) {
            self.connect = connect
            self.handshake = handshake
        }
    }

    /// Creates a sample.
    public init(
        scenario: Scenario,
        index: Int,
        timestamps: Timestamps,
        path: Path,
        failure: Failure? = nil,
        listener: ListenerTimestamps? = nil
    ) {
        self.scenario = scenario
        self.index = index
        self.timestamps = timestamps
        self.path = path
        self.failure = failure
        self.listener = listener
    }

    /// Whether the connection failed.
    public var failed: Bool { self.failure != nil }

    /// Whether the negotiated path contradicts what the scenario expects: another security
    /// protocol, or early negotiation expected but not used (a fallback to multistream-select), or
    /// the reverse (``Scenario/expectsEarlyMuxer``: against a peer that never negotiates early,
    /// the fallback is what is expected). Unknown parts do not count as a contradiction.
    public var deviatesFromScenario: Bool {
        if let security = self.path.security, security != self.scenario.security { return true }
        if let early = self.path.earlyMuxerNegotiation, early != self.scenario.expectsEarlyMuxer { return true }
        return false
    }
}
