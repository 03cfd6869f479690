/* serve.h: the worker's HTTP endpoint (--http ADDR:PORT) on shared/httpd:
 * /livez (open) and /metrics (read token when --http-token-file is given).
 * Neither touches Redis, so a Redis outage never restarts a worker
 * (Kubernetes liveness) and metrics keep flowing while it lasts. */
#ifndef VODQ_WORKER_SERVE_H
#define VODQ_WORKER_SERVE_H

#include "shared/err.h"

#include <stdbool.h>

struct vodq_serve_opts {
    const char *listen;     /* "HOST:PORT" etc. (shared/httpd.h) */
    const char *token_file; /* NULL or "" = no tokens (loopback only unless insecure) */
    bool insecure;          /* allow a non-loopback address without tokens */
    const char *worker;     /* the id put on the metrics; must outlive the server */
};

struct vodq_serve;

/* Starts serving in its own threads. Returns a new server or NULL with err
 * filled (a bad address or token file, a non-loopback address without
 * tokens, a port in use); stop with vodq_serve_stop(). */
struct vodq_serve *vodq_serve_start(const struct vodq_serve_opts *o, struct vodq_err *err);
/* A warning to log ("token file readable by others"...), or "". */
const char *vodq_serve_warning(const struct vodq_serve *s);
void vodq_serve_stop(struct vodq_serve *s);

#endif
