import Testing

@testable import UpgradeBenchKit

/// How the runner shares listeners between the scenarios of one path.
@Suite struct ListenerGroupsTests {
    @Test func ownListenersServeTheirNegotiationAndOthersOneScenarioEach() {
        func scenario(_ negotiation: Scenario.Negotiation, dialer: Scenario.Peer = .swift, listener: Scenario.Peer = .swift)
            -> Scenario
        {
            var scenario = Scenario.test(.noise, negotiation, .strict, rtt: 10)
            scenario.dialer = dialer
            scenario.listener = listener
            return scenario
        }
        let scenarios = [
            scenario(.classic), scenario(.early), scenario(.classic, listener: .go), scenario(.early, listener: .go),
            scenario(.classic, dialer: .go), scenario(.early, dialer: .go), scenario(.early, dialer: .go, listener: .go),
        ]
        let groups = BenchRunner.listenerGroups(scenarios)
        #expect(
            groups.map(\.listener) == [
                .swift(.classic), .swift(.early),
                .foreign(.go, scenario: scenarios[2].name), .foreign(.go, scenario: scenarios[3].name),
                .foreign(.go, scenario: scenarios[6].name),
            ]
        )
        // Our listener of a mode serves our dialer and the other implementation's alike.
        #expect(groups[0].scenarios == [scenarios[0], scenarios[4]])
        #expect(groups[1].scenarios == [scenarios[1], scenarios[5]])
        #expect(groups[2...].allSatisfy { $0.scenarios.count == 1 })
    }
}
