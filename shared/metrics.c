/* metrics.c: the process's own Prometheus counters (see metrics.h). */
#include "shared/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *outcomes[] = {"ok", "fail", "cancelled", "handback", "dropped"};
#define N_OUTCOMES ((int)(sizeof(outcomes) / sizeof(outcomes[0])))
/* run-time histogram buckets, seconds */
static const double buckets[] = {0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600};
#define N_BUCKETS ((int)(sizeof(buckets) / sizeof(buckets[0])))

static atomic_llong counters[VODQ_M__COUNT];
static atomic_int slots[VODQ_TASK__COUNT], busy[VODQ_TASK__COUNT];
static atomic_llong done[VODQ_TASK__COUNT][N_OUTCOMES];
static atomic_llong run_ms_sum[VODQ_TASK__COUNT], run_count[VODQ_TASK__COUNT];
static atomic_llong run_bucket[VODQ_TASK__COUNT][N_BUCKETS];

void vodq_metric_add(enum vodq_metric m, long long n)
{
    if (m >= 0 && m < VODQ_M__COUNT)
        atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

long long vodq_metric_get(enum vodq_metric m)
{
    return m >= 0 && m < VODQ_M__COUNT ? atomic_load(&counters[m]) : 0;
}

void vodq_metric_slots(enum vodq_task_type t, int n)
{
    if (t >= 0 && t < VODQ_TASK__COUNT)
        atomic_store(&slots[t], n);
}

void vodq_metric_task_start(enum vodq_task_type t)
{
    if (t >= 0 && t < VODQ_TASK__COUNT)
        atomic_fetch_add(&busy[t], 1);
}

void vodq_metric_task_end(enum vodq_task_type t, const char *outcome, long long ms)
{
    if (t < 0 || t >= VODQ_TASK__COUNT)
        return;
    atomic_fetch_sub(&busy[t], 1);
    int o = 0;
    while (o < N_OUTCOMES - 1 && strcmp(outcomes[o], outcome ? outcome : "dropped") != 0)
        o++;
    atomic_fetch_add(&done[t][o], 1);
    atomic_fetch_add(&run_ms_sum[t], ms);
    atomic_fetch_add(&run_count[t], 1);
    for (int b = 0; b < N_BUCKETS; b++)
        if ((double)ms / 1000.0 <= buckets[b])
            atomic_fetch_add(&run_bucket[t][b], 1);
}

char *vodq_metrics_text(const char *worker)
{
    size_t cap = 16384, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    const char *w = worker ? worker : "";
#define P(...) len += (size_t)snprintf(out + len, cap > len ? cap - len : 0, __VA_ARGS__)
    P("# HELP vodq_worker_slots task slots per type\n# TYPE vodq_worker_slots gauge\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        P("vodq_worker_slots{worker=\"%s\",type=\"%s\"} %d\n", w, vodq_task_type_name(t),
          atomic_load(&slots[t]));
    P("# HELP vodq_worker_busy_slots slots running a task, per type\n"
      "# TYPE vodq_worker_busy_slots gauge\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        P("vodq_worker_busy_slots{worker=\"%s\",type=\"%s\"} %d\n", w, vodq_task_type_name(t),
          atomic_load(&busy[t]));
    P("# HELP vodq_worker_tasks_total tasks this worker finished, per type and outcome\n"
      "# TYPE vodq_worker_tasks_total counter\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++)
        for (int o = 0; o < N_OUTCOMES; o++)
            P("vodq_worker_tasks_total{worker=\"%s\",type=\"%s\",outcome=\"%s\"} %lld\n", w,
              vodq_task_type_name(t), outcomes[o], atomic_load(&done[t][o]));
    P("# HELP vodq_worker_task_seconds run time of this worker's tasks\n"
      "# TYPE vodq_worker_task_seconds histogram\n");
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        const char *tn = vodq_task_type_name(t);
        for (int b = 0; b < N_BUCKETS; b++)
            P("vodq_worker_task_seconds_bucket{worker=\"%s\",type=\"%s\",le=\"%g\"} %lld\n", w, tn,
              buckets[b], atomic_load(&run_bucket[t][b]));
        P("vodq_worker_task_seconds_bucket{worker=\"%s\",type=\"%s\",le=\"+Inf\"} %lld\n", w, tn,
          atomic_load(&run_count[t]));
        P("vodq_worker_task_seconds_sum{worker=\"%s\",type=\"%s\"} %.3f\n", w, tn,
          (double)atomic_load(&run_ms_sum[t]) / 1000.0);
        P("vodq_worker_task_seconds_count{worker=\"%s\",type=\"%s\"} %lld\n", w, tn,
          atomic_load(&run_count[t]));
    }
    static const struct {
        enum vodq_metric m;
        const char *name, *help;
    } plain[] = {
        {VODQ_M_COMPOSE_FRAMES, "vodq_worker_compose_frames_total",
         "video frames encoded by compose (rate() gives frames per second)"},
        {VODQ_M_UPLOAD_BYTES, "vodq_worker_upload_bytes_total", "bytes sent by uploads"},
        {VODQ_M_CACHE_HITS, "vodq_worker_cache_hits_total", "source fetches served from cache"},
        {VODQ_M_CACHE_MISSES, "vodq_worker_cache_misses_total",
         "source fetches that went to the origin"},
        {VODQ_M_TOKEN_EXPIRED, "vodq_worker_token_expired_total",
         "uploads stopped on expired credentials"},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        P("# HELP %s %s\n# TYPE %s counter\n%s{worker=\"%s\"} %lld\n", plain[i].name,
          plain[i].help, plain[i].name, plain[i].name, w, vodq_metric_get(plain[i].m));
#undef P
    if (len >= cap) {
        free(out);
        return NULL;
    }
    return out;
}
