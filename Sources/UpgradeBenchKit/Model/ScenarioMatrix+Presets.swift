// MARK: - Presets

extension ScenarioMatrix {
    /// The names ``preset(named:emulator:)`` accepts, smallest first.
    public static let presetNames = ["quick", "default", "extended", "concurrent"]

    /// The preset called `name`, with `emulator` for every RTT above 0.
    ///
    /// - Throws: ``UpgradeBenchError/Code/unknownPreset``.
    public static func preset(named name: String, emulator: Scenario.Emulator = .tun) throws -> ScenarioMatrix {
        switch name {
        case "quick": return try .quick(emulator: emulator)
        case "default": return try .standard(emulator: emulator)
        case "extended": return try .extended(emulator: emulator)
        case "concurrent": return try .concurrent(emulator: emulator)
        default: throw UpgradeBenchError.unknownPreset(name, known: self.presetNames)
        }
    }

    /// For CI (`bench --quick --check`): every path at loopback and at one emulated RTT of 20 ms,
    /// enough connections for stable medians, and one small throughput run at loopback. 20 ms
    /// rather than 10 keeps the ±0.2 RTT tolerance (4 ms) well above scheduling jitter on a busy
    /// 2-core machine. Estimated at about 25 s (``estimatedDuration(model:)``).
    public static func quick(emulator: Scenario.Emulator = .tun) throws -> ScenarioMatrix {
        try ScenarioMatrix(
            name: "quick",
            scenarios: self.product(
                rttMilliseconds: [0, 20],
                emulator: emulator,
                connections: { $0 == 0 ? 50 : 30 },
                warmup: 3
            ),
            throughput: ThroughputScenario.Transport.allCases.map {
                ThroughputScenario(transport: $0, rttMilliseconds: 0, emulator: .loopback, bytesEachWay: 16 << 20)
            }
        )
    }

    /// `bench` without options: every path at loopback, 10 ms and 20 ms, and throughput at
    /// loopback and 10 ms. Sized to finish within three minutes on two cores: estimated at
    /// about 135 s (``estimatedDuration(model:)``), leaving room for start-up and calibration.
    public static func standard(emulator: Scenario.Emulator = .tun) throws -> ScenarioMatrix {
        try ScenarioMatrix(
            name: "default",
            scenarios: self.product(
                rttMilliseconds: [0, 10, 20],
                emulator: emulator,
                connections: { $0 == 0 ? 300 : 100 },
                warmup: 5
            ),
            throughput: self.throughputProduct(
                rttMilliseconds: [0, 10],
                emulator: emulator,
                repetitions: { $0 == 0 ? 3 : 1 }
            )
        )
    }

    /// Every path from loopback to 100 ms, with more connections; throughput at 0, 10 and 50 ms.
    /// Estimated at about 25 minutes.
    public static func extended(emulator: Scenario.Emulator = .tun) throws -> ScenarioMatrix {
        try ScenarioMatrix(
            name: "extended",
            scenarios: self.product(
                rttMilliseconds: [0, 5, 10, 20, 50, 100],
                emulator: emulator,
                connections: { $0 == 0 ? 1000 : 200 },
                warmup: 10
            ),
            throughput: self.throughputProduct(
                rttMilliseconds: [0, 10, 50],
                emulator: emulator,
                repetitions: { _ in 3 }
            )
        )
    }

    /// Strict multistream-select at loopback and 20 ms with 1, 8 and 32 connections in flight:
    /// shows how much of the saving survives when the CPU is shared. Estimated at about 3 minutes.
    public static func concurrent(emulator: Scenario.Emulator = .tun) throws -> ScenarioMatrix {
        try ScenarioMatrix(
            name: "concurrent",
            scenarios: self.product(
                multistreams: [.strict],
                rttMilliseconds: [0, 20],
                emulator: emulator,
                concurrencies: [1, 8, 32],
                connections: { $0 == 0 ? 500 : 256 },
                warmup: 8
            )
        )
    }

    private static func throughputProduct(
        rttMilliseconds: [Int],
        emulator: Scenario.Emulator,
        repetitions: (Int) -> Int
    ) -> [ThroughputScenario] {
        rttMilliseconds.sorted().flatMap { rtt in
            ThroughputScenario.Transport.allCases.map {
                ThroughputScenario(
                    transport: $0,
                    rttMilliseconds: rtt,
                    emulator: rtt == 0 ? .loopback : emulator,
                    repetitions: repetitions(rtt)
                )
            }
        }
    }
}
