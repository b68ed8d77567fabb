internal import COpenSSL

/// An X.509 certificate (`X509`), as much of it as libp2p TLS builds and checks (wire §5.2, §5.3).
///
/// Immutable after construction (the builder signs before handing it out); `X509` reference counts
/// are atomic, so the class may be `@unchecked Sendable` and a cached certificate may serve
/// connections on several event loops.
final class OpenSSLCertificate: @unchecked Sendable {
    /// The owned reference to `X509 *`.
    let pointer: OpaquePointer

    /// Takes over one reference the caller owns.
    private init(taking pointer: OpaquePointer) { self.pointer = pointer }

    /// Adds a reference to a certificate OpenSSL owns (for example the peer's, inside a handshake).
    init(borrowing pointer: OpaquePointer) {
        X509_up_ref(pointer)
        self.pointer = pointer
    }

    deinit { X509_free(self.pointer) }

    /// Parses DER bytes that must hold exactly one certificate and nothing after it.
    ///
    /// - Throws: ``TLSError/Code/malformedCertificate``.
    convenience init(derEncoded bytes: some Collection<UInt8>) throws(TLSError) {
        ERR_clear_error()
        let parsed: OpaquePointer? = withContiguousBytes(of: bytes) { base, count in
            var cursor: UnsafePointer<UInt8>? = base
            guard let certificate = d2i_X509(nil, &cursor, count) else { return nil }
            // Trailing bytes would mean the input is not one certificate alone.
            guard let end = cursor, end == base + count else {
                X509_free(certificate)
                return nil
            }
            return certificate
        }
        guard let parsed else {
            throw .drainingOpenSSLErrorQueue(.malformedCertificate, operation: "d2i_X509 (or trailing bytes)")
        }
        self.init(taking: parsed)
    }

    /// The certificate's DER encoding.
    func derEncoded() throws(TLSError) -> [UInt8] {
        ERR_clear_error()
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509(self.pointer, &out)
        guard length > 0, let out else { throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "i2d_X509") }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// The DER SubjectPublicKeyInfo of the certificate key: the message the identity key signs after
    /// the `libp2p-tls-handshake:` prefix.
    func subjectPublicKeyInfo() throws(TLSError) -> [UInt8] {
        ERR_clear_error()
        guard let publicKey = X509_get_X509_PUBKEY(self.pointer) else {
            throw .malformedCertificate("certificate has no SubjectPublicKeyInfo")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509_PUBKEY(publicKey, &out)
        guard length > 0, let out else {
            throw .drainingOpenSSLErrorQueue(.malformedCertificate, operation: "i2d_X509_PUBKEY")
        }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// One X.509v3 extension.
    struct Extension {
        /// The OID's DER content bytes (no tag, no length).
        var oid: [UInt8]
        /// Whether the extension is marked critical.
        var isCritical: Bool
        /// The `extnValue` OCTET STRING's content.
        var value: [UInt8]

        /// The OID in dotted form, for diagnostics.
        var oidDescription: String {
            var components: [UInt64] = []
            var current: UInt64 = 0
            for byte in self.oid {
                current = (current << 7) | UInt64(byte & 0x7f)
                if byte & 0x80 == 0 {
                    components.append(current)
                    current = 0
                }
            }
            guard let first = components.first else { return "(empty OID)" }
            let head = first < 80 ? [first / 40, first % 40] : [2, first - 80]
            return (head + components.dropFirst()).map(String.init).joined(separator: ".")
        }
    }

    /// The certificate's extensions, in order.
    func extensions() -> [Extension] {
        let count = X509_get_ext_count(self.pointer)
        guard count > 0 else { return [] }
        var result: [Extension] = []
        result.reserveCapacity(Int(count))
        for index in 0..<count {
            guard let item = X509_get_ext(self.pointer, index),
                let object = X509_EXTENSION_get_object(item),
                let data = X509_EXTENSION_get_data(item)
            else { continue }
            let oidLength = OBJ_length(object)
            let oid: [UInt8] =
                if let oidBytes = OBJ_get0_data(object), oidLength > 0 {
                    Array(UnsafeBufferPointer(start: oidBytes, count: oidLength))
                } else {
                    []
                }
            let valueLength = Int(ASN1_STRING_length(data))
            let value: [UInt8] =
                if let valueBytes = ASN1_STRING_get0_data(data), valueLength > 0 {
                    Array(UnsafeBufferPointer(start: valueBytes, count: valueLength))
                } else {
                    []
                }
            result.append(Extension(oid: oid, isCritical: X509_EXTENSION_get_critical(item) != 0, value: value))
        }
        return result
    }

    /// Whether `issuerUniqueID` or `subjectUniqueID` is present (tls spec: MUST be omitted).
    var hasUniqueIdentifiers: Bool {
        var issuer: UnsafePointer<ASN1_BIT_STRING>? = nil
        var subject: UnsafePointer<ASN1_BIT_STRING>? = nil
        X509_get0_uids(self.pointer, &issuer, &subject)
        return issuer != nil || subject != nil
    }

    /// NotBefore and NotAfter as seconds since 1970-01-01 UTC.
    ///
    /// - Throws: ``TLSError/Code/malformedCertificate`` when a time does not parse.
    func validity() throws(TLSError) -> (notBefore: Int64, notAfter: Int64) {
        guard let notBefore = X509_get0_notBefore(self.pointer), let notAfter = X509_get0_notAfter(self.pointer) else {
            throw .malformedCertificate("certificate has no validity period")
        }
        return (try Self.unixTime(notBefore), try Self.unixTime(notAfter))
    }

    private static func unixTime(_ time: UnsafePointer<ASN1_TIME>) throws(TLSError) -> Int64 {
        var broken = tm()
        guard ASN1_TIME_to_tm(time, &broken) == 1 else {
            ERR_clear_error()
            throw .malformedCertificate("certificate validity time does not parse")
        }
        let days = Self.daysSinceEpoch(
            year: Int64(broken.tm_year) + 1900,
            month: Int64(broken.tm_mon) + 1,
            day: Int64(broken.tm_mday)
        )
        return days * 86400 + Int64(broken.tm_hour) * 3600 + Int64(broken.tm_min) * 60 + Int64(broken.tm_sec)
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`); avoids
    /// `timegm`, which depends on the C library's time zone handling.
    static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    /// Checks the X.509 self-signature with the certificate's own key, allowing only the algorithms
    /// rust-libp2p accepts (wire §5.3 step 5): ECDSA P-256/P-384 with SHA-256/384, Ed25519, and RSA
    /// PKCS#1 v1.5 or PSS with SHA-256/384/512. SHA-1, P-521 and Ed448 are refused.
    ///
    /// - Throws: ``TLSError/Code/invalidCertificateSignature``.
    func verifySelfSignature() throws(TLSError) {
        let signatureNID = X509_get_signature_nid(self.pointer)
        guard Self.acceptedSignatureNIDs.contains(signatureNID) else {
            throw .invalidCertificateSignature(
                "self-signature algorithm \(Self.name(ofNID: signatureNID)) is not accepted"
            )
        }
        if signatureNID == NID_rsassaPss {
            // RSASSA-PSS names its hashes in the parameters, not in the OID: without this check a
            // PSS signature over SHA-1 would pass as "PSS".
            try self.checkPSSParameters()
        }
        guard let key = X509_get0_pubkey(self.pointer) else {
            ERR_clear_error()
            throw .invalidCertificateSignature("certificate public key does not parse")
        }
        if EVP_PKEY_get_base_id(key) == EVP_PKEY_EC {
            let curve = Self.curveNID(of: key)
            guard curve == NID_X9_62_prime256v1 || curve == NID_secp384r1 else {
                throw .invalidCertificateSignature("certificate key curve \(curve) is not P-256 or P-384")
            }
        }
        ERR_clear_error()
        guard X509_verify(self.pointer, key) == 1 else {
            throw .drainingOpenSSLErrorQueue(.invalidCertificateSignature, operation: "X509_verify (self-signature)")
        }
    }

    /// Signature algorithm OIDs accepted as such; ``NID_rsassaPss`` only with the parameters
    /// ``checkPSSParameters()`` allows.
    private static let acceptedSignatureNIDs: Set<Int32> = [
        NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA384, NID_ED25519,
        NID_sha256WithRSAEncryption, NID_sha384WithRSAEncryption, NID_sha512WithRSAEncryption, NID_rsassaPss,
    ]

    /// The hashes an RSASSA-PSS self-signature may use, for the message and for MGF1 alike.
    private static let acceptedPSSHashNIDs: Set<Int32> = [NID_sha256, NID_sha384, NID_sha512]

    /// Checks the `RSASSA-PSS-params` of the self-signature (RFC 4055 §3.1): the hash and the MGF1
    /// hash must be SHA-256, SHA-384 or SHA-512, and the same one, as rust-libp2p's verifier (webpki)
    /// and TLS 1.3's `rsa_pss_*` schemes (RFC 8446 §4.2.3) require. An absent hash or mask generation
    /// function means SHA-1 by RFC 4055's defaults, so it is refused like an explicit SHA-1. Salt
    /// length and trailer field are left to `X509_verify`, which rejects values it cannot verify.
    ///
    /// - Throws: ``TLSError/Code/invalidCertificateSignature``.
    private func checkPSSParameters() throws(TLSError) {
        var algorithm: UnsafePointer<X509_ALGOR>? = nil
        X509_get0_signature(nil, &algorithm, self.pointer)
        guard let algorithm else {
            throw .invalidCertificateSignature("RSASSA-PSS self-signature has no algorithm identifier")
        }
        let parameters = try Self.sequenceParameter(of: algorithm, what: "RSASSA-PSS parameters (SHA-1 defaults)")
        ERR_clear_error()
        let decoded: UnsafeMutablePointer<RSA_PSS_PARAMS>? = parameters.withUnsafeBufferPointer { bytes in
            var cursor = bytes.baseAddress
            return d2i_RSA_PSS_PARAMS(nil, &cursor, bytes.count)
        }
        guard let decoded else {
            ERR_clear_error()
            throw .invalidCertificateSignature("RSASSA-PSS parameters do not parse")
        }
        defer { RSA_PSS_PARAMS_free(decoded) }

        // RFC 4055 §3.1: hashAlgorithm DEFAULT sha1.
        guard let hashAlgorithm = decoded.pointee.hashAlgorithm else {
            throw .invalidCertificateSignature("RSASSA-PSS self-signature uses SHA-1 (hash parameter absent)")
        }
        let hash = Self.algorithmNID(of: hashAlgorithm)
        guard Self.acceptedPSSHashNIDs.contains(hash) else {
            throw .invalidCertificateSignature(
                "RSASSA-PSS self-signature hash \(Self.name(ofNID: hash)) is not SHA-256, SHA-384 or SHA-512"
            )
        }
        // RFC 4055 §3.1: maskGenAlgorithm DEFAULT mgf1SHA1; MGF1's parameter is the hash's AlgorithmIdentifier.
        guard let maskAlgorithm = decoded.pointee.maskGenAlgorithm else {
            throw .invalidCertificateSignature("RSASSA-PSS self-signature uses MGF1 with SHA-1 (mask parameter absent)")
        }
        let mask = Self.algorithmNID(of: maskAlgorithm)
        guard mask == NID_mgf1 else {
            throw .invalidCertificateSignature("RSASSA-PSS mask generation \(Self.name(ofNID: mask)) is not MGF1")
        }
        let maskHashBytes = try Self.sequenceParameter(of: maskAlgorithm, what: "MGF1 hash")
        let maskHash: Int32? = maskHashBytes.withUnsafeBufferPointer { bytes in
            var cursor = bytes.baseAddress
            guard let identifier = d2i_X509_ALGOR(nil, &cursor, bytes.count) else { return nil }
            defer { X509_ALGOR_free(identifier) }
            return Self.algorithmNID(of: identifier)
        }
        guard let maskHash else {
            ERR_clear_error()
            throw .invalidCertificateSignature("RSASSA-PSS MGF1 hash does not parse")
        }
        guard maskHash == hash else {
            throw .invalidCertificateSignature(
                "RSASSA-PSS MGF1 hash \(Self.name(ofNID: maskHash)) differs from the hash \(Self.name(ofNID: hash))"
            )
        }
    }

    /// The DER bytes (tag included) of an AlgorithmIdentifier's parameter, which must be a SEQUENCE.
    private static func sequenceParameter(
        of algorithm: UnsafePointer<X509_ALGOR>,
        what: String
    ) throws(TLSError) -> [UInt8] {
        var type: Int32 = 0
        var value: UnsafeRawPointer? = nil
        X509_ALGOR_get0(nil, &type, &value, algorithm)
        guard type == V_ASN1_SEQUENCE, let value else {
            throw .invalidCertificateSignature("\(what) missing or not a SEQUENCE")
        }
        let string = value.assumingMemoryBound(to: ASN1_STRING.self)
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, let bytes = ASN1_STRING_get0_data(string) else {
            throw .invalidCertificateSignature("\(what) empty")
        }
        return Array(UnsafeBufferPointer(start: bytes, count: length))
    }

    /// The NID of an AlgorithmIdentifier's OID (`NID_undef` for an unknown one).
    private static func algorithmNID(of algorithm: UnsafePointer<X509_ALGOR>) -> Int32 {
        var object: OpaquePointer? = nil
        X509_ALGOR_get0(&object, nil, nil, algorithm)
        return object.map { OBJ_obj2nid($0) } ?? NID_undef
    }

    /// OpenSSL's short name for `nid`, for diagnostics.
    private static func name(ofNID nid: Int32) -> String {
        guard let name = OBJ_nid2sn(nid) else { return "NID \(nid)" }
        return String(cString: name)
    }

    private static func curveNID(of key: OpaquePointer) -> Int32 {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { name in
            guard let base = name.baseAddress else { return NID_undef }
            var length = 0
            guard EVP_PKEY_get_group_name(key, base, name.count, &length) == 1 else {
                ERR_clear_error()
                return NID_undef
            }
            let nid = OBJ_sn2nid(base)
            return nid != NID_undef ? nid : OBJ_txt2nid(base)
        }
    }

    // MARK: - Building

    /// An extension to put into a certificate being built.
    struct ExtensionTemplate {
        /// Dotted OID.
        var oid: String
        var isCritical: Bool
        var value: [UInt8]
    }

    /// How the builder signs the certificate.
    enum SelfSignatureScheme {
        /// The key's own algorithm: ecdsa-with-SHA256 for P-256 (as go and rust do), Ed25519, or
        /// sha256WithRSAEncryption for an RSA key.
        case keyDefault
        /// RSASSA-PSS (RSA keys only) over `hash` with MGF1 over `maskHash`, both OpenSSL digest names
        /// such as `"SHA256"`, and a salt as long as the hash. This side never signs so; tests use it
        /// to play peers whose certificates must be accepted or refused.
        case rsaPSS(hash: String, maskHash: String)
    }

    /// Builds and signs a self-signed X.509v3 certificate for `key`.
    ///
    /// The subject and issuer are the same `serialNumber=<random>` name, as go-libp2p writes; no
    /// unique identifiers are set (tls spec: MUST be omitted).
    ///
    /// - Parameters:
    ///   - key: The certificate key; it signs the certificate and its public half goes into it.
    ///   - notBefore: Start of validity, Unix seconds.
    ///   - notAfter: End of validity, Unix seconds.
    ///   - extensions: Extensions in order.
    ///   - signature: The signature scheme; the key's own by default.
    /// - Throws: ``TLSError/Code/certificateGenerationFailed``.
    static func selfSigned(
        key: OpenSSLCertificateKey,
        notBefore: Int64,
        notAfter: Int64,
        extensions: [ExtensionTemplate],
        signature: SelfSignatureScheme = .keyDefault
    ) throws(TLSError) -> OpenSSLCertificate {
        ERR_clear_error()
        guard let x509 = X509_new() else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "X509_new")
        }
        let certificate = OpenSSLCertificate(taking: x509)

        // A random serial below 2^62 and a random subject serialNumber, as go-libp2p does. RAND_bytes
        // fails when the DRBG cannot be seeded (no entropy source); a zero serial would then repeat.
        var serial: UInt64 = 0
        var subjectSerial: UInt64 = 0
        guard withUnsafeMutableBytes(of: &serial, { RAND_bytes($0.baseAddress, Int32($0.count)) }) == 1,
            withUnsafeMutableBytes(of: &subjectSerial, { RAND_bytes($0.baseAddress, Int32($0.count)) }) == 1
        else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "RAND_bytes (certificate serial)")
        }
        serial &= (1 << 62) - 1

        guard X509_set_version(x509, Int(X509_VERSION_3)) == 1,
            ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509), serial) == 1,
            let name = X509_get_subject_name(x509),
            X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_ASC, String(subjectSerial), -1, -1, 0) == 1,
            X509_set_issuer_name(x509, name) == 1,
            ASN1_TIME_set(X509_getm_notBefore(x509), time_t(notBefore)) != nil,
            ASN1_TIME_set(X509_getm_notAfter(x509), time_t(notAfter)) != nil,
            X509_set_pubkey(x509, key.pointer) == 1
        else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "X509 fields")
        }
        for template in extensions {
            try Self.add(template, to: x509)
        }
        switch signature {
        case .keyDefault:
            guard X509_sign(x509, key.pointer, key.signatureDigest) > 0 else {
                throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "X509_sign")
            }
        case .rsaPSS(let hash, let maskHash):
            try Self.signPSS(x509, key: key, hash: hash, maskHash: maskHash)
        }
        return certificate
    }

    /// Signs `x509` with RSASSA-PSS; see ``SelfSignatureScheme/rsaPSS(hash:maskHash:)``.
    private static func signPSS(
        _ x509: OpaquePointer,
        key: OpenSSLCertificateKey,
        hash: String,
        maskHash: String
    ) throws(TLSError) {
        guard let digest = EVP_get_digestbyname(hash), let maskDigest = EVP_get_digestbyname(maskHash) else {
            throw .certificateGenerationFailed("unknown digest \(hash) or \(maskHash)")
        }
        guard let context = EVP_MD_CTX_new() else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "EVP_MD_CTX_new")
        }
        defer { EVP_MD_CTX_free(context) }
        // The key context belongs to `context`; it is freed with it.
        var keyContext: OpaquePointer? = nil
        guard EVP_DigestSignInit(context, &keyContext, digest, nil, key.pointer) == 1,
            let keyContext,
            EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
            EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1,
            EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, maskDigest) == 1,
            X509_sign_ctx(x509, context) > 0
        else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "X509_sign_ctx (RSASSA-PSS)")
        }
    }

    private static func add(_ template: ExtensionTemplate, to x509: OpaquePointer) throws(TLSError) {
        guard let object = OBJ_txt2obj(template.oid, 1) else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "OBJ_txt2obj(\(template.oid))")
        }
        defer { ASN1_OBJECT_free(object) }
        guard let octets = ASN1_OCTET_STRING_new() else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "ASN1_OCTET_STRING_new")
        }
        defer { ASN1_OCTET_STRING_free(octets) }
        let stored = template.value.withUnsafeBufferPointer {
            ASN1_OCTET_STRING_set(octets, $0.baseAddress, Int32($0.count))
        }
        guard stored == 1,
            let item = X509_EXTENSION_create_by_OBJ(nil, object, template.isCritical ? 1 : 0, octets)
        else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "X509_EXTENSION_create_by_OBJ")
        }
        defer { X509_EXTENSION_free(item) }
        guard X509_add_ext(x509, item, -1) == 1 else {
            throw .drainingOpenSSLErrorQueue(.certificateGenerationFailed, operation: "X509_add_ext")
        }
    }
}

/// Calls `body` with a pointer to `bytes` laid out contiguously (copying only when the collection
/// has no contiguous storage).
func withContiguousBytes<Result>(
    of bytes: some Collection<UInt8>,
    _ body: (UnsafePointer<UInt8>, Int) throws -> Result
) rethrows -> Result {
    if let result = try bytes.withContiguousStorageIfAvailable({ buffer -> Result in
        // An empty buffer may have no base address; hand over a valid pointer with count 0.
        guard let base = buffer.baseAddress else {
            var empty: UInt8 = 0
            return try body(&empty, 0)
        }
        return try body(base, buffer.count)
    }) {
        return result
    }
    let copy = Array(bytes)
    return try copy.withUnsafeBufferPointer { buffer in
        guard let base = buffer.baseAddress else {
            var empty: UInt8 = 0
            return try body(&empty, 0)
        }
        return try body(base, buffer.count)
    }
}
