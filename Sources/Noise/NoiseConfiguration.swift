import P2PCore

/// How one side runs libp2p Noise: its identity, what it expects of the peer, its muxers.
public struct NoiseConfiguration: Sendable {
    /// The identity key that signs this side's static key; the peer derives this side's peer ID from it.
    public var identity: IdentityPrivateKey

    /// The peer ID the remote must prove. A dialer always knows it; a handshake that authenticates
    /// any other peer fails with ``NoiseError/Code/peerIDMismatch`` before this side sends anything
    /// more. `nil` accepts any peer (a listener).
    public var expectedRemotePeerID: PeerID?

    /// This side's muxers in preference order, sent in the handshake for early muxer negotiation
    /// (docs/wire.md §6.2). Empty means classic mode: no `extensions` field is sent at all, and the
    /// result never names a muxer, so the upgrader runs multistream-select inside the channel.
    public var muxers: [ProtocolID]

    /// Where the X25519 static key comes from.
    public var staticKey: NoiseStaticKeyMode

    /// The crypto primitives.
    public var cryptoProvider: any NoiseCryptoProvider

    /// A configuration; the defaults are a per-connection static key (as go-libp2p does), no early
    /// negotiation, any peer, and the fastest primitives on this machine.
    public init(
        identity: IdentityPrivateKey,
        expectedRemotePeerID: PeerID? = nil,
        muxers: [ProtocolID] = [],
        staticKey: NoiseStaticKeyMode = .perConnection,
        cryptoProvider: any NoiseCryptoProvider = NoiseDefaultCryptoProvider()
    ) {
        self.identity = identity
        self.expectedRemotePeerID = expectedRemotePeerID
        self.muxers = muxers
        self.staticKey = staticKey
        self.cryptoProvider = cryptoProvider
    }
}

/// Where a handshake's X25519 static key comes from (docs/wire.md §4.1: separate from the identity
/// key, never stored on disk, "may be per-connection").
public enum NoiseStaticKeyMode: Sendable {
    /// A fresh key pair and a fresh identity signature for each connection, as go-libp2p does:
    /// one X25519 key generation and one signature per handshake.
    case perConnection
    /// One key pair and signature for many connections: saves the key generation and the signature
    /// on every handshake (the 361 µs floor of docs/machine.md assumes this).
    case reused(NoiseSignedStaticKey)
}

/// An X25519 static key with its identity signature, made once and reused across handshakes.
public struct NoiseSignedStaticKey: Sendable {
    /// The static key pair.
    public let keyPair: NoiseX25519KeyPair
    /// The identity that signed it.
    public let identityPublicKey: IdentityPublicKey
    /// `Sign(identity, "noise-libp2p-static-key:" || keyPair.publicKey)`.
    public let signature: [UInt8]

    /// A fresh static key signed by `identity`.
    /// - Throws: ``NoiseError/Code/cryptoFailure`` when key generation or signing fails.
    public init(identity: IdentityPrivateKey, cryptoProvider: any NoiseCryptoProvider = NoiseDefaultCryptoProvider()) throws {
        try self.init(identity: identity, keyPair: cryptoProvider.generateX25519KeyPair())
    }

    /// `keyPair` signed by `identity` (tests inject fixed keys this way).
    public init(identity: IdentityPrivateKey, keyPair: NoiseX25519KeyPair) throws {
        self.keyPair = keyPair
        self.identityPublicKey = identity.publicKey
        do {
            self.signature = try identity.sign(NoiseHandshakePayload.signedMessage(staticKey: keyPair.publicKey))
        } catch {
            throw NoiseError.cryptoFailure("signing the Noise static key failed: \(error)")
        }
    }
}
