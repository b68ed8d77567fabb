import FuzzSupport
import NIOCore
import Yamux

/// The yamux frame decoder over the whole input, with a body limit the first byte picks: every
/// frame it returns is a valid header (version 0, a known type) with a body of exactly the length
/// the header states, within the limit; a refused or incomplete frame leaves the buffer alone.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYamuxFrame(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let limitChoice = input.byte()
    let limit = limitChoice & 0x80 == 0 ? Int(YamuxConstants.defaultMaximumStreamWindow) : Int(limitChoice & 0x7f) * 16
    let decoder = YamuxFrameDecoder(maximumBodyLength: limit)
    let bytes = input.rest()
    var buffer = ByteBuffer(bytes: bytes)
    while true {
        let start = buffer.readerIndex
        let frame: YamuxFrame?
        do {
            frame = try decoder.decodeFrame(buffer: &buffer)
        } catch {
            fuzzCheck(buffer.readerIndex == start, "a refused frame moved the reader index")
            break
        }
        guard let frame else {
            fuzzCheck(buffer.readerIndex == start, "an incomplete frame moved the reader index")
            break
        }
        let consumed = buffer.readerIndex - start
        switch frame.header.type {
        case .data:
            fuzzCheck(Int(frame.header.length) <= limit, "a body above the limit")
            fuzzCheck(frame.payload.readableBytes == Int(frame.header.length), "body length differs from the header's")
            fuzzCheck(consumed == YamuxConstants.headerLength + frame.payload.readableBytes, "consumed \(consumed)")
        case .windowUpdate, .ping, .goAway:
            fuzzCheck(frame.payload.readableBytes == 0, "a body on a \(frame.header.type) frame")
            fuzzCheck(consumed == YamuxConstants.headerLength, "consumed \(consumed)")
        }
        // The header must encode back to the bytes it came from.
        var encoded = ByteBuffer()
        encoded.writeYamuxFrameHeader(frame.header)
        fuzzCheck(encoded.readableBytesView.elementsEqual(bytes[start..<(start + YamuxConstants.headerLength)]),
                  "\(frame.header) does not re-encode to its bytes")
    }
    return 0
}
