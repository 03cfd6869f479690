/* test_sched_hooks.c: the webhook allow list and URL host parsing
 * (scheduler/webhook.c) and the --retention rules (scheduler/retention.c). */
#include "scheduler/retention.h"
#include "scheduler/webhook.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void expect_host(const char *url, const char *want)
{
    const char *h = NULL;
    size_t n = 0;
    bool ok = vodq_webhook_url_host(url, &h, &n);
    if (!want) {
        if (ok)
            fail_msg("%s: host '%.*s' accepted", url, (int)n, h);
        return;
    }
    if (!ok || n != strlen(want) || strncmp(h, want, n))
        fail_msg("%s: expected host %s, got %s", url, want, ok ? h : "(none)");
}

static void test_url_host(void **state)
{
    (void)state;
    expect_host("http://127.0.0.1:8080/hook?x=1", "127.0.0.1");
    expect_host("https://Hooks.Example.com/a", "Hooks.Example.com");
    expect_host("https://example.com", "example.com");
    expect_host("http://[::1]:9000/x", "::1");
    expect_host("http://example.com?q", "example.com");
    expect_host("ftp://example.com/", NULL);
    expect_host("http:///path", NULL);
    expect_host("http://user@example.com/", NULL);
    expect_host("http://[::1/x", NULL);
}

static void test_allow(void **state)
{
    (void)state;
    const char *allow = "hooks.example.com, 127.0.0.1,::1";
    assert_true(vodq_webhook_host_allowed(allow, "hooks.example.com", 17));
    assert_true(vodq_webhook_host_allowed(allow, "HOOKS.example.COM", 17));
    assert_true(vodq_webhook_host_allowed(allow, "127.0.0.1", 9));
    assert_true(vodq_webhook_host_allowed(allow, "::1", 3));
    /* no suffix or prefix matches */
    assert_false(vodq_webhook_host_allowed(allow, "evil.hooks.example.com", 22));
    assert_false(vodq_webhook_host_allowed(allow, "hooks.example.co", 16));
    assert_false(vodq_webhook_host_allowed(allow, "127.0.0.10", 10));
    assert_false(vodq_webhook_host_allowed("", "127.0.0.1", 9));
    assert_false(vodq_webhook_host_allowed(NULL, "127.0.0.1", 9));
}

static void test_retention(void **state)
{
    (void)state;
    struct vodq_retention r;
    struct vodq_err err = {0};
    assert_int_equal(vodq_retention_parse("sleep:succeeded=1h,*:dead=30d,upload:cancelled=90",
                                          &r, &err),
                     VODQ_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.rule[0].field, "retention:sleep:succeeded");
    assert_int_equal(r.rule[0].seconds, 3600);
    assert_string_equal(r.rule[1].field, "retention:*:dead");
    assert_int_equal(r.rule[1].seconds, 30 * 86400);
    assert_int_equal(r.rule[2].seconds, 90);
    assert_int_equal(vodq_retention_parse("", &r, &err), VODQ_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(vodq_retention_parse(NULL, &r, &err), VODQ_OK);
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"sleep:succeeded", "expected TYPE:STATE=DURATION"},
        {"video:succeeded=1h", "type must be"},
        {"sleep:done=1h", "state must be"},
        {"sleep:dead=0", "duration must be"},
        {"sleep:dead=1w", "duration must be"},
        {"sleep:dead=3651d", "duration must be"},
        {"sleep:dead=1h,", "empty rule"},
        {"sleep:dead=1h,,*:dead=2h", "empty rule"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (vodq_retention_parse(bad[i].text, &r, &err) != VODQ_ERR_INVALID)
            fail_msg("'%s' accepted", bad[i].text);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("'%s': '%s' lacks '%s'", bad[i].text, err.msg, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_host),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
