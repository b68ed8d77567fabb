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

/// One NoiseHandler on a connected EmbeddedChannel, facing a ``RawNoisePeer`` the test drives by
/// hand, so that it can be sent handshake messages no correct peer would send.
final class NoiseHandlerUnderTest {
    let channel = EmbeddedChannel()
    let result: EventLoopFuture<NoiseHandshakeResult>

    /// Adds the handler to an active channel: an initiator has written message 1 when this returns.
    init(role: ConnectionRole, configuration: NoiseConfiguration) throws {
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        self.result = try self.channel.pipeline.syncOperations.addNoiseHandler(role: role, configuration: configuration)
    }

    /// Delivers `bytes` and expects the handler to fail with `code` everywhere it reports: the error
    /// fired down the pipeline, the handshake promise, and the channel, which must be closed. Nothing
    /// more may have been written (no reply to the bad message).
    func expectFailure(
        _ code: NoiseError.Code,
        delivering bytes: ByteBuffer,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        do {
            try self.channel.writeInbound(bytes)
            Issue.record("no error was fired for NoiseError.\(code)", sourceLocation: sourceLocation)
        } catch let error as NoiseError {
            #expect(error.code == code, "fired: \(error)", sourceLocation: sourceLocation)
        }
        #expect(try NoiseChannelPair.error(self.result)?.code == code, "handshake promise", sourceLocation: sourceLocation)
        #expect(!self.channel.isActive, "the channel is closed", sourceLocation: sourceLocation)
        #expect(try self.channel.readOutbound(as: ByteBuffer.self) == nil, "no reply was sent", sourceLocation: sourceLocation)
        #expect(try self.channel.readInbound(as: ByteBuffer.self) == nil, sourceLocation: sourceLocation)
    }

    /// An initiator handler and a raw responder that has read its message 1.
    static func initiatorFacingRawResponder() throws -> (NoiseHandlerUnderTest, RawNoisePeer) {
        let handler = try NoiseHandlerUnderTest(
            role: .initiator,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1))
        )
        var responder = try RawNoisePeer(role: .responder)
        try responder.read(try #require(try handler.channel.readOutbound(as: ByteBuffer.self)))
        return (handler, responder)
    }

    /// A responder handler and a raw initiator whose message 1 it has answered; the raw initiator has
    /// read message 2 and can write message 3.
    static func responderFacingRawInitiator() throws -> (NoiseHandlerUnderTest, RawNoisePeer) {
        let handler = try NoiseHandlerUnderTest(
            role: .responder,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        var initiator = try RawNoisePeer(role: .initiator)
        try handler.channel.writeInbound(try initiator.message1())
        try initiator.read(try #require(try handler.channel.readOutbound(as: ByteBuffer.self)))
        return (handler, initiator)
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

    @Test("bad signature: identity_sig over another static key closes the dialer's channel with invalidSignature")
    func badSignatureClosesChannel() throws {
        let (handler, rawResponder) = try NoiseHandlerUnderTest.initiatorFacingRawResponder()
        var responder = rawResponder
        let bob = try NoiseTestKeys.identity(2)
        let otherStaticKey = try NoiseDefaultCryptoProvider().generateX25519KeyPair().publicKey
        let message2 = try responder.message2(
            payload: try NoiseHandshakePayload.encoded(
                identityKey: bob.publicKey.protobufEncoded,
                signature: try bob.sign(NoiseHandshakePayload.signedMessage(staticKey: otherStaticKey)),
                muxers: []
            )
        )
        try handler.expectFailure(.invalidSignature, delivering: message2)
    }

    struct WrongKeyTypeCase: Sendable, CustomTestStringConvertible {
        var keyType: UInt8
        var code: NoiseError.Code
        var testDescription: String { "KeyType \(keyType) on Ed25519 key bytes -> \(code)" }
    }

    @Test(
        "wrong key type in identity_key closes the dialer's channel with a typed error",
        arguments: [
            // A KeyType the peer-ids spec does not define.
            WrongKeyTypeCase(keyType: 9, code: .unsupportedIdentityKeyType),
            // A defined KeyType whose key bytes are not of that type.
            WrongKeyTypeCase(keyType: IdentityKeyType.secp256k1.rawValue, code: .malformedIdentityKey),
        ]
    )
    func wrongKeyTypeClosesChannel(_ wrongKeyType: WrongKeyTypeCase) throws {
        let (handler, rawResponder) = try NoiseHandlerUnderTest.initiatorFacingRawResponder()
        var responder = rawResponder
        let bob = try NoiseTestKeys.identity(2)
        var identityKey = bob.publicKey.protobufEncoded
        identityKey[1] = wrongKeyType.keyType
        let message2 = try responder.message2(
            payload: try NoiseHandshakePayload.encoded(
                identityKey: identityKey,
                signature: try bob.sign(NoiseHandshakePayload.signedMessage(staticKey: responder.staticKey.publicKey)),
                muxers: []
            )
        )
        try handler.expectFailure(wrongKeyType.code, delivering: message2)
    }

    @Test("a malformed protobuf payload in message 2 closes the dialer's channel with malformedPayload")
    func malformedPayloadClosesChannel() throws {
        let (handler, rawResponder) = try NoiseHandlerUnderTest.initiatorFacingRawResponder()
        var responder = rawResponder
        // A field of wire type 7, which protobuf does not define.
        let message2 = try responder.message2(payload: [0xff, 0xff, 0xff])
        try handler.expectFailure(.malformedPayload, delivering: message2)
    }

    @Test("an oversize message 1 closes the listener's channel with messageTooLarge, before any reply")
    func oversizeMessage1ClosesChannel() throws {
        let handler = try NoiseHandlerUnderTest(
            role: .responder,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        var initiator = try RawNoisePeer(role: .initiator)
        let message1 = try initiator.message1(
            payload: [UInt8](repeating: 0x42, count: NoiseConstants.maximumMessage1PayloadLength + 1)
        )
        try handler.expectFailure(.messageTooLarge, delivering: message1)
    }

    @Test("a corrupted message 2 ciphertext closes the dialer's channel with decryptionFailed", arguments: [
        2 + 32 + 5,  // inside the encrypted static key
        2 + 32 + 48 + 5,  // inside the encrypted payload
    ])
    func corruptedMessage2ClosesChannel(offset: Int) throws {
        let (handler, rawResponder) = try NoiseHandlerUnderTest.initiatorFacingRawResponder()
        var responder = rawResponder
        var message2 = try responder.message2(payload: try responder.payload(identity: try NoiseTestKeys.identity(2)))
        try message2.flipBits(0x80, atReadableOffset: offset)
        try handler.expectFailure(.decryptionFailed, delivering: message2)
    }

    @Test("a corrupted message 3 ciphertext closes the listener's channel with decryptionFailed", arguments: [
        2 + 5,  // inside the encrypted static key
        2 + 48 + 5,  // inside the encrypted payload
    ])
    func corruptedMessage3ClosesChannel(offset: Int) throws {
        let (handler, rawInitiator) = try NoiseHandlerUnderTest.responderFacingRawInitiator()
        var initiator = rawInitiator
        var message3 = try initiator.message3(payload: try initiator.payload(identity: try NoiseTestKeys.identity(1)))
        try message3.flipBits(0x01, atReadableOffset: offset)
        try handler.expectFailure(.decryptionFailed, delivering: message3)
    }

    @Test("the handler-level harness accepts a correct raw peer (so the failures above are the bad bytes)")
    func rawPeerHarnessCompletes() throws {
        let (dialer, rawResponder) = try NoiseHandlerUnderTest.initiatorFacingRawResponder()
        var responder = rawResponder
        try dialer.channel.writeInbound(try responder.message2(payload: try responder.payload(identity: try NoiseTestKeys.identity(2))))
        #expect(try NoiseChannelPair.result(dialer.result).remotePeerID == (try NoiseTestKeys.identity(2)).peerID)
        #expect(dialer.channel.isActive)

        let (listener, rawInitiator) = try NoiseHandlerUnderTest.responderFacingRawInitiator()
        var initiator = rawInitiator
        try listener.channel.writeInbound(try initiator.message3(payload: try initiator.payload(identity: try NoiseTestKeys.identity(1))))
        #expect(try NoiseChannelPair.result(listener.result).remotePeerID == (try NoiseTestKeys.identity(1)).peerID)
        #expect(listener.channel.isActive)
    }

    @Test("two channels complete the handshake with RSA and secp256k1 identities")
    func handshakeWithNonEd25519Identities() throws {
        let alice = try NoiseTestKeys.fixtureKey(.rsa)
        let bob = try NoiseTestKeys.fixtureKey(.secp256k1)
        let pair = try NoiseChannelPair()
        try pair.addHandlers(
            initiator: NoiseTestKeys.configuration(alice.identity, expecting: try PeerID(parsing: bob.peerID)),
            responder: NoiseTestKeys.configuration(bob.identity)
        )
        try pair.pump()
        #expect(try NoiseChannelPair.result(pair.initiatorResult).remotePeerID.description == bob.peerID)
        #expect(try NoiseChannelPair.result(pair.responderResult).remotePeerID.description == alice.peerID)
        try pair.initiator.writeAndFlush(ByteBuffer(string: "hello")).wait()
        try pair.pump()
        #expect(try NoiseChannelPair.inbound(pair.responder) == ByteBuffer(string: "hello"))
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

extension ByteBuffer {
    /// Flips the `mask` bits of the byte `offset` bytes past the reader index: a corrupted ciphertext.
    fileprivate mutating func flipBits(_ mask: UInt8, atReadableOffset offset: Int) throws {
        let index = self.readerIndex + offset
        self.setInteger(try #require(self.getInteger(at: index, as: UInt8.self)) ^ mask, at: index)
    }
}
