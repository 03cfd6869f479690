/* retention.c: per type/state retention and the settings hash (retention.h). */
#include "scheduler/retention.h"

#include "shared/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const types[] = {"sleep", "compose", "upload", "*", NULL};
static const char *const states[] = {"succeeded", "dead", "cancelled", "rejected", NULL};

static bool in(const char *const *set, const char *s, size_t n)
{
    for (int i = 0; set[i]; i++)
        if (strlen(set[i]) == n && !strncmp(set[i], s, n))
            return true;
    return false;
}

/* "30d", "12h", "45m", "90s" or seconds; -1 when bad. */
static long long seconds(const char *s, size_t n)
{
    char buf[32];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    long long unit = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60
                   : !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : 0;
    if (errno || end == buf || v < 1 || !unit || v > 3650LL * 86400 / unit)
        return -1;
    return v * unit;
}

enum vodq_rc vodq_retention_parse(const char *text, struct vodq_retention *out,
                                  struct vodq_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = text ? text : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len), *eq = memchr(p, '=', len);
        if (len == 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "--retention: empty rule");
        if (!colon || !eq || eq < colon)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "--retention '%.*s': expected TYPE:STATE=DURATION", (int)len, p);
        if (!in(types, p, (size_t)(colon - p)))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "--retention '%.*s': type must be sleep, compose, upload or *",
                                (int)len, p);
        if (!in(states, colon + 1, (size_t)(eq - colon - 1)))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "--retention '%.*s': state must be succeeded, dead, cancelled "
                                "or rejected",
                                (int)len, p);
        long long s = seconds(eq + 1, (size_t)(p + len - eq - 1));
        if (s < 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "--retention '%.*s': duration must be 1s..3650d (30d, 12h, 45m, "
                                "90s)",
                                (int)len, p);
        if (out->n == VODQ_RETENTION_MAX)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "--retention: more than %d rules",
                                VODQ_RETENTION_MAX);
        snprintf(out->rule[out->n].field, sizeof(out->rule[0].field), "retention:%.*s",
                 (int)(eq - p), p);
        out->rule[out->n++].seconds = s;
        p += len;
        if (*p == ',' && *++p == '\0')
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "--retention: empty rule after ','");
    }
    return VODQ_OK;
}

enum vodq_rc vodq_settings_write(struct vodq_redis *r, const struct vodq_queue *q,
                                 const struct vodq_retention *rules, long long hooks_max,
                                 struct vodq_err *err)
{
    char key[VODQ_KEY_MAX], tmp[VODQ_KEY_MAX + 16];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_SETTINGS, NULL);
    snprintf(tmp, sizeof(tmp), "%s:new", key);
    /* built aside, then RENAMEd over the old one: readers never see half of it */
    struct vodq_reply *rep = vodq_redis_cmd(r, err, "DEL %s", tmp);
    if (!rep)
        return err->code;
    vodq_reply_free(rep);
    rep = vodq_redis_cmd(r, err, "HSET %s hooks_max %lld", tmp, hooks_max);
    for (int i = 0; rep && i < rules->n; i++) {
        vodq_reply_free(rep);
        rep = vodq_redis_cmd(r, err, "HSET %s %s %lld", tmp, rules->rule[i].field,
                             rules->rule[i].seconds);
    }
    if (!rep)
        return err->code;
    vodq_reply_free(rep);
    rep = vodq_redis_cmd(r, err, "RENAME %s %s", tmp, key);
    if (!rep)
        return err->code;
    enum vodq_rc rc = VODQ_OK;
    if (rep->type == VODQ_REPLY_ERROR)
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "settings: %s", rep->str);
    vodq_reply_free(rep);
    return rc;
}
