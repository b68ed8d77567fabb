/// Measured round trips per stage and the saving of early over classic negotiation, computed
/// from scenario summaries; pure, so the check gate can be tested on synthetic samples.
///
/// Two measurements of the same thing, which differ by exactly what the model leaves out:
///
/// ### Network round trips (what the model counts, and what `--check` gates)
/// For a scenario at RTT r > 0, from each connection's critical path (``CriticalPath``):
///
///     network(stage) = p10 of the stage's time in flight / path RTT
///
/// where the path RTT is the median round trip of the emulator's calibration at r (1-byte
/// ping-pongs through the same path between two dedicated threads, so the emulator's own lateness
/// and an endpoint's wake-up are in it), or r when no calibration is known. The computation of
/// both ends, whatever it costs under this delay, is not in the numerator.
///
/// Why the 10th percentile of the connections: time in flight can only be lengthened by the
/// machine (a receiver that waits for a core before it reads, an emulator thread that wakes late),
/// never shortened below what the path takes. An upgrade has up to a dozen flights, and on a busy
/// machine half the connections wait for a core at one of them or more: the median then grows by
/// up to 0.25 round trips while the 10th percentile stays within 0.02 at `muxer_ready` (README,
/// "Round-trip accounting"). The calibration's probes are single bytes between two otherwise idle
/// threads, rarely disturbed, so their median is the path's typical round trip. The 10th
/// percentile rather than the minimum, so that no single connection decides. Both
/// ``networkMedianMicroseconds`` and ``networkP10Microseconds`` are reported.
///
/// ### Measured round trips (what a user sees)
/// For the same scenario and its loopback baseline (same path and concurrency, RTT 0):
///
///     measured(stage) = (p50 at r − p50 at loopback) / r
///
/// Subtracting the loopback median removes the computation as it costs at loopback. Under delay
/// it costs more here (code that runs after a thread slept through a round trip runs cold;
/// docs/machine.md), and the emulator adds its lateness, so `measured − network` is that extra
/// computation and lateness, in round trips. Both are reported; ``computeExcessMicroseconds``
/// gives the extra computation directly.
///
/// ### Saving of early over classic
/// For a classic scenario and its early counterpart (same security, multistream mode, RTT,
/// emulator and concurrency):
///
///     saving (ms)   = p50 classic − p50 early                      (at this RTT, what a user sees)
///     saving (RTTs) = measured(classic) − measured(early)          (only for r > 0)
///     network saving (RTTs) = network(classic) − network(early)    (only for r > 0)
///
/// ### Under load
/// Round trips are counted only with one connection in flight. At higher concurrency both ends'
/// event loops serve other connections: bytes wait in socket buffers and handlers wait for a core,
/// so neither the loopback median (mostly queueing, not computation) nor the time in flight
/// (which then includes that wait) measures the path. Those rows leave the round-trip columns
/// empty; the milliseconds stay.
public struct RoundTripReport: Sendable {
    /// One stage of one scenario.
    public struct StageRoundTrips: Hashable, Sendable {
        /// The scenario.
        public let scenario: Scenario
        /// The stage.
        public let stage: ConnectionStage
        /// The scenario's median at the stage, `nil` if no connection reached it.
        public let medianMicroseconds: UInt64?
        /// The scenario's 10th percentile at the stage, `nil` if no connection reached it.
        public var p10Microseconds: UInt64? = nil
        /// The loopback scenario subtracted, `nil` at RTT 0 or when there is none.
        public let baseline: Scenario?
        /// The baseline's median at the stage.
        public let baselineMedianMicroseconds: UInt64?
        /// Measured round trips; `nil` at RTT 0, under concurrency, or without both medians.
        public let measured: Double?
        /// The ``RoundTripModel`` count.
        public let theoretical: Int?
        /// The round-trip time of the path the scenario ran on, µs: its calibration, or the
        /// requested RTT when none is known; `nil` at RTT 0.
        public let pathRTTMicroseconds: Double?
        /// The median time in flight on the critical path, µs; `nil` without critical paths.
        public let networkMedianMicroseconds: UInt64?
        /// The 10th percentile of the time in flight on the critical path, µs; `nil` without
        /// critical paths.
        public let networkP10Microseconds: UInt64?
        /// The median computation on the critical path, µs; `nil` without critical paths.
        public let computeMedianMicroseconds: UInt64?
        /// Network round trips: ``networkP10Microseconds`` / ``pathRTTMicroseconds``; `nil` at
        /// RTT 0, under concurrency, or without critical paths.
        public let network: Double?
        /// The critical path's median computation here minus at the loopback baseline, µs: what
        /// the same work costs more under this delay; `nil` where either is unknown.
        public let computeExcessMicroseconds: Int64?

        /// How far the median time in flight lies above its 10th percentile, in path round trips:
        /// how much the machine lengthened flights in the slower half of the connections. Where
        /// there is no critical path (another implementation listens, or a relay path), the same
        /// of the stage's whole time; `nil` at RTT 0.
        public var disturbance: Double? {
            guard let rtt = self.pathRTTMicroseconds, rtt > 0 else { return nil }
            if self.network != nil, let median = self.networkMedianMicroseconds, let p10 = self.networkP10Microseconds {
                return (Double(median) - Double(p10)) / rtt
            }
            guard let median = self.medianMicroseconds, let p10 = self.p10Microseconds else { return nil }
            return (Double(median) - Double(p10)) / rtt
        }
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
        /// The saving in network round trips; `nil` without both network counts.
        public let networkSavingRoundTrips: Double?
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

    /// The round-trip time of one emulated path, as calibrated before its scenarios ran.
    public struct PathKey: Hashable, Sendable {
        /// The emulator name (``Scenario/Emulator/name``).
        public var emulator: String
        /// The requested RTT.
        public var rttMilliseconds: Int

        /// Creates a key.
        public init(emulator: String, rttMilliseconds: Int) {
            self.emulator = emulator
            self.rttMilliseconds = rttMilliseconds
        }
    }

    /// Computes the report.
    ///
    /// - Parameters:
    ///   - summaries: The scenarios' summaries, in run order.
    ///   - model: The model to compare with.
    ///   - pathRTTs: Calibrated round-trip times per path, µs (the calibration's median); a path
    ///     without one is counted in units of its requested RTT.
    public init(
        summaries: [ScenarioSummary],
        model: RoundTripModel = .standard,
        pathRTTs: [PathKey: Double] = [:]
    ) {
        self.summaries = summaries
        self.model = model

        var stages: [StageRoundTrips] = []
        for summary in summaries {
            let baseline = Self.baseline(for: summary.scenario, in: summaries)
            let scenario = summary.scenario
            let counts = scenario.rttMilliseconds > 0 && scenario.concurrency == 1
            let pathRTT: Double? =
                scenario.rttMilliseconds > 0
                ? pathRTTs[PathKey(emulator: scenario.emulator.name, rttMilliseconds: scenario.rttMilliseconds)]
                    ?? Double(scenario.rttMilliseconds) * 1000
                : nil
            for stage in ConnectionStage.allCases {
                let median = summary[stage].statistics?.p50
                let baselineMedian = baseline?[stage].statistics?.p50
                var measured: Double? = nil
                if counts, let median, let baselineMedian {
                    measured = Self.roundTrips(median, minus: baselineMedian, rttMilliseconds: scenario.rttMilliseconds)
                }
                let networkMedian = summary[stage].network?.p50
                let networkP10 = summary[stage].network?.p10
                let computeMedian = summary[stage].compute?.p50
                var network: Double? = nil
                if counts, let networkP10, let pathRTT, pathRTT > 0 {
                    network = Double(networkP10) / pathRTT
                }
                var computeExcess: Int64? = nil
                if let computeMedian, let baselineCompute = baseline?[stage].compute?.p50 {
                    computeExcess = Int64(clamping: computeMedian) - Int64(clamping: baselineCompute)
                }
                var row = StageRoundTrips(
                    scenario: scenario,
                    stage: stage,
                    medianMicroseconds: median,
                    baseline: baseline?.scenario,
                    baselineMedianMicroseconds: baselineMedian,
                    measured: measured,
                    // The model is of UpgradeBench's dialer; other dialers' stages are not
                    // modelled (docs/peers.md), only early's saving over classic is.
                    theoretical: scenario.dialer == .swift ? model.roundTrips(to: stage, for: scenario) : nil,
                    pathRTTMicroseconds: pathRTT,
                    networkMedianMicroseconds: networkMedian,
                    networkP10Microseconds: networkP10,
                    computeMedianMicroseconds: computeMedian,
                    network: network,
                    computeExcessMicroseconds: computeExcess
                )
                row.p10Microseconds = summary[stage].statistics?.p10
                stages.append(row)
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
            guard let classic = summaries.first(where: { $0.scenario.samePath(as: classicScenario) })
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
                var networkSaving: Double? = nil
                if let classicNetwork = classicRow?.network, let earlyNetwork = earlyRow?.network {
                    networkSaving = classicNetwork - earlyNetwork
                }
                savings.append(
                    EarlySaving(
                        classic: classic.scenario,
                        early: summary.scenario,
                        stage: stage,
                        savingMicroseconds: savingMicroseconds,
                        savingRoundTrips: savingRoundTrips,
                        networkSavingRoundTrips: networkSaving,
                        // A fallback saves nothing: both scenarios run multistream-select.
                        theoretical: summary.scenario.expectsEarlyMuxer
                            ? model.earlySaving(
                                at: stage,
                                multistream: summary.scenario.multistream,
                                connectIsDelayed: summary.scenario.emulator.delaysConnect
                            ) : 0
                    )
                )
            }
        }
        self.savings = savings
    }

    /// The largest ``StageRoundTrips/disturbance`` of `scenario` over its stages, if any is known.
    public func disturbance(of scenario: Scenario) -> Double? {
        self.stages.filter { $0.scenario == scenario }.compactMap(\.disturbance).max()
    }

    /// The scenarios a failed check should measure again: every scenario named by a round-trip
    /// or saving failure, when each such failure involves one the machine visibly disturbed
    /// (``CheckTolerances/disturbance``) and nothing else failed; empty otherwise (a failure that
    /// a quiet measurement produced is an answer, not noise).
    public func scenariosToMeasureAgain(_ result: CheckResult, tolerances: CheckTolerances = CheckTolerances()) -> [Scenario] {
        var scenarios: [Scenario] = []
        for failure in result.failures {
            switch failure.kind {
            case .roundTripsOffModel, .savingOutOfRange:
                let disturbed = failure.scenarios.contains {
                    (self.disturbance(of: $0) ?? 0) > tolerances.disturbance
                }
                guard disturbed else { return [] }
                for scenario in failure.scenarios where !scenarios.contains(scenario) {
                    scenarios.append(scenario)
                }
            case .noMeasurement, .missingBaseline, .connectionFailures, .unexpectedPath, .nothingToCompare:
                return []
            }
        }
        return scenarios
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

    /// The loopback summary for `scenario`: RTT 0, same path, peers and concurrency; the same emulator
    /// if there is one, any emulator otherwise. `nil` at RTT 0 or when none was measured.
    static func baseline(for scenario: Scenario, in summaries: [ScenarioSummary]) -> ScenarioSummary? {
        guard scenario.rttMilliseconds > 0 else { return nil }
        let candidates = summaries.filter {
            $0.scenario.rttMilliseconds == 0 && $0.scenario.security == scenario.security
                && $0.scenario.negotiation == scenario.negotiation && $0.scenario.multistream == scenario.multistream
                && $0.scenario.concurrency == scenario.concurrency
                && $0.scenario.dialer == scenario.dialer && $0.scenario.listener == scenario.listener
        }
        return candidates.first { $0.scenario.emulator.name == scenario.emulator.name } ?? candidates.first
    }

    private struct StageKey: Hashable {
        let scenario: Scenario
        let stage: ConnectionStage
    }
}
