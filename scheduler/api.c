/* api.c: the scheduler's REST API, event stream and dashboard (api.h). */
#include "scheduler/api.h"

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/proto.h"

#include "dashboard_files.h" /* generated: the files of scheduler/dashboard as byte arrays */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE_MAX 200        /* jobs per page at most */
#define PAGE_BUDGET_MS 1000  /* a page stops scanning after this (shorter page, cursor kept) */
#define JOB_EVENTS_SCAN 2000 /* newest events searched for one job's history */
#define SSE_LIFETIME_MS 60000 /* an event stream ends after this; EventSource reconnects */
#define SSE_BLOCK_MS 200      /* one XREAD blocks at most this long (a pool thread waits) */


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

/* Sets resp to the JSON error; false when the Redis connection should be
 * dropped (a 503: it failed). */
static bool answer_error(struct vodq_httpd_resp *resp, unsigned status, const char *msg)
{
    vodq_httpd_error(resp, status, msg);
    return status != 503;
}

/* A refused or failed job command: 404 no such job, 409 not in its state, else 503. */
static bool answer_failed(struct vodq_httpd_resp *resp, enum vodq_rc rc, const char *msg)
{
    return answer_error(resp, rc == VODQ_ERR_NOTFOUND ? 404 : rc == VODQ_ERR_INVALID ? 409 : 503,
                        msg);
}

static bool answer_sb(struct vodq_httpd_resp *resp, unsigned status, struct sb *b)
{
    if (b->oom) {
        free(b->p);
        return answer_error(resp, 500, "out of memory");
    }
    resp->status = status;
    resp->body = b->p ? b->p : strdup("{}");
    return true;
}

/* ---- Queues ---- */

/* A command on rd unless one already failed (err set): a hung Redis costs
 * a request one read timeout, not one per command. */
#define CMD(...) (err.code == VODQ_OK ? vodq_redis_cmd(rd, &err, __VA_ARGS__) : NULL)

static long long int_reply(struct vodq_reply *rep)
{
    long long v = rep && rep->type == VODQ_REPLY_INTEGER ? rep->integer : 0;
    if (rep && rep->type == VODQ_REPLY_ARRAY && rep->elements > 0)
        v = vodq_reply_int(rep->element[0], 0);
    vodq_reply_free(rep);
    return v;
}

bool vodq_api_get_queues(struct vodq_redis *rd, const struct vodq_queue *q, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    struct sb b = {0};
    struct vodq_err err = {0};
    char key[VODQ_KEY_MAX];
    sb_printf(&b, "{\"queue\":");
    sb_json(&b, q->name);
    sb_printf(&b, ",\"now_ms\":%lld,\"lanes\":[", (long long)vodq_now_ms());
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        vodq_queue_key(q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(t));
        struct vodq_lane_depth dp;
        vodq_proto_lane_depth(rd, key, &dp, &err); /* zeros when Redis did not answer */
        sb_printf(&b, "%s{\"lane\":\"%s\",\"waiting\":%lld,\"running\":%lld}", t ? "," : "",
                  vodq_task_type_name(t), dp.waiting, dp.running);
    }
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_DELAYED, NULL);
    sb_printf(&b, "],\"delayed\":%lld", int_reply(CMD("ZCARD %s", key)));
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_DEAD, NULL);
    sb_printf(&b, ",\"dead\":%lld", int_reply(CMD("XLEN %s", key)));
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    sb_printf(&b, ",\"workers\":%lld", int_reply(CMD("ZCARD %s", key)));
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_STATS, NULL);
    struct vodq_reply *st = CMD("HGETALL %s", key);
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
        return answer_error(resp, 503, err.msg);
    }
    return answer_sb(resp, 200, &b);
}

/* ---- Jobs ---- */

static const char *arg(const struct vodq_httpd_req *req, const char *name)
{
    const char *v = vodq_httpd_req_arg(req, name);
    return v && *v ? v : NULL;
}

/* GET /jobs: one page of jobs matching the filters. The cursor is Redis'
 * SCAN cursor: pages are in no particular order, each job appears once
 * over a full walk, "cursor":null on the last page. */
bool vodq_api_list_jobs(struct vodq_redis *rd, const struct vodq_queue *q, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    const char *state = arg(req, "state"), *type = arg(req, "type"), *session = arg(req, "session");
    const char *cur = arg(req, "cursor"), *lim = arg(req, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 50;
    if (limit < 1 || limit > PAGE_MAX)
        return answer_error(resp, 400, "limit: must be 1..200");
    if (state && vodq_job_state_parse(state) == VODQ_JOB__COUNT)
        return answer_error(resp, 400, "state: unknown job state");
    if (type && vodq_task_type_parse(type) == VODQ_TASK__COUNT && strcmp(type, "group"))
        return answer_error(resp, 400, "type: must be sleep, compose, upload or group");
    char cursor[32];
    snprintf(cursor, sizeof(cursor), "%s", cur ? cur : "0");
    if (strspn(cursor, "0123456789") != strlen(cursor))
        return answer_error(resp, 400, "cursor: must be a number from a previous page");
    char pattern[VODQ_KEY_MAX];
    vodq_queue_key(q, pattern, sizeof(pattern), VODQ_KEY_JOB, "*");
    size_t plen = strlen(q->prefix) + strlen(VODQ_KEY_JOB);
    struct vodq_err err = {0};
    struct sb b = {0};
    sb_printf(&b, "{\"jobs\":[");
    long n = 0;
    int rounds = 0;
    int64_t give_up = vodq_now_ms() + PAGE_BUDGET_MS;
    do {
        struct vodq_reply *r = vodq_redis_cmd(rd, &err, "SCAN %s MATCH %s COUNT %ld", cursor,
                                              pattern, limit * 4);
        if (!r || r->type != VODQ_REPLY_ARRAY || r->elements != 2) {
            vodq_reply_free(r);
            free(b.p);
            return answer_error(resp, 503,
                              err.msg[0] ? err.msg : "unexpected SCAN reply");
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const struct vodq_reply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *id = keys->element[i]->str + plen;
            if (strchr(id, ':'))
                continue;
            char *j = vodq_proto_job_json(rd, q, id, &err);
            if (!j && err.code != VODQ_ERR_NOTFOUND) {
                vodq_reply_free(r);
                free(b.p);
                return answer_error(resp, 503, "redis unavailable");
            }
            err = (struct vodq_err){0};
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
    } while (strcmp(cursor, "0") != 0 && n < limit && ++rounds < 1000 &&
             vodq_now_ms() < give_up);
    sb_printf(&b, "],\"cursor\":");
    if (strcmp(cursor, "0") != 0)
        sb_json(&b, cursor);
    else
        sb_printf(&b, "null");
    sb_printf(&b, "}");
    return answer_sb(resp, 200, &b);
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

static bool job_events(struct vodq_redis *rd, const struct vodq_queue *q, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp, const char *id)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_EVENTS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *r =
        vodq_redis_cmd(rd, &err, "XREVRANGE %s + - COUNT %d", key, JOB_EVENTS_SCAN);
    if (!r)
        return answer_error(resp, 503, err.msg);
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
    return answer_sb(resp, 200, &b);
}

static bool job_control(struct vodq_redis *rd, const struct vodq_queue *q, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp, const char *id,
                                   const char *verb, const char *body, size_t body_len)
{
    const char *cmd = !strcmp(verb, "auth") ? "refresh_auth" : verb;
    if (strcmp(cmd, "pause") && strcmp(cmd, "resume") && strcmp(cmd, "cancel") &&
        strcmp(cmd, "retry") && strcmp(cmd, "refresh_auth"))
        return answer_error(resp, 404, "no such action (pause, resume, cancel, retry, auth)");
    char *auth = NULL;
    if (!strcmp(cmd, "refresh_auth")) {
        if (!body || !body_len)
            return answer_error(resp, 400, "auth: the body must hold the new credentials");
        auth = strndup(body, body_len);
        if (!auth)
            return answer_error(resp, 500, "out of memory");
        size_t l = strlen(auth);
        while (l > 0 && (auth[l - 1] == '\n' || auth[l - 1] == '\r' || auth[l - 1] == ' '))
            auth[--l] = '\0';
    }
    char msg[256] = "";
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_proto_control(rd, q, id, cmd, auth, msg, sizeof(msg), &err);
    free(auth);
    if (rc != VODQ_OK)
        return answer_failed(resp, rc, err.msg);
    struct sb b = {0};
    sb_printf(&b, "{\"ok\":true,\"message\":");
    sb_json(&b, msg);
    sb_printf(&b, "}");
    return answer_sb(resp, 200, &b);
}

/* DELETE /jobs/{id}: remove.lua, as vodqctl remove: a finished, queued or delayed job is
 * deleted (200); active, paused or waiting ones are refused (409, cancel first); 404 for
 * no such job. */
bool vodq_api_delete_job(struct vodq_redis *rd, const struct vodq_queue *q,
                         const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    const char *id = req->rest;
    if (!vodq_job_id_valid(id))
        return answer_error(resp, 400, "bad job id");
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_proto_remove(rd, NULL, q, id, NULL, -1, NULL, &err);
    if (rc != VODQ_OK)
        return answer_failed(resp, rc, err.msg);
    struct sb b = {0};
    sb_printf(&b, "{\"id\":");
    sb_json(&b, id);
    sb_printf(&b, ",\"result\":\"removed\"}");
    return answer_sb(resp, 200, &b);
}

/* ---- Workers, sessions, dead letters ---- */

bool vodq_api_get_workers(struct vodq_redis *rd, const struct vodq_queue *q, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *z = vodq_redis_cmd(rd, &err, "ZRANGE %s 0 -1 WITHSCORES", key);
    if (!z)
        return answer_error(resp, 503, err.msg);
    struct sb b = {0};
    sb_printf(&b, "{\"workers\":[");
    long long now = (long long)vodq_now_ms();
    for (size_t i = 0; z->type == VODQ_REPLY_ARRAY && i + 1 < z->elements; i += 2) {
        const char *id = z->element[i]->str;
        vodq_queue_key(q, key, sizeof(key), VODQ_KEY_WORKER, id);
        struct vodq_reply *h = CMD("HGETALL %s", key);
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
    if (err.code != VODQ_OK) {
        free(b.p);
        return answer_error(resp, 503, "redis unavailable");
    }
    sb_printf(&b, "]}");
    return answer_sb(resp, 200, &b);
}

bool vodq_api_get_session(struct vodq_redis *rd, const struct vodq_queue *q, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    const char *id = req->rest;
    if (!vodq_job_id_valid(id))
        return answer_error(resp, 400, "bad session id");
    char key[VODQ_KEY_MAX];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_SESSION, id);
    struct vodq_err err = {0};
    struct vodq_reply *h = vodq_redis_cmd(rd, &err, "HGETALL %s", key);
    if (!h)
        return answer_error(resp, 503, err.msg);
    if (h->type != VODQ_REPLY_ARRAY || h->elements == 0) {
        vodq_reply_free(h);
        return answer_error(resp, 404, "no such session");
    }
    struct sb b = {0};
    sb_printf(&b, "{\"id\":");
    sb_json(&b, id);
    sb_pairs(&b, h);
    sb_printf(&b, "}");
    vodq_reply_free(h);
    return answer_sb(resp, 200, &b);
}

bool vodq_api_get_dead(struct vodq_redis *rd, const struct vodq_queue *q, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_DEAD, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *r = vodq_redis_cmd(rd, &err, "XREVRANGE %s + - COUNT 200", key);
    if (!r)
        return answer_error(resp, 503, err.msg);
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
    return answer_sb(resp, 200, &b);
}

/* GET /jobs/{id}/events, POST /jobs/{id}/ACTION: rest is "{id}/...". */
bool vodq_api_job_sub(struct vodq_redis *rd, const struct vodq_queue *q,
                      const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    const char *slash = strchr(req->rest, '/');
    char jid[VODQ_ID_MAX + 1];
    if (!slash || (size_t)(slash - req->rest) > VODQ_ID_MAX)
        return answer_error(resp, 400, "bad job id");
    snprintf(jid, sizeof(jid), "%.*s", (int)(slash - req->rest), req->rest);
    if (!vodq_job_id_valid(jid))
        return answer_error(resp, 400, "bad job id");
    if (!strcmp(req->method, "GET")) {
        if (strcmp(slash, "/events") != 0)
            return answer_error(resp, 404, "no such endpoint");
        return job_events(rd, q, req, resp, jid);
    }
    return job_control(rd, q, req, resp, jid, slash + 1, req->body, req->body_len);
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
 * line as a keep-alive, after a block of at most SSE_BLOCK_MS. Returns false
 * when the stream should end. */
static bool sse_fill(struct sse *s)
{
    struct vodq_err err = {0};
    struct vodq_reply *r = vodq_redis_cmd(s->r, &err, "XREAD COUNT 200 BLOCK %d STREAMS %s %s",
                                          SSE_BLOCK_MS, s->ekey, s->last);
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

static long sse_read(void *cls, char *buf, size_t max)
{
    struct sse *s = cls;
    if (s->poff >= s->plen) {
        if (vodq_now_ms() > s->ends_at || !sse_fill(s))
            return -1;
    }
    size_t n = s->plen - s->poff < max ? s->plen - s->poff : max;
    memcpy(buf, s->pending + s->poff, n);
    s->poff += n;
    return (long)n;
}

void vodq_api_events(const char *redis_url, const struct vodq_queue *q,
                     const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    const char *job = arg(req, "job");
    if (!job || !vodq_job_id_valid(job))
        return vodq_httpd_error(resp, 400, "job: a job id is required");
    struct sse *s = calloc(1, sizeof(*s));
    if (!s)
        return vodq_httpd_error(resp, 500, "out of memory");
    struct vodq_err err = {0};
    /* its own connection: XREAD blocks; bounded by the read timeout */
    struct vodq_redis_opts o = {.url = redis_url,
                                .connect_timeout_ms = 400,
                                .command_timeout_ms = SSE_BLOCK_MS + 800,
                                .reconnect_max_ms = 100};
    if (!(s->r = vodq_redis_new(&o, &err))) {
        free(s);
        return vodq_httpd_error(resp, 503, "redis unavailable");
    }
    snprintf(s->job, sizeof(s->job), "%s", job);
    vodq_queue_key(q, s->ekey, sizeof(s->ekey), VODQ_KEY_EVENTS, NULL);
    /* resume after Last-Event-ID (EventSource reconnects), else from now */
    const char *lei = vodq_httpd_req_header(req, "Last-Event-ID");
    snprintf(s->last, sizeof(s->last), "%s",
             lei && *lei && strlen(lei) < sizeof(s->last) && strspn(lei, "0123456789-") == strlen(lei)
                 ? lei
                 : "$");
    s->ends_at = vodq_now_ms() + SSE_LIFETIME_MS;
    s->pending = strdup("retry: 1000\n\n");
    s->plen = s->pending ? strlen(s->pending) : 0;
    if (!strcmp(s->last, "$")) { /* "$" only works with BLOCK once: pin it now */
        struct vodq_reply *r = vodq_redis_cmd(s->r, &err, "XREVRANGE %s + - COUNT 1", s->ekey);
        const char *id = r && r->type == VODQ_REPLY_ARRAY && r->elements == 1
                             ? vodq_reply_str(r->element[0], 0)
                             : NULL;
        snprintf(s->last, sizeof(s->last), "%s", id ? id : "0-0");
        bool failed = !r;
        vodq_reply_free(r);
        if (failed) {
            sse_free(s);
            return vodq_httpd_error(resp, 503, "redis unavailable");
        }
    }
    resp->status = 200;
    resp->type = "text/event-stream";
    resp->stream = sse_read;
    resp->stream_cls = s;
    resp->stream_done = sse_free;
}

/* ---- Dashboard files ---- */

void vodq_api_static(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    (void)ctx;
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
        if (strcmp(req->path, files[i].path) != 0)
            continue;
        resp->body = strndup((const char *)files[i].data, files[i].len);
        if (!resp->body)
            return vodq_httpd_error(resp, 500, "out of memory");
        resp->status = 200;
        resp->type = files[i].type;
        resp->csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";
        return;
    }
    vodq_httpd_error(resp, 404, "no such endpoint");
}
