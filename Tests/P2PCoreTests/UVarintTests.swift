import NIOCore
import P2PCore
import TestSupport
import Testing

/// The multiformats unsigned varint: every example in `wire_examples.json`, round trips at the
/// edges of each byte length, and every malformed form with its typed error.
@Suite struct UVarintTests {
    struct Examples: Decodable {
        struct Varints: Decodable {
            let valid: [Valid]
            let invalid: [Invalid]
        }
        struct Valid: Decodable {
            let value: UInt64
            let hex: String
        }
        struct Invalid: Decodable {
            let hex: String
            let error: String
        }
        let unsigned_varint: Varints
    }

    @Test func validExamplesFromVectors() throws {
        let examples = try Fixtures.decode(Examples.self, from: "wire_examples.json")
        #expect(!examples.unsigned_varint.valid.isEmpty)
        for example in examples.unsigned_varint.valid {
            var encoded = ByteBuffer()
            let written = encoded.writeUVarint(example.value)
            #expect(encoded.hexString == example.hex, "encode \(example.value)")
            #expect(written == UVarint.encodedLength(of: example.value))

            var decoding = try ByteBuffer(hex: example.hex)
            #expect(try decoding.readUVarint() == example.value, "decode \(example.hex)")
            #expect(decoding.readableBytes == 0)
        }
    }

    @Test func invalidExamplesFromVectorsAreRefused() throws {
        let examples = try Fixtures.decode(Examples.self, from: "wire_examples.json")
        #expect(!examples.unsigned_varint.invalid.isEmpty)
        for example in examples.unsigned_varint.invalid {
            var buffer = try ByteBuffer(hex: example.hex)
            let before = buffer
            if example.error.hasPrefix("truncated") {
                #expect(try buffer.readUVarint() == nil, "\(example.hex) needs more bytes")
            } else {
                let expected: P2PCoreError.Code =
                    example.error.hasPrefix("not minimal") ? .varintNotMinimal : .varintOverlong
                let error = #expect(throws: P2PCoreError.self) { try buffer.readUVarint() }
                #expect(error?.code == expected, "\(example.hex): \(example.error)")
            }
            // Neither a malformed nor a truncated varint may consume input.
            #expect(buffer == before)
        }
    }

    @Test(arguments: [0, 1, 127, 128, 16383, 16384, 1 << 56 - 1, 1 << 56, UVarint.maximumValue] as [UInt64])
    func roundTripsAtLengthBoundaries(value: UInt64) throws {
        var buffer = ByteBuffer()
        buffer.writeUVarint(value)
        #expect(buffer.readableBytes == UVarint.encodedLength(of: value))
        #expect(try buffer.readUVarint() == value)
    }

    @Test func largestValueIsNineBytes() throws {
        var buffer = ByteBuffer()
        buffer.writeUVarint(UVarint.maximumValue)
        #expect(buffer.hexString == "ffffffffffffffff7f")
    }

    @Test func truncatedInputNeedsMoreBytesAtEveryPrefix() throws {
        var full = ByteBuffer()
        full.writeUVarint(UVarint.maximumValue)
        for length in 0..<full.readableBytes {
            let prefix = full.getSlice(at: 0, length: length)!
            #expect(try prefix.getUVarint(at: 0) == .needMoreBytes)
        }
    }

    @Test func overlongIsRefused() throws {
        // Nine continuation bytes: a tenth would be needed, which the spec forbids.
        let buffer = try ByteBuffer(hex: "ffffffffffffffffff")
        #expect(try coreErrorCode { try buffer.getUVarint(at: 0) } == .varintOverlong)
        let longer = try ByteBuffer(hex: "ffffffffffffffffff01")
        #expect(try coreErrorCode { try longer.getUVarint(at: 0) } == .varintOverlong)
    }

    @Test(arguments: ["8100", "ff00", "808000", "ffffffffffffffff00"])
    func nonMinimalIsRefused(hex: String) throws {
        let buffer = try ByteBuffer(hex: hex)
        #expect(try coreErrorCode { try buffer.getUVarint(at: 0) } == .varintNotMinimal)
    }

    @Test func valueAboveCallerLimitIsRefusedBeforeItCompletes() throws {
        let complete = try ByteBuffer(hex: "8108")  // 1025
        #expect(try coreErrorCode { try complete.getUVarint(at: 0, limit: 1024) } == .varintAboveLimit)
        // Already above the limit after two bytes; the rest has not arrived.
        let partial = try ByteBuffer(hex: "ffff")
        #expect(try coreErrorCode { try partial.getUVarint(at: 0, limit: 1024) } == .varintAboveLimit)
        let atLimit = try ByteBuffer(hex: "8008")  // 1024
        #expect(try atLimit.getUVarint(at: 0, limit: 1024) == .value(1024, length: 2))
    }

    @Test func decodesAtAnOffsetWithoutMovingTheReader() throws {
        var buffer = try ByteBuffer(hex: "aa ac02 bb")
        buffer.moveReaderIndex(forwardBy: 1)
        #expect(try buffer.getUVarint(at: buffer.readerIndex) == .value(300, length: 2))
        #expect(buffer.readerIndex == 1)
    }

    @Test func lengthPrefixStrategyWritesVarints() throws {
        var buffer = ByteBuffer()
        buffer.writeLengthPrefixed(strategy: UVarintEncodingStrategy()) { inner in
            inner.writeRepeatingByte(0x61, count: 200)
        }
        #expect(buffer.getBytes(at: 0, length: 2) == [0xc8, 0x01])
        let body = buffer.readLengthPrefixedSlice(strategy: UVarintEncodingStrategy())
        #expect(body?.readableBytes == 200)
    }
}

