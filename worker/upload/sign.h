/* sign.h: request signing for the three ways an upload is authenticated.
 *
 *   VODQ_SIG_OSS_V4  OSS4-HMAC-SHA256 (default for VOD/OSS): x-oss-date,
 *                    x-oss-content-sha256: UNSIGNED-PAYLOAD, scope
 *                    <day>/<region>/oss/aliyun_v4_request, canonical URI
 *                    /<bucket>/<encoded key>; signs Content-MD5, Content-Type
 *                    and every x-oss-* header (x-oss-security-token included).
 *   VODQ_SIG_OSS_V1  "OSS AK:base64(HMAC-SHA1)": Date, canonicalised x-oss-*
 *                    headers (x-oss-security-token included) and the
 *                    resource /<bucket>/<key> with its sub-resources.
 *   VODQ_SIG_AWS_V4  AWS4-HMAC-SHA256 (S3): x-amz-date, x-amz-content-sha256,
 *                    x-amz-security-token when a session token is set; signs
 *                    host and every header on the request.
 *
 * Nothing here logs, and secrets never enter an error message. */
#ifndef VODQ_UPLOAD_SIGN_H
#define VODQ_UPLOAD_SIGN_H

#include "shared/err.h"
#include "worker/upload/target.h"

#include <stddef.h>
#include <time.h>

struct vodq_http_req;

/* Signs req for target t at time now, by t->sig. query is the encoded
 * query string of req->url without '?' ("uploads", "partNumber=1&uploadId=X")
 * or NULL. req's headers must already hold what the request sends besides
 * the auth headers (Content-Type, Content-MD5, x-oss-*, ...); this adds the
 * date header(s), the content-sha256 header (V4), the security token header
 * when t->token is set, and Authorization. */
enum vodq_rc vodq_sign_request(const struct vodq_target *t, struct vodq_http_req *req,
                               const char *query, time_t now, struct vodq_err *err);

/* ---- The pure computation, for tests and the request signer ---- */

struct vodq_sign_input {
    enum vodq_target_sig sig;
    const char *method;         /* "PUT" */
    const char *host;           /* Host header value (AWS signs it; unused by OSS) */
    const char *bucket;         /* OSS: bucket of the resource ("" or NULL: none) */
    const char *key;            /* OSS: raw object key ("" or NULL: bucket level) */
    const char *path;           /* AWS: the request path as sent (already encoded), e.g. "/b/k" */
    const char *query;          /* encoded query, no '?', or NULL */
    const char *const *headers; /* "Name: value" lines; must include the date header
                                 * (Date for V1, x-oss-date / x-amz-date for V4) and, for V4,
                                 * the content-sha256 header and any security token header */
    size_t n_headers;
    const char *region;             /* V4 scope region */
    const char *product;            /* V4 scope service: NULL = "oss" / "s3" */
    const char *additional_headers; /* OSS V4: ";"-separated lower-case names of other
                                     * headers to sign, or NULL */
    const char *access_key;
    const char *secret_key;
    const char *date;         /* presigned URLs: the signing time (V4 "YYYYMMDDTHHMMSSZ", V1
                               * Expires seconds) when no date header is sent; NULL = header */
    const char *payload_hash; /* V4 HashedPayload when no content-sha256 header is sent
                               * (presigned: "UNSIGNED-PAYLOAD"); NULL = header */
};

struct vodq_sign_output {
    char authorization[1024]; /* the Authorization header value */
    char *canonical;          /* V4: canonical request; V1: NULL (new strings; free with */
    char *string_to_sign;     /* vodq_sign_output_cleanup) */
};

/* Computes the signature. out->canonical/string_to_sign are set only when
 * want_text is true. VODQ_ERR_INVALID (naming the missing header) or OOM. */
enum vodq_rc vodq_sign_compute(const struct vodq_sign_input *in, bool want_text,
                               struct vodq_sign_output *out, struct vodq_err *err);

void vodq_sign_output_cleanup(struct vodq_sign_output *out);

/* Writes the n bytes at b as 2n lower-case hex digits and a NUL to out
 * (2n + 1 bytes). */
void vodq_sign_hex(const unsigned char *b, size_t n, char *out);

#endif
