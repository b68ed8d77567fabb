import P2PCore
import SwiftASN1

/// A libp2p TLS certificate: a self-signed X.509 certificate for a throwaway key, carrying the
/// libp2p Public Key Extension that binds the certificate key to the host's identity key
/// (tls spec "libp2p Public Key Extension"; wire §5.2). Also the verifier for peers' certificates
/// (wire §5.3).
public struct Libp2pCertificate: Sendable {
    /// The certificate's DER encoding (encoded on demand: the handshake itself never needs it).
    ///
    /// - Throws: ``TLSError/Code/openSSLFailure`` if OpenSSL cannot encode it (out of memory).
    public var derEncoded: [UInt8] {
        get throws(TLSError) { try self.certificate.derEncoded() }
    }
    /// The end of the certificate's validity, seconds since 1970-01-01 UTC.
    ///
    /// - Throws: ``TLSError/Code/malformedCertificate`` if the validity does not parse.
    public var notAfter: Int64 {
        get throws(TLSError) { try self.certificate.validity().notAfter }
    }
    /// The certificate, for installing into OpenSSL.
    let certificate: OpenSSLCertificate
    /// The certificate key, which signs the handshake's CertificateVerify.
    let key: OpenSSLCertificateKey

    /// Generates a fresh certificate key and a certificate for it, signed over by `identityKey`.
    ///
    /// Validity runs from one hour before `now` to 100 years after it
    /// (``TLSConstants/certificateValidityBackdateSeconds``, ``TLSConstants/certificateLifetimeSeconds``).
    ///
    /// - Parameters:
    ///   - identityKey: The host's identity key; signs `"libp2p-tls-handshake:" || SPKI`.
    ///   - keyType: The certificate key type; P-256 (ecdsa-with-SHA256) as go and rust use.
    ///   - extensionCritical: Whether to mark the libp2p extension critical (rust does, go does not;
    ///     both accept either).
    ///   - now: The current time, seconds since 1970-01-01 UTC.
    /// - Throws: ``TLSError/Code/certificateGenerationFailed``.
    public init(
        identityKey: IdentityPrivateKey,
        keyType: TLSCertificateKeyType = .p256,
        extensionCritical: Bool = false,
        now: Int64
    ) throws(TLSError) {
        let key = try OpenSSLCertificateKey.generate(keyType)
        let signedKey = try Self.signedKeyExtensionValue(
            identityKey: identityKey,
            subjectPublicKeyInfo: key.subjectPublicKeyInfo()
        )
        try self.init(
            key: key,
            notBefore: now - TLSConstants.certificateValidityBackdateSeconds,
            notAfter: now + TLSConstants.certificateLifetimeSeconds,
            extensions: [.init(oid: TLSConstants.libp2pExtensionOID, isCritical: extensionCritical, value: signedKey)]
        )
    }

    /// Builds a certificate from parts, for tests that need certificates the public initializer
    /// would never make (expired, without the extension, with a foreign critical extension, signed
    /// with RSASSA-PSS).
    init(
        key: OpenSSLCertificateKey,
        notBefore: Int64,
        notAfter: Int64,
        extensions: [OpenSSLCertificate.ExtensionTemplate],
        signature: OpenSSLCertificate.SelfSignatureScheme = .keyDefault
    ) throws(TLSError) {
        let certificate = try OpenSSLCertificate.selfSigned(
            key: key,
            notBefore: notBefore,
            notAfter: notAfter,
            extensions: extensions,
            signature: signature
        )
        self.certificate = certificate
        self.key = key
    }

    /// The libp2p extension's value: DER `SignedKey { publicKey, signature }` where `publicKey` is the
    /// identity `PublicKey` protobuf and `signature` signs `"libp2p-tls-handshake:" || SPKI`.
    ///
    /// - Throws: ``TLSError/Code/certificateGenerationFailed`` when signing or encoding fails.
    static func signedKeyExtensionValue(
        identityKey: IdentityPrivateKey,
        subjectPublicKeyInfo: [UInt8]
    ) throws(TLSError) -> [UInt8] {
        let signature: [UInt8]
        do {
            signature = try identityKey.sign(TLSConstants.signaturePrefix + subjectPublicKeyInfo)
        } catch {
            throw .certificateGenerationFailed("identity key could not sign the certificate key: \(error)")
        }
        let signedKey = Libp2pSignedKey(
            publicKey: ASN1OctetString(contentBytes: identityKey.publicKey.protobufEncoded[...]),
            signature: ASN1OctetString(contentBytes: signature[...])
        )
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(signedKey)
            return serializer.serializedBytes
        } catch {
            throw .certificateGenerationFailed("SignedKey DER encoding failed: \(error)")
        }
    }

    // MARK: - Verification

    /// The identity a verified certificate authenticates.
    public struct VerifiedPeer: Hashable, Sendable {
        /// The peer's identity public key, from `SignedKey.publicKey`.
        public let publicKey: IdentityPublicKey
        /// The peer ID derived from ``publicKey``.
        public let peerID: PeerID
    }

    /// Checks a peer's certificate chain as the spec lists (wire §5.3, steps 1–7) and returns the
    /// identity it authenticates.
    ///
    /// - Parameters:
    ///   - chain: The DER certificates the peer sent, leaf first.
    ///   - now: The current time, seconds since 1970-01-01 UTC (an input, so expiry is testable).
    ///   - expectedPeerID: The peer the dialer meant to reach, or nil (a listener learns it here).
    /// - Throws: ``TLSError`` naming the first check that failed.
    public static func verify(
        chain: [[UInt8]],
        now: Int64,
        expectedPeerID: PeerID? = nil
    ) throws(TLSError) -> VerifiedPeer {
        // Step 1: exactly one certificate, no chain.
        guard chain.count == 1, let leaf = chain.first else { throw .unexpectedCertificateCount(chain.count) }
        // Step 2: it parses.
        let certificate = try OpenSSLCertificate(derEncoded: leaf)
        return try Self.verify(certificate, chainLength: 1, now: now, expectedPeerID: expectedPeerID)
    }

    /// ``verify(chain:now:expectedPeerID:)`` on a parsed leaf, as the handshake's verify callback
    /// gets it.
    static func verify(
        _ certificate: OpenSSLCertificate,
        chainLength: Int,
        now: Int64,
        expectedPeerID: PeerID?
    ) throws(TLSError) -> VerifiedPeer {
        // Step 1.
        guard chainLength == 1 else { throw .unexpectedCertificateCount(chainLength) }

        // Steps 2 and 3: find the libp2p extension, exactly once; no other critical extension.
        var signedKeyBytes: [UInt8]? = nil
        for item in certificate.extensions() {
            if item.oid == TLSConstants.libp2pExtensionOIDContent {
                guard signedKeyBytes == nil else { throw .duplicateLibp2pExtension() }
                signedKeyBytes = item.value
            } else if item.isCritical {
                throw .unknownCriticalExtension(item.oidDescription)
            }
        }
        guard let signedKeyBytes else { throw .missingLibp2pExtension() }
        // tls spec: issuerUniqueID and subjectUniqueID MUST be omitted; a peer MAY reject them. We do.
        guard !certificate.hasUniqueIdentifiers else { throw .uniqueIdentifierPresent() }

        // Step 4: valid now.
        let validity = try certificate.validity()
        guard now >= validity.notBefore else { throw .certificateNotYetValid(notBefore: validity.notBefore, now: now) }
        guard now <= validity.notAfter else { throw .certificateExpired(notAfter: validity.notAfter, now: now) }

        // Step 5: the self-signature verifies with the certificate's own key.
        try certificate.verifySelfSignature()

        // Step 6: SignedKey decodes, its key decodes, its signature verifies over prefix || SPKI.
        let signedKey: Libp2pSignedKey
        do {
            signedKey = try Libp2pSignedKey(derEncoded: signedKeyBytes)
        } catch {
            throw .malformedSignedKey("libp2p extension is not a DER SignedKey: \(error)")
        }
        let publicKey: IdentityPublicKey
        do {
            publicKey = try IdentityPublicKey(protobufEncoded: signedKey.publicKey.bytes)
        } catch {
            throw .malformedPublicKey("SignedKey.publicKey is not a usable libp2p PublicKey: \(error)")
        }
        let message = TLSConstants.signaturePrefix + (try certificate.subjectPublicKeyInfo())
        guard publicKey.isValidSignature(signedKey.signature.bytes, for: message) else {
            throw .invalidExtensionSignature()
        }

        // Step 7: the peer ID, compared with the expected one when the dialer knows it.
        let peerID = publicKey.peerID
        if let expectedPeerID, expectedPeerID != peerID {
            throw .peerIDMismatch(expected: expectedPeerID.description, actual: peerID.description)
        }
        return VerifiedPeer(publicKey: publicKey, peerID: peerID)
    }
}

/// `SignedKey ::= SEQUENCE { publicKey OCTET STRING, signature OCTET STRING }` (tls spec; wire §5.2).
struct Libp2pSignedKey: DERImplicitlyTaggable, Hashable, Sendable {
    static var defaultIdentifier: ASN1Identifier { .sequence }

    /// The identity `PublicKey` protobuf.
    var publicKey: ASN1OctetString
    /// The identity key's signature over `"libp2p-tls-handshake:" || SPKI`.
    var signature: ASN1OctetString

    init(publicKey: ASN1OctetString, signature: ASN1OctetString) {
        self.publicKey = publicKey
        self.signature = signature
    }

    init(derEncoded rootNode: ASN1Node, withIdentifier identifier: ASN1Identifier) throws {
        self = try DER.sequence(rootNode, identifier: identifier) { nodes in
            let publicKey = try ASN1OctetString(derEncoded: &nodes)
            let signature = try ASN1OctetString(derEncoded: &nodes)
            return Libp2pSignedKey(publicKey: publicKey, signature: signature)
        }
    }

    func serialize(into coder: inout DER.Serializer, withIdentifier identifier: ASN1Identifier) throws {
        try coder.appendConstructedNode(identifier: identifier) { coder in
            try coder.serialize(self.publicKey)
            try coder.serialize(self.signature)
        }
    }
}
