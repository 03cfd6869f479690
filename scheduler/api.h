/* api.h: the scheduler's REST API for operators and the dashboard
 * (docs/operations.md §8a):
 *   GET  /api/queues                 lanes: depth, running, lag, oldest wait; job counters
 *   GET  /jobs?state=&type=&session=&cursor=&limit=   one page of jobs
 *   GET  /jobs/{id}/events           the job's events (newest 2000 of the stream)
 *   POST /jobs/{id}/pause|resume|cancel|retry
 *   POST /jobs/{id}/auth             body: new credentials (refresh-auth)
 *   GET  /workers                    workers with capabilities and heartbeat age
 *   GET  /sessions/{id}              a session's hash
 *   GET  /dead                       dead letters, newest first
 *   GET  /events?job=ID              Server-Sent Events: the job's events live
 *   GET  /, /app.js, /app.css        the dashboard (files built into the binary)
 * Every answer is JSON (errors: {"error":"..."}) except the dashboard and
 * the event stream. Credentials never appear: job specs are masked and the
 * `auth` field is left out (vodq_proto_job_json). */
#ifndef VODQ_SCHED_API_H
#define VODQ_SCHED_API_H

#include "shared/proto.h"
#include "shared/redis.h"

#include <microhttpd.h>

#include <stdbool.h>
#include <stddef.h>

struct vodq_api;

/* Returns a new API on r (borrowed: used only from the HTTP thread) and q;
 * redis_url opens one connection per event stream. NULL on OOM. */
struct vodq_api *vodq_api_new(struct vodq_redis *r, const struct vodq_queue *q,
                              const char *redis_url);
void vodq_api_free(struct vodq_api *a);

/* Answers the request if it is one of the API's (sets *handled), with body
 * (body_len bytes, may be NULL) for a POST. */
enum MHD_Result vodq_api_handle(struct vodq_api *a, struct MHD_Connection *c, const char *url,
                                const char *method, const char *body, size_t body_len,
                                bool *handled);

#endif
