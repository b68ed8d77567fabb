import Foundation
import TestSupport
import Testing
import UpgradeBenchKit

/// Result folders for `bench compare`, written with the library's own ``ResultsWriter``.
enum CompareFixture {
    static let loopbackNoise = Scenario(
        security: .noise, negotiation: .early, multistream: .strict,
        rttMilliseconds: 0, emulator: .loopback, connections: 40
    )
    static let loopbackTLS = Scenario(
        security: .tls, negotiation: .classic, multistream: .strict,
        rttMilliseconds: 0, emulator: .loopback, connections: 40
    )
    static let emulatedNoise = Scenario(
        security: .noise, negotiation: .classic, multistream: .lazy,
        rttMilliseconds: 20, emulator: .tun, connections: 30
    )
    static let noiseThroughput = ThroughputScenario(
        transport: .noise, rttMilliseconds: 0, emulator: .loopback, bytesEachWay: 1_000_000, repetitions: 12
    )

    /// Cumulative microseconds per stage at loopback, before jitter.
    static let stageBase: [UInt64] = [30, 250, 700, 800, 1000]

    /// Samples of `scenario` with every stage time multiplied by `scale`: stage k is reached at
    /// `stageBase[k] + (k + 1) × RTT` plus jitter that accumulates over the stages.
    static func samples(_ scenario: Scenario, scale: Double, random: inout SplitMix64) -> [ConnectionSample] {
        (0..<scenario.connections).map { index in
            var timestamps = ConnectionSample.Timestamps()
            var jitter = 0.0
            for (offset, stage) in ConnectionStage.allCases.enumerated() {
                jitter += Double(random.latency() - 1000) / 4
                let network = Double(scenario.rttMilliseconds * 1000 * (offset + 1))
                timestamps[stage] = UInt64(((Double(Self.stageBase[offset]) + network + jitter) * scale).rounded())
            }
            return ConnectionSample(
                scenario: scenario,
                index: index,
                timestamps: timestamps,
                path: .init(security: scenario.security, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: false)
            )
        }
    }

    static func metadata(name: String, scenarios: [Scenario], throughput: [ThroughputScenario]) -> RunMetadata {
        RunMetadata(
            name: name,
            matrix: "fixture",
            commandLine: ["bench", "--name", name],
            startedAt: "2026-12-01T10:00:00Z",
            git: .init(commit: String(repeating: "c", count: 40), dirty: false),
            machine: .init(cpu: "AMD EPYC", cores: 2, memoryBytes: 24 << 30, kernel: "Linux 6.18", hostname: "runner"),
            build: .init(configuration: "release", swiftCompiler: ">=6.3"),
            libraries: .init(
                openssl: "OpenSSL 3.0.19", opensslHeaders: "OpenSSL 3.0.19", libsodium: "1.0.18",
                allocator: "glibc 2.36"
            ),
            emulators: [
                .init(
                    name: "tun",
                    delaysConnect: true,
                    calibration: [
                        EmulatorCalibration(requestedRTTMilliseconds: 20, roundTripsMicroseconds: [20_150, 20_180])
                    ].compactMap { $0 }
                )
            ],
            scenarios: scenarios,
            throughputScenarios: throughput,
            tlsCertificates: "per-host"
        )
    }

    /// Writes a folder in a fresh temporary directory: `scales[name]` multiplies a scenario's
    /// stage times (1 when absent), `rateScale` the throughput, `adjust` edits `meta.json`.
    static func write(
        name: String,
        scenarios: [Scenario],
        scales: [String: Double] = [:],
        throughput: [ThroughputScenario] = [],
        rateScale: Double = 1,
        seed: UInt64,
        adjust: (inout RunMetadata) -> Void = { _ in }
    ) throws -> URL {
        var random = SplitMix64(seed: seed)
        var results = BenchResults(scenarios: scenarios, throughputScenarios: throughput)
        for scenario in scenarios {
            for sample in self.samples(scenario, scale: scales[scenario.name] ?? 1, random: &random) {
                results.record(sample)
            }
        }
        for scenario in throughput {
            for repetition in 0..<scenario.repetitions {
                let elapsed = Double(random.latency()) * 2 / rateScale
                results.record(
                    ThroughputResult(
                        scenario: scenario,
                        repetition: repetition,
                        elapsedMicroseconds: UInt64(elapsed.rounded())
                    )
                )
            }
        }
        var metadata = self.metadata(name: name, scenarios: scenarios, throughput: throughput)
        adjust(&metadata)
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-compare-\(UUID().uuidString)", isDirectory: true)
            .appendingPathComponent(name, isDirectory: true)
        try ResultsWriter(directory: directory).write(
            results: results,
            report: RoundTripReport(summaries: results.summaries()),
            metadata: metadata
        )
        return directory
    }

    static func compare(_ base: URL, _ new: URL, _ options: ResultsComparison.Options = .init()) throws
        -> ResultsComparison
    {
        ResultsComparison(
            base: try ComparedRun(directory: base),
            new: try ComparedRun(directory: new),
            options: options
        )
    }
}

@Suite struct CompareFolderTests {
    // MARK: - Reading

    @Test func readsWhatTheWritersWrote() throws {
        let directory = try CompareFixture.write(
            name: "base",
            scenarios: [CompareFixture.loopbackNoise, CompareFixture.emulatedNoise],
            throughput: [CompareFixture.noiseThroughput],
            seed: 1
        )
        let run = try ComparedRun(directory: directory)
        #expect(run.notes.isEmpty, "summary.csv agrees with samples.csv: \(run.notes)")
        #expect(run.metadata.name == "base")
        #expect(run.latency.map(\.scenario) == [CompareFixture.loopbackNoise.name, CompareFixture.emulatedNoise.name])
        let series = try #require(run.latency(CompareFixture.loopbackNoise.name))
        #expect(series.connections == 40)
        #expect(series.failedConnections == 0)
        for stage in ConnectionStage.allCases { #expect(series.stages[stage]?.count == 40) }

        // The medians are summary.csv's p50_us.
        let summary = try CSVDocument(
            parsing: String(
                decoding: try Data(contentsOf: directory.appendingPathComponent("summary.csv")),
                as: UTF8.self
            )
        )
        let stageColumn = try #require(summary.column("stage"))
        let medianColumn = try #require(summary.column("p50_us"))
        let record = try #require(
            summary.records.first { $0[0] == CompareFixture.loopbackNoise.name && $0[stageColumn] == "muxer_ready" }
        )
        let values = try #require(series.stages[.muxerReady])
        #expect(String(LatencyStatistics.percentile(50, ofSorted: values.sorted())) == record[medianColumn])

        // Throughput rates are bytes each way over elapsed time.
        let throughput = try #require(run.throughput(CompareFixture.noiseThroughput.name))
        #expect(throughput.transfers == 12)
        #expect(throughput.bytesEachWay == 1_000_000)
        let url = directory.appendingPathComponent("throughput.csv")
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        let document = try CSVDocument(parsing: text)
        let elapsedColumn = try #require(document.column("elapsed_us"))
        let first = try #require(UInt64(document.records[0][elapsedColumn]))
        #expect(throughput.bytesPerSecond.first == UInt64((1_000_000 * 1_000_000 / Double(first)).rounded()))
    }

    @Test func readsAnOlderSamplesHeaderByColumnName() throws {
        let directory = try CompareFixture.write(name: "old", scenarios: [CompareFixture.loopbackNoise], seed: 2)
        let url = directory.appendingPathComponent("samples.csv")
        let document = try CSVDocument(parsing: String(decoding: try Data(contentsOf: url), as: UTF8.self))
        // The header of folders written before the listener and critical-path columns existed.
        let errorColumn = try #require(document.column("error"))
        let older = CSVDocument(
            header: Array(document.header[...errorColumn]),
            records: document.records.map { Array($0[...errorColumn]) }
        )
        try Data(older.encoded().utf8).write(to: url)
        let run = try ComparedRun(directory: directory)
        #expect(run.latency.first?.stages[.firstEcho]?.count == 40)
    }

    @Test func aSummaryThatDisagreesIsNoted() throws {
        let directory = try CompareFixture.write(name: "edited", scenarios: [CompareFixture.loopbackNoise], seed: 3)
        let url = directory.appendingPathComponent("summary.csv")
        var document = try CSVDocument(parsing: String(decoding: try Data(contentsOf: url), as: UTF8.self))
        let medianColumn = try #require(document.column("p50_us"))
        document.records[3][medianColumn] = "1"
        try Data(document.encoded().utf8).write(to: url)
        let run = try ComparedRun(directory: directory)
        #expect(run.notes.count == 1)
        #expect(run.notes.first?.contains("muxer_ready p50 1 us") == true, "\(run.notes)")
    }

    @Test func missingFilesAndForeignHeadersAreUnusable() throws {
        let noSamples = try CompareFixture.write(name: "a", scenarios: [CompareFixture.loopbackNoise], seed: 4)
        try FileManager.default.removeItem(at: noSamples.appendingPathComponent("samples.csv"))
        #expect(benchErrorCode { _ = try ComparedRun(directory: noSamples) } == .fileSystem)

        let noMetadata = try CompareFixture.write(name: "b", scenarios: [CompareFixture.loopbackNoise], seed: 4)
        try FileManager.default.removeItem(at: noMetadata.appendingPathComponent("meta.json"))
        #expect(benchErrorCode { _ = try ComparedRun(directory: noMetadata) } == .fileSystem)

        let badMetadata = try CompareFixture.write(name: "c", scenarios: [CompareFixture.loopbackNoise], seed: 4)
        try Data("{}".utf8).write(to: badMetadata.appendingPathComponent("meta.json"))
        #expect(benchErrorCode { _ = try ComparedRun(directory: badMetadata) } == .fileSystem)

        let nowhere = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)")
        #expect(benchErrorCode { _ = try ComparedRun(directory: nowhere) } == .fileSystem)

        let metadata = CompareFixture.metadata(name: "d", scenarios: [], throughput: [])
        #expect(
            benchErrorCode {
                _ = try ComparedRun(
                    location: "d",
                    metadata: metadata,
                    samplesCSV: "scenario,connection\nx,0\n",
                    summaryCSV: nil,
                    throughputCSV: nil
                )
            } == .csvHeaderMismatch
        )
        #expect(
            benchErrorCode {
                _ = try ComparedRun(
                    location: "d",
                    metadata: metadata,
                    samplesCSV: "scenario,muxer_ready_us\nx,fast\n",
                    summaryCSV: nil,
                    throughputCSV: nil
                )
            } == .invalidCSVField
        )
    }

    // MARK: - Comparing

    @Test func thresholdDecidesTheOutcome() throws {
        let scenarios = [CompareFixture.loopbackNoise, CompareFixture.loopbackTLS]
        let base = try CompareFixture.write(name: "base", scenarios: scenarios, seed: 10)
        let slower = try CompareFixture.write(
            name: "slower",
            scenarios: scenarios,
            scales: [CompareFixture.loopbackTLS.name: 1.10],
            seed: 11
        )
        let regressed = try CompareFixture.compare(base, slower, .init(thresholdPercent: 5))
        guard case .regressed(let rows) = regressed.outcome else {
            Issue.record("expected a regression, got \(regressed.outcome)")
            return
        }
        #expect(Set(rows.map(\.scenario)) == [CompareFixture.loopbackTLS.name])
        #expect(rows.contains { $0.metric == .latency(.muxerReady) })
        let muxerReady = try #require(regressed.rows.first {
            $0.scenario == CompareFixture.loopbackTLS.name && $0.metric == .latency(.muxerReady)
        })
        #expect(muxerReady.verdict == .slower)
        #expect(abs((muxerReady.relativeChange ?? 0) - 0.10) < 0.04)
        let unchanged = regressed.rows.filter { $0.scenario == CompareFixture.loopbackNoise.name }
        #expect(unchanged.allSatisfy { !$0.exceedsThreshold })

        // The same 10 % is within a 20 % threshold, and a speed-up never fails.
        #expect(try CompareFixture.compare(base, slower, .init(thresholdPercent: 20)).outcome == .passed)
        let faster = try CompareFixture.compare(slower, base, .init(thresholdPercent: 0))
        let fasterMuxerReady = faster.rows.first {
            $0.scenario == CompareFixture.loopbackTLS.name && $0.metric == .latency(.muxerReady)
        }
        #expect(fasterMuxerReady?.verdict == .faster)
        #expect(faster.regressions.allSatisfy { $0.scenario != CompareFixture.loopbackTLS.name })
    }

    @Test func throughputIsSlowerWhenTheRateDrops() throws {
        let scenarios = [CompareFixture.loopbackNoise]
        let base = try CompareFixture.write(
            name: "base", scenarios: scenarios, throughput: [CompareFixture.noiseThroughput], seed: 20
        )
        let slow = try CompareFixture.write(
            name: "slow", scenarios: scenarios, throughput: [CompareFixture.noiseThroughput], rateScale: 0.7, seed: 21
        )
        let comparison = try CompareFixture.compare(base, slow)
        let row = try #require(comparison.rows.first { $0.metric == .throughput })
        #expect(row.verdict == .slower)
        #expect(row.exceedsThreshold)
        #expect((row.relativeChange ?? 0) < -0.2)
        #expect((row.slowdown ?? 0) > 0.2)
        let reverse = try CompareFixture.compare(slow, base)
        #expect(reverse.rows.first { $0.metric == .throughput }?.verdict == .faster)
    }

    @Test func scenariosOnOneSideAreListed() throws {
        let base = try CompareFixture.write(
            name: "base",
            scenarios: [CompareFixture.loopbackNoise, CompareFixture.loopbackTLS],
            throughput: [CompareFixture.noiseThroughput],
            seed: 30
        )
        let new = try CompareFixture.write(
            name: "new", scenarios: [CompareFixture.loopbackNoise, CompareFixture.emulatedNoise], seed: 31
        )
        let comparison = try CompareFixture.compare(base, new)
        #expect(comparison.outcome == .passed)
        #expect(Set(comparison.rows.map(\.scenario)) == [CompareFixture.loopbackNoise.name])
        #expect(
            comparison.unmatched == [
                .init(scenario: CompareFixture.loopbackTLS.name, metric: nil, reason: .onlyInBase),
                .init(scenario: CompareFixture.emulatedNoise.name, metric: nil, reason: .onlyInNew),
                .init(scenario: CompareFixture.noiseThroughput.name, metric: .throughput, reason: .onlyInBase),
            ]
        )
        let text = comparison.rendered(as: .text)
        let onlyInBase =
            "only in base: \(CompareFixture.loopbackTLS.name), \(CompareFixture.noiseThroughput.name) throughput"
        #expect(text.contains(onlyInBase))
        #expect(text.contains("only in new: \(CompareFixture.emulatedNoise.name)"))
        // A filter narrows the rows and the listing alike.
        let filtered = try CompareFixture.compare(base, new, .init(stages: [.muxerReady], scenarioFilter: ["20ms"]))
        #expect(filtered.rows.isEmpty)
        #expect(filtered.unmatched.map(\.reason) == [.onlyInNew])
    }

    @Test func noScenarioInCommonIsUnusable() throws {
        let base = try CompareFixture.write(name: "base", scenarios: [CompareFixture.loopbackNoise], seed: 40)
        let new = try CompareFixture.write(name: "new", scenarios: [CompareFixture.loopbackTLS], seed: 41)
        let comparison = try CompareFixture.compare(base, new)
        guard case .unusable(let reason) = comparison.outcome else {
            Issue.record("expected unusable, got \(comparison.outcome)")
            return
        }
        #expect(reason.contains("no scenario in common"))
        #expect(comparison.unmatched.count == 2)
    }

    // MARK: - meta.json

    @Test func metadataDifferencesAreWarnings() throws {
        let scenarios = [CompareFixture.emulatedNoise]
        let base = CompareFixture.metadata(name: "a", scenarios: scenarios, throughput: [])
        #expect(MetadataDifferences.warnings(base: base, new: base).isEmpty)

        var new = base
        new.machine.cpu = "Intel Xeon"
        new.build.configuration = "debug"
        new.libraries.openssl = "OpenSSL 3.5.0"
        new.libraries.allocator = "jemalloc 5.3.0"
        new.tlsCertificates = nil
        new.emulators[0].calibration = [
            try #require(EmulatorCalibration(requestedRTTMilliseconds: 20, roundTripsMicroseconds: [20_900]))
        ]
        new.scenarios[0].connections = 100
        let warnings = MetadataDifferences.warnings(base: base, new: new)
        let expected = [
            "machine: cpu differs: AMD EPYC (base) vs Intel Xeon (new)",
            "build: configuration differs: release (base) vs debug (new)",
            "library: OpenSSL differs: OpenSSL 3.0.19 (base) vs OpenSSL 3.5.0 (new)",
            "library: allocator differs: glibc 2.36 (base) vs jemalloc 5.3.0 (new)",
            "TLS certificates differs: per-host (base) vs per-connection (new)",
            "new was built debug: its times are not benchmark times",
            "emulator tun calibration at 20 ms: RTT p50 20.150 ms (base) vs 20.900 ms (new)",
            "connections per scenario differ: \(scenarios[0].name) 30 (base) vs 100 (new)",
        ]
        #expect(warnings == expected)

        // Calibrations within 1 % (at least 50 µs) are the same path.
        var close = base
        close.emulators[0].calibration = [
            try #require(EmulatorCalibration(requestedRTTMilliseconds: 20, roundTripsMicroseconds: [20_300]))
        ]
        #expect(MetadataDifferences.warnings(base: base, new: close).isEmpty)
    }

    @Test func warningsComeFirstInEveryReport() throws {
        let scenarios = [CompareFixture.loopbackNoise]
        let base = try CompareFixture.write(name: "base", scenarios: scenarios, seed: 50)
        let new = try CompareFixture.write(name: "new", scenarios: scenarios, seed: 51) { metadata in
            metadata.machine.hostname = "other-runner"
        }
        let comparison = try CompareFixture.compare(base, new)
        let warning = "machine: host name differs: runner (base) vs other-runner (new)"
        #expect(comparison.warnings == [warning])
        let text = comparison.rendered(as: .text)
        let lines = text.split(separator: "\n")
        #expect(lines.count > 3 && lines[2] == "warning: \(warning)")
        #expect(comparison.rendered(as: .markdown).contains("- \(warning)"))
    }
}
