import NIOCore
import P2PCore
import TestSupport
import Testing

@testable import Noise

/// Keys and helpers shared by the Noise tests.
enum NoiseTestKeys {
    /// The peer-ids spec's Ed25519 test key (libp2p_peer_id_keys.json), as the transcript uses it.
    static let specEd25519Seed = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"

    static func identity(seedHex: String) throws -> IdentityPrivateKey {
        try IdentityPrivateKey(ed25519Seed: try [UInt8](hex: seedHex))
    }

    /// A deterministic Ed25519 identity from one byte.
    static func identity(_ byte: UInt8) throws -> IdentityPrivateKey {
        try IdentityPrivateKey(ed25519Seed: [UInt8](repeating: byte, count: 32))
    }

    /// One key of `libp2p_peer_id_keys.json` (the peer-ids spec vectors): its private key and the
    /// peer ID derived independently from its public key.
    struct FixtureKey {
        let identity: IdentityPrivateKey
        let peerID: String
    }

    /// The spec's test key of `keyType`: Ed25519, secp256k1, ECDSA P-256, or RSA 4096.
    static func fixtureKey(_ keyType: IdentityKeyType) throws -> FixtureKey {
        let keys = try PeerIDKeyVector.all()
        let name = keyType.description.lowercased()
        let privateKey = try #require(keys.first { $0.kind == "private" && $0.key_type.lowercased() == name })
        let publicKey = try #require(keys.first { $0.kind == "public" && $0.key_type.lowercased() == name })
        return FixtureKey(
            identity: try IdentityPrivateKey(protobufEncoded: try [UInt8](hex: privateKey.protobuf_hex)),
            peerID: try #require(publicKey.derived_peer_id_base58)
        )
    }

    /// The spec's secp256k1 test public key `03 7777e9…ca99` as an uncompressed SEC1 point
    /// `04 || X || Y`, with Y = sqrt(X³ + 7) mod p of odd parity (the 03 prefix); computed
    /// independently for these tests.
    static let specSecp256k1UncompressedPoint =
        "04" + "7777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"
        + "1b41b30efa52b659e9db235c31f9975578a17e2b356a6b84837b5b45c555cfb1"

    static func configuration(
        _ identity: IdentityPrivateKey,
        expecting peer: PeerID? = nil,
        muxers: [ProtocolID] = [],
        staticKey: NoiseStaticKeyMode = .perConnection
    ) -> NoiseConfiguration {
        NoiseConfiguration(identity: identity, expectedRemotePeerID: peer, muxers: muxers, staticKey: staticKey)
    }
}

/// Runs two state machines back to back, feeding every output to the other side either whole or
/// one byte at a time.
struct NoiseHandshakePair {
    var initiator: NoiseHandshakeStateMachine
    var responder: NoiseHandshakeStateMachine
    /// The framed messages in order: msg1, msg2, msg3.
    var wire: [ByteBuffer] = []

    init(initiator: NoiseConfiguration, responder: NoiseConfiguration) throws {
        self.initiator = try NoiseHandshakeStateMachine(role: .initiator, configuration: initiator)
        self.responder = try NoiseHandshakeStateMachine(role: .responder, configuration: responder)
    }

    init(initiator: NoiseHandshakeStateMachine, responder: NoiseHandshakeStateMachine) {
        self.initiator = initiator
        self.responder = responder
    }

    /// Runs the handshake; returns (initiator, responder) completions.
    mutating func run(dripFeed: Bool = false) throws -> (NoiseHandshakeCompletion, NoiseHandshakeCompletion) {
        var message1 = ByteBuffer()
        #expect(try self.initiator.start(into: &message1) == .sendMessage)
        var responderStart = ByteBuffer()
        #expect(try self.responder.start(into: &responderStart) == .waitForMessage)
        #expect(responderStart.readableBytes == 0)
        self.wire.append(message1)

        var message2 = ByteBuffer()
        let responderAction = try Self.feed(message1, to: &self.responder, output: &message2, dripFeed: dripFeed)
        guard case .sendMessage = responderAction else {
            Issue.record("responder did not answer message 1: \(responderAction)")
            throw TestSupportError("handshake stalled")
        }
        self.wire.append(message2)

        var message3 = ByteBuffer()
        let initiatorAction = try Self.feed(message2, to: &self.initiator, output: &message3, dripFeed: dripFeed)
        guard case .sendMessageAndComplete(let initiatorCompletion) = initiatorAction else {
            Issue.record("initiator did not complete on message 2: \(initiatorAction)")
            throw TestSupportError("handshake stalled")
        }
        self.wire.append(message3)

        var nothing = ByteBuffer()
        let finalAction = try Self.feed(message3, to: &self.responder, output: &nothing, dripFeed: dripFeed)
        guard case .complete(let responderCompletion) = finalAction else {
            Issue.record("responder did not complete on message 3: \(finalAction)")
            throw TestSupportError("handshake stalled")
        }
        #expect(nothing.readableBytes == 0)
        return (initiatorCompletion, responderCompletion)
    }

    /// Feeds `bytes` (whole or byte by byte) and returns the first action that is not `needMoreBytes`.
    static func feed(
        _ bytes: ByteBuffer,
        to machine: inout NoiseHandshakeStateMachine,
        output: inout ByteBuffer,
        dripFeed: Bool
    ) throws -> NoiseHandshakeStateMachine.ReceivedBytesAction {
        if !dripFeed {
            var input = bytes
            let action = try machine.receivedBytes(&input, into: &output)
            #expect(input.readableBytes == 0)
            return action
        }
        var input = ByteBuffer()
        var remaining = bytes
        while let byte = remaining.readInteger(as: UInt8.self) {
            input.writeInteger(byte)
            let action = try machine.receivedBytes(&input, into: &output)
            if case .needMoreBytes = action {
                #expect(remaining.readableBytes > 0, "whole message fed but still needs bytes")
                continue
            }
            #expect(remaining.readableBytes == 0, "acted before the last byte")
            return action
        }
        return .needMoreBytes
    }
}

/// Expects `body` to throw a ``NoiseError`` with `code`.
func expectNoiseError<Result>(
    _ code: NoiseError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Result
) {
    do {
        let result = try body()
        Issue.record("expected NoiseError.\(code), got \(result)", sourceLocation: sourceLocation)
    } catch let error as NoiseError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected NoiseError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}
