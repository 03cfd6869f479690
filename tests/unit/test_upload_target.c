/* test_upload_target.c: upload target parsing (VOD address/auth and S3),
 * addressing, credential refresh, and the errors for bad specs: each must
 * name the bad field and never echo a secret. Also the pieces a target is
 * used with: the JSON-file checkpoint and the retry backoff. */
#include "worker/upload/ckpt_file.h"
#include "worker/upload/http.h"
#include "worker/upload/target.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* {"Endpoint":"https://oss-cn-shanghai.aliyuncs.com","Bucket":"outin-example",
 *  "FileName":"sv/example/example.mp4"} (spec §7.7 D-B64) */
#define ADDR                                                                                       \
    "eyJFbmRwb2ludCI6Imh0dHBzOi8vb3NzLWNuLXNoYW5naGFpLmFsaXl1bmNzLmNvbSIsIkJ1Y2tldCI6Im91dGluLWV4" \
    "YW1wbGUiLCJGaWxlTmFtZSI6InN2L2V4YW1wbGUvZXhhbXBsZS5tcDQifQ=="
/* SecurityToken CAIStoken, AccessKeyId STS.akid, ExpireUTCTime 2030-07-29T15:20:31Z,
 * AccessKeySecret SECRETVALUE, Expiration 3600, Region cn-shanghai */
#define AUTH                                                                                       \
    "eyJTZWN1cml0eVRva2VuIjoiQ0FJU3Rva2VuIiwiQWNjZXNzS2V5SWQiOiJTVFMuYWtpZCIsIkV4cGlyZVVUQ1RpbWUi" \
    "OiIyMDMwLTA3LTI5VDE1OjIwOjMxWiIsIkFjY2Vzc0tleVNlY3JldCI6IlNFQ1JFVFZBTFVFIiwiRXhwaXJhdGlvbiI6" \
    "IjM2MDAiLCJSZWdpb24iOiJjbi1zaGFuZ2hhaSJ9"
/* as AUTH without Region, ExpireUTCTime, Expiration */
#define AUTH_NOREGION                                                                              \
    "eyJTZWN1cml0eVRva2VuIjoiQ0FJU3Rva2VuIiwiQWNjZXNzS2V5SWQiOiJTVFMuYWtpZCIsIkFjY2Vzc0tleVNlY3Jl" \
    "dCI6IlNFQ1JFVFZBTFVFIn0="
/* as AUTH without AccessKeySecret */
#define AUTH_NOSECRET                                                                              \
    "eyJTZWN1cml0eVRva2VuIjoiQ0FJU3Rva2VuIiwiQWNjZXNzS2V5SWQiOiJTVFMuYWtpZCIsIlJlZ2lvbiI6ImNuLXNo" \
    "YW5naGFpIn0="
/* {"Endpoint":"https://oss-cn-shanghai.aliyuncs.com","FileName":"a.mp4"} */
#define ADDR_NOBUCKET                                                                              \
    "eyJFbmRwb2ludCI6Imh0dHBzOi8vb3NzLWNuLXNoYW5naGFpLmFsaXl1bmNzLmNvbSIsIkZpbGVOYW1lIjoiYS5tcDQi" \
    "fQ=="
/* base64 of "hello world": valid base64, not JSON */
#define NOTJSON "aGVsbG8gd29ybGQ="
/* SecurityToken NEWTOKEN, AccessKeyId STS.new, AccessKeySecret NEWSECRET, Region cn-shanghai,
 * ExpireUTCTime 2031-01-01T00:00:00Z */
#define AUTH2                                                                                      \
    "eyJTZWN1cml0eVRva2VuIjoiTkVXVE9LRU4iLCJBY2Nlc3NLZXlJZCI6IlNUUy5uZXciLCJBY2Nlc3NLZXlTZWNyZXQi" \
    "OiJORVdTRUNSRVQiLCJSZWdpb24iOiJjbi1zaGFuZ2hhaSIsIkV4cGlyZVVUQ1RpbWUiOiIyMDMxLTAxLTAxVDAwOjAw" \
    "OjAwWiJ9"

/* Parses spec, expects failure with code and a message containing want;
 * the message must not contain any secret used in these tests. */
static void expect_bad(const char *spec, enum vodq_rc code, const char *want)
{
    struct vodq_target t;
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_target_parse(&t, spec, &err);
    if (rc != code || !strstr(err.msg, want))
        fail_msg("spec %s: got rc %d msg \"%s\", wanted rc %d with \"%s\"", spec, rc, err.msg,
                 code, want);
    assert_true(err.permanent);
    assert_null(strstr(err.msg, "SECRETVALUE"));
    assert_null(strstr(err.msg, "s3secret"));
    assert_null(strstr(err.msg, "CAIStoken"));
    vodq_target_cleanup(&t);
}

static void test_bad_specs(void **state)
{
    (void)state;
    expect_bad("not json", VODQ_ERR_INVALID, "not a JSON object");
    expect_bad("[1]", VODQ_ERR_INVALID, "not a JSON object");
    expect_bad("{\"file\":\"x\"}", VODQ_ERR_INVALID, "missing target");
    expect_bad("{\"vod\":{},\"s3\":{}}", VODQ_ERR_INVALID, "not both");
    expect_bad("{\"s3\":\"s3://b/k\"}", VODQ_ERR_INVALID, "upload.s3: must be an object");
    expect_bad("{\"s3\":{}}", VODQ_ERR_INVALID, "upload.s3.url: missing");
    expect_bad("{\"s3\":{\"url\":7}}", VODQ_ERR_INVALID, "upload.s3.url: must be a string");
    expect_bad("{\"s3\":{\"url\":\"http://bucket/key\",\"access_key\":\"a\",\"secret_key\":"
               "\"s3secret\"}}",
               VODQ_ERR_INVALID, "s3.url: must look like s3://bucket/key");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket\",\"access_key\":\"a\",\"secret_key\":\"s3secret\"}}",
               VODQ_ERR_INVALID, "needs both a bucket and a key");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/\",\"access_key\":\"a\",\"secret_key\":\"s3secret\"}}",
               VODQ_ERR_INVALID, "needs both a bucket and a key");
    expect_bad("{\"s3\":{\"url\":\"s3://Bad_Bucket/k\",\"access_key\":\"a\",\"secret_key\":"
               "\"s3secret\"}}",
               VODQ_ERR_INVALID, "bucket \"Bad_Bucket\" is not a valid");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/k\",\"secret_key\":\"s3secret\"}}", VODQ_ERR_INVALID,
               "s3.access_key: missing");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/k\",\"access_key\":\"a\"}}", VODQ_ERR_INVALID,
               "secret_key: missing");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/k\",\"acess_key\":\"a\"}}", VODQ_ERR_INVALID,
               "upload.s3.acess_key: unknown field");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/k\",\"access_key\":\"a\",\"secret_key\":\"s3secret\","
               "\"endpoint\":\"ftp://host\"}}",
               VODQ_ERR_INVALID, "endpoint must be http:// or https://");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/k\",\"access_key\":\"a\",\"secret_key\":\"s3secret\","
               "\"endpoint\":\"http://host:9000/some/path\"}}",
               VODQ_ERR_INVALID, "must not have a path");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/k\",\"access_key\":\"a\",\"secret_key\":\"s3secret\","
               "\"endpoint\":\"http://127.0.0.1:\"}}",
               VODQ_ERR_INVALID, "empty host or port");
    expect_bad("{\"s3\":{\"url\":\"s3://bucket/k\",\"access_key\":\"a\",\"secret_key\":\"s3secret\","
               "\"path_style\":\"yes\"}}",
               VODQ_ERR_INVALID, "upload.s3.path_style: must be true or false");

    expect_bad("{\"vod\":{\"upload_auth\":\"" AUTH "\"}}", VODQ_ERR_INVALID,
               "upload.vod.upload_address: missing");
    expect_bad("{\"vod\":{\"upload_address\":\"" ADDR "\"}}", VODQ_ERR_INVALID,
               "upload.vod.upload_auth: missing");
    expect_bad("{\"vod\":{\"upload_address\":\"" ADDR "\",\"upload_auth\":\"" AUTH
               "\",\"signature\":\"v2\"}}",
               VODQ_ERR_INVALID, "upload.vod.signature: must be \"v4\" or \"v1\"");
    expect_bad("{\"vod\":{\"upload_address\":\"" ADDR "\",\"upload_auth\":\"" AUTH
               "\",\"endpoint\":\"gopher://x\"}}",
               VODQ_ERR_INVALID, "endpoint");
}

/* Bad base64 / JSON / fields inside the VOD address and auth: the decoder's
 * message must name which of the two is bad and which field. */
static void expect_bad_vod(const char *addr, const char *auth, const char *want1,
                           const char *want2)
{
    struct vodq_target t;
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_target_vod(&t, addr, auth, NULL, NULL, false, false, &err);
    assert_int_not_equal(rc, VODQ_OK);
    if (!strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
        fail_msg("got \"%s\", wanted \"%s\" and \"%s\"", err.msg, want1, want2 ? want2 : "");
    assert_null(strstr(err.msg, "SECRETVALUE"));
    assert_null(strstr(err.msg, "CAIStoken"));
    assert_true(err.permanent);
    vodq_target_cleanup(&t);
}

static void test_bad_vod(void **state)
{
    (void)state;
    expect_bad_vod("!!!not base64!!!", AUTH, "ddress", NULL);
    expect_bad_vod(NOTJSON, AUTH, "ddress", NULL);
    expect_bad_vod(ADDR_NOBUCKET, AUTH, "Bucket", NULL);
    expect_bad_vod(ADDR, "@@@", "uth", NULL);
    expect_bad_vod(ADDR, NOTJSON, "uth", NULL);
    expect_bad_vod(ADDR, AUTH_NOSECRET, "AccessKeySecret", NULL);
    expect_bad_vod("", AUTH, "upload address", "missing");
    expect_bad_vod(ADDR, "", "upload auth", "missing");
}

static void test_vod_ok(void **state)
{
    (void)state;
    struct vodq_target t;
    struct vodq_err err = {0};
    assert_int_equal(vodq_target_parse(&t, "{\"vod\":{\"upload_address\":\"" ADDR
                                           "\",\"upload_auth\":\"" AUTH "\"}}",
                                       &err),
                     VODQ_OK);
    assert_int_equal(t.kind, VODQ_TARGET_OSS);
    assert_int_equal(t.sig, VODQ_SIG_OSS_V4);
    assert_string_equal(t.endpoint, "https://oss-cn-shanghai.aliyuncs.com");
    assert_string_equal(t.bucket, "outin-example");
    assert_string_equal(t.key, "sv/example/example.mp4");
    assert_string_equal(t.region, "cn-shanghai");
    assert_string_equal(t.host, "outin-example.oss-cn-shanghai.aliyuncs.com");
    assert_string_equal(t.access_key, "STS.akid");
    assert_string_equal(t.secret_key, "SECRETVALUE");
    assert_string_equal(t.token, "CAIStoken");
    assert_int_equal(t.expires_at, 1911568831); /* 2030-07-29T15:20:31Z */
    char *url = vodq_target_url(&t, "uploads");
    assert_string_equal(url,
                        "https://outin-example.oss-cn-shanghai.aliyuncs.com/sv/example/example.mp4?uploads");
    free(url);
    char id[256];
    vodq_target_identity(&t, id, sizeof(id));
    assert_string_equal(id, "oss https://oss-cn-shanghai.aliyuncs.com outin-example sv/example/example.mp4");
    assert_null(strstr(id, "STS."));

    /* refresh-auth: new credentials, same address */
    assert_int_equal(vodq_target_set_auth(&t, AUTH2, &err), VODQ_OK);
    assert_string_equal(t.access_key, "STS.new");
    assert_string_equal(t.secret_key, "NEWSECRET");
    assert_string_equal(t.token, "NEWTOKEN");
    assert_string_equal(t.key, "sv/example/example.mp4");
    /* bad refresh leaves the credentials alone */
    assert_int_not_equal(vodq_target_set_auth(&t, NOTJSON, &err), VODQ_OK);
    assert_string_equal(t.access_key, "STS.new");
    vodq_target_cleanup(&t);

    /* endpoint override, path style, V1, region derived from the endpoint */
    assert_int_equal(vodq_target_vod(&t, ADDR, AUTH_NOREGION, "http://127.0.0.1:8080/", NULL, true,
                                     true, &err),
                     VODQ_OK);
    assert_int_equal(t.sig, VODQ_SIG_OSS_V1);
    assert_string_equal(t.endpoint, "http://127.0.0.1:8080");
    assert_string_equal(t.host, "127.0.0.1:8080");
    assert_string_equal(t.region, "cn-shanghai");
    assert_int_equal(t.expires_at, 0);
    url = vodq_target_url(&t, NULL);
    assert_string_equal(url, "http://127.0.0.1:8080/outin-example/sv/example/example.mp4");
    free(url);
    vodq_target_cleanup(&t);
}

static void test_s3_ok(void **state)
{
    (void)state;
    struct vodq_target t;
    struct vodq_err err = {0};
    assert_int_equal(vodq_target_parse(&t,
                                       "{\"s3\":{\"url\":\"s3://my-bucket/dir/a b+c.mp4\","
                                       "\"endpoint\":\"http://127.0.0.1:9000\",\"access_key\":"
                                       "\"test:tester\",\"secret_key\":\"s3secret\","
                                       "\"path_style\":true}}",
                                       &err),
                     VODQ_OK);
    assert_int_equal(t.kind, VODQ_TARGET_S3);
    assert_int_equal(t.sig, VODQ_SIG_AWS_V4);
    assert_string_equal(t.region, "us-east-1");
    assert_string_equal(t.host, "127.0.0.1:9000");
    assert_string_equal(t.access_key, "test:tester");
    assert_null(t.token);
    char *url = vodq_target_url(&t, "partNumber=1&uploadId=x");
    assert_string_equal(url, "http://127.0.0.1:9000/my-bucket/dir/a%20b%2Bc.mp4?partNumber=1&uploadId=x");
    free(url);
    assert_int_equal(vodq_target_set_auth(&t,
                                          "{\"access_key\":\"k2\",\"secret_key\":\"s2\","
                                          "\"session_token\":\"t2\"}",
                                          &err),
                     VODQ_OK);
    assert_string_equal(t.access_key, "k2");
    assert_string_equal(t.token, "t2");
    assert_int_equal(vodq_target_set_auth(&t, "{\"access_key\":\"k3\"}", &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "secret_key"));
    assert_string_equal(t.access_key, "k2");
    vodq_target_cleanup(&t);

    /* default endpoint: virtual-host style on AWS */
    assert_int_equal(vodq_target_s3(&t, "s3://bucket1/k", NULL, "eu-west-1", "a", "b", "tok", false,
                                    &err),
                     VODQ_OK);
    assert_string_equal(t.endpoint, "https://s3.eu-west-1.amazonaws.com");
    assert_string_equal(t.host, "bucket1.s3.eu-west-1.amazonaws.com");
    assert_string_equal(t.token, "tok");
    url = vodq_target_url(&t, NULL);
    assert_string_equal(url, "https://bucket1.s3.eu-west-1.amazonaws.com/k");
    free(url);
    vodq_target_cleanup(&t);
    vodq_target_cleanup(NULL);

    /* an IP-address endpoint: always path style (no bucket in the host) */
    const char *ips[] = {"http://10.1.2.3:9000", "http://[::1]:9000", "https://192.168.0.7"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(vodq_target_s3(&t, "s3://bkt/k", ips[i], NULL, "a", "b", NULL, false,
                                        &err),
                         VODQ_OK);
        assert_true(t.path_style);
        url = vodq_target_url(&t, NULL);
        assert_non_null(strstr(url, "/bkt/k"));
        assert_null(strstr(url, "bkt."));
        free(url);
        vodq_target_cleanup(&t);
    }
    /* a host name stays virtual-host style unless asked */
    assert_int_equal(vodq_target_s3(&t, "s3://bkt/k", "http://minio.local:9000", NULL, "a", "b",
                                    NULL, false, &err),
                     VODQ_OK);
    assert_false(t.path_style);
    assert_string_equal(t.host, "bkt.minio.local:9000");
    vodq_target_cleanup(&t);
}

static void test_encode(void **state)
{
    (void)state;
    char *e = vodq_target_encode("a/b c+~-_.!*'()é", true);
    assert_string_equal(e, "a/b%20c%2B~-_.%21%2A%27%28%29%C3%A9");
    free(e);
    e = vodq_target_encode("x/y=", false);
    assert_string_equal(e, "x%2Fy%3D");
    free(e);
}

static void collect(void *arg, const char *field, const char *value)
{
    char *buf = arg;
    size_t n = strlen(buf);
    snprintf(buf + n, 512 - n, "%s=%s;", field, value);
}

static void test_ckpt_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/vodq-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], tmp[300];
    snprintf(path, sizeof(path), "%s/ck.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    struct vodq_err err = {0};
    struct vodq_ckpt_file *f = NULL;

    /* missing file: empty checkpoint */
    assert_int_equal(vodq_ckpt_file_open(path, &f, &err), VODQ_OK);
    assert_int_equal(vodq_ckpt_file_count(f), 0);
    struct vodq_ckpt *ck = vodq_ckpt_file_ckpt(f);
    const char *fs[] = {"upload_id", "part:1"};
    const char *vs[] = {"U1", "\"etag\" 42"};
    assert_int_equal(ck->save(ck->opaque, fs, vs, 2, &err), VODQ_OK);
    const char *fs2[] = {"part:1"};
    const char *vs2[] = {"\"etag2\" 43"};
    assert_int_equal(ck->save(ck->opaque, fs2, vs2, 1, &err), VODQ_OK); /* replaces */
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place, no temp left */
    vodq_ckpt_file_free(f);

    /* reopened: the fields survive */
    assert_int_equal(vodq_ckpt_file_open(path, &f, &err), VODQ_OK);
    ck = vodq_ckpt_file_ckpt(f);
    char seen[512] = "";
    assert_int_equal(ck->load(ck->opaque, collect, seen, &err), VODQ_OK);
    assert_string_equal(seen, "upload_id=U1;part:1=\"etag2\" 43;");
    assert_int_equal(ck->clear(ck->opaque, &err), VODQ_OK);
    assert_int_equal(access(path, F_OK), -1);
    vodq_ckpt_file_free(f);

    /* a damaged file is an error naming it */
    FILE *fp = fopen(path, "w");
    fputs("{\"upload_id\": 7", fp);
    fclose(fp);
    assert_int_equal(vodq_ckpt_file_open(path, &f, &err), VODQ_ERR_PROTOCOL);
    assert_null(f);
    assert_non_null(strstr(err.msg, path));
    fp = fopen(path, "w");
    fputs("{\"upload_id\": 7}", fp);
    fclose(fp);
    assert_int_equal(vodq_ckpt_file_open(path, &f, &err), VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "\"upload_id\" is not a string"));
    unlink(path);
    rmdir(dir);
}

static void test_backoff(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        long d1 = vodq_http_backoff_ms(250, 15000, 1);
        long d3 = vodq_http_backoff_ms(250, 15000, 3);
        long d9 = vodq_http_backoff_ms(250, 15000, 9);
        assert_in_range(d1, 125, 250);   /* jitter in [d/2, d] */
        assert_in_range(d3, 500, 1000);  /* doubles per attempt */
        assert_in_range(d9, 7500, 15000); /* capped */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_specs), cmocka_unit_test(test_bad_vod),
        cmocka_unit_test(test_vod_ok),    cmocka_unit_test(test_s3_ok),
        cmocka_unit_test(test_encode),    cmocka_unit_test(test_ckpt_file),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
