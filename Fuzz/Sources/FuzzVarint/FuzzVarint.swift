import FuzzSupport
import NIOCore
import P2PCore

/// Unsigned varints (P2PCore): decodes every varint in the input under a limit the first byte
/// chooses, and checks that each value re-encodes to exactly the bytes it was read from (the
/// decoder accepts only minimal encodings of at most 9 bytes) and that the limit held. The
/// NIO strategy reads the same bytes and must agree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVarint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let limitChoice = input.byte()
    let limit: UInt64 = limitChoice & 0x80 == 0 ? UVarint.maximumValue : UInt64(limitChoice & 0x7f) << 5
    let bytes = input.rest()
    var buffer = ByteBuffer(bytes: bytes)
    while buffer.readableBytes > 0 {
        let start = buffer.readerIndex
        let value: UInt64?
        do {
            value = try buffer.readUVarint(limit: limit)
        } catch {
            fuzzCheck(buffer.readerIndex == start, "a refused varint moved the reader index")
            break
        }
        guard let value else {
            fuzzCheck(buffer.readableBytes < UVarint.maximumEncodedLength, "needMoreBytes with 9 bytes available")
            break
        }
        let length = buffer.readerIndex - start
        fuzzCheck(value <= limit, "\(value) above the limit \(limit)")
        fuzzCheck(length == UVarint.encodedLength(of: value), "\(value) read from \(length) bytes: not minimal")
        var encoded = ByteBuffer()
        encoded.writeUVarint(value)
        fuzzCheck(
            encoded.readableBytesView.elementsEqual(bytes[start..<(start + length)]),
            "\(value) does not re-encode to the bytes it was read from"
        )
        var strategyBuffer = ByteBuffer(bytes: bytes[start...])
        if limit == UVarint.maximumValue {
            let strategyValue = UVarintEncodingStrategy().readInteger(as: UInt64.self, from: &strategyBuffer)
            fuzzCheck(strategyValue == value, "UVarintEncodingStrategy read \(String(describing: strategyValue))")
        }
    }
    return 0
}
