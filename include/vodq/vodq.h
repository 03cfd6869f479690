/* vodq.h: the vodq client library, the server-side counterpart of the
 * Aliyun short-video SDK's AliyunIVodCompose.
 *
 *   AliyunIVodCompose            vodq
 *   compose(config, out, cb)     vodq_session_compose()  (many times per session)
 *   pause/resume/cancelCompose   vodq_job_pause/resume/cancel(job id)
 *   uploadVideoWithVod(...)      vodq_session_upload_video() (path NULL = last export)
 *   uploadImageWithVod(...)      vodq_session_upload_image()
 *   refreshWithUploadAuth(auth)  vodq_job_refresh_auth()
 *   pause/resume/cancelUpload    vodq_job_pause/resume/cancel(job id)
 *   release()                    vodq_session_release()
 *   callbacks                    vodq_job_watch() (blocking) or vodq_watch_*()
 *                                (a descriptor and a step function for an
 *                                event loop), with a struct vodq_callbacks
 *
 *   (session state)              vodq_session_get()
 *
 * Every call talks to Redis; a vodq_client is not thread-safe (one per
 * thread). Functions return VODQ_OK or an error code and fill *err (which
 * may be NULL). Self-contained: C99 or C++; link with `pkg-config --libs
 * vodq`. examples/seed_flow.c walks through a whole session. */
#ifndef VODQ_VODQ_H
#define VODQ_VODQ_H

#include <vodq/err.h>
#include <vodq/version.h>

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH" (VODQ_VERSION_STRING of the
 * headers it was built with). */
VODQ_API const char *vodq_version(void);

struct vodq_client;

/* Connects to redis_url ("redis://[user:pass@]host:port/db") for queue
 * ("default" if NULL). Returns a new client or NULL with err filled; free
 * with vodq_client_close(). */
VODQ_API struct vodq_client *vodq_client_open(const char *redis_url, const char *queue,
                                              struct vodq_err *err);
VODQ_API void vodq_client_close(struct vodq_client *c);

/* Options of vodq_client_open_opts(). Zero the struct, set size to
 * sizeof(struct vodq_client_opts) and the fields you need; a NULL or 0
 * field takes its default. Later versions add fields only at the end and
 * read none past size, so a program built against older headers keeps
 * working with a newer library. */
struct vodq_client_opts {
    size_t size;               /* sizeof(struct vodq_client_opts) */
    const char *redis_url;     /* redis://[user:pass@]host:port/db, rediss:// (TLS),
                                  redis+sentinel://[user:pass@]h:p[,h:p...]/master[/db],
                                  rediss+sentinel://..., unix:///path.sock (NULL:
                                  redis://127.0.0.1:6379); docs/operations.md */
    const char *queue;         /* NULL: "default" */
    const char *tls_ca_file;   /* rediss: CA bundle (PEM) to verify the server (NULL: the
                                  system's CAs) */
    const char *tls_cert_file; /* rediss: client certificate (PEM), for mutual TLS */
    const char *tls_key_file;  /* rediss: the private key (PEM) of tls_cert_file */
    const char *secret_key_file; /* the keyring (docs/operations.md): credentials in specs
                                    and in refresh-auth are sealed before they reach Redis */
    long long events_maxlen;   /* approximate length cap of the events stream, as the
                                  scheduler's (0: 100000) */
    long long retention_s;     /* seconds a finished job hash is kept, as the scheduler's
                                  (0: 604800) */
    int command_timeout_ms;    /* per Redis command (0: 5000) */
};

/* Like vodq_client_open(), with options. The TLS files apply to every
 * rediss:// connection of the process (they are process-wide settings of
 * the TLS layer). NULL with err filled on failure (a bad option, an
 * unreadable keyring, no Redis). */
VODQ_API struct vodq_client *vodq_client_open_opts(const struct vodq_client_opts *o,
                                                   struct vodq_err *err);
/* A warning from opening (e.g. a keyring file readable by others), or NULL. */
VODQ_API const char *vodq_client_warning(const struct vodq_client *c);

/* Submits a job spec (JSON text, docs/protocol.md). On success writes the
 * job id into id (cap >= 129). An invalid spec fails with VODQ_ERR_INVALID
 * naming the bad field (the job is still recorded as rejected). */
VODQ_API enum vodq_rc vodq_submit(struct vodq_client *c, const char *spec_json, char *id,
                                  size_t cap, struct vodq_err *err);

/* The result of one spec of vodq_submit_many. */
struct vodq_submit_result {
    char id[129];        /* the job id; "" for an invalid spec without a usable id */
    struct vodq_err err; /* code VODQ_OK: submitted; otherwise why not (the JSON path
                            of a bad field) */
};

/* Submits n job specs (JSON texts) pipelined, a thousand per round trip, and
 * fills results[0..n-1]. Unlike vodq_submit, an invalid spec is not sent
 * (nothing is recorded for it). Returns VODQ_OK when every spec was
 * submitted, VODQ_ERR_INVALID when some were not (see their results), or
 * the connection's error (the results of the specs it left unsent say so). */
VODQ_API enum vodq_rc vodq_submit_many(struct vodq_client *c, const char *const *specs, size_t n,
                                       struct vodq_submit_result *results, struct vodq_err *err);

/* Returns the job as a new JSON object text (free with free()), or NULL. */
VODQ_API char *vodq_job_status(struct vodq_client *c, const char *id, struct vodq_err *err);

VODQ_API enum vodq_rc vodq_job_pause(struct vodq_client *c, const char *id, struct vodq_err *err);
VODQ_API enum vodq_rc vodq_job_resume(struct vodq_client *c, const char *id, struct vodq_err *err);
VODQ_API enum vodq_rc vodq_job_cancel(struct vodq_client *c, const char *id, struct vodq_err *err);
VODQ_API enum vodq_rc vodq_job_retry(struct vodq_client *c, const char *id, struct vodq_err *err);
/* New credentials for an upload: the base64 UploadAuth (VOD) or a JSON
 * {"access_key","secret_key","session_token"} (S3). */
VODQ_API enum vodq_rc vodq_job_refresh_auth(struct vodq_client *c, const char *id, const char *auth,
                                            struct vodq_err *err);
/* Any of the above by name: cmd is "pause", "resume", "cancel", "retry" or
 * "refresh_auth" (arg: the credentials; else NULL). On success copies what
 * happened ("pausing", "paused", "queued", "cancelled", "cancelling",
 * "delivered"...) into msg (cap bytes; msg may be NULL). A refused command
 * fails with VODQ_ERR_INVALID and the reason, an unknown job with
 * VODQ_ERR_NOTFOUND. */
VODQ_API enum vodq_rc vodq_job_control(struct vodq_client *c, const char *id, const char *cmd,
                                       const char *arg, char *msg, size_t cap,
                                       struct vodq_err *err);

/* Deletes a job that has ended or is still queued or delayed (its task too,
 * so no worker runs it). VODQ_ERR_NOTFOUND for no such job; VODQ_ERR_INVALID
 * with the reason for one that cannot be removed now (active, paused,
 * waiting, an open multipart upload, a member its group waits for). */
VODQ_API enum vodq_rc vodq_job_remove(struct vodq_client *c, const char *id, struct vodq_err *err);

/* Removes every job in state ("dead", "succeeded", "cancelled" or
 * "rejected") that ended more than older_than_ms ago. *removed and *refused
 * (may be NULL) get the counts, also on failure (those removed so far). */
VODQ_API enum vodq_rc vodq_purge(struct vodq_client *c, const char *state, long long older_than_ms,
                                 long long *removed, long long *refused, struct vodq_err *err);

/* Returns a new JSON array text (free with free()) of jobs as
 * vodq_job_status() gives them, newest first (by created_at): at most limit
 * (<= 0: all), only those in state when state is not NULL or "". It reads
 * every job of the queue (SCAN): an operator's tool, not a hot path. */
VODQ_API char *vodq_job_list(struct vodq_client *c, const char *state, long limit,
                             struct vodq_err *err);

/* Returns a new JSON array text (free with free()) of the dead-lettered
 * jobs that are still dead (not retried since), newest first, each as
 * vodq_job_status() gives it; at most the last 1000 dead letters are read. */
VODQ_API char *vodq_dead_list(struct vodq_client *c, struct vodq_err *err);

/* Returns a new JSON object text (free with free()):
 * {"queue","types":{lane:{"queued","in_flight"}},"delayed","workers",
 *  "totals":{"submitted","succeeded","dead","cancelled","rejected"},
 *  "rates_per_s":{"submitted","succeeded","dead"}}; the rates are counted
 * over sample_ms (the call sleeps that long; 0: no rates, all 0). */
VODQ_API char *vodq_stats(struct vodq_client *c, int sample_ms, struct vodq_err *err);

/* Returns a new JSON array text (free with free()) of the live workers:
 * [{"id","beat_at" (ms),"beat_ms_ago","info" (the worker's capability
 * JSON, docs/protocol.md §1)}]. */
VODQ_API char *vodq_workers(struct vodq_client *c, struct vodq_err *err);

/* The queue's Aliyun MediaId map (docs/aliyun-timeline.md): set maps id to
 * a path or URL; remove fails with VODQ_ERR_NOTFOUND for an unknown id;
 * list returns a new JSON object text {id: url} (free with free()). */
VODQ_API enum vodq_rc vodq_media_set(struct vodq_client *c, const char *id, const char *url,
                                     struct vodq_err *err);
VODQ_API enum vodq_rc vodq_media_remove(struct vodq_client *c, const char *id,
                                        struct vodq_err *err);
VODQ_API char *vodq_media_list(struct vodq_client *c, struct vodq_err *err);

/* Callbacks of vodq_job_watch(); any may be NULL. */
struct vodq_callbacks {
    void *opaque;
    /* progress in percent; data is the event's JSON (done, total, ...) */
    void (*on_progress)(void *opaque, const char *id, double percent, const char *data);
    /* every state change (queued, active, paused, waiting_auth, delayed, ...) */
    void (*on_state)(void *opaque, const char *id, const char *state, const char *data);
    /* other events: token_expired, retry, retry_resume, auth_expiring, stalled... */
    void (*on_event)(void *opaque, const char *id, const char *name, const char *data);
    /* the job succeeded; result is its result JSON ("{}" if none), e.g.
     * {"output":...} for compose, {"location":...,"etag":...} for upload */
    void (*on_completed)(void *opaque, const char *id, const char *result);
    /* the job ended without success (state "dead", "cancelled" or
     * "rejected"); code is the job's error code: a vodq_rc_name() token
     * ("auth", "io", ...; vodq_rc_parse() gives the enum) or "stalled",
     * "cancelled", "rejected"; message is its error text */
    void (*on_failed)(void *opaque, const char *id, const char *state, const char *code,
                      const char *message);
};

/* Follows a job until it ends or timeout_ms passes (0 = no limit): reads
 * the durable events stream from the start of the job's life, so nothing
 * is missed. Returns VODQ_OK when the job succeeded, VODQ_ERR_TIMEOUT, or
 * an error with the job's last error message. */
VODQ_API enum vodq_rc vodq_job_watch(struct vodq_client *c, const char *id,
                                     const struct vodq_callbacks *cb, long timeout_ms,
                                     struct vodq_err *err);

/* ---- Non-blocking watch, for event loops ----
 *
 * A watch follows one job on a Redis connection of its own (so that a
 * callback may call the client, e.g. vodq_job_refresh_auth() from
 * on_event "token_expired"). Wait until vodq_watch_fd() is readable (poll,
 * epoll, libuv, GLib...) or a timeout of at most vodq_watch_timeout_ms()
 * passes, then call vodq_watch_step(): it runs the callbacks for what
 * arrived and never blocks. The descriptor can change after a step
 * (reconnect); ask for it again each time round. */
struct vodq_watch;

/* Returns a new watch of job id on c's Redis and queue, reading the
 * durable events stream from the start of the job's life (nothing is
 * missed). Borrows cb (and its opaque), which must outlive the watch.
 * Free with vodq_watch_free(). NULL with err filled on failure. */
VODQ_API struct vodq_watch *vodq_watch_new(struct vodq_client *c, const char *id,
                                           const struct vodq_callbacks *cb, struct vodq_err *err);
VODQ_API void vodq_watch_free(struct vodq_watch *w);
/* The socket to wait on for reading; -1 while disconnected (step again
 * after vodq_watch_timeout_ms() to reconnect). */
VODQ_API int vodq_watch_fd(const struct vodq_watch *w);
/* The longest an event loop should wait before the next step. */
VODQ_API int vodq_watch_timeout_ms(const struct vodq_watch *w);
/* Handles what has arrived. Returns 0 while the job runs, 1 once it has
 * ended (the callbacks have run; *err is VODQ_OK when it succeeded, else
 * the job's failure as from vodq_job_watch()), or -1 on a connection or
 * protocol error (err filled; the next step reconnects and goes on). */
VODQ_API int vodq_watch_step(struct vodq_watch *w, struct vodq_err *err);

/* Session helpers: a session groups a user's compose and upload jobs; its
 * hash remembers the last export, which an upload without a path takes.
 * Each writes the new job id into id (cap >= 129). */
VODQ_API enum vodq_rc vodq_session_compose(struct vodq_client *c, const char *session,
                                           const char *timeline_json, const char *output_path,
                                           char *id, size_t cap, struct vodq_err *err);
/* path NULL: the session's last export. address/auth: base64 VOD values. */
VODQ_API enum vodq_rc vodq_session_upload_video(struct vodq_client *c, const char *session,
                                                const char *path, const char *upload_address,
                                                const char *upload_auth, char *id, size_t cap,
                                                struct vodq_err *err);
VODQ_API enum vodq_rc vodq_session_upload_image(struct vodq_client *c, const char *session,
                                                const char *path, const char *upload_address,
                                                const char *upload_auth, char *id, size_t cap,
                                                struct vodq_err *err);
/* Where and how an upload goes: an S3-compatible target when s3_url is
 * set, else a VOD target (upload_address and upload_auth). NULL/0 fields
 * take the engine's defaults (docs/protocol.md, the upload section). */
struct vodq_upload_opts {
    const char *s3_url;     /* "s3://bucket/key" */
    const char *endpoint;   /* S3: "https://host[:port]" (NULL = AWS for region);
                               VOD: overrides the address's Endpoint */
    const char *region;     /* S3 signing region (NULL = us-east-1) */
    const char *access_key; /* S3 credentials: never logged */
    const char *secret_key;
    const char *session_token;  /* NULL = none */
    bool path_style;            /* http://host/bucket/key (MinIO, Swift, Ceph) */
    const char *upload_address; /* VOD: base64 UploadAddress */
    const char *upload_auth;    /* VOD: base64 UploadAuth */
    bool image;                 /* one PutObject (a cover), not multipart */
    const char *content_type;   /* NULL = from the file name */
    long long part_size;        /* bytes per part (0 = 8 MiB) */
    int parallel;               /* parts in flight (0 = 4) */
    int wait_auth_s;            /* how long to wait for refresh-auth (0 = 300 s) */
    const char *job_id;         /* NULL = generated */
    int max_attempts;           /* 0 = the scheduler's default */
};

/* Uploads path (NULL: the session's last export) as o describes. */
VODQ_API enum vodq_rc vodq_session_upload(struct vodq_client *c, const char *session,
                                          const char *path, const struct vodq_upload_opts *o,
                                          char *id, size_t cap, struct vodq_err *err);

/* Returns the session as a new JSON object text (free with free()): "last_export" (the
 * path an upload without a file takes), "last_export_job", "last_export_seq" (its
 * number: the jobs of a session that produce an export are numbered when submitted, and
 * the last export only moves forward), "jobs", and "jobs_list": [{"id", "type", "state",
 * "seq"}] in submit order. NULL with VODQ_ERR_NOTFOUND for an unknown session, and
 * VODQ_ERR_INVALID "session released" for a released one. */
VODQ_API char *vodq_session_get(struct vodq_client *c, const char *session,
                                struct vodq_err *err);
/* Ends the session: cancels its unfinished jobs and deletes its keys; with
 * delete_exports, also deletes the files its jobs exported, from the caller's host
 * (they must be reachable there). Later calls for the session fail with "session
 * released" (a job submitted to it is rejected); the mark expires with the session's
 * ttl. Finished jobs keep their own retention. */
VODQ_API enum vodq_rc vodq_session_release(struct vodq_client *c, const char *session,
                                           int delete_exports, struct vodq_err *err);
/* Like vodq_session_release() without deleting files: *cancelled (may be
 * NULL) gets the number of jobs cancelled and, when exports is not NULL,
 * *exports a new NULL-terminated list of the session's export paths (free
 * each and the list with free()) for the caller to delete where they are. */
VODQ_API enum vodq_rc vodq_session_release_exports(struct vodq_client *c, const char *session,
                                                   int *cancelled, char ***exports,
                                                   struct vodq_err *err);

#ifdef __cplusplus
}
#endif

#endif
