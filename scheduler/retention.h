/* retention.h: the queue settings the scheduler publishes in Redis (the settings hash,
 * read by terminal() in shared/lua/common.lua when a job ends): per type and state
 * retention of finished job hashes, and the cap on pending webhook deliveries.
 *
 * --retention "TYPE:STATE=DURATION[,TYPE:STATE=DURATION...]": TYPE is sleep, compose,
 * upload or * (any), STATE succeeded, dead, cancelled or rejected, DURATION a number
 * with s, m, h or d (seconds without a unit), 1 s .. 3650 d. A job ending in STATE keeps
 * its hash that long (TYPE:STATE wins over *:STATE, which wins over --retention-s). */
#ifndef VODQ_RETENTION_H
#define VODQ_RETENTION_H

#include "shared/err.h"
#include "shared/proto.h"
#include "shared/redis.h"

#define VODQ_RETENTION_MAX 32

struct vodq_retention {
    int n;
    struct {
        char field[48]; /* "retention:<type>:<state>" */
        long long seconds;
    } rule[VODQ_RETENTION_MAX];
};

/* Parses text (NULL or "" = no rules). Errors name the bad rule. */
enum vodq_rc vodq_retention_parse(const char *text, struct vodq_retention *out,
                                  struct vodq_err *err);

/* Replaces the settings hash with these rules and hooks_max (pending webhook
 * deliveries kept at most). */
enum vodq_rc vodq_settings_write(struct vodq_redis *r, const struct vodq_queue *q,
                                 const struct vodq_retention *rules, long long hooks_max,
                                 struct vodq_err *err);

#endif
