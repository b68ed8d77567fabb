/// Named limits and wire constants of yamux 1.0.0.
///
/// Sources: the hashicorp yamux `spec.md` (as copied into the libp2p specs repository, `yamux/README.md`),
/// go-yamux (`const.go`, `mux.go`) and rust-yamux (`lib.rs`, `connection.rs`); docs/wire.md §7 summarises them.
public enum YamuxConstants {
    /// The protocol ID negotiated by multistream-select or carried by early muxer negotiation.
    public static let protocolID = "/yamux/1.0.0"

    /// The only protocol version: "The version field is used for future backward compatibility. At the
    /// current time, the field is always set to 0" (spec "Framing").
    public static let protocolVersion: UInt8 = 0

    /// The fixed header: version (1) + type (1) + flags (2) + stream ID (4) + length (4) (spec "Framing").
    public static let headerLength = 12

    /// The receive window every stream starts with in both directions, without any signalling
    /// (spec "Flow Control": "each new stream has an initial 256KB window size"; go `initialStreamWindow`,
    /// rust `DEFAULT_CREDIT`).
    public static let initialStreamWindow: UInt32 = 256 * 1024

    /// The default upper bound of one stream's auto-tuned receive window (go `MaxStreamWindowSize`, 16 MiB).
    public static let defaultMaximumStreamWindow: UInt32 = 16 * 1024 * 1024

    /// The default bound on the sum of all streams' receive windows (rust `max_connection_receive_window`, 1 GiB).
    /// It bounds how much unread data the peer can make one session buffer.
    public static let defaultMaximumSessionReceiveWindow: Int = 1024 * 1024 * 1024

    /// The most outbound streams that may be opened but not yet acknowledged ("the ACK backlog"): libp2p yamux
    /// spec "SHOULD be ≤ 256"; go `AcceptBacklog` 256, rust `MAX_ACK_BACKLOG` 256.
    public static let maximumAckBacklog = 256

    /// The most RSTs refusing the peer's new streams that the session produces while the connection is not writable
    /// (the peer is not reading what we send); one more ends the session with
    /// ``YamuxError/Code/refusalBacklogExceeded``. Each refusal would otherwise add a frame to our outbound buffer
    /// for as long as the peer keeps sending SYNs ("bound everything").
    ///
    /// It equals the ACK backlog: a peer that keeps to the libp2p yamux spec's "SHOULD be ≤ 256" has at most 256
    /// streams waiting for our answer, so while it reads none of our answers it cannot make us refuse more. go-yamux
    /// refuses beyond its `AcceptBacklog` of 256 and fails the session when such an RST cannot be written within
    /// `ConnectionWriteTimeout`; rust-yamux ends the session beyond `max_num_streams` (docs/wire.md §7.6).
    public static let maximumRefusalsWhileNotWritable = 256

    /// The default cap on live streams (both directions): go `MaxIncomingStreams` 1000 (rust uses 512).
    public static let defaultMaximumConcurrentStreams = 1000

    /// The default largest Data body this side sends in one frame: go `MaxMessageSize`, 64 KiB
    /// (rust `split_send_size` uses 16 KiB).
    public static let defaultMaximumSendFrameBodyLength = 64 * 1024

    /// The largest value a window can hold: the Window Update `length` field and every window are 32 bit
    /// (spec "Framing"). A peer that grows our send window past this has overflowed it.
    public static let maximumWindow: UInt64 = UInt64(UInt32.max)

    /// The largest stream ID; IDs are 32 bit and never reused, so a session runs out at 2^32 − 1
    /// (go stops at ≥ 2^32 − 2).
    public static let maximumStreamID: UInt32 = UInt32.max

    /// Receive-window auto-tuning doubles a stream's window when the peer used half of it in less than this many
    /// round-trip times (rust `FlowController::next_window_update`: "less than 2 round-trips"; go uses 4).
    public static let autoTuningRoundTrips: Int64 = 2

    /// How often the multiplexer measures the round-trip time with a ping by default (rust pings every 10 s;
    /// go every 30 s as a keep-alive).
    public static let defaultRoundTripPingIntervalSeconds: Int64 = 10
}
