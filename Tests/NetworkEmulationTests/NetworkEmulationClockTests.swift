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
