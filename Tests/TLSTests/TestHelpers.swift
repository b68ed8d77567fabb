import NIOCore
import P2PCore
import TestSupport
@testable import TLS

/// Shared set-up for the TLS tests: deterministic identities and back-to-back connection pumping.
enum TLSTestSupport {
    /// A fixed "now" well inside every generated certificate's validity (2026-01-01T00:00:00Z).
    static let now: Int64 = 1_767_225_600

    /// A deterministic Ed25519 identity; different `index` values give different peers.
    static func identity(_ index: UInt8) throws -> IdentityPrivateKey {
        try IdentityPrivateKey(ed25519Seed: [UInt8](repeating: index, count: 32))
    }

    /// The identities of `libp2p_peer_id_keys.json`'s private keys (ECDSA, Ed25519, secp256k1, RSA).
    static func vectorIdentities() throws -> [IdentityPrivateKey] {
        struct VectorFile: Decodable {
            struct Key: Decodable {
                let kind: String
                let protobuf_hex: String
            }
            let keys: [Key]
        }
        return try Fixtures.decode(VectorFile.self, from: "libp2p_peer_id_keys.json").keys
            .filter { $0.kind == "private" }
            .map { try IdentityPrivateKey(protobufEncoded: [UInt8](hex: $0.protobuf_hex)) }
    }

    static func context(
        _ index: UInt8,
        muxers: [ProtocolID] = [],
        mode: TLSCertificateMode = .perConnection,
        keyType: TLSCertificateKeyType = .p256,
        tickets: Int = 0,
        protection: TLSRecordProtection = .direct
    ) throws -> TLSContext {
        var configuration = TLSConfiguration(
            identityKey: try identity(index),
            muxers: muxers,
            certificateMode: mode,
            certificateKeyType: keyType
        )
        configuration.sessionTicketsToSend = tickets
        configuration.recordProtection = protection
        return try TLSContext(configuration: configuration, now: now)
    }

    /// Moves every pending byte from `from` to `to`, all at once or one byte at a time.
    static func transfer(from: TLSConnection, to: TLSConnection, oneByteAtATime: Bool = false) -> Int {
        var bytes = ByteBufferAllocator().buffer(capacity: 0)
        from.drainBytesToSend(into: &bytes)
        let count = bytes.readableBytes
        if oneByteAtATime {
            while let byte = bytes.readSlice(length: 1) { to.receivedBytes(byte) }
        } else {
            to.receivedBytes(bytes)
        }
        return count
    }

    /// Runs both handshakes to completion (or the first error), returning both results.
    static func handshake(
        client: TLSConnection,
        server: TLSConnection,
        oneByteAtATime: Bool = false,
        now: Int64 = TLSTestSupport.now
    ) throws -> (client: TLSHandshakeResult, server: TLSHandshakeResult) {
        var clientResult: TLSHandshakeResult? = nil
        var serverResult: TLSHandshakeResult? = nil
        for _ in 0..<100_000 {
            if clientResult == nil, case .completed(let result) = try client.advanceHandshake(now: now) {
                clientResult = result
            }
            let sentByClient = transfer(from: client, to: server, oneByteAtATime: oneByteAtATime)
            if serverResult == nil, case .completed(let result) = try server.advanceHandshake(now: now) {
                serverResult = result
            }
            let sentByServer = transfer(from: server, to: client, oneByteAtATime: oneByteAtATime)
            if let clientResult, let serverResult { return (clientResult, serverResult) }
            if sentByClient == 0, sentByServer == 0, !oneByteAtATime {
                throw TestSupportError("handshake stalled")
            }
        }
        throw TestSupportError("handshake did not finish")
    }

    /// Decrypts everything `connection` has buffered.
    static func decryptAll(_ connection: TLSConnection) throws -> [UInt8] {
        var plaintext = ByteBufferAllocator().buffer(capacity: 0)
        while case .bytesRead = try connection.decrypt(into: &plaintext) {}
        return Array(plaintext.readableBytesView)
    }
}
