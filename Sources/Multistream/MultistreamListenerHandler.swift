import NIOCore
import P2PCore

/// Runs the listener side of multistream-select on a channel, installs the next layer, hands it
/// the bytes that arrived behind the accepted proposal, and removes itself.
///
/// Thin glue around ``MultistreamListenerStateMachine``: it feeds bytes in and performs the actions.
///
/// ### Use
/// ```swift
/// let listener = MultistreamListenerHandler(protocols: [.noise, .tls]) { protocolID, channel in
///     // Add the next layer's handlers *behind* this one (the default position).
///     channel.pipeline.addHandler(protocolID == .noise ? NoiseHandler(...) : TLSHandler(...))
/// }
/// try channel.pipeline.syncOperations.addHandler(listener)
/// listener.negotiationResult  // ProtocolID, once the next layer is installed and has the leftover bytes
/// ```
///
/// ### Sequence
/// 1. When the channel is active (at once if it already is) the handler sends the header, unless
///    configured to wait for the dialer's (rust's behaviour).
/// 2. It answers `na` and `ls` (flushed at once) until a supported protocol is proposed.
/// 3. It writes the echo *without flushing*, calls `nextLayer(protocolID, channel)` and buffers
///    inbound bytes (holding `read()`) until the returned future succeeds. Then it fires the bytes
///    that followed the proposal (a lazy dialer's Noise message 1, say) as `channelRead` +
///    `channelReadComplete`, flushes, removes itself and succeeds ``negotiationResult``. The echo
///    therefore precedes any next-layer byte on the wire, and leaves in the same write as the
///    next layer's immediate answer to those bytes.
///
/// ### Failure
/// Every error (a ``MultistreamError``, or the failure of `nextLayer`'s future) fails
/// ``negotiationResult``, is fired down the pipeline with `fireErrorCaught`, and closes the channel.
///
/// ### Timeout
/// The state machine has no clock; this handler owns the negotiation deadline. `timeout` counts
/// from the start of negotiation until a protocol is accepted and fails with
/// ``MultistreamError/Code/timedOut``. Pass `nil` when the caller (the upgrader) imposes an overall
/// deadline and closes the channel itself.
public final class MultistreamListenerHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Installs the next layer for the negotiated protocol on the channel; the returned future
    /// completes once its handlers are in the pipeline (behind this handler).
    public typealias NextLayerInstaller = (ProtocolID, any Channel) -> EventLoopFuture<Void>

    /// The most next-layer bytes buffered while `nextLayer`'s future is pending: 1 MiB.
    ///
    /// While it is pending the handler also holds back `read()`, so on a socket channel only the
    /// reads already under way can arrive; the cap bounds transports that push without `read()`.
    public static let maximumBufferedBytes = MultistreamHandoff.maximumBufferedBytes

    private var machine: MultistreamListenerStateMachine
    private let installNextLayer: NextLayerInstaller
    private let timeout: TimeAmount?
    private var handoff = MultistreamHandoff()

    /// Creates a listener handler.
    ///
    /// - Parameters:
    ///   - protocols: The supported protocols (and the order of the `ls` answer).
    ///   - sendsHeaderImmediately: Send the header as soon as the channel is active (go) rather than
    ///     with the first answer (rust).
    ///   - answersListRequests: Answer `ls` with the list (rust, js) rather than `na` (go).
    ///   - maximumProposals: The bound on proposals and `ls` requests
    ///     (``MultistreamListenerStateMachine/defaultMaximumProposals``).
    ///   - timeout: The negotiation deadline, or `nil` for none (see "Timeout" above).
    ///   - nextLayer: Installs the next layer once the protocol is known.
    public convenience init(
        protocols: [ProtocolID],
        sendsHeaderImmediately: Bool = true,
        answersListRequests: Bool = true,
        maximumProposals: Int = MultistreamListenerStateMachine.defaultMaximumProposals,
        timeout: TimeAmount? = nil,
        nextLayer: @escaping NextLayerInstaller
    ) {
        self.init(
            encodedProtocols: protocols.map(MultistreamEncodedProtocol.init),
            sendsHeaderImmediately: sendsHeaderImmediately,
            answersListRequests: answersListRequests,
            maximumProposals: maximumProposals,
            timeout: timeout,
            nextLayer: nextLayer
        )
    }

    /// Creates a listener handler from pre-encoded protocols.
    public init(
        encodedProtocols: [MultistreamEncodedProtocol],
        sendsHeaderImmediately: Bool = true,
        answersListRequests: Bool = true,
        maximumProposals: Int = MultistreamListenerStateMachine.defaultMaximumProposals,
        timeout: TimeAmount? = nil,
        nextLayer: @escaping NextLayerInstaller
    ) {
        self.machine = MultistreamListenerStateMachine(
            encodedProtocols: encodedProtocols,
            sendsHeaderImmediately: sendsHeaderImmediately,
            answersListRequests: answersListRequests,
            maximumProposals: maximumProposals
        )
        self.timeout = timeout
        self.installNextLayer = nextLayer
    }

    /// The negotiated protocol, once the next layer is installed and the bytes that followed the
    /// negotiation were passed on; or the error that ended negotiation.
    ///
    /// - Precondition: the handler was added to a pipeline.
    public var negotiationResult: EventLoopFuture<ProtocolID> { self.handoff.result }

    // MARK: - Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.handoff.makePromise(on: context.eventLoop)
        if context.channel.isActive { self.startIfNeeded(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.handoff.handlerRemoved()?.promise?.fail(MultistreamError.handlerRemoved())
    }

    public func channelActive(context: ChannelHandlerContext) {
        // Forward first: handlers the next layer adds later must not see a second channelActive.
        context.fireChannelActive()
        self.startIfNeeded(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.endOfInput(context: context, closeChannel: false)
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            self.endOfInput(context: context, closeChannel: true)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        switch self.handoff.phase {
        case .idle:
            // Bytes before channelActive are not expected, but a child channel may deliver them.
            self.startIfNeeded(context: context)
            self.channelRead(context: context, data: data)
        case .negotiating:
            if self.handoff.negotiated {
                if let failure = self.handoff.buffer(bytes) {
                    failure.perform(
                        context: context,
                        error: MultistreamError.bufferLimitExceeded(Self.maximumBufferedBytes),
                        closeChannel: true
                    )
                }
            } else {
                self.negotiate(context: context, bytes: bytes)
            }
        case .finished:
            // Failed, and the channel is closing: drop.
            break
        }
    }

    public func read(context: ChannelHandlerContext) {
        if self.handoff.shouldHoldRead() { return }
        context.read()
    }

    // MARK: - Negotiation

    private func startIfNeeded(context: ChannelHandlerContext) {
        guard case .idle = self.handoff.phase else { return }
        var timeoutTask: Scheduled<Void>? = nil
        if let timeout = self.timeout {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timeoutTask = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.handoff.fail()?.perform(context: context, error: MultistreamError.timedOut(timeout), closeChannel: true)
            }
        }
        self.handoff.started(timeoutTask: timeoutTask)
        var output = context.channel.allocator.buffer(capacity: 32)
        switch self.machine.start(output: &output) {
        case .send:
            context.writeAndFlush(self.wrapOutboundOut(output), promise: nil)
        case .wait:
            break
        }
    }

    private func negotiate(context: ChannelHandlerContext, bytes: ByteBuffer) {
        var output = context.channel.allocator.buffer(capacity: 0)
        let action: MultistreamListenerStateMachine.ReceivedBytesAction
        do {
            action = try self.machine.receivedBytes(bytes, output: &output)
        } catch {
            self.handoff.fail()?.perform(context: context, error: error, closeChannel: true)
            return
        }
        switch action {
        case .wait:
            if output.readableBytes > 0 { context.writeAndFlush(self.wrapOutboundOut(output), promise: nil) }
        case .negotiated(let id, let leftover):
            // Not flushed: the hand-off flushes, after the next layer saw the leftover bytes.
            context.write(self.wrapOutboundOut(output), promise: nil)
            _ = self.handoff.negotiated(id: id, leftover: leftover)
            self.install(context: context, id: id)
        }
    }

    private func install(context: ChannelHandlerContext, id: ProtocolID) {
        let future = self.installNextLayer(id, context.channel)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success:
                handler.handoff.installed()?.perform(context: context, flush: true)
            case .failure(let error):
                handler.handoff.fail()?.perform(context: context, error: error, closeChannel: true)
            }
        }
    }

    private func endOfInput(context: ChannelHandlerContext, closeChannel: Bool) {
        guard case .negotiating = self.handoff.phase else { return }
        let error: any Error
        if self.handoff.negotiated {
            error = MultistreamError.connectionClosed("before the next layer was installed")
        } else {
            do {
                try self.machine.inputClosed()
                return
            } catch let closed {
                error = closed
            }
        }
        self.handoff.fail()?.perform(context: context, error: error, closeChannel: closeChannel)
    }
}

@available(*, unavailable)
extension MultistreamListenerHandler: Sendable {}
