/* main.c: vodq-worker, claims compose, upload and sleep tasks and runs them. */
#include "shared/config.h"
#include "shared/redis.h"
#include "shared/job.h"
#include "shared/crypto.h"
#include "shared/log.h"
#include "shared/notify.h"
#include "shared/roots.h"
#include "worker/compose/avlog.h"
#include "worker/compose/compose.h"
#include "worker/render_upload.h"
#include "worker/serve.h"
#include "worker/loop.h"
#include "worker/sleep.h"
#include "worker/upload/fetch.h"
#include "worker/upload/upload.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct vodq_worker *the_worker;

/* Copies the probe's "tags":["a","b"] into out as "a,b" (tags are [a-z0-9_]). */
static void probe_tags(const char *probe, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strstr(probe, "\"tags\":[");
    const char *end = p ? strchr(p, ']') : NULL;
    if (!end)
        return;
    size_t l = 0;
    for (p += 8; p < end && l + 1 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
            out[l++] = *p;
        else if (*p == ',' && l)
            out[l++] = ',';
    }
    out[l] = '\0';
}

/* True when tags (a,b,c) hold one that needs a GPU. Also checks every tag is known. */
static bool tags_gpu(const char *tags, char *bad, size_t cap)
{
    bool gpu = false;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", tags);
    bad[0] = '\0';
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        bool g = false;
        if (!vodq_job_tag_known(t, &g) && !bad[0])
            snprintf(bad, cap, "%s", t);
        gpu |= g;
    }
    return gpu;
}

static void on_signal(int sig)
{
    (void)sig;
    if (the_worker)
        vodq_worker_stop(the_worker);
}

int main(int argc, char **argv)
{
    char *redis_url = NULL, *queue = NULL, *id = NULL, *log_level = NULL, *roots_list = NULL;
    char *redis_ca = NULL, *redis_cert = NULL, *redis_key = NULL;
    char *work_dir = NULL;
    char *tags_opt = NULL;
    char *secret_key_file = NULL;
    char *http = NULL, *http_token_file = NULL;
    bool http_insecure = false;
    long long slots_sleep = 0, slots_compose = 0, slots_upload = 0, heartbeat_ms = 0,
              progress_ms = 0, grace_ms = 0, block_ms = 0, events_maxlen = 0, retention_s = 0,
              stall_s = 0;
    bool log_json = false, no_gpu_lane = false, inputs_path_style = false;
    char *cache_dir = NULL, *in_endpoint = NULL, *in_region = NULL, *in_ak = NULL, *in_sk = NULL,
         *in_token = NULL, *sweep_dirs = NULL;
    long long cache_max = 0, fetch_stall_ms = 0;
    const struct vodq_opt opts[] = {
        {"redis", "VODQ_REDIS_URL", VODQ_OPT_STR, "redis://127.0.0.1:6379", VODQ_REDIS_URL_HELP,
         &redis_url, 0, 0},
        VODQ_REDIS_TLS_OPTS(&redis_ca, &redis_cert, &redis_key),
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
        {"roots", "VODQ_ROOTS", VODQ_OPT_STR, "",
         "DIR,DIR,...: the only folders jobs may read and write (sources, outputs, covers, "
         "upload files, cache); empty = anywhere (warned)",
         &roots_list, 0, 0},
        {"secret-key-file", "VODQ_SECRET_KEY_FILE", VODQ_OPT_STR, "",
         "keyring ('KEYID BASE64KEY' lines) that opens credentials stored encrypted in Redis",
         &secret_key_file, 0, 0},
        {"log-level", "VODQ_LOG_LEVEL", VODQ_OPT_STR, "info", "debug, info, warn or error",
         &log_level, 0, 0},
        {"work-dir", "VODQ_WORK_DIR", VODQ_OPT_STR, "", "folder for temporary files of compose+upload tasks (default $TMPDIR or /tmp)", &work_dir, 0, 0},
        {"log-json", "VODQ_LOG_JSON", VODQ_OPT_BOOL, "", "log JSON lines", &log_json, 0, 0},
        {"compose-stall-timeout-s", "VODQ_COMPOSE_STALL_TIMEOUT_S", VODQ_OPT_INT, "60",
         "fail a compose task that makes no progress this long (spec stall_timeout overrides)",
         &stall_s, 1, 86400},
        {"no-gpu-lane", "VODQ_NO_GPU_LANE", VODQ_OPT_BOOL, "",
         "do not serve GPU compose jobs even when a GPU encoder opens", &no_gpu_lane, 0, 0},
        {"cache-dir", "VODQ_CACHE_DIR", VODQ_OPT_STR, "",
         "cache of remote sources (default FIRST-ROOT/.vodq-cache with --roots, else $XDG_CACHE_HOME/vodq or ~/.cache/vodq); must lie inside a root", &cache_dir,
         0, 0},
        {"cache-max-bytes", "VODQ_CACHE_MAX_BYTES", VODQ_OPT_INT, "10737418240",
         "least recently used cache files are evicted above this", &cache_max, 1048576,
         (long long)1 << 50},
        {"fetch-stall-ms", "VODQ_FETCH_STALL_MS", VODQ_OPT_INT, "20000",
         "a source request with no byte moving this long fails (then retries)", &fetch_stall_ms,
         1000, 600000},
        {"inputs-endpoint", "VODQ_INPUTS_ENDPOINT", VODQ_OPT_STR, "",
         "default endpoint of s3:// and oss:// sources", &in_endpoint, 0, 0},
        {"inputs-region", "VODQ_INPUTS_REGION", VODQ_OPT_STR, "",
         "default signing region of s3:// and oss:// sources", &in_region, 0, 0},
        {"inputs-path-style", "VODQ_INPUTS_PATH_STYLE", VODQ_OPT_BOOL, "",
         "address s3:// and oss:// sources path style (host/bucket/key)", &inputs_path_style, 0,
         0},
        {"inputs-access-key", "VODQ_INPUTS_ACCESS_KEY", VODQ_OPT_STR, "",
         "default access key of s3:// and oss:// sources", &in_ak, 0, 0},
        {"inputs-secret-key", "VODQ_INPUTS_SECRET_KEY", VODQ_OPT_STR, "",
         "default secret key of s3:// and oss:// sources (prefer the env or file)", &in_sk, 0, 0},
        {"inputs-session-token", "VODQ_INPUTS_SESSION_TOKEN", VODQ_OPT_STR, "",
         "default session token of s3:// and oss:// sources", &in_token, 0, 0},
        {"sweep-dirs", "VODQ_SWEEP_DIRS", VODQ_OPT_STR, "",
         "colon-separated output folders where start-up removes OUT.part-XXXXXX files of killed "
         "renders (untouched for 15 minutes)",
         &sweep_dirs, 0, 0},
        {"tags", "VODQ_TAGS", VODQ_OPT_STR, "",
         "capability tags to announce instead of the probe's (comma list of nvenc, nvdec, "
         "cuda_filters, vaapi, qsv, x264, x265); jobs are routed by them",
         &tags_opt, 0, 0},
        {"http", "VODQ_HTTP", VODQ_OPT_STR, "",
         "serve /metrics and /livez (no Redis needed) on HOST:PORT, [V6]:PORT or NAME:PORT "
         "(off when empty)",
         &http, 0, 0},
        {"http-token-file", "VODQ_HTTP_TOKEN_FILE", VODQ_OPT_STR, "",
         "bearer tokens for --http, lines 'admin TOKEN' or 'read TOKEN' (chmod 600); "
         "/metrics then needs one, /livez never",
         &http_token_file, 0, 0},
        {"http-insecure", "VODQ_HTTP_INSECURE", VODQ_OPT_BOOL, "",
         "allow --http on a non-loopback address without --http-token-file", &http_insecure, 0,
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
    if (vodq_redis_tls_config(redis_ca, redis_cert, redis_key, &err) != VODQ_OK) {
        fprintf(stderr, "vodq-worker: %s\n", err.msg);
        return 2;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    struct vodq_roots roots;
    if (vodq_roots_parse(&roots, roots_list, &err) != VODQ_OK) {
        fprintf(stderr, "vodq-worker: %s\n", err.msg);
        vodq_roots_cleanup(&roots);
        vodq_config_free(opts, n);
        return 2;
    }
    struct vodq_keyring *keys = NULL;
    if (secret_key_file && *secret_key_file) {
        char warn[512];
        keys = vodq_keyring_load(secret_key_file, warn, sizeof(warn), &err);
        if (!keys) {
            fprintf(stderr, "vodq-worker: %s\n", err.msg);
            vodq_roots_cleanup(&roots);
            vodq_config_free(opts, n);
            return 2;
        }
        if (*warn)
            vodq_warn("%s", warn);
    }
    if (roots.n == 0)
        vodq_warn("no --roots: jobs may read and write any file this user can; set --roots "
                  "DIR,... (VODQ_ROOTS) to confine them");
    else
        vodq_info("path roots: %s", roots.shown);
    /* the id is fixed here so that the metrics can carry it */
    char wid[160];
    vodq_job_instance_id(wid, sizeof(wid), "", id);
    struct vodq_worker_config cfg = {
        .roots = &roots,
        .keys = keys,
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
    cfg.instant[VODQ_TASK_SLEEP] = vodq_sleep_instant;
    cfg.slots[VODQ_TASK_UPLOAD] = (int)slots_upload;
    cfg.exec[VODQ_TASK_UPLOAD] = vodq_upload_run;
    cfg.slots[VODQ_TASK_COMPOSE] = (int)slots_compose;
    cfg.exec[VODQ_TASK_COMPOSE] = vodq_render_upload_run; /* plain compose without "upload" */
    vodq_render_upload_set_work_dir(work_dir);
    vodq_compose_set_stall_timeout((double)stall_s);
    /* The encoder probe (opening each encoder for real) goes into the
     * capability record and yields the worker's tags; a worker serves the
     * compose_gpu lane (from its one pool of compose slots) when a tag needs a
     * GPU: NVENC, or NVDEC and CUDA filters alone (an H100/H200), or VAAPI. A
     * job whose compose.require tags the worker lacks is left to others. */
    char *caps = NULL, tags[256] = "", bad[64];
    if (slots_compose > 0 && !(tags_opt && *tags_opt)) {
        char *probe = vodq_compose_capabilities_json();
        if (probe) {
            size_t n2 = strlen(probe) + 32;
            caps = malloc(n2);
            if (caps)
                snprintf(caps, n2, "{\"compose\":%s}", probe);
            probe_tags(probe, tags, sizeof(tags));
            vodq_info("encoders: %s", probe);
            free(probe);
        }
    }
    if (tags_opt && *tags_opt)
        snprintf(tags, sizeof(tags), "%s", tags_opt);
    bool gpu = tags_gpu(tags, bad, sizeof(bad));
    if (bad[0]) {
        fprintf(stderr, "vodq-worker: --tags: unknown tag '%s' (known: nvenc, nvdec, "
                        "cuda_filters, vaapi, qsv, x264, x265)\n", bad);
        vodq_config_free(opts, n);
        free(caps);
        return 2;
    }
    cfg.gpu_lane = gpu && !no_gpu_lane && slots_compose > 0;
    cfg.tags = tags;
    vodq_info("tags: %s%s", tags[0] ? tags : "(none)", cfg.gpu_lane ? "; serving compose_gpu" : "");
    cfg.capabilities_json = caps;
    /* Remote sources of timelines: one fetcher (and cache) for every slot. */
    char defdir[4096];
    const char *cdir = cache_dir;
    if (!cdir || !*cdir) {
        const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (roots.n > 0) /* the cache must lie inside a root: the first one's */
            snprintf(defdir, sizeof(defdir), "%s/.vodq-cache", roots.dirs[0]);
        else if (x && *x)
            snprintf(defdir, sizeof(defdir), "%s/vodq", x);
        else
            snprintf(defdir, sizeof(defdir), "%s/.cache/vodq", home && *home ? home : "/tmp");
        cdir = defdir;
    }
    struct vodq_fetch *fetch = NULL;
    if (slots_compose > 0) {
        struct vodq_fetch_opts fo = {
            .cache_dir = cdir,
            .cache_max_bytes = cache_max,
            .stall_timeout_ms = (long)fetch_stall_ms,
            .endpoint = in_endpoint,
            .region = in_region,
            .path_style = inputs_path_style,
            .access_key = in_ak,
            .secret_key = in_sk,
            .session_token = in_token,
        };
        fetch = vodq_fetch_new(&fo, &err);
        /* the cache holds files compose reads: it must lie inside a root */
        if (fetch && vodq_roots_check(&roots, "cache-dir", vodq_fetch_cache_dir(fetch),
                                      VODQ_ROOTS_DIR, NULL, 0, &err) != VODQ_OK) {
            vodq_fetch_free(fetch);
            fetch = NULL;
        }
        if (!fetch) {
            fprintf(stderr, "vodq-worker: %s\n", err.msg);
            vodq_config_free(opts, n);
            vodq_roots_cleanup(&roots);
            free(caps);
            return 2;
        }
        struct vodq_compose_resolver r = {fetch,
                                          vodq_fetch_resolve,
                                          vodq_fetch_release,
                                          vodq_fetch_grow_open,
                                          vodq_fetch_grow_wait,
                                          vodq_fetch_grow_error};
        vodq_compose_set_resolver(&r);
        vodq_info("source cache: %s", vodq_fetch_cache_dir(fetch));
    }
    /* Temp files of renders killed with the previous worker process. */
    if (sweep_dirs && *sweep_dirs) {
        char *list = strdup(sweep_dirs), *save = NULL;
        for (char *d = list ? strtok_r(list, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
            int k = vodq_compose_sweep_partials(d, 900);
            if (k > 0)
                vodq_info("removed %d stale partial file(s) in %s", k, d);
        }
        free(list);
    }
    struct vodq_worker *w = vodq_worker_new(&cfg, &err);
    if (!w) {
        fprintf(stderr, "vodq-worker: %s\n", err.msg);
        vodq_config_free(opts, n);
        vodq_roots_cleanup(&roots);
        vodq_fetch_free(fetch);
        vodq_keyring_free(keys);
        free(caps);
        return 2;
    }
    struct vodq_serve *srv = NULL;
    if (http && *http) {
        struct vodq_serve_opts so = {.listen = http,
                                     .token_file = http_token_file,
                                     .insecure = http_insecure,
                                     .worker = wid};
        if (!(srv = vodq_serve_start(&so, &err))) {
            fprintf(stderr, "vodq-worker: %s\n", err.msg);
            vodq_worker_free(w);
            vodq_config_free(opts, n);
            free(caps);
            return 2;
        }
        if (*vodq_serve_warning(srv))
            vodq_warn("%s", vodq_serve_warning(srv));
        vodq_info("http: /metrics and /livez on %s%s", http,
                  http_token_file && *http_token_file ? " (bearer tokens)" : "");
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
    vodq_notify("STOPPING=1", NULL);
    vodq_serve_stop(srv);
    vodq_worker_free(w);
    vodq_compose_set_resolver(NULL);
    vodq_fetch_free(fetch);
    free(caps);
    vodq_roots_cleanup(&roots);
    vodq_keyring_free(keys);
    vodq_config_free(opts, n);
    return rc == VODQ_OK ? 0 : 1;
}
