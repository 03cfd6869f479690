/* http.c: libcurl multi wrapper with per-request retry (see http.h). */
#include "worker/upload/http.h"

#include "shared/clock.h"
#include "shared/metrics.h"

#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (8u << 20) /* a reply body larger than this is an error */

struct req_priv {
    struct vodq_http *h;
    CURL *easy;
    struct curl_slist *slist;
    size_t body_off;      /* read position in req->body */
    int64_t retry_at_ms;  /* > 0: waiting to be re-sent at this monotonic time */
    bool in_multi;        /* added to the multi handle */
    bool done;            /* finished, queued for vodq_http_wait */
    bool stalled;         /* the attempt was stopped: no byte moved for the stall limit */
    int64_t moved_at_ms;  /* last time a byte moved (monotonic) */
    curl_off_t moved;     /* bytes moved (both ways) at moved_at_ms */
    struct vodq_http_req *next; /* in h->done or h->waiting lists */
    char errbuf[CURL_ERROR_SIZE];
};

struct vodq_http {
    CURLM *multi;
    struct vodq_http_opts o;
    size_t in_flight;
    struct vodq_http_req *done;    /* finished requests, LIFO is fine */
    struct vodq_http_req *waiting; /* requests waiting for their retry time */
};

static struct req_priv *P(const struct vodq_http_req *r)
{
    return (struct req_priv *)r->priv;
}

/* ---- Request building ---- */

enum vodq_rc vodq_http_req_init(struct vodq_http_req *req, const char *method, const char *url,
                                struct vodq_err *err)
{
    memset(req, 0, sizeof(*req));
    snprintf(req->method, sizeof(req->method), "%s", method);
    req->url = strdup(url);
    if (!req->url)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    return VODQ_OK;
}

void vodq_http_req_clear_headers(struct vodq_http_req *req)
{
    for (size_t i = 0; i < req->n_headers; i++)
        free(req->headers[i]);
    req->n_headers = 0;
}

void vodq_http_req_cleanup(struct vodq_http_req *req)
{
    if (!req)
        return;
    vodq_http_req_clear_headers(req);
    free(req->headers);
    free(req->url);
    free(req->resp);
    free(req->resp_headers);
    struct req_priv *p = P(req);
    if (p) {
        if (p->easy)
            curl_easy_cleanup(p->easy);
        curl_slist_free_all(p->slist);
        free(p);
    }
    memset(req, 0, sizeof(*req));
}

enum vodq_rc vodq_http_req_add_header(struct vodq_http_req *req, const char *name,
                                      const char *value, struct vodq_err *err)
{
    if (req->n_headers == req->cap_headers) {
        size_t cap = req->cap_headers ? req->cap_headers * 2 : 8;
        char **v = realloc(req->headers, cap * sizeof(*v));
        if (!v)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        req->headers = v;
        req->cap_headers = cap;
    }
    size_t len = strlen(name) + strlen(value) + 3;
    char *line = malloc(len);
    if (!line)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    /* "Name;" is curl's way to send a header with an empty value */
    if (*value)
        snprintf(line, len, "%s: %s", name, value);
    else
        snprintf(line, len, "%s;", name);
    req->headers[req->n_headers++] = line;
    return VODQ_OK;
}

const char *vodq_http_resp_header(const struct vodq_http_req *req, const char *name, char *buf,
                                  size_t cap)
{
    if (!req->resp_headers || cap == 0)
        return NULL;
    size_t nlen = strlen(name);
    const char *p = req->resp_headers;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            const char *end = p + len;
            while (v < end && isspace((unsigned char)*v))
                v++;
            while (end > v && isspace((unsigned char)end[-1]))
                end--;
            size_t n = (size_t)(end - v);
            if (n >= cap)
                n = cap - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return NULL;
}

/* ---- libcurl callbacks ---- */

/* Appends n bytes to a NUL-terminated growing buffer; false when it would
 * pass max bytes or memory runs out (curl then fails the transfer). */
static bool append(char **buf, size_t *len, size_t max, const char *ptr, size_t n)
{
    if (*len + n > max)
        return false;
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        return false;
    memcpy(b + *len, ptr, n);
    *buf = b;
    *len += n;
    b[*len] = '\0';
    return true;
}

/* Writes a 2xx body to the request's file (resp_to_fd); 0 stops the
 * transfer (a write error, too many bytes, or a status other than the one
 * required, e.g. 200 where a Range request needs 206). */
static size_t body_to_fd(struct vodq_http_req *req, const char *ptr, size_t n)
{
    if (req->resp_fd_status && req->status != req->resp_fd_status)
        return 0;
    if (req->resp_fd_max > 0 && req->resp_fd_len + (int64_t)n > req->resp_fd_max)
        return 0;
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(req->resp_fd, ptr + done, n - done,
                           (off_t)(req->resp_fd_off + req->resp_fd_len + (int64_t)done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        done += (size_t)w;
    }
    req->resp_fd_len += (int64_t)n;
    return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct vodq_http_req *req = ud;
    size_t n = size * nmemb;
    if (req->resp_to_fd) {
        long st = 0;
        curl_easy_getinfo(P(req)->easy, CURLINFO_RESPONSE_CODE, &st);
        req->status = st;
        if (st >= 200 && st < 300)
            return body_to_fd(req, ptr, n);
    }
    return append(&req->resp, &req->resp_len, RESP_MAX, ptr, n) ? n : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct vodq_http_req *req = ud;
    size_t n = size * nmemb;
    /* A status line starts a new block (100 Continue, redirects): keep the last. */
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
        req->resp_headers_len = 0;
    return append(&req->resp_headers, &req->resp_headers_len, 256 * 1024, ptr, n) ? n : 0;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct vodq_http_req *req = ud;
    struct req_priv *p = P(req);
    size_t left = req->body_len - p->body_off;
    size_t n = size * nitems;
    if (n > left)
        n = left;
    if (req->body_from_fd) {
        ssize_t r;
        do
            r = pread(req->body_fd, buf, n, (off_t)(req->body_fd_off + (int64_t)p->body_off));
        while (r < 0 && errno == EINTR);
        if (r <= 0 && n > 0)
            return CURL_READFUNC_ABORT; /* the file shrank or cannot be read */
        n = (size_t)r;
    } else {
        memcpy(buf, req->body + p->body_off, n);
    }
    p->body_off += n;
    vodq_metric_add(VODQ_M_UPLOAD_BYTES, (long long)n);
    return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct vodq_http_req *req = ud;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > req->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    P(req)->body_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Stall detection: libcurl's LOW_SPEED check averages over a window of
 * seconds and so notices a silent server several seconds late; this one
 * stops the attempt when no byte has moved for exactly the stall limit. */
static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    (void)dltotal;
    (void)ultotal;
    struct vodq_http_req *req = ud;
    struct req_priv *p = P(req);
    int64_t now = vodq_mono_ms();
    if (dlnow + ulnow != p->moved || p->moved_at_ms == 0) {
        p->moved = dlnow + ulnow;
        p->moved_at_ms = now;
        return 0;
    }
    if (p->h && now - p->moved_at_ms >= p->h->o.stall_timeout_ms) {
        p->stalled = true;
        return 1; /* CURLE_ABORTED_BY_CALLBACK, classified as a timeout */
    }
    return 0;
}

/* ---- Attempts ---- */

/* Prints "METHOD scheme://host/path" (no query) into buf for messages. */
static const char *what(const struct vodq_http_req *req, char *buf, size_t cap)
{
    const char *q = strchr(req->url, '?');
    int ulen = q ? (int)(q - req->url) : (int)strlen(req->url);
    snprintf(buf, cap, "%s %.*s", req->method, ulen, req->url);
    return buf;
}

/* Signs req and configures its easy handle for one attempt. */
static enum vodq_rc prepare(struct vodq_http *h, struct vodq_http_req *req, struct vodq_err *err)
{
    struct req_priv *p = P(req);
    char w[300];

    req->status = 0;
    req->resp_fd_len = 0;
    req->resp_len = 0;
    req->resp_headers_len = 0;
    if (req->resp)
        req->resp[0] = '\0';
    if (req->resp_headers)
        req->resp_headers[0] = '\0';
    vodq_err_clear(&req->err);
    p->body_off = 0;
    p->errbuf[0] = '\0';
    p->stalled = false;
    p->moved = 0;
    p->moved_at_ms = 0;

    if (req->sign) {
        enum vodq_rc rc = req->sign(req->arg, req, err);
        if (rc != VODQ_OK)
            return rc;
    }
    curl_slist_free_all(p->slist);
    p->slist = NULL;
    bool has_ctype = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strncasecmp(req->headers[i], "content-type", 12) == 0)
            has_ctype = true;
        struct curl_slist *s = curl_slist_append(p->slist, req->headers[i]);
        if (!s)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        p->slist = s;
    }
    /* No "Expect: 100-continue" round trip; no libcurl default Content-Type
     * on POST (it would be unsigned). */
    const char *extra[] = {"Expect:", has_ctype ? NULL : "Content-Type:"};
    for (size_t i = 0; i < 2; i++) {
        if (!extra[i])
            continue;
        struct curl_slist *s = curl_slist_append(p->slist, extra[i]);
        if (!s)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        p->slist = s;
    }

    CURL *e = p->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->slist);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, req);
    if (req->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (h->o.max_send_bps > 0)
        curl_easy_setopt(e, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)h->o.max_send_bps);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");

    const char *m = req->method;
    if (strcmp(m, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, req);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, req);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "DELETE") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: unsupported method",
                            what(req, w, sizeof(w)));
    }
    req->attempts++;
    return VODQ_OK;
}

static enum vodq_rc add(struct vodq_http *h, struct vodq_http_req *req, struct vodq_err *err)
{
    enum vodq_rc rc = prepare(h, req, err);
    if (rc != VODQ_OK)
        return rc;
    CURLMcode mc = curl_multi_add_handle(h->multi, P(req)->easy);
    if (mc != CURLM_OK)
        return vodq_err_set(err, VODQ_ERR_IO, (int)mc, "curl_multi_add_handle: %s",
                            curl_multi_strerror(mc));
    P(req)->in_multi = true;
    return VODQ_OK;
}

long vodq_http_backoff_ms(long base_ms, long max_ms, int attempt)
{
    static _Thread_local unsigned seed; /* engines run on several worker threads */
    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    long d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    if (d < 2)
        return d;
    seed = seed * 1103515245u + 12345u;
    return d / 2 + (long)((seed >> 8) % (unsigned)(d / 2 + 1));
}

/* Classifies the finished attempt into req->err; returns true when it is
 * worth another attempt. */
static bool classify(struct vodq_http_req *req, CURLcode cc)
{
    char w[300];
    struct req_priv *p = P(req);
    what(req, w, sizeof(w));
    if (cc == CURLE_ABORTED_BY_CALLBACK && p->stalled && p->h) {
        vodq_err_set(&req->err, VODQ_ERR_TIMEOUT, (int)CURLE_OPERATION_TIMEDOUT,
                     "%s: no byte moved for %ld ms (the server stopped answering)", w,
                     p->h->o.stall_timeout_ms);
        return true;
    }
    if (cc != CURLE_OK) {
        const char *detail = p->errbuf[0] ? p->errbuf : curl_easy_strerror(cc);
        bool timeout = cc == CURLE_OPERATION_TIMEDOUT;
        vodq_err_set(&req->err, timeout ? VODQ_ERR_TIMEOUT : VODQ_ERR_IO, (int)cc, "%s: %s", w,
                     detail);
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
            return true;
        default:
            req->err.permanent = true; /* URL, TLS verification, local write errors */
            return false;
        }
    }
    if (req->status >= 300) {
        vodq_err_set(&req->err, VODQ_ERR_HTTP, (int)req->status, "%s: HTTP %ld", w, req->status);
        if (req->status >= 500 || req->status == 429 || req->status == 408)
            return true;
        req->err.permanent = true;
    }
    return false;
}

/* ---- The multi handle ---- */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;

static void curl_init_once(void)
{
    g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct vodq_http *vodq_http_new(const struct vodq_http_opts *opts, struct vodq_err *err)
{
    /* Upload slots start on several threads: initialise libcurl once. */
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) {
        vodq_err_set(err, VODQ_ERR_IO, (int)g_curl_init_rc, "curl_global_init failed");
        return NULL;
    }
    struct vodq_http *h = calloc(1, sizeof(*h));
    if (!h) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    if (opts)
        h->o = *opts;
    if (h->o.max_attempts <= 0)
        h->o.max_attempts = 6;
    if (h->o.backoff_base_ms <= 0)
        h->o.backoff_base_ms = 250;
    if (h->o.backoff_max_ms <= 0)
        h->o.backoff_max_ms = 15000;
    if (h->o.connect_timeout_ms <= 0)
        h->o.connect_timeout_ms = 10000;
    if (h->o.stall_timeout_ms <= 0)
        h->o.stall_timeout_ms = 20000;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        vodq_err_set(err, VODQ_ERR_OOM, 0, "curl_multi_init failed");
        return NULL;
    }
    return h;
}

void vodq_http_free(struct vodq_http *h)
{
    if (!h)
        return;
    /* The requests belong to their owners; only detach them. */
    curl_multi_cleanup(h->multi);
    free(h);
}

int64_t vodq_http_req_sent(const struct vodq_http_req *req)
{
    struct req_priv *p = P(req);
    if (!p || !p->in_multi)
        return 0;
    curl_off_t n = 0;
    if (curl_easy_getinfo(p->easy, CURLINFO_SIZE_UPLOAD_T, &n) != CURLE_OK)
        return 0;
    return (int64_t)n;
}

size_t vodq_http_in_flight(const struct vodq_http *h)
{
    return h->in_flight;
}

enum vodq_rc vodq_http_start(struct vodq_http *h, struct vodq_http_req *req, struct vodq_err *err)
{
    struct req_priv *p = P(req);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        req->priv = p;
        p->easy = curl_easy_init();
        if (!p->easy)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "curl_easy_init failed");
    }
    p->h = h;
    p->done = false;
    p->retry_at_ms = 0;
    p->next = NULL;
    req->attempts = 0;
    enum vodq_rc rc = add(h, req, err);
    if (rc != VODQ_OK)
        return rc;
    h->in_flight++;
    return VODQ_OK;
}

static void unlink_from(struct vodq_http_req **list, struct vodq_http_req *req)
{
    for (struct vodq_http_req **pp = list; *pp; pp = &P(*pp)->next) {
        if (*pp == req) {
            *pp = P(req)->next;
            P(req)->next = NULL;
            return;
        }
    }
}

void vodq_http_cancel(struct vodq_http *h, struct vodq_http_req *req)
{
    struct req_priv *p = P(req);
    if (!p || p->h != h)
        return;
    if (p->in_multi) {
        curl_multi_remove_handle(h->multi, p->easy);
        p->in_multi = false;
    }
    unlink_from(&h->waiting, req);
    unlink_from(&h->done, req);
    if (h->in_flight > 0) /* p->h == h: started and not yet returned by wait */
        h->in_flight--;
    p->done = true;
    p->retry_at_ms = 0;
    p->h = NULL;
}

static void finish(struct vodq_http *h, struct vodq_http_req *req)
{
    P(req)->done = true;
    P(req)->next = h->done;
    h->done = req;
}

/* Takes the finished transfers off the multi handle: each one either is
 * scheduled for another attempt or goes to the done list. */
static void collect(struct vodq_http *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct vodq_http_req *req = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        CURLcode cc = msg->data.result;
        curl_multi_remove_handle(h->multi, msg->easy_handle);
        struct req_priv *p = P(req);
        p->in_multi = false;
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &req->status);
        if (!req->resp) {
            req->resp = calloc(1, 1);
            req->resp_len = 0;
        }
        if (!req->resp_headers)
            req->resp_headers = calloc(1, 1);
        bool again = classify(req, cc);
        int max = req->max_attempts > 0 ? req->max_attempts : h->o.max_attempts;
        if (again && req->attempts < max) {
            long d = vodq_http_backoff_ms(h->o.backoff_base_ms, h->o.backoff_max_ms, req->attempts);
            p->retry_at_ms = vodq_mono_ms() + d;
            p->next = h->waiting;
            h->waiting = req;
            if (h->o.on_retry)
                h->o.on_retry(h->o.retry_arg, req, req->attempts, d, &req->err);
            continue;
        }
        finish(h, req);
    }
}

/* Re-adds the requests whose backoff is over; returns ms to the next one
 * (or -1 when none waits). */
static long launch_due(struct vodq_http *h)
{
    int64_t now = vodq_mono_ms();
    long next = -1;
    struct vodq_http_req **pp = &h->waiting;
    while (*pp) {
        struct vodq_http_req *req = *pp;
        struct req_priv *p = P(req);
        if (p->retry_at_ms <= now) {
            *pp = p->next;
            p->next = NULL;
            p->retry_at_ms = 0;
            struct vodq_err e = {0};
            if (add(h, req, &e) != VODQ_OK) {
                req->err = e;
                finish(h, req);
            }
            continue;
        }
        long d = (long)(p->retry_at_ms - now);
        if (next < 0 || d < next)
            next = d;
        pp = &p->next;
    }
    return next;
}

struct vodq_http_req *vodq_http_wait(struct vodq_http *h, int timeout_ms)
{
    int64_t deadline = vodq_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (h->done) {
            struct vodq_http_req *req = h->done;
            h->done = P(req)->next;
            P(req)->next = NULL;
            P(req)->h = NULL;
            h->in_flight--;
            return req;
        }
        long next_retry = launch_due(h);
        int running = 0;
        curl_multi_perform(h->multi, &running);
        collect(h);
        if (h->done)
            continue;
        int64_t left = deadline - vodq_mono_ms();
        if (left <= 0)
            return NULL;
        if (next_retry >= 0 && next_retry < left)
            left = next_retry;
        if (h->in_flight == 0)
            return NULL;
        curl_multi_poll(h->multi, NULL, 0, (int)(left > 0 ? left : 1), NULL);
    }
}

enum vodq_rc vodq_http_do(struct vodq_http *h, struct vodq_http_req *req, struct vodq_err *err)
{
    enum vodq_rc rc = vodq_http_start(h, req, err);
    if (rc != VODQ_OK)
        return rc;
    for (;;) {
        struct vodq_http_req *d = vodq_http_wait(h, 1000);
        if (d == req)
            break;
    }
    if (req->err.code != VODQ_OK && err)
        *err = req->err;
    return req->err.code;
}
