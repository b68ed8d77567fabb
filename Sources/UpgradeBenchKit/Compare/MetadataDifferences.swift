/// What differs between two runs' `meta.json` beyond the code under test: machine, build,
/// library versions, emulators and their calibration, matrix and TLS certificate mode. Any of
/// these can move the numbers as much as a change in the code, so ``ResultsComparison`` puts
/// them first.
public enum MetadataDifferences {
    /// The largest difference in a calibrated median round trip not worth a warning: 1 % of the
    /// base's, and at least 50 µs (loopback's own ~40 µs wobbles between runs).
    public static func calibrationTolerance(baseMicroseconds: UInt64) -> Double {
        max(50, Double(baseMicroseconds) / 100)
    }

    /// One sentence per difference, in a stable order; empty when the runs are alike.
    public static func warnings(base: RunMetadata, new: RunMetadata) -> [String] {
        var warnings: [String] = []
        func differs(_ what: String, _ base: String?, _ new: String?) {
            let base = base ?? "unknown"
            let new = new ?? "unknown"
            if base != new { warnings.append("\(what) differs: \(base) (base) vs \(new) (new)") }
        }
        differs("machine: cpu", base.machine.cpu, new.machine.cpu)
        differs("machine: cores", String(base.machine.cores), String(new.machine.cores))
        differs(
            "machine: memory",
            Self.gibibytes(base.machine.memoryBytes),
            Self.gibibytes(new.machine.memoryBytes)
        )
        differs("machine: kernel", base.machine.kernel, new.machine.kernel)
        differs("machine: host name", base.machine.hostname, new.machine.hostname)
        differs("build: configuration", base.build.configuration, new.build.configuration)
        differs("build: Swift compiler", base.build.swiftCompiler, new.build.swiftCompiler)
        differs("library: OpenSSL", base.libraries.openssl, new.libraries.openssl)
        differs("library: OpenSSL headers", base.libraries.opensslHeaders, new.libraries.opensslHeaders)
        differs("library: libsodium", base.libraries.libsodium, new.libraries.libsodium)
        differs("library: allocator", base.libraries.allocator, new.libraries.allocator)
        // Folders from before the choice existed used a certificate per connection.
        differs("TLS certificates", base.tlsCertificates ?? "per-connection", new.tlsCertificates ?? "per-connection")
        differs("matrix", base.matrix, new.matrix)
        for (side, metadata) in [("base", base), ("new", new)] where metadata.build.configuration != "release" {
            warnings.append("\(side) was built \(metadata.build.configuration): its times are not benchmark times")
        }
        warnings += self.emulatorWarnings(base: base.emulators, new: new.emulators)
        warnings += self.connectionCountWarnings(base: base.scenarios, new: new.scenarios)
        for (side, metadata) in [("base", base), ("new", new)] {
            for reason in metadata.remeasured ?? [] { warnings.append("\(side) measured a scenario again: \(reason)") }
        }
        return warnings
    }

    private static func emulatorWarnings(base: [RunMetadata.Emulator], new: [RunMetadata.Emulator]) -> [String] {
        var warnings: [String] = []
        for emulator in base where !new.contains(where: { $0.name == emulator.name }) {
            warnings.append("emulator \(emulator.name) used in base only")
        }
        for emulator in new where !base.contains(where: { $0.name == emulator.name }) {
            warnings.append("emulator \(emulator.name) used in new only")
        }
        for old in base {
            guard let current = new.first(where: { $0.name == old.name }) else { continue }
            if old.delaysConnect != current.delaysConnect {
                warnings.append(
                    "emulator \(old.name): delaysConnect \(old.delaysConnect) (base) vs \(current.delaysConnect) (new)"
                )
            }
            for calibration in old.calibration {
                // A scenario measured again adds a calibration; compare the first of each RTT.
                guard
                    let other = current.calibration.first(where: {
                        $0.requestedRTTMilliseconds == calibration.requestedRTTMilliseconds
                    }),
                    calibration == old.calibration.first(where: {
                        $0.requestedRTTMilliseconds == calibration.requestedRTTMilliseconds
                    })
                else { continue }
                let difference = abs(Double(other.p50Microseconds) - Double(calibration.p50Microseconds))
                if difference > self.calibrationTolerance(baseMicroseconds: calibration.p50Microseconds) {
                    warnings.append(
                        "emulator \(old.name) calibration at \(calibration.requestedRTTMilliseconds) ms: RTT p50 "
                            + "\(PlotData.milliseconds(calibration.p50Microseconds)) ms (base) vs "
                            + "\(PlotData.milliseconds(other.p50Microseconds)) ms (new)"
                    )
                }
            }
        }
        return warnings
    }

    private static func connectionCountWarnings(base: [Scenario], new: [Scenario]) -> [String] {
        let counts = Dictionary(base.map { ($0.name, $0.connections) }) { first, _ in first }
        let differing = new.filter { scenario in counts[scenario.name].map { $0 != scenario.connections } ?? false }
        guard let first = differing.first, let baseCount = counts[first.name] else { return [] }
        let more = differing.count > 1 ? " and \(differing.count - 1) more scenarios" : ""
        return [
            "connections per scenario differ: \(first.name) \(baseCount) (base) vs \(first.connections) (new)\(more)"
        ]
    }

    private static func gibibytes(_ bytes: UInt64) -> String {
        "\(FixedPoint.format(Double(bytes) / Double(1 << 30), decimals: 1)) GiB"
    }
}
