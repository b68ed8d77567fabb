import NIOCore
import NIOEmbedded
import P2PCore
import TestSupport
import Testing

@testable import Noise

/// Two EmbeddedChannels with Noise handlers, connected by a pump that moves every written byte
/// across until both are quiet.
final class NoiseChannelPair {
    let initiator = EmbeddedChannel()
    let responder = EmbeddedChannel()
    var initiatorResult: EventLoopFuture<NoiseHandshakeResult>?
    var responderResult: EventLoopFuture<NoiseHandshakeResult>?

    init() throws {
        try self.initiator.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try self.responder.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
    }

    func addHandlers(initiator: NoiseConfiguration, responder: NoiseConfiguration) throws {
        self.responderResult = try self.responder.pipeline.syncOperations.addNoiseHandler(role: .responder, configuration: responder)
        self.initiatorResult = try self.initiator.pipeline.syncOperations.addNoiseHandler(role: .initiator, configuration: initiator)
    }

    /// Moves bytes both ways until nothing moves; every write of one side becomes one read of the other.
    func pump() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try self.initiator.readOutbound(as: ByteBuffer.self) {
                moved = true
                if self.responder.isActive { try self.responder.writeInbound(bytes) }
            }
            while let bytes = try self.responder.readOutbound(as: ByteBuffer.self) {
                moved = true
                if self.initiator.isActive { try self.initiator.writeInbound(bytes) }
            }
        }
    }

    /// Everything the channel passed on inbound, joined.
    static func inbound(_ channel: EmbeddedChannel) throws -> ByteBuffer {
        var all = ByteBuffer()
        while var part = try channel.readInbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
        return all
    }

    static func result(_ future: EventLoopFuture<NoiseHandshakeResult>?) throws -> NoiseHandshakeResult {
        let future = try #require(future)
        return try future.wait()
    }

    static func error(_ future: EventLoopFuture<NoiseHandshakeResult>?) throws -> NoiseError? {
        let future = try #require(future)
        do {
            _ = try future.wait()
            return nil
        } catch {
            return error as? NoiseError
        }
    }
}

@Suite("Noise NIO handler")
struct NoiseHandlerTests {
    @Test("two channels complete the handshake and exchange data both ways")
    func handshakeAndData() throws {
        let alice = try NoiseTestKeys.identity(1)
        let bob = try NoiseTestKeys.identity(2)
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(alice, expecting: bob.peerID, muxers: [.yamux]),
            responder: NoiseTestKeys.configuration(bob, muxers: [.mplex, .yamux])
        )
        try pair.pump()
        let initiatorResult = try NoiseChannelPair.result(pair.initiatorResult)
        let responderResult = try NoiseChannelPair.result(pair.responderResult)
        #expect(initiatorResult.remotePeerID == bob.peerID)
        #expect(responderResult.remotePeerID == alice.peerID)
        #expect(initiatorResult.earlyMuxer == .yamux && responderResult.earlyMuxer == .yamux)
        #expect(initiatorResult.usedEarlyNegotiation && responderResult.usedEarlyNegotiation)

        let big = NoiseTransportCipherTests.plaintext(200_000)
        try pair.initiator.writeAndFlush(big).wait()
        try pair.responder.writeAndFlush(ByteBuffer(string: "pong")).wait()
        try pair.pump()
        #expect(try NoiseChannelPair.inbound(pair.responder) == big)
        #expect(try NoiseChannelPair.inbound(pair.initiator) == ByteBuffer(string: "pong"))
        #expect(try pair.initiator.finish().isClean)
        #expect(try pair.responder.finish().isClean)
    }

    @Test("a handler added before the channel is active starts the handshake on channelActive")
    func startsOnChannelActive() throws {
        let channel = EmbeddedChannel()
        let result = try channel.pipeline.syncOperations.addNoiseHandler(
            role: .initiator,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1))
        )
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let message1 = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(message1.readableBytes == 2 + 32)
        _ = try? channel.finish()
        #expect(throws: NoiseError.self) { try result.wait() }
    }

    @Test("classic configuration reports no early muxer")
    func classicReportsNoEarlyMuxer() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1), muxers: []),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), muxers: [.yamux])
        )
        try pair.pump()
        let result = try NoiseChannelPair.result(pair.initiatorResult)
        #expect(result.earlyMuxer == nil && !result.usedEarlyNegotiation)
        #expect(try NoiseChannelPair.result(pair.responderResult).earlyMuxer == nil)
    }

    @Test("transport frames behind message 3 in the same read are decrypted after the promise completes")
    func framesBehindMessage3() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1), muxers: [.yamux]),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), muxers: [.yamux])
        )
        // msg1 -> responder, msg2 -> initiator.
        try pair.responder.writeInbound(try #require(try pair.initiator.readOutbound(as: ByteBuffer.self)))
        try pair.initiator.writeInbound(try #require(try pair.responder.readOutbound(as: ByteBuffer.self)))
        #expect(try NoiseChannelPair.result(pair.initiatorResult).earlyMuxer == .yamux)
        // The initiator starts its muxer at once: its first frame follows msg3 in one segment.
        try pair.initiator.writeAndFlush(ByteBuffer(string: "yamux SYN")).wait()
        var segment = ByteBuffer()
        while var part = try pair.initiator.readOutbound(as: ByteBuffer.self) { segment.writeBuffer(&part) }

        // A handler added from the promise's callback must see the first plaintext.
        let recorder = InboundRecorder()
        pair.responderResult?.assumeIsolated().whenSuccess { _ in
            try? pair.responder.pipeline.syncOperations.addHandler(recorder)
        }
        try pair.responder.writeInbound(segment)
        #expect(try NoiseChannelPair.result(pair.responderResult).earlyMuxer == .yamux)
        #expect(recorder.received == [ByteBuffer(string: "yamux SYN")])
    }

    @Test("bytes read before the handler was added are accepted as ordinary reads, even one byte at a time")
    func bytesBeforeHandlerAdded() throws {
        let pair = try NoiseChannelPair()
        pair.initiatorResult = try pair.initiator.pipeline.syncOperations.addNoiseHandler(
            role: .initiator,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1))
        )
        let message1 = try #require(try pair.initiator.readOutbound(as: ByteBuffer.self))
        // The upgrader's multistream step read msg1 past its own last message and hands it on.
        pair.responderResult = try pair.responder.pipeline.syncOperations.addNoiseHandler(
            role: .responder,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        for byte in message1.readableBytesView {
            try pair.responder.writeInbound(ByteBuffer(bytes: [byte]))
        }
        try pair.pump()
        #expect(try NoiseChannelPair.result(pair.initiatorResult).remotePeerID == (try NoiseTestKeys.identity(2)).peerID)
        #expect(try NoiseChannelPair.result(pair.responderResult).remotePeerID == (try NoiseTestKeys.identity(1)).peerID)
    }

    @Test("writes made before the handshake completes are sent, in order, right after it")
    func writesBeforeCompletion() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        let first = pair.initiator.writeAndFlush(ByteBuffer(string: "early "))
        let second = pair.initiator.writeAndFlush(ByteBuffer(string: "bytes"))
        try pair.pump()
        try first.wait()
        try second.wait()
        #expect(try NoiseChannelPair.inbound(pair.responder) == ByteBuffer(string: "early bytes"))
    }

    @Test("several writes before one flush go out as one encrypted buffer; every promise completes")
    func writesCoalescedUntilFlush() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.pump()
        let writes = (0..<3).map { pair.initiator.write(ByteBuffer(string: "w\($0)")) }
        pair.initiator.flush()
        let outbound = try #require(try pair.initiator.readOutbound(as: ByteBuffer.self))
        #expect(try pair.initiator.readOutbound(as: ByteBuffer.self) == nil)
        #expect(outbound.readableBytes == 3 * (2 + 2 + 16))
        for write in writes { try write.wait() }
        try pair.responder.writeInbound(outbound)
        #expect(try NoiseChannelPair.inbound(pair.responder) == ByteBuffer(string: "w0w1w2"))
    }

    @Test("transport frames split across reads, one byte at a time, are decrypted when whole")
    func framesSplitAcrossReads() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.pump()
        try pair.initiator.writeAndFlush(ByteBuffer(string: "split")).wait()
        try pair.initiator.writeAndFlush(ByteBuffer(string: " frames")).wait()
        var segment = ByteBuffer()
        while var part = try pair.initiator.readOutbound(as: ByteBuffer.self) { segment.writeBuffer(&part) }
        for byte in segment.readableBytesView {
            try pair.responder.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try NoiseChannelPair.inbound(pair.responder) == ByteBuffer(string: "split frames"))
    }

    // MARK: - Failures: a typed error and a closed channel

    @Test("a corrupted frame completed by a later read closes the channel with decryptionFailed")
    func corruptedFrameAcrossReadsClosesChannel() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.pump()
        try pair.initiator.writeAndFlush(ByteBuffer(string: "tampered")).wait()
        var frame = try #require(try pair.initiator.readOutbound(as: ByteBuffer.self))
        frame.setInteger(frame.getInteger(at: 5, as: UInt8.self)! ^ 0x10, at: 5)
        let head = try #require(frame.getSlice(at: frame.readerIndex, length: 4))
        frame.moveReaderIndex(forwardBy: 4)
        try pair.responder.writeInbound(head)
        #expect(throws: NoiseError.self) { try pair.responder.writeInbound(frame) }
        #expect(!pair.responder.isActive)
    }

    @Test("peer ID mismatch closes the dialer's channel with a typed error")
    func peerIDMismatchClosesChannel() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1), expecting: try NoiseTestKeys.identity(9).peerID),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.responder.writeInbound(try #require(try pair.initiator.readOutbound(as: ByteBuffer.self)))
        let message2 = try #require(try pair.responder.readOutbound(as: ByteBuffer.self))
        #expect(throws: NoiseError.self) { try pair.initiator.writeInbound(message2) }
        #expect(try NoiseChannelPair.error(pair.initiatorResult)?.code == .peerIDMismatch)
        #expect(!pair.initiator.isActive)
        #expect(try pair.initiator.readOutbound(as: ByteBuffer.self) == nil, "no message 3 was sent")
    }

    @Test("a malformed handshake message closes the channel with a typed error")
    func malformedMessageClosesChannel() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        // A message 2 too short to hold its keys.
        #expect(throws: NoiseError.self) { try pair.initiator.writeInbound(ByteBuffer(bytes: [0x00, 0x05, 1, 2, 3, 4, 5])) }
        #expect(try NoiseChannelPair.error(pair.initiatorResult)?.code == .truncatedMessage)
        #expect(!pair.initiator.isActive)
    }

    @Test("a corrupted transport frame closes the channel with decryptionFailed")
    func corruptedFrameClosesChannel() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.pump()
        try pair.initiator.writeAndFlush(ByteBuffer(string: "hello")).wait()
        var frame = try #require(try pair.initiator.readOutbound(as: ByteBuffer.self))
        frame.setInteger(frame.getInteger(at: 3, as: UInt8.self)! ^ 0xff, at: 3)
        do {
            try pair.responder.writeInbound(frame)
            Issue.record("no error")
        } catch let error as NoiseError {
            #expect(error.code == .decryptionFailed)
        }
        #expect(!pair.responder.isActive)
        #expect(try pair.responder.readInbound(as: ByteBuffer.self) == nil)
    }

    @Test("a transport frame shorter than the tag closes the channel with frameTooShort")
    func shortFrameClosesChannel() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.pump()
        do {
            try pair.responder.writeInbound(ByteBuffer(bytes: [0x00, 0x03, 1, 2, 3]))
            Issue.record("no error")
        } catch let error as NoiseError {
            #expect(error.code == .frameTooShort)
        }
        #expect(!pair.responder.isActive)
    }

    @Test("the connection closing mid-handshake fails the promise with connectionClosedDuringHandshake")
    func closeDuringHandshake() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.responder.writeInbound(ByteBuffer(bytes: [0x00, 0x20, 1, 2, 3]))
        try pair.responder.close().wait()
        #expect(try NoiseChannelPair.error(pair.responderResult)?.code == .connectionClosedDuringHandshake)
    }

    @Test("the connection closing inside a transport frame reports truncatedFrame")
    func closeInsideFrame() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        try pair.pump()
        try pair.responder.writeInbound(ByteBuffer(bytes: [0x00, 0x40, 1, 2, 3]))
        pair.responder.pipeline.fireChannelInactive()
        #expect(throws: NoiseError.self) { try pair.responder.throwIfErrorCaught() }
    }

    @Test("too many bytes written before the handshake completes fail with tooManyPendingWrites")
    func tooManyPendingWrites() throws {
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        let write = pair.initiator.write(NoiseTransportCipherTests.plaintext(NoiseHandler.maximumPendingWriteBytes + 1))
        #expect(throws: NoiseError.self) { try write.wait() }
        #expect(!pair.initiator.isActive)
        #expect(try NoiseChannelPair.error(pair.initiatorResult)?.code == .tooManyPendingWrites)
    }
}

/// Records inbound ByteBuffers.
final class InboundRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var received: [ByteBuffer] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received.append(Self.unwrapInboundIn(data))
    }
}
