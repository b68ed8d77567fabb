internal import COpenSSL

/// An `SSL_CTX` set up for libp2p TLS: TLS 1.3 only, mutual authentication with the libp2p checks
/// in place of PKI, ALPN in both directions, and no session tickets from the server unless asked.
///
/// One context serves both roles and any number of connections; OpenSSL allows `SSL_new` from
/// several threads on one `SSL_CTX`, and nothing here changes after `init`, hence
/// `@unchecked Sendable`.
final class OpenSSLContext: @unchecked Sendable {
    /// The owned `SSL_CTX *`.
    let pointer: OpaquePointer

    /// ALPN tokens the server side accepts, as raw bytes, checked in the client's order
    /// (inlined §TLS; wire §6.1).
    let serverALPN: [[UInt8]]

    /// Creates the context.
    ///
    /// - Parameters:
    ///   - clientALPNOffer: The client's ALPN list in preference order (muxers, then `libp2p`).
    ///   - serverALPN: What the server side accepts.
    ///   - sessionTicketsToSend: Tickets the server sends after the handshake; libp2p never resumes,
    ///     so the default configuration sends none (as go does).
    ///   - certificate: A certificate and key for every connection of this context (the host's),
    ///     or nil when each connection installs its own.
    ///   - capturesTrafficSecrets: Whether connections keep their application traffic secrets (through
    ///     the key log callback) so that the direct record layer can take over after the handshake.
    /// - Throws: ``TLSError/Code/openSSLFailure``.
    init(
        clientALPNOffer: [[UInt8]],
        serverALPN: [[UInt8]],
        sessionTicketsToSend: Int,
        certificate: (OpenSSLCertificate, OpenSSLCertificateKey)?,
        capturesTrafficSecrets: Bool
    ) throws(TLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_method()) else {
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "SSL_CTX_new")
        }
        self.pointer = context
        self.serverALPN = serverALPN

        // TLS 1.3 only (tls spec "Handshake Protocol"; wire §5.1).
        guard COpenSSLShim_SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION) == 1,
            COpenSSLShim_SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1,
            SSL_CTX_set_ciphersuites(context, TLSConstants.cipherSuites) == 1,
            SSL_CTX_set_num_tickets(context, sessionTicketsToSend) == 1
        else {
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "SSL_CTX protocol settings")
        }

        // Mutual authentication: the server MUST request and require a client certificate (wire §5.1).
        // The chain check is replaced wholesale by `verifyCertificateChain` (the libp2p checks),
        // so OpenSSL's PKI path (trust store, hostname, system clock) never runs.
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        SSL_CTX_set_cert_verify_callback(context, openSSLVerifyCertificateChain, nil)

        // ALPN (wire §5.4, §6.1). SSL_CTX_set_alpn_protos returns 0 on success.
        let offer = TLSALPN.wireEncoded(clientALPNOffer)
        let offered = offer.withUnsafeBufferPointer {
            SSL_CTX_set_alpn_protos(context, $0.baseAddress, UInt32($0.count))
        }
        guard offered == 0 else {
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "SSL_CTX_set_alpn_protos")
        }
        SSL_CTX_set_alpn_select_cb(context, openSSLSelectALPN, Unmanaged.passUnretained(self).toOpaque())

        if capturesTrafficSecrets {
            OpenSSLConnection.installKeyLogCallback(on: context)
        }

        // The host certificate lives in the SSL_CTX, so that SSL_new only takes a reference to it
        // (installing it on every connection instead costs about 25 allocations per side).
        if let (certificate, key) = certificate {
            guard SSL_CTX_use_certificate(context, certificate.pointer) == 1,
                SSL_CTX_use_PrivateKey(context, key.pointer) == 1
            else {
                throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "SSL_CTX_use_certificate")
            }
        }
    }

    deinit { SSL_CTX_free(self.pointer) }
}

/// The server's ALPN choice: the first of the client's entries the server supports, honouring the
/// client's order as the spec asks and go and js do (wire §6.1, §8 item 12), where OpenSSL's default
/// would follow the server's order. No overlap is fatal with `no_application_protocol` (RFC 7301 §3.2).
private func openSSLSelectALPN(
    _ ssl: OpaquePointer?,
    _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?,
    _ offer: UnsafePointer<UInt8>?,
    _ offerLength: UInt32,
    _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let out, let outLength, let offer, let argument else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    let context = Unmanaged<OpenSSLContext>.fromOpaque(argument).takeUnretainedValue()
    let offerBytes = UnsafeBufferPointer(start: offer, count: Int(offerLength))
    guard let selected = TLSALPN.select(clientOffer: offerBytes, supported: context.serverALPN) else {
        if let ssl { OpenSSLConnection.from(ssl)?.recordALPNFailure(offer: offerBytes) }
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    out.pointee = offer + selected.lowerBound
    outLength.pointee = UInt8(selected.count)
    return SSL_TLSEXT_ERR_OK
}

/// Replaces OpenSSL's chain verification for every handshake of the context: hands the peer's chain
/// to the connection, which runs the libp2p checks (wire §5.3). Returning 0 aborts the handshake
/// with the alert matching the error set on `store`.
private func openSSLVerifyCertificateChain(_ store: OpaquePointer?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let store,
        let rawSSL = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let connection = OpenSSLConnection.from(OpaquePointer(rawSSL))
    else { return 0 }
    return connection.verifyPeerChain(store) ? 1 : 0
}
