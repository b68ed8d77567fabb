import Foundation
import Testing
import UpgradeBenchKit

@Suite struct CompareReportTests {
    /// Base and new folders: TLS 10 % slower, Noise unchanged, a scenario on each side only,
    /// throughput 30 % slower.
    static func comparison() throws -> ResultsComparison {
        let base = try CompareFixture.write(
            name: "main",
            scenarios: [CompareFixture.loopbackNoise, CompareFixture.loopbackTLS],
            throughput: [CompareFixture.noiseThroughput],
            seed: 10
        )
        let new = try CompareFixture.write(
            name: "pr",
            scenarios: [CompareFixture.loopbackNoise, CompareFixture.loopbackTLS, CompareFixture.emulatedNoise],
            scales: [CompareFixture.loopbackTLS.name: 1.10],
            throughput: [CompareFixture.noiseThroughput],
            rateScale: 0.7,
            seed: 11
        )
        return try CompareFixture.compare(base, new, .init(stages: [.handshakeDone, .muxerReady]))
    }

    @Test func textIsAnAlignedTable() throws {
        let comparison = try Self.comparison()
        let lines = comparison.rendered(as: .text)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("scenario ") })
        #expect(lines[header + 1].allSatisfy { $0 == "-" || $0 == " " })
        let rows = lines[(header + 2)...].prefix { !$0.isEmpty }
        #expect(rows.count == comparison.rows.count)
        #expect(comparison.rows.count == 5, "2 scenarios × 2 stages + throughput")
        // Every column starts where its header does: the `metric` column is left-aligned.
        let metricColumn = try #require(lines[header].range(of: "metric")).lowerBound.utf16Offset(in: lines[header])
        for row in rows {
            let cell = row.dropFirst(metricColumn).prefix { $0 != " " }
            #expect(["handshake_done", "muxer_ready", "throughput"].contains(String(cell)), "\(row)")
        }
        let text = lines.joined(separator: "\n")
        #expect(text.contains("base: "))
        #expect(text.contains("slower, beyond 5 %"))
        #expect(text.contains("only in new: \(CompareFixture.emulatedNoise.name)"))
        #expect(text.contains("result: 3 of 5 rows significantly slower by more than 5 %"), "\(text)")
        #expect(text.contains("MB/s"))
        #expect(lines.allSatisfy { !$0.contains("\t") })
    }

    @Test func markdownIsATable() throws {
        let comparison = try Self.comparison()
        let markdown = comparison.rendered(as: .markdown)
        let lines = markdown.split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("| scenario | metric |") })
        #expect(lines[header + 1] == "|:--|:--|--:|--:|--:|--:|--:|--:|:--|")
        let rows = lines[(header + 2)...].prefix { $0.hasPrefix("| ") }
        #expect(rows.count == comparison.rows.count)
        for row in rows { #expect(row.filter { $0 == "|" }.count == 10, "\(row)") }
        #expect(markdown.contains("**slower, beyond 5 %**"))
        #expect(markdown.contains("- only in new: \(CompareFixture.emulatedNoise.name)"))
        #expect(markdown.contains("**result: 3 of 5 rows significantly slower by more than 5 %"))
    }

    @Test func csvHasEveryRowAndEveryUnmatchedScenario() throws {
        let comparison = try Self.comparison()
        let document = try CSVDocument(parsing: comparison.rendered(as: .csv))
        #expect(document.header == ResultsComparison.csvHeader)
        #expect(document.records.count == comparison.rows.count + comparison.unmatched.count)
        let status = try #require(document.column("status"))
        let metric = try #require(document.column("metric"))
        let scenario = try #require(document.column("scenario"))
        let verdict = try #require(document.column("verdict"))
        let pValue = try #require(document.column("p_value"))
        let change = try #require(document.column("change_pct"))
        let tls = try #require(
            document.records.first { $0[scenario] == CompareFixture.loopbackTLS.name && $0[metric] == "muxer_ready" }
        )
        #expect(tls[status] == "compared")
        #expect(tls[verdict] == "slower")
        #expect(try #require(Double(tls[pValue])) < 0.05)
        #expect(abs(try #require(Double(tls[change])) - 10) < 4)
        let throughput = try #require(document.records.first { $0[metric] == "throughput" })
        #expect(throughput[document.column("unit") ?? 0] == "B/s")
        #expect(throughput[verdict] == "slower")
        let onlyNew = try #require(document.records.first { $0[status] == "only_in_new" })
        #expect(onlyNew[scenario] == CompareFixture.emulatedNoise.name)
        #expect(onlyNew[pValue].isEmpty)
    }

    @Test func formatsFromFileNames() {
        #expect(ComparisonFormat(fileName: "comment.md") == .markdown)
        #expect(ComparisonFormat(fileName: "x.MARKDOWN") == .markdown)
        #expect(ComparisonFormat(fileName: "rows.csv") == .csv)
        #expect(ComparisonFormat(fileName: "table.txt") == .text)
        #expect(ComparisonFormat(fileName: "report") == nil)
    }

    @Test func anUnusableComparisonStillRenders() throws {
        let base = try CompareFixture.write(name: "base", scenarios: [CompareFixture.loopbackNoise], seed: 60)
        let new = try CompareFixture.write(name: "new", scenarios: [CompareFixture.loopbackTLS], seed: 61)
        let comparison = try CompareFixture.compare(base, new)
        for format in ComparisonFormat.allCases {
            #expect(!comparison.rendered(as: format).isEmpty)
        }
        #expect(comparison.rendered(as: .text).contains("result: nothing to compare: no scenario in common"))
    }
}
