/* sched.h: the scheduler's work: validate submissions into jobs, promote
 * delayed retries, reclaim stalled tasks, reap dead workers, trim streams,
 * forget idle consumers. Several schedulers may run at once: submissions
 * are read through a consumer group and every other step is one Lua
 * script, so nothing is done twice. */
#ifndef VODQ_SCHED_H
#define VODQ_SCHED_H

#include "shared/err.h"
#include "shared/job.h"
#include "scheduler/retention.h"

#include <stdbool.h>
#include <stdint.h>

struct vodq_sched_config {
    const char *redis_url;       /* borrowed */
    const char *queue;           /* queue name */
    const char *id;              /* scheduler id (consumer name); NULL = host-pid */
    int64_t lease_ms;            /* a task idle this long is reclaimed */
    int64_t worker_timeout_ms;   /* a worker silent this long is reaped */
    int64_t tick_ms;             /* maintenance period */
    int64_t block_ms;            /* how long the submit read blocks */
    long long events_maxlen;     /* events stream MAXLEN ~ */
    long long retention_s;       /* finished job hash retention */
    long long session_ttl_s;     /* a session without activity this long expires */
    struct vodq_job_defaults defaults; /* for specs that leave them out */
    const struct vodq_keyring *keys;   /* seals stored credentials; NULL = clear; borrowed */
    const struct vodq_retention *retention; /* per type/state retention; NULL = none */
    long long hooks_max;               /* pending webhook deliveries kept at most */
};

struct vodq_sched;

/* Returns a new scheduler or NULL with err filled. Borrows cfg's strings. */
struct vodq_sched *vodq_sched_new(const struct vodq_sched_config *cfg, struct vodq_err *err);

/* Runs until vodq_sched_stop(); reconnects to Redis by itself. */
enum vodq_rc vodq_sched_run(struct vodq_sched *s, struct vodq_err *err);

/* Async-signal-safe stop request. */
void vodq_sched_stop(struct vodq_sched *s);

void vodq_sched_free(struct vodq_sched *s);

/* Counters since start, for /metrics. */
struct vodq_sched_counters {
    long long submitted, rejected, duplicates, promoted, reclaimed, reaped, trimmed;
};
void vodq_sched_counters(struct vodq_sched *s, struct vodq_sched_counters *out);

#endif
