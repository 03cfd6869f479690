/* test_upload_vodauth.c: VOD UploadAddress / UploadAuth decoding: the spec
 * fixture (§7.7 D-B64), expiry fields, and every error naming the decoded
 * field without echoing a secret. */
#include "worker/upload/vodauth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* spec §7.7 D-B64 */
#define ADDR_B64                                                                                   \
    "eyJFbmRwb2ludCI6Imh0dHBzOi8vb3NzLWNuLXNoYW5naGFpLmFsaXl1bmNzLmNvbSIsIkJ1Y2tldCI6Im91dGluLWV4" \
    "YW1wbGUiLCJGaWxlTmFtZSI6InN2L2V4YW1wbGUvZXhhbXBsZS5tcDQifQ=="

/* Standard base64 with padding, for building cases from readable JSON. */
static char *b64(const char *s)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    char *o = malloc(n / 3 * 4 + 5), *p = o;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16 | (i + 1 < n ? (uint32_t)u[i + 1] << 8 : 0) |
                     (i + 2 < n ? u[i + 2] : 0);
        *p++ = a[v >> 18];
        *p++ = a[(v >> 12) & 63];
        *p++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
        *p++ = i + 2 < n ? a[v & 63] : '=';
    }
    *p = '\0';
    return o;
}

static void test_address_fixture(void **state)
{
    (void)state;
    struct vodq_vod_address a;
    struct vodq_err err = {0};
    assert_int_equal(vodq_vod_address_decode(ADDR_B64, &a, &err), VODQ_OK);
    assert_string_equal(a.endpoint, "https://oss-cn-shanghai.aliyuncs.com");
    assert_string_equal(a.bucket, "outin-example");
    assert_string_equal(a.file_name, "sv/example/example.mp4");
    assert_null(a.object_prefix);
    vodq_vod_address_cleanup(&a);
    assert_null(a.endpoint);
    vodq_vod_address_cleanup(NULL);
    /* the test encoder agrees with the fixture; ObjectPrefix is read */
    char *e = b64("{\"Endpoint\":\"https://oss-cn-shanghai.aliyuncs.com\",\"Bucket\":\"outin-"
                  "example\",\"FileName\":\"sv/example/example.mp4\"}");
    assert_string_equal(e, ADDR_B64);
    free(e);
    e = b64("{\"Endpoint\":\"http://127.0.0.1:1\",\"Bucket\":\"b\",\"FileName\":\"f\","
            "\"ObjectPrefix\":\"sv/x/\"}");
    assert_int_equal(vodq_vod_address_decode(e, &a, &err), VODQ_OK);
    assert_string_equal(a.object_prefix, "sv/x/");
    vodq_vod_address_cleanup(&a);
    free(e);
    /* base64 split over lines and without padding still decodes */
    assert_int_equal(
        vodq_vod_address_decode("eyJFbmRwb2ludCI6Imh0dHBzOi8vb3NzLWNuLXNoYW5naGFpLmFs\n"
                                "aXl1bmNzLmNvbSIsIkJ1Y2tldCI6Im91dGluLWV4YW1wbGUiLCJG\r\n"
                                "aWxlTmFtZSI6InN2L2V4YW1wbGUvZXhhbXBsZS5tcDQifQ",
                                &a, &err),
        VODQ_OK);
    assert_string_equal(a.bucket, "outin-example");
    vodq_vod_address_cleanup(&a);
}

static void test_auth(void **state)
{
    (void)state;
    struct vodq_vod_auth a;
    struct vodq_err err = {0};
    char *e = b64("{\"SecurityToken\":\"CAIStoken\",\"AccessKeyId\":\"STS.akid\","
                  "\"ExpireUTCTime\":\"2020-07-29T15:20:31Z\",\"AccessKeySecret\":\"SECRETVALUE\","
                  "\"Expiration\":\"3600\",\"Region\":\"cn-shanghai\"}");
    assert_int_equal(vodq_vod_auth_decode(e, &a, &err), VODQ_OK);
    assert_string_equal(a.access_key_id, "STS.akid");
    assert_string_equal(a.access_key_secret, "SECRETVALUE");
    assert_string_equal(a.security_token, "CAIStoken");
    assert_string_equal(a.region, "cn-shanghai");
    assert_int_equal(a.expires_at, 1596036031); /* 2020-07-29T15:20:31Z */
    vodq_vod_auth_cleanup(&a);
    assert_null(a.access_key_secret);
    free(e);

    /* no ExpireUTCTime: an ISO Expiration is used, "3600" means unknown (0) */
    e = b64("{\"AccessKeyId\":\"a\",\"AccessKeySecret\":\"s\",\"Expiration\":\"2030-01-02T03:04:"
            "05Z\"}");
    assert_int_equal(vodq_vod_auth_decode(e, &a, &err), VODQ_OK);
    assert_int_equal(a.expires_at, 1893553445);
    assert_null(a.security_token);
    assert_null(a.region);
    vodq_vod_auth_cleanup(&a);
    free(e);
    e = b64("{\"AccessKeyId\":\"a\",\"AccessKeySecret\":\"s\",\"Expiration\":\"3600\","
            "\"SecurityToken\":\"\"}");
    assert_int_equal(vodq_vod_auth_decode(e, &a, &err), VODQ_OK);
    assert_int_equal(a.expires_at, 0);
    assert_null(a.security_token); /* empty token = none */
    vodq_vod_auth_cleanup(&a);
    free(e);
    /* fractional seconds are accepted */
    int64_t t = 0;
    assert_int_equal(vodq_vod_parse_utc("2020-07-29T15:20:31.250Z", &t), 0);
    assert_int_equal(t, 1596036031);
    assert_int_equal(vodq_vod_parse_utc("2020-07-29 15:20:31", &t), -1);
    assert_int_equal(vodq_vod_parse_utc("2020-13-29T15:20:31Z", &t), -1);
    assert_int_equal(vodq_vod_parse_utc("2020-07-29T15:20:31+08:00", &t), -1);
}

/* Decodes json (base64-encoded here unless raw) as address or auth and
 * expects an error whose message contains want and none of the secrets. */
static void expect_bad(bool auth, const char *json, bool raw, const char *want)
{
    char *e = raw ? strdup(json) : b64(json);
    struct vodq_err err = {0};
    enum vodq_rc rc;
    if (auth) {
        struct vodq_vod_auth a;
        memset(&a, 0x5a, sizeof(a));
        rc = vodq_vod_auth_decode(e, &a, &err);
        assert_null(a.access_key_id); /* left empty */
        assert_null(a.access_key_secret);
        vodq_vod_auth_cleanup(&a);
    } else {
        struct vodq_vod_address a;
        memset(&a, 0x5a, sizeof(a));
        rc = vodq_vod_address_decode(e, &a, &err);
        assert_null(a.endpoint);
        vodq_vod_address_cleanup(&a);
    }
    free(e);
    assert_int_equal(rc, VODQ_ERR_INVALID);
    assert_true(err.permanent);
    if (!strstr(err.msg, want))
        fail_msg("got \"%s\", wanted \"%s\"", err.msg, want);
    assert_null(strstr(err.msg, "SECRETVALUE"));
    assert_null(strstr(err.msg, "CAIStoken"));
}

static void test_errors(void **state)
{
    (void)state;
    expect_bad(false, "!!!not base64!!!", true, "UploadAddress: not base64");
    expect_bad(false, "eyJ=abc", true, "UploadAddress: not base64"); /* data after padding */
    expect_bad(false, "eyJFb", true, "UploadAddress: not base64");   /* dangling 6 bits */
    expect_bad(false, "", true, "UploadAddress: missing");
    expect_bad(false, "hello world", false, "UploadAddress: not JSON");
    expect_bad(false, "[1,2]", false, "UploadAddress: not JSON");
    expect_bad(false, "{\"Endpoint\":\"x\",\"Bucket\":\"b\",\"FileName\":\"f\"} trailing", false,
               "UploadAddress: not JSON");
    expect_bad(false, "{\"Bucket\":\"b\",\"FileName\":\"f\"}", false,
               "UploadAddress.Endpoint: missing");
    expect_bad(false, "{\"Endpoint\":\"x\",\"FileName\":\"f\"}", false,
               "UploadAddress.Bucket: missing");
    expect_bad(false, "{\"Endpoint\":\"x\",\"Bucket\":\"b\"}", false,
               "UploadAddress.FileName: missing");
    expect_bad(false, "{\"Endpoint\":\"x\",\"Bucket\":7,\"FileName\":\"f\"}", false,
               "UploadAddress.Bucket: must be a string");
    expect_bad(false, "{\"Endpoint\":\"x\",\"Bucket\":\"\",\"FileName\":\"f\"}", false,
               "UploadAddress.Bucket: empty");

    expect_bad(true, "@@@", true, "UploadAuth: not base64");
    expect_bad(true, "hello world", false, "UploadAuth: not JSON");
    expect_bad(true, "{\"AccessKeySecret\":\"SECRETVALUE\",\"SecurityToken\":\"CAIStoken\"}", false,
               "UploadAuth.AccessKeyId: missing");
    expect_bad(true, "{\"AccessKeyId\":\"a\",\"SecurityToken\":\"CAIStoken\"}", false,
               "UploadAuth.AccessKeySecret: missing");
    expect_bad(true, "{\"AccessKeyId\":\"a\",\"AccessKeySecret\":5}", false,
               "UploadAuth.AccessKeySecret: must be a string");
    expect_bad(true,
               "{\"AccessKeyId\":\"a\",\"AccessKeySecret\":\"SECRETVALUE\",\"SecurityToken\":[]}",
               false, "UploadAuth.SecurityToken: must be a string");
    expect_bad(true, "{\"AccessKeyId\":\"a\",\"AccessKeySecret\":\"SECRETVALUE\",\"Region\":1}",
               false, "UploadAuth.Region: must be a string");
    expect_bad(true,
               "{\"AccessKeyId\":\"a\",\"AccessKeySecret\":\"SECRETVALUE\",\"SecurityToken\":"
               "\"CAIStoken\",\"ExpireUTCTime\":\"tomorrow\"}",
               false, "UploadAuth.ExpireUTCTime: \"tomorrow\" is not an ISO-8601");
    expect_bad(true,
               "{\"AccessKeyId\":\"a\",\"AccessKeySecret\":\"SECRETVALUE\",\"Expiration\":{}}",
               false, "UploadAuth.Expiration: must be a string");
    /* a JSON text with a NUL inside the decoded bytes is not JSON */
    expect_bad(true, "eyJBIjoiYiJ9AA==", true, "UploadAuth: not JSON");
}

/* the proactive-refresh test: within N seconds of ExpireUTCTime, or past it */
static void test_expires_within(void **state)
{
    (void)state;
    int64_t exp;
    assert_int_equal(vodq_vod_parse_utc("2020-07-29T15:20:31Z", &exp), 0);
    assert_int_equal(exp, 1596036031);
    assert_false(vodq_vod_expires_within(exp, exp - 601, 600));
    assert_true(vodq_vod_expires_within(exp, exp - 600, 600));
    assert_true(vodq_vod_expires_within(exp, exp - 1, 600));
    assert_true(vodq_vod_expires_within(exp, exp + 100, 0));
    assert_false(vodq_vod_expires_within(exp, exp - 1, 0));
    assert_true(vodq_vod_expires_within(exp, exp, -5)); /* negative margin = 0 */
    /* unknown expiry (0) never counts as expiring */
    assert_false(vodq_vod_expires_within(0, 1596036031, 3000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_fixture),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_expires_within),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
