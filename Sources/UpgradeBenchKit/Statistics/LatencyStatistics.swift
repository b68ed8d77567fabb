/// Order statistics of a set of latencies in microseconds.
///
/// ### Percentile definition
/// Nearest rank, the rule HdrHistogram's `valueAtPercentile` uses: the p-th percentile of n sorted
/// values is the value at rank `max(1, ⌈p·n/100⌉)` (1-based), with p taken one ulp below itself so
/// that exact products such as 90 % of 10 do not round up a rank. p = 0 is the minimum and p = 100
/// the maximum. The value is always one of the samples (no interpolation). The `.hgrm` files give
/// the same ranks on HdrHistogram's 3-significant-digit buckets, so they may differ from these exact
/// values by at most 0.1 %.
public struct LatencyStatistics: Hashable, Sendable {
    /// Number of values.
    public let count: Int
    /// The smallest value.
    public let minimum: UInt64
    /// The 10th percentile (nearest rank).
    public let p10: UInt64
    /// The median (nearest rank).
    public let p50: UInt64
    /// The 90th percentile (nearest rank).
    public let p90: UInt64
    /// The 99th percentile (nearest rank).
    public let p99: UInt64
    /// The largest value.
    public let maximum: UInt64
    /// The arithmetic mean.
    public let mean: Double

    /// Statistics of `values`, `nil` when there are none.
    public init?(values: some Collection<UInt64>) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        self.init(sorted: sorted)
    }

    /// Statistics of values already sorted ascending; `sorted` must not be empty.
    init(sorted: [UInt64]) {
        precondition(!sorted.isEmpty, "LatencyStatistics of no values")
        self.count = sorted.count
        self.minimum = sorted[0]
        self.maximum = sorted[sorted.count - 1]
        self.p10 = Self.percentile(10, ofSorted: sorted)
        self.p50 = Self.percentile(50, ofSorted: sorted)
        self.p90 = Self.percentile(90, ofSorted: sorted)
        self.p99 = Self.percentile(99, ofSorted: sorted)
        // Double keeps the sum exact up to 2^53 µs (285 years), far beyond any run.
        self.mean = sorted.reduce(0.0) { $0 + Double($1) } / Double(sorted.count)
    }

    /// The nearest-rank `percentile` (0...100) of `sorted`, which must be sorted ascending and non-empty.
    public static func percentile(_ percentile: Double, ofSorted sorted: [UInt64]) -> UInt64 {
        precondition(!sorted.isEmpty, "percentile of no values")
        guard percentile > 0 else { return sorted[0] }
        guard percentile < 100 else { return sorted[sorted.count - 1] }
        let rank = (percentile.nextDown * Double(sorted.count) / 100).rounded(.up)
        let index = max(1, min(Int(rank), sorted.count)) - 1
        return sorted[index]
    }
}
