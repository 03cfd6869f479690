/* client.c: the public client library (include/vodq/vodq.h). */
#include "shared/client.h"

#include "shared/proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *vodq_version(void)
{
    return VODQ_VERSION_STRING;
}

struct vodq_client *vodq_client_open(const char *redis_url, const char *queue,
                                     struct vodq_err *err)
{
    struct vodq_client *c = calloc(1, sizeof(*c));
    if (!c) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    struct vodq_redis_opts o = {.url = redis_url, .command_timeout_ms = 5000};
    if (!(c->url = strdup(redis_url ? redis_url : ""))) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        vodq_client_close(c);
        return NULL;
    }
    if (vodq_queue_init(&c->q, queue ? queue : "default", 0, 0, err) != VODQ_OK ||
        !(c->r = vodq_redis_new(&o, err)) || vodq_redis_ping(c->r, err) != VODQ_OK) {
        vodq_client_close(c);
        return NULL;
    }
    c->d = (struct vodq_job_defaults){3, 1000, 600000, 1 << 20};
    return c;
}

void vodq_client_close(struct vodq_client *c)
{
    if (!c)
        return;
    vodq_redis_free(c->r);
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
