import NIOCore
import P2PCore
import Testing
import Upgrader

/// The upgrade sequence without I/O: which step follows which, what each path records, and how
/// failures are attributed to stages.
@Suite struct UpgradeStateMachineTests {
    static let identity = IdentityPrivateKey.generateEd25519()
    static let remote = IdentityPrivateKey.generateEd25519().peerID
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000)

    static func at(_ milliseconds: Int64) -> NIODeadline { t0 + .milliseconds(milliseconds) }

    static func machine(
        role: ConnectionRole = .initiator,
        security: [UpgradeSecurity] = [.noise],
        negotiation: UpgradeNegotiation = .early,
        multistream: MultistreamMode = .strict
    ) -> UpgradeStateMachine {
        let configuration = UpgradeConfiguration(
            identity: identity,
            security: security,
            negotiation: negotiation,
            multistream: multistream
        )
        return UpgradeStateMachine(role: role, configuration: configuration, start: t0)
    }

    /// A peer that accepts and closes at once (py-libp2p over its inbound cap) can close the
    /// connection before the upgrade starts: that is a failure at the TCP stage, and the start
    /// that follows does nothing, rather than trapping.
    @Test func aConnectionClosedBeforeTheUpgradeStartsFailsWithoutATrap() throws {
        var machine = Self.machine()
        guard case .fail(let error) = machine.connectionClosed(at: Self.at(0)) else {
            Issue.record("a close before the start must fail the upgrade")
            return
        }
        #expect(error.stage == .tcpConnect)
        guard case .none = machine.tcpConnected(at: Self.at(1)) else {
            Issue.record("the start after the failure must do nothing")
            return
        }
        guard case .none = machine.connectionClosed(at: Self.at(2)) else {
            Issue.record("the failure is reported once")
            return
        }
    }

    @Test func earlyPathSkipsMuxerNegotiation() throws {
        var machine = Self.machine()
        guard case .negotiateSecurity(let proposals, let lazy) = machine.tcpConnected(at: Self.at(1)) else {
            Issue.record("expected security negotiation")
            return
        }
        #expect(proposals == [.noise])
        #expect(!lazy)
        guard case .runHandshake(.noise, let muxers) = machine.securityAgreed(.noise, at: Self.at(2)) else {
            Issue.record("expected the Noise handshake")
            return
        }
        #expect(muxers == [.yamux])
        let info = SecureChannelInfo(security: .noise, remotePeerID: Self.remote, earlyMuxer: .yamux)
        guard case .startMuxer(.yamux) = machine.handshakeCompleted(info, at: Self.at(3)) else {
            Issue.record("expected yamux to start at once")
            return
        }
        guard case .completed(let outcome) = machine.muxerStarted(at: Self.at(4)) else {
            Issue.record("expected completion")
            return
        }
        #expect(outcome.usedEarlyNegotiation)
        #expect(outcome.muxer == .yamux)
        #expect(outcome.timeline.microseconds(.tcpConnected) == 1_000)
        #expect(outcome.timeline.microseconds(.securityAgreed) == 2_000)
        #expect(outcome.timeline.microseconds(.handshakeDone) == 3_000)
        #expect(outcome.timeline.microseconds(.muxerReady) == 4_000)
        #expect(outcome.timeline.microseconds(.firstEcho) == nil)
    }

    @Test func classicPathSendsNoMuxerListAndNegotiatesTheMuxer() throws {
        var machine = Self.machine(negotiation: .classic)
        _ = machine.tcpConnected(at: Self.at(1))
        guard case .runHandshake(.noise, let muxers) = machine.securityAgreed(.noise, at: Self.at(2)) else {
            Issue.record("expected the Noise handshake")
            return
        }
        #expect(muxers.isEmpty)
        let info = SecureChannelInfo(security: .noise, remotePeerID: Self.remote, earlyMuxer: nil)
        guard case .negotiateMuxer(let proposals, false) = machine.handshakeCompleted(info, at: Self.at(3)) else {
            Issue.record("expected strict muxer negotiation")
            return
        }
        #expect(proposals == [.yamux])
        #expect(machine.currentStage == .muxerNegotiation)
        guard case .startMuxer(.yamux) = machine.muxerAgreed(.yamux, at: Self.at(4)) else {
            Issue.record("expected yamux to start")
            return
        }
        guard case .completed(let outcome) = machine.muxerStarted(at: Self.at(5)) else {
            Issue.record("expected completion")
            return
        }
        #expect(!outcome.usedEarlyNegotiation)
    }

    @Test func earlyNegotiationFallsBackWhenThePeerSendsNoList() throws {
        var machine = Self.machine(negotiation: .early)
        _ = machine.tcpConnected(at: Self.at(1))
        _ = machine.securityAgreed(.noise, at: Self.at(2))
        let info = SecureChannelInfo(security: .noise, remotePeerID: Self.remote, earlyMuxer: nil)
        guard case .negotiateMuxer = machine.handshakeCompleted(info, at: Self.at(3)) else {
            Issue.record("expected the multistream-select fallback")
            return
        }
    }

    @Test func lazyModeAppliesToEverySingleCandidateNegotiationOfTheDialer() throws {
        var dialer = Self.machine(negotiation: .classic, multistream: .lazy)
        guard case .negotiateSecurity(_, true) = dialer.tcpConnected(at: Self.at(1)) else {
            Issue.record("expected lazy security negotiation")
            return
        }
        _ = dialer.securityAgreed(.noise, at: Self.at(1))
        let info = SecureChannelInfo(security: .noise, remotePeerID: Self.remote, earlyMuxer: nil)
        guard case .negotiateMuxer(_, true) = dialer.handshakeCompleted(info, at: Self.at(2)) else {
            Issue.record("expected lazy muxer negotiation")
            return
        }

        var twoCandidates = Self.machine(security: [.tls, .noise], multistream: .lazy)
        guard case .negotiateSecurity(let proposals, false) = twoCandidates.tcpConnected(at: Self.at(1)) else {
            Issue.record("lazy mode needs a single candidate")
            return
        }
        #expect(proposals == [.tls, .noise])

        var listener = Self.machine(role: .responder, multistream: .lazy)
        guard case .negotiateSecurity(_, false) = listener.tcpConnected(at: Self.at(1)) else {
            Issue.record("listeners never negotiate lazily")
            return
        }
    }

    @Test func agreedSecurityThatWasNotOfferedFailsSecurityNegotiation() throws {
        var machine = Self.machine(security: [.noise])
        _ = machine.tcpConnected(at: Self.at(1))
        guard case .fail(let error) = machine.securityAgreed(.tls, at: Self.at(2)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.stage == .securityNegotiation)
        #expect((error.underlying as? UpgradeFailure)?.code == .unsupportedProtocol)
        #expect(machine.currentStage == nil)
    }

    @Test func earlyMuxerThatDoesNotRunHereFailsMuxerSetup() throws {
        var machine = Self.machine()
        _ = machine.tcpConnected(at: Self.at(1))
        _ = machine.securityAgreed(.noise, at: Self.at(2))
        let info = SecureChannelInfo(security: .noise, remotePeerID: Self.remote, earlyMuxer: .mplex)
        guard case .fail(let error) = machine.handshakeCompleted(info, at: Self.at(3)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.stage == .muxerSetup)
        #expect((error.underlying as? UpgradeFailure)?.code == .unsupportedMuxer)
    }

    @Test func failuresNameTheStageUnderWay() throws {
        struct Boom: Error {}
        var handshaking = Self.machine()
        _ = handshaking.tcpConnected(at: Self.at(1))
        _ = handshaking.securityAgreed(.noise, at: Self.at(2))
        guard case .fail(let error) = handshaking.stepFailed(Boom(), at: Self.at(3)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.stage == .secureHandshake)
        #expect(error.description.hasPrefix("secure_handshake: "))
        // Events after the end are ignored rather than reported twice.
        guard case .none = handshaking.connectionClosed(at: Self.at(4)) else {
            Issue.record("a closed upgrade must ignore later events")
            return
        }

        var stalled = Self.machine()
        _ = stalled.tcpConnected(at: Self.at(1))
        guard case .fail(let timeout) = stalled.timedOut(after: .seconds(10), at: Self.at(10_000)) else {
            Issue.record("expected a timeout failure")
            return
        }
        #expect(timeout.stage == .securityNegotiation)
        #expect((timeout.underlying as? UpgradeFailure)?.code == .timedOut)

        var closed = Self.machine()
        guard case .fail(let closedError) = closed.connectionClosed(at: Self.at(1)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(closedError.stage == .tcpConnect)
    }

    @Test func lazySecurityRefusedDuringTheHandshakeFailsSecurityNegotiation() throws {
        struct Refused: Error {}
        var machine = Self.machine(multistream: .lazy)
        _ = machine.tcpConnected(at: Self.at(1))
        // Lazily the proposal is taken as agreed and the handshake starts before the answer.
        guard case .runHandshake(.noise, _) = machine.securityAgreed(.noise, at: Self.at(1)) else {
            Issue.record("expected the handshake to start")
            return
        }
        guard case .fail(let error) = machine.securityNegotiationFailed(Refused(), at: Self.at(2)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.stage == .securityNegotiation)
        #expect(error.underlying is Refused)
        guard case .none = machine.stepFailed(Refused(), at: Self.at(3)) else {
            Issue.record("the handshake's own failure after it must be ignored")
            return
        }

        // After the handshake, a negotiation failure is no longer the negotiation's.
        var later = Self.machine()
        _ = later.tcpConnected(at: Self.at(1))
        _ = later.securityAgreed(.noise, at: Self.at(2))
        let info = SecureChannelInfo(security: .noise, remotePeerID: Self.remote, earlyMuxer: nil)
        _ = later.handshakeCompleted(info, at: Self.at(3))
        guard case .fail(let muxerError) = later.securityNegotiationFailed(Refused(), at: Self.at(4)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(muxerError.stage == .muxerNegotiation)
    }

    @Test func failuresCarryTheStagesReachedAndTheAgreedSecurity() throws {
        struct Boom: Error {}
        // Classic: the failure comes in the muxer negotiation, after three milestones.
        var machine = Self.machine(negotiation: .classic)
        _ = machine.tcpConnected(at: Self.at(1))
        _ = machine.securityAgreed(.noise, at: Self.at(2))
        _ = machine.handshakeCompleted(SecureChannelInfo(security: .noise, remotePeerID: Self.remote, earlyMuxer: nil), at: Self.at(3))
        guard case .fail(let error) = machine.stepFailed(Boom(), at: Self.at(4)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.stage == .muxerNegotiation)
        #expect(error.security == .noise)
        let timeline = try #require(error.timeline)
        #expect(timeline.start == Self.t0)
        #expect(timeline.microseconds(.tcpConnected) == 1_000)
        #expect(timeline.microseconds(.securityAgreed) == 2_000)
        #expect(timeline.microseconds(.handshakeDone) == 3_000)
        #expect(timeline.microseconds(.muxerReady) == nil)
        // The description stays `stage: reason`: the timeline is data, not text.
        #expect(error.description.hasPrefix("muxer_negotiation: "))

        // A timeout in the handshake knows the security protocol it was running.
        var handshaking = Self.machine(security: [.tls])
        _ = handshaking.tcpConnected(at: Self.at(1))
        _ = handshaking.securityAgreed(.tls, at: Self.at(2))
        guard case .fail(let timeout) = handshaking.timedOut(after: .seconds(10), at: Self.at(10_000)) else {
            Issue.record("expected a timeout failure")
            return
        }
        #expect(timeout.security == .tls)
        #expect(timeout.timeline?.microseconds(.securityAgreed) == 2_000)
        #expect(timeout.timeline?.microseconds(.handshakeDone) == nil)

        // A lazy proposal the listener refuses was never agreed: no security, though the lazy
        // dialer recorded security_agreed when it wrote the proposal.
        var lazy = Self.machine(multistream: .lazy)
        _ = lazy.tcpConnected(at: Self.at(1))
        _ = lazy.securityAgreed(.noise, at: Self.at(1))
        guard case .fail(let refused) = lazy.securityNegotiationFailed(Boom(), at: Self.at(2)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(refused.stage == .securityNegotiation)
        #expect(refused.security == nil)
        #expect(refused.timeline?.microseconds(.tcpConnected) == 1_000)
    }
}
