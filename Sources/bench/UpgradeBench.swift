import ArgumentParser
import UpgradeBenchKit

/// `bench`: the UpgradeBench command line. The logic lives in `UpgradeBenchKit`; this file only
/// parses arguments.
@main
struct UpgradeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure libp2p connection upgrades: early versus classic muxer negotiation.",
        discussion: """
            Without a subcommand, `bench` runs the default scenario matrix and writes its results \
            to results/<name>/.
            """,
        subcommands: [Run.self],
        defaultSubcommand: Run.self
    )
}

/// The default scenario matrix.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the scenario matrix and write CSV and HdrHistogram results."
    )

    func run() async throws {
        throw CleanExit.message(
            "The upgrade driver is not part of this build yet: the protocol modules are being built first."
        )
    }
}
