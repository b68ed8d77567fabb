import NIOCore
import NIOPosix
import P2PCore
import Testing
import Yamux

/// The multiplexer on real NIOPosix sockets over 127.0.0.1: bounded in count and size.
@Suite struct YamuxTCPTests {
    /// Collects a stream's bytes and completes with them when the peer closes its side.
    final class CollectUntilEOF: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<ByteBuffer>
        var received = ByteBuffer()
        init(done: EventLoopPromise<ByteBuffer>) { self.done = done }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = self.unwrapInboundIn(data)
            self.received.writeBuffer(&buffer)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .some(.inputClosed) = event as? ChannelEvent { self.done.succeed(self.received) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.done.fail(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.done.fail(ChannelError.eof)
        }
    }

    @Test func concurrentStreamsEchoOverLoopbackTCP() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }

        let server = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        YamuxMultiplexer(role: .responder, inboundStreamInitializer: EmbeddedYamuxPair.echo)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }

        let multiplexer = YamuxMultiplexer(role: .initiator, inboundStreamInitializer: nil)
        let client = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(multiplexer) }
            }
            .connect(to: server.localAddress!).wait()
        defer { try? client.close().wait() }

        let messages = (0..<8).map { ByteBuffer.pattern(1024 * 1024 + $0 * 1000, seed: UInt8($0)) }
        var promises: [EventLoopPromise<ByteBuffer>] = []
        for message in messages {
            let done = client.eventLoop.makePromise(of: ByteBuffer.self)
            promises.append(done)
            let stream = try multiplexer.openStream { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    try channel.pipeline.syncOperations.addHandler(CollectUntilEOF(done: done))
                }
            }.wait()
            stream.write(message, promise: nil)
            stream.close(mode: .output, promise: nil)
        }
        // A bound on a hang, not a speed assertion: a stream still open after 60 s fails.
        let pending = promises
        let timeout = client.eventLoop.scheduleTask(in: .seconds(60)) {
            for promise in pending { promise.fail(ChannelError.connectTimeout(.seconds(60))) }
        }
        defer { timeout.cancel() }
        for (message, promise) in zip(messages, promises) {
            #expect(try promise.futureResult.wait() == message)
        }
        // The session stays usable and measured a round-trip time with its first ping.
        let rtt = try client.eventLoop.submit { multiplexer.roundTripTime }.wait()
        #expect(rtt != nil)
    }
}
