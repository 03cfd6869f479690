/* executor.h: the interface between the worker loop and a task engine
 * (compose, upload, sleep).
 *
 * The worker loop claims a task, builds a struct vodq_task_io whose
 * callbacks write to Redis (fenced: a worker that lost its lease gets
 * VODQ_ERR_FENCED back and must stop), and calls the engine's run
 * function. Standalone CLIs (vodq-compose, vodq-upload) build their own
 * struct vodq_task_io that prints progress and keeps a checkpoint in a
 * JSON file. Engines never include hiredis or know about Redis.
 *
 * Threading: every callback is called only from the thread that called
 * the engine's run function. */
#ifndef VODQ_EXECUTOR_H
#define VODQ_EXECUTOR_H

#include "shared/err.h"
#include "shared/roots.h"

#include <stddef.h>
#include <stdint.h>

/* The state the task's owner wants it to be in. */
enum vodq_ctl {
    VODQ_CTL_RUN = 0, /* keep going (also: resume after a pause) */
    VODQ_CTL_PAUSE,   /* hold: send nothing new, keep everything */
    VODQ_CTL_CANCEL,  /* stop, clean up (abort multipart, delete partial file) */
    VODQ_CTL_YIELD,   /* stop now and keep the checkpoint: the task is handed
                       * back to the queue (worker shutdown, timeout) */
};

/* A checkpoint: a flat map of string fields to string values, stored in a
 * Redis hash by the worker or in a JSON file by the CLIs. Fields are
 * engine-defined (the upload engine writes "upload_id", "part:N", ...). */
struct vodq_ckpt {
    void *opaque; /* passed back to every callback */
    /* Calls fn(arg, field, value) for every stored field; an empty
     * checkpoint calls it zero times. */
    enum vodq_rc (*load)(void *opaque, void (*fn)(void *arg, const char *field, const char *value),
                         void *arg, struct vodq_err *err);
    /* Stores n fields atomically (all or none). */
    enum vodq_rc (*save)(void *opaque, const char *const *fields, const char *const *values,
                         size_t n, struct vodq_err *err);
    /* Deletes the whole checkpoint. */
    enum vodq_rc (*clear)(void *opaque, struct vodq_err *err);
};

struct vodq_task_io {
    void *opaque; /* passed back to every callback */

    /* Progress: done of total units (bytes for uploads, milliseconds of
     * output for compose); extra_json is NULL or a JSON object text merged
     * into the progress event (e.g. {"frames":120,"fps":59.8}). The
     * callee rate-limits; engines may call it as often as they like.
     * Returns VODQ_ERR_FENCED when the lease is lost: stop at once. */
    enum vodq_rc (*progress)(void *opaque, int64_t done, int64_t total, const char *extra_json);

    /* A named event with a JSON object payload: "token_expired",
     * "retry", "retry_resume", "auth_expiring", "warning". Returns
     * VODQ_ERR_FENCED when the lease is lost. */
    enum vodq_rc (*event)(void *opaque, const char *name, const char *json);

    /* The desired state, cheap to call (engines poll it between frames or
     * parts, at least a few times a second). */
    enum vodq_ctl (*control)(void *opaque);

    /* Blocks up to timeout_ms for a change of control state or for new
     * credentials; returns the control state then. Engines call it while
     * paused or while waiting for credentials instead of spinning. */
    enum vodq_ctl (*wait)(void *opaque, int timeout_ms);

    /* New upload credentials delivered by refresh-auth since the last
     * call: returns a new malloc'd string (the base64 UploadAuth for VOD,
     * or a JSON object {"access_key":..,"secret_key":..,"session_token":..}
     * for S3) that the caller frees, or NULL if none arrived. */
    char *(*take_auth)(void *opaque);

    /* The task's checkpoint store; NULL when the task keeps none. */
    struct vodq_ckpt *ckpt;

    /* The worker's path roots: every local path of the task must pass
     * vodq_roots_check() against them. NULL = no restriction (the CLIs). */
    const struct vodq_roots *roots;

    const char *job_id; /* the job's id ("" in the CLIs); borrowed */
    int attempt;        /* 1 for the first attempt */
    /* The job's max_attempts (0 = not known): when attempt reaches it, a
     * failure is final and nothing will resume the task's checkpoint. */
    int max_attempts;
};

/* What a finished task reports; filled by the engine, freed by the caller
 * with free() on result_json. */
struct vodq_task_result {
    char *result_json; /* malloc'd JSON object text, or NULL */
};

/* An engine's run function. spec_json is the task's own section of the
 * job spec (the JSON object under "compose", "upload" or "sleep");
 * borrows it. Returns VODQ_OK on success (result filled), VODQ_ERR_CANCELLED
 * after a cancel, VODQ_ERR_PAUSED after a YIELD (checkpoint kept), or
 * another code with err filled for a failure (err->permanent set when a
 * retry cannot help). */
typedef enum vodq_rc (*vodq_exec_run_fn)(const char *spec_json, struct vodq_task_io *io,
                                         struct vodq_task_result *result, struct vodq_err *err);

#endif
