import Foundation

extension RunMetadata {
    /// The `meta.json` text: pretty-printed with sorted keys, so two runs' files diff cleanly.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem`` when it cannot be encoded.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
        } catch {
            throw UpgradeBenchError.fileSystem("cannot encode meta.json: \(error)")
        }
    }

    /// The calibrated round-trip time of every emulated path, µs (the median of the calibration's
    /// round trips), for ``RoundTripReport``. A path calibrated twice (a scenario measured again
    /// on a new path) counts with its last calibration, as the run that measured again did.
    public var pathRTTs: [RoundTripReport.PathKey: Double] {
        Self.pathRTTs(of: self.emulators)
    }

    /// ``pathRTTs`` of `emulators`.
    public static func pathRTTs(of emulators: [Emulator]) -> [RoundTripReport.PathKey: Double] {
        var rtts: [RoundTripReport.PathKey: Double] = [:]
        for emulator in emulators {
            for calibration in emulator.calibration where calibration.requestedRTTMilliseconds > 0 {
                let key = RoundTripReport.PathKey(
                    emulator: emulator.name,
                    rttMilliseconds: calibration.requestedRTTMilliseconds
                )
                rtts[key] = Double(calibration.p50Microseconds)
            }
        }
        return rtts
    }

    /// Scenarios in the run, upgrade and throughput.
    public var scenarioCount: Int { self.scenarios.count + self.throughputScenarios.count }

    /// One line on how the run ended, e.g. `interrupted by SIGINT during
    /// noise-early-strict-20ms-tun-c1; 15 of 30 scenarios done`.
    public var statusDescription: String {
        let done = self.progress.map { "\($0.done) of \($0.total) scenarios done" }
        let inFlight = self.progress?.inFlight.map { " during \($0)" } ?? ""
        let status: String
        switch self.status {
        case nil:
            // Folders from before the status was recorded were only written by completed runs.
            status = "completed"
        case .running?:
            status = "running, or ended without a word (killed or crashed)\(inFlight)"
        case .completed?:
            status = "completed"
        case .interrupted?:
            status = "interrupted by \(self.signal ?? "a signal")\(inFlight)"
        case .failed?:
            status = "failed\(inFlight): \(self.error ?? "unknown error")"
        }
        return [status, done].compactMap(\.self).joined(separator: "; ")
    }
}
