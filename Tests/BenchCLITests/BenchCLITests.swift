import Foundation
import P2PCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `bench listen` and `bench dial` as scripts driving other libp2p implementations use them: the
/// real executable, JSON lines on stdout, exit codes, signals. Only 127.0.0.1.
///
/// Serialized to keep at most two `bench` processes at a time on a two-core machine; nothing here
/// measures time, the deadlines only stop a hung process from hanging the run.
@Suite(.serialized, .timeLimit(.minutes(2))) struct BenchCLITests {
    /// Starting a debug `bench` and binding takes well under a second; this only catches hangs.
    static let startTimeout: Duration = .seconds(30)
    /// A handful of loopback upgrades take milliseconds; the default upgrade timeout is 10 s.
    static let dialTimeout: Duration = .seconds(60)
    static let exitTimeout: Duration = .seconds(20)

    /// The keys of every `dial` connection line and of its `stages_us`.
    static let lineKeys: Set<String> = ["ok", "security", "muxer", "early", "stages_us", "own_us", "start_monotonic_ns", "error"]
    static let stageKeys = ["tcp_connected", "security_agreed", "handshake_done", "muxer_ready", "first_echo"]

    // MARK: - listen

    @Test func listenPrintsOneLineWithTheRealPortAndPeerID() async throws {
        let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0"])
        defer { listener.kill() }
        let announced = try Self.object(try await listener.firstLine(timeout: Self.startTimeout))
        #expect(Set(announced.keys) == ["multiaddr", "peer_id", "impl", "version", "early"])
        #expect(announced["impl"] as? String == "swift")
        #expect((announced["version"] as? String)?.hasPrefix("UpgradeBench ") == true, "\(announced)")
        #expect(announced["early"] as? Bool == true, "early negotiation is the default")
        let peerText = try #require(announced["peer_id"] as? String)
        let peerID = try PeerID(parsing: peerText)
        let multiaddr = try #require(announced["multiaddr"] as? String)
        let parsed = try Multiaddr(parsing: multiaddr)
        #expect(multiaddr.hasPrefix("/ip4/127.0.0.1/tcp/"), "\(multiaddr)")
        #expect(multiaddr.hasSuffix("/p2p/\(peerText)"), "\(multiaddr)")
        #expect(parsed.port > 0, "port 0 must be replaced by the bound port: \(multiaddr)")
        #expect(parsed.peerID == peerID)

        // Something really listens on the announced port.
        #expect(try Self.canConnect(port: parsed.port), "nothing accepts on \(multiaddr)")
        // The probe sent nothing and closed: the listener reports it as a failed upgrade.
        _ = try await listener.lines(atLeast: 2, timeout: Self.dialTimeout)

        listener.send(SIGTERM)
        #expect(try await listener.waitForExit(timeout: Self.exitTimeout) == .code(0), "stderr: \(listener.stderr)")
        let lines = listener.stdoutLines
        try #require(lines.count == 3, "start-up, the probe's line, summary: \(listener.stdout)")
        let probe = try Self.object(lines[1])
        #expect(probe["connection"] as? Int == 0, "\(lines[1])")
        #expect(probe["error"] is String, "\(lines[1])")
        #expect(probe["remote_peer_id"] is NSNull, "\(lines[1])")
        let summary = try #require(try Self.object(lines[2])["summary"] as? [String: Int], "\(lines[2])")
        #expect(summary == ["connections": 1, "succeeded": 0, "failed": 1, "early": 0], "\(lines[2])")
    }

    /// The listener's view of every connection (docs/peers.md): which dialer, what was agreed, the
    /// listener's stages since accept; `--security` defaults to everything the host has.
    @Test func listenReportsEveryInboundConnectionThenASummary() async throws {
        let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--negotiation", "early"])
        defer { listener.kill() }
        let multiaddr = try #require(try Self.object(try await listener.firstLine(timeout: Self.startTimeout))["multiaddr"] as? String)

        // Noise early, TLS classic: the listener offers both protocols without being told.
        var dialerPeers: [String] = []
        for (security, negotiation) in [("noise", "early"), ("tls", "classic")] {
            let dial = try BenchProcess(["dial", multiaddr, "--security", security, "--negotiation", negotiation])
            defer { dial.kill() }
            let exit = try await dial.waitForExit(timeout: Self.dialTimeout)
            #expect(exit == .code(0), "\(exit); stdout: \(dial.stdout); stderr: \(dial.stderr)")
        }
        listener.send(SIGTERM)
        #expect(try await listener.waitForExit(timeout: Self.exitTimeout) == .code(0), "stderr: \(listener.stderr)")

        let lines = listener.stdoutLines
        try #require(lines.count == 4, "start-up, two connections, summary: \(listener.stdout)")
        let expected: [(security: String, early: Bool)] = [("/noise", true), ("/tls/1.0.0", false)]
        for (index, line) in lines[1...2].enumerated() {
            let object = try Self.object(line)
            #expect(
                Set(object.keys) == ["connection", "remote_peer_id", "remote_port", "security", "muxer", "early", "stages_us", "error"],
                "\(line)"
            )
            #expect(object["connection"] as? Int == index, "\(line)")
            #expect(object["security"] as? String == expected[index].security, "\(line)")
            #expect(object["early"] as? Bool == expected[index].early, "\(line)")
            #expect(object["muxer"] as? String == "/yamux/1.0.0", "\(line)")
            #expect(object["error"] is NSNull, "\(line)")
            #expect((object["remote_port"] as? Int ?? 0) > 0, "\(line)")
            let peer = try #require(object["remote_peer_id"] as? String, "\(line)")
            _ = try PeerID(parsing: peer)
            dialerPeers.append(peer)
            let stages = try #require(object["stages_us"] as? [String: Any], "\(line)")
            let names = ["security_agreed", "handshake_done", "muxer_ready"]
            #expect(Set(stages.keys) == Set(names), "\(line)")
            let times = names.compactMap { (stages[$0] as? NSNumber)?.doubleValue }
            #expect(times.count == names.count && times == times.sorted() && times.allSatisfy { $0 >= 0 }, "\(line)")
        }
        #expect(Set(dialerPeers).count == 2, "each dial process has its own identity")
        let summary = try #require(try Self.object(lines[3])["summary"] as? [String: Int], "\(lines[3])")
        #expect(summary == ["connections": 2, "succeeded": 2, "failed": 0, "early": 1], "\(lines[3])")
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func signalRightAfterTheLineExitsCleanly(signalNumber: Int32) async throws {
        // A few times: the signal goes out from the reading thread the moment the line is
        // complete, which is when a handler installed only after printing would be missing.
        for _ in 0..<3 {
            let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0"]) { pid in
                sendSignal(signalNumber, to: pid)
            }
            defer { listener.kill() }
            _ = try await listener.firstLine(timeout: Self.startTimeout)
            let exit = try await listener.waitForExit(timeout: Self.exitTimeout)
            #expect(exit == .code(0), "\(exit); stderr: \(listener.stderr)")
        }
    }

    // MARK: - dial

    @Test func dialReportsEveryConnectionThenASummary() async throws {
        let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0"])
        defer { listener.kill() }
        let multiaddr = try #require(try Self.object(try await listener.firstLine(timeout: Self.startTimeout))["multiaddr"] as? String)

        let dial = try BenchProcess(["dial", multiaddr, "--connections", "3"])
        defer { dial.kill() }
        let exit = try await dial.waitForExit(timeout: Self.dialTimeout)
        #expect(exit == .code(0), "\(exit); stdout: \(dial.stdout); stderr: \(dial.stderr)")

        let lines = dial.stdoutLines
        try #require(lines.count == 4, "3 connection lines and a summary: \(dial.stdout)")
        for line in lines.prefix(3) {
            let object = try Self.object(line)
            #expect(Set(object.keys) == Self.lineKeys, "\(line)")
            #expect(object["ok"] as? Bool == true, "\(line)")
            #expect(object["error"] is NSNull, "\(line)")
            #expect(object["security"] as? String == "/noise", "\(line)")
            #expect(object["muxer"] as? String == "/yamux/1.0.0", "\(line)")
            #expect(object["early"] as? Bool == true, "\(line)")
            let stages = try #require(object["stages_us"] as? [String: Any], "\(line)")
            #expect(Set(stages.keys) == Set(Self.stageKeys), "\(line)")
            let times = Self.stageKeys.compactMap { (stages[$0] as? NSNumber)?.doubleValue }
            #expect(times.count == Self.stageKeys.count, "every stage reached: \(line)")
            #expect(times == times.sorted(), "stages in order: \(line)")
            #expect(times.allSatisfy { $0 >= 0 }, "\(line)")
        }
        let summary = try #require(try Self.object(lines[3])["summary"] as? [String: Any], "\(lines[3])")
        #expect((summary["connections"] as? NSNumber)?.intValue == 3, "\(lines[3])")
        #expect((summary["succeeded"] as? NSNumber)?.intValue == 3, "\(lines[3])")
        #expect((summary["failed"] as? NSNumber)?.intValue == 0, "\(lines[3])")

        listener.send(SIGTERM)
        #expect(try await listener.waitForExit(timeout: Self.exitTimeout) == .code(0), "stderr: \(listener.stderr)")
    }

    /// `listen --trace-file` and `dial --listener-trace`: two processes on one machine split every
    /// stage into time on the network and computation.
    @Test func dialSplitsItsStagesWithTheListenersTrace() async throws {
        let trace = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-trace-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--trace-file", trace])
        defer { listener.kill() }
        let multiaddr = try #require(try Self.object(try await listener.firstLine(timeout: Self.startTimeout))["multiaddr"] as? String)

        let dial = try BenchProcess(["dial", multiaddr, "--connections", "3", "--listener-trace", trace])
        defer { dial.kill() }
        let exit = try await dial.waitForExit(timeout: Self.dialTimeout)
        #expect(exit == .code(0), "\(exit); stdout: \(dial.stdout); stderr: \(dial.stderr)")
        let lines = dial.stdoutLines
        try #require(lines.count == 4, "3 connection lines and a summary: \(dial.stdout)")
        for line in lines.prefix(3) {
            let object = try Self.object(line)
            #expect(Set(object.keys) == Self.lineKeys.union(["network_us", "flights"]), "\(line)")
            let stages = try #require(object["stages_us"] as? [String: Any], "\(line)")
            let network = try #require(object["network_us"] as? [String: Any], "\(line)")
            let flights = try #require(object["flights"] as? [String: Any], "\(line)")
            for stage in Self.stageKeys {
                let total = try #require((stages[stage] as? NSNumber)?.doubleValue, "\(stage): \(line)")
                let inFlight = try #require((network[stage] as? NSNumber)?.doubleValue, "\(stage) split: \(line)")
                #expect(inFlight >= 0 && inFlight <= total + 0.1, "\(stage): \(line)")
                let count = try #require((flights[stage] as? NSNumber)?.intValue, "\(stage): \(line)")
                #expect(count >= 2 && count % 2 == 0, "whole round trips: \(stage): \(line)")
            }
        }
        let summary = try #require(try Self.object(lines[3])["summary"] as? [String: Any], "\(lines[3])")
        for key in ["muxer_ready_network_p10_us", "muxer_ready_network_p50_us", "first_echo_network_p50_us"] {
            #expect(summary[key] is NSNumber, "\(key): \(lines[3])")
        }
        listener.send(SIGTERM)
        #expect(try await listener.waitForExit(timeout: Self.exitTimeout) == .code(0), "stderr: \(listener.stderr)")
        // One trace line per connection the listener accepted.
        let traced = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        #expect(traced.count == 3, "\(traced)")
    }

    @Test func dialToTheWrongPeerFailsInTheHandshake() async throws {
        let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0"])
        defer { listener.kill() }
        let announced = try Self.object(try await listener.firstLine(timeout: Self.startTimeout))
        let multiaddr = try #require(announced["multiaddr"] as? String)
        let peerText = try #require(announced["peer_id"] as? String)
        let impostor = IdentityPrivateKey.generateEd25519().peerID.description
        let wrong = multiaddr.replacingOccurrences(of: "/p2p/\(peerText)", with: "/p2p/\(impostor)")
        try #require(wrong != multiaddr)

        let dial = try BenchProcess(["dial", wrong, "--connections", "2"])
        defer { dial.kill() }
        let exit = try await dial.waitForExit(timeout: Self.dialTimeout)
        #expect(exit == .code(1), "\(exit); stdout: \(dial.stdout); stderr: \(dial.stderr)")

        let lines = dial.stdoutLines
        try #require(lines.count == 3, "2 connection lines and a summary: \(dial.stdout)")
        for line in lines.prefix(2) {
            let object = try Self.object(line)
            #expect(Set(object.keys) == Self.lineKeys, "\(line)")
            #expect(object["ok"] as? Bool == false, "\(line)")
            let error = try #require(object["error"] as? String, "\(line)")
            #expect(error.hasPrefix("secure_handshake: "), "\(line)")
            #expect(error.contains(impostor), "the reason names the expected peer: \(line)")
            #expect(object["muxer"] is NSNull, "\(line)")
            #expect(object["early"] is NSNull, "\(line)")
            // The stages reached before the handshake failed are kept; the others are null.
            let stages = try #require(object["stages_us"] as? [String: Any], "\(line)")
            #expect(Set(stages.keys) == Set(Self.stageKeys), "\(line)")
            for reached in ["tcp_connected", "security_agreed"] {
                #expect(stages[reached] is NSNumber, "\(reached) was reached: \(line)")
            }
            for missed in ["handshake_done", "muxer_ready", "first_echo"] {
                #expect(stages[missed] is NSNull, "\(missed) was not reached: \(line)")
            }
        }
        let summary = try #require(try Self.object(lines[2])["summary"] as? [String: Any], "\(lines[2])")
        #expect((summary["failed"] as? NSNumber)?.intValue == 2, "\(lines[2])")

        // The listener survives a dialer that gives up in the handshake.
        #expect(try Self.canConnect(port: try Multiaddr(parsing: multiaddr).port))
        listener.send(SIGTERM)
        #expect(try await listener.waitForExit(timeout: Self.exitTimeout) == .code(0), "stderr: \(listener.stderr)")
    }

    @Test(arguments: [
        "/ip4/127.0.0.1/tcp/notaport",
        "/ip4/300.0.0.1/tcp/4001",
        "/ip4/127.0.0.1/udp/4001",
        "/ip4/127.0.0.1/tcp/4001/p2p/notapeerid",
        "127.0.0.1:4001",
    ])
    func malformedMultiaddrExitsWithTwo(multiaddr: String) async throws {
        let dial = try BenchProcess(["dial", multiaddr])
        defer { dial.kill() }
        let exit = try await dial.waitForExit(timeout: Self.exitTimeout)
        #expect(exit == .code(2), "\(exit); stderr: \(dial.stderr)")
        #expect(dial.stdout.isEmpty, "nothing on stdout: \(dial.stdout)")
        #expect(dial.stderr.contains("bad multiaddr"), "stderr: \(dial.stderr)")
    }

    // MARK: - Helpers

    /// A JSON object line.
    static func object(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        return try #require(value as? [String: Any], "not a JSON object: \(line)", sourceLocation: sourceLocation)
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted (a blocking connect, which
    /// loopback answers at once).
    static func canConnect(port: Int) throws -> Bool {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }
}
