import NIOCore

/// Round trips measured through an ``EmulatedPath`` with a 1-byte echo probe, recorded with
/// every benchmark result next to the requested RTT.
public struct NetworkEmulatorCalibration: Sendable, Hashable, CustomStringConvertible {
    /// Order statistics of a set of durations.
    public struct Summary: Sendable, Hashable, CustomStringConvertible {
        /// How many durations were measured.
        public var samples: Int
        public var minimum: TimeAmount
        /// The median (the mean of the two middle values for an even count).
        public var median: TimeAmount
        public var maximum: TimeAmount
        /// Every duration, in nanoseconds, ascending: for results that compute their own percentiles.
        public var sortedNanoseconds: [Int64]

        /// Summarizes durations in nanoseconds; an empty set gives zeros.
        public init(nanoseconds values: [Int64]) {
            let sorted = values.sorted()
            self.sortedNanoseconds = sorted
            self.samples = sorted.count
            guard let first = sorted.first, let last = sorted.last else {
                self.minimum = .zero
                self.median = .zero
                self.maximum = .zero
                return
            }
            let middle = sorted.count / 2
            let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
            self.minimum = .nanoseconds(first)
            self.median = .nanoseconds(median)
            self.maximum = .nanoseconds(last)
        }

        public var description: String {
            func ms(_ amount: TimeAmount) -> String {
                let microseconds = (amount.nanoseconds + 500) / 1_000
                return "\(microseconds / 1000).\(String(microseconds % 1000).leftPadded(to: 3)) ms"
            }
            return "p50 \(ms(self.median)) (min \(ms(self.minimum)), max \(ms(self.maximum)), n=\(self.samples))"
        }
    }

    /// The emulator measured.
    public var kind: NetworkEmulatorKind
    /// The round-trip time asked for.
    public var requestedRTT: Duration
    /// TCP connect as the dialer sees it (expected: one RTT).
    public var connect: Summary
    /// The first 1-byte request/response, sent right after connect (expected: one RTT; it also
    /// covers the listener's accept).
    public var firstExchange: Summary
    /// Further 1-byte request/responses on established connections (expected: one RTT).
    public var roundTrip: Summary

    public var description: String {
        "\(self.kind) at \(self.requestedRTT): RTT \(self.roundTrip); connect \(self.connect); first exchange \(self.firstExchange)"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
