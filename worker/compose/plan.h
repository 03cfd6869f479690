/* plan.h: a render plan, the boundary between the timeline (what the user
 * asked for) and the engine (how libav* renders it).
 *
 * A plan is a list of inputs plus ONE filter graph description in the
 * ffmpeg command line's -filter_complex syntax, whose open inputs are
 * labelled "[I:v]" / "[I:a]" (I = index into inputs) and whose two
 * outputs are labelled with vout_label / aout_label. The same plan can
 * therefore be rendered in process by engine.c or, for the reference tests
 * and the benchmark, by the ffmpeg command line (vodq_plan_ffmpeg_args). */
/* What the engine must follow (from the plan builder):
 *  - Call order: vodq_timeline_load_file -> vodq_timeline_probe -> vodq_plan_build;
 *    building from an unprobed timeline fails saying so.
 *  - seek_s is measured from the file's start time. After seeking, every
 *    stream's timestamps are relative to the seek point (pts - seek), not reset
 *    per stream. Frames before the seek point may be sent with negative
 *    timestamps; the graph trims them.
 *  - is_image: duration_s is half a frame, so send exactly ONE frame; the graph
 *    repeats it. Stickers are also a single frame.
 *  - loop: loop the file until duration_s has been read.
 *  - Feed inputs on demand (av_buffersrc_get_nb_failed_requests): concat and
 *    xfade consume inputs one after another.
 *  - Stop at sink EOF: outputs can end before every input is used up (music or
 *    picture-in-picture clips running past the end).
 *  - Video comes out with time base 1/fps; audio comes out fltp at the output
 *    rate: set the AAC frame size (1024) on the audio sink.
 *  - HEVC: the command line adds -tag:v hvc1; the engine's muxer sets the same.
 */
#ifndef VODQ_COMPOSE_PLAN_H
#define VODQ_COMPOSE_PLAN_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vodq_timeline; /* timeline.h */

struct vodq_plan_input {
    char *path;        /* media file; owned */
    bool is_image;     /* a still image: the engine repeats its one frame
                        * (like ffmpeg -loop 1 -framerate fps -i) */
    bool loop;         /* audio/video input read in a loop (-stream_loop -1) */
    double seek_s;     /* accurate input seek (-ss before -i): frames before
                        * it are dropped and timestamps restart at 0; 0 = none */
    double duration_s; /* read at most this much after seek_s (-t before -i);
                        * 0 = to the end (required > 0 for images and loops) */
    bool use_video;    /* the graph references [I:v] */
    bool use_audio;    /* the graph references [I:a] */
};

struct vodq_plan_output {
    int width, height;      /* pixels, even */
    int fps_num, fps_den;   /* frame rate */
    char vcodec[8];         /* "h264" or "hevc" */
    char encoder[32];       /* "auto" or an FFmpeg encoder name */
    int crf;                /* quality when bitrate is 0; -1 = encoder default */
    int64_t video_bitrate;  /* bits/s; 0 = use crf */
    int gop;                /* keyframe interval in frames; 0 = 2 s worth */
    char preset[16];        /* encoder preset name ("medium", "p4", ...), "" = default */
    char acodec[8];         /* "aac" */
    int64_t audio_bitrate;  /* bits/s */
    int sample_rate;        /* Hz */
    int channels;           /* 1 or 2 */
    char color[16];         /* "bt709" (HD) or "bt601" (SD); tags written to stream and container */
    bool full_range;        /* false: limited (tv) range */
    bool faststart;         /* move the moov atom to the front */
    double cover_at_s;      /* < 0: no cover; else JPEG of the output at this time */
    char *cover_path;       /* where the cover goes; owned; NULL if none */
};

struct vodq_plan {
    struct vodq_plan_input *inputs; /* owned array */
    size_t n_inputs;
    char *filter_complex;           /* owned; ffmpeg -filter_complex syntax */
    char vout_label[16];            /* output label of the video chain, e.g. "vout" */
    char aout_label[16];            /* output label of the audio chain, e.g. "aout" */
    double duration_s;              /* exact output duration */
    struct vodq_plan_output out;
};

/* Builds the render plan of a validated timeline. Returns VODQ_OK and fills
 * *plan (caller cleans up with vodq_plan_cleanup), or an error. */
enum vodq_rc vodq_plan_build(const struct vodq_timeline *tl, struct vodq_plan *plan,
                             struct vodq_err *err);

/* Frees what *plan owns and zeroes it; safe on a zeroed or partly built plan. */
void vodq_plan_cleanup(struct vodq_plan *plan);

/* Returns a new NULL-terminated argv for the ffmpeg command line that
 * renders the same plan to out_path with the given encoder name (for
 * reference tests and benchmarks, never used by the engine); caller frees
 * each string and the array. */
char **vodq_plan_ffmpeg_args(const struct vodq_plan *plan, const char *encoder,
                             const char *out_path);

#endif
