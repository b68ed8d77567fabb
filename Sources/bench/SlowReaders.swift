import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import P2PCore
import UpgradeBenchKit
import Upgrader

/// `bench slow-readers`: hostile-but-valid peers against a listener's memory.
struct SlowReaders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slow-readers",
        abstract: "Hold N connections that send on one stream each and never read; report what got through.",
        discussion: """
            Each connection upgrades, opens /echo/1.0.0 (or /ipfs/ping/1.0.0), writes as fast as the \
            listener's yamux window allows and never grants the listener window back. A listener with \
            end-to-end backpressure stops crediting within a few 256 KiB windows. When nothing has moved \
            for half a second, prints one JSON line: bytes sent per connection (total, p50, max), whether \
            sending stalled, and, with --listener-pid on the same machine, the listener's resident memory \
            before the first dial and at the stall. Exit code 0, 1 when a connection failed, 2 for a bad \
            multiaddr.
            """
    )

    @Argument(help: "The listener, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")
    var multiaddr: String

    @OptionGroup var upgrade: UpgradeOptions

    @Option(help: "Connections held at once.")
    var connections: Int = 200

    @Option(
        help: """
            What each connection sends: echo or ping (one stream of that protocol, never read), or pings \
            (yamux ping requests on a connection that is never read at all).
            """
    )
    var stream: String = "echo"

    @Option(help: "The most each connection tries to send, in KiB; 0 opens the streams and sends nothing.")
    var kib: Int = 65536

    @Option(help: "Milliseconds without progress after which stream traffic counts as stalled.")
    var quietMs: Int64 = 500

    @Option(help: "The listener's process ID, to read its resident memory (/proc/PID/status).")
    var listenerPid: Int32?

    @Flag(help: "Debug logging on stderr.")
    var verbose = false

    func validate() throws {
        guard (1...10_000).contains(self.connections) else {
            throw ValidationError("--connections must be between 1 and 10000")
        }
        guard ["echo", "ping", "pings"].contains(self.stream) else {
            throw ValidationError("--stream takes echo, ping or pings")
        }
        guard (1...600_000).contains(self.quietMs) else { throw ValidationError("--quiet-ms must be 1 to 600000") }
        guard (0...(1 << 22)).contains(self.kib) else { throw ValidationError("--kib must be between 0 and 4194304") }
    }

    private var traffic: SlowReaderProbe.Traffic {
        switch self.stream {
        case "ping": return .stream(.ping)
        case "pings": return .pings
        default: return .stream(.echo)
        }
    }

    /// The protocol ID, or what is sent instead of a stream.
    private var trafficName: String {
        switch self.traffic {
        case .stream(let protocolID): return protocolID.description
        case .pings: return "yamux-ping-requests"
        }
    }

    func run() async throws {
        UpgradeBench.bootstrapLogging(verbose: self.verbose)
        let address = try parseMultiaddr(self.multiaddr)
        let host = try UpgradeHost(configuration: self.upgrade.configuration(identity: .generateEd25519()))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var probe = SlowReaderProbe(
            connections: self.connections,
            traffic: self.traffic,
            bytesPerConnection: self.kib * 1024
        )
        probe.quietPeriod = .milliseconds(self.quietMs)
        let pid = self.listenerPid
        let before = pid.flatMap { residentKilobytes(ofProcess: $0) }
        let atStall = NIOLockedValueBox<Int?>(nil)
        let outcome = await probe.run(
            host: host,
            address: (address.hostText, address.port),
            peer: address.peerID,
            group: group
        ) {
            // The peak: every connection still open, nothing moving.
            if let pid { atStall.withLockedValue { $0 = residentKilobytes(ofProcess: pid) } }
        }
        try? await group.shutdownGracefully()
        let sent = outcome.sentBytes.sorted()
        try printJSONLine(
            SlowReadersLine(
                stream: self.trafficName,
                connections: self.connections,
                opened: sent.count,
                failures: outcome.failures.count,
                firstFailure: outcome.failures.first,
                bytesPerConnection: probe.bytesPerConnection,
                sentTotal: sent.reduce(0, +),
                sentP50: sent.isEmpty ? 0 : sent[sent.count / 2],
                sentMax: sent.last ?? 0,
                stalled: outcome.stalled,
                seconds: outcome.elapsedSeconds,
                listenerRSSKiBBefore: before,
                listenerRSSKiBAtStall: atStall.withLockedValue { $0 }
            )
        )
        if !outcome.failures.isEmpty { throw ExitCode(1) }
    }
}

/// The one line `slow-readers` prints.
struct SlowReadersLine: Encodable {
    let stream: String
    let connections: Int
    let opened: Int
    let failures: Int
    let firstFailure: String?
    let bytesPerConnection: Int
    let sentTotal: Int
    let sentP50: Int
    let sentMax: Int
    let stalled: Bool
    let seconds: Double
    let listenerRSSKiBBefore: Int?
    let listenerRSSKiBAtStall: Int?

    enum CodingKeys: String, CodingKey {
        case stream, connections, opened, failures, stalled, seconds
        case firstFailure = "first_failure"
        case bytesPerConnection = "bytes_per_connection"
        case sentTotal = "sent_total"
        case sentP50 = "sent_p50"
        case sentMax = "sent_max"
        case listenerRSSKiBBefore = "listener_rss_kib_before"
        case listenerRSSKiBAtStall = "listener_rss_kib_at_stall"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.stream, forKey: .stream)
        try container.encode(self.connections, forKey: .connections)
        try container.encode(self.opened, forKey: .opened)
        try container.encode(self.failures, forKey: .failures)
        try container.encode(self.firstFailure, forKey: .firstFailure)
        try container.encode(self.bytesPerConnection, forKey: .bytesPerConnection)
        try container.encode(self.sentTotal, forKey: .sentTotal)
        try container.encode(self.sentP50, forKey: .sentP50)
        try container.encode(self.sentMax, forKey: .sentMax)
        try container.encode(self.stalled, forKey: .stalled)
        try container.encode(self.seconds, forKey: .seconds)
        // Null, not missing, without --listener-pid: every line has the same keys.
        try container.encode(self.listenerRSSKiBBefore, forKey: .listenerRSSKiBBefore)
        try container.encode(self.listenerRSSKiBAtStall, forKey: .listenerRSSKiBAtStall)
    }
}
