/* log.h: levelled logging to stderr, as text or JSON lines.
 * Only daemons and CLIs call it; library code reports through vodq_err. */
#ifndef VODQ_LOG_H
#define VODQ_LOG_H

#include "shared/err.h"

#include <stdarg.h>
#include <stdbool.h>

enum vodq_log_level { VODQ_LOG_DEBUG, VODQ_LOG_INFO, VODQ_LOG_WARN, VODQ_LOG_ERROR };

/* Sets the minimum level and the format (json: one JSON object a line).
 * Parses "debug", "info", "warn", "error"; returns VODQ_ERR_INVALID otherwise. */
enum vodq_rc vodq_log_setup(const char *level, bool json, struct vodq_err *err);

/* Sets the program name written in every line (borrows; must outlive logging). */
void vodq_log_set_name(const char *name);

/* Writes one line if level passes the threshold. Thread-safe. */
void vodq_log(enum vodq_log_level level, const char *fmt, ...) VODQ_PRINTF(2, 3);

/* The same with a va_list (for library log callbacks). A trailing newline
 * is dropped. */
void vodq_logv(enum vodq_log_level level, const char *fmt, va_list ap) VODQ_PRINTF(2, 0);

/* True when a line of this level would be written (check before costly
 * formatting). */
bool vodq_log_enabled(enum vodq_log_level level);

/* Fields every line carries: the worker id (process-wide, set once), and
 * the job, task type and attempt of the task the calling thread runs
 * (thread-local: the worker sets them around each task and clears them
 * after). JSON lines get them as "worker", "job", "type", "attempt";
 * text lines as [job=... type=... attempt=N]. */
void vodq_log_set_worker(const char *id);
void vodq_log_context_set(const char *job, const char *type, int attempt);
void vodq_log_context_clear(void);

#define vodq_debug(...) vodq_log(VODQ_LOG_DEBUG, __VA_ARGS__)
#define vodq_info(...) vodq_log(VODQ_LOG_INFO, __VA_ARGS__)
#define vodq_warn(...) vodq_log(VODQ_LOG_WARN, __VA_ARGS__)
#define vodq_error(...) vodq_log(VODQ_LOG_ERROR, __VA_ARGS__)

#endif
