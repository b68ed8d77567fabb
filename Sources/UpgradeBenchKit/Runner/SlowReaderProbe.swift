import Foundation
import NIOConcurrencyHelpers
import NIOCore
import P2PCore
import Upgrader

/// A peer that keeps to the protocol but never reads what it is sent: on each of its connections it opens one
/// `/echo/1.0.0` or `/ipfs/ping/1.0.0` stream, writes as fast as the listener's yamux window lets it, and never
/// grants the listener any window back.
///
/// Only the listener's credit limits it, so what it manages to send shows whether the listener has end-to-end
/// backpressure: one that stops reading a stream it cannot answer stops crediting it within a few receive windows
/// (256 KiB each), and its memory stays flat; one that keeps reading holds everything sent (docs/bounds.md). The
/// probe runs until no connection has sent anything for ``quietPeriod``, then calls `atStall` (to measure the
/// listener) before closing every connection.
public struct SlowReaderProbe: Sendable {
    /// Connections to hold open at once.
    public var connections: Int
    /// The stream protocol: ``ProtocolID/echo`` or ``ProtocolID/ping``.
    public var protocolID: ProtocolID
    /// The most each connection tries to send; 0 opens the streams and sends nothing (the listener's fixed cost).
    public var bytesPerConnection: Int
    /// How long nothing must move before the exchange counts as stalled.
    public var quietPeriod: TimeAmount
    /// The whole probe's deadline; past it the probe reports what it has (`stalled` false).
    public var timeout: TimeAmount
    /// Connections dialled at the same time while setting up.
    public var dialConcurrency: Int

    /// A probe with `connections` connections, 500 ms of quiet and a 120 s deadline.
    public init(connections: Int, protocolID: ProtocolID, bytesPerConnection: Int) {
        self.connections = connections
        self.protocolID = protocolID
        self.bytesPerConnection = bytesPerConnection
        self.quietPeriod = .milliseconds(500)
        self.timeout = .seconds(120)
        self.dialConcurrency = 16
    }

    /// What the probe saw.
    public struct Outcome: Sendable {
        /// Bytes each connection got onto the wire (its stream's completed writes), in dial order; failed connections
        /// are left out.
        public var sentBytes: [Int]
        /// Why connections failed (upgrade or stream negotiation), one entry each.
        public var failures: [String]
        /// Whether sending stopped before every connection had sent ``bytesPerConnection`` (the listener stopped
        /// crediting); false also when the deadline passed first.
        public var stalled: Bool
        /// Seconds from the first dial to the stall (or the deadline).
        public var elapsedSeconds: Double
    }

    /// Runs the probe against `address`, verifying `peer` when given.
    ///
    /// - Parameter atStall: Called once sending has stopped (or every byte was sent), with every connection still
    ///   open.
    public func run(
        host: UpgradeHost,
        address: (host: String, port: Int),
        peer: PeerID?,
        group: any EventLoopGroup,
        atStall: @Sendable () async -> Void
    ) async -> Outcome {
        let started = NIODeadline.now()
        let deadline = started + self.timeout
        var opened: [(UpgradedConnection, SlowReaderWriter)] = []
        var failures: [String] = []
        var next = 0
        while next < self.connections {
            let batch = min(self.dialConcurrency, self.connections - next)
            next += batch
            await withTaskGroup(of: Result<(UpgradedConnection, SlowReaderWriter), any Error>.self) { tasks in
                for _ in 0..<batch {
                    tasks.addTask { await self.open(host: host, address: address, peer: peer, group: group) }
                }
                for await result in tasks {
                    switch result {
                    case .success(let pair): opened.append(pair)
                    case .failure(let error): failures.append("\(error)")
                    }
                }
            }
        }

        let target = self.bytesPerConnection
        var last = -1
        var quietSince = NIODeadline.now()
        var stalled = false
        while NIODeadline.now() < deadline {
            let sent = opened.map { $0.1.sentBytes }
            if sent.allSatisfy({ $0 >= target }) { break }
            let total = sent.reduce(0, +)
            if total != last {
                last = total
                quietSince = .now()
            } else if NIODeadline.now() - quietSince >= self.quietPeriod {
                stalled = true
                break
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        await atStall()
        let sentBytes = opened.map { $0.1.sentBytes }
        for (connection, _) in opened { try? await connection.close().get() }
        return Outcome(sentBytes: sentBytes, failures: failures, stalled: stalled, elapsedSeconds: elapsed)
    }

    private func open(
        host: UpgradeHost,
        address: (host: String, port: Int),
        peer: PeerID?,
        group: any EventLoopGroup
    ) async -> Result<(UpgradedConnection, SlowReaderWriter), any Error> {
        do {
            let connection = try await host.dial(host: address.host, port: address.port, expectedPeer: peer, group: group)
            let writer = SlowReaderWriter(total: self.bytesPerConnection)
            _ = try await connection.openStream(
                protocol: self.protocolID,
                install: { try $0.pipeline.syncOperations.addHandler(writer) }
            ).get()
            return .success((connection, writer))
        } catch {
            return .failure(error)
        }
    }
}

/// Writes up to `total` bytes in 64 KiB chunks while its stream is writable, and never reads: with `autoRead` off, the
/// stream never credits the listener's window.
final class SlowReaderWriter: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The chunk written at a time: yamux's largest frame.
    static let chunkLength = 64 * 1024

    let total: Int
    /// Bytes queued and bytes whose write completed; the first is touched on the event loop only.
    private let counters = NIOLockedValueBox((queued: 0, sent: 0))

    init(total: Int) { self.total = total }

    /// Bytes on the wire so far.
    var sentBytes: Int { self.counters.withLockedValue { $0.sent } }

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        self.writeMore(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writeMore(context: context)
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Never asked for (autoRead is off): a read before that took effect is dropped, uncredited either way.
    }

    private func writeMore(context: ChannelHandlerContext) {
        var wrote = false
        while context.channel.isWritable {
            let queued = self.counters.withLockedValue { $0.queued }
            let length = min(Self.chunkLength, self.total - queued)
            guard length > 0 else { break }
            self.counters.withLockedValue { $0.queued += length }
            var chunk = context.channel.allocator.buffer(capacity: length)
            chunk.writeRepeatingByte(0x5a, count: length)
            let counters = self.counters
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenSuccess { counters.withLockedValue { $0.sent += length } }
            context.write(self.wrapOutboundOut(chunk), promise: promise)
            wrote = true
        }
        if wrote { context.flush() }
    }
}

/// The resident memory of a process on this machine (`VmRSS` in `/proc/PID/status`), in KiB; nil where there is no
/// such file (another OS, a process that has gone).
public func residentKilobytes(ofProcess pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }
    return nil
}
