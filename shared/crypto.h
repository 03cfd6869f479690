/* crypto.h: envelope encryption of credentials kept in Redis (AES-256-GCM);
 * the ONLY shared module that includes OpenSSL.
 *
 * A keyring file holds one key a line: "KEYID BASE64-OF-32-BYTES" ('#'
 * comments). The first key encrypts; every key decrypts, so a key is
 * rotated by putting a new first line, restarting writers and readers, and
 * dropping the old line once no stored value uses it (docs/operations.md).
 *
 * A sealed value is the text "vodq:enc:v1:KEYID:" + base64(12-byte nonce ||
 * ciphertext || 16-byte tag); the header "vodq:enc:v1:KEYID:" is the
 * additional authenticated data, so neither the key id nor a byte of the
 * ciphertext can be changed unnoticed.
 *
 * Job specs are sealed value by value: every string under a key that names
 * a secret (vodq_job_key_secret) is replaced by its sealed text, so the
 * rest of the spec stays readable by the Lua scripts ("then" chains) and
 * status output, and a Redis dump or replica holds no usable credential. */
#ifndef VODQ_CRYPTO_H
#define VODQ_CRYPTO_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>

#define VODQ_SEAL_PREFIX "vodq:enc:v1:"

struct vodq_keyring;

/* Reads a keyring file. Returns a new keyring (free with
 * vodq_keyring_free) or NULL with err naming the file and line (never key
 * material). Writes a warning into warn when the file is readable by group
 * or others (else ""). */
struct vodq_keyring *vodq_keyring_load(const char *path, char *warn, size_t warn_cap,
                                       struct vodq_err *err);
/* Wipes and frees; NULL is fine. */
void vodq_keyring_free(struct vodq_keyring *k);
/* The id of the key that encrypts (the first line). */
const char *vodq_keyring_id(const struct vodq_keyring *k);

/* True when s starts with VODQ_SEAL_PREFIX. */
bool vodq_sealed(const char *s);

/* Returns a new NUL-terminated sealed text of plain[0..len) (free with
 * free()), or NULL with err filled. Thread-safe. */
char *vodq_seal(const struct vodq_keyring *k, const char *plain, size_t len, struct vodq_err *err);

/* Returns a new NUL-terminated plaintext of sealed (free with free(); it
 * holds a secret: wipe before freeing), or NULL with err: VODQ_ERR_INVALID
 * when the key id is not in the keyring (named) or the text was changed.
 * Thread-safe. */
char *vodq_unseal(const struct vodq_keyring *k, const char *sealed, struct vodq_err *err);

/* Returns a new JSON text (free with free()): json with every string value
 * under a secret-naming key sealed (values already sealed are kept). NULL
 * with err when json is not JSON or on failure. */
char *vodq_seal_spec(const struct vodq_keyring *k, const char *json, struct vodq_err *err);

/* Returns a new JSON text (free with free()): json with every sealed string
 * value opened. k may be NULL: then a sealed value fails VODQ_ERR_INVALID
 * ("... encrypted ... no --secret-key-file"). */
char *vodq_unseal_spec(const struct vodq_keyring *k, const char *json, struct vodq_err *err);

/* Writes the lowercase hex HMAC-SHA256 of data[0..dlen) under key[0..klen) into
 * out (65 bytes with the NUL). Webhook signatures (scheduler/webhook.c). */
void vodq_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t dlen,
                          char out[65]);

#endif
