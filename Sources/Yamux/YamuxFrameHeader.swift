/// The 12-byte header that starts every yamux frame (spec "Framing"; docs/wire.md §7.1).
///
/// ```
/// | version u8 = 0 | type u8 | flags u16 | stream ID u32 | length u32 |   all big endian
/// ```
///
/// `length` means something different for each ``FrameType``: the body length of a Data frame, the credit
/// delta of a Window Update, the opaque value of a Ping and the error code of a Go Away. Only Data frames have
/// a body.
public struct YamuxFrameHeader: Hashable, Sendable, CustomStringConvertible {
    /// What the frame is (spec "Message Type").
    public var type: FrameType
    /// SYN / ACK / FIN / RST (spec "Flags").
    public var flags: Flags
    /// The stream the frame is about; 0 is the session itself (Ping and Go Away).
    public var streamID: UInt32
    /// Data: body length. Window Update: credit delta. Ping: opaque value. Go Away: error code.
    public var length: UInt32

    /// A header with every field given. The version is always ``YamuxConstants/protocolVersion``.
    @inlinable
    public init(type: FrameType, flags: Flags, streamID: UInt32, length: UInt32) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.length = length
    }

    /// The frame types (spec "Message Type"). Any other value is a protocol error.
    public enum FrameType: UInt8, Hashable, Sendable {
        /// Stream data; `length` body bytes follow the header.
        case data = 0
        /// Grants the peer `length` more bytes of send window; may open, accept, close or reset a stream.
        case windowUpdate = 1
        /// A ping request (SYN) or response (ACK) on stream 0, echoing the opaque `length`.
        case ping = 2
        /// Ends the session; `length` is a ``YamuxGoAwayCode``.
        case goAway = 3
    }

    /// The flag bits (spec "Flags").
    public struct Flags: OptionSet, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: UInt16
        @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// Opens a stream, or marks a ping request.
        public static let syn = Flags(rawValue: 0x1)
        /// Accepts a stream, or marks a ping response.
        public static let ack = Flags(rawValue: 0x2)
        /// Half-closes the sender's direction of a stream.
        public static let fin = Flags(rawValue: 0x4)
        /// Resets a stream at once, in both directions.
        public static let rst = Flags(rawValue: 0x8)

        /// Every bit the spec defines; others are refused as invalid.
        public static let defined: Flags = [.syn, .ack, .fin, .rst]

        public var description: String {
            var names: [String] = []
            if self.contains(.syn) { names.append("SYN") }
            if self.contains(.ack) { names.append("ACK") }
            if self.contains(.fin) { names.append("FIN") }
            if self.contains(.rst) { names.append("RST") }
            let undefined = self.rawValue & ~Flags.defined.rawValue
            if undefined != 0 { names.append("0x" + String(undefined, radix: 16)) }
            return names.isEmpty ? "[]" : names.joined(separator: "|")
        }
    }

    public var description: String {
        "\(self.type)[\(self.flags)] stream \(self.streamID) length \(self.length)"
    }
}

extension YamuxFrameHeader {
    /// A Data frame header for a body of `length` bytes.
    @inlinable
    public static func data(streamID: UInt32, flags: Flags = [], length: UInt32) -> YamuxFrameHeader {
        YamuxFrameHeader(type: .data, flags: flags, streamID: streamID, length: length)
    }

    /// A Window Update granting `delta` more bytes (0 when only the flags matter).
    @inlinable
    public static func windowUpdate(streamID: UInt32, flags: Flags = [], delta: UInt32) -> YamuxFrameHeader {
        YamuxFrameHeader(type: .windowUpdate, flags: flags, streamID: streamID, length: delta)
    }

    /// A ping request (`ack == false`) or the response echoing `opaque`.
    @inlinable
    public static func ping(opaque: UInt32, ack: Bool) -> YamuxFrameHeader {
        YamuxFrameHeader(type: .ping, flags: ack ? .ack : .syn, streamID: 0, length: opaque)
    }

    /// A Go Away with `code`.
    @inlinable
    public static func goAway(_ code: YamuxGoAwayCode) -> YamuxFrameHeader {
        YamuxFrameHeader(type: .goAway, flags: [], streamID: 0, length: code.rawValue)
    }
}

/// The error code a Go Away carries (spec "Go Away": 0 normal termination, 1 protocol error, 2 internal error).
///
/// Peers may send other values; they are kept as they are.
public struct YamuxGoAwayCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// 0: the session ends normally.
    public static let normal = YamuxGoAwayCode(rawValue: 0)
    /// 1: the peer broke the protocol.
    public static let protocolError = YamuxGoAwayCode(rawValue: 1)
    /// 2: the sender failed internally.
    public static let internalError = YamuxGoAwayCode(rawValue: 2)

    public var description: String {
        switch self.rawValue {
        case 0: return "normal"
        case 1: return "protocolError"
        case 2: return "internalError"
        default: return "code \(self.rawValue)"
        }
    }
}
