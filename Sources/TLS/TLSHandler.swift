import NIOCore
import P2PCore

/// Secures a channel with libp2p TLS: runs the handshake as client (dialer) or server (listener), then
/// encrypts outbound `ByteBuffer`s and decrypts inbound ones, so later handlers see plaintext.
///
/// ```swift
/// let tls = TLSHandler(context: tlsContext, role: .initiator, expectedRemotePeerID: peer,
///                      eventLoop: channel.eventLoop)
/// try channel.pipeline.syncOperations.addHandler(tls)
/// tls.handshakeResult.whenSuccess { result in
///     // result.negotiatedMuxer: start it at once, or nil: multistream-select the muxer.
/// }
/// ```
///
/// Thin glue over ``TLSConnection``: every TLS decision happens there.
///
/// ### Ordering
/// - Bytes that arrive before the handshake finishes, including bytes another handler passes on with
///   `fireChannelRead` after adding this one (multistream-select leftovers), are handshake input.
/// - ``handshakeResult`` succeeds on the event loop *before* any plaintext is passed on, so its
///   callbacks may rearrange the pipeline; application data that came in the same read as the final
///   handshake flight is passed on right after.
/// - Writes before the handshake finishes are held (at most
///   ``TLSConstants/maximumBufferedPlaintextBytes``) and encrypted once it does.
///
/// ### Failure
/// Any error sends the alert OpenSSL produced (if any), fails ``handshakeResult`` (during the
/// handshake) or fires `errorCaught` (after it), and closes this channel only.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        /// Added, but the channel is not active yet.
        case idle
        case handshaking(TLSConnection)
        case established(TLSConnection)
        /// Failed or closed; everything further is dropped.
        case closed
    }

    private let tlsContext: TLSContext
    private let role: ConnectionRole
    private let expectedRemotePeerID: PeerID?
    private let certificate: TLSConnection.CertificateChoice
    private let resultPromise: EventLoopPromise<TLSHandshakeResult>
    private var state: State = .idle

    /// Plaintext written before the handshake finished, with its promises.
    private var heldWrites: CircularBuffer<(ByteBuffer, EventLoopPromise<Void>?)> = CircularBuffer()
    private var heldBytes = 0
    /// Promises of writes encrypted since the last flush.
    private var unflushedPromises: [EventLoopPromise<Void>] = []

    /// The outcome of the handshake. Succeeds before any decrypted byte is passed on; fails with a
    /// ``TLSError`` (or when the channel closes first).
    public var handshakeResult: EventLoopFuture<TLSHandshakeResult> { self.resultPromise.futureResult }

    /// Creates a handler.
    ///
    /// - Parameters:
    ///   - context: The host's shared TLS context.
    ///   - role: `.initiator` (dialer, TLS client) or `.responder` (listener, TLS server).
    ///   - expectedRemotePeerID: The peer the dialer meant to reach, or nil.
    ///   - eventLoop: The channel's event loop, which completes ``handshakeResult``.
    public convenience init(
        context: TLSContext,
        role: ConnectionRole,
        expectedRemotePeerID: PeerID? = nil,
        eventLoop: any EventLoop
    ) {
        self.init(
            context: context,
            role: role,
            expectedRemotePeerID: expectedRemotePeerID,
            certificate: .fromContext,
            eventLoop: eventLoop
        )
    }

    /// Creates a handler presenting a chosen certificate; tests use it to act as misbehaving peers.
    init(
        context: TLSContext,
        role: ConnectionRole,
        expectedRemotePeerID: PeerID?,
        certificate: TLSConnection.CertificateChoice,
        eventLoop: any EventLoop
    ) {
        self.tlsContext = context
        self.role = role
        self.expectedRemotePeerID = expectedRemotePeerID
        self.certificate = certificate
        self.resultPromise = eventLoop.makePromise(of: TLSHandshakeResult.self)
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.start(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.fail(TLSError.connectionClosed("TLS handler removed"), context: context, close: false)
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .handshaking:
            self.fail(TLSError.connectionClosed("connection closed during the TLS handshake"), context: context, close: false)
        case .established:
            self.state = .closed
            self.failHeldWrites(TLSError.connectionClosed("connection closed"))
        case .closed:
            break
        }
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        switch self.state {
        case .idle:
            break
        case .handshaking, .established, .closed:
            return
        }
        let connection: TLSConnection
        do {
            connection = try TLSConnection(
                context: self.tlsContext,
                role: self.role,
                expectedRemotePeerID: self.expectedRemotePeerID,
                certificate: self.certificate,
                now: TLSClock.now(),
                allocator: context.channel.allocator
            )
        } catch {
            self.fail(error, context: context, close: true)
            return
        }
        self.state = .handshaking(connection)
        // The client speaks first (ClientHello); for the server this is a no-op until bytes arrive.
        self.advance(context: context)
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        switch self.state {
        case .handshaking(let connection), .established(let connection):
            connection.receivedBytes(bytes)
            self.advance(context: context)
        case .idle:
            // Bytes before the channel is active cannot happen in NIO; hold them for the handshake
            // by starting it now.
            self.start(context: context)
            if case .handshaking(let connection) = self.state {
                connection.receivedBytes(bytes)
                self.advance(context: context)
            }
        case .closed:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if case .handshaking = self.state {
            // Keep reading until the handshake is done even when auto-read is off.
            context.read()
        }
        context.fireChannelReadComplete()
    }

    /// Moves the handshake on and passes decrypted data on, as far as the received bytes allow.
    private func advance(context: ChannelHandlerContext) {
        if case .handshaking(let connection) = self.state {
            let progress: TLSHandshakeProgress
            do {
                progress = try connection.advanceHandshake(now: TLSClock.now())
            } catch {
                self.fail(error, context: context, close: true)
                return
            }
            switch progress {
            case .inProgress:
                self.writeOut(connection, context: context, flush: true)
                return
            case .completed(let result):
                self.state = .established(connection)
                // Handshake bytes first (the client's Finished), then whatever the result's callbacks
                // and the held writes produce.
                self.writeOut(connection, context: context, flush: false)
                self.resultPromise.succeed(result)
                // The callbacks may have closed the channel or removed this handler.
                guard case .established = self.state else { return }
                self.releaseHeldWrites(connection, context: context)
                guard case .established = self.state else { return }
                self.writeOut(connection, context: context, flush: true)
            }
        }
        guard case .established(let connection) = self.state else { return }
        self.decryptAndForward(connection, context: context)
    }

    private func decryptAndForward(_ connection: TLSConnection, context: ChannelHandlerContext) {
        guard connection.unprocessedReceivedBytes > 0 else { return }
        var plaintext = context.channel.allocator.buffer(
            capacity: min(connection.unprocessedReceivedBytes, TLSConstants.maximumRecordPlaintextBytes)
        )
        while true {
            let result: TLSReadResult
            do {
                result = try connection.decrypt(into: &plaintext)
            } catch {
                if plaintext.readableBytes > 0 { context.fireChannelRead(Self.wrapInboundOut(plaintext)) }
                self.fail(error, context: context, close: true)
                return
            }
            switch result {
            case .bytesRead:
                continue
            case .needMoreBytes:
                if plaintext.readableBytes > 0 { context.fireChannelRead(Self.wrapInboundOut(plaintext)) }
                // Post-handshake messages (KeyUpdate) may have produced a reply.
                if connection.hasBytesToSend { self.writeOut(connection, context: context, flush: true) }
                return
            case .closedByPeer:
                if plaintext.readableBytes > 0 { context.fireChannelRead(Self.wrapInboundOut(plaintext)) }
                connection.close()
                self.writeOut(connection, context: context, flush: true)
                self.state = .closed
                context.close(promise: nil)
                return
            }
        }
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var plaintext = Self.unwrapOutboundIn(data)
        switch self.state {
        case .idle, .handshaking:
            guard self.heldBytes + plaintext.readableBytes <= TLSConstants.maximumBufferedPlaintextBytes else {
                promise?.fail(TLSError.tooMuchBufferedData(self.heldBytes + plaintext.readableBytes))
                return
            }
            self.heldBytes += plaintext.readableBytes
            self.heldWrites.append((plaintext, promise))
        case .established(let connection):
            do {
                try connection.encrypt(&plaintext)
            } catch {
                promise?.fail(error)
                self.fail(error, context: context, close: true)
                return
            }
            if let promise { self.unflushedPromises.append(promise) }
        case .closed:
            promise?.fail(TLSError.invalidState("write on a closed TLS connection"))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .handshaking:
            // Held writes are flushed when the handshake finishes.
            break
        case .established(let connection):
            self.writeOut(connection, context: context, flush: true)
        case .closed:
            break
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (self.state, mode) {
        case (.established(let connection), .all), (.established(let connection), .output):
            // close_notify first, so the peer sees an orderly end (RFC 8446 §6.1).
            connection.close()
            self.writeOut(connection, context: context, flush: true)
            self.state = .closed
        case (.idle, _), (.handshaking, _), (.established, _), (.closed, _):
            break
        }
        context.close(mode: mode, promise: promise)
    }

    /// Encrypts the writes held during the handshake.
    private func releaseHeldWrites(_ connection: TLSConnection, context: ChannelHandlerContext) {
        while let (held, promise) = self.heldWrites.popFirst() {
            var plaintext = held
            self.heldBytes -= plaintext.readableBytes
            do {
                try connection.encrypt(&plaintext)
            } catch {
                promise?.fail(error)
                self.fail(error, context: context, close: true)
                return
            }
            if let promise { self.unflushedPromises.append(promise) }
        }
    }

    /// Writes the bytes TLS produced to the next handler, completing the promises of the writes they
    /// carry when that write completes.
    private func writeOut(_ connection: TLSConnection, context: ChannelHandlerContext, flush: Bool) {
        if connection.hasBytesToSend {
            var bytes = context.channel.allocator.buffer(capacity: 0)
            connection.drainBytesToSend(into: &bytes)
            let promise: EventLoopPromise<Void>?
            switch self.unflushedPromises.count {
            case 0:
                promise = nil
            case 1:
                promise = self.unflushedPromises[0]
            default:
                let combined = context.eventLoop.makePromise(of: Void.self)
                let promises = self.unflushedPromises
                combined.futureResult.whenComplete { result in
                    for promise in promises { promise.completeWith(result) }
                }
                promise = combined
            }
            self.unflushedPromises.removeAll(keepingCapacity: true)
            context.write(Self.wrapOutboundOut(bytes), promise: promise)
        }
        if flush { context.flush() }
    }

    // MARK: - Failure

    /// Sends any alert, fails the handshake or reports the error, and closes this channel.
    private func fail(_ error: any Error, context: ChannelHandlerContext, close: Bool) {
        let connection: TLSConnection?
        let wasHandshaking: Bool
        switch self.state {
        case .idle:
            connection = nil
            wasHandshaking = true
        case .handshaking(let current):
            connection = current
            wasHandshaking = true
        case .established(let current):
            connection = current
            wasHandshaking = false
        case .closed:
            return
        }
        self.state = .closed
        if close, let connection, connection.hasBytesToSend {
            // The alert OpenSSL queued (bad_certificate, no_application_protocol, ...).
            self.writeOut(connection, context: context, flush: true)
        }
        self.failHeldWrites(error)
        for promise in self.unflushedPromises { promise.fail(error) }
        self.unflushedPromises.removeAll()
        if wasHandshaking {
            self.resultPromise.fail(error)
        } else if close {
            context.fireErrorCaught(error)
        }
        if close { context.close(promise: nil) }
    }

    private func failHeldWrites(_ error: any Error) {
        while let (_, promise) = self.heldWrites.popFirst() { promise?.fail(error) }
        self.heldBytes = 0
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
