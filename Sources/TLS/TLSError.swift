/// An error from libp2p TLS: certificate building and checking, the TLS 1.3 handshake, ALPN, and the
/// record layer.
///
/// Equality compares ``code`` only, so tests and the upgrader can match on the kind of failure while
/// the ``diagnostics`` say what exactly was wrong (for OpenSSL failures, the drained error queue).
public struct TLSError: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, for people; not part of equality.
    public let diagnostics: String

    @usableFromInline
    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: TLSError, rhs: TLSError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "TLSError.\(self.code): \(self.diagnostics)" }

    /// The kinds of TLS failure. Codes are stable: scripts and CSV files may record them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unexpectedCertificateCount
            case malformedCertificate
            case missingLibp2pExtension
            case duplicateLibp2pExtension
            case unknownCriticalExtension
            case uniqueIdentifierPresent
            case certificateNotYetValid
            case certificateExpired
            case invalidCertificateSignature
            case malformedSignedKey
            case malformedPublicKey
            case invalidExtensionSignature
            case peerIDMismatch
            case missingPeerCertificate
            case noCommonApplicationProtocol
            case unexpectedApplicationProtocol
            case alertReceived
            case handshakeFailed
            case recordLayerFailure
            case certificateGenerationFailed
            case tooMuchBufferedData
            case connectionClosed
            case invalidState
            case invalidConfiguration
            case openSSLFailure
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The peer sent no certificate or more than one (tls spec "Handshake Protocol": exactly one,
        /// no chain).
        public static let unexpectedCertificateCount = Code(.unexpectedCertificateCount)
        /// Certificate bytes that are not a DER X.509 certificate OpenSSL can parse.
        public static let malformedCertificate = Code(.malformedCertificate)
        /// The certificate lacks the libp2p Public Key Extension (OID 1.3.6.1.4.1.53594.1.1).
        public static let missingLibp2pExtension = Code(.missingLibp2pExtension)
        /// The certificate carries the libp2p extension more than once (rust rejects this too).
        public static let duplicateLibp2pExtension = Code(.duplicateLibp2pExtension)
        /// A critical extension other than the libp2p one (tls spec: the peer MUST abort).
        public static let unknownCriticalExtension = Code(.unknownCriticalExtension)
        /// `issuerUniqueID` or `subjectUniqueID` present (tls spec: MUST be omitted; a peer MAY reject).
        public static let uniqueIdentifierPresent = Code(.uniqueIdentifierPresent)
        /// `now` is before the certificate's NotBefore.
        public static let certificateNotYetValid = Code(.certificateNotYetValid)
        /// `now` is after the certificate's NotAfter.
        public static let certificateExpired = Code(.certificateExpired)
        /// The X.509 self-signature does not verify with the certificate's own key, or uses an
        /// algorithm this implementation refuses.
        public static let invalidCertificateSignature = Code(.invalidCertificateSignature)
        /// The extension value is not DER `SignedKey ::= SEQUENCE { OCTET STRING, OCTET STRING }`.
        public static let malformedSignedKey = Code(.malformedSignedKey)
        /// `SignedKey.publicKey` is not a libp2p `PublicKey` protobuf this build can use.
        public static let malformedPublicKey = Code(.malformedPublicKey)
        /// `SignedKey.signature` does not verify over `"libp2p-tls-handshake:" || SPKI`.
        public static let invalidExtensionSignature = Code(.invalidExtensionSignature)
        /// The peer ID derived from the certificate differs from the one the dialer expected.
        public static let peerIDMismatch = Code(.peerIDMismatch)
        /// The client presented no certificate although the server requires one.
        public static let missingPeerCertificate = Code(.missingPeerCertificate)
        /// ALPN found no common protocol (RFC 7301 `no_application_protocol`).
        public static let noCommonApplicationProtocol = Code(.noCommonApplicationProtocol)
        /// The server selected an ALPN protocol the client never offered.
        public static let unexpectedApplicationProtocol = Code(.unexpectedApplicationProtocol)
        /// The peer sent a fatal TLS alert; the diagnostics name it.
        public static let alertReceived = Code(.alertReceived)
        /// The TLS handshake failed for a reason not covered by a more specific code.
        public static let handshakeFailed = Code(.handshakeFailed)
        /// A record failed to decrypt or parse after the handshake.
        public static let recordLayerFailure = Code(.recordLayerFailure)
        /// Building this side's certificate failed.
        public static let certificateGenerationFailed = Code(.certificateGenerationFailed)
        /// More plaintext was queued before the handshake finished than
        /// ``TLSConstants/maximumBufferedPlaintextBytes`` allows.
        public static let tooMuchBufferedData = Code(.tooMuchBufferedData)
        /// The connection closed before the handshake finished.
        public static let connectionClosed = Code(.connectionClosed)
        /// An operation the connection's current state does not allow (for example writing before the
        /// handshake finished).
        public static let invalidState = Code(.invalidState)
        /// A ``TLSConfiguration`` that cannot work (for example a muxer ID too long for ALPN).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// An OpenSSL call failed where it should not (setup, memory).
        public static let openSSLFailure = Code(.openSSLFailure)

        public var description: String { self.base.rawValue }
    }
}

extension TLSError {
    @inline(never)
    static func unexpectedCertificateCount(_ count: Int) -> TLSError {
        TLSError(.unexpectedCertificateCount, "expected exactly one certificate, got \(count)")
    }

    @inline(never)
    static func malformedCertificate(_ what: String) -> TLSError { TLSError(.malformedCertificate, what) }

    @inline(never)
    static func missingLibp2pExtension() -> TLSError {
        TLSError(.missingLibp2pExtension, "certificate has no libp2p public key extension (1.3.6.1.4.1.53594.1.1)")
    }

    @inline(never)
    static func duplicateLibp2pExtension() -> TLSError {
        TLSError(.duplicateLibp2pExtension, "certificate has the libp2p public key extension more than once")
    }

    @inline(never)
    static func unknownCriticalExtension(_ oid: String) -> TLSError {
        TLSError(.unknownCriticalExtension, "certificate has an unknown critical extension \(oid)")
    }

    @inline(never)
    static func uniqueIdentifierPresent() -> TLSError {
        TLSError(.uniqueIdentifierPresent, "certificate has issuerUniqueID or subjectUniqueID")
    }

    @inline(never)
    static func certificateNotYetValid(notBefore: Int64, now: Int64) -> TLSError {
        TLSError(.certificateNotYetValid, "certificate NotBefore \(notBefore) is after now \(now) (Unix seconds)")
    }

    @inline(never)
    static func certificateExpired(notAfter: Int64, now: Int64) -> TLSError {
        TLSError(.certificateExpired, "certificate NotAfter \(notAfter) is before now \(now) (Unix seconds)")
    }

    @inline(never)
    static func invalidCertificateSignature(_ what: String) -> TLSError {
        TLSError(.invalidCertificateSignature, what)
    }

    @inline(never)
    static func malformedSignedKey(_ what: String) -> TLSError { TLSError(.malformedSignedKey, what) }

    @inline(never)
    static func malformedPublicKey(_ what: String) -> TLSError { TLSError(.malformedPublicKey, what) }

    @inline(never)
    static func invalidExtensionSignature() -> TLSError {
        TLSError(
            .invalidExtensionSignature,
            "libp2p extension signature invalid: SignedKey.signature does not verify over "
                + "\"libp2p-tls-handshake:\" || SubjectPublicKeyInfo with the embedded identity key"
        )
    }

    @inline(never)
    static func peerIDMismatch(expected: String, actual: String) -> TLSError {
        TLSError(.peerIDMismatch, "expected peer \(expected), certificate authenticates \(actual)")
    }

    @inline(never)
    static func missingPeerCertificate(_ what: String) -> TLSError { TLSError(.missingPeerCertificate, what) }

    @inline(never)
    static func noCommonApplicationProtocol(_ what: String) -> TLSError {
        TLSError(.noCommonApplicationProtocol, what)
    }

    @inline(never)
    static func unexpectedApplicationProtocol(_ name: String) -> TLSError {
        TLSError(.unexpectedApplicationProtocol, "server selected ALPN \"\(name)\", which this client did not offer")
    }

    @inline(never)
    static func alertReceived(_ what: String) -> TLSError { TLSError(.alertReceived, what) }

    @inline(never)
    static func handshakeFailed(_ what: String) -> TLSError { TLSError(.handshakeFailed, what) }

    @inline(never)
    static func recordLayerFailure(_ what: String) -> TLSError { TLSError(.recordLayerFailure, what) }

    @inline(never)
    static func certificateGenerationFailed(_ what: String) -> TLSError {
        TLSError(.certificateGenerationFailed, what)
    }

    @inline(never)
    static func tooMuchBufferedData(_ bytes: Int) -> TLSError {
        TLSError(
            .tooMuchBufferedData,
            "\(bytes) plaintext bytes queued before the handshake finished; the limit is "
                + "\(TLSConstants.maximumBufferedPlaintextBytes)"
        )
    }

    @inline(never)
    static func connectionClosed(_ what: String) -> TLSError { TLSError(.connectionClosed, what) }

    @inline(never)
    static func invalidState(_ what: String) -> TLSError { TLSError(.invalidState, what) }

    @inline(never)
    static func invalidConfiguration(_ what: String) -> TLSError { TLSError(.invalidConfiguration, what) }

    @inline(never)
    static func openSSLFailure(_ what: String) -> TLSError { TLSError(.openSSLFailure, what) }
}
