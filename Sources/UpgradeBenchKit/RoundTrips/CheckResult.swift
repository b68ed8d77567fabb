/// The limits `bench --check` enforces.
public struct CheckTolerances: Hashable, Sendable {
    /// Largest allowed |measured − theoretical| round trips for any stage: 0.2.
    public var roundTrips: Double
    /// Largest allowed |measured − theoretical| saving of early over classic at
    /// ``ConnectionStage/muxerReady``, in round trips: 0.1, so a theoretical saving of one round
    /// trip must measure within 0.9...1.1.
    public var saving: Double
    /// Failed connections allowed per scenario: 0 (a failure on a controlled path is a bug).
    public var failedConnections: Int

    /// Creates tolerances; the defaults are the CI gate's.
    public init(roundTrips: Double = 0.2, saving: Double = 0.1, failedConnections: Int = 0) {
        self.roundTrips = roundTrips
        self.saving = saving
        self.failedConnections = failedConnections
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
    /// The CI gate: every emulated stage within ``CheckTolerances/roundTrips`` of the model, early's
    /// saving at ``ConnectionStage/muxerReady`` within ``CheckTolerances/saving`` of the model,
    /// no failed connections, no path that contradicts its scenario.
    ///
    /// With strict multistream-select the model's saving is one round trip, so the gate is the
    /// issue's "early saves at least 0.9 and at most 1.1 RTT"; with lazy multistream-select it is
    /// zero (see ``RoundTripModel``).
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
            guard summary.scenario.rttMilliseconds > 0 else { continue }
            let rows = self.stages.filter { $0.scenario == summary.scenario }
            if rows.first?.baseline == nil {
                failures.append(
                    .init(
                        kind: .missingBaseline,
                        message: "\(name): no loopback scenario (RTT 0) for \(summary.scenario.pathName) "
                            + "at concurrency \(summary.scenario.concurrency) to subtract"
                    )
                )
                continue
            }
            for row in rows {
                guard let measured = row.measured else {
                    failures.append(
                        .init(
                            kind: .noMeasurement,
                            message: "\(name) \(row.stage.columnName): no connection reached the stage "
                                + "(here or at loopback), so its round trips cannot be measured"
                        )
                    )
                    continue
                }
                checkedStages += 1
                let off = measured - Double(row.theoretical)
                if abs(off) > tolerances.roundTrips {
                    failures.append(
                        .init(
                            kind: .roundTripsOffModel,
                            message: "\(name) \(row.stage.columnName): measured \(Self.format(measured)) round trips, "
                                + "theory \(row.theoretical) (off by \(Self.format(abs(off))) > \(Self.format(tolerances.roundTrips)))"
                        )
                    )
                }
            }
        }

        for saving in self.savings where saving.stage == .muxerReady && saving.rttMilliseconds > 0 {
            // A missing measured count has already been reported per stage above.
            guard let roundTrips = saving.savingRoundTrips else { continue }
            checkedSavings += 1
            let low = Double(saving.theoretical) - tolerances.saving
            let high = Double(saving.theoretical) + tolerances.saving
            if roundTrips < low || roundTrips > high {
                let milliseconds = saving.savingMilliseconds.map { ", \(Self.format($0)) ms" } ?? ""
                failures.append(
                    .init(
                        kind: .savingOutOfRange,
                        message: "\(saving.early.name): early saves \(Self.format(roundTrips)) RTT\(milliseconds) over "
                            + "\(saving.classic.name) at muxer_ready, expected \(Self.format(low))...\(Self.format(high))"
                    )
                )
            }
        }

        let pairsAtEmulatedRTT = self.savings.contains { $0.stage == .muxerReady && $0.rttMilliseconds > 0 }
        if !pairsAtEmulatedRTT {
            failures.append(
                .init(
                    kind: .nothingToCompare,
                    message: "no classic/early pair at an emulated RTT: the saving cannot be checked"
                )
            )
        }
        return CheckResult(failures: failures, checkedStages: checkedStages, checkedSavings: checkedSavings)
    }

    /// Two decimals, the precision the tolerances are stated in.
    static func format(_ value: Double) -> String { FixedPoint.format(value, decimals: 2) }
}
