/* vodauth.h: the two strings Aliyun VOD hands out for an upload
 * (CreateUploadVideo / RefreshUploadVideo / CreateUploadImage):
 *
 *   UploadAddress = base64 of {"Endpoint","Bucket","FileName"[,"ObjectPrefix"]}
 *   UploadAuth    = base64 of {"AccessKeyId","AccessKeySecret","SecurityToken",
 *                              "Expiration","ExpireUTCTime","Region"}
 *
 * Errors are VODQ_ERR_INVALID with err->permanent set and name the decoded
 * field: "UploadAddress: not base64", "UploadAuth: not JSON",
 * "UploadAuth.AccessKeyId: missing", "UploadAddress.Bucket: must be a string".
 * Secret values (AccessKeySecret, SecurityToken) never appear in a message. */
#ifndef VODQ_UPLOAD_VODAUTH_H
#define VODQ_UPLOAD_VODAUTH_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vodq_vod_address {
    char *endpoint;      /* Endpoint, e.g. "https://oss-cn-shanghai.aliyuncs.com" (required) */
    char *bucket;        /* Bucket (required) */
    char *file_name;     /* FileName: the object key (required) */
    char *object_prefix; /* ObjectPrefix (HLS only), or NULL */
};

struct vodq_vod_auth {
    char *access_key_id;     /* AccessKeyId (required) */
    char *access_key_secret; /* AccessKeySecret (required; secret) */
    char *security_token;    /* SecurityToken, or NULL when absent (secret) */
    char *region;            /* Region, or NULL when absent */
    int64_t expires_at;      /* Unix seconds from ExpireUTCTime, else from an ISO-8601
                              * Expiration; 0 = unknown */
};

/* Decodes a base64 UploadAddress into *a (zeroed first). On error *a is
 * left empty (safe to clean up). */
enum vodq_rc vodq_vod_address_decode(const char *b64, struct vodq_vod_address *a,
                                     struct vodq_err *err);

/* Decodes a base64 UploadAuth into *a (zeroed first). On error *a is left
 * empty (safe to clean up). */
enum vodq_rc vodq_vod_auth_decode(const char *b64, struct vodq_vod_auth *a, struct vodq_err *err);

/* Free what a owns (secrets wiped first) and zero it. NULL is fine. */
void vodq_vod_address_cleanup(struct vodq_vod_address *a);
void vodq_vod_auth_cleanup(struct vodq_vod_auth *a);

/* Decodes standard base64 (padding optional, whitespace ignored) into a new
 * NUL-terminated buffer (*out, caller frees; *out_len bytes without the NUL).
 * VODQ_ERR_INVALID on a bad character or length, VODQ_ERR_OOM. */
enum vodq_rc vodq_vod_b64_decode(const char *b64, unsigned char **out, size_t *out_len,
                                 struct vodq_err *err);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (the 'Z' optional, fraction ".sss" allowed)
 * as UTC. Returns 0 and sets *out on success, -1 otherwise. */
int vodq_vod_parse_utc(const char *s, int64_t *out);

/* True when credentials expiring at expires_at (Unix seconds, as in
 * vodq_vod_auth.expires_at / vodq_target.expires_at) are expired at now or
 * expire within secs seconds of it. False when expires_at is 0 (unknown):
 * then only the server's SecurityTokenExpired tells. */
bool vodq_vod_expires_within(int64_t expires_at, int64_t now, int64_t secs);

#endif
