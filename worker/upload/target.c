/* target.c: upload targets, VOD and S3 (see target.h). */
#include "worker/upload/target.h"

#include "worker/upload/vodauth.h"

#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Small helpers ---- */

void vodq_target_free_secret(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void vodq_target_cleanup(struct vodq_target *t)
{
    if (!t)
        return;
    free(t->endpoint);
    free(t->host);
    free(t->base_url);
    free(t->bucket);
    free(t->key);
    free(t->region);
    vodq_target_free_secret(t->access_key);
    vodq_target_free_secret(t->secret_key);
    vodq_target_free_secret(t->token);
    memset(t, 0, sizeof(*t));
}

char *vodq_target_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Checks and normalises an endpoint: "scheme://host[:port]" with scheme
 * http or https (https added when missing), no path, no trailing slash.
 * Returns a new string, or NULL with err naming field. */
static char *norm_endpoint(const char *ep, const char *field, struct vodq_err *err)
{
    if (!ep || !*ep) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: missing endpoint", field);
        return NULL;
    }
    const char *scheme = "https";
    const char *rest = ep;
    if (strncasecmp(ep, "http://", 7) == 0) {
        scheme = "http";
        rest = ep + 7;
    } else if (strncasecmp(ep, "https://", 8) == 0) {
        rest = ep + 8;
    } else if (strstr(ep, "://")) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: endpoint must be http:// or https:// (got \"%.80s\")",
                     field, ep);
        return NULL;
    }
    size_t hlen = strcspn(rest, "/?#");
    if (hlen == 0) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: endpoint has no host (got \"%.80s\")", field,
                     ep);
        return NULL;
    }
    for (const char *p = rest + hlen; *p; p++) {
        if (*p != '/') {
            vodq_err_set(err, VODQ_ERR_INVALID, 0,
                         "%s: endpoint must not have a path or query (got \"%.80s\")", field, ep);
            return NULL;
        }
    }
    if (rest[hlen - 1] == ':' || rest[0] == ':') {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: endpoint has an empty host or port (got \"%.80s\")",
                     field, ep);
        return NULL;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)rest[i];
        if (c <= ' ' || c == '@' || c >= 0x7f) {
            vodq_err_set(err, VODQ_ERR_INVALID, 0,
                         "%s: endpoint host has a bad character (got \"%.80s\")", field, ep);
            return NULL;
        }
    }
    size_t cap = strlen(scheme) + 3 + hlen + 1;
    char *out = malloc(cap);
    if (!out) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        return NULL;
    }
    snprintf(out, cap, "%s://%.*s", scheme, (int)hlen, rest);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

/* Derives host and base_url from endpoint, bucket and path_style. */
static enum vodq_rc set_addressing(struct vodq_target *t, struct vodq_err *err)
{
    const char *sep = strstr(t->endpoint, "://");
    const char *host = sep + 3;
    size_t slen = (size_t)(sep - t->endpoint);
    size_t cap = strlen(t->endpoint) + strlen(t->bucket) + 8;
    free(t->host);
    free(t->base_url);
    t->host = malloc(cap);
    t->base_url = malloc(cap);
    if (!t->host || !t->base_url)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    if (t->path_style)
        snprintf(t->host, cap, "%s", host);
    else
        snprintf(t->host, cap, "%s.%s", t->bucket, host);
    snprintf(t->base_url, cap, "%.*s://%s", (int)slen, t->endpoint, t->host);
    return VODQ_OK;
}

/* OSS region from an endpoint host: "oss-cn-shanghai.aliyuncs.com" and
 * "oss-cn-shanghai-internal.aliyuncs.com" -> "cn-shanghai". NULL if none. */
char *vodq_target_oss_region(const char *endpoint)
{
    const char *h = strstr(endpoint, "://");
    h = h ? h + 3 : endpoint;
    if (strncmp(h, "oss-", 4) != 0)
        return NULL;
    h += 4;
    size_t n = strcspn(h, ".:");
    if (n > 9 && strncmp(h + n - 9, "-internal", 9) == 0)
        n -= 9;
    if (n == 0)
        return NULL;
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, h, n);
        r[n] = '\0';
    }
    return r;
}

/* S3 bucket rule (DNS-compatible, as the local servers enforce too). */
static bool bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (const char *p = b; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '.'))
            return false;
    return b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.';
}

/* ---- VOD ---- */

/* Copies the credentials of a decoded UploadAuth into t. */
static enum vodq_rc take_vod_auth(struct vodq_target *t, const struct vodq_vod_auth *a,
                                  struct vodq_err *err)
{
    char *ak = strdup(a->access_key_id);
    char *sk = strdup(a->access_key_secret);
    char *tok = dup_or_null(a->security_token);
    if (!ak || !sk || (a->security_token && !tok)) {
        vodq_target_free_secret(ak);
        vodq_target_free_secret(sk);
        vodq_target_free_secret(tok);
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
    vodq_target_free_secret(t->access_key);
    vodq_target_free_secret(t->secret_key);
    vodq_target_free_secret(t->token);
    t->access_key = ak;
    t->secret_key = sk;
    t->token = tok;
    t->expires_at = a->expires_at;
    return VODQ_OK;
}

enum vodq_rc vodq_target_vod(struct vodq_target *t, const char *address_b64, const char *auth_b64,
                             const char *endpoint, const char *region, bool sig_v1,
                             bool path_style, struct vodq_err *err)
{
    struct vodq_vod_address addr;
    struct vodq_vod_auth auth;
    memset(&addr, 0, sizeof(addr));
    memset(&auth, 0, sizeof(auth));
    memset(t, 0, sizeof(*t));
    enum vodq_rc rc;

    if (!address_b64 || !*address_b64) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload address: missing");
        goto fail;
    }
    if (!auth_b64 || !*auth_b64) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload auth: missing");
        goto fail;
    }
    rc = vodq_vod_address_decode(address_b64, &addr, err);
    if (rc != VODQ_OK)
        goto fail;
    rc = vodq_vod_auth_decode(auth_b64, &auth, err);
    if (rc != VODQ_OK)
        goto fail;
    t->kind = VODQ_TARGET_OSS;
    t->sig = sig_v1 ? VODQ_SIG_OSS_V1 : VODQ_SIG_OSS_V4;
    t->path_style = path_style;
    t->endpoint = norm_endpoint(endpoint ? endpoint : addr.endpoint,
                                endpoint ? "endpoint override" : "upload address: Endpoint", err);
    if (!t->endpoint) {
        rc = err ? err->code : VODQ_ERR_INVALID;
        goto fail;
    }
    t->bucket = strdup(addr.bucket);
    t->key = strdup(addr.file_name);
    if (region && *region)
        t->region = strdup(region);
    else if (auth.region && *auth.region)
        t->region = strdup(auth.region);
    else
        t->region = vodq_target_oss_region(addr.endpoint);
    if (!t->region && !sig_v1) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "upload auth: no Region, and none can be derived from the endpoint; "
                          "OSS V4 signing needs one (give a region, or use V1)");
        goto fail;
    }
    if (!t->region)
        t->region = strdup("");
    if (!t->bucket || !t->key || !t->region) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    rc = take_vod_auth(t, &auth, err);
    if (rc != VODQ_OK)
        goto fail;
    rc = set_addressing(t, err);
    if (rc != VODQ_OK)
        goto fail;
    vodq_vod_address_cleanup(&addr);
    vodq_vod_auth_cleanup(&auth);
    return VODQ_OK;
fail:
    if (err)
        err->permanent = rc == VODQ_ERR_INVALID || rc == VODQ_ERR_PROTOCOL;
    vodq_vod_address_cleanup(&addr);
    vodq_vod_auth_cleanup(&auth);
    vodq_target_cleanup(t);
    return rc;
}

/* ---- S3 ---- */

/* True when the endpoint's host is an IP address ("http://10.0.0.5:9000",
 * "http://[::1]:9000"): a bucket cannot be a sub-domain of it, so such an
 * endpoint is always addressed path style. */
static bool endpoint_host_is_ip(const char *endpoint)
{
    const char *h = strstr(endpoint, "://");
    h = h ? h + 3 : endpoint;
    if (*h == '[')
        return true;
    char host[64];
    size_t n = strcspn(h, ":/");
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1;
}

enum vodq_rc vodq_target_s3(struct vodq_target *t, const char *url, const char *endpoint,
                            const char *region, const char *access_key, const char *secret_key,
                            const char *token, bool path_style, struct vodq_err *err)
{
    memset(t, 0, sizeof(*t));
    enum vodq_rc rc;
    char defep[128];

    if (!url || strncmp(url, "s3://", 5) != 0) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "s3.url: must look like s3://bucket/key (got \"%.80s\")",
                          url ? url : "");
        goto fail;
    }
    const char *b = url + 5;
    const char *slash = strchr(b, '/');
    if (!slash || slash == b || slash[1] == '\0') {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "s3.url: needs both a bucket and a key, s3://bucket/key (got \"%.80s\")", url);
        goto fail;
    }
    t->bucket = strndup(b, (size_t)(slash - b));
    t->key = strdup(slash + 1);
    if (!t->bucket || !t->key) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    if (!bucket_ok(t->bucket)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "s3.url: bucket \"%.64s\" is not a valid S3 bucket name (3-63 "
                          "characters: a-z 0-9 . -)",
                          t->bucket);
        goto fail;
    }
    if (!access_key || !*access_key) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "s3.access_key: missing");
        goto fail;
    }
    if (!secret_key || !*secret_key) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "s3.secret_key: missing");
        goto fail;
    }
    t->kind = VODQ_TARGET_S3;
    t->sig = VODQ_SIG_AWS_V4;
    t->path_style = path_style;
    t->region = strdup(region && *region ? region : "us-east-1");
    if (!endpoint || !*endpoint) {
        snprintf(defep, sizeof(defep), "https://s3.%.100s.amazonaws.com", t->region ? t->region : "");
        endpoint = defep;
    }
    t->endpoint = norm_endpoint(endpoint, "s3.endpoint", err);
    if (!t->endpoint) {
        rc = err ? err->code : VODQ_ERR_INVALID;
        goto fail;
    }
    if (endpoint_host_is_ip(t->endpoint))
        t->path_style = true;
    t->access_key = strdup(access_key);
    t->secret_key = strdup(secret_key);
    t->token = token && *token ? strdup(token) : NULL;
    if (!t->region || !t->access_key || !t->secret_key || (token && *token && !t->token)) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    rc = set_addressing(t, err);
    if (rc != VODQ_OK)
        goto fail;
    return VODQ_OK;
fail:
    if (err)
        err->permanent = rc == VODQ_ERR_INVALID;
    vodq_target_cleanup(t);
    return rc;
}

/* ---- JSON spec ---- */

/* Reads optional string member name of obj into *out (borrowed); a
 * non-string value is an error naming path.name. */
static enum vodq_rc opt_str(const cJSON *obj, const char *path, const char *name, const char **out,
                            struct vodq_err *err)
{
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return VODQ_OK;
    if (!cJSON_IsString(v))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s.%s: must be a string", path, name);
    *out = v->valuestring;
    return VODQ_OK;
}

static enum vodq_rc opt_bool(const cJSON *obj, const char *path, const char *name, bool *out,
                             struct vodq_err *err)
{
    *out = false;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return VODQ_OK;
    if (!cJSON_IsBool(v))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s.%s: must be true or false", path, name);
    *out = cJSON_IsTrue(v);
    return VODQ_OK;
}

/* Checks that obj has only the listed members (typos are errors). */
static enum vodq_rc only_keys(const cJSON *obj, const char *path, const char *const *keys,
                              struct vodq_err *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool known = false;
        for (const char *const *k = keys; *k; k++)
            if (strcmp(*k, it->string) == 0)
                known = true;
        if (!known)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s.%s: unknown field", path,
                                it->string);
    }
    return VODQ_OK;
}

static enum vodq_rc parse_vod(struct vodq_target *t, const cJSON *vod, struct vodq_err *err)
{
    static const char *const keys[] = {"upload_address", "upload_auth", "endpoint", "signature",
                                       "path_style",     "region",      NULL};
    const char *P = "upload.vod";
    const char *addr, *auth, *ep, *sig, *region;
    bool path_style;
    enum vodq_rc rc;
    if ((rc = only_keys(vod, P, keys, err)) != VODQ_OK ||
        (rc = opt_str(vod, P, "upload_address", &addr, err)) != VODQ_OK ||
        (rc = opt_str(vod, P, "upload_auth", &auth, err)) != VODQ_OK ||
        (rc = opt_str(vod, P, "endpoint", &ep, err)) != VODQ_OK ||
        (rc = opt_str(vod, P, "signature", &sig, err)) != VODQ_OK ||
        (rc = opt_str(vod, P, "region", &region, err)) != VODQ_OK ||
        (rc = opt_bool(vod, P, "path_style", &path_style, err)) != VODQ_OK)
        return rc;
    if (!addr || !*addr)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.vod.upload_address: missing");
    if (!auth || !*auth)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.vod.upload_auth: missing");
    bool v1 = false;
    if (sig) {
        if (strcasecmp(sig, "v1") == 0)
            v1 = true;
        else if (strcasecmp(sig, "v4") != 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "upload.vod.signature: must be \"v4\" or \"v1\" (got \"%.20s\")",
                                sig);
    }
    rc = vodq_target_vod(t, addr, auth, ep, region, v1, path_style, err);
    if (rc != VODQ_OK)
        vodq_err_prefix(err, "upload.vod");
    return rc;
}

static enum vodq_rc parse_s3(struct vodq_target *t, const cJSON *s3, struct vodq_err *err)
{
    static const char *const keys[] = {"url",        "endpoint",      "region",     "access_key",
                                       "secret_key", "session_token", "path_style", NULL};
    const char *P = "upload.s3";
    const char *url, *ep, *region, *ak, *sk, *tok;
    bool path_style;
    enum vodq_rc rc;
    if ((rc = only_keys(s3, P, keys, err)) != VODQ_OK ||
        (rc = opt_str(s3, P, "url", &url, err)) != VODQ_OK ||
        (rc = opt_str(s3, P, "endpoint", &ep, err)) != VODQ_OK ||
        (rc = opt_str(s3, P, "region", &region, err)) != VODQ_OK ||
        (rc = opt_str(s3, P, "access_key", &ak, err)) != VODQ_OK ||
        (rc = opt_str(s3, P, "secret_key", &sk, err)) != VODQ_OK ||
        (rc = opt_str(s3, P, "session_token", &tok, err)) != VODQ_OK ||
        (rc = opt_bool(s3, P, "path_style", &path_style, err)) != VODQ_OK)
        return rc;
    if (!url)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.s3.url: missing");
    rc = vodq_target_s3(t, url, ep, region, ak, sk, tok, path_style, err);
    if (rc != VODQ_OK)
        vodq_err_prefix(err, "upload");
    return rc;
}

enum vodq_rc vodq_target_parse(struct vodq_target *t, const char *upload_spec_json,
                               struct vodq_err *err)
{
    memset(t, 0, sizeof(*t));
    enum vodq_rc rc;
    cJSON *root = cJSON_Parse(upload_spec_json ? upload_spec_json : "");
    if (!root || !cJSON_IsObject(root)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload: spec is not a JSON object");
        goto fail;
    }
    const cJSON *vod = cJSON_GetObjectItemCaseSensitive(root, "vod");
    const cJSON *s3 = cJSON_GetObjectItemCaseSensitive(root, "s3");
    if (vod && s3) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload: give either \"vod\" or \"s3\", not both");
        goto fail;
    }
    if (!vod && !s3) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload: missing target (\"vod\" or \"s3\")");
        goto fail;
    }
    if (!cJSON_IsObject(vod ? vod : s3)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.%s: must be an object", vod ? "vod" : "s3");
        goto fail;
    }
    rc = vod ? parse_vod(t, vod, err) : parse_s3(t, s3, err);
fail:
    if (rc != VODQ_OK && err)
        err->permanent = true;
    cJSON_Delete(root);
    return rc;
}

/* ---- Credentials refresh ---- */

enum vodq_rc vodq_target_set_auth(struct vodq_target *t, const char *auth, struct vodq_err *err)
{
    if (!auth || !*auth)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "new credentials: empty");
    if (t->kind == VODQ_TARGET_OSS) {
        struct vodq_vod_auth a;
        memset(&a, 0, sizeof(a));
        enum vodq_rc rc = vodq_vod_auth_decode(auth, &a, err);
        if (rc == VODQ_OK)
            rc = take_vod_auth(t, &a, err);
        else
            vodq_err_prefix(err, "new credentials");
        vodq_vod_auth_cleanup(&a);
        return rc;
    }
    cJSON *root = cJSON_Parse(auth);
    enum vodq_rc rc = VODQ_OK;
    const char *ak, *sk, *tok;
    if (!root || !cJSON_IsObject(root)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "new credentials: not a JSON object with access_key, secret_key, "
                          "session_token");
        goto done;
    }
    if ((rc = opt_str(root, "new credentials", "access_key", &ak, err)) != VODQ_OK ||
        (rc = opt_str(root, "new credentials", "secret_key", &sk, err)) != VODQ_OK ||
        (rc = opt_str(root, "new credentials", "session_token", &tok, err)) != VODQ_OK)
        goto done;
    if (!ak || !*ak || !sk || !*sk) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "new credentials: %s missing", !ak || !*ak ? "access_key" : "secret_key");
        goto done;
    }
    char *nak = strdup(ak), *nsk = strdup(sk), *ntok = tok && *tok ? strdup(tok) : NULL;
    if (!nak || !nsk || (tok && *tok && !ntok)) {
        vodq_target_free_secret(nak);
        vodq_target_free_secret(nsk);
        vodq_target_free_secret(ntok);
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    vodq_target_free_secret(t->access_key);
    vodq_target_free_secret(t->secret_key);
    vodq_target_free_secret(t->token);
    t->access_key = nak;
    t->secret_key = nsk;
    t->token = ntok;
    t->expires_at = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* ---- URLs ---- */

char *vodq_target_url(const struct vodq_target *t, const char *query)
{
    char *ekey = vodq_target_encode(t->key, true);
    if (!ekey)
        return NULL;
    size_t cap = strlen(t->base_url) + strlen(t->bucket) + strlen(ekey) + (query ? strlen(query) : 0) + 8;
    char *url = malloc(cap);
    if (url) {
        if (t->path_style)
            snprintf(url, cap, "%s/%s/%s%s%s", t->base_url, t->bucket, ekey, query ? "?" : "",
                     query ? query : "");
        else
            snprintf(url, cap, "%s/%s%s%s", t->base_url, ekey, query ? "?" : "", query ? query : "");
    }
    free(ekey);
    return url;
}

const char *vodq_target_identity(const struct vodq_target *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s %s %s %s", t->kind == VODQ_TARGET_S3 ? "s3" : "oss", t->endpoint,
             t->bucket, t->key);
    return buf;
}
