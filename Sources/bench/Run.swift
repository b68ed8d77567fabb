import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import NetworkEmulation
import TLS
import UpgradeBenchKit

/// The scenario matrix: runs it, writes the result folder, prints the summary table.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario matrix and write CSV, HdrHistogram and JSON results.",
        discussion: """
            Presets: quick (CI: loopback + 20 ms), default (loopback, 10 and 20 ms; about 2-3 minutes \
            on 2 cores), extended (up to 100 ms), concurrent (loads of 1, 8 and 32 concurrent \
            upgrades). Emulated delay needs root for the TUN emulator; without root the TCP relay is \
            used (see README). The results folder is written as the run goes: samples.csv gains each \
            scenario as it finishes and meta.json says how far the run got; on SIGINT, SIGTERM or an \
            error the summary of the scenarios done is written before the run ends, and `bench report \
            FOLDER` rebuilds it from any folder (docs/results.md). A folder that cannot be written is \
            refused with exit code 2 before anything is measured.
            """
    )

    @Option(help: "Scenario preset: \(ScenarioMatrix.presetNames.joined(separator: ", ")).")
    var preset: String = "default"

    @Flag(help: "Shorthand for --preset quick (the CI run).")
    var quick = false

    @Flag(help: "Exit non-zero when measured round trips or early's saving differ from theory (see README).")
    var check = false

    @Option(help: "Delay emulator for RTTs above 0: auto, tun, relay, netem.")
    var emulator: String = "auto"

    @Option(help: "Measured connections per scenario (overrides the preset).")
    var connections: Int?

    @Option(help: "Concurrent upgrades per scenario (default: the preset's, 1 = sequential).")
    var concurrency: Int?

    @Option(help: "TLS certificates: per-host (one per host identity, as go and rust do) or per-connection.")
    var tlsCertificates: TLSCertificateMode = .perHost

    @Option(
        help: """
            Implementations to measure against, comma-separated: swift (UpgradeBench itself), go \
            (go-libp2p v0.32.1), py (py-libp2p 0.8.1), or any adapter under --peers-dir. Each one \
            other than swift adds every scenario again with that implementation listening inside \
            the emulated path (docs/peers.md).
            """
    )
    var peers: String = "swift"

    @Option(help: "Where peer adapters live: <dir>/<name>/peer (docs/peers.md).")
    var peersDir: String = "scripts/peers"

    @Option(help: "Result folder name under --results (default: a UTC timestamp).")
    var name: String?

    @Option(help: "Where result folders go.")
    var results: String = "results"

    @Flag(help: "Debug logging on stderr.")
    var verbose = false

    /// The peers `--peers` names, in order, each once.
    func peerList() throws -> [Scenario.Peer] {
        var peers: [Scenario.Peer] = []
        for name in self.peers.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let peer = Scenario.Peer(rawValue: name) else {
                throw ValidationError("--peers: \"\(name)\" is not an adapter name (a-z, 0-9, _)")
            }
            if !peers.contains(peer) { peers.append(peer) }
        }
        guard !peers.isEmpty else { throw ValidationError("--peers names no implementation") }
        return peers
    }

    func validate() throws {
        _ = try self.peerList()
    }

    func run() async throws {
        UpgradeBench.bootstrapLogging(verbose: self.verbose)
        // Before the first path starts: a signal from here on removes the paths, closes the
        // results folder with what was measured, and ends the process with that signal.
        let signals = RunSignalHandling.install { message in
            // Below the progress bar's line, when there is one.
            printError((isatty(STDERR_FILENO) == 1 ? "\n" : "") + "bench: \(message)")
        }
        let logger = Logger(label: "upgradebench")

        guard let selection = NetworkEmulatorSelection(argument: self.emulator) else {
            throw ValidationError("unknown emulator \"\(self.emulator)\": use auto, tun, relay or netem")
        }
        let startedAt = Date()
        let runName = self.name ?? ResultsWriter.defaultName(for: startedAt)
        let directory = URL(fileURLWithPath: self.results, isDirectory: true)
            .appendingPathComponent(runName, isDirectory: true)
        // Before anything is measured: results that could not be kept are not worth measuring.
        let folder = ResultsWriter(directory: directory)
        let created: Bool
        do {
            created = try folder.checkWritable()
        } catch let error as UpgradeBenchError {
            throw inputError("results folder not writable: \(error.diagnostics)")
        }

        let recorder: RunRecorder
        let matrix: ScenarioMatrix
        let kind: NetworkEmulatorKind
        var adapters: [Scenario.Peer: String] = [:]
        var peerRecords: [RunMetadata.PeerRecord] = []
        do {
            // Other implementations are installed and started once before anything is measured:
            // one that cannot take part ends the run here, with its reason.
            let peerAdapters = PeerAdapters(directory: URL(fileURLWithPath: self.peersDir, isDirectory: true))
            for peer in try self.peerList() where peer != .swift {
                let executable = try peerAdapters.prepare(peer)
                adapters[peer] = executable
                let record = try await peerAdapters.describe(peer, executable: executable)
                peerRecords.append(record)
                logger.info("peer", metadata: ["name": "\(peer)", "version": "\(record.version)"])
            }
            // Resolve `auto` once, so every scenario names the emulator that really ran.
            let probe = try await NetworkEmulator.start(selection, rtt: .milliseconds(10))
            kind = probe.kind
            let reason = probe.selectionReason
            probe.stop()
            logger.info("emulator", metadata: ["kind": "\(kind)", "reason": "\(reason)"])
            matrix = try self.matrix(emulator: kind).withPeers(try self.peerList(), selfPairs: kind != .relay)
            var metadata = RunMetadata.collect(
                name: runName,
                matrix: matrix,
                commandLine: CommandLine.arguments,
                emulators: [],
                startedAt: startedAt,
                tlsCertificates: self.tlsCertificates
            )
            metadata.peers = peerRecords.isEmpty ? nil : peerRecords
            recorder = try RunRecorder(directory: directory, metadata: metadata)
        } catch {
            // Nothing was measured: no empty folder stays behind.
            if created { folder.removeIfEmpty() }
            throw error
        }
        signals.attach(recorder)

        // Two event loops: as many as the reference machine has cores.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var runner = BenchRunner(emulator: .kind(kind), group: group, logger: logger)
        runner.tlsCertificateMode = self.tlsCertificates
        runner.adapters = adapters
        var output: BenchRunner.Output
        var report: RoundTripReport
        var checkResult: CheckResult?
        var remeasured: [String] = []
        do {
            output = try await runner.run(matrix, progress: ProgressReporter(matrix: matrix), observer: recorder)
            report = RoundTripReport(summaries: output.results.summaries(), pathRTTs: output.pathRTTs)
            checkResult = self.check ? report.check() : nil
            // A failure the machine visibly disturbed is measured again, and said so.
            let tolerances = CheckTolerances()
            var attempt = 1
            while let result = checkResult, !result.passed, attempt < tolerances.attempts {
                let again = report.scenariosToMeasureAgain(result, tolerances: tolerances)
                guard !again.isEmpty else { break }
                attempt += 1
                for scenario in again {
                    let disturbance = String(format: "%.2f", report.disturbance(of: scenario) ?? 0)
                    let reason =
                        "\(scenario.name): median time in flight \(disturbance) round trips above its 10th "
                        + "percentile (the machine was busy); measured again, attempt \(attempt) of \(tolerances.attempts)"
                    remeasured.append(reason)
                    FileHandle.standardError.write(Data("check: \(reason)\n".utf8))
                }
                try recorder.measuringAgain(reasons: remeasured)
                let retry = try ScenarioMatrix(name: matrix.name, scenarios: again, throughput: [])
                let second = try await runner.run(retry, progress: ProgressReporter(matrix: retry), observer: recorder)
                for scenario in again {
                    output.results.replaceSamples(of: scenario, with: second.results.samples(for: scenario))
                }
                output.emulators = RunMetadata.Emulator.merging(output.emulators, second.emulators)
                report = RoundTripReport(summaries: output.results.summaries(), pathRTTs: output.pathRTTs)
                checkResult = report.check()
            }
            try? await group.shutdownGracefully()
        } catch {
            try? await group.shutdownGracefully()
            // A signal's handler may be ending the run: its paths' failures are not the run's error.
            signals.waitIfInterrupted()
            // The scenarios done before the error stay, with a summary.
            do {
                if let metadata = try recorder.fail(error) {
                    printError("bench: \(metadata.statusDescription); results so far: \(directory.path)")
                }
            } catch let writeError {
                printError("bench: the results so far could not be completed: \(writeError)")
            }
            throw error
        }

        signals.waitIfInterrupted()
        let files = try recorder.complete(results: output.results, report: report, emulators: output.emulators)

        print(SummaryTable.render(report: report, throughput: output.results.throughputSummaries(), check: checkResult))
        print("results: \(directory.path) (\(files.count) files); plots: scripts/plot.sh \(directory.path)")
        if let checkResult, !checkResult.passed {
            throw ExitCode(1)
        }
    }

    /// The preset's matrix on `emulator`, with the counts the options override.
    private func matrix(emulator kind: NetworkEmulatorKind) throws -> ScenarioMatrix {
        let matrix = try ScenarioMatrix.preset(
            named: self.quick ? "quick" : self.preset,
            emulator: Scenario.Emulator(name: BenchRunner.emulatorName(kind), delaysConnect: true)
        )
        guard self.connections != nil || self.concurrency != nil else { return matrix }
        let scenarios = matrix.scenarios.map { scenario -> Scenario in
            var scenario = scenario
            if let connections = self.connections { scenario.connections = connections }
            if let concurrency = self.concurrency { scenario.concurrency = concurrency }
            return scenario
        }
        return try ScenarioMatrix(name: matrix.name, scenarios: scenarios, throughput: matrix.throughput)
    }
}
