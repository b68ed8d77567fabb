import Testing
import UpgradeBenchKit

@Suite struct CSVDocumentTests {
    @Test func plainFieldsAreNotQuoted() {
        #expect(CSVDocument.escape("noise-early-strict-10ms-tun-c1") == "noise-early-strict-10ms-tun-c1")
        #expect(CSVDocument.escape("") == "")
        #expect(CSVDocument.escape("/yamux/1.0.0") == "/yamux/1.0.0")
    }

    @Test func fieldsThatNeedQuotesAreQuotedAndQuotesDoubled() {
        #expect(CSVDocument.escape("a,b") == "\"a,b\"")
        #expect(CSVDocument.escape("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVDocument.escape("two\nlines") == "\"two\nlines\"")
        #expect(CSVDocument.escape("cr\rhere") == "\"cr\rhere\"")
        #expect(CSVDocument.escape(" padded") == "\" padded\"")
        #expect(CSVDocument.escape("padded ") == "\"padded \"")
    }

    @Test func goldenDocument() {
        let document = CSVDocument(header: ["a", "b"], records: [["1", "x,y"], ["", "\"q\""]])
        #expect(document.encoded() == "a,b\n1,\"x,y\"\n,\"\"\"q\"\"\"\n")
    }

    @Test func awkwardFieldsSurviveARoundTrip() throws {
        let awkward = [
            "", " ", ",", "\"", "\"\"", "a,b,c", "line\nbreak", "crlf\r\ninside", "trailing ", "ünïcödé ✓", "\t",
            "secureHandshake: peer sent \"na\", then closed",
        ]
        let records = awkward.map { [$0, "x"] } + [["x", ""]]
        let document = CSVDocument(header: ["field", "other"], records: records)
        #expect(try CSVDocument(parsing: document.encoded()) == document)
    }

    @Test func crlfLineEndingsAreAccepted() throws {
        let document = try CSVDocument(parsing: "a,b\r\n1,2\r\n\"x\",\"y\"\r\n")
        #expect(document.header == ["a", "b"])
        #expect(document.records == [["1", "2"], ["x", "y"]])
    }

    @Test func missingFinalLineFeedIsAccepted() throws {
        #expect(try CSVDocument(parsing: "a,b\n1,2").records == [["1", "2"]])
        #expect(try CSVDocument(parsing: "a,b\n1,").records == [["1", ""]])
        #expect(try CSVDocument(parsing: "a,b\n1,\"2\"").records == [["1", "2"]])
    }

    @Test func columnLookup() throws {
        let document = try CSVDocument(parsing: "a,b\n")
        #expect(document.column("b") == 1)
        #expect(document.column("c") == nil)
    }

    // MARK: - Malformed input, one case each

    @Test func emptyInputIsRejected() {
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "") } == .malformedCSV)
    }

    @Test func unterminatedQuoteIsRejected() {
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a,b\n1,\"open\n") } == .malformedCSV)
    }

    @Test func quoteInsideUnquotedFieldIsRejected() {
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a,b\n1,x\"y\n") } == .malformedCSV)
    }

    @Test func textAfterClosingQuoteIsRejected() {
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a,b\n1,\"x\"y\n") } == .malformedCSV)
    }

    @Test func loneCarriageReturnIsRejected() {
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a,b\r1,2\n") } == .malformedCSV)
    }

    @Test func oversizedFieldIsRejected() {
        let huge = String(repeating: "x", count: CSVDocument.maximumFieldBytes + 1)
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a\n\(huge)\n") } == .malformedCSV)
        let quoted = "\"" + huge + "\""
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a\n\(quoted)\n") } == .malformedCSV)
    }

    @Test func recordWiderThanHeaderIsRejected() {
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a,b\n1,2,3\n") } == .invalidCSVField)
    }

    @Test func recordNarrowerThanHeaderIsRejected() {
        #expect(benchErrorCode { _ = try CSVDocument(parsing: "a,b\n1\n") } == .invalidCSVField)
    }

    @Test func errorNamesTheLine() {
        do {
            _ = try CSVDocument(parsing: "a,b\n1,2\n3,x\"\n")
            Issue.record("no error")
        } catch let error as UpgradeBenchError {
            #expect(error.diagnostics.hasPrefix("line 3:"), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
