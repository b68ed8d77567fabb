/// An error from the shared core: unsigned varints, keys, signatures and peer IDs.
///
/// Equality compares ``code`` only, so tests can match on the kind of failure while the
/// ``diagnostics`` say what exactly was wrong.
public struct P2PCoreError: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, for people; not part of equality.
    public let diagnostics: String

    @usableFromInline
    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: P2PCoreError, rhs: P2PCoreError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "P2PCoreError.\(self.code): \(self.diagnostics)" }

    /// The kinds of core failure. Codes are stable: scripts and CSV files may record them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case varintOverlong
            case varintNotMinimal
            case varintAboveLimit
            case malformedKey
            case unsupportedKeyType
            case invalidSignature
            case malformedPeerID
            case cryptoFailure
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A varint longer than 9 bytes (multiformats unsigned-varint "Practical maximum").
        public static let varintOverlong = Code(.varintOverlong)
        /// A varint whose last byte is 0x00 in a multi-byte form (unsigned-varint: minimal encoding required).
        public static let varintNotMinimal = Code(.varintNotMinimal)
        /// A varint whose value is above the limit the caller set (for example a frame length limit).
        public static let varintAboveLimit = Code(.varintAboveLimit)
        /// A `PublicKey` / `PrivateKey` protobuf, or key bytes inside it, that do not parse.
        public static let malformedKey = Code(.malformedKey)
        /// A key type this build cannot use for the requested operation.
        public static let unsupportedKeyType = Code(.unsupportedKeyType)
        /// A signature that does not verify.
        public static let invalidSignature = Code(.invalidSignature)
        /// A peer ID (text or multihash) that does not parse.
        public static let malformedPeerID = Code(.malformedPeerID)
        /// A libsodium or OpenSSL call that failed where it should not.
        public static let cryptoFailure = Code(.cryptoFailure)

        public var description: String { self.base.rawValue }
    }
}

extension P2PCoreError {
    @usableFromInline @inline(never)
    static func varintOverlong() -> P2PCoreError {
        P2PCoreError(.varintOverlong, "varint longer than \(UVarint.maximumEncodedLength) bytes")
    }

    @usableFromInline @inline(never)
    static func varintNotMinimal() -> P2PCoreError {
        P2PCoreError(.varintNotMinimal, "varint is not minimally encoded (multi-byte form ending in 0x00)")
    }

    @usableFromInline @inline(never)
    static func varintAboveLimit(_ value: UInt64, limit: UInt64) -> P2PCoreError {
        P2PCoreError(.varintAboveLimit, "varint value \(value) is above the limit \(limit)")
    }

    @usableFromInline @inline(never)
    static func malformedKey(_ what: String) -> P2PCoreError { P2PCoreError(.malformedKey, what) }

    @usableFromInline @inline(never)
    static func unsupportedKeyType(_ what: String) -> P2PCoreError { P2PCoreError(.unsupportedKeyType, what) }

    @usableFromInline @inline(never)
    static func invalidSignature(_ what: String) -> P2PCoreError { P2PCoreError(.invalidSignature, what) }

    @usableFromInline @inline(never)
    static func malformedPeerID(_ what: String) -> P2PCoreError { P2PCoreError(.malformedPeerID, what) }

    @usableFromInline @inline(never)
    static func cryptoFailure(_ what: String) -> P2PCoreError { P2PCoreError(.cryptoFailure, what) }
}
