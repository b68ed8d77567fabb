/// Measured round trips per stage and the saving of early over classic negotiation, computed
/// from scenario summaries; pure, so the check gate can be tested on synthetic samples.
///
/// ### Measured round trips
/// For a scenario at RTT r > 0 and its loopback baseline (same path and concurrency, RTT 0):
///
///     measured(stage) = (p50 at r − p50 at loopback) / r
///
/// Subtracting the loopback median removes the computation (handshake crypto, yamux set-up),
/// which does not depend on the RTT; what remains is time spent waiting for the network.
///
/// ### Saving of early over classic
/// For a classic scenario and its early counterpart (same security, multistream mode, RTT,
/// emulator and concurrency):
///
///     saving (ms)   = p50 classic − p50 early                      (at this RTT, what a user sees)
///     saving (RTTs) = measured(classic) − measured(early)          (only for r > 0)
///
/// The RTT form subtracts the loopback difference between the two paths (early Noise payloads
/// are longer; classic runs one more multistream exchange), so it counts round trips only.
public struct RoundTripReport: Sendable {
    /// One stage of one scenario.
    public struct StageRoundTrips: Hashable, Sendable {
        /// The scenario.
        public let scenario: Scenario
        /// The stage.
        public let stage: ConnectionStage
        /// The scenario's median at the stage, `nil` if no connection reached it.
        public let medianMicroseconds: UInt64?
        /// The loopback scenario subtracted, `nil` at RTT 0 or when there is none.
        public let baseline: Scenario?
        /// The baseline's median at the stage.
        public let baselineMedianMicroseconds: UInt64?
        /// Measured round trips; `nil` at RTT 0 or without both medians.
        public let measured: Double?
        /// The ``RoundTripModel`` count.
        public let theoretical: Int
    }

    /// Early against classic at one stage, for one path and RTT.
    public struct EarlySaving: Hashable, Sendable {
        /// The classic scenario.
        public let classic: Scenario
        /// The early scenario.
        public let early: Scenario
        /// The stage compared.
        public let stage: ConnectionStage
        /// Classic median minus early median, in microseconds (negative if early was slower);
        /// `nil` without both medians.
        public let savingMicroseconds: Int64?
        /// The saving in round trips; `nil` at RTT 0 or without both measured counts.
        public let savingRoundTrips: Double?
        /// The ``RoundTripModel`` saving.
        public let theoretical: Int

        /// The RTT of both scenarios.
        public var rttMilliseconds: Int { self.early.rttMilliseconds }
        /// ``savingMicroseconds`` in milliseconds.
        public var savingMilliseconds: Double? { self.savingMicroseconds.map { Double($0) / 1000 } }
    }

    /// The summaries the report was computed from, in run order.
    public let summaries: [ScenarioSummary]
    /// The model the measured counts are compared with.
    public let model: RoundTripModel
    /// Every stage of every scenario, scenario by scenario in run order.
    public let stages: [StageRoundTrips]
    /// Every classic/early pair at every stage, in the run order of the early scenarios.
    public let savings: [EarlySaving]

    /// Computes the report.
    public init(summaries: [ScenarioSummary], model: RoundTripModel = .standard) {
        self.summaries = summaries
        self.model = model

        var stages: [StageRoundTrips] = []
        for summary in summaries {
            let baseline = Self.baseline(for: summary.scenario, in: summaries)
            for stage in ConnectionStage.allCases {
                let median = summary[stage].statistics?.p50
                let baselineMedian = baseline?[stage].statistics?.p50
                var measured: Double? = nil
                if summary.scenario.rttMilliseconds > 0, let median, let baselineMedian {
                    measured = Self.roundTrips(
                        median,
                        minus: baselineMedian,
                        rttMilliseconds: summary.scenario.rttMilliseconds
                    )
                }
                stages.append(
                    StageRoundTrips(
                        scenario: summary.scenario,
                        stage: stage,
                        medianMicroseconds: median,
                        baseline: baseline?.scenario,
                        baselineMedianMicroseconds: baselineMedian,
                        measured: measured,
                        theoretical: model.roundTrips(to: stage, for: summary.scenario)
                    )
                )
            }
        }
        self.stages = stages

        let byScenario = Dictionary(stages.map { (StageKey(scenario: $0.scenario, stage: $0.stage), $0) }) { first, _ in
            first
        }
        var savings: [EarlySaving] = []
        for summary in summaries where summary.scenario.negotiation == .early {
            var classicScenario = summary.scenario
            classicScenario.negotiation = .classic
            guard let classic = summaries.first(where: { Self.samePathExceptCounts($0.scenario, classicScenario) })
            else {
                continue
            }
            for stage in ConnectionStage.allCases {
                let classicRow = byScenario[StageKey(scenario: classic.scenario, stage: stage)]
                let earlyRow = byScenario[StageKey(scenario: summary.scenario, stage: stage)]
                var savingMicroseconds: Int64? = nil
                if let classicMedian = classicRow?.medianMicroseconds, let earlyMedian = earlyRow?.medianMicroseconds {
                    savingMicroseconds = Int64(clamping: classicMedian) - Int64(clamping: earlyMedian)
                }
                var savingRoundTrips: Double? = nil
                if let classicMeasured = classicRow?.measured, let earlyMeasured = earlyRow?.measured {
                    savingRoundTrips = classicMeasured - earlyMeasured
                }
                savings.append(
                    EarlySaving(
                        classic: classic.scenario,
                        early: summary.scenario,
                        stage: stage,
                        savingMicroseconds: savingMicroseconds,
                        savingRoundTrips: savingRoundTrips,
                        theoretical: model.earlySaving(
                            at: stage,
                            multistream: summary.scenario.multistream,
                            connectIsDelayed: summary.scenario.emulator.delaysConnect
                        )
                    )
                )
            }
        }
        self.savings = savings
    }

    /// The row for `scenario` at `stage`.
    public func roundTrips(for scenario: Scenario, at stage: ConnectionStage) -> StageRoundTrips? {
        self.stages.first { $0.scenario == scenario && $0.stage == stage }
    }

    /// The saving of `scenario` (early or classic) against its counterpart at `stage`.
    public func saving(for scenario: Scenario, at stage: ConnectionStage) -> EarlySaving? {
        self.savings.first { ($0.early == scenario || $0.classic == scenario) && $0.stage == stage }
    }

    /// `(median − baseline) / r` with r in milliseconds and the medians in microseconds.
    static func roundTrips(_ median: UInt64, minus baseline: UInt64, rttMilliseconds: Int) -> Double {
        (Double(median) - Double(baseline)) / (Double(rttMilliseconds) * 1000)
    }

    /// The loopback summary for `scenario`: RTT 0, same path and concurrency; the same emulator
    /// if there is one, any emulator otherwise. `nil` at RTT 0 or when none was measured.
    static func baseline(for scenario: Scenario, in summaries: [ScenarioSummary]) -> ScenarioSummary? {
        guard scenario.rttMilliseconds > 0 else { return nil }
        let candidates = summaries.filter {
            $0.scenario.rttMilliseconds == 0 && $0.scenario.security == scenario.security
                && $0.scenario.negotiation == scenario.negotiation && $0.scenario.multistream == scenario.multistream
                && $0.scenario.concurrency == scenario.concurrency
        }
        return candidates.first { $0.scenario.emulator.name == scenario.emulator.name } ?? candidates.first
    }

    /// Equality of everything that identifies a scenario (its name), not the connection counts.
    static func samePathExceptCounts(_ lhs: Scenario, _ rhs: Scenario) -> Bool {
        lhs.security == rhs.security && lhs.negotiation == rhs.negotiation && lhs.multistream == rhs.multistream
            && lhs.rttMilliseconds == rhs.rttMilliseconds && lhs.emulator == rhs.emulator
            && lhs.concurrency == rhs.concurrency
    }

    private struct StageKey: Hashable {
        let scenario: Scenario
        let stage: ConnectionStage
    }
}
