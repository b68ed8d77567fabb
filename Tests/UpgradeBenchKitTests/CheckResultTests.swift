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
        override: (Scenario, inout SyntheticSamples) -> [ConnectionSample]? = { _, _ in nil }
    ) -> CheckResult {
        var generator = self.generator(jitter: jitter)
        let results = syntheticResults(scenarios, generator: &generator, override: override)
        return RoundTripReport(summaries: results.summaries()).check()
    }

    static func isEmulatedEarlyStrictNoise(_ scenario: Scenario) -> Bool {
        scenario.rttMilliseconds == 10 && scenario.negotiation == .early && scenario.multistream == .strict
            && scenario.security == .noise
    }

    @Test func modelConformingSamplesPass() {
        let result = Self.check()
        #expect(result.passed, "\(result)")
        #expect(result.checkedStages == 8 * 5)
        #expect(result.checkedSavings == 4)
        #expect(result.description.hasPrefix("check passed"))
    }

    @Test func earlySavingBelowPointNineFails() {
        // 0.15 RTT later from muxer_ready: within the 0.2 count tolerance, saving 0.85.
        let result = Self.check { scenario, generator in
            Self.isEmulatedEarlyStrictNoise(scenario)
                ? generator.samples(for: scenario, extraRoundTrips: [.muxerReady: 0.15]) : nil
        }
        #expect(result.failures.map(\.kind) == [.savingOutOfRange], "\(result)")
        #expect(result.failures.first?.message.contains("noise-early-strict-10ms-tun-c1: early saves 0.8") == true)
    }

    @Test func earlySavingAbovePointOneOneFails() {
        let result = Self.check { scenario, generator in
            Self.isEmulatedEarlyStrictNoise(scenario)
                ? generator.samples(for: scenario, extraRoundTrips: [.muxerReady: -0.15]) : nil
        }
        #expect(result.failures.map(\.kind) == [.savingOutOfRange], "\(result)")
    }

    @Test func lazySavingIsCheckedAgainstZero() {
        // Lazy early 0.15 RTT faster than the model: saving 0.15 > 0 + 0.1.
        let result = Self.check { scenario, generator in
            scenario.rttMilliseconds == 10 && scenario.negotiation == .early && scenario.multistream == .lazy
                && scenario.security == .tls
                ? generator.samples(for: scenario, extraRoundTrips: [.muxerReady: -0.15]) : nil
        }
        #expect(result.failures.map(\.kind) == [.savingOutOfRange], "\(result)")
        #expect(result.failures.first?.message.contains("expected -0.10...0.10") == true, "\(result)")
    }

    @Test func stageCountOffTheModelFails() {
        // A stray round trip in the TLS classic lazy handshake: off by 1 at handshake_done and after.
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
                == "tls-classic-lazy-10ms-tun-c1 handshake_done: measured 2.30 round trips, theory 2 (off by 0.30 > 0.20)",
            "\(result)"
        )
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

    @Test func emulatedScenarioWithoutBaselineFails() {
        let scenarios = Self.scenarios.filter { !($0.rttMilliseconds == 0 && $0.pathName == "noise-early-strict") }
        let result = Self.check(scenarios)
        // The pair's saving cannot be measured either, so it is not checked (and not reported twice).
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
        let result = Self.check(Self.scenarios.filter { $0.negotiation == .classic && $0.rttMilliseconds == 10 })
        let lines = result.description.split(separator: "\n")
        // Four scenarios without a baseline, and no pair to compare.
        #expect(lines.first?.hasPrefix("check FAILED (5 problems") == true, "\(result)")
        #expect(lines.count == 6)
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("  - ") })
    }
}
