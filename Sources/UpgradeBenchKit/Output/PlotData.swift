/// The data files `scripts/plot.sh` turns into PNGs, written to `gnuplot/` in the results folder.
///
/// All files are whitespace-separated columns for gnuplot, latencies in milliseconds, with a
/// `#` comment naming the columns. List files (`*.txt`) name the data files and legend labels
/// one per line, so the gnuplot scripts need no knowledge of the matrix.
public enum PlotData {
    /// One file: its name inside `gnuplot/` and its text.
    public struct File: Hashable, Sendable {
        /// The file name.
        public let name: String
        /// The text.
        public let contents: String
    }

    /// Every plot data file for `report`.
    ///
    /// - `cdf-<scenario>.dat`: the muxer_ready CDF of one scenario (`latency_ms fraction`).
    /// - `cdfgroup-<security>-<rtt>ms-<emulator>-c<n>.txt`: the CDF files to draw together (every
    ///   negotiation and multistream mode), `file label` per line.
    /// - `median-<security>-<negotiation>-<multistream>-c<n>.dat`: median muxer_ready against RTT
    ///   with the model line (`rtt_ms p50_ms theoretical_ms round_trips`); listed in `median-paths.txt`.
    /// - `saving-<security>-<multistream>-c<n>.dat`: early's saving against RTT
    ///   (`rtt_ms saving_ms saving_rtts theoretical_rtts`); listed in `saving-groups.txt`.
    /// - `stages-<rtt>ms-<emulator>.dat`: per scenario the median time spent in each stage interval
    ///   (differences of consecutive stage medians); listed in `stages-groups.txt`.
    public static func files(for report: RoundTripReport) -> [File] {
        var files: [File] = []
        files += self.cdfFiles(report)
        files += self.medianFiles(report)
        files += self.savingFiles(report)
        files += self.stageFiles(report)
        return files
    }

    // MARK: - CDF

    private static func cdfFiles(_ report: RoundTripReport) -> [File] {
        var files: [File] = []
        var groups: [(key: String, lines: [String])] = []
        for summary in report.summaries where !summary.sortedMuxerReady.isEmpty {
            let scenario = summary.scenario
            let name = "cdf-\(scenario.name).dat"
            var text = "# muxer_ready latency CDF of \(scenario.name) (\(summary.sortedMuxerReady.count) connections)\n"
            text += "# latency_ms fraction\n"
            let values = summary.sortedMuxerReady
            // A step function: each value lifts the fraction by 1/n; the first point sits at 0.
            text += "\(self.milliseconds(values[0])) 0\n"
            for (index, value) in values.enumerated() {
                text +=
                    "\(self.milliseconds(value)) \(FixedPoint.format(Double(index + 1) / Double(values.count), decimals: 6))\n"
            }
            files.append(File(name: name, contents: text))

            let key =
                "\(scenario.pairPrefix)\(scenario.security.rawValue)-\(scenario.rttMilliseconds)ms-\(Scenario.shellSafe(scenario.emulator.name))-c\(scenario.concurrency)"
            let line = "\(name) \(scenario.negotiation.rawValue)-\(scenario.multistream.rawValue)"
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].lines.append(line)
            } else {
                groups.append((key: key, lines: [line]))
            }
        }
        for group in groups {
            files.append(File(name: "cdfgroup-\(group.key).txt", contents: group.lines.joined(separator: "\n") + "\n"))
        }
        return files
    }

    // MARK: - Median against RTT

    private static func medianFiles(_ report: RoundTripReport) -> [File] {
        var paths: [(key: String, rows: [(rtt: Int, line: String)])] = []
        for summary in report.summaries {
            let scenario = summary.scenario
            guard let median = summary[.muxerReady].statistics?.p50 else { continue }
            let baseline: UInt64
            if scenario.rttMilliseconds == 0 {
                baseline = median
            } else {
                baseline =
                    RoundTripReport.baseline(for: scenario, in: report.summaries)?[.muxerReady].statistics?.p50 ?? 0
            }
            let roundTrips = report.model.roundTrips(to: .muxerReady, for: scenario)
            let theoretical = Double(baseline) / 1000 + Double(roundTrips * scenario.rttMilliseconds)
            let line =
                "\(scenario.rttMilliseconds) \(self.milliseconds(median)) \(FixedPoint.format(theoretical, decimals: 3)) \(roundTrips)"
            let key = "\(scenario.pairPrefix)\(scenario.pathName)-c\(scenario.concurrency)"
            if let index = paths.firstIndex(where: { $0.key == key }) {
                paths[index].rows.append((rtt: scenario.rttMilliseconds, line: line))
            } else {
                paths.append((key: key, rows: [(rtt: scenario.rttMilliseconds, line: line)]))
            }
        }
        guard !paths.isEmpty else { return [] }
        var files = paths.map { path in
            let rows = path.rows.sorted { $0.rtt < $1.rtt }.map(\.line)
            return File(
                name: "median-\(path.key).dat",
                contents: "# median muxer_ready of \(path.key) against RTT; theoretical = loopback median + k x RTT\n"
                    + "# rtt_ms p50_ms theoretical_ms round_trips\n" + rows.joined(separator: "\n") + "\n"
            )
        }
        files.append(File(name: "median-paths.txt", contents: paths.map(\.key).joined(separator: "\n") + "\n"))
        return files
    }

    // MARK: - Saving

    private static func savingFiles(_ report: RoundTripReport) -> [File] {
        var groups: [(key: String, rows: [(rtt: Int, line: String)])] = []
        // At muxer_ready; where another implementation dials, at first_echo, the stage it times
        // (its group's name says so).
        for saving in report.savings where saving.stage == saving.early.headlineStage && saving.rttMilliseconds > 0 {
            // Network round trips where the critical paths are known (what the gate checks), the
            // loopback-subtracted count beside them (what a user sees, cold computation included).
            guard let milliseconds = saving.savingMilliseconds,
                let roundTrips = saving.networkSavingRoundTrips ?? saving.savingRoundTrips
            else {
                continue
            }
            let early = saving.early
            let stage = saving.stage == .muxerReady ? "" : "-\(saving.stage.columnName)"
            let key = "\(early.pairPrefix)\(early.security.rawValue)-\(early.multistream.rawValue)-c\(early.concurrency)\(stage)"
            let measured = saving.savingRoundTrips.map { FixedPoint.format($0, decimals: 3) } ?? "NaN"
            let line =
                "\(early.rttMilliseconds) \(FixedPoint.format(milliseconds, decimals: 3)) "
                + "\(FixedPoint.format(roundTrips, decimals: 3)) \(saving.theoretical) \(measured)"
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].rows.append((rtt: early.rttMilliseconds, line: line))
            } else {
                groups.append((key: key, rows: [(rtt: early.rttMilliseconds, line: line)]))
            }
        }
        guard !groups.isEmpty else { return [] }
        var files = groups.map { group in
            File(
                name: "saving-\(group.key).dat",
                contents: "# saving of early over classic at "
                    + "\(group.key.hasSuffix("-first_echo") ? "first_echo" : "muxer_ready"), \(group.key)\n"
                    + "# rtt_ms saving_ms saving_rtts theoretical_rtts measured_saving_rtts\n"
                    + group.rows.sorted { $0.rtt < $1.rtt }.map(\.line).joined(separator: "\n") + "\n"
            )
        }
        files.append(File(name: "saving-groups.txt", contents: groups.map(\.key).joined(separator: "\n") + "\n"))
        return files
    }

    // MARK: - Stage breakdown

    private static func stageFiles(_ report: RoundTripReport) -> [File] {
        var groups: [(key: String, lines: [String])] = []
        for summary in report.summaries {
            let scenario = summary.scenario
            let medians = ConnectionStage.allCases.map { summary[$0].statistics?.p50 }
            guard medians.allSatisfy({ $0 != nil }) else { continue }
            var previous: UInt64 = 0
            var fields = ["\(scenario.pairPrefix)\(scenario.pathName)\(scenario.concurrency == 1 ? "" : "-c\(scenario.concurrency)")"]
            for median in medians {
                let value = median ?? previous
                // Medians of per-connection increasing timestamps increase too; clamp in case the
                // runner recorded an inconsistent connection.
                fields.append(self.milliseconds(value >= previous ? value - previous : 0))
                previous = max(previous, value)
            }
            let key = "\(scenario.rttMilliseconds)ms-\(Scenario.shellSafe(scenario.emulator.name))"
            let line = fields.joined(separator: " ")
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].lines.append(line)
            } else {
                groups.append((key: key, lines: [line]))
            }
        }
        guard !groups.isEmpty else { return [] }
        let header = (["scenario"] + ConnectionStage.allCases.map(\.intervalName)).map { "\"\($0)\"" }.joined(
            separator: " "
        )
        var files = groups.map { group in
            File(
                name: "stages-\(group.key).dat",
                contents: "# median ms per stage interval (differences of consecutive stage medians), \(group.key)\n"
                    + header + "\n" + group.lines.joined(separator: "\n") + "\n"
            )
        }
        files.append(File(name: "stages-groups.txt", contents: groups.map(\.key).joined(separator: "\n") + "\n"))
        return files
    }

    /// Microseconds as milliseconds with three decimals (exact).
    public static func milliseconds(_ microseconds: UInt64) -> String {
        let fraction = String(microseconds % 1000)
        return "\(microseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
