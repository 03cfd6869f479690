/* http.h: the scheduler's HTTP endpoint (libmicrohttpd): GET /healthz,
 * GET /metrics (Prometheus text), GET /jobs/<id> (the job as JSON) and
 * POST /jobs (submit a JSON spec; answers {"id": ...}). */
#ifndef VODQ_SCHED_HTTP_H
#define VODQ_SCHED_HTTP_H

#include "scheduler/sched.h"
#include "shared/err.h"
#include "shared/job.h"

struct vodq_http;

/* Starts serving on addr "HOST:PORT" (e.g. "127.0.0.1:9140") in its own
 * thread. Borrows sched, redis_url, queue and defaults; they must outlive
 * the server. Returns NULL with err filled on failure. */
struct vodq_http *vodq_http_start(const char *addr, const char *redis_url, const char *queue,
                                  struct vodq_sched *sched,
                                  const struct vodq_job_defaults *defaults, struct vodq_err *err);
void vodq_http_stop(struct vodq_http *h);

#endif
