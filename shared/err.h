/* err.h: the project's error codes and the error struct every call fills.
 *
 * Lower layers report, they don't log: a function that fails fills a
 * struct vodq_err (when the caller passed one) and returns its code. */
#ifndef VODQ_ERR_H
#define VODQ_ERR_H

#include <stdbool.h>

#if defined(__GNUC__)
#define VODQ_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define VODQ_PRINTF(fmt, args)
#endif

enum vodq_rc {
    VODQ_OK = 0,
    VODQ_ERR_IO,        /* socket/file; errno in cause */
    VODQ_ERR_TIMEOUT,   /* an operation ran past its deadline */
    VODQ_ERR_PROTOCOL,  /* unexpected Redis reply shape, bad JSON, bad XML */
    VODQ_ERR_INVALID,   /* bad argument, config value, job spec or timeline */
    VODQ_ERR_NOTFOUND,  /* no such job, key, file or object */
    VODQ_ERR_MEDIA,     /* libav* failure; cause = AVERROR */
    VODQ_ERR_HTTP,      /* libcurl or HTTP status; cause = CURLcode or status */
    VODQ_ERR_OOM,       /* allocation failed */
    VODQ_ERR_AUTH,      /* credentials rejected or expired (token expired) */
    VODQ_ERR_CANCELLED, /* the task was cancelled through a control message */
    VODQ_ERR_FENCED,    /* the task lost its lease: a newer attempt owns the job */
    VODQ_ERR_PAUSED,    /* the task was handed back (pause, shutdown) */
    VODQ_ERR_CHANGED,   /* source file changed under a resumable upload */
    VODQ_ERR__COUNT
};

struct vodq_err {
    enum vodq_rc code; /* VODQ_OK when no error */
    int cause;         /* errno, AVERROR, CURLcode or HTTP status; 0 if none */
    bool permanent;    /* true: retrying cannot help (bad input, 4xx) */
    char msg[256];     /* always NUL-terminated */
};

/* Returns a static, human-readable name for rc ("io error", ...). */
const char *vodq_strerror(enum vodq_rc rc);

/* Returns a static short token for rc, stable across versions ("io",
 * "timeout", "invalid", ...); used in job hashes and events. */
const char *vodq_rc_name(enum vodq_rc rc);

/* Fills *e (which may be NULL) with code, cause and a printf-formatted
 * message, truncated to fit. Returns code, so that callers can write
 * `return vodq_err_set(err, VODQ_ERR_IO, errno, "open %s", path);`. */
enum vodq_rc vodq_err_set(struct vodq_err *e, enum vodq_rc code, int cause, const char *fmt, ...)
    VODQ_PRINTF(4, 5);

/* Prefixes the message in *e with a printf-formatted context and ": ". */
void vodq_err_prefix(struct vodq_err *e, const char *fmt, ...) VODQ_PRINTF(2, 3);

/* Resets *e to VODQ_OK with an empty message. */
void vodq_err_clear(struct vodq_err *e);

/* Returns true when the failure is transient and a retry may succeed:
 * IO, timeouts, HTTP 5xx/429 and the like; false for invalid input,
 * not-found, cancelled, fenced, or when e->permanent is set. */
bool vodq_err_retryable(const struct vodq_err *e);

#endif
