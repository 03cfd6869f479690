/* vodq/err.h: the error codes and the error struct of the vodq client
 * library. Self-contained (C99 or C++); included by <vodq/vodq.h>. */
#ifndef VODQ_PUBLIC_ERR_H
#define VODQ_PUBLIC_ERR_H

#include <stdbool.h>

/* Marks the functions libvodq.so and libvodq.a export; the library is built
 * with -fvisibility=hidden, so nothing else leaves it. */
#if defined(__GNUC__)
#define VODQ_API __attribute__((visibility("default")))
#else
#define VODQ_API
#endif

#ifdef __cplusplus
extern "C" {
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

/* cause comes first so that `struct vodq_err e = {0};` is valid C++ too
 * (C++ does not convert 0 to an enum). */
struct vodq_err {
    int cause;         /* errno, AVERROR, CURLcode or HTTP status; 0 if none */
    enum vodq_rc code; /* VODQ_OK when no error */
    bool permanent;    /* true: retrying cannot help (bad input, 4xx) */
    char msg[256];     /* always NUL-terminated */
};

/* Returns a static, human-readable name for rc ("i/o error", ...). */
VODQ_API const char *vodq_strerror(enum vodq_rc rc);

/* Returns a static short token for rc, stable across versions ("io",
 * "timeout", "invalid", ...); used in job hashes and events. */
VODQ_API const char *vodq_rc_name(enum vodq_rc rc);

/* The code whose vodq_rc_name() is name; VODQ_ERR__COUNT for a name that
 * is no vodq_rc (a job's error code can also be "stalled", "rejected"...). */
VODQ_API enum vodq_rc vodq_rc_parse(const char *name);

#ifdef __cplusplus
}
#endif

#endif
