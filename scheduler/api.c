/* api.c: the scheduler's REST API, event stream and dashboard (api.h). */
#include "scheduler/api.h"

#include "shared/job.h"
#include "shared/keys.h"

#include "dashboard_files.h" /* generated: the files of scheduler/dashboard as byte arrays */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE_MAX 200        /* jobs per page at most */
#define JOB_EVENTS_SCAN 2000 /* newest events searched for one job's history */
#define SSE_LIFETIME_MS 25000 /* an event stream ends after this; EventSource reconnects */

struct vodq_api {
    struct vodq_redis *r; /* borrowed, HTTP thread only */
    struct vodq_queue q;
    char *redis_url;
};

/* ---- A growing string ---- */

struct sb {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...) VODQ_PRINTF(2, 3);
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = (b->cap + (size_t)n) * 2 + 256;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

/* Appends s as a JSON string (quoted and escaped). */
static void sb_json(struct sb *b, const char *s)
{
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            sb_printf(b, "\\u%04x", *p);
        else
            sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\"");
}

/* Appends ,"field":"value" for each pair of a hash (HGETALL) or stream
 * entry's field list. */
static void sb_pairs(struct sb *b, const struct vodq_reply *f)
{
    for (size_t k = 0; f && f->type == VODQ_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        sb_printf(b, ",");
        sb_json(b, f->element[k]->str);
        sb_printf(b, ":");
        sb_json(b, f->element[k + 1]->str);
    }
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *text)
{
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_sb(struct MHD_Connection *c, unsigned status, struct sb *b)
{
    if (b->oom) {
        free(b->p);
        return MHD_NO;
    }
    return send_text(c, status, "application/json", b->p ? b->p : strdup("{}"));
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    struct sb b = {0};
    sb_printf(&b, "{\"error\":");
    sb_json(&b, msg);
    sb_printf(&b, "}");
    return send_sb(c, status, &b);
}

/* ---- Queues ---- */

static long long int_reply(struct vodq_api *a, struct vodq_reply *rep)
{
    (void)a;
    long long v = rep && rep->type == VODQ_REPLY_INTEGER ? rep->integer : 0;
    if (rep && rep->type == VODQ_REPLY_ARRAY && rep->elements > 0)
        v = vodq_reply_int(rep->element[0], 0);
    vodq_reply_free(rep);
    return v;
}

static enum MHD_Result get_queues(struct vodq_api *a, struct MHD_Connection *c)
{
    struct sb b = {0};
    struct vodq_err err = {0};
    char key[VODQ_KEY_MAX];
    sb_printf(&b, "{\"queue\":");
    sb_json(&b, a->q.name);
    sb_printf(&b, ",\"now_ms\":%lld,\"lanes\":[", (long long)vodq_now_ms());
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(t));
        long long len = int_reply(a, vodq_redis_cmd(a->r, &err, "XLEN %s", key));
        long long running =
            int_reply(a, vodq_redis_cmd(a->r, &err, "XPENDING %s %s", key, VODQ_GROUP_WORKERS));
        sb_printf(&b, "%s{\"lane\":\"%s\",\"waiting\":%lld,\"running\":%lld}", t ? "," : "",
                  vodq_task_type_name(t), len > running ? len - running : 0, running);
    }
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_DELAYED, NULL);
    sb_printf(&b, "],\"delayed\":%lld", int_reply(a, vodq_redis_cmd(a->r, &err, "ZCARD %s", key)));
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_DEAD, NULL);
    sb_printf(&b, ",\"dead\":%lld", int_reply(a, vodq_redis_cmd(a->r, &err, "XLEN %s", key)));
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    sb_printf(&b, ",\"workers\":%lld", int_reply(a, vodq_redis_cmd(a->r, &err, "ZCARD %s", key)));
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_STATS, NULL);
    struct vodq_reply *st = vodq_redis_cmd(a->r, &err, "HGETALL %s", key);
    sb_printf(&b, ",\"totals\":{");
    for (size_t i = 0; st && st->type == VODQ_REPLY_ARRAY && i + 1 < st->elements; i += 2) {
        sb_printf(&b, "%s", i ? "," : "");
        sb_json(&b, st->element[i]->str);
        sb_printf(&b, ":%lld", strtoll(st->element[i + 1]->str ? st->element[i + 1]->str : "0",
                                       NULL, 10));
    }
    vodq_reply_free(st);
    sb_printf(&b, "}}");
    if (err.code != VODQ_OK) {
        free(b.p);
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    }
    return send_sb(c, MHD_HTTP_OK, &b);
}

/* ---- Jobs ---- */

static const char *arg(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

/* GET /jobs: one page of jobs matching the filters. The cursor is Redis'
 * SCAN cursor: pages are in no particular order, each job appears once
 * over a full walk, "cursor":null on the last page. */
static enum MHD_Result list_jobs(struct vodq_api *a, struct MHD_Connection *c)
{
    const char *state = arg(c, "state"), *type = arg(c, "type"), *session = arg(c, "session");
    const char *cur = arg(c, "cursor"), *lim = arg(c, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 50;
    if (limit < 1 || limit > PAGE_MAX)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "limit: must be 1..200");
    if (state && vodq_job_state_parse(state) == VODQ_JOB__COUNT)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "state: unknown job state");
    if (type && vodq_task_type_parse(type) == VODQ_TASK__COUNT)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "type: must be sleep, compose or upload");
    char cursor[32];
    snprintf(cursor, sizeof(cursor), "%s", cur ? cur : "0");
    if (strspn(cursor, "0123456789") != strlen(cursor))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "cursor: must be a number from a previous page");
    char pattern[VODQ_KEY_MAX];
    vodq_queue_key(&a->q, pattern, sizeof(pattern), VODQ_KEY_JOB, "*");
    size_t plen = strlen(a->q.prefix) + strlen(VODQ_KEY_JOB);
    struct vodq_err err = {0};
    struct sb b = {0};
    sb_printf(&b, "{\"jobs\":[");
    long n = 0;
    int rounds = 0;
    do {
        struct vodq_reply *r = vodq_redis_cmd(a->r, &err, "SCAN %s MATCH %s COUNT %ld", cursor,
                                              pattern, limit * 4);
        if (!r || r->type != VODQ_REPLY_ARRAY || r->elements != 2) {
            vodq_reply_free(r);
            free(b.p);
            return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                              err.msg[0] ? err.msg : "unexpected SCAN reply");
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const struct vodq_reply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *id = keys->element[i]->str + plen;
            if (strchr(id, ':'))
                continue;
            char *j = vodq_proto_job_json(a->r, &a->q, id, &err);
            char v[160];
            bool keep = j != NULL;
            if (keep && state)
                keep = vodq_json_get_string(j, "state", v, sizeof(v)) && !strcmp(v, state);
            if (keep && type)
                keep = vodq_json_get_string(j, "type", v, sizeof(v)) && !strcmp(v, type);
            if (keep && session)
                keep = vodq_json_get_string(j, "session", v, sizeof(v)) && !strcmp(v, session);
            if (keep)
                sb_printf(&b, "%s%s", n++ ? "," : "", j);
            free(j);
        }
        vodq_reply_free(r);
    } while (strcmp(cursor, "0") != 0 && n < limit && ++rounds < 1000);
    sb_printf(&b, "],\"cursor\":");
    if (strcmp(cursor, "0") != 0)
        sb_json(&b, cursor);
    else
        sb_printf(&b, "null");
    sb_printf(&b, "}");
    return send_sb(c, MHD_HTTP_OK, &b);
}

/* Appends one events-stream entry as {"id","job","type","state","data"}
 * (data, the scripts' own JSON object, inlined). */
static void event_json(struct sb *b, const struct vodq_reply *e)
{
    struct vodq_event ev;
    vodq_event_fields(e, &ev);
    sb_printf(b, "{\"id\":");
    sb_json(b, ev.id);
    const char *names[] = {"job", "type", "state"}, *vals[] = {ev.job, ev.type, ev.state};
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        sb_printf(b, ",\"%s\":", names[i]);
        sb_json(b, vals[i]);
    }
    sb_printf(b, ",\"data\":%s}", ev.data[0] == '{' || ev.data[0] == '[' ? ev.data : "{}");
}

static bool entry_is_job(const struct vodq_reply *e, const char *id)
{
    struct vodq_event ev;
    vodq_event_fields(e, &ev);
    return ev.job && !strcmp(ev.job, id);
}

static enum MHD_Result job_events(struct vodq_api *a, struct MHD_Connection *c, const char *id)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_EVENTS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *r =
        vodq_redis_cmd(a->r, &err, "XREVRANGE %s + - COUNT %d", key, JOB_EVENTS_SCAN);
    if (!r)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    struct sb b = {0};
    sb_printf(&b, "{\"events\":[");
    int n = 0;
    for (size_t i = r->type == VODQ_REPLY_ARRAY ? r->elements : 0; i-- > 0;) {
        if (!entry_is_job(r->element[i], id))
            continue;
        sb_printf(&b, "%s", n++ ? "," : "");
        event_json(&b, r->element[i]);
    }
    vodq_reply_free(r);
    sb_printf(&b, "]}");
    return send_sb(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result job_control(struct vodq_api *a, struct MHD_Connection *c, const char *id,
                                   const char *verb, const char *body, size_t body_len)
{
    const char *cmd = !strcmp(verb, "auth") ? "refresh_auth" : verb;
    if (strcmp(cmd, "pause") && strcmp(cmd, "resume") && strcmp(cmd, "cancel") &&
        strcmp(cmd, "retry") && strcmp(cmd, "refresh_auth"))
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such action (pause, resume, cancel, retry, auth)");
    char *auth = NULL;
    if (!strcmp(cmd, "refresh_auth")) {
        if (!body || !body_len)
            return send_error(c, MHD_HTTP_BAD_REQUEST, "auth: the body must hold the new credentials");
        auth = strndup(body, body_len);
        if (!auth)
            return MHD_NO;
        size_t l = strlen(auth);
        while (l > 0 && (auth[l - 1] == '\n' || auth[l - 1] == '\r' || auth[l - 1] == ' '))
            auth[--l] = '\0';
    }
    char msg[256] = "";
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_proto_control(a->r, &a->q, id, cmd, auth, msg, sizeof(msg), &err);
    free(auth);
    if (rc != VODQ_OK)
        return send_error(c,
                          rc == VODQ_ERR_NOTFOUND   ? MHD_HTTP_NOT_FOUND
                          : rc == VODQ_ERR_INVALID ? MHD_HTTP_CONFLICT
                                                   : MHD_HTTP_SERVICE_UNAVAILABLE,
                          err.msg);
    struct sb b = {0};
    sb_printf(&b, "{\"ok\":true,\"message\":");
    sb_json(&b, msg);
    sb_printf(&b, "}");
    return send_sb(c, MHD_HTTP_OK, &b);
}

/* ---- Workers, sessions, dead letters ---- */

static enum MHD_Result get_workers(struct vodq_api *a, struct MHD_Connection *c)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *z = vodq_redis_cmd(a->r, &err, "ZRANGE %s 0 -1 WITHSCORES", key);
    if (!z)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    struct sb b = {0};
    sb_printf(&b, "{\"workers\":[");
    long long now = (long long)vodq_now_ms();
    for (size_t i = 0; z->type == VODQ_REPLY_ARRAY && i + 1 < z->elements; i += 2) {
        const char *id = z->element[i]->str;
        vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_WORKER, id);
        struct vodq_reply *h = vodq_redis_cmd(a->r, &err, "HGETALL %s", key);
        sb_printf(&b, "%s{\"id\":", i ? "," : "");
        sb_json(&b, id);
        sb_printf(&b, ",\"heartbeat_age_ms\":%lld",
                  now - strtoll(z->element[i + 1]->str ? z->element[i + 1]->str : "0", NULL, 10));
        for (size_t k = 0; h && h->type == VODQ_REPLY_ARRAY && k + 1 < h->elements; k += 2) {
            const char *f = h->element[k]->str, *v = h->element[k + 1]->str;
            if (!f || !v)
                continue;
            sb_printf(&b, ",");
            sb_json(&b, f);
            /* the capability record is JSON already */
            if (!strcmp(f, "info") && (v[0] == '{' || v[0] == '['))
                sb_printf(&b, ":%s", v);
            else {
                sb_printf(&b, ":");
                sb_json(&b, v);
            }
        }
        sb_printf(&b, "}");
        vodq_reply_free(h);
    }
    vodq_reply_free(z);
    sb_printf(&b, "]}");
    return send_sb(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result get_session(struct vodq_api *a, struct MHD_Connection *c, const char *id)
{
    if (!vodq_job_id_valid(id))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad session id");
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_SESSION, id);
    struct vodq_err err = {0};
    struct vodq_reply *h = vodq_redis_cmd(a->r, &err, "HGETALL %s", key);
    if (!h)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    if (h->type != VODQ_REPLY_ARRAY || h->elements == 0) {
        vodq_reply_free(h);
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such session");
    }
    struct sb b = {0};
    sb_printf(&b, "{\"id\":");
    sb_json(&b, id);
    sb_pairs(&b, h);
    sb_printf(&b, "}");
    vodq_reply_free(h);
    return send_sb(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result get_dead(struct vodq_api *a, struct MHD_Connection *c)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&a->q, key, sizeof(key), VODQ_KEY_DEAD, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *r = vodq_redis_cmd(a->r, &err, "XREVRANGE %s + - COUNT 200", key);
    if (!r)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    struct sb b = {0};
    sb_printf(&b, "{\"dead\":[");
    for (size_t i = 0; r->type == VODQ_REPLY_ARRAY && i < r->elements; i++) {
        sb_printf(&b, "%s{\"entry\":", i ? "," : "");
        sb_json(&b, r->element[i]->element[0]->str);
        sb_pairs(&b, r->element[i]->element[1]);
        sb_printf(&b, "}");
    }
    vodq_reply_free(r);
    sb_printf(&b, "]}");
    return send_sb(c, MHD_HTTP_OK, &b);
}

/* ---- Server-Sent Events: /events?job=ID ---- */

struct sse {
    struct vodq_redis *r; /* its own connection */
    char ekey[VODQ_KEY_MAX];
    char job[VODQ_ID_MAX + 1];
    char last[48];
    int64_t ends_at;
    char *pending; /* formatted, not yet sent */
    size_t plen, poff;
};

static void sse_free(void *cls)
{
    struct sse *s = cls;
    vodq_redis_free(s->r);
    free(s->pending);
    free(s);
}

/* Fills s->pending with the job's new events (as SSE frames), or a comment
 * line as a keep-alive. Returns false when the stream should end. */
static bool sse_fill(struct sse *s)
{
    struct vodq_err err = {0};
    struct vodq_reply *r =
        vodq_redis_cmd(s->r, &err, "XREAD COUNT 200 BLOCK 100 STREAMS %s %s", s->ekey, s->last);
    if (!r)
        return false;
    struct sb b = {0};
    if (r->type == VODQ_REPLY_ARRAY && r->elements == 1) {
        const struct vodq_reply *es = r->element[0]->element[1];
        for (size_t i = 0; i < es->elements; i++) {
            snprintf(s->last, sizeof(s->last), "%s", es->element[i]->element[0]->str);
            if (!entry_is_job(es->element[i], s->job))
                continue;
            sb_printf(&b, "id: %s\ndata: ", s->last);
            event_json(&b, es->element[i]);
            sb_printf(&b, "\n\n");
        }
    }
    vodq_reply_free(r);
    if (!b.p)
        sb_printf(&b, ": keep-alive\n\n");
    if (b.oom)
        return false;
    free(s->pending);
    s->pending = b.p;
    s->plen = b.len;
    s->poff = 0;
    return true;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sse *s = cls;
    if (s->poff >= s->plen) {
        if (vodq_now_ms() > s->ends_at || !sse_fill(s))
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = s->plen - s->poff < max ? s->plen - s->poff : max;
    memcpy(buf, s->pending + s->poff, n);
    s->poff += n;
    return (ssize_t)n;
}

static enum MHD_Result events_stream(struct vodq_api *a, struct MHD_Connection *c)
{
    const char *job = arg(c, "job");
    if (!job || !vodq_job_id_valid(job))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "job: a job id is required");
    struct sse *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    struct vodq_err err = {0};
    struct vodq_redis_opts o = {.url = a->redis_url, .command_timeout_ms = 2000};
    if (!(s->r = vodq_redis_new(&o, &err))) {
        free(s);
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err.msg);
    }
    snprintf(s->job, sizeof(s->job), "%s", job);
    vodq_queue_key(&a->q, s->ekey, sizeof(s->ekey), VODQ_KEY_EVENTS, NULL);
    /* resume after Last-Event-ID (EventSource reconnects), else from now */
    const char *lei = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    snprintf(s->last, sizeof(s->last), "%s",
             lei && strspn(lei, "0123456789-") == strlen(lei) && *lei ? lei : "$");
    s->ends_at = vodq_now_ms() + SSE_LIFETIME_MS;
    s->pending = strdup("retry: 1000\n\n");
    s->plen = s->pending ? strlen(s->pending) : 0;
    if (!strcmp(s->last, "$")) { /* "$" only works with BLOCK once: pin it now */
        struct vodq_reply *r = vodq_redis_cmd(s->r, &err, "XREVRANGE %s + - COUNT 1", s->ekey);
        const char *id = r && r->type == VODQ_REPLY_ARRAY && r->elements == 1
                             ? vodq_reply_str(r->element[0], 0)
                             : NULL;
        snprintf(s->last, sizeof(s->last), "%s", id ? id : "0-0");
        vodq_reply_free(r);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- Dashboard files ---- */

static enum MHD_Result static_file(struct MHD_Connection *c, const char *url, bool *found)
{
    static const struct {
        const char *path, *type;
        const unsigned char *data;
        size_t len;
    } files[] = {
        {"/", "text/html; charset=utf-8", vodq_dash_index_html, sizeof(vodq_dash_index_html) - 1},
        {"/app.js", "text/javascript; charset=utf-8", vodq_dash_app_js, sizeof(vodq_dash_app_js) - 1},
        {"/app.css", "text/css; charset=utf-8", vodq_dash_app_css, sizeof(vodq_dash_app_css) - 1},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strcmp(url, files[i].path) != 0)
            continue;
        *found = true;
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            files[i].len, (void *)files[i].data, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "Content-Type", files[i].type);
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    *found = false;
    return MHD_NO;
}

/* ---- Routing ---- */

struct vodq_api *vodq_api_new(struct vodq_redis *r, const struct vodq_queue *q,
                              const char *redis_url)
{
    struct vodq_api *a = calloc(1, sizeof(*a));
    if (!a || !(a->redis_url = strdup(redis_url ? redis_url : ""))) {
        free(a);
        return NULL;
    }
    a->r = r;
    a->q = *q;
    return a;
}

void vodq_api_free(struct vodq_api *a)
{
    if (!a)
        return;
    free(a->redis_url);
    free(a);
}

enum MHD_Result vodq_api_handle(struct vodq_api *a, struct MHD_Connection *c, const char *url,
                                const char *method, const char *body, size_t body_len,
                                bool *handled)
{
    *handled = true;
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (get) {
        bool found;
        enum MHD_Result ret = static_file(c, url, &found);
        if (found)
            return ret;
        if (!strcmp(url, "/api/queues"))
            return get_queues(a, c);
        if (!strcmp(url, "/jobs"))
            return list_jobs(a, c);
        if (!strcmp(url, "/workers"))
            return get_workers(a, c);
        if (!strcmp(url, "/dead"))
            return get_dead(a, c);
        if (!strcmp(url, "/events"))
            return events_stream(a, c);
        if (!strncmp(url, "/sessions/", 10))
            return get_session(a, c, url + 10);
    }
    if (!strncmp(url, "/jobs/", 6)) {
        const char *id = url + 6, *slash = strchr(id, '/');
        if (slash) {
            char jid[VODQ_ID_MAX + 1];
            snprintf(jid, sizeof(jid), "%.*s", (int)(slash - id), id);
            if (!vodq_job_id_valid(jid))
                return send_error(c, MHD_HTTP_BAD_REQUEST, "bad job id");
            if (get && !strcmp(slash, "/events"))
                return job_events(a, c, jid);
            if (post)
                return job_control(a, c, jid, slash + 1, body, body_len);
            return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST for actions");
        }
    }
    *handled = false;
    return MHD_NO;
}
