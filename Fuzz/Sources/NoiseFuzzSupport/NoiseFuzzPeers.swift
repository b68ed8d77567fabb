import Foundation
import P2PCore
import SwiftProtobuf

@testable import Noise

/// The two sides of the libp2p Noise transcript in Tests/Fixtures
/// (derived_libp2p_noise_xx_early_muxer_transcript.json): fixed X25519 and Ed25519 keys, so a
/// fuzzed handshake is deterministic and the transcript's messages are valid seeds.
public struct NoiseFuzzPeer: Sendable {
    /// The Ed25519 identity.
    public let identity: IdentityPrivateKey
    /// The X25519 static key pair.
    public let staticKeyPair: NoiseX25519KeyPair
    /// The X25519 ephemeral key pair.
    public let ephemeralKeyPair: NoiseX25519KeyPair
    /// The muxers the transcript lists for this side.
    public let muxers: [ProtocolID]

    /// The transcript's initiator.
    public static let initiator = NoiseFuzzPeer(
        identitySeed: "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d",
        staticKey: "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
        ephemeralKey: "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
        muxers: [.yamux, .mplex]
    )

    /// The transcript's responder.
    public static let responder = NoiseFuzzPeer(
        identitySeed: "2a4deb55a15179ec5446ffed355644f13f80056f0d6c5063ef9c96728b11a3c9",
        staticKey: "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
        ephemeralKey: "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
        muxers: [.mplex, .yamux]
    )

    private init(identitySeed: String, staticKey: String, ephemeralKey: String, muxers: [ProtocolID]) {
        // The keys are constants: failing here is a broken build, not a finding.
        let crypto = NoiseDefaultCryptoProvider()
        self.identity = try! IdentityPrivateKey(ed25519Seed: Self.bytes(hex: identitySeed))
        self.staticKeyPair = try! crypto.x25519KeyPair(privateKey: NoiseBytes32(Self.bytes(hex: staticKey))!)
        self.ephemeralKeyPair = try! crypto.x25519KeyPair(privateKey: NoiseBytes32(Self.bytes(hex: ephemeralKey))!)
        self.muxers = muxers
    }

    /// A configuration for this side.
    public func configuration(muxers: Bool, expecting peer: PeerID?) -> NoiseConfiguration {
        NoiseConfiguration(identity: self.identity, expectedRemotePeerID: peer, muxers: muxers ? self.muxers : [])
    }

    /// A handshake state machine for this side with the fixed keys.
    public func stateMachine(role: ConnectionRole, configuration: NoiseConfiguration) -> NoiseHandshakeStateMachine {
        try! NoiseHandshakeStateMachine(
            role: role,
            configuration: configuration,
            ephemeralKeyPair: self.ephemeralKeyPair,
            staticKeyPair: self.staticKeyPair
        )
    }

    /// `bytes` with a valid identity key and signature for this side's static key when they parse as
    /// a `NoiseHandshakePayload`, keeping every other field (extensions, unknown fields) as fuzzed;
    /// otherwise `bytes` unchanged. Lets the fuzzer reach the checks behind the signature.
    public func signing(payload bytes: [UInt8]) -> [UInt8] {
        guard var payload = try? NoiseHandshakePayload(serializedBytes: bytes) else { return bytes }
        payload.identityKey = Data(self.identity.publicKey.protobufEncoded)
        let message = NoiseHandshakePayload.signedMessage(staticKey: self.staticKeyPair.publicKey)
        payload.identitySig = Data(try! self.identity.sign(message))
        return (try? payload.serializedBytes()) ?? bytes
    }

    private static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }
}
