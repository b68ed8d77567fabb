/// The table `bench` prints on standard output at the end of a run.
///
/// Per scenario: connections, failures, p50 and p99 of dial → muxer_ready, measured against
/// theoretical round trips to muxer_ready, and for early scenarios the saving over classic.
/// Then the throughput scenarios and, if given, the check result.
public enum SummaryTable {
    /// The table text, ending with a line feed.
    public static func render(
        report: RoundTripReport,
        throughput: [ThroughputSummary] = [],
        check: CheckResult? = nil
    ) -> String {
        var rows: [[String]] = [
            ["scenario", "conns", "failed", "p50 ms", "p99 ms", "RTTs net/theory", "+compute", "early saves"]
        ]
        for summary in report.summaries {
            let scenario = summary.scenario
            let stage = scenario.headlineStage
            let statistics = summary[stage].statistics
            let roundTrips = report.roundTrips(for: scenario, at: stage)
            let theory = roundTrips?.theoretical.map(String.init) ?? "-"
            var rtts = "-"
            var extra = ""
            if scenario.rttMilliseconds > 0, let roundTrips {
                if scenario.concurrency > 1 {
                    rtts = "n/a (load)"
                } else if let network = roundTrips.network {
                    rtts = "\(FixedPoint.format(network, decimals: 2)) / \(theory)"
                } else {
                    // No critical path (relay): the loopback-subtracted count, marked.
                    rtts = "\(roundTrips.measured.map { FixedPoint.format($0, decimals: 2) } ?? "?")* / \(theory)"
                }
                if let excess = roundTrips.computeExcessMicroseconds {
                    extra = "\(FixedPoint.format(Double(excess) / 1000, decimals: 2)) ms"
                }
            }
            var saving = ""
            if scenario.negotiation == .early, let early = report.saving(for: scenario, at: stage),
                let milliseconds = early.savingMilliseconds
            {
                saving = "\(FixedPoint.format(milliseconds, decimals: 2)) ms"
                if let roundTrips = early.networkSavingRoundTrips ?? early.savingRoundTrips {
                    saving += " = \(FixedPoint.format(roundTrips, decimals: 2)) RTT (theory \(early.theoretical))"
                }
            }
            rows.append([
                scenario.name + (stage == .muxerReady ? "" : " (\(stage.columnName))"),
                String(summary.connections),
                String(summary.failedConnections),
                statistics.map { PlotData.milliseconds($0.p50) } ?? "-",
                statistics.map { PlotData.milliseconds($0.p99) } ?? "-",
                rtts,
                extra,
                saving,
            ])
        }
        var text =
            "dial -> muxer_ready, or first_echo where another implementation dials (RTTs: network round trips on "
            + "the critical path; +compute: its computation beyond loopback's; * loopback-subtracted)\n" + self.align(rows, leftColumns: [0, 7])

        if !throughput.isEmpty {
            var throughputRows: [[String]] = [["throughput", "runs", "failed", "median MB/s", "min", "max", "of TCP"]]
            for summary in throughput {
                throughputRows.append([
                    summary.scenario.name,
                    String(summary.completed + summary.failed),
                    String(summary.failed),
                    summary.medianMegabytesPerSecond.map { FixedPoint.format($0, decimals: 1) } ?? "-",
                    summary.minimumMegabytesPerSecond.map { FixedPoint.format($0, decimals: 1) } ?? "-",
                    summary.maximumMegabytesPerSecond.map { FixedPoint.format($0, decimals: 1) } ?? "-",
                    summary.scenario.transport == .tcp
                        ? "" : summary.fractionOfTCP.map { FixedPoint.format($0 * 100, decimals: 0) + " %" } ?? "-",
                ])
            }
            text += "\n" + self.align(throughputRows, leftColumns: [0])
        }
        if let check {
            text += "\n" + check.description + "\n"
        }
        return text
    }

    /// Columns padded to their widest cell; `leftColumns` left-aligned, the rest right-aligned;
    /// a dashed rule under the header.
    static func align(_ rows: [[String]], leftColumns: Set<Int>) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ row: [String]) -> String {
            var cells: [String] = []
            for index in 0..<columns {
                let cell = index < row.count ? row[index] : ""
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                cells.append(leftColumns.contains(index) ? cell + padding : padding + cell)
            }
            var joined = cells.joined(separator: "  ")
            while joined.last == " " { joined.removeLast() }
            return joined + "\n"
        }
        var text = ""
        for (index, row) in rows.enumerated() {
            text += line(row)
            if index == 0 { text += line(widths.map { String(repeating: "-", count: $0) }) }
        }
        return text
    }
}
