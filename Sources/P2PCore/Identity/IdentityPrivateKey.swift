/// A libp2p identity private key: what signs the Noise static key and the TLS certificate key.
///
/// Ed25519 keys are the default and are created and used through libsodium. Keys of the other
/// types can be loaded from their `PrivateKey` protobuf (peer-ids spec), mainly so tests and users
/// can run peers with those identities.
public struct IdentityPrivateKey: Sendable {
    private enum Storage: Sendable {
        /// libsodium's 64-byte secret key (seed ‖ public key).
        case ed25519(secretKey: [UInt8])
        case openSSL(OpenSSLKey)
    }

    private let storage: Storage
    /// The matching public key.
    public let publicKey: IdentityPublicKey

    /// A new random Ed25519 identity.
    public static func generateEd25519() -> IdentityPrivateKey {
        // A 32-byte seed of the right length cannot fail to produce a key pair.
        do {
            return try IdentityPrivateKey(ed25519Seed: Ed25519.randomSeed())
        } catch {
            preconditionFailure("Ed25519 key generation failed: \(error)")
        }
    }

    /// The Ed25519 identity for a 32-byte seed: deterministic keys for tests and `--key-seed`.
    public init(ed25519Seed seed: some Collection<UInt8>) throws {
        let (publicKey, secretKey) = try Ed25519.keyPair(seed: Array(seed))
        self.storage = .ed25519(secretKey: secretKey)
        self.publicKey = try IdentityPublicKey(keyType: .ed25519, rawData: publicKey)
    }

    /// Decodes a `PrivateKey` protobuf of any of the four types.
    ///
    /// `Data` is, per type (peer-ids spec and docs/wire.md §3): Ed25519, seed ‖ public key (64 bytes;
    /// the old 96-byte form repeats the public key, and both copies must agree); secp256k1, the
    /// 32-byte scalar; ECDSA, SEC1 `ECPrivateKey` DER; RSA, PKCS#1 DER.
    public init(protobufEncoded bytes: some Collection<UInt8>) throws {
        let (keyType, data) = try KeyProtobuf.decode(bytes, what: "PrivateKey")
        switch keyType {
        case .ed25519:
            guard data.count == 64 || data.count == 96 else {
                throw P2PCoreError.malformedKey("Ed25519 private key must be 64 (or legacy 96) bytes, got \(data.count)")
            }
            let seed = Array(data[0..<32])
            let embedded = Array(data[32..<64])
            if data.count == 96 && Array(data[64..<96]) != embedded {
                throw P2PCoreError.malformedKey("legacy 96-byte Ed25519 key has two different public keys")
            }
            self = try IdentityPrivateKey(ed25519Seed: seed)
            guard self.publicKey.rawData == embedded else {
                throw P2PCoreError.malformedKey("Ed25519 private key's public half does not match its seed")
            }
        case .secp256k1:
            let key = try Secp256k1.privateKey(scalar: data)
            self.storage = .openSSL(key)
            self.publicKey = try IdentityPublicKey(keyType: .secp256k1, rawData: Secp256k1.compressedPoint(of: key))
        case .ecdsa:
            guard let key = OpenSSLKey.privateKey(der: data, type: EVPKeyKind.ec) else {
                throw P2PCoreError.malformedKey("ECDSA private key is not SEC1 ECPrivateKey DER")
            }
            self.storage = .openSSL(key)
            self.publicKey = try IdentityPublicKey(keyType: .ecdsa, rawData: key.subjectPublicKeyInfo())
        case .rsa:
            guard let key = OpenSSLKey.privateKey(der: data, type: EVPKeyKind.rsa) else {
                throw P2PCoreError.malformedKey("RSA private key is not PKCS#1 DER")
            }
            self.storage = .openSSL(key)
            self.publicKey = try IdentityPublicKey(keyType: .rsa, rawData: key.subjectPublicKeyInfo())
        }
    }

    /// The key type.
    public var keyType: IdentityKeyType { self.publicKey.keyType }

    /// The peer ID of this identity.
    public var peerID: PeerID { self.publicKey.peerID }

    /// Signs `message` under the key type's scheme (see ``IdentityPublicKey``).
    public func sign(_ message: some Collection<UInt8>) throws -> [UInt8] {
        switch self.storage {
        case .ed25519(let secretKey):
            return try Ed25519.sign(message, secretKey: secretKey)
        case .openSSL(let key):
            return try key.signSHA256(message)
        }
    }
}
