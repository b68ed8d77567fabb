import Foundation
import Testing
import UpgradeBenchKit

/// Runs `scripts/plot.sh` on a synthetic results folder. Set `UPGRADEBENCH_KEEP_PLOTS=1` to keep
/// the folder (its path is in the failure message of a failing run, or under $TMPDIR).
@Suite struct PlotScriptTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // UpgradeBenchKitTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("scripts/plot.sh")

    static let gnuplot: String? = ["/usr/bin/gnuplot", "/usr/local/bin/gnuplot", "/opt/homebrew/bin/gnuplot"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: gnuplot != nil, "gnuplot is not installed (Debian: gnuplot-nox)"))
    func plotsASyntheticResultsFolder() throws {
        let directory = try SyntheticRun.write()
        let keep = ProcessInfo.processInfo.environment["UPGRADEBENCH_KEEP_PLOTS"] != nil
        defer { if !keep { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) } }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script.path, directory.path]
        var environment = ProcessInfo.processInfo.environment
        if let gnuplot = Self.gnuplot {
            environment["PATH"] =
                URL(fileURLWithPath: gnuplot).deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "")
        }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "plot.sh failed in \(directory.path):\n\(text)")
        #expect(!text.contains("warning"), "gnuplot warned:\n\(text)")

        let plots = directory.appendingPathComponent("plots")
        let expected =
            [
                "latency-vs-rtt.png", "saving.png", "stages-0ms-loopback.png", "stages-10ms-tun.png",
                "stages-20ms-tun.png",
            ]
            + ["noise", "tls"].flatMap { security in
                ["0ms-loopback", "10ms-tun", "20ms-tun"].map { "cdf-\(security)-\($0)-c1.png" }
            }
        let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        for name in expected {
            let data = try Data(contentsOf: plots.appendingPathComponent(name))
            #expect(Array(data.prefix(8)) == pngSignature, "\(name) is a PNG")
            #expect(data.count > 10_000, "\(name) has content (\(data.count) bytes)")
        }
        #expect(text.split(separator: "\n").count == expected.count, "plot.sh lists what it wrote:\n\(text)")
    }

    @Test func missingFolderIsReportedNotPlotted() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script.path, "/nonexistent/results/x"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
    }
}
