import Foundation

/// A results folder read back for ``ResultsComparison``: `meta.json`, the per-connection stage
/// times of `samples.csv`, the transfers of `throughput.csv` when present, and `summary.csv`
/// to cross-check the medians.
///
/// The CSV files are read by column name, not against this version's exact header as
/// ``SamplesCSV/parse(_:scenarios:)`` does, so that a folder written by another version of the
/// suite still compares: a change that adds a column to `samples.csv` must be comparable with
/// the run of the code before it. `samples.csv` needs `scenario` and at least one `<stage>_us`
/// column, `throughput.csv` needs `scenario`, `bytes_each_way` and `elapsed_us`.
public struct ComparedRun: Hashable, Sendable {
    /// The stage times of one upgrade scenario.
    public struct LatencySeries: Hashable, Sendable {
        /// The scenario name (``Scenario/name``).
        public var scenario: String
        /// Recorded connections.
        public var connections: Int
        /// Connections with an `error`.
        public var failedConnections: Int
        /// Per stage, the microseconds of every connection that reached it (as `summary.csv`
        /// counts them), in file order.
        public var stages: [ConnectionStage: [UInt64]]

        /// Creates a series.
        public init(scenario: String, connections: Int, failedConnections: Int, stages: [ConnectionStage: [UInt64]]) {
            self.scenario = scenario
            self.connections = connections
            self.failedConnections = failedConnections
            self.stages = stages
        }
    }

    /// The transfers of one throughput scenario.
    public struct ThroughputSeries: Hashable, Sendable {
        /// The scenario name (``ThroughputScenario/name``).
        public var scenario: String
        /// Bytes sent each way; `nil` when the rows disagree.
        public var bytesEachWay: Int?
        /// Transfers recorded.
        public var transfers: Int
        /// Per completed transfer, bytes per second each way, rounded.
        public var bytesPerSecond: [UInt64]

        /// Creates a series.
        public init(scenario: String, bytesEachWay: Int?, transfers: Int, bytesPerSecond: [UInt64]) {
            self.scenario = scenario
            self.bytesEachWay = bytesEachWay
            self.transfers = transfers
            self.bytesPerSecond = bytesPerSecond
        }
    }

    /// Where the folder was read from (for messages).
    public var location: String
    /// `meta.json`.
    public var metadata: RunMetadata
    /// Upgrade scenarios in the order `samples.csv` first names them.
    public var latency: [LatencySeries]
    /// Throughput scenarios in file order; empty without `throughput.csv`.
    public var throughput: [ThroughputSeries]
    /// What a reader should know about the folder's own consistency (a `summary.csv` median
    /// that disagrees with `samples.csv`, a file that could not be cross-checked).
    public var notes: [String]

    /// Reads the folder at `directory`.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem`` when `meta.json` or `samples.csv` is
    ///   missing or `meta.json` does not decode; ``UpgradeBenchError`` CSV codes when `samples.csv`
    ///   or `throughput.csv` is malformed or lacks a needed column.
    public init(directory: URL) throws {
        let location = directory.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw UpgradeBenchError.fileSystem("\(location) is not a folder")
        }
        func read(_ name: String, required: Bool) throws -> String? {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                guard required else { return nil }
                throw UpgradeBenchError.fileSystem("\(location) has no \(name)")
            }
            do {
                return String(decoding: try Data(contentsOf: url), as: UTF8.self)
            } catch {
                throw UpgradeBenchError.fileSystem("cannot read \(url.path): \(error)")
            }
        }
        let metadataText = try read("meta.json", required: true) ?? ""
        let metadata: RunMetadata
        do {
            metadata = try JSONDecoder().decode(RunMetadata.self, from: Data(metadataText.utf8))
        } catch {
            throw UpgradeBenchError.fileSystem("\(location)/meta.json does not decode: \(error)")
        }
        try self.init(
            location: location,
            metadata: metadata,
            samplesCSV: try read("samples.csv", required: true) ?? "",
            summaryCSV: try read("summary.csv", required: false),
            throughputCSV: try read("throughput.csv", required: false)
        )
    }

    /// A folder from its files' text (`nil` for a file that is absent).
    ///
    /// - Throws: ``UpgradeBenchError`` CSV codes when `samplesCSV` or `throughputCSV` is malformed
    ///   or lacks a needed column. A `summaryCSV` that cannot be used only adds a note.
    public init(
        location: String,
        metadata: RunMetadata,
        samplesCSV: String,
        summaryCSV: String?,
        throughputCSV: String?
    ) throws {
        self.location = location
        self.metadata = metadata
        let latency = try Self.latency(samplesCSV)
        self.latency = latency
        self.throughput = try throughputCSV.map(Self.throughput) ?? []
        self.notes = summaryCSV.map { Self.crossCheck(summary: $0, against: latency) } ?? []
    }

    /// The series of `scenario`, if the folder has it.
    public func latency(_ scenario: String) -> LatencySeries? { self.latency.first { $0.scenario == scenario } }

    /// The throughput series of `scenario`, if the folder has it.
    public func throughput(_ scenario: String) -> ThroughputSeries? {
        self.throughput.first { $0.scenario == scenario }
    }

    // MARK: - samples.csv

    private static func latency(_ text: String) throws -> [LatencySeries] {
        let document = try CSVDocument(parsing: text)
        let stageColumns = ConnectionStage.allCases.compactMap { stage in
            document.column("\(stage.columnName)_us").map { (stage, $0) }
        }
        guard let scenarioColumn = document.column("scenario"), !stageColumns.isEmpty else {
            throw UpgradeBenchError.csvHeaderMismatch(expected: SamplesCSV.header, found: document.header)
        }
        let errorColumn = document.column("error")
        var order: [String] = []
        var series: [String: LatencySeries] = [:]
        for (number, fields) in document.records.enumerated() {
            let name = fields[scenarioColumn]
            if series[name] == nil {
                order.append(name)
                series[name] = LatencySeries(scenario: name, connections: 0, failedConnections: 0, stages: [:])
            }
            series[name]?.connections += 1
            if let errorColumn, !fields[errorColumn].isEmpty { series[name]?.failedConnections += 1 }
            for (stage, column) in stageColumns where !fields[column].isEmpty {
                guard let value = UInt64(fields[column]) else {
                    throw UpgradeBenchError.invalidCSVField(
                        "\(document.header[column]) \"\(fields[column])\" is not a whole number of microseconds",
                        record: number + 1
                    )
                }
                series[name]?.stages[stage, default: []].append(value)
            }
        }
        return order.compactMap { series[$0] }
    }

    // MARK: - throughput.csv

    private static func throughput(_ text: String) throws -> [ThroughputSeries] {
        let document = try CSVDocument(parsing: text)
        guard let scenarioColumn = document.column("scenario"),
            let bytesColumn = document.column("bytes_each_way"),
            let elapsedColumn = document.column("elapsed_us")
        else {
            throw UpgradeBenchError.csvHeaderMismatch(expected: ThroughputCSV.header, found: document.header)
        }
        let errorColumn = document.column("error")
        var order: [String] = []
        var series: [String: ThroughputSeries] = [:]
        for (number, fields) in document.records.enumerated() {
            let name = fields[scenarioColumn]
            guard let bytes = Int(fields[bytesColumn]), bytes > 0 else {
                throw UpgradeBenchError.invalidCSVField(
                    "bytes_each_way \"\(fields[bytesColumn])\" is not a positive whole number",
                    record: number + 1
                )
            }
            if series[name] == nil {
                order.append(name)
                series[name] = ThroughputSeries(scenario: name, bytesEachWay: bytes, transfers: 0, bytesPerSecond: [])
            }
            series[name]?.transfers += 1
            if series[name]?.bytesEachWay != bytes { series[name]?.bytesEachWay = nil }
            let failed = errorColumn.map { !fields[$0].isEmpty } ?? false
            guard !failed, !fields[elapsedColumn].isEmpty else { continue }
            guard let elapsed = UInt64(fields[elapsedColumn]), elapsed > 0 else {
                throw UpgradeBenchError.invalidCSVField(
                    "elapsed_us \"\(fields[elapsedColumn])\" is not a positive whole number of microseconds",
                    record: number + 1
                )
            }
            // Bytes per second in whole units: rates become integers like the latencies, so one
            // rank test and one percentile rule serve both, and 1 B/s is far below any noise.
            let rate = (Double(bytes) * 1_000_000 / Double(elapsed)).rounded()
            series[name]?.bytesPerSecond.append(UInt64(rate))
        }
        return order.compactMap { series[$0] }
    }

    // MARK: - summary.csv

    /// Notes where `summary.csv`'s `p50_us` differs from the median of `samples.csv`: both come
    /// from one run, so a difference means a file was edited or truncated.
    private static func crossCheck(summary text: String, against latency: [LatencySeries]) -> [String] {
        let document: CSVDocument
        do {
            document = try CSVDocument(parsing: text)
        } catch {
            return ["summary.csv not cross-checked: \(error)"]
        }
        guard let scenarioColumn = document.column("scenario"),
            let stageColumn = document.column("stage"),
            let medianColumn = document.column("p50_us")
        else {
            return ["summary.csv not cross-checked: no scenario, stage and p50_us columns"]
        }
        let byName = Dictionary(latency.map { ($0.scenario, $0) }) { first, _ in first }
        var notes: [String] = []
        for fields in document.records {
            guard let stage = ConnectionStage(rawValue: fields[stageColumn]), !fields[medianColumn].isEmpty else {
                continue
            }
            let name = fields[scenarioColumn]
            guard let values = byName[name]?.stages[stage], !values.isEmpty else {
                notes.append("summary.csv has \(name) \(stage.columnName), samples.csv has no value for it")
                continue
            }
            let median = LatencyStatistics.percentile(50, ofSorted: values.sorted())
            if fields[medianColumn] != String(median) {
                notes.append(
                    "summary.csv gives \(name) \(stage.columnName) p50 \(fields[medianColumn]) us, "
                        + "samples.csv \(median) us"
                )
            }
        }
        return notes
    }
}
