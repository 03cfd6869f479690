/* test_sched_cron.c: the cron parser and next-slot computation
 * (scheduler/cron.c): fields, ranges, lists, steps, names, the day-of-month /
 * day-of-week rule, month and leap-year ends, and errors naming the field. */
#include "scheduler/cron.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* ms of a UTC date */
static int64_t at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

static int64_t next(const char *expr, int64_t after)
{
    struct vodq_cron c;
    struct vodq_err err = {0};
    if (vodq_cron_parse(expr, &c, &err) != VODQ_OK)
        fail_msg("%s: %s", expr, err.msg);
    return vodq_cron_next(&c, after);
}

static void test_every_minute(void **state)
{
    (void)state;
    assert_true(next("* * * * *", at(2026, 1, 1, 0, 0)) == at(2026, 1, 1, 0, 1));
    /* strictly after: from the middle of a minute, the next whole minute */
    assert_true(next("* * * * *", at(2026, 1, 1, 0, 0) + 59999) == at(2026, 1, 1, 0, 1));
}

static void test_fields(void **state)
{
    (void)state;
    int64_t t0 = at(2026, 3, 10, 10, 7); /* a Tuesday */
    assert_true(next("*/15 * * * *", t0) == at(2026, 3, 10, 10, 15));
    assert_true(next("5,35 * * * *", t0) == at(2026, 3, 10, 10, 35));
    assert_true(next("0 9-17/4 * * *", t0) == at(2026, 3, 10, 13, 0));
    assert_true(next("30 2 * * *", t0) == at(2026, 3, 11, 2, 30));
    assert_true(next("0 0 1 * *", t0) == at(2026, 4, 1, 0, 0));
    assert_true(next("0 0 1 jan *", t0) == at(2027, 1, 1, 0, 0));
    assert_true(next("0 12 * * MON-FRI", at(2026, 3, 13, 13, 0)) == at(2026, 3, 16, 12, 0));
    assert_true(next("0 0 * * sun", t0) == at(2026, 3, 15, 0, 0));
    assert_true(next("0 0 * * 7", t0) == at(2026, 3, 15, 0, 0)); /* 7 = Sunday too */
    assert_true(next("10/20 * * * *", t0) == at(2026, 3, 10, 10, 10));
    assert_true(next("@hourly", t0) == at(2026, 3, 10, 11, 0));
    assert_true(next("@daily", t0) == at(2026, 3, 11, 0, 0));
    assert_true(next("@weekly", t0) == at(2026, 3, 15, 0, 0));
}

static void test_dom_dow_either(void **state)
{
    (void)state;
    /* both restricted: the 13th OR a Friday (Vixie cron) */
    int64_t t0 = at(2026, 3, 1, 0, 0); /* Sunday; Friday 6 March comes before 13 March */
    assert_true(next("0 0 13 * fri", t0) == at(2026, 3, 6, 0, 0));
    assert_true(next("0 0 13 * fri", at(2026, 3, 12, 0, 0)) == at(2026, 3, 13, 0, 0));
    /* one of them "*": both must match */
    assert_true(next("0 0 13 * *", t0) == at(2026, 3, 13, 0, 0));
    assert_true(next("0 0 */10 * *", t0) == at(2026, 3, 11, 0, 0));
}

static void test_month_ends(void **state)
{
    (void)state;
    assert_true(next("0 0 31 * *", at(2026, 4, 1, 0, 0)) == at(2026, 5, 31, 0, 0));
    assert_true(next("0 0 29 2 *", at(2026, 1, 1, 0, 0)) == at(2028, 2, 29, 0, 0));
    /* 2100 is not a leap year: the next 29 February after 2096 is in 2104 */
    assert_true(next("0 0 29 2 *", at(2096, 3, 1, 0, 0)) == at(2104, 2, 29, 0, 0));
    assert_true(next("59 23 31 12 *", at(2026, 12, 31, 23, 59)) == at(2027, 12, 31, 23, 59));
}

static void expect_error(const char *expr, const char *part)
{
    struct vodq_cron c;
    struct vodq_err err = {0};
    if (vodq_cron_parse(expr, &c, &err) == VODQ_OK)
        fail_msg("'%s' was accepted", expr);
    if (!strstr(err.msg, part))
        fail_msg("'%s': message '%s' lacks '%s'", expr, err.msg, part);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("* * * *", "expected 5 fields");
    expect_error("* * * * * *", "got 6");
    expect_error("60 * * * *", "minute: 60 is out of range 0-59");
    expect_error("* 24 * * *", "hour: 24 is out of range 0-23");
    expect_error("* * 0 * *", "day-of-month: 0 is out of range 1-31");
    expect_error("* * * 13 *", "month: 13 is out of range 1-12");
    expect_error("* * * foo *", "month: 'foo' is not a number or name");
    expect_error("* * * * 8", "day-of-week: 8 is out of range 0-7");
    expect_error("* * * * xyz", "day-of-week");
    expect_error("5-1 * * * *", "minute: range 5-1 runs backwards");
    expect_error("*/0 * * * *", "minute: bad step");
    expect_error("* */x * * *", "hour: bad step");
    expect_error("1,,2 * * * *", "minute");
    expect_error("1, * * * *", "minute: list ends with ','");
    expect_error("* * 30 2 *", "never occurs");
    expect_error("@often", "unknown macro");
    expect_error("", "expected 5 fields");
    expect_error("1;2 * * * *", "minute: unexpected ';'");
    expect_error("99999999999 * * * *", "minute:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_minute), cmocka_unit_test(test_fields),
        cmocka_unit_test(test_dom_dow_either), cmocka_unit_test(test_month_ends),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
