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
    /// Swift concurrency thread: it is meant for the emulators' own threads.
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
/// poll loops turn `.sleep` into a poll timeout and `.spin` into a zero timeout.
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
