import NIOCore
import P2PCore

/// What a completed handshake established, for the upgrader and for logs.
public struct NoiseHandshakeResult: Sendable, Hashable {
    /// The authenticated peer: derived from ``remotePublicKey``, whose signature covered the static
    /// key of this handshake.
    public let remotePeerID: PeerID
    /// The peer's identity key.
    public let remotePublicKey: IdentityPublicKey
    /// The muxer agreed in the handshake, to start at once without multistream-select; `nil` when
    /// either side sent no muxer list (docs/wire.md §6.2).
    public let earlyMuxer: ProtocolID?
    /// Whether early muxer negotiation happened (both sides sent lists). When `false` the upgrader
    /// negotiates the muxer with multistream-select inside the secure channel.
    public let usedEarlyNegotiation: Bool
    /// The final handshake hash `h`, equal on both sides (channel binding).
    public let handshakeHash: NoiseBytes32
    /// The peer's X25519 static key.
    public let remoteStaticKey: NoiseBytes32
}

/// A finished handshake: the result, and the transport cipher for everything that follows.
public struct NoiseHandshakeCompletion {
    /// What the handshake established.
    public let result: NoiseHandshakeResult
    /// Encrypts this side's messages and decrypts the peer's, from nonce 0.
    public var transportCipher: NoiseTransportCipher
}

/// The libp2p Noise handshake (docs/wire.md §4) as a pure state machine: framed bytes in, framed
/// bytes and results out. No channel, no clock, no I/O.
///
/// `Noise_XX_25519_ChaChaPoly_SHA256` with an empty prologue, the libp2p handshake payload in
/// messages 2 and 3 (checked before anything in it is used), the expected peer ID, and early muxer
/// negotiation in `NoiseExtensions.stream_muxers`.
///
/// ```
/// stage 1  initiator -> responder   e                      32 B + empty payload
/// stage 2  responder -> initiator   e, ee, s, es           32 + 48 + (payload + 16) B
/// stage 3  initiator -> responder   s, se                  48 + (payload + 16) B
/// ```
///
/// Each message travels behind a 2-byte big-endian length. The initiator calls ``start(into:)``
/// once, then both sides feed every received byte to ``receivedBytes(_:into:)``. Outgoing messages
/// are appended to the `output` buffer the caller passes; the action says when to send it. After
/// completion, bytes left in the input buffer are transport frames: the initiator may send them in
/// the same segment as message 3 (docs/wire.md §6.2).
///
/// Any error is final: the state machine keeps it and throws it again on every later call, and the
/// connection must be closed.
public struct NoiseHandshakeStateMachine {
    /// What to do after ``start(into:)``.
    public enum StartAction {
        /// The initiator wrote message 1 into `output`: send it.
        case sendMessage
        /// The responder waits for message 1; nothing was written.
        case waitForMessage
    }

    /// What to do after ``receivedBytes(_:into:)``.
    public enum ReceivedBytesAction {
        /// No whole handshake message yet: read more bytes.
        case needMoreBytes
        /// The responder wrote message 2 into `output`: send it, then wait for message 3.
        case sendMessage
        /// The initiator wrote message 3 into `output`: send it; the handshake is complete.
        case sendMessageAndComplete(NoiseHandshakeCompletion)
        /// The responder received message 3: the handshake is complete.
        case complete(NoiseHandshakeCompletion)
    }

    private enum State {
        case initiatorIdle(NoiseXXHandshakeState)
        case initiatorAwaitingMessage2(NoiseXXHandshakeState)
        case responderAwaitingMessage1(NoiseXXHandshakeState)
        case responderAwaitingMessage3(NoiseXXHandshakeState)
        case completed
        case failed(NoiseError)
        /// Only while a method has taken the handshake state out (avoids copying it on write).
        case modifying
    }

    /// Which side this is.
    public let role: ConnectionRole
    private let configuration: NoiseConfiguration
    private let staticKey: NoiseSignedStaticKey?
    private let localStatic: NoiseX25519KeyPair
    private var state: State

    /// A handshake for `role`. With ``NoiseStaticKeyMode/perConnection`` this generates the static
    /// key now; its signature is made when the payload is first needed.
    /// - Throws: ``NoiseError/Code/invalidConfiguration`` for a reused static key signed by another
    ///   identity; ``NoiseError/Code/cryptoFailure``.
    public init(role: ConnectionRole, configuration: NoiseConfiguration) throws {
        try self.init(role: role, configuration: configuration, ephemeralKeyPair: nil, staticKeyPair: nil)
    }

    /// As ``init(role:configuration:)`` with injected X25519 keys, for test vectors.
    init(
        role: ConnectionRole,
        configuration: NoiseConfiguration,
        ephemeralKeyPair: NoiseX25519KeyPair?,
        staticKeyPair: NoiseX25519KeyPair?
    ) throws {
        self.role = role
        self.configuration = configuration
        let crypto = configuration.cryptoProvider
        switch configuration.staticKey {
        case .perConnection:
            self.staticKey = nil
            self.localStatic = try staticKeyPair ?? crypto.generateX25519KeyPair()
        case .reused(let signed):
            guard signed.identityPublicKey == configuration.identity.publicKey else {
                throw NoiseError.invalidConfiguration(
                    "reused static key is signed by \(signed.identityPublicKey.peerID), not by \(configuration.identity.peerID)"
                )
            }
            self.staticKey = signed
            self.localStatic = signed.keyPair
        }
        // libp2p's prologue is empty for TCP and WebSocket (docs/wire.md §4.1).
        let handshake = NoiseXXHandshakeState(
            role: role,
            prologue: UnsafeRawBufferPointer(start: nil, count: 0),
            localStatic: self.localStatic,
            localEphemeral: ephemeralKeyPair,
            crypto: crypto
        )
        switch role {
        case .initiator: self.state = .initiatorIdle(handshake)
        case .responder: self.state = .responderAwaitingMessage1(handshake)
        }
    }

    /// Whether the handshake has completed.
    public var isComplete: Bool {
        switch self.state {
        case .completed: return true
        case .initiatorIdle, .initiatorAwaitingMessage2, .responderAwaitingMessage1, .responderAwaitingMessage3,
            .failed, .modifying:
            return false
        }
    }

    // MARK: - Events

    /// Starts the handshake: the initiator writes message 1 (stage 1) into `output`; the responder
    /// does nothing. Call once, when the connection is ready.
    public mutating func start(into output: inout ByteBuffer) throws -> StartAction {
        let outputStart = output.writerIndex
        switch self.state {
        case .initiatorIdle(var handshake):
            self.state = .modifying
            do {
                try self.writeMessage1(&handshake, into: &output)
                self.state = .initiatorAwaitingMessage2(handshake)
                return .sendMessage
            } catch {
                throw self.failed(error, output: &output, writtenFrom: outputStart)
            }
        case .responderAwaitingMessage1:
            return .waitForMessage
        case .failed(let error):
            throw error
        case .initiatorAwaitingMessage2, .responderAwaitingMessage3, .completed, .modifying:
            preconditionFailure("NoiseHandshakeStateMachine.start called twice (state \(self.state))")
        }
    }

    /// Takes at most one handshake message from the front of `input` and acts on it. Replies are
    /// appended to `output`. Bytes after the last handshake message stay in `input`.
    /// - Throws: ``NoiseError`` for any bad message; the handshake has then failed for good.
    public mutating func receivedBytes(_ input: inout ByteBuffer, into output: inout ByteBuffer) throws -> ReceivedBytesAction {
        let outputStart = output.writerIndex
        switch self.state {
        case .initiatorAwaitingMessage2(var handshake):
            guard let message = NoiseFrameDecoder.readFrame(from: &input) else { return .needMoreBytes }
            self.state = .modifying
            do {
                let completion = try self.readMessage2AndWriteMessage3(message, &handshake, into: &output)
                self.state = .completed
                return .sendMessageAndComplete(completion)
            } catch {
                throw self.failed(error, output: &output, writtenFrom: outputStart)
            }
        case .responderAwaitingMessage1(var handshake):
            guard let message = NoiseFrameDecoder.readFrame(from: &input) else { return .needMoreBytes }
            self.state = .modifying
            do {
                try self.readMessage1(message, &handshake)
                try self.writeMessage2(&handshake, into: &output)
                self.state = .responderAwaitingMessage3(handshake)
                return .sendMessage
            } catch {
                throw self.failed(error, output: &output, writtenFrom: outputStart)
            }
        case .responderAwaitingMessage3(var handshake):
            guard let message = NoiseFrameDecoder.readFrame(from: &input) else { return .needMoreBytes }
            self.state = .modifying
            do {
                let completion = try self.readMessage3(message, &handshake)
                self.state = .completed
                return .complete(completion)
            } catch {
                throw self.failed(error, output: &output, writtenFrom: outputStart)
            }
        case .failed(let error):
            throw error
        case .initiatorIdle:
            preconditionFailure("NoiseHandshakeStateMachine: the initiator received bytes before start(into:)")
        case .completed, .modifying:
            preconditionFailure("NoiseHandshakeStateMachine.receivedBytes in state \(self.state)")
        }
    }

    // MARK: - Stage 1: -> e

    /// Message 1: `e_pub` (32 B) and an empty payload, in clear: 32 B, framed 2 + 32 = 34 B.
    private func writeMessage1(_ handshake: inout NoiseXXHandshakeState, into output: inout ByteBuffer) throws {
        output.writeInteger(UInt16(NoiseConstants.dhLength))
        try handshake.writeMessage1(payload: UnsafeRawBufferPointer(start: nil, count: 0), into: &output)
    }

    /// Message 1 as received: 32 B of `e` and a payload that should be empty. go ignores a non-empty
    /// one, rust rejects it; this ignores it up to a bound (docs/wire.md §4.3, §8 item 8).
    private func readMessage1(_ message: ByteBuffer, _ handshake: inout NoiseXXHandshakeState) throws {
        let limit = NoiseConstants.dhLength + NoiseConstants.maximumMessage1PayloadLength
        guard message.readableBytes <= limit else {
            throw NoiseError.messageTooLarge("handshake message 1", length: message.readableBytes, limit: limit)
        }
        var ignoredPayload = ByteBuffer()
        try message.withUnsafeReadableBytes { try handshake.readMessage1($0, payload: &ignoredPayload) }
    }

    // MARK: - Stage 2: <- e, ee, s, es

    /// Message 2: `e_pub` (32) || Enc(s_pub) (32 + 16) || Enc(payload) (payload + 16).
    /// With an Ed25519 identity and no muxers the payload is 104 B (`0a 24 <36>` `12 40 <64>`), so
    /// 32 + 48 + 104 + 16 = 200 B; each muxer adds its ID plus 2 B, and the list 2 B more.
    private func writeMessage2(_ handshake: inout NoiseXXHandshakeState, into output: inout ByteBuffer) throws {
        let payload = try self.localPayload()
        let length = NoiseConstants.dhLength + (NoiseConstants.dhLength + NoiseConstants.tagLength)
            + payload.count + NoiseConstants.tagLength
        try Self.checkOutgoing(length: length)
        output.writeInteger(UInt16(length))
        try payload.withUnsafeBytes { try handshake.writeMessage2(payload: $0, into: &output) }
    }

    /// The initiator reads message 2 (at least 32 + 48 + 16 = 96 B), verifies the responder's payload
    /// and, when both sides listed muxers, picks one; then writes message 3.
    /// go checks the peer ID here, before sending message 3; so does this (docs/wire.md §4.3).
    private func readMessage2AndWriteMessage3(
        _ message: ByteBuffer,
        _ handshake: inout NoiseXXHandshakeState,
        into output: inout ByteBuffer
    ) throws -> NoiseHandshakeCompletion {
        var payload = ByteBuffer()
        try message.withUnsafeReadableBytes { try handshake.readMessage2($0, payload: &payload) }
        guard let remoteStaticKey = handshake.remoteStaticKey else {
            preconditionFailure("Noise XX: no remote static key after message 2")
        }
        let remote = try NoiseHandshakePayload.verify(
            Array(payload.readableBytesView),
            remoteStaticKey: remoteStaticKey,
            expectedPeerID: self.configuration.expectedRemotePeerID
        )
        let localMuxers = self.configuration.muxers.isEmpty ? nil : self.configuration.muxers.map(\.rawValue)
        let earlyMuxer = try NoiseEarlyMuxerSelection.select(initiator: localMuxers, responder: remote.muxers)

        try self.writeMessage3(&handshake, into: &output)
        return try Self.complete(&handshake, remote: remote, earlyMuxer: earlyMuxer, remoteStaticKey: remoteStaticKey)
    }

    // MARK: - Stage 3: -> s, se

    /// Message 3: Enc(s_pub) (32 + 16) || Enc(payload) (payload + 16); 48 + 104 + 16 = 168 B with an
    /// Ed25519 identity and no muxers.
    private func writeMessage3(_ handshake: inout NoiseXXHandshakeState, into output: inout ByteBuffer) throws {
        let payload = try self.localPayload()
        let length = (NoiseConstants.dhLength + NoiseConstants.tagLength) + payload.count + NoiseConstants.tagLength
        try Self.checkOutgoing(length: length)
        output.writeInteger(UInt16(length))
        try payload.withUnsafeBytes { try handshake.writeMessage3(payload: $0, into: &output) }
    }

    /// The responder reads message 3 (at least 48 + 16 = 64 B), verifies the initiator's payload
    /// and settles the muxer.
    private func readMessage3(
        _ message: ByteBuffer,
        _ handshake: inout NoiseXXHandshakeState
    ) throws -> NoiseHandshakeCompletion {
        var payload = ByteBuffer()
        try message.withUnsafeReadableBytes { try handshake.readMessage3($0, payload: &payload) }
        guard let remoteStaticKey = handshake.remoteStaticKey else {
            preconditionFailure("Noise XX: no remote static key after message 3")
        }
        let remote = try NoiseHandshakePayload.verify(
            Array(payload.readableBytesView),
            remoteStaticKey: remoteStaticKey,
            expectedPeerID: self.configuration.expectedRemotePeerID
        )
        let localMuxers = self.configuration.muxers.isEmpty ? nil : self.configuration.muxers.map(\.rawValue)
        let earlyMuxer = try NoiseEarlyMuxerSelection.select(initiator: remote.muxers, responder: localMuxers)
        return try Self.complete(&handshake, remote: remote, earlyMuxer: earlyMuxer, remoteStaticKey: remoteStaticKey)
    }

    // MARK: - Helpers

    /// Records the failure and takes back any half-written reply: nothing of a failed step is sent.
    private mutating func failed(_ error: any Error, output: inout ByteBuffer, writtenFrom start: Int) -> NoiseError {
        let error = NoiseError.wrapping(error)
        self.state = .failed(error)
        output.moveWriterIndex(to: start)
        return error
    }

    /// This side's encoded payload: identity key, signature over the static key, muxers.
    private func localPayload() throws -> [UInt8] {
        let signature: [UInt8]
        if let staticKey = self.staticKey {
            signature = staticKey.signature
        } else {
            do {
                signature = try self.configuration.identity.sign(
                    NoiseHandshakePayload.signedMessage(staticKey: self.localStatic.publicKey)
                )
            } catch {
                throw NoiseError.cryptoFailure("signing the Noise static key failed: \(error)")
            }
        }
        return try NoiseHandshakePayload.encoded(
            identityKey: self.configuration.identity.publicKey.protobufEncoded,
            signature: signature,
            muxers: self.configuration.muxers
        )
    }

    private static func checkOutgoing(length: Int) throws {
        guard length <= NoiseConstants.maximumMessageLength else {
            throw NoiseError.messageTooLarge("outgoing handshake message", length: length, limit: NoiseConstants.maximumMessageLength)
        }
    }

    private static func complete(
        _ handshake: inout NoiseXXHandshakeState,
        remote: (publicKey: IdentityPublicKey, peerID: PeerID, muxers: [String]?),
        earlyMuxer: ProtocolID?,
        remoteStaticKey: NoiseBytes32
    ) throws -> NoiseHandshakeCompletion {
        let handshakeHash = handshake.handshakeHash
        let ciphers = try handshake.split()
        let transport: NoiseTransportCipher
        switch handshake.role {
        case .initiator:
            transport = NoiseTransportCipher(sending: ciphers.initiatorToResponder, receiving: ciphers.responderToInitiator)
        case .responder:
            transport = NoiseTransportCipher(sending: ciphers.responderToInitiator, receiving: ciphers.initiatorToResponder)
        }
        let result = NoiseHandshakeResult(
            remotePeerID: remote.peerID,
            remotePublicKey: remote.publicKey,
            earlyMuxer: earlyMuxer,
            usedEarlyNegotiation: earlyMuxer != nil,
            handshakeHash: handshakeHash,
            remoteStaticKey: remoteStaticKey
        )
        return NoiseHandshakeCompletion(result: result, transportCipher: transport)
    }
}
