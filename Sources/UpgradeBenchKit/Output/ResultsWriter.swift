import Foundation

/// Writes a run's results folder, `results/<name>/` (layout in README.md ("Results" and "Round-trip accounting")):
/// `samples.csv`, `summary.csv`, `throughput.csv`, one `<scenario>.hgrm` per scenario,
/// `meta.json`, and the plot data in `gnuplot/`.
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

    /// Writes every file, replacing files of the same name, and returns their paths relative to
    /// ``directory``, in the order written.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem`` when a folder or file cannot be written.
    @discardableResult
    public func write(results: BenchResults, report: RoundTripReport, metadata: RunMetadata) throws -> [String] {
        var written: [String] = []
        try self.createDirectory(self.directory)

        try self.write(SamplesCSV.document(results.allSamples).encoded(), to: "samples.csv", &written)
        try self.write(SummaryCSV.document(report).encoded(), to: "summary.csv", &written)
        if !results.throughputScenarios.isEmpty {
            try self.write(ThroughputCSV.document(results.allThroughput).encoded(), to: "throughput.csv", &written)
        }
        for summary in report.summaries {
            try self.write(
                HistogramFile.percentileDistribution(microseconds: summary.sortedMuxerReady),
                to: Self.histogramFileName(for: summary.scenario),
                &written
            )
        }

        var metadata = metadata
        if metadata.finishedAt == nil { metadata.finishedAt = RunMetadata.timestamp(Date()) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json: Data
        do {
            json = try encoder.encode(metadata)
        } catch {
            throw UpgradeBenchError.fileSystem("cannot encode meta.json: \(error)")
        }
        try self.write(String(decoding: json, as: UTF8.self) + "\n", to: "meta.json", &written)

        let plotDirectory = self.directory.appendingPathComponent(Self.plotDataFolder, isDirectory: true)
        try self.createDirectory(plotDirectory)
        for file in PlotData.files(for: report) {
            try self.write(file.contents, to: "\(Self.plotDataFolder)/\(file.name)", &written)
        }
        return written
    }

    private func createDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw UpgradeBenchError.fileSystem("cannot create \(url.path): \(error)")
        }
    }

    private func write(_ text: String, to relativePath: String, _ written: inout [String]) throws {
        let url = self.directory.appendingPathComponent(relativePath)
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw UpgradeBenchError.fileSystem("cannot write \(url.path): \(error)")
        }
        written.append(relativePath)
    }
}
