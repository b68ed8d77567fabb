/// An error from the benchmark driver: scenario definitions, result files and their parsers.
///
/// Equality compares ``code`` only, so tests can match on the kind of failure while the
/// ``diagnostics`` say what exactly was wrong.
public struct UpgradeBenchError: Error, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, for people; not part of equality.
    public let diagnostics: String

    @usableFromInline
    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: UpgradeBenchError, rhs: UpgradeBenchError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "UpgradeBenchError.\(self.code): \(self.diagnostics)" }

    /// The kinds of driver failure. Codes are stable: scripts may match on them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidScenario
            case duplicateScenarioName
            case unknownPreset
            case malformedCSV
            case csvHeaderMismatch
            case invalidCSVField
            case fileSystem
            case peerUnavailable
            case peerFailed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A scenario whose parameters cannot be run (no connections, negative RTT, zero concurrency, ...).
        public static let invalidScenario = Code(.invalidScenario)
        /// Two scenarios of one matrix with the same ``Scenario/name``: their result files would collide.
        public static let duplicateScenarioName = Code(.duplicateScenarioName)
        /// A matrix preset name that ``ScenarioMatrix/preset(named:)`` does not know.
        public static let unknownPreset = Code(.unknownPreset)
        /// CSV text that is not RFC 4180: an unterminated or stray quote, or a record longer than the limit.
        public static let malformedCSV = Code(.malformedCSV)
        /// A CSV file whose header is not the one this version writes.
        public static let csvHeaderMismatch = Code(.csvHeaderMismatch)
        /// A CSV field that does not parse as its column's type, or a row with the wrong number of fields.
        public static let invalidCSVField = Code(.invalidCSVField)
        /// Creating the results folder or writing a file in it failed.
        public static let fileSystem = Code(.fileSystem)
        /// Another implementation's adapter (docs/peers.md) is missing or cannot install it, or
        /// cannot do what the scenario asks (adapter exit codes 3 and 4).
        public static let peerUnavailable = Code(.peerUnavailable)
        /// Another implementation's adapter broke the contract: no start-up line in time, an
        /// unparsable line, or an exit before its work was done.
        public static let peerFailed = Code(.peerFailed)

        public var description: String { self.base.rawValue }
    }
}

extension UpgradeBenchError {
    @inline(never)
    static func peerUnavailable(_ what: String) -> UpgradeBenchError { UpgradeBenchError(.peerUnavailable, what) }

    @inline(never)
    static func peerFailed(_ what: String) -> UpgradeBenchError { UpgradeBenchError(.peerFailed, what) }

    @inline(never)
    static func invalidScenario(_ what: String) -> UpgradeBenchError { UpgradeBenchError(.invalidScenario, what) }

    @inline(never)
    static func duplicateScenarioName(_ name: String) -> UpgradeBenchError {
        UpgradeBenchError(.duplicateScenarioName, "two scenarios are named \(name)")
    }

    @inline(never)
    static func unknownPreset(_ name: String, known: [String]) -> UpgradeBenchError {
        UpgradeBenchError(.unknownPreset, "no preset named \(name); known: \(known.joined(separator: ", "))")
    }

    @inline(never)
    static func malformedCSV(_ what: String, line: Int) -> UpgradeBenchError {
        UpgradeBenchError(.malformedCSV, "line \(line): \(what)")
    }

    @inline(never)
    static func csvHeaderMismatch(expected: [String], found: [String]) -> UpgradeBenchError {
        UpgradeBenchError(
            .csvHeaderMismatch,
            "expected header \(expected.joined(separator: ",")), found \(found.joined(separator: ","))"
        )
    }

    @inline(never)
    static func invalidCSVField(_ what: String, record: Int) -> UpgradeBenchError {
        UpgradeBenchError(.invalidCSVField, "record \(record): \(what)")
    }

    @inline(never)
    static func fileSystem(_ what: String) -> UpgradeBenchError { UpgradeBenchError(.fileSystem, what) }
}
