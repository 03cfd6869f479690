/* webhook.c: webhook deliveries (webhook.h). */
#include "scheduler/webhook.h"

#include "shared/config.h"
#include "shared/crypto.h"
#include "shared/keys.h"
#include "shared/log.h"
#include "shared/proto.h"
#include "shared/redis.h"

#include <curl/curl.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CLAIM_MAX 8          /* deliveries claimed at a time (sent one after another) */
#define RESP_MAX 65536       /* response bytes read (and dropped) at most */
#define BACKOFF_CAP_MS 3600000L

struct vodq_webhook {
    struct vodq_webhook_config cfg;
    struct vodq_queue q;
    char *allow;
    char secret[256];
    size_t secret_len;
    pthread_t thread;
    atomic_bool stop;
};

bool vodq_webhook_url_host(const char *url, const char **host, size_t *len)
{
    size_t scheme = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
    if (!scheme)
        return false;
    const char *h = url + scheme;
    size_t n = strcspn(h, "/?#");
    if (memchr(h, '@', n))
        return false; /* user@host is refused at submit; never send one */
    if (h[0] == '[') {
        const char *e = memchr(h, ']', n);
        if (!e)
            return false;
        *host = h + 1;
        *len = (size_t)(e - h - 1);
    } else {
        *host = h;
        *len = strcspn(h, ":/?#");
    }
    return *len > 0;
}

bool vodq_webhook_host_allowed(const char *allow, const char *host, size_t len)
{
    const char *p = allow ? allow : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n && n == len && !strncasecmp(p, host, len))
            return true;
        p += n;
    }
    return false;
}

static size_t drop_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    size_t *seen = arg;
    *seen += size * nmemb;
    return *seen > RESP_MAX ? 0 : size * nmemb; /* a huge answer ends the transfer */
}

/* POSTs body to url; returns the HTTP status (0 when none came) and fills why on failure. */
static long post(struct vodq_webhook *w, const char *url, const char *delivery, const char *body,
                 char *why, size_t why_cap)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(why, why_cap, "out of memory");
        return 0;
    }
    char ts[24], mac[65], h_sig[160], h_del[256];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    size_t tl = strlen(ts), bl = strlen(body);
    char *signed_text = malloc(tl + 1 + bl + 1);
    if (!signed_text) {
        curl_easy_cleanup(c);
        snprintf(why, why_cap, "out of memory");
        return 0;
    }
    snprintf(signed_text, tl + 1 + bl + 1, "%s.%s", ts, body);
    vodq_hmac_sha256_hex(w->secret, w->secret_len, signed_text, tl + 1 + bl, mac);
    free(signed_text);
    snprintf(h_sig, sizeof(h_sig), "X-Vodq-Signature: t=%s,v1=%s", ts, mac);
    snprintf(h_del, sizeof(h_del), "X-Vodq-Delivery: %s", delivery);
    struct curl_slist *hd = NULL, *t;
    const char *lines[] = {"Content-Type: application/json", h_sig, h_del,
                           "User-Agent: vodq-scheduler/" VODQ_VERSION, "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!(t = curl_slist_append(hd, lines[i]))) {
            curl_slist_free_all(hd);
            curl_easy_cleanup(c);
            snprintf(why, why_cap, "out of memory");
            return 0;
        }
        hd = t;
    }
    size_t seen = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, w->cfg.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, w->cfg.timeout_ms < 10000 ? w->cfg.timeout_ms
                                                                              : 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status))
        snprintf(why, why_cap, "%s", curl_easy_strerror(cc));
    else if (status < 200 || status > 299)
        snprintf(why, why_cap, "HTTP %ld", status);
    else
        why[0] = '\0';
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    return status;
}

static long backoff(const struct vodq_webhook *w, int attempt)
{
    long d = w->cfg.backoff_ms;
    for (int i = 1; i < attempt && d < BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > BACKOFF_CAP_MS)
        d = BACKOFF_CAP_MS;
    return d / 2 + (d > 1 ? rand() % (d / 2 + 1) : 0); /* equal jitter */
}

/* One claimed delivery: {member, job, state, url, attempt}. */
static void deliver(struct vodq_webhook *w, struct vodq_redis *r, struct vodq_proto_chan *ch,
                    const struct vodq_reply *d)
{
    const char *member = vodq_reply_str(d, 0), *job = vodq_reply_str(d, 1),
               *state = vodq_reply_str(d, 2), *url = vodq_reply_str(d, 3),
               *att = vodq_reply_str(d, 4);
    if (!member || !job || !state || !url || !att)
        return;
    int attempt = atoi(att);
    char why[256] = "", st[16] = "0", retry_in[24] = "0";
    const char *outcome;
    const char *host;
    size_t hlen;
    if (!vodq_webhook_url_host(url, &host, &hlen)) {
        outcome = "failed";
        snprintf(why, sizeof(why), "notify_url is not an http(s) URL with a host");
    } else if (!vodq_webhook_host_allowed(w->allow, host, hlen)) {
        outcome = "failed";
        snprintf(why, sizeof(why), "host '%.*s' is not in --webhook-allow", (int)(hlen > 100 ? 100 : hlen),
                 host);
    } else {
        struct vodq_err err = {0};
        char *jj = vodq_proto_job_json(r, &w->q, job, &err); /* credentials masked */
        size_t cap = (jj ? strlen(jj) : 4) + strlen(member) + 128;
        char *body = malloc(cap);
        if (!body) {
            free(jj);
            return; /* claimed again after the lease */
        }
        snprintf(body, cap, "{\"event\":\"%s\",\"delivery\":\"%s\",\"attempt\":%d,\"job\":%s}",
                 state, member, attempt, jj ? jj : "null");
        free(jj);
        long status = post(w, url, member, body, why, sizeof(why));
        free(body);
        snprintf(st, sizeof(st), "%ld", status);
        if (!why[0]) {
            outcome = "sent";
        } else if (attempt < w->cfg.max_attempts) {
            outcome = "retry";
            snprintf(retry_in, sizeof(retry_in), "%ld", backoff(w, attempt));
        } else {
            outcome = "failed";
        }
    }
    if (strcmp(outcome, "sent"))
        vodq_info("webhook %s (job %s, attempt %d): %s: %s", member, job, attempt, outcome, why);
    const char *args[] = {"done", member, att, outcome, st, why, retry_in};
    struct vodq_err err = {0};
    struct vodq_reply *rep = vodq_proto_call_once(r, ch, &w->q, VODQ_LUA_HOOK, 7, args, NULL, 3,
                                                  &err);
    if (!rep)
        vodq_warn("webhook %s: cannot record the attempt: %s", member, err.msg);
    vodq_reply_free(rep);
}

static void *run(void *arg)
{
    struct vodq_webhook *w = arg;
    struct vodq_redis_opts o = {.url = w->cfg.redis_url, .command_timeout_ms = 5000};
    struct vodq_err err = {0};
    struct vodq_redis *r = vodq_redis_new(&o, &err);
    if (!r) {
        vodq_error("webhooks: %s", err.msg);
        return NULL;
    }
    struct vodq_proto_chan ch;
    vodq_proto_chan_init(&ch, "sched-hooks");
    /* the lease covers the whole batch, sent one after another, each within timeout_ms */
    char lease[24], max[8];
    snprintf(lease, sizeof(lease), "%ld", CLAIM_MAX * (w->cfg.timeout_ms + 1000) + 10000);
    snprintf(max, sizeof(max), "%d", CLAIM_MAX);
    while (!atomic_load(&w->stop)) {
        const char *args[] = {"claim", max, lease};
        struct vodq_reply *rep =
            vodq_proto_call_once(r, &ch, &w->q, VODQ_LUA_HOOK, 3, args, NULL, 3, &err);
        size_t n = rep && rep->type == VODQ_REPLY_ARRAY ? rep->elements : 0;
        if (!rep)
            vodq_warn("webhooks: claim: %s", err.msg);
        for (size_t i = 0; i < n && !atomic_load(&w->stop); i++)
            deliver(w, r, &ch, rep->element[i]);
        /* a delivery claimed but not attempted because of stop waits for its lease */
        vodq_reply_free(rep);
        if (n == 0) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    vodq_redis_free(r);
    return NULL;
}

/* One line of the secret file: the secret is its first word (16-255 characters). */
static bool secret_line(void *ctx, int lineno, char **w, int nw, struct vodq_err *err)
{
    struct vodq_webhook *hk = ctx;
    size_t n = strlen(w[0]);
    if (hk->secret_len) /* the first entry is the secret; later lines are ignored */
        return true;
    if (nw != 1 || n < 16 || n >= sizeof(hk->secret))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "--webhook-secret-file line %d: one word of 16-255 characters",
                            lineno) == VODQ_OK;
    memcpy(hk->secret, w[0], n + 1);
    hk->secret_len = n;
    return true;
}

static bool read_secret(struct vodq_webhook *w, const char *path, struct vodq_err *err)
{
    char warn[512];
    int n = vodq_config_secret_lines("webhook secret file", path, 077, warn, sizeof(warn),
                                     secret_line, w, err);
    if (n < 0)
        return false;
    if (n == 0 || !w->secret_len) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "--webhook-secret-file %s: no secret in it", path);
        return false;
    }
    if (*warn)
        vodq_warn("%s", warn);
    return true;
}

struct vodq_webhook *vodq_webhook_start(const struct vodq_webhook_config *cfg,
                                        struct vodq_err *err)
{
    if (!cfg->secret_file || !*cfg->secret_file) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "--webhook-allow needs --webhook-secret-file (deliveries are signed)");
        return NULL;
    }
    if (!cfg->allow || !*cfg->allow) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "--webhook-secret-file needs --webhook-allow HOST[,HOST...] (the hosts "
                     "webhooks may call)");
        return NULL;
    }
    struct vodq_webhook *w = calloc(1, sizeof(*w));
    if (!w) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    w->cfg = *cfg;
    if (!(w->allow = strdup(cfg->allow))) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    if (!read_secret(w, cfg->secret_file, err) ||
        vodq_queue_init(&w->q, cfg->queue, cfg->events_maxlen, cfg->retention_s, err) != VODQ_OK)
        goto fail;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "webhooks: cannot start a thread");
        curl_global_cleanup();
        goto fail;
    }
    return w;
fail:
    explicit_bzero(w->secret, sizeof(w->secret));
    free(w->allow);
    free(w);
    return NULL;
}

void vodq_webhook_stop(struct vodq_webhook *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    curl_global_cleanup();
    explicit_bzero(w->secret, sizeof(w->secret));
    free(w->allow);
    free(w);
}
