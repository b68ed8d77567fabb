import Foundation
import P2PCore
import SwiftProtobuf

// The libp2p handshake payload (docs/wire.md §4.3) on top of the generated `NoiseHandshakePayload`.
//
// swift-protobuf is used for both directions: it writes fields in tag order (identity_key,
// identity_sig, extensions), which is the deterministic form go, js and rust produce, and it
// rejects malformed varints, lengths and wire types with a typed error.

extension NoiseHandshakePayload {
    /// The message an identity key signs: `"noise-libp2p-static-key:" || staticKey` (docs/wire.md §4.3).
    static func signedMessage(staticKey: NoiseBytes32) -> [UInt8] {
        var message = Array(NoiseConstants.staticKeySignaturePrefix.utf8)
        message.reserveCapacity(message.count + NoiseConstants.dhLength)
        staticKey.withUnsafeBytes { message.append(contentsOf: $0) }
        return message
    }

    /// The payload this side sends in message 2 (responder) or 3 (initiator). With no local muxers
    /// the `extensions` field is left out entirely, as a peer without early negotiation sends it.
    static func encoded(
        identityKey: [UInt8],
        signature: [UInt8],
        muxers: [ProtocolID]
    ) throws -> [UInt8] {
        var payload = NoiseHandshakePayload()
        payload.identityKey = Data(identityKey)
        payload.identitySig = Data(signature)
        if !muxers.isEmpty {
            var extensions = NoiseExtensions()
            extensions.streamMuxers = muxers.map(\.rawValue)
            payload.extensions = extensions
        }
        do {
            return try payload.serializedBytes()
        } catch {
            throw NoiseError.malformedPayload("cannot encode the local handshake payload: \(error)")
        }
    }

    /// Parses a received payload and checks it as the spec orders (docs/wire.md §4.3): the identity
    /// key, then its signature over `remoteStaticKey` (the key received in this handshake), then the
    /// expected peer ID. Only then are the extensions looked at.
    /// - Returns: the verified identity and the peer's muxer list (`nil` when it sent none).
    static func verify(
        _ bytes: [UInt8],
        remoteStaticKey: NoiseBytes32,
        expectedPeerID: PeerID?
    ) throws -> (publicKey: IdentityPublicKey, peerID: PeerID, muxers: [String]?) {
        let payload: NoiseHandshakePayload
        do {
            payload = try NoiseHandshakePayload(serializedBytes: bytes)
        } catch {
            throw NoiseError.malformedPayload("handshake payload is not a NoiseHandshakePayload protobuf: \(error)")
        }
        guard payload.hasIdentityKey, payload.hasIdentitySig else {
            throw NoiseError.missingIdentity(
                "handshake payload lacks \(payload.hasIdentityKey ? "identity_sig" : "identity_key")"
            )
        }
        let publicKey: IdentityPublicKey
        do {
            publicKey = try IdentityPublicKey(protobufEncoded: payload.identityKey)
        } catch let error as P2PCoreError where error.code == .unsupportedKeyType {
            throw NoiseError.unsupportedIdentityKeyType("identity_key: \(error.diagnostics)")
        } catch let error as P2PCoreError {
            throw NoiseError.malformedIdentityKey("identity_key: \(error.diagnostics)")
        }
        guard publicKey.isValidSignature(payload.identitySig, for: Self.signedMessage(staticKey: remoteStaticKey)) else {
            throw NoiseError.invalidSignature(
                "identity_sig of \(publicKey.peerID) does not sign this handshake's static key \(remoteStaticKey)"
            )
        }
        let peerID = publicKey.peerID
        if let expectedPeerID, expectedPeerID != peerID {
            throw NoiseError.peerIDMismatch(expected: expectedPeerID.description, received: peerID.description)
        }
        // Early data: looked at only now that the signature has been checked.
        guard payload.hasExtensions else { return (publicKey, peerID, nil) }
        let muxers = payload.extensions.streamMuxers
        guard muxers.count <= NoiseConstants.maximumStreamMuxerCount else {
            throw NoiseError.tooManyMuxers(count: muxers.count)
        }
        return (publicKey, peerID, muxers)
    }
}

/// Early muxer negotiation in the Noise handshake (docs/wire.md §6.2).
enum NoiseEarlyMuxerSelection {
    /// The selected muxer: the first entry of the initiator's list that the responder also lists,
    /// the same on both sides.
    /// - Returns: `nil` when either list is empty or missing: that side does not negotiate early,
    ///   and the upgrader falls back to multistream-select (go and js do the same).
    /// - Throws: ``NoiseError/Code/noCommonMuxer`` when both lists are given and share no entry:
    ///   the spec says the handshake MUST fail (go falls back instead, js fails).
    static func select(initiator: [String]?, responder: [String]?) throws -> ProtocolID? {
        guard let initiator, let responder, !initiator.isEmpty, !responder.isEmpty else { return nil }
        for candidate in initiator where responder.contains(candidate) {
            return ProtocolID(candidate)
        }
        throw NoiseError.noCommonMuxer(initiator: initiator, responder: responder)
    }
}
