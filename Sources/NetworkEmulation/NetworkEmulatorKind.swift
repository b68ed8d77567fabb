/// How an emulated path delays traffic between the dialer and the listener.
public enum NetworkEmulatorKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No emulation: plain loopback (127.0.0.1), no added delay.
    case none
    /// Two network namespaces joined by a veth pair with `tc qdisc … netem delay` on both ends
    /// (root, and a kernel with the netem qdisc).
    case netem
    /// Two network namespaces joined through TUN devices by a userspace packet delayer (root).
    case tun
    /// A delaying TCP relay on 127.0.0.1 (no privileges needed).
    case relay

    /// The order `auto` tries emulators in for a non-zero RTT: the kernel's own delay first, then
    /// the userspace packet delayer (which also delays the TCP handshake and is bounded by
    /// bandwidth × delay, like a real path), then the relay.
    public static let autoPreference: [NetworkEmulatorKind] = [.netem, .tun, .relay]

    public var description: String { self.rawValue }
}

/// Which emulator a run asks for: a specific one, or the best one available.
public enum NetworkEmulatorSelection: Sendable, Hashable, CustomStringConvertible {
    /// The best available emulator; see ``NetworkEmulatorResolution/resolve(_:rtt:availability:)``.
    case auto
    /// Exactly this emulator; starting fails with ``NetworkEmulationError/Code/unavailable`` when
    /// it cannot run here.
    case kind(NetworkEmulatorKind)

    /// Parses a command-line value: `auto`, `none` (or `loopback`), `netem`, `tun`, `relay`.
    public init?(argument: String) {
        switch argument.lowercased() {
        case "auto": self = .auto
        case "loopback": self = .kind(.none)
        default:
            guard let kind = NetworkEmulatorKind(rawValue: argument.lowercased()) else { return nil }
            self = .kind(kind)
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .kind(let kind): kind.rawValue
        }
    }
}

/// Whether an emulator can run on this machine, and why (not).
public struct NetworkEmulatorAvailability: Sendable, Hashable, CustomStringConvertible {
    /// True when the emulator's detection probe succeeded.
    public var isAvailable: Bool
    /// What the probe found, e.g. `tc qdisc add … netem: Error: Specified qdisc kind is unknown.`
    public var reason: String

    public init(isAvailable: Bool, reason: String) {
        self.isAvailable = isAvailable
        self.reason = reason
    }

    /// An emulator that can run.
    public static func available(_ reason: String) -> Self { Self(isAvailable: true, reason: reason) }
    /// An emulator that cannot run.
    public static func unavailable(_ reason: String) -> Self { Self(isAvailable: false, reason: reason) }

    public var description: String { (self.isAvailable ? "available: " : "unavailable: ") + self.reason }
}

/// The emulator a selection resolved to and why; every benchmark result records both.
public struct NetworkEmulatorResolution: Sendable, Hashable, CustomStringConvertible {
    /// The emulator that runs.
    public var kind: NetworkEmulatorKind
    /// Why it was chosen (for `auto`: what each better emulator lacked).
    public var reason: String

    public init(kind: NetworkEmulatorKind, reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// Resolves a selection against detected availability. Pure: the driver's and the tests'
    /// single statement of the selection rules.
    ///
    /// - `.kind(k)`: `k` when available, else ``NetworkEmulationError/Code/unavailable``;
    ///   `.kind(.none)` only with a zero RTT.
    /// - `.auto` with a zero RTT: ``NetworkEmulatorKind/none`` (nothing to emulate).
    /// - `.auto` otherwise: the first available of ``NetworkEmulatorKind/autoPreference``.
    ///
    /// - Parameters:
    ///   - selection: what was asked for.
    ///   - rtt: the requested round-trip time.
    ///   - availability: detection results; a missing kind counts as unavailable.
    /// - Throws: ``NetworkEmulationError`` `.unavailable` when nothing fitting can run,
    ///   `.invalidRTT` for an RTT outside 0 ... ``NetworkEmulator/maximumRTT``.
    public static func resolve(
        _ selection: NetworkEmulatorSelection,
        rtt: Duration,
        availability: [NetworkEmulatorKind: NetworkEmulatorAvailability]
    ) throws -> NetworkEmulatorResolution {
        guard rtt >= .zero && rtt <= NetworkEmulator.maximumRTT else {
            throw NetworkEmulationError.invalidRTT(rtt)
        }
        func status(_ kind: NetworkEmulatorKind) -> NetworkEmulatorAvailability {
            availability[kind] ?? .unavailable("not detected")
        }
        switch selection {
        case .kind(.none) where rtt != .zero:
            throw NetworkEmulationError.invalidRTT(
                rtt,
                "plain loopback adds no delay: ask for RTT 0, or another emulator"
            )
        case .kind(let kind):
            let found = status(kind)
            guard found.isAvailable else {
                throw NetworkEmulationError.unavailable("\(kind): \(found.reason)")
            }
            return NetworkEmulatorResolution(kind: kind, reason: "requested \(kind)")
        case .auto:
            if rtt == .zero {
                return NetworkEmulatorResolution(kind: .none, reason: "auto: zero RTT, plain loopback")
            }
            var skipped: [String] = []
            for kind in NetworkEmulatorKind.autoPreference {
                let found = status(kind)
                if found.isAvailable {
                    let because = skipped.isEmpty ? "" : " (" + skipped.joined(separator: "; ") + ")"
                    return NetworkEmulatorResolution(kind: kind, reason: "auto: \(kind)\(because)")
                }
                skipped.append("\(kind) unavailable: \(found.reason)")
            }
            throw NetworkEmulationError.unavailable("auto: " + skipped.joined(separator: "; "))
        }
    }

    public var description: String { "\(self.kind) (\(self.reason))" }
}
