// C reference for the TLS benchmarks: the work Sources/TLS does per handshake and per record, done
// directly with OpenSSL 3 (and libsodium for Ed25519, as P2PCore's identity keys use), so that the
// Swift/C ratio is measured in the same run instead of quoted.
//
// Step for step it mirrors the Swift code: fresh P-256 key and certificate per side (or a cached
// one), SignedKey signed by an Ed25519 identity, TLS 1.3 only, the same cipher suites, no session
// tickets, SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT with the libp2p checks in the cert verify
// callback (one certificate, extension once, no other critical extension, no unique IDs, validity,
// accepted signature algorithm and curve, self-signature, SignedKey, Ed25519 signature, peer ID),
// client-order ALPN selection. The only intended difference is the BIO: plain BIO_s_mem pairs here.
#include "tls_reference.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned char kLibp2pOID[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xa2, 0x5a, 0x01, 0x01};
static const char kPrefix[] = "libp2p-tls-handshake:";
#define PREFIX_LENGTH (sizeof(kPrefix) - 1)
static const char kSuites[] = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384";
static const unsigned char kALPN[] = {6, 'l', 'i', 'b', 'p', '2', 'p'};

typedef struct {
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
} identity;

typedef struct {
    SSL_CTX *ctx;
    identity id;
    X509 *cached_certificate;
    EVP_PKEY *cached_key;
} side;

// Per-connection verification result, hung off the SSL with ex data.
typedef struct {
    int verified;
    unsigned char peer_id[2 + 36];
} verification;

static int verification_index = -1;

// MARK: - Certificates

static int make_certificate(const identity *id, X509 **out_certificate, EVP_PKEY **out_key) {
    EVP_PKEY_CTX *key_context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *key = NULL;
    if (key_context == NULL || EVP_PKEY_keygen_init(key_context) != 1 ||
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(key_context, NID_X9_62_prime256v1) != 1 ||
        EVP_PKEY_keygen(key_context, &key) != 1) {
        EVP_PKEY_CTX_free(key_context);
        return 0;
    }
    EVP_PKEY_CTX_free(key_context);

    // signature = Ed25519(identity, prefix || SPKI)
    unsigned char *spki = NULL;
    int spki_length = i2d_PUBKEY(key, &spki);
    if (spki_length <= 0 || spki_length > 256) {
        EVP_PKEY_free(key);
        return 0;
    }
    unsigned char message[PREFIX_LENGTH + 256];
    memcpy(message, kPrefix, PREFIX_LENGTH);
    memcpy(message + PREFIX_LENGTH, spki, (size_t)spki_length);
    OPENSSL_free(spki);
    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, NULL, message, PREFIX_LENGTH + (size_t)spki_length, id->secret_key);

    // SignedKey ::= SEQUENCE { OCTET STRING (08 01 12 20 <key>), OCTET STRING (signature) }: 106 bytes.
    unsigned char signed_key[2 + 2 + 36 + 2 + 64];
    unsigned char *cursor = signed_key;
    *cursor++ = 0x30;
    *cursor++ = 2 + 36 + 2 + 64;
    *cursor++ = 0x04;
    *cursor++ = 36;
    *cursor++ = 0x08;
    *cursor++ = 0x01;
    *cursor++ = 0x12;
    *cursor++ = 0x20;
    memcpy(cursor, id->public_key, 32);
    cursor += 32;
    *cursor++ = 0x04;
    *cursor++ = 64;
    memcpy(cursor, signature, 64);

    X509 *x509 = X509_new();
    uint64_t serial = 0, subject_serial = 0;
    RAND_bytes((unsigned char *)&serial, sizeof serial);
    RAND_bytes((unsigned char *)&subject_serial, sizeof subject_serial);
    serial &= (UINT64_C(1) << 62) - 1;
    char subject_text[32];
    snprintf(subject_text, sizeof subject_text, "%llu", (unsigned long long)subject_serial);
    time_t now = time(NULL);
    X509_NAME *name = X509_get_subject_name(x509);
    int ok = X509_set_version(x509, X509_VERSION_3) == 1 &&
             ASN1_INTEGER_set_uint64(X509_get_serialNumber(x509), serial) == 1 &&
             X509_NAME_add_entry_by_txt(name, "serialNumber", MBSTRING_ASC, (const unsigned char *)subject_text, -1,
                                        -1, 0) == 1 &&
             X509_set_issuer_name(x509, name) == 1 && ASN1_TIME_set(X509_getm_notBefore(x509), now - 3600) != NULL &&
             ASN1_TIME_set(X509_getm_notAfter(x509), now + 100LL * 365 * 86400) != NULL &&
             X509_set_pubkey(x509, key) == 1;
    if (ok) {
        ASN1_OBJECT *object = OBJ_txt2obj("1.3.6.1.4.1.53594.1.1", 1);
        ASN1_OCTET_STRING *octets = ASN1_OCTET_STRING_new();
        ok = object != NULL && octets != NULL && ASN1_OCTET_STRING_set(octets, signed_key, sizeof signed_key) == 1;
        X509_EXTENSION *extension = ok ? X509_EXTENSION_create_by_OBJ(NULL, object, 0, octets) : NULL;
        ok = ok && extension != NULL && X509_add_ext(x509, extension, -1) == 1;
        X509_EXTENSION_free(extension);
        ASN1_OCTET_STRING_free(octets);
        ASN1_OBJECT_free(object);
    }
    ok = ok && X509_sign(x509, key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x509);
        EVP_PKEY_free(key);
        return 0;
    }
    *out_certificate = x509;
    *out_key = key;
    return 1;
}

static int64_t unix_time(const ASN1_TIME *time_value, int *ok) {
    struct tm broken;
    if (ASN1_TIME_to_tm(time_value, &broken) != 1) {
        *ok = 0;
        return 0;
    }
    // days_from_civil, as the Swift code computes it.
    int64_t year = broken.tm_year + 1900, month = broken.tm_mon + 1, day = broken.tm_mday;
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    int64_t days = era * 146097 + day_of_era - 719468;
    return days * 86400 + broken.tm_hour * 3600 + broken.tm_min * 60 + broken.tm_sec;
}

/// The libp2p checks (wire §5.3), in the Swift verifier's order.
static int verify_certificate(X509_STORE_CTX *store, void *argument) {
    (void)argument;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    verification *result = ssl ? SSL_get_ex_data(ssl, verification_index) : NULL;
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(store);
    X509 *certificate = X509_STORE_CTX_get0_cert(store);
    if (result == NULL || certificate == NULL || chain == NULL || sk_X509_num(chain) != 1) goto reject;

    const ASN1_OCTET_STRING *signed_key = NULL;
    int count = X509_get_ext_count(certificate);
    for (int index = 0; index < count; index++) {
        X509_EXTENSION *extension = X509_get_ext(certificate, index);
        const ASN1_OBJECT *object = X509_EXTENSION_get_object(extension);
        if (OBJ_length(object) == sizeof kLibp2pOID && memcmp(OBJ_get0_data(object), kLibp2pOID, sizeof kLibp2pOID) == 0) {
            if (signed_key != NULL) goto reject;
            signed_key = X509_EXTENSION_get_data(extension);
        } else if (X509_EXTENSION_get_critical(extension)) {
            goto reject;
        }
    }
    if (signed_key == NULL) goto reject;
    const ASN1_BIT_STRING *issuer_uid = NULL, *subject_uid = NULL;
    X509_get0_uids(certificate, &issuer_uid, &subject_uid);
    if (issuer_uid != NULL || subject_uid != NULL) goto reject;

    int ok = 1;
    int64_t not_before = unix_time(X509_get0_notBefore(certificate), &ok);
    int64_t not_after = unix_time(X509_get0_notAfter(certificate), &ok);
    int64_t now = (int64_t)time(NULL);
    if (!ok || now < not_before || now > not_after) goto reject;

    int nid = X509_get_signature_nid(certificate);
    if (nid != NID_ecdsa_with_SHA256 && nid != NID_ecdsa_with_SHA384 && nid != NID_ED25519 &&
        nid != NID_sha256WithRSAEncryption && nid != NID_sha384WithRSAEncryption &&
        nid != NID_sha512WithRSAEncryption && nid != NID_rsassaPss)
        goto reject;
    EVP_PKEY *key = X509_get0_pubkey(certificate);
    if (key == NULL) goto reject;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        char group[64];
        size_t group_length = 0;
        if (EVP_PKEY_get_group_name(key, group, sizeof group, &group_length) != 1) goto reject;
        int curve = OBJ_sn2nid(group);
        if (curve == NID_undef) curve = OBJ_txt2nid(group);
        if (curve != NID_X9_62_prime256v1 && curve != NID_secp384r1) goto reject;
    }
    if (X509_verify(certificate, key) != 1) goto reject;

    // SignedKey: 30 L 04 L1 <public key protobuf> 04 L2 <signature>, short-form lengths.
    const unsigned char *bytes = ASN1_STRING_get0_data(signed_key);
    int length = ASN1_STRING_length(signed_key);
    if (length < 2 || bytes[0] != 0x30 || bytes[1] != length - 2 || bytes[1] >= 0x80) goto reject;
    int offset = 2;
    if (offset + 2 > length || bytes[offset] != 0x04 || bytes[offset + 1] >= 0x80) goto reject;
    const unsigned char *public_key = bytes + offset + 2;
    int public_key_length = bytes[offset + 1];
    offset += 2 + public_key_length;
    if (offset + 2 > length || bytes[offset] != 0x04 || bytes[offset + 1] >= 0x80) goto reject;
    const unsigned char *signature = bytes + offset + 2;
    int signature_length = bytes[offset + 1];
    if (offset + 2 + signature_length != length) goto reject;
    // PublicKey protobuf: 08 01 12 20 <32 bytes> (Ed25519).
    if (public_key_length != 36 || public_key[0] != 0x08 || public_key[1] != 0x01 || public_key[2] != 0x12 ||
        public_key[3] != 0x20 || signature_length != crypto_sign_BYTES)
        goto reject;

    unsigned char *spki = NULL;
    int spki_length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &spki);
    if (spki_length <= 0 || spki_length > 1024) {
        OPENSSL_free(spki);
        goto reject;
    }
    unsigned char message[PREFIX_LENGTH + 1024];
    memcpy(message, kPrefix, PREFIX_LENGTH);
    memcpy(message + PREFIX_LENGTH, spki, (size_t)spki_length);
    OPENSSL_free(spki);
    if (crypto_sign_verify_detached(signature, message, PREFIX_LENGTH + (size_t)spki_length, public_key + 4) != 0)
        goto reject;

    // Peer ID: identity multihash of the 36-byte protobuf.
    result->peer_id[0] = 0x00;
    result->peer_id[1] = 36;
    memcpy(result->peer_id + 2, public_key, 36);
    result->verified = 1;
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;

reject:
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
}

/// First client entry the server supports (wire §6.1); the server supports "libp2p".
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_length, const unsigned char *offer,
                       unsigned int offer_length, void *argument) {
    (void)ssl;
    (void)argument;
    unsigned int index = 0;
    while (index < offer_length) {
        unsigned int length = offer[index];
        if (length == 0 || index + 1 + length > offer_length) return SSL_TLSEXT_ERR_ALERT_FATAL;
        if (length == kALPN[0] && memcmp(offer + index + 1, kALPN + 1, length) == 0) {
            *out = offer + index + 1;
            *out_length = (unsigned char)length;
            return SSL_TLSEXT_ERR_OK;
        }
        index += 1 + length;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int side_init(side *s, unsigned char seed_byte, int cached) {
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, seed_byte, sizeof seed);
    crypto_sign_seed_keypair(s->id.public_key, s->id.secret_key, seed);
    s->ctx = SSL_CTX_new(TLS_method());
    if (s->ctx == NULL) return 0;
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(s->ctx, TLS1_3_VERSION);
    SSL_CTX_set_ciphersuites(s->ctx, kSuites);
    SSL_CTX_set_num_tickets(s->ctx, 0);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(s->ctx, verify_certificate, NULL);
    SSL_CTX_set_alpn_protos(s->ctx, kALPN, sizeof kALPN);
    SSL_CTX_set_alpn_select_cb(s->ctx, select_alpn, NULL);
    s->cached_certificate = NULL;
    s->cached_key = NULL;
    if (cached) {
        if (!make_certificate(&s->id, &s->cached_certificate, &s->cached_key)) return 0;
        if (SSL_CTX_use_certificate(s->ctx, s->cached_certificate) != 1 ||
            SSL_CTX_use_PrivateKey(s->ctx, s->cached_key) != 1)
            return 0;
    }
    return 1;
}

static void side_free(side *s) {
    SSL_CTX_free(s->ctx);
    X509_free(s->cached_certificate);
    EVP_PKEY_free(s->cached_key);
}

// MARK: - Handshake

struct tls_reference_handshake {
    side client;
    side server;
    int fresh;
};

tls_reference_handshake *tls_reference_handshake_create(int fresh_certificates) {
    if (sodium_init() < 0) return NULL;
    if (verification_index < 0) verification_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    tls_reference_handshake *reference = calloc(1, sizeof *reference);
    if (reference == NULL) return NULL;
    reference->fresh = fresh_certificates;
    if (!side_init(&reference->client, 1, !fresh_certificates) ||
        !side_init(&reference->server, 2, !fresh_certificates)) {
        tls_reference_handshake_destroy(reference);
        return NULL;
    }
    return reference;
}

void tls_reference_handshake_destroy(tls_reference_handshake *reference) {
    if (reference == NULL) return;
    side_free(&reference->client);
    side_free(&reference->server);
    free(reference);
}

/// Moves everything `from` has written into `to`.
static int transfer(BIO *from, BIO *to) {
    unsigned char buffer[16 * 1024 + 512];
    int moved = 0;
    for (;;) {
        int n = BIO_read(from, buffer, sizeof buffer);
        if (n <= 0) break;
        if (BIO_write(to, buffer, n) != n) return -1;
        moved += n;
    }
    return moved;
}

typedef struct {
    SSL *ssl;
    BIO *in;   // bytes from the peer
    BIO *out;  // bytes to the peer
    verification result;
} endpoint;

static int endpoint_init(endpoint *e, side *s, int client, int fresh) {
    memset(&e->result, 0, sizeof e->result);
    e->ssl = SSL_new(s->ctx);
    e->in = BIO_new(BIO_s_mem());
    e->out = BIO_new(BIO_s_mem());
    if (e->ssl == NULL || e->in == NULL || e->out == NULL) return 0;
    BIO_set_mem_eof_return(e->in, -1);
    BIO_set_mem_eof_return(e->out, -1);
    SSL_set_bio(e->ssl, e->in, e->out);
    SSL_set_ex_data(e->ssl, verification_index, &e->result);
    if (fresh) {
        X509 *certificate = NULL;
        EVP_PKEY *key = NULL;
        if (!make_certificate(&s->id, &certificate, &key)) return 0;
        int ok = SSL_use_certificate(e->ssl, certificate) == 1 && SSL_use_PrivateKey(e->ssl, key) == 1;
        X509_free(certificate);
        EVP_PKEY_free(key);
        if (!ok) return 0;
    }
    if (client) {
        SSL_set_connect_state(e->ssl);
    } else {
        SSL_set_accept_state(e->ssl);
    }
    return 1;
}

static int step(SSL *ssl, int *done) {
    if (*done) return 1;
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        *done = 1;
        return 1;
    }
    int error = SSL_get_error(ssl, rc);
    return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
}

/// Runs a handshake on two fresh endpoints; leaves them established for the caller when `keep`.
static int handshake(side *client_side, side *server_side, int fresh, endpoint *client, endpoint *server) {
    if (!endpoint_init(client, client_side, 1, fresh) || !endpoint_init(server, server_side, 0, fresh)) return 0;
    int client_done = 0, server_done = 0;
    for (int round = 0; round < 16; round++) {
        if (!step(client->ssl, &client_done)) return 0;
        if (transfer(client->out, server->in) < 0) return 0;
        if (!step(server->ssl, &server_done)) return 0;
        if (transfer(server->out, client->in) < 0) return 0;
        if (client_done && server_done) {
            return client->result.verified && server->result.verified &&
                   memcmp(client->result.peer_id + 6, server_side->id.public_key, 32) == 0 &&
                   memcmp(server->result.peer_id + 6, client_side->id.public_key, 32) == 0;
        }
    }
    return 0;
}

int tls_reference_handshake_run(tls_reference_handshake *reference) {
    endpoint client = {0}, server = {0};
    int ok = handshake(&reference->client, &reference->server, reference->fresh, &client, &server);
    SSL_free(client.ssl);
    SSL_free(server.ssl);
    ERR_clear_error();
    return ok;
}

// MARK: - Records

struct tls_reference_records {
    tls_reference_handshake *reference;
    endpoint client;
    endpoint server;
    size_t length;
    unsigned char *plaintext;
    unsigned char *wire;
    size_t wire_capacity;
};

tls_reference_records *tls_reference_records_create(size_t length) {
    tls_reference_records *records = calloc(1, sizeof *records);
    if (records == NULL) return NULL;
    records->reference = tls_reference_handshake_create(0);
    records->length = length;
    records->plaintext = calloc(1, length);
    records->wire_capacity = length + (length / 16384 + 1) * 512;
    records->wire = malloc(records->wire_capacity);
    if (records->reference == NULL || records->plaintext == NULL || records->wire == NULL ||
        !handshake(&records->reference->client, &records->reference->server, 0, &records->client, &records->server)) {
        tls_reference_records_destroy(records);
        return NULL;
    }
    return records;
}

void tls_reference_records_destroy(tls_reference_records *records) {
    if (records == NULL) return;
    SSL_free(records->client.ssl);
    SSL_free(records->server.ssl);
    tls_reference_handshake_destroy(records->reference);
    free(records->plaintext);
    free(records->wire);
    free(records);
}

const char *tls_reference_records_cipher(tls_reference_records *records) {
    return SSL_CIPHER_get_name(SSL_get_current_cipher(records->client.ssl));
}

/// SSL_write, then the records out of the client's memory BIO into `wire` (what a socket write takes).
static int encrypt_into_wire(tls_reference_records *records, size_t *wire_length) {
    if (SSL_write(records->client.ssl, records->plaintext, (int)records->length) != (int)records->length) return 0;
    int n = BIO_read(records->client.out, records->wire, (int)records->wire_capacity);
    if (n <= 0) return 0;
    *wire_length = (size_t)n;
    return BIO_ctrl_pending(records->client.out) == 0;
}

int tls_reference_records_encrypt(tls_reference_records *records) {
    size_t wire_length = 0;
    return encrypt_into_wire(records, &wire_length);
}

int tls_reference_records_roundtrip(tls_reference_records *records) {
    size_t wire_length = 0;
    if (!encrypt_into_wire(records, &wire_length)) return 0;
    if (BIO_write(records->server.in, records->wire, (int)wire_length) != (int)wire_length) return 0;
    size_t received = 0;
    while (received < records->length) {
        int n = SSL_read(records->server.ssl, records->plaintext + received, (int)(records->length - received));
        if (n <= 0) return 0;
        received += (size_t)n;
    }
    return 1;
}

// MARK: - Raw AEAD

struct tls_reference_aead {
    EVP_CIPHER_CTX *seal;
    EVP_CIPHER_CTX *open;
    size_t length;  // plaintext + content type
    unsigned char *record;  // header (5) + ciphertext + tag (16), sealed in place
    unsigned char *sealed;  // one record sealed at creation, for `open`
    unsigned char *opened;
    unsigned char iv[12];
    uint64_t sequence;
};

static void record_nonce(const unsigned char iv[12], uint64_t sequence, unsigned char nonce[12]) {
    memcpy(nonce, iv, 12);
    for (int index = 0; index < 8; index++) nonce[11 - index] ^= (unsigned char)(sequence >> (8 * index));
}

static int seal_record(EVP_CIPHER_CTX *context, const unsigned char iv[12], uint64_t sequence, unsigned char *record,
                       size_t length) {
    unsigned char nonce[12];
    record_nonce(iv, sequence, nonce);
    size_t ciphertext_length = length + 16;
    record[0] = 0x17;
    record[1] = 0x03;
    record[2] = 0x03;
    record[3] = (unsigned char)(ciphertext_length >> 8);
    record[4] = (unsigned char)ciphertext_length;
    int out_length = 0;
    if (EVP_EncryptInit_ex(context, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(context, NULL, &out_length, record, 5) != 1 ||
        EVP_EncryptUpdate(context, record + 5, &out_length, record + 5, (int)length) != 1 ||
        EVP_EncryptFinal_ex(context, record + 5 + out_length, &out_length) != 1 ||
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, record + 5 + length) != 1)
        return 0;
    return 1;
}

tls_reference_aead *tls_reference_aead_create(const char *suite, size_t length) {
    const EVP_CIPHER *cipher = NULL;
    size_t key_length = 0;
    if (strcmp(suite, "TLS_AES_128_GCM_SHA256") == 0) {
        cipher = EVP_aes_128_gcm();
        key_length = 16;
    } else if (strcmp(suite, "TLS_AES_256_GCM_SHA384") == 0) {
        cipher = EVP_aes_256_gcm();
        key_length = 32;
    } else if (strcmp(suite, "TLS_CHACHA20_POLY1305_SHA256") == 0) {
        cipher = EVP_chacha20_poly1305();
        key_length = 32;
    } else {
        return NULL;
    }
    tls_reference_aead *aead = calloc(1, sizeof *aead);
    if (aead == NULL) return NULL;
    aead->length = length + 1;  // TLSInnerPlaintext: content || content type
    aead->record = calloc(1, 5 + aead->length + 16);
    aead->sealed = calloc(1, 5 + aead->length + 16);
    aead->opened = calloc(1, aead->length);
    aead->seal = EVP_CIPHER_CTX_new();
    aead->open = EVP_CIPHER_CTX_new();
    unsigned char key[32];
    RAND_bytes(key, sizeof key);
    RAND_bytes(aead->iv, sizeof aead->iv);
    if (aead->record == NULL || aead->sealed == NULL || aead->opened == NULL || aead->seal == NULL ||
        aead->open == NULL || EVP_EncryptInit_ex(aead->seal, cipher, NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(aead->seal, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
        EVP_EncryptInit_ex(aead->seal, NULL, NULL, key, NULL) != 1 ||
        EVP_DecryptInit_ex(aead->open, cipher, NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(aead->open, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
        EVP_DecryptInit_ex(aead->open, NULL, NULL, key, NULL) != 1 ||
        !seal_record(aead->seal, aead->iv, 0, aead->sealed, aead->length)) {
        tls_reference_aead_destroy(aead);
        return NULL;
    }
    (void)key_length;
    aead->sequence = 1;
    return aead;
}

int tls_reference_aead_seal(tls_reference_aead *aead) {
    return seal_record(aead->seal, aead->iv, aead->sequence++, aead->record, aead->length);
}

int tls_reference_aead_open(tls_reference_aead *aead) {
    unsigned char nonce[12];
    record_nonce(aead->iv, 0, nonce);
    int out_length = 0;
    const unsigned char *record = aead->sealed;
    if (EVP_DecryptInit_ex(aead->open, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(aead->open, NULL, &out_length, record, 5) != 1 ||
        EVP_DecryptUpdate(aead->open, aead->opened, &out_length, record + 5, (int)aead->length) != 1 ||
        EVP_CIPHER_CTX_ctrl(aead->open, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(record + 5 + aead->length)) != 1 ||
        EVP_DecryptFinal_ex(aead->open, aead->opened + out_length, &out_length) != 1)
        return 0;
    return 1;
}

void tls_reference_aead_destroy(tls_reference_aead *aead) {
    if (aead == NULL) return;
    EVP_CIPHER_CTX_free(aead->seal);
    EVP_CIPHER_CTX_free(aead->open);
    free(aead->record);
    free(aead->sealed);
    free(aead->opened);
    free(aead);
}
