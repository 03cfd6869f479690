/* main.c: vodq-scheduler. */
#include "scheduler/http.h"
#include "scheduler/retention.h"
#include "scheduler/sched.h"
#include "scheduler/webhook.h"
#include "shared/config.h"
#include "shared/redis.h"
#include "shared/crypto.h"
#include "shared/log.h"
#include "shared/notify.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct vodq_sched *the_sched;

static void on_signal(int sig)
{
    (void)sig;
    if (the_sched)
        vodq_sched_stop(the_sched);
}

int main(int argc, char **argv)
{
    char *redis_url = NULL, *queue = NULL, *id = NULL, *http = NULL, *log_level = NULL,
         *http_token_file = NULL, *secret_key_file = NULL;
    char *retention = NULL, *webhook_allow = NULL, *webhook_secret_file = NULL;
    long long webhook_attempts = 0, webhook_backoff_ms = 0, webhook_timeout_ms = 0,
              webhook_max_pending = 0;
    char *redis_ca = NULL, *redis_cert = NULL, *redis_key = NULL;
    long long lease_ms = 0, worker_timeout_ms = 0, tick_ms = 0, block_ms = 0, max_attempts = 0,
              backoff_base_ms = 0, backoff_max_ms = 0, max_spec_bytes = 0, events_maxlen = 0,
              retention_s = 0, http_threads = 0, session_ttl_s = 0;
    bool log_json = false, http_insecure = false;
    const struct vodq_opt opts[] = {
        {"redis", "VODQ_REDIS_URL", VODQ_OPT_STR, "redis://127.0.0.1:6379", VODQ_REDIS_URL_HELP,
         &redis_url, 0, 0},
        VODQ_REDIS_TLS_OPTS(&redis_ca, &redis_cert, &redis_key),
        {"queue", "VODQ_QUEUE", VODQ_OPT_STR, "default", "queue name", &queue, 0, 0},
        {"id", "VODQ_SCHEDULER_ID", VODQ_OPT_STR, "", "scheduler id (default sched-host-pid-random)",
         &id, 0, 0},
        {"lease-ms", "VODQ_LEASE_MS", VODQ_OPT_INT, "30000",
         "a task not renewed for this long is reclaimed", &lease_ms, 1000, 86400000},
        {"worker-timeout-ms", "VODQ_WORKER_TIMEOUT_MS", VODQ_OPT_INT, "10000",
         "a worker without heartbeat this long is reaped and its tasks requeued at once",
         &worker_timeout_ms, 500, 86400000},
        {"tick-ms", "VODQ_TICK_MS", VODQ_OPT_INT, "250",
         "period of retries, reclaim and reaping", &tick_ms, 10, 60000},
        {"block-ms", "VODQ_SCHED_BLOCK_MS", VODQ_OPT_INT, "200",
         "how long the submit read blocks", &block_ms, 10, 10000},
        {"max-attempts", "VODQ_MAX_ATTEMPTS", VODQ_OPT_INT, "3",
         "attempts of a job whose spec sets none", &max_attempts, 1, 1000},
        {"backoff-base-ms", "VODQ_BACKOFF_BASE_MS", VODQ_OPT_INT, "1000",
         "first retry delay (doubles each attempt, with jitter)", &backoff_base_ms, 0, 86400000},
        {"backoff-max-ms", "VODQ_BACKOFF_MAX_MS", VODQ_OPT_INT, "600000",
         "longest retry delay", &backoff_max_ms, 0, 604800000},
        {"max-spec-bytes", "VODQ_MAX_SPEC_BYTES", VODQ_OPT_INT, "1048576",
         "larger job specs are rejected", &max_spec_bytes, 1024, 67108864},
        {"events-maxlen", "VODQ_EVENTS_MAXLEN", VODQ_OPT_INT, "100000",
         "approximate length cap of the events stream", &events_maxlen, 100, 100000000},
        {"retention-s", "VODQ_RETENTION_S", VODQ_OPT_INT, "604800",
         "seconds a finished job hash is kept", &retention_s, 1, 315360000},
        {"retention", "VODQ_RETENTION", VODQ_OPT_STR, "",
         "per type and state: TYPE:STATE=DURATION[,...] (type sleep|compose|upload|*, state "
         "succeeded|dead|cancelled|rejected, 30d/12h/45m/90s); others keep --retention-s",
         &retention, 0, 0},
        {"webhook-allow", "VODQ_WEBHOOK_ALLOW", VODQ_OPT_STR, "",
         "hosts a job's notify_url may name, HOST[,HOST...]; others are not called (empty: "
         "this scheduler delivers no webhooks)",
         &webhook_allow, 0, 0},
        {"webhook-secret-file", "VODQ_WEBHOOK_SECRET_FILE", VODQ_OPT_STR, "",
         "the HMAC-SHA256 secret of the X-Vodq-Signature header: one word of 16-255 characters on the first line (chmod 600)",
         &webhook_secret_file, 0, 0},
        {"webhook-attempts", "VODQ_WEBHOOK_ATTEMPTS", VODQ_OPT_INT, "8",
         "attempts of one webhook delivery", &webhook_attempts, 1, 100},
        {"webhook-backoff-ms", "VODQ_WEBHOOK_BACKOFF_MS", VODQ_OPT_INT, "1000",
         "first webhook retry delay (doubles each attempt, jitter, at most 1 h)",
         &webhook_backoff_ms, 1, 3600000},
        {"webhook-timeout-ms", "VODQ_WEBHOOK_TIMEOUT_MS", VODQ_OPT_INT, "10000",
         "limit of one webhook request", &webhook_timeout_ms, 100, 600000},
        {"webhook-max-pending", "VODQ_WEBHOOK_MAX_PENDING", VODQ_OPT_INT, "10000",
         "webhook deliveries kept waiting at most; a job ending beyond it gets none (event)",
         &webhook_max_pending, 1, 10000000},
        {"session-ttl", "VODQ_SESSION_TTL", VODQ_OPT_INT, "604800",
         "seconds a session without activity is kept (its keys expire)", &session_ttl_s, 1,
         315360000},
        {"http", "VODQ_HTTP", VODQ_OPT_STR, "",
         "serve /livez, /readyz, /metrics and /jobs on HOST:PORT, [V6]:PORT or NAME:PORT "
         "(off when empty)",
         &http, 0, 0},
        {"http-token-file", "VODQ_HTTP_TOKEN_FILE", VODQ_OPT_STR, "",
         "bearer tokens for --http, lines 'admin TOKEN' or 'read TOKEN' (chmod 600)",
         &http_token_file, 0, 0},
        {"http-insecure", "VODQ_HTTP_INSECURE", VODQ_OPT_BOOL, "",
         "allow --http on a non-loopback address without --http-token-file", &http_insecure, 0,
         0},
        {"http-threads", "VODQ_HTTP_THREADS", VODQ_OPT_INT, "4", "HTTP server threads",
         &http_threads, 1, 64},
        {"secret-key-file", "VODQ_SECRET_KEY_FILE", VODQ_OPT_STR, "",
         "keyring ('KEYID BASE64KEY' lines; the first encrypts): credentials in Redis are "
         "stored AES-256-GCM encrypted",
         &secret_key_file, 0, 0},
        {"log-level", "VODQ_LOG_LEVEL", VODQ_OPT_STR, "info", "debug, info, warn or error",
         &log_level, 0, 0},
        {"log-json", "VODQ_LOG_JSON", VODQ_OPT_BOOL, "", "log JSON lines", &log_json, 0, 0},
    };
    int n = (int)(sizeof(opts) / sizeof(opts[0]));
    int npos = 0;
    struct vodq_err err = {0};
    vodq_log_set_name("vodq-scheduler");
    int code = vodq_config_main(opts, n, argc, argv, &npos, 0, "vodq-scheduler", "[OPTIONS]",
                                "Validates submitted jobs and pushes their tasks; retries failed\n"
                          "attempts with backoff, reclaims stalled tasks, requeues the tasks of\n"
                          "dead workers, dead-letters, trims streams, fires cron schedules\n"
                          "(vodqctl schedule) and delivers webhooks (notify_url). Run one or more.");
    if (code >= 0) {
        vodq_config_free(opts, n);
        return code;
    }
    if (vodq_log_setup(log_level, log_json, &err) != VODQ_OK) {
        fprintf(stderr, "vodq-scheduler: %s\n", err.msg);
        return 2;
    }
    if (vodq_redis_tls_config(redis_ca, redis_cert, redis_key, &err) != VODQ_OK) {
        fprintf(stderr, "vodq-scheduler: %s\n", err.msg);
        return 2;
    }
    struct vodq_retention rules;
    if (vodq_retention_parse(retention, &rules, &err) != VODQ_OK) {
        fprintf(stderr, "vodq-scheduler: %s\n", err.msg);
        vodq_config_free(opts, n);
        return 2;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    struct vodq_keyring *keys = NULL;
    if (secret_key_file && *secret_key_file) {
        char warn[512];
        keys = vodq_keyring_load(secret_key_file, warn, sizeof(warn), &err);
        if (!keys) {
            fprintf(stderr, "vodq-scheduler: %s\n", err.msg);
            vodq_config_free(opts, n);
            return 2;
        }
        if (*warn)
            vodq_warn("%s", warn);
        vodq_info("credentials are stored encrypted (key id %s)", vodq_keyring_id(keys));
    }
    struct vodq_sched_config cfg = {
        .keys = keys,
        .redis_url = redis_url,
        .queue = queue,
        .id = id,
        .lease_ms = lease_ms,
        .worker_timeout_ms = worker_timeout_ms,
        .tick_ms = tick_ms,
        .block_ms = block_ms,
        .events_maxlen = events_maxlen,
        .retention_s = retention_s,
        .session_ttl_s = session_ttl_s,
        .retention = &rules,
        .hooks_max = webhook_max_pending,
        .defaults = {.max_attempts = (int)max_attempts,
                     .backoff_base_ms = backoff_base_ms,
                     .backoff_max_ms = backoff_max_ms,
                     .max_spec_bytes = (size_t)max_spec_bytes},
    };
    struct vodq_sched *s = vodq_sched_new(&cfg, &err);
    if (!s) {
        fprintf(stderr, "vodq-scheduler: %s\n", err.msg);
        vodq_keyring_free(keys);
        vodq_config_free(opts, n);
        return 2;
    }
    struct vodq_webhook *hooks = NULL;
    if ((webhook_allow && *webhook_allow) || (webhook_secret_file && *webhook_secret_file)) {
        struct vodq_webhook_config wc = {.redis_url = redis_url,
                                         .queue = queue,
                                         .events_maxlen = events_maxlen,
                                         .retention_s = retention_s,
                                         .allow = webhook_allow,
                                         .secret_file = webhook_secret_file,
                                         .max_attempts = (int)webhook_attempts,
                                         .backoff_ms = (long)webhook_backoff_ms,
                                         .timeout_ms = (long)webhook_timeout_ms};
        hooks = vodq_webhook_start(&wc, &err);
        if (!hooks) {
            fprintf(stderr, "vodq-scheduler: %s\n", err.msg);
            vodq_sched_free(s);
            vodq_keyring_free(keys);
            vodq_config_free(opts, n);
            return 2;
        }
        vodq_info("webhooks: delivering to %s", webhook_allow);
    }
    struct vodq_http *h = NULL;
    if (http && *http) {
        struct vodq_http_config hc = {.listen = http,
                                      .token_file = http_token_file,
                                      .insecure = http_insecure,
                                      .threads = (int)http_threads,
                                      .redis_url = redis_url,
                                      .queue = queue,
                                      .sched = s,
                                      .defaults = &cfg.defaults,
                                      .keys = keys};
        h = vodq_http_start(&hc, &err);
        if (!h) {
            fprintf(stderr, "vodq-scheduler: %s\n", err.msg);
            vodq_webhook_stop(hooks);
            vodq_sched_free(s);
            vodq_keyring_free(keys);
            vodq_config_free(opts, n);
            return 2;
        }
        if (*vodq_http_warning(h))
            vodq_warn("%s", vodq_http_warning(h));
        vodq_info("http: serving on %s%s", http,
                  http_token_file && *http_token_file ? " (bearer tokens)" : "");
    }
    the_sched = s;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    enum vodq_rc rc = vodq_sched_run(s, &err);
    the_sched = NULL;
    vodq_notify("STOPPING=1", NULL);
    vodq_http_stop(h);
    vodq_webhook_stop(hooks);
    vodq_sched_free(s);
    vodq_keyring_free(keys);
    vodq_config_free(opts, n);
    return rc == VODQ_OK ? 0 : 1;
}
