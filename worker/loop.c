/* loop.c: the worker runtime.
 *
 * Threads: one per slot (runs an engine), one claimer per served task type
 * (claims for idle slots; blocks in XREADGROUP when the queue is empty),
 * one completer (reports finished tasks and, in the same Lua call, claims
 * the next ones for the freed slots: one round trip per batch), one
 * heartbeat (worker record, lease renewal, control and timeout checks) and
 * one subscriber (control messages on the ctl channel). Each thread that
 * talks to Redis owns its connection. */
#include "worker/loop.h"

#include "shared/keys.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SELF_STEP_MAX_SLOTS 2 /* slots of one type that report and claim by themselves */

enum slot_phase { SLOT_IDLE, SLOT_BUSY, SLOT_DONE };

struct task {
    char job[VODQ_ID_MAX + 1];
    char entry[48];
    char fence[24];
    int attempt;
    char *spec;          /* full job spec JSON; owned */
    int64_t timeout_ms;
    long long auth_seen; /* auth_version when claimed or last taken */
    char session[VODQ_ID_MAX + 1];
    char *last_export;   /* session's last export path; owned */
};

/* What a slot hands to the completer. */
struct done {
    enum vodq_task_type type;
    char job[VODQ_ID_MAX + 1];
    char fence[24];
    char outcome[12];    /* ok, fail, cancelled, handback */
    char *a1;            /* owned */
    char *a2;            /* owned */
    char a3[4];
    char a4[24];
    struct done *next;
};

struct slot {
    struct vodq_worker *w;
    int idx;
    enum vodq_task_type type;
    pthread_t th;
    pthread_cond_t cv;            /* new task, control change; waits use w->mu */
    enum slot_phase phase;        /* under w->mu */
    struct task t;                /* valid while BUSY */
    atomic_int desired;           /* enum vodq_ctl */
    atomic_bool fenced;           /* lease lost */
    atomic_bool timed_out;        /* ran past timeout_ms */
    atomic_llong auth_version;    /* newest auth_version known in Redis */
    int64_t started_ms;
    int64_t last_progress_ms;
    int reported;                 /* state last written: 0 active, 1 paused, 2 waiting_auth */
    struct vodq_redis *r;         /* this slot's connection, made on first use */
};

struct vodq_worker {
    struct vodq_worker_config cfg;
    struct vodq_queue q;
    char id[160];
    struct slot *slots;
    int n_slots;
    pthread_mutex_t mu;
    pthread_cond_t done_cv;       /* done list not empty */
    pthread_cond_t claim_cv;      /* free slots changed */
    struct done *done_head, *done_tail;
    int free_slots[VODQ_TASK__COUNT]; /* idle and not reserved by a claim */
    atomic_bool stopping;         /* stop claiming */
    atomic_bool finished;         /* all threads should exit */
    struct vodq_redis *_Atomic sub_r; /* the subscriber's connection (to interrupt it) */
    char caps[1024];              /* capability JSON */
};

static void nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static struct vodq_redis *connect_redis(struct vodq_worker *w, int timeout_ms)
{
    struct vodq_redis_opts o = {.url = w->cfg.redis_url, .command_timeout_ms = timeout_ms};
    struct vodq_err err = {0};
    struct vodq_redis *r = vodq_redis_new(&o, &err);
    if (!r)
        vodq_error("redis: %s", err.msg);
    return r;
}

static struct vodq_redis *slot_redis(struct slot *s)
{
    if (!s->r)
        s->r = connect_redis(s->w, 5000);
    return s->r;
}

static void task_clear(struct task *t)
{
    free(t->spec);
    free(t->last_export);
    memset(t, 0, sizeof(*t));
}

static enum vodq_ctl ctl_from(const char *desired)
{
    if (!desired)
        return VODQ_CTL_RUN;
    if (!strcmp(desired, "pause"))
        return VODQ_CTL_PAUSE;
    if (!strcmp(desired, "cancel"))
        return VODQ_CTL_CANCEL;
    return VODQ_CTL_RUN;
}

/* Applies a {status, desired, auth_version} triple from report/heartbeat. */
static void apply_control(struct slot *s, const struct vodq_reply *rep)
{
    const char *status = vodq_reply_str(rep, 0);
    const char *desired = vodq_reply_str(rep, 1);
    const char *authv = vodq_reply_str(rep, 2);
    if (status && !strcmp(status, "fenced")) {
        atomic_store(&s->fenced, true);
    } else if (desired) {
        int d = ctl_from(desired);
        int cur = atomic_load(&s->desired);
        if (cur != VODQ_CTL_YIELD && cur != d)
            atomic_store(&s->desired, d);
    }
    if (authv) {
        long long v = atoll(authv);
        if (v > atomic_load(&s->auth_version))
            atomic_store(&s->auth_version, v);
    }
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
    struct vodq_reply *rep = vodq_proto_call(r, &s->w->q, VODQ_LUA_REPORT, 5, args, NULL, &err);
    if (!rep) {
        vodq_warn("job %s: report %s: %s", s->t.job, kind, err.msg);
        return err.code; /* Redis down: keep working, the lease decides */
    }
    apply_control(s, rep);
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
    deadline_in(&dl, timeout_ms);
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
        out = strdup(rep->element[0]->str);
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

static enum vodq_rc ck_save(void *opaque, const char *const *fields, const char *const *values,
                            size_t n, struct vodq_err *err)
{
    struct slot *s = opaque;
    if (atomic_load(&s->fenced))
        return vodq_err_set(err, VODQ_ERR_FENCED, 0, "lease lost");
    if (n == 0)
        return VODQ_OK;
    char key[VODQ_KEY_MAX];
    struct vodq_redis *r = ck_redis(s, key, err);
    if (!r)
        return err ? err->code : VODQ_ERR_IO;
    size_t argc = 2 + 2 * n;
    const char **argv = calloc(argc, sizeof(*argv));
    if (!argv)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    argv[0] = "HSET";
    argv[1] = key;
    for (size_t i = 0; i < n; i++) {
        argv[2 + 2 * i] = fields[i];
        argv[3 + 2 * i] = values[i];
    }
    struct vodq_reply *rep = vodq_redis_argv(r, (int)argc, argv, NULL, err);
    free(argv);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    enum vodq_rc rc = VODQ_OK;
    if (rep->type == VODQ_REPLY_ERROR)
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "checkpoint: %s", rep->str);
    vodq_reply_free(rep);
    return rc;
}

static enum vodq_rc ck_clear(void *opaque, struct vodq_err *err)
{
    struct slot *s = opaque;
    char key[VODQ_KEY_MAX];
    struct vodq_redis *r = ck_redis(s, key, err);
    if (!r)
        return err ? err->code : VODQ_ERR_IO;
    struct vodq_reply *rep = vodq_redis_cmd(r, err, "DEL %s", key);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    vodq_reply_free(rep);
    return VODQ_OK;
}

/* ---- slots ---------------------------------------------------------- */

static int step(struct vodq_worker *w, struct vodq_redis *r, enum vodq_task_type type,
                struct done **ds, int m, int want, const char **ids, int k);
static void done_free(struct done *d);

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
    d->type = s->type;
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
        .job_id = t->job,
        .attempt = t->attempt,
    };
    struct vodq_task_result res = {0};
    struct vodq_err err = {0};
    enum vodq_rc rc;
    const char *set_file =
        s->type == VODQ_TASK_UPLOAD && t->last_export && t->last_export[0] ? t->last_export : NULL;
    char *section = vodq_job_spec_section(t->spec, type, set_file);
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
    if (!section) {
        rc = vodq_err_set(&err, VODQ_ERR_INVALID, 0, "%s: missing from the job spec", type);
        err.permanent = true;
    } else if (s->type == VODQ_TASK_UPLOAD && !strstr(section, "\"file\"")) {
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
        strcpy(d->outcome, "ok");
        d->a1 = res.result_json ? res.result_json : strdup("{}");
        res.result_json = NULL;
        char out[4096] = "";
        if (s->type == VODQ_TASK_COMPOSE || s->type == VODQ_TASK_COMPOSE_GPU)
            vodq_json_get_string(d->a1, "output", out, sizeof(out));
        d->a2 = strdup(out);
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
        strcpy(d->outcome, "fail");
        d->a1 = strdup(vodq_rc_name(err.code ? err.code : rc));
        d->a2 = strdup(err.msg[0] ? err.msg : vodq_strerror(rc));
        strcpy(d->a3, vodq_err_retryable(&err) ? "1" : "0");
        vodq_warn("job %s: attempt %d failed: %s", t->job, t->attempt, d->a2);
    }
    free(res.result_json);
    snprintf(d->a4, sizeof(d->a4), "%.6f", (double)rand() / ((double)RAND_MAX + 1.0));
    if (!d->a1)
        d->a1 = strdup("");
    if (!d->a2)
        d->a2 = strdup("");
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

static void *slot_main(void *arg)
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
        task_clear(&s->t);
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
            got = step(w, r, s->type, &d, 1, want, NULL, 0);
        }
        pthread_mutex_lock(&w->mu);
        if (got >= 0) {
            w->free_slots[s->type] += 1 - got;
            done_free(d);
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

/* Gives claimed tasks (the 2nd element of a step reply) to idle slots.
 * Called with w->mu NOT held; returns how many were handed out. */
static int dispatch(struct vodq_worker *w, enum vodq_task_type type, const struct vodq_reply *tasks)
{
    if (!tasks || tasks->type != VODQ_REPLY_ARRAY)
        return 0;
    int n = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < tasks->elements; i++) {
        const struct vodq_reply *e = tasks->element[i];
        if (e->type != VODQ_REPLY_ARRAY || e->elements < 10)
            continue;
        struct slot *s = NULL;
        for (int k = 0; k < w->n_slots && !s; k++)
            if (w->slots[k].type == type && w->slots[k].phase == SLOT_IDLE)
                s = &w->slots[k];
        if (!s) { /* cannot happen: we only claim for reserved idle slots */
            vodq_error("no idle %s slot for job %s", vodq_task_type_name(type),
                       vodq_reply_str(e, 0));
            continue;
        }
        struct task *t = &s->t;
        snprintf(t->job, sizeof(t->job), "%s", vodq_reply_str(e, 0));
        snprintf(t->entry, sizeof(t->entry), "%s", vodq_reply_str(e, 1));
        snprintf(t->fence, sizeof(t->fence), "%s", vodq_reply_str(e, 2));
        t->attempt = atoi(vodq_reply_str(e, 3));
        t->spec = strdup(vodq_reply_str(e, 4));
        t->timeout_ms = atoll(vodq_reply_str(e, 5));
        atomic_store(&s->desired, ctl_from(vodq_reply_str(e, 6)));
        t->auth_seen = atoll(vodq_reply_str(e, 7));
        atomic_store(&s->auth_version, t->auth_seen);
        snprintf(t->session, sizeof(t->session), "%s", vodq_reply_str(e, 8));
        t->last_export = strdup(vodq_reply_str(e, 9));
        atomic_store(&s->fenced, false);
        atomic_store(&s->timed_out, false);
        s->started_ms = vodq_now_ms();
        s->last_progress_ms = 0;
        s->reported = 0;
        s->phase = SLOT_BUSY;
        pthread_cond_signal(&s->cv);
        n++;
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* One step call: finishes `m` done records of `type` and claims `want`
 * (or starts the k entries in ids). Returns tasks handed out, or -1. */
static int step(struct vodq_worker *w, struct vodq_redis *r, enum vodq_task_type type,
                struct done **ds, int m, int want, const char **ids, int k)
{
    int nargs = 5 + k + m * 8;
    const char **args = calloc((size_t)nargs, sizeof(*args));
    if (!args)
        abort();
    char wantbuf[16], kbuf[16], mbuf[16];
    snprintf(wantbuf, sizeof(wantbuf), "%d", want);
    snprintf(kbuf, sizeof(kbuf), "%d", k);
    snprintf(mbuf, sizeof(mbuf), "%d", m);
    int a = 0;
    args[a++] = w->id;
    args[a++] = vodq_task_type_name(type);
    args[a++] = wantbuf;
    args[a++] = kbuf;
    for (int i = 0; i < k; i++)
        args[a++] = ids[i];
    args[a++] = mbuf;
    for (int i = 0; i < m; i++) {
        args[a++] = ds[i]->job;
        args[a++] = ds[i]->fence;
        args[a++] = ds[i]->outcome;
        args[a++] = ds[i]->a1;
        args[a++] = ds[i]->a2;
        args[a++] = ds[i]->a3;
        args[a++] = ds[i]->a4;
        args[a++] = "";
    }
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_proto_call(r, &w->q, VODQ_LUA_STEP, nargs, args, NULL, &err);
    free(args);
    if (!rep) {
        vodq_warn("step (%s): %s", vodq_task_type_name(type), err.msg);
        return -1;
    }
    int got = 0;
    if (rep->type == VODQ_REPLY_ARRAY && rep->elements == 2) {
        const struct vodq_reply *st = rep->element[0];
        for (size_t i = 0; i < st->elements && (int)i < m; i++)
            if (st->element[i]->str && !strcmp(st->element[i]->str, "fenced"))
                vodq_info("job %s: finish dropped: a newer attempt owns it", ds[i]->job);
        got = dispatch(w, type, rep->element[1]);
    }
    vodq_reply_free(rep);
    return got;
}

static void done_free(struct done *d)
{
    if (!d)
        return;
    free(d->a1);
    free(d->a2);
    free(d);
}

#define STEP_BATCH 64

static void *completer_main(void *arg)
{
    struct vodq_worker *w = arg;
    struct vodq_redis *r = connect_redis(w, 10000);
    if (!r)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->done_head && !atomic_load(&w->finished)) {
            struct timespec dl;
            deadline_in(&dl, 200);
            pthread_cond_timedwait(&w->done_cv, &w->mu, &dl);
        }
        struct done *list = w->done_head;
        w->done_head = w->done_tail = NULL;
        int want[VODQ_TASK__COUNT] = {0};
        if (!atomic_load(&w->stopping))
            for (int t = 0; t < VODQ_TASK__COUNT; t++) {
                want[t] = w->free_slots[t];
                w->free_slots[t] = 0;
            }
        pthread_mutex_unlock(&w->mu);
        if (!list && atomic_load(&w->finished))
            break;

        for (int t = 0; t < VODQ_TASK__COUNT; t++) {
            struct done *batch[STEP_BATCH];
            int m = 0, handed = 0;
            bool any = false;
            for (struct done *d = list; d; d = d->next)
                any |= d->type == (enum vodq_task_type)t;
            if (!any && want[t] == 0)
                continue;
            struct done *d = list;
            do {
                m = 0;
                for (; d && m < STEP_BATCH; d = d->next)
                    if (d->type == (enum vodq_task_type)t)
                        batch[m++] = d;
                int w_now = want[t] - handed;
                int got = -1;
                for (int tries = 0; got < 0; tries++) {
                    got = step(w, r, (enum vodq_task_type)t, batch, m, w_now, NULL, 0);
                    if (got < 0) { /* Redis down: keep the results, retry */
                        if (atomic_load(&w->finished) && tries > 20)
                            break;
                        nap_ms(tries < 10 ? 100 : 1000);
                    }
                }
                if (got > 0)
                    handed += got;
            } while (d);
            pthread_mutex_lock(&w->mu);
            w->free_slots[t] += want[t] - handed;
            pthread_cond_broadcast(&w->claim_cv);
            pthread_mutex_unlock(&w->mu);
        }
        while (list) {
            struct done *n = list->next;
            done_free(list);
            list = n;
        }
    }
    vodq_redis_free(r);
    return NULL;
}

struct claimer {
    struct vodq_worker *w;
    enum vodq_task_type type;
    pthread_t th;
};

static void *claimer_main(void *arg)
{
    struct claimer *c = arg;
    struct vodq_worker *w = c->w;
    struct vodq_redis *r = connect_redis(w, (int)w->cfg.block_ms + 5000);
    if (!r)
        return NULL;
    char skey[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, skey, sizeof(skey), VODQ_KEY_TASKS, vodq_task_type_name(c->type));
    while (!atomic_load(&w->stopping)) {
        pthread_mutex_lock(&w->mu);
        while (!atomic_load(&w->stopping) && (w->free_slots[c->type] == 0 || w->done_head)) {
            struct timespec dl;
            deadline_in(&dl, 100);
            pthread_cond_timedwait(&w->claim_cv, &w->mu, &dl);
        }
        int n = atomic_load(&w->stopping) ? 0 : w->free_slots[c->type];
        w->free_slots[c->type] -= n;
        pthread_mutex_unlock(&w->mu);
        if (n == 0)
            break;
        int got = step(w, r, c->type, NULL, 0, n, NULL, 0);
        if (got == 0) {
            /* queue empty: block for new entries */
            char count[16], block[24];
            snprintf(count, sizeof(count), "%d", n);
            snprintf(block, sizeof(block), "%lld", (long long)w->cfg.block_ms);
            const char *argv[] = {"XREADGROUP", "GROUP", VODQ_GROUP_WORKERS, w->id, "COUNT", count,
                                  "BLOCK", block, "STREAMS", skey, ">"};
            struct vodq_err err = {0};
            struct vodq_reply *rep = vodq_redis_argv(r, 11, argv, NULL, &err);
            if (!rep) {
                vodq_warn("claim: %s", err.msg);
                got = -1;
            } else if (rep->type == VODQ_REPLY_ERROR && strstr(rep->str, "NOGROUP")) {
                vodq_proto_ensure_groups(r, &w->q, &err);
            } else if (rep->type == VODQ_REPLY_ARRAY && rep->elements == 1) {
                const struct vodq_reply *entries = rep->element[0]->element[1];
                const char *ids[STEP_BATCH * 4];
                int k = 0;
                for (size_t i = 0; i < entries->elements && k < (int)(sizeof(ids) / sizeof(ids[0])); i++)
                    ids[k++] = entries->element[i]->element[0]->str;
                got = step(w, r, c->type, NULL, 0, 0, ids, k);
                if (got < 0)
                    got = 0; /* entries stay pending; the reclaimer returns them */
            }
            vodq_reply_free(rep);
        }
        if (got < 0) {
            nap_ms(500);
            got = 0;
        }
        pthread_mutex_lock(&w->mu);
        w->free_slots[c->type] += n - got;
        pthread_mutex_unlock(&w->mu);
    }
    vodq_redis_free(r);
    return NULL;
}

/* ---- heartbeat and control ----------------------------------------- */

static void heartbeat_once(struct vodq_worker *w, struct vodq_redis *r)
{
    const char **args = calloc((size_t)(4 + 3 * w->n_slots), sizeof(*args));
    struct slot **busy = calloc((size_t)w->n_slots + 1, sizeof(*busy));
    char (*jobs)[VODQ_ID_MAX + 1] = calloc((size_t)w->n_slots + 1, sizeof(*jobs));
    char (*fences)[24] = calloc((size_t)w->n_slots + 1, sizeof(*fences));
    if (!args || !busy || !jobs || !fences)
        abort();
    int n = 0;
    int64_t now = vodq_now_ms();
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->phase != SLOT_BUSY)
            continue;
        if (s->t.timeout_ms > 0 && now - s->started_ms > s->t.timeout_ms &&
            !atomic_load(&s->timed_out)) {
            atomic_store(&s->timed_out, true);
            pthread_cond_broadcast(&s->cv);
        }
        memcpy(jobs[n], s->t.job, sizeof(jobs[n]));
        memcpy(fences[n], s->t.fence, sizeof(fences[n]));
        busy[n++] = s;
    }
    pthread_mutex_unlock(&w->mu);
    char ttl[24], nbuf[16];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(w->cfg.heartbeat_ms * 30 / 1000 + 60));
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    char info[2048];
    snprintf(info, sizeof(info), "{\"id\":\"%s\",\"pid\":%d,\"version\":\"%s\",\"running\":%d,%s",
             w->id, (int)getpid(), VODQ_VERSION, n, w->caps + 1);
    int a = 0;
    args[a++] = w->id;
    args[a++] = info;
    args[a++] = ttl;
    args[a++] = nbuf;
    for (int i = 0; i < n; i++) {
        args[a++] = jobs[i];
        args[a++] = fences[i];
        args[a++] = vodq_task_type_name(busy[i]->type);
    }
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_proto_call(r, &w->q, VODQ_LUA_HEARTBEAT, a, args, NULL, &err);
    if (!rep) {
        vodq_warn("heartbeat: %s", err.msg);
    } else {
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < n && i < (int)rep->elements; i++) {
            struct slot *s = busy[i];
            if (s->phase == SLOT_BUSY && !strcmp(s->t.job, jobs[i])) {
                apply_control(s, rep->element[i]);
                pthread_cond_broadcast(&s->cv);
            }
        }
        pthread_mutex_unlock(&w->mu);
        vodq_reply_free(rep);
    }
    free(args);
    free(busy);
    free(jobs);
    free(fences);
}

static void *heartbeat_main(void *arg)
{
    struct vodq_worker *w = arg;
    struct vodq_redis *r = connect_redis(w, 5000);
    if (!r)
        return NULL;
    while (!atomic_load(&w->finished)) {
        heartbeat_once(w, r);
        for (int64_t t = 0; t < w->cfg.heartbeat_ms && !atomic_load(&w->finished); t += 50)
            nap_ms(50);
    }
    vodq_redis_free(r);
    return NULL;
}

static void on_ctl(struct vodq_worker *w, const char *msg)
{
    char job[VODQ_ID_MAX + 1], cmd[32];
    if (sscanf(msg, "%128s %31s", job, cmd) != 2)
        return;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->phase != SLOT_BUSY || strcmp(s->t.job, job) != 0)
            continue;
        if (!strcmp(cmd, "pause"))
            atomic_store(&s->desired, VODQ_CTL_PAUSE);
        else if (!strcmp(cmd, "resume"))
            atomic_store(&s->desired, VODQ_CTL_RUN);
        else if (!strcmp(cmd, "cancel"))
            atomic_store(&s->desired, VODQ_CTL_CANCEL);
        else if (!strcmp(cmd, "refresh_auth"))
            atomic_fetch_add(&s->auth_version, 1); /* the exact version is read with the auth */
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *subscriber_main(void *arg)
{
    struct vodq_worker *w = arg;
    /* A long read timeout: an idle worker keeps one subscription instead of
     * reconnecting each second; shutdown wakes it with vodq_redis_interrupt. */
    struct vodq_redis *r = connect_redis(w, 30000);
    if (!r)
        return NULL;
    atomic_store(&w->sub_r, r);
    char chan[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, chan, sizeof(chan), VODQ_KEY_CTL_CHANNEL, NULL);
    bool subscribed = false;
    while (!atomic_load(&w->finished)) {
        struct vodq_err err = {0};
        if (!subscribed || !vodq_redis_connected(r)) {
            struct vodq_reply *rep = vodq_redis_cmd(r, &err, "SUBSCRIBE %s", chan);
            subscribed = rep != NULL;
            vodq_reply_free(rep);
            if (!subscribed) {
                nap_ms(500);
                continue;
            }
        }
        struct vodq_reply *m = vodq_redis_read(r, &err);
        if (!m) {
            /* a failed or timed-out read drops the connection: resubscribe
             * (the heartbeat reads the desired state meanwhile) */
            subscribed = false;
            continue;
        }
        if (m->type == VODQ_REPLY_ARRAY && m->elements == 3 && vodq_reply_str(m, 0) &&
            !strcmp(vodq_reply_str(m, 0), "message") && vodq_reply_str(m, 2))
            on_ctl(w, vodq_reply_str(m, 2));
        vodq_reply_free(m);
    }
    atomic_store(&w->sub_r, NULL);
    vodq_redis_free(r);
    return NULL;
}

/* ---- life cycle ---------------------------------------------------- */

struct vodq_worker *vodq_worker_new(const struct vodq_worker_config *cfg, struct vodq_err *err)
{
    struct vodq_worker *w = calloc(1, sizeof(*w));
    if (!w) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    w->cfg = *cfg;
    if (vodq_queue_init(&w->q, cfg->queue, cfg->events_maxlen, cfg->retention_s, err) != VODQ_OK)
        goto fail;
    if (cfg->id && *cfg->id && !vodq_job_id_valid(cfg->id)) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "id '%s': only 1-128 of [A-Za-z0-9_.:-]", cfg->id);
        goto fail;
    }
    vodq_job_instance_id(w->id, sizeof(w->id), "", cfg->id);
    vodq_log_set_worker(w->id);
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        vodq_metric_slots(t, cfg->slots[t]);
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        w->n_slots += cfg->slots[t];
    if (w->n_slots <= 0) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "slots: the worker serves no task type");
        goto fail;
    }
    w->slots = calloc((size_t)w->n_slots, sizeof(*w->slots));
    if (!w->slots) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    pthread_cond_init(&w->claim_cv, NULL);
    int k = 0;
    char types[256] = "";
    size_t tl = 0;
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        for (int i = 0; i < cfg->slots[t]; i++, k++) {
            w->slots[k].w = w;
            w->slots[k].idx = k;
            w->slots[k].type = (enum vodq_task_type)t;
            pthread_cond_init(&w->slots[k].cv, NULL);
        }
        w->free_slots[t] = cfg->slots[t];
        if (cfg->slots[t])
            tl += (size_t)snprintf(types + tl, sizeof(types) - tl, "%s\"%s\":%d",
                                   tl ? "," : "", vodq_task_type_name(t), cfg->slots[t]);
    }
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    const char *extra = cfg->capabilities_json && cfg->capabilities_json[0] == '{'
                            ? cfg->capabilities_json + 1
                            : "}";
    snprintf(w->caps, sizeof(w->caps), "{\"host\":\"%s\",\"slots\":{%s}%s%s", host, types,
             strcmp(extra, "}") ? "," : "", extra);
    return w;
fail:
    free(w);
    return NULL;
}

const char *vodq_worker_id(const struct vodq_worker *w)
{
    return w->id;
}

void vodq_worker_stop(struct vodq_worker *w)
{
    atomic_store(&w->stopping, true);
}

enum vodq_rc vodq_worker_run(struct vodq_worker *w, struct vodq_err *err)
{
    struct vodq_redis *r = connect_redis(w, 5000);
    if (!r)
        return vodq_err_set(err, VODQ_ERR_IO, 0, "redis: cannot create a connection");
    enum vodq_rc rc;
    for (int tries = 0;; tries++) {
        rc = vodq_proto_ensure_groups(r, &w->q, err);
        if (rc == VODQ_OK || atomic_load(&w->stopping))
            break;
        if (tries == 0)
            vodq_warn("redis not ready (%s); retrying", err->msg);
        nap_ms(500);
    }
    if (rc != VODQ_OK) {
        vodq_redis_free(r);
        return rc;
    }
    for (int i = 0; i < w->n_slots; i++)
        pthread_create(&w->slots[i].th, NULL, slot_main, &w->slots[i]);
    pthread_t comp, hb, sub;
    pthread_create(&comp, NULL, completer_main, w);
    pthread_create(&hb, NULL, heartbeat_main, w);
    pthread_create(&sub, NULL, subscriber_main, w);
    struct claimer claimers[VODQ_TASK__COUNT];
    int nc = 0;
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        if (!w->cfg.slots[t])
            continue;
        claimers[nc].w = w;
        claimers[nc].type = (enum vodq_task_type)t;
        pthread_create(&claimers[nc].th, NULL, claimer_main, &claimers[nc]);
        nc++;
    }
    vodq_info("worker %s: serving queue %s (%s)", w->id, w->q.name, w->caps);
    while (!atomic_load(&w->stopping))
        nap_ms(50);

    /* Shutdown: stop claiming, ask running tasks to hand back, wait the grace period. */
    vodq_info("worker %s: stopping; %lld ms for running tasks to hand back", w->id,
              (long long)w->cfg.grace_ms);
    for (int i = 0; i < nc; i++)
        pthread_join(claimers[i].th, NULL);
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        atomic_store(&w->slots[i].desired, VODQ_CTL_YIELD);
        pthread_cond_broadcast(&w->slots[i].cv);
    }
    pthread_mutex_unlock(&w->mu);
    int64_t until = vodq_now_ms() + w->cfg.grace_ms;
    bool all_idle = false;
    while (!all_idle && vodq_now_ms() < until) {
        pthread_mutex_lock(&w->mu);
        all_idle = !w->done_head;
        for (int i = 0; i < w->n_slots; i++)
            all_idle &= w->slots[i].phase != SLOT_BUSY;
        pthread_mutex_unlock(&w->mu);
        if (!all_idle)
            nap_ms(20);
    }
    if (!all_idle) {
        /* Tasks that ignored the hand-back: return them now (the fence bump
         * makes their late writes fail), then leave without them. */
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < w->n_slots; i++) {
            struct slot *s = &w->slots[i];
            if (s->phase != SLOT_BUSY)
                continue;
            struct done d = {.type = s->type};
            snprintf(d.job, sizeof(d.job), "%s", s->t.job);
            snprintf(d.fence, sizeof(d.fence), "%s", s->t.fence);
            strcpy(d.outcome, "handback");
            d.a1 = "queued";
            d.a2 = "0";
            struct done *dp = &d;
            pthread_mutex_unlock(&w->mu);
            step(w, r, s->type, &dp, 1, 0, NULL, 0);
            vodq_warn("job %s: did not stop within the grace period; handed back", d.job);
            pthread_mutex_lock(&w->mu);
            atomic_store(&s->fenced, true);
        }
        pthread_mutex_unlock(&w->mu);
    }
    /* let the completer flush, then stop everything */
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&w->mu);
        bool empty = !w->done_head;
        pthread_mutex_unlock(&w->mu);
        if (empty)
            break;
        nap_ms(20);
    }
    /* remove our heartbeat so the scheduler does not wait for us */
    struct vodq_err e2 = {0};
    char key[VODQ_KEY_MAX], wkey[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    vodq_queue_key(&w->q, wkey, sizeof(wkey), VODQ_KEY_WORKER, w->id);
    atomic_store(&w->finished, true);
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->done_cv);
    for (int i = 0; i < w->n_slots; i++)
        pthread_cond_broadcast(&w->slots[i].cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(comp, NULL);
    pthread_join(hb, NULL);
    vodq_redis_interrupt(atomic_load(&w->sub_r));
    pthread_join(sub, NULL);
    vodq_reply_free(vodq_redis_cmd(r, &e2, "ZREM %s %s", key, w->id));
    vodq_reply_free(vodq_redis_cmd(r, &e2, "DEL %s", wkey));
    bool stuck = false;
    for (int i = 0; i < w->n_slots; i++) {
        if (w->slots[i].phase == SLOT_BUSY) {
            stuck = true; /* an engine that ignored us: do not join it */
            continue;
        }
        pthread_join(w->slots[i].th, NULL);
    }
    vodq_redis_free(r);
    vodq_info("worker %s: stopped%s", w->id, stuck ? " (some tasks were abandoned)" : "");
    return VODQ_OK;
}

void vodq_worker_free(struct vodq_worker *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->phase == SLOT_BUSY)
            continue; /* still running: leak rather than race */
        task_clear(&s->t);
        vodq_redis_free(s->r);
        pthread_cond_destroy(&s->cv);
    }
    free(w->slots);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
