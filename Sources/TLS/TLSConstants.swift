/// Fixed values of libp2p TLS (`/tls/1.0.0`), each with the section of the spec it comes from.
///
/// "tls spec" is libp2p/specs `tls/tls.md`; "inlined" is `connections/inlined-muxer-negotiation.md`;
/// the wire summary is `docs/wire.md` §5–§6.
public enum TLSConstants {
    /// The libp2p Public Key Extension OID, 1.3.6.1.4.1.53594.1.1 (tls spec "libp2p Public Key
    /// Extension"; wire §5.2).
    public static let libp2pExtensionOID = "1.3.6.1.4.1.53594.1.1"

    /// The DER content bytes of ``libp2pExtensionOID`` (without tag and length), compared byte for
    /// byte while scanning a certificate's extensions.
    public static let libp2pExtensionOIDContent: [UInt8] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xa2, 0x5a, 0x01, 0x01]

    /// What the identity key signs, followed by the DER SubjectPublicKeyInfo of the certificate key
    /// (tls spec "libp2p Public Key Extension"; wire §5.2).
    public static let signaturePrefix: [UInt8] = Array("libp2p-tls-handshake:".utf8)

    /// The ALPN token a libp2p TLS endpoint always offers, last in the client's list (tls spec
    /// "Handshake Protocol"; inlined §TLS: MUST be the last entry; wire §5.4, §6.1).
    public static let libp2pALPN = "libp2p"

    /// How far back NotBefore is set from the moment the certificate is built: one hour, as go-libp2p
    /// does, so that a peer whose clock runs slightly behind still accepts it (wire §5.2).
    public static let certificateValidityBackdateSeconds: Int64 = 3600

    /// How long a generated certificate stays valid after it is built: 100 years, as go-libp2p does
    /// (wire §5.2). Certificates are throwaway; the identity key is what authenticates.
    public static let certificateLifetimeSeconds: Int64 = 100 * 365 * 24 * 3600

    /// A host certificate (``TLSCertificateMode/perHost``) is replaced by a fresh one once less than
    /// this much of its validity remains, so a long-lived host never presents an expired
    /// certificate: one day. With the 100-year lifetime this never happens in practice (go-libp2p
    /// never renews); a certificate made with a shorter lifetime, or a clock that jumps, is covered.
    public static let certificateRenewalMarginSeconds: Int64 = 24 * 3600

    /// The largest plaintext one TLS record carries (RFC 8446 §5.1: 2^14 bytes).
    public static let maximumRecordPlaintextBytes = 16384

    /// The largest ciphertext record on the wire: header, 2^14 plaintext, content type, up to 255
    /// bytes of padding and tag (RFC 8446 §5.2: TLSCiphertext.length ≤ 2^14 + 256).
    public static let maximumRecordBytes = 5 + 16384 + 256

    /// The writable bytes ``TLSConnection/decrypt(into:)`` may need for one record: the largest
    /// TLSInnerPlaintext (content, type, padding) a legal record decrypts to, 2^14 + 256 − 16
    /// (RFC 8446 §5.2). A reused buffer of this capacity never grows.
    public static let decryptionCapacity = 16384 + 256 - 16

    /// Plaintext the handler accepts before the handshake finishes; more fails the write. The
    /// upgrader writes nothing before the result, so this only bounds misuse ("bound every queue").
    public static let maximumBufferedPlaintextBytes = 1 << 20

    /// The TLS 1.3 cipher suites offered, in preference order. rust-libp2p limits itself to the three
    /// TLS 1.3 suites (wire §5.1); AES-128-GCM first as go does on CPUs with AES instructions.
    public static let cipherSuites = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"

    /// Key-exchange groups in preference order. rust prefers X25519MLKEM768 (wire §5.1); OpenSSL 3.0
    /// does not have it, so X25519 comes first, as in go before hybrid groups.
    public static let groups = "X25519:P-256:P-384"
}
