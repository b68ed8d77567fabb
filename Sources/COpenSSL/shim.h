// OpenSSL 3 headers plus static inline wrappers for the calls OpenSSL defines as macros.
// Swift cannot import function-like macros, so each macro the project needs gets one wrapper,
// named COpenSSLShim_<macro>, with the reason next to it.
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// SSL_CTX_set_min_proto_version / set_max_proto_version are SSL_CTX_ctrl macros.
static inline int COpenSSLShim_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int COpenSSLShim_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
// SSL_CTX_set_mode is an SSL_CTX_ctrl macro.
static inline long COpenSSLShim_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
// SSL_CTX_set_options is a function in 3.0 but its flag constants are wide macros; keep one entry point.
static inline unsigned long COpenSSLShim_SSL_CTX_set_options(SSL_CTX *ctx, unsigned long options) {
    return (unsigned long)SSL_CTX_set_options(ctx, options);
}
// SSL_CTX_set_num_tickets is a function, but SSL_OP_NO_TICKET is a macro of a 64-bit literal.
static inline unsigned long COpenSSLShim_SSL_OP_NO_TICKET(void) { return (unsigned long)SSL_OP_NO_TICKET; }
// BIO_get_mem_data and BIO_ctrl_pending are BIO_ctrl macros.
static inline long COpenSSLShim_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline size_t COpenSSLShim_BIO_ctrl_pending(BIO *bio) { return BIO_ctrl_pending(bio); }
// BIO_set_mem_eof_return is a BIO_ctrl macro: -1 makes an empty memory BIO mean "retry", not EOF.
static inline long COpenSSLShim_BIO_set_mem_eof_return(BIO *bio, int value) {
    return BIO_set_mem_eof_return(bio, value);
}
// SSL_set_tlsext_host_name is an SSL_ctrl macro (kept so callers can prove they never send SNI).
static inline long COpenSSLShim_SSL_get_servername_type(const SSL *ssl) { return SSL_get_servername_type(ssl); }
// EVP_CTRL_AEAD_* are plain constants but the ctrl calls are clearer with names.
static inline int COpenSSLShim_EVP_CTRL_AEAD_SET_IVLEN(void) { return EVP_CTRL_AEAD_SET_IVLEN; }
static inline int COpenSSLShim_EVP_CTRL_AEAD_GET_TAG(void) { return EVP_CTRL_AEAD_GET_TAG; }
static inline int COpenSSLShim_EVP_CTRL_AEAD_SET_TAG(void) { return EVP_CTRL_AEAD_SET_TAG; }
// OPENSSL_VERSION_TEXT is a string macro; recorded in every result's metadata.
static inline const char *COpenSSLShim_OPENSSL_VERSION_TEXT(void) { return OPENSSL_VERSION_TEXT; }

// SHA256_Init/Update/Final are deprecated in 3.0 in favour of EVP_Digest*, but they run the same
// SHA-NI code without EVP's per-call provider dispatch, and SHA256_CTX is a plain struct that lives
// on the caller's stack (no allocation): Noise hashes ~40 short inputs per handshake.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static inline int COpenSSLShim_SHA256_Init(SHA256_CTX *context) { return SHA256_Init(context); }
static inline int COpenSSLShim_SHA256_Update(SHA256_CTX *context, const void *data, size_t length) {
    return SHA256_Update(context, data, length);
}
static inline int COpenSSLShim_SHA256_Final(unsigned char *digest, SHA256_CTX *context) {
    return SHA256_Final(digest, context);
}
#pragma GCC diagnostic pop

#endif
