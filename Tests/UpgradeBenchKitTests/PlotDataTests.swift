import Testing
import UpgradeBenchKit

@Suite struct PlotDataTests {
    static let scenarios = ScenarioMatrix.product(
        securities: [.noise],
        multistreams: [.strict],
        rttMilliseconds: [0, 10, 20],
        emulator: .tun,
        connections: { _ in 4 },
        warmup: 0
    )

    static func files() -> [String: String] {
        var generator = SyntheticSamples()
        let report = RoundTripReport(summaries: syntheticResults(Self.scenarios, generator: &generator).summaries())
        return Dictionary(PlotData.files(for: report).map { ($0.name, $0.contents) }) { first, _ in first }
    }

    @Test func everyFileIsThere() {
        let names = Set(Self.files().keys)
        #expect(
            names == [
                "cdf-noise-classic-strict-0ms-loopback-c1.dat", "cdf-noise-early-strict-0ms-loopback-c1.dat",
                "cdf-noise-classic-strict-10ms-tun-c1.dat", "cdf-noise-early-strict-10ms-tun-c1.dat",
                "cdf-noise-classic-strict-20ms-tun-c1.dat", "cdf-noise-early-strict-20ms-tun-c1.dat",
                "cdfgroup-noise-0ms-loopback-c1.txt", "cdfgroup-noise-10ms-tun-c1.txt",
                "cdfgroup-noise-20ms-tun-c1.txt",
                "median-noise-classic-strict-c1.dat", "median-noise-early-strict-c1.dat", "median-paths.txt",
                "saving-noise-strict-c1.dat", "saving-groups.txt",
                "stages-0ms-loopback.dat", "stages-10ms-tun.dat", "stages-20ms-tun.dat", "stages-groups.txt",
            ]
        )
    }

    @Test func cdfIsAStepFunctionFromZeroToOne() {
        let files = Self.files()
        #expect(
            files["cdf-noise-early-strict-10ms-tun-c1.dat"] == """
                # muxer_ready latency CDF of noise-early-strict-10ms-tun-c1 (4 connections)
                # latency_ms fraction
                30.780 0
                30.780 0.250000
                30.780 0.500000
                30.780 0.750000
                30.780 1.000000

                """
        )
        #expect(
            files["cdfgroup-noise-10ms-tun-c1.txt"] == """
                cdf-noise-classic-strict-10ms-tun-c1.dat classic-strict
                cdf-noise-early-strict-10ms-tun-c1.dat early-strict

                """
        )
    }

    @Test func medianFileCarriesTheModelLine() {
        #expect(
            Self.files()["median-noise-classic-strict-c1.dat"] == """
                # median muxer_ready of noise-classic-strict-c1 against RTT; theoretical = loopback median + k x RTT
                # rtt_ms p50_ms theoretical_ms round_trips
                0 0.780 0.780 4
                10 40.780 40.780 4
                20 80.780 80.780 4

                """
        )
        #expect(Self.files()["median-paths.txt"] == "noise-classic-strict-c1\nnoise-early-strict-c1\n")
    }

    @Test func savingFileHasOnlyEmulatedRTTs() {
        #expect(
            Self.files()["saving-noise-strict-c1.dat"] == """
                # saving of early over classic at muxer_ready, noise-strict-c1
                # rtt_ms saving_ms saving_rtts theoretical_rtts measured_saving_rtts
                10 10.000 1.000 1 1.000
                20 20.000 1.000 1 1.000

                """
        )
    }

    /// The intervals stack up to the first_echo median.
    @Test func stageIntervalsAddUpToFirstEcho() {
        #expect(
            Self.files()["stages-10ms-tun.dat"] == """
                # median ms per stage interval (differences of consecutive stage medians), 10ms-tun
                "scenario" "tcp connect" "security negotiation" "security handshake" "muxer negotiation" "first echo"
                noise-classic-strict 10.040 10.080 10.580 10.080 20.120
                noise-early-strict 10.040 10.080 10.580 0.080 20.120

                """
        )
        #expect(Self.files()["stages-groups.txt"] == "0ms-loopback\n10ms-tun\n20ms-tun\n")
    }

    @Test func millisecondsAreExact() {
        #expect(PlotData.milliseconds(0) == "0.000")
        #expect(PlotData.milliseconds(7) == "0.007")
        #expect(PlotData.milliseconds(12_345) == "12.345")
        #expect(PlotData.milliseconds(1_000_000) == "1000.000")
    }
}
