import Glibc
import NIOConcurrencyHelpers
import NIOCore

/// ``NetworkEmulatorKind/relay``: listeners bind 127.0.0.1, and each gets a relay frontend on
/// 127.0.0.1 that dialers use instead; see ``DelayingRelay`` for the connection timeline.
final class RelayBackend: EmulatorBackend {
    let kind = NetworkEmulatorKind.relay
    private let relay: DelayingRelay
    private let delayNanoseconds: UInt64
    private let connectTimeoutNanoseconds: UInt64
    /// Frontend ports handed out; only these may be dialed.
    private let frontendPorts = NIOLockedValueBox<Set<UInt16>>([])

    init(delayNanoseconds: UInt64, options: NetworkEmulator.Options) throws {
        self.relay = try DelayingRelay(delayNanoseconds: delayNanoseconds, bufferLimit: options.relayBufferLimit)
        self.delayNanoseconds = delayNanoseconds
        self.connectTimeoutNanoseconds = UInt64(options.connectTimeout.wholeNanoseconds)
    }

    func makeListeningSocket(port: UInt16, backlog: CInt) async throws -> EmulatedListeningSocket {
        let (fd, address) = try EmulatorSocket.makeListeningSocket(
            at: EmulatorSocket.ipv4(127, 0, 0, 1, port: port),
            backlog: backlog
        )
        do {
            let frontend = try self.relay.addFrontend(upstream: address)
            self.frontendPorts.withLockedValue { _ = $0.insert(EmulatorSocket.port(frontend)) }
            return EmulatedListeningSocket(
                socket: fd,
                localAddress: SocketAddress(address, host: "127.0.0.1"),
                dialAddress: SocketAddress(frontend, host: "127.0.0.1")
            )
        } catch {
            close(fd)
            throw error
        }
    }

    /// A frontend for a listener another process bound on 127.0.0.1.
    func exposeListener(boundAt address: sockaddr_in) throws -> sockaddr_in {
        guard EmulatorSocket.sameHost(address, self.listenerBindAddress) else {
            throw NetworkEmulationError.unknownDialTarget("relay paths relay to listeners on 127.0.0.1 only")
        }
        let frontend = try self.relay.addFrontend(upstream: address)
        self.frontendPorts.withLockedValue { _ = $0.insert(EmulatorSocket.port(frontend)) }
        return frontend
    }

    /// Connects to the frontend (immediate on loopback) and returns one emulated round trip
    /// after `connect(2)` was called, which is when a real handshake would complete; the relay
    /// holds the dialer's bytes until then (``DelayingRelay``).
    func dial<Result: Sendable>(
        to address: sockaddr_in,
        then: @escaping @Sendable (DialedSocket) throws -> Result
    ) async throws -> Result {
        let isFrontend = self.frontendPorts.withLockedValue { $0.contains(EmulatorSocket.port(address)) }
        guard EmulatorSocket.sameHost(address, EmulatorSocket.ipv4(127, 0, 0, 1, port: 0)), isFrontend else {
            throw NetworkEmulationError.unknownDialTarget("relay paths dial their own frontends on 127.0.0.1 only")
        }
        let roundTrip = 2 * self.delayNanoseconds
        let timeout = self.connectTimeoutNanoseconds
        let relay = self.relay
        return try await EmulatorThread.run(name: "ubnetem-dial") {
            // The relay learns when the dial started, keyed by the dialer's port, so that its
            // timeline runs from connect(2) rather than from its own (later) accept. A loopback
            // connect completes within the call, and the relay needs a wake-up to accept, so the
            // announcement nearly always arrives first; when not, the relay was awake and its
            // accept time is as good.
            let dialed = try EmulatorSocket.connect(
                to: address,
                from: nil,
                timeoutNanoseconds: timeout,
                announce: { port, startedAt in relay.announceDial(fromPort: port, startedAt: startedAt) }
            )
            // A real handshake completes one round trip after connect(2) was called.
            NetworkEmulationClock.wait(untilNanoseconds: dialed.startedAt + roundTrip)
            let connectedAt = NetworkEmulationClock.nowNanoseconds()
            return try then(DialedSocket(fd: dialed.fd, startedAt: dialed.startedAt, connectedAt: connectedAt))
        }
    }

    func releaseListener(dialAddress: sockaddr_in) {
        let port = EmulatorSocket.port(dialAddress)
        let known = self.frontendPorts.withLockedValue { $0.remove(port) != nil }
        if known {
            self.relay.retireFrontend(port: port)
        }
    }

    func stop() {
        self.relay.stop()
    }

    var statistics: NetworkEmulatorStatistics {
        let counters = self.relay.statistics
        var statistics = NetworkEmulatorStatistics()
        statistics.forwarded = counters.chunks
        statistics.bytes = counters.bytes
        statistics.connections = counters.connections
        if counters.chunks > 0 {
            statistics.meanLateness = .nanoseconds(Int64(counters.totalLatenessNanoseconds / UInt64(counters.chunks)))
        }
        statistics.maximumLateness = .nanoseconds(Int64(counters.maximumLatenessNanoseconds))
        statistics.cpuTime = self.relay.cpuTime
        return statistics
    }

    func listenerSidePort(ofDialerPort dialerPort: UInt16) -> UInt16? {
        self.relay.upstreamPort(ofDialerPort: dialerPort)
    }

    var resources: EmulatorResources {
        EmulatorResources(
            descriptors: self.relay.ownedDescriptors,
            threadIDs: [self.relay.threadID],
            namespaceNames: []
        )
    }
}
