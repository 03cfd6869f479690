/* upload.h: the upload engine (VOD/OSS and S3), an executor run function.
 *
 * vodq_upload_run() uploads one file:
 *  - kind "image", or any file no larger than one part: one PutObject,
 *    streamed from the file;
 *  - otherwise multipart: InitiateMultipartUpload, up to `parallel` parts
 *    in flight at once on one libcurl multi handle, CompleteMultipartUpload.
 *    Each part is read into its own buffer (memory = parallel x part_size),
 *    and its checksum is computed before it is sent: CRC-64/ECMA for OSS,
 *    MD5 for S3 (sent as Content-MD5), the values each server confirms.
 *
 * Checkpoint (io->ckpt, optional; a Redis hash in the worker, a JSON file in
 * the CLI). Fields, all strings:
 *   "v"            "1"
 *   "target"       where the object goes, without credentials
 *                  ("oss https://oss-cn-shanghai.aliyuncs.com bucket key")
 *   "upload_id"    the multipart upload id
 *   "part_size"    bytes
 *   "file_size", "file_mtime_ns"
 *   "file_head_sha256", "file_tail_sha256"  hex SHA-256 of the first and last part
 *   "part:N"       "<ETag verbatim> <CRC-64 decimal>" once part N is acknowledged
 *                  (S3: CRC 0; the ETag, checked against our MD5, is the part's MD5)
 * A run that finds a checkpoint for the same target and the same file
 * re-uses its upload id and part size and sends only the parts not listed.
 * A changed file, another target, or an upload id the server no longer
 * knows (NoSuchUpload) starts over cleanly (the old upload is aborted when
 * possible). The checkpoint is cleared on success and on cancel.
 *
 * No attempt leaves an upload id open: the open uploads of the key are
 * listed (ListMultipartUploads) before InitiateMultipartUpload; when its
 * reply is lost (reset, cut short), the key is listed again and an upload
 * that appeared meanwhile is adopted instead of initiating anew, and any
 * further one is aborted (servers that cannot list: ordinary retries). A
 * failed upload aborts its multipart upload and clears the checkpoint unless
 * the checkpoint will resume it: a transient failure with a checkpoint store,
 * a pause/yield, VODQ_ERR_AUTH or VODQ_ERR_FENCED keep it. A 2xx UploadPart
 * reply without a usable ETag (cut short on the way) sends the part again,
 * up to max_attempts times.
 *
 * Control (io->control, polled between parts): PAUSE stops starting parts
 * (those in flight finish) and waits; RUN goes on; CANCEL stops the parts
 * in flight, aborts the multipart upload and clears the checkpoint
 * (returns VODQ_ERR_CANCELLED); YIELD lets the parts in flight finish and
 * returns VODQ_ERR_PAUSED with the checkpoint kept.
 *
 * Expired credentials (OSS 403 SecurityTokenExpired / InvalidAccessKeyId,
 * or any 403 InvalidSecurityToken; S3 ExpiredToken, InvalidToken,
 * ExpiredTokenException, TokenRefreshRequired, and InvalidAccessKeyId when a
 * session token is used): the engine stops sending, keeps the checkpoint,
 * emits "token_expired", then waits (io->wait) for io->take_auth() to
 * deliver new credentials (a base64 UploadAuth for VOD, a JSON object
 * {"access_key","secret_key","session_token"} for S3) and goes on with the
 * same upload id. No credentials within wait_auth_s: VODQ_ERR_AUTH, with the
 * checkpoint kept. "auth_expiring" is emitted once per credential set when
 * the UploadAuth's expiry is less than auth_warn_s away.
 *
 * Events (io->event): "retry" {"part":N,"attempt":A,"delay_ms":D,"error":".."}
 * (part 0 = a request that is not a part), "retry_resume" {"part":N,"attempts":A},
 * "token_expired" {"upload_id":..,"parts_done":N,"wait_auth_s":S},
 * "auth_expiring" {"expires_in_s":N}, "warning" {"message":".."}.
 * Progress (io->progress): bytes acknowledged or in transit, and the file size.
 *
 * Verification: every part's CRC-64 (OSS x-oss-hash-crc64ecma) or MD5 (S3
 * ETag) is compared with the local value; at the end the whole object's
 * CRC-64 (OSS: combined from the parts, against the Complete/HEAD header)
 * or the multipart ETag (S3: md5 of the concatenated part MD5s + "-N") is
 * checked. A mismatch fails with VODQ_ERR_PROTOCOL naming both values, and
 * the checkpoint is kept for inspection.
 *
 * spec_json (the object under "upload" in a job spec):
 * {
 *   "file": "/path/to/file",           required
 *   "kind": "video" | "image",         default "video"; image = one PutObject
 *   "content_type": "video/mp4",       default from the file extension
 *   "vod": {"upload_address": B64, "upload_auth": B64,
 *           "endpoint": URL,           optional override of the address's Endpoint
 *           "region": "cn-shanghai",   optional; default UploadAuth Region, else from endpoint
 *           "signature": "v4" | "v1",  default "v4"
 *           "path_style": false},
 *   "s3":  {"url": "s3://bucket/key", "endpoint": URL, "region": "us-east-1",
 *           "access_key": .., "secret_key": .., "session_token": .. (optional),
 *           "path_style": false},       exactly one of "vod" and "s3"
 *   "part_size": 8388608,              bytes; OSS >= 102400, S3 >= 5 MiB; raised so
 *                                      that no file needs more than 10000 parts
 *   "parallel": 4,                     parts in flight, 1..64
 *   "wait_auth_s": 300,                how long to wait for new credentials
 *   "auth_warn_s": 300,                "auth_expiring" this long before expiry
 *   "max_attempts": 6,                 per request, first try included
 *   "retry_base_ms": 250,              first backoff; doubles, capped at 15 s, jittered
 *   "timeout_s": 20,                   a request with no byte moving for this long fails
 *                                      (then retries): a silent server is noticed in 20 s
 *   "max_send_bps": 0                  upload rate cap in bytes/s (shared by the parts); 0 = none
 * }
 *
 * result_json on success:
 * {"location":URL,"bucket":..,"key":..,"etag":..,"crc64":"<decimal>" (OSS only),"bytes":N,
 *  "parts":N (0 for PutObject),"upload_id":.. (multipart only),"resumed_parts":N}
 */
#ifndef VODQ_UPLOAD_UPLOAD_H
#define VODQ_UPLOAD_UPLOAD_H

#include "shared/err.h"
#include "worker/executor.h"

#include <stdbool.h>
#include <stdint.h>

/* Runs one upload task; matches vodq_exec_run_fn. Borrows spec_json and io. */
enum vodq_rc vodq_upload_run(const char *spec_json, struct vodq_task_io *io,
                             struct vodq_task_result *result, struct vodq_err *err);

/* A file that is still being written (compose and upload overlapped,
 * worker/render_upload.c): its final prefix may be read, except the first
 * part, which the writer may still change until the end (the MP4 muxer
 * writes the mdat size into the header last). */
struct vodq_upload_source {
    void *opaque;
    /* Called from the upload's thread. Blocks up to timeout_ms until at
     * least want bytes are final or the file is complete; returns the
     * bytes final now (a prefix that never changes again), sets *ended when
     * that is the whole file and *fd to a readable descriptor of it
     * (borrowed; -1 while no byte exists). */
    int64_t (*wait_bytes)(void *opaque, int64_t want, int timeout_ms, bool *ended, int *fd);
};

/* Uploads what src writes, as it is written: always multipart ("file" is
 * optional and only names it in messages), each part from the second on
 * sent as soon as its bytes are final, the first one once src says the file
 * ended, then Complete. The writer's
 * failures reach the engine as io->control() CANCEL (abort) or YIELD.
 * Checkpoint: "v", "target", "upload_id", "part_size", "source" ("render")
 * and "part:N" as above, without the file fields. A later attempt with the
 * same target and part size re-uses the upload id, and a checkpointed part
 * only when the new bytes have the same MD5 (S3) or CRC-64 (OSS); other
 * parts are sent again under their number, so the object is never a mix. */
enum vodq_rc vodq_upload_run_source(const char *spec_json, const struct vodq_upload_source *src,
                                    struct vodq_task_io *io, struct vodq_task_result *result,
                                    struct vodq_err *err);

#endif
