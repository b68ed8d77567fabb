import NIOConcurrencyHelpers
import NIOCore
import Testing
import Upgrader
import Yamux

/// The suites that open many sockets or time round trips: faults, load, emulated round trips.
///
/// Serialized (recursively): the descriptor counts of the fault tests must not see the load
/// test's hundreds of sockets, and the round-trip timing must not compete with either for the
/// two cores. A test that hangs (a peer waiting for a close that never comes) fails after a minute.
@Suite(.serialized, .timeLimit(.minutes(1))) enum UpgradeSocketTests {}

/// The outcomes of a listener's inbound upgrades (its `onUpgrade` callback), in order.
final class InboundUpgrades: Sendable {
    typealias Outcome = Result<UpgradedConnection, any Error>

    private let outcomes = NIOLockedValueBox<[Outcome]>([])
    private let taken = NIOLockedValueBox(0)

    /// The callback to give the listener.
    var onUpgrade: @Sendable (any Channel, Outcome) -> Void {
        { _, outcome in self.outcomes.withLockedValue { $0.append(outcome) } }
    }

    /// Successes and failures so far.
    var counts: (succeeded: Int, failed: Int) {
        self.outcomes.withLockedValue { outcomes in
            let succeeded = outcomes.count { if case .success = $0 { true } else { false } }
            return (succeeded, outcomes.count - succeeded)
        }
    }

    /// The next outcome not yet taken, waiting for it at most `patience`; nil if none came.
    func next(patience: Duration = .seconds(5)) async -> Outcome? {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            let index = self.taken.withLockedValue { $0 }
            if let outcome = self.outcomes.withLockedValue({ index < $0.count ? $0[index] : nil }) {
                self.taken.withLockedValue { $0 += 1 }
                return outcome
            }
            if clock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits until `count` outcomes arrived, at most `patience`; returns the counts then.
    func waitForOutcomes(_ count: Int, patience: Duration) async -> (succeeded: Int, failed: Int) {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while self.outcomes.withLockedValue({ $0.count }) < count, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return self.counts
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }

    var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}

extension UpgradedConnection {
    /// The session's open streams, read on the channel's event loop.
    func openStreams() async throws -> Int {
        let multiplexer = self.multiplexer
        return try await self.channel.eventLoop.submit { multiplexer.streamCount }.get()
    }

    /// Polls until the session has no open stream, at most `patience`; returns the count then.
    func streamsLeft(patience: Duration = .seconds(3)) async throws -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            let open = try await self.openStreams()
            if open == 0 || clock.now >= deadline { return open }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
