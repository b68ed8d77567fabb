import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers
import NIOCore

/// ``NetworkEmulatorKind/tun`` and ``NetworkEmulatorKind/netem``: the dialer and the listener
/// live in two network namespaces of their own, joined by one emulated link, so that every
/// packet, the TCP handshake included, crosses the delay.
///
/// Addresses come from 198.18.0.0/15, the range RFC 2544 (Appendix C.2.2) reserves for
/// benchmarking and RFC 6890 marks as not globally reachable. They exist only inside the two
/// namespaces; dials also bind the dialer's address first, so a dial that were ever made outside
/// the dialer namespace would fail instead of leaving the machine.
final class NamespacedBackend: EmulatorBackend {
    /// The dialer's address inside its namespace.
    static let dialerAddress = EmulatorSocket.ipv4(198, 18, 0, 1, port: 0)
    /// The listener's address inside its namespace.
    static let listenerAddress = EmulatorSocket.ipv4(198, 18, 0, 2, port: 0)
    /// The interface name used in both namespaces (each namespace has its own set of names).
    static let interfaceName = "ubnetem0"

    let kind: NetworkEmulatorKind
    private let dialer: NetworkNamespace
    private let listener: NetworkNamespace
    private let link: Link
    private let connectTimeoutNanoseconds: UInt64
    private let stopped = NIOLockedValueBox(false)

    private enum Link {
        /// TUN devices (their descriptors) and the delayer thread between them.
        case tun(dialerDevice: CInt, listenerDevice: CInt, delayer: TUNDelayer)
        /// A veth pair with netem on both ends: everything lives in the namespaces.
        case netem
    }

    private init(
        kind: NetworkEmulatorKind,
        dialer: NetworkNamespace,
        listener: NetworkNamespace,
        link: Link,
        options: NetworkEmulator.Options,
        delayNanoseconds: UInt64
    ) {
        self.kind = kind
        self.dialer = dialer
        self.listener = listener
        self.link = link
        self.connectTimeoutNanoseconds = UInt64(options.connectTimeout.wholeNanoseconds) + 2 * delayNanoseconds
    }

    deinit {
        self.stop()
    }

    // MARK: - Start

    /// Two namespaces, a TUN device in each (point-to-point 198.18.0.1 <-> 198.18.0.2), and a
    /// ``TUNDelayer`` thread between the two devices.
    static func startTUN(delayNanoseconds: UInt64, options: NetworkEmulator.Options) async throws -> NamespacedBackend {
        let mtu = options.mtu
        @Sendable func makeDevice(local: sockaddr_in, peer: sockaddr_in) throws -> CInt {
            let fd = CNetworkEmulationShim_openTUN(Self.interfaceName)
            guard fd >= 0 else {
                throw NetworkEmulationError.systemCall(
                    "TUNSETIFF on /dev/net/tun",
                    errno: errno,
                    as: { .setupFailed($0) }
                )
            }
            let configured = CNetworkEmulationShim_configureInterface(
                Self.interfaceName,
                EmulatorSocket.networkOrderAddress(local),
                UInt32.max,  // /32: the peer is reached through its point-to-point route
                EmulatorSocket.networkOrderAddress(peer),
                CInt(mtu)
            )
            guard configured == 0 else {
                let error = NetworkEmulationError.systemCall(
                    "configure \(Self.interfaceName)",
                    errno: errno,
                    as: { .setupFailed($0) }
                )
                close(fd)
                throw error
            }
            return fd
        }
        let (dialer, dialerDevice) = try await NetworkNamespace.create(name: NetworkNamespaceNames.make(role: "dialer"))
        {
            try makeDevice(local: Self.dialerAddress, peer: Self.listenerAddress)
        }
        do {
            let (listener, listenerDevice) = try await NetworkNamespace.create(
                name: NetworkNamespaceNames.make(role: "listener")
            ) {
                try makeDevice(local: Self.listenerAddress, peer: Self.dialerAddress)
            }
            do {
                let delayer = try TUNDelayer(
                    between: dialerDevice,
                    and: listenerDevice,
                    delayNanoseconds: delayNanoseconds,
                    mtu: mtu,
                    queueLimit: options.tunQueueLimit,
                    name: "ubnetem-tun"
                )
                return NamespacedBackend(
                    kind: .tun,
                    dialer: dialer,
                    listener: listener,
                    link: .tun(dialerDevice: dialerDevice, listenerDevice: listenerDevice, delayer: delayer),
                    options: options,
                    delayNanoseconds: delayNanoseconds
                )
            } catch {
                close(listenerDevice)
                listener.remove()
                throw error
            }
        } catch {
            close(dialerDevice)
            dialer.remove()
            throw error
        }
    }

    /// Two namespaces joined by a veth pair (198.18.0.1/30 and 198.18.0.2/30), with
    /// `tc qdisc add dev … root netem delay <one-way delay>` on both ends.
    static func startNetem(delayNanoseconds: UInt64, options: NetworkEmulator.Options) async throws -> NamespacedBackend
    {
        for tool in ["ip", "tc"] where Subprocess.locate(tool) == nil {
            throw NetworkEmulationError.unavailable("\(tool) (iproute2) is not installed")
        }
        let (dialer, _) = try await NetworkNamespace.create(name: NetworkNamespaceNames.make(role: "dialer")) {}
        do {
            let (listener, _) = try await NetworkNamespace.create(name: NetworkNamespaceNames.make(role: "listener")) {}
            do {
                let peerNamespace = listener.publishedName ?? "/proc/\(getpid())/fd/\(listener.fd)"
                let peerName = "ubnetem1"
                let mtu = options.mtu
                // netem's default queue is 1000 packets; allow the same bandwidth-delay budget as TUN.
                let limit = max(1000, options.tunQueueLimit / mtu)
                let delay = "\(delayNanoseconds / 1000)us"
                try await EmulatorThread.run(name: "ubnetem-setup", inNamespace: dialer.fd) {
                    try Subprocess.check(
                        "ip",
                        [
                            "link", "add", Self.interfaceName, "type", "veth", "peer", "name", peerName, "netns",
                            peerNamespace,
                        ]
                    )
                    try Self.configureVeth(Self.interfaceName, local: Self.dialerAddress, mtu: mtu)
                    try Subprocess.check(
                        "tc",
                        [
                            "qdisc", "add", "dev", Self.interfaceName, "root", "netem", "delay", delay, "limit",
                            String(limit),
                        ]
                    )
                }
                try await EmulatorThread.run(name: "ubnetem-setup", inNamespace: listener.fd) {
                    try Self.configureVeth(peerName, local: Self.listenerAddress, mtu: mtu)
                    try Subprocess.check(
                        "tc",
                        ["qdisc", "add", "dev", peerName, "root", "netem", "delay", delay, "limit", String(limit)]
                    )
                }
                return NamespacedBackend(
                    kind: .netem,
                    dialer: dialer,
                    listener: listener,
                    link: .netem,
                    options: options,
                    delayNanoseconds: delayNanoseconds
                )
            } catch {
                listener.remove()
                throw error
            }
        } catch {
            // The veth pair dies with the namespaces.
            dialer.remove()
            throw error
        }
    }

    private static func configureVeth(_ name: String, local: sockaddr_in, mtu: Int) throws {
        let netmask = EmulatorSocket.networkOrderAddress(EmulatorSocket.ipv4(255, 255, 255, 252, port: 0))
        let address = EmulatorSocket.networkOrderAddress(local)
        guard CNetworkEmulationShim_configureInterface(name, address, netmask, 0, CInt(mtu)) == 0 else {
            throw NetworkEmulationError.systemCall("configure \(name)", errno: errno, as: { .setupFailed($0) })
        }
    }

    // MARK: - Sockets

    func makeListeningSocket(port: UInt16, backlog: CInt) async throws -> EmulatedListeningSocket {
        let bindAddress = EmulatorSocket.withPort(Self.listenerAddress, port)
        let (fd, bound) = try await EmulatorThread.run(name: "ubnetem-listen", inNamespace: self.listener.fd) {
            try EmulatorSocket.makeListeningSocket(at: bindAddress, backlog: backlog)
        }
        let socketAddress = SocketAddress(bound, host: "198.18.0.2")
        return EmulatedListeningSocket(socket: fd, localAddress: socketAddress, dialAddress: socketAddress)
    }

    func dial<Result: Sendable>(
        to address: sockaddr_in,
        then: @escaping @Sendable (DialedSocket) throws -> Result
    ) async throws -> Result {
        guard EmulatorSocket.sameHost(address, Self.listenerAddress) else {
            throw NetworkEmulationError.unknownDialTarget("this path dials the listener namespace's 198.18.0.2 only")
        }
        let timeout = self.connectTimeoutNanoseconds
        return try await EmulatorThread.run(name: "ubnetem-dial", inNamespace: self.dialer.fd) {
            let dialed = try EmulatorSocket.connect(to: address, from: Self.dialerAddress, timeoutNanoseconds: timeout)
            return try then(DialedSocket(fd: dialed.fd, startedAt: dialed.startedAt, connectedAt: dialed.connectedAt))
        }
    }

    func releaseListener(dialAddress: sockaddr_in) {}

    var listenerBindAddress: sockaddr_in { Self.listenerAddress }

    func namespaceFD(of side: EmulatedPath.Side) -> CInt? {
        switch side {
        case .dialer: self.dialer.fd
        case .listener: self.listener.fd
        }
    }

    // MARK: - Stop

    func stop() {
        let first = self.stopped.withLockedValue { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        switch self.link {
        case .tun(let dialerDevice, let listenerDevice, let delayer):
            delayer.stop()
            // Closing a non-persistent TUN descriptor deletes its device.
            close(dialerDevice)
            close(listenerDevice)
        case .netem:
            break
        }
        self.dialer.remove()
        self.listener.remove()
    }

    var statistics: NetworkEmulatorStatistics {
        var statistics = NetworkEmulatorStatistics()
        switch self.link {
        case .tun(_, _, let delayer):
            let counters = delayer.statistics
            statistics.forwarded = counters.packets
            statistics.bytes = counters.bytes
            statistics.dropped = counters.dropped
            if counters.packets > 0 {
                statistics.meanLateness = .nanoseconds(
                    Int64(counters.totalLatenessNanoseconds / UInt64(counters.packets))
                )
            }
            statistics.maximumLateness = .nanoseconds(Int64(counters.maximumLatenessNanoseconds))
            statistics.cpuTime = delayer.cpuTime
        case .netem:
            break
        }
        return statistics
    }

    var resources: EmulatorResources {
        var descriptors = [self.dialer.fd, self.listener.fd]
        var threads: [pid_t] = []
        switch self.link {
        case .tun(let dialerDevice, let listenerDevice, let delayer):
            descriptors += [dialerDevice, listenerDevice] + delayer.ownedDescriptors
            threads = [delayer.threadID]
        case .netem:
            break
        }
        return EmulatorResources(
            descriptors: descriptors,
            threadIDs: threads,
            namespaceNames: [self.dialer.publishedName, self.listener.publishedName].compactMap { $0 }
        )
    }
}
