/// Locale-free fixed-point formatting for CSV files and tables (never `1,5` for one and a half).
enum FixedPoint {
    /// `value` rounded half away from zero to `decimals` places; empty for NaN and infinities.
    static func format(_ value: Double, decimals: Int) -> String {
        precondition((0...9).contains(decimals), "FixedPoint supports 0...9 decimals, asked for \(decimals)")
        guard value.isFinite else { return "" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9.0e15 else {
            // Beyond exact Double integers; no latency or rate gets here, keep it readable anyway.
            return "\(value)"
        }
        let units = UInt64(scaled)
        let divisor = UInt64(scale)
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return "\(sign)\(units)" }
        let fraction = String(units % divisor)
        let padding = String(repeating: "0", count: decimals - fraction.count)
        return "\(sign)\(units / divisor).\(padding)\(fraction)"
    }
}
