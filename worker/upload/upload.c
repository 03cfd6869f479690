/* upload.c: the upload engine, PutObject and parallel multipart with a
 * checkpoint, token expiry and verification (see upload.h). */
#include "worker/upload/upload.h"

#include "shared/clock.h"

#include "worker/upload/crc64.h"
#include "worker/upload/http.h"
#include "worker/upload/sign.h"
#include "worker/upload/target.h"
#include "worker/upload/xml.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB ((int64_t)1 << 20)
#define MAX_PARTS 10000
#define S3_MIN_PART (5 * MIB)
#define OSS_MIN_PART ((int64_t)102400)
#define MAX_PART ((int64_t)5 << 30)
#define MAX_RESTARTS 2     /* fresh uploads after NoSuchUpload, per run */
#define MAX_CORRUPT 3      /* per part: replies whose checksum disagrees with ours */

/* ---- Options ---- */

struct opts {
    char *file;          /* path to upload */
    bool image;          /* kind "image": one PutObject */
    char *content_type;  /* Content-Type of the object */
    int64_t part_size;     /* bytes */
    int64_t parallel;      /* parts in flight */
    int64_t wait_auth_s;   /* seconds to wait for new credentials */
    int64_t auth_warn_s;   /* warn this many seconds before expiry */
    int64_t max_attempts;  /* per request */
    int64_t retry_base_ms; /* first backoff */
    int64_t timeout_s;     /* stall timeout */
    int64_t max_send_bps; /* whole-upload rate cap, bytes/s; 0 = none */
};

enum pstate { P_TODO = 0, P_FLIGHT, P_DONE };

struct part {
    int64_t off;           /* file offset */
    int64_t len;           /* bytes */
    enum pstate state;
    char etag[80];         /* verbatim ETag from the server (quotes included) */
    uint64_t crc;          /* CRC-64/ECMA of the part (valid once read or from the checkpoint) */
    unsigned char md5[16]; /* S3: MD5 of the part */
    int corrupt;           /* replies whose checksum disagreed */
    int bad_replies;       /* 2xx replies without a usable ETag (cut short on the way) */
    bool hinted;           /* source mode: etag/hint_crc come from the checkpoint of an
                            * earlier attempt; reused only if this attempt's bytes match */
    uint64_t hint_crc;
};

struct up;

/* What a request's sign callback needs: one per request in flight. */
struct rctx {
    struct up *u;
    int part_num;          /* 1-based part number, 0 when not a part */
    char query[512];       /* raw query string (already encoded), "" for none */
    const char *ctype;     /* Content-Type to send and sign, or NULL */
    char md5_b64[32];      /* Content-MD5 to send and sign, or "" */
};

struct slot {
    struct rctx c;
    struct vodq_http_req req;
    unsigned char *buf;    /* part_size bytes, allocated on first use */
    int part;              /* index into parts, -1 when free */
};

struct up {
    struct opts o;
    struct vodq_target t;
    struct vodq_task_io *io;
    struct vodq_http *h;
    int fd;                 /* the file, open read-only */
    int64_t size;           /* file size */
    int64_t mtime_ns;       /* file mtime */
    int64_t part_size;      /* effective part size */
    int nparts;
    struct part *parts;
    struct slot *slots;     /* o.parallel of them */
    char *upload_id;
    char ident[600];        /* vodq_target_identity */
    char head_sha[65], tail_sha[65];
    int resumed_parts;      /* parts found done in the checkpoint */
    int restarts;
    int64_t acked;          /* bytes of acknowledged parts */
    int64_t reported;       /* last progress value (kept monotonic) */
    bool auth_expired;      /* a request was refused for expired credentials */
    bool lost_upload;       /* the server forgot the upload id */
    bool auth_warned;       /* auth_expiring sent for the current credentials */
    bool fenced;            /* the task's lease is gone: stop at once */
    int64_t last_auth_poll_ms;
    struct vodq_err fatal;  /* first permanent failure of a part */
    const struct vodq_upload_source *src; /* a file still being written, or NULL */
    bool src_ended;         /* source mode: the file is complete, size is final */
};

/* ---- Events and progress ---- */

static void emit(struct up *u, const char *name, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    if (s && u->io && u->io->event) {
        if (u->io->event(u->io->opaque, name, s) == VODQ_ERR_FENCED)
            u->fenced = true;
    }
    free(s);
    cJSON_Delete(obj);
}

static void warn(struct up *u, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", msg);
    emit(u, "warning", o);
}

static void report(struct up *u)
{
    int64_t done = u->acked;
    if (u->slots)
        for (int i = 0; i < u->o.parallel; i++)
            if (u->slots[i].part >= 0)
                done += vodq_http_req_sent(&u->slots[i].req);
    if (done > u->size)
        done = u->size;
    if (done < u->reported)
        done = u->reported; /* a retried part starts again; the bar does not go back */
    u->reported = done;
    if (u->io && u->io->progress &&
        u->io->progress(u->io->opaque, done, u->size, NULL) == VODQ_ERR_FENCED)
        u->fenced = true;
}

/* The http layer tells us about each retry. */
static void on_retry(void *arg, const struct vodq_http_req *req, int attempt, long delay_ms,
                     const struct vodq_err *why)
{
    struct up *u = arg;
    const struct rctx *c = req->arg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "part", c ? c->part_num : 0);
    cJSON_AddNumberToObject(o, "attempt", attempt);
    cJSON_AddNumberToObject(o, "delay_ms", (double)delay_ms);
    cJSON_AddStringToObject(o, "error", why->msg);
    emit(u, "retry", o);
}

/* ---- Adapters to sign.h, crc64.h and xml.h ---- */

static enum vodq_rc sign_cb(void *arg, struct vodq_http_req *req, struct vodq_err *err)
{
    struct rctx *c = arg;
    struct up *u = c->u;
    enum vodq_rc rc;
    vodq_http_req_clear_headers(req);
    if (c->ctype && (rc = vodq_http_req_add_header(req, "Content-Type", c->ctype, err)) != VODQ_OK)
        return rc;
    if (c->md5_b64[0] &&
        (rc = vodq_http_req_add_header(req, "Content-MD5", c->md5_b64, err)) != VODQ_OK)
        return rc;
    return vodq_sign_request(&u->t, req, c->query, time(NULL), err);
}

/* ---- Error replies ---- */

enum fail { F_NONE = 0, F_TOKEN, F_NOSUCHUPLOAD, F_OTHER };

/* Looks at a failed request; fills err with a clear message (no
 * credentials) and says what kind of failure it was. */
static enum fail classify(struct up *u, const struct vodq_http_req *r, const char *what,
                          struct vodq_err *err)
{
    if (r->err.code == VODQ_OK)
        return F_NONE;
    if (r->err.code != VODQ_ERR_HTTP) {
        *err = r->err;
        vodq_err_prefix(err, "%s (after %d attempts)", what, r->attempts);
        return F_OTHER;
    }
    char code[128] = "", msg[200] = "";
    vodq_xml_error(r->resp, r->resp_len, code, sizeof(code), msg, sizeof(msg));
    long st = r->status;
    bool oss = u->t.kind == VODQ_TARGET_OSS;
    bool tok = u->t.token != NULL;
    bool expired = false;
    if (oss)
        expired = st == 403 && (strcmp(code, "SecurityTokenExpired") == 0 ||
                                strcmp(code, "InvalidSecurityToken") == 0 ||
                                (tok && strcmp(code, "InvalidAccessKeyId") == 0));
    else
        expired = strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidToken") == 0 ||
                  strcmp(code, "ExpiredTokenException") == 0 ||
                  strcmp(code, "TokenRefreshRequired") == 0 ||
                  (tok && strcmp(code, "InvalidAccessKeyId") == 0);
    const char *hint = "";
    if (strcmp(code, "SignatureDoesNotMatch") == 0)
        hint = oss ? " (the server rejected the signature: check the UploadAuth credentials)"
                   : " (the server rejected the signature: check access_key and secret_key)";
    else if (strcmp(code, "InvalidAccessKeyId") == 0 && !expired)
        hint = " (unknown access key)";
    else if (strcmp(code, "AccessDenied") == 0)
        hint = " (the credentials do not allow this)";
    else if (strcmp(code, "NoSuchBucket") == 0)
        hint = " (the bucket does not exist)";
    vodq_err_set(err, expired ? VODQ_ERR_AUTH : VODQ_ERR_HTTP, (int)st, "%s: HTTP %ld %s%s%s%s",
                 what, st, code[0] ? code : "(no error code)", msg[0] ? ": " : "", msg, hint);
    err->permanent = !(st >= 500 || st == 429 || st == 408) && !expired;
    if (expired)
        return F_TOKEN;
    if (strcmp(code, "NoSuchUpload") == 0)
        return F_NOSUCHUPLOAD;
    return F_OTHER;
}

/* ---- Credentials ---- */

/* Applies credentials delivered by take_auth, if any. Returns true when
 * new ones were installed. */
static bool take_auth(struct up *u)
{
    if (!u->io || !u->io->take_auth)
        return false;
    char *a = u->io->take_auth(u->io->opaque);
    if (!a)
        return false;
    struct vodq_err e = {0};
    enum vodq_rc rc = vodq_target_set_auth(&u->t, a, &e);
    vodq_target_free_secret(a);
    if (rc != VODQ_OK) {
        warn(u, e.msg);
        return false;
    }
    u->auth_warned = false;
    return true;
}

static void check_expiring(struct up *u)
{
    if (u->auth_warned || u->t.expires_at <= 0)
        return;
    int64_t left = u->t.expires_at - (int64_t)time(NULL);
    if (left > u->o.auth_warn_s)
        return;
    u->auth_warned = true;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "expires_in_s", (double)left);
    emit(u, "auth_expiring", o);
}

/* Waits for new credentials after a refusal. Returns VODQ_OK once they are
 * installed, VODQ_ERR_CANCELLED / VODQ_ERR_PAUSED on cancel / yield,
 * VODQ_ERR_FENCED, or VODQ_ERR_AUTH when none came within wait_auth_s. */
static enum vodq_rc wait_auth(struct up *u, struct vodq_err *err)
{
    int done = 0;
    for (int i = 0; i < u->nparts; i++)
        done += u->parts && u->parts[i].state == P_DONE;
    cJSON *o = cJSON_CreateObject();
    if (u->upload_id)
        cJSON_AddStringToObject(o, "upload_id", u->upload_id);
    cJSON_AddNumberToObject(o, "parts_done", done);
    cJSON_AddNumberToObject(o, "wait_auth_s", u->o.wait_auth_s);
    emit(u, "token_expired", o);
    int64_t deadline = vodq_mono_ms() + (int64_t)u->o.wait_auth_s * 1000;
    for (;;) {
        if (u->fenced)
            return vodq_err_set(err, VODQ_ERR_FENCED, 0, "lease lost while waiting for credentials");
        if (take_auth(u)) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "reason", "new credentials");
            if (u->upload_id)
                cJSON_AddStringToObject(r, "upload_id", u->upload_id);
            emit(u, "retry_resume", r);
            return VODQ_OK;
        }
        int64_t left = deadline - vodq_mono_ms();
        if (left <= 0) {
            enum vodq_rc rc = vodq_err_set(
                err, VODQ_ERR_AUTH, 0,
                "upload credentials expired and no new ones arrived within %d s%s%s%s",
                (int)u->o.wait_auth_s, u->upload_id ? " (checkpoint kept, upload id " : "",
                u->upload_id ? u->upload_id : "", u->upload_id ? ")" : "");
            err->permanent = false;
            return rc;
        }
        enum vodq_ctl ctl;
        int slice = left > 1000 ? 1000 : (int)left;
        if (u->io && u->io->wait) {
            ctl = u->io->wait(u->io->opaque, slice);
        } else {
            struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            ctl = u->io && u->io->control ? u->io->control(u->io->opaque) : VODQ_CTL_RUN;
        }
        if (ctl == VODQ_CTL_CANCEL)
            return vodq_err_set(err, VODQ_ERR_CANCELLED, 0, "upload cancelled");
        if (ctl == VODQ_CTL_YIELD)
            return vodq_err_set(err, VODQ_ERR_PAUSED,
                                0, "upload handed back while waiting for credentials; checkpoint kept");
    }
}

/* ---- Requests outside the part loop ---- */

/* Prepares req as method on the object with query (raw, encoded). */
static enum vodq_rc req_setup(struct up *u, struct vodq_http_req *req, struct rctx *c,
                              const char *method, const char *query, struct vodq_err *err)
{
    memset(c, 0, sizeof(*c));
    c->u = u;
    snprintf(c->query, sizeof(c->query), "%s", query ? query : "");
    char *url = vodq_target_url(&u->t, query && *query ? query : NULL);
    if (!url)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    enum vodq_rc rc = vodq_http_req_init(req, method, url, err);
    free(url);
    req->sign = sign_cb;
    req->arg = c;
    return rc;
}

/* Sends req (nothing else in flight); waits for new credentials and sends
 * it again when they had expired. *kind tells what failed. */
static enum vodq_rc send_sync(struct up *u, struct vodq_http_req *req, const char *what,
                              enum fail *kind, struct vodq_err *err)
{
    *kind = F_NONE;
    for (;;) {
        struct vodq_err e = {0};
        vodq_http_do(u->h, req, &e);
        enum fail f = classify(u, req, what, err);
        if (f == F_NONE) {
            if (req->attempts > 1) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "part", 0);
                cJSON_AddNumberToObject(o, "attempts", req->attempts);
                emit(u, "retry_resume", o);
            }
            return VODQ_OK;
        }
        if (f != F_TOKEN) {
            *kind = f;
            return err->code;
        }
        enum vodq_rc rc = wait_auth(u, err);
        if (rc != VODQ_OK)
            return rc;
    }
}

/* Best-effort AbortMultipartUpload of id. */
static enum vodq_rc abort_upload(struct up *u, const char *id, struct vodq_err *err)
{
    struct vodq_http_req req;
    struct rctx c;
    char *eid = vodq_target_encode(id, false);
    char q[512];
    snprintf(q, sizeof(q), "uploadId=%s", eid ? eid : "");
    free(eid);
    enum vodq_rc rc = req_setup(u, &req, &c, "DELETE", q, err);
    if (rc == VODQ_OK) {
        req.max_attempts = 3;
        vodq_http_do(u->h, &req, NULL);
        enum fail f = classify(u, &req, "AbortMultipartUpload", err);
        rc = f == F_NONE || f == F_NOSUCHUPLOAD ? VODQ_OK : err->code;
    }
    vodq_http_req_cleanup(&req);
    return rc;
}

/* ---- Checkpoint ---- */

static enum vodq_rc ck_save(struct up *u, const char *const *f, const char *const *v, size_t n,
                            struct vodq_err *err)
{
    if (!u->io || !u->io->ckpt)
        return VODQ_OK;
    enum vodq_rc rc = u->io->ckpt->save(u->io->ckpt->opaque, f, v, n, err);
    if (rc != VODQ_OK)
        vodq_err_prefix(err, "saving the checkpoint");
    return rc;
}

static void ck_clear(struct up *u)
{
    if (u->io && u->io->ckpt) {
        struct vodq_err e = {0};
        if (u->io->ckpt->clear(u->io->ckpt->opaque, &e) != VODQ_OK)
            warn(u, e.msg);
    }
}

/* Fields loaded from a checkpoint. */
struct loaded {
    char *target, *upload_id, *head, *tail, *source;
    int64_t part_size, file_size, mtime_ns;
    char **pv;  /* part values by index (nparts entries once sized), or NULL */
    int *pn;    /* part numbers in load order */
    char **praw;
    size_t np, cap;
};

static int64_t to_i64(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end ? -1 : (int64_t)v;
}

static void on_field(void *arg, const char *field, const char *value)
{
    struct loaded *l = arg;
    char **dst = NULL;
    if (strcmp(field, "target") == 0)
        dst = &l->target;
    else if (strcmp(field, "upload_id") == 0)
        dst = &l->upload_id;
    else if (strcmp(field, "file_head_sha256") == 0)
        dst = &l->head;
    else if (strcmp(field, "file_tail_sha256") == 0)
        dst = &l->tail;
    else if (strcmp(field, "source") == 0)
        dst = &l->source;
    else if (strcmp(field, "part_size") == 0)
        l->part_size = to_i64(value);
    else if (strcmp(field, "file_size") == 0)
        l->file_size = to_i64(value);
    else if (strcmp(field, "file_mtime_ns") == 0)
        l->mtime_ns = to_i64(value);
    else if (strncmp(field, "part:", 5) == 0) {
        int64_t n = to_i64(field + 5);
        if (n < 1 || n > MAX_PARTS)
            return;
        if (l->np == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            int *pn = realloc(l->pn, cap * sizeof(*pn));
            if (pn)
                l->pn = pn;
            char **pr = realloc(l->praw, cap * sizeof(*pr));
            if (pr)
                l->praw = pr;
            if (!pn || !pr)
                return;
            l->cap = cap;
        }
        char *v = strdup(value);
        if (!v)
            return;
        l->pn[l->np] = (int)n;
        l->praw[l->np++] = v;
    }
    if (dst) {
        free(*dst);
        *dst = strdup(value);
    }
}

static void loaded_free(struct loaded *l)
{
    free(l->target);
    free(l->upload_id);
    free(l->head);
    free(l->tail);
    free(l->source);
    for (size_t i = 0; i < l->np; i++)
        free(l->praw[i]);
    free(l->praw);
    free(l->pn);
}

/* ---- File ---- */

/* Reads exactly len bytes at off into buf. */
static enum vodq_rc read_at(struct up *u, unsigned char *buf, int64_t off, int64_t len,
                            struct vodq_err *err)
{
    int64_t got = 0;
    while (got < len) {
        ssize_t n = pread(u->fd, buf + got, (size_t)(len - got), (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vodq_err_set(err, VODQ_ERR_IO, errno, "upload.file %s: read: %s", u->o.file,
                                strerror(errno));
        if (n == 0)
            return vodq_err_set(err, VODQ_ERR_CHANGED, 0,
                                "upload.file %s: the file shrank while it was being uploaded",
                                u->o.file);
        got += n;
    }
    return VODQ_OK;
}

/* Feeds len bytes at off through the digest (and CRC-64 when crc != NULL)
 * in 1 MiB reads. */
static enum vodq_rc digest_range(struct up *u, EVP_MD_CTX *md, uint64_t *crc, int64_t off,
                                 int64_t len, struct vodq_err *err)
{
    unsigned char *buf = malloc((size_t)MIB);
    if (!buf)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    enum vodq_rc rc = VODQ_OK;
    while (len > 0) {
        int64_t n = len < MIB ? len : MIB;
        if ((rc = read_at(u, buf, off, n, err)) != VODQ_OK)
            break;
        if (md)
            EVP_DigestUpdate(md, buf, (size_t)n);
        if (crc)
            *crc = vodq_crc64_update(*crc, buf, (size_t)n);
        off += n;
        len -= n;
    }
    free(buf);
    return rc;
}

static enum vodq_rc sha256_range(struct up *u, int64_t off, int64_t len, char out[65],
                                 struct vodq_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    enum vodq_rc rc = digest_range(u, md, NULL, off, len, err);
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    vodq_sign_hex(d, 32, out);
    return rc;
}

/* Lays out the parts for part_size and computes the file identity hashes. */
static enum vodq_rc layout(struct up *u, int64_t part_size, struct vodq_err *err)
{
    if (u->src) { /* parts are added as the bytes come (grow); keep those known */
        u->part_size = part_size;
        if (!u->parts && !(u->parts = calloc(MAX_PARTS, sizeof(*u->parts))))
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        for (int i = 0; i < MAX_PARTS; i++) {
            u->parts[i].state = P_TODO;
            u->parts[i].hinted = false;
        }
        u->acked = 0;
        return VODQ_OK;
    }
    u->part_size = part_size;
    u->nparts = (int)((u->size + part_size - 1) / part_size);
    free(u->parts);
    u->parts = calloc((size_t)u->nparts, sizeof(*u->parts));
    if (!u->parts)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    for (int i = 0; i < u->nparts; i++) {
        u->parts[i].off = (int64_t)i * part_size;
        u->parts[i].len = i == u->nparts - 1 ? u->size - u->parts[i].off : part_size;
    }
    u->acked = 0;
    u->reported = 0;
    enum vodq_rc rc = sha256_range(u, 0, u->parts[0].len, u->head_sha, err);
    if (rc == VODQ_OK) {
        struct part *l = &u->parts[u->nparts - 1];
        rc = sha256_range(u, l->off, l->len, u->tail_sha, err);
    }
    return rc;
}

static enum vodq_ctl control(struct up *u);

/* ---- Multipart: start or resume ---- */

/* The ids of the multipart uploads open on our key (ListMultipartUploads
 * with prefix = key, first page). VODQ_OK with *n = 0 when there are none;
 * an error when the server cannot list (then we cannot look). */
static enum vodq_rc list_open(struct up *u, char ***ids, size_t *n, struct vodq_err *err)
{
    struct vodq_http_req req;
    struct rctx c;
    enum fail f;
    struct vodq_xml_uploads l;
    memset(&l, 0, sizeof(l));
    *ids = NULL;
    *n = 0;
    char *ek = vodq_target_encode(u->t.key, false);
    char q[sizeof(c.query)];
    if (!ek)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    int ql = snprintf(q, sizeof(q), "prefix=%s&uploads=", ek);
    free(ek);
    if (ql < 0 || (size_t)ql >= sizeof(q))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "object key too long to list uploads");
    enum vodq_rc rc = req_setup(u, &req, &c, "GET", q, err);
    if (rc == VODQ_OK) {
        /* a bucket-level request: /bucket?... (path style) or /?... */
        size_t cap = strlen(u->t.base_url) + strlen(u->t.bucket) + strlen(q) + 8;
        char *url = malloc(cap);
        if (!url) {
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        } else {
            snprintf(url, cap, "%s/%s?%s", u->t.base_url, u->t.path_style ? u->t.bucket : "", q);
            free(req.url);
            req.url = url;
        }
    }
    if (rc == VODQ_OK) {
        req.max_attempts = 3;
        rc = send_sync(u, &req, "ListMultipartUploads", &f, err);
    }
    if (rc == VODQ_OK)
        rc = vodq_xml_list_uploads(req.resp, req.resp_len, &l, err);
    vodq_http_req_cleanup(&req);
    if (rc == VODQ_OK && l.n > 0) {
        *ids = calloc(l.n, sizeof(**ids));
        if (!*ids)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        for (size_t i = 0; rc == VODQ_OK && i < l.n; i++) {
            if (strcmp(l.uploads[i].key, u->t.key) != 0)
                continue; /* prefix matched a longer key */
            (*ids)[*n] = l.uploads[i].upload_id;
            l.uploads[i].upload_id = NULL;
            (*n)++;
        }
    }
    vodq_xml_uploads_cleanup(&l);
    return rc;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static bool has_id(char *const *ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* One InitiateMultipartUpload request, not retried; the new id goes to
 * u->upload_id. */
static enum vodq_rc initiate_once(struct up *u, int max_attempts, struct vodq_err *err)
{
    struct vodq_http_req req;
    struct rctx c;
    enum fail f;
    enum vodq_rc rc = req_setup(u, &req, &c, "POST", "uploads", err);
    if (rc == VODQ_OK) {
        c.ctype = u->o.content_type;
        req.max_attempts = max_attempts;
        rc = send_sync(u, &req, "InitiateMultipartUpload", &f, err);
    }
    if (rc == VODQ_OK) {
        free(u->upload_id);
        u->upload_id = NULL;
        rc = vodq_xml_upload_id(req.resp, req.resp_len, &u->upload_id, err);
        if (rc != VODQ_OK)
            vodq_err_prefix(err, "InitiateMultipartUpload reply");
    }
    vodq_http_req_cleanup(&req);
    return rc;
}

/* Starts a multipart upload without leaving one behind: a request whose
 * reply was lost may still have created an upload on the server, and a plain
 * retry would open a second one. So the uploads open on our key are listed
 * first; after a failed attempt they are listed again, and an upload that
 * appeared meanwhile is ours: it is adopted instead of initiating anew (and
 * any further ones are aborted). Where the server cannot list, the request
 * is retried the ordinary way. */
static enum vodq_rc start_upload(struct up *u, struct vodq_err *err)
{
    char **before = NULL, **now = NULL;
    size_t nb = 0, nn = 0;
    struct vodq_err le = {0};
    if (list_open(u, &before, &nb, &le) != VODQ_OK)
        return initiate_once(u, 0, err); /* cannot look: ordinary retries */
    enum vodq_rc rc = VODQ_OK;
    bool failed_once = false;
    for (int attempt = 1;; attempt++) {
        rc = initiate_once(u, 1, err);
        if (rc == VODQ_OK)
            break;
        bool transient = vodq_err_retryable(err) || rc == VODQ_ERR_PROTOCOL;
        if (!transient || rc == VODQ_ERR_CANCELLED || rc == VODQ_ERR_PAUSED ||
            attempt >= u->o.max_attempts)
            goto out;
        failed_once = true;
        free_ids(now, nn);
        now = NULL;
        nn = 0;
        if (list_open(u, &now, &nn, &le) == VODQ_OK) {
            for (size_t i = 0; i < nn && !u->upload_id; i++) {
                if (has_id(before, nb, now[i]))
                    continue;
                u->upload_id = strdup(now[i]); /* the lost reply's upload */
                if (!u->upload_id) {
                    rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
                    goto out;
                }
            }
            if (u->upload_id) {
                rc = VODQ_OK;
                vodq_err_clear(err);
                break;
            }
        }
        long d = vodq_http_backoff_ms((long)u->o.retry_base_ms, 15000, attempt);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "part", 0);
        cJSON_AddNumberToObject(o, "attempt", attempt);
        cJSON_AddNumberToObject(o, "delay_ms", (double)d);
        cJSON_AddStringToObject(o, "error", err->msg);
        emit(u, "retry", o);
        struct timespec ts = {d / 1000, (d % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* After a failure, any other upload that appeared on our key since the
     * first listing came from our lost replies: abort it. */
    if (failed_once) {
        free_ids(now, nn);
        now = NULL;
        nn = 0;
        if (list_open(u, &now, &nn, &le) == VODQ_OK)
            for (size_t i = 0; i < nn; i++)
                if (!has_id(before, nb, now[i]) && strcmp(now[i], u->upload_id) != 0)
                    abort_upload(u, now[i], &le);
    }
out:
    free_ids(before, nb);
    free_ids(now, nn);
    return rc;
}

static enum vodq_rc initiate(struct up *u, struct vodq_err *err)
{
    enum vodq_rc rc = start_upload(u, err);
    if (rc != VODQ_OK)
        return rc;

    /* A fresh checkpoint: header fields only. */
    ck_clear(u);
    char ps[32], fs[32], mt[32];
    snprintf(ps, sizeof(ps), "%" PRId64, u->part_size);
    snprintf(fs, sizeof(fs), "%" PRId64, u->size);
    snprintf(mt, sizeof(mt), "%" PRId64, u->mtime_ns);
    const char *f_[] = {"v",         "target",        "upload_id",        "part_size",
                        "file_size", "file_mtime_ns", "file_head_sha256", "file_tail_sha256"};
    const char *v_[] = {"1", u->ident, u->upload_id, ps, fs, mt, u->head_sha, u->tail_sha};
    if (u->src) { /* no size or content yet: parts are matched by checksum on resume */
        f_[4] = "source";
        v_[4] = "render";
        return ck_save(u, f_, v_, 5, err);
    }
    return ck_save(u, f_, v_, 8, err);
}

/* Asks the server whether upload id still exists (ListParts, one part).
 * Returns VODQ_OK (exists), VODQ_ERR_NOTFOUND (gone) or another error. */
static enum vodq_rc upload_exists(struct up *u, const char *id, struct vodq_err *err)
{
    struct vodq_http_req req;
    struct rctx c;
    enum fail f = F_NONE;
    char *eid = vodq_target_encode(id, false);
    char q[512];
    snprintf(q, sizeof(q), "max-parts=1&uploadId=%s", eid ? eid : "");
    free(eid);
    enum vodq_rc rc = req_setup(u, &req, &c, "GET", q, err);
    if (rc == VODQ_OK)
        rc = send_sync(u, &req, "ListParts", &f, err);
    if (rc != VODQ_OK && (f == F_NOSUCHUPLOAD || req.status == 404))
        rc = VODQ_ERR_NOTFOUND;
    else if (rc == VODQ_ERR_HTTP && req.status >= 400 && req.status < 500)
        rc = VODQ_OK; /* ListParts refused or unsupported: the parts will tell */
    vodq_http_req_cleanup(&req);
    return rc;
}

/* Parses "etag crc" from a checkpoint part value. */
static bool parse_part_value(const char *v, struct part *p)
{
    const char *sp = strrchr(v, ' ');
    if (!sp || sp == v || (size_t)(sp - v) >= sizeof(p->etag))
        return false;
    char *end;
    errno = 0;
    unsigned long long crc = strtoull(sp + 1, &end, 10);
    if (errno || end == sp + 1 || *end)
        return false;
    memcpy(p->etag, v, (size_t)(sp - v));
    p->etag[sp - v] = '\0';
    p->crc = crc;
    return true;
}

/* S3 part ETag is the hex MD5 of the part (quotes around it). */
static bool etag_md5(const char *etag, unsigned char md5[16])
{
    const char *s = etag;
    if (*s == '"')
        s++;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
            sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        md5[i] = (unsigned char)v;
    }
    return s[32] == '\0' || (s[32] == '"' && s[33] == '\0');
}

/* Uses the checkpoint when it matches this target and this source, or
 * starts a fresh multipart upload (aborting the checkpoint's upload id when
 * it is for this target, so none is left open). A file must have the
 * checkpoint's size, mtime and first and last part; its recorded parts are
 * taken as sent. A render (source mode) must use the same part size; its
 * recorded parts are only hints: start_part reuses one when this attempt's
 * bytes have the same checksum, so a render that came out differently
 * re-sends its parts and never mixes. */
static enum vodq_rc resume_or_init(struct up *u, struct vodq_err *err)
{
    struct loaded l;
    memset(&l, 0, sizeof(l));
    l.part_size = l.file_size = l.mtime_ns = -1;
    enum vodq_rc rc = VODQ_OK;
    if (u->io && u->io->ckpt) {
        /* unreadable: fail (retried) rather than open a second upload id */
        rc = u->io->ckpt->load(u->io->ckpt->opaque, on_field, &l, err);
        if (rc != VODQ_OK) {
            vodq_err_prefix(err, "loading the checkpoint");
            goto done;
        }
    }
    if (l.upload_id) {
        const char *why = NULL;
        if (!l.target || strcmp(l.target, u->ident) != 0)
            why = "the checkpoint is for another target";
        else if (u->src && (!l.source || strcmp(l.source, "render") != 0 ||
                            l.part_size != u->o.part_size))
            why = "the checkpoint is for another kind of upload or part size";
        else if (!u->src && (l.file_size != u->size || l.mtime_ns != u->mtime_ns))
            why = "the file changed since the checkpoint (size or mtime)";
        else if (!u->src &&
                 (l.part_size <= 0 || (u->size + l.part_size - 1) / l.part_size > MAX_PARTS))
            why = "the checkpoint has a bad part_size";
        if (!why) {
            rc = layout(u, l.part_size, err);
            if (rc != VODQ_OK)
                goto done;
            if (!u->src && (!l.head || !l.tail || strcmp(l.head, u->head_sha) != 0 ||
                            strcmp(l.tail, u->tail_sha) != 0))
                why = "the file changed since the checkpoint (content of the first or last part)";
        }
        if (!why) {
            struct vodq_err e = {0};
            rc = upload_exists(u, l.upload_id, &e);
            if (rc == VODQ_ERR_NOTFOUND) {
                why = "the server no longer knows the checkpoint's upload id";
            } else if (rc != VODQ_OK) {
                *err = e;
                goto done;
            }
        }
        if (!why) {
            u->upload_id = l.upload_id;
            l.upload_id = NULL;
            for (size_t i = 0; i < l.np; i++) {
                int n = l.pn[i];
                if (n < 1 || n > (u->src ? MAX_PARTS : u->nparts))
                    continue;
                struct part *p = &u->parts[n - 1];
                if (!parse_part_value(l.praw[i], p))
                    continue;
                if (u->src) {
                    p->hinted = true;
                    p->hint_crc = p->crc;
                    continue;
                }
                if (u->t.kind == VODQ_TARGET_S3 && !etag_md5(p->etag, p->md5))
                    continue; /* cannot verify the object without it: send again */
                if (p->state != P_DONE) {
                    p->state = P_DONE;
                    u->acked += p->len;
                    u->resumed_parts++;
                }
            }
            goto done;
        }
        char m[300];
        snprintf(m, sizeof(m), "%s; starting the upload over", why);
        warn(u, m);
        if (l.target && strcmp(l.target, u->ident) == 0) {
            struct vodq_err e = {0};
            abort_upload(u, l.upload_id, &e); /* best effort: do not leave it behind */
        }
        ck_clear(u);
    }
    rc = layout(u, u->o.part_size, err);
    if (rc == VODQ_OK)
        rc = initiate(u, err);
done:
    loaded_free(&l);
    return rc;
}

/* ---- Multipart: the part loop ---- */

static enum vodq_rc start_part(struct up *u, struct slot *s, int idx, struct vodq_err *err)
{
    struct part *p = &u->parts[idx];
    if (!s->buf) {
        s->buf = malloc((size_t)u->part_size);
        if (!s->buf)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory (part buffer of %" PRId64 " bytes)",
                                u->part_size);
    }
    enum vodq_rc rc = read_at(u, s->buf, p->off, p->len, err);
    if (rc != VODQ_OK)
        return rc;
    /* One checksum per protocol, as the server can confirm it: CRC-64 for
     * OSS (x-oss-hash-crc64ecma), MD5 for S3 (ETag, Content-MD5). */
    bool oss = u->t.kind == VODQ_TARGET_OSS;
    p->crc = oss ? vodq_crc64_update(0, s->buf, (size_t)p->len) : 0;
    s->c.u = u;
    s->c.part_num = idx + 1;
    s->c.ctype = NULL;
    s->c.md5_b64[0] = '\0';
    if (!oss) {
        unsigned int ml = 0;
        EVP_Digest(s->buf, (size_t)p->len, p->md5, &ml, EVP_md5(), NULL);
        EVP_EncodeBlock((unsigned char *)s->c.md5_b64, p->md5, 16);
    }
    if (p->hinted) { /* an earlier attempt sent this part: the same bytes? */
        unsigned char m[16];
        p->hinted = false;
        if (oss ? p->crc == p->hint_crc : etag_md5(p->etag, m) && memcmp(m, p->md5, 16) == 0) {
            p->state = P_DONE;
            u->acked += p->len;
            u->resumed_parts++;
            return VODQ_OK; /* the slot stays free */
        }
    }
    char *eid = vodq_target_encode(u->upload_id, false);
    if (!eid)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    snprintf(s->c.query, sizeof(s->c.query), "partNumber=%d&uploadId=%s", idx + 1, eid);
    free(eid);
    char *url = vodq_target_url(&u->t, s->c.query);
    if (!url)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    if (!s->req.priv && !s->req.url) {
        rc = vodq_http_req_init(&s->req, "PUT", url, err);
        free(url);
        if (rc != VODQ_OK)
            return rc;
    } else {
        free(s->req.url);
        s->req.url = url;
    }
    s->req.sign = sign_cb;
    s->req.arg = &s->c;
    s->req.body = s->buf;
    s->req.body_len = (size_t)p->len;
    rc = vodq_http_start(u->h, &s->req, err);
    if (rc != VODQ_OK)
        return rc;
    s->part = idx;
    p->state = P_FLIGHT;
    return VODQ_OK;
}

static void cancel_all(struct up *u)
{
    for (int i = 0; i < u->o.parallel; i++) {
        struct slot *s = &u->slots[i];
        if (s->part >= 0) {
            vodq_http_cancel(u->h, &s->req);
            u->parts[s->part].state = P_TODO;
            s->part = -1;
        }
    }
}

static void set_fatal(struct up *u, const struct vodq_err *e)
{
    if (u->fatal.code == VODQ_OK)
        u->fatal = *e;
}

/* A part request came back. */
static void part_done(struct up *u, struct slot *s)
{
    struct part *p = &u->parts[s->part];
    struct vodq_http_req *r = &s->req;
    int num = s->part + 1;
    s->part = -1;
    p->state = P_TODO;
    char what[64];
    snprintf(what, sizeof(what), "UploadPart %d", num);
    struct vodq_err e = {0};
    enum fail f = classify(u, r, what, &e);
    if (f == F_TOKEN) {
        u->auth_expired = true;
        return;
    }
    if (f == F_NOSUCHUPLOAD) {
        u->lost_upload = true;
        return;
    }
    if (f != F_NONE) {
        set_fatal(u, &e);
        return;
    }
    char etag[96], crcs[32];
    if (!vodq_http_resp_header(r, "ETag", etag, sizeof(etag)) || !etag[0] ||
        strlen(etag) >= sizeof(p->etag)) {
        /* A reply cut short (a proxy, a reset after the status line): the
         * part may or may not be stored; sending it again is always safe. */
        vodq_err_set(&e, VODQ_ERR_PROTOCOL, 0, "%s: the reply has no usable ETag header", what);
        if (++p->bad_replies >= u->o.max_attempts) {
            set_fatal(u, &e);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "part", num);
            cJSON_AddNumberToObject(o, "attempt", p->bad_replies);
            cJSON_AddNumberToObject(o, "delay_ms", 0);
            cJSON_AddStringToObject(o, "error", e.msg);
            emit(u, "retry", o);
        }
        return;
    }
    /* Our checksum against the server's: a disagreement means the bytes
     * were damaged on the way; send the part again, a few times at most. */
    char why[200] = "";
    if (u->t.kind == VODQ_TARGET_OSS) {
        if (vodq_http_resp_header(r, "x-oss-hash-crc64ecma", crcs, sizeof(crcs))) {
            unsigned long long sc = strtoull(crcs, NULL, 10);
            if (sc != p->crc)
                snprintf(why, sizeof(why), "CRC-64 mismatch: sent %" PRIu64 ", server has %llu",
                         p->crc, sc);
        }
    } else {
        unsigned char md5[16];
        if (etag_md5(etag, md5) && memcmp(md5, p->md5, 16) != 0)
            snprintf(why, sizeof(why), "MD5 mismatch: server ETag %s", etag);
    }
    if (why[0]) {
        if (++p->corrupt >= MAX_CORRUPT) {
            vodq_err_set(&e, VODQ_ERR_PROTOCOL, 0, "%s: %s (%d times)", what, why, p->corrupt);
            set_fatal(u, &e);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "part", num);
            cJSON_AddNumberToObject(o, "attempt", p->corrupt);
            cJSON_AddNumberToObject(o, "delay_ms", 0);
            cJSON_AddStringToObject(o, "error", why);
            emit(u, "retry", o);
        }
        return;
    }
    memcpy(p->etag, etag, strlen(etag) + 1); /* length checked above */
    char field[24], value[128];
    snprintf(field, sizeof(field), "part:%d", num);
    snprintf(value, sizeof(value), "%s %" PRIu64, p->etag, p->crc);
    const char *fs[] = {field};
    const char *vs[] = {value};
    if (ck_save(u, fs, vs, 1, &e) != VODQ_OK) {
        set_fatal(u, &e);
        return;
    }
    p->state = P_DONE;
    u->acked += p->len;
    if (r->attempts > 1) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "part", num);
        cJSON_AddNumberToObject(o, "attempts", r->attempts);
        emit(u, "retry_resume", o);
    }
}

static int next_todo(const struct up *u)
{
    for (int i = 0; i < u->nparts; i++)
        if (u->parts[i].state == P_TODO && (i > 0 || !u->src || u->src_ended))
            return i; /* source mode: the first part, which the writer may still change, last */
    return -1;
}

static bool all_done(const struct up *u)
{
    if (u->src && !u->src_ended)
        return false;
    for (int i = 0; i < u->nparts; i++)
        if (u->parts[i].state != P_DONE)
            return false;
    return true;
}

static size_t flying(const struct up *u)
{
    size_t n = 0;
    for (int i = 0; i < u->o.parallel; i++)
        n += u->slots[i].part >= 0;
    return n;
}

/* Cancel: stop, abort the multipart upload, forget the checkpoint. */
static enum vodq_rc do_cancel(struct up *u, struct vodq_err *err)
{
    cancel_all(u);
    if (u->upload_id) {
        struct vodq_err e = {0};
        if (abort_upload(u, u->upload_id, &e) != VODQ_OK)
            warn(u, e.msg);
    }
    ck_clear(u);
    return vodq_err_set(err, VODQ_ERR_CANCELLED, 0, "upload cancelled");
}

static enum vodq_ctl control(struct up *u)
{
    return u->io && u->io->control ? u->io->control(u->io->opaque) : VODQ_CTL_RUN;
}

/* The server lost the multipart upload: forget it and start a fresh one
 * (a few times at most per run). */
static enum vodq_rc restart_fresh(struct up *u, const char *why, struct vodq_err *err)
{
    if (++u->restarts > MAX_RESTARTS)
        return vodq_err_set(err, VODQ_ERR_HTTP, 404,
                            "the server keeps losing the multipart upload (NoSuchUpload %d times)",
                            u->restarts);
    warn(u, why);
    ck_clear(u);
    free(u->upload_id);
    u->upload_id = NULL;
    u->resumed_parts = 0;
    enum vodq_rc rc = layout(u, u->part_size, err);
    return rc == VODQ_OK ? initiate(u, err) : rc;
}

/* Source mode: lays out the parts whose bytes are now final, waiting up
 * to timeout_ms for the next one. */
static void grow(struct up *u, int timeout_ms)
{
    if (!u->src || u->src_ended || u->fatal.code != VODQ_OK)
        return;
    int64_t end = u->nparts ? u->parts[u->nparts - 1].off + u->parts[u->nparts - 1].len : 0;
    bool ended = false;
    int fd = -1;
    int64_t have = u->src->wait_bytes(u->src->opaque, end + u->part_size, timeout_ms, &ended, &fd);
    if (fd >= 0 && u->fd < 0 && (u->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        struct vodq_err e;
        set_fatal(u, (vodq_err_set(&e, VODQ_ERR_IO, errno, "upload: dup: %s", strerror(errno)), &e));
        return;
    }
    for (;;) {
        int64_t len = have - end;
        if (len < u->part_size && !(ended && (len > 0 || u->nparts == 0)))
            break;
        if (len > u->part_size)
            len = u->part_size;
        if (u->nparts == MAX_PARTS) {
            struct vodq_err e;
            vodq_err_set(&e, VODQ_ERR_INVALID, 0,
                         "upload.part_size: the render needs more than %d parts of %" PRId64
                         " bytes; raise it",
                         MAX_PARTS, u->part_size);
            e.permanent = true;
            set_fatal(u, &e);
            return;
        }
        struct part *p = &u->parts[u->nparts++];
        p->off = end;
        p->len = len;
        end += len;
        if (len == 0)
            break; /* an empty file: one empty part */
    }
    u->size = have;
    u->src_ended = ended && end == have;
}

/* Sends every part not yet acknowledged. */
static enum vodq_rc send_parts(struct up *u, struct vodq_err *err)
{
    int64_t last_report = 0;
    for (;;) {
        if (u->fenced) {
            cancel_all(u);
            return vodq_err_set(err, VODQ_ERR_FENCED, 0, "lease lost; stopped");
        }
        int64_t now = vodq_mono_ms();
        if (now - u->last_auth_poll_ms >= 1000) {
            u->last_auth_poll_ms = now;
            if (!u->auth_expired)
                take_auth(u); /* early refresh-auth: later requests use it */
            check_expiring(u);
        }
        enum vodq_ctl ctl = control(u);
        if (ctl == VODQ_CTL_CANCEL)
            return do_cancel(u, err);
        bool stop_new = ctl != VODQ_CTL_RUN || u->auth_expired || u->lost_upload ||
                        u->fatal.code != VODQ_OK;
        if (!stop_new)
            grow(u, 0);
        for (int i = 0; !stop_new && i < u->o.parallel; i++) {
            struct slot *s = &u->slots[i];
            if (s->part >= 0)
                continue;
            int idx = next_todo(u);
            if (idx < 0)
                break;
            struct vodq_err e = {0};
            if (start_part(u, s, idx, &e) != VODQ_OK) {
                set_fatal(u, &e);
                stop_new = true;
            }
        }
        if (flying(u) == 0) {
            if (u->fatal.code != VODQ_OK) {
                *err = u->fatal;
                return err->code;
            }
            if (u->lost_upload) {
                u->lost_upload = false;
                enum vodq_rc rc = restart_fresh(
                    u, "the server no longer knows the upload id; starting the upload over", err);
                if (rc != VODQ_OK)
                    return rc;
                continue;
            }
            if (u->auth_expired) {
                enum vodq_rc rc = wait_auth(u, err);
                if (rc == VODQ_ERR_CANCELLED)
                    return do_cancel(u, err);
                if (rc != VODQ_OK)
                    return rc;
                u->auth_expired = false;
                continue;
            }
            if (all_done(u))
                break;
            if (ctl == VODQ_CTL_YIELD)
                return vodq_err_set(err, VODQ_ERR_PAUSED, 0, "upload paused; checkpoint kept");
            if (ctl == VODQ_CTL_PAUSE) {
                if (u->io && u->io->wait)
                    u->io->wait(u->io->opaque, 500);
                else
                    nanosleep(&(struct timespec){0, 200000000L}, NULL);
                continue;
            }
            if (u->src && next_todo(u) < 0) { /* the writer is behind: wait for bytes */
                grow(u, 100);
                report(u);
                continue;
            }
        }
        struct vodq_http_req *r = vodq_http_wait(u->h, 100);
        if (r) {
            for (int i = 0; i < u->o.parallel; i++)
                if (&u->slots[i].req == r && u->slots[i].part >= 0)
                    part_done(u, &u->slots[i]);
        }
        now = vodq_mono_ms();
        if (r || now - last_report >= 200) {
            last_report = now;
            report(u);
        }
    }
    report(u);
    return VODQ_OK;
}

/* ---- Multipart: complete and verify ---- */

/* Reads the whole-object CRC-64 from a reply, or HEADs the object for it.
 * Returns false when the server gives none. */
static bool server_crc(struct up *u, const struct vodq_http_req *r, uint64_t *out)
{
    char b[32];
    if (!vodq_http_resp_header(r, "x-oss-hash-crc64ecma", b, sizeof(b))) {
        struct vodq_http_req h;
        struct rctx c;
        struct vodq_err e = {0};
        enum fail f;
        bool ok = req_setup(u, &h, &c, "HEAD", NULL, &e) == VODQ_OK &&
                  send_sync(u, &h, "HeadObject", &f, &e) == VODQ_OK &&
                  vodq_http_resp_header(&h, "x-oss-hash-crc64ecma", b, sizeof(b));
        vodq_http_req_cleanup(&h);
        if (!ok)
            return false;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(b, &end, 10);
    if (errno || end == b)
        return false;
    *out = v;
    return true;
}

static void strip_quotes(const char *in, char *out, size_t cap)
{
    if (*in == '"')
        in++;
    snprintf(out, cap, "%s", in);
    size_t n = strlen(out);
    if (n && out[n - 1] == '"')
        out[n - 1] = '\0';
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

/* Checks the finished object; fills etag_out and crc_out for the result. */
static enum vodq_rc verify_object(struct up *u, const struct vodq_http_req *r, const char *etag,
                                  uint64_t local_crc, const unsigned char *single_md5,
                                  struct vodq_err *err)
{
    if (u->t.kind == VODQ_TARGET_OSS) {
        uint64_t sc;
        if (!server_crc(u, r, &sc)) {
            warn(u, "the server returned no x-oss-hash-crc64ecma; the object's CRC-64 was not checked");
            return VODQ_OK;
        }
        if (sc != local_crc)
            return vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                                "CRC-64 mismatch for the whole object: local %" PRIu64
                                ", server %" PRIu64 " (checkpoint kept)",
                                local_crc, sc);
        return VODQ_OK;
    }
    char want[64], got[96];
    if (single_md5) {
        vodq_sign_hex(single_md5, 16, want);
    } else {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        EVP_DigestInit_ex(md, EVP_md5(), NULL);
        for (int i = 0; i < u->nparts; i++)
            EVP_DigestUpdate(md, u->parts[i].md5, 16);
        unsigned char d[16];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        EVP_MD_CTX_free(md);
        vodq_sign_hex(d, 16, want);
        snprintf(want + 32, sizeof(want) - 32, "-%d", u->nparts);
    }
    strip_quotes(etag, got, sizeof(got));
    if (strcmp(want, got) != 0)
        return vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                            "ETag mismatch for the whole object: computed %s from the parts, "
                            "server %s (checkpoint kept)",
                            want, got);
    return VODQ_OK;
}

static uint64_t object_crc(const struct up *u)
{
    uint64_t crc = 0;
    for (int i = 0; i < u->nparts; i++)
        crc = i == 0 ? u->parts[0].crc
                     : vodq_crc64_combine(crc, u->parts[i].crc, (uint64_t)u->parts[i].len);
    return crc;
}

/* Verifies the completed object (reply r) and fills the result. */
static enum vodq_rc finish_multipart(struct up *u, const struct vodq_http_req *r,
                                     const char *location, const char *etag, cJSON *res,
                                     struct vodq_err *err)
{
    uint64_t crc = object_crc(u);
    enum vodq_rc rc = verify_object(u, r, etag ? etag : "", crc, NULL, err);
    if (rc != VODQ_OK)
        return rc;
    char cs[32];
    snprintf(cs, sizeof(cs), "%" PRIu64, crc);
    char *url = vodq_target_url(&u->t, NULL);
    cJSON_AddStringToObject(res, "location", location && *location ? location : url ? url : "");
    free(url);
    cJSON_AddStringToObject(res, "etag", etag ? etag : "");
    if (u->t.kind == VODQ_TARGET_OSS)
        cJSON_AddStringToObject(res, "crc64", cs);
    cJSON_AddNumberToObject(res, "parts", u->nparts);
    cJSON_AddStringToObject(res, "upload_id", u->upload_id);
    cJSON_AddNumberToObject(res, "resumed_parts", u->resumed_parts);
    return VODQ_OK;
}

/* Complete said NoSuchUpload: HEAD the object; when it is there and
 * verifies, an earlier Complete went through. VODQ_ERR_NOTFOUND when not. */
static enum vodq_rc complete_check_object(struct up *u, cJSON *res, struct vodq_err *err)
{
    struct vodq_http_req h;
    struct rctx c;
    enum fail f;
    char etag[128] = "";
    enum vodq_rc rc = req_setup(u, &h, &c, "HEAD", NULL, err);
    if (rc == VODQ_OK)
        rc = send_sync(u, &h, "HeadObject", &f, err);
    if (rc == VODQ_OK) {
        vodq_http_resp_header(&h, "ETag", etag, sizeof(etag));
        rc = finish_multipart(u, &h, NULL, etag, res, err);
        if (rc != VODQ_OK)
            rc = VODQ_ERR_NOTFOUND; /* another object: ours was never completed */
    } else if (h.status == 404) {
        rc = VODQ_ERR_NOTFOUND;
    }
    vodq_http_req_cleanup(&h);
    return rc;
}

static enum vodq_rc complete(struct up *u, cJSON *res, bool *lost, struct vodq_err *err)
{
    struct vodq_http_req req;
    struct rctx c;
    enum fail f = F_NONE;
    char *body = NULL;
    char *eid = vodq_target_encode(u->upload_id, false);
    char q[512];
    snprintf(q, sizeof(q), "uploadId=%s", eid ? eid : "");
    free(eid);
    enum vodq_rc rc = req_setup(u, &req, &c, "POST", q, err);
    if (rc != VODQ_OK)
        goto fail;
    c.ctype = "application/xml";
    {
        const char **etags = calloc((size_t)u->nparts, sizeof(*etags));
        if (!etags) {
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
            goto fail;
        }
        for (int i = 0; i < u->nparts; i++)
            etags[i] = u->parts[i].etag;
        body = vodq_xml_complete_body(etags, (size_t)u->nparts);
        free(etags);
    }
    if (!body) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    req.body = (const unsigned char *)body;
    req.body_len = strlen(body);
    rc = send_sync(u, &req, "CompleteMultipartUpload", &f, err);
    if (rc != VODQ_OK && f == F_NOSUCHUPLOAD) {
        /* OSS finishes a Complete whose client went away, so a retried
         * Complete can find the upload gone: the object may be there. */
        rc = complete_check_object(u, res, err);
        if (rc == VODQ_ERR_NOTFOUND)
            *lost = true;
        goto fail;
    }
    if (rc != VODQ_OK)
        goto fail;
    /* 200 can still carry an <Error> (S3 sends it after keep-alive spaces). */
    char code[128] = "", msg[200] = "";
    if (vodq_xml_error(req.resp, req.resp_len, code, sizeof(code), msg, sizeof(msg))) {
        rc = vodq_err_set(err, VODQ_ERR_HTTP, 200, "CompleteMultipartUpload: %s: %s", code, msg);
        goto fail;
    }
    char *location = NULL, *etag = NULL;
    rc = vodq_xml_complete_result(req.resp, req.resp_len, &location, &etag, err);
    if (rc != VODQ_OK) {
        vodq_err_prefix(err, "CompleteMultipartUpload reply");
        goto fail;
    }
    rc = finish_multipart(u, &req, location, etag, res, err);
    free(location);
    free(etag);
fail:
    free(body);
    vodq_http_req_cleanup(&req);
    return rc;
}

/* Cancelled before anything was sent: abort the upload the checkpoint
 * holds (when it is for this target) and delete the checkpoint. */
static enum vodq_rc cancel_early(struct up *u, struct vodq_err *err)
{
    struct loaded l;
    memset(&l, 0, sizeof(l));
    struct vodq_err e = {0};
    if (u->io && u->io->ckpt && u->io->ckpt->load(u->io->ckpt->opaque, on_field, &l, &e) == VODQ_OK &&
        l.upload_id && l.target && strcmp(l.target, u->ident) == 0) {
        if (abort_upload(u, l.upload_id, &e) != VODQ_OK)
            warn(u, e.msg);
    }
    loaded_free(&l);
    ck_clear(u);
    return vodq_err_set(err, VODQ_ERR_CANCELLED, 0, "upload cancelled");
}

/* A multipart upload that failed: it stays open (with its checkpoint) only
 * when a later attempt will resume it, i.e. a checkpoint is kept and the
 * failure is transient with attempts left (io->max_attempts), a pause, missing credentials (VODQ_ERR_AUTH, the
 * checkpoint waits for them) or a lost lease (the new owner resumes it).
 * Otherwise it is aborted and the checkpoint cleared, so that no upload id
 * is left open on the server. Returns rc. */
static enum vodq_rc abandon(struct up *u, enum vodq_rc rc, struct vodq_err *err)
{
    if (rc == VODQ_ERR_CANCELLED)
        return do_cancel(u, err);
    if (rc == VODQ_ERR_PAUSED || rc == VODQ_ERR_AUTH || rc == VODQ_ERR_FENCED || !u->upload_id)
        return rc;
    /* the last attempt's failure is final (step.lua sends the job to the
     * dead letters): nothing will resume it */
    bool last = u->io && u->io->max_attempts > 0 && u->io->attempt >= u->io->max_attempts;
    bool resumable = u->io && u->io->ckpt && vodq_err_retryable(err) && !last;
    if (resumable)
        return rc;
    cancel_all(u);
    struct vodq_err e = {0};
    if (abort_upload(u, u->upload_id, &e) != VODQ_OK)
        warn(u, e.msg);
    ck_clear(u);
    return rc;
}

static enum vodq_rc do_multipart(struct up *u, cJSON *res, struct vodq_err *err)
{
    u->slots = calloc((size_t)u->o.parallel, sizeof(*u->slots));
    if (!u->slots)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    for (int i = 0; i < u->o.parallel; i++)
        u->slots[i].part = -1;
    enum vodq_rc rc = resume_or_init(u, err);
    if (rc == VODQ_ERR_CANCELLED)
        return do_cancel(u, err);
    if (rc != VODQ_OK)
        return abandon(u, rc, err);
    report(u);
    for (;;) {
        rc = send_parts(u, err);
        if (rc != VODQ_OK)
            return abandon(u, rc, err);
        bool lost = false;
        rc = complete(u, res, &lost, err);
        if (rc == VODQ_ERR_CANCELLED)
            return do_cancel(u, err);
        if (rc == VODQ_OK) {
            ck_clear(u);
            return VODQ_OK;
        }
        if (!lost)
            return abandon(u, rc, err);
        rc = restart_fresh(u, "the upload id vanished before it was completed; starting over",
                           err);
        if (rc != VODQ_OK)
            return abandon(u, rc, err);
    }
}

/* ---- PutObject ---- */

static enum vodq_rc do_put(struct up *u, cJSON *res, struct vodq_err *err)
{
    uint64_t crc = 0;
    unsigned char md5[16];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    EVP_DigestInit_ex(md, EVP_md5(), NULL);
    bool oss = u->t.kind == VODQ_TARGET_OSS;
    enum vodq_rc rc = digest_range(u, oss ? NULL : md, oss ? &crc : NULL, 0, u->size, err);
    unsigned int ml = 0;
    EVP_DigestFinal_ex(md, md5, &ml);
    EVP_MD_CTX_free(md);
    if (rc != VODQ_OK)
        return rc;

    struct vodq_http_req req;
    struct rctx c;
    enum fail f;
    rc = req_setup(u, &req, &c, "PUT", NULL, err);
    if (rc == VODQ_OK) {
        c.ctype = u->o.content_type;
        if (u->t.kind == VODQ_TARGET_S3)
            EVP_EncodeBlock((unsigned char *)c.md5_b64, md5, 16);
        req.body_from_fd = true;
        req.body_fd = u->fd;
        req.body_fd_off = 0;
        req.body_len = (size_t)u->size;
        report(u);
        rc = send_sync(u, &req, "PutObject", &f, err);
    }
    if (rc == VODQ_OK) {
        u->acked = u->size;
        report(u);
        char etag[128] = "";
        vodq_http_resp_header(&req, "ETag", etag, sizeof(etag));
        rc = verify_object(u, &req, etag, crc, md5, err);
        if (rc == VODQ_OK) {
            char cs[32];
            snprintf(cs, sizeof(cs), "%" PRIu64, crc);
            char *url = vodq_target_url(&u->t, NULL);
            cJSON_AddStringToObject(res, "location", url ? url : "");
            free(url);
            cJSON_AddStringToObject(res, "etag", etag);
            if (oss)
                cJSON_AddStringToObject(res, "crc64", cs);
            cJSON_AddNumberToObject(res, "parts", 0);
        }
    }
    vodq_http_req_cleanup(&req);
    return rc;
}

/* ---- Spec ---- */

static const char *ctype_for(const char *path)
{
    static const char *const map[][2] = {
        {".mp4", "video/mp4"},   {".m4v", "video/mp4"},       {".mov", "video/quicktime"},
        {".webm", "video/webm"}, {".mkv", "video/x-matroska"}, {".ts", "video/mp2t"},
        {".m3u8", "application/x-mpegURL"}, {".flv", "video/x-flv"}, {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"}, {".png", "image/png"},       {".gif", "image/gif"},
        {".webp", "image/webp"}, {".mp3", "audio/mpeg"},      {".m4a", "audio/mp4"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
            if (strcasecmp(dot, map[i][0]) == 0)
                return map[i][1];
    return "application/octet-stream";
}

static enum vodq_rc get_int(const cJSON *root, const char *name, int64_t def, int64_t lo,
                            int64_t hi, int64_t *out, struct vodq_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    *out = def;
    if (!v || cJSON_IsNull(v))
        return VODQ_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.%s: must be an integer", name);
    int64_t x = (int64_t)v->valuedouble;
    if (x < lo || x > hi)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "upload.%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
                            name, x, lo, hi);
    *out = x;
    return VODQ_OK;
}

static enum vodq_rc parse_opts(struct up *u, const char *spec_json, struct vodq_err *err)
{
    static const char *const keys[] = {
        "file",        "kind",         "content_type", "vod",           "s3",        "part_size",
        "parallel",    "wait_auth_s",  "auth_warn_s",  "max_attempts",  "retry_base_ms",
        "timeout_s",   "max_send_bps", NULL};
    enum vodq_rc rc = VODQ_OK;
    cJSON *root = cJSON_Parse(spec_json ? spec_json : "");
    if (!root || !cJSON_IsObject(root)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload: spec is not a JSON object");
        goto done;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        bool known = false;
        for (const char *const *k = keys; *k; k++)
            known |= strcmp(*k, it->string) == 0;
        if (!known) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.%s: unknown field", it->string);
            goto done;
        }
    }
    if (u->src && !cJSON_GetObjectItemCaseSensitive(root, "file"))
        cJSON_AddStringToObject(root, "file", "render.mp4"); /* what the source writes */
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(root, "file");
    if (!cJSON_IsString(file) || !file->valuestring[0]) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.file: missing (the path to upload)");
        goto done;
    }
    u->o.file = strdup(file->valuestring);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (kind && !cJSON_IsNull(kind)) {
        if (!cJSON_IsString(kind) ||
            (strcmp(kind->valuestring, "video") != 0 && strcmp(kind->valuestring, "image") != 0)) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.kind: must be \"video\" or \"image\"");
            goto done;
        }
        u->o.image = strcmp(kind->valuestring, "image") == 0;
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "content_type");
    if (ct && !cJSON_IsNull(ct) && (!cJSON_IsString(ct) || !ct->valuestring[0])) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.content_type: must be a string");
        goto done;
    }
    u->o.content_type = strdup(ct && cJSON_IsString(ct) ? ct->valuestring : ctype_for(u->o.file));
    if (!u->o.file || !u->o.content_type) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    const struct {
        const char *name;
        int64_t def, lo, hi;
        int64_t *dst;
    } ints[] = {
        {"part_size", 8 * MIB, OSS_MIN_PART, MAX_PART, &u->o.part_size},
        {"parallel", 4, 1, 64, &u->o.parallel},
        {"wait_auth_s", 300, 0, 7 * 86400, &u->o.wait_auth_s},
        {"auth_warn_s", 300, 0, 86400, &u->o.auth_warn_s},
        {"max_attempts", 6, 1, 100, &u->o.max_attempts},
        {"retry_base_ms", 250, 1, 60000, &u->o.retry_base_ms},
        {"timeout_s", 20, 1, 3600, &u->o.timeout_s},
        {"max_send_bps", 0, 0, INT64_C(1) << 40, &u->o.max_send_bps},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if ((rc = get_int(root, ints[i].name, ints[i].def, ints[i].lo, ints[i].hi, ints[i].dst,
                          err)) != VODQ_OK)
            goto done;
    rc = vodq_target_parse(&u->t, spec_json, err);
    if (rc != VODQ_OK)
        goto done;
    if (u->t.kind == VODQ_TARGET_S3 && u->o.part_size < S3_MIN_PART) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "upload.part_size: %" PRId64 " is below the S3 minimum part size of "
                          "5 MiB (5242880)",
                          u->o.part_size);
        goto done;
    }
done:
    if (rc != VODQ_OK && err)
        err->permanent = err->code == VODQ_ERR_INVALID;
    cJSON_Delete(root);
    return rc;
}

/* ---- Entry point ---- */

static void up_cleanup(struct up *u)
{
    if (u->slots) {
        for (int i = 0; i < u->o.parallel; i++) {
            if (u->slots[i].part >= 0)
                vodq_http_cancel(u->h, &u->slots[i].req);
            vodq_http_req_cleanup(&u->slots[i].req);
            free(u->slots[i].buf);
        }
        free(u->slots);
    }
    vodq_http_free(u->h);
    if (u->fd >= 0)
        close(u->fd);
    free(u->parts);
    free(u->upload_id);
    free(u->o.file);
    free(u->o.content_type);
    vodq_target_cleanup(&u->t);
}

static enum vodq_rc run(const char *spec_json, const struct vodq_upload_source *src,
                        struct vodq_task_io *io, struct vodq_task_result *result,
                        struct vodq_err *err)
{
    struct up u;
    memset(&u, 0, sizeof(u));
    u.fd = -1;
    u.io = io;
    u.src = src;
    cJSON *res = NULL;
    if (result)
        result->result_json = NULL;
    enum vodq_rc rc = parse_opts(&u, spec_json, err);
    if (rc == VODQ_OK && src && u.o.image) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.kind: a render is uploaded as \"video\"");
        err->permanent = true;
    }
    if (rc != VODQ_OK)
        goto fail;
    if (src)
        goto opened;

    /* the file must resolve inside the worker's path roots; what was
     * checked (symlinks resolved) is what is opened */
    char real[PATH_MAX];
    rc = vodq_roots_check(io ? io->roots : NULL, "upload.file", u.o.file, VODQ_ROOTS_READ, real,
                          sizeof(real), err);
    if (rc != VODQ_OK)
        goto fail;
    bool confined = io && io->roots && io->roots->n > 0;
    u.fd = open(real, O_RDONLY | O_CLOEXEC | (confined ? O_NOFOLLOW : 0));
    struct stat st;
    if (u.fd < 0 || fstat(u.fd, &st) != 0) {
        int e = errno;
        rc = vodq_err_set(err, e == ENOENT ? VODQ_ERR_NOTFOUND : VODQ_ERR_IO, e,
                          "upload.file %s: cannot open: %s", u.o.file, strerror(e));
        err->permanent = e == ENOENT || e == EACCES || e == EISDIR;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.file %s: not a regular file", u.o.file);
        err->permanent = true;
        goto fail;
    }
    u.size = (int64_t)st.st_size;
    u.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    /* No more than 10000 parts: raise the part size (to whole MiB) if needed. */
    if (u.size > u.o.part_size * MAX_PARTS) {
        int64_t ps = (u.size + MAX_PARTS - 1) / MAX_PARTS;
        u.o.part_size = (ps + MIB - 1) / MIB * MIB;
    }
opened:
    vodq_target_identity(&u.t, u.ident, sizeof(u.ident));

    struct vodq_http_opts ho = {
        .max_attempts = (int)u.o.max_attempts,
        .backoff_base_ms = (long)u.o.retry_base_ms,
        .stall_timeout_ms = (long)u.o.timeout_s * 1000,
        .max_send_bps = u.o.max_send_bps > 0 ? (u.o.max_send_bps + u.o.parallel - 1) / u.o.parallel : 0,
        .on_retry = on_retry,
        .retry_arg = &u,
    };
    u.h = vodq_http_new(&ho, err);
    if (!u.h) {
        rc = err ? err->code : VODQ_ERR_OOM;
        goto fail;
    }
    res = cJSON_CreateObject();
    if (!res) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    check_expiring(&u);
    if (control(&u) == VODQ_CTL_CANCEL)
        rc = cancel_early(&u, err);
    else if (!src && (u.o.image || u.size <= u.o.part_size))
        rc = do_put(&u, res, err);
    else
        rc = do_multipart(&u, res, err);
    if (rc != VODQ_OK)
        goto fail;
    cJSON_AddStringToObject(res, "bucket", u.t.bucket);
    cJSON_AddStringToObject(res, "key", u.t.key);
    cJSON_AddNumberToObject(res, "bytes", (double)u.size);
    if (result) {
        result->result_json = cJSON_PrintUnformatted(res);
        if (!result->result_json) {
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
            goto fail;
        }
    }
    cJSON_Delete(res);
    up_cleanup(&u);
    return VODQ_OK;
fail:
    cJSON_Delete(res);
    up_cleanup(&u);
    return rc;
}

enum vodq_rc vodq_upload_run(const char *spec_json, struct vodq_task_io *io,
                             struct vodq_task_result *result, struct vodq_err *err)
{
    return run(spec_json, NULL, io, result, err);
}

enum vodq_rc vodq_upload_run_source(const char *spec_json, const struct vodq_upload_source *src,
                                    struct vodq_task_io *io, struct vodq_task_result *result,
                                    struct vodq_err *err)
{
    return run(spec_json, src, io, result, err);
}
