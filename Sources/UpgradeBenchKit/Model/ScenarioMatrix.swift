/// The scenarios of one benchmark run, in the order they run, plus the throughput measurements.
///
/// Loopback scenarios come first in every preset: they are the baselines that
/// ``RoundTripReport`` subtracts, and running them first keeps them away from any drift caused by
/// the emulator warming up.
public struct ScenarioMatrix: Hashable, Sendable {
    /// The preset name, or a caller's label.
    public let name: String
    /// Connection-upgrade scenarios, in run order.
    public let scenarios: [Scenario]
    /// Throughput scenarios, run after the upgrade scenarios.
    public let throughput: [ThroughputScenario]

    /// Creates a matrix after validating every scenario and checking that names are unique.
    ///
    /// - Throws: ``UpgradeBenchError/Code/invalidScenario`` or
    ///   ``UpgradeBenchError/Code/duplicateScenarioName``.
    public init(name: String, scenarios: [Scenario], throughput: [ThroughputScenario] = []) throws {
        var names = Set<String>()
        for scenario in scenarios {
            try scenario.validate()
            guard names.insert(scenario.name).inserted else {
                throw UpgradeBenchError.duplicateScenarioName(scenario.name)
            }
        }
        for scenario in throughput {
            try scenario.validate()
            guard names.insert(scenario.name).inserted else {
                throw UpgradeBenchError.duplicateScenarioName(scenario.name)
            }
        }
        self.name = name
        self.scenarios = scenarios
        self.throughput = throughput
    }

    /// Every combination of the given axes, loopback (RTT 0, ``Scenario/Emulator/loopback``) first
    /// when `rttMilliseconds` contains 0, then by RTT, security, multistream mode and negotiation,
    /// so that each classic scenario runs right before its early counterpart.
    ///
    /// - Parameters:
    ///   - connections: connections to record for a given RTT in milliseconds.
    ///   - warmup: unrecorded connections before each scenario.
    public static func product(
        securities: [Scenario.Security] = Scenario.Security.allCases,
        multistreams: [Scenario.Multistream] = Scenario.Multistream.allCases,
        negotiations: [Scenario.Negotiation] = Scenario.Negotiation.allCases,
        rttMilliseconds: [Int],
        emulator: Scenario.Emulator,
        concurrencies: [Int] = [1],
        connections: (Int) -> Int,
        warmup: Int
    ) -> [Scenario] {
        var scenarios: [Scenario] = []
        for rtt in rttMilliseconds.sorted() {
            for concurrency in concurrencies {
                for security in securities {
                    for multistream in multistreams {
                        for negotiation in negotiations {
                            scenarios.append(
                                Scenario(
                                    security: security,
                                    negotiation: negotiation,
                                    multistream: multistream,
                                    rttMilliseconds: rtt,
                                    emulator: rtt == 0 ? .loopback : emulator,
                                    connections: connections(rtt),
                                    warmup: warmup,
                                    concurrency: concurrency
                                )
                            )
                        }
                    }
                }
            }
        }
        return scenarios
    }
}

extension ScenarioMatrix {
    /// The matrix with other implementations as a dimension (docs/peers.md). For each of `peers`
    /// other than `swift`, every upgrade scenario runs again
    /// - from UpgradeBench's instrumented dialer to that implementation's listener;
    /// - from that implementation's dialer to UpgradeBench's listener, whose negotiation mode the
    ///   scenario's sets; strict multistream-select only, as the libp2p implementations dial
    ///   (docs/peers.md), so lazy scenarios are not repeated;
    /// - from that implementation to itself, as the reference row for its own stack: strict, with
    ///   the negotiation it does (early where it can, classic otherwise).
    ///
    /// `swift` alone leaves the matrix as it is. Throughput scenarios stay UpgradeBench's own.
    ///
    /// - Parameter selfPairs: whether to add each peer against itself. Not on a relay path: there
    ///   the listener's own addresses are the machine's, and go-libp2p dials the addresses identify
    ///   taught it instead of the relay's (docs/go-libp2p.md), so its connections would bypass the
    ///   delay.
    /// - Throws: ``UpgradeBenchError/Code/duplicateScenarioName`` (never for distinct peers).
    public func withPeers(_ peers: [Scenario.Peer], selfPairs: Bool = true) throws -> ScenarioMatrix {
        let own = self.scenarios.filter { $0.dialer == .swift && $0.listener == .swift }
        var scenarios = self.scenarios
        for peer in peers where peer != .swift {
            for scenario in own {
                var toPeer = scenario
                toPeer.listener = peer
                scenarios.append(toPeer)
            }
            for scenario in own where scenario.multistream == .strict {
                var fromPeer = scenario
                fromPeer.dialer = peer
                scenarios.append(fromPeer)
            }
            let ownNegotiation: Scenario.Negotiation = peer.negotiatesEarly ? .early : .classic
            for scenario in own where selfPairs && scenario.multistream == .strict && scenario.negotiation == ownNegotiation {
                var itself = scenario
                itself.dialer = peer
                itself.listener = peer
                scenarios.append(itself)
            }
        }
        return try ScenarioMatrix(name: self.name, scenarios: scenarios, throughput: self.throughput)
    }
}
