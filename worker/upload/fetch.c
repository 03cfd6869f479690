/* fetch.c: remote sources into the worker's cache (see fetch.h). */
#include "worker/upload/fetch.h"

#include "shared/clock.h"
#include "shared/metrics.h"

#include "worker/upload/http.h"
#include "worker/upload/sign.h"
#include "worker/upload/target.h"
#include "worker/upload/vodauth.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STALE_PART_S 600 /* a temp file untouched this long belongs to a dead fetch */
#define HASH_HEX 64

struct vodq_fetch {
    struct vodq_fetch_opts o; /* strings below point at the copies */
    char *cache_dir, *endpoint, *region, *access_key, *secret_key, *session_token;
    pthread_mutex_t mu;   /* guards grows and every struct grow's shared fields */
    pthread_cond_t cv;    /* broadcast when a download wrote bytes, ended or failed */
    struct grow *grows;   /* progressive downloads of this process */
    bool sync_init;       /* mu and cv are initialised */
};

/* One source of a call. */
struct src {
    const char *url;         /* borrowed from the caller */
    char shown[512];         /* the URL without its query string, for messages */
    bool remote_obj;         /* s3:// or oss://: signed requests to t */
    struct vodq_target t;    /* s3/oss only */
    char *get_url;           /* where the requests go */
    int64_t size;            /* bytes; -1 unknown */
    char etag[256];          /* "" when none */
    char validator[256];     /* ETag, else Last-Modified, else "" */
    bool ranges;             /* the server said Accept-Ranges: bytes */
    char name[HASH_HEX + 16]; /* <hash>.<ext> in the cache folder */
    int lock_fd;             /* -1, or held (shared once the file is complete) */
    bool cached;             /* found complete in the cache */
};

/* A progressive download: a thread of its own fetches the object into its
 * temp file while readers (the render) follow the bytes written from the
 * start on (vodq_fetch_grow_wait). It holds the exclusive cache lock until
 * the file is complete and renamed into place, then a shared one until the
 * last lease naming it is released. */
struct grow {
    struct vodq_fetch *f;
    struct src s;            /* owned: url, get_url and t are the thread's */
    char final[PATH_MAX];    /* the cache file it becomes */
    pthread_t th;
    atomic_bool stop;        /* set by the release: stop and remove the temp file */
    int lock_fd;             /* the cache lock, exclusive while downloading */
    /* under f->mu: */
    int fd;                  /* a read-only handle of the temp file; -1 before */
    int64_t avail;           /* bytes written from offset 0 on, without a gap */
    bool done, failed;
    struct vodq_err err;     /* the failure, naming the URL without its query */
    int refs;                /* leases naming it */
    bool detached;           /* no lease left: the thread frees it when it ends */
    struct grow *next;
};

/* Headers one request carries besides the signature. */
struct sctx {
    const struct vodq_target *t; /* NULL: not signed */
    char range[64];              /* "" or "bytes=A-B" */
    const char *if_match;        /* NULL or the ETag */
};

struct call {
    struct vodq_fetch *f;
    struct vodq_http *h;
    struct vodq_task_io *io;
    int64_t done_bytes;  /* finished bytes of this call */
    int64_t total_bytes; /* bytes to download */
    struct grow *g;      /* the download is a progressive one (its own thread) */
    bool progressive;    /* sources may be read while they download */
};

struct lease {
    int *fds; /* shared locks held */
    size_t n;
    struct grow **gs; /* progressive downloads held (each holds its own lock) */
    size_t ng;
};

/* ---- Small helpers ---- */

bool vodq_fetch_is_url(const char *s)
{
    return s && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0 ||
                 strncmp(s, "s3://", 5) == 0 || strncmp(s, "oss://", 6) == 0);
}

const char *vodq_fetch_cache_dir(const struct vodq_fetch *f)
{
    return f->cache_dir;
}

static enum vodq_rc dup_opt(char **dst, const char *s, struct vodq_err *err)
{
    *dst = NULL;
    if (!s || !*s)
        return VODQ_OK;
    *dst = strdup(s);
    return *dst ? VODQ_OK : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static enum vodq_ctl ctl_now(struct vodq_task_io *io)
{
    return io && io->control ? io->control(io->opaque) : VODQ_CTL_RUN;
}

static enum vodq_rc ctl_stop(enum vodq_ctl c, struct vodq_err *err)
{
    if (c == VODQ_CTL_CANCEL)
        return vodq_err_set(err, VODQ_ERR_CANCELLED, 0, "cancelled while fetching sources");
    if (c == VODQ_CTL_YIELD)
        return vodq_err_set(err, VODQ_ERR_PAUSED, 0, "handed back while fetching sources");
    return VODQ_OK;
}

/* ---- Cache folder ---- */

/* True for "<64 hex>.<ext>" (a complete cache file). */
static bool is_data_name(const char *n)
{
    for (int i = 0; i < HASH_HEX; i++)
        if (!isxdigit((unsigned char)n[i]))
            return false;
    if (n[HASH_HEX] != '.')
        return false;
    for (const char *p = n + HASH_HEX + 1; *p; p++)
        if (!isalnum((unsigned char)*p))
            return false;
    return n[HASH_HEX + 1] != '\0';
}

struct entry {
    char name[HASH_HEX + 16];
    int64_t size;
    time_t mtime;
};

static int by_mtime(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* Removes temp files of dead fetches and, while the complete files pass
 * max_bytes, the least recently used ones that nobody holds. Best effort. */
static void sweep(const struct vodq_fetch *f)
{
    DIR *d = opendir(f->cache_dir);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct entry *v = NULL;
    size_t n = 0, cap = 0;
    int64_t total = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (strstr(de->d_name, ".part-")) {
            if (now - st.st_mtime > STALE_PART_S)
                unlinkat(dfd, de->d_name, 0);
            continue;
        }
        if (strlen(de->d_name) >= sizeof(v->name) || !is_data_name(de->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct entry *nv = realloc(v, nc * sizeof(*nv));
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        snprintf(v[n].name, sizeof(v[n].name), "%.79s", de->d_name); /* length checked above */
        v[n].size = (int64_t)st.st_size;
        v[n].mtime = st.st_mtime;
        total += v[n].size;
        n++;
    }
    if (total > f->o.cache_max_bytes && n > 0) {
        qsort(v, n, sizeof(*v), by_mtime);
        for (size_t i = 0; i < n && total > f->o.cache_max_bytes; i++) {
            char lock[HASH_HEX + 8];
            snprintf(lock, sizeof(lock), "%.*s.lock", HASH_HEX, v[i].name);
            int lfd = openat(dfd, lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            if (lfd < 0)
                continue;
            /* In use (shared lock) or being fetched (exclusive): keep it. */
            if (flock(lfd, LOCK_EX | LOCK_NB) == 0) {
                if (unlinkat(dfd, v[i].name, 0) == 0)
                    total -= v[i].size;
            }
            close(lfd);
        }
    }
    free(v);
    closedir(d);
}

/* ---- Fetcher ---- */

struct vodq_fetch *vodq_fetch_new(const struct vodq_fetch_opts *opts, struct vodq_err *err)
{
    struct vodq_fetch *f = calloc(1, sizeof(*f));
    if (!f) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    f->o = *opts;
    if (!opts->cache_dir || !*opts->cache_dir) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "cache-dir: required");
        goto fail;
    }
    if (dup_opt(&f->cache_dir, opts->cache_dir, err) || dup_opt(&f->endpoint, opts->endpoint, err) ||
        dup_opt(&f->region, opts->region, err) || dup_opt(&f->access_key, opts->access_key, err) ||
        dup_opt(&f->secret_key, opts->secret_key, err) ||
        dup_opt(&f->session_token, opts->session_token, err))
        goto fail;
    f->o.cache_dir = f->cache_dir;
    f->o.endpoint = f->endpoint;
    f->o.region = f->region;
    f->o.access_key = f->access_key;
    f->o.secret_key = f->secret_key;
    f->o.session_token = f->session_token;
    if (f->o.cache_max_bytes <= 0)
        f->o.cache_max_bytes = (int64_t)10 << 30;
    if (f->o.parallel <= 0)
        f->o.parallel = 4;
    if (f->o.range_bytes <= 0)
        f->o.range_bytes = 8 << 20;
    if (f->o.stall_timeout_ms <= 0)
        f->o.stall_timeout_ms = 20000;
    /* mkdir -p: the default ~/.cache/vodq on a fresh machine has no ~/.cache yet */
    for (char *sl = strchr(f->cache_dir + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
        *sl = '\0';
        int mr = mkdir(f->cache_dir, 0700);
        *sl = '/';
        if (mr != 0 && errno != EEXIST)
            break; /* the final mkdir below names the error */
    }
    if (mkdir(f->cache_dir, 0700) != 0 && errno != EEXIST) {
        vodq_err_set(err, VODQ_ERR_IO, errno, "cache-dir %s: %s", f->cache_dir, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (stat(f->cache_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        access(f->cache_dir, W_OK | X_OK) != 0) {
        vodq_err_set(err, VODQ_ERR_IO, errno, "cache-dir %s: not a writable folder", f->cache_dir);
        goto fail;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->sync_init = true;
    sweep(f);
    return f;
fail:
    vodq_fetch_free(f);
    return NULL;
}

void vodq_fetch_free(struct vodq_fetch *f)
{
    if (!f)
        return;
    if (f->sync_init) {
        /* downloads going on without a reader: stop them (their temp files
         * are removed) and wait until their threads have freed them */
        pthread_mutex_lock(&f->mu);
        while (f->grows) {
            for (struct grow *g = f->grows; g; g = g->next)
                atomic_store(&g->stop, true);
            struct timespec t;
            vodq_deadline_in(&t, 1000);
            pthread_cond_timedwait(&f->cv, &f->mu, &t);
        }
        pthread_mutex_unlock(&f->mu);
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
    }
    free(f->cache_dir);
    free(f->endpoint);
    free(f->region);
    vodq_target_free_secret(f->access_key);
    vodq_target_free_secret(f->secret_key);
    vodq_target_free_secret(f->session_token);
    free(f);
}

/* ---- Credentials of s3:// and oss:// sources ---- */

/* What a call signs with: compose.inputs over the worker's defaults. The
 * strings are borrowed from the parsed inputs, the decoded UploadAuth or
 * the fetcher. */
struct creds {
    const char *endpoint, *region, *ak, *sk, *token;
    bool path_style;
    struct vodq_vod_auth auth; /* decoded "upload_auth", when given */
};

static enum vodq_rc creds_from(struct vodq_fetch *f, const cJSON *in, struct creds *c,
                               struct vodq_err *err)
{
    static const char *const keys[] = {"endpoint",   "region",        "path_style",
                                       "access_key", "secret_key",    "session_token",
                                       "upload_auth", "progressive"};
    memset(c, 0, sizeof(*c));
    c->endpoint = f->endpoint;
    c->region = f->region;
    c->path_style = f->o.path_style;
    c->ak = f->access_key;
    c->sk = f->secret_key;
    c->token = f->session_token;
    if (!in)
        return VODQ_OK;
    if (!cJSON_IsObject(in))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.inputs: must be an object");
    for (const cJSON *it = in->child; it; it = it->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            known = known || strcmp(it->string, keys[i]) == 0;
        if (!known)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.inputs.%.60s: unknown member",
                                it->string);
        bool flag = !strcmp(it->string, "path_style") || !strcmp(it->string, "progressive");
        if (flag ? !cJSON_IsBool(it) : !cJSON_IsString(it))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.inputs.%s: must be a %s",
                                it->string, flag ? "boolean" : "string");
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(in, "endpoint")))
        c->endpoint = v->valuestring;
    if ((v = cJSON_GetObjectItemCaseSensitive(in, "region")))
        c->region = v->valuestring;
    if ((v = cJSON_GetObjectItemCaseSensitive(in, "path_style")))
        c->path_style = cJSON_IsTrue(v);
    const cJSON *ak = cJSON_GetObjectItemCaseSensitive(in, "access_key");
    const cJSON *ua = cJSON_GetObjectItemCaseSensitive(in, "upload_auth");
    if (ak && ua)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "compose.inputs: give access_key/secret_key or upload_auth, not both");
    if (ak) {
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(in, "secret_key");
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(in, "session_token");
        if (!sk)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.inputs.secret_key: missing");
        c->ak = ak->valuestring;
        c->sk = sk->valuestring;
        c->token = tok ? tok->valuestring : NULL;
    } else if (ua) {
        enum vodq_rc rc = vodq_vod_auth_decode(ua->valuestring, &c->auth, err);
        if (rc != VODQ_OK) {
            vodq_err_prefix(err, "compose.inputs.upload_auth");
            return rc;
        }
        c->ak = c->auth.access_key_id;
        c->sk = c->auth.access_key_secret;
        c->token = c->auth.security_token;
        if (!cJSON_GetObjectItemCaseSensitive(in, "region") && c->auth.region)
            c->region = c->auth.region;
    }
    return VODQ_OK;
}

/* Makes s->t for an s3:// or oss:// source. */
static enum vodq_rc object_target(struct src *s, const struct creds *c, struct vodq_err *err)
{
    bool oss = strncmp(s->url, "oss://", 6) == 0;
    const char *rest = s->url + (oss ? 6 : 5);
    size_t n = strlen(rest) + 8;
    char *u = malloc(n);
    char *region = NULL;
    enum vodq_rc rc;
    if (!u)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    snprintf(u, n, "s3://%s", rest);
    if (oss && (!c->endpoint || !*c->endpoint)) {
        free(u);
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "%s: oss:// sources need compose.inputs.endpoint (or the worker's "
                            "inputs-endpoint)",
                            s->shown);
    }
    if (!c->ak || !c->sk) {
        free(u);
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "%s: no credentials (compose.inputs access_key/secret_key or "
                            "upload_auth, or the worker's inputs-access-key)",
                            s->shown);
    }
    if (oss && (!c->region || !*c->region))
        region = vodq_target_oss_region(c->endpoint);
    rc = vodq_target_s3(&s->t, u, c->endpoint, region ? region : c->region, c->ak, c->sk,
                        c->token, c->path_style, err);
    free(u);
    free(region);
    if (rc != VODQ_OK) {
        vodq_err_prefix(err, "%s", s->shown);
        return rc;
    }
    if (oss) {
        s->t.kind = VODQ_TARGET_OSS;
        s->t.sig = VODQ_SIG_OSS_V4;
    }
    s->get_url = vodq_target_url(&s->t, NULL);
    return s->get_url ? VODQ_OK : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
}

/* ---- Requests ---- */

static enum vodq_rc sign_cb(void *arg, struct vodq_http_req *req, struct vodq_err *err)
{
    struct sctx *c = arg;
    enum vodq_rc rc;
    vodq_http_req_clear_headers(req);
    if (c->range[0] && (rc = vodq_http_req_add_header(req, "Range", c->range, err)) != VODQ_OK)
        return rc;
    if (c->if_match && (rc = vodq_http_req_add_header(req, "If-Match", c->if_match, err)))
        return rc;
    if (!c->t)
        return VODQ_OK;
    return vodq_sign_request(c->t, req, NULL, time(NULL), err);
}

/* A progressive download's bytes written without a gap from offset 0 on:
 * its ranges are consecutive and each is written from its start, so the
 * prefix is the finished ranges in order plus what the first unfinished one
 * holds. Published to its readers (never backwards: a retried range
 * rewrites the same bytes). */
static void grow_publish(struct grow *g, const struct vodq_http_req *reqs, size_t n)
{
    int64_t avail = 0;
    for (size_t i = 0; i < n; i++) {
        avail += reqs[i].resp_fd_len;
        if (reqs[i].resp_fd_max <= 0 || reqs[i].resp_fd_len < reqs[i].resp_fd_max)
            break;
    }
    pthread_mutex_lock(&g->f->mu);
    if (avail > g->avail) {
        g->avail = avail;
        pthread_cond_broadcast(&g->f->cv);
    }
    pthread_mutex_unlock(&g->f->mu);
}

/* Sends reqs[0..n) keeping at most parallel in flight, reporting progress
 * and polling control. Returns VODQ_OK when every request finished
 * successfully (or, keep_going, when every one finished either way: look at
 * each req->err); else the first failure (*bad = its index, or -1 for a
 * stop) after cancelling what is still in flight. */
static enum vodq_rc drive(struct call *c, struct vodq_http_req *reqs, size_t n, int parallel,
                          bool keep_going, long *bad, struct vodq_err *err)
{
    size_t next = 0, finished = 0;
    enum vodq_rc rc = VODQ_OK;
    *bad = -1;
    while (finished < n) {
        while (next < n && vodq_http_in_flight(c->h) < (size_t)parallel) {
            rc = vodq_http_start(c->h, &reqs[next], err);
            if (rc != VODQ_OK) {
                *bad = (long)next;
                goto stop;
            }
            next++;
        }
        struct vodq_http_req *d = vodq_http_wait(c->h, c->g ? 50 : 200);
        if (d) {
            finished++;
            if (d->err.code != VODQ_OK && !keep_going) {
                *bad = (long)(d - reqs);
                if (err)
                    *err = d->err;
                rc = d->err.code;
                goto stop;
            }
        }
        if ((rc = ctl_stop(ctl_now(c->io), err)) != VODQ_OK)
            goto stop;
        if (c->g && atomic_load(&c->g->stop)) {
            rc = vodq_err_set(err, VODQ_ERR_CANCELLED, 0, "download stopped: its render ended");
            goto stop;
        }
        if (c->g)
            grow_publish(c->g, reqs, n);
        if (c->io && c->io->progress && c->total_bytes > 0) {
            /* bytes of earlier files, plus what this batch wrote so far */
            int64_t moving = 0;
            for (size_t i = 0; i < next; i++)
                moving += reqs[i].resp_fd_len;
            int64_t done = c->done_bytes + moving;
            if (done > c->total_bytes)
                done = c->total_bytes;
            rc = c->io->progress(c->io->opaque, done, c->total_bytes, "{\"phase\":\"fetch\"}");
            if (rc != VODQ_OK) {
                vodq_err_set(err, rc, 0, "progress report failed while fetching sources");
                goto stop;
            }
        }
    }
    return VODQ_OK;
stop:
    for (size_t i = 0; i < next; i++)
        vodq_http_cancel(c->h, &reqs[i]);
    return rc;
}

/* Turns a failed request of source s into the call's error. */
static enum vodq_rc source_error(const struct src *s, const struct vodq_http_req *r,
                                 const char *doing, struct vodq_err *err)
{
    if (r && r->err.code == VODQ_ERR_HTTP && (r->status == 403 || r->status == 404)) {
        vodq_err_set(err, r->status == 404 ? VODQ_ERR_NOTFOUND : VODQ_ERR_AUTH, (int)r->status,
                     "source %s: HTTP %ld (%s)", s->shown, r->status,
                     r->status == 404 ? "not found" : "forbidden");
        err->permanent = true;
        return err->code;
    }
    if (r && r->err.code != VODQ_OK) {
        struct vodq_err e = r->err;
        vodq_err_set(err, e.code, e.cause, "source %s: %s failed: %s", s->shown, doing, e.msg);
        /* 412: the object changed between HEAD and GET; a new attempt sees the new one */
        err->permanent = e.permanent && r->status != 412;
    }
    return err ? err->code : VODQ_ERR_IO;
}

static enum vodq_rc req_for(struct src *s, struct vodq_http_req *r, struct sctx *c,
                            const char *method, struct vodq_err *err)
{
    enum vodq_rc rc = vodq_http_req_init(r, method, s->get_url, err);
    r->sign = sign_cb;
    r->arg = c;
    c->t = s->remote_obj ? &s->t : NULL;
    return rc;
}

/* ---- Cache names ---- */

static void name_of(struct src *s, const struct creds *cr)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    size_t ulen = strlen(s->url);
    const char *q = strchr(s->url, '?');
    /* With a validator the object is identified without the query string
     * (signed URLs of one object share an entry); without one, by the whole
     * URL, and the size. */
    if (q && s->validator[0])
        ulen = (size_t)(q - s->url);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    char sz[32];
    snprintf(sz, sizeof(sz), "\n%lld\n", (long long)s->size);
    if (m && EVP_DigestInit_ex(m, EVP_sha256(), NULL)) {
        EVP_DigestUpdate(m, "vodq-fetch-1\n", 13);
        EVP_DigestUpdate(m, s->url, ulen);
        if (s->remote_obj && cr->endpoint)
            EVP_DigestUpdate(m, cr->endpoint, strlen(cr->endpoint));
        EVP_DigestUpdate(m, sz, strlen(sz));
        EVP_DigestUpdate(m, s->validator, strlen(s->validator));
        EVP_DigestFinal_ex(m, md, &mdlen);
    }
    EVP_MD_CTX_free(m);
    vodq_sign_hex(md, mdlen, hex);
    /* Keep the extension: some demuxers and font loaders look at it. */
    char ext[12] = "bin";
    size_t plen = strcspn(s->shown, "?#");
    const char *slash = s->shown;
    for (const char *p = s->shown; p < s->shown + plen; p++)
        if (*p == '/')
            slash = p + 1;
    const char *dot = NULL;
    for (const char *p = slash; p < s->shown + plen; p++)
        if (*p == '.')
            dot = p + 1;
    if (dot) {
        size_t i = 0;
        for (const char *p = dot; p < s->shown + plen && i < 8; p++) {
            if (!isalnum((unsigned char)*p)) {
                i = 0;
                break;
            }
            ext[i++] = (char)tolower((unsigned char)*p);
        }
        if (i > 0 && (size_t)(s->shown + plen - dot) == i)
            ext[i] = '\0';
        else
            snprintf(ext, sizeof(ext), "bin");
    }
    snprintf(s->name, sizeof(s->name), "%.64s.%s", hex, ext);
}

/* ---- Locks ---- */

/* Takes lock op (LOCK_SH or LOCK_EX) on fd, waiting for a holder while
 * polling control. */
static enum vodq_rc lock_wait(struct call *c, int fd, int op, struct vodq_err *err)
{
    for (;;) {
        if (flock(fd, op | LOCK_NB) == 0)
            return VODQ_OK;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return vodq_err_set(err, VODQ_ERR_IO, errno, "cache lock: %s", strerror(errno));
        enum vodq_rc rc = ctl_stop(ctl_now(c->io), err);
        if (rc != VODQ_OK)
            return rc;
        sleep_ms(50);
    }
}

/* True when the cache file of s is complete. */
static bool have_file(const struct call *c, const struct src *s, char *path, size_t cap)
{
    struct stat st;
    snprintf(path, cap, "%s/%s", c->f->cache_dir, s->name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    return s->size < 0 || (int64_t)st.st_size == s->size;
}

/* ---- Download ---- */

#define RAMP_FIRST ((int64_t)1 << 20)

/* The length of range i: first, doubling every two ranges, up to chunk. */
static int64_t range_len(int64_t first, int64_t chunk, size_t i)
{
    int64_t len = first;
    for (size_t k = 0; k < i / 2 && len < chunk; k++)
        len *= 2;
    return len < chunk ? len : chunk;
}

static enum vodq_rc download(struct call *c, struct src *s, const char *final,
                             struct vodq_err *err)
{
    char tmp[PATH_MAX];
    enum vodq_rc rc0;
    int64_t chunk = c->f->o.range_bytes;
    size_t n = 1;
    bool ranged = s->ranges && s->size > chunk;
    /* A progressive download's reader wants the bytes in order: its first
     * ranges are small (1 MiB, doubling every two ranges up to chunk) so
     * that the head is there at once instead of at a quarter of the rate. */
    int64_t first = c->g && chunk > RAMP_FIRST ? RAMP_FIRST : chunk;
    if (ranged) {
        /* at most about 256 ranges: bigger chunks for huge objects */
        if (s->size / chunk > 255)
            chunk = s->size / 255 + 1;
        n = 0;
        for (int64_t a = 0; a < s->size; n++)
            a += range_len(first, chunk, n);
    }
    snprintf(tmp, sizeof(tmp), "%s/%s.part-XXXXXX", c->f->cache_dir, s->name);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return vodq_err_set(err, VODQ_ERR_IO, errno, "cache file %s: %s", tmp, strerror(errno));
    if (c->g) { /* readers follow the temp file through a handle of their own */
        int rfd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (rfd < 0) {
            rc0 = vodq_err_set(err, VODQ_ERR_IO, errno, "cache file %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return rc0;
        }
        pthread_mutex_lock(&c->f->mu);
        c->g->fd = rfd;
        pthread_mutex_unlock(&c->f->mu);
    }
    struct vodq_http_req *reqs = calloc(n, sizeof(*reqs));
    struct sctx *ctx = calloc(n, sizeof(*ctx));
    enum vodq_rc rc = VODQ_OK;
    if (!reqs || !ctx) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto out;
    }
    int64_t a = 0; /* the next range's first byte */
    for (size_t i = 0; i < n && rc == VODQ_OK; i++) {
        rc = req_for(s, &reqs[i], &ctx[i], "GET", err);
        reqs[i].resp_to_fd = true;
        reqs[i].resp_fd = fd;
        if (ranged) {
            int64_t b = a + range_len(first, chunk, i) - 1;
            if (b >= s->size)
                b = s->size - 1;
            snprintf(ctx[i].range, sizeof(ctx[i].range), "bytes=%lld-%lld", (long long)a,
                     (long long)b);
            reqs[i].resp_fd_off = a;
            reqs[i].resp_fd_max = b - a + 1;
            reqs[i].resp_fd_status = 206;
            ctx[i].if_match = s->etag[0] ? s->etag : NULL;
            a = b + 1;
        } else {
            /* bounded: the announced size, else the whole cache */
            reqs[i].resp_fd_max = s->size > 0 ? s->size : c->f->o.cache_max_bytes;
        }
    }
    if (rc != VODQ_OK)
        goto out;
    long bad;
    rc = drive(c, reqs, n, c->f->o.parallel, false, &bad, err);
    if (rc != VODQ_OK) {
        if (bad >= 0) {
            source_error(s, &reqs[bad], "download", err);
            if (reqs[bad].err.code != VODQ_OK && reqs[bad].status == 200 && ranged)
                vodq_err_set(err, VODQ_ERR_PROTOCOL, 200,
                             "source %s: the server ignored the Range header", s->shown);
        }
        goto out;
    }
    /* every byte must have come: a short body is not a file */
    int64_t got = 0;
    for (size_t i = 0; i < n; i++)
        got += reqs[i].resp_fd_len;
    if (s->size >= 0 && got != s->size) {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                          "source %s: got %lld bytes of %lld", s->shown, (long long)got,
                          (long long)s->size);
        goto out;
    }
    c->done_bytes += got;
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "cache file %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, final) != 0)
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "cache file %s: %s", final, strerror(errno));
out:
    for (size_t i = 0; reqs && i < n; i++)
        vodq_http_req_cleanup(&reqs[i]);
    free(reqs);
    free(ctx);
    if (fd >= 0)
        close(fd);
    if (rc != VODQ_OK)
        unlink(tmp);
    return rc;
}

/* ---- Progressive downloads ---- */

static void grow_free(struct grow *g)
{
    if (g->fd >= 0)
        close(g->fd);
    if (g->lock_fd >= 0)
        close(g->lock_fd);
    vodq_target_cleanup(&g->s.t);
    free(g->s.get_url);
    free((char *)g->s.url);
    free(g);
}

/* Takes g out of its fetcher's list (under f->mu). */
static void grow_unlink(struct grow *g)
{
    for (struct grow **pp = &g->f->grows; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
}

static void *grow_main(void *arg)
{
    struct grow *g = arg;
    struct vodq_fetch *f = g->f;
    struct vodq_err err = {0};
    struct call c = {f, NULL, NULL, 0, 0, g, true};
    struct vodq_http_opts ho = {
        .max_attempts = f->o.max_attempts,
        .backoff_base_ms = f->o.retry_base_ms,
        .stall_timeout_ms = f->o.stall_timeout_ms,
    };
    enum vodq_rc rc = VODQ_ERR_OOM;
    if ((c.h = vodq_http_new(&ho, &err)) != NULL)
        rc = download(&c, &g->s, g->final, &err);
    vodq_http_free(c.h);
    if (rc == VODQ_OK)
        flock(g->lock_fd, LOCK_SH); /* complete: others may use it now */
    else if (err.code == VODQ_OK)
        vodq_err_set(&err, rc, 0, "source %s: download failed", g->s.shown);
    if (rc == VODQ_OK) {
        utimensat(AT_FDCWD, g->final, NULL, 0);
        sweep(f); /* keep the cache under its bound */
    }
    pthread_mutex_lock(&f->mu);
    g->done = rc == VODQ_OK;
    g->failed = rc != VODQ_OK;
    g->err = err;
    if (rc == VODQ_OK)
        g->avail = g->s.size;
    bool detached = g->detached;
    if (detached)
        grow_unlink(g);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (detached)
        grow_free(g); /* its lease went first: the file was for the cache */
    return NULL;
}

/* Waits (under f->mu) up to timeout_ms for need bytes of g, its end or its failure. */
static void grow_wait_locked(struct grow *g, int64_t need, int timeout_ms)
{
    struct timespec until;
    vodq_deadline_in(&until, timeout_ms);
    while (!g->done && !g->failed && g->avail < need)
        if (pthread_cond_timedwait(&g->f->cv, &g->f->mu, &until) != 0)
            break;
}

/* The calling slot waits for need bytes of g (INT64_MAX: all of it), polling
 * control and reporting the call's progress. */
static enum vodq_rc grow_await(struct call *c, struct grow *g, int64_t need, struct vodq_err *err)
{
    for (;;) {
        pthread_mutex_lock(&c->f->mu);
        grow_wait_locked(g, need, 200);
        int64_t a = g->avail;
        bool done = g->done, failed = g->failed;
        struct vodq_err e = g->err;
        pthread_mutex_unlock(&c->f->mu);
        if (failed) {
            if (err)
                *err = e;
            return e.code != VODQ_OK ? e.code : VODQ_ERR_IO;
        }
        if (done || a >= need)
            return VODQ_OK;
        enum vodq_rc rc = ctl_stop(ctl_now(c->io), err);
        if (rc != VODQ_OK)
            return rc;
        if (c->io && c->io->progress && c->total_bytes > 0) {
            int64_t d = c->done_bytes + a;
            c->io->progress(c->io->opaque, d < c->total_bytes ? d : c->total_bytes,
                            c->total_bytes, "{\"phase\":\"fetch\"}");
        }
    }
}

static uint64_t be(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/* Whether a demuxer can read the source while it downloads, from its first
 * bytes: Matroska/WebM, MPEG-TS, MP3/ADTS, WAV, FLAC, Ogg, and an MP4/MOV
 * whose moov comes before its mdat ("faststart"; found by walking the
 * top-level boxes). Anything else (an MP4 with the moov at the end, images,
 * fonts) is read once complete. */
static enum vodq_rc grow_streamable(struct call *c, struct grow *g, bool *yes, struct vodq_err *err)
{
    unsigned char b[512];
    int64_t size = g->s.size, n = size < (int64_t)sizeof(b) ? size : (int64_t)sizeof(b);
    enum vodq_rc rc = grow_await(c, g, n, err);
    *yes = false;
    if (rc != VODQ_OK || pread(g->fd, b, (size_t)n, 0) != (ssize_t)n || n < 12)
        return rc;
    if (!memcmp(b, "\x1a\x45\xdf\xa3", 4) || !memcmp(b, "fLaC", 4) || !memcmp(b, "OggS", 4) ||
        !memcmp(b, "ID3", 3) || (b[0] == 0xff && (b[1] & 0xe0) == 0xe0) ||
        (!memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WAVE", 4)) ||
        (b[0] == 0x47 && n >= 377 && b[188] == 0x47 && b[376] == 0x47)) {
        *yes = true;
        return VODQ_OK;
    }
    if (memcmp(b + 4, "ftyp", 4) != 0)
        return VODQ_OK;
    int64_t off = 0;
    for (int i = 0; i < 16 && off + 16 <= size && off < ((int64_t)4 << 20); i++) {
        unsigned char h[16];
        if ((rc = grow_await(c, g, off + 16, err)) != VODQ_OK)
            return rc;
        if (pread(g->fd, h, 16, off) != 16)
            break;
        int64_t bs = (int64_t)be(h, 4);
        if (bs == 1)
            bs = (int64_t)be(h + 8, 8);
        else if (bs == 0)
            bs = size - off;
        if (!memcmp(h + 4, "moov", 4)) {
            *yes = true;
            break;
        }
        if (!memcmp(h + 4, "mdat", 4) || bs < 8)
            break;
        off += bs;
    }
    return VODQ_OK;
}

/* Starts the download of s into final in a thread of its own (s's lock,
 * held exclusive, its target and URL go to it) and lets the caller read it
 * as it grows when its container allows; otherwise waits for all of it.
 * *out is the download (also after a failure: the lease releases it). */
static enum vodq_rc grow_start(struct call *c, struct src *s, const char *final,
                               struct grow **out, struct vodq_err *err)
{
    struct grow *g = calloc(1, sizeof(*g));
    char *url = strdup(s->url);
    if (!g || !url) {
        free(g);
        free(url);
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
    g->f = c->f;
    g->s = *s;
    g->s.url = url;
    g->fd = -1;
    g->lock_fd = s->lock_fd;
    g->refs = 1;
    snprintf(g->final, sizeof(g->final), "%s", final);
    s->get_url = NULL; /* the thread's now */
    memset(&s->t, 0, sizeof(s->t));
    s->lock_fd = -1;
    int ret = pthread_create(&g->th, NULL, grow_main, g);
    if (ret != 0) {
        grow_free(g);
        return vodq_err_set(err, VODQ_ERR_OOM, ret, "start a download thread: %s", strerror(ret));
    }
    pthread_mutex_lock(&c->f->mu);
    g->next = c->f->grows;
    c->f->grows = g;
    pthread_mutex_unlock(&c->f->mu);
    *out = g;
    bool yes = false;
    enum vodq_rc rc = grow_streamable(c, g, &yes, err);
    if (rc == VODQ_OK && !yes)
        rc = grow_await(c, g, INT64_MAX, err);
    if (rc == VODQ_OK)
        c->done_bytes += s->size;
    return rc;
}

/* Lets go of a download of a lease. One still running goes on without a
 * reader (its thread frees it at the end), so that the object is fetched
 * once for the cache and those waiting for its lock; vodq_fetch_free()
 * stops it. An ended one is freed (its lock released). */
static void grow_release(struct grow *g)
{
    struct vodq_fetch *f = g->f;
    pthread_mutex_lock(&f->mu);
    if (--g->refs > 0) {
        pthread_mutex_unlock(&f->mu);
        return;
    }
    bool running = !g->done && !g->failed;
    if (running)
        g->detached = true;
    else
        grow_unlink(g);
    pthread_mutex_unlock(&f->mu);
    if (running) {
        pthread_detach(g->th);
        return;
    }
    pthread_join(g->th, NULL);
    grow_free(g);
}

/* The unfinished download of path (under f->mu), or NULL. */
static struct grow *grow_find(struct vodq_fetch *f, const char *path)
{
    for (struct grow *g = f->grows; g; g = g->next)
        if (strcmp(g->final, path) == 0)
            return g;
    return NULL;
}

int vodq_fetch_grow_open(void *fp, const char *path, int64_t *size)
{
    struct vodq_fetch *f = fp;
    int fd = -1;
    pthread_mutex_lock(&f->mu);
    struct grow *g = grow_find(f, path);
    if (g && !g->done && !g->failed && g->fd >= 0) {
        fd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0);
        *size = g->s.size;
    }
    pthread_mutex_unlock(&f->mu);
    return fd;
}

int64_t vodq_fetch_grow_wait(void *fp, const char *path, int64_t need, int timeout_ms,
                             struct vodq_err *err)
{
    struct vodq_fetch *f = fp;
    int64_t r = INT64_MAX;
    pthread_mutex_lock(&f->mu);
    struct grow *g = grow_find(f, path);
    if (g) {
        grow_wait_locked(g, need, timeout_ms);
        if (g->failed) {
            r = -1;
            if (err)
                *err = g->err;
        } else if (!g->done) {
            r = g->avail;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return r;
}

enum vodq_rc vodq_fetch_grow_error(void *fp, void *lease, struct vodq_err *err)
{
    struct vodq_fetch *f = fp;
    struct lease *l = lease;
    enum vodq_rc rc = VODQ_OK;
    if (!f || !l)
        return VODQ_OK;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < l->ng && rc == VODQ_OK; i++)
        if (l->gs[i]->failed && l->gs[i]->err.code != VODQ_ERR_CANCELLED) {
            if (err)
                *err = l->gs[i]->err;
            rc = l->gs[i]->err.code != VODQ_OK ? l->gs[i]->err.code : VODQ_ERR_IO;
        }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* Makes s's cache file complete and holds it with a shared lock; or, for a
 * progressive call, starts its download (*g) and returns once the render
 * may read it. */
static enum vodq_rc acquire(struct call *c, struct src *s, char **path, struct grow **g,
                            struct vodq_err *err)
{
    char p[PATH_MAX], lock[PATH_MAX];
    enum vodq_rc rc;
    snprintf(lock, sizeof(lock), "%s/%.64s.lock", c->f->cache_dir, s->name);
    s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return vodq_err_set(err, VODQ_ERR_IO, errno, "cache lock %s: %s", lock, strerror(errno));
    /* Shared first: an exclusive holder is a download in progress, wait for it. */
    if ((rc = lock_wait(c, s->lock_fd, LOCK_SH, err)) != VODQ_OK)
        return rc;
    if (!have_file(c, s, p, sizeof(p))) {
        flock(s->lock_fd, LOCK_UN);
        if ((rc = lock_wait(c, s->lock_fd, LOCK_EX, err)) != VODQ_OK)
            return rc;
        if (!have_file(c, s, p, sizeof(p)) && c->progressive && s->size > 0) {
            rc = grow_start(c, s, p, g, err);
            if (rc != VODQ_OK)
                return rc;
            *path = strdup(p);
            return *path ? VODQ_OK : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        } else if (!have_file(c, s, p, sizeof(p))) {
            rc = download(c, s, p, err);
            if (rc != VODQ_OK)
                return rc;
        } else {
            s->cached = true;
        }
        flock(s->lock_fd, LOCK_SH); /* downgrade: others may use it now */
    } else {
        s->cached = true;
    }
    utimensat(AT_FDCWD, p, NULL, 0); /* most recently used */
    *path = strdup(p);
    return *path ? VODQ_OK : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
}

/* ---- Resolve ---- */

/* Reads size, validator and range support from a finished HEAD. */
static void head_facts(struct src *s, const struct vodq_http_req *r)
{
    char v[256];
    s->size = -1;
    if (vodq_http_resp_header(r, "Content-Length", v, sizeof(v))) {
        char *end;
        long long z = strtoll(v, &end, 10);
        if (end != v && *end == '\0' && z >= 0)
            s->size = z;
    }
    if (vodq_http_resp_header(r, "ETag", v, sizeof(v)) && v[0])
        snprintf(s->etag, sizeof(s->etag), "%s", v);
    if (s->etag[0])
        snprintf(s->validator, sizeof(s->validator), "etag %.240s", s->etag);
    else if (vodq_http_resp_header(r, "Last-Modified", v, sizeof(v)) && v[0])
        snprintf(s->validator, sizeof(s->validator), "lm %.240s", v);
    s->ranges = vodq_http_resp_header(r, "Accept-Ranges", v, sizeof(v)) &&
                strcasecmp(v, "bytes") == 0;
    /* weak ETags do not promise equal bytes: no If-Match with them */
    if (strncmp(s->etag, "W/", 2) == 0)
        s->etag[0] = '\0';
}

void vodq_fetch_release(void *fp, void *lease)
{
    (void)fp;
    struct lease *l = lease;
    if (!l)
        return;
    for (size_t i = 0; i < l->ng; i++)
        grow_release(l->gs[i]);
    free(l->gs);
    for (size_t i = 0; i < l->n; i++)
        if (l->fds[i] >= 0)
            close(l->fds[i]);
    free(l->fds);
    free(l);
}

enum vodq_rc vodq_fetch_resolve(void *fp, const char *inputs_json, const char *const *urls,
                                size_t n, char **paths, void **lease, struct vodq_task_io *io,
                                struct vodq_err *err)
{
    struct vodq_fetch *f = fp;
    struct call c = {f, NULL, io, 0, 0, NULL, false};
    struct creds cr;
    cJSON *in = NULL;
    struct src *s = calloc(n ? n : 1, sizeof(*s));
    struct vodq_http_req *heads = calloc(n ? n : 1, sizeof(*heads));
    struct sctx *hctx = calloc(n ? n : 1, sizeof(*hctx));
    struct lease *l = calloc(1, sizeof(*l));
    enum vodq_rc rc = VODQ_OK;

    memset(&cr, 0, sizeof(cr));
    *lease = NULL;
    for (size_t i = 0; i < n; i++)
        paths[i] = NULL;
    if (!s || !heads || !hctx || !l || !(l->fds = calloc(n ? n : 1, sizeof(int))) ||
        !(l->gs = calloc(n ? n : 1, sizeof(*l->gs)))) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        s[i].url = urls[i];
        s[i].lock_fd = -1;
        size_t ulen = strcspn(urls[i], "?#");
        snprintf(s[i].shown, sizeof(s[i].shown), "%.*s", (int)(ulen < 400 ? ulen : 400), urls[i]);
    }
    if (inputs_json && *inputs_json) {
        in = cJSON_Parse(inputs_json);
        if (!in) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.inputs: not a JSON object");
            goto out;
        }
    }
    if ((rc = creds_from(f, in, &cr, err)) != VODQ_OK)
        goto out;
    /* sources a demuxer can read while they download are handed over early */
    const cJSON *pg = cJSON_GetObjectItemCaseSensitive(in, "progressive");
    c.progressive = !f->o.no_progressive && !cJSON_IsFalse(pg);
    struct vodq_http_opts ho = {
        .max_attempts = f->o.max_attempts,
        .backoff_base_ms = f->o.retry_base_ms,
        .stall_timeout_ms = f->o.stall_timeout_ms,
    };
    c.h = vodq_http_new(&ho, err);
    if (!c.h) {
        rc = err ? err->code : VODQ_ERR_OOM;
        goto out;
    }
    /* 1. HEAD every source (in parallel): size, validator, and a clear 403/404 */
    for (size_t i = 0; i < n; i++) {
        if (!vodq_fetch_is_url(urls[i])) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "source %s: not an http(s), s3 or oss URL",
                              s[i].shown);
            goto out;
        }
        s[i].remote_obj = urls[i][0] == 's' || urls[i][0] == 'o';
        if (s[i].remote_obj) {
            if ((rc = object_target(&s[i], &cr, err)) != VODQ_OK)
                goto out;
        } else if (!(s[i].get_url = strdup(urls[i]))) {
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
            goto out;
        }
        if ((rc = req_for(&s[i], &heads[i], &hctx[i], "HEAD", err)) != VODQ_OK)
            goto out;
    }
    long bad;
    rc = drive(&c, heads, n, f->o.parallel * 2, true, &bad, err);
    if (rc != VODQ_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct vodq_http_req *h = &heads[i];
        if (h->err.code != VODQ_OK) {
            /* A URL signed for GET only (presigned S3/OSS) refuses HEAD with
             * 403 or 405: fetch it without knowing its size or validator
             * (a cache entry of its own, keyed by the whole URL). */
            bool refused = h->status == 403 || h->status == 405 || h->status == 501;
            if (!(refused && !s[i].remote_obj)) {
                rc = source_error(&s[i], h, "HEAD", err);
                goto out;
            }
            s[i].size = -1;
            name_of(&s[i], &cr);
            continue;
        }
        head_facts(&s[i], &heads[i]);
        if (s[i].size > f->o.cache_max_bytes) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                              "source %s: %lld bytes is more than the whole cache "
                              "(cache-max-bytes %lld)",
                              s[i].shown, (long long)s[i].size, (long long)f->o.cache_max_bytes);
            err->permanent = true;
            goto out;
        }
        name_of(&s[i], &cr);
        char p[PATH_MAX];
        if (!have_file(&c, &s[i], p, sizeof(p)) && s[i].size > 0)
            c.total_bytes += s[i].size;
    }
    c.done_bytes = 0;
    /* 2. Each file from the cache, or fetched into it under its lock */
    for (size_t i = 0; i < n; i++) {
        struct grow *g = NULL;
        rc = acquire(&c, &s[i], &paths[i], &g, err);
        if (g)
            l->gs[l->ng++] = g;
        l->fds[i] = s[i].lock_fd;
        s[i].lock_fd = -1;
        l->n = i + 1;
        if (rc != VODQ_OK)
            goto out;
        vodq_metric_add(s[i].cached ? VODQ_M_CACHE_HITS : VODQ_M_CACHE_MISSES, 1);
        if (!s[i].cached && !g)
            sweep(f); /* keep the cache under its bound */
    }
    if (io && io->progress && c.total_bytes > 0)
        io->progress(io->opaque, c.total_bytes, c.total_bytes, "{\"phase\":\"fetch\"}");
out:
    for (size_t i = 0; s && i < n; i++) {
        vodq_target_cleanup(&s[i].t);
        free(s[i].get_url);
        if (s[i].lock_fd >= 0)
            close(s[i].lock_fd);
        if (heads)
            vodq_http_req_cleanup(&heads[i]);
    }
    vodq_http_free(c.h);
    vodq_vod_auth_cleanup(&cr.auth);
    if (in) {
        /* the parsed inputs hold secrets: wipe them before freeing */
        for (cJSON *it = in->child; it; it = it->next)
            if (cJSON_IsString(it) && it->valuestring)
                memset(it->valuestring, 0, strlen(it->valuestring));
        cJSON_Delete(in);
    }
    free(s);
    free(heads);
    free(hctx);
    if (rc != VODQ_OK) {
        for (size_t i = 0; i < n; i++) {
            free(paths[i]);
            paths[i] = NULL;
        }
        vodq_fetch_release(f, l);
    } else {
        *lease = l;
    }
    return rc;
}
