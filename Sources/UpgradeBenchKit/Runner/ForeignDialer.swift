import Foundation
import NIOCore
import NetworkEmulation
import Upgrader

/// Another implementation dialing on the dialer side of an emulated path, through its adapter
/// (docs/peers.md): one adapter process per scenario makes the scenario's connections one after
/// another, and each of its lines becomes a sample, joined with the listener's own record of the
/// same connection where the listener is UpgradeBench's.
struct ForeignDialer {
    let executable: String
    let path: EmulatedPath

    /// How long one connection may take before the adapter is given up on: its own per-connection
    /// timeout is 10 s (docs/peers.md).
    static let lineTimeout: Duration = .seconds(30)
    /// How long the listener's record of a connection may lag behind the dialer's line.
    static let recordTimeout: Duration = .seconds(3)

    /// Runs `scenario` (its dialer is another implementation) against `listener`.
    ///
    /// - Throws: ``UpgradeBenchError`` `.peerUnavailable` or `.peerFailed` when the adapter breaks
    ///   off; failed connections are samples, not errors.
    func run(
        _ scenario: Scenario,
        listener: any DialTarget,
        progress: ProgressReporter
    ) async throws -> [ConnectionSample] {
        let total = scenario.warmup + scenario.connections
        // Only this scenario's connections may be taken for its lines.
        listener.records?.forgetEnded()
        let spacing = scenario.listener.spacingBetweenConnections
        let milliseconds = spacing.components.seconds * 1000 + spacing.components.attoseconds / 1_000_000_000_000_000
        let process = try await PeerProcess.start(
            self.executable,
            [
                "dial", listener.multiaddr, "--security", scenario.security.rawValue,
                "--connections", String(total), "--interval-ms", String(milliseconds),
            ],
            on: .dialer,
            of: self.path
        )
        var samples: [ConnectionSample] = []
        do {
            for index in 0..<total {
                let line = try await process.nextLine(timeout: Self.lineTimeout)
                guard let report = ForeignDialLine(line) else {
                    throw UpgradeBenchError.peerFailed("\(process.description): connection \(index): not a dial line: \(line.prefix(300))")
                }
                var record: ListenerRecords.Record? = nil
                if let records = listener.records {
                    record = await Self.oldestRecord(in: records)
                }
                let sample = report.sample(scenario: scenario, index: index - scenario.warmup, listenerRecord: record)
                progress.connectionFinished(in: scenario, failed: sample.failure != nil)
                if index >= scenario.warmup { samples.append(sample) }
            }
        } catch {
            await process.stop()
            throw error
        }
        // The summary line, then the exit: 0, or 1 when a connection failed (its sample says why).
        let exited = await process.waitForExit(timeout: PeerProcess.stopTimeout)
        let stopped = await process.stop()
        let status = exited ?? stopped
        guard status == 0 || status == 1 else {
            throw process.failure("ended badly after its connections", status: status)
        }
        return samples
    }

    /// The listener's record of the next connection, once its upgrade ended.
    private static func oldestRecord(in records: ListenerRecords) async -> ListenerRecords.Record? {
        let clock = ContinuousClock()
        let deadline = clock.now + Self.recordTimeout
        while clock.now < deadline {
            if let record = records.takeOldestUpgraded() { return record }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }
}

/// One `dial` line of an adapter (docs/peers.md): what the other implementation's dialer saw.
struct ForeignDialLine {
    var ok: Bool
    var security: Scenario.Security?
    var muxer: String?
    var early: Bool?
    /// µs since its dial started, per stage it could time.
    var stages: [ConnectionStage: Double] = [:]
    /// Its own measurements (`own_us`).
    var reported = ConnectionSample.ReportedDurations()
    /// `CLOCK_MONOTONIC` nanoseconds at which its dial started, when it says: the same clock as
    /// the listener's records on one machine, so both ends' stages can be put on one time line.
    var startMonotonicNanoseconds: UInt64?
    var error: String?

    /// Parses a connection line; nil for anything else (a summary line, garbage).
    init?(_ line: String) {
        guard let object = PeerProcess.object(line), object["summary"] == nil, let ok = object["ok"] as? Bool else {
            return nil
        }
        self.ok = ok
        switch object["security"] as? String {
        case "/noise": self.security = .noise
        case "/tls/1.0.0": self.security = .tls
        default: self.security = nil
        }
        self.muxer = object["muxer"] as? String
        self.early = object["early"] as? Bool
        if let stages = object["stages_us"] as? [String: Any] {
            for stage in ConnectionStage.allCases {
                if let value = (stages[stage.milestone.rawValue] as? NSNumber)?.doubleValue, value >= 0 {
                    self.stages[stage] = value
                }
            }
        }
        if let own = object["own_us"] as? [String: Any] {
            func microseconds(_ key: String) -> UInt64? {
                guard let value = (own[key] as? NSNumber)?.doubleValue, value >= 0, value < 1e12 else { return nil }
                return UInt64(value.rounded())
            }
            self.reported = ConnectionSample.ReportedDurations(connect: microseconds("connect"), handshake: microseconds("handshake"))
        }
        self.startMonotonicNanoseconds = (object["start_monotonic_ns"] as? NSNumber)?.uint64Value
        self.error = object["error"] as? String
    }

    /// The sample: the dialer's stages and own measurements; the listener's stages and view of
    /// the path from its record, placed on the dialer's time line when the adapter said when its
    /// dial started; what the dialer said otherwise.
    func sample(scenario: Scenario, index: Int, listenerRecord: ListenerRecords.Record?) -> ConnectionSample {
        var timestamps = ConnectionSample.Timestamps()
        for (stage, value) in self.stages { timestamps[stage] = UInt64(value.rounded()) }
        var path = listenerRecord?.path ?? ConnectionSample.Path()
        if path.security == nil { path.security = self.security }
        if path.muxer == nil { path.muxer = self.muxer }
        if path.earlyMuxerNegotiation == nil { path.earlyMuxerNegotiation = self.early }
        var failure: ConnectionSample.Failure? = nil
        if !self.ok {
            failure = ConnectionSample.Failure(parsing: self.error ?? "failed without a reason")
        } else if let listenerFailure = listenerRecord?.failure {
            failure = listenerFailure
        }
        var sample = ConnectionSample(scenario: scenario, index: index, timestamps: timestamps, path: path, failure: failure)
        if let timeline = listenerRecord?.timeline, let start = self.startMonotonicNanoseconds,
            start <= timeline.start.uptimeNanoseconds
        {
            sample.listener = ConnectionSample.ListenerTimestamps(timeline, sinceDialAt: .uptimeNanoseconds(start))
        }
        if self.reported.connect != nil || self.reported.handshake != nil { sample.reportedByDialer = self.reported }
        return sample
    }
}
