import Multistream
import NIOCore
import P2PCore
import TestSupport
import Testing

/// The dialer machine alone: what it sends, what it hands on, and each hostile answer with its
/// typed error.
@Suite struct MultistreamDialerStateMachineTests {
    static let header = "132f6d756c746973747265616d2f312e302e300a"
    static let noise = "072f6e6f6973650a"

    /// A strict dialer for `/noise`, started, with its first flight checked.
    func startedDialer(
        _ protocols: [ProtocolID] = [.noise],
        mode: MultistreamDialerStateMachine.Mode = .strict
    ) -> MultistreamDialerStateMachine {
        var dialer = MultistreamDialerStateMachine(protocols: protocols, mode: mode)
        var output = ByteBuffer()
        _ = dialer.start(output: &output)
        return dialer
    }

    func feed(_ dialer: inout MultistreamDialerStateMachine, hex: String) throws -> MultistreamDialerStateMachine.ReceivedBytesAction {
        var output = ByteBuffer()
        let action = try dialer.receivedBytes(try ByteBuffer(hex: hex), output: &output)
        return action
    }

    func expectRefused(
        _ hex: String,
        _ code: MultistreamError.Code,
        protocols: [ProtocolID] = [.noise],
        mode: MultistreamDialerStateMachine.Mode = .strict,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var dialer = self.startedDialer(protocols, mode: mode)
        var output = ByteBuffer()
        let error = #expect(throws: MultistreamError.self, sourceLocation: sourceLocation) {
            try dialer.receivedBytes(try ByteBuffer(hex: hex), output: &output)
        }
        #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
    }

    // MARK: - Normal operation

    @Test func startWritesHeaderAndFirstProposalTogether() throws {
        var dialer = MultistreamDialerStateMachine(protocols: [.noise, .tls])
        var output = ByteBuffer()
        #expect(dialer.start(output: &output) == .send)
        #expect(output.hexString == Self.header + Self.noise)
        #expect(dialer.remainingProtocols == [.noise, .tls])
    }

    @Test func lazyStartWithOneCandidateProceedsOptimistically() throws {
        var dialer = MultistreamDialerStateMachine(protocols: [.noise], mode: .lazy)
        var output = ByteBuffer()
        #expect(dialer.start(output: &output) == .sendAndProceedOptimistically(.noise))
        #expect(output.hexString == Self.header + Self.noise)
    }

    @Test func lazyStartWithSeveralCandidatesWaits() throws {
        var dialer = MultistreamDialerStateMachine(protocols: [.tls, .noise], mode: .lazy)
        var output = ByteBuffer()
        #expect(dialer.start(output: &output) == .send)
    }

    @Test func headerAndEchoMayArriveSeparately() throws {
        var dialer = self.startedDialer()
        #expect(try self.feed(&dialer, hex: Self.header) == .wait)
        #expect(try self.feed(&dialer, hex: Self.noise) == .negotiated(.noise, leftover: nil))
    }

    /// Bytes behind the echo (the listener's Noise message 2, say) are handed on, not consumed.
    @Test func bytesBehindTheEchoAreLeftover() throws {
        var dialer = self.startedDialer()
        let action = try self.feed(&dialer, hex: Self.header + Self.noise + "00300102")
        #expect(action == .negotiated(.noise, leftover: try ByteBuffer(hex: "00300102")))
    }

    @Test func lazyEchoIsConfirmedWithLeftover() throws {
        var dialer = self.startedDialer(mode: .lazy)
        #expect(try self.feed(&dialer, hex: Self.header + Self.noise + "aa") == .confirmed(.noise, leftover: try ByteBuffer(hex: "aa")))
    }

    @Test func naMovesToTheNextCandidate() throws {
        var dialer = self.startedDialer([.tls, .noise])
        var output = ByteBuffer()
        #expect(try dialer.receivedBytes(try ByteBuffer(hex: Self.header + "036e610a"), output: &output) == .send)
        #expect(output.hexString == Self.noise)
        #expect(dialer.remainingProtocols == [.noise])
    }

    // MARK: - Hostile or failed answers, one test per case

    @Test func refusesAnswerWithoutHeader() throws {
        try self.expectRefused(Self.noise, .invalidHeader)
    }

    @Test func refusesWrongHeaderVersion() throws {
        var wrong = ByteBuffer()
        wrong.writeMultistreamMessage(.protocol("/multistream/2.0.0"))
        try self.expectRefused(wrong.hexString, .invalidHeader)
    }

    @Test func refusesEchoOfAnotherProtocol() throws {
        try self.expectRefused(Self.header + "0b2f746c732f312e302e300a", .protocolMismatch)
    }

    @Test func refusesSecondHeader() throws {
        try self.expectRefused(Self.header + Self.header, .unexpectedMessage)
    }

    @Test func refusesLsFromListener() throws {
        try self.expectRefused(Self.header + "036c730a", .unexpectedMessage)
    }

    @Test func refusesAnswerThatIsNotAProtocolID() throws {
        try self.expectRefused(Self.header + "066e6f6973650a", .invalidProtocolID)  // "noise"
    }

    @Test func refusesOversizeAnswer() throws {
        try self.expectRefused(Self.header + "8108", .messageTooLong)
    }

    @Test func refusesBadVarint() throws {
        try self.expectRefused(Self.header + "8700", .malformedVarint)
    }

    @Test func refusesEmptyMessage() throws {
        try self.expectRefused(Self.header + "00", .emptyMessage)
    }

    @Test func refusesAnswerWithoutNewline() throws {
        try self.expectRefused(Self.header + "072f6e6f69736521", .missingNewline)
    }

    @Test func reportsNoProtocolSupportedAfterLastNa() throws {
        try self.expectRefused(Self.header + "036e610a", .noProtocolSupported)
    }

    @Test func lazyReportsNaAsRejectionOfTheProtocol() throws {
        var dialer = self.startedDialer(mode: .lazy)
        var output = ByteBuffer()
        let error = #expect(throws: MultistreamError.self) {
            try dialer.receivedBytes(try ByteBuffer(hex: Self.header + "036e610a"), output: &output)
        }
        #expect(error?.code == .protocolRejected)
        #expect(error?.protocols == [.noise])
    }

    @Test func refusesMalformedListResponse() throws {
        var dialer = MultistreamDialerStateMachine(protocols: [.noise], requestsProtocolList: true)
        var output = ByteBuffer()
        #expect(dialer.start(output: &output) == .send)
        #expect(output.hexString == Self.header + "036c730a")
        output.clear()
        // One entry, "noise", which does not start with '/': 08 | 06 "noise" 0a | 0a.
        let error = #expect(throws: MultistreamError.self) {
            try dialer.receivedBytes(try ByteBuffer(hex: Self.header + "08" + "066e6f6973650a" + "0a"), output: &output)
        }
        #expect(error?.code == .malformedListResponse)
    }

    @Test func reportsTruncatedAnswerAtEndOfInput() throws {
        var dialer = self.startedDialer()
        #expect(try self.feed(&dialer, hex: Self.header + "072f6e6f") == .wait)
        let error = #expect(throws: MultistreamError.self) { try dialer.inputClosed() }
        #expect(error?.code == .truncatedMessage)
    }

    @Test func reportsEndOfInputBeforeAnswer() throws {
        var dialer = self.startedDialer()
        #expect(try self.feed(&dialer, hex: Self.header) == .wait)
        let error = #expect(throws: MultistreamError.self) { try dialer.inputClosed() }
        #expect(error?.code == .connectionClosed)
    }

    @Test func endOfInputAfterNegotiationIsNotAnError() throws {
        var dialer = self.startedDialer()
        _ = try self.feed(&dialer, hex: Self.header + Self.noise)
        try dialer.inputClosed()
    }
}
