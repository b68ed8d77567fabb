internal import COpenSSL
import NIOCore

/// TLS 1.3 record protection after the handshake (RFC 8446 §5.2–§5.5, §4.6), done with EVP directly
/// on the connection's `ByteBuffer`s.
///
/// ### Why not SSL_write / SSL_read
/// OpenSSL's record layer copies every record twice more than the AEAD needs (plaintext into its
/// write buffer, ciphertext into the BIO; ciphertext into its read buffer, plaintext out of it) and
/// allocates for each record it writes. At 16 KiB records that keeps it near three quarters of the
/// raw AEAD's throughput. Here the AEAD reads the caller's plaintext and writes the ciphertext
/// straight into the outbound buffer, and decrypts straight from the received bytes into the
/// caller's buffer: the only work per record is the AEAD itself, with the same EVP calls OpenSSL's
/// own TLS 1.3 code makes. OpenSSL still does the whole handshake; this takes over at its end, with
/// the application traffic secrets OpenSSL reports (as kernel TLS offload does).
///
/// ### Invariants
/// - Sequence numbers start at 0 for both directions: OpenSSL has sent and read nothing under the
///   application keys when this takes over (see ``OpenSSLConnection/useDirectRecordLayer()``).
/// - Post-handshake messages are handled here: NewSessionTicket (client only) is parsed and ignored;
///   KeyUpdate updates the read key and, if asked, answers and updates the write key (§4.6.3).
/// - Any failure sends the matching fatal alert and is sticky.
final class OpenSSLRecordLayer {
    private let sealer: OpenSSLRecordCipher
    private let opener: OpenSSLRecordCipher
    private let isClient: Bool
    /// Handshake messages received after the handshake, until complete (bounded).
    private var handshakeMessages: [UInt8] = []
    private var failure: TLSError?
    private var peerClosed = false

    /// Content types (RFC 8446 §5.1).
    private enum ContentType {
        static let alert: UInt8 = 21
        static let handshake: UInt8 = 22
        static let applicationData: UInt8 = 23
    }

    /// Alert levels and the alert descriptions this layer sends (RFC 8446 §6).
    enum Alert {
        static let warning: UInt8 = 1
        static let fatal: UInt8 = 2
        static let closeNotify: UInt8 = 0
        static let unexpectedMessage: UInt8 = 10
        static let badRecordMAC: UInt8 = 20
        static let recordOverflow: UInt8 = 22
        static let decodeError: UInt8 = 50
        static let internalError: UInt8 = 80
    }

    /// Handshake message types that may follow the handshake (RFC 8446 §4.6).
    private enum HandshakeType {
        static let newSessionTicket: UInt8 = 4
        static let keyUpdate: UInt8 = 24
    }

    /// The largest post-handshake message accepted: a NewSessionTicket's ticket is at most 2^16 − 1
    /// bytes, its nonce 255, its extensions 2^16 − 1 (RFC 8446 §4.6.1).
    static let maximumPostHandshakeMessageBytes = 4 + 4 + 4 + 1 + 255 + 2 + 65535 + 2 + 65535

    /// Creates the layer for `cipherSuiteID` (0x1301, 0x1302 or 0x1303) from both application
    /// traffic secrets. The secrets are copied into storage of the layer's own (wiped on KeyUpdate
    /// and when freed); the caller wipes its bytes.
    ///
    /// - Throws: ``TLSError/Code/openSSLFailure`` for an unknown suite or a failed key derivation.
    init(
        cipherSuiteID: UInt16,
        writeSecret: UnsafeRawBufferPointer,
        readSecret: UnsafeRawBufferPointer,
        isClient: Bool
    ) throws(TLSError) {
        guard let suite = OpenSSLRecordCipher.Suite(id: cipherSuiteID) else {
            throw .openSSLFailure("no direct record protection for cipher suite 0x\(String(cipherSuiteID, radix: 16))")
        }
        self.sealer = try OpenSSLRecordCipher(suite: suite, secret: writeSecret, encrypting: true)
        self.opener = try OpenSSLRecordCipher(suite: suite, secret: readSecret, encrypting: false)
        self.isClient = isClient
    }

    // MARK: - Sending

    /// Seals all of `plaintext`'s readable bytes into application data records of at most 2^14
    /// plaintext bytes, appended to `outbound`; moves `plaintext`'s reader index to its end.
    func seal(_ plaintext: inout ByteBuffer, into outbound: inout ByteBuffer) throws(TLSError) {
        if let failure = self.failure { throw failure }
        while plaintext.readableBytes > 0 {
            let count = min(plaintext.readableBytes, TLSConstants.maximumRecordPlaintextBytes)
            let sealed: Bool = plaintext.withUnsafeReadableBytes { source in
                self.sealer.seal(
                    UnsafeRawBufferPointer(rebasing: source[..<count]),
                    contentType: ContentType.applicationData,
                    into: &outbound
                )
            }
            guard sealed else { throw self.fail(.recordLayerFailure("record encryption failed"), alert: nil, into: &outbound) }
            plaintext.moveReaderIndex(forwardBy: count)
        }
    }

    /// Appends one record of any inner content type (tests use it to play misbehaving peers).
    func sealRecord(contentType: UInt8, content: [UInt8], into outbound: inout ByteBuffer) -> Bool {
        content.withUnsafeBytes { self.sealer.seal($0, contentType: contentType, into: &outbound) }
    }

    /// Appends an encrypted `close_notify` alert.
    func sealCloseNotify(into outbound: inout ByteBuffer) {
        guard self.failure == nil else { return }
        self.sealAlert(level: Alert.warning, description: Alert.closeNotify, into: &outbound)
        self.failure = .invalidState("connection closed")
    }

    private func sealAlert(level: UInt8, description: UInt8, into outbound: inout ByteBuffer) {
        let payload: (UInt8, UInt8) = (level, description)
        _ = withUnsafeBytes(of: payload) { bytes in
            self.sealer.seal(bytes, contentType: ContentType.alert, into: &outbound)
        }
    }

    /// Fails the connection for a reason decided above the record layer (an ALPN result it cannot
    /// use): sends the fatal `alert` unless a failure came first, and refuses every later record.
    func abort(_ error: TLSError, alert: UInt8, into outbound: inout ByteBuffer) {
        _ = self.fail(error, alert: alert, into: &outbound)
    }

    /// Records `error`, sends a fatal alert (`alert`, if any) and returns the error to throw.
    private func fail(_ error: TLSError, alert: UInt8?, into outbound: inout ByteBuffer) -> TLSError {
        if self.failure == nil, let alert {
            self.sealAlert(level: Alert.fatal, description: alert, into: &outbound)
        }
        self.failure = error
        return error
    }

    // MARK: - Receiving

    /// Opens the next record(s) from `inbound` until one carries application data, which is written
    /// to `buffer`'s writable bytes.
    ///
    /// - Parameters:
    ///   - inbound: The received bytes; whole records are consumed.
    ///   - buffer: Gets the plaintext of one application data record.
    ///   - replies: Gets any record this side must send in response (a KeyUpdate, a fatal alert).
    func open(
        from inbound: inout TLSInboundBuffer,
        into buffer: inout ByteBuffer,
        replies: inout ByteBuffer
    ) -> (OpenSSLConnection.Step, Int) {
        if self.peerClosed { return (.closed, 0) }
        if let failure = self.failure { return (.failed(failure), 0) }
        while true {
            // RFC 8446 §5.1: type (1), legacy_record_version (2), length (2).
            guard inbound.readableBytes >= 5 else { return (.wantsMoreBytes, 0) }
            let (type, length) = inbound.withReadableBytes { bytes in
                (bytes[0], Int(bytes[3]) << 8 | Int(bytes[4]))
            }
            guard type == ContentType.applicationData else {
                // Everything after the handshake is encrypted as application_data (§5.2).
                let error = TLSError.recordLayerFailure("unexpected record type \(type) after the handshake")
                return (.failed(self.fail(error, alert: Alert.unexpectedMessage, into: &replies)), 0)
            }
            // §5.2: length ≤ 2^14 + 256, and at least the tag plus the content type byte.
            guard length <= TLSConstants.maximumRecordBytes - 5 else {
                let error = TLSError.recordLayerFailure("record of \(length) bytes is over 2^14 + 256")
                return (.failed(self.fail(error, alert: Alert.recordOverflow, into: &replies)), 0)
            }
            guard length >= OpenSSLRecordCipher.tagLength + 1 else {
                let error = TLSError.recordLayerFailure("record of \(length) bytes is too short to be encrypted")
                return (.failed(self.fail(error, alert: Alert.decodeError, into: &replies)), 0)
            }
            guard inbound.readableBytes >= 5 + length else { return (.wantsMoreBytes, 0) }

            // Decrypt into the caller's writable bytes; keep them only if they are application data.
            let innerLength = length - OpenSSLRecordCipher.tagLength
            var contentType: UInt8 = 0
            var contentLength = 0
            var opened = false
            var pending: [UInt8] = []
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: innerLength) { space in
                opened = inbound.withReadableBytes { record in
                    self.opener.open(UnsafeRawBufferPointer(rebasing: record[..<(5 + length)]), into: space)
                }
                guard opened else { return 0 }
                // §5.4: the content type is the last non-zero byte; zeros after it are padding.
                var end = innerLength
                while end > 0, space[end - 1] == 0 { end -= 1 }
                guard end > 0 else { return 0 }
                contentType = space[end - 1]
                contentLength = end - 1
                guard contentType == ContentType.applicationData else {
                    pending = Array(UnsafeRawBufferPointer(rebasing: space[..<contentLength]))
                    return 0
                }
                return contentLength
            }
            inbound.consume(5 + length)
            guard opened else {
                let error = TLSError.recordLayerFailure("record failed to decrypt (bad_record_mac)")
                return (.failed(self.fail(error, alert: Alert.badRecordMAC, into: &replies)), 0)
            }
            // §5.1: a handshake message split over records must not be interleaved with other types.
            guard self.handshakeMessages.isEmpty || contentType == ContentType.handshake else {
                let error = TLSError.recordLayerFailure("record of type \(contentType) inside a split handshake message")
                return (.failed(self.fail(error, alert: Alert.unexpectedMessage, into: &replies)), 0)
            }
            switch contentType {
            case ContentType.applicationData:
                // Empty application data records are legal (§5.4); keep reading.
                if contentLength > 0 { return (.complete, contentLength) }
            case ContentType.alert:
                if let step = self.receivedAlert(pending, replies: &replies) { return (step, 0) }
            case ContentType.handshake:
                if let error = self.receivedHandshakeBytes(pending, replies: &replies) { return (.failed(error), 0) }
            default:
                let error = TLSError.recordLayerFailure("record with no or unknown inner content type \(contentType)")
                return (.failed(self.fail(error, alert: Alert.unexpectedMessage, into: &replies)), 0)
            }
        }
    }

    /// Handles an alert; returns the step to report, or nil to keep reading.
    private func receivedAlert(_ alert: [UInt8], replies: inout ByteBuffer) -> OpenSSLConnection.Step? {
        guard alert.count == 2 else {
            let error = TLSError.recordLayerFailure("alert record of \(alert.count) bytes")
            return .failed(self.fail(error, alert: Alert.decodeError, into: &replies))
        }
        if alert[1] == 0 {
            // close_notify (§6.1).
            self.peerClosed = true
            return .closed
        }
        let name = String(cString: SSL_alert_desc_string_long(Int32(alert[1])))
        let error = TLSError.alertReceived("peer sent alert \(alert[1]) (\(name))")
        self.failure = error
        return .failed(error)
    }

    /// Adds post-handshake handshake bytes and handles every complete message; returns an error if
    /// one is not allowed.
    private func receivedHandshakeBytes(_ bytes: [UInt8], replies: inout ByteBuffer) -> TLSError? {
        self.handshakeMessages.append(contentsOf: bytes)
        while self.handshakeMessages.count >= 4 {
            let type = self.handshakeMessages[0]
            let length =
                Int(self.handshakeMessages[1]) << 16 | Int(self.handshakeMessages[2]) << 8 | Int(self.handshakeMessages[3])
            guard 4 + length <= Self.maximumPostHandshakeMessageBytes else {
                let error = TLSError.recordLayerFailure("post-handshake message of \(length) bytes")
                return self.fail(error, alert: Alert.decodeError, into: &replies)
            }
            guard self.handshakeMessages.count >= 4 + length else { return nil }
            switch type {
            case HandshakeType.newSessionTicket where self.isClient:
                // libp2p never resumes: accept the ticket and forget it.
                break
            case HandshakeType.keyUpdate:
                // §4.6.3: one byte, update_not_requested (0) or update_requested (1); it must end the
                // record, since later bytes would be under the new key.
                guard length == 1, self.handshakeMessages[4] <= 1, self.handshakeMessages.count == 5 else {
                    let error = TLSError.recordLayerFailure("malformed or misplaced KeyUpdate")
                    return self.fail(error, alert: Alert.unexpectedMessage, into: &replies)
                }
                let requested = self.handshakeMessages[4] == 1
                do throws(TLSError) {
                    try self.opener.updateTrafficSecret()
                    if requested {
                        // Answer under the current key, then switch (§4.6.3).
                        let answer: [UInt8] = [HandshakeType.keyUpdate, 0, 0, 1, 0]
                        let sealed = answer.withUnsafeBytes {
                            self.sealer.seal($0, contentType: ContentType.handshake, into: &replies)
                        }
                        guard sealed else { throw TLSError.recordLayerFailure("KeyUpdate answer failed to encrypt") }
                        try self.sealer.updateTrafficSecret()
                    }
                } catch {
                    return self.fail(error, alert: Alert.internalError, into: &replies)
                }
            default:
                let error = TLSError.recordLayerFailure("unexpected handshake message \(type) after the handshake")
                return self.fail(error, alert: Alert.unexpectedMessage, into: &replies)
            }
            self.handshakeMessages.removeFirst(4 + length)
        }
        return nil
    }
}

/// One direction's AEAD state: cipher context keyed for the current traffic secret, static IV and
/// sequence number (RFC 8446 §5.3, §7.3).
final class OpenSSLRecordCipher {
    /// The TLS 1.3 cipher suites, with their AEAD, key length and hash.
    struct Suite {
        let cipher: OpaquePointer
        let digest: OpaquePointer
        let keyLength: Int

        init?(id: UInt16) {
            let algorithms = OpenSSLAlgorithms.shared
            switch id {
            case 0x1301:
                guard let cipher = algorithms.aes128GCM, let digest = algorithms.sha256 else { return nil }
                (self.cipher, self.digest, self.keyLength) = (cipher, digest, 16)
            case 0x1302:
                guard let cipher = algorithms.aes256GCM, let digest = algorithms.sha384 else { return nil }
                (self.cipher, self.digest, self.keyLength) = (cipher, digest, 32)
            case 0x1303:
                guard let cipher = algorithms.chacha20Poly1305, let digest = algorithms.sha256 else { return nil }
                (self.cipher, self.digest, self.keyLength) = (cipher, digest, 32)
            default:
                return nil
            }
        }
    }

    /// All three suites use 16-byte tags and 12-byte nonces.
    static let tagLength = 16
    static let nonceLength = 12

    private let context: OpaquePointer
    private let suite: Suite
    private let encrypting: Bool
    private var secret: [UInt8]
    /// The static IV, as its first 4 bytes and last 8 (big endian), so the nonce needs no buffer.
    private var ivHigh: UInt32 = 0
    private var ivLow: UInt64 = 0
    private var sequence: UInt64 = 0

    /// Keys the cipher from `secret`, which is copied into a new array this cipher alone holds (so
    /// the wipes in `deinit` and ``updateTrafficSecret()`` reach the only copy).
    init(suite: Suite, secret: UnsafeRawBufferPointer, encrypting: Bool) throws(TLSError) {
        guard let context = EVP_CIPHER_CTX_new() else { throw .openSSLFailure("EVP_CIPHER_CTX_new failed") }
        self.context = context
        self.suite = suite
        self.encrypting = encrypting
        self.secret = Array(secret)
        try self.installKeys()
    }

    deinit {
        EVP_CIPHER_CTX_free(self.context)
        self.secret.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
    }

    /// KeyUpdate: secret = HKDF-Expand-Label(secret, "traffic upd", "", Hash.length) (§7.2).
    func updateTrafficSecret() throws(TLSError) {
        let next = try Self.expandLabel(self.secret, "traffic upd", length: Int(EVP_MD_get_size(self.suite.digest)), digest: self.suite.digest)
        self.secret.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        self.secret = next
        try self.installKeys()
    }

    /// Derives key and IV from the secret (§7.3) and restarts the sequence at 0.
    private func installKeys() throws(TLSError) {
        var key = try Self.expandLabel(self.secret, "key", length: self.suite.keyLength, digest: self.suite.digest)
        defer { key.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        let iv = try Self.expandLabel(self.secret, "iv", length: Self.nonceLength, digest: self.suite.digest)
        self.ivHigh = iv[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
        self.ivLow = iv[4..<12].reduce(0) { $0 << 8 | UInt64($1) }
        self.sequence = 0
        ERR_clear_error()
        guard EVP_CipherInit_ex(self.context, self.suite.cipher, nil, key, nil, self.encrypting ? 1 : 0) == 1 else {
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "EVP_CipherInit_ex (record key)")
        }
    }

    /// HKDF-Expand-Label(secret, label, "", length) (§7.1). Every use here needs at most one hash
    /// block, so HKDF-Expand is the single HMAC T(1) = HMAC(secret, info || 0x01).
    static func expandLabel(
        _ secret: [UInt8],
        _ label: String,
        length: Int,
        digest: OpaquePointer
    ) throws(TLSError) -> [UInt8] {
        let fullLabel = Array("tls13 ".utf8) + Array(label.utf8)
        let info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)] + fullLabel + [0, 1]
        var block = try Self.hmac(digest: digest, key: secret, message: info)
        defer { block.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        guard block.count >= length else { throw .openSSLFailure("HKDF-Expand-Label \(label): hash too short") }
        return Array(block[..<length])
    }

    /// HMAC (RFC 2104) over an already fetched digest. OpenSSL 3's one-shot `HMAC()` looks the MAC and
    /// the digest up by name on every call, which costs more than the hashing at handshake rates.
    static func hmac(digest: OpaquePointer, key: [UInt8], message: [UInt8]) throws(TLSError) -> [UInt8] {
        let blockSize = Int(EVP_MD_get_block_size(digest))
        let hashSize = Int(EVP_MD_get_size(digest))
        // Traffic secrets are one hash long, always shorter than a block; longer keys are not needed.
        guard key.count <= blockSize, hashSize > 0, let context = EVP_MD_CTX_new() else {
            throw .openSSLFailure("HMAC set-up failed")
        }
        defer { EVP_MD_CTX_free(context) }
        var inner = [UInt8](repeating: 0x36, count: blockSize)
        var outer = [UInt8](repeating: 0x5c, count: blockSize)
        for (index, byte) in key.enumerated() {
            inner[index] ^= byte
            outer[index] ^= byte
        }
        defer {
            inner.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
            outer.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        }
        var innerHash = [UInt8](repeating: 0, count: hashSize)
        var result = [UInt8](repeating: 0, count: hashSize)
        var length: UInt32 = 0
        ERR_clear_error()
        guard EVP_DigestInit_ex(context, digest, nil) == 1,
            EVP_DigestUpdate(context, inner, inner.count) == 1,
            EVP_DigestUpdate(context, message, message.count) == 1,
            EVP_DigestFinal_ex(context, &innerHash, &length) == 1,
            EVP_DigestInit_ex(context, digest, nil) == 1,
            EVP_DigestUpdate(context, outer, outer.count) == 1,
            EVP_DigestUpdate(context, innerHash, innerHash.count) == 1,
            EVP_DigestFinal_ex(context, &result, &length) == 1
        else {
            throw .drainingOpenSSLErrorQueue(.openSSLFailure, operation: "HMAC digest")
        }
        return result
    }

    /// The per-record nonce (§5.3): the IV XOR the sequence number, left-padded to 12 bytes. Built
    /// in a stack tuple: no allocation per record.
    private func withNonce<Result>(_ body: (UnsafePointer<UInt8>) -> Result) -> Result {
        let high = self.ivHigh
        let low = self.ivLow ^ self.sequence
        var nonce: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (
            UInt8(truncatingIfNeeded: high >> 24), UInt8(truncatingIfNeeded: high >> 16),
            UInt8(truncatingIfNeeded: high >> 8), UInt8(truncatingIfNeeded: high),
            UInt8(truncatingIfNeeded: low >> 56), UInt8(truncatingIfNeeded: low >> 48),
            UInt8(truncatingIfNeeded: low >> 40), UInt8(truncatingIfNeeded: low >> 32),
            UInt8(truncatingIfNeeded: low >> 24), UInt8(truncatingIfNeeded: low >> 16),
            UInt8(truncatingIfNeeded: low >> 8), UInt8(truncatingIfNeeded: low)
        )
        return withUnsafeMutableBytes(of: &nonce) { bytes in
            body(UnsafePointer(bytes.bindMemory(to: UInt8.self).baseAddress.unsafelyUnwrapped))
        }
    }

    /// Appends one record: header, then AEAD(plaintext || contentType) and tag. Returns false if EVP
    /// failed or the sequence number would wrap.
    func seal(_ plaintext: UnsafeRawBufferPointer, contentType: UInt8, into outbound: inout ByteBuffer) -> Bool {
        guard self.sequence < UInt64.max else { return false }
        let ciphertextLength = plaintext.count + 1 + Self.tagLength
        var ok = false
        outbound.writeWithUnsafeMutableBytes(minimumWritableBytes: 5 + ciphertextLength) { space in
            guard let out = space.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
            // §5.2: opaque_type 23, legacy_record_version 0x0303, length; the header is the AAD.
            out[0] = 23
            out[1] = 0x03
            out[2] = 0x03
            out[3] = UInt8(ciphertextLength >> 8)
            out[4] = UInt8(ciphertextLength & 0xff)
            ok = self.withNonce { nonce in
                var written: Int32 = 0
                var type = contentType
                var offset = 5
                guard EVP_EncryptInit_ex(self.context, nil, nil, nil, nonce) == 1,
                    EVP_EncryptUpdate(self.context, nil, &written, out, 5) == 1
                else { return false }
                if plaintext.count > 0 {
                    guard let source = plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        EVP_EncryptUpdate(self.context, out + offset, &written, source, Int32(plaintext.count)) == 1
                    else { return false }
                    offset += Int(written)
                }
                guard EVP_EncryptUpdate(self.context, out + offset, &written, &type, 1) == 1 else { return false }
                offset += Int(written)
                guard EVP_EncryptFinal_ex(self.context, out + offset, &written) == 1 else { return false }
                offset += Int(written)
                guard offset == 5 + plaintext.count + 1 else { return false }
                return EVP_CIPHER_CTX_ctrl(
                    self.context,
                    COpenSSLShim_EVP_CTRL_AEAD_GET_TAG(),
                    Int32(Self.tagLength),
                    out + offset
                ) == 1
            }
            return ok ? 5 + ciphertextLength : 0
        }
        if ok { self.sequence += 1 }
        return ok
    }

    /// Opens one whole record (header included) into `destination`, which must hold the record's
    /// length minus the tag. Returns false if the tag does not verify.
    func open(_ record: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        guard self.sequence < UInt64.max,
            let base = record.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let out = destination.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return false }
        let ciphertextLength = record.count - 5 - Self.tagLength
        guard ciphertextLength >= 0, destination.count >= ciphertextLength else { return false }
        let ok = self.withNonce { nonce in
            var written: Int32 = 0
            guard EVP_DecryptInit_ex(self.context, nil, nil, nil, nonce) == 1,
                EVP_DecryptUpdate(self.context, nil, &written, base, 5) == 1,
                EVP_DecryptUpdate(self.context, out, &written, base + 5, Int32(ciphertextLength)) == 1,
                Int(written) == ciphertextLength,
                EVP_CIPHER_CTX_ctrl(
                    self.context,
                    COpenSSLShim_EVP_CTRL_AEAD_SET_TAG(),
                    Int32(Self.tagLength),
                    UnsafeMutableRawPointer(mutating: base + 5 + ciphertextLength)
                ) == 1
            else { return false }
            var finalWritten: Int32 = 0
            return EVP_DecryptFinal_ex(self.context, out + ciphertextLength, &finalWritten) == 1
        }
        ERR_clear_error()
        if ok { self.sequence += 1 }
        return ok
    }
}

/// AEADs and digests fetched from the default provider once per process. Passing fetched objects to
/// `EVP_CipherInit_ex` / `EVP_DigestInit_ex` skips the implicit fetch (a locked lookup by name) that the
/// legacy `EVP_aes_128_gcm()`-style constants cost on every init in OpenSSL 3. Fetched objects are
/// immutable and reference counted, so sharing them between threads is safe.
final class OpenSSLAlgorithms: @unchecked Sendable {
    let aes128GCM: OpaquePointer?
    let aes256GCM: OpaquePointer?
    let chacha20Poly1305: OpaquePointer?
    let sha256: OpaquePointer?
    let sha384: OpaquePointer?

    static let shared = OpenSSLAlgorithms()

    private init() {
        self.aes128GCM = EVP_CIPHER_fetch(nil, "AES-128-GCM", nil)
        self.aes256GCM = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)
        self.chacha20Poly1305 = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil)
        self.sha256 = EVP_MD_fetch(nil, "SHA256", nil)
        self.sha384 = EVP_MD_fetch(nil, "SHA384", nil)
        ERR_clear_error()
    }
}
