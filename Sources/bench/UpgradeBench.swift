import ArgumentParser
import Logging
import UpgradeBenchKit

/// `bench`: the UpgradeBench command line. The logic lives in `UpgradeBenchKit` and `Upgrader`;
/// these files only parse arguments and print.
@main
struct UpgradeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure libp2p connection upgrades: early versus classic muxer negotiation.",
        discussion: """
            Without a subcommand, `bench` runs the default scenario matrix (loopback plus emulated \
            round-trip times, Noise and TLS, classic and early negotiation, strict and lazy \
            multistream-select) and writes CSV, HdrHistogram and JSON results to results/<name>/.
            `listen` and `dial` run single upgrades against other libp2p implementations; \
            `slow-readers` checks a listener's memory against peers that send and never read. \
            `report` rebuilds a results folder's summary; `compare` compares two folders.
            """,
        subcommands: [Run.self, Listen.self, Dial.self, SlowReaders.self, Compare.self, Report.self],
        defaultSubcommand: Run.self
    )

    /// What a peer line calls this implementation's version: the commit it was built from (the
    /// package has no release numbers), `+dirty` for uncommitted changes.
    static var version: String {
        let git = RunMetadata.currentGit()
        guard let commit = git.commit else { return "unknown commit" }
        return String(commit.prefix(12)) + (git.dirty == true ? "+dirty" : "")
    }

    static func bootstrapLogging(verbose: Bool) {
        // Logs go to stderr: stdout carries results and JSON lines.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }
    }
}
