internal import COpenSSL

/// A certificate key pair (`EVP_PKEY`): the throwaway key a libp2p TLS certificate carries, never the
/// identity key (tls spec: SHOULD NOT be related; wire §5.2).
///
/// Immutable after generation; OpenSSL allows one `EVP_PKEY` to be used from several threads when
/// every operation has its own context, which is why the class may be `@unchecked Sendable`.
final class OpenSSLCertificateKey: @unchecked Sendable {
    /// The owned `EVP_PKEY *`.
    let pointer: OpaquePointer

    private init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(self.pointer) }

    /// A fresh key pair of `type`.
    ///
    /// - Throws: ``TLSError/Code/certificateGenerationFailed`` when OpenSSL cannot generate it.
    static func generate(_ type: TLSCertificateKeyType) throws(TLSError) -> OpenSSLCertificateKey {
        ERR_clear_error()
        let id: Int32
        switch type {
        case .p256: id = EVP_PKEY_EC
        case .ed25519: id = EVP_PKEY_ED25519
        }
        guard let context = EVP_PKEY_CTX_new_id(id, nil) else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "EVP_PKEY_CTX_new_id")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "EVP_PKEY_keygen_init")
        }
        switch type {
        case .p256:
            guard EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1) == 1 else {
                throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "set P-256 curve")
            }
        case .ed25519:
            break
        }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen(context, &key) == 1, let key else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "EVP_PKEY_keygen")
        }
        return OpenSSLCertificateKey(taking: key)
    }

    /// A fresh RSA key pair of `bits` bits.
    ///
    /// libp2p TLS never makes one (wire §5.2: no RSA while an EC algorithm is available); tests use
    /// it to build the RSA certificates a peer may send (wire §5.3 step 5).
    ///
    /// - Throws: ``TLSError/Code/certificateGenerationFailed`` when OpenSSL cannot generate it.
    static func generateRSA(bits: Int32) throws(TLSError) -> OpenSSLCertificateKey {
        ERR_clear_error()
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "EVP_PKEY_CTX_new_id (RSA)")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(context) == 1,
            EVP_PKEY_CTX_set_rsa_keygen_bits(context, bits) == 1,
            EVP_PKEY_keygen(context, &key) == 1,
            let key
        else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "EVP_PKEY_keygen (RSA)")
        }
        return OpenSSLCertificateKey(taking: key)
    }

    /// The digest the certificate's self-signature uses with this key: SHA-256 for ECDSA
    /// (ecdsa-with-SHA256, as go and rust do), none for Ed25519 (it hashes internally).
    var signatureDigest: OpaquePointer? {
        EVP_PKEY_get_base_id(self.pointer) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    func subjectPublicKeyInfo() throws(TLSError) -> [UInt8] {
        ERR_clear_error()
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(self.pointer, &out)
        guard length > 0, let out else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "i2d_PUBKEY")
        }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
