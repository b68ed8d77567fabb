internal import COpenSSL

/// An OpenSSL `EVP_PKEY` for the identity key types libsodium does not cover: secp256k1, ECDSA
/// (P-256 and friends) and RSA (peer-ids spec, "Key Types").
///
/// The key is immutable after creation; OpenSSL allows concurrent use of one `EVP_PKEY` from
/// several threads as long as each operation has its own `EVP_MD_CTX`, which every method here
/// creates. That is why the class may be `@unchecked Sendable`.
final class OpenSSLKey: @unchecked Sendable {
    let pointer: OpaquePointer

    private init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(self.pointer) }

    /// A public key from DER SubjectPublicKeyInfo.
    static func publicKey(spki: some Collection<UInt8>) -> OpenSSLKey? {
        withContiguousBytes(of: spki) { pointer, count in
            var cursor: UnsafePointer<UInt8>? = pointer
            guard let key = d2i_PUBKEY(nil, &cursor, count) else {
                ERR_clear_error()
                return nil
            }
            // Trailing bytes after the SPKI mean the encoding is not the key alone.
            guard let end = cursor, end == pointer + count else {
                EVP_PKEY_free(key)
                return nil
            }
            return OpenSSLKey(taking: key)
        }
    }

    /// A private key from DER (SEC1 `ECPrivateKey` or PKCS#1 `RSAPrivateKey`, per `type`).
    static func privateKey(der: some Collection<UInt8>, type: Int32) -> OpenSSLKey? {
        withContiguousBytes(of: der) { pointer, count in
            var cursor: UnsafePointer<UInt8>? = pointer
            guard let key = d2i_PrivateKey(type, nil, &cursor, count) else {
                ERR_clear_error()
                return nil
            }
            return OpenSSLKey(taking: key)
        }
    }

    /// `EVP_PKEY_EC` or `EVP_PKEY_RSA`.
    var baseID: Int32 { EVP_PKEY_get_base_id(self.pointer) }

    /// Key size in bits.
    var bits: Int32 { EVP_PKEY_get_bits(self.pointer) }

    /// The elliptic-curve group's NID, or `NID_undef` for non-EC keys.
    var curveNID: Int32 {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(self.pointer, &name, name.count, &length) == 1 else {
            ERR_clear_error()
            return NID_undef
        }
        let nid = OBJ_sn2nid(name)
        return nid != NID_undef ? nid : OBJ_txt2nid(name)
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    func subjectPublicKeyInfo() throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(self.pointer, &out)
        guard length > 0, let out else { throw P2PCoreError.cryptoFailure("i2d_PUBKEY failed: \(openSSLErrors())") }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// The signature of SHA-256(`message`): DER ECDSA for EC keys, PKCS#1 v1.5 for RSA.
    func signSHA256(_ message: some Collection<UInt8>) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw P2PCoreError.cryptoFailure("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, self.pointer) == 1 else {
            throw P2PCoreError.cryptoFailure("EVP_DigestSignInit: \(openSSLErrors())")
        }
        return try withContiguousBytes(of: message) { pointer, count in
            var length = 0
            guard EVP_DigestSign(context, nil, &length, pointer, count) == 1 else {
                throw P2PCoreError.cryptoFailure("EVP_DigestSign (size): \(openSSLErrors())")
            }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(context, &signature, &length, pointer, count) == 1 else {
                throw P2PCoreError.cryptoFailure("EVP_DigestSign: \(openSSLErrors())")
            }
            signature.removeSubrange(length...)
            return signature
        }
    }

    /// Whether `signature` verifies over SHA-256(`message`).
    func isValidSHA256Signature(_ signature: some Collection<UInt8>, for message: some Collection<UInt8>) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, self.pointer) == 1 else {
            ERR_clear_error()
            return false
        }
        let valid = withContiguousBytes(of: signature) { signaturePointer, signatureCount in
            withContiguousBytes(of: message) { messagePointer, messageCount in
                EVP_DigestVerify(context, signaturePointer, signatureCount, messagePointer, messageCount) == 1
            }
        }
        // A malformed signature leaves an error on the thread's queue; it must not leak into
        // unrelated OpenSSL calls (TLS reads the same queue).
        ERR_clear_error()
        return valid
    }
}

/// The OpenSSL error queue of this thread as text, emptied. The one place core turns OpenSSL
/// errors into words.
func openSSLErrors() -> String {
    var messages: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        messages.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return messages.isEmpty ? "no OpenSSL error recorded" : messages.joined(separator: "; ")
}

/// OpenSSL key kinds and curve NIDs, as Swift constants for files that do not import OpenSSL.
enum EVPKeyKind {
    static let ec: Int32 = EVP_PKEY_EC
    static let rsa: Int32 = EVP_PKEY_RSA
    static let p256: Int32 = NID_X9_62_prime256v1
    static let p384: Int32 = NID_secp384r1
    static let p521: Int32 = NID_secp521r1
    static let secp256k1: Int32 = NID_secp256k1
}

/// secp256k1 keys as libp2p encodes them: a 33-byte compressed SEC1 point for the public key and a
/// bare 32-byte scalar for the private key (peer-ids spec, "secp256k1"). OpenSSL wants DER, so
/// both are wrapped in the fixed DER prefixes below.
enum Secp256k1 {
    /// SubjectPublicKeyInfo {id-ecPublicKey, secp256k1} up to the BIT STRING, for a 33-byte point.
    private static let compressedSPKIPrefix: [UInt8] = [
        0x30, 0x36, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
        0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x22, 0x00,
    ]
    /// The same for a 65-byte uncompressed point (go accepts this form on input; it is normalised to
    /// the compressed one, see ``IdentityPublicKey/init(keyType:rawData:)``).
    private static let uncompressedSPKIPrefix: [UInt8] = [
        0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
        0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00,
    ]
    /// SEC1 ECPrivateKey {version 1, privateKey OCTET STRING(32)} before the scalar…
    private static let privateKeyPrefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x01, 0x04, 0x20]
    /// …and [0] parameters: namedCurve secp256k1 after it. OpenSSL computes the public point.
    private static let privateKeySuffix: [UInt8] = [0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]

    static func publicKey(point: [UInt8]) throws -> OpenSSLKey {
        let prefix: [UInt8]
        switch (point.count, point.first) {
        case (33, 0x02), (33, 0x03): prefix = compressedSPKIPrefix
        case (65, 0x04): prefix = uncompressedSPKIPrefix
        default:
            throw P2PCoreError.malformedKey("secp256k1 public key must be a 33-byte compressed or 65-byte uncompressed SEC1 point")
        }
        guard let key = OpenSSLKey.publicKey(spki: prefix + point) else {
            throw P2PCoreError.malformedKey("secp256k1 public key is not a point on the curve")
        }
        return key
    }

    /// The 33-byte compressed form of a SEC1 point already accepted by ``publicKey(point:)``:
    /// a compressed point unchanged, and `04 || X || Y` as `02|03 || X` by the parity of Y (SEC1 §2.3.3).
    static func compressed(point: [UInt8]) -> [UInt8] {
        guard point.count == 65 else { return point }
        let yIsOdd = point[64] & 1 == 1
        return [yIsOdd ? 0x03 : 0x02] + point[1..<33]
    }

    static func privateKey(scalar: [UInt8]) throws -> OpenSSLKey {
        guard scalar.count == 32 else {
            throw P2PCoreError.malformedKey("secp256k1 private key must be 32 bytes, got \(scalar.count)")
        }
        guard let key = OpenSSLKey.privateKey(der: privateKeyPrefix + scalar + privateKeySuffix, type: EVP_PKEY_EC)
        else { throw P2PCoreError.malformedKey("secp256k1 private key is not a valid scalar") }
        return key
    }

    /// The 33-byte compressed point of `key`'s public half.
    static func compressedPoint(of key: OpenSSLKey) throws -> [UInt8] {
        let spki = try key.subjectPublicKeyInfo()
        // i2d_PUBKEY writes the uncompressed form 04 || X || Y as the last 65 bytes.
        guard spki.count >= 65, spki[spki.count - 65] == 0x04 else {
            throw P2PCoreError.cryptoFailure("unexpected secp256k1 SubjectPublicKeyInfo from OpenSSL")
        }
        let x = spki[(spki.count - 64)..<(spki.count - 32)]
        let yIsOdd = spki[spki.count - 1] & 1 == 1
        return [yIsOdd ? 0x03 : 0x02] + x
    }
}
