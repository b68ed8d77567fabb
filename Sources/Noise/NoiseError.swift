/// An error from libp2p Noise: the handshake, the handshake payload, framing, or the transport cipher.
///
/// Equality compares ``code`` only, so tests can match on the kind of failure while the
/// ``diagnostics`` say what exactly was wrong. Every error ends the connection: Noise has no way to
/// recover from a bad message.
public struct NoiseError: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, for people; not part of equality.
    public let diagnostics: String

    @usableFromInline
    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: NoiseError, rhs: NoiseError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "NoiseError.\(self.code): \(self.diagnostics)" }

    /// The kinds of Noise failure. Codes are stable: scripts and CSV files may record them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case truncatedMessage
            case messageTooLarge
            case frameTooShort
            case truncatedFrame
            case decryptionFailed
            case lowOrderPublicKey
            case malformedPayload
            case missingIdentity
            case malformedIdentityKey
            case unsupportedIdentityKeyType
            case invalidSignature
            case peerIDMismatch
            case noCommonMuxer
            case tooManyMuxers
            case nonceExhausted
            case connectionClosedDuringHandshake
            case tooManyPendingWrites
            case invalidConfiguration
            case cryptoFailure
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A handshake message shorter than the keys and tags it must carry.
        public static let truncatedMessage = Code(.truncatedMessage)
        /// A message over a limit: a Noise message above 65535 bytes to send, or a message-1 payload
        /// above ``NoiseConstants/maximumMessage1PayloadLength``.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// A transport message shorter than the 16-byte tag (docs/wire.md §4.4).
        public static let frameTooShort = Code(.frameTooShort)
        /// The connection ended in the middle of a frame.
        public static let truncatedFrame = Code(.truncatedFrame)
        /// A ChaCha20-Poly1305 tag that does not verify: wrong key, wrong nonce, or altered bytes.
        public static let decryptionFailed = Code(.decryptionFailed)
        /// An X25519 exchange that gave the all-zero shared secret: the peer sent a low-order point
        /// (docs/wire.md §4.2).
        public static let lowOrderPublicKey = Code(.lowOrderPublicKey)
        /// A handshake payload that is not a valid `NoiseHandshakePayload` protobuf.
        public static let malformedPayload = Code(.malformedPayload)
        /// A handshake payload without `identity_key` or `identity_sig`.
        public static let missingIdentity = Code(.missingIdentity)
        /// An `identity_key` that is not a valid libp2p `PublicKey`.
        public static let malformedIdentityKey = Code(.malformedIdentityKey)
        /// An `identity_key` of a key type this build does not accept.
        public static let unsupportedIdentityKeyType = Code(.unsupportedIdentityKeyType)
        /// An `identity_sig` that does not verify over the static key received in this handshake.
        public static let invalidSignature = Code(.invalidSignature)
        /// The remote identity is not the peer ID the dialer expected.
        public static let peerIDMismatch = Code(.peerIDMismatch)
        /// Both sides listed muxers and no entry is common: the handshake must fail (docs/wire.md §6.2).
        public static let noCommonMuxer = Code(.noCommonMuxer)
        /// A `stream_muxers` list above ``NoiseConstants/maximumStreamMuxerCount`` entries.
        public static let tooManyMuxers = Code(.tooManyMuxers)
        /// The nonce would reach 2^64−1: the connection must close (docs/wire.md §4.5).
        public static let nonceExhausted = Code(.nonceExhausted)
        /// The connection closed before the handshake completed.
        public static let connectionClosedDuringHandshake = Code(.connectionClosedDuringHandshake)
        /// More bytes were written before the handshake completed than the handler holds back.
        public static let tooManyPendingWrites = Code(.tooManyPendingWrites)
        /// A configuration that cannot work, such as a reused static key signed by another identity.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A libsodium or OpenSSL call failed where it should not.
        public static let cryptoFailure = Code(.cryptoFailure)

        public var description: String { self.base.rawValue }
    }
}

// These are cold paths: never inline them into the code that detects the failure.
extension NoiseError {
    @usableFromInline @inline(never)
    static func truncatedMessage(_ what: String, length: Int, minimum: Int) -> NoiseError {
        NoiseError(.truncatedMessage, "\(what) is \(length) bytes, needs at least \(minimum)")
    }

    @usableFromInline @inline(never)
    static func messageTooLarge(_ what: String, length: Int, limit: Int) -> NoiseError {
        NoiseError(.messageTooLarge, "\(what) is \(length) bytes, limit \(limit)")
    }

    @usableFromInline @inline(never)
    static func frameTooShort(length: Int) -> NoiseError {
        NoiseError(.frameTooShort, "transport message of \(length) bytes cannot hold the 16-byte tag")
    }

    @usableFromInline @inline(never)
    static func truncatedFrame(bufferedBytes: Int) -> NoiseError {
        NoiseError(.truncatedFrame, "connection ended with \(bufferedBytes) bytes of an incomplete frame")
    }

    @usableFromInline @inline(never)
    static func decryptionFailed(_ what: String) -> NoiseError {
        NoiseError(.decryptionFailed, "\(what): ChaCha20-Poly1305 tag does not verify")
    }

    @usableFromInline @inline(never)
    static func lowOrderPublicKey(_ what: String) -> NoiseError {
        NoiseError(.lowOrderPublicKey, "X25519 with the \(what) gave the all-zero shared secret")
    }

    @usableFromInline @inline(never)
    static func malformedPayload(_ what: String) -> NoiseError { NoiseError(.malformedPayload, what) }

    @usableFromInline @inline(never)
    static func missingIdentity(_ what: String) -> NoiseError { NoiseError(.missingIdentity, what) }

    @usableFromInline @inline(never)
    static func malformedIdentityKey(_ what: String) -> NoiseError { NoiseError(.malformedIdentityKey, what) }

    @usableFromInline @inline(never)
    static func unsupportedIdentityKeyType(_ what: String) -> NoiseError {
        NoiseError(.unsupportedIdentityKeyType, what)
    }

    @usableFromInline @inline(never)
    static func invalidSignature(_ what: String) -> NoiseError { NoiseError(.invalidSignature, what) }

    @usableFromInline @inline(never)
    static func peerIDMismatch(expected: String, received: String) -> NoiseError {
        NoiseError(.peerIDMismatch, "expected peer \(expected), the handshake authenticated \(received)")
    }

    @usableFromInline @inline(never)
    static func noCommonMuxer(initiator: [String], responder: [String]) -> NoiseError {
        NoiseError(.noCommonMuxer, "initiator muxers \(initiator) and responder muxers \(responder) have no common entry")
    }

    @usableFromInline @inline(never)
    static func tooManyMuxers(count: Int) -> NoiseError {
        NoiseError(.tooManyMuxers, "stream_muxers has \(count) entries, limit \(NoiseConstants.maximumStreamMuxerCount)")
    }

    @usableFromInline @inline(never)
    static func nonceExhausted() -> NoiseError {
        NoiseError(.nonceExhausted, "nonce reached 2^64-1; the connection must be closed")
    }

    @usableFromInline @inline(never)
    static func connectionClosedDuringHandshake(_ what: String) -> NoiseError {
        NoiseError(.connectionClosedDuringHandshake, what)
    }

    @usableFromInline @inline(never)
    static func tooManyPendingWrites(bytes: Int, limit: Int) -> NoiseError {
        NoiseError(.tooManyPendingWrites, "\(bytes) bytes written before the handshake completed, limit \(limit)")
    }

    @usableFromInline @inline(never)
    static func invalidConfiguration(_ what: String) -> NoiseError { NoiseError(.invalidConfiguration, what) }

    /// `error` itself when it is a ``NoiseError``; otherwise a ``Code/cryptoFailure`` naming it
    /// (everything the handshake calls throws ``NoiseError``s, so this is a safety net).
    @usableFromInline @inline(never)
    static func wrapping(_ error: any Error) -> NoiseError {
        if let error = error as? NoiseError { return error }
        return NoiseError(.cryptoFailure, "unexpected error: \(error)")
    }

    @usableFromInline @inline(never)
    static func cryptoFailure(_ what: String) -> NoiseError { NoiseError(.cryptoFailure, what) }
}
