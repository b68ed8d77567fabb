import Multistream
import NIOCore
import P2PCore
import TestSupport
import Testing

/// Dialer and listener state machines back to back, input delivered whole and one byte at a time.
@Suite struct MultistreamNegotiationTests {
    static let header = "132f6d756c746973747265616d2f312e302e300a"
    static let noise = "072f6e6f6973650a"
    static let tls = "0b2f746c732f312e302e300a"
    static let yamux = "0d2f79616d75782f312e302e300a"
    static let na = "036e610a"

    @Test(arguments: Delivery.allCases)
    func strictSingleProtocolIsAgreed(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.noise]),
            listener: MultistreamListenerStateMachine(protocols: [.noise]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerResult.protocolID == .noise)
        #expect(pump.listenerResult.protocolID == .noise)
        #expect(pump.dialerProceeded == nil)
        // Dialer: header + proposal in one flight (fixture "dialer first flight proposing Noise").
        #expect(pump.dialerFlights.first?.hexString == Self.header + Self.noise)
        // Listener: header at start, then the echo.
        #expect(pump.listenerSent.hexString.hasPrefix(Self.header + Self.noise))
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    @Test(arguments: Delivery.allCases)
    func dialerFallsBackAfterNa(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.tls, .noise]),
            listener: MultistreamListenerStateMachine(protocols: [.noise]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerResult.protocolID == .noise)
        #expect(pump.listenerResult.protocolID == .noise)
        #expect(pump.dialerSent.hexString.hasPrefix(Self.header + Self.tls + Self.noise))
        #expect(pump.listenerSent.hexString.hasPrefix(Self.header + Self.na + Self.noise))
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    @Test(arguments: Delivery.allCases)
    func noCommonProtocolIsReportedCleanly(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.tls, .noise]),
            listener: MultistreamListenerStateMachine(protocols: [.yamux]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerResult.errorCode == .noProtocolSupported)
        #expect(pump.dialerResult.error?.protocols == [.tls, .noise])
        #expect(pump.listenerSent.hexString == Self.header + Self.na + Self.na)
        // The dialer gives up and closes; the listener sees EOF after its na.
        pump.closeInputs()
        #expect(pump.listenerResult.errorCode == .connectionClosed)
    }

    @Test(arguments: Delivery.allCases)
    func lazyDialerSendsNextLayerBytesWithoutWaiting(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.noise], mode: .lazy),
            listener: MultistreamListenerStateMachine(protocols: [.noise]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerProceeded == .noise)
        // Header, proposal and Noise message 1 in the first flight.
        #expect(pump.dialerFlights.count == 1)
        #expect(pump.dialerFlights.first?.hexString == Self.header + Self.noise + pump.dialerPayload.hexString)
        #expect(pump.dialerResult.protocolID == .noise)
        #expect(pump.listenerResult.protocolID == .noise)
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    @Test(arguments: Delivery.allCases)
    func lazyDialerReportsLaterNaNamingTheProtocol(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.noise], mode: .lazy),
            listener: MultistreamListenerStateMachine(protocols: [.tls]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerProceeded == .noise)
        let error = try #require(pump.dialerResult.error)
        #expect(error.code == .protocolRejected)
        #expect(error.protocols == [.noise])
        #expect(error.diagnostics.contains("/noise"))
        // The listener took the dialer's Noise bytes for a proposal and found them invalid, or waits.
        #expect(!pump.listenerResult.isSuccess)
    }

    /// With several candidates, lazy mode waits for each `na` and only the last goes out optimistically.
    @Test(arguments: Delivery.allCases)
    func lazyDialerIsOptimisticOnlyForTheLastCandidate(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.tls, .noise], mode: .lazy),
            listener: MultistreamListenerStateMachine(protocols: [.noise]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerProceeded == .noise)
        #expect(pump.dialerFlights.first?.hexString == Self.header + Self.tls)
        #expect(pump.dialerFlights.dropFirst().first?.hexString == Self.noise + pump.dialerPayload.hexString)
        #expect(pump.dialerResult.protocolID == .noise)
        #expect(pump.listenerResult.protocolID == .noise)
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    @Test(arguments: Delivery.allCases)
    func listenerWaitingForTheHeaderAnswersWithHeaderAndEcho(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.yamux]),
            listener: MultistreamListenerStateMachine(protocols: [.yamux], sendsHeaderImmediately: false),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerResult.protocolID == .yamux)
        #expect(pump.listenerResult.protocolID == .yamux)
        #expect(pump.listenerSent.hexString.hasPrefix(Self.header + Self.yamux))
        if delivery == .whole {
            // rust's behaviour: header and answer in one flight.
            #expect(pump.listenerFlights.first?.hexString == Self.header + Self.yamux + pump.listenerPayload.hexString)
        }
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    @Test(arguments: Delivery.allCases)
    func dialerListingFirstProposesOnlyAListedProtocol(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.tls, .noise], requestsProtocolList: true),
            listener: MultistreamListenerStateMachine(protocols: [.noise, .yamux]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerResult.protocolID == .noise)
        #expect(pump.listenerResult.protocolID == .noise)
        // header, ls, then /noise: /tls/1.0.0 is never proposed.
        #expect(pump.dialerSent.hexString.hasPrefix(Self.header + "036c730a" + Self.noise))
        // The listener's ls answer is the fixture's bytes.
        #expect(pump.listenerSent.hexString.hasPrefix(Self.header + "17072f6e6f6973650a0d2f79616d75782f312e302e300a0a"))
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    @Test(arguments: Delivery.allCases)
    func dialerListingFirstFallsBackWhenLsIsAnsweredWithNa(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.tls, .noise], requestsProtocolList: true),
            listener: MultistreamListenerStateMachine(protocols: [.noise], answersListRequests: false),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerResult.protocolID == .noise)
        #expect(pump.dialerSent.hexString.hasPrefix(Self.header + "036c730a" + Self.tls + Self.noise))
        #expect(pump.listenerSent.hexString.hasPrefix(Self.header + Self.na + Self.na + Self.noise))
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    @Test(arguments: Delivery.allCases)
    func dialerListingFirstFailsWhenNothingListedMatches(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.tls], requestsProtocolList: true),
            listener: MultistreamListenerStateMachine(protocols: [.noise]),
            delivery: delivery
        )
        pump.run()
        #expect(pump.dialerResult.errorCode == .noProtocolSupported)
    }

    /// Muxer negotiation inside the secure channel: the fixture's exact bytes, with yamux frames behind.
    @Test(arguments: Delivery.allCases)
    func yamuxFramesBehindTheProposalReachTheNextLayer(delivery: Delivery) throws {
        var pump = MachinePump(
            dialer: MultistreamDialerStateMachine(protocols: [.yamux], mode: .lazy),
            listener: MultistreamListenerStateMachine(protocols: [.yamux]),
            delivery: delivery
        )
        // yamux: open stream 1, data "hello" on stream 1 (docs/wire.md §7).
        pump.dialerPayload = try ByteBuffer(hex: "000100010000000100000000" + "00000000000000010000000568656c6c6f")
        pump.listenerPayload = try ByteBuffer(hex: "000100020000000100000000")
        pump.run()
        #expect(pump.dialerFlights.first?.hexString
            == "132f6d756c746973747265616d2f312e302e300a0d2f79616d75782f312e302e300a" + pump.dialerPayload.hexString)
        self.expectNextLayersGotEachOthersBytes(pump)
    }

    private func expectNextLayersGotEachOthersBytes(_ pump: MachinePump, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(pump.listenerNextLayerReceived == pump.dialerPayload, "listener's next layer", sourceLocation: sourceLocation)
        #expect(pump.dialerNextLayerReceived == pump.listenerPayload, "dialer's next layer", sourceLocation: sourceLocation)
    }
}
