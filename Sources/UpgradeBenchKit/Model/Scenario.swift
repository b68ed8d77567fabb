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

    /// A libp2p implementation at one end of the connection: `swift` (UpgradeBench itself, in
    /// process and instrumented) or another one driven through its adapter (docs/peers.md).
    public struct Peer: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        /// The adapter's name: its folder under `scripts/peers/`; `[a-z0-9_]+`.
        public let rawValue: String

        /// A peer named `rawValue`; nil for a name that is not `[a-z0-9_]+`.
        public init?(rawValue: String) {
            guard !rawValue.isEmpty, rawValue.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
            else { return nil }
            self.rawValue = rawValue
        }

        private init(known: String) { self.rawValue = known }

        /// UpgradeBench itself.
        public static let swift = Peer(known: "swift")
        /// go-libp2p v0.32.1 (`p2pd`).
        public static let go = Peer(known: "go")
        /// py-libp2p 0.8.1.
        public static let py = Peer(known: "py")

        /// Whether the implementation negotiates the muxer inside the handshake when the other end
        /// offers it: py-libp2p 0.8.1 never does (its upgrader always runs multistream-select for
        /// the muxer), so against it an early scenario measures the fallback. Adapters not known
        /// here are taken to do it; a connection that did not is reported as deviating.
        public var negotiatesEarly: Bool { self != .py }

        /// The pause between one connection's close and the next dial to this listener.
        /// py-libp2p 0.8.1 frees a closed connection's slot in its per-peer limit (8) only when
        /// its teardown ends, about 110 ms after the close, so one dialer identity dialing it back
        /// to back is refused from the 9th connection on (README, "Against other libp2p
        /// implementations"); others need none. The pause lies outside every measured interval.
        public var spacingBetweenConnections: Duration { self == .py ? .milliseconds(150) : .zero }

        public var description: String { self.rawValue }
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
    /// The implementation that dials.
    public var dialer: Peer = .swift
    /// The implementation that listens.
    public var listener: Peer = .swift

    /// Creates a scenario; ``validate()`` checks that it can be run.
    public init(
        security: Security,
        negotiation: Negotiation,
        multistream: Multistream,
        rttMilliseconds: Int,
        emulator: Emulator,
        connections: Int,
        warmup: Int = 0,
        concurrency: Int = 1,
        dialer: Peer = .swift,
        listener: Peer = .swift
    ) {
        self.security = security
        self.negotiation = negotiation
        self.multistream = multistream
        self.rttMilliseconds = rttMilliseconds
        self.emulator = emulator
        self.connections = connections
        self.warmup = warmup
        self.concurrency = concurrency
        self.dialer = dialer
        self.listener = listener
    }

    /// The stable, shell-safe name, e.g. `noise-early-strict-10ms-tun-c1`, and with another
    /// implementation at one end `swift_to_go-noise-early-strict-10ms-tun-c1`.
    ///
    /// It names every identifying field (not the connection counts), so two scenarios of one
    /// matrix share a name only if they measure the same thing. UpgradeBench talking to itself
    /// keeps the names it always had, so results stay comparable across versions.
    public var name: String {
        "\(self.pairPrefix)\(self.pathName)-\(self.rttMilliseconds)ms-\(Self.shellSafe(self.emulator.name))-c\(self.concurrency)"
    }

    /// `dialer_to_listener`, e.g. `swift_to_go`.
    public var pairName: String { "\(self.dialer)_to_\(self.listener)" }

    /// Empty for swift to swift, else ``pairName`` and a dash: what names and plot groups of
    /// other pairs start with.
    var pairPrefix: String {
        self.dialer == .swift && self.listener == .swift ? "" : self.pairName + "-"
    }

    /// Whether the connections are expected to agree on the muxer inside the handshake: early
    /// negotiation asked for, and both ends able to (``Peer/negotiatesEarly``). An early scenario
    /// against a peer that cannot measures the fallback to multistream-select.
    public var expectsEarlyMuxer: Bool {
        self.negotiation == .early && self.dialer.negotiatesEarly && self.listener.negotiatesEarly
    }

    /// The stage the summary table reports: `muxer_ready` where UpgradeBench dials and times every
    /// stage; `first_echo` where another implementation dials (its adapter times what its API
    /// shows: the connection and the first stream's echo, not the muxer's start).
    public var headlineStage: ConnectionStage { self.dialer == .swift ? .muxerReady : .firstEcho }

    /// The same scenario with its counts and load left out: what identifies it, as its name does.
    public func samePath(as other: Scenario) -> Bool {
        self.security == other.security && self.negotiation == other.negotiation
            && self.multistream == other.multistream && self.rttMilliseconds == other.rttMilliseconds
            && self.emulator == other.emulator && self.concurrency == other.concurrency
            && self.dialer == other.dialer && self.listener == other.listener
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

extension Scenario {
    private enum CodingKeys: String, CodingKey {
        case security, negotiation, multistream, rttMilliseconds, emulator, connections, warmup, concurrency
        case dialer, listener
    }

    /// Decodes a scenario; results written before peers were a dimension have no `dialer` and
    /// `listener`: UpgradeBench was at both ends.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            security: try container.decode(Security.self, forKey: .security),
            negotiation: try container.decode(Negotiation.self, forKey: .negotiation),
            multistream: try container.decode(Multistream.self, forKey: .multistream),
            rttMilliseconds: try container.decode(Int.self, forKey: .rttMilliseconds),
            emulator: try container.decode(Emulator.self, forKey: .emulator),
            connections: try container.decode(Int.self, forKey: .connections),
            warmup: try container.decode(Int.self, forKey: .warmup),
            concurrency: try container.decode(Int.self, forKey: .concurrency),
            dialer: try container.decodeIfPresent(Peer.self, forKey: .dialer) ?? .swift,
            listener: try container.decodeIfPresent(Peer.self, forKey: .listener) ?? .swift
        )
    }
}

extension Scenario: CustomStringConvertible {
    public var description: String { self.name }
}
