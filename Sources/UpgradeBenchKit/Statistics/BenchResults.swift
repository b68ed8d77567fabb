/// Everything measured in one run, as the runner records it.
///
/// The runner records every connection after warm-up and every transfer; the writers, the
/// report and the summary table read the results afterwards. Scenarios keep the order in which
/// they were declared or first seen.
public struct BenchResults: Sendable {
    /// Upgrade scenarios in run order.
    public private(set) var scenarios: [Scenario]
    /// Throughput scenarios in run order.
    public private(set) var throughputScenarios: [ThroughputScenario]
    private var samplesByScenario: [Scenario: [ConnectionSample]]
    private var throughputByScenario: [ThroughputScenario: [ThroughputResult]]

    /// Empty results for `matrix`, so that scenarios without any sample still appear (as failures).
    public init(matrix: ScenarioMatrix) {
        self.init(scenarios: matrix.scenarios, throughputScenarios: matrix.throughput)
    }

    /// Empty results for the given scenarios; more are added as samples for them arrive.
    public init(scenarios: [Scenario] = [], throughputScenarios: [ThroughputScenario] = []) {
        self.scenarios = []
        self.throughputScenarios = []
        self.samplesByScenario = [:]
        self.throughputByScenario = [:]
        for scenario in scenarios where self.samplesByScenario[scenario] == nil {
            self.scenarios.append(scenario)
            self.samplesByScenario[scenario] = []
        }
        for scenario in throughputScenarios where self.throughputByScenario[scenario] == nil {
            self.throughputScenarios.append(scenario)
            self.throughputByScenario[scenario] = []
        }
    }

    /// Records one connection.
    public mutating func record(_ sample: ConnectionSample) {
        if self.samplesByScenario[sample.scenario] == nil {
            self.scenarios.append(sample.scenario)
            self.samplesByScenario[sample.scenario] = []
        }
        self.samplesByScenario[sample.scenario, default: []].append(sample)
    }

    /// Replaces the connections of `scenario` (which must be part of the results) with `samples`:
    /// a scenario measured again.
    public mutating func replaceSamples(of scenario: Scenario, with samples: [ConnectionSample]) {
        guard self.samplesByScenario[scenario] != nil else { return }
        self.samplesByScenario[scenario] = samples
    }

    /// Records one transfer.
    public mutating func record(_ result: ThroughputResult) {
        if self.throughputByScenario[result.scenario] == nil {
            self.throughputScenarios.append(result.scenario)
            self.throughputByScenario[result.scenario] = []
        }
        self.throughputByScenario[result.scenario, default: []].append(result)
    }

    /// The connections of `scenario`, in the order recorded.
    public func samples(for scenario: Scenario) -> [ConnectionSample] { self.samplesByScenario[scenario] ?? [] }

    /// Every connection, scenario by scenario.
    public var allSamples: [ConnectionSample] { self.scenarios.flatMap { self.samples(for: $0) } }

    /// The transfers of `scenario`, in the order recorded.
    public func throughput(for scenario: ThroughputScenario) -> [ThroughputResult] {
        self.throughputByScenario[scenario] ?? []
    }

    /// Every transfer, scenario by scenario.
    public var allThroughput: [ThroughputResult] { self.throughputScenarios.flatMap { self.throughput(for: $0) } }

    /// One summary per scenario, in run order.
    public func summaries() -> [ScenarioSummary] {
        self.scenarios.map { ScenarioSummary(scenario: $0, samples: self.samples(for: $0)) }
    }

    /// One throughput summary per throughput scenario, in run order, each compared with raw TCP
    /// on the same path when that was measured.
    public func throughputSummaries() -> [ThroughputSummary] {
        let medians = Dictionary(
            self.throughputScenarios.map { scenario in
                (scenario, ThroughputSummary.medianRate(self.throughput(for: scenario)))
            },
            uniquingKeysWith: { first, _ in first }
        )
        return self.throughputScenarios.map { scenario in
            var tcp = scenario
            tcp.transport = .tcp
            return ThroughputSummary(
                scenario: scenario,
                results: self.throughput(for: scenario),
                tcpMedianMegabytesPerSecond: medians[tcp] ?? nil
            )
        }
    }
}

/// The repetitions of one ``ThroughputScenario``.
public struct ThroughputSummary: Hashable, Sendable {
    /// The scenario.
    public let scenario: ThroughputScenario
    /// Transfers that completed.
    public let completed: Int
    /// Transfers that failed.
    public let failed: Int
    /// Median MB/s per direction over the completed transfers (nearest rank), `nil` if none completed.
    public let medianMegabytesPerSecond: Double?
    /// Slowest completed transfer.
    public let minimumMegabytesPerSecond: Double?
    /// Fastest completed transfer.
    public let maximumMegabytesPerSecond: Double?
    /// This median over raw TCP's median on the same path, `nil` without both.
    public let fractionOfTCP: Double?

    init(scenario: ThroughputScenario, results: [ThroughputResult], tcpMedianMegabytesPerSecond: Double?) {
        let rates = results.compactMap(\.megabytesPerSecond).sorted()
        self.scenario = scenario
        self.completed = rates.count
        self.failed = results.count - rates.count
        self.medianMegabytesPerSecond = Self.medianRate(results)
        self.minimumMegabytesPerSecond = rates.first
        self.maximumMegabytesPerSecond = rates.last
        if let median = self.medianMegabytesPerSecond, let tcp = tcpMedianMegabytesPerSecond, tcp > 0 {
            self.fractionOfTCP = median / tcp
        } else {
            self.fractionOfTCP = nil
        }
    }

    /// The nearest-rank median rate of the completed transfers (the same rank rule as
    /// ``LatencyStatistics``), `nil` if none completed.
    static func medianRate(_ results: [ThroughputResult]) -> Double? {
        let rates = results.compactMap(\.megabytesPerSecond).sorted()
        guard !rates.isEmpty else { return nil }
        let rank = (50.0.nextDown * Double(rates.count) / 100).rounded(.up)
        return rates[max(1, min(Int(rank), rates.count)) - 1]
    }
}
