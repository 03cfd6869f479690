/* fetch.h: remote sources of a timeline (http://, https://, s3://, oss://)
 * fetched into a worker's local cache with libcurl.
 *
 * vodq_fetch_resolve() maps each URL to a complete local file:
 *  - a HEAD request (signed for s3:// and oss://) gives the size and the
 *    validator (ETag, else Last-Modified); 403 and 404 fail at once
 *    (permanent), other failures retry with the upload engine's policy
 *    (http.h: backoff with jitter, stall limit);
 *  - the cache file is CACHE/<sha256>.<ext>, where the hash covers the URL
 *    without its query string plus the validator and the size (without a
 *    validator: the whole URL), so a changed object is a new entry and
 *    signed URLs of one object share it;
 *  - a download takes an exclusive flock on CACHE/<sha256>.lock, so that
 *    slots, threads and processes wanting the same object wait for one
 *    download instead of starting their own; it writes CACHE/<sha256>.part-XXXXXX
 *    (several ranged GETs in parallel for big objects, If-Match the ETag),
 *    fsyncs it and renames it into place: a partial file is never used;
 *  - progressive (the default; off with no_progressive or "progressive":
 *    false in inputs_json): a download runs in a thread of its own and its
 *    source is handed to the render as soon as its first bytes show a
 *    container that can be read while it grows (Matroska/WebM, MPEG-TS,
 *    MP3, WAV, FLAC, Ogg, MP4/MOV with the moov before the mdat); readers
 *    follow it with vodq_fetch_grow_open/_wait. Others (an MP4 with the moov
 *    at the end, images, fonts) are handed over complete. The temp file is
 *    still renamed into place only when complete; a failed or stopped one
 *    is removed;
 *  - a file in use is held by a shared flock until vodq_fetch_release(), and
 *    least-recently-used entries (mtime, touched on every hit) are evicted
 *    past max_bytes, skipping those in use.
 * Errors name the URL without its query string (where signed URLs keep their
 * secrets). Credentials are never logged or put in messages, and are wiped
 * after use.
 *
 * inputs_json (the job spec's "compose.inputs", or NULL): credentials for
 * s3:// and oss:// sources:
 *   {"endpoint": URL, "region": "us-east-1", "path_style": bool,
 *    "access_key": .., "secret_key": .., "session_token": .. (optional)}
 * or {"endpoint": .., "upload_auth": B64 (a VOD UploadAuth), ...}.
 * Missing members come from the worker's defaults (vodq_fetch_opts).
 *
 * Thread-safe: one struct vodq_fetch may serve every slot of a worker; each
 * call uses its own libcurl handles. */
#ifndef VODQ_UPLOAD_FETCH_H
#define VODQ_UPLOAD_FETCH_H

#include "shared/err.h"
#include "worker/executor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vodq_fetch_opts {
    const char *cache_dir;    /* created when missing (mode 0700); required */
    int64_t cache_max_bytes;  /* LRU eviction above this; 0 = 10 GiB */
    int parallel;             /* ranged GETs in flight per call; 0 = 4 */
    int64_t range_bytes;      /* objects above this are fetched in ranges of this size;
                               * 0 = 8 MiB */
    int max_attempts;         /* per request, first try included; 0 = 6 */
    long retry_base_ms;       /* first backoff; 0 = 250 ms */
    long stall_timeout_ms;    /* a request with no byte moving this long fails; 0 = 20 s */
    bool no_progressive;      /* hand every source over complete */
    /* The worker's default credentials for s3:// and oss:// (all may be NULL): */
    const char *endpoint;
    const char *region;
    bool path_style;
    const char *access_key;
    const char *secret_key;
    const char *session_token;
};

struct vodq_fetch;

/* Returns a new fetcher (copies opts, creates the cache folder and removes
 * temp files older than 10 minutes left there by a crash), or NULL with err
 * filled. Free with vodq_fetch_free(). */
struct vodq_fetch *vodq_fetch_new(const struct vodq_fetch_opts *opts, struct vodq_err *err);

/* Frees f (wiping its credentials), first stopping the progressive
 * downloads that still run without a reader. NULL is fine. */
void vodq_fetch_free(struct vodq_fetch *f);

/* The cache folder (absolute when it was given absolute); borrowed. */
const char *vodq_fetch_cache_dir(const struct vodq_fetch *f);

/* True when s is a URL this module fetches (http, https, s3, oss). */
bool vodq_fetch_is_url(const char *s);

/* Fetches the n URLs (distinct) into the cache. On success paths[i] is a new
 * string naming the local file for urls[i] (caller frees) and *lease holds
 * the files until vodq_fetch_release(*lease). io (may be NULL) gets
 * progress(done_bytes, total_bytes, {"phase":"fetch"}) and is polled for
 * CANCEL/YIELD (VODQ_ERR_CANCELLED / VODQ_ERR_PAUSED). On failure nothing
 * is held, no paths are returned, and err names the first URL that failed
 * (err->permanent for 403, 404 and bad credentials or URLs). f is a struct
 * vodq_fetch * passed as void * so that this is a compose resolver. */
enum vodq_rc vodq_fetch_resolve(void *f, const char *inputs_json, const char *const *urls,
                                size_t n, char **paths, void **lease, struct vodq_task_io *io,
                                struct vodq_err *err);

/* Lets the cache evict the files of a lease again, and frees it; a
 * progressive download still running goes on without a reader until it
 * completes the cache entry (vodq_fetch_free() stops it). NULL is fine. */
void vodq_fetch_release(void *f, void *lease);

/* A path vodq_fetch_resolve returned whose progressive download still runs:
 * a new read-only descriptor of the growing file (the caller closes it) and
 * *size, the object's size. -1 when path is not such a file (it is then a
 * complete file, or its download failed). */
int vodq_fetch_grow_open(void *f, const char *path, int64_t *size);

/* Waits up to timeout_ms until the first need bytes of path are written;
 * returns the bytes written from offset 0 on (fewer than need at the
 * timeout), INT64_MAX when the file is complete (or not a download of
 * this process), or -1 when the download failed (err, naming the URL
 * without its query string). */
int64_t vodq_fetch_grow_wait(void *f, const char *path, int64_t need, int timeout_ms,
                             struct vodq_err *err);

/* VODQ_OK, or the failure of a progressive download of lease (err filled):
 * what a render that read a growing source and failed reports instead of
 * its read error. */
enum vodq_rc vodq_fetch_grow_error(void *f, void *lease, struct vodq_err *err);

#endif
