import Benchmark
import Multistream
import NIOCore
import NIOEmbedded
import P2PCore

/// multistream-select: message encode and decode on reused buffers (the steady state must not
/// allocate), and whole negotiations, pure and through the NIO handlers on EmbeddedChannel pairs.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    // The messages of a typical upgrade, in wire order: header, proposals, na, echoes.
    let encodedNoise = MultistreamEncodedProtocol(.noise)
    let encodedTLS = MultistreamEncodedProtocol(.tls)
    let encodedYamux = MultistreamEncodedProtocol(.yamux)
    let messages: [MultistreamMessage] = [.header, .protocol(.tls), .na, .protocol(.noise), .protocol(.yamux)]

    // MARK: - Codec (1000 messages per iteration, so times are per 1000 messages)

    // Proposals and echoes as the state machines send them: copies of pre-encoded bytes.
    Benchmark("Multistream.encode.cached.x1000") { benchmark in
        var buffer = ByteBufferAllocator().buffer(capacity: 32 * 1024)
        let cached = [encodedTLS, encodedNoise, encodedYamux]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.clear()
            for index in 0..<1000 {
                buffer.writeMultistreamProtocol(cached[index % 3])
            }
            blackHole(buffer.writerIndex)
        }
    }

    // The general encoder, from `MultistreamMessage` values (protocol IDs as Strings).
    Benchmark("Multistream.encode.message.x1000") { benchmark in
        var buffer = ByteBufferAllocator().buffer(capacity: 32 * 1024)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            buffer.clear()
            for index in 0..<1000 {
                buffer.writeMultistreamMessage(messages[index % messages.count])
            }
            blackHole(buffer.writerIndex)
        }
    }

    var wire = ByteBufferAllocator().buffer(capacity: 32 * 1024)
    for index in 0..<1000 { wire.writeMultistreamMessage(messages[index % messages.count]) }
    let encodedWire = wire

    // Decoding as the state machines do: frame, then compare bodies with expected IDs; no Strings.
    Benchmark("Multistream.decode.body.x1000") { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var reader = encodedWire
            var matched = 0
            while let body = try reader.readMultistreamMessageBody() {
                if encodedNoise.matches(body: body) || encodedYamux.matches(body: body) { matched += 1 }
            }
            blackHole(matched)
        }
    }

    // Decoding into `MultistreamMessage` values (protocol IDs become Strings; these are short
    // enough to be stored inline).
    Benchmark("Multistream.decode.message.x1000") { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var reader = encodedWire
            var count = 0
            while let message = try reader.readMultistreamMessage() {
                if case .protocol = message { count += 1 }
            }
            blackHole(count)
        }
    }

    // MARK: - Whole negotiations

    // Dialer and listener machines back to back, header + proposal + echo; /tls/1.0.0 refused
    // first, so one `na` round trip.
    Benchmark("Multistream.negotiate.machines") { benchmark in
        let dialerProtocols = [encodedTLS, encodedNoise]
        let listenerProtocols = [encodedNoise, encodedYamux]
        var toListener = ByteBufferAllocator().buffer(capacity: 256)
        var toDialer = ByteBufferAllocator().buffer(capacity: 256)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            toListener.clear()
            toDialer.clear()
            var dialer = MultistreamDialerStateMachine(encodedProtocols: dialerProtocols)
            var listener = MultistreamListenerStateMachine(encodedProtocols: listenerProtocols, answersListRequests: false)
            _ = dialer.start(output: &toListener)
            _ = listener.start(output: &toDialer)
            var agreed: ProtocolID? = nil
            while agreed == nil {
                // Each machine consumes whole messages and keeps no reference to its input, so the
                // two buffers are cleared and reused in place (an output must differ from the input).
                _ = try listener.receivedBytes(toListener, output: &toDialer)
                toListener.clear()
                let action = try dialer.receivedBytes(toDialer, output: &toListener)
                toDialer.clear()
                switch action {
                case .negotiated(let id, _), .confirmed(let id, _):
                    agreed = id
                case .wait, .send, .sendAndProceedOptimistically:
                    break
                }
            }
            blackHole(agreed)
        }
    }

    // The NIO handlers on two EmbeddedChannels, bytes pumped in memory, next layer installed and
    // handlers removed: channel set-up included, so this counts the whole per-connection cost.
    for mode in [MultistreamDialerStateMachine.Mode.strict, .lazy] {
        Benchmark("Multistream.negotiate.embedded.\(mode)") { benchmark in
            for _ in benchmark.scaledIterations {
                let dialerChannel = EmbeddedChannel()
                let listenerChannel = EmbeddedChannel()
                try dialerChannel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
                try listenerChannel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
                let dialer = MultistreamDialerHandler(encodedProtocols: [encodedNoise], mode: mode) { _, channel in
                    channel.eventLoop.makeSucceededVoidFuture()
                }
                let listener = MultistreamListenerHandler(encodedProtocols: [encodedNoise, encodedYamux]) { _, channel in
                    channel.eventLoop.makeSucceededVoidFuture()
                }
                try dialerChannel.pipeline.syncOperations.addHandler(dialer)
                try listenerChannel.pipeline.syncOperations.addHandler(listener)
                var moved = true
                while moved {
                    moved = false
                    while let bytes = try dialerChannel.readOutbound(as: ByteBuffer.self) {
                        try listenerChannel.writeInbound(bytes)
                        moved = true
                    }
                    while let bytes = try listenerChannel.readOutbound(as: ByteBuffer.self) {
                        try dialerChannel.writeInbound(bytes)
                        moved = true
                    }
                }
                blackHole(try dialer.negotiationResult.wait())
                blackHole(try listener.negotiationResult.wait())
                _ = try dialerChannel.finish()
                _ = try listenerChannel.finish()
            }
        }
    }
}
