import Testing
import UpgradeBenchKit

@Suite struct ScenarioMatrixTests {
    @Test func duplicateNamesAreRejected() {
        let scenario = Scenario.test(.noise, .early, rtt: 10)
        var same = scenario
        same.connections = 3
        #expect(
            benchErrorCode {
                _ = try ScenarioMatrix(name: "x", scenarios: [scenario, same])
            } == .duplicateScenarioName
        )
    }

    @Test func invalidScenarioIsRejected() {
        #expect(
            benchErrorCode {
                _ = try ScenarioMatrix(name: "x", scenarios: [Scenario.test(.noise, .early, rtt: 10, connections: 0)])
            } == .invalidScenario
        )
    }

    @Test func unknownPresetIsRejected() {
        #expect(benchErrorCode { _ = try ScenarioMatrix.preset(named: "huge") } == .unknownPreset)
    }

    @Test func everyPresetBuilds() throws {
        for name in ScenarioMatrix.presetNames {
            let matrix = try ScenarioMatrix.preset(named: name)
            #expect(matrix.name == name)
            #expect(!matrix.scenarios.isEmpty)
            #expect(matrix.scenarios.first?.rttMilliseconds == 0, "\(name): loopback baselines run first")
            #expect(matrix.scenarios.map(\.rttMilliseconds) == matrix.scenarios.map(\.rttMilliseconds).sorted())
        }
    }

    /// Every emulated scenario of every preset has its loopback baseline and its classic or early
    /// counterpart, so the report can compute everything the check gate needs.
    @Test func everyPresetHasBaselinesAndPairs() throws {
        for name in ScenarioMatrix.presetNames {
            let matrix = try ScenarioMatrix.preset(named: name)
            let names = Set(matrix.scenarios.map(\.name))
            for scenario in matrix.scenarios {
                var counterpart = scenario
                counterpart.negotiation = scenario.negotiation == .early ? .classic : .early
                #expect(names.contains(counterpart.name), "\(name): \(scenario.name) has no counterpart")
                var baseline = scenario
                baseline.rttMilliseconds = 0
                baseline.emulator = .loopback
                #expect(names.contains(baseline.name), "\(name): \(scenario.name) has no baseline")
            }
        }
    }

    @Test func quickHasOneEmulatedRTTAndEveryPath() throws {
        let matrix = try ScenarioMatrix.quick()
        #expect(Set(matrix.scenarios.map(\.rttMilliseconds)) == [0, 20])
        #expect(Set(matrix.scenarios.map(\.pathName)).count == 8)
        #expect(matrix.estimatedDuration() < 60)
    }

    /// The default preset must finish within three minutes on two cores; its conservative estimate
    /// must leave at least 30 s of that for start-up and emulator calibration.
    @Test func defaultFitsInThreeMinutes() throws {
        let matrix = try ScenarioMatrix.standard()
        let emulated = Set(matrix.scenarios.map(\.rttMilliseconds)).subtracting([0])
        #expect(matrix.scenarios.contains { $0.rttMilliseconds == 0 })
        #expect(emulated.count >= 2)
        #expect(Set(matrix.scenarios.map(\.pathName)).count == 8)
        #expect(matrix.estimatedDuration() <= 150, "estimated \(matrix.estimatedDuration()) s")
        #expect(!matrix.throughput.isEmpty)
        #expect(Set(matrix.throughput.map(\.transport)) == Set(ThroughputScenario.Transport.allCases))
    }

    @Test func productOrdersClassicRightBeforeEarly() {
        let scenarios = ScenarioMatrix.product(
            rttMilliseconds: [10, 0],
            emulator: .tun,
            connections: { _ in 1 },
            warmup: 0
        )
        #expect(scenarios.count == 16)
        #expect(scenarios[0].name == "noise-classic-strict-0ms-loopback-c1")
        #expect(scenarios[1].name == "noise-early-strict-0ms-loopback-c1")
        #expect(scenarios[8].name == "noise-classic-strict-10ms-tun-c1")
    }

    @Test func estimateFollowsTheModel() {
        // 10 connections × (6 round trips × 10.3 ms + 2 ms) for strict classic Noise.
        let scenario = Scenario.test(.noise, .classic, .strict, rtt: 10, connections: 10)
        #expect(abs(scenario.estimatedSeconds() - 10 * (6 * 0.0103 + 0.002)) < 1e-9)
        var concurrent = scenario
        concurrent.concurrency = 2
        #expect(abs(concurrent.estimatedSeconds() - scenario.estimatedSeconds() / 2) < 1e-9)
    }
}
