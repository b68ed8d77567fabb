internal import COpenSSL

/// ChaCha20-Poly1305 through OpenSSL's EVP interface, one `EVP_CIPHER_CTX` per context.
///
/// The context is keyed once and reused: each message only sets the nonce, so a message costs no
/// allocation and no algorithm lookup. OpenSSL 3.0's ChaCha20-Poly1305 is 2.3× faster than
/// libsodium 1.0.18's on this machine from 16 KiB up and 1.4× at 1 KiB (docs/machine.md), but its
/// fixed cost per call is higher: below ``HybridChaChaPoly/crossoverLength`` (576 B) libsodium is
/// faster, so the default provider sends only messages of 576 B and more here (``HybridChaChaPoly``).
public final class OpenSSLChaChaPoly: NoiseAEAD {
    private let context: OpaquePointer

    /// A context keyed with `key`.
    /// - Throws: ``NoiseError/Code/cryptoFailure`` when OpenSSL cannot allocate or initialise it.
    public init(key: NoiseBytes32) throws {
        guard let cipher = OpenSSLChaChaPoly.cipher.pointer else {
            throw OpenSSLError.noiseError("EVP_CIPHER_fetch(ChaCha20-Poly1305)")
        }
        guard let context = EVP_CIPHER_CTX_new() else {
            throw OpenSSLError.noiseError("EVP_CIPHER_CTX_new")
        }
        self.context = context
        // The first initialisation binds the algorithm; later re-keys pass no cipher so that OpenSSL
        // keeps its algorithm context instead of freeing and allocating a new one.
        let status = key.withUnsafeBytes { key in
            EVP_CipherInit_ex(context, cipher, nil, key.bindMemory(to: UInt8.self).baseAddress, nil, 1)
        }
        guard status == 1 else { throw OpenSSLError.noiseError("EVP_CipherInit_ex(key)") }
    }

    deinit {
        // Frees the context and clears the key schedule held in it.
        EVP_CIPHER_CTX_free(self.context)
    }

    public func setKey(_ key: NoiseBytes32) throws {
        let status = key.withUnsafeBytes { key in
            EVP_CipherInit_ex(self.context, nil, nil, key.bindMemory(to: UInt8.self).baseAddress, nil, -1)
        }
        guard status == 1 else { throw OpenSSLError.noiseError("EVP_CipherInit_ex(key)") }
    }

    public func seal(
        nonce: UInt64,
        authenticating ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        let length = plaintext.count
        precondition(output.count >= length + NoiseConstants.tagLength, "AEAD output too small")
        guard length <= Int(Int32.max) - NoiseConstants.tagLength, ad.count <= Int(Int32.max) else {
            throw NoiseError.messageTooLarge("AEAD input", length: length, limit: Int(Int32.max))
        }
        let context = self.context
        let initialised = withNoiseNonce(nonce) { nonce in
            EVP_CipherInit_ex(context, nil, nil, nil, nonce.bindMemory(to: UInt8.self).baseAddress, 1)
        }
        guard initialised == 1 else { throw OpenSSLError.noiseError("EVP_CipherInit_ex(nonce)") }
        var written: Int32 = 0
        if ad.count > 0 {
            guard
                EVP_CipherUpdate(context, nil, &written, ad.bindMemory(to: UInt8.self).baseAddress, Int32(ad.count))
                    == 1
            else { throw OpenSSLError.noiseError("EVP_CipherUpdate(ad)") }
        }
        let out = output.bindMemory(to: UInt8.self).baseAddress!
        var produced = 0
        if length > 0 {
            guard
                EVP_CipherUpdate(context, out, &written, plaintext.bindMemory(to: UInt8.self).baseAddress, Int32(length))
                    == 1
            else { throw OpenSSLError.noiseError("EVP_CipherUpdate") }
            produced = Int(written)
        }
        guard EVP_CipherFinal_ex(context, out + produced, &written) == 1, produced + Int(written) == length else {
            throw OpenSSLError.noiseError("EVP_CipherFinal_ex")
        }
        guard
            EVP_CIPHER_CTX_ctrl(
                context,
                COpenSSLShim_EVP_CTRL_AEAD_GET_TAG(),
                Int32(NoiseConstants.tagLength),
                out + length
            ) == 1
        else { throw OpenSSLError.noiseError("EVP_CTRL_AEAD_GET_TAG") }
    }

    public func open(
        nonce: UInt64,
        authenticating ad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        guard ciphertext.count >= NoiseConstants.tagLength else {
            throw NoiseError.frameTooShort(length: ciphertext.count)
        }
        let length = ciphertext.count - NoiseConstants.tagLength
        precondition(output.count >= length, "AEAD output too small")
        guard length <= Int(Int32.max), ad.count <= Int(Int32.max) else {
            throw NoiseError.messageTooLarge("AEAD input", length: length, limit: Int(Int32.max))
        }
        // The ciphertext comes from the peer: a nil base address is refused with a typed error, not
        // trapped on. The length check above makes it non-nil in practice (count >= 16).
        guard let input = ciphertext.bindMemory(to: UInt8.self).baseAddress else {
            throw NoiseError.frameTooShort(length: ciphertext.count)
        }
        let context = self.context
        let initialised = withNoiseNonce(nonce) { nonce in
            EVP_CipherInit_ex(context, nil, nil, nil, nonce.bindMemory(to: UInt8.self).baseAddress, 0)
        }
        guard initialised == 1 else { throw OpenSSLError.noiseError("EVP_CipherInit_ex(nonce)") }
        // OpenSSL copies the expected tag in; the pointer is only read despite its mutable type.
        guard
            EVP_CIPHER_CTX_ctrl(
                context,
                COpenSSLShim_EVP_CTRL_AEAD_SET_TAG(),
                Int32(NoiseConstants.tagLength),
                UnsafeMutableRawPointer(mutating: input + length)
            ) == 1
        else { throw OpenSSLError.noiseError("EVP_CTRL_AEAD_SET_TAG") }
        var written: Int32 = 0
        if ad.count > 0 {
            guard
                EVP_CipherUpdate(context, nil, &written, ad.bindMemory(to: UInt8.self).baseAddress, Int32(ad.count))
                    == 1
            else { throw OpenSSLError.noiseError("EVP_CipherUpdate(ad)") }
        }
        // Final checks the tag; it writes no bytes for a stream cipher, but needs a valid pointer.
        var spare: UInt8 = 0
        let finalStatus: Int32
        if length > 0 {
            // `output.count >= length > 0` (checked above), so only a caller's bug gets here; `length`
            // is the peer's, so it is a typed error all the same rather than a trap.
            guard let out = output.bindMemory(to: UInt8.self).baseAddress else {
                throw NoiseError.cryptoFailure("ChaCha20-Poly1305 open: output buffer has no storage")
            }
            guard EVP_CipherUpdate(context, out, &written, input, Int32(length)) == 1 else {
                throw OpenSSLError.noiseError("EVP_CipherUpdate")
            }
            let produced = Int(written)
            finalStatus = EVP_CipherFinal_ex(context, out + produced, &written)
        } else {
            finalStatus = EVP_CipherFinal_ex(context, &spare, &written)
        }
        guard finalStatus == 1 else {
            // A failed tag check leaves an entry on OpenSSL's thread error queue; clear it so it is
            // not blamed on an unrelated later call.
            ERR_clear_error()
            throw NoiseError.decryptionFailed("transport or handshake message")
        }
    }

    /// The ChaCha20-Poly1305 implementation, fetched once: an implicit fetch on every
    /// `EVP_CipherInit_ex` would look it up in the provider store each time.
    private static let cipher = OpenSSLCipherHandle(EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil))
}

/// An `EVP_CIPHER` fetched for the life of the process. OpenSSL's fetched algorithm objects are
/// reference-counted and safe to share between threads once fetched.
private struct OpenSSLCipherHandle: @unchecked Sendable {
    let pointer: OpaquePointer?
    init(_ pointer: OpaquePointer?) { self.pointer = pointer }
}

/// The one place that turns OpenSSL failures into ``NoiseError``s (the queue holds the reason).
enum OpenSSLError {
    @inline(never)
    static func noiseError(_ call: String) -> NoiseError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return NoiseError.cryptoFailure("OpenSSL \(call) failed: \(reasons.joined(separator: "; "))")
    }
}
