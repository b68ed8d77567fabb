import FuzzSupport
import Multistream
import NIOCore
import P2PCore

/// multistream-select framing and message parsing: the frame decoder over the whole input, each
/// body through `MultistreamMessage(decodingBody:)`, and `readMultistreamMessage` over the same
/// bytes, which must agree. A message that decodes must encode and decode back to itself, and a
/// refused message must leave the reader index where it was.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultistreamMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let limitChoice = input.byte()
    let maximumLength =
        limitChoice & 0x80 == 0 ? MultistreamFrameDecoder.maximumMessageLength : Int(limitChoice & 0x7f) + 1
    let bytes = input.rest()

    var decoder = MultistreamFrameDecoder(maximumLength: maximumLength)
    var framed = ByteBuffer(bytes: bytes)
    var messages = ByteBuffer(bytes: bytes)
    while true {
        let start = framed.readerIndex
        let body: ByteBuffer?
        do {
            body = try decoder.decodeLast(buffer: &framed, seenEOF: true)
        } catch {
            fuzzCheck(framed.readerIndex == start, "a refused frame moved the reader index")
            break
        }
        guard let body else { break }
        fuzzCheck(body.readableBytes < maximumLength, "a body of \(body.readableBytes) bytes passed the limit")

        let messageStart = messages.readerIndex
        let viaBuffer: MultistreamMessage?
        do {
            viaBuffer = try messages.readMultistreamMessage(maximumLength: maximumLength)
        } catch {
            fuzzCheck(messages.readerIndex == messageStart, "a refused message moved the reader index")
            viaBuffer = nil
        }
        let message = try? MultistreamMessage(decodingBody: body)
        fuzzCheck(viaBuffer == message, "readMultistreamMessage and the frame decoder disagree")
        guard let message else { break }

        var encoded = ByteBuffer()
        encoded.writeMultistreamMessage(message)
        let decoded = try? encoded.readMultistreamMessage(maximumLength: Int.max >> 1)
        fuzzCheck(decoded == message, "\(message) does not survive encoding")
        fuzzCheck(encoded.readableBytes == 0, "encoding of \(message) has trailing bytes")
    }
    return 0
}
