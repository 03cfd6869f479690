/* test_upload_sign.c: every signing vector of spec/upload-protocols.md §7:
 * OSS V1 (7.1), OSS V4 Go v2 SDK (7.2) and C SDK (7.3), AWS SigV4 S3
 * examples (7.5) and the derived multipart vectors (7.7), the last through
 * vodq_sign_request() on a real request for each target kind. */
#include "worker/upload/http.h"
#include "worker/upload/sign.h"
#include "worker/upload/target.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define V1DATE "Wed, 28 Dec 2022 10:27:41 GMT"

/* Signs in and checks the Authorization value; returns the output (the
 * caller cleans it up) so that a test can also look at the texts. */
static struct vodq_sign_output sign_ok(const struct vodq_sign_input *in, const char *want_auth)
{
    struct vodq_sign_output out;
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_sign_compute(in, true, &out, &err);
    if (rc != VODQ_OK)
        fail_msg("sign failed: %s", err.msg);
    if (want_auth)
        assert_string_equal(out.authorization, want_auth);
    return out;
}

/* The hex after "Signature=" in an Authorization value. */
static const char *sig_of(const struct vodq_sign_output *o)
{
    const char *s = strstr(o->authorization, "Signature=");
    assert_non_null(s);
    return s + 10;
}

/* The last line of a V4 string-to-sign: the canonical request's SHA-256. */
static const char *hash_line(const struct vodq_sign_output *o)
{
    const char *s = strrchr(o->string_to_sign, '\n');
    assert_non_null(s);
    return s + 1;
}

/* ---- 7.1 OSS V1 ---- */

static void test_oss_v1(void **state)
{
    (void)state;
    const char *h1[] = {"Content-MD5: eB5eJF1ptWaXm4bijSPyxw==",
                        "Content-Type: text/html",
                        "x-oss-meta-author: alice",
                        "x-oss-meta-magic: abracadabra",
                        "x-oss-date: " V1DATE,
                        "Date: " V1DATE};
    struct vodq_sign_input in = {.sig = VODQ_SIG_OSS_V1,
                                 .method = "PUT",
                                 .bucket = "examplebucket",
                                 .key = "nelson",
                                 .headers = h1,
                                 .n_headers = 6,
                                 .access_key = "ak",
                                 .secret_key = "sk"};
    /* V1-1 */
    struct vodq_sign_output o = sign_ok(&in, "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    assert_string_equal(
        o.string_to_sign,
        "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\n" V1DATE "\nx-oss-date:" V1DATE
        "\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/nelson");
    vodq_sign_output_cleanup(&o);
    /* V1-2 */
    in.query = "acl";
    o = sign_ok(&in, "OSS ak:/afkugFbmWDQ967j1vr6zygBLQk=");
    vodq_sign_output_cleanup(&o);

    /* V1-3: bucket level; non-resousce is not a sub-resource */
    const char *h3[] = {"x-oss-date: " V1DATE};
    struct vodq_sign_input b = {.sig = VODQ_SIG_OSS_V1,
                                .method = "GET",
                                .bucket = "examplebucket",
                                .key = "",
                                .query = "resourceGroup&non-resousce=null",
                                .headers = h3,
                                .n_headers = 1,
                                .access_key = "ak",
                                .secret_key = "sk"};
    o = sign_ok(&b, "OSS ak:vkQmfuUDyi1uDi3bKt67oemssIs=");
    assert_string_equal(o.string_to_sign, "GET\n\n\n" V1DATE "\nx-oss-date:" V1DATE
                                          "\n/examplebucket/?resourceGroup");
    vodq_sign_output_cleanup(&o);
    /* V1-4: sub-resources sorted */
    b.query = "resourceGroup&acl";
    o = sign_ok(&b, "OSS ak:x3E5TgOvl/i7PN618s5mEvpJDYk=");
    vodq_sign_output_cleanup(&o);

    /* V1-Q1, V1-Q2 (presigned: the date line is Expires) */
    struct vodq_sign_input q = {.sig = VODQ_SIG_OSS_V1,
                                .method = "GET",
                                .bucket = "bucket",
                                .key = "key",
                                .query = "versionId=versionId",
                                .access_key = "ak",
                                .secret_key = "sk",
                                .date = "1699807420"};
    o = sign_ok(&q, "OSS ak:dcLTea+Yh9ApirQ8o8dOPqtvJXQ=");
    assert_string_equal(o.string_to_sign, "GET\n\n\n1699807420\n/bucket/key?versionId=versionId");
    vodq_sign_output_cleanup(&o);
    q.key = "key+123";
    q.query = "security-token=token&versionId=versionId";
    q.date = "1699808204";
    o = sign_ok(&q, "OSS ak:jzKYRrM5y6Br0dRFPaTGOsbrDhY=");
    assert_string_equal(
        o.string_to_sign,
        "GET\n\n\n1699808204\n/bucket/key+123?security-token=token&versionId=versionId");
    vodq_sign_output_cleanup(&o);

    /* a changed header changes the signature (the control for the above) */
    h1[3] = "x-oss-meta-magic: abracadabrA";
    in.query = NULL;
    o = sign_ok(&in, NULL);
    assert_string_not_equal(o.authorization, "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=");
    vodq_sign_output_cleanup(&o);
}

/* The header set of the Go v2 and C SDK V4 vectors (7.2, 7.3): four
 * headers of which only x-oss-head1 is signed, then content_type, the
 * content-sha256 and date, into h[0..7). */
static void sdk_headers(const char **h, const char *content_type, const char *date)
{
    static const char *const fixed[] = {"x-oss-head1: value", "abc: value", "ZAbc: value",
                                        "XYZ: value"};
    for (size_t i = 0; i < 4; i++)
        h[i] = fixed[i];
    h[4] = content_type;
    h[5] = "x-oss-content-sha256: UNSIGNED-PAYLOAD";
    h[6] = date;
}

/* The V4 input of those vectors: PUT bucket/key with the seven headers h,
 * region cn-hangzhou, AK "ak", secret "sk". */
static struct vodq_sign_input sdk_input(const char *bucket, const char *key, const char **h)
{
    return (struct vodq_sign_input){.sig = VODQ_SIG_OSS_V4,
                                    .method = "PUT",
                                    .bucket = bucket,
                                    .key = key,
                                    .headers = h,
                                    .n_headers = 7,
                                    .region = "cn-hangzhou",
                                    .access_key = "ak",
                                    .secret_key = "sk"};
}

/* ---- 7.2 OSS V4, Go v2 SDK ---- */

#define GO_QUERY  "param1=value1&%2Bparam1=value3&%7Cparam1=value4&%2Bparam2=&%7Cparam2=&param2="
#define GO_CQUERY "%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2"

static void test_oss_v4_go(void **state)
{
    (void)state;
    const char *h[8];
    sdk_headers(h, "content-type: text/plain", "x-oss-date: 20231216T162057Z");
    struct vodq_sign_input in = sdk_input("bucket", "1234+-/123/1.txt", h);
    in.query = GO_QUERY;
    /* V4-H1 */
    struct vodq_sign_output o =
        sign_ok(&in, "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,"
                     "Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe");
    assert_string_equal(o.canonical,
                        "PUT\n/bucket/1234%2B-/123/1.txt\n" GO_CQUERY "\ncontent-type:text/plain\n"
                        "x-oss-content-sha256:UNSIGNED-PAYLOAD\n"
                        "x-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\n"
                        "UNSIGNED-PAYLOAD");
    assert_string_equal(
        o.string_to_sign,
        "OSS4-HMAC-SHA256\n20231216T162057Z\n20231216/cn-hangzhou/oss/"
        "aliyun_v4_request\nf4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4");
    vodq_sign_output_cleanup(&o);

    /* V4-H2: STS token, signed as x-oss-security-token */
    h[6] = "x-oss-date: 20231217T034736Z";
    h[7] = "x-oss-security-token: token";
    in.n_headers = 8;
    o = sign_ok(&in, "OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,"
                     "Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea");
    assert_string_equal(hash_line(&o),
                        "69494678fb11579d4ee12996e2796d9e2ba43c34aa4c723c4aec018f3d6b86b8");
    assert_non_null(strstr(o.canonical, "x-oss-head1:value\nx-oss-security-token:token\n"));
    vodq_sign_output_cleanup(&o);

    /* V4-H3: additional headers, both sub-cases */
    h[6] = "x-oss-date: 20231216T172512Z";
    in.n_headers = 7;
    const char *want3 =
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,"
        "AdditionalHeaders=abc;zabc,"
        "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f";
    in.additional_headers = "ZAbc;abc";
    o = sign_ok(&in, want3);
    vodq_sign_output_cleanup(&o);
    in.additional_headers = "x-oss-no-exist;ZAbc;x-oss-head1;abc";
    o = sign_ok(&in, want3);
    vodq_sign_output_cleanup(&o);

    /* V4-Q1..Q3 (presigned: date and credential in the query) */
    const char *hq[7]; /* only the first five are sent */
    sdk_headers(hq, "content-type: application/octet-stream", NULL);
    struct vodq_sign_input q = {.sig = VODQ_SIG_OSS_V4,
                                .method = "PUT",
                                .bucket = "bucket",
                                .key = "1234+-/123/1.txt",
                                .headers = hq,
                                .n_headers = 5,
                                .region = "cn-hangzhou",
                                .access_key = "ak",
                                .secret_key = "sk",
                                .payload_hash = "UNSIGNED-PAYLOAD"};
    q.date = "20231217T025437Z";
    q.query = GO_QUERY "&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request"
                       "&x-oss-date=20231217T025437Z&x-oss-expires=599"
                       "&x-oss-signature-version=OSS4-HMAC-SHA256";
    o = sign_ok(&q, NULL);
    assert_string_equal(sig_of(&o),
                        "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe");
    assert_non_null(strstr(o.canonical, "\n" GO_CQUERY "&x-oss-credential=ak%2F20231217%2F"
                                        "cn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date="
                                        "20231217T025437Z&x-oss-expires=599&x-oss-signature-"
                                        "version=OSS4-HMAC-SHA256\n"));
    vodq_sign_output_cleanup(&o);
    q.date = "20231217T035628Z";
    q.query = GO_QUERY "&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request"
                       "&x-oss-date=20231217T035628Z&x-oss-expires=599"
                       "&x-oss-security-token=token&x-oss-signature-version=OSS4-HMAC-SHA256";
    o = sign_ok(&q, NULL);
    assert_string_equal(sig_of(&o),
                        "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5");
    vodq_sign_output_cleanup(&o);
    q.date = "20231217T033009Z";
    q.additional_headers = "abc;zabc";
    q.query = GO_QUERY "&x-oss-additional-headers=abc%3Bzabc"
                       "&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request"
                       "&x-oss-date=20231217T033009Z&x-oss-expires=599"
                       "&x-oss-signature-version=OSS4-HMAC-SHA256";
    o = sign_ok(&q, NULL);
    assert_string_equal(sig_of(&o),
                        "6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7");
    vodq_sign_output_cleanup(&o);
}

/* ---- 7.3 OSS V4, C SDK ---- */

#define C_KEY   "test-sign-V4/-!@#$%^&*()/abcdefjhijklmnoqprstuvwxyz/123456789"
#define C_QUERY "param1=value1&%7Cparam1=value4&%2Bparam1=value3&%2Bparam2=&%7Cparam2=&param2="

static void test_oss_v4_c(void **state)
{
    (void)state;
    const char *h[7];
    sdk_headers(h, "Content-Type: application/octet-stream", "x-oss-date: 20221016T091431Z");
    struct vodq_sign_input in = sdk_input("oss-bucket-test", C_KEY, h);
    /* C-1 */
    struct vodq_sign_output o =
        sign_ok(&in, "OSS4-HMAC-SHA256 Credential=ak/20221016/cn-hangzhou/oss/aliyun_v4_request,"
                     "Signature=5028172a0a3806285979896982bee6e36e915cbf428ee7100a809e1f0ff43b64");
    assert_string_equal(o.canonical,
                        "PUT\n/oss-bucket-test/test-sign-V4/-%21%40%23%24%25%5E%26%2A%28%29/"
                        "abcdefjhijklmnoqprstuvwxyz/123456789\n\ncontent-type:application/"
                        "octet-stream\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:"
                        "20221016T091431Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD");
    vodq_sign_output_cleanup(&o);
    /* C-2 */
    h[6] = "x-oss-date: 20221016T040719Z";
    in.query = C_QUERY;
    o = sign_ok(&in, "OSS4-HMAC-SHA256 Credential=ak/20221016/cn-hangzhou/oss/aliyun_v4_request,"
                     "Signature=16e58322c5aafb55edd82813b02d6521caab8194882c786bf0e77b7987a63979");
    assert_non_null(strstr(o.canonical, "\n%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&"
                                        "param1=value1&param2\n"));
    vodq_sign_output_cleanup(&o);
    /* C-3: CloudBox (region = cloudbox id, product oss-cloudbox) */
    h[6] = "x-oss-date: 20221016T091831Z";
    in.region = "cloudbox-id";
    in.product = "oss-cloudbox";
    o = sign_ok(&in, "OSS4-HMAC-SHA256 Credential=ak/20221016/cloudbox-id/oss-cloudbox/"
                     "aliyun_v4_request,Signature="
                     "939eae7d5012d444c8d1dd8c68811275928f780a859e41ddbe52cf10a100adb4");
    vodq_sign_output_cleanup(&o);
    /* C-4: a GMT x-oss-date is refused before sending */
    h[6] = "x-oss-date: Thu, 19 Mar 2015 18:00:00 GMT";
    struct vodq_err err = {0};
    assert_int_equal(vodq_sign_compute(&in, false, &o, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "YYYYMMDDTHHMMSSZ"));
    assert_null(strstr(err.msg, "sk"));
    /* no date at all */
    in.n_headers = 6;
    assert_int_equal(vodq_sign_compute(&in, false, &o, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "x-oss-date"));
}

/* ---- 7.5 AWS SigV4 ---- */

#define AWS_AK    "AKIAIOSFODNN7EXAMPLE"
#define AWS_SK    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_aws_v4(void **state)
{
    (void)state;
    /* S3-1 GET Object with a Range header */
    const char *h1[] = {"Range: bytes=0-9", "x-amz-content-sha256: " EMPTY_SHA,
                        "x-amz-date: 20130524T000000Z"};
    struct vodq_sign_input in = {.sig = VODQ_SIG_AWS_V4,
                                 .method = "GET",
                                 .host = "examplebucket.s3.amazonaws.com",
                                 .path = "/test.txt",
                                 .headers = h1,
                                 .n_headers = 3,
                                 .region = "us-east-1",
                                 .access_key = AWS_AK,
                                 .secret_key = AWS_SK};
    struct vodq_sign_output o = sign_ok(
        &in, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
             "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
             "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_string_equal(o.canonical, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
                                     "range:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA
                                     "\nx-amz-date:20130524T000000Z\n\n"
                                     "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
    assert_string_equal(o.string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    vodq_sign_output_cleanup(&o);

    /* S3-2 PUT Object, '$' in the key: path given raw and given encoded */
    const char *h2[] = {"Date: Fri, 24 May 2013 00:00:00 GMT",
                        "x-amz-storage-class: REDUCED_REDUNDANCY",
                        "x-amz-content-sha256: "
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                        "x-amz-date: 20130524T000000Z"};
    in.method = "PUT";
    in.path = "/test$file.text";
    in.headers = h2;
    in.n_headers = 4;
    for (int i = 0; i < 2; i++) {
        o = sign_ok(&in, NULL);
        assert_string_equal(hash_line(&o),
                            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
        assert_string_equal(sig_of(&o),
                            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
        assert_non_null(strstr(o.authorization,
                               "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                               "x-amz-storage-class,"));
        vodq_sign_output_cleanup(&o);
        in.path = "/test%24file.text";
    }

    /* S3-3 GET ?lifecycle, S3-4 GET ?max-keys=2&prefix=J */
    in.method = "GET";
    in.path = "/";
    in.headers = h1 + 1;
    in.n_headers = 2;
    in.query = "lifecycle";
    o = sign_ok(&in, NULL);
    assert_string_equal(hash_line(&o),
                        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
    assert_string_equal(sig_of(&o),
                        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    assert_non_null(strstr(o.canonical, "\nlifecycle=\n"));
    vodq_sign_output_cleanup(&o);
    in.query = "max-keys=2&prefix=J";
    o = sign_ok(&in, NULL);
    assert_string_equal(hash_line(&o),
                        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
    assert_string_equal(sig_of(&o),
                        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    vodq_sign_output_cleanup(&o);

    /* S3-5 presigned GET: only host signed, UNSIGNED-PAYLOAD */
    struct vodq_sign_input p = {
        .sig = VODQ_SIG_AWS_V4,
        .method = "GET",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .region = "us-east-1",
        .access_key = AWS_AK,
        .secret_key = AWS_SK,
        .date = "20130524T000000Z",
        .payload_hash = "UNSIGNED-PAYLOAD",
        .query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"
                 "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                 "X-Amz-Expires=86400&X-Amz-SignedHeaders=host"};
    o = sign_ok(&p, NULL);
    assert_string_equal(hash_line(&o),
                        "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    assert_string_equal(sig_of(&o),
                        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    vodq_sign_output_cleanup(&o);
}

/* ---- 7.7 derived vectors, through vodq_sign_request() ---- */

/* Signs a request for t and returns a copy of its header value name. */
static char *signed_header(struct vodq_target *t, const char *method, const char *url,
                           const char *query, const char *ctype, time_t now, const char *name,
                           char ***all, size_t *n_all)
{
    struct vodq_http_req req;
    struct vodq_err err = {0};
    memset(&req, 0, sizeof(req));
    assert_int_equal(vodq_http_req_init(&req, method, url, &err), VODQ_OK);
    if (ctype)
        assert_int_equal(vodq_http_req_add_header(&req, "Content-Type", ctype, &err), VODQ_OK);
    enum vodq_rc rc = vodq_sign_request(t, &req, query, now, &err);
    if (rc != VODQ_OK)
        fail_msg("vodq_sign_request: %s", err.msg);
    char *val = NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < req.n_headers; i++)
        if (strncasecmp(req.headers[i], name, nl) == 0 && req.headers[i][nl] == ':')
            val = strdup(req.headers[i] + nl + 2);
    if (all) {
        *all = calloc(req.n_headers + 1, sizeof(char *));
        for (size_t i = 0; i < req.n_headers; i++)
            (*all)[i] = strdup(req.headers[i]);
        *n_all = req.n_headers;
    }
    vodq_http_req_cleanup(&req);
    assert_non_null(val);
    return val;
}

static bool has_line(char **all, size_t n, const char *line)
{
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        found = found || strcmp(all[i], line) == 0;
        free(all[i]);
    }
    free(all);
    return found;
}

static time_t d2022(void)
{
    struct tm tm = {
        .tm_year = 122, .tm_mon = 11, .tm_mday = 28, .tm_hour = 10, .tm_min = 27, .tm_sec = 41};
    return timegm(&tm);
}

static void test_derived_oss(void **state)
{
    (void)state;
    struct vodq_target t = {.kind = VODQ_TARGET_OSS,
                            .sig = VODQ_SIG_OSS_V1,
                            .host = "examplebucket.oss-cn-shanghai.aliyuncs.com",
                            .bucket = "examplebucket",
                            .key = "video.mp4",
                            .region = "cn-shanghai",
                            .access_key = "ak",
                            .secret_key = "sk",
                            .token = "token"};
    const char *vh = "https://examplebucket.oss-cn-shanghai.aliyuncs.com/video.mp4";
    const char *ps = "http://127.0.0.1:9000/examplebucket/video.mp4";
    char **all;
    size_t n;
    for (int style = 0; style < 2; style++) {
        char url[256], *a;
        t.path_style = style == 1;
        const char *base = style ? ps : vh;
        /* D-V1-a Initiate (the token header is sent and signed) */
        t.sig = VODQ_SIG_OSS_V1;
        snprintf(url, sizeof(url), "%s?uploads", base);
        a = signed_header(&t, "POST", url, "uploads", NULL, d2022(), "Authorization", &all, &n);
        assert_string_equal(a, "OSS ak:OzB+atHaV293bg8x6xsIwNi5O7o=");
        assert_true(has_line(all, n, "x-oss-security-token: token"));
        free(a);
        /* D-V1-b UploadPart */
        snprintf(url, sizeof(url), "%s?partNumber=1&uploadId=0004B9895DBBB6EC98E36", base);
        a = signed_header(&t, "PUT", url, "partNumber=1&uploadId=0004B9895DBBB6EC98E36", NULL,
                          d2022(), "Authorization", NULL, NULL);
        assert_string_equal(a, "OSS ak:jtX5vYS3dzFf0DH030Q3ddbQj8E=");
        free(a);
        a = signed_header(&t, "PUT", url, "partNumber=1&uploadId=0004B9895DBBB6EC98E36", NULL,
                          d2022(), "Date", NULL, NULL);
        assert_string_equal(a, V1DATE);
        free(a);
        /* D-V1-c Complete with Content-Type */
        snprintf(url, sizeof(url), "%s?uploadId=0004B9895DBBB6EC98E36", base);
        a = signed_header(&t, "POST", url, "uploadId=0004B9895DBBB6EC98E36", "application/xml",
                          d2022(), "Authorization", NULL, NULL);
        assert_string_equal(a, "OSS ak:MjZ7SiA+hWqleenB2Wp2ZZf47uM=");
        free(a);
        /* D-V4-a Initiate */
        t.sig = VODQ_SIG_OSS_V4;
        snprintf(url, sizeof(url), "%s?uploads", base);
        a = signed_header(&t, "POST", url, "uploads", NULL, d2022(), "Authorization", &all, &n);
        assert_string_equal(a, "OSS4-HMAC-SHA256 Credential=ak/20221228/cn-shanghai/oss/"
                               "aliyun_v4_request,Signature="
                               "f30e8732ec10ca49dd3184c027875db96c8ed7b554b8597257a4b63ffc33d992");
        assert_true(has_line(all, n, "x-oss-security-token: token"));
        free(a);
        /* D-V4-b UploadPart */
        snprintf(url, sizeof(url), "%s?partNumber=1&uploadId=0004B9895DBBB6EC98E36", base);
        a = signed_header(&t, "PUT", url, "partNumber=1&uploadId=0004B9895DBBB6EC98E36", NULL,
                          d2022(), "Authorization", &all, &n);
        assert_string_equal(a, "OSS4-HMAC-SHA256 Credential=ak/20221228/cn-shanghai/oss/"
                               "aliyun_v4_request,Signature="
                               "a1f77705cf481d0aa6784b9c63c3f2c87be9692bde3833da0bd975e806b78355");
        assert_true(has_line(all, n, "x-oss-date: 20221228T102741Z"));
        free(a);
    }
    /* without a token no token header goes out, and the signature differs */
    t.token = NULL;
    t.path_style = false;
    char *a = signed_header(&t, "POST",
                            "https://examplebucket.oss-cn-shanghai.aliyuncs.com/video.mp4?uploads",
                            "uploads", NULL, d2022(), "Authorization", &all, &n);
    assert_false(has_line(all, n, "x-oss-security-token: token"));
    assert_null(strstr(a, "f30e8732ec10ca49dd3184c027875db96c8ed7b554b8597257a4b63ffc33d992"));
    free(a);
}

static void test_derived_s3(void **state)
{
    (void)state;
    struct tm tm = {.tm_year = 113, .tm_mon = 4, .tm_mday = 24};
    time_t now = timegm(&tm);
    char **all;
    size_t n;
    /* D-S3-a UploadPart with a session token, virtual host */
    struct vodq_target t = {.kind = VODQ_TARGET_S3,
                            .sig = VODQ_SIG_AWS_V4,
                            .host = "examplebucket.s3.amazonaws.com",
                            .bucket = "examplebucket",
                            .key = "video.mp4",
                            .region = "us-east-1",
                            .access_key = AWS_AK,
                            .secret_key = AWS_SK,
                            .token = "EXAMPLESESSIONTOKEN"};
    char *a = signed_header(
        &t, "PUT",
        "https://examplebucket.s3.amazonaws.com/video.mp4?partNumber=1&uploadId=EXAMPLEUPLOADID",
        "partNumber=1&uploadId=EXAMPLEUPLOADID", NULL, now, "Authorization", &all, &n);
    assert_string_equal(a, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                           "aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                           "x-amz-security-token,Signature="
                           "f08594a28ba2e270f34992565723e0a786bf2bb3df43bf8fa22c559287dc80f6");
    assert_true(has_line(all, n, "x-amz-security-token: EXAMPLESESSIONTOKEN"));
    free(a);
    /* D-S3-b path style against a local server */
    struct vodq_target l = {.kind = VODQ_TARGET_S3,
                            .sig = VODQ_SIG_AWS_V4,
                            .host = "127.0.0.1:9000",
                            .bucket = "testbucket",
                            .key = "video.mp4",
                            .region = "us-east-1",
                            .path_style = true,
                            .access_key = AWS_AK,
                            .secret_key = AWS_SK};
    a = signed_header(&l, "POST", "http://127.0.0.1:9000/testbucket/video.mp4?uploads", "uploads",
                      NULL, now, "Authorization", NULL, NULL);
    assert_string_equal(
        a, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
           "aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
           "Signature=445cd66c906222644cb4f901ad91e0515e11eb6b7c0200c34155daca55b055b8");
    free(a);
}

/* A key that needs percent-encoding, sent through vodq_target_url() the way
 * the engine builds URLs: the signature equals the one computed from the raw
 * bucket and key, in path style and virtual-host style alike (OSS V4, V1),
 * and AWS signs the path as sent (the bucket is in it in path style). */
static void test_request_key_encoding(void **state)
{
    (void)state;
    const char *key = "dir one/a+b=c&d%25\xC3\xA9.mp4";
    struct tm tm = {
        .tm_year = 123, .tm_mon = 11, .tm_mday = 16, .tm_hour = 16, .tm_min = 20, .tm_sec = 57};
    time_t now = timegm(&tm);
    const char *iso = "x-oss-date: 20231216T162057Z";
    for (int sig = 0; sig < 2; sig++) {
        struct vodq_target t = {.kind = VODQ_TARGET_OSS,
                                .sig = sig ? VODQ_SIG_OSS_V1 : VODQ_SIG_OSS_V4,
                                .bucket = "bk",
                                .key = (char *)key,
                                .region = "cn-hangzhou",
                                .access_key = "ak",
                                .secret_key = "sk",
                                .token = "tok"};
        /* the reference: computed from the raw bucket and key */
        char date[64];
        strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S GMT", &tm);
        /* V1 sends Date, V4 x-oss-date and x-oss-content-sha256 */
        const char *h1[] = {date, "x-oss-security-token: tok"};
        const char *h4[] = {iso, "x-oss-content-sha256: UNSIGNED-PAYLOAD",
                            "x-oss-security-token: tok"};
        struct vodq_sign_input in = {.sig = t.sig,
                                     .method = "PUT",
                                     .bucket = "bk",
                                     .key = key,
                                     .query = "partNumber=2&uploadId=U%2B1",
                                     .headers = sig ? h1 : h4,
                                     .n_headers = sig ? 2 : 3,
                                     .region = "cn-hangzhou",
                                     .access_key = "ak",
                                     .secret_key = "sk"};
        struct vodq_sign_output want = sign_ok(&in, NULL);
        if (sig)
            assert_non_null(strstr(want.string_to_sign,
                                   "/bk/dir one/a+b=c&d%25\xC3\xA9.mp4?partNumber=2&uploadId=U+1"));
        else
            assert_non_null(strstr(want.canonical, "/bk/dir%20one/a%2Bb%3Dc%26d%2525%C3%A9.mp4\n"
                                                   "partNumber=2&uploadId=U%2B1\n"));
        for (int style = 0; style < 2; style++) {
            t.path_style = style;
            t.base_url =
                style ? "http://127.0.0.1:9000" : "https://bk.oss-cn-hangzhou.aliyuncs.com";
            t.host = t.base_url + (style ? 7 : 8);
            char *url = vodq_target_url(&t, "partNumber=2&uploadId=U%2B1");
            char *a = signed_header(&t, "PUT", url, "partNumber=2&uploadId=U%2B1", NULL, now,
                                    "Authorization", NULL, NULL);
            assert_string_equal(a, want.authorization);
            free(a);
            free(url);
        }
        vodq_sign_output_cleanup(&want);
    }
    /* AWS: path style signs /bucket/key, virtual host /key */
    struct vodq_target s3 = {.kind = VODQ_TARGET_S3,
                             .sig = VODQ_SIG_AWS_V4,
                             .bucket = "bk",
                             .key = (char *)key,
                             .region = "us-east-1",
                             .access_key = AWS_AK,
                             .secret_key = AWS_SK};
    for (int style = 0; style < 2; style++) {
        s3.path_style = style;
        s3.base_url = style ? "http://127.0.0.1:9000" : "https://bk.s3.amazonaws.com";
        s3.host = s3.base_url + (style ? 7 : 8);
        const char *h[] = {"x-amz-content-sha256: UNSIGNED-PAYLOAD",
                           "x-amz-date: 20231216T162057Z"};
        struct vodq_sign_input in = {.sig = VODQ_SIG_AWS_V4,
                                     .method = "GET",
                                     .host = s3.host,
                                     .path = style ? "/bk/dir one/a+b=c&d%25\xC3\xA9.mp4"
                                                   : "/dir one/a+b=c&d%25\xC3\xA9.mp4",
                                     .headers = h,
                                     .n_headers = 2,
                                     .region = "us-east-1",
                                     .access_key = AWS_AK,
                                     .secret_key = AWS_SK};
        /* a raw path given to the pure function: '%25' decodes to '%' there, so
         * encode the reference path first as the URL does */
        char *enc = vodq_target_encode(in.path, true);
        in.path = enc;
        struct vodq_sign_output want = sign_ok(&in, NULL);
        assert_non_null(
            strstr(want.canonical, style ? "\n/bk/dir%20one/a%2Bb%3Dc%26d%2525%C3%A9.mp4\n"
                                         : "\n/dir%20one/a%2Bb%3Dc%26d%2525%C3%A9.mp4\n"));
        char *url = vodq_target_url(&s3, NULL);
        char *a = signed_header(&s3, "GET", url, NULL, NULL, now, "Authorization", NULL, NULL);
        assert_string_equal(a, want.authorization);
        free(a);
        free(url);
        free(enc);
        vodq_sign_output_cleanup(&want);
    }
}

/* Keys with characters that need encoding sign the same whether the URL
 * carries them encoded, and errors never show the secret. */
static void test_errors(void **state)
{
    (void)state;
    struct vodq_sign_input in = {.sig = VODQ_SIG_OSS_V4,
                                 .method = "PUT",
                                 .bucket = "b",
                                 .key = "k",
                                 .access_key = "ak",
                                 .secret_key = "TOPSECRET",
                                 .region = "cn-hangzhou"};
    struct vodq_sign_output o;
    struct vodq_err err = {0};
    assert_int_equal(vodq_sign_compute(&in, true, &o, &err), VODQ_ERR_INVALID);
    assert_null(strstr(err.msg, "TOPSECRET"));
    assert_null(o.canonical);
    const char *h[] = {"x-oss-date: 20231216T162057Z"};
    in.headers = h;
    in.n_headers = 1;
    in.region = "";
    assert_int_equal(vodq_sign_compute(&in, true, &o, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "region"));
    in.sig = VODQ_SIG_AWS_V4;
    in.region = "us-east-1";
    in.host = "h";
    assert_int_equal(vodq_sign_compute(&in, true, &o, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "x-amz-date"));
    in.sig = VODQ_SIG_OSS_V1; /* V1 takes x-oss-date when there is no Date... */
    assert_int_equal(vodq_sign_compute(&in, true, &o, &err), VODQ_OK);
    vodq_sign_output_cleanup(&o);
    in.n_headers = 0; /* ...but needs one of them */
    assert_int_equal(vodq_sign_compute(&in, true, &o, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "Date"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oss_v1),
        cmocka_unit_test(test_oss_v4_go),
        cmocka_unit_test(test_oss_v4_c),
        cmocka_unit_test(test_aws_v4),
        cmocka_unit_test(test_derived_oss),
        cmocka_unit_test(test_derived_s3),
        cmocka_unit_test(test_request_key_encoding),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
