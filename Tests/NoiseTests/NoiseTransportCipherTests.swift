import NIOCore
import NIOTestUtils
import P2PCore
import TestSupport
import Testing

@testable import Noise

@Suite("Noise transport cipher and framing")
struct NoiseTransportCipherTests {
    /// A connected pair of transport ciphers with fixed keys.
    static func pair(
        crypto: any NoiseCryptoProvider = NoiseDefaultCryptoProvider()
    ) throws -> (NoiseTransportCipher, NoiseTransportCipher) {
        let key1 = try #require(NoiseBytes32([UInt8](repeating: 1, count: 32)))
        let key2 = try #require(NoiseBytes32([UInt8](repeating: 2, count: 32)))
        let initiator = NoiseTransportCipher(
            sending: try NoiseCipherState(key: key1, cryptoProvider: crypto),
            receiving: try NoiseCipherState(key: key2, cryptoProvider: crypto)
        )
        let responder = NoiseTransportCipher(
            sending: try NoiseCipherState(key: key2, cryptoProvider: crypto),
            receiving: try NoiseCipherState(key: key1, cryptoProvider: crypto)
        )
        return (initiator, responder)
    }

    static func plaintext(_ count: Int) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
    }

    @Test("plaintext is split at 65519 bytes; every frame decrypts, in place and into a buffer",
          arguments: [1, 64, 65518, 65519, 65520, 2 * 65519, 200_000])
    func chunkingRoundTrip(size: Int) throws {
        var (sender, receiver) = try Self.pair()
        let plaintext = Self.plaintext(size)
        var frames = ByteBuffer()
        try sender.encryptFrames(plaintext, into: &frames)
        #expect(frames.readableBytes == NoiseTransportCipher.framedLength(plaintextLength: size))
        let expectedFrames = (size + 65518) / 65519
        #expect(sender.sending.nonce == UInt64(expectedFrames))

        // Every frame is at most 2 + 65535 bytes, and all but the last carry exactly 65519 bytes.
        var lengths: [Int] = []
        var copy = frames
        while let message = NoiseFrameDecoder.readFrame(from: &copy) { lengths.append(message.readableBytes) }
        #expect(lengths.count == expectedFrames)
        #expect(lengths.dropLast().allSatisfy { $0 == NoiseConstants.maximumMessageLength })
        #expect(lengths.allSatisfy { $0 <= NoiseConstants.maximumMessageLength && $0 > NoiseConstants.tagLength })

        var outOfPlace = frames
        var receiverCopy = receiver
        var decrypted = ByteBuffer()
        while try receiverCopy.decryptFrame(from: &outOfPlace, appendingPlaintextTo: &decrypted) {}
        #expect(decrypted == plaintext)
        #expect(frames.readableBytes > 0, "out-of-place decryption left the input alone")

        var inPlace = ByteBuffer()
        while let chunk = try receiver.decryptFrameInPlace(from: &frames) { inPlace.writeImmutableBuffer(chunk) }
        #expect(inPlace == plaintext)
        #expect(frames.readableBytes == 0)
    }

    @Test("empty plaintext writes no frame")
    func emptyPlaintextWritesNothing() throws {
        var (sender, _) = try Self.pair()
        var frames = ByteBuffer()
        try sender.encryptFrames(ByteBuffer(), into: &frames)
        #expect(frames.readableBytes == 0)
        #expect(sender.sending.nonce == 0)
    }

    @Test("an empty frame (16 bytes, only the tag) is legal")
    func emptyFrameIsLegal() throws {
        var (sender, receiver) = try Self.pair()
        var frame = ByteBuffer()
        frame.writeInteger(UInt16(16))
        try frame.writeWithUnsafeMutableBytes(minimumWritableBytes: 16) { out in
            try sender.sending.seal(
                authenticating: UnsafeRawBufferPointer(start: nil, count: 0),
                plaintext: UnsafeRawBufferPointer(start: nil, count: 0),
                into: out
            )
            return 16
        }
        let plaintext = try receiver.decryptFrameInPlace(from: &frame)
        #expect(plaintext?.readableBytes == 0)
        #expect(receiver.receiving.nonce == 1)
    }

    @Test("frames arriving one byte at a time decrypt only when whole")
    func dripFeed() throws {
        var (sender, receiver) = try Self.pair()
        var frames = ByteBuffer()
        try sender.encryptFrames(ByteBuffer(string: "first"), into: &frames)
        try sender.encryptFrames(ByteBuffer(string: "second"), into: &frames)
        var input = ByteBuffer()
        var output: [String] = []
        while let byte = frames.readInteger(as: UInt8.self) {
            input.writeInteger(byte)
            if let plaintext = try receiver.decryptFrameInPlace(from: &input) {
                output.append(String(buffer: plaintext))
            }
        }
        #expect(output == ["first", "second"])
    }

    @Test("frame too short: a transport message under 16 bytes")
    func frameTooShort() throws {
        var (_, receiver) = try Self.pair()
        var frame = ByteBuffer(bytes: [0x00, 0x0f] + [UInt8](repeating: 0, count: 15))
        expectNoiseError(.frameTooShort) { try receiver.decryptFrameInPlace(from: &frame) }
        var frame2 = ByteBuffer(bytes: [0x00, 0x00])
        var output = ByteBuffer()
        expectNoiseError(.frameTooShort) { try receiver.decryptFrame(from: &frame2, appendingPlaintextTo: &output) }
    }

    @Test("decryption failure: a flipped bit in a transport frame")
    func decryptionFailure() throws {
        var (sender, receiver) = try Self.pair()
        var frames = ByteBuffer()
        try sender.encryptFrames(ByteBuffer(string: "attack at dawn"), into: &frames)
        frames.setInteger(frames.getInteger(at: 4, as: UInt8.self)! ^ 0x04, at: 4)
        expectNoiseError(.decryptionFailed) { try receiver.decryptFrameInPlace(from: &frames) }
    }

    @Test("decryption failure: a replayed frame (wrong nonce)")
    func replayedFrame() throws {
        var (sender, receiver) = try Self.pair()
        var frames = ByteBuffer()
        try sender.encryptFrames(ByteBuffer(string: "once"), into: &frames)
        var replay = frames
        var output = ByteBuffer()
        #expect(try receiver.decryptFrame(from: &frames, appendingPlaintextTo: &output))
        expectNoiseError(.decryptionFailed) { try receiver.decryptFrame(from: &replay, appendingPlaintextTo: &output) }
    }

    @Test("nonce exhausted: the sender stops before nonce 2^64-1")
    func sendingNonceExhausted() throws {
        var (sender, receiver) = try Self.pair()
        sender.sending.setNonce(.max - 1)
        receiver.receiving.setNonce(.max - 1)
        var frames = ByteBuffer()
        try sender.encryptFrames(ByteBuffer(string: "last"), into: &frames)
        #expect(try receiver.decryptFrameInPlace(from: &frames) == ByteBuffer(string: "last"))
        expectNoiseError(.nonceExhausted) { try sender.encryptFrames(ByteBuffer(string: "one too many"), into: &frames) }
        #expect(frames.readableBytes == 0)
    }

    @Test("nonce exhausted: the receiver stops before nonce 2^64-1")
    func receivingNonceExhausted() throws {
        var (sender, receiver) = try Self.pair()
        sender.sending.setNonce(.max - 1)
        receiver.receiving.setNonce(.max)
        var frames = ByteBuffer()
        try sender.encryptFrames(ByteBuffer(string: "x"), into: &frames)
        expectNoiseError(.nonceExhausted) { try receiver.decryptFrameInPlace(from: &frames) }
    }

    @Test("OpenSSL and libsodium ciphers interoperate")
    func providersInteroperate() throws {
        var (openSSLSender, _) = try Self.pair(crypto: NoiseDefaultCryptoProvider())
        var (_, sodiumReceiver) = try Self.pair(crypto: NoiseSodiumCryptoProvider())
        var frames = ByteBuffer()
        let plaintext = Self.plaintext(100_000)
        try openSSLSender.encryptFrames(plaintext, into: &frames)
        var decrypted = ByteBuffer()
        while try sodiumReceiver.decryptFrame(from: &frames, appendingPlaintextTo: &decrypted) {}
        #expect(decrypted == plaintext)
    }

    // MARK: - Frame decoder

    @Test("the frame decoder passes NIO's ByteToMessageDecoderVerifier")
    func frameDecoderVerifier() throws {
        let messages = [ByteBuffer(string: "a"), ByteBuffer(), Self.plaintext(300), Self.plaintext(1500)]
        let pairs = messages.map { message -> (ByteBuffer, [ByteBuffer]) in
            var frame = ByteBuffer()
            _ = try? frame.writeNoiseFrame(message)
            return (frame, [message])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            NoiseFrameDecoder()
        }
    }

    @Test("truncated frame: the stream ends inside a frame")
    func truncatedFrameAtEnd() throws {
        var decoder = NoiseFrameDecoder()
        var buffer = ByteBuffer(bytes: [0x00, 0x10, 0x01, 0x02])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        expectNoiseError(.truncatedFrame) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
    }

    @Test("oversize message: framing refuses more than 65535 bytes")
    func oversizeFrame() throws {
        var frame = ByteBuffer()
        expectNoiseError(.messageTooLarge) { try frame.writeNoiseFrame(Self.plaintext(65536)) }
        #expect(frame.readableBytes == 0)
    }
}

@Suite("Noise crypto providers")
struct NoiseCryptoProviderTests {
    static let providers: [any NoiseCryptoProvider] = [NoiseDefaultCryptoProvider(), NoiseSodiumCryptoProvider()]

    @Test("X25519 all-zero shared secret: low-order public keys are refused", arguments: [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ])
    func lowOrderPoints(pointHex: String) throws {
        let point = try #require(NoiseBytes32(try [UInt8](hex: pointHex)))
        for crypto in Self.providers {
            let keyPair = try crypto.generateX25519KeyPair()
            expectNoiseError(.lowOrderPublicKey) { try crypto.x25519(privateKey: keyPair.privateKey, publicKey: point) }
        }
    }

    @Test("X25519: RFC 7748 §6.1 Diffie-Hellman vector")
    func x25519Vector() throws {
        let alicePrivate = try #require(NoiseBytes32(try [UInt8](hex: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
        let bobPublic = try #require(NoiseBytes32(try [UInt8](hex: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")))
        for crypto in Self.providers {
            #expect(try crypto.x25519KeyPair(privateKey: alicePrivate).publicKey.description
                == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
            #expect(try crypto.x25519(privateKey: alicePrivate, publicKey: bobPublic).description
                == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        }
    }

    @Test("SHA-256, HMAC and HKDF agree between OpenSSL and libsodium, and SHA-256 matches FIPS 180-2")
    func hashesAgree() throws {
        let abc = Array("abc".utf8)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        for crypto in Self.providers {
            #expect(abc.withUnsafeBytes { crypto.sha256($0, empty) }.description
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            // Split input gives the same digest.
            #expect(Array("ab".utf8).withUnsafeBytes { ab in Array("c".utf8).withUnsafeBytes { crypto.sha256(ab, $0) } }.description
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        }
        let key = try #require(NoiseBytes32((0..<32).map { UInt8($0) }))
        for length in [0, 1, 32, 33, 64, 65, 200] {
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let results = Self.providers.map { crypto in data.withUnsafeBytes { crypto.hmacSHA256(key: key, $0) } }
            #expect(results[0] == results[1], "HMAC, \(length) bytes")
            let hkdfs = Self.providers.map { crypto in data.withUnsafeBytes { crypto.hkdf(chainingKey: key, inputKeyMaterial: $0) } }
            #expect(hkdfs[0].0 == hkdfs[1].0 && hkdfs[0].1 == hkdfs[1].1, "HKDF, \(length) bytes")
        }
    }

    @Test("HMAC-SHA256: RFC 4231 test case 6 shape with a 32-byte key, checked against libsodium's one-shot HMAC")
    func hmacAgainstOneShot() throws {
        // libsodium's crypto_auth_hmacsha256 state API is the reference here; OpenSSL's is hand-built.
        let key = try #require(NoiseBytes32([UInt8](repeating: 0xaa, count: 32)))
        let data = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        let openSSL = data.withUnsafeBytes { NoiseDefaultCryptoProvider().hmacSHA256(key: key, $0) }
        let sodium = data.withUnsafeBytes { NoiseSodiumCryptoProvider().hmacSHA256(key: key, $0) }
        #expect(openSSL == sodium)
    }

    @Test("ChaCha20-Poly1305: both libraries give the same bytes, in place and out of place; bad tags fail")
    func aeadAgree() throws {
        let key = try #require(NoiseBytes32((0..<32).map { UInt8($0 * 3) }))
        let ciphers: [any NoiseAEAD] = [try OpenSSLChaChaPoly(key: key), try SodiumChaChaPoly(key: key), try HybridChaChaPoly(key: key)]
        let ad = Array("associated".utf8)
        for length in [0, 1, 15, 16, 17, 1000, 65519] {
            let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 13) }
            var outputs: [[UInt8]] = []
            for cipher in ciphers {
                var sealed = [UInt8](repeating: 0, count: length + 16)
                try plaintext.withUnsafeBytes { p in
                    try ad.withUnsafeBytes { a in
                        try sealed.withUnsafeMutableBytes { try cipher.seal(nonce: 5, authenticating: a, plaintext: p, into: $0) }
                    }
                }
                // In place: the same bytes.
                var inPlace = plaintext + [UInt8](repeating: 0, count: 16)
                try ad.withUnsafeBytes { a in
                    try inPlace.withUnsafeMutableBytes { buffer in
                        try cipher.seal(nonce: 5, authenticating: a, plaintext: UnsafeRawBufferPointer(rebasing: buffer.prefix(length)), into: buffer)
                    }
                }
                #expect(inPlace == sealed)
                outputs.append(sealed)
            }
            #expect(outputs.allSatisfy { $0 == outputs[0] }, "\(length) bytes")
            for cipher in ciphers {
                var opened = outputs[0]
                try ad.withUnsafeBytes { a in
                    try opened.withUnsafeMutableBytes { buffer in
                        try cipher.open(nonce: 5, authenticating: a, ciphertext: UnsafeRawBufferPointer(buffer), into: buffer)
                    }
                }
                #expect(Array(opened.prefix(length)) == plaintext)
                var tampered = outputs[0]
                tampered[tampered.count - 1] ^= 1
                expectNoiseError(.decryptionFailed) {
                    try ad.withUnsafeBytes { a in
                        try tampered.withUnsafeMutableBytes { buffer in
                            try cipher.open(nonce: 5, authenticating: a, ciphertext: UnsafeRawBufferPointer(buffer), into: buffer)
                        }
                    }
                }
                expectNoiseError(.decryptionFailed) {
                    var copy = outputs[0]
                    try ad.withUnsafeBytes { a in
                        try copy.withUnsafeMutableBytes { buffer in
                            try cipher.open(nonce: 6, authenticating: a, ciphertext: UnsafeRawBufferPointer(buffer), into: buffer)
                        }
                    }
                }
            }
        }
    }
}
