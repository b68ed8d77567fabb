import Foundation
import Testing
import UpgradeBenchKit

/// Other implementations as a dimension of the matrix: names, files, the model for a peer that
/// falls back, and how the runner groups scenarios by listener.
@Suite struct PeerScenarioTests {
    static func scenario(_ negotiation: Scenario.Negotiation, rtt: Int, listener: Scenario.Peer) -> Scenario {
        var scenario = Scenario.test(.noise, negotiation, .strict, rtt: rtt, connections: 3)
        scenario.listener = listener
        return scenario
    }

    @Test func swiftToSwiftKeepsItsNameAndOtherPairsAreNamed() throws {
        let own = Scenario.test(.noise, .early, .strict, rtt: 10)
        #expect(own.name == "noise-early-strict-10ms-tun-c1")
        #expect(own.pairName == "swift_to_swift")
        let go = Self.scenario(.early, rtt: 10, listener: .go)
        #expect(go.name == "swift_to_go-noise-early-strict-10ms-tun-c1")
        try go.validate()
    }

    @Test(arguments: ["", "Go", "go-libp2p", "../x", "go libp2p"])
    func peerNamesAreShellSafe(name: String) {
        #expect(Scenario.Peer(rawValue: name) == nil)
    }

    @Test func peerNamesOfAdaptersAreAccepted() {
        #expect(Scenario.Peer(rawValue: "rust_0_53") != nil)
        #expect(Scenario.Peer(rawValue: "go") == .go)
    }

    /// meta.json written before peers existed has scenarios without `dialer` and `listener`.
    @Test func scenarioWithoutPeersDecodesAsSwiftToSwift() throws {
        let own = Scenario.test(.tls, .classic, .lazy, rtt: 20)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(own)) as? [String: Any])
        #expect(object["dialer"] as? String == "swift" && object["listener"] as? String == "swift")
        object["dialer"] = nil
        object["listener"] = nil
        let decoded = try JSONDecoder().decode(Scenario.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(decoded == own)

        let go = Self.scenario(.early, rtt: 20, listener: .go)
        #expect(try JSONDecoder().decode(Scenario.self, from: JSONEncoder().encode(go)) == go)
    }

    @Test func samplesOfAnotherPairRoundTripThroughCSV() throws {
        let go = Self.scenario(.early, rtt: 10, listener: .go)
        let sample = ConnectionSample(
            scenario: go,
            index: 0,
            timestamps: .init(tcpConnected: 10_040, securityAgreed: 20_100, handshakeDone: 30_900, muxerReady: 30_905),
            path: .init(security: .noise, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: true)
        )
        let text = SamplesCSV.document([sample]).encoded()
        #expect(text.split(separator: "\n")[1].hasSuffix(",swift,go,,"))
        #expect(try SamplesCSV.parse(text, scenarios: [go]) == [sample])
        // A row whose implementation columns contradict its scenario is refused.
        let contradicting = text.replacingOccurrences(of: ",swift,go,,\n", with: ",swift,py,,\n")
        #expect(throws: UpgradeBenchError.self) { try SamplesCSV.parse(contradicting, scenarios: [go]) }
    }

    @Test func withPeersAddsBothDirectionsAndEachPeersOwnRow() throws {
        let base = try ScenarioMatrix(
            name: "t",
            scenarios: [
                Scenario.test(.noise, .classic, .strict, rtt: 0), Scenario.test(.noise, .early, .strict, rtt: 0),
                Scenario.test(.noise, .early, .lazy, rtt: 0),
            ]
        )
        let matrix = try base.withPeers([.swift, .go, .py])
        let pairs = matrix.scenarios.map { "\($0.pairName) \($0.pathName)" }
        #expect(
            pairs == [
                "swift_to_swift noise-classic-strict", "swift_to_swift noise-early-strict", "swift_to_swift noise-early-lazy",
                // go: our dialer to it (every path), its dialer to us (strict), itself (early).
                "swift_to_go noise-classic-strict", "swift_to_go noise-early-strict", "swift_to_go noise-early-lazy",
                "go_to_swift noise-classic-strict", "go_to_swift noise-early-strict",
                "go_to_go noise-early-strict",
                // py never negotiates early: its own row is classic.
                "swift_to_py noise-classic-strict", "swift_to_py noise-early-strict", "swift_to_py noise-early-lazy",
                "py_to_swift noise-classic-strict", "py_to_swift noise-early-strict",
                "py_to_py noise-classic-strict",
            ]
        )
        #expect(try base.withPeers([.swift]) == base)
        #expect(matrix.scenarios.filter { $0.dialer != .swift }.allSatisfy { $0.headlineStage == .firstEcho })
    }

    /// py-libp2p never negotiates early: its early scenario measures the fallback, which is then
    /// expected (not a deviation), and early's theoretical saving against it is 0.
    @Test func anEarlyScenarioAgainstPyExpectsTheFallback() {
        let pyEarly = Self.scenario(.early, rtt: 10, listener: .py)
        let pyClassic = Self.scenario(.classic, rtt: 10, listener: .py)
        #expect(!pyEarly.expectsEarlyMuxer)
        #expect(Self.scenario(.early, rtt: 10, listener: .go).expectsEarlyMuxer)
        let model = RoundTripModel.standard
        for stage in ConnectionStage.allCases {
            #expect(model.roundTrips(to: stage, for: pyEarly) == model.roundTrips(to: stage, for: pyClassic))
        }
        let fellBack = ConnectionSample(
            scenario: pyEarly, index: 0, timestamps: .init(),
            path: .init(security: .noise, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: false)
        )
        #expect(!fellBack.deviatesFromScenario)
        let claimedEarly = ConnectionSample(
            scenario: pyEarly, index: 0, timestamps: .init(),
            path: .init(security: .noise, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: true)
        )
        #expect(claimedEarly.deviatesFromScenario)

        let summaries = [pyClassic, pyEarly].map { scenario in
            ScenarioSummary(scenario: scenario, samples: [])
        }
        let report = RoundTripReport(summaries: summaries)
        #expect(report.saving(for: pyEarly, at: .muxerReady)?.theoretical == 0)
    }

    /// Savings pair an early scenario with the classic one of the same pair only.
    @Test func savingsAndBaselinesStayWithinAPair() {
        let scenarios = [
            Self.scenario(.classic, rtt: 0, listener: .swift), Self.scenario(.early, rtt: 0, listener: .swift),
            Self.scenario(.classic, rtt: 0, listener: .go), Self.scenario(.early, rtt: 0, listener: .go),
            Self.scenario(.classic, rtt: 10, listener: .go), Self.scenario(.early, rtt: 10, listener: .go),
        ]
        let report = RoundTripReport(summaries: scenarios.map { ScenarioSummary(scenario: $0, samples: []) })
        let saving = report.saving(for: scenarios[5], at: .muxerReady)
        #expect(saving?.classic == scenarios[4])
        #expect(report.roundTrips(for: scenarios[5], at: .muxerReady)?.baseline == scenarios[3])
    }
}
