import Glibc
import NIOCore
import NIOPosix
import Testing

@testable import NetworkEmulation

/// The emulators this machine can run, as detection reports them (loopback always). The TUN
/// emulator's presence under root is asserted separately, so it cannot silently drop out.
enum TestedEmulators {
    static func kinds() async -> [NetworkEmulatorKind] {
        let availability = await NetworkEmulator.availability()
        return [.none] + [.tun, .relay, .netem].filter { availability[$0]?.isAvailable == true }
    }

    static func emulated() async -> [NetworkEmulatorKind] {
        await Self.kinds().filter { $0 != .none }
    }

    /// The RTT a timing test asks for: the issue's 20 ms, or 0 for plain loopback.
    static func rtt(for kind: NetworkEmulatorKind, _ rtt: Duration) -> Duration {
        kind == .none ? .zero : rtt
    }
}

/// Everything an emulated path promises, per emulator that runs here: precision of the
/// emulated round trip (the issue's tolerance, 2 % + 0.3 ms, on medians of several samples),
/// a TCP handshake that takes one round trip, SwiftNIO adoption of its sockets, intact bulk
/// transfers, and a stop that leaves nothing behind.
///
/// Serialized: the timing checks must not compete with each other for the two cores.
@Suite(.serialized) struct EmulatedPathTests {
    /// The issue's tolerance for an emulated round trip: 2 % of the request plus 0.3 ms.
    static func tolerance(_ rtt: Duration) -> TimeAmount {
        .nanoseconds(rtt.wholeNanoseconds / 50 + 300_000)
    }

    static func expectClose(
        _ measured: TimeAmount,
        to rtt: Duration,
        extra: TimeAmount = .zero,
        _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = abs(measured.nanoseconds - rtt.wholeNanoseconds)
        let allowed = (Self.tolerance(rtt) + extra).nanoseconds
        #expect(
            error <= allowed,
            "\(what): measured \(Double(measured.nanoseconds) / 1e6) ms for \(rtt), allowed ±\(Double(allowed) / 1e6) ms",
            sourceLocation: sourceLocation
        )
    }

    // MARK: - Precision

    /// Timing on a shared 2-core machine can be disturbed by other work, so a precision test
    /// measures up to this many times and records the misses of the last attempt only: the claim is
    /// that the emulator delivers the precision, which one undisturbed measurement shows.
    static let attempts = 3

    /// Whether `measured` is within the tolerance of `rtt` (see ``expectClose(_:to:extra:_:sourceLocation:)``).
    static func isClose(_ measured: TimeAmount, to rtt: Duration, extra: TimeAmount = .zero) -> Bool {
        abs(measured.nanoseconds - rtt.wholeNanoseconds) <= (Self.tolerance(rtt) + extra).nanoseconds
    }

    @Test(arguments: await TestedEmulators.kinds())
    func probeMeasuresTheRequestedRTT(kind: NetworkEmulatorKind) async throws {
        let rtt = TestedEmulators.rtt(for: kind, .milliseconds(20))
        for attempt in 1...Self.attempts {
            let path = try await NetworkEmulator.start(.kind(kind), rtt: rtt)
            defer { path.stop() }
            let calibration = try await path.calibrate(connections: 3, exchangesPerConnection: 6)
            #expect(calibration.kind == kind)
            #expect(calibration.requestedRTT == rtt)
            #expect(calibration.roundTrip.samples == 15)
            let holds = Self.isClose(calibration.roundTrip.median, to: rtt)
                && calibration.roundTrip.minimum >= .nanoseconds(rtt.wholeNanoseconds)
            if holds || attempt == Self.attempts {
                Self.expectClose(calibration.roundTrip.median, to: rtt, "\(kind) probe RTT p50")
                #expect(
                    calibration.roundTrip.minimum >= .nanoseconds(rtt.wholeNanoseconds),
                    "\(kind): no probe beats the delay"
                )
                break
            }
        }
    }

    @Test(arguments: await TestedEmulators.kinds())
    func tcpConnectTakesOneRTTAndTheFirstExchangeOneMore(kind: NetworkEmulatorKind) async throws {
        let rtt = TestedEmulators.rtt(for: kind, .milliseconds(20))
        // "Plus a little": the dial thread's wake-up after the SYN-ACK.
        let extra = TimeAmount.microseconds(200)
        for attempt in 1...Self.attempts {
            let path = try await NetworkEmulator.start(.kind(kind), rtt: rtt)
            defer { path.stop() }
            let calibration = try await path.calibrate(connections: 7, exchangesPerConnection: 1)
            #expect(calibration.connect.samples == 7)
            let holds = Self.isClose(calibration.connect.median, to: rtt, extra: extra)
                && calibration.connect.minimum >= .nanoseconds(rtt.wholeNanoseconds)
                && Self.isClose(calibration.firstExchange.median, to: rtt, extra: extra)
            if holds || attempt == Self.attempts {
                Self.expectClose(calibration.connect.median, to: rtt, extra: extra, "\(kind) TCP connect p50")
                #expect(
                    calibration.connect.minimum >= .nanoseconds(rtt.wholeNanoseconds),
                    "\(kind): no connect beats the delay"
                )
                Self.expectClose(
                    calibration.firstExchange.median,
                    to: rtt,
                    extra: extra,
                    "\(kind) first 1-byte request/response p50"
                )
                break
            }
        }
    }

    /// A dialer that connects to the relay with a plain `connect(2)` (not through the path) and
    /// writes at once still sees a real path's timeline: its byte reaches the listener after 1.5
    /// RTT, as it would behind a real handshake, so the echo takes 2 RTT from the connect.
    @Test func relayHoldsBytesOfAPlainDialerUntilTheHandshakeWouldHaveEnded() async throws {
        let rtt = Duration.milliseconds(20)
        let path = try await NetworkEmulator.start(.kind(.relay), rtt: rtt)
        defer { path.stop() }
        let listener = try await path.makeListeningSocket()
        let server = try CalibrationEchoServer(
            listener: listener.socket,
            connections: 5,
            timeoutNanoseconds: 2_000_000_000
        )
        defer { server.stop() }
        guard case .v4(let frontend) = listener.dialAddress else {
            Issue.record("relay frontend is not IPv4")
            return
        }
        var samples: [Int64] = []
        for _ in 0..<5 {
            let elapsed = try await EmulatorThread.run(name: "test-dial") { () throws -> Int64 in
                let dialed = try EmulatorSocket.connect(
                    to: frontend.address,
                    from: nil,
                    timeoutNanoseconds: 1_000_000_000
                )
                defer { close(dialed.fd) }
                var byte: UInt8 = 42
                guard write(dialed.fd, &byte, 1) == 1 else { throw NetworkEmulationError.socketFailure("write") }
                let echoed = try CalibrationEchoServer.readByte(from: dialed.fd, timeoutNanoseconds: 2_000_000_000)
                guard echoed == 42 else { throw NetworkEmulationError.calibrationFailed("echo \(echoed)") }
                return Int64(NetworkEmulationClock.nowNanoseconds() - dialed.startedAt)
            }
            samples.append(elapsed)
        }
        let median = NetworkEmulatorCalibration.Summary(nanoseconds: samples).median
        Self.expectClose(median, to: rtt * 2, "relay plain connect + first exchange p50")
    }

    /// The relay turns a refused upstream connection into a reset of the dialer's connection
    /// (after 1.5 RTT) rather than leaving it open.
    @Test func relayResetsTheDialerWhenTheListenerIsGone() async throws {
        let path = try await NetworkEmulator.start(.kind(.relay), rtt: .milliseconds(4))
        defer { path.stop() }
        let listener = try await path.makeListeningSocket()
        close(listener.socket)
        let dial = try await path.connect(to: listener.dialAddress)
        defer { close(dial.socket) }
        let error = #expect(throws: NetworkEmulationError.self) {
            _ = try CalibrationEchoServer.readByte(from: dial.socket, timeoutNanoseconds: 2_000_000_000)
        }
        #expect(error?.code == .calibrationFailed)
        #expect(error?.diagnostics.contains("reset") == true || error?.diagnostics.contains("closed") == true)
    }

    /// Where netem is missing (this kernel, for one), its setup gets as far as the veth pair and
    /// fails at `tc` with a typed error, leaving no namespace behind; where it exists the path
    /// starts. Either way the netem code runs, not only its detection.
    @Test(.enabled(if: geteuid() == 0 && Subprocess.locate("ip") != nil && Subprocess.locate("tc") != nil, "needs root, ip and tc"))
    func netemSetupEitherStartsOrFailsCleanly() async throws {
        let ours = { NetworkNamespaceNames.published().filter { NetworkNamespaceNames.owner(of: $0)?.pid == getpid() } }
        let before = ours()
        do {
            let backend = try await NamespacedBackend.startNetem(delayNanoseconds: 1_000_000, options: .init())
            #expect(backend.kind == .netem)
            #expect(backend.resources.namespaceNames.count == 2)
            backend.stop()
        } catch let error as NetworkEmulationError {
            #expect(error.code == .commandFailed, "\(error)")
            #expect(error.diagnostics.contains("netem"), "\(error)")
        }
        #expect(ours() == before)
    }

    // MARK: - SwiftNIO

    @Test(arguments: await TestedEmulators.kinds())
    func nioAdoptsTheListeningAndTheDialedSocket(kind: NetworkEmulatorKind) async throws {
        let path = try await NetworkEmulator.start(.kind(kind), rtt: TestedEmulators.rtt(for: kind, .milliseconds(2)))
        defer { path.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let message = ByteBuffer(string: "/multistream/1.0.0\n")
        let echoed = try await Self.transfer(message, through: path, group: group)
        try await group.shutdownGracefully()
        #expect(echoed.count == message.readableBytes)
        #expect(echoed.checksum == TransferChecksum(message).checksum)
    }

    @Test(arguments: await TestedEmulators.kinds())
    func bulkTransferArrivesIntact(kind: NetworkEmulatorKind) async throws {
        let path = try await NetworkEmulator.start(.kind(kind), rtt: TestedEmulators.rtt(for: kind, .milliseconds(2)))
        defer { path.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var payload = ByteBuffer()
        for index in 0..<(4 * 1024 * 1024 / 4) {
            payload.writeInteger(UInt32(truncatingIfNeeded: index &* 2_654_435_761))
        }
        let received = try await Self.transfer(payload, through: path, group: group)
        try await group.shutdownGracefully()
        #expect(received.count == payload.readableBytes)
        #expect(received.checksum == TransferChecksum(payload).checksum)
        if kind == .tun {
            #expect(path.statistics.forwarded > 2000)
            #expect(path.statistics.bytes > payload.readableBytes)
        }
    }

    @Test func tunCarriesJumboPacketsWithAnMTUOf65535() async throws {
        guard await NetworkEmulator.availability()[.tun]?.isAvailable == true else { return }
        var options = NetworkEmulator.Options()
        options.mtu = NetworkEmulator.Options.maximumMTU
        let path = try await NetworkEmulator.start(.kind(.tun), rtt: .milliseconds(2), options: options)
        defer { path.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let payload = ByteBuffer(repeating: 0xA5, count: 4 * 1024 * 1024)
        let received = try await Self.transfer(payload, through: path, group: group)
        try await group.shutdownGracefully()
        #expect(received.count == payload.readableBytes)
        #expect(received.checksum == TransferChecksum(payload).checksum)
        // Segments far above 1500 bytes crossed the link.
        #expect(path.statistics.bytes / max(1, path.statistics.forwarded) > 1500)
    }

    // MARK: - Lifetime

    @Test(arguments: await TestedEmulators.emulated())
    func stopReleasesThreadsDescriptorsAndNamespaces(kind: NetworkEmulatorKind) async throws {
        let path = try await NetworkEmulator.start(.kind(kind), rtt: .milliseconds(2))
        _ = try await path.calibrate(connections: 1, exchangesPerConnection: 2)
        let held = path.resources
        #expect(!held.descriptors.isEmpty)
        // (The relay may be closing a finished probe connection right now: check its wake pipe only.)
        for descriptor in kind == .relay ? Array(held.descriptors.prefix(2)) : held.descriptors {
            #expect(descriptor.isStillOpen)
        }
        for thread in held.threadIDs {
            #expect(access("/proc/self/task/\(thread)", F_OK) == 0, "\(kind) thread \(thread) runs")
        }
        if kind == .tun || kind == .netem, Subprocess.locate("ip") != nil {
            // Published for inspection while running.
            #expect(held.namespaceNames.count == 2)
            let listed = try Subprocess.run("ip", ["netns", "list"]).output
            for name in held.namespaceNames {
                #expect(listed.contains(name), "\(name) listed while running")
            }
        }

        path.stop()

        for descriptor in held.descriptors {
            #expect(!descriptor.isStillOpen, "\(kind) fd \(descriptor.fd) closed")
        }
        for thread in held.threadIDs {
            #expect(access("/proc/self/task/\(thread)", F_OK) != 0, "\(kind) thread \(thread) ended")
        }
        if Subprocess.locate("ip") != nil {
            let listed = try Subprocess.run("ip", ["netns", "list"]).output
            for name in held.namespaceNames {
                #expect(!listed.contains(name), "\(name) removed")
            }
        }
        #expect(NetworkNamespaceNames.published().filter { held.namespaceNames.contains($0) }.isEmpty)
    }

    @Test(arguments: await TestedEmulators.kinds())
    func stoppingTwiceIsSafeAndAStoppedPathRefusesWork(kind: NetworkEmulatorKind) async throws {
        let path = try await NetworkEmulator.start(.kind(kind), rtt: TestedEmulators.rtt(for: kind, .milliseconds(2)))
        let listener = try await path.makeListeningSocket()
        defer { close(listener.socket) }
        path.stop()
        path.stop()
        #expect(path.isStopped)
        let listenError = await #expect(throws: NetworkEmulationError.self) {
            try await path.makeListeningSocket()
        }
        #expect(listenError?.code == .stopped)
        let dialError = await #expect(throws: NetworkEmulationError.self) {
            try await path.connect(to: listener.dialAddress)
        }
        #expect(dialError?.code == .stopped)
    }

    @Test(arguments: await TestedEmulators.kinds())
    func dialsToAddressesThePathDidNotHandOutAreRefused(kind: NetworkEmulatorKind) async throws {
        let path = try await NetworkEmulator.start(.kind(kind), rtt: TestedEmulators.rtt(for: kind, .milliseconds(2)))
        defer { path.stop() }
        // Refused before any socket exists: nothing is sent anywhere.
        let foreign = try SocketAddress(ipAddress: "198.18.0.9", port: 9)
        let error = await #expect(throws: NetworkEmulationError.self) {
            try await path.connect(to: foreign)
        }
        #expect(error?.code == .unknownDialTarget)
        let ipv6 = try SocketAddress(ipAddress: "::1", port: 9)
        let ipv6Error = await #expect(throws: NetworkEmulationError.self) {
            try await path.connect(to: ipv6)
        }
        #expect(ipv6Error?.code == .unknownDialTarget)
    }

    /// What ``NetworkEmulatorCleanup/stopAll()`` does from a signal handler, on a registry of
    /// its own (the shared one also holds paths of tests running in parallel).
    @Test func cleanupRegistryStopsEveryRunningPath() async throws {
        let registry = EmulatorCleanupRegistry()
        var paths: [EmulatedPath] = []
        for kind in await TestedEmulators.emulated() {
            let backend = try await NetworkEmulator.makeBackend(kind, rtt: .milliseconds(2), options: .init())
            paths.append(
                EmulatedPath(
                    backend: backend,
                    resolution: NetworkEmulatorResolution(kind: kind, reason: "test"),
                    rtt: .milliseconds(2),
                    registry: registry
                )
            )
        }
        #expect(registry.count == paths.count)
        let held = paths.map(\.resources)
        registry.stopAll()
        #expect(registry.count == 0)
        for path in paths {
            #expect(path.isStopped)
        }
        for resources in held {
            for descriptor in resources.descriptors {
                #expect(!descriptor.isStillOpen)
            }
            for thread in resources.threadIDs {
                #expect(access("/proc/self/task/\(thread)", F_OK) != 0)
            }
        }
    }

    /// Dials beyond the path's limit fail at once with a typed error instead of piling up threads.
    @Test func dialsBeyondTheConcurrencyLimitAreRefused() async throws {
        let backend = try await NetworkEmulator.makeBackend(.relay, rtt: .milliseconds(200), options: .init())
        let path = EmulatedPath(
            backend: backend,
            resolution: NetworkEmulatorResolution(kind: .relay, reason: "test"),
            rtt: .milliseconds(200),
            registry: EmulatorCleanupRegistry(),
            dialLimit: 1
        )
        defer { path.stop() }
        let listener = try await path.makeListeningSocket()
        defer { close(listener.socket) }
        // The relay holds this dial for the 200 ms round trip.
        let first = Task { try await path.connect(to: listener.dialAddress) }
        for _ in 0..<1000 where path.dialsInProgress == 0 {
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(path.dialsInProgress == 1)
        let refused = await #expect(throws: NetworkEmulationError.self) {
            try await path.connect(to: listener.dialAddress)
        }
        #expect(refused?.code == .limitReached)
        let dialed = try await first.value
        close(dialed.socket)
    }

    @Test func calibrationRefusesCountsOutOfRange() async throws {
        let path = try await NetworkEmulator.start(.kind(.relay), rtt: .milliseconds(2))
        defer { path.stop() }
        for (connections, exchanges) in [
            (0, 1), (1, 0), (EmulatedPath.maximumCalibrationConnections + 1, 1),
            (1, EmulatedPath.maximumCalibrationExchanges + 1),
        ] {
            let error = await #expect(throws: NetworkEmulationError.self) {
                try await path.calibrate(connections: connections, exchangesPerConnection: exchanges)
            }
            #expect(error?.code == .calibrationFailed, "\(connections) × \(exchanges)")
        }
    }

    @Test func listeningWithAnInvalidPortOrBacklogIsRefused() async throws {
        let path = try await NetworkEmulator.start(.kind(.relay), rtt: .milliseconds(2))
        defer { path.stop() }
        for (port, backlog) in [(-1, Int32(16)), (65536, 16), (0, 0)] {
            let error = await #expect(throws: NetworkEmulationError.self) {
                try await path.makeListeningSocket(port: port, backlog: backlog)
            }
            #expect(error?.code == .socketFailure, "port \(port), backlog \(backlog)")
        }
    }

    /// The relay keeps a bounded number of frontends; releasing a listener frees its slot.
    @Test func relayListenersAreBoundedAndReleasable() async throws {
        let path = try await NetworkEmulator.start(.kind(.relay), rtt: .milliseconds(2))
        defer { path.stop() }
        var listeners: [EmulatedListeningSocket] = []
        for _ in 0..<EmulatedPath.maximumRelayListeners {
            listeners.append(try await path.makeListeningSocket())
        }
        let error = await #expect(throws: NetworkEmulationError.self) {
            try await path.makeListeningSocket()
        }
        #expect(error?.code == .limitReached)
        close(listeners[0].socket)
        path.releaseListener(listeners[0])
        let dialError = await #expect(throws: NetworkEmulationError.self) {
            try await path.connect(to: listeners[0].dialAddress)
        }
        #expect(dialError?.code == .unknownDialTarget)
        // The relay thread closes the frontend at its next wake-up; then the slot is free.
        var replacement: EmulatedListeningSocket?
        for _ in 0..<200 where replacement == nil {
            replacement = try? await path.makeListeningSocket()
            if replacement == nil { try await Task.sleep(for: .milliseconds(5)) }
        }
        let added = try #require(replacement)
        listeners[0] = added
        // Calibration releases its own listener, so it still works with every slot in use... but
        // one slot must be free for it: release one more.
        close(listeners[1].socket)
        path.releaseListener(listeners[1])
        try await Task.sleep(for: .milliseconds(20))
        _ = try await path.calibrate(connections: 1, exchangesPerConnection: 1)
        for listener in listeners.dropFirst(2) + [added] {
            close(listener.socket)
        }
    }

    @Test func aStoppedPathLeavesTheSharedRegistry() async throws {
        let path = try await NetworkEmulator.start(.kind(.relay), rtt: .milliseconds(2))
        let id = try #require(path.registrationForTesting)
        #expect(NetworkEmulatorCleanup.shared.isRegistered(id))
        path.stop()
        #expect(!NetworkEmulatorCleanup.shared.isRegistered(id))
    }

    @Test func aForgottenPathIsStoppedWhenReleased() async throws {
        guard await NetworkEmulator.availability()[.tun]?.isAvailable == true else { return }
        var path: EmulatedPath? = try await NetworkEmulator.start(.kind(.tun), rtt: .milliseconds(2))
        let held = try #require(path).resources
        path = nil
        for descriptor in held.descriptors {
            #expect(!descriptor.isStillOpen)
        }
        for thread in held.threadIDs {
            #expect(access("/proc/self/task/\(thread)", F_OK) != 0)
        }
    }

    /// A run killed outright leaves its published namespace names behind; the next start removes
    /// names whose owner is gone (here: a process ID that does not exist, and this process's ID
    /// with another start time, as after PID reuse) and keeps names of live owners.
    @Test(.enabled(if: geteuid() == 0 && Subprocess.locate("ip") != nil, "needs root and ip"))
    func leftoversOfAnInterruptedRunAreRemovedAtTheNextStart() async throws {
        let ownStart = try #require(NetworkNamespaceNames.startTime(of: getpid()))
        let absentPID = try #require(
            (1..<1000).lazy.map { pid_t(4_194_000 - $0) }.first { access("/proc/\($0)", F_OK) != 0 }
        )
        let deadOwner = NetworkNamespaceNames.name(pid: absentPID, startTime: 12345, sequence: 0, role: "dialer")
        let reusedPID = NetworkNamespaceNames.name(
            pid: getpid(),
            startTime: ownStart + 1,
            sequence: 0,
            role: "listener"
        )
        let liveOwner = NetworkNamespaceNames.name(
            pid: getpid(),
            startTime: ownStart,
            sequence: 999_999,
            role: "dialer"
        )
        for name in [deadOwner, reusedPID, liveOwner] {
            try Subprocess.check("ip", ["netns", "add", name])
        }
        defer { NetworkNamespaceNames.unpublish(liveOwner) }
        #expect(Set([deadOwner, reusedPID, liveOwner]).isSubset(of: NetworkNamespaceNames.published()))

        let path = try await NetworkEmulator.start(.kind(.relay), rtt: .milliseconds(2))
        path.stop()

        let remaining = NetworkNamespaceNames.published()
        #expect(!remaining.contains(deadOwner))
        #expect(!remaining.contains(reusedPID))
        #expect(remaining.contains(liveOwner))
        let listed = try Subprocess.run("ip", ["netns", "list"]).output
        #expect(!listed.contains(deadOwner))
    }

    @Test func namesEncodeTheirOwner() throws {
        let name = NetworkNamespaceNames.name(pid: 4321, startTime: 987_654, sequence: 7, role: "listener")
        #expect(name == "ubnetem-4321-987654-7-listener")
        let owner = try #require(NetworkNamespaceNames.owner(of: name))
        #expect(owner.pid == 4321)
        #expect(owner.startTime == 987_654)
        #expect(NetworkNamespaceNames.owner(of: "other-4321-1-1-dialer") == nil)
        #expect(NetworkNamespaceNames.owner(of: "ubnetem-x-1-1-dialer") == nil)
        #expect(NetworkNamespaceNames.owner(of: "ubnetem-1-2-dialer") == nil)
        // A name we cannot parse is never treated as stale.
        #expect(NetworkNamespaceNames.ownerIsAlive("ubnetem-garbage"))
    }

    /// Root (as here and in CI) must get the TUN emulator: its tests above are generated from
    /// detection, so this keeps them from disappearing unnoticed.
    @Test(.enabled(if: geteuid() == 0, "only root can make TUN devices"))
    func rootCanRunTheTUNEmulator() async {
        let tun = await NetworkEmulator.availability()[.tun]
        #expect(tun?.isAvailable == true, "\(String(describing: tun))")
    }

    // MARK: - Helpers

    /// Sends `payload` from the dialer to an echo server on the listener side through NIO
    /// channels adopted from the path's sockets, and returns what came back.
    static func transfer(
        _ payload: ByteBuffer,
        through path: EmulatedPath,
        group: MultiThreadedEventLoopGroup
    ) async throws -> TransferChecksum {
        let listener = try await path.makeListeningSocket()
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .withBoundSocket(listener.socket)
            .get()
        let dial = try await path.connect(to: listener.dialAddress)
        #expect(dial.connectedAt >= dial.startedAt)
        let eventLoop = group.next()
        let done = eventLoop.makePromise(of: TransferChecksum.self)
        let expected = payload.readableBytes
        let timeout = eventLoop.scheduleTask(in: .seconds(20)) {
            done.fail(NetworkEmulationError.calibrationFailed("transfer did not finish"))
        }
        let client = try await ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ChecksumHandler(expected: expected, done: done))
                }
            }
            .withConnectedSocket(dial.socket)
            .get()
        client.writeAndFlush(payload, promise: nil)
        let result = try await done.futureResult.get()
        timeout.cancel()
        try await client.close()
        try await server.close()
        return result
    }
}

/// Byte count and FNV-1a hash of a byte stream.
struct TransferChecksum: Sendable, Hashable {
    var count = 0
    var checksum: UInt64 = 0xcbf2_9ce4_8422_2325

    init() {}

    init(_ buffer: ByteBuffer) {
        self.add(buffer)
    }

    mutating func add(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                self.checksum = (self.checksum ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        self.count += buffer.readableBytes
    }
}

final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

final class ChecksumHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var checksum = TransferChecksum()
    private let expected: Int
    private let done: EventLoopPromise<TransferChecksum>

    init(expected: Int, done: EventLoopPromise<TransferChecksum>) {
        self.expected = expected
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.checksum.add(Self.unwrapInboundIn(data))
        if self.checksum.count >= self.expected {
            self.done.succeed(self.checksum)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.done.fail(NetworkEmulationError.calibrationFailed("closed after \(self.checksum.count) bytes"))
    }
}
