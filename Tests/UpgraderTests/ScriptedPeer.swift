import Multistream
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import P2PCore

/// One raw TCP connection that a test drives step by step: the hostile side of a fault test.
/// Used from the one task that runs its script.
final class ScriptedConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var received = ByteBuffer()

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// Writes `bytes` and flushes.
    func send(_ bytes: ByteBuffer) async throws {
        try await self.outbound.write(bytes)
    }

    /// Writes `text` as raw bytes.
    func send(raw text: String) async throws {
        try await self.send(ByteBuffer(string: text))
    }

    /// Writes multistream-select messages in one write.
    func send(_ messages: MultistreamMessage...) async throws {
        var buffer = ByteBuffer()
        for message in messages { buffer.writeMultistreamMessage(message) }
        try await self.send(buffer)
    }

    /// The next multistream-select message, or nil when the peer closed first.
    func readMultistreamMessage() async throws -> MultistreamMessage? {
        while true {
            if let message = try self.received.readMultistreamMessage() { return message }
            guard try await self.receiveMore() else { return nil }
        }
    }

    /// At least `count` bytes (all that arrived so far), or nil when the peer closed first.
    func readBytes(atLeast count: Int) async throws -> ByteBuffer? {
        while self.received.readableBytes < count {
            guard try await self.receiveMore() else { return nil }
        }
        return self.received.readSlice(length: self.received.readableBytes)
    }

    /// Reads and drops everything until the peer closes; returns true if it did (false when the
    /// connection failed instead, say with a reset).
    @discardableResult
    func drainUntilClosed() async -> Bool {
        do {
            while try await self.receiveMore() {
                self.received.clear()
            }
            return true
        } catch {
            return false
        }
    }

    private func receiveMore() async throws -> Bool {
        guard var bytes = try await self.inbound.next() else { return false }
        self.received.writeBuffer(&bytes)
        return true
    }
}

/// What a scripted peer does with one connection.
typealias PeerScript = @Sendable (ScriptedConnection) async throws -> Void

/// A raw TCP dialer that follows a script.
enum ScriptedDialer {
    /// Connects to 127.0.0.1:`port`, runs `script`, then closes the connection.
    static func run(port: Int, group: any EventLoopGroup, script: PeerScript) async throws {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            try await script(ScriptedConnection(inbound: inbound, outbound: outbound))
        }
    }
}

/// A raw TCP listener on 127.0.0.1 that runs a script for every connection it accepts.
final class ScriptedListener: Sendable {
    /// The bound port.
    let port: Int
    private let server: any Channel
    private let acceptLoop: Task<Void, Never>
    private let scripts: NIOLockedValueBox<(started: Int, finished: Int)>

    private init(
        port: Int,
        server: any Channel,
        acceptLoop: Task<Void, Never>,
        scripts: NIOLockedValueBox<(started: Int, finished: Int)>
    ) {
        self.port = port
        self.server = server
        self.acceptLoop = acceptLoop
        self.scripts = scripts
    }

    static func start(group: any EventLoopGroup, script: @escaping PeerScript) async throws -> ScriptedListener {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let scripts = NIOLockedValueBox((started: 0, finished: 0))
        let acceptLoop = Task<Void, Never> {
            _ = try? await server.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            scripts.withLockedValue { $0.started += 1 }
                            group.addTask {
                                try? await connection.executeThenClose { inbound, outbound in
                                    try await script(ScriptedConnection(inbound: inbound, outbound: outbound))
                                }
                                scripts.withLockedValue { $0.finished += 1 }
                            }
                        }
                    } catch {
                        // The server channel closed.
                    }
                }
            }
        }
        return ScriptedListener(
            port: server.channel.localAddress?.port ?? 0, server: server.channel, acceptLoop: acceptLoop, scripts: scripts
        )
    }

    /// Waits until every script started so far has ended by itself (a script that drains until
    /// closed ends when the other side closes), at most `patience`; returns whether they all did.
    func scriptsFinished(patience: Duration = .seconds(3)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            let (started, finished) = self.scripts.withLockedValue { $0 }
            if started == finished { return true }
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops accepting, ends the scripts still running (closing their connections) and waits for them.
    func close() async {
        try? await self.server.close()
        self.acceptLoop.cancel()
        await self.acceptLoop.value
    }
}
