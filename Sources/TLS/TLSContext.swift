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
        switch self.mode {
        case .perHost(let host): host.withLockedValue { $0.certificate }
        case .perConnection: nil
        }
    }

    /// What a new connection is made from: the OpenSSL context, and a certificate to install on the
    /// connection itself (per-connection mode) or `nil` (the context carries the host's).
    struct ConnectionSetup {
        let openSSL: OpenSSLContext
        let certificate: Libp2pCertificate?
    }

    /// The host certificate, the end of its validity (seconds since 1970) and the OpenSSL context
    /// that carries it. Renewal makes a new context: connections made before keep theirs.
    private struct HostState {
        var certificate: Libp2pCertificate
        var notAfter: Int64
        var openSSL: OpenSSLContext
    }

    private enum Mode: Sendable {
        /// The host certificate and the context carrying it.
        case perHost(NIOLockedValueBox<HostState>)
        /// One context without a certificate; each connection installs a fresh one.
        case perConnection(OpenSSLContext)
    }

    private let mode: Mode
    private let clientALPNOffer: [[UInt8]]
    private let serverALPN: [[UInt8]]

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
        self.configuration = configuration
        self.clientALPNOffer = offer.map { Array($0.utf8) }
        self.serverALPN = supported.map { Array($0.utf8) }
        switch configuration.certificateMode {
        case .perHost:
            let certificate = try Self.makeCertificate(configuration, now: now)
            let openSSL = try Self.makeOpenSSLContext(
                configuration,
                offer: self.clientALPNOffer,
                supported: self.serverALPN,
                certificate: certificate
            )
            self.mode = .perHost(
                NIOLockedValueBox(
                    HostState(certificate: certificate, notAfter: try certificate.notAfter, openSSL: openSSL)
                )
            )
        case .perConnection:
            self.mode = .perConnection(
                try Self.makeOpenSSLContext(
                    configuration,
                    offer: self.clientALPNOffer,
                    supported: self.serverALPN,
                    certificate: nil
                )
            )
        }
    }

    /// What a connection made at `now` starts from. In per-host mode the host certificate (and its
    /// context) is replaced first when less than ``TLSConstants/certificateRenewalMarginSeconds``
    /// of its validity remains; in per-connection mode a fresh certificate is made.
    func setup(now: Int64) throws(TLSError) -> ConnectionSetup {
        let host: NIOLockedValueBox<HostState>
        switch self.mode {
        case .perConnection(let shared):
            return ConnectionSetup(openSSL: shared, certificate: try Self.makeCertificate(self.configuration, now: now))
        case .perHost(let state):
            host = state
        }
        let current = host.withLockedValue { state -> OpenSSLContext? in
            now < state.notAfter - TLSConstants.certificateRenewalMarginSeconds ? state.openSSL : nil
        }
        if let current { return ConnectionSetup(openSSL: current, certificate: nil) }
        // Made outside the lock; if two connections renew at once, the later one wins and both
        // certificates are valid.
        let renewed = try Self.makeCertificate(self.configuration, now: now)
        let openSSL = try Self.makeOpenSSLContext(
            self.configuration,
            offer: self.clientALPNOffer,
            supported: self.serverALPN,
            certificate: renewed
        )
        let state = HostState(certificate: renewed, notAfter: try renewed.notAfter, openSSL: openSSL)
        host.withLockedValue { $0 = state }
        return ConnectionSetup(openSSL: openSSL, certificate: nil)
    }

    /// The certificate a connection made at `now` presents (renewing the host's first, as
    /// ``setup(now:)`` does).
    func certificateForConnection(now: Int64) throws(TLSError) -> Libp2pCertificate {
        let setup = try self.setup(now: now)
        switch self.mode {
        case .perConnection:
            if let certificate = setup.certificate { return certificate }
            return try Self.makeCertificate(self.configuration, now: now)
        case .perHost(let host):
            return host.withLockedValue { $0.certificate }
        }
    }

    private static func makeCertificate(_ configuration: TLSConfiguration, now: Int64) throws(TLSError) -> Libp2pCertificate {
        try Libp2pCertificate(
            identityKey: configuration.identityKey,
            keyType: configuration.certificateKeyType,
            extensionCritical: configuration.extensionCritical,
            now: now
        )
    }

    private static func makeOpenSSLContext(
        _ configuration: TLSConfiguration,
        offer: [[UInt8]],
        supported: [[UInt8]],
        certificate: Libp2pCertificate?
    ) throws(TLSError) -> OpenSSLContext {
        try OpenSSLContext(
            clientALPNOffer: offer,
            serverALPN: supported,
            sessionTicketsToSend: configuration.sessionTicketsToSend,
            certificate: certificate.map { ($0.certificate, $0.key) },
            capturesTrafficSecrets: configuration.recordProtection == .direct
        )
    }
}
