import Foundation
import Testing
import UpgradeBenchKit

/// A synthetic run shaped like the default preset, written with ``ResultsWriter``.
enum SyntheticRun {
    static let scenarios = ScenarioMatrix.product(
        rttMilliseconds: [0, 10, 20],
        emulator: .tun,
        connections: { _ in 60 },
        warmup: 0
    )
    static let throughput = [0, 10].flatMap { rtt in
        ThroughputScenario.Transport.allCases.map {
            ThroughputScenario(
                transport: $0,
                rttMilliseconds: rtt,
                emulator: rtt == 0 ? .loopback : .tun,
                repetitions: 2
            )
        }
    }

    static func results() -> BenchResults {
        var generator = SyntheticSamples()
        generator.jitterMicroseconds = 600
        var results = syntheticResults(Self.scenarios, generator: &generator) { scenario, generator in
            var tls = generator
            if scenario.security == .tls {
                // TLS spends more compute in its handshake than Noise.
                tls.computeMicroseconds = [
                    .tcpConnected: 40, .securityAgreed: 120, .handshakeDone: 1500, .muxerReady: 1580, .firstEcho: 1700,
                ]
            }
            var samples = tls.samples(for: scenario)
            generator = tls
            if scenario.name == "tls-classic-lazy-20ms-tun-c1" {
                samples[5].timestamps.firstEcho = nil
                samples[5].failure = .init(stage: "echo", reason: "stream reset by peer")
            }
            return samples
        }
        for scenario in Self.throughput {
            for repetition in 0..<scenario.repetitions {
                let base: UInt64 = scenario.transport == .tcp ? 60_000 : 400_000
                let elapsed = base + UInt64(scenario.rttMilliseconds) * 25_000 + UInt64(repetition) * 10_000
                results.record(
                    ThroughputResult(scenario: scenario, repetition: repetition, elapsedMicroseconds: elapsed)
                )
            }
        }
        return results
    }

    static func metadata(name: String) throws -> RunMetadata {
        RunMetadata.collect(
            name: name,
            matrix: try ScenarioMatrix(name: "synthetic", scenarios: Self.scenarios, throughput: Self.throughput),
            commandLine: ["bench", "--synthetic"],
            emulators: [
                .init(
                    name: "tun",
                    delaysConnect: true,
                    details: "synthetic",
                    calibration: [10, 20].compactMap {
                        EmulatorCalibration(
                            requestedRTTMilliseconds: $0,
                            roundTripsMicroseconds: [UInt64($0) * 1000 + 80]
                        )
                    }
                )
            ]
        )
    }

    /// Writes the run into a fresh temporary folder and returns it.
    static func write() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-\(UUID().uuidString)", isDirectory: true)
            .appendingPathComponent("synthetic", isDirectory: true)
        let results = Self.results()
        let report = RoundTripReport(summaries: results.summaries())
        try ResultsWriter(directory: directory).write(
            results: results,
            report: report,
            metadata: try Self.metadata(name: "synthetic")
        )
        return directory
    }
}

@Suite struct ResultsWriterTests {
    @Test func defaultNameIsAUTCTimestamp() {
        #expect(ResultsWriter.defaultName(for: Date(timeIntervalSince1970: 1_800_000_000)) == "2027-01-15-080000")
        #expect(ResultsWriter.defaultName(for: Date(timeIntervalSince1970: 0)) == "1970-01-01-000000")
    }

    @Test func writesEveryFileAndTheyReadBack() throws {
        let directory = try SyntheticRun.write()
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }

        let files = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
        #expect(files.isSuperset(of: ["samples.csv", "summary.csv", "throughput.csv", "meta.json", "gnuplot"]))
        for scenario in SyntheticRun.scenarios {
            #expect(files.contains("\(scenario.name).hgrm"))
        }

        let meta = try JSONDecoder().decode(
            RunMetadata.self,
            from: Data(contentsOf: directory.appendingPathComponent("meta.json"))
        )
        #expect(meta.name == "synthetic")
        #expect(meta.finishedAt != nil)
        #expect(meta.emulators.first?.calibration.count == 2)

        let samplesText = try String(contentsOf: directory.appendingPathComponent("samples.csv"), encoding: .utf8)
        let samples = try SamplesCSV.parse(samplesText, scenarios: meta.scenarios)
        #expect(samples == SyntheticRun.results().allSamples)

        let summary = try CSVDocument(
            parsing: String(contentsOf: directory.appendingPathComponent("summary.csv"), encoding: .utf8)
        )
        #expect(summary.header == SummaryCSV.header)
        #expect(summary.records.count == SyntheticRun.scenarios.count * ConnectionStage.allCases.count)

        let throughput = try CSVDocument(
            parsing: String(contentsOf: directory.appendingPathComponent("throughput.csv"), encoding: .utf8)
        )
        #expect(throughput.records.count == 12)

        let hgrm = try String(
            contentsOf: directory.appendingPathComponent("noise-early-strict-10ms-tun-c1.hgrm"),
            encoding: .utf8
        )
        #expect(hgrm.hasPrefix("       Value     Percentile TotalCount 1/(1-Percentile)\n"))
        #expect(hgrm.contains("Total count    =           60]"))

        let plotFiles = try FileManager.default.contentsOfDirectory(
            atPath: directory.appendingPathComponent("gnuplot").path
        )
        #expect(plotFiles.contains("median-paths.txt"))
        #expect(plotFiles.count(where: { $0.hasPrefix("cdf-") }) == SyntheticRun.scenarios.count)
    }

    @Test func writingIntoAFileFails() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("upgradebench-\(UUID().uuidString)")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let results = BenchResults()
        let report = RoundTripReport(summaries: [])
        #expect(
            benchErrorCode {
                try ResultsWriter(directory: file.appendingPathComponent("results"))
                    .write(results: results, report: report, metadata: try SyntheticRun.metadata(name: "x"))
            } == .fileSystem
        )
    }
}
