import Multistream
import NIOCore
import P2PCore
import TestSupport
import Testing

/// The listener machine alone: its answers, what it hands on, and each hostile dialer with its
/// typed error.
@Suite struct MultistreamListenerStateMachineTests {
    static let header = "132f6d756c746973747265616d2f312e302e300a"
    static let noise = "072f6e6f6973650a"
    static let na = "036e610a"

    func startedListener(
        _ protocols: [ProtocolID] = [.noise],
        maximumProposals: Int = MultistreamListenerStateMachine.defaultMaximumProposals
    ) -> MultistreamListenerStateMachine {
        var listener = MultistreamListenerStateMachine(protocols: protocols, maximumProposals: maximumProposals)
        var output = ByteBuffer()
        _ = listener.start(output: &output)
        return listener
    }

    func expectRefused(
        _ hex: String,
        _ code: MultistreamError.Code,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var listener = self.startedListener()
        var output = ByteBuffer()
        let error = #expect(throws: MultistreamError.self, sourceLocation: sourceLocation) {
            try listener.receivedBytes(try ByteBuffer(hex: hex), output: &output)
        }
        #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
    }

    // MARK: - Normal operation

    @Test func startSendsHeaderImmediatelyByDefault() {
        var listener = MultistreamListenerStateMachine(protocols: [.noise])
        var output = ByteBuffer()
        #expect(listener.start(output: &output) == .send)
        #expect(output.hexString == Self.header)
    }

    @Test func startCanWaitForTheDialersHeader() {
        var listener = MultistreamListenerStateMachine(protocols: [.noise], sendsHeaderImmediately: false)
        var output = ByteBuffer()
        #expect(listener.start(output: &output) == .wait)
        #expect(output.readableBytes == 0)
    }

    /// A lazy dialer's whole first flight: the Noise message behind the proposal is leftover.
    @Test func bytesBehindTheAcceptedProposalAreLeftover() throws {
        var listener = self.startedListener([.tls, .noise])
        var output = ByteBuffer()
        let action = try listener.receivedBytes(try ByteBuffer(hex: Self.header + Self.noise + "0020aabbcc"), output: &output)
        #expect(action == .negotiated(.noise, leftover: try ByteBuffer(hex: "0020aabbcc")))
        #expect(output.hexString == Self.noise)
    }

    @Test func unknownProtocolIsAnsweredWithNaAndTheListenerLoops() throws {
        var listener = self.startedListener()
        var output = ByteBuffer()
        #expect(try listener.receivedBytes(try ByteBuffer(hex: Self.header + "0b2f746c732f312e302e300a"), output: &output) == .wait)
        #expect(output.hexString == Self.na)
        output.clear()
        #expect(try listener.receivedBytes(try ByteBuffer(hex: Self.noise), output: &output) == .negotiated(.noise, leftover: nil))
        #expect(output.hexString == Self.noise)
    }

    @Test func lsIsAnsweredWithTheListFormat() throws {
        var listener = self.startedListener([.noise, .yamux])
        var output = ByteBuffer()
        #expect(try listener.receivedBytes(try ByteBuffer(hex: Self.header + "036c730a"), output: &output) == .wait)
        // wire_examples.json: "ls" response listing /noise and /yamux/1.0.0.
        #expect(output.hexString == "17072f6e6f6973650a0d2f79616d75782f312e302e300a0a")
    }

    @Test func lsIsAnsweredWithNaWhenDisabled() throws {
        var listener = MultistreamListenerStateMachine(protocols: [.noise], answersListRequests: false)
        var output = ByteBuffer()
        _ = listener.start(output: &output)
        output.clear()
        #expect(try listener.receivedBytes(try ByteBuffer(hex: Self.header + "036c730a"), output: &output) == .wait)
        #expect(output.hexString == Self.na)
    }

    // MARK: - Hostile dialers, one test per case

    @Test func refusesProposalWithoutHeader() throws {
        try self.expectRefused(Self.noise, .invalidHeader)
    }

    @Test func refusesProposalWithoutLeadingSlash() throws {
        try self.expectRefused(Self.header + "066e6f6973650a", .invalidProtocolID)
    }

    @Test func refusesNaFromDialer() throws {
        try self.expectRefused(Self.header + Self.na, .unexpectedMessage)
    }

    @Test func refusesSecondHeader() throws {
        try self.expectRefused(Self.header + Self.header, .unexpectedMessage)
    }

    @Test func refusesOversizeProposal() throws {
        try self.expectRefused(Self.header + "ff7f", .messageTooLong)
    }

    @Test func refusesBadVarint() throws {
        try self.expectRefused(Self.header + String(repeating: "80", count: 10), .malformedVarint)
    }

    @Test func refusesEmptyMessage() throws {
        try self.expectRefused(Self.header + "00", .emptyMessage)
    }

    @Test func refusesProposalWithoutNewline() throws {
        try self.expectRefused(Self.header + "072f6e6f69736520", .missingNewline)
    }

    /// The spec's responder loops without limit; this one stops after `maximumProposals`.
    @Test func boundsTheNumberOfProposals() throws {
        var listener = self.startedListener(maximumProposals: 3)
        var flight = try ByteBuffer(hex: Self.header)
        for index in 0..<4 { flight.writeMultistreamMessage(.protocol(ProtocolID("/unknown/\(index)"))) }
        var output = ByteBuffer()
        let error = #expect(throws: MultistreamError.self) { try listener.receivedBytes(flight, output: &output) }
        #expect(error?.code == .tooManyProposals)
        #expect(output.hexString == Self.na + Self.na + Self.na)
    }

    @Test func defaultProposalBoundIsNamed() throws {
        #expect(MultistreamListenerStateMachine.defaultMaximumProposals == 32)
        var listener = self.startedListener()
        var flight = try ByteBuffer(hex: Self.header)
        for index in 0...32 { flight.writeMultistreamMessage(index % 2 == 0 ? .ls : .protocol(ProtocolID("/x/\(index)"))) }
        var output = ByteBuffer()
        let error = #expect(throws: MultistreamError.self) { try listener.receivedBytes(flight, output: &output) }
        #expect(error?.code == .tooManyProposals)
    }

    @Test func reportsTruncatedProposalAtEndOfInput() throws {
        var listener = self.startedListener()
        var output = ByteBuffer()
        #expect(try listener.receivedBytes(try ByteBuffer(hex: Self.header + "072f6e"), output: &output) == .wait)
        let error = #expect(throws: MultistreamError.self) { try listener.inputClosed() }
        #expect(error?.code == .truncatedMessage)
    }

    @Test func reportsEndOfInputAfterNa() throws {
        var listener = self.startedListener()
        var output = ByteBuffer()
        #expect(try listener.receivedBytes(try ByteBuffer(hex: Self.header + "0b2f746c732f312e302e300a"), output: &output) == .wait)
        let error = #expect(throws: MultistreamError.self) { try listener.inputClosed() }
        #expect(error?.code == .connectionClosed)
        #expect(error?.diagnostics.contains("1 proposal") == true)
    }
}
