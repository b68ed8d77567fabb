/// Two results folders compared scenario by scenario and stage by stage, plus throughput: both
/// medians, the relative change with its confidence interval, a Mann–Whitney U test and a
/// verdict per row, and everything that makes the two runs hard to compare (docs/compare.md).
public struct ResultsComparison: Hashable, Sendable {
    /// How to compare and when a slowdown fails the comparison.
    public struct Options: Hashable, Sendable {
        /// The significance level of each row's test; intervals have confidence `1 − alpha`.
        public var alpha: Double
        /// A row fails when it is significantly slower by more than this many percent of the
        /// base median.
        public var thresholdPercent: Double
        /// The stages compared, in this order.
        public var stages: [ConnectionStage]
        /// Only scenarios whose name contains one of these are compared (and listed when on one
        /// side only); empty compares every scenario. Lets a gate look at, say, `20ms` alone.
        public var scenarioFilter: [String]

        /// Options; the defaults are those of `bench compare`.
        public init(
            alpha: Double = 0.05,
            thresholdPercent: Double = 5,
            stages: [ConnectionStage] = ConnectionStage.allCases,
            scenarioFilter: [String] = []
        ) {
            self.alpha = alpha
            self.thresholdPercent = thresholdPercent
            self.stages = stages
            self.scenarioFilter = scenarioFilter
        }

        /// Whether `scenario` passes ``scenarioFilter``.
        public func includes(_ scenario: String) -> Bool {
            self.scenarioFilter.isEmpty || self.scenarioFilter.contains { scenario.contains($0) }
        }
    }

    /// What a row measures.
    public enum Metric: Hashable, Sendable {
        /// Microseconds from the dial to a stage; lower is better.
        case latency(ConnectionStage)
        /// Bytes per second each way of a bulk transfer; higher is better.
        case throughput

        /// The name in tables: the stage's column name, or `throughput`.
        public var name: String {
            switch self {
            case .latency(let stage): stage.columnName
            case .throughput: "throughput"
            }
        }

        /// +1 when a larger value is slower (latency), −1 when it is faster (throughput).
        public var slowerSign: Double {
            switch self {
            case .latency: 1
            case .throughput: -1
            }
        }
    }

    /// What a row's test says.
    public enum Verdict: String, Hashable, Sendable {
        /// Significantly faster.
        case faster
        /// Significantly slower.
        case slower
        /// No significant change at the chosen level.
        case noSignificantChange = "no_significant_change"
    }

    /// One scenario and metric present on both sides.
    public struct Row: Hashable, Sendable {
        /// The scenario name.
        public var scenario: String
        /// What was compared.
        public var metric: Metric
        /// The test, the medians and the shift.
        public var statistics: RankComparison
        /// The verdict at the comparison's `alpha`.
        public var verdict: Verdict
        /// The shift over the base median (0.05 = 5 % larger); `nil` when the base median is 0.
        public var relativeChange: Double?
        /// The shift's confidence interval over the base median; `nil` without one.
        public var relativeInterval: ClosedRange<Double>?
        /// Whether the row is significantly slower by more than the threshold.
        public var exceedsThreshold: Bool
        /// Whether these sample sizes can reach significance at all (else the verdict can only
        /// be no significant change, whatever the data).
        public var canReachSignificance: Bool

        /// The relative change with slower positive, for latency and throughput alike.
        public var slowdown: Double? { self.relativeChange.map { $0 * self.metric.slowerSign } }
    }

    /// A scenario or metric that could not be compared, and why.
    public struct Unmatched: Hashable, Sendable {
        /// Why a scenario or metric has no row.
        public enum Reason: String, Hashable, Sendable {
            /// The scenario is in the base folder only.
            case onlyInBase = "only_in_base"
            /// The scenario is in the new folder only.
            case onlyInNew = "only_in_new"
            /// The base folder has no value for this metric (every connection failed before it).
            case noBaseSamples = "no_base_samples"
            /// The new folder has no value for this metric.
            case noNewSamples = "no_new_samples"
        }

        /// The scenario name.
        public var scenario: String
        /// The metric, `nil` for a whole scenario.
        public var metric: Metric?
        /// Why.
        public var reason: Reason

        /// Creates an entry.
        public init(scenario: String, metric: Metric?, reason: Reason) {
            self.scenario = scenario
            self.metric = metric
            self.reason = reason
        }
    }

    /// How the comparison ends.
    public enum Outcome: Hashable, Sendable {
        /// No row is significantly slower by more than the threshold.
        case passed
        /// These rows are significantly slower by more than the threshold.
        case regressed([Row])
        /// Nothing could be compared, for this reason.
        case unusable(String)
    }

    /// The base folder's location and run.
    public var base: Side
    /// The new folder's location and run.
    public var new: Side
    /// The options used.
    public var options: Options
    /// Differences between the runs' set-ups and inconsistencies inside either folder.
    public var warnings: [String]
    /// Compared rows: upgrade scenarios in the base's order, stages in ``Options/stages`` order,
    /// then throughput.
    public var rows: [Row]
    /// Scenarios and metrics present on one side only or without samples on one side.
    public var unmatched: [Unmatched]

    /// One side's identity, for headings.
    public struct Side: Hashable, Sendable {
        /// The folder path.
        public var location: String
        /// The run's name.
        public var name: String
        /// The commit it was built from, when known.
        public var commit: String?
        /// Whether the checkout had uncommitted changes, when known.
        public var dirty: Bool?
        /// When it started (ISO 8601).
        public var startedAt: String

        init(_ folder: ComparedRun) {
            self.location = folder.location
            self.name = folder.metadata.name
            self.commit = folder.metadata.git.commit
            self.dirty = folder.metadata.git.dirty
            self.startedAt = folder.metadata.startedAt
        }
    }

    /// Compares `new` against `base`.
    public init(base: ComparedRun, new: ComparedRun, options: Options = Options()) {
        self.base = Side(base)
        self.new = Side(new)
        self.options = options
        var warnings = MetadataDifferences.warnings(base: base.metadata, new: new.metadata)
        warnings += base.notes.map { "base: \($0)" } + new.notes.map { "new: \($0)" }
        var rows: [Row] = []
        var unmatched: [Unmatched] = []

        for series in base.latency where options.includes(series.scenario) {
            guard let other = new.latency(series.scenario) else {
                unmatched.append(Unmatched(scenario: series.scenario, metric: nil, reason: .onlyInBase))
                continue
            }
            if series.failedConnections != other.failedConnections {
                warnings.append(
                    "\(series.scenario): \(series.failedConnections) of \(series.connections) connections failed "
                        + "in base, \(other.failedConnections) of \(other.connections) in new"
                )
            }
            for stage in options.stages {
                let metric = Metric.latency(stage)
                let before = series.stages[stage] ?? []
                let after = other.stages[stage] ?? []
                if let row = Self.row(series.scenario, metric, before, after, options) {
                    rows.append(row)
                } else {
                    let reason: Unmatched.Reason = before.isEmpty ? .noBaseSamples : .noNewSamples
                    unmatched.append(Unmatched(scenario: series.scenario, metric: metric, reason: reason))
                }
            }
        }
        for series in new.latency where options.includes(series.scenario) && base.latency(series.scenario) == nil {
            unmatched.append(Unmatched(scenario: series.scenario, metric: nil, reason: .onlyInNew))
        }

        for series in base.throughput where options.includes(series.scenario) {
            guard let other = new.throughput(series.scenario) else {
                unmatched.append(Unmatched(scenario: series.scenario, metric: .throughput, reason: .onlyInBase))
                continue
            }
            if series.bytesEachWay != other.bytesEachWay {
                // Longer transfers amortize slow start and the handshake: rates are not comparable.
                warnings.append(
                    "\(series.scenario): \(series.bytesEachWay.map(String.init) ?? "mixed") bytes each way in base, "
                        + "\(other.bytesEachWay.map(String.init) ?? "mixed") in new"
                )
            }
            if let row = Self.row(series.scenario, .throughput, series.bytesPerSecond, other.bytesPerSecond, options) {
                rows.append(row)
            } else {
                let reason: Unmatched.Reason = series.bytesPerSecond.isEmpty ? .noBaseSamples : .noNewSamples
                unmatched.append(Unmatched(scenario: series.scenario, metric: .throughput, reason: reason))
            }
        }
        for series in new.throughput
        where options.includes(series.scenario) && base.throughput(series.scenario) == nil {
            unmatched.append(Unmatched(scenario: series.scenario, metric: .throughput, reason: .onlyInNew))
        }

        self.warnings = warnings
        self.rows = rows
        self.unmatched = unmatched
    }

    /// Rows significantly slower by more than the threshold.
    public var regressions: [Row] { self.rows.filter(\.exceedsThreshold) }

    /// How the comparison ends: unusable when no scenario and metric could be compared.
    public var outcome: Outcome {
        guard !self.rows.isEmpty else {
            let common = self.unmatched.filter { unmatched in
                switch unmatched.reason {
                case .onlyInBase, .onlyInNew: false
                case .noBaseSamples, .noNewSamples: true
                }
            }
            if common.isEmpty {
                return .unusable("no scenario in common between \(self.base.location) and \(self.new.location)")
            }
            return .unusable("no scenario in common has samples on both sides")
        }
        let regressions = self.regressions
        return regressions.isEmpty ? .passed : .regressed(regressions)
    }

    private static func row(
        _ scenario: String,
        _ metric: Metric,
        _ base: [UInt64],
        _ new: [UInt64],
        _ options: Options
    ) -> Row? {
        guard let statistics = RankComparison(base: base, new: new, confidence: 1 - options.alpha) else { return nil }
        let verdict: Verdict
        if statistics.pValue < options.alpha, statistics.shift != 0 {
            verdict = statistics.shift * metric.slowerSign > 0 ? .slower : .faster
        } else {
            verdict = .noSignificantChange
        }
        let baseMedian = Double(statistics.baseMedian)
        let relativeChange = baseMedian > 0 ? statistics.shift / baseMedian : nil
        let relativeInterval = baseMedian > 0 ? statistics.shiftInterval.map {
            ($0.lowerBound / baseMedian)...($0.upperBound / baseMedian)
        } : nil
        var row = Row(
            scenario: scenario,
            metric: metric,
            statistics: statistics,
            verdict: verdict,
            relativeChange: relativeChange,
            relativeInterval: relativeInterval,
            exceedsThreshold: false,
            canReachSignificance: statistics.smallestPValue < options.alpha
        )
        switch verdict {
        case .slower:
            // From a base median of 0 any significant slowdown is beyond every threshold.
            row.exceedsThreshold = row.slowdown.map { $0 * 100 > options.thresholdPercent } ?? true
        case .faster, .noSignificantChange:
            row.exceedsThreshold = false
        }
        return row
    }
}
