import NIOConcurrencyHelpers
import P2PCore

/// The shared part of libp2p TLS for one host: the OpenSSL context (TLS 1.3, mutual
/// authentication, ALPN rules) and, in ``TLSCertificateMode/perHost`` mode, the host certificate.
///
/// Create one per host configuration and share it between connections and event loops; creating an
/// OpenSSL context costs far more than a connection.
public final class TLSContext: Sendable {
    /// The configuration this context was made from.
    public let configuration: TLSConfiguration
    /// The certificate the host presents now, in per-host mode; `nil` in per-connection mode.
    public var hostCertificate: Libp2pCertificate? {
        self.host?.withLockedValue { $0.certificate }
    }
    let openSSL: OpenSSLContext

    /// The host certificate and the end of its validity, seconds since 1970 (per-host mode only).
    private struct HostCertificate {
        var certificate: Libp2pCertificate
        var notAfter: Int64
    }
    private let host: NIOLockedValueBox<HostCertificate>?

    /// Creates a context.
    ///
    /// - Parameters:
    ///   - configuration: The host's configuration.
    ///   - now: The current time, seconds since 1970-01-01 UTC, for the host certificate's validity.
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
        switch configuration.certificateMode {
        case .perHost:
            let certificate = try Self.makeCertificate(configuration, now: now)
            self.host = NIOLockedValueBox(HostCertificate(certificate: certificate, notAfter: try certificate.notAfter))
        case .perConnection:
            self.host = nil
        }
        self.configuration = configuration
        self.openSSL = try OpenSSLContext(
            clientALPNOffer: offer.map { Array($0.utf8) },
            serverALPN: supported.map { Array($0.utf8) },
            sessionTicketsToSend: configuration.sessionTicketsToSend,
            capturesTrafficSecrets: configuration.recordProtection == .direct
        )
    }

    /// The certificate for a new connection at `now`: the host certificate, replaced first when
    /// less than ``TLSConstants/certificateRenewalMarginSeconds`` of its validity remains; or a
    /// fresh one in per-connection mode.
    func certificateForConnection(now: Int64) throws(TLSError) -> Libp2pCertificate {
        guard let host = self.host else { return try Self.makeCertificate(self.configuration, now: now) }
        if let current = host.withLockedValue({ now < $0.notAfter - TLSConstants.certificateRenewalMarginSeconds ? $0.certificate : nil }) {
            return current
        }
        // Made outside the lock; if two connections renew at once, the later one wins and both
        // certificates are valid.
        let renewed = try Self.makeCertificate(self.configuration, now: now)
        let notAfter = try renewed.notAfter
        host.withLockedValue { $0 = HostCertificate(certificate: renewed, notAfter: notAfter) }
        return renewed
    }

    private static func makeCertificate(_ configuration: TLSConfiguration, now: Int64) throws(TLSError) -> Libp2pCertificate {
        try Libp2pCertificate(
            identityKey: configuration.identityKey,
            keyType: configuration.certificateKeyType,
            extensionCritical: configuration.extensionCritical,
            now: now
        )
    }
}
