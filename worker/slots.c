/* slots.c: the slot threads: each runs one engine at a time, with the task_io
 * (progress, events, control, credentials, checkpoint) it reports through. */
#include "worker/runtime.h"

#include "shared/clock.h"
#include "shared/crypto.h"
#include "shared/keys.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct vodq_redis *slot_redis(struct slot *s)
{
    if (!s->r) {
        s->r = vodq_wk_connect(s->w, 5000);
        vodq_proto_chan_init(&s->ch, s->w->id);
    }
    return s->r;
}

/* ---- the task_io given to engines ---------------------------------- */

static enum vodq_rc report(struct slot *s, const char *kind, const char *a1, const char *a2)
{
    if (atomic_load(&s->fenced))
        return VODQ_ERR_FENCED;
    struct vodq_redis *r = slot_redis(s);
    if (!r)
        return VODQ_ERR_IO;
    const char *args[] = {s->t.job, s->t.fence, kind, a1, a2};
    struct vodq_err err = {0};
    struct vodq_reply *rep =
        vodq_proto_call_once(r, &s->ch, &s->w->q, VODQ_LUA_REPORT, 5, args, NULL, 3, &err);
    if (!rep) {
        vodq_warn("job %s: report %s: %s", s->t.job, kind, err.msg);
        return err.code; /* Redis down: keep working, the lease decides */
    }
    vodq_wk_apply_control(s, rep);
    vodq_reply_free(rep);
    return atomic_load(&s->fenced) ? VODQ_ERR_FENCED : VODQ_OK;
}

static void report_state(struct slot *s, int want)
{
    static const char *names[] = {"active", "paused", "waiting_auth"};
    if (s->reported == want)
        return;
    if (report(s, "state", names[want], "{}") == VODQ_OK)
        s->reported = want;
}

static enum vodq_rc io_progress(void *opaque, int64_t done, int64_t total, const char *extra)
{
    struct slot *s = opaque;
    if (atomic_load(&s->fenced))
        return VODQ_ERR_FENCED;
    int64_t now = vodq_now_ms();
    if (now - s->last_progress_ms < s->w->cfg.progress_interval_ms)
        return VODQ_OK;
    s->last_progress_ms = now;
    double pct = total > 0 ? (double)done * 100.0 / (double)total : 0;
    if (pct > 99.9 && done < total)
        pct = 99.9;
    if (pct > 100)
        pct = 100;
    char p[32], data[1024];
    snprintf(p, sizeof(p), "%.1f", pct);
    /* extra is a JSON object: merge by splicing its members after ours */
    const char *inner = "";
    size_t inner_len = 0;
    if (extra && extra[0] == '{') {
        inner = extra + 1;
        inner_len = strlen(inner);
        while (inner_len && inner[inner_len - 1] != '}')
            inner_len--;
        if (inner_len)
            inner_len--; /* drop the closing brace */
    }
    snprintf(data, sizeof(data), "{\"done\":%lld,\"total\":%lld,\"percent\":%s%s%.*s}",
             (long long)done, (long long)total, p, inner_len ? "," : "", (int)inner_len, inner);
    return report(s, "progress", p, data);
}

static enum vodq_rc io_event(void *opaque, const char *name, const char *json)
{
    struct slot *s = opaque;
    enum vodq_rc rc = report(s, "event", name, json && *json ? json : "{}");
    if (rc == VODQ_OK && !strcmp(name, "token_expired"))
        s->reported = 2;
    if (!strcmp(name, "token_expired"))
        vodq_metric_add(VODQ_M_TOKEN_EXPIRED, 1);
    return rc;
}

static enum vodq_ctl io_control(void *opaque)
{
    struct slot *s = opaque;
    if (atomic_load(&s->fenced) || atomic_load(&s->timed_out) || atomic_load(&s->w->finished))
        return VODQ_CTL_YIELD;
    enum vodq_ctl c = atomic_load(&s->desired);
    if (c == VODQ_CTL_PAUSE)
        report_state(s, 1);
    else if (c == VODQ_CTL_RUN && s->reported == 1)
        report_state(s, 0);
    return c;
}

static enum vodq_ctl io_wait(void *opaque, int timeout_ms)
{
    struct slot *s = opaque;
    enum vodq_ctl before = io_control(s);
    long long av = atomic_load(&s->auth_version);
    struct timespec dl;
    vodq_deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->w->mu);
    while (atomic_load(&s->desired) == (int)before && atomic_load(&s->auth_version) == av &&
           !atomic_load(&s->fenced) && !atomic_load(&s->timed_out) &&
           !atomic_load(&s->w->finished)) {
        if (pthread_cond_timedwait(&s->cv, &s->w->mu, &dl) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&s->w->mu);
    return io_control(s);
}

static char *io_take_auth(void *opaque)
{
    struct slot *s = opaque;
    long long v = atomic_load(&s->auth_version);
    if (v <= s->t.auth_seen)
        return NULL;
    struct vodq_redis *r = slot_redis(s);
    if (!r)
        return NULL;
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&s->w->q, key, sizeof(key), VODQ_KEY_JOB, s->t.job);
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_redis_cmd(r, &err, "HMGET %s auth auth_version", key);
    char *out = NULL;
    if (rep && rep->type == VODQ_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->str) {
        const char *a = rep->element[0]->str;
        /* sealed by vodqctl refresh-auth when it has the keyring */
        out = vodq_sealed(a) ? vodq_unseal(s->w->q.keys, a, &err) : strdup(a);
        if (!out && err.code)
            vodq_warn("job %s: new credentials unusable: %s", s->t.job, err.msg);
        s->t.auth_seen = vodq_reply_int(rep->element[1], v);
    }
    vodq_reply_free(rep);
    if (out && s->reported == 2)
        report_state(s, 0);
    return out;
}

/* Checkpoint in the hash ckpt:<job>: the slot's connection and the key. */
static struct vodq_redis *ck_redis(struct slot *s, char *key, struct vodq_err *err)
{
    struct vodq_redis *r = slot_redis(s);
    if (!r)
        vodq_err_set(err, VODQ_ERR_IO, 0, "redis unavailable");
    vodq_queue_key(&s->w->q, key, VODQ_KEY_MAX, VODQ_KEY_CKPT, s->t.job);
    return r;
}

static enum vodq_rc ck_load(void *opaque, void (*fn)(void *, const char *, const char *), void *arg,
                            struct vodq_err *err)
{
    struct slot *s = opaque;
    char key[VODQ_KEY_MAX];
    struct vodq_redis *r = ck_redis(s, key, err);
    if (!r)
        return err ? err->code : VODQ_ERR_IO;
    struct vodq_reply *rep = vodq_redis_cmd(r, err, "HGETALL %s", key);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    if (rep->type == VODQ_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < rep->elements; i += 2)
            fn(arg, rep->element[i]->str ? rep->element[i]->str : "",
               rep->element[i + 1]->str ? rep->element[i + 1]->str : "");
    vodq_reply_free(rep);
    return VODQ_OK;
}

/* Checkpoint writes go through ckpt.lua, fenced like every other write of a task. */
static enum vodq_rc ck_write(struct slot *s, const char *op, const char *const *fields,
                             const char *const *values, size_t n, struct vodq_err *err)
{
    if (atomic_load(&s->fenced))
        return vodq_err_set(err, VODQ_ERR_FENCED, 0, "lease lost");
    struct vodq_redis *r = slot_redis(s);
    if (!r)
        return vodq_err_set(err, VODQ_ERR_IO, 0, "redis unavailable");
    char nbuf[24];
    snprintf(nbuf, sizeof(nbuf), "%zu", n);
    size_t argc = 4 + 2 * n;
    const char **argv = calloc(argc, sizeof(*argv));
    if (!argv)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    argv[0] = s->t.job;
    argv[1] = s->t.fence;
    argv[2] = op;
    argv[3] = nbuf;
    for (size_t i = 0; i < n; i++) {
        argv[4 + 2 * i] = fields[i];
        argv[5 + 2 * i] = values[i];
    }
    struct vodq_reply *rep =
        vodq_proto_call_once(r, &s->ch, &s->w->q, VODQ_LUA_CKPT, (int)argc, argv, NULL, 3, err);
    free(argv);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    struct vodq_proto_lease l;
    enum vodq_rc rc = VODQ_OK;
    if (!vodq_proto_lease_decode(rep, &l))
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "checkpoint: unexpected reply");
    else if (l.fenced) {
        atomic_store(&s->fenced, true);
        rc = vodq_err_set(err, VODQ_ERR_FENCED, 0, "checkpoint: lease lost");
    }
    vodq_reply_free(rep);
    return rc;
}

static enum vodq_rc ck_save(void *opaque, const char *const *fields, const char *const *values,
                            size_t n, struct vodq_err *err)
{
    if (n == 0)
        return VODQ_OK;
    return ck_write(opaque, "save", fields, values, n, err);
}

static enum vodq_rc ck_clear(void *opaque, struct vodq_err *err)
{
    return ck_write(opaque, "clear", NULL, NULL, 0, err);
}

#define TAIL_ONLY VODQ_ERR__COUNT

/* Fills d for an engine's plain outcome: "ok" (result and export) or "fail"
 * (rc TAIL_ONLY only adds the common tail to an outcome set by the caller). */
static void done_result(struct done *d, enum vodq_task_type pool, enum vodq_rc rc,
                        struct vodq_task_result *res, const struct vodq_err *err, int attempt)
{
    if (rc == VODQ_OK) {
        strcpy(d->outcome, "ok");
        d->a1 = res->result_json ? res->result_json : strdup("{}");
        res->result_json = NULL;
        char out[4096] = "";
        /* a job's export (what a later upload of its session takes): the "output" of
         * its result, for every type but upload */
        if (pool != VODQ_TASK_UPLOAD && strstr(d->a1, "\"output\""))
            vodq_json_get_string(d->a1, "output", out, sizeof(out));
        d->a2 = strdup(out);
    } else if (rc != TAIL_ONLY) {
        strcpy(d->outcome, "fail");
        d->a1 = strdup(vodq_rc_name(err->code ? err->code : rc));
        d->a2 = strdup(err->msg[0] ? err->msg : vodq_strerror(rc));
        strcpy(d->a3, vodq_err_retryable(err) ? "1" : "0");
        vodq_warn("job %s: attempt %d failed: %s", d->job, attempt, d->a2);
    }
    free(res->result_json);
    res->result_json = NULL;
    /* the jitter in [0,1) with 6 decimals, formatted without floating point */
    snprintf(d->a4, sizeof(d->a4), "0.%06d", rand() % 1000000);
    if (!d->a1)
        d->a1 = strdup("");
    if (!d->a2)
        d->a2 = strdup("");
}

struct done *vodq_wk_instant_done(enum vodq_task_type lane, const struct vodq_proto_task *pt,
                                  char *result)
{
    struct done *d = calloc(1, sizeof(*d));
    if (!d)
        abort(); /* daemon: out of memory */
    d->type = lane;
    snprintf(d->job, sizeof(d->job), "%s", pt->job);
    snprintf(d->fence, sizeof(d->fence), "%s", pt->fence);
    struct vodq_task_result res = {.result_json = result};
    struct vodq_err err = {0};
    done_result(d, vodq_wk_pool_of(lane), VODQ_OK, &res, &err, pt->attempt);
    return d;
}

/* A compose section whose Aliyun timeline may name MediaIds (or names a
 * timeline file) gets the queue's media map (hash VODQ_KEY_MEDIA, kept with
 * vodqctl media) as "media_map"; the spec's own entries win. Returns the
 * section to use (section itself when nothing was added). */
static char *with_media_map(struct slot *s, char *section)
{
    if (!strcasestr(section, "mediaid") && !strcasestr(section, "imageid") &&
        !strcasestr(section, "videoid") && !strstr(section, "\"timeline_file\""))
        return section;
    struct vodq_redis *r = slot_redis(s);
    char key[VODQ_KEY_MAX];
    struct vodq_err err = {0};
    vodq_queue_key(&s->w->q, key, sizeof(key), VODQ_KEY_MEDIA, NULL);
    struct vodq_reply *rep = r ? vodq_redis_cmd(r, &err, "HGETALL %s", key) : NULL;
    cJSON *sec = NULL;
    char *out = NULL;
    if (rep && rep->type == VODQ_REPLY_ARRAY && rep->elements >= 2 &&
        (sec = cJSON_Parse(section)) != NULL && cJSON_IsObject(sec)) {
        cJSON *map = cJSON_GetObjectItemCaseSensitive(sec, "media_map");
        if (map == NULL)
            map = cJSON_AddObjectToObject(sec, "media_map");
        for (size_t i = 0; cJSON_IsObject(map) && i + 1 < rep->elements; i += 2)
            if (!cJSON_GetObjectItemCaseSensitive(map, rep->element[i]->str))
                cJSON_AddStringToObject(map, rep->element[i]->str, rep->element[i + 1]->str);
        out = cJSON_PrintUnformatted(sec);
    } else if (!rep) {
        vodq_warn("media map %s: %s", key, err.msg);
    }
    cJSON_Delete(sec);
    vodq_reply_free(rep);
    if (out == NULL)
        return section;
    free(section);
    return out;
}

/* Runs the slot's task; returns what the completer must report (NULL when
 * the lease was lost and nothing may be written). */
static struct done *run_task(struct slot *s)
{
    struct vodq_worker *w = s->w;
    struct task *t = &s->t;
    const char *type = vodq_task_section(s->type);
    struct done *d = calloc(1, sizeof(*d));
    if (!d)
        abort(); /* daemon: out of memory */
    d->type = t->lane;
    snprintf(d->job, sizeof(d->job), "%s", t->job);
    snprintf(d->fence, sizeof(d->fence), "%s", t->fence);

    struct vodq_ckpt ck = {.opaque = s, .load = ck_load, .save = ck_save, .clear = ck_clear};
    struct vodq_task_io io = {
        .opaque = s,
        .progress = io_progress,
        .event = io_event,
        .control = io_control,
        .wait = io_wait,
        .take_auth = io_take_auth,
        .ckpt = &ck,
        .roots = w->cfg.roots,
        .job_id = t->job,
        .attempt = t->attempt,
        .max_attempts = t->max_attempts,
    };
    struct vodq_task_result res = {0};
    struct vodq_err err = {0};
    enum vodq_rc rc;
    const char *set_file =
        s->type == VODQ_TASK_UPLOAD && t->last_export && t->last_export[0] ? t->last_export : NULL;
    char *section = vodq_job_spec_section(t->spec, type, set_file);
    bool sealed_bad = false;
    if (section && strstr(section, VODQ_SEAL_PREFIX)) {
        /* credentials stored sealed: opened here, only in this process's memory */
        char *open = vodq_unseal_spec(w->q.keys, section, &err);
        free(section);
        section = open;
        sealed_bad = open == NULL;
    }
    if (section && s->type == VODQ_TASK_UPLOAD && t->auth_seen > 0) {
        /* credentials from refresh-auth replace those of the spec: a task
         * parked in waiting_auth resumes with the new ones */
        long long seen = t->auth_seen;
        t->auth_seen = 0;
        char *auth = io_take_auth(s);
        char *patched = auth ? vodq_job_section_with_auth(section, auth) : NULL;
        if (patched) {
            free(section);
            section = patched;
        } else {
            t->auth_seen = seen;
        }
        free(auth);
    }
    if (section && (s->type == VODQ_TASK_COMPOSE || s->type == VODQ_TASK_COMPOSE_GPU))
        section = with_media_map(s, section);
    if (sealed_bad) {
        rc = VODQ_ERR_INVALID;
        err.permanent = true;
    } else if (!section) {
        rc = vodq_err_set(&err, VODQ_ERR_INVALID, 0, "%s: missing from the job spec", type);
        err.permanent = true;
    } else if (s->type == VODQ_TASK_UPLOAD && !vodq_json_has(section, "file")) {
        rc = vodq_err_set(&err, VODQ_ERR_NOTFOUND, 0,
                          "upload.file: none given and session '%s' has no export yet",
                          t->session);
    } else if (!w->cfg.exec[s->type]) {
        rc = vodq_err_set(&err, VODQ_ERR_INVALID, 0, "this worker has no %s engine", type);
    } else {
        rc = w->cfg.exec[s->type](section, &io, &res, &err);
    }
    free(section);

    if (atomic_load(&s->fenced)) {
        vodq_info("job %s: lease lost, result dropped (a newer attempt owns it)", t->job);
        free(res.result_json);
        free(d);
        return NULL;
    }
    if (rc == VODQ_OK) {
        done_result(d, s->type, rc, &res, &err, t->attempt);
        return d;
    } else if (rc == VODQ_ERR_CANCELLED) {
        strcpy(d->outcome, "cancelled");
    } else if (rc == VODQ_ERR_PAUSED && atomic_load(&s->timed_out)) {
        strcpy(d->outcome, "fail");
        d->a1 = strdup("timeout");
        char m[128];
        snprintf(m, sizeof(m), "ran past its timeout of %lld ms", (long long)t->timeout_ms);
        d->a2 = strdup(m);
        strcpy(d->a3, "1");
    } else if (rc == VODQ_ERR_PAUSED || (rc == VODQ_ERR_AUTH && s->reported == 2)) {
        strcpy(d->outcome, "handback");
        d->a1 = strdup(rc == VODQ_ERR_AUTH ? "waiting_auth" : "queued");
        char v[24];
        snprintf(v, sizeof(v), "%lld", t->auth_seen);
        d->a2 = strdup(v);
    } else {
        done_result(d, s->type, rc, &res, &err, t->attempt);
        return d;
    }
    done_result(d, s->type, TAIL_ONLY, &res, &err, t->attempt);
    return d;
}

/* Logs a task's start and end (with the job, type and attempt on every
 * line between: thread-local log context) and counts it for /metrics. */
static int64_t task_begin(struct slot *s)
{
    vodq_log_context_set(s->t.job, vodq_task_type_name(s->type), s->t.attempt);
    vodq_metric_task_start(s->type);
    vodq_info("job %s: %s attempt %d started", s->t.job, vodq_task_type_name(s->type),
              s->t.attempt);
    return vodq_now_ms();
}

static void task_end(struct slot *s, const struct done *d, int64_t t0)
{
    long long ms = (long long)(vodq_now_ms() - t0);
    const char *outcome = d ? d->outcome : "dropped";
    vodq_metric_task_end(s->type, outcome, ms);
    vodq_info("job %s: %s attempt %d ended: %s in %lld ms", s->t.job, vodq_task_type_name(s->type),
              s->t.attempt, outcome, ms);
    vodq_log_context_clear();
}


void *vodq_wk_slot_main(void *arg)
{
    struct slot *s = arg;
    struct vodq_worker *w = s->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (s->phase != SLOT_BUSY && !atomic_load(&w->finished))
            pthread_cond_wait(&s->cv, &w->mu);
        if (s->phase != SLOT_BUSY)
            break;
        pthread_mutex_unlock(&w->mu);
        int64_t t0 = task_begin(s);
        struct done *d = run_task(s);
        task_end(s, d, t0);
        vodq_wk_task_clear(&s->t);
        /* With few slots, report the result and claim the next task in the
         * same round trip on this slot's own connection: no thread hand-off
         * per job. The slot stays reserved (not in free_slots) for that
         * claim. With many slots the completer batches results instead
         * (one script for many jobs beats many small ones). */
        pthread_mutex_lock(&w->mu);
        s->phase = SLOT_IDLE;
        pthread_mutex_unlock(&w->mu);
        int got = -1;
        bool self = w->cfg.slots[s->type] <= SELF_STEP_MAX_SLOTS;
        struct vodq_redis *r = d && self ? slot_redis(s) : NULL;
        if (r) {
            int want = atomic_load(&w->stopping) ? 0 : 1;
            got = vodq_wk_step(w, r, &s->ch, d->type, &d, 1, want, NULL, 0, NULL);
        }
        pthread_mutex_lock(&w->mu);
        if (got >= 0) {
            w->free_slots[s->type] += 1 - got;
            vodq_wk_done_free(d);
            d = NULL;
            pthread_cond_broadcast(&w->claim_cv);
            continue;
        }
        /* many slots, or Redis unavailable: the completer reports it */
        w->free_slots[s->type]++;
        if (d) {
            if (w->done_tail)
                w->done_tail->next = d;
            else
                w->done_head = d;
            w->done_tail = d;
            pthread_cond_signal(&w->done_cv);
        } else {
            pthread_cond_broadcast(&w->claim_cv);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}
