#ifndef PARLEY_COPENSSL_SHIM_H
#define PARLEY_COPENSSL_SHIM_H
// libcrypto: SHA-1 for the WebSocket accept key, SHA-256 for token digests, RAND_bytes.
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
// libssl: TLS on both ports, driven through memory BIOs by the gateway's loops (docs/SECURITY.md).
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>

// OpenSSL spells these as function-like macros, which Swift cannot call; thin inline wrappers instead.

/// The server's protocol options: no compression (CRIME), no renegotiation of any kind, the server's cipher order.
static inline uint64_t parley_ssl_server_options(void) {
    return SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE
         | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
}

static inline int parley_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

/// Partial writes and a moving buffer: output is re-offered from the connection's queue, whose storage may move;
/// released buffers: an idle TLS connection holds no 34 KiB record buffers.
static inline long parley_ssl_ctx_set_modes(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                                 | SSL_MODE_RELEASE_BUFFERS);
}

/// The bytes a memory BIO holds, without copying them out.
static inline long parley_bio_mem_contents(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

static inline int parley_bio_reset(BIO *bio) {
    return (int)BIO_reset(bio);
}

static inline int parley_ssl_version_is_tls13(const SSL *ssl) {
    return SSL_version(ssl) == TLS1_3_VERSION;
}
#endif
