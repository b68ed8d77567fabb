import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `bench --peers`: another implementation in the matrix, through its adapter. The adapter here is
/// `Tests/Fixtures/peers/mirror/peer`, UpgradeBench itself in a separate process, so the test needs
/// nothing installed and exercises everything between the runner and an adapter: installing and
/// describing it, listening inside the emulated path's listener side, dialing from the dialer side,
/// joining its lines with our listener's records, and the files.
@Suite(.serialized, .timeLimit(.minutes(5))) struct BenchPeersTests {
    static let runTimeout: Duration = .seconds(240)

    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent("peers")
    }

    @Test func anotherImplementationListensDialsAndDialsItself() async throws {
        let results = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-peers-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: results) }
        // The adapter runs the bench under test; children inherit the variable.
        setenv("UPGRADEBENCH_TEST_BENCH", try BenchExecutable.path(), 1)
        let run = try BenchProcess([
            "run", "--quick", "--connections", "3", "--peers", "swift,mirror",
            "--peers-dir", Self.fixtures.path, "--results", results.path, "--name", "peers",
        ])
        defer { run.kill() }
        let exit = try await run.waitForExit(timeout: Self.runTimeout)
        #expect(exit == .code(0), "\(exit); stderr: \(run.stderr.suffix(3000))")

        let folder = ResultsFolderView(directory: results.appendingPathComponent("peers"))
        let peers = try #require(try folder.meta["peers"] as? [[String: Any]])
        #expect(peers.count == 1)
        #expect(peers.first?["name"] as? String == "mirror")
        #expect(peers.first?["implementation"] as? String == "swift")
        #expect((peers.first?["version"] as? String)?.hasPrefix("UpgradeBench ") == true)

        let text = try String(contentsOf: folder.directory.appendingPathComponent("samples.csv"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        func column(_ name: String) throws -> Int { try #require(header.firstIndex(of: name), "\(name) in \(header)") }
        let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let scenario = try column("scenario")
        let pairs = Dictionary(grouping: rows) { "\($0[try! column("dialer_impl")])_to_\($0[try! column("listener_impl")])" }
        // The quick matrix has 16 scenarios; mirror adds 16 (our dialer), 8 (its dialer, strict),
        // 4 (itself, early strict); 3 connections each.
        #expect(pairs["swift_to_swift"]?.count == 16 * 3)
        #expect(pairs["swift_to_mirror"]?.count == 16 * 3)
        #expect(pairs["mirror_to_swift"]?.count == 8 * 3)
        #expect(pairs["mirror_to_mirror"]?.count == 4 * 3)
        let error = try column("error")
        #expect(rows.allSatisfy { $0[error].isEmpty }, "every connection succeeded: \(rows.filter { !$0[error].isEmpty })")

        // Our dialer to the other listener: every dialer stage, the path as agreed.
        let early = try column("path_early")
        let muxerReady = try column("muxer_ready_us")
        for row in pairs["swift_to_mirror"] ?? [] {
            #expect(!row[muxerReady].isEmpty, "\(row[scenario])")
            #expect(row[early] == (row[scenario].contains("-early-") ? "true" : "false"), "\(row[scenario])")
        }
        // The other dialer to our listener: its first echo, and our listener's stages placed on its
        // time line (its dial started before our accept, and the listener's muxer started before
        // the dialer's echo came back).
        let firstEcho = try column("first_echo_us")
        let listenerAccepted = try column("listener_accepted_us")
        let listenerMuxerReady = try column("listener_muxer_ready_us")
        for row in pairs["mirror_to_swift"] ?? [] {
            let echo = try #require(UInt64(row[firstEcho]), "\(row[scenario])")
            let accepted = try #require(UInt64(row[listenerAccepted]), "\(row[scenario])")
            let ready = try #require(UInt64(row[listenerMuxerReady]), "\(row[scenario])")
            #expect(accepted <= ready && ready < echo, "\(row[scenario]): \(accepted) \(ready) \(echo)")
            #expect(row[early] == (row[scenario].contains("-early-") ? "true" : "false"), "\(row[scenario])")
            if row[scenario].contains("20ms") {
                // Dial (1 RTT) and echo stream (≥ 1 RTT) at least.
                #expect(echo >= 40_000, "\(row[scenario]): \(echo)")
            }
        }
        for row in pairs["mirror_to_mirror"] ?? [] {
            #expect(!row[firstEcho].isEmpty && row[listenerAccepted].isEmpty, "no listener of ours: \(row[scenario])")
        }

        // Per pair, the summary counts and early's saving against the pair's own classic scenario.
        let summary = try String(contentsOf: folder.directory.appendingPathComponent("summary.csv"), encoding: .utf8)
        let summaryLines = summary.split(separator: "\n").map(String.init)
        let summaryHeader = summaryLines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let saving = try #require(summaryHeader.firstIndex(of: "saving_vs_classic_rtts"))
        let stage = try #require(summaryHeader.firstIndex(of: "stage"))
        let row = try #require(
            summaryLines.first { $0.hasPrefix("mirror_to_swift-noise-early-strict-20ms-") && $0.contains(",first_echo,") }
        ).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(row[stage] == "first_echo")
        let rtts = try #require(Double(row[saving]), "saving of \(row)")
        #expect(abs(rtts - 1) < 0.4, "early saves one round trip for the other dialer too: \(rtts)")
    }

    @Test func aPeerWithoutAnAdapterEndsTheRunBeforeMeasuring() async throws {
        let results = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-nopeer-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try BenchProcess([
            "run", "--quick", "--peers", "swift,nothere", "--peers-dir", Self.fixtures.path,
            "--results", results.path, "--name", "x",
        ])
        defer { run.kill() }
        let exit = try await run.waitForExit(timeout: .seconds(60))
        #expect(exit != .code(0))
        #expect(run.stderr.contains("peerUnavailable") && run.stderr.contains("nothere"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: results.appendingPathComponent("x").path))
    }
}
