/// ChaCha20-Poly1305 that uses whichever library is faster for the message at hand: libsodium
/// for short messages, OpenSSL for long ones. Both compute the same function (RFC 8439), so the
/// bytes do not depend on the choice.
///
/// Measured on this machine (`Benchmarks/NoiseBenchmarks`, `Noise.AEAD.{seal,open}.*`, p50):
///
/// | bytes | libsodium 1.0.18 | OpenSSL 3.0 EVP |
/// |---|---|---|
/// | 64 | 341 ns | 480–511 ns |
/// | 256 | 501–511 ns | 531–551 ns |
/// | 512 | 591–601 ns | 631–651 ns |
/// | 1024 | 931–941 ns | 671 ns |
/// | 65519 | 42.8 µs | 18.9–19.2 µs |
///
/// OpenSSL's EVP layer has the larger fixed cost per call; its AVX-512 code wins from about
/// ``crossoverLength`` bytes on (interpolated between 512 B and 1 KiB).
public final class HybridChaChaPoly: NoiseAEAD {
    /// Messages shorter than this go to libsodium, the rest to OpenSSL.
    public static let crossoverLength: Int = 576

    private let sodium: SodiumChaChaPoly
    private let openSSL: OpenSSLChaChaPoly

    /// A context holding `key` in both libraries.
    public init(key: NoiseBytes32) throws {
        self.sodium = try SodiumChaChaPoly(key: key)
        self.openSSL = try OpenSSLChaChaPoly(key: key)
    }

    public func setKey(_ key: NoiseBytes32) throws {
        try self.sodium.setKey(key)
        try self.openSSL.setKey(key)
    }

    @inline(__always)
    public func seal(
        nonce: UInt64,
        authenticating ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        if plaintext.count < Self.crossoverLength {
            try self.sodium.seal(nonce: nonce, authenticating: ad, plaintext: plaintext, into: output)
        } else {
            try self.openSSL.seal(nonce: nonce, authenticating: ad, plaintext: plaintext, into: output)
        }
    }

    @inline(__always)
    public func open(
        nonce: UInt64,
        authenticating ad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        if ciphertext.count - NoiseConstants.tagLength < Self.crossoverLength {
            try self.sodium.open(nonce: nonce, authenticating: ad, ciphertext: ciphertext, into: output)
        } else {
            try self.openSSL.open(nonce: nonce, authenticating: ad, ciphertext: ciphertext, into: output)
        }
    }
}
