/* test_worker_sleep_instant.c: vodq_sleep_instant() says "instant" exactly for a sleep of
 * 0 ms (its no-parse fast path and its parsing path agree), never for a spec whose own
 * sleep takes time even when another "sleep" object in it says 0. */
#include "worker/sleep.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void expect_instant(const char *spec, const char *result)
{
    char *r = NULL;
    if (!vodq_sleep_instant(spec, &r))
        fail_msg("not instant: %s", spec);
    assert_non_null(r);
    assert_string_equal(r, result);
    free(r);
}

static void expect_not_instant(const char *spec)
{
    char *r = NULL;
    if (vodq_sleep_instant(spec, &r))
        fail_msg("instant, but should not be: %s (result %s)", spec, r ? r : "(null)");
    assert_null(r);
}

static void test_noop(void **state)
{
    (void)state;
    expect_instant("{\"id\":\"b000001\",\"type\":\"sleep\",\"sleep\":{\"ms\":0}}", "{\"slept_ms\":0}");
    expect_instant("{\"type\":\"sleep\",\"sleep\":{\"ms\":0},\"max_attempts\":3}", "{\"slept_ms\":0}");
}

static void test_output_kept(void **state)
{
    (void)state;
    expect_instant("{\"type\":\"sleep\",\"sleep\":{\"ms\":0,\"output\":\"/x/y.mp4\"}}",
                   "{\"slept_ms\":0,\"output\":\"/x/y.mp4\"}");
}

static void test_takes_time(void **state)
{
    (void)state;
    expect_not_instant("{\"type\":\"sleep\",\"sleep\":{\"ms\":5}}");
    expect_not_instant("{\"type\":\"sleep\",\"sleep\":{\"ms\":0,\"fail_times\":1}}");
    /* another object says 0 ms, the job's own sleep does not */
    expect_not_instant("{\"type\":\"sleep\",\"meta\":{\"sleep\":{\"ms\":0}},\"sleep\":{\"ms\":100}}");
    expect_not_instant("{\"type\":\"sleep\",\"then\":[{\"type\":\"sleep\",\"sleep\":{\"ms\":0}}],"
                       "\"sleep\":{\"ms\":100}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noop),
        cmocka_unit_test(test_output_kept),
        cmocka_unit_test(test_takes_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
