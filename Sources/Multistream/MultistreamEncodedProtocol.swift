import NIOCore
import P2PCore

/// A protocol ID together with its multistream-select message, encoded once.
///
/// Proposing, echoing and recognising a protocol are then byte copies and byte comparisons:
/// no `String` is built or bridged per negotiation, which is what lets steady-state encoding and
/// decoding run without allocating.
public struct MultistreamEncodedProtocol: Hashable, Sendable, CustomStringConvertible {
    /// The protocol ID.
    public let id: ProtocolID
    /// The whole message: `uvarint(len(id)+1) || id || '\n'` (docs/wire.md §2.1).
    public let frame: ByteBuffer
    /// The ID's UTF-8 bytes: the body a received message must have to name this protocol.
    public let body: ByteBuffer

    /// Encodes `id`.
    ///
    /// - Precondition: ``isValid(_:)``: the program's own protocol IDs must be well formed.
    public init(_ id: ProtocolID) {
        precondition(Self.isValid(id), "invalid protocol ID \(id): it must start with '/', hold no newline and be at most \(ProtocolID.maximumLength) bytes")
        self.id = id
        var frame = ByteBuffer()
        frame.writeMultistreamLine(id)
        self.frame = frame
        let prefix = UVarint.encodedLength(of: UInt64(id.rawValue.utf8.count + 1))
        // The slice lies inside `frame`, which was just written.
        self.body = frame.getSlice(at: frame.readerIndex + prefix, length: id.rawValue.utf8.count) ?? ByteBuffer()
    }

    /// Whether `id` can be sent: it starts with `/` (rust-libp2p requires it), holds no newline
    /// (a message is one line), and its message fits in
    /// ``MultistreamFrameDecoder/maximumMessageLength`` (go and js refuse longer ones).
    public static func isValid(_ id: ProtocolID) -> Bool {
        ProtocolID(validating: id.rawValue) != nil
    }

    /// Whether a received message body names this protocol; compares bytes only.
    @inlinable
    public func matches(body: ByteBuffer) -> Bool { self.body == body }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.id) }

    public var description: String { self.id.rawValue }
}
