import Testing
import UpgradeBenchKit

@Suite struct RoundTripReportTests {
    static let strictPair: [Scenario] = [
        .test(.noise, .classic, rtt: 0), .test(.noise, .early, rtt: 0),
        .test(.noise, .classic, rtt: 10), .test(.noise, .early, rtt: 10),
    ]

    @Test func noiselessSamplesMeasureExactlyTheModel() throws {
        var generator = SyntheticSamples()
        let report = RoundTripReport(summaries: syntheticResults(Self.strictPair, generator: &generator).summaries())
        for row in report.stages where row.scenario.rttMilliseconds == 10 {
            #expect(row.measured == Double(row.theoretical), "\(row.scenario.name) \(row.stage)")
            #expect(row.baseline?.rttMilliseconds == 0)
        }
        for row in report.stages where row.scenario.rttMilliseconds == 0 {
            #expect(row.measured == nil, "no round trips at loopback")
            #expect(row.baseline == nil)
        }
    }

    @Test func measuredRoundTripsSubtractTheLoopbackMedian() throws {
        var generator = SyntheticSamples()
        let results = syntheticResults(Self.strictPair, generator: &generator)
        let report = RoundTripReport(summaries: results.summaries())
        let row = try #require(report.roundTrips(for: Self.strictPair[2], at: .muxerReady))
        // Classic strict: 780 µs of compute + 4 × 10 ms.
        #expect(row.medianMicroseconds == 40_780)
        #expect(row.baselineMedianMicroseconds == 780)
        #expect(row.measured == 4)
        #expect(row.theoretical == 4)
    }

    @Test func savingInMillisecondsAndRoundTrips() throws {
        var generator = SyntheticSamples()
        let results = syntheticResults(Self.strictPair, generator: &generator) { scenario, generator in
            // Early costs 100 µs more compute at muxer_ready (longer handshake payloads).
            guard scenario.negotiation == .early else { return nil }
            var slower = generator
            slower.computeMicroseconds[.muxerReady] = 880
            slower.computeMicroseconds[.firstEcho] = 1000
            return slower.samples(for: scenario)
        }
        let report = RoundTripReport(summaries: results.summaries())
        let emulated = try #require(report.saving(for: Self.strictPair[3], at: .muxerReady))
        #expect(emulated.classic == Self.strictPair[2])
        #expect(emulated.savingMicroseconds == Int64(9_900), "10 ms minus 100 µs of extra compute")
        #expect(emulated.savingRoundTrips == 1, "the compute difference is subtracted with the loopback medians")
        #expect(emulated.theoretical == 1)
        let loopback = try #require(report.saving(for: Self.strictPair[1], at: .muxerReady))
        #expect(loopback.savingMicroseconds == -100)
        #expect(loopback.savingRoundTrips == nil)
        #expect(report.saving(for: Self.strictPair[3], at: .handshakeDone)?.theoretical == 0)
        #expect(report.savings.count == 2 * ConnectionStage.allCases.count)
    }

    @Test func missingBaselineLeavesRoundTripsUnmeasured() throws {
        var generator = SyntheticSamples()
        let report = RoundTripReport(
            summaries: syntheticResults(Array(Self.strictPair[2...]), generator: &generator).summaries()
        )
        let row = try #require(report.roundTrips(for: Self.strictPair[2], at: .tcpConnected))
        #expect(row.baseline == nil)
        #expect(row.measured == nil)
        #expect(row.medianMicroseconds == 10_040)
    }

    @Test func baselinePrefersTheSameEmulatorAndMatchesConcurrency() throws {
        let emulated = Scenario.test(.tls, .early, rtt: 20, emulator: .relay, concurrency: 4)
        let scenarios: [Scenario] = [
            .test(.tls, .early, rtt: 0, emulator: .loopback, concurrency: 4),
            .test(.tls, .early, rtt: 0, emulator: .relay, concurrency: 1),
            .test(.tls, .early, rtt: 0, emulator: .relay, concurrency: 4),
            emulated,
        ]
        var generator = SyntheticSamples()
        let report = RoundTripReport(summaries: syntheticResults(scenarios, generator: &generator).summaries())
        #expect(report.roundTrips(for: emulated, at: .muxerReady)?.baseline == scenarios[2])
        #expect(report.roundTrips(for: emulated, at: .muxerReady)?.measured == 2, "relay: connect is not delayed")
    }

    @Test func failedConnectionsCountAsFailuresOfTheStagesTheyMissed() throws {
        let scenario = Scenario.test(.noise, .early, rtt: 0, connections: 3)
        var generator = SyntheticSamples()
        var samples = generator.samples(for: scenario)
        samples[1].timestamps.muxerReady = nil
        samples[1].timestamps.firstEcho = nil
        samples[1].failure = .init(stage: "secureHandshake", reason: "bad signature")
        samples[2].timestamps.firstEcho = nil
        samples[2].failure = .init(stage: "echo", reason: "reset")
        let summary = ScenarioSummary(scenario: scenario, samples: samples)
        #expect(summary.failedConnections == 2)
        #expect(summary[.handshakeDone].count == 3)
        #expect(summary[.muxerReady].count == 2)
        #expect(summary[.muxerReady].failures == 1)
        #expect(summary[.firstEcho].count == 1)
        #expect(summary[.firstEcho].failures == 2)
        #expect(summary.sortedMuxerReady.count == 2)
        #expect(summary.failureReasons.map(\.reason) == ["echo: reset", "secureHandshake: bad signature"])
    }
}
