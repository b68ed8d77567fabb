import Testing
import UpgradeBenchKit

/// The `bench --check` gate on synthetic samples: a pass, then each failure reason on its own.
@Suite struct CheckResultTests {
    /// Every path at loopback and 10 ms: the quick preset's shape with small counts.
    static let scenarios = ScenarioMatrix.product(
        rttMilliseconds: [0, 10],
        emulator: .tun,
        connections: { _ in 25 },
        warmup: 0
    )

    /// 400 µs of spread per stage by default: medians move by less than 0.04 RTT at 10 ms.
    static func generator(jitter: UInt64 = 400) -> SyntheticSamples {
        var generator = SyntheticSamples()
        generator.jitterMicroseconds = jitter
        return generator
    }

    static func check(
        _ scenarios: [Scenario] = scenarios,
        jitter: UInt64 = 400,
        criticalPaths: Bool = true,
        override: (Scenario, inout SyntheticSamples) -> [ConnectionSample]? = { _, _ in nil }
    ) -> CheckResult {
        var generator = self.generator(jitter: jitter)
        generator.emitsCriticalPaths = criticalPaths
        let results = syntheticResults(scenarios, generator: &generator, override: override)
        return RoundTripReport(summaries: results.summaries()).check()
    }

    static func isEmulatedEarlyStrictNoise(_ scenario: Scenario) -> Bool {
        Self.isEmulatedStrictNoise(scenario, .early)
    }

    @Test func modelConformingSamplesPass() {
        let result = Self.check()
        #expect(result.passed, "\(result)")
        #expect(result.checkedStages == 8 * 5)
        #expect(result.checkedSavings == 4)
        #expect(result.description.hasPrefix("check passed"))
    }

    /// Another implementation's dialer: its stages are not modelled, so only early's saving is
    /// checked, at first_echo (the stage it times); one that saves half a round trip fails.
    @Test func anotherDialersSavingIsCheckedAtFirstEcho() throws {
        let strict = Self.scenarios.filter { $0.multistream == .strict }
        let theirs = strict.map { scenario -> Scenario in
            var scenario = scenario
            scenario.dialer = .go
            return scenario
        }
        let passing = Self.check(Self.scenarios + theirs)
        #expect(passing.passed, "\(passing)")
        #expect(passing.checkedSavings == 4 + 2, "ours at muxer_ready, theirs at first_echo")
        #expect(passing.checkedStages == 8 * 5, "their stages are not modelled, so not counted")

        let failing = Self.check(Self.scenarios + theirs) { scenario, generator in
            guard scenario.dialer == .go, Self.isEmulatedStrictNoise(scenario, .early) else { return nil }
            return generator.samples(for: scenario, extraRoundTrips: [.firstEcho: 0.5])
        }
        #expect(!failing.passed)
        let failure = try #require(failing.failures.first { $0.kind == .savingOutOfRange })
        #expect(failure.message.contains("go_to_swift-noise-early-strict-10ms") && failure.message.contains("at first_echo"), "\(failure.message)")
    }

    /// Without critical paths (another implementation listens), how much the machine disturbed a
    /// scenario is read from the stage times themselves, so a failure it caused is measured again.
    @Test func disturbanceWithoutCriticalPathsComesFromTheStageTimes() {
        var generator = Self.generator(jitter: 4_000)
        generator.emitsCriticalPaths = false
        let report = RoundTripReport(summaries: syntheticResults(Self.scenarios, generator: &generator).summaries())
        for row in report.stages where row.scenario.rttMilliseconds == 10 {
            let expected = row.medianMicroseconds.flatMap { median in
                row.p10Microseconds.map { (Double(median) - Double($0)) / 10_000 }
            }
            #expect(row.network == nil)
            #expect(row.disturbance != nil && row.disturbance == expected, "\(row.scenario.name) \(row.stage)")
        }
    }

    static func isEmulatedStrictNoise(_ scenario: Scenario, _ negotiation: Scenario.Negotiation) -> Bool {
        scenario.rttMilliseconds == 10 && scenario.negotiation == negotiation && scenario.multistream == .strict
            && scenario.security == .noise
    }

    @Test func earlySavingBelowTheToleranceFails() {
        // Each count 0.04 off (within 0.05), the saving 0.92 (outside 0.95...1.05).
        let result = Self.check { scenario, generator in
            if Self.isEmulatedStrictNoise(scenario, .early) {
                return generator.samples(for: scenario, extraRoundTrips: [.muxerReady: 0.04])
            }
            if Self.isEmulatedStrictNoise(scenario, .classic) {
                return generator.samples(for: scenario, extraRoundTrips: [.muxerReady: -0.04])
            }
            return nil
        }
        #expect(result.failures.map(\.kind) == [.savingOutOfRange], "\(result)")
        #expect(
            result.failures.first?.message.hasPrefix(
                "noise-early-strict-10ms-tun-c1: early saves 0.92 network RTT"
            ) == true,
            "\(result)"
        )
        #expect(result.failures.first?.message.hasSuffix("expected 0.95...1.05") == true, "\(result)")
    }

    @Test func earlySavingAboveTheToleranceFails() {
        let result = Self.check { scenario, generator in
            if Self.isEmulatedStrictNoise(scenario, .early) {
                return generator.samples(for: scenario, extraRoundTrips: [.muxerReady: -0.04])
            }
            if Self.isEmulatedStrictNoise(scenario, .classic) {
                return generator.samples(for: scenario, extraRoundTrips: [.muxerReady: 0.04])
            }
            return nil
        }
        #expect(result.failures.map(\.kind) == [.savingOutOfRange], "\(result)")
    }

    @Test func lazySavingIsCheckedAgainstZero() {
        // Lazy early 0.04 faster and classic 0.04 slower than the model: saving 0.08 > 0 + 0.05.
        let result = Self.check { scenario, generator in
            guard scenario.rttMilliseconds == 10, scenario.multistream == .lazy, scenario.security == .tls else {
                return nil
            }
            let shift = scenario.negotiation == .early ? -0.04 : 0.04
            return generator.samples(for: scenario, extraRoundTrips: [.muxerReady: shift])
        }
        #expect(result.failures.map(\.kind) == [.savingOutOfRange], "\(result)")
        #expect(result.failures.first?.message.contains("expected -0.05...0.05") == true, "\(result)")
    }

    @Test func muxerReadyIsHeldToATighterToleranceThanTheOtherStages() {
        // 0.07 off from the handshake on: too much at muxer_ready (0.05), within the 0.1 elsewhere.
        let result = Self.check(jitter: 0) { scenario, generator in
            scenario.rttMilliseconds == 10 && scenario.pathName == "noise-early-lazy"
                ? generator.samples(for: scenario, extraRoundTrips: [.handshakeDone: 0.07]) : nil
        }
        #expect(result.failures.map(\.kind) == [.roundTripsOffModel, .savingOutOfRange], "\(result)")
        #expect(result.failures.first?.message.contains("muxer_ready: measured 2.07 network round trips") == true)
    }

    @Test func stageCountOffTheModelFails() {
        // A stray 0.3 round trip in the TLS classic lazy handshake: off at handshake_done and after.
        let result = Self.check(jitter: 0) { scenario, generator in
            scenario.rttMilliseconds == 10 && scenario.pathName == "tls-classic-lazy"
                ? generator.samples(for: scenario, extraRoundTrips: [.handshakeDone: 0.3]) : nil
        }
        #expect(
            result.failures.map(\.kind) == [
                .roundTripsOffModel, .roundTripsOffModel, .roundTripsOffModel, .savingOutOfRange,
            ]
        )
        #expect(
            result.failures.first?.message
                == "tls-classic-lazy-10ms-tun-c1 handshake_done: measured 2.30 network round trips, theory 2 "
                + "(off by 0.30 > 0.10)",
            "\(result)"
        )
    }

    @Test func extraComputationUnderDelayIsNotARoundTrip() {
        // Every stage from the handshake on costs 1.5 ms (0.15 RTT) more computation at 10 ms than
        // at loopback, as TLS does on a machine whose caches go cold while it waits: the
        // loopback-subtracted counts are 0.15 high, the network counts exact, and the gate passes.
        var generator = Self.generator(jitter: 0)
        var results = BenchResults(scenarios: Self.scenarios)
        for scenario in Self.scenarios {
            var local = generator
            if scenario.rttMilliseconds > 0 {
                for stage in [ConnectionStage.handshakeDone, .muxerReady, .firstEcho] {
                    local.computeMicroseconds[stage, default: 0] += 1500
                }
            }
            for sample in local.samples(for: scenario) { results.record(sample) }
            generator.seed = local.seed
        }
        let report = RoundTripReport(summaries: results.summaries())
        let row = report.roundTrips(for: Self.scenarios[8], at: .muxerReady)
        #expect(abs((row?.measured ?? 0) - (Double(row?.theoretical ?? 0) + 0.15)) < 1e-9)
        #expect(row?.network == Double(row?.theoretical ?? -1))
        #expect(report.check().passed, "\(report.check())")
    }

    @Test func withoutCriticalPathsTheLoopbackSubtractedCountIsCheckedWithItsWiderTolerance() {
        func result(shift: Double) -> CheckResult {
            var generator = Self.generator(jitter: 0)
            generator.emitsCriticalPaths = false
            let results = syntheticResults(Self.scenarios, generator: &generator) { scenario, generator in
                scenario.rttMilliseconds == 10 && scenario.pathName == "noise-classic-lazy"
                    ? generator.samples(for: scenario, extraRoundTrips: [.firstEcho: shift]) : nil
            }
            return RoundTripReport(summaries: results.summaries()).check()
        }
        #expect(result(shift: 0.45).passed, "\(result(shift: 0.45))")
        let failed = result(shift: 0.55)
        #expect(failed.failures.map(\.kind) == [.roundTripsOffModel], "\(failed)")
        #expect(
            failed.failures.first?.message.contains("measured 3.55 round trips (loopback subtracted)") == true,
            "\(failed)"
        )
    }

    /// A busy machine lengthens the flights of some connections: the median time in flight moves,
    /// the 10th percentile does not. A failure in such a scenario is measured again; the same
    /// failure on an undisturbed scenario is an answer.
    @Test func onlyVisiblyDisturbedFailuresAreMeasuredAgain() {
        func report(disturbed: Bool) -> RoundTripReport {
            var generator = Self.generator(jitter: 0)
            let results = syntheticResults(Self.scenarios, generator: &generator) { scenario, generator in
                guard Self.isEmulatedEarlyStrictNoise(scenario) else { return nil }
                // Every connection 0.08 round trips late at muxer_ready (a failure at 0.05) ...
                var samples = generator.samples(for: scenario, extraRoundTrips: [.muxerReady: 0.08])
                guard disturbed else { return samples }
                // ... and, on a busy machine, two thirds of them another 0.3 from the handshake on.
                for index in samples.indices where index % 3 != 0 {
                    for stage in [ConnectionStage.handshakeDone, .muxerReady, .firstEcho] {
                        samples[index].timestamps[stage]? += 3_000
                        samples[index].network?[stage]? += 3_000
                    }
                }
                return samples
            }
            return RoundTripReport(summaries: results.summaries())
        }
        let quiet = report(disturbed: false)
        #expect(!quiet.check().passed)
        #expect(quiet.scenariosToMeasureAgain(quiet.check()).isEmpty)
        let early = Self.scenarios.first { $0.name == "noise-early-strict-10ms-tun-c1" }
        #expect((early.flatMap { quiet.disturbance(of: $0) } ?? 1) < 0.01)

        let busy = report(disturbed: true)
        let check = busy.check()
        #expect(!check.passed)
        #expect((early.flatMap { busy.disturbance(of: $0) } ?? 0) > CheckTolerances().disturbance)
        // The disturbed scenario and, for the saving, its classic counterpart.
        #expect(Set(busy.scenariosToMeasureAgain(check).map(\.name)) == [
            "noise-early-strict-10ms-tun-c1", "noise-classic-strict-10ms-tun-c1",
        ])
    }

    @Test func aFailedConnectionIsNeverMeasuredAgain() {
        var generator = Self.generator()
        let results = syntheticResults(Self.scenarios, generator: &generator) { scenario, generator in
            guard scenario.name == "tls-early-strict-10ms-tun-c1" else { return nil }
            var samples = generator.samples(for: scenario)
            samples[0].failure = .init(stage: "secureHandshake", reason: "reset")
            return samples
        }
        let report = RoundTripReport(summaries: results.summaries())
        #expect(report.scenariosToMeasureAgain(report.check()).isEmpty)
    }

    @Test func roundTripsAreNotCountedUnderConcurrency() {
        // At 8 in flight the stages are mostly queueing: half a round trip off passes, as long as
        // no connection failed and every path is the one asked for.
        let loaded = ScenarioMatrix.product(rttMilliseconds: [0, 10], emulator: .tun, connections: { _ in 20 }, warmup: 0)
            .map { scenario -> Scenario in
                var scenario = scenario
                scenario.concurrency = 8
                return scenario
            }
        let scenarios = Self.scenarios + loaded
        let result = Self.check(scenarios) { scenario, generator in
            scenario.concurrency == 8 && scenario.rttMilliseconds == 10
                ? generator.samples(for: scenario, extraRoundTrips: [.tcpConnected: 0.5]) : nil
        }
        #expect(result.passed, "\(result)")
        #expect(result.checkedStages == 8 * 5)
        #expect(result.checkedSavings == 4)
    }

    @Test func failedConnectionsFail() {
        let result = Self.check { scenario, generator in
            guard scenario.name == "tls-early-strict-0ms-loopback-c1" else { return nil }
            var samples = generator.samples(for: scenario)
            samples[3].failure = .init(stage: "secureHandshake", reason: "peer ID mismatch")
            return samples
        }
        #expect(result.failures.map(\.kind) == [.connectionFailures])
        #expect(
            result.failures.first?.message
                == "tls-early-strict-0ms-loopback-c1: 1 of 25 connections failed; most frequent: secureHandshake: peer ID mismatch (1×)"
        )
    }

    @Test func failedConnectionsWithinTolerancePass() {
        var generator = Self.generator()
        let results = syntheticResults(Self.scenarios, generator: &generator) { scenario, generator in
            var samples = generator.samples(for: scenario)
            samples[0].failure = .init(stage: "echo", reason: "late")
            return samples
        }
        let report = RoundTripReport(summaries: results.summaries())
        #expect(report.check(tolerances: CheckTolerances(failedConnections: 1)).passed)
        #expect(!report.check().passed)
    }

    @Test func fallbackToMultistreamSelectFails() {
        let result = Self.check { scenario, generator in
            guard Self.isEmulatedEarlyStrictNoise(scenario) else { return nil }
            var samples = generator.samples(for: scenario)
            samples[0].path.earlyMuxerNegotiation = false
            return samples
        }
        #expect(result.failures.map(\.kind) == [.unexpectedPath])
        #expect(result.failures.first?.message.contains("1 of 25 connections negotiated another path") == true)
    }

    @Test func emulatedScenarioWithoutBaselineFailsOnlyWithoutCriticalPaths() {
        let scenarios = Self.scenarios.filter { !($0.rttMilliseconds == 0 && $0.pathName == "noise-early-strict") }
        // Network round trips need no loopback baseline.
        let withPaths = Self.check(scenarios)
        #expect(withPaths.passed, "\(withPaths)")
        #expect(withPaths.checkedSavings == 4)
        // The loopback-subtracted fallback does; the pair's saving cannot be measured either, so it
        // is not checked (and not reported twice).
        let result = Self.check(scenarios, criticalPaths: false)
        #expect(result.failures.map(\.kind) == [.missingBaseline], "\(result)")
        #expect(result.checkedSavings == 3)
    }

    @Test func scenarioWithoutConnectionsFails() {
        let result = Self.check { scenario, _ in scenario.name == "noise-classic-lazy-10ms-tun-c1" ? [] : nil }
        #expect(result.failures.map(\.kind) == [.noMeasurement], "\(result)")
    }

    @Test func stageNoConnectionReachedFails() {
        let result = Self.check { scenario, generator in
            guard scenario.name == "noise-classic-lazy-10ms-tun-c1" else { return nil }
            return generator.samples(for: scenario).map {
                var sample = $0
                sample.timestamps.firstEcho = nil
                sample.failure = .init(stage: "echo", reason: "stream reset")
                return sample
            }
        }
        #expect(result.failures.map(\.kind) == [.connectionFailures, .noMeasurement], "\(result)")
    }

    @Test func withoutAnEmulatedPairThereIsNothingToCompare() {
        let result = Self.check(Self.scenarios.filter { $0.negotiation == .classic })
        #expect(result.failures.map(\.kind) == [.nothingToCompare], "\(result)")
    }

    @Test func descriptionListsEveryFailureOnItsOwnLine() {
        let result = Self.check(
            Self.scenarios.filter { $0.negotiation == .classic && $0.rttMilliseconds == 10 },
            criticalPaths: false
        )
        let lines = result.description.split(separator: "\n")
        // Four scenarios without a baseline, and no pair to compare.
        #expect(lines.first?.hasPrefix("check FAILED (5 problems") == true, "\(result)")
        #expect(lines.count == 6)
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("  - ") })
    }
}
