/* test_job_mask.c: credentials are masked in every spec that is shown or
 * kept for a rejected job, whether the spec is JSON or not. */
#include "shared/job.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void expect_masked(const char *in, const char *secret, const char *kept)
{
    char *m = vodq_job_mask_text(in, strlen(in));
    assert_non_null(m);
    if (strstr(m, secret))
        fail_msg("'%s' still shows %s", m, secret);
    if (kept && !strstr(m, kept))
        fail_msg("'%s' lost %s", m, kept);
    free(m);
}

static void test_mask_text_unparseable(void **state)
{
    (void)state;
    /* cut off, trailing commas, single values: no valid JSON anywhere */
    expect_masked("{\"type\":\"upload\",\"upload\":{\"s3\":{\"access_key\":\"AK\",\"secret_key\":\"SK1\"",
                  "SK1", "\"access_key\":\"AK\"");
    expect_masked("{\"secret_key\" : \"S\\\"K2\\\"\", \"x\":1,}", "K2", "\"x\":1");
    expect_masked("{\"vod\":{\"upload_auth\":\"eyJBY2Nlc3NLZXlTZWNyZXQ", "eyJBY2", "vod");
    expect_masked("{\"session_token\": 12345, }", "12345", NULL);
    expect_masked("{\"Password\":{\"a\":\"nested-pw\"},\"b\":2", "nested-pw", "\"b\":2");
    expect_masked("{\"secret_key\"", "zz", "secret_key");
    expect_masked("{\"secret_key\":", "zz", "secret_key");
    expect_masked("not json at all", "zz", "not json at all");
    expect_masked("", "zz", NULL);
}

static void test_spec_shown_json(void **state)
{
    (void)state;
    const char *in = "{\"type\":\"upload\",\"upload\":{\"file\":\"/a\",\"s3\":{\"access_key\":\"AK\","
                     "\"secret_key\":\"SK3\",\"session_token\":\"ST3\",\"nested\":[{\"token\":7}]}}}";
    char *m = vodq_job_spec_shown(in, strlen(in));
    assert_non_null(m);
    assert_null(strstr(m, "SK3"));
    assert_null(strstr(m, "ST3"));
    assert_null(strstr(m, ":7"));
    assert_non_null(strstr(m, "\"access_key\":\"AK\""));
    assert_non_null(strstr(m, "\"file\":\"/a\""));
    free(m);
}

static void test_hash_json_masks_rejected_spec(void **state)
{
    (void)state;
    const char *f[] = {"state", "spec", "auth"};
    const char *v[] = {"rejected", "{\"s3\":{\"secret_key\":\"SK4\"", "{\"secret_key\":\"SK5\"}"};
    char *j = vodq_job_hash_json(f, v, 3);
    assert_non_null(j);
    assert_null(strstr(j, "SK4"));
    assert_null(strstr(j, "SK5"));
    assert_non_null(strstr(j, "secret_key"));
    free(j);
}

static void test_key_names(void **state)
{
    (void)state;
    assert_true(vodq_job_key_secret("secret_key", 10));
    assert_true(vodq_job_key_secret("upload_auth", 11));
    assert_true(vodq_job_key_secret("AccessKeySecret", 15));
    assert_true(vodq_job_key_secret("SecurityToken", 13));
    assert_false(vodq_job_key_secret("access_key", 10));
    assert_false(vodq_job_key_secret("file", 4));
    assert_false(vodq_job_key_secret("upload_address", 14));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_text_unparseable),
        cmocka_unit_test(test_spec_shown_json),
        cmocka_unit_test(test_hash_json_masks_rejected_spec),
        cmocka_unit_test(test_key_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
