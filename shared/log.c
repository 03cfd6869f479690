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

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void vodq_log(enum vodq_log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    if (json_lines) {
        fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"prog\":\"%s\",\"msg\":\"", ts,
                (long)tv.tv_usec / 1000, level_names[level], prog);
        json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s.%03ldZ %s %-5s %s\n", ts, (long)tv.tv_usec / 1000, prog,
                level_names[level], msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
