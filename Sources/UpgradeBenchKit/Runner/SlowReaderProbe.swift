import Foundation
import NIOConcurrencyHelpers
import NIOCore
import P2PCore
import Upgrader
import Yamux

/// A peer that keeps to the protocol but never reads what it is sent. On each of its connections it either
/// - opens one `/echo/1.0.0` or `/ipfs/ping/1.0.0` stream, writes as fast as the listener's yamux window lets it, and
///   never grants the listener any window back (``Traffic/stream(_:)``), or
/// - stops reading the connection altogether and sends yamux ping requests (``Traffic/pings``): every answer the
///   listener queues stays in its outbound buffer, so a listener that keeps answering while its connection is not
///   writable grows with every ping.
///
/// Only the listener's credit limits it, so what it manages to send shows whether the listener has end-to-end
/// backpressure: one that stops reading a stream it cannot answer stops crediting it within a few receive windows
/// (256 KiB each), and its memory stays flat; one that keeps reading holds everything sent (docs/bounds.md). The
/// probe runs until no connection has sent anything for ``quietPeriod``, then calls `atStall` (to measure the
/// listener) before closing every connection.
public struct SlowReaderProbe: Sendable {
    /// Connections to hold open at once.
    public var connections: Int
    /// What each connection sends.
    public enum Traffic: Sendable, Hashable {
        /// One stream of this protocol (``ProtocolID/echo`` or ``ProtocolID/ping``), never read.
        case stream(ProtocolID)
        /// Yamux ping requests on a connection that is never read.
        case pings
    }

    /// What each connection sends.
    public var traffic: Traffic
    /// The most each connection tries to send; 0 opens the streams and sends nothing (the listener's fixed cost).
    public var bytesPerConnection: Int
    /// How long nothing must move before a stream exchange counts as stalled (pings wait for every byte or the
    /// deadline).
    public var quietPeriod: TimeAmount
    /// The whole probe's deadline; past it the probe reports what it has (`stalled` false).
    public var timeout: TimeAmount
    /// Connections dialled at the same time while setting up.
    public var dialConcurrency: Int

    /// A probe with `connections` connections, 500 ms of quiet and a 120 s deadline.
    public init(connections: Int, traffic: Traffic, bytesPerConnection: Int) {
        self.connections = connections
        self.traffic = traffic
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
        var opened: [(UpgradedConnection, any SentByteCounting)] = []
        var failures: [String] = []
        var next = 0
        while next < self.connections {
            let batch = min(self.dialConcurrency, self.connections - next)
            next += batch
            await withTaskGroup(of: Result<(UpgradedConnection, any SentByteCounting), any Error>.self) { tasks in
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

        // Every connection is set up before any sends: traffic on the first ones would slow the later handshakes.
        for (_, writer) in opened { writer.start() }
        let target: Int
        switch self.traffic {
        case .stream: target = self.bytesPerConnection
        case .pings: target = self.bytesPerConnection - self.bytesPerConnection % YamuxConstants.headerLength
        }
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
            } else if case .stream = self.traffic, NIODeadline.now() - quietSince >= self.quietPeriod {
                // Pings never stall a listener that keeps reading its connection: for them only the deadline
                // ends the wait, so a slow listener on a busy machine is not mistaken for one that stopped.
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
    ) async -> Result<(UpgradedConnection, any SentByteCounting), any Error> {
        do {
            let connection = try await host.dial(host: address.host, port: address.port, expectedPeer: peer, group: group)
            let writer = SlowReaderWriter(total: self.bytesPerConnection)
            switch self.traffic {
            case .stream(let protocolID):
                _ = try await connection.openStream(
                    protocol: protocolID,
                    install: { try $0.pipeline.syncOperations.addHandler(writer) }
                ).get()
            case .pings:
                let flooder = PingFlooder(total: self.bytesPerConnection)
                try await connection.channel.eventLoop.submit {
                    // Nothing is read from now on.
                    try connection.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
                    try connection.channel.pipeline.syncOperations.addHandler(flooder)
                }.get()
                return .success((connection, flooder))
            }
            return .success((connection, writer))
        } catch {
            return .failure(error)
        }
    }
}

/// A probe connection's sender.
protocol SentByteCounting: Sendable {
    /// Bytes on the wire so far.
    var sentBytes: Int { get }
    /// Starts sending (from any thread).
    func start()
}

/// The part of a probe sender that lives on its channel's event loop: the context, once added, and whether sending
/// has started.
///
/// `@unchecked Sendable`: `context` and `started` are touched on the event loop only; `loop` is locked.
final class ProbeSenderState: @unchecked Sendable {
    private let loop = NIOLockedValueBox<(any EventLoop)?>(nil)
    private(set) var context: ChannelHandlerContext?
    private(set) var started = false

    func added(_ context: ChannelHandlerContext) {
        self.context = context
        self.loop.withLockedValue { $0 = context.eventLoop }
    }

    /// Marks sending as started and runs `send` with the context, on the event loop.
    func start(_ send: @escaping @Sendable (ChannelHandlerContext) -> Void) {
        guard let loop = self.loop.withLockedValue({ $0 }) else { return }
        loop.execute {
            self.started = true
            if let context = self.context { send(context) }
        }
    }
}

/// Sends up to `total` bytes of yamux ping requests, from the end of an upgraded connection's pipeline, while the
/// connection is writable. The frames go out through the multiplexer's context, below it, as they are.
final class PingFlooder: ChannelInboundHandler, RemovableChannelHandler, SentByteCounting {
    typealias InboundIn = Never

    /// Pings per write.
    static let batch = 1024

    let total: Int
    private let counters = NIOLockedValueBox((queued: 0, sent: 0, opaque: UInt32(0)))

    private let state = ProbeSenderState()

    init(total: Int) { self.total = total }

    var sentBytes: Int { self.counters.withLockedValue { $0.sent } }

    func start() { self.state.start { self.flood(context: $0) } }

    func handlerAdded(context: ChannelHandlerContext) {
        self.state.added(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if self.state.started { self.flood(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func flood(context: ChannelHandlerContext) {
        guard let multiplexer = try? context.pipeline.syncOperations.context(handlerType: YamuxMultiplexer.self)
        else { return }
        let frameLength = YamuxConstants.headerLength
        while context.channel.isWritable {
            let (frames, firstOpaque) = self.counters.withLockedValue { counters -> (Int, UInt32) in
                let frames = min(Self.batch, (self.total - counters.queued) / frameLength)
                counters.queued += frames * frameLength
                defer { counters.opaque &+= UInt32(frames) }
                return (frames, counters.opaque)
            }
            guard frames > 0 else { return }
            var buffer = context.channel.allocator.buffer(capacity: frames * frameLength)
            for index in 0..<frames {
                buffer.writeYamuxFrameHeader(.ping(opaque: firstOpaque &+ UInt32(index) &+ 1, ack: false))
            }
            let counters = self.counters
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenSuccess { counters.withLockedValue { $0.sent += frames * frameLength } }
            multiplexer.writeAndFlush(NIOAny(buffer), promise: promise)
        }
    }
}

/// Writes up to `total` bytes in 64 KiB chunks while its stream is writable, and never reads: with `autoRead` off, the
/// stream never credits the listener's window.
final class SlowReaderWriter: ChannelInboundHandler, RemovableChannelHandler, SentByteCounting {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The chunk written at a time: yamux's largest frame.
    static let chunkLength = 64 * 1024

    let total: Int
    /// Bytes queued and bytes whose write completed; the first is touched on the event loop only.
    private let counters = NIOLockedValueBox((queued: 0, sent: 0))

    private let state = ProbeSenderState()

    init(total: Int) { self.total = total }

    /// Bytes on the wire so far.
    var sentBytes: Int { self.counters.withLockedValue { $0.sent } }

    func start() { self.state.start { self.writeMore(context: $0) } }

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        self.state.added(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if self.state.started { self.writeMore(context: context) }
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
