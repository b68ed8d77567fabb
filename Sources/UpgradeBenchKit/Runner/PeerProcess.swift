import Foundation
import Glibc
import NIOConcurrencyHelpers
import NetworkEmulation

/// Where the adapters of other implementations live (docs/peers.md): `<directory>/<name>/peer`,
/// with an optional `<directory>/<name>/setup.sh` that installs the implementation.
public struct PeerAdapters: Sendable {
    /// The folder of adapter folders, `scripts/peers` in the package.
    public var directory: URL

    /// Adapters under `directory`.
    public init(directory: URL) {
        self.directory = directory.standardizedFileURL
    }

    /// Adapter exit code: the implementation cannot do what was asked.
    static let unsupportedExitCode: Int32 = 3
    /// Adapter exit code: the implementation is not installed and cannot be.
    static let notInstalledExitCode: Int32 = 4
    /// How long an installation may take: a wheel download and a virtual environment.
    static let setupTimeout: Duration = .seconds(600)

    /// The adapter of `peer`.
    public func executable(of peer: Scenario.Peer) -> String {
        self.directory.appendingPathComponent(peer.rawValue).appendingPathComponent("peer").path
    }

    /// Installs `peer` (runs its `setup.sh`, if it has one) outside any emulated path, where the
    /// network is reachable, and returns its adapter.
    ///
    /// - Throws: ``UpgradeBenchError/Code/peerUnavailable`` with the setup's reason when the
    ///   adapter is missing or cannot install its implementation.
    public func prepare(_ peer: Scenario.Peer) throws -> String {
        let executable = self.executable(of: peer)
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw UpgradeBenchError.peerUnavailable("no adapter for \(peer) at \(executable) (docs/peers.md)")
        }
        let setup = self.directory.appendingPathComponent(peer.rawValue).appendingPathComponent("setup.sh")
        guard FileManager.default.isExecutableFile(atPath: setup.path) else { return executable }
        let process = Process()
        process.executableURL = setup
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw UpgradeBenchError.peerUnavailable("\(setup.path) did not start: \(error)")
        }
        let collected = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let message = String(decoding: collected, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            let reason = process.terminationStatus == Self.notInstalledExitCode ? "not installed" : "setup failed"
            throw UpgradeBenchError.peerUnavailable(
                "\(peer): \(reason) (\(setup.path) exit \(process.terminationStatus)): \(message.suffix(600))"
            )
        }
        return executable
    }
}

/// An adapter process on one side of an emulated path, read line by line.
///
/// Its stdout is read on a thread of its own into ``lines``; its stderr goes to a file whose end
/// is quoted when something goes wrong. Every process started here is also known to
/// ``terminateAll()``, which the driver's signal handling calls, so none outlives an interrupted run.
final class PeerProcess: Sendable {
    let pid: pid_t
    let description: String
    private let stderrPath: String
    private let output: NIOLockedValueBox<Output>
    private let reaped = NIOLockedValueBox<Int32?>(nil)

    private struct Output {
        var lines: [String] = []
        var partial: [UInt8] = []
        var finished = false
        /// Lines handed out by ``nextLine(timeout:)``.
        var taken = 0
    }

    private static let running = NIOLockedValueBox<Set<pid_t>>([])

    /// How long a stopped adapter gets to print its summary and end before it is killed.
    static let stopTimeout: Duration = .seconds(10)

    private init(pid: pid_t, description: String, stderrPath: String, output: NIOLockedValueBox<Output>) {
        self.pid = pid
        self.description = description
        self.stderrPath = stderrPath
        self.output = output
    }

    /// Starts `executable arguments` on `side` of `path`.
    static func start(
        _ executable: String,
        _ arguments: [String],
        on side: EmulatedPath.Side,
        of path: EmulatedPath
    ) async throws -> PeerProcess {
        let description = ([URL(fileURLWithPath: executable).deletingLastPathComponent().lastPathComponent + "/peer"] + arguments)
            .joined(separator: " ")
        var pipe: [Int32] = [-1, -1]
        guard Glibc.pipe(&pipe) == 0 else {
            throw UpgradeBenchError.peerFailed("\(description): pipe: \(String(cString: strerror(errno)))")
        }
        // Neither end may leak into other children (the adapter gets the write end as its stdout,
        // through dup2, which clears the flag on the copy).
        for fd in pipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let stderrPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-peer-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log").path
        let stderrFD = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard stderrFD >= 0 else {
            close(pipe[0])
            close(pipe[1])
            throw UpgradeBenchError.peerFailed("\(description): cannot create \(stderrPath)")
        }
        let pid: pid_t
        do {
            pid = try await path.spawn(
                on: side,
                executable: executable,
                arguments: arguments,
                standardOutput: pipe[1],
                standardError: stderrFD
            )
        } catch {
            close(pipe[0])
            close(pipe[1])
            close(stderrFD)
            throw UpgradeBenchError.peerFailed("\(description): \(error)")
        }
        close(pipe[1])
        close(stderrFD)
        Self.running.withLockedValue { _ = $0.insert(pid) }
        let output = NIOLockedValueBox(Output())
        let readFD = pipe[0]
        let thread = Thread {
            Self.read(readFD, into: output)
            close(readFD)
        }
        thread.name = "upgradebench-peer-stdout"
        thread.start()
        return PeerProcess(pid: pid, description: description, stderrPath: stderrPath, output: output)
    }

    /// Blocking reads until end of file; complete lines go to `output`.
    private static func read(_ fd: Int32, into output: NIOLockedValueBox<Output>) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            output.withLockedValue { output in
                output.partial.append(contentsOf: buffer[0..<count])
                while let newline = output.partial.firstIndex(of: UInt8(ascii: "\n")) {
                    output.lines.append(String(decoding: output.partial[..<newline], as: UTF8.self))
                    output.partial.removeSubrange(...newline)
                }
            }
        }
        output.withLockedValue { $0.finished = true }
    }

    /// The next line not yet taken, waiting at most `timeout`.
    ///
    /// - Throws: ``UpgradeBenchError/Code/peerUnavailable`` when the adapter exited with code 3
    ///   or 4, ``UpgradeBenchError/Code/peerFailed`` when it ended or timed out without a line.
    func nextLine(timeout: Duration) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let (line, finished) = self.output.withLockedValue { output -> (String?, Bool) in
                guard output.taken < output.lines.count else { return (nil, output.finished) }
                output.taken += 1
                return (output.lines[output.taken - 1], false)
            }
            if let line { return line }
            if finished {
                let status = await self.waitForExit(timeout: .seconds(5))
                throw self.failure("ended without the expected line", status: status)
            }
            guard clock.now < deadline else {
                throw self.failure("printed no line within \(timeout)", status: nil)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Lines printed so far and not taken.
    func remainingLines() -> [String] {
        self.output.withLockedValue { output in
            defer { output.taken = output.lines.count }
            return Array(output.lines[output.taken...])
        }
    }

    /// Waits for the process to end, at most `timeout`; its exit code (128 + signal when killed),
    /// nil if it still runs.
    func waitForExit(timeout: Duration) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let status = self.reap() { return status }
            guard clock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// SIGTERM, up to ``stopTimeout`` to end (a listener prints its summary), then SIGKILL.
    /// Returns the exit code and waits until its stdout has been read to the end.
    @discardableResult
    func stop() async -> Int32? {
        if self.reap() == nil { kill(self.pid, SIGTERM) }
        var status = await self.waitForExit(timeout: Self.stopTimeout)
        if status == nil {
            kill(self.pid, SIGKILL)
            status = await self.waitForExit(timeout: .seconds(5))
        }
        // The pipe closes when every holder of it is gone (an adapter's own children too).
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while !self.output.withLockedValue({ $0.finished }) && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        try? FileManager.default.removeItem(atPath: self.stderrPath)
        return status
    }

    /// The last part of the adapter's stderr, for error messages.
    func stderrTail(_ characters: Int = 800) -> String {
        guard let data = FileManager.default.contents(atPath: self.stderrPath) else { return "" }
        return String(String(decoding: data, as: UTF8.self).suffix(characters))
    }

    /// The error for an adapter that failed: exit codes 3 and 4 mean the implementation cannot
    /// take part; anything else broke the contract.
    func failure(_ what: String, status: Int32?) -> UpgradeBenchError {
        let detail = "\(self.description) \(what)\(status.map { " (exit \($0))" } ?? ""): \(self.stderrTail())"
        switch status {
        case PeerAdapters.unsupportedExitCode?, PeerAdapters.notInstalledExitCode?:
            return .peerUnavailable(detail)
        default:
            return .peerFailed(detail)
        }
    }

    /// `waitpid` without blocking; the exit code once the process ended.
    private func reap() -> Int32? {
        self.reaped.withLockedValue { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            let result = waitpid(self.pid, &status, WNOHANG)
            guard result == self.pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; these are their definitions.
            let signal = status & 0x7f
            reaped = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            Self.running.withLockedValue { _ = $0.remove(self.pid) }
            return reaped
        }
    }

    /// Sends SIGTERM to every adapter still running (from a signal handler's thread: the run is
    /// ending and its paths are about to be removed).
    static func terminateAll() {
        for pid in Self.running.withLockedValue({ $0 }) { kill(pid, SIGTERM) }
    }
}

extension PeerProcess {
    /// Parses a JSON object line.
    static func object(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}
