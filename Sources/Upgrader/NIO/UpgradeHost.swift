import Logging
import Multistream
import NIOCore
import NIOPosix
import Noise
import P2PCore
import TLS
import Yamux

/// One libp2p host's upgrade machinery: its identity, its knobs, and what is built once and shared
/// by all its connections (the TLS context). Upgrades raw TCP channels into yamux sessions.
///
/// ```swift
/// let host = try UpgradeHost(configuration: UpgradeConfiguration(identity: key, negotiation: .early))
/// let listener = try await host.listen(host: "127.0.0.1", port: 0, group: group)
/// let connection = try await host.dial(host: "127.0.0.1", port: listener.port, expectedPeer: nil, group: group)
/// let echoedAt = try await connection.echo(payload: ByteBuffer(string: "hello")).get()
/// ```
public final class UpgradeHost: Sendable {
    /// The knobs.
    public let configuration: UpgradeConfiguration
    /// This host's peer ID.
    public var peerID: PeerID { self.configuration.identity.peerID }
    /// Yamux settings for every session.
    public let yamuxConfiguration: YamuxConfiguration
    let tlsContext: TLSContext
    let logger: Logger

    /// Builds the shared state.
    ///
    /// - Throws: `TLSError` when the TLS context cannot be built.
    public init(
        configuration: UpgradeConfiguration,
        yamuxConfiguration: YamuxConfiguration = YamuxConfiguration(),
        logger: Logger = Logger(label: "upgradebench.upgrader")
    ) throws {
        self.configuration = configuration
        self.yamuxConfiguration = yamuxConfiguration
        self.logger = logger
        self.tlsContext = try TLSContext(
            configuration: TLSConfiguration(
                identityKey: configuration.identity,
                muxers: configuration.handshakeMuxers,
                certificateMode: configuration.tlsCertificateMode
            )
        )
    }

    // MARK: - Upgrading channels

    /// Upgrades a connected channel as the dialer.
    ///
    /// - Parameters:
    ///   - channel: A connected TCP channel with an empty pipeline, created with
    ///     `ChannelOptions.autoRead` off: listeners send their multistream header at once, and a
    ///     read before the upgrade's handlers are in place would drop it. The upgrade turns
    ///     autoRead on.
    ///   - startedAt: When the dial started (the timeline's origin).
    ///   - connectedAt: When the TCP handshake completed.
    ///   - expectedPeer: The peer the dialer meant to reach; a different one fails the handshake.
    /// - Returns: The upgraded connection; fails with ``UpgradeError``.
    public func upgradeOutbound(
        channel: any Channel,
        startedAt: NIODeadline,
        connectedAt: NIODeadline,
        expectedPeer: PeerID?
    ) -> EventLoopFuture<UpgradedConnection> {
        self.upgrade(channel: channel, role: .initiator, startedAt: startedAt, connectedAt: connectedAt, expectedPeer: expectedPeer)
    }

    /// Upgrades an accepted channel as the listener.
    public func upgradeInbound(channel: any Channel, acceptedAt: NIODeadline) -> EventLoopFuture<UpgradedConnection> {
        self.upgrade(channel: channel, role: .responder, startedAt: acceptedAt, connectedAt: acceptedAt, expectedPeer: nil)
    }

    private func upgrade(
        channel: any Channel,
        role: ConnectionRole,
        startedAt: NIODeadline,
        connectedAt: NIODeadline,
        expectedPeer: PeerID?
    ) -> EventLoopFuture<UpgradedConnection> {
        let eventLoop = channel.eventLoop
        if eventLoop.inEventLoop {
            return ConnectionUpgrade.start(
                host: self, channel: channel, role: role, startedAt: startedAt,
                connectedAt: connectedAt, expectedPeer: expectedPeer
            )
        }
        return eventLoop.flatSubmit {
            ConnectionUpgrade.start(
                host: self, channel: channel, role: role, startedAt: startedAt,
                connectedAt: connectedAt, expectedPeer: expectedPeer
            )
        }
    }

    // MARK: - Plain TCP

    /// Dials `host:port` over TCP and upgrades the connection.
    ///
    /// - Parameter prepareChannel: Runs on the new channel's event loop before the upgrade adds
    ///   anything, so that its handlers sit next to the socket (instrumentation that must see every
    ///   byte, such as a socket activity recorder).
    /// - Throws: ``UpgradeError``; a failed TCP connect is stage `tcp_connect`.
    public func dial(
        host: String,
        port: Int,
        expectedPeer: PeerID?,
        group: any EventLoopGroup,
        prepareChannel: (@Sendable (any Channel) throws -> Void)? = nil
    ) async throws -> UpgradedConnection {
        let startedAt = NIODeadline.now()
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                // Nothing may be read before the upgrade's first handler is in place.
                .channelOption(.autoRead, value: false)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try prepareChannel?(channel) }
                }
                .connectTimeout(self.configuration.upgradeTimeout)
                .connect(host: host, port: port)
                .get()
        } catch {
            // No milestone yet, but the timeline's start says when the dial began.
            throw UpgradeError(stage: .tcpConnect, underlying: error, timeline: UpgradeTimeline(start: startedAt))
        }
        return try await self.upgradeOutbound(
            channel: channel,
            startedAt: startedAt,
            connectedAt: .now(),
            expectedPeer: expectedPeer
        ).get()
    }

    /// Listens on `host:port` (port 0 picks a free one) and upgrades every accepted connection.
    /// A failed upgrade closes that connection only.
    ///
    /// - Parameters:
    ///   - prepareChannel: Runs on each accepted channel before the upgrade adds anything (see
    ///     ``dial(host:port:expectedPeer:group:prepareChannel:)``); an error closes that channel.
    ///   - onUpgrade: Called with each accepted channel and its upgrade's outcome (the channel
    ///     tells which peer address a failure came from).
    public func listen(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        prepareChannel: (@Sendable (any Channel) throws -> Void)? = nil,
        onUpgrade: (@Sendable (any Channel, Result<UpgradedConnection, any Error>) -> Void)? = nil
    ) async throws -> UpgradeListener {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                do {
                    try prepareChannel?(channel)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                var report: (@Sendable (Result<UpgradedConnection, any Error>) -> Void)? = nil
                if let onUpgrade {
                    report = { @Sendable outcome in onUpgrade(channel, outcome) }
                }
                return self.initializeAcceptedChannel(channel, onUpgrade: report)
            }
            .bind(host: host, port: port)
            .get()
        return UpgradeListener(channel: channel, peerID: self.peerID)
    }

    /// The `childChannelInitializer` for a `ServerBootstrap` whose connections this host upgrades
    /// (for sockets that come from elsewhere, such as an emulated network path).
    ///
    /// The initializer runs before the channel is registered; an accepted socket already reports
    /// itself active then, and a multistream header written at that point would be lost. So the
    /// upgrade starts once the channel is really active.
    public func initializeAcceptedChannel(
        _ channel: any Channel,
        onUpgrade: (@Sendable (Result<UpgradedConnection, any Error>) -> Void)? = nil
    ) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                StartOnActiveHandler { self.serve(channel: channel, onUpgrade: onUpgrade) }
            )
        }
    }

    /// Upgrades one accepted, active channel and reports the outcome; used by ``listen(host:port:group:onUpgrade:)``
    /// and by listeners whose sockets come from elsewhere (network emulation).
    public func serve(
        channel: any Channel,
        onUpgrade: (@Sendable (Result<UpgradedConnection, any Error>) -> Void)? = nil
    ) {
        let logger = self.logger
        self.upgradeInbound(channel: channel, acceptedAt: .now()).whenComplete { result in
            if case .failure(let error) = result {
                logger.debug("inbound upgrade failed", metadata: ["error": "\(error)"])
            }
            onUpgrade?(result)
        }
    }
}

/// A listening socket whose connections are upgraded.
public struct UpgradeListener: Sendable {
    /// The server channel.
    public let channel: any Channel
    /// The listening host's peer ID.
    public let peerID: PeerID

    /// The bound port.
    public var port: Int { self.channel.localAddress?.port ?? 0 }

    /// Stops accepting; upgraded connections stay open.
    public func close() async throws {
        try await self.channel.close()
    }
}

/// Runs `start` when the channel becomes active, then leaves the pipeline.
final class StartOnActiveHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var start: (() -> Void)?

    init(start: @escaping () -> Void) { self.start = start }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        self.start.take()?()
    }
}
