import Testing
import UpgradeBenchKit

/// The `.hgrm` text against the format HdrHistogram's `outputPercentileDistribution` writes and
/// its plotter reads: a header, a blank line, `Value Percentile TotalCount 1/(1-Percentile)` rows
/// (the last without the inverse column), then three `#[...]` trailer lines.
@Suite struct HistogramFileTests {
    struct Row {
        let value: Double
        let percentile: Double
        let totalCount: Int
        let inverse: Double?
    }

    struct Parsed {
        var rows: [Row] = []
        var mean: Double = .nan
        var standardDeviation: Double = .nan
        var maximum: Double = .nan
        var totalCount: Int = -1
        var buckets: Int = -1
        var subBuckets: Int = -1
    }

    /// A strict reader of the format: any line out of place is a test failure.
    static func parse(_ text: String) throws -> Parsed {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.last == "", "ends with a line feed")
        lines.removeLast()
        let header = try #require(lines.first)
        #expect(header.split(separator: " ") == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"])
        #expect(header == "       Value     Percentile TotalCount 1/(1-Percentile)")
        #expect(lines.count > 5)
        #expect(lines[1] == "", "blank line after the header")
        var parsed = Parsed()
        let trailer = lines.suffix(3)
        for line in lines[2..<(lines.count - 3)] {
            let fields = line.split(separator: " ")
            #expect(fields.count == 3 || fields.count == 4, "row: \(line)")
            parsed.rows.append(
                Row(
                    value: try #require(Double(fields[0])),
                    percentile: try #require(Double(fields[1])),
                    totalCount: try #require(Int(fields[2])),
                    inverse: fields.count == 4 ? Double(fields[3]) : nil
                )
            )
        }
        let mean = Array(trailer)[0]
        let max = Array(trailer)[1]
        let buckets = Array(trailer)[2]
        #expect(mean.hasPrefix("#[Mean    = ") && mean.contains(", StdDeviation   = ") && mean.hasSuffix("]"))
        #expect(max.hasPrefix("#[Max     = ") && max.contains(", Total count    = ") && max.hasSuffix("]"))
        #expect(buckets.hasPrefix("#[Buckets = ") && buckets.contains(", SubBuckets     = ") && buckets.hasSuffix("]"))
        func numbers(_ line: String) -> [Substring] {
            line.dropFirst(2).dropLast().split(whereSeparator: { " =,".contains($0) }).filter {
                $0.first?.isNumber == true
            }
        }
        parsed.mean = Double(numbers(mean)[0]) ?? .nan
        parsed.standardDeviation = Double(numbers(mean)[1]) ?? .nan
        parsed.maximum = Double(numbers(max)[0]) ?? .nan
        parsed.totalCount = Int(numbers(max)[1]) ?? -1
        parsed.buckets = Int(numbers(buckets)[0]) ?? -1
        parsed.subBuckets = Int(numbers(buckets)[1]) ?? -1
        return parsed
    }

    @Test func formatMatchesHdrHistogram() throws {
        let microseconds = (1...1000).map { UInt64($0) * 10 }  // 10 µs ... 10 ms
        let parsed = try Self.parse(HistogramFile.percentileDistribution(microseconds: microseconds))
        #expect(parsed.totalCount == 1000)
        // Written in milliseconds, as HdrHistogram's highest equivalent value (3 significant digits).
        #expect(parsed.maximum >= 10.0 && parsed.maximum <= 10.0 * 1.001)
        #expect(abs(parsed.mean - 5.005) < 0.01)
        #expect(parsed.rows.first?.percentile == 0)
        #expect(parsed.rows.last?.percentile == 1)
        #expect(parsed.rows.last?.inverse == nil, "the 100 % row has no 1/(1-p)")
        #expect(parsed.rows.last?.totalCount == 1000)
        #expect(parsed.rows.dropLast().allSatisfy { $0.inverse != nil })
        for (previous, row) in zip(parsed.rows, parsed.rows.dropFirst()) {
            #expect(row.value >= previous.value)
            #expect(row.percentile >= previous.percentile)
            #expect(row.totalCount >= previous.totalCount)
        }
        // The 50 % row: the median of 10...10000 µs in steps of 10 is 5 ms.
        let median = try #require(parsed.rows.first { $0.percentile == 0.5 })
        #expect(median.value >= 5.0 && median.value <= 5.0 * 1.001)
        #expect(median.totalCount == 500)
        #expect(median.inverse == 2)
    }

    /// Values print as the highest value equivalent to the recorded one (3000 µs shares a 2 µs
    /// bucket with 3001 µs above 2048), the mean from bucket midpoints: as in Java's HdrHistogram.
    @Test func goldenSmall() {
        let text = HistogramFile.percentileDistribution(microseconds: [1000, 2000, 3000, 4000] as [UInt64])
        let expected = """
                   Value     Percentile TotalCount 1/(1-Percentile)

                   1.000 0.000000000000          1           1.00
                   1.000 0.100000000000          1           1.11
                   1.000 0.200000000000          1           1.25
                   2.000 0.300000000000          2           1.43
                   2.000 0.400000000000          2           1.67
                   2.000 0.500000000000          2           2.00
                   3.001 0.550000000000          3           2.22
                   3.001 0.600000000000          3           2.50
                   3.001 0.650000000000          3           2.86
                   3.001 0.700000000000          3           3.33
                   3.001 0.750000000000          3           4.00
                   4.001 0.775000000000          4           4.44
                   4.001 1.000000000000          4
            #[Mean    =        2.501, StdDeviation   =        1.118]
            #[Max     =        4.001, Total count    =            4]
            #[Buckets =           22, SubBuckets     =         2048]

            """
        #expect(text == expected)
    }

    @Test func valuesAboveOneHourAreClampedNotDropped() throws {
        let parsed = try Self.parse(
            HistogramFile.percentileDistribution(microseconds: [1, HistogramFile.highestTrackableMicroseconds * 2])
        )
        #expect(parsed.totalCount == 2)
        #expect(parsed.maximum >= 3_599_000)
    }

    @Test func noValuesGiveAnEmptyDistribution() {
        let text = HistogramFile.percentileDistribution(microseconds: [] as [UInt64])
        #expect(text.hasPrefix("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"))
        #expect(text.contains("Total count    =            0]"))
    }
}
