import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A results folder as a test reads it, without the library: `meta.json` as JSON, the CSV files
/// as lines (no field this benchmark writes holds a line feed).
struct ResultsFolderView {
    let directory: URL

    var meta: [String: Any] {
        get throws {
            let data = try Data(contentsOf: self.directory.appendingPathComponent("meta.json"))
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
    }

    var progress: [String: Any] {
        get throws { try #require(try self.meta["progress"] as? [String: Any]) }
    }

    /// The data rows of a CSV file, header left out.
    func rows(_ name: String) throws -> [String] {
        let text = try String(contentsOf: self.directory.appendingPathComponent(name), encoding: .utf8)
        return Array(text.split(separator: "\n").map(String.init).dropFirst())
    }

    func exists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: self.directory.appendingPathComponent(name).path)
    }

    /// Checks a folder whose run ended before its last scenario: the records hold exactly the
    /// scenarios `meta.json` counts done, each whole. Returns the upgrade scenarios done.
    func checkPartialRecords() throws -> [String] {
        let progress = try self.progress
        let completed = try #require(progress["completed"] as? [String])
        let total = try #require(progress["total"] as? Int)
        #expect(progress["done"] as? Int == completed.count)
        let scenarios = try #require(try self.meta["scenarios"] as? [[String: Any]])
        let throughput = try #require(try self.meta["throughputScenarios"] as? [[String: Any]])
        #expect(total == scenarios.count + throughput.count)
        #expect(completed.count < total)

        let upgrades = completed.filter { !$0.hasPrefix("throughput-") }
        let samples = try self.rows("samples.csv")
        let connections = try #require(scenarios.first?["connections"] as? Int)
        #expect(samples.count == upgrades.count * connections)
        #expect(Set(samples.map { String($0.prefix { $0 != "," }) }) == Set(upgrades))
        if self.exists("throughput.csv") {
            let transfers = try self.rows("throughput.csv")
            let repetitions = try #require(throughput.first?["repetitions"] as? Int)
            #expect(transfers.count == (completed.count - upgrades.count) * repetitions)
        }
        return upgrades
    }

    /// Runs `bench report` on the folder and checks that it wrote `summary.csv` for `upgrades`;
    /// returns the summary's text and the report's stdout.
    func report(upgrades: [String]) async throws -> (summary: String, stdout: String) {
        let report = try BenchProcess(["report", self.directory.path])
        defer { report.kill() }
        let exit = try await report.waitForExit(timeout: .seconds(60))
        #expect(exit == .code(0), "\(exit); stderr: \(report.stderr)")
        let summary = try self.rows("summary.csv")
        #expect(summary.count == upgrades.count * 5, "one row per scenario and stage")
        #expect(Set(summary.map { String($0.prefix { $0 != "," }) }) == Set(upgrades))
        for scenario in upgrades {
            #expect(self.exists("\(scenario).hgrm"))
        }
        let text = try String(contentsOf: self.directory.appendingPathComponent("summary.csv"), encoding: .utf8)
        return (text, report.stdout)
    }
}

/// A run that cannot finish keeps what it measured: interrupted (SIGINT) it writes the summary of
/// the scenarios done and says so in `meta.json`; killed outright (SIGKILL) its records stay
/// whole and `bench report` rebuilds the summary. A results folder that cannot be written is
/// refused before anything is measured.
///
/// The runs use the delaying TCP relay for their emulated scenarios, which needs no root.
@Suite(.serialized, .timeLimit(.minutes(3))) struct BenchResultsFolderTests {
    /// A debug build reaches the first emulated scenario in well under a minute.
    static let reachTimeout: Duration = .seconds(120)

    static func temporaryFolder(_ label: String) -> URL {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-folder-\(getpid())-\(label)-\(UUID().uuidString)")
    }

    @Test(arguments: [SIGINT, SIGKILL])
    func aRunThatEndsEarlyKeepsWhatItMeasured(signalNumber: Int32) async throws {
        let results = Self.temporaryFolder("signal\(signalNumber)")
        defer { try? FileManager.default.removeItem(at: results) }
        let folder = ResultsFolderView(directory: results.appendingPathComponent("partial"))
        let run = try BenchProcess([
            "run", "--quick", "--emulator", "relay", "--connections", "20",
            "--results", results.path, "--name", "partial",
        ])
        defer { run.kill() }

        // From the start, meta.json says the run is going.
        let clock = ContinuousClock()
        let deadline = clock.now + Self.reachTimeout
        while !folder.exists("meta.json") {
            try #require(!run.hasExited, "bench ended before writing meta.json: \(run.stderr)")
            try #require(clock.now < deadline, "no meta.json within \(Self.reachTimeout): \(run.stderr)")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try folder.meta["status"] as? String == "running")

        // Wait until an emulated scenario is in flight after one finished: loopback done.
        var inFlight = ""
        while true {
            try #require(!run.hasExited, "bench ended before an emulated scenario: \(run.stderr)")
            try #require(clock.now < deadline, "no emulated scenario within \(Self.reachTimeout): \(run.stderr)")
            let completed = (try? folder.progress["completed"] as? [String]) ?? []
            if let name = try? folder.progress["inFlight"] as? String, name.contains("20ms"),
                completed.contains(where: { $0.contains("20ms") })
            {
                inFlight = name
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }

        run.send(signalNumber)
        let exit = try await run.waitForExit(timeout: .seconds(20))
        #expect(exit == .signal(signalNumber), "\(exit); stderr: \(run.stderr)")

        let upgrades = try folder.checkPartialRecords()
        let progress = try folder.progress
        let named = try #require(progress["inFlight"] as? String)
        // The scenario read before the signal, or (if it just finished) the next one.
        #expect(named == inFlight || (progress["completed"] as? [String])?.contains(inFlight) == true)
        #expect(named.contains("20ms-relay"))
        let meta = try folder.meta
        if signalNumber == SIGKILL {
            // Nothing could record the end.
            #expect(meta["status"] as? String == "running")
            #expect(meta["finishedAt"] == nil)
            #expect(!folder.exists("summary.csv"))
            let (_, stdout) = try await folder.report(upgrades: upgrades)
            #expect(stdout.contains("run: running, or ended without a word (killed or crashed) during \(named)"))
        } else {
            #expect(meta["status"] as? String == "interrupted")
            #expect(meta["signal"] as? String == "SIGINT")
            #expect(meta["finishedAt"] is String)
            #expect(run.stderr.contains("bench: interrupted by SIGINT during \(named)"), "\(run.stderr)")
            // The run wrote the summary itself; `report` makes the same one from the records.
            let written = try String(
                contentsOf: folder.directory.appendingPathComponent("summary.csv"),
                encoding: .utf8
            )
            try FileManager.default.removeItem(at: folder.directory.appendingPathComponent("summary.csv"))
            let (rebuilt, stdout) = try await folder.report(upgrades: upgrades)
            #expect(rebuilt == written)
            let done = try #require(progress["done"] as? Int)
            #expect(stdout.contains("run: interrupted by SIGINT during \(named); \(done) of "), "\(stdout)")
        }
    }

    /// `--results` under a regular file (anywhere) and under /proc (Linux): refused with exit
    /// code 2 and a clear message within seconds, before the emulator probe or any scenario.
    @Test func aResultsFolderThatCannotBeWrittenIsRefusedBeforeMeasuring() async throws {
        let scratch = Self.temporaryFolder("unwritable")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let file = scratch.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        var roots = [file.path]
        if FileManager.default.fileExists(atPath: "/proc/self") { roots.append("/proc/nope") }

        for root in roots {
            let started = ContinuousClock.now
            let run = try BenchProcess(["run", "--preset", "quick", "--results", root, "--name", "x"])
            defer { run.kill() }
            let exit = try await run.waitForExit(timeout: .seconds(30))
            #expect(exit == .code(2), "\(root): \(exit); stderr: \(run.stderr)")
            #expect(ContinuousClock.now - started < .seconds(10), "\(root): refused only after measuring")
            #expect(run.stderr.contains("bench: results folder not writable: cannot create \(root)/x"), "\(run.stderr)")
            // No scenario ran: no progress line, no summary table.
            #expect(!run.stderr.contains("[1/"), "\(run.stderr)")
            #expect(run.stdout.isEmpty, "\(run.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/proc/nope"))
    }

    @Test func reportOnAFolderWithoutResultsExitsWithTwo() async throws {
        let empty = Self.temporaryFolder("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let report = try BenchProcess(["report", empty.path])
        defer { report.kill() }
        let exit = try await report.waitForExit(timeout: .seconds(30))
        #expect(exit == .code(2), "\(exit); stderr: \(report.stderr)")
        let expected = "bench: \(empty.path): cannot read \(empty.path)/meta.json"
        #expect(report.stderr.hasPrefix(expected), "\(report.stderr)")
    }
}
