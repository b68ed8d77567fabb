import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers

/// The TUN link: one thread that reads every IP packet each namespace routes into its TUN
/// device and writes it into the other namespace's device exactly one one-way delay later.
///
/// Packets are stamped when read and queued per direction, in arrival order, in a bounded
/// ``DelayLine``. The thread polls both devices (and its stop pipe) until its learned wake-up
/// lead (``WakeupLead``, typically 60–120 µs) before the earliest head packet's deadline, then
/// keeps polling with a zero timeout, so that packets arriving while it spins are stamped at
/// once, and writes each packet as soon as the clock passes its deadline. Its CPU time is
/// readable (``cpuTime``), so a run records the emulator's share of the machine per scenario. The delay is constant, so
/// FIFO order is deadline order and packets are never reordered. A full queue drops the
/// packet, as a router's queue would; TCP recovers.
///
/// One thread serves both directions: on a two-core machine two spinning threads would leave
/// the endpoints no core during bulk transfers.
final class TUNDelayer: Sendable {
    /// What the thread did, for ``EmulatedPath/statistics``.
    struct Counters: Sendable, Hashable {
        var packets = 0
        var bytes = 0
        var dropped = 0
        var totalLatenessNanoseconds: UInt64 = 0
        var maximumLatenessNanoseconds: UInt64 = 0
    }

    /// Packets read per wake-up before the thread looks at the clock again, so that a burst
    /// cannot delay a due packet.
    static let readBatch = 64

    private let thread: EmulatorThread
    private let stopPipe: (read: CInt, write: CInt)
    private let counters: NIOLockedValueBox<Counters>
    private let stopped = NIOLockedValueBox(false)

    /// CPU time the delayer thread has used so far.
    var cpuTime: Duration? { self.thread.cpuTime }

    /// The kernel ID of the delayer thread.
    var threadID: pid_t { self.thread.threadID }

    var statistics: Counters { self.counters.withLockedValue { $0 } }

    /// Starts forwarding between two TUN devices (non-blocking descriptors), both ways.
    ///
    /// - Parameters:
    ///   - first: one device.
    ///   - second: the other device.
    ///   - delayNanoseconds: the one-way delay.
    ///   - mtu: the largest packet a device can deliver.
    ///   - queueLimit: bytes each direction's queue may hold (its bandwidth-delay budget).
    ///   - name: the thread's name.
    init(
        between first: CInt,
        and second: CInt,
        delayNanoseconds: UInt64,
        mtu: Int,
        queueLimit: Int,
        name: String
    ) throws {
        var pipeFDs: [CInt] = [-1, -1]
        guard CNetworkEmulationShim_makeWakePipe(&pipeFDs) == 0 else {
            throw NetworkEmulationError.systemCall("pipe2", errno: errno, as: { .setupFailed($0) })
        }
        let stopPipe = (read: pipeFDs[0], write: pipeFDs[1])
        let counters = NIOLockedValueBox(Counters())
        do {
            self.thread = try EmulatorThread.spawn(name: name) {
                // Timers fire as asked, not up to 50 µs late to batch wake-ups (WakeupLead).
                _ = CNetworkEmulationShim_setTimerSlack(1)
                let loop = Loop(
                    first: first,
                    second: second,
                    stop: stopPipe.read,
                    delay: delayNanoseconds,
                    mtu: mtu,
                    queueLimit: queueLimit,
                    counters: counters
                )
                loop.run()
            }
        } catch {
            close(stopPipe.read)
            close(stopPipe.write)
            throw error
        }
        self.stopPipe = stopPipe
        self.counters = counters
    }

    /// The descriptors the delayer owns (its stop pipe).
    var ownedDescriptors: [CInt] { [self.stopPipe.read, self.stopPipe.write] }

    /// Stops the thread (queued packets are dropped), waits for it and closes the stop pipe.
    /// Idempotent.
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

    /// One direction: packets read from `source`, written to `destination`.
    private final class Direction {
        let source: CInt
        let destination: CInt
        let line: DelayLine

        init(source: CInt, destination: CInt, line: DelayLine) {
            self.source = source
            self.destination = destination
            self.line = line
        }
    }

    /// The thread's state; lives on the delayer thread only.
    private final class Loop {
        let directions: [Direction]
        let stop: CInt
        let delay: UInt64
        let mtu: Int
        let counters: NIOLockedValueBox<Counters>
        var local = Counters()
        var dropBuffer: [UInt8]
        var wakeupLead = WakeupLead()

        init(
            first: CInt,
            second: CInt,
            stop: CInt,
            delay: UInt64,
            mtu: Int,
            queueLimit: Int,
            counters: NIOLockedValueBox<Counters>
        ) {
            // Start with room for a few dozen full packets; grow up to the limit under load.
            func makeLine() -> DelayLine {
                DelayLine(
                    initialCapacity: min(queueLimit, max(64 * mtu, 256 * 1024)),
                    maximumCapacity: queueLimit,
                    // 40 bytes: the smallest TCP/IPv4 packet, so the entry bound never binds first.
                    maximumEntries: max(1, queueLimit / 40)
                )
            }
            self.directions = [
                Direction(source: first, destination: second, line: makeLine()),
                Direction(source: second, destination: first, line: makeLine()),
            ]
            self.stop = stop
            self.delay = delay
            self.mtu = mtu
            self.counters = counters
            self.dropBuffer = [UInt8](repeating: 0, count: mtu)
        }

        func run() {
            var descriptors = [
                pollfd(fd: self.directions[0].source, events: Int16(POLLIN), revents: 0),
                pollfd(fd: self.directions[1].source, events: Int16(POLLIN), revents: 0),
                pollfd(fd: self.stop, events: Int16(POLLIN), revents: 0),
            ]
            while true {
                var nextDeadline = UInt64.max
                for direction in self.directions {
                    self.deliverDuePackets(direction)
                    if let head = direction.line.first {
                        nextDeadline = min(nextDeadline, head.due)
                    }
                }
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
                    // About to sleep: a good moment to copy the counters out (not per packet).
                    self.publish()
                }
                for index in descriptors.indices {
                    descriptors[index].revents = 0
                }
                let ready = self.wakeupLead.poll(timeout: timeout) {
                    CNetworkEmulationShim_poll(&descriptors, UInt(descriptors.count), timeout)
                }
                guard ready > 0 else { continue }
                if descriptors[2].revents != 0 {
                    self.publish()
                    return
                }
                for (index, direction) in self.directions.enumerated()
                where descriptors[index].revents & Int16(POLLIN) != 0 {
                    self.readPackets(direction)
                }
            }
        }

        private func readPackets(_ direction: Direction) {
            for _ in 0..<TUNDelayer.readBatch {
                if let space = direction.line.reserve(self.mtu) {
                    let count = read(direction.source, space.baseAddress, space.count)
                    let now = NetworkEmulationClock.nowNanoseconds()
                    guard count > 0 else {
                        direction.line.commit(length: 0, due: 0)
                        return
                    }
                    direction.line.commit(length: count, due: now + self.delay)
                } else {
                    // Queue full: read the packet anyway, so the device queue keeps moving, and drop it.
                    let count = self.dropBuffer.withUnsafeMutableBytes {
                        read(direction.source, $0.baseAddress, $0.count)
                    }
                    guard count > 0 else { return }
                    self.local.dropped += 1
                }
            }
        }

        private func deliverDuePackets(_ direction: Direction) {
            while let head = direction.line.first {
                let now = NetworkEmulationClock.nowNanoseconds()
                guard head.due <= now else { break }
                let bytes = direction.line.firstBytes
                let written = write(direction.destination, bytes.baseAddress, bytes.count)
                if written == bytes.count {
                    let lateness = now - head.due
                    self.local.packets += 1
                    self.local.bytes += bytes.count
                    self.local.totalLatenessNanoseconds += lateness
                    self.local.maximumLatenessNanoseconds = max(self.local.maximumLatenessNanoseconds, lateness)
                } else {
                    // The receiving stack refused the packet (device down, memory): a loss on the link.
                    self.local.dropped += 1
                }
                direction.line.removeFirst()
            }
        }

        /// Copies the thread's counters out for ``TUNDelayer/statistics``.
        private func publish() {
            let snapshot = self.local
            self.counters.withLockedValue { $0 = snapshot }
        }
    }
}
