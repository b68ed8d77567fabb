// The same libp2p TLS work as the Swift TLS module, written directly in C against OpenSSL 3 and
// libsodium, so benchmarks can report Swift's cost as a ratio measured in the same run.
//
// Only plain C types cross this header: OpenSSL stays inside tls_reference.c, so its headers never
// meet the root package's COpenSSL module.
#ifndef TLS_REFERENCE_H
#define TLS_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Handshake

/// Two SSL_CTXs (client, server) set up as the Swift TLSContext does: TLS 1.3 only, the same cipher
/// suites, no tickets, mutual authentication with the libp2p checks in the cert verify callback,
/// client-order ALPN selection, classic ALPN ("libp2p" only), Ed25519 identities (libsodium, as the
/// Swift identity code uses).
typedef struct tls_reference_handshake tls_reference_handshake;

/// `fresh_certificates`: 1 = a new P-256 key and certificate per connection and side (the Swift
/// default), 0 = one cached certificate per side.
tls_reference_handshake *tls_reference_handshake_create(int fresh_certificates);

/// Runs one complete handshake, both sides in this thread, over memory BIOs (BIO_s_mem), including
/// certificate generation (when fresh) and verification. Returns 1 when both sides finished and
/// authenticated each other.
int tls_reference_handshake_run(tls_reference_handshake *reference);

void tls_reference_handshake_destroy(tls_reference_handshake *reference);

// MARK: - Records

/// An established client/server pair over memory BIOs, for OpenSSL's own record cost.
typedef struct tls_reference_records tls_reference_records;

/// Handshakes once; records then carry `length` plaintext bytes per write.
tls_reference_records *tls_reference_records_create(size_t length);

/// SSL_write of `length` bytes on the client and BIO_read of the records out of its memory BIO.
int tls_reference_records_encrypt(tls_reference_records *records);

/// As `encrypt`, then BIO_write into the server's memory BIO and SSL_read of the plaintext.
int tls_reference_records_roundtrip(tls_reference_records *records);

/// The negotiated cipher suite, such as "TLS_AES_128_GCM_SHA256".
const char *tls_reference_records_cipher(tls_reference_records *records);

void tls_reference_records_destroy(tls_reference_records *records);

// MARK: - Raw AEAD

/// One TLS 1.3 record's AEAD with EVP and nothing else: 5-byte header as AAD, per-record nonce,
/// in-place seal of `length` bytes plus the content-type byte, 16-byte tag.
typedef struct tls_reference_aead tls_reference_aead;

/// `suite`: an IANA TLS 1.3 suite name ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
/// "TLS_CHACHA20_POLY1305_SHA256"). Returns NULL for anything else.
tls_reference_aead *tls_reference_aead_create(const char *suite, size_t length);

/// Seals the next record in place. Returns 1 on success.
int tls_reference_aead_seal(tls_reference_aead *aead);

/// Opens one record sealed at creation into a separate buffer (the ciphertext stays intact).
int tls_reference_aead_open(tls_reference_aead *aead);

void tls_reference_aead_destroy(tls_reference_aead *aead);

#ifdef __cplusplus
}
#endif

#endif
