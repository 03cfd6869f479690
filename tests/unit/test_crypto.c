/* test_crypto.c: shared/crypto.c: keyring files, seal/unseal round trips,
 * tamper and key-id checks, rotation, and spec sealing (only values under
 * secret-naming keys). */
#include "shared/crypto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define KA "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=" /* 32 bytes */
#define KB "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static struct vodq_keyring *ring(const char *text, struct vodq_err *err)
{
    char path[] = "/tmp/vodq-keys-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char warn[256];
    struct vodq_keyring *k = vodq_keyring_load(path, warn, sizeof(warn), err);
    unlink(path);
    return k;
}

static void test_roundtrip_and_tamper(void **state)
{
    (void)state;
    struct vodq_err err = {0};
    struct vodq_keyring *k = ring("# ring\nnew " KA "\n", &err);
    assert_non_null(k);
    assert_string_equal(vodq_keyring_id(k), "new");
    const char *secret = "s3cr3t-value";
    char *s = vodq_seal(k, secret, strlen(secret), &err);
    assert_non_null(s);
    assert_true(vodq_sealed(s));
    assert_int_equal(strncmp(s, "vodq:enc:v1:new:", 16), 0);
    assert_null(strstr(s, secret));
    char *s2 = vodq_seal(k, secret, strlen(secret), &err);
    assert_string_not_equal(s, s2); /* a fresh nonce each time */
    char *p = vodq_unseal(k, s, &err);
    assert_string_equal(p, secret);
    free(p);
    /* a changed byte of the ciphertext, or a changed key id, does not open */
    size_t n = strlen(s);
    s[n - 6] = s[n - 6] == 'A' ? 'B' : 'A';
    assert_null(vodq_unseal(k, s, &err));
    assert_int_equal(err.code, VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "does not verify"));
    struct vodq_keyring *k2 = ring("new " KB "\nold " KA "\n", &err);
    assert_non_null(k2);
    assert_null(vodq_unseal(k2, s2, &err)); /* same id "new", other key */
    memcpy(s2 + 12, "old", 3);               /* id swapped: the header is authenticated */
    assert_null(vodq_unseal(k2, s2, &err));
    assert_null(vodq_unseal(NULL, s2, &err));
    assert_non_null(strstr(err.msg, "no --secret-key-file"));
    free(s);
    free(s2);
    /* rotation: sealed with "old" (first key of its ring), opened by a ring where it is second */
    struct vodq_keyring *oldr = ring("old " KA "\n", &err);
    s = vodq_seal(oldr, "", 0, &err);
    p = vodq_unseal(k2, s, &err);
    assert_string_equal(p, "");
    free(p);
    free(s);
    s = vodq_seal(oldr, secret, strlen(secret), &err);
    assert_null(vodq_unseal(k, s, &err)); /* k has no "old" */
    assert_non_null(strstr(err.msg, "key id old, which is not in the keyring"));
    free(s);
    vodq_keyring_free(oldr);
    vodq_keyring_free(k2);
    vodq_keyring_free(k);
}

static void test_bad_keyrings(void **state)
{
    (void)state;
    struct vodq_err err = {0};
    assert_null(ring("k1 c2hvcnQ=\n", &err));
    assert_non_null(strstr(err.msg, ":1: expected"));
    assert_null(strstr(err.msg, "c2hvcnQ"));
    assert_null(ring("k1 " KA " extra\n", &err));
    assert_null(ring("bad/id " KA "\n", &err));
    assert_null(ring("k1 " KA "\nk1 " KB "\n", &err));
    assert_non_null(strstr(err.msg, ":2: key id used twice"));
    assert_null(ring("# none\n", &err));
    assert_non_null(strstr(err.msg, "no keys"));
}

static void test_spec(void **state)
{
    (void)state;
    struct vodq_err err = {0};
    struct vodq_keyring *k = ring("k " KA "\n", &err);
    const char *spec = "{\"type\":\"upload\",\"upload\":{\"file\":\"/x\",\"s3\":{\"access_key\":\"AK\","
                       "\"secret_key\":\"SK-1\",\"session_token\":\"ST-1\"},"
                       "\"vod\":{\"upload_address\":\"addr\",\"upload_auth\":\"UA-1\"}},"
                       "\"then\":[{\"type\":\"upload\",\"upload\":{\"s3\":{\"secret_key\":\"SK-2\"}}}]}";
    char *s = vodq_seal_spec(k, spec, &err);
    assert_non_null(s);
    for (const char *x = "SK-1\0ST-1\0UA-1\0SK-2\0"; *x; x += strlen(x) + 1)
        assert_null(strstr(s, x));
    assert_non_null(strstr(s, "\"access_key\":\"AK\""));
    assert_non_null(strstr(s, "\"upload_address\":\"addr\""));
    assert_non_null(strstr(s, "\"file\":\"/x\""));
    char *again = vodq_seal_spec(k, s, &err); /* sealed values are not sealed twice */
    char *o = vodq_unseal_spec(k, again, &err);
    assert_non_null(o);
    assert_string_equal(o, spec);
    free(o);
    assert_null(vodq_unseal_spec(NULL, s, &err));
    assert_null(vodq_seal_spec(k, "{not json", &err));
    free(again);
    free(s);
    vodq_keyring_free(k);
}

/* RFC 4231 test cases 1 and 2: webhook signatures (X-Vodq-Signature) */
static void test_hmac_sha256(void **state)
{
    (void)state;
    char out[65];
    unsigned char k1[20];
    memset(k1, 0x0b, sizeof(k1));
    vodq_hmac_sha256_hex(k1, sizeof(k1), "Hi There", 8, out);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    vodq_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_tamper),
        cmocka_unit_test(test_bad_keyrings),
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_hmac_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
