/* schedule.c: cron schedules in Redis and the scheduler's firing step (schedule.h). */
#include "scheduler/schedule.h"

#include "scheduler/cron.h"
#include "shared/crypto.h"
#include "shared/keys.h"
#include "shared/log.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIRE_MAX 100          /* slots fired by one call ("all") */
#define SCAN_MAX 1000000      /* slots looked at per schedule and tick */

bool vodq_schedule_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > VODQ_SCHEDULE_NAME_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

void vodq_schedule_job_id(char *buf, size_t cap, const char *name, int64_t slot_ms)
{
    time_t t = (time_t)(slot_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, cap, "cron:%s:%04d%02d%02dT%02d%02d", name, tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min);
}

/* The Redis clock in ms (one clock for every scheduler), or -1. */
static int64_t redis_now_ms(struct vodq_redis *r, struct vodq_err *err)
{
    struct vodq_reply *t = vodq_redis_cmd(r, err, "TIME");
    int64_t ms = -1;
    if (t && t->type == VODQ_REPLY_ARRAY && t->elements == 2)
        ms = atoll(vodq_reply_str(t, 0)) * 1000 + atoll(vodq_reply_str(t, 1)) / 1000;
    else if (t)
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "TIME: unexpected reply");
    vodq_reply_free(t);
    return ms;
}

/* Runs schedule.lua; returns its status ("added", "fired"...) copied into st. */
static enum vodq_rc call(struct vodq_redis *r, struct vodq_proto_chan *ch,
                         const struct vodq_queue *q, int n, const char **args, char *st,
                         size_t cap, char *msg, size_t mcap, struct vodq_err *err)
{
    struct vodq_proto_chan own;
    if (!ch) {
        vodq_proto_chan_init(&own, "schedule");
        ch = &own;
    }
    struct vodq_reply *rep = vodq_proto_call_once(r, ch, q, VODQ_LUA_SCHEDULE, n, args, NULL, 3, err);
    if (!rep)
        return err->code;
    snprintf(st, cap, "%s", vodq_proto_map_str(rep, "status", ""));
    if (msg)
        snprintf(msg, mcap, "%s", vodq_proto_map_str(rep, "message", ""));
    vodq_reply_free(rep);
    return VODQ_OK;
}

static bool catch_up_valid(const char *c)
{
    return !strcmp(c, "latest") || !strcmp(c, "all") || !strcmp(c, "none");
}

enum vodq_rc vodq_schedule_add(struct vodq_redis *r, const struct vodq_queue *q, const char *name,
                               const char *cron, const char *spec, size_t spec_len,
                               const char *catch_up, const struct vodq_job_defaults *d,
                               int64_t *next_ms, bool *replaced, struct vodq_err *err)
{
    if (!vodq_schedule_name_valid(name))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "schedule name '%.80s': 1-%d characters [A-Za-z0-9_.-]",
                            name ? name : "", VODQ_SCHEDULE_NAME_MAX);
    if (!catch_up || !*catch_up)
        catch_up = "latest";
    if (!catch_up_valid(catch_up))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "--catch-up '%.32s': must be latest, all or none", catch_up);
    struct vodq_cron c;
    enum vodq_rc rc = vodq_cron_parse(cron, &c, err);
    if (rc != VODQ_OK)
        return rc;
    struct vodq_job_spec js;
    if ((rc = vodq_job_spec_parse(spec, spec_len, d, &js, err)) != VODQ_OK)
        return rc;
    bool id_given = js.id_given;
    vodq_job_spec_cleanup(&js);
    if (id_given)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "id: a schedule's spec must not set one (each slot's job gets "
                            "cron:%s:<YYYYMMDDTHHMM>)", name);
    char *text = malloc(spec_len + 1);
    if (!text)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    memcpy(text, spec, spec_len);
    text[spec_len] = '\0';
    if (q->keys) { /* credentials in the stored spec are sealed, as in a job's */
        char *sealed = vodq_seal_spec(q->keys, text, err);
        free(text);
        if (!sealed)
            return err->code;
        text = sealed;
    }
    int64_t now = redis_now_ms(r, err);
    int64_t next = now < 0 ? -1 : vodq_cron_next(&c, now);
    if (now < 0) {
        free(text);
        return err->code;
    }
    char nx[24], st[32], msg[128];
    snprintf(nx, sizeof(nx), "%lld", (long long)next);
    const char *args[] = {"add", name, cron, text, catch_up, nx};
    rc = call(r, NULL, q, 6, args, st, sizeof(st), msg, sizeof(msg), err);
    free(text);
    if (rc != VODQ_OK)
        return rc;
    if (strcmp(st, "added") && strcmp(st, "replaced"))
        return vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "schedule add: %s", msg);
    if (next_ms)
        *next_ms = next;
    if (replaced)
        *replaced = !strcmp(st, "replaced");
    return VODQ_OK;
}

enum vodq_rc vodq_schedule_remove(struct vodq_redis *r, const struct vodq_queue *q,
                                  const char *name, struct vodq_err *err)
{
    if (!vodq_schedule_name_valid(name))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "schedule name '%.80s': 1-%d characters [A-Za-z0-9_.-]", name,
                            VODQ_SCHEDULE_NAME_MAX);
    char st[32];
    const char *args[] = {"remove", name};
    enum vodq_rc rc = call(r, NULL, q, 2, args, st, sizeof(st), NULL, 0, err);
    if (rc == VODQ_OK && strcmp(st, "removed"))
        return vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "no such schedule: %s", name);
    return rc;
}

static const char *const number_fields[] = {"next_at", "last_slot", "fired", "skipped",
                                            "created_at", "updated_at", NULL};

char *vodq_schedule_list_json(struct vodq_redis *r, const struct vodq_queue *q,
                              struct vodq_err *err)
{
    char zk[VODQ_KEY_MAX];
    vodq_queue_key(q, zk, sizeof(zk), VODQ_KEY_SCHEDULES, NULL);
    struct vodq_reply *names = vodq_redis_cmd(r, err, "ZRANGE %s 0 -1", zk);
    if (!names)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && names->type == VODQ_REPLY_ARRAY && i < names->elements; i++) {
        char hk[VODQ_KEY_MAX];
        vodq_queue_key(q, hk, sizeof(hk), VODQ_KEY_SCHEDULE, vodq_reply_str(names, i));
        struct vodq_reply *h = vodq_redis_cmd(r, err, "HGETALL %s", hk);
        if (!h) {
            cJSON_Delete(arr);
            vodq_reply_free(names);
            return NULL;
        }
        cJSON *o = cJSON_CreateObject();
        for (size_t k = 0; o && h->type == VODQ_REPLY_ARRAY && k + 1 < h->elements; k += 2) {
            const char *f = vodq_reply_str(h, k), *v = vodq_reply_str(h, k + 1);
            if (!f || !v)
                continue;
            bool num = false;
            for (int j = 0; number_fields[j]; j++)
                num |= !strcmp(f, number_fields[j]);
            if (num) {
                cJSON_AddNumberToObject(o, f, (double)atoll(v));
            } else if (!strcmp(f, "spec")) {
                char *shown = vodq_job_spec_shown(v, strlen(v));
                cJSON *sj = shown ? cJSON_Parse(shown) : NULL;
                cJSON_AddItemToObject(o, f, sj ? sj : cJSON_CreateNull());
                free(shown);
            } else {
                cJSON_AddStringToObject(o, f, v);
            }
        }
        if (o)
            cJSON_AddItemToArray(arr, o);
        vodq_reply_free(h);
    }
    vodq_reply_free(names);
    char *out = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!out)
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    return out;
}

/* Fires one due schedule. Returns the jobs submitted, or -1 on a Redis error. */
static long long fire_one(struct vodq_redis *r, struct vodq_proto_chan *ch,
                          const struct vodq_queue *q, const char *name, int64_t now,
                          struct vodq_err *err)
{
    char hk[VODQ_KEY_MAX];
    vodq_queue_key(q, hk, sizeof(hk), VODQ_KEY_SCHEDULE, name);
    struct vodq_reply *h = vodq_redis_cmd(r, err, "HMGET %s cron catch_up next_at", hk);
    if (!h)
        return -1;
    const char *cron = vodq_reply_str(h, 0), *cu = vodq_reply_str(h, 1),
               *expected = vodq_reply_str(h, 2);
    char exp_s[24] = "0", new_s[24], skip_s[24], n_s[16];
    if (expected)
        snprintf(exp_s, sizeof(exp_s), "%s", expected);
    int64_t next_at = expected ? atoll(expected) : 0, s = next_at;
    struct vodq_cron c;
    struct vodq_err cerr = {0};
    char slot_s[FIRE_MAX][24], job_s[FIRE_MAX][VODQ_ID_MAX + 1];
    const char *args[6 + 2 * FIRE_MAX];
    int n = 0;
    long long skipped = 0;
    if (!cron || vodq_cron_parse(cron, &c, &cerr) != VODQ_OK) {
        /* missing (removed meanwhile: fire.lua drops it) or a bad stored expression: no
         * slot, looked at again in an hour */
        if (cron)
            vodq_warn("schedule %s: cron '%s': %s", name, cron, cerr.msg);
        s = now + 3600000;
    } else {
        bool all = cu && !strcmp(cu, "all"), none = cu && !strcmp(cu, "none");
        int64_t latest = -1;
        long long seen = 0;
        for (long scan = 0; s >= 0 && s <= now && scan < SCAN_MAX; scan++) {
            if (all) {
                if (n == FIRE_MAX)
                    break; /* the rest next tick */
                snprintf(slot_s[n++], sizeof(slot_s[0]), "%lld", (long long)s);
            } else if (none) {
                if (now - s <= VODQ_SCHEDULE_GRACE_MS && n < FIRE_MAX)
                    snprintf(slot_s[n++], sizeof(slot_s[0]), "%lld", (long long)s);
                else
                    skipped++;
            } else {
                latest = s;
                seen++;
            }
            s = vodq_cron_next(&c, s);
        }
        if (latest >= 0) {
            snprintf(slot_s[n++], sizeof(slot_s[0]), "%lld", (long long)latest);
            skipped = seen - 1;
        }
        if (s < 0)
            s = now + 366LL * 86400000; /* no slot within 9 years: look again in a year */
    }
    vodq_reply_free(h);
    snprintf(new_s, sizeof(new_s), "%lld", (long long)s);
    snprintf(skip_s, sizeof(skip_s), "%lld", skipped);
    snprintf(n_s, sizeof(n_s), "%d", n);
    int k = 0;
    args[k++] = "fire";
    args[k++] = name;
    args[k++] = exp_s;
    args[k++] = new_s;
    args[k++] = skip_s;
    args[k++] = n_s;
    for (int i = 0; i < n; i++) {
        vodq_schedule_job_id(job_s[i], sizeof(job_s[i]), name, atoll(slot_s[i]));
        args[k++] = slot_s[i];
        args[k++] = job_s[i];
    }
    char st[32], msg[64];
    if (call(r, ch, q, k, args, st, sizeof(st), msg, sizeof(msg), err) != VODQ_OK)
        return -1;
    if (!strcmp(st, "fired")) {
        if (n)
            vodq_info("schedule %s: submitted %s%s (%d job(s), %lld slot(s) skipped)", name,
                      job_s[n - 1], n > 1 ? " and earlier slots" : "", n, skipped);
        else if (skipped)
            vodq_info("schedule %s: %lld missed slot(s) skipped (catch-up none)", name, skipped);
        return n;
    }
    vodq_debug("schedule %s: %s (%s)", name, st, msg); /* another scheduler fired it */
    return 0;
}

long long vodq_schedule_tick(struct vodq_redis *r, struct vodq_proto_chan *ch,
                             const struct vodq_queue *q, struct vodq_err *err)
{
    int64_t now = redis_now_ms(r, err);
    if (now < 0)
        return -1;
    char zk[VODQ_KEY_MAX];
    vodq_queue_key(q, zk, sizeof(zk), VODQ_KEY_SCHEDULES, NULL);
    struct vodq_reply *due =
        vodq_redis_cmd(r, err, "ZRANGEBYSCORE %s -inf %lld LIMIT 0 100", zk, (long long)now);
    if (!due)
        return -1;
    long long total = 0;
    for (size_t i = 0; due->type == VODQ_REPLY_ARRAY && i < due->elements; i++) {
        const char *name = vodq_reply_str(due, i);
        if (!name || !vodq_schedule_name_valid(name))
            continue;
        long long n = fire_one(r, ch, q, name, now, err);
        if (n < 0) {
            total = -1;
            break;
        }
        total += n;
    }
    vodq_reply_free(due);
    return total;
}
