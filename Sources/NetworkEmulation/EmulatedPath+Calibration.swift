import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers
import NIOCore

extension EmulatedPath {
    /// The most connections one calibration may open.
    public static let maximumCalibrationConnections = 100
    /// The most exchanges per calibration connection.
    public static let maximumCalibrationExchanges = 1000

    /// Measures the path with a probe: `connections` TCP connections through it, each timed
    /// (``NetworkEmulatorCalibration/connect``), followed at once, on the dialing thread, by
    /// `exchangesPerConnection` 1-byte echoes (the first one in
    /// ``NetworkEmulatorCalibration/firstExchange``, the rest in
    /// ``NetworkEmulatorCalibration/roundTrip``). The echo server is a thread on the listener
    /// side. Takes about `connections × (exchangesPerConnection + 1)` round trips.
    ///
    /// - Throws: ``NetworkEmulationError`` (`.calibrationFailed` when a probe times out or the
    ///   echo is wrong).
    public func calibrate(
        connections: Int = 5,
        exchangesPerConnection: Int = 4
    ) async throws -> NetworkEmulatorCalibration {
        guard (1...Self.maximumCalibrationConnections).contains(connections),
            (1...Self.maximumCalibrationExchanges).contains(exchangesPerConnection)
        else {
            throw NetworkEmulationError.calibrationFailed(
                "connections \(connections) (1...\(Self.maximumCalibrationConnections)), exchanges "
                    + "\(exchangesPerConnection) (1...\(Self.maximumCalibrationExchanges))"
            )
        }
        // Generous: a probe waits at most this long for any one event.
        let timeout = UInt64(2_000_000_000) + 4 * UInt64(self.requestedRTT.wholeNanoseconds)
        let listener = try await self.makeListeningSocket(backlog: 16)
        let server: CalibrationEchoServer
        do {
            server = try CalibrationEchoServer(
                listener: listener.socket,
                connections: connections,
                timeoutNanoseconds: timeout
            )
        } catch {
            close(listener.socket)
            throw error
        }
        defer {
            server.stop()
            self.releaseListener(listener)
        }

        var connects: [Int64] = []
        var firsts: [Int64] = []
        var rest: [Int64] = []
        for _ in 0..<connections {
            let times = try await self.dialForCalibration(
                listener.dialAddress,
                exchanges: exchangesPerConnection,
                timeoutNanoseconds: timeout
            )
            connects.append(times.connect)
            firsts.append(times.exchanges[0])
            rest.append(contentsOf: times.exchanges.dropFirst())
        }
        return NetworkEmulatorCalibration(
            kind: self.kind,
            requestedRTT: self.requestedRTT,
            connect: .init(nanoseconds: connects),
            firstExchange: .init(nanoseconds: firsts),
            roundTrip: .init(nanoseconds: rest)
        )
    }

    private func dialForCalibration(
        _ address: SocketAddress,
        exchanges: Int,
        timeoutNanoseconds: UInt64
    ) async throws -> (connect: Int64, exchanges: [Int64]) {
        try await self.dial(address) { dialed in
            defer { close(dialed.fd) }
            EmulatorSocket.setNoDelay(dialed.fd)
            var samples: [Int64] = []
            samples.reserveCapacity(exchanges)
            var byte: UInt8 = 0
            for index in 0..<exchanges {
                byte = UInt8(truncatingIfNeeded: index)
                let sentAt = NetworkEmulationClock.nowNanoseconds()
                guard write(dialed.fd, &byte, 1) == 1 else {
                    throw NetworkEmulationError.systemCall(
                        "write (probe)",
                        errno: errno,
                        as: { .calibrationFailed($0) }
                    )
                }
                let echoed = try CalibrationEchoServer.readByte(from: dialed.fd, timeoutNanoseconds: timeoutNanoseconds)
                let receivedAt = NetworkEmulationClock.nowNanoseconds()
                guard echoed == byte else {
                    throw NetworkEmulationError.calibrationFailed("echo returned \(echoed), sent \(byte)")
                }
                samples.append(Int64(receivedAt - sentAt))
            }
            return (Int64(dialed.connectedAt - dialed.startedAt), samples)
        }
    }
}

/// The listener side of a calibration: accepts the probe's connections one after another and
/// echoes every byte, on a thread of its own; bounded by a per-event timeout and a stop pipe.
final class CalibrationEchoServer: Sendable {
    private let thread: EmulatorThread
    private let stopPipe: (read: CInt, write: CInt)
    private let stopped = NIOLockedValueBox(false)

    /// Takes ownership of `listener` (closed when the server ends).
    init(listener: CInt, connections: Int, timeoutNanoseconds: UInt64) throws {
        var pipeFDs: [CInt] = [-1, -1]
        guard CNetworkEmulationShim_makeWakePipe(&pipeFDs) == 0 else {
            throw NetworkEmulationError.systemCall("pipe2", errno: errno, as: { .calibrationFailed($0) })
        }
        let stopPipe = (read: pipeFDs[0], write: pipeFDs[1])
        do {
            self.thread = try EmulatorThread.spawn(name: "ubnetem-echo") {
                defer { close(listener) }
                // Count served connections, not wake-ups: a failed accept (EAGAIN after a spurious
                // wake-up, EINTR) must not use up a connection and close the listener early.
                var served = 0
                while served < connections {
                    guard
                        Self.wait(
                            for: listener,
                            events: POLLIN,
                            stop: stopPipe.read,
                            timeoutNanoseconds: timeoutNanoseconds
                        )
                    else { return }
                    let fd = CNetworkEmulationShim_accept(listener)
                    guard fd >= 0 else { continue }
                    served += 1
                    EmulatorSocket.setNoDelay(fd)
                    Self.echo(fd, stop: stopPipe.read, timeoutNanoseconds: timeoutNanoseconds)
                    close(fd)
                }
            }
        } catch {
            close(stopPipe.read)
            close(stopPipe.write)
            throw error
        }
        self.stopPipe = stopPipe
    }

    /// Ends the server (at once if it is still waiting) and joins it. Idempotent.
    func stop() {
        let first = self.stopped.withLockedValue { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(self.stopPipe.write, &byte, 1)
        self.thread.join()
        close(self.stopPipe.read)
        close(self.stopPipe.write)
    }

    deinit {
        self.stop()
    }

    private static func echo(_ fd: CInt, stop: CInt, timeoutNanoseconds: UInt64) {
        var buffer = [UInt8](repeating: 0, count: 256)
        while Self.wait(for: fd, events: POLLIN, stop: stop, timeoutNanoseconds: timeoutNanoseconds) {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard count > 0 else { return }
            var written = 0
            while written < count {
                let result = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + written, count - written) }
                if result < 0 && (errno == EAGAIN || errno == EINTR) {
                    guard Self.wait(for: fd, events: POLLOUT, stop: stop, timeoutNanoseconds: timeoutNanoseconds) else {
                        return
                    }
                    continue
                }
                guard result > 0 else { return }
                written += result
            }
        }
    }

    /// Waits until `fd` has `events`; false on timeout, error or stop.
    private static func wait(for fd: CInt, events: CInt, stop: CInt, timeoutNanoseconds: UInt64) -> Bool {
        var descriptors = [
            pollfd(fd: fd, events: Int16(events), revents: 0),
            pollfd(fd: stop, events: Int16(POLLIN), revents: 0),
        ]
        let deadline = NetworkEmulationClock.nowNanoseconds() + timeoutNanoseconds
        while true {
            let now = NetworkEmulationClock.nowNanoseconds()
            guard now < deadline else { return false }
            let ready = CNetworkEmulationShim_poll(&descriptors, 2, Int64(deadline - now))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0, descriptors[1].revents == 0 else { return false }
            if descriptors[0].revents != 0 { return true }
        }
    }

    /// Reads one byte from a non-blocking socket, waiting at most `timeoutNanoseconds`.
    static func readByte(from fd: CInt, timeoutNanoseconds: UInt64) throws -> UInt8 {
        let deadline = NetworkEmulationClock.nowNanoseconds() + timeoutNanoseconds
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count == 1 { return byte }
            if count == 0 {
                throw NetworkEmulationError.calibrationFailed("the echo server closed the connection")
            }
            guard errno == EAGAIN || errno == EINTR else {
                throw NetworkEmulationError.systemCall("read (probe)", errno: errno, as: { .calibrationFailed($0) })
            }
            let now = NetworkEmulationClock.nowNanoseconds()
            guard now < deadline else {
                throw NetworkEmulationError.calibrationFailed("no echo within \(timeoutNanoseconds / 1_000_000) ms")
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = CNetworkEmulationShim_poll(&descriptor, 1, Int64(deadline - now))
        }
    }
}
