import Glibc
import NIOCore

/// The monotonic clock the emulators delay packets by, and a precise wait on it.
///
/// Readings are `CLOCK_MONOTONIC` nanoseconds, the clock `NIODeadline.now()` reads on Linux, so
/// timestamps from an emulator (``EmulatedConnection/connectedAt``) and from an upgrader's
/// `NIODeadline.now()` can be subtracted from each other.
///
/// A sleep alone is not precise enough: on this machine type `nanosleep` and `epoll` timeouts
/// overshoot by 65–150 µs and `timerfd` by 17–90 µs (docs/machine.md, "Timers"), which
/// would add up to 0.3 ms per round trip. So a wait sleeps until ``spinWindow`` before the
/// deadline and spins on the clock for the rest; measured lateness then drops from about 68 µs
/// to about 0.1 µs per packet.
public enum NetworkEmulationClock {
    /// How long before a deadline a wait stops sleeping and starts spinning: larger than the
    /// worst timer overshoot measured here (150 µs), with margin for a loaded machine.
    public static let spinWindow: Duration = .microseconds(300)

    @usableFromInline
    static let spinWindowNanoseconds: UInt64 = 300_000

    /// Now, in `CLOCK_MONOTONIC` nanoseconds.
    @inlinable
    public static func nowNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// Now, as a `NIODeadline` (same clock as `NIODeadline.now()`).
    @inlinable
    public static func now() -> NIODeadline {
        .uptimeNanoseconds(Self.nowNanoseconds())
    }

    /// Blocks the calling thread until `deadline`: sleeps until ``spinWindow`` before it, then
    /// spins. Returns at once when the deadline has passed. Never call it on an event loop or a
    /// Swift concurrency thread: it is meant for the emulators' own threads, for waits that happen
    /// once per connection (a dial's emulated handshake); the per-packet waits of the forwarding
    /// loops use ``WakeupLead`` instead, which spins far less.
    public static func wait(untilNanoseconds deadline: UInt64) {
        while true {
            let now = Self.nowNanoseconds()
            switch NetworkEmulationWaitStep(now: now, deadline: deadline) {
            case .due:
                return
            case .spin:
                continue
            case .sleep(let nanoseconds):
                var request = timespec(
                    tv_sec: Int(nanoseconds / 1_000_000_000),
                    tv_nsec: Int(nanoseconds % 1_000_000_000)
                )
                var remaining = timespec()
                _ = nanosleep(&request, &remaining)
            }
        }
    }

    /// Blocks the calling thread until `deadline`; see ``wait(untilNanoseconds:)``.
    public static func wait(until deadline: NIODeadline) {
        Self.wait(untilNanoseconds: deadline.uptimeNanoseconds)
    }
}

/// What a precise wait does next, given the time and the deadline: the one decision shared by
/// ``NetworkEmulationClock/wait(untilNanoseconds:)``, the TUN delayer and the relay, whose
/// poll loops turn `.sleep` into a poll timeout and `.spin` into a zero timeout. The spin window
/// is how early a sleep must end to wake up by the deadline: fixed for the clock's own waits,
/// learned (``WakeupLead``) in the forwarding loops.
@usableFromInline
enum NetworkEmulationWaitStep: Hashable, Sendable {
    /// The deadline has passed: act now.
    case due
    /// Within the spin window: poll without blocking and look at the clock again.
    case spin
    /// Sleep (or poll) for this many nanoseconds, which ends one spin window before the deadline.
    case sleep(nanoseconds: UInt64)

    @usableFromInline
    init(now: UInt64, deadline: UInt64, spinWindow: UInt64 = NetworkEmulationClock.spinWindowNanoseconds) {
        if now >= deadline {
            self = .due
        } else if deadline - now <= spinWindow {
            self = .spin
        } else {
            self = .sleep(nanoseconds: deadline - now - spinWindow)
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds (rounded toward zero, saturating).
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

/// How late this thread's timed sleeps wake up, learned from the sleeps themselves, so that the
/// forwarding loops of the emulators can sleep until that much before a packet is due and spin
/// only the rest.
///
/// A fixed spin window must cover the worst overshoot ever seen (150 µs here, so 300 µs with
/// margin), and a loop that spins that long before every packet takes 4–7 % of a core from the
/// two it shares with the endpoints it delays. Sleeping until the *typical* overshoot before the
/// deadline (an exponential average of the overshoot plus one mean deviation) wakes most packets
/// on time after a short spin; the rest are late by the excess, which the lateness counters and
/// the calibration record. With timer slack at 1 ns (``EmulatorThread``), overshoot here is about
/// 60–90 µs.
struct WakeupLead: Sendable {
    /// The lead never goes below this: a sleep shorter than a wake-up is not worth taking.
    static let minimumNanoseconds: Double = 20_000
    /// Nor above the fixed spin window it replaces.
    static let maximumNanoseconds = Double(NetworkEmulationClock.spinWindowNanoseconds)
    /// Weight of each new observation in the averages: 1/16, so the lead follows a change in the
    /// machine's load within a few dozen packets without jumping on one outlier.
    static let weight = 1.0 / 16

    private(set) var meanOvershootNanoseconds: Double = 100_000
    private(set) var meanDeviationNanoseconds: Double = 30_000

    /// How long before a deadline to stop sleeping.
    var nanoseconds: UInt64 {
        UInt64(
            min(
                Self.maximumNanoseconds,
                max(Self.minimumNanoseconds, self.meanOvershootNanoseconds + self.meanDeviationNanoseconds)
            )
        )
    }

    /// Runs `poll`, which waits at most `timeout` nanoseconds (negative: no limit) and returns how
    /// many descriptors are ready, and learns from it when it returned because the timeout expired.
    mutating func poll(timeout: Int64, _ poll: () -> CInt) -> CInt {
        guard timeout > 0 else { return poll() }
        let sleptAt = NetworkEmulationClock.nowNanoseconds()
        let ready = poll()
        if ready == 0 {
            self.observe(intended: sleptAt + UInt64(timeout), woke: NetworkEmulationClock.nowNanoseconds())
        }
        return ready
    }

    /// Records a sleep that was asked to end at `intended` and returned at `woke` because its
    /// timeout expired (not because something became ready).
    mutating func observe(intended: UInt64, woke: UInt64) {
        let overshoot = woke > intended ? Double(woke - intended) : 0
        let deviation = abs(overshoot - self.meanOvershootNanoseconds)
        self.meanOvershootNanoseconds += (overshoot - self.meanOvershootNanoseconds) * Self.weight
        self.meanDeviationNanoseconds += (deviation - self.meanDeviationNanoseconds) * Self.weight
    }
}
