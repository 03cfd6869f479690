/* cron.h: standard 5-field cron expressions ("minute hour day-of-month month
 * day-of-week"), evaluated in UTC.
 *
 * Each field is "*", a number, a range "a-b", a step "*" "/n" or "a-b/n" or "a/n"
 * (from a to the field's end), or a comma-separated list of those. Months take
 * JAN..DEC and days of the week SUN..SAT (any case); day of week 0 and 7 are
 * both Sunday. As in Vixie cron, when both day of month and day of week are
 * restricted (neither starts with "*") a day matches when EITHER matches.
 * Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
 * Pure: no I/O, no clock; the scheduler gives it the times. */
#ifndef VODQ_CRON_H
#define VODQ_CRON_H

#include "shared/err.h"

#include <stdbool.h>
#include <stdint.h>

struct vodq_cron {
    uint64_t minute; /* bit m for minute m, 0..59 */
    uint32_t hour;   /* bit h, 0..23 */
    uint32_t dom;    /* bit d, 1..31 */
    uint32_t month;  /* bit m, 1..12 */
    uint32_t dow;    /* bit d, 0..6 (0 = Sunday) */
    bool dom_any;    /* the day-of-month field started with "*" */
    bool dow_any;    /* the day-of-week field started with "*" */
};

/* Parses text into *c. A bad expression returns VODQ_ERR_INVALID with a
 * message naming the field ("hour: 24 is out of range 0-23"). An
 * expression that can never fire (e.g. "0 0 30 2 *") is rejected too. */
enum vodq_rc vodq_cron_parse(const char *text, struct vodq_cron *c, struct vodq_err *err);

/* The first slot (ms since the epoch, a whole minute, UTC) strictly after
 * after_ms, or -1 when there is none within 5 years. */
int64_t vodq_cron_next(const struct vodq_cron *c, int64_t after_ms);

#endif
