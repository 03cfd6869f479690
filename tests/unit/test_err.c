/* test_err.c: struct vodq_err: setting, truncation, prefixing, clearing,
 * code names, and which failures are worth a retry. */
#include "shared/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_set(void **state)
{
    (void)state;
    struct vodq_err e = {0};
    e.permanent = true;
    assert_int_equal(vodq_err_set(&e, VODQ_ERR_IO, 2, "open %s: %d%%", "/x", 5), VODQ_ERR_IO);
    assert_int_equal(e.code, VODQ_ERR_IO);
    assert_int_equal(e.cause, 2);
    assert_false(e.permanent); /* each set starts a new error */
    assert_string_equal(e.msg, "open /x: 5%");
    /* NULL is allowed and still returns the code */
    assert_int_equal(vodq_err_set(NULL, VODQ_ERR_TIMEOUT, 0, "x"), VODQ_ERR_TIMEOUT);
}

static void test_set_truncates(void **state)
{
    (void)state;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct vodq_err e;
    memset(&e, 0x7f, sizeof(e)); /* no NUL anywhere before */
    vodq_err_set(&e, VODQ_ERR_INVALID, 0, "%s", big);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    assert_int_equal(e.msg[sizeof(e.msg) - 1], '\0');
    assert_int_equal(e.msg[0], 'x');
    assert_int_equal(e.msg[sizeof(e.msg) - 2], 'x');
    /* exactly 255 characters fit */
    big[sizeof(e.msg) - 1] = '\0';
    vodq_err_set(&e, VODQ_ERR_INVALID, 0, "%s", big);
    assert_string_equal(e.msg, big);
}

static void test_prefix(void **state)
{
    (void)state;
    struct vodq_err e = {0};
    vodq_err_set(&e, VODQ_ERR_NOTFOUND, 0, "no such key");
    vodq_err_prefix(&e, "job %s", "j1");
    assert_string_equal(e.msg, "job j1: no such key");
    vodq_err_prefix(&e, "worker %d", 3);
    assert_string_equal(e.msg, "worker 3: job j1: no such key");
    assert_int_equal(e.code, VODQ_ERR_NOTFOUND); /* code and cause untouched */
    vodq_err_prefix(NULL, "nothing %d", 1);       /* no crash */

    /* a long old message is cut at the end, the prefix kept whole */
    char big[600];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    vodq_err_set(&e, VODQ_ERR_IO, 0, "%s", big);
    vodq_err_prefix(&e, "ctx");
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    assert_memory_equal(e.msg, "ctx: mmm", 8);
    /* a long prefix fills the message and stays terminated */
    vodq_err_set(&e, VODQ_ERR_IO, 0, "tail");
    big[400] = '\0';
    vodq_err_prefix(&e, "%s", big);
    assert_true(strlen(e.msg) < sizeof(e.msg));
    assert_int_equal(e.msg[0], 'm');
    assert_null(strstr(e.msg, "tail"));
    /* an empty old message */
    vodq_err_clear(&e);
    vodq_err_prefix(&e, "p");
    assert_string_equal(e.msg, "p: ");
}

static void test_clear(void **state)
{
    (void)state;
    struct vodq_err e = {0};
    vodq_err_set(&e, VODQ_ERR_HTTP, 503, "upstream");
    e.permanent = true;
    vodq_err_clear(&e);
    assert_int_equal(e.code, VODQ_OK);
    assert_int_equal(e.cause, 0);
    assert_false(e.permanent);
    assert_string_equal(e.msg, "");
    vodq_err_clear(NULL);
}

static void test_names(void **state)
{
    (void)state;
    static const char *names[VODQ_ERR__COUNT] = {
        "ok",        "io",     "timeout", "protocol", "invalid",   "notfound", "media",
        "http",      "oom",    "auth",    "cancelled", "fenced",   "paused",   "changed",
    };
    for (int i = 0; i < VODQ_ERR__COUNT; i++) {
        assert_string_equal(vodq_rc_name(i), names[i]);
        const char *text = vodq_strerror(i);
        assert_non_null(text);
        assert_true(strlen(text) > 0);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(vodq_strerror(k), text);
    }
    assert_string_equal(vodq_rc_name(VODQ_ERR__COUNT), "unknown");
    assert_string_equal(vodq_rc_name((enum vodq_rc)-1), "unknown");
    assert_string_equal(vodq_strerror(VODQ_ERR__COUNT), "unknown error");
    assert_string_equal(vodq_strerror((enum vodq_rc)-5), "unknown error");
}

/* Whether a failure is worth a retry, by code and cause. */
static const struct {
    enum vodq_rc code;
    int cause;
    bool retry;
} retry_table[] = {
    /* transient */
    {VODQ_ERR_IO, 104, true},
    {VODQ_ERR_TIMEOUT, 0, true},
    {VODQ_ERR_PROTOCOL, 0, true},
    {VODQ_ERR_OOM, 0, true},
    {VODQ_ERR_AUTH, 0, true},
    {VODQ_ERR_CHANGED, 0, true},
    /* not worth a retry */
    {VODQ_OK, 0, false},
    {VODQ_ERR_INVALID, 0, false},
    {VODQ_ERR_NOTFOUND, 0, false},
    {VODQ_ERR_MEDIA, -22, false},
    {VODQ_ERR_CANCELLED, 0, false},
    {VODQ_ERR_FENCED, 0, false},
    {VODQ_ERR_PAUSED, 0, false},
    /* HTTP: 5xx, 429 and 408 retry; other 4xx do not; a curl code (< 100) does */
    {VODQ_ERR_HTTP, 503, true},
    {VODQ_ERR_HTTP, 500, true},
    {VODQ_ERR_HTTP, 502, true},
    {VODQ_ERR_HTTP, 429, true},
    {VODQ_ERR_HTTP, 408, true},
    {VODQ_ERR_HTTP, 0, true},
    {VODQ_ERR_HTTP, 28, true}, /* CURLE_OPERATION_TIMEDOUT */
    {VODQ_ERR_HTTP, 404, false},
    {VODQ_ERR_HTTP, 400, false},
    {VODQ_ERR_HTTP, 403, false},
    {VODQ_ERR_HTTP, 409, false},
};

static void test_retryable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(retry_table) / sizeof(*retry_table); i++) {
        struct vodq_err e = {0};
        vodq_err_set(&e, retry_table[i].code, retry_table[i].cause, "x");
        if (vodq_err_retryable(&e) != retry_table[i].retry)
            fail_msg("%s cause %d: retryable %d, want %d", vodq_rc_name(retry_table[i].code),
                     retry_table[i].cause, !retry_table[i].retry, retry_table[i].retry);
        /* the permanent flag wins over everything */
        e.permanent = true;
        assert_false(vodq_err_retryable(&e));
    }
    /* every code is in the table */
    for (int c = VODQ_OK; c < VODQ_ERR__COUNT; c++) {
        bool seen = false;
        for (size_t i = 0; i < sizeof(retry_table) / sizeof(*retry_table); i++)
            seen |= retry_table[i].code == (enum vodq_rc)c;
        if (!seen)
            fail_msg("code %s is not in the retry table", vodq_rc_name(c));
    }
    assert_false(vodq_err_retryable(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set),    cmocka_unit_test(test_set_truncates),
        cmocka_unit_test(test_prefix), cmocka_unit_test(test_clear),
        cmocka_unit_test(test_names),  cmocka_unit_test(test_retryable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
