import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers

/// An OS thread owned by an emulator: the TUN delayer and the relay run on their own threads
/// because they sleep and spin on precise deadlines, and namespace work runs on fresh threads
/// because `setns` and `unshare` change the namespace of the calling thread only (a Swift
/// concurrency or event-loop thread must never be moved into another namespace).
final class EmulatorThread: Sendable {
    private let thread: NIOLockedValueBox<pthread_t?>
    private let kernelThreadID: NIOLockedValueBox<pid_t>
    private let started = ConditionLock(value: false)

    private final class Start {
        let name: String
        let body: (EmulatorThread) -> Void
        let owner: EmulatorThread
        init(name: String, body: @escaping (EmulatorThread) -> Void, owner: EmulatorThread) {
            self.name = name
            self.body = body
            self.owner = owner
        }
    }

    private init() {
        self.thread = NIOLockedValueBox(nil)
        self.kernelThreadID = NIOLockedValueBox(0)
    }

    /// The thread's kernel ID (as in /proc/self/task/<tid>), known once it has started.
    var threadID: pid_t { self.kernelThreadID.withLockedValue { $0 } }

    /// Starts a joinable thread named `name` (at most 15 characters are kept) running `body`.
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws -> EmulatorThread {
        let thread = EmulatorThread()
        let start = Start(name: name, body: { _ in body() }, owner: thread)
        let context = Unmanaged.passRetained(start).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(
            &handle,
            nil,
            { context in
                guard let context else { return nil }
                let start = Unmanaged<Start>.fromOpaque(context).takeRetainedValue()
                CNetworkEmulationShim_setThreadName(start.name)
                start.owner.kernelThreadID.withLockedValue { $0 = CNetworkEmulationShim_threadID() }
                start.owner.started.lock()
                start.owner.started.unlock(withValue: true)
                start.body(start.owner)
                return nil
            },
            context
        )
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            throw NetworkEmulationError.setupFailed("pthread_create: \(SystemErrorText.describe(result))")
        }
        thread.thread.withLockedValue { $0 = handle }
        // Wait for the thread ID so that callers (and tests) can always name the thread.
        thread.started.lock(whenValue: true)
        thread.started.unlock()
        return thread
    }

    /// CPU time the thread has used so far (user and system), or nil once it has been joined or
    /// when the kernel cannot tell.
    var cpuTime: Duration? {
        self.thread.withLockedValue { handle -> Duration? in
            guard let handle else { return nil }
            let nanoseconds = CNetworkEmulationShim_threadCPUTime(handle)
            return nanoseconds < 0 ? nil : .nanoseconds(nanoseconds)
        }
    }

    /// Waits for the thread to end. Only the first call joins; later ones return at once, so
    /// owners call it once, from their idempotent `stop()`.
    func join() {
        guard
            let handle = self.thread.withLockedValue({ value -> pthread_t? in
                defer { value = nil }
                return value
            })
        else { return }
        pthread_join(handle, nil)
    }

    /// Runs `body` on a fresh thread, inside the network namespace `namespaceFD` when one is
    /// given, and returns its result; the thread is joined before this returns.
    static func run<Result: Sendable>(
        name: String,
        inNamespace namespaceFD: CInt? = nil,
        _ body: @escaping @Sendable () throws -> Result
    ) async throws -> Result {
        let box = NIOLockedValueBox<EmulatorThread?>(nil)
        let result: Swift.Result<Result, any Error> = await withCheckedContinuation { continuation in
            do {
                let thread = try EmulatorThread.spawn(name: name) {
                    let outcome = Swift.Result<Result, any Error> {
                        if let namespaceFD {
                            guard CNetworkEmulationShim_enterNetworkNamespace(namespaceFD) == 0 else {
                                throw NetworkEmulationError.systemCall("setns", errno: errno, as: { .setupFailed($0) })
                            }
                        }
                        return try body()
                    }
                    continuation.resume(returning: outcome)
                }
                box.withLockedValue { $0 = thread }
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        // The thread resumed us as its last action: joining waits microseconds at most.
        box.withLockedValue { $0 }?.join()
        return try result.get()
    }
}
