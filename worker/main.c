/* main.c: vodq-worker, claims compose, upload and sleep tasks and runs them. */
#include "shared/config.h"
#include "shared/log.h"
#include "worker/compose/avlog.h"
#include "worker/compose/compose.h"
#include "worker/serve.h"
#include "worker/loop.h"
#include "worker/sleep.h"
#include "worker/upload/upload.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct vodq_worker *the_worker;

/* True when the probe's "encoders" lists (not its "details") name a GPU
 * encoder that opened: {"encoders":{"h264":["h264_nvenc","libx264"],...}}. */
static bool gpu_encoder_found(const char *probe)
{
    const char *e = strstr(probe, "\"encoders\":{");
    const char *end = e ? strchr(e, '}') : NULL;
    if (!end)
        return false;
    size_t n = (size_t)(end - e);
    char *list = strndup(e, n);
    bool found = list && (strstr(list, "nvenc") || strstr(list, "vaapi"));
    free(list);
    return found;
}

static void on_signal(int sig)
{
    (void)sig;
    if (the_worker)
        vodq_worker_stop(the_worker);
}

int main(int argc, char **argv)
{
    char *redis_url = NULL, *queue = NULL, *id = NULL, *log_level = NULL, *http = NULL;
    long long slots_sleep = 0, slots_compose = 0, slots_upload = 0, heartbeat_ms = 0,
              progress_ms = 0, grace_ms = 0, block_ms = 0, events_maxlen = 0, retention_s = 0;
    bool log_json = false, no_gpu_lane = false;
    const struct vodq_opt opts[] = {
        {"redis", "VODQ_REDIS_URL", VODQ_OPT_STR, "redis://127.0.0.1:6379",
         "Redis URL redis://[user:pass@]host:port/db", &redis_url, 0, 0},
        {"queue", "VODQ_QUEUE", VODQ_OPT_STR, "default", "queue name", &queue, 0, 0},
        {"id", "VODQ_WORKER_ID", VODQ_OPT_STR, "", "worker id (default host-pid-random)", &id, 0, 0},
        {"slots-sleep", "VODQ_SLOTS_SLEEP", VODQ_OPT_INT, "4",
         "concurrent sleep (diagnostic) tasks", &slots_sleep, 0, 10000},
        {"slots-compose", "VODQ_SLOTS_COMPOSE", VODQ_OPT_INT, "1", "concurrent compose tasks",
         &slots_compose, 0, 256},
        {"slots-upload", "VODQ_SLOTS_UPLOAD", VODQ_OPT_INT, "2", "concurrent upload tasks",
         &slots_upload, 0, 1024},
        {"heartbeat-ms", "VODQ_HEARTBEAT_MS", VODQ_OPT_INT, "1000",
         "heartbeat and lease renewal period", &heartbeat_ms, 50, 60000},
        {"progress-ms", "VODQ_PROGRESS_MS", VODQ_OPT_INT, "250",
         "minimum interval between progress events of one task", &progress_ms, 0, 60000},
        {"grace-ms", "VODQ_GRACE_MS", VODQ_OPT_INT, "10000",
         "on SIGTERM, time running tasks get to hand back", &grace_ms, 0, 3600000},
        {"block-ms", "VODQ_BLOCK_MS", VODQ_OPT_INT, "1000",
         "how long an idle claim blocks in XREADGROUP", &block_ms, 10, 60000},
        {"events-maxlen", "VODQ_EVENTS_MAXLEN", VODQ_OPT_INT, "100000",
         "approximate length cap of the events stream", &events_maxlen, 100, 100000000},
        {"retention-s", "VODQ_RETENTION_S", VODQ_OPT_INT, "604800",
         "seconds a finished job hash is kept", &retention_s, 1, 315360000},
        {"log-level", "VODQ_LOG_LEVEL", VODQ_OPT_STR, "info", "debug, info, warn or error",
         &log_level, 0, 0},
        {"log-json", "VODQ_LOG_JSON", VODQ_OPT_BOOL, "", "log JSON lines", &log_json, 0, 0},
        {"no-gpu-lane", "VODQ_NO_GPU_LANE", VODQ_OPT_BOOL, "",
         "do not serve GPU compose jobs even when a GPU encoder opens", &no_gpu_lane, 0, 0},
        {"http", "VODQ_HTTP", VODQ_OPT_STR, "",
         "serve /metrics and /livez (no Redis needed) on ADDR:PORT (off when empty)", &http, 0,
         0},
    };
    int n = (int)(sizeof(opts) / sizeof(opts[0]));
    int npos = 0;
    struct vodq_err err = {0};
    vodq_log_set_name("vodq-worker");
    int code = vodq_config_main(opts, n, argc, argv, &npos, 0, "vodq-worker", "[OPTIONS]",
                                "Claims tasks from the queue's Redis streams and runs them: compose\n"
                          "(timeline to video), upload (VOD or S3) and sleep (diagnostics).\n"
                          "Stops cleanly on SIGTERM/SIGINT, handing running tasks back.");
    if (code >= 0) {
        vodq_config_free(opts, n);
        return code;
    }
    if (vodq_log_setup(log_level, log_json, &err) != VODQ_OK) {
        fprintf(stderr, "vodq-worker: %s\n", err.msg);
        return 2;
    }
    vodq_compose_log_init();
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    /* the id is fixed here so that the metrics can carry it */
    char wid[160];
    vodq_job_instance_id(wid, sizeof(wid), "", id);
    struct vodq_worker_config cfg = {
        .redis_url = redis_url,
        .queue = queue,
        .id = wid,
        .heartbeat_ms = heartbeat_ms,
        .progress_interval_ms = progress_ms,
        .grace_ms = grace_ms,
        .block_ms = block_ms,
        .events_maxlen = events_maxlen,
        .retention_s = retention_s,
    };
    cfg.slots[VODQ_TASK_SLEEP] = (int)slots_sleep;
    cfg.exec[VODQ_TASK_SLEEP] = vodq_sleep_run;
    cfg.slots[VODQ_TASK_UPLOAD] = (int)slots_upload;
    cfg.exec[VODQ_TASK_UPLOAD] = vodq_upload_run;
    cfg.slots[VODQ_TASK_COMPOSE] = (int)slots_compose;
    cfg.exec[VODQ_TASK_COMPOSE] = vodq_compose_run;
    /* The encoder probe (opening each encoder for real) goes into the
     * capability record; a worker serves the compose_gpu lane only when it
     * found a GPU encoder. */
    char *caps = NULL;
    if (slots_compose > 0) {
        char *probe = vodq_compose_capabilities_json();
        if (probe) {
            size_t n2 = strlen(probe) + 32;
            caps = malloc(n2);
            if (caps)
                snprintf(caps, n2, "{\"compose\":%s}", probe);
            bool gpu = gpu_encoder_found(probe);
            if (gpu && !no_gpu_lane) {
                cfg.slots[VODQ_TASK_COMPOSE_GPU] = (int)slots_compose;
                cfg.exec[VODQ_TASK_COMPOSE_GPU] = vodq_compose_run;
            }
            vodq_info("encoders: %s%s", probe, cfg.slots[VODQ_TASK_COMPOSE_GPU] ? "; serving compose_gpu" : "");
            free(probe);
        }
    }
    cfg.capabilities_json = caps;
    struct vodq_worker *w = vodq_worker_new(&cfg, &err);
    if (!w) {
        fprintf(stderr, "vodq-worker: %s\n", err.msg);
        vodq_config_free(opts, n);
        free(caps);
        return 2;
    }
    struct vodq_serve *srv = NULL;
    if (http && *http) {
        if (!(srv = vodq_serve_start(http, wid, &err))) {
            fprintf(stderr, "vodq-worker: %s\n", err.msg);
            vodq_worker_free(w);
            vodq_config_free(opts, n);
            free(caps);
            return 2;
        }
        vodq_info("http: /metrics and /livez on port %d", vodq_serve_port(srv));
    }
    the_worker = w;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    enum vodq_rc rc = vodq_worker_run(w, &err);
    if (rc != VODQ_OK)
        vodq_error("%s", err.msg);
    the_worker = NULL;
    vodq_serve_stop(srv);
    vodq_worker_free(w);
    free(caps);
    vodq_config_free(opts, n);
    return rc == VODQ_OK ? 0 : 1;
}
