/* err.c: error codes and messages. */
#include "shared/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    const char *text;
} rc_table[VODQ_ERR__COUNT] = {
    [VODQ_OK] = {"ok", "success"},
    [VODQ_ERR_IO] = {"io", "i/o error"},
    [VODQ_ERR_TIMEOUT] = {"timeout", "timed out"},
    [VODQ_ERR_PROTOCOL] = {"protocol", "protocol error"},
    [VODQ_ERR_INVALID] = {"invalid", "invalid input"},
    [VODQ_ERR_NOTFOUND] = {"notfound", "not found"},
    [VODQ_ERR_MEDIA] = {"media", "media error"},
    [VODQ_ERR_HTTP] = {"http", "http error"},
    [VODQ_ERR_OOM] = {"oom", "out of memory"},
    [VODQ_ERR_AUTH] = {"auth", "credentials rejected or expired"},
    [VODQ_ERR_CANCELLED] = {"cancelled", "cancelled"},
    [VODQ_ERR_FENCED] = {"fenced", "lease lost to a newer attempt"},
    [VODQ_ERR_PAUSED] = {"paused", "handed back"},
    [VODQ_ERR_CHANGED] = {"changed", "source changed"},
};

const char *vodq_strerror(enum vodq_rc rc)
{
    if ((int)rc < 0 || rc >= VODQ_ERR__COUNT)
        return "unknown error";
    return rc_table[rc].text;
}

const char *vodq_rc_name(enum vodq_rc rc)
{
    if ((int)rc < 0 || rc >= VODQ_ERR__COUNT)
        return "unknown";
    return rc_table[rc].name;
}

enum vodq_rc vodq_rc_parse(const char *name)
{
    for (int i = 0; name && i < VODQ_ERR__COUNT; i++)
        if (!strcmp(rc_table[i].name, name))
            return (enum vodq_rc)i;
    return VODQ_ERR__COUNT;
}

enum vodq_rc vodq_err_set(struct vodq_err *e, enum vodq_rc code, int cause, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    e->cause = cause;
    e->permanent = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

void vodq_err_prefix(struct vodq_err *e, const char *fmt, ...)
{
    if (!e)
        return;
    char pre[sizeof(e->msg)], old[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    size_t n = strlen(pre);
    if (n > sizeof(e->msg) - 3)
        n = sizeof(e->msg) - 3;
    memcpy(e->msg, pre, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof(e->msg) - n - 3;
    size_t m = strnlen(old, room);
    memcpy(e->msg + n + 2, old, m);
    e->msg[n + 2 + m] = '\0';
}

void vodq_err_clear(struct vodq_err *e)
{
    if (!e)
        return;
    e->code = VODQ_OK;
    e->cause = 0;
    e->permanent = false;
    e->msg[0] = '\0';
}

bool vodq_err_retryable(const struct vodq_err *e)
{
    if (!e || e->code == VODQ_OK || e->permanent)
        return false;
    switch (e->code) {
    case VODQ_ERR_IO:
    case VODQ_ERR_TIMEOUT:
    case VODQ_ERR_PROTOCOL:
    case VODQ_ERR_OOM:
    case VODQ_ERR_AUTH:
    case VODQ_ERR_CHANGED:
        return true;
    case VODQ_ERR_HTTP:
        return e->cause == 0 || e->cause < 100 || e->cause >= 500 || e->cause == 429 ||
               e->cause == 408;
    case VODQ_ERR_MEDIA:
        return false;
    default:
        return false;
    }
}
