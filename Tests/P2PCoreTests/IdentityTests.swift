import P2PCore
import TestSupport
import Testing

/// Keys and peer IDs: every key in `libp2p_peer_id_keys.json` (the peer-ids spec vectors), signing
/// and verification for all four key types, peer ID text forms, and malformed input by name.
@Suite struct IdentityTests {
    static func vectors() throws -> [PeerIDKeyVector] {
        try PeerIDKeyVector.all()
    }

    static func keyType(_ name: String) throws -> IdentityKeyType {
        switch name.lowercased() {
        case "rsa": return .rsa
        case "ed25519": return .ed25519
        case "secp256k1": return .secp256k1
        case "ecdsa": return .ecdsa
        default: throw TestSupportError("unknown key type \(name)")
        }
    }

    @Test func publicKeyVectorsGiveTheListedPeerIDs() throws {
        let publicKeys = try Self.vectors().filter { $0.kind == "public" }
        #expect(publicKeys.count == 4)
        for vector in publicKeys {
            let bytes = try [UInt8](hex: vector.protobuf_hex)
            let key = try IdentityPublicKey(protobufEncoded: bytes)
            #expect(key.keyType == (try Self.keyType(vector.key_type)))
            #expect(key.protobufEncoded == bytes, "re-encoding \(vector.key_type) is byte-exact")
            let peerID = try #require(vector.derived_peer_id_base58)
            #expect(key.peerID.description == peerID)
            #expect(PeerID(peerID) == key.peerID)
        }
    }

    @Test func privateKeyVectorsYieldTheirPublicKeys() throws {
        let vectors = try Self.vectors()
        for privateVector in vectors where privateVector.kind == "private" {
            let privateKey = try IdentityPrivateKey(protobufEncoded: try [UInt8](hex: privateVector.protobuf_hex))
            let publicVector = try #require(
                vectors.first { $0.kind == "public" && $0.key_type == privateVector.key_type }
            )
            #expect(privateKey.publicKey.protobufEncoded == (try [UInt8](hex: publicVector.protobuf_hex)))
        }
    }

    @Test func everyKeyTypeSignsAndVerifies() throws {
        let message = Array("noise-libp2p-static-key:".utf8) + [UInt8](repeating: 7, count: 32)
        for vector in try Self.vectors() where vector.kind == "private" {
            let privateKey = try IdentityPrivateKey(protobufEncoded: try [UInt8](hex: vector.protobuf_hex))
            let signature = try privateKey.sign(message)
            #expect(privateKey.publicKey.isValidSignature(signature, for: message), "\(vector.key_type)")

            var tamperedMessage = message
            tamperedMessage[0] ^= 1
            #expect(!privateKey.publicKey.isValidSignature(signature, for: tamperedMessage), "\(vector.key_type)")

            var tamperedSignature = signature
            tamperedSignature[tamperedSignature.count / 2] ^= 1
            #expect(!privateKey.publicKey.isValidSignature(tamperedSignature, for: message), "\(vector.key_type)")
            #expect(!privateKey.publicKey.isValidSignature([], for: message), "\(vector.key_type)")
        }
    }

    @Test func signatureFromAnotherKeyIsRejected() throws {
        let alice = try IdentityPrivateKey(ed25519Seed: [UInt8](repeating: 1, count: 32))
        let bob = try IdentityPrivateKey(ed25519Seed: [UInt8](repeating: 2, count: 32))
        let signature = try alice.sign([1, 2, 3])
        #expect(!bob.publicKey.isValidSignature(signature, for: [1, 2, 3]))
    }

    @Test func seededEd25519KeysAreDeterministicAndGeneratedOnesDiffer() throws {
        let seed = [UInt8](repeating: 9, count: 32)
        #expect(try IdentityPrivateKey(ed25519Seed: seed).peerID == IdentityPrivateKey(ed25519Seed: seed).peerID)
        #expect(IdentityPrivateKey.generateEd25519().peerID != IdentityPrivateKey.generateEd25519().peerID)
        #expect(IdentityPrivateKey.generateEd25519().peerID.description.hasPrefix("12D3KooW"))
    }

    @Test func peerIDTextFormsRoundTrip() throws {
        for vector in try Self.vectors() where vector.kind == "public" {
            let key = try IdentityPublicKey(protobufEncoded: try [UInt8](hex: vector.protobuf_hex))
            let cid = key.peerID.cidDescription
            #expect(cid.hasPrefix("bafz"), "\(cid)")
            #expect(try PeerID(parsing: cid) == key.peerID)
            #expect(try PeerID(parsing: key.peerID.description) == key.peerID)
        }
    }

    @Test func inlinePeerIDsCarryTheirKeyAndHashedOnesDoNot() throws {
        for vector in try Self.vectors() where vector.kind == "public" {
            let key = try IdentityPublicKey(protobufEncoded: try [UInt8](hex: vector.protobuf_hex))
            switch key.keyType {
            case .ed25519, .secp256k1: #expect(key.peerID.publicKey == key)
            case .ecdsa, .rsa: #expect(key.peerID.publicKey == nil)
            }
        }
    }

    // MARK: - secp256k1 point forms

    /// The spec's secp256k1 public key `03 7777e9…ca99` as an uncompressed point `04 || X || Y`
    /// (Y = sqrt(X³ + 7) mod p, of odd parity as the 03 prefix says); computed independently.
    static let uncompressedSecp256k1Point =
        "04" + "7777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
        + "1b41b30efa52b659e9db235c31f9975578a17e2b356a6b84837b5b45c555cfb1"

    @Test func uncompressedSecp256k1KeyIsNormalisedToTheCompressedForm() throws {
        let vector = try #require(try Self.vectors().first { $0.kind == "public" && $0.key_type == "secp256k1" })
        let compressedProtobuf = try [UInt8](hex: vector.protobuf_hex)
        let point = try [UInt8](hex: Self.uncompressedSecp256k1Point)
        let key = try IdentityPublicKey(protobufEncoded: [0x08, 0x02, 0x12, 0x41] + point)
        // go-libp2p's peer ID for this input: parse, then marshal the 33-byte compressed point.
        #expect(key.rawData == Array(compressedProtobuf[4...]))
        #expect(key.protobufEncoded == compressedProtobuf)
        #expect(key.peerID.description == vector.derived_peer_id_base58)
        #expect(key == (try IdentityPublicKey(protobufEncoded: compressedProtobuf)))
        #expect(try IdentityPublicKey(keyType: .secp256k1, rawData: point).rawData.count == 33)

        // And it still verifies the key's signatures.
        let privateVector = try #require(try Self.vectors().first { $0.kind == "private" && $0.key_type == "secp256k1" })
        let privateKey = try IdentityPrivateKey(protobufEncoded: try [UInt8](hex: privateVector.protobuf_hex))
        let signature = try privateKey.sign([1, 2, 3])
        #expect(key.isValidSignature(signature, for: [1, 2, 3]))
    }

    @Test func uncompressedSecp256k1PointWithAnEvenY() throws {
        // The negated point (X, p − Y) is also on the curve; it must compress with the 02 prefix.
        let p: [UInt8] = try [UInt8](hex: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
        let point = try [UInt8](hex: Self.uncompressedSecp256k1Point)
        var negatedY = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for index in (0..<32).reversed() {
            let difference = Int(p[index]) - Int(point[33 + index]) - borrow
            negatedY[index] = UInt8((difference + 256) % 256)
            borrow = difference < 0 ? 1 : 0
        }
        let key = try IdentityPublicKey(keyType: .secp256k1, rawData: Array(point[0..<33]) + negatedY)
        #expect(key.rawData == [0x02] + point[1..<33])
    }

    @Test(arguments: [
        // Y of the wrong point: not on the curve.
        "04" + "7777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
            + "1b41b30efa52b659e9db235c31f9975578a17e2b356a6b84837b5b45c555cfb2",
        // An uncompressed prefix on 33 bytes, and a compressed prefix on 65.
        "04" + "7777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99",
        "03" + "7777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
            + "1b41b30efa52b659e9db235c31f9975578a17e2b356a6b84837b5b45c555cfb1",
        // The hybrid form (06/07) go's parser also knows; libp2p never uses it.
        "07" + "7777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
            + "1b41b30efa52b659e9db235c31f9975578a17e2b356a6b84837b5b45c555cfb1",
    ])
    func malformedSecp256k1PointIsRejected(hex: String) throws {
        let point = try [UInt8](hex: hex)
        #expect(try coreErrorCode { try IdentityPublicKey(keyType: .secp256k1, rawData: point) } == .malformedKey)
    }

    // MARK: - Base32 CIDs

    /// RFC 4648 base32 alphabet, lower case, as multibase `b` uses it.
    static let base32Alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    @Test func cidWithNonZeroTrailingBitsIsRejected() throws {
        var checked = 0
        for vector in try Self.vectors() where vector.kind == "public" {
            let peerID = try IdentityPublicKey(protobufEncoded: try [UInt8](hex: vector.protobuf_hex)).peerID
            var characters = Array(peerID.cidDescription)
            // The CID bytes (2 + multihash) in 5-bit groups leave 5·n − 8·bytes padding bits in the
            // last character; canonical text has them zero. Ed25519's 40 bytes fill 64 characters exactly.
            let byteCount = 2 + peerID.multihash.count
            let paddingBits = characters.dropFirst().count * 5 - byteCount * 8
            guard paddingBits > 0 else { continue }
            let last = try #require(Self.base32Alphabet.firstIndex(of: characters[characters.count - 1]))
            #expect(last & ((1 << paddingBits) - 1) == 0, "the encoder writes zero padding bits")
            characters[characters.count - 1] = Self.base32Alphabet[last | 1]
            let text = String(characters)
            #expect(PeerID(text) == nil, "\(vector.key_type): \(text)")
            #expect(try coreErrorCode { try PeerID(parsing: text) } == .malformedPeerID)
            checked += 1
        }
        #expect(checked == 3, "secp256k1, ECDSA and RSA CIDs have padding bits")
    }

    @Test func cidWithAnExtraCharacterIsRejected() throws {
        for vector in try Self.vectors() where vector.kind == "public" {
            let peerID = try IdentityPublicKey(protobufEncoded: try [UInt8](hex: vector.protobuf_hex)).peerID
            // One more 'a' (five zero bits) is not a whole byte, so a lax decoder would drop it and
            // accept a second text for the same peer ID.
            let text = peerID.cidDescription + "a"
            #expect(PeerID(text) == nil, "\(vector.key_type): \(text)")
            #expect(try coreErrorCode { try PeerID(parsing: text) } == .malformedPeerID)
        }
    }

    // MARK: - Malformed input

    @Test(arguments: [
        "",  // empty
        "0801",  // truncated after type
        "080112",  // no length
        "0801122001",  // length says 32, one byte follows
        "08011221" + String(repeating: "00", count: 33),  // Ed25519 key of 33 bytes
        "1220" + String(repeating: "00", count: 32) + "0801",  // fields out of order
        "0801128020" + String(repeating: "00", count: 32),  // non-minimal length varint
        "080112200000000000000000000000000000000000000000000000000000000000000000ff",  // trailing byte
    ])
    func malformedPublicKeyProtobufIsRejected(hex: String) throws {
        let bytes = try [UInt8](hex: hex)
        #expect(try coreErrorCode { try IdentityPublicKey(protobufEncoded: bytes) } == .malformedKey)
    }

    @Test func unknownKeyTypeIsRejected() throws {
        let bytes = try [UInt8](hex: "080412" + "20" + String(repeating: "00", count: 32))
        #expect(try coreErrorCode { try IdentityPublicKey(protobufEncoded: bytes) } == .unsupportedKeyType)
    }

    @Test func secp256k1PointOffTheCurveIsRejected() throws {
        let point = [0x02] + [UInt8](repeating: 0xff, count: 32)
        #expect(try coreErrorCode { try IdentityPublicKey(keyType: .secp256k1, rawData: point) } == .malformedKey)
    }

    @Test func ecdsaKeyThatIsNotSPKIIsRejected() throws {
        #expect(try coreErrorCode { try IdentityPublicKey(keyType: .ecdsa, rawData: [0x30, 0x03, 0x02, 0x01, 0x01]) }
            == .malformedKey)
    }

    @Test func ed25519PrivateKeyWithMismatchedPublicHalfIsRejected() throws {
        let other = try IdentityPrivateKey(ed25519Seed: [UInt8](repeating: 4, count: 32))
        let bytes: [UInt8] = [0x08, 0x01, 0x12, 0x40] + [UInt8](repeating: 3, count: 32) + other.publicKey.rawData
        #expect(try coreErrorCode { try IdentityPrivateKey(protobufEncoded: bytes) } == .malformedKey)
    }

    @Test(arguments: [
        "",
        "12D3KooW",  // truncated
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p0",  // '0' is not base58
        "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgD",  // sha2-256 digest one byte short
        "bafy2bzacea",  // CID with another codec
        "zQmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk",  // unknown multibase
    ])
    func malformedPeerIDTextIsRejected(text: String) throws {
        #expect(PeerID(text) == nil)
        #expect(try coreErrorCode { try PeerID(parsing: text) } == .malformedPeerID)
    }
}

/// The code of the ``P2PCoreError`` that `body` throws, or `nil` when it throws nothing.
func coreErrorCode(_ body: () throws -> some Any) throws -> P2PCoreError.Code? {
    do {
        _ = try body()
        return nil
    } catch let error as P2PCoreError {
        return error.code
    }
}
