import NIOCore

/// A Noise SymmetricState (Noise §5.2): the chaining key, the handshake hash, and the handshake's
/// CipherState.
///
/// One AEAD context serves the whole handshake (re-keyed on each `MixKey`) and becomes the first
/// transport CipherState in ``split()``, so a handshake allocates two C contexts, not five.
struct NoiseSymmetricState {
    private let crypto: any NoiseCryptoProvider
    /// `h`: the hash of everything sent and received so far; the AD of every handshake message.
    private(set) var handshakeHash: NoiseBytes32
    /// `ck`.
    private var chainingKey: NoiseBytes32
    /// `k` and `n`; the key is empty until the first `MixKey`.
    private var cipher: NoiseCipherState

    /// `InitializeSymmetric(protocolName)`: `h` is the name zero-padded to 32 bytes, or its hash if
    /// longer; `ck = h`.
    init(protocolName: String, crypto: any NoiseCryptoProvider) {
        self.crypto = crypto
        let name = Array(protocolName.utf8)
        if name.count <= NoiseConstants.hashLength {
            var padded = NoiseBytes32()
            padded.withUnsafeMutableBytes { $0.copyBytes(from: name) }
            self.handshakeHash = padded
        } else {
            self.handshakeHash = name.withUnsafeBytes { crypto.sha256($0, UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
        self.chainingKey = self.handshakeHash
        self.cipher = NoiseCipherState()
    }

    /// Whether the handshake CipherState has a key: before the first `MixKey`, payloads travel in
    /// clear and carry no tag.
    var hasKey: Bool { self.cipher.hasKey }

    /// `MixHash(data)`: `h = SHA-256(h || data)`.
    mutating func mixHash(_ data: UnsafeRawBufferPointer) {
        let current = self.handshakeHash
        self.handshakeHash = current.withUnsafeBytes { self.crypto.sha256($0, data) }
    }

    /// `MixHash` of a 32-byte value (a public key).
    mutating func mixHash(_ value: NoiseBytes32) {
        value.withUnsafeBytes { self.mixHash($0) }
    }

    /// `MixKey(ikm)`: `(ck, k) = HKDF(ck, ikm)`, n = 0.
    mutating func mixKey(_ inputKeyMaterial: NoiseBytes32) throws {
        let (chainingKey, key) = inputKeyMaterial.withUnsafeBytes {
            self.crypto.hkdf(chainingKey: self.chainingKey, inputKeyMaterial: $0)
        }
        self.chainingKey = chainingKey
        try self.cipher.setKey(key, cryptoProvider: self.crypto)
    }

    /// The bytes `EncryptAndHash` adds for a plaintext of `length` bytes.
    func encryptedLength(plaintextLength length: Int) -> Int {
        self.hasKey ? length + NoiseConstants.tagLength : length
    }

    /// `EncryptAndHash(plaintext)`: appends the ciphertext to `output`, then mixes it into `h`.
    mutating func encryptAndHash(_ plaintext: UnsafeRawBufferPointer, appendingTo output: inout ByteBuffer) throws {
        let length = self.encryptedLength(plaintextLength: plaintext.count)
        let ad = self.handshakeHash
        try output.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { destination in
            let destination = UnsafeMutableRawBufferPointer(rebasing: destination.prefix(length))
            if self.cipher.hasKey {
                try ad.withUnsafeBytes { ad in
                    try self.cipher.seal(authenticating: ad, plaintext: plaintext, into: destination)
                }
            } else if length > 0 {
                destination.copyMemory(from: plaintext)
            }
            self.mixHash(UnsafeRawBufferPointer(destination))
            return length
        }
    }

    /// `DecryptAndHash(ciphertext)` into `output`, which must hold `ciphertext.count - 16` bytes
    /// (all of it while the key is empty). Returns the plaintext length. `h` absorbs the ciphertext.
    /// - Throws: ``NoiseError/Code/decryptionFailed`` on a bad tag.
    mutating func decryptAndHash(
        _ ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        let ad = self.handshakeHash
        let length: Int
        if self.cipher.hasKey {
            guard ciphertext.count >= NoiseConstants.tagLength else {
                throw NoiseError.truncatedMessage("encrypted handshake field", length: ciphertext.count, minimum: NoiseConstants.tagLength)
            }
            length = ciphertext.count - NoiseConstants.tagLength
            try ad.withUnsafeBytes { ad in
                try self.cipher.open(authenticating: ad, ciphertext: ciphertext, into: output)
            }
        } else {
            length = ciphertext.count
            if length > 0 { output.copyMemory(from: ciphertext) }
        }
        self.mixHash(ciphertext)
        return length
    }

    /// `Split()`: `(k1, k2) = HKDF(ck, empty)`. k1 encrypts initiator→responder, k2 the other way
    /// (docs/wire.md §4.2). Consumes the handshake CipherState: its context is re-keyed with k1.
    mutating func split() throws -> (initiatorToResponder: NoiseCipherState, responderToInitiator: NoiseCipherState) {
        let (key1, key2) = self.crypto.hkdf(
            chainingKey: self.chainingKey,
            inputKeyMaterial: UnsafeRawBufferPointer(start: nil, count: 0)
        )
        var first = self.cipher
        self.cipher = NoiseCipherState()
        try first.setKey(key1, cryptoProvider: self.crypto)
        let second = try NoiseCipherState(key: key2, cryptoProvider: self.crypto)
        return (first, second)
    }
}
