import NIOCore
import Testing
import UpgradeBenchKit
import Upgrader

@Suite struct ScenarioTests {
    @Test func nameNamesEveryIdentifyingField() {
        let scenario = Scenario(
            security: .noise,
            negotiation: .early,
            multistream: .strict,
            rttMilliseconds: 10,
            emulator: .tun,
            connections: 100,
            warmup: 5,
            concurrency: 1
        )
        #expect(scenario.name == "noise-early-strict-10ms-tun-c1")
        #expect(scenario.pathName == "noise-early-strict")
        var other = scenario
        other.connections = 7
        other.warmup = 0
        #expect(other.name == scenario.name, "counts are not part of the name")
        other.concurrency = 8
        #expect(other.name == "noise-early-strict-10ms-tun-c8")
    }

    @Test func namesAreShellSafe() throws {
        for name in ScenarioMatrix.presetNames {
            let matrix = try ScenarioMatrix.preset(named: name)
            for scenarioName in matrix.scenarios.map(\.name) + matrix.throughput.map(\.name) {
                #expect(scenarioName.allSatisfy { $0.isLetter && $0.isLowercase || $0.isNumber || "-_.".contains($0) })
            }
        }
    }

    @Test func validScenarioValidates() throws {
        try Scenario.test(.tls, .classic, .lazy, rtt: 20).validate()
    }

    @Test func zeroConnectionsAreRejected() {
        var scenario = Scenario.test(.noise, .early, rtt: 10)
        scenario.connections = 0
        #expect(benchErrorCode { try scenario.validate() } == .invalidScenario)
    }

    @Test func negativeWarmupIsRejected() {
        var scenario = Scenario.test(.noise, .early, rtt: 10)
        scenario.warmup = -1
        #expect(benchErrorCode { try scenario.validate() } == .invalidScenario)
    }

    @Test func zeroConcurrencyIsRejected() {
        var scenario = Scenario.test(.noise, .early, rtt: 10)
        scenario.concurrency = 0
        #expect(benchErrorCode { try scenario.validate() } == .invalidScenario)
    }

    @Test func negativeRTTIsRejected() {
        #expect(benchErrorCode { try Scenario.test(.noise, .early, rtt: -1).validate() } == .invalidScenario)
    }

    @Test func rttInSecondsByMistakeIsRejected() {
        #expect(
            benchErrorCode {
                try Scenario.test(.noise, .early, rtt: Scenario.maximumRTTMilliseconds + 1).validate()
            } == .invalidScenario
        )
    }

    @Test func emulatorNameThatNeedsQuotingIsRejected() {
        let scenario = Scenario.test(.noise, .early, rtt: 10, emulator: .init(name: "my relay", delaysConnect: false))
        #expect(benchErrorCode { try scenario.validate() } == .invalidScenario)
    }

    @Test func emptyEmulatorNameIsRejected() {
        let scenario = Scenario.test(.noise, .early, rtt: 10, emulator: .init(name: "", delaysConnect: true))
        #expect(benchErrorCode { try scenario.validate() } == .invalidScenario)
    }

    @Test func throughputScenarioNameAndValidation() throws {
        let scenario = ThroughputScenario(transport: .tls, rttMilliseconds: 10, emulator: .tun)
        #expect(scenario.name == "throughput-tls-10ms-tun")
        #expect(scenario.bytesEachWay == 64 * 1024 * 1024)
        try scenario.validate()
        var empty = scenario
        empty.bytesEachWay = 0
        #expect(benchErrorCode { try empty.validate() } == .invalidScenario)
        var none = scenario
        none.repetitions = 0
        #expect(benchErrorCode { try none.validate() } == .invalidScenario)
    }

    @Test func throughputRateIsBytesPerMicrosecond() {
        let scenario = ThroughputScenario(
            transport: .noise,
            rttMilliseconds: 0,
            emulator: .loopback,
            bytesEachWay: 64_000_000
        )
        #expect(
            ThroughputResult(scenario: scenario, repetition: 0, elapsedMicroseconds: 500_000).megabytesPerSecond == 128
        )
        #expect(
            ThroughputResult(scenario: scenario, repetition: 0, elapsedMicroseconds: nil, failure: "x")
                .megabytesPerSecond == nil
        )
        #expect(ThroughputResult(scenario: scenario, repetition: 0, elapsedMicroseconds: 0).megabytesPerSecond == nil)
    }

    @Test func sampleDeviationFromScenario() {
        let scenario = Scenario.test(.noise, .early, rtt: 10)
        var sample = ConnectionSample(scenario: scenario, index: 0, timestamps: .init(), path: .init())
        #expect(!sample.deviatesFromScenario, "unknown parts are no contradiction")
        sample.path = .init(security: .noise, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: true)
        #expect(!sample.deviatesFromScenario)
        sample.path.earlyMuxerNegotiation = false
        #expect(sample.deviatesFromScenario, "fell back to multistream-select")
        sample.path = .init(security: .tls)
        #expect(sample.deviatesFromScenario)
    }

    @Test func failureTextRoundTrips() {
        let failure = ConnectionSample.Failure(stage: "secureHandshake", reason: "peer closed: EOF")
        #expect(failure.description == "secureHandshake: peer closed: EOF")
        #expect(ConnectionSample.Failure(parsing: failure.description) == failure)
        #expect(ConnectionSample.Failure(parsing: "timed out") == .init(stage: "", reason: "timed out"))
        #expect(ConnectionSample.Failure(stage: "", reason: "timed out").description == "timed out")
    }
}

@Suite struct UpgraderBridgeTests {
    @Test func modesMapOneToOne() {
        for security in Scenario.Security.allCases {
            #expect(Scenario.Security(security.upgradeSecurity) == security)
            #expect(security.upgradeSecurity.rawValue == security.rawValue)
        }
        for negotiation in Scenario.Negotiation.allCases {
            #expect(negotiation.upgradeNegotiation.rawValue == negotiation.rawValue)
        }
        for multistream in Scenario.Multistream.allCases {
            #expect(multistream.multistreamMode.rawValue == multistream.rawValue)
        }
        for stage in ConnectionStage.allCases {
            #expect(ConnectionStage(stage.milestone) == stage)
            #expect(stage.milestone.rawValue == stage.columnName, "same CSV column names as the upgrader")
        }
    }

    @Test func timelineBecomesMicrosecondsSinceTheDial() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var timeline = UpgradeTimeline(start: start)
        timeline.record(.tcpConnected, at: start + .nanoseconds(10_049_600))
        timeline.record(.securityAgreed, at: start + .nanoseconds(20_100_400))
        timeline.record(.handshakeDone, at: start + .microseconds(30_900))
        let timestamps = ConnectionSample.Timestamps(timeline)
        #expect(timestamps == .init(tcpConnected: 10_050, securityAgreed: 20_100, handshakeDone: 30_900))
    }

    @Test func upgradeErrorBecomesStageColonReason() {
        struct Reason: Error, CustomStringConvertible {
            var description: String { "signature invalid" }
        }
        let failure = ConnectionSample.Failure(UpgradeError(stage: .secureHandshake, underlying: Reason()))
        #expect(failure.description == "secure_handshake: signature invalid")
    }

    @Test func failedConnectionKeepsTheStagesItReached() {
        struct Reason: Error, CustomStringConvertible {
            var description: String { "peer ID mismatch" }
        }
        let scenario = Scenario(
            security: .tls, negotiation: .early, multistream: .strict, rttMilliseconds: 0, emulator: .loopback,
            connections: 1, warmup: 0, concurrency: 1
        )
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var timeline = UpgradeTimeline(start: start)
        timeline.record(.tcpConnected, at: start + .microseconds(100))
        timeline.record(.securityAgreed, at: start + .microseconds(250))
        let error = UpgradeError(stage: .secureHandshake, underlying: Reason(), timeline: timeline, security: .tls)
        let sample = ConnectionSample(scenario: scenario, index: 3, failure: error)
        #expect(sample.failed)
        #expect(sample.index == 3)
        #expect(sample.timestamps == .init(tcpConnected: 100, securityAgreed: 250))
        #expect(sample.path == .init(security: .tls))
        #expect(sample.failure?.description == "secure_handshake: peer ID mismatch")

        // In the summary the failed connection counts as reaching its two stages and missing the rest.
        let summary = ScenarioSummary(scenario: scenario, samples: [sample])
        #expect(summary[.securityAgreed].count == 1)
        #expect(summary[.handshakeDone].failures == 1)

        // An error with no timeline (a failure outside an upgrade) reaches nothing.
        let bare = ConnectionSample(scenario: scenario, index: 0, failure: UpgradeError(stage: .tcpConnect, underlying: Reason()))
        #expect(bare.timestamps == .init())
        #expect(bare.path == .init())
    }
}
