internal import CSodium

/// libsodium initialisation: `sodium_init` must run once before any other call; it is idempotent
/// and thread-safe, and a Swift global is initialised once on first use.
private let sodiumInitialised: Bool = sodium_init() >= 0

/// The libsodium primitives: X25519 (the fastest here: 30 µs per exchange against OpenSSL's 34 µs,
/// docs/machine.md), plus SHA-256 and ChaCha20-Poly1305 for comparison benchmarks.
enum SodiumCrypto {
    static func ensureInitialised() throws {
        guard sodiumInitialised else { throw NoiseError.cryptoFailure("libsodium sodium_init failed") }
    }

    static func generateX25519KeyPair() throws -> NoiseX25519KeyPair {
        try Self.ensureInitialised()
        var privateKey = NoiseBytes32()
        privateKey.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return try Self.x25519KeyPair(privateKey: privateKey)
    }

    static func x25519KeyPair(privateKey: NoiseBytes32) throws -> NoiseX25519KeyPair {
        try Self.ensureInitialised()
        var publicKey = NoiseBytes32()
        let status = publicKey.withUnsafeMutableBytes { publicKey in
            privateKey.withUnsafeBytes { privateKey in
                crypto_scalarmult_curve25519_base(
                    publicKey.bindMemory(to: UInt8.self).baseAddress!,
                    privateKey.bindMemory(to: UInt8.self).baseAddress!
                )
            }
        }
        guard status == 0 else { throw NoiseError.cryptoFailure("libsodium crypto_scalarmult_curve25519_base") }
        return NoiseX25519KeyPair(privateKey: privateKey, publicKey: publicKey)
    }

    static func x25519(privateKey: NoiseBytes32, publicKey: NoiseBytes32) throws -> NoiseBytes32 {
        try Self.ensureInitialised()
        var shared = NoiseBytes32()
        // libsodium returns -1 both for a small-order peer point (checked up front) and for an
        // all-zero result: either way the peer key is unusable (docs/wire.md §4.2).
        let status = shared.withUnsafeMutableBytes { shared in
            privateKey.withUnsafeBytes { privateKey in
                publicKey.withUnsafeBytes { publicKey in
                    crypto_scalarmult_curve25519(
                        shared.bindMemory(to: UInt8.self).baseAddress!,
                        privateKey.bindMemory(to: UInt8.self).baseAddress!,
                        publicKey.bindMemory(to: UInt8.self).baseAddress!
                    )
                }
            }
        }
        guard status == 0, !shared.isZero else { throw NoiseError.lowOrderPublicKey("peer key") }
        return shared
    }

    static func sha256(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> NoiseBytes32 {
        var state = crypto_hash_sha256_state()
        crypto_hash_sha256_init(&state)
        if first.count > 0 {
            crypto_hash_sha256_update(&state, first.bindMemory(to: UInt8.self).baseAddress, UInt64(first.count))
        }
        if second.count > 0 {
            crypto_hash_sha256_update(&state, second.bindMemory(to: UInt8.self).baseAddress, UInt64(second.count))
        }
        var digest = NoiseBytes32()
        digest.withUnsafeMutableBytes { _ = crypto_hash_sha256_final(&state, $0.bindMemory(to: UInt8.self).baseAddress!) }
        return digest
    }

    static func hmacSHA256(key: NoiseBytes32, _ data: UnsafeRawBufferPointer) -> NoiseBytes32 {
        var state = crypto_auth_hmacsha256_state()
        key.withUnsafeBytes { key in
            _ = crypto_auth_hmacsha256_init(&state, key.bindMemory(to: UInt8.self).baseAddress!, key.count)
        }
        if data.count > 0 {
            crypto_auth_hmacsha256_update(&state, data.bindMemory(to: UInt8.self).baseAddress, UInt64(data.count))
        }
        var mac = NoiseBytes32()
        mac.withUnsafeMutableBytes { _ = crypto_auth_hmacsha256_final(&state, $0.bindMemory(to: UInt8.self).baseAddress!) }
        return mac
    }
}
