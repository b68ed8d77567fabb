/// One cell of the benchmark matrix: how the dialer upgrades its TCP connections, over which
/// network path, and how many connections to measure.
///
/// A scenario is a plain value the runner reads; it does not run anything itself. Its ``name`` is
/// stable and shell-safe because result files (`<name>.hgrm`, plot data) are named after it.
public struct Scenario: Hashable, Sendable, Codable {
    /// The security protocol selected with multistream-select (docs/wire.md §4, §5).
    public enum Security: String, Hashable, Sendable, Codable, CaseIterable {
        /// Noise XX, `/noise`.
        case noise
        /// TLS 1.3, `/tls/1.0.0`.
        case tls

        /// The multistream-select protocol ID the dialer proposes.
        public var protocolID: String {
            switch self {
            case .noise: "/noise"
            case .tls: "/tls/1.0.0"
            }
        }
    }

    /// How the muxer is agreed (docs/wire.md §0, §6).
    public enum Negotiation: String, Hashable, Sendable, Codable, CaseIterable {
        /// multistream-select for `/yamux/1.0.0` inside the secure channel, after the handshake.
        case classic
        /// Muxer lists carried in the handshake (Noise extensions, TLS ALPN).
        case early
    }

    /// How the dialer runs every multistream-select negotiation it starts (docs/wire.md §2.2, §2.5).
    public enum Multistream: String, Hashable, Sendable, Codable, CaseIterable {
        /// Wait for the listener's echo before sending any bytes of the selected protocol.
        case strict
        /// With a single candidate, treat it as selected at once and pipeline the protocol's first
        /// bytes behind the proposal (rust-libp2p `V1Lazy`); the echo is checked on first read.
        case lazy
    }

    /// The network path the connections take.
    ///
    /// The runner owns the actual emulator; the driver only needs its name (for files and tables)
    /// and whether it delays the TCP handshake, which changes the theoretical round-trip counts.
    public struct Emulator: Hashable, Sendable, Codable {
        /// Shell-safe name; written to CSV files and used in ``Scenario/name``.
        public var name: String
        /// Whether `connect()` itself waits one emulated round trip.
        ///
        /// A packet delayer between network namespaces (TUN) delays SYN and SYN-ACK like any packet;
        /// a delaying TCP relay accepts the dialer's connection locally and does not (docs/machine.md,
        /// "Delay emulation"). With a relay every stage after the dial happens one RTT earlier.
        public var delaysConnect: Bool

        /// Creates an emulator description.
        public init(name: String, delaysConnect: Bool) {
            self.name = name
            self.delaysConnect = delaysConnect
        }

        /// Plain loopback TCP, no emulation: the baseline at RTT 0.
        public static let loopback = Emulator(name: "loopback", delaysConnect: true)
        /// A userspace packet delayer on TUN devices between two network namespaces.
        public static let tun = Emulator(name: "tun", delaysConnect: true)
        /// A delaying TCP relay: data is delayed, the dialer's `connect()` is not.
        public static let relay = Emulator(name: "relay", delaysConnect: false)
    }

    /// The security protocol.
    public var security: Security
    /// Classic or early muxer negotiation.
    public var negotiation: Negotiation
    /// Strict or lazy multistream-select on the dialer.
    public var multistream: Multistream
    /// The requested round-trip time in milliseconds; 0 means loopback without delay.
    public var rttMilliseconds: Int
    /// The network path.
    public var emulator: Emulator
    /// Connections measured and recorded.
    public var connections: Int
    /// Connections run first and not recorded (warm caches, JIT-free but lazy allocations, ARP).
    public var warmup: Int
    /// Connections in flight at once.
    public var concurrency: Int

    /// Creates a scenario; ``validate()`` checks that it can be run.
    public init(
        security: Security,
        negotiation: Negotiation,
        multistream: Multistream,
        rttMilliseconds: Int,
        emulator: Emulator,
        connections: Int,
        warmup: Int = 0,
        concurrency: Int = 1
    ) {
        self.security = security
        self.negotiation = negotiation
        self.multistream = multistream
        self.rttMilliseconds = rttMilliseconds
        self.emulator = emulator
        self.connections = connections
        self.warmup = warmup
        self.concurrency = concurrency
    }

    /// The stable, shell-safe name, e.g. `noise-early-strict-10ms-tun-c1`.
    ///
    /// It names every identifying field (not the connection counts), so two scenarios of one
    /// matrix share a name only if they measure the same thing.
    public var name: String {
        "\(self.pathName)-\(self.rttMilliseconds)ms-\(Self.shellSafe(self.emulator.name))-c\(self.concurrency)"
    }

    /// The upgrade path without the network: `noise-early-strict`.
    public var pathName: String {
        "\(self.security.rawValue)-\(self.negotiation.rawValue)-\(self.multistream.rawValue)"
    }

    /// Throws ``UpgradeBenchError/Code/invalidScenario`` when the scenario cannot be run.
    public func validate() throws {
        guard self.connections >= 1 else {
            throw UpgradeBenchError.invalidScenario(
                "\(self.name): connections must be at least 1, is \(self.connections)"
            )
        }
        guard self.warmup >= 0 else {
            throw UpgradeBenchError.invalidScenario("\(self.name): warmup must not be negative, is \(self.warmup)")
        }
        guard self.concurrency >= 1 else {
            throw UpgradeBenchError.invalidScenario(
                "\(self.name): concurrency must be at least 1, is \(self.concurrency)"
            )
        }
        guard self.rttMilliseconds >= 0, self.rttMilliseconds <= Self.maximumRTTMilliseconds else {
            throw UpgradeBenchError.invalidScenario(
                "\(self.name): RTT must be in 0...\(Self.maximumRTTMilliseconds) ms, is \(self.rttMilliseconds)"
            )
        }
        guard !self.emulator.name.isEmpty, Self.shellSafe(self.emulator.name) == self.emulator.name else {
            throw UpgradeBenchError.invalidScenario(
                "emulator name \"\(self.emulator.name)\" must be non-empty and use only a-z, 0-9, _ and ."
            )
        }
    }

    /// RTTs above ten seconds are certainly a unit mistake (seconds for milliseconds).
    public static let maximumRTTMilliseconds = 10_000

    /// Lower-cases and maps anything outside `[a-z0-9_.]` to `_`, so names never need quoting in a shell.
    static func shellSafe(_ text: String) -> String {
        String(
            text.lowercased().map { character -> Character in
                switch character {
                case "a"..."z", "0"..."9", "_", ".": character
                default: "_"
                }
            }
        )
    }
}

extension Scenario: CustomStringConvertible {
    public var description: String { self.name }
}
