/* err.h: the project's error codes and the error struct every call fills.
 *
 * Lower layers report, they don't log: a function that fails fills a
 * struct vodq_err (when the caller passed one) and returns its code. */
#ifndef VODQ_ERR_H
#define VODQ_ERR_H

#include "vodq/err.h"

#include <stdbool.h>

#if defined(__GNUC__)
#define VODQ_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define VODQ_PRINTF(fmt, args)
#endif

/* enum vodq_rc, struct vodq_err, vodq_strerror(), vodq_rc_name() and
 * vodq_rc_parse() are public: include/vodq/err.h. */

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
