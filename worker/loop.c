/* loop.c: the worker runtime's life cycle (new, run, stop, free) and the helpers its
 * threads share. The threads and their locks: worker/loop.h. */
#include "worker/runtime.h"

#include "shared/keys.h"
#include "shared/log.h"
#include "shared/metrics.h"
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

/* The pool of slots a lane's tasks run in: compose_gpu shares compose's. */
enum vodq_task_type vodq_wk_pool_of(enum vodq_task_type lane)
{
    return lane == VODQ_TASK_COMPOSE_GPU ? VODQ_TASK_COMPOSE : lane;
}

bool vodq_wk_serves(const struct vodq_worker *w, enum vodq_task_type lane)
{
    return w->cfg.slots[vodq_wk_pool_of(lane)] > 0 && (lane != VODQ_TASK_COMPOSE_GPU || w->cfg.gpu_lane);
}

void vodq_wk_nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct vodq_redis *vodq_wk_connect(struct vodq_worker *w, int timeout_ms)
{
    struct vodq_redis_opts o = {.url = w->cfg.redis_url, .command_timeout_ms = timeout_ms};
    struct vodq_err err = {0};
    struct vodq_redis *r = vodq_redis_new(&o, &err);
    if (!r)
        vodq_error("redis: %s", err.msg);
    return r;
}

void vodq_wk_task_clear(struct task *t)
{
    free(t->spec);
    free(t->last_export);
    memset(t, 0, sizeof(*t));
}

enum vodq_ctl vodq_wk_ctl_from(const char *desired)
{
    if (!desired)
        return VODQ_CTL_RUN;
    if (!strcmp(desired, "pause"))
        return VODQ_CTL_PAUSE;
    if (!strcmp(desired, "cancel"))
        return VODQ_CTL_CANCEL;
    return VODQ_CTL_RUN;
}

/* Applies the answer of report/heartbeat (status, desired, auth_version). */
void vodq_wk_apply_control(struct slot *s, const struct vodq_reply *rep)
{
    struct vodq_proto_lease l;
    if (!vodq_proto_lease_decode(rep, &l))
        return;
    if (l.fenced) {
        atomic_store(&s->fenced, true);
    } else if (l.desired[0]) {
        int d = vodq_wk_ctl_from(l.desired);
        int cur = atomic_load(&s->desired);
        if (cur != VODQ_CTL_YIELD && cur != d)
            atomic_store(&s->desired, d);
    }
    if (l.auth_version > atomic_load(&s->auth_version))
        atomic_store(&s->auth_version, l.auth_version);
}

void vodq_wk_done_free(struct done *d)
{
    if (!d)
        return;
    free(d->a1);
    free(d->a2);
    free(d);
}

/* ---- life cycle ---------------------------------------------------- */

struct vodq_worker *vodq_worker_new(const struct vodq_worker_config *cfg, struct vodq_err *err)
{
    struct vodq_worker *w = calloc(1, sizeof(*w));
    if (!w) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    w->cfg = *cfg;
    if (vodq_queue_init(&w->q, cfg->queue, cfg->events_maxlen, cfg->retention_s, err) != VODQ_OK)
        goto fail;
    w->q.keys = cfg->keys;
    if (cfg->id && *cfg->id && !vodq_job_id_valid(cfg->id)) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "id '%s': only 1-128 of [A-Za-z0-9_.:-]", cfg->id);
        goto fail;
    }
    vodq_job_instance_id(w->id, sizeof(w->id), "", cfg->id);
    vodq_log_set_worker(w->id);
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        vodq_metric_slots(t, cfg->slots[t]);
    w->cfg.slots[VODQ_TASK_COMPOSE_GPU] = 0; /* the compose pool serves it */
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        w->n_slots += w->cfg.slots[t];
    snprintf(w->tags, sizeof(w->tags), "%s", cfg->tags ? cfg->tags : "");
    if (w->n_slots <= 0) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "slots: the worker serves no task type");
        goto fail;
    }
    w->slots = calloc((size_t)w->n_slots, sizeof(*w->slots));
    if (!w->slots) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    pthread_cond_init(&w->claim_cv, NULL);
    int k = 0;
    char types[256] = "";
    size_t tl = 0;
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        for (int i = 0; i < w->cfg.slots[t]; i++, k++) {
            w->slots[k].w = w;
            w->slots[k].idx = k;
            w->slots[k].type = (enum vodq_task_type)t;
            pthread_cond_init(&w->slots[k].cv, NULL);
        }
        w->free_slots[t] = w->cfg.slots[t];
        if (w->cfg.slots[t])
            tl += (size_t)snprintf(types + tl, sizeof(types) - tl, "%s\"%s\":%d",
                                   tl ? "," : "", vodq_task_type_name(t), w->cfg.slots[t]);
    }
    char lanes[256] = "", tagl[512] = "";
    size_t ll = 0, gl = 0;
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        if (vodq_wk_serves(w, (enum vodq_task_type)t))
            ll += (size_t)snprintf(lanes + ll, sizeof(lanes) - ll, "%s\"%s\"", ll ? "," : "",
                                   vodq_task_type_name(t));
    for (const char *p = w->tags; *p;) {
        size_t n = strcspn(p, ",");
        gl += (size_t)snprintf(tagl + gl, sizeof(tagl) - gl, "%s\"%.*s\"", gl ? "," : "", (int)n, p);
        p += n + (p[n] == ',');
        if (gl >= sizeof(tagl))
            break;
    }
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    const char *extra = cfg->capabilities_json && cfg->capabilities_json[0] == '{'
                            ? cfg->capabilities_json + 1
                            : "}";
    snprintf(w->caps, sizeof(w->caps), "{\"host\":\"%s\",\"slots\":{%s},\"lanes\":[%s],\"tags\":[%s]%s%s",
             host, types, lanes, tagl, strcmp(extra, "}") ? "," : "", extra);
    return w;
fail:
    free(w);
    return NULL;
}

const char *vodq_worker_id(const struct vodq_worker *w)
{
    return w->id;
}

void vodq_worker_stop(struct vodq_worker *w)
{
    atomic_store(&w->stopping, true);
}

enum vodq_rc vodq_worker_run(struct vodq_worker *w, struct vodq_err *err)
{
    struct vodq_redis *r = vodq_wk_connect(w, 5000);
    if (!r)
        return vodq_err_set(err, VODQ_ERR_IO, 0, "redis: cannot create a connection");
    struct vodq_proto_chan main_ch;
    vodq_proto_chan_init(&main_ch, w->id);
    enum vodq_rc rc;
    for (int tries = 0;; tries++) {
        rc = vodq_proto_ensure_groups(r, &w->q, err);
        if (rc == VODQ_OK || atomic_load(&w->stopping))
            break;
        if (tries == 0)
            vodq_warn("redis not ready (%s); retrying", err->msg);
        vodq_wk_nap_ms(500);
    }
    if (rc != VODQ_OK) {
        vodq_redis_free(r);
        return rc;
    }
    for (int i = 0; i < w->n_slots; i++)
        pthread_create(&w->slots[i].th, NULL, vodq_wk_slot_main, &w->slots[i]);
    pthread_t comp, hb, sub;
    pthread_create(&comp, NULL, vodq_wk_completer_main, w);
    pthread_create(&hb, NULL, vodq_wk_heartbeat_main, w);
    pthread_create(&sub, NULL, vodq_wk_subscriber_main, w);
    struct claimer claimers[VODQ_TASK__COUNT];
    int nc = 0;
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        if (!vodq_wk_serves(w, (enum vodq_task_type)t))
            continue;
        claimers[nc].w = w;
        claimers[nc].type = (enum vodq_task_type)t;
        pthread_create(&claimers[nc].th, NULL, vodq_wk_claimer_main, &claimers[nc]);
        nc++;
    }
    vodq_info("worker %s: serving queue %s (%s)", w->id, w->q.name, w->caps);
    while (!atomic_load(&w->stopping))
        vodq_wk_nap_ms(50);

    /* Shutdown: stop claiming, ask running tasks to hand back, wait the grace period. */
    vodq_info("worker %s: stopping; %lld ms for running tasks to hand back", w->id,
              (long long)w->cfg.grace_ms);
    for (int i = 0; i < nc; i++)
        pthread_join(claimers[i].th, NULL);
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->n_slots; i++) {
        atomic_store(&w->slots[i].desired, VODQ_CTL_YIELD);
        pthread_cond_broadcast(&w->slots[i].cv);
    }
    pthread_mutex_unlock(&w->mu);
    int64_t until = vodq_now_ms() + w->cfg.grace_ms;
    bool all_idle = false;
    while (!all_idle && vodq_now_ms() < until) {
        pthread_mutex_lock(&w->mu);
        all_idle = !w->done_head;
        for (int i = 0; i < w->n_slots; i++)
            all_idle &= w->slots[i].phase != SLOT_BUSY;
        pthread_mutex_unlock(&w->mu);
        if (!all_idle)
            vodq_wk_nap_ms(20);
    }
    if (!all_idle) {
        /* Tasks that ignored the hand-back: return them now (the fence bump
         * makes their late writes fail), then leave without them. */
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < w->n_slots; i++) {
            struct slot *s = &w->slots[i];
            if (s->phase != SLOT_BUSY)
                continue;
            struct done d = {.type = s->t.lane};
            snprintf(d.job, sizeof(d.job), "%s", s->t.job);
            snprintf(d.fence, sizeof(d.fence), "%s", s->t.fence);
            strcpy(d.outcome, "handback");
            d.a1 = "queued";
            d.a2 = "0";
            struct done *dp = &d;
            pthread_mutex_unlock(&w->mu);
            vodq_wk_step(w, r, &main_ch, d.type, &dp, 1, 0, NULL, 0, NULL);
            vodq_warn("job %s: did not stop within the grace period; handed back", d.job);
            pthread_mutex_lock(&w->mu);
            atomic_store(&s->fenced, true);
        }
        pthread_mutex_unlock(&w->mu);
    }
    /* let the completer flush, then stop everything */
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&w->mu);
        bool empty = !w->done_head;
        pthread_mutex_unlock(&w->mu);
        if (empty)
            break;
        vodq_wk_nap_ms(20);
    }
    /* remove our heartbeat so the scheduler does not wait for us */
    struct vodq_err e2 = {0};
    char key[VODQ_KEY_MAX], wkey[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, key, sizeof(key), VODQ_KEY_WORKERS, NULL);
    vodq_queue_key(&w->q, wkey, sizeof(wkey), VODQ_KEY_WORKER, w->id);
    atomic_store(&w->finished, true);
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->done_cv);
    for (int i = 0; i < w->n_slots; i++)
        pthread_cond_broadcast(&w->slots[i].cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(comp, NULL);
    pthread_join(hb, NULL);
    /* wake the subscriber with a message on its channel (its job name is our id, which
     * no slot runs); if Redis is gone, its read times out */
    char chan[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, chan, sizeof(chan), VODQ_KEY_CTL_CHANNEL, NULL);
    char stop_msg[sizeof(w->id) + 8];
    snprintf(stop_msg, sizeof(stop_msg), "%s stop", w->id);
    const char *pub[] = {"PUBLISH", chan, stop_msg};
    vodq_reply_free(vodq_redis_argv(r, 3, pub, NULL, &e2));
    pthread_join(sub, NULL);
    vodq_reply_free(vodq_redis_cmd(r, &e2, "ZREM %s %s", key, w->id));
    vodq_reply_free(vodq_redis_cmd(r, &e2, "DEL %s", wkey));
    bool stuck = false;
    for (int i = 0; i < w->n_slots; i++) {
        if (w->slots[i].phase == SLOT_BUSY) {
            stuck = true; /* an engine that ignored us: do not join it */
            continue;
        }
        pthread_join(w->slots[i].th, NULL);
    }
    vodq_redis_free(r);
    vodq_info("worker %s: stopped%s", w->id, stuck ? " (some tasks were abandoned)" : "");
    return VODQ_OK;
}

void vodq_worker_free(struct vodq_worker *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->phase == SLOT_BUSY)
            continue; /* still running: leak rather than race */
        vodq_wk_task_clear(&s->t);
        vodq_redis_free(s->r);
        pthread_cond_destroy(&s->cv);
    }
    free(w->slots);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
