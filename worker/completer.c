/* completer.c: the completer thread: reports the results the slots handed over, in
 * batches, and claims the next tasks for the freed slots in the same call. */
#include "worker/runtime.h"

#include "shared/clock.h"
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

void *vodq_wk_completer_main(void *arg)
{
    struct vodq_worker *w = arg;
    struct vodq_redis *r = vodq_wk_connect(w, 10000);
    if (!r)
        return NULL;
    struct vodq_proto_chan ch;
    vodq_proto_chan_init(&ch, w->id);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->done_head && !atomic_load(&w->finished)) {
            struct timespec dl;
            vodq_deadline_in(&dl, 200);
            pthread_cond_timedwait(&w->done_cv, &w->mu, &dl);
        }
        struct done *list = w->done_head;
        w->done_head = w->done_tail = NULL;
        int want[VODQ_TASK__COUNT] = {0};
        if (!atomic_load(&w->stopping))
            for (int t = 0; t < VODQ_TASK__COUNT; t++) {
                want[t] = w->free_slots[t];
                w->free_slots[t] = 0;
            }
        pthread_mutex_unlock(&w->mu);
        if (!list && atomic_load(&w->finished))
            break;

        int handed[VODQ_TASK__COUNT] = {0};
        for (int t = 0; t < VODQ_TASK__COUNT; t++) {
            struct done *batch[STEP_BATCH];
            int m = 0, pool = vodq_wk_pool_of((enum vodq_task_type)t);
            bool any = false;
            for (struct done *d = list; d; d = d->next)
                any |= d->type == (enum vodq_task_type)t;
            if (!any && (want[pool] - handed[pool] == 0 || !vodq_wk_serves(w, (enum vodq_task_type)t)))
                continue;
            struct done *d = list;
            do {
                m = 0;
                for (; d && m < STEP_BATCH; d = d->next)
                    if (d->type == (enum vodq_task_type)t)
                        batch[m++] = d;
                int w_now = vodq_wk_serves(w, (enum vodq_task_type)t) ? want[pool] - handed[pool] : 0;
                int got = -1;
                for (int tries = 0; got < 0; tries++) {
                    got = vodq_wk_step(w, r, &ch, (enum vodq_task_type)t, batch, m, w_now, NULL, 0, NULL);
                    if (got < 0) { /* Redis down: keep the results, retry */
                        if (atomic_load(&w->finished) && tries > 20)
                            break;
                        vodq_wk_nap_ms(tries < 10 ? 100 : 1000);
                    }
                }
                if (got > 0)
                    handed[pool] += got;
            } while (d);
        }
        pthread_mutex_lock(&w->mu);
        for (int t = 0; t < VODQ_TASK__COUNT; t++)
            w->free_slots[t] += want[t] - handed[t];
        pthread_cond_broadcast(&w->claim_cv);
        pthread_mutex_unlock(&w->mu);
        while (list) {
            struct done *n = list->next;
            vodq_wk_done_free(list);
            list = n;
        }
    }
    vodq_redis_free(r);
    return NULL;
}
