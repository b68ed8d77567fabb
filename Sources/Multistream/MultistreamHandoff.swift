import NIOCore
import P2PCore

/// The part the dialer and listener handlers share: the result promise, the deadline, and the
/// hand-over to the next layer (buffer what arrives until the next layer is installed, then pass
/// it on), as a value that returns what to do rather than doing it.
///
/// Keeping channel calls out of its mutating methods matters: `fireChannelRead` and promise
/// callbacks can re-enter the handler, which must not happen during an access to this struct.
struct MultistreamHandoff {
    /// The most next-layer bytes buffered while the next layer is being installed: 1 MiB.
    ///
    /// Not from any spec. A Noise peer cannot send more than one 65537-byte frame before our reply,
    /// and a yamux peer 256 KiB per stream (yamux spec, initial window); this leaves room for a
    /// few streams while bounding what a hostile peer can park in memory.
    static let maximumBufferedBytes = 1 << 20

    enum Phase {
        /// Added, negotiation not started.
        case idle
        /// Negotiating, or negotiated and waiting for the next layer to be installed.
        case negotiating
        /// Handed off, failed or removed.
        case finished
    }

    /// What to do to hand over to the next layer.
    struct HandOff {
        let id: ProtocolID
        let leftover: ByteBuffer?
        let readWasHeld: Bool
        let promise: EventLoopPromise<ProtocolID>?
    }

    /// What to do to fail negotiation.
    struct Failure {
        let promise: EventLoopPromise<ProtocolID>?
    }

    private(set) var phase: Phase = .idle
    private var promise: EventLoopPromise<ProtocolID>?
    private var timeoutTask: Scheduled<Void>?
    private var negotiatedID: ProtocolID?
    private var isInstalled = false
    private var leftover: ByteBuffer?
    private var heldRead = false

    /// Whether the protocol is agreed (strict) or confirmed (lazy).
    var negotiated: Bool { self.negotiatedID != nil }

    var result: EventLoopFuture<ProtocolID> {
        guard let promise = self.promise else {
            preconditionFailure("negotiationResult read before the handler was added to a pipeline")
        }
        return promise.futureResult
    }

    mutating func makePromise(on eventLoop: any EventLoop) {
        self.promise = eventLoop.makePromise(of: ProtocolID.self)
    }

    mutating func started(timeoutTask: Scheduled<Void>?) {
        switch self.phase {
        case .idle:
            self.phase = .negotiating
            self.timeoutTask = timeoutTask
        case .negotiating, .finished:
            preconditionFailure("negotiation started twice")
        }
    }

    /// The protocol is agreed; `leftover` goes to the next layer once it is installed. Stops the clock.
    mutating func negotiated(id: ProtocolID, leftover: ByteBuffer?) -> HandOff? {
        self.negotiatedID = id
        self.leftover = leftover
        self.timeoutTask?.cancel()
        self.timeoutTask = nil
        return self.handOffIfReady()
    }

    /// The next layer's installer future succeeded.
    mutating func installed() -> HandOff? {
        switch self.phase {
        case .negotiating:
            self.isInstalled = true
            return self.handOffIfReady()
        case .idle, .finished:
            return nil
        }
    }

    /// Keeps next-layer bytes that arrive while the next layer is being installed.
    mutating func buffer(_ bytes: ByteBuffer) -> Failure? {
        self.leftover.multistreamAppend(bytes)
        if (self.leftover?.readableBytes ?? 0) > Self.maximumBufferedBytes {
            return self.fail()
        }
        return nil
    }

    /// Whether to hold back a `read()`: while bytes are buffered for a next layer not installed yet.
    mutating func shouldHoldRead() -> Bool {
        guard case .negotiating = self.phase, self.negotiated, !self.isInstalled else { return false }
        self.heldRead = true
        return true
    }

    /// Ends negotiation with an error; `nil` if it already ended.
    mutating func fail() -> Failure? {
        switch self.phase {
        case .idle, .negotiating:
            self.phase = .finished
            self.timeoutTask?.cancel()
            self.timeoutTask = nil
            self.leftover = nil
            return Failure(promise: self.promise)
        case .finished:
            return nil
        }
    }

    /// The handler left the pipeline: fail a pending result so that it never leaks.
    mutating func handlerRemoved() -> Failure? {
        self.fail()
    }

    private mutating func handOffIfReady() -> HandOff? {
        guard case .negotiating = self.phase, let id = self.negotiatedID, self.isInstalled else { return nil }
        self.phase = .finished
        defer {
            self.leftover = nil
            self.heldRead = false
        }
        return HandOff(id: id, leftover: self.leftover, readWasHeld: self.heldRead, promise: self.promise)
    }
}

extension MultistreamHandoff.HandOff {
    /// Passes the buffered bytes on, releases a held read, removes the handler and reports success.
    ///
    /// - Parameter flush: Flush first (the listener's echo waits unflushed so that it can leave
    ///   together with the next layer's answer to the bytes passed on).
    func perform(context: ChannelHandlerContext, flush: Bool) {
        if let leftover = self.leftover, leftover.readableBytes > 0 {
            context.fireChannelRead(NIOAny(leftover))
            context.fireChannelReadComplete()
        }
        if flush { context.flush() }
        if self.readWasHeld { context.read() }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        self.promise?.succeed(self.id)
    }
}

extension MultistreamHandoff.Failure {
    /// Fails the result, tells the pipeline, and closes the channel.
    func perform(context: ChannelHandlerContext, error: any Error, closeChannel: Bool) {
        self.promise?.fail(error)
        context.fireErrorCaught(error)
        if closeChannel { context.close(promise: nil) }
    }
}
