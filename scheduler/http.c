/* http.c: /healthz, /metrics, /jobs over libmicrohttpd (one polling thread). */
#include "scheduler/http.h"
#include "scheduler/api.h"
#include "scheduler/stats.h"

#include "shared/keys.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1024 * 1024)

struct vodq_http {
    struct MHD_Daemon *d;
    struct vodq_redis *r; /* used only from MHD's single thread */
    struct vodq_queue q;
    struct vodq_sched *sched;
    const struct vodq_job_defaults *defaults;
    struct vodq_stats *stats; /* latency/failure metrics (stats.c) */
    struct vodq_api *api;     /* REST API, event stream, dashboard (api.c) */
};

struct body {
    char *buf;
    size_t len;
    bool too_big;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static char *json_error(const char *msg)
{
    size_t n = strlen(msg) * 2 + 32;
    char *out = malloc(n);
    if (!out)
        return NULL;
    size_t o = (size_t)snprintf(out, n, "{\"error\":\"");
    for (const char *p = msg; *p && o + 8 < n; p++) {
        if (*p == '"' || *p == '\\')
            out[o++] = '\\';
        out[o++] = (unsigned char)*p < 0x20 ? ' ' : *p;
    }
    snprintf(out + o, n - o, "\"}");
    return out;
}

static long long get_int(struct vodq_http *h, const char *fmt, const char *key)
{
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_redis_cmd(h->r, &err, fmt, key);
    long long v = -1;
    if (rep && rep->type == VODQ_REPLY_INTEGER)
        v = rep->integer;
    else if (rep && rep->type == VODQ_REPLY_ARRAY && rep->elements > 0)
        v = vodq_reply_int(rep->element[0], -1);
    vodq_reply_free(rep);
    return v;
}

static char *metrics(struct vodq_http *h)
{
    size_t cap = 8192, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
#define P(...) len += (size_t)snprintf(out + len, cap > len ? cap - len : 0, __VA_ARGS__)
    char key[VODQ_KEY_MAX];
    P("# HELP vodq_up 1 when Redis answers\n# TYPE vodq_up gauge\n");
    struct vodq_err err = {0};
    P("vodq_up{queue=\"%s\"} %d\n", h->q.name, vodq_redis_ping(h->r, &err) == VODQ_OK);
    P("# HELP vodq_stream_length entries in each task stream\n# TYPE vodq_stream_length gauge\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(t));
        P("vodq_stream_length{queue=\"%s\",type=\"%s\"} %lld\n", h->q.name,
          vodq_task_type_name(t), get_int(h, "XLEN %s", key));
    }
    P("# HELP vodq_in_flight tasks claimed by workers\n# TYPE vodq_in_flight gauge\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(t));
        char fmt[64];
        snprintf(fmt, sizeof(fmt), "XPENDING %%s %s", VODQ_GROUP_WORKERS);
        P("vodq_in_flight{queue=\"%s\",type=\"%s\"} %lld\n", h->q.name, vodq_task_type_name(t),
          get_int(h, fmt, key));
    }
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_DELAYED, NULL);
    P("# TYPE vodq_delayed gauge\nvodq_delayed{queue=\"%s\"} %lld\n", h->q.name,
      get_int(h, "ZCARD %s", key));
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    P("# TYPE vodq_workers gauge\nvodq_workers{queue=\"%s\"} %lld\n", h->q.name,
      get_int(h, "ZCARD %s", key));
    vodq_queue_key(&h->q, key, sizeof(key), VODQ_KEY_STATS, NULL);
    struct vodq_reply *st = vodq_redis_cmd(h->r, &err, "HGETALL %s", key);
    P("# HELP vodq_jobs_total jobs that reached each state\n# TYPE vodq_jobs_total counter\n");
    for (size_t i = 0; st && st->type == VODQ_REPLY_ARRAY && i + 1 < st->elements; i += 2)
        P("vodq_jobs_total{queue=\"%s\",state=\"%s\"} %s\n", h->q.name, st->element[i]->str,
          st->element[i + 1]->str);
    vodq_reply_free(st);
    struct vodq_sched_counters c = {0};
    if (h->sched)
        vodq_sched_counters(h->sched, &c);
    P("# TYPE vodq_scheduler_reclaimed_total counter\nvodq_scheduler_reclaimed_total %lld\n",
      c.reclaimed);
    P("# TYPE vodq_scheduler_reaped_total counter\nvodq_scheduler_reaped_total %lld\n", c.reaped);
    P("# TYPE vodq_scheduler_promoted_total counter\nvodq_scheduler_promoted_total %lld\n",
      c.promoted);
#undef P
    if (len >= cap)
        out[cap - 1] = '\0';
    return vodq_stats_append(out, h->stats);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **state)
{
    (void)version;
    struct vodq_http *h = cls;
    if (!strcmp(method, "POST")) {
        struct body *b = *state;
        if (!b) {
            b = calloc(1, sizeof(*b));
            *state = b;
            return b ? MHD_YES : MHD_NO;
        }
        if (*data_size) {
            if (b->len + *data_size > MAX_BODY) {
                b->too_big = true;
            } else {
                char *nb = realloc(b->buf, b->len + *data_size + 1);
                if (!nb)
                    return MHD_NO;
                b->buf = nb;
                memcpy(b->buf + b->len, data, *data_size);
                b->len += *data_size;
                b->buf[b->len] = '\0';
            }
            *data_size = 0;
            return MHD_YES;
        }
        enum MHD_Result ret;
        bool handled = false;
        if (strcmp(url, "/jobs") != 0 && h->api)
            ret = vodq_api_handle(h->api, c, url, method, b->buf, b->len, &handled);
        if (handled) {
            /* answered by api.c */
        } else if (strcmp(url, "/jobs") != 0) {
            ret = reply(c, MHD_HTTP_NOT_FOUND, "application/json", json_error("no such endpoint"));
        } else if (b->too_big || !b->buf) {
            ret = reply(c, MHD_HTTP_BAD_REQUEST, "application/json",
                        json_error(b->too_big ? "body over 1 MiB" : "empty body"));
        } else {
            char id[VODQ_ID_MAX + 1] = "";
            struct vodq_err err = {0};
            enum vodq_rc rc =
                vodq_proto_submit(h->r, &h->q, b->buf, b->len, h->defaults, id, sizeof(id), &err);
            if (rc == VODQ_OK) {
                char *txt = malloc(VODQ_ID_MAX + 16);
                snprintf(txt, VODQ_ID_MAX + 16, "{\"id\":\"%s\"}", id);
                ret = reply(c, MHD_HTTP_ACCEPTED, "application/json", txt);
            } else {
                ret = reply(c, rc == VODQ_ERR_INVALID ? MHD_HTTP_BAD_REQUEST
                                                      : MHD_HTTP_SERVICE_UNAVAILABLE,
                            "application/json", json_error(err.msg));
            }
        }
        free(b->buf);
        free(b);
        *state = NULL;
        return ret;
    }
    if (strcmp(method, "GET") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
                     json_error("GET or POST only"));
    bool handled = false;
    enum MHD_Result api_ret = h->api ? vodq_api_handle(h->api, c, url, method, NULL, 0, &handled)
                                     : MHD_NO;
    if (handled)
        return api_ret;
    if (!strcmp(url, "/healthz")) {
        struct vodq_err err = {0};
        bool ok = vodq_redis_ping(h->r, &err) == VODQ_OK;
        return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                     strdup(ok ? "ok\n" : "redis unavailable\n"));
    }
    if (!strcmp(url, "/metrics"))
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", metrics(h));
    if (!strncmp(url, "/jobs/", 6)) {
        const char *id = url + 6;
        if (!vodq_job_id_valid(id))
            return reply(c, MHD_HTTP_BAD_REQUEST, "application/json", json_error("bad job id"));
        struct vodq_err err = {0};
        char *j = vodq_proto_job_json(h->r, &h->q, id, &err);
        if (!j)
            return reply(c, err.code == VODQ_ERR_NOTFOUND ? MHD_HTTP_NOT_FOUND
                                                          : MHD_HTTP_SERVICE_UNAVAILABLE,
                         "application/json", json_error(err.msg));
        return reply(c, MHD_HTTP_OK, "application/json", j);
    }
    return reply(c, MHD_HTTP_NOT_FOUND, "application/json", json_error("no such endpoint"));
}

struct vodq_http *vodq_http_start(const char *addr, const char *redis_url, const char *queue,
                                  struct vodq_sched *sched,
                                  const struct vodq_job_defaults *defaults, struct vodq_err *err)
{
    char host[64] = "127.0.0.1";
    int port = 0;
    const char *colon = strrchr(addr, ':');
    if (colon) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
        port = atoi(colon + 1);
    } else {
        port = atoi(addr);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (port < 1 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "http: '%s' must be IPv4-ADDRESS:PORT", addr);
        return NULL;
    }
    struct vodq_http *h = calloc(1, sizeof(*h));
    if (!h) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    struct vodq_redis_opts o = {.url = redis_url, .command_timeout_ms = 2000};
    h->r = vodq_redis_new(&o, err);
    if (!h->r || vodq_queue_init(&h->q, queue, 0, 0, err) != VODQ_OK)
        goto fail;
    h->sched = sched;
    h->defaults = defaults;
    h->stats = vodq_stats_new(h->r, &h->q);
    h->api = vodq_api_new(h->r, &h->q, redis_url);
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                            NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!h->d) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "http: cannot listen on %s", addr);
        goto fail;
    }
    return h;
fail:
    vodq_redis_free(h->r);
    free(h);
    return NULL;
}

void vodq_http_stop(struct vodq_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    vodq_stats_free(h->stats);
    vodq_api_free(h->api);
    vodq_redis_free(h->r);
    free(h);
}
