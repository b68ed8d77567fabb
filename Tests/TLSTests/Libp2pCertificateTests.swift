import P2PCore
import SwiftASN1
import TestSupport
import Testing

@testable import TLS

/// Certificate building and the verifier (wire §5.2, §5.3): the spec's four vectors, certificates we
/// generate, and each bad certificate by name.
@Suite struct Libp2pCertificateTests {
    struct VectorFile: Decodable {
        struct Certificate: Decodable {
            let name: String
            let certificate_der_hex: String
            let peer_id: String?
            let expect: String
        }
        let certificates: [Certificate]
    }

    static func vectors() throws -> [VectorFile.Certificate] {
        try Fixtures.decode(VectorFile.self, from: "libp2p_tls_certificates.json").certificates
    }

    let now = TLSTestSupport.now

    // MARK: - Spec vectors

    @Test func specVectorsValidCertificatesGiveTheListedPeerIDs() throws {
        let valid = try Self.vectors().filter { $0.expect == "valid" }
        #expect(valid.count == 3)
        for vector in valid {
            let der = try [UInt8](hex: vector.certificate_der_hex)
            let peer = try Libp2pCertificate.verify(chain: [der], now: self.now)
            #expect(peer.peerID.description == vector.peer_id, "\(vector.name)")
            #expect(peer.publicKey.peerID == peer.peerID)
        }
    }

    @Test func specVectorsKeyTypesAreEd25519ECDSAAndSecp256k1() throws {
        let valid = try Self.vectors().filter { $0.expect == "valid" }
        let types = try valid.map {
            try Libp2pCertificate.verify(chain: [[UInt8](hex: $0.certificate_der_hex)], now: self.now).publicKey.keyType
        }
        #expect(types == [.ed25519, .ecdsa, .secp256k1])
    }

    @Test func specVectorInvalidCertificateFailsTheExtensionSignatureCheck() throws {
        let invalid = try Self.vectors().filter { $0.expect == "invalid" }
        #expect(invalid.count == 1)
        for vector in invalid {
            let der = try [UInt8](hex: vector.certificate_der_hex)
            let error = #expect(throws: TLSError.self) { try Libp2pCertificate.verify(chain: [der], now: self.now) }
            #expect(error?.code == .invalidExtensionSignature)
            #expect(error?.diagnostics.contains("signature invalid") == true)
        }
    }

    @Test func specVectorsMatchTheExpectedPeerIDAndRejectAnother() throws {
        let vector = try #require(try Self.vectors().first { $0.expect == "valid" })
        let der = try [UInt8](hex: vector.certificate_der_hex)
        let text = try #require(vector.peer_id)
        let expected = try #require(PeerID(text))
        #expect(try Libp2pCertificate.verify(chain: [der], now: self.now, expectedPeerID: expected).peerID == expected)
        let other = try TLSTestSupport.identity(9).peerID
        let error = #expect(throws: TLSError.self) {
            try Libp2pCertificate.verify(chain: [der], now: self.now, expectedPeerID: other)
        }
        #expect(error?.code == .peerIDMismatch)
    }

    // MARK: - Generated certificates

    @Test func generatedCertificatesVerifyForEveryIdentityKeyType() throws {
        for identity in try TLSTestSupport.vectorIdentities() + [try TLSTestSupport.identity(1)] {
            for keyType in TLSCertificateKeyType.allCases {
                let certificate = try Libp2pCertificate(identityKey: identity, keyType: keyType, now: self.now)
                let peer = try Libp2pCertificate.verify(
                    chain: [certificate.derEncoded],
                    now: self.now,
                    expectedPeerID: identity.peerID
                )
                #expect(peer.peerID == identity.peerID)
                #expect(peer.publicKey == identity.publicKey)
            }
        }
    }

    @Test func generatedCertificateWithCriticalExtensionVerifies() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try Libp2pCertificate(identityKey: identity, extensionCritical: true, now: self.now)
        #expect(try Libp2pCertificate.verify(chain: [certificate.derEncoded], now: self.now).peerID == identity.peerID)
        let parsed = try OpenSSLCertificate(derEncoded: certificate.derEncoded)
        #expect(parsed.extensions().map(\.isCritical) == [true])
    }

    @Test func generatedCertificateValidityIsOneHourBackToOneHundredYearsAhead() throws {
        let certificate = try Libp2pCertificate(identityKey: try TLSTestSupport.identity(1), now: self.now)
        let validity = try OpenSSLCertificate(derEncoded: certificate.derEncoded).validity()
        #expect(validity.notBefore == self.now - 3600)
        #expect(validity.notAfter == self.now + 100 * 365 * 86400)
    }

    @Test func generatedCertificateHasOneNonCriticalLibp2pExtensionAndAP256Key() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try Libp2pCertificate(identityKey: identity, now: self.now)
        let parsed = try OpenSSLCertificate(derEncoded: certificate.derEncoded)
        let extensions = parsed.extensions()
        #expect(extensions.count == 1)
        #expect(extensions.first?.oid == TLSConstants.libp2pExtensionOIDContent)
        #expect(extensions.first?.oidDescription == TLSConstants.libp2pExtensionOID)
        #expect(extensions.first?.isCritical == false)
        let signedKey = try Libp2pSignedKey(derEncoded: try #require(extensions.first).value)
        #expect(Array(signedKey.publicKey.bytes) == identity.publicKey.protobufEncoded)
        // id-ecPublicKey + prime256v1 in the SPKI.
        let spki = try parsed.subjectPublicKeyInfo()
        #expect(spki.count == 91)
        #expect(!parsed.hasUniqueIdentifiers)
    }

    @Test func freshCertificatesUseFreshKeys() throws {
        let identity = try TLSTestSupport.identity(1)
        let first = try Libp2pCertificate(identityKey: identity, now: self.now)
        let second = try Libp2pCertificate(identityKey: identity, now: self.now)
        #expect(try first.certificate.subjectPublicKeyInfo() != second.certificate.subjectPublicKeyInfo())
    }

    // MARK: - Bad certificates, one test each

    /// A P-256 certificate with `extensions` and a validity window around `now`.
    func build(
        extensions: (OpenSSLCertificateKey) throws -> [OpenSSLCertificate.ExtensionTemplate],
        notBefore: Int64? = nil,
        notAfter: Int64? = nil
    ) throws -> Libp2pCertificate {
        let key = try OpenSSLCertificateKey.generate(.p256)
        return try Libp2pCertificate(
            key: key,
            notBefore: notBefore ?? self.now - 3600,
            notAfter: notAfter ?? self.now + 3600,
            extensions: try extensions(key)
        )
    }

    func libp2pExtension(
        _ identity: IdentityPrivateKey,
        for key: OpenSSLCertificateKey,
        critical: Bool = false
    ) throws -> OpenSSLCertificate.ExtensionTemplate {
        .init(
            oid: TLSConstants.libp2pExtensionOID,
            isCritical: critical,
            value: try Libp2pCertificate.signedKeyExtensionValue(
                identityKey: identity,
                subjectPublicKeyInfo: key.subjectPublicKeyInfo()
            )
        )
    }

    func expectRejected(
        _ chain: [[UInt8]],
        expectedPeerID: PeerID? = nil,
        now: Int64? = nil,
        _ code: TLSError.Code,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = #expect(throws: TLSError.self, sourceLocation: sourceLocation) {
            try Libp2pCertificate.verify(chain: chain, now: now ?? self.now, expectedPeerID: expectedPeerID)
        }
        #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
    }

    @Test func certificateWithoutExtensionIsRejected() throws {
        let certificate = try self.build { _ in [] }
        try self.expectRejected([certificate.derEncoded], .missingLibp2pExtension)
    }

    @Test func certificateWithBadExtensionSignatureIsRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        // The identity signs a different key's SPKI: well-formed, but not for this certificate.
        let other = try OpenSSLCertificateKey.generate(.p256)
        let certificate = try self.build { _ in [try self.libp2pExtension(identity, for: other)] }
        try self.expectRejected([certificate.derEncoded], .invalidExtensionSignature)
    }

    @Test func certificateWithSignatureFromAnotherIdentityIsRejected() throws {
        let claimed = try TLSTestSupport.identity(1)
        let signer = try TLSTestSupport.identity(2)
        let certificate = try self.build { key in
            let signature = try signer.sign(TLSConstants.signaturePrefix + key.subjectPublicKeyInfo())
            var serializer = DER.Serializer()
            try serializer.serialize(
                Libp2pSignedKey(
                    publicKey: ASN1OctetString(contentBytes: claimed.publicKey.protobufEncoded[...]),
                    signature: ASN1OctetString(contentBytes: signature[...])
                )
            )
            return [.init(oid: TLSConstants.libp2pExtensionOID, isCritical: false, value: serializer.serializedBytes)]
        }
        try self.expectRejected([certificate.derEncoded], .invalidExtensionSignature)
    }

    @Test func expiredCertificateIsRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try self.build(
            extensions: { [try self.libp2pExtension(identity, for: $0)] },
            notBefore: self.now - 7200,
            notAfter: self.now - 1
        )
        try self.expectRejected([certificate.derEncoded], .certificateExpired)
        // The same certificate verifies at a time inside its window: `now` is the only clock.
        #expect(try Libp2pCertificate.verify(chain: [certificate.derEncoded], now: self.now - 10).peerID == identity.peerID)
    }

    @Test func notYetValidCertificateIsRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try self.build(
            extensions: { [try self.libp2pExtension(identity, for: $0)] },
            notBefore: self.now + 60,
            notAfter: self.now + 7200
        )
        try self.expectRejected([certificate.derEncoded], .certificateNotYetValid)
    }

    @Test func twoCertificatesAreRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try Libp2pCertificate(identityKey: identity, now: self.now)
        try self.expectRejected([certificate.derEncoded, certificate.derEncoded], .unexpectedCertificateCount)
    }

    @Test func emptyChainIsRejected() {
        self.expectRejected([], .unexpectedCertificateCount)
    }

    @Test func wrongPeerIDIsRejected() throws {
        let certificate = try Libp2pCertificate(identityKey: try TLSTestSupport.identity(1), now: self.now)
        try self.expectRejected(
            [certificate.derEncoded],
            expectedPeerID: try TLSTestSupport.identity(2).peerID,
            .peerIDMismatch
        )
    }

    @Test func unknownCriticalExtensionIsRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try self.build { key in
            [
                try self.libp2pExtension(identity, for: key),
                .init(oid: "1.2.3.4.5", isCritical: true, value: [0x05, 0x00]),
            ]
        }
        try self.expectRejected([certificate.derEncoded], .unknownCriticalExtension)
    }

    @Test func unknownNonCriticalExtensionIsIgnored() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try self.build { key in
            [
                .init(oid: "1.2.3.4.5", isCritical: false, value: [0x05, 0x00]),
                try self.libp2pExtension(identity, for: key),
            ]
        }
        #expect(try Libp2pCertificate.verify(chain: [certificate.derEncoded], now: self.now).peerID == identity.peerID)
    }

    @Test func duplicateLibp2pExtensionIsRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try self.build { key in
            [try self.libp2pExtension(identity, for: key), try self.libp2pExtension(identity, for: key)]
        }
        try self.expectRejected([certificate.derEncoded], .duplicateLibp2pExtension)
    }

    @Test func malformedSignedKeyIsRejected() throws {
        let certificate = try self.build { _ in
            // A SEQUENCE holding one OCTET STRING only.
            [.init(oid: TLSConstants.libp2pExtensionOID, isCritical: false, value: [0x30, 0x03, 0x04, 0x01, 0x00])]
        }
        try self.expectRejected([certificate.derEncoded], .malformedSignedKey)
    }

    @Test func signedKeyWithTrailingBytesIsRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try self.build { key in
            var good = try self.libp2pExtension(identity, for: key)
            good.value.append(0x00)
            return [good]
        }
        try self.expectRejected([certificate.derEncoded], .malformedSignedKey)
    }

    @Test func signedKeyWithMalformedPublicKeyIsRejected() throws {
        let certificate = try self.build { _ in
            var serializer = DER.Serializer()
            try serializer.serialize(
                Libp2pSignedKey(
                    publicKey: ASN1OctetString(contentBytes: [0x08, 0x01, 0x12, 0x03, 0x01, 0x02, 0x03][...]),
                    signature: ASN1OctetString(contentBytes: [UInt8](repeating: 0, count: 64)[...])
                )
            )
            return [.init(oid: TLSConstants.libp2pExtensionOID, isCritical: false, value: serializer.serializedBytes)]
        }
        try self.expectRejected([certificate.derEncoded], .malformedPublicKey)
    }

    @Test func tamperedSelfSignatureIsRejected() throws {
        let certificate = try Libp2pCertificate(identityKey: try TLSTestSupport.identity(1), now: self.now)
        var der = try certificate.derEncoded
        // The last byte is inside the ECDSA signature's `s` integer.
        der[der.count - 1] ^= 0x01
        self.expectRejected([der], .invalidCertificateSignature)
    }

    @Test func tamperedCertificateBodyIsRejected() throws {
        let identity = try TLSTestSupport.identity(1)
        let certificate = try Libp2pCertificate(identityKey: identity, now: self.now)
        var der = try certificate.derEncoded
        // Flip a byte of the SignedKey signature inside the TBS (it follows the identity key and the
        // signature's `04 40` header): the self-signature no longer covers the body.
        let index = try #require(Self.lastIndex(of: Array(identity.publicKey.protobufEncoded.suffix(8)), in: der))
        der[index + 20] ^= 0x01
        let error = #expect(throws: TLSError.self) { try Libp2pCertificate.verify(chain: [der], now: self.now) }
        #expect(error?.code == .invalidCertificateSignature)
    }

    // MARK: - RSASSA-PSS self-signatures (wire §5.3 step 5: SHA-256/384/512 only)

    /// One 2048-bit RSA key for every PSS test: generating one costs tens of milliseconds.
    static let rsaKey = Result { try OpenSSLCertificateKey.generateRSA(bits: 2048) }

    /// A valid libp2p certificate for an RSA key, self-signed with RSASSA-PSS over `hash` and MGF1
    /// over `maskHash`.
    func pssCertificate(hash: String, maskHash: String) throws -> (certificate: [UInt8], identity: IdentityPrivateKey) {
        try self.rsaCertificate(signature: .rsaPSS(hash: hash, maskHash: maskHash))
    }

    /// A valid libp2p certificate for the shared RSA key, self-signed with `signature`.
    func rsaCertificate(
        signature: OpenSSLCertificate.SelfSignatureScheme
    ) throws -> (certificate: [UInt8], identity: IdentityPrivateKey) {
        let identity = try TLSTestSupport.identity(1)
        let key = try Self.rsaKey.get()
        let certificate = try Libp2pCertificate(
            key: key,
            notBefore: self.now - 3600,
            notAfter: self.now + 3600,
            extensions: [try self.libp2pExtension(identity, for: key)],
            signature: signature
        )
        return (try certificate.derEncoded, identity)
    }

    @Test func rsaPSSSelfSignatureWithSHA256IsAccepted() throws {
        for hash in ["SHA256", "SHA384", "SHA512"] {
            let (der, identity) = try self.pssCertificate(hash: hash, maskHash: hash)
            let parsed = try OpenSSLCertificate(derEncoded: der)
            #expect(parsed.extensions().count == 1)
            #expect(try Libp2pCertificate.verify(chain: [der], now: self.now).peerID == identity.peerID, "\(hash)")
        }
    }

    @Test func rsaPSSSelfSignatureWithSHA1IsRejected() throws {
        // A correct signature: OpenSSL's X509_verify alone accepts it; the PSS parameter check refuses
        // it. SHA-1 is the RFC 4055 default, so OpenSSL omits both hash parameters.
        let (der, _) = try self.pssCertificate(hash: "SHA1", maskHash: "SHA1")
        let error = #expect(throws: TLSError.self) { try Libp2pCertificate.verify(chain: [der], now: self.now) }
        #expect(error?.code == .invalidCertificateSignature)
        #expect(
            error?.diagnostics.contains("RSASSA-PSS self-signature uses SHA-1") == true,
            "\(String(describing: error))"
        )
    }

    @Test func rsaPSSSelfSignatureWithSHA1MaskIsRejected() throws {
        let (der, _) = try self.pssCertificate(hash: "SHA256", maskHash: "SHA1")
        let error = #expect(throws: TLSError.self) { try Libp2pCertificate.verify(chain: [der], now: self.now) }
        #expect(error?.code == .invalidCertificateSignature)
        #expect(error?.diagnostics.contains("MGF1 with SHA-1") == true, "\(String(describing: error))")
    }

    @Test func rsaPSSSelfSignatureWithMismatchedMaskHashIsRejected() throws {
        let (der, _) = try self.pssCertificate(hash: "SHA256", maskHash: "SHA512")
        let error = #expect(throws: TLSError.self) { try Libp2pCertificate.verify(chain: [der], now: self.now) }
        #expect(error?.code == .invalidCertificateSignature)
        #expect(error?.diagnostics.contains("differs from the hash") == true, "\(String(describing: error))")
    }

    @Test func rsaPKCS1SelfSignatureWithSHA256IsAccepted() throws {
        let (der, identity) = try self.rsaCertificate(signature: .keyDefault)
        #expect(try Libp2pCertificate.verify(chain: [der], now: self.now).peerID == identity.peerID)
    }

    @Test func garbageBytesAreRejected() {
        self.expectRejected([[0x30, 0x82, 0x01]], .malformedCertificate)
        self.expectRejected([[]], .malformedCertificate)
        self.expectRejected([Array("hello".utf8)], .malformedCertificate)
    }

    @Test func certificateWithTrailingBytesIsRejected() throws {
        let certificate = try Libp2pCertificate(identityKey: try TLSTestSupport.identity(1), now: self.now)
        try self.expectRejected([certificate.derEncoded + [0x00]], .malformedCertificate)
    }

    @Test func truncatedCertificatesAreRejectedAtEveryLength() throws {
        let certificate = try Libp2pCertificate(identityKey: try TLSTestSupport.identity(1), now: self.now)
        let der = try certificate.derEncoded
        for length in stride(from: 0, to: der.count, by: 7) {
            self.expectRejected([Array(der.prefix(length))], .malformedCertificate)
        }
    }

    @Test func daysSinceEpochMatchesKnownDates() {
        #expect(OpenSSLCertificate.daysSinceEpoch(year: 1970, month: 1, day: 1) == 0)
        #expect(OpenSSLCertificate.daysSinceEpoch(year: 2000, month: 3, day: 1) == 11017)
        #expect(OpenSSLCertificate.daysSinceEpoch(year: 1969, month: 12, day: 31) == -1)
        #expect(OpenSSLCertificate.daysSinceEpoch(year: 2026, month: 1, day: 1) * 86400 == TLSTestSupport.now)
    }

    @Test func specVectorValidityIs1975To4096() throws {
        let vector = try #require(try Self.vectors().first)
        let validity = try OpenSSLCertificate(derEncoded: [UInt8](hex: vector.certificate_der_hex)).validity()
        // 1975-01-01T13:00:00Z and 4096-01-01T13:00:00Z.
        #expect(validity.notBefore == 157_813_200)
        #expect(validity.notAfter == OpenSSLCertificate.daysSinceEpoch(year: 4096, month: 1, day: 1) * 86400 + 13 * 3600)
    }

    static func lastIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in stride(from: haystack.count - needle.count, through: 0, by: -1)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
