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
            (microseconds since the dial started), then one {"summary": {...}} line. The peer ID \
            in the multiaddr, when present, is checked. Exit code 0 when every connection \
            succeeded, 1 otherwise, 2 for a bad multiaddr.
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
        for _ in 0..<self.connections {
            let line: DialLine
            do {
                let connection = try await host.dial(
                    host: address.hostText, port: address.port, expectedPeer: address.peerID, group: group
                )
                var timeline = connection.outcome.timeline
                do {
                    let echoedAt = try await connection.echo(payload: ByteBuffer(string: "upgradebench")).get()
                    timeline.record(.firstEcho, at: echoedAt)
                    line = DialLine(outcome: connection.outcome, timeline: timeline, error: nil)
                    succeeded += 1
                    if let ready = timeline.microseconds(.muxerReady) { muxerReady.append(ready) }
                } catch {
                    line = DialLine(outcome: connection.outcome, timeline: timeline, error: "\(error)")
                }
                try? await connection.close().get()
            } catch {
                line = DialLine(failure: error, security: configuration.security.first)
            }
            try printJSONLine(line)
        }
        muxerReady.sort()
        let summary = DialSummary(
            connections: self.connections,
            succeeded: succeeded,
            failed: self.connections - succeeded,
            muxer_ready_p50_us: muxerReady.isEmpty ? nil : muxerReady[muxerReady.count / 2],
            muxer_ready_min_us: muxerReady.first,
            muxer_ready_max_us: muxerReady.last
        )
        try printJSONLine(["summary": summary])
        try? await group.shutdownGracefully()
        if succeeded != self.connections { throw ExitCode(1) }
    }
}

/// One `dial` result line.
struct DialLine: Encodable {
    let ok: Bool
    let security: String?
    let muxer: String?
    let early: Bool?
    let stages_us: [String: Double]
    let error: String?

    init(outcome: UpgradeOutcome, timeline: UpgradeTimeline, error: String?) {
        self.ok = error == nil
        self.security = outcome.secureChannel.security.protocolID.rawValue
        self.muxer = outcome.muxer.rawValue
        self.early = outcome.usedEarlyNegotiation
        var stages: [String: Double] = [:]
        for milestone in UpgradeMilestone.allCases {
            if let value = timeline.microseconds(milestone) { stages[milestone.rawValue] = (value * 10).rounded() / 10 }
        }
        self.stages_us = stages
        self.error = error
    }

    init(failure: any Error, security: UpgradeSecurity?) {
        self.ok = false
        self.security = nil
        self.muxer = nil
        self.early = nil
        self.stages_us = [:]
        self.error = "\(failure)"
    }

    func encode(to encoder: any Encoder) throws {
        // Nulls are written explicitly so every line has the same keys.
        enum Key: String, CodingKey { case ok, security, muxer, early, stages_us, error }
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(self.ok, forKey: .ok)
        try container.encode(self.security, forKey: .security)
        try container.encode(self.muxer, forKey: .muxer)
        try container.encode(self.early, forKey: .early)
        try container.encode(self.stages_us, forKey: .stages_us)
        try container.encode(self.error, forKey: .error)
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
}
