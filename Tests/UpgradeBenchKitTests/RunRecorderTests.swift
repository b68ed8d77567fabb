import Foundation
import Testing
import UpgradeBenchKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A temporary folder for one test, removed with ``remove()``.
struct TemporaryFolder {
    let root: URL

    init() {
        self.root = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-\(UUID().uuidString)", isDirectory: true)
    }

    func folder(_ name: String) -> URL { self.root.appendingPathComponent(name, isDirectory: true) }

    func remove() { try? FileManager.default.removeItem(at: self.root) }
}

/// Every file under `directory` (relative path → bytes), so two folders can be compared whole.
func folderContents(_ directory: URL) throws -> [String: Data] {
    var contents: [String: Data] = [:]
    let base = directory.standardizedFileURL.path
    guard let enumerator = FileManager.default.enumerator(atPath: base) else { return [:] }
    while let relative = enumerator.nextObject() as? String {
        var isDirectory: ObjCBool = false
        let path = base + "/" + relative
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            contents[relative] = try Data(contentsOf: URL(fileURLWithPath: path))
        }
    }
    return contents
}

func readMetadata(_ directory: URL) throws -> RunMetadata {
    try JSONDecoder().decode(RunMetadata.self, from: Data(contentsOf: directory.appendingPathComponent("meta.json")))
}

func text(_ directory: URL, _ name: String) throws -> String {
    try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
}

/// The files a folder's records determine: everything `bench report` rewrites.
func derivedFiles(_ contents: [String: Data]) -> [String: Data] {
    contents.filter { $0.key == "summary.csv" || $0.key.hasSuffix(".hgrm") || $0.key.hasPrefix("gnuplot/") }
}

/// An error as a runner might end with.
struct PathFailure: Error, CustomStringConvertible {
    var description: String { "no path to 20 ms" }
}

@Suite struct RunRecorderTests {
    /// The synthetic run's report as the run computes it: with the calibrated path RTTs.
    static func report(_ results: BenchResults, _ metadata: RunMetadata) -> RoundTripReport {
        RoundTripReport(summaries: results.summaries(), pathRTTs: metadata.pathRTTs)
    }

    /// Feeds a recorder the synthetic run's first `scenarios` scenarios and `throughput`
    /// transfers scenarios, as the runner would.
    static func record(
        _ recorder: RunRecorder,
        scenarios: Int,
        throughput: Int,
        results: BenchResults,
        emulators: [RunMetadata.Emulator]
    ) throws {
        for scenario in SyntheticRun.scenarios.prefix(scenarios) {
            try recorder.scenarioStarted(scenario.name)
            try recorder.scenarioFinished(scenario, samples: results.samples(for: scenario), emulators: emulators)
        }
        for scenario in SyntheticRun.throughput.prefix(throughput) {
            try recorder.scenarioStarted(scenario.name)
            try recorder.throughputFinished(scenario, results: results.throughput(for: scenario), emulators: emulators)
        }
    }

    @Test func reportRebuildsACompletedRunByteForByte() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        let directory = temporary.folder("completed")
        let results = SyntheticRun.results()
        let metadata = try SyntheticRun.metadata(name: "completed")
        try ResultsWriter(directory: directory).write(
            results: results,
            report: Self.report(results, metadata),
            metadata: metadata
        )
        let written = try folderContents(directory)
        #expect(!(try text(directory, "summary.csv")).contains(",,,,,,,,,,,,,,,,,,,,"))

        // Only the records and meta.json remain; the rest comes back from them.
        for name in derivedFiles(written).keys {
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        let folder = try ResultsFolder(directory: directory)
        #expect(folder.notes.isEmpty)
        let rebuilt = try folder.rebuild()
        #expect(Set(rebuilt) == Set(derivedFiles(written).keys))
        let contents = try folderContents(directory)
        #expect(contents.keys.sorted() == written.keys.sorted())
        for (name, data) in written {
            #expect(contents[name] == data, "\(name) differs after the rebuild")
        }
        #expect(folder.results.throughputSummaries() == results.throughputSummaries())
    }

    @Test func recorderKeepsTheFolderCurrentAndEndsAsTheFullWriterWould() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        let directory = temporary.folder("recorded")
        let results = SyntheticRun.results()
        let metadata = try SyntheticRun.metadata(name: "recorded")
        let total = SyntheticRun.scenarios.count + SyntheticRun.throughput.count

        let recorder = try RunRecorder(directory: directory, metadata: metadata)
        var meta = try readMetadata(directory)
        #expect(meta.status == .running)
        #expect(meta.finishedAt == nil)
        #expect(meta.progress == RunProgress(total: total))
        #expect(try text(directory, "samples.csv") == CSVDocument(header: SamplesCSV.header).encoded())
        #expect(try text(directory, "throughput.csv") == CSVDocument(header: ThroughputCSV.header).encoded())

        let first = SyntheticRun.scenarios[0]
        try recorder.scenarioStarted(first.name)
        #expect(try readMetadata(directory).progress?.inFlight == first.name)
        try recorder.scenarioFinished(first, samples: results.samples(for: first), emulators: metadata.emulators)
        meta = try readMetadata(directory)
        #expect(meta.progress?.done == 1)
        #expect(meta.progress?.completed == [first.name])
        #expect(meta.progress?.inFlight == nil)
        #expect(meta.emulators == metadata.emulators)
        let firstRows = try SamplesCSV.parse(text(directory, "samples.csv"), scenarios: meta.scenarios)
        #expect(firstRows == results.samples(for: first))

        try Self.record(
            recorder,
            scenarios: SyntheticRun.scenarios.count,
            throughput: SyntheticRun.throughput.count,
            results: results,
            emulators: metadata.emulators
        )
        #expect(try readMetadata(directory).progress?.done == total)
        try recorder.complete(results: results, report: Self.report(results, metadata), emulators: metadata.emulators)
        meta = try readMetadata(directory)
        #expect(meta.status == .completed)
        #expect(meta.finishedAt != nil)
        #expect(meta.progress?.done == total)
        #expect(meta.progress?.inFlight == nil)

        // The same folder as a run that wrote everything at the end.
        let whole = temporary.folder("whole")
        try ResultsWriter(directory: whole).write(
            results: results,
            report: Self.report(results, metadata),
            metadata: metadata
        )
        let recorded = try folderContents(directory)
        let expected = try folderContents(whole)
        #expect(recorded.keys.sorted() == expected.keys.sorted())
        for (name, data) in expected where name != "meta.json" {
            #expect(recorded[name] == data, "\(name) differs")
        }

        // Nothing is recorded after the end.
        try recorder.scenarioFinished(first, samples: results.samples(for: first), emulators: [])
        #expect(try readMetadata(directory) == meta)
        #expect(try recorder.interrupt(signal: SIGINT) == nil)
    }

    @Test func anInterruptedRunKeepsTheScenariosDoneWithTheirSummary() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        let directory = temporary.folder("interrupted")
        let results = SyntheticRun.results()
        let metadata = try SyntheticRun.metadata(name: "interrupted")
        let recorder = try RunRecorder(directory: directory, metadata: metadata)
        let done = 11
        try Self.record(recorder, scenarios: done, throughput: 0, results: results, emulators: metadata.emulators)
        let inFlight = SyntheticRun.scenarios[done]
        try recorder.scenarioStarted(inFlight.name)

        let ended = try #require(try recorder.interrupt(signal: SIGINT))
        #expect(
            ended.statusDescription == "interrupted by SIGINT during \(inFlight.name); \(done) of 30 scenarios done"
        )
        // The scenario in flight ends (its paths gone) after the interruption: not recorded.
        try recorder.scenarioFinished(inFlight, samples: results.samples(for: inFlight), emulators: [])
        #expect(try recorder.fail(PathFailure()) == nil)

        let meta = try readMetadata(directory)
        #expect(meta == ended)
        #expect(meta.status == .interrupted)
        #expect(meta.signal == "SIGINT")
        #expect(meta.error == nil)
        #expect(meta.finishedAt != nil)
        #expect(meta.progress?.inFlight == inFlight.name)
        #expect(meta.progress?.done == done)
        #expect(meta.progress?.total == 30)
        #expect(meta.progress?.completed == SyntheticRun.scenarios.prefix(done).map(\.name))

        let samples = try SamplesCSV.parse(text(directory, "samples.csv"), scenarios: meta.scenarios)
        #expect(samples == SyntheticRun.scenarios.prefix(done).flatMap { results.samples(for: $0) })
        let summary = try CSVDocument(parsing: text(directory, "summary.csv"))
        #expect(summary.records.count == done * ConnectionStage.allCases.count)
        #expect(Set(summary.records.map { $0[0] }) == Set(SyntheticRun.scenarios.prefix(done).map(\.name)))
        let files = try folderContents(directory)
        #expect(files.keys.count(where: { $0.hasSuffix(".hgrm") }) == done)
        #expect(files["throughput.csv"] == Data(CSVDocument(header: ThroughputCSV.header).encoded().utf8))

        // `bench report` makes the same summary from the files.
        let written = derivedFiles(files)
        for name in written.keys { try FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        let folder = try ResultsFolder(directory: directory)
        try folder.rebuild()
        #expect(derivedFiles(try folderContents(directory)) == written)
        #expect(folder.metadata == meta)
    }

    @Test func aFailedRunSaysWhyAndKeepsTheScenariosDone() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        let directory = temporary.folder("failed")
        let results = SyntheticRun.results()
        let metadata = try SyntheticRun.metadata(name: "failed")
        let recorder = try RunRecorder(directory: directory, metadata: metadata)
        try Self.record(recorder, scenarios: 3, throughput: 0, results: results, emulators: metadata.emulators)
        try recorder.scenarioStarted(SyntheticRun.scenarios[3].name)
        try recorder.fail(PathFailure())

        let meta = try readMetadata(directory)
        #expect(meta.status == .failed)
        #expect(meta.error == "no path to 20 ms")
        #expect(meta.signal == nil)
        #expect(meta.progress?.inFlight == SyntheticRun.scenarios[3].name)
        #expect(try CSVDocument(parsing: text(directory, "summary.csv")).records.count == 3 * 5)
        #expect(
            meta.statusDescription
                == "failed during \(SyntheticRun.scenarios[3].name): no path to 20 ms; 3 of 30 scenarios done"
        )
    }

    @Test func measuringAgainKeepsTheFirstMeasurementUntilTheEnd() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        let directory = temporary.folder("again")
        let results = SyntheticRun.results()
        let metadata = try SyntheticRun.metadata(name: "again")
        let recorder = try RunRecorder(directory: directory, metadata: metadata)
        try Self.record(recorder, scenarios: 24, throughput: 6, results: results, emulators: metadata.emulators)
        let before = try text(directory, "samples.csv")

        try recorder.measuringAgain(reasons: ["noise-classic-strict-20ms-tun-c1: busy"])
        let again = SyntheticRun.scenarios[20]
        try recorder.scenarioStarted(again.name)
        #expect(try readMetadata(directory).progress?.inFlight == again.name)
        try recorder.scenarioFinished(again, samples: results.samples(for: again), emulators: [])
        #expect(try text(directory, "samples.csv") == before)
        let meta = try readMetadata(directory)
        #expect(meta.remeasured == ["noise-classic-strict-20ms-tun-c1: busy"])
        #expect(meta.progress?.inFlight == nil)
        #expect(meta.emulators == metadata.emulators)
    }

    @Test func reportLeavesOutRowsAKillCutShort() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        let directory = temporary.folder("killed")
        let results = SyntheticRun.results()
        let metadata = try SyntheticRun.metadata(name: "killed")
        let recorder = try RunRecorder(directory: directory, metadata: metadata)
        try Self.record(recorder, scenarios: 2, throughput: 0, results: results, emulators: metadata.emulators)
        // A kill in the middle of the third scenario's append: some rows and half a row.
        let third = SyntheticRun.scenarios[2]
        let rows = results.samples(for: third).prefix(7).map { CSVDocument.encodeRecord(SamplesCSV.record($0)) }
        let half = CSVDocument.encodeRecord(SamplesCSV.record(results.samples(for: third)[7])).prefix(30)
        let cut = rows.joined() + half
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent("samples.csv"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(cut.utf8))
        try handle.close()

        let folder = try ResultsFolder(directory: directory)
        #expect(folder.results.scenarios == Array(SyntheticRun.scenarios.prefix(2)))
        #expect(folder.notes.count == 2)
        #expect(folder.notes.contains("samples.csv: an unfinished last row; left out"))
        #expect(folder.notes.contains("\(third.name): 7 of 60 rows (a write cut short); left out"))
        #expect(folder.metadata.status == .running)
        #expect(folder.metadata.statusDescription.hasPrefix("running, or ended without a word"))
        let files = try folder.rebuild()
        #expect(files.count(where: { $0.hasSuffix(".hgrm") }) == 2)
        #expect(try CSVDocument(parsing: text(directory, "summary.csv")).records.count == 2 * 5)
    }

    @Test func aRerunOfTheSameNameStartsFromAnEmptyFolder() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        let directory = temporary.folder("same")
        let results = SyntheticRun.results()
        let metadata = try SyntheticRun.metadata(name: "same")
        try ResultsWriter(directory: directory).write(
            results: results,
            report: Self.report(results, metadata),
            metadata: metadata
        )
        try Data("keep".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        _ = try RunRecorder(directory: directory, metadata: metadata)
        let names = Set(try folderContents(directory).keys)
        #expect(names == ["meta.json", "samples.csv", "throughput.csv", "notes.txt"])
    }

    @Test func aFolderThatCannotBeWrittenIsRefusedAtOnce() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        try FileManager.default.createDirectory(at: temporary.root, withIntermediateDirectories: true)
        let file = temporary.root.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        let inside = file.appendingPathComponent("results", isDirectory: true)
        #expect(benchErrorCode { try ResultsWriter(directory: inside).checkWritable() } == .fileSystem)
        #expect(
            benchErrorCode { _ = try RunRecorder(directory: inside, metadata: try SyntheticRun.metadata(name: "x")) }
                == .fileSystem
        )
        // A writable folder is created and left empty.
        let fresh = temporary.folder("fresh/run")
        try ResultsWriter(directory: fresh).checkWritable()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fresh.path).isEmpty)
    }

    @Test func aFolderWithoutMetaJSONIsNoResultsFolder() throws {
        let temporary = TemporaryFolder()
        defer { temporary.remove() }
        try FileManager.default.createDirectory(at: temporary.root, withIntermediateDirectories: true)
        #expect(benchErrorCode { _ = try ResultsFolder(directory: temporary.root) } == .fileSystem)
        try Data("{}".utf8).write(to: temporary.root.appendingPathComponent("meta.json"))
        #expect(benchErrorCode { _ = try ResultsFolder(directory: temporary.root) } == .fileSystem)
    }

    @Test func metadataWithoutStatusReadsAsCompleted() throws {
        var metadata = try SyntheticRun.metadata(name: "old")
        metadata.finishedAt = "2026-11-25T14:10:00Z"
        let json = try metadata.jsonText()
        #expect(!json.contains("\"status\""))
        let decoded = try JSONDecoder().decode(RunMetadata.self, from: Data(json.utf8))
        #expect(decoded.status == nil)
        #expect(decoded.statusDescription == "completed")
    }
}

@Suite struct ResultsRecordsTests {
    @Test func throughputCSVReadsBack() throws {
        let results = SyntheticRun.results().allThroughput
        var withFailure = results
        withFailure[1].elapsedMicroseconds = nil
        withFailure[1].failure = "reset, by peer"
        let text = ThroughputCSV.document(withFailure).encoded()
        #expect(try ThroughputCSV.parse(text, scenarios: SyntheticRun.throughput) == withFailure)
        #expect(
            benchErrorCode { _ = try ThroughputCSV.parse(text, scenarios: Array(SyntheticRun.throughput.dropFirst())) }
                == .invalidCSVField
        )
    }

    @Test func completeRecordsEndAtTheLastLineFeedOutsideQuotes() {
        #expect(CSVDocument.completeRecordsPrefix(of: "a,b\n1,2\n") == "a,b\n1,2\n")
        #expect(CSVDocument.completeRecordsPrefix(of: "a,b\n1,2\n3,") == "a,b\n1,2\n")
        #expect(CSVDocument.completeRecordsPrefix(of: "a,b\n1,\"x\ny") == "a,b\n")
        #expect(CSVDocument.completeRecordsPrefix(of: "a,b\n1,\"x\n\"\"y\"\n") == "a,b\n1,\"x\n\"\"y\"\n")
        #expect(CSVDocument.completeRecordsPrefix(of: "a,b") == "")
    }
}
