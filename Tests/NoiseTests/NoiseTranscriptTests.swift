import Foundation
import NIOCore
import P2PCore
import TestSupport
import Testing

@testable import Noise

/// The derived libp2p transcript (Tests/Fixtures/derived_libp2p_noise_xx_early_muxer_transcript.json):
/// identity payloads, signatures, muxer lists, framing and the first transport messages, byte for
/// byte, with the transcript's injected keys. A cross-check, not upstream ground truth.
@Suite("libp2p Noise transcript")
struct NoiseTranscriptTests {
    struct Side {
        var staticPrivate: NoiseBytes32
        var ephemeralPrivate: NoiseBytes32
        var identity: IdentityPrivateKey
        var identityProtobuf: String
        var peerID: String
        var muxers: [ProtocolID]
        var signature: String
        var payload: String
    }

    struct Transcript {
        var initiator: Side
        var responder: Side
        var framedMessages: [String]
        var plaintextPayloads: [String]
        var handshakeHash: String
        var selectedMuxer: String
        var transport: [(fromInitiator: Bool, plaintext: String, framed: String)]
    }

    static func load() throws -> Transcript {
        let root = try #require(try Fixtures.json("derived_libp2p_noise_xx_early_muxer_transcript.json") as? [String: Any])
        func side(_ name: String) throws -> Side {
            let entry = try #require(root[name] as? [String: Any])
            func text(_ field: String) throws -> String { try #require(entry[field] as? String, "\(name).\(field)") }
            func key(_ field: String) throws -> NoiseBytes32 {
                let bytes = try [UInt8](hex: try text(field))
                return try #require(NoiseBytes32(bytes))
            }
            let muxers = try #require(entry["stream_muxers"] as? [String]).map { ProtocolID($0) }
            return Side(
                staticPrivate: try key("x25519_static_private"),
                ephemeralPrivate: try key("x25519_ephemeral_private"),
                identity: try NoiseTestKeys.identity(seedHex: try text("ed25519_identity_seed")),
                identityProtobuf: try text("identity_public_key_protobuf"),
                peerID: try text("peer_id"),
                muxers: muxers,
                signature: try text("payload_identity_sig"),
                payload: try text("handshake_payload_protobuf")
            )
        }
        let messages = try #require(root["messages"] as? [[String: String]])
        let transport = try #require(root["transport_messages"] as? [[String: Any]])
        return Transcript(
            initiator: try side("initiator"),
            responder: try side("responder"),
            framedMessages: messages.map { $0["framed_on_wire"] ?? "" },
            plaintextPayloads: messages.map { $0["plaintext_payload"] ?? "" },
            handshakeHash: try #require(root["handshake_hash"] as? String),
            selectedMuxer: try #require(root["selected_muxer"] as? String),
            transport: transport.map {
                (($0["dir"] as? String) == "initiator->responder", $0["plaintext"] as? String ?? "", $0["framed_on_wire"] as? String ?? "")
            }
        )
    }

    @Test("identity keys, peer IDs, signatures and payload protobufs match the transcript")
    func payloadsMatch() throws {
        let transcript = try Self.load()
        let crypto = NoiseDefaultCryptoProvider()
        for side in [transcript.initiator, transcript.responder] {
            #expect(side.identity.publicKey.protobufEncoded.hexString == side.identityProtobuf)
            #expect(side.identity.peerID.description == side.peerID)
            let signed = try NoiseSignedStaticKey(
                identity: side.identity,
                keyPair: try crypto.x25519KeyPair(privateKey: side.staticPrivate)
            )
            #expect(signed.signature.hexString == side.signature)
            let payload = try NoiseHandshakePayload.encoded(
                identityKey: side.identity.publicKey.protobufEncoded,
                signature: signed.signature,
                muxers: side.muxers
            )
            #expect(payload.hexString == side.payload)
        }
        #expect(transcript.plaintextPayloads[1] == transcript.responder.payload)
        #expect(transcript.plaintextPayloads[2] == transcript.initiator.payload)
    }

    @Test("the state machines reproduce every framed message, the hash, the muxer and the transport frames",
          arguments: [false, true])
    func handshakeMatches(dripFeed: Bool) throws {
        let transcript = try Self.load()
        let crypto = NoiseDefaultCryptoProvider()
        func machine(_ role: ConnectionRole, _ side: Side, expecting peer: String?) throws -> NoiseHandshakeStateMachine {
            try NoiseHandshakeStateMachine(
                role: role,
                configuration: NoiseTestKeys.configuration(
                    side.identity,
                    expecting: try peer.map { try #require(PeerID($0)) },
                    muxers: side.muxers
                ),
                ephemeralKeyPair: try crypto.x25519KeyPair(privateKey: side.ephemeralPrivate),
                staticKeyPair: try crypto.x25519KeyPair(privateKey: side.staticPrivate)
            )
        }
        var pair = NoiseHandshakePair(
            initiator: try machine(.initiator, transcript.initiator, expecting: transcript.responder.peerID),
            responder: try machine(.responder, transcript.responder, expecting: nil)
        )
        var (initiator, responder) = try pair.run(dripFeed: dripFeed)
        #expect(pair.wire.map(\.hexString) == transcript.framedMessages)

        for completion in [initiator, responder] {
            #expect(completion.result.handshakeHash.description == transcript.handshakeHash)
            #expect(completion.result.earlyMuxer?.rawValue == transcript.selectedMuxer)
            #expect(completion.result.usedEarlyNegotiation)
        }
        #expect(initiator.result.remotePeerID.description == transcript.responder.peerID)
        #expect(responder.result.remotePeerID.description == transcript.initiator.peerID)
        #expect(initiator.result.remotePublicKey == transcript.responder.identity.publicKey)

        for message in transcript.transport {
            var frames = ByteBuffer()
            let plaintext = try ByteBuffer(hex: message.plaintext)
            if message.fromInitiator {
                try initiator.transportCipher.encryptFrames(plaintext, into: &frames)
            } else {
                try responder.transportCipher.encryptFrames(plaintext, into: &frames)
            }
            #expect(frames.hexString == message.framed)
            let decrypted = message.fromInitiator
                ? try responder.transportCipher.decryptFrameInPlace(from: &frames)
                : try initiator.transportCipher.decryptFrameInPlace(from: &frames)
            #expect(decrypted?.hexString == message.plaintext)
        }
    }
}
