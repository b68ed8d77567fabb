import Dispatch
import Glibc
import NIOConcurrencyHelpers

/// Every running ``EmulatedPath``, so that an interrupted run still removes what it created.
///
/// Paths register themselves when they start and leave when stopped. The driver calls
/// ``stopAll()`` from its own signal handling, or lets ``installSignalHandlers(_:)`` do it. A
/// process that exits normally without stopping its paths stops them from an `atexit` handler.
/// A process killed outright (SIGKILL) cannot clean up: its namespaces and devices still vanish
/// with its descriptors, and the names it published are removed at the next start
/// (``NetworkEmulator/removeStaleResources()``).
public enum NetworkEmulatorCleanup {
    private struct State {
        var atExitInstalled = false
        var signalSources: [CInt: SignalSource] = [:]
    }

    /// The registry every path joins.
    static let shared = EmulatorCleanupRegistry()

    /// Keeps a dispatch signal source alive.
    private final class SignalSource: @unchecked Sendable {
        // Only touched under the state lock, and the source itself is thread-safe.
        let source: any DispatchSourceSignal
        init(_ source: any DispatchSourceSignal) { self.source = source }
    }

    private static let state = NIOLockedValueBox(State())

    /// Number of paths currently running.
    public static var runningPaths: Int { Self.shared.count }

    /// Stops every running path (the same as calling ``EmulatedPath/stop()`` on each).
    public static func stopAll() {
        Self.shared.stopAll()
    }

    /// Handles `signals` (SIGINT and SIGTERM by default) by stopping every path and then dying
    /// of the same signal, as the process would have without the handler. Idempotent. Call it
    /// only if the program has no signal handling of its own; otherwise call ``stopAll()`` there.
    public static func installSignalHandlers(_ signals: [CInt] = [SIGINT, SIGTERM]) {
        Self.state.withLockedValue { state in
            for number in signals where state.signalSources[number] == nil {
                // A dispatch source sees the signal only once its default action is off.
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    Self.stopAll()
                    signal(number, SIG_DFL)
                    // To the process, not with raise(): this handler runs on a dispatch worker
                    // thread, which blocks signals, so a thread-directed signal would stay pending
                    // and the run would go on over stopped paths.
                    kill(getpid(), number)
                }
                source.resume()
                state.signalSources[number] = SignalSource(source)
            }
        }
    }

    /// Installs the `atexit` handler once, before the first path registers.
    static func installAtExitHandler() {
        let install = Self.state.withLockedValue { state -> Bool in
            defer { state.atExitInstalled = true }
            return !state.atExitInstalled
        }
        if install {
            atexit { NetworkEmulatorCleanup.stopAll() }
        }
    }
}

/// Stop actions of running paths, keyed by registration.
final class EmulatorCleanupRegistry: Sendable {
    private struct Entries {
        var next = 0
        var stops: [Int: @Sendable () -> Void] = [:]
    }

    private let entries = NIOLockedValueBox(Entries())

    var count: Int { self.entries.withLockedValue { $0.stops.count } }

    func isRegistered(_ id: Int) -> Bool { self.entries.withLockedValue { $0.stops[id] != nil } }

    func register(_ stop: @escaping @Sendable () -> Void) -> Int {
        self.entries.withLockedValue { entries in
            defer { entries.next += 1 }
            entries.stops[entries.next] = stop
            return entries.next
        }
    }

    func unregister(_ id: Int) {
        _ = self.entries.withLockedValue { $0.stops.removeValue(forKey: id) }
    }

    /// Runs and forgets every registered stop action (outside the lock: they unregister).
    func stopAll() {
        let stops = self.entries.withLockedValue { entries -> [@Sendable () -> Void] in
            defer { entries.stops = [:] }
            return Array(entries.stops.values)
        }
        for stop in stops {
            stop()
        }
    }
}
