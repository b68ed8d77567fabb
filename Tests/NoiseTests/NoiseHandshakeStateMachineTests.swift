import Foundation
import NIOCore
import P2PCore
import SwiftProtobuf
import TestSupport
import Testing

@testable import Noise

/// A peer that speaks raw Noise XX with any payload it likes: the other side of the bad-input tests.
struct RawNoisePeer {
    var handshake: NoiseXXHandshakeState
    let staticKey: NoiseX25519KeyPair
    let crypto = NoiseDefaultCryptoProvider()

    init(role: ConnectionRole, ephemeral: NoiseX25519KeyPair? = nil) throws {
        self.staticKey = try crypto.generateX25519KeyPair()
        self.handshake = NoiseXXHandshakeState(
            role: role,
            prologue: UnsafeRawBufferPointer(start: nil, count: 0),
            localStatic: self.staticKey,
            localEphemeral: ephemeral,
            crypto: crypto
        )
    }

    /// A correct libp2p payload for this peer's static key.
    func payload(identity: IdentityPrivateKey, muxers: [ProtocolID] = []) throws -> [UInt8] {
        try NoiseHandshakePayload.encoded(
            identityKey: identity.publicKey.protobufEncoded,
            signature: try identity.sign(NoiseHandshakePayload.signedMessage(staticKey: self.staticKey.publicKey)),
            muxers: muxers
        )
    }

    static func framed(_ body: (inout ByteBuffer) throws -> Void) rethrows -> ByteBuffer {
        var message = ByteBuffer()
        try body(&message)
        var frame = ByteBuffer()
        frame.writeInteger(UInt16(message.readableBytes))
        frame.writeImmutableBuffer(message)
        return frame
    }

    mutating func message1(payload: [UInt8] = []) throws -> ByteBuffer {
        try Self.framed { out in try payload.withUnsafeBytes { try self.handshake.writeMessage1(payload: $0, into: &out) } }
    }

    mutating func message2(payload: [UInt8]) throws -> ByteBuffer {
        try Self.framed { out in try payload.withUnsafeBytes { try self.handshake.writeMessage2(payload: $0, into: &out) } }
    }

    mutating func message3(payload: [UInt8]) throws -> ByteBuffer {
        try Self.framed { out in try payload.withUnsafeBytes { try self.handshake.writeMessage3(payload: $0, into: &out) } }
    }

    /// Reads a framed message 1 (responder) or 2 (initiator); returns its payload.
    @discardableResult
    mutating func read(_ frame: ByteBuffer) throws -> [UInt8] {
        var frame = frame
        let message = try #require(NoiseFrameDecoder.readFrame(from: &frame))
        var payload = ByteBuffer()
        try message.withUnsafeReadableBytes { bytes in
            switch self.handshake.role {
            case .responder: try self.handshake.readMessage1(bytes, payload: &payload)
            case .initiator: try self.handshake.readMessage2(bytes, payload: &payload)
            }
        }
        return Array(payload.readableBytesView)
    }
}

@Suite("Noise handshake state machine")
struct NoiseHandshakeStateMachineTests {
    // MARK: - Complete handshakes

    @Test("two state machines complete back to back, whole and one byte at a time", arguments: [false, true])
    func completesBackToBack(dripFeed: Bool) throws {
        let alice = try NoiseTestKeys.identity(1)
        let bob = try NoiseTestKeys.identity(2)
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(alice, expecting: bob.peerID),
            responder: NoiseTestKeys.configuration(bob, expecting: alice.peerID)
        )
        var (initiator, responder) = try pair.run(dripFeed: dripFeed)
        #expect(pair.initiator.isComplete && pair.responder.isComplete)
        #expect(initiator.result.remotePeerID == bob.peerID)
        #expect(responder.result.remotePeerID == alice.peerID)
        #expect(initiator.result.remotePublicKey == bob.publicKey)
        #expect(initiator.result.handshakeHash == responder.result.handshakeHash)
        #expect(initiator.result.earlyMuxer == nil && !initiator.result.usedEarlyNegotiation)
        // Message sizes from docs/wire.md §4.3: 2 + 32, 2 + 32 + 48 + 104 + 16, 2 + 48 + 104 + 16.
        #expect(pair.wire.map(\.readableBytes) == [34, 202, 170])

        var frames = ByteBuffer()
        try initiator.transportCipher.encryptFrames(ByteBuffer(string: "ping"), into: &frames)
        #expect(try responder.transportCipher.decryptFrameInPlace(from: &frames) == ByteBuffer(string: "ping"))
        try responder.transportCipher.encryptFrames(ByteBuffer(string: "pong"), into: &frames)
        #expect(try initiator.transportCipher.decryptFrameInPlace(from: &frames) == ByteBuffer(string: "pong"))
    }

    @Test("a reused static key and signature serve many handshakes")
    func reusedStaticKey() throws {
        let alice = try NoiseTestKeys.identity(1)
        let bob = try NoiseTestKeys.identity(2)
        let signed = try NoiseSignedStaticKey(identity: bob)
        var keys: [NoiseBytes32] = []
        for _ in 0..<2 {
            var pair = try NoiseHandshakePair(
                initiator: NoiseTestKeys.configuration(alice, expecting: bob.peerID),
                responder: NoiseTestKeys.configuration(bob, staticKey: .reused(signed))
            )
            let (initiator, _) = try pair.run()
            keys.append(initiator.result.remoteStaticKey)
        }
        #expect(keys == [signed.keyPair.publicKey, signed.keyPair.publicKey])
    }

    @Test("a per-connection static key differs on every handshake")
    func perConnectionStaticKey() throws {
        let alice = try NoiseTestKeys.identity(1)
        let bob = try NoiseTestKeys.identity(2)
        var keys: Set<NoiseBytes32> = []
        for _ in 0..<2 {
            var pair = try NoiseHandshakePair(
                initiator: NoiseTestKeys.configuration(alice),
                responder: NoiseTestKeys.configuration(bob)
            )
            keys.insert(try pair.run().0.result.remoteStaticKey)
        }
        #expect(keys.count == 2)
    }

    @Test("a reused static key signed by another identity is a configuration error")
    func reusedStaticKeyOfAnotherIdentity() throws {
        let signed = try NoiseSignedStaticKey(identity: try NoiseTestKeys.identity(3))
        expectNoiseError(.invalidConfiguration) {
            try NoiseHandshakeStateMachine(
                role: .responder,
                configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), staticKey: .reused(signed))
            )
        }
    }

    // MARK: - Identity key types

    struct KeyTypeCase: Sendable, CustomTestStringConvertible {
        var initiator: IdentityKeyType
        var responder: IdentityKeyType
        var testDescription: String { "initiator \(initiator), responder \(responder)" }
    }

    /// Each non-Ed25519 type on either side against Ed25519, and the three against each other.
    static let keyTypeCases: [KeyTypeCase] = [
        KeyTypeCase(initiator: .secp256k1, responder: .ed25519),
        KeyTypeCase(initiator: .ed25519, responder: .secp256k1),
        KeyTypeCase(initiator: .ecdsa, responder: .ed25519),
        KeyTypeCase(initiator: .ed25519, responder: .ecdsa),
        KeyTypeCase(initiator: .rsa, responder: .ed25519),
        KeyTypeCase(initiator: .ed25519, responder: .rsa),
        KeyTypeCase(initiator: .secp256k1, responder: .ecdsa),
        KeyTypeCase(initiator: .ecdsa, responder: .rsa),
        KeyTypeCase(initiator: .rsa, responder: .secp256k1),
    ]

    @Test("handshakes complete with secp256k1, ECDSA P-256 and RSA identities on either side", arguments: keyTypeCases)
    func identityKeyTypes(_ keyTypeCase: KeyTypeCase) throws {
        let alice = try NoiseTestKeys.fixtureKey(keyTypeCase.initiator)
        let bob = try NoiseTestKeys.fixtureKey(keyTypeCase.responder)
        // Both sides expect the peer ID derived independently in the fixture, so a derivation that
        // differed from it would fail the handshake with peerIDMismatch.
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(alice.identity, expecting: try PeerID(parsing: bob.peerID), muxers: [.yamux]),
            responder: NoiseTestKeys.configuration(bob.identity, expecting: try PeerID(parsing: alice.peerID), muxers: [.yamux])
        )
        var (initiator, responder) = try pair.run()
        #expect(initiator.result.remotePeerID.description == bob.peerID)
        #expect(responder.result.remotePeerID.description == alice.peerID)
        #expect(initiator.result.remotePublicKey == bob.identity.publicKey)
        #expect(responder.result.remotePublicKey == alice.identity.publicKey)
        #expect(initiator.result.remotePublicKey.keyType == keyTypeCase.responder)
        #expect(responder.result.remotePublicKey.keyType == keyTypeCase.initiator)
        #expect(initiator.result.handshakeHash == responder.result.handshakeHash)
        #expect(initiator.result.earlyMuxer == .yamux && responder.result.earlyMuxer == .yamux)

        var frames = ByteBuffer()
        try initiator.transportCipher.encryptFrames(ByteBuffer(string: "ping"), into: &frames)
        #expect(try responder.transportCipher.decryptFrameInPlace(from: &frames) == ByteBuffer(string: "ping"))
    }

    @Test("an uncompressed secp256k1 identity key is accepted under the peer ID of its compressed form, as go derives it")
    func uncompressedSecp256k1IdentityKey() throws {
        let secp = try NoiseTestKeys.fixtureKey(.secp256k1)
        let point = try [UInt8](hex: NoiseTestKeys.specSecp256k1UncompressedPoint)
        let uncompressedKey: [UInt8] = [0x08, IdentityKeyType.secp256k1.rawValue, 0x12, UInt8(point.count)] + point
        let expected = try PeerID(parsing: secp.peerID)
        let receive = try initiatorReceiving(
            payload: { peer in
                try NoiseHandshakePayload.encoded(
                    identityKey: uncompressedKey,
                    signature: try secp.identity.sign(NoiseHandshakePayload.signedMessage(staticKey: peer.staticKey.publicKey)),
                    muxers: []
                )
            },
            expecting: expected
        )
        guard case .sendMessageAndComplete(let completion) = try receive() else {
            Issue.record("the handshake did not complete")
            return
        }
        #expect(completion.result.remotePeerID == expected)
        #expect(completion.result.remotePeerID.description.hasPrefix("16Uiu2H"), "inline identity multihash")
        #expect(completion.result.remotePublicKey.rawData.count == 33)
        #expect(completion.result.remotePublicKey == secp.identity.publicKey)
    }

    // MARK: - Early muxer negotiation

    struct MuxerCase: Sendable, CustomTestStringConvertible {
        var initiator: [ProtocolID]
        var responder: [ProtocolID]
        /// nil: no early muxer; "fail": the handshake fails with noCommonMuxer.
        var expected: String?
        var testDescription: String { "I\(initiator.map(\.rawValue)) R\(responder.map(\.rawValue)) -> \(expected ?? "none")" }
    }

    static let muxerCases: [MuxerCase] = [
        MuxerCase(initiator: [.yamux, .mplex], responder: [.yamux, .mplex], expected: "/yamux/1.0.0"),
        // The spec's example: the initiator's order wins.
        MuxerCase(initiator: [.yamux, .mplex], responder: [.mplex, .yamux], expected: "/yamux/1.0.0"),
        MuxerCase(initiator: [.mplex, .yamux], responder: [.yamux, .mplex], expected: "/mplex/6.7.0"),
        MuxerCase(initiator: ["/other/1", .yamux], responder: [.mplex, .yamux], expected: "/yamux/1.0.0"),
        MuxerCase(initiator: [.yamux], responder: ["/other/1", .mplex, .yamux], expected: "/yamux/1.0.0"),
        MuxerCase(initiator: [], responder: [.yamux], expected: nil),
        MuxerCase(initiator: [.yamux], responder: [], expected: nil),
        MuxerCase(initiator: [], responder: [], expected: nil),
        MuxerCase(initiator: [.yamux], responder: [.mplex], expected: "fail"),
        MuxerCase(initiator: [.mplex, "/other/1"], responder: [.yamux], expected: "fail"),
    ]

    @Test("early muxer negotiation: the first of the initiator's list the responder also lists", arguments: muxerCases)
    func earlyMuxerNegotiation(_ muxerCase: MuxerCase) throws {
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1), muxers: muxerCase.initiator),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), muxers: muxerCase.responder)
        )
        if muxerCase.expected == "fail" {
            // The initiator knows both lists after message 2 and fails before sending message 3.
            expectNoiseError(.noCommonMuxer) { try pair.run() }
            #expect(pair.wire.count == 2)
            return
        }
        let (initiator, responder) = try pair.run()
        for completion in [initiator, responder] {
            #expect(completion.result.earlyMuxer?.rawValue == muxerCase.expected)
            #expect(completion.result.usedEarlyNegotiation == (muxerCase.expected != nil))
        }
    }

    @Test("the responder also fails when the initiator's list has no common muxer")
    func responderFailsOnNoCommonMuxer() throws {
        let alice = try NoiseTestKeys.identity(1)
        var responder = try NoiseHandshakeStateMachine(
            role: .responder,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), muxers: [.yamux])
        )
        var initiator = try RawNoisePeer(role: .initiator)
        var output = ByteBuffer()
        var message1 = try initiator.message1()
        _ = try responder.receivedBytes(&message1, into: &output)
        try initiator.read(output)
        var message3 = try initiator.message3(payload: try initiator.payload(identity: alice, muxers: [.mplex]))
        expectNoiseError(.noCommonMuxer) { try responder.receivedBytes(&message3, into: &output) }
    }

    @Test("classic mode sends no extensions field at all")
    func classicModeSendsNoExtensions() throws {
        var responder = try NoiseHandshakeStateMachine(
            role: .responder,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        var initiator = try RawNoisePeer(role: .initiator)
        var output = ByteBuffer()
        var message1 = try initiator.message1()
        _ = try responder.receivedBytes(&message1, into: &output)
        let payload = try NoiseHandshakePayload(serializedBytes: try initiator.read(output))
        #expect(!payload.hasExtensions)
        #expect(payload.unknownFields.data.isEmpty)
    }

    @Test("a muxer list is sent in full, in preference order")
    func muxerListIsSentInOrder() throws {
        var responder = try NoiseHandshakeStateMachine(
            role: .responder,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), muxers: [.mplex, .yamux])
        )
        var initiator = try RawNoisePeer(role: .initiator)
        var output = ByteBuffer()
        var message1 = try initiator.message1()
        _ = try responder.receivedBytes(&message1, into: &output)
        let payload = try NoiseHandshakePayload(serializedBytes: try initiator.read(output))
        #expect(payload.extensions.streamMuxers == ["/mplex/6.7.0", "/yamux/1.0.0"])
    }

    // MARK: - Expected peer ID

    @Test("peer ID mismatch: the dialer fails on message 2 and sends no message 3")
    func peerIDMismatchAtInitiator() throws {
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1), expecting: try NoiseTestKeys.identity(9).peerID),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        var message1 = ByteBuffer()
        _ = try pair.initiator.start(into: &message1)
        var message2 = ByteBuffer()
        _ = try pair.responder.receivedBytes(&message1, into: &message2)
        var message3 = ByteBuffer()
        expectNoiseError(.peerIDMismatch) { try pair.initiator.receivedBytes(&message2, into: &message3) }
        #expect(message3.readableBytes == 0)
    }

    @Test("peer ID mismatch: a listener with an expected peer fails on message 3")
    func peerIDMismatchAtResponder() throws {
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), expecting: try NoiseTestKeys.identity(9).peerID)
        )
        expectNoiseError(.peerIDMismatch) { try pair.run() }
        #expect(pair.wire.count == 3)
    }

    // MARK: - Bad payloads in message 2 (the initiator checks them)

    /// Runs an initiator against a raw responder that sends `payload` in message 2.
    func initiatorReceiving(
        payload: (RawNoisePeer) throws -> [UInt8],
        expecting expected: PeerID? = nil
    ) throws -> () throws -> NoiseHandshakeStateMachine.ReceivedBytesAction {
        var initiator = try NoiseHandshakeStateMachine(
            role: .initiator,
            configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1), expecting: expected)
        )
        var responder = try RawNoisePeer(role: .responder)
        var message1 = ByteBuffer()
        _ = try initiator.start(into: &message1)
        try responder.read(message1)
        var message2 = try responder.message2(payload: try payload(responder))
        return {
            var output = ByteBuffer()
            return try initiator.receivedBytes(&message2, into: &output)
        }
    }

    @Test("a raw responder with a valid payload is accepted (the bad-payload harness works)")
    func harnessAcceptsValidPayload() throws {
        let bob = try NoiseTestKeys.identity(2)
        let action = try initiatorReceiving(payload: { try $0.payload(identity: bob) }, expecting: bob.peerID)()
        guard case .sendMessageAndComplete(let completion) = action else {
            Issue.record("expected completion, got \(action)")
            return
        }
        #expect(completion.result.remotePeerID == bob.peerID)
    }

    @Test("bad signature: identity_sig over another static key")
    func badSignature() throws {
        let bob = try NoiseTestKeys.identity(2)
        let receive = try initiatorReceiving(payload: { _ in
            let other = try NoiseDefaultCryptoProvider().generateX25519KeyPair()
            return try NoiseHandshakePayload.encoded(
                identityKey: bob.publicKey.protobufEncoded,
                signature: try bob.sign(NoiseHandshakePayload.signedMessage(staticKey: other.publicKey)),
                muxers: []
            )
        })
        expectNoiseError(.invalidSignature) { try receive() }
    }

    @Test("bad signature: a corrupted signature byte")
    func corruptedSignature() throws {
        let bob = try NoiseTestKeys.identity(2)
        let receive = try initiatorReceiving(payload: { peer in
            var signature = try bob.sign(NoiseHandshakePayload.signedMessage(staticKey: peer.staticKey.publicKey))
            signature[10] ^= 0x01
            return try NoiseHandshakePayload.encoded(identityKey: bob.publicKey.protobufEncoded, signature: signature, muxers: [])
        })
        expectNoiseError(.invalidSignature) { try receive() }
    }

    @Test("wrong key type: an unknown KeyType in identity_key")
    func unknownKeyType() throws {
        let bob = try NoiseTestKeys.identity(2)
        let receive = try initiatorReceiving(payload: { peer in
            var key = bob.publicKey.protobufEncoded
            key[1] = 9
            return try NoiseHandshakePayload.encoded(
                identityKey: key,
                signature: try bob.sign(NoiseHandshakePayload.signedMessage(staticKey: peer.staticKey.publicKey)),
                muxers: []
            )
        })
        expectNoiseError(.unsupportedIdentityKeyType) { try receive() }
    }

    @Test("wrong key type: Ed25519 key bytes labelled secp256k1")
    func keyTypeDoesNotMatchKey() throws {
        let bob = try NoiseTestKeys.identity(2)
        let receive = try initiatorReceiving(payload: { peer in
            var key = bob.publicKey.protobufEncoded
            key[1] = IdentityKeyType.secp256k1.rawValue
            return try NoiseHandshakePayload.encoded(
                identityKey: key,
                signature: try bob.sign(NoiseHandshakePayload.signedMessage(staticKey: peer.staticKey.publicKey)),
                muxers: []
            )
        })
        expectNoiseError(.malformedIdentityKey) { try receive() }
    }

    @Test("malformed identity key: identity_key is not a PublicKey protobuf")
    func malformedIdentityKey() throws {
        let receive = try initiatorReceiving(payload: { _ in
            try NoiseHandshakePayload.encoded(identityKey: [0x01, 0x02, 0x03], signature: [UInt8](repeating: 0, count: 64), muxers: [])
        })
        expectNoiseError(.malformedIdentityKey) { try receive() }
    }

    @Test("missing identity: a payload without identity_key")
    func missingIdentityKey() throws {
        let receive = try initiatorReceiving(payload: { _ in
            var payload = NoiseHandshakePayload()
            payload.identitySig = Data(repeating: 1, count: 64)
            return try payload.serializedBytes()
        })
        expectNoiseError(.missingIdentity) { try receive() }
    }

    @Test("missing identity: a payload without identity_sig")
    func missingIdentitySignature() throws {
        let bob = try NoiseTestKeys.identity(2)
        let receive = try initiatorReceiving(payload: { _ in
            var payload = NoiseHandshakePayload()
            payload.identityKey = Data(bob.publicKey.protobufEncoded)
            return try payload.serializedBytes()
        })
        expectNoiseError(.missingIdentity) { try receive() }
    }

    @Test("malformed protobuf: the payload is not a protobuf", arguments: [
        [0xff, 0xff, 0xff],  // a field with wire type 7
        [0x0a, 0x40, 0x01],  // a length running past the end
        [0x0a],  // a tag with no value
        [0x22, 0x02, 0x12, 0x05],  // extensions holding a truncated string
    ] as [[UInt8]])
    func malformedProtobuf(_ bytes: [UInt8]) throws {
        let receive = try initiatorReceiving(payload: { _ in bytes })
        expectNoiseError(.malformedPayload) { try receive() }
    }

    @Test("too many muxers: a stream_muxers list over 100 entries")
    func tooManyMuxers() throws {
        let bob = try NoiseTestKeys.identity(2)
        let muxers = (0...NoiseConstants.maximumStreamMuxerCount).map { ProtocolID("/m/\($0)") }
        let receive = try initiatorReceiving(payload: { try $0.payload(identity: bob, muxers: muxers) })
        expectNoiseError(.tooManyMuxers) { try receive() }
    }

    // MARK: - Bad messages

    @Test("truncated message 1: fewer than 32 bytes")
    func truncatedMessage1() throws {
        var responder = try NoiseHandshakeStateMachine(role: .responder, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2)))
        var input = ByteBuffer(bytes: [0x00, 0x1f] + [UInt8](repeating: 7, count: 31))
        var output = ByteBuffer()
        expectNoiseError(.truncatedMessage) { try responder.receivedBytes(&input, into: &output) }
        #expect(output.readableBytes == 0)
    }

    @Test("truncated message 2: fewer than 96 bytes")
    func truncatedMessage2() throws {
        var initiator = try NoiseHandshakeStateMachine(role: .initiator, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)))
        var output = ByteBuffer()
        _ = try initiator.start(into: &output)
        var message2 = ByteBuffer(bytes: [0x00, 95] + [UInt8](repeating: 9, count: 95))
        expectNoiseError(.truncatedMessage) { try initiator.receivedBytes(&message2, into: &output) }
    }

    @Test("truncated message 3: fewer than 64 bytes")
    func truncatedMessage3() throws {
        var responder = try NoiseHandshakeStateMachine(role: .responder, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2)))
        var initiator = try RawNoisePeer(role: .initiator)
        var output = ByteBuffer()
        var message1 = try initiator.message1()
        _ = try responder.receivedBytes(&message1, into: &output)
        var message3 = ByteBuffer(bytes: [0x00, 63] + [UInt8](repeating: 9, count: 63))
        expectNoiseError(.truncatedMessage) { try responder.receivedBytes(&message3, into: &output) }
    }

    @Test("a non-empty message 1 payload is ignored, as go does")
    func nonEmptyMessage1PayloadIsIgnored() throws {
        var responder = try NoiseHandshakeStateMachine(role: .responder, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2)))
        var initiator = try RawNoisePeer(role: .initiator)
        var message1 = try initiator.message1(payload: [UInt8](repeating: 0x42, count: NoiseConstants.maximumMessage1PayloadLength))
        var output = ByteBuffer()
        guard case .sendMessage = try responder.receivedBytes(&message1, into: &output) else {
            Issue.record("responder did not answer")
            return
        }
        // The message is still hashed, so the raw initiator can read message 2.
        let payload = try NoiseHandshakePayload(serializedBytes: try initiator.read(output))
        #expect(payload.hasIdentityKey)
    }

    @Test("oversize message 1: a payload over the 1024-byte bound")
    func oversizeMessage1() throws {
        var responder = try NoiseHandshakeStateMachine(role: .responder, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2)))
        var initiator = try RawNoisePeer(role: .initiator)
        var message1 = try initiator.message1(payload: [UInt8](repeating: 0x42, count: NoiseConstants.maximumMessage1PayloadLength + 1))
        var output = ByteBuffer()
        expectNoiseError(.messageTooLarge) { try responder.receivedBytes(&message1, into: &output) }
    }

    @Test("oversize outgoing message: a muxer list that does not fit in 65535 bytes")
    func oversizeOutgoingMessage() throws {
        let muxers = (0..<70).map { ProtocolID("/" + String(repeating: "m", count: 1000) + "\($0)") }
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2), muxers: muxers)
        )
        expectNoiseError(.messageTooLarge) { try pair.run() }
    }

    @Test("decryption failure: a flipped bit in message 2's encrypted static key")
    func decryptionFailureInMessage2() throws {
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        var message1 = ByteBuffer()
        _ = try pair.initiator.start(into: &message1)
        var message2 = ByteBuffer()
        _ = try pair.responder.receivedBytes(&message1, into: &message2)
        let index = message2.readerIndex + 2 + 32 + 5
        message2.setInteger(message2.getInteger(at: index, as: UInt8.self)! ^ 0x80, at: index)
        var output = ByteBuffer()
        expectNoiseError(.decryptionFailed) { try pair.initiator.receivedBytes(&message2, into: &output) }
    }

    @Test("decryption failure: a flipped bit in message 3's payload")
    func decryptionFailureInMessage3() throws {
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        var message1 = ByteBuffer()
        _ = try pair.initiator.start(into: &message1)
        var message2 = ByteBuffer()
        _ = try pair.responder.receivedBytes(&message1, into: &message2)
        var message3 = ByteBuffer()
        _ = try pair.initiator.receivedBytes(&message2, into: &message3)
        let index = message3.writerIndex - 20
        message3.setInteger(message3.getInteger(at: index, as: UInt8.self)! ^ 0x01, at: index)
        expectNoiseError(.decryptionFailed) { try pair.responder.receivedBytes(&message3, into: &message2) }
    }

    @Test("X25519 all-zero shared secret: a low-order ephemeral key in message 1")
    func lowOrderEphemeralKeyInMessage1() throws {
        var responder = try NoiseHandshakeStateMachine(role: .responder, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2)))
        var message1 = ByteBuffer(bytes: [0x00, 0x20] + [UInt8](repeating: 0, count: 32))
        var output = ByteBuffer()
        expectNoiseError(.lowOrderPublicKey) { try responder.receivedBytes(&message1, into: &output) }
        #expect(output.readableBytes == 0)
    }

    @Test("X25519 all-zero shared secret: a low-order ephemeral key in message 2")
    func lowOrderEphemeralKeyInMessage2() throws {
        var initiator = try NoiseHandshakeStateMachine(role: .initiator, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)))
        var output = ByteBuffer()
        _ = try initiator.start(into: &output)
        // The point of order 8 0x...e0eb7a7c... (RFC 7748 lists the small-order points; this is one).
        let lowOrder = try [UInt8](hex: "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
        var message2 = ByteBuffer(bytes: [0x00, 96] + lowOrder + [UInt8](repeating: 0, count: 64))
        expectNoiseError(.lowOrderPublicKey) { try initiator.receivedBytes(&message2, into: &output) }
    }

    @Test("random bytes in place of each handshake message give a typed error or a wait, never a crash")
    func randomBytes() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let length = Int.random(in: 0...300, using: &generator)
            var noise = ByteBuffer()
            noise.writeInteger(UInt16(length))
            noise.writeBytes((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            // Half the time a random length prefix too.
            if round % 2 == 1 { noise.setInteger(UInt16.random(in: 0...400, using: &generator), at: 0) }

            var responder = try NoiseHandshakeStateMachine(role: .responder, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2)))
            var initiator = try NoiseHandshakeStateMachine(role: .initiator, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)))
            var output = ByteBuffer()
            _ = try initiator.start(into: &output)
            for index in 0..<2 {
                var input = noise
                do {
                    let action = index == 0
                        ? try responder.receivedBytes(&input, into: &output)
                        : try initiator.receivedBytes(&input, into: &output)
                    switch action {
                    case .needMoreBytes, .sendMessage:
                        // A random 32-byte message 1 is a valid ephemeral key: the responder answers.
                        break
                    case .sendMessageAndComplete, .complete:
                        Issue.record("random bytes completed a handshake")
                    }
                } catch is NoiseError {
                    // The expected outcome for almost every input.
                }
            }
        }
    }

    @Test("an error is final: later calls throw it again")
    func errorIsFinal() throws {
        var responder = try NoiseHandshakeStateMachine(role: .responder, configuration: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2)))
        var message1 = ByteBuffer(bytes: [0x00, 0x20] + [UInt8](repeating: 0, count: 32))
        var output = ByteBuffer()
        expectNoiseError(.lowOrderPublicKey) { try responder.receivedBytes(&message1, into: &output) }
        var more = ByteBuffer(bytes: [0x00, 0x01, 0x00])
        expectNoiseError(.lowOrderPublicKey) { try responder.receivedBytes(&more, into: &output) }
        #expect(!responder.isComplete)
    }

    @Test("bytes after message 3 stay in the input for the transport cipher")
    func bytesAfterMessage3StayInInput() throws {
        var pair = try NoiseHandshakePair(
            initiator: NoiseTestKeys.configuration(try NoiseTestKeys.identity(1)),
            responder: NoiseTestKeys.configuration(try NoiseTestKeys.identity(2))
        )
        var message1 = ByteBuffer()
        _ = try pair.initiator.start(into: &message1)
        var message2 = ByteBuffer()
        _ = try pair.responder.receivedBytes(&message1, into: &message2)
        var segment = ByteBuffer()
        guard case .sendMessageAndComplete(var initiator) = try pair.initiator.receivedBytes(&message2, into: &segment) else {
            Issue.record("initiator did not complete")
            return
        }
        try initiator.transportCipher.encryptFrames(ByteBuffer(string: "early yamux frame"), into: &segment)
        var output = ByteBuffer()
        guard case .complete(var responder) = try pair.responder.receivedBytes(&segment, into: &output) else {
            Issue.record("responder did not complete")
            return
        }
        #expect(try responder.transportCipher.decryptFrameInPlace(from: &segment) == ByteBuffer(string: "early yamux frame"))
    }
}
