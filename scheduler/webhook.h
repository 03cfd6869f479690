/* webhook.h: the scheduler's webhook deliveries (docs/protocol.md §14); the ONLY
 * scheduler module that includes libcurl.
 *
 * A job whose spec has "notify_url" gets one delivery queued in Redis when it ends
 * succeeded, dead or cancelled (terminal() in shared/lua/common.lua: hooks, hook:<id>).
 * A thread of the scheduler claims due deliveries through hook.lua (leased, so with
 * several schedulers each attempt is made by one of them), POSTs
 *   {"event":STATE,"delivery":ID,"attempt":N,"job":{the job, credentials masked}}
 * with the header X-Vodq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">
 * under the --webhook-secret-file secret, and records each attempt as a 'webhook' event
 * of the job. A non-2xx answer or a network error is retried with exponential backoff
 * (equal jitter) up to max_attempts. Only URLs whose host is in the allow list are
 * called (the others fail at once: no open relay); redirects are not followed. */
#ifndef VODQ_WEBHOOK_H
#define VODQ_WEBHOOK_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>

struct vodq_webhook_config {
    const char *redis_url;   /* borrowed */
    const char *queue;
    long long events_maxlen, retention_s; /* the common script arguments */
    const char *allow;       /* "host[,host...]" (case-insensitive, no port) */
    const char *secret_file; /* first line = the HMAC secret (at least 16 bytes) */
    int max_attempts;        /* per delivery, first included */
    long backoff_ms;         /* first retry delay (doubles, capped at 1 h) */
    long timeout_ms;         /* whole request */
};

struct vodq_webhook;

/* Checks the config, reads the secret and starts the delivery thread. NULL with err on
 * a bad setting (named). */
struct vodq_webhook *vodq_webhook_start(const struct vodq_webhook_config *cfg,
                                        struct vodq_err *err);

/* Stops the thread (a delivery in flight finishes, bounded by timeout_ms) and frees. */
void vodq_webhook_stop(struct vodq_webhook *w);

/* True when host[0..len) is in the comma-separated allow list (case-insensitive). */
bool vodq_webhook_host_allowed(const char *allow, const char *host, size_t len);

/* The host of an http(s) URL: *host points into url, *len its length (brackets of an
 * IPv6 literal removed). False when url is not http(s) or has no host. */
bool vodq_webhook_url_host(const char *url, const char **host, size_t *len);

#endif
