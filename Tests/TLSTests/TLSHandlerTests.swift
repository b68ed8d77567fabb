import NIOCore
import NIOEmbedded
import P2PCore
import TestSupport
import Testing

@testable import TLS

/// The NIO handler on two `EmbeddedChannel`s pumped in memory: results, ordering guarantees,
/// held writes, and failures that close only the affected channel.
@Suite struct TLSHandlerTests {
    typealias Support = TLSTestSupport
    static func address() throws -> SocketAddress { try SocketAddress(ipAddress: "127.0.0.1", port: 4001) }

    /// One side: its channel and handler.
    struct Side: @unchecked Sendable {
        let channel: EmbeddedChannel
        let handler: TLSHandler
    }

    func side(
        _ context: TLSContext,
        role: ConnectionRole,
        expecting: PeerID? = nil,
        certificate: TLSConnection.CertificateChoice = .fromContext,
        loop: EmbeddedEventLoop,
        activate: Bool = true
    ) throws -> Side {
        let channel = EmbeddedChannel(loop: loop)
        let handler = TLSHandler(
            context: context,
            role: role,
            expectedRemotePeerID: expecting,
            certificate: certificate,
            eventLoop: loop
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        if activate { try channel.connect(to: Self.address()).wait() }
        return Side(channel: channel, handler: handler)
    }

    /// Errors the pipelines reported while `interact` delivered bytes.
    struct CaughtErrors {
        var first: [any Error] = []
        var second: [any Error] = []
    }

    /// Moves bytes both ways until neither side has anything to send. Each direction's pending
    /// buffers are joined and delivered as one read, as a socket read would. Errors a pipeline fires
    /// while reading are collected, not thrown, so a test can check which side saw what.
    @discardableResult
    func interact(_ a: EmbeddedChannel, _ b: EmbeddedChannel) throws -> CaughtErrors {
        var caught = CaughtErrors()
        while true {
            let fromA = try self.drain(a)
            if let fromA, b.isActive {
                do { try b.writeInbound(fromA) } catch { caught.second.append(error) }
            }
            let fromB = try self.drain(b)
            if let fromB, a.isActive {
                do { try a.writeInbound(fromB) } catch { caught.first.append(error) }
            }
            if fromA == nil, fromB == nil { return caught }
        }
    }

    /// The value of a future that must already be complete; never blocks (an `EmbeddedEventLoop`
    /// future that is not complete would block `wait()` forever).
    func value<T>(_ future: EventLoopFuture<T>) throws -> T {
        let box = ResultBox<T>()
        future.whenComplete { box.result = $0 }
        guard let result = box.result else { throw TestSupportError("future not complete") }
        return try result.get()
    }

    /// ``interact(_:_:)`` where neither pipeline may report an error.
    func pump(_ a: EmbeddedChannel, _ b: EmbeddedChannel, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let caught = try self.interact(a, b)
        #expect(caught.first.isEmpty && caught.second.isEmpty, "\(caught)", sourceLocation: sourceLocation)
    }

    func drain(_ channel: EmbeddedChannel) throws -> ByteBuffer? {
        guard var joined = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { joined.writeImmutableBuffer(bytes) }
        return joined
    }

    func readAll(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var result: [UInt8] = []
        while let bytes = try channel.readInbound(as: ByteBuffer.self) { result += bytes.readableBytesView }
        return result
    }

    // MARK: - Success

    @Test func handshakeCompletesAndPlaintextFlowsBothWays() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, expecting: try Support.identity(2).peerID, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        try self.pump(client.channel, server.channel)
        let clientResult = try self.value(client.handler.handshakeResult)
        let serverResult = try self.value(server.handler.handshakeResult)
        #expect(clientResult.remotePeerID == (try Support.identity(2).peerID))
        #expect(serverResult.remotePeerID == (try Support.identity(1).peerID))
        #expect(clientResult.negotiatedMuxer == nil)

        try client.channel.writeAndFlush(ByteBuffer(string: "ping")).wait()
        try self.pump(client.channel, server.channel)
        #expect(try self.readAll(server.channel) == Array("ping".utf8))
        try server.channel.writeAndFlush(ByteBuffer(string: "pong")).wait()
        try self.pump(client.channel, server.channel)
        #expect(try self.readAll(client.channel) == Array("pong".utf8))
    }

    @Test func earlyMuxerNegotiationResultReachesBothSides() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1, muxers: [.yamux]), role: .initiator, loop: loop)
        let server = try self.side(try Support.context(2, muxers: [.yamux]), role: .responder, loop: loop)
        try self.pump(client.channel, server.channel)
        #expect(try self.value(client.handler.handshakeResult).negotiatedMuxer == .yamux)
        #expect(try self.value(server.handler.handshakeResult).usedEarlyNegotiation)
    }

    @Test func largeWritesArriveIntact() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        try self.pump(client.channel, server.channel)
        let message = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let first = client.channel.write(ByteBuffer(bytes: message.prefix(150_000)))
        let second = client.channel.write(ByteBuffer(bytes: message.dropFirst(150_000)))
        client.channel.flush()
        try self.pump(client.channel, server.channel)
        try self.value(first)
        try self.value(second)
        #expect(try self.readAll(server.channel) == message)
    }

    @Test func resultSucceedsBeforeDataInTheSameReadIsPassedOn() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        let recorder = EventRecorder()
        try server.channel.pipeline.syncOperations.addHandler(recorder)
        server.handler.handshakeResult.whenSuccess { _ in recorder.events.append("handshake") }
        // The client writes as soon as its handshake completes: its Finished and this data leave in the
        // same flush and reach the server in one read.
        client.handler.handshakeResult.whenSuccess { _ in
            client.channel.writeAndFlush(ByteBuffer(string: "/multistream/1.0.0\n"), promise: nil)
        }
        try self.pump(client.channel, server.channel)
        #expect(recorder.events == ["handshake", "read:/multistream/1.0.0\n"])
    }

    @Test func writesBeforeTheHandshakeAreHeldAndDelivered() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        let held = client.channel.writeAndFlush(ByteBuffer(string: "queued early"))
        try self.pump(client.channel, server.channel)
        try self.value(held)
        #expect(try self.readAll(server.channel) == Array("queued early".utf8))
    }

    @Test func bytesPassedOnByAnEarlierHandlerAreHandshakeInput() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        // The server side starts with a handler that swallows reads, as multistream-select does
        // before it hands the connection to the security protocol.
        let serverChannel = EmbeddedChannel(loop: loop)
        let holder = HoldingHandler()
        try serverChannel.pipeline.syncOperations.addHandler(holder)
        try serverChannel.connect(to: Self.address()).wait()
        let hello = try #require(try self.drain(client.channel))
        try serverChannel.writeInbound(hello)
        #expect(holder.held.count == 1)

        let serverHandler = TLSHandler(context: try Support.context(2), role: .responder, eventLoop: loop)
        try serverChannel.pipeline.syncOperations.addHandler(serverHandler)
        holder.release(into: serverChannel)
        try self.pump(client.channel, serverChannel)
        #expect(try self.value(serverHandler.handshakeResult).remotePeerID == (try Support.identity(1).peerID))
        #expect(try self.value(client.handler.handshakeResult).remotePeerID == (try Support.identity(2).peerID))
    }

    @Test func handlerAddedToAnActiveChannelStartsAtOnce() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try channel.connect(to: Self.address()).wait()
        let handler = TLSHandler(context: try Support.context(1), role: .initiator, eventLoop: loop)
        try channel.pipeline.syncOperations.addHandler(handler)
        let hello = try #require(try self.drain(channel))
        #expect(hello.getInteger(at: 0, as: UInt8.self) == 0x16, "a handshake record")
    }

    @Test func closeSendsCloseNotifyAndThePeerCloses() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        try self.pump(client.channel, server.channel)
        _ = try client.channel.close().wait()
        let closeNotify = try #require(try self.drain(client.channel))
        try server.channel.writeInbound(closeNotify)
        #expect(!server.channel.isActive)
    }

    // MARK: - Failure, one test each

    @Test func garbageInsteadOfClientHelloClosesOnlyThatChannel() throws {
        let loop = EmbeddedEventLoop()
        let serverContext = try Support.context(2)
        let bad = try self.side(serverContext, role: .responder, loop: loop)
        try bad.channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(!bad.channel.isActive)
        let error = #expect(throws: TLSError.self) { try self.value(bad.handler.handshakeResult) }
        #expect(error?.code == .handshakeFailed)

        // The same context keeps serving other connections.
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let good = try self.side(serverContext, role: .responder, loop: loop)
        try self.pump(client.channel, good.channel)
        #expect(try self.value(good.handler.handshakeResult).remotePeerID == (try Support.identity(1).peerID))
    }

    @Test func clientCertificateWithoutExtensionIsRejectedWithAnAlert() throws {
        let loop = EmbeddedEventLoop()
        let key = try OpenSSLCertificateKey.generate(.p256)
        let now = TLSClock.now()
        let bare = try Libp2pCertificate(key: key, notBefore: now - 60, notAfter: now + 3600, extensions: [])
        let client = try self.side(try Support.context(1), role: .initiator, certificate: .explicit(bare), loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        let caught = try self.interact(client.channel, server.channel)
        let serverError = #expect(throws: TLSError.self) { try self.value(server.handler.handshakeResult) }
        #expect(serverError?.code == .missingLibp2pExtension)
        #expect(!server.channel.isActive)
        // The client finished first (TLS 1.3), then the server's alert closed it with an error.
        #expect(throws: Never.self) { try self.value(client.handler.handshakeResult) }
        #expect(caught.first.map { ($0 as? TLSError)?.code } == [.alertReceived])
        #expect(caught.second.isEmpty, "the server reports through its result, not errorCaught")
        #expect(!client.channel.isActive)
    }

    @Test(arguments: TLSCertificateMode.allCases)
    func listenerContextServesOthersAfterRejectingClients(mode: TLSCertificateMode) throws {
        let loop = EmbeddedEventLoop()
        let serverContext = try Support.context(2, mode: mode)
        let serverPeer = try Support.identity(2).peerID

        // 1. A client whose certificate lacks the libp2p extension: the server rejects it.
        let key = try OpenSSLCertificateKey.generate(.p256)
        let now = TLSClock.now()
        let bare = try Libp2pCertificate(key: key, notBefore: now - 60, notAfter: now + 3600, extensions: [])
        let bareClient = try self.side(
            try Support.context(1),
            role: .initiator,
            certificate: .explicit(bare),
            loop: loop
        )
        let firstServer = try self.side(serverContext, role: .responder, loop: loop)
        try self.interact(bareClient.channel, firstServer.channel)
        let firstError = #expect(throws: TLSError.self) { try self.value(firstServer.handler.handshakeResult) }
        #expect(firstError?.code == .missingLibp2pExtension)
        #expect(!firstServer.channel.isActive && !bareClient.channel.isActive)

        // 2. A client that dialed another peer: it aborts, and the server sees its alert.
        let wrongClient = try self.side(
            try Support.context(3),
            role: .initiator,
            expecting: try Support.identity(7).peerID,
            loop: loop
        )
        let secondServer = try self.side(serverContext, role: .responder, loop: loop)
        try self.interact(wrongClient.channel, secondServer.channel)
        let wrongError = #expect(throws: TLSError.self) { try self.value(wrongClient.handler.handshakeResult) }
        #expect(wrongError?.code == .peerIDMismatch)
        let secondError = #expect(throws: TLSError.self) { try self.value(secondServer.handler.handshakeResult) }
        #expect(secondError?.code == .alertReceived)
        #expect(!secondServer.channel.isActive && !wrongClient.channel.isActive)

        // 3. A good client on the same server context: authenticated both ways, data flows.
        let goodClient = try self.side(try Support.context(4), role: .initiator, expecting: serverPeer, loop: loop)
        let thirdServer = try self.side(serverContext, role: .responder, loop: loop)
        try self.pump(goodClient.channel, thirdServer.channel)
        #expect(try self.value(goodClient.handler.handshakeResult).remotePeerID == serverPeer)
        #expect(try self.value(thirdServer.handler.handshakeResult).remotePeerID == (try Support.identity(4).peerID))
        try goodClient.channel.writeAndFlush(ByteBuffer(string: "still serving")).wait()
        try self.pump(goodClient.channel, thirdServer.channel)
        #expect(try self.readAll(thirdServer.channel) == Array("still serving".utf8))
    }

    @Test func clientWithoutCertificateIsRejected() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, certificate: .none, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        try self.interact(client.channel, server.channel)
        let serverError = #expect(throws: TLSError.self) { try self.value(server.handler.handshakeResult) }
        #expect(serverError?.code == .missingPeerCertificate)
        #expect(!server.channel.isActive)
        #expect(!client.channel.isActive)
    }

    @Test func peerIDMismatchFailsTheDialer() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(
            try Support.context(1),
            role: .initiator,
            expecting: try Support.identity(7).peerID,
            loop: loop
        )
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        try self.interact(client.channel, server.channel)
        let clientError = #expect(throws: TLSError.self) { try self.value(client.handler.handshakeResult) }
        #expect(clientError?.code == .peerIDMismatch)
        let serverError = #expect(throws: TLSError.self) { try self.value(server.handler.handshakeResult) }
        #expect(serverError?.code == .alertReceived)
        #expect(!client.channel.isActive && !server.channel.isActive)
    }

    @Test func channelClosingDuringTheHandshakeFailsTheResult() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        _ = try client.channel.close().wait()
        let error = #expect(throws: TLSError.self) { try self.value(client.handler.handshakeResult) }
        #expect(error?.code == .connectionClosed)
    }

    @Test func truncatedHandshakeThenCloseFailsTheResult() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        let hello = try #require(try self.drain(client.channel))
        try server.channel.writeInbound(try #require(hello.getSlice(at: hello.readerIndex, length: 40)))
        _ = try server.channel.close().wait()
        let error = #expect(throws: TLSError.self) { try self.value(server.handler.handshakeResult) }
        #expect(error?.code == .connectionClosed)
    }

    @Test func tooMuchDataBeforeTheHandshakeFailsTheWrite() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let fits = client.channel.write(ByteBuffer(repeating: 0, count: TLSConstants.maximumBufferedPlaintextBytes))
        let overflow = client.channel.write(ByteBuffer(repeating: 0, count: 1))
        let error = #expect(throws: TLSError.self) { try self.value(overflow) }
        #expect(error?.code == .tooMuchBufferedData)
        _ = try client.channel.close().wait()
        #expect(throws: TLSError.self) { try self.value(fits) }
    }

    @Test func corruptedRecordAfterTheHandshakeClosesWithAnError() throws {
        let loop = EmbeddedEventLoop()
        let client = try self.side(try Support.context(1), role: .initiator, loop: loop)
        let server = try self.side(try Support.context(2), role: .responder, loop: loop)
        try self.pump(client.channel, server.channel)
        try client.channel.writeAndFlush(ByteBuffer(string: "soon corrupted")).wait()
        var record = try #require(try self.drain(client.channel))
        let last = record.writerIndex - 1
        let byte = try #require(record.getInteger(at: last, as: UInt8.self))
        record.setInteger(byte ^ 1, at: last)
        #expect(throws: TLSError.self) { try server.channel.writeInbound(record) }
        #expect(!server.channel.isActive)
    }
}

/// Records the order of handshake completion and reads.
final class EventRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var events: [String] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        self.events.append("read:" + String(buffer: bytes))
    }
}

/// Swallows reads until released, then passes them on and leaves the pipeline: the
/// multistream-select leftover hand-off.
final class HoldingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    var held: [ByteBuffer] = []
    var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.held.append(Self.unwrapInboundIn(data))
    }

    func release(into channel: EmbeddedChannel) {
        guard let context else { return }
        for bytes in self.held { context.fireChannelRead(Self.wrapInboundOut(bytes)) }
        self.held.removeAll()
        channel.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Holds a future's result; only touched on the (single) embedded event loop.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
