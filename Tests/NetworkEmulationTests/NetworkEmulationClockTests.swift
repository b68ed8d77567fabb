import NIOCore
import Testing

@testable import NetworkEmulation

/// The sleep-then-spin decision and the clock the emulators share.
@Suite struct NetworkEmulationClockTests {
    @Test func waitStepSleepsUntilTheSpinWindowThenSpinsThenFires() {
        let window = NetworkEmulationClock.spinWindowNanoseconds
        #expect(NetworkEmulationWaitStep(now: 0, deadline: 10_000_000) == .sleep(nanoseconds: 10_000_000 - window))
        #expect(NetworkEmulationWaitStep(now: 0, deadline: window + 1) == .sleep(nanoseconds: 1))
        #expect(NetworkEmulationWaitStep(now: 0, deadline: window) == .spin)
        #expect(NetworkEmulationWaitStep(now: 5, deadline: 6) == .spin)
        #expect(NetworkEmulationWaitStep(now: 6, deadline: 6) == .due)
        #expect(NetworkEmulationWaitStep(now: 7, deadline: 6) == .due)
    }

    @Test func waitStepTakesTheLearnedLeadAsItsSpinWindow() {
        #expect(NetworkEmulationWaitStep(now: 0, deadline: 1_000_000, spinWindow: 80_000) == .sleep(nanoseconds: 920_000))
        #expect(NetworkEmulationWaitStep(now: 0, deadline: 80_000, spinWindow: 80_000) == .spin)
    }

    @Test func wakeupLeadFollowsTheObservedOvershootPlusItsDeviation() {
        var lead = WakeupLead()
        // Sleeps that wake 60 µs late, every time: the lead settles on 60 µs (no deviation left).
        for _ in 0..<400 {
            lead.observe(intended: 1_000_000, woke: 1_060_000)
        }
        #expect(abs(Double(lead.nanoseconds) - 60_000) < 1_000, "\(lead.nanoseconds)")
        // Alternating 40 and 120 µs: mean 80, mean deviation 40, so the lead covers most wake-ups.
        for index in 0..<800 {
            lead.observe(intended: 1_000_000, woke: 1_000_000 + (index % 2 == 0 ? 40_000 : 120_000))
        }
        #expect(abs(Double(lead.nanoseconds) - 120_000) < 8_000, "\(lead.nanoseconds)")
    }

    @Test func wakeupLeadStaysWithinItsBounds() {
        var early = WakeupLead()
        for _ in 0..<400 { early.observe(intended: 1_000_000, woke: 999_000) }
        #expect(early.nanoseconds == UInt64(WakeupLead.minimumNanoseconds))
        var late = WakeupLead()
        for _ in 0..<400 { late.observe(intended: 1_000_000, woke: 11_000_000) }
        #expect(late.nanoseconds == NetworkEmulationClock.spinWindowNanoseconds)
    }

    @Test func readsTheSameClockAsNIODeadline() {
        let before = NIODeadline.now()
        let reading = NetworkEmulationClock.now()
        let after = NIODeadline.now()
        #expect(before <= reading)
        #expect(reading <= after)
    }

    @Test func waitNeverReturnsBeforeTheDeadline() {
        for _ in 0..<5 {
            let deadline = NetworkEmulationClock.nowNanoseconds() + 2_000_000
            NetworkEmulationClock.wait(untilNanoseconds: deadline)
            #expect(NetworkEmulationClock.nowNanoseconds() >= deadline)
        }
        // A deadline in the past returns at once.
        NetworkEmulationClock.wait(untilNanoseconds: 0)
    }

    @Test func durationsConvertToWholeNanoseconds() {
        #expect(Duration.milliseconds(20).wholeNanoseconds == 20_000_000)
        #expect(Duration.microseconds(1).wholeNanoseconds == 1000)
        #expect(Duration.seconds(10).wholeNanoseconds == 10_000_000_000)
        #expect(Duration.zero.wholeNanoseconds == 0)
    }
}
