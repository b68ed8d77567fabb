import P2PCore

/// The shared, immutable part of libp2p TLS for one host: the OpenSSL context (TLS 1.3, mutual
/// authentication, ALPN rules) and, in ``TLSCertificateMode/cached`` mode, the certificate.
///
/// Create one per host configuration and share it between connections and event loops; creating an
/// OpenSSL context costs far more than a connection.
public final class TLSContext: Sendable {
    /// The configuration this context was made from.
    public let configuration: TLSConfiguration
    /// The cached certificate, in cached mode.
    public let cachedCertificate: Libp2pCertificate?
    let openSSL: OpenSSLContext

    /// Creates a context.
    ///
    /// - Parameters:
    ///   - configuration: The host's configuration.
    ///   - now: The current time, seconds since 1970-01-01 UTC, for the cached certificate's validity.
    /// - Throws: ``TLSError/Code/invalidConfiguration`` for a muxer ID that does not fit ALPN;
    ///   ``TLSError/Code/certificateGenerationFailed`` or ``TLSError/Code/openSSLFailure``.
    public convenience init(configuration: TLSConfiguration, now: Int64 = TLSClock.now()) throws(TLSError) {
        try self.init(
            configuration: configuration,
            now: now,
            clientALPNOffer: TLSALPN.clientOffer(muxers: configuration.muxers),
            serverALPN: TLSALPN.serverSupported(muxers: configuration.muxers)
        )
    }

    /// Creates a context with explicit ALPN lists; tests use it to act as peers that break the
    /// libp2p rules (a client that does not offer `libp2p`).
    init(
        configuration: TLSConfiguration,
        now: Int64,
        clientALPNOffer offer: [String],
        serverALPN supported: [String]
    ) throws(TLSError) {
        try TLSALPN.validate(offer)
        try TLSALPN.validate(supported)
        guard configuration.sessionTicketsToSend >= 0 else {
            throw .invalidConfiguration("sessionTicketsToSend must not be negative")
        }
        let certificate: Libp2pCertificate? =
            switch configuration.certificateMode {
            case .cached:
                try Libp2pCertificate(
                    identityKey: configuration.identityKey,
                    keyType: configuration.certificateKeyType,
                    extensionCritical: configuration.extensionCritical,
                    now: now
                )
            case .perConnection:
                nil
            }
        self.configuration = configuration
        self.cachedCertificate = certificate
        self.openSSL = try OpenSSLContext(
            clientALPNOffer: offer.map { Array($0.utf8) },
            serverALPN: supported.map { Array($0.utf8) },
            sessionTicketsToSend: configuration.sessionTicketsToSend,
            certificate: certificate.map { ($0.certificate, $0.key) },
            capturesTrafficSecrets: configuration.recordProtection == .direct
        )
    }

    /// The certificate for a new connection: the cached one, or a fresh one.
    func certificateForConnection(now: Int64) throws(TLSError) -> Libp2pCertificate {
        if let cachedCertificate { return cachedCertificate }
        return try Libp2pCertificate(
            identityKey: self.configuration.identityKey,
            keyType: self.configuration.certificateKeyType,
            extensionCritical: self.configuration.extensionCritical,
            now: now
        )
    }
}
