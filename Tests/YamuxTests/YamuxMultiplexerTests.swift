import NIOCore
import NIOEmbedded
import P2PCore
import TestSupport
import Testing
import Yamux

private let kib = 1024

/// The multiplexer and its stream channels on two `EmbeddedChannel`s back to back.
@Suite struct YamuxMultiplexerTests {
    @Test(arguments: [false, true])
    func openWriteHalfCloseAndEcho(byteAtATime: Bool) throws {
        let pair = try EmbeddedYamuxPair()
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        #expect(try stream.getOption(YamuxChannelOptions.streamID).wait() == 1)
        stream.writeAndFlush(ByteBuffer(string: "hello, yamux"), promise: nil)
        try pair.pump(byteAtATime: byteAtATime)
        #expect(recorder.received == ByteBuffer(string: "hello, yamux"))
        #expect(pair.serverStreams.channels.count == 1)

        stream.close(mode: .output, promise: nil)
        try pair.pump(byteAtATime: byteAtATime)
        #expect(recorder.outputClosed)
        #expect(recorder.inputClosed)
        // Both directions closed: the stream channel closes by itself on both sides.
        #expect(recorder.inactive)
        #expect(!stream.isActive)
        #expect(pair.serverStreams.channels.allSatisfy { !$0.isActive })
        #expect(pair.clientMultiplexer.streamCount == 0)
        #expect(pair.serverMultiplexer.streamCount == 0)
        #expect(recorder.errors.isEmpty)
    }

    @Test func synAndDataWrittenOnActivationLeaveInOneWrite() throws {
        let pair = try EmbeddedYamuxPair()
        _ = try pair.openClientStream { [GreetingHandler(ByteBuffer(string: "hi"))] }
        let first = try pair.client.readOutbound(as: ByteBuffer.self)
        #expect(first?.hexString == "000100010000000100000000" + "0000000000000001000000026869")
        #expect(try pair.client.readOutbound(as: ByteBuffer.self) == nil)
    }

    @Test func serverAcceptsWithWindowUpdateACK() throws {
        let pair = try EmbeddedYamuxPair()
        _ = try pair.openClientStream { [] }
        let syn = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        try pair.server.writeInbound(syn)
        let ack = try pair.server.readOutbound(as: ByteBuffer.self)
        #expect(ack?.hexString == "000100020000000100000000")
    }

    @Test func tenThousandSequentialStreams() throws {
        let pair = try EmbeddedYamuxPair()
        for index in 0..<10_000 {
            let recorder = StreamRecorder()
            let stream = try pair.openClientStream { [recorder] }
            stream.write(ByteBuffer(string: "request \(index)"), promise: nil)
            stream.close(mode: .output, promise: nil)
            try pair.pump()
            #expect(recorder.received == ByteBuffer(string: "request \(index)"))
            #expect(recorder.inactive)
        }
        #expect(pair.serverStreams.channels.count == 10_000)
        #expect(try pair.serverStreams.channels.last?.getOption(YamuxChannelOptions.streamID).wait() == 19_999)
        #expect(pair.clientMultiplexer.streamCount == 0 && pair.serverMultiplexer.streamCount == 0)
    }

    @Test func thousandConcurrentStreams() throws {
        let pair = try EmbeddedYamuxPair()
        var recorders: [StreamRecorder] = []
        var futures: [EventLoopFuture<any Channel>] = []
        // All opened before any byte moves: beyond 256 unacknowledged streams the opens wait for ACKs.
        for _ in 0..<1000 {
            let recorder = StreamRecorder()
            recorders.append(recorder)
            futures.append(pair.clientMultiplexer.openStream(initializer: EmbeddedYamuxPair.adding { [recorder] }))
        }
        pair.loop.run()
        #expect(pair.clientMultiplexer.streamCount == 256)
        try pair.pump()
        #expect(pair.clientMultiplexer.streamCount == 1000)
        let streams = try futures.map { try $0.wait() }
        for (index, stream) in streams.enumerated() {
            stream.writeAndFlush(ByteBuffer.pattern(3000, seed: UInt8(truncatingIfNeeded: index)), promise: nil)
        }
        try pair.pump()
        #expect(pair.serverMultiplexer.streamCount == 1000)
        for (index, recorder) in recorders.enumerated() {
            #expect(recorder.received == .pattern(3000, seed: UInt8(truncatingIfNeeded: index)))
        }
        for stream in streams { stream.close(mode: .output, promise: nil) }
        try pair.pump()
        #expect(recorders.allSatisfy { $0.inactive && $0.errors.isEmpty })
        #expect(pair.clientMultiplexer.streamCount == 0 && pair.serverMultiplexer.streamCount == 0)
    }

    // MARK: - Backpressure

    @Test(arguments: [false, true])
    func slowReaderNeverMakesTheWriterExceedTheWindow(byteAtATime: Bool) throws {
        // The server reads only when asked; the client writes 1 MiB at once.
        let serverRecorder = StreamRecorder()
        let pair = try EmbeddedYamuxPair(
            serverStreamInitializer: EmbeddedYamuxPair.adding(autoRead: false) { [serverRecorder] }
        )
        let clientRecorder = StreamRecorder()
        let stream = try pair.openClientStream { [clientRecorder] }
        let message = ByteBuffer.pattern(1024 * kib + 5)
        let written = stream.writeAndFlush(message)
        #expect(!stream.isWritable)
        #expect(clientRecorder.writability == [false])
        try pair.pump(byteAtATime: byteAtATime)
        // Nothing was read, so nothing was credited: the client stopped at the 256 KiB window.
        #expect(serverRecorder.received.readableBytes == 0)
        #expect(pair.clientWire.readableBytes <= 12 + 256 * kib + 4 * 12 + 12)

        let serverStream = try #require(pair.serverStreams.channels.first)
        var rounds = 0
        while serverRecorder.received.readableBytes < message.readableBytes {
            rounds += 1
            try #require(rounds < 100, "no progress")
            let before = serverRecorder.received.readableBytes
            serverStream.read()
            try pair.pump(byteAtATime: byteAtATime)
            // One read hands over at most what the window let the client send.
            #expect(serverRecorder.received.readableBytes - before <= 256 * kib)
            #expect(serverRecorder.received.readableBytes > before)
        }
        #expect(serverRecorder.received == message)
        try written.wait()
        #expect(stream.isWritable)
        #expect(clientRecorder.writability == [false, true])
        #expect(pair.serverMultiplexer.streamCount == 1)
    }

    @Test func writabilityFollowsTheSendWindow() throws {
        let serverRecorder = StreamRecorder()
        let pair = try EmbeddedYamuxPair(
            serverStreamInitializer: EmbeddedYamuxPair.adding(autoRead: false) { [serverRecorder] }
        )
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        stream.write(ByteBuffer.pattern(200 * kib), promise: nil)
        #expect(stream.isWritable)
        stream.write(ByteBuffer.pattern(100 * kib), promise: nil)
        #expect(!stream.isWritable)
        stream.flush()
        try pair.pump()
        #expect(!stream.isWritable)
        let serverStream = try #require(pair.serverStreams.channels.first)
        serverStream.read()
        try pair.pump()
        #expect(stream.isWritable)
        #expect(recorder.writability == [false, true])
        #expect(serverRecorder.received.readableBytes == 256 * kib)
        serverStream.read()
        #expect(serverRecorder.received == .pattern(200 * kib) + .pattern(100 * kib))
    }

    @Test func autoReadCanBeSwitchedBackOn() throws {
        let serverRecorder = StreamRecorder()
        let pair = try EmbeddedYamuxPair(
            serverStreamInitializer: EmbeddedYamuxPair.adding(autoRead: false) { [serverRecorder] }
        )
        let stream = try pair.openClientStream { [] }
        stream.writeAndFlush(ByteBuffer.pattern(600 * kib), promise: nil)
        try pair.pump()
        #expect(serverRecorder.received.readableBytes == 0)
        let serverStream = try #require(pair.serverStreams.channels.first)
        try serverStream.setOption(ChannelOptions.autoRead, value: true).wait()
        try pair.pump()
        #expect(serverRecorder.received == .pattern(600 * kib))
    }

    // MARK: - Closing and resetting

    @Test func closeWithoutHalfClosureSupportClosesTheStreamOnFIN() throws {
        let serverRecorder = StreamRecorder()
        let pair = try EmbeddedYamuxPair(
            serverStreamInitializer: EmbeddedYamuxPair.adding(allowRemoteHalfClosure: false) { [serverRecorder] }
        )
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        stream.writeAndFlush(ByteBuffer(string: "bye"), promise: nil)
        stream.close(mode: .output, promise: nil)
        try pair.pump()
        // The server channel closed on the FIN, which sent the server's FIN: both sides are done, no RST.
        #expect(serverRecorder.received == ByteBuffer(string: "bye"))
        #expect(serverRecorder.inactive)
        #expect(recorder.inputClosed && recorder.inactive)
        #expect(recorder.errors.isEmpty)
    }

    @Test func closeSendsFINAndTheStreamEndsWhenThePeerFinishes() throws {
        let pair = try EmbeddedYamuxPair()
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        stream.writeAndFlush(ByteBuffer(string: "x"), promise: nil)
        try pair.pump()
        try stream.close().wait()
        try pair.pump()
        // The echo server got our FIN, closed its output, and the stream is gone on both sides.
        #expect(pair.clientMultiplexer.streamCount == 0)
        #expect(pair.serverMultiplexer.streamCount == 0)
        #expect(pair.serverStreams.channels.allSatisfy { !$0.isActive })
    }

    @Test func closeWithDataStuckBehindTheWindowSendsRST() throws {
        let serverRecorder = StreamRecorder()
        let pair = try EmbeddedYamuxPair(
            serverStreamInitializer: EmbeddedYamuxPair.adding(autoRead: false) { [serverRecorder] }
        )
        let stream = try pair.openClientStream { [] }
        let stuck = stream.writeAndFlush(ByteBuffer.pattern(300 * kib))
        try pair.pump()
        stream.close(promise: nil)
        #expect(throws: (any Error).self) { try stuck.wait() }
        try pair.pump()
        let serverStream = try #require(pair.serverStreams.channels.first)
        #expect(!serverStream.isActive)
        #expect(serverRecorder.yamuxErrorCodes == [.streamReset])
        // What had arrived is still handed over before the reset.
        #expect(serverRecorder.received.readableBytes == 256 * kib)
    }

    @Test func closeCreditsUnreadDataSoThePeerCanFinishWriting() throws {
        // The server's stream reads only when asked, and never does: the client's first 256 KiB stay unread.
        let serverRecorder = StreamRecorder()
        let pair = try EmbeddedYamuxPair(
            serverStreamInitializer: EmbeddedYamuxPair.adding(autoRead: false) { [serverRecorder] }
        )
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        let written = FutureOutcome(stream.writeAndFlush(ByteBuffer.pattern(300 * kib)))
        try pair.pump()
        #expect(serverRecorder.received.readableBytes == 0)
        #expect(written.result == nil)
        // The server's application gives up on the stream: its unread data is dropped, and must be credited back,
        // or the client's last 44 KiB wait forever for a window that never reopens.
        let serverStream = try #require(pair.serverStreams.channels.first)
        serverStream.close(promise: nil)
        try pair.pump()
        #expect(recorder.inputClosed)
        #expect(written.succeeded, "the client's writer stalled: no credit for the bytes the server dropped")
        stream.close(mode: .output, promise: nil)
        try pair.pump()
        #expect(recorder.inactive)
        #expect(recorder.errors.isEmpty)
        #expect(pair.clientMultiplexer.streamCount == 0 && pair.serverMultiplexer.streamCount == 0)
    }

    @Test func failingInboundInitializerResetsTheStream() throws {
        struct Refused: Error {}
        let pair = try EmbeddedYamuxPair(serverStreamInitializer: { channel in
            channel.eventLoop.makeFailedFuture(Refused())
        })
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        stream.writeAndFlush(ByteBuffer(string: "anyone?"), promise: nil)
        try pair.pump()
        #expect(recorder.yamuxErrorCodes == [.streamReset])
        #expect(!stream.isActive)
        #expect(pair.clientMultiplexer.streamCount == 0)
    }

    @Test func noInboundInitializerRefusesEveryStream() throws {
        let pair = try EmbeddedYamuxPair(serverStreamInitializer: nil)
        let recorder = StreamRecorder()
        _ = try pair.openClientStream { [recorder] }
        try pair.pump()
        #expect(recorder.yamuxErrorCodes == [.streamReset])
    }

    @Test func writesAfterOutputCloseFail() throws {
        let pair = try EmbeddedYamuxPair()
        let stream = try pair.openClientStream { [] }
        try stream.close(mode: .output).wait()
        #expect(throws: ChannelError.outputClosed) { try stream.writeAndFlush(ByteBuffer(string: "late")).wait() }
        #expect(throws: ChannelError.operationUnsupported) { try stream.close(mode: .input).wait() }
    }

    // MARK: - Session end

    @Test func goAwayFromThePeerClosesEveryStreamAndTheConnection() throws {
        let pair = try EmbeddedYamuxPair()
        let recorders = [StreamRecorder(), StreamRecorder()]
        let streams = try recorders.map { recorder in try pair.openClientStream { [recorder] } }
        try pair.pump()
        // Closing the server's connection sends Go Away (normal).
        pair.server.close(promise: nil)
        let goAway = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        #expect(goAway.hexString.hasSuffix("000300000000000000000000"))
        let parentErrors = ErrorRecorder()
        try pair.client.pipeline.syncOperations.addHandler(parentErrors)
        try pair.client.writeInbound(goAway)
        pair.loop.run()
        // The peer ended the session: its streams learn why, but it is no error of the connection.
        #expect(parentErrors.errors.isEmpty)
        #expect(recorders.allSatisfy { $0.yamuxErrorCodes == [.remoteGoAway] && $0.inactive })
        #expect(streams.allSatisfy { !$0.isActive })
        #expect(!pair.client.isActive)
        #expect(throws: YamuxError.self) {
            try pair.clientMultiplexer.openStream(initializer: EmbeddedYamuxPair.adding { [] }).wait()
        }
    }

    @Test func refusalsWhileTheConnectionIsNotWritableAreBounded() throws {
        // The server takes no inbound streams; a hostile client sends SYNs and never reads.
        let pair = try EmbeddedYamuxPair(serverStreamInitializer: nil)
        let parentErrors = ErrorRecorder()
        try pair.server.pipeline.syncOperations.addHandler(parentErrors)
        pair.server.isWritable = false
        pair.server.pipeline.fireChannelWritabilityChanged()
        func syns(from first: UInt32, count: Int) -> ByteBuffer {
            var frames = ByteBuffer()
            for index in 0..<count {
                frames.writeYamuxFrameHeader(.windowUpdate(streamID: first + 2 * UInt32(index), flags: .syn, delta: 0))
            }
            return frames
        }
        try pair.server.writeInbound(syns(from: 1, count: YamuxConstants.maximumRefusalsWhileNotWritable))
        var sent = ByteBuffer()
        while let bytes = try pair.server.readOutbound(as: ByteBuffer.self) { sent.writeImmutableBuffer(bytes) }
        #expect(sent.readableBytes == 12 * 256)
        #expect(pair.server.isActive)

        // The next refusal would grow the buffer further: the session ends instead.
        #expect(throws: YamuxError.self) { try pair.server.writeInbound(syns(from: 513, count: 64)) }
        sent.clear()
        while let bytes = try pair.server.readOutbound(as: ByteBuffer.self) { sent.writeImmutableBuffer(bytes) }
        #expect(sent.hexString == "000300000000000000000001")
        #expect(!pair.server.isActive)
        #expect(parentErrors.errors.compactMap { ($0 as? YamuxError)?.code } == [.refusalBacklogExceeded])
    }

    @Test func pingsAreNotAnsweredWhileTheConnectionIsNotWritable() throws {
        let pair = try EmbeddedYamuxPair()
        pair.server.isWritable = false
        pair.server.pipeline.fireChannelWritabilityChanged()
        for _ in 0..<100 { try pair.server.writeInbound(try ByteBuffer(hex: "000200010000000000000007")) }
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil)
        pair.server.isWritable = true
        pair.server.pipeline.fireChannelWritabilityChanged()
        try pair.server.writeInbound(try ByteBuffer(hex: "000200010000000000000008"))
        #expect(try pair.server.readOutbound(as: ByteBuffer.self)?.hexString == "000200020000000000000008")
    }

    @Test func lateFramesForAStreamThatIsGoneAreIgnoredAsARace() throws {
        let pair = try EmbeddedYamuxPair()
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        _ = try pair.client.readOutbound(as: ByteBuffer.self)  // the SYN
        // The peer accepts, then both sides close: the stream is gone.
        try pair.client.writeInbound(try ByteBuffer(hex: "000100020000000100000000"))
        stream.close(promise: nil)
        try pair.client.writeInbound(try ByteBuffer(hex: "000100040000000100000000"))
        pair.loop.run()
        #expect(pair.clientMultiplexer.streamCount == 0)
        // Frames the peer sent before it learnt of that are dropped, data and all.
        try pair.client.writeInbound(try ByteBuffer(hex: "00000000000000010000000161"))
        try pair.client.writeInbound(try ByteBuffer(hex: "000100000000000100001000"))
        try pair.client.writeInbound(try ByteBuffer(hex: "000100080000000100000000"))
        pair.loop.run()
        #expect(pair.client.isActive)
        #expect(recorder.errors.isEmpty)
        var sent = ByteBuffer()
        while let bytes = try pair.client.readOutbound(as: ByteBuffer.self) { sent.writeImmutableBuffer(bytes) }
        while let header = try sent.readYamuxFrameHeader() {
            #expect(header.type != .goAway)
            if header.type == .data { sent.moveReaderIndex(forwardBy: Int(header.length)) }
        }
        _ = try pair.openClientStream { [] }
        #expect(pair.clientMultiplexer.streamCount == 1)
    }

    @Test func connectionLossClosesStreamsWithATypedError() throws {
        let pair = try EmbeddedYamuxPair()
        let recorder = StreamRecorder()
        _ = try pair.openClientStream { [recorder] }
        try pair.pump()
        pair.client.pipeline.fireChannelInactive()
        pair.loop.run()
        #expect(recorder.yamuxErrorCodes == [.connectionClosed])
        #expect(recorder.inactive)
    }

    @Test func roundTripTimeIsMeasuredWithOurPingsOnTheLoopClock() throws {
        var configuration = YamuxConfiguration()
        configuration.roundTripPingInterval = .seconds(1)
        let pair = try EmbeddedYamuxPair(clientConfiguration: configuration)
        // The first ping leaves at start; its answer arrives 7 ms later.
        pair.loop.advanceTime(by: .milliseconds(7))
        try pair.pump()
        #expect(pair.clientMultiplexer.roundTripTime == .milliseconds(7))
        // The next one leaves a second later.
        pair.loop.advanceTime(by: .milliseconds(993))
        let ping = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        #expect(ping.hexString == "000200010000000000000002")
        try pair.server.writeInbound(ping)
        pair.loop.advanceTime(by: .milliseconds(3))
        try pair.pump()
        #expect(pair.clientMultiplexer.roundTripTime == .milliseconds(3))
    }

    @Test func receiveWindowGrowsOnAHighDelayLinkOnceTheRoundTripTimeIsKnown() throws {
        var configuration = YamuxConfiguration()
        configuration.roundTripPingInterval = .seconds(10)
        let pair = try EmbeddedYamuxPair(clientConfiguration: configuration, serverConfiguration: configuration)
        // Both first pings come back after 50 ms: a high-delay link.
        pair.loop.advanceTime(by: .milliseconds(50))
        try pair.pump()
        #expect(pair.serverMultiplexer.roundTripTime == .milliseconds(50))
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream { [recorder] }
        let message = ByteBuffer.pattern(8 * 1024 * kib)
        stream.writeAndFlush(message, promise: nil)
        // The reader consumes at once (no time passes), so each half window is used in under 2 RTT: the server's
        // window doubles on every update until go's 16 MiB.
        try pair.pump()
        #expect(pair.serverStreams.channels.count == 1)
        var deltas: [UInt32] = []
        var wire = pair.serverWire
        while let header = try wire.readYamuxFrameHeader() {
            if header.type == .data { wire.moveReaderIndex(forwardBy: Int(header.length)) }
            if header.type == .windowUpdate, header.streamID == 1, header.length > 0 { deltas.append(header.length) }
        }
        #expect(deltas.count >= 4)
        #expect(deltas.max() ?? 0 > 1024 * UInt32(kib))
        #expect(deltas == deltas.sorted())
        // The echo came back whole.
        #expect(recorder.received.readableBytes == message.readableBytes)
    }

    // MARK: - Bad input through the channel

    /// Each malformed or hostile input, by name: the multiplexer answers Go Away (protocol error), surfaces the typed
    /// error, closes the connection and its streams, and does not crash or hang.
    enum BadInput: String, CaseIterable, CustomTestStringConvertible {
        case wrongVersion, unknownType, undefinedFlag, synAndAck, pingWithoutSynOrAck, goAwayWithFlags
        case dataForStreamZero, dataForUnopenedStream, windowUpdateForStreamNeverOpenedByUs
        case dataAfterFIN, firstDataBeyondWindow, dataBeyondWindowOnOpenStream, windowOverflow
        case synWrongParity, synReused, synBelowHighestID, frameTooLarge

        var testDescription: String { self.rawValue }

        /// Frames sent to the client after it opened stream 1.
        var hex: [String] {
            switch self {
            case .wrongVersion: return ["010100020000000100000000"]
            case .unknownType: return ["000900000000000000000000"]
            case .undefinedFlag: return ["000100200000000100000000"]
            case .synAndAck: return ["000100030000000200000000"]
            case .pingWithoutSynOrAck: return ["000200000000000000000001"]
            case .goAwayWithFlags: return ["000300080000000000000000"]
            case .dataForStreamZero: return ["00000000000000000000000161"]
            case .dataForUnopenedStream: return ["00000000000000040000000161"]
            case .windowUpdateForStreamNeverOpenedByUs: return ["000100000000000300000001"]
            case .dataAfterFIN: return ["000100060000000100000000", "00000000000000010000000161"]
            case .firstDataBeyondWindow:
                return ["00000002000000010004000100" + String(repeating: "00", count: 256 * 1024)]
            case .dataBeyondWindowOnOpenStream:
                // Accepted, then the whole window in two frames (nobody reads, so no credit), then one byte more.
                return [
                    "000100020000000100000000",
                    "000000000000000100020000" + String(repeating: "00", count: 128 * 1024),
                    "000000000000000100020000" + String(repeating: "00", count: 128 * 1024),
                    "00000000000000010000000161",
                ]
            case .windowOverflow: return ["0001000200000001ffffffff"]
            case .synWrongParity: return ["000100010000000500000000"]
            case .synReused: return ["000100010000000200000000", "000100010000000200000000"]
            case .synBelowHighestID: return ["000100010000000600000000", "000100010000000400000000"]
            case .frameTooLarge: return ["000000000000000101000001"]
            }
        }

        var code: YamuxError.Code {
            switch self {
            case .wrongVersion: return .invalidVersion
            case .unknownType: return .unknownFrameType
            case .undefinedFlag, .synAndAck, .pingWithoutSynOrAck, .goAwayWithFlags: return .invalidFlags
            case .dataForStreamZero: return .invalidStreamID
            case .dataForUnopenedStream, .windowUpdateForStreamNeverOpenedByUs: return .unknownStream
            case .dataAfterFIN: return .streamClosed
            case .firstDataBeyondWindow, .dataBeyondWindowOnOpenStream: return .receiveWindowExceeded
            case .windowOverflow: return .windowOverflow
            case .synWrongParity: return .streamIDParity
            case .synReused, .synBelowHighestID: return .streamIDReused
            case .frameTooLarge: return .frameTooLarge
            }
        }
    }

    @Test(arguments: BadInput.allCases)
    func badInputEndsTheSessionWithGoAwayAndATypedError(input: BadInput) throws {
        let pair = try EmbeddedYamuxPair()
        let recorder = StreamRecorder()
        let stream = try pair.openClientStream(autoRead: false) { [recorder] }
        _ = try pair.client.readOutbound(as: ByteBuffer.self)  // the SYN
        var caught: (any Error)?
        for hex in input.hex where caught == nil {
            do { try pair.client.writeInbound(try ByteBuffer(hex: hex)) } catch { caught = error }
        }
        pair.loop.run()
        #expect((caught as? YamuxError)?.code == input.code)
        var sent = ByteBuffer()
        while let bytes = try pair.client.readOutbound(as: ByteBuffer.self) { sent.writeImmutableBuffer(bytes) }
        #expect(sent.hexString.hasSuffix("000300000000000000000001"))
        #expect(!pair.client.isActive)
        #expect(!stream.isActive)
        #expect(recorder.yamuxErrorCodes == [input.code])
        // Further bytes are ignored, not a crash (the closed channel may or may not refuse them).
        _ = try? pair.client.writeInbound(try ByteBuffer(hex: "000100010000000200000000"))
    }
}
