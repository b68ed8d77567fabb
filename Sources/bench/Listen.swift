import ArgumentParser
import Dispatch
import Foundation
import NIOCore
import NIOPosix
import P2PCore
import UpgradeBenchKit
import Upgrader

/// `bench listen`: serve upgrades until SIGINT or SIGTERM.
struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accept libp2p connections and upgrade them; serves /echo/1.0.0 and /ipfs/ping/1.0.0.",
        discussion: """
            Speaks the listen side of the peer contract (docs/peers.md): prints one JSON line \
            {"multiaddr", "peer_id", "impl", "version", "early"} on stdout once it accepts \
            connections; then one line per inbound connection once its upgrade succeeded or failed: \
            {"connection", "remote_peer_id", "remote_port", "security", "muxer", "early", \
            "stages_us": {security_agreed, handshake_done, muxer_ready}, "error"} (µs since the \
            TCP connection was accepted); on SIGINT or SIGTERM a {"summary": {connections, \
            succeeded, failed, early}} line, then exit 0. Logs go to stderr.
            """
    )

    @Option(help: "Where to listen, as a multiaddr; port 0 picks a free port.")
    var listen: String = "/ip4/127.0.0.1/tcp/0"

    @OptionGroup var upgrade: UpgradeOptions

    @Option(help: "32-byte hex seed of the Ed25519 identity (default: a new random identity).")
    var keySeed: String?

    @Option(
        help: """
            Append one JSON line per connection, when it closes, to this file: its accept time and \
            socket activity on the machine's monotonic clock, for `bench dial --listener-trace`.
            """
    )
    var traceFile: String?

    @Flag(help: "Debug logging on stderr.")
    var verbose = false

    func run() async throws {
        UpgradeBench.bootstrapLogging(verbose: self.verbose)
        // Before anything is printed: a script that reads the line and signals at once must get a
        // clean shutdown, not the default action of SIGTERM (death, exit status 143).
        let termination = TerminationSignals.install()
        let address = try parseMultiaddr(self.listen)
        let identity = try identityKey(seed: self.keySeed)
        let host = try UpgradeHost(
            configuration: self.upgrade.configuration(identity: identity, defaultSecurity: [.noise, .tls])
        )
        let report = ListenReport()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let traceWriter = try self.traceFile.map { try ConnectionTraceWriter(path: $0) }
        let listener: UpgradeListener
        do {
            listener = try await host.listen(
                host: address.hostText,
                port: address.port,
                group: group,
                prepareChannel: Self.tracer(traceWriter),
                onUpgrade: { channel, outcome in report.record(channel: channel, outcome: outcome) }
            )
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }

        var announced = address
        announced.port = listener.port
        announced.peerID = host.peerID
        // Closed on every way out, including a failed write of the line (stdout gone).
        let result = Result {
            try report.announce(
                ListenStartLine(
                    multiaddr: announced.description,
                    peerID: host.peerID.description,
                    early: self.upgrade.negotiation == .early
                )
            )
        }
        if case .success = result { await termination.wait() }
        try? await listener.close()
        try? await group.shutdownGracefully()
        try result.get()
        try printJSONLine(["summary": report.summary])
    }
}

/// The start-up line of the peer contract (docs/peers.md).
struct ListenStartLine: Encodable {
    let multiaddr: String
    let peerID: String
    /// Whether this listener offers early muxer negotiation.
    let early: Bool
    let impl = "swift"
    let version = "UpgradeBench " + UpgradeBench.version

    enum CodingKeys: String, CodingKey {
        case multiaddr, peerID = "peer_id", early, impl, version
    }
}

extension Listen {
    /// The channel preparation that traces into `writer`, or none.
    static func tracer(_ writer: ConnectionTraceWriter?) -> (@Sendable (any Channel) throws -> Void)? {
        guard let writer else { return nil }
        return { @Sendable (channel: any Channel) throws -> Void in try Self.trace(channel, into: writer) }
    }

    /// Records the socket activity of an accepted channel from now on and writes it out when the
    /// channel closes.
    static func trace(_ channel: any Channel, into writer: ConnectionTraceWriter) throws {
        let accepted = NIODeadline.now()
        let activity = WireActivity()
        try channel.pipeline.syncOperations.addHandler(WireActivityRecorder(activity: activity))
        let remotePort = channel.remoteAddress?.port
        channel.closeFuture.whenComplete { _ in
            writer.write(
                ConnectionTrace(
                    acceptedNanoseconds: accepted.uptimeNanoseconds,
                    remotePort: remotePort,
                    wire: activity.events
                )
            )
        }
    }
}

/// SIGINT and SIGTERM turned into an awaitable event, so `listen` can shut down cleanly.
///
/// The signals' default action is ignored from ``install()`` on, and a signal that arrives before
/// anyone waits is remembered, so none is lost between installing and ``wait()``.
/// `@unchecked Sendable`: `signalled` and `waiters` are touched only on `queue`.
final class TerminationSignals: @unchecked Sendable {
    private let queue = DispatchQueue(label: "upgradebench.signals")
    private var sources: [any DispatchSourceSignal] = []
    private var signalled = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private init() {}

    /// Starts catching SIGINT and SIGTERM. Call once, before the process announces itself.
    static func install() -> TerminationSignals {
        let signals = TerminationSignals()
        for signalNumber in [SIGINT, SIGTERM] {
            // Dispatch sources see a signal only once its default action (termination) is off.
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: signals.queue)
            source.setEventHandler { signals.received() }
            source.resume()
            signals.sources.append(source)
        }
        return signals
    }

    /// Suspends until SIGINT or SIGTERM has arrived (returns at once if one already did).
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.queue.async {
                if self.signalled {
                    continuation.resume()
                } else {
                    self.waiters.append(continuation)
                }
            }
        }
    }

    /// On `queue`: remembers the signal and wakes every waiter.
    private func received() {
        self.signalled = true
        let waiters = self.waiters
        self.waiters = []
        for waiter in waiters { waiter.resume() }
    }
}
