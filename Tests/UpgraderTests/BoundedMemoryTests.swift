import Multistream
import NIOCore
import NIOEmbedded
import P2PCore
import TestSupport
import Testing
import Yamux

@testable import Upgrader

private let kib = 1024
private let window = Int(YamuxConstants.initialStreamWindow)

/// Peers that keep to the protocol but never read what the listener sends back: what they can make the listener
/// hold must be bounded by its windows, not by what they send (docs/bounds.md).
@Suite struct BoundedMemoryTests {
    @Test(arguments: [ProtocolID.echo, ProtocolID.ping])
    func slowReaderStopsGettingCreditWithinAFewWindows(protocolID: ProtocolID) throws {
        let pair = try ServedYamuxPair()
        let sent = 16 * 1024 * kib
        let writer = try pair.openSlowReader(protocol: protocolID, sending: sent)
        try pair.pump()

        // The listener sent back what our (never credited) window allowed, then stopped reading, and so stopped
        // crediting: of the 16 MiB, the client could send only a few windows.
        let echoed = pair.serverToClientBytes
        let accepted = pair.clientToServerBytes
        #expect(writer.written < sent, "the listener's credit, not the writer, ended the exchange")
        #expect(echoed >= window && echoed <= window + 4 * kib)
        #expect(accepted >= 2 * window)
        #expect(accepted <= 3 * window, "the client could send \(accepted) bytes")
        // What the listener holds (read but not sent back): at most one receive window of unread input plus the echo
        // of the read that made the stream unwritable. (Measured: 256 KiB, a 64 KiB echo and 192 KiB unread.)
        #expect(accepted - echoed <= 2 * window, "the listener holds \(accepted - echoed) bytes")

        // Nothing moves any more, however long the peer keeps trying: the bound is reached, not a snapshot.
        let before = (pair.clientToServerBytes, pair.serverToClientBytes)
        writer.writeMore()
        try pair.pump()
        #expect(pair.clientToServerBytes == before.0 && pair.serverToClientBytes == before.1)
        #expect(pair.server.isActive)
    }

    @Test(arguments: [ProtocolID.echo, ProtocolID.ping])
    func slowReaderThatStartsReadingGetsEverythingBack(protocolID: ProtocolID) throws {
        // Backpressure must stall the exchange, not break it.
        let pair = try ServedYamuxPair()
        let sent = 2 * 1024 * kib
        let writer = try pair.openSlowReader(protocol: protocolID, sending: sent)
        try pair.pump()
        #expect(writer.received < sent)
        var rounds = 0
        while writer.received < sent {
            rounds += 1
            try #require(rounds < 1000, "no progress")
            writer.readOnce()
            try pair.pump()
        }
        #expect(writer.received == sent)
        #expect(writer.mismatches == 0)
    }

    @Test func oversizedFrameIsRefusedAtItsHeader() throws {
        // A Data header announcing 16 MiB on a stream with a 256 KiB window: Go Away before any body byte is held.
        let pair = try ServedYamuxPair()
        let errors = ParentErrorRecorder()
        try pair.server.pipeline.syncOperations.addHandler(errors)
        var frame = ByteBuffer()
        frame.writeYamuxFrameHeader(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        frame.writeYamuxFrameHeader(.data(streamID: 1, flags: [], length: 16 * 1024 * UInt32(kib)))
        frame.writeRepeatingByte(7, count: 100)
        #expect(throws: YamuxError.self) { try pair.server.writeInbound(frame) }
        #expect(errors.codes == [.receiveWindowExceeded])
        #expect(!pair.server.isActive)
        var sent = ByteBuffer()
        while let bytes = try pair.server.readOutbound(as: ByteBuffer.self) { sent.writeImmutableBuffer(bytes) }
        // The ACK of stream 1, then Go Away (protocol error).
        #expect(sent.hexString.hasSuffix("000300000000000000000001"))
    }
}

// MARK: - Support

/// Two `EmbeddedChannel`s with a yamux session between them: the server side serves streams as an upgraded
/// connection does (multistream-select, then the protocol's handlers); the client opens them.
private final class ServedYamuxPair {
    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientMultiplexer: YamuxMultiplexer
    /// Every byte each side put on the wire, headers included.
    private(set) var clientToServerBytes = 0
    private(set) var serverToClientBytes = 0

    init() throws {
        self.clientMultiplexer = YamuxMultiplexer(role: .initiator, inboundStreamInitializer: nil)
        let serverMultiplexer = YamuxMultiplexer(role: .responder) { UpgradedConnection.serveStream($0) }
        self.client = EmbeddedChannel(loop: self.loop)
        self.server = EmbeddedChannel(loop: self.loop)
        try self.client.pipeline.syncOperations.addHandler(self.clientMultiplexer)
        try self.server.pipeline.syncOperations.addHandler(serverMultiplexer)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 4001)
        try self.client.connect(to: address).wait()
        try self.server.connect(to: address).wait()
    }

    /// Opens a stream for `protocolID` (strict multistream-select) whose handler writes `sending` bytes as the
    /// window allows and never reads.
    func openSlowReader(protocol protocolID: ProtocolID, sending: Int) throws -> SlowReader {
        let reader = SlowReader(total: sending)
        let opened = self.clientMultiplexer.openStream { stream in
            stream.eventLoop.makeCompletedFuture {
                let negotiation = MultistreamDialerHandler(protocols: [protocolID], mode: .strict) { _, channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) }
                }
                try stream.pipeline.syncOperations.addHandler(negotiation)
            }
        }
        self.loop.run()
        _ = try opened.wait()
        return reader
    }

    /// Moves bytes both ways until neither side has anything to send.
    func pump() throws {
        var moved = true
        while moved {
            moved = false
            self.loop.run()
            while let bytes = try self.client.readOutbound(as: ByteBuffer.self) {
                self.clientToServerBytes += bytes.readableBytes
                try self.server.writeInbound(bytes)
                moved = true
            }
            while let bytes = try self.server.readOutbound(as: ByteBuffer.self) {
                self.serverToClientBytes += bytes.readableBytes
                try self.client.writeInbound(bytes)
                moved = true
            }
        }
    }
}

/// Writes a counting pattern as fast as the stream is writable and reads only when told to, checking what comes back.
private final class SlowReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let total: Int
    private(set) var written = 0
    private(set) var received = 0
    private(set) var mismatches = 0
    private var context: ChannelHandlerContext?

    init(total: Int) { self.total = total }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Never credit the listener: nothing is read unless a test asks.
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        self.writeMore()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writeMore()
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        while let byte = buffer.readInteger(as: UInt8.self) {
            if byte != UInt8(truncatingIfNeeded: self.received) { self.mismatches += 1 }
            self.received += 1
        }
    }

    /// Writes 64 KiB chunks while the stream is writable.
    func writeMore() {
        guard let context else { return }
        let chunk = 64 * kib
        while self.written < self.total, context.channel.isWritable {
            var buffer = context.channel.allocator.buffer(capacity: chunk)
            for index in 0..<chunk { buffer.writeInteger(UInt8(truncatingIfNeeded: self.written + index)) }
            self.written += chunk
            context.write(self.wrapOutboundOut(buffer), promise: nil)
        }
        context.flush()
    }

    func readOnce() { self.context?.read() }
}

private final class ParentErrorRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Never
    private(set) var codes: [YamuxError.Code] = []
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? YamuxError { self.codes.append(error.code) }
        context.fireErrorCaught(error)
    }
}
