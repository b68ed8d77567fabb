import NIOCore

/// One decoded yamux frame: its header and, for Data frames, its body.
public struct YamuxFrame: Hashable, Sendable {
    /// The 12-byte header.
    public var header: YamuxFrameHeader
    /// The Data body: a slice of the decoder's input, never a copy. Empty for every other frame type.
    public var payload: ByteBuffer

    /// A frame from its parts.
    @inlinable
    public init(header: YamuxFrameHeader, payload: ByteBuffer = ByteBuffer()) {
        self.header = header
        self.payload = payload
    }
}

/// Splits a byte stream into yamux frames: a header, then (Data only) exactly `length` body bytes returned as a
/// slice of the input.
///
/// It is incremental (a partial frame stays in the buffer until the rest arrives), allocation-free in steady state,
/// and bounded: a Data header announcing more than ``maximumBodyLength`` bytes is refused as soon as its 12 bytes
/// have arrived, before any body is buffered. Use it directly, or through NIO's `NIOSingleStepByteToMessageProcessor`
/// as ``YamuxMultiplexer`` does.
public struct YamuxFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = YamuxFrame

    /// The largest Data body accepted. No valid frame is larger than the receive window, so the multiplexer sets
    /// this to ``YamuxConfiguration/maximumStreamWindow``.
    public let maximumBodyLength: Int

    /// A decoder refusing Data bodies above `maximumBodyLength` bytes.
    public init(maximumBodyLength: Int = Int(YamuxConstants.defaultMaximumStreamWindow)) {
        self.maximumBodyLength = maximumBodyLength
    }

    /// The next whole frame in `buffer`, or `nil` (leaving `buffer` untouched) when it has not fully arrived.
    ///
    /// - Throws: ``YamuxError`` `invalidVersion`, `unknownFrameType` or `frameTooLarge`.
    @inlinable
    public mutating func decode(buffer: inout ByteBuffer) throws -> YamuxFrame? {
        try self.decodeFrame(buffer: &buffer)
    }

    /// ``decode(buffer:)`` with its error type spelt out.
    @inlinable
    public func decodeFrame(buffer: inout ByteBuffer) throws(YamuxError) -> YamuxFrame? {
        // Peek rather than read, so that a frame whose body is still missing leaves no decoder state behind.
        guard let header = try buffer.getYamuxFrameHeader(at: buffer.readerIndex) else { return nil }
        switch header.type {
        case .data:
            guard header.length <= self.maximumBodyLength else {
                throw YamuxError.frameTooLarge(header.length, limit: self.maximumBodyLength)
            }
            let frameLength = YamuxConstants.headerLength &+ Int(header.length)
            guard buffer.readableBytes >= frameLength else { return nil }
            buffer.moveReaderIndex(forwardBy: YamuxConstants.headerLength)
            // `readSlice` cannot fail: the length was checked above.
            let payload = buffer.readSlice(length: Int(header.length)) ?? ByteBuffer()
            return YamuxFrame(header: header, payload: payload)
        case .windowUpdate, .ping, .goAway:
            buffer.moveReaderIndex(forwardBy: YamuxConstants.headerLength)
            return YamuxFrame(header: header)
        }
    }

    /// As ``decode(buffer:)``; bytes of an incomplete frame left at EOF are not an error here; the session
    /// ends either way.
    @inlinable
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> YamuxFrame? {
        try self.decodeFrame(buffer: &buffer)
    }
}
