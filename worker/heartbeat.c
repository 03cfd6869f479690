/* heartbeat.c: the heartbeat thread: worker record, lease renewal, control state and
 * timeouts, once a tick. */
#include "worker/runtime.h"

#include "shared/keys.h"
#include "shared/log.h"
#include "shared/notify.h"
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

static void heartbeat_once(struct vodq_worker *w, struct vodq_redis *r, struct vodq_proto_chan *ch)
{
    const char **args = calloc((size_t)(4 + 3 * w->n_slots), sizeof(*args));
    struct slot **busy = calloc((size_t)w->n_slots + 1, sizeof(*busy));
    char (*jobs)[VODQ_ID_MAX + 1] = calloc((size_t)w->n_slots + 1, sizeof(*jobs));
    char (*fences)[24] = calloc((size_t)w->n_slots + 1, sizeof(*fences));
    if (!args || !busy || !jobs || !fences)
        abort();
    int n = 0;
    int64_t now = vodq_now_ms();
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->phase != SLOT_BUSY)
            continue;
        if (s->t.timeout_ms > 0 && now - s->started_ms > s->t.timeout_ms &&
            !atomic_load(&s->timed_out)) {
            atomic_store(&s->timed_out, true);
            pthread_cond_broadcast(&s->cv);
        }
        memcpy(jobs[n], s->t.job, sizeof(jobs[n]));
        memcpy(fences[n], s->t.fence, sizeof(fences[n]));
        busy[n++] = s;
    }
    pthread_mutex_unlock(&w->mu);
    char ttl[24], nbuf[16];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(w->cfg.heartbeat_ms * 30 / 1000 + 60));
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    char info[8192];
    snprintf(info, sizeof(info), "{\"id\":\"%s\",\"pid\":%d,\"version\":\"%s\",\"running\":%d,%s",
             w->id, (int)getpid(), VODQ_VERSION, n, w->caps + 1);
    int a = 0;
    args[a++] = w->id;
    args[a++] = info;
    args[a++] = ttl;
    args[a++] = nbuf;
    for (int i = 0; i < n; i++) {
        args[a++] = jobs[i];
        args[a++] = fences[i];
        args[a++] = vodq_task_type_name(busy[i]->t.lane);
    }
    struct vodq_err err = {0};
    struct vodq_reply *rep =
        vodq_proto_call_once(r, ch, &w->q, VODQ_LUA_HEARTBEAT, a, args, NULL, 3, &err);
    if (!rep) {
        vodq_warn("heartbeat: %s", err.msg);
    } else {
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < n && i < (int)rep->elements; i++) {
            struct slot *s = busy[i];
            if (s->phase == SLOT_BUSY && !strcmp(s->t.job, jobs[i])) {
                vodq_wk_apply_control(s, rep->element[i]);
                pthread_cond_broadcast(&s->cv);
            }
        }
        pthread_mutex_unlock(&w->mu);
        vodq_reply_free(rep);
    }
    free(args);
    free(busy);
    free(jobs);
    free(fences);
}

void *vodq_wk_heartbeat_main(void *arg)
{
    struct vodq_worker *w = arg;
    struct vodq_redis *r = vodq_wk_connect(w, 5000);
    if (!r)
        return NULL;
    struct vodq_proto_chan ch;
    vodq_proto_chan_init(&ch, w->id);
    while (!atomic_load(&w->finished)) {
        heartbeat_once(w, r, &ch);
        vodq_notify_tick(); /* READY=1 at first, then the systemd watchdog */
        for (int64_t t = 0; t < w->cfg.heartbeat_ms && !atomic_load(&w->finished); t += 50)
            vodq_wk_nap_ms(50);
    }
    vodq_redis_free(r);
    return NULL;
}
