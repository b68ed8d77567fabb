import NIOCore
import P2PCore

/// Sets up a yamux stream channel: adds its handlers. Runs on the session's event loop.
public typealias YamuxStreamInitializer = @Sendable (any Channel) -> EventLoopFuture<Void>

/// Runs a yamux session on a channel whose pipeline carries the connection's plaintext as `ByteBuffer`s (after the
/// Noise or TLS handler), and exposes each yamux stream as a child `Channel`.
///
/// ```swift
/// let multiplexer = YamuxMultiplexer(role: .initiator) { stream in
///     // An inbound stream: add e.g. a multistream-select listener and the protocol handler.
///     stream.pipeline.addHandler(MyProtocolHandler())
/// }
/// try channel.pipeline.syncOperations.addHandler(multiplexer)
/// let stream = multiplexer.openStream { stream in stream.pipeline.addHandler(MyClientHandler()) }
/// ```
///
/// Child channels read and write `ByteBuffer`s. `close(mode: .output)` sends FIN; `close()` sends FIN when all
/// written data has gone out (RST when some could not, because the peer's window is closed) and lets whatever the
/// peer still sends be drained. They honour `autoRead` and `read()`: a stream's window is credited back only for data
/// the child has passed down its pipeline, so a slow reader stops the peer's writer. `isWritable` turns false while
/// written data exceeds the peer's window (or the connection is not writable). With
/// `ChannelOptions.allowRemoteHalfClosure` the peer's FIN arrives as `ChannelEvent.inputClosed`; without it, it closes
/// the child. A peer's RST surfaces as ``YamuxError/Code/streamReset`` and closes the child.
///
/// Session behaviour: a ping measures the round-trip time when the session starts and every
/// ``YamuxConfiguration/roundTripPingInterval``; the peer's pings are answered. While the connection is not writable
/// the peer's pings go unanswered and RSTs refusing its streams are bounded, so a peer that does not read cannot grow
/// our outbound buffer (``YamuxSessionStateMachine/connectionWritabilityChanged(isWritable:)``). Closing the parent
/// channel sends Go Away (normal).
///
/// How the session ends:
/// - A Go Away from the peer closes every stream, with ``YamuxError/Code/remoteGoAway``, and the connection. It is
///   the peer ending the session, not a fault of the connection, so no error is fired down the parent pipeline.
/// - A protocol violation by the peer is answered with Go Away (protocol error) and closes every stream and the
///   connection; its error goes to every open stream and is also fired down the parent pipeline.
/// - The connection closing closes every stream with ``YamuxError/Code/connectionClosed``.
///
/// All state is confined to the channel's event loop; ``openStream(initializer:)`` may be called from anywhere.
public final class YamuxMultiplexer: ChannelDuplexHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    /// Bodies up to this size are copied next to their header, so that a burst of small frames leaves as one buffer;
    /// larger ones are written as they are, without a copy.
    static let smallPayloadCopyLimit = 4096

    /// A frame split across reads.
    private enum PartialFrame {
        case none
        /// Fewer than 12 bytes of a header.
        case header(ByteBuffer)
        /// A Data frame's header and as much of its body as has arrived, in a buffer of the body's length.
        case body(YamuxFrameHeader, ByteBuffer)
    }

    private var session: YamuxSessionStateMachine
    private let configuration: YamuxConfiguration
    private let inboundStreamInitializer: YamuxStreamInitializer?
    private let decoder: YamuxFrameDecoder
    /// The start of a frame that has not fully arrived.
    private var partialFrame: PartialFrame = .none

    private var context: ChannelHandlerContext?
    private var streams: [UInt32: YamuxStreamChannel] = [:]
    /// Opens waiting for room in the ACK backlog, in order. Bounded by the stream cap.
    private var pendingOpens: CircularBuffer<(EventLoopPromise<any Channel>, YamuxStreamInitializer)> = .init()
    /// Headers and small bodies waiting for the next flush; reused while the channel gives its storage back.
    private var outbound: ByteBuffer = ByteBuffer()
    private var outboundPromise: EventLoopPromise<Void>?
    private var needsFlush = false
    /// Between `channelRead` and `channelReadComplete`: flushes wait for the end of the burst.
    private var isReading = false
    private var streamsWithPendingReads: [YamuxStreamChannel] = []
    private var pingTask: Scheduled<Void>?
    private var started = false
    private var sessionEnded = false

    /// The event loop of the parent channel, known once the handler is added.
    public private(set) var eventLoop: (any EventLoop)?

    /// A multiplexer for one side of a connection.
    ///
    /// - Parameters:
    ///   - role: `.initiator` on the dialer (odd stream IDs), `.responder` on the listener.
    ///   - configuration: Windows, limits and the ping interval.
    ///   - inboundStreamInitializer: Sets up each stream the peer opens; the stream is accepted (ACK) when the returned
    ///     future succeeds and reset when it fails. `nil` refuses every inbound stream.
    public init(
        role: ConnectionRole,
        configuration: YamuxConfiguration = YamuxConfiguration(),
        inboundStreamInitializer: YamuxStreamInitializer?
    ) {
        self.session = YamuxSessionStateMachine(role: role, configuration: configuration)
        self.configuration = configuration
        self.inboundStreamInitializer = inboundStreamInitializer
        self.decoder = YamuxFrameDecoder(maximumBodyLength: Int(configuration.effectiveMaximumStreamWindow))
    }

    /// The latest round-trip time measured with our pings. Read it on the event loop.
    public var roundTripTime: TimeAmount? { self.session.roundTripTime }

    /// The number of live streams. Read it on the event loop.
    public var streamCount: Int { self.session.streamCount }

    // MARK: - Opening streams

    /// Opens a stream: the channel is returned once `initializer` has run and the channel is active. Data may be
    /// written at once; the peer's ACK is not awaited. When 256 streams wait for their ACK the open waits too.
    public func openStream(initializer: @escaping YamuxStreamInitializer) -> EventLoopFuture<any Channel> {
        guard let eventLoop = self.eventLoop else {
            preconditionFailure("YamuxMultiplexer.openStream called before the handler was added to a pipeline")
        }
        let promise = eventLoop.makePromise(of: (any Channel).self)
        self.openStream(promise: promise, initializer: initializer)
        return promise.futureResult
    }

    /// Opens a stream, completing `promise` as ``openStream(initializer:)`` completes its future.
    public func openStream(promise: EventLoopPromise<any Channel>, initializer: @escaping YamuxStreamInitializer) {
        if promise.futureResult.eventLoop.inEventLoop, self.eventLoop?.inEventLoop == true {
            self.openStream0(promise: promise, initializer: initializer)
        } else if let eventLoop = self.eventLoop {
            eventLoop.execute { self.openStream0(promise: promise, initializer: initializer) }
        } else {
            promise.fail(YamuxError.sessionClosed("the multiplexer is not in a pipeline"))
        }
    }

    private func openStream0(promise: EventLoopPromise<any Channel>, initializer: @escaping YamuxStreamInitializer) {
        guard let context = self.context, !self.sessionEnded else {
            promise.fail(self.session.openStreamError ?? YamuxError.sessionClosed("the session has ended"))
            return
        }
        // Keep the order of opens: once one waits for the backlog, later ones queue behind it.
        if !self.pendingOpens.isEmpty {
            self.queueOpen(promise: promise, initializer: initializer)
            return
        }
        self.open(promise: promise, initializer: initializer, context: context)
    }

    private func open(
        promise: EventLoopPromise<any Channel>,
        initializer: @escaping YamuxStreamInitializer,
        context: ChannelHandlerContext
    ) {
        switch self.session.openStream(now: context.eventLoop.now) {
        case .opened(let streamID, let synFrame):
            self.writeFrame(synFrame, promise: nil)
            let stream = YamuxStreamChannel(multiplexer: self, parent: context.channel, streamID: streamID)
            self.streams[streamID] = stream
            stream.configure(initializer: initializer, promise: promise, accept: false)
        case .failed(let error) where error.code == .ackBacklogFull:
            self.queueOpen(promise: promise, initializer: initializer)
        case .failed(let error):
            promise.fail(error)
        }
    }

    private func queueOpen(promise: EventLoopPromise<any Channel>, initializer: @escaping YamuxStreamInitializer) {
        guard self.pendingOpens.count < self.configuration.maximumConcurrentStreams else {
            promise.fail(YamuxError.streamLimitReached(self.configuration.maximumConcurrentStreams))
            return
        }
        self.pendingOpens.append((promise, initializer))
    }

    private func openPendingStreams() {
        while let (promise, initializer) = self.pendingOpens.first {
            if let error = self.session.openStreamError {
                guard error.code != .ackBacklogFull else { return }
                self.pendingOpens.removeFirst()
                promise.fail(error)
                continue
            }
            guard let context = self.context else { return }
            self.pendingOpens.removeFirst()
            self.open(promise: promise, initializer: initializer, context: context)
        }
    }

    // MARK: - Channel handler

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
        self.outbound = context.channel.allocator.buffer(capacity: 4096)
        self.session.connectionWritabilityChanged(isWritable: context.channel.isWritable)
        if context.channel.isActive { self.start(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.endSession(error: YamuxError.sessionClosed("the multiplexer was removed from the pipeline"))
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.endSession(error: YamuxError.connectionClosed())
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.sessionEnded else { return }
        self.isReading = true
        var buffer = self.unwrapInboundIn(data)
        do throws(YamuxError) {
            if let frame = try self.completePartialFrame(from: &buffer, context: context) {
                self.receivedFrame(frame, context: context)
            }
            guard case .none = self.partialFrame else { return }
            while !self.sessionEnded, let frame = try self.decoder.decodeFrame(buffer: &buffer) {
                self.receivedFrame(frame, context: context)
            }
            if !self.sessionEnded && buffer.readableBytes > 0 { try self.startPartialFrame(&buffer, context: context) }
        } catch {
            self.handle(self.session.receivedUndecodableBytes(error), context: context)
        }
    }

    /// Keeps the start of a frame that has not fully arrived. A Data body goes into a buffer of exactly its length:
    /// a slice of the read would keep that read's whole storage alive for as long as the payload is held, and growing
    /// a copy by appending would round it up to a power of two (a 64 KiB frame with its header to 128 KiB).
    private func startPartialFrame(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) throws(YamuxError) {
        guard buffer.readableBytes >= YamuxConstants.headerLength,
            let header = try buffer.getYamuxFrameHeader(at: buffer.readerIndex)
        else {
            var start = context.channel.allocator.buffer(capacity: YamuxConstants.headerLength)
            start.writeBuffer(&buffer)
            self.partialFrame = .header(start)
            return
        }
        buffer.moveReaderIndex(forwardBy: YamuxConstants.headerLength)
        try self.startBody(of: header, from: &buffer, context: context)
    }

    /// The decoder passed `header` (only a Data header with a body to come gets here): refuse it now if the window
    /// cannot hold its body, rather than buffer up to the decoder's bound first; otherwise start collecting the body.
    private func startBody(
        of header: YamuxFrameHeader,
        from buffer: inout ByteBuffer,
        context: ChannelHandlerContext
    ) throws(YamuxError) {
        self.handle(self.session.receivedDataHeader(header), context: context)
        guard !self.sessionEnded else { return }
        var body = context.channel.allocator.buffer(capacity: Int(header.length))
        body.writeBuffer(&buffer)
        self.partialFrame = .body(header, body)
    }

    /// Adds what `buffer` holds of the frame an earlier read left incomplete, taking no byte beyond it; returns the
    /// frame once whole.
    private func completePartialFrame(
        from buffer: inout ByteBuffer,
        context: ChannelHandlerContext
    ) throws(YamuxError) -> YamuxFrame? {
        switch self.partialFrame {
        case .none:
            return nil
        case .header(var start):
            self.partialFrame = .none
            let missing = YamuxConstants.headerLength - start.readableBytes
            if var part = buffer.readSlice(length: min(missing, buffer.readableBytes)) { start.writeBuffer(&part) }
            guard start.readableBytes == YamuxConstants.headerLength else {
                self.partialFrame = .header(start)
                return nil
            }
            if let frame = try self.decoder.decodeFrame(buffer: &start) { return frame }
            // A Data header with its body still to come; the decoder has checked it, so it parses.
            guard let header = try start.getYamuxFrameHeader(at: start.readerIndex) else { return nil }
            start.moveReaderIndex(forwardBy: YamuxConstants.headerLength)
            try self.startBody(of: header, from: &start, context: context)
            return try self.completePartialFrame(from: &buffer, context: context)
        case .body(let header, var body):
            self.partialFrame = .none
            let missing = Int(header.length) - body.readableBytes
            if var part = buffer.readSlice(length: min(missing, buffer.readableBytes)) { body.writeBuffer(&part) }
            guard body.readableBytes == Int(header.length) else {
                self.partialFrame = .body(header, body)
                return nil
            }
            return YamuxFrame(header: header, payload: body)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.isReading = false
        // Indexed rather than copied: a copy would make `removeAll(keepingCapacity:)` allocate a new array. No stream
        // registers here, as the read burst is over.
        var index = 0
        while index < self.streamsWithPendingReads.count {
            self.streamsWithPendingReads[index].parentReadComplete()
            index += 1
        }
        self.streamsWithPendingReads.removeAll(keepingCapacity: true)
        self.flushIfNeeded()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        self.session.connectionWritabilityChanged(isWritable: writable)
        for stream in self.streams.values { stream.parentWritabilityChanged(writable) }
        context.fireChannelWritabilityChanged()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, case .send(let goAway) = self.session.goAway(.normal) {
            self.writeFrame(goAway, promise: nil)
            self.flushIfNeeded(evenWhileReading: true)
            self.endSession(error: YamuxError.sessionClosed("the connection is closing"))
        }
        context.close(mode: mode, promise: promise)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Nothing may write raw bytes between yamux frames; streams write through their own channels.
        promise?.fail(ChannelError.operationUnsupported)
    }

    // MARK: - Session events

    private func start(context: ChannelHandlerContext) {
        guard !self.started else { return }
        self.started = true
        self.sendPing(context: context)
    }

    private func sendPing(context: ChannelHandlerContext) {
        guard let interval = self.configuration.roundTripPingInterval, !self.sessionEnded else { return }
        if case .send(let ping) = self.session.sendPing(now: context.eventLoop.now) {
            self.writeFrame(ping, promise: nil)
            self.flushIfNeeded()
        }
        self.pingTask = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard let context = self.context else { return }
            self.sendPing(context: context)
        }
    }

    private func receivedFrame(_ frame: YamuxFrame, context: ChannelHandlerContext) {
        self.handle(self.session.receivedFrame(frame, now: context.eventLoop.now), context: context)
    }

    private func handle(_ action: YamuxSessionStateMachine.ReceivedFrameAction, context: ChannelHandlerContext) {
        switch action {
        case .none, .roundTripTimeMeasured:
            break
        case .stream(let event):
            self.handle(event, context: context)
        case .refuseStream(let reset):
            // Bounded by the session while the connection is not writable.
            self.writeFrame(reset, promise: nil)
            self.flushIfNeeded()
        case .sendPingResponse(let response):
            // Only produced while the connection is writable, so a ping flood cannot grow the outbound buffer.
            self.writeFrame(response, promise: nil)
            self.flushIfNeeded()
        case .goAwayReceived(let code):
            self.endSession(error: YamuxError.remoteGoAway(code))
            context.close(promise: nil)
        case .protocolViolation(let error, let goAway):
            self.writeFrame(goAway, promise: nil)
            self.flushIfNeeded(evenWhileReading: true)
            self.endSession(error: error)
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    private func handle(_ event: YamuxSessionStateMachine.StreamEvent, context: ChannelHandlerContext) {
        if let reply = event.reply {
            self.writeFrame(reply, promise: nil)
            self.flushIfNeeded()
        }
        if event.opened {
            guard let initializer = self.inboundStreamInitializer else {
                self.handle(self.session.refuseStream(event.streamID), context: context)
                return
            }
            let stream = YamuxStreamChannel(multiplexer: self, parent: context.channel, streamID: event.streamID)
            self.streams[event.streamID] = stream
            stream.configure(initializer: initializer, promise: nil, accept: true)
        }
        if event.acknowledged && !self.pendingOpens.isEmpty {
            self.openPendingStreams()
        }
        guard let stream = self.streams[event.streamID] else { return }
        if let payload = event.payload {
            stream.receivedData(payload)
        }
        if event.sendWindowIncreased {
            stream.sendWindowIncreased()
        }
        if event.reset {
            self.streams.removeValue(forKey: event.streamID)
            stream.receivedReset()
        } else if event.closed {
            self.streams.removeValue(forKey: event.streamID)
            stream.receivedClose()
        } else if event.inputClosed {
            stream.receivedInputClosed()
        }
    }

    /// Ends every stream with `error` and stops the ping timer. Idempotent.
    private func endSession(error: YamuxError) {
        guard !self.sessionEnded else { return }
        self.sessionEnded = true
        self.pingTask?.cancel()
        self.pingTask = nil
        let streams = self.streams.values
        self.streams.removeAll()
        for stream in streams { stream.sessionEnded(error: error) }
        while let (promise, _) = self.pendingOpens.popFirst() { promise.fail(error) }
    }

    // MARK: - Calls from stream channels

    /// An inbound stream's initializer succeeded: sends the ACK.
    func acceptStream(_ streamID: UInt32) {
        self.send(self.session.acceptStream(streamID))
    }

    /// The number of bytes `streamID` may send now.
    func sendWindow(streamID: UInt32) -> Int {
        self.session.sendWindow(streamID: streamID)
    }

    /// Frames as much of `buffer` as the window allows and writes it. Returns whether anything is left.
    func writeData(
        streamID: UInt32,
        _ buffer: inout ByteBuffer,
        promise: EventLoopPromise<Void>?
    ) -> YamuxSessionStateMachine.SendDataAction {
        let action = self.session.sendData(streamID: streamID, from: &buffer)
        switch action {
        case .send(let header, let payload, _):
            self.writeFrame(header, payload: payload, promise: buffer.readableBytes == 0 ? promise : nil)
        case .blocked, .failed:
            break
        }
        return action
    }

    /// Sends FIN for `streamID`. Returns whether that closed the stream (the peer had sent FIN already).
    func closeOutput(streamID: UInt32, promise: EventLoopPromise<Void>?) -> Bool {
        var closed = false
        switch self.session.closeOutput(streamID: streamID) {
        case .send(let header, let streamClosed):
            self.writeFrame(header, promise: promise)
            closed = streamClosed
        case .none:
            promise?.succeed(())
        }
        self.flushIfNeeded()
        return closed
    }

    /// The stream channel delivered `count` bytes to its pipeline: credit the window if due.
    func consumed(_ count: Int, streamID: UInt32) {
        guard let context = self.context else { return }
        self.send(self.session.consumed(count, streamID: streamID, now: context.eventLoop.now))
    }

    /// The stream channel closed: FIN (or RST when `reset`), and forget it. `refused`: it was a stream the peer
    /// opened whose initializer failed, so the RST refuses it and counts as a refusal.
    func streamChannelClosed(_ streamID: UInt32, reset: Bool, refused: Bool = false) {
        self.streams.removeValue(forKey: streamID)
        guard !self.sessionEnded, let context = self.context else { return }
        if refused {
            self.handle(self.session.refuseStream(streamID), context: context)
        } else {
            self.send(reset ? self.session.resetStream(streamID) : self.session.closeStream(streamID: streamID))
        }
    }

    /// The stream channel has data waiting for the end of the current read burst.
    func streamHasPendingReads(_ stream: YamuxStreamChannel) -> Bool {
        guard self.isReading else { return false }
        self.streamsWithPendingReads.append(stream)
        return true
    }

    private func send(_ action: YamuxSessionStateMachine.SendFrameAction) {
        switch action {
        case .none:
            return
        case .send(let header, _):
            self.writeFrame(header, promise: nil)
            self.flushIfNeeded()
        }
    }

    // MARK: - Writing

    /// Queues a frame for the next flush. Small bodies are copied after their header in the outbound buffer; larger
    /// ones are passed to the channel as they are.
    func writeFrame(_ header: YamuxFrameHeader, payload: ByteBuffer? = nil, promise: EventLoopPromise<Void>?) {
        guard let context = self.context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        // Reuses the storage when the channel has released the last flushed slice (no allocation then).
        if self.outbound.readableBytes == 0 { self.outbound.clear() }
        self.outbound.writeYamuxFrameHeader(header)
        self.needsFlush = true
        if let payload, payload.readableBytes > Self.smallPayloadCopyLimit {
            self.emitOutbound(context: context)
            context.write(self.wrapOutboundOut(payload), promise: promise)
            return
        }
        if let payload { self.outbound.writeImmutableBuffer(payload) }
        if let promise {
            if let pending = self.outboundPromise {
                pending.futureResult.cascade(to: promise)
            } else {
                self.outboundPromise = promise
            }
        }
    }

    private func emitOutbound(context: ChannelHandlerContext) {
        guard self.outbound.readableBytes > 0,
            let chunk = self.outbound.readSlice(length: self.outbound.readableBytes)
        else { return }
        let promise = self.outboundPromise
        self.outboundPromise = nil
        context.write(self.wrapOutboundOut(chunk), promise: promise)
    }

    /// Flushes what was written, unless a read burst is in progress (then `channelReadComplete` flushes once).
    func flushIfNeeded(evenWhileReading: Bool = false) {
        guard self.needsFlush, let context = self.context else { return }
        guard evenWhileReading || !self.isReading else { return }
        self.needsFlush = false
        self.emitOutbound(context: context)
        context.flush()
    }
}
