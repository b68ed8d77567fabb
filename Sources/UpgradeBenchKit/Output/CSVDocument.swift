/// A CSV table as RFC 4180 defines it: a header record and data records of the same width.
///
/// Writing quotes a field only when it must (it contains `,`, `"`, CR or LF, or starts or ends
/// with a space) and doubles quotes inside it; records end with LF. Reading accepts LF and CRLF
/// and rejects anything else RFC 4180 does not allow with a typed error.
public struct CSVDocument: Hashable, Sendable {
    /// Column names.
    public var header: [String]
    /// Data records; each has `header.count` fields.
    public var records: [[String]]

    /// The longest field the parser accepts, in bytes: 64 KiB. No field this driver writes comes
    /// close (error texts are the longest); the bound keeps a corrupt file from growing one
    /// field without limit.
    public static let maximumFieldBytes = 64 * 1024

    /// Creates a document.
    public init(header: [String], records: [[String]] = []) {
        self.header = header
        self.records = records
    }

    /// The CSV text.
    public func encoded() -> String {
        var text = Self.encodeRecord(self.header)
        for record in self.records { text += Self.encodeRecord(record) }
        return text
    }

    /// One record with its line feed.
    public static func encodeRecord(_ fields: [String]) -> String {
        fields.map(self.escape).joined(separator: ",") + "\n"
    }

    /// `field` as it must appear in a record.
    public static func escape(_ field: String) -> String {
        let needsQuotes =
            field.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
            || field.first == " " || field.last == " "
        guard needsQuotes else { return field }
        return "\"" + field.replacingAll("\"", with: "\"\"") + "\""
    }

    /// Parses CSV text whose first record is the header.
    ///
    /// - Throws: ``UpgradeBenchError/Code/malformedCSV`` for empty input, an unterminated quoted
    ///   field, a quote inside an unquoted field, text after a closing quote or a field over
    ///   ``maximumFieldBytes``; ``UpgradeBenchError/Code/invalidCSVField`` for a record whose width
    ///   differs from the header's.
    public init(parsing text: String) throws {
        let records = try Self.parseRecords(text)
        guard let header = records.first else { throw UpgradeBenchError.malformedCSV("no header record", line: 1) }
        for (index, record) in records.enumerated().dropFirst() where record.count != header.count {
            throw UpgradeBenchError.invalidCSVField(
                "has \(record.count) fields, the header has \(header.count)",
                record: index
            )
        }
        self.header = header
        self.records = Array(records.dropFirst())
    }

    /// The index of column `name`, or `nil`.
    public func column(_ name: String) -> Int? { self.header.firstIndex(of: name) }

    // MARK: - Parser

    private enum FieldState {
        /// At the start of a field.
        case fieldStart
        /// Inside an unquoted field.
        case unquoted
        /// Inside a quoted field.
        case quoted
        /// Just read a quote inside a quoted field: either the closing quote or the first of a pair.
        case quoteInQuoted
    }

    private static func parseRecords(_ text: String) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field: [UInt8] = []
        var state = FieldState.fieldStart
        var line = 1
        var bytes = text.utf8.makeIterator()
        var pending: UInt8? = nil

        func endField() {
            record.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            records.append(record)
            record = []
        }

        while let byte = pending ?? bytes.next() {
            pending = nil
            switch state {
            case .fieldStart, .unquoted:
                switch byte {
                case UInt8(ascii: ","):
                    endField()
                    state = .fieldStart
                case 0x0A:
                    endRecord()
                    line += 1
                    state = .fieldStart
                case 0x0D:
                    // Only as part of CRLF.
                    guard let next = bytes.next(), next == 0x0A else {
                        throw UpgradeBenchError.malformedCSV(
                            "carriage return outside quotes not followed by line feed",
                            line: line
                        )
                    }
                    endRecord()
                    line += 1
                    state = .fieldStart
                case UInt8(ascii: "\""):
                    guard case .fieldStart = state else {
                        throw UpgradeBenchError.malformedCSV("quote inside an unquoted field", line: line)
                    }
                    state = .quoted
                default:
                    field.append(byte)
                    state = .unquoted
                }
            case .quoted:
                if byte == UInt8(ascii: "\"") {
                    state = .quoteInQuoted
                } else {
                    if byte == 0x0A { line += 1 }
                    field.append(byte)
                }
            case .quoteInQuoted:
                switch byte {
                case UInt8(ascii: "\""):
                    field.append(byte)
                    state = .quoted
                case UInt8(ascii: ","), 0x0A, 0x0D:
                    state = .unquoted
                    pending = byte
                default:
                    throw UpgradeBenchError.malformedCSV("text after the closing quote of a field", line: line)
                }
            }
            if field.count > self.maximumFieldBytes {
                throw UpgradeBenchError.malformedCSV("field longer than \(self.maximumFieldBytes) bytes", line: line)
            }
        }

        switch state {
        case .quoted:
            throw UpgradeBenchError.malformedCSV("quoted field not terminated at end of input", line: line)
        case .fieldStart:
            // A final line feed ends the last record; anything else is a last field without one.
            if !record.isEmpty { endRecord() }
        case .unquoted, .quoteInQuoted:
            endRecord()
        }
        return records
    }

    /// `text` up to and including the line feed that ends its last complete record: what is left
    /// of a file whose writer was killed in the middle of appending a record is cut off. A line
    /// feed inside a quoted field ends no record.
    public static func completeRecordsPrefix(of text: String) -> Substring {
        var inQuotes = false
        var end = text.utf8.startIndex
        var index = text.utf8.startIndex
        while index != text.utf8.endIndex {
            let byte = text.utf8[index]
            text.utf8.formIndex(after: &index)
            if byte == UInt8(ascii: "\"") {
                // A doubled quote inside a quoted field flips twice: no change, as it should be.
                inQuotes.toggle()
            } else if byte == 0x0A && !inQuotes {
                end = index
            }
        }
        return text[text.startIndex..<end]
    }
}

extension String {
    /// Every occurrence of `target` replaced (without Foundation).
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        result.reserveCapacity(self.utf8.count)
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}

extension CSVDocument {
    /// Parses one of the run's record files (`samples.csv`, `throughput.csv`): checks that its header is `header`
    /// and pairs each record with the scenario its first column names, numbering records from 1.
    ///
    /// - Throws: ``UpgradeBenchError`` for malformed CSV, another header, or a scenario not in `scenarios`.
    static func records<Named>(
        parsing text: String,
        header: [String],
        scenarios: [Named],
        name: (Named) -> String,
        kind: String,
        olderHeader: [String]? = nil
    ) throws -> [(row: Int, fields: [String], scenario: Named)] {
        let document = try CSVDocument(parsing: text)
        // An older version's file lacks trailing columns: its rows get them empty.
        let missing: Int
        if document.header == header {
            missing = 0
        } else if let olderHeader, document.header == olderHeader, header.starts(with: olderHeader) {
            missing = header.count - olderHeader.count
        } else {
            throw UpgradeBenchError.csvHeaderMismatch(expected: header, found: document.header)
        }
        let byName = Dictionary(scenarios.map { (name($0), $0) }) { first, _ in first }
        return try document.records.enumerated().map { number, fields in
            guard let scenario = byName[fields[0]] else {
                throw UpgradeBenchError.invalidCSVField("unknown \(kind) \(fields[0])", record: number + 1)
            }
            return (number + 1, fields + Array(repeating: "", count: missing), scenario)
        }
    }
}
