/// The moments of one dialed connection that the driver records, in order.
///
/// Every timestamp is taken by the **dialer**, in microseconds since it started the dial, at the
/// moment it moves on to the next phase. The round-trip model for each stage is in
/// ``RoundTripModel``; the definitions are repeated in README.md ("Results" and "Round-trip accounting").
public enum ConnectionStage: String, Hashable, Sendable, Codable, CaseIterable, Comparable {
    /// `connect()` completed: the SYN-ACK arrived.
    case tcpConnected = "tcp_connected"
    /// The dialer committed to the security protocol: the listener's echo arrived (strict), or the
    /// proposal was written (lazy).
    case securityAgreed = "security_agreed"
    /// The dialer's side of the security handshake is complete: Noise msg3 or the TLS client
    /// Finished was written (the listener completes half a round trip later; that is not recorded).
    case handshakeDone = "handshake_done"
    /// The yamux session can open streams: at once after the handshake (early), after the muxer
    /// echo (classic, strict), or after writing the muxer proposal (classic, lazy).
    case muxerReady = "muxer_ready"
    /// The first payload written on a new yamux stream came back from the listener's echo
    /// protocol (including that stream's own protocol negotiation).
    case firstEcho = "first_echo"

    /// The column name in CSV files (`tcp_connected`, ...).
    public var columnName: String { self.rawValue }

    /// Where the stage sits in the sequence, 0 for ``tcpConnected``.
    public var ordinal: Int {
        switch self {
        case .tcpConnected: 0
        case .securityAgreed: 1
        case .handshakeDone: 2
        case .muxerReady: 3
        case .firstEcho: 4
        }
    }

    /// The stage before this one, `nil` for ``tcpConnected`` (whose interval starts at the dial).
    public var previous: ConnectionStage? {
        switch self {
        case .tcpConnected: nil
        case .securityAgreed: .tcpConnected
        case .handshakeDone: .securityAgreed
        case .muxerReady: .handshakeDone
        case .firstEcho: .muxerReady
        }
    }

    /// What the interval ending at this stage spends its time on, for tables and plot legends.
    public var intervalName: String {
        switch self {
        case .tcpConnected: "tcp connect"
        case .securityAgreed: "security negotiation"
        case .handshakeDone: "security handshake"
        case .muxerReady: "muxer negotiation"
        case .firstEcho: "first echo"
        }
    }

    public static func < (lhs: ConnectionStage, rhs: ConnectionStage) -> Bool { lhs.ordinal < rhs.ordinal }
}
