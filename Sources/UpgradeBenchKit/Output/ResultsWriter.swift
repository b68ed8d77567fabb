import Foundation

/// Writes a run's results folder, `results/<name>/` (layout in README.md ("Results" and "Round-trip accounting")
/// and docs/results.md): `samples.csv`, `summary.csv`, `throughput.csv`, one `<scenario>.hgrm` per
/// scenario, `meta.json`, and the plot data in `gnuplot/`.
///
/// The files fall in two groups. The records, `samples.csv`, `throughput.csv` and `meta.json`, are
/// what was measured; ``RunRecorder`` keeps them current while a run lasts. Everything else is
/// derived from the records (``writeDerivedFiles(report:)``), so `bench report` can rebuild it
/// from any folder, complete or not (``ResultsFolder``).
public struct ResultsWriter: Sendable {
    /// The results folder.
    public let directory: URL

    /// A writer for `directory`, created on ``write(results:report:metadata:)`` if missing.
    public init(directory: URL) {
        self.directory = directory
    }

    /// A writer for `<root>/<name>`, `name` defaulting to ``defaultName(for:)`` of now.
    public init(root: URL = URL(fileURLWithPath: "results", isDirectory: true), name: String? = nil) {
        self.init(directory: root.appendingPathComponent(name ?? Self.defaultName(for: Date()), isDirectory: true))
    }

    /// The folder name for a run started at `date`: UTC `yyyy-MM-dd-HHmmss`, shell-safe and
    /// sorting in time order.
    public static func defaultName(for date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        return
            "\(parts.year ?? 0)-\(two(parts.month))-\(two(parts.day))-\(two(parts.hour))\(two(parts.minute))\(two(parts.second))"
    }

    /// The `.hgrm` file name of `scenario`.
    public static func histogramFileName(for scenario: Scenario) -> String { "\(scenario.name).hgrm" }

    /// The plot data folder inside the results folder.
    public static let plotDataFolder = "gnuplot"
    /// The connection records.
    public static let samplesFile = "samples.csv"
    /// The transfer records.
    public static let throughputFile = "throughput.csv"
    /// The per-stage summary, derived from the samples.
    public static let summaryFile = "summary.csv"
    /// The run's description and status.
    public static let metadataFile = "meta.json"

    // MARK: - Whole folder

    /// Writes every file, replacing files of the same name, and returns their paths relative to
    /// ``directory``, in the order written.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem`` when a folder or file cannot be written.
    @discardableResult
    public func write(results: BenchResults, report: RoundTripReport, metadata: RunMetadata) throws -> [String] {
        var written: [String] = []
        try self.createDirectory(self.directory)

        try self.write(SamplesCSV.document(results.allSamples).encoded(), to: Self.samplesFile, &written)
        if !results.throughputScenarios.isEmpty {
            try self.write(ThroughputCSV.document(results.allThroughput).encoded(), to: Self.throughputFile, &written)
        }
        written += try self.writeDerivedFiles(report: report)
        var metadata = metadata
        if metadata.finishedAt == nil { metadata.finishedAt = RunMetadata.timestamp(Date()) }
        // Last: once meta.json says how the run ended, every file beside it is written.
        try self.writeMetadata(metadata, &written)
        return written
    }

    // MARK: - Before a run

    /// Creates the folder if it is missing and makes sure a file can be created in it, so that a
    /// run whose results could not be kept is refused before it measures anything. Returns
    /// whether the folder was created (``removeIfEmpty()`` then undoes it, should the run end
    /// before writing anything).
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem`` saying why the folder cannot be written.
    @discardableResult
    public func checkWritable() throws -> Bool {
        let existed = FileManager.default.fileExists(atPath: self.directory.path)
        try self.createDirectory(self.directory)
        let probe = self.directory.appendingPathComponent(".write-check-\(ProcessInfo.processInfo.processIdentifier)")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
            throw UpgradeBenchError.fileSystem("cannot create files in \(self.directory.path)")
        }
        try? FileManager.default.removeItem(at: probe)
        return !existed
    }

    /// Removes the folder if nothing is in it: a run that ended before its first record leaves
    /// no empty folder behind. Best effort.
    public func removeIfEmpty() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: self.directory.path), names.isEmpty
        else { return }
        try? FileManager.default.removeItem(at: self.directory)
    }

    // MARK: - Records

    /// Writes `meta.json`, replacing it at once (a reader never sees half of it).
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func writeMetadata(_ metadata: RunMetadata) throws {
        var written: [String] = []
        try self.writeMetadata(metadata, &written)
    }

    /// Starts `samples.csv` afresh: the header only.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func startSamples() throws {
        var written: [String] = []
        try self.write(CSVDocument(header: SamplesCSV.header).encoded(), to: Self.samplesFile, &written)
    }

    /// Appends the rows of `samples` to `samples.csv` in one write.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func appendSamples(_ samples: [ConnectionSample]) throws {
        try self.append(samples.map { CSVDocument.encodeRecord(SamplesCSV.record($0)) }.joined(), to: Self.samplesFile)
    }

    /// Starts `throughput.csv` afresh: the header only.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func startThroughput() throws {
        var written: [String] = []
        try self.write(CSVDocument(header: ThroughputCSV.header).encoded(), to: Self.throughputFile, &written)
    }

    /// Appends the rows of `results` to `throughput.csv` in one write.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func appendThroughput(_ results: [ThroughputResult]) throws {
        let rows = ThroughputCSV.document(results).records.map(CSVDocument.encodeRecord).joined()
        try self.append(rows, to: Self.throughputFile)
    }

    /// Removes the files an earlier run of the same name left, so that the folder never mixes
    /// two runs: its records, summary and histograms, and the plot data.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func removeEarlierRun() throws {
        let records = [Self.samplesFile, Self.throughputFile, Self.summaryFile, Self.metadataFile]
        let names = records + self.histogramFiles()
        for name in names {
            try self.remove(self.directory.appendingPathComponent(name))
        }
        try self.removePlotData(keeping: [])
    }

    // MARK: - Derived files

    /// Writes what is derived from the records: `summary.csv`, one `.hgrm` per scenario of
    /// `report`, and `gnuplot/`; removes histograms and plot data of scenarios `report` does not
    /// have, so the folder describes exactly the report. Returns the paths written, relative to
    /// ``directory``.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    @discardableResult
    public func writeDerivedFiles(report: RoundTripReport) throws -> [String] {
        var written: [String] = []
        try self.createDirectory(self.directory)
        try self.write(SummaryCSV.document(report).encoded(), to: Self.summaryFile, &written)
        let histograms = report.summaries.map { Self.histogramFileName(for: $0.scenario) }
        for stale in Set(self.histogramFiles()).subtracting(histograms) {
            try self.remove(self.directory.appendingPathComponent(stale))
        }
        for summary in report.summaries {
            try self.write(
                HistogramFile.percentileDistribution(microseconds: summary.sortedMuxerReady),
                to: Self.histogramFileName(for: summary.scenario),
                &written
            )
        }

        let plotDirectory = self.directory.appendingPathComponent(Self.plotDataFolder, isDirectory: true)
        try self.createDirectory(plotDirectory)
        let plotFiles = PlotData.files(for: report)
        try self.removePlotData(keeping: Set(plotFiles.map(\.name)))
        for file in plotFiles {
            try self.write(file.contents, to: "\(Self.plotDataFolder)/\(file.name)", &written)
        }
        return written
    }

    // MARK: - Helpers

    private func writeMetadata(_ metadata: RunMetadata, _ written: inout [String]) throws {
        try self.write(try metadata.jsonText(), to: Self.metadataFile, &written)
    }

    /// The `.hgrm` files in the folder.
    private func histogramFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: self.directory.path)) ?? []
        return names.filter { $0.hasSuffix(".hgrm") }
    }

    /// Removes the plot data files not in `keeping` (the folder is this writer's alone).
    private func removePlotData(keeping: Set<String>) throws {
        let plotDirectory = self.directory.appendingPathComponent(Self.plotDataFolder, isDirectory: true)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: plotDirectory.path)) ?? []
        for name in names where !keeping.contains(name) && (name.hasSuffix(".dat") || name.hasSuffix(".txt")) {
            try self.remove(plotDirectory.appendingPathComponent(name))
        }
    }

    private func remove(_ url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        do {
            try FileManager.default.removeItem(at: url)
        } catch {
            throw UpgradeBenchError.fileSystem("cannot remove \(url.path): \(Self.reason(error))")
        }
    }

    private func createDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw UpgradeBenchError.fileSystem("cannot create \(url.path): \(Self.reason(error))")
        }
    }

    private func write(_ text: String, to relativePath: String, _ written: inout [String]) throws {
        let url = self.directory.appendingPathComponent(relativePath)
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw UpgradeBenchError.fileSystem("cannot write \(url.path): \(Self.reason(error))")
        }
        written.append(relativePath)
    }

    /// Appends `text` with one `write(2)` loop on a descriptor opened for appending: once this
    /// returns the bytes are the kernel's, and a process killed later loses none of them.
    private func append(_ text: String, to relativePath: String) throws {
        guard !text.isEmpty else { return }
        let url = self.directory.appendingPathComponent(relativePath)
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(text.utf8))
        } catch {
            throw UpgradeBenchError.fileSystem("cannot append to \(url.path): \(Self.reason(error))")
        }
    }

    /// The system's words for a file error (`Permission denied`), not Foundation's wrapper, and
    /// the path it concerns (which may be a parent folder of the one being written).
    static func reason(_ error: any Error) -> String {
        let error = error as NSError
        var text = error.localizedDescription
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? any Error {
            let underlying = underlying as NSError
            if underlying.domain == NSPOSIXErrorDomain, let description = strerror(Int32(underlying.code)) {
                text = String(cString: description)
            }
        }
        if let path = error.userInfo[NSFilePathErrorKey] as? String {
            text += " (\(path))"
        }
        return text
    }
}
