import Testing
import UpgradeBenchKit

@Suite struct SummaryCSVTests {
    static let scenarios: [Scenario] = [
        .test(.noise, .classic, rtt: 0, connections: 2), .test(.noise, .early, rtt: 0, connections: 2),
        .test(.noise, .classic, rtt: 10, connections: 2), .test(.noise, .early, rtt: 10, connections: 2),
    ]

    /// Noiseless synthetic connections: every statistic is the model value, so each row can be
    /// checked by hand (compute 40/120/700/780/900 µs plus k × 10 ms).
    @Test func golden() {
        var generator = SyntheticSamples()
        let report = RoundTripReport(summaries: syntheticResults(Self.scenarios, generator: &generator).summaries())
        let expected = """
            scenario,security,negotiation,multistream,rtt_ms,emulator,concurrency,stage,count,failures,min_us,p50_us,p90_us,p99_us,max_us,mean_us,measured_rtts,theoretical_rtts,saving_vs_classic_ms,saving_vs_classic_rtts,theoretical_saving_rtts,path_rtt_us,network_p10_us,network_p50_us,compute_p50_us,network_rtts,compute_excess_us,network_saving_rtts,dialer_impl,listener_impl
            noise-classic-strict-0ms-loopback-c1,noise,classic,strict,0,loopback,1,tcp_connected,2,0,40,40,40,40,40,40.0,,1,,,,,0,0,40,,,,swift,swift
            noise-classic-strict-0ms-loopback-c1,noise,classic,strict,0,loopback,1,security_agreed,2,0,120,120,120,120,120,120.0,,2,,,,,0,0,120,,,,swift,swift
            noise-classic-strict-0ms-loopback-c1,noise,classic,strict,0,loopback,1,handshake_done,2,0,700,700,700,700,700,700.0,,3,,,,,0,0,700,,,,swift,swift
            noise-classic-strict-0ms-loopback-c1,noise,classic,strict,0,loopback,1,muxer_ready,2,0,780,780,780,780,780,780.0,,4,,,,,0,0,780,,,,swift,swift
            noise-classic-strict-0ms-loopback-c1,noise,classic,strict,0,loopback,1,first_echo,2,0,900,900,900,900,900,900.0,,6,,,,,0,0,900,,,,swift,swift
            noise-early-strict-0ms-loopback-c1,noise,early,strict,0,loopback,1,tcp_connected,2,0,40,40,40,40,40,40.0,,1,0.000,,0,,0,0,40,,,,swift,swift
            noise-early-strict-0ms-loopback-c1,noise,early,strict,0,loopback,1,security_agreed,2,0,120,120,120,120,120,120.0,,2,0.000,,0,,0,0,120,,,,swift,swift
            noise-early-strict-0ms-loopback-c1,noise,early,strict,0,loopback,1,handshake_done,2,0,700,700,700,700,700,700.0,,3,0.000,,0,,0,0,700,,,,swift,swift
            noise-early-strict-0ms-loopback-c1,noise,early,strict,0,loopback,1,muxer_ready,2,0,780,780,780,780,780,780.0,,3,0.000,,1,,0,0,780,,,,swift,swift
            noise-early-strict-0ms-loopback-c1,noise,early,strict,0,loopback,1,first_echo,2,0,900,900,900,900,900,900.0,,5,0.000,,1,,0,0,900,,,,swift,swift
            noise-classic-strict-10ms-tun-c1,noise,classic,strict,10,tun,1,tcp_connected,2,0,10040,10040,10040,10040,10040,10040.0,1.000,1,,,,10000,10000,10000,40,1.000,0,,swift,swift
            noise-classic-strict-10ms-tun-c1,noise,classic,strict,10,tun,1,security_agreed,2,0,20120,20120,20120,20120,20120,20120.0,2.000,2,,,,10000,20000,20000,120,2.000,0,,swift,swift
            noise-classic-strict-10ms-tun-c1,noise,classic,strict,10,tun,1,handshake_done,2,0,30700,30700,30700,30700,30700,30700.0,3.000,3,,,,10000,30000,30000,700,3.000,0,,swift,swift
            noise-classic-strict-10ms-tun-c1,noise,classic,strict,10,tun,1,muxer_ready,2,0,40780,40780,40780,40780,40780,40780.0,4.000,4,,,,10000,40000,40000,780,4.000,0,,swift,swift
            noise-classic-strict-10ms-tun-c1,noise,classic,strict,10,tun,1,first_echo,2,0,60900,60900,60900,60900,60900,60900.0,6.000,6,,,,10000,60000,60000,900,6.000,0,,swift,swift
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,tcp_connected,2,0,10040,10040,10040,10040,10040,10040.0,1.000,1,0.000,0.000,0,10000,10000,10000,40,1.000,0,0.000,swift,swift
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,security_agreed,2,0,20120,20120,20120,20120,20120,20120.0,2.000,2,0.000,0.000,0,10000,20000,20000,120,2.000,0,0.000,swift,swift
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,handshake_done,2,0,30700,30700,30700,30700,30700,30700.0,3.000,3,0.000,0.000,0,10000,30000,30000,700,3.000,0,0.000,swift,swift
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,muxer_ready,2,0,30780,30780,30780,30780,30780,30780.0,3.000,3,10.000,1.000,1,10000,30000,30000,780,3.000,0,1.000,swift,swift
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,first_echo,2,0,50900,50900,50900,50900,50900,50900.0,5.000,5,10.000,1.000,1,10000,50000,50000,900,5.000,0,1.000,swift,swift

            """
        #expect(SummaryCSV.document(report).encoded() == expected)
    }

    @Test func stagesNobodyReachedHaveEmptyStatistics() throws {
        let scenario = Scenario.test(.tls, .early, rtt: 0, connections: 1)
        let failed = ConnectionSample(
            scenario: scenario,
            index: 0,
            timestamps: .init(tcpConnected: 30),
            path: .init(),
            failure: .init(stage: "securityNegotiation", reason: "na")
        )
        let report = RoundTripReport(summaries: [ScenarioSummary(scenario: scenario, samples: [failed])])
        let document = try CSVDocument(parsing: SummaryCSV.document(report).encoded())
        #expect(document.records.count == 5)
        let count = try #require(document.column("count"))
        let failures = try #require(document.column("failures"))
        let p50 = try #require(document.column("p50_us"))
        #expect(document.records[0][count] == "1")
        #expect(document.records[0][p50] == "30")
        #expect(document.records[1][count] == "0")
        #expect(document.records[1][failures] == "1")
        #expect(document.records[1][p50] == "")
    }

    @Test func throughputGolden() {
        let tcp = ThroughputScenario(transport: .tcp, rttMilliseconds: 10, emulator: .tun, bytesEachWay: 1_000_000)
        let noise = ThroughputScenario(transport: .noise, rttMilliseconds: 10, emulator: .tun, bytesEachWay: 1_000_000)
        let results = [
            ThroughputResult(scenario: tcp, repetition: 0, elapsedMicroseconds: 3_000),
            ThroughputResult(scenario: noise, repetition: 0, elapsedMicroseconds: 12_345),
            ThroughputResult(
                scenario: noise,
                repetition: 1,
                elapsedMicroseconds: nil,
                failure: "stream reset, window exceeded"
            ),
        ]
        let expected = """
            scenario,transport,rtt_ms,emulator,repetition,bytes_each_way,elapsed_us,mb_per_s,error
            throughput-tcp-10ms-tun,tcp,10,tun,0,1000000,3000,333.3,
            throughput-noise-10ms-tun,noise,10,tun,0,1000000,12345,81.0,
            throughput-noise-10ms-tun,noise,10,tun,1,1000000,,,"stream reset, window exceeded"

            """
        #expect(ThroughputCSV.document(results).encoded() == expected)
    }

    @Test func throughputSummaryComparesWithTCP() throws {
        let tcp = ThroughputScenario(transport: .tcp, rttMilliseconds: 0, emulator: .loopback, bytesEachWay: 1_000_000)
        let tls = ThroughputScenario(transport: .tls, rttMilliseconds: 0, emulator: .loopback, bytesEachWay: 1_000_000)
        var results = BenchResults(throughputScenarios: [tcp, tls])
        for elapsed in [1_000, 2_000, 4_000] as [UInt64] {
            results.record(ThroughputResult(scenario: tcp, repetition: 0, elapsedMicroseconds: elapsed))
        }
        for elapsed in [5_000, 4_000] as [UInt64] {
            results.record(ThroughputResult(scenario: tls, repetition: 0, elapsedMicroseconds: elapsed))
        }
        results.record(ThroughputResult(scenario: tls, repetition: 2, elapsedMicroseconds: nil, failure: "x"))
        let summaries = results.throughputSummaries()
        #expect(summaries.map(\.scenario) == [tcp, tls])
        #expect(summaries[0].medianMegabytesPerSecond == 500)
        #expect(summaries[0].fractionOfTCP == 1)
        #expect(summaries[1].completed == 2)
        #expect(summaries[1].failed == 1)
        #expect(summaries[1].medianMegabytesPerSecond == 200, "nearest rank: the lower of two")
        #expect(summaries[1].minimumMegabytesPerSecond == 200)
        #expect(summaries[1].maximumMegabytesPerSecond == 250)
        #expect(summaries[1].fractionOfTCP == 0.4)
    }
}
