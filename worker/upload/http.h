/* http.h: a small libcurl wrapper for the upload engine.
 *
 * One struct vodq_http owns ONE libcurl multi handle; any number of
 * requests can be in flight on it at once and share its connection cache
 * (keep-alive). Each request retries by itself on transient failures
 * (connection errors, resets, timeouts, HTTP 5xx, 408 and 429) with
 * exponential backoff and full jitter, without disturbing the others; the
 * request's sign() callback runs again before every attempt, so dates and
 * signatures are always fresh.
 *
 * Nothing here logs. Error messages name the method and the URL without
 * its query string; URLs never carry credentials (they travel in
 * headers), and header values are never copied into messages.
 *
 * Not thread-safe: one struct vodq_http per thread, like a CURLM. */
#ifndef VODQ_UPLOAD_HTTP_H
#define VODQ_UPLOAD_HTTP_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vodq_http;
struct vodq_http_req;

/* Called before every attempt. It must (re)build the request's headers
 * with vodq_http_req_clear_headers() / vodq_http_req_add_header(), e.g.
 * to sign it. A non-OK return ends the request with that error. */
typedef enum vodq_rc (*vodq_http_sign_fn)(void *arg, struct vodq_http_req *req,
                                          struct vodq_err *err);

/* Called when an attempt failed transiently and the request will be sent
 * again in delay_ms; why describes the failure (no credentials in it). */
typedef void (*vodq_http_retry_fn)(void *arg, const struct vodq_http_req *req, int attempt,
                                   long delay_ms, const struct vodq_err *why);

struct vodq_http_opts {
    int max_attempts;        /* per request, first try included; default 6 */
    long backoff_base_ms;    /* first retry waits up to this; default 250 ms */
    long backoff_max_ms;     /* cap of one wait; default 15000 ms */
    long connect_timeout_ms; /* default 10000 ms */
    long stall_timeout_ms;   /* abort when no byte moves for this long; default 20000 ms */
    int64_t max_send_bps;    /* per request upload rate cap in bytes/s; 0 = none */
    vodq_http_retry_fn on_retry; /* NULL: no notification */
    void *retry_arg;             /* passed to on_retry */
};

struct vodq_http_req {
    /* ---- Request: set by the caller before vodq_http_start() ---- */
    char method[8];                /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    char *url;                     /* owned; set with vodq_http_req_init() */
    const unsigned char *body;     /* borrowed, must outlive the request; NULL = none */
    size_t body_len;               /* bytes at body (or from the file, below) */
    bool body_from_fd;             /* true: stream body_len bytes of body_fd from body_fd_off */
    int body_fd;                   /* borrowed; read with pread(), so it may be shared */
    int64_t body_fd_off;           /* file offset of the first body byte */
    vodq_http_sign_fn sign;        /* NULL: headers are sent as they are */
    void *arg;                     /* the owner's pointer, passed to sign */
    long timeout_ms;               /* whole-attempt limit; 0 = none (stall limit only) */
    int max_attempts;              /* 0 = the handle's default; 1 = no retry */
    bool resp_to_fd;               /* true: a 2xx body is written to resp_fd at resp_fd_off
                                    * (pwrite) instead of resp; error bodies still go to resp */
    int resp_fd;                   /* borrowed */
    int64_t resp_fd_off;           /* file offset of the body's first byte */
    int64_t resp_fd_max;           /* more body bytes than this fail the attempt; 0 = no cap */
    long resp_fd_status;           /* required status for the fd body (206 for a Range
                                    * request); 0 = any 2xx */
    int64_t resp_fd_len;           /* body bytes written by the current attempt */

    /* ---- Headers: "Name: value" lines, owned ---- */
    char **headers;
    size_t n_headers, cap_headers;

    /* ---- Response: valid once the request is done ---- */
    long status;         /* HTTP status of the last attempt; 0 when none arrived */
    char *resp;          /* body of the last attempt, NUL-terminated (never NULL once done) */
    size_t resp_len;     /* bytes in resp */
    char *resp_headers;  /* last header block, raw "Name: value\r\n" lines, NUL-terminated */
    size_t resp_headers_len;
    int attempts;        /* attempts made */
    struct vodq_err err; /* VODQ_OK, a transport error (VODQ_ERR_IO/TIMEOUT, cause CURLcode),
                          * or VODQ_ERR_HTTP with cause = status for a status >= 300 */

    void *priv; /* the wrapper's own state; do not touch */
};

/* Returns a new handle (one multi handle), or NULL with err filled.
 * opts may be NULL for the defaults; it is copied. Free with vodq_http_free(). */
struct vodq_http *vodq_http_new(const struct vodq_http_opts *opts, struct vodq_err *err);

/* Frees the handle; requests still in flight are removed (not freed). NULL is fine. */
void vodq_http_free(struct vodq_http *h);

/* Makes req an empty request for method and url (copied). Returns
 * VODQ_ERR_OOM on allocation failure. Pair with vodq_http_req_cleanup(). */
enum vodq_rc vodq_http_req_init(struct vodq_http_req *req, const char *method, const char *url,
                                struct vodq_err *err);

/* Frees what req owns and zeroes it. Must not be in flight. NULL is fine. */
void vodq_http_req_cleanup(struct vodq_http_req *req);

/* Adds one "Name: value" header (copied). */
enum vodq_rc vodq_http_req_add_header(struct vodq_http_req *req, const char *name,
                                      const char *value, struct vodq_err *err);

/* Drops all headers. */
void vodq_http_req_clear_headers(struct vodq_http_req *req);

/* Returns the value of response header name (case-insensitive), copied
 * into buf (cap bytes, NUL-terminated, trimmed), or NULL when absent. */
const char *vodq_http_resp_header(const struct vodq_http_req *req, const char *name, char *buf,
                                  size_t cap);

/* Puts req in flight on h (signing it first). The request borrows its
 * body; req must stay valid until it is returned by vodq_http_wait() or
 * removed with vodq_http_cancel(). */
enum vodq_rc vodq_http_start(struct vodq_http *h, struct vodq_http_req *req, struct vodq_err *err);

/* Drives every request in flight for up to timeout_ms and returns one that
 * has finished (success, permanent failure or retries exhausted: look at
 * req->err), or NULL when none finished in time. Retries happen inside. */
struct vodq_http_req *vodq_http_wait(struct vodq_http *h, int timeout_ms);

/* Stops req at once, whether sending or waiting to retry. */
void vodq_http_cancel(struct vodq_http *h, struct vodq_http_req *req);

/* Bytes of the body sent so far by the current attempt. */
int64_t vodq_http_req_sent(const struct vodq_http_req *req);

/* Number of requests started and not yet returned by vodq_http_wait(). */
size_t vodq_http_in_flight(const struct vodq_http *h);

/* Sends req and waits for it; only when nothing else is in flight on h.
 * Returns req->err.code (also copied into err). */
enum vodq_rc vodq_http_do(struct vodq_http *h, struct vodq_http_req *req, struct vodq_err *err);

/* Returns the backoff before retry number attempt (1-based): a random
 * value in [d/2, d] where d = min(base * 2^(attempt-1), max). Exposed for tests. */
long vodq_http_backoff_ms(long base_ms, long max_ms, int attempt);

#endif
