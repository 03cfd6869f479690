/* vodauth.c: decoding VOD UploadAddress / UploadAuth (see vodauth.h). */
#include "worker/upload/vodauth.h"

#include "worker/upload/target.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Input errors are permanent: retrying the same strings cannot help. */
static enum vodq_rc permanent(struct vodq_err *err, enum vodq_rc rc)
{
    if (err)
        err->permanent = true;
    return rc;
}

#define BAD(err, ...) permanent((err), vodq_err_set((err), VODQ_ERR_INVALID, 0, __VA_ARGS__))

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

enum vodq_rc vodq_vod_b64_decode(const char *b64, unsigned char **out, size_t *out_len,
                                 struct vodq_err *err)
{
    *out = NULL;
    *out_len = 0;
    size_t n = strlen(b64);
    unsigned char *o = malloc(n / 4 * 3 + 4);
    if (!o)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    size_t len = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0, nchars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b64[i];
        if (isspace(c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) /* bad character, or data after padding */
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        nchars++;
        if (bits >= 8) {
            bits -= 8;
            o[len++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* a lone trailing character carries no full byte; padding must complete a quad */
    if (nchars % 4 == 1 || pad > 2 || (pad && (nchars + pad) % 4 != 0) || acc != 0)
        goto bad;
    o[len] = '\0';
    *out = o;
    *out_len = len;
    return VODQ_OK;
bad:
    free(o);
    return vodq_err_set(err, VODQ_ERR_INVALID, 0, "not base64");
}

/* The value of the n decimal digits at s, or -1 when they are not all digits. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int vodq_vod_parse_utc(const char *s, int64_t *out)
{
    /* YYYY-MM-DDTHH:MM:SS */
    if (!s || strlen(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
        mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z')
        p++;
    if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t;
    return 0;
}

/* Decodes b64 to a JSON object; what = "UploadAddress" / "UploadAuth". */
static enum vodq_rc decode_json(const char *b64, const char *what, cJSON **out,
                                struct vodq_err *err)
{
    unsigned char *raw;
    size_t len;
    *out = NULL;
    if (!b64 || !*b64)
        return BAD(err, "%s: missing", what);
    enum vodq_rc rc = vodq_vod_b64_decode(b64, &raw, &len, err);
    if (rc == VODQ_ERR_OOM)
        return rc;
    if (rc != VODQ_OK || !raw)
        return BAD(err, "%s: not base64", what);
    const char *end = NULL;
    cJSON *o = strlen((char *)raw) == len ? cJSON_ParseWithOpts((char *)raw, &end, 1) : NULL;
    OPENSSL_cleanse(raw, len);
    free(raw);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return BAD(err, "%s: not JSON (want a base64 JSON object)", what);
    }
    *out = o;
    return VODQ_OK;
}

/* Copies string member name of o into *dst. */
static enum vodq_rc field(const cJSON *o, const char *what, const char *name, bool required,
                          char **dst, struct vodq_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return BAD(err, "%s.%s: missing", what, name);
        return VODQ_OK;
    }
    if (!cJSON_IsString(v))
        return BAD(err, "%s.%s: must be a string", what, name);
    if (required && !*v->valuestring)
        return BAD(err, "%s.%s: empty", what, name);
    *dst = strdup(v->valuestring);
    return *dst ? VODQ_OK : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
}

void vodq_vod_address_cleanup(struct vodq_vod_address *a)
{
    if (!a)
        return;
    free(a->endpoint);
    free(a->bucket);
    free(a->file_name);
    free(a->object_prefix);
    memset(a, 0, sizeof(*a));
}

void vodq_vod_auth_cleanup(struct vodq_vod_auth *a)
{
    if (!a)
        return;
    vodq_target_free_secret(a->access_key_id);
    vodq_target_free_secret(a->access_key_secret);
    vodq_target_free_secret(a->security_token);
    free(a->region);
    memset(a, 0, sizeof(*a));
}

enum vodq_rc vodq_vod_address_decode(const char *b64, struct vodq_vod_address *a,
                                     struct vodq_err *err)
{
    static const char W[] = "UploadAddress";
    cJSON *o;
    memset(a, 0, sizeof(*a));
    enum vodq_rc rc = decode_json(b64, W, &o, err);
    if (rc != VODQ_OK)
        return rc;
    if ((rc = field(o, W, "Endpoint", true, &a->endpoint, err)) != VODQ_OK ||
        (rc = field(o, W, "Bucket", true, &a->bucket, err)) != VODQ_OK ||
        (rc = field(o, W, "FileName", true, &a->file_name, err)) != VODQ_OK ||
        (rc = field(o, W, "ObjectPrefix", false, &a->object_prefix, err)) != VODQ_OK)
        goto fail;
    cJSON_Delete(o);
    return VODQ_OK;
fail:
    vodq_vod_address_cleanup(a);
    cJSON_Delete(o);
    return rc;
}

enum vodq_rc vodq_vod_auth_decode(const char *b64, struct vodq_vod_auth *a, struct vodq_err *err)
{
    static const char W[] = "UploadAuth";
    cJSON *o;
    char *exp_utc = NULL, *exp = NULL;
    memset(a, 0, sizeof(*a));
    enum vodq_rc rc = decode_json(b64, W, &o, err);
    if (rc != VODQ_OK)
        return rc;
    if ((rc = field(o, W, "AccessKeyId", true, &a->access_key_id, err)) != VODQ_OK ||
        (rc = field(o, W, "AccessKeySecret", true, &a->access_key_secret, err)) != VODQ_OK ||
        (rc = field(o, W, "SecurityToken", false, &a->security_token, err)) != VODQ_OK ||
        (rc = field(o, W, "Region", false, &a->region, err)) != VODQ_OK ||
        (rc = field(o, W, "ExpireUTCTime", false, &exp_utc, err)) != VODQ_OK)
        goto fail;
    /* Expiration: a string ("3600" in the one sample; meaning unknown) or a
     * number; used only when it is an ISO-8601 time and ExpireUTCTime is absent. */
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "Expiration");
    if (e && !cJSON_IsNull(e) && !cJSON_IsString(e) && !cJSON_IsNumber(e)) {
        rc = BAD(err, "%s.%s: must be a string", W, "Expiration");
        goto fail;
    }
    if (e && cJSON_IsString(e) && !(exp = strdup(e->valuestring))) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    if (a->security_token && !*a->security_token) {
        free(a->security_token);
        a->security_token = NULL;
    }
    if (exp_utc && *exp_utc) {
        if (vodq_vod_parse_utc(exp_utc, &a->expires_at) != 0) {
            /* not a secret: a timestamp */
            rc = BAD(err,
                     "%s.ExpireUTCTime: \"%.40s\" is not an ISO-8601 UTC time "
                     "(YYYY-MM-DDTHH:MM:SSZ)",
                     W, exp_utc);
            goto fail;
        }
    } else if (exp && vodq_vod_parse_utc(exp, &a->expires_at) != 0) {
        a->expires_at = 0;
    }
    free(exp_utc);
    free(exp);
    cJSON_Delete(o);
    return VODQ_OK;
fail:
    free(exp_utc);
    free(exp);
    vodq_vod_auth_cleanup(a);
    cJSON_Delete(o);
    return rc;
}

bool vodq_vod_expires_within(int64_t expires_at, int64_t now, int64_t secs)
{
    if (expires_at <= 0)
        return false;
    if (secs < 0)
        secs = 0;
    return expires_at - now <= secs;
}
