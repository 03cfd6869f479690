/* redis.c: the one module that talks hiredis. */
#include "shared/redis.h"

#include <hiredis/hiredis.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SCRIPTS 32

struct vodq_redis {
    redisContext *ctx;        /* NULL while disconnected */
    struct vodq_redis_url url;
    int connect_timeout_ms;
    int command_timeout_ms;
    int reconnect_max_ms;
    int backoff_ms;           /* current reconnect delay */
    struct vodq_script *scripts[MAX_SCRIPTS]; /* scripts loaded on this handle */
    int n_scripts;
};

void vodq_reply_free(struct vodq_reply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        vodq_reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

static struct vodq_reply *copy_reply(const redisReply *h)
{
    struct vodq_reply *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    switch (h->type) {
    case REDIS_REPLY_STRING: r->type = VODQ_REPLY_STRING; break;
    case REDIS_REPLY_ARRAY: r->type = VODQ_REPLY_ARRAY; break;
    case REDIS_REPLY_INTEGER: r->type = VODQ_REPLY_INTEGER; break;
    case REDIS_REPLY_STATUS: r->type = VODQ_REPLY_STATUS; break;
    case REDIS_REPLY_ERROR: r->type = VODQ_REPLY_ERROR; break;
    default: r->type = VODQ_REPLY_NIL; break;
    }
    r->integer = h->integer;
    if (h->str) {
        r->str = malloc(h->len + 1);
        if (!r->str)
            goto fail;
        memcpy(r->str, h->str, h->len);
        r->str[h->len] = '\0';
        r->len = h->len;
    }
    if (h->type == REDIS_REPLY_ARRAY && h->elements) {
        r->element = calloc(h->elements, sizeof(*r->element));
        if (!r->element)
            goto fail;
        r->elements = h->elements;
        for (size_t i = 0; i < h->elements; i++) {
            r->element[i] = copy_reply(h->element[i]);
            if (!r->element[i])
                goto fail;
        }
    }
    return r;
fail:
    vodq_reply_free(r);
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int pct_decode(char *dst, size_t cap, const char *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            int a = i + 1 < n ? hexval(src[i + 1]) : -1;
            int b = i + 2 < n ? hexval(src[i + 2]) : -1;
            if (a < 0 || b < 0)
                return -1;
            c = a * 16 + b;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

enum vodq_rc vodq_redis_url_parse(const char *url, struct vodq_redis_url *out, struct vodq_err *err)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!url || !*url)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: empty");
    /* errors show the URL from the host on: never the user name or password */
    const char *shown = strrchr(url, '@') ? strrchr(url, '@') + 1 : url;
    const char *p = url;
    const char *scheme_end = strstr(p, "://");
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    else if (scheme_end)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "redis url '%.*s://...': scheme must be redis:// (TLS is not "
                            "supported)",
                            (int)(scheme_end - p) > 20 ? 20 : (int)(scheme_end - p), p);
    const char *at = strrchr(p, '@');
    const char *slash = strchr(at ? at : p, '/');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *ue = colon ? colon : at;
        if (pct_decode(out->user, sizeof(out->user), p, (size_t)(ue - p)) != 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: bad user name");
        if (colon && pct_decode(out->password, sizeof(out->password), colon + 1,
                                (size_t)(at - colon - 1)) != 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: bad password");
        p = at + 1;
    }
    const char *hend = slash ? slash : p + strlen(p);
    const char *hp = p;
    const char *pcolon = NULL;
    size_t n;
    if (*hp == '[') { /* [::1]:port */
        const char *rb = memchr(hp, ']', (size_t)(hend - hp));
        if (!rb)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url '%.100s': unclosed [", shown);
        if (rb + 1 < hend && rb[1] != ':')
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "redis url '%.100s': only ':port' may follow ']'", shown);
        pcolon = rb + 1 < hend ? rb + 1 : NULL;
        hp++;
        n = (size_t)(rb - hp);
        if (n == 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url '%.100s': bad host", shown);
    } else {
        pcolon = memchr(hp, ':', (size_t)(hend - hp));
        n = (size_t)((pcolon ? pcolon : hend) - hp);
    }
    if (n == 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url '%.100s': missing host", shown);
    if (n >= sizeof(out->host))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: host of %zu bytes is too long",
                            n);
    memcpy(out->host, hp, n);
    if (pcolon) {
        char *end;
        long port = strtol(pcolon + 1, &end, 10);
        if (!isdigit((unsigned char)pcolon[1]) || end != hend || port < 1 || port > 65535)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "redis url '%.100s': port must be 1-65535", shown);
        out->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (!isdigit((unsigned char)slash[1]) || *end || db > 100000)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "redis url '%.100s': database must be a number 0-100000", shown);
        out->db = (int)db;
    }
    return VODQ_OK;
}

struct vodq_redis *vodq_redis_new(const struct vodq_redis_opts *opts, struct vodq_err *err)
{
    struct vodq_redis *r = calloc(1, sizeof(*r));
    if (!r) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    if (vodq_redis_url_parse(opts->url ? opts->url : "redis://127.0.0.1:6379", &r->url, err) !=
        VODQ_OK) {
        free(r);
        return NULL;
    }
    r->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
    r->command_timeout_ms = opts->command_timeout_ms ? opts->command_timeout_ms : 5000;
    r->reconnect_max_ms = opts->reconnect_max_ms > 0 ? opts->reconnect_max_ms : 5000;
    return r;
}

void vodq_redis_disconnect(struct vodq_redis *r)
{
    if (r && r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

void vodq_redis_interrupt(struct vodq_redis *r)
{
    redisContext *c = r ? r->ctx : NULL;
    if (c && c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
}

void vodq_redis_free(struct vodq_redis *r)
{
    if (!r)
        return;
    vodq_redis_disconnect(r);
    free(r);
}

bool vodq_redis_connected(const struct vodq_redis *r)
{
    return r && r->ctx;
}

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

void vodq_redis_set_timeout(struct vodq_redis *r, int timeout_ms)
{
    r->command_timeout_ms = timeout_ms;
    if (r->ctx) {
        struct timeval tv = ms_tv(timeout_ms > 0 ? timeout_ms : 0);
        redisSetTimeout(r->ctx, tv);
    }
}

static enum vodq_rc ctx_error(struct vodq_redis *r, struct vodq_err *err, const char *what)
{
    int e = r->ctx ? r->ctx->err : 0;
    char buf[160];
    snprintf(buf, sizeof(buf), "%s", r->ctx ? r->ctx->errstr : "no connection");
    bool timeout = e == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    vodq_redis_disconnect(r);
    return vodq_err_set(err, timeout ? VODQ_ERR_TIMEOUT : VODQ_ERR_IO, e,
                        "redis %s:%d: %s: %s", r->url.host, r->url.port, what,
                        timeout ? "timed out" : buf);
}

static struct vodq_reply *raw_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *h = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!h)
        return NULL;
    struct vodq_reply *r = copy_reply(h);
    freeReplyObject(h);
    return r;
}

static enum vodq_rc load_script(struct vodq_redis *r, struct vodq_script *s, struct vodq_err *err)
{
    redisReply *h = redisCommand(r->ctx, "SCRIPT LOAD %s", s->body);
    if (!h)
        return ctx_error(r, err, "SCRIPT LOAD");
    enum vodq_rc rc = VODQ_OK;
    if (h->type == REDIS_REPLY_STRING && h->len == 40) {
        memcpy(s->sha, h->str, 40);
        s->sha[40] = '\0';
    } else {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "SCRIPT LOAD %s: %s", s->name,
                          h->str ? h->str : "unexpected reply");
    }
    freeReplyObject(h);
    return rc;
}

static enum vodq_rc connect_once(struct vodq_redis *r, struct vodq_err *err)
{
    struct timeval tv = ms_tv(r->connect_timeout_ms);
    r->ctx = redisConnectWithTimeout(r->url.host, r->url.port, tv);
    if (!r->ctx)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "redis: out of memory");
    if (r->ctx->err)
        return ctx_error(r, err, "connect");
    redisEnableKeepAlive(r->ctx);
    if (r->command_timeout_ms > 0)
        redisSetTimeout(r->ctx, ms_tv(r->command_timeout_ms));
    struct vodq_reply *rep = NULL;
    if (r->url.password[0]) {
        if (r->url.user[0])
            rep = raw_cmd(r->ctx, "AUTH %s %s", r->url.user, r->url.password);
        else
            rep = raw_cmd(r->ctx, "AUTH %s", r->url.password);
        if (!rep)
            return ctx_error(r, err, "AUTH");
        if (rep->type == VODQ_REPLY_ERROR) {
            vodq_err_set(err, VODQ_ERR_AUTH, 0, "redis %s:%d: AUTH rejected: %s", r->url.host,
                         r->url.port, rep->str);
            err->permanent = true;
            vodq_reply_free(rep);
            vodq_redis_disconnect(r);
            return VODQ_ERR_AUTH;
        }
        vodq_reply_free(rep);
    }
    if (r->url.db) {
        rep = raw_cmd(r->ctx, "SELECT %d", r->url.db);
        if (!rep)
            return ctx_error(r, err, "SELECT");
        bool bad = rep->type == VODQ_REPLY_ERROR;
        vodq_reply_free(rep);
        if (bad) {
            vodq_redis_disconnect(r);
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis: SELECT %d failed", r->url.db);
        }
    }
    /* A restarted server has an empty script cache: reload what we use. */
    for (int i = 0; i < r->n_scripts; i++)
        if (load_script(r, r->scripts[i], err) != VODQ_OK)
            return err ? err->code : VODQ_ERR_IO;
    r->backoff_ms = 0;
    return VODQ_OK;
}

static enum vodq_rc ensure(struct vodq_redis *r, struct vodq_err *err)
{
    if (r->ctx)
        return VODQ_OK;
    if (r->backoff_ms > 0) {
        /* back off after a failed connect, with jitter */
        int ms = r->backoff_ms / 2 + rand() % (r->backoff_ms / 2 + 1);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    enum vodq_rc rc = connect_once(r, err);
    if (rc != VODQ_OK) {
        r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 50;
        if (r->backoff_ms > r->reconnect_max_ms)
            r->backoff_ms = r->reconnect_max_ms;
    }
    return rc;
}

enum vodq_rc vodq_redis_ping(struct vodq_redis *r, struct vodq_err *err)
{
    struct vodq_reply *rep = vodq_redis_cmd(r, err, "PING");
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    enum vodq_rc rc = VODQ_OK;
    if (rep->type == VODQ_REPLY_ERROR)
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "redis PING: %s", rep->str);
    vodq_reply_free(rep);
    return rc;
}

static struct vodq_reply *take(struct vodq_redis *r, redisReply *h, struct vodq_err *err,
                               const char *what)
{
    if (!h) {
        ctx_error(r, err, what);
        return NULL;
    }
    struct vodq_reply *rep = copy_reply(h);
    freeReplyObject(h);
    if (!rep)
        vodq_err_set(err, VODQ_ERR_OOM, 0, "redis: out of memory");
    return rep;
}

struct vodq_reply *vodq_redis_argv(struct vodq_redis *r, int argc, const char **argv,
                                   const size_t *argvlen, struct vodq_err *err)
{
    if (ensure(r, err) != VODQ_OK)
        return NULL;
    redisReply *h = redisCommandArgv(r->ctx, argc, argv, argvlen);
    return take(r, h, err, argc ? argv[0] : "command");
}

struct vodq_reply *vodq_redis_cmd(struct vodq_redis *r, struct vodq_err *err, const char *fmt, ...)
{
    if (ensure(r, err) != VODQ_OK)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *h = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    return take(r, h, err, "command");
}

enum vodq_rc vodq_redis_append_argv(struct vodq_redis *r, int argc, const char **argv,
                                    const size_t *argvlen, struct vodq_err *err)
{
    if (ensure(r, err) != VODQ_OK)
        return err ? err->code : VODQ_ERR_IO;
    if (redisAppendCommandArgv(r->ctx, argc, argv, argvlen) != REDIS_OK)
        return ctx_error(r, err, "append");
    return VODQ_OK;
}

struct vodq_reply *vodq_redis_read(struct vodq_redis *r, struct vodq_err *err)
{
    if (!r->ctx) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "redis: not connected");
        return NULL;
    }
    void *h = NULL;
    if (redisGetReply(r->ctx, &h) != REDIS_OK)
        h = NULL;
    return take(r, h, err, "read");
}

int vodq_redis_fd(const struct vodq_redis *r)
{
    return r && r->ctx ? r->ctx->fd : -1;
}

enum vodq_rc vodq_redis_flush(struct vodq_redis *r, struct vodq_err *err)
{
    if (!r->ctx)
        return vodq_err_set(err, VODQ_ERR_IO, 0, "redis: not connected");
    int done = 0;
    while (!done)
        if (redisBufferWrite(r->ctx, &done) != REDIS_OK)
            return ctx_error(r, err, "write");
    return VODQ_OK;
}

struct vodq_reply *vodq_redis_read_ready(struct vodq_redis *r, bool *again, struct vodq_err *err)
{
    *again = false;
    if (!r->ctx) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "redis: not connected");
        return NULL;
    }
    void *h = NULL;
    if (redisGetReplyFromReader(r->ctx, &h) != REDIS_OK)
        return take(r, NULL, err, "read");
    if (h)
        return take(r, h, err, "read");
    struct pollfd p = {.fd = r->ctx->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) {
        *again = true;
        return NULL;
    }
    if (redisBufferRead(r->ctx) != REDIS_OK || redisGetReplyFromReader(r->ctx, &h) != REDIS_OK)
        return take(r, NULL, err, "read");
    if (!h)
        *again = true;
    return h ? take(r, h, err, "read") : NULL;
}

static enum vodq_rc register_script(struct vodq_redis *r, struct vodq_script *s,
                                    struct vodq_err *err)
{
    for (int i = 0; i < r->n_scripts; i++)
        if (r->scripts[i] == s)
            return s->sha[0] ? VODQ_OK : load_script(r, s, err);
    if (r->n_scripts < MAX_SCRIPTS)
        r->scripts[r->n_scripts++] = s;
    return load_script(r, s, err);
}

#define EVAL_MAX_ARGS 1024

static int eval_argv(struct vodq_script *s, int nkeys, int nargs, const char **args,
                     const size_t *arglens, const char **argv, size_t *lens, char *nk)
{
    snprintf(nk, 16, "%d", nkeys);
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = s->sha;
    lens[1] = 40;
    argv[2] = nk;
    lens[2] = strlen(nk);
    for (int i = 0; i < nargs; i++) {
        argv[3 + i] = args[i];
        lens[3 + i] = arglens ? arglens[i] : strlen(args[i]);
    }
    return nargs + 3;
}

struct vodq_reply *vodq_redis_eval(struct vodq_redis *r, struct vodq_script *s, int nkeys,
                                   int nargs, const char **args, const size_t *arglens,
                                   struct vodq_err *err)
{
    if (nargs > EVAL_MAX_ARGS) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "script %s: too many arguments", s->name);
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure(r, err) != VODQ_OK || register_script(r, s, err) != VODQ_OK)
            return NULL;
        const char *argv[EVAL_MAX_ARGS + 3];
        size_t lens[EVAL_MAX_ARGS + 3];
        char nk[16];
        int argc = eval_argv(s, nkeys, nargs, args, arglens, argv, lens, nk);
        struct vodq_reply *rep = vodq_redis_argv(r, argc, argv, lens, err);
        if (rep && rep->type == VODQ_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            vodq_reply_free(rep);
            s->sha[0] = '\0';
            continue;
        }
        return rep;
    }
    vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "script %s: NOSCRIPT after load", s->name);
    return NULL;
}

enum vodq_rc vodq_redis_eval_append(struct vodq_redis *r, struct vodq_script *s, int nkeys,
                                    int nargs, const char **args, const size_t *arglens,
                                    struct vodq_err *err)
{
    if (nargs > EVAL_MAX_ARGS)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "script %s: too many arguments", s->name);
    if (ensure(r, err) != VODQ_OK || register_script(r, s, err) != VODQ_OK)
        return err ? err->code : VODQ_ERR_IO;
    const char *argv[EVAL_MAX_ARGS + 3];
    size_t lens[EVAL_MAX_ARGS + 3];
    char nk[16];
    int argc = eval_argv(s, nkeys, nargs, args, arglens, argv, lens, nk);
    return vodq_redis_append_argv(r, argc, argv, lens, err);
}

const char *vodq_reply_str(const struct vodq_reply *r, size_t i)
{
    if (!r || r->type != VODQ_REPLY_ARRAY || i >= r->elements)
        return NULL;
    const struct vodq_reply *e = r->element[i];
    if (e->type == VODQ_REPLY_STRING || e->type == VODQ_REPLY_STATUS)
        return e->str;
    return NULL;
}

long long vodq_reply_int(const struct vodq_reply *r, long long def)
{
    if (!r)
        return def;
    if (r->type == VODQ_REPLY_INTEGER)
        return r->integer;
    if ((r->type == VODQ_REPLY_STRING || r->type == VODQ_REPLY_STATUS) && r->str) {
        char *end;
        long long v = strtoll(r->str, &end, 10);
        if (end != r->str && *end == '\0')
            return v;
    }
    return def;
}
