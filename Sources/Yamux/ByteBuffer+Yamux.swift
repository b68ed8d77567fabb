import NIOCore

extension ByteBuffer {
    /// Decodes the yamux header at `index` without moving the reader index.
    ///
    /// The header is read as one `UInt32` (version, type, flags) and one `UInt64` (stream ID, length), both big
    /// endian, which is the layout of spec "Framing".
    ///
    /// - Returns: The header, or `nil` when fewer than ``YamuxConstants/headerLength`` bytes are readable at `index`.
    /// - Throws: ``YamuxError`` `invalidVersion` for a version other than 0, `unknownFrameType` for a type above 3.
    @inlinable
    public func getYamuxFrameHeader(at index: Int) throws(YamuxError) -> YamuxFrameHeader? {
        guard let first = self.getInteger(at: index, as: UInt32.self),
            let second = self.getInteger(at: index &+ 4, as: UInt64.self)
        else { return nil }
        let version = UInt8(truncatingIfNeeded: first >> 24)
        guard version == YamuxConstants.protocolVersion else { throw YamuxError.invalidVersion(version) }
        let rawType = UInt8(truncatingIfNeeded: first >> 16)
        guard let type = YamuxFrameHeader.FrameType(rawValue: rawType) else {
            throw YamuxError.unknownFrameType(rawType)
        }
        return YamuxFrameHeader(
            type: type,
            flags: .init(rawValue: UInt16(truncatingIfNeeded: first)),
            streamID: UInt32(truncatingIfNeeded: second >> 32),
            length: UInt32(truncatingIfNeeded: second)
        )
    }

    /// Reads a yamux header, moving the reader index past it; leaves the buffer untouched when fewer than 12 bytes
    /// are readable (returns `nil`) or on error.
    ///
    /// - Throws: ``YamuxError`` as ``getYamuxFrameHeader(at:)`` does.
    @inlinable
    public mutating func readYamuxFrameHeader() throws(YamuxError) -> YamuxFrameHeader? {
        guard let header = try self.getYamuxFrameHeader(at: self.readerIndex) else { return nil }
        self.moveReaderIndex(forwardBy: YamuxConstants.headerLength)
        return header
    }

    /// Writes `header` at `index` (the buffer must already be that long) and returns 12.
    @inlinable
    @discardableResult
    public mutating func setYamuxFrameHeader(_ header: YamuxFrameHeader, at index: Int) -> Int {
        let (first, second) = header.wireWords
        self.setInteger(first, at: index)
        self.setInteger(second, at: index &+ 4)
        return YamuxConstants.headerLength
    }

    /// Appends `header` and returns 12.
    @inlinable
    @discardableResult
    public mutating func writeYamuxFrameHeader(_ header: YamuxFrameHeader) -> Int {
        // One capacity check, two stores and one writer-index move: two `writeInteger` calls cost several times more.
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: YamuxConstants.headerLength) { bytes in
            let (first, second) = header.wireWords
            bytes.storeBytes(of: first.bigEndian, toByteOffset: 0, as: UInt32.self)
            bytes.storeBytes(of: second.bigEndian, toByteOffset: 4, as: UInt64.self)
            return YamuxConstants.headerLength
        }
    }

    /// Appends a whole Data frame: a header whose `length` is `payload`'s readable byte count, then the payload.
    ///
    /// This copies the payload; it is the coalescing form, used for small bodies. Large bodies are better written
    /// to the channel as they are, after a header written with ``writeYamuxFrameHeader(_:)``.
    ///
    /// - Precondition: `payload.readableBytes <= UInt32.max`.
    @inlinable
    @discardableResult
    public mutating func writeYamuxDataFrame(
        streamID: UInt32,
        flags: YamuxFrameHeader.Flags = [],
        payload: ByteBuffer
    )
        -> Int
    {
        let length = payload.readableBytes
        precondition(length <= Int(UInt32.max), "a yamux Data body is at most 2^32 - 1 bytes")
        self.reserveCapacity(minimumWritableBytes: YamuxConstants.headerLength + length)
        self.writeYamuxFrameHeader(.data(streamID: streamID, flags: flags, length: UInt32(truncatingIfNeeded: length)))
        return YamuxConstants.headerLength + self.writeImmutableBuffer(payload)
    }
}

extension YamuxFrameHeader {
    /// The header as its two big-endian words: version, type and flags; then stream ID and length.
    @inlinable
    var wireWords: (UInt32, UInt64) {
        (
            UInt32(YamuxConstants.protocolVersion) << 24 | UInt32(self.type.rawValue) << 16
                | UInt32(self.flags.rawValue),
            UInt64(self.streamID) << 32 | UInt64(self.length)
        )
    }
}
