import Foundation

/// What this process holds open, read from `/proc`, for leak checks.
///
/// Two views: the process-wide descriptor count (coarse: other suites run in parallel and NIO
/// keeps a few descriptors of its own, so it is compared with slack), and the TCP sockets this
/// process owns whose local or remote port is a given one (precise: each test listens on a port
/// of its own, so any socket left on it was leaked by that test).
enum DescriptorInventory {
    /// One TCP socket of `/proc/thread-self/net/tcp{,6}`.
    struct TCPSocket: Hashable, CustomStringConvertible {
        var localPort: Int
        var remotePort: Int
        /// The kernel's state number (`01` ESTABLISHED, `08` CLOSE_WAIT, `0A` LISTEN, …).
        var state: Int
        var inode: UInt64

        var isListening: Bool { self.state == 0x0A }

        var description: String {
            "\(self.localPort)→\(self.remotePort) state 0x\(String(self.state, radix: 16)) inode \(self.inode)"
        }
    }

    /// Open descriptors of the process, not counting the one used to list them.
    static func openCount() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return max(entries.count - 1, 0)
    }

    /// Inodes of the sockets the process holds a descriptor for.
    static func socketInodes() -> Set<UInt64> {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        var inodes = Set<UInt64>()
        for entry in entries {
            // "socket:[12345]"; descriptors closed meanwhile simply fail to resolve.
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)"),
                target.hasPrefix("socket:["), target.hasSuffix("]"),
                let inode = UInt64(target.dropFirst("socket:[".count).dropLast())
            else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    /// The TCP sockets of the calling thread's network namespace.
    static func tcpSockets() -> [TCPSocket] {
        ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"].flatMap { path -> [TCPSocket] in
            // Read to the end: /proc files report size 0, and a single read may stop at a page.
            guard let handle = FileHandle(forReadingAtPath: path),
                let data = try? handle.readToEnd(),
                let text = String(data: data, encoding: .utf8)
            else { return [] }
            try? handle.close()
            return text.split(separator: "\n").dropFirst().compactMap { line in
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 9,
                    let localPort = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                    let remotePort = fields[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                    let state = Int(fields[3], radix: 16),
                    let inode = UInt64(fields[9])
                else { return nil }
                return TCPSocket(localPort: localPort, remotePort: remotePort, state: state, inode: inode)
            }
        }
    }

    /// Sockets this process holds whose local or remote port is `port`; the listening socket too,
    /// unless `includingListener` is false.
    static func ownedSockets(port: Int, includingListener: Bool = false) -> [TCPSocket] {
        let owned = Self.socketInodes()
        return Self.tcpSockets().filter { socket in
            socket.inode != 0 && owned.contains(socket.inode)
                && (socket.localPort == port || socket.remotePort == port)
                && (includingListener || !socket.isListening)
        }
    }

    /// Polls until the process holds no connection on `port` (closes finish on the event loops a
    /// little after the futures that asked for them), for at most `patience`; returns what is left.
    static func connectionsLeft(port: Int, patience: Duration = .seconds(3)) async -> [TCPSocket] {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            let left = Self.ownedSockets(port: port)
            if left.isEmpty || clock.now >= deadline { return left }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Polls until the descriptor count is at most `baseline + slack`, for at most `patience`;
    /// returns the lowest count seen.
    static func settledCount(baseline: Int, slack: Int, patience: Duration = .seconds(3)) async -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        var lowest = Int.max
        while true {
            lowest = min(lowest, Self.openCount())
            if lowest <= baseline + slack || clock.now >= deadline { return lowest }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
