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
 *   callbacks                    vodq_job_watch() with a struct vodq_callbacks
 *
 *   (session state)              vodq_session_get()
 *
 * Every call talks to Redis; a vodq_client is not thread-safe (one per
 * thread). Functions return VODQ_OK or an error code and fill *err. */
#ifndef VODQ_VODQ_H
#define VODQ_VODQ_H

#include "shared/err.h"

#include <stddef.h>

struct vodq_client;

/* Connects to redis_url ("redis://[user:pass@]host:port/db") for queue
 * ("default" if NULL). Returns a new client or NULL with err filled; free
 * with vodq_client_close(). */
struct vodq_client *vodq_client_open(const char *redis_url, const char *queue,
                                     struct vodq_err *err);
void vodq_client_close(struct vodq_client *c);

/* Submits a job spec (JSON text, docs/protocol.md). On success writes the
 * job id into id (cap >= 129). An invalid spec fails with VODQ_ERR_INVALID
 * naming the bad field (the job is still recorded as rejected). */
enum vodq_rc vodq_submit(struct vodq_client *c, const char *spec_json, char *id, size_t cap,
                         struct vodq_err *err);

/* Returns the job as a new JSON object text (free with free()), or NULL. */
char *vodq_job_status(struct vodq_client *c, const char *id, struct vodq_err *err);

enum vodq_rc vodq_job_pause(struct vodq_client *c, const char *id, struct vodq_err *err);
enum vodq_rc vodq_job_resume(struct vodq_client *c, const char *id, struct vodq_err *err);
enum vodq_rc vodq_job_cancel(struct vodq_client *c, const char *id, struct vodq_err *err);
enum vodq_rc vodq_job_retry(struct vodq_client *c, const char *id, struct vodq_err *err);
/* New credentials for an upload: the base64 UploadAuth (VOD) or a JSON
 * {"access_key","secret_key","session_token"} (S3). */
enum vodq_rc vodq_job_refresh_auth(struct vodq_client *c, const char *id, const char *auth,
                                   struct vodq_err *err);

/* Callbacks of vodq_job_watch(); any may be NULL. */
struct vodq_callbacks {
    void *opaque;
    /* progress in percent; data is the event's JSON (done, total, ...) */
    void (*on_progress)(void *opaque, const char *id, double percent, const char *data);
    /* every state change (queued, active, paused, waiting_auth, delayed, ...) */
    void (*on_state)(void *opaque, const char *id, const char *state, const char *data);
    /* other events: token_expired, retry, retry_resume, auth_expiring, stalled... */
    void (*on_event)(void *opaque, const char *id, const char *name, const char *data);
};

/* Follows a job until it ends or timeout_ms passes (0 = no limit): reads
 * the durable events stream from the start of the job's life, so nothing
 * is missed. Returns VODQ_OK when the job succeeded, VODQ_ERR_TIMEOUT, or
 * an error with the job's last error message. */
enum vodq_rc vodq_job_watch(struct vodq_client *c, const char *id,
                            const struct vodq_callbacks *cb, long timeout_ms,
                            struct vodq_err *err);

/* Session helpers: a session groups a user's compose and upload jobs; its
 * hash remembers the last export, which an upload without a path takes.
 * Each writes the new job id into id (cap >= 129). */
enum vodq_rc vodq_session_compose(struct vodq_client *c, const char *session,
                                  const char *timeline_json, const char *output_path, char *id,
                                  size_t cap, struct vodq_err *err);
/* path NULL: the session's last export. address/auth: base64 VOD values. */
enum vodq_rc vodq_session_upload_video(struct vodq_client *c, const char *session,
                                       const char *path, const char *upload_address,
                                       const char *upload_auth, char *id, size_t cap,
                                       struct vodq_err *err);
enum vodq_rc vodq_session_upload_image(struct vodq_client *c, const char *session,
                                       const char *path, const char *upload_address,
                                       const char *upload_auth, char *id, size_t cap,
                                       struct vodq_err *err);
/* Returns the session as a new JSON object text (free with free()): "last_export" (the
 * path an upload without a file takes), "last_export_job", "last_export_seq" (its
 * number: the jobs of a session that produce an export are numbered when submitted, and
 * the last export only moves forward), "jobs", and "jobs_list": [{"id", "type", "state",
 * "seq"}] in submit order. NULL with VODQ_ERR_NOTFOUND for an unknown session, and
 * VODQ_ERR_INVALID "session released" for a released one. */
char *vodq_session_get(struct vodq_client *c, const char *session, struct vodq_err *err);
/* Ends the session: cancels its unfinished jobs and deletes its keys; with
 * delete_exports, also deletes the files its jobs exported, from the caller's host
 * (they must be reachable there). Later calls for the session fail with "session
 * released" (a job submitted to it is rejected); the mark expires with the session's
 * ttl. Finished jobs keep their own retention. */
enum vodq_rc vodq_session_release(struct vodq_client *c, const char *session, int delete_exports,
                                  struct vodq_err *err);

#endif
