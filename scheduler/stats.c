/* stats.c: latency and failure metrics from the events stream (stats.h). */
#include "scheduler/stats.h"

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SLOTS 16384  /* jobs remembered between their events (direct-mapped) */
#define MAX_CODES 32   /* distinct error codes counted per type */
#define READ_BATCH 1000
#define MAX_BATCHES 100 /* per scrape: at most 100k events */

static const double wait_b[] = {0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800};
static const double run_b[] = {0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600};
#define N_WAIT ((int)(sizeof(wait_b) / sizeof(wait_b[0])))
#define N_RUN ((int)(sizeof(run_b) / sizeof(run_b[0])))

struct hist {
    long long bucket[16]; /* cumulative counts per upper bound */
    long long count;
    double sum;           /* seconds */
};

struct slot {
    char job[VODQ_ID_MAX + 1];
    int lane;             /* enum vodq_task_type, -1 unknown */
    int64_t queued_ms;    /* last queued event, 0 none */
    int64_t active_ms;    /* last active event of an attempt, 0 none */
};

struct vodq_stats {
    struct vodq_redis *r; /* borrowed */
    struct vodq_queue q;
    char last[48];        /* last events entry read */
    struct slot *slots;   /* N_SLOTS */
    struct hist wait[VODQ_TASK__COUNT], run[VODQ_TASK__COUNT];
    long long retries[VODQ_TASK__COUNT];
    struct {
        char code[24];
        long long n;
    } fail[VODQ_TASK__COUNT][MAX_CODES];
};

static void observe(struct hist *h, const double *b, int nb, double s)
{
    for (int i = 0; i < nb; i++)
        if (s <= b[i])
            h->bucket[i]++;
    h->count++;
    h->sum += s;
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The job's slot; a new job takes over (and loses) whatever held it. */
static struct slot *slot_of(struct vodq_stats *st, const char *job, bool *fresh)
{
    struct slot *s = &st->slots[hash(job) % N_SLOTS];
    *fresh = strcmp(s->job, job) != 0;
    if (*fresh) {
        memset(s, 0, sizeof(*s));
        snprintf(s->job, sizeof(s->job), "%s", job);
        s->lane = -1;
    }
    return s;
}

static void count_failure(struct vodq_stats *st, int lane, const char *code)
{
    if (!*code)
        code = "unknown";
    for (int i = 0; i < MAX_CODES; i++) {
        if (!st->fail[lane][i].code[0])
            snprintf(st->fail[lane][i].code, sizeof(st->fail[lane][i].code), "%s", code);
        if (!strcmp(st->fail[lane][i].code, code)) {
            st->fail[lane][i].n++;
            return;
        }
    }
}

/* Looks up the lanes of the jobs first seen in this batch (one pipeline). */
static void resolve_lanes(struct vodq_stats *st, struct slot **need, int n)
{
    struct vodq_err err = {0};
    int sent = 0;
    for (int i = 0; i < n; i++) {
        char key[VODQ_KEY_MAX];
        vodq_queue_key(&st->q, key, sizeof(key), VODQ_KEY_JOB, need[i]->job);
        const char *argv[] = {"HGET", key, "lane"};
        if (vodq_redis_append_argv(st->r, 3, argv, NULL, &err) != VODQ_OK)
            break;
        sent++;
    }
    for (int i = 0; i < sent; i++) {
        struct vodq_reply *rep = vodq_redis_read(st->r, &err);
        if (!rep)
            return;
        if (rep->type == VODQ_REPLY_STRING) {
            for (int t = 0; t < VODQ_TASK__COUNT; t++)
                if (!strcmp(rep->str, vodq_task_type_name(t)))
                    need[i]->lane = t;
        }
        vodq_reply_free(rep);
    }
}

static int64_t entry_ms(const char *id)
{
    return strtoll(id, NULL, 10);
}

/* One batch of events; returns how many entries it read (-1 on error). */
static int read_batch(struct vodq_stats *st)
{
    char ekey[VODQ_KEY_MAX];
    vodq_queue_key(&st->q, ekey, sizeof(ekey), VODQ_KEY_EVENTS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *r = vodq_redis_cmd(st->r, &err, "XREAD COUNT %d STREAMS %s %s",
                                          READ_BATCH, ekey, st->last);
    if (!r)
        return -1;
    if (r->type != VODQ_REPLY_ARRAY || r->elements != 1) {
        vodq_reply_free(r);
        return 0;
    }
    const struct vodq_reply *es = r->element[0]->element[1];
    int n = (int)es->elements;
    /* pass 1: slots of the jobs of state events, lanes of new ones */
    struct slot **need = calloc((size_t)n + 1, sizeof(*need));
    int nneed = 0;
    for (int i = 0; i < n && need; i++) {
        struct vodq_event ev;
        vodq_event_fields(es->element[i], &ev);
        if (!ev.job || !ev.type || strcmp(ev.type, "state") != 0)
            continue;
        bool fresh;
        struct slot *s = slot_of(st, ev.job, &fresh);
        if (s->lane < 0 && nneed < n && (nneed == 0 || need[nneed - 1] != s))
            need[nneed++] = s;
    }
    if (need)
        resolve_lanes(st, need, nneed);
    free(need);
    /* pass 2: the state machine per job */
    for (int i = 0; i < n; i++) {
        const struct vodq_reply *e = es->element[i];
        snprintf(st->last, sizeof(st->last), "%s", e->element[0]->str);
        struct vodq_event ev;
        vodq_event_fields(e, &ev);
        const char *job = ev.job, *state = ev.state ? ev.state : "", *data = ev.data;
        if (!job || !ev.type || strcmp(ev.type, "state") != 0)
            continue;
        bool fresh;
        struct slot *s = slot_of(st, job, &fresh);
        int64_t ts = entry_ms(e->element[0]->str);
        if (s->lane < 0)
            continue;
        if (!strcmp(state, "queued")) {
            s->queued_ms = ts;
        } else if (!strcmp(state, "active")) {
            if (vodq_json_get_number(data, "attempt", 0) < 1)
                continue; /* a resume from paused/waiting_auth, not a new attempt */
            if (s->queued_ms)
                observe(&st->wait[s->lane], wait_b, N_WAIT, (double)(ts - s->queued_ms) / 1e3);
            s->queued_ms = 0;
            s->active_ms = ts;
        } else if (!strcmp(state, "succeeded") || !strcmp(state, "delayed") ||
                   !strcmp(state, "dead") || !strcmp(state, "cancelled")) {
            if (s->active_ms)
                observe(&st->run[s->lane], run_b, N_RUN, (double)(ts - s->active_ms) / 1e3);
            s->active_ms = 0;
            if (!strcmp(state, "delayed") || !strcmp(state, "dead")) {
                char code[24] = "";
                vodq_json_get_string(data, "code", code, sizeof(code));
                count_failure(st, s->lane, code);
            }
            if (!strcmp(state, "delayed"))
                st->retries[s->lane]++;
        }
    }
    vodq_reply_free(r);
    return n;
}

struct vodq_stats *vodq_stats_new(struct vodq_redis *r, const struct vodq_queue *q)
{
    struct vodq_stats *st = calloc(1, sizeof(*st));
    if (!st || !(st->slots = calloc(N_SLOTS, sizeof(*st->slots)))) {
        free(st);
        return NULL;
    }
    st->r = r;
    st->q = *q;
    /* start at the stream's end: what happens from now on */
    char ekey[VODQ_KEY_MAX];
    vodq_queue_key(q, ekey, sizeof(ekey), VODQ_KEY_EVENTS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_redis_cmd(r, &err, "XREVRANGE %s + - COUNT 1", ekey);
    const char *id = rep && rep->type == VODQ_REPLY_ARRAY && rep->elements == 1
                         ? vodq_reply_str(rep->element[0], 0)
                         : NULL;
    snprintf(st->last, sizeof(st->last), "%s", id ? id : "0-0");
    vodq_reply_free(rep);
    return st;
}

void vodq_stats_free(struct vodq_stats *st)
{
    if (!st)
        return;
    free(st->slots);
    free(st);
}

/* Oldest unclaimed entry's age and the group's lag of one lane. */
static void lane_backlog(struct vodq_stats *st, int lane, double *age_s, long long *lag)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&st->q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(lane));
    struct vodq_err err = {0};
    *age_s = 0;
    *lag = 0;
    struct vodq_lane_depth dp;
    vodq_proto_lane_depth(st->r, key, &dp, &err);
    *lag = dp.waiting;
    const char *delivered = dp.delivered;
    struct vodq_reply *x = vodq_redis_cmd(st->r, &err, "XRANGE %s (%s + COUNT 1", key, delivered);
    if (x && x->type == VODQ_REPLY_ARRAY && x->elements == 1) {
        const char *id = vodq_reply_str(x->element[0], 0);
        if (id)
            *age_s = (double)(vodq_now_ms() - entry_ms(id)) / 1e3;
        if (*age_s < 0)
            *age_s = 0;
    }
    vodq_reply_free(x);
}

#define P(...)                                                                                     \
    do {                                                                                           \
        int w_ = snprintf(out + len, cap > len ? cap - len : 0, __VA_ARGS__);                      \
        if (w_ > 0 && len + (size_t)w_ >= cap) {                                                   \
            size_t nc = (len + (size_t)w_) * 2 + 4096;                                             \
            char *no = realloc(out, nc);                                                           \
            if (!no) {                                                                             \
                free(out);                                                                         \
                return NULL;                                                                       \
            }                                                                                      \
            out = no;                                                                              \
            cap = nc;                                                                              \
            snprintf(out + len, cap - len, __VA_ARGS__);                                           \
        }                                                                                          \
        len += w_ > 0 ? (size_t)w_ : 0;                                                            \
    } while (0)

static char *hist_text(char *out, size_t *plen, size_t *pcap, const char *name, const char *qn,
                       const char *tn, const struct hist *h, const double *b, int nb)
{
    size_t len = *plen, cap = *pcap;
    for (int i = 0; i < nb; i++)
        P("%s_bucket{queue=\"%s\",type=\"%s\",le=\"%g\"} %lld\n", name, qn, tn, b[i], h->bucket[i]);
    P("%s_bucket{queue=\"%s\",type=\"%s\",le=\"+Inf\"} %lld\n", name, qn, tn, h->count);
    P("%s_sum{queue=\"%s\",type=\"%s\"} %.3f\n", name, qn, tn, h->sum);
    P("%s_count{queue=\"%s\",type=\"%s\"} %lld\n", name, qn, tn, h->count);
    *plen = len;
    *pcap = cap;
    return out;
}

char *vodq_stats_text(struct vodq_stats *st)
{
    for (int i = 0; i < MAX_BATCHES && read_batch(st) == READ_BATCH; i++)
        ;
    size_t cap = 16384, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    const char *qn = st->q.name;
    P("# HELP vodq_job_wait_seconds time from queued to claimed, per attempt\n"
      "# TYPE vodq_job_wait_seconds histogram\n");
    for (int t = 0; t < VODQ_TASK__COUNT && out; t++)
        out = hist_text(out, &len, &cap, "vodq_job_wait_seconds", qn, vodq_task_type_name(t),
                        &st->wait[t], wait_b, N_WAIT);
    if (!out)
        return NULL;
    P("# HELP vodq_job_run_seconds time from claimed to the attempt's end\n"
      "# TYPE vodq_job_run_seconds histogram\n");
    for (int t = 0; t < VODQ_TASK__COUNT && out; t++)
        out = hist_text(out, &len, &cap, "vodq_job_run_seconds", qn, vodq_task_type_name(t),
                        &st->run[t], run_b, N_RUN);
    if (!out)
        return NULL;
    P("# HELP vodq_job_failures_total failed attempts by type and error code\n"
      "# TYPE vodq_job_failures_total counter\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        for (int i = 0; i < MAX_CODES && st->fail[t][i].code[0]; i++)
            P("vodq_job_failures_total{queue=\"%s\",type=\"%s\",code=\"%s\"} %lld\n", qn,
              vodq_task_type_name(t), st->fail[t][i].code, st->fail[t][i].n);
    P("# HELP vodq_job_retries_total failed attempts sent back for a retry\n"
      "# TYPE vodq_job_retries_total counter\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        P("vodq_job_retries_total{queue=\"%s\",type=\"%s\"} %lld\n", qn, vodq_task_type_name(t),
          st->retries[t]);
    P("# HELP vodq_lane_oldest_waiting_seconds age of the oldest task no worker has claimed\n"
      "# TYPE vodq_lane_oldest_waiting_seconds gauge\n");
    double age[VODQ_TASK__COUNT];
    long long lag[VODQ_TASK__COUNT];
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        lane_backlog(st, t, &age[t], &lag[t]);
        P("vodq_lane_oldest_waiting_seconds{queue=\"%s\",lane=\"%s\"} %.3f\n", qn,
          vodq_task_type_name(t), age[t]);
    }
    P("# HELP vodq_lane_lag entries the workers group has not read yet (what KEDA scales on)\n"
      "# TYPE vodq_lane_lag gauge\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        P("vodq_lane_lag{queue=\"%s\",lane=\"%s\"} %lld\n", qn, vodq_task_type_name(t), lag[t]);
    return out;
}
#undef P

char *vodq_stats_append(char *base, struct vodq_stats *st)
{
    char *more = st && base ? vodq_stats_text(st) : NULL;
    if (!more)
        return base;
    size_t a = strlen(base), b = strlen(more);
    char *out = realloc(base, a + b + 1);
    if (out)
        memcpy(out + a, more, b + 1);
    free(more);
    return out ? out : base;
}
