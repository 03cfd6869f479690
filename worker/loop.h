/* loop.h: the worker runtime: slot pools (sleep, compose, upload; the compose pool also
 * runs the compose_gpu lane), claiming with one fused Lua step per round trip,
 * heartbeat and lease renewal, control messages, timeouts and graceful hand-back on
 * shutdown.
 *
 * Threads, where they live, what they touch, and the locks each takes:
 *
 * | thread          | file         | Redis connection         | locks (all: w->mu, held briefly) |
 * |-----------------|--------------|--------------------------|----------------------------------|
 * | main            | loop.c       | its own (start, shutdown | w->mu: shutdown scans slots,     |
 * |                 |              | hand-back, PUBLISH stop) | hands back, wakes every cv       |
 * | slot (1 per     | slots.c      | s->r, its own, made on   | w->mu + s->cv: waits for a task; |
 * | slot)           |              | first use (report, ckpt, | phase changes, free_slots, the   |
 * |                 |              | self step)               | done list (+ done_cv signal)     |
 * | claimer (1 per  | claim.c      | its own (blocking        | w->mu + claim_cv: free_slots;    |
 * | served lane)    |              | XREADGROUP, step)        | dispatch: slot phase, s->cv      |
 * | completer       | completer.c  | its own (batched step)   | w->mu + done_cv: takes the done  |
 * |                 |              |                          | list and free_slots; dispatch    |
 * | heartbeat       | heartbeat.c  | its own                  | w->mu: snapshot of busy slots,   |
 * |                 |              |                          | applies answers, s->cv broadcast |
 * | subscriber      | control.c    | its own (SUBSCRIBE)      | w->mu: sets desired, s->cv       |
 *
 * There is one mutex, w->mu; no thread holds it across a Redis call. Atomics (no lock):
 * s->desired, s->fenced, s->timed_out, s->auth_version, w->stopping, w->finished. No
 * thread touches another's Redis connection: shutdown wakes the subscriber by
 * publishing on its channel. The shared structures are in runtime.h. */
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
    int slots[VODQ_TASK__COUNT];    /* slots per pool (sleep, compose, upload); 0 = do not
                                     * serve it. slots[VODQ_TASK_COMPOSE_GPU] is unused: the
                                     * compose_gpu lane shares the compose pool */
    bool gpu_lane;                  /* also serve the compose_gpu lane (from the compose pool) */
    const char *tags;               /* capability tags "a,b,c" (hw.c's probe), or NULL */
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
    /* per pool, optional: true for a spec whose task ends at once (a sleep of 0 ms), with
     * its result in *result_json (malloc'd); such tasks are finished by the thread that
     * claimed them, without a slot or a thread wake-up */
    bool (*instant[VODQ_TASK__COUNT])(const char *spec_json, char **result_json);
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
