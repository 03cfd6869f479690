/* target.h: where an upload goes and with which credentials.
 *
 * Two kinds of target:
 *  - VOD: the base64 JSON UploadAddress (Endpoint, Bucket, FileName) and
 *    UploadAuth (AccessKeyId, AccessKeySecret, SecurityToken, ExpireUTCTime
 *    or Expiration, Region) handed out by Aliyun VOD; uploaded with the OSS
 *    protocol, signed with OSS V4 (default) or V1.
 *  - S3: s3://bucket/key on an S3-compatible endpoint, signed with AWS SigV4.
 *
 * Both are addressed virtual-host style (https://bucket.host/key) by
 * default, or path style (http://host:port/bucket/key) on request; an S3
 * endpoint whose host is an IP address is always path style. The
 * endpoint is used as given (http allowed) and can be overridden.
 *
 * Credentials live only in access_key/secret_key/token; nothing here puts
 * them into an error message. */
#ifndef VODQ_UPLOAD_TARGET_H
#define VODQ_UPLOAD_TARGET_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vodq_target_kind {
    VODQ_TARGET_OSS = 1, /* Aliyun OSS protocol (VOD upload address/auth) */
    VODQ_TARGET_S3,      /* S3-compatible */
};

enum vodq_target_sig {
    VODQ_SIG_OSS_V4 = 1, /* OSS4-HMAC-SHA256 */
    VODQ_SIG_OSS_V1,     /* OSS HMAC-SHA1 */
    VODQ_SIG_AWS_V4,     /* AWS4-HMAC-SHA256 */
};

struct vodq_target {
    enum vodq_target_kind kind;
    enum vodq_target_sig sig;
    char *endpoint;     /* "scheme://host[:port]", no trailing slash (after any override) */
    char *host;         /* the Host header: "bucket.host[:port]" or "host[:port]" (path style) */
    char *base_url;     /* "scheme://" + host; object URLs are base_url + path */
    char *bucket;       /* bucket name */
    char *key;          /* object key, raw (not encoded) */
    char *region;       /* signing region ("cn-shanghai", "us-east-1") */
    bool path_style;    /* true: /bucket/key paths */
    char *access_key;   /* secret material below: never print */
    char *secret_key;
    char *token;        /* STS security token / S3 session token, or NULL */
    int64_t expires_at; /* credential expiry, Unix seconds; 0 = unknown */
};

/* Fills t from the JSON text of an upload spec (the object under "upload"
 * in a job spec), reading its "vod" or "s3" member (exactly one):
 *   "vod": {"upload_address": B64, "upload_auth": B64, "endpoint": URL (optional
 *           override), "signature": "v4"|"v1", "path_style": bool, "region": optional}
 *   "s3":  {"url": "s3://bucket/key", "endpoint": URL, "region": "us-east-1",
 *           "access_key", "secret_key", "session_token" (optional), "path_style": bool}
 * Errors are VODQ_ERR_INVALID (permanent) naming the field, e.g. "upload.s3.url".
 * t is safe to vodq_target_cleanup() on any return. */
enum vodq_rc vodq_target_parse(struct vodq_target *t, const char *upload_spec_json,
                               struct vodq_err *err);

/* Fills t for a VOD target from the base64 UploadAddress and UploadAuth.
 * endpoint (NULL = the address's Endpoint) overrides where requests go;
 * region (NULL = UploadAuth's Region, else derived from the endpoint host). */
enum vodq_rc vodq_target_vod(struct vodq_target *t, const char *address_b64, const char *auth_b64,
                             const char *endpoint, const char *region, bool sig_v1,
                             bool path_style, struct vodq_err *err);

/* Fills t for an S3 target. url is "s3://bucket/key"; endpoint NULL means
 * https://s3.<region>.amazonaws.com; region NULL means "us-east-1";
 * token may be NULL. */
enum vodq_rc vodq_target_s3(struct vodq_target *t, const char *url, const char *endpoint,
                            const char *region, const char *access_key, const char *secret_key,
                            const char *token, bool path_style, struct vodq_err *err);

/* Replaces the credentials with new ones from refresh-auth: a base64
 * UploadAuth for an OSS target, or a JSON object {"access_key",
 * "secret_key", "session_token"} for S3. On error t is unchanged. */
enum vodq_rc vodq_target_set_auth(struct vodq_target *t, const char *auth, struct vodq_err *err);

/* Returns a new URL for the object with an optional raw query (e.g.
 * "uploads" or "partNumber=1&uploadId=X", already encoded), or NULL on
 * OOM. The key is percent-encoded, '/' kept. Caller frees. */
char *vodq_target_url(const struct vodq_target *t, const char *query);

/* Writes a stable identity of where the object goes, without credentials
 * ("s3 http://127.0.0.1:9000 bucket key"), into buf. Returns buf. */
const char *vodq_target_identity(const struct vodq_target *t, char *buf, size_t cap);

/* OSS region from an endpoint host: "oss-cn-shanghai.aliyuncs.com" and
 * "oss-cn-shanghai-internal.aliyuncs.com" give "cn-shanghai". Returns a new
 * string (caller frees), or NULL when the host says none. */
char *vodq_target_oss_region(const char *endpoint);

/* Frees what t owns (wiping the secrets) and zeroes it. NULL is fine. */
void vodq_target_cleanup(struct vodq_target *t);

/* Overwrites the string s with zeros, then frees it (for secrets). NULL is fine. */
void vodq_target_free_secret(char *s);

/* Percent-encodes s into a new string: A-Z a-z 0-9 - _ . ~ stay, and '/'
 * too when keep_slash; everything else becomes %XX (uppercase). NULL on OOM. */
char *vodq_target_encode(const char *s, bool keep_slash);

#endif
