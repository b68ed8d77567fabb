import Histogram
import Testing
import UpgradeBenchKit

@Suite struct LatencyStatisticsTests {
    @Test func oneToHundred() throws {
        let statistics = try #require(LatencyStatistics(values: (1...100).map { UInt64($0) }.reversed()))
        #expect(statistics.count == 100)
        #expect(statistics.minimum == 1)
        #expect(statistics.p10 == 10)
        #expect(statistics.p50 == 50)
        #expect(statistics.p90 == 90)
        #expect(statistics.p99 == 99)
        #expect(statistics.maximum == 100)
        #expect(statistics.mean == 50.5)
    }

    /// Nearest rank: ⌈p·n/100⌉, never interpolated.
    @Test func tenValuesUseNearestRank() throws {
        let values: [UInt64] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        let statistics = try #require(LatencyStatistics(values: values.shuffled()))
        #expect(statistics.p50 == 50)
        #expect(statistics.p90 == 90)
        #expect(statistics.p99 == 100)
        #expect(LatencyStatistics.percentile(0, ofSorted: values) == 10)
        #expect(LatencyStatistics.percentile(10, ofSorted: values) == 10)
        #expect(LatencyStatistics.percentile(10.5, ofSorted: values) == 20)
        #expect(LatencyStatistics.percentile(100, ofSorted: values) == 100)
    }

    @Test func evenCountMedianIsTheLowerMiddle() throws {
        let statistics = try #require(LatencyStatistics(values: [4, 1, 3, 2] as [UInt64]))
        #expect(statistics.p50 == 2)
        #expect(statistics.mean == 2.5)
    }

    @Test func singleValue() throws {
        let statistics = try #require(LatencyStatistics(values: [7] as [UInt64]))
        #expect(
            [statistics.minimum, statistics.p50, statistics.p90, statistics.p99, statistics.maximum] == [7, 7, 7, 7, 7]
        )
    }

    @Test func duplicates() throws {
        let statistics = try #require(LatencyStatistics(values: [5, 5, 5, 9] as [UInt64]))
        #expect(statistics.p50 == 5)
        #expect(statistics.p90 == 9)
    }

    @Test func noValuesGiveNoStatistics() {
        #expect(LatencyStatistics(values: [] as [UInt64]) == nil)
    }

    /// Below 2048 a 3-significant-digit HdrHistogram is exact, so its percentiles must equal ours:
    /// the two use the same rank rule.
    @Test func agreesWithHdrHistogramWhereItIsExact() throws {
        var generator = SyntheticSamples()
        generator.jitterMicroseconds = 2000
        let scenario = Scenario.test(.noise, .early, rtt: 0, connections: 997)
        let values = generator.samples(for: scenario).compactMap { $0.timestamps.tcpConnected }
        let sorted = values.sorted()
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000, numberOfSignificantValueDigits: .three)
        for value in values { histogram.record(value) }
        for percentile in [1.0, 10, 25, 50, 75, 90, 99, 99.9] {
            #expect(
                LatencyStatistics.percentile(percentile, ofSorted: sorted) == histogram.valueAtPercentile(percentile),
                "p\(percentile)"
            )
        }
    }
}
