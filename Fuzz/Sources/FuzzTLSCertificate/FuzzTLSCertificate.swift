import FuzzSupport
import P2PCore
import SwiftASN1

@testable import TLS

/// A fixed certificate key and identity: generating them for every input would dominate the run.
private let certificateKey = try! OpenSSLCertificateKey.generate(.ed25519)
private let identity = try! IdentityPrivateKey(ed25519Seed: [UInt8](repeating: 7, count: 32))
/// Inside the validity of the fixture certificates and of the certificates built here.
private let now: Int64 = 1_767_225_600

/// libp2p TLS certificate verification, the entry point the handshake's verify callback uses.
///
/// First byte, low bit clear: the rest is the peer's leaf certificate in DER (OpenSSL parses it;
/// the checks of the libp2p rules are ours). Low bit set: the rest is the libp2p extension's
/// value (DER `SignedKey`, the identity key protobuf, the signature), carried in a correctly
/// self-signed certificate, so the fuzzer reaches the SignedKey decoding; further bits mark the
/// extension critical, add it twice, add a foreign critical extension, or replace the signature
/// (and, with the top bit, the key) with a valid one by a fixed identity when the value parses.
/// Bit 6 makes the verifier expect that identity's peer ID. A certificate that verifies
/// authenticates the peer ID expected, if any.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLSCertificate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let expected: PeerID? = flags & 0x40 == 0 ? nil : identity.peerID
    if flags & 0x1 == 0 {
        let der = input.rest()
        let chain = flags & 0x2 == 0 ? [der] : [der, der]
        if let peer = try? Libp2pCertificate.verify(chain: chain, now: now, expectedPeerID: expected) {
            fuzzCheck(expected == nil || peer.peerID == expected, "verified \(peer.peerID) while expecting another")
        }
        return 0
    }

    var value = input.rest()
    if flags & 0x20 != 0, let signedKey = try? Libp2pSignedKey(derEncoded: value),
        let spki = try? certificateKey.subjectPublicKeyInfo(),
        let signature = try? identity.sign(TLSConstants.signaturePrefix + spki)
    {
        // Keep the fuzzed key unless told otherwise, so that a key other than the signer's fails.
        let resigned = Libp2pSignedKey(
            publicKey: flags & 0x80 == 0
                ? signedKey.publicKey : .init(contentBytes: identity.publicKey.protobufEncoded[...]),
            signature: .init(contentBytes: signature[...])
        )
        var serializer = DER.Serializer()
        if (try? serializer.serialize(resigned)) != nil { value = serializer.serializedBytes }
    }
    var extensions: [OpenSSLCertificate.ExtensionTemplate] = [
        .init(oid: TLSConstants.libp2pExtensionOID, isCritical: flags & 0x2 != 0, value: value)
    ]
    if flags & 0x4 != 0 { extensions.append(extensions[0]) }
    if flags & 0x8 != 0 { extensions.append(.init(oid: "1.2.3.4.5", isCritical: true, value: [0x05, 0x00])) }
    if flags & 0x10 != 0 { extensions.insert(.init(oid: "1.2.3.4.6", isCritical: false, value: value), at: 0) }
    guard
        let certificate = try? Libp2pCertificate(
            key: certificateKey,
            notBefore: now - 3600,
            notAfter: now + 3600,
            extensions: extensions
        ),
        let der = try? certificate.derEncoded
    else { return 0 }
    if let peer = try? Libp2pCertificate.verify(chain: [der], now: now, expectedPeerID: expected) {
        fuzzCheck(expected == nil || peer.peerID == expected, "verified \(peer.peerID) while expecting another")
        fuzzCheck(flags & 0x0c == 0, "verified a certificate with a duplicate or unknown critical extension")
    }
    return 0
}
