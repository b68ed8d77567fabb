import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers

/// Starts emulated paths and detects which emulators this machine can run.
public enum NetworkEmulator {
    /// The largest round-trip time accepted: far above any Internet path, small enough that a
    /// stuck benchmark still ends.
    public static let maximumRTT: Duration = .seconds(10)

    /// Settings of a path; the defaults model an Ethernet path.
    public struct Options: Sendable, Hashable {
        /// MTU of the emulated link (`tun`, `netem`): 1500 (Ethernet, RFC 894) by default; up to
        /// 65535 (the IPv4 total-length limit, RFC 791) for throughput runs.
        public var mtu: Int = 1500
        /// Bytes a direction of the TUN link may hold in flight, i.e. its bandwidth × delay
        /// budget; more is dropped, as a router queue would.
        public var tunQueueLimit: Int = 16 * 1024 * 1024
        /// Bytes the relay buffers per direction of a connection before it stops reading.
        public var relayBufferLimit: Int = 4 * 1024 * 1024
        /// How long a dial may take beyond the emulated round trip.
        public var connectTimeout: Duration = .seconds(3)

        public init() {}

        /// The largest MTU: the IPv4 total-length field is 16 bits (RFC 791 §3.1).
        public static let maximumMTU = 65535
        /// The smallest MTU IPv4 hosts must accept (RFC 791 §3.1: 576).
        public static let minimumMTU = 576
    }

    /// Detects which emulators can run here. The probes create a scratch namespace (removed at
    /// once) and try what the emulator needs; results are cached for the process unless
    /// `refresh` is true.
    public static func availability(refresh: Bool = false) async -> [NetworkEmulatorKind: NetworkEmulatorAvailability] {
        if !refresh, let cached = Self.cachedAvailability.withLockedValue({ $0 }) {
            return cached
        }
        var result: [NetworkEmulatorKind: NetworkEmulatorAvailability] = [
            .none: .available("loopback"),
            .relay: .available("TCP relay on 127.0.0.1, no privileges needed"),
        ]
        result[.tun] = await Self.probeTUN()
        result[.netem] = await Self.probeNetem()
        Self.cachedAvailability.withLockedValue { $0 = result }
        return result
    }

    private static let cachedAvailability = NIOLockedValueBox<[NetworkEmulatorKind: NetworkEmulatorAvailability]?>(nil)

    /// Resolves `selection` against this machine's ``availability(refresh:)``.
    public static func resolve(
        _ selection: NetworkEmulatorSelection,
        rtt: Duration
    ) async throws -> NetworkEmulatorResolution {
        try NetworkEmulatorResolution.resolve(selection, rtt: rtt, availability: await Self.availability())
    }

    /// Starts an emulated path with the given round-trip time.
    ///
    /// Leftovers of earlier runs that were killed (namespace names whose owner process is gone)
    /// are removed first. With `.auto`, an emulator that fails to start (for example a
    /// permission error inside a container) is skipped and the next one tried; the reasons end
    /// up in ``EmulatedPath/selectionReason``.
    ///
    /// - Parameters:
    ///   - selection: the emulator, or `.auto`.
    ///   - rtt: the round-trip time to add (each direction gets half).
    ///   - options: link settings.
    /// - Throws: ``NetworkEmulationError``.
    public static func start(
        _ selection: NetworkEmulatorSelection = .auto,
        rtt: Duration,
        options: Options = Options()
    ) async throws -> EmulatedPath {
        guard rtt >= .zero && rtt <= Self.maximumRTT else {
            throw NetworkEmulationError.invalidRTT(rtt)
        }
        guard options.mtu >= Options.minimumMTU && options.mtu <= Options.maximumMTU,
            options.tunQueueLimit >= options.mtu, options.relayBufferLimit >= DelayingRelay.chunkSize,
            options.connectTimeout > .zero
        else {
            throw NetworkEmulationError.setupFailed(
                "options out of range: MTU \(options.mtu) (\(Options.minimumMTU)...\(Options.maximumMTU)), "
                    + "TUN queue \(options.tunQueueLimit), relay buffer \(options.relayBufferLimit) "
                    + "(at least \(DelayingRelay.chunkSize)), connect timeout \(options.connectTimeout)"
            )
        }
        Self.removeStaleResources()
        let resolution = try await Self.resolve(selection, rtt: rtt)
        switch selection {
        case .kind:
            let backend = try await Self.makeBackend(resolution.kind, rtt: rtt, options: options)
            return EmulatedPath(backend: backend, resolution: resolution, rtt: rtt)
        case .auto:
            let candidates =
                resolution.kind == .none
                ? [NetworkEmulatorKind.none]
                : Array(NetworkEmulatorKind.autoPreference.drop(while: { $0 != resolution.kind }))
            var failures: [String] = []
            for kind in candidates {
                do {
                    let backend = try await Self.makeBackend(kind, rtt: rtt, options: options)
                    let reason =
                        failures.isEmpty
                        ? resolution.reason
                        : "auto: \(kind) (" + failures.joined(separator: "; ")
                            + "; detection said: \(resolution.reason))"
                    return EmulatedPath(
                        backend: backend,
                        resolution: NetworkEmulatorResolution(kind: kind, reason: reason),
                        rtt: rtt
                    )
                } catch let error as NetworkEmulationError {
                    failures.append("\(kind) failed to start: \(error)")
                }
            }
            throw NetworkEmulationError.unavailable("auto: " + failures.joined(separator: "; "))
        }
    }

    /// Removes namespace names left by processes that ended without stopping their paths (see
    /// ``NetworkEmulatorCleanup``); ``start(_:rtt:options:)`` calls it. Names of live processes,
    /// including other benchmark runs in parallel, are left alone.
    ///
    /// - Returns: the names removed.
    @discardableResult
    public static func removeStaleResources() -> [String] {
        NetworkNamespaceNames.removeStale()
    }

    /// The prefix of every network namespace name emulators publish (`ip netns list`).
    public static var namespacePrefix: String { NetworkNamespaceNames.prefix }

    static func makeBackend(
        _ kind: NetworkEmulatorKind,
        rtt: Duration,
        options: Options
    ) async throws -> any EmulatorBackend {
        let delay = UInt64(rtt.wholeNanoseconds / 2)
        switch kind {
        case .none:
            return LoopbackBackend(options: options)
        case .relay:
            return try RelayBackend(delayNanoseconds: delay, options: options)
        case .tun:
            return try await NamespacedBackend.startTUN(delayNanoseconds: delay, options: options)
        case .netem:
            return try await NamespacedBackend.startNetem(delayNanoseconds: delay, options: options)
        }
    }

    // MARK: - Detection

    private static func probeTUN() async -> NetworkEmulatorAvailability {
        do {
            try await EmulatorThread.run(name: "ubnetem-probe") {
                guard CNetworkEmulationShim_unshareNetworkNamespace() == 0 else {
                    throw NetworkEmulationError.systemCall(
                        "unshare(CLONE_NEWNET)",
                        errno: errno,
                        as: { .unavailable($0) }
                    )
                }
                let fd = CNetworkEmulationShim_openTUN("ubprobe0")
                guard fd >= 0 else {
                    throw NetworkEmulationError.systemCall(
                        "TUNSETIFF on /dev/net/tun",
                        errno: errno,
                        as: { .unavailable($0) }
                    )
                }
                close(fd)
            }
            return .available("network namespaces and /dev/net/tun usable")
        } catch {
            return .unavailable("\(error)")
        }
    }

    private static func probeNetem() async -> NetworkEmulatorAvailability {
        for tool in ["ip", "tc"] where Subprocess.locate(tool) == nil {
            return .unavailable("\(tool) (iproute2) is not installed")
        }
        do {
            try await EmulatorThread.run(name: "ubnetem-probe") {
                guard CNetworkEmulationShim_unshareNetworkNamespace() == 0 else {
                    throw NetworkEmulationError.systemCall(
                        "unshare(CLONE_NEWNET)",
                        errno: errno,
                        as: { .unavailable($0) }
                    )
                }
                // The scratch namespace's loopback: nothing outside this thread's namespace is touched.
                try Subprocess.check("tc", ["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
            }
            return .available("tc qdisc netem accepted")
        } catch {
            return .unavailable("\(error)")
        }
    }
}
