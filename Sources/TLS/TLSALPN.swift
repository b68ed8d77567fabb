import P2PCore

/// ALPN in libp2p TLS: the lists each side offers, the server's selection rule, and what the
/// negotiated value means for the muxer (tls spec "Handshake Protocol"; inlined §TLS; wire §5.4,
/// §6.1).
///
/// The client offers its muxers in preference order followed by `libp2p` (which MUST be last). The
/// server takes the first of the client's entries it supports. A muxer result starts that muxer at
/// once; `libp2p`, or no ALPN at all (go), means multistream-select chooses the muxer inside the
/// secure channel. Classic mode is both sides offering only `libp2p`.
public enum TLSALPN {
    /// What ALPN decided for the muxer.
    public enum Outcome: Hashable, Sendable {
        /// The muxer was agreed in the handshake; start it with no multistream-select.
        case muxer(ProtocolID)
        /// ALPN gave `libp2p` or nothing: negotiate the muxer with multistream-select.
        case multistreamSelect
    }

    /// The longest ALPN protocol name (RFC 7301 §3.1: a one-byte length, at least 1).
    public static let maximumProtocolNameLength = 255

    /// The client's list: `muxers` in preference order, then `libp2p`.
    public static func clientOffer(muxers: [ProtocolID]) -> [String] {
        muxers.map(\.rawValue) + [TLSConstants.libp2pALPN]
    }

    /// What a server accepts: its muxers and `libp2p`. The client's order decides among them.
    public static func serverSupported(muxers: [ProtocolID]) -> [String] {
        muxers.map(\.rawValue) + [TLSConstants.libp2pALPN]
    }

    /// The server's choice: the first entry of `clientOffer` that is in `supported`, or nil when
    /// there is no overlap (the handshake then fails with `no_application_protocol`).
    public static func select(clientOffer: [String], supported: [String]) -> String? {
        clientOffer.first { supported.contains($0) }
    }

    /// ``select(clientOffer:supported:)`` on the wire form OpenSSL hands to the selection callback:
    /// returns the range of the chosen name inside `clientOffer`, or nil for no overlap or a
    /// malformed list.
    static func select(clientOffer: UnsafeBufferPointer<UInt8>, supported: [[UInt8]]) -> Range<Int>? {
        var index = 0
        while index < clientOffer.count {
            let length = Int(clientOffer[index])
            let start = index + 1
            guard length > 0, start + length <= clientOffer.count else { return nil }
            let name = UnsafeBufferPointer(rebasing: clientOffer[start..<(start + length)])
            if supported.contains(where: { $0.elementsEqual(name) }) {
                return start..<(start + length)
            }
            index = start + length
        }
        return nil
    }

    /// What the negotiated ALPN value means for this side.
    ///
    /// - Parameters:
    ///   - negotiated: The agreed protocol name, or nil when the server sent no ALPN.
    ///   - muxers: This side's muxers.
    /// - Throws: ``TLSError/Code/unexpectedApplicationProtocol`` when the value is neither `libp2p`
    ///   nor one of `muxers` (js aborts the same way).
    public static func outcome(negotiated: [UInt8]?, muxers: [ProtocolID]) throws(TLSError) -> Outcome {
        guard let negotiated else { return .multistreamSelect }
        if negotiated.elementsEqual(TLSConstants.libp2pALPN.utf8) { return .multistreamSelect }
        if let muxer = muxers.first(where: { $0.rawValue.utf8.elementsEqual(negotiated) }) {
            return .muxer(muxer)
        }
        throw .unexpectedApplicationProtocol(String(decoding: negotiated, as: UTF8.self))
    }

    /// Checks that every name fits ALPN (1–255 bytes).
    static func validate(_ names: [String]) throws(TLSError) {
        for name in names where name.utf8.isEmpty || name.utf8.count > Self.maximumProtocolNameLength {
            throw .invalidConfiguration(
                "ALPN protocol name \"\(name)\" must be 1–\(Self.maximumProtocolNameLength) bytes"
            )
        }
    }

    /// The wire form: each name preceded by its one-byte length (RFC 7301 §3.1). Names must have
    /// passed ``validate(_:)``.
    static func wireEncoded(_ names: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(names.reduce(0) { $0 + 1 + $1.count })
        for name in names {
            out.append(UInt8(truncatingIfNeeded: name.count))
            out.append(contentsOf: name)
        }
        return out
    }

    /// A list for diagnostics, such as `["/yamux/1.0.0", "libp2p"]`.
    static func describe(_ names: [[UInt8]]) -> String {
        "[" + names.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" }.joined(separator: ", ") + "]"
    }

    /// A wire-form list for diagnostics.
    static func describe(wireEncoded bytes: UnsafeBufferPointer<UInt8>) -> String {
        var names: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            let length = Int(bytes[index])
            let end = min(index + 1 + length, bytes.count)
            names.append(Array(bytes[(index + 1)..<end]))
            index = end
        }
        return Self.describe(names)
    }
}
