/* sign.c: OSS V4, OSS V1 and AWS SigV4 request signing (see sign.h). */
#include "worker/upload/sign.h"

#include "worker/upload/http.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ITEMS 128

/* ---- A growing string ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sbuf *b, char c)
{
    sb_putn(b, &c, 1);
}

/* Wipes and frees (a string-to-sign can hold a security token). */
static void sb_free(struct sbuf *b)
{
    if (b->p)
        OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- Encoding helpers ---- */

/* Percent-decodes s[0..n) into a new string ('+' stays '+'). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2]) && sscanf(s + i + 1, "%2x", &v) == 1) {
            *o++ = (char)v;
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

void vodq_sign_hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void hmac256(const void *key, size_t klen, const char *data, unsigned char out[32])
{
    unsigned int l = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, strlen(data), out, &l);
}

/* ---- Headers ---- */

struct hdr {
    char *name;  /* lower case */
    char *value; /* trimmed */
};

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

static void hdrs_free(struct hdr *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        if (h[i].value)
            OPENSSL_cleanse(h[i].value, strlen(h[i].value));
        free(h[i].value);
    }
    free(h);
}

/* Parses "Name: value" / "Name;" (curl's empty value) lines into sorted
 * lower-case pairs; "Name:" (curl's "do not send") lines are skipped.
 * Repeated names are joined with ','. */
static enum vodq_rc hdrs_parse(const char *const *lines, size_t n, struct hdr **out,
                               size_t *nout, struct vodq_err *err)
{
    struct hdr *h = calloc(n ? n : 1, sizeof(*h));
    size_t k = 0;
    if (!h)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *l = lines[i];
        size_t nl = strcspn(l, ":;");
        if (nl == 0)
            continue;
        const char *v;
        if (l[nl] == ';' && l[nl + 1] == '\0') {
            v = "";
        } else if (l[nl] == ':') {
            v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (!*v)
                continue; /* curl: a header with nothing after ':' is not sent */
        } else {
            continue;
        }
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r' ||
                      v[vl - 1] == '\n'))
            vl--;
        char *name = strndup(l, nl);
        if (!name)
            goto oom;
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        struct hdr *same = NULL;
        for (size_t j = 0; j < k; j++)
            if (strcmp(h[j].name, name) == 0)
                same = &h[j];
        if (same) {
            size_t ol = strlen(same->value);
            char *nv = malloc(ol + 1 + vl + 1);
            free(name);
            if (!nv)
                goto oom;
            memcpy(nv, same->value, ol);
            nv[ol] = ',';
            memcpy(nv + ol + 1, v, vl);
            nv[ol + 1 + vl] = '\0';
            OPENSSL_cleanse(same->value, ol);
            free(same->value);
            same->value = nv;
            continue;
        }
        h[k].name = name;
        h[k].value = strndup(v, vl);
        k++;
        if (!h[k - 1].value)
            goto oom;
    }
    qsort(h, k, sizeof(*h), hdr_cmp);
    *out = h;
    *nout = k;
    return VODQ_OK;
oom:
    hdrs_free(h, k);
    return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
}

static const char *hdr_get(const struct hdr *h, size_t n, const char *lname)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, lname) == 0)
            return h[i].value;
    return NULL;
}

/* ---- Query ---- */

struct qitem {
    char *key;   /* decoded */
    char *value; /* decoded; NULL when the item had no '=' */
    char *ekey, *evalue; /* RFC 3986 encoded ('/' encoded too) */
};

static int qitem_cmp(const void *a, const void *b)
{
    return strcmp(((const struct qitem *)a)->ekey, ((const struct qitem *)b)->ekey);
}

static int qitem_cmp_raw(const void *a, const void *b)
{
    return strcmp(((const struct qitem *)a)->key, ((const struct qitem *)b)->key);
}

static void query_free(struct qitem *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(q[i].key);
        free(q[i].value);
        free(q[i].ekey);
        free(q[i].evalue);
    }
    free(q);
}

/* Splits an encoded query ("a=b&c") into items sorted by encoded key. */
static enum vodq_rc query_parse(const char *query, struct qitem **out, size_t *nout,
                                struct vodq_err *err)
{
    size_t cap = 1;
    for (const char *p = query ? query : ""; *p; p++)
        cap += *p == '&';
    struct qitem *q = calloc(cap, sizeof(*q));
    size_t n = 0;
    if (!q)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    const char *p = query ? query : "";
    while (*p) {
        size_t il = strcspn(p, "&");
        if (il > 0) {
            size_t kl = strcspn(p, "=&");
            struct qitem *it = &q[n++];
            it->key = pct_decode(p, kl);
            if (kl < il)
                it->value = pct_decode(p + kl + 1, il - kl - 1);
            if (!it->key || (kl < il && !it->value))
                goto oom;
            it->ekey = vodq_target_encode(it->key, false);
            it->evalue = vodq_target_encode(it->value ? it->value : "", false);
            if (!it->ekey || !it->evalue)
                goto oom;
        }
        p += il;
        if (*p == '&')
            p++;
    }
    qsort(q, n, sizeof(*q), qitem_cmp);
    *out = q;
    *nout = n;
    return VODQ_OK;
oom:
    query_free(q, n);
    return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
}

/* ---- OSS V1 ---- */

/* Sub-resources signed by V1 (Go v2 and C SDK lists, plus resourceGroup). */
static const char *const v1_subres[] = {
    "acl", "append", "bucketInfo", "callback", "callback-var", "cloudboxes", "comp",
    "continuation-token", "cors", "delete", "endTime", "lifecycle", "live", "location",
    "logging", "objectMeta", "partNumber", "position", "qos", "referer", "regionList",
    "resourceGroup", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "security-token", "sequential", "startTime", "stat",
    "status", "symlink", "tagging", "uploadId", "uploads", "versionId", "versioning", "versions",
    "vod", "website", "x-oss-process", NULL};

static bool v1_signed_param(const char *k)
{
    if (strncmp(k, "x-oss-", 6) == 0)
        return true;
    for (const char *const *s = v1_subres; *s; s++)
        if (strcmp(*s, k) == 0)
            return true;
    return false;
}

static enum vodq_rc sign_v1(const struct vodq_sign_input *in, const struct hdr *h, size_t nh,
                            struct qitem *q, size_t nq, struct sbuf *sts, struct vodq_err *err)
{
    const char *date = in->date;
    if (!date)
        date = hdr_get(h, nh, "date");
    if (!date)
        date = hdr_get(h, nh, "x-oss-date");
    if (!date)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "OSS V1 signing: no Date header");
    const char *md5 = hdr_get(h, nh, "content-md5");
    const char *ctype = hdr_get(h, nh, "content-type");
    sb_puts(sts, in->method);
    sb_putc(sts, '\n');
    sb_puts(sts, md5 ? md5 : "");
    sb_putc(sts, '\n');
    sb_puts(sts, ctype ? ctype : "");
    sb_putc(sts, '\n');
    sb_puts(sts, date);
    sb_putc(sts, '\n');
    for (size_t i = 0; i < nh; i++) {
        if (strncmp(h[i].name, "x-oss-", 6) != 0)
            continue;
        sb_puts(sts, h[i].name);
        sb_putc(sts, ':');
        sb_puts(sts, h[i].value);
        sb_putc(sts, '\n');
    }
    sb_putc(sts, '/');
    if (in->bucket && *in->bucket) {
        sb_puts(sts, in->bucket);
        sb_putc(sts, '/');
        if (in->key)
            sb_puts(sts, in->key);
    }
    qsort(q, nq, sizeof(*q), qitem_cmp_raw);
    char sep = '?';
    for (size_t i = 0; i < nq; i++) {
        if (!v1_signed_param(q[i].key))
            continue;
        sb_putc(sts, sep);
        sep = '&';
        sb_puts(sts, q[i].key);
        if (q[i].value && *q[i].value) {
            sb_putc(sts, '=');
            sb_puts(sts, q[i].value);
        }
    }
    return VODQ_OK;
}

/* ---- V4 (OSS and AWS) ---- */

static bool in_list(const char *list, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t l = strcspn(p, ";");
        if (l == nl && strncasecmp(p, name, nl) == 0)
            return true;
        p += l;
        if (*p == ';')
            p++;
    }
    return false;
}

static bool oss_default_signed(const char *n)
{
    return strcmp(n, "content-type") == 0 || strcmp(n, "content-md5") == 0 ||
           strncmp(n, "x-oss-", 6) == 0;
}

/* Canonical request and AdditionalHeaders/SignedHeaders list. */
static enum vodq_rc canon_v4(const struct vodq_sign_input *in, bool oss, const struct hdr *h,
                             size_t nh, const struct qitem *q, size_t nq, struct sbuf *c,
                             struct sbuf *names, const char **hashed, struct vodq_err *err)
{
    const char *date_h = oss ? "x-oss-date" : "x-amz-date";
    const char *sha_h = oss ? "x-oss-content-sha256" : "x-amz-content-sha256";
    if (!in->date && !hdr_get(h, nh, date_h))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s signing: no %s header",
                            oss ? "OSS V4" : "AWS SigV4", date_h);
    *hashed = in->payload_hash ? in->payload_hash : hdr_get(h, nh, sha_h);
    if (!*hashed) {
        if (!oss)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "AWS SigV4 signing: no %s header",
                                sha_h);
        *hashed = "UNSIGNED-PAYLOAD";
    }
    sb_puts(c, in->method);
    sb_putc(c, '\n');
    /* CanonicalURI */
    char *uri;
    if (oss) {
        struct sbuf raw = {0};
        sb_putc(&raw, '/');
        if (in->bucket && *in->bucket) {
            sb_puts(&raw, in->bucket);
            sb_putc(&raw, '/');
            if (in->key)
                sb_puts(&raw, in->key);
        }
        uri = raw.oom ? NULL : vodq_target_encode(raw.p, true);
        sb_free(&raw);
    } else {
        const char *path = in->path && *in->path ? in->path : "/";
        char *dec = pct_decode(path, strlen(path));
        uri = dec ? vodq_target_encode(dec, true) : NULL;
        free(dec);
    }
    if (!uri)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    sb_puts(c, uri);
    free(uri);
    sb_putc(c, '\n');
    /* CanonicalQueryString */
    for (size_t i = 0; i < nq; i++) {
        if (i)
            sb_putc(c, '&');
        sb_puts(c, q[i].ekey);
        if (!oss || *q[i].evalue) {
            sb_putc(c, '=');
            sb_puts(c, q[i].evalue);
        }
    }
    sb_putc(c, '\n');
    /* CanonicalHeaders; names = AdditionalHeaders (OSS) or SignedHeaders (AWS) */
    bool host_done = false;
    for (size_t i = 0; i <= nh; i++) {
        /* AWS: "host" from in->host slots in at its sorted place unless given as a header */
        if (!oss && !host_done && (i == nh || strcmp(h[i].name, "host") >= 0)) {
            host_done = true;
            if (i == nh || strcmp(h[i].name, "host") != 0) {
                if (!in->host || !*in->host)
                    return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                        "AWS SigV4 signing: no host");
                sb_puts(c, "host:");
                sb_puts(c, in->host);
                sb_putc(c, '\n');
                if (names->len)
                    sb_putc(names, ';');
                sb_puts(names, "host");
            }
        }
        if (i == nh)
            break;
        bool sign;
        if (oss)
            sign = oss_default_signed(h[i].name) || in_list(in->additional_headers, h[i].name);
        else
            sign = strcmp(h[i].name, "authorization") != 0;
        if (!sign)
            continue;
        sb_puts(c, h[i].name);
        sb_putc(c, ':');
        sb_puts(c, h[i].value);
        sb_putc(c, '\n');
        if (oss && oss_default_signed(h[i].name))
            continue;
        if (names->len)
            sb_putc(names, ';');
        sb_puts(names, h[i].name);
    }
    sb_putc(c, '\n');
    sb_puts(c, names->p ? names->p : "");
    sb_putc(c, '\n');
    sb_puts(c, *hashed);
    return VODQ_OK;
}

static enum vodq_rc sign_v4(const struct vodq_sign_input *in, bool oss, const struct hdr *h,
                            size_t nh, const struct qitem *q, size_t nq, bool want_text,
                            struct vodq_sign_output *out, struct vodq_err *err)
{
    struct sbuf c = {0}, names = {0}, sts = {0}, k0 = {0};
    const char *hashed;
    enum vodq_rc rc = canon_v4(in, oss, h, nh, q, nq, &c, &names, &hashed, err);
    if (rc != VODQ_OK)
        goto done;
    const char *date = in->date ? in->date : hdr_get(h, nh, oss ? "x-oss-date" : "x-amz-date");
    if (strlen(date) != 16 || date[8] != 'T' || date[15] != 'Z') {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "%s signing: date \"%.40s\" is not YYYYMMDDTHHMMSSZ",
                          oss ? "OSS V4" : "AWS SigV4", date);
        goto done;
    }
    char day[9];
    memcpy(day, date, 8);
    day[8] = '\0';
    const char *product = in->product ? in->product : oss ? "oss" : "s3";
    const char *term = oss ? "aliyun_v4_request" : "aws4_request";
    const char *region = in->region ? in->region : "";
    if (!*region) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s signing: no region",
                          oss ? "OSS V4" : "AWS SigV4");
        goto done;
    }
    unsigned char hash[32], k[32], sig[32];
    char hx[65], sighex[65];
    unsigned int hl = 32;
    if (c.oom || names.oom) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    EVP_Digest(c.p, c.len, hash, &hl, EVP_sha256(), NULL);
    vodq_sign_hex(hash, 32, hx);
    sb_puts(&sts, oss ? "OSS4-HMAC-SHA256\n" : "AWS4-HMAC-SHA256\n");
    sb_puts(&sts, date);
    sb_putc(&sts, '\n');
    sb_puts(&sts, day);
    sb_putc(&sts, '/');
    sb_puts(&sts, region);
    sb_putc(&sts, '/');
    sb_puts(&sts, product);
    sb_putc(&sts, '/');
    sb_puts(&sts, term);
    sb_putc(&sts, '\n');
    sb_puts(&sts, hx);
    sb_puts(&k0, oss ? "aliyun_v4" : "AWS4");
    sb_puts(&k0, in->secret_key ? in->secret_key : "");
    if (sts.oom || k0.oom) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    hmac256(k0.p, k0.len, day, k);
    hmac256(k, 32, region, k);
    hmac256(k, 32, product, k);
    hmac256(k, 32, term, k);
    hmac256(k, 32, sts.p, sig);
    OPENSSL_cleanse(k, sizeof(k));
    vodq_sign_hex(sig, 32, sighex);
    int n;
    if (oss)
        n = snprintf(out->authorization, sizeof(out->authorization),
                     "OSS4-HMAC-SHA256 Credential=%s/%s/%s/%s/%s%s%s,Signature=%s",
                     in->access_key, day, region, product, term,
                     names.len ? ",AdditionalHeaders=" : "", names.len ? names.p : "", sighex);
    else
        n = snprintf(out->authorization, sizeof(out->authorization),
                     "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/%s,SignedHeaders=%s,Signature=%s",
                     in->access_key, day, region, product, term, names.p ? names.p : "",
                     sighex);
    if (n < 0 || (size_t)n >= sizeof(out->authorization)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: Authorization header too long");
        goto done;
    }
    if (want_text) {
        out->canonical = strdup(c.p);
        out->string_to_sign = strdup(sts.p);
        if (!out->canonical || !out->string_to_sign)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
done:
    sb_free(&c);
    sb_free(&names);
    sb_free(&sts);
    sb_free(&k0);
    return rc;
}

/* ---- Public ---- */

void vodq_sign_output_cleanup(struct vodq_sign_output *out)
{
    if (!out)
        return;
    free(out->canonical);
    if (out->string_to_sign)
        OPENSSL_cleanse(out->string_to_sign, strlen(out->string_to_sign));
    free(out->string_to_sign);
    memset(out, 0, sizeof(*out));
}

enum vodq_rc vodq_sign_compute(const struct vodq_sign_input *in, bool want_text,
                               struct vodq_sign_output *out, struct vodq_err *err)
{
    struct hdr *h = NULL;
    struct qitem *q = NULL;
    size_t nh = 0, nq = 0;
    memset(out, 0, sizeof(*out));
    if (!in->method || !in->access_key || !in->secret_key)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: method or credentials missing");
    enum vodq_rc rc = hdrs_parse(in->headers, in->n_headers, &h, &nh, err);
    if (rc == VODQ_OK)
        rc = query_parse(in->query, &q, &nq, err);
    if (rc != VODQ_OK)
        goto done;
    if (in->sig == VODQ_SIG_OSS_V1) {
        struct sbuf sts = {0};
        rc = sign_v1(in, h, nh, q, nq, &sts, err);
        if (rc == VODQ_OK && sts.oom)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        if (rc == VODQ_OK) {
            unsigned char mac[20];
            unsigned int l = 20;
            char b64[32];
            HMAC(EVP_sha1(), in->secret_key, (int)strlen(in->secret_key),
                 (const unsigned char *)sts.p, sts.len, mac, &l);
            EVP_EncodeBlock((unsigned char *)b64, mac, 20);
            int n = snprintf(out->authorization, sizeof(out->authorization), "OSS %s:%s",
                             in->access_key, b64);
            if (n < 0 || (size_t)n >= sizeof(out->authorization))
                rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                  "signing: Authorization header too long");
            if (rc == VODQ_OK && want_text && !(out->string_to_sign = strdup(sts.p)))
                rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        }
        sb_free(&sts);
    } else if (in->sig == VODQ_SIG_OSS_V4 || in->sig == VODQ_SIG_AWS_V4) {
        rc = sign_v4(in, in->sig == VODQ_SIG_OSS_V4, h, nh, q, nq, want_text, out, err);
    } else {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: unknown signature kind %d",
                          (int)in->sig);
    }
done:
    if (rc != VODQ_OK)
        vodq_sign_output_cleanup(out);
    hdrs_free(h, nh);
    query_free(q, nq);
    return rc;
}

static bool has_header(const struct vodq_http_req *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strncasecmp(req->headers[i], name, nl) == 0 &&
            (req->headers[i][nl] == ':' || req->headers[i][nl] == ';'))
            return true;
    return false;
}

enum vodq_rc vodq_sign_request(const struct vodq_target *t, struct vodq_http_req *req,
                               const char *query, time_t now, struct vodq_err *err)
{
    struct tm tm;
    char iso[32], gmt[64];
    enum vodq_rc rc = VODQ_OK;
    if (!gmtime_r(&now, &tm))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: bad time");
    strftime(iso, sizeof(iso), "%Y%m%dT%H%M%SZ", &tm);
    strftime(gmt, sizeof(gmt), "%a, %d %b %Y %H:%M:%S GMT", &tm);

    /* The path of the URL, without the query; decoded for the OSS resource. */
    const char *sep = req->url ? strstr(req->url, "://") : NULL;
    const char *path = sep ? strchr(sep + 3, '/') : NULL;
    size_t plen = path ? strcspn(path, "?#") : 0;
    char *dpath = path ? pct_decode(path, plen) : strdup("/");
    if (!dpath)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");

    struct vodq_sign_input in;
    memset(&in, 0, sizeof(in));
    in.sig = t->sig;
    in.method = req->method;
    in.host = t->host;
    in.query = query;
    in.region = t->region;
    in.access_key = t->access_key;
    in.secret_key = t->secret_key;
    in.path = path ? NULL : "/";
    char *pathcopy = NULL;
    char *bucket = NULL;
    const char *key = NULL;
    if (t->kind == VODQ_TARGET_S3 || t->sig == VODQ_SIG_AWS_V4) {
        pathcopy = path ? strndup(path, plen) : strdup("/");
        if (!pathcopy) {
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
            goto done;
        }
        in.path = pathcopy;
    } else if (t->path_style) {
        /* "/bucket/key..." */
        const char *b = dpath[0] == '/' ? dpath + 1 : dpath;
        size_t bl = strcspn(b, "/");
        bucket = strndup(b, bl);
        key = b[bl] == '/' ? b + bl + 1 : "";
    } else {
        bucket = strdup(t->bucket ? t->bucket : "");
        key = dpath[0] == '/' ? dpath + 1 : dpath;
    }
    if (!pathcopy && !bucket) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    in.bucket = bucket;
    in.key = key;

    if (t->sig == VODQ_SIG_OSS_V1) {
        if (!has_header(req, "Date"))
            rc = vodq_http_req_add_header(req, "Date", gmt, err);
        if (rc == VODQ_OK && t->token)
            rc = vodq_http_req_add_header(req, "x-oss-security-token", t->token, err);
    } else if (t->sig == VODQ_SIG_OSS_V4 || t->sig == VODQ_SIG_AWS_V4) {
        const char *pfx = t->sig == VODQ_SIG_OSS_V4 ? "x-oss" : "x-amz";
        char name[32];
        snprintf(name, sizeof(name), "%s-date", pfx);
        rc = vodq_http_req_add_header(req, name, iso, err);
        snprintf(name, sizeof(name), "%s-content-sha256", pfx);
        if (rc == VODQ_OK && !has_header(req, name))
            rc = vodq_http_req_add_header(req, name, "UNSIGNED-PAYLOAD", err);
        snprintf(name, sizeof(name), "%s-security-token", pfx);
        if (rc == VODQ_OK && t->token)
            rc = vodq_http_req_add_header(req, name, t->token, err);
    } else {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: unknown signature kind %d",
                          (int)t->sig);
    }
    if (rc != VODQ_OK)
        goto done;
    in.headers = (const char *const *)req->headers;
    in.n_headers = req->n_headers;
    struct vodq_sign_output out;
    rc = vodq_sign_compute(&in, false, &out, err);
    if (rc == VODQ_OK)
        rc = vodq_http_req_add_header(req, "Authorization", out.authorization, err);
    OPENSSL_cleanse(&out, sizeof(out));
done:
    free(dpath);
    free(pathcopy);
    free(bucket);
    return rc;
}
