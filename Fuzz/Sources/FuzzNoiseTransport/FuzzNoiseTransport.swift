import FuzzSupport
import NIOCore
import Noise

/// Noise transport messages: the frame decoder and the three decrypting readers of
/// `NoiseTransportCipher`, fed by a script. Operations append honestly encrypted frames (the
/// sender shares the receiver's key), raw bytes, or flip a bit of the bytes in flight; others make
/// the receiver read with one of its methods, or move both nonces near the end of their range.
/// While nothing was tampered with, the receiver must return exactly what was sent, in order.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNoiseTransport(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let key = NoiseBytes32([UInt8](repeating: 0x42, count: 32))!
    // Constant keys and a default provider: failing here is a broken build, not a finding.
    var sender = try! NoiseTransportCipher(sending: NoiseCipherState(key: key), receiving: NoiseCipherState(key: key))
    var receiver = try! NoiseTransportCipher(sending: NoiseCipherState(key: key), receiving: NoiseCipherState(key: key))
    var decoder = NoiseFrameDecoder()
    var wire = ByteBuffer()
    var sent = ByteBuffer()
    var received = ByteBuffer()
    var tampered = false

    while !input.isEmpty {
        let operation = input.byte()
        switch operation % 8 {
        case 0, 1:
            // Plaintext of any length; long ones are split into several frames.
            let length = Int(input.uint16() % 2048) * (operation % 8 == 1 ? 64 : 1)
            var plaintext = ByteBuffer(repeating: operation, count: length)
            sent.writeBuffer(&plaintext)
            guard (try? sender.encryptFrames(ByteBuffer(repeating: operation, count: length), into: &wire)) != nil
            else { return 0 }
        case 2:
            wire.writeBytes(input.chunk())
            tampered = true
        case 3:
            let position = Int(input.uint16())
            let bit = input.byte() % 8
            if wire.readableBytes > 0 {
                let index = wire.readerIndex + position % wire.readableBytes
                let byte = wire.getInteger(at: index, as: UInt8.self) ?? 0
                wire.setInteger(byte ^ (1 << bit), at: index)
                tampered = true
            }
        case 4:
            do {
                while let plaintext = try receiver.decryptFrameInPlace(from: &wire) {
                    var plaintext = plaintext
                    received.writeBuffer(&plaintext)
                }
            } catch {
                fuzzCheck(tampered, "an untampered frame failed: \(error)")
                return 0
            }
        case 5:
            do {
                while try receiver.decryptFrame(from: &wire, appendingPlaintextTo: &received) {}
            } catch {
                fuzzCheck(tampered, "an untampered frame failed: \(error)")
                return 0
            }
        case 6:
            do {
                while let message = try decoder.decode(buffer: &wire) {
                    try receiver.decryptMessage(message, appendingPlaintextTo: &received)
                }
                if input.byte() & 1 == 1 { _ = try decoder.decodeLast(buffer: &wire, seenEOF: true) }
            } catch {
                fuzzCheck(tampered, "an untampered frame failed: \(error)")
                return 0
            }
        default:
            // Near the nonce limit (2^64 - 1 is reserved): the ciphers must refuse, not wrap.
            let nonce = UInt64.max - UInt64(input.byte() % 4)
            guard wire.readableBytes == 0 else { break }
            sender.sending.setNonce(nonce)
            receiver.receiving.setNonce(nonce)
        }
        if !tampered {
            let prefix = sent.getSlice(at: sent.readerIndex, length: received.readableBytes)
            fuzzCheck(prefix == received, "received bytes differ from the bytes sent")
        }
    }
    return 0
}
