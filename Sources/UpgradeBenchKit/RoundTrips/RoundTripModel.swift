/// The theoretical number of network round trips the **dialer** waits for before it reaches each
/// ``ConnectionStage``, for every upgrade path.
///
/// ### Derivation
///
/// Time runs in RTTs from the dial. "Waits" means the dialer cannot go on until bytes from the
/// listener arrive; anything the dialer may send without waiting is pipelined into the flight it is
/// already sending and costs nothing. Computation is ignored here: it is what the measurement at
/// loopback captures and what ``RoundTripReport`` subtracts. Let `c` be 1 when the emulator delays
/// the TCP handshake (a TUN delayer, plain TCP) and 0 when it does not (a TCP relay that accepts
/// locally); every later stage shifts with it.
///
/// 0. **tcp_connected = c.** SYN out, SYN-ACK back (docs/wire.md §0). The ACK and the first data leave together.
/// 1. **security_agreed = c + 1 (strict), c (lazy).** The dialer writes `/multistream/1.0.0` and
///    the security ID in one write (§2.2 pipelining). Strict: it waits for the listener's echo, one
///    round trip. Lazy: with its single candidate it treats the protocol as chosen and continues
///    in the same flight (§2.5, rust `V1Lazy`).
/// 2. **handshake_done = security_agreed + 1.** Noise XX (§4.2): the dialer writes msg1, waits for
///    msg2 (one round trip), then writes msg3 and is done; it never waits for anything after msg3.
///    TLS 1.3 (§5.1, RFC 8446 §2): the client writes ClientHello, waits for the server's flight
///    (ServerHello … EncryptedExtensions, CertificateRequest, Certificate, CertificateVerify,
///    Finished; one round trip), then writes Certificate, CertificateVerify, Finished and is done.
///    The *server* completes half a round trip later, when the client Finished arrives (for Noise,
///    when msg3 arrives); we record the dialer, so both protocols cost exactly one round trip here.
///    (Both offer X25519, so there is no HelloRetryRequest, which would add one.)
/// 3. **muxer_ready.** Early (§6): the muxer is known when the handshake is: Noise reads the
///    listener's list in msg2 and writes its own in msg3, TLS reads the ALPN choice in
///    EncryptedExtensions; so `muxer_ready = handshake_done`. Classic, strict: the dialer writes
///    `/multistream/1.0.0` and `/yamux/1.0.0` inside the secure channel, in the same flight as msg3
///    or Finished, and waits for the echo: `handshake_done + 1`. Classic, lazy: the proposal is
///    pipelined and yamux starts at once: `handshake_done + 0`.
/// 4. **first_echo = muxer_ready + e + 1.** The dialer opens a yamux stream (SYN needs no ACK,
///    §7.3). When ``echoStreamNegotiatesProtocol`` is set, the stream starts with its own
///    multistream-select for the echo protocol (§0, "every new yamux stream starts with its own
///    multistream-select"): `e = 1` when strict, `e = 0` when lazy. Then the payload's echo takes
///    one round trip.
///
/// | path (c = 1)          | tcp | security | handshake | muxer | echo |
/// |-----------------------|-----|----------|-----------|-------|------|
/// | classic, strict       | 1   | 2        | 3         | 4     | 6    |
/// | early, strict         | 1   | 2        | 3         | 3     | 5    |
/// | classic, lazy         | 1   | 1        | 2         | 2     | 3    |
/// | early, lazy           | 1   | 1        | 2         | 2     | 3    |
///
/// So with strict multistream-select early negotiation saves exactly one round trip at
/// muxer_ready and every later stage. With lazy multistream-select it saves none at the dialer:
/// the lazy dialer already pipelines its only muxer proposal (what it still saves is the
/// proposal's bytes and the listener's work, which the dialer's clock does not see).
public struct RoundTripModel: Hashable, Sendable {
    /// Whether the echo stream negotiates its protocol with multistream-select before the payload.
    public var echoStreamNegotiatesProtocol: Bool

    /// Creates a model.
    public init(echoStreamNegotiatesProtocol: Bool = true) {
        self.echoStreamNegotiatesProtocol = echoStreamNegotiatesProtocol
    }

    /// The model documented above, with the echo stream negotiating its protocol.
    public static let standard = RoundTripModel()

    /// The round trips the dialer waits for between the dial and `stage` on `scenario`'s path;
    /// an early scenario against a peer that cannot negotiate early takes the classic path.
    public func roundTrips(to stage: ConnectionStage, for scenario: Scenario) -> Int {
        self.roundTrips(
            to: stage,
            negotiation: scenario.expectsEarlyMuxer ? .early : .classic,
            multistream: scenario.multistream,
            connectIsDelayed: scenario.emulator.delaysConnect
        )
    }

    /// The round trips the dialer waits for between the dial and `stage`.
    ///
    /// The security protocol is not a parameter: Noise XX and TLS 1.3 both finish at the dialer
    /// after one round trip (see the derivation above).
    public func roundTrips(
        to stage: ConnectionStage,
        negotiation: Scenario.Negotiation,
        multistream: Scenario.Multistream,
        connectIsDelayed: Bool
    ) -> Int {
        let waitsForEcho: Int
        switch multistream {
        case .strict: waitsForEcho = 1
        case .lazy: waitsForEcho = 0
        }
        let tcpConnected = connectIsDelayed ? 1 : 0
        let securityAgreed = tcpConnected + waitsForEcho
        let handshakeDone = securityAgreed + 1
        let muxerReady: Int
        switch negotiation {
        case .early: muxerReady = handshakeDone
        case .classic: muxerReady = handshakeDone + waitsForEcho
        }
        let firstEcho = muxerReady + (self.echoStreamNegotiatesProtocol ? waitsForEcho : 0) + 1

        switch stage {
        case .tcpConnected: return tcpConnected
        case .securityAgreed: return securityAgreed
        case .handshakeDone: return handshakeDone
        case .muxerReady: return muxerReady
        case .firstEcho: return firstEcho
        }
    }

    /// The round trips early negotiation saves over classic at `stage`, for the same path otherwise.
    public func earlySaving(at stage: ConnectionStage, multistream: Scenario.Multistream, connectIsDelayed: Bool) -> Int
    {
        self.roundTrips(to: stage, negotiation: .classic, multistream: multistream, connectIsDelayed: connectIsDelayed)
            - self.roundTrips(
                to: stage,
                negotiation: .early,
                multistream: multistream,
                connectIsDelayed: connectIsDelayed
            )
    }
}
