#ifndef PARLEY_COPENSSL_SHIM_H
#define PARLEY_COPENSSL_SHIM_H
// Only libcrypto: SHA-1 for the WebSocket accept key, SHA-256 for token digests, RAND_bytes.
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#endif
