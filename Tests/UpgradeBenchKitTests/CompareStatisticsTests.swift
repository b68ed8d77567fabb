import TestSupport
import Testing
import UpgradeBenchKit

extension SplitMix64 {
    /// A latency-like value: 1000 µs plus a right-skewed spread (the larger of two uniform
    /// draws in 0..<400), times `scale`.
    mutating func latency(scale: Double = 1) -> UInt64 {
        let spread = max(Double.random(in: 0..<400, using: &self), Double.random(in: 0..<400, using: &self))
        return UInt64(((1000 + spread) * scale).rounded())
    }
}

@Suite struct CompareStatisticsTests {
    // MARK: - Exact test

    @Test func exactPValuesOfSeparatedSamples() throws {
        // All 3 new values above all 3 base values: 1 arrangement of C(6,3) = 20 each side.
        let three = try #require(RankComparison(base: [1, 2, 3], new: [4, 5, 6]))
        #expect(three.method == .exact)
        #expect(abs(three.pValue - 2.0 / 20) < 1e-12)
        #expect(three.u == 9)
        #expect(three.shiftInterval == nil, "3 and 3 values cannot give a 95 % interval")
        // 5 and 5: 2 / C(10,5) = 2 / 252.
        let five = try #require(RankComparison(base: [1, 2, 3, 4, 5], new: [6, 7, 8, 9, 10]))
        #expect(abs(five.pValue - 2.0 / 252) < 1e-12)
        #expect(abs(five.smallestPValue - 2.0 / 252) < 1e-12)
        #expect(five.shift == 5)
        // Interleaved halves: no evidence at all.
        let even = try #require(RankComparison(base: [1, 4, 5, 8], new: [2, 3, 6, 7]))
        #expect(even.pValue == 1)
    }

    @Test func exactPValueWithTiesMatchesFullEnumeration() throws {
        let base: [UInt64] = [3, 5, 5, 7, 9, 9]
        let new: [UInt64] = [5, 7, 9, 9, 11, 12, 12]
        let comparison = try #require(RankComparison(base: base, new: new))
        #expect(comparison.method == .exact)
        #expect(abs(comparison.pValue - Self.permutationPValue(base, new)) < 1e-12)
    }

    /// The two-sided permutation p value of the difference in rank sums, by visiting every split
    /// of the pooled values (midranks for ties).
    static func permutationPValue(_ base: [UInt64], _ new: [UInt64]) -> Double {
        let pooled = base + new
        let sorted = pooled.sorted()
        func midrank(_ value: UInt64) -> Double {
            let below = sorted.count { $0 < value }
            let equal = sorted.count { $0 == value }
            return Double(below) + Double(equal + 1) / 2
        }
        let ranks = pooled.map(midrank)
        let mean = Double(new.count) * Double(pooled.count + 1) / 2
        let observed = abs(ranks[base.count...].reduce(0, +) - mean)
        var extreme = 0
        var total = 0
        func visit(_ start: Int, _ left: Int, _ sum: Double) {
            guard left > 0 else {
                total += 1
                if abs(sum - mean) >= observed - 1e-9 { extreme += 1 }
                return
            }
            guard start < ranks.count else { return }
            for index in start..<ranks.count { visit(index + 1, left - 1, sum + ranks[index]) }
        }
        visit(0, new.count, 0)
        return Double(extreme) / Double(total)
    }

    // MARK: - Known shifts

    @Test func tenPercentShiftOnAHundredSamplesIsFlagged() throws {
        for seed in UInt64(1)...20 {
            var random = SplitMix64(seed: seed)
            let base = (0..<100).map { _ in random.latency() }
            let new = (0..<100).map { _ in random.latency(scale: 1.10) }
            let comparison = try #require(RankComparison(base: base, new: new))
            #expect(comparison.method == .normal)
            #expect(comparison.pValue < 0.05, "seed \(seed): p \(comparison.pValue)")
            let interval = try #require(comparison.shiftInterval)
            #expect(interval.lowerBound > 0, "seed \(seed)")
            // The true shift of medians is 10 % of the base median.
            let relative = comparison.shift / Double(comparison.baseMedian)
            #expect(abs(relative - 0.10) < 0.05, "seed \(seed): \(relative)")
        }
    }

    @Test func sameDistributionIsFlaggedAtAboutAlpha() throws {
        var random = SplitMix64(seed: 0x5EED)
        let draws = 2000
        var flagged = 0
        var covered = 0
        for _ in 0..<draws {
            let base = (0..<100).map { _ in random.latency() }
            let new = (0..<100).map { _ in random.latency() }
            let comparison = try #require(RankComparison(base: base, new: new))
            if comparison.pValue < 0.05 { flagged += 1 }
            if let interval = comparison.shiftInterval, interval.contains(0) { covered += 1 }
        }
        // 5 % of 2000 is 100 with a standard deviation of 9.7: ±3.5 standard deviations.
        let rate = Double(flagged) / Double(draws)
        #expect((0.033...0.067).contains(rate), "false positive rate \(rate)")
        let coverage = Double(covered) / Double(draws)
        #expect((0.933...0.967).contains(coverage), "interval coverage \(coverage)")
    }

    @Test func smallSamplesUseTheExactTestAndStayWithinAlpha() throws {
        var random = SplitMix64(seed: 42)
        let draws = 1000
        var flagged = 0
        for _ in 0..<draws {
            let base = (0..<10).map { _ in random.latency() }
            let new = (0..<10).map { _ in random.latency() }
            let comparison = try #require(RankComparison(base: base, new: new))
            #expect(comparison.method == .exact)
            if comparison.pValue < 0.05 { flagged += 1 }
        }
        // The exact test of 10 and 10 is discrete: its real level just under 0.05 is 0.043
        // (standard deviation over 1000 draws: 0.0064).
        let rate = Double(flagged) / Double(draws)
        #expect((0.02...0.065).contains(rate), "false positive rate \(rate)")
    }

    @Test func heavyTiesStayWithinAlpha() throws {
        // Values from 10 levels only, as microsecond times of a fast stage are: the tie
        // correction keeps the normal approximation's level.
        var random = SplitMix64(seed: 7)
        let draws = 2000
        var flagged = 0
        for _ in 0..<draws {
            let base = (0..<60).map { _ in UInt64.random(in: 20..<30, using: &random) }
            let new = (0..<60).map { _ in UInt64.random(in: 20..<30, using: &random) }
            let comparison = try #require(RankComparison(base: base, new: new))
            if comparison.pValue < 0.05 { flagged += 1 }
        }
        let rate = Double(flagged) / Double(draws)
        #expect((0.025...0.067).contains(rate), "false positive rate \(rate)")
    }

    @Test func intervalCoversAKnownShift() throws {
        var random = SplitMix64(seed: 99)
        let draws = 1000
        var covered = 0
        for _ in 0..<draws {
            let base = (0..<30).map { _ in random.latency() }
            let new = (0..<30).map { _ in random.latency() + 50 }
            let comparison = try #require(RankComparison(base: base, new: new))
            if let interval = comparison.shiftInterval, interval.contains(50) { covered += 1 }
        }
        let coverage = Double(covered) / Double(draws)
        #expect((0.93...0.975).contains(coverage), "coverage \(coverage)")
    }

    // MARK: - Edges

    @Test func identicalValuesShowNoChange() throws {
        let comparison = try #require(RankComparison(base: [500, 500, 500], new: [500, 500]))
        #expect(comparison.pValue == 1)
        #expect(comparison.shift == 0)
        let sevens: [UInt64] = Array(repeating: 7, count: 40)
        let large = try #require(RankComparison(base: sevens, new: sevens))
        #expect(large.method == .normal)
        #expect(large.pValue == 1)
    }

    @Test func mediansAreLatencyStatisticsNearestRank() throws {
        let base: [UInt64] = [9, 1, 5, 3]
        let new: [UInt64] = [10, 20, 30]
        let comparison = try #require(RankComparison(base: base, new: new))
        #expect(comparison.baseMedian == LatencyStatistics(values: base)?.p50)
        #expect(comparison.newMedian == 20)
    }

    @Test func emptySamplesCannotBeCompared() {
        #expect(RankComparison(base: [], new: [1]) == nil)
        #expect(RankComparison(base: [1], new: []) == nil)
    }

    @Test func largeAgainstSmallStaysExactAndFast() throws {
        var random = SplitMix64(seed: 3)
        let base = (0..<300).map { _ in random.latency() }
        let new = (0..<5).map { _ in random.latency(scale: 1.5) }
        let comparison = try #require(RankComparison(base: base, new: new))
        #expect(comparison.method == .exact)
        #expect(comparison.pValue < 0.01)
    }
}
