import Glibc
import NIOCore

/// What every emulator implements; ``EmulatedPath`` is the public face over it.
protocol EmulatorBackend: AnyObject, Sendable {
    var kind: NetworkEmulatorKind { get }

    /// A listening socket on the listener side (`port` 0: kernel-chosen).
    func makeListeningSocket(port: UInt16, backlog: CInt) async throws -> EmulatedListeningSocket

    /// Dials `address` (a listener's ``EmulatedListeningSocket/dialAddress``) from the dialer
    /// side, then runs `then` on the dialing thread with the connected socket, at once: the
    /// public dial returns the socket, calibration probes it before any thread hop.
    func dial<Result: Sendable>(
        to address: sockaddr_in,
        then: @escaping @Sendable (DialedSocket) throws -> Result
    ) async throws -> Result

    /// Forgets a listener the caller has closed (the relay closes its frontend).
    func releaseListener(dialAddress: sockaddr_in)

    /// The IPv4 address a listener on the listener side binds.
    var listenerBindAddress: sockaddr_in { get }

    /// The namespace of one side, for processes started there; nil where both sides share the
    /// caller's namespace (loopback, relay).
    func namespaceFD(of side: EmulatedPath.Side) -> CInt?

    /// The dial address of a listener another process bound at `address` on the listener side
    /// (the relay adds a frontend for it).
    func exposeListener(boundAt address: sockaddr_in) throws -> sockaddr_in

    /// Stops threads, closes descriptors, removes namespaces. Idempotent.
    func stop()

    var statistics: NetworkEmulatorStatistics { get }

    /// The port the listener sees as the remote port of the connection the dialer made from
    /// `dialerPort`: the same port on paths that forward packets, the relay's own port on a relay.
    func listenerSidePort(ofDialerPort dialerPort: UInt16) -> UInt16?

    /// What the emulator holds right now, so that tests can prove ``stop()`` released it.
    var resources: EmulatorResources { get }
}

extension EmulatorBackend {
    /// Paths that forward packets keep the dialer's address and port.
    func listenerSidePort(ofDialerPort dialerPort: UInt16) -> UInt16? { dialerPort }

    /// Loopback and relay: both sides are this process's namespace, listeners bind 127.0.0.1.
    var listenerBindAddress: sockaddr_in { EmulatorSocket.ipv4(127, 0, 0, 1, port: 0) }

    func namespaceFD(of side: EmulatedPath.Side) -> CInt? { nil }

    /// Paths that forward packets are dialed where the listener bound.
    func exposeListener(boundAt address: sockaddr_in) throws -> sockaddr_in { address }
}

/// A socket just connected by a backend, with `CLOCK_MONOTONIC` readings around the handshake.
struct DialedSocket: Sendable {
    var fd: CInt
    var startedAt: UInt64
    var connectedAt: UInt64

    var connection: EmulatedConnection {
        EmulatedConnection(
            socket: self.fd,
            startedAt: .uptimeNanoseconds(self.startedAt),
            connectedAt: .uptimeNanoseconds(self.connectedAt)
        )
    }
}

extension EmulatorBackend {
    /// Dials and returns the connected socket.
    func connect(to address: sockaddr_in) async throws -> EmulatedConnection {
        try await self.dial(to: address) { $0.connection }
    }
}

/// The threads, descriptors and namespaces an emulator holds.
struct EmulatorResources: Sendable, Hashable {
    /// Descriptors with their inode (the inode tells a reused descriptor number apart).
    var descriptors: [EmulatorDescriptor] = []
    /// Kernel thread IDs of the emulator's long-lived threads.
    var threadIDs: [pid_t] = []
    /// Names published under /run/netns.
    var namespaceNames: [String] = []
}

/// A descriptor and the identity of the file it referred to when recorded.
struct EmulatorDescriptor: Sendable, Hashable {
    var fd: CInt
    var device: UInt64
    var inode: UInt64

    init?(_ fd: CInt) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        self.fd = fd
        self.device = UInt64(status.st_dev)
        self.inode = UInt64(status.st_ino)
    }

    /// Whether `fd` is still open and refers to the same file.
    var isStillOpen: Bool {
        var status = stat()
        guard fstat(self.fd, &status) == 0 else { return false }
        return UInt64(status.st_dev) == self.device && UInt64(status.st_ino) == self.inode
    }
}

extension EmulatorResources {
    init(descriptors: [CInt], threadIDs: [pid_t], namespaceNames: [String]) {
        self.descriptors = descriptors.compactMap(EmulatorDescriptor.init)
        self.threadIDs = threadIDs
        self.namespaceNames = namespaceNames
    }
}
