import Foundation
import Testing
import UpgradeBenchKit

@Suite struct SamplesCSVTests {
    static let early = Scenario.test(.noise, .early, .strict, rtt: 10, connections: 2)
    static let classic = Scenario.test(.tls, .classic, .lazy, rtt: 0, connections: 1)

    static let samples: [ConnectionSample] = [
        {
            var sample = ConnectionSample(
                scenario: early,
                index: 0,
                timestamps: .init(
                    tcpConnected: 10_051,
                    securityAgreed: 20_130,
                    handshakeDone: 30_912,
                    muxerReady: 30_915,
                    firstEcho: 51_020
                ),
                path: .init(security: .noise, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: true),
                listener: .init(accepted: 15_060, securityAgreed: 15_120, handshakeDone: 35_950, muxerReady: 35_990)
            )
            sample.network = .init(
                tcpConnected: 10_020,
                securityAgreed: 20_060,
                handshakeDone: 30_100,
                muxerReady: 30_100,
                firstEcho: 50_210
            )
            sample.listenerCompute = .init(
                tcpConnected: 0,
                securityAgreed: 40,
                handshakeDone: 450,
                muxerReady: 450,
                firstEcho: 620
            )
            sample.flights = .init(tcpConnected: 2, securityAgreed: 4, handshakeDone: 6, muxerReady: 6, firstEcho: 10)
            return sample
        }(),
        ConnectionSample(
            scenario: early,
            index: 1,
            timestamps: .init(tcpConnected: 10_047, securityAgreed: 20_101),
            path: .init(security: .noise),
            failure: .init(stage: "secureHandshake", reason: "peer said \"no\", then closed")
        ),
        ConnectionSample(
            scenario: classic,
            index: 0,
            timestamps: .init(
                tcpConnected: 35,
                securityAgreed: 40,
                handshakeDone: 1_390,
                muxerReady: 1_392,
                firstEcho: 1_470
            ),
            path: .init(security: .tls, muxer: "/yamux/1.0.0", earlyMuxerNegotiation: false)
        ),
    ]

    @Test func golden() {
        let expected = """
            scenario,security,negotiation,multistream,rtt_ms,emulator,concurrency,connection,tcp_connected_us,security_agreed_us,handshake_done_us,muxer_ready_us,first_echo_us,path_security,path_muxer,path_early,error,listener_accepted_us,listener_security_agreed_us,listener_handshake_done_us,listener_muxer_ready_us,tcp_connected_network_us,security_agreed_network_us,handshake_done_network_us,muxer_ready_network_us,first_echo_network_us,tcp_connected_listener_compute_us,security_agreed_listener_compute_us,handshake_done_listener_compute_us,muxer_ready_listener_compute_us,first_echo_listener_compute_us,tcp_connected_flights,security_agreed_flights,handshake_done_flights,muxer_ready_flights,first_echo_flights,dialer_impl,listener_impl,dialer_reported_connect_us,dialer_reported_handshake_us
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,0,10051,20130,30912,30915,51020,noise,/yamux/1.0.0,true,,15060,15120,35950,35990,10020,20060,30100,30100,50210,0,40,450,450,620,2,4,6,6,10,swift,swift,,
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,1,10047,20101,,,,noise,,,"secureHandshake: peer said ""no"", then closed",,,,,,,,,,,,,,,,,,,,swift,swift,,
            tls-classic-lazy-0ms-loopback-c1,tls,classic,lazy,0,loopback,1,0,35,40,1390,1392,1470,tls,/yamux/1.0.0,false,,,,,,,,,,,,,,,,,,,,,swift,swift,,

            """
        #expect(SamplesCSV.document(Self.samples).encoded() == expected)
    }

    /// A file written before the implementations were columns reads as UpgradeBench at both ends.
    @Test func fileWithoutPeerColumnsParsesAsSwiftToSwift() throws {
        let expected = """
            scenario,security,negotiation,multistream,rtt_ms,emulator,concurrency,connection,tcp_connected_us,security_agreed_us,handshake_done_us,muxer_ready_us,first_echo_us,path_security,path_muxer,path_early,error,listener_accepted_us,listener_security_agreed_us,listener_handshake_done_us,listener_muxer_ready_us,tcp_connected_network_us,security_agreed_network_us,handshake_done_network_us,muxer_ready_network_us,first_echo_network_us,tcp_connected_listener_compute_us,security_agreed_listener_compute_us,handshake_done_listener_compute_us,muxer_ready_listener_compute_us,first_echo_listener_compute_us,tcp_connected_flights,security_agreed_flights,handshake_done_flights,muxer_ready_flights,first_echo_flights
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,0,10051,20130,30912,30915,51020,noise,/yamux/1.0.0,true,,15060,15120,35950,35990,10020,20060,30100,30100,50210,0,40,450,450,620,2,4,6,6,10
            noise-early-strict-10ms-tun-c1,noise,early,strict,10,tun,1,1,10047,20101,,,,noise,,,"secureHandshake: peer said ""no"", then closed",,,,,,,,,,,,,,,,,,,
            tls-classic-lazy-0ms-loopback-c1,tls,classic,lazy,0,loopback,1,0,35,40,1390,1392,1470,tls,/yamux/1.0.0,false,,,,,,,,,,,,,,,,,,,,

            """
        #expect(try SamplesCSV.parse(expected, scenarios: [Self.early, Self.classic]) == Self.samples)
    }

    @Test func parsesBackToTheSameSamples() throws {
        let text = SamplesCSV.document(Self.samples).encoded()
        #expect(try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) == Self.samples)
    }

    @Test func largeSyntheticSetParsesBack() throws {
        var generator = SyntheticSamples()
        generator.jitterMicroseconds = 5000
        let scenarios = ScenarioMatrix.product(
            rttMilliseconds: [0, 20],
            emulator: .tun,
            connections: { _ in 30 },
            warmup: 0
        )
        var samples = scenarios.flatMap { generator.samples(for: $0) }
        samples[7].failure = .init(stage: "", reason: "timeout,\nafter 5 s")
        samples[7].timestamps.firstEcho = nil
        samples[8].path = .init()
        let text = SamplesCSV.document(samples).encoded()
        #expect(try SamplesCSV.parse(text, scenarios: scenarios) == samples)
    }

    // MARK: - Malformed input, one case each

    @Test func otherHeaderIsRejected() {
        let text = SamplesCSV.document(Self.samples).encoded().replacingOccurrences(
            of: "first_echo_us",
            with: "echo_us"
        )
        #expect(
            benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) }
                == .csvHeaderMismatch
        )
    }

    @Test func unknownScenarioIsRejected() {
        let text = SamplesCSV.document(Self.samples).encoded()
        #expect(benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early]) } == .invalidCSVField)
    }

    @Test func scenarioColumnsThatDisagreeWithTheNameAreRejected() {
        let text = SamplesCSV.document(Self.samples).encoded()
            .replacingOccurrences(of: "c1,noise,early,strict,10,tun", with: "c1,noise,early,strict,20,tun")
        #expect(
            benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) } == .invalidCSVField
        )
    }

    @Test func nonNumericTimestampIsRejected() {
        let text = SamplesCSV.document(Self.samples).encoded().replacingOccurrences(of: "10051", with: "10.051")
        #expect(
            benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) } == .invalidCSVField
        )
    }

    @Test func negativeTimestampIsRejected() {
        let text = SamplesCSV.document(Self.samples).encoded().replacingOccurrences(of: "10051", with: "-10051")
        #expect(
            benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) } == .invalidCSVField
        )
    }

    @Test func negativeConnectionIndexIsRejected() {
        let text = SamplesCSV.document(Self.samples).encoded().replacingOccurrences(of: "tun,1,0,", with: "tun,1,-1,")
        #expect(
            benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) } == .invalidCSVField
        )
    }

    @Test func unknownPathSecurityIsRejected() {
        let text = SamplesCSV.document(Self.samples).encoded().replacingOccurrences(
            of: "51020,noise,",
            with: "51020,quic,"
        )
        #expect(
            benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) } == .invalidCSVField
        )
    }

    @Test func pathEarlyThatIsNotABooleanIsRejected() {
        let text = SamplesCSV.document(Self.samples).encoded().replacingOccurrences(
            of: "1.0.0,true,",
            with: "1.0.0,yes,"
        )
        #expect(
            benchErrorCode { _ = try SamplesCSV.parse(text, scenarios: [Self.early, Self.classic]) } == .invalidCSVField
        )
    }
}
