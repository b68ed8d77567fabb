import NIOCore
import P2PCore

/// Runs the dialer side of multistream-select on a channel, installs the next layer, hands it the
/// bytes that arrived behind the negotiation, and removes itself.
///
/// Thin glue around ``MultistreamDialerStateMachine``: it feeds bytes in and performs the actions.
///
/// ### Use
/// ```swift
/// let dialer = MultistreamDialerHandler(protocols: [.noise], mode: .lazy) { protocolID, channel in
///     // Add the next layer's handlers *behind* this one (the default position).
///     channel.pipeline.addHandler(NoiseHandler(...))
/// }
/// try channel.pipeline.syncOperations.addHandler(dialer)
/// dialer.negotiationResult  // ProtocolID, once the listener confirmed it and leftover bytes went on
/// ```
///
/// ### Sequence
/// 1. When the channel is active (at once if it already is) the handler writes the header and the
///    first proposal.
/// 2. Strict mode: when the echo arrives it calls `nextLayer(protocolID, channel)`, buffers inbound
///    bytes (and holds `read()`) until the returned future succeeds, then fires the bytes that
///    followed the echo as `channelRead` + `channelReadComplete`, removes itself and succeeds
///    ``negotiationResult``.
/// 3. Lazy mode, one candidate left: it calls `nextLayer` at once, without waiting. The header and
///    proposal are not flushed yet: they are put in front of the next layer's first write, so they
///    leave in one write with, say, Noise message 1 (or flushed alone once `nextLayer`'s future
///    succeeds, if the next layer wrote nothing by then). The handler stays in the pipeline, strips
///    the listener's header and echo, which come before any of the listener's next-layer bytes,
///    forwards everything after them, then removes itself. A later `na` fails ``negotiationResult``
///    and the channel with ``MultistreamError/Code/protocolRejected`` naming the protocol.
///
/// ### Failure
/// Every error (a ``MultistreamError``, or the failure of `nextLayer`'s future) fails
/// ``negotiationResult``, is fired down the pipeline with `fireErrorCaught`, and closes the channel.
///
/// ### Timeout
/// The state machine has no clock; this handler owns the negotiation deadline. `timeout` counts
/// from the start of negotiation until the echo arrives (in lazy mode too) and fails with
/// ``MultistreamError/Code/timedOut``. Pass `nil` when the caller (the upgrader) imposes an overall
/// deadline and closes the channel itself.
public final class MultistreamDialerHandler: ChannelDuplexHandler, RemovableChannelHandler {
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

    private var machine: MultistreamDialerStateMachine
    private let installNextLayer: NextLayerInstaller
    private let timeout: TimeAmount?
    private var handoff = MultistreamHandoff()
    /// Lazy mode: header and proposal waiting to go out in front of the next layer's first write.
    private var pendingProposal: ByteBuffer?

    /// Creates a dialer handler.
    ///
    /// - Parameters:
    ///   - protocols: The candidates, most preferred first.
    ///   - mode: ``MultistreamDialerStateMachine/Mode/strict`` or ``MultistreamDialerStateMachine/Mode/lazy``.
    ///   - requestsProtocolList: Send `ls` first (see ``MultistreamDialerStateMachine``).
    ///   - timeout: The negotiation deadline, or `nil` for none (see "Timeout" above).
    ///   - nextLayer: Installs the next layer once the protocol is known.
    /// - Precondition: `protocols` is not empty and every ID is valid.
    public convenience init(
        protocols: [ProtocolID],
        mode: MultistreamDialerStateMachine.Mode = .strict,
        requestsProtocolList: Bool = false,
        timeout: TimeAmount? = nil,
        nextLayer: @escaping NextLayerInstaller
    ) {
        self.init(
            encodedProtocols: protocols.map(MultistreamEncodedProtocol.init),
            mode: mode,
            requestsProtocolList: requestsProtocolList,
            timeout: timeout,
            nextLayer: nextLayer
        )
    }

    /// Creates a dialer handler from pre-encoded protocols.
    public init(
        encodedProtocols: [MultistreamEncodedProtocol],
        mode: MultistreamDialerStateMachine.Mode = .strict,
        requestsProtocolList: Bool = false,
        timeout: TimeAmount? = nil,
        nextLayer: @escaping NextLayerInstaller
    ) {
        self.machine = MultistreamDialerStateMachine(
            encodedProtocols: encodedProtocols,
            mode: mode,
            requestsProtocolList: requestsProtocolList
        )
        self.timeout = timeout
        self.installNextLayer = nextLayer
    }

    /// The negotiated protocol, once the listener confirmed it, the next layer is installed and the
    /// bytes that followed the negotiation were passed on; or the error that ended negotiation.
    ///
    /// - Precondition: the handler was added to a pipeline.
    public var negotiationResult: EventLoopFuture<ProtocolID> { self.handoff.result }

    // MARK: - Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.handoff.makePromise(on: context.eventLoop)
        if context.channel.isActive { self.startIfNeeded(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.pendingProposal = nil
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
                    self.fail(context: context, failure, MultistreamError.bufferLimitExceeded(Self.maximumBufferedBytes))
                }
            } else {
                self.negotiate(context: context, bytes: bytes)
            }
        case .finished:
            // Failed, and the channel is closing: drop.
            break
        }
    }

    // MARK: - Outbound (lazy mode)

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard var proposal = self.pendingProposal else {
            context.write(data, promise: promise)
            return
        }
        // Header, proposal and the next layer's first bytes in one buffer: one write on the wire.
        self.pendingProposal = nil
        var bytes = self.unwrapOutboundIn(data)
        proposal.writeBuffer(&bytes)
        context.write(self.wrapOutboundOut(proposal), promise: promise)
    }

    public func flush(context: ChannelHandlerContext) {
        if let proposal = self.pendingProposal {
            self.pendingProposal = nil
            context.write(self.wrapOutboundOut(proposal), promise: nil)
        }
        context.flush()
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
                if let failure = handler.handoff.fail() {
                    handler.fail(context: context, failure, MultistreamError.timedOut(timeout))
                }
            }
        }
        self.handoff.started(timeoutTask: timeoutTask)
        var output = context.channel.allocator.buffer(capacity: 64)
        switch self.machine.start(output: &output) {
        case .send:
            context.writeAndFlush(self.wrapOutboundOut(output), promise: nil)
        case .sendAndProceedOptimistically(let id):
            self.proceedOptimistically(context: context, id: id, proposal: output)
        }
    }

    private func negotiate(context: ChannelHandlerContext, bytes: ByteBuffer) {
        var output = context.channel.allocator.buffer(capacity: 0)
        let action: MultistreamDialerStateMachine.ReceivedBytesAction
        do {
            action = try self.machine.receivedBytes(bytes, output: &output)
        } catch {
            if let failure = self.handoff.fail() { self.fail(context: context, failure, error) }
            return
        }
        if output.readableBytes > 0 {
            switch action {
            case .sendAndProceedOptimistically:
                break  // held for the next layer's first write
            case .wait, .send, .negotiated, .confirmed:
                context.writeAndFlush(self.wrapOutboundOut(output), promise: nil)
            }
        }
        switch action {
        case .wait, .send:
            break
        case .sendAndProceedOptimistically(let id):
            self.proceedOptimistically(context: context, id: id, proposal: output)
        case .negotiated(let id, let leftover):
            // Strict: nothing is installed yet, so this cannot hand off already.
            _ = self.handoff.negotiated(id: id, leftover: leftover)
            self.install(context: context, id: id)
        case .confirmed(let id, let leftover):
            self.handoff.negotiated(id: id, leftover: leftover)?.perform(context: context, flush: false)
        }
    }

    /// Lazy mode: keep the proposal for the next layer's first write and start the next layer now.
    private func proceedOptimistically(context: ChannelHandlerContext, id: ProtocolID, proposal: ByteBuffer) {
        self.pendingProposal = proposal
        self.install(context: context, id: id)
    }

    private func install(context: ChannelHandlerContext, id: ProtocolID) {
        let future = self.installNextLayer(id, context.channel)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success:
                guard case .negotiating = handler.handoff.phase else { return }
                // Lazy mode, and the next layer wrote nothing yet: send the proposal now rather
                // than wait for it.
                if let proposal = handler.pendingProposal {
                    handler.pendingProposal = nil
                    context.writeAndFlush(handler.wrapOutboundOut(proposal), promise: nil)
                }
                handler.handoff.installed()?.perform(context: context, flush: false)
            case .failure(let error):
                if let failure = handler.handoff.fail() { handler.fail(context: context, failure, error) }
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
        if let failure = self.handoff.fail() { self.fail(context: context, failure, error, closeChannel: closeChannel) }
    }

    private func fail(
        context: ChannelHandlerContext,
        _ failure: MultistreamHandoff.Failure,
        _ error: any Error,
        closeChannel: Bool = true
    ) {
        self.pendingProposal = nil
        failure.perform(context: context, error: error, closeChannel: closeChannel)
    }
}

@available(*, unavailable)
extension MultistreamDialerHandler: Sendable {}
