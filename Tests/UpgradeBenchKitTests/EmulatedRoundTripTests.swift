import NetworkEmulation
import Testing
@testable import UpgradeBenchKit

/// Every upgrade path, Noise and TLS, through every emulator this machine runs at 20 ms RTT, as
/// the runner measures it: the critical path of every connection crosses the network exactly as
/// often as ``RoundTripModel`` says, and no stage arrives sooner than its round trips allow.
///
/// Both properties hold on a busy machine: a flight count is the causal structure of the
/// exchange, which load cannot change, and load only ever adds time. How close the *time* on the
/// network comes to the model is a measurement, and it is checked where measurements belong: by
/// `bench --quick --check` in the test command, with its tolerance and its reasons
/// (``CheckTolerances``).
@Suite(.serialized) struct EmulatedRoundTripTests {
    static let rttMilliseconds = 20

    static func isAvailable(_ kind: NetworkEmulatorKind) async -> Bool {
        await NetworkEmulator.availability()[kind]?.isAvailable == true
    }

    @Test(.enabled("the TUN emulator needs root (network namespaces, /dev/net/tun)") { await isAvailable(.tun) })
    func flightsMatchTheModelOverTUN() async throws {
        try await Self.run(.tun, emulator: .tun)
    }

    @Test(.enabled("the relay emulator is unavailable") { await isAvailable(.relay) })
    func flightsMatchTheModelOverTheRelay() async throws {
        // As `bench` names it: the relay's connect helper returns one emulated round trip after
        // connect(2), so its connect counts like the TUN path's.
        try await Self.run(.relay, emulator: Scenario.Emulator(name: "relay", delaysConnect: true))
    }

    static func run(_ kind: NetworkEmulatorKind, emulator: Scenario.Emulator) async throws {
        let scenarios = ScenarioMatrix.product(
            rttMilliseconds: [Self.rttMilliseconds],
            emulator: emulator,
            connections: { _ in 4 },
            warmup: 1
        )
        let matrix = try ScenarioMatrix(name: "round-trip-test", scenarios: scenarios, throughput: [])
        let runner = BenchRunner(emulator: .kind(kind))
        let output = try await runner.run(matrix, progress: ProgressReporter(matrix: matrix, output: .init(isTerminal: false) { _ in }))
        let model = RoundTripModel.standard
        let samples = output.results.allSamples
        #expect(samples.count == scenarios.count * 4)
        for sample in samples {
            let name = "\(sample.scenario.name) #\(sample.index)"
            #expect(sample.failure == nil, "\(name): \(String(describing: sample.failure))")
            #expect(sample.path.earlyMuxerNegotiation == (sample.scenario.negotiation == .early), "\(name)")
            let flights = try #require(sample.flights, "\(name): no critical path (listener not matched)")
            for stage in ConnectionStage.allCases {
                let roundTrips = model.roundTrips(to: stage, for: sample.scenario)
                #expect(
                    flights[stage] == UInt64(2 * roundTrips),
                    "\(name) \(stage.columnName): \(String(describing: flights[stage])) flights, model \(roundTrips) round trips"
                )
                let reached = try #require(sample.timestamps[stage], "\(name) \(stage.columnName)")
                #expect(
                    reached >= UInt64(roundTrips * Self.rttMilliseconds * 1000),
                    "\(name) \(stage.columnName) at \(reached) µs beats \(roundTrips) round trips of \(Self.rttMilliseconds) ms"
                )
            }
            // The listener's end was matched and its timeline lies inside the dialer's.
            let listener = try #require(sample.listener, "\(name): no listener timeline")
            let accepted = try #require(listener.accepted)
            let ready = try #require(listener.muxerReady)
            #expect(accepted >= (sample.timestamps.tcpConnected ?? 0) / 2, "\(name)")
            #expect(ready <= (sample.timestamps.firstEcho ?? 0), "\(name)")
        }
        // The emulator's own share of the machine was recorded for every scenario it carried.
        let load = output.emulators.flatMap(\.load)
        #expect(load.count == scenarios.count)
        #expect(load.allSatisfy { $0.wallSeconds > 0 && $0.cpuSeconds >= 0 && $0.forwarded > 0 })
    }
}
