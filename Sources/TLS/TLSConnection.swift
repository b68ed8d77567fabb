import NIOCore
import P2PCore

/// What a finished libp2p TLS handshake established.
public struct TLSHandshakeResult: Hashable, Sendable {
    /// The authenticated peer.
    public let remotePeerID: PeerID
    /// The peer's identity key, from its certificate's libp2p extension.
    public let remotePublicKey: IdentityPublicKey
    /// The muxer agreed through ALPN, or nil when ALPN gave `libp2p` or nothing: then
    /// multistream-select chooses the muxer inside the secure channel (wire §6.1).
    public let negotiatedMuxer: ProtocolID?
    /// The raw ALPN value agreed, or nil when the server sent none.
    public let negotiatedALPN: String?
    /// The TLS 1.3 cipher suite, such as `TLS_AES_128_GCM_SHA256`.
    public let cipherSuite: String

    /// Whether the muxer was settled in the handshake (early muxer negotiation).
    public var usedEarlyNegotiation: Bool { self.negotiatedMuxer != nil }
}

/// How far the handshake got.
public enum TLSHandshakeProgress: Hashable, Sendable {
    /// More bytes from the peer are needed (send the drained bytes first).
    case inProgress
    /// The handshake finished; records may flow. For a client this is before the server has checked
    /// the client's certificate (TLS 1.3): a rejection arrives as an alert on a later read (wire §5.1).
    case completed(TLSHandshakeResult)
}

/// What one ``TLSConnection/decrypt(into:)`` call produced.
public enum TLSReadResult: Hashable, Sendable {
    /// This many plaintext bytes were appended to the buffer.
    case bytesRead(Int)
    /// No complete record is buffered; feed more bytes.
    case needMoreBytes
    /// The peer sent `close_notify`; no more plaintext follows.
    case closedByPeer
}

/// A libp2p TLS connection with no I/O (sans-I/O): feed it received bytes, drive the handshake,
/// drain the bytes it wants sent, then encrypt and decrypt records.
///
/// ```swift
/// let connection = try TLSConnection(context: context, role: .initiator, expectedRemotePeerID: peer)
/// connection.receivedBytes(bytesFromNetwork)
/// switch try connection.advanceHandshake(now: TLSClock.now()) { ... }
/// connection.drainBytesToSend(into: &outbound)
/// ```
///
/// The dialer is the TLS client (`.initiator`), the listener the server (wire §0).
/// One connection belongs to one thread or event loop; it is not `Sendable`.
///
/// OpenSSL runs the whole handshake through a `ByteBuffer`-backed BIO. Records after it are, by
/// default, protected by ``TLSRecordProtection/direct``: EVP AEAD straight between the caller's
/// buffers and the wire buffers, with the application traffic secrets OpenSSL derived (see
/// `OpenSSLRecordLayer`); ``TLSRecordProtection/openSSL`` keeps `SSL_write` / `SSL_read`.
///
/// ### Allocations
/// In steady state neither ``encrypt(_:)`` with ``drainBytesToSend(into:)`` into a reused buffer nor
/// ``decrypt(into:)`` into a reused buffer of ``TLSConstants/decryptionCapacity`` allocates (OpenSSL's
/// own record layer allocates three small blocks per record it writes and one per record it reads).
public final class TLSConnection {
    private enum State {
        case handshaking
        case established(TLSHandshakeResult)
        case closed
        case failed(TLSError)
    }

    /// Initiator = TLS client, responder = TLS server.
    public let role: ConnectionRole
    /// The peer the dialer expects, checked in the handshake (wire §5.3 step 7).
    public let expectedRemotePeerID: PeerID?

    private let context: TLSContext
    let openSSL: OpenSSLConnection
    private var state: State = .handshaking
    /// The time the verify callback checks the peer's validity against; set by each handshake step.
    private var now: Int64
    /// The peer the verify callback authenticated.
    private var verifiedPeer: Libp2pCertificate.VerifiedPeer?

    /// This side's certificate choice; the internal initializer lets tests present bad ones.
    enum CertificateChoice {
        /// The host certificate (carried by the context), or a fresh one per connection.
        case fromContext
        /// This exact certificate.
        case explicit(Libp2pCertificate)
        /// None at all (a client that presents no certificate); only with a per-connection
        /// context, whose SSL_CTX carries no certificate.
        case none
    }

    /// Creates a connection and, in per-connection certificate mode, its certificate.
    ///
    /// - Parameters:
    ///   - context: The host's shared context.
    ///   - role: `.initiator` for the dialer (TLS client), `.responder` for the listener (TLS server).
    ///   - expectedRemotePeerID: The peer the dialer meant to reach; the handshake fails with
    ///     ``TLSError/Code/peerIDMismatch`` if the certificate authenticates another. Nil for listeners.
    ///   - now: The current time, seconds since 1970-01-01 UTC, for a fresh certificate's validity.
    ///   - allocator: Allocates the connection's reusable buffers.
    /// - Throws: ``TLSError/Code/certificateGenerationFailed`` or ``TLSError/Code/openSSLFailure``.
    public convenience init(
        context: TLSContext,
        role: ConnectionRole,
        expectedRemotePeerID: PeerID? = nil,
        now: Int64 = TLSClock.now(),
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) throws(TLSError) {
        try self.init(
            context: context,
            role: role,
            expectedRemotePeerID: expectedRemotePeerID,
            certificate: .fromContext,
            now: now,
            allocator: allocator
        )
    }

    init(
        context: TLSContext,
        role: ConnectionRole,
        expectedRemotePeerID: PeerID?,
        certificate: CertificateChoice,
        now: Int64,
        allocator: ByteBufferAllocator
    ) throws(TLSError) {
        let setup = try context.setup(now: now)
        let own: Libp2pCertificate?
        switch certificate {
        case .fromContext:
            own = setup.certificate
        case .explicit(let certificate):
            own = certificate
        case .none:
            // With a per-host context the SSL_CTX's certificate would still be presented.
            own = nil
        }
        self.role = role
        self.expectedRemotePeerID = expectedRemotePeerID
        self.context = context
        self.now = now
        self.openSSL = try OpenSSLConnection(
            context: setup.openSSL,
            isClient: role == .initiator,
            certificate: own.map { ($0.certificate, $0.key) },
            allocator: allocator
        )
        // `unowned`: the OpenSSL connection, and so this closure, never outlives `self`, and OpenSSL
        // only calls it from inside `advanceHandshake`.
        self.openSSL.peerChainVerifier = { [unowned self] certificate, chainLength throws(TLSError) in
            self.verifiedPeer = try Libp2pCertificate.verify(
                certificate,
                chainLength: chainLength,
                now: self.now,
                expectedPeerID: self.expectedRemotePeerID
            )
        }
    }

    /// Whether records are protected by the direct record layer after the handshake: configured so,
    /// and OpenSSL sent nothing under the application keys (a server sending session tickets would).
    private var usesDirectRecordProtection: Bool {
        let configuration = self.context.configuration
        switch configuration.recordProtection {
        case .direct: return self.role == .initiator || configuration.sessionTicketsToSend == 0
        case .openSSL: return false
        }
    }

    /// The DER of the certificate the peer presented, once received (tests and diagnostics).
    var peerCertificateDER: [UInt8]? {
        get throws(TLSError) { try self.openSSL.peerCertificate?.derEncoded() }
    }

    /// Whether records currently go through the direct record layer (tests and diagnostics).
    var recordsAreDirect: Bool { self.openSSL.usesDirectRecordLayer }

    /// The handshake result once established.
    public var handshakeResult: TLSHandshakeResult? {
        switch self.state {
        case .established(let result): result
        case .handshaking, .closed, .failed: nil
        }
    }

    // MARK: - Bytes in and out

    /// Hands bytes received from the peer to TLS. Call ``advanceHandshake(now:)`` or
    /// ``decrypt(into:)`` next. The buffer is held by reference until TLS has read it, not copied.
    public func receivedBytes(_ bytes: ByteBuffer) {
        self.openSSL.receivedBytes(bytes)
    }

    /// Whether there are bytes to send to the peer.
    public var hasBytesToSend: Bool { self.openSSL.pendingOutboundBytes > 0 }

    /// Received bytes TLS has not processed yet (a partial record, or records after the handshake
    /// waiting for ``decrypt(into:)``).
    public var unprocessedReceivedBytes: Int { self.openSSL.unreadInboundBytes }

    /// Moves the bytes to send into `buffer`: swapped in without copying when `buffer` is empty,
    /// appended otherwise. Reusing one drained buffer keeps the steady state allocation-free.
    public func drainBytesToSend(into buffer: inout ByteBuffer) {
        self.openSSL.drainOutbound(into: &buffer)
    }

    // MARK: - Handshake

    /// Runs the handshake as far as the received bytes allow.
    ///
    /// On failure any alert OpenSSL produced is left to drain and send before closing.
    ///
    /// - Parameter now: The current time, seconds since 1970-01-01 UTC, for the peer's validity check.
    /// - Throws: ``TLSError`` naming the failed check (certificate, ALPN, alert received, ...).
    public func advanceHandshake(now: Int64) throws(TLSError) -> TLSHandshakeProgress {
        switch self.state {
        case .handshaking:
            break
        case .established(let result):
            return .completed(result)
        case .closed:
            throw .invalidState("handshake on a closed connection")
        case .failed(let error):
            throw error
        }
        self.now = now
        switch self.openSSL.doHandshake() {
        case .wantsMoreBytes:
            return .inProgress
        case .complete:
            let result = try self.finishHandshake()
            self.state = .established(result)
            return .completed(result)
        case .closed:
            let error = TLSError.connectionClosed("peer sent close_notify during the handshake")
            self.state = .failed(error)
            throw error
        case .failed(let error):
            self.state = .failed(error)
            throw error
        }
    }

    private func finishHandshake() throws(TLSError) -> TLSHandshakeResult {
        guard let peer = self.verifiedPeer else {
            // OpenSSL finished without running the verify callback: only possible if the peer sent no
            // certificate and OpenSSL did not require one, which the context forbids.
            let error = TLSError.missingPeerCertificate("handshake finished without a verified peer certificate")
            self.state = .failed(error)
            throw error
        }
        // The record layer is settled first, so that an ALPN failure below can still send its alert
        // under the application keys. Either way the captured traffic secrets are wiped here.
        if self.usesDirectRecordProtection {
            do throws(TLSError) {
                try self.openSSL.useDirectRecordLayer()
            } catch {
                self.state = .failed(error)
                throw error
            }
        } else {
            self.openSSL.discardTrafficSecrets()
        }
        let negotiated = self.openSSL.negotiatedALPN
        let outcome: TLSALPN.Outcome
        do {
            outcome = try TLSALPN.outcome(negotiated: negotiated, muxers: self.context.configuration.muxers)
        } catch {
            self.state = .failed(error)
            // A protocol this side cannot run was agreed: fatal no_application_protocol (RFC 7301
            // §3.2), never close_notify, which would tell the peer the connection ended in order.
            // OpenSSL cannot send an alert once its handshake is over, so with OpenSSL's record
            // layer nothing is sent and the connection just closes (still not an orderly end).
            _ = self.openSSL.sendNoApplicationProtocolAlert(for: error)
            throw error
        }
        let muxer: ProtocolID? =
            switch outcome {
            case .muxer(let muxer): muxer
            case .multistreamSelect: nil
            }
        return TLSHandshakeResult(
            remotePeerID: peer.peerID,
            remotePublicKey: peer.publicKey,
            negotiatedMuxer: muxer,
            negotiatedALPN: negotiated.map { String(decoding: $0, as: UTF8.self) },
            cipherSuite: self.openSSL.cipherSuite
        )
    }

    // MARK: - Records

    /// Encrypts all of `plaintext`'s readable bytes into records (2^14 plaintext bytes at most each)
    /// and moves its reader index to the end. Drain the records with ``drainBytesToSend(into:)``.
    ///
    /// - Throws: ``TLSError/Code/invalidState`` before the handshake finished or after close;
    ///   ``TLSError/Code/recordLayerFailure``.
    public func encrypt(_ plaintext: inout ByteBuffer) throws(TLSError) {
        switch self.state {
        case .established:
            break
        case .handshaking:
            throw .invalidState("encrypt before the handshake finished")
        case .closed:
            throw .invalidState("encrypt after close")
        case .failed(let error):
            throw error
        }
        switch self.openSSL.write(&plaintext) {
        case .complete, .wantsMoreBytes:
            return
        case .closed:
            throw .invalidState("encrypt after the peer closed")
        case .failed(let error):
            self.state = .failed(error)
            throw error
        }
    }

    /// Decrypts the next buffered record into `buffer`'s writable bytes (room for one record is made
    /// first, allocating only when `buffer` has fewer than ``TLSConstants/decryptionCapacity``
    /// writable bytes).
    ///
    /// Session tickets and other post-handshake messages are processed on the way and produce no
    /// plaintext; a call then returns the next record's data or ``TLSReadResult/needMoreBytes``.
    ///
    /// - Throws: ``TLSError/Code/alertReceived`` (for example a server that rejected this client's
    ///   certificate), ``TLSError/Code/recordLayerFailure``, ``TLSError/Code/invalidState``.
    public func decrypt(into buffer: inout ByteBuffer) throws(TLSError) -> TLSReadResult {
        switch self.state {
        case .established:
            break
        case .handshaking:
            throw .invalidState("decrypt before the handshake finished")
        case .closed:
            return .closedByPeer
        case .failed(let error):
            throw error
        }
        let (step, count) = self.openSSL.read(into: &buffer)
        switch step {
        case .complete:
            return .bytesRead(count)
        case .wantsMoreBytes:
            return .needMoreBytes
        case .closed:
            self.state = .closed
            return .closedByPeer
        case .failed(let error):
            self.state = .failed(error)
            throw error
        }
    }

    /// Queues `close_notify` for the peer (drain and send it) and stops the connection.
    public func close() {
        switch self.state {
        case .established, .handshaking, .closed:
            // Also after the peer's close_notify: answering it is what TLS asks (RFC 8446 §6.1).
            self.openSSL.shutdown()
            self.state = .closed
        case .failed:
            return
        }
    }
}
