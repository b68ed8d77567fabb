import Testing

@testable import NetworkEmulation

/// The `auto` rules and explicit selections, against made-up availability (pure), and against
/// this machine's detection.
@Suite struct NetworkEmulatorResolutionTests {
    private let everything: [NetworkEmulatorKind: NetworkEmulatorAvailability] = [
        .none: .available("loopback"),
        .netem: .available("netem"),
        .tun: .available("tun"),
        .relay: .available("relay"),
    ]

    private func without(_ kinds: NetworkEmulatorKind...) -> [NetworkEmulatorKind: NetworkEmulatorAvailability] {
        var result = self.everything
        for kind in kinds {
            result[kind] = .unavailable("\(kind) missing here")
        }
        return result
    }

    @Test func autoPrefersNetemThenTUNThenRelay() throws {
        let rtt = Duration.milliseconds(20)
        #expect(try NetworkEmulatorResolution.resolve(.auto, rtt: rtt, availability: self.everything).kind == .netem)
        #expect(try NetworkEmulatorResolution.resolve(.auto, rtt: rtt, availability: self.without(.netem)).kind == .tun)
        #expect(
            try NetworkEmulatorResolution.resolve(.auto, rtt: rtt, availability: self.without(.netem, .tun)).kind
                == .relay
        )
    }

    @Test func autoExplainsWhatItSkipped() throws {
        let resolution = try NetworkEmulatorResolution.resolve(
            .auto,
            rtt: .milliseconds(10),
            availability: self.without(.netem, .tun)
        )
        #expect(resolution.reason.contains("netem unavailable: netem missing here"))
        #expect(resolution.reason.contains("tun unavailable: tun missing here"))
    }

    @Test func autoWithZeroRTTIsPlainLoopback() throws {
        let resolution = try NetworkEmulatorResolution.resolve(.auto, rtt: .zero, availability: self.everything)
        #expect(resolution.kind == .none)
    }

    @Test func autoWithNothingAvailableIsUnavailable() {
        let error = #expect(throws: NetworkEmulationError.self) {
            try NetworkEmulatorResolution.resolve(
                .auto,
                rtt: .milliseconds(5),
                availability: self.without(.netem, .tun, .relay)
            )
        }
        #expect(error?.code == .unavailable)
    }

    @Test func explicitKindMustBeAvailable() throws {
        #expect(
            try NetworkEmulatorResolution.resolve(.kind(.tun), rtt: .milliseconds(5), availability: self.everything)
                .kind == .tun
        )
        let error = #expect(throws: NetworkEmulationError.self) {
            try NetworkEmulatorResolution.resolve(
                .kind(.netem),
                rtt: .milliseconds(5),
                availability: self.without(.netem)
            )
        }
        #expect(error?.code == .unavailable)
        #expect(error?.diagnostics.contains("netem missing here") == true)
    }

    @Test func loopbackWithNonZeroRTTIsRefused() throws {
        #expect(
            try NetworkEmulatorResolution.resolve(.kind(.none), rtt: .zero, availability: self.everything).kind == .none
        )
        let error = #expect(throws: NetworkEmulationError.self) {
            try NetworkEmulatorResolution.resolve(.kind(.none), rtt: .milliseconds(20), availability: self.everything)
        }
        #expect(error?.code == .invalidRTT)
    }

    @Test func missingDetectionCountsAsUnavailable() {
        let error = #expect(throws: NetworkEmulationError.self) {
            try NetworkEmulatorResolution.resolve(.kind(.tun), rtt: .milliseconds(5), availability: [:])
        }
        #expect(error?.code == .unavailable)
    }

    @Test func negativeRTTIsRefused() {
        let error = #expect(throws: NetworkEmulationError.self) {
            try NetworkEmulatorResolution.resolve(.auto, rtt: .milliseconds(-1), availability: self.everything)
        }
        #expect(error?.code == .invalidRTT)
    }

    @Test func rttAboveTheMaximumIsRefused() {
        let error = #expect(throws: NetworkEmulationError.self) {
            try NetworkEmulatorResolution.resolve(
                .auto,
                rtt: NetworkEmulator.maximumRTT + .nanoseconds(1),
                availability: self.everything
            )
        }
        #expect(error?.code == .invalidRTT)
    }

    @Test func startRefusesAnInvalidRTTBeforeCreatingAnything() async {
        let error = await #expect(throws: NetworkEmulationError.self) {
            try await NetworkEmulator.start(.kind(.relay), rtt: .seconds(11))
        }
        #expect(error?.code == .invalidRTT)
    }

    @Test func startRefusesAnMTUOutOfRange() async {
        var options = NetworkEmulator.Options()
        options.mtu = 70000
        let error = await #expect(throws: NetworkEmulationError.self) {
            try await NetworkEmulator.start(.kind(.relay), rtt: .milliseconds(1), options: options)
        }
        #expect(error?.code == .setupFailed)
    }

    @Test func commandLineSelectionsParse() {
        #expect(NetworkEmulatorSelection(argument: "auto") == .auto)
        #expect(NetworkEmulatorSelection(argument: "loopback") == .kind(.none))
        #expect(NetworkEmulatorSelection(argument: "none") == .kind(.none))
        #expect(NetworkEmulatorSelection(argument: "TUN") == .kind(.tun))
        #expect(NetworkEmulatorSelection(argument: "netem") == .kind(.netem))
        #expect(NetworkEmulatorSelection(argument: "relay") == .kind(.relay))
        #expect(NetworkEmulatorSelection(argument: "wan") == nil)
    }

    /// Detection on this machine, whatever it is: loopback and the relay are always there, and
    /// `auto` picks the first available kind in preference order.
    @Test func detectionOnThisMachineDrivesAuto() async throws {
        let availability = await NetworkEmulator.availability(refresh: true)
        #expect(availability[.none]?.isAvailable == true)
        #expect(availability[.relay]?.isAvailable == true)
        #expect(availability[.tun] != nil)
        #expect(availability[.netem] != nil)
        let expected = NetworkEmulatorKind.autoPreference.first { availability[$0]?.isAvailable == true }
        let resolution = try await NetworkEmulator.resolve(.auto, rtt: .milliseconds(20))
        #expect(resolution.kind == expected)
    }

    /// netem as detection reports it: when unavailable (as on kernels without sch_netem), asking
    /// for it fails with a typed error and `auto` does not pick it; when available it starts.
    @Test func netemFollowsItsDetection() async throws {
        let netem = await NetworkEmulator.availability()[.netem]
        let status = try #require(netem)
        if status.isAvailable {
            let path = try await NetworkEmulator.start(.kind(.netem), rtt: .milliseconds(2))
            #expect(path.kind == .netem)
            path.stop()
        } else {
            let error = await #expect(throws: NetworkEmulationError.self) {
                try await NetworkEmulator.start(.kind(.netem), rtt: .milliseconds(2))
            }
            #expect(error?.code == .unavailable)
            let resolution = try await NetworkEmulator.resolve(.auto, rtt: .milliseconds(2))
            #expect(resolution.kind != .netem)
            #expect(resolution.reason.contains("netem unavailable"))
        }
    }
}
