import Foundation
import NIOConcurrencyHelpers
import Testing
import UpgradeBenchKit

@Suite struct ProgressReporterTests {
    final class Capture: Sendable {
        let text = NIOLockedValueBox("")
        func output(isTerminal: Bool) -> ProgressReporter.Output {
            ProgressReporter.Output(isTerminal: isTerminal) { [text] written in text.withLockedValue { $0 += written } }
        }
        var value: String { self.text.withLockedValue { $0 } }
    }

    static let matrix: ScenarioMatrix = {
        let scenarios = [
            Scenario.test(.noise, .classic, rtt: 10, connections: 3),
            Scenario.test(.noise, .early, rtt: 10, connections: 3),
        ]
        // `try!` is not allowed; the scenarios are valid, so fall back to crashing the test loudly.
        guard let matrix = try? ScenarioMatrix(name: "t", scenarios: scenarios) else { preconditionFailure("matrix") }
        return matrix
    }()

    @Test func plainModeWritesOneLinePerFinishedScenario() {
        let capture = Capture()
        let start = ContinuousClock.now
        let reporter = ProgressReporter(matrix: Self.matrix, output: capture.output(isTerminal: false), start: start)
        let first = Self.matrix.scenarios[0]
        reporter.scenarioStarted(first, now: start)
        for index in 0..<3 {
            reporter.connectionFinished(in: first, failed: index == 1, now: start + .milliseconds(100 * (index + 1)))
        }
        reporter.scenarioFinished(first, now: start + .milliseconds(300))
        reporter.finish(now: start + .seconds(61))
        let lines = capture.value.split(separator: "\n")
        #expect(lines.count == 2, "\(capture.value)")
        // Estimates: classic 3 × (6 × 10.3 ms + 2 ms) = 191.4 ms, early 3 × (5 × 10.3 + 2) = 160.5 ms;
        // 54 % done in 0.3 s leaves 0.25 s, shown rounded up.
        #expect(lines[0] == "[1/2] noise-classic-strict-10ms-tun-c1: done 3/3, 1 failed; overall  54%, ETA 0:01")
        #expect(lines[1] == "done: 2 scenarios in 1:01, 1 failed connection")
        #expect(!capture.value.contains("\u{1B}"), "no terminal escapes in logs")
    }

    @Test func plainModeHeartbeatInLongScenarios() {
        let capture = Capture()
        let start = ContinuousClock.now
        let reporter = ProgressReporter(matrix: Self.matrix, output: capture.output(isTerminal: false), start: start)
        let first = Self.matrix.scenarios[0]
        reporter.scenarioStarted(first, now: start)
        reporter.connectionFinished(in: first, failed: false, now: start + .seconds(1))
        reporter.connectionFinished(in: first, failed: false, now: start + .seconds(31))
        // 127.6 ms of 351.9 ms estimated done (36 %) in 31 s: 54.5 s left.
        #expect(capture.value == "[1/2] noise-classic-strict-10ms-tun-c1: running 2/3; overall  36%, ETA 0:55\n")
    }

    @Test func terminalModeRedrawsOneLineAtMostEveryTenthOfASecond() {
        let capture = Capture()
        let start = ContinuousClock.now
        let reporter = ProgressReporter(matrix: Self.matrix, output: capture.output(isTerminal: true), start: start)
        let second = Self.matrix.scenarios[1]
        reporter.scenarioStarted(second, now: start)
        reporter.connectionFinished(in: second, failed: false, now: start + .milliseconds(50))
        reporter.connectionFinished(in: second, failed: false, now: start + .milliseconds(150))
        reporter.finish(now: start + .milliseconds(200))
        let draws = capture.value.components(separatedBy: "\r\u{1B}[K")
        // Start, the redraw at 150 ms (the one at 50 ms is throttled), the final line.
        #expect(draws.count == 4, "\(capture.value)")
        #expect(draws[1].hasPrefix("[                        ]   0% 2/2 noise-early-strict-10ms-tun-c1 0/3 ETA"))
        // Two thirds of early's 160.5 ms of 351.9 ms: 30 %, 7 of 24 cells.
        #expect(draws[2].hasPrefix("[=======                 ]  30% 2/2 noise-early-strict-10ms-tun-c1 2/3 ETA"))
        #expect(draws[3] == "done: 2 scenarios in 0:01, 0 failed connections\n")
        #expect(!draws[1].contains("\n"))
    }

    @Test func unknownNamesAreIgnored() {
        let capture = Capture()
        let reporter = ProgressReporter(matrix: Self.matrix, output: capture.output(isTerminal: false))
        reporter.itemStarted("nope")
        reporter.unitFinished("nope", failed: true)
        reporter.itemFinished("nope")
        #expect(capture.value == "")
    }

    @Test func throughputScenariosAreItemsToo() throws {
        let matrix = try ScenarioMatrix(
            name: "t",
            scenarios: [],
            throughput: [.init(transport: .tcp, rttMilliseconds: 0, emulator: .loopback, repetitions: 2)]
        )
        let capture = Capture()
        let start = ContinuousClock.now
        let reporter = ProgressReporter(matrix: matrix, output: capture.output(isTerminal: false), start: start)
        reporter.itemStarted("throughput-tcp-0ms-loopback", now: start)
        reporter.unitFinished("throughput-tcp-0ms-loopback", failed: false, now: start)
        reporter.unitFinished("throughput-tcp-0ms-loopback", failed: false, now: start)
        reporter.itemFinished("throughput-tcp-0ms-loopback", now: start + .seconds(2))
        #expect(capture.value == "[1/1] throughput-tcp-0ms-loopback: done 2/2; overall 100%, ETA 0:00\n")
    }
}
