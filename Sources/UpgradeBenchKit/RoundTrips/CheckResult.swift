/// The limits `bench --check` enforces, and where each comes from.
///
/// The gate compares *network* round trips (``RoundTripReport``: the 10th percentile of the
/// critical path's time in flight over the calibrated path RTT) with the model. That figure leaves
/// out computation, so its spread is the path's and the machine's scheduling, which grows with the
/// number of flights a stage has. Over 30 connections per scenario of the `quick` preset at 20 ms
/// on the reference machine type (2 vCPUs under KVM), 9 runs, quiet, with one CPU-bound process
/// beside the run, and with two, the worst deviation was 0.013 round trips at `muxer_ready`, 0.021
/// at other stages and 0.009 for early's saving without the second process, and 0.065, 0.188 and
/// 0.078 with both cores saturated (README, "The check gate"). The tolerances hold the first with
/// a wide margin, stay far below the error the gate exists to catch (a stray round trip is 1.0),
/// and the second is handled by measuring a visibly disturbed scenario again (``disturbance``).
///
/// Where no critical path is known (a listener that was not matched), the gate falls back to the
/// loopback-subtracted count, which also carries the extra cost of cold computation under delay
/// (up to 0.23 round trips on a quiet machine, 0.42 on a saturated one, in the same runs): only a
/// wide tolerance can hold there, so it only catches whole stray round trips.
public struct CheckTolerances: Hashable, Sendable {
    /// Largest allowed |network − theoretical| round trips at ``ConnectionStage/muxerReady``: 0.05.
    public var muxerReady: Double
    /// The same for every other stage: 0.1, as stages with more flights collect more scheduling
    /// delay on a busy machine.
    public var otherStages: Double
    /// Largest allowed |network saving − theoretical| of early over classic at
    /// ``ConnectionStage/muxerReady``, in round trips: 0.05, so a theoretical saving of one round
    /// trip must measure within 0.95...1.05.
    public var saving: Double
    /// The limit for the loopback-subtracted count and saving, used only without critical paths:
    /// 0.5.
    public var withoutCriticalPath: Double
    /// Failed connections allowed per scenario: 0 (a failure on a controlled path is a bug).
    public var failedConnections: Int
    /// How far, in round trips, a scenario's median time in flight may lie above its 10th
    /// percentile at any stage before the machine counts as having visibly disturbed the
    /// measurement: 0.1. On a quiet machine the two differed by at most 0.021 in any scenario,
    /// beside one CPU-bound process by up to 0.12, and in the scenarios that failed with both
    /// cores saturated by other processes by 0.16 and 0.23 (README, "The check gate"). A failing,
    /// visibly disturbed scenario is measured again (``attempts``).
    public var disturbance: Double = 0.1
    /// Measurements of a failing scenario before its failure stands, when every failure was
    /// visibly disturbed: 3. A real deviation fails every attempt; a machine busy enough to push
    /// a tenth percentile off rarely does so three times running.
    public var attempts: Int = 3

    /// Creates tolerances; the defaults are the CI gate's.
    public init(
        muxerReady: Double = 0.05,
        otherStages: Double = 0.1,
        saving: Double = 0.05,
        withoutCriticalPath: Double = 0.5,
        failedConnections: Int = 0
    ) {
        self.muxerReady = muxerReady
        self.otherStages = otherStages
        self.saving = saving
        self.withoutCriticalPath = withoutCriticalPath
        self.failedConnections = failedConnections
    }

    /// The limit for network round trips at `stage`.
    public func network(at stage: ConnectionStage) -> Double {
        stage == .muxerReady ? self.muxerReady : self.otherStages
    }
}

/// The outcome of the check gate: passed, or a list of failures people can read.
public struct CheckResult: Hashable, Sendable, CustomStringConvertible {
    /// One reason the check failed.
    public struct Failure: Hashable, Sendable, CustomStringConvertible {
        /// The kind of failure.
        public enum Kind: String, Hashable, Sendable {
            /// A scenario recorded no connection, or none reached a stage the check needs.
            case noMeasurement
            /// An emulated scenario has no loopback baseline, so its round trips cannot be measured.
            case missingBaseline
            /// More connections failed than ``CheckTolerances/failedConnections``.
            case connectionFailures
            /// Connections negotiated another path than the scenario asked for (e.g. fell back to
            /// multistream-select when early negotiation was requested).
            case unexpectedPath
            /// A stage's measured round trips are off the model by more than ``CheckTolerances/roundTrips``.
            case roundTripsOffModel
            /// Early's saving over classic is off the model by more than ``CheckTolerances/saving``.
            case savingOutOfRange
            /// No classic/early pair at an emulated RTT: nothing for the saving gate to check.
            case nothingToCompare
        }

        /// The kind.
        public let kind: Kind
        /// What exactly, with numbers and the scenario name.
        public let message: String
        /// The scenarios whose measurement the failure is about (for a saving, both of the pair).
        public let scenarios: [Scenario]

        /// Creates a failure.
        public init(kind: Kind, message: String, scenarios: [Scenario] = []) {
            self.kind = kind
            self.message = message
            self.scenarios = scenarios
        }

        public var description: String { self.message }
    }

    /// Every failure, in scenario order; empty when the check passed.
    public let failures: [Failure]
    /// Stages whose round trips were compared with the model.
    public let checkedStages: Int
    /// Early/classic pairs whose saving was compared with the model.
    public let checkedSavings: Int

    /// Whether the gate passed.
    public var passed: Bool { self.failures.isEmpty }

    /// `check passed: ...` or `check FAILED: ...` followed by one failure per line.
    public var description: String {
        let counts = "\(self.checkedStages) stage round-trip counts, \(self.checkedSavings) early savings"
        guard !self.passed else { return "check passed: \(counts) within tolerance" }
        let lines = self.failures.map { "  - \($0.message)" }
        return
            (["check FAILED (\(self.failures.count) problem\(self.failures.count == 1 ? "" : "s"); checked \(counts)):"]
            + lines)
            .joined(separator: "\n")
    }
}

extension RoundTripReport {
    /// The CI gate: every emulated stage's network round trips within
    /// ``CheckTolerances/network(at:)`` of the model, early's network saving at ``ConnectionStage/muxerReady`` within
    /// ``CheckTolerances/saving`` of the model, no failed connections, no path that contradicts its
    /// scenario. Scenarios with more than one connection in flight are checked for failures and
    /// paths only.
    ///
    /// With strict multistream-select the model's saving is one round trip, so the gate is "early
    /// saves 0.95 to 1.05 network round trips"; with lazy multistream-select it is zero (see
    /// ``RoundTripModel``).
    public func check(tolerances: CheckTolerances = CheckTolerances()) -> CheckResult {
        var failures: [CheckResult.Failure] = []
        var checkedStages = 0
        var checkedSavings = 0

        for summary in self.summaries {
            let name = summary.scenario.name
            if summary.connections == 0 {
                failures.append(.init(kind: .noMeasurement, message: "\(name): no connection was recorded"))
                continue
            }
            if summary.failedConnections > tolerances.failedConnections {
                let first = summary.failureReasons.first.map { "; most frequent: \($0.reason) (\($0.count)×)" } ?? ""
                failures.append(
                    .init(
                        kind: .connectionFailures,
                        message:
                            "\(name): \(summary.failedConnections) of \(summary.connections) connections failed\(first)"
                    )
                )
            }
            if summary.deviatingConnections > 0 {
                failures.append(
                    .init(
                        kind: .unexpectedPath,
                        message: "\(name): \(summary.deviatingConnections) of \(summary.connections) connections "
                            + "negotiated another path than \(summary.scenario.pathName)"
                    )
                )
            }
            // Round trips are counted with one connection in flight only (RoundTripReport, "Under load").
            guard summary.scenario.rttMilliseconds > 0, summary.scenario.concurrency == 1 else { continue }
            let rows = self.stages.filter { $0.scenario == summary.scenario }
            let hasCriticalPaths = rows.contains { $0.network != nil }
            if !hasCriticalPaths && rows.first?.baseline == nil {
                failures.append(
                    .init(
                        kind: .missingBaseline,
                        message: "\(name): no critical paths and no loopback scenario (RTT 0) for "
                            + "\(summary.scenario.pathName) to subtract"
                    )
                )
                continue
            }
            // Another implementation's dialer: its stages are not modelled, its saving is.
            for row in rows where row.theoretical != nil {
                let figure = hasCriticalPaths ? row.network : row.measured
                let tolerance = hasCriticalPaths ? tolerances.network(at: row.stage) : tolerances.withoutCriticalPath
                let label = hasCriticalPaths ? "network round trips" : "round trips (loopback subtracted)"
                guard let measured = figure else {
                    failures.append(
                        .init(
                            kind: .noMeasurement,
                            message: "\(name) \(row.stage.columnName): no connection reached the stage "
                                + "(or its critical path is unknown), so its round trips cannot be measured"
                        )
                    )
                    continue
                }
                guard let theoretical = row.theoretical else { continue }
                checkedStages += 1
                let off = measured - Double(theoretical)
                if abs(off) > tolerance {
                    failures.append(
                        .init(
                            kind: .roundTripsOffModel,
                            message: "\(name) \(row.stage.columnName): measured \(Self.format(measured)) \(label), "
                                + "theory \(theoretical) (off by \(Self.format(abs(off))) > \(Self.format(tolerance)))",
                            scenarios: [row.scenario]
                        )
                    )
                }
            }
        }

        // At muxer_ready; where another implementation dials, at first_echo, the stage it times.
        for saving in self.savings
        where saving.stage == saving.early.headlineStage && saving.rttMilliseconds > 0 && saving.early.concurrency == 1 {
            // A missing measured count has already been reported per stage above.
            let usesNetwork = saving.networkSavingRoundTrips != nil
            guard let roundTrips = saving.networkSavingRoundTrips ?? saving.savingRoundTrips else { continue }
            checkedSavings += 1
            let tolerance = usesNetwork ? tolerances.saving : tolerances.withoutCriticalPath
            let low = Double(saving.theoretical) - tolerance
            let high = Double(saving.theoretical) + tolerance
            if roundTrips < low || roundTrips > high {
                let milliseconds = saving.savingMilliseconds.map { ", \(Self.format($0)) ms" } ?? ""
                failures.append(
                    .init(
                        kind: .savingOutOfRange,
                        message: "\(saving.early.name): early saves \(Self.format(roundTrips)) "
                            + "\(usesNetwork ? "network " : "")RTT\(milliseconds) over "
                            + "\(saving.classic.name) at \(saving.stage.columnName), expected \(Self.format(low))...\(Self.format(high))",
                        scenarios: [saving.classic, saving.early]
                    )
                )
            }
        }

        let pairsAtEmulatedRTT = self.savings.contains {
            $0.stage == .muxerReady && $0.rttMilliseconds > 0 && $0.early.concurrency == 1
        }
        if !pairsAtEmulatedRTT {
            failures.append(
                .init(
                    kind: .nothingToCompare,
                    message: "no classic/early pair at an emulated RTT with one connection in flight: "
                        + "the saving cannot be checked"
                )
            )
        }
        return CheckResult(failures: failures, checkedStages: checkedStages, checkedSavings: checkedSavings)
    }

    /// Two decimals, the precision the tolerances are stated in.
    static func format(_ value: Double) -> String { FixedPoint.format(value, decimals: 2) }
}
