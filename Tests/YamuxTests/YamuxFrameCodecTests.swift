import NIOCore
import TestSupport
import Testing
import Yamux

/// The 12-byte header codec and the incremental frame decoder: every byte example of `wire_examples.json`, round
/// trips, slices, and malformed input.
@Suite struct YamuxFrameCodecTests {
    struct Examples: Decodable {
        struct Frame: Decodable {
            let description: String
            let hex: String
        }
        let yamux_frames: [Frame]
    }

    /// What each example in `wire_examples.json` must decode to, in file order.
    static let expected: [(YamuxFrameHeader, String)] = [
        (.windowUpdate(streamID: 1, flags: .syn, delta: 0), ""),
        (.windowUpdate(streamID: 1, flags: .ack, delta: 0), ""),
        (.data(streamID: 1, flags: .syn, length: 2), "hi"),
        (.data(streamID: 1, length: 5), "hello"),
        (.windowUpdate(streamID: 2, delta: 262_144), ""),
        (.windowUpdate(streamID: 1, flags: .fin, delta: 0), ""),
        (.data(streamID: 1, flags: .fin, length: 0), ""),
        (.windowUpdate(streamID: 3, flags: .rst, delta: 0), ""),
        (.ping(opaque: 1, ack: false), ""),
        (.ping(opaque: 1, ack: true), ""),
        (.goAway(.normal), ""),
        (.goAway(.protocolError), ""),
        (.goAway(.internalError), ""),
    ]

    @Test func examplesFromVectorsDecodeAndEncode() throws {
        let examples = try Fixtures.decode(Examples.self, from: "wire_examples.json").yamux_frames
        #expect(examples.count == Self.expected.count)
        for (example, (header, body)) in zip(examples, Self.expected) {
            var bytes = try ByteBuffer(hex: example.hex)
            let decoder = YamuxFrameDecoder()
            let frame = try decoder.decodeFrame(buffer: &bytes)
            #expect(frame?.header == header, "\(example.description)")
            #expect(frame?.payload == ByteBuffer(string: body), "\(example.description)")
            #expect(bytes.readableBytes == 0, "\(example.description)")

            var encoded = ByteBuffer()
            if header.type == .data {
                encoded.writeYamuxDataFrame(
                    streamID: header.streamID,
                    flags: header.flags,
                    payload: ByteBuffer(string: body)
                )
            } else {
                encoded.writeYamuxFrameHeader(header)
            }
            #expect(encoded.hexString == example.hex, "\(example.description)")
        }
    }

    @Test func headerQuartetRoundTripsEveryField() throws {
        let header = YamuxFrameHeader(
            type: .windowUpdate,
            flags: [.ack, .fin],
            streamID: 0xDEAD_BEEF,
            length: 0x0102_0304
        )
        var buffer = ByteBuffer()
        #expect(buffer.writeYamuxFrameHeader(header) == 12)
        #expect(buffer.hexString == "00010006deadbeef01020304")
        #expect(try buffer.getYamuxFrameHeader(at: 0) == header)
        buffer.setYamuxFrameHeader(.ping(opaque: 7, ack: true), at: 0)
        #expect(try buffer.readYamuxFrameHeader() == .ping(opaque: 7, ack: true))
        #expect(buffer.readableBytes == 0)
    }

    @Test func truncatedHeaderNeedsMoreBytesAndConsumesNothing() throws {
        var buffer = try ByteBuffer(hex: "0001000100000001000000")
        #expect(try buffer.readYamuxFrameHeader() == nil)
        #expect(buffer.readableBytes == 11)
        let decoder = YamuxFrameDecoder()
        #expect(try decoder.decodeFrame(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 11)
    }

    @Test func wrongVersionIsRefused() throws {
        var buffer = try ByteBuffer(hex: "010100010000000100000000")
        let error = #expect(throws: YamuxError.self) { try buffer.readYamuxFrameHeader() }
        #expect(error?.code == .invalidVersion)
        #expect(buffer.readableBytes == 12)
    }

    @Test func unknownTypeIsRefused() throws {
        var buffer = try ByteBuffer(hex: "000400000000000000000000")
        let decoder = YamuxFrameDecoder()
        let error = #expect(throws: YamuxError.self) { try decoder.decodeFrame(buffer: &buffer) }
        #expect(error?.code == .unknownFrameType)
    }

    @Test func dataBodyAboveTheLimitIsRefusedBeforeItArrives() throws {
        // Only the header is present: the decoder must not wait for 1 MiB it will refuse anyway.
        var buffer = try ByteBuffer(hex: "000000000000000100100001")
        let decoder = YamuxFrameDecoder(maximumBodyLength: 1 << 20)
        let error = #expect(throws: YamuxError.self) { try decoder.decodeFrame(buffer: &buffer) }
        #expect(error?.code == .frameTooLarge)
    }

    @Test func dataBodyIsASliceOfTheInputNotACopy() throws {
        var input = ByteBuffer()
        input.writeYamuxDataFrame(streamID: 5, payload: .pattern(1000))
        input.writeYamuxFrameHeader(.windowUpdate(streamID: 5, delta: 9))
        let decoder = YamuxFrameDecoder()
        let frame = try #require(try decoder.decodeFrame(buffer: &input))
        #expect(frame.payload == .pattern(1000))
        // Same storage: the payload's bytes sit at the input's address plus the header length.
        let inputBase = input.withUnsafeReadableBytes { $0.baseAddress! } - 1012
        let payloadBase = frame.payload.withUnsafeReadableBytes { $0.baseAddress! }
        #expect(payloadBase == inputBase + 12)
        #expect(try decoder.decodeFrame(buffer: &input)?.header == .windowUpdate(streamID: 5, delta: 9))
    }

    @Test func decoderIsIncrementalOneByteAtATime() throws {
        var stream = ByteBuffer()
        stream.writeYamuxFrameHeader(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        stream.writeYamuxDataFrame(streamID: 1, payload: .pattern(300))
        stream.writeYamuxDataFrame(streamID: 1, flags: .fin, payload: ByteBuffer())
        stream.writeYamuxFrameHeader(.ping(opaque: 42, ack: false))

        let decoder = YamuxFrameDecoder()
        var cumulation = ByteBuffer()
        var frames: [YamuxFrame] = []
        while var byte = stream.readSlice(length: 1) {
            cumulation.writeBuffer(&byte)
            while let frame = try decoder.decodeFrame(buffer: &cumulation) { frames.append(frame) }
        }
        #expect(
            frames.map(\.header) == [
                .windowUpdate(streamID: 1, flags: .syn, delta: 0),
                .data(streamID: 1, length: 300),
                .data(streamID: 1, flags: .fin, length: 0),
                .ping(opaque: 42, ack: false),
            ]
        )
        #expect(frames[1].payload == .pattern(300))
        #expect(cumulation.readableBytes == 0)
    }

    @Test func decoderWorksInNIOSingleStepProcessor() throws {
        let processor = NIOSingleStepByteToMessageProcessor(YamuxFrameDecoder())
        var input = ByteBuffer()
        input.writeYamuxDataFrame(streamID: 3, payload: ByteBuffer(string: "abc"))
        input.writeYamuxFrameHeader(.goAway(.normal))
        var headers: [YamuxFrameHeader] = []
        try processor.process(buffer: input.getSlice(at: 0, length: 7)!) { headers.append($0.header) }
        #expect(headers.isEmpty)
        try processor.process(buffer: input.getSlice(at: 7, length: input.readableBytes - 7)!) {
            headers.append($0.header)
        }
        #expect(headers == [.data(streamID: 3, length: 3), .goAway(.normal)])
    }

    @Test func flagsDescriptionNamesBits() {
        #expect(YamuxFrameHeader.Flags([.syn, .fin]).description == "SYN|FIN")
        #expect(YamuxFrameHeader.Flags(rawValue: 0x12).description == "ACK|0x10")
    }
}
