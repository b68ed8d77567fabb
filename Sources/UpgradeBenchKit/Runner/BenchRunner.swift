import Logging
import NIOCore
import NIOPosix
import NetworkEmulation
import P2PCore
import Upgrader

/// Runs a ``ScenarioMatrix``: for each RTT, one emulated path (plain loopback at RTT 0), a
/// calibration probe, listeners for both negotiation modes, then every scenario's connections
/// through it. Connections are real libp2p upgrades over TCP, each followed by one `/echo/1.0.0`
/// stream.
public struct BenchRunner: Sendable {
    /// Which emulator to use for RTTs above 0.
    public var emulator: NetworkEmulatorSelection
    /// The event loops; 2 threads by default, as many as the reference machine has cores.
    public var group: any EventLoopGroup
    /// The first-stream payload.
    public var echoPayloadLength: Int = 32
    /// Where progress goes.
    public var logger: Logger

    /// A runner.
    public init(
        emulator: NetworkEmulatorSelection = .auto,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "upgradebench.runner")
    ) {
        self.emulator = emulator
        self.group = group
        self.logger = logger
    }

    /// What a run produced.
    public struct Output: Sendable {
        /// Every sample and throughput result.
        public var results: BenchResults
        /// The emulators used, with calibration, for `meta.json`.
        public var emulators: [RunMetadata.Emulator]
    }

    /// Runs every scenario of `matrix` and reports progress to `progress`.
    ///
    /// - Throws: ``UpgradeBenchError`` or ``NetworkEmulationError`` when a path cannot be set up;
    ///   failed connections are recorded as samples, not thrown.
    public func run(_ matrix: ScenarioMatrix, progress: ProgressReporter) async throws -> Output {
        var results = BenchResults(matrix: matrix)
        var emulators: [String: RunMetadata.Emulator] = [:]

        let rtts = Set(matrix.scenarios.map(\.rttMilliseconds) + matrix.throughput.map(\.rttMilliseconds)).sorted()
        for rtt in rtts {
            let selection: NetworkEmulatorSelection = rtt == 0 ? .kind(.none) : self.emulator
            let path = try await NetworkEmulator.start(selection, rtt: .milliseconds(rtt))
            defer { path.stop() }
            self.logger.info(
                "path ready",
                metadata: ["rtt_ms": "\(rtt)", "emulator": "\(path.kind)", "reason": "\(path.selectionReason)"]
            )
            let calibration = try await path.calibrate(connections: 3, exchangesPerConnection: 5)
            let name = Self.emulatorName(path.kind)
            // Every emulator here delays connection establishment by one RTT (the relay's connect
            // helper returns one RTT after connect(2)), so round trips count the TCP handshake.
            var entry = emulators[name] ?? RunMetadata.Emulator(
                name: name,
                delaysConnect: true,
                details: "\(path.selectionReason); calibration: \(calibration)"
            )
            let roundTrips = calibration.roundTrip.sortedNanoseconds.map { UInt64(max(0, $0) / 1_000) }
            if let measured = EmulatorCalibration(requestedRTTMilliseconds: rtt, roundTripsMicroseconds: roundTrips) {
                entry.calibration.append(measured)
            }
            emulators[name] = entry

            let scenarios = matrix.scenarios.filter { $0.rttMilliseconds == rtt }
            for negotiation in Scenario.Negotiation.allCases {
                let group = scenarios.filter { $0.negotiation == negotiation }
                guard !group.isEmpty else { continue }
                let listener = try await ScenarioListener.start(
                    negotiation: negotiation, path: path, eventLoopGroup: self.group
                )
                defer { listener.stop() }
                for scenario in group {
                    progress.scenarioStarted(scenario)
                    let samples = try await self.run(scenario, path: path, listener: listener, progress: progress)
                    for sample in samples { results.record(sample) }
                    progress.scenarioFinished(scenario)
                }
                try await listener.close()
            }

            for scenario in matrix.throughput where scenario.rttMilliseconds == rtt {
                progress.itemStarted(scenario.name)
                let measured = try await ThroughputRunner(group: self.group).run(scenario, path: path, progress: progress)
                for result in measured { results.record(result) }
                progress.itemFinished(scenario.name)
            }
        }
        progress.finish()
        return Output(results: results, emulators: emulators.values.sorted { $0.name < $1.name })
    }

    /// The emulator names the results use (`Scenario.Emulator`).
    public static func emulatorName(_ kind: NetworkEmulatorKind) -> String {
        switch kind {
        case .none: Scenario.Emulator.loopback.name
        case .tun: Scenario.Emulator.tun.name
        case .relay: Scenario.Emulator.relay.name
        case .netem: "netem"
        }
    }

    /// One scenario: warm-up connections (not recorded), then the measured ones, at most
    /// `concurrency` at a time.
    private func run(
        _ scenario: Scenario,
        path: EmulatedPath,
        listener: ScenarioListener,
        progress: ProgressReporter
    ) async throws -> [ConnectionSample] {
        let host = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(),
                security: [scenario.security.upgradeSecurity],
                negotiation: scenario.negotiation.upgradeNegotiation,
                multistream: scenario.multistream.multistreamMode
            )
        )
        let total = scenario.warmup + scenario.connections
        let payload = ByteBuffer(repeating: 0x2a, count: self.echoPayloadLength)
        var samples: [ConnectionSample] = []
        samples.reserveCapacity(scenario.connections)
        try await withThrowingTaskGroup(of: (Int, ConnectionSample).self) { tasks in
            var next = 0
            func launch() {
                let index = next
                next += 1
                tasks.addTask {
                    let sample = await self.connect(
                        scenario: scenario, index: index - scenario.warmup, host: host, path: path,
                        listener: listener, payload: payload
                    )
                    return (index, sample)
                }
            }
            while next < min(total, scenario.concurrency) { launch() }
            while let (index, sample) = try await tasks.next() {
                progress.connectionFinished(in: scenario, failed: sample.failure != nil)
                if index >= scenario.warmup { samples.append(sample) }
                if next < total { launch() }
            }
        }
        return samples.sorted { $0.index < $1.index }
    }

    /// One connection: emulated TCP connect, upgrade, echo, close.
    private func connect(
        scenario: Scenario,
        index: Int,
        host: UpgradeHost,
        path: EmulatedPath,
        listener: ScenarioListener,
        payload: ByteBuffer
    ) async -> ConnectionSample {
        func failed(_ error: UpgradeError) -> ConnectionSample {
            ConnectionSample(scenario: scenario, index: index, failure: error)
        }
        let connection: EmulatedConnection
        let channel: any Channel
        do {
            connection = try await path.connect(to: listener.dialAddress)
            channel = try await ClientBootstrap(group: self.group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.autoRead, value: false)
                .withConnectedSocket(connection.socket)
                .get()
        } catch {
            return failed(UpgradeError(stage: .tcpConnect, underlying: error))
        }
        let upgraded: UpgradedConnection
        do {
            upgraded = try await host.upgradeOutbound(
                channel: channel,
                startedAt: connection.startedAt,
                connectedAt: connection.connectedAt,
                expectedPeer: listener.peerID
            ).get()
        } catch {
            channel.close(promise: nil)
            // The upgrade fails with `UpgradeError`s (which carry the stages reached); anything
            // else means it never started on the channel.
            return failed(error as? UpgradeError ?? UpgradeError(stage: .tcpConnect, underlying: error))
        }
        defer { upgraded.close().whenComplete { _ in } }
        var timeline = upgraded.outcome.timeline
        do {
            let echoedAt = try await upgraded.echo(payload: payload).get()
            timeline.record(.firstEcho, at: echoedAt)
            return ConnectionSample(scenario: scenario, index: index, outcome: upgraded.outcome, timeline: timeline)
        } catch {
            // The upgrade itself succeeded: its stages and path stay in the sample.
            var sample = ConnectionSample(scenario: scenario, index: index, outcome: upgraded.outcome, timeline: timeline)
            sample.failure = .init(error as? UpgradeError ?? UpgradeError(stage: .firstStream, underlying: error))
            return sample
        }
    }
}

/// The listening side of a scenario group: an upgrade host offering Noise and TLS with one
/// negotiation mode, on a socket of the emulated path's listener side.
final class ScenarioListener: Sendable {
    let host: UpgradeHost
    let channel: any Channel
    let socket: EmulatedListeningSocket
    let path: EmulatedPath

    var dialAddress: SocketAddress { self.socket.dialAddress }
    var peerID: PeerID { self.host.peerID }

    private init(host: UpgradeHost, channel: any Channel, socket: EmulatedListeningSocket, path: EmulatedPath) {
        self.host = host
        self.channel = channel
        self.socket = socket
        self.path = path
    }

    static func start(
        negotiation: Scenario.Negotiation,
        path: EmulatedPath,
        eventLoopGroup: any EventLoopGroup
    ) async throws -> ScenarioListener {
        let host = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(),
                security: [.noise, .tls],
                negotiation: negotiation.upgradeNegotiation
            )
        )
        let socket = try await path.makeListeningSocket()
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in host.initializeAcceptedChannel(channel) }
            .withBoundSocket(socket.socket)
            .get()
        return ScenarioListener(host: host, channel: channel, socket: socket, path: path)
    }

    func close() async throws {
        try await self.channel.close()
        self.path.releaseListener(self.socket)
    }

    func stop() {
        self.channel.close(promise: nil)
    }
}
