import P2PCore

/// The certificate key a libp2p TLS certificate carries.
public enum TLSCertificateKeyType: String, Hashable, Sendable, CaseIterable {
    /// ECDSA P-256 with ecdsa-with-SHA256, what go and rust generate (wire §5.2).
    case p256
    /// Ed25519.
    case ed25519
}

/// How often a certificate is made.
public enum TLSCertificateMode: String, Hashable, Sendable, CaseIterable {
    /// One certificate per host identity, made when the ``TLSContext`` is created and presented on
    /// every connection, replaced by a fresh one before it expires
    /// (``TLSConstants/certificateRenewalMarginSeconds``). What go-libp2p
    /// (`p2p/security/tls/transport.go`: `New` calls `NewIdentity` once) and rust-libp2p
    /// (`transports/tls`: one certificate per `Config`) do, and so the default.
    case perHost = "per-host"
    /// A fresh certificate key and certificate for every connection: no libp2p implementation
    /// does this; it costs a key generation and two signatures per connection and side, and is
    /// kept to measure that cost.
    case perConnection = "per-connection"
}

/// Who protects records once the handshake is over.
public enum TLSRecordProtection: String, Hashable, Sendable, CaseIterable {
    /// AEAD with EVP directly on the connection's buffers, with the traffic secrets OpenSSL derived
    /// (as kernel TLS offload does): no copies besides the AEAD's own output, no allocation per
    /// record. A server that sends session tickets falls back to ``openSSL``.
    case direct
    /// OpenSSL's record layer (`SSL_write` / `SSL_read`) throughout.
    case openSSL
}

/// What a libp2p TLS endpoint needs: its identity, its muxers, and certificate policy.
///
/// The peer a dialer expects is per connection, so it is given to ``TLSConnection`` and ``TLSHandler``
/// rather than here.
public struct TLSConfiguration: Sendable {
    /// The host's identity key; it signs every certificate.
    public var identityKey: IdentityPrivateKey
    /// Muxers in preference order, offered through ALPN before `libp2p` (early muxer negotiation,
    /// wire §6.1). Empty means classic mode: ALPN carries only `libp2p` and the muxer is chosen by
    /// multistream-select afterwards.
    public var muxers: [ProtocolID]
    /// One certificate per host (the default), or a fresh one per connection.
    public var certificateMode: TLSCertificateMode
    /// The certificate key type.
    public var certificateKeyType: TLSCertificateKeyType
    /// Whether to mark the libp2p extension critical (rust does, go does not; both accept either).
    public var extensionCritical: Bool
    /// Session tickets the server sends after the handshake. libp2p never resumes, and go sends none,
    /// so the default is 0; a client always accepts (and ignores) tickets a server sends.
    public var sessionTicketsToSend: Int
    /// Who protects records after the handshake; ``TLSRecordProtection/direct`` by default.
    public var recordProtection: TLSRecordProtection

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - identityKey: The host's identity key.
    ///   - muxers: Muxers for early negotiation; empty for classic mode.
    ///   - certificateMode: Defaults to one certificate per host, as go and rust do.
    ///   - certificateKeyType: Defaults to P-256.
    public init(
        identityKey: IdentityPrivateKey,
        muxers: [ProtocolID] = [],
        certificateMode: TLSCertificateMode = .perHost,
        certificateKeyType: TLSCertificateKeyType = .p256
    ) {
        self.identityKey = identityKey
        self.muxers = muxers
        self.certificateMode = certificateMode
        self.certificateKeyType = certificateKeyType
        self.extensionCritical = false
        self.sessionTicketsToSend = 0
        self.recordProtection = .direct
    }
}
