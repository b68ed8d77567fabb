import NIOCore
import P2PCore

/// The listener (responder) side of multistream-select 1.0, as a pure state machine: bytes in,
/// actions and bytes out; no channel, no clock, no I/O (docs/wire.md §2.2–§2.4).
///
/// ### Exchange
/// 1. The header: sent by ``start(output:)`` when `sendsHeaderImmediately` (go's listener writes
///    it before reading anything), otherwise together with the first answer once the dialer's
///    header arrived (rust's listener). Both are compatible with every dialer.
/// 2. Each proposal gets the same ID back (accepted, negotiation over) or `na`. `ls` gets the
///    list of supported protocols (§2.3), or `na` when `answersListRequests` is off (go removed `ls`).
/// 3. The bytes behind the accepted proposal belong to the next protocol (a lazy dialer sends
///    Noise message 1 right behind it): the machine never reads past the proposal and hands them
///    over as `leftover`.
///
/// ### Bounds
/// The spec lets a responder loop without limit after `na`; a hostile dialer could then keep a
/// connection busy forever. This machine allows ``defaultMaximumProposals`` proposals and `ls`
/// requests (configurable) and then fails with ``MultistreamError/Code/tooManyProposals``.
///
/// ### Output
/// Every method appends the bytes to send to `output`. The caller sends `output` whenever it is
/// non-empty, before acting on the returned action (the echo must precede next-layer bytes).
public struct MultistreamListenerStateMachine {
    /// How many proposals (and `ls` requests) a dialer may make before the listener gives up: 32.
    ///
    /// Not from the spec, which says the responder loops without limit (connections spec,
    /// "Protocol Negotiation"; go and rust do). Honest dialers stop far sooner: go-libp2p proposes
    /// at most its 2 security protocols and 1 muxer.
    public static let defaultMaximumProposals = 32

    /// What to do after ``start(output:)``.
    public enum StartAction: Hashable, Sendable {
        /// Send `output` (the header), then wait for the dialer.
        case send
        /// Nothing to send yet; wait for the dialer's header.
        case wait
    }

    /// What to do after ``receivedBytes(_:output:)``.
    public enum ReceivedBytesAction: Hashable, Sendable {
        /// Wait for more bytes (sending `output` first if it is non-empty: header, `na`, `ls` answer).
        case wait
        /// The dialer's proposal was accepted and `output` holds the echo: send it, then start the
        /// next layer and give it `leftover`, the bytes that arrived behind the proposal.
        case negotiated(ProtocolID, leftover: ByteBuffer?)
    }

    private enum State {
        /// ``start(output:)`` not called yet.
        case idle
        /// Waiting for the dialer's header.
        case awaitingHeader(sentHeader: Bool)
        /// Waiting for a proposal or `ls`; `proposals` counts those answered so far.
        case awaitingProposal(proposals: Int)
        /// Done; no more input is taken.
        case negotiated(ProtocolID)
        /// A typed error was thrown; no more input is taken.
        case failed
    }

    private var state: State = .idle
    private let supported: [MultistreamEncodedProtocol]
    /// The whole `ls` response message, built once; `nil` when `ls` is answered with `na`.
    private let listResponseFrame: ByteBuffer?
    private let sendsHeaderImmediately: Bool
    private let maximumProposals: Int
    /// Bytes of a message that has not fully arrived (at most one message plus what follows it).
    private var cumulation: ByteBuffer?

    /// Creates a listener accepting `protocols`.
    ///
    /// - Parameters:
    ///   - protocols: The supported protocols; their order is the order of the `ls` answer.
    ///   - sendsHeaderImmediately: Send the header at ``start(output:)`` (go) rather than with the
    ///     first answer (rust).
    ///   - answersListRequests: Answer `ls` with the list (rust, js); `false` answers `na` (go).
    ///   - maximumProposals: The bound on proposals and `ls` requests.
    /// - Precondition: every ID is valid (``MultistreamEncodedProtocol/isValid(_:)``), their `ls`
    ///   response fits in ``MultistreamFrameDecoder/maximumMessageLength``, and
    ///   `maximumProposals > 0`.
    public init(
        protocols: [ProtocolID],
        sendsHeaderImmediately: Bool = true,
        answersListRequests: Bool = true,
        maximumProposals: Int = MultistreamListenerStateMachine.defaultMaximumProposals
    ) {
        self.init(
            encodedProtocols: protocols.map(MultistreamEncodedProtocol.init),
            sendsHeaderImmediately: sendsHeaderImmediately,
            answersListRequests: answersListRequests,
            maximumProposals: maximumProposals
        )
    }

    /// Creates a listener accepting pre-encoded `protocols` (no encoding work per connection but
    /// the `ls` answer).
    public init(
        encodedProtocols protocols: [MultistreamEncodedProtocol],
        sendsHeaderImmediately: Bool = true,
        answersListRequests: Bool = true,
        maximumProposals: Int = MultistreamListenerStateMachine.defaultMaximumProposals
    ) {
        precondition(maximumProposals > 0, "maximumProposals must be positive")
        self.supported = protocols
        if answersListRequests {
            var listResponse = ByteBuffer()
            listResponse.writeMultistreamMessage(.lsResponse(protocols.map(\.id)))
            self.listResponseFrame = listResponse
        } else {
            self.listResponseFrame = nil
        }
        self.sendsHeaderImmediately = sendsHeaderImmediately
        self.maximumProposals = maximumProposals
    }

    // MARK: - Events

    /// Starts negotiation: writes the header into `output` when the listener sends it immediately.
    ///
    /// - Precondition: called once, first.
    public mutating func start(output: inout ByteBuffer) -> StartAction {
        switch self.state {
        case .idle:
            if self.sendsHeaderImmediately {
                output.writeImmutableBuffer(MultistreamMessage.headerFrame)
                self.state = .awaitingHeader(sentHeader: true)
                return .send
            }
            self.state = .awaitingHeader(sentHeader: false)
            return .wait
        case .awaitingHeader, .awaitingProposal, .negotiated, .failed:
            preconditionFailure("start() called twice (state \(self.state))")
        }
    }

    /// Takes bytes from the dialer.
    ///
    /// Reads whole messages only; after accepting a proposal it stops, and the bytes behind it come
    /// back as `leftover`.
    ///
    /// - Throws: ``MultistreamError``: any framing error of
    ///   ``NIOCore/ByteBuffer/readMultistreamMessageBody(maximumLength:)``, `invalidHeader`,
    ///   `unexpectedMessage`, `invalidProtocolID`, `tooManyProposals`. The machine is then finished.
    /// - Precondition: after ``start(output:)`` and before negotiation finished or failed.
    public mutating func receivedBytes(_ bytes: ByteBuffer, output: inout ByteBuffer) throws(MultistreamError) -> ReceivedBytesAction {
        switch self.state {
        case .awaitingHeader, .awaitingProposal:
            break
        case .idle, .negotiated, .failed:
            preconditionFailure("receivedBytes() in state \(self.state)")
        }
        self.cumulation.multistreamAppend(bytes)
        do {
            while var buffer = self.cumulation {
                guard let body = try buffer.readMultistreamMessageBody() else {
                    self.cumulation = buffer
                    break
                }
                self.cumulation = buffer.readableBytes > 0 ? buffer : nil
                if let id = try self.receivedMessage(body, output: &output) {
                    defer { self.cumulation = nil }
                    return .negotiated(id, leftover: self.cumulation)
                }
            }
            return .wait
        } catch {
            self.state = .failed
            self.cumulation = nil
            throw error
        }
    }

    /// Reports the end of input (EOF or channel closed) before negotiation finished.
    ///
    /// rust-libp2p reports EOF right after its `na` as a failed negotiation rather than a protocol
    /// violation (docs/wire.md §2.5); here that is ``MultistreamError/Code/connectionClosed`` too.
    ///
    /// - Throws: ``MultistreamError`` with code `truncatedMessage` when a message was cut off,
    ///   `connectionClosed` otherwise. Does nothing once negotiation finished or failed.
    public mutating func inputClosed() throws(MultistreamError) {
        switch self.state {
        case .idle, .awaitingHeader, .awaitingProposal:
            let buffered = self.cumulation?.readableBytes ?? 0
            let during: String
            if case .awaitingProposal(let proposals) = self.state, proposals > 0 {
                during = "after the listener answered \(proposals) proposal(s) without agreement"
            } else {
                during = "before the dialer proposed a protocol"
            }
            self.state = .failed
            self.cumulation = nil
            if buffered > 0 { throw MultistreamError.truncatedMessage(buffered) }
            throw MultistreamError.connectionClosed(during)
        case .negotiated, .failed:
            return
        }
    }

    // MARK: - Messages

    /// Handles one message; returns the accepted protocol, if this message ended negotiation.
    private mutating func receivedMessage(_ body: ByteBuffer, output: inout ByteBuffer) throws(MultistreamError) -> ProtocolID? {
        switch self.state {
        case .awaitingHeader(let sentHeader):
            guard body == MultistreamMessage.headerBody else { throw MultistreamError.invalidHeader(body) }
            if !sentHeader { output.writeImmutableBuffer(MultistreamMessage.headerFrame) }
            self.state = .awaitingProposal(proposals: 0)
            return nil

        case .awaitingProposal(let proposals):
            // Known protocols first: a byte comparison each, no String.
            for candidate in self.supported where candidate.matches(body: body) {
                output.writeMultistreamProtocol(candidate)
                self.state = .negotiated(candidate.id)
                return candidate.id
            }
            guard proposals < self.maximumProposals else { throw MultistreamError.tooManyProposals(self.maximumProposals) }
            switch MultistreamBodyKind(body) {
            case .protocolID:
                output.writeImmutableBuffer(MultistreamMessage.naFrame)
            case .ls:
                output.writeImmutableBuffer(self.listResponseFrame ?? MultistreamMessage.naFrame)
            case .header:
                throw MultistreamError.unexpectedMessage("second /multistream/1.0.0 header from the dialer")
            case .na:
                throw MultistreamError.unexpectedMessage("na sent to the listener")
            case .other:
                throw MultistreamError.invalidProtocolID(body, "proposal does not start with '/' or holds a newline")
            }
            self.state = .awaitingProposal(proposals: proposals + 1)
            return nil

        case .idle, .negotiated, .failed:
            preconditionFailure("message in state \(self.state)")
        }
    }
}
