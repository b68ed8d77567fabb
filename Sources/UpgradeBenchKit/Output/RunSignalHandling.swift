import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NetworkEmulation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM during a run: the results folder is closed with what was measured
/// (``RunRecorder/interrupt(signal:)``), every emulated path is removed
/// (``NetworkEmulatorCleanup/stopAll()``), and the process then dies of the signal, as an
/// interrupted command should.
///
/// It replaces ``NetworkEmulatorCleanup/installSignalHandlers(_:)``, which would kill the process
/// before the folder is closed. Install it before the first path starts; attach the recorder once
/// the folder exists. A signal before that only removes the paths.
public final class RunSignalHandling: Sendable {
    /// Keeps a dispatch signal source alive.
    private final class Source: @unchecked Sendable {
        // Never touched after creation, and the source itself is thread-safe.
        let source: any DispatchSourceSignal
        init(_ source: any DispatchSourceSignal) { self.source = source }
    }

    private let recorder = NIOLockedValueBox<RunRecorder?>(nil)
    /// A signal arrived and its handler is closing the folder and removing the paths.
    private let interrupting = NIOLockedValueBox(false)
    private let sources = NIOLockedValueBox<[Source]>([])
    private let report: @Sendable (String) -> Void

    private init(report: @escaping @Sendable (String) -> Void) {
        self.report = report
    }

    /// Starts handling `signals`. `report` gets one line for people: where the results so far
    /// are, or why they could not be kept.
    public static func install(
        signals: [Int32] = [SIGINT, SIGTERM],
        report: @escaping @Sendable (String) -> Void
    ) -> RunSignalHandling {
        let handling = RunSignalHandling(report: report)
        // One serial queue for every signal: a second signal waits for the first's handler, which
        // ends the process.
        let queue = DispatchQueue(label: "upgradebench.run-signals")
        for number in signals {
            // A dispatch source sees the signal only once its default action is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handling.received(number) }
            source.resume()
            handling.sources.withLockedValue { $0.append(Source(source)) }
        }
        return handling
    }

    /// From now on a signal closes `recorder`'s folder before the process dies.
    public func attach(_ recorder: RunRecorder) {
        self.recorder.withLockedValue { $0 = recorder }
    }

    /// `SIGINT`, `SIGTERM`, ... for the signals a run handles, `signal <n>` for others.
    public static func name(of number: Int32) -> String {
        switch number {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case SIGQUIT: "SIGQUIT"
        default: "signal \(number)"
        }
    }

    /// Call where the run would end by itself (finished, or failed). While a signal is being handled it does not
    /// return: the handler ends the process with the signal once the folder is closed and the paths are removed.
    /// Otherwise the run could finish first, under load, and exit with a code while the paths still exist.
    public func waitIfInterrupted() {
        guard self.interrupting.withLockedValue({ $0 }) else { return }
        while true { sleep(60) }
    }

    private func received(_ number: Int32) {
        self.interrupting.withLockedValue { $0 = true }
        if let recorder = self.recorder.withLockedValue({ $0 }) {
            // The folder first: the recorder then ignores the scenario in flight, whose
            // connections fail once its path is gone.
            do {
                if let metadata = try recorder.interrupt(signal: number) {
                    let folder = recorder.directory.path
                    self.report("\(metadata.statusDescription); results so far: \(folder)")
                }
            } catch {
                self.report("interrupted; the summary of the scenarios done could not be written: \(error)")
            }
        }
        // Other implementations' adapters end with the run (the go adapter stops its daemon).
        PeerProcess.terminateAll()
        NetworkEmulatorCleanup.stopAll()
        signal(number, SIG_DFL)
        // To the process, not with raise(): this handler runs on a dispatch worker thread, which
        // blocks signals, so a thread-directed signal would stay pending.
        kill(getpid(), number)
    }
}
