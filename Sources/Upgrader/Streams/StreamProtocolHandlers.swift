import NIOCore
import P2PCore

/// The handlers that serve one per-stream protocol on the listener, in pipeline order.
///
/// Each server handler is preceded by NIO's `BackPressureHandler`, which holds the stream's `read()` while the
/// stream is not writable. A yamux stream credits the peer's window only for bytes passed down its pipeline, and
/// is not writable while its unsent output exceeds the peer's window for us (or the connection is not writable). So
/// a peer that sends but does not read our answers stops being granted window: what it can make us hold is bounded
/// by about one receive window of unread input plus the echo of the last read, never by what it sends
/// (docs/bounds.md). go-libp2p stops crediting the same way (its echo and ping handlers block on the write).
public enum StreamProtocolServer {
    /// Adds the server handlers of `protocolID` (``UpgradedConnection/servedProtocols``; anything else gets echo).
    public static func addHandlers(for protocolID: ProtocolID, to pipeline: ChannelPipeline.SynchronousOperations) throws {
        try pipeline.addHandler(BackPressureHandler())
        switch protocolID {
        case .ping: try pipeline.addHandler(PingServerHandler())
        default: try pipeline.addHandler(EchoServerHandler())
        }
    }
}

/// `/echo/1.0.0`, listener side: every byte read is written back; when the peer half-closes,
/// this side closes too. It reads without regard to writability: ``StreamProtocolServer`` puts a
/// `BackPressureHandler` in front of it.
public final class EchoServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// `/ipfs/ping/1.0.0`, listener side: the ping spec's responder echoes each 32-byte payload.
/// Bytes are echoed only in whole payloads; a partial one waits (at most 31 bytes are held). The whole payloads of one
/// read go back as one write: per-payload writes would each cost a queue entry (and, held back by the peer's window,
/// keep the read's storage alive 32 bytes at a time). Backpressure as for ``EchoServerHandler``.
public final class PingServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// The ping spec's payload size.
    public static let payloadLength = 32

    private var pending: ByteBuffer? = nil

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        if var pending = self.pending.take() {
            pending.writeBuffer(&incoming)
            incoming = pending
        }
        let whole = incoming.readableBytes - incoming.readableBytes % Self.payloadLength
        if whole > 0, let payloads = incoming.readSlice(length: whole) {
            context.writeAndFlush(self.wrapOutboundOut(payloads), promise: nil)
        }
        if incoming.readableBytes > 0 { self.pending = incoming }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// `/echo/1.0.0`, dialer side: writes `payload` once the stream is usable and completes
/// ``response`` when the same bytes came back; other bytes, or a close before all arrived, fail it.
///
/// `@unchecked Sendable`: its state lives on the stream's event loop; ``streamFailed(_:)`` only
/// completes the (thread-safe) promise.
public final class EchoClientHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let payload: ByteBuffer
    private var received: ByteBuffer
    private let promise: EventLoopPromise<Void>
    private var sent = false

    /// When the echo arrived whole.
    public var response: EventLoopFuture<Void> { self.promise.futureResult }

    /// - Parameters:
    ///   - payload: The bytes to send; the first-stream measurement uses a small one.
    ///   - eventLoop: The stream channel's event loop.
    public init(payload: ByteBuffer, eventLoop: any EventLoop) {
        self.payload = payload
        self.received = ByteBufferAllocator().buffer(capacity: payload.readableBytes)
        self.promise = eventLoop.makePromise(of: Void.self)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.send(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.send(context: context)
        context.fireChannelActive()
    }

    private func send(context: ChannelHandlerContext) {
        guard !self.sent else { return }
        self.sent = true
        context.writeAndFlush(self.wrapOutboundOut(self.payload), promise: nil)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        self.received.writeBuffer(&incoming)
        let expected = self.payload.readableBytes
        let count = self.received.readableBytes
        // Every byte so far must match what was sent; `ByteBuffer` equality compares readable bytes.
        guard count <= expected, self.payload.getSlice(at: self.payload.readerIndex, length: count) == self.received
        else {
            self.fail(context: context, UpgradeFailure.echoMismatch(sent: expected, received: count))
            return
        }
        if count == expected { self.promise.succeed(()) }
    }

    /// Fails the exchange from outside the pipeline (stream negotiation failed, timeout). Does
    /// nothing once the echo has arrived.
    public func streamFailed(_ error: any Error) {
        self.promise.fail(error)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.promise.fail(UpgradeFailure.connectionClosed())
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(context: context, error)
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        self.promise.fail(error)
        context.close(promise: nil)
    }
}
