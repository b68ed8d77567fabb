import NIOCore
import P2PCore

/// The dialer (initiator) side of multistream-select 1.0, as a pure state machine: bytes in,
/// actions and bytes out; no channel, no clock, no I/O (docs/wire.md §2.2, §2.5).
///
/// ### Exchange
/// 1. ``start(output:)`` writes the header and the first proposal together (the pipelining the
///    multistream-select README recommends).
/// 2. ``receivedBytes(_:output:)`` takes whatever arrived: the listener's header, then its answer.
///    An echo of the proposal ends negotiation; `na` moves on to the next candidate, one round
///    trip each, and after the last one fails with ``MultistreamError/Code/noProtocolSupported``.
/// 3. The bytes behind the echo belong to the next protocol: the machine never reads past the
///    echo and hands them over as `leftover`.
///
/// ### Strict and lazy
/// In ``Mode/strict`` the dialer waits for the echo before the next layer may start. In
/// ``Mode/lazy`` (rust-libp2p `V1Lazy`, go's `lazyClientConn`), once exactly one candidate is left
/// the machine reports ``StartAction/sendAndProceedOptimistically(_:)``: the caller treats the
/// protocol as chosen and may send next-layer bytes right behind the proposal. The echo is then
/// checked as it arrives (``ReceivedBytesAction/confirmed(_:leftover:)``), and `na` fails with
/// ``MultistreamError/Code/protocolRejected`` naming the protocol.
///
/// ### Listing first
/// With `requestsProtocolList`, the dialer sends `ls` instead of a proposal, then proposes the first
/// of its candidates that the listener lists (no `na` round trips). A listener that answers `na`
/// to `ls` (go removed `ls`) gets ordinary proposals instead.
///
/// ### Output
/// Every method appends the bytes to send to `output`. The caller sends `output` whenever it is
/// non-empty, before acting on the returned action; actions named `send…` say that it grew. (A
/// listener that answers before it could have seen a proposal can make a single call both write a
/// proposal and finish, so `.negotiated` may come with bytes to send too.)
public struct MultistreamDialerStateMachine {
    /// When the next layer may start.
    public enum Mode: Hashable, Sendable {
        /// Wait for the listener's echo (the spec's exchange).
        case strict
        /// With one candidate left, start the next layer without waiting for the echo.
        case lazy
    }

    /// What to do after ``start(output:)``.
    public enum StartAction: Hashable, Sendable {
        /// Send `output` (header and first proposal, or header and `ls`), then wait for the answer.
        case send
        /// Send `output` (header and the only proposal), then start the next layer at once: its
        /// bytes may follow the proposal in the same write (lazy mode).
        case sendAndProceedOptimistically(ProtocolID)
    }

    /// What to do after ``receivedBytes(_:output:)``.
    public enum ReceivedBytesAction: Hashable, Sendable {
        /// Nothing to send; wait for more bytes.
        case wait
        /// Send `output` (the next proposal after `na`), then wait.
        case send
        /// Send `output` (the last remaining proposal), then start the next layer at once (lazy mode).
        case sendAndProceedOptimistically(ProtocolID)
        /// The listener accepted the protocol: start the next layer and give it `leftover`, the
        /// bytes that arrived behind the echo.
        case negotiated(ProtocolID, leftover: ByteBuffer?)
        /// The listener accepted the protocol already in use optimistically: give `leftover` to the
        /// next layer; negotiation is over.
        case confirmed(ProtocolID, leftover: ByteBuffer?)
    }

    private enum State {
        /// ``start(output:)`` not called yet.
        case idle
        /// `ls` sent; waiting for the header (if not yet seen) and the list.
        case sentListRequest(receivedHeader: Bool)
        /// The proposal of `candidates[index]` sent; waiting for the header (if not yet seen) and
        /// the answer. `optimistic`: the next layer already runs (lazy mode).
        case sentProposal(index: Int, receivedHeader: Bool, optimistic: Bool)
        /// Done; no more input is taken.
        case negotiated(ProtocolID)
        /// A typed error was thrown; no more input is taken.
        case failed
    }

    private var state: State = .idle
    /// The protocols to propose, in preference order; narrowed by an `ls` response.
    private var candidates: [MultistreamEncodedProtocol]
    private let mode: Mode
    private let requestsProtocolList: Bool
    /// Bytes of a message that has not fully arrived (at most one message plus what follows it).
    private var cumulation: ByteBuffer?

    /// Creates a dialer proposing `protocols` in order.
    ///
    /// - Parameters:
    ///   - protocols: The candidates, most preferred first.
    ///   - mode: ``Mode/strict`` (wait for every echo) or ``Mode/lazy`` (optimistic last candidate).
    ///   - requestsProtocolList: Send `ls` first and propose only a protocol the listener lists.
    /// - Precondition: `protocols` is not empty and every ID is valid
    ///   (``MultistreamEncodedProtocol/isValid(_:)``).
    public init(protocols: [ProtocolID], mode: Mode = .strict, requestsProtocolList: Bool = false) {
        self.init(encodedProtocols: protocols.map(MultistreamEncodedProtocol.init), mode: mode,
                  requestsProtocolList: requestsProtocolList)
    }

    /// Creates a dialer proposing pre-encoded `protocols` in order (no encoding work per connection).
    ///
    /// - Precondition: `protocols` is not empty.
    public init(encodedProtocols protocols: [MultistreamEncodedProtocol], mode: Mode = .strict,
                requestsProtocolList: Bool = false) {
        precondition(!protocols.isEmpty, "a multistream-select dialer needs at least one protocol to propose")
        self.candidates = protocols
        self.mode = mode
        self.requestsProtocolList = requestsProtocolList
    }

    /// The protocols still to be tried, most preferred first.
    public var remainingProtocols: [ProtocolID] {
        switch self.state {
        case .idle, .sentListRequest:
            return self.candidates.map(\.id)
        case .sentProposal(let index, _, _):
            return self.candidates[index...].map(\.id)
        case .negotiated, .failed:
            return []
        }
    }

    // MARK: - Events

    /// Starts negotiation: writes the header and the first proposal (or `ls`) into `output`.
    ///
    /// - Precondition: called once, first.
    public mutating func start(output: inout ByteBuffer) -> StartAction {
        switch self.state {
        case .idle:
            output.writeImmutableBuffer(MultistreamMessage.headerFrame)
            if self.requestsProtocolList {
                output.writeImmutableBuffer(MultistreamMessage.lsFrame)
                self.state = .sentListRequest(receivedHeader: false)
                return .send
            }
            return self.propose(index: 0, receivedHeader: false, output: &output) ? .sendAndProceedOptimistically(self.candidates[0].id) : .send
        case .sentListRequest, .sentProposal, .negotiated, .failed:
            preconditionFailure("start() called twice (state \(self.state))")
        }
    }

    /// Takes bytes from the listener.
    ///
    /// Reads whole messages only; after the echo it stops, and the bytes behind it come back as
    /// `leftover`.
    ///
    /// - Throws: ``MultistreamError``: any framing error of
    ///   ``NIOCore/ByteBuffer/readMultistreamMessageBody(maximumLength:)``, `invalidHeader`,
    ///   `unexpectedMessage`, `protocolMismatch`, `invalidProtocolID`, `malformedListResponse`,
    ///   `noProtocolSupported`, `protocolRejected`. The machine is then finished.
    /// - Precondition: after ``start(output:)`` and before negotiation finished or failed.
    public mutating func receivedBytes(_ bytes: ByteBuffer, output: inout ByteBuffer) throws(MultistreamError) -> ReceivedBytesAction {
        switch self.state {
        case .sentListRequest, .sentProposal:
            break
        case .idle, .negotiated, .failed:
            preconditionFailure("receivedBytes() in state \(self.state)")
        }
        self.cumulation.multistreamAppend(bytes)
        do {
            var sent = false
            var proceeded: ProtocolID? = nil
            while var buffer = self.cumulation {
                guard let body = try buffer.readMultistreamMessageBody() else {
                    self.cumulation = buffer
                    break
                }
                self.cumulation = buffer.readableBytes > 0 ? buffer : nil
                switch try self.receivedMessage(body, output: &output) {
                case .wait:
                    break
                case .send:
                    sent = true
                case .sendAndProceedOptimistically(let id):
                    sent = true
                    proceeded = id
                case .negotiated(let id):
                    return .negotiated(id, leftover: self.takeLeftover())
                case .confirmed(let id):
                    // Proceeding and confirming in one call: the caller has not started the next
                    // layer yet, so for it this is a plain negotiation.
                    if proceeded != nil { return .negotiated(id, leftover: self.takeLeftover()) }
                    return .confirmed(id, leftover: self.takeLeftover())
                }
            }
            if let proceeded { return .sendAndProceedOptimistically(proceeded) }
            return sent ? .send : .wait
        } catch {
            self.state = .failed
            self.cumulation = nil
            throw error
        }
    }

    /// Reports the end of input (EOF or channel closed) before negotiation finished.
    ///
    /// - Throws: ``MultistreamError`` with code `truncatedMessage` when a message was cut off,
    ///   `connectionClosed` otherwise. Does nothing once negotiation finished or failed.
    public mutating func inputClosed() throws(MultistreamError) {
        switch self.state {
        case .idle, .sentListRequest, .sentProposal:
            let buffered = self.cumulation?.readableBytes ?? 0
            self.state = .failed
            self.cumulation = nil
            if buffered > 0 { throw MultistreamError.truncatedMessage(buffered) }
            throw MultistreamError.connectionClosed("before the listener answered the dialer's proposal")
        case .negotiated, .failed:
            return
        }
    }

    // MARK: - Messages

    private enum MessageAction {
        case wait
        case send
        case sendAndProceedOptimistically(ProtocolID)
        case negotiated(ProtocolID)
        case confirmed(ProtocolID)
    }

    private mutating func receivedMessage(_ body: ByteBuffer, output: inout ByteBuffer) throws(MultistreamError) -> MessageAction {
        switch self.state {
        case .sentListRequest(receivedHeader: false), .sentProposal(_, receivedHeader: false, _):
            guard body == MultistreamMessage.headerBody else { throw MultistreamError.invalidHeader(body) }
            self.markHeaderReceived()
            return .wait

        case .sentListRequest(receivedHeader: true):
            switch MultistreamBodyKind(body) {
            case .na:
                // The listener does not do `ls` (go): propose as if we had never asked.
                return self.propose(index: 0, receivedHeader: true, output: &output)
                    ? .sendAndProceedOptimistically(self.candidates[0].id) : .send
            case .other:
                let listed = try MultistreamMessage.parseListResponse(body)
                let all = self.candidates
                self.candidates = all.filter { listed.contains($0.id) }
                guard !self.candidates.isEmpty else { throw MultistreamError.noProtocolSupported(all.map(\.id)) }
                return self.propose(index: 0, receivedHeader: true, output: &output)
                    ? .sendAndProceedOptimistically(self.candidates[0].id) : .send
            case .header, .ls, .protocolID:
                throw MultistreamError.unexpectedMessage("expected an ls response, got \(body.multistreamDebugText)")
            }

        case .sentProposal(let index, receivedHeader: true, let optimistic):
            let proposed = self.candidates[index]
            if proposed.matches(body: body) {
                self.state = .negotiated(proposed.id)
                return optimistic ? .confirmed(proposed.id) : .negotiated(proposed.id)
            }
            switch MultistreamBodyKind(body) {
            case .na:
                if optimistic { throw MultistreamError.protocolRejected(proposed.id) }
                let next = index + 1
                guard next < self.candidates.count else {
                    throw MultistreamError.noProtocolSupported(self.candidates.map(\.id))
                }
                return self.propose(index: next, receivedHeader: true, output: &output)
                    ? .sendAndProceedOptimistically(self.candidates[next].id) : .send
            case .protocolID:
                throw MultistreamError.protocolMismatch(proposed: proposed.id, answer: body)
            case .header:
                throw MultistreamError.unexpectedMessage("second /multistream/1.0.0 header from the listener")
            case .ls:
                throw MultistreamError.unexpectedMessage("ls sent to the dialer")
            case .other:
                throw MultistreamError.invalidProtocolID(body, "answer to \(proposed.id) is neither na nor a protocol ID")
            }

        case .idle, .negotiated, .failed:
            preconditionFailure("message in state \(self.state)")
        }
    }

    /// Writes the proposal of `candidates[index]`; returns whether it goes out optimistically.
    private mutating func propose(index: Int, receivedHeader: Bool, output: inout ByteBuffer) -> Bool {
        output.writeMultistreamProtocol(self.candidates[index])
        let optimistic = self.mode == .lazy && index == self.candidates.count - 1
        self.state = .sentProposal(index: index, receivedHeader: receivedHeader, optimistic: optimistic)
        return optimistic
    }

    private mutating func markHeaderReceived() {
        switch self.state {
        case .sentListRequest:
            self.state = .sentListRequest(receivedHeader: true)
        case .sentProposal(let index, _, let optimistic):
            self.state = .sentProposal(index: index, receivedHeader: true, optimistic: optimistic)
        case .idle, .negotiated, .failed:
            preconditionFailure("header in state \(self.state)")
        }
    }

    private mutating func takeLeftover() -> ByteBuffer? {
        defer { self.cumulation = nil }
        return self.cumulation
    }
}

extension Optional where Wrapped == ByteBuffer {
    /// Appends `bytes` to the cumulation; takes `bytes` itself (no copy) when nothing is pending,
    /// as NIO's `ByteToMessageHandler` does.
    @usableFromInline
    mutating func multistreamAppend(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if var pending = self {
            self = nil  // keep `pending` uniquely referenced so the append can happen in place
            var bytes = bytes
            pending.writeBuffer(&bytes)
            self = pending
        } else {
            self = bytes
        }
    }
}
