internal import CSodium

/// libsodium's one-time initialisation. `sodium_init` is idempotent and thread-safe; a global `let`
/// runs it once, lazily, on first use.
let sodiumInitialised: Bool = sodium_init() >= 0

/// Ed25519 through libsodium: 16 µs sign / 47 µs verify here, against about 37 / 100 µs for
/// OpenSSL 3.0 (docs/machine.md).
enum Ed25519 {
    /// Raw public key length (RFC 8032).
    static let publicKeyLength = Int(crypto_sign_PUBLICKEYBYTES)
    /// libsodium's secret key: the 32-byte seed followed by the public key.
    static let secretKeyLength = Int(crypto_sign_SECRETKEYBYTES)
    /// Seed length.
    static let seedLength = Int(crypto_sign_SEEDBYTES)
    /// Signature length.
    static let signatureLength = Int(crypto_sign_BYTES)

    /// The (public key, secret key) pair for a 32-byte seed.
    static func keyPair(seed: [UInt8]) throws -> (publicKey: [UInt8], secretKey: [UInt8]) {
        precondition(sodiumInitialised, "libsodium failed to initialise")
        guard seed.count == seedLength else {
            throw P2PCoreError.malformedKey("Ed25519 seed must be \(seedLength) bytes, got \(seed.count)")
        }
        var publicKey = [UInt8](repeating: 0, count: publicKeyLength)
        var secretKey = [UInt8](repeating: 0, count: secretKeyLength)
        let result = crypto_sign_seed_keypair(&publicKey, &secretKey, seed)
        guard result == 0 else { throw P2PCoreError.cryptoFailure("crypto_sign_seed_keypair returned \(result)") }
        return (publicKey, secretKey)
    }

    /// A fresh random seed.
    static func randomSeed() -> [UInt8] {
        precondition(sodiumInitialised, "libsodium failed to initialise")
        var seed = [UInt8](repeating: 0, count: seedLength)
        randombytes_buf(&seed, seedLength)
        return seed
    }

    /// The 64-byte detached signature of `message`.
    static func sign(_ message: some Collection<UInt8>, secretKey: [UInt8]) throws -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: signatureLength)
        let result = withContiguousBytes(of: message) { pointer, count in
            crypto_sign_detached(&signature, nil, pointer, UInt64(count), secretKey)
        }
        guard result == 0 else { throw P2PCoreError.cryptoFailure("crypto_sign_detached returned \(result)") }
        return signature
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` by `publicKey`.
    static func isValid(
        signature: some Collection<UInt8>,
        message: some Collection<UInt8>,
        publicKey: [UInt8]
    ) -> Bool {
        precondition(sodiumInitialised, "libsodium failed to initialise")
        guard signature.count == signatureLength, publicKey.count == publicKeyLength else { return false }
        return withContiguousBytes(of: signature) { signaturePointer, _ in
            withContiguousBytes(of: message) { messagePointer, messageCount in
                crypto_sign_verify_detached(signaturePointer, messagePointer, UInt64(messageCount), publicKey) == 0
            }
        }
    }
}

/// Runs `body` over the bytes of `collection`, copying only when it has no contiguous storage.
///
/// C APIs want a non-null pointer even for zero bytes; an empty collection gets a pointer to a
/// scratch byte and a count of 0.
func withContiguousBytes<C: Collection<UInt8>, R>(
    of collection: C,
    _ body: (UnsafePointer<UInt8>, Int) throws -> R
) rethrows -> R {
    func call(_ buffer: UnsafeBufferPointer<UInt8>) throws -> R {
        if let base = buffer.baseAddress, buffer.count > 0 { return try body(base, buffer.count) }
        var scratch: UInt8 = 0
        return try withUnsafePointer(to: &scratch) { try body($0, 0) }
    }
    if let result = try collection.withContiguousStorageIfAvailable(call) { return result }
    return try Array(collection).withUnsafeBufferPointer(call)
}
