/// The cryptographic primitives of `Noise_XX_25519_ChaChaPoly_SHA256` (Noise §4, §12), behind one
/// protocol so the fastest library for each can be chosen and benchmarked against the others.
///
/// ``NoiseDefaultCryptoProvider`` is the choice for this machine: libsodium for X25519, OpenSSL for
/// SHA-256 and HMAC, and for ChaCha20-Poly1305 libsodium below 576 B and OpenSSL from 576 B up
/// (``HybridChaChaPoly``; see their documentation for the measurements).
///
/// Signing and verifying the identity signature (docs/wire.md §4.3) are deliberately not here. They
/// are not a primitive of `Noise_XX_25519_ChaChaPoly_SHA256`: the signature is made with the libp2p
/// identity key, which may be Ed25519, secp256k1, ECDSA or RSA, and TLS signs its certificate key
/// with the same key. `IdentityPrivateKey` / `IdentityPublicKey` (P2PCore) therefore own all four
/// schemes, Ed25519 already on the fastest library here (libsodium); an Ed25519-only hook in this
/// protocol would cover one key type of four and split one job between two modules.
///
/// ### Invariants
/// - Every byte range handed in is read or written only during the call.
/// - Implementations hold no mutable shared state: one provider serves all connections.
public protocol NoiseCryptoProvider: Sendable {
    /// A new key pair with a fresh random private key.
    func generateX25519KeyPair() throws -> NoiseX25519KeyPair

    /// The key pair for a given private key (test vectors inject their keys this way).
    func x25519KeyPair(privateKey: NoiseBytes32) throws -> NoiseX25519KeyPair

    /// `DH(privateKey, publicKey)` (Noise §12.1).
    /// - Throws: ``NoiseError/Code/lowOrderPublicKey`` when the shared secret is all zeros.
    func x25519(privateKey: NoiseBytes32, publicKey: NoiseBytes32) throws -> NoiseBytes32

    /// `SHA-256(first || second)`; Noise's `MixHash` hashes the handshake hash and new data.
    func sha256(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> NoiseBytes32

    /// `HMAC-SHA256(key, data)` (RFC 2104) with a 32-byte key, the only key size Noise uses.
    func hmacSHA256(key: NoiseBytes32, _ data: UnsafeRawBufferPointer) -> NoiseBytes32

    /// Noise's `HKDF(chainingKey, inputKeyMaterial)` with two outputs (Noise §4.3):
    /// `t = HMAC(ck, ikm)`, `o1 = HMAC(t, 0x01)`, `o2 = HMAC(t, o1 || 0x02)`.
    func hkdf(chainingKey: NoiseBytes32, inputKeyMaterial: UnsafeRawBufferPointer) -> (NoiseBytes32, NoiseBytes32)

    /// A ChaCha20-Poly1305 context holding `key`, ready for any number of messages.
    func makeAEAD(key: NoiseBytes32) throws -> any NoiseAEAD
}

/// ChaCha20-Poly1305 with one key (RFC 8439 as Noise uses it, Noise §12.3): the nonce is 32 zero bits
/// followed by the 64-bit little-endian counter.
///
/// A context is owned by one connection direction (or one handshake) and is not thread-safe; it is a
/// class because the C contexts behind it must be freed exactly once.
public protocol NoiseAEAD: AnyObject {
    /// Replaces the key; the handshake re-keys one context on every `MixKey`.
    func setKey(_ key: NoiseBytes32) throws

    /// Encrypts `plaintext` and appends the tag: `output` receives `plaintext.count + 16` bytes.
    /// `output.baseAddress` may equal `plaintext.baseAddress` (encryption in place); no other overlap.
    func seal(
        nonce: UInt64,
        authenticating ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws

    /// Checks the tag at the end of `ciphertext` and decrypts the rest into `output`
    /// (`ciphertext.count - 16` bytes). `output.baseAddress` may equal `ciphertext.baseAddress`.
    /// - Throws: ``NoiseError/Code/decryptionFailed`` when the tag does not verify; `output` then holds
    ///   no usable bytes.
    func open(
        nonce: UInt64,
        authenticating ad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws
}

extension NoiseCryptoProvider {
    /// HKDF built from ``hmacSHA256(key:_:)``, for providers without a faster one.
    public func hkdfFromHMAC(
        chainingKey: NoiseBytes32,
        inputKeyMaterial: UnsafeRawBufferPointer
    ) -> (NoiseBytes32, NoiseBytes32) {
        let temporaryKey = self.hmacSHA256(key: chainingKey, inputKeyMaterial)
        var one: UInt8 = 0x01
        let output1 = Swift.withUnsafeBytes(of: &one) { self.hmacSHA256(key: temporaryKey, $0) }
        // o1 || 0x02 is 33 bytes: build it on the stack.
        var block: (NoiseBytes32, UInt64) = (output1, 0)
        let output2 = Swift.withUnsafeMutableBytes(of: &block) { raw in
            raw.storeBytes(of: UInt8(0x02), toByteOffset: 32, as: UInt8.self)
            return self.hmacSHA256(key: temporaryKey, UnsafeRawBufferPointer(rebasing: raw.prefix(33)))
        }
        return (output1, output2)
    }
}

/// Calls `body` with the 12-byte ChaCha20-Poly1305 nonce for counter `n`: 4 zero bytes, then `n`
/// little-endian (Noise §12.3). The bytes live on the stack.
@inlinable
func withNoiseNonce<Result>(_ counter: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
    var storage: (UInt64, UInt64) = (0, 0)
    return try Swift.withUnsafeMutableBytes(of: &storage) { raw in
        raw.storeBytes(of: counter.littleEndian, toByteOffset: 4, as: UInt64.self)
        return try body(UnsafeRawBufferPointer(rebasing: raw.prefix(12)))
    }
}
