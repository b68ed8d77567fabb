import P2PCore

/// The fixed numbers and strings of libp2p Noise, each with the spec section it comes from.
///
/// Section numbers: "Noise §n" is the Noise Protocol Framework, revision 34; "docs/wire.md §n" is the
/// project's wire reference (`docs/wire.md`), which cites the libp2p `noise` spec.
public enum NoiseConstants {
    /// `Noise_XX_25519_ChaChaPoly_SHA256` (docs/wire.md §4.1). It is exactly 32 bytes
    /// (``hashLength``), so the initial handshake hash is the name itself, unhashed (Noise §5.2).
    public static let protocolName: String = "Noise_XX_25519_ChaChaPoly_SHA256"

    /// The multistream-select protocol ID for libp2p Noise (docs/wire.md §0).
    public static let protocolID: ProtocolID = .noise

    /// Prefix of the message an identity key signs: `"noise-libp2p-static-key:" || s_pub`, ASCII,
    /// no terminator (docs/wire.md §4.3).
    public static let staticKeySignaturePrefix: String = "noise-libp2p-static-key:"

    /// The largest Noise message, handshake or transport: the 2-byte big-endian length prefix
    /// cannot say more (Noise §3, docs/wire.md §4.4).
    public static let maximumMessageLength: Int = 65535

    /// Size of the big-endian length prefix in front of every Noise message (docs/wire.md §4.4).
    public static let lengthPrefixLength: Int = 2

    /// The ChaCha20-Poly1305 authentication tag appended to every encrypted message (Noise §5.1).
    public static let tagLength: Int = 16

    /// The largest plaintext in one transport message: 65535 − 16. go and js split writes at this
    /// size; rust at 64511. Receivers accept any size up to ``maximumMessageLength`` (docs/wire.md §4.4).
    public static let maximumPlaintextLength: Int = maximumMessageLength - tagLength

    /// X25519 public keys, private keys and shared secrets are 32 bytes (Noise §12.1, RFC 7748).
    public static let dhLength: Int = 32

    /// SHA-256 output length, `HASHLEN` (Noise §12.5).
    public static let hashLength: Int = 32

    /// ChaCha20-Poly1305 key length (Noise §12.3).
    public static let keyLength: Int = 32

    /// The nonce value Noise reserves: a CipherState must never encrypt or decrypt with it, so a
    /// connection is closed before its 2^64−1st message in one direction (Noise §5.1, docs/wire.md §4.5).
    public static let reservedNonce: UInt64 = .max

    /// The most bytes accepted as the payload of handshake message 1. The payload must be empty
    /// (docs/wire.md §4.3); go ignores whatever is there, rust refuses anything but an empty protobuf.
    /// This implementation ignores it as go does, but only up to this bound, so a peer cannot make it
    /// hash 64 KiB of junk before it has proved anything.
    public static let maximumMessage1PayloadLength: Int = 1024

    /// The longest muxer list accepted in `NoiseExtensions.stream_muxers`: go-libp2p ignores a list
    /// with more than 100 entries (docs/wire.md §6.2). Here a longer list is an error.
    public static let maximumStreamMuxerCount: Int = 100
}
