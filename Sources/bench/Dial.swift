import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers
import P2PCore
import UpgradeBenchKit
import Upgrader

/// `bench dial`: sequential upgrades to one peer, one JSON line each.
struct Dial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dial a libp2p peer N times, upgrade, echo once per connection; print JSON lines.",
        discussion: """
            Speaks the dial side of the peer contract (docs/peers.md). Prints one line per \
            connection: {"ok", "security", "muxer", "early", "stages_us": {tcp_connected, \
            security_agreed, handshake_done, muxer_ready, first_echo}, "own_us": {}, \
            "start_monotonic_ns", "error"} \
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

    @Option(
        help: """
            Milliseconds to wait between connections. Some listeners free a closed connection's \
            per-peer slot only after their teardown (py-libp2p 0.8.1: about 110 ms, 8 slots per peer), \
            so back-to-back dials from one identity can exceed their limit.
            """
    )
    var intervalMs: Int = 0

    @Option(
        help: """
            The --trace-file of the `bench listen` being dialed (same machine): each line then also \
            splits every stage into time on the network and computation along the connection's \
            critical path ("network_us", "flights"), as the matrix runner does.
            """
    )
    var listenerTrace: String?

    @Flag(help: "Debug logging on stderr.")
    var verbose = false

    func validate() throws {
        guard self.connections >= 1 && self.connections <= 1_000_000 else {
            throw ValidationError("--connections must be between 1 and 1000000")
        }
        guard (0...60_000).contains(self.intervalMs) else {
            throw ValidationError("--interval-ms must be between 0 and 60000")
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
        var statistics = DialSummary.Collected()
        let reader = self.listenerTrace.map { ListenerTraceReader(path: $0) }
        do {
            for index in 0..<self.connections {
                if index > 0 && self.intervalMs > 0 { try await Task.sleep(for: .milliseconds(self.intervalMs)) }
                var line = await Self.dialOnce(host: host, address: address, group: group, traced: reader != nil)
                if let reader {
                    await line.split(using: reader)
                }
                if line.ok {
                    succeeded += 1
                    statistics.add(line)
                }
                try printJSONLine(line)
            }
            try printJSONLine([
                "summary": DialSummary(
                    connections: self.connections,
                    succeeded: succeeded,
                    statistics: statistics,
                    traced: reader != nil
                )
            ])
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        if succeeded != self.connections { throw ExitCode(1) }
    }

    /// One connection: dial, upgrade, one echo, close. Never throws: a failure becomes the line.
    private static func dialOnce(
        host: UpgradeHost,
        address: Multiaddr,
        group: any EventLoopGroup,
        traced: Bool
    ) async -> DialLine {
        let activity = traced ? WireActivity() : nil
        var prepare: (@Sendable (any Channel) throws -> Void)? = nil
        let synRoundTrip = NIOLockedValueBox<UInt64?>(nil)
        if let activity {
            prepare = { @Sendable (channel: any Channel) throws -> Void in
                try channel.pipeline.syncOperations.addHandlers([
                    WireActivityRecorder(activity: activity), SYNRoundTripProbe(into: synRoundTrip),
                ])
            }
        }
        let connection: UpgradedConnection
        do {
            connection = try await host.dial(
                host: address.hostText,
                port: address.port,
                expectedPeer: address.peerID,
                group: group,
                prepareChannel: prepare
            )
        } catch let error as UpgradeError {
            return DialLine(failure: error, traced: traced)
        } catch {
            // `dial` fails with `UpgradeError`s only; anything else happened before the connection.
            return DialLine(failure: UpgradeError(stage: .tcpConnect, underlying: error), traced: traced)
        }
        var timeline = connection.outcome.timeline
        var line: DialLine
        do {
            let echoedAt = try await connection.echo(payload: ByteBuffer(string: "upgradebench")).get()
            timeline.record(.firstEcho, at: echoedAt)
            line = DialLine(outcome: connection.outcome, timeline: timeline, error: nil, traced: traced)
        } catch {
            // `echo` fails with an `UpgradeError` at stage first_stream, which prints as `stage: reason`.
            line = DialLine(outcome: connection.outcome, timeline: timeline, error: "\(error)", traced: traced)
        }
        // The kernel's sample of the SYN's round trip: the connect's share of the path (see
        // CriticalPath.split(connectNetworkNanoseconds:)).
        line.connectRoundTripNanoseconds = synRoundTrip.withLockedValue { $0 }
        try? await connection.close().get()
        line.activity = activity
        return line
    }
}

/// Reads the kernel's round-trip estimate of a dialed connection the moment it becomes active:
/// before any data, `TCP_INFO`'s `tcpi_rtt` is the one sample the handshake gave, SYN to SYN-ACK.
/// (Read later, it is a smoothed mix of data round trips, which a peer's delayed ACKs can stretch.)
final class SYNRoundTripProbe: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let result: NIOLockedValueBox<UInt64?>

    init(into result: NIOLockedValueBox<UInt64?>) { self.result = result }

    func channelActive(context: ChannelHandlerContext) {
        if let provider = context.channel as? any SocketOptionProvider {
            // On the channel's event loop the option is read at once.
            let result = self.result
            provider.getTCPInfo().whenSuccess { info in
                result.withLockedValue { $0 = UInt64(info.tcpi_rtt) * 1000 }
            }
        }
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension SYNRoundTripProbe: Sendable {}

/// Finds, in a `bench listen --trace-file`, the listener's record of each connection `dial` made:
/// the first one not yet taken that the listener accepted while the connection was being set up.
/// Connections are sequential, so acceptance order is dial order.
final class ListenerTraceReader: Sendable {
    /// How long to wait for the listener's line: it is written when the listener sees the
    /// connection close, which a delaying path holds back by its one-way delay.
    static let waitSeconds = 3.0
    let path: String

    /// What has been read of the file: up to its last complete line, and the traces not yet taken.
    private struct State {
        var consumedBytes = 0
        var pending: [ConnectionTrace] = []
    }

    private let state = NIOLockedValueBox(State())

    init(path: String) { self.path = path }

    /// The listener's trace of the connection the dialer started at `start` and had set up by
    /// `end` (monotonic nanoseconds), or nil when none appears in time.
    func trace(acceptedBetween start: UInt64, and end: UInt64) async -> ConnectionTrace? {
        let deadline = NIODeadline.now() + .milliseconds(Int64(Self.waitSeconds * 1000))
        while NIODeadline.now() < deadline {
            let found = self.state.withLockedValue { state -> ConnectionTrace? in
                self.readNewLines(into: &state)
                // Dials are sequential: a trace accepted before this dial started belongs to an
                // earlier connection that found no match, and never will.
                state.pending.removeAll { $0.acceptedNanoseconds < start }
                guard let index = state.pending.firstIndex(where: { $0.acceptedNanoseconds <= end }) else { return nil }
                return state.pending.remove(at: index)
            }
            if let found { return found }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Parses the complete lines appended since the last read; a line still being written waits
    /// for the next.
    private func readNewLines(into state: inout State) {
        guard let handle = FileHandle(forReadingAtPath: self.path) else { return }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(state.consumedBytes))) != nil,
            let data = try? handle.readToEnd(),
            let lastNewline = data.lastIndex(of: UInt8(ascii: "\n"))
        else { return }
        let complete = data[data.startIndex...lastNewline]
        state.consumedBytes += complete.count
        let traces = ConnectionTrace.parseLines(String(decoding: complete, as: UTF8.self))
        state.pending += traces.sorted { $0.acceptedNanoseconds < $1.acceptedNanoseconds }
    }
}

/// One `dial` result line: `ok, security, muxer, early, stages_us, error`, every key on every
/// line (null when unknown), as scripts driving other implementations expect one shape; with
/// `--listener-trace`, also `network_us` and `flights` (null per stage where the listener's trace
/// could not explain it).
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
    /// Whether the line carries the critical-path keys.
    let traced: Bool
    /// The milestones, on the monotonic clock, for the critical-path split.
    let timeline: UpgradeTimeline?
    /// The dialer's socket activity, when traced.
    var activity: WireActivity?
    /// Per stage, µs on the network along the critical path.
    var network: [UpgradeMilestone: Double] = [:]
    /// Per stage, one-way trips on the critical path.
    var flights: [UpgradeMilestone: Int] = [:]
    /// The kernel's measurement of the connect's round trip, when traced.
    var connectRoundTripNanoseconds: UInt64?

    /// A connection whose upgrade succeeded; `error` is set when its echo stream failed.
    init(outcome: UpgradeOutcome, timeline: UpgradeTimeline, error: String?, traced: Bool = false) {
        self.ok = error == nil
        self.security = outcome.secureChannel.security.protocolID.rawValue
        self.muxer = outcome.muxer.rawValue
        self.early = outcome.usedEarlyNegotiation
        self.stages = DialStages(timeline)
        self.error = error
        self.traced = traced
        self.timeline = timeline
    }

    /// A connection whose upgrade failed: the stages it reached before the failure stay in the line.
    init(failure: UpgradeError, traced: Bool = false) {
        self.ok = false
        self.security = failure.security?.protocolID.rawValue
        self.muxer = nil
        self.early = nil
        self.stages = DialStages(failure.timeline)
        self.error = failure.description
        self.traced = traced
        self.timeline = failure.timeline
    }

    /// Splits every stage reached with the listener's trace of this connection (``CriticalPath``).
    mutating func split(using reader: ListenerTraceReader) async {
        guard let timeline = self.timeline, let activity = self.activity,
            let connected = timeline[.tcpConnected]
        else { return }
        var stages: [ConnectionStage: UInt64] = [:]
        for milestone in UpgradeMilestone.allCases {
            if let reached = timeline[milestone] { stages[ConnectionStage(milestone)] = reached.uptimeNanoseconds }
        }
        let end = stages.values.max() ?? connected.uptimeNanoseconds
        guard
            let trace = await reader.trace(acceptedBetween: timeline.start.uptimeNanoseconds, and: end)
        else { return }
        let splits = CriticalPath.splits(
            stages: stages,
            start: timeline.start.uptimeNanoseconds,
            connected: connected.uptimeNanoseconds,
            accepted: trace.acceptedNanoseconds,
            dialer: activity.events,
            listener: trace.wire,
            connectNetworkNanoseconds: self.connectRoundTripNanoseconds
        )
        for (stage, split) in splits {
            self.network[stage.milestone] = (Double(split.networkNanoseconds) / 100).rounded() / 10
            self.flights[stage.milestone] = split.flights
        }
    }

    func encode(to encoder: any Encoder) throws {
        // Nulls are written explicitly so every line has the same keys.
        enum Key: String, CodingKey {
            case ok, security, muxer, early, stages_us, own_us, start_monotonic_ns, error, network_us, flights
        }
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(self.ok, forKey: .ok)
        try container.encode(self.security, forKey: .security)
        try container.encode(self.muxer, forKey: .muxer)
        try container.encode(self.early, forKey: .early)
        try container.encode(self.stages, forKey: .stages_us)
        // Every stage is in stages_us already: nothing of its own to add (docs/peers.md).
        try container.encode([String: Double](), forKey: .own_us)
        // NIODeadline is CLOCK_MONOTONIC: a listener on this machine can place its stages.
        try container.encode(self.timeline?.start.uptimeNanoseconds, forKey: .start_monotonic_ns)
        try container.encode(self.error, forKey: .error)
        if self.traced {
            try container.encode(DialStages(microseconds: self.network), forKey: .network_us)
            try container.encode(DialStages(microseconds: self.flights.mapValues(Double.init)), forKey: .flights)
        }
    }
}

/// The `stages_us` object: every milestone, in microseconds since the dial started (one decimal),
/// or null when the connection did not reach it. The same shape carries `network_us` and
/// `flights`, and `listen`'s stages (its own milestones only).
struct DialStages: Encodable {
    let microseconds: [UpgradeMilestone: Double]
    /// The keys, in order: every milestone unless told.
    let milestones: [UpgradeMilestone]

    init(microseconds: [UpgradeMilestone: Double], milestones: [UpgradeMilestone] = UpgradeMilestone.allCases) {
        self.microseconds = microseconds
        self.milestones = milestones
    }

    /// The milestones of `timeline`; all null without one (a failure before the dial started).
    init(_ timeline: UpgradeTimeline?) {
        var microseconds: [UpgradeMilestone: Double] = [:]
        for milestone in UpgradeMilestone.allCases {
            if let value = timeline?.microseconds(milestone) { microseconds[milestone] = (value * 10).rounded() / 10 }
        }
        self.microseconds = microseconds
        self.milestones = UpgradeMilestone.allCases
    }

    func encode(to encoder: any Encoder) throws {
        struct Key: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        var container = encoder.container(keyedBy: Key.self)
        for milestone in self.milestones {
            try container.encode(self.microseconds[milestone], forKey: Key(stringValue: milestone.rawValue))
        }
    }
}

/// The `dial` summary line.
struct DialSummary: Encodable {
    /// The values the summary's statistics are taken over, from the successful connections.
    struct Collected {
        var muxerReady: [UInt64] = []
        var firstEcho: [UInt64] = []
        var muxerReadyNetwork: [UInt64] = []
        var firstEchoNetwork: [UInt64] = []

        /// Adds a successful connection's values (tenths of µs, to keep the line's precision).
        mutating func add(_ line: DialLine) {
            func tenths(_ value: Double?) -> UInt64? { value.map { UInt64(($0 * 10).rounded()) } }
            if let value = tenths(line.stages.microseconds[.muxerReady]) { self.muxerReady.append(value) }
            if let value = tenths(line.stages.microseconds[.firstEcho]) { self.firstEcho.append(value) }
            if let value = tenths(line.network[.muxerReady]) { self.muxerReadyNetwork.append(value) }
            if let value = tenths(line.network[.firstEcho]) { self.firstEchoNetwork.append(value) }
        }
    }

    let connections: Int
    let succeeded: Int
    let statistics: Collected
    let traced: Bool

    /// Counts and the statistics of the successful connections.
    init(connections: Int, succeeded: Int, statistics: Collected, traced: Bool) {
        self.connections = connections
        self.succeeded = succeeded
        self.statistics = statistics
        self.traced = traced
    }

    /// Nearest rank, as everywhere in UpgradeBench (``LatencyStatistics``), back in µs.
    static func percentile(_ percentile: Double, _ tenths: [UInt64]) -> Double? {
        guard !tenths.isEmpty else { return nil }
        return Double(LatencyStatistics.percentile(percentile, ofSorted: tenths.sorted())) / 10
    }

    func encode(to encoder: any Encoder) throws {
        // Explicit nulls, as in the connection lines, so the summary always has the same keys.
        enum Key: String, CodingKey {
            case connections, succeeded, failed, muxer_ready_p50_us, muxer_ready_min_us, muxer_ready_max_us
            case first_echo_p50_us, muxer_ready_network_p50_us, first_echo_network_p50_us
            case muxer_ready_network_p10_us, first_echo_network_p10_us, impl, version
        }
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(self.connections, forKey: .connections)
        try container.encode(self.succeeded, forKey: .succeeded)
        try container.encode(self.connections - self.succeeded, forKey: .failed)
        try container.encode("swift", forKey: .impl)
        try container.encode("UpgradeBench " + UpgradeBench.version, forKey: .version)
        try container.encode(Self.percentile(50, self.statistics.muxerReady), forKey: .muxer_ready_p50_us)
        try container.encode(Self.percentile(0, self.statistics.muxerReady), forKey: .muxer_ready_min_us)
        try container.encode(Self.percentile(100, self.statistics.muxerReady), forKey: .muxer_ready_max_us)
        try container.encode(Self.percentile(50, self.statistics.firstEcho), forKey: .first_echo_p50_us)
        if self.traced {
            try container.encode(Self.percentile(50, self.statistics.muxerReadyNetwork), forKey: .muxer_ready_network_p50_us)
            try container.encode(Self.percentile(50, self.statistics.firstEchoNetwork), forKey: .first_echo_network_p50_us)
            try container.encode(Self.percentile(10, self.statistics.muxerReadyNetwork), forKey: .muxer_ready_network_p10_us)
            try container.encode(Self.percentile(10, self.statistics.firstEchoNetwork), forKey: .first_echo_network_p10_us)
        }
    }
}
