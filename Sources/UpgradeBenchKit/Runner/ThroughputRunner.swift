import NIOCore
import NIOPosix
import NetworkEmulation
import P2PCore
import Upgrader

/// The throughput scenario: `bytesEachWay` sent on one stream and echoed back, so both directions
/// carry that much at once; over one yamux stream on a Noise or TLS connection, or over raw TCP
/// on the same emulated path for comparison.
struct ThroughputRunner: Sendable {
    let group: any EventLoopGroup

    /// The chunk size written at a time: Noise's and yamux's largest frames are 64 KiB.
    static let chunkLength = 64 * 1024

    func run(_ scenario: ThroughputScenario, path: EmulatedPath, progress: ProgressReporter) async throws
        -> [ThroughputResult]
    {
        let listenerHost = try UpgradeHost(
            configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [.noise, .tls])
        )
        let socket = try await path.makeListeningSocket()
        let transport = scenario.transport
        let server = try await ServerBootstrap(group: self.group)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                switch transport {
                case .tcp:
                    channel.eventLoop.makeCompletedFuture {
                        // The same handlers, backpressure included, as an echo stream gets over yamux.
                        try StreamProtocolServer.addHandlers(for: .echo, to: channel.pipeline.syncOperations)
                    }
                case .noise, .tls:
                    listenerHost.initializeAcceptedChannel(channel)
                }
            }
            .withBoundSocket(socket.socket)
            .get()
        defer {
            server.close(promise: nil)
            path.releaseListener(socket)
        }

        var results: [ThroughputResult] = []
        for repetition in 0..<scenario.repetitions {
            let result: ThroughputResult
            do {
                let elapsed = try await self.transfer(scenario, path: path, to: socket.dialAddress, peer: listenerHost.peerID)
                result = ThroughputResult(
                    scenario: scenario, repetition: repetition, elapsedMicroseconds: UInt64(elapsed.nanoseconds / 1_000)
                )
            } catch {
                result = ThroughputResult(
                    scenario: scenario, repetition: repetition, elapsedMicroseconds: nil, failure: "\(error)"
                )
            }
            progress.unitFinished(scenario.name, failed: result.failure != nil)
            results.append(result)
        }
        return results
    }

    /// One transfer; the time from the first byte written to the last byte echoed back.
    private func transfer(
        _ scenario: ThroughputScenario,
        path: EmulatedPath,
        to address: SocketAddress,
        peer: PeerID
    ) async throws -> TimeAmount {
        let connection = try await path.connect(to: address)
        let channel = try await ClientBootstrap(group: self.group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: false)
            .withConnectedSocket(connection.socket)
            .get()
        defer { channel.close(promise: nil) }
        let total = scenario.bytesEachWay
        switch scenario.transport {
        case .tcp:
            let client = BulkEchoClientHandler(total: total, eventLoop: channel.eventLoop)
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(client)
                channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
            }.get()
            return try await client.done.get()
        case .noise, .tls:
            let host = try UpgradeHost(
                configuration: UpgradeConfiguration(
                    identity: .generateEd25519(), security: [scenario.transport == .noise ? .noise : .tls]
                )
            )
            let upgraded = try await host.upgradeOutbound(
                channel: channel, startedAt: connection.startedAt, connectedAt: connection.connectedAt,
                expectedPeer: peer
            ).get()
            let client = BulkEchoClientHandler(total: total, eventLoop: channel.eventLoop)
            _ = try await upgraded.openStream(
                protocol: .echo,
                install: { try $0.pipeline.syncOperations.addHandler(client) },
                negotiationFailed: { client.fail($0) }
            ).get()
            return try await client.done.get()
        }
    }
}

/// Writes `total` bytes in chunks as fast as the channel's writability allows, and completes with
/// the elapsed time once the same number of bytes has been read back.
final class BulkEchoClientHandler: ChannelInboundHandler, @unchecked Sendable {
    // `@unchecked Sendable`: all state is confined to the channel's event loop; the promise is
    // thread-safe.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let total: Int
    private var sent = 0
    private var received = 0
    private var startedAt: NIODeadline?
    private let chunk: ByteBuffer
    private let promise: EventLoopPromise<TimeAmount>

    var done: EventLoopFuture<TimeAmount> { self.promise.futureResult }

    init(total: Int, eventLoop: any EventLoop) {
        self.total = total
        self.chunk = ByteBuffer(repeating: 0x5a, count: ThroughputRunner.chunkLength)
        self.promise = eventLoop.makePromise(of: TimeAmount.self)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.pump(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.pump(context: context)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.pump(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func pump(context: ChannelHandlerContext) {
        if self.startedAt == nil { self.startedAt = .now() }
        var wrote = false
        while self.sent < self.total && context.channel.isWritable {
            let length = min(ThroughputRunner.chunkLength, self.total - self.sent)
            context.write(self.wrapOutboundOut(self.chunk.getSlice(at: 0, length: length) ?? self.chunk), promise: nil)
            self.sent += length
            wrote = true
        }
        if wrote { context.flush() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received += self.unwrapInboundIn(data).readableBytes
        if self.received >= self.total, let startedAt = self.startedAt {
            self.promise.succeed(.now() - startedAt)
        }
    }

    /// Fails the transfer from outside the pipeline; nothing once it completed.
    func fail(_ error: any Error) {
        self.promise.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.promise.fail(error)
        context.close(promise: nil)
    }
}
