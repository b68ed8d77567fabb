import NIOCore
import P2PCore

/// An error from multistream-select: a malformed message, a message at the wrong time, a failed
/// negotiation, or the connection ending or stalling before negotiation finished.
///
/// Equality compares ``code`` only, so tests and callers can match on the kind of failure while
/// ``diagnostics`` say what exactly was wrong.
public struct MultistreamError: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, for people; not part of equality.
    public let diagnostics: String
    /// The protocol IDs the failure is about: the rejected proposal(s) for ``Code/protocolRejected``
    /// and ``Code/noProtocolSupported``, the unexpected echo for ``Code/protocolMismatch``; empty
    /// otherwise. Not part of equality.
    public let protocols: [ProtocolID]

    @usableFromInline
    init(_ code: Code, _ diagnostics: String, protocols: [ProtocolID] = []) {
        self.code = code
        self.diagnostics = diagnostics
        self.protocols = protocols
    }

    public static func == (lhs: MultistreamError, rhs: MultistreamError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "MultistreamError.\(self.code): \(self.diagnostics)" }

    /// The kinds of multistream-select failure. Codes are stable: scripts and CSV files may record them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case messageTooLong
            case emptyMessage
            case malformedVarint
            case missingNewline
            case invalidProtocolID
            case malformedListResponse
            case invalidHeader
            case unexpectedMessage
            case protocolMismatch
            case noProtocolSupported
            case protocolRejected
            case tooManyProposals
            case truncatedMessage
            case connectionClosed
            case timedOut
            case bufferLimitExceeded
            case handlerRemoved
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A length prefix above ``MultistreamFrameDecoder/maximumMessageLength`` (go-multistream
        /// `ErrTooLarge`, js `MAX_PROTOCOL_LENGTH`; docs/wire.md §2.4).
        public static let messageTooLong = Code(.messageTooLong)
        /// A length prefix of 0: every message holds at least its newline (go refuses it too).
        public static let emptyMessage = Code(.emptyMessage)
        /// A length prefix that is not a valid unsigned varint (overlong or not minimal).
        public static let malformedVarint = Code(.malformedVarint)
        /// A message whose last byte is not `\n` (multistream-select framing, docs/wire.md §2.1).
        public static let missingNewline = Code(.missingNewline)
        /// A message that is neither `na`, `ls`, the header, nor a protocol ID starting with `/` on
        /// one line of UTF-8 (rust-libp2p refuses these as protocol errors; docs/wire.md §2.4).
        public static let invalidProtocolID = Code(.invalidProtocolID)
        /// An `ls` response whose inner lines do not parse (docs/wire.md §2.3).
        public static let malformedListResponse = Code(.malformedListResponse)
        /// The peer's first message is not `/multistream/1.0.0` (spec: "abort"; docs/wire.md §2.2).
        public static let invalidHeader = Code(.invalidHeader)
        /// A well-formed message that the peer may not send at this point (a second header, `na`
        /// sent to a listener, `ls` sent to a dialer, an `ls` response nobody asked for).
        public static let unexpectedMessage = Code(.unexpectedMessage)
        /// The listener answered a proposal with a different protocol ID than the one proposed.
        public static let protocolMismatch = Code(.protocolMismatch)
        /// The listener answered `na` to every protocol the dialer proposed.
        public static let noProtocolSupported = Code(.noProtocolSupported)
        /// The listener answered `na` to a protocol the dialer had already started using
        /// optimistically (lazy mode, docs/wire.md §2.5).
        public static let protocolRejected = Code(.protocolRejected)
        /// The dialer made more proposals than the listener allows
        /// (``MultistreamListenerStateMachine/defaultMaximumProposals``).
        public static let tooManyProposals = Code(.tooManyProposals)
        /// The input ended in the middle of a message.
        public static let truncatedMessage = Code(.truncatedMessage)
        /// The input ended between messages, before negotiation finished.
        public static let connectionClosed = Code(.connectionClosed)
        /// Negotiation did not finish within the handler's timeout.
        public static let timedOut = Code(.timedOut)
        /// The peer sent more next-layer bytes than a handler buffers while the next layer is installed.
        public static let bufferLimitExceeded = Code(.bufferLimitExceeded)
        /// The handler left the pipeline before negotiation finished.
        public static let handlerRemoved = Code(.handlerRemoved)

        public var description: String { self.base.rawValue }
    }
}

extension MultistreamError {
    @usableFromInline @inline(never)
    static func messageTooLong(_ underlying: P2PCoreError, limit: Int) -> MultistreamError {
        MultistreamError(.messageTooLong, "message length above the limit \(limit): \(underlying.diagnostics)")
    }

    @usableFromInline @inline(never)
    static func emptyMessage() -> MultistreamError {
        MultistreamError(.emptyMessage, "message length 0: a message holds at least its newline")
    }

    @usableFromInline @inline(never)
    static func malformedVarint(_ underlying: P2PCoreError) -> MultistreamError {
        MultistreamError(.malformedVarint, "bad message length prefix: \(underlying.diagnostics)")
    }

    @usableFromInline @inline(never)
    static func missingNewline(_ body: ByteBuffer) -> MultistreamError {
        MultistreamError(.missingNewline, "message does not end in \\n: \(body.multistreamDebugText)")
    }

    @usableFromInline @inline(never)
    static func invalidProtocolID(_ body: ByteBuffer, _ why: String) -> MultistreamError {
        MultistreamError(.invalidProtocolID, "\(why): \(body.multistreamDebugText)")
    }

    @usableFromInline @inline(never)
    static func malformedListResponse(_ why: String) -> MultistreamError {
        MultistreamError(.malformedListResponse, "malformed ls response: \(why)")
    }

    @usableFromInline @inline(never)
    static func invalidHeader(_ body: ByteBuffer) -> MultistreamError {
        MultistreamError(.invalidHeader, "first message is not /multistream/1.0.0 but \(body.multistreamDebugText)")
    }

    @usableFromInline @inline(never)
    static func unexpectedMessage(_ what: String) -> MultistreamError {
        MultistreamError(.unexpectedMessage, what)
    }

    @usableFromInline @inline(never)
    static func protocolMismatch(proposed: ProtocolID, answer: ByteBuffer) -> MultistreamError {
        let answered = ProtocolID(answer.multistreamDebugText)
        return MultistreamError(
            .protocolMismatch,
            "proposed \(proposed) but the listener answered \(answered)",
            protocols: [proposed, answered]
        )
    }

    @usableFromInline @inline(never)
    static func noProtocolSupported(_ proposed: [ProtocolID]) -> MultistreamError {
        let list = proposed.map(\.rawValue).joined(separator: ", ")
        return MultistreamError(.noProtocolSupported, "the listener answered na to every proposal: \(list)", protocols: proposed)
    }

    @usableFromInline @inline(never)
    static func protocolRejected(_ id: ProtocolID) -> MultistreamError {
        MultistreamError(
            .protocolRejected,
            "the listener answered na to \(id), which was already in use optimistically (lazy mode)",
            protocols: [id]
        )
    }

    @usableFromInline @inline(never)
    static func tooManyProposals(_ limit: Int) -> MultistreamError {
        MultistreamError(.tooManyProposals, "the dialer made more than \(limit) proposals without agreement")
    }

    @usableFromInline @inline(never)
    static func truncatedMessage(_ bufferedBytes: Int) -> MultistreamError {
        MultistreamError(.truncatedMessage, "input ended inside a message (\(bufferedBytes) bytes of it received)")
    }

    @usableFromInline @inline(never)
    static func connectionClosed(_ during: String) -> MultistreamError {
        MultistreamError(.connectionClosed, "input ended \(during)")
    }

    @usableFromInline @inline(never)
    static func timedOut(_ timeout: TimeAmount) -> MultistreamError {
        MultistreamError(.timedOut, "negotiation did not finish within \(timeout.nanoseconds / 1_000_000) ms")
    }

    @usableFromInline @inline(never)
    static func bufferLimitExceeded(_ limit: Int) -> MultistreamError {
        MultistreamError(.bufferLimitExceeded, "more than \(limit) next-layer bytes arrived before the next layer was ready")
    }

    @usableFromInline @inline(never)
    static func handlerRemoved() -> MultistreamError {
        MultistreamError(.handlerRemoved, "the handler was removed from the pipeline before negotiation finished")
    }
}

extension ByteBuffer {
    /// The readable bytes as text for error messages: printable ASCII as is, anything else as
    /// `\xNN`, cut at 64 bytes so a hostile message cannot make the diagnostics large.
    @usableFromInline
    var multistreamDebugText: String {
        let shown = self.readableBytesView.prefix(64)
        var text = ""
        for byte in shown {
            if byte >= 0x20 && byte < 0x7f {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16)
                text += byte < 0x10 ? "\\x0" + hex : "\\x" + hex
            }
        }
        if self.readableBytes > shown.count { text += "… (\(self.readableBytes) bytes)" }
        return "\"" + text + "\""
    }
}
