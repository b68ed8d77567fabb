import Foundation
import Testing

/// Peers that keep to the protocol but never read (`bench slow-readers`) against a real `bench listen`: the
/// listener must stop crediting them within a few windows, so its memory stays bounded by its windows and not by
/// what they send (docs/bounds.md). Before backpressure reached the echo and ping handlers, each of these
/// connections made the listener hold everything it sent.
@Suite(.serialized, .timeLimit(.minutes(4))) struct SlowReaderMemoryTests {
    static let connections = 200
    /// What each connection tries to send: far beyond any window, so only the listener's credit stops it.
    static let kibPerConnection = 8192
    /// The initial yamux window (spec "Flow Control").
    static let windowKiB = 256
    /// Auto-tuning doubles a stream's window while half a window is consumed within two round trips. The echo flows
    /// only until the probe's 256 KiB window for it is used up, and a blocked stream consumes nothing, so the window
    /// doubles at most twice: 1 MiB (measured at loopback: 1 MiB).
    static let tunedWindowKiB = 4 * windowKiB
    /// The stated cost of an active connection beyond the data it holds: Noise's partial-frame and read buffers
    /// and the stream's state (measured: about 0.2 MiB, see README "Bounded memory").
    static let activeConnectionKiB = 512

    @Test(arguments: ["echo", "ping"])
    func twoHundredSlowReadersHoldBoundedListenerMemory(stream: String) async throws {
        let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0"])
        defer { listener.kill() }
        let announced = try await listener.firstLine(timeout: .seconds(30))
        let object = try JSONSerialization.jsonObject(with: Data(announced.utf8)) as? [String: Any]
        let multiaddr = try #require(object?["multiaddr"] as? String)

        let probe = try BenchProcess([
            "slow-readers", multiaddr, "--connections", "\(Self.connections)", "--stream", stream,
            "--kib", "\(Self.kibPerConnection)", "--listener-pid", "\(listener.pid)",
            // Long enough that a busy machine's pause is not taken for the stall.
            "--quiet-ms", "2000",
        ])
        defer { probe.kill() }
        let exit = try await probe.waitForExit(timeout: .seconds(180))
        #expect(exit == .code(0), "\(exit); stdout: \(probe.stdout); stderr: \(probe.stderr)")
        let line = try #require(probe.stdoutLines.first)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])

        #expect(result["opened"] as? Int == Self.connections, "\(line)")
        #expect(result["stalled"] as? Bool == true, "every connection sent everything: no backpressure. \(line)")
        // Per connection: the echo the probe's window let back, plus at most two (tuned) windows held.
        let sentMax = try #require(result["sent_max"] as? Int)
        #expect(sentMax <= (Self.windowKiB + 2 * Self.tunedWindowKiB) * 1024, "\(line)")
        let before = try #require(result["listener_rss_kib_before"] as? Int)
        let atStall = try #require(result["listener_rss_kib_at_stall"] as? Int)
        let bound = Self.connections * (2 * Self.tunedWindowKiB + Self.activeConnectionKiB)
        #expect(atStall - before < bound, "the listener grew by \(atStall - before) KiB; bound \(bound) KiB. \(line)")

        try await Self.listenerStillServes(multiaddr)
    }

    @Test func pingFloodOnAConnectionThatIsNeverReadLeavesTheListenerFlat() async throws {
        // The probe stops reading its connections and sends yamux ping requests: once the listener's connection is
        // not writable (its socket and our receive buffer are full) it must stop answering, or every answer stays in
        // its outbound buffer. 24 MiB of pings each is well beyond what the two kernels' socket buffers absorb.
        let listener = try BenchProcess(["listen", "--listen", "/ip4/127.0.0.1/tcp/0"])
        defer { listener.kill() }
        let announced = try await listener.firstLine(timeout: .seconds(30))
        let object = try JSONSerialization.jsonObject(with: Data(announced.utf8)) as? [String: Any]
        let multiaddr = try #require(object?["multiaddr"] as? String)
        let connections = 2
        let probe = try BenchProcess([
            "slow-readers", multiaddr, "--connections", "\(connections)", "--stream", "pings",
            "--kib", "\(24 * 1024)", "--listener-pid", "\(listener.pid)",
        ])
        defer { probe.kill() }
        let exit = try await probe.waitForExit(timeout: .seconds(180))
        #expect(exit == .code(0), "\(exit); stdout: \(probe.stdout); stderr: \(probe.stderr)")
        let line = try #require(probe.stdoutLines.first)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let sentTotal = try #require(result["sent_total"] as? Int)
        #expect(sentTotal >= connections * 16 * 1024 * 1024, "the listener must keep reading the pings: \(line)")
        let before = try #require(result["listener_rss_kib_before"] as? Int)
        let atStall = try #require(result["listener_rss_kib_at_stall"] as? Int)
        // Answered while unwritable, each ping's answer would stay: tens of MiB. Bounded: the outbound buffer up to
        // its high-water mark, plus the connection's I/O buffers (measured in release: about 1 MiB per connection).
        let bound = connections * 4 * 1024
        #expect(atStall - before < bound, "the listener grew by \(atStall - before) KiB; bound \(bound) KiB. \(line)")
        try await Self.listenerStillServes(multiaddr)
    }

    /// The listener is still healthy: it serves a normal connection afterwards.
    static func listenerStillServes(_ multiaddr: String) async throws {
        let dial = try BenchProcess(["dial", multiaddr])
        defer { dial.kill() }
        #expect(try await dial.waitForExit(timeout: .seconds(60)) == .code(0), "stderr: \(dial.stderr)")
    }
}
