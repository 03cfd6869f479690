/* sched.c: submissions, retries, reclaim, reaping, trimming. */
#include "scheduler/sched.h"

#include "scheduler/schedule.h"

#include "shared/keys.h"
#include "shared/crypto.h"
#include "shared/log.h"
#include "shared/notify.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct vodq_sched {
    struct vodq_sched_config cfg;
    struct vodq_queue q;
    char id[160];
    atomic_bool stop;
    atomic_llong submitted, rejected, duplicates, promoted, reclaimed, reaped, trimmed;
    int64_t last_trim_ms;
    int64_t last_claim_ms;
    int64_t last_cron_ms;
    struct vodq_proto_chan ch; /* request ids of the scripts (replay protection) */
};

static void nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct vodq_sched *vodq_sched_new(const struct vodq_sched_config *cfg, struct vodq_err *err)
{
    struct vodq_sched *s = calloc(1, sizeof(*s));
    if (!s) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (vodq_queue_init(&s->q, cfg->queue, cfg->events_maxlen, cfg->retention_s, err) != VODQ_OK) {
        free(s);
        return NULL;
    }
    s->q.keys = cfg->keys;
    if (cfg->id && *cfg->id && !vodq_job_id_valid(cfg->id)) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "id '%s': only 1-128 of [A-Za-z0-9_.:-]", cfg->id);
        free(s);
        return NULL;
    }
    vodq_job_instance_id(s->id, sizeof(s->id), "sched-", cfg->id);
    vodq_proto_chan_init(&s->ch, s->id);
    return s;
}

void vodq_sched_stop(struct vodq_sched *s)
{
    atomic_store(&s->stop, true);
}

void vodq_sched_free(struct vodq_sched *s)
{
    free(s);
}

void vodq_sched_counters(struct vodq_sched *s, struct vodq_sched_counters *out)
{
    out->submitted = atomic_load(&s->submitted);
    out->rejected = atomic_load(&s->rejected);
    out->duplicates = atomic_load(&s->duplicates);
    out->promoted = atomic_load(&s->promoted);
    out->reclaimed = atomic_load(&s->reclaimed);
    out->reaped = atomic_load(&s->reaped);
    out->trimmed = atomic_load(&s->trimmed);
}

/* Returns a new copy of the JSON object text with "id":id as its first member. */
static char *with_id(const char *text, size_t len, const char *id)
{
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", text[i]))
        i++;
    if (i >= len || text[i] != '{')
        return NULL;
    size_t j = i + 1;
    while (j < len && strchr(" \t\r\n", text[j]))
        j++;
    bool empty = j < len && text[j] == '}';
    size_t cap = len + strlen(id) + 16;
    char *out = malloc(cap);
    if (out)
        snprintf(out, cap, "{\"id\":\"%s\"%s%.*s", id, empty ? "" : ",", (int)(len - i - 1),
                 text + i + 1);
    return out;
}

/* Validates one submit entry and runs the submit script. Returns false on
 * a Redis error (the entry stays pending and is read again). */
static bool handle_submit(struct vodq_sched *s, struct vodq_redis *r, const struct vodq_reply *e)
{
    const char *entry = e->element[0]->str;
    const struct vodq_reply *fields = e->element[1];
    const char *spec_text = NULL, *given_id = NULL;
    size_t spec_len = 0;
    if (fields && fields->type == VODQ_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < fields->elements; i += 2) {
            const char *f = fields->element[i]->str;
            if (f && !strcmp(f, "spec")) {
                spec_text = fields->element[i + 1]->str;
                spec_len = fields->element[i + 1]->len;
            } else if (f && !strcmp(f, "id")) {
                given_id = fields->element[i + 1]->str;
            }
        }
    }
    struct vodq_job_spec spec;
    struct vodq_err verr = {0};
    enum vodq_rc vrc;
    if (!fields || fields->type != VODQ_REPLY_ARRAY) {
        /* a trimmed pending entry comes back with a nil payload: just ack it */
        const char *argv[] = {"XACK", NULL, VODQ_GROUP_SCHEDULERS, entry};
        char key[VODQ_KEY_MAX];
        vodq_queue_key(&s->q, key, sizeof(key), VODQ_KEY_SUBMIT, NULL);
        argv[1] = key;
        struct vodq_err err = {0};
        vodq_reply_free(vodq_redis_argv(r, 4, argv, NULL, &err));
        return true;
    }
    if (!spec_text) {
        memset(&spec, 0, sizeof(spec));
        vrc = vodq_err_set(&verr, VODQ_ERR_INVALID, 0,
                           "submit entry: missing field 'spec' (XADD ... spec <JSON>)");
    } else {
        vrc = vodq_job_spec_parse(spec_text, spec_len, &s->cfg.defaults, &spec, &verr);
        if (vrc == VODQ_OK && !spec.id_given && given_id && vodq_job_id_valid(given_id)) {
            /* an id on the entry only (docs/protocol.md §3): the job gets that id; the
             * spec is parsed again with it (ids need no JSON escaping) */
            char *with = with_id(spec_text, spec_len, given_id);
            vodq_job_spec_cleanup(&spec);
            vrc = with ? vodq_job_spec_parse(with, strlen(with), &s->cfg.defaults, &spec, &verr)
                       : vodq_err_set(&verr, VODQ_ERR_OOM, 0, "out of memory");
            free(with);
        }
    }
    char id[VODQ_ID_MAX + 1];
    if (spec.id[0])
        snprintf(id, sizeof(id), "%s", spec.id);
    else if (given_id && vodq_job_id_valid(given_id))
        snprintf(id, sizeof(id), "%s", given_id);
    else
        vodq_job_id_new(id, sizeof(id));
    if (vrc == VODQ_OK && given_id && strcmp(given_id, id) != 0) {
        vrc = vodq_err_set(&verr, VODQ_ERR_INVALID, 0,
                           "id: the entry's id '%.64s' and the spec's id '%.64s' differ", given_id,
                           id);
    }
    char maxa[16], tmo[24], bb[24], bm[24], ttl[24];
    /* an upload without "file" in a session takes the session's export (session.lua) */
    bool needs_export = false;
    if (vrc == VODQ_OK && spec.type == VODQ_TASK_UPLOAD && spec.session[0]) {
        char *sec = vodq_job_spec_section(spec.json, "upload", NULL);
        needs_export = sec && !vodq_json_has(sec, "file");
        free(sec);
    }
    snprintf(ttl, sizeof(ttl), "%lld", s->cfg.session_ttl_s > 0 ? s->cfg.session_ttl_s : 604800LL);
    snprintf(maxa, sizeof(maxa), "%d", vrc == VODQ_OK ? spec.max_attempts : 0);
    snprintf(tmo, sizeof(tmo), "%lld", (long long)(vrc == VODQ_OK ? spec.timeout_ms : 0));
    snprintf(bb, sizeof(bb), "%lld", (long long)spec.backoff_base_ms);
    snprintf(bm, sizeof(bm), "%lld", (long long)spec.backoff_max_ms);
    /* a rejected spec is stored with its secrets masked (cut at 64 KiB so a
     * huge payload is not kept): it may not even be JSON */
    char *shown = NULL;
    if (vrc == VODQ_OK && s->q.keys) {
        /* credentials are stored sealed; values a submitter sealed stay as they are */
        struct vodq_err serr = {0};
        shown = vodq_seal_spec(s->q.keys, spec.json, &serr);
        if (!shown) {
            vodq_warn("submit: cannot seal the credentials of job %s: %s", id, serr.msg);
            vodq_job_spec_cleanup(&spec);
            return false; /* read the entry again later */
        }
    } else if (vrc != VODQ_OK && spec_text) {
        shown = vodq_job_spec_shown(spec_text, spec_len > 65536 ? 65536 : spec_len);
        if (!shown) {
            vodq_job_spec_cleanup(&spec);
            return false; /* out of memory: read the entry again later */
        }
    }
    char run_at[24] = "", delay[24] = "";
    if (vrc == VODQ_OK && spec.run_at_ms)
        snprintf(run_at, sizeof(run_at), "%lld", (long long)spec.run_at_ms);
    if (vrc == VODQ_OK && spec.delay_ms)
        snprintf(delay, sizeof(delay), "%lld", (long long)spec.delay_ms);
    const char *args[18] = {
        id,
        vrc == VODQ_OK ? vodq_job_spec_type_name(&spec) : "",
        shown ? shown : (vrc == VODQ_OK ? spec.json : ""),
        vrc == VODQ_OK ? "queued" : "rejected",
        vrc == VODQ_OK ? "" : verr.msg,
        maxa, tmo, bb, bm,
        vrc == VODQ_OK ? spec.session : "",
        entry,
        vrc == VODQ_OK ? vodq_job_spec_lane_name(&spec) : "",
        needs_export ? "1" : "0",
        ttl,
        vrc == VODQ_OK ? spec.require : "",
        run_at,
        delay,
        vrc == VODQ_OK ? spec.notify_url : "",
    };
    size_t lens[18];
    for (int i = 0; i < 18; i++)
        lens[i] = strlen(args[i]);
    struct vodq_err err = {0};
    struct vodq_reply *rep =
        vodq_proto_call_once(r, &s->ch, &s->q, VODQ_LUA_SUBMIT, 18, args, lens, 3, &err);
    vodq_job_spec_cleanup(&spec);
    free(shown);
    if (!rep) {
        vodq_warn("submit %s: %s", id, err.msg);
        return false;
    }
    if (rep->str && !strcmp(rep->str, "dup")) {
        atomic_fetch_add(&s->duplicates, 1);
        vodq_debug("job %s: duplicate submission ignored", id);
    } else if (vrc != VODQ_OK) {
        atomic_fetch_add(&s->rejected, 1);
        vodq_info("job %s: rejected: %s", id, verr.msg);
    } else {
        atomic_fetch_add(&s->submitted, 1);
    }
    vodq_reply_free(rep);
    return true;
}

/* Reads submissions: first our own pending ones (after a crash), then
 * entries abandoned by a dead scheduler, then new ones. */
static void intake(struct vodq_sched *s, struct vodq_redis *r, bool pending_first)
{
    char key[VODQ_KEY_MAX], block[24];
    vodq_queue_key(&s->q, key, sizeof(key), VODQ_KEY_SUBMIT, NULL);
    snprintf(block, sizeof(block), "%lld", (long long)s->cfg.block_ms);
    const char *argv[] = {"XREADGROUP", "GROUP", VODQ_GROUP_SCHEDULERS, s->id, "COUNT", "200",
                          "BLOCK", block, "STREAMS", key, pending_first ? "0" : ">"};
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_redis_argv(r, 11, argv, NULL, &err);
    if (!rep) {
        if (err.code != VODQ_ERR_TIMEOUT)
            vodq_warn("submit read: %s", err.msg);
        nap_ms(200);
        return;
    }
    if (rep->type == VODQ_REPLY_ERROR) {
        if (strstr(rep->str, "NOGROUP"))
            vodq_proto_ensure_groups(r, &s->q, &err);
        else
            vodq_warn("submit read: %s", rep->str);
    } else if (rep->type == VODQ_REPLY_ARRAY && rep->elements == 1) {
        const struct vodq_reply *entries = rep->element[0]->element[1];
        for (size_t i = 0; i < entries->elements && !atomic_load(&s->stop); i++)
            if (!handle_submit(s, r, entries->element[i]))
                break;
    }
    vodq_reply_free(rep);
}

static void claim_abandoned_submits(struct vodq_sched *s, struct vodq_redis *r)
{
    char key[VODQ_KEY_MAX], idle[24];
    vodq_queue_key(&s->q, key, sizeof(key), VODQ_KEY_SUBMIT, NULL);
    snprintf(idle, sizeof(idle), "%lld", (long long)s->cfg.lease_ms);
    const char *argv[] = {"XAUTOCLAIM", key, VODQ_GROUP_SCHEDULERS, s->id, idle, "0-0",
                          "COUNT", "100"};
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_redis_argv(r, 8, argv, NULL, &err);
    if (rep && rep->type == VODQ_REPLY_ARRAY && rep->elements >= 2) {
        const struct vodq_reply *entries = rep->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            const struct vodq_reply *e = entries->element[i];
            if (e->type == VODQ_REPLY_ARRAY && e->elements == 2)
                handle_submit(s, r, e);
        }
    }
    vodq_reply_free(rep);
}

static void promote(struct vodq_sched *s, struct vodq_redis *r)
{
    const char *args[] = {"500"};
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_proto_call_once(r, &s->ch, &s->q, VODQ_LUA_PROMOTE, 1, args, NULL, 3, &err);
    if (rep)
        atomic_fetch_add(&s->promoted, vodq_reply_int(rep, 0));
    else
        vodq_warn("promote: %s", err.msg);
    vodq_reply_free(rep);
}

static void reclaim(struct vodq_sched *s, struct vodq_redis *r)
{
    char idle[24];
    snprintf(idle, sizeof(idle), "%lld", (long long)s->cfg.lease_ms);
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        char cursor[48] = "0-0";
        for (int round = 0; round < 20; round++) {
            const char *args[] = {vodq_task_type_name(t), s->id, idle, "100", cursor};
            struct vodq_err err = {0};
            struct vodq_reply *rep = vodq_proto_call_once(r, &s->ch, &s->q, VODQ_LUA_RECLAIM, 5, args,
                                                             NULL, 3, &err);
            if (!rep) {
                if (!strstr(err.msg, "NOGROUP"))
                    vodq_warn("reclaim %s: %s", vodq_task_type_name(t), err.msg);
                break;
            }
            const char *next = vodq_reply_str(rep, 0);
            long long n = rep->elements == 2 ? vodq_reply_int(rep->element[1], 0) : 0;
            if (n > 0) {
                atomic_fetch_add(&s->reclaimed, n);
                vodq_info("reclaimed %lld %s task(s) idle past the %s ms lease", n,
                          vodq_task_type_name(t), idle);
            }
            bool more = next && strcmp(next, "0-0") != 0;
            if (more)
                snprintf(cursor, sizeof(cursor), "%s", next);
            vodq_reply_free(rep);
            if (!more)
                break;
        }
    }
}

static void reap(struct vodq_sched *s, struct vodq_redis *r)
{
    char key[VODQ_KEY_MAX], before[24];
    vodq_queue_key(&s->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    snprintf(before, sizeof(before), "%lld",
             (long long)(vodq_now_ms() - s->cfg.worker_timeout_ms));
    struct vodq_err err = {0};
    struct vodq_reply *rep =
        vodq_redis_cmd(r, &err, "ZRANGEBYSCORE %s -inf %s LIMIT 0 50", key, before);
    if (!rep)
        return;
    for (size_t i = 0; rep->type == VODQ_REPLY_ARRAY && i < rep->elements; i++) {
        const char *wid = rep->element[i]->str;
        char nt[8];
        snprintf(nt, sizeof(nt), "%d", VODQ_TASK__COUNT);
        const char *args[3 + VODQ_TASK__COUNT] = {wid, s->id, nt};
        for (int t = 0; t < VODQ_TASK__COUNT; t++)
            args[3 + t] = vodq_task_type_name(t);
        struct vodq_reply *n =
            vodq_proto_call_once(r, &s->ch, &s->q, VODQ_LUA_REAP, 3 + VODQ_TASK__COUNT, args,
                                 NULL, 3, &err);
        if (n) {
            atomic_fetch_add(&s->reaped, 1);
            vodq_info("worker %s stopped heartbeating; requeued %lld task(s)", wid,
                      vodq_reply_int(n, 0));
        }
        vodq_reply_free(n);
    }
    vodq_reply_free(rep);
}

/* Trims each task stream below its oldest entry still needed: the oldest
 * pending one and everything after the group's last delivered id. A finished
 * task's entry is only acknowledged (step.lua: XDEL costs more than the rest
 * of a finish), so this is what removes them: "~" drops whole stream nodes
 * (100 entries by default) and never rewrites one, so each second's trim is
 * cheap. Also forgets consumers with nothing pending that are idle for an hour. */
static void trim(struct vodq_sched *s, struct vodq_redis *r)
{
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        char key[VODQ_KEY_MAX];
        vodq_queue_key(&s->q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(t));
        struct vodq_err err = {0};
        struct vodq_reply *pend = vodq_redis_cmd(r, &err, "XPENDING %s %s", key, VODQ_GROUP_WORKERS);
        struct vodq_reply *grp = vodq_redis_cmd(r, &err, "XINFO GROUPS %s", key);
        char minid[48] = "";
        if (pend && pend->type == VODQ_REPLY_ARRAY && pend->elements >= 2 && vodq_reply_str(pend, 1))
            snprintf(minid, sizeof(minid), "%s", vodq_reply_str(pend, 1));
        if (grp && grp->type == VODQ_REPLY_ARRAY) {
            for (size_t g = 0; g < grp->elements; g++) {
                const struct vodq_reply *gi = grp->element[g];
                const char *name = NULL, *last = NULL;
                for (size_t i = 0; i + 1 < gi->elements; i += 2) {
                    const char *f = vodq_reply_str(gi, i);
                    if (f && !strcmp(f, "name"))
                        name = vodq_reply_str(gi, i + 1);
                    else if (f && !strcmp(f, "last-delivered-id"))
                        last = vodq_reply_str(gi, i + 1);
                }
                if (!name || strcmp(name, VODQ_GROUP_WORKERS) || !last)
                    continue;
                /* keep the entry after last-delivered: MINID last+1 keeps undelivered ones */
                unsigned long long ms = 0, seq = 0;
                if (sscanf(last, "%llu-%llu", &ms, &seq) == 2 && !minid[0])
                    snprintf(minid, sizeof(minid), "%llu-%llu", ms, seq + 1);
            }
        }
        vodq_reply_free(pend);
        vodq_reply_free(grp);
        if (minid[0]) {
            struct vodq_reply *tr = vodq_redis_cmd(r, &err, "XTRIM %s MINID ~ %s", key, minid);
            if (tr && tr->type == VODQ_REPLY_INTEGER)
                atomic_fetch_add(&s->trimmed, tr->integer);
            vodq_reply_free(tr);
        }
        struct vodq_reply *cons = vodq_redis_cmd(r, &err, "XINFO CONSUMERS %s %s", key,
                                                 VODQ_GROUP_WORKERS);
        for (size_t c = 0; cons && cons->type == VODQ_REPLY_ARRAY && c < cons->elements; c++) {
            const struct vodq_reply *ci = cons->element[c];
            const char *name = NULL;
            long long pending = -1, idle = 0;
            for (size_t i = 0; i + 1 < ci->elements; i += 2) {
                const char *f = vodq_reply_str(ci, i);
                if (!f)
                    continue;
                if (!strcmp(f, "name"))
                    name = vodq_reply_str(ci, i + 1);
                else if (!strcmp(f, "pending"))
                    pending = vodq_reply_int(ci->element[i + 1], -1);
                else if (!strcmp(f, "idle"))
                    idle = vodq_reply_int(ci->element[i + 1], 0);
            }
            /* never DELCONSUMER one with pending entries: they would be lost */
            if (name && pending == 0 && idle > 3600 * 1000LL)
                vodq_reply_free(vodq_redis_cmd(r, &err, "XGROUP DELCONSUMER %s %s %s", key,
                                               VODQ_GROUP_WORKERS, name));
        }
        vodq_reply_free(cons);
    }
}

enum vodq_rc vodq_sched_run(struct vodq_sched *s, struct vodq_err *err)
{
    struct vodq_redis_opts o = {.url = s->cfg.redis_url,
                                .command_timeout_ms = (int)s->cfg.block_ms + 5000};
    struct vodq_redis *r = vodq_redis_new(&o, err);
    if (!r)
        return err->code;
    bool groups = false, pending_first = true;
    int64_t last_tick = 0;
    vodq_info("scheduler %s: queue %s, lease %lld ms", s->id, s->q.name,
              (long long)s->cfg.lease_ms);
    while (!atomic_load(&s->stop)) {
        vodq_notify_tick(); /* READY=1 at first, then the systemd watchdog */
        if (!groups) {
            struct vodq_err e = {0};
            if (vodq_proto_ensure_groups(r, &s->q, &e) != VODQ_OK) {
                vodq_warn("redis: %s; retrying", e.msg);
                nap_ms(500);
                continue;
            }
            groups = true;
            /* the settings hash: what terminal() applies when a job ends */
            struct vodq_retention none = {0};
            if (vodq_settings_write(r, &s->q, s->cfg.retention ? s->cfg.retention : &none,
                                    s->cfg.hooks_max > 0 ? s->cfg.hooks_max : 10000,
                                    &e) != VODQ_OK)
                vodq_warn("settings: %s", e.msg);
        }
        intake(s, r, pending_first);
        pending_first = false;
        if (!vodq_redis_connected(r)) {
            groups = false;
            pending_first = true;
            continue;
        }
        int64_t now = vodq_now_ms();
        if (now - last_tick >= s->cfg.tick_ms) {
            last_tick = now;
            promote(s, r);
            reap(s, r);
            reclaim(s, r);
            if (now - s->last_claim_ms >= s->cfg.lease_ms / 2) {
                s->last_claim_ms = now;
                claim_abandoned_submits(s, r);
            }
            if (now - s->last_cron_ms >= 1000) { /* cron slots are whole minutes */
                s->last_cron_ms = now;
                struct vodq_err e = {0};
                if (vodq_schedule_tick(r, &s->ch, &s->q, &e) < 0)
                    vodq_warn("schedules: %s", e.msg);
            }
            if (now - s->last_trim_ms >= 1000) {
                s->last_trim_ms = now;
                trim(s, r);
            }
        }
    }
    vodq_redis_free(r);
    vodq_info("scheduler %s: stopped", s->id);
    return VODQ_OK;
}
