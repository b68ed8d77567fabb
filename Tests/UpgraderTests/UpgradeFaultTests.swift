import Multistream
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Noise
import P2PCore
import TLS
import TestSupport
import Testing
import Upgrader

/// Hostile and broken peers, in both directions, for Noise and TLS: a raw NIO peer closes
/// mid-handshake, stalls, refuses every protocol, sends garbage, or is not the peer expected.
///
/// Every case checks that
/// - the upgrade fails with the stage that was under way and the reason (a timeout only for a
///   stall, and only once the upgrade timeout passed);
/// - our side closes the connection;
/// - the host keeps working: a good dial right after the fault upgrades and echoes;
/// - nothing leaks: no socket of this process stays on the test's port, no yamux stream stays
///   open, and the process's descriptor count returns to where it was (with slack for NIO's own
///   descriptors and for suites running in parallel).
extension UpgradeSocketTests {
    @Suite struct UpgradeFaultTests {
        static let group = MultiThreadedEventLoopGroup.singleton
        /// Short, so that stalls fail fast; loopback upgrades need a few milliseconds.
        static let upgradeTimeout: TimeAmount = .milliseconds(300)
        /// How much later than the upgrade timeout a stall may be reported: timer overshoot and a
        /// busy shared machine, not a bound on anything the upgrader promises.
        static let timeoutSlack: Duration = .seconds(2)
        static let descriptorSlack = 16

        // MARK: - A hostile dialer against our listener

        @Test(arguments: UpgradeSecurity.allCases)
        func dialerClosesMidHandshake(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                let sawClose = try await listener.hostileDial { peer in
                    try await peer.agreeOnSecurity(security)
                    // Half a handshake message: Noise's 2-byte length prefix cut short; a TLS
                    // record header with no body.
                    try await peer.send(security == .noise ? ByteBuffer(bytes: [0x00]) : ByteBuffer(bytes: [0x16, 0x03, 0x01]))
                    return false  // close now
                }
                #expect(!sawClose)
                let error = try await listener.nextFailure()
                #expect(error.stage == .secureHandshake, "\(error)")
                #expect(error.isConnectionClosed, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func dialerStallsBeforeNegotiating(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                let started = ContinuousClock.now
                let sawClose = try await listener.hostileDial { peer in
                    let received = try await peer.readMultistreamMessage()
                    #expect(received == .header)
                    return await peer.drainUntilClosed()
                }
                #expect(sawClose, "the listener closes a stalled connection")
                let error = try await listener.nextFailure()
                #expect(error.stage == .securityNegotiation, "\(error)")
                Self.expectTimedOut(error, since: started)
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func dialerStallsMidHandshake(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                let started = ContinuousClock.now
                let sawClose = try await listener.hostileDial { peer in
                    try await peer.agreeOnSecurity(security)
                    return await peer.drainUntilClosed()
                }
                #expect(sawClose)
                let error = try await listener.nextFailure()
                #expect(error.stage == .secureHandshake, "\(error)")
                Self.expectTimedOut(error, since: started)
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func dialerProposesOnlyUnsupportedProtocols(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                let sawClose = try await listener.hostileDial { peer in
                    let received = try await peer.readMultistreamMessage()
                    #expect(received == .header)
                    try await peer.send(.header)
                    // Each proposal is refused; the listener gives up after its bound.
                    var refusals = 0
                    for index in 0..<(MultistreamListenerStateMachine.defaultMaximumProposals + 1) {
                        try await peer.send(.protocol(ProtocolID("/unsupported/\(index)")))
                        guard let answer = try await peer.readMultistreamMessage() else { break }
                        #expect(answer == .na)
                        refusals += 1
                    }
                    #expect(refusals == MultistreamListenerStateMachine.defaultMaximumProposals)
                    return await peer.drainUntilClosed()
                }
                #expect(sawClose)
                let error = try await listener.nextFailure()
                #expect(error.stage == .securityNegotiation, "\(error)")
                #expect((error.underlying as? MultistreamError)?.code == .tooManyProposals, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func dialerSendsRandomBytes(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                let sawClose = try await listener.hostileDial { peer in
                    // More than the longest multistream message, so whatever length the first
                    // bytes claim, the message is complete and judged at once.
                    try await peer.send(SplitMix64.bytes(2 * MultistreamFrameDecoder.maximumMessageLength, seed: 1))
                    return await peer.drainUntilClosed()
                }
                #expect(sawClose)
                let error = try await listener.nextFailure()
                #expect(error.stage == .securityNegotiation, "\(error)")
                // This seed's first bytes claim a message far above the 1024-byte limit.
                #expect((error.underlying as? MultistreamError)?.code == .messageTooLong, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func dialerSendsHTTPRequest(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                let sawClose = try await listener.hostileDial { peer in
                    try await peer.send(raw: Self.httpRequest)
                    return await peer.drainUntilClosed()
                }
                #expect(sawClose)
                let error = try await listener.nextFailure()
                #expect(error.stage == .securityNegotiation, "\(error)")
                // "G" reads as a 71-byte message, whose last byte is not a newline.
                #expect((error.underlying as? MultistreamError)?.code == .missingNewline, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func dialerSendsGarbageHandshake(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                let sawClose = try await listener.hostileDial { peer in
                    try await peer.agreeOnSecurity(security)
                    switch security {
                    case .noise:
                        // A whole Noise frame of 5 bytes: too short for message 1's ephemeral key.
                        try await peer.send(ByteBuffer(bytes: [0x00, 0x05, 1, 2, 3, 4, 5]))
                    case .tls:
                        // Not a TLS record at all.
                        try await peer.send(raw: Self.httpRequest)
                    }
                    return await peer.drainUntilClosed()
                }
                #expect(sawClose)
                let error = try await listener.nextFailure()
                #expect(error.stage == .secureHandshake, "\(error)")
                switch security {
                case .noise: #expect((error.underlying as? NoiseError)?.code == .truncatedMessage, "\(error)")
                case .tls: #expect((error.underlying as? TLSError)?.code == .handshakeFailed, "\(error)")
                }
            }
        }

        // MARK: - A hostile listener against our dialer

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerClosesMidHandshake(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security) { dialer in
                let error = try await dialer.dialHostile { peer in
                    try await peer.acceptSecurity(security)
                    // The first handshake bytes arrive; hang up on them.
                    _ = try await peer.readBytes(atLeast: 1)
                }
                #expect(error.stage == .secureHandshake, "\(error)")
                #expect(error.isConnectionClosed, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerStallsBeforeNegotiating(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security) { dialer in
                let (error, elapsed) = try await dialer.dialHostileTimed { peer in
                    // Accept, read what comes, never answer.
                    await peer.drainUntilClosed()
                }
                #expect(error.stage == .securityNegotiation, "\(error)")
                Self.expectTimedOut(error, after: elapsed)
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerStallsMidHandshake(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security) { dialer in
                let (error, elapsed) = try await dialer.dialHostileTimed { peer in
                    try await peer.acceptSecurity(security)
                    await peer.drainUntilClosed()
                }
                #expect(error.stage == .secureHandshake, "\(error)")
                Self.expectTimedOut(error, after: elapsed)
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerRefusesEveryProtocol(security: UpgradeSecurity) async throws {
            let offered = [security] + UpgradeSecurity.allCases.filter { $0 != security }
            try await DialerUnderAttack.run(security: security, offering: offered) { dialer in
                let error = try await dialer.dialHostile { peer in
                    try await peer.send(.header)
                    let received = try await peer.readMultistreamMessage()
                    #expect(received == .header)
                    while let proposal = try await peer.readMultistreamMessage() {
                        guard case .protocol = proposal else { break }
                        try await peer.send(.na)
                    }
                }
                #expect(error.stage == .securityNegotiation, "\(error)")
                #expect((error.underlying as? MultistreamError)?.code == .noProtocolSupported, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerRefusesLazyProposal(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security, multistream: .lazy) { dialer in
                let error = try await dialer.dialHostile { peer in
                    try await peer.send(.header)
                    let header = try await peer.readMultistreamMessage()
                    #expect(header == .header)
                    let proposal = try await peer.readMultistreamMessage()
                    #expect(proposal == .protocol(security.protocolID))
                    // The handshake's first bytes came with the proposal; refuse anyway.
                    try await peer.send(.na)
                    await peer.drainUntilClosed()
                }
                // The lazy dialer went on with the handshake, but the failure is the negotiation's.
                #expect(error.stage == .securityNegotiation, "\(error)")
                #expect((error.underlying as? MultistreamError)?.code == .protocolRejected, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerRefusesEveryMuxer(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security, negotiation: .classic) { dialer in
                // A real listener whose only muxer is one the dialer does not offer.
                let mplexOnly = try UpgradeHost(
                    configuration: UpgradeConfiguration(
                        identity: .generateEd25519(), security: [security], negotiation: .classic,
                        muxers: [.mplex], upgradeTimeout: UpgradeFaultTests.upgradeTimeout
                    )
                )
                let inbound = InboundUpgrades()
                let listener = try await mplexOnly.listen(
                    host: "127.0.0.1", port: 0, group: UpgradeFaultTests.group, onUpgrade: inbound.onUpgrade
                )
                let error = await #expect(throws: UpgradeError.self) {
                    _ = try await dialer.host.dial(
                        host: "127.0.0.1", port: listener.port, expectedPeer: mplexOnly.peerID, group: UpgradeFaultTests.group
                    )
                }
                #expect(error?.stage == .muxerNegotiation, "\(String(describing: error))")
                #expect((error?.underlying as? MultistreamError)?.code == .noProtocolSupported, "\(String(describing: error))")
                let listenerSide = await inbound.next()?.failure as? UpgradeError
                #expect(listenerSide?.stage == .muxerNegotiation, "\(String(describing: listenerSide))")
                #expect(listenerSide?.isConnectionClosed == true, "\(String(describing: listenerSide))")
                try await listener.close()
                #expect(await DescriptorInventory.connectionsLeft(port: listener.port).isEmpty)
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerSendsRandomBytes(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security) { dialer in
                let error = try await dialer.dialHostile { peer in
                    try await peer.send(SplitMix64.bytes(2 * MultistreamFrameDecoder.maximumMessageLength, seed: 2))
                    await peer.drainUntilClosed()
                }
                #expect(error.stage == .securityNegotiation, "\(error)")
                #expect((error.underlying as? MultistreamError)?.code == .messageTooLong, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerSendsHTTPResponse(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security) { dialer in
                let error = try await dialer.dialHostile { peer in
                    try await peer.send(raw: Self.httpResponse)
                    await peer.drainUntilClosed()
                }
                #expect(error.stage == .securityNegotiation, "\(error)")
                // "H" reads as a 72-byte message, whose last byte is not a newline.
                #expect((error.underlying as? MultistreamError)?.code == .missingNewline, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerSendsGarbageHandshake(security: UpgradeSecurity) async throws {
            try await DialerUnderAttack.run(security: security) { dialer in
                let error = try await dialer.dialHostile { peer in
                    try await peer.acceptSecurity(security)
                    // The dialer's first handshake message (Noise message 1, the TLS ClientHello)
                    // arrives; answer it with garbage.
                    _ = try await peer.readBytes(atLeast: 1)
                    switch security {
                    case .noise:
                        // A whole Noise frame of 5 bytes: too short for message 2's ephemeral key.
                        try await peer.send(ByteBuffer(bytes: [0x00, 0x05, 1, 2, 3, 4, 5]))
                    case .tls:
                        // Not a TLS record at all.
                        try await peer.send(raw: Self.httpResponse)
                    }
                    await peer.drainUntilClosed()
                }
                #expect(error.stage == .secureHandshake, "\(error)")
                // The garbage ends the upgrade, well within the timeout (which would say timedOut).
                switch security {
                case .noise: #expect((error.underlying as? NoiseError)?.code == .truncatedMessage, "\(error)")
                case .tls: #expect((error.underlying as? TLSError)?.code == .handshakeFailed, "\(error)")
                }
                // The stages before the handshake stay in the error.
                #expect(error.security == security, "\(error)")
                #expect(error.timeline?[.securityAgreed] != nil, "\(error)")
                #expect(error.timeline?[.handshakeDone] == nil, "\(error)")
            }
        }

        @Test(arguments: UpgradeSecurity.allCases)
        func listenerPresentsWrongPeerID(security: UpgradeSecurity) async throws {
            try await ListenerUnderAttack.run(security: security) { listener in
                // The listener is a real host, but not the one the dialer means to reach.
                let expected = IdentityPrivateKey.generateEd25519().peerID
                let error = await #expect(throws: UpgradeError.self) {
                    _ = try await listener.dialerHost.dial(
                        host: "127.0.0.1", port: listener.port, expectedPeer: expected, group: UpgradeFaultTests.group
                    )
                }
                #expect(error?.stage == .secureHandshake, "\(String(describing: error))")
                switch security {
                case .noise: #expect((error?.underlying as? NoiseError)?.code == .peerIDMismatch, "\(String(describing: error))")
                case .tls: #expect((error?.underlying as? TLSError)?.code == .peerIDMismatch, "\(String(describing: error))")
                }
                // The listener sees the dialer give up in the handshake.
                let listenerSide = try await listener.nextFailure()
                #expect(listenerSide.stage == .secureHandshake, "\(listenerSide)")
                switch security {
                case .noise: #expect(listenerSide.isConnectionClosed, "\(listenerSide)")
                case .tls: #expect((listenerSide.underlying as? TLSError)?.code == .alertReceived, "\(listenerSide)")
                }
            }
        }

        // MARK: - Helpers

        static let httpRequest =
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: upgrade-fault-tests\r\nAccept: */*\r\n"
            + "Connection: close\r\n\r\n"
        static let httpResponse =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
            + "Connection: close\r\n\r\nBad Request"

        /// A stall fails with a timeout, not before the upgrade timeout, and not much after.
        static func expectTimedOut(
            _ error: UpgradeError,
            since started: ContinuousClock.Instant,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            Self.expectTimedOut(error, after: ContinuousClock.now - started, sourceLocation: sourceLocation)
        }

        static func expectTimedOut(
            _ error: UpgradeError,
            after elapsed: Duration,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect((error.underlying as? UpgradeFailure)?.code == .timedOut, "\(error)", sourceLocation: sourceLocation)
            let timeout = Duration.nanoseconds(Self.upgradeTimeout.nanoseconds)
            #expect(elapsed >= timeout, "failed after \(elapsed), before the \(timeout) timeout", sourceLocation: sourceLocation)
            #expect(
                elapsed < timeout + Self.timeoutSlack, "failed after \(elapsed) for a \(timeout) timeout",
                sourceLocation: sourceLocation
            )
        }
    }
}

// MARK: - Fixtures

/// Our listener (short upgrade timeout) attacked by scripted dialers, then checked: it still
/// upgrades a good dialer, and it left nothing behind.
struct ListenerUnderAttack {
    let listenerHost: UpgradeHost
    let dialerHost: UpgradeHost
    let listener: UpgradeListener
    let inbound: InboundUpgrades
    var port: Int { self.listener.port }

    static func run(
        security: UpgradeSecurity,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (ListenerUnderAttack) async throws -> Void
    ) async throws {
        let group = UpgradeSocketTests.UpgradeFaultTests.group
        let baseline = DescriptorInventory.openCount()
        let listenerHost = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(), security: [security],
                upgradeTimeout: UpgradeSocketTests.UpgradeFaultTests.upgradeTimeout
            )
        )
        let dialerHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [security]))
        let inbound = InboundUpgrades()
        let listener = try await listenerHost.listen(host: "127.0.0.1", port: 0, group: group, onUpgrade: inbound.onUpgrade)
        let fixture = ListenerUnderAttack(listenerHost: listenerHost, dialerHost: dialerHost, listener: listener, inbound: inbound)

        try await body(fixture)

        // The listener keeps serving: a good dial right after the fault.
        let connection = try await dialerHost.dial(
            host: "127.0.0.1", port: listener.port, expectedPeer: listenerHost.peerID, group: group
        )
        _ = try await connection.echo(payload: ByteBuffer(string: "still serving")).get()
        let served = try #require(await inbound.next()?.success, "the good dial's inbound upgrade", sourceLocation: sourceLocation)
        #expect(served.outcome.secureChannel.remotePeerID == dialerHost.peerID, sourceLocation: sourceLocation)
        #expect(try await connection.streamsLeft() == 0, "dialer streams left open", sourceLocation: sourceLocation)
        #expect(try await served.streamsLeft() == 0, "listener streams left open", sourceLocation: sourceLocation)
        try await connection.close().get()

        // Every connection on the port is gone (the hostile one included), then the listener.
        let left = await DescriptorInventory.connectionsLeft(port: listener.port)
        #expect(left.isEmpty, "sockets left on the listener's port: \(left)", sourceLocation: sourceLocation)
        if let extra = await inbound.next(patience: .zero) {
            Issue.record("unexpected inbound outcome: \(extra)", sourceLocation: sourceLocation)
        }
        try await listener.close()
        let settled = await DescriptorInventory.settledCount(baseline: baseline, slack: UpgradeSocketTests.UpgradeFaultTests.descriptorSlack)
        #expect(
            settled <= baseline + UpgradeSocketTests.UpgradeFaultTests.descriptorSlack,
            "descriptors: \(baseline) before, \(settled) after", sourceLocation: sourceLocation
        )
    }

    /// Runs `script` as a raw dialer against the listener. The script returns whether it saw our
    /// side close the connection.
    func hostileDial(_ script: @escaping @Sendable (ScriptedConnection) async throws -> Bool) async throws -> Bool {
        let sawClose = NIOLockedBool()
        try await ScriptedDialer.run(port: self.port, group: UpgradeSocketTests.UpgradeFaultTests.group) { peer in
            sawClose.set(try await script(peer))
        }
        return sawClose.value
    }

    /// The listener's report on the hostile connection, which must be a failure.
    func nextFailure(sourceLocation: SourceLocation = #_sourceLocation) async throws -> UpgradeError {
        let outcome = try #require(await self.inbound.next(), "no inbound outcome", sourceLocation: sourceLocation)
        return try #require(outcome.failure as? UpgradeError, "inbound outcome: \(outcome)", sourceLocation: sourceLocation)
    }
}

/// Our dialer (short upgrade timeout) against scripted listeners, then checked: it still
/// upgrades to a good listener, and it left nothing behind.
struct DialerUnderAttack {
    let host: UpgradeHost

    static func run(
        security: UpgradeSecurity,
        offering: [UpgradeSecurity]? = nil,
        negotiation: UpgradeNegotiation = .early,
        multistream: MultistreamMode = .strict,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (DialerUnderAttack) async throws -> Void
    ) async throws {
        let group = UpgradeSocketTests.UpgradeFaultTests.group
        let baseline = DescriptorInventory.openCount()
        let host = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(), security: offering ?? [security], negotiation: negotiation,
                multistream: multistream, upgradeTimeout: UpgradeSocketTests.UpgradeFaultTests.upgradeTimeout
            )
        )
        try await body(DialerUnderAttack(host: host))

        // The dialer keeps working: a good dial right after the fault.
        let goodHost = try UpgradeHost(configuration: UpgradeConfiguration(identity: .generateEd25519(), security: [security]))
        let inbound = InboundUpgrades()
        let listener = try await goodHost.listen(host: "127.0.0.1", port: 0, group: group, onUpgrade: inbound.onUpgrade)
        let connection = try await host.dial(host: "127.0.0.1", port: listener.port, expectedPeer: goodHost.peerID, group: group)
        _ = try await connection.echo(payload: ByteBuffer(string: "still dialing")).get()
        let served = try #require(await inbound.next()?.success, "the good dial's inbound upgrade", sourceLocation: sourceLocation)
        #expect(try await connection.streamsLeft() == 0, "dialer streams left open", sourceLocation: sourceLocation)
        #expect(try await served.streamsLeft() == 0, "listener streams left open", sourceLocation: sourceLocation)
        try await connection.close().get()
        let left = await DescriptorInventory.connectionsLeft(port: listener.port)
        #expect(left.isEmpty, "sockets left on the good listener's port: \(left)", sourceLocation: sourceLocation)
        try await listener.close()
        let settled = await DescriptorInventory.settledCount(baseline: baseline, slack: UpgradeSocketTests.UpgradeFaultTests.descriptorSlack)
        #expect(
            settled <= baseline + UpgradeSocketTests.UpgradeFaultTests.descriptorSlack,
            "descriptors: \(baseline) before, \(settled) after", sourceLocation: sourceLocation
        )
    }

    /// Dials a scripted listener, which must make the upgrade fail; checks that the connection is
    /// gone on both sides afterwards.
    func dialHostile(
        sourceLocation: SourceLocation = #_sourceLocation,
        _ script: @escaping PeerScript
    ) async throws -> UpgradeError {
        try await self.dialHostileTimed(sourceLocation: sourceLocation, script).error
    }

    /// ``dialHostile(sourceLocation:_:)``, also returning how long the dial took to fail.
    func dialHostileTimed(
        sourceLocation: SourceLocation = #_sourceLocation,
        _ script: @escaping PeerScript
    ) async throws -> (error: UpgradeError, elapsed: Duration) {
        let group = UpgradeSocketTests.UpgradeFaultTests.group
        let hostile = try await ScriptedListener.start(group: group, script: script)
        let result: Result<UpgradedConnection, any Error>
        let started = ContinuousClock.now
        do {
            result = .success(try await self.host.dial(host: "127.0.0.1", port: hostile.port, expectedPeer: nil, group: group))
        } catch {
            result = .failure(error)
        }
        let elapsed = ContinuousClock.now - started
        if case .success(let connection) = result { try? await connection.close().get() }
        // A failed upgrade closes its connection: the hostile script, waiting for that, ends.
        #expect(await hostile.scriptsFinished(), "our dialer left the connection open", sourceLocation: sourceLocation)
        await hostile.close()
        let left = await DescriptorInventory.connectionsLeft(port: hostile.port)
        #expect(left.isEmpty, "sockets left on the hostile listener's port: \(left)", sourceLocation: sourceLocation)
        let error = try #require(result.failure as? UpgradeError, "dial outcome: \(result)", sourceLocation: sourceLocation)
        return (error, elapsed)
    }
}

/// A flag set from a `@Sendable` closure.
final class NIOLockedBool: Sendable {
    private let box = NIOLockedValueBox(false)
    var value: Bool { self.box.withLockedValue { $0 } }
    func set(_ value: Bool) { self.box.withLockedValue { $0 = value } }
}

extension ScriptedConnection {
    /// Dialer side of multistream-select for `security`, strictly: header and proposal, then the
    /// listener's header and echo.
    func agreeOnSecurity(_ security: UpgradeSecurity) async throws {
        try await self.send(.header, .protocol(security.protocolID))
        let header = try await self.readMultistreamMessage()
        #expect(header == .header)
        let answer = try await self.readMultistreamMessage()
        #expect(answer == .protocol(security.protocolID))
    }

    /// Listener side of multistream-select for `security`: header, then the dialer's header and
    /// proposal, then the echo.
    func acceptSecurity(_ security: UpgradeSecurity) async throws {
        try await self.send(.header)
        let header = try await self.readMultistreamMessage()
        #expect(header == .header)
        let answer = try await self.readMultistreamMessage()
        #expect(answer == .protocol(security.protocolID))
        try await self.send(.protocol(security.protocolID))
    }
}

extension UpgradeError {
    /// Whether the reason is the peer going away, however the layer under way reports it.
    var isConnectionClosed: Bool {
        switch self.underlying {
        case let failure as UpgradeFailure: failure.code == .connectionClosed
        case let error as NoiseError: error.code == .connectionClosedDuringHandshake
        case let error as TLSError: error.code == .connectionClosed
        case let error as MultistreamError: error.code == .connectionClosed
        default: false
        }
    }
}
