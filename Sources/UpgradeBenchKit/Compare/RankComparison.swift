import Foundation

/// Two samples compared by ranks: the Mann–Whitney U test (two-sided) and the Hodges–Lehmann
/// estimate of the shift from `base` to `new` with its distribution-free confidence interval.
///
/// Rank methods assume nothing about the shape of the distributions, which matters here: upgrade
/// latencies are skewed, often bimodal (a scheduler hiccup, a cold cache) and have long tails, so
/// a t test's normality assumption does not hold and a few outliers would move a mean-based
/// estimate. The test, the estimate and the interval all come from the same statistic, so they
/// agree: the interval excludes zero exactly when the exact test rejects at `1 − confidence`
/// (and nearly always with the normal approximation).
///
/// ### The test
/// U counts the pairs (base, new) in which the new value is larger, ties counting one half.
/// When the smaller sample has fewer than ``exactLimit`` values the p value is exact: the
/// permutation distribution of the rank sum given the observed ties (midranks), counted by
/// dynamic programming. Otherwise it uses the normal approximation with the tie-corrected
/// variance and a continuity correction of one half.
///
/// ### The shift and its interval
/// The estimate is the median of all `n·m` differences `new − base`. The interval is
/// `[D(k), D(nm+1−k)]` of those differences sorted, with `k` the largest count such that
/// `P(U < k) ≤ (1 − confidence) / 2` under no shift: exact from U's distribution without ties
/// when the test is exact, `⌊nm/2 − z·√(nm(n+m+1)/12) + ½⌋` otherwise. The order statistics
/// are found by bisection over integer differences, counting pairs in linear time, so no list of
/// `n·m` differences is ever built. With ties the interval's coverage is approximate.
public struct RankComparison: Hashable, Sendable {
    /// How the p value was computed.
    public enum Method: String, Hashable, Sendable {
        /// The exact permutation distribution, ties included.
        case exact
        /// The normal approximation with tie correction and continuity correction.
        case normal
    }

    /// The smaller sample's size below which the p value is exact; from it up, the normal
    /// approximation is within a few percent of the exact p value near usual significance levels.
    public static let exactLimit = 20

    /// Values in the base sample.
    public let baseCount: Int
    /// Values in the new sample.
    public let newCount: Int
    /// The base sample's median (nearest rank, as ``LatencyStatistics``).
    public let baseMedian: UInt64
    /// The new sample's median (nearest rank).
    public let newMedian: UInt64
    /// U of the new sample: pairs where the new value is larger, ties counting one half.
    public let u: Double
    /// The two-sided p value of no difference.
    public let pValue: Double
    /// How ``pValue`` was computed.
    public let method: Method
    /// The smallest p value these sample sizes can give (every new value beyond every base
    /// value): when it is not below the significance level, no difference can be detected.
    public let smallestPValue: Double
    /// The Hodges–Lehmann shift, new minus base, in the samples' unit.
    public let shift: Double
    /// The confidence interval of ``shift``; `nil` when the samples are too small for one.
    public let shiftInterval: ClosedRange<Double>?
    /// The interval's confidence level.
    public let confidence: Double

    /// Compares `base` with `new`; `nil` when either is empty.
    ///
    /// - Parameter confidence: The confidence level of ``shiftInterval``, in (0, 1).
    public init?(base: [UInt64], new: [UInt64], confidence: Double = 0.95) {
        guard !base.isEmpty, !new.isEmpty else { return nil }
        let x = base.sorted()
        let y = new.sorted()
        let n = x.count
        let m = y.count
        self.baseCount = n
        self.newCount = m
        self.baseMedian = LatencyStatistics.percentile(50, ofSorted: x)
        self.newMedian = LatencyStatistics.percentile(50, ofSorted: y)
        self.confidence = confidence

        let ranks = Self.doubledMidranks(x, y)
        self.u = Double(ranks.newSum) / 2 - Double(m * (m + 1)) / 2
        let pairs = Double(n) * Double(m)
        let tail = (1 - confidence) / 2

        let differences = PairwiseDifferences(base: x, new: y)
        self.shift = differences.median
        let critical: Int?
        if min(n, m) < Self.exactLimit, ExactRankSum.isAffordable(n: n, m: m) {
            self.method = .exact
            // The smaller sample's rank sum: the same test, and far less to count.
            let smallerSum = m <= n ? ranks.newSum : ranks.scores.reduce(0, +) - ranks.newSum
            let test = ExactRankSum(scores: ranks.scores, size: min(n, m), observedSum: smallerSum)
            self.pValue = test.pValue
            self.smallestPValue = min(1, 2 / test.arrangements)
            // Without ties the test's distribution is the one the interval needs; count it once.
            critical = ExactRankSum.criticalCount(
                n: n,
                m: m,
                tail: tail,
                untiedCounts: ranks.tieTerm == 0 ? test.counts : nil
            )
        } else {
            self.method = .normal
            let variance = pairs / 12 * (Double(n + m + 1) - ranks.tieTerm / (Double(n + m) * Double(n + m - 1)))
            if variance > 0 {
                let z = max(0, abs(self.u - pairs / 2) - 0.5) / variance.squareRoot()
                self.pValue = min(1, erfc(z / 2.0.squareRoot()))
                self.smallestPValue = min(1, erfc((pairs / 2 - 0.5) / variance.squareRoot() / 2.0.squareRoot()))
            } else {
                // Every value equal: nothing to tell apart.
                self.pValue = 1
                self.smallestPValue = 1
            }
            let spread = (pairs * Double(n + m + 1) / 12).squareRoot()
            let count = (pairs / 2 - Normal.quantile(1 - tail) * spread + 0.5).rounded(.down)
            critical = count >= 1 ? Int(count) : nil
        }
        if let critical, critical >= 1 {
            let total = n * m
            self.shiftInterval =
                Double(differences.orderStatistic(critical))...Double(differences.orderStatistic(total + 1 - critical))
        } else {
            self.shiftInterval = nil
        }
    }

    /// Twice the midrank of every value (so ties stay integers), summed over the new sample,
    /// and the tie term Σ(t³ − t) over groups of t equal values.
    private static func doubledMidranks(
        _ x: [UInt64],
        _ y: [UInt64]
    ) -> (newSum: Int, scores: [Int], tieTerm: Double) {
        var i = 0
        var j = 0
        var rank = 0
        var newSum = 0
        var scores: [Int] = []
        scores.reserveCapacity(x.count + y.count)
        var tieTerm = 0.0
        while i < x.count || j < y.count {
            let value = j == y.count || (i < x.count && x[i] <= y[j]) ? x[i] : y[j]
            var inBase = 0
            var inNew = 0
            while i < x.count, x[i] == value {
                inBase += 1
                i += 1
            }
            while j < y.count, y[j] == value {
                inNew += 1
                j += 1
            }
            let group = inBase + inNew
            // Ranks rank+1 ... rank+group share their mean; doubled: 2·rank + group + 1.
            let doubled = 2 * rank + group + 1
            newSum += inNew * doubled
            scores.append(contentsOf: repeatElement(doubled, count: group))
            let t = Double(group)
            tieTerm += t * t * t - t
            rank += group
        }
        return (newSum, scores, tieTerm)
    }
}

/// The exact permutation distribution of a rank sum.
private struct ExactRankSum {
    /// The two-sided p value of the observed ranks.
    let pValue: Double
    /// How many ways the pooled values can be split into the two samples.
    let arrangements: Double
    /// How many of those splits give each doubled rank sum of the smaller sample.
    let counts: [Double]

    /// The test of one sample's doubled rank sum `observedSum`, `size` values out of the pooled
    /// doubled (mid)ranks `scores`: the distribution is conditional on the observed ties.
    init(scores: [Int], size: Int, observedSum: Int) {
        let counts = Self.subsetSums(scores: scores, size: size)
        let total = counts.reduce(0, +)
        // The rank sum's mean, doubled: size·(N + 1). Sums as far from it as observed, or farther.
        let mean = size * (scores.count + 1)
        let observed = abs(observedSum - mean)
        var extreme = 0.0
        for (sum, count) in counts.enumerated() where count > 0 && abs(sum - mean) >= observed {
            extreme += count
        }
        self.pValue = min(1, extreme / total)
        self.arrangements = total
        self.counts = counts
    }

    /// Whether counting the distribution stays cheap: about 2·k²·N² additions for the smaller
    /// sample's size k out of N, at most 10^8 (a fraction of a second). Beyond, the normal
    /// approximation is used even for a small sample, and ``RankComparison/method`` says so.
    static func isAffordable(n: Int, m: Int) -> Bool {
        let k = Double(min(n, m))
        let pooled = Double(n + m)
        return 2 * k * k * pooled * pooled <= 1e8
    }

    /// The largest k with P(U < k) ≤ `tail` for samples of `n` and `m` distinct values; 0 when
    /// even U = 0 alone is more likely than `tail`. `untiedCounts`, when given, are the smaller
    /// sample's doubled rank sum counts without ties (what ``init(scores:size:observedSum:)``
    /// counted for untied data).
    static func criticalCount(n: Int, m: Int, tail: Double, untiedCounts: [Double]? = nil) -> Int {
        // U has the same distribution for either sample; count subsets of the smaller.
        let size = min(n, m)
        let counts = untiedCounts ?? self.subsetSums(scores: (1...(n + m)).map { 2 * $0 }, size: size)
        let total = counts.reduce(0, +)
        // Doubled rank sum s ↔ U = s/2 − size(size+1)/2.
        let offset = size * (size + 1)
        var cumulative = 0.0
        var k = 0
        var sum = offset
        while sum < counts.count {
            cumulative += counts[sum]
            // cumulative = P(U ≤ k); k + 1 qualifies while it stays within the tail.
            guard cumulative / total <= tail else { break }
            k += 1
            sum += 2
        }
        return k
    }

    /// `counts[s]`: how many `size`-element subsets of `scores` sum to `s`. Counted in `Double`,
    /// exact up to 2^53 and within rounding beyond, which a p value does not notice.
    private static func subsetSums(scores: [Int], size: Int) -> [Double] {
        let largest = scores.sorted(by: >).prefix(size).reduce(0, +)
        var ways = [[Double]](repeating: [Double](repeating: 0, count: largest + 1), count: size + 1)
        ways[0][0] = 1
        var seen = 0
        var reach = 0
        for score in scores {
            seen += 1
            reach = min(largest, reach + score)
            for chosen in stride(from: min(seen, size), through: 1, by: -1) {
                guard reach >= score else { continue }
                for sum in stride(from: reach, through: score, by: -1) {
                    ways[chosen][sum] += ways[chosen - 1][sum - score]
                }
            }
        }
        return ways[size]
    }
}

/// The `n·m` differences `new − base` of two sorted samples, queried by order statistic
/// without being built.
private struct PairwiseDifferences {
    let base: [UInt64]
    let new: [UInt64]

    /// How many differences are at most `limit`: for each new value y, the base values at least
    /// y − limit; both lists are sorted, so one pass with two indices.
    func count(atMost limit: Int64) -> Int {
        var count = 0
        var first = 0
        for value in self.new {
            let bound = Int64(clamping: value) - limit
            while first < self.base.count, Int64(clamping: self.base[first]) < bound { first += 1 }
            count += self.base.count - first
        }
        return count
    }

    /// The k-th smallest difference, k in 1...n·m: the least integer d with at least k
    /// differences ≤ d (every difference is an integer).
    func orderStatistic(_ k: Int) -> Int64 {
        guard let baseFirst = self.base.first, let baseLast = self.base.last,
            let newFirst = self.new.first, let newLast = self.new.last
        else { return 0 }
        var low = Int64(clamping: newFirst) - Int64(clamping: baseLast)
        var high = Int64(clamping: newLast) - Int64(clamping: baseFirst)
        while low < high {
            let middle = low + (high - low) / 2
            if self.count(atMost: middle) >= k { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// The median difference, the mean of the middle two for an even count.
    var median: Double {
        let total = self.base.count * self.new.count
        if total % 2 == 1 { return Double(self.orderStatistic((total + 1) / 2)) }
        return (Double(self.orderStatistic(total / 2)) + Double(self.orderStatistic(total / 2 + 1))) / 2
    }
}

/// The standard normal distribution.
enum Normal {
    /// Φ(z).
    static func cdf(_ z: Double) -> Double { erfc(-z / 2.0.squareRoot()) / 2 }

    /// Φ⁻¹(p) for p in (0, 1), by bisection on ``cdf(_:)``: 100 halvings of [−40, 40] are far
    /// below Double's resolution, and this runs a handful of times per comparison.
    static func quantile(_ p: Double) -> Double {
        var low = -40.0
        var high = 40.0
        for _ in 0..<100 {
            let middle = (low + high) / 2
            if self.cdf(middle) < p { low = middle } else { high = middle }
        }
        return (low + high) / 2
    }
}
