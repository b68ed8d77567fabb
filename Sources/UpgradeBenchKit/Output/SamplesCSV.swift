/// `samples.csv`: one row per recorded connection (columns in README.md ("Results" and "Round-trip accounting")).
public enum SamplesCSV {
    /// The header, in column order.
    public static let header: [String] =
        ["scenario", "security", "negotiation", "multistream", "rtt_ms", "emulator", "concurrency", "connection"]
        + ConnectionStage.allCases.map { "\($0.columnName)_us" }
        + ["path_security", "path_muxer", "path_early", "error"]
        + ConnectionSample.ListenerTimestamps.columns.map(\.name)
        + ConnectionStage.allCases.map { "\($0.columnName)_network_us" }
        + ConnectionStage.allCases.map { "\($0.columnName)_listener_compute_us" }
        + ConnectionStage.allCases.map { "\($0.columnName)_flights" }
        + Self.peerColumns

    /// The implementations at both ends (``Scenario/dialer``, ``Scenario/listener``), last so that
    /// column numbers of older files still hold.
    static let peerColumns = [
        "dialer_impl", "listener_impl", "dialer_reported_connect_us", "dialer_reported_handshake_us",
    ]

    /// The header of files written before the implementations were columns: UpgradeBench was at
    /// both ends.
    static var headerWithoutPeers: [String] { Array(self.header.dropLast(self.peerColumns.count)) }

    /// The document for `samples`, in the given order.
    public static func document(_ samples: [ConnectionSample]) -> CSVDocument {
        CSVDocument(header: self.header, records: samples.map(self.record))
    }

    /// The fields of one sample.
    public static func record(_ sample: ConnectionSample) -> [String] {
        let scenario = sample.scenario
        var fields = [
            scenario.name, scenario.security.rawValue, scenario.negotiation.rawValue, scenario.multistream.rawValue,
            String(scenario.rttMilliseconds), scenario.emulator.name, String(scenario.concurrency),
            String(sample.index),
        ]
        for stage in ConnectionStage.allCases {
            fields.append(sample.timestamps[stage].map { String($0) } ?? "")
        }
        fields.append(sample.path.security?.rawValue ?? "")
        fields.append(sample.path.muxer ?? "")
        fields.append(sample.path.earlyMuxerNegotiation.map { $0 ? "true" : "false" } ?? "")
        fields.append(sample.failure?.description ?? "")
        for column in ConnectionSample.ListenerTimestamps.columns {
            fields.append(sample.listener?[keyPath: column.keyPath].map { String($0) } ?? "")
        }
        for timestamps in [sample.network, sample.listenerCompute, sample.flights] {
            for stage in ConnectionStage.allCases {
                fields.append(timestamps?[stage].map { String($0) } ?? "")
            }
        }
        fields.append(scenario.dialer.rawValue)
        fields.append(scenario.listener.rawValue)
        fields.append(sample.reportedByDialer?.connect.map { String($0) } ?? "")
        fields.append(sample.reportedByDialer?.handshake.map { String($0) } ?? "")
        return fields
    }

    /// Reads `samples.csv` back. Each row's `scenario` column must name one of `scenarios` (the
    /// run's scenarios, as listed in `meta.json`) and its scenario columns must agree with it.
    ///
    /// - Throws: ``UpgradeBenchError`` for malformed CSV, another header, an unknown scenario or
    ///   a field that does not parse.
    public static func parse(_ text: String, scenarios: [Scenario]) throws -> [ConnectionSample] {
        let records = try CSVDocument.records(
            parsing: text, header: self.header, scenarios: scenarios, name: \.name, kind: "scenario",
            olderHeader: self.headerWithoutPeers
        )
        return try records.map { row, fields, scenario in
            let expected = Array(
                self.record(ConnectionSample(scenario: scenario, index: 0, timestamps: .init(), path: .init()))[0..<7]
            )
            guard Array(fields[0..<7]) == expected else {
                throw UpgradeBenchError.invalidCSVField(
                    "scenario columns \(fields[0..<7].joined(separator: ",")) disagree with \(scenario.name)",
                    record: row
                )
            }
            guard let index = Int(fields[7]), index >= 0 else {
                throw UpgradeBenchError.invalidCSVField(
                    "connection \"\(fields[7])\" is not a non-negative integer",
                    record: row
                )
            }
            var timestamps = ConnectionSample.Timestamps()
            for (offset, stage) in ConnectionStage.allCases.enumerated() {
                timestamps[stage] = try self.optionalMicroseconds(
                    fields[8 + offset],
                    column: self.header[8 + offset],
                    record: row
                )
            }
            let base = 8 + ConnectionStage.allCases.count
            var path = ConnectionSample.Path()
            if !fields[base].isEmpty {
                guard let security = Scenario.Security(rawValue: fields[base]) else {
                    throw UpgradeBenchError.invalidCSVField(
                        "path_security \"\(fields[base])\" is not noise or tls",
                        record: row
                    )
                }
                path.security = security
            }
            path.muxer = fields[base + 1].isEmpty ? nil : fields[base + 1]
            switch fields[base + 2] {
            case "": path.earlyMuxerNegotiation = nil
            case "true": path.earlyMuxerNegotiation = true
            case "false": path.earlyMuxerNegotiation = false
            default:
                throw UpgradeBenchError.invalidCSVField(
                    "path_early \"\(fields[base + 2])\" is not true or false",
                    record: row
                )
            }
            let failure = fields[base + 3].isEmpty ? nil : ConnectionSample.Failure(parsing: fields[base + 3])
            var listener = ConnectionSample.ListenerTimestamps()
            var listenerSeen = false
            for (offset, column) in ConnectionSample.ListenerTimestamps.columns.enumerated() {
                let value = try self.optionalMicroseconds(fields[base + 4 + offset], column: column.name, record: row)
                listener[keyPath: column.keyPath] = value
                listenerSeen = listenerSeen || value != nil
            }
            var sample = ConnectionSample(
                scenario: scenario,
                index: index,
                timestamps: timestamps,
                path: path,
                failure: failure,
                listener: listenerSeen ? listener : nil
            )
            var next = base + 4 + ConnectionSample.ListenerTimestamps.columns.count
            for keyPath in [\ConnectionSample.network, \ConnectionSample.listenerCompute, \ConnectionSample.flights] {
                var values = ConnectionSample.Timestamps()
                var seen = false
                for stage in ConnectionStage.allCases {
                    values[stage] = try self.optionalMicroseconds(fields[next], column: self.header[next], record: row)
                    seen = seen || values[stage] != nil
                    next += 1
                }
                sample[keyPath: keyPath] = seen ? values : nil
            }
            // Files without the columns have them empty: swift at both ends, as their scenarios say.
            let peers = [scenario.dialer.rawValue, scenario.listener.rawValue]
            guard fields[next..<next + 2].allSatisfy(\.isEmpty) || Array(fields[next..<next + 2]) == peers else {
                throw UpgradeBenchError.invalidCSVField(
                    "dialer_impl,listener_impl \(fields[next..<next + 2].joined(separator: ",")) disagree with \(scenario.name)",
                    record: row
                )
            }
            let connect = try self.optionalMicroseconds(fields[next + 2], column: self.header[next + 2], record: row)
            let handshake = try self.optionalMicroseconds(fields[next + 3], column: self.header[next + 3], record: row)
            if connect != nil || handshake != nil {
                sample.reportedByDialer = ConnectionSample.ReportedDurations(connect: connect, handshake: handshake)
            }
            return sample
        }
    }

    private static func optionalMicroseconds(_ field: String, column: String, record: Int) throws -> UInt64? {
        guard !field.isEmpty else { return nil }
        guard let value = UInt64(field) else {
            throw UpgradeBenchError.invalidCSVField(
                "\(column) \"\(field)\" is not a whole number of microseconds",
                record: record
            )
        }
        return value
    }
}
