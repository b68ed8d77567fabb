/// A TCP multiaddr in the text form the libp2p tools print and accept:
/// `/ip4/127.0.0.1/tcp/4001`, `/ip6/::1/tcp/4001`, `/dns/localhost/tcp/4001` (also `/dns4`, `/dns6`),
/// optionally ending in `/p2p/<peer ID>`.
///
/// Only what a TCP dial needs is modelled; other protocols (`/quic-v1`, `/ws`, …) are refused with
/// a message naming them, so a user who pastes another transport's address learns why it failed.
public struct Multiaddr: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The network-layer part.
    public enum Host: Hashable, Sendable {
        /// `/ip4/…`, in dotted-quad text.
        case ip4(String)
        /// `/ip6/…`, in RFC 4291 text.
        case ip6(String)
        /// `/dns/…`, `/dns4/…` or `/dns6/…`, with the protocol name kept for printing.
        case dns(String, protocolName: String)
    }

    /// Where to connect.
    public var host: Host
    /// The TCP port.
    public var port: Int
    /// The peer ID from a trailing `/p2p/…` (or the older `/ipfs/…`), when present.
    public var peerID: PeerID?

    /// Assembles a multiaddr from its parts.
    public init(host: Host, port: Int, peerID: PeerID? = nil) {
        self.host = host
        self.port = port
        self.peerID = peerID
    }

    /// Parses the text form; nil when it is malformed (``init(parsing:)`` says why).
    public init?(_ description: String) {
        try? self.init(parsing: description)
    }

    /// Parses the text form.
    ///
    /// - Throws: ``MultiaddrError`` naming the component that was wrong.
    public init(parsing text: String) throws(MultiaddrError) {
        var parts = text.split(separator: "/", omittingEmptySubsequences: false)[...]
        guard text.hasPrefix("/") else { throw MultiaddrError(.malformed, "a multiaddr starts with '/': \"\(text)\"") }
        parts = parts.dropFirst()
        if parts.last == "" { parts = parts.dropLast() }  // tolerate one trailing slash

        func next(_ what: String) throws(MultiaddrError) -> Substring {
            guard let part = parts.popFirst(), !part.isEmpty else {
                throw MultiaddrError(.malformed, "\"\(text)\" ends where \(what) was expected")
            }
            return part
        }

        let host: Host
        switch try next("a protocol such as ip4") {
        case "ip4":
            let address = String(try next("an IPv4 address"))
            guard Self.isIPv4(address) else { throw MultiaddrError(.invalidHost, "\"\(address)\" is not an IPv4 address") }
            host = .ip4(address)
        case "ip6":
            let address = String(try next("an IPv6 address"))
            guard Self.isIPv6(address) else { throw MultiaddrError(.invalidHost, "\"\(address)\" is not an IPv6 address") }
            host = .ip6(address)
        case let name where name == "dns" || name == "dns4" || name == "dns6":
            let domain = String(try next("a host name"))
            guard domain.utf8.count <= 253, domain.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." })
            else { throw MultiaddrError(.invalidHost, "\"\(domain)\" is not a host name") }
            host = .dns(domain, protocolName: String(name))
        case let other:
            throw MultiaddrError(.unsupportedProtocol, "unsupported protocol \"/\(other)\": expected /ip4, /ip6, /dns, /dns4 or /dns6")
        }

        guard try next("/tcp") == "tcp" else {
            throw MultiaddrError(.unsupportedProtocol, "\"\(text)\" is not a TCP address: expected /tcp after the host")
        }
        let portText = try next("a TCP port")
        guard let port = Int(portText), (0...65535).contains(port), portText.allSatisfy(\.isASCII) else {
            throw MultiaddrError(.invalidPort, "\"\(portText)\" is not a TCP port (0-65535)")
        }

        var peerID: PeerID? = nil
        if let component = parts.popFirst() {
            guard component == "p2p" || component == "ipfs" else {
                throw MultiaddrError(.unsupportedProtocol, "unsupported protocol \"/\(component)\" after /tcp: only /p2p/<peer ID> may follow")
            }
            let idText = String(try next("a peer ID"))
            do {
                peerID = try PeerID(parsing: idText)
            } catch {
                let reason = (error as? P2PCoreError)?.diagnostics ?? "\(error)"
                throw MultiaddrError(.invalidPeerID, "bad peer ID in /p2p: \(reason)")
            }
        }
        guard parts.isEmpty else {
            throw MultiaddrError(.malformed, "unexpected \"/\(parts.joined(separator: "/"))\" at the end of \"\(text)\"")
        }
        self.init(host: host, port: port, peerID: peerID)
    }

    /// The host as text for a socket address or a DNS lookup.
    public var hostText: String {
        switch self.host {
        case .ip4(let address), .ip6(let address): address
        case .dns(let name, _): name
        }
    }

    public var description: String {
        let hostPart: String
        switch self.host {
        case .ip4(let address): hostPart = "/ip4/\(address)"
        case .ip6(let address): hostPart = "/ip6/\(address)"
        case .dns(let name, let protocolName): hostPart = "/\(protocolName)/\(name)"
        }
        let peerPart = self.peerID.map { "/p2p/\($0)" } ?? ""
        return "\(hostPart)/tcp/\(self.port)\(peerPart)"
    }

    private static func isIPv4(_ text: String) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4
            && octets.allSatisfy { octet in
                // Digits only: `Int` alone would take "+1" (go's net.ParseIP does not).
                !octet.isEmpty && octet.count <= 3 && octet.allSatisfy({ ("0"..."9").contains($0) })
                    && Int(octet).map { $0 <= 255 } == true
                    && !(octet.count > 1 && octet.first == "0")
            }
    }

    private static func isIPv6(_ text: String) -> Bool {
        // Structure only; the socket layer does the full parse. Hex groups, colons, at most one "::",
        // optionally an embedded IPv4 tail.
        guard !text.isEmpty, text.utf8.count <= 45, text.contains(":") else { return false }
        let allowed = Set("0123456789abcdefABCDEF:.")
        guard text.allSatisfy({ allowed.contains($0) }) else { return false }
        let bytes = Array(text.utf8)
        let doubleColons = zip(bytes, bytes.dropFirst()).filter { $0 == UInt8(ascii: ":") && $1 == UInt8(ascii: ":") }
        return doubleColons.count <= 1
    }
}

/// A multiaddr that does not parse, with the reason.
public struct MultiaddrError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stable kind of failure.
    public let code: Code
    /// What was wrong, naming the offending component; not part of equality.
    public let diagnostics: String

    init(_ code: Code, _ diagnostics: String) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public static func == (lhs: MultiaddrError, rhs: MultiaddrError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    public var description: String { "MultiaddrError.\(self.code.rawValue): \(self.diagnostics)" }

    /// The kinds of multiaddr failure. Codes are stable: scripts may match on them.
    public enum Code: String, Hashable, Sendable {
        /// Not `/`-separated components, or a component missing where one was expected.
        case malformed
        /// A protocol this parser does not take (only `/ip4`, `/ip6`, `/dns*`, `/tcp`, `/p2p`).
        case unsupportedProtocol
        /// An address or host name that is not one.
        case invalidHost
        /// A TCP port that is not a decimal number from 0 to 65535.
        case invalidPort
        /// A `/p2p` component that is not a peer ID.
        case invalidPeerID
    }
}
