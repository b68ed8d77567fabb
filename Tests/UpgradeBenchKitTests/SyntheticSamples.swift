import UpgradeBenchKit

/// Deterministic synthetic connections: stage k of a connection is reached at
/// `compute(k) + (model(k) + extra(k)) × RTT + jitter(k)`, so tests know the exact answer;
/// `jitter(k)` is the sum of one uniform draw per stage up to k. The critical path's time in
/// flight is `(model(k) + extra(k)) × path RTT` (the requested RTT unless ``pathRTTMicroseconds``
/// says otherwise), with `2 × model(k)` flights, unless ``emitsCriticalPaths`` is off (a path
/// whose listener was not matched).
struct SyntheticSamples {
    /// Cumulative computation per stage in microseconds, independent of the RTT.
    var computeMicroseconds: [ConnectionStage: UInt64] = [
        .tcpConnected: 40, .securityAgreed: 120, .handshakeDone: 700, .muxerReady: 780, .firstEcho: 900,
    ]
    /// Uniform jitter in [0, jitter) µs added at each stage.
    var jitterMicroseconds: UInt64 = 0
    var model = RoundTripModel.standard
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    /// Whether samples carry critical-path splits.
    var emitsCriticalPaths = true
    /// The path's real round-trip time, µs, when it differs from the requested RTT (the time in
    /// flight then follows it, while the stage times keep the requested RTT plus the difference).
    var pathRTTMicroseconds: Double? = nil

    /// `count` connections of `scenario`; `extraRoundTrips[k]` is added from stage k onwards (a
    /// delay at one stage delays every later stage too).
    mutating func samples(
        for scenario: Scenario,
        count: Int? = nil,
        extraRoundTrips: [ConnectionStage: Double] = [:]
    ) -> [ConnectionSample] {
        (0..<(count ?? scenario.connections)).map { index in
            var timestamps = ConnectionSample.Timestamps()
            var inFlight = ConnectionSample.Timestamps()
            var flights = ConnectionSample.Timestamps()
            var extra = 0.0
            // Jitter accumulates, so each connection's timestamps increase like real ones.
            var jitter: UInt64 = 0
            let rtt = scenario.rttMilliseconds > 0 ? self.pathRTTMicroseconds ?? Double(scenario.rttMilliseconds) * 1000 : 0
            for stage in ConnectionStage.allCases {
                extra += extraRoundTrips[stage] ?? 0
                jitter += self.jitter()
                let modelled = self.model.roundTrips(to: stage, for: scenario)
                let network = UInt64(((Double(modelled) + extra) * rtt).rounded())
                timestamps[stage] = (self.computeMicroseconds[stage] ?? 0) + network + jitter
                inFlight[stage] = network
                flights[stage] = UInt64(2 * modelled)
            }
            var sample = ConnectionSample(
                scenario: scenario,
                index: index,
                timestamps: timestamps,
                path: .init(
                    security: scenario.security,
                    muxer: "/yamux/1.0.0",
                    earlyMuxerNegotiation: scenario.negotiation == .early
                )
            )
            if self.emitsCriticalPaths {
                sample.network = inFlight
                sample.flights = flights
            }
            return sample
        }
    }

    /// SplitMix64: the same sequence on every platform and run.
    private mutating func jitter() -> UInt64 {
        guard self.jitterMicroseconds > 0 else { return 0 }
        self.seed &+= 0x9E37_79B9_7F4A_7C15
        var z = self.seed
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return z % self.jitterMicroseconds
    }
}

extension Scenario {
    /// A scenario for tests with small counts.
    static func test(
        _ security: Security = .noise,
        _ negotiation: Negotiation,
        _ multistream: Multistream = .strict,
        rtt: Int,
        emulator: Emulator? = nil,
        connections: Int = 20,
        concurrency: Int = 1
    ) -> Scenario {
        Scenario(
            security: security,
            negotiation: negotiation,
            multistream: multistream,
            rttMilliseconds: rtt,
            emulator: emulator ?? (rtt == 0 ? .loopback : .tun),
            connections: connections,
            warmup: 0,
            concurrency: concurrency
        )
    }
}

/// Results for `scenarios`, every one filled by `generator` with model-conforming samples
/// unless `override` returns samples for it.
func syntheticResults(
    _ scenarios: [Scenario],
    generator: inout SyntheticSamples,
    override: (Scenario, inout SyntheticSamples) -> [ConnectionSample]? = { _, _ in nil }
) -> BenchResults {
    var results = BenchResults(scenarios: scenarios)
    for scenario in scenarios {
        for sample in override(scenario, &generator) ?? generator.samples(for: scenario) {
            results.record(sample)
        }
    }
    return results
}

/// The code of the ``UpgradeBenchError`` `body` throws; `nil` if it throws nothing (or another error).
func benchErrorCode(_ body: () throws -> Void) -> UpgradeBenchError.Code? {
    do {
        try body()
        return nil
    } catch let error as UpgradeBenchError {
        return error.code
    } catch {
        return nil
    }
}
