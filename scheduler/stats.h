/* stats.h: the scheduler's latency and failure metrics, computed from the
 * durable events stream (no extra Redis writes by the scripts):
 *   vodq_job_wait_seconds{type}   histogram: queued -> active, per attempt
 *   vodq_job_run_seconds{type}    histogram: active -> end of the attempt
 *   vodq_job_failures_total{type,code}  failed attempts (delayed or dead)
 *   vodq_job_retries_total{type}        attempts sent back for a retry
 *   vodq_lane_oldest_waiting_seconds{lane}  age of the oldest entry no
 *                                           worker has claimed
 *   vodq_lane_lag{lane}           entries the `workers` group has not read
 * The histograms and counters cover what happened since this scheduler
 * started (Prometheus treats a restart as a counter reset). Every
 * scheduler computes the same figures: scrape one, or aggregate with max. */
#ifndef VODQ_SCHED_STATS_H
#define VODQ_SCHED_STATS_H

#include "shared/proto.h"
#include "shared/redis.h"

struct vodq_stats;

/* Returns a new reader positioned at the end of q's events stream (read
 * through r, which must outlive it), or NULL on OOM. */
struct vodq_stats *vodq_stats_new(struct vodq_redis *r, const struct vodq_queue *q);
void vodq_stats_free(struct vodq_stats *st);

/* Reads the events that arrived since the last call, then returns the
 * metrics above as Prometheus text (a new string; free with free()), or
 * NULL on OOM. Not thread-safe: call from one thread (the HTTP thread). */
char *vodq_stats_text(struct vodq_stats *st);

/* Appends vodq_stats_text(st) to base (a malloc'd string, taken over) and
 * returns the result; base alone when st is NULL or on OOM. */
char *vodq_stats_append(char *base, struct vodq_stats *st);

#endif
