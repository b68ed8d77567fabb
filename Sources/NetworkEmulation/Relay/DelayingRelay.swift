import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers

/// A TCP relay on 127.0.0.1 that delays every chunk of bytes by the one-way delay in each
/// direction, and the connection's establishment by the round trip, for users without root.
///
/// ### Timeline of one connection (d = one-way delay, t = 0 when the dialer calls connect)
/// The relay learns t = 0 from the dial helper (``announceDial(fromPort:startedAt:)``, keyed by
/// the dialer's port); for a dialer it was not told about, it uses its own accept time.
/// A real TCP handshake completes at the dialer after one round trip (2d), at the listener
/// after one and a half (3d, when the final ACK arrives), and data the dialer sends right after
/// connecting arrives at 3d. Loopback `connect(2)` completes at once, so the relay rebuilds
/// that timeline around it:
/// - the dial helper (``RelayBackend``) returns only at 2d, like a real `connect`;
/// - the relay connects upstream to the listener at 3d, so the listener's `accept` sees the
///   connection when a real one would;
/// - bytes from the dialer are due at `max(arrival, 2d) + d`: none reaches the listener
///   before 3d, even from a client that wrote before the emulated handshake ended;
/// - bytes from the listener are due at `arrival + d`; half-closes and resets are forwarded
///   with the same delays.
///
/// The relay is not limited by bandwidth × delay the way a real path is (its buffers are
/// bounded at ``RelayBackend/bufferLimit`` per direction, then it stops reading, which TCP turns
/// into back-pressure); a refused upstream connection shows up as a reset after 3d rather than
/// as a failed `connect`.
final class DelayingRelay: Sendable {
    /// What the relay did, for ``EmulatedPath/statistics``.
    struct Counters: Sendable, Hashable {
        var connections = 0
        var chunks = 0
        var bytes = 0
        var totalLatenessNanoseconds: UInt64 = 0
        var maximumLatenessNanoseconds: UInt64 = 0
    }

    /// Connections relayed at once; further dialers wait in the frontend's listen backlog.
    static let maximumConnections = 256
    /// Frontends open at once: one per listener; ``retireFrontend(port:)`` frees one.
    static let maximumFrontends = 64
    /// The largest single read, and so the largest chunk.
    static let chunkSize = 64 * 1024
    /// Announced dials not yet accepted that the relay remembers; older ones are forgotten first.
    static let maximumAnnouncedDials = 1024
    /// An announcement older than this when its connection is accepted is ignored: it belongs to
    /// a connection the relay accepted before hearing of it, and its port has been reused.
    static let announcementLifetimeNanoseconds: UInt64 = 1_000_000_000

    private let thread: EmulatorThread
    private let wakePipe: (read: CInt, write: CInt)
    private let shared: NIOLockedValueBox<Shared>
    private let stopped = NIOLockedValueBox(false)

    private struct Shared {
        var newFrontends: [Frontend] = []
        /// Ports of frontends to close (their listener is gone).
        var retiredFrontends: [UInt16] = []
        /// Frontends open or about to be (bounded by ``DelayingRelay/maximumFrontends``).
        var frontendCount = 0
        /// Dialer port to `CLOCK_MONOTONIC` time of its connect(2), until the relay accepts it.
        var announcedDials: [UInt16: UInt64] = [:]
        /// Dialer port to the local port of the relay's connection to the listener, newest
        /// ``DelayingRelay/maximumAnnouncedDials`` only, in the order they were made.
        var upstreamPorts: [UInt16: UInt16] = [:]
        var upstreamPortOrder: [UInt16] = []
        var stopRequested = false
        var counters = Counters()
        var openDescriptors: [CInt] = []
    }

    fileprivate struct Frontend {
        var fd: CInt
        var port: UInt16
        var upstream: sockaddr_in
    }

    /// CPU time the relay thread has used so far.
    var cpuTime: Duration? { self.thread.cpuTime }

    /// The kernel ID of the relay thread.
    var threadID: pid_t { self.thread.threadID }

    var statistics: Counters { self.shared.withLockedValue { $0.counters } }

    /// Descriptors the relay holds open (wake pipe, frontends, relayed connections).
    var ownedDescriptors: [CInt] {
        [self.wakePipe.read, self.wakePipe.write] + self.shared.withLockedValue { $0.openDescriptors }
    }

    /// Starts the relay thread.
    ///
    /// - Parameters:
    ///   - delayNanoseconds: the one-way delay.
    ///   - bufferLimit: bytes buffered per direction of a connection before the relay stops reading.
    init(delayNanoseconds: UInt64, bufferLimit: Int) throws {
        var pipeFDs: [CInt] = [-1, -1]
        guard CNetworkEmulationShim_makeWakePipe(&pipeFDs) == 0 else {
            throw NetworkEmulationError.systemCall("pipe2", errno: errno, as: { .setupFailed($0) })
        }
        let wakePipe = (read: pipeFDs[0], write: pipeFDs[1])
        let shared = NIOLockedValueBox(Shared())
        do {
            self.thread = try EmulatorThread.spawn(name: "ubnetem-relay") {
                // Timers fire as asked, not up to 50 µs late to batch wake-ups (WakeupLead).
                _ = CNetworkEmulationShim_setTimerSlack(1)
                Loop(wake: wakePipe.read, delay: delayNanoseconds, bufferLimit: bufferLimit, shared: shared).run()
            }
        } catch {
            close(wakePipe.read)
            close(wakePipe.write)
            throw error
        }
        self.wakePipe = wakePipe
        self.shared = shared
    }

    deinit {
        self.stop()
    }

    /// Opens a frontend on 127.0.0.1 (kernel-chosen port) whose connections the relay forwards
    /// to `upstream`, and returns the frontend's address.
    func addFrontend(upstream: sockaddr_in) throws -> sockaddr_in {
        let (fd, address) = try EmulatorSocket.makeListeningSocket(
            at: EmulatorSocket.ipv4(127, 0, 0, 1, port: 0),
            backlog: CInt(Self.maximumConnections)
        )
        let refusal = self.shared.withLockedValue { shared -> NetworkEmulationError? in
            guard !shared.stopRequested else { return .stopped() }
            guard shared.frontendCount < Self.maximumFrontends else {
                return .limitReached("more than \(Self.maximumFrontends) relay listeners; release unused ones")
            }
            shared.frontendCount += 1
            shared.newFrontends.append(Frontend(fd: fd, port: EmulatorSocket.port(address), upstream: upstream))
            shared.openDescriptors.append(fd)
            return nil
        }
        if let refusal {
            close(fd)
            throw refusal
        }
        self.wake()
        return address
    }

    /// Closes the frontend on `port` (its listener is gone); connections already relayed stay.
    func retireFrontend(port: UInt16) {
        self.shared.withLockedValue { $0.retiredFrontends.append(port) }
        self.wake()
    }

    /// Tells the relay that the dialer bound to `port` calls `connect(2)` at `startedAt`, so that
    /// the connection's emulated timeline starts then rather than at the relay's accept (which
    /// is later by the relay thread's wake-up).
    func announceDial(fromPort port: UInt16, startedAt: UInt64) {
        self.shared.withLockedValue { shared in
            if shared.announcedDials.count >= Self.maximumAnnouncedDials,
                let oldest = shared.announcedDials.min(by: { $0.value < $1.value })
            {
                shared.announcedDials.removeValue(forKey: oldest.key)
            }
            shared.announcedDials[port] = startedAt
        }
    }

    /// The local port of the relay's connection to the listener for the dialer's connection from
    /// `port`, once the relay has opened it (1.5 emulated round trips after the dial).
    func upstreamPort(ofDialerPort port: UInt16) -> UInt16? {
        self.shared.withLockedValue { $0.upstreamPorts[port] }
    }

    /// Stops the relay: closes every frontend and relayed connection, waits for the thread, and
    /// closes the wake pipe. Idempotent.
    func stop() {
        let first = self.stopped.withLockedValue { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        self.shared.withLockedValue { $0.stopRequested = true }
        var byte: UInt8 = 1
        _ = write(self.wakePipe.write, &byte, 1)
        self.thread.join()
        // Frontends handed over after the thread's last look are still ours to close.
        let leftovers = self.shared.withLockedValue { shared -> [Frontend] in
            defer { shared.newFrontends = [] }
            return shared.newFrontends
        }
        for frontend in leftovers {
            close(frontend.fd)
        }
        self.shared.withLockedValue { $0.openDescriptors = [] }
        close(self.wakePipe.read)
        close(self.wakePipe.write)
    }

    /// Wakes the relay thread. Under the `stopped` lock: once stop() has begun, the pipe may be
    /// closed and its descriptor number reused, and a write there would land in someone's file.
    private func wake() {
        self.stopped.withLockedValue { stopped in
            guard !stopped else { return }
            var byte: UInt8 = 1
            _ = write(self.wakePipe.write, &byte, 1)
        }
    }

    // MARK: - The relay thread

    /// One relayed connection; lives on the relay thread only.
    private final class Connection {
        enum Upstream {
            case waiting(until: UInt64)
            case connecting(CInt)
            case open(CInt)
            case closed
        }

        let downstream: CInt
        /// The dialer's port, when known.
        let dialerPort: UInt16?
        /// When the dialer called connect(2): announced by the dial helper, else the accept time.
        let origin: UInt64
        let upstreamAddress: sockaddr_in
        var upstream: Upstream
        /// Dialer to listener.
        let toUpstream: DelayLine
        /// Listener to dialer.
        let toDownstream: DelayLine
        var downstreamReadable = true
        var upstreamReadable = true
        var downstreamReadPaused = false
        var upstreamReadPaused = false
        var downstreamWriteBlocked = false
        var upstreamWriteBlocked = false
        var downstreamWriteShut = false
        var upstreamWriteShut = false
        var failed = false

        init(
            downstream: CInt,
            dialerPort: UInt16?,
            origin: UInt64,
            upstreamAddress: sockaddr_in,
            connectAt: UInt64,
            bufferLimit: Int
        ) {
            self.downstream = downstream
            self.dialerPort = dialerPort
            self.origin = origin
            self.upstreamAddress = upstreamAddress
            self.upstream = .waiting(until: connectAt)
            let initial = min(bufferLimit, 64 * 1024)
            self.toUpstream = DelayLine(initialCapacity: initial, maximumCapacity: bufferLimit, maximumEntries: 16_384)
            self.toDownstream = DelayLine(
                initialCapacity: initial,
                maximumCapacity: bufferLimit,
                maximumEntries: 16_384
            )
        }

        var upstreamFD: CInt? {
            switch self.upstream {
            case .connecting(let fd), .open(let fd): return fd
            case .waiting, .closed: return nil
            }
        }

        var isFinished: Bool {
            self.failed || (self.downstreamWriteShut && self.upstreamWriteShut)
        }
    }

    private enum Side { case downstream, upstream }

    private final class Loop {
        let wake: CInt
        let delay: UInt64
        let bufferLimit: Int
        let shared: NIOLockedValueBox<Shared>
        var frontends: [Frontend] = []
        var connections: [Connection] = []
        var counters = Counters()
        var descriptors: [pollfd] = []
        var owners: [(connection: Int, side: Side)] = []
        var drain = [UInt8](repeating: 0, count: 64)
        var wakeupLead = WakeupLead()

        init(wake: CInt, delay: UInt64, bufferLimit: Int, shared: NIOLockedValueBox<Shared>) {
            self.wake = wake
            self.delay = delay
            self.bufferLimit = bufferLimit
            self.shared = shared
        }

        func run() {
            while true {
                let now = NetworkEmulationClock.nowNanoseconds()
                var nextDeadline = UInt64.max
                for connection in self.connections {
                    nextDeadline = min(nextDeadline, self.advance(connection, now: now))
                }
                self.removeFinishedConnections()

                var timeout: Int64 = -1
                if nextDeadline != .max {
                    switch NetworkEmulationWaitStep(
                        now: NetworkEmulationClock.nowNanoseconds(),
                        deadline: nextDeadline,
                        spinWindow: self.wakeupLead.nanoseconds
                    ) {
                    case .due:
                        continue
                    case .spin:
                        timeout = 0
                    case .sleep(let nanoseconds):
                        timeout = Int64(nanoseconds)
                    }
                }
                if timeout != 0 {
                    // About to sleep: a good moment to copy the counters out (not per chunk).
                    self.publishCounters()
                }
                self.buildPollSet()
                let ready = self.wakeupLead.poll(timeout: timeout) {
                    self.descriptors.withUnsafeMutableBufferPointer {
                        CNetworkEmulationShim_poll($0.baseAddress, UInt($0.count), timeout)
                    }
                }
                guard ready > 0 else { continue }
                if self.descriptors[0].revents != 0 {
                    while Glibc.read(self.wake, &self.drain, self.drain.count) > 0 {}
                    if self.takeSharedRequests() {
                        self.closeEverything()
                        return
                    }
                }
                self.handleEvents()
            }
        }

        /// Adopts frontends handed over by ``DelayingRelay/addFrontend(upstream:)``; true when
        /// the relay is stopping.
        private func takeSharedRequests() -> Bool {
            let counters = self.counters
            let (stop, newFrontends, retired) = self.shared.withLockedValue {
                shared -> (Bool, [Frontend], [UInt16]) in
                defer {
                    shared.newFrontends = []
                    shared.retiredFrontends = []
                }
                shared.counters = counters
                return (shared.stopRequested, shared.stopRequested ? [] : shared.newFrontends, shared.retiredFrontends)
            }
            self.frontends.append(contentsOf: newFrontends)
            for port in retired {
                guard let index = self.frontends.firstIndex(where: { $0.port == port }) else { continue }
                let frontend = self.frontends.remove(at: index)
                self.untrack(frontend.fd)
                Glibc.close(frontend.fd)
                self.shared.withLockedValue { $0.frontendCount -= 1 }
            }
            return stop
        }

        // MARK: Time-driven work

        /// Starts due upstream connections and writes due chunks; returns the next deadline.
        private func advance(_ connection: Connection, now: UInt64) -> UInt64 {
            var next = UInt64.max
            if case .waiting(let until) = connection.upstream {
                if until <= now {
                    self.connectUpstream(connection)
                } else {
                    next = until
                }
            }
            if case .open(let fd) = connection.upstream, !connection.upstreamWriteBlocked, !connection.upstreamWriteShut
            {
                next = min(next, self.flush(connection, .upstream, to: fd))
            }
            if !connection.downstreamWriteBlocked, !connection.downstreamWriteShut {
                next = min(next, self.flush(connection, .downstream, to: connection.downstream))
            }
            return next
        }

        private func connectUpstream(_ connection: Connection) {
            do {
                let fd = try EmulatorSocket.makeTCPSocket()
                self.track(fd)
                EmulatorSocket.setNoDelay(fd)
                var address = connection.upstreamAddress
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                let connectErrno = errno
                if result == 0 || connectErrno == EINPROGRESS, let dialerPort = connection.dialerPort,
                    let local = try? EmulatorSocket.localAddress(of: fd)
                {
                    self.recordUpstreamPort(EmulatorSocket.port(local), of: dialerPort)
                }
                if result == 0 {
                    connection.upstream = .open(fd)
                } else if connectErrno == EINPROGRESS {
                    connection.upstream = .connecting(fd)
                } else {
                    connection.upstream = .connecting(fd)
                    self.fail(connection)
                }
            } catch {
                self.fail(connection)
            }
        }

        /// Remembers which relay port carries the dialer's connection to the listener.
        private func recordUpstreamPort(_ upstream: UInt16, of dialer: UInt16) {
            self.shared.withLockedValue { shared in
                if shared.upstreamPorts.updateValue(upstream, forKey: dialer) == nil {
                    shared.upstreamPortOrder.append(dialer)
                }
                if shared.upstreamPortOrder.count > DelayingRelay.maximumAnnouncedDials {
                    let oldest = shared.upstreamPortOrder.removeFirst()
                    shared.upstreamPorts[oldest] = nil
                }
            }
        }

        /// Writes the due head of one direction; returns the next deadline in it (or `.max`).
        private func flush(_ connection: Connection, _ toward: Side, to fd: CInt) -> UInt64 {
            let line = toward == .upstream ? connection.toUpstream : connection.toDownstream
            while let head = line.first {
                let now = NetworkEmulationClock.nowNanoseconds()
                guard head.due <= now else { return head.due }
                switch head.marker {
                case .data:
                    let bytes = line.firstBytes
                    let written = send(fd, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL) | CInt(MSG_DONTWAIT))
                    if written < 0 {
                        if errno == EAGAIN || errno == EWOULDBLOCK {
                            self.setWriteBlocked(connection, toward)
                            return .max
                        }
                        self.fail(connection)
                        return .max
                    }
                    if written == bytes.count {
                        let lateness = now - head.due
                        self.counters.chunks += 1
                        self.counters.totalLatenessNanoseconds += lateness
                        self.counters.maximumLatenessNanoseconds = max(
                            self.counters.maximumLatenessNanoseconds,
                            lateness
                        )
                    }
                    self.counters.bytes += written
                    line.consumeFirst(written)
                    // Room again in this line: its source may be read again.
                    if toward == .upstream {
                        connection.downstreamReadPaused = false
                    } else {
                        connection.upstreamReadPaused = false
                    }
                    if written < bytes.count {
                        self.setWriteBlocked(connection, toward)
                        return .max
                    }
                case .endOfStream:
                    line.removeFirst()
                    shutdown(fd, CInt(SHUT_WR))
                    if toward == .upstream {
                        connection.upstreamWriteShut = true
                    } else {
                        connection.downstreamWriteShut = true
                    }
                    return .max
                case .reset:
                    line.removeFirst()
                    self.fail(connection)
                    return .max
                }
            }
            return .max
        }

        private func setWriteBlocked(_ connection: Connection, _ side: Side) {
            if side == .upstream {
                connection.upstreamWriteBlocked = true
            } else {
                connection.downstreamWriteBlocked = true
            }
        }

        // MARK: Polling

        private func buildPollSet() {
            self.descriptors.removeAll(keepingCapacity: true)
            self.owners.removeAll(keepingCapacity: true)
            self.descriptors.append(pollfd(fd: self.wake, events: Int16(POLLIN), revents: 0))
            self.owners.append((-1, .downstream))
            let acceptMore = self.connections.count < DelayingRelay.maximumConnections
            for frontend in self.frontends {
                self.descriptors.append(pollfd(fd: frontend.fd, events: acceptMore ? Int16(POLLIN) : 0, revents: 0))
                self.owners.append((-1, .upstream))
            }
            for (index, connection) in self.connections.enumerated() {
                var downstreamEvents: Int16 = 0
                if connection.downstreamReadable && !connection.downstreamReadPaused {
                    downstreamEvents |= Int16(POLLIN)
                }
                if connection.downstreamWriteBlocked {
                    downstreamEvents |= Int16(POLLOUT)
                }
                // A side with nothing wanted is left out (fd -1), so a hang-up there cannot spin the loop.
                self.descriptors.append(
                    pollfd(fd: downstreamEvents == 0 ? -1 : connection.downstream, events: downstreamEvents, revents: 0)
                )
                self.owners.append((index, .downstream))
                switch connection.upstream {
                case .connecting(let fd):
                    self.descriptors.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0))
                    self.owners.append((index, .upstream))
                case .open(let fd):
                    var events: Int16 = 0
                    if connection.upstreamReadable && !connection.upstreamReadPaused {
                        events |= Int16(POLLIN)
                    }
                    if connection.upstreamWriteBlocked {
                        events |= Int16(POLLOUT)
                    }
                    self.descriptors.append(pollfd(fd: events == 0 ? -1 : fd, events: events, revents: 0))
                    self.owners.append((index, .upstream))
                case .waiting, .closed:
                    break
                }
            }
        }

        private func handleEvents() {
            let frontendCount = self.frontends.count
            for position in 1..<self.descriptors.count {
                let revents = self.descriptors[position].revents
                guard revents != 0 else { continue }
                if position <= frontendCount {
                    self.acceptConnections(from: self.frontends[position - 1])
                    continue
                }
                let owner = self.owners[position]
                let connection = self.connections[owner.connection]
                guard !connection.failed else { continue }
                // Errors and hang-ups are found by the next read or write, which then fail the connection.
                let writable = revents & Int16(POLLOUT | POLLERR | POLLHUP) != 0
                let readable = revents & Int16(POLLIN | POLLERR | POLLHUP) != 0
                switch owner.side {
                case .downstream:
                    if writable {
                        connection.downstreamWriteBlocked = false
                    }
                    if readable && connection.downstreamReadable && !connection.downstreamReadPaused {
                        self.read(connection, from: .downstream, fd: connection.downstream)
                    }
                case .upstream:
                    switch connection.upstream {
                    case .connecting(let fd):
                        var socketError: CInt = 0
                        var length = socklen_t(MemoryLayout<CInt>.size)
                        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
                        if socketError == 0 && revents & Int16(POLLERR | POLLHUP) == 0 {
                            connection.upstream = .open(fd)
                        } else {
                            self.fail(connection)
                        }
                    case .open(let fd):
                        if writable {
                            connection.upstreamWriteBlocked = false
                        }
                        if readable && connection.upstreamReadable && !connection.upstreamReadPaused {
                            self.read(connection, from: .upstream, fd: fd)
                        }
                    case .waiting, .closed:
                        break
                    }
                }
            }
        }

        private func acceptConnections(from frontend: Frontend) {
            while self.connections.count < DelayingRelay.maximumConnections {
                let fd = CNetworkEmulationShim_accept(frontend.fd)
                guard fd >= 0 else { return }
                let now = NetworkEmulationClock.nowNanoseconds()
                self.track(fd)
                EmulatorSocket.setNoDelay(fd)
                var origin = now
                var dialerPort: UInt16? = nil
                if let peer = try? EmulatorSocket.peerAddress(of: fd) {
                    let port = EmulatorSocket.port(peer)
                    dialerPort = port
                    if let announced = self.shared.withLockedValue({ $0.announcedDials.removeValue(forKey: port) }),
                        announced <= now, now - announced < DelayingRelay.announcementLifetimeNanoseconds
                    {
                        origin = announced
                    }
                }
                self.connections.append(
                    Connection(
                        downstream: fd,
                        dialerPort: dialerPort,
                        origin: origin,
                        upstreamAddress: frontend.upstream,
                        connectAt: origin + 3 * self.delay,
                        bufferLimit: self.bufferLimit
                    )
                )
                self.counters.connections += 1
            }
        }

        /// Reads what a side has, stamping each read, until it would block or its line is full.
        private func read(_ connection: Connection, from side: Side, fd: CInt) {
            let line = side == .downstream ? connection.toUpstream : connection.toDownstream
            while true {
                guard let space = line.reserve(DelayingRelay.chunkSize) else {
                    if side == .downstream {
                        connection.downstreamReadPaused = true
                    } else {
                        connection.upstreamReadPaused = true
                    }
                    return
                }
                let count = Glibc.read(fd, space.baseAddress, space.count)
                let now = NetworkEmulationClock.nowNanoseconds()
                // Dialer bytes never travel before the emulated handshake has ended (origin + 2d).
                let sentAt = side == .downstream ? max(now, connection.origin + 2 * self.delay) : now
                let due = sentAt + self.delay
                if count > 0 {
                    line.commit(length: count, due: due)
                    continue
                }
                line.commit(length: 0, due: 0)
                if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return
                }
                if count < 0 && errno == EINTR {
                    continue
                }
                // 0: the side half-closed; < 0: it failed. Either travels like data.
                let marker: DelayLine.Marker = count == 0 ? .endOfStream : .reset
                if !line.append(marker, due: due) {
                    self.fail(connection)
                }
                if side == .downstream {
                    connection.downstreamReadable = false
                } else {
                    connection.upstreamReadable = false
                }
                return
            }
        }

        // MARK: Teardown

        /// Resets both sides of a connection (SO_LINGER 0 makes close send RST), as a path
        /// failure would.
        private func fail(_ connection: Connection) {
            connection.failed = true
        }

        private func removeFinishedConnections() {
            guard self.connections.contains(where: { $0.isFinished }) else { return }
            var kept: [Connection] = []
            kept.reserveCapacity(self.connections.count)
            for connection in self.connections {
                if connection.isFinished {
                    self.close(connection, reset: connection.failed)
                } else {
                    kept.append(connection)
                }
            }
            self.connections = kept
            self.publishCounters()
        }

        private func close(_ connection: Connection, reset: Bool) {
            var descriptors = [connection.downstream]
            if let upstream = connection.upstreamFD {
                descriptors.append(upstream)
            }
            connection.upstream = .closed
            for fd in descriptors {
                if reset {
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                }
                // Untrack first: a listed descriptor is always open.
                self.untrack(fd)
                Glibc.close(fd)
            }
        }

        private func closeEverything() {
            for connection in self.connections {
                self.close(connection, reset: true)
            }
            self.connections = []
            for frontend in self.frontends {
                self.untrack(frontend.fd)
                Glibc.close(frontend.fd)
            }
            self.frontends = []
            self.publishCounters()
        }

        private func publishCounters() {
            let counters = self.counters
            self.shared.withLockedValue { $0.counters = counters }
        }

        private func track(_ fd: CInt) {
            self.shared.withLockedValue { $0.openDescriptors.append(fd) }
        }

        private func untrack(_ fd: CInt) {
            self.shared.withLockedValue { shared in
                if let index = shared.openDescriptors.firstIndex(of: fd) {
                    shared.openDescriptors.remove(at: index)
                }
            }
        }
    }
}
