/* http.h: the scheduler's HTTP endpoint (on shared/httpd):
 *   GET /livez            200 while the process runs (no Redis)
 *   GET /readyz, /healthz 200 when Redis answered within 3 s, else 503
 *   GET /metrics          Prometheus text (read token)
 *   GET /jobs/<id>        the job as JSON, credentials masked (read token)
 *   POST /jobs            submit a JSON spec; 202 {"id": ...} (admin token)
 * Every request finishes within about 2 s whatever Redis does. */
#ifndef VODQ_SCHED_HTTP_H
#define VODQ_SCHED_HTTP_H

#include "scheduler/sched.h"
#include "shared/err.h"
#include "shared/job.h"

#include <stdbool.h>

struct vodq_http_config {
    const char *listen;                       /* "HOST:PORT", "[::1]:PORT", "NAME:PORT" */
    const char *token_file;                   /* bearer tokens; NULL/"" = none */
    bool insecure;                            /* allow non-loopback without tokens */
    int threads;                              /* server threads; 0 = 4 */
    const char *redis_url;                    /* borrowed */
    const char *queue;                        /* borrowed */
    struct vodq_sched *sched;                 /* borrowed, for counters; may be NULL */
    const struct vodq_job_defaults *defaults; /* borrowed; max_spec_bytes limits bodies */
    const struct vodq_keyring *keys;          /* seals submitted credentials; may be NULL */
};

struct vodq_http;

/* Starts serving in its own threads. Borrows what cfg points at; it must
 * outlive the server. Returns NULL with err filled on failure
 * (VODQ_ERR_INVALID for a bad address or token file, or a non-loopback
 * address without tokens). */
struct vodq_http *vodq_http_start(const struct vodq_http_config *cfg, struct vodq_err *err);

/* A warning to log after start (world-readable token file, open listener), or "". */
const char *vodq_http_warning(const struct vodq_http *h);

void vodq_http_stop(struct vodq_http *h);

#endif
