import P2PCore
import Testing

/// Multiaddr parsing for the `dial` and `listen` commands: the forms users paste, and clear
/// refusals of everything else.
@Suite struct MultiaddrTests {
    static let peer = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"

    @Test(arguments: [
        "/ip4/127.0.0.1/tcp/4001",
        "/ip4/127.0.0.1/tcp/0",
        "/ip6/::1/tcp/4001",
        "/dns/localhost/tcp/4001",
        "/dns4/localhost/tcp/65535",
        "/ip4/127.0.0.1/tcp/4001/p2p/\(MultiaddrTests.peer)",
    ])
    func validAddressesRoundTrip(text: String) throws {
        let address = try Multiaddr(parsing: text)
        #expect(address.description == text)
    }

    @Test func partsAreExposed() throws {
        let address = try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/4001/p2p/\(Self.peer)")
        #expect(address.host == .ip4("127.0.0.1"))
        #expect(address.hostText == "127.0.0.1")
        #expect(address.port == 4001)
        #expect(address.peerID?.description == Self.peer)
    }

    @Test func legacyIPFSComponentIsReadAsP2P() throws {
        let address = try Multiaddr(parsing: "/ip4/127.0.0.1/tcp/1/ipfs/\(Self.peer)")
        #expect(address.description == "/ip4/127.0.0.1/tcp/1/p2p/\(Self.peer)")
    }

    @Test(arguments: [
        ("", MultiaddrError.Code.malformed, "starts with"),
        ("ip4/127.0.0.1/tcp/1", .malformed, "starts with"),
        ("/ip4/127.0.0.1", .malformed, "ends where"),
        ("/ip4/256.0.0.1/tcp/1", .invalidHost, "not an IPv4"),
        ("/ip4/01.0.0.1/tcp/1", .invalidHost, "not an IPv4"),
        ("/ip4/+1.2.3.4/tcp/1", .invalidHost, "not an IPv4"),
        ("/ip4/1.2.3.-0/tcp/1", .invalidHost, "not an IPv4"),
        ("/ip6/not-an-address/tcp/1", .invalidHost, "not an IPv6"),
        ("/ip4/127.0.0.1/udp/1", .unsupportedProtocol, "not a TCP address"),
        ("/ip4/127.0.0.1/tcp/65536", .invalidPort, "not a TCP port"),
        ("/ip4/127.0.0.1/tcp/port", .invalidPort, "not a TCP port"),
        ("/ip4/127.0.0.1/tcp/1/p2p/notapeer", .invalidPeerID, "bad peer ID"),
        ("/ip4/127.0.0.1/tcp/1/ws", .unsupportedProtocol, "only /p2p"),
        ("/unix/tmp/socket", .unsupportedProtocol, "unsupported protocol"),
        ("/ip4/127.0.0.1/tcp/1/p2p/\(MultiaddrTests.peer)/extra", .malformed, "unexpected"),
    ])
    func malformedAddressesAreRefusedWithACodeAndAReason(text: String, code: MultiaddrError.Code, reason: String) {
        #expect(Multiaddr(text) == nil)
        do {
            _ = try Multiaddr(parsing: text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.code == code, "\(text): \(error)")
            #expect(error.diagnostics.contains(reason), "\(text): \(error)")
        }
    }
}
