import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reports a run's progress on standard error: a redrawn progress bar (scenario, connections done,
/// ETA) when standard error is a terminal, plain lines otherwise (one per finished scenario, plus
/// a heartbeat in long scenarios), so CI logs stay readable.
///
/// The runner calls it from any thread. Every connection counts, warm-up included, so the bar
/// moves from the first connection. The ETA scales the matrix's
/// ``ScenarioMatrix/estimatedDuration(model:)`` by how fast the run has gone so far.
public final class ProgressReporter: Sendable {
    /// Where progress goes.
    public struct Output: Sendable {
        /// Whether the output is a terminal (redraw one line) or a log (append lines).
        public var isTerminal: Bool
        /// Writes text as is (no newline added).
        public var write: @Sendable (String) -> Void

        /// Creates an output.
        public init(isTerminal: Bool, write: @escaping @Sendable (String) -> Void) {
            self.isTerminal = isTerminal
            self.write = write
        }

        /// Standard error; a terminal when `isatty(2)` says so.
        public static func standardError() -> Output {
            Output(isTerminal: isatty(STDERR_FILENO) == 1, write: writeToStandardError)
        }
    }

    /// The least time between two redraws of the bar: 0.1 s.
    public static let redrawInterval: Duration = .milliseconds(100)
    /// The least time between two heartbeat lines within one scenario in plain mode: 30 s.
    public static let heartbeatInterval: Duration = .seconds(30)
    /// Width of the bar in characters.
    static let barWidth = 24

    private struct Item {
        let name: String
        let totalUnits: Int
        let estimatedSeconds: Double
        var doneUnits = 0
        var failedUnits = 0
        var finished = false
    }

    private struct State {
        var items: [Item]
        var indexByName: [String: Int]
        var current: Int?
        var started: ContinuousClock.Instant
        var lastRedraw: ContinuousClock.Instant?
        var lastHeartbeat: ContinuousClock.Instant?
        var drewBar = false
    }

    private let output: Output
    private let state: NIOLockedValueBox<State>

    /// A reporter for `matrix`, starting now (or at `start`).
    public init(
        matrix: ScenarioMatrix,
        model: RoundTripModel = .standard,
        output: Output = .standardError(),
        start: ContinuousClock.Instant = .now
    ) {
        var items: [Item] = []
        for scenario in matrix.scenarios {
            items.append(
                Item(
                    name: scenario.name,
                    totalUnits: scenario.connections + scenario.warmup,
                    estimatedSeconds: scenario.estimatedSeconds(model: model)
                )
            )
        }
        for scenario in matrix.throughput {
            items.append(
                Item(
                    name: scenario.name,
                    totalUnits: scenario.repetitions,
                    estimatedSeconds: scenario.estimatedSeconds()
                )
            )
        }
        var indexByName: [String: Int] = [:]
        for (index, item) in items.enumerated() { indexByName[item.name] = index }
        self.output = output
        self.state = NIOLockedValueBox(State(items: items, indexByName: indexByName, current: nil, started: start))
    }

    // MARK: - Events

    /// A scenario (upgrade or throughput, by ``Scenario/name``) starts.
    public func itemStarted(_ name: String, now: ContinuousClock.Instant = .now) {
        let text: String? = self.state.withLockedValue { state in
            guard let index = state.indexByName[name] else { return nil }
            state.current = index
            state.lastHeartbeat = now
            if self.output.isTerminal {
                state.lastRedraw = now
                state.drewBar = true
                return Self.barLine(state, now: now)
            }
            return nil
        }
        if let text { self.output.write(text) }
    }

    /// One connection (or transfer) of `name` finished, warm-up included.
    public func unitFinished(_ name: String, failed: Bool, now: ContinuousClock.Instant = .now) {
        let text: String? = self.state.withLockedValue { state in
            guard let index = state.indexByName[name] else { return nil }
            state.items[index].doneUnits += 1
            if failed { state.items[index].failedUnits += 1 }
            state.current = index
            if self.output.isTerminal {
                if let last = state.lastRedraw, now - last < Self.redrawInterval { return nil }
                state.lastRedraw = now
                state.drewBar = true
                return Self.barLine(state, now: now)
            }
            if let last = state.lastHeartbeat, now - last < Self.heartbeatInterval { return nil }
            state.lastHeartbeat = now
            return Self.plainLine(state, index: index, now: now, finished: false) + "\n"
        }
        if let text { self.output.write(text) }
    }

    /// A scenario finished.
    public func itemFinished(_ name: String, now: ContinuousClock.Instant = .now) {
        let text: String? = self.state.withLockedValue { state in
            guard let index = state.indexByName[name] else { return nil }
            state.items[index].finished = true
            if self.output.isTerminal {
                state.lastRedraw = now
                state.drewBar = true
                return Self.barLine(state, now: now)
            }
            return Self.plainLine(state, index: index, now: now, finished: true) + "\n"
        }
        if let text { self.output.write(text) }
    }

    /// Convenience for ``itemStarted(_:now:)`` with a scenario.
    public func scenarioStarted(_ scenario: Scenario, now: ContinuousClock.Instant = .now) {
        self.itemStarted(scenario.name, now: now)
    }

    /// Convenience for ``unitFinished(_:failed:now:)`` with a scenario.
    public func connectionFinished(in scenario: Scenario, failed: Bool, now: ContinuousClock.Instant = .now) {
        self.unitFinished(scenario.name, failed: failed, now: now)
    }

    /// Convenience for ``itemFinished(_:now:)`` with a scenario.
    public func scenarioFinished(_ scenario: Scenario, now: ContinuousClock.Instant = .now) {
        self.itemFinished(scenario.name, now: now)
    }

    /// The run is over: ends the bar's line (terminal) or prints the total time (plain).
    public func finish(now: ContinuousClock.Instant = .now) {
        let text: String = self.state.withLockedValue { state in
            let elapsed = Self.clock(now - state.started)
            let failed = state.items.reduce(0) { $0 + $1.failedUnits }
            let summary =
                "done: \(state.items.count) scenarios in \(elapsed), \(failed) failed connection\(failed == 1 ? "" : "s")"
            if self.output.isTerminal && state.drewBar {
                return "\r\u{1B}[K" + summary + "\n"
            }
            return summary + "\n"
        }
        self.output.write(text)
    }

    // MARK: - Rendering

    /// Estimated seconds of work completed: finished items whole, the others by their share of units.
    private static func completedEstimate(_ state: State) -> (done: Double, total: Double) {
        var done = 0.0
        var total = 0.0
        for item in state.items {
            total += item.estimatedSeconds
            if item.finished {
                done += item.estimatedSeconds
            } else if item.totalUnits > 0 {
                done += item.estimatedSeconds * Double(min(item.doneUnits, item.totalUnits)) / Double(item.totalUnits)
            }
        }
        return (done, total)
    }

    /// Seconds left: the remaining estimate scaled by measured speed (elapsed / estimated done).
    static func remainingSeconds(done: Double, total: Double, elapsedSeconds: Double) -> Double {
        guard done > 0, elapsedSeconds > 0 else { return max(0, total - done) }
        return max(0, (total - done) * elapsedSeconds / done)
    }

    private static func eta(_ state: State, now: ContinuousClock.Instant) -> (fraction: Double, eta: String) {
        let (done, total) = self.completedEstimate(state)
        let elapsed = self.seconds(now - state.started)
        let fraction = total > 0 ? min(1, done / total) : 1
        return (fraction, self.clock(seconds: self.remainingSeconds(done: done, total: total, elapsedSeconds: elapsed)))
    }

    private static func barLine(_ state: State, now: ContinuousClock.Instant) -> String {
        let (fraction, eta) = self.eta(state, now: now)
        let filled = Int((fraction * Double(self.barWidth)).rounded(.down))
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: self.barWidth - filled)
        var line = "\r\u{1B}[K[\(bar)] \(self.percent(fraction))"
        if let index = state.current {
            let item = state.items[index]
            line += " \(index + 1)/\(state.items.count) \(item.name) \(item.doneUnits)/\(item.totalUnits)"
            if item.failedUnits > 0 { line += " (\(item.failedUnits) failed)" }
        }
        return line + " ETA \(eta)"
    }

    private static func plainLine(_ state: State, index: Int, now: ContinuousClock.Instant, finished: Bool) -> String {
        let item = state.items[index]
        let (fraction, eta) = self.eta(state, now: now)
        let position = "[\(index + 1)/\(state.items.count)]"
        let failed = item.failedUnits > 0 ? ", \(item.failedUnits) failed" : ""
        let verb = finished ? "done" : "running"
        return "\(position) \(item.name): \(verb) \(item.doneUnits)/\(item.totalUnits)\(failed); "
            + "overall \(self.percent(fraction)), ETA \(eta)"
    }

    static func percent(_ fraction: Double) -> String {
        let value = Int((fraction * 100).rounded(.down))
        return value < 10 ? "  \(value)%" : value < 100 ? " \(value)%" : "\(value)%"
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    static func clock(_ duration: Duration) -> String { self.clock(seconds: self.seconds(duration)) }

    /// `m:ss`, or `h:mm:ss` from one hour.
    static func clock(seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        let hours = total / 3600
        let minutes = (total % 3600) / 60
        let secs = total % 60
        let ss = secs < 10 ? "0\(secs)" : "\(secs)"
        guard hours > 0 else { return "\(minutes):\(ss)" }
        return "\(hours):\(minutes < 10 ? "0" : "")\(minutes):\(ss)"
    }
}

/// Writes all of `text` to file descriptor 2 (no `print`, no `FileHandle`: unbuffered and
/// safe from any thread). Progress is best effort: an error ends the write, never the run.
private func writeToStandardError(_ text: String) {
    var remaining = Array(text.utf8)[...]
    while !remaining.isEmpty {
        let written = remaining.withUnsafeBytes { bytes in
            #if canImport(Glibc)
            Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count)
            #else
            Darwin.write(STDERR_FILENO, bytes.baseAddress, bytes.count)
            #endif
        }
        guard written > 0 else { return }
        remaining = remaining.dropFirst(written)
    }
}
