import CNetworkEmulation
import Glibc

/// The socket calls shared by every emulator: listening and dialing TCP over IPv4 with
/// close-on-exec, non-blocking descriptors that SwiftNIO can adopt.
enum EmulatorSocket {
    /// An IPv4 socket address from four octets and a port.
    static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        // s_addr is in network byte order: the first octet is the lowest-addressed byte.
        address.sin_addr.s_addr = (UInt32(a) | UInt32(b) << 8 | UInt32(c) << 16 | UInt32(d) << 24)
        return address
    }

    /// The 32-bit address (network byte order) of an IPv4 socket address.
    ///
    /// Field access on `sockaddr_in` stays in this file: in files that import NIOCore the fields
    /// resolve to NIO's internal C module, which `MemberImportVisibility` refuses.
    static func networkOrderAddress(_ address: sockaddr_in) -> UInt32 { address.sin_addr.s_addr }

    /// Whether two socket addresses have the same IPv4 address (ports ignored).
    static func sameHost(_ lhs: sockaddr_in, _ rhs: sockaddr_in) -> Bool {
        lhs.sin_addr.s_addr == rhs.sin_addr.s_addr
    }

    /// The address with another port.
    static func withPort(_ address: sockaddr_in, _ port: UInt16) -> sockaddr_in {
        var copy = address
        copy.sin_port = port.bigEndian
        return copy
    }

    /// The port of an IPv4 socket address in host byte order.
    static func port(_ address: sockaddr_in) -> UInt16 { UInt16(bigEndian: address.sin_port) }

    /// A new TCP socket in the calling thread's network namespace.
    static func makeTCPSocket() throws -> CInt {
        let type = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue)
        let fd = socket(AF_INET, type, 0)
        guard fd >= 0 else {
            throw NetworkEmulationError.systemCall("socket", errno: errno, as: { .socketFailure($0) })
        }
        return fd
    }

    /// A bound, listening TCP socket in the calling thread's network namespace, and the address
    /// it is bound to (with the port the kernel chose when `address` asks for port 0).
    static func makeListeningSocket(at address: sockaddr_in, backlog: CInt) throws -> (fd: CInt, address: sockaddr_in) {
        let fd = try Self.makeTCPSocket()
        do {
            var one: CInt = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            var bindAddress = address
            let bound = withUnsafePointer(to: &bindAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                throw NetworkEmulationError.systemCall("bind", errno: errno, as: { .socketFailure($0) })
            }
            guard listen(fd, backlog) == 0 else {
                throw NetworkEmulationError.systemCall("listen", errno: errno, as: { .socketFailure($0) })
            }
            return (fd, try Self.localAddress(of: fd))
        } catch {
            close(fd)
            throw error
        }
    }

    /// The local address a socket is bound to.
    static func localAddress(of fd: CInt) throws -> sockaddr_in {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else {
            throw NetworkEmulationError.systemCall("getsockname", errno: errno, as: { .socketFailure($0) })
        }
        return address
    }

    /// The address of a connected socket's peer.
    static func peerAddress(of fd: CInt) throws -> sockaddr_in {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard result == 0 else {
            throw NetworkEmulationError.systemCall("getpeername", errno: errno, as: { .socketFailure($0) })
        }
        return address
    }

    /// A connected TCP socket, dialed from the calling thread's network namespace.
    ///
    /// - Parameters:
    ///   - destination: where to connect.
    ///   - source: an address to bind first. Binding the emulator's own dialer address makes
    ///     the kernel refuse the dial (EADDRNOTAVAIL) if the thread were ever outside the
    ///     emulator's namespace, so a dial can never leave the machine.
    ///   - timeoutNanoseconds: how long the handshake may take.
    ///   - announce: called right after `connect(2)` returns (the local port is known by then)
    ///     with that port and the `startedAt` reading that will be returned.
    /// - Returns: the socket and `CLOCK_MONOTONIC` readings just before `connect(2)` and just
    ///   after the kernel reported the connection established.
    static func connect(
        to destination: sockaddr_in,
        from source: sockaddr_in?,
        timeoutNanoseconds: UInt64,
        announce: ((_ localPort: UInt16, _ startedAt: UInt64) -> Void)? = nil
    ) throws -> (fd: CInt, startedAt: UInt64, connectedAt: UInt64) {
        let fd = try Self.makeTCPSocket()
        do {
            if var source {
                let bound = withUnsafePointer(to: &source) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                guard bound == 0 else {
                    throw NetworkEmulationError.systemCall("bind (dialer)", errno: errno, as: { .socketFailure($0) })
                }
            }
            var target = destination
            let startedAt = NetworkEmulationClock.nowNanoseconds()
            let result = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            let connectErrno = errno
            if let announce, result == 0 || connectErrno == EINPROGRESS {
                announce(Self.port(try Self.localAddress(of: fd)), startedAt)
            }
            errno = connectErrno
            if result == 0 {
                return (fd, startedAt, NetworkEmulationClock.nowNanoseconds())
            }
            guard errno == EINPROGRESS else {
                throw NetworkEmulationError.systemCall("connect", errno: errno, as: { .socketFailure($0) })
            }
            let deadline = startedAt + timeoutNanoseconds
            while true {
                let now = NetworkEmulationClock.nowNanoseconds()
                guard now < deadline else {
                    throw NetworkEmulationError.connectTimedOut(
                        "no TCP handshake within \(timeoutNanoseconds / 1_000_000) ms"
                    )
                }
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = CNetworkEmulationShim_poll(&descriptor, 1, Int64(deadline - now))
                let connectedAt = NetworkEmulationClock.nowNanoseconds()
                if ready < 0 {
                    guard errno == EINTR else {
                        throw NetworkEmulationError.systemCall(
                            "poll (connect)",
                            errno: errno,
                            as: { .socketFailure($0) }
                        )
                    }
                    continue
                }
                guard ready > 0 else { continue }
                var socketError: CInt = 0
                var length = socklen_t(MemoryLayout<CInt>.size)
                _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
                guard socketError == 0 else {
                    throw NetworkEmulationError.systemCall("connect", errno: socketError, as: { .socketFailure($0) })
                }
                return (fd, startedAt, connectedAt)
            }
        } catch {
            close(fd)
            throw error
        }
    }

    /// Disables Nagle's algorithm, so that 1-byte probes go out at once.
    static func setNoDelay(_ fd: CInt) {
        var one: CInt = 1
        _ = setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
    }
}
