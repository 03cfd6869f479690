/* runtime.h: the worker runtime's shared state, for its files only (loop.c, slots.c,
 * claim.c, completer.c, heartbeat.c, control.c). The threads and locks: loop.h. */
#ifndef VODQ_WORKER_RUNTIME_H
#define VODQ_WORKER_RUNTIME_H

#include "shared/proto.h"
#include "shared/redis.h"
#include "worker/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define SELF_STEP_MAX_SLOTS 2 /* slots of one type that report and claim by themselves */

enum slot_phase { SLOT_IDLE, SLOT_BUSY, SLOT_DONE };

struct task {
    enum vodq_task_type lane; /* the stream it came from (compose_gpu runs in a compose slot) */
    char job[VODQ_ID_MAX + 1];
    char entry[48];
    char fence[24];
    int attempt;
    int max_attempts;    /* 0 when not known */
    char *spec;          /* full job spec JSON; owned */
    int64_t timeout_ms;
    long long auth_seen; /* auth_version when claimed or last taken */
    char session[VODQ_ID_MAX + 1];
    char *last_export;   /* session's last export path; owned */
};

/* What a slot hands to the completer. */
struct done {
    enum vodq_task_type type;
    char job[VODQ_ID_MAX + 1];
    char fence[24];
    char outcome[12];    /* ok, fail, cancelled, handback */
    char *a1;            /* owned */
    char *a2;            /* owned */
    char a3[4];
    char a4[24];
    struct done *next;
};

struct slot {
    struct vodq_worker *w;
    int idx;
    enum vodq_task_type type;
    pthread_t th;
    pthread_cond_t cv;            /* new task, control change; waits use w->mu */
    enum slot_phase phase;        /* under w->mu */
    struct task t;                /* valid while BUSY */
    atomic_int desired;           /* enum vodq_ctl */
    atomic_bool fenced;           /* lease lost */
    atomic_bool timed_out;        /* ran past timeout_ms */
    atomic_llong auth_version;    /* newest auth_version known in Redis */
    int64_t started_ms;
    int64_t last_progress_ms;
    int reported;                 /* state last written: 0 active, 1 paused, 2 waiting_auth */
    struct vodq_redis *r;         /* this slot's connection, made on first use */
    struct vodq_proto_chan ch;    /* request ids of this slot's script calls */
};

struct vodq_worker {
    struct vodq_worker_config cfg;
    struct vodq_queue q;
    char id[160];
    struct slot *slots;
    int n_slots;
    pthread_mutex_t mu;
    pthread_cond_t done_cv;       /* done list not empty */
    pthread_cond_t claim_cv;      /* free slots changed */
    struct done *done_head, *done_tail;
    int free_slots[VODQ_TASK__COUNT]; /* idle and not reserved by a claim */
    atomic_bool stopping;         /* stop claiming */
    atomic_bool finished;         /* all threads should exit */
    char caps[4096];              /* capability JSON */
    char tags[256];               /* capability tags, passed to step.lua */
};

#define STEP_BATCH 64 /* finished tasks per step call */

struct claimer {
    struct vodq_worker *w;
    enum vodq_task_type type;
    pthread_t th;
};

/* loop.c: helpers */
enum vodq_task_type vodq_wk_pool_of(enum vodq_task_type lane);
bool vodq_wk_serves(const struct vodq_worker *w, enum vodq_task_type lane);
void vodq_wk_nap_ms(int64_t ms);
struct vodq_redis *vodq_wk_connect(struct vodq_worker *w, int timeout_ms);
void vodq_wk_task_clear(struct task *t);
enum vodq_ctl vodq_wk_ctl_from(const char *desired);
void vodq_wk_apply_control(struct slot *s, const struct vodq_reply *rep);
void vodq_wk_done_free(struct done *d);

/* claim.c */
/* instant: where the done records of instant tasks go (NULL: the completer's list) */
int vodq_wk_step(struct vodq_worker *w, struct vodq_redis *r, struct vodq_proto_chan *ch,
                 enum vodq_task_type type, struct done **ds, int m, int want, const char **ids,
                 int k, struct done **instant);
int vodq_wk_dispatch(struct vodq_worker *w, enum vodq_task_type type,
                     const struct vodq_reply *tasks, struct done **instant);
void *vodq_wk_claimer_main(void *arg);

/* slots.c: the done record of an instant task (cfg.instant gave its result, which this
 * takes over), finished on the calling thread without a slot or a thread wake-up */
struct done *vodq_wk_instant_done(enum vodq_task_type lane, const struct vodq_proto_task *pt,
                                  char *result);

/* the other threads' bodies */
void *vodq_wk_slot_main(void *arg);
void *vodq_wk_completer_main(void *arg);
void *vodq_wk_heartbeat_main(void *arg);
void *vodq_wk_subscriber_main(void *arg);

#endif
