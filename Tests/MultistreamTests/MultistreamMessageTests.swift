import Multistream
import NIOCore
import NIOTestUtils
import P2PCore
import TestSupport
import Testing

/// The message codec: every multistream example of `wire_examples.json`, `ls` responses, the
/// frame decoder, and each malformed input with its typed error.
@Suite struct MultistreamMessageTests {
    struct Examples: Decodable {
        struct Example: Decodable {
            let description: String
            let hex: String
        }
        let multistream_select: [Example]
    }

    static func examples() throws -> [Examples.Example] {
        try Fixtures.decode(Examples.self, from: "wire_examples.json").multistream_select
    }

    // MARK: - Vectors

    /// Every example decodes into whole messages with nothing left over, and re-encodes to the same bytes.
    @Test func everyFixtureExampleDecodesAndReencodes() throws {
        let examples = try Self.examples()
        #expect(examples.count == 13)
        for example in examples {
            var buffer = try ByteBuffer(hex: example.hex)
            var messages: [MultistreamMessage] = []
            while buffer.readableBytes > 0 {
                let message = try #require(try buffer.readMultistreamMessage(), "\(example.description)")
                messages.append(message)
            }
            #expect(!messages.isEmpty, "\(example.description)")
            var encoded = ByteBuffer()
            for message in messages { encoded.writeMultistreamMessage(message) }
            #expect(encoded.hexString == example.hex, "\(example.description)")
        }
    }

    /// The examples decode to the messages their descriptions name.
    @Test func fixtureExamplesDecodeToTheNamedMessages() throws {
        let byDescription = Dictionary(uniqueKeysWithValues: try Self.examples().map { ($0.description, $0.hex) })
        func decodeAll(_ description: String) throws -> [MultistreamMessage] {
            var buffer = try ByteBuffer(hex: try #require(byDescription[description], "missing \(description)"))
            var messages: [MultistreamMessage] = []
            while let message = try buffer.readMultistreamMessage() { messages.append(message) }
            #expect(buffer.readableBytes == 0)
            return messages
        }
        #expect(try decodeAll("\"na\" message") == [.na])
        #expect(try decodeAll("\"ls\" message") == [.ls])
        #expect(try decodeAll("message \"/multistream/1.0.0\\n\"") == [.header])
        #expect(try decodeAll("message \"/noise\\n\"") == [.protocol(.noise)])
        #expect(try decodeAll("message \"/tls/1.0.0\\n\"") == [.protocol(.tls)])
        #expect(try decodeAll("message \"/yamux/1.0.0\\n\"") == [.protocol(.yamux)])
        #expect(try decodeAll("message \"/mplex/6.7.0\\n\"") == [.protocol(.mplex)])
        #expect(try decodeAll("message \"/libp2p/simultaneous-connect\\n\"") == [.protocol("/libp2p/simultaneous-connect")])
        #expect(
            try decodeAll("dialer first flight proposing Noise (header + proposal pipelined in one write)")
                == [.header, .protocol(.noise)]
        )
        #expect(try decodeAll("listener reply accepting Noise") == [.header, .protocol(.noise)])
        #expect(try decodeAll("listener reply rejecting the proposal") == [.header, .na])
        #expect(
            try decodeAll(
                "muxer negotiation inside the secure channel (plaintext before encryption), dialer proposes yamux"
            ) == [.header, .protocol(.yamux)]
        )
        let lsKey = try #require(byDescription.keys.first { $0.hasPrefix("\"ls\" response") })
        #expect(try decodeAll(lsKey) == [.lsResponse([.noise, .yamux])])
    }

    /// Pre-encoded protocols hold exactly the bytes of the general encoder, and match their own body.
    @Test(arguments: [ProtocolID.noise, .tls, .yamux, .mplex, .echo, .ping, .multistream])
    func encodedProtocolMatchesGeneralEncoding(id: ProtocolID) throws {
        let encoded = MultistreamEncodedProtocol(id)
        var general = ByteBuffer()
        general.writeMultistreamMessage(.protocol(id))
        #expect(encoded.frame == general)
        var buffer = ByteBuffer()
        buffer.writeMultistreamProtocol(encoded)
        let body = try #require(try buffer.readMultistreamMessageBody())
        #expect(encoded.matches(body: body))
        #expect(!MultistreamEncodedProtocol("/other").matches(body: body))
    }

    @Test func emptyListResponseRoundTrips() throws {
        var buffer = ByteBuffer()
        buffer.writeMultistreamMessage(.lsResponse([]))
        #expect(buffer.hexString == "010a")
        #expect(try buffer.readMultistreamMessage() == .lsResponse([]))
    }

    /// A 1023-byte ID makes a 1024-byte message: the largest accepted, with a two-byte length prefix.
    @Test func largestMessageIsAccepted() throws {
        let id = ProtocolID("/" + String(repeating: "a", count: 1022))
        var buffer = ByteBuffer()
        let written = buffer.writeMultistreamMessage(.protocol(id))
        #expect(written == 2 + 1024)
        #expect(try buffer.readMultistreamMessage() == .protocol(id))
    }

    /// Bytes after a message are never read: they belong to the next protocol.
    @Test func bytesBehindAMessageStayUnread() throws {
        var buffer = try ByteBuffer(hex: "072f6e6f6973650a" + "0011223344")
        #expect(try buffer.readMultistreamMessage() == .protocol(.noise))
        #expect(buffer.hexString == "0011223344")
    }

    // MARK: - Frame decoder

    @Test func frameDecoderPassesNIOVerifier() throws {
        func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (try ByteBuffer(hex: "132f6d756c746973747265616d2f312e302e300a072f6e6f6973650a"),
                 [body("/multistream/1.0.0"), body("/noise")]),
                (try ByteBuffer(hex: "036e610a"), [body("na")]),
                (try ByteBuffer(hex: "17072f6e6f6973650a0d2f79616d75782f312e302e300a0a"),
                 [try ByteBuffer(hex: "072f6e6f6973650a0d2f79616d75782f312e302e300a")]),
            ],
            decoderFactory: { MultistreamFrameDecoder() }
        )
    }

    @Test func frameDecoderYieldsNothingUntilWhole() throws {
        var decoder = MultistreamFrameDecoder()
        let whole = try ByteBuffer(hex: "0d2f79616d75782f312e302e300a")
        var buffer = ByteBuffer()
        for index in 0..<whole.readableBytes {
            buffer.writeInteger(whole.getInteger(at: index, as: UInt8.self)!)
            let body = try decoder.decode(buffer: &buffer)
            if index < whole.readableBytes - 1 {
                #expect(body == nil)
            } else {
                #expect(body == ByteBuffer(string: "/yamux/1.0.0"))
            }
        }
    }

    // MARK: - Malformed input, one test per case

    @Test func truncatedMessageNeedsMoreBytes() throws {
        var buffer = try ByteBuffer(hex: "072f6e6f6973")
        #expect(try buffer.readMultistreamMessage() == nil)
        #expect(buffer.readableBytes == 6)
    }

    @Test func truncatedMessageAtEndOfInputIsRefused() throws {
        var decoder = MultistreamFrameDecoder()
        var buffer = try ByteBuffer(hex: "072f6e6f6973")
        let error = #expect(throws: MultistreamError.self) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
        #expect(error?.code == .truncatedMessage)
    }

    @Test func truncatedLengthPrefixAtEndOfInputIsRefused() throws {
        var decoder = MultistreamFrameDecoder()
        var buffer = try ByteBuffer(hex: "81")
        let error = #expect(throws: MultistreamError.self) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
        #expect(error?.code == .truncatedMessage)
    }

    @Test func oversizeMessageIsRefused() throws {
        // 0x0401 = 1025 > 1024.
        var buffer = try ByteBuffer(hex: "8108" + String(repeating: "61", count: 1024) + "0a")
        try expectRefused(&buffer, .messageTooLong)
    }

    /// The length alone decides: no need to wait for (or buffer) the body of an oversize message.
    @Test func oversizeMessageIsRefusedBeforeItsBodyArrives() throws {
        var buffer = try ByteBuffer(hex: "ffff03")
        try expectRefused(&buffer, .messageTooLong)
        // One continuation byte (127 so far) cannot tell yet; the second (16383) can.
        var partial = try ByteBuffer(hex: "ff")
        #expect(try partial.readMultistreamMessage() == nil)
        partial.writeInteger(UInt8(0x7f))
        try expectRefused(&partial, .messageTooLong)
    }

    @Test func notMinimalVarintIsRefused() throws {
        var buffer = try ByteBuffer(hex: "8700" + "2f6e6f6973650a")
        try expectRefused(&buffer, .malformedVarint)
    }

    @Test func overlongVarintIsRefused() throws {
        var buffer = try ByteBuffer(hex: String(repeating: "80", count: 10) + "01")
        try expectRefused(&buffer, .malformedVarint)
    }

    @Test func zeroLengthMessageIsRefused() throws {
        var buffer = try ByteBuffer(hex: "00")
        try expectRefused(&buffer, .emptyMessage)
    }

    @Test func missingNewlineIsRefused() throws {
        var buffer = try ByteBuffer(hex: "072f6e6f697365" + "21")
        try expectRefused(&buffer, .missingNewline)
    }

    @Test func protocolIDWithoutLeadingSlashIsRefused() throws {
        var buffer = ByteBuffer()
        buffer.writeUVarint(6)
        buffer.writeString("noise\n")
        try expectRefused(&buffer, .invalidProtocolID)
    }

    @Test func protocolIDWithInvalidUTF8IsRefused() throws {
        var buffer = try ByteBuffer(hex: "05" + "2ff09f980a")  // "/" + a cut-off 4-byte sequence
        try expectRefused(&buffer, .invalidProtocolID)
    }

    /// A body holding newlines that is not a valid `ls` response is refused (context-free decoding).
    @Test func malformedListResponseIsRefused() throws {
        var buffer = try ByteBuffer(hex: "05" + "09616263" + "0a")  // inner length 9 runs past the message
        try expectRefused(&buffer, .invalidProtocolID)
    }

    /// Encoding refuses (as programmer error) what decoding refuses, so `isValid` is the gate.
    @Test func invalidLocalProtocolIDsAreDetected() {
        #expect(!MultistreamEncodedProtocol.isValid("noise"))
        #expect(!MultistreamEncodedProtocol.isValid("/a\nb"))
        #expect(!MultistreamEncodedProtocol.isValid(ProtocolID("/" + String(repeating: "a", count: 1023))))
        #expect(MultistreamEncodedProtocol.isValid(.noise))
    }

    /// Errors compare by code and name what was wrong.
    @Test func errorsCompareByCodeAndCarryDiagnostics() throws {
        var hello = try ByteBuffer(hex: "0568656c6c6f21")  // "hello!": its last byte is not \n
        var world = try ByteBuffer(hex: "05776f726c6421")
        let helloError = #expect(throws: MultistreamError.self) { try hello.readMultistreamMessage() }
        let worldError = #expect(throws: MultistreamError.self) { try world.readMultistreamMessage() }
        #expect(helloError?.code == .missingNewline)
        #expect(helloError?.diagnostics.contains("hello") == true)
        #expect(helloError == worldError)
        #expect(helloError?.diagnostics != worldError?.diagnostics)
    }

    private func expectRefused(
        _ buffer: inout ByteBuffer,
        _ code: MultistreamError.Code,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = buffer
        let error = #expect(throws: MultistreamError.self, sourceLocation: sourceLocation) {
            try buffer.readMultistreamMessage()
        }
        #expect(error?.code == code, sourceLocation: sourceLocation)
        // A refused message consumes nothing.
        #expect(buffer == before, sourceLocation: sourceLocation)
    }
}
