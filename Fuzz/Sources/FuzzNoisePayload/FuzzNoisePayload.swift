import FuzzSupport
import NoiseFuzzSupport
import P2PCore

/// The libp2p Noise handshake payload: protobuf decoding, the identity key, the signature over
/// the static key, the expected peer ID and the muxer list. With the first byte's low bit set the
/// payload is re-signed with the right key first (when it parses), so the fuzzer also explores
/// what lies behind the signature check. A payload that verifies names the signer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNoisePayload(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let peer = NoiseFuzzPeer.initiator
    var payload = input.rest()
    if flags & 0x1 != 0 { payload = peer.signing(payload: payload) }
    let expected: PeerID? =
        flags & 0x2 == 0 ? nil : (flags & 0x4 == 0 ? peer.identity.peerID : NoiseFuzzPeer.responder.identity.peerID)
    let localMuxers: [String]? = flags & 0x8 == 0 ? nil : ["/yamux/1.0.0", "/mplex/6.7.0"]
    guard
        let peerID = try? NoiseFuzzPayload.verify(payload, from: peer, expecting: expected, localMuxers: localMuxers)
    else { return 0 }
    fuzzCheck(expected == nil || expected == peerID, "verified \(peerID) while expecting another peer")
    return 0
}
