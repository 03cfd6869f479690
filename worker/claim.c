/* claim.c: claiming: the step call (finish + claim in one script) and handing the
 * claimed tasks to idle slots, and the claimer threads (one per served lane). */
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

/* Appends list b to the list whose head is *a. */
static void list_append(struct done **a, struct done *b)
{
    while (*a)
        a = &(*a)->next;
    *a = b;
}

/* Hands a list of done records to the completer. Called with w->mu held. */
static void to_completer(struct vodq_worker *w, struct done *list)
{
    if (!list)
        return;
    list_append(&w->done_head, list);
    for (w->done_tail = list; w->done_tail->next; w->done_tail = w->done_tail->next)
        ;
    pthread_cond_signal(&w->done_cv);
}

/* Gives claimed tasks (the task maps of a step reply) to idle slots; instant
 * tasks run here at once and their done records go to *instant (or, when
 * instant is NULL, to the completer). Called with w->mu NOT held; returns how
 * many were handed to slots. */
int vodq_wk_dispatch(struct vodq_worker *w, enum vodq_task_type type,
                     const struct vodq_reply *tasks, struct done **instant)
{
    if (!tasks)
        return 0;
    int n = 0;
    enum vodq_task_type pool = vodq_wk_pool_of(type);
    bool (*is_instant)(const char *, char **) = w->cfg.instant[pool];
    struct done *inst = NULL, **tail = &inst;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < tasks->elements; i++) {
        struct vodq_proto_task pt;
        struct vodq_err err = {0};
        if (!vodq_proto_task_decode(tasks->element[i], &pt, &err)) {
            vodq_error("%s", err.msg);
            continue;
        }
        char *result = NULL;
        if (is_instant && !strcmp(pt.desired, "run") && is_instant(pt.spec, &result)) {
            pthread_mutex_unlock(&w->mu);
            *tail = vodq_wk_instant_done(type, &pt, result);
            tail = &(*tail)->next;
            pthread_mutex_lock(&w->mu);
            continue;
        }
        struct slot *s = NULL;
        for (int k = 0; k < w->n_slots && !s; k++)
            if (w->slots[k].type == vodq_wk_pool_of(type) && w->slots[k].phase == SLOT_IDLE)
                s = &w->slots[k];
        if (!s) { /* cannot happen: we only claim for reserved idle slots */
            vodq_error("no idle %s slot for job %s", vodq_task_type_name(type), pt.job);
            continue;
        }
        struct task *t = &s->t;
        t->lane = type;
        snprintf(t->job, sizeof(t->job), "%s", pt.job);
        snprintf(t->entry, sizeof(t->entry), "%s", pt.entry);
        snprintf(t->fence, sizeof(t->fence), "%s", pt.fence);
        t->attempt = pt.attempt;
        t->max_attempts = pt.max_attempts;
        t->spec = strdup(pt.spec);
        t->timeout_ms = pt.timeout_ms;
        atomic_store(&s->desired, vodq_wk_ctl_from(pt.desired));
        t->auth_seen = pt.auth_version;
        atomic_store(&s->auth_version, t->auth_seen);
        snprintf(t->session, sizeof(t->session), "%s", pt.session);
        t->last_export = strdup(pt.export_path);
        atomic_store(&s->fenced, false);
        atomic_store(&s->timed_out, false);
        s->started_ms = vodq_now_ms();
        s->last_progress_ms = 0;
        s->reported = 0;
        s->phase = SLOT_BUSY;
        pthread_cond_signal(&s->cv);
        n++;
    }
    if (!instant)
        to_completer(w, inst);
    pthread_mutex_unlock(&w->mu);
    if (instant)
        list_append(instant, inst);
    return n;
}

/* One step call: finishes `m` done records of `type` and claims `want`
 * (or starts the k entries in ids). Returns tasks handed out, or -1. A call
 * whose reply is lost is sent again with the same request id (step.lua then
 * answers as the first run did: nothing is finished or claimed twice). */
int vodq_wk_step(struct vodq_worker *w, struct vodq_redis *r, struct vodq_proto_chan *ch,
                enum vodq_task_type type, struct done **ds, int m, int want, const char **ids,
                int k, struct done **instant)
{
    int nargs = 6 + k + m * 8;
    const char **args = calloc((size_t)nargs, sizeof(*args));
    if (!args)
        abort();
    char wantbuf[16], kbuf[16], mbuf[16];
    snprintf(wantbuf, sizeof(wantbuf), "%d", want);
    snprintf(kbuf, sizeof(kbuf), "%d", k);
    snprintf(mbuf, sizeof(mbuf), "%d", m);
    int a = 0;
    args[a++] = w->id;
    args[a++] = vodq_task_type_name(type);
    args[a++] = wantbuf;
    args[a++] = kbuf;
    for (int i = 0; i < k; i++)
        args[a++] = ids[i];
    args[a++] = mbuf;
    for (int i = 0; i < m; i++) {
        args[a++] = ds[i]->job;
        args[a++] = ds[i]->fence;
        args[a++] = ds[i]->outcome;
        args[a++] = ds[i]->a1;
        args[a++] = ds[i]->a2;
        args[a++] = ds[i]->a3;
        args[a++] = ds[i]->a4;
        args[a++] = "";
    }
    args[a++] = w->tags;
    struct vodq_err err = {0};
    struct vodq_reply *rep =
        vodq_proto_call_once(r, ch, &w->q, VODQ_LUA_STEP, nargs, args, NULL, 5, &err);
    free(args);
    if (!rep) {
        vodq_warn("vodq_wk_step (%s): %s", vodq_task_type_name(type), err.msg);
        return -1;
    }
    const struct vodq_reply *st = vodq_proto_step_statuses(rep);
    for (size_t i = 0; st && i < st->elements && (int)i < m; i++) {
        const char *v = st->element[i]->str ? st->element[i]->str : "";
        if (!strcmp(v, "fenced"))
            vodq_info("job %s: finish dropped: a newer attempt owns it", ds[i]->job);
        else if (strcmp(v, "ok") && strcmp(v, "done"))
            vodq_warn("job %s: finish: %s", ds[i]->job, v);
    }
    int got = vodq_wk_dispatch(w, type, vodq_proto_step_tasks(rep), instant);
    vodq_reply_free(rep);
    return got;
}

/* Finishes the instant tasks in inst and, in the same calls, claims again for the
 * `want` slots still reserved: the claim thread runs a queue of instant tasks by
 * itself, one round trip per batch, without waking another thread. Returns the tasks
 * handed to slots; what it could not report goes to the completer. */
static int run_instants(struct vodq_worker *w, struct vodq_redis *r, struct vodq_proto_chan *ch,
                        enum vodq_task_type lane, struct done *inst, int want)
{
    int handed = 0;
    struct done *batch[STEP_BATCH];
    while (inst) {
        int m = 0;
        while (inst && m < STEP_BATCH) {
            batch[m++] = inst;
            inst = inst->next;
        }
        struct done *more = NULL;
        int claim = atomic_load(&w->stopping) ? 0 : want - handed;
        int got = vodq_wk_step(w, r, ch, lane, batch, m, claim, NULL, 0, &more);
        if (got < 0) { /* Redis trouble: the completer retries these */
            for (int i = m - 1; i >= 0; i--) {
                batch[i]->next = inst;
                inst = batch[i];
            }
            pthread_mutex_lock(&w->mu);
            to_completer(w, inst);
            pthread_mutex_unlock(&w->mu);
            return handed;
        }
        for (int i = 0; i < m; i++)
            vodq_wk_done_free(batch[i]);
        handed += got;
        list_append(&inst, more);
    }
    return handed;
}

void *vodq_wk_claimer_main(void *arg)
{
    struct claimer *c = arg;
    struct vodq_worker *w = c->w;
    struct vodq_redis *r = vodq_wk_connect(w, (int)w->cfg.block_ms + 5000);
    if (!r)
        return NULL;
    struct vodq_proto_chan ch;
    vodq_proto_chan_init(&ch, w->id);
    char skey[VODQ_KEY_MAX];
    vodq_queue_key(&w->q, skey, sizeof(skey), VODQ_KEY_TASKS, vodq_task_type_name(c->type));
    while (!atomic_load(&w->stopping)) {
        pthread_mutex_lock(&w->mu);
        int pool = vodq_wk_pool_of(c->type);
        while (!atomic_load(&w->stopping) && (w->free_slots[pool] == 0 || w->done_head)) {
            struct timespec dl;
            vodq_deadline_in(&dl, 100);
            pthread_cond_timedwait(&w->claim_cv, &w->mu, &dl);
        }
        int n = atomic_load(&w->stopping) ? 0 : w->free_slots[pool];
        w->free_slots[pool] -= n;
        pthread_mutex_unlock(&w->mu);
        if (n == 0)
            break;
        struct done *inst = NULL;
        int got = vodq_wk_step(w, r, &ch, c->type, NULL, 0, n, NULL, 0, &inst);
        if (inst)
            got += run_instants(w, r, &ch, c->type, inst, n - (got > 0 ? got : 0));
        else if (got == 0) {
            /* queue empty: block for new entries */
            char count[16], block[24];
            snprintf(count, sizeof(count), "%d", n);
            snprintf(block, sizeof(block), "%lld", (long long)w->cfg.block_ms);
            const char *argv[] = {"XREADGROUP", "GROUP", VODQ_GROUP_WORKERS, w->id, "COUNT", count,
                                  "BLOCK", block, "STREAMS", skey, ">"};
            struct vodq_err err = {0};
            struct vodq_reply *rep = vodq_redis_argv(r, 11, argv, NULL, &err);
            if (!rep) {
                vodq_warn("claim: %s", err.msg);
                got = -1;
            } else if (rep->type == VODQ_REPLY_ERROR && strstr(rep->str, "NOGROUP")) {
                vodq_proto_ensure_groups(r, &w->q, &err);
            } else if (rep->type == VODQ_REPLY_ARRAY && rep->elements == 1) {
                const struct vodq_reply *entries = rep->element[0]->element[1];
                const char *ids[STEP_BATCH * 4];
                int k = 0;
                for (size_t i = 0; i < entries->elements && k < (int)(sizeof(ids) / sizeof(ids[0])); i++)
                    ids[k++] = entries->element[i]->element[0]->str;
                got = vodq_wk_step(w, r, &ch, c->type, NULL, 0, 0, ids, k, &inst);
                if (got < 0)
                    got = 0; /* entries stay pending; the reclaimer returns them */
                if (inst)
                    got += run_instants(w, r, &ch, c->type, inst, n - got);
                else if (got == 0 && k > 0)
                    vodq_wk_nap_ms(200); /* only tasks this worker lacks the tags for: let others */
            }
            vodq_reply_free(rep);
        }
        if (got < 0) {
            vodq_wk_nap_ms(500);
            got = 0;
        }
        pthread_mutex_lock(&w->mu);
        w->free_slots[pool] += n - got;
        pthread_mutex_unlock(&w->mu);
    }
    vodq_redis_free(r);
    return NULL;
}
