/* sleep.h: the built-in "sleep" diagnostic task.
 *
 * Spec section: {"ms": N, "fail_times": K, "permanent": false}. Sleeps N ms
 * (0 returns at once), reporting progress, obeying pause (time stops while
 * paused), cancel and yield; fails its first K attempts with a retryable
 * error (permanent: true makes that failure permanent). */
#ifndef VODQ_WORKER_SLEEP_H
#define VODQ_WORKER_SLEEP_H

#include "worker/executor.h"

#include <stdbool.h>

enum vodq_rc vodq_sleep_run(const char *spec_json, struct vodq_task_io *io,
                            struct vodq_task_result *result, struct vodq_err *err);

/* True for a sleep of 0 ms that does not fail: it ends at once, so the worker finishes
 * it on its claim thread (loop.h, cfg.instant); *result_json gets its result (the one
 * vodq_sleep_run would give; the caller frees it). */
bool vodq_sleep_instant(const char *spec_json, char **result_json);

#endif
