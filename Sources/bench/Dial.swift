import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import P2PCore
import Upgrader

/// `bench dial`: sequential upgrades to one peer, one JSON line each.
struct Dial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dial a libp2p peer N times, upgrade, echo once per connection; print JSON lines.",
        discussion: """
            Prints one line per connection: {"ok", "security", "muxer", "early", "stages_us": \
            {tcp_connected, security_agreed, handshake_done, muxer_ready, first_echo}, "error"} \
            (microseconds since the dial started; null for a stage not reached, and a failed \
            connection keeps the stages it reached, with "error": "stage: reason"), then one \
            {"summary": {...}} line. The peer ID in the multiaddr, when present, is checked. \
            Exit code 0 when every connection succeeded, 1 otherwise, 2 for a bad multiaddr.
            """
    )

    @Argument(help: "The peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")
    var multiaddr: String

    @OptionGroup var upgrade: UpgradeOptions

    @Option(help: "Strict or lazy multistream-select: strict, lazy.")
    var multistream: MultistreamMode = .strict

    @Option(help: "Connections to make, one after another.")
    var connections: Int = 1

    @Flag(help: "Debug logging on stderr.")
    var verbose = false

    func validate() throws {
        guard self.connections >= 1 && self.connections <= 1_000_000 else {
            throw ValidationError("--connections must be between 1 and 1000000")
        }
    }

    func run() async throws {
        UpgradeBench.bootstrapLogging(verbose: self.verbose)
        let address = try parseMultiaddr(self.multiaddr)
        var configuration = self.upgrade.configuration(identity: .generateEd25519())
        configuration.multistream = self.multistream
        let host = try UpgradeHost(configuration: configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

        var succeeded = 0
        var muxerReady: [Double] = []
        do {
            for _ in 0..<self.connections {
                let line = await Self.dialOnce(host: host, address: address, group: group)
                if line.ok {
                    succeeded += 1
                    if let ready = line.stages.microseconds[.muxerReady] { muxerReady.append(ready) }
                }
                try printJSONLine(line)
            }
            try printJSONLine(["summary": DialSummary(connections: self.connections, succeeded: succeeded, muxerReady: muxerReady)])
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        if succeeded != self.connections { throw ExitCode(1) }
    }

    /// One connection: dial, upgrade, one echo, close. Never throws: a failure becomes the line.
    private static func dialOnce(host: UpgradeHost, address: Multiaddr, group: any EventLoopGroup) async -> DialLine {
        let connection: UpgradedConnection
        do {
            connection = try await host.dial(host: address.hostText, port: address.port, expectedPeer: address.peerID, group: group)
        } catch let error as UpgradeError {
            return DialLine(failure: error)
        } catch {
            // `dial` fails with `UpgradeError`s only; anything else happened before the connection.
            return DialLine(failure: UpgradeError(stage: .tcpConnect, underlying: error))
        }
        var timeline = connection.outcome.timeline
        let line: DialLine
        do {
            let echoedAt = try await connection.echo(payload: ByteBuffer(string: "upgradebench")).get()
            timeline.record(.firstEcho, at: echoedAt)
            line = DialLine(outcome: connection.outcome, timeline: timeline, error: nil)
        } catch {
            // `echo` fails with an `UpgradeError` at stage first_stream, which prints as `stage: reason`.
            line = DialLine(outcome: connection.outcome, timeline: timeline, error: "\(error)")
        }
        try? await connection.close().get()
        return line
    }
}

/// One `dial` result line: `ok, security, muxer, early, stages_us, error`, every key on every
/// line (null when unknown), as scripts driving other implementations expect one shape.
struct DialLine: Encodable {
    let ok: Bool
    /// The security protocol ID, once agreed.
    let security: String?
    /// The muxer protocol ID, once the muxer runs.
    let muxer: String?
    /// Whether the muxer came from the handshake; null when the upgrade did not get that far.
    let early: Bool?
    let stages: DialStages
    /// `stage: reason`, or null for a connection that echoed.
    let error: String?

    /// A connection whose upgrade succeeded; `error` is set when its echo stream failed.
    init(outcome: UpgradeOutcome, timeline: UpgradeTimeline, error: String?) {
        self.ok = error == nil
        self.security = outcome.secureChannel.security.protocolID.rawValue
        self.muxer = outcome.muxer.rawValue
        self.early = outcome.usedEarlyNegotiation
        self.stages = DialStages(timeline)
        self.error = error
    }

    /// A connection whose upgrade failed: the stages it reached before the failure stay in the line.
    init(failure: UpgradeError) {
        self.ok = false
        self.security = failure.security?.protocolID.rawValue
        self.muxer = nil
        self.early = nil
        self.stages = DialStages(failure.timeline)
        self.error = failure.description
    }

    func encode(to encoder: any Encoder) throws {
        // Nulls are written explicitly so every line has the same keys.
        enum Key: String, CodingKey { case ok, security, muxer, early, stages_us, error }
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(self.ok, forKey: .ok)
        try container.encode(self.security, forKey: .security)
        try container.encode(self.muxer, forKey: .muxer)
        try container.encode(self.early, forKey: .early)
        try container.encode(self.stages, forKey: .stages_us)
        try container.encode(self.error, forKey: .error)
    }
}

/// The `stages_us` object: every milestone, in microseconds since the dial started (one decimal),
/// or null when the connection did not reach it.
struct DialStages: Encodable {
    let microseconds: [UpgradeMilestone: Double]

    /// The milestones of `timeline`; all null without one (a failure before the dial started).
    init(_ timeline: UpgradeTimeline?) {
        var microseconds: [UpgradeMilestone: Double] = [:]
        for milestone in UpgradeMilestone.allCases {
            if let value = timeline?.microseconds(milestone) { microseconds[milestone] = (value * 10).rounded() / 10 }
        }
        self.microseconds = microseconds
    }

    func encode(to encoder: any Encoder) throws {
        struct Key: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        var container = encoder.container(keyedBy: Key.self)
        for milestone in UpgradeMilestone.allCases {
            try container.encode(self.microseconds[milestone], forKey: Key(stringValue: milestone.rawValue))
        }
    }
}

/// The `dial` summary line.
struct DialSummary: Encodable {
    let connections: Int
    let succeeded: Int
    let failed: Int
    let muxer_ready_p50_us: Double?
    let muxer_ready_min_us: Double?
    let muxer_ready_max_us: Double?

    /// Counts and the dial → muxer ready statistics of the successful connections.
    init(connections: Int, succeeded: Int, muxerReady: [Double]) {
        let sorted = muxerReady.sorted()
        self.connections = connections
        self.succeeded = succeeded
        self.failed = connections - succeeded
        // Nearest rank, as everywhere in UpgradeBench: rank ⌈n/2⌉, the lower middle of an even count.
        self.muxer_ready_p50_us = sorted.isEmpty ? nil : sorted[(sorted.count + 1) / 2 - 1]
        self.muxer_ready_min_us = sorted.first
        self.muxer_ready_max_us = sorted.last
    }

    func encode(to encoder: any Encoder) throws {
        // Explicit nulls, as in the connection lines, so the summary always has the same keys.
        enum Key: String, CodingKey {
            case connections, succeeded, failed, muxer_ready_p50_us, muxer_ready_min_us, muxer_ready_max_us
        }
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(self.connections, forKey: .connections)
        try container.encode(self.succeeded, forKey: .succeeded)
        try container.encode(self.failed, forKey: .failed)
        try container.encode(self.muxer_ready_p50_us, forKey: .muxer_ready_p50_us)
        try container.encode(self.muxer_ready_min_us, forKey: .muxer_ready_min_us)
        try container.encode(self.muxer_ready_max_us, forKey: .muxer_ready_max_us)
    }
}
