/* serve.h: the worker's HTTP endpoint (--http ADDR:PORT): /metrics and
 * /livez. Neither touches Redis, so a Redis outage never restarts a worker
 * (Kubernetes liveness) and metrics keep flowing while it lasts. */
#ifndef VODQ_WORKER_SERVE_H
#define VODQ_WORKER_SERVE_H

#include "shared/err.h"

struct vodq_serve;

/* Starts serving on addr ("0.0.0.0:9100", "127.0.0.1:0" for a free port)
 * in its own thread. worker is the id put on the metrics (borrowed; must
 * outlive the server). Returns a new server or NULL with err filled; stop
 * with vodq_serve_stop(). */
struct vodq_serve *vodq_serve_start(const char *addr, const char *worker, struct vodq_err *err);
/* The port it listens on (useful after asking for port 0). */
int vodq_serve_port(const struct vodq_serve *s);
void vodq_serve_stop(struct vodq_serve *s);

#endif
