/* http.c: the scheduler's endpoints (routes below) on shared/httpd.
 *
 * Every request finishes within about 2 s whatever Redis does:
 * - a background poller thread pings Redis and refreshes a cached scrape
 *   once a second; /metrics serves the last good scrape with vodq_up 0
 *   while Redis does not answer, and /readyz answers from the poller;
 * - requests that need Redis (POST /jobs, GET /jobs/<id>) answer 503 at
 *   once while the poller says Redis is down, and otherwise use a pooled
 *   connection with short connect and read timeouts. */
#include "scheduler/http.h"
#include "scheduler/api.h"
#include "scheduler/stats.h"

#include "shared/clock.h"
#include "shared/httpd.h"
#include "shared/keys.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 1000          /* poller period */
#define DOWN_AFTER_MS 3000    /* no good ping for this long: Redis is down */
#define REQ_CONNECT_MS 400    /* request connections: connect timeout */
#define REQ_COMMAND_MS 800    /* request connections: read timeout */
#define POOL_KEEP 8           /* idle request connections kept */

struct vodq_http {
    struct vodq_httpd *srv;
    char *redis_url;
    struct vodq_queue q;
    struct vodq_sched *sched;
    const struct vodq_job_defaults *defaults;

    /* request connection pool */
    pthread_mutex_t pool_mu;
    struct vodq_redis *pool[POOL_KEEP];
    int pool_n;

    /* poller */
    pthread_t poller;
    bool poller_started;
    pthread_mutex_t mu;        /* guards scrape, stop */
    pthread_cond_t cv;
    bool stop;
    char *scrape;              /* last good Redis part of /metrics, or NULL */
    int64_t scrape_at_ms;      /* when it was taken */
    _Atomic int64_t last_ok_ms; /* last good ping */
    atomic_bool down;           /* the poller's last ping failed */
};

/* Ready: the poller's last ping did not fail, and one succeeded within
 * DOWN_AFTER_MS (a ping stuck on a hung server counts as failed then). */
static bool redis_up(struct vodq_http *h)
{
    int64_t ok = atomic_load(&h->last_ok_ms);
    return !atomic_load(&h->down) && ok > 0 && vodq_mono_ms() - ok < DOWN_AFTER_MS;
}

/* Worth trying: the poller's last ping did not fail (or none ran yet). */
static bool redis_maybe_up(struct vodq_http *h)
{
    return !atomic_load(&h->down);
}

/* ---- request connections ------------------------------------------- */

static struct vodq_redis *pool_get(struct vodq_http *h, struct vodq_err *err)
{
    pthread_mutex_lock(&h->pool_mu);
    struct vodq_redis *r = h->pool_n > 0 ? h->pool[--h->pool_n] : NULL;
    pthread_mutex_unlock(&h->pool_mu);
    if (r)
        return r;
    struct vodq_redis_opts o = {.url = h->redis_url,
                                .connect_timeout_ms = REQ_CONNECT_MS,
                                .command_timeout_ms = REQ_COMMAND_MS,
                                .reconnect_max_ms = 100};
    return vodq_redis_new(&o, err);
}

/* Gives r back; a connection that failed is dropped rather than kept. */
static void pool_put(struct vodq_http *h, struct vodq_redis *r, bool failed)
{
    if (!r)
        return;
    if (!failed) {
        pthread_mutex_lock(&h->pool_mu);
        if (h->pool_n < POOL_KEEP) {
            h->pool[h->pool_n++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&h->pool_mu);
    }
    vodq_redis_free(r);
}

/* ---- poller and metrics -------------------------------------------- */

/* Appends to a growing text; returns false on OOM. */
struct text {
    char *p;
    size_t len, cap;
    bool oom;
};

static void tprintf(struct text *t, const char *fmt, ...) VODQ_PRINTF(2, 3);
static void tprintf(struct text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *np = realloc(t->p, cap);
        if (!np) {
            t->oom = true;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
}

/* One integer reply of a command, or false when Redis did not give one. */
static bool get_int(struct vodq_redis *r, long long *out, const char *fmt, const char *key)
{
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_redis_cmd(r, &err, fmt, key);
    bool ok = false;
    if (rep && rep->type == VODQ_REPLY_INTEGER) {
        *out = rep->integer;
        ok = true;
    } else if (rep && rep->type == VODQ_REPLY_ARRAY && rep->elements > 0) {
        *out = vodq_reply_int(rep->element[0], -1);
        ok = *out >= 0;
    }
    vodq_reply_free(rep);
    return ok;
}

/* The Redis part of /metrics, or NULL when any read failed (the caller
 * keeps the previous scrape: a gauge never reads -1). */
static char *scrape(struct vodq_http *h, struct vodq_redis *r)
{
    struct text t = {0};
    char key[VODQ_KEY_MAX];
    const char *qn = h->q.name;
    long long v[VODQ_TASK__COUNT][2];
    for (int i = 0; i < VODQ_TASK__COUNT; i++) {
        vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(i));
        struct vodq_lane_depth dp;
        struct vodq_err de = {0};
        if (!vodq_proto_lane_depth(r, key, &dp, &de))
            return NULL;
        v[i][0] = dp.waiting;
        v[i][1] = dp.running;
    }
    long long delayed, workers;
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_DELAYED, NULL);
    if (!get_int(r, &delayed, "ZCARD %s", key))
        return NULL;
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    if (!get_int(r, &workers, "ZCARD %s", key))
        return NULL;
    long long hooks, schedules; /* webhook deliveries waiting, cron schedules */
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_HOOKS, NULL);
    if (!get_int(r, &hooks, "ZCARD %s", key))
        return NULL;
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_SCHEDULES, NULL);
    if (!get_int(r, &schedules, "ZCARD %s", key))
        return NULL;
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_STATS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *st = vodq_redis_cmd(r, &err, "HGETALL %s", key);
    if (!st || st->type != VODQ_REPLY_ARRAY) {
        vodq_reply_free(st);
        return NULL;
    }
    tprintf(&t, "# HELP vodq_stream_length entries in each task stream\n"
                "# TYPE vodq_stream_length gauge\n");
    for (int i = 0; i < VODQ_TASK__COUNT; i++)
        tprintf(&t, "vodq_stream_length{queue=\"%s\",type=\"%s\"} %lld\n", qn,
                vodq_task_type_name(i), v[i][0]);
    tprintf(&t, "# HELP vodq_in_flight tasks claimed by workers\n# TYPE vodq_in_flight gauge\n");
    for (int i = 0; i < VODQ_TASK__COUNT; i++)
        tprintf(&t, "vodq_in_flight{queue=\"%s\",type=\"%s\"} %lld\n", qn,
                vodq_task_type_name(i), v[i][1]);
    tprintf(&t, "# TYPE vodq_delayed gauge\nvodq_delayed{queue=\"%s\"} %lld\n", qn, delayed);
    tprintf(&t, "# TYPE vodq_workers gauge\nvodq_workers{queue=\"%s\"} %lld\n", qn, workers);
    tprintf(&t, "# HELP vodq_webhooks_pending webhook deliveries waiting or in flight\n"
                "# TYPE vodq_webhooks_pending gauge\nvodq_webhooks_pending{queue=\"%s\"} %lld\n",
            qn, hooks);
    tprintf(&t, "# TYPE vodq_schedules gauge\nvodq_schedules{queue=\"%s\"} %lld\n", qn,
            schedules);
    tprintf(&t, "# HELP vodq_jobs_total jobs that reached each state\n"
                "# TYPE vodq_jobs_total counter\n");
    for (size_t i = 0; i + 1 < st->elements; i += 2)
        if (st->element[i]->str && st->element[i + 1]->str)
            tprintf(&t, "vodq_jobs_total{queue=\"%s\",state=\"%s\"} %s\n", qn,
                    st->element[i]->str, st->element[i + 1]->str);
    vodq_reply_free(st);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

static void *poller_main(void *arg)
{
    struct vodq_http *h = arg;
    struct vodq_redis_opts o = {.url = h->redis_url,
                                .connect_timeout_ms = 500,
                                .command_timeout_ms = 1000,
                                .reconnect_max_ms = 500};
    struct vodq_err err = {0};
    struct vodq_redis *r = vodq_redis_new(&o, &err);
    /* wait and run time histograms, failures, retries (stats.c): read from
     * the events stream on this thread, so requests never wait on Redis */
    struct vodq_stats *stats = r ? vodq_stats_new(r, &h->q) : NULL;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        pthread_mutex_unlock(&h->mu);
        char *s = NULL;
        bool ok = r && vodq_redis_ping(r, &err) == VODQ_OK;
        atomic_store(&h->down, !ok);
        if (ok) {
            atomic_store(&h->last_ok_ms, vodq_mono_ms());
            s = scrape(h, r);
            if (s)
                s = vodq_stats_append(s, stats);
        }
        pthread_mutex_lock(&h->mu);
        if (s) {
            free(h->scrape);
            h->scrape = s;
            h->scrape_at_ms = vodq_mono_ms();
        }
        if (h->stop)
            break;
        struct timespec ts;
        vodq_deadline_in(&ts, POLL_MS);
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    vodq_stats_free(stats);
    vodq_redis_free(r);
    return NULL;
}

static void h_metrics(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    (void)req;
    struct vodq_http *h = ctx;
    struct text t = {0};
    bool up = redis_up(h);
    tprintf(&t, "# HELP vodq_up 1 when Redis answered within the last %d ms\n"
                "# TYPE vodq_up gauge\nvodq_up{queue=\"%s\"} %d\n",
            DOWN_AFTER_MS, h->q.name, up);
    pthread_mutex_lock(&h->mu);
    if (h->scrape) {
        tprintf(&t, "# HELP vodq_scrape_age_seconds age of the Redis figures below\n"
                    "# TYPE vodq_scrape_age_seconds gauge\nvodq_scrape_age_seconds{queue=\"%s\"} "
                    "%.3f\n",
                h->q.name, (double)(vodq_mono_ms() - h->scrape_at_ms) / 1000.0);
        tprintf(&t, "%s", h->scrape);
    }
    pthread_mutex_unlock(&h->mu);
    struct vodq_sched_counters c = {0};
    if (h->sched)
        vodq_sched_counters(h->sched, &c);
    tprintf(&t, "# TYPE vodq_scheduler_reclaimed_total counter\n"
                "vodq_scheduler_reclaimed_total %lld\n",
            c.reclaimed);
    tprintf(&t, "# TYPE vodq_scheduler_reaped_total counter\nvodq_scheduler_reaped_total %lld\n",
            c.reaped);
    tprintf(&t, "# TYPE vodq_scheduler_promoted_total counter\n"
                "vodq_scheduler_promoted_total %lld\n",
            c.promoted);
    if (t.oom) {
        free(t.p);
        vodq_httpd_error(resp, 500, "out of memory");
        return;
    }
    resp->status = 200;
    resp->type = "text/plain; version=0.0.4";
    resp->body = t.p;
}

/* ---- handlers -------------------------------------------------------- */

static void h_readyz(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    (void)req;
    bool up = redis_up(ctx);
    resp->status = up ? 200 : 503;
    resp->type = "text/plain";
    resp->body = strdup(up ? "ok\n" : "redis unavailable\n");
}

static void h_submit(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    struct vodq_http *h = ctx;
    if (req->body_len == 0)
        return vodq_httpd_error(resp, 400, "empty body: POST a JSON job spec");
    /* validate first, the same way the scheduler validates the submit
     * stream: a bad spec is answered 400 and never reaches Redis */
    struct vodq_job_spec spec;
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_job_spec_parse(req->body, req->body_len, h->defaults, &spec, &err);
    vodq_job_spec_cleanup(&spec);
    if (rc != VODQ_OK)
        return vodq_httpd_error(resp, 400, err.msg);
    if (!redis_maybe_up(h))
        return vodq_httpd_error(resp, 503, "redis unavailable");
    struct vodq_redis *r = pool_get(h, &err);
    if (!r)
        return vodq_httpd_error(resp, 503, "redis unavailable");
    char id[VODQ_ID_MAX + 1] = "";
    rc = vodq_proto_submit(r, &h->q, req->body, req->body_len, h->defaults, id, sizeof(id), &err);
    pool_put(h, r, rc != VODQ_OK);
    if (rc != VODQ_OK)
        return vodq_httpd_error(resp, rc == VODQ_ERR_INVALID ? 400 : 503, err.msg);
    /* a valid id is [A-Za-z0-9_.:-]: nothing to escape */
    size_t cap = strlen(id) + 16;
    resp->status = 202;
    resp->body = malloc(cap);
    if (resp->body)
        snprintf(resp->body, cap, "{\"id\":\"%s\"}", id);
}

/* Runs an api.c handler on a pooled connection; 503 at once while the
 * poller finds Redis down. */
static void with_redis(struct vodq_http *h, vodq_api_fn fn, const struct vodq_httpd_req *req,
                       struct vodq_httpd_resp *resp)
{
    if (!redis_maybe_up(h))
        return vodq_httpd_error(resp, 503, "redis unavailable");
    struct vodq_err err = {0};
    struct vodq_redis *r = pool_get(h, &err);
    if (!r)
        return vodq_httpd_error(resp, 503, "redis unavailable");
    pool_put(h, r, !fn(r, &h->q, req, resp));
}

#define API_HANDLER(name)                                                                    \
    static void h_##name(void *ctx, const struct vodq_httpd_req *req,                        \
                         struct vodq_httpd_resp *resp)                                       \
    {                                                                                        \
        with_redis(ctx, vodq_api_##name, req, resp);                                         \
    }
API_HANDLER(get_queues)
API_HANDLER(list_jobs)
API_HANDLER(job_sub)
API_HANDLER(get_workers)
API_HANDLER(get_session)
API_HANDLER(get_dead)
API_HANDLER(delete_job)

static void h_events(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    struct vodq_http *h = ctx;
    if (!redis_maybe_up(h))
        return vodq_httpd_error(resp, 503, "redis unavailable");
    vodq_api_events(h->redis_url, &h->q, req, resp);
}

static void h_job(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    struct vodq_http *h = ctx;
    const char *id = req->rest;
    if (strchr(id, '/'))
        return with_redis(h, vodq_api_job_sub, req, resp); /* /jobs/{id}/events */
    if (!vodq_job_id_valid(id))
        return vodq_httpd_error(resp, 400, "bad job id");
    if (!redis_maybe_up(h))
        return vodq_httpd_error(resp, 503, "redis unavailable");
    struct vodq_err err = {0};
    struct vodq_redis *r = pool_get(h, &err);
    char *j = r ? vodq_proto_job_json(r, &h->q, id, &err) : NULL;
    pool_put(h, r, !j && err.code != VODQ_ERR_NOTFOUND);
    if (!j)
        return vodq_httpd_error(resp, err.code == VODQ_ERR_NOTFOUND ? 404 : 503,
                               err.code == VODQ_ERR_NOTFOUND ? err.msg : "redis unavailable");
    resp->status = 200;
    resp->body = j;
}

/* The routing table: add a row for a new endpoint. */
static const struct vodq_httpd_route routes[] = {
    {"GET", "/livez", false, VODQ_HTTPD_NONE, vodq_httpd_livez, false},
    {"GET", "/readyz", false, VODQ_HTTPD_NONE, h_readyz, false},
    {"GET", "/healthz", false, VODQ_HTTPD_NONE, h_readyz, false},
    {"GET", "/metrics", false, VODQ_HTTPD_READ, h_metrics, false},
    {"GET", "/jobs/", true, VODQ_HTTPD_READ, h_job, false}, /* /jobs/{id} and /jobs/{id}/events */
    {"POST", "/jobs", false, VODQ_HTTPD_ADMIN, h_submit, false},
    /* the REST API and dashboard (api.c) */
    {"GET", "/jobs", false, VODQ_HTTPD_READ, h_list_jobs, false},
    {"POST", "/jobs/", true, VODQ_HTTPD_ADMIN, h_job_sub, false}, /* pause|resume|cancel|retry|auth */
    {"DELETE", "/jobs/", true, VODQ_HTTPD_ADMIN, h_delete_job, false}, /* remove */
    {"GET", "/api/queues", false, VODQ_HTTPD_READ, h_get_queues, false},
    {"GET", "/workers", false, VODQ_HTTPD_READ, h_get_workers, false},
    {"GET", "/sessions/", true, VODQ_HTTPD_READ, h_get_session, false},
    {"GET", "/dead", false, VODQ_HTTPD_READ, h_get_dead, false},
    {"GET", "/events", false, VODQ_HTTPD_READ, h_events, true}, /* ?token= for EventSource */
    {"GET", "/", false, VODQ_HTTPD_NONE, vodq_api_static, false},
    {"GET", "/app.js", false, VODQ_HTTPD_NONE, vodq_api_static, false},
    {"GET", "/app.css", false, VODQ_HTTPD_NONE, vodq_api_static, false},
};

/* ---- lifecycle ------------------------------------------------------- */

struct vodq_http *vodq_http_start(const struct vodq_http_config *cfg, struct vodq_err *err)
{
    struct vodq_http *h = calloc(1, sizeof(*h));
    if (!h) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->pool_mu, NULL);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->sched = cfg->sched;
    h->defaults = cfg->defaults;
    h->redis_url = strdup(cfg->redis_url);
    if (!h->redis_url) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    if (vodq_queue_init(&h->q, cfg->queue, 0, 0, err) != VODQ_OK)
        goto fail;
    h->q.keys = cfg->keys;
    struct vodq_httpd_opts o = {
        .listen = cfg->listen,
        .token_file = cfg->token_file,
        .insecure = cfg->insecure,
        .max_body_bytes = cfg->defaults->max_spec_bytes,
        .threads = cfg->threads,
        .routes = routes,
        .n_routes = sizeof(routes) / sizeof(routes[0]),
        .ctx = h,
    };
    if (pthread_create(&h->poller, NULL, poller_main, h) != 0) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "http: cannot start the poller thread");
        goto fail;
    }
    h->poller_started = true;
    h->srv = vodq_httpd_start(&o, err);
    if (!h->srv)
        goto fail;
    return h;
fail:
    vodq_http_stop(h);
    return NULL;
}

const char *vodq_http_warning(const struct vodq_http *h)
{
    return h ? vodq_httpd_warning(h->srv) : "";
}

void vodq_http_stop(struct vodq_http *h)
{
    if (!h)
        return;
    vodq_httpd_stop(h->srv);
    if (h->poller_started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->poller, NULL);
    }
    for (int i = 0; i < h->pool_n; i++)
        vodq_redis_free(h->pool[i]);
    free(h->scrape);
    free(h->redis_url);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->pool_mu);
    free(h);
}
