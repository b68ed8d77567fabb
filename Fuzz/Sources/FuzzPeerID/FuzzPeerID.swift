import FuzzSupport
import P2PCore

/// Peer IDs and identity keys (P2PCore), as peers send them: the `PublicKey` protobuf (Noise
/// payloads, TLS `SignedKey`), the multihash, and the base58 and CIDv1 base32 texts. Whatever
/// decodes must re-encode to a value that decodes to the same thing; a key must be able to check
/// a signature without trapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPeerID(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte() % 3
    let bytes = input.rest()
    switch mode {
    case 0:
        guard let key = try? IdentityPublicKey(protobufEncoded: bytes) else { return 0 }
        let again = try? IdentityPublicKey(protobufEncoded: key.protobufEncoded)
        fuzzCheck(again == key, "\(key) does not survive re-encoding")
        _ = key.isValidSignature(bytes, for: bytes)
        let peerID = key.peerID
        fuzzCheck((try? PeerID(parsing: peerID.description)) == peerID, "peer ID text does not parse back")
    case 1:
        guard let peerID = try? PeerID(multihash: bytes) else { return 0 }
        fuzzCheck((try? PeerID(parsing: peerID.description)) == peerID, "base58 of \(peerID) does not parse back")
        fuzzCheck((try? PeerID(parsing: peerID.cidDescription)) == peerID, "CID of \(peerID) does not parse back")
        _ = peerID.publicKey
    default:
        let text = String(decoding: bytes, as: UTF8.self)
        guard let peerID = try? PeerID(parsing: text) else { return 0 }
        fuzzCheck((try? PeerID(multihash: peerID.multihash)) == peerID, "multihash of \(peerID) does not decode")
        fuzzCheck((try? PeerID(parsing: peerID.description)) == peerID, "base58 of \(peerID) does not parse back")
    }
    return 0
}
