/// The formats `bench compare` writes a ``ResultsComparison`` in.
public enum ComparisonFormat: String, Hashable, Sendable, CaseIterable {
    /// An aligned table for a terminal, warnings first.
    case text
    /// GitHub-flavoured Markdown, for a pull-request comment.
    case markdown
    /// One CSV record per compared row and per unmatched scenario or metric, full precision.
    case csv

    /// The format a file name's extension implies (`.md`, `.markdown`, `.csv`, `.txt`), if any.
    public init?(fileName: String) {
        let lowercased = fileName.lowercased()
        if lowercased.hasSuffix(".md") || lowercased.hasSuffix(".markdown") {
            self = .markdown
        } else if lowercased.hasSuffix(".csv") {
            self = .csv
        } else if lowercased.hasSuffix(".txt") {
            self = .text
        } else {
            return nil
        }
    }
}

extension ResultsComparison {
    /// The comparison in `format`, ending with a line feed.
    public func rendered(as format: ComparisonFormat) -> String {
        switch format {
        case .text: self.textReport()
        case .markdown: self.markdownReport()
        case .csv: self.csvDocument().encoded()
        }
    }

    /// The columns of ``ComparisonFormat/csv``.
    public static let csvHeader = [
        "scenario", "metric", "unit", "status", "base_n", "new_n", "base_median", "new_median", "change_pct",
        "ci_low_pct", "ci_high_pct", "confidence", "shift", "shift_ci_low", "shift_ci_high", "median_change_pct",
        "u", "p_value", "method", "verdict", "exceeds_threshold", "can_reach_significance",
    ]

    /// The CSV document: compared rows (`status` `compared`), then unmatched scenarios and
    /// metrics (`status` the ``Unmatched/Reason``, statistics empty).
    public func csvDocument() -> CSVDocument {
        var records: [[String]] = []
        for row in self.rows {
            let statistics = row.statistics
            let baseMedian = Double(statistics.baseMedian)
            records.append([
                row.scenario, row.metric.name, Self.csvUnit(row.metric), "compared",
                String(statistics.baseCount), String(statistics.newCount),
                String(statistics.baseMedian), String(statistics.newMedian),
                Self.fixed(row.relativeChange.map { $0 * 100 }, 3),
                Self.fixed(row.relativeInterval.map { $0.lowerBound * 100 }, 3),
                Self.fixed(row.relativeInterval.map { $0.upperBound * 100 }, 3),
                Self.fixed(statistics.confidence, 4),
                Self.fixed(statistics.shift, 1),
                Self.fixed(statistics.shiftInterval?.lowerBound, 1),
                Self.fixed(statistics.shiftInterval?.upperBound, 1),
                Self.fixed(
                    baseMedian > 0 ? (Double(statistics.newMedian) - baseMedian) / baseMedian * 100 : nil,
                    3
                ),
                Self.fixed(statistics.u, 1),
                "\(statistics.pValue)",
                statistics.method.rawValue,
                row.verdict.rawValue,
                row.exceedsThreshold ? "true" : "false",
                row.canReachSignificance ? "true" : "false",
            ])
        }
        for unmatched in self.unmatched {
            var record = [String](repeating: "", count: Self.csvHeader.count)
            record[0] = unmatched.scenario
            record[1] = unmatched.metric?.name ?? ""
            record[2] = unmatched.metric.map(Self.csvUnit) ?? ""
            record[3] = unmatched.reason.rawValue
            records.append(record)
        }
        return CSVDocument(header: Self.csvHeader, records: records)
    }

    // MARK: - Text

    private func textReport() -> String {
        var text = self.sideLines.map { $0 + "\n" }.joined()
        text += self.warnings.map { "warning: \($0)\n" }.joined()
        text += "\n"
        if !self.rows.isEmpty {
            text += SummaryTable.align(
                [self.tableHeader] + self.rows.map { self.cells($0, markdown: false) },
                leftColumns: [0, 1, 8]
            )
            text += "\n"
        }
        text += self.unmatchedLines.map { $0 + "\n" }.joined()
        text += self.legend + "\n"
        text += self.resultLine + "\n"
        return text
    }

    // MARK: - Markdown

    private func markdownReport() -> String {
        var text = "### bench compare\n\n"
        text += self.sideLines.map { $0 + "  \n" }.joined()
        if !self.warnings.isEmpty {
            text += "\n**Warnings**: the runs differ beyond the code under test.\n\n"
            text += self.warnings.map { "- \(Self.markdownEscaped($0))\n" }.joined()
        }
        text += "\n"
        if !self.rows.isEmpty {
            let header = self.tableHeader
            let alignments = header.indices.map { [0, 1, 8].contains($0) ? ":--" : "--:" }
            text += "| " + header.joined(separator: " | ") + " |\n"
            text += "|" + alignments.joined(separator: "|") + "|\n"
            for row in self.rows {
                text += "| " + self.cells(row, markdown: true).joined(separator: " | ") + " |\n"
            }
            text += "\n"
        }
        text += self.unmatchedLines.map { "- \(Self.markdownEscaped($0))\n" }.joined()
        if !self.unmatchedLines.isEmpty { text += "\n" }
        text += "_\(Self.markdownEscaped(self.legend))_\n\n"
        text += "**\(Self.markdownEscaped(self.resultLine))**\n"
        return text
    }

    private static func markdownEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "|", "*", "_", "`", "<", ">", "[", "]": escaped += "\\\(character)"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    // MARK: - Shared pieces

    private var sideLines: [String] {
        [("base", self.base), ("new ", self.new)].map { label, side in
            var facts = [side.name]
            if let commit = side.commit {
                facts.append("commit \(commit.prefix(12))\(side.dirty == true ? " (dirty)" : "")")
            }
            facts.append("started \(side.startedAt)")
            return "\(label): \(side.location) (\(facts.joined(separator: ", ")))"
        }
    }

    private var confidenceLabel: String { "\(Self.number((1 - self.options.alpha) * 100)) %" }

    private var tableHeader: [String] {
        ["scenario", "metric", "n base/new", "base", "new", "change", "\(self.confidenceLabel) CI", "p", "verdict"]
    }

    private func cells(_ row: Row, markdown: Bool) -> [String] {
        let statistics = row.statistics
        var verdict: String
        switch row.verdict {
        case .faster: verdict = "faster"
        case .slower:
            verdict = row.exceedsThreshold ? "slower, beyond \(Self.number(self.options.thresholdPercent)) %" : "slower"
            if markdown && row.exceedsThreshold { verdict = "**\(verdict)**" }
        case .noSignificantChange: verdict = row.canReachSignificance ? "no change" : "no change (too few)"
        }
        let interval = row.relativeInterval.map {
            "[\(Self.signedPercent($0.lowerBound)), \(Self.signedPercent($0.upperBound))] %"
        }
        return [
            row.scenario,
            row.metric.name,
            "\(statistics.baseCount)/\(statistics.newCount)",
            Self.value(statistics.baseMedian, row.metric),
            Self.value(statistics.newMedian, row.metric),
            row.relativeChange.map { "\(Self.signedPercent($0)) %" } ?? "-",
            interval ?? "n/a",
            Self.pValue(statistics.pValue),
            verdict,
        ]
    }

    private var unmatchedLines: [String] {
        var lines: [String] = []
        let groups: [(Unmatched.Reason, String)] = [
            (.onlyInBase, "only in base"), (.onlyInNew, "only in new"),
            (.noBaseSamples, "no samples in base"), (.noNewSamples, "no samples in new"),
        ]
        for (reason, label) in groups {
            let names = self.unmatched.filter { $0.reason == reason }.map { unmatched in
                unmatched.metric.map { "\(unmatched.scenario) \($0.name)" } ?? unmatched.scenario
            }
            if !names.isEmpty { lines.append("\(label): \(names.joined(separator: ", "))") }
        }
        return lines
    }

    private var legend: String {
        "change: Hodges-Lehmann shift over the base median, with its \(self.confidenceLabel) confidence interval; "
            + "p: two-sided Mann-Whitney U (exact below \(RankComparison.exactLimit) samples, else normal "
            + "approximation with tie correction); alpha \(Self.number(self.options.alpha)) per row"
    }

    private var resultLine: String {
        let threshold = "\(Self.number(self.options.thresholdPercent)) %"
        switch self.outcome {
        case .unusable(let reason):
            return "result: nothing to compare: \(reason)"
        case .regressed(let rows):
            let list = rows.map { row in
                "\(row.scenario) \(row.metric.name) (\(row.slowdown.map { Self.signedPercent($0) + " %" } ?? "from 0"))"
            }
            return "result: \(rows.count) of \(self.rows.count) rows significantly slower by more than \(threshold): "
                + list.joined(separator: ", ")
        case .passed:
            let slower = self.rows.count { $0.verdict == .slower }
            let faster = self.rows.count { $0.verdict == .faster }
            return "result: no row significantly slower by more than \(threshold) (of \(self.rows.count) rows: "
                + "\(slower) slower within the threshold, \(faster) faster)"
        }
    }

    // MARK: - Numbers

    private static func csvUnit(_ metric: Metric) -> String {
        switch metric {
        case .latency: "us"
        case .throughput: "B/s"
        }
    }

    private static func value(_ value: UInt64, _ metric: Metric) -> String {
        switch metric {
        case .latency: "\(PlotData.milliseconds(value)) ms"
        case .throughput: "\(FixedPoint.format(Double(value) / 1_000_000, decimals: 1)) MB/s"
        }
    }

    /// `+3.2` or `-0.4` (fraction 0.032 and −0.004), one decimal.
    private static func signedPercent(_ fraction: Double) -> String {
        let text = FixedPoint.format(fraction * 100, decimals: 1)
        return text.hasPrefix("-") ? text : "+\(text)"
    }

    /// Four decimals below 0.1, so a p value just under 0.05 never reads as 0.050 beside a verdict.
    private static func pValue(_ p: Double) -> String {
        if p < 0.001 { return "<0.001" }
        return FixedPoint.format(p, decimals: p < 0.1 ? 4 : 3)
    }

    private static func fixed(_ value: Double?, _ decimals: Int) -> String {
        value.map { FixedPoint.format($0, decimals: decimals) } ?? ""
    }

    /// A short number for labels: up to three decimals, without trailing zeros.
    private static func number(_ value: Double) -> String {
        var text = FixedPoint.format(value, decimals: 3)
        while text.contains("."), text.last == "0" { text.removeLast() }
        if text.last == "." { text.removeLast() }
        return text
    }
}
