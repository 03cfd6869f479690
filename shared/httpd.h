/* httpd.h: the HTTP server every vodq daemon uses (scheduler, worker); the
 * ONLY module that includes <microhttpd.h>.
 *
 * It owns what must be the same on every endpoint:
 * - listening: "HOST:PORT", "[V6ADDR]:PORT", "NAME:PORT" (resolved once,
 *   first address) or a bare "PORT" (127.0.0.1). A non-loopback address
 *   needs a token file unless the caller passes insecure = true.
 * - authentication: bearer tokens from a token file ("admin TOKEN" or
 *   "read TOKEN" lines, '#' comments), compared in constant time. A route
 *   that needs a role answers 401 without or with an unknown token and 403
 *   when the token's role is too weak, with a JSON body {"error": "..."}.
 *   Without a token file every caller is admin (loopback only).
 * - limits: a body over max_body_bytes is answered 413 from its
 *   Content-Length before it is read (and cut off while read when chunked);
 *   idle connections are closed after 10 s; at most 256 connections.
 * - a thread pool (libmicrohttpd's): handlers run concurrently, so they must
 *   be thread-safe and should not block for long.
 *
 * Routing is a table of struct vodq_httpd_route the caller owns: a daemon
 * adds an endpoint by adding a row. Tokens never enter an error message,
 * a log line or a response. */
#ifndef VODQ_HTTPD_H
#define VODQ_HTTPD_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* What a caller may do; ordered (ADMIN can do what READ can). */
enum vodq_httpd_access {
    VODQ_HTTPD_NONE = 0, /* no token or an unknown one */
    VODQ_HTTPD_READ,     /* GET endpoints: job status, metrics */
    VODQ_HTTPD_ADMIN,    /* everything: submit, control */
};

/* One request as a handler sees it. Valid during the handler call only. */
struct vodq_httpd_req {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* URL path ("/jobs/abc"); no query string */
    const char *rest;           /* for prefix routes: path after the prefix */
    const char *body;           /* request body, NUL-terminated; "" when none */
    size_t body_len;            /* bytes in body */
    enum vodq_httpd_access role; /* what the caller's token grants */
    void *conn;                 /* opaque; for vodq_httpd_req_arg() */
};

/* A streaming body (Server-Sent Events): fn fills buf with up to max bytes
 * and returns how many, or -1 at the end of the stream; it is called from a
 * pool thread and must return within about a second (a bounded block).
 * done(cls) is called once when the stream ends or the client goes. */
typedef long (*vodq_httpd_stream_fn)(void *cls, char *buf, size_t max);

/* What a handler answers. The server frees body with free(). */
struct vodq_httpd_resp {
    unsigned status;   /* HTTP status; 0 = 500 */
    const char *type;  /* Content-Type (static string); NULL = application/json */
    char *body;        /* malloc'd; NULL = empty body */
    const char *csp;   /* Content-Security-Policy (static string) or NULL */
    vodq_httpd_stream_fn stream; /* set: stream the body instead (body unused) */
    void *stream_cls;
    void (*stream_done)(void *cls); /* called even when the stream is refused */
};

typedef void (*vodq_httpd_handler)(void *ctx, const struct vodq_httpd_req *req,
                                  struct vodq_httpd_resp *resp);

struct vodq_httpd_route {
    const char *method;          /* "GET", "POST", ... */
    const char *path;            /* exact path, or a prefix when prefix is true */
    bool prefix;                 /* match every path starting with path */
    enum vodq_httpd_access need;  /* VODQ_HTTPD_NONE = open (health probes) */
    vodq_httpd_handler fn;        /* called from a pool thread */
    bool token_in_query;          /* also accept ?token=TOKEN (EventSource cannot set headers) */
};

struct vodq_httpd_opts {
    const char *listen;                   /* see above; borrowed */
    const char *token_file;               /* NULL or "" = no authentication */
    bool insecure;                        /* allow no token on a non-loopback address */
    size_t max_body_bytes;                /* larger bodies: 413 */
    int threads;                          /* pool size; 0 = 4 */
    int max_streams;                      /* concurrent streaming responses; 0 = 8 (more: 503) */
    const struct vodq_httpd_route *routes; /* borrowed; must outlive the server */
    size_t n_routes;
    void *ctx; /* passed to every handler */
};

struct vodq_httpd;

/* Loads the token file, resolves the address and starts listening.
 * Returns a new server (stop with vodq_httpd_stop) or NULL with err filled:
 * VODQ_ERR_INVALID for a bad address, a bad token file or a non-loopback
 * address without tokens (the message says what to do), VODQ_ERR_IO when
 * the port cannot be bound. */
struct vodq_httpd *vodq_httpd_start(const struct vodq_httpd_opts *o, struct vodq_err *err);

/* A warning found at start ("token file ... is readable by others"), or
 * "" when none; valid while h lives. The caller logs it. */
const char *vodq_httpd_warning(const struct vodq_httpd *h);

/* True when the server listens on a loopback address. */
bool vodq_httpd_loopback(const struct vodq_httpd *h);

/* Stops listening, waits for running handlers, frees h. NULL is fine. */
void vodq_httpd_stop(struct vodq_httpd *h);

/* The value of query argument name of the request, or NULL. */
const char *vodq_httpd_req_arg(const struct vodq_httpd_req *req, const char *name);

/* The value of request header name, or NULL. */
const char *vodq_httpd_req_header(const struct vodq_httpd_req *req, const char *name);

/* A handler for GET /livez: 200 "ok" while the process serves (touches
 * nothing; a Redis outage never fails it). */
void vodq_httpd_livez(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp);

/* Returns a new JSON text {"error": msg} (free with free()); NULL on OOM. */
char *vodq_httpd_json_error(const char *msg);

/* Sets resp to status with the JSON error body {"error": msg}. */
void vodq_httpd_error(struct vodq_httpd_resp *resp, unsigned status, const char *msg);

/* ---- pieces exposed for tests ---- */

struct vodq_httpd_tokens;

/* Reads a token file. Returns a new token set (free with
 * vodq_httpd_tokens_free) or NULL with err naming the file and line (never
 * the token). Tokens are 16..256 printable characters. When the file is
 * readable by others, writes a warning into warn (else warn = ""). */
struct vodq_httpd_tokens *vodq_httpd_tokens_load(const char *path, char *warn, size_t warn_cap,
                                               struct vodq_err *err);
void vodq_httpd_tokens_free(struct vodq_httpd_tokens *t);

/* The role an Authorization header value ("Bearer TOKEN") grants; NONE for
 * NULL, another scheme or an unknown token. Compares against every token in
 * constant time (the time does not depend on where a guess differs). */
enum vodq_httpd_access vodq_httpd_tokens_check(const struct vodq_httpd_tokens *t,
                                             const char *authorization);

/* Parses and resolves a listen address into *sa / *len; sets *loopback
 * when it is 127.0.0.0/8 or ::1. VODQ_ERR_INVALID naming the address. */
enum vodq_rc vodq_httpd_listen_parse(const char *addr, struct sockaddr_storage *sa,
                                    socklen_t *len, bool *loopback, struct vodq_err *err);

#endif
