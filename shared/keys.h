/* keys.h: every Redis key name and channel, and nowhere else.
 *
 * All keys of queue Q share the hash tag {Q}, so multi-key scripts work on
 * Redis Cluster. Scripts receive the prefix "vodq:{Q}:" and append the
 * suffixes below; docs/protocol.md describes each key. */
#ifndef VODQ_KEYS_H
#define VODQ_KEYS_H

#include <stdio.h>

#define VODQ_KEY_PREFIX_FMT "vodq:{%s}:" /* queue name */
#define VODQ_KEY_SUBMIT "submit"         /* stream: job specs to validate */
#define VODQ_KEY_JOB "job:"              /* hash: job:<id> */
#define VODQ_KEY_SESSION "session:"      /* hash: session:<id>; beside it (common.lua)
                                         * session:<id>:jobs, :open, :waiting, :exports
                                         * (sorted sets) and :paths (hash) */
#define VODQ_KEY_SESSION_JOBS ":jobs"    /* suffix: the session's jobs in submit order */
#define VODQ_KEY_REPLY "reply:"          /* string: reply:<channel>, a script's last answer
                                         * on a replay channel (common.lua once()) */
#define VODQ_KEY_CKPT "ckpt:"            /* hash: ckpt:<id> upload checkpoint */
#define VODQ_KEY_EVENTS "events"         /* stream: durable events */
#define VODQ_KEY_EV_CHANNEL "ev"         /* pub/sub: wake-up copy of each event */
#define VODQ_KEY_CTL_CHANNEL "ctl"       /* pub/sub: control messages to workers */
#define VODQ_KEY_DELAYED "delayed"       /* zset: job id -> retry at (ms) */
#define VODQ_KEY_DEAD "dead"             /* stream: dead-lettered jobs */
#define VODQ_KEY_WORKERS "workers"       /* zset: worker id -> last heartbeat (ms) */
#define VODQ_KEY_WORKER "worker:"        /* hash: worker:<id> capabilities */
#define VODQ_KEY_STATS "stats"           /* hash: counters (submitted, succeeded...) */
#define VODQ_KEY_TASKS "tasks:"          /* stream: tasks:<type> (sleep, compose, upload) */
#define VODQ_KEY_MEDIA "media"           /* hash: Aliyun MediaId -> path or URL (vodqctl media) */
/* fair claiming (docs/protocol.md §17; the scripts build the rest of its keys) */
#define VODQ_KEY_LANE "lane:"     /* hash: lane:<L> fair, aging_ms, rate, per_ms, owed */
#define VODQ_KEY_TENANT "tenant:" /* hash: tenant:<T> weight, max_running, rate, per_ms */
#define VODQ_KEY_READY "ready:"   /* zset: ready:<L>:<T> waiting jobs of tenant T in lane L */
#define VODQ_KEY_RUNNING "running" /* hash: tenant -> jobs it runs (started through tokens) */
#define VODQ_KEY_SCHEDULES "schedules"   /* zset: schedule name -> next slot (ms) */
#define VODQ_KEY_SCHEDULE "schedule:"    /* hash: schedule:<name> cron, spec, catch_up... */
#define VODQ_KEY_HOOKS "hooks"           /* zset: pending webhook delivery -> due (ms) */
#define VODQ_KEY_HOOK "hook:"            /* hash: hook:<delivery> job, state, url, attempts */
#define VODQ_KEY_SETTINGS "settings"     /* hash: retention:<type>:<state>, hooks_max
                                         * (written by the scheduler, read by common.lua) */

#define VODQ_GROUP_WORKERS "workers"       /* consumer group on task streams */
#define VODQ_GROUP_SCHEDULERS "schedulers" /* consumer group on the submit stream */

#define VODQ_KEY_MAX 512 /* bytes enough for any key name */

/* Writes "vodq:{queue}:" + suffix + id into buf. */
static inline void vodq_key(char *buf, size_t cap, const char *queue, const char *suffix,
                            const char *id)
{
    snprintf(buf, cap, VODQ_KEY_PREFIX_FMT "%s%s", queue, suffix, id ? id : "");
}

#endif
