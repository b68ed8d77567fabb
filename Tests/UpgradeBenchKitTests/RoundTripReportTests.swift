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
            #expect(row.measured == row.theoretical.map(Double.init), "\(row.scenario.name) \(row.stage)")
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
        // Under concurrency the baseline is found, but no round trips are counted.
        #expect(report.roundTrips(for: emulated, at: .muxerReady)?.measured == nil)
        #expect(report.roundTrips(for: emulated, at: .muxerReady)?.network == nil)
        #expect(report.roundTrips(for: emulated, at: .muxerReady)?.medianMicroseconds != nil)

        let sequential = Scenario.test(.tls, .early, rtt: 20, emulator: .relay, concurrency: 1)
        let sequentialReport = RoundTripReport(
            summaries: syntheticResults([scenarios[1], sequential], generator: &generator).summaries()
        )
        let row = try #require(sequentialReport.roundTrips(for: sequential, at: .muxerReady))
        #expect(row.baseline == scenarios[1])
        #expect(row.measured == 2, "relay: connect is not delayed")
        #expect(row.network == 2)
    }

    @Test func networkRoundTripsUseTheCalibratedPathRTT() throws {
        // The path really takes 20.4 ms per round trip; the stages move with it.
        let scenarios: [Scenario] = [.test(.tls, .classic, rtt: 0), .test(.tls, .classic, rtt: 20)]
        var generator = SyntheticSamples()
        generator.pathRTTMicroseconds = 20_400
        let summaries = syntheticResults(scenarios, generator: &generator).summaries()
        let calibrated = RoundTripReport(
            summaries: summaries,
            pathRTTs: [.init(emulator: "tun", rttMilliseconds: 20): 20_400]
        )
        let row = try #require(calibrated.roundTrips(for: scenarios[1], at: .muxerReady))
        #expect(row.network == 4)
        #expect(row.pathRTTMicroseconds == 20_400)
        #expect(row.networkMedianMicroseconds == 81_600)
        // The loopback-subtracted count has the requested RTT as its unit: 4 × 20.4 / 20.
        #expect(abs((row.measured ?? 0) - 4.08) < 1e-9)
        // Without the calibration the network count is in requested RTTs too.
        let uncalibrated = RoundTripReport(summaries: summaries)
        #expect(abs((uncalibrated.roundTrips(for: scenarios[1], at: .muxerReady)?.network ?? 0) - 4.08) < 1e-9)
    }

    @Test func computeExcessIsTheCriticalPathsComputationBeyondLoopbacks() throws {
        let scenarios: [Scenario] = [.test(.noise, .early, rtt: 0), .test(.noise, .early, rtt: 10)]
        var generator = SyntheticSamples()
        var results = BenchResults(scenarios: scenarios)
        for sample in generator.samples(for: scenarios[0]) { results.record(sample) }
        // Under delay the same work costs 300 µs more from the handshake on.
        generator.computeMicroseconds[.handshakeDone, default: 0] += 300
        generator.computeMicroseconds[.muxerReady, default: 0] += 300
        generator.computeMicroseconds[.firstEcho, default: 0] += 300
        for sample in generator.samples(for: scenarios[1]) { results.record(sample) }
        let report = RoundTripReport(summaries: results.summaries())
        let ready = try #require(report.roundTrips(for: scenarios[1], at: .muxerReady))
        #expect(ready.computeExcessMicroseconds == 300)
        #expect(ready.network == 3)
        #expect(abs((ready.measured ?? 0) - 3.03) < 1e-9, "the loopback-subtracted count carries it")
        #expect(report.roundTrips(for: scenarios[1], at: .securityAgreed)?.computeExcessMicroseconds == 0)
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
