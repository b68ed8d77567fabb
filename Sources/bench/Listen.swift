import ArgumentParser
import Dispatch
import Foundation
import NIOCore
import NIOPosix
import P2PCore
import Upgrader

/// `bench listen`: serve upgrades until SIGINT or SIGTERM.
struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accept libp2p connections and upgrade them; serves /echo/1.0.0 and /ipfs/ping/1.0.0.",
        discussion: """
            Prints one JSON line {"multiaddr": "...", "peer_id": "..."} on stdout once it accepts \
            connections, then serves until SIGINT or SIGTERM. Logs go to stderr.
            """
    )

    @Option(help: "Where to listen, as a multiaddr; port 0 picks a free port.")
    var listen: String = "/ip4/127.0.0.1/tcp/0"

    @OptionGroup var upgrade: UpgradeOptions

    @Option(help: "32-byte hex seed of the Ed25519 identity (default: a new random identity).")
    var keySeed: String?

    @Flag(help: "Debug logging on stderr.")
    var verbose = false

    func run() async throws {
        UpgradeBench.bootstrapLogging(verbose: self.verbose)
        let address = try parseMultiaddr(self.listen)
        let identity = try identityKey(seed: self.keySeed)
        let host = try UpgradeHost(configuration: self.upgrade.configuration(identity: identity))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let listener = try await host.listen(host: address.hostText, port: address.port, group: group)

        var announced = address
        announced.port = listener.port
        announced.peerID = host.peerID
        try printJSONLine(["multiaddr": announced.description, "peer_id": host.peerID.description])

        await waitForTermination()
        try? await listener.close()
        try? await group.shutdownGracefully()
    }
}

/// Suspends until SIGINT or SIGTERM arrives.
func waitForTermination() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let queue = DispatchQueue(label: "upgradebench.signals")
        let resumed = ManagedFlag()
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                if resumed.set() { continuation.resume() }
            }
            source.resume()
            sources.append(source)
        }
        // The sources must outlive this closure; they live until the process ends.
        SignalSources.keep(sources)
    }
}

/// A flag that can be set once, from the signal queue only.
final class ManagedFlag: @unchecked Sendable {
    private var value = false
    /// Sets the flag; true the first time.
    func set() -> Bool {
        if self.value { return false }
        self.value = true
        return true
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    static func keep(_ new: [any DispatchSourceSignal]) { sources += new }
}
