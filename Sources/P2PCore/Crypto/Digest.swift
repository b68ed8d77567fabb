internal import COpenSSL

/// SHA-256, through OpenSSL: on this machine its SHA-NI code path is 3× faster than libsodium 1.0.18's
/// (docs/machine.md). Used for sha2-256 peer IDs and ECDSA/RSA signature digests.
enum SHA256Digest {
    /// The 32-byte SHA-256 of `bytes`.
    static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        withContiguousBytes(of: bytes) { pointer, count in
            digest.withUnsafeMutableBufferPointer { out in
                _ = SHA256(pointer, count, out.baseAddress)
            }
        }
        return digest
    }
}
