/// The fastest primitive of each kind on this machine (docs/machine.md, re-measured by
/// `Benchmarks/NoiseBenchmarks` in the same run as the Noise code):
///
/// | primitive | library | why |
/// |---|---|---|
/// | X25519 key pair and exchange | libsodium | 28 / 30 µs against OpenSSL's 34 µs |
/// | SHA-256, HMAC, HKDF | OpenSSL (SHA-NI) | 3× faster than libsodium 1.0.18 |
/// | ChaCha20-Poly1305 | libsodium below 576 B, OpenSSL EVP above (``HybridChaChaPoly``) | libsodium's fixed cost per call is lower; OpenSSL is 1.4× faster at 1 KiB, 2.3× from 16 KiB up |
///
/// Ed25519 signing and verification belong to the identity key (`P2PCore`), which uses libsodium.
public struct NoiseDefaultCryptoProvider: NoiseCryptoProvider {
    /// The provider; it holds no state.
    public init() {}

    public func generateX25519KeyPair() throws -> NoiseX25519KeyPair {
        try SodiumCrypto.generateX25519KeyPair()
    }

    public func x25519KeyPair(privateKey: NoiseBytes32) throws -> NoiseX25519KeyPair {
        try SodiumCrypto.x25519KeyPair(privateKey: privateKey)
    }

    public func x25519(privateKey: NoiseBytes32, publicKey: NoiseBytes32) throws -> NoiseBytes32 {
        try SodiumCrypto.x25519(privateKey: privateKey, publicKey: publicKey)
    }

    public func sha256(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> NoiseBytes32 {
        OpenSSLSHA256.hash(first, second)
    }

    public func hmacSHA256(key: NoiseBytes32, _ data: UnsafeRawBufferPointer) -> NoiseBytes32 {
        OpenSSLSHA256.hmac(key: key, data)
    }

    public func hkdf(chainingKey: NoiseBytes32, inputKeyMaterial: UnsafeRawBufferPointer) -> (NoiseBytes32, NoiseBytes32) {
        OpenSSLSHA256.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial)
    }

    public func makeAEAD(key: NoiseBytes32) throws -> any NoiseAEAD {
        try HybridChaChaPoly(key: key)
    }
}

/// Every primitive from libsodium 1.0.18: the comparison point for ``NoiseDefaultCryptoProvider``
/// in benchmarks, and a second implementation the test vectors check.
public struct NoiseSodiumCryptoProvider: NoiseCryptoProvider {
    /// The provider; it holds no state.
    public init() {}

    public func generateX25519KeyPair() throws -> NoiseX25519KeyPair {
        try SodiumCrypto.generateX25519KeyPair()
    }

    public func x25519KeyPair(privateKey: NoiseBytes32) throws -> NoiseX25519KeyPair {
        try SodiumCrypto.x25519KeyPair(privateKey: privateKey)
    }

    public func x25519(privateKey: NoiseBytes32, publicKey: NoiseBytes32) throws -> NoiseBytes32 {
        try SodiumCrypto.x25519(privateKey: privateKey, publicKey: publicKey)
    }

    public func sha256(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> NoiseBytes32 {
        SodiumCrypto.sha256(first, second)
    }

    public func hmacSHA256(key: NoiseBytes32, _ data: UnsafeRawBufferPointer) -> NoiseBytes32 {
        SodiumCrypto.hmacSHA256(key: key, data)
    }

    public func hkdf(chainingKey: NoiseBytes32, inputKeyMaterial: UnsafeRawBufferPointer) -> (NoiseBytes32, NoiseBytes32) {
        self.hkdfFromHMAC(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial)
    }

    public func makeAEAD(key: NoiseBytes32) throws -> any NoiseAEAD {
        try SodiumChaChaPoly(key: key)
    }
}
