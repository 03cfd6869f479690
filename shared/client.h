/* client.h: the client library's private parts, shared by client.c (the
 * calls of include/vodq/vodq.h) and watch.c (the non-blocking watch). */
#ifndef VODQ_CLIENT_H
#define VODQ_CLIENT_H

#include "vodq/vodq.h"

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/proto.h"
#include "shared/redis.h"

struct vodq_client {
    struct vodq_redis *r;
    struct vodq_queue q;
    struct vodq_job_defaults d;
    char *url; /* the Redis URL it was opened with (a watch opens its own connection) */
    struct vodq_keyring *keys;  /* owned (vodq_client_opts.secret_key_file); q.keys = it */
    char warning[512];          /* from opening: vodq_client_warning() */
    struct vodq_proto_chan ch;  /* request ids of remove and purge */
    int timeout_ms;             /* per command */
};

/* Handles one events-stream entry e for job id; returns 1 when the job
 * reached a final state (*rc: VODQ_OK succeeded, else its failure), else 0. */
int vodq_client_on_entry(const struct vodq_reply *e, const char *id,
                         const struct vodq_callbacks *cb, enum vodq_rc *rc);

/* After the job ended with rc: reads its state, error and result from the
 * job hash on r, calls on_completed or on_failed, and for a failure fills
 * err with the job's error. Returns rc. */
enum vodq_rc vodq_client_ended(struct vodq_redis *r, const struct vodq_queue *q, const char *id,
                               const struct vodq_callbacks *cb, enum vodq_rc rc,
                               struct vodq_err *err);

#endif
