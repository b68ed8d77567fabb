/// A Noise CipherState (Noise §5.1): a ChaCha20-Poly1305 key and a 64-bit message counter.
///
/// After the handshake each direction has its own, with the nonce starting at 0 (docs/wire.md §4.5).
/// libp2p never re-keys; the nonce must not reach 2^64−1, so the 2^64−1st message in a direction
/// fails with ``NoiseError/Code/nonceExhausted`` and the connection must be closed.
///
/// The value holds a reference to its C context: a copy shares the key but keeps its own nonce,
/// which is safe because every message sets the nonce afresh. It is not thread-safe.
public struct NoiseCipherState {
    /// `nil` while the key is empty: before the first `MixKey` of a handshake.
    @usableFromInline
    var aead: (any NoiseAEAD)?

    /// The counter `n` that the next message uses.
    public private(set) var nonce: UInt64

    /// A CipherState with `key` and counter `nonce` (Noise `InitializeKey`, then `SetNonce`).
    /// - Throws: ``NoiseError/Code/cryptoFailure`` when the crypto library cannot make a context.
    public init(
        key: NoiseBytes32,
        nonce: UInt64 = 0,
        cryptoProvider: any NoiseCryptoProvider = NoiseDefaultCryptoProvider()
    ) throws {
        self.aead = try cryptoProvider.makeAEAD(key: key)
        self.nonce = nonce
    }

    /// A CipherState around an existing context (for ``NoiseSymmetricState/split()``).
    init(aead: any NoiseAEAD) {
        self.aead = aead
        self.nonce = 0
    }

    /// A CipherState with an empty key: Encrypt and Decrypt pass bytes through (Noise §5.1).
    init() {
        self.aead = nil
        self.nonce = 0
    }

    /// Whether a key is set (Noise `HasKey`).
    public var hasKey: Bool { self.aead != nil }

    /// Noise `SetNonce`. libp2p never needs it on a live connection; tests and benchmarks use it to
    /// replay a message or to start near the nonce limit.
    public mutating func setNonce(_ nonce: UInt64) { self.nonce = nonce }

    /// Replaces the key and resets the nonce (`MixKey` during the handshake), reusing the context.
    mutating func setKey(_ key: NoiseBytes32, cryptoProvider: any NoiseCryptoProvider) throws {
        if let aead = self.aead {
            try aead.setKey(key)
        } else {
            self.aead = try cryptoProvider.makeAEAD(key: key)
        }
        self.nonce = 0
    }

    /// `EncryptWithAd(ad, plaintext)` into `output` (`plaintext.count + 16` bytes), then n += 1.
    /// `output` may start where `plaintext` starts (in place). The key must be set.
    mutating func seal(
        authenticating ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        guard self.nonce != NoiseConstants.reservedNonce else { throw NoiseError.nonceExhausted() }
        guard let aead = self.aead else { preconditionFailure("NoiseCipherState.seal without a key") }
        try aead.seal(nonce: self.nonce, authenticating: ad, plaintext: plaintext, into: output)
        self.nonce &+= 1
    }

    /// `DecryptWithAd(ad, ciphertext)` into `output` (`ciphertext.count - 16` bytes), then n += 1.
    /// `output` may start where `ciphertext` starts (in place). The key must be set.
    mutating func open(
        authenticating ad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        guard self.nonce != NoiseConstants.reservedNonce else { throw NoiseError.nonceExhausted() }
        guard let aead = self.aead else { preconditionFailure("NoiseCipherState.open without a key") }
        try aead.open(nonce: self.nonce, authenticating: ad, ciphertext: ciphertext, into: output)
        self.nonce &+= 1
    }
}
