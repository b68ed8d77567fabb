import Glibc
import NIOConcurrencyHelpers
import NIOCore

/// A running network emulation between a dialer side and a listener side, used the same way
/// whichever emulator (``NetworkEmulatorKind``) runs underneath.
///
/// ### Listening and dialing with SwiftNIO
/// Namespaces are per thread on Linux, so the path creates sockets on its own threads (inside
/// the right namespace) and hands over plain descriptors for NIO to adopt:
/// ```swift
/// let path = try await NetworkEmulator.start(.auto, rtt: .milliseconds(20))
/// defer { path.stop() }
/// let listener = try await path.makeListeningSocket()
/// let server = try await ServerBootstrap(group: group)
///     .childChannelInitializer { channel in ... }
///     .withBoundSocket(listener.socket).get()
/// let dial = try await path.connect(to: listener.dialAddress)
/// // dial.startedAt ... dial.connectedAt is the TCP handshake as the dialer saw it.
/// let client = try await ClientBootstrap(group: group)
///     .channelInitializer { channel in ... }
///     .withConnectedSocket(dial.socket).get()
/// ```
/// The descriptors belong to the caller once returned: hand them to NIO (which closes them with
/// the channel) or close them.
///
/// ### Lifetime
/// ``stop()`` removes everything the path created: threads, devices, namespaces, relay sockets.
/// It is idempotent, runs from `deinit`, and from ``NetworkEmulatorCleanup/stopAll()`` (which the
/// driver calls from its SIGINT/SIGTERM handling, or installs with
/// ``NetworkEmulatorCleanup/installSignalHandlers(_:)``). Sockets already handed to NIO keep
/// working until closed, but no longer see any delay once the path is stopped (TUN: the link
/// is cut).
public final class EmulatedPath: Sendable {
    /// The emulator running this path.
    public let kind: NetworkEmulatorKind
    /// Why ``kind`` was chosen (for `auto`: what better emulators lacked).
    public let selectionReason: String
    /// The round-trip time asked for.
    public let requestedRTT: Duration

    /// Dials that may be in progress at once: each runs on a thread of its own while the
    /// handshake takes its round trip.
    public static let maximumConcurrentDials = 256

    /// Listeners a `relay` path serves at once (each has a frontend socket polled by the relay
    /// thread); ``releaseListener(_:)`` frees one.
    public static let maximumRelayListeners = DelayingRelay.maximumFrontends

    let backend: any EmulatorBackend
    private let registry: EmulatorCleanupRegistry
    private let dialLimit: Int
    private let dialsInFlight = NIOLockedValueBox(0)
    private let registration = NIOLockedValueBox<Int?>(nil)
    private let stopped = NIOLockedValueBox(false)

    init(
        backend: any EmulatorBackend,
        resolution: NetworkEmulatorResolution,
        rtt: Duration,
        registry: EmulatorCleanupRegistry = NetworkEmulatorCleanup.shared,
        dialLimit: Int = EmulatedPath.maximumConcurrentDials
    ) {
        self.dialLimit = dialLimit
        self.kind = backend.kind
        self.selectionReason = resolution.reason
        self.requestedRTT = rtt
        self.backend = backend
        self.registry = registry
        NetworkEmulatorCleanup.installAtExitHandler()
        // Weak: the registry must not keep a forgotten path alive (its deinit stops it).
        let id = registry.register { [weak self] in self?.stop() }
        self.registration.withLockedValue { $0 = id }
    }

    deinit {
        self.stop()
    }

    /// The delay added in each direction: half of ``requestedRTT``.
    public var oneWayDelay: Duration { self.requestedRTT / 2 }

    /// The resolution (emulator and reason) as one value.
    public var resolution: NetworkEmulatorResolution {
        NetworkEmulatorResolution(kind: self.kind, reason: self.selectionReason)
    }

    /// Whether ``stop()`` has run.
    public var isStopped: Bool { self.stopped.withLockedValue { $0 } }

    /// Creates a bound, listening, non-blocking TCP socket on the listener side, for
    /// `ServerBootstrap.withBoundSocket(_:)`.
    ///
    /// - Parameters:
    ///   - port: the port to bind (0: chosen by the kernel).
    ///   - backlog: the listen backlog.
    /// - Returns: the socket (now owned by the caller), the address it is bound to, and the
    ///   address dialers must use (they differ for the relay).
    public func makeListeningSocket(port: Int = 0, backlog: Int32 = 256) async throws -> EmulatedListeningSocket {
        try self.checkRunning()
        guard let port = UInt16(exactly: port), backlog > 0 else {
            throw NetworkEmulationError.socketFailure("invalid port \(port) or backlog \(backlog)")
        }
        return try await self.backend.makeListeningSocket(port: port, backlog: backlog)
    }

    /// Tells the path that a listener it made is closed (after its NIO channel closed, or after
    /// closing the socket). The relay then closes the listener's frontend; it keeps at most
    /// ``maximumRelayListeners`` open. Other emulators hold nothing per listener.
    public func releaseListener(_ listener: EmulatedListeningSocket) {
        guard case .v4(let v4) = listener.dialAddress, !self.isStopped else { return }
        self.backend.releaseListener(dialAddress: v4.address)
    }

    /// Dials `address` (a ``EmulatedListeningSocket/dialAddress`` of this path) from the dialer
    /// side and returns once the TCP handshake is complete as the dialer sees it: after one
    /// emulated round trip (for the relay, the helper holds the return until then; see
    /// ``NetworkEmulatorKind/relay``).
    ///
    /// The returned socket is connected and non-blocking, for `ClientBootstrap.withConnectedSocket(_:)`.
    /// Record `tcp_connected` from ``EmulatedConnection/connectedAt``: the hop back to the
    /// caller's task is not part of the handshake.
    ///
    /// - Throws: ``NetworkEmulationError`` `.unknownDialTarget` for an address this path did not
    ///   hand out (so that a dial can never leave the machine), `.limitReached` beyond
    ///   ``maximumConcurrentDials``, `.connectTimedOut`, `.socketFailure`.
    public func connect(to address: SocketAddress) async throws -> EmulatedConnection {
        try await self.dial(address) { $0.connection }
    }

    /// Dials through the backend, within the concurrent-dial limit, and runs `then` on the
    /// dialing thread right after the handshake.
    func dial<Result: Sendable>(
        _ address: SocketAddress,
        then: @escaping @Sendable (DialedSocket) throws -> Result
    ) async throws -> Result {
        try self.checkRunning()
        guard case .v4(let v4) = address else {
            throw NetworkEmulationError.unknownDialTarget("\(address) is not an IPv4 address of this path")
        }
        let limit = self.dialLimit
        let admitted = self.dialsInFlight.withLockedValue { inFlight -> Bool in
            guard inFlight < limit else { return false }
            inFlight += 1
            return true
        }
        guard admitted else {
            throw NetworkEmulationError.limitReached("more than \(limit) dials in progress on one path")
        }
        defer { self.dialsInFlight.withLockedValue { $0 -= 1 } }
        return try await self.backend.dial(to: v4.address, then: then)
    }

    /// Counters of the emulator's forwarding (zero for emulators that do not forward in userspace).
    public var statistics: NetworkEmulatorStatistics { self.backend.statistics }

    /// The remote port the listener sees for the connection the dialer made from `dialerPort`,
    /// so that tools can match the two ends of a connection: the dialer's own port where the
    /// path forwards packets (loopback, TUN, netem); the relay's port of the relayed connection,
    /// once it has connected to the listener, on a relay; `nil` when not (yet) known.
    public func listenerSidePort(ofDialerPort dialerPort: Int) -> Int? {
        guard let port = UInt16(exactly: dialerPort) else { return nil }
        return self.backend.listenerSidePort(ofDialerPort: port).map(Int.init)
    }

    /// Removes everything the path created. Idempotent; safe from any thread.
    public func stop() {
        let first = self.stopped.withLockedValue { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        self.backend.stop()
        if let id = self.registration.withLockedValue({ $0 }) {
            self.registry.unregister(id)
        }
    }

    /// What the emulator holds (tests prove ``stop()`` released it).
    var resources: EmulatorResources { self.backend.resources }

    var dialsInProgress: Int { self.dialsInFlight.withLockedValue { $0 } }

    var registrationForTesting: Int? { self.registration.withLockedValue { $0 } }

    private func checkRunning() throws {
        if self.isStopped {
            throw NetworkEmulationError.stopped()
        }
    }
}

/// A listening socket created on the listener side of an ``EmulatedPath``.
public struct EmulatedListeningSocket: Sendable, Hashable {
    /// The bound, listening, non-blocking socket; the caller owns it.
    public let socket: NIOBSDSocket.Handle
    /// Where the socket is bound (inside the listener's namespace for `netem` and `tun`).
    public let localAddress: SocketAddress
    /// What dialers pass to ``EmulatedPath/connect(to:)`` (the relay's frontend for `relay`).
    public let dialAddress: SocketAddress
}

/// A TCP connection dialed through an ``EmulatedPath``.
public struct EmulatedConnection: Sendable, Hashable {
    /// The connected, non-blocking socket; the caller owns it.
    public let socket: NIOBSDSocket.Handle
    /// Just before `connect(2)` (same clock as `NIODeadline.now()`).
    public let startedAt: NIODeadline
    /// When the handshake completed as the dialer sees it (same clock as `NIODeadline.now()`).
    public let connectedAt: NIODeadline

    /// The TCP handshake as the dialer saw it.
    public var connectDuration: TimeAmount { self.connectedAt - self.startedAt }
}

/// What an emulator's forwarding did: packets for `tun`, chunks (one per read) for `relay`.
public struct NetworkEmulatorStatistics: Sendable, Hashable {
    /// Packets (TUN) or chunks (relay) forwarded after their delay.
    public var forwarded: Int = 0
    /// Bytes forwarded.
    public var bytes: Int = 0
    /// Packets dropped because a queue was full or the receiving stack refused them (TUN).
    public var dropped: Int = 0
    /// Connections relayed (relay).
    public var connections: Int = 0
    /// Mean time between a packet's deadline and its write.
    public var meanLateness: TimeAmount = .zero
    /// Largest time between a packet's deadline and its write.
    public var maximumLateness: TimeAmount = .zero
    /// CPU time the emulator's own threads have used since the path started; `nil` where the
    /// emulator runs no thread of its own (loopback, netem, whose work the kernel does).
    /// Compared with the wall time of a scenario it gives the emulator's share of the machine
    /// while the upgrades it delayed were measured.
    public var cpuTime: Duration? = nil

    public init() {}
}
