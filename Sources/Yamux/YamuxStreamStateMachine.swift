import NIOCore

/// The state of one yamux stream: its half-closes, its acknowledgement, and both flow-control windows.
///
/// ``YamuxSessionStateMachine`` owns one per live stream and is the only caller; the session turns the results into
/// frames and events.
///
/// ### Invariants
/// - `receiveWindow ≤ receiveWindowLimit` and `receiveWindow + consumedSinceUpdate + (bytes held by the
///   application) == receiveWindowLimit` (after the ACK of an inbound stream): the peer can never make us hold more
///   than `receiveWindowLimit` unread bytes.
/// - `sendWindow ≤ 2^32 − 1`; data is only sent within it.
struct YamuxStreamStateMachine {
    /// The two half-closes (spec "Stream Close"). Reset streams are removed at once and have no state.
    enum State: Hashable {
        /// Both directions open.
        case open
        /// We sent FIN; the peer may still send.
        case localClosed
        /// The peer sent FIN; we may still send.
        case remoteClosed
        /// Both sent FIN; the session removes the stream.
        case closed
    }

    /// Where the SYN / ACK exchange stands (spec "Opening a stream").
    enum Acknowledgement: Hashable {
        /// We opened the stream (SYN sent) and wait for the peer's ACK: counts against the ACK backlog.
        case awaitingPeer
        /// The peer opened the stream and we have not ACKed it yet; our next frame carries ACK.
        case owedToPeer
        /// Done.
        case acknowledged
    }

    let streamID: UInt32
    private(set) var state: State
    private(set) var acknowledgement: Acknowledgement
    /// The application closed the stream while the peer still sends: data is drained and credited back without
    /// waiting for a reader, and the window is no longer auto-tuned.
    private(set) var detached: Bool
    /// Bytes we may still send.
    private(set) var sendWindow: UInt64
    /// The current size of our receive window (auto-tuning grows it).
    private(set) var receiveWindowLimit: UInt32
    /// Bytes the peer may still send.
    private(set) var receiveWindow: UInt32
    /// Bytes the application consumed that have not been credited back yet.
    private var consumedSinceUpdate: UInt32
    /// When credit was last sent (or the stream created): auto-tuning compares this with the round-trip time.
    private var lastWindowUpdate: NIODeadline

    private init(streamID: UInt32, acknowledgement: Acknowledgement, limit: UInt32, window: UInt32, now: NIODeadline) {
        self.streamID = streamID
        self.state = .open
        self.acknowledgement = acknowledgement
        self.detached = false
        self.sendWindow = UInt64(YamuxConstants.initialStreamWindow)
        self.receiveWindowLimit = limit
        self.receiveWindow = window
        self.consumedSinceUpdate = 0
        self.lastWindowUpdate = now
    }

    /// A stream we open; its SYN announces `window − 256 KiB` extra credit, so the whole window is usable at once.
    static func outbound(streamID: UInt32, window: UInt32, now: NIODeadline) -> Self {
        Self(streamID: streamID, acknowledgement: .awaitingPeer, limit: window, window: window, now: now)
    }

    /// A stream the peer opened. It has the 256 KiB the peer assumes until ``grantWindow(_:)`` announces more with
    /// the ACK.
    static func inbound(streamID: UInt32, now: NIODeadline) -> Self {
        let window = YamuxConstants.initialStreamWindow
        return Self(streamID: streamID, acknowledgement: .owedToPeer, limit: window, window: window, now: now)
    }

    /// Whether we may still send data (no FIN sent).
    var canSend: Bool {
        switch self.state {
        case .open, .remoteClosed: return true
        case .localClosed, .closed: return false
        }
    }

    /// Whether the peer may still send data (no FIN received).
    var canReceive: Bool {
        switch self.state {
        case .open, .localClosed: return true
        case .remoteClosed, .closed: return false
        }
    }

    // MARK: - Frames from the peer

    /// Any frame from the peer on a stream we opened proves it knows the stream; a missing ACK flag is tolerated
    /// (go and rust do not check it either), so a peer cannot wedge our ACK backlog.
    ///
    /// - Returns: Whether this ended the wait for the peer's acknowledgement.
    mutating func receivedFrameFromPeer() -> Bool {
        switch self.acknowledgement {
        case .awaitingPeer:
            self.acknowledgement = .acknowledged
            return true
        case .owedToPeer, .acknowledged:
            return false
        }
    }

    /// Adds a Window Update's delta to the send window.
    mutating func receivedWindowUpdate(delta: UInt32) throws(YamuxError) {
        let grown = self.sendWindow + UInt64(delta)
        guard grown <= YamuxConstants.maximumWindow else {
            throw YamuxError.windowOverflow(streamID: self.streamID, window: self.sendWindow, delta: delta)
        }
        self.sendWindow = grown
    }

    /// Debits a Data frame's body from the receive window.
    mutating func receivedData(_ header: YamuxFrameHeader) throws(YamuxError) {
        try self.checkDataHeader(header)
        self.receiveWindow -= header.length
    }

    /// The rules ``receivedData(_:)`` applies, without taking the bytes from the window: a Data header may be checked
    /// before its body has arrived, so that a body the window cannot hold is never buffered.
    func checkDataHeader(_ header: YamuxFrameHeader) throws(YamuxError) {
        guard header.length > 0 else { return }
        guard self.canReceive else { throw YamuxError.streamClosed(header) }
        guard header.length <= self.receiveWindow else {
            throw YamuxError.receiveWindowExceeded(
                streamID: self.streamID,
                length: header.length,
                window: self.receiveWindow
            )
        }
    }

    /// The result of a FIN from the peer.
    enum ReceivedFINResult {
        /// The peer's direction is closed; ours is still open.
        case inputClosed
        /// Both directions are now closed.
        case closed
        /// The peer had already sent FIN; nothing changes.
        case duplicate
    }

    /// The peer half-closed its direction.
    mutating func receivedFIN() -> ReceivedFINResult {
        switch self.state {
        case .open:
            self.state = .remoteClosed
            return .inputClosed
        case .localClosed:
            self.state = .closed
            return .closed
        case .remoteClosed, .closed:
            return .duplicate
        }
    }

    // MARK: - Our frames

    /// The flags our next frame must carry: ACK while one is owed. Marks it sent.
    mutating func takeAcknowledgementFlags() -> YamuxFrameHeader.Flags {
        switch self.acknowledgement {
        case .owedToPeer:
            self.acknowledgement = .acknowledged
            return .ack
        case .awaitingPeer, .acknowledged:
            return []
        }
    }

    /// Grows the receive window to `window` (if larger) and returns the credit that announces it.
    mutating func grantWindow(_ window: UInt32) -> UInt32 {
        guard window > self.receiveWindowLimit else { return 0 }
        let extra = window - self.receiveWindowLimit
        self.receiveWindowLimit = window
        self.receiveWindow += extra
        return extra
    }

    /// Debits `count` sent bytes from the send window.
    mutating func sentData(_ count: Int) {
        precondition(UInt64(count) <= self.sendWindow, "sent \(count) bytes with a send window of \(self.sendWindow)")
        self.sendWindow -= UInt64(count)
    }

    /// We half-closed our direction.
    ///
    /// - Returns: Whether both directions are now closed.
    mutating func sentFIN() -> Bool {
        switch self.state {
        case .open:
            self.state = .localClosed
            return false
        case .remoteClosed:
            self.state = .closed
            return true
        case .localClosed, .closed:
            preconditionFailure("stream \(self.streamID): FIN sent twice (state \(self.state))")
        }
    }

    /// The application let go of the stream: the bytes it held unread are dropped, and whatever the peer still sends
    /// is drained.
    ///
    /// The dropped bytes count as consumed. The peer's send window still has them debited; left out, they could hold
    /// back the half-window credit forever and stall a peer that keeps writing after our FIN. Once every received
    /// byte counts as consumed, `receiveWindow == receiveWindowLimit − consumedSinceUpdate`, so the peer has window
    /// left whenever no credit is due.
    ///
    /// - Returns: The credit to send now, if the dropped bytes make a Window Update due.
    mutating func detach() -> UInt32? {
        self.detached = true
        guard self.canReceive else { return nil }
        self.recordConsumed(Int(self.unconsumedBytes))
        return self.takeDueCredit(now: nil, tuning: nil)?.credit
    }

    // MARK: - Flow control

    /// Parameters of receive-window auto-tuning.
    struct AutoTuning {
        /// The measured round-trip time, if any.
        var roundTripTime: TimeAmount?
        /// The largest window one stream may reach.
        var maximumWindow: UInt32
        /// How much the session's window budget still allows this stream to grow.
        var sessionRoom: Int
    }

    /// The application consumed `count` bytes: returns the credit to send, if enough has been consumed to be worth a
    /// Window Update, and by how much the window grew.
    ///
    /// Credit is sent once the consumed bytes reach half the window, and is exactly those bytes (go and rust both do
    /// this). When that half window was used in less than ``YamuxConstants/autoTuningRoundTrips`` round trips the
    /// window is the bottleneck, so it doubles, within `tuning`'s limits (rust `FlowController::next_window_update`).
    ///
    /// A detached stream is never tuned: nobody reads it, so a larger window would only hold the session's budget.
    mutating func consumed(_ count: Int, now: NIODeadline, tuning: AutoTuning?) -> (credit: UInt32, growth: UInt32)? {
        guard self.canReceive else { return nil }
        self.recordConsumed(count)
        return self.takeDueCredit(now: now, tuning: self.detached ? nil : tuning)
    }

    /// Bytes received that have not been reported consumed (held by the application, or in flight to it).
    private var unconsumedBytes: UInt32 {
        self.receiveWindowLimit - self.receiveWindow - self.consumedSinceUpdate
    }

    private mutating func recordConsumed(_ count: Int) {
        // Never credit more than was received: the caller may only report bytes it was given.
        self.consumedSinceUpdate += UInt32(clamping: min(count, Int(self.unconsumedBytes)))
    }

    /// The credit to send once half the window has been consumed, grown by `tuning` if given (`now` is then the
    /// time of consumption).
    private mutating func takeDueCredit(now: NIODeadline?, tuning: AutoTuning?) -> (credit: UInt32, growth: UInt32)? {
        guard self.consumedSinceUpdate >= self.receiveWindowLimit / 2 else { return nil }

        var growth: UInt32 = 0
        if let now, let tuning, let roundTripTime = tuning.roundTripTime,
            now - self.lastWindowUpdate < roundTripTime * YamuxConstants.autoTuningRoundTrips
        {
            let doubled = UInt64(self.receiveWindowLimit) * 2
            let limit = min(
                doubled,
                UInt64(tuning.maximumWindow),
                UInt64(self.receiveWindowLimit) + UInt64(max(0, tuning.sessionRoom))
            )
            if limit > UInt64(self.receiveWindowLimit) {
                growth = UInt32(limit) - self.receiveWindowLimit
                self.receiveWindowLimit = UInt32(limit)
            }
        }
        let credit = self.consumedSinceUpdate + growth
        self.receiveWindow += credit
        self.consumedSinceUpdate = 0
        if let now { self.lastWindowUpdate = now }
        return (credit, growth)
    }
}
