/// Thirty-two bytes held inline: an X25519 key, a shared secret, a ChaCha20-Poly1305 key, a SHA-256
/// digest or a chaining key.
///
/// Inline storage keeps the handshake's many 32-byte values off the heap; the four words are only
/// storage and are never read as numbers.
public struct NoiseBytes32: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline
    var storage: (UInt64, UInt64, UInt64, UInt64)

    /// Thirty-two zero bytes.
    @inlinable
    public init() { self.storage = (0, 0, 0, 0) }

    /// The bytes of `bytes`, which must hold exactly 32; `nil` otherwise.
    @inlinable
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        self.init()
        self.withUnsafeMutableBytes { destination in
            _ = destination.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// The first 32 bytes at `pointer`; the caller guarantees they are there.
    @inlinable
    init(copying pointer: UnsafeRawBufferPointer) {
        precondition(pointer.count >= 32, "NoiseBytes32 needs 32 bytes, got \(pointer.count)")
        self.init()
        self.withUnsafeMutableBytes { destination in
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: pointer.prefix(32)))
        }
    }

    /// Calls `body` with the 32 bytes.
    @inlinable
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Swift.withUnsafeBytes(of: self.storage, body)
    }

    /// Calls `body` with the 32 bytes, writable.
    @inlinable
    public mutating func withUnsafeMutableBytes<Result>(
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try Swift.withUnsafeMutableBytes(of: &self.storage, body)
    }

    /// The bytes as an array (allocates; for tests, logs and protobuf fields).
    public var bytes: [UInt8] { self.withUnsafeBytes { Array($0) } }

    /// `true` when all 32 bytes are zero: X25519 gives this for a low-order peer key.
    @inlinable
    public var isZero: Bool {
        (self.storage.0 | self.storage.1 | self.storage.2 | self.storage.3) == 0
    }

    @inlinable
    public static func == (lhs: NoiseBytes32, rhs: NoiseBytes32) -> Bool {
        lhs.storage.0 == rhs.storage.0 && lhs.storage.1 == rhs.storage.1 && lhs.storage.2 == rhs.storage.2
            && lhs.storage.3 == rhs.storage.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.storage.0)
        hasher.combine(self.storage.1)
        hasher.combine(self.storage.2)
        hasher.combine(self.storage.3)
    }

    /// Lower-case hex.
    public var description: String {
        let digits: [Character] = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(64)
        self.withUnsafeBytes { bytes in
            for byte in bytes {
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 0x0f)])
            }
        }
        return text
    }
}

/// An X25519 key pair: the Noise static or ephemeral key (docs/wire.md §4.1), never the identity key.
public struct NoiseX25519KeyPair: Sendable {
    /// The private scalar, as generated (clamping happens inside X25519).
    public let privateKey: NoiseBytes32
    /// X25519(privateKey, 9).
    public let publicKey: NoiseBytes32

    /// Pairs a private key with its public key; use ``NoiseCryptoProvider/x25519KeyPair(privateKey:)``
    /// to derive the public key.
    public init(privateKey: NoiseBytes32, publicKey: NoiseBytes32) {
        self.privateKey = privateKey
        self.publicKey = publicKey
    }
}
