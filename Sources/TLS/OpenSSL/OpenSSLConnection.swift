internal import COpenSSL
import NIOCore

/// One TLS connection over OpenSSL with no I/O of its own: received bytes go in through
/// ``receivedBytes(_:)``, the handshake and record calls run OpenSSL, and bytes to send come out of
/// ``drainOutbound(into:)``. Modelled on swift-nio-ssl's `SSLConnection`.
///
/// ### Buffers
/// OpenSSL reads and writes through a custom BIO whose storage is two `ByteBuffer`s: received bytes
/// are read straight out of the caller's buffer, and records are written straight into the buffer
/// that ``drainOutbound(into:)`` later hands over by swapping. A memory BIO (`BIO_s_mem`) would copy
/// each record once more in each direction and zero its growth; at 16 KiB records that copy is a
/// tenth of the AEAD cost. In steady state nothing here allocates.
///
/// Not thread-safe: one connection belongs to one event loop (or one thread).
final class OpenSSLConnection {
    /// The owned `SSL *`; frees the BIO with it.
    private let ssl: OpaquePointer
    /// Keeps the `SSL_CTX` (and its ALPN callback argument) alive as long as the connection.
    let context: OpenSSLContext

    /// Received bytes not yet consumed by OpenSSL (or, after the switch, by the direct record layer).
    var inbound: TLSInboundBuffer

    /// Ciphertext written (by OpenSSL or the direct record layer) and not yet drained.
    var outbound: ByteBuffer

    /// Whether this is the client.
    let isClient: Bool

    /// The application traffic secrets (RFC 8446 §7.1), captured through the key log callback when
    /// the context enables it (see ``installKeyLogCallback(on:)`` for why). Private to this file:
    /// only ``useDirectRecordLayer()`` reads them, and they are wiped as soon as it has derived the
    /// record keys, when the handshake fails or its end leaves them unused, and when the connection
    /// is freed (the value's `deinit`).
    private var trafficSecrets = OpenSSLTrafficSecrets()

    /// Whether key log lines are still taken: only while the handshake runs. Once the secrets are
    /// consumed or wiped, no later line can put secret bytes back into memory.
    private var acceptsKeyLogLines = true

    /// Record protection done directly with EVP once the handshake is over, or nil while OpenSSL's
    /// record layer (SSL_read / SSL_write) is in use.
    private var recordLayer: OpenSSLRecordLayer?

    /// Called from inside the handshake with the peer's leaf certificate and the number of certificates
    /// the peer sent; throws to reject the peer. Set by the owner before the handshake starts.
    var peerChainVerifier: ((OpenSSLCertificate, Int) throws(TLSError) -> Void)?

    /// Why the handshake failed, when the failure was decided on our side (certificate checks, ALPN);
    /// more precise than what OpenSSL's error queue says.
    private(set) var localFailure: TLSError?

    /// Creates a connection.
    ///
    /// - Parameters:
    ///   - context: The shared context.
    ///   - isClient: Client (connect state) or server (accept state).
    ///   - certificate: This connection's own certificate and key, or nil to use the context's.
    ///   - allocator: Allocates the connection's two reusable buffers.
    /// - Throws: ``TLSError/Code/openSSLFailure``.
    init(
        context: OpenSSLContext,
        isClient: Bool,
        certificate: (OpenSSLCertificate, OpenSSLCertificateKey)?,
        allocator: ByteBufferAllocator
    ) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.pointer) else {
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "SSL_new")
        }
        guard let bio = BIO_new(OpenSSLByteBufferBIO.method) else {
            SSL_free(ssl)
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "BIO_new")
        }
        // One BIO for both directions; SSL_set_bio takes a single reference when both are the same.
        SSL_set_bio(ssl, bio, bio)
        self.ssl = ssl
        self.context = context
        self.isClient = isClient
        self.inbound = TLSInboundBuffer(allocator: allocator)
        self.outbound = allocator.buffer(capacity: TLSConstants.maximumRecordBytes)

        let unownedSelf = Unmanaged.passUnretained(self).toOpaque()
        BIO_set_data(bio, unownedSelf)
        guard SSL_set_ex_data(ssl, OpenSSLConnection.exDataIndex, unownedSelf) == 1 else {
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "SSL_set_ex_data")
        }
        if let (certificate, key) = certificate {
            guard SSL_use_certificate(ssl, certificate.pointer) == 1, SSL_use_PrivateKey(ssl, key.pointer) == 1 else {
                throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "SSL_use_certificate")
            }
        }
        // No SNI is ever set: the client MUST NOT send it (wire §5.1).
        if isClient {
            SSL_set_connect_state(ssl)
        } else {
            SSL_set_accept_state(ssl)
        }
    }

    deinit {
        // The BIO may outlive nothing: clear its back pointer before SSL_free releases it.
        if let bio = SSL_get_rbio(self.ssl) { BIO_set_data(bio, nil) }
        SSL_free(self.ssl)
    }

    /// The `SSL` ex-data slot holding the unretained connection, for callbacks that only get an `SSL *`.
    static let exDataIndex: Int32 = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, nil, nil, nil, nil)

    /// The certificate the peer presented, once the handshake has received it (tests and
    /// diagnostics: which certificate a host shows on each connection).
    var peerCertificate: OpenSSLCertificate? {
        SSL_get0_peer_certificate(self.ssl).map { OpenSSLCertificate(borrowing: $0) }
    }

    /// The connection stored in `ssl`, if it is one of ours.
    static func from(_ ssl: OpaquePointer) -> OpenSSLConnection? {
        guard let raw = SSL_get_ex_data(ssl, Self.exDataIndex) else { return nil }
        return Unmanaged<OpenSSLConnection>.fromOpaque(raw).takeUnretainedValue()
    }

    // MARK: - Bytes in and out

    /// Hands bytes received from the network to TLS. They are read lazily by the next handshake
    /// or read call; nothing is copied unless a partial record was left from earlier bytes.
    func receivedBytes(_ bytes: ByteBuffer) {
        self.inbound.append(bytes)
    }

    /// Received bytes not consumed yet.
    var unreadInboundBytes: Int { self.inbound.readableBytes }

    /// Bytes waiting to be sent.
    var pendingOutboundBytes: Int { self.outbound.readableBytes }

    /// Moves the bytes waiting to be sent into `buffer`.
    ///
    /// When `buffer` is empty the two buffers are swapped, so no byte is copied and the connection
    /// keeps `buffer`'s storage for the next records; otherwise the bytes are appended.
    func drainOutbound(into buffer: inout ByteBuffer) {
        guard self.outbound.readableBytes > 0 else { return }
        if buffer.readableBytes == 0 {
            swap(&buffer, &self.outbound)
            self.outbound.clear()
        } else {
            buffer.writeBuffer(&self.outbound)
            self.outbound.clear()
        }
    }

    /// BIO read: copies up to `count` received bytes to `destination`; 0 means "retry later".
    fileprivate func bioRead(_ destination: UnsafeMutableRawPointer, _ count: Int) -> Int {
        self.inbound.read(into: destination, count: count)
    }

    /// BIO write: appends one record (or part of one) to the outbound buffer.
    fileprivate func bioWrite(_ source: UnsafeRawPointer, _ count: Int) {
        self.outbound.writeBytes(UnsafeRawBufferPointer(start: source, count: count))
    }

    // MARK: - Handshake

    /// The outcome of one step of the handshake, a read, or a write.
    enum Step {
        /// Finished: the handshake is complete or the data was processed.
        case complete
        /// OpenSSL needs more received bytes before it can go on.
        case wantsMoreBytes
        /// The peer sent `close_notify`.
        case closed
        /// A fatal error; any alert OpenSSL queued is in the outbound bytes.
        case failed(TLSError)
    }

    /// Runs the handshake as far as the received bytes allow.
    ///
    /// A handshake that fails or is closed wipes any traffic secret captured so far. After
    /// `.complete` the caller decides: ``useDirectRecordLayer()`` or ``discardTrafficSecrets()``.
    func doHandshake() -> Step {
        ERR_clear_error()
        let rc = SSL_do_handshake(self.ssl)
        if rc == 1 { return .complete }
        let step = self.step(afterFailedCall: rc, fallback: .handshakeFailed, operation: "SSL_do_handshake")
        switch step {
        case .wantsMoreBytes, .complete:
            break
        case .closed, .failed:
            self.discardTrafficSecrets()
        }
        return step
    }

    /// Maps a non-success return of an `SSL_*` I/O call to a ``Step``.
    private func step(afterFailedCall rc: Int32, fallback: TLSError.Code, operation: String) -> Step {
        switch SSL_get_error(self.ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantsMoreBytes
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            if let localFailure = self.localFailure {
                ERR_clear_error()
                return .failed(localFailure)
            }
            return .failed(.drainingOpenSSLErrorQueue(fallback, operation: operation))
        }
    }

    /// Called by the context's verify callback with the store holding the peer's chain.
    ///
    /// Sets the store's error so that OpenSSL sends a fitting alert: `bad_certificate` for libp2p
    /// check failures, `certificate_expired`, or `decrypt_error` for a bad self-signature.
    func verifyPeerChain(_ store: OpaquePointer) -> Bool {
        guard let leaf = X509_STORE_CTX_get0_cert(store) else {
            self.localFailure = .unexpectedCertificateCount(0)
            X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED)
            return false
        }
        // The untrusted stack is every certificate the peer sent, leaf included.
        let count = X509_STORE_CTX_get0_untrusted(store).map { Int(OPENSSL_sk_num($0)) } ?? 1
        guard let verifier = self.peerChainVerifier else {
            self.localFailure = .invalidState("no peer verifier installed")
            X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
            return false
        }
        do throws(TLSError) {
            try verifier(OpenSSLCertificate(borrowing: leaf), count)
            X509_STORE_CTX_set_error(store, X509_V_OK)
            return true
        } catch {
            self.localFailure = error
            let code: Int32
            if error.code == .certificateExpired {
                code = X509_V_ERR_CERT_HAS_EXPIRED
            } else if error.code == .invalidCertificateSignature {
                code = X509_V_ERR_CERT_SIGNATURE_FAILURE
            } else {
                code = X509_V_ERR_CERT_REJECTED
            }
            X509_STORE_CTX_set_error(store, code)
            return false
        }
    }

    /// Records that the server found no ALPN overlap, for a precise error.
    func recordALPNFailure(offer: UnsafeBufferPointer<UInt8>) {
        self.localFailure = .noCommonApplicationProtocol(
            "no common ALPN protocol: client offered \(TLSALPN.describe(wireEncoded: offer)), server supports "
                + TLSALPN.describe(self.context.serverALPN)
        )
    }

    /// The ALPN protocol the handshake agreed on, or nil when none was negotiated.
    var negotiatedALPN: [UInt8]? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(self.ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(length)))
    }

    /// The negotiated cipher suite's IANA-style name, such as `TLS_AES_128_GCM_SHA256`.
    var cipherSuite: String {
        guard let cipher = SSL_get_current_cipher(self.ssl), let name = SSL_CIPHER_get_name(cipher) else { return "" }
        return String(cString: name)
    }

    /// The negotiated protocol version's name, such as `TLSv1.3`.
    var protocolVersion: String { String(cString: SSL_get_version(self.ssl)) }

    // MARK: - Records

    /// Whether records now go through the direct record layer.
    var usesDirectRecordLayer: Bool { self.recordLayer != nil }

    /// Takes record protection over from OpenSSL after the handshake: from now on records are sealed
    /// and opened with EVP directly on the connection's buffers (``OpenSSLRecordLayer``). The captured
    /// traffic secrets are wiped before this returns, whether it succeeds or not: the record layer
    /// keeps its own copies, which it wipes on KeyUpdate and when freed.
    ///
    /// Valid only when OpenSSL has sent and read no record under the application keys, which holds
    /// right after `SSL_do_handshake` returns 1 when the server sends no session tickets: OpenSSL
    /// reads no further than the peer's Finished (no read-ahead), and the client's last flight and
    /// the server's Finished use handshake keys.
    ///
    /// - Throws: ``TLSError/Code/openSSLFailure`` when the secrets were not captured or the cipher
    ///   suite is unknown.
    func useDirectRecordLayer() throws(TLSError) {
        defer { self.discardTrafficSecrets() }
        guard let cipher = SSL_get_current_cipher(self.ssl) else {
            throw .openSSLFailure("no cipher suite after the handshake")
        }
        let isClient = self.isClient
        let recordLayer = try self.trafficSecrets.withSecrets { client, server throws(TLSError) in
            try OpenSSLRecordLayer(
                cipherSuiteID: UInt16(truncatingIfNeeded: SSL_CIPHER_get_id(cipher)),
                writeSecret: isClient ? client : server,
                readSecret: isClient ? server : client,
                isClient: isClient
            )
        }
        guard let recordLayer else { throw .openSSLFailure("application traffic secrets were not captured") }
        self.recordLayer = recordLayer
    }

    /// Wipes the captured traffic secrets and stops taking key log lines; for a handshake that ends
    /// without the direct record layer (failure, or a server that sent session tickets).
    func discardTrafficSecrets() {
        self.acceptsKeyLogLines = false
        self.trafficSecrets.wipe()
    }

    /// Whether any captured traffic secret is still in memory (tests).
    var holdsTrafficSecrets: Bool { !self.trafficSecrets.isEmpty }

    /// Queues a fatal `no_application_protocol` alert (RFC 7301 §3.2) after the handshake, for an
    /// agreed ALPN protocol this side cannot run, and makes the record layer refuse everything after
    /// it.
    ///
    /// OpenSSL 3.0 has no call that sends an alert once its handshake is over (`SSL_shutdown` only
    /// sends close_notify), so only the direct record layer can do this.
    ///
    /// - Returns: Whether the alert was queued: false when OpenSSL's record layer is in use.
    func sendNoApplicationProtocolAlert(for error: TLSError) -> Bool {
        guard let recordLayer = self.recordLayer else { return false }
        recordLayer.abort(error, alert: UInt8(SSL_AD_NO_APPLICATION_PROTOCOL), into: &self.outbound)
        return true
    }

    /// Takes a key log line from OpenSSL (NSS key log format) and keeps the two application traffic
    /// secrets; every other line (handshake and exporter secrets) is dropped without being copied.
    /// OpenSSL wipes the line's buffer itself after the callback (`OPENSSL_clear_free`).
    fileprivate func captureKeyLogLine(_ line: UnsafePointer<CChar>) {
        guard self.acceptsKeyLogLines else { return }
        let text = UnsafeBufferPointer(
            start: UnsafeRawPointer(line).assumingMemoryBound(to: UInt8.self),
            count: strlen(line)
        )
        // "<label> <client random, 64 hex digits> <secret in hex>".
        let isClient: Bool
        if text.starts(with: Self.clientSecretLabel) {
            isClient = true
        } else if text.starts(with: Self.serverSecretLabel) {
            isClient = false
        } else {
            return
        }
        let afterLabel = text[Self.clientSecretLabel.count...]
        guard let space = afterLabel.firstIndex(of: UInt8(ascii: " ")) else { return }
        let digits = UnsafeBufferPointer(rebasing: text[(space + 1)...])
        _ = self.trafficSecrets.store(hexDigits: digits, isClient: isClient)
    }

    /// The key log labels of the two application traffic secrets, with their trailing space (both
    /// are the same length).
    private static let clientSecretLabel = Array("CLIENT_TRAFFIC_SECRET_0 ".utf8)
    private static let serverSecretLabel = Array("SERVER_TRAFFIC_SECRET_0 ".utf8)

    /// Installs the key log callback on `context`, for a context whose connections take over record
    /// protection after the handshake.
    ///
    /// Why secrets are captured at all: the direct record layer encrypts with OpenSSL's own EVP AEAD
    /// straight on the connection's buffers, and needs the application traffic secrets to derive the
    /// record keys (RFC 8446 §7.3). OpenSSL still does the whole handshake and key schedule; its key
    /// log callback is the only public way it hands those secrets out.
    ///
    /// The callback cannot send secrets anywhere else: it writes nothing, logs nothing, and finds its
    /// connection through the `SSL`'s own ex-data slot, so each `SSL` feeds only the connection that
    /// owns it, and only while that connection's handshake runs.
    static func installKeyLogCallback(on context: OpaquePointer) {
        SSL_CTX_set_keylog_callback(context, openSSLKeyLog)
    }

    /// Encrypts all of `plaintext`'s readable bytes into records (at most 2^14 bytes each), moving its
    /// reader index to the end. The records wait in the outbound bytes.
    func write(_ plaintext: inout ByteBuffer) -> Step {
        guard plaintext.readableBytes > 0 else { return .complete }
        if let recordLayer = self.recordLayer {
            do throws(TLSError) {
                try recordLayer.seal(&plaintext, into: &self.outbound)
                return .complete
            } catch {
                return .failed(error)
            }
        }
        ERR_clear_error()
        let rc = plaintext.withUnsafeReadableBytes { bytes in
            SSL_write(self.ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        }
        if rc > 0 {
            // Our BIO never refuses a write and partial writes are off, so SSL_write took everything
            // up to the Int32 clamp; loop for the rest.
            plaintext.moveReaderIndex(forwardBy: Int(rc))
            return plaintext.readableBytes > 0 ? self.write(&plaintext) : .complete
        }
        return self.step(afterFailedCall: rc, fallback: .recordLayerFailure, operation: "SSL_write")
    }

    /// Decrypts received records into `buffer`'s writable bytes, at most one record per call.
    ///
    /// Ensures room for one full record first (allocating only when `buffer` is smaller), so a
    /// caller that reuses one buffer reads without allocating.
    ///
    /// - Returns: `.complete` with the number of bytes read, or the reason nothing was read.
    func read(into buffer: inout ByteBuffer) -> (Step, Int) {
        if let recordLayer = self.recordLayer {
            return recordLayer.open(from: &self.inbound, into: &buffer, replies: &self.outbound)
        }
        ERR_clear_error()
        var rc: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: TLSConstants.maximumRecordPlaintextBytes) { space in
            rc = SSL_read(self.ssl, space.baseAddress, Int32(clamping: space.count))
            return rc > 0 ? Int(rc) : 0
        }
        if rc > 0 { return (.complete, Int(rc)) }
        return (self.step(afterFailedCall: rc, fallback: .recordLayerFailure, operation: "SSL_read"), 0)
    }

    // MARK: - Test hooks (peers that do what ours never do)

    /// Makes OpenSSL send KeyUpdate(update_requested) with its next record (OpenSSL record layer only).
    func requestKeyUpdate() -> Bool {
        SSL_key_update(self.ssl, SSL_KEY_UPDATE_REQUESTED) == 1
    }

    /// Makes OpenSSL pad its records to a multiple of `blockSize` (OpenSSL record layer only).
    func padRecords(toMultipleOf blockSize: Int) -> Bool {
        SSL_set_block_padding(self.ssl, blockSize) == 1
    }

    /// Queues one record with any inner content type and content (direct record layer only), to act
    /// as a peer that sends what ours never does.
    func sendRecord(contentType: UInt8, content: [UInt8]) -> Bool {
        self.recordLayer?.sealRecord(contentType: contentType, content: content, into: &self.outbound) ?? false
    }

    /// Queues `close_notify`.
    func shutdown() {
        if let recordLayer = self.recordLayer {
            recordLayer.sealCloseNotify(into: &self.outbound)
            return
        }
        ERR_clear_error()
        _ = SSL_shutdown(self.ssl)
        ERR_clear_error()
    }
}

/// The BIO method whose reads and writes go to an ``OpenSSLConnection``'s buffers.
enum OpenSSLByteBufferBIO {
    /// Created once per process and never freed or changed after set-up, hence `nonisolated(unsafe)`.
    nonisolated(unsafe) static let method: OpaquePointer = {
        let type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK
        guard let method = BIO_meth_new(type, "libp2p ByteBuffer BIO") else {
            preconditionFailure("BIO_meth_new failed: out of memory at start-up")
        }
        BIO_meth_set_write(method, byteBufferBIOWrite)
        BIO_meth_set_read(method, byteBufferBIORead)
        BIO_meth_set_puts(method, byteBufferBIOPuts)
        BIO_meth_set_ctrl(method, byteBufferBIOControl)
        BIO_meth_set_create(method, byteBufferBIOCreate)
        BIO_meth_set_destroy(method, byteBufferBIODestroy)
        return method
    }()
}

/// The key log callback (see ``OpenSSLConnection/installKeyLogCallback(on:)``): hands the line to
/// the connection that owns `ssl`, and to nothing else.
private func openSSLKeyLog(_ ssl: OpaquePointer?, _ line: UnsafePointer<CChar>?) {
    guard let ssl, let line, let connection = OpenSSLConnection.from(ssl) else { return }
    connection.captureKeyLogLine(line)
}

private func connection(of bio: OpaquePointer?) -> OpenSSLConnection? {
    guard let bio, let raw = BIO_get_data(bio) else { return nil }
    return Unmanaged<OpenSSLConnection>.fromOpaque(raw).takeUnretainedValue()
}

private func byteBufferBIOWrite(_ bio: OpaquePointer?, _ data: UnsafePointer<CChar>?, _ length: Int32) -> Int32 {
    BIO_clear_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)
    guard let data, length > 0, let connection = connection(of: bio) else { return length == 0 ? 0 : -1 }
    connection.bioWrite(UnsafeRawPointer(data), Int(length))
    return length
}

private func byteBufferBIORead(_ bio: OpaquePointer?, _ data: UnsafeMutablePointer<CChar>?, _ length: Int32) -> Int32 {
    BIO_clear_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)
    guard let data, length > 0, let connection = connection(of: bio) else { return 0 }
    let n = connection.bioRead(UnsafeMutableRawPointer(data), Int(length))
    if n == 0 {
        // Nothing buffered: "try again later", like an empty non-blocking socket.
        BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
        return -1
    }
    return Int32(n)
}

private func byteBufferBIOPuts(_ bio: OpaquePointer?, _ string: UnsafePointer<CChar>?) -> Int32 {
    guard let string else { return 0 }
    return byteBufferBIOWrite(bio, string, Int32(clamping: strlen(string)))
}

private func byteBufferBIOControl(
    _ bio: OpaquePointer?,
    _ command: Int32,
    _ argument: Int,
    _ pointer: UnsafeMutableRawPointer?
) -> Int {
    switch command {
    case BIO_CTRL_FLUSH:
        // Records are already in the outbound buffer; the owner sends them.
        return 1
    case BIO_CTRL_PENDING:
        return connection(of: bio)?.unreadInboundBytes ?? 0
    case BIO_CTRL_WPENDING:
        return connection(of: bio)?.pendingOutboundBytes ?? 0
    default:
        // Everything else (push/pop, kTLS queries, EOF) is "not supported", as for a socket BIO
        // without the feature.
        return 0
    }
}

private func byteBufferBIOCreate(_ bio: OpaquePointer?) -> Int32 {
    BIO_set_init(bio, 1)
    return 1
}

private func byteBufferBIODestroy(_ bio: OpaquePointer?) -> Int32 {
    BIO_set_data(bio, nil)
    return 1
}
