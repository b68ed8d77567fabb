import Logging
import NIOCore
import NIOPosix
import NetworkEmulation
import P2PCore
import TLS
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
    /// How both ends make TLS certificates; one per host, as go and rust do, unless asked.
    public var tlsCertificateMode: TLSCertificateMode = .perHost
    /// Where progress goes.
    public var logger: Logger
    /// The adapters of the other implementations the matrix's scenarios name, already prepared
    /// (``PeerAdapters/prepare(_:)``): executable per peer.
    public var adapters: [Scenario.Peer: String] = [:]

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

        /// The calibrated RTT of every emulated path, µs (the median of the calibration's
        /// round trips), for ``RoundTripReport``.
        public var pathRTTs: [RoundTripReport.PathKey: Double] { RunMetadata.pathRTTs(of: self.emulators) }
    }

    /// Runs every scenario of `matrix`, reports progress to `progress` and hands each finished
    /// scenario to `observer` (which keeps the results folder current: ``RunRecorder``).
    ///
    /// - Throws: ``UpgradeBenchError`` or ``NetworkEmulationError`` when a path cannot be set up,
    ///   and whatever `observer` throws; failed connections are recorded as samples, not thrown.
    public func run(
        _ matrix: ScenarioMatrix,
        progress: ProgressReporter,
        observer: (any BenchRunObserver)? = nil
    ) async throws -> Output {
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
            for group in Self.listenerGroups(scenarios) {
                let target: any DialTarget
                switch group.listener {
                case .swift(let negotiation):
                    target = try await ScenarioListener.start(
                        negotiation: negotiation, path: path, eventLoopGroup: self.group,
                        tlsCertificateMode: self.tlsCertificateMode
                    )
                case .foreign(let peer, _):
                    guard let executable = self.adapters[peer] else {
                        throw UpgradeBenchError.peerUnavailable("\(peer): its adapter was not prepared")
                    }
                    target = try await ForeignListener.start(peer: peer, executable: executable, path: path)
                }
                do {
                    for scenario in group.scenarios {
                        progress.scenarioStarted(scenario)
                        try observer?.scenarioStarted(scenario.name)
                        let before = (statistics: path.statistics, at: NIODeadline.now())
                        let samples: [ConnectionSample]
                        if scenario.dialer == .swift {
                            samples = try await self.run(scenario, path: path, listener: target, progress: progress)
                        } else {
                            guard let executable = self.adapters[scenario.dialer] else {
                                throw UpgradeBenchError.peerUnavailable("\(scenario.dialer): its adapter was not prepared")
                            }
                            samples = try await ForeignDialer(executable: executable, path: path)
                                .run(scenario, listener: target, progress: progress)
                        }
                        for sample in samples { results.record(sample) }
                        if let load = Self.load(of: scenario, from: before, to: (path.statistics, NIODeadline.now())) {
                            emulators[name]?.load.append(load)
                            self.logger.info(
                                "emulator load",
                                metadata: [
                                    "scenario": "\(scenario.name)", "cpu_share": "\(load.cpuShare)",
                                    "mean_lateness_us": "\(load.meanLatenessMicroseconds)",
                                ]
                            )
                        }
                        try observer?.scenarioFinished(
                            scenario,
                            samples: samples,
                            emulators: emulators.values.sorted { $0.name < $1.name }
                        )
                        progress.scenarioFinished(scenario)
                    }
                } catch {
                    await target.stop()
                    throw error
                }
                await target.stop()
            }

            for scenario in matrix.throughput where scenario.rttMilliseconds == rtt {
                progress.itemStarted(scenario.name)
                try observer?.scenarioStarted(scenario.name)
                let measured = try await ThroughputRunner(group: self.group).run(scenario, path: path, progress: progress)
                for result in measured { results.record(result) }
                try observer?.throughputFinished(
                    scenario,
                    results: measured,
                    emulators: emulators.values.sorted { $0.name < $1.name }
                )
                progress.itemFinished(scenario.name)
            }
        }
        progress.finish()
        return Output(results: results, emulators: emulators.values.sorted { $0.name < $1.name })
    }

    /// Which listener a group of scenarios needs.
    enum ListenerKind: Hashable {
        /// UpgradeBench's own, offering early negotiation or not.
        case swift(Scenario.Negotiation)
        /// Another implementation's, through its adapter, fresh for each scenario (named here).
        case foreign(Scenario.Peer, scenario: String)
    }

    /// The scenarios of one RTT grouped by the listener they need, each group in run order, the
    /// groups in the order of their first scenario (UpgradeBench's own listeners first, as the
    /// presets order them). Another implementation's listener serves one scenario: every scenario
    /// then starts from the same state of that implementation (py-libp2p 0.8.1 slows down with
    /// every connection its listener has served; docs/peers.md).
    static func listenerGroups(_ scenarios: [Scenario]) -> [(listener: ListenerKind, scenarios: [Scenario])] {
        var groups: [(listener: ListenerKind, scenarios: [Scenario])] = []
        for scenario in scenarios {
            let kind: ListenerKind =
                scenario.listener == .swift
                ? .swift(scenario.negotiation) : .foreign(scenario.listener, scenario: scenario.name)
            if let index = groups.firstIndex(where: { $0.listener == kind }) {
                groups[index].scenarios.append(scenario)
            } else {
                groups.append((kind, [scenario]))
            }
        }
        return groups
    }

    /// What the emulator's thread did between two readings of its statistics; `nil` for paths
    /// without an emulator thread (loopback).
    static func load(
        of scenario: Scenario,
        from before: (statistics: NetworkEmulatorStatistics, at: NIODeadline),
        to after: (statistics: NetworkEmulatorStatistics, at: NIODeadline)
    ) -> EmulatorLoad? {
        guard let cpuBefore = before.statistics.cpuTime, let cpuAfter = after.statistics.cpuTime else { return nil }
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        // The path keeps totals since it started: the scenario's share is the difference.
        let forwarded = after.statistics.forwarded - before.statistics.forwarded
        let latenessTotal =
            Double(after.statistics.meanLateness.nanoseconds) * Double(after.statistics.forwarded)
            - Double(before.statistics.meanLateness.nanoseconds) * Double(before.statistics.forwarded)
        return EmulatorLoad(
            scenario: scenario.name,
            wallSeconds: Double((after.at - before.at).nanoseconds) / 1e9,
            cpuSeconds: seconds(cpuAfter - cpuBefore),
            forwarded: forwarded,
            meanLatenessMicroseconds: forwarded > 0 ? max(0, latenessTotal / Double(forwarded)) / 1000 : 0,
            maximumLatenessMicroseconds: Double(after.statistics.maximumLateness.nanoseconds) / 1000
        )
    }

    /// Splits every stage of the dialer's `timeline` into network and computation
    /// (``CriticalPath``). The exact times come from the timeline: the sample's microseconds are
    /// rounded, and a stage rounded below the connect would not split.
    static func recordCriticalPaths(
        into sample: inout ConnectionSample,
        timeline: UpgradeTimeline,
        start: NIODeadline,
        connected: NIODeadline,
        accepted: NIODeadline,
        dialer: [CriticalPath.Event],
        listener: [CriticalPath.Event]
    ) {
        var stages: [ConnectionStage: UInt64] = [:]
        for stage in ConnectionStage.allCases {
            if let reached = timeline[stage.milestone] {
                stages[stage] = reached.uptimeNanoseconds
            }
        }
        let splits = CriticalPath.splits(
            stages: stages,
            start: start.uptimeNanoseconds,
            connected: connected.uptimeNanoseconds,
            accepted: accepted.uptimeNanoseconds,
            dialer: dialer,
            listener: listener
        )
        guard !splits.isEmpty else { return }
        var network = ConnectionSample.Timestamps()
        var listenerCompute = ConnectionSample.Timestamps()
        var flights = ConnectionSample.Timestamps()
        for (stage, split) in splits {
            network[stage] = (split.networkNanoseconds + 500) / 1000
            listenerCompute[stage] = (split.listenerComputeNanoseconds + 500) / 1000
            flights[stage] = UInt64(split.flights)
        }
        sample.network = network
        sample.listenerCompute = listenerCompute
        sample.flights = flights
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
        listener: any DialTarget,
        progress: ProgressReporter
    ) async throws -> [ConnectionSample] {
        let host = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(),
                security: [scenario.security.upgradeSecurity],
                negotiation: scenario.negotiation.upgradeNegotiation,
                multistream: scenario.multistream.multistreamMode,
                tlsCertificateMode: self.tlsCertificateMode
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
            let spacing = scenario.listener.spacingBetweenConnections
            while let (index, sample) = try await tasks.next() {
                progress.connectionFinished(in: scenario, failed: sample.failure != nil)
                if index >= scenario.warmup { samples.append(sample) }
                if next < total {
                    if spacing > .zero { try await Task.sleep(for: spacing) }
                    launch()
                }
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
        listener: any DialTarget,
        payload: ByteBuffer
    ) async -> ConnectionSample {
        func failed(_ error: UpgradeError) -> ConnectionSample {
            ConnectionSample(scenario: scenario, index: index, failure: error)
        }
        let connection: EmulatedConnection
        let channel: any Channel
        let activity = WireActivity()
        do {
            connection = try await path.connect(to: listener.dialAddress)
            channel = try await ClientBootstrap(group: self.group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.autoRead, value: false)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(WireActivityRecorder(activity: activity))
                    }
                }
                .withConnectedSocket(connection.socket)
                .get()
        } catch {
            return failed(UpgradeError(stage: .tcpConnect, underlying: error))
        }
        let localPort = channel.localAddress?.port
        /// The listener's view of this connection and the critical-path split, once the dialer is
        /// done with it.
        func withListenerView(_ sample: ConnectionSample, timeline: UpgradeTimeline?) -> ConnectionSample {
            guard let localPort, let listenerPort = path.listenerSidePort(ofDialerPort: localPort),
                let record = listener.records?.take(remotePort: listenerPort)
            else { return sample }
            var sample = sample
            if let timeline = record.timeline {
                sample.listener = ConnectionSample.ListenerTimestamps(timeline, sinceDialAt: connection.startedAt)
            }
            if let listenerActivity = record.activity, let accepted = record.timeline?.start, let timeline {
                Self.recordCriticalPaths(
                    into: &sample,
                    timeline: timeline,
                    start: connection.startedAt,
                    connected: connection.connectedAt,
                    accepted: accepted,
                    dialer: activity.events,
                    listener: listenerActivity.events
                )
            }
            return sample
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
            let failure = error as? UpgradeError ?? UpgradeError(stage: .tcpConnect, underlying: error)
            return withListenerView(failed(failure), timeline: failure.timeline)
        }
        defer { upgraded.close().whenComplete { _ in } }
        var timeline = upgraded.outcome.timeline
        do {
            let echoedAt = try await upgraded.echo(payload: payload).get()
            timeline.record(.firstEcho, at: echoedAt)
            return withListenerView(
                ConnectionSample(scenario: scenario, index: index, outcome: upgraded.outcome, timeline: timeline),
                timeline: timeline
            )
        } catch {
            // The upgrade itself succeeded: its stages and path stay in the sample.
            var sample = ConnectionSample(scenario: scenario, index: index, outcome: upgraded.outcome, timeline: timeline)
            sample.failure = .init(error as? UpgradeError ?? UpgradeError(stage: .firstStream, underlying: error))
            return withListenerView(sample, timeline: timeline)
        }
    }
}

/// What a ``BenchRunner`` tells as it goes, so that what it measured is kept before the run ends.
///
/// Calls come from the run's task, one at a time, in run order. An error thrown here ends the run
/// with that error.
public protocol BenchRunObserver: Sendable {
    /// The scenario (upgrade or throughput) named `name` starts.
    func scenarioStarted(_ name: String) throws
    /// `scenario` finished with `samples` (every measured connection, in index order);
    /// `emulators` are the run's emulators so far, with their calibration and load.
    func scenarioFinished(_ scenario: Scenario, samples: [ConnectionSample], emulators: [RunMetadata.Emulator]) throws
    /// `scenario` finished with `results` (every transfer, in order).
    func throughputFinished(
        _ scenario: ThroughputScenario,
        results: [ThroughputResult],
        emulators: [RunMetadata.Emulator]
    ) throws
}

/// What the instrumented dialer connects to: UpgradeBench's own listener or another
/// implementation's.
protocol DialTarget: Sendable {
    /// Where to dial on the path.
    var dialAddress: SocketAddress { get }
    /// The identity the listener must prove.
    var peerID: PeerID { get }
    /// The listener's own view of each connection, where it has one to give.
    var records: ListenerRecords? { get }
    /// Stops listening.
    func stop() async
}

extension DialTarget {
    /// The listener as a multiaddr, `/ip4/…/tcp/…/p2p/…`, for another implementation's dialer.
    var multiaddr: String {
        "/ip4/\(self.dialAddress.ipAddress ?? "127.0.0.1")/tcp/\(self.dialAddress.port ?? 0)/p2p/\(self.peerID)"
    }
}

extension ForeignListener: DialTarget {
    /// Other implementations' stage timestamps do not reach the runner.
    var records: ListenerRecords? { nil }
}

/// The listening side of a scenario group: an upgrade host offering Noise and TLS with one
/// negotiation mode, on a socket of the emulated path's listener side.
final class ScenarioListener: DialTarget {
    let host: UpgradeHost
    let channel: any Channel
    let socket: EmulatedListeningSocket
    let path: EmulatedPath
    /// The listener's view of each connection, for the dialer to pick up.
    let recorded: ListenerRecords
    var records: ListenerRecords? { self.recorded }

    var dialAddress: SocketAddress { self.socket.dialAddress }
    var peerID: PeerID { self.host.peerID }

    private init(
        host: UpgradeHost,
        channel: any Channel,
        socket: EmulatedListeningSocket,
        path: EmulatedPath,
        records: ListenerRecords
    ) {
        self.host = host
        self.channel = channel
        self.socket = socket
        self.path = path
        self.recorded = records
    }

    static func start(
        negotiation: Scenario.Negotiation,
        path: EmulatedPath,
        eventLoopGroup: any EventLoopGroup,
        tlsCertificateMode: TLSCertificateMode
    ) async throws -> ScenarioListener {
        let host = try UpgradeHost(
            configuration: UpgradeConfiguration(
                identity: .generateEd25519(),
                security: [.noise, .tls],
                negotiation: negotiation.upgradeNegotiation,
                tlsCertificateMode: tlsCertificateMode
            )
        )
        let socket = try await path.makeListeningSocket()
        let records = ListenerRecords()
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let remotePort = channel.remoteAddress?.port
                if let remotePort {
                    let activity = WireActivity()
                    records.accepted(remotePort: remotePort, activity: activity)
                    do {
                        try channel.pipeline.syncOperations.addHandler(WireActivityRecorder(activity: activity))
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                return host.initializeAcceptedChannel(channel) { result in
                    guard let remotePort else { return }
                    switch result {
                    case .success(let upgraded):
                        let outcome = upgraded.outcome
                        records.upgraded(
                            remotePort: remotePort,
                            timeline: outcome.timeline,
                            path: ConnectionSample.Path(
                                security: Scenario.Security(outcome.secureChannel.security),
                                muxer: outcome.muxer.rawValue,
                                earlyMuxerNegotiation: outcome.usedEarlyNegotiation
                            )
                        )
                    case .failure(let error):
                        let upgradeError = error as? UpgradeError
                        if let timeline = upgradeError?.timeline {
                            records.upgraded(
                                remotePort: remotePort,
                                timeline: timeline,
                                path: ConnectionSample.Path(security: upgradeError?.security.map { Scenario.Security($0) }),
                                failure: upgradeError.map { ConnectionSample.Failure($0) }
                            )
                        }
                    }
                }
            }
            .withBoundSocket(socket.socket)
            .get()
        return ScenarioListener(host: host, channel: channel, socket: socket, path: path, records: records)
    }

    /// Closes the listening channel and releases its socket on the path.
    func stop() async {
        try? await self.channel.close()
        self.path.releaseListener(self.socket)
    }
}
