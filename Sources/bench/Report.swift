import ArgumentParser
import Foundation
import UpgradeBenchKit

/// `bench report FOLDER`: rebuilds a results folder's summary from its records.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild summary.csv, the .hgrm files and gnuplot/ of a results folder, complete or not.",
        discussion: """
            Reads meta.json, samples.csv and throughput.csv (the records a run keeps current as it \
            goes) and writes summary.csv, one .hgrm per scenario and the plot data in gnuplot/ exactly \
            as a completed run does, for the scenarios whose rows are all there. Works on folders of \
            interrupted, failed or killed runs. Prints the summary table and how the run ended. Exit \
            code 2 when the folder cannot be read or is not a results folder (docs/results.md).
            """
    )

    @Argument(help: "The results folder, e.g. results/2026-11-25-140307.")
    var folder: String

    func run() throws {
        let directory = URL(fileURLWithPath: self.folder, isDirectory: true)
        let folder: ResultsFolder
        let files: [String]
        do {
            folder = try ResultsFolder(directory: directory)
            files = try folder.rebuild()
        } catch let error as UpgradeBenchError {
            throw inputError("\(self.folder): \(error.diagnostics) (\(error.code))")
        }
        for note in folder.notes {
            printError("report: \(note)")
        }
        print(SummaryTable.render(report: folder.report, throughput: folder.results.throughputSummaries()))
        print("run: \(folder.metadata.statusDescription)")
        print("rebuilt: \(directory.path) (\(files.count) files); plots: scripts/plot.sh \(directory.path)")
    }
}
