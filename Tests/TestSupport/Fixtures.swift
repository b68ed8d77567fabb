import Foundation
import NIOCore

/// Test fixtures: the JSON vectors in `Tests/Fixtures/`, found next to this source file so that a
/// fresh clone needs no resource bundle.
public enum Fixtures {
    /// The `Tests/Fixtures` folder.
    public static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TestSupport
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures", isDirectory: true)

    /// The raw bytes of `name` in the fixtures folder.
    public static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// `name` decoded as JSON into `type`.
    public static func decode<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        try JSONDecoder().decode(T.self, from: data(name))
    }

    /// `name` parsed as untyped JSON (for vector files whose entries differ in schema).
    public static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(name))
    }
}

/// One entry of `libp2p_peer_id_keys.json` (the peer-ids spec vectors), as the file spells it.
public struct PeerIDKeyVector: Decodable, Sendable {
    public let key_type: String
    public let kind: String
    public let protobuf_hex: String
    public let derived_peer_id_base58: String?

    /// Every key in the file, public and private, in file order.
    public static func all() throws -> [PeerIDKeyVector] {
        struct File: Decodable { let keys: [PeerIDKeyVector] }
        return try Fixtures.decode(File.self, from: "libp2p_peer_id_keys.json").keys
    }
}

/// Errors raised by test helpers themselves.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Array where Element == UInt8 {
    /// Bytes from a hex string; spaces are ignored so vectors can be written in groups.
    public init(hex: String) throws {
        let digits = hex.filter { !$0.isWhitespace }
        guard digits.count % 2 == 0 else { throw TestSupportError("odd-length hex: \(hex)") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else {
                throw TestSupportError("bad hex: \(hex)")
            }
            bytes.append(byte)
            index = next
        }
        self = bytes
    }

    /// Lower-case hex.
    public var hexString: String {
        var text = ""
        text.reserveCapacity(self.count * 2)
        for byte in self {
            text += String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
        }
        return text
    }
}

extension ByteBuffer {
    /// A buffer holding the bytes of a hex string.
    public init(hex: String) throws {
        self.init(bytes: try [UInt8](hex: hex))
    }

    /// The readable bytes as lower-case hex.
    public var hexString: String { (self.getBytes(at: self.readerIndex, length: self.readableBytes) ?? []).hexString }
}
