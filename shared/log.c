/* log.c: levelled logging, text or JSON lines, to stderr. */
#include "shared/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum vodq_log_level min_level = VODQ_LOG_INFO;
static bool json_lines;
static const char *prog = "vodq";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *level_names[] = {"debug", "info", "warn", "error"};
static char worker_id[128]; /* process-wide: set once at start */

/* The task this thread runs (set by the worker around each task). */
static _Thread_local struct {
    char job[130];
    char type[24];
    int attempt;
} ctx;

enum vodq_rc vodq_log_setup(const char *level, bool json, struct vodq_err *err)
{
    for (int i = 0; i < 4; i++) {
        if (level && strcmp(level, level_names[i]) == 0) {
            min_level = (enum vodq_log_level)i;
            json_lines = json;
            return VODQ_OK;
        }
    }
    return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                        "log level '%s': must be debug, info, warn or error", level ? level : "");
}

void vodq_log_set_name(const char *name)
{
    prog = name;
}

void vodq_log_set_worker(const char *id)
{
    snprintf(worker_id, sizeof(worker_id), "%s", id ? id : "");
}

void vodq_log_context_set(const char *job, const char *type, int attempt)
{
    snprintf(ctx.job, sizeof(ctx.job), "%s", job ? job : "");
    snprintf(ctx.type, sizeof(ctx.type), "%s", type ? type : "");
    ctx.attempt = attempt;
}

void vodq_log_context_clear(void)
{
    ctx.job[0] = ctx.type[0] = '\0';
    ctx.attempt = 0;
}

bool vodq_log_enabled(enum vodq_log_level level)
{
    return level >= min_level;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf8 || n == 0)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Writes s as the inside of a JSON string: quotes, backslashes and control
 * characters escaped, bytes that are not UTF-8 replaced by U+FFFD, so that
 * every line parses whatever a library (FFmpeg) handed us. */
static void json_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p);
        } else if (*p < 0x80) {
            fputc(*p, f);
        } else {
            int n = utf8_len(p);
            if (n) {
                fwrite(p, 1, (size_t)n, f);
                p += n - 1;
            } else {
                fputs("\\ufffd", f);
            }
        }
    }
}

void vodq_log(enum vodq_log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vodq_logv(level, fmt, ap);
    va_end(ap);
}

void vodq_logv(enum vodq_log_level level, const char *fmt, va_list ap)
{
    if (level < min_level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    if (json_lines) {
        fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"prog\":\"%s\"", ts,
                (long)tv.tv_usec / 1000, level_names[level], prog);
        if (worker_id[0]) {
            fputs(",\"worker\":\"", stderr);
            json_escape(stderr, worker_id);
            fputc('"', stderr);
        }
        if (ctx.job[0]) {
            fputs(",\"job\":\"", stderr);
            json_escape(stderr, ctx.job);
            fputs("\",\"type\":\"", stderr);
            json_escape(stderr, ctx.type);
            fprintf(stderr, "\",\"attempt\":%d", ctx.attempt);
        }
        fputs(",\"msg\":\"", stderr);
        json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else if (ctx.job[0]) {
        fprintf(stderr, "%s.%03ldZ %s %-5s [job=%s type=%s attempt=%d] %s\n", ts,
                (long)tv.tv_usec / 1000, prog, level_names[level], ctx.job, ctx.type, ctx.attempt,
                msg);
    } else {
        fprintf(stderr, "%s.%03ldZ %s %-5s %s\n", ts, (long)tv.tv_usec / 1000, prog,
                level_names[level], msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
