import Multistream
import NIOCore
import NIOPosix
import P2PCore
import TestSupport
import Testing
import Upgrader

/// Streams on a live upgraded connection over loopback TCP: what a listener serves besides the
/// first echo. Peers open `/ipfs/id/1.0.0` at once (go does); the listener must refuse it with
/// `na` and keep the connection, and `/ipfs/ping/1.0.0` must echo the ping spec's 32 bytes.
@Suite(.timeLimit(.minutes(1))) struct UpgradedStreamTests {
    static let group = MultiThreadedEventLoopGroup.singleton
    /// How long one stream exchange may take before the test gives up on it: loopback needs
    /// milliseconds; this only stops a lost reply from hanging the test.
    static let streamTimeout: TimeAmount = .seconds(10)
    static let identify: ProtocolID = "/ipfs/id/1.0.0"

    @Test(arguments: MultistreamMode.allCases)
    func unsupportedProtocolIsRefusedAndTheConnectionStaysUsable(multistream: MultistreamMode) async throws {
        try await Self.withConnection(multistream: multistream) { connection, served in
            let eventLoop = connection.channel.eventLoop
            let refusal = eventLoop.makePromise(of: (any Error).self)
            let timeout = eventLoop.scheduleTask(in: Self.streamTimeout) { refusal.fail(StreamTimedOut()) }
            defer { timeout.cancel() }
            let stream = try await connection.openStream(
                protocol: Self.identify,
                install: { _ in
                    // Strictly nothing may be installed for a refused protocol; lazily the dialer
                    // goes ahead before the answer, as rust's V1Lazy does.
                    if multistream == .strict { Issue.record("a refused protocol was installed") }
                },
                negotiationFailed: { refusal.succeed($0) }
            ).get()
            let error = try await refusal.futureResult.get()

            // The refusal is multistream's, typed, and names the protocol.
            let multistreamError = try #require(error as? MultistreamError, "\(error)")
            switch multistream {
            case .strict: #expect(multistreamError.code == .noProtocolSupported, "\(error)")
            case .lazy: #expect(multistreamError.code == .protocolRejected, "\(error)")
            }
            #expect(multistreamError.protocols == [Self.identify], "\(error)")

            // Only the stream is gone: the connection and its session carry on.
            try await stream.closeFuture.get()
            #expect(connection.channel.isActive)
            #expect(try await connection.streamsLeft() == 0)
            #expect(try await served.streamsLeft() == 0)
            let payload = ByteBuffer(string: "after the refusal")
            _ = try await connection.echo(payload: payload, timeout: Self.streamTimeout).get()
            #expect(try await connection.streamsLeft() == 0)
        }
    }

    @Test(arguments: MultistreamMode.allCases)
    func pingEchoesThirtyTwoBytes(multistream: MultistreamMode) async throws {
        try await Self.withConnection(multistream: multistream) { connection, served in
            let eventLoop = connection.channel.eventLoop
            var generator = SplitMix64(seed: 32)
            let payload = ByteBuffer(bytes: (0..<PingServerHandler.payloadLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let client = EchoClientHandler(payload: payload, eventLoop: eventLoop)
            let timeout = eventLoop.scheduleTask(in: Self.streamTimeout) { client.streamFailed(StreamTimedOut()) }
            defer { timeout.cancel() }
            let stream = try await connection.openStream(
                protocol: .ping,
                install: { try $0.pipeline.syncOperations.addHandler(client) },
                negotiationFailed: { client.streamFailed($0) }
            ).get()
            // EchoClientHandler checks byte for byte and fails on anything else or on a close.
            try await client.response.get()
            try await stream.close()
            #expect(try await connection.streamsLeft() == 0)
            #expect(try await served.streamsLeft() == 0)
        }
    }

    // MARK: - Helpers

    /// A stream exchange that got no answer within ``streamTimeout``.
    struct StreamTimedOut: Error {}

    /// Upgrades one loopback connection (Noise, early, the dialer in `multistream` mode), runs
    /// `body` with both ends, then closes everything.
    static func withConnection(
        multistream: MultistreamMode,
        _ body: (_ dialer: UpgradedConnection, _ listener: UpgradedConnection) async throws -> Void
    ) async throws {
        let listenerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519()))
        let dialerHost = try UpgradeHost(
            configuration: UpgradeConfiguration(identity: .generateEd25519(), multistream: multistream)
        )
        let inbound = InboundUpgrades()
        let listener = try await listenerHost.listen(host: "127.0.0.1", port: 0, group: Self.group, onUpgrade: inbound.onUpgrade)
        do {
            let connection = try await dialerHost.dial(
                host: "127.0.0.1", port: listener.port, expectedPeer: listenerHost.peerID, group: Self.group
            )
            do {
                let served = try #require(await inbound.next()?.success, "the listener's side of the upgrade")
                try await body(connection, served)
            } catch {
                try? await connection.close().get()
                throw error
            }
            try await connection.close().get()
        } catch {
            try? await listener.close()
            throw error
        }
        try await listener.close()
    }
}
