import NIOCore

/// When each milestone of one upgrade was reached, on the monotonic clock.
///
/// Times are `NIODeadline`s (CLOCK_MONOTONIC); ``microseconds(_:)`` gives them relative to the
/// moment the dial started, as the CSV files and the `dial` command report them.
public struct UpgradeTimeline: Hashable, Sendable {
    /// When the dial (or, for a listener, the accept) started.
    public let start: NIODeadline
    private var reached: [UpgradeMilestone: NIODeadline] = [:]

    /// A timeline that starts at `start`.
    public init(start: NIODeadline) { self.start = start }

    /// Records `milestone` at `now`; the first record wins, so a retried step cannot move it.
    public mutating func record(_ milestone: UpgradeMilestone, at now: NIODeadline) {
        if self.reached[milestone] == nil { self.reached[milestone] = now }
    }

    /// When `milestone` was reached, if it was.
    public subscript(_ milestone: UpgradeMilestone) -> NIODeadline? { self.reached[milestone] }

    /// Microseconds from the start to `milestone`, if it was reached.
    public func microseconds(_ milestone: UpgradeMilestone) -> Double? {
        guard let time = self.reached[milestone] else { return nil }
        return Double((time - self.start).nanoseconds) / 1_000
    }
}
