/* engine.h: renders a render plan (plan.h) to an MP4 file in process with
 * libav*: one demux+decode thread per input feeding bounded frame queues,
 * the plan's filter graph, the video/audio encoders and the MP4 muxer.
 *
 * The output is written to OUT.part-XXXXXX in the same folder and renamed
 * to OUT only when complete; on failure, cancel or yield the partial file
 * is removed. Every callback is called from the calling thread. */
#ifndef VODQ_COMPOSE_ENGINE_H
#define VODQ_COMPOSE_ENGINE_H

#include "shared/err.h"
#include "worker/compose/plan.h"
#include "worker/executor.h"

#include <stdbool.h>
#include <stdint.h>

struct vodq_engine_opts {
    void *opaque; /* passed back to every callback */
    /* Output written so far: done_ms of total_ms (never goes backwards,
     * reaches total_ms only on success), frames encoded, encoding speed in
     * frames per second. Returning anything but VODQ_OK stops the render
     * with that code (VODQ_ERR_FENCED from the worker). May be NULL. */
    enum vodq_rc (*progress)(void *opaque, int64_t done_ms, int64_t total_ms, int64_t frames,
                             double fps);
    /* The desired state, polled between frames; NULL = always RUN.
     * PAUSE: nothing is written until RUN; CANCEL: stop, remove the partial
     * file, VODQ_ERR_CANCELLED; YIELD: the same, VODQ_ERR_PAUSED. */
    enum vodq_ctl (*control)(void *opaque);
    /* Blocks up to timeout_ms for a control change while paused; NULL =
     * sleep timeout_ms and poll control again. */
    enum vodq_ctl (*wait)(void *opaque, int timeout_ms);
    /* Encoder name overriding plan->out.encoder ("auto" or a name); NULL =
     * the plan's. "auto" picks NVENC, then VAAPI, then software (hw.h). */
    const char *encoder;
    /* Written to be read while it grows (compose and upload overlapped):
     * moov at the end whatever plan->out.faststart says, so the muxer
     * appends and seeks back only once, in the trailer, to write the mdat
     * size into the file's first bytes (the header, before any sample).
     * (Fragmented MP4 would need no seek at all, but FFmpeg 5.1's demuxer
     * ignores a fragmented file's edit list: the AAC priming samples would
     * decode as audio and every timestamp would move by 21 ms.) */
    bool growing;
    /* growing only: called after each write that grew the temporary file,
     * with its path and the bytes now in it; every byte past the header is
     * final. The trailer is not reported: the file is complete when
     * vodq_engine_render returns VODQ_OK (it is then at out_path). May be
     * NULL. */
    void (*written)(void *opaque, const char *tmp_path, int64_t bytes);
    /* Watchdog: a render that takes no frame from any input for this many
     * seconds (not counting pauses) fails with VODQ_ERR_TIMEOUT naming the
     * input file and the stream it waited on; <= 0 = 60 s. */
    double stall_timeout_s;
};

struct vodq_engine_stats {
    int64_t frames;     /* video frames written */
    int64_t samples;    /* audio samples (per channel) written */
    double duration_s;  /* of the output */
    int width, height;  /* of the output video */
    char encoder[32];   /* video encoder used */
    bool hw_decode;     /* some input was decoded with NVDEC */
    bool cover_written; /* plan->out.cover_path was written */
    double elapsed_s;   /* wall time of the render */
    double fps;         /* frames / elapsed_s */
};

/* Renders plan to out_path. o and st may be NULL. Returns VODQ_OK, or
 * VODQ_ERR_CANCELLED / VODQ_ERR_PAUSED after a cancel / yield, or an error
 * (VODQ_ERR_MEDIA naming the input file or the encoder, VODQ_ERR_IO naming
 * the output) with err filled. */
enum vodq_rc vodq_engine_render(const struct vodq_plan *plan, const char *out_path,
                                const struct vodq_engine_opts *o, struct vodq_engine_stats *st,
                                struct vodq_err *err);

#endif
