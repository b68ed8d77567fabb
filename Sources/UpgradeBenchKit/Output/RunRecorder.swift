import Foundation
import NIOConcurrencyHelpers

/// Keeps a run's results folder current while the run lasts, so that a run that is interrupted,
/// fails or is killed keeps what it measured (docs/results.md).
///
/// - On creation: the folder is emptied of an earlier run's files, `meta.json` says `running`,
///   and `samples.csv` (and `throughput.csv`, if the matrix has transfers) hold their headers.
/// - As each scenario starts, `meta.json` names it as in flight; as it finishes, its rows are
///   appended to the CSV file in one write and `meta.json` counts it done. A process killed
///   outright loses at most the scenario in flight.
/// - At the end, ``complete(results:report:emulators:)`` writes the whole folder as the run
///   measured it; ``fail(_:)`` and ``interrupt(signal:)`` write the summary, histograms and plot
///   data of the scenarios done and say in `meta.json` how the run ended.
///
/// Once the run has ended one way, the recorder ignores everything else: a scenario that ends
/// after an interruption (its connections failing as its paths are removed) is not recorded.
/// Safe to call from any thread: a lock orders the writes.
public final class RunRecorder: BenchRunObserver {
    private struct State {
        var metadata: RunMetadata
        /// The rows in the folder.
        var samples: [ConnectionSample] = []
        var throughput: [ThroughputResult] = []
        /// Whether scenarios that finish are measurements to append (false while `--check`
        /// measures scenarios again: the folder keeps the first measurement until the end).
        var appending = true
        /// Whether the run has ended (completed, failed or interrupted).
        var closed = false
    }

    /// The folder's writer.
    public let writer: ResultsWriter
    private let state: NIOLockedValueBox<State>

    /// The results folder.
    public var directory: URL { self.writer.directory }

    /// Starts recording a run described by `metadata` (its scenarios are the matrix) into
    /// `directory`; see the type's description for what is written now.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem`` when the folder cannot be written.
    public init(directory: URL, metadata: RunMetadata) throws {
        var metadata = metadata
        metadata.status = .running
        metadata.finishedAt = nil
        metadata.progress = RunProgress(total: metadata.scenarioCount)
        self.writer = ResultsWriter(directory: directory)
        self.state = NIOLockedValueBox(State(metadata: metadata))
        try self.writer.checkWritable()
        try self.writer.removeEarlierRun()
        try self.writer.startSamples()
        if !metadata.throughputScenarios.isEmpty { try self.writer.startThroughput() }
        try self.writer.writeMetadata(metadata)
    }

    /// `meta.json` as last written.
    public var metadata: RunMetadata { self.state.withLockedValue { $0.metadata } }

    // MARK: - While the run lasts

    /// Names `name` as the scenario in flight in `meta.json`.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func scenarioStarted(_ name: String) throws {
        try self.state.withLockedValue { state in
            guard !state.closed else { return }
            state.metadata.progress?.inFlight = name
            try self.writer.writeMetadata(state.metadata)
        }
    }

    /// Appends the rows of a finished scenario to `samples.csv`, then counts it done in
    /// `meta.json` with the emulators' calibration so far.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func scenarioFinished(
        _ scenario: Scenario,
        samples: [ConnectionSample],
        emulators: [RunMetadata.Emulator]
    ) throws {
        try self.state.withLockedValue { state in
            guard !state.closed else { return }
            if state.appending {
                try self.writer.appendSamples(samples)
                state.samples += samples
                state.metadata.emulators = emulators
                state.metadata.progress?.finished(scenario.name)
            } else if state.metadata.progress?.inFlight == scenario.name {
                state.metadata.progress?.inFlight = nil
            }
            try self.writer.writeMetadata(state.metadata)
        }
    }

    /// Appends the rows of a finished throughput scenario to `throughput.csv`, then counts it
    /// done in `meta.json`.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func throughputFinished(
        _ scenario: ThroughputScenario,
        results: [ThroughputResult],
        emulators: [RunMetadata.Emulator]
    ) throws {
        try self.state.withLockedValue { state in
            guard !state.closed, state.appending else { return }
            try self.writer.appendThroughput(results)
            state.throughput += results
            state.metadata.emulators = emulators
            state.metadata.progress?.finished(scenario.name)
            try self.writer.writeMetadata(state.metadata)
        }
    }

    /// From now on, scenarios that finish are measured again (`--check`): their rows wait for
    /// ``complete(results:report:emulators:)``, and `meta.json` records why they are measured
    /// again. Until then the folder keeps the first measurement.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    public func measuringAgain(reasons: [String]) throws {
        try self.state.withLockedValue { state in
            guard !state.closed else { return }
            state.appending = false
            state.metadata.remeasured = reasons.isEmpty ? nil : reasons
            try self.writer.writeMetadata(state.metadata)
        }
    }

    // MARK: - The end

    /// The run completed: writes the whole folder from `results` (every scenario, measured
    /// again where `--check` did) and `report`, with `meta.json` saying `completed`. Returns the
    /// files written, relative to the folder.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    @discardableResult
    public func complete(
        results: BenchResults,
        report: RoundTripReport,
        emulators: [RunMetadata.Emulator]
    ) throws -> [String] {
        try self.state.withLockedValue { state in
            guard !state.closed else { return [] }
            state.closed = true
            state.metadata.status = .completed
            state.metadata.emulators = emulators
            state.metadata.progress?.inFlight = nil
            for scenario in results.scenarios { state.metadata.progress?.finished(scenario.name) }
            for scenario in results.throughputScenarios { state.metadata.progress?.finished(scenario.name) }
            state.metadata.finishedAt = RunMetadata.timestamp(Date())
            return try self.writer.write(results: results, report: report, metadata: state.metadata)
        }
    }

    /// The run failed with `error`: writes the summary of the scenarios done and `meta.json`
    /// saying `failed`, the error and the scenario in flight. Returns `meta.json` as written, or
    /// `nil` when the run had already ended.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    @discardableResult
    public func fail(_ error: any Error) throws -> RunMetadata? {
        try self.end(.failed) { $0.error = "\(error)" }
    }

    /// A signal interrupted the run: writes the summary of the scenarios done and `meta.json`
    /// saying `interrupted`, by which signal, and the scenario in flight. Returns `meta.json` as
    /// written, or `nil` when the run had already ended.
    ///
    /// - Throws: ``UpgradeBenchError/Code/fileSystem``.
    @discardableResult
    public func interrupt(signal: Int32) throws -> RunMetadata? {
        try self.end(.interrupted) { $0.signal = RunSignalHandling.name(of: signal) }
    }

    private func end(_ status: RunStatus, _ describe: (inout RunMetadata) -> Void) throws -> RunMetadata? {
        try self.state.withLockedValue { state in
            guard !state.closed else { return nil }
            // Closed first: if writing fails, nothing else is recorded over a run that ended.
            state.closed = true
            state.metadata.status = status
            describe(&state.metadata)
            state.metadata.finishedAt = RunMetadata.timestamp(Date())
            // The same selection and order `bench report` makes from the files.
            let recorded = ResultsFolder.results(
                metadata: state.metadata,
                samples: state.samples,
                throughput: state.throughput
            )
            let report = RoundTripReport(summaries: recorded.results.summaries(), pathRTTs: state.metadata.pathRTTs)
            // Metadata last: once it says how the run ended, the summary beside it is complete.
            try self.writer.writeDerivedFiles(report: report)
            try self.writer.writeMetadata(state.metadata)
            return state.metadata
        }
    }
}
