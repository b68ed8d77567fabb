import P2PCore
import TestSupport
import Testing

/// Keys and peer IDs: every key in `libp2p_peer_id_keys.json` (the peer-ids spec vectors), signing
/// and verification for all four key types, peer ID text forms, and malformed input by name.
@Suite struct IdentityTests {
    struct VectorFile: Decodable {
        struct Key: Decodable {
            let key_type: String
            let kind: String
            let protobuf_hex: String
            let derived_peer_id_base58: String?
        }
        let keys: [Key]
    }

    static func vectors() throws -> [VectorFile.Key] {
        try Fixtures.decode(VectorFile.self, from: "libp2p_peer_id_keys.json").keys
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
