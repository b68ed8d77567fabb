/// A libp2p peer ID: the multihash of a peer's `PublicKey` protobuf (peer-ids spec, "Peer Ids").
///
/// Keys whose encoding is at most 42 bytes (Ed25519, secp256k1) are inlined with the identity
/// multihash, so the key can be read back from the ID; larger ones (ECDSA, RSA) are hashed with
/// SHA-256. The text form is base58btc (`12D3KooW…`, `16Uiu2H…`, `Qm…`); parsing also accepts the
/// CIDv1 form (multibase base32, codec `libp2p-key`, `bafz…`), as the spec requires.
public struct PeerID: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The multihash bytes.
    public let multihash: [UInt8]

    /// The peer ID of `publicKey`.
    public init(publicKey: IdentityPublicKey) {
        let encoded = publicKey.protobufEncoded
        if encoded.count <= PeerIDLimits.maximumInlineKeyLength {
            self.multihash = [PeerIDLimits.identityCode, UInt8(encoded.count)] + encoded
        } else {
            self.multihash = [PeerIDLimits.sha256Code, PeerIDLimits.sha256Length] + SHA256Digest.hash(encoded)
        }
    }

    /// Validates and wraps multihash bytes: an identity multihash of at most 42 bytes holding a
    /// valid `PublicKey`, or a 32-byte sha2-256 multihash.
    public init(multihash bytes: some Collection<UInt8>) throws {
        let bytes = Array(bytes)
        guard bytes.count >= 2 else { throw P2PCoreError.malformedPeerID("multihash of \(bytes.count) bytes") }
        switch bytes[0] {
        case PeerIDLimits.identityCode:
            let length = Int(bytes[1])
            guard length <= PeerIDLimits.maximumInlineKeyLength, bytes.count == 2 + length else {
                throw P2PCoreError.malformedPeerID("identity multihash length \(length) does not fit the \(bytes.count) bytes")
            }
            do {
                _ = try IdentityPublicKey(protobufEncoded: bytes[2...])
            } catch {
                throw P2PCoreError.malformedPeerID("identity multihash does not hold a valid public key: \(error)")
            }
        case PeerIDLimits.sha256Code:
            guard bytes[1] == PeerIDLimits.sha256Length, bytes.count == 2 + Int(PeerIDLimits.sha256Length) else {
                throw P2PCoreError.malformedPeerID("sha2-256 multihash must carry 32 bytes")
            }
        default:
            throw P2PCoreError.malformedPeerID("multihash code 0x\(String(bytes[0], radix: 16)) is neither identity nor sha2-256")
        }
        self.multihash = bytes
    }

    /// Parses the base58btc or CIDv1 (base32 `b…`) text form; nil when it is neither.
    public init?(_ description: String) {
        try? self.init(parsing: description)
    }

    /// Parses the base58btc or CIDv1 (base32) text form.
    ///
    /// - Throws: ``P2PCoreError`` `.malformedPeerID` naming what was wrong.
    public init(parsing text: String) throws {
        guard text.utf8.count <= PeerIDLimits.maximumTextLength else {
            throw P2PCoreError.malformedPeerID("peer ID text of \(text.utf8.count) characters is too long")
        }
        // Legacy form: a bare base58btc multihash, starting `Qm` (sha2-256) or `1` (identity).
        if text.hasPrefix("Qm") || text.hasPrefix("1") {
            guard let bytes = Base58.decode(text) else {
                throw P2PCoreError.malformedPeerID("\"\(text)\" is not base58btc")
            }
            try self.init(multihash: bytes)
            return
        }
        // CIDv1: multibase prefix `b` (base32, lower case, no padding) over
        // <uvarint version = 1><uvarint codec = 0x72 libp2p-key><multihash>.
        if text.hasPrefix("b") {
            guard let bytes = Base32.decode(text.dropFirst()), bytes.count > 3,
                bytes[0] == 0x01, bytes[1] == 0x72
            else { throw P2PCoreError.malformedPeerID("\"\(text)\" is not a CIDv1 with the libp2p-key codec") }
            try self.init(multihash: bytes[2...])
            return
        }
        throw P2PCoreError.malformedPeerID("\"\(text)\" is neither base58btc nor a base32 CIDv1")
    }

    /// The public key inlined in an identity multihash; nil for hashed (sha2-256) peer IDs.
    public var publicKey: IdentityPublicKey? {
        guard self.multihash.first == PeerIDLimits.identityCode else { return nil }
        return try? IdentityPublicKey(protobufEncoded: self.multihash.dropFirst(2))
    }

    /// The base58btc text form.
    public var description: String { Base58.encode(self.multihash) }

    /// The CIDv1 text form (base32, `bafz…`).
    public var cidDescription: String { "b" + Base32.encode([0x01, 0x72] + self.multihash) }
}

/// Peer ID constants (peer-ids spec, "Peer Ids"; multicodec table).
enum PeerIDLimits {
    /// Keys whose protobuf is at most 42 bytes are inlined with the identity multihash.
    static let maximumInlineKeyLength = 42
    /// Multicodec `identity`.
    static let identityCode: UInt8 = 0x00
    /// Multicodec `sha2-256` and its digest length.
    static let sha256Code: UInt8 = 0x12
    static let sha256Length: UInt8 = 32
    /// No valid peer ID text is longer (a CIDv1 of a 42-byte inline key is about 75 characters).
    static let maximumTextLength = 128
}

/// base58btc (Bitcoin alphabet), as multibase and the legacy peer ID text form use it.
enum Base58 {
    private static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    private static let inverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = Int8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix(while: { $0 == 0 }).count
        // Base-256 to base-58 by repeated division; inputs are tens of bytes.
        var digits: [UInt8] = []
        digits.reserveCapacity(bytes.count * 138 / 100 + 1)
        for byte in bytes[zeros...] {
            var carry = Int(byte)
            for index in digits.indices {
                carry += Int(digits[index]) << 8
                digits[index] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let text = [UInt8](repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }
        return String(decoding: text, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        let zeros = characters.prefix(while: { $0 == alphabet[0] }).count
        var bytes: [UInt8] = []
        for character in characters[zeros...] {
            guard character < 128, inverse[Int(character)] >= 0 else { return nil }
            var carry = Int(inverse[Int(character)])
            for index in bytes.indices {
                carry += Int(bytes[index]) * 58
                bytes[index] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xff))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }
}

/// RFC 4648 base32, lower case, without padding: multibase prefix `b`.
enum Base32 {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of canonical unpadded base32 text; nil for any other text.
    ///
    /// Strict, as the peer ID is compared by its bytes and its text should be one-to-one with them:
    /// the bits left after the last whole byte must be fewer than five (a lone extra character, as in
    /// 1, 3 or 6 characters past a multiple of 8, encodes no byte) and all zero (RFC 4648 §3.5,
    /// "canonical encoding"). A lax decoder would give several texts for one peer ID.
    static func decode(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        for character in text.utf8 {
            let value: Int
            switch character {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = Int(character - UInt8(ascii: "a"))
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = Int(character - UInt8(ascii: "2")) + 26
            default: return nil
            }
            buffer = ((buffer << 5) | value) & 0xfff
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> (bits - 8)) & 0xff))
                bits -= 8
            }
        }
        guard bits < 5, buffer & ((1 << bits) - 1) == 0 else { return nil }
        return out
    }
}
