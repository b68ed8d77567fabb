/// What one scenario's samples say: per-stage statistics, failures and path deviations.
public struct ScenarioSummary: Hashable, Sendable {
    /// One stage of one scenario.
    public struct Stage: Hashable, Sendable {
        /// The stage.
        public let stage: ConnectionStage
        /// Connections that reached the stage.
        public let count: Int
        /// Connections that did not reach it (they failed at or before it).
        public let failures: Int
        /// Statistics over the connections that reached it; `nil` if none did.
        public let statistics: LatencyStatistics?
        /// Statistics of the stage's time on the network along the critical path
        /// (``ConnectionSample/network``), over the connections that have it; `nil` if none has.
        public var network: LatencyStatistics? = nil
        /// Statistics of the stage's time computing on the critical path (stage time minus
        /// network time, per connection), over the same connections.
        public var compute: LatencyStatistics? = nil
    }

    /// The scenario.
    public let scenario: Scenario
    /// Recorded connections.
    public let connections: Int
    /// Connections with a ``ConnectionSample/failure``.
    public let failedConnections: Int
    /// Connections whose negotiated path contradicts the scenario (``ConnectionSample/deviatesFromScenario``).
    public let deviatingConnections: Int
    /// A distinct failure text and how often it occurred.
    public struct FailureReason: Hashable, Sendable {
        /// The failure as written in CSV files (`stage: reason`).
        public let reason: String
        /// Connections that failed this way.
        public let count: Int
    }

    /// The distinct failures, most frequent first.
    public let failureReasons: [FailureReason]
    /// One entry per ``ConnectionStage``, in stage order.
    public let stages: [Stage]
    /// The sorted ``ConnectionStage/muxerReady`` latencies (for CDFs and the `.hgrm` file).
    public let sortedMuxerReady: [UInt64]

    /// Summarizes `samples`, which must all belong to `scenario`.
    public init(scenario: Scenario, samples: [ConnectionSample]) {
        self.scenario = scenario
        self.connections = samples.count
        self.failedConnections = samples.count { $0.failed }
        self.deviatingConnections = samples.count { $0.deviatesFromScenario }

        var reasons: [String: Int] = [:]
        for sample in samples {
            if let failure = sample.failure { reasons[failure.description, default: 0] += 1 }
        }
        self.failureReasons = reasons.map { FailureReason(reason: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.reason < $1.reason }

        var stages: [Stage] = []
        var sortedMuxerReady: [UInt64] = []
        for stage in ConnectionStage.allCases {
            let values = samples.compactMap { $0.timestamps[stage] }.sorted()
            var entry = Stage(
                stage: stage,
                count: values.count,
                failures: samples.count - values.count,
                statistics: values.isEmpty ? nil : LatencyStatistics(sorted: values)
            )
            let splits = samples.compactMap { sample -> (network: UInt64, compute: UInt64)? in
                guard let total = sample.timestamps[stage], let network = sample.network?[stage] else { return nil }
                return (network, total > network ? total - network : 0)
            }
            entry.network = LatencyStatistics(values: splits.map(\.network))
            entry.compute = LatencyStatistics(values: splits.map(\.compute))
            stages.append(entry)
            if stage == .muxerReady { sortedMuxerReady = values }
        }
        self.stages = stages
        self.sortedMuxerReady = sortedMuxerReady
    }

    /// The entry for `stage`.
    public subscript(stage: ConnectionStage) -> Stage { self.stages[stage.ordinal] }
}
