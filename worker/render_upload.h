/* render_upload.h: compose and upload in one task, overlapped.
 *
 * A compose section with an "upload" object is rendered into a temporary
 * folder under the worker's work dir, as an MP4 that only grows (moov at
 * the end; engine.h "growing"), while the upload engine sends each
 * multipart part as soon as its bytes are final (the first part, whose
 * mdat size the muxer writes last, at the end); the
 * cover (when asked) is uploaded at the end, and the folder is removed.
 * Without "upload" the section is an ordinary compose (compose.h).
 *
 * Section (the job spec's "compose" object):
 *   "timeline" | "timeline_file", "encoder"   as for compose; an inline
 *                                 timeline's relative paths resolve against
 *                                 the work dir (use absolute paths or URLs)
 *   "upload": {                   an upload section without "file":
 *     "vod" | "s3", "part_size", "parallel", ... (upload.h),
 *     "buffer_max_bytes": N,      rendered bytes not yet uploaded (kept in the
 *                                 temporary file) above which rendering waits;
 *                                 default 512 MiB, at least 2 x part_size
 *     "cover": {"vod" | "s3", ...} optional: where the cover JPEG goes (a
 *                                 PutObject); taken at the timeline's
 *                                 output.cover.at, else at min(1 s, half)
 *   }
 * "output" is not allowed with "upload".
 *
 * Progress: done/total = rendered ms + uploaded share of them, of 2 x the
 * duration; extra {"frames","fps","bytes_written","bytes_uploaded",
 * "render":"running"|"held"|"done"} ("held": waiting for the upload).
 * Result: {"duration","frames","width","height","encoder","fps",
 * "hw_decode","upload":{the upload result},"cover":{...}|null}. */
#ifndef VODQ_RENDER_UPLOAD_H
#define VODQ_RENDER_UPLOAD_H

#include "shared/err.h"
#include "worker/executor.h"

/* The compose executor of the worker: overlapped render and upload when
 * the section has "upload", else vodq_compose_run(). */
enum vodq_rc vodq_render_upload_run(const char *spec_json, struct vodq_task_io *io,
                                    struct vodq_task_result *result, struct vodq_err *err);

/* Sets the folder for the temporary files (default $TMPDIR or /tmp); the
 * string is copied. Call before any task runs. */
void vodq_render_upload_set_work_dir(const char *dir);

#endif
