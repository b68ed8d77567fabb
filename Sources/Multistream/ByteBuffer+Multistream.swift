import NIOCore
import P2PCore

// MARK: - Writing

extension ByteBuffer {
    /// Appends `message` in multistream-select framing: `uvarint(N) || text || '\n'` with N counting
    /// the newline (docs/wire.md §2.1); an `ls` response nests one such line per protocol
    /// (§2.3). Returns the number of bytes written.
    ///
    /// Writes straight into this buffer, so with enough capacity it does not allocate; for
    /// protocols sent over and over, ``writeMultistreamProtocol(_:)`` copies pre-encoded bytes.
    ///
    /// - Precondition: every protocol ID is valid (``MultistreamEncodedProtocol/isValid(_:)``), and
    ///   an `ls` response fits in ``MultistreamFrameDecoder/maximumMessageLength``: these are the
    ///   program's own IDs, never peer input.
    @discardableResult
    public mutating func writeMultistreamMessage(_ message: MultistreamMessage) -> Int {
        switch message {
        case .header:
            return self.writeImmutableBuffer(MultistreamMessage.headerFrame)
        case .na:
            return self.writeImmutableBuffer(MultistreamMessage.naFrame)
        case .ls:
            return self.writeImmutableBuffer(MultistreamMessage.lsFrame)
        case .protocol(let id):
            precondition(MultistreamEncodedProtocol.isValid(id), "invalid protocol ID \(id)")
            return self.writeMultistreamLine(id)
        case .lsResponse(let protocols):
            var bodyLength = 0
            for id in protocols {
                precondition(MultistreamEncodedProtocol.isValid(id), "invalid protocol ID \(id)")
                bodyLength += Self.multistreamLineLength(id)
            }
            let messageLength = bodyLength + 1
            precondition(
                messageLength <= MultistreamFrameDecoder.maximumMessageLength,
                "ls response of \(messageLength) bytes exceeds \(MultistreamFrameDecoder.maximumMessageLength)"
            )
            self.reserveCapacity(minimumWritableBytes: UVarint.encodedLength(of: UInt64(messageLength)) + messageLength)
            var written = self.writeUVarint(UInt64(messageLength))
            for id in protocols { written += self.writeMultistreamLine(id) }
            written += self.writeInteger(UInt8(ascii: "\n"))
            return written
        }
    }

    /// Appends the pre-encoded message proposing or echoing `encoded.id`; no encoding work and, with
    /// enough capacity, no allocation.
    @inlinable
    @discardableResult
    public mutating func writeMultistreamProtocol(_ encoded: MultistreamEncodedProtocol) -> Int {
        self.writeImmutableBuffer(encoded.frame)
    }

    /// `uvarint(len+1) || id || '\n'`.
    @usableFromInline
    @discardableResult
    mutating func writeMultistreamLine(_ id: ProtocolID) -> Int {
        let length = id.rawValue.utf8.count + 1
        self.reserveCapacity(minimumWritableBytes: UVarint.encodedLength(of: UInt64(length)) + length)
        var written = self.writeUVarint(UInt64(length))
        written += self.writeString(id.rawValue)
        written += self.writeInteger(UInt8(ascii: "\n"))
        return written
    }

    @usableFromInline
    static func multistreamLineLength(_ id: ProtocolID) -> Int {
        let length = id.rawValue.utf8.count + 1
        return UVarint.encodedLength(of: UInt64(length)) + length
    }

    /// A buffer holding one whole message with `text`, for the fixed messages built once.
    @usableFromInline
    static func multistreamFrame(staticText: StaticString) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeUVarint(UInt64(staticText.utf8CodeUnitCount + 1))
        buffer.writeStaticString(staticText)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }
}

// MARK: - Reading

extension ByteBuffer {
    /// Reads one whole message and returns its body: the text between the length prefix and the
    /// trailing newline, as a slice of this buffer (no copy, no allocation). Returns `nil`, reading
    /// nothing, while the message is incomplete; bytes behind the message stay unread.
    ///
    /// - Parameter maximumLength: The largest length prefix accepted; the default is go's and
    ///   js's 1024 (``MultistreamFrameDecoder/maximumMessageLength``).
    /// - Throws: ``MultistreamError`` with code `messageTooLong`, `emptyMessage`,
    ///   `malformedVarint` or `missingNewline`; the reader index is then unchanged.
    @inlinable
    public mutating func readMultistreamMessageBody(
        maximumLength: Int = MultistreamFrameDecoder.maximumMessageLength
    ) throws(MultistreamError) -> ByteBuffer? {
        let decoded: UVarint.DecodeResult
        do {
            decoded = try self.getUVarint(at: self.readerIndex, limit: UInt64(maximumLength))
        } catch let error as P2PCoreError where error.code == .varintAboveLimit {
            throw MultistreamError.messageTooLong(error, limit: maximumLength)
        } catch let error as P2PCoreError {
            throw MultistreamError.malformedVarint(error)
        } catch {
            preconditionFailure("getUVarint threw \(error), which is not a P2PCoreError")
        }
        guard case .value(let value, let varintLength) = decoded else { return nil }
        let length = Int(value)
        guard length > 0 else { throw MultistreamError.emptyMessage() }
        guard self.readableBytes >= varintLength + length else { return nil }
        let bodyStart = self.readerIndex + varintLength
        guard self.getInteger(at: bodyStart + length - 1, as: UInt8.self) == UInt8(ascii: "\n") else {
            throw MultistreamError.missingNewline(self.getSlice(at: bodyStart, length: length) ?? ByteBuffer())
        }
        // Both indices were checked against `readableBytes` above.
        let body = self.getSlice(at: bodyStart, length: length - 1) ?? ByteBuffer()
        self.moveReaderIndex(forwardBy: varintLength + length)
        return body
    }

    /// Reads one whole message, or returns `nil` (reading nothing) while it is incomplete.
    ///
    /// Creates `String`s for protocol IDs; hot paths use ``readMultistreamMessageBody(maximumLength:)``
    /// and compare bodies with ``MultistreamEncodedProtocol`` instead.
    ///
    /// - Throws: ``MultistreamError`` as ``readMultistreamMessageBody(maximumLength:)`` does, and
    ///   `invalidProtocolID` (see ``MultistreamMessage/init(decodingBody:)``); the reader index is
    ///   then unchanged.
    public mutating func readMultistreamMessage(
        maximumLength: Int = MultistreamFrameDecoder.maximumMessageLength
    ) throws(MultistreamError) -> MultistreamMessage? {
        let start = self.readerIndex
        guard let body = try self.readMultistreamMessageBody(maximumLength: maximumLength) else { return nil }
        do {
            return try MultistreamMessage(decodingBody: body)
        } catch {
            self.moveReaderIndex(to: start)
            throw error
        }
    }
}
