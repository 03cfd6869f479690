/* metrics.h: a process's own counters for Prometheus (the worker's
 * /metrics): lock-free atomic counters that any thread may bump. */
#ifndef VODQ_METRICS_H
#define VODQ_METRICS_H

#include "shared/job.h"

#include <stdbool.h>

enum vodq_metric {
    VODQ_M_COMPOSE_FRAMES, /* frames the compose engine encoded */
    VODQ_M_UPLOAD_BYTES,   /* bytes the upload engine sent (bodies, retries included) */
    VODQ_M_CACHE_HITS,     /* source fetches served from the local cache */
    VODQ_M_CACHE_MISSES,   /* source fetches that went to the origin */
    VODQ_M_TOKEN_EXPIRED,  /* uploads stopped on expired credentials */
    VODQ_M__COUNT
};

/* Adds n to a counter. Thread-safe. */
void vodq_metric_add(enum vodq_metric m, long long n);
long long vodq_metric_get(enum vodq_metric m);

/* Slots of a type (set once at start) and a task's start and end on one:
 * busy slots per type, tasks finished per type and outcome ("ok", "fail",
 * "cancelled", "handback", "dropped") and their run time. Thread-safe. */
void vodq_metric_slots(enum vodq_task_type t, int slots);
void vodq_metric_task_start(enum vodq_task_type t);
void vodq_metric_task_end(enum vodq_task_type t, const char *outcome, long long ms);

/* Returns the Prometheus text exposition of everything above (a new
 * string; free with free()), NULL on OOM. Labels carry worker="id". */
char *vodq_metrics_text(const char *worker);

#endif
