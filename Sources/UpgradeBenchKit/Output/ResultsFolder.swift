import Foundation

/// A results folder read back from its records, `meta.json`, `samples.csv` and `throughput.csv`:
/// what `bench report` rebuilds the summary, histograms and plot data from, for a completed run
/// as for one that was interrupted, failed or killed (docs/results.md).
///
/// A scenario counts when the folder holds all its rows (``Scenario/connections`` connections,
/// ``ThroughputScenario/repetitions`` transfers): a run appends each scenario whole once it
/// finished, so fewer rows mean a write cut short by a kill, and such a scenario is left out with
/// a note. Scenarios keep the matrix order of `meta.json`, as the run's own summary does.
public struct ResultsFolder: Sendable {
    /// The folder.
    public let directory: URL
    /// `meta.json`.
    public let metadata: RunMetadata
    /// The scenarios with all their rows, in matrix order.
    public let results: BenchResults
    /// What was left out and why, one sentence each.
    public let notes: [String]

    /// The round-trip report of ``results``, with the paths' calibrated RTTs from `meta.json`.
    public var report: RoundTripReport {
        RoundTripReport(summaries: self.results.summaries(), pathRTTs: self.metadata.pathRTTs)
    }

    /// Reads the folder at `directory`.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem`` when `meta.json` or `samples.csv` is
    ///   missing or unreadable or `meta.json` does not decode; the CSV parsers' errors for a
    ///   malformed file.
    public init(directory: URL) throws {
        self.directory = directory
        let metadataURL = directory.appendingPathComponent(ResultsWriter.metadataFile)
        let metadata: RunMetadata
        do {
            metadata = try JSONDecoder().decode(RunMetadata.self, from: try Self.read(metadataURL))
        } catch let error as UpgradeBenchError {
            throw error
        } catch {
            throw UpgradeBenchError.fileSystem("\(metadataURL.path) is not a results folder's meta.json: \(error)")
        }
        var notes: [String] = []
        let samplesText = try Self.completeRecords(
            of: directory.appendingPathComponent(ResultsWriter.samplesFile),
            notes: &notes
        )
        let samples = try SamplesCSV.parse(samplesText, scenarios: metadata.scenarios)
        var throughput: [ThroughputResult] = []
        let throughputURL = directory.appendingPathComponent(ResultsWriter.throughputFile)
        if FileManager.default.fileExists(atPath: throughputURL.path) {
            let text = try Self.completeRecords(of: throughputURL, notes: &notes)
            throughput = try ThroughputCSV.parse(text, scenarios: metadata.throughputScenarios)
        }
        let selected = Self.results(metadata: metadata, samples: samples, throughput: throughput)
        self.metadata = metadata
        self.results = selected.results
        self.notes = notes + selected.notes
    }

    /// Rewrites the derived files (``ResultsWriter/writeDerivedFiles(report:)``): `summary.csv`,
    /// the `.hgrm` files and `gnuplot/`, exactly as the run writes them. The records and
    /// `meta.json` stay as they are. Returns the files written, relative to the folder.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    @discardableResult
    public func rebuild() throws -> [String] {
        try ResultsWriter(directory: self.directory).writeDerivedFiles(report: self.report)
    }

    /// The scenarios of `metadata` that have all their rows among `samples` and `throughput`,
    /// in matrix order, with a note for each one that has some rows but not all.
    public static func results(
        metadata: RunMetadata,
        samples: [ConnectionSample],
        throughput: [ThroughputResult]
    ) -> (results: BenchResults, notes: [String]) {
        var notes: [String] = []
        let samplesByScenario = Dictionary(grouping: samples, by: \.scenario)
        let throughputByScenario = Dictionary(grouping: throughput, by: \.scenario)
        func complete(_ name: String, rows: Int, expected: Int) -> Bool {
            guard rows > 0 else { return false }
            guard rows == expected else {
                notes.append("\(name): \(rows) of \(expected) rows (a write cut short); left out")
                return false
            }
            return true
        }
        let scenarios = metadata.scenarios.filter {
            complete($0.name, rows: samplesByScenario[$0]?.count ?? 0, expected: $0.connections)
        }
        let throughputScenarios = metadata.throughputScenarios.filter {
            complete($0.name, rows: throughputByScenario[$0]?.count ?? 0, expected: $0.repetitions)
        }
        var results = BenchResults(scenarios: scenarios, throughputScenarios: throughputScenarios)
        for scenario in scenarios {
            for sample in samplesByScenario[scenario] ?? [] { results.record(sample) }
        }
        for scenario in throughputScenarios {
            for result in throughputByScenario[scenario] ?? [] { results.record(result) }
        }
        return (results, notes)
    }

    private static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw UpgradeBenchError.fileSystem("cannot read \(url.path): \(ResultsWriter.reason(error))")
        }
    }

    /// The text of a CSV file up to its last complete record: a process killed in the middle of
    /// an append can leave part of a row, which is dropped with a note.
    private static func completeRecords(of url: URL, notes: inout [String]) throws -> String {
        let text = String(decoding: try Self.read(url), as: UTF8.self)
        let complete = CSVDocument.completeRecordsPrefix(of: text)
        if complete.endIndex != text.endIndex {
            notes.append("\(url.lastPathComponent): an unfinished last row; left out")
        }
        return String(complete)
    }
}
