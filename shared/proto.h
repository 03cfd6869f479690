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
    VODQ_LUA_CKPT,
    VODQ_LUA_SESSION,
    VODQ_LUA_REMOVE,
    VODQ_LUA_SCHEDULE, /* cron schedules (scheduler/schedule.c) */
    VODQ_LUA_HOOK,     /* webhook deliveries (scheduler/webhook.c) */
    VODQ_LUA__COUNT
};

/* Returns the script (common.lua + its own text). Thread-safe. */
struct vodq_script *vodq_proto_script(enum vodq_script_id id);
/* The work of one task stream (lane): entries no worker read yet (the consumer
 * group's lag), entries read and not acknowledged (running), and the last id
 * delivered. A finished task's entry stays in the stream until the scheduler
 * trims it, so XLEN is no count of anything. */
struct vodq_lane_depth {
    long long waiting, running;
    char delivered[48];
};
bool vodq_proto_lane_depth(struct vodq_redis *r, const char *key, struct vodq_lane_depth *d,
                           struct vodq_err *err);

/* The text of the FUNCTION library holding every script (FUNCTION LOAD it as is), and
 * its name (vodq_<hash>; script S is the function <name>_S). */
const char *vodq_proto_library(const char **name);

/* One queue's names and the arguments every script takes first. */
struct vodq_queue {
    char name[64];       /* queue name Q */
    char prefix[80];     /* "vodq:{Q}:" */
    char evmax[24];      /* events stream MAXLEN ~ */
    char retention[24];  /* seconds a finished job hash is kept */
    char route_key[96];  /* "vodq:{Q}:stats", declared as KEYS[1] of every script so that
                          * a Redis Cluster client routes the call to the queue's slot */
    const struct vodq_keyring *keys; /* borrowed; set after vodq_queue_init: credentials
                                      * written to Redis are sealed with it (shared/crypto.h);
                                      * NULL = stored in clear */
};

/* Fills *q for queue name (1-60 chars [A-Za-z0-9_.-]). */
enum vodq_rc vodq_queue_init(struct vodq_queue *q, const char *name, long long events_maxlen,
                             long long retention_s, struct vodq_err *err);

/* Writes prefix + suffix + id into buf. */
void vodq_queue_key(const struct vodq_queue *q, char *buf, size_t cap, const char *suffix,
                    const char *id);

/* Runs script id with args[0..n-1] after the three common ones, without replay
 * protection (for reads and for calls whose replay is harmless). Returns a new reply or
 * NULL (err filled). A Lua error becomes VODQ_ERR_PROTOCOL. */
struct vodq_reply *vodq_proto_call(struct vodq_redis *r, const struct vodq_queue *q,
                                   enum vodq_script_id id, int n, const char **args,
                                   const size_t *lens, struct vodq_err *err);

/* A replay channel: the calls one owner makes, one at a time, on one connection. Each
 * call gets the request id "<id>|<seq>"; the script keeps its last answer per channel
 * (reply:<id>), so a call sent again after a lost reply answers as the first run did
 * and changes nothing (common.lua, once()). */
struct vodq_proto_chan {
    char id[192];
    unsigned long long seq;
};

/* Names a new channel "<owner>:<random>" (owner: a worker id, "sched", "ctl"...). */
void vodq_proto_chan_init(struct vodq_proto_chan *ch, const char *owner);

/* Like vodq_proto_call, with the next request id of ch; a call whose reply was lost
 * (I/O error or timeout) is sent again with the same id up to `tries` times in all
 * (the connection reconnects in between). */
struct vodq_reply *vodq_proto_call_once(struct vodq_redis *r, struct vodq_proto_chan *ch,
                                        const struct vodq_queue *q, enum vodq_script_id id,
                                        int n, const char **args, const size_t *lens, int tries,
                                        struct vodq_err *err);

/* ---- the answers of the scripts: named maps (flat lists key, value, ...), decoded here
 * and nowhere else ---- */

/* The value of key in a map reply, or NULL. */
const struct vodq_reply *vodq_proto_map_get(const struct vodq_reply *map, const char *key);
/* The string value of key, or def. */
const char *vodq_proto_map_str(const struct vodq_reply *map, const char *key, const char *def);

/* A task started by step.lua (strings borrowed from the reply). */
struct vodq_proto_task {
    const char *job, *entry, *fence, *spec, *desired, *session, *export_path;
    int attempt;
    int max_attempts; /* 0 when not known */
    long long timeout_ms;
    long long auth_version;
};
/* Returns false (with err) when the map lacks job, entry, fence or spec. */
bool vodq_proto_task_decode(const struct vodq_reply *map, struct vodq_proto_task *t,
                            struct vodq_err *err);

/* The answer of report.lua, heartbeat.lua (one per task) and ckpt.lua. */
struct vodq_proto_lease {
    bool fenced;          /* a newer attempt owns the job */
    const char *desired;  /* "run", "pause", "cancel" or "" */
    long long auth_version;
};
bool vodq_proto_lease_decode(const struct vodq_reply *map, struct vodq_proto_lease *out);

/* The statuses (first element) and tasks (second) of a step reply; NULL if malformed. */
const struct vodq_reply *vodq_proto_step_statuses(const struct vodq_reply *rep);
const struct vodq_reply *vodq_proto_step_tasks(const struct vodq_reply *rep);

/* Appends the same call to r's pipeline (read with vodq_redis_read). */
enum vodq_rc vodq_proto_append(struct vodq_redis *r, const struct vodq_queue *q,
                               enum vodq_script_id id, int n, const char **args,
                               const size_t *lens, struct vodq_err *err);

/* Creates the consumer groups (workers on every task stream, schedulers on
 * the submit stream); idempotent. */
enum vodq_rc vodq_proto_ensure_groups(struct vodq_redis *r, const struct vodq_queue *q,
                                      struct vodq_err *err);

/* Control: cmd is "pause", "resume", "cancel", "refresh_auth" or "retry";
 * arg is the new credentials for refresh_auth (else NULL), sealed before
 * they are sent when q->keys is set. On success
 * copies the script's answer ("pausing", "queued", ...) into msg. A
 * refused command returns VODQ_ERR_INVALID (or NOTFOUND) with the reason. */
enum vodq_rc vodq_proto_control(struct vodq_redis *r, const struct vodq_queue *q, const char *job,
                                const char *cmd, const char *arg, char *msg, size_t cap,
                                struct vodq_err *err);

/* Submits spec text through the submit stream the way integrations do,
 * after creating the job hash in state "submitted" so that status works
 * at once. With q->keys, the credentials in a valid spec are sealed before
 * they leave the process; an invalid spec is sent with them masked. The spec is parsed here (to find or make its id); an invalid
 * spec is still submitted (the scheduler records it as rejected) but rc is
 * VODQ_ERR_INVALID with the reason, and id_out holds its id. */
enum vodq_rc vodq_proto_submit(struct vodq_redis *r, const struct vodq_queue *q, const char *text,
                               size_t len, const struct vodq_job_defaults *d, char *id_out,
                               size_t id_cap, struct vodq_err *err);

/* vodq_submit_many (include/vodq/vodq.h): specs pipelined SUBMIT_BATCH at a time. An
 * invalid spec is not sent; its result names the JSON path of the bad field. Returns VODQ_OK
 * when all went, VODQ_ERR_INVALID when some did not, or the connection's error (results of
 * the specs not sent say so). lens may be NULL (NUL-ended texts). */
struct vodq_submit_result;
enum vodq_rc vodq_proto_submit_many(struct vodq_redis *r, const struct vodq_queue *q,
                                    const char *const *texts, const size_t *lens, size_t n,
                                    const struct vodq_job_defaults *d,
                                    struct vodq_submit_result *res, struct vodq_err *err);

/* remove.lua: deletes a finished, queued or delayed job (its task entry too, so no worker
 * runs it). only_state ("" or NULL: any) and ended_before_ms (< 0: any) restrict it; a job
 * that does not match is left alone with *skipped set. VODQ_ERR_NOTFOUND for no such job,
 * VODQ_ERR_INVALID (the reason in err) for one that cannot be removed now (active...).
 * ch: the request-id channel (one per caller for many calls; NULL: a new one). */
enum vodq_rc vodq_proto_remove(struct vodq_redis *r, struct vodq_proto_chan *ch,
                               const struct vodq_queue *q, const char *job,
                               const char *only_state, long long ended_before_ms, bool *skipped,
                               struct vodq_err *err);

/* Returns a new cJSON-free JSON object text describing the job (every hash
 * field, with numbers as numbers and spec/result/progress_data inlined);
 * caller frees with free(). NULL with VODQ_ERR_NOTFOUND if no such job. */
char *vodq_proto_job_json(struct vodq_redis *r, const struct vodq_queue *q, const char *job,
                          struct vodq_err *err);

/* Releases a session (session.lua): cancels its unfinished jobs and deletes its keys;
 * when exports is not NULL, stores there a new NULL-terminated list of the session's
 * export paths (free each and the list). *cancelled gets the number cancelled. */
enum vodq_rc vodq_proto_session_release(struct vodq_redis *r, const struct vodq_queue *q,
                                        const char *session, int *cancelled, char ***exports,
                                        struct vodq_err *err);

/* Returns the session as a new JSON text (free()): id, created_at, updated_at, jobs,
 * last_export, last_export_job, last_export_seq, and "jobs_list": [{id, type, state,
 * seq}] in submit order. VODQ_ERR_NOTFOUND for an unknown session and VODQ_ERR_INVALID
 * "session released" for a released one. */
char *vodq_proto_session_json(struct vodq_redis *r, const struct vodq_queue *q,
                              const char *session, struct vodq_err *err);

/* The fields of one events-stream entry (an element of an XRANGE/XREAD
 * reply, docs/protocol.md §3): borrowed from e, valid while e lives; job,
 * type and state NULL when absent, data "{}" when absent. */
struct vodq_event {
    const char *id, *job, *type, *state, *data;
};
void vodq_event_fields(const struct vodq_reply *e, struct vodq_event *ev);

#endif
