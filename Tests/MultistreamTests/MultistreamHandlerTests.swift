import Multistream
import NIOCore
import NIOEmbedded
import NIOPosix
import P2PCore
import TestSupport
import Testing

/// The NIO handlers: on `EmbeddedChannel` pairs (whole and one byte at a time), each hand-over and
/// failure path by name, and once over real TCP on 127.0.0.1.
@Suite struct MultistreamHandlerTests {
    static let header = "132f6d756c746973747265616d2f312e302e300a"
    static let noise = "072f6e6f6973650a"
    static let na = "036e610a"

    // MARK: - Pairs

    @Test(arguments: Delivery.allCases, [MultistreamDialerStateMachine.Mode.strict, .lazy])
    func dialerAndListenerHandlersNegotiateAndHandOver(delivery: Delivery, mode: MultistreamDialerStateMachine.Mode) throws {
        let dialerNext = NextLayerRecorder(firstWrite: ByteBuffer(string: "noise msg1"))
        let listenerNext = NextLayerRecorder(answer: ByteBuffer(string: "noise msg2"))
        let dialer = MultistreamDialerHandler(protocols: [.tls, .noise], mode: mode) { _, channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(dialerNext) }
        }
        let listener = MultistreamListenerHandler(protocols: [.noise, .yamux]) { _, channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(listenerNext) }
        }
        let dialerChannel = try EmbeddedChannel.active(dialer)
        let listenerChannel = try EmbeddedChannel.active(listener)
        try interactInMemory(dialerChannel, listenerChannel, delivery: delivery)

        #expect(try dialer.negotiationResult.wait() == .noise)
        #expect(try listener.negotiationResult.wait() == .noise)
        #expect(listenerNext.received == ByteBuffer(string: "noise msg1"))
        #expect(dialerNext.received == ByteBuffer(string: "noise msg2"))
        // Both handlers left the pipeline.
        #expect(throws: ChannelPipelineError.self) { try dialerChannel.pipeline.syncOperations.context(handlerType: MultistreamDialerHandler.self) }
        #expect(throws: ChannelPipelineError.self) { try listenerChannel.pipeline.syncOperations.context(handlerType: MultistreamListenerHandler.self) }
        #expect(try dialerChannel.finish().isClean)
        #expect(try listenerChannel.finish().isClean)
    }

    // MARK: - Listener

    /// A lazy dialer's whole first flight in one read: the Noise bytes behind the proposal reach the
    /// next layer, which sees them once it is installed; the echo precedes its answer on the wire.
    @Test func listenerHandsBytesBehindTheProposalToTheNextLayer() throws {
        let next = NextLayerRecorder(answer: ByteBuffer(string: "msg2"))
        let listener = MultistreamListenerHandler(protocols: [.noise]) { id, channel in
            #expect(id == .noise)
            return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(next) }
        }
        let channel = try EmbeddedChannel.active(listener)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.header)
        try channel.writeInbound(try ByteBuffer(hex: Self.header + Self.noise + "6d736731"))  // "msg1"
        #expect(next.received == ByteBuffer(string: "msg1"))
        #expect(next.readCompletes >= 1)
        #expect(try listener.negotiationResult.wait() == .noise)
        // Echo, then the next layer's answer.
        var sent = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { sent.writeBuffer(&buffer) }
        #expect(sent.hexString == Self.noise + ByteBuffer(string: "msg2").hexString)
        #expect(try channel.finish().isClean)
    }

    /// While the next layer is being installed, bytes are buffered in order and `read()` is held.
    @Test func listenerBuffersAndHoldsReadsUntilTheNextLayerIsInstalled() throws {
        let next = NextLayerRecorder()
        let channel = EmbeddedChannel()
        let readCounter = ReadCounter()
        let installedPromise = channel.eventLoop.makePromise(of: Void.self)
        let listener = MultistreamListenerHandler(protocols: [.noise]) { _, channel in
            installedPromise.futureResult.flatMapThrowing { try channel.pipeline.syncOperations.addHandler(next) }
        }
        try channel.pipeline.syncOperations.addHandler(readCounter)
        try channel.pipeline.syncOperations.addHandler(listener)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()

        try channel.writeInbound(try ByteBuffer(hex: Self.header + Self.noise + "01"))
        try channel.writeInbound(try ByteBuffer(hex: "0203"))
        channel.read()
        #expect(readCounter.reads == 0)
        #expect(next.received.readableBytes == 0)
        // The echo waits (unflushed) for the hand-over.
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.header)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)

        installedPromise.succeed()
        #expect(next.received.hexString == "010203")
        #expect(readCounter.reads == 1)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.noise)
        #expect(try listener.negotiationResult.wait() == .noise)
        #expect(try channel.finish().isClean)
    }

    @Test func listenerFailsAndClosesOnInvalidHeader() throws {
        let listener = MultistreamListenerHandler(protocols: [.noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(listener)
        let error = #expect(throws: MultistreamError.self) { try channel.writeInbound(try ByteBuffer(hex: Self.noise)) }
        #expect(error?.code == .invalidHeader)
        #expect(!channel.isActive)
        #expect(try listener.negotiationResult.expectFailure()?.code == .invalidHeader)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func listenerFailsAndClosesOnTooManyProposals() throws {
        let listener = MultistreamListenerHandler(protocols: [.noise], maximumProposals: 2) { _, channel in
            channel.eventLoop.makeSucceededVoidFuture()
        }
        let channel = try EmbeddedChannel.active(listener)
        var flight = try ByteBuffer(hex: Self.header)
        for index in 0..<3 { flight.writeMultistreamMessage(.protocol(ProtocolID("/x/\(index)"))) }
        let error = #expect(throws: MultistreamError.self) { try channel.writeInbound(flight) }
        #expect(error?.code == .tooManyProposals)
        #expect(!channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func listenerTimesOut() throws {
        let listener = MultistreamListenerHandler(protocols: [.noise], timeout: .seconds(10)) { _, channel in
            channel.eventLoop.makeSucceededVoidFuture()
        }
        let channel = try EmbeddedChannel.active(listener)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
        let error = #expect(throws: MultistreamError.self) { try channel.throwIfErrorCaught() }
        #expect(error?.code == .timedOut)
        #expect(try listener.negotiationResult.expectFailure()?.code == .timedOut)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func listenerReportsConnectionClosedDuringNegotiation() throws {
        let listener = MultistreamListenerHandler(protocols: [.noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(listener)
        try channel.writeInbound(try ByteBuffer(hex: Self.header))
        _ = try? channel.finish(acceptAlreadyClosed: true)
        #expect(try listener.negotiationResult.expectFailure()?.code == .connectionClosed)
    }

    @Test func listenerReportsTruncatedProposalOnInputClosed() throws {
        let listener = MultistreamListenerHandler(protocols: [.noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(listener)
        try channel.writeInbound(try ByteBuffer(hex: Self.header + "072f6e6f"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try listener.negotiationResult.expectFailure()?.code == .truncatedMessage)
        #expect(!channel.isActive)
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    @Test func listenerFailsWhenTheNextLayerCannotBeInstalled() throws {
        struct InstallFailed: Error {}
        let listener = MultistreamListenerHandler(protocols: [.noise]) { _, channel in
            channel.eventLoop.makeFailedFuture(InstallFailed())
        }
        let channel = try EmbeddedChannel.active(listener)
        #expect(throws: InstallFailed.self) { try channel.writeInbound(try ByteBuffer(hex: Self.header + Self.noise)) }
        #expect(throws: InstallFailed.self) { try listener.negotiationResult.wait() }
        #expect(!channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func listenerBoundsBytesBufferedDuringInstallation() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let pending = channel.eventLoop.makePromise(of: Void.self)
        let listener = MultistreamListenerHandler(protocols: [.noise]) { _, _ in pending.futureResult }
        try channel.pipeline.syncOperations.addHandler(listener)
        try channel.writeInbound(try ByteBuffer(hex: Self.header + Self.noise))
        let chunk = ByteBuffer(repeating: 0x61, count: 64 * 1024)
        for _ in 0..<(MultistreamListenerHandler.maximumBufferedBytes / chunk.readableBytes) {
            try channel.writeInbound(chunk)
        }
        #expect(channel.isActive)
        let error = #expect(throws: MultistreamError.self) { try channel.writeInbound(ByteBuffer(integer: UInt8(1))) }
        #expect(error?.code == .bufferLimitExceeded)
        #expect(!channel.isActive)
        pending.succeed()  // too late: negotiation already failed
        #expect(try listener.negotiationResult.expectFailure()?.code == .bufferLimitExceeded)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func listenerRemovedBeforeNegotiationFailsItsResult() throws {
        let listener = MultistreamListenerHandler(protocols: [.noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(listener)
        try channel.pipeline.syncOperations.removeHandler(listener).wait()
        #expect(try listener.negotiationResult.expectFailure()?.code == .handlerRemoved)
        _ = try channel.readOutbound(as: ByteBuffer.self)
        #expect(try channel.finish().isClean)
    }

    // MARK: - Dialer

    /// Lazy mode: header, proposal and the next layer's first bytes leave in one write; the
    /// listener's header and echo are stripped and what follows them reaches the next layer.
    @Test func lazyDialerSendsProposalWithTheNextLayersFirstWrite() throws {
        let next = NextLayerRecorder(firstWrite: ByteBuffer(string: "msg1"))
        let dialer = MultistreamDialerHandler(protocols: [.noise], mode: .lazy) { id, channel in
            #expect(id == .noise)
            return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(next) }
        }
        let channel = try EmbeddedChannel.active(dialer)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.header + Self.noise + ByteBuffer(string: "msg1").hexString)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)

        // The listener's header alone, then echo and Noise message 2 in one read.
        try channel.writeInbound(try ByteBuffer(hex: Self.header))
        #expect(next.received.readableBytes == 0)
        try channel.writeInbound(try ByteBuffer(hex: Self.noise + "6d736732"))
        #expect(next.received == ByteBuffer(string: "msg2"))
        #expect(try dialer.negotiationResult.wait() == .noise)
        // Later bytes go straight to the next layer.
        try channel.writeInbound(ByteBuffer(string: "more"))
        #expect(next.received == ByteBuffer(string: "msg2more"))
        #expect(try channel.finish().isClean)
    }

    /// Lazy mode with a next layer that writes nothing at once: the proposal still goes out.
    @Test func lazyDialerFlushesTheProposalWhenTheNextLayerIsSilent() throws {
        let dialer = MultistreamDialerHandler(protocols: [.yamux], mode: .lazy) { _, channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(NextLayerRecorder()) }
        }
        let channel = try EmbeddedChannel.active(dialer)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.header + "0d2f79616d75782f312e302e300a")
        // Closed before the echo: the optimistic choice was never confirmed.
        let error = #expect(throws: MultistreamError.self) { try channel.finish() }
        #expect(error?.code == .connectionClosed)
    }

    @Test func lazyDialerFailsWithTheProtocolNameWhenTheListenerSaysNa() throws {
        let next = NextLayerRecorder(firstWrite: ByteBuffer(string: "msg1"))
        let dialer = MultistreamDialerHandler(protocols: [.noise], mode: .lazy) { _, channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(next) }
        }
        let channel = try EmbeddedChannel.active(dialer)
        _ = try channel.readOutbound(as: ByteBuffer.self)
        let error = #expect(throws: MultistreamError.self) { try channel.writeInbound(try ByteBuffer(hex: Self.header + Self.na)) }
        #expect(error?.code == .protocolRejected)
        #expect(error?.protocols == [.noise])
        #expect(!channel.isActive)
        let result = try dialer.negotiationResult.expectFailure()
        #expect(result?.code == .protocolRejected)
        #expect(result?.diagnostics.contains("/noise") == true)
        #expect(next.received.readableBytes == 0)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func strictDialerWaitsForTheEchoBeforeInstalling() throws {
        var installs = 0
        let next = NextLayerRecorder()
        let dialer = MultistreamDialerHandler(protocols: [.noise]) { _, channel in
            installs += 1
            return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(next) }
        }
        let channel = try EmbeddedChannel.active(dialer)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.header + Self.noise)
        try channel.writeInbound(try ByteBuffer(hex: Self.header + "072f6e6f69"))
        #expect(installs == 0)
        try channel.writeInbound(try ByteBuffer(hex: "73650a" + "ff"))
        #expect(installs == 1)
        #expect(next.received.hexString == "ff")
        #expect(try dialer.negotiationResult.wait() == .noise)
        #expect(try channel.finish().isClean)
    }

    @Test func strictDialerReportsNoProtocolSupported() throws {
        let dialer = MultistreamDialerHandler(protocols: [.tls, .noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(dialer)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.header + "0b2f746c732f312e302e300a")
        try channel.writeInbound(try ByteBuffer(hex: Self.header + Self.na))
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.hexString == Self.noise)
        let error = #expect(throws: MultistreamError.self) { try channel.writeInbound(try ByteBuffer(hex: Self.na)) }
        #expect(error?.code == .noProtocolSupported)
        #expect(try dialer.negotiationResult.expectFailure()?.protocols == [.tls, .noise])
        #expect(!channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func dialerFailsAndClosesOnProtocolMismatch() throws {
        let dialer = MultistreamDialerHandler(protocols: [.noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(dialer)
        let error = #expect(throws: MultistreamError.self) {
            try channel.writeInbound(try ByteBuffer(hex: Self.header + "0b2f746c732f312e302e300a"))
        }
        #expect(error?.code == .protocolMismatch)
        #expect(!channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func dialerFailsAndClosesOnOversizeMessage() throws {
        let dialer = MultistreamDialerHandler(protocols: [.noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(dialer)
        let error = #expect(throws: MultistreamError.self) { try channel.writeInbound(try ByteBuffer(hex: "ff7f")) }
        #expect(error?.code == .messageTooLong)
        #expect(!channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// In lazy mode the clock runs until the echo arrives, even though the next layer already runs.
    @Test func lazyDialerTimesOutWithoutEcho() throws {
        let dialer = MultistreamDialerHandler(protocols: [.noise], mode: .lazy, timeout: .seconds(5)) { _, channel in
            channel.eventLoop.makeSucceededVoidFuture()
        }
        let channel = try EmbeddedChannel.active(dialer)
        try channel.writeInbound(try ByteBuffer(hex: Self.header))
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive)
        #expect(try dialer.negotiationResult.expectFailure()?.code == .timedOut)
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    @Test func dialerTimeoutIsCancelledByNegotiation() throws {
        let dialer = MultistreamDialerHandler(protocols: [.noise], timeout: .seconds(5)) { _, channel in
            channel.eventLoop.makeSucceededVoidFuture()
        }
        let channel = try EmbeddedChannel.active(dialer)
        try channel.writeInbound(try ByteBuffer(hex: Self.header + Self.noise))
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        #expect(try dialer.negotiationResult.wait() == .noise)
        _ = try channel.readOutbound(as: ByteBuffer.self)
        #expect(try channel.finish().isClean)
    }

    @Test func dialerReportsConnectionClosedBeforeEcho() throws {
        let dialer = MultistreamDialerHandler(protocols: [.noise]) { _, channel in channel.eventLoop.makeSucceededVoidFuture() }
        let channel = try EmbeddedChannel.active(dialer)
        try channel.writeInbound(try ByteBuffer(hex: Self.header))
        _ = try? channel.finish(acceptAlreadyClosed: true)
        #expect(try dialer.negotiationResult.expectFailure()?.code == .connectionClosed)
    }

    // MARK: - Real sockets

    /// Over TCP on 127.0.0.1: a lazy dialer and a listener whose next layer echoes.
    @Test(.timeLimit(.minutes(1))) func handlersNegotiateOverLoopbackTCP() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let listener = MultistreamListenerHandler(protocols: [.noise], timeout: .seconds(10)) { _, channel in
                        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
                    }
                    try channel.pipeline.syncOperations.addHandler(listener)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()

        let echoed = group.next().makePromise(of: ByteBuffer.self)
        let negotiated = group.next().makePromise(of: ProtocolID.self)
        let timeout = group.next().scheduleTask(in: .seconds(20)) {
            echoed.fail(ChannelError.connectTimeout(.seconds(20)))
        }
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let dialer = MultistreamDialerHandler(protocols: [.noise], mode: .lazy, timeout: .seconds(10)) { _, channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                NextLayerRecorder(firstWrite: ByteBuffer(string: "ping"), expecting: 4, done: echoed)
                            )
                        }
                    }
                    try channel.pipeline.syncOperations.addHandler(dialer)
                    negotiated.completeWith(dialer.negotiationResult)
                }
            }
            .connect(to: try #require(server.localAddress)).get()

        #expect(try await negotiated.futureResult.get() == .noise)
        #expect(try await echoed.futureResult.get() == ByteBuffer(string: "ping"))
        timeout.cancel()
        try await client.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}

// MARK: - Helpers

extension EmbeddedChannel {
    /// An active channel with `handler`.
    static func active(_ handler: any ChannelHandler) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(handler)
        return channel
    }
}

extension EmbeddedChannel.LeftOverState {
    var isClean: Bool {
        if case .clean = self { return true }
        return false
    }
}

extension EventLoopFuture where Value == ProtocolID {
    /// The multistream error this (completed) future failed with; a test failure if it succeeded.
    func expectFailure(sourceLocation: SourceLocation = #_sourceLocation) throws -> MultistreamError? {
        #expect(throws: MultistreamError.self, sourceLocation: sourceLocation) { try self.wait() }
    }
}

/// Moves bytes between two embedded channels until both are quiet.
func interactInMemory(_ a: EmbeddedChannel, _ b: EmbeddedChannel, delivery: Delivery) throws {
    func deliver(_ buffer: ByteBuffer, to channel: EmbeddedChannel) throws {
        switch delivery {
        case .whole:
            try channel.writeInbound(buffer)
        case .oneByteAtATime:
            var buffer = buffer
            while let byte = buffer.readSlice(length: 1) { try channel.writeInbound(byte) }
        }
    }
    var rounds = 0
    var moved = true
    while moved && rounds < 1000 {
        moved = false
        rounds += 1
        while let buffer = try a.readOutbound(as: ByteBuffer.self) {
            try deliver(buffer, to: b)
            moved = true
        }
        while let buffer = try b.readOutbound(as: ByteBuffer.self) {
            try deliver(buffer, to: a)
            moved = true
        }
    }
}

/// Stands in for the next layer (Noise, yamux): records what reaches it; may write first, or answer
/// the first bytes it gets.
final class NextLayerRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private(set) var received = ByteBuffer()
    private(set) var readCompletes = 0
    private let firstWrite: ByteBuffer?
    private var answer: ByteBuffer?
    private let expecting: Int
    private let done: EventLoopPromise<ByteBuffer>?

    init(
        firstWrite: ByteBuffer? = nil,
        answer: ByteBuffer? = nil,
        expecting: Int = 0,
        done: EventLoopPromise<ByteBuffer>? = nil
    ) {
        self.firstWrite = firstWrite
        self.answer = answer
        self.expecting = expecting
        self.done = done
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let firstWrite { context.writeAndFlush(self.wrapOutboundOut(firstWrite), promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        self.received.writeBuffer(&bytes)
        if let answer {
            self.answer = nil
            context.writeAndFlush(self.wrapOutboundOut(answer), promise: nil)
        }
        if self.expecting > 0 && self.received.readableBytes >= self.expecting {
            self.done?.succeed(self.received)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.readCompletes += 1
    }
}

/// Counts `read()` calls that reach the head of the pipeline.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    private(set) var reads = 0

    func read(context: ChannelHandlerContext) {
        self.reads += 1
        context.read()
    }
}

/// Echoes every byte.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}
