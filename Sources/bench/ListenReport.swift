import Foundation
import NIOConcurrencyHelpers
import NIOCore
import P2PCore
import Upgrader

/// What `bench listen` prints about its inbound connections (docs/peers.md, "listen"): one line
/// per connection once its upgrade succeeded or failed, and a summary when the listener stops.
///
/// Lines come from the event loops' threads; the lock keeps them whole and in the order they are
/// counted. Lines that complete before the start-up line was printed wait for it, so that the
/// start-up line is always the first (a dialer that guessed a fixed port could be that fast).
final class ListenReport: Sendable {
    private struct State {
        var announced = false
        var pending: [ListenConnectionLine] = []
        var connections = 0
        var succeeded = 0
        var early = 0
        /// Set when stdout failed; nothing more is written.
        var writeFailed = false
    }

    private let state = NIOLockedValueBox(State())

    /// Prints the start-up line, then any connection lines that were waiting for it.
    func announce(_ line: some Encodable) throws {
        try self.state.withLockedValue { state in
            try printJSONLine(line)
            state.announced = true
            for pending in state.pending { try printJSONLine(pending) }
            state.pending = []
        }
    }

    /// Records one inbound upgrade; `channel` is the accepted connection.
    func record(channel: any Channel, outcome: Result<UpgradedConnection, any Error>) {
        let remotePort = channel.remoteAddress?.port
        self.state.withLockedValue { state in
            let line = ListenConnectionLine(connection: state.connections, remotePort: remotePort, outcome: outcome)
            state.connections += 1
            if line.error == nil { state.succeeded += 1 }
            if line.early == true { state.early += 1 }
            guard state.announced else {
                state.pending.append(line)
                return
            }
            guard !state.writeFailed else { return }
            do {
                try printJSONLine(line)
            } catch {
                state.writeFailed = true
            }
        }
    }

    /// The summary line's content, for when the listener stops.
    var summary: ListenSummary {
        self.state.withLockedValue { state in
            ListenSummary(
                connections: state.connections,
                succeeded: state.succeeded,
                failed: state.connections - state.succeeded,
                early: state.early
            )
        }
    }
}

/// One inbound connection as the listener saw it; stages in µs since the TCP connection was
/// accepted, every key on every line (null when unknown), as for `bench dial`.
struct ListenConnectionLine: Encodable {
    /// Accept order, from 0.
    let connection: Int
    let remotePeerID: String?
    let remotePort: Int?
    let security: String?
    let muxer: String?
    let early: Bool?
    let stages: [UpgradeMilestone: Double]
    let error: String?

    /// The listener's milestones: accept is the timeline's start, so `tcp_connected` is 0 and not
    /// printed; the first echo is the dialer's to take.
    static let milestones: [UpgradeMilestone] = [.securityAgreed, .handshakeDone, .muxerReady]

    init(connection: Int, remotePort: Int?, outcome: Result<UpgradedConnection, any Error>) {
        self.connection = connection
        self.remotePort = remotePort
        let timeline: UpgradeTimeline?
        switch outcome {
        case .success(let upgraded):
            self.remotePeerID = upgraded.outcome.secureChannel.remotePeerID.description
            self.security = upgraded.outcome.secureChannel.security.protocolID.rawValue
            self.muxer = upgraded.outcome.muxer.rawValue
            self.early = upgraded.outcome.usedEarlyNegotiation
            self.error = nil
            timeline = upgraded.outcome.timeline
        case .failure(let error):
            let failure = error as? UpgradeError
            self.remotePeerID = nil
            self.security = failure?.security?.protocolID.rawValue
            self.muxer = nil
            self.early = nil
            self.error = "\(error)"
            timeline = failure?.timeline
        }
        var stages: [UpgradeMilestone: Double] = [:]
        for milestone in Self.milestones {
            if let value = timeline?.microseconds(milestone) { stages[milestone] = (value * 10).rounded() / 10 }
        }
        self.stages = stages
    }

    func encode(to encoder: any Encoder) throws {
        enum Key: String, CodingKey {
            case connection, remote_peer_id, remote_port, security, muxer, early, stages_us, error
        }
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(self.connection, forKey: .connection)
        try container.encode(self.remotePeerID, forKey: .remote_peer_id)
        try container.encode(self.remotePort, forKey: .remote_port)
        try container.encode(self.security, forKey: .security)
        try container.encode(self.muxer, forKey: .muxer)
        try container.encode(self.early, forKey: .early)
        try container.encode(DialStages(microseconds: self.stages, milestones: Self.milestones), forKey: .stages_us)
        try container.encode(self.error, forKey: .error)
    }
}

/// The `listen` summary line's content.
struct ListenSummary: Encodable, Equatable {
    let connections: Int
    let succeeded: Int
    let failed: Int
    /// Connections whose muxer was agreed inside the handshake.
    let early: Int
}
