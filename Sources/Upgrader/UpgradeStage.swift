/// The steps of an upgrade, in order. A failure names the step that was under way; a success
/// records when each step ended (see ``UpgradeTimeline``).
public enum UpgradeStage: String, Hashable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// Opening the TCP connection.
    case tcpConnect = "tcp_connect"
    /// multistream-select for the security protocol.
    case securityNegotiation = "security_negotiation"
    /// The Noise or TLS handshake, including the peer's identity checks.
    case secureHandshake = "secure_handshake"
    /// multistream-select for the muxer inside the secure channel (skipped when agreed early).
    case muxerNegotiation = "muxer_negotiation"
    /// Starting yamux.
    case muxerSetup = "muxer_setup"
    /// Opening the first stream, negotiating its protocol and getting the echo back.
    case firstStream = "first_stream"

    /// The milestone reached when this stage completes.
    public var milestone: UpgradeMilestone {
        switch self {
        case .tcpConnect: .tcpConnected
        case .securityNegotiation: .securityAgreed
        case .secureHandshake: .handshakeDone
        case .muxerNegotiation, .muxerSetup: .muxerReady
        case .firstStream: .firstEcho
        }
    }

    /// The position in the upgrade, for ordering.
    private var ordinal: Int {
        switch self {
        case .tcpConnect: 0
        case .securityNegotiation: 1
        case .secureHandshake: 2
        case .muxerNegotiation: 3
        case .muxerSetup: 4
        case .firstStream: 5
        }
    }

    public static func < (lhs: UpgradeStage, rhs: UpgradeStage) -> Bool { lhs.ordinal < rhs.ordinal }

    public var description: String { self.rawValue }
}

/// The moments an upgrade records, as the `stages_us` keys and CSV columns name them.
public enum UpgradeMilestone: String, Hashable, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// The TCP connection is established.
    case tcpConnected = "tcp_connected"
    /// The security protocol is agreed (the listener's echo arrived, or, lazily, the proposal left).
    case securityAgreed = "security_agreed"
    /// The security handshake completed and the peer's identity was verified.
    case handshakeDone = "handshake_done"
    /// The muxer runs: right after the handshake with early negotiation, after multistream-select
    /// otherwise.
    case muxerReady = "muxer_ready"
    /// The first `/echo/1.0.0` stream returned its payload.
    case firstEcho = "first_echo"

    public var description: String { self.rawValue }
}
