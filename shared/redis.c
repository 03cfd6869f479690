/* redis.c: the one module that talks hiredis; also the Redis transport
 * (TCP, unix socket, TLS through OpenSSL, Sentinel discovery). */
#include "shared/redis.h"

#include "shared/log.h"

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_SCRIPTS 32

struct vodq_redis {
    int fd;                   /* -1 while disconnected */
    SSL *ssl;                 /* rediss:// */
    redisReader *reader;      /* hiredis's RESP parser, fed from fd or ssl */
    char *wbuf;               /* formatted commands not yet written (pipeline) */
    size_t wlen, wcap;
    struct vodq_redis_url url;
    char at_host[256];        /* the server connected to (Sentinel: the master) */
    int at_port;
    int next_sentinel;        /* the sentinel to ask first */
    int connect_timeout_ms;
    int command_timeout_ms;
    int reconnect_max_ms;
    int backoff_ms;           /* current reconnect delay */
    /* scripts: fn 1 = the library is loaded on this server (checked on this connection),
     * -1 = no FUNCTION here (EVALSHA with the SHAs below), 0 = not known yet */
    int fn;
    bool scripts_used;        /* a script ran on this handle: load again on reconnect */
    struct {
        const struct vodq_script *s;
        char sha[41];         /* "" until SCRIPT LOAD on this connection */
    } scripts[MAX_SCRIPTS];
    int n_scripts;
};

/* A reply is one block of memory: the nodes, their element arrays and their strings,
 * laid out by copy_reply (one malloc per reply instead of three per node). */
void vodq_reply_free(struct vodq_reply *r)
{
    free(r);
}

/* Bytes copy_reply needs for h's tree, each piece aligned for a pointer. */
#define REPLY_ALIGN(n) (((n) + sizeof(void *) - 1) & ~(sizeof(void *) - 1))
static size_t reply_size(const redisReply *h)
{
    size_t n = REPLY_ALIGN(sizeof(struct vodq_reply));
    if (h->str)
        n += REPLY_ALIGN(h->len + 1);
    if (h->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < h->elements; i++)
            n += sizeof(struct vodq_reply *) + reply_size(h->element[i]);
    return n;
}

static struct vodq_reply *lay_out(const redisReply *h, char **at)
{
    struct vodq_reply *r = (struct vodq_reply *)(void *)*at;
    *at += REPLY_ALIGN(sizeof(*r));
    memset(r, 0, sizeof(*r));
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
        r->str = *at;
        *at += REPLY_ALIGN(h->len + 1);
        memcpy(r->str, h->str, h->len);
        r->str[h->len] = '\0';
        r->len = h->len;
    }
    if (h->type == REDIS_REPLY_ARRAY && h->elements) {
        r->element = (struct vodq_reply **)(void *)*at;
        *at += h->elements * sizeof(*r->element);
        r->elements = h->elements;
        for (size_t i = 0; i < h->elements; i++)
            r->element[i] = lay_out(h->element[i], at);
    }
    return r;
}

static struct vodq_reply *copy_reply(const redisReply *h)
{
    char *block = malloc(reply_size(h));
    if (!block)
        return NULL;
    char *at = block;
    return lay_out(h, &at);
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

/* host[:port] or [v6]:port between hp and hend into host/port. */
static enum vodq_rc parse_hostport(const char *hp, const char *hend, const char *shown,
                                   char *host, size_t cap, int *port, struct vodq_err *err)
{
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
    if (n >= cap)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: host of %zu bytes is too long",
                            n);
    memcpy(host, hp, n);
    host[n] = '\0';
    if (pcolon) {
        char *end;
        long v = strtol(pcolon + 1, &end, 10);
        if (!isdigit((unsigned char)pcolon[1]) || end != hend || v < 1 || v > 65535)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "redis url '%.100s': port must be 1-65535", shown);
        *port = (int)v;
    }
    return VODQ_OK;
}

static enum vodq_rc parse_db(const char *s, const char *shown, int *db, struct vodq_err *err)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end || v > 100000)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "redis url '%.100s': database must be a number 0-100000", shown);
    *db = (int)v;
    return VODQ_OK;
}

/* user[:password] between p and at. */
static enum vodq_rc parse_userinfo(const char *p, const char *at, struct vodq_redis_url *out,
                                   struct vodq_err *err)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *ue = colon ? colon : at;
    if (pct_decode(out->user, sizeof(out->user), p, (size_t)(ue - p)) != 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: bad user name");
    if (colon && pct_decode(out->password, sizeof(out->password), colon + 1,
                            (size_t)(at - colon - 1)) != 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: bad password");
    return VODQ_OK;
}

/* unix://[user:pass@]/path[?db=N] */
static enum vodq_rc parse_unix(const char *p, const char *shown, struct vodq_redis_url *out,
                               struct vodq_err *err)
{
    out->kind = VODQ_REDIS_UNIX;
    const char *at = NULL;
    for (const char *q = strchr(p, '@'); q; q = strchr(q + 1, '@'))
        if (q[1] == '/')
            at = q;
    if (at) {
        if (parse_userinfo(p, at, out, err) != VODQ_OK)
            return err ? err->code : VODQ_ERR_INVALID;
        p = at + 1;
    }
    if (*p != '/')
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "redis url '%.100s': unix:// needs an absolute path "
                            "(unix:///path/redis.sock)", shown);
    const char *q = strchr(p, '?');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (n >= sizeof(out->path))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "redis url: socket path of %zu bytes is too long (max %zu)", n,
                            sizeof(out->path) - 1);
    memcpy(out->path, p, n);
    out->path[n] = '\0';
    if (q) {
        if (strncmp(q, "?db=", 4) != 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "redis url '%.100s': the only query is ?db=N", shown);
        return parse_db(q + 4, shown, &out->db, err);
    }
    return VODQ_OK;
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
    if (strncmp(p, "redis://", 8) == 0) {
        p += 8;
    } else if (strncmp(p, "rediss://", 9) == 0) {
        p += 9;
        out->tls = true;
    } else if (strncmp(p, "unix://", 7) == 0) {
        return parse_unix(p + 7, shown, out, err);
    } else if (strncmp(p, "redis+sentinel://", 17) == 0) {
        p += 17;
        out->kind = VODQ_REDIS_SENTINEL;
    } else if (strncmp(p, "rediss+sentinel://", 18) == 0) {
        p += 18;
        out->kind = VODQ_REDIS_SENTINEL;
        out->tls = true;
    } else if (scheme_end) {
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "redis url '%.*s://...': scheme must be redis://, rediss://, "
                            "unix:// or redis+sentinel://",
                            (int)(scheme_end - p) > 20 ? 20 : (int)(scheme_end - p), p);
    }
    const char *at = strrchr(p, '@');
    const char *slash = strchr(at ? at : p, '/');
    if (at) {
        if (parse_userinfo(p, at, out, err) != VODQ_OK)
            return err ? err->code : VODQ_ERR_INVALID;
        p = at + 1;
    }
    const char *hend = slash ? slash : p + strlen(p);
    if (out->kind == VODQ_REDIS_SENTINEL) {
        const char *h = p;
        while (h <= hend) {
            const char *comma = memchr(h, ',', (size_t)(hend - h));
            const char *e = comma ? comma : hend;
            if (out->n_sentinels == VODQ_REDIS_MAX_SENTINELS)
                return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                    "redis url: more than %d sentinels",
                                    VODQ_REDIS_MAX_SENTINELS);
            struct vodq_redis_addr *a = &out->sentinels[out->n_sentinels++];
            a->port = 26379;
            if (parse_hostport(h, e, shown, a->host, sizeof(a->host), &a->port, err) != VODQ_OK)
                return err ? err->code : VODQ_ERR_INVALID;
            h = e + 1;
        }
        memcpy(out->host, out->sentinels[0].host, sizeof(out->host));
        out->port = out->sentinels[0].port;
        const char *m = slash ? slash + 1 : "";
        const char *mslash = strchr(m, '/');
        size_t n = mslash ? (size_t)(mslash - m) : strlen(m);
        if (n == 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "redis url '%.100s': the master name is missing "
                                "(redis+sentinel://h:p,h:p/MASTER)", shown);
        if (n >= sizeof(out->master))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis url: master name too long");
        memcpy(out->master, m, n);
        out->master[n] = '\0';
        if (mslash && mslash[1])
            return parse_db(mslash + 1, shown, &out->db, err);
        return VODQ_OK;
    }
    if (parse_hostport(p, hend, shown, out->host, sizeof(out->host), &out->port, err) != VODQ_OK)
        return err ? err->code : VODQ_ERR_INVALID;
    if (slash && slash[1])
        return parse_db(slash + 1, shown, &out->db, err);
    return VODQ_OK;
}

/* ---- TLS settings of the process -------------------------------------- */

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *tls_ctx; /* built by vodq_redis_tls_config or on first use */

/* The first OpenSSL error in the queue as text (and the queue cleared). */
static const char *ssl_reason(char *buf, size_t cap)
{
    const char *why = NULL;
    bool sys = false;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) { /* the OS's reason if there is one, else the last */
        if (sys)
            continue;
        sys = ERR_SYSTEM_ERROR(e);
        why = sys ? strerror(ERR_GET_REASON(e)) : ERR_reason_error_string(e);
    }
    snprintf(buf, cap, "%s", why ? why : "unknown TLS error");
    return buf;
}

static SSL_CTX *tls_ctx_new(const char *ca, const char *cert, const char *key,
                            struct vodq_err *err)
{
    char why[160];
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "redis TLS: %s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    if (ca && *ca) {
        if (SSL_CTX_load_verify_locations(c, ca, NULL) != 1) {
            vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis-ca-file '%s': %s", ca,
                         ssl_reason(why, sizeof(why)));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis TLS: system CAs: %s",
                     ssl_reason(why, sizeof(why)));
        goto fail;
    }
    bool has_cert = cert && *cert, has_key = key && *key;
    if (has_cert != has_key) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "redis-cert-file and redis-key-file go together (only %s is set)",
                     has_cert ? "redis-cert-file" : "redis-key-file");
        goto fail;
    }
    if (has_cert) {
        if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
            vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis-cert-file '%s': %s", cert,
                         ssl_reason(why, sizeof(why)));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c) != 1) {
            vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis-key-file '%s': %s", key,
                         ssl_reason(why, sizeof(why)));
            goto fail;
        }
    }
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

enum vodq_rc vodq_redis_tls_config(const char *ca_file, const char *cert_file,
                                   const char *key_file, struct vodq_err *err)
{
    if ((!ca_file || !*ca_file) && (!cert_file || !*cert_file) && (!key_file || !*key_file))
        return VODQ_OK; /* the system's CAs, loaded on first use */
    SSL_CTX *c = tls_ctx_new(ca_file, cert_file, key_file, err);
    if (!c)
        return err ? err->code : VODQ_ERR_INVALID;
    pthread_mutex_lock(&tls_mu);
    SSL_CTX *old = tls_ctx;
    tls_ctx = c;
    pthread_mutex_unlock(&tls_mu);
    SSL_CTX_free(old); /* live connections hold their own reference */
    return VODQ_OK;
}

/* A new SSL on the process's context (made with the system CAs if
 * vodq_redis_tls_config was never called). */
static SSL *tls_new(struct vodq_err *err)
{
    pthread_mutex_lock(&tls_mu);
    if (!tls_ctx)
        tls_ctx = tls_ctx_new(NULL, NULL, NULL, err);
    SSL *s = tls_ctx ? SSL_new(tls_ctx) : NULL;
    pthread_mutex_unlock(&tls_mu);
    if (!s && tls_ctx)
        vodq_err_set(err, VODQ_ERR_OOM, 0, "redis TLS: out of memory");
    return s;
}

/* ---- the connection: socket, TLS, RESP through hiredis's reader -------- */

/* OpenSSL writes with write(2): a peer that is gone would raise SIGPIPE,
 * which kills a program that does not ignore it. Block it in this thread
 * around TLS writes and drop one that became pending. */
static void sigpipe_block(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

static void sigpipe_restore(const sigset_t *old)
{
    sigset_t s, pending;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) && !sigismember(old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        int e = errno;
        sigtimedwait(&s, NULL, &zero);
        errno = e;
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

struct vodq_redis *vodq_redis_new(const struct vodq_redis_opts *opts, struct vodq_err *err)
{
    struct vodq_redis *r = calloc(1, sizeof(*r));
    if (!r) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    r->fd = -1;
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
    if (!r)
        return;
    if (r->ssl) {
        SSL_free(r->ssl); /* no close_notify: the peer may be gone */
        r->ssl = NULL;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    if (r->reader) {
        redisReaderFree(r->reader);
        r->reader = NULL;
    }
    r->wlen = 0;
}

void vodq_redis_interrupt(struct vodq_redis *r)
{
    int fd = r ? r->fd : -1;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

void vodq_redis_free(struct vodq_redis *r)
{
    if (!r)
        return;
    vodq_redis_disconnect(r);
    free(r->wbuf);
    free(r);
}

bool vodq_redis_connected(const struct vodq_redis *r)
{
    return r && r->fd >= 0;
}

static void sock_timeout(int fd, int ms)
{
    struct timeval tv = {ms > 0 ? ms / 1000 : 0, ms > 0 ? (ms % 1000) * 1000 : 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void vodq_redis_set_timeout(struct vodq_redis *r, int timeout_ms)
{
    r->command_timeout_ms = timeout_ms;
    if (r->fd >= 0)
        sock_timeout(r->fd, timeout_ms);
}

/* Where errors say they happened: the server, or the socket path. */
static const char *where(const struct vodq_redis *r, char *buf, size_t cap)
{
    if (r->url.kind == VODQ_REDIS_UNIX)
        snprintf(buf, cap, "%s", r->url.path);
    else if (strchr(r->at_host, ':'))
        snprintf(buf, cap, "[%s]:%d", r->at_host, r->at_port);
    else
        snprintf(buf, cap, "%s:%d", r->at_host, r->at_port);
    return buf;
}

/* Drops the connection and reports an I/O failure (timeout when e is
 * EAGAIN). */
static enum vodq_rc io_fail(struct vodq_redis *r, struct vodq_err *err, const char *what, int e,
                            const char *why)
{
    char at[300];
    bool timeout = e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT;
    where(r, at, sizeof(at));
    vodq_redis_disconnect(r);
    return vodq_err_set(err, timeout ? VODQ_ERR_TIMEOUT : VODQ_ERR_IO, e, "redis %s: %s: %s",
                        at, what, timeout ? "timed out" : why ? why : strerror(e));
}

/* A connected socket to host:port (or the unix path when host is NULL),
 * within timeout_ms; blocking, with the command timeout set. */
static int sock_open(struct vodq_redis *r, const char *host, int port, int *e, char *why,
                     size_t cap)
{
    struct addrinfo *ai = NULL;
    struct sockaddr_un sun;
    const struct sockaddr *sa;
    socklen_t salen;
    int family;
    if (!host) {
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", r->url.path);
        sa = (const struct sockaddr *)&sun;
        salen = sizeof(sun);
        family = AF_UNIX;
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        char ps[16];
        snprintf(ps, sizeof(ps), "%d", port);
        int g = getaddrinfo(host, ps, &hints, &ai);
        if (g != 0) {
            *e = EHOSTUNREACH;
            snprintf(why, cap, "cannot resolve host: %s", gai_strerror(g));
            return -1;
        }
        sa = ai->ai_addr;
        salen = ai->ai_addrlen;
        family = ai->ai_family;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *e = errno;
        snprintf(why, cap, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int rc = connect(fd, sa, salen);
    freeaddrinfo(ai);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n = poll(&pfd, 1, r->connect_timeout_ms);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (n == 0) {
            errno = ETIMEDOUT;
        } else if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0) {
            errno = soerr;
            rc = soerr ? -1 : 0;
        }
    }
    if (rc != 0) {
        *e = errno;
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (host) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    }
    return fd;
}

/* The TLS handshake on r->fd with SNI and host-name (or IP) verification. */
static enum vodq_rc tls_start(struct vodq_redis *r, struct vodq_err *err)
{
    char at[300], why[400];
    where(r, at, sizeof(at));
    r->ssl = tls_new(err);
    if (!r->ssl) {
        vodq_redis_disconnect(r);
        return err ? err->code : VODQ_ERR_IO;
    }
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, r->at_host, ip) == 1 || inet_pton(AF_INET6, r->at_host, ip) == 1;
    X509_VERIFY_PARAM *vp = SSL_get0_param(r->ssl);
    if (is_ip) { /* no SNI for an address (RFC 6066); the certificate must list the IP */
        X509_VERIFY_PARAM_set1_ip_asc(vp, r->at_host);
    } else {
        SSL_set_tlsext_host_name(r->ssl, r->at_host);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(r->ssl, r->at_host);
    }
    SSL_set_fd(r->ssl, r->fd);
    sock_timeout(r->fd, r->connect_timeout_ms);
    ERR_clear_error();
    errno = 0;
    sigset_t old;
    sigpipe_block(&old);
    int rc = SSL_connect(r->ssl);
    sigpipe_restore(&old);
    if (rc == 1) {
        sock_timeout(r->fd, r->command_timeout_ms);
        return VODQ_OK;
    }
    long v = SSL_get_verify_result(r->ssl);
    int se = SSL_get_error(r->ssl, rc);
    int e = errno;
    if (v != X509_V_OK) {
        snprintf(why, sizeof(why), "certificate of %.100s refused: %s%s", r->at_host,
                 X509_verify_cert_error_string(v),
                 v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH
                     ? " (the name in the URL is not in the certificate)"
                     : v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                               v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                               v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
                         ? " (not signed by a CA of --redis-ca-file)"
                         : "");
        ERR_clear_error();
        vodq_redis_disconnect(r);
        vodq_err_set(err, VODQ_ERR_AUTH, 0, "redis %s: TLS handshake: %s", at, why);
        if (err)
            err->permanent = true;
        return VODQ_ERR_AUTH;
    }
    if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
        return io_fail(r, err, "TLS handshake", EAGAIN, NULL);
    if (se == SSL_ERROR_SYSCALL && e)
        return io_fail(r, err, "TLS handshake", e, NULL);
    if (ERR_peek_last_error())
        ssl_reason(why, sizeof(why));
    else
        snprintf(why, sizeof(why), "connection closed (is it a TLS port?)");
    return io_fail(r, err, "TLS handshake", EPROTO, why);
}

/* Connects the socket (and TLS) to host:port, or the unix socket. */
static enum vodq_rc open_at(struct vodq_redis *r, const char *host, int port,
                            struct vodq_err *err)
{
    vodq_redis_disconnect(r);
    snprintf(r->at_host, sizeof(r->at_host), "%s", host ? host : "");
    r->at_port = port;
    int e = 0;
    char why[200] = "";
    r->fd = sock_open(r, host, port, &e, why, sizeof(why));
    if (r->fd < 0)
        return io_fail(r, err, "connect", e, why[0] ? why : NULL);
    sock_timeout(r->fd, r->command_timeout_ms);
    r->reader = redisReaderCreate();
    if (!r->reader) {
        vodq_redis_disconnect(r);
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "redis: out of memory");
    }
    if (r->url.tls && host)
        return tls_start(r, err);
    return VODQ_OK;
}

/* Writes all pending commands. */
static enum vodq_rc flush_out(struct vodq_redis *r, struct vodq_err *err)
{
    size_t off = 0;
    while (off < r->wlen) {
        ssize_t n;
        int e = 0;
        if (r->ssl) {
            ERR_clear_error();
            sigset_t old;
            sigpipe_block(&old);
            int k = SSL_write(r->ssl, r->wbuf + off, (int)(r->wlen - off > 1 << 30 ? 1 << 30
                                                                                  : r->wlen - off));
            e = errno;
            sigpipe_restore(&old);
            if (k <= 0) {
                int se = SSL_get_error(r->ssl, k);
                char why[160];
                if (se == SSL_ERROR_WANT_WRITE || se == SSL_ERROR_WANT_READ)
                    return io_fail(r, err, "write", EAGAIN, NULL);
                return io_fail(r, err, "write", se == SSL_ERROR_SYSCALL && e ? e : EPROTO,
                               se == SSL_ERROR_SYSCALL && e ? NULL
                                                            : ssl_reason(why, sizeof(why)));
            }
            n = k;
        } else {
            n = send(r->fd, r->wbuf + off, r->wlen - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return io_fail(r, err, "write", errno, NULL);
        }
        off += (size_t)n;
    }
    r->wlen = 0;
    return VODQ_OK;
}

/* Reads until the reader has one whole reply. */
static redisReply *read_reply(struct vodq_redis *r, struct vodq_err *err)
{
    if (r->wlen && flush_out(r, err) != VODQ_OK)
        return NULL;
    for (;;) {
        void *h = NULL;
        if (redisReaderGetReply(r->reader, &h) != REDIS_OK) {
            char why[160];
            snprintf(why, sizeof(why), "bad reply: %s", r->reader->errstr);
            io_fail(r, err, "read", EPROTO, why);
            if (err)
                err->code = VODQ_ERR_PROTOCOL;
            return NULL;
        }
        if (h)
            return h;
        char buf[16384];
        ssize_t n;
        if (r->ssl) {
            ERR_clear_error();
            errno = 0;
            int k = SSL_read(r->ssl, buf, sizeof(buf));
            int e = errno;
            if (k <= 0) {
                int se = SSL_get_error(r->ssl, k);
                char why[160];
                if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
                    io_fail(r, err, "read", EAGAIN, NULL);
                else if (se == SSL_ERROR_ZERO_RETURN || (se == SSL_ERROR_SYSCALL && !e))
                    io_fail(r, err, "read", ECONNRESET, "connection closed by the server");
                else
                    io_fail(r, err, "read", se == SSL_ERROR_SYSCALL ? e : EPROTO,
                            se == SSL_ERROR_SYSCALL ? NULL : ssl_reason(why, sizeof(why)));
                return NULL;
            }
            n = k;
        } else {
            n = recv(r->fd, buf, sizeof(buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                io_fail(r, err, "read", errno, NULL);
                return NULL;
            }
            if (n == 0) {
                io_fail(r, err, "read", ECONNRESET, "connection closed by the server");
                return NULL;
            }
        }
        if (redisReaderFeed(r->reader, buf, (size_t)n) != REDIS_OK) {
            vodq_err_set(err, VODQ_ERR_OOM, 0, "redis: out of memory");
            vodq_redis_disconnect(r);
            return NULL;
        }
    }
}

/* Appends a formatted command (freed here) to the output buffer. */
static enum vodq_rc queue_cmd(struct vodq_redis *r, char *cmd, int len, struct vodq_err *err)
{
    if (len < 0 || !cmd) {
        free(cmd);
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis: cannot format the command");
    }
    if (r->wlen + (size_t)len > r->wcap) {
        size_t cap = r->wcap ? r->wcap : 4096;
        while (cap < r->wlen + (size_t)len)
            cap *= 2;
        char *nb = realloc(r->wbuf, cap);
        if (!nb) {
            free(cmd);
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "redis: out of memory");
        }
        r->wbuf = nb;
        r->wcap = cap;
    }
    memcpy(r->wbuf + r->wlen, cmd, (size_t)len);
    r->wlen += (size_t)len;
    free(cmd);
    return VODQ_OK;
}

static enum vodq_rc queue_argv(struct vodq_redis *r, int argc, const char **argv,
                               const size_t *argvlen, struct vodq_err *err)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    return queue_cmd(r, cmd, len, err);
}

/* Copies a reply out of hiredis (and frees it). A READONLY error means the
 * server is a replica now (a failover): the connection is dropped so that
 * the next command finds the new master, and the caller sees an I/O error
 * it retries (the command did not run). */
static struct vodq_reply *take(struct vodq_redis *r, redisReply *h, struct vodq_err *err)
{
    if (!h)
        return NULL;
    if (h->type == REDIS_REPLY_ERROR && h->str &&
        (strncmp(h->str, "READONLY", 8) == 0 || strstr(h->str, "-READONLY") ||
         strstr(h->str, "READONLY You can't write"))) {
        freeReplyObject(h);
        io_fail(r, err, "command", EROFS, "READONLY: the server is a replica now (failover)");
        return NULL;
    }
    struct vodq_reply *rep = copy_reply(h);
    freeReplyObject(h);
    if (!rep)
        vodq_err_set(err, VODQ_ERR_OOM, 0, "redis: out of memory");
    return rep;
}

/* One command on the raw connection (during connect). */
static struct vodq_reply *raw_argv(struct vodq_redis *r, struct vodq_err *err, int argc,
                                   const char **argv)
{
    if (queue_argv(r, argc, argv, NULL, err) != VODQ_OK)
        return NULL;
    return take(r, read_reply(r, err), err);
}

static enum vodq_rc load_script(struct vodq_redis *r, int i, struct vodq_err *err)
{
    const struct vodq_script *s = r->scripts[i].s;
    const char *argv[] = {"SCRIPT", "LOAD", s->body};
    struct vodq_reply *h = raw_argv(r, err, 3, argv);
    if (!h)
        return err ? err->code : VODQ_ERR_IO;
    enum vodq_rc rc = VODQ_OK;
    if (h->type == VODQ_REPLY_STRING && h->len == 40) {
        memcpy(r->scripts[i].sha, h->str, 40);
        r->scripts[i].sha[40] = '\0';
    } else {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "SCRIPT LOAD %s: %s", s->name,
                          h->str ? h->str : "unexpected reply");
    }
    vodq_reply_free(h);
    return rc;
}

/* FUNCTION LOAD of s's library (one for every script). Sets r->fn: 1 when loaded or
 * there already, -1 when the server has no FUNCTION or this user may not load one (the
 * scripts then go by EVALSHA). */
static enum vodq_rc load_library(struct vodq_redis *r, const struct vodq_script *s,
                                 struct vodq_err *err)
{
    const char *argv[] = {"FUNCTION", "LOAD", s->library};
    struct vodq_reply *h = raw_argv(r, err, 3, argv);
    if (!h)
        return err ? err->code : VODQ_ERR_IO;
    enum vodq_rc rc = VODQ_OK;
    if (h->type != VODQ_REPLY_ERROR || strstr(h->str, "already exists")) {
        r->fn = 1;
    } else if (strncmp(h->str, "NOPERM", 6) == 0 || strstr(h->str, "unknown command")) {
        r->fn = -1;
        vodq_info("redis: no FUNCTION LOAD here (%s): the scripts go by EVALSHA", h->str);
    } else {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "FUNCTION LOAD %s: %s", s->library_name,
                          h->str);
    }
    vodq_reply_free(h);
    return rc;
}

static enum vodq_rc prepare(struct vodq_redis *r, const struct vodq_script *s,
                            struct vodq_err *err);

static enum vodq_rc auth(struct vodq_redis *r, struct vodq_err *err)
{
    if (!r->url.password[0])
        return VODQ_OK;
    const char *argv[] = {"AUTH", r->url.user, r->url.password};
    struct vodq_reply *rep = r->url.user[0] ? raw_argv(r, err, 3, argv)
                                            : raw_argv(r, err, 2, (const char *[]){"AUTH",
                                                                                  r->url.password});
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    if (rep->type == VODQ_REPLY_ERROR) {
        char at[300];
        vodq_err_set(err, VODQ_ERR_AUTH, 0, "redis %s: AUTH rejected: %s",
                     where(r, at, sizeof(at)), rep->str);
        if (err)
            err->permanent = true;
        vodq_reply_free(rep);
        vodq_redis_disconnect(r);
        return VODQ_ERR_AUTH;
    }
    vodq_reply_free(rep);
    return VODQ_OK;
}

/* Asks the sentinels in turn for the master's address, connects to it and
 * checks that it says it is the master (a sentinel may be behind). */
static enum vodq_rc connect_sentinel(struct vodq_redis *r, struct vodq_err *err)
{
    enum vodq_rc rc = VODQ_ERR_IO;
    for (int k = 0; k < r->url.n_sentinels; k++) {
        int i = (r->next_sentinel + k) % r->url.n_sentinels;
        const struct vodq_redis_addr *s = &r->url.sentinels[i];
        rc = open_at(r, s->host, s->port, err);
        if (rc != VODQ_OK)
            continue;
        const char *argv[] = {"SENTINEL", "get-master-addr-by-name", r->url.master};
        struct vodq_reply *rep = raw_argv(r, err, 3, argv);
        if (rep && rep->type == VODQ_REPLY_ERROR && strncmp(rep->str, "NOAUTH", 6) == 0 &&
            r->url.password[0]) { /* a sentinel with requirepass: the URL's credentials */
            vodq_reply_free(rep);
            rep = NULL;
            if ((rc = auth(r, err)) != VODQ_OK)
                continue;
            rep = raw_argv(r, err, 3, argv);
        }
        if (!rep) {
            rc = err ? err->code : VODQ_ERR_IO;
            continue;
        }
        char host[256], at[300];
        int port = 0;
        const char *h = vodq_reply_str(rep, 0), *p = vodq_reply_str(rep, 1);
        if (h && p && strlen(h) < sizeof(host)) {
            snprintf(host, sizeof(host), "%s", h);
            port = atoi(p);
        }
        if (!port) {
            rc = vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "redis sentinel %s: no master named "
                              "'%s'%s%s", where(r, at, sizeof(at)), r->url.master,
                              rep->type == VODQ_REPLY_ERROR ? ": " : "",
                              rep->type == VODQ_REPLY_ERROR ? rep->str : "");
            vodq_reply_free(rep);
            vodq_redis_disconnect(r);
            continue;
        }
        vodq_reply_free(rep);
        if ((rc = open_at(r, host, port, err)) != VODQ_OK || (rc = auth(r, err)) != VODQ_OK)
            continue;
        rep = raw_argv(r, err, 1, (const char *[]){"ROLE"});
        if (!rep) {
            rc = err ? err->code : VODQ_ERR_IO;
            continue;
        }
        const char *role = vodq_reply_str(rep, 0);
        if (!role || strcmp(role, "master") != 0) {
            rc = vodq_err_set(err, VODQ_ERR_IO, 0,
                              "redis %s (master '%s' by sentinel %s:%d): ROLE is %s, not master",
                              where(r, at, sizeof(at)), r->url.master, s->host, s->port,
                              role ? role : "unknown");
            vodq_reply_free(rep);
            vodq_redis_disconnect(r);
            continue;
        }
        vodq_reply_free(rep);
        r->next_sentinel = i;
        return VODQ_OK;
    }
    return rc;
}

static enum vodq_rc connect_once(struct vodq_redis *r, struct vodq_err *err)
{
    enum vodq_rc rc;
    if (r->url.kind == VODQ_REDIS_SENTINEL)
        rc = connect_sentinel(r, err);
    else if (r->url.kind == VODQ_REDIS_UNIX)
        rc = open_at(r, NULL, 0, err);
    else
        rc = open_at(r, r->url.host, r->url.port, err);
    if (rc != VODQ_OK)
        return rc;
    if (r->url.kind != VODQ_REDIS_SENTINEL && (rc = auth(r, err)) != VODQ_OK)
        return rc;
    if (r->url.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->url.db);
        struct vodq_reply *rep = raw_argv(r, err, 2, (const char *[]){"SELECT", db});
        if (!rep)
            return err ? err->code : VODQ_ERR_IO;
        bool bad = rep->type == VODQ_REPLY_ERROR;
        vodq_reply_free(rep);
        if (bad) {
            vodq_redis_disconnect(r);
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "redis: SELECT %d failed", r->url.db);
        }
    }
    /* Another server (restarted, failed over) may lack the library or the scripts:
     * load them again before a pipelined call can meet their absence. */
    r->fn = 0;
    for (int i = 0; i < r->n_scripts; i++)
        r->scripts[i].sha[0] = '\0';
    if (r->scripts_used && r->n_scripts > 0 && prepare(r, r->scripts[0].s, err) != VODQ_OK) {
        vodq_redis_disconnect(r);
        return err ? err->code : VODQ_ERR_IO;
    }
    r->backoff_ms = 0;
    return VODQ_OK;
}

static enum vodq_rc ensure(struct vodq_redis *r, struct vodq_err *err)
{
    if (r->fd >= 0)
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

struct vodq_reply *vodq_redis_argv(struct vodq_redis *r, int argc, const char **argv,
                                   const size_t *argvlen, struct vodq_err *err)
{
    if (ensure(r, err) != VODQ_OK || queue_argv(r, argc, argv, argvlen, err) != VODQ_OK)
        return NULL;
    return take(r, read_reply(r, err), err);
}

struct vodq_reply *vodq_redis_cmd(struct vodq_redis *r, struct vodq_err *err, const char *fmt, ...)
{
    if (ensure(r, err) != VODQ_OK)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (queue_cmd(r, cmd, len, err) != VODQ_OK)
        return NULL;
    return take(r, read_reply(r, err), err);
}

enum vodq_rc vodq_redis_append_argv(struct vodq_redis *r, int argc, const char **argv,
                                    const size_t *argvlen, struct vodq_err *err)
{
    if (ensure(r, err) != VODQ_OK)
        return err ? err->code : VODQ_ERR_IO;
    return queue_argv(r, argc, argv, argvlen, err);
}

struct vodq_reply *vodq_redis_read(struct vodq_redis *r, struct vodq_err *err)
{
    if (r->fd < 0) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "redis: not connected");
        return NULL;
    }
    return take(r, read_reply(r, err), err);
}

int vodq_redis_fd(const struct vodq_redis *r)
{
    return r ? r->fd : -1;
}

enum vodq_rc vodq_redis_flush(struct vodq_redis *r, struct vodq_err *err)
{
    if (r->fd < 0)
        return vodq_err_set(err, VODQ_ERR_IO, 0, "redis: not connected");
    return r->wlen ? flush_out(r, err) : VODQ_OK;
}

struct vodq_reply *vodq_redis_read_ready(struct vodq_redis *r, bool *again, struct vodq_err *err)
{
    *again = false;
    if (r->fd < 0) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "redis: not connected");
        return NULL;
    }
    void *h = NULL;
    if (redisReaderGetReply(r->reader, &h) != REDIS_OK)
        return take(r, read_reply(r, err), err); /* reports the reader's error */
    if (h)
        return take(r, h, err);
    /* nothing buffered: read only when bytes wait (TLS may hold decrypted ones) */
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    if (!(r->ssl && SSL_pending(r->ssl) > 0) && poll(&p, 1, 0) <= 0) {
        *again = true;
        return NULL;
    }
    /* a reply has begun to arrive: the rest comes within the command timeout */
    return take(r, read_reply(r, err), err);
}

/* Makes s callable on this connection: the library loaded (or, without FUNCTION, s's
 * SHA known). Returns the index of s in r->scripts through *at (-1 when none is free). */
static enum vodq_rc prepare_at(struct vodq_redis *r, const struct vodq_script *s, int *at,
                               struct vodq_err *err)
{
    r->scripts_used = true;
    int i = 0;
    while (i < r->n_scripts && r->scripts[i].s != s)
        i++;
    if (i == r->n_scripts && i < MAX_SCRIPTS) {
        r->scripts[i].s = s;
        r->scripts[i].sha[0] = '\0';
        r->n_scripts++;
    }
    *at = i < MAX_SCRIPTS ? i : -1;
    if (r->fn == 0) {
        enum vodq_rc rc = load_library(r, s, err);
        if (rc != VODQ_OK)
            return rc;
    }
    if (r->fn > 0)
        return VODQ_OK;
    if (*at < 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "script %s: too many scripts", s->name);
    if (!r->scripts[*at].sha[0]) {
        /* without FUNCTION every script this handle used is loaded again (reconnect) */
        for (int k = 0; k < r->n_scripts; k++)
            if (!r->scripts[k].sha[0] && load_script(r, k, err) != VODQ_OK)
                return err ? err->code : VODQ_ERR_IO;
    }
    return VODQ_OK;
}

static enum vodq_rc prepare(struct vodq_redis *r, const struct vodq_script *s,
                            struct vodq_err *err)
{
    int at;
    return prepare_at(r, s, &at, err);
}

#define EVAL_MAX_ARGS 1024

/* FCALL <function> or EVALSHA <sha>, then nkeys and the args. */
static int eval_argv(const struct vodq_redis *r, const struct vodq_script *s, int at, int nkeys,
                     int nargs, const char **args, const size_t *arglens, const char **argv,
                     size_t *lens, char *nk)
{
    snprintf(nk, 16, "%d", nkeys);
    if (r->fn > 0) {
        argv[0] = "FCALL";
        argv[1] = s->fcall;
    } else {
        argv[0] = "EVALSHA";
        argv[1] = r->scripts[at].sha;
    }
    lens[0] = strlen(argv[0]);
    lens[1] = strlen(argv[1]);
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
        int at;
        if (ensure(r, err) != VODQ_OK || prepare_at(r, s, &at, err) != VODQ_OK)
            return NULL;
        const char *argv[EVAL_MAX_ARGS + 3];
        size_t lens[EVAL_MAX_ARGS + 3];
        char nk[16];
        int argc = eval_argv(r, s, at, nkeys, nargs, args, arglens, argv, lens, nk);
        struct vodq_reply *rep = vodq_redis_argv(r, argc, argv, lens, err);
        /* the library or script went away (FUNCTION FLUSH, SCRIPT FLUSH): load, again */
        if (rep && rep->type == VODQ_REPLY_ERROR &&
            ((r->fn > 0 && strstr(rep->str, "Function not found")) ||
             (r->fn < 0 && strncmp(rep->str, "NOSCRIPT", 8) == 0))) {
            vodq_reply_free(rep);
            if (r->fn > 0)
                r->fn = 0;
            else
                r->scripts[at].sha[0] = '\0';
            continue;
        }
        return rep;
    }
    vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "script %s: not found after loading", s->name);
    return NULL;
}

enum vodq_rc vodq_redis_eval_append(struct vodq_redis *r, struct vodq_script *s, int nkeys,
                                    int nargs, const char **args, const size_t *arglens,
                                    struct vodq_err *err)
{
    if (nargs > EVAL_MAX_ARGS)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "script %s: too many arguments", s->name);
    int at;
    if (ensure(r, err) != VODQ_OK || prepare_at(r, s, &at, err) != VODQ_OK)
        return err ? err->code : VODQ_ERR_IO;
    const char *argv[EVAL_MAX_ARGS + 3];
    size_t lens[EVAL_MAX_ARGS + 3];
    char nk[16];
    int argc = eval_argv(r, s, at, nkeys, nargs, args, arglens, argv, lens, nk);
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
