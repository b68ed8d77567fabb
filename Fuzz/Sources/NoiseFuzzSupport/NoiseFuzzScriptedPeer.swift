import NIOCore
import P2PCore

@testable import Noise

/// The far side of a fuzzed handshake: the Noise XX pattern with fixed keys and whatever payload
/// the fuzzer chooses, so that the state machine under test receives correctly encrypted
/// messages whose payloads are fuzzed.
public struct NoiseFuzzScriptedPeer {
    private var handshake: NoiseXXHandshakeState

    /// `peer`'s side of the handshake in `role`.
    public init(_ peer: NoiseFuzzPeer, role: ConnectionRole) {
        self.handshake = NoiseXXHandshakeState(
            role: role,
            prologue: UnsafeRawBufferPointer(start: nil, count: 0),
            localStatic: peer.staticKeyPair,
            localEphemeral: peer.ephemeralKeyPair,
            crypto: NoiseDefaultCryptoProvider()
        )
    }

    /// Message 1 with `payload`, framed.
    public mutating func message1(payload: [UInt8]) throws -> ByteBuffer {
        try self.framed { handshake, output in
            try payload.withUnsafeBytes { try handshake.writeMessage1(payload: $0, into: &output) }
        }
    }

    /// Message 2 with `payload`, framed.
    public mutating func message2(payload: [UInt8]) throws -> ByteBuffer {
        try self.framed { handshake, output in
            try payload.withUnsafeBytes { try handshake.writeMessage2(payload: $0, into: &output) }
        }
    }

    /// Message 3 with `payload`, framed.
    public mutating func message3(payload: [UInt8]) throws -> ByteBuffer {
        try self.framed { handshake, output in
            try payload.withUnsafeBytes { try handshake.writeMessage3(payload: $0, into: &output) }
        }
    }

    /// Reads the framed message 1 the state machine under test sent.
    public mutating func read(message1 framed: ByteBuffer) throws {
        var payload = ByteBuffer()
        let message = Self.unframed(framed)
        try message.withUnsafeReadableBytes { try self.handshake.readMessage1($0, payload: &payload) }
    }

    /// Reads the framed message 2 the state machine under test sent.
    public mutating func read(message2 framed: ByteBuffer) throws {
        var payload = ByteBuffer()
        let message = Self.unframed(framed)
        try message.withUnsafeReadableBytes { try self.handshake.readMessage2($0, payload: &payload) }
    }

    private mutating func framed(
        _ write: (inout NoiseXXHandshakeState, inout ByteBuffer) throws -> Void
    ) throws -> ByteBuffer {
        var message = ByteBuffer()
        try write(&self.handshake, &message)
        var output = ByteBuffer()
        try output.writeNoiseFrame(message)
        return output
    }

    private static func unframed(_ framed: ByteBuffer) -> ByteBuffer {
        var framed = framed
        return NoiseFrameDecoder.readFrame(from: &framed) ?? ByteBuffer()
    }
}

/// The libp2p handshake payload check (identity key, signature over the static key, peer ID,
/// muxer list), which the state machines run on every received payload.
public enum NoiseFuzzPayload {
    /// Verifies `bytes` as a payload from `peer`'s static key; on success also selects the early
    /// muxer against `localMuxers` in both roles, as the state machines do.
    public static func verify(_ bytes: [UInt8], from peer: NoiseFuzzPeer, expecting peerID: PeerID?,
                              localMuxers: [String]?) throws -> PeerID {
        let remote = try NoiseHandshakePayload.verify(
            bytes,
            remoteStaticKey: peer.staticKeyPair.publicKey,
            expectedPeerID: peerID
        )
        _ = try? NoiseEarlyMuxerSelection.select(initiator: remote.muxers, responder: localMuxers)
        _ = try? NoiseEarlyMuxerSelection.select(initiator: localMuxers, responder: remote.muxers)
        return remote.peerID
    }
}
