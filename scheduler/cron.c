/* cron.c: 5-field cron expressions (cron.h). */
#include "scheduler/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] = lo + i */
};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, dow_names},
};

/* Parses a number or a name at *p (advancing it). */
static enum vodq_rc value(const struct field *f, const char **p, int *out, struct vodq_err *err)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        if (isdigit((unsigned char)*s) || v < f->lo || v > f->hi)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: %ld%s is out of range %d-%d",
                                f->name, v, isdigit((unsigned char)*s) ? "..." : "", f->lo, f->hi);
        *out = (int)v;
        *p = s;
        return VODQ_OK;
    }
    if (f->names && isalpha((unsigned char)s[0])) {
        for (int i = 0; f->names[i]; i++) {
            if (!strncasecmp(s, f->names[i], 3) && !isalpha((unsigned char)s[3])) {
                *out = f->lo + i;
                *p = s + 3;
                return VODQ_OK;
            }
        }
    }
    int n = 0;
    while (s[n] && s[n] != ',' && s[n] != '-' && s[n] != '/' && n < 16)
        n++;
    return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: '%.*s' is not a %s", f->name, n, s,
                        f->names ? "number or name" : "number");
}

/* One field's text (NUL-ended) into a bit set. */
static enum vodq_rc parse_field(const struct field *f, const char *text, uint64_t *bits,
                                struct vodq_err *err)
{
    *bits = 0;
    const char *p = text;
    for (;;) {
        int a, b, step = 1;
        enum vodq_rc rc;
        if (*p == '*') {
            a = f->lo;
            b = f->hi == 7 ? 6 : f->hi;
            p++;
        } else {
            if ((rc = value(f, &p, &a, err)) != VODQ_OK)
                return rc;
            b = a;
            if (*p == '-') {
                p++;
                if ((rc = value(f, &p, &b, err)) != VODQ_OK)
                    return rc;
                if (b < a)
                    return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                        "%s: range %d-%d runs backwards", f->name, a, b);
            } else if (*p == '/') {
                b = f->hi == 7 ? 6 : f->hi; /* "a/n": from a to the end */
            }
        }
        if (*p == '/') {
            p++;
            long s = 0;
            const char *d = p;
            while (isdigit((unsigned char)*p) && s < 1000)
                s = s * 10 + (*p++ - '0');
            if (p == d || s < 1 || s > f->hi)
                return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: bad step '/%.8s' (1-%d)",
                                    f->name, d, f->hi);
            step = (int)s;
        }
        if (*p != ',' && *p != '\0')
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: unexpected '%c' in '%.32s'",
                                f->name, *p, text);
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << (f->hi == 7 && v == 7 ? 0 : v); /* day of week 7 = Sunday */
        if (*p == '\0')
            return VODQ_OK;
        p++;
        if (*p == '\0')
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: list ends with ','", f->name);
    }
}

static const struct {
    const char *name, *expr;
} macros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
              {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
              {"@hourly", "0 * * * *"}};

enum vodq_rc vodq_cron_parse(const char *text, struct vodq_cron *c, struct vodq_err *err)
{
    memset(c, 0, sizeof(*c));
    if (!text)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "cron: missing expression");
    while (isspace((unsigned char)*text))
        text++;
    if (*text == '@') {
        size_t n = strcspn(text, " \t");
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
            if (strlen(macros[i].name) == n && !strncasecmp(text, macros[i].name, n) &&
                text[n + strspn(text + n, " \t")] == '\0')
                return vodq_cron_parse(macros[i].expr, c, err);
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "cron: unknown macro '%.16s' (@yearly, @monthly, @weekly, @daily, "
                            "@hourly)", text);
    }
    char part[5][64];
    int n = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, " \t");
        if (n < 5) {
            if (len >= sizeof(part[0]))
                return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: too long", fields[n].name);
            memcpy(part[n], p, len);
            part[n][len] = '\0';
        }
        n++;
        p += len;
        while (isspace((unsigned char)*p))
            p++;
    }
    if (n != 5)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "cron: expected 5 fields (minute hour day-of-month month "
                            "day-of-week), got %d",
                            n);
    uint64_t bits[5];
    for (int i = 0; i < 5; i++) {
        enum vodq_rc rc = parse_field(&fields[i], part[i], &bits[i], err);
        if (rc != VODQ_OK)
            return rc;
    }
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint32_t)bits[3];
    c->dow = (uint32_t)bits[4];
    c->dom_any = part[2][0] == '*';
    c->dow_any = part[4][0] == '*';
    /* from 1970 every date (29 February too) occurs within the 9 years searched */
    if (vodq_cron_next(c, 0) < 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "day-of-month: '%s' never occurs in month '%s'", part[2], part[3]);
    return VODQ_OK;
}

static bool day_ok(const struct vodq_cron *c, const struct tm *tm)
{
    bool d = c->dom >> tm->tm_mday & 1, w = c->dow >> tm->tm_wday & 1;
    return c->dom_any || c->dow_any ? d && w : d || w;
}

int64_t vodq_cron_next(const struct vodq_cron *c, int64_t after_ms)
{
    if (after_ms < 0)
        after_ms = -60000;
    time_t t = (time_t)(after_ms / 60000 * 60 + 60);
    struct tm tm;
    gmtime_r(&t, &tm);
    int last_year = tm.tm_year + 9;
    while (tm.tm_year <= last_year) {
        if (!(c->month >> (tm.tm_mon + 1) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_ok(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!(c->hour >> tm.tm_hour & 1)) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!(c->minute >> tm.tm_min & 1)) {
            tm.tm_min++;
        } else {
            return (int64_t)timegm(&tm) * 1000;
        }
        tm.tm_sec = 0;
        t = timegm(&tm); /* normalise (month/day/hour overflow) */
        gmtime_r(&t, &tm);
    }
    return -1;
}
