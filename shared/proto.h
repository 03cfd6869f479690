/* proto.h: the Redis protocol of one queue: key prefix, the Lua scripts
 * (the .lua files in shared/lua/) and C wrappers for the calls every side makes.
 * docs/protocol.md describes the keys, fields, events and scripts. */
#ifndef VODQ_PROTO_H
#define VODQ_PROTO_H

#include "shared/err.h"
#include "shared/job.h"
#include "shared/redis.h"

#include <stdint.h>

enum vodq_script_id {
    VODQ_LUA_SUBMIT,
    VODQ_LUA_STEP,
    VODQ_LUA_REPORT,
    VODQ_LUA_HEARTBEAT,
    VODQ_LUA_CONTROL,
    VODQ_LUA_PROMOTE,
    VODQ_LUA_RECLAIM,
    VODQ_LUA_REAP,
    VODQ_LUA__COUNT
};

/* Returns the script (common.lua + its own text). Thread-safe. */
struct vodq_script *vodq_proto_script(enum vodq_script_id id);

/* One queue's names and the arguments every script takes first. */
struct vodq_queue {
    char name[64];       /* queue name Q */
    char prefix[80];     /* "vodq:{Q}:" */
    char evmax[24];      /* events stream MAXLEN ~ */
    char retention[24];  /* seconds a finished job hash is kept */
    char route_key[96];  /* "vodq:{Q}:stats", declared as KEYS[1] of every script so that
                          * a Redis Cluster client routes the call to the queue's slot */
};

/* Fills *q for queue name (1-60 chars [A-Za-z0-9_.-]). */
enum vodq_rc vodq_queue_init(struct vodq_queue *q, const char *name, long long events_maxlen,
                             long long retention_s, struct vodq_err *err);

/* Writes prefix + suffix + id into buf. */
void vodq_queue_key(const struct vodq_queue *q, char *buf, size_t cap, const char *suffix,
                    const char *id);

/* Runs script id with args[0..n-1] after the three common ones. Returns a
 * new reply or NULL (err filled). A Lua error becomes VODQ_ERR_PROTOCOL. */
struct vodq_reply *vodq_proto_call(struct vodq_redis *r, const struct vodq_queue *q,
                                   enum vodq_script_id id, int n, const char **args,
                                   const size_t *lens, struct vodq_err *err);

/* Appends the same call to r's pipeline (read with vodq_redis_read). */
enum vodq_rc vodq_proto_append(struct vodq_redis *r, const struct vodq_queue *q,
                               enum vodq_script_id id, int n, const char **args,
                               const size_t *lens, struct vodq_err *err);

/* Creates the consumer groups (workers on every task stream, schedulers on
 * the submit stream); idempotent. */
enum vodq_rc vodq_proto_ensure_groups(struct vodq_redis *r, const struct vodq_queue *q,
                                      struct vodq_err *err);

/* Control: cmd is "pause", "resume", "cancel", "refresh_auth" or "retry";
 * arg is the new credentials for refresh_auth (else NULL). On success
 * copies the script's answer ("pausing", "queued", ...) into msg. A
 * refused command returns VODQ_ERR_INVALID (or NOTFOUND) with the reason. */
enum vodq_rc vodq_proto_control(struct vodq_redis *r, const struct vodq_queue *q, const char *job,
                                const char *cmd, const char *arg, char *msg, size_t cap,
                                struct vodq_err *err);

/* Submits spec text through the submit stream the way integrations do,
 * after creating the job hash in state "submitted" so that status works
 * at once. The spec is parsed here (to find or make its id); an invalid
 * spec is still submitted (the scheduler records it as rejected) but rc is
 * VODQ_ERR_INVALID with the reason, and id_out holds its id. */
enum vodq_rc vodq_proto_submit(struct vodq_redis *r, const struct vodq_queue *q, const char *text,
                               size_t len, const struct vodq_job_defaults *d, char *id_out,
                               size_t id_cap, struct vodq_err *err);

/* Returns a new cJSON-free JSON object text describing the job (every hash
 * field, with numbers as numbers and spec/result/progress_data inlined);
 * caller frees with free(). NULL with VODQ_ERR_NOTFOUND if no such job. */
char *vodq_proto_job_json(struct vodq_redis *r, const struct vodq_queue *q, const char *job,
                          struct vodq_err *err);

/* The fields of one events-stream entry (an element of an XRANGE/XREAD
 * reply, docs/protocol.md §3): borrowed from e, valid while e lives; job,
 * type and state NULL when absent, data "{}" when absent. */
struct vodq_event {
    const char *id, *job, *type, *state, *data;
};
void vodq_event_fields(const struct vodq_reply *e, struct vodq_event *ev);

#endif
