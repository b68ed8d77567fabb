import P2PCore
import Testing

@testable import TLS

/// The ALPN lists and selection rule (inlined §TLS; wire §5.4, §6.1, §8 item 12).
@Suite struct TLSALPNTests {
    @Test func clientOfferIsMuxersThenLibp2p() {
        #expect(TLSALPN.clientOffer(muxers: [.yamux, .mplex]) == ["/yamux/1.0.0", "/mplex/6.7.0", "libp2p"])
        #expect(TLSALPN.clientOffer(muxers: []) == ["libp2p"])
    }

    @Test func serverFollowsTheClientsOrder() {
        let selected = TLSALPN.select(
            clientOffer: ["/yamux/1.0.0", "/mplex/6.7.0", "libp2p"],
            supported: ["/mplex/6.7.0", "/yamux/1.0.0", "libp2p"]
        )
        #expect(selected == "/yamux/1.0.0")
    }

    @Test func serverSkipsMuxersItLacks() {
        let selected = TLSALPN.select(
            clientOffer: ["/mplex/6.7.0", "/yamux/1.0.0", "libp2p"],
            supported: ["/yamux/1.0.0", "libp2p"]
        )
        #expect(selected == "/yamux/1.0.0")
    }

    @Test func noCommonMuxerFallsBackToLibp2p() {
        #expect(TLSALPN.select(clientOffer: ["/mplex/6.7.0", "libp2p"], supported: ["/yamux/1.0.0", "libp2p"]) == "libp2p")
    }

    @Test func classicModeSelectsLibp2p() {
        #expect(TLSALPN.select(clientOffer: ["libp2p"], supported: ["/yamux/1.0.0", "libp2p"]) == "libp2p")
    }

    @Test func noOverlapSelectsNothing() {
        #expect(TLSALPN.select(clientOffer: ["h2", "http/1.1"], supported: ["/yamux/1.0.0", "libp2p"]) == nil)
    }

    @Test func wireSelectionReturnsTheRangeOfTheChosenName() {
        let offer = TLSALPN.wireEncoded([Array("/mplex/6.7.0".utf8), Array("/yamux/1.0.0".utf8), Array("libp2p".utf8)])
        let range = offer.withUnsafeBufferPointer {
            TLSALPN.select(clientOffer: $0, supported: [Array("/yamux/1.0.0".utf8), Array("libp2p".utf8)])
        }
        let chosen = range.map { Array(offer[$0]) }
        #expect(chosen == Array("/yamux/1.0.0".utf8))
    }

    @Test func wireSelectionRejectsATruncatedList() {
        // Length 10, but only 3 bytes follow.
        let offer: [UInt8] = [10, 0x6c, 0x69, 0x62]
        let range = offer.withUnsafeBufferPointer { TLSALPN.select(clientOffer: $0, supported: [Array("lib".utf8)]) }
        #expect(range == nil)
    }

    @Test func wireSelectionRejectsAnEmptyName() {
        let offer: [UInt8] = [0, 6] + Array("libp2p".utf8)
        let range = offer.withUnsafeBufferPointer { TLSALPN.select(clientOffer: $0, supported: [Array("libp2p".utf8)]) }
        #expect(range == nil)
    }

    @Test func outcomeOfAMuxerStartsItAtOnce() throws {
        #expect(try TLSALPN.outcome(negotiated: Array("/yamux/1.0.0".utf8), muxers: [.yamux]) == .muxer(.yamux))
    }

    @Test func outcomeOfLibp2pOrNothingIsMultistreamSelect() throws {
        #expect(try TLSALPN.outcome(negotiated: Array("libp2p".utf8), muxers: [.yamux]) == .multistreamSelect)
        #expect(try TLSALPN.outcome(negotiated: nil, muxers: [.yamux]) == .multistreamSelect)
    }

    @Test func outcomeOfAnUnknownProtocolIsAnError() {
        let error = #expect(throws: TLSError.self) {
            try TLSALPN.outcome(negotiated: Array("/mplex/6.7.0".utf8), muxers: [.yamux])
        }
        #expect(error?.code == .unexpectedApplicationProtocol)
    }

    @Test func muxerIDTooLongForALPNIsAConfigurationError() throws {
        let long = ProtocolID("/" + String(repeating: "x", count: 300))
        let error = #expect(throws: TLSError.self) {
            try TLSContext(configuration: TLSConfiguration(identityKey: try TLSTestSupport.identity(1), muxers: [long]))
        }
        #expect(error?.code == .invalidConfiguration)
    }
}
