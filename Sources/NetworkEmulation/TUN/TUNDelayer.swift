import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers

/// One direction of the TUN link: a thread that reads every IP packet the sending namespace
/// routes into its TUN device and writes it into the receiving namespace's TUN device exactly
/// one one-way delay later.
///
/// Packets are stamped when read, queued in arrival order in a bounded ``DelayLine`` and
/// written when due: the thread polls the source (and its stop pipe) until ``NetworkEmulationClock/spinWindow``
/// before the head packet's deadline, then keeps polling with a zero timeout, so packets that
/// arrive while it spins are stamped at once, and writes the packet as soon as the clock passes
/// the deadline. The delay is constant, so FIFO order is deadline order and packets are never
/// reordered. A full queue drops the packet, as a router's queue would; TCP recovers.
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

    /// The kernel ID of the delayer thread.
    var threadID: pid_t { self.thread.threadID }

    var statistics: Counters { self.counters.withLockedValue { $0 } }

    /// Starts forwarding from `source` to `destination` (both TUN descriptors, non-blocking).
    ///
    /// - Parameters:
    ///   - delayNanoseconds: the one-way delay.
    ///   - mtu: the largest packet the source device can deliver.
    ///   - queueLimit: bytes the queue may hold (the link's bandwidth-delay budget).
    ///   - name: the thread's name.
    init(
        from source: CInt,
        to destination: CInt,
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
                let loop = Loop(
                    source: source,
                    destination: destination,
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

    /// The thread's state; lives on the delayer thread only.
    private final class Loop {
        let source: CInt
        let destination: CInt
        let stop: CInt
        let delay: UInt64
        let mtu: Int
        let line: DelayLine
        let counters: NIOLockedValueBox<Counters>
        var local = Counters()
        var dropBuffer: [UInt8]

        init(
            source: CInt,
            destination: CInt,
            stop: CInt,
            delay: UInt64,
            mtu: Int,
            queueLimit: Int,
            counters: NIOLockedValueBox<Counters>
        ) {
            self.source = source
            self.destination = destination
            self.stop = stop
            self.delay = delay
            self.mtu = mtu
            // Start with room for a few dozen full packets; grow up to the limit under load.
            self.line = DelayLine(
                initialCapacity: min(queueLimit, max(64 * mtu, 256 * 1024)),
                maximumCapacity: queueLimit,
                maximumEntries: max(1, queueLimit / 40)
            )
            self.counters = counters
            self.dropBuffer = [UInt8](repeating: 0, count: mtu)
        }

        func run() {
            var descriptors = [
                pollfd(fd: self.source, events: Int16(POLLIN), revents: 0),
                pollfd(fd: self.stop, events: Int16(POLLIN), revents: 0),
            ]
            while true {
                self.deliverDuePackets()
                var timeout: Int64 = -1
                if let head = self.line.first {
                    switch NetworkEmulationWaitStep(now: NetworkEmulationClock.nowNanoseconds(), deadline: head.due) {
                    case .due:
                        continue
                    case .spin:
                        timeout = 0
                    case .sleep(let nanoseconds):
                        timeout = Int64(nanoseconds)
                    }
                }
                descriptors[0].revents = 0
                descriptors[1].revents = 0
                let ready = CNetworkEmulationShim_poll(&descriptors, 2, timeout)
                guard ready > 0 else { continue }
                if descriptors[1].revents != 0 {
                    self.publish()
                    return
                }
                if descriptors[0].revents & Int16(POLLIN) != 0 {
                    self.readPackets()
                }
            }
        }

        private func readPackets() {
            for _ in 0..<TUNDelayer.readBatch {
                if let space = self.line.reserve(self.mtu) {
                    let count = read(self.source, space.baseAddress, space.count)
                    let now = NetworkEmulationClock.nowNanoseconds()
                    guard count > 0 else {
                        self.line.commit(length: 0, due: 0)
                        return
                    }
                    self.line.commit(length: count, due: now + self.delay)
                } else {
                    // Queue full: read the packet anyway, so the device queue keeps moving, and drop it.
                    let count = self.dropBuffer.withUnsafeMutableBytes { read(self.source, $0.baseAddress, $0.count) }
                    guard count > 0 else { return }
                    self.local.dropped += 1
                }
            }
        }

        private func deliverDuePackets() {
            var delivered = false
            while let head = self.line.first {
                let now = NetworkEmulationClock.nowNanoseconds()
                guard head.due <= now else { break }
                let bytes = self.line.firstBytes
                let written = write(self.destination, bytes.baseAddress, bytes.count)
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
                self.line.removeFirst()
                delivered = true
            }
            if delivered && self.line.isEmpty {
                self.publish()
            }
        }

        /// Copies the thread's counters out when the link goes idle (not per packet).
        private func publish() {
            let snapshot = self.local
            self.counters.withLockedValue { $0 = snapshot }
        }
    }
}
