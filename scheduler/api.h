/* api.h: the scheduler's REST API for operators and the dashboard
 * (docs/operations.md), routed by scheduler/http.c through shared/httpd
 * (tokens, roles, limits):
 *   GET  /api/queues                 lanes: depth, running, lag, oldest wait; job counters
 *   GET  /jobs?state=&type=&session=&cursor=&limit=   one page of jobs
 *   GET  /jobs/{id}/events           the job's events (newest 2000 of the stream)
 *   POST /jobs/{id}/pause|resume|cancel|retry
 *   POST /jobs/{id}/auth             body: new credentials (refresh-auth)
 *   DELETE /jobs/{id}                remove a finished, queued or delayed job (409 for
 *                                    active/paused/waiting ones; vodqctl remove)
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

#include "shared/httpd.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <stdbool.h>
#include <stddef.h>

/* The Redis-backed handlers: rd is a connection from the caller's pool
 * (short timeouts), q the queue. Each fills resp and returns false when rd
 * failed and should be dropped rather than pooled again. */
typedef bool (*vodq_api_fn)(struct vodq_redis *rd, const struct vodq_queue *q,
                           const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);

bool vodq_api_get_queues(struct vodq_redis *rd, const struct vodq_queue *q,
                         const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);
bool vodq_api_list_jobs(struct vodq_redis *rd, const struct vodq_queue *q,
                        const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);
/* req->rest = "{id}/events" (GET) or "{id}/ACTION" (POST) */
bool vodq_api_job_sub(struct vodq_redis *rd, const struct vodq_queue *q,
                      const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);
/* req->rest = the job id */
bool vodq_api_delete_job(struct vodq_redis *rd, const struct vodq_queue *q,
                         const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);
bool vodq_api_get_workers(struct vodq_redis *rd, const struct vodq_queue *q,
                          const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);
/* req->rest = the session id */
bool vodq_api_get_session(struct vodq_redis *rd, const struct vodq_queue *q,
                          const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);
bool vodq_api_get_dead(struct vodq_redis *rd, const struct vodq_queue *q,
                       const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);

/* GET /events?job=ID: a streaming response on its own Redis connection
 * (redis_url); each read blocks at most 200 ms, the stream ends after 60 s
 * (EventSource reconnects with Last-Event-ID). */
void vodq_api_events(const char *redis_url, const struct vodq_queue *q,
                     const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);

/* The dashboard's files (a vodq_httpd_handler; needs no token). */
void vodq_api_static(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);

#endif
