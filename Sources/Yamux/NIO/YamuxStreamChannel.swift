import NIOConcurrencyHelpers
import NIOCore

/// Channel options of yamux stream channels.
public enum YamuxChannelOptions {
    /// The stream's yamux ID (read only).
    public static let streamID = Types.StreamIDOption()

    /// The option types.
    public enum Types {
        /// The stream's yamux ID: odd for streams the dialer opened, even for the listener's.
        public struct StreamIDOption: ChannelOption, Sendable {
            public typealias Value = UInt32
            public init() {}
        }
    }
}

/// One yamux stream as a NIO `Channel`, in the manner of swift-nio-ssh's `SSHChildChannel`, reduced to what yamux
/// needs: `ByteBuffer` reads and writes, half-close, `autoRead`/`read()` backpressure tied to the receive window, and
/// writability tied to the send window.
///
/// ``YamuxMultiplexer`` creates it; every method runs on the parent's event loop.
final class YamuxStreamChannel {
    private enum Lifecycle {
        /// The initializer runs; I/O is buffered.
        case initializing
        case active
        case closed
    }

    /// An outbound operation waiting for window (or for a flush).
    private enum PendingWrite {
        case data(ByteBuffer, EventLoopPromise<Void>?)
        case closeOutput(EventLoopPromise<Void>?)
    }

    private let multiplexer: YamuxMultiplexer
    private let streamID: UInt32
    private var _pipeline: ChannelPipeline!
    private let closePromise: EventLoopPromise<Void>
    private var lifecycle: Lifecycle = .initializing
    /// Whether the session still knows the stream (no RST, not closed on both sides, session not ended).
    private var isLiveOnNetwork = true
    private var activationPromise: EventLoopPromise<any Channel>?

    private var autoRead: Bool
    private var allowRemoteHalfClosure = false
    /// A `read()` is waiting for data.
    private var unsatisfiedRead = false
    private var pendingReads: CircularBuffer<ByteBuffer> = CircularBuffer(initialCapacity: 4)
    /// The peer's FIN, delivered after the pending reads.
    private var pendingInputClosed = false
    private var inputClosedDelivered = false
    private var registeredForReadComplete = false

    private var pendingWrites: CircularBuffer<PendingWrite> = CircularBuffer(initialCapacity: 4)
    /// How many of the first `pendingWrites` have been flushed.
    private var flushedWriteCount = 0
    /// Data bytes in `pendingWrites`: compared with the send window for writability.
    private var pendingWriteBytes = 0
    private var outputClosed = false
    private var parentIsWritable: Bool

    private let activeBox = NIOLockedValueBox(false)
    private let writableBox = NIOLockedValueBox(true)

    let allocator: ByteBufferAllocator
    let parent: (any Channel)?
    let eventLoop: any EventLoop

    init(multiplexer: YamuxMultiplexer, parent: any Channel, streamID: UInt32) {
        self.multiplexer = multiplexer
        self.streamID = streamID
        self.parent = parent
        self.eventLoop = parent.eventLoop
        self.allocator = parent.allocator
        self.closePromise = parent.eventLoop.makePromise()
        self.parentIsWritable = parent.isWritable
        self.autoRead = (try? parent.syncOptions?.getOption(ChannelOptions.autoRead)) ?? true
        self._pipeline = ChannelPipeline(channel: self)
    }

    /// Runs `initializer`, then activates the channel (and for an inbound stream sends the ACK first).
    func configure(initializer: YamuxStreamInitializer, promise: EventLoopPromise<any Channel>?, accept: Bool) {
        self.activationPromise = promise
        initializer(self).hop(to: self.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                self.activate(accept: accept)
            case .failure(let error):
                // Refuse (inbound) or abandon (outbound) the stream: RST, as go does for a stream it cannot accept.
                self.close(error: error, reset: true, refused: accept)
            }
        }
    }

    private func activate(accept: Bool) {
        switch self.lifecycle {
        case .initializing:
            break
        case .active, .closed:
            return
        }
        self.lifecycle = .active
        if accept { self.multiplexer.acceptStream(self.streamID) }
        self.activeBox.withLockedValue { $0 = true }
        self.pipeline.fireChannelActive()
        if let promise = self.activationPromise {
            self.activationPromise = nil
            promise.succeed(self)
        }
        self.updateWritability()
        self.deliverPendingWrites()
        if self.autoRead { self.pipeline.read() }
        self.multiplexer.flushIfNeeded()
    }

    // MARK: - From the multiplexer

    func receivedData(_ data: ByteBuffer) {
        self.pendingReads.append(data)
        self.readsArrived()
    }

    func receivedInputClosed() {
        self.pendingInputClosed = true
        self.readsArrived()
    }

    private func readsArrived() {
        guard self.unsatisfiedRead, case .active = self.lifecycle else { return }
        if !self.registeredForReadComplete {
            self.registeredForReadComplete = self.multiplexer.streamHasPendingReads(self)
        }
        if !self.registeredForReadComplete { self.deliverPendingReads() }
    }

    /// The parent's read burst ended: deliver what arrived in it.
    func parentReadComplete() {
        self.registeredForReadComplete = false
        self.deliverPendingReads()
    }

    func sendWindowIncreased() {
        self.deliverPendingWrites()
        self.updateWritability()
    }

    func parentWritabilityChanged(_ writable: Bool) {
        self.parentIsWritable = writable
        self.updateWritability()
    }

    /// Both sides sent FIN: hand over what was read, then close.
    func receivedClose() {
        self.isLiveOnNetwork = false
        self.pendingInputClosed = true
        self.forceDeliverPendingReads()
        self.close(error: nil, reset: false)
    }

    /// The peer reset the stream.
    func receivedReset() {
        self.isLiveOnNetwork = false
        self.forceDeliverPendingReads()
        self.close(error: YamuxError.streamReset(self.streamID), reset: false)
    }

    /// The session ended (Go Away, protocol error, connection closed).
    func sessionEnded(error: YamuxError) {
        self.isLiveOnNetwork = false
        self.forceDeliverPendingReads()
        self.close(error: error, reset: false)
    }

    // MARK: - Reads

    private func deliverPendingReads() {
        guard self.unsatisfiedRead, case .active = self.lifecycle else { return }
        guard !self.pendingReads.isEmpty || (self.pendingInputClosed && !self.inputClosedDelivered) else { return }
        self.unsatisfiedRead = false
        self.deliverReads()
        if self.autoRead, case .active = self.lifecycle { self.pipeline.read() }
    }

    /// Delivers even without a `read()`: the stream is ending and its data must not be lost.
    private func forceDeliverPendingReads() {
        guard case .active = self.lifecycle else { return }
        self.deliverReads()
    }

    private func deliverReads() {
        var consumed = 0
        var delivered = false
        while case .active = self.lifecycle, let data = self.pendingReads.popFirst() {
            consumed += data.readableBytes
            delivered = true
            self.pipeline.fireChannelRead(data)
        }
        if delivered { self.pipeline.fireChannelReadComplete() }
        // Credit only what went down the pipeline: that is the backpressure on the peer.
        if consumed > 0 && self.isLiveOnNetwork { self.multiplexer.consumed(consumed, streamID: self.streamID) }
        if self.pendingInputClosed && !self.inputClosedDelivered && self.pendingReads.isEmpty,
            case .active = self.lifecycle
        {
            self.inputClosedDelivered = true
            if self.allowRemoteHalfClosure {
                self.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            } else if self.isLiveOnNetwork {
                self.close(error: nil, reset: false)
            }
        }
    }

    // MARK: - Writes

    private func deliverPendingWrites() {
        guard case .active = self.lifecycle else { return }
        while self.flushedWriteCount > 0, let write = self.pendingWrites.first {
            switch write {
            case .data(var buffer, let promise):
                let before = buffer.readableBytes
                let action = self.multiplexer.writeData(streamID: self.streamID, &buffer, promise: promise)
                self.pendingWriteBytes -= before - buffer.readableBytes
                switch action {
                case .send:
                    if buffer.readableBytes == 0 {
                        self.pendingWrites.removeFirst()
                        self.flushedWriteCount -= 1
                    } else {
                        self.pendingWrites[self.pendingWrites.startIndex] = .data(buffer, promise)
                    }
                case .blocked:
                    self.pendingWrites[self.pendingWrites.startIndex] = .data(buffer, promise)
                    self.multiplexer.flushIfNeeded()
                    return
                case .failed(let error):
                    self.failPendingWrites(error)
                    return
                }
            case .closeOutput(let promise):
                self.pendingWrites.removeFirst()
                self.flushedWriteCount -= 1
                let streamClosed = self.multiplexer.closeOutput(streamID: self.streamID, promise: promise)
                self.pipeline.fireUserInboundEventTriggered(ChannelEvent.outputClosed)
                if streamClosed {
                    // Our FIN followed the peer's: the stream is over.
                    self.isLiveOnNetwork = false
                    self.close(error: nil, reset: false)
                    return
                }
            }
        }
        self.multiplexer.flushIfNeeded()
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = self.pendingWrites
        self.pendingWrites.removeAll()
        self.flushedWriteCount = 0
        self.pendingWriteBytes = 0
        for write in writes {
            switch write {
            case .data(_, let promise), .closeOutput(let promise):
                promise?.fail(error)
            }
        }
        self.updateWritability()
    }

    private func updateWritability() {
        let writable: Bool
        switch self.lifecycle {
        case .initializing, .active:
            writable =
                self.parentIsWritable
                && self.pendingWriteBytes <= self.multiplexer.sendWindow(streamID: self.streamID)
        case .closed:
            writable = false
        }
        let changed = self.writableBox.withLockedValue { value in
            defer { value = writable }
            return value != writable
        }
        if changed, case .active = self.lifecycle { self.pipeline.fireChannelWritabilityChanged() }
    }

    // MARK: - Closing

    /// Closes the channel. `error` (if any) is fired down the pipeline first; `reset` sends RST instead of FIN;
    /// `refused` says the RST refuses a stream the peer opened and we never accepted.
    private func close(error: (any Error)?, reset: Bool, refused: Bool = false) {
        let wasActive: Bool
        switch self.lifecycle {
        case .closed:
            return
        case .initializing:
            wasActive = false
        case .active:
            wasActive = true
        }
        self.lifecycle = .closed
        let hadUnsentData = self.pendingWriteBytes > 0
        self.failPendingWrites(error ?? ChannelError.ioOnClosedChannel)
        // Unread data is dropped here; the session credits it back when the stream is closed (`closeStream`), so a
        // peer still writing after our FIN gets its window back.
        self.pendingReads.removeAll()
        if self.isLiveOnNetwork {
            self.isLiveOnNetwork = false
            // Data we accepted but could not send would be lost silently behind a FIN: say so with RST.
            self.multiplexer.streamChannelClosed(self.streamID, reset: reset || hadUnsentData, refused: refused)
            self.multiplexer.flushIfNeeded()
        } else {
            self.multiplexer.streamChannelClosed(self.streamID, reset: false)
        }
        if let promise = self.activationPromise {
            self.activationPromise = nil
            promise.fail(error ?? ChannelError.ioOnClosedChannel)
        }
        if let error, wasActive { self.pipeline.fireErrorCaught(error) }
        self.activeBox.withLockedValue { $0 = false }
        self.writableBox.withLockedValue { $0 = false }
        if wasActive { self.pipeline.fireChannelInactive() }
        self.eventLoop.assumeIsolated().execute {
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed(())
        }
    }
}

// All mutable state is confined to the event loop; the boxes serve the two cross-thread getters.
extension YamuxStreamChannel: @unchecked Sendable {}

extension YamuxStreamChannel: Channel, ChannelCore {
    var closeFuture: EventLoopFuture<Void> { self.closePromise.futureResult }
    var pipeline: ChannelPipeline { self._pipeline }
    var localAddress: SocketAddress? { self.parent?.localAddress }
    var remoteAddress: SocketAddress? { self.parent?.remoteAddress }
    var isWritable: Bool { self.writableBox.withLockedValue { $0 } }
    var isActive: Bool { self.activeBox.withLockedValue { $0 } }
    var _channelCore: any ChannelCore { self }

    var syncOptions: (any NIOSynchronousChannelOptions)? { SynchronousOptions(channel: self) }

    private struct SynchronousOptions: NIOSynchronousChannelOptions {
        let channel: YamuxStreamChannel
        func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
            try self.channel.setOption0(option, value: value)
        }
        func getOption<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
            try self.channel.getOption0(option)
        }
    }

    func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        if self.eventLoop.inEventLoop {
            return self.eventLoop.makeCompletedFuture { try self.setOption0(option, value: value) }
        }
        return self.eventLoop.submit { try self.setOption0(option, value: value) }
    }

    func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        if self.eventLoop.inEventLoop {
            return self.eventLoop.makeCompletedFuture { try self.getOption0(option) }
        }
        return self.eventLoop.submit { try self.getOption0(option) }
    }

    private func setOption0<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        self.eventLoop.preconditionInEventLoop()
        switch option {
        case _ as ChannelOptions.Types.AutoReadOption:
            guard let value = value as? Bool else { throw ChannelError.operationUnsupported }
            let wasOff = !self.autoRead
            self.autoRead = value
            if value && wasOff, case .active = self.lifecycle { self.read0() }
        case _ as ChannelOptions.Types.AllowRemoteHalfClosureOption:
            guard let value = value as? Bool else { throw ChannelError.operationUnsupported }
            self.allowRemoteHalfClosure = value
        default:
            throw ChannelError.operationUnsupported
        }
    }

    private func getOption0<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        self.eventLoop.preconditionInEventLoop()
        let value: Any
        switch option {
        case _ as ChannelOptions.Types.AutoReadOption:
            value = self.autoRead
        case _ as ChannelOptions.Types.AllowRemoteHalfClosureOption:
            value = self.allowRemoteHalfClosure
        case _ as YamuxChannelOptions.Types.StreamIDOption:
            value = self.streamID
        default:
            throw ChannelError.operationUnsupported
        }
        guard let typed = value as? Option.Value else { throw ChannelError.operationUnsupported }
        return typed
    }

    func localAddress0() throws -> SocketAddress {
        guard let address = self.parent?.localAddress else { throw ChannelError.operationUnsupported }
        return address
    }

    func remoteAddress0() throws -> SocketAddress {
        guard let address = self.parent?.remoteAddress else { throw ChannelError.operationUnsupported }
        return address
    }

    func register0(promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func bind0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func connect0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.lifecycle {
        case .initializing, .active:
            break
        case .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard !self.outputClosed else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        guard let buffer = self.tryUnwrapData(data, as: ByteBuffer.self) else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        self.pendingWrites.append(.data(buffer, promise))
        self.pendingWriteBytes += buffer.readableBytes
        self.updateWritability()
    }

    func flush0() {
        self.flushedWriteCount = self.pendingWrites.count
        self.deliverPendingWrites()
    }

    func read0() {
        guard !self.unsatisfiedRead else { return }
        self.unsatisfiedRead = true
        if !self.pendingReads.isEmpty || (self.pendingInputClosed && !self.inputClosedDelivered) {
            self.deliverPendingReads()
        } else {
            self.parent?.read()
        }
    }

    func close0(error: any Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            // yamux cannot stop the peer's direction on its own (there is no STOP_SENDING).
            promise?.fail(ChannelError.operationUnsupported)
        case .output:
            guard case .closed = self.lifecycle else {
                guard !self.outputClosed else {
                    promise?.fail(ChannelError.outputClosed)
                    return
                }
                self.outputClosed = true
                self.pendingWrites.append(.closeOutput(promise))
                self.flush0()
                return
            }
            promise?.fail(ChannelError.alreadyClosed)
        case .all:
            guard case .closed = self.lifecycle else {
                self.close(error: nil, reset: false)
                promise?.succeed(())
                return
            }
            promise?.fail(ChannelError.alreadyClosed)
        }
    }

    func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func channelRead0(_ data: NIOAny) {
        // Reads that reach the end of the pipeline are dropped, as in every NIO channel.
    }

    func errorCaught0(error: any Error) {
        // Errors that reach the end of the pipeline are dropped, as in every NIO channel.
    }
}
