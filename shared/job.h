/* job.h: the job model: states, the state machine, job spec parsing and
 * validation (JSON via cJSON), job ids and retry backoff. */
#ifndef VODQ_JOB_H
#define VODQ_JOB_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VODQ_SPEC_VERSION 1
#define VODQ_ID_MAX 128 /* bytes of a job or session id, without NUL */

enum vodq_job_state {
    VODQ_JOB_SUBMITTED,    /* in the submit stream, not yet validated */
    VODQ_JOB_QUEUED,       /* a task entry waits in its stream */
    VODQ_JOB_ACTIVE,       /* a worker runs it */
    VODQ_JOB_PAUSED,       /* held by a worker, or parked without a task entry */
    VODQ_JOB_WAITING_AUTH, /* upload stopped on expired credentials */
    VODQ_JOB_WAITING_SESSION, /* upload without a file: waits for its session's earlier jobs */
    VODQ_JOB_DELAYED,      /* failed attempt; waits in the delayed zset */
    VODQ_JOB_SUCCEEDED,    /* done */
    VODQ_JOB_DEAD,         /* out of attempts or a permanent error */
    VODQ_JOB_CANCELLED,    /* cancelled by a user */
    VODQ_JOB_REJECTED,     /* the spec was invalid */
    VODQ_JOB_WAITING_MEMBERS, /* a group: waits for its members to end */
    VODQ_JOB__COUNT
};

/* Returns the state's name as stored in Redis ("queued"), or NULL. */
const char *vodq_job_state_name(enum vodq_job_state s);
/* Parses a state name; returns VODQ_JOB__COUNT for an unknown one. */
enum vodq_job_state vodq_job_state_parse(const char *name);
/* True for succeeded, dead, cancelled, rejected. */
bool vodq_job_state_terminal(enum vodq_job_state s);
/* The moves between states are enforced by the Lua scripts (set_state and the MOVES
 * table in shared/lua/common.lua); docs/protocol.md copies that table. */

/* Task types, which are also the lanes (task streams tasks:<name>). A
 * compose job that needs a GPU encoder goes to the compose_gpu lane, which
 * only workers whose probe found one serve. */
enum vodq_task_type {
    VODQ_TASK_SLEEP,
    VODQ_TASK_COMPOSE,
    VODQ_TASK_UPLOAD,
    VODQ_TASK_COMPOSE_GPU, /* a lane, not a spec type */
    VODQ_TASK__COUNT
};
/* Lane name: "sleep", "compose", "upload", "compose_gpu". */
const char *vodq_task_type_name(enum vodq_task_type t);
/* Parses a spec "type" (sleep, compose, upload); VODQ_TASK__COUNT if unknown. */
enum vodq_task_type vodq_task_type_parse(const char *name);
/* The job type a lane runs ("compose" for compose_gpu): also the name of
 * the spec section the engine gets. */
const char *vodq_task_section(enum vodq_task_type t);

/* Capability tags (worker/compose/hw.c yields them; compose.require names them):
 * "nvenc", "nvdec", "cuda_filters", "vaapi", "qsv", "x264", "x265". True for one of
 * these; *gpu tells whether it needs a GPU (a compose that needs one goes to the
 * compose_gpu lane). */
bool vodq_job_tag_known(const char *tag, bool *gpu);

/* A validated job spec. */
struct vodq_job_spec {
    char id[VODQ_ID_MAX + 1];      /* given or generated */
    bool id_given;                 /* the spec carried its own id */
    enum vodq_task_type type;      /* which engine runs it */
    enum vodq_task_type lane;      /* which task stream: type, or compose_gpu */
    char session[VODQ_ID_MAX + 1]; /* "" if none */
    char require[128];             /* capability tags a worker needs, "a,b" ("" if none):
                                    * compose.require plus those its encoder implies */
    int max_attempts;              /* >= 1 */
    int64_t timeout_ms;            /* 0 = no timeout */
    int64_t backoff_base_ms;       /* first retry delay */
    int64_t backoff_max_ms;        /* cap */
    int64_t run_at_ms;             /* "run_at": ms since the epoch, 0 = none */
    int64_t delay_ms;              /* "delay_ms": from creation, 0 = none */
    int priority;                  /* "priority" 0..9 (higher is claimed first), 0 if none */
    char tenant[65];               /* "tenant", "" if none (fair sharing, protocol.md §17) */
    char notify_url[1025];         /* "notify_url": webhook on success/death/cancel; "" none */
    char *json;                    /* the normalised spec (with id); owned */
    bool group;                    /* type "group": type and lane are VODQ_TASK__COUNT; its
                                    * members and then jobs are created by the Lua scripts */
    int depth;                     /* levels of then/group above this spec (0: submitted) */
};

/* The spec's type and lane as stored in the job hash ("group" for a group). */
const char *vodq_job_spec_type_name(const struct vodq_job_spec *s);
const char *vodq_job_spec_lane_name(const struct vodq_job_spec *s);

struct vodq_job_defaults {
    int max_attempts;        /* when the spec gives none */
    int64_t backoff_base_ms; /* when the spec gives none */
    int64_t backoff_max_ms;  /* when the spec gives none */
    size_t max_spec_bytes;   /* larger specs are rejected */
};

/* Parses and validates spec text (len bytes, not necessarily NUL-ended).
 * On success fills *out (clean up with vodq_job_spec_cleanup) and returns
 * VODQ_OK; on failure returns VODQ_ERR_INVALID with a message naming the
 * JSON path of the bad field ("sleep.ms: must be an integer 0..86400000"),
 * and still fills out->id when the spec carried a usable id, so the
 * rejected job can be recorded under it. */
enum vodq_rc vodq_job_spec_parse(const char *text, size_t len, const struct vodq_job_defaults *d,
                                 struct vodq_job_spec *out, struct vodq_err *err);
void vodq_job_spec_cleanup(struct vodq_job_spec *s);

/* True when id is 1..128 characters of [A-Za-z0-9_.:-]. */
bool vodq_job_id_valid(const char *id);

/* True when t is a tenant name: 1..64 characters of [A-Za-z0-9_.-] (no ':', so the
 * keys that embed it stay unambiguous). */
bool vodq_tenant_valid(const char *t);

/* Writes a new random job id (26 characters, time-ordered) into buf (>= 32 bytes). */
void vodq_job_id_new(char *buf, size_t cap);

/* Milliseconds since the epoch. */
int64_t vodq_now_ms(void);

/* Returns a new JSON object text (free with free()) built from a job hash's
 * n field/value pairs: numeric fields become numbers, "spec", "result" and
 * "progress_data" are inlined as JSON, "auth" is never included (it holds
 * credentials). Returns NULL on OOM. */
char *vodq_job_hash_json(const char *const *fields, const char *const *values, size_t n);

/* True when the JSON key name[0..len) names a secret (it contains
 * "secret", "token", "password", "passwd", "auth", "credential" or
 * "private", any case): its value is never shown. */
bool vodq_job_key_secret(const char *name, size_t len);

/* Returns a new string (free with free()): text (len bytes, JSON or not)
 * with the value after every "KEY": whose KEY names a secret replaced by
 * "***", found by a lexical scan that needs no valid JSON. NULL on OOM. */
char *vodq_job_mask_text(const char *text, size_t len);

/* Returns a new string (free with free()): spec text as it may be shown or
 * stored for a rejected job: re-printed with secrets masked when it is
 * JSON, else masked by vodq_job_mask_text(). NULL on OOM. */
char *vodq_job_spec_shown(const char *text, size_t len);

/* Returns a new string (free with free()): the JSON text of the task
 * section (spec_json[type], e.g. the "upload" object) of a job spec. When
 * set_file is not NULL and the section has no "file", adds it. NULL if the
 * spec is not JSON or has no such object. */
char *vodq_job_spec_section(const char *spec_json, const char *type, const char *set_file);

/* Copies the string member `key` of the JSON object text into buf;
 * returns false (buf = "") if absent or not a string. */
bool vodq_json_get_string(const char *json, const char *key, char *buf, size_t cap);

/* Returns the numeric member `key` of the JSON object text, or def. */
double vodq_json_get_number(const char *json, const char *key, double def);

/* Returns true when the member `key` of the JSON object text is true. */
bool vodq_json_get_true(const char *json, const char *key);

/* Returns true when the JSON object text has a member `key` (any value but
 * null): a key, not a value that happens to spell it. */
bool vodq_json_has(const char *json, const char *key);

/* Builds job spec texts for the client library (free with free()); NULL on
 * OOM or when timeline_json is not a JSON object. session may be NULL;
 * path NULL = the session's last export. */
char *vodq_job_spec_compose(const char *session, const char *timeline_json, const char *output);
char *vodq_job_spec_upload(const char *session, const char *path, const char *upload_address,
                           const char *upload_auth, bool image);
/* The same from a struct vodq_upload_opts (include/vodq/vodq.h): an S3
 * target when o->s3_url is set, else VOD; NULL when neither is complete. */
struct vodq_upload_opts;
char *vodq_job_spec_upload_opts(const char *session, const char *path,
                                const struct vodq_upload_opts *o);

/* Writes a process instance id into buf: given if not NULL/empty, else
 * prefix + "host-pid-random" (consumer names of workers and schedulers). */
void vodq_job_instance_id(char *buf, size_t cap, const char *prefix, const char *given);

/* Returns a new upload section (free with free()) with the newest
 * credentials from refresh-auth applied: for "vod", auth is the base64
 * UploadAuth and replaces vod.upload_auth; for "s3", auth is a JSON object
 * whose access_key / secret_key / session_token replace those of s3.
 * NULL if section is not JSON or auth does not fit the target. */
char *vodq_job_section_with_auth(const char *section, const char *auth);

#endif
