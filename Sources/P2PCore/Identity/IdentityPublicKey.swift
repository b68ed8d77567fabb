/// The key types of the libp2p peer-ids spec ("Keys"), with their protobuf enum values.
public enum IdentityKeyType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case rsa = 0
    case ed25519 = 1
    case secp256k1 = 2
    case ecdsa = 3

    public var description: String {
        switch self {
        case .rsa: "RSA"
        case .ed25519: "Ed25519"
        case .secp256k1: "secp256k1"
        case .ecdsa: "ECDSA"
        }
    }
}

/// A libp2p identity public key: the `PublicKey` protobuf of the peer-ids spec.
///
/// Construction validates the key material (so a peer's key that cannot verify anything is refused
/// at once); ``isValidSignature(_:for:)`` implements each type's signature scheme:
/// Ed25519 (RFC 8032) through libsodium, and ECDSA over SHA-256 (secp256k1, NIST curves) or
/// RSASSA-PKCS1-v1_5 with SHA-256 through OpenSSL.
public struct IdentityPublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The key type.
    public let keyType: IdentityKeyType
    /// The protobuf `Data` field: raw 32 bytes for Ed25519, a 33-byte compressed point for
    /// secp256k1 (always, even when the key arrived uncompressed), DER SubjectPublicKeyInfo for
    /// ECDSA and RSA.
    public let rawData: [UInt8]
    /// The parsed OpenSSL key for the types OpenSSL verifies; nil for Ed25519.
    private let openSSLKey: OpenSSLKey?

    /// Validates and wraps key material.
    ///
    /// A secp256k1 key may be given as a 33-byte compressed or a 65-byte uncompressed SEC1 point;
    /// it is kept, re-encoded and hashed into its peer ID in the compressed form, whichever arrived.
    ///
    /// - Throws: ``P2PCoreError`` `.malformedKey` when the bytes are not a key of `keyType`, or
    ///   `.unsupportedKeyType` for RSA sizes outside the accepted range.
    public init(keyType: IdentityKeyType, rawData: [UInt8]) throws {
        self.keyType = keyType
        switch keyType {
        case .ed25519:
            guard rawData.count == Ed25519.publicKeyLength else {
                throw P2PCoreError.malformedKey("Ed25519 public key must be 32 bytes, got \(rawData.count)")
            }
            self.rawData = rawData
            self.openSSLKey = nil
        case .secp256k1:
            // Normalised to the compressed point, as go-libp2p does: go parses either form and
            // marshals `SerializeCompressed()`, so its peer ID for a key sent uncompressed is the
            // hash of the 33-byte form. Keeping the bytes as received would give that key a second,
            // different peer ID here. rust-libp2p refuses uncompressed keys outright; no go, rust
            // or js peer ever sends one, so accepting them costs nothing with those and agrees
            // with go on the ID of any peer that does.
            self.openSSLKey = try Secp256k1.publicKey(point: rawData)
            self.rawData = Secp256k1.compressed(point: rawData)
        case .ecdsa:
            guard let key = OpenSSLKey.publicKey(spki: rawData), key.baseID == EVPKeyKind.ec else {
                throw P2PCoreError.malformedKey("ECDSA public key is not a DER SubjectPublicKeyInfo of an EC key")
            }
            guard IdentityLimits.ecdsaCurves.contains(key.curveNID) else {
                throw P2PCoreError.unsupportedKeyType("ECDSA curve is not P-256, P-384 or P-521")
            }
            self.rawData = rawData
            self.openSSLKey = key
        case .rsa:
            guard let key = OpenSSLKey.publicKey(spki: rawData), key.baseID == EVPKeyKind.rsa else {
                throw P2PCoreError.malformedKey("RSA public key is not a DER SubjectPublicKeyInfo of an RSA key")
            }
            guard IdentityLimits.rsaBits.contains(Int(key.bits)) else {
                throw P2PCoreError.unsupportedKeyType(
                    "RSA key of \(key.bits) bits is outside \(IdentityLimits.rsaBits) (go-libp2p's bounds)"
                )
            }
            self.rawData = rawData
            self.openSSLKey = key
        }
    }

    /// Decodes the `PublicKey` protobuf (`08 <type> 12 <len> <data>`).
    ///
    /// Only the deterministic encoding the peer-ids spec requires is accepted: both fields, in tag
    /// order, minimal varints, nothing else. A peer ID is the hash of the encoding, so a lax parser
    /// would let one key stand for several IDs. The one form accepted and re-encoded differently is
    /// an uncompressed secp256k1 point (see ``init(keyType:rawData:)``): its ``protobufEncoded``
    /// and peer ID are those of the compressed point, as in go-libp2p.
    public init(protobufEncoded bytes: some Collection<UInt8>) throws {
        let (keyType, data) = try KeyProtobuf.decode(bytes, what: "PublicKey")
        try self.init(keyType: keyType, rawData: data)
    }

    /// The deterministic `PublicKey` protobuf encoding.
    public var protobufEncoded: [UInt8] { KeyProtobuf.encode(type: self.keyType, data: self.rawData) }

    /// The peer ID of this key.
    public var peerID: PeerID { PeerID(publicKey: self) }

    /// Whether `signature` is this key's signature of `message`, under the scheme of the key type.
    /// Malformed signatures are simply invalid.
    public func isValidSignature(_ signature: some Collection<UInt8>, for message: some Collection<UInt8>) -> Bool {
        switch self.keyType {
        case .ed25519:
            return Ed25519.isValid(signature: signature, message: message, publicKey: self.rawData)
        case .secp256k1, .ecdsa, .rsa:
            guard let key = self.openSSLKey else { return false }
            return key.isValidSHA256Signature(signature, for: message)
        }
    }

    public static func == (lhs: IdentityPublicKey, rhs: IdentityPublicKey) -> Bool {
        lhs.keyType == rhs.keyType && lhs.rawData == rhs.rawData
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.keyType)
        hasher.combine(self.rawData)
    }

    public var description: String { "\(self.keyType) public key of \(self.peerID)" }
}

/// Bounds on identity keys, with where they come from.
enum IdentityLimits {
    /// go-libp2p refuses RSA keys under 2048 bits (`MinRsaKeyBits`) and over 8192 (`maxRsaKeyBits`).
    static let rsaBits = 2048...8192
    /// The NIST curves go-libp2p's ECDSA keys use (core/crypto/ecdsa.go accepts any the stdlib parses).
    static let ecdsaCurves: Set<Int32> = [EVPKeyKind.p256, EVPKeyKind.p384, EVPKeyKind.p521]
    /// Largest `Data` field accepted when decoding a key protobuf: an 8192-bit RSA PKCS#1 private key
    /// is under 5 KiB; anything this large is not a key.
    static let maximumKeyDataLength = 8192
}

/// The protobuf of `PublicKey` and `PrivateKey` (peer-ids spec): `08 <type> 12 <uvarint len> <data>`.
/// Written out by hand rather than generated: the spec asks for one exact byte form, and the strict
/// decoder refuses every other (swift-protobuf would accept reordered, repeated or unknown fields).
enum KeyProtobuf {
    static func encode(type: IdentityKeyType, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x08, type.rawValue, 0x12]
        out.reserveCapacity(3 + UVarint.encodedLength(of: UInt64(data.count)) + data.count)
        var length = UInt64(data.count)
        while length >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        out.append(UInt8(length))
        out.append(contentsOf: data)
        return out
    }

    static func decode(_ bytes: some Collection<UInt8>, what: String) throws -> (IdentityKeyType, [UInt8]) {
        let bytes = Array(bytes)
        guard bytes.count >= 4, bytes[0] == 0x08, bytes[2] == 0x12 else {
            throw P2PCoreError.malformedKey("\(what) protobuf must be 08 <type> 12 <length> <data>")
        }
        guard let keyType = IdentityKeyType(rawValue: bytes[1]) else {
            throw P2PCoreError.unsupportedKeyType("\(what) has unknown key type \(bytes[1])")
        }
        // The length varint: minimal, bounded, and exactly covering the rest.
        var length: UInt64 = 0
        var index = 3
        var shift: UInt64 = 0
        while true {
            guard index < bytes.count, index - 3 < 3 else {
                throw P2PCoreError.malformedKey("\(what) data length is truncated or too long")
            }
            let byte = bytes[index]
            length |= UInt64(byte & 0x7f) << shift
            index += 1
            shift += 7
            if byte & 0x80 == 0 {
                if byte == 0 && index - 3 > 1 {
                    throw P2PCoreError.malformedKey("\(what) data length is not minimally encoded")
                }
                break
            }
        }
        guard length <= IdentityLimits.maximumKeyDataLength, Int(length) == bytes.count - index else {
            throw P2PCoreError.malformedKey(
                "\(what) data length \(length) does not match the \(bytes.count - index) bytes that follow"
            )
        }
        return (keyType, Array(bytes[index...]))
    }
}
