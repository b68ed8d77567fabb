import NIOCore
import NIOPosix
import P2PCore
import Testing
import Upgrader

/// Real upgrades over loopback TCP: every combination of the knobs, the path each one really
/// takes, and the first echo stream.
@Suite(.serialized) struct UpgradeTCPTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    struct Knobs: CustomTestStringConvertible, Sendable {
        let security: UpgradeSecurity
        let dialerNegotiation: UpgradeNegotiation
        let listenerNegotiation: UpgradeNegotiation
        let multistream: MultistreamMode
        var testDescription: String {
            "\(security) dialer:\(dialerNegotiation) listener:\(listenerNegotiation) \(multistream)"
        }
    }

    static let allKnobs: [Knobs] = UpgradeSecurity.allCases.flatMap { security in
        UpgradeNegotiation.allCases.flatMap { dialer in
            UpgradeNegotiation.allCases.flatMap { listener in
                MultistreamMode.allCases.map { Knobs(security: security, dialerNegotiation: dialer, listenerNegotiation: listener, multistream: $0) }
            }
        }
    }

    @Test(arguments: allKnobs)
    func upgradeTakesThePathTheKnobsSay(knobs: Knobs) async throws {
        let listenerHost = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(), security: [.noise, .tls], negotiation: knobs.listenerNegotiation
            )
        )
        let dialerHost = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(), security: [knobs.security], negotiation: knobs.dialerNegotiation,
                multistream: knobs.multistream
            )
        )
        let listener = try await listenerHost.listen(host: "127.0.0.1", port: 0, group: Self.group)
        let connection = try await dialerHost.dial(
            host: "127.0.0.1", port: listener.port, expectedPeer: listenerHost.peerID, group: Self.group
        )
        let echoedAt = try await connection.echo(payload: ByteBuffer(string: "hello, listener")).get()

        let outcome = connection.outcome
        #expect(outcome.secureChannel.security == knobs.security)
        #expect(outcome.secureChannel.remotePeerID == listenerHost.peerID)
        #expect(outcome.muxer == .yamux)
        // Early negotiation happens only when both sides offer a list.
        let bothEarly = knobs.dialerNegotiation == .early && knobs.listenerNegotiation == .early
        #expect(outcome.usedEarlyNegotiation == bothEarly)
        let timeline = outcome.timeline
        let milestones = UpgradeMilestone.allCases.dropLast().compactMap { timeline[$0] }
        #expect(milestones.count == 4)
        #expect(milestones == milestones.sorted())
        #expect(echoedAt >= (timeline[.muxerReady] ?? echoedAt))

        try await connection.close().get()
        try await listener.close()
    }

    @Test func wrongExpectedPeerFailsTheHandshakeStage() async throws {
        for security in UpgradeSecurity.allCases {
            let listenerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [security]))
            let dialerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [security]))
            let listener = try await listenerHost.listen(host: "127.0.0.1", port: 0, group: Self.group)
            let impostor = IdentityPrivateKey.generateEd25519().peerID
            let error = await #expect(throws: UpgradeError.self) {
                _ = try await dialerHost.dial(host: "127.0.0.1", port: listener.port, expectedPeer: impostor, group: Self.group)
            }
            #expect(error?.stage == .secureHandshake, "\(security)")
            try await listener.close()
        }
    }

    @Test func noCommonSecurityProtocolFailsSecurityNegotiation() async throws {
        let listenerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [.tls]))
        let dialerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [.noise]))
        let listener = try await listenerHost.listen(host: "127.0.0.1", port: 0, group: Self.group)
        let error = await #expect(throws: UpgradeError.self) {
            _ = try await dialerHost.dial(host: "127.0.0.1", port: listener.port, expectedPeer: nil, group: Self.group)
        }
        #expect(error?.stage == .securityNegotiation)
        try await listener.close()
    }

    @Test func refusedConnectionFailsTCPConnect() async throws {
        let dialerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519()))
        // Bind and close to find a port nobody listens on.
        let probe = try await ServerBootstrap(group: Self.group).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress?.port ?? 1
        try await probe.close()
        let error = await #expect(throws: UpgradeError.self) {
            _ = try await dialerHost.dial(host: "127.0.0.1", port: port, expectedPeer: nil, group: Self.group)
        }
        #expect(error?.stage == .tcpConnect)
    }
}
