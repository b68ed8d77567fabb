import NIOCore
import P2PCore

/// The yamux session as a pure state machine: frames from the peer and commands from the application go in; frames
/// to send and events come out. It holds no channel and reads no clock (every method that needs the time takes
/// `now`).
///
/// ``YamuxMultiplexer`` drives it on a NIO channel; tests drive two of them back to back.
///
/// ### What it checks on every frame from the peer
/// These are protocol violations: the session answers with Go Away (protocol error, code 1) and ends.
/// - version ≠ 0, type > 3 (refused by the header decoder: ``YamuxError/Code/invalidVersion``,
///   ``YamuxError/Code/unknownFrameType``);
/// - ``YamuxError/Code/invalidFlags``: a flag bit the spec does not define; SYN and ACK together; a Ping that is not
///   exactly one of SYN (request) or ACK (response); a Go Away with any flag;
/// - ``YamuxError/Code/invalidStreamID``: Data or Window Update for stream 0;
/// - ``YamuxError/Code/streamIDParity``: a SYN for an ID of our parity (spec "StreamID": client odd, server even);
/// - ``YamuxError/Code/streamIDReused``: a SYN for an ID not above every ID the peer opened before, including a
///   duplicate SYN for a live stream (spec "StreamID": IDs are never reused);
/// - ``YamuxError/Code/unknownStream``: a frame without SYN for an ID never opened, that is above every ID opened
///   so far in its parity;
/// - ``YamuxError/Code/streamClosed``: data on a live stream after the peer's own FIN on it;
/// - ``YamuxError/Code/receiveWindowExceeded``: more data than the window allows (spec "Flow Control");
/// - ``YamuxError/Code/windowOverflow``: a Window Update growing the send window beyond 2^32 − 1;
/// - ``YamuxError/Code/refusalBacklogExceeded``: more streams to refuse than the peer may have waiting for our answer
///   while it does not read (see ``connectionWritabilityChanged(isWritable:)``).
///
/// ### Frames for streams that are gone: a race, not a violation
/// docs/wire.md §7.3 (the spec's "Stream Close"): "Frames for unknown or already-closed streams are ignored and any
/// data they carry is drained. This is not a protocol error, because of races." The rule, exactly:
/// - A frame without SYN for an ID that was opened before (at or below the highest ID of its parity) but is no
///   longer live — closed by both FINs, reset by either side, or refused by us — is dropped without effect. The
///   peer may have sent it before it learnt of the close. IDs are never reused, so "opened before" needs no
///   per-stream memory. (Once a stream is gone we cannot tell late data from a window update in flight, so both are
///   dropped, even data the peer sent after its own FIN.)
/// - Data on a *live* stream after the peer's own FIN is a violation (``YamuxError/Code/streamClosed``): the peer
///   knew it had closed, so no race explains it.
/// - A frame without SYN for an ID nobody opened yet is a violation (``YamuxError/Code/unknownStream``).
/// - A stream the application closed stays live until the peer's FIN or RST: its data is drained and credited.
///
/// ### Session frames and stream IDs
/// Ping and Go Away belong to the session and use stream 0 (docs/wire.md §7.2, §7.5); ours always do. From the peer:
/// - a Ping request naming stream 0 or a live stream is answered, on stream 0, as rust-yamux does (`on_ping`); one
///   naming a stream that is not live is ignored, also as rust does (the stream may have just closed); go ignores
///   the ID and answers every request on stream 0;
/// - a Ping response is matched by its opaque value alone, whatever stream it names;
/// - a Go Away ends the session whatever stream it names, as in go and rust, which both end it on any Go Away.
///   Refusing it as a violation would end the session just the same.
///
/// ### Other behaviour
/// - Opening a stream sends `WindowUpdate|SYN` at once (as go does); accepting sends `WindowUpdate|ACK`. Peers may
///   instead open with `Data|SYN` (rust), close with `Data|FIN` or `WindowUpdate|FIN`, reset with either type, and
///   grow windows on SYN/ACK: all are handled the same (docs/wire.md §8 item 13).
/// - Go Away from the peer ends the session at once, whatever its code (the libp2p forks; docs/wire.md §8 item 14).
/// - Inbound streams beyond ``YamuxConfiguration/maximumConcurrentStreams``, beyond the backlog of streams not yet
///   accepted, or after we sent Go Away are refused with RST.
/// - While the connection is not writable, ping requests are not answered and refusals are bounded
///   (``connectionWritabilityChanged(isWritable:)``): a peer that does not read cannot grow our outbound buffer.
public struct YamuxSessionStateMachine {
    private enum State {
        case active
        case goAwaySent(YamuxGoAwayCode)
        case goAwayReceived(YamuxGoAwayCode)
        case failed(YamuxError)
    }

    private var state: State
    private let role: ConnectionRole
    private let configuration: YamuxConfiguration
    private var streams: [UInt32: YamuxStreamStateMachine]
    /// The next ID we open: odd for the initiator, even for the responder (spec "StreamID").
    private var nextLocalStreamID: UInt64
    /// The highest ID the peer opened so far (0: none).
    private var highestRemoteStreamID: UInt32
    /// Streams we opened that the peer has not acknowledged (the ACK backlog).
    private var awaitingAcknowledgementCount: Int
    /// Streams the peer opened that we have not accepted yet.
    private var awaitingAcceptCount: Int
    /// The sum of every live stream's receive window: bounded by the configuration's session budget.
    private var totalReceiveWindow: Int
    /// The largest receive window any stream of this session has had. A frame for a stream that is gone was sent
    /// within that stream's window, so it cannot be longer; this bounds what such a frame may make us buffer.
    private var largestReceiveWindow: UInt32
    /// Our outstanding ping: its opaque value and when it was sent.
    private var outstandingPing: (opaque: UInt32, sentAt: NIODeadline)?
    private var lastPingOpaque: UInt32
    /// Whether the connection takes more frames now, as the driver last reported.
    private var connectionIsWritable: Bool
    /// RSTs refusing the peer's streams produced since the connection was last writable.
    private var refusalsWhileNotWritable: Int

    /// The latest round-trip time measured with our own ping.
    public private(set) var roundTripTime: TimeAmount?

    /// A session for this side of the connection.
    ///
    /// - Parameters:
    ///   - role: `.initiator` (the dialer: yamux client, odd stream IDs) or `.responder` (even IDs).
    ///   - configuration: Windows and limits.
    public init(role: ConnectionRole, configuration: YamuxConfiguration = YamuxConfiguration()) {
        self.state = .active
        self.role = role
        self.configuration = configuration
        self.streams = [:]
        self.nextLocalStreamID = role == .initiator ? 1 : 2
        self.highestRemoteStreamID = 0
        self.awaitingAcknowledgementCount = 0
        self.awaitingAcceptCount = 0
        self.totalReceiveWindow = 0
        self.largestReceiveWindow = configuration.initialStreamWindow
        self.outstandingPing = nil
        self.lastPingOpaque = 0
        self.connectionIsWritable = true
        self.refusalsWhileNotWritable = 0
        self.roundTripTime = nil
    }

    /// The number of live streams (including ones we closed while the peer still sends).
    public var streamCount: Int { self.streams.count }

    /// Whether the session still accepts new streams and data.
    public var isActive: Bool {
        switch self.state {
        case .active: return true
        case .goAwaySent, .goAwayReceived, .failed: return false
        }
    }

    /// How many more bytes we may send on `streamID` now (0 for an unknown stream).
    public func sendWindow(streamID: UInt32) -> Int {
        self.streams[streamID].map { Int($0.sendWindow) } ?? 0
    }

    /// The current receive window size of `streamID` (0 for an unknown stream); auto-tuning grows it.
    public func receiveWindowLimit(streamID: UInt32) -> Int {
        self.streams[streamID].map { Int($0.receiveWindowLimit) } ?? 0
    }

    private func isLocal(_ streamID: UInt32) -> Bool {
        (streamID & 1 == 1) == (self.role == .initiator)
    }

    // MARK: - Frames from the peer

    /// What one frame from the peer did to one stream. Several fields can be set at once (for example `Data|SYN|FIN`
    /// opens a stream, carries data and closes its input).
    public struct StreamEvent: Sendable {
        /// The stream.
        public var streamID: UInt32
        /// The peer opened this stream (SYN): create it, then call ``acceptStream(_:)`` (or ``resetStream(_:)``).
        public var opened = false
        /// The peer acknowledged a stream we opened: the ACK backlog has room for one more.
        public var acknowledged = false
        /// Data for the application, a slice of the frame. Report it with ``consumed(_:streamID:now:)`` once read.
        public var payload: ByteBuffer? = nil
        /// Our send window grew: data waiting for window may go now.
        public var sendWindowIncreased = false
        /// The peer half-closed (FIN): after the payload, the application's input ends.
        public var inputClosed = false
        /// The peer reset the stream (RST): it is gone.
        public var reset = false
        /// Both directions are closed: the stream is gone.
        public var closed = false
        /// A frame to send in answer (credit for data drained from a stream the application let go of).
        public var reply: YamuxFrameHeader? = nil

        init(streamID: UInt32) { self.streamID = streamID }
    }

    /// The outcome of ``receivedFrame(_:now:)``, ``receivedUndecodableBytes(_:)`` and ``refuseStream(_:)``.
    public enum ReceivedFrameAction: Sendable {
        /// Nothing to do (a frame for a stream that is gone, a stray ping response, or the session already ended).
        case none
        /// The frame was about a stream.
        case stream(StreamEvent)
        /// The peer opened a stream we cannot take: send this RST. Any data it carried is dropped.
        case refuseStream(YamuxFrameHeader)
        /// Send this ping response.
        case sendPingResponse(YamuxFrameHeader)
        /// Our ping came back; ``roundTripTime`` is updated.
        case roundTripTimeMeasured(TimeAmount)
        /// The peer sent Go Away: the session has ended; close every stream and the connection.
        case goAwayReceived(YamuxGoAwayCode)
        /// The peer broke the protocol: send this Go Away, close the connection, report the error.
        case protocolViolation(YamuxError, goAway: YamuxFrameHeader)
    }

    /// Processes one frame from the peer.
    ///
    /// - Parameters:
    ///   - frame: The frame, as ``YamuxFrameDecoder`` produced it.
    ///   - now: The current time (round-trip measurement, auto-tuning).
    public mutating func receivedFrame(_ frame: YamuxFrame, now: NIODeadline) -> ReceivedFrameAction {
        switch self.state {
        case .active, .goAwaySent:
            break
        case .goAwayReceived, .failed:
            return .none
        }
        do throws(YamuxError) {
            let header = frame.header
            try Self.validateFlags(header)
            switch header.type {
            case .ping:
                return self.receivedPing(header, now: now)
            case .goAway:
                // Whatever stream it names (see "Session frames and stream IDs" above).
                let code = YamuxGoAwayCode(rawValue: header.length)
                self.state = .goAwayReceived(code)
                self.removeAllStreams()
                return .goAwayReceived(code)
            case .data, .windowUpdate:
                guard header.streamID != 0 else { throw YamuxError.invalidStreamID(header) }
                return try self.receivedStreamFrame(header, payload: frame.payload, now: now)
            }
        } catch {
            return self.fail(error)
        }
    }

    /// Checks the header of a Data frame whose body has not fully arrived, so that a body longer than the receive
    /// window is refused before any of it is buffered (go-yamux likewise compares the length with the window as soon as
    /// it has read the header, and rust-yamux before it reads the body). The frame itself still goes through
    /// ``receivedFrame(_:now:)`` once whole; this changes nothing unless it ends the session.
    ///
    /// The length may be at most:
    /// - on a live stream, its remaining receive window (else ``YamuxError/Code/receiveWindowExceeded``, or
    ///   ``YamuxError/Code/streamClosed`` after the peer's FIN, exactly as for the whole frame);
    /// - on a stream the frame opens (SYN), the 256 KiB every stream starts with (spec "Flow Control");
    /// - on a stream that is gone, the largest window any stream of this session has had: the peer sent the frame
    ///   within that stream's window (go drains such bodies without buffering them; we buffer at most this much);
    /// - for a stream nobody opened, nothing: ``YamuxError/Code/unknownStream``, as for the whole frame.
    ///
    /// - Returns: ``ReceivedFrameAction/none``, or ``ReceivedFrameAction/protocolViolation(_:goAway:)`` when the
    ///   session has failed.
    public mutating func receivedDataHeader(_ header: YamuxFrameHeader) -> ReceivedFrameAction {
        switch self.state {
        case .active, .goAwaySent:
            break
        case .goAwayReceived, .failed:
            return .none
        }
        guard header.type == .data, header.length > 0, header.streamID != 0 else { return .none }
        let streamID = header.streamID
        do throws(YamuxError) {
            if let stream = self.streams[streamID] {
                try stream.checkDataHeader(header)
                return .none
            }
            let limit: UInt32
            if header.flags.contains(.syn), !self.isLocal(streamID), streamID > self.highestRemoteStreamID {
                limit = YamuxConstants.initialStreamWindow
            } else {
                let openedBefore =
                    self.isLocal(streamID)
                    ? UInt64(streamID) < self.nextLocalStreamID : streamID <= self.highestRemoteStreamID
                // A SYN reusing an ID, or a SYN of our parity, fails once whole; only its length matters here.
                guard openedBefore || header.flags.contains(.syn) else { throw YamuxError.unknownStream(header) }
                limit = self.largestReceiveWindow
            }
            guard header.length <= limit else {
                throw YamuxError.receiveWindowExceeded(streamID: streamID, length: header.length, window: limit)
            }
            return .none
        } catch {
            return self.fail(error)
        }
    }

    /// Reports a framing error found before the state machine saw a frame (from ``YamuxFrameDecoder``): the session
    /// fails as for any protocol violation.
    public mutating func receivedUndecodableBytes(_ error: YamuxError) -> ReceivedFrameAction {
        switch self.state {
        case .active, .goAwaySent:
            return self.fail(error)
        case .goAwayReceived, .failed:
            return .none
        }
    }

    private mutating func fail(_ error: YamuxError) -> ReceivedFrameAction {
        self.state = .failed(error)
        self.removeAllStreams()
        return .protocolViolation(error, goAway: .goAway(.protocolError))
    }

    private static func validateFlags(_ header: YamuxFrameHeader) throws(YamuxError) {
        let flags = header.flags
        guard flags.isSubset(of: .defined) else { throw YamuxError.invalidFlags(header, "undefined flag bits") }
        switch header.type {
        case .data, .windowUpdate:
            guard !flags.isSuperset(of: [.syn, .ack]) else {
                throw YamuxError.invalidFlags(header, "SYN and ACK together")
            }
        case .ping:
            guard flags == .syn || flags == .ack else {
                throw YamuxError.invalidFlags(header, "a ping is exactly SYN (request) or ACK (response)")
            }
        case .goAway:
            guard flags.isEmpty else { throw YamuxError.invalidFlags(header, "Go Away carries no flags") }
        }
    }

    private mutating func receivedPing(_ header: YamuxFrameHeader, now: NIODeadline) -> ReceivedFrameAction {
        if header.flags.contains(.syn) {
            // Stream IDs of session frames: see the type's documentation.
            guard header.streamID == 0 || self.streams[header.streamID] != nil else { return .none }
            // A peer that does not read would otherwise make every ping grow our outbound buffer; go likewise drops
            // replies beyond its `PingBacklog`.
            guard self.connectionIsWritable else { return .none }
            return .sendPingResponse(.ping(opaque: header.length, ack: true))
        }
        guard let outstanding = self.outstandingPing, outstanding.opaque == header.length else { return .none }
        self.outstandingPing = nil
        let roundTripTime = now - outstanding.sentAt
        self.roundTripTime = roundTripTime
        return .roundTripTimeMeasured(roundTripTime)
    }

    private mutating func receivedStreamFrame(
        _ header: YamuxFrameHeader,
        payload: ByteBuffer,
        now: NIODeadline
    ) throws(YamuxError) -> ReceivedFrameAction {
        let streamID = header.streamID
        var event = StreamEvent(streamID: streamID)

        if header.flags.contains(.syn) {
            guard !self.isLocal(streamID) else { throw YamuxError.streamIDParity(streamID) }
            guard streamID > self.highestRemoteStreamID else {
                throw YamuxError.streamIDReused(streamID, highest: self.highestRemoteStreamID)
            }
            self.highestRemoteStreamID = streamID
            guard self.canAcceptInboundStream else {
                // Refusing is not an error: the peer learns it from the RST. Any data is dropped with the stream.
                return .refuseStream(try self.refusal(streamID))
            }
            self.streams[streamID] = .inbound(streamID: streamID, now: now)
            self.awaitingAcceptCount += 1
            self.totalReceiveWindow += Int(YamuxConstants.initialStreamWindow)
            event.opened = true
        }

        guard let index = self.streams.index(forKey: streamID) else {
            let openedBefore =
                self.isLocal(streamID)
                ? UInt64(streamID) < self.nextLocalStreamID : streamID <= self.highestRemoteStreamID
            guard openedBefore else { throw YamuxError.unknownStream(header) }
            return .none
        }

        if self.streams.values[index].receivedFrameFromPeer() {
            self.awaitingAcknowledgementCount -= 1
            event.acknowledged = true
        }

        if header.flags.contains(.rst) {
            self.removeStream(at: index)
            event.reset = true
            return .stream(event)
        }

        switch header.type {
        case .windowUpdate:
            if header.length > 0 {
                try self.streams.values[index].receivedWindowUpdate(delta: header.length)
                event.sendWindowIncreased = true
            }
        case .data:
            try self.streams.values[index].receivedData(header)
            if header.length > 0 {
                if self.streams.values[index].detached {
                    event.reply = self.credit(Int(header.length), at: index, now: now)
                } else {
                    event.payload = payload
                }
            }
        case .ping, .goAway:
            preconditionFailure("session frame \(header) routed to a stream")
        }

        if header.flags.contains(.fin) {
            switch self.streams.values[index].receivedFIN() {
            case .inputClosed:
                event.inputClosed = true
            case .closed:
                event.inputClosed = true
                event.closed = true
                self.removeStream(at: index)
            case .duplicate:
                break
            }
        }
        return .stream(event)
    }

    /// The RST refusing `streamID`, counted while the connection is not writable.
    ///
    /// - Throws: ``YamuxError/Code/refusalBacklogExceeded`` beyond ``YamuxConstants/maximumRefusalsWhileNotWritable``.
    private mutating func refusal(_ streamID: UInt32) throws(YamuxError) -> YamuxFrameHeader {
        if !self.connectionIsWritable {
            guard self.refusalsWhileNotWritable < YamuxConstants.maximumRefusalsWhileNotWritable else {
                throw YamuxError.refusalBacklogExceeded(YamuxConstants.maximumRefusalsWhileNotWritable)
            }
            self.refusalsWhileNotWritable += 1
        }
        return .windowUpdate(streamID: streamID, flags: .rst, delta: 0)
    }

    private var canAcceptInboundStream: Bool {
        switch self.state {
        case .active:
            return self.streams.count < self.configuration.maximumConcurrentStreams
                && self.awaitingAcceptCount < self.configuration.maximumAckBacklog
        case .goAwaySent, .goAwayReceived, .failed:
            return false
        }
    }

    // MARK: - Commands from the application

    /// The outcome of ``openStream(now:)``.
    public enum OpenStreamAction: Sendable {
        /// The stream exists: send `synFrame` (`WindowUpdate|SYN`, announcing any window above 256 KiB).
        case opened(streamID: UInt32, synFrame: YamuxFrameHeader)
        /// The stream cannot be opened now or ever; ``YamuxError/Code/ackBacklogFull`` clears as ACKs arrive.
        case failed(YamuxError)
    }

    /// Opens a stream with the next ID of our parity.
    public mutating func openStream(now: NIODeadline) -> OpenStreamAction {
        if let error = self.openStreamError { return .failed(error) }
        let streamID = UInt32(self.nextLocalStreamID)
        self.nextLocalStreamID += 2
        let window = self.configuration.initialStreamWindow
        self.streams[streamID] = .outbound(streamID: streamID, window: window, now: now)
        self.awaitingAcknowledgementCount += 1
        self.totalReceiveWindow += Int(window)
        let delta = window - YamuxConstants.initialStreamWindow
        return .opened(streamID: streamID, synFrame: .windowUpdate(streamID: streamID, flags: .syn, delta: delta))
    }

    /// Why ``openStream(now:)`` would fail now, or `nil` if it would succeed.
    public var openStreamError: YamuxError? {
        switch self.state {
        case .active:
            break
        case .goAwaySent:
            return YamuxError.sessionClosed("we sent Go Away")
        case .goAwayReceived(let code):
            return YamuxError.remoteGoAway(code)
        case .failed(let error):
            return YamuxError.sessionClosed("the session failed: \(error)")
        }
        guard self.nextLocalStreamID <= UInt64(YamuxConstants.maximumStreamID) else {
            return YamuxError.streamIDsExhausted()
        }
        guard self.streams.count < self.configuration.maximumConcurrentStreams else {
            return YamuxError.streamLimitReached(self.configuration.maximumConcurrentStreams)
        }
        guard self.awaitingAcknowledgementCount < self.configuration.maximumAckBacklog else {
            return YamuxError.ackBacklogFull(self.configuration.maximumAckBacklog)
        }
        return nil
    }

    /// The outcome of commands that may need one frame sent.
    public enum SendFrameAction: Sendable, Hashable {
        /// Nothing to send.
        case none
        /// Send this frame. `streamClosed` says the stream is now gone (both directions closed or reset).
        case send(YamuxFrameHeader, streamClosed: Bool)
    }

    /// Accepts a stream the peer opened: sends `WindowUpdate|ACK`, announcing any window above 256 KiB.
    ///
    /// Call it before sending anything else on the stream: an ACK that rides on a Data or FIN frame cannot carry
    /// credit, so the stream then keeps the 256 KiB window.
    public mutating func acceptStream(_ streamID: UInt32) -> SendFrameAction {
        guard let index = self.streams.index(forKey: streamID) else { return .none }
        let flags = self.takeAcknowledgementFlags(at: index)
        guard !flags.isEmpty else { return .none }
        let delta = self.streams.values[index].grantWindow(self.configuration.initialStreamWindow)
        self.totalReceiveWindow += Int(delta)
        return .send(.windowUpdate(streamID: streamID, flags: flags, delta: delta), streamClosed: false)
    }

    /// The outcome of ``sendData(streamID:from:closeOutput:)``.
    public enum SendDataAction: Sendable {
        /// Send this Data frame with this body (a slice taken from the front of the input).
        /// `streamClosed` says the stream is now gone (FIN sent after the peer's).
        case send(YamuxFrameHeader, payload: ByteBuffer, streamClosed: Bool)
        /// The send window is empty: wait for ``StreamEvent/sendWindowIncreased``.
        case blocked
        /// The stream can no longer send: it is gone, or its output is closed.
        case failed(YamuxError)
    }

    /// Takes as much of `buffer` as the peer's window and the frame-size limit allow, as one Data frame.
    ///
    /// Call it again while `buffer` has bytes left and it does not return ``SendDataAction/blocked``.
    ///
    /// - Parameters:
    ///   - streamID: The stream.
    ///   - buffer: The data; the frame's body is sliced off its front.
    ///   - closeOutput: Set FIN on the frame that takes the last byte (or on an empty frame if `buffer` is empty).
    public mutating func sendData(
        streamID: UInt32,
        from buffer: inout ByteBuffer,
        closeOutput: Bool = false
    )
        -> SendDataAction
    {
        if let error = self.sessionEndedError { return .failed(error) }
        guard let index = self.streams.index(forKey: streamID), self.streams.values[index].canSend,
            !self.streams.values[index].detached
        else {
            return .failed(YamuxError.sessionClosed("stream \(streamID) cannot send: it is closed or reset"))
        }
        let window = self.streams.values[index].sendWindow
        let count = min(buffer.readableBytes, Int(clamping: window), self.configuration.maximumSendFrameBodyLength)
        guard count > 0 || buffer.readableBytes == 0 else { return .blocked }
        // `readSlice` cannot fail: `count` is at most the readable bytes.
        let payload = buffer.readSlice(length: count) ?? ByteBuffer()
        self.streams.values[index].sentData(count)
        var flags = self.takeAcknowledgementFlags(at: index)
        var closed = false
        if closeOutput && buffer.readableBytes == 0 {
            flags.insert(.fin)
            closed = self.streams.values[index].sentFIN()
            if closed { self.removeStream(at: index) }
        }
        let header = YamuxFrameHeader.data(streamID: streamID, flags: flags, length: UInt32(count))
        return .send(header, payload: payload, streamClosed: closed)
    }

    /// Half-closes our direction with `WindowUpdate|FIN` (go's form).
    public mutating func closeOutput(streamID: UInt32) -> SendFrameAction {
        guard let index = self.streams.index(forKey: streamID), self.streams.values[index].canSend else { return .none }
        return self.sendFIN(streamID, at: index, credit: 0)
    }

    /// `WindowUpdate|FIN` carrying `credit` (and ACK if still owed); forgets the stream if that closes it.
    private mutating func sendFIN(
        _ streamID: UInt32,
        at index: Dictionary<UInt32, YamuxStreamStateMachine>.Index,
        credit: UInt32
    ) -> SendFrameAction {
        let flags = self.takeAcknowledgementFlags(at: index).union(.fin)
        let closed = self.streams.values[index].sentFIN()
        if closed { self.removeStream(at: index) }
        return .send(.windowUpdate(streamID: streamID, flags: flags, delta: credit), streamClosed: closed)
    }

    /// The application is done with the stream: FIN if not sent yet. If the peer has not sent FIN yet the stream
    /// stays until it does (or resets), and whatever it still sends is drained and credited, so the peer's writer is
    /// never stuck; it counts against the stream cap until then.
    ///
    /// Data the application was given but did not report consumed is dropped with it and credited as if consumed:
    /// the peer's send window still has those bytes debited, and without their credit a peer that keeps writing
    /// after our FIN could wait forever for a Window Update. When a Window Update is due it rides on the FIN as its
    /// delta (`WindowUpdate|FIN`, which go and rust both apply), or goes alone if our FIN was sent before.
    public mutating func closeStream(streamID: UInt32) -> SendFrameAction {
        guard let index = self.streams.index(forKey: streamID) else { return .none }
        let credit = self.streams.values[index].detach() ?? 0
        if self.streams.values[index].canSend {
            return self.sendFIN(streamID, at: index, credit: credit)
        }
        let flags = self.takeAcknowledgementFlags(at: index)
        guard credit > 0 || !flags.isEmpty else { return .none }
        return .send(.windowUpdate(streamID: streamID, flags: flags, delta: credit), streamClosed: false)
    }

    /// Resets the stream (`WindowUpdate|RST`): both directions end at once and the stream is gone. To refuse a stream
    /// the peer opened, use ``refuseStream(_:)``.
    public mutating func resetStream(_ streamID: UInt32) -> SendFrameAction {
        guard let index = self.streams.index(forKey: streamID) else { return .none }
        self.removeStream(at: index)
        return .send(.windowUpdate(streamID: streamID, flags: .rst, delta: 0), streamClosed: true)
    }

    /// Refuses a stream the peer opened that the application will not take (it has no handler for inbound streams, or
    /// setting one up failed): RST, and the stream is gone. The RST counts against the same bound as the session's
    /// own refusals (``connectionWritabilityChanged(isWritable:)``); beyond it the session fails instead.
    ///
    /// - Returns: ``ReceivedFrameAction/refuseStream(_:)`` with the RST to send,
    ///   ``ReceivedFrameAction/protocolViolation(_:goAway:)`` beyond the bound, or ``ReceivedFrameAction/none`` for a
    ///   stream that is gone. A stream that was accepted already is reset without counting.
    public mutating func refuseStream(_ streamID: UInt32) -> ReceivedFrameAction {
        guard let index = self.streams.index(forKey: streamID) else { return .none }
        switch self.streams.values[index].acknowledgement {
        case .owedToPeer:
            do throws(YamuxError) {
                let reset = try self.refusal(streamID)
                self.removeStream(at: index)
                return .refuseStream(reset)
            } catch {
                return self.fail(error)
            }
        case .awaitingPeer, .acknowledged:
            self.removeStream(at: index)
            return .refuseStream(.windowUpdate(streamID: streamID, flags: .rst, delta: 0))
        }
    }

    /// The application consumed `count` bytes of `streamID`'s data: once half the window is consumed, returns the
    /// Window Update crediting it back (grown by auto-tuning when the window is the bottleneck, except on a stream
    /// the application closed).
    public mutating func consumed(_ count: Int, streamID: UInt32, now: NIODeadline) -> SendFrameAction {
        guard self.isActive, let index = self.streams.index(forKey: streamID) else { return .none }
        guard let header = self.credit(count, at: index, now: now) else { return .none }
        return .send(header, streamClosed: false)
    }

    private mutating func credit(
        _ count: Int,
        at index: Dictionary<UInt32, YamuxStreamStateMachine>.Index,
        now: NIODeadline
    )
        -> YamuxFrameHeader?
    {
        let tuning: YamuxStreamStateMachine.AutoTuning? =
            self.configuration.receiveWindowAutoTuning
            ? .init(
                roundTripTime: self.roundTripTime,
                maximumWindow: self.configuration.effectiveMaximumStreamWindow,
                sessionRoom: self.configuration.maximumSessionReceiveWindow - self.totalReceiveWindow
            ) : nil
        guard let (credit, growth) = self.streams.values[index].consumed(count, now: now, tuning: tuning) else {
            return nil
        }
        self.totalReceiveWindow += Int(growth)
        self.largestReceiveWindow = max(self.largestReceiveWindow, self.streams.values[index].receiveWindowLimit)
        let streamID = self.streams.values[index].streamID
        let flags = self.takeAcknowledgementFlags(at: index)
        return .windowUpdate(streamID: streamID, flags: flags, delta: credit)
    }

    /// The outcome of ``sendPing(now:)`` and ``goAway(_:)``.
    public enum SessionFrameAction: Sendable, Hashable {
        /// Nothing to send: the session has ended.
        case none
        /// Send this frame.
        case send(YamuxFrameHeader)
    }

    /// Starts a round-trip measurement: a ping request with a fresh opaque value. A response to an older ping is then
    /// ignored.
    public mutating func sendPing(now: NIODeadline) -> SessionFrameAction {
        guard self.isActive else { return .none }
        self.lastPingOpaque &+= 1
        self.outstandingPing = (self.lastPingOpaque, now)
        return .send(.ping(opaque: self.lastPingOpaque, ack: false))
    }

    // MARK: - The connection

    /// Reports whether the connection takes more frames now (NIO's `Channel.isWritable`); it is taken to be writable
    /// until reported otherwise.
    ///
    /// While it is not, the peer is not reading what we send, and every frame we answer with would pile up in our
    /// outbound buffer. So ping requests are then not answered, and at most
    /// ``YamuxConstants/maximumRefusalsWhileNotWritable`` RSTs refusing the peer's streams are produced (the count
    /// restarts when the connection is writable again); the next refusal ends the session with
    /// ``YamuxError/Code/refusalBacklogExceeded`` instead of queueing another RST.
    public mutating func connectionWritabilityChanged(isWritable: Bool) {
        self.connectionIsWritable = isWritable
        if isWritable { self.refusalsWhileNotWritable = 0 }
    }

    /// Ends the session with Go Away and `code`. The peer (a libp2p fork) closes the whole session on it.
    public mutating func goAway(_ code: YamuxGoAwayCode = .normal) -> SessionFrameAction {
        guard self.isActive else { return .none }
        self.state = .goAwaySent(code)
        return .send(.goAway(code))
    }

    // MARK: - Helpers

    private var sessionEndedError: YamuxError? {
        switch self.state {
        case .active, .goAwaySent: return nil
        case .goAwayReceived(let code): return YamuxError.remoteGoAway(code)
        case .failed(let error): return YamuxError.sessionClosed("the session failed: \(error)")
        }
    }

    private mutating func takeAcknowledgementFlags(
        at index: Dictionary<UInt32, YamuxStreamStateMachine>.Index
    ) -> YamuxFrameHeader.Flags {
        let flags = self.streams.values[index].takeAcknowledgementFlags()
        if flags.contains(.ack) { self.awaitingAcceptCount -= 1 }
        return flags
    }

    private mutating func removeStream(at index: Dictionary<UInt32, YamuxStreamStateMachine>.Index) {
        let stream = self.streams.values[index]
        switch stream.acknowledgement {
        case .awaitingPeer: self.awaitingAcknowledgementCount -= 1
        case .owedToPeer: self.awaitingAcceptCount -= 1
        case .acknowledged: break
        }
        self.totalReceiveWindow -= Int(stream.receiveWindowLimit)
        self.streams.remove(at: index)
    }

    private mutating func removeAllStreams() {
        self.streams.removeAll()
        self.awaitingAcknowledgementCount = 0
        self.awaitingAcceptCount = 0
        self.totalReceiveWindow = 0
    }
}
