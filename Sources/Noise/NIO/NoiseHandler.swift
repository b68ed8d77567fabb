import NIOCore
import P2PCore

/// Runs the libp2p Noise handshake on a channel of `ByteBuffer`s, then encrypts everything written
/// and decrypts everything read, so the handlers after it (multistream-select for the muxer, or
/// yamux directly) see plaintext.
///
/// Add it where the security protocol was negotiated, as initiator on the dialer and responder on
/// the listener; ``ChannelPipeline/SynchronousOperations/addNoiseHandler(role:configuration:position:)``
/// does that and returns the handshake's future. The handler is thin glue: the handshake is
/// ``NoiseHandshakeStateMachine`` and the transport is ``NoiseTransportCipher``.
///
/// - The handshake starts when the handler is added to an active channel, or on `channelActive`.
/// - Bytes read before it was added can be passed on as ordinary `channelRead`s after adding it
///   (the upgrader hands over what multistream-select read past its last message).
/// - Bytes behind message 3 in the same read are transport frames and are decrypted at once.
/// - The handshake promise is completed before any plaintext is passed on, so its callbacks may add
///   the muxer handler in time for the first bytes.
/// - Writes before the handshake completes are held (up to ``maximumPendingWriteBytes``) and sent,
///   encrypted, right after it. Writes are encrypted into one buffer per flush.
/// - Any ``NoiseError`` fails the handshake promise (if still pending), is fired as
///   `errorCaught`, and closes the channel.
public final class NoiseHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// The most plaintext bytes held while the handshake runs. A muxer writes a few frames before
    /// the handshake completes at most; more means a bug upstream, not a reason to buffer without end.
    public static let maximumPendingWriteBytes: Int = 1 << 20

    private enum State {
        /// Added, the initiator has not sent message 1 yet (channel not active).
        case idle
        case handshaking
        case established
        case failed
    }

    private var state: State = .idle
    private var handshake: NoiseHandshakeStateMachine?
    private var transport: NoiseTransportCipher?
    private let handshakePromise: EventLoopPromise<NoiseHandshakeResult>?

    /// The start of an incomplete frame, kept between reads in storage this handler owns: the read
    /// buffer itself is never kept, so NIO can reuse it (and so can the sender of an in-memory pair).
    /// Bounded: after each read it holds less than one frame (``NoiseFrameDecoder/maximumBufferedBytes``).
    private var partialFrame: ByteBuffer = ByteBuffer()
    /// Decrypted bytes of one read, passed on as one `channelRead`; reused when the next handler
    /// has let go of it.
    private var plaintextBuffer: ByteBuffer = ByteBuffer()
    /// Encrypted frames of the writes since the last flush; reused when the channel has let go of it.
    private var outboundBuffer: ByteBuffer = ByteBuffer()
    private var outboundPromise: EventLoopPromise<Void>?

    /// Writes held during the handshake.
    private var pendingWrites: CircularBuffer<(ByteBuffer, EventLoopPromise<Void>?)> = CircularBuffer()
    private var pendingWriteBytes: Int = 0
    private var pendingFlush: Bool = false

    /// A handler that runs the handshake as `role` with `configuration`.
    /// - Parameters:
    ///   - handshakePromise: completed with the result, or failed with the ``NoiseError`` that ended
    ///     the handshake (``NoiseError/Code/connectionClosedDuringHandshake`` when the channel closed).
    /// - Throws: as ``NoiseHandshakeStateMachine/init(role:configuration:)``.
    public init(
        role: ConnectionRole,
        configuration: NoiseConfiguration,
        handshakePromise: EventLoopPromise<NoiseHandshakeResult>?
    ) throws {
        self.handshake = try NoiseHandshakeStateMachine(role: role, configuration: configuration)
        self.handshakePromise = handshakePromise
    }

    /// A handler around a prepared state machine (tests inject keys this way).
    init(stateMachine: NoiseHandshakeStateMachine, handshakePromise: EventLoopPromise<NoiseHandshakeResult>?) {
        self.handshake = stateMachine
        self.handshakePromise = handshakePromise
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        self.outboundBuffer = context.channel.allocator.buffer(capacity: 0)
        if context.channel.isActive {
            self.start(context: context)
        }
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .handshaking:
            self.fail(
                NoiseError.connectionClosedDuringHandshake(
                    "connection closed with \(self.partialFrame.readableBytes) bytes of an unfinished handshake"
                ),
                context: context,
                close: false
            )
        case .established:
            if self.partialFrame.readableBytes > 0 {
                context.fireErrorCaught(NoiseError.truncatedFrame(bufferedBytes: self.partialFrame.readableBytes))
            }
            self.outboundPromise?.fail(ChannelError.ioOnClosedChannel)
            self.outboundPromise = nil
        case .failed:
            break
        }
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        let error = ChannelError.ioOnClosedChannel
        self.outboundPromise?.fail(error)
        self.outboundPromise = nil
        while let (_, promise) = self.pendingWrites.popFirst() { promise?.fail(error) }
        switch self.state {
        case .idle, .handshaking:
            self.state = .failed
            self.handshakePromise?.fail(NoiseError.connectionClosedDuringHandshake("NoiseHandler removed before the handshake completed"))
        case .established, .failed:
            break
        }
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.state {
        case .failed:
            return
        case .idle, .handshaking, .established:
            break
        }
        var bytes = Self.unwrapInboundIn(data)
        if self.partialFrame.readableBytes == 0 {
            // Common case: whole frames. Read them straight from the read buffer, and copy only an
            // incomplete tail.
            self.processInbound(&bytes, context: context)
            if bytes.readableBytes > 0 {
                self.partialFrame.clear(minimumCapacity: bytes.readableBytes)
                self.partialFrame.writeBuffer(&bytes)
            }
        } else {
            self.partialFrame.discardReadBytes()
            self.partialFrame.writeBuffer(&bytes)
            self.processPartialFrame(context: context)
        }
    }

    /// Processes the bytes kept from earlier reads. They are moved out while processing, because
    /// processing can re-enter this handler (a promise callback or a failure closes the channel,
    /// and `channelInactive` looks at ``partialFrame``).
    private func processPartialFrame(context: ChannelHandlerContext) {
        var buffer = self.partialFrame
        self.partialFrame = ByteBuffer()
        self.processInbound(&buffer, context: context)
        if buffer.readableBytes > 0, self.partialFrame.readableBytes == 0 {
            self.partialFrame = buffer
        }
    }

    private func processInbound(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        while true {
            switch self.state {
            case .idle, .failed:
                // The initiator cannot read a reply before it has started; keep the bytes.
                return
            case .handshaking:
                guard self.advanceHandshake(&buffer, context: context) else { return }
            case .established:
                self.decryptInbound(&buffer, context: context)
                return
            }
        }
    }

    /// Feeds the handshake; returns whether to keep going (more messages, or transport frames).
    private func advanceHandshake(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        guard var machine = self.handshake else { preconditionFailure("NoiseHandler: handshaking without a state machine") }
        var output = context.channel.allocator.buffer(capacity: 0)
        let action: NoiseHandshakeStateMachine.ReceivedBytesAction
        do {
            action = try machine.receivedBytes(&buffer, into: &output)
        } catch {
            self.fail(NoiseError.wrapping(error), context: context, close: true)
            return false
        }
        self.handshake = machine
        switch action {
        case .needMoreBytes:
            return false
        case .sendMessage:
            context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil)
            return true
        case .sendMessageAndComplete(let completion):
            // Message 3 goes out before anything encrypted with the new keys.
            context.write(Self.wrapOutboundOut(output), promise: nil)
            self.established(completion, context: context)
            context.flush()
            return true
        case .complete(let completion):
            self.established(completion, context: context)
            return true
        }
    }

    private func established(_ completion: NoiseHandshakeCompletion, context: ChannelHandlerContext) {
        self.state = .established
        self.handshake = nil
        self.transport = completion.transportCipher
        // Writes held during the handshake go first, before anything the promise's callbacks write.
        while let (plaintext, promise) = self.pendingWrites.popFirst() {
            self.encryptOutbound(plaintext, promise: promise, context: context)
        }
        self.pendingWriteBytes = 0
        if self.pendingFlush {
            self.pendingFlush = false
            self.writeOutbound(context: context)
            context.flush()
        }
        // The promise before any plaintext is passed on: its callbacks may add the muxer handler.
        self.handshakePromise?.succeed(completion.result)
    }

    private func decryptInbound(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        guard var transport = self.transport else { preconditionFailure("NoiseHandler: established without a transport cipher") }
        // Reuses the previous read's buffer when the next handler has released it.
        self.plaintextBuffer.clear()
        do {
            // The cipher is a value holding class references: taking it out and putting it back
            // copies no key material and allocates nothing.
            defer { self.transport = transport }
            while try transport.decryptFrame(from: &buffer, appendingPlaintextTo: &self.plaintextBuffer) {}
        } catch {
            self.fail(NoiseError.wrapping(error), context: context, close: true)
            return
        }
        if self.plaintextBuffer.readableBytes > 0 {
            context.fireChannelRead(Self.wrapInboundOut(self.plaintextBuffer))
        }
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = Self.unwrapOutboundIn(data)
        switch self.state {
        case .idle, .handshaking:
            self.pendingWriteBytes += plaintext.readableBytes
            guard self.pendingWriteBytes <= Self.maximumPendingWriteBytes else {
                let error = NoiseError.tooManyPendingWrites(bytes: self.pendingWriteBytes, limit: Self.maximumPendingWriteBytes)
                promise?.fail(error)
                self.fail(error, context: context, close: true)
                return
            }
            self.pendingWrites.append((plaintext, promise))
        case .established:
            self.encryptOutbound(plaintext, promise: promise, context: context)
        case .failed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .handshaking:
            self.pendingFlush = true
        case .established:
            self.writeOutbound(context: context)
            context.flush()
        case .failed:
            break
        }
    }

    private func encryptOutbound(_ plaintext: ByteBuffer, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        if self.outboundBuffer.readableBytes == 0 {
            // Reuses last flush's storage when the channel has written and released it.
            self.outboundBuffer.clear(minimumCapacity: NoiseTransportCipher.framedLength(plaintextLength: plaintext.readableBytes))
        }
        guard var transport = self.transport else { preconditionFailure("NoiseHandler: established without a transport cipher") }
        do {
            defer { self.transport = transport }
            try transport.encryptFrames(plaintext, into: &self.outboundBuffer)
        } catch {
            let error = NoiseError.wrapping(error)
            promise?.fail(error)
            self.fail(error, context: context, close: true)
            return
        }
        if let promise {
            if let outboundPromise = self.outboundPromise {
                outboundPromise.futureResult.cascade(to: promise)
            } else {
                self.outboundPromise = promise
            }
        }
    }

    private func writeOutbound(context: ChannelHandlerContext) {
        guard self.outboundBuffer.readableBytes > 0 else { return }
        let promise = self.outboundPromise
        self.outboundPromise = nil
        let frames = self.outboundBuffer
        // Mark the bytes as handed over; the storage is reused once the channel releases it.
        self.outboundBuffer.moveReaderIndex(to: self.outboundBuffer.writerIndex)
        context.write(Self.wrapOutboundOut(frames), promise: promise)
    }

    // MARK: - Helpers

    private func start(context: ChannelHandlerContext) {
        guard case .idle = self.state, var machine = self.handshake else { return }
        self.state = .handshaking
        var output = context.channel.allocator.buffer(capacity: 64)
        do {
            switch try machine.start(into: &output) {
            case .sendMessage:
                self.handshake = machine
                context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil)
            case .waitForMessage:
                self.handshake = machine
            }
        } catch {
            self.fail(NoiseError.wrapping(error), context: context, close: true)
            return
        }
        // Bytes handed over before the start are processed now.
        if self.partialFrame.readableBytes > 0 { self.processPartialFrame(context: context) }
    }

    private func fail(_ error: NoiseError, context: ChannelHandlerContext, close: Bool) {
        let wasHandshaking: Bool
        switch self.state {
        case .idle, .handshaking: wasHandshaking = true
        case .established: wasHandshaking = false
        case .failed: return
        }
        self.state = .failed
        self.handshake = nil
        self.transport = nil
        if wasHandshaking { self.handshakePromise?.fail(error) }
        self.outboundPromise?.fail(error)
        self.outboundPromise = nil
        while let (_, promise) = self.pendingWrites.popFirst() { promise?.fail(error) }
        self.pendingWriteBytes = 0
        context.fireErrorCaught(error)
        if close { context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension NoiseHandler: Sendable {}

extension ChannelPipeline.SynchronousOperations {
    /// Adds a ``NoiseHandler`` running the handshake as `role`, and returns the future of its result.
    ///
    /// ```swift
    /// let result = try channel.pipeline.syncOperations.addNoiseHandler(
    ///     role: .initiator,
    ///     configuration: NoiseConfiguration(identity: key, expectedRemotePeerID: peer, muxers: [.yamux])
    /// )
    /// result.whenSuccess { handshake in /* add yamux if handshake.earlyMuxer == .yamux */ }
    /// ```
    /// - Throws: as ``NoiseHandshakeStateMachine/init(role:configuration:)``, or if adding fails.
    @discardableResult
    public func addNoiseHandler(
        role: ConnectionRole,
        configuration: NoiseConfiguration,
        position: ChannelPipeline.SynchronousOperations.Position = .last
    ) throws -> EventLoopFuture<NoiseHandshakeResult> {
        let promise = self.eventLoop.makePromise(of: NoiseHandshakeResult.self)
        let handler = try NoiseHandler(role: role, configuration: configuration, handshakePromise: promise)
        try self.addHandler(handler, position: position)
        return promise.futureResult
    }
}
