import NIOCore

/// The transport phase of a Noise connection (docs/wire.md §4.4, §4.5): one CipherState per
/// direction, 2-byte length framing, no associated data, plaintext split at 65519 bytes.
///
/// Encryption writes length prefix, ciphertext and tag straight into the output buffer, and
/// decryption works in place in the received buffer: once the buffers have grown to their working
/// size, neither allocates.
///
/// ### Invariants
/// - A frame is at most 65535 bytes after the prefix and at least 16 (the tag).
/// - Each direction's nonce counts the frames sent or received, from 0, and never reaches 2^64−1:
///   the call that would use it throws ``NoiseError/Code/nonceExhausted`` and the connection must end.
public struct NoiseTransportCipher {
    /// Encrypts what this side sends (c1 for the initiator, c2 for the responder).
    public var sending: NoiseCipherState
    /// Decrypts what the peer sends.
    public var receiving: NoiseCipherState

    /// A transport cipher from the two CipherStates that `Split()` produced, assigned for this side.
    public init(sending: NoiseCipherState, receiving: NoiseCipherState) {
        self.sending = sending
        self.receiving = receiving
    }

    /// The bytes ``encryptFrames(_:into:)`` writes for `plaintextLength` bytes of plaintext.
    public static func framedLength(plaintextLength: Int) -> Int {
        let frames = (plaintextLength + NoiseConstants.maximumPlaintextLength - 1) / NoiseConstants.maximumPlaintextLength
        return plaintextLength + frames * (NoiseConstants.lengthPrefixLength + NoiseConstants.tagLength)
    }

    // MARK: - Encrypt and frame

    /// Encrypts the readable bytes of `plaintext` into frames of at most 65519 plaintext bytes and
    /// appends them to `output` (``framedLength(plaintextLength:)`` bytes). Empty plaintext writes
    /// nothing. `plaintext` is not changed.
    ///
    /// Writes into `output`'s storage directly: with enough capacity and a uniquely referenced
    /// `output`, it allocates nothing.
    /// - Throws: ``NoiseError/Code/nonceExhausted``; frames before the failing one stay in `output`.
    public mutating func encryptFrames(_ plaintext: ByteBuffer, into output: inout ByteBuffer) throws {
        let total = plaintext.readableBytes
        guard total > 0 else { return }
        output.reserveCapacity(minimumWritableBytes: Self.framedLength(plaintextLength: total))
        try plaintext.withUnsafeReadableBytes { source in
            var offset = 0
            while offset < total {
                let chunk = min(total - offset, NoiseConstants.maximumPlaintextLength)
                let messageLength = chunk + NoiseConstants.tagLength
                try output.writeWithUnsafeMutableBytes(minimumWritableBytes: NoiseConstants.lengthPrefixLength + messageLength) {
                    destination in
                    destination.storeBytes(of: UInt16(messageLength).bigEndian, toByteOffset: 0, as: UInt16.self)
                    try self.sending.seal(
                        authenticating: UnsafeRawBufferPointer(start: nil, count: 0),
                        plaintext: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + chunk)]),
                        into: UnsafeMutableRawBufferPointer(
                            rebasing: destination[NoiseConstants.lengthPrefixLength..<(NoiseConstants.lengthPrefixLength + messageLength)]
                        )
                    )
                    return NoiseConstants.lengthPrefixLength + messageLength
                }
                offset += chunk
            }
        }
    }

    // MARK: - Deframe and decrypt

    /// Decrypts the first whole frame of `buffer` in place and returns its plaintext as a slice of
    /// `buffer`, whose reader index moves past the frame; `nil`, with `buffer` unchanged, when the
    /// frame is not complete yet.
    ///
    /// In place means in `buffer`'s storage: when that storage is shared (another `ByteBuffer`
    /// still refers to it), NIO copies it first. Use ``decryptFrame(from:appendingPlaintextTo:)``
    /// for a buffer this code does not own.
    /// - Throws: ``NoiseError/Code/frameTooShort``, ``NoiseError/Code/decryptionFailed``,
    ///   ``NoiseError/Code/nonceExhausted``.
    public mutating func decryptFrameInPlace(from buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self).map(Int.init),
            buffer.readableBytes >= NoiseConstants.lengthPrefixLength + length
        else { return nil }
        guard length >= NoiseConstants.tagLength else { throw NoiseError.frameTooShort(length: length) }
        try buffer.withUnsafeMutableReadableBytes { bytes in
            let message = UnsafeMutableRawBufferPointer(
                rebasing: bytes[NoiseConstants.lengthPrefixLength..<(NoiseConstants.lengthPrefixLength + length)]
            )
            try self.receiving.open(
                authenticating: UnsafeRawBufferPointer(start: nil, count: 0),
                ciphertext: UnsafeRawBufferPointer(message),
                into: message
            )
        }
        buffer.moveReaderIndex(forwardBy: NoiseConstants.lengthPrefixLength)
        let plaintext = buffer.readSlice(length: length - NoiseConstants.tagLength)
        buffer.moveReaderIndex(forwardBy: NoiseConstants.tagLength)
        return plaintext
    }

    /// Decrypts the first whole frame of `buffer` into `output` (appended), leaving `buffer`'s bytes
    /// untouched; returns `false`, with nothing consumed, when the frame is not complete yet.
    /// - Throws: as ``decryptFrameInPlace(from:)``.
    public mutating func decryptFrame(from buffer: inout ByteBuffer, appendingPlaintextTo output: inout ByteBuffer) throws -> Bool {
        guard let message = NoiseFrameDecoder.readFrame(from: &buffer) else { return false }
        try self.decryptMessage(message, appendingPlaintextTo: &output)
        return true
    }

    /// Decrypts one Noise transport message (without its length prefix) and appends the plaintext
    /// to `output`.
    /// - Throws: ``NoiseError/Code/frameTooShort``, ``NoiseError/Code/decryptionFailed``,
    ///   ``NoiseError/Code/nonceExhausted``.
    public mutating func decryptMessage(_ message: ByteBuffer, appendingPlaintextTo output: inout ByteBuffer) throws {
        let length = message.readableBytes
        guard length >= NoiseConstants.tagLength else { throw NoiseError.frameTooShort(length: length) }
        let plaintextLength = length - NoiseConstants.tagLength
        _ = try message.withUnsafeReadableBytes { ciphertext in
            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: plaintextLength) { destination in
                try self.receiving.open(
                    authenticating: UnsafeRawBufferPointer(start: nil, count: 0),
                    ciphertext: ciphertext,
                    into: UnsafeMutableRawBufferPointer(rebasing: destination.prefix(plaintextLength))
                )
                return plaintextLength
            }
        }
    }
}
