import NIOCore
import P2PCore
import TestSupport
import Testing

@testable import TLS

/// Two sans-I/O connections back to back: handshakes (whole and one byte at a time), ALPN outcomes,
/// records, session tickets, and every bad-input case by name.
@Suite struct TLSConnectionTests {
    typealias Support = TLSTestSupport
    let now = TLSTestSupport.now
    let allocator = ByteBufferAllocator()

    func pair(
        client clientContext: TLSContext,
        server serverContext: TLSContext,
        expecting expected: PeerID? = nil
    ) throws -> (TLSConnection, TLSConnection) {
        (
            try TLSConnection(context: clientContext, role: .initiator, expectedRemotePeerID: expected, now: self.now),
            try TLSConnection(context: serverContext, role: .responder, now: self.now)
        )
    }

    // MARK: - Handshake

    @Test func handshakeAuthenticatesBothPeers() throws {
        let clientContext = try Support.context(1)
        let serverContext = try Support.context(2)
        let (client, server) = try self.pair(
            client: clientContext,
            server: serverContext,
            expecting: try Support.identity(2).peerID
        )
        let (clientResult, serverResult) = try Support.handshake(client: client, server: server)
        #expect(clientResult.remotePeerID == (try Support.identity(2).peerID))
        #expect(serverResult.remotePeerID == (try Support.identity(1).peerID))
        #expect(clientResult.remotePublicKey == (try Support.identity(2).publicKey))
        #expect(clientResult.cipherSuite == "TLS_AES_128_GCM_SHA256")
        #expect(serverResult.cipherSuite == clientResult.cipherSuite)
    }

    @Test func handshakeWorksOneByteAtATime() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        let (clientResult, serverResult) = try Support.handshake(client: client, server: server, oneByteAtATime: true)
        #expect(clientResult.remotePeerID == (try Support.identity(2).peerID))
        #expect(serverResult.remotePeerID == (try Support.identity(1).peerID))
    }

    @Test func handshakeWorksWithEveryIdentityKeyTypeAndCertificateKeyType() throws {
        let identities = try Support.vectorIdentities()
        for keyType in TLSCertificateKeyType.allCases {
            for (clientIdentity, serverIdentity) in zip(identities, identities.reversed()) {
                let clientContext = try TLSContext(
                    configuration: TLSConfiguration(identityKey: clientIdentity, certificateKeyType: keyType),
                    now: self.now
                )
                let serverContext = try TLSContext(
                    configuration: TLSConfiguration(identityKey: serverIdentity, certificateKeyType: keyType),
                    now: self.now
                )
                let (client, server) = try self.pair(
                    client: clientContext,
                    server: serverContext,
                    expecting: serverIdentity.peerID
                )
                let (clientResult, serverResult) = try Support.handshake(client: client, server: server)
                #expect(clientResult.remotePeerID == serverIdentity.peerID)
                #expect(serverResult.remotePeerID == clientIdentity.peerID)
            }
        }
    }

    @Test func perHostCertificateIsPresentedOnEveryConnection() throws {
        let serverContext = try Support.context(2, mode: .perHost)
        let hostCertificate = try #require(serverContext.hostCertificate).derEncoded
        for _ in 0..<3 {
            let (client, server) = try self.pair(client: try Support.context(1, mode: .perHost), server: serverContext)
            let (_, serverResult) = try Support.handshake(client: client, server: server)
            #expect(serverResult.remotePeerID == (try Support.identity(1).peerID))
            #expect(try client.peerCertificateDER == hostCertificate)
        }
    }

    @Test func perConnectionCertificatesDifferOnEveryConnection() throws {
        let serverContext = try Support.context(2, mode: .perConnection)
        #expect(serverContext.hostCertificate == nil)
        var seen: Set<[UInt8]> = []
        for _ in 0..<3 {
            let (client, server) = try self.pair(client: try Support.context(1), server: serverContext)
            _ = try Support.handshake(client: client, server: server)
            seen.insert(try #require(try client.peerCertificateDER))
        }
        #expect(seen.count == 3)
    }

    @Test func hostCertificateIsRenewedBeforeItExpires() throws {
        let context = try Support.context(2, mode: .perHost)
        let first = try #require(context.hostCertificate)
        let notAfter = try first.notAfter
        // Still well inside its validity: the same certificate.
        let early = notAfter - TLSConstants.certificateRenewalMarginSeconds - 1
        #expect(try context.certificateForConnection(now: early).derEncoded == (try first.derEncoded))
        // Within the renewal margin: a new certificate, valid from then on, kept for later connections.
        let late = notAfter - TLSConstants.certificateRenewalMarginSeconds
        let renewed = try context.certificateForConnection(now: late)
        #expect(try renewed.derEncoded != (try first.derEncoded))
        #expect(try renewed.notAfter == late + TLSConstants.certificateLifetimeSeconds)
        #expect(try context.hostCertificate?.derEncoded == (try renewed.derEncoded))
        #expect(try context.certificateForConnection(now: late + 1).derEncoded == (try renewed.derEncoded))
        // A connection made after renewal verifies against the renewed validity.
        let (client, server) = (
            try TLSConnection(context: try Support.context(1), role: .initiator, now: late + 1),
            try TLSConnection(context: context, role: .responder, now: late + 1)
        )
        let (clientResult, _) = try Support.handshake(client: client, server: server, now: late + 1)
        #expect(clientResult.remotePeerID == (try Support.identity(2).peerID))
        #expect(try client.peerCertificateDER == (try renewed.derEncoded))
    }

    // MARK: - ALPN

    @Test func earlyNegotiationAgreesOnTheClientsFirstMuxer() throws {
        let (client, server) = try self.pair(
            client: try Support.context(1, muxers: [.yamux, .mplex]),
            server: try Support.context(2, muxers: [.mplex, .yamux])
        )
        let (clientResult, serverResult) = try Support.handshake(client: client, server: server)
        #expect(clientResult.negotiatedMuxer == .yamux)
        #expect(serverResult.negotiatedMuxer == .yamux)
        #expect(clientResult.usedEarlyNegotiation && serverResult.usedEarlyNegotiation)
        #expect(clientResult.negotiatedALPN == "/yamux/1.0.0")
    }

    @Test func classicModeNegotiatesLibp2pAndNoMuxer() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        let (clientResult, serverResult) = try Support.handshake(client: client, server: server)
        #expect(clientResult.negotiatedALPN == "libp2p")
        #expect(clientResult.negotiatedMuxer == nil && serverResult.negotiatedMuxer == nil)
        #expect(!clientResult.usedEarlyNegotiation && !serverResult.usedEarlyNegotiation)
    }

    @Test func classicClientAgainstEarlyServerFallsBack() throws {
        let (client, server) = try self.pair(
            client: try Support.context(1),
            server: try Support.context(2, muxers: [.yamux])
        )
        let (clientResult, serverResult) = try Support.handshake(client: client, server: server)
        #expect(clientResult.negotiatedMuxer == nil && serverResult.negotiatedMuxer == nil)
    }

    @Test func disjointMuxersFallBackToLibp2p() throws {
        let (client, server) = try self.pair(
            client: try Support.context(1, muxers: [.mplex]),
            server: try Support.context(2, muxers: [.yamux])
        )
        let (clientResult, serverResult) = try Support.handshake(client: client, server: server)
        #expect(clientResult.negotiatedALPN == "libp2p" && serverResult.negotiatedALPN == "libp2p")
        #expect(clientResult.negotiatedMuxer == nil)
    }

    @Test func noALPNOverlapFailsWithNoApplicationProtocol() throws {
        let clientContext = try TLSContext(
            configuration: TLSConfiguration(identityKey: try Support.identity(1)),
            now: self.now,
            clientALPNOffer: ["h2"],
            serverALPN: ["h2"]
        )
        let (client, server) = try self.pair(client: clientContext, server: try Support.context(2))
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        let serverError = #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        #expect(serverError?.code == .noCommonApplicationProtocol)
        // The alert goes out: no_application_protocol (120).
        #expect(Support.transfer(from: server, to: client) > 0)
        let clientError = #expect(throws: TLSError.self) { try client.advanceHandshake(now: self.now) }
        #expect(clientError?.code == .noCommonApplicationProtocol)
    }

    /// A client whose ALPN offer names a muxer it does not run: the server agrees on it, and the
    /// client learns only after its handshake finished that it cannot use the result. (A libp2p
    /// client's offer is its muxers plus `libp2p`, so only a test peer or a server that picks outside
    /// the offer gets here.)
    func clientOfferingAnUnrunnableMuxer(
        protection: TLSRecordProtection,
        serverProtection: TLSRecordProtection
    ) throws -> (TLSConnection, TLSConnection) {
        var configuration = TLSConfiguration(identityKey: try Support.identity(1))
        configuration.recordProtection = protection
        let clientContext = try TLSContext(
            configuration: configuration,
            now: self.now,
            clientALPNOffer: [ProtocolID.mplex.rawValue, "libp2p"],
            serverALPN: ["libp2p"]
        )
        return try self.pair(
            client: clientContext,
            server: try Support.context(2, muxers: [.mplex], protection: serverProtection)
        )
    }

    /// Runs the handshake up to the client's failure, then delivers what the client sent.
    func clientFailsOnTheALPNResult(_ client: TLSConnection, _ server: TLSConnection) throws {
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        _ = Support.transfer(from: server, to: client)
        let clientError = #expect(throws: TLSError.self) { try client.advanceHandshake(now: self.now) }
        #expect(clientError?.code == .unexpectedApplicationProtocol)
        #expect(clientError?.diagnostics.contains("/mplex/6.7.0") == true)
        // The failure is sticky, and nothing can be written after it.
        #expect(throws: TLSError.self) { try client.advanceHandshake(now: self.now) }
        var data = self.allocator.buffer(string: "never sent")
        #expect(throws: TLSError.self) { try client.encrypt(&data) }
        #expect(Support.transfer(from: client, to: server) > 0, "the client's Finished")
        // The server's handshake ends with that Finished; the agreed muxer is fine on its side.
        guard case .completed(let serverResult) = try server.advanceHandshake(now: self.now) else {
            Issue.record("server did not complete")
            return
        }
        #expect(serverResult.negotiatedMuxer == .mplex)
    }

    @Test(arguments: [TLSRecordProtection.direct, .openSSL])
    func unusableALPNResultSendsAFatalNoApplicationProtocolAlert(serverProtection: TLSRecordProtection) throws {
        let (client, server) = try self.clientOfferingAnUnrunnableMuxer(
            protection: .direct,
            serverProtection: serverProtection
        )
        try self.clientFailsOnTheALPNResult(client, server)
        // After its Finished the client sent a fatal no_application_protocol (120), not close_notify.
        var out = self.allocator.buffer(capacity: 0)
        let serverError = #expect(throws: TLSError.self) { try server.decrypt(into: &out) }
        switch serverProtection {
        case .direct:
            #expect(serverError?.code == .alertReceived, "\(String(describing: serverError))")
        case .openSSL:
            // OpenSSL's error queue names alert 120 itself (TLSError+OpenSSL).
            #expect(serverError?.code == .noCommonApplicationProtocol, "\(String(describing: serverError))")
        }
        #expect(
            serverError?.diagnostics.contains("no application protocol") == true,
            "\(String(describing: serverError))"
        )
    }

    @Test func unusableALPNResultWithOpenSSLsRecordLayerSendsNoCloseNotify() throws {
        // OpenSSL cannot send an alert after its handshake, so this client sends nothing more; above
        // all not close_notify, which would read as an orderly end.
        let (client, server) = try self.clientOfferingAnUnrunnableMuxer(
            protection: .openSSL,
            serverProtection: .direct
        )
        try self.clientFailsOnTheALPNResult(client, server)
        var out = self.allocator.buffer(capacity: 0)
        #expect(try server.decrypt(into: &out) == .needMoreBytes)
        #expect(!client.hasBytesToSend)
    }

    @Test func clientWithoutALPNFallsBackToMultistreamSelect() throws {
        // go: no ALPN at all means the same as "libp2p".
        let clientContext = try TLSContext(
            configuration: TLSConfiguration(identityKey: try Support.identity(1)),
            now: self.now,
            clientALPNOffer: [],
            serverALPN: ["libp2p"]
        )
        let (client, server) = try self.pair(client: clientContext, server: try Support.context(2, muxers: [.yamux]))
        let (clientResult, serverResult) = try Support.handshake(client: client, server: server)
        #expect(clientResult.negotiatedALPN == nil && serverResult.negotiatedALPN == nil)
        #expect(clientResult.negotiatedMuxer == nil && serverResult.negotiatedMuxer == nil)
    }

    // MARK: - ClientHello content

    @Test func clientHelloHasNoSNIOffersOnlyTLS13AndListsALPN() throws {
        let (client, _) = try self.pair(client: try Support.context(1, muxers: [.yamux]), server: try Support.context(2))
        _ = try client.advanceHandshake(now: self.now)
        var hello = self.allocator.buffer(capacity: 0)
        client.drainBytesToSend(into: &hello)
        let extensions = try ClientHelloExtensions(parsing: Array(hello.readableBytesView))
        #expect(extensions[0x0000] == nil, "no server_name extension")
        // supported_versions: a one-byte list length, then 0x0304 only.
        #expect(extensions[0x002b] == [0x02, 0x03, 0x04])
        // ALPN: two-byte list length, then "/yamux/1.0.0" and "libp2p".
        let alpn = try #require(extensions[0x0010])
        #expect(Array(alpn.dropFirst(2)) == TLSALPN.wireEncoded([Array("/yamux/1.0.0".utf8), Array("libp2p".utf8)]))
    }

    /// The extensions of the ClientHello in the first TLS record, by type.
    struct ClientHelloExtensions {
        var byType: [UInt16: [UInt8]] = [:]
        subscript(type: UInt16) -> [UInt8]? { self.byType[type] }

        init(parsing record: [UInt8]) throws {
            var index = 5 + 4 + 2 + 32  // record header, handshake header, legacy_version, random
            func u8() throws -> Int {
                guard index < record.count else { throw TestSupportError("ClientHello truncated") }
                defer { index += 1 }
                return Int(record[index])
            }
            func u16() throws -> Int { (try u8() << 8) | (try u8()) }
            guard record.first == 0x16, record.count > 5, record[5] == 0x01 else {
                throw TestSupportError("not a ClientHello record")
            }
            index += try u8()  // legacy_session_id
            index += try u16()  // cipher_suites
            index += try u8()  // legacy_compression_methods
            let end = index + 2 + (try u16())
            while index < end {
                let type = UInt16(try u16())
                let length = try u16()
                guard index + length <= record.count else { throw TestSupportError("extension truncated") }
                self.byType[type] = Array(record[index..<(index + length)])
                index += length
            }
        }
    }

    // MARK: - Records

    @Test func recordsRoundTripInBothDirections() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        _ = try Support.handshake(client: client, server: server)
        for size in [1, 100, 16384, 16385, 100_000] {
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            var plaintext = self.allocator.buffer(bytes: message)
            try client.encrypt(&plaintext)
            #expect(plaintext.readableBytes == 0)
            _ = Support.transfer(from: client, to: server)
            #expect(try Support.decryptAll(server) == message)

            var reply = self.allocator.buffer(bytes: message.reversed())
            try server.encrypt(&reply)
            _ = Support.transfer(from: server, to: client)
            #expect(try Support.decryptAll(client) == message.reversed())
        }
    }

    @Test func recordsSurviveOneByteAtATimeDelivery() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        _ = try Support.handshake(client: client, server: server)
        let message = Array("drip-fed application data".utf8)
        var plaintext = self.allocator.buffer(bytes: message)
        try client.encrypt(&plaintext)
        var wire = self.allocator.buffer(capacity: 0)
        client.drainBytesToSend(into: &wire)
        var received: [UInt8] = []
        var out = self.allocator.buffer(capacity: 0)
        while let byte = wire.readSlice(length: 1) {
            server.receivedBytes(byte)
            while case .bytesRead = try server.decrypt(into: &out) {}
        }
        received = Array(out.readableBytesView)
        #expect(received == message)
    }

    @Test func applicationDataInTheClientsFinalFlightIsDecrypted() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        _ = Support.transfer(from: server, to: client)
        guard case .completed = try client.advanceHandshake(now: self.now) else {
            Issue.record("client did not complete")
            return
        }
        // Finished and the first application data leave together and arrive in one read.
        var early = self.allocator.buffer(string: "/multistream/1.0.0\n")
        try client.encrypt(&early)
        _ = Support.transfer(from: client, to: server)
        guard case .completed = try server.advanceHandshake(now: self.now) else {
            Issue.record("server did not complete")
            return
        }
        #expect(server.unprocessedReceivedBytes > 0)
        #expect(try Support.decryptAll(server) == Array("/multistream/1.0.0\n".utf8))
    }

    @Test func clientAcceptsSessionTicketsArrivingWithApplicationData() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2, tickets: 2))
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        _ = Support.transfer(from: server, to: client)
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        guard case .completed = try server.advanceHandshake(now: self.now) else {
            Issue.record("server did not complete")
            return
        }
        // The server's tickets are queued after its handshake; its first data follows in the same bytes.
        var data = self.allocator.buffer(string: "after the tickets")
        try server.encrypt(&data)
        #expect(Support.transfer(from: server, to: client) > 200)
        #expect(try Support.decryptAll(client) == Array("after the tickets".utf8))
        // And more data later still flows.
        var more = self.allocator.buffer(string: "more")
        try server.encrypt(&more)
        _ = Support.transfer(from: server, to: client)
        #expect(try Support.decryptAll(client) == Array("more".utf8))
    }

    @Test func closeNotifyEndsTheStream() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        _ = try Support.handshake(client: client, server: server)
        client.close()
        _ = Support.transfer(from: client, to: server)
        var out = self.allocator.buffer(capacity: 0)
        #expect(try server.decrypt(into: &out) == .closedByPeer)
        #expect(try server.decrypt(into: &out) == .closedByPeer)
    }

    @Test func encryptBeforeTheHandshakeIsAnError() throws {
        let (client, _) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        var data = self.allocator.buffer(string: "too early")
        let error = #expect(throws: TLSError.self) { try client.encrypt(&data) }
        #expect(error?.code == .invalidState)
    }

    // MARK: - Bad input, one test each

    @Test func garbageInsteadOfClientHelloFails() throws {
        let (_, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        server.receivedBytes(self.allocator.buffer(string: "GET / HTTP/1.1\r\nHost: example\r\n\r\n"))
        let error = #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        #expect(error?.code == .handshakeFailed)
        // The connection stays failed.
        let again = #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        #expect(again?.code == .handshakeFailed)
    }

    @Test func garbageRecordAfterAValidHeaderFails() throws {
        let (_, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        // A handshake record header announcing 64 bytes of zeros: not a ClientHello.
        server.receivedBytes(self.allocator.buffer(bytes: [0x16, 0x03, 0x01, 0x00, 0x40] + [UInt8](repeating: 0, count: 64)))
        let error = #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        #expect(error?.code == .handshakeFailed)
        #expect(server.hasBytesToSend, "an alert is queued for the client")
    }

    @Test func oversizedRecordFails() throws {
        let (_, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        // Record length 0xffff: above 2^14 + 256 (RFC 8446 §5.2).
        server.receivedBytes(self.allocator.buffer(bytes: [0x16, 0x03, 0x01, 0xff, 0xff]))
        let error = #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        #expect(error?.code == .handshakeFailed)
    }

    @Test func truncatedClientHelloWaitsForMoreBytes() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        _ = try client.advanceHandshake(now: self.now)
        var hello = self.allocator.buffer(capacity: 0)
        client.drainBytesToSend(into: &hello)
        let truncated = hello.getSlice(at: hello.readerIndex, length: hello.readableBytes - 1)
        server.receivedBytes(try #require(truncated))
        #expect(try server.advanceHandshake(now: self.now) == .inProgress)
        #expect(!server.hasBytesToSend)
    }

    @Test func serverRejectsClientCertificateWithoutExtension() throws {
        let key = try OpenSSLCertificateKey.generate(.p256)
        let bare = try Libp2pCertificate(key: key, notBefore: self.now - 60, notAfter: self.now + 60, extensions: [])
        try self.expectServerRejects(clientCertificate: .explicit(bare), serverCode: .missingLibp2pExtension)
    }

    @Test func serverRejectsExpiredClientCertificate() throws {
        let identity = try Support.identity(1)
        let key = try OpenSSLCertificateKey.generate(.p256)
        let signedKey = try Libp2pCertificate.signedKeyExtensionValue(
            identityKey: identity,
            subjectPublicKeyInfo: key.subjectPublicKeyInfo()
        )
        let expired = try Libp2pCertificate(
            key: key,
            notBefore: self.now - 7200,
            notAfter: self.now - 3600,
            extensions: [.init(oid: TLSConstants.libp2pExtensionOID, isCritical: false, value: signedKey)]
        )
        try self.expectServerRejects(clientCertificate: .explicit(expired), serverCode: .certificateExpired)
    }

    @Test func serverRejectsClientWithoutCertificate() throws {
        try self.expectServerRejects(clientCertificate: .none, serverCode: .missingPeerCertificate)
    }

    /// Runs a handshake whose client presents `clientCertificate`: the server must fail with
    /// `serverCode` and send an alert, and the client, whose handshake finished first (TLS 1.3), must
    /// see that alert on its next read.
    func expectServerRejects(
        clientCertificate: TLSConnection.CertificateChoice,
        serverCode: TLSError.Code,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let client = try TLSConnection(
            context: try Support.context(1),
            role: .initiator,
            expectedRemotePeerID: nil,
            certificate: clientCertificate,
            now: self.now,
            allocator: self.allocator
        )
        let server = try TLSConnection(context: try Support.context(2), role: .responder, now: self.now)
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        _ = Support.transfer(from: server, to: client)
        let progress = try client.advanceHandshake(now: self.now)
        guard case .completed = progress else {
            Issue.record("client should finish before the server checks it", sourceLocation: sourceLocation)
            return
        }
        _ = Support.transfer(from: client, to: server)
        let serverError = #expect(throws: TLSError.self, sourceLocation: sourceLocation) {
            try server.advanceHandshake(now: self.now)
        }
        #expect(serverError?.code == serverCode, "\(String(describing: serverError))", sourceLocation: sourceLocation)
        #expect(Support.transfer(from: server, to: client) > 0, "alert sent", sourceLocation: sourceLocation)
        var out = self.allocator.buffer(capacity: 0)
        let clientError = #expect(throws: TLSError.self, sourceLocation: sourceLocation) {
            try client.decrypt(into: &out)
        }
        #expect(clientError?.code == .alertReceived, "\(String(describing: clientError))", sourceLocation: sourceLocation)
    }

    @Test func clientRejectsServerWithUnexpectedPeerID() throws {
        let (client, server) = try self.pair(
            client: try Support.context(1),
            server: try Support.context(2),
            expecting: try Support.identity(3).peerID
        )
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        _ = Support.transfer(from: server, to: client)
        let clientError = #expect(throws: TLSError.self) { try client.advanceHandshake(now: self.now) }
        #expect(clientError?.code == .peerIDMismatch)
        // The client aborts with bad_certificate; the server reports the alert.
        #expect(Support.transfer(from: client, to: server) > 0)
        let serverError = #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        #expect(serverError?.code == .alertReceived)
        #expect(serverError?.diagnostics.contains("bad certificate") == true)
    }

    @Test func clientRejectsServerCertificateWithoutExtension() throws {
        let key = try OpenSSLCertificateKey.generate(.p256)
        let bare = try Libp2pCertificate(key: key, notBefore: self.now - 60, notAfter: self.now + 60, extensions: [])
        let client = try TLSConnection(context: try Support.context(1), role: .initiator, now: self.now)
        let server = try TLSConnection(
            context: try Support.context(2),
            role: .responder,
            expectedRemotePeerID: nil,
            certificate: .explicit(bare),
            now: self.now,
            allocator: self.allocator
        )
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        _ = Support.transfer(from: server, to: client)
        let error = #expect(throws: TLSError.self) { try client.advanceHandshake(now: self.now) }
        #expect(error?.code == .missingLibp2pExtension)
    }

    @Test func corruptedRecordFails() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        _ = try Support.handshake(client: client, server: server)
        var data = self.allocator.buffer(string: "integrity matters")
        try client.encrypt(&data)
        var wire = self.allocator.buffer(capacity: 0)
        client.drainBytesToSend(into: &wire)
        let last = wire.writerIndex - 1
        let byte = try #require(wire.getInteger(at: last, as: UInt8.self))
        wire.setInteger(byte ^ 0x80, at: last)
        server.receivedBytes(wire)
        var out = self.allocator.buffer(capacity: 0)
        let error = #expect(throws: TLSError.self) { try server.decrypt(into: &out) }
        #expect(error?.code == .recordLayerFailure)
        #expect(server.hasBytesToSend, "bad_record_mac alert queued")
    }

    @Test func closeNotifyInsteadOfClientHelloFails() throws {
        let (_, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        // A plaintext alert record: warning (1), close_notify (0).
        server.receivedBytes(self.allocator.buffer(bytes: [0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00]))
        let error = #expect(throws: TLSError.self) { try server.advanceHandshake(now: self.now) }
        // OpenSSL treats an alert in place of the ClientHello as a protocol error, not an orderly close.
        #expect(error?.code == .handshakeFailed, "\(String(describing: error))")
    }

    @Test func fatalAlertDuringTheHandshakeFails() throws {
        let (client, server) = try self.pair(client: try Support.context(1), server: try Support.context(2))
        _ = try client.advanceHandshake(now: self.now)
        _ = Support.transfer(from: client, to: server)
        _ = try server.advanceHandshake(now: self.now)
        // Instead of the server's flight, a plaintext fatal (2) handshake_failure (40) alert.
        client.receivedBytes(self.allocator.buffer(bytes: [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]))
        let error = #expect(throws: TLSError.self) { try client.advanceHandshake(now: self.now) }
        #expect(error?.code == .alertReceived)
        #expect(error?.diagnostics.contains("handshake failure") == true)
    }
}
