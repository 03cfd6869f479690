/* watch.c: the client library's non-blocking watch (vodq_watch_*) and the
 * end-of-job callbacks both watches share. */
#include "shared/client.h"

#include "shared/proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The XREAD BLOCK time: the longest a step waits for Redis to answer, so
 * also the longest an event loop should sleep between steps. */
#define WATCH_BLOCK_MS 1000

struct vodq_watch {
    struct vodq_redis *r;              /* its own connection */
    struct vodq_queue q;               /* copy of the client's queue */
    const struct vodq_callbacks *cb;   /* borrowed */
    char id[160];                      /* the job */
    char ekey[VODQ_KEY_MAX];           /* events stream */
    char last[48];                     /* last entry id read */
    bool pending;                      /* an XREAD is on the wire */
    bool ended;                        /* the job ended; steps answer 1 */
    struct vodq_err end;               /* its outcome */
};

/* ---- End of a job ---- */

enum vodq_rc vodq_client_ended(struct vodq_redis *r, const struct vodq_queue *q, const char *id,
                               const struct vodq_callbacks *cb, enum vodq_rc rc,
                               struct vodq_err *err)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_JOB, id);
    struct vodq_err e2 = {0};
    struct vodq_reply *h = vodq_redis_cmd(r, &e2, "HMGET %s state error_code error result", key);
    const char *state = h ? vodq_reply_str(h, 0) : NULL, *code = h ? vodq_reply_str(h, 1) : NULL;
    const char *msg = h ? vodq_reply_str(h, 2) : NULL, *result = h ? vodq_reply_str(h, 3) : NULL;
    if (rc == VODQ_OK) {
        if (cb && cb->on_completed)
            cb->on_completed(cb->opaque, id, result && *result ? result : "{}");
    } else {
        if (!code || !*code)
            code = rc == VODQ_ERR_CANCELLED ? "cancelled" : vodq_rc_name(rc);
        enum vodq_rc jrc = vodq_rc_parse(code);
        if (jrc != VODQ_ERR__COUNT && jrc != VODQ_OK)
            rc = jrc;
        if (cb && cb->on_failed)
            cb->on_failed(cb->opaque, id, state ? state : "", code, msg ? msg : "");
        vodq_err_set(err, rc, 0, "job %s %s%s%s", id, state ? state : "ended",
                     msg && *msg ? ": " : "", msg ? msg : "");
    }
    vodq_reply_free(h);
    return rc;
}

/* ---- Non-blocking watch ---- */

struct vodq_watch *vodq_watch_new(struct vodq_client *c, const char *id,
                                  const struct vodq_callbacks *cb, struct vodq_err *err)
{
    struct vodq_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    if (!id || !*id || strlen(id) >= sizeof(w->id)) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "watch: bad job id");
        free(w);
        return NULL;
    }
    snprintf(w->id, sizeof(w->id), "%s", id);
    w->q = c->q;
    w->cb = cb;
    vodq_queue_key(&w->q, w->ekey, sizeof(w->ekey), VODQ_KEY_EVENTS, NULL);
    /* the reads block on the server (XREAD BLOCK), never on the socket */
    struct vodq_redis_opts o = {.url = c->url, .command_timeout_ms = 5000};
    if (!(w->r = vodq_redis_new(&o, err))) {
        free(w);
        return NULL;
    }
    char jkey[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, jkey, sizeof(jkey), VODQ_KEY_JOB, id);
    struct vodq_reply *h = vodq_redis_cmd(w->r, err, "HGET %s created_at", jkey);
    if (!h || h->type != VODQ_REPLY_STRING) {
        if (h)
            vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "no such job: %s", id);
        vodq_reply_free(h);
        vodq_watch_free(w);
        return NULL;
    }
    snprintf(w->last, sizeof(w->last), "%lld-0", strtoll(h->str, NULL, 10) - 1);
    vodq_reply_free(h);
    return w;
}

void vodq_watch_free(struct vodq_watch *w)
{
    if (!w)
        return;
    vodq_redis_free(w->r);
    free(w);
}

int vodq_watch_fd(const struct vodq_watch *w)
{
    return vodq_redis_fd(w->r);
}

int vodq_watch_timeout_ms(const struct vodq_watch *w)
{
    (void)w;
    return WATCH_BLOCK_MS;
}

/* Sends the next XREAD BLOCK without waiting for its answer. */
static enum vodq_rc send_read(struct vodq_watch *w, struct vodq_err *err)
{
    char block[16];
    snprintf(block, sizeof(block), "%d", WATCH_BLOCK_MS);
    const char *argv[] = {"XREAD", "COUNT", "500", "BLOCK", block, "STREAMS", w->ekey, w->last};
    enum vodq_rc rc = vodq_redis_append_argv(w->r, 8, argv, NULL, err);
    if (rc == VODQ_OK)
        rc = vodq_redis_flush(w->r, err);
    w->pending = rc == VODQ_OK;
    return rc;
}

int vodq_watch_step(struct vodq_watch *w, struct vodq_err *err)
{
    if (w->ended) {
        if (err)
            *err = w->end;
        return 1;
    }
    if (!w->pending) /* first step, or after an error: (re)connects */
        return send_read(w, err) == VODQ_OK ? 0 : -1;
    bool again;
    struct vodq_reply *r = vodq_redis_read_ready(w->r, &again, err);
    if (!r) {
        if (again)
            return 0;
        w->pending = false;
        return -1;
    }
    w->pending = false;
    int done = 0;
    enum vodq_rc rc = VODQ_OK;
    if (r->type == VODQ_REPLY_ARRAY && r->elements == 1) {
        const struct vodq_reply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements && !done; i++) {
            snprintf(w->last, sizeof(w->last), "%s", entries->element[i]->element[0]->str);
            done = vodq_client_on_entry(entries->element[i], w->id, w->cb, &rc);
        }
    } else if (r->type == VODQ_REPLY_ERROR) {
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "XREAD %s: %s", w->ekey, r->str);
        vodq_reply_free(r);
        return -1;
    }
    vodq_reply_free(r);
    if (done) {
        w->ended = true;
        vodq_err_clear(&w->end);
        vodq_client_ended(w->r, &w->q, w->id, w->cb, rc, &w->end);
        if (err)
            *err = w->end;
        return 1;
    }
    return send_read(w, err) == VODQ_OK ? 0 : -1;
}
