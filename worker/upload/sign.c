/* sign.c: OSS V4, OSS V1 and AWS SigV4 request signing (see sign.h). */
#include "worker/upload/sign.h"

#include "worker/upload/http.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctype.h>
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
    if (s)
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
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hx[3] = {s[i + 1], s[i + 2], '\0'};
            *o++ = (char)strtoul(hx, NULL, 16);
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

/* Splits one "Name: value" / "Name;" (curl's empty value) line: the name
 * length and the trimmed value. False for lines curl does not send
 * ("Name:" with nothing after the colon) and malformed ones. */
static bool hdr_split(const char *l, size_t *nl, const char **v, size_t *vl)
{
    *nl = strcspn(l, ":;");
    if (*nl == 0)
        return false;
    if (l[*nl] == ';' && l[*nl + 1] == '\0') {
        *v = "";
        *vl = 0;
        return true;
    }
    if (l[*nl] != ':')
        return false;
    *v = l + *nl + 1;
    while (**v == ' ' || **v == '\t')
        (*v)++;
    *vl = strlen(*v);
    while (*vl && strchr(" \t\r\n", (*v)[*vl - 1]))
        (*vl)--;
    return *vl > 0;
}

/* Appends ",value" to h's value (a repeated header). */
static bool hdr_join(struct hdr *h, const char *v, size_t vl)
{
    size_t ol = strlen(h->value);
    char *nv = malloc(ol + 1 + vl + 1);
    if (!nv)
        return false;
    snprintf(nv, ol + 1 + vl + 1, "%s,%.*s", h->value, (int)vl, v);
    OPENSSL_cleanse(h->value, ol);
    free(h->value);
    h->value = nv;
    return true;
}

/* Adds one request header line to h[0..*k) (room for it is there). */
static bool hdrs_add(struct hdr *h, size_t *k, const char *line)
{
    size_t nl, vl;
    const char *v;
    if (!hdr_split(line, &nl, &v, &vl))
        return true;
    char *name = strndup(line, nl);
    if (!name)
        return false;
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (size_t j = 0; j < *k; j++) {
        if (strcmp(h[j].name, name) == 0) {
            free(name);
            return hdr_join(&h[j], v, vl);
        }
    }
    h[*k].name = name;
    h[*k].value = strndup(v, vl);
    return h[(*k)++].value != NULL;
}

/* Parses request header lines into sorted lower-case pairs; lines curl
 * does not send are skipped, repeated names are joined with ','. */
static enum vodq_rc hdrs_parse(const char *const *lines, size_t n, struct hdr **out, size_t *nout,
                               struct vodq_err *err)
{
    struct hdr *h = calloc(n ? n : 1, sizeof(*h));
    size_t k = 0;
    if (!h)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!hdrs_add(h, &k, lines[i])) {
            hdrs_free(h, k + 1); /* a half-added entry is freed too */
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        }
    }
    qsort(h, k, sizeof(*h), hdr_cmp);
    *out = h;
    *nout = k;
    return VODQ_OK;
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
    char *key;           /* decoded */
    char *value;         /* decoded; NULL when the item had no '=' */
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
static const char *const v1_subres[] = {"acl",
                                        "append",
                                        "bucketInfo",
                                        "callback",
                                        "callback-var",
                                        "cloudboxes",
                                        "comp",
                                        "continuation-token",
                                        "cors",
                                        "delete",
                                        "endTime",
                                        "lifecycle",
                                        "live",
                                        "location",
                                        "logging",
                                        "objectMeta",
                                        "partNumber",
                                        "position",
                                        "qos",
                                        "referer",
                                        "regionList",
                                        "resourceGroup",
                                        "response-cache-control",
                                        "response-content-disposition",
                                        "response-content-encoding",
                                        "response-content-language",
                                        "response-content-type",
                                        "response-expires",
                                        "restore",
                                        "security-token",
                                        "sequential",
                                        "startTime",
                                        "stat",
                                        "status",
                                        "symlink",
                                        "tagging",
                                        "uploadId",
                                        "uploads",
                                        "versionId",
                                        "versioning",
                                        "versions",
                                        "vod",
                                        "website",
                                        "x-oss-process",
                                        NULL};

static bool v1_signed_param(const char *k)
{
    if (strncmp(k, "x-oss-", 6) == 0)
        return true;
    for (const char *const *s = v1_subres; *s; s++)
        if (strcmp(*s, k) == 0)
            return true;
    return false;
}

static enum vodq_rc v1_string_to_sign(const struct vodq_sign_input *in, const struct hdr *h,
                                      size_t nh, struct qitem *q, size_t nq, struct sbuf *sts,
                                      struct vodq_err *err)
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

static enum vodq_rc sign_v1(const struct vodq_sign_input *in, const struct hdr *h, size_t nh,
                            struct qitem *q, size_t nq, bool want_text,
                            struct vodq_sign_output *out, struct vodq_err *err)
{
    struct sbuf sts = {0};
    unsigned char mac[20];
    unsigned int l = 20;
    char b64[32];
    enum vodq_rc rc = v1_string_to_sign(in, h, nh, q, nq, &sts, err);
    if (rc == VODQ_OK && sts.oom)
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    if (rc != VODQ_OK)
        goto done;
    HMAC(EVP_sha1(), in->secret_key, (int)strlen(in->secret_key), (const unsigned char *)sts.p,
         sts.len, mac, &l);
    EVP_EncodeBlock((unsigned char *)b64, mac, 20);
    int n =
        snprintf(out->authorization, sizeof(out->authorization), "OSS %s:%s", in->access_key, b64);
    if (n < 0 || (size_t)n >= sizeof(out->authorization))
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: Authorization header too long");
    else if (want_text && !(out->string_to_sign = strdup(sts.p ? sts.p : "")))
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
done:
    sb_free(&sts);
    return rc;
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

/* The V4 credential scope. */
struct scope {
    bool oss;
    const char *date; /* YYYYMMDDTHHMMSSZ */
    char day[9];      /* YYYYMMDD */
    const char *region, *product, *term;
};

/* CanonicalURI: OSS "/bucket/key" encoded, AWS the path re-encoded once. */
static char *canon_uri(const struct vodq_sign_input *in, bool oss)
{
    if (!oss) {
        const char *path = in->path && *in->path ? in->path : "/";
        char *dec = pct_decode(path, strlen(path));
        char *uri = dec ? vodq_target_encode(dec, true) : NULL;
        free(dec);
        return uri;
    }
    struct sbuf raw = {0};
    sb_putc(&raw, '/');
    if (in->bucket && *in->bucket) {
        sb_puts(&raw, in->bucket);
        sb_putc(&raw, '/');
        sb_puts(&raw, in->key ? in->key : "");
    }
    char *uri = raw.oom ? NULL : vodq_target_encode(raw.p, true);
    sb_free(&raw);
    return uri;
}

/* CanonicalQueryString: sorted; OSS writes "key" for an empty value, AWS "key=". */
static void canon_query(struct sbuf *c, const struct qitem *q, size_t nq, bool oss)
{
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
}

/* Writes "name:value\n" to c and, when listed, the name to names. */
static void canon_header(struct sbuf *c, struct sbuf *names, const char *name, const char *value,
                         bool listed)
{
    sb_puts(c, name);
    sb_putc(c, ':');
    sb_puts(c, value);
    sb_putc(c, '\n');
    if (!listed)
        return;
    if (names->len)
        sb_putc(names, ';');
    sb_puts(names, name);
}

/* CanonicalHeaders, and in names the AdditionalHeaders (OSS: extra headers
 * the caller asked to sign) or SignedHeaders (AWS: host and every header). */
static enum vodq_rc canon_headers(const struct vodq_sign_input *in, bool oss, const struct hdr *h,
                                  size_t nh, struct sbuf *c, struct sbuf *names,
                                  struct vodq_err *err)
{
    bool need_host = !oss && !hdr_get(h, nh, "host");
    if (need_host && (!in->host || !*in->host))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "AWS SigV4 signing: no host");
    for (size_t i = 0; i < nh; i++) {
        if (need_host && strcmp(h[i].name, "host") > 0) {
            canon_header(c, names, "host", in->host, true);
            need_host = false;
        }
        if (oss && oss_default_signed(h[i].name))
            canon_header(c, names, h[i].name, h[i].value, false);
        else if (oss ? in_list(in->additional_headers, h[i].name)
                     : strcmp(h[i].name, "authorization") != 0)
            canon_header(c, names, h[i].name, h[i].value, true);
    }
    if (need_host)
        canon_header(c, names, "host", in->host, true);
    return VODQ_OK;
}

/* The whole canonical request into c, the header list into names. */
static enum vodq_rc canon_v4(const struct vodq_sign_input *in, bool oss, const struct hdr *h,
                             size_t nh, const struct qitem *q, size_t nq, struct sbuf *c,
                             struct sbuf *names, struct vodq_err *err)
{
    const char *sha_h = oss ? "x-oss-content-sha256" : "x-amz-content-sha256";
    const char *hashed = in->payload_hash ? in->payload_hash : hdr_get(h, nh, sha_h);
    if (!hashed && !oss)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "AWS SigV4 signing: no %s header", sha_h);
    char *uri = canon_uri(in, oss);
    if (!uri)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    sb_puts(c, in->method);
    sb_putc(c, '\n');
    sb_puts(c, uri);
    sb_putc(c, '\n');
    free(uri);
    canon_query(c, q, nq, oss);
    enum vodq_rc rc = canon_headers(in, oss, h, nh, c, names, err);
    sb_putc(c, '\n');
    sb_puts(c, names->p ? names->p : "");
    sb_putc(c, '\n');
    sb_puts(c, hashed ? hashed : "UNSIGNED-PAYLOAD");
    return rc;
}

/* Fills sc from the input and the date header; VODQ_ERR_INVALID naming
 * what is missing or malformed. */
static enum vodq_rc v4_scope(const struct vodq_sign_input *in, bool oss, const struct hdr *h,
                             size_t nh, struct scope *sc, struct vodq_err *err)
{
    const char *what = oss ? "OSS V4" : "AWS SigV4";
    const char *date_h = oss ? "x-oss-date" : "x-amz-date";
    sc->oss = oss;
    sc->date = in->date ? in->date : hdr_get(h, nh, date_h);
    if (!sc->date)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s signing: no %s header", what, date_h);
    if (strlen(sc->date) != 16 || sc->date[8] != 'T' || sc->date[15] != 'Z')
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "%s signing: date \"%.40s\" is not YYYYMMDDTHHMMSSZ", what, sc->date);
    snprintf(sc->day, sizeof(sc->day), "%.8s", sc->date);
    sc->region = in->region ? in->region : "";
    if (!*sc->region)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s signing: no region", what);
    sc->product = in->product ? in->product : oss ? "oss" : "s3";
    sc->term = oss ? "aliyun_v4_request" : "aws4_request";
    return VODQ_OK;
}

/* StringToSign over the canonical request c. */
static void v4_string_to_sign(struct sbuf *sts, const struct scope *sc, const struct sbuf *c)
{
    unsigned char hash[32];
    unsigned int hl = 32;
    char hx[65];
    EVP_Digest(c->p, c->len, hash, &hl, EVP_sha256(), NULL);
    vodq_sign_hex(hash, 32, hx);
    sb_puts(sts, sc->oss ? "OSS4-HMAC-SHA256\n" : "AWS4-HMAC-SHA256\n");
    sb_puts(sts, sc->date);
    sb_putc(sts, '\n');
    sb_puts(sts, sc->day);
    sb_putc(sts, '/');
    sb_puts(sts, sc->region);
    sb_putc(sts, '/');
    sb_puts(sts, sc->product);
    sb_putc(sts, '/');
    sb_puts(sts, sc->term);
    sb_putc(sts, '\n');
    sb_puts(sts, hx);
}

/* The hex signature of sts with the key derived from secret and the scope. */
static bool v4_signature(const char *secret, const struct scope *sc, const char *sts,
                         char sighex[65])
{
    struct sbuf k0 = {0};
    unsigned char k[32], sig[32];
    sb_puts(&k0, sc->oss ? "aliyun_v4" : "AWS4");
    sb_puts(&k0, secret ? secret : "");
    if (k0.oom) {
        sb_free(&k0);
        return false;
    }
    hmac256(k0.p, k0.len, sc->day, k);
    sb_free(&k0);
    hmac256(k, 32, sc->region, k);
    hmac256(k, 32, sc->product, k);
    hmac256(k, 32, sc->term, k);
    hmac256(k, 32, sts, sig);
    OPENSSL_cleanse(k, sizeof(k));
    vodq_sign_hex(sig, 32, sighex);
    return true;
}

static enum vodq_rc sign_v4(const struct vodq_sign_input *in, bool oss, const struct hdr *h,
                            size_t nh, const struct qitem *q, size_t nq, bool want_text,
                            struct vodq_sign_output *out, struct vodq_err *err)
{
    struct sbuf c = {0}, names = {0}, sts = {0};
    struct scope sc = {0};
    char sighex[65];
    int n = 0;
    enum vodq_rc rc = v4_scope(in, oss, h, nh, &sc, err);
    if (rc == VODQ_OK)
        rc = canon_v4(in, oss, h, nh, q, nq, &c, &names, err);
    if (rc != VODQ_OK)
        goto done;
    if (!c.oom && !names.oom)
        v4_string_to_sign(&sts, &sc, &c);
    if (c.oom || names.oom || sts.oom || !v4_signature(in->secret_key, &sc, sts.p, sighex)) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    if (oss)
        n = snprintf(out->authorization, sizeof(out->authorization),
                     "OSS4-HMAC-SHA256 Credential=%s/%s/%s/%s/%s%s%s,Signature=%s", in->access_key,
                     sc.day, sc.region, sc.product, sc.term, names.len ? ",AdditionalHeaders=" : "",
                     names.len ? names.p : "", sighex);
    else
        n = snprintf(out->authorization, sizeof(out->authorization),
                     "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/%s,SignedHeaders=%s,Signature=%s",
                     in->access_key, sc.day, sc.region, sc.product, sc.term, names.p ? names.p : "",
                     sighex);
    if (n < 0 || (size_t)n >= sizeof(out->authorization))
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: Authorization header too long");
    else if (want_text &&
             (!(out->canonical = strdup(c.p)) || !(out->string_to_sign = strdup(sts.p))))
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
done:
    sb_free(&c);
    sb_free(&names);
    sb_free(&sts);
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
        rc = sign_v1(in, h, nh, q, nq, want_text, out, err);
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

/* Where the request goes, as the signers want it: AWS the path as sent;
 * OSS the bucket and the raw (decoded) key, from the URL path ("/bucket/key"
 * in path style) or t->bucket (virtual host). *buf owns the strings. */
static bool request_resource(const struct vodq_target *t, const char *url,
                             struct vodq_sign_input *in, char **buf)
{
    const char *sep = url ? strstr(url, "://") : NULL;
    const char *path = sep ? strchr(sep + 3, '/') : NULL;
    size_t plen = path ? strcspn(path, "?#") : 1;
    if (!path)
        path = "/";
    if (t->sig == VODQ_SIG_AWS_V4) {
        in->path = *buf = strndup(path, plen);
        return *buf != NULL;
    }
    char *d = *buf = pct_decode(path, plen); /* "/key" or "/bucket/key" */
    if (!d)
        return false;
    if (!t->path_style) {
        in->bucket = t->bucket;
        in->key = d + 1;
        return true;
    }
    char *slash = strchr(d + 1, '/');
    if (slash)
        *slash = '\0';
    in->bucket = d + 1;
    in->key = slash ? slash + 1 : "";
    return true;
}

/* Adds the date, content-sha256 (V4) and security token headers. */
static enum vodq_rc add_auth_headers(const struct vodq_target *t, struct vodq_http_req *req,
                                     time_t now, struct vodq_err *err)
{
    struct tm tm;
    char date[64], name[32];
    enum vodq_rc rc = VODQ_OK;
    if (!gmtime_r(&now, &tm))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: bad time");
    if (t->sig == VODQ_SIG_OSS_V1) {
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!has_header(req, "Date"))
            rc = vodq_http_req_add_header(req, "Date", date, err);
        if (rc == VODQ_OK && t->token)
            rc = vodq_http_req_add_header(req, "x-oss-security-token", t->token, err);
        return rc;
    }
    if (t->sig != VODQ_SIG_OSS_V4 && t->sig != VODQ_SIG_AWS_V4)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "signing: unknown signature kind %d",
                            (int)t->sig);
    const char *pfx = t->sig == VODQ_SIG_OSS_V4 ? "x-oss" : "x-amz";
    strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name, sizeof(name), "%s-date", pfx);
    rc = vodq_http_req_add_header(req, name, date, err);
    snprintf(name, sizeof(name), "%s-content-sha256", pfx);
    if (rc == VODQ_OK && !has_header(req, name))
        rc = vodq_http_req_add_header(req, name, "UNSIGNED-PAYLOAD", err);
    snprintf(name, sizeof(name), "%s-security-token", pfx);
    if (rc == VODQ_OK && t->token)
        rc = vodq_http_req_add_header(req, name, t->token, err);
    return rc;
}

enum vodq_rc vodq_sign_request(const struct vodq_target *t, struct vodq_http_req *req,
                               const char *query, time_t now, struct vodq_err *err)
{
    struct vodq_sign_input in = {.sig = t->sig,
                                 .method = req->method,
                                 .host = t->host,
                                 .query = query,
                                 .region = t->region,
                                 .access_key = t->access_key,
                                 .secret_key = t->secret_key};
    struct vodq_sign_output out;
    char *buf = NULL;
    enum vodq_rc rc = add_auth_headers(t, req, now, err);
    if (rc != VODQ_OK)
        return rc;
    if (!request_resource(t, req->url, &in, &buf)) {
        free(buf);
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
    in.headers = (const char *const *)req->headers;
    in.n_headers = req->n_headers;
    rc = vodq_sign_compute(&in, false, &out, err);
    if (rc == VODQ_OK)
        rc = vodq_http_req_add_header(req, "Authorization", out.authorization, err);
    OPENSSL_cleanse(&out, sizeof(out));
    free(buf);
    return rc;
}
