import NIOCore
import P2PCore
import TestSupport
import Testing

@testable import TLS

/// The direct record layer (RFC 8446 §5.2–§5.5, §4.6) against OpenSSL's own record layer and
/// itself: both directions, padding, empty records, tickets, KeyUpdate, and bad records by name.
@Suite struct OpenSSLRecordLayerTests {
    typealias Support = TLSTestSupport
    let now = TLSTestSupport.now
    let allocator = ByteBufferAllocator()

    func established(
        client clientProtection: TLSRecordProtection,
        server serverProtection: TLSRecordProtection,
        tickets: Int = 0
    ) throws -> (TLSConnection, TLSConnection) {
        let client = try TLSConnection(
            context: try Support.context(1, protection: clientProtection),
            role: .initiator,
            now: self.now
        )
        let server = try TLSConnection(
            context: try Support.context(2, tickets: tickets, protection: serverProtection),
            role: .responder,
            now: self.now
        )
        _ = try Support.handshake(client: client, server: server)
        return (client, server)
    }

    func send(_ message: [UInt8], from sender: TLSConnection, to receiver: TLSConnection) throws -> [UInt8] {
        var plaintext = self.allocator.buffer(bytes: message)
        try sender.encrypt(&plaintext)
        _ = Support.transfer(from: sender, to: receiver)
        return try Support.decryptAll(receiver)
    }

    static let pairings: [(TLSRecordProtection, TLSRecordProtection)] = [
        (.direct, .direct), (.direct, .openSSL), (.openSSL, .direct), (.openSSL, .openSSL),
    ]

    @Test(arguments: 0..<4)
    func recordsInteroperateWithOpenSSLsRecordLayer(pairing: Int) throws {
        let (clientProtection, serverProtection) = Self.pairings[pairing]
        let (client, server) = try self.established(client: clientProtection, server: serverProtection)
        #expect(client.recordsAreDirect == (clientProtection == .direct))
        #expect(server.recordsAreDirect == (serverProtection == .direct))
        for size in [1, 255, 16383, 16384, 16385, 70_000] {
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ size) }
            #expect(try self.send(message, from: client, to: server) == message, "\(size) bytes client to server")
            #expect(try self.send(message, from: server, to: client) == message, "\(size) bytes server to client")
        }
    }

    @Test func directRecordsAreSixteenKiBAtMost() throws {
        let (client, _) = try self.established(client: .direct, server: .direct)
        var plaintext = self.allocator.buffer(repeating: 7, count: 16385)
        try client.encrypt(&plaintext)
        var wire = self.allocator.buffer(capacity: 0)
        client.drainBytesToSend(into: &wire)
        // Two records: 16384 + 1 + 16 and 1 + 1 + 16 bytes of ciphertext, each behind a 5-byte header.
        #expect(wire.readableBytes == (5 + 16384 + 17) + (5 + 1 + 17))
        #expect(wire.getBytes(at: wire.readerIndex, length: 5) == [23, 3, 3, 0x40, 0x11])
    }

    @Test func paddedRecordsFromOpenSSLAreUnpadded() throws {
        let (client, server) = try self.established(client: .direct, server: .openSSL)
        #expect(server.openSSL.padRecords(toMultipleOf: 512))
        let message = Array("padded to a 512-byte boundary".utf8)
        var plaintext = self.allocator.buffer(bytes: message)
        try server.encrypt(&plaintext)
        var wire = self.allocator.buffer(capacity: 0)
        server.drainBytesToSend(into: &wire)
        #expect(wire.readableBytes == 5 + 512 + 16)
        client.receivedBytes(wire)
        #expect(try Support.decryptAll(client) == message)
    }

    @Test func sessionTicketsBeforeTheFirstDataAreSkipped() throws {
        let (client, server) = try self.established(client: .direct, server: .direct, tickets: 2)
        #expect(client.recordsAreDirect)
        #expect(!server.recordsAreDirect, "a server that sent tickets keeps OpenSSL's record layer")
        #expect(try self.send(Array("after tickets".utf8), from: server, to: client) == Array("after tickets".utf8))
        #expect(try self.send(Array("and back".utf8), from: client, to: server) == Array("and back".utf8))
    }

    @Test func keyUpdateRequestedByThePeerIsAnswered() throws {
        let (client, server) = try self.established(client: .direct, server: .openSSL)
        #expect(server.openSSL.requestKeyUpdate())
        // The KeyUpdate goes out with the server's next record; the client updates its read key,
        // answers under its old write key, then updates that too.
        #expect(try self.send(Array("new keys".utf8), from: server, to: client) == Array("new keys".utf8))
        #expect(client.hasBytesToSend, "KeyUpdate answer queued")
        #expect(try self.send(Array("under the new key".utf8), from: client, to: server) == Array("under the new key".utf8))
        #expect(try self.send(Array("still fine".utf8), from: server, to: client) == Array("still fine".utf8))
    }

    @Test func emptyApplicationDataRecordsAreSkipped() throws {
        let (client, server) = try self.established(client: .direct, server: .direct)
        var nothing = self.allocator.buffer(capacity: 0)
        try client.encrypt(&nothing)
        #expect(!client.hasBytesToSend, "encrypting nothing sends nothing")
        // An empty record is still legal on the wire (RFC 8446 §5.4): seal one by hand, then data.
        #expect(client.openSSL.sendRecord(contentType: 23, content: []))
        #expect(try self.send(Array("x".utf8), from: client, to: server) == Array("x".utf8))
    }

    // MARK: - Bad records, one test each

    func expectFailure(
        receiving bytes: [UInt8],
        _ code: TLSError.Code,
        alertSent: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let (_, server) = try self.established(client: .direct, server: .direct)
        server.receivedBytes(self.allocator.buffer(bytes: bytes))
        var out = self.allocator.buffer(capacity: 0)
        let error = #expect(throws: TLSError.self, sourceLocation: sourceLocation) { try server.decrypt(into: &out) }
        #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(server.hasBytesToSend == alertSent, "alert queued", sourceLocation: sourceLocation)
        // The failure is sticky.
        #expect(throws: TLSError.self, sourceLocation: sourceLocation) { try server.decrypt(into: &out) }
    }

    /// Sends records of `contentType` with each of `contents` from a direct client to a direct server
    /// and expects the server to fail with `recordLayerFailure` and queue an alert.
    func expectServerRejects(
        contentType: UInt8,
        _ contents: [UInt8]...,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let (client, server) = try self.established(client: .direct, server: .direct)
        for content in contents {
            #expect(client.openSSL.sendRecord(contentType: contentType, content: content), sourceLocation: sourceLocation)
        }
        _ = Support.transfer(from: client, to: server)
        var out = self.allocator.buffer(capacity: 0)
        let error = #expect(throws: TLSError.self, sourceLocation: sourceLocation) { try Support.decryptAll(server) }
        #expect(error?.code == .recordLayerFailure, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(server.hasBytesToSend, "alert queued", sourceLocation: sourceLocation)
        #expect(throws: TLSError.self, sourceLocation: sourceLocation) { try server.decrypt(into: &out) }
    }

    @Test func innerPlaintextWithoutContentTypeFails() throws {
        // Content type 0 makes the whole inner plaintext zeros: no content type at all (§5.4).
        try self.expectServerRejects(contentType: 0, [0, 0, 0])
    }

    @Test func unknownInnerContentTypeFails() throws {
        try self.expectServerRejects(contentType: 99, [1, 2, 3])
    }

    @Test func alertOfWrongLengthFails() throws {
        try self.expectServerRejects(contentType: 21, [2])
    }

    @Test func handshakeMessageOtherThanTicketOrKeyUpdateFails() throws {
        // A ClientHello header after the handshake.
        try self.expectServerRejects(contentType: 22, [1, 0, 0, 0])
    }

    @Test func newSessionTicketToAServerFails() throws {
        try self.expectServerRejects(contentType: 22, [4, 0, 0, 0])
    }

    @Test func keyUpdateWithAnInvalidValueFails() throws {
        try self.expectServerRejects(contentType: 22, [24, 0, 0, 1, 2])
    }

    @Test func keyUpdateNotEndingItsRecordFails() throws {
        try self.expectServerRejects(contentType: 22, [24, 0, 0, 1, 0, 24])
    }

    @Test func oversizedPostHandshakeMessageFails() throws {
        try self.expectServerRejects(contentType: 22, [4, 0xff, 0xff, 0xff])
    }

    @Test func applicationDataInsideASplitHandshakeMessageFails() throws {
        let (client, server) = try self.established(client: .direct, server: .direct)
        // First half of a KeyUpdate, then application data, then the rest.
        #expect(client.openSSL.sendRecord(contentType: 22, content: [24, 0]))
        #expect(client.openSSL.sendRecord(contentType: 23, content: [1]))
        _ = Support.transfer(from: client, to: server)
        let error = #expect(throws: TLSError.self) { try Support.decryptAll(server) }
        #expect(error?.code == .recordLayerFailure)
    }

    @Test func handshakeMessageSplitAcrossRecordsIsReassembled() throws {
        let (client, server) = try self.established(client: .direct, server: .direct)
        // KeyUpdate(update_not_requested) in two records, then data under the new client key.
        #expect(client.openSSL.sendRecord(contentType: 22, content: [24, 0]))
        #expect(client.openSSL.sendRecord(contentType: 22, content: [0, 1, 0]))
        _ = Support.transfer(from: client, to: server)
        var out = self.allocator.buffer(capacity: 0)
        #expect(try server.decrypt(into: &out) == .needMoreBytes)
        #expect(!server.hasBytesToSend, "update_not_requested: no answer")
    }

    @Test func plaintextHandshakeRecordAfterTheHandshakeFails() throws {
        try self.expectFailure(receiving: [0x16, 0x03, 0x03, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00], .recordLayerFailure)
    }

    @Test func oversizedRecordFails() throws {
        try self.expectFailure(receiving: [0x17, 0x03, 0x03, 0x41, 0x01], .recordLayerFailure)
    }

    @Test func recordShorterThanATagFails() throws {
        try self.expectFailure(receiving: [0x17, 0x03, 0x03, 0x00, 0x10] + [UInt8](repeating: 0, count: 16), .recordLayerFailure)
    }

    @Test func forgedRecordFailsWithBadRecordMAC() throws {
        try self.expectFailure(receiving: [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0x42, count: 32), .recordLayerFailure)
    }

    @Test func truncatedRecordWaitsForTheRest() throws {
        let (client, server) = try self.established(client: .direct, server: .direct)
        var plaintext = self.allocator.buffer(string: "split across reads")
        try client.encrypt(&plaintext)
        var wire = self.allocator.buffer(capacity: 0)
        client.drainBytesToSend(into: &wire)
        let head = wire.readSlice(length: 10)
        server.receivedBytes(try #require(head))
        var out = self.allocator.buffer(capacity: 0)
        #expect(try server.decrypt(into: &out) == .needMoreBytes)
        server.receivedBytes(wire)
        #expect(try server.decrypt(into: &out) == .bytesRead(18))
    }

    @Test func replayedRecordFails() throws {
        let (client, server) = try self.established(client: .direct, server: .direct)
        var plaintext = self.allocator.buffer(string: "once")
        try client.encrypt(&plaintext)
        var wire = self.allocator.buffer(capacity: 0)
        client.drainBytesToSend(into: &wire)
        server.receivedBytes(wire)
        server.receivedBytes(wire)
        var out = self.allocator.buffer(capacity: 0)
        #expect(try server.decrypt(into: &out) == .bytesRead(4))
        let error = #expect(throws: TLSError.self) { try server.decrypt(into: &out) }
        #expect(error?.code == .recordLayerFailure)
    }

    @Test func badRecordMACAlertReachesThePeer() throws {
        let (client, server) = try self.established(client: .direct, server: .direct)
        server.receivedBytes(self.allocator.buffer(bytes: [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 1, count: 32)))
        var out = self.allocator.buffer(capacity: 0)
        #expect(throws: TLSError.self) { try server.decrypt(into: &out) }
        _ = Support.transfer(from: server, to: client)
        let error = #expect(throws: TLSError.self) { try client.decrypt(into: &out) }
        #expect(error?.code == .alertReceived)
        #expect(error?.diagnostics.contains("bad record mac") == true)
    }

    @Test func closeNotifyFromOpenSSLIsAnOrderlyEnd() throws {
        let (client, server) = try self.established(client: .direct, server: .openSSL)
        server.close()
        _ = Support.transfer(from: server, to: client)
        var out = self.allocator.buffer(capacity: 0)
        #expect(try client.decrypt(into: &out) == .closedByPeer)
    }

    @Test func closeNotifyFromTheDirectLayerReachesOpenSSL() throws {
        let (client, server) = try self.established(client: .direct, server: .openSSL)
        client.close()
        _ = Support.transfer(from: client, to: server)
        var out = self.allocator.buffer(capacity: 0)
        #expect(try server.decrypt(into: &out) == .closedByPeer)
    }

    // MARK: - Captured traffic secrets

    @Test func trafficSecretsAreWipedOnceTheRecordLayerTakesOver() throws {
        let client = try TLSConnection(context: try Support.context(1), role: .initiator, now: self.now)
        let server = try TLSConnection(context: try Support.context(2), role: .responder, now: self.now)
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        // The server derives its application secrets when it sends its Finished, before the client's.
        #expect(server.openSSL.holdsTrafficSecrets)
        _ = try Support.handshake(client: client, server: server)
        #expect(client.recordsAreDirect && server.recordsAreDirect)
        #expect(!client.openSSL.holdsTrafficSecrets)
        #expect(!server.openSSL.holdsTrafficSecrets)
    }

    @Test func trafficSecretsAreWipedWhenTheHandshakeFails() throws {
        let client = try TLSConnection(
            context: try Support.context(1),
            role: .initiator,
            expectedRemotePeerID: try Support.identity(3).peerID,
            now: self.now
        )
        let server = try TLSConnection(context: try Support.context(2), role: .responder, now: self.now)
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        #expect(server.openSSL.holdsTrafficSecrets)
        _ = Support.transfer(from: server, to: client)
        #expect(throws: TLSError.self) { try client.advanceHandshake(now: self.now) }
        #expect(!client.openSSL.holdsTrafficSecrets)
        // The client's bad_certificate alert fails the server, which drops its secrets unused.
        _ = Support.transfer(from: client, to: server)
        #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        #expect(!server.openSSL.holdsTrafficSecrets)
    }

    @Test func trafficSecretsAreWipedWhenOpenSSLKeepsTheRecords() throws {
        // A server that sent session tickets stays on OpenSSL's record layer: its secrets go unused.
        let (client, server) = try self.established(client: .direct, server: .direct, tickets: 2)
        #expect(!server.recordsAreDirect)
        #expect(!server.openSSL.holdsTrafficSecrets)
        #expect(!client.openSSL.holdsTrafficSecrets)
        // Without the direct record layer configured, no key log callback runs at all.
        let plainClient = try TLSConnection(
            context: try Support.context(1, protection: .openSSL),
            role: .initiator,
            now: self.now
        )
        let plainServer = try TLSConnection(
            context: try Support.context(2, protection: .openSSL),
            role: .responder,
            now: self.now
        )
        _ = try plainClient.advanceHandshake(now: self.now)
        _ = Support.transfer(from: plainClient, to: plainServer)
        _ = try plainServer.advanceHandshake(now: self.now)
        #expect(!plainServer.openSSL.holdsTrafficSecrets)
    }

    @Test func trafficSecretStorageTakesHexAndWipes() throws {
        /// Stores `text` as the client's or server's secret.
        func store(_ text: String, client: Bool, in secrets: inout OpenSSLTrafficSecrets) -> Bool {
            Array(text.utf8).withUnsafeBufferPointer { secrets.store(hexDigits: $0, isClient: client) }
        }
        var secrets = OpenSSLTrafficSecrets()
        var isEmpty = secrets.isEmpty
        #expect(isEmpty)
        #expect(store("00ff10Ab", client: true, in: &secrets))
        var oneOnly = secrets.withSecrets { _, _ in true } == nil
        #expect(oneOnly, "one secret is not enough")
        #expect(store(String(repeating: "7e", count: 48), client: false, in: &secrets))
        let both = secrets.withSecrets { client, server in (Array(client), Array(server)) }
        #expect(both?.0 == [0x00, 0xff, 0x10, 0xab])
        #expect(both?.1 == [UInt8](repeating: 0x7e, count: 48))
        // Odd length, a non-hex digit and more than 48 bytes are refused; a bad digit found part-way
        // also empties the slot it was being written to.
        #expect(!store("abc", client: true, in: &secrets))
        #expect(!store("zz", client: false, in: &secrets))
        #expect(!store(String(repeating: "00", count: 49), client: true, in: &secrets))
        oneOnly = secrets.withSecrets { _, _ in true } == nil
        #expect(oneOnly)
        secrets.wipe()
        isEmpty = secrets.isEmpty
        #expect(isEmpty)
    }

    @Test func hkdfExpandLabelMatchesRFC8448() throws {
        // RFC 8448 §3 (simple 1-RTT): server application traffic secret and its key and IV.
        let secret = try [UInt8](hex: "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")
        let digest = try #require(OpenSSLRecordCipher.Suite(id: 0x1301)).digest
        #expect(try OpenSSLRecordCipher.expandLabel(secret, "key", length: 16, digest: digest) == [UInt8](hex: "9f02283b6c9c07efc26bb9f2ac92e356"))
        #expect(try OpenSSLRecordCipher.expandLabel(secret, "iv", length: 12, digest: digest) == [UInt8](hex: "cf782b88dd83549aadf1e984"))
    }
}
