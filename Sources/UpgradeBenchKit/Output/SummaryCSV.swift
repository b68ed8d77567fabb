/// `summary.csv`: one row per scenario and stage with its statistics, round-trip counts and, for
/// early scenarios, the saving over the classic counterpart (columns in README.md ("Results" and "Round-trip accounting")).
public enum SummaryCSV {
    /// The header, in column order.
    public static let header = [
        "scenario", "security", "negotiation", "multistream", "rtt_ms", "emulator", "concurrency", "stage",
        "count", "failures", "min_us", "p50_us", "p90_us", "p99_us", "max_us", "mean_us",
        "measured_rtts", "theoretical_rtts", "saving_vs_classic_ms", "saving_vs_classic_rtts",
        "theoretical_saving_rtts", "path_rtt_us", "network_p10_us", "network_p50_us", "compute_p50_us", "network_rtts",
        "compute_excess_us", "network_saving_rtts", "dialer_impl", "listener_impl",
    ]

    /// The document for `report`, scenario by scenario, stages in order.
    public static func document(_ report: RoundTripReport) -> CSVDocument {
        var records: [[String]] = []
        for summary in report.summaries {
            let scenario = summary.scenario
            for stage in summary.stages {
                let statistics = stage.statistics
                let roundTrips = report.roundTrips(for: scenario, at: stage.stage)
                let saving =
                    scenario.negotiation == .early ? report.saving(for: scenario, at: stage.stage) : nil
                records.append([
                    scenario.name, scenario.security.rawValue, scenario.negotiation.rawValue,
                    scenario.multistream.rawValue,
                    String(scenario.rttMilliseconds), scenario.emulator.name, String(scenario.concurrency),
                    stage.stage.columnName, String(stage.count), String(stage.failures),
                    statistics.map { String($0.minimum) } ?? "",
                    statistics.map { String($0.p50) } ?? "",
                    statistics.map { String($0.p90) } ?? "",
                    statistics.map { String($0.p99) } ?? "",
                    statistics.map { String($0.maximum) } ?? "",
                    statistics.map { FixedPoint.format($0.mean, decimals: 1) } ?? "",
                    roundTrips?.measured.map { FixedPoint.format($0, decimals: 3) } ?? "",
                    roundTrips?.theoretical.map { String($0) } ?? "",
                    saving?.savingMilliseconds.map { FixedPoint.format($0, decimals: 3) } ?? "",
                    saving?.savingRoundTrips.map { FixedPoint.format($0, decimals: 3) } ?? "",
                    saving.map { String($0.theoretical) } ?? "",
                    roundTrips?.pathRTTMicroseconds.map { FixedPoint.format($0, decimals: 0) } ?? "",
                    roundTrips?.networkP10Microseconds.map { String($0) } ?? "",
                    roundTrips?.networkMedianMicroseconds.map { String($0) } ?? "",
                    roundTrips?.computeMedianMicroseconds.map { String($0) } ?? "",
                    roundTrips?.network.map { FixedPoint.format($0, decimals: 3) } ?? "",
                    roundTrips?.computeExcessMicroseconds.map { String($0) } ?? "",
                    saving?.networkSavingRoundTrips.map { FixedPoint.format($0, decimals: 3) } ?? "",
                    scenario.dialer.rawValue, scenario.listener.rawValue,
                ])
            }
        }
        return CSVDocument(header: self.header, records: records)
    }
}

/// `throughput.csv`: one row per transfer (columns in README.md ("Results" and "Round-trip accounting")).
public enum ThroughputCSV {
    /// The header, in column order.
    public static let header = [
        "scenario", "transport", "rtt_ms", "emulator", "repetition", "bytes_each_way", "elapsed_us", "mb_per_s",
        "error",
    ]

    /// The document for `results`, in the given order.
    public static func document(_ results: [ThroughputResult]) -> CSVDocument {
        CSVDocument(
            header: self.header,
            records: results.map { result in
                [
                    result.scenario.name, result.scenario.transport.rawValue, String(result.scenario.rttMilliseconds),
                    result.scenario.emulator.name, String(result.repetition), String(result.scenario.bytesEachWay),
                    result.elapsedMicroseconds.map { String($0) } ?? "",
                    result.megabytesPerSecond.map { FixedPoint.format($0, decimals: 1) } ?? "",
                    result.failure ?? "",
                ]
            }
        )
    }

    /// Reads `throughput.csv` back. Each row's `scenario` column must name one of `scenarios`
    /// (the run's throughput scenarios, as listed in `meta.json`) and its scenario columns must
    /// agree with it; `mb_per_s` is derived, so it is not read.
    ///
    /// - Throws: ``UpgradeBenchError`` for malformed CSV, another header, an unknown scenario or
    ///   a field that does not parse.
    public static func parse(_ text: String, scenarios: [ThroughputScenario]) throws -> [ThroughputResult] {
        let records = try CSVDocument.records(
            parsing: text, header: self.header, scenarios: scenarios, name: \.name, kind: "throughput scenario"
        )
        return try records.map { row, fields, scenario in
            let expected = [
                scenario.name, scenario.transport.rawValue, String(scenario.rttMilliseconds), scenario.emulator.name,
            ]
            guard Array(fields[0..<4]) == expected, fields[5] == String(scenario.bytesEachWay) else {
                throw UpgradeBenchError.invalidCSVField(
                    "scenario columns \(fields[0..<6].joined(separator: ",")) disagree with \(scenario.name)",
                    record: row
                )
            }
            guard let repetition = Int(fields[4]), repetition >= 0 else {
                throw UpgradeBenchError.invalidCSVField(
                    "repetition \"\(fields[4])\" is not a non-negative integer",
                    record: row
                )
            }
            var elapsed: UInt64? = nil
            if !fields[6].isEmpty {
                guard let value = UInt64(fields[6]) else {
                    throw UpgradeBenchError.invalidCSVField(
                        "elapsed_us \"\(fields[6])\" is not a whole number of microseconds",
                        record: row
                    )
                }
                elapsed = value
            }
            return ThroughputResult(
                scenario: scenario,
                repetition: repetition,
                elapsedMicroseconds: elapsed,
                failure: fields[8].isEmpty ? nil : fields[8]
            )
        }
    }
}
