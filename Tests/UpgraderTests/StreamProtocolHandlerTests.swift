import NIOCore
import NIOEmbedded
import Testing
import Upgrader

/// The per-stream protocols the listener serves and the dialer times: `/echo/1.0.0` and
/// `/ipfs/ping/1.0.0`.
@Suite struct StreamProtocolHandlerTests {
    @Test func echoServerWritesBackWhatItReads() throws {
        let channel = EmbeddedChannel(handler: EchoServerHandler())
        try channel.writeInbound(ByteBuffer(string: "hello"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "hello"))
        _ = try? channel.finish()
    }

    @Test func pingServerEchoesWholePayloadsOnly() throws {
        let channel = EmbeddedChannel(handler: PingServerHandler())
        let payload = ByteBuffer(bytes: (0..<32).map { UInt8($0) })
        // 20 bytes: nothing yet; 12 more complete the payload; then half of the next one.
        try channel.writeInbound(payload.getSlice(at: 0, length: 20)!)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        var rest = payload.getSlice(at: 20, length: 12)!
        rest.writeBytes([UInt8](repeating: 9, count: 16))
        try channel.writeInbound(rest)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == payload)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }

    @Test func echoClientCompletesWhenTheSameBytesReturnInPieces() throws {
        let channel = EmbeddedChannel()
        let client = EchoClientHandler(payload: ByteBuffer(string: "ping-pong"), eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(client)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "ping-pong"))
        try channel.writeInbound(ByteBuffer(string: "ping-"))
        try channel.writeInbound(ByteBuffer(string: "pong"))
        try client.response.wait()
        _ = try? channel.finish()
    }

    @Test func echoClientFailsOnDifferentBytes() throws {
        let channel = EmbeddedChannel()
        let client = EchoClientHandler(payload: ByteBuffer(string: "abc"), eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(client)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "abd"))
        #expect(throws: UpgradeFailure.self) { try client.response.wait() }
    }

    @Test func echoClientFailsWhenTheStreamClosesEarly() throws {
        let channel = EmbeddedChannel()
        let client = EchoClientHandler(payload: ByteBuffer(string: "abc"), eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(client)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "ab"))
        try channel.close().wait()
        let error = #expect(throws: UpgradeFailure.self) { try client.response.wait() }
        #expect(error?.code == .connectionClosed)
    }
}
