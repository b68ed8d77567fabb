import Testing
import UpgradeBenchKit

@Suite struct RoundTripModelTests {
    typealias Row = (negotiation: Scenario.Negotiation, multistream: Scenario.Multistream, counts: [Int])

    /// The table in ``RoundTripModel``'s documentation and README.md ("Results" and "Round-trip accounting"), with a
    /// connect-delaying emulator: tcp, security, handshake, muxer, echo.
    static let table: [Row] = [
        (.classic, .strict, [1, 2, 3, 4, 6]),
        (.early, .strict, [1, 2, 3, 3, 5]),
        (.classic, .lazy, [1, 1, 2, 2, 3]),
        (.early, .lazy, [1, 1, 2, 2, 3]),
    ]

    @Test func everyStageOfEveryPathMatchesTheDocumentedTable() {
        for row in Self.table {
            for security in Scenario.Security.allCases {
                let scenario = Scenario.test(security, row.negotiation, row.multistream, rtt: 10)
                let counts = ConnectionStage.allCases.map { RoundTripModel.standard.roundTrips(to: $0, for: scenario) }
                #expect(counts == row.counts, "\(scenario.pathName)")
            }
        }
    }

    @Test func headlineCountsToMuxerReady() {
        let model = RoundTripModel.standard
        #expect(model.roundTrips(to: .muxerReady, for: .test(.noise, .classic, .strict, rtt: 10)) == 4)
        #expect(model.roundTrips(to: .muxerReady, for: .test(.tls, .early, .strict, rtt: 10)) == 3)
        #expect(model.roundTrips(to: .muxerReady, for: .test(.noise, .early, .lazy, rtt: 10)) == 2)
    }

    @Test func relayThatDoesNotDelayConnectShiftsEveryStageByOne() {
        for row in Self.table {
            let scenario = Scenario.test(.noise, row.negotiation, row.multistream, rtt: 10, emulator: .relay)
            let counts = ConnectionStage.allCases.map { RoundTripModel.standard.roundTrips(to: $0, for: scenario) }
            #expect(counts == row.counts.map { $0 - 1 })
        }
    }

    @Test func echoWithoutStreamNegotiationTakesOneRoundTripAfterTheMuxer() {
        let model = RoundTripModel(echoStreamNegotiatesProtocol: false)
        for row in Self.table {
            let scenario = Scenario.test(.tls, row.negotiation, row.multistream, rtt: 10)
            #expect(model.roundTrips(to: .firstEcho, for: scenario) == row.counts[3] + 1)
        }
    }

    @Test func earlySavesOneRoundTripFromMuxerReadyWithStrictMultistream() {
        let model = RoundTripModel.standard
        for stage in ConnectionStage.allCases {
            let expected = stage >= .muxerReady ? 1 : 0
            #expect(model.earlySaving(at: stage, multistream: .strict, connectIsDelayed: true) == expected)
            #expect(model.earlySaving(at: stage, multistream: .strict, connectIsDelayed: false) == expected)
            #expect(model.earlySaving(at: stage, multistream: .lazy, connectIsDelayed: true) == 0)
        }
    }
}
