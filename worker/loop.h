/* loop.h: the worker runtime: slots per task type, claiming with one fused
 * Lua step per round trip, heartbeat and lease renewal, control messages,
 * timeouts and graceful hand-back on shutdown. */
#ifndef VODQ_WORKER_LOOP_H
#define VODQ_WORKER_LOOP_H

#include "shared/err.h"
#include "shared/job.h"
#include "worker/executor.h"

#include <stdbool.h>
#include <stdint.h>

struct vodq_worker_config {
    const char *redis_url;          /* borrowed */
    const char *queue;              /* queue name */
    const char *id;                 /* worker id; NULL = host-pid-random */
    int slots[VODQ_TASK__COUNT];    /* slots per task type; 0 = do not serve it */
    int64_t heartbeat_ms;           /* heartbeat and lease renewal period */
    int64_t progress_interval_ms;   /* min time between progress writes of one task */
    int64_t grace_ms;               /* on SIGTERM: time running tasks get to hand back */
    int64_t block_ms;               /* blocking claim wait when the queue is empty */
    long long events_maxlen;        /* events stream MAXLEN ~ */
    long long retention_s;          /* finished job hash retention */
    const char *capabilities_json;  /* extra capability JSON object (encoders...), or NULL */
    const struct vodq_roots *roots; /* path roots handed to every task; NULL = none */
    const struct vodq_keyring *keys; /* opens sealed credentials (spec, auth); NULL = none */
    vodq_exec_run_fn exec[VODQ_TASK__COUNT]; /* engine per task type */
};

struct vodq_worker;

/* Returns a new worker (not yet running) or NULL with err filled. Borrows
 * cfg's strings; they must outlive the worker. */
struct vodq_worker *vodq_worker_new(const struct vodq_worker_config *cfg, struct vodq_err *err);

/* Runs until vodq_worker_stop() is called, then hands running tasks back.
 * Returns VODQ_OK after a clean stop. */
enum vodq_rc vodq_worker_run(struct vodq_worker *w, struct vodq_err *err);

/* Asks the worker to stop (async-signal-safe: sets a flag). */
void vodq_worker_stop(struct vodq_worker *w);

/* The worker's id (valid while w lives). */
const char *vodq_worker_id(const struct vodq_worker *w);

void vodq_worker_free(struct vodq_worker *w);

#endif
