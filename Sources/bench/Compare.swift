import ArgumentParser
import Foundation
import UpgradeBenchKit

/// `bench compare BASE NEW`: two result folders compared row by row (docs/compare.md). The
/// statistics and the reports live in `UpgradeBenchKit` (``ResultsComparison``); this parses,
/// prints and maps the outcome to the exit status.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two result folders: medians, relative change with confidence interval, Mann-Whitney U.",
        discussion: """
            Compares NEW against BASE (for example a pull request against main, run on the same \
            machine) for every scenario and stage of samples.csv and every throughput scenario, and \
            prints warnings for anything other than the code that differs between the two runs \
            (machine, build, libraries, emulator calibration). Exit status: 0 when no row is \
            significantly slower by more than --threshold, 1 when one is (they are listed on \
            stderr), 2 when the input cannot be compared (a missing file, no scenario in common).
            """
    )

    @Argument(help: "The baseline results folder (for example from main).")
    var base: String

    @Argument(help: "The results folder to judge (for example from a pull request).")
    var new: String

    @Option(help: "Fail (exit 1) when a row is significantly slower by more than this many percent.")
    var threshold: Double = 5

    @Option(help: "Significance level of each row's test; confidence intervals are at 1 - alpha.")
    var alpha: Double = 0.05

    @Option(help: "Format on stdout: text, markdown or csv.")
    var format: ComparisonFormat = .text

    @Option(
        help: ArgumentHelp(
            "Also write the report to this file (repeatable).",
            discussion: "The format follows the extension (.md, .csv, .txt), otherwise --format."
        )
    )
    var output: [String] = []

    @Option(help: "Stages to compare, comma-separated (default: all): tcp_connected, ..., first_echo.")
    var stages: String?

    @Option(help: "Compare only scenarios whose name contains one of these, comma-separated (e.g. 20ms,10ms).")
    var scenarios: String?

    func validate() throws {
        guard self.alpha > 0, self.alpha < 0.5 else { throw ValidationError("--alpha must be in (0, 0.5)") }
        guard self.threshold >= 0, self.threshold.isFinite else {
            throw ValidationError("--threshold must be a non-negative percentage")
        }
        _ = try self.stageList()
    }

    func run() throws {
        let comparison: ResultsComparison
        do {
            let base = try ComparedRun(directory: URL(fileURLWithPath: self.base, isDirectory: true))
            let new = try ComparedRun(directory: URL(fileURLWithPath: self.new, isDirectory: true))
            comparison = ResultsComparison(
                base: base,
                new: new,
                options: .init(
                    alpha: self.alpha,
                    thresholdPercent: self.threshold,
                    stages: try self.stageList(),
                    scenarioFilter: self.scenarios.map { text in
                        text.split(separator: ",")
                            .map { $0.trimmingCharacters(in: .whitespaces) }
                            .filter { !$0.isEmpty }
                    } ?? []
                )
            )
        } catch let error as UpgradeBenchError {
            Self.standardError("compare: unusable input: \(error.diagnostics)")
            throw ExitCode(2)
        }

        switch self.format {
        case .csv:
            // The CSV on stdout is one table; the warnings still reach the reader.
            for warning in comparison.warnings { Self.standardError("compare: warning: \(warning)") }
        case .text, .markdown:
            break
        }
        print(comparison.rendered(as: self.format), terminator: "")
        for path in self.output {
            let format = ComparisonFormat(fileName: path) ?? self.format
            do {
                try Data(comparison.rendered(as: format).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                Self.standardError("compare: cannot write \(path): \(error)")
                throw ExitCode(2)
            }
        }

        switch comparison.outcome {
        case .passed:
            return
        case .regressed(let rows):
            Self.standardError(
                "compare: \(rows.count) rows significantly slower by more than "
                    + "\(FixedPointLabel.percent(self.threshold)):"
            )
            for row in rows {
                let slowdown = row.slowdown.map { FixedPointLabel.percent($0 * 100) } ?? "from a median of 0"
                let p = String(format: "%.2g", row.statistics.pValue)
                Self.standardError("  \(row.scenario) \(row.metric.name): +\(slowdown), p \(p)")
            }
            throw ExitCode(1)
        case .unusable(let reason):
            Self.standardError("compare: unusable input: \(reason)")
            throw ExitCode(2)
        }
    }

    private func stageList() throws -> [ConnectionStage] {
        guard let stages = self.stages else { return ConnectionStage.allCases }
        return try stages.split(separator: ",").map { name in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let stage = ConnectionStage(rawValue: trimmed) else {
                let known = ConnectionStage.allCases.map(\.columnName).joined(separator: ", ")
                throw ValidationError("unknown stage \"\(trimmed)\" in --stages; known: \(known)")
            }
            return stage
        }
    }

    private static func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Percentages for messages, two decimals at most.
private enum FixedPointLabel {
    static func percent(_ value: Double) -> String { String(format: "%.2f %%", value) }
}

extension ComparisonFormat: ExpressibleByArgument {}
