// MARK: - Duration estimates

/// The costs ``ScenarioMatrix/estimatedDuration(model:)`` assumes, on the conservative side of
/// what docs/machine.md measured, so that a preset sized by them finishes in time.
public enum DurationEstimateConstants {
    /// Per-connection compute and set-up at loopback for Noise: 2 ms (the C floor is 0.36 ms for
    /// both handshake sides plus 0.05 ms of TCP; docs/machine.md "Handshake compute floors").
    public static let noiseConnectionSeconds = 0.002
    /// Per-connection compute and set-up at loopback for TLS: 5 ms (the C floor over loopback TCP
    /// is 1.36 ms; docs/machine.md).
    public static let tlsConnectionSeconds = 0.005
    /// What an emulated round trip costs beyond the requested RTT: 0.3 ms (docs/machine.md "Delay
    /// emulation": +25 µs to +300 µs, plus endpoint wake-ups).
    public static let excessPerRoundTripSeconds = 0.0003
    /// Bulk rate of an upgraded connection at loopback: 200 MB/s per direction (the AEADs run at
    /// 1.5-3.5 GB/s, docs/machine.md; framing, copies and yamux cost the rest).
    public static let upgradedBytesPerSecond = 200e6
    /// Bulk rate of raw TCP: 1 GB/s per direction (3 GB/s measured one way, docs/machine.md).
    public static let tcpBytesPerSecond = 1e9
    /// The yamux stream window without auto-tuning: 256 KiB per round trip (docs/wire.md §7.4).
    public static let yamuxWindowBytes = 256.0 * 1024
}

extension Scenario {
    /// A conservative estimate of the wall time of the scenario, warm-up included, in seconds.
    ///
    /// Each connection waits for ``RoundTripModel/roundTrips(to:for:)`` to ``ConnectionStage/firstEcho``
    /// emulated round trips plus its compute; `concurrency` connections overlap.
    public func estimatedSeconds(model: RoundTripModel = .standard) -> Double {
        let compute: Double
        switch self.security {
        case .noise: compute = DurationEstimateConstants.noiseConnectionSeconds
        case .tls: compute = DurationEstimateConstants.tlsConnectionSeconds
        }
        let roundTripSeconds: Double =
            self.rttMilliseconds == 0
            ? 0 : Double(self.rttMilliseconds) / 1000 + DurationEstimateConstants.excessPerRoundTripSeconds
        var perConnection = Double(model.roundTrips(to: .firstEcho, for: self)) * roundTripSeconds + compute
        // Other implementations: the pause a listener needs between connections, and what their
        // dialers add (docs/peers.md): py-libp2p's connect waits 250 ms; go's waits for identify
        // and starts a daemon request, two more round trips.
        let spacing = self.listener.spacingBetweenConnections.components
        perConnection += Double(spacing.seconds) + Double(spacing.attoseconds) / 1e18
        if self.dialer == .py { perConnection += 0.26 }
        if self.dialer == .go { perConnection += 2 * roundTripSeconds + 0.003 }
        return Double(self.connections + self.warmup) * perConnection / Double(self.concurrency)
    }
}

extension ThroughputScenario {
    /// A conservative estimate of the wall time of all repetitions, in seconds.
    public func estimatedSeconds() -> Double {
        let rtt = Double(self.rttMilliseconds) / 1000
        var rate: Double
        switch self.transport {
        case .tcp: rate = DurationEstimateConstants.tcpBytesPerSecond
        case .noise, .tls: rate = DurationEstimateConstants.upgradedBytesPerSecond
        }
        if rtt > 0, self.transport != .tcp {
            rate = min(
                rate,
                DurationEstimateConstants.yamuxWindowBytes / (rtt + DurationEstimateConstants.excessPerRoundTripSeconds)
            )
        }
        // Set-up: connect, upgrade and a final round trip; 10 RTTs covers every path.
        let perRepetition = Double(self.bytesEachWay) / rate + 10 * rtt + DurationEstimateConstants.tlsConnectionSeconds
        return Double(self.repetitions) * perRepetition
    }
}

extension ScenarioMatrix {
    /// A conservative estimate of the whole run in seconds, for the progress ETA before the
    /// first measurement and for sizing presets.
    public func estimatedDuration(model: RoundTripModel = .standard) -> Double {
        self.scenarios.reduce(0) { $0 + $1.estimatedSeconds(model: model) }
            + self.throughput.reduce(0) { $0 + $1.estimatedSeconds() }
    }
}
