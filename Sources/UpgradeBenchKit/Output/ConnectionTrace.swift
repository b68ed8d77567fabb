import Foundation
import NIOConcurrencyHelpers

/// One end's record of one connection, on the machine's monotonic clock: what
/// `bench listen --trace-file` writes, one JSON line per connection when it closes, and what
/// `bench dial --listener-trace` reads to split its own stages into network and computation
/// (``CriticalPath``) when the two ends run as separate processes on one machine.
///
/// ```json
/// {"accepted_ns": 81234567890, "remote_port": 40522, "wire": [["read", 81234600000], ["write", 81234650000], ...]}
/// ```
public struct ConnectionTrace: Hashable, Sendable, Codable {
    /// When the connection was accepted, `CLOCK_MONOTONIC` nanoseconds.
    public var acceptedNanoseconds: UInt64
    /// The remote TCP port, when known.
    public var remotePort: Int?
    /// The socket activity (``WireActivity``), in order.
    public var wire: [CriticalPath.Event]

    /// Creates a trace.
    public init(acceptedNanoseconds: UInt64, remotePort: Int?, wire: [CriticalPath.Event]) {
        self.acceptedNanoseconds = acceptedNanoseconds
        self.remotePort = remotePort
        self.wire = wire
    }

    private enum CodingKeys: String, CodingKey {
        case acceptedNanoseconds = "accepted_ns"
        case remotePort = "remote_port"
        case wire
    }

    /// Reads every complete line of `text` that parses; a line still being written is skipped.
    public static func parseLines(_ text: String) -> [ConnectionTrace] {
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { line in
            try? decoder.decode(ConnectionTrace.self, from: Data(line.utf8))
        }
    }
}

extension CriticalPath.Event: Codable {
    /// `["read", nanoseconds]`.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let kind = try container.decode(Kind.self)
        let nanoseconds = try container.decode(UInt64.self)
        self.init(kind: kind, nanoseconds: nanoseconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(self.kind)
        try container.encode(self.nanoseconds)
    }
}

/// Appends ``ConnectionTrace`` lines to a file, one whole line per write, from any thread.
public final class ConnectionTraceWriter: Sendable {
    private let handle: NIOLockedValueBox<FileHandle>

    /// Creates (or truncates) the file at `path`.
    ///
    /// - Throws: When the file cannot be created.
    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw UpgradeBenchError.fileSystem("cannot create the trace file \(path)")
        }
        self.handle = NIOLockedValueBox(try FileHandle(forWritingTo: URL(fileURLWithPath: path)))
    }

    /// Appends `trace` as one line.
    public func write(_ trace: ConnectionTrace) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard var line = try? encoder.encode(trace) else { return }
        line.append(UInt8(ascii: "\n"))
        self.handle.withLockedValue { $0.write(line) }
    }
}
