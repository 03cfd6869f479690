/* schedule.h: recurring jobs from cron expressions (docs/protocol.md §13).
 *
 * A schedule is a name, a cron expression (scheduler/cron.h, UTC), a job spec
 * and a catch-up rule, kept in Redis (schedule:<name>, schedules). The
 * scheduler's tick fires every due schedule through schedule.lua: the fire
 * step moves next_at only if it is still what the caller read, so with
 * several schedulers each slot fires once, and the job id is derived from the
 * name and the slot ("cron:<name>:<YYYYMMDDTHHMM>"), so a replayed submit is
 * ignored. The next slot always comes from the cron expression (no drift).
 *
 * Catch-up after downtime (slots missed while no scheduler ran):
 *   latest (default)  fire the most recent missed slot once, skip older ones
 *                     (Kubernetes CronJob)
 *   all               fire every missed slot (at most 100 per tick, in order)
 *   none              skip every slot more than VODQ_SCHEDULE_GRACE_MS late */
#ifndef VODQ_SCHEDULE_H
#define VODQ_SCHEDULE_H

#include "shared/err.h"
#include "shared/job.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <stdint.h>

#define VODQ_SCHEDULE_NAME_MAX 80       /* [A-Za-z0-9_.-] */
#define VODQ_SCHEDULE_GRACE_MS 60000    /* "none": a slot this late still fires */

/* True for a valid schedule name (1-80 of [A-Za-z0-9_.-]). */
bool vodq_schedule_name_valid(const char *name);

/* Writes the job id of a slot: "cron:<name>:<YYYYMMDDTHHMM>" (UTC). */
void vodq_schedule_job_id(char *buf, size_t cap, const char *name, int64_t slot_ms);

/* Creates or replaces a schedule. cron is checked (errors name the field),
 * spec validated as a job spec with d (it must not set "id": each slot gets
 * its own), catch_up is "latest", "all" or "none" (NULL = latest). The first
 * slot is the first one after now (Redis clock). *next_ms gets it; *replaced
 * whether the name existed. */
enum vodq_rc vodq_schedule_add(struct vodq_redis *r, const struct vodq_queue *q, const char *name,
                               const char *cron, const char *spec, size_t spec_len,
                               const char *catch_up, const struct vodq_job_defaults *d,
                               int64_t *next_ms, bool *replaced, struct vodq_err *err);

/* Removes a schedule (jobs it made are left alone). VODQ_ERR_NOTFOUND if none. */
enum vodq_rc vodq_schedule_remove(struct vodq_redis *r, const struct vodq_queue *q,
                                  const char *name, struct vodq_err *err);

/* Returns a new JSON array text (free()) of the schedules, by next slot:
 * {name, cron, catch_up, next_at, last_slot, last_job, fired, skipped,
 * created_at, spec} (spec masked as job specs are). */
char *vodq_schedule_list_json(struct vodq_redis *r, const struct vodq_queue *q,
                              struct vodq_err *err);

/* The scheduler's step: fires every schedule due now. Returns the number of
 * jobs submitted, or -1 (err filled) on a Redis error. */
long long vodq_schedule_tick(struct vodq_redis *r, struct vodq_proto_chan *ch,
                             const struct vodq_queue *q, struct vodq_err *err);

#endif
