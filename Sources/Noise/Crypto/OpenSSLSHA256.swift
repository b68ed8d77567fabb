internal import COpenSSL

/// SHA-256, HMAC-SHA256 and Noise's HKDF on OpenSSL's SHA-256 (SHA-NI on this machine: 3× faster
/// than libsodium 1.0.18's portable code, docs/machine.md).
///
/// All state is a `SHA256_CTX` on the stack: no allocation, no shared state.
enum OpenSSLSHA256 {
    /// SHA-256(first || second).
    static func hash(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> NoiseBytes32 {
        var context = SHA256_CTX()
        COpenSSLShim_SHA256_Init(&context)
        Self.update(&context, first)
        Self.update(&context, second)
        return Self.finish(&context)
    }

    /// HMAC-SHA256(key, data) with a 32-byte key (RFC 2104).
    static func hmac(key: NoiseBytes32, _ data: UnsafeRawBufferPointer) -> NoiseBytes32 {
        let key = HMACKey(key)
        return key.authenticate(data, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Noise's HKDF with two outputs (Noise §4.3). The pads for `t` are hashed once and reused
    /// for both outputs, which saves two SHA-256 blocks over calling HMAC twice.
    static func hkdf(chainingKey: NoiseBytes32, inputKeyMaterial: UnsafeRawBufferPointer) -> (NoiseBytes32, NoiseBytes32) {
        let temporaryKey = HMACKey(chainingKey).authenticate(inputKeyMaterial, UnsafeRawBufferPointer(start: nil, count: 0))
        let expander = HMACKey(temporaryKey)
        var counter: UInt8 = 0x01
        let output1 = Swift.withUnsafeBytes(of: &counter) { expander.authenticate($0, UnsafeRawBufferPointer(start: nil, count: 0)) }
        counter = 0x02
        let output2 = output1.withUnsafeBytes { output1 in
            Swift.withUnsafeBytes(of: &counter) { expander.authenticate(output1, $0) }
        }
        return (output1, output2)
    }

    /// An HMAC key with its inner and outer pads already hashed (RFC 2104 §2: a 32-byte key is
    /// zero-padded to the 64-byte block).
    struct HMACKey {
        private var inner: SHA256_CTX
        private var outer: SHA256_CTX

        init(_ key: NoiseBytes32) {
            var pad: (NoiseBytes32, NoiseBytes32) = (key, NoiseBytes32())
            self.inner = SHA256_CTX()
            self.outer = SHA256_CTX()
            Swift.withUnsafeMutableBytes(of: &pad) { block in
                for index in 0..<64 { block[index] ^= 0x36 }
                COpenSSLShim_SHA256_Init(&self.inner)
                OpenSSLSHA256.update(&self.inner, UnsafeRawBufferPointer(block))
                // 0x36 ^ 0x5c turns the inner pad into the outer pad without keeping the key around.
                for index in 0..<64 { block[index] ^= 0x36 ^ 0x5c }
                COpenSSLShim_SHA256_Init(&self.outer)
                OpenSSLSHA256.update(&self.outer, UnsafeRawBufferPointer(block))
                // The pads are the key in disguise: wipe them.
                for index in 0..<64 { block[index] = 0 }
            }
        }

        /// HMAC(key, first || second).
        func authenticate(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> NoiseBytes32 {
            var context = self.inner
            OpenSSLSHA256.update(&context, first)
            OpenSSLSHA256.update(&context, second)
            let innerDigest = OpenSSLSHA256.finish(&context)
            context = self.outer
            innerDigest.withUnsafeBytes { OpenSSLSHA256.update(&context, $0) }
            return OpenSSLSHA256.finish(&context)
        }
    }

    @inline(__always)
    private static func update(_ context: inout SHA256_CTX, _ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        COpenSSLShim_SHA256_Update(&context, bytes.baseAddress, bytes.count)
    }

    @inline(__always)
    private static func finish(_ context: inout SHA256_CTX) -> NoiseBytes32 {
        var digest = NoiseBytes32()
        digest.withUnsafeMutableBytes { digest in
            _ = COpenSSLShim_SHA256_Final(digest.bindMemory(to: UInt8.self).baseAddress, &context)
        }
        return digest
    }
}
