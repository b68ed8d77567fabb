import NIOCore
import P2PCore
import TestSupport
import Testing
import Yamux

private let kib = 1024
private let initialWindow = 256 * 1024

/// Two session state machines back to back (whole and one byte at a time), what go and rust send, flow control,
/// ping, Go Away and the limits.
@Suite struct YamuxSessionStateMachineTests {
    // MARK: - Streams

    @Test(arguments: [false, true])
    func openAcceptWriteHalfCloseBackToBack(byteAtATime: Bool) throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)

        let streamID = try client.open()
        #expect(streamID == 1)
        try client.sendData(ByteBuffer(string: "hello"), on: streamID)
        pump(&client, &server, byteAtATime: byteAtATime)
        #expect(server.opened == [1])
        #expect(client.acknowledged == [1])
        #expect(server.received[1] == ByteBuffer(string: "hello"))

        try server.sendData(ByteBuffer(string: "world"), on: 1, close: true)
        pump(&client, &server, byteAtATime: byteAtATime)
        #expect(client.received[1] == ByteBuffer(string: "world"))
        #expect(client.inputClosed == [1])
        #expect(client.closed.isEmpty)

        // Half-closed: the client can still send until it closes too.
        try client.sendData(ByteBuffer(string: "more"), on: 1)
        client.send(client.session.closeOutput(streamID: 1))
        pump(&client, &server, byteAtATime: byteAtATime)
        #expect(server.received[1] == ByteBuffer(string: "hellomore"))
        #expect(server.inputClosed == [1])
        #expect(server.closed == [1])
        #expect(client.session.streamCount == 0)
        #expect(server.session.streamCount == 0)
        #expect(client.violation == nil && server.violation == nil)
    }

    @Test func streamIDsAreOddForTheDialerAndEvenForTheListenerAndGoUpByTwo() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        #expect(try [client.open(), client.open(), client.open()] == [1, 3, 5])
        #expect(try [server.open(), server.open()] == [2, 4])
        pump(&client, &server)
        #expect(server.opened == [1, 3, 5])
        #expect(client.opened == [2, 4])
    }

    @Test func openSendsWindowUpdateSYNAsGoDoes() throws {
        var client = YamuxTestPeer(role: .initiator)
        _ = try client.open()
        #expect(client.takeOutbound().hexString == "000100010000000100000000")
    }

    @Test func acceptSendsWindowUpdateACKAsGoDoes() throws {
        var server = YamuxTestPeer(role: .responder)
        server.receive(try ByteBuffer(hex: "000100010000000100000000"))
        #expect(server.opened == [1])
        #expect(server.takeOutbound().hexString == "000100020000000100000000")
    }

    @Test func rustStyleOpenWithDataSYNCarriesTheFirstBytes() throws {
        var server = YamuxTestPeer(role: .responder)
        server.receive(try ByteBuffer(hex: "0000000100000001000000026869"))
        #expect(server.opened == [1])
        #expect(server.received[1] == ByteBuffer(string: "hi"))
    }

    @Test(arguments: ["000100040000000100000000", "000000040000000100000000"])
    func peerHalfCloseWithWindowUpdateFINOrEmptyDataFIN(hex: String) throws {
        var server = YamuxTestPeer(role: .responder)
        server.receive(try ByteBuffer(hex: "000100010000000100000000"))
        server.receive(try ByteBuffer(hex: hex))
        #expect(server.inputClosed == [1])
        #expect(server.violation == nil)
        // Our direction is still open.
        #expect(try server.sendData(ByteBuffer(string: "x"), on: 1).readableBytes == 0)
    }

    @Test(arguments: ["000100080000000100000000", "000000080000000100000000"])
    func peerResetWithWindowUpdateRSTOrDataRST(hex: String) throws {
        var server = YamuxTestPeer(role: .responder)
        server.receive(try ByteBuffer(hex: "000100010000000100000000"))
        server.receive(try ByteBuffer(hex: hex))
        #expect(server.reset == [1])
        #expect(server.session.streamCount == 0)
        #expect(server.violation == nil)
    }

    @Test func closeStreamWhilePeerStillSendsDrainsAndCreditsItsData() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        let streamID = try client.open()
        pump(&client, &server)
        server.send(server.session.closeStream(streamID: streamID))
        pump(&client, &server)
        #expect(client.inputClosed == [streamID])
        // The client keeps writing 1 MiB: the server drains it and credits it back, so the writer is never stuck.
        let rest = try client.sendData(.pattern(1024 * kib), on: streamID)
        var remaining = rest
        pump(&client, &server)
        while remaining.readableBytes > 0 {
            remaining = try client.sendData(remaining, on: streamID)
            pump(&client, &server)
        }
        #expect(server.received[streamID] == nil)
        client.send(client.session.closeOutput(streamID: streamID))
        pump(&client, &server)
        #expect(server.session.streamCount == 0)
        #expect(client.session.streamCount == 0)
    }

    /// The application closes a stream while it still holds unread data that fills more than half the window (or all
    /// of it). Those bytes are dropped with the stream; unless they are credited back, the peer's writer never gets
    /// another Window Update and stalls.
    @Test(arguments: [200 * kib, initialWindow])
    func closeStreamCreditsTheDataTheApplicationLeftUnread(unread: Int) throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        server.autoConsume = false
        let streamID = try client.open()
        try client.sendData(.pattern(unread), on: streamID)
        pump(&client, &server)
        #expect(server.received[streamID]?.readableBytes == unread)
        #expect(client.session.sendWindow(streamID: streamID) == initialWindow - unread)

        server.send(server.session.closeStream(streamID: streamID))
        pump(&client, &server)
        #expect(client.inputClosed == [streamID])
        // The client still writes 1 MiB after the server's FIN: every round must make progress.
        var remaining = ByteBuffer.pattern(1024 * kib)
        var rounds = 0
        while remaining.readableBytes > 0 {
            rounds += 1
            try #require(rounds < 100)
            let before = remaining.readableBytes
            remaining = try client.sendData(remaining, on: streamID)
            pump(&client, &server)
            try #require(remaining.readableBytes < before, "the writer stalled: no credit for the dropped bytes")
        }
        #expect(server.received[streamID]?.readableBytes == unread)
        client.send(client.session.closeOutput(streamID: streamID))
        pump(&client, &server)
        #expect(server.session.streamCount == 0 && client.session.streamCount == 0)
        #expect(server.violation == nil && client.violation == nil)
    }

    @Test func tenThousandSequentialStreams() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        for index in 0..<10_000 {
            let streamID = try client.open()
            try client.sendData(ByteBuffer(string: "request \(index)"), on: streamID, close: true)
            pump(&client, &server)
            try server.sendData(ByteBuffer(string: "response \(index)"), on: streamID, close: true)
            pump(&client, &server)
            #expect(client.received[streamID] == ByteBuffer(string: "response \(index)"))
            #expect(client.closed.contains(streamID))
        }
        #expect(server.opened.count == 10_000)
        #expect(server.opened.last == 19_999)
        #expect(client.session.streamCount == 0 && server.session.streamCount == 0)
    }

    @Test func thousandConcurrentStreams() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        var streamIDs: [UInt32] = []
        for _ in 0..<1000 {
            // The ACK backlog allows 256 unacknowledged streams: let ACKs come back as we go.
            if client.session.openStreamError?.code == .ackBacklogFull { pump(&client, &server) }
            streamIDs.append(try client.open())
        }
        for streamID in streamIDs {
            try client.sendData(.pattern(1000, seed: UInt8(truncatingIfNeeded: streamID)), on: streamID)
        }
        pump(&client, &server)
        #expect(server.session.streamCount == 1000)
        for streamID in streamIDs {
            #expect(server.received[streamID] == .pattern(1000, seed: UInt8(truncatingIfNeeded: streamID)))
            try server.sendData(ByteBuffer(string: "\(streamID)"), on: streamID, close: true)
        }
        for streamID in streamIDs { client.send(client.session.closeOutput(streamID: streamID)) }
        pump(&client, &server)
        for streamID in streamIDs { #expect(client.received[streamID] == ByteBuffer(string: "\(streamID)")) }
        #expect(client.session.streamCount == 0 && server.session.streamCount == 0)
    }

    // MARK: - Flow control

    @Test(arguments: [false, true])
    func slowReaderNeverMakesTheWriterExceedTheWindow(byteAtATime: Bool) throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        server.autoConsume = false
        let streamID = try client.open()
        let message = ByteBuffer.pattern(1024 * kib + 17)
        var unsent = try client.sendData(message, on: streamID)
        #expect(unsent.readableBytes == message.readableBytes - initialWindow)
        #expect(client.session.sendWindow(streamID: streamID) == 0)
        pump(&client, &server, byteAtATime: byteAtATime)

        var consumed = 0
        var rounds = 0
        while (server.received[streamID]?.readableBytes ?? 0) < message.readableBytes {
            rounds += 1
            try #require(rounds < 1000, "no progress")
            let received = server.received[streamID]?.readableBytes ?? 0
            // Never more unread data than the window, whatever the writer tries.
            #expect(received - consumed <= initialWindow)
            unsent = try client.sendData(unsent, on: streamID)
            pump(&client, &server, byteAtATime: byteAtATime)
            #expect((server.received[streamID]?.readableBytes ?? 0) - consumed <= initialWindow)
            // The reader consumes 48 KiB at a time: credit returns only per half window consumed.
            let step = min(48 * kib, (server.received[streamID]?.readableBytes ?? 0) - consumed)
            consumed += step
            server.send(server.session.consumed(step, streamID: streamID, now: .uptimeNanoseconds(0)))
            pump(&client, &server, byteAtATime: byteAtATime)
        }
        #expect(server.received[streamID] == message)
        #expect(server.violation == nil && client.violation == nil)
    }

    @Test func windowUpdateIsSentOnceHalfTheWindowIsConsumedAndRestoresIt() throws {
        var server = YamuxTestPeer(role: .responder)
        server.autoConsume = false
        server.receive(try ByteBuffer(hex: "000100010000000100000000"))
        _ = server.takeOutbound()
        var data = ByteBuffer()
        data.writeYamuxDataFrame(streamID: 1, payload: .pattern(200 * kib))
        server.receive(data)
        #expect(server.session.consumed(100 * kib, streamID: 1, now: .uptimeNanoseconds(0)) == .none)
        let update = server.session.consumed(28 * kib, streamID: 1, now: .uptimeNanoseconds(0))
        #expect(update == .send(.windowUpdate(streamID: 1, delta: UInt32(128 * kib)), streamClosed: false))
    }

    @Test func peerGrowsOurSendWindowOnSYNAndACK() throws {
        var server = YamuxTestPeer(role: .responder)
        // go / rust with a larger initial window: SYN with delta 768 KiB.
        server.receive(ByteBuffer(bytes: [0, 1, 0, 1, 0, 0, 0, 1, 0, 0x0c, 0, 0]))
        #expect(server.session.sendWindow(streamID: 1) == 1024 * kib)

        var client = YamuxTestPeer(role: .initiator)
        let streamID = try client.open()
        client.receive(ByteBuffer(bytes: [0, 1, 0, 2, 0, 0, 0, 1, 0, 0x04, 0, 0]))
        #expect(client.acknowledged == [streamID])
        #expect(client.session.sendWindow(streamID: streamID) == 512 * kib)
    }

    @Test func peerWindowsFarBeyond256KiBAreAccepted() throws {
        var client = YamuxTestPeer(role: .initiator)
        let streamID = try client.open()
        // go grows toward 16 MiB; accept even more, up to the 32-bit limit.
        for _ in 0..<64 { client.receive(windowUpdate(streamID, delta: 1 << 24)) }
        #expect(client.violation == nil)
        #expect(client.session.sendWindow(streamID: streamID) == initialWindow + 64 << 24)
        let sent = client.outbound.readableBytes
        try client.sendData(.pattern(4 * 1024 * kib), on: streamID)
        // Split into frames of at most 64 KiB (go's MaxMessageSize), all within the window.
        #expect(client.outbound.readableBytes - sent == 4 * 1024 * kib + 64 * 12)
    }

    @Test func ourLargerInitialWindowIsAnnouncedOnSYNAndACK() throws {
        var configuration = YamuxConfiguration()
        configuration.initialStreamWindow = 1024 * UInt32(kib)
        var client = YamuxTestPeer(role: .initiator, configuration: configuration)
        var server = YamuxTestPeer(role: .responder, configuration: configuration)
        let streamID = try client.open()
        #expect(client.outbound.getSlice(at: 0, length: 12)?.hexString == "0001000100000001000c0000")
        pump(&client, &server)
        #expect(server.session.sendWindow(streamID: streamID) == 1024 * kib)
        #expect(client.session.sendWindow(streamID: streamID) == 1024 * kib)
        #expect(server.session.receiveWindowLimit(streamID: streamID) == 1024 * kib)
    }

    @Test func autoTuningDoublesTheWindowWhenItIsUsedUpWithinTwoRoundTrips() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        server.autoConsume = false
        // The server measures a 10 ms round trip with its own ping.
        server.send(server.session.sendPing(now: .uptimeNanoseconds(0)))
        pump(&client, &server, now: .uptimeNanoseconds(10_000_000))
        #expect(server.roundTripTimes == [.milliseconds(10)])

        let streamID = try client.open(now: .uptimeNanoseconds(10_000_000))
        try client.sendData(.pattern(initialWindow), on: streamID)
        pump(&client, &server, now: .uptimeNanoseconds(15_000_000))
        // Half the window consumed 5 ms after the stream started: under 2 RTT, so the window doubles to 512 KiB.
        let update = server.session.consumed(128 * kib, streamID: streamID, now: .uptimeNanoseconds(15_000_000))
        #expect(
            update
                == .send(.windowUpdate(streamID: streamID, delta: UInt32(128 * kib + 256 * kib)), streamClosed: false)
        )
        #expect(server.session.receiveWindowLimit(streamID: streamID) == 512 * kib)
        server.send(update)
        pump(&client, &server, now: .uptimeNanoseconds(15_000_000))
        #expect(client.session.sendWindow(streamID: streamID) == 384 * kib)

        // The next half window is consumed 1 s later, far above 2 RTT: plain credit, no growth.
        try client.sendData(.pattern(384 * kib), on: streamID)
        pump(&client, &server, now: .uptimeNanoseconds(1_000_000_000))
        let slow = server.session.consumed(256 * kib, streamID: streamID, now: .uptimeNanoseconds(1_015_000_000))
        #expect(slow == .send(.windowUpdate(streamID: streamID, delta: UInt32(256 * kib)), streamClosed: false))
        #expect(server.session.receiveWindowLimit(streamID: streamID) == 512 * kib)
    }

    @Test func autoTuningStopsAtTheMaximumStreamWindow() throws {
        var configuration = YamuxConfiguration()
        configuration.maximumStreamWindow = 1024 * UInt32(kib)
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder, configuration: configuration)
        server.send(server.session.sendPing(now: .uptimeNanoseconds(0)))
        pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
        let streamID = try client.open()
        // Fast consumer on a 50 ms link: the window doubles on each update until 1 MiB.
        var limits: [Int] = []
        for _ in 0..<6 {
            try client.sendData(.pattern(client.session.sendWindow(streamID: streamID)), on: streamID)
            pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
            limits.append(server.session.receiveWindowLimit(streamID: streamID))
        }
        #expect(limits.first == 512 * kib)
        #expect(limits.last == 1024 * kib)
        #expect(limits.allSatisfy { $0 <= 1024 * kib })
        #expect(limits == limits.sorted())
    }

    @Test func autoTuningNeedsARoundTripTimeAndCanBeTurnedOff() throws {
        var off = YamuxConfiguration()
        off.receiveWindowAutoTuning = false
        for (configuration, ping) in [(YamuxConfiguration(), false), (off, true)] {
            var client = YamuxTestPeer(role: .initiator)
            var server = YamuxTestPeer(role: .responder, configuration: configuration)
            if ping {
                server.send(server.session.sendPing(now: .uptimeNanoseconds(0)))
                pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
            }
            let streamID = try client.open()
            try client.sendData(.pattern(initialWindow), on: streamID)
            pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
            #expect(server.session.receiveWindowLimit(streamID: streamID) == initialWindow)
        }
    }

    @Test func dataDrainedFromAStreamTheApplicationClosedIsNotAutoTuned() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        // A 50 ms round trip: a live stream consumed this fast would double its window on every update.
        server.send(server.session.sendPing(now: .uptimeNanoseconds(0)))
        pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
        let streamID = try client.open()
        pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
        server.send(server.session.closeStream(streamID: streamID))
        pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
        var remaining = ByteBuffer.pattern(2048 * kib)
        while remaining.readableBytes > 0 {
            let before = remaining.readableBytes
            remaining = try client.sendData(remaining, on: streamID)
            pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
            try #require(remaining.readableBytes < before)
        }
        // Nobody reads a closed stream: growing its window would only spend the session's budget.
        #expect(server.session.receiveWindowLimit(streamID: streamID) == initialWindow)
        #expect(client.session.sendWindow(streamID: streamID) <= initialWindow)
    }

    @Test func autoTuningRespectsTheSessionReceiveBudget() throws {
        var configuration = YamuxConfiguration()
        configuration.maximumSessionReceiveWindow = 2 * initialWindow + 64 * kib
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder, configuration: configuration)
        server.send(server.session.sendPing(now: .uptimeNanoseconds(0)))
        pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
        let first = try client.open()
        let second = try client.open()
        try client.sendData(.pattern(initialWindow), on: first)
        pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
        // Only 64 KiB of budget is left above the two initial windows.
        #expect(server.session.receiveWindowLimit(streamID: first) == initialWindow + 64 * kib)
        try client.sendData(.pattern(initialWindow), on: second)
        pump(&client, &server, now: .uptimeNanoseconds(50_000_000))
        #expect(server.session.receiveWindowLimit(streamID: second) == initialWindow)
    }

    // MARK: - Ping and Go Away

    @Test func pingIsAnsweredAndOurOwnPingMeasuresTheRoundTripTime() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        client.send(client.session.sendPing(now: .uptimeNanoseconds(1_000)))
        #expect(client.outbound.hexString == "000200010000000000000001")
        server.receive(client.takeOutbound())
        #expect(server.outbound.hexString == "000200020000000000000001")
        client.receive(server.takeOutbound(), now: .uptimeNanoseconds(251_000))
        #expect(client.roundTripTimes == [.microseconds(250)])
        #expect(client.session.roundTripTime == .microseconds(250))
        // A response nobody asked for is ignored.
        client.receive(try ByteBuffer(hex: "000200020000000000000009"))
        #expect(client.roundTripTimes.count == 1)
        #expect(client.violation == nil)
    }

    @Test func pingNamingALiveStreamIsAnsweredOnStreamZeroAsRustDoes() throws {
        var server = YamuxTestPeer(role: .responder)
        server.receive(try ByteBuffer(hex: "000100010000000700000000"))
        _ = server.takeOutbound()
        server.receive(try ByteBuffer(hex: "000200010000000700000005"))
        #expect(server.outbound.hexString == "000200020000000000000005")
        #expect(server.violation == nil)
    }

    @Test(arguments: ["000200010000000700000005", "000200010000000400000005"])
    func pingNamingAStreamThatIsNotLiveIsIgnoredAsRustDoes(hex: String) throws {
        // Stream 7 was never opened, and stream 4 would be ours: neither is live, so no answer and no violation.
        var server = YamuxTestPeer(role: .responder)
        server.receive(try ByteBuffer(hex: hex))
        #expect(server.outbound.readableBytes == 0)
        #expect(server.violation == nil)
        #expect(server.session.isActive)
    }

    @Test func pingResponseNamingAStreamIsMatchedByItsOpaqueValue() throws {
        var client = YamuxTestPeer(role: .initiator)
        client.send(client.session.sendPing(now: .uptimeNanoseconds(0)))
        client.receive(try ByteBuffer(hex: "000200020000000300000001"), now: .uptimeNanoseconds(1_000))
        #expect(client.roundTripTimes == [.microseconds(1)])
    }

    @Test func goAwayNamingAStreamStillEndsTheSessionAsInGoAndRust() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        let streamID = try client.open()
        pump(&client, &server)
        client.receive(try ByteBuffer(hex: "000300000000000100000000"))
        #expect(client.goAway == .normal)
        #expect(client.violation == nil)
        #expect(client.outbound.readableBytes == 0)
        #expect(!client.session.isActive)
        #expect(client.session.sendWindow(streamID: streamID) == 0)
    }

    @Test func pingRequestsAreNotAnsweredWhileTheConnectionIsNotWritable() throws {
        var server = YamuxTestPeer(role: .responder)
        server.session.connectionWritabilityChanged(isWritable: false)
        for _ in 0..<1000 { server.receive(try ByteBuffer(hex: "000200010000000000000005")) }
        #expect(server.outbound.readableBytes == 0)
        #expect(server.violation == nil)
        server.session.connectionWritabilityChanged(isWritable: true)
        server.receive(try ByteBuffer(hex: "000200010000000000000006"))
        #expect(server.outbound.hexString == "000200020000000000000006")
    }

    @Test(arguments: [YamuxGoAwayCode.normal, .protocolError, .internalError])
    func goAwayFromThePeerEndsTheSession(code: YamuxGoAwayCode) throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        let streamID = try client.open()
        pump(&client, &server)
        server.send(.send(.goAway(code), streamClosed: false))
        pump(&client, &server)
        #expect(client.goAway == code)
        #expect(client.violation == nil)
        #expect(!client.session.isActive)
        #expect(client.session.streamCount == 0)
        #expect(client.session.openStreamError?.code == .remoteGoAway)
        // Anything after it is ignored.
        var data = ByteBuffer()
        data.writeYamuxDataFrame(streamID: streamID, payload: ByteBuffer(string: "late"))
        client.receive(data)
        #expect(client.received[streamID] == nil)
        #expect(client.outbound.readableBytes == 0)
    }

    @Test func afterOurGoAwayNewStreamsAreRefused() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        #expect(server.session.goAway() == .send(.goAway(.normal)))
        #expect(server.session.goAway() == .none)
        _ = try client.open()
        server.receive(client.takeOutbound())
        #expect(server.refused == [1])
        #expect(server.outbound.hexString == "000100080000000100000000")
        #expect(server.session.openStreamError?.code == .sessionClosed)
    }

    // MARK: - Limits

    @Test func atMost256StreamsWaitForTheirACK() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        for _ in 0..<256 { _ = try client.open() }
        #expect(throws: YamuxError.self) { try client.open() }
        #expect(client.session.openStreamError?.code == .ackBacklogFull)
        // One ACK makes room for one more.
        let frames = client.takeOutbound()
        server.receive(frames.getSlice(at: 0, length: 12)!)
        client.receive(server.takeOutbound())
        #expect(client.acknowledged == [1])
        #expect(try client.open() == 513)
        #expect(client.session.openStreamError?.code == .ackBacklogFull)
    }

    @Test func inboundStreamsBeyondTheConcurrentCapAreRefusedWithRST() throws {
        var configuration = YamuxConfiguration()
        configuration.maximumConcurrentStreams = 4
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder, configuration: configuration)
        for _ in 0..<5 { try client.sendData(ByteBuffer(string: "x"), on: try client.open()) }
        pump(&client, &server)
        #expect(server.opened == [1, 3, 5, 7])
        #expect(server.refused == [9])
        #expect(client.reset == [9])
        #expect(server.received[9] == nil)
        #expect(server.violation == nil && client.violation == nil)
        // Our own opens hit the same cap.
        #expect(server.session.openStreamError?.code == .streamLimitReached)
    }

    @Test func inboundStreamsNotYetAcceptedAreBoundedByTheBacklog() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        server.autoAccept = false
        for _ in 0..<257 {
            let streamID = try client.open()
            server.receive(client.takeOutbound())
            // The server holds its ACKs back; acknowledge on its behalf so the client's own backlog stays open.
            client.receive(windowUpdateACK(streamID))
        }
        #expect(server.opened.count == 256)
        #expect(server.refused == [513])
        server.send(server.session.acceptStream(1))
        #expect(server.outbound.readableBytes >= 12)
    }

    @Test func ackBacklogIsClampedToTheSpecBoundOf256() throws {
        var configuration = YamuxConfiguration()
        configuration.maximumAckBacklog = 1000
        #expect(configuration.maximumAckBacklog == 256)
        configuration.maximumAckBacklog = 0
        #expect(configuration.maximumAckBacklog == 1)
        configuration.maximumAckBacklog = 16
        #expect(configuration.maximumAckBacklog == 16)

        configuration.maximumAckBacklog = .max
        var client = YamuxTestPeer(role: .initiator, configuration: configuration)
        for _ in 0..<256 { _ = try client.open() }
        #expect(client.session.openStreamError?.code == .ackBacklogFull)
    }

    /// SYNs sent as fast as possible to a server that refuses them all (it takes no streams at all).
    private func synFlood(_ server: inout YamuxTestPeer, from first: UInt32, count: Int) {
        var frames = ByteBuffer()
        for index in 0..<count {
            frames.writeYamuxFrameHeader(.windowUpdate(streamID: first + 2 * UInt32(index), flags: .syn, delta: 0))
        }
        server.receive(frames)
    }

    @Test func refusalsWhileTheConnectionIsNotWritableAreBounded() throws {
        var configuration = YamuxConfiguration()
        configuration.maximumConcurrentStreams = 0
        var server = YamuxTestPeer(role: .responder, configuration: configuration)
        // While our output flows, refusals are not limited.
        synFlood(&server, from: 1, count: 1000)
        #expect(server.refused.count == 1000)
        _ = server.takeOutbound()

        // The peer stops reading: up to the bound, each SYN still gets its RST.
        server.session.connectionWritabilityChanged(isWritable: false)
        synFlood(&server, from: 2001, count: YamuxConstants.maximumRefusalsWhileNotWritable)
        #expect(server.refused.count == 1000 + 256)
        #expect(server.violation == nil)
        // It read again for a moment: the count starts over.
        server.session.connectionWritabilityChanged(isWritable: true)
        server.session.connectionWritabilityChanged(isWritable: false)
        synFlood(&server, from: 3001, count: 256)
        #expect(server.refused.count == 1000 + 512)
        #expect(server.violation == nil)
        _ = server.takeOutbound()

        // One more is not queued: the session ends instead.
        synFlood(&server, from: 4001, count: 1)
        #expect(server.refused.count == 1000 + 512)
        #expect(server.violation?.code == .refusalBacklogExceeded)
        #expect(server.violation?.isProtocolViolation == true)
        #expect(server.takeOutbound().hexString == "000300000000000000000001")
        #expect(!server.session.isActive)
    }

    @Test func refusalsByTheApplicationCountAgainstTheSameBound() throws {
        var server = YamuxTestPeer(role: .responder)
        server.autoAccept = false
        server.session.connectionWritabilityChanged(isWritable: false)
        var refused: [UInt32] = []
        for index in 0..<YamuxConstants.maximumRefusalsWhileNotWritable {
            let streamID = UInt32(2 * index + 1)
            synFlood(&server, from: streamID, count: 1)
            guard case .refuseStream(let reset) = server.session.refuseStream(streamID) else {
                Issue.record("stream \(streamID) was not refused")
                return
            }
            #expect(reset == .windowUpdate(streamID: streamID, flags: .rst, delta: 0))
            refused.append(streamID)
        }
        #expect(server.session.streamCount == 0)
        synFlood(&server, from: 513, count: 1)
        guard case .protocolViolation(let error, let goAway) = server.session.refuseStream(513) else {
            Issue.record("the refusal beyond the bound was queued")
            return
        }
        #expect(error.code == .refusalBacklogExceeded)
        #expect(goAway == .goAway(.protocolError))
        #expect(!server.session.isActive)
    }

    @Test func resetOfAnAcceptedStreamIsNotCountedAsARefusal() throws {
        var server = YamuxTestPeer(role: .responder)
        server.session.connectionWritabilityChanged(isWritable: false)
        for index in 0..<(YamuxConstants.maximumRefusalsWhileNotWritable + 10) {
            let streamID = UInt32(2 * index + 1)
            synFlood(&server, from: streamID, count: 1)
            server.send(server.session.resetStream(streamID))
        }
        #expect(server.violation == nil)
        #expect(server.session.isActive)
    }

    // MARK: - Bad input, by name (Go Away with protocol error, typed error, no crash)

    @Test func badInputWrongVersion() throws {
        try expectViolation(.invalidVersion, "010100010000000100000000")
    }

    @Test func badInputUnknownType() throws {
        try expectViolation(.unknownFrameType, "000700000000000000000000")
    }

    @Test func badInputUndefinedFlagBit() throws {
        try expectViolation(.invalidFlags, "000100110000000100000000")
    }

    @Test func badInputSYNAndACKTogether() throws {
        try expectViolation(.invalidFlags, "000100030000000100000000")
    }

    @Test func badInputPingWithoutSYNOrACK() throws {
        try expectViolation(.invalidFlags, "000200000000000000000001")
    }

    @Test func badInputPingWithSYNAndFIN() throws {
        try expectViolation(.invalidFlags, "000200050000000000000001")
    }

    @Test func badInputGoAwayWithFlags() throws {
        try expectViolation(.invalidFlags, "000300010000000000000000")
    }

    @Test func badInputDataForStreamZero() throws {
        try expectViolation(.invalidStreamID, "00000000000000000000000161")
    }

    @Test func badInputWindowUpdateForStreamZero() throws {
        try expectViolation(.invalidStreamID, "000100000000000000000010")
    }

    @Test func badInputDataForAStreamThePeerNeverOpened() throws {
        // Stream 1 (the client's parity) was never opened with SYN.
        try expectViolation(.unknownStream, "00000000000000010000000161")
    }

    @Test func badInputDataForAnIDAboveTheHighestThePeerOpened() throws {
        // The peer opened stream 1; stream 3 was never opened, so this cannot be a late frame.
        try expectViolation(.unknownStream, "000100010000000100000000", "00000000000000030000000161")
    }

    @Test func badInputWindowUpdateForAStreamWeNeverOpened() throws {
        // Stream 2 has our (the server's) parity, and we opened none.
        try expectViolation(.unknownStream, "000100000000000200000010")
    }

    @Test func badInputDataAfterThePeersFIN() throws {
        try expectViolation(
            .streamClosed,
            "000100010000000100000000",  // SYN
            "000100040000000100000000",  // FIN
            "00000000000000010000000161"  // data on the closed direction
        )
    }

    @Test func badInputDataBeyondTheWindow() throws {
        var frames = ByteBuffer()
        frames.writeYamuxFrameHeader(.windowUpdate(streamID: 1, flags: .syn, delta: 0))
        frames.writeYamuxDataFrame(streamID: 1, payload: .pattern(initialWindow))
        frames.writeYamuxDataFrame(streamID: 1, payload: .pattern(1))
        try expectViolation(.receiveWindowExceeded, frames.hexString)
    }

    @Test func badInputFirstDataSYNLargerThan256KiB() throws {
        var frames = ByteBuffer()
        frames.writeYamuxDataFrame(streamID: 1, flags: .syn, payload: .pattern(initialWindow + 1))
        try expectViolation(.receiveWindowExceeded, frames.hexString)
    }

    // MARK: - A Data header checked before its body arrives

    @Test func dataHeaderWithinTheWindowIsAcceptedBeforeItsBody() throws {
        var session = YamuxSessionStateMachine(role: .responder)
        _ = session.receivedFrame(YamuxFrame(header: .windowUpdate(streamID: 1, flags: .syn, delta: 0)), now: .now())
        let header = YamuxFrameHeader.data(streamID: 1, flags: [], length: UInt32(initialWindow))
        guard case .none = session.receivedDataHeader(header) else {
            Issue.record("a body that fits the window was refused")
            return
        }
        #expect(session.isActive)
    }

    @Test(arguments: [
        // A live stream with its 256 KiB window: one byte more.
        ("live stream", [YamuxFrameHeader.windowUpdate(streamID: 1, flags: .syn, delta: 0)],
         YamuxFrameHeader.data(streamID: 1, flags: [], length: UInt32(initialWindow + 1))),
        // A stream the frame itself opens: it has the 256 KiB every stream starts with.
        ("opening SYN", [], YamuxFrameHeader.data(streamID: 1, flags: .syn, length: UInt32(initialWindow + 1))),
        // A stream that is gone: no stream of this session ever had more than 256 KiB.
        ("gone stream",
         [YamuxFrameHeader.windowUpdate(streamID: 1, flags: .syn, delta: 0), .windowUpdate(streamID: 1, flags: .rst, delta: 0)],
         YamuxFrameHeader.data(streamID: 1, flags: [], length: 16 * 1024 * UInt32(kib))),
    ])
    func dataHeaderLongerThanTheWindowFailsTheSessionBeforeItsBody(
        name: String,
        before: [YamuxFrameHeader],
        header: YamuxFrameHeader
    ) throws {
        var session = YamuxSessionStateMachine(role: .responder)
        for frame in before { _ = session.receivedFrame(YamuxFrame(header: frame), now: .now()) }
        guard case .protocolViolation(let error, let goAway) = session.receivedDataHeader(header) else {
            Issue.record("\(name): a body longer than the window was accepted")
            return
        }
        #expect(error.code == .receiveWindowExceeded, "\(name)")
        #expect(goAway == .goAway(.protocolError))
        #expect(!session.isActive)
    }

    @Test func dataHeaderForAStreamNobodyOpenedFailsAtOnce() throws {
        var session = YamuxSessionStateMachine(role: .responder)
        let header = YamuxFrameHeader.data(streamID: 9, flags: [], length: 1000)
        guard case .protocolViolation(let error, _) = session.receivedDataHeader(header) else {
            Issue.record("data for a stream nobody opened was accepted")
            return
        }
        #expect(error.code == .unknownStream)
    }

    @Test func badInputWindowOverflow() throws {
        try expectViolation(
            .windowOverflow,
            "000100010000000100000000",
            "0001000000000001fffc0000"  // 256 KiB + (2^32 - 256 KiB) > 2^32 - 1
        )
    }

    @Test func badInputSYNWithTheWrongParity() throws {
        // The server gets a SYN for stream 2, an even (server) ID: "both endpoints are clients".
        try expectViolation(.streamIDParity, "000100010000000200000000")
    }

    @Test func badInputDuplicateSYNForALiveStream() throws {
        try expectViolation(.streamIDReused, "000100010000000300000000", "000100010000000300000000")
    }

    @Test func badInputSYNReusingAClosedStreamID() throws {
        try expectViolation(
            .streamIDReused,
            "000100010000000500000000",
            "000100080000000500000000",  // reset: stream 5 is gone
            "000100010000000500000000"  // opened again
        )
    }

    @Test func badInputSYNBelowTheHighestID() throws {
        try expectViolation(.streamIDReused, "000100010000000700000000", "000100010000000300000000")
    }

    @Test func badInputDataFrameTooLargeForTheDecoder() throws {
        try expectViolation(.frameTooLarge, "000000010000000101000001")
    }

    @Test func afterAViolationFurtherInputIsIgnored() throws {
        var server = YamuxTestPeer(role: .responder)
        server.receive(try ByteBuffer(hex: "000100010000000200000000"))
        #expect(server.violation?.code == .streamIDParity)
        _ = server.takeOutbound()
        server.receive(try ByteBuffer(hex: "000100010000000100000000000200010000000000000001"))
        #expect(server.opened.isEmpty)
        #expect(server.outbound.readableBytes == 0)
        #expect(server.session.openStreamError?.code == .sessionClosed)
    }

    // MARK: - Races, not errors (docs/wire.md §7.3)

    @Test func raceDataForAStreamWeResetIsDrained() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        let streamID = try client.open()
        pump(&client, &server)
        // The server resets while the client's data is already on its way.
        server.send(server.session.resetStream(streamID))
        try client.sendData(.pattern(1000), on: streamID, close: true)
        server.receive(client.takeOutbound())
        #expect(server.violation == nil)
        #expect(server.received[streamID] == nil)
        #expect(server.outbound.readableBytes == 12)  // only the RST
        client.receive(server.takeOutbound())
        #expect(client.reset == [streamID])
        // The session goes on.
        let next = try client.open()
        pump(&client, &server)
        #expect(server.opened == [streamID, next])
    }

    /// Two peers whose one stream both sides have closed (client sent "a", server "b", each with
    /// FIN), so that the stream is forgotten.
    func peersWithAStreamClosedByBothSides() throws -> (client: YamuxTestPeer, server: YamuxTestPeer, streamID: UInt32) {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        let streamID = try client.open()
        try client.sendData(ByteBuffer(string: "a"), on: streamID, close: true)
        pump(&client, &server)
        try server.sendData(ByteBuffer(string: "b"), on: streamID, close: true)
        pump(&client, &server)
        return (client, server, streamID)
    }

    @Test func raceWindowUpdateAfterBothSidesClosedIsIgnored() throws {
        var (client, server, streamID) = try self.peersWithAStreamClosedByBothSides()
        #expect(client.closed == [streamID])
        #expect(server.session.streamCount == 0 && client.session.streamCount == 0)
        server.receive(windowUpdate(streamID, delta: 1))
        #expect(server.violation == nil)
        #expect(server.outbound.readableBytes == 0)
    }

    @Test func raceDataAfterBothSidesClosedIsDrained() throws {
        var (client, server, streamID) = try self.peersWithAStreamClosedByBothSides()
        #expect(server.session.streamCount == 0)
        // The stream is gone: late data is drained, whoever is at fault, and the session goes on.
        var late = ByteBuffer()
        late.writeYamuxDataFrame(streamID: streamID, payload: .pattern(100))
        server.receive(late)
        #expect(server.violation == nil)
        #expect(server.received[streamID] == ByteBuffer(string: "a"))
        #expect(server.outbound.readableBytes == 0)
        #expect(try client.open() == streamID + 2)
    }

    @Test func raceFramesForAStreamThePeerResetAreIgnored() throws {
        var client = YamuxTestPeer(role: .initiator)
        var server = YamuxTestPeer(role: .responder)
        let streamID = try client.open()
        pump(&client, &server)
        client.send(client.session.resetStream(streamID))
        pump(&client, &server)
        #expect(server.reset == [streamID])
        var late = ByteBuffer()
        late.writeYamuxDataFrame(streamID: streamID, payload: .pattern(100))
        late.writeYamuxFrameHeader(.windowUpdate(streamID: streamID, delta: 100))
        late.writeYamuxFrameHeader(.windowUpdate(streamID: streamID, flags: .fin, delta: 0))
        server.receive(late)
        #expect(server.violation == nil)
        #expect(server.received[streamID] == nil)
        #expect(server.outbound.readableBytes == 0)
    }

    @Test func raceFramesForAStreamWeRefusedAreIgnored() throws {
        var server = YamuxTestPeer(role: .responder)
        server.autoAccept = false
        _ = server.session.goAway()
        server.receive(try ByteBuffer(hex: "0000000100000001000000026869"))
        #expect(server.refused == [1])
        server.receive(try ByteBuffer(hex: "00000000000000010000000161"))
        #expect(server.violation == nil)
    }

    @Test func raceACKForAStreamWeAlreadyResetIsIgnored() throws {
        var client = YamuxTestPeer(role: .initiator)
        let streamID = try client.open()
        client.send(client.session.resetStream(streamID))
        client.receive(windowUpdateACK(streamID))
        #expect(client.violation == nil)
        #expect(client.acknowledged.isEmpty)
        #expect(client.session.streamCount == 0)
    }
}

// MARK: - Helpers

private func windowUpdate(_ streamID: UInt32, delta: UInt32) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeYamuxFrameHeader(.windowUpdate(streamID: streamID, delta: delta))
    return buffer
}

private func windowUpdateACK(_ streamID: UInt32) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeYamuxFrameHeader(.windowUpdate(streamID: streamID, flags: .ack, delta: 0))
    return buffer
}

/// Feeds `frames` (hex) to a server-side session, whole and then one byte at a time into a fresh session: each
/// must end in `code`, answered with Go Away (protocol error) as the last frame sent.
private func expectViolation(
    _ code: YamuxError.Code,
    _ frames: String...,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    for byteAtATime in [false, true] {
        var server = YamuxTestPeer(role: .responder)
        server.autoConsume = false
        var decoder = YamuxFrameDecoder(maximumBodyLength: 1 << 20)
        swap(&decoder, &server.decoder)
        for frame in frames { server.receive(try ByteBuffer(hex: frame), byteAtATime: byteAtATime) }
        #expect(server.violation?.code == code, sourceLocation: sourceLocation)
        #expect(server.violation?.isProtocolViolation == true, sourceLocation: sourceLocation)
        let sent = server.takeOutbound()
        #expect(
            sent.getSlice(at: sent.readableBytes - 12, length: 12)?.hexString == "000300000000000000000001",
            sourceLocation: sourceLocation
        )
        #expect(!server.session.isActive, sourceLocation: sourceLocation)
        #expect(server.session.streamCount == 0, sourceLocation: sourceLocation)
    }
}
