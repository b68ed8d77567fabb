/// `meta.json`: what a result can only be interpreted with: code version, machine, library
/// versions, the emulator and its calibration, and how the run was started.
public struct RunMetadata: Hashable, Sendable, Codable {
    /// The source the benchmark was built from.
    public struct Git: Hashable, Sendable, Codable {
        /// `git rev-parse HEAD`, `nil` outside a git checkout.
        public var commit: String?
        /// Whether tracked files had uncommitted changes; `nil` when unknown.
        public var dirty: Bool?

        /// Creates a description.
        public init(commit: String?, dirty: Bool?) {
            self.commit = commit
            self.dirty = dirty
        }
    }

    /// The machine.
    public struct Machine: Hashable, Sendable, Codable {
        /// CPU model name (`/proc/cpuinfo` "model name").
        public var cpu: String?
        /// Online logical CPUs.
        public var cores: Int
        /// Physical memory in bytes.
        public var memoryBytes: UInt64
        /// `uname`: system, release, version and machine.
        public var kernel: String
        /// Host name.
        public var hostname: String

        /// Creates a description.
        public init(cpu: String?, cores: Int, memoryBytes: UInt64, kernel: String, hostname: String) {
            self.cpu = cpu
            self.cores = cores
            self.memoryBytes = memoryBytes
            self.kernel = kernel
            self.hostname = hostname
        }
    }

    /// Library versions, as the running process sees them.
    public struct Libraries: Hashable, Sendable, Codable {
        /// `OpenSSL_version(OPENSSL_VERSION)` at run time.
        public var openssl: String
        /// `OPENSSL_VERSION_TEXT` of the headers built against.
        public var opensslHeaders: String
        /// `sodium_version_string()`.
        public var libsodium: String
        /// `glibc <version>` or `jemalloc <version>`, whichever `malloc` resolves to.
        public var allocator: String

        /// Creates a description.
        public init(openssl: String, opensslHeaders: String, libsodium: String, allocator: String) {
            self.openssl = openssl
            self.opensslHeaders = opensslHeaders
            self.libsodium = libsodium
            self.allocator = allocator
        }
    }

    /// How the build was configured.
    public struct Build: Hashable, Sendable, Codable {
        /// `release` or `debug`: debug numbers are not benchmark numbers.
        public var configuration: String
        /// The Swift compiler major.minor version family the binary was built with.
        public var swiftCompiler: String

        /// Creates a description.
        public init(configuration: String, swiftCompiler: String) {
            self.configuration = configuration
            self.swiftCompiler = swiftCompiler
        }
    }

    /// The emulated network.
    public struct Emulator: Hashable, Sendable, Codable {
        /// The emulator name, as in ``Scenario/Emulator/name``.
        public var name: String
        /// Whether it delays `connect()`.
        public var delaysConnect: Bool
        /// Free text from the runner: mechanism, interfaces, spinning, anything that affects precision.
        public var details: String?
        /// Measured round trips at each requested RTT, before the scenarios ran.
        public var calibration: [EmulatorCalibration]
        /// What the emulator's own thread did during each scenario it carried.
        public var load: [EmulatorLoad]

        /// Creates a description.
        public init(
            name: String,
            delaysConnect: Bool,
            details: String? = nil,
            calibration: [EmulatorCalibration] = [],
            load: [EmulatorLoad] = []
        ) {
            self.name = name
            self.delaysConnect = delaysConnect
            self.details = details
            self.calibration = calibration
            self.load = load
        }

        /// `first` with the calibrations and loads of `second` appended per emulator (a scenario
        /// measured again on a new path), and emulators only `second` used added.
        public static func merging(_ first: [Emulator], _ second: [Emulator]) -> [Emulator] {
            var merged = first
            for emulator in second {
                if let index = merged.firstIndex(where: { $0.name == emulator.name }) {
                    merged[index].calibration += emulator.calibration
                    merged[index].load += emulator.load
                } else {
                    merged.append(emulator)
                }
            }
            return merged
        }

        private enum CodingKeys: String, CodingKey {
            case name, delaysConnect, details, calibration, load
        }

        /// Reads a description; `load` is absent from folders written before it was recorded.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.name = try container.decode(String.self, forKey: .name)
            self.delaysConnect = try container.decode(Bool.self, forKey: .delaysConnect)
            self.details = try container.decodeIfPresent(String.self, forKey: .details)
            self.calibration = try container.decode([EmulatorCalibration].self, forKey: .calibration)
            self.load = try container.decodeIfPresent([EmulatorLoad].self, forKey: .load) ?? []
        }
    }

    /// The results folder name.
    public var name: String
    /// The matrix preset (or label).
    public var matrix: String
    /// `CommandLine.arguments`.
    public var commandLine: [String]
    /// ISO 8601 UTC time the run started.
    public var startedAt: String
    /// ISO 8601 UTC time the results were written.
    public var finishedAt: String?
    /// The source.
    public var git: Git
    /// The machine.
    public var machine: Machine
    /// The build.
    public var build: Build
    /// Library versions.
    public var libraries: Libraries
    /// The emulators used, with calibration.
    public var emulators: [Emulator]
    /// The upgrade scenarios, with their counts (``SamplesCSV/parse(_:scenarios:)`` needs them).
    public var scenarios: [Scenario]
    /// The throughput scenarios.
    public var throughputScenarios: [ThroughputScenario]
    /// How TLS certificates were made: `per-host` (one per host identity, as go and rust do) or
    /// `per-connection`; absent in folders written before the choice existed (they used
    /// `per-connection`).
    public var tlsCertificates: String?
    /// Scenarios `--check` measured again because the machine visibly disturbed an earlier
    /// measurement, each with why (the results hold the last measurement); absent when none was.
    public var remeasured: [String]?
    /// Whether the run is still going, completed, or ended early; absent in folders written
    /// before it was recorded, which only completed runs wrote.
    public var status: RunStatus?
    /// How far the run got: scenarios done, of how many, and the one in flight; absent in folders
    /// written before it was recorded.
    public var progress: RunProgress?
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`), when ``status`` is
    /// ``RunStatus/interrupted``.
    public var signal: String?
    /// What ended the run, when ``status`` is ``RunStatus/failed``.
    public var error: String?
    /// The other implementations the scenarios name (`dialer_impl`, `listener_impl`), as their
    /// adapters announced themselves; absent when UpgradeBench was at both ends.
    public var peers: [PeerRecord]?

    /// Another implementation in the run (docs/peers.md).
    public struct PeerRecord: Hashable, Sendable, Codable {
        /// The adapter name, as in the scenarios (`go`).
        public var name: String
        /// The implementation, as the adapter says (`go`).
        public var implementation: String
        /// Its version (`go-libp2p v0.32.1`).
        public var version: String
        /// Whether it offers early muxer negotiation as a listener.
        public var offersEarlyMuxer: Bool

        /// Creates a record.
        public init(name: String, implementation: String, version: String, offersEarlyMuxer: Bool) {
            self.name = name
            self.implementation = implementation
            self.version = version
            self.offersEarlyMuxer = offersEarlyMuxer
        }
    }

    /// Creates metadata; ``collect(name:matrix:commandLine:emulators:startedAt:gitDirectory:)`` fills in the machine.
    public init(
        name: String,
        matrix: String,
        commandLine: [String],
        startedAt: String,
        finishedAt: String? = nil,
        git: Git,
        machine: Machine,
        build: Build,
        libraries: Libraries,
        emulators: [Emulator],
        scenarios: [Scenario],
        throughputScenarios: [ThroughputScenario],
        tlsCertificates: String? = nil
    ) {
        self.name = name
        self.matrix = matrix
        self.commandLine = commandLine
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.git = git
        self.machine = machine
        self.build = build
        self.libraries = libraries
        self.emulators = emulators
        self.scenarios = scenarios
        self.throughputScenarios = throughputScenarios
        self.tlsCertificates = tlsCertificates
    }
}

/// Where a run stands, as `meta.json` records it.
public enum RunStatus: String, Hashable, Sendable, Codable, CaseIterable {
    /// Measuring; also what a folder says whose run was killed outright (SIGKILL, a crash) or
    /// lost its machine, since nothing could record the end.
    case running
    /// Every scenario was measured and every file written.
    case completed
    /// A signal (SIGINT, SIGTERM) ended the run; the files hold the scenarios done before it.
    case interrupted
    /// An error ended the run; the files hold the scenarios done before it.
    case failed
}

/// How far a run got: what `meta.json` says while it runs and after it ended.
public struct RunProgress: Hashable, Sendable, Codable {
    /// Scenarios in the run, upgrade and throughput.
    public var total: Int
    /// Scenarios whose results are in the folder: the length of ``completed``.
    public var done: Int
    /// The names of the scenarios whose results are in the folder, in the order they finished.
    public var completed: [String]
    /// The scenario being measured, or measured again (`--check`), when `meta.json` was last
    /// written; `nil` between scenarios and once the run completed.
    public var inFlight: String?

    /// Progress of a run of `total` scenarios that has not finished any yet.
    public init(total: Int) {
        self.total = total
        self.done = 0
        self.completed = []
        self.inFlight = nil
    }

    /// Records that `name` finished and its results are in the folder.
    public mutating func finished(_ name: String) {
        if !self.completed.contains(name) {
            self.completed.append(name)
            self.done = self.completed.count
        }
        if self.inFlight == name { self.inFlight = nil }
    }
}

/// Round trips measured through the emulator at one requested RTT (for example TCP ping-pong
/// over the emulated path), recorded so a reader can see how precise the delay was.
public struct EmulatorCalibration: Hashable, Sendable, Codable {
    /// The requested RTT.
    public var requestedRTTMilliseconds: Int
    /// Round trips measured.
    public var samples: Int
    /// Fastest round trip, µs.
    public var minimumMicroseconds: UInt64
    /// Median round trip, µs (nearest rank).
    public var p50Microseconds: UInt64
    /// 99th percentile, µs (nearest rank).
    public var p99Microseconds: UInt64
    /// Slowest round trip, µs.
    public var maximumMicroseconds: UInt64

    /// Calibration from measured round trips in microseconds; `nil` when there are none.
    public init?(requestedRTTMilliseconds: Int, roundTripsMicroseconds: [UInt64]) {
        guard let statistics = LatencyStatistics(values: roundTripsMicroseconds) else { return nil }
        self.requestedRTTMilliseconds = requestedRTTMilliseconds
        self.samples = statistics.count
        self.minimumMicroseconds = statistics.minimum
        self.p50Microseconds = statistics.p50
        self.p99Microseconds = statistics.p99
        self.maximumMicroseconds = statistics.maximum
    }
}

/// The emulator's own share of the machine while one scenario ran: the CPU time of its
/// forwarding thread against the scenario's wall time, and how late it delivered.
///
/// On a two-core machine the dialer, the listener and the emulator share the cores; a share near
/// zero means the emulator stayed out of the upgrades it delayed.
public struct EmulatorLoad: Hashable, Sendable, Codable {
    /// The scenario carried.
    public var scenario: String
    /// Wall time of the scenario (warm-up included), seconds.
    public var wallSeconds: Double
    /// CPU time the emulator's thread used meanwhile, seconds.
    public var cpuSeconds: Double
    /// Packets (TUN) or chunks (relay) forwarded meanwhile.
    public var forwarded: Int
    /// Mean lateness of those forwards (time between a packet's deadline and its write), µs.
    public var meanLatenessMicroseconds: Double
    /// Largest lateness since the path started (this scenario or an earlier one on it), µs.
    public var maximumLatenessMicroseconds: Double

    /// ``cpuSeconds`` over ``wallSeconds``: the fraction of one core the emulator used.
    public var cpuShare: Double { self.wallSeconds > 0 ? self.cpuSeconds / self.wallSeconds : 0 }

    /// Creates a record.
    public init(
        scenario: String,
        wallSeconds: Double,
        cpuSeconds: Double,
        forwarded: Int,
        meanLatenessMicroseconds: Double,
        maximumLatenessMicroseconds: Double
    ) {
        self.scenario = scenario
        self.wallSeconds = wallSeconds
        self.cpuSeconds = cpuSeconds
        self.forwarded = forwarded
        self.meanLatenessMicroseconds = meanLatenessMicroseconds
        self.maximumLatenessMicroseconds = maximumLatenessMicroseconds
    }
}
