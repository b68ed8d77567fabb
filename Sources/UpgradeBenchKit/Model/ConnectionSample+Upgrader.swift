import NIOCore
import P2PCore
import Upgrader

// MARK: - Bridges to the upgrader's types, for the runner

extension Scenario.Security {
    /// The upgrader's security protocol.
    public var upgradeSecurity: UpgradeSecurity {
        switch self {
        case .noise: .noise
        case .tls: .tls
        }
    }

    /// The scenario's name for the upgrader's security protocol.
    public init(_ security: UpgradeSecurity) {
        switch security {
        case .noise: self = .noise
        case .tls: self = .tls
        }
    }
}

extension Scenario.Negotiation {
    /// The upgrader's negotiation mode.
    public var upgradeNegotiation: UpgradeNegotiation {
        switch self {
        case .classic: .classic
        case .early: .early
        }
    }
}

extension Scenario.Multistream {
    /// The upgrader's multistream-select mode.
    public var multistreamMode: MultistreamMode {
        switch self {
        case .strict: .strict
        case .lazy: .lazy
        }
    }
}

extension ConnectionStage {
    /// The upgrader's milestone recorded at this stage (the names are the same).
    public var milestone: UpgradeMilestone {
        switch self {
        case .tcpConnected: .tcpConnected
        case .securityAgreed: .securityAgreed
        case .handshakeDone: .handshakeDone
        case .muxerReady: .muxerReady
        case .firstEcho: .firstEcho
        }
    }

    /// The stage of an upgrader milestone.
    public init(_ milestone: UpgradeMilestone) {
        switch milestone {
        case .tcpConnected: self = .tcpConnected
        case .securityAgreed: self = .securityAgreed
        case .handshakeDone: self = .handshakeDone
        case .muxerReady: self = .muxerReady
        case .firstEcho: self = .firstEcho
        }
    }
}

extension ConnectionSample.Timestamps {
    /// The milestones of `timeline`, in whole microseconds (rounded to nearest) since its start.
    public init(_ timeline: UpgradeTimeline) {
        self.init()
        for stage in ConnectionStage.allCases {
            guard let reached = timeline[stage.milestone] else { continue }
            let nanoseconds = max(0, (reached - timeline.start).nanoseconds)
            self[stage] = UInt64((nanoseconds + 500) / 1000)
        }
    }
}

extension ConnectionSample.Failure {
    /// `stage: reason` of an upgrade error, with the upgrader's stage name (`secure_handshake`, ...).
    public init(_ error: UpgradeError) {
        self.init(stage: error.stage.rawValue, reason: "\(error.underlying)")
    }
}

extension ConnectionSample {
    /// A successful connection from the upgrader's outcome; `timeline` is the one with the
    /// first-echo milestone when the runner recorded it after the outcome.
    public init(scenario: Scenario, index: Int, outcome: UpgradeOutcome, timeline: UpgradeTimeline? = nil) {
        self.init(
            scenario: scenario,
            index: index,
            timestamps: Timestamps(timeline ?? outcome.timeline),
            path: Path(
                security: Scenario.Security(outcome.secureChannel.security),
                muxer: outcome.muxer.rawValue,
                earlyMuxerNegotiation: outcome.usedEarlyNegotiation
            )
        )
    }

    /// A failed connection: the stages it reached before the failure (from the error's timeline,
    /// when it has one), the security protocol when one was agreed, and `stage: reason`.
    ///
    /// Keeping the stages reached is what makes `failures` in summary.csv "did not reach the
    /// stage" rather than "failed somewhere".
    public init(scenario: Scenario, index: Int, failure error: UpgradeError) {
        self.init(
            scenario: scenario,
            index: index,
            timestamps: error.timeline.map { Timestamps($0) } ?? Timestamps(),
            path: Path(security: error.security.map { Scenario.Security($0) }),
            failure: Failure(error)
        )
    }
}

extension ConnectionSample.ListenerTimestamps {
    /// The listener's milestones of `timeline` in whole microseconds (rounded to nearest) since
    /// `dialStart`, the dialer's origin; both are readings of the same monotonic clock.
    public init(_ timeline: UpgradeTimeline, sinceDialAt dialStart: NIODeadline) {
        func since(_ time: NIODeadline?) -> UInt64? {
            guard let time else { return nil }
            return UInt64((max(0, (time - dialStart).nanoseconds) + 500) / 1000)
        }
        self.init(
            accepted: since(timeline.start),
            securityAgreed: since(timeline[.securityAgreed]),
            handshakeDone: since(timeline[.handshakeDone]),
            muxerReady: since(timeline[.muxerReady])
        )
    }
}
