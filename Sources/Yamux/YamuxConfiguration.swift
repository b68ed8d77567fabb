import NIOCore

/// Settings of one yamux session. The defaults follow go-yamux and rust-yamux (docs/wire.md §7.6).
public struct YamuxConfiguration: Hashable, Sendable {
    /// The receive window each new stream starts with. Values below 256 KiB are raised to 256 KiB, the window the
    /// peer assumes without signalling (spec "Flow Control"); anything above is announced as the delta of the SYN or
    /// ACK Window Update. Default: 256 KiB.
    public var initialStreamWindow: UInt32 {
        didSet { self.initialStreamWindow = max(self.initialStreamWindow, YamuxConstants.initialStreamWindow) }
    }

    /// The largest window auto-tuning grows one stream's receive window to. Default: 16 MiB (go
    /// `MaxStreamWindowSize`). Also the largest Data body the decoder accepts.
    public var maximumStreamWindow: UInt32

    /// The largest sum of all streams' receive windows auto-tuning may reach; streams always keep at least their
    /// initial window. This bounds the unread data a peer can make the session buffer: at most
    /// `max(maximumSessionReceiveWindow, maximumConcurrentStreams × initialStreamWindow)` bytes. Default: 1 GiB
    /// (rust `max_connection_receive_window`).
    public var maximumSessionReceiveWindow: Int

    /// The cap on live streams, both directions together. Inbound streams beyond it are refused with RST (as go
    /// does beyond its accept backlog); opening beyond it fails with ``YamuxError/Code/streamLimitReached``.
    /// Default: 1000 (go `MaxIncomingStreams`).
    public var maximumConcurrentStreams: Int

    /// The most streams this side opens without an ACK from the peer; ``YamuxMultiplexer`` queues further opens until
    /// ACKs arrive. It also bounds inbound streams not yet accepted. Default: 256.
    ///
    /// Values above 256 are lowered to 256: the libp2p yamux spec says the ACK backlog SHOULD be ≤ 256
    /// (docs/wire.md §7.6), and peers may treat more as abuse. Values below 1 are raised to 1, since 0 would make every
    /// open wait forever.
    public var maximumAckBacklog: Int {
        didSet { self.maximumAckBacklog = min(max(self.maximumAckBacklog, 1), YamuxConstants.maximumAckBacklog) }
    }

    /// The largest Data body sent in one frame; longer writes are split. Default: 64 KiB (go `MaxMessageSize`).
    public var maximumSendFrameBodyLength: Int

    /// Whether receive windows grow (doubling, up to ``maximumStreamWindow``) when the peer used half a window in
    /// under two round-trip times, as rust-yamux and go-yamux do, so that one stream can fill a high-delay link.
    /// Needs a round-trip time, measured with our own pings. Default: on.
    public var receiveWindowAutoTuning: Bool

    /// How often ``YamuxMultiplexer`` sends a ping to measure the round-trip time; the first is sent when the session
    /// starts. `nil` sends none (and so disables auto-tuning). Default: 10 s (rust-yamux).
    public var roundTripPingInterval: TimeAmount?

    /// The defaults described on each property.
    public init() {
        self.initialStreamWindow = YamuxConstants.initialStreamWindow
        self.maximumStreamWindow = YamuxConstants.defaultMaximumStreamWindow
        self.maximumSessionReceiveWindow = YamuxConstants.defaultMaximumSessionReceiveWindow
        self.maximumConcurrentStreams = YamuxConstants.defaultMaximumConcurrentStreams
        self.maximumAckBacklog = YamuxConstants.maximumAckBacklog
        self.maximumSendFrameBodyLength = YamuxConstants.defaultMaximumSendFrameBodyLength
        self.receiveWindowAutoTuning = true
        self.roundTripPingInterval = .seconds(YamuxConstants.defaultRoundTripPingIntervalSeconds)
    }

    /// The window limits actually used: the maximum is never below the initial window.
    var effectiveMaximumStreamWindow: UInt32 { max(self.maximumStreamWindow, self.initialStreamWindow) }
}
