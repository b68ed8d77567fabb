/// An error from yamux: a peer that broke the protocol, a stream or session that ended, or a local limit.
///
/// Equality compares ``code`` only, so tests can match on the kind of failure while the ``diagnostics`` say
/// what exactly was wrong.
public struct YamuxError: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, for people; not part of equality.
    public let diagnostics: String

    @usableFromInline
    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: YamuxError, rhs: YamuxError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "YamuxError.\(self.code): \(self.diagnostics)" }

    /// Whether the peer broke the protocol: the session answers these with Go Away (protocol error) and closes.
    public var isProtocolViolation: Bool { self.code.isProtocolViolation }

    /// The kinds of yamux failure. Codes are stable: scripts and CSV files may record them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidVersion
            case unknownFrameType
            case invalidFlags
            case invalidStreamID
            case streamIDParity
            case streamIDReused
            case unknownStream
            case streamClosed
            case receiveWindowExceeded
            case windowOverflow
            case frameTooLarge
            case refusalBacklogExceeded
            case ackBacklogFull
            case streamLimitReached
            case streamIDsExhausted
            case sessionClosed
            case remoteGoAway
            case streamReset
            case connectionClosed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        // MARK: Protocol violations by the peer (answered with Go Away 1)

        /// A header whose version is not 0 (spec "Framing"; go `ErrInvalidVersion`).
        public static let invalidVersion = Code(.invalidVersion)
        /// A header whose type is not 0–3 (spec "Message Type"; go `ErrInvalidMsgType`).
        public static let unknownFrameType = Code(.unknownFrameType)
        /// Flags that make no sense together or on this frame type; see ``YamuxSessionStateMachine``.
        public static let invalidFlags = Code(.invalidFlags)
        /// A Data or Window Update frame for stream 0, which is the session's own ID (spec "Framing").
        public static let invalidStreamID = Code(.invalidStreamID)
        /// A SYN for an ID of our parity: the client opens odd IDs, the server even ones (spec "StreamID").
        public static let streamIDParity = Code(.streamIDParity)
        /// A SYN for an ID at or below one the peer already used: IDs are never reused (spec "StreamID").
        public static let streamIDReused = Code(.streamIDReused)
        /// A frame without SYN for an ID that was never opened (above every ID opened so far).
        public static let unknownStream = Code(.unknownStream)
        /// Data for a stream whose sending side the peer already closed with FIN (spec "Stream Close").
        public static let streamClosed = Code(.streamClosed)
        /// More Data than the receive window allowed (spec "Flow Control"; go `ErrRecvWindowExceeded`).
        public static let receiveWindowExceeded = Code(.receiveWindowExceeded)
        /// A Window Update that grew the send window beyond 2^32 − 1.
        public static let windowOverflow = Code(.windowOverflow)
        /// A Data frame whose body is larger than the decoder's bound.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// More streams to refuse with RST, while the connection was not writable, than
        /// ``YamuxConstants/maximumRefusalsWhileNotWritable``: the peer keeps opening streams without reading our
        /// answers, beyond the ACK backlog the libp2p yamux spec allows it (docs/wire.md §7.6).
        public static let refusalBacklogExceeded = Code(.refusalBacklogExceeded)

        // MARK: Local limits

        /// 256 streams opened and not yet acknowledged (libp2p yamux spec "ACK backlog").
        public static let ackBacklogFull = Code(.ackBacklogFull)
        /// The configured cap on live streams was reached.
        public static let streamLimitReached = Code(.streamLimitReached)
        /// Every stream ID of this side's parity has been used.
        public static let streamIDsExhausted = Code(.streamIDsExhausted)

        // MARK: Endings

        /// The session has ended (Go Away sent or received, or a protocol error); no new streams.
        public static let sessionClosed = Code(.sessionClosed)
        /// The peer sent Go Away; the libp2p forks end the session on it (docs/wire.md §8 item 14).
        public static let remoteGoAway = Code(.remoteGoAway)
        /// The peer reset the stream (RST).
        public static let streamReset = Code(.streamReset)
        /// The underlying connection closed while the stream was open.
        public static let connectionClosed = Code(.connectionClosed)

        /// Whether this code is a protocol violation by the peer.
        public var isProtocolViolation: Bool {
            switch self.base {
            case .invalidVersion, .unknownFrameType, .invalidFlags, .invalidStreamID, .streamIDParity,
                .streamIDReused, .unknownStream, .streamClosed, .receiveWindowExceeded, .windowOverflow,
                .frameTooLarge, .refusalBacklogExceeded:
                return true
            case .ackBacklogFull, .streamLimitReached, .streamIDsExhausted, .sessionClosed, .remoteGoAway,
                .streamReset, .connectionClosed:
                return false
            }
        }

        public var description: String { self.base.rawValue }
    }
}

extension YamuxError {
    @usableFromInline @inline(never)
    static func invalidVersion(_ version: UInt8) -> YamuxError {
        YamuxError(.invalidVersion, "header version \(version), expected 0")
    }

    @usableFromInline @inline(never)
    static func unknownFrameType(_ type: UInt8) -> YamuxError {
        YamuxError(.unknownFrameType, "header type \(type) is not Data, Window Update, Ping or Go Away")
    }

    @usableFromInline @inline(never)
    static func invalidFlags(_ header: YamuxFrameHeader, _ why: String) -> YamuxError {
        YamuxError(.invalidFlags, "\(header): \(why)")
    }

    @usableFromInline @inline(never)
    static func invalidStreamID(_ header: YamuxFrameHeader) -> YamuxError {
        YamuxError(.invalidStreamID, "\(header): stream frames may not use the session's ID 0")
    }

    @usableFromInline @inline(never)
    static func streamIDParity(_ streamID: UInt32) -> YamuxError {
        YamuxError(.streamIDParity, "SYN for stream \(streamID), which has this side's parity")
    }

    @usableFromInline @inline(never)
    static func streamIDReused(_ streamID: UInt32, highest: UInt32) -> YamuxError {
        YamuxError(.streamIDReused, "SYN for stream \(streamID), not above the peer's highest ID so far \(highest)")
    }

    @usableFromInline @inline(never)
    static func unknownStream(_ header: YamuxFrameHeader) -> YamuxError {
        YamuxError(.unknownStream, "\(header): that stream was never opened")
    }

    @usableFromInline @inline(never)
    static func streamClosed(_ header: YamuxFrameHeader) -> YamuxError {
        YamuxError(.streamClosed, "\(header): the peer already closed its side of the stream with FIN")
    }

    @usableFromInline @inline(never)
    static func receiveWindowExceeded(streamID: UInt32, length: UInt32, window: UInt32) -> YamuxError {
        YamuxError(.receiveWindowExceeded, "stream \(streamID): \(length) data bytes with \(window) bytes of window")
    }

    @usableFromInline @inline(never)
    static func windowOverflow(streamID: UInt32, window: UInt64, delta: UInt32) -> YamuxError {
        YamuxError(.windowOverflow, "stream \(streamID): send window \(window) + \(delta) exceeds 2^32 - 1")
    }

    @usableFromInline @inline(never)
    static func frameTooLarge(_ length: UInt32, limit: Int) -> YamuxError {
        YamuxError(.frameTooLarge, "Data body of \(length) bytes, limit \(limit)")
    }

    @usableFromInline @inline(never)
    static func refusalBacklogExceeded(_ limit: Int) -> YamuxError {
        YamuxError(
            .refusalBacklogExceeded,
            "the peer opened more than \(limit) streams to refuse while not reading what we sent"
        )
    }

    @usableFromInline @inline(never)
    static func ackBacklogFull(_ limit: Int) -> YamuxError {
        YamuxError(.ackBacklogFull, "\(limit) streams opened and not yet acknowledged")
    }

    @usableFromInline @inline(never)
    static func streamLimitReached(_ limit: Int) -> YamuxError {
        YamuxError(.streamLimitReached, "\(limit) streams open")
    }

    @usableFromInline @inline(never)
    static func streamIDsExhausted() -> YamuxError {
        YamuxError(.streamIDsExhausted, "no stream IDs left for this side")
    }

    @usableFromInline @inline(never)
    static func sessionClosed(_ why: String) -> YamuxError { YamuxError(.sessionClosed, why) }

    @usableFromInline @inline(never)
    static func remoteGoAway(_ code: YamuxGoAwayCode) -> YamuxError {
        YamuxError(.remoteGoAway, "the peer sent Go Away (\(code))")
    }

    @usableFromInline @inline(never)
    static func streamReset(_ streamID: UInt32) -> YamuxError {
        YamuxError(.streamReset, "the peer reset stream \(streamID)")
    }

    @usableFromInline @inline(never)
    static func connectionClosed() -> YamuxError {
        YamuxError(.connectionClosed, "the connection closed while the stream was open")
    }
}
