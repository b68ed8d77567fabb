import NIOCore
import P2PCore
import TLS

/// A security protocol the upgrader can run.
public enum UpgradeSecurity: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// `/noise`: Noise XX with the libp2p handshake payload.
    case noise
    /// `/tls/1.0.0`: TLS 1.3 with libp2p certificates.
    case tls

    /// The multistream-select protocol ID.
    public var protocolID: ProtocolID {
        switch self {
        case .noise: .noise
        case .tls: .tls
        }
    }

    /// The security protocol with this multistream-select ID, if the upgrader runs it.
    public init?(protocolID: ProtocolID) {
        switch protocolID {
        case .noise: self = .noise
        case .tls: self = .tls
        default: return nil
        }
    }

    public var description: String { self.rawValue }
}

/// How the muxer is agreed.
public enum UpgradeNegotiation: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Send no muxer list in the handshake (Noise: no `stream_muxers`; TLS: ALPN `libp2p` only), so
    /// the muxer is always agreed by multistream-select inside the secure channel.
    case classic
    /// Offer the muxers inside the handshake (inlined-muxer-negotiation spec) and fall back to
    /// multistream-select when the peer does not.
    case early

    public var description: String { self.rawValue }
}

/// How the dialer runs multistream-select.
public enum MultistreamMode: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Wait for the listener's echo before sending anything of the next protocol (the spec's flow).
    case strict
    /// With a single candidate, send header, proposal and the next protocol's first bytes at once
    /// (rust-libp2p's `V1Lazy`, its default for TCP). Applies to every negotiation the dialer runs:
    /// the security protocol, the muxer (when not agreed early) and each stream's protocol.
    case lazy

    public var description: String { self.rawValue }
}

/// Everything that shapes one side's connection upgrades. Each knob is independent.
public struct UpgradeConfiguration: Sendable {
    /// This peer's identity.
    public var identity: IdentityPrivateKey
    /// Security protocols in preference order (dialer), or the set offered (listener).
    public var security: [UpgradeSecurity]
    /// Early or classic muxer negotiation.
    public var negotiation: UpgradeNegotiation
    /// Strict or lazy multistream-select for the dialer; listeners answer both.
    public var multistream: MultistreamMode
    /// Muxers in preference order. Only `/yamux/1.0.0` runs here; others may be listed to test
    /// negotiation against peers that list them.
    public var muxers: [ProtocolID]
    /// The whole upgrade, TCP connect to muxer ready, must finish within this time.
    public var upgradeTimeout: TimeAmount
    /// How often TLS certificates are made: once per host, as go and rust do (the default), or
    /// freshly for every connection, to measure what that costs.
    public var tlsCertificateMode: TLSCertificateMode

    /// A configuration with the defaults go-libp2p would pick for a TCP host, but early negotiation
    /// and strict multistream-select unless said otherwise.
    public init(
        identity: IdentityPrivateKey,
        security: [UpgradeSecurity] = [.noise],
        negotiation: UpgradeNegotiation = .early,
        multistream: MultistreamMode = .strict,
        muxers: [ProtocolID] = [.yamux],
        upgradeTimeout: TimeAmount = UpgradeLimits.defaultUpgradeTimeout,
        tlsCertificateMode: TLSCertificateMode = .perHost
    ) {
        self.identity = identity
        self.security = security
        self.negotiation = negotiation
        self.multistream = multistream
        self.muxers = muxers
        self.upgradeTimeout = upgradeTimeout
        self.tlsCertificateMode = tlsCertificateMode
    }

    /// The muxer list to put in the handshake: empty in classic mode, which tells the peer (and the
    /// handshake code) that this side does not negotiate early.
    public var handshakeMuxers: [ProtocolID] {
        switch self.negotiation {
        case .classic: []
        case .early: self.muxers
        }
    }
}

/// Timeouts and bounds of the upgrade.
public enum UpgradeLimits {
    /// go-libp2p's upgrader default (`defaultAcceptTimeout` / transport upgrade timeout) is 15 s;
    /// a loopback or 100 ms-RTT upgrade needs well under a second, so 10 s only catches stalls.
    public static let defaultUpgradeTimeout: TimeAmount = .seconds(10)
    /// Time allowed for the first stream (open, negotiate, echo) after the muxer is ready.
    public static let defaultStreamTimeout: TimeAmount = .seconds(10)
}
