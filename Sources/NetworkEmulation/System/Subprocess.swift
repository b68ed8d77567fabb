import CNetworkEmulation
import Glibc

/// Runs `ip` and `tc` from iproute2, bounded in time. The child starts in the network namespace
/// of the calling thread (it inherits the thread's namespaces), which is how commands reach the
/// emulator's namespaces without `ip netns exec`.
enum Subprocess {
    /// What a finished command returned.
    struct Outcome: Sendable {
        /// Exit status, or 128 + signal when it was killed.
        var status: CInt
        /// stdout and stderr, merged and truncated to ``outputLimit`` bytes.
        var output: String
    }

    /// Commands here print a line or two; anything longer is cut.
    static let outputLimit = 4096
    /// `ip` and `tc` finish in milliseconds; a command still running after this is killed.
    static let timeoutNanoseconds: UInt64 = 5_000_000_000

    private static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    /// The absolute path of an executable, looked up in the system directories `ip` and `tc`
    /// are installed in.
    static func locate(_ name: String) -> String? {
        for directory in Self.searchPath {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Runs `executable` with `arguments` and waits for it (at most ``timeoutNanoseconds``).
    static func run(_ executable: String, _ arguments: [String]) throws -> Outcome {
        guard let path = Self.locate(executable) else {
            throw NetworkEmulationError.unavailable("\(executable) (iproute2) is not installed")
        }
        var pipeFDs: [CInt] = [-1, -1]
        guard CNetworkEmulationShim_makeWakePipe(&pipeFDs) == 0 else {
            throw NetworkEmulationError.systemCall("pipe2", errno: errno, as: { .commandFailed($0) })
        }
        defer { close(pipeFDs[0]) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)

        let argv = ([path] + arguments).map { strdup($0) }
        defer { for argument in argv { free(argument) } }
        var cArguments = argv + [nil]
        let environment = [strdup("PATH=/usr/sbin:/sbin:/usr/bin:/bin"), strdup("LC_ALL=C")]
        defer { for variable in environment { free(variable) } }
        var cEnvironment = environment + [nil]

        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, &cArguments, &cEnvironment)
        close(pipeFDs[1])
        guard spawned == 0 else {
            throw NetworkEmulationError.commandFailed("posix_spawn \(path): \(SystemErrorText.describe(spawned))")
        }

        let deadline = NetworkEmulationClock.nowNanoseconds() + Self.timeoutNanoseconds
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        var timedOut = false
        reading: while true {
            let now = NetworkEmulationClock.nowNanoseconds()
            guard now < deadline else {
                timedOut = true
                break
            }
            var descriptor = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
            let ready = CNetworkEmulationShim_poll(&descriptor, 1, Int64(deadline - now))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            switch count {
            case 0:
                break reading
            case ..<0:
                if errno == EINTR || errno == EAGAIN { continue }
                break reading
            default:
                if output.count < Self.outputLimit {
                    output.append(contentsOf: chunk[0..<min(count, Self.outputLimit - output.count)])
                }
            }
        }
        if timedOut {
            kill(pid, SIGKILL)
        }
        var status: CInt = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self).trimmingTrailingWhitespace()
        if timedOut {
            throw NetworkEmulationError.commandFailed("\(([executable] + arguments).joined(separator: " ")) timed out")
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; these are their definitions.
        let signal = status & 0x7f
        return Outcome(status: signal == 0 ? (status >> 8) & 0xff : 128 + signal, output: text)
    }

    /// Runs a command and throws ``NetworkEmulationError/Code/commandFailed`` (or
    /// ``NetworkEmulationError/Code/permissionDenied``) when it does not exit with status 0.
    static func check(_ executable: String, _ arguments: [String]) throws {
        let outcome = try Self.run(executable, arguments)
        guard outcome.status == 0 else {
            let message =
                "\(([executable] + arguments).joined(separator: " ")): exit \(outcome.status): \(outcome.output)"
            if outcome.output.contains("Operation not permitted") || outcome.output.contains("Permission denied") {
                throw NetworkEmulationError.permissionDenied(message)
            }
            throw NetworkEmulationError.commandFailed(message)
        }
    }
}

extension String {
    fileprivate func trimmingTrailingWhitespace() -> String {
        var result = Substring(self)
        while let last = result.last, last.isWhitespace {
            result.removeLast()
        }
        return String(result)
    }
}
