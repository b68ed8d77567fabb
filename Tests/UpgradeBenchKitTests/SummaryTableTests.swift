import Testing
import UpgradeBenchKit

@Suite struct SummaryTableTests {
    static func report() -> RoundTripReport {
        var generator = SyntheticSamples()
        let results = syntheticResults(SummaryCSVTests.scenarios, generator: &generator) { scenario, generator in
            guard scenario.name == "noise-early-strict-10ms-tun-c1" else { return nil }
            var samples = generator.samples(for: scenario)
            samples[1].failure = .init(stage: "close", reason: "reset")
            return samples
        }
        return RoundTripReport(summaries: results.summaries())
    }

    @Test func golden() {
        let expected = """
            dial -> muxer_ready, or first_echo where another implementation dials (RTTs: network round trips on the critical path; +compute: its computation beyond loopback's; * loopback-subtracted)
            scenario                              conns  failed  p50 ms  p99 ms  RTTs net/theory  +compute  early saves
            ------------------------------------  -----  ------  ------  ------  ---------------  --------  ------------------------------
            noise-classic-strict-0ms-loopback-c1      2       0   0.780   0.780                -
            noise-early-strict-0ms-loopback-c1        2       0   0.780   0.780                -            0.00 ms
            noise-classic-strict-10ms-tun-c1          2       0  40.780  40.780         4.00 / 4   0.00 ms
            noise-early-strict-10ms-tun-c1            2       1  30.780  30.780         3.00 / 3   0.00 ms  10.00 ms = 1.00 RTT (theory 1)

            """
        #expect(SummaryTable.render(report: Self.report()) == expected)
    }

    @Test func throughputAndCheckSectionsFollow() {
        let tcp = ThroughputScenario(transport: .tcp, rttMilliseconds: 0, emulator: .loopback, bytesEachWay: 1_000_000)
        let noise = ThroughputScenario(
            transport: .noise,
            rttMilliseconds: 0,
            emulator: .loopback,
            bytesEachWay: 1_000_000
        )
        var results = BenchResults(throughputScenarios: [tcp, noise])
        results.record(ThroughputResult(scenario: tcp, repetition: 0, elapsedMicroseconds: 1_000))
        results.record(ThroughputResult(scenario: noise, repetition: 0, elapsedMicroseconds: 4_000))
        let report = Self.report()
        let text = SummaryTable.render(report: report, throughput: results.throughputSummaries(), check: report.check())
        let expectedThroughput = """
            throughput                     runs  failed  median MB/s     min     max  of TCP
            -----------------------------  ----  ------  -----------  ------  ------  ------
            throughput-tcp-0ms-loopback       1       0       1000.0  1000.0  1000.0
            throughput-noise-0ms-loopback     1       0        250.0   250.0   250.0    25 %

            """
        #expect(text.contains(expectedThroughput), "\(text)")
        #expect(
            text.hasSuffix(
                "check FAILED (1 problem; checked 10 stage round-trip counts, 1 early savings):\n"
                    + "  - noise-early-strict-10ms-tun-c1: 1 of 2 connections failed; most frequent: close: reset (1×)\n"
            ),
            "\(text)"
        )
    }
}
