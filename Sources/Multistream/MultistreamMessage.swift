import NIOCore
import P2PCore

/// One multistream-select 1.0 message (libp2p connections spec, multistream-select README;
/// docs/wire.md §2).
///
/// On the wire every message is `uvarint(N) || text || '\n'`, where N counts the text and the
/// newline; ``NIOCore/ByteBuffer/writeMultistreamMessage(_:)`` and
/// ``NIOCore/ByteBuffer/readMultistreamMessage()`` do the framing.
///
/// This enum is the readable form, for tests, tools and the occasional `ls`. The state machines do
/// not build it on their hot path: they compare message bodies with the pre-encoded bytes of
/// ``MultistreamEncodedProtocol`` and only create `String`s for protocol IDs they must report.
public enum MultistreamMessage: Hashable, Sendable {
    /// `/multistream/1.0.0`, which both sides send first.
    case header
    /// A proposal (dialer) or its echo, meaning "accepted" (listener).
    case `protocol`(ProtocolID)
    /// `na`: the listener does not support the proposed protocol.
    case na
    /// `ls`: the dialer asks for the listener's protocols (optional; go answers `na`).
    case ls
    /// The listener's answer to `ls` (docs/wire.md §2.3).
    case lsResponse([ProtocolID])

    /// The header's text: `/multistream/1.0.0`.
    public static let headerText: StaticString = "/multistream/1.0.0"
    /// The text of ``na``.
    public static let naText: StaticString = "na"
    /// The text of ``ls``.
    public static let lsText: StaticString = "ls"

    /// The whole encoded header message, `13 "/multistream/1.0.0" 0a` (0x13 = 18 + 1), built once.
    public static let headerFrame: ByteBuffer = ByteBuffer.multistreamFrame(staticText: headerText)
    /// The whole encoded `na` message, `03 6e 61 0a`.
    public static let naFrame: ByteBuffer = ByteBuffer.multistreamFrame(staticText: naText)
    /// The whole encoded `ls` message, `03 6c 73 0a`.
    public static let lsFrame: ByteBuffer = ByteBuffer.multistreamFrame(staticText: lsText)

    // Bodies (text without the newline) to compare received messages with, without Strings.
    @usableFromInline static let headerBody: ByteBuffer = ByteBuffer(staticString: headerText)
    @usableFromInline static let naBody: ByteBuffer = ByteBuffer(staticString: naText)
    @usableFromInline static let lsBody: ByteBuffer = ByteBuffer(staticString: lsText)
}

// MARK: - Decoding a body

extension MultistreamMessage {
    /// Decodes a message from its body: the text between the length prefix and the trailing
    /// newline, as ``NIOCore/ByteBuffer/readMultistreamMessageBody()`` returns it.
    ///
    /// The rules follow rust-libp2p's `Message::decode` (docs/wire.md §2.4): the header, `na` and
    /// `ls` by exact text; a body that starts with `/` and holds no newline is a protocol ID; any
    /// other body must parse as an `ls` response.
    ///
    /// - Throws: ``MultistreamError`` with code `invalidProtocolID` for a body that is none of
    ///   these or is not UTF-8.
    public init(decodingBody body: ByteBuffer) throws(MultistreamError) {
        switch MultistreamBodyKind(body) {
        case .header:
            self = .header
        case .na:
            self = .na
        case .ls:
            self = .ls
        case .protocolID:
            self = .protocol(try ProtocolID(multistreamBody: body))
        case .other:
            do {
                self = .lsResponse(try MultistreamMessage.parseListResponse(body))
            } catch {
                throw MultistreamError.invalidProtocolID(
                    body,
                    "neither the header, na, ls, a protocol ID starting with '/', nor an ls response"
                )
            }
        }
    }

    /// Parses the body of an `ls` response: `uvarint(len(p)+1) || p || '\n'` per protocol
    /// (docs/wire.md §2.3). The outer frame's newline is the list's closing `\n`, so the body is
    /// just the inner lines, and an empty body is an empty list.
    ///
    /// The number of entries is bounded by the outer message limit: each takes at least 3 bytes,
    /// so at most 341 fit in 1024 bytes (rust-libp2p caps the list at 1000).
    @usableFromInline
    static func parseListResponse(_ body: ByteBuffer) throws(MultistreamError) -> [ProtocolID] {
        var body = body
        var protocols: [ProtocolID] = []
        while body.readableBytes > 0 {
            let decoded: UVarint.DecodeResult
            do {
                decoded = try body.getUVarint(at: body.readerIndex, limit: UInt64(body.readableBytes))
            } catch {
                throw MultistreamError.malformedListResponse(
                    "entry \(protocols.count + 1): bad or overlong length prefix (\(error))"
                )
            }
            guard case .value(let value, let varintLength) = decoded else {
                throw MultistreamError.malformedListResponse("entry \(protocols.count + 1): truncated length prefix")
            }
            body.moveReaderIndex(forwardBy: varintLength)
            let length = Int(value)
            guard length > 0, var line = body.readSlice(length: length), line.readableBytes > 0,
                line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\n")
            else {
                throw MultistreamError.malformedListResponse("entry \(protocols.count + 1) does not end in \\n")
            }
            line.moveWriterIndex(to: line.writerIndex - 1)
            guard MultistreamBodyKind(line) == .protocolID else {
                throw MultistreamError.malformedListResponse(
                    "entry \(protocols.count + 1) is not a protocol ID: \(line.multistreamDebugText)"
                )
            }
            do throws(MultistreamError) {
                protocols.append(try ProtocolID(multistreamBody: line))
            } catch {
                throw MultistreamError.malformedListResponse("entry \(protocols.count + 1): \(error.diagnostics)")
            }
        }
        return protocols
    }
}

extension ProtocolID {
    /// Creates the protocol ID a message body names, refusing bodies that are not UTF-8.
    ///
    /// Only called where a protocol must be reported: it is the one place that builds a `String`.
    @usableFromInline
    init(multistreamBody body: ByteBuffer) throws(MultistreamError) {
        let text = body.withUnsafeReadableBytes { String(decoding: $0, as: UTF8.self) }
        // `String(decoding:)` repairs bad UTF-8 with U+FFFD; any repair changes the bytes.
        guard text.utf8.elementsEqual(body.readableBytesView) else {
            throw MultistreamError.invalidProtocolID(body, "protocol ID is not valid UTF-8")
        }
        self.init(text)
    }
}

/// What a message body is, found by comparing bytes only (no `String`, no allocation).
@usableFromInline
enum MultistreamBodyKind: Hashable {
    case header
    case na
    case ls
    /// Starts with `/` and holds no newline.
    case protocolID
    /// Anything else: an `ls` response, or garbage.
    case other

    @inlinable
    init(_ body: ByteBuffer) {
        if body == MultistreamMessage.headerBody {
            self = .header
        } else if body == MultistreamMessage.naBody {
            self = .na
        } else if body == MultistreamMessage.lsBody {
            self = .ls
        } else if body.getInteger(at: body.readerIndex, as: UInt8.self) == UInt8(ascii: "/"),
            !body.readableBytesView.contains(UInt8(ascii: "\n"))
        {
            self = .protocolID
        } else {
            self = .other
        }
    }
}
