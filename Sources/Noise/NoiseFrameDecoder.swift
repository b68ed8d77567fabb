import NIOCore

/// Splits a byte stream into Noise messages: `len: u16 big-endian || message` (docs/wire.md §4.4).
///
/// The same framing carries the three handshake messages and every transport message. A frame is
/// handed on as a slice of the input buffer, never copied. The decoder is bounded by the format: a
/// frame is at most 2 + 65535 bytes, so a caller that drains every whole frame holds fewer than
/// ``maximumBufferedBytes`` between reads.
public struct NoiseFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The most bytes left over after all whole frames have been taken: an incomplete frame.
    public static let maximumBufferedBytes: Int = NoiseConstants.lengthPrefixLength + NoiseConstants.maximumMessageLength

    /// A decoder; it keeps no state between frames.
    public init() {}

    /// The next whole frame's message as a slice of `buffer`, with the reader index moved past the
    /// frame; `nil`, with `buffer` unchanged, when the frame is not complete yet.
    @inlinable
    public static func readFrame(from buffer: inout ByteBuffer) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= NoiseConstants.lengthPrefixLength + Int(length)
        else { return nil }
        buffer.moveReaderIndex(forwardBy: NoiseConstants.lengthPrefixLength)
        return buffer.readSlice(length: Int(length))
    }

    @inlinable
    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        Self.readFrame(from: &buffer)
    }

    /// At end of stream, bytes of an incomplete frame are an error: the peer stopped mid-message.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let frame = Self.readFrame(from: &buffer) { return frame }
        if buffer.readableBytes > 0 { throw NoiseError.truncatedFrame(bufferedBytes: buffer.readableBytes) }
        return nil
    }
}

extension ByteBuffer {
    /// Writes `message` behind its 2-byte big-endian length (docs/wire.md §4.4). Returns the bytes
    /// written.
    /// - Throws: ``NoiseError/Code/messageTooLarge`` above 65535 bytes; nothing is written then.
    @discardableResult
    @inlinable
    public mutating func writeNoiseFrame(_ message: ByteBuffer) throws -> Int {
        guard message.readableBytes <= NoiseConstants.maximumMessageLength else {
            throw NoiseError.messageTooLarge(
                "Noise message",
                length: message.readableBytes,
                limit: NoiseConstants.maximumMessageLength
            )
        }
        return self.writeInteger(UInt16(message.readableBytes)) + self.writeImmutableBuffer(message)
    }
}
