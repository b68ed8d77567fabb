import FuzzSupport
import NIOCore
import P2PCore
import Yamux

/// The yamux session state machine driven as the multiplexer drives it, by a script: raw bytes
/// from the peer (decoded, with the early check of a Data header whose body is still missing),
/// frames built from fields the input picks (any type, flags, stream ID, window delta), and the
/// local application's commands (open, accept, send, consume, close, reset, refuse, ping, Go Away,
/// writability). The session must never trap, and it holds no more streams than were opened.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzYamuxSession(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    var configuration = YamuxConfiguration()
    configuration.receiveWindowAutoTuning = flags & 0x2 != 0
    configuration.maximumConcurrentStreams = Int(flags >> 2 & 0x7) * 4 + 1
    if flags & 0x20 != 0 { configuration.initialStreamWindow = 1 << 20 }
    var session = YamuxSessionStateMachine(
        role: flags & 0x1 == 0 ? .initiator : .responder,
        configuration: configuration
    )
    let decoder = YamuxFrameDecoder(maximumBodyLength: Int(configuration.maximumStreamWindow))
    var inbound = ByteBuffer()
    var clock: Int64 = 1_000_000_000
    var streams: [UInt32] = []
    var opened = 0

    func pickStream(_ input: inout FuzzInput) -> UInt32 {
        let choice = input.byte()
        if choice & 0x80 == 0, !streams.isEmpty { return streams[Int(choice) % streams.count] }
        return UInt32(choice & 0x7f)
    }
    func note(_ action: YamuxSessionStateMachine.ReceivedFrameAction) {
        if case .stream(let event) = action, event.opened {
            streams.append(event.streamID)
            opened += 1
        }
    }

    while !input.isEmpty {
        let operation = input.byte()
        clock += Int64(operation) * 1_000_000
        let now = NIODeadline.uptimeNanoseconds(UInt64(clock))
        switch operation % 14 {
        case 0, 1:
            // Bytes from the peer, through the decoder, as YamuxMultiplexer.channelRead does.
            // (Incomplete frames stay in `inbound` until the next chunk.)
            inbound.writeBytes(input.chunk())
            do throws(YamuxError) {
                while let frame = try decoder.decodeFrame(buffer: &inbound) {
                    note(session.receivedFrame(frame, now: now))
                }
                // A Data frame whose body is still to come: its header is checked against the window first.
                if let header = try inbound.getYamuxFrameHeader(at: inbound.readerIndex), header.type == .data {
                    note(session.receivedDataHeader(header))
                }
            } catch {
                note(session.receivedUndecodableBytes(error))
                inbound.clear()
            }
        case 2, 3:
            // A frame from fields.
            let type = YamuxFrameHeader.FrameType(rawValue: input.byte() % 4) ?? .data
            let frameFlags = YamuxFrameHeader.Flags(rawValue: UInt16(input.byte() % 32))
            let streamID = operation % 14 == 2 ? pickStream(&input) : input.uint32()
            let length = input.byte() & 0x80 == 0 ? UInt32(input.uint16()) : input.uint32()
            var payload = ByteBuffer()
            if type == .data {
                guard length <= 1 << 20 else { continue }
                payload = ByteBuffer(repeating: 0x61, count: Int(length))
            }
            let header = YamuxFrameHeader(type: type, flags: frameFlags, streamID: streamID, length: length)
            note(session.receivedFrame(YamuxFrame(header: header, payload: payload), now: now))
        case 4:
            if case .opened(let streamID, _) = session.openStream(now: now) {
                streams.append(streamID)
                opened += 1
            }
        case 5:
            _ = session.acceptStream(pickStream(&input))
        case 6:
            var data = ByteBuffer(repeating: 0x62, count: Int(input.uint16()) * 8)
            let streamID = pickStream(&input)
            let close = input.byte() & 1 == 1
            var rounds = 0
            while rounds < 64, case .send = session.sendData(streamID: streamID, from: &data, closeOutput: close) {
                rounds += 1
                if data.readableBytes == 0 { break }
            }
        case 7:
            _ = session.consumed(Int(input.uint32() % (1 << 24)), streamID: pickStream(&input), now: now)
        case 8:
            _ = session.closeOutput(streamID: pickStream(&input))
        case 9:
            _ = session.closeStream(streamID: pickStream(&input))
        case 10:
            _ = session.resetStream(pickStream(&input))
        case 11:
            note(session.refuseStream(pickStream(&input)))
        case 12:
            if input.byte() & 1 == 0 {
                _ = session.sendPing(now: now)
            } else {
                _ = session.goAway(.normal)
            }
        default:
            session.connectionWritabilityChanged(isWritable: input.byte() & 1 == 1)
        }
        fuzzCheck(session.streamCount <= opened, "\(session.streamCount) streams, \(opened) opened")
        for streamID in streams.prefix(4) {
            _ = session.sendWindow(streamID: streamID)
            _ = session.receiveWindowLimit(streamID: streamID)
        }
    }
    return 0
}
