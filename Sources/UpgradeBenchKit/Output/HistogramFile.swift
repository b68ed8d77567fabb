import Histogram

/// HdrHistogram percentile-distribution files (`.hgrm`), the text HdrHistogram's plotter
/// (`HistogramLogAnalyzer`, hdrhistogram.github.io/HdrHistogram/plotFiles.html) reads.
///
/// Latencies are recorded in microseconds with three significant digits and written in
/// **milliseconds** (`outputValueUnitScalingRatio` 1000), five percentile ticks per half distance:
/// a header `Value Percentile TotalCount 1/(1-Percentile)`, one row per tick, then the
/// `#[Mean ...]`, `#[Max ...]` and `#[Buckets ...]` trailer lines.
public enum HistogramFile {
    /// The largest latency tracked without clamping: one hour in microseconds.
    public static let highestTrackableMicroseconds: UInt64 = 3_600_000_000

    /// Microseconds per output unit (milliseconds).
    public static let outputScalingRatio = 1000.0

    /// A histogram of `microseconds`; values above ``highestTrackableMicroseconds`` are clamped to it
    /// (they would otherwise be dropped silently).
    public static func histogram(microseconds: some Sequence<UInt64>) -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1,
            highestTrackableValue: self.highestTrackableMicroseconds,
            numberOfSignificantValueDigits: .three
        )
        for value in microseconds {
            histogram.record(min(value, self.highestTrackableMicroseconds))
        }
        return histogram
    }

    /// The `.hgrm` text for `microseconds`.
    public static func percentileDistribution(microseconds: some Sequence<UInt64>) -> String {
        let histogram = self.histogram(microseconds: microseconds)
        var text = ""
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: self.outputScalingRatio)
        return text
    }
}
