import Benchmark
import NIOCore
import NIOEmbedded
import P2PCore
import Yamux

// yamux benchmarks: the frame codec, the session state machine, and a stream round trip through the
// multiplexer and its stream channels on two EmbeddedChannels.
//
// `Yamux.header.{encode,decode}.x1000` write / read 1000 12-byte headers into / from a reused buffer
// (times are per 1000 headers). `Yamux.data.encode.64KiB` writes a header and copies a 64 KiB body into a
// reused buffer (the coalescing path; the multiplexer passes bodies above 4 KiB on without a copy).
// `Yamux.data.decode.64KiB` decodes one 64 KiB Data frame: the body is a slice, so this is a per-frame cost
// that does not grow with the body. `Yamux.session.receive.64KiB` is one 64 KiB Data frame through the
// session state machine plus the consumption report that credits the window back. `Yamux.stream.roundTrip.1KiB`
// writes 1 KiB on a stream channel, the peer's stream echoes it, and it is read back: two multiplexers,
// two stream channels, two Data frames (plus the pump's buffers). Every one allocates nothing in steady state;
// the committed thresholds pin that.
//
// Measured on the project machine (2 vCPU Zen 4), one run, p50, nothing else running:
//
//   header.encode.x1000 12 303 ns → 12.3 ns per header (writeWithUnsafeMutableBytes: one uniqueness and
//                                   capacity check per header; Varint.encode.x1000 in the same session: 14 071)
//   header.decode.x1000    961 ns →  1.0 ns per header
//   data.encode.64KiB    1 753 ns → 37.4 GB/s (65 548 B; a cache-hot copy into a reused buffer)
//   data.decode.64KiB      140 ns per frame whatever the body size (a slice, no copy: 468 GB/s "equivalent")
//   session.receive.64KiB  181 ns per frame incl. window credit
//   stream.roundTrip.1KiB  3 897 ns
//   Allocations: 0 for every benchmark.

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    // MARK: - Headers

    let headers: [YamuxFrameHeader] = (0..<1000).map { index in
        let streamID = UInt32(index * 2 + 1)
        switch index % 4 {
        case 0: return .data(streamID: streamID, length: UInt32(index * 61))
        case 1: return .windowUpdate(streamID: streamID, flags: .ack, delta: UInt32(index * 4099))
        case 2: return .data(streamID: streamID, flags: .fin, length: 0)
        default: return .ping(opaque: UInt32(index), ack: index % 8 == 3)
        }
    }

    Benchmark("Yamux.header.encode.x1000") { benchmark in
        var buffer = ByteBufferAllocator().buffer(capacity: 12 * 1000)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.clear()
            for header in headers { buffer.writeYamuxFrameHeader(header) }
            blackHole(buffer.writerIndex)
        }
    }

    Benchmark("Yamux.header.decode.x1000") { benchmark in
        var encoded = ByteBufferAllocator().buffer(capacity: 12 * 1000)
        for header in headers { encoded.writeYamuxFrameHeader(header) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var reader = encoded
            var sum: UInt32 = 0
            while let header = try reader.readYamuxFrameHeader() { sum &+= header.streamID &+ header.length }
            blackHole(sum)
        }
    }

    // MARK: - Data frames

    let body = ByteBuffer(bytes: (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31) })

    Benchmark("Yamux.data.encode.64KiB") { benchmark in
        var output = ByteBufferAllocator().buffer(capacity: 12 + 65536)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            output.clear()
            output.writeYamuxDataFrame(streamID: 1, payload: body)
            blackHole(output.writerIndex)
        }
    }

    Benchmark("Yamux.data.decode.64KiB") { benchmark in
        var encoded = ByteBufferAllocator().buffer(capacity: 12 + 65536)
        encoded.writeYamuxDataFrame(streamID: 1, payload: body)
        let decoder = YamuxFrameDecoder()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var input = encoded
            let frame = try decoder.decodeFrame(buffer: &input)
            blackHole(frame?.payload.readableBytes)
        }
    }

    // MARK: - Session state machine

    Benchmark("Yamux.session.receive.64KiB") { benchmark in
        var session = YamuxSessionStateMachine(role: .responder)
        let now = NIODeadline.uptimeNanoseconds(0)
        var syn = ByteBuffer()
        syn.writeYamuxFrameHeader(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        let decoder = YamuxFrameDecoder()
        _ = session.receivedFrame(try decoder.decodeFrame(buffer: &syn)!, now: now)
        _ = session.acceptStream(1)
        let frame = YamuxFrame(header: .data(streamID: 1, length: 65536), payload: body)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            guard case .stream(let event) = session.receivedFrame(frame, now: now), let payload = event.payload else {
                fatalError("the benchmark's frame was refused")
            }
            blackHole(session.consumed(payload.readableBytes, streamID: 1, now: now))
        }
    }

    // MARK: - Stream channels

    Benchmark("Yamux.stream.roundTrip.1KiB") { benchmark in
        let pair = try EmbeddedStreamPair()
        let message = ByteBuffer(bytes: (0..<1024).map { UInt8(truncatingIfNeeded: $0) })
        // Warm the reused buffers before measuring.
        for _ in 0..<4 { try pair.roundTrip(message) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try pair.roundTrip(message)
        }
        benchmark.stopMeasurement()
        blackHole(pair.counter.bytes)
    }
}

/// A client and a server multiplexer on two EmbeddedChannels with one open stream; the server's stream echoes.
final class EmbeddedStreamPair {
    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let stream: any Channel
    let counter = ByteCounter()

    init() throws {
        var configuration = YamuxConfiguration()
        configuration.roundTripPingInterval = nil
        let clientMultiplexer = YamuxMultiplexer(
            role: .initiator,
            configuration: configuration,
            inboundStreamInitializer: nil
        )
        let serverMultiplexer = YamuxMultiplexer(role: .responder, configuration: configuration) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Echo()) }
        }
        self.client = EmbeddedChannel(loop: self.loop)
        self.server = EmbeddedChannel(loop: self.loop)
        try self.client.pipeline.syncOperations.addHandler(clientMultiplexer)
        try self.server.pipeline.syncOperations.addHandler(serverMultiplexer)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 4001)
        try self.client.connect(to: address).wait()
        try self.server.connect(to: address).wait()
        let counter = self.counter
        let opened = clientMultiplexer.openStream { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(counter) }
        }
        self.loop.run()
        self.stream = try opened.wait()
        try self.pump()
    }

    func roundTrip(_ message: ByteBuffer) throws {
        self.stream.writeAndFlush(message, promise: nil)
        try self.pump()
    }

    func pump() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try self.client.readOutbound(as: ByteBuffer.self) {
                moved = true
                try self.server.writeInbound(bytes)
            }
            while let bytes = try self.server.readOutbound(as: ByteBuffer.self) {
                moved = true
                try self.client.writeInbound(bytes)
            }
        }
    }
}

/// Counts the bytes a stream receives.
final class ByteCounter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var bytes = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.bytes += self.unwrapInboundIn(data).readableBytes
    }
}

/// Echoes every read.
final class Echo: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}
