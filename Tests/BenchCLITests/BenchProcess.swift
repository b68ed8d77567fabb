import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `bench` executable that `swift test` built next to the test binary.
///
/// Looked up, in order:
/// 1. `BENCH_EXECUTABLE`, when set (it must name an executable file);
/// 2. the directory of the running test binary (`…/debug/UpgradeBenchPackageTests.xctest` on
///    Linux, the `.xctest` bundle's folder on macOS): `swift test` builds every product of the
///    package into that directory, whatever `--scratch-path` says, so this is the `bench` of the
///    same build;
/// 3. `.build/debug/bench` under the package root, found by walking up from this file.
enum BenchExecutable {
    /// Why no `bench` was found.
    struct NotFound: Error, CustomStringConvertible {
        let searched: [String]
        var description: String {
            "no bench executable; build it (swift build) or set BENCH_EXECUTABLE. Looked at: "
                + self.searched.joined(separator: ", ")
        }
    }

    /// The path of `bench`.
    static func path(filePath: String = #filePath) throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["BENCH_EXECUTABLE"], !explicit.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: explicit) else { throw NotFound(searched: [explicit]) }
            return explicit
        }
        let candidates = Self.buildDirectories(filePath: filePath).map { $0.appendingPathComponent("bench").path }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        throw NotFound(searched: candidates)
    }

    /// Directories that may hold this build's products, the most specific first.
    private static func buildDirectories(filePath: String) -> [URL] {
        var directories: [URL] = []
        // The test process itself: on Linux the .xctest is an executable run directly.
        let running = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        if running.path != "/proc/self/exe" { directories.append(running.deletingLastPathComponent()) }
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            directories.append(executable.deletingLastPathComponent())
        }
        // macOS runs the tests as a bundle loaded by `xctest`; the products sit beside the bundle.
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        // A fresh clone's default scratch path, relative to the package root.
        var folder = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
                directories.append(folder.appendingPathComponent(".build/debug"))
                break
            }
            folder.deleteLastPathComponent()
        }
        return directories
    }
}

/// One run of `bench` with its output collected, driven by a test.
///
/// Every wait has a deadline, and ``kill()`` (call it in a `defer`) ends the process if a test
/// stops early, so a failing test never leaves a `bench listen` behind.
final class BenchProcess: @unchecked Sendable {
    /// Something the process did not do in time.
    struct TimedOut: Error, CustomStringConvertible {
        let what: String
        let stdout: String
        let stderr: String
        var description: String { "timed out waiting for \(self.what); stdout: \(self.stdout); stderr: \(self.stderr)" }
    }

    /// How the process ended.
    struct Exit: Equatable, CustomStringConvertible {
        /// The exit status, or the signal number when ``signalled``.
        let status: Int32
        /// Whether a signal ended the process instead of `exit`.
        let signalled: Bool
        var description: String { self.signalled ? "killed by signal \(self.status)" : "exit \(self.status)" }
        static func code(_ status: Int32) -> Exit { Exit(status: status, signalled: false) }
        static func signal(_ number: Int32) -> Exit { Exit(status: number, signalled: true) }
    }

    private let process: Process
    private let stdoutCollector: OutputCollector
    private let stderrCollector: OutputCollector

    /// The process ID.
    var pid: pid_t { self.process.processIdentifier }

    /// Starts `bench arguments…`.
    ///
    /// - Parameter onFirstStdoutLine: Called on the reading thread the moment the first line of
    ///   stdout is complete, before any test code could react: for signalling "at once".
    init(_ arguments: [String], onFirstStdoutLine: (@Sendable (pid_t) -> Void)? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try BenchExecutable.path())
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Our copies of the write ends must go, or the readers never see end of file.
        try? stdout.fileHandleForWriting.close()
        try? stderr.fileHandleForWriting.close()
        let pid = process.processIdentifier
        self.process = process
        var onFirstLine: (@Sendable () -> Void)? = nil
        if let onFirstStdoutLine { onFirstLine = { onFirstStdoutLine(pid) } }
        self.stdoutCollector = OutputCollector(handle: stdout.fileHandleForReading, onFirstLine: onFirstLine)
        self.stderrCollector = OutputCollector(handle: stderr.fileHandleForReading, onFirstLine: nil)
        self.stdoutCollector.start()
        self.stderrCollector.start()
    }

    /// Everything written to stdout so far.
    var stdout: String { self.stdoutCollector.text }
    /// Everything written to stderr so far.
    var stderr: String { self.stderrCollector.text }
    /// Whether the process has ended.
    var hasExited: Bool { !self.process.isRunning }
    /// The complete lines of stdout so far.
    var stdoutLines: [String] { Self.completeLines(self.stdout) }

    /// Waits for the first complete stdout line.
    ///
    /// - Throws: ``TimedOut`` after `timeout`, or when the process exits without printing one.
    func firstLine(timeout: Duration) async throws -> String {
        try await self.poll(timeout: timeout, what: "the first stdout line") {
            if let line = self.stdoutLines.first { return line }
            if !self.process.isRunning && self.stdoutCollector.finished {
                throw TimedOut(what: "a stdout line (the process exited)", stdout: self.stdout, stderr: self.stderr)
            }
            return nil
        }
    }

    /// Waits until stdout has at least `count` complete lines and returns them.
    ///
    /// - Throws: ``TimedOut`` after `timeout`, or when the process exits with fewer.
    func lines(atLeast count: Int, timeout: Duration) async throws -> [String] {
        try await self.poll(timeout: timeout, what: "\(count) stdout lines") {
            let lines = self.stdoutLines
            if lines.count >= count { return lines }
            if !self.process.isRunning && self.stdoutCollector.finished {
                throw TimedOut(what: "\(count) stdout lines (the process exited)", stdout: self.stdout, stderr: self.stderr)
            }
            return nil
        }
    }

    /// Waits for the process to end and for its output to be read to the end.
    func waitForExit(timeout: Duration) async throws -> Exit {
        try await self.poll(timeout: timeout, what: "the process to exit") {
            guard !self.process.isRunning, self.stdoutCollector.finished, self.stderrCollector.finished else { return nil }
            let signalled = self.process.terminationReason == .uncaughtSignal
            return Exit(status: self.process.terminationStatus, signalled: signalled)
        }
    }

    /// Sends `signalNumber` to the process if it still runs.
    func send(_ signalNumber: Int32) {
        if self.process.isRunning { sendSignal(signalNumber, to: self.pid) }
    }

    /// Ends the process at once (SIGKILL) if it still runs; safe to call more than once.
    func kill() {
        self.send(SIGKILL)
    }

    private func poll<T>(timeout: Duration, what: String, _ check: () throws -> T?) async throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let value = try check() { return value }
            guard clock.now < deadline else { throw TimedOut(what: what, stdout: self.stdout, stderr: self.stderr) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private static func completeLines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The last piece is an unfinished line, or empty after a final newline.
        lines.removeLast()
        return lines
    }
}

/// Reads one pipe to its end on a thread of its own, so a blocking read never holds up a test.
private final class OutputCollector: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()
    private var data = Data()
    private var done = false
    private var onFirstLine: (@Sendable () -> Void)?

    init(handle: FileHandle, onFirstLine: (@Sendable () -> Void)?) {
        self.handle = handle
        self.onFirstLine = onFirstLine
    }

    var text: String { self.lock.withLock { String(decoding: self.data, as: UTF8.self) } }
    var finished: Bool { self.lock.withLock { self.done } }

    func start() {
        let thread = Thread { self.readToEnd() }
        thread.start()
    }

    private func readToEnd() {
        let descriptor = self.handle.fileDescriptor
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            let hook: (@Sendable () -> Void)? = self.lock.withLock {
                self.data.append(contentsOf: chunk[0..<count])
                guard self.onFirstLine != nil, self.data.contains(UInt8(ascii: "\n")) else { return nil }
                defer { self.onFirstLine = nil }
                return self.onFirstLine
            }
            hook?()
        }
        try? self.handle.close()
        self.lock.withLock { self.done = true }
    }
}

/// `kill(2)`; a free function because ``BenchProcess/kill()`` hides the C name inside the class.
func sendSignal(_ signalNumber: Int32, to pid: pid_t) {
    #if canImport(Glibc)
    _ = Glibc.kill(pid, signalNumber)
    #else
    _ = Darwin.kill(pid, signalNumber)
    #endif
}
