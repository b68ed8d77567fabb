import NIOCore
import P2PCore
import Yamux

/// One side of a back-to-back pair of ``YamuxSessionStateMachine``s: encodes what it sends into `outbound`, decodes
/// what it receives (whole or one byte at a time) and records what the session reported.
struct YamuxTestPeer {
    var session: YamuxSessionStateMachine
    var decoder = YamuxFrameDecoder()
    var cumulation = ByteBuffer()
    /// Encoded frames not yet delivered to the other side.
    var outbound = ByteBuffer()
    /// Data received per stream, in order.
    var received: [UInt32: ByteBuffer] = [:]
    /// Streams the peer opened, in order.
    var opened: [UInt32] = []
    var acknowledged: [UInt32] = []
    var inputClosed: Set<UInt32> = []
    var reset: Set<UInt32> = []
    var closed: Set<UInt32> = []
    var windowIncreases: [UInt32: Int] = [:]
    var roundTripTimes: [TimeAmount] = []
    var goAway: YamuxGoAwayCode?
    var violation: YamuxError?
    var refused: [UInt32] = []
    /// Accept streams the peer opens at once.
    var autoAccept = true
    /// Report received data as consumed at once (credit flows back); off models a slow reader.
    var autoConsume = true
    /// Every header received, in order.
    var headersReceived: [YamuxFrameHeader] = []

    init(role: ConnectionRole, configuration: YamuxConfiguration = YamuxConfiguration()) {
        self.session = YamuxSessionStateMachine(role: role, configuration: configuration)
    }

    mutating func write(_ header: YamuxFrameHeader, payload: ByteBuffer? = nil) {
        self.outbound.writeYamuxFrameHeader(header)
        if var payload { self.outbound.writeBuffer(&payload) }
    }

    mutating func send(_ action: YamuxSessionStateMachine.SendFrameAction) {
        switch action {
        case .none: break
        case .send(let header, _): self.write(header)
        }
    }

    mutating func send(_ action: YamuxSessionStateMachine.SessionFrameAction) {
        switch action {
        case .none: break
        case .send(let header): self.write(header)
        }
    }

    /// Opens a stream and writes its SYN.
    mutating func open(now: NIODeadline = .uptimeNanoseconds(0)) throws -> UInt32 {
        switch self.session.openStream(now: now) {
        case .opened(let streamID, let syn):
            self.write(syn)
            return streamID
        case .failed(let error):
            throw error
        }
    }

    /// Sends as much of `data` as the window allows; returns what is left.
    @discardableResult
    mutating func sendData(_ data: ByteBuffer, on streamID: UInt32, close: Bool = false) throws -> ByteBuffer {
        var data = data
        guard data.readableBytes > 0 || close else { return data }
        while true {
            switch self.session.sendData(streamID: streamID, from: &data, closeOutput: close) {
            case .send(let header, let payload, _):
                self.write(header, payload: payload)
                if data.readableBytes == 0 { return data }
            case .blocked:
                return data
            case .failed(let error):
                throw error
            }
        }
    }

    /// Feeds `bytes` to the session, all at once or one byte at a time.
    mutating func receive(_ bytes: ByteBuffer, byteAtATime: Bool = false, now: NIODeadline = .uptimeNanoseconds(0)) {
        if byteAtATime {
            var bytes = bytes
            while let byte = bytes.readSlice(length: 1) { self.receiveChunk(byte, now: now) }
        } else {
            self.receiveChunk(bytes, now: now)
        }
    }

    private mutating func receiveChunk(_ chunk: ByteBuffer, now: NIODeadline) {
        var chunk = chunk
        self.cumulation.writeBuffer(&chunk)
        do {
            while let frame = try self.decoder.decodeFrame(buffer: &self.cumulation) {
                self.headersReceived.append(frame.header)
                self.handle(self.session.receivedFrame(frame, now: now), now: now)
            }
        } catch {
            self.handle(self.session.receivedUndecodableBytes(error), now: now)
        }
        self.cumulation.discardReadBytes()
    }

    private mutating func handle(_ action: YamuxSessionStateMachine.ReceivedFrameAction, now: NIODeadline) {
        switch action {
        case .none:
            break
        case .stream(let event):
            if let reply = event.reply { self.write(reply) }
            if event.opened {
                self.opened.append(event.streamID)
                if self.autoAccept { self.send(self.session.acceptStream(event.streamID)) }
            }
            if event.acknowledged { self.acknowledged.append(event.streamID) }
            if var payload = event.payload {
                let count = payload.readableBytes
                self.received[event.streamID, default: ByteBuffer()].writeBuffer(&payload)
                if self.autoConsume { self.send(self.session.consumed(count, streamID: event.streamID, now: now)) }
            }
            if event.sendWindowIncreased { self.windowIncreases[event.streamID, default: 0] += 1 }
            if event.inputClosed { self.inputClosed.insert(event.streamID) }
            if event.reset { self.reset.insert(event.streamID) }
            if event.closed { self.closed.insert(event.streamID) }
        case .refuseStream(let header):
            self.refused.append(header.streamID)
            self.write(header)
        case .sendPingResponse(let header):
            self.write(header)
        case .roundTripTimeMeasured(let rtt):
            self.roundTripTimes.append(rtt)
        case .goAwayReceived(let code):
            self.goAway = code
        case .protocolViolation(let error, let goAway):
            self.violation = error
            self.write(goAway)
        }
    }

    /// Takes everything written so far.
    mutating func takeOutbound() -> ByteBuffer {
        defer { self.outbound.clear() }
        return self.outbound
    }
}

/// Moves bytes between two peers until neither has anything left to say.
func pump(
    _ a: inout YamuxTestPeer,
    _ b: inout YamuxTestPeer,
    byteAtATime: Bool = false,
    now: NIODeadline = .uptimeNanoseconds(0)
) {
    while a.outbound.readableBytes > 0 || b.outbound.readableBytes > 0 {
        let fromA = a.takeOutbound()
        if fromA.readableBytes > 0 { b.receive(fromA, byteAtATime: byteAtATime, now: now) }
        let fromB = b.takeOutbound()
        if fromB.readableBytes > 0 { a.receive(fromB, byteAtATime: byteAtATime, now: now) }
    }
}

extension ByteBuffer {
    /// `count` bytes of a repeating pattern, so that reordering or loss shows.
    static func pattern(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
        // A 256-byte period, copied: building megabytes byte by byte is slow in debug builds.
        let period = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var remaining = count
        while remaining > 0 {
            let take = min(remaining, 256)
            buffer.writeBytes(period[0..<take])
            remaining -= take
        }
        return buffer
    }
}
