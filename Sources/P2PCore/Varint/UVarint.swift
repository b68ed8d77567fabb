import NIOCore

/// The multiformats unsigned varint: LEB128 without sign, 7 payload bits per byte, least significant
/// group first, bit 7 set on every byte but the last.
///
/// The multiformats/unsigned-varint spec adds two rules that plain LEB128 does not have, and this
/// codec enforces both on decode:
/// - "Practical maximum": at most ``maximumEncodedLength`` (9) bytes, so at most 63 bits.
/// - Minimal encoding: a multi-byte form must not end in `0x00` (`81 00` is refused).
public enum UVarint {
    /// The longest encoding the spec allows ("Practical maximum of 9 bytes", unsigned-varint README).
    public static let maximumEncodedLength = 9
    /// The largest value a 9-byte varint holds: 2^63 − 1.
    public static let maximumValue: UInt64 = (1 << 63) - 1

    /// The number of bytes the minimal encoding of `value` takes.
    @inlinable
    public static func encodedLength(of value: UInt64) -> Int {
        // 1 byte per started group of 7 bits; 0 still takes one byte.
        let bits = 64 - value.leadingZeroBitCount
        return bits <= 7 ? 1 : (bits + 6) / 7
    }

    /// The result of looking at the bytes of a varint that may not have fully arrived.
    public enum DecodeResult: Equatable, Sendable {
        /// A complete varint: its value and how many bytes it took.
        case value(UInt64, length: Int)
        /// The bytes so far are a valid prefix; wait for more.
        case needMoreBytes
    }
}

extension ByteBuffer {
    /// Decodes the unsigned varint that starts at `index`, without moving the reader index.
    ///
    /// - Parameters:
    ///   - index: Where the varint starts.
    ///   - limit: The largest value the caller accepts (a frame length limit, say). Larger values
    ///     are refused as soon as enough bytes have arrived to know, which bounds what a peer can
    ///     make the caller wait for.
    /// - Returns: The value and its length, or ``UVarint/DecodeResult/needMoreBytes``.
    /// - Throws: ``P2PCoreError`` with code `varintOverlong`, `varintNotMinimal` or `varintAboveLimit`.
    @inlinable
    public func getUVarint(at index: Int, limit: UInt64 = UVarint.maximumValue) throws -> UVarint.DecodeResult {
        var value: UInt64 = 0
        var offset = 0
        let available = self.writerIndex - index
        while offset < available {
            guard offset < UVarint.maximumEncodedLength else { throw P2PCoreError.varintOverlong() }
            // `getInteger` cannot fail here: `offset < available` keeps the index readable.
            let byte = self.getInteger(at: index + offset, as: UInt8.self) ?? 0
            value |= UInt64(byte & 0x7f) << (7 * UInt64(offset))
            offset += 1
            if byte & 0x80 == 0 {
                if byte == 0 && offset > 1 { throw P2PCoreError.varintNotMinimal() }
                guard value <= limit else { throw P2PCoreError.varintAboveLimit(value, limit: limit) }
                return .value(value, length: offset)
            }
            // Refuse early: the value can only grow from here.
            if value > limit { throw P2PCoreError.varintAboveLimit(value, limit: limit) }
        }
        if offset >= UVarint.maximumEncodedLength { throw P2PCoreError.varintOverlong() }
        return .needMoreBytes
    }

    /// Reads an unsigned varint, moving the reader index past it; leaves the buffer untouched when
    /// more bytes are needed (returns `nil`) or on error.
    ///
    /// - Throws: ``P2PCoreError`` as ``getUVarint(at:limit:)`` does.
    @inlinable
    public mutating func readUVarint(limit: UInt64 = UVarint.maximumValue) throws -> UInt64? {
        switch try self.getUVarint(at: self.readerIndex, limit: limit) {
        case .value(let value, let length):
            self.moveReaderIndex(forwardBy: length)
            return value
        case .needMoreBytes:
            return nil
        }
    }

    /// Writes `value` as a minimal unsigned varint at `index` and returns the number of bytes written.
    ///
    /// - Precondition: `value <= UVarint.maximumValue` (a larger value has no valid encoding).
    @inlinable
    @discardableResult
    public mutating func setUVarint(_ value: UInt64, at index: Int) -> Int {
        precondition(value <= UVarint.maximumValue, "\(value) does not fit in a 9-byte unsigned varint")
        var remaining = value
        var offset = 0
        while remaining >= 0x80 {
            self.setInteger(UInt8(truncatingIfNeeded: remaining) | 0x80, at: index + offset)
            remaining >>= 7
            offset += 1
        }
        self.setInteger(UInt8(truncatingIfNeeded: remaining), at: index + offset)
        return offset + 1
    }

    /// Appends `value` as a minimal unsigned varint and returns the number of bytes written.
    ///
    /// - Precondition: `value <= UVarint.maximumValue`.
    @inlinable
    @discardableResult
    public mutating func writeUVarint(_ value: UInt64) -> Int {
        precondition(value <= UVarint.maximumValue, "\(value) does not fit in a 9-byte unsigned varint")
        // One capacity check and one writer-index move for the whole varint; per-byte `setInteger`
        // calls cost an order of magnitude more.
        return self.writeWithUnsafeMutableBytes(minimumWritableBytes: UVarint.maximumEncodedLength) { bytes in
            var remaining = value
            var offset = 0
            while remaining >= 0x80 {
                bytes[offset] = UInt8(truncatingIfNeeded: remaining) | 0x80
                remaining >>= 7
                offset += 1
            }
            bytes[offset] = UInt8(truncatingIfNeeded: remaining)
            return offset + 1
        }
    }
}

/// An integer-encoding strategy for `ByteBuffer.writeLengthPrefixed(strategy:)` and
/// `readLengthPrefixedSlice(strategy:)` that writes lengths as unsigned varints.
///
/// Reading with this strategy cannot report errors (the NIO protocol has no `throws`): malformed
/// varints read as `nil`. Decoders that must tell "need more bytes" from "malformed" use
/// ``NIOCore/ByteBuffer/getUVarint(at:limit:)`` instead.
public struct UVarintEncodingStrategy: NIOBinaryIntegerEncodingStrategy, Sendable {
    /// Creates the strategy.
    @inlinable
    public init() {}

    /// Multistream messages and protobuf fields are short: one byte covers lengths below 128.
    @inlinable
    public var requiredBytesHint: Int { 1 }

    @inlinable
    public func readInteger<IntegerType: FixedWidthInteger>(
        as: IntegerType.Type,
        from buffer: inout ByteBuffer
    ) -> IntegerType? {
        guard let value = try? buffer.getUVarint(at: buffer.readerIndex),
            case .value(let integer, let length) = value,
            let result = IntegerType(exactly: integer)
        else { return nil }
        buffer.moveReaderIndex(forwardBy: length)
        return result
    }

    @inlinable
    public func writeInteger<IntegerType: FixedWidthInteger>(
        _ integer: IntegerType,
        to buffer: inout ByteBuffer
    ) -> Int {
        buffer.writeUVarint(UInt64(integer))
    }
}
