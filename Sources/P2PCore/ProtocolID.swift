/// A libp2p protocol identifier as multistream-select and the muxer lists carry it, such as
/// `/noise` or `/yamux/1.0.0`.
///
/// The connections spec asks for a leading `/`; rust-libp2p refuses anything else, so
/// ``init(validating:)`` does too.
public struct ProtocolID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The identifier's text, without the trailing newline multistream-select adds on the wire.
    public let rawValue: String

    /// Wraps `rawValue` as it is. Use for identifiers the program itself defines.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Wraps a string literal; the project's own identifiers are literals.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// Accepts `text` only when it is a well-formed protocol ID: starting with `/`, one line, and at
    /// most ``maximumLength`` UTF-8 bytes.
    public init?(validating text: String) {
        guard text.utf8.first == UInt8(ascii: "/"), text.utf8.count <= Self.maximumLength,
            !text.utf8.contains(UInt8(ascii: "\n"))
        else { return nil }
        self.rawValue = text
    }

    /// The longest protocol ID accepted: go-multistream and js refuse multistream messages over 1024
    /// bytes (docs/wire.md §2.4) and the message length counts the trailing newline.
    public static let maximumLength = 1023

    public var description: String { self.rawValue }

    /// `/multistream/1.0.0`, the multistream-select header.
    public static let multistream: ProtocolID = "/multistream/1.0.0"
    /// `/noise`, libp2p Noise (noise spec).
    public static let noise: ProtocolID = "/noise"
    /// `/tls/1.0.0`, libp2p TLS (tls spec).
    public static let tls: ProtocolID = "/tls/1.0.0"
    /// `/yamux/1.0.0` (yamux spec).
    public static let yamux: ProtocolID = "/yamux/1.0.0"
    /// `/mplex/6.7.0`: deprecated and never run here, but still seen in muxer lists.
    public static let mplex: ProtocolID = "/mplex/6.7.0"
    /// `/ipfs/ping/1.0.0`: 32-byte echo (ping spec).
    public static let ping: ProtocolID = "/ipfs/ping/1.0.0"
    /// `/echo/1.0.0`: echoes everything back; times the first stream.
    public static let echo: ProtocolID = "/echo/1.0.0"
}

/// Which side of a connection this endpoint is. The dialer is the initiator of every step of the
/// upgrade (multistream-select, Noise initiator / TLS client, yamux client with odd stream IDs).
public enum ConnectionRole: String, Hashable, Sendable {
    case initiator
    case responder
}
