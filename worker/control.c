/* control.c: the subscriber thread: control messages on the ctl channel. */
#include "worker/runtime.h"

#include "shared/keys.h"
#include "shared/log.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_ctl(struct vodq_worker *w, const char *msg)
{
    char job[VODQ_ID_MAX + 1], cmd[32];
    if (sscanf(msg, "%128s %31s", job, cmd) != 2)
        return;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->phase != SLOT_BUSY || strcmp(s->t.job, job) != 0)
            continue;
        if (!strcmp(cmd, "pause"))
            atomic_store(&s->desired, VODQ_CTL_PAUSE);
        else if (!strcmp(cmd, "resume"))
            atomic_store(&s->desired, VODQ_CTL_RUN);
        else if (!strcmp(cmd, "cancel"))
            atomic_store(&s->desired, VODQ_CTL_CANCEL);
        else if (!strcmp(cmd, "refresh_auth"))
            atomic_fetch_add(&s->auth_version, 1); /* the exact version is read with the auth */
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

void *vodq_wk_subscriber_main(void *arg)
{
    struct vodq_worker *w = arg;
    /* A long read timeout: an idle worker keeps one subscription instead of
     * reconnecting each second; shutdown wakes it with a message of its own on the
     * channel (no other thread touches this connection). */
    struct vodq_redis *r = vodq_wk_connect(w, 30000);
    if (!r)
        return NULL;
    char chan[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, chan, sizeof(chan), VODQ_KEY_CTL_CHANNEL, NULL);
    bool subscribed = false, refused_said = false;
    while (!atomic_load(&w->finished)) {
        struct vodq_err err = {0};
        if (!subscribed || !vodq_redis_connected(r)) {
            struct vodq_reply *rep = vodq_redis_cmd(r, &err, "SUBSCRIBE %s", chan);
            bool refused = rep && rep->type == VODQ_REPLY_ERROR;
            if (refused && !refused_said) /* an ACL user without channel rights */
                vodq_warn("cannot subscribe to %s (%s): control messages arrive with the "
                          "heartbeat instead", chan, rep->str);
            refused_said |= refused;
            subscribed = rep && !refused;
            vodq_reply_free(rep);
            if (!subscribed) {
                for (int i = 0; i < (refused ? 50 : 5) && !atomic_load(&w->finished); i++)
                    vodq_wk_nap_ms(100);
                continue;
            }
        }
        struct vodq_reply *m = vodq_redis_read(r, &err);
        if (!m) {
            /* a failed or timed-out read drops the connection: resubscribe
             * (the heartbeat reads the desired state meanwhile) */
            subscribed = false;
            continue;
        }
        if (m->type == VODQ_REPLY_ARRAY && m->elements == 3 && vodq_reply_str(m, 0) &&
            !strcmp(vodq_reply_str(m, 0), "message") && vodq_reply_str(m, 2))
            on_ctl(w, vodq_reply_str(m, 2));
        vodq_reply_free(m);
    }
    vodq_redis_free(r);
    return NULL;
}
