import Glibc
import NIOCore

/// Other programs on the path: a libp2p implementation of another language listens or dials on
/// one side of it, with the same emulated delay as UpgradeBench's own sockets.
extension EmulatedPath {
    /// One end of the path.
    public enum Side: String, Sendable, Hashable {
        /// Where connections are dialed from.
        case dialer
        /// Where listeners are.
        case listener
    }

    /// The IPv4 address a listener on the listener side binds: `198.18.0.2` inside the listener's
    /// namespace (`tun`, `netem`), `127.0.0.1` otherwise. A program started with
    /// ``spawn(on:executable:arguments:environment:standardOutput:standardError:)`` on the
    /// listener side listens there.
    public var listenerHost: String {
        var address = self.backend.listenerBindAddress.sin_addr
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return "127.0.0.1" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The address dialers use for a listener that another program bound at ``listenerHost``,
    /// `port` (the relay adds a frontend for it; ``releaseExposedListener(_:)`` removes it).
    ///
    /// - Throws: ``NetworkEmulationError`` when the port is invalid or the relay has no room.
    public func exposeListener(port: Int) throws -> SocketAddress {
        guard let port = UInt16(exactly: port), port > 0 else {
            throw NetworkEmulationError.socketFailure("invalid listener port \(port)")
        }
        var bound = self.backend.listenerBindAddress
        bound.sin_port = port.bigEndian
        let dial = try self.backend.exposeListener(boundAt: bound)
        return SocketAddress(dial, host: self.listenerHost)
    }

    /// Forgets a listener made known with ``exposeListener(port:)`` once its program stopped.
    public func releaseExposedListener(_ dialAddress: SocketAddress) {
        guard case .v4(let v4) = dialAddress, !self.isStopped else { return }
        self.backend.releaseListener(dialAddress: v4.address)
    }

    /// Starts a program on `side` of the path: inside that side's network namespace where the
    /// path has namespaces, so that every packet it sends crosses the emulated link.
    ///
    /// The program inherits this process's environment plus `environment`; its stdin is
    /// `/dev/null`; `standardOutput` and `standardError` are descriptors of the caller's, which the
    /// program gets as its 1 and 2 (the caller keeps and closes its own). The caller waits for
    /// and reaps the process.
    ///
    /// - Returns: the process ID.
    /// - Throws: ``NetworkEmulationError`` `.commandFailed` when it cannot be started.
    public func spawn(
        on side: Side,
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        standardOutput: CInt,
        standardError: CInt
    ) async throws -> pid_t {
        guard !self.isStopped else { throw NetworkEmulationError.stopped() }
        return try await EmulatorThread.run(name: "ubnetem-spawn", inNamespace: self.backend.namespaceFD(of: side)) {
            try Self.spawnHere(
                executable: executable,
                arguments: arguments,
                environment: environment,
                standardOutput: standardOutput,
                standardError: standardError
            )
        }
    }

    /// `posix_spawn` from the calling thread: the child starts in this thread's network namespace.
    private static func spawnHere(
        executable: String,
        arguments: [String],
        environment: [String: String],
        standardOutput: CInt,
        standardError: CInt
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
        posix_spawn_file_actions_adddup2(&actions, standardError, 2)

        var variables: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        variables.merge(environment) { _, new in new }

        let argv = ([executable] + arguments).map { strdup($0) }
        defer { for argument in argv { free(argument) } }
        var cArguments = argv + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") }
        defer { for variable in envp { free(variable) } }
        var cEnvironment = envp + [nil]

        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            throw NetworkEmulationError.commandFailed("posix_spawn \(executable): \(SystemErrorText.describe(spawned))")
        }
        return pid
    }
}
