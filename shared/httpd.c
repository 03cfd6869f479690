/* httpd.c: libmicrohttpd behind vodq's routes, bearer tokens and limits. */
#include "shared/httpd.h"

#include "shared/config.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MIN 16
#define TOKEN_MAX 256
#define CONN_TIMEOUT_S 10 /* an idle or trickling connection is closed after this */
#define CONN_LIMIT 256

/* ---- tokens ---------------------------------------------------------- */

struct token {
    enum vodq_httpd_access role;
    size_t len;
    char tok[TOKEN_MAX + 1];
};

struct vodq_httpd_tokens {
    struct token *t;
    size_t n;
};

void vodq_httpd_tokens_free(struct vodq_httpd_tokens *t)
{
    if (!t)
        return;
    /* wipe the secrets before giving the memory back */
    for (size_t i = 0; i < t->n; i++)
        memset(t->t[i].tok, 0, sizeof(t->t[i].tok));
    free(t->t);
    free(t);
}

struct tokens_load {
    struct vodq_httpd_tokens *t;
    const char *path;
};

/* One line of a token file: "admin TOKEN" or "read TOKEN". */
static bool tokens_line(void *ctx, int lineno, char **w, int nw, struct vodq_err *err)
{
    struct tokens_load *c = ctx;
    struct vodq_httpd_tokens *t = c->t;
    const char *tok = nw > 1 ? w[1] : "";
    size_t tlen = strlen(tok);
    enum vodq_httpd_access r = VODQ_HTTPD_NONE;
    if (!strcmp(w[0], "admin"))
        r = VODQ_HTTPD_ADMIN;
    else if (!strcmp(w[0], "read"))
        r = VODQ_HTTPD_READ;
    if (r == VODQ_HTTPD_NONE || nw != 2) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "http token file %s:%d: expected 'admin TOKEN' or 'read TOKEN'", c->path,
                     lineno);
        return false;
    }
    if (tlen < TOKEN_MIN || tlen > TOKEN_MAX) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "http token file %s:%d: a token must be %d..%d characters", c->path,
                     lineno, TOKEN_MIN, TOKEN_MAX);
        return false;
    }
    struct token *nt = realloc(t->t, (t->n + 1) * sizeof(*nt));
    if (!nt) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return false;
    }
    t->t = nt;
    memset(&nt[t->n], 0, sizeof(nt[t->n]));
    nt[t->n].role = r;
    nt[t->n].len = tlen;
    memcpy(nt[t->n].tok, tok, tlen);
    t->n++;
    return true;
}

struct vodq_httpd_tokens *vodq_httpd_tokens_load(const char *path, char *warn, size_t warn_cap,
                                               struct vodq_err *err)
{
    struct tokens_load c = {calloc(1, sizeof(struct vodq_httpd_tokens)), path};
    if (!c.t) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    /* group-readable is fine (root:vodq 0640); others must not read it */
    int n = vodq_config_secret_lines("http token file", path, 007, warn, warn_cap, tokens_line,
                                     &c, err);
    if (n == 0)
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "http token file %s: no tokens", path);
    if (n <= 0) {
        vodq_httpd_tokens_free(c.t);
        return NULL;
    }
    return c.t;
}

/* Constant-time equality of a stored token and a candidate: every byte of
 * the stored token is looked at whatever the candidate holds. */
static bool token_eq(const struct token *k, const char *cand, size_t clen)
{
    unsigned char d = (unsigned char)(clen != k->len);
    for (size_t i = 0; i < k->len; i++) {
        unsigned char c = i < clen ? (unsigned char)cand[i] : 0;
        d |= (unsigned char)(k->tok[i] ^ c);
    }
    return d == 0;
}

enum vodq_httpd_access vodq_httpd_tokens_check(const struct vodq_httpd_tokens *t,
                                             const char *authorization)
{
    if (!t || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return VODQ_HTTPD_NONE;
    const char *cand = authorization + 7;
    while (*cand == ' ')
        cand++;
    size_t clen = strlen(cand);
    while (clen && cand[clen - 1] == ' ')
        clen--;
    enum vodq_httpd_access best = VODQ_HTTPD_NONE;
    /* no early exit: every token is compared */
    for (size_t i = 0; i < t->n; i++) {
        bool eq = token_eq(&t->t[i], cand, clen);
        if (eq && t->t[i].role > best)
            best = t->t[i].role;
    }
    return best;
}

/* ---- listen address -------------------------------------------------- */

static bool is_loopback(const struct sockaddr_storage *sa)
{
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            return a->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

enum vodq_rc vodq_httpd_listen_parse(const char *addr, struct sockaddr_storage *sa,
                                    socklen_t *len, bool *loopback, struct vodq_err *err)
{
    char host[256] = "127.0.0.1";
    const char *port_s;
    if (!addr || !*addr)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "http: empty listen address");
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof(host))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "http: '%s' must be [IPV6-ADDRESS]:PORT", addr);
        snprintf(host, sizeof(host), "%.*s", (int)(close - addr - 1), addr + 1);
        port_s = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (colon && strchr(addr, ':') != colon)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "http: '%s': write an IPv6 address in brackets, [::1]:PORT",
                                addr);
        if (colon) {
            if ((size_t)(colon - addr) >= sizeof(host))
                return vodq_err_set(err, VODQ_ERR_INVALID, 0, "http: host name too long");
            snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
            if (!host[0])
                snprintf(host, sizeof(host), "0.0.0.0"); /* ":8080" = every interface */
            port_s = colon + 1;
        } else {
            port_s = addr;
        }
    }
    char *end;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (errno || end == port_s || *end || port < 1 || port > 65535)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "http: '%s': the port must be 1..65535 (HOST:PORT)", addr);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port_s, &hints, &res);
    if (g != 0 || !res)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "http: '%s': cannot resolve '%s': %s",
                            addr, host, gai_strerror(g));
    memset(sa, 0, sizeof(*sa));
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    *loopback = is_loopback(sa);
    return VODQ_OK;
}

/* ---- server ---------------------------------------------------------- */

struct vodq_httpd {
    struct MHD_Daemon *d;
    struct vodq_httpd_tokens *tokens; /* NULL = everyone is admin */
    struct vodq_httpd_opts o;
    bool loopback;
    char warning[512];
    atomic_int streams; /* streaming responses running */
};

/* A streaming response: the handler's callback plus the server's count. */
struct stream {
    struct vodq_httpd *h;
    vodq_httpd_stream_fn fn;
    void *cls;
    void (*done)(void *cls);
};

/* Per-request state between libmicrohttpd's calls of the handler. */
struct rstate {
    const struct vodq_httpd_route *route;
    enum vodq_httpd_access role;
    char *buf;
    size_t len;
    bool too_big;
};

char *vodq_httpd_json_error(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "error", msg ? msg : "")) {
        cJSON_Delete(o);
        return NULL;
    }
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = t ? strdup(t) : NULL;
    cJSON_free(t);
    return out;
}

void vodq_httpd_error(struct vodq_httpd_resp *resp, unsigned status, const char *msg)
{
    free(resp->body);
    resp->status = status;
    resp->type = "application/json";
    resp->body = vodq_httpd_json_error(msg);
}

void vodq_httpd_livez(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    (void)ctx;
    (void)req;
    resp->status = 200;
    resp->type = "text/plain";
    resp->body = strdup("ok\n");
}

const char *vodq_httpd_req_header(const struct vodq_httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *vodq_httpd_req_arg(const struct vodq_httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    long n = s->fn(s->cls, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    if (s->done)
        s->done(s->cls);
    atomic_fetch_sub(&s->h->streams, 1);
    free(s);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg);

/* Queues r's stream, or 503 when max_streams are running already. */
static enum MHD_Result send_stream(struct vodq_httpd *h, struct MHD_Connection *c,
                                   struct vodq_httpd_resp *r)
{
    free(r->body);
    r->body = NULL;
    int max = h->o.max_streams > 0 ? h->o.max_streams : 8;
    struct stream *s = NULL;
    if (atomic_fetch_add(&h->streams, 1) >= max || !(s = malloc(sizeof(*s)))) {
        atomic_fetch_sub(&h->streams, 1);
        if (r->stream_done)
            r->stream_done(r->stream_cls);
        return send_error(c, 503, "too many event streams open; try again later");
    }
    *s = (struct stream){h, r->stream, r->stream_cls, r->stream_done};
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, r->status ? r->status : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct vodq_httpd_resp *r,
                                 bool challenge)
{
    size_t n = r->body ? strlen(r->body) : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n, r->body ? r->body : (void *)"", r->body ?
                                        MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    r->body = NULL;
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->csp)
        MHD_add_response_header(resp, "Content-Security-Policy", r->csp);
    if (challenge)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"vodq\"");
    enum MHD_Result ret = MHD_queue_response(c, r->status ? r->status : 500, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    struct vodq_httpd_resp r = {0};
    vodq_httpd_error(&r, status, msg);
    return send_resp(c, &r, status == 401);
}

/* Finds the route of method+path: *route_for_path tells whether any route
 * has this path (405 rather than 404). */
static const struct vodq_httpd_route *find_route(const struct vodq_httpd *h, const char *method,
                                                const char *path, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < h->o.n_routes; i++) {
        const struct vodq_httpd_route *r = &h->o.routes[i];
        bool match = r->prefix ? !strncmp(path, r->path, strlen(r->path)) && path[strlen(r->path)]
                               : !strcmp(path, r->path);
        if (!match)
            continue;
        *path_known = true;
        if (!strcmp(method, r->method))
            return r;
    }
    return NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **state)
{
    (void)version;
    struct vodq_httpd *h = cls;
    struct rstate *st = *state;
    if (!st) {
        /* first call: headers only. Route, authenticate and check the
         * declared length before any of the body is read. */
        bool known = false;
        const struct vodq_httpd_route *route = find_route(h, method, url, &known);
        if (!route)
            return known ? send_error(c, 405, "method not allowed here")
                         : send_error(c, 404, "no such endpoint");
        enum vodq_httpd_access role = VODQ_HTTPD_ADMIN;
        if (h->tokens) {
            const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
            const char *qt = route->token_in_query
                                 ? MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token")
                                 : NULL;
            char bearer[TOKEN_MAX + 16];
            if (!authz && qt && strlen(qt) <= TOKEN_MAX) {
                /* the same constant-time check as the header */
                snprintf(bearer, sizeof(bearer), "Bearer %s", qt);
                authz = bearer;
            }
            role = vodq_httpd_tokens_check(h->tokens, authz);
            if (authz == bearer)
                explicit_bzero(bearer, sizeof(bearer));
        }
        if (route->need > VODQ_HTTPD_NONE && role == VODQ_HTTPD_NONE)
            return send_error(c, 401, "a valid bearer token is required (Authorization: Bearer TOKEN)");
        if (role < route->need)
            return send_error(c, 403, "this token may not do that (an admin token is required)");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || end == cl || *end || v > h->o.max_body_bytes) {
                char m[96];
                snprintf(m, sizeof(m), "request body over %zu bytes", h->o.max_body_bytes);
                return send_error(c, 413, m);
            }
        }
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        st->route = route;
        st->role = role;
        *state = st;
        return MHD_YES;
    }
    if (*data_size) {
        /* a chunked body has no Content-Length: cut it off while reading */
        if (st->too_big || st->len + *data_size > h->o.max_body_bytes) {
            st->too_big = true;
        } else {
            char *nb = realloc(st->buf, st->len + *data_size + 1);
            if (!nb)
                return MHD_NO;
            st->buf = nb;
            memcpy(st->buf + st->len, data, *data_size);
            st->len += *data_size;
            st->buf[st->len] = '\0';
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (st->too_big) {
        char m[96];
        snprintf(m, sizeof(m), "request body over %zu bytes", h->o.max_body_bytes);
        return send_error(c, 413, m);
    }
    size_t plen = strlen(st->route->path);
    struct vodq_httpd_req req = {
        .method = method,
        .path = url,
        .rest = st->route->prefix ? url + plen : "",
        .body = st->buf ? st->buf : "",
        .body_len = st->len,
        .role = st->role,
        .conn = c,
    };
    struct vodq_httpd_resp resp = {0};
    st->route->fn(h->o.ctx, &req, &resp);
    if (resp.stream)
        return send_stream(h, c, &resp);
    return send_resp(c, &resp, false);
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct rstate *st = *state;
    if (st) {
        free(st->buf);
        free(st);
        *state = NULL;
    }
}

struct vodq_httpd *vodq_httpd_start(const struct vodq_httpd_opts *o, struct vodq_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    bool loopback = false;
    if (vodq_httpd_listen_parse(o->listen, &sa, &salen, &loopback, err) != VODQ_OK)
        return NULL;
    bool have_tokens = o->token_file && *o->token_file;
    if (!loopback && !have_tokens && !o->insecure) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0,
                     "http: refusing to listen on non-loopback %s without authentication: give "
                     "--http-token-file FILE (lines 'admin TOKEN' / 'read TOKEN'), or "
                     "--http-insecure to serve it open",
                     o->listen);
        return NULL;
    }
    struct vodq_httpd *h = calloc(1, sizeof(*h));
    if (!h) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    h->o = *o;
    h->loopback = loopback;
    if (have_tokens) {
        h->tokens = vodq_httpd_tokens_load(o->token_file, h->warning, sizeof(h->warning), err);
        if (!h->tokens) {
            free(h);
            return NULL;
        }
    } else if (!loopback) {
        snprintf(h->warning, sizeof(h->warning),
                 "http: serving %s WITHOUT authentication (--http-insecure)", o->listen);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    unsigned threads = o->threads > 0 ? (unsigned)o->threads : 4;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)CONN_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, completed, h,
                            MHD_OPTION_END);
    if (!h->d) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "http: cannot listen on %s (in use?)", o->listen);
        vodq_httpd_tokens_free(h->tokens);
        free(h);
        return NULL;
    }
    return h;
}

const char *vodq_httpd_warning(const struct vodq_httpd *h)
{
    return h ? h->warning : "";
}

bool vodq_httpd_loopback(const struct vodq_httpd *h)
{
    return h && h->loopback;
}

void vodq_httpd_stop(struct vodq_httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    vodq_httpd_tokens_free(h->tokens);
    free(h);
}
