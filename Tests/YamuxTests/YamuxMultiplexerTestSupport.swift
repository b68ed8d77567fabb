import NIOCore
import NIOEmbedded
import P2PCore
import Testing
import Yamux

/// Two `EmbeddedChannel`s on one `EmbeddedEventLoop`, each with a ``YamuxMultiplexer``, and a pump that moves bytes
/// between them (whole or one byte at a time) until both are quiet.
final class EmbeddedYamuxPair {
    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientMultiplexer: YamuxMultiplexer
    let serverMultiplexer: YamuxMultiplexer
    /// Every stream the server accepted, in order.
    let serverStreams = ChannelCollector()
    /// Every byte the client sent, in order (for wire-level checks).
    var clientWire = ByteBuffer()
    /// Every byte the server sent, in order.
    var serverWire = ByteBuffer()

    /// No pings unless a test asks for them: the wire then holds only what the test did.
    static var quietConfiguration: YamuxConfiguration {
        var configuration = YamuxConfiguration()
        configuration.roundTripPingInterval = nil
        return configuration
    }

    init(
        clientConfiguration: YamuxConfiguration = EmbeddedYamuxPair.quietConfiguration,
        serverConfiguration: YamuxConfiguration = EmbeddedYamuxPair.quietConfiguration,
        serverStreamInitializer: YamuxStreamInitializer? = EmbeddedYamuxPair.echo
    ) throws {
        self.clientMultiplexer = YamuxMultiplexer(
            role: .initiator,
            configuration: clientConfiguration,
            inboundStreamInitializer: nil
        )
        let collector = self.serverStreams
        var initializer: YamuxStreamInitializer? = nil
        if let serverStreamInitializer {
            initializer = { @Sendable (channel: any Channel) -> EventLoopFuture<Void> in
                collector.append(channel)
                return serverStreamInitializer(channel)
            }
        }
        self.serverMultiplexer = YamuxMultiplexer(
            role: .responder,
            configuration: serverConfiguration,
            inboundStreamInitializer: initializer
        )
        self.client = EmbeddedChannel(loop: self.loop)
        self.server = EmbeddedChannel(loop: self.loop)
        try self.client.pipeline.syncOperations.addHandler(self.clientMultiplexer)
        try self.server.pipeline.syncOperations.addHandler(self.serverMultiplexer)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 4001)
        try self.client.connect(to: address).wait()
        try self.server.connect(to: address).wait()
    }

    /// Moves bytes both ways until neither side writes anything more.
    func pump(byteAtATime: Bool = false) throws {
        var moved = true
        while moved {
            moved = false
            self.loop.run()
            while let bytes = try self.client.readOutbound(as: ByteBuffer.self) {
                moved = true
                self.clientWire.writeImmutableBuffer(bytes)
                try Self.deliver(bytes, to: self.server, byteAtATime: byteAtATime)
            }
            while let bytes = try self.server.readOutbound(as: ByteBuffer.self) {
                moved = true
                self.serverWire.writeImmutableBuffer(bytes)
                try Self.deliver(bytes, to: self.client, byteAtATime: byteAtATime)
            }
            self.loop.run()
        }
    }

    private static func deliver(_ bytes: ByteBuffer, to channel: EmbeddedChannel, byteAtATime: Bool) throws {
        guard channel.isActive else { return }
        if byteAtATime {
            var bytes = bytes
            while let byte = bytes.readSlice(length: 1), channel.isActive { try channel.writeInbound(byte) }
        } else {
            try channel.writeInbound(bytes)
        }
    }

    /// Opens a client stream with `handlers` and returns it once the pump has run.
    func openClientStream(
        allowRemoteHalfClosure: Bool = true,
        autoRead: Bool = true,
        _ handlers: @escaping @Sendable () -> [any ChannelHandler]
    ) throws -> any Channel {
        let future = self.clientMultiplexer.openStream(
            initializer: Self.adding(allowRemoteHalfClosure: allowRemoteHalfClosure, autoRead: autoRead, handlers)
        )
        self.loop.run()
        return try future.wait()
    }

    /// An initializer that sets the options and adds `handlers`.
    static func adding(
        allowRemoteHalfClosure: Bool = true,
        autoRead: Bool = true,
        _ handlers: @escaping @Sendable () -> [any ChannelHandler]
    ) -> YamuxStreamInitializer {
        { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: allowRemoteHalfClosure)
                try channel.syncOptions?.setOption(ChannelOptions.autoRead, value: autoRead)
                try channel.pipeline.syncOperations.addHandlers(handlers())
            }
        }
    }

    /// The server side echoes every stream and closes its output when the client closes its own.
    static let echo: YamuxStreamInitializer = adding { [EchoHandler()] }
}

/// Echoes every read; closes its output when the input closes.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            context.close(mode: .output, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Records everything that reaches it. Used only on the event loop.
final class StreamRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    var received = ByteBuffer()
    var reads = 0
    var inputClosed = false
    var outputClosed = false
    var errors: [any Error] = []
    var inactive = false
    var writability: [Bool] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.reads += 1
        self.received.writeBuffer(&buffer)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? ChannelEvent {
        case .some(.inputClosed): self.inputClosed = true
        case .some(.outputClosed): self.outputClosed = true
        default: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.inactive = true
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writability.append(context.channel.isWritable)
    }

    var yamuxErrorCodes: [YamuxError.Code] { self.errors.compactMap { ($0 as? YamuxError)?.code } }
}

/// Records the errors that reach it, e.g. in the parent pipeline behind the multiplexer. Used only on the event loop.
final class ErrorRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Never
    var errors: [any Error] = []

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
        context.fireErrorCaught(error)
    }
}

/// Collects channels from an initializer. Used only on the event loop.
final class ChannelCollector: @unchecked Sendable {
    private(set) var channels: [any Channel] = []
    func append(_ channel: any Channel) { self.channels.append(channel) }
}

/// Writes a greeting as soon as the channel is active (as a multistream-select dialer writes its header).
final class GreetingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let greeting: ByteBuffer
    init(_ greeting: ByteBuffer) { self.greeting = greeting }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(self.wrapOutboundOut(self.greeting), promise: nil)
        context.fireChannelActive()
    }
}

extension ByteBuffer {
    static func + (lhs: ByteBuffer, rhs: ByteBuffer) -> ByteBuffer {
        var result = lhs
        result.writeImmutableBuffer(rhs)
        return result
    }
}

/// Records how a future ended. On an `EmbeddedEventLoop` a test cannot `wait()` for a future that may never complete:
/// nothing else would run the loop. Used only on the event loop.
final class FutureOutcome<Value: Sendable>: @unchecked Sendable {
    private(set) var result: Result<Value, any Error>?

    init(_ future: EventLoopFuture<Value>) {
        future.whenComplete { self.result = $0 }
    }

    var succeeded: Bool {
        switch self.result {
        case .success: return true
        case .failure, .none: return false
        }
    }
}
