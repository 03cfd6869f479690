/* crypto.c: AES-256-GCM sealing of credentials with a keyring (OpenSSL). */
#include "shared/crypto.h"

#include "shared/config.h"
#include "shared/job.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define KID_MAX 32

struct key {
    char id[KID_MAX + 1];
    unsigned char k[KEY_BYTES];
};

struct vodq_keyring {
    struct key *keys; /* keys[0] encrypts */
    size_t n;
};

void vodq_keyring_free(struct vodq_keyring *k)
{
    if (!k)
        return;
    if (k->keys)
        OPENSSL_cleanse(k->keys, k->n * sizeof(*k->keys));
    free(k->keys);
    free(k);
}

const char *vodq_keyring_id(const struct vodq_keyring *k)
{
    return k && k->n ? k->keys[0].id : "";
}

static bool kid_ok(const char *s, size_t n)
{
    if (n == 0 || n > KID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

struct keyring_load {
    struct vodq_keyring *k;
    const char *path;
};

/* One line of a secret key file: "KEYID BASE64KEY". */
static bool keyring_line(void *ctx, int lineno, char **w, int nw, struct vodq_err *err)
{
    struct keyring_load *c = ctx;
    struct vodq_keyring *k = c->k;
    const char *id = w[0], *b64 = nw > 1 ? w[1] : "";
    size_t idn = strlen(id), bn = strlen(b64);
    unsigned char raw[64];
    int got = -1;
    bool ok = true;
    if (bn == 44 && nw == 2) /* base64 of 32 bytes: 44 characters, one '=' */
        got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)bn);
    if (!kid_ok(id, idn) || got != 33 || b64[43] != '=' || b64[42] == '=') {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "secret key file %s:%d: expected 'KEYID BASE64KEY' (an id of 1-%d "
                     "[A-Za-z0-9._-] and 32 random bytes in base64: openssl rand -base64 32)",
                     c->path, lineno, KID_MAX);
        ok = false;
    }
    for (size_t i = 0; ok && i < k->n; i++)
        if (strlen(k->keys[i].id) == idn && !strncmp(k->keys[i].id, id, idn)) {
            vodq_err_set(err, VODQ_ERR_INVALID, 0, "secret key file %s:%d: key id used twice",
                         c->path, lineno);
            ok = false;
        }
    struct key *nk = ok ? realloc(k->keys, (k->n + 1) * sizeof(*nk)) : NULL;
    if (ok && !nk) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        ok = false;
    } else if (ok) {
        k->keys = nk;
        memset(&nk[k->n], 0, sizeof(nk[k->n]));
        memcpy(nk[k->n].id, id, idn);
        memcpy(nk[k->n].k, raw, KEY_BYTES);
        k->n++;
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    return ok;
}

struct vodq_keyring *vodq_keyring_load(const char *path, char *warn, size_t warn_cap,
                                       struct vodq_err *err)
{
    struct keyring_load c = {calloc(1, sizeof(struct vodq_keyring)), path};
    if (!c.k) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    int n = vodq_config_secret_lines("secret key file", path, 077, warn, warn_cap, keyring_line,
                                     &c, err);
    if (n == 0)
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "secret key file %s: no keys", path);
    if (n <= 0) {
        vodq_keyring_free(c.k);
        return NULL;
    }
    return c.k;
}

bool vodq_sealed(const char *s)
{
    return s && !strncmp(s, VODQ_SEAL_PREFIX, strlen(VODQ_SEAL_PREFIX));
}

/* One GCM pass; enc = 1 seals, 0 opens. Returns false on any failure
 * (for opening: a wrong key or changed data). */
static bool gcm(int enc, const unsigned char *key, const unsigned char *nonce,
                const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t len,
                unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
              EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1 &&
              EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1 &&
              (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(c, out + (len ? n : 0), &fin) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

char *vodq_seal(const struct vodq_keyring *k, const char *plain, size_t len, struct vodq_err *err)
{
    if (!k || !k->n) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "seal: no key");
        return NULL;
    }
    if (len > 64 * 1024 * 1024) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "seal: value too large");
        return NULL;
    }
    const struct key *key = &k->keys[0];
    char hdr[64];
    int hn = snprintf(hdr, sizeof(hdr), "%s%s:", VODQ_SEAL_PREFIX, key->id);
    size_t blen = NONCE_BYTES + len + TAG_BYTES;
    unsigned char *bin = malloc(blen);
    size_t cap = (size_t)hn + 4 * ((blen + 2) / 3) + 1;
    char *out = malloc(cap);
    if (!bin || !out) {
        free(bin);
        free(out);
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    bool ok = RAND_bytes(bin, NONCE_BYTES) == 1 &&
              gcm(1, key->k, bin, (const unsigned char *)hdr, (size_t)hn,
                  (const unsigned char *)plain, len, bin + NONCE_BYTES, bin + NONCE_BYTES + len);
    if (ok) {
        memcpy(out, hdr, (size_t)hn);
        EVP_EncodeBlock((unsigned char *)out + hn, bin, (int)blen);
    }
    OPENSSL_cleanse(bin, blen);
    free(bin);
    if (!ok) {
        free(out);
        vodq_err_set(err, VODQ_ERR_IO, 0, "seal: AES-256-GCM failed");
        return NULL;
    }
    return out;
}

char *vodq_unseal(const struct vodq_keyring *k, const char *sealed, struct vodq_err *err)
{
    if (!vodq_sealed(sealed)) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "unseal: not an encrypted value");
        return NULL;
    }
    const char *kid = sealed + strlen(VODQ_SEAL_PREFIX);
    const char *colon = strchr(kid, ':');
    if (!colon || !kid_ok(kid, (size_t)(colon - kid))) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "unseal: malformed encrypted value");
        return NULL;
    }
    size_t kidn = (size_t)(colon - kid);
    if (!k) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "credentials are encrypted (key id %.*s) but no --secret-key-file is set",
                     (int)kidn, kid);
        return NULL;
    }
    const struct key *key = NULL;
    for (size_t i = 0; i < k->n && !key; i++)
        if (strlen(k->keys[i].id) == kidn && !strncmp(k->keys[i].id, kid, kidn))
            key = &k->keys[i];
    if (!key) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "credentials are encrypted with key id %.*s, which is not in the keyring",
                     (int)kidn, kid);
        return NULL;
    }
    const char *b64 = colon + 1;
    size_t bn = strlen(b64);
    if (bn % 4 || bn < 4 * ((NONCE_BYTES + TAG_BYTES + 2) / 3)) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "unseal: malformed encrypted value");
        return NULL;
    }
    unsigned char *bin = malloc(bn / 4 * 3 + 1);
    if (!bin) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    int got = EVP_DecodeBlock(bin, (const unsigned char *)b64, (int)bn);
    size_t pad = (bn && b64[bn - 1] == '=') + (bn > 1 && b64[bn - 2] == '=');
    if (got < 0 || (size_t)got < pad + NONCE_BYTES + TAG_BYTES) {
        free(bin);
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "unseal: malformed encrypted value");
        return NULL;
    }
    size_t blen = (size_t)got - pad, len = blen - NONCE_BYTES - TAG_BYTES;
    char *out = malloc(len + 1);
    bool ok = out && gcm(0, key->k, bin, (const unsigned char *)sealed,
                         (size_t)(b64 - sealed), bin + NONCE_BYTES, len, (unsigned char *)out,
                         bin + NONCE_BYTES + len);
    free(bin);
    if (!ok) {
        if (out)
            OPENSSL_cleanse(out, len + 1);
        free(out);
        vodq_err_set(err, out ? VODQ_ERR_INVALID : VODQ_ERR_OOM, 0,
                     out ? "unseal: the encrypted value does not verify (changed, or another "
                           "key with id %.*s)"
                         : "out of memory",
                     (int)kidn, kid);
        return NULL;
    }
    out[len] = '\0';
    return out;
}

/* ---- specs ----------------------------------------------------------- */

/* Seals (seal = true) the strings under secret-naming keys, or opens every
 * sealed string, below item. */
static enum vodq_rc walk(const struct vodq_keyring *k, cJSON *item, bool seal, bool secret,
                         struct vodq_err *err)
{
    enum vodq_rc rc = VODQ_OK;
    for (cJSON *it = item->child; it && rc == VODQ_OK; it = it->next) {
        bool sec = secret || (it->string && vodq_job_key_secret(it->string, strlen(it->string)));
        if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            rc = walk(k, it, seal, sec, err);
            continue;
        }
        if (!cJSON_IsString(it))
            continue;
        char *v = NULL;
        if (seal && sec && !vodq_sealed(it->valuestring))
            v = vodq_seal(k, it->valuestring, strlen(it->valuestring), err);
        else if (!seal && vodq_sealed(it->valuestring))
            v = vodq_unseal(k, it->valuestring, err);
        else
            continue;
        if (!v)
            return err && err->code ? err->code : VODQ_ERR_INVALID;
        OPENSSL_cleanse(it->valuestring, strlen(it->valuestring));
        if (!cJSON_SetValuestring(it, v))
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        OPENSSL_cleanse(v, strlen(v));
        free(v);
    }
    return rc;
}

static char *spec_pass(const struct vodq_keyring *k, const char *json, bool seal,
                       struct vodq_err *err)
{
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "spec: not a JSON object");
        return NULL;
    }
    char *out = NULL;
    if (walk(k, root, seal, false, err) == VODQ_OK) {
        char *t = cJSON_PrintUnformatted(root);
        out = t ? strdup(t) : NULL;
        if (t)
            OPENSSL_cleanse(t, strlen(t));
        cJSON_free(t);
        if (!out)
            vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
    cJSON_Delete(root);
    return out;
}

char *vodq_seal_spec(const struct vodq_keyring *k, const char *json, struct vodq_err *err)
{
    return spec_pass(k, json, true, err);
}

char *vodq_unseal_spec(const struct vodq_keyring *k, const char *json, struct vodq_err *err)
{
    return spec_pass(k, json, false, err);
}

void vodq_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t dlen,
                          char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[32];
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, data, dlen, mac, &n) || n != 32) {
        out[0] = '\0';
        return;
    }
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
    OPENSSL_cleanse(mac, sizeof(mac));
}
