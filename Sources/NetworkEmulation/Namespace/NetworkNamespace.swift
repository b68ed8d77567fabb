import CNetworkEmulation
import Glibc
import NIOConcurrencyHelpers

/// A network namespace created by an emulator, kept alive by an open descriptor.
///
/// The namespace itself is anonymous: it exists as long as ``fd`` (or a socket inside it) is
/// open, so the kernel removes it, with its devices, even when the process is killed. For
/// inspection during a run (`ip netns exec <name> ss -tin`) it is also published under
/// `/run/netns/<name>` with `ip netns attach`; that name is the one thing a killed process
/// leaves behind, and ``NetworkNamespaceNames/removeStale()`` deletes it at the next start.
final class NetworkNamespace: Sendable {
    /// The open namespace (`/proc/thread-self/ns/net` of the thread that created it).
    let fd: CInt
    /// The namespace's inode, as in `net:[<inode>]` links under /proc/<pid>/fd.
    let inode: UInt64
    /// The name under /run/netns, when publishing succeeded.
    let publishedName: String?
    private let removed = NIOLockedValueBox(false)

    private init(fd: CInt, inode: UInt64, publishedName: String?) {
        self.fd = fd
        self.inode = inode
        self.publishedName = publishedName
    }

    deinit {
        self.remove()
    }

    /// Creates a namespace on a fresh thread, brings up its loopback, turns IPv6 off (so that
    /// no router solicitations or DAD probes cross the emulated link), runs `configure` inside
    /// it, and publishes it as `name`.
    ///
    /// - Returns: the namespace and what `configure` returned.
    static func create<Extra: Sendable>(
        name: String,
        configure: @escaping @Sendable () throws -> Extra
    ) async throws -> (NetworkNamespace, Extra) {
        try await EmulatorThread.run(name: "ubnetem-setup") {
            guard CNetworkEmulationShim_unshareNetworkNamespace() == 0 else {
                throw NetworkEmulationError.systemCall("unshare(CLONE_NEWNET)", errno: errno, as: { .setupFailed($0) })
            }
            let fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw NetworkEmulationError.systemCall(
                    "open /proc/thread-self/ns/net",
                    errno: errno,
                    as: { .setupFailed($0) }
                )
            }
            var status = stat()
            fstat(fd, &status)
            do {
                guard CNetworkEmulationShim_setInterfaceUp("lo") == 0 else {
                    throw NetworkEmulationError.systemCall("bring up lo", errno: errno, as: { .setupFailed($0) })
                }
                for setting in ["all", "default"] {
                    Self.writeSysctl("/proc/sys/net/ipv6/conf/\(setting)/disable_ipv6", "1")
                }
                let extra = try configure()
                let published = Self.publish(name: name)
                return (NetworkNamespace(fd: fd, inode: UInt64(status.st_ino), publishedName: published), extra)
            } catch {
                close(fd)
                throw error
            }
        }
    }

    /// Removes the published name and closes the descriptor; the kernel frees the namespace once
    /// no socket inside it is left. Idempotent.
    func remove() {
        let first = self.removed.withLockedValue { removed -> Bool in
            defer { removed = true }
            return !removed
        }
        guard first else { return }
        if let publishedName {
            NetworkNamespaceNames.unpublish(publishedName)
        }
        close(self.fd)
    }

    /// Writes a sysctl of the calling thread's namespace; a missing file (IPv6 disabled in the
    /// kernel) is fine.
    private static func writeSysctl(_ path: String, _ value: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = value.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// Publishes the calling thread's namespace as /run/netns/`name` (best effort: without
    /// iproute2, or with /run read-only, the namespace stays anonymous and works the same).
    private static func publish(name: String) -> String? {
        guard Subprocess.locate("ip") != nil else { return nil }
        let threadID = CNetworkEmulationShim_threadID()
        guard let outcome = try? Subprocess.run("ip", ["netns", "attach", name, String(threadID)]),
            outcome.status == 0
        else { return nil }
        return name
    }
}

/// The names emulators publish namespaces under, and the removal of names left by a process
/// that ended without stopping its emulators.
///
/// A name is `ubnetem-<pid>-<start time>-<sequence>-<role>`: the owner's process ID and its
/// start time (field 22 of /proc/<pid>/stat, clock ticks since boot) tell a live owner from a
/// dead one even after the process ID is reused.
enum NetworkNamespaceNames {
    /// The prefix of every namespace name this module publishes.
    static let prefix = "ubnetem-"
    /// Where `ip netns` keeps named namespaces.
    static let directory = "/run/netns"

    private static let sequence = NIOLockedValueBox(0)

    /// A fresh name for a namespace of this process playing `role` (`dialer`, `listener`).
    static func make(role: String) -> String {
        let number = Self.sequence.withLockedValue { value -> Int in
            defer { value += 1 }
            return value
        }
        return Self.name(pid: getpid(), startTime: Self.startTime(of: getpid()) ?? 0, sequence: number, role: role)
    }

    /// The name for the given owner and sequence number.
    static func name(pid: pid_t, startTime: UInt64, sequence: Int, role: String) -> String {
        "\(Self.prefix)\(pid)-\(startTime)-\(sequence)-\(role)"
    }

    /// The owner (process ID, start time) encoded in a name, or `nil` when it is not one of ours.
    static func owner(of name: String) -> (pid: pid_t, startTime: UInt64)? {
        guard name.hasPrefix(Self.prefix) else { return nil }
        let fields = name.dropFirst(Self.prefix.count).split(separator: "-")
        guard fields.count == 4, let pid = pid_t(fields[0]), let startTime = UInt64(fields[1]), Int(fields[2]) != nil
        else { return nil }
        return (pid, startTime)
    }

    /// A process's start time in clock ticks since boot, or `nil` when it does not exist.
    static func startTime(of pid: pid_t) -> UInt64? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let text = String(decoding: bytes[0..<count], as: UTF8.self)
        // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether the process that published `name` is still running.
    static func ownerIsAlive(_ name: String) -> Bool {
        guard let owner = Self.owner(of: name) else { return true }
        return Self.startTime(of: owner.pid) == owner.startTime
    }

    /// The published names that carry this module's prefix.
    static func published() -> [String] {
        guard let directory = opendir(Self.directory) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(Self.prefix) {
                names.append(name)
            }
        }
        return names.sorted()
    }

    /// Deletes the names whose owner is gone (killed, or exited without stopping its paths), as
    /// `ip netns delete` would; the namespaces, and devices in them, go with their last reference.
    ///
    /// - Returns: the names removed.
    @discardableResult
    static func removeStale() -> [String] {
        var removed: [String] = []
        for name in Self.published() where !Self.ownerIsAlive(name) {
            // Without root this fails and the name stays for a privileged run to remove.
            if Self.unpublish(name) {
                removed.append(name)
            }
        }
        return removed
    }

    /// Unmounts and deletes /run/netns/`name`; false when the name is still there.
    @discardableResult
    static func unpublish(_ name: String) -> Bool {
        let path = Self.directory + "/" + name
        _ = umount2(path, CInt(MNT_DETACH))
        return unlink(path) == 0 || errno == ENOENT
    }
}
