import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An interrupted `bench` run leaves nothing behind but its results: SIGINT or SIGTERM in the
/// middle of an emulated scenario removes its network namespaces (and the TUN devices and delayer
/// threads inside them), closes the results folder with the scenarios done, and the process then
/// dies of that signal, as an interrupted command should.
///
/// Needs root and TUN devices, like the TUN emulator itself; elsewhere it is skipped with the reason.
@Suite(.serialized, .timeLimit(.minutes(3))) struct BenchInterruptTests {
    /// Where the emulator publishes its namespaces for `ip netns exec` while a run lasts.
    static let namespaceDirectory = "/run/netns"
    /// A debug build reaches the first emulated scenario in a few seconds; this only catches hangs.
    static let reachTimeout: Duration = .seconds(120)
    static let exitTimeout: Duration = .seconds(20)

    static var canEmulate: Bool {
        geteuid() == 0 && FileManager.default.fileExists(atPath: "/dev/net/tun")
    }

    /// Names under /run/netns that the run `pid` published (`ubnetem-<pid>-…`).
    static func publishedNamespaces(of pid: pid_t) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.namespaceDirectory)) ?? []
        return names.filter { $0.hasPrefix("ubnetem-\(pid)-") }
    }

    @Test(.enabled(if: Self.canEmulate, "needs root and /dev/net/tun for the TUN emulator"), arguments: [SIGINT, SIGTERM])
    func interruptedRunRemovesItsNamespacesAndDiesOfTheSignal(signalNumber: Int32) async throws {
        let results = FileManager.default.temporaryDirectory
            .appendingPathComponent("upgradebench-interrupt-\(getpid())-\(signalNumber)")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try BenchProcess([
            "run", "--quick", "--emulator", "tun", "--connections", "20",
            "--results", results.path, "--name", "interrupted",
        ])
        defer { run.kill() }

        // Wait until an emulated scenario is running: its namespaces are published, the
        // progress names a 20 ms scenario, and meta.json names the one in flight.
        let folder = ResultsFolderView(directory: results.appendingPathComponent("interrupted"))
        func emulatedInFlight() -> Bool {
            ((try? folder.progress["inFlight"] as? String) ?? nil)?.contains("20ms-tun") == true
        }
        let clock = ContinuousClock()
        let deadline = clock.now + Self.reachTimeout
        while !(run.stderr.contains("20ms-tun") && !Self.publishedNamespaces(of: run.pid).isEmpty
            && emulatedInFlight())
        {
            try #require(!run.hasExited, "bench ended before an emulated scenario: \(run.stderr)")
            try #require(clock.now < deadline, "no emulated scenario within \(Self.reachTimeout): \(run.stderr)")
            try await Task.sleep(for: .milliseconds(50))
        }

        run.send(signalNumber)
        let exit = try await run.waitForExit(timeout: Self.exitTimeout)
        #expect(exit == .signal(signalNumber), "\(exit); stderr: \(run.stderr)")
        #expect(Self.publishedNamespaces(of: run.pid).isEmpty, "namespaces left: \(Self.publishedNamespaces(of: run.pid))")

        // Before dying, the run closed its folder: meta.json says how and where it ended, the
        // records hold the scenarios done, and `bench report` makes the summary the run wrote.
        let meta = try folder.meta
        let signalName = signalNumber == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(meta["status"] as? String == "interrupted")
        #expect(meta["signal"] as? String == signalName)
        let inFlight = try #require(try folder.progress["inFlight"] as? String)
        #expect(inFlight.contains("20ms-tun"))
        let upgrades = try folder.checkPartialRecords()
        #expect(upgrades.contains { $0.contains("20ms-tun") }, "the emulated scenario seen done is in the records")
        let summaryURL = folder.directory.appendingPathComponent("summary.csv")
        let written = try String(contentsOf: summaryURL, encoding: .utf8)
        try FileManager.default.removeItem(at: summaryURL)
        let (rebuilt, stdout) = try await folder.report(upgrades: upgrades)
        #expect(rebuilt == written)
        #expect(stdout.contains("run: interrupted by \(signalName) during \(inFlight)"), "\(stdout)")
    }
}
