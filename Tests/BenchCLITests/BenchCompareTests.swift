import Foundation
import Testing

/// `bench compare` as a CI job runs it: the real executable on real result folders (the committed reference run),
/// its exit codes and the rows it names.
@Suite(.serialized, .timeLimit(.minutes(2))) struct BenchCompareTests {
    /// The committed reference run, found from this file's path.
    static func referenceFolder(filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("results/reference")
    }

    @Test func aRunComparedWithItselfPasses() async throws {
        let reference = Self.referenceFolder().path
        let compare = try BenchProcess(["compare", reference, reference, "--threshold", "0"])
        defer { compare.kill() }
        let exit = try await compare.waitForExit(timeout: .seconds(60))
        #expect(exit == .code(0), "\(exit); stderr: \(compare.stderr)")
        #expect(compare.stdout.contains("0 slower within the threshold, 0 faster"), "\(compare.stdout)")
    }

    @Test func aSlowerScenarioFailsTheGateAndIsNamed() async throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("compare-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let slower = folder.appendingPathComponent("slower")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.referenceFolder(), to: slower)
        // Every connection of one scenario reaches muxer_ready 20 % later.
        let samplesURL = slower.appendingPathComponent("samples.csv")
        let samples = try String(contentsOf: samplesURL, encoding: .utf8)
        var lines = samples.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = lines[0].split(separator: ",").map(String.init)
        let column = try #require(header.firstIndex(of: "muxer_ready_us"))
        let scenario = "noise-early-strict-20ms-tun-c1"
        var changed = 0
        for index in lines.indices.dropFirst() where lines[index].hasPrefix(scenario + ",") {
            var fields = lines[index].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let value = try #require(Int(fields[column]))
            fields[column] = String(value * 6 / 5)
            lines[index] = fields.joined(separator: ",")
            changed += 1
        }
        try #require(changed > 0)
        try lines.joined(separator: "\n").write(to: samplesURL, atomically: true, encoding: .utf8)

        let compare = try BenchProcess([
            "compare", Self.referenceFolder().path, slower.path, "--threshold", "10", "--stages", "muxer_ready",
        ])
        defer { compare.kill() }
        let exit = try await compare.waitForExit(timeout: .seconds(60))
        #expect(exit == .code(1), "\(exit); stdout: \(compare.stdout); stderr: \(compare.stderr)")
        #expect(compare.stderr.contains(scenario), "\(compare.stderr)")
        // The other scenarios are unchanged, and not listed as slower.
        #expect(!compare.stderr.contains("noise-classic-strict-20ms-tun-c1"), "\(compare.stderr)")
    }

    @Test func aMissingFolderIsUnusableInput() async throws {
        let compare = try BenchProcess(["compare", Self.referenceFolder().path, "/nonexistent/results"])
        defer { compare.kill() }
        let exit = try await compare.waitForExit(timeout: .seconds(60))
        #expect(exit == .code(2), "\(exit); stderr: \(compare.stderr)")
        #expect(!compare.stderr.isEmpty)
    }
}
