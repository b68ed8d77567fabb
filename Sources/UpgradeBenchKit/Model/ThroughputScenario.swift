/// A bulk-transfer measurement: one yamux stream over an upgraded connection carrying
/// ``bytesEachWay`` in both directions at once, compared with raw TCP on the same path.
public struct ThroughputScenario: Hashable, Sendable, Codable {
    /// What carries the bytes.
    public enum Transport: String, Hashable, Sendable, Codable, CaseIterable {
        /// Plain TCP, no upgrade: the ceiling of the path.
        case tcp
        /// One yamux stream over Noise.
        case noise
        /// One yamux stream over TLS 1.3.
        case tls
    }

    /// The transport.
    public var transport: Transport
    /// The requested round-trip time in milliseconds; 0 means loopback.
    public var rttMilliseconds: Int
    /// The network path.
    public var emulator: Scenario.Emulator
    /// Bytes sent in each direction.
    public var bytesEachWay: Int
    /// How many transfers to measure (each on a fresh connection).
    public var repetitions: Int

    /// 64 MiB: large enough that the handshake and slow start are a small part of the time.
    public static let defaultBytesEachWay = 64 << 20

    /// Creates a throughput scenario.
    public init(
        transport: Transport,
        rttMilliseconds: Int,
        emulator: Scenario.Emulator,
        bytesEachWay: Int = ThroughputScenario.defaultBytesEachWay,
        repetitions: Int = 1
    ) {
        self.transport = transport
        self.rttMilliseconds = rttMilliseconds
        self.emulator = emulator
        self.bytesEachWay = bytesEachWay
        self.repetitions = repetitions
    }

    /// The stable, shell-safe name, e.g. `throughput-noise-10ms-tun`.
    public var name: String {
        "throughput-\(self.transport.rawValue)-\(self.rttMilliseconds)ms-\(Scenario.shellSafe(self.emulator.name))"
    }

    /// Throws ``UpgradeBenchError/Code/invalidScenario`` when the scenario cannot be run.
    public func validate() throws {
        guard self.bytesEachWay >= 1 else {
            throw UpgradeBenchError.invalidScenario("\(self.name): bytesEachWay must be at least 1")
        }
        guard self.repetitions >= 1 else {
            throw UpgradeBenchError.invalidScenario("\(self.name): repetitions must be at least 1")
        }
        guard self.rttMilliseconds >= 0, self.rttMilliseconds <= Scenario.maximumRTTMilliseconds else {
            throw UpgradeBenchError.invalidScenario("\(self.name): RTT out of range")
        }
    }
}

/// One measured transfer of a ``ThroughputScenario``.
public struct ThroughputResult: Hashable, Sendable {
    /// The scenario.
    public var scenario: ThroughputScenario
    /// The repetition, from 0.
    public var repetition: Int
    /// Microseconds from the first payload byte written until both directions were complete
    /// (the dialer received every byte of the listener's direction and the listener confirmed
    /// every byte of the dialer's); `nil` when the transfer failed.
    public var elapsedMicroseconds: UInt64?
    /// Why the transfer failed, `nil` if it did not.
    public var failure: String?

    /// Creates a result.
    public init(scenario: ThroughputScenario, repetition: Int, elapsedMicroseconds: UInt64?, failure: String? = nil) {
        self.scenario = scenario
        self.repetition = repetition
        self.elapsedMicroseconds = elapsedMicroseconds
        self.failure = failure
    }

    /// Throughput per direction in MB/s (10^6 bytes per second), `nil` if the transfer failed.
    public var megabytesPerSecond: Double? {
        guard self.failure == nil, let elapsed = self.elapsedMicroseconds, elapsed > 0 else { return nil }
        // bytes / µs is exactly MB/s.
        return Double(self.scenario.bytesEachWay) / Double(elapsed)
    }
}
