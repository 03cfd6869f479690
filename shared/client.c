/* client.c: the public client library (include/vodq/vodq.h). */
#include "shared/client.h"

#include "shared/crypto.h"
#include "shared/proto.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *vodq_version(void)
{
    return VODQ_VERSION_STRING;
}

struct vodq_client *vodq_client_open_opts(const struct vodq_client_opts *opts,
                                          struct vodq_err *err)
{
    /* fields past the caller's size are taken as zero (a program built with older headers) */
    struct vodq_client_opts o;
    memset(&o, 0, sizeof(o));
    if (opts)
        memcpy(&o, opts, opts->size && opts->size < sizeof(o) ? opts->size : sizeof(o));
    struct vodq_client *c = calloc(1, sizeof(*c));
    if (!c) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    const char *url = o.redis_url && *o.redis_url ? o.redis_url : "redis://127.0.0.1:6379";
    c->timeout_ms = o.command_timeout_ms > 0 ? o.command_timeout_ms : 5000;
    struct vodq_redis_opts ro = {.url = url, .command_timeout_ms = c->timeout_ms};
    if (!(c->url = strdup(url))) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        vodq_client_close(c);
        return NULL;
    }
    vodq_proto_chan_init(&c->ch, "client");
    if ((o.tls_ca_file || o.tls_cert_file || o.tls_key_file) &&
        vodq_redis_tls_config(o.tls_ca_file, o.tls_cert_file, o.tls_key_file, err) != VODQ_OK) {
        vodq_client_close(c);
        return NULL;
    }
    if (o.secret_key_file && *o.secret_key_file &&
        !(c->keys = vodq_keyring_load(o.secret_key_file, c->warning, sizeof(c->warning), err))) {
        vodq_client_close(c);
        return NULL;
    }
    if (vodq_queue_init(&c->q, o.queue && *o.queue ? o.queue : "default", o.events_maxlen,
                        o.retention_s, err) != VODQ_OK ||
        !(c->r = vodq_redis_new(&ro, err)) || vodq_redis_ping(c->r, err) != VODQ_OK) {
        vodq_client_close(c);
        return NULL;
    }
    c->q.keys = c->keys;
    c->d = (struct vodq_job_defaults){3, 1000, 600000, 1 << 20};
    return c;
}

struct vodq_client *vodq_client_open(const char *redis_url, const char *queue,
                                     struct vodq_err *err)
{
    struct vodq_client_opts o = {.size = sizeof(o), .redis_url = redis_url ? redis_url : "",
                                 .queue = queue};
    return vodq_client_open_opts(&o, err);
}

const char *vodq_client_warning(const struct vodq_client *c)
{
    return c && c->warning[0] ? c->warning : NULL;
}

void vodq_client_close(struct vodq_client *c)
{
    if (!c)
        return;
    vodq_redis_free(c->r);
    vodq_keyring_free(c->keys);
    free(c->url);
    free(c);
}

enum vodq_rc vodq_submit(struct vodq_client *c, const char *spec_json, char *id, size_t cap,
                         struct vodq_err *err)
{
    return vodq_proto_submit(c->r, &c->q, spec_json, strlen(spec_json), &c->d, id, cap, err);
}

enum vodq_rc vodq_submit_many(struct vodq_client *c, const char *const *specs, size_t n,
                              struct vodq_submit_result *results, struct vodq_err *err)
{
    return vodq_proto_submit_many(c->r, &c->q, specs, NULL, n, &c->d, results, err);
}

char *vodq_job_status(struct vodq_client *c, const char *id, struct vodq_err *err)
{
    return vodq_proto_job_json(c->r, &c->q, id, err);
}

static enum vodq_rc control(struct vodq_client *c, const char *id, const char *cmd,
                            const char *arg, struct vodq_err *err)
{
    char msg[128];
    return vodq_proto_control(c->r, &c->q, id, cmd, arg, msg, sizeof(msg), err);
}

enum vodq_rc vodq_job_pause(struct vodq_client *c, const char *id, struct vodq_err *err)
{
    return control(c, id, "pause", NULL, err);
}

enum vodq_rc vodq_job_resume(struct vodq_client *c, const char *id, struct vodq_err *err)
{
    return control(c, id, "resume", NULL, err);
}

enum vodq_rc vodq_job_cancel(struct vodq_client *c, const char *id, struct vodq_err *err)
{
    return control(c, id, "cancel", NULL, err);
}

enum vodq_rc vodq_job_retry(struct vodq_client *c, const char *id, struct vodq_err *err)
{
    return control(c, id, "retry", NULL, err);
}

enum vodq_rc vodq_job_refresh_auth(struct vodq_client *c, const char *id, const char *auth,
                                   struct vodq_err *err)
{
    return control(c, id, "refresh_auth", auth, err);
}

int vodq_client_on_entry(const struct vodq_reply *e, const char *id,
                         const struct vodq_callbacks *cb, enum vodq_rc *rc)
{
    struct vodq_event ev;
    vodq_event_fields(e, &ev);
    const char *job = ev.job, *type = ev.type, *state = ev.state, *data = ev.data;
    if (!job || strcmp(job, id) || !type)
        return 0;
    if (!strcmp(type, "progress")) {
        if (cb && cb->on_progress)
            cb->on_progress(cb->opaque, id, vodq_json_get_number(data, "percent", 0), data);
        return 0;
    }
    if (strcmp(type, "state") != 0) {
        if (cb && cb->on_event)
            cb->on_event(cb->opaque, id, type, data);
        return 0;
    }
    if (cb && cb->on_state)
        cb->on_state(cb->opaque, id, state ? state : "", data);
    enum vodq_job_state st = vodq_job_state_parse(state);
    if (!vodq_job_state_terminal(st))
        return 0;
    *rc = st == VODQ_JOB_SUCCEEDED ? VODQ_OK
          : st == VODQ_JOB_CANCELLED ? VODQ_ERR_CANCELLED
                                     : VODQ_ERR_INVALID;
    return 1;
}

enum vodq_rc vodq_job_watch(struct vodq_client *c, const char *id,
                            const struct vodq_callbacks *cb, long timeout_ms,
                            struct vodq_err *err)
{
    char jkey[VODQ_KEY_MAX], ekey[VODQ_KEY_MAX];
    vodq_queue_key(&c->q, jkey, sizeof(jkey), VODQ_KEY_JOB, id);
    vodq_queue_key(&c->q, ekey, sizeof(ekey), VODQ_KEY_EVENTS, NULL);
    struct vodq_reply *h = vodq_redis_cmd(c->r, err, "HGET %s created_at", jkey);
    if (!h)
        return err ? err->code : VODQ_ERR_IO;
    if (h->type != VODQ_REPLY_STRING) {
        vodq_reply_free(h);
        return vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "no such job: %s", id);
    }
    char last[48];
    snprintf(last, sizeof(last), "%lld-0", atoll(h->str) - 1);
    vodq_reply_free(h);
    int64_t deadline = timeout_ms > 0 ? vodq_now_ms() + timeout_ms : 0;
    enum vodq_rc rc = VODQ_ERR_TIMEOUT;
    for (;;) {
        if (deadline && vodq_now_ms() > deadline)
            return vodq_err_set(err, VODQ_ERR_TIMEOUT, 0, "job %s: still running", id);
        struct vodq_reply *r = vodq_redis_cmd(c->r, err, "XREAD COUNT 500 BLOCK 1000 STREAMS %s %s",
                                              ekey, last);
        if (!r)
            return err ? err->code : VODQ_ERR_IO;
        int done = 0;
        if (r->type == VODQ_REPLY_ARRAY && r->elements == 1) {
            const struct vodq_reply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements && !done; i++) {
                snprintf(last, sizeof(last), "%s", entries->element[i]->element[0]->str);
                done = vodq_client_on_entry(entries->element[i], id, cb, &rc);
            }
        }
        vodq_reply_free(r);
        if (done)
            break;
    }
    return vodq_client_ended(c->r, &c->q, id, cb, rc, err);
}

static enum vodq_rc submit_built(struct vodq_client *c, char *spec, char *id, size_t cap,
                                 struct vodq_err *err)
{
    if (!spec)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "timeline: must be a JSON object");
    enum vodq_rc rc = vodq_submit(c, spec, id, cap, err);
    free(spec);
    return rc;
}

enum vodq_rc vodq_session_compose(struct vodq_client *c, const char *session,
                                  const char *timeline_json, const char *output_path, char *id,
                                  size_t cap, struct vodq_err *err)
{
    return submit_built(c, vodq_job_spec_compose(session, timeline_json, output_path), id, cap,
                        err);
}

enum vodq_rc vodq_session_upload_video(struct vodq_client *c, const char *session,
                                       const char *path, const char *upload_address,
                                       const char *upload_auth, char *id, size_t cap,
                                       struct vodq_err *err)
{
    return submit_built(c, vodq_job_spec_upload(session, path, upload_address, upload_auth, false),
                        id, cap, err);
}

enum vodq_rc vodq_session_upload_image(struct vodq_client *c, const char *session,
                                       const char *path, const char *upload_address,
                                       const char *upload_auth, char *id, size_t cap,
                                       struct vodq_err *err)
{
    return submit_built(c, vodq_job_spec_upload(session, path, upload_address, upload_auth, true),
                        id, cap, err);
}

char *vodq_session_get(struct vodq_client *c, const char *session, struct vodq_err *err)
{
    return vodq_proto_session_json(c->r, &c->q, session, err);
}

enum vodq_rc vodq_session_upload(struct vodq_client *c, const char *session, const char *path,
                                 const struct vodq_upload_opts *o, char *id, size_t cap,
                                 struct vodq_err *err)
{
    char *spec = vodq_job_spec_upload_opts(session, path, o);
    if (!spec)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "upload: needs s3_url, or upload_address and upload_auth");
    return submit_built(c, spec, id, cap, err);
}

enum vodq_rc vodq_session_release(struct vodq_client *c, const char *session, int delete_exports,
                                  struct vodq_err *err)
{
    char **exports = NULL;
    enum vodq_rc rc = vodq_proto_session_release(c->r, &c->q, session, NULL,
                                                 delete_exports ? &exports : NULL, err);
    /* the files are deleted here, on the caller's host: they must be reachable from it */
    for (size_t i = 0; exports && exports[i]; i++) {
        if (unlink(exports[i]) != 0 && errno != ENOENT && rc == VODQ_OK)
            rc = vodq_err_set(err, VODQ_ERR_IO, errno, "session %s: cannot delete export %s",
                              session, exports[i]);
        free(exports[i]);
    }
    free(exports);
    return rc;
}

enum vodq_rc vodq_job_control(struct vodq_client *c, const char *id, const char *cmd,
                              const char *arg, char *msg, size_t cap, struct vodq_err *err)
{
    char buf[128];
    enum vodq_rc rc = vodq_proto_control(c->r, &c->q, id, cmd, arg, buf, sizeof(buf), err);
    if (rc == VODQ_OK && msg && cap)
        snprintf(msg, cap, "%s", buf);
    return rc;
}

enum vodq_rc vodq_job_remove(struct vodq_client *c, const char *id, struct vodq_err *err)
{
    return vodq_proto_remove(c->r, &c->ch, &c->q, id, NULL, -1, NULL, err);
}

/* Calls fn(c, id, arg) for every job id of the queue (SCAN in batches of batch); stops
 * at the first call that returns non-zero and returns that, or -1 on a Redis error (err
 * filled), or 0. */
static int each_job(struct vodq_client *c, int batch,
                    int (*fn)(struct vodq_client *c, const char *id, void *arg), void *arg,
                    struct vodq_err *err)
{
    char pattern[VODQ_KEY_MAX], cursor[32] = "0", count[16];
    vodq_queue_key(&c->q, pattern, sizeof(pattern), VODQ_KEY_JOB, "*");
    snprintf(count, sizeof(count), "%d", batch);
    size_t plen = strlen(c->q.prefix) + strlen(VODQ_KEY_JOB);
    do {
        struct vodq_reply *r =
            vodq_redis_cmd(c->r, err, "SCAN %s MATCH %s COUNT %s", cursor, pattern, count);
        if (!r || r->type != VODQ_REPLY_ARRAY || r->elements != 2) {
            if (r)
                vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "unexpected SCAN reply");
            vodq_reply_free(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *key = r->element[1]->element[i]->str;
            int stop = key && strlen(key) > plen ? fn(c, key + plen, arg) : 0;
            if (stop) {
                vodq_reply_free(r);
                return stop;
            }
        }
        vodq_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

struct purge_run {
    const char *state;
    long long cutoff, removed, refused;
    struct vodq_err *err;
};

static int purge_one(struct vodq_client *c, const char *id, void *arg)
{
    struct purge_run *p = arg;
    bool skipped = false;
    struct vodq_err e = {0};
    enum vodq_rc rc = vodq_proto_remove(c->r, &c->ch, &c->q, id, p->state, p->cutoff, &skipped, &e);
    if (rc == VODQ_OK && !skipped)
        p->removed++;
    else if (rc == VODQ_ERR_INVALID)
        p->refused++;
    else if (rc != VODQ_OK && rc != VODQ_ERR_NOTFOUND) {
        if (p->err)
            *p->err = e;
        return 1;
    }
    return 0;
}

enum vodq_rc vodq_purge(struct vodq_client *c, const char *state, long long older_than_ms,
                        long long *removed, long long *refused, struct vodq_err *err)
{
    struct vodq_err own = {0};
    if (!err)
        err = &own;
    struct purge_run p = {state, vodq_now_ms() - older_than_ms, 0, 0, err};
    enum vodq_job_state st = vodq_job_state_parse(state);
    enum vodq_rc rc = VODQ_OK;
    if (!vodq_job_state_terminal(st) || older_than_ms < 0)
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "purge: state must be dead, succeeded, cancelled or rejected and the "
                          "age not negative");
    else if (each_job(c, 500, purge_one, &p, err) != 0) /* remove.lua checks state and age */
        rc = err->code ? err->code : VODQ_ERR_IO;
    if (removed)
        *removed = p.removed;
    if (refused)
        *refused = p.refused;
    return rc;
}

struct listed {
    double created_at; /* ms */
    cJSON *job;
};

struct list_run {
    const char *state;
    struct listed *rows;
    size_t n, cap;
};

static int list_one(struct vodq_client *c, const char *id, void *arg)
{
    struct list_run *l = arg;
    struct vodq_err e = {0};
    char *j = vodq_proto_job_json(c->r, &c->q, id, &e);
    cJSON *o = j ? cJSON_Parse(j) : NULL;
    free(j);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (!o || (l->state && *l->state && !(cJSON_IsString(st) && !strcmp(st->valuestring, l->state)))) {
        cJSON_Delete(o);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct listed *nr = realloc(l->rows, cap * sizeof(*nr));
        if (!nr) {
            cJSON_Delete(o);
            return 1;
        }
        l->rows = nr;
        l->cap = cap;
    }
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(o, "created_at");
    l->rows[l->n].created_at = cJSON_IsNumber(ca) ? ca->valuedouble : 0;
    l->rows[l->n++].job = o;
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    double x = ((const struct listed *)a)->created_at, y = ((const struct listed *)b)->created_at;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Prints and frees a cJSON tree; NULL (err: out of memory) on failure. */
static char *print_tree(cJSON *root, struct vodq_err *err)
{
    char *txt = root ? cJSON_PrintUnformatted(root) : NULL;
    char *out = txt ? strdup(txt) : NULL;
    cJSON_free(txt);
    cJSON_Delete(root);
    if (!out)
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    return out;
}

char *vodq_job_list(struct vodq_client *c, const char *state, long limit, struct vodq_err *err)
{
    struct list_run l = {state, NULL, 0, 0};
    int stop = each_job(c, 1000, list_one, &l, err);
    cJSON *arr = stop ? NULL : cJSON_CreateArray();
    if (l.n)
        qsort(l.rows, l.n, sizeof(*l.rows), newest_first);
    for (size_t i = 0; i < l.n; i++) {
        if (arr && (limit <= 0 || (long)i < limit))
            cJSON_AddItemToArray(arr, l.rows[i].job);
        else
            cJSON_Delete(l.rows[i].job);
    }
    free(l.rows);
    if (stop > 0)
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    return stop ? NULL : print_tree(arr, err);
}

char *vodq_dead_list(struct vodq_client *c, struct vodq_err *err)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&c->q, key, sizeof(key), VODQ_KEY_DEAD, NULL);
    struct vodq_reply *r = vodq_redis_cmd(c->r, err, "XREVRANGE %s + - COUNT 1000", key);
    if (!r)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && r->type == VODQ_REPLY_ARRAY && i < r->elements; i++) {
        const struct vodq_reply *f = r->element[i]->element[1];
        const char *job = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            if (!strcmp(f->element[k]->str, "job"))
                job = f->element[k + 1]->str;
        if (!job)
            continue;
        bool seen = false; /* a job dead-lettered twice (after a retry) is listed once */
        for (size_t k = 0; k < i && !seen; k++) {
            const struct vodq_reply *g = r->element[k]->element[1];
            for (size_t m = 0; m + 1 < g->elements; m += 2)
                seen |= !strcmp(g->element[m]->str, "job") && !strcmp(g->element[m + 1]->str, job);
        }
        if (seen)
            continue;
        struct vodq_err e = {0};
        char *j = vodq_proto_job_json(c->r, &c->q, job, &e);
        cJSON *o = j ? cJSON_Parse(j) : NULL;
        free(j);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
        if (cJSON_IsString(st) && !strcmp(st->valuestring, "dead")) /* not retried since */
            cJSON_AddItemToArray(arr, o);
        else
            cJSON_Delete(o);
    }
    vodq_reply_free(r);
    return print_tree(arr, err);
}

static long long count(struct vodq_client *c, const char *fmt, const char *key)
{
    struct vodq_err err = {0};
    struct vodq_reply *r = vodq_redis_cmd(c->r, &err, fmt, key);
    long long v = 0;
    if (r && r->type == VODQ_REPLY_INTEGER)
        v = r->integer;
    else if (r && r->type == VODQ_REPLY_ARRAY && r->elements)
        v = vodq_reply_int(r->element[0], 0);
    vodq_reply_free(r);
    return v;
}

static long long stat_of(struct vodq_client *c, const char *name)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&c->q, key, sizeof(key), VODQ_KEY_STATS, NULL);
    struct vodq_err err = {0};
    struct vodq_reply *r = vodq_redis_cmd(c->r, &err, "HGET %s %s", key, name);
    long long v = vodq_reply_int(r, 0);
    vodq_reply_free(r);
    return v;
}

char *vodq_stats(struct vodq_client *c, int sample_ms, struct vodq_err *err)
{
    char key[VODQ_KEY_MAX];
    if (vodq_redis_ping(c->r, err) != VODQ_OK)
        return NULL;
    long long s0 = stat_of(c, "succeeded"), f0 = stat_of(c, "dead"), sub0 = stat_of(c, "submitted");
    if (sample_ms > 0) {
        struct timespec ts = {sample_ms / 1000, (long)(sample_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    long long s1 = stat_of(c, "succeeded"), f1 = stat_of(c, "dead"), sub1 = stat_of(c, "submitted");
    if (sample_ms <= 0)
        s0 = s1, f0 = f1, sub0 = sub1;
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
#define P(...)                                                                                     \
    do {                                                                                           \
        int n_ = out ? snprintf(out + len, cap - len, __VA_ARGS__) : -1;                           \
        if (n_ >= 0 && (size_t)n_ >= cap - len) {                                                  \
            char *nb = realloc(out, cap = cap + (size_t)n_ + 4096);                                \
            if (!nb)                                                                               \
                free(out);                                                                         \
            out = nb;                                                                              \
            n_ = out ? snprintf(out + len, cap - len, __VA_ARGS__) : -1;                           \
        }                                                                                          \
        if (n_ > 0)                                                                                \
            len += (size_t)n_;                                                                     \
    } while (0)
    P("{\"queue\":\"%s\",\"types\":{", c->q.name);
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        vodq_queue_key(&c->q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(t));
        struct vodq_lane_depth dp;
        struct vodq_err de = {0};
        vodq_proto_lane_depth(c->r, key, &dp, &de); /* zeros when Redis did not answer */
        P("%s\"%s\":{\"queued\":%lld,\"in_flight\":%lld}", t ? "," : "", vodq_task_type_name(t),
          dp.waiting, dp.running);
    }
    vodq_queue_key(&c->q, key, sizeof(key), VODQ_KEY_DELAYED, NULL);
    long long delayed = count(c, "ZCARD %s", key);
    vodq_queue_key(&c->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    long long workers = count(c, "ZCARD %s", key);
    P("},\"delayed\":%lld,\"workers\":%lld,\"totals\":{\"submitted\":%lld,"
      "\"succeeded\":%lld,\"dead\":%lld,\"cancelled\":%lld,\"rejected\":%lld},"
      "\"rates_per_s\":{\"submitted\":%lld,\"succeeded\":%lld,\"dead\":%lld}}",
      delayed, workers, sub1, s1, f1, stat_of(c, "cancelled"), stat_of(c, "rejected"),
      sub1 - sub0, s1 - s0, f1 - f0);
#undef P
    if (!out)
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    return out;
}

char *vodq_workers(struct vodq_client *c, struct vodq_err *err)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&c->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    struct vodq_reply *r = vodq_redis_cmd(c->r, err, "ZRANGE %s 0 -1 WITHSCORES", key);
    if (!r)
        return NULL;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && r->type == VODQ_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        char wkey[VODQ_KEY_MAX];
        vodq_queue_key(&c->q, wkey, sizeof(wkey), VODQ_KEY_WORKER, r->element[i]->str);
        struct vodq_err e = {0};
        struct vodq_reply *info = vodq_redis_cmd(c->r, &e, "HGET %s info", wkey);
        long long beat = atoll(r->element[i + 1]->str);
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", r->element[i]->str);
        cJSON_AddNumberToObject(w, "beat_at", (double)beat);
        cJSON_AddNumberToObject(w, "beat_ms_ago", (double)(vodq_now_ms() - beat));
        cJSON *ij = info && info->str ? cJSON_Parse(info->str) : NULL;
        if (!ij)
            ij = info && info->str ? cJSON_CreateString(info->str) : cJSON_CreateNull();
        cJSON_AddItemToObject(w, "info", ij);
        cJSON_AddItemToArray(arr, w);
        vodq_reply_free(info);
    }
    vodq_reply_free(r);
    return print_tree(arr, err);
}

/* The reply of a media command, or NULL (err filled). */
static struct vodq_reply *media_cmd(struct vodq_client *c, struct vodq_err *err, const char *cmd,
                                    const char *id, const char *url)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&c->q, key, sizeof(key), VODQ_KEY_MEDIA, NULL);
    if (url)
        return vodq_redis_cmd(c->r, err, "%s %s %s %s", cmd, key, id, url);
    if (id)
        return vodq_redis_cmd(c->r, err, "%s %s %s", cmd, key, id);
    return vodq_redis_cmd(c->r, err, "%s %s", cmd, key);
}

enum vodq_rc vodq_media_set(struct vodq_client *c, const char *id, const char *url,
                            struct vodq_err *err)
{
    if (!id || !*id || !url || !*url)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "media set: ID and URL must not be empty");
    struct vodq_reply *r = media_cmd(c, err, "HSET", id, url);
    if (!r)
        return err ? err->code : VODQ_ERR_IO;
    vodq_reply_free(r);
    return VODQ_OK;
}

enum vodq_rc vodq_media_remove(struct vodq_client *c, const char *id, struct vodq_err *err)
{
    struct vodq_reply *r = media_cmd(c, err, "HDEL", id ? id : "", NULL);
    if (!r)
        return err ? err->code : VODQ_ERR_IO;
    bool none = r->type == VODQ_REPLY_INTEGER && r->integer == 0;
    vodq_reply_free(r);
    return none ? vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "media rm: no entry '%s'", id ? id : "")
                : VODQ_OK;
}

char *vodq_media_list(struct vodq_client *c, struct vodq_err *err)
{
    struct vodq_reply *r = media_cmd(c, err, "HGETALL", NULL, NULL);
    if (!r)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && r->type == VODQ_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        cJSON_AddStringToObject(o, r->element[i]->str, r->element[i + 1]->str);
    vodq_reply_free(r);
    return print_tree(o, err);
}

enum vodq_rc vodq_session_release_exports(struct vodq_client *c, const char *session,
                                          int *cancelled, char ***exports, struct vodq_err *err)
{
    return vodq_proto_session_release(c->r, &c->q, session, cancelled, exports, err);
}
