import NIOCore
import P2PCore

/// The Noise XX pattern (Noise §7.5) over ``NoiseSymmetricState``: the three handshake messages with
/// arbitrary payloads, no framing and no libp2p rules.
///
/// ```
/// XX:
///   -> e
///   <- e, ee, s, es
///   -> s, se
/// ```
///
/// ``NoiseHandshakeStateMachine`` drives it for libp2p; the test vectors drive it directly, with
/// their own prologues, payloads and injected keys. Calling a stage out of order, or for the wrong
/// role, is a programmer error.
struct NoiseXXHandshakeState {
    /// Where the handshake is; each stage moves it on by one.
    private enum Stage {
        case message1
        case message2
        case message3
        case split
    }

    let role: ConnectionRole
    private let crypto: any NoiseCryptoProvider
    private var symmetric: NoiseSymmetricState
    private var stage: Stage
    private let localStatic: NoiseX25519KeyPair
    /// Injected for test vectors; otherwise generated when this side writes its `e`.
    private var localEphemeral: NoiseX25519KeyPair?
    private var remoteEphemeral: NoiseBytes32?
    /// `rs`: set once the peer's static key has been decrypted (message 2 or 3).
    private(set) var remoteStaticKey: NoiseBytes32?

    /// `Initialize(XX, role, prologue, s, e)` (Noise §5.3). XX has no pre-messages.
    init(
        role: ConnectionRole,
        prologue: UnsafeRawBufferPointer,
        localStatic: NoiseX25519KeyPair,
        localEphemeral: NoiseX25519KeyPair? = nil,
        crypto: any NoiseCryptoProvider
    ) {
        self.role = role
        self.crypto = crypto
        self.symmetric = NoiseSymmetricState(protocolName: NoiseConstants.protocolName, crypto: crypto)
        // MixHash(prologue) happens even for an empty prologue (docs/wire.md §4.2).
        self.symmetric.mixHash(prologue)
        self.stage = .message1
        self.localStatic = localStatic
        self.localEphemeral = localEphemeral
    }

    /// `h`, the handshake hash: equal on both sides after the last message (Noise §11.2).
    var handshakeHash: NoiseBytes32 { self.symmetric.handshakeHash }

    // MARK: - Stage 1: -> e

    /// The initiator writes message 1: `e_pub` (32) || payload (in clear: no key yet).
    /// Length: 32 + payload.
    mutating func writeMessage1(payload: UnsafeRawBufferPointer, into output: inout ByteBuffer) throws {
        self.expect(.message1, writer: .initiator)
        let ephemeral = try self.ephemeralKeyPair()
        ephemeral.publicKey.withUnsafeBytes { _ = output.writeBytes($0) }
        self.symmetric.mixHash(ephemeral.publicKey)
        try self.symmetric.encryptAndHash(payload, appendingTo: &output)
        self.stage = .message2
    }

    /// The responder reads message 1 and appends its payload to `payload`.
    /// - Throws: ``NoiseError/Code/truncatedMessage`` below 32 bytes.
    mutating func readMessage1(_ message: UnsafeRawBufferPointer, payload: inout ByteBuffer) throws {
        self.expect(.message1, writer: .initiator)
        guard message.count >= NoiseConstants.dhLength else {
            throw NoiseError.truncatedMessage("handshake message 1", length: message.count, minimum: NoiseConstants.dhLength)
        }
        let remoteEphemeral = NoiseBytes32(copying: message)
        self.remoteEphemeral = remoteEphemeral
        self.symmetric.mixHash(remoteEphemeral)
        try self.decryptAndHash(UnsafeRawBufferPointer(rebasing: message.dropFirst(NoiseConstants.dhLength)), into: &payload)
        self.stage = .message2
    }

    // MARK: - Stage 2: <- e, ee, s, es

    /// The responder writes message 2: `e_pub` (32) || Enc(s_pub) (32 + 16) || Enc(payload)
    /// (payload + 16). Length: 96 + payload.
    mutating func writeMessage2(payload: UnsafeRawBufferPointer, into output: inout ByteBuffer) throws {
        self.expect(.message2, writer: .responder)
        let ephemeral = try self.ephemeralKeyPair()
        let remoteEphemeral = self.required(self.remoteEphemeral, "the initiator's ephemeral key")
        // e
        ephemeral.publicKey.withUnsafeBytes { _ = output.writeBytes($0) }
        self.symmetric.mixHash(ephemeral.publicKey)
        // ee
        try self.symmetric.mixKey(self.dh(ephemeral.privateKey, remoteEphemeral, "initiator's ephemeral key"))
        // s
        try self.localStatic.publicKey.withUnsafeBytes { try self.symmetric.encryptAndHash($0, appendingTo: &output) }
        // es: the responder's static with the initiator's ephemeral.
        try self.symmetric.mixKey(self.dh(self.localStatic.privateKey, remoteEphemeral, "initiator's ephemeral key"))
        try self.symmetric.encryptAndHash(payload, appendingTo: &output)
        self.stage = .message3
    }

    /// The initiator reads message 2 and appends its payload to `payload`. Afterwards
    /// ``remoteStaticKey`` holds the responder's static key, which the payload's signature covers.
    /// - Throws: ``NoiseError/Code/truncatedMessage`` below 96 bytes,
    ///   ``NoiseError/Code/decryptionFailed``, ``NoiseError/Code/lowOrderPublicKey``.
    mutating func readMessage2(_ message: UnsafeRawBufferPointer, payload: inout ByteBuffer) throws {
        self.expect(.message2, writer: .responder)
        let minimum = NoiseConstants.dhLength + (NoiseConstants.dhLength + NoiseConstants.tagLength) + NoiseConstants.tagLength
        guard message.count >= minimum else {
            throw NoiseError.truncatedMessage("handshake message 2", length: message.count, minimum: minimum)
        }
        let ephemeral = self.required(self.localEphemeral, "the local ephemeral key")
        // e
        let remoteEphemeral = NoiseBytes32(copying: message)
        self.remoteEphemeral = remoteEphemeral
        self.symmetric.mixHash(remoteEphemeral)
        // ee
        try self.symmetric.mixKey(self.dh(ephemeral.privateKey, remoteEphemeral, "responder's ephemeral key"))
        // s
        let encryptedStatic = UnsafeRawBufferPointer(rebasing: message[32..<80])
        let remoteStatic = try self.decryptKey(encryptedStatic)
        self.remoteStaticKey = remoteStatic
        // es: the initiator's ephemeral with the responder's static.
        try self.symmetric.mixKey(self.dh(ephemeral.privateKey, remoteStatic, "responder's static key"))
        try self.decryptAndHash(UnsafeRawBufferPointer(rebasing: message[80...]), into: &payload)
        self.stage = .message3
    }

    // MARK: - Stage 3: -> s, se

    /// The initiator writes message 3: Enc(s_pub) (32 + 16) || Enc(payload) (payload + 16).
    /// Length: 64 + payload.
    mutating func writeMessage3(payload: UnsafeRawBufferPointer, into output: inout ByteBuffer) throws {
        self.expect(.message3, writer: .initiator)
        // s
        try self.localStatic.publicKey.withUnsafeBytes { try self.symmetric.encryptAndHash($0, appendingTo: &output) }
        // se: the initiator's static with the responder's ephemeral.
        let remoteEphemeral = self.required(self.remoteEphemeral, "the responder's ephemeral key")
        try self.symmetric.mixKey(self.dh(self.localStatic.privateKey, remoteEphemeral, "responder's ephemeral key"))
        try self.symmetric.encryptAndHash(payload, appendingTo: &output)
        self.stage = .split
    }

    /// The responder reads message 3 and appends its payload to `payload`. Afterwards
    /// ``remoteStaticKey`` holds the initiator's static key.
    /// - Throws: ``NoiseError/Code/truncatedMessage`` below 64 bytes,
    ///   ``NoiseError/Code/decryptionFailed``, ``NoiseError/Code/lowOrderPublicKey``.
    mutating func readMessage3(_ message: UnsafeRawBufferPointer, payload: inout ByteBuffer) throws {
        self.expect(.message3, writer: .initiator)
        let minimum = (NoiseConstants.dhLength + NoiseConstants.tagLength) + NoiseConstants.tagLength
        guard message.count >= minimum else {
            throw NoiseError.truncatedMessage("handshake message 3", length: message.count, minimum: minimum)
        }
        // s
        let remoteStatic = try self.decryptKey(UnsafeRawBufferPointer(rebasing: message[0..<48]))
        self.remoteStaticKey = remoteStatic
        // se: the responder's ephemeral with the initiator's static.
        let ephemeral = self.required(self.localEphemeral, "the local ephemeral key")
        try self.symmetric.mixKey(self.dh(ephemeral.privateKey, remoteStatic, "initiator's static key"))
        try self.decryptAndHash(UnsafeRawBufferPointer(rebasing: message[48...]), into: &payload)
        self.stage = .split
    }

    // MARK: - Split

    /// The two transport CipherStates, after message 3 (Noise §5.2 `Split`).
    mutating func split() throws -> (initiatorToResponder: NoiseCipherState, responderToInitiator: NoiseCipherState) {
        guard case .split = self.stage else { preconditionFailure("NoiseXXHandshakeState.split before message 3") }
        return try self.symmetric.split()
    }

    // MARK: - Helpers

    private func expect(_ stage: Stage, writer: ConnectionRole) {
        // Only the writer writes and only the reader reads; which one is checked by the caller.
        switch (self.stage, stage) {
        case (.message1, .message1), (.message2, .message2), (.message3, .message3):
            return
        case (.message1, _), (.message2, _), (.message3, _), (.split, _):
            preconditionFailure("Noise XX: \(stage) called at stage \(self.stage) (role \(self.role), writer \(writer))")
        }
    }

    /// A key an earlier stage set; its absence means the stages ran out of order (a programmer error,
    /// which ``expect(_:writer:)`` already rules out).
    private func required<Value>(_ value: Value?, _ what: String) -> Value {
        guard let value else { preconditionFailure("Noise XX: \(what) is missing at stage \(self.stage)") }
        return value
    }

    private mutating func ephemeralKeyPair() throws -> NoiseX25519KeyPair {
        if let ephemeral = self.localEphemeral { return ephemeral }
        let ephemeral = try self.crypto.generateX25519KeyPair()
        self.localEphemeral = ephemeral
        return ephemeral
    }

    private func dh(_ privateKey: NoiseBytes32, _ publicKey: NoiseBytes32, _ what: String) throws -> NoiseBytes32 {
        do {
            return try self.crypto.x25519(privateKey: privateKey, publicKey: publicKey)
        } catch let error as NoiseError where error.code == .lowOrderPublicKey {
            throw NoiseError.lowOrderPublicKey(what)
        }
    }

    /// DecryptAndHash of a 48-byte encrypted static key.
    private mutating func decryptKey(_ ciphertext: UnsafeRawBufferPointer) throws -> NoiseBytes32 {
        var key = NoiseBytes32()
        _ = try key.withUnsafeMutableBytes { try self.symmetric.decryptAndHash(ciphertext, into: $0) }
        return key
    }

    private mutating func decryptAndHash(_ ciphertext: UnsafeRawBufferPointer, into payload: inout ByteBuffer) throws {
        let length = self.symmetric.hasKey ? ciphertext.count - NoiseConstants.tagLength : ciphertext.count
        guard length >= 0 else {
            throw NoiseError.truncatedMessage("encrypted payload", length: ciphertext.count, minimum: NoiseConstants.tagLength)
        }
        try payload.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { destination in
            try self.symmetric.decryptAndHash(ciphertext, into: UnsafeMutableRawBufferPointer(rebasing: destination.prefix(length)))
        }
    }
}
