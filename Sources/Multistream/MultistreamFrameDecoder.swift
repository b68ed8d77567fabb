import NIOCore

/// An incremental decoder of multistream-select messages: it yields each message's body (the
/// text without length prefix and newline) as a slice of the input, and never reads past the
/// end of a message, so bytes of the next protocol stay in the buffer (docs/wire.md §2.4,
/// "Buffering rule").
///
/// Usable on its own (`decode(buffer:)` in a loop), with `NIOSingleStepByteToMessageProcessor`,
/// or as a `ByteToMessageHandler`. The dialer and listener state machines do the same framing
/// with ``NIOCore/ByteBuffer/readMultistreamMessageBody(maximumLength:)``.
public struct MultistreamFrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    /// The largest message accepted, length prefix value including the newline: 1024 bytes.
    ///
    /// The spec sets no limit; this is go-multistream's (`ErrTooLarge` for a length > 1024) and
    /// js-libp2p's (`MAX_PROTOCOL_LENGTH = 1024`, "conforming to go"). rust allows 16383, but
    /// nothing longer than 1024 interoperates with go and js (docs/wire.md §2.4, §8 item 4).
    public static let maximumMessageLength = 1024

    /// The largest message this decoder accepts.
    public let maximumLength: Int

    /// Creates a decoder accepting messages up to `maximumLength` bytes.
    public init(maximumLength: Int = MultistreamFrameDecoder.maximumMessageLength) {
        self.maximumLength = maximumLength
    }

    /// Decodes the next message body, or returns `nil` while the message is incomplete.
    ///
    /// - Throws: ``MultistreamError`` (`messageTooLong`, `emptyMessage`, `malformedVarint`,
    ///   `missingNewline`).
    public mutating func decode(buffer: inout ByteBuffer) throws(MultistreamError) -> ByteBuffer? {
        try buffer.readMultistreamMessageBody(maximumLength: self.maximumLength)
    }

    /// Decodes the remaining messages at end of input.
    ///
    /// - Throws: ``MultistreamError`` with code `truncatedMessage` when input ended inside a message.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(MultistreamError) -> ByteBuffer? {
        if let body = try self.decode(buffer: &buffer) { return body }
        if seenEOF && buffer.readableBytes > 0 { throw MultistreamError.truncatedMessage(buffer.readableBytes) }
        return nil
    }
}
