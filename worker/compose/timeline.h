/* timeline.h: the compose timeline (docs/timeline.md), parsed from JSON and
 * validated before any media is opened.
 *
 * Life cycle: vodq_timeline_load_file() or vodq_timeline_parse() fill a
 * struct vodq_timeline (every field checked; errors name the JSON path of the
 * bad field, e.g. "tracks[0].clips[2].speed: must be between 0.25 and 4");
 * vodq_timeline_probe() then opens each media file's header with libavformat
 * (no decoding of pictures) to learn durations, streams and colour facts the
 * render plan needs; vodq_timeline_cleanup() frees everything.
 *
 * All times are seconds (double). Relative "src" paths are resolved against
 * the base directory given to the parser (the timeline file's folder). */
#ifndef VODQ_COMPOSE_TIMELINE_H
#define VODQ_COMPOSE_TIMELINE_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VODQ_TIMELINE_VERSION 1

/* Font used by captions that name none: WenQuanYi Micro Hei (CJK + Latin). */
#define VODQ_TIMELINE_DEFAULT_FONT  "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
/* Used when the CJK font is not installed. */
#define VODQ_TIMELINE_FALLBACK_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

/* VODQ_CLIP_COLOR: a solid colour ("background") for "duration" seconds,
 * no media (gaps and canvases of imported timelines). */
enum vodq_clip_type { VODQ_CLIP_VIDEO, VODQ_CLIP_IMAGE, VODQ_CLIP_COLOR };

enum vodq_fit { VODQ_FIT_CONTAIN, VODQ_FIT_COVER, VODQ_FIT_BLUR, VODQ_FIT_STRETCH };

/* The nine anchors; x/y offsets move the item away from the anchored edges
 * (towards the centre), or right/down for the centred axes. */
enum vodq_anchor {
    VODQ_ANCHOR_TOP_LEFT,
    VODQ_ANCHOR_TOP,
    VODQ_ANCHOR_TOP_RIGHT,
    VODQ_ANCHOR_LEFT,
    VODQ_ANCHOR_CENTER,
    VODQ_ANCHOR_RIGHT,
    VODQ_ANCHOR_BOTTOM_LEFT,
    VODQ_ANCHOR_BOTTOM,
    VODQ_ANCHOR_BOTTOM_RIGHT,
};

struct vodq_rgba {
    uint8_t r, g, b, a; /* 0..255; a = 255 opaque */
};

/* What vodq_timeline_probe() learnt about one media file. */
struct vodq_media_info {
    bool probed;          /* the fields below are valid */
    bool has_video;       /* a video stream (or the picture of an image) */
    bool has_audio;       /* an audio stream */
    double duration_s;    /* container or stream duration; < 0 unknown (images) */
    int width, height;    /* coded picture size of the video stream */
    int sar_num, sar_den; /* sample aspect ratio; 1/1 when unknown */
    int fps_num, fps_den; /* average frame rate; 0/0 unknown */
    int rotation;         /* display rotation in degrees clockwise: 0, 90, 180, 270
                           * (container display matrix, or a JPEG's EXIF orientation) */
    bool mirror;          /* flip horizontally before rotating (EXIF orientation 2, 4, 5, 7) */
    bool interlaced;      /* the stream's field order says interlaced */
    bool tff;             /* interlaced, top field first */
    int channels;         /* of the audio stream; 0 none */
    double near_s;        /* video clips with in > 0: source time (from the file's start,
                           * on the stream's own timestamps) of the frame nearest in;
                           * < 0 unknown */
    double near_gap_s;    /* time from the frame before it to it; 0 unknown */
    double near_out_s;    /* video clips with out: the same for the frame nearest out (the
                           * clip's end; the end of the last frame counts); < 0 unknown */
    int pix_fmt;          /* enum AVPixelFormat of the stream, -1 unknown */
    int color_space;      /* enum AVColorSpace as tagged (2 = unspecified) */
    int color_range;      /* enum AVColorRange as tagged (0 = unspecified) */
    int color_primaries;  /* enum AVColorPrimaries as tagged */
    int color_trc;        /* enum AVColorTransferCharacteristic as tagged */
};

/* A span of clip-local (or, at the top level, timeline) time whose sound
 * gets another gain. */
struct vodq_vol_range {
    double start_s, end_s; /* end_s > start_s */
    double volume;         /* 0..10, linear */
};

struct vodq_transition {
    char type[24];     /* xfade transition name; "" = none (hard cut) */
    double duration_s; /* overlap with the next clip; > 0 when type is set */
};

struct vodq_clip {
    enum vodq_clip_type type;
    char *src;                         /* resolved path; owned */
    double in_s;                       /* source start (video) */
    double out_s;                      /* source end (video); < 0 = end of the source */
    double image_duration_s;           /* image clips: time on screen */
    double speed;                      /* 0.25..4; video and audio together */
    enum vodq_fit fit;                 /* how the picture fills the output frame */
    struct vodq_rgba background;       /* contain/blur padding colour */
    double volume;                     /* clip audio gain, 0..10 (linear) */
    bool mute;                         /* drop the clip's audio (silence instead) */
    double brightness;                 /* -1..1, 0 = unchanged */
    double contrast;                   /* 0..2, 1 = unchanged */
    double saturation;                 /* 0..3, 1 = unchanged */
    struct vodq_transition transition; /* into the next clip (main track only) */
    struct vodq_media_info info;       /* filled by vodq_timeline_probe() */
    /* Picture edits before the fit, in this order (all optional): */
    bool has_crop;                  /* keep crop_* (fractions of the picture) */
    double crop_x, crop_y, crop_w, crop_h;
    int rotate;                     /* 0, 90, 180, 270 degrees clockwise */
    bool hflip, vflip;              /* mirror */
    double freeze_s;                /* hold the last frame this long at the end */
    double fade_in_s, fade_out_s;   /* sound fades at the clip's start / end */
    struct vodq_vol_range *vol;     /* owned; gain over clip-local spans */
    size_t n_vol;
    /* Clips of tracks and above (picture in picture) only: */
    bool pip;                /* drawn over the main track, not cut into it */
    double start_s;          /* timeline time it appears; default: after the
                              * previous clip of its track */
    enum vodq_anchor anchor; /* position, as for overlays */
    int x, y;                /* offset from the anchor, pixels */
    double scale;            /* width as a fraction of the output width; 0 = width_px */
    int width_px;            /* width in pixels */
    int height_px;           /* height in pixels; 0 = from the aspect; with
                              * width_px the picture fills the box per fit */
    double opacity;          /* 0..1 */
};

struct vodq_track {
    struct vodq_clip *clips; /* owned array, played one after the other */
    size_t n_clips;
};

struct vodq_overlay {
    char *src; /* image file; owned */
    enum vodq_anchor anchor;
    int x, y;          /* offset from the anchor, pixels */
    double scale;      /* width as a fraction of the output width; 0 = use width_px */
    int width_px;      /* width in pixels; 0 = use scale (or the image's own width) */
    double opacity;    /* 0..1 */
    double start_s;    /* first time shown */
    double duration_s; /* < 0 = until the end */
    struct vodq_media_info info;
};

struct vodq_caption {
    char *text; /* UTF-8; owned */
    char *font; /* font file; owned (default font when not given) */
    int size;   /* font size, pixels */
    struct vodq_rgba color;
    int outline; /* border width, pixels; 0 = none */
    struct vodq_rgba outline_color;
    bool has_shadow;
    int shadow_x, shadow_y; /* pixels */
    struct vodq_rgba shadow_color;
    bool has_box;
    struct vodq_rgba box_color;
    int box_padding; /* pixels */
    enum vodq_anchor anchor;
    int x, y; /* offset from the anchor, pixels */
    double start_s;
    double end_s; /* < 0 = until the end */
};

struct vodq_music {
    char *src;         /* owned; NULL = no music */
    double in_s;       /* source start */
    double out_s;      /* source end; < 0 = end of the source */
    double start_s;    /* timeline time the music starts */
    bool loop;         /* repeat [in, out) until the timeline ends */
    double volume;     /* 0..10 */
    double fade_in_s;  /* >= 0 */
    double fade_out_s; /* >= 0, ends where the music ends */
    double duration_s; /* < 0 = no cap; else plays at most this long */
    double speed;      /* 0.25..4, tempo (pitch kept) */
    struct vodq_media_info info;
};

/* A subtitle file (ASS/SSA or SRT) burnt in with libass. */
struct vodq_subtitle {
    char *src;      /* owned */
    double start_s; /* timeline time its time 0 falls on */
};

struct vodq_output_spec {
    int width, height;     /* even, 16..7680 / 16..4320 */
    int fps_num, fps_den;  /* 1..240 frames per second */
    char video_codec[8];   /* "h264" | "hevc" */
    int crf;               /* 0..51; used when bitrate is 0 */
    int64_t bitrate;       /* bits/s; 0 = crf */
    int gop;               /* frames; 0 = two seconds */
    char preset[16];       /* "" = encoder default */
    char encoder[32];      /* "auto" or an FFmpeg encoder name */
    char audio_codec[8];   /* "aac" */
    int64_t audio_bitrate; /* bits/s */
    int sample_rate;       /* Hz */
    int channels;          /* 1 | 2 */
    char color[8];         /* "bt709" | "bt601" */
    bool full_range;       /* "color_range": "full"; default limited */
    bool has_loudness;     /* normalise the mix to loudness_lufs */
    double loudness_lufs;  /* -70..-5 */
    bool faststart;
    double max_duration_s; /* > 0: the output is cut there */
    double cover_at_s; /* < 0 = no cover */
    char *cover_path;  /* owned; NULL = no cover */
};

struct vodq_timeline {
    int version;               /* 1 */
    struct vodq_track *tracks; /* owned; tracks[0] is the main track, the
                                * others (at most 8) are drawn over it */
    size_t n_tracks;
    struct vodq_overlay *overlays; /* owned */
    size_t n_overlays;
    struct vodq_caption *captions; /* owned */
    size_t n_captions;
    struct vodq_music music; /* music.src NULL = none */
    struct vodq_music *audio; /* owned; more sound tracks mixed like music */
    size_t n_audio;
    struct vodq_subtitle *subtitles; /* owned */
    size_t n_subtitles;
    struct vodq_vol_range *vol; /* owned; gain of the mix over timeline spans */
    size_t n_vol;
    struct vodq_output_spec output;
    char *base_dir; /* owned; folder relative paths were resolved against */
    bool probed;    /* vodq_timeline_probe() succeeded */
    char **temps;   /* owned; decoded HEIF stills (PAM files) the probe made and
                     * put in place of their sources; removed by cleanup */
    size_t n_temps;
};

/* Parses and validates a timeline JSON text of len bytes. Relative paths are
 * resolved against base_dir (NULL = the current directory). Source files
 * must exist (checked with stat, nothing is decoded); a source may instead
 * be an http://, https://, s3:// or oss:// URL, kept as given: the caller
 * maps it to a local file (compose.c's resolver) before probing. Returns VODQ_OK, or
 * VODQ_ERR_INVALID with err->msg naming the JSON path of the first bad
 * field ("tracks[0].clips[2].speed: must be between 0.25 and 4").
 * *tl is always safe to vodq_timeline_cleanup(). */
enum vodq_rc vodq_timeline_parse(const char *json, size_t len, const char *base_dir,
                                 struct vodq_timeline *tl, struct vodq_err *err);

/* Reads path and parses it with the file's folder as base_dir. */
enum vodq_rc vodq_timeline_load_file(const char *path, struct vodq_timeline *tl,
                                     struct vodq_err *err);

/* Opens every media file's header (libavformat; stream parameters only) and
 * fills the info members, then checks what needs the media: a trim past the
 * end of its source, a transition longer than a clip. HEIF/HEIC stills
 * (image clips, overlays), which FFmpeg cannot read, are decoded with
 * libheif (heif.h) into temporary PAM files that replace their src (removed
 * by vodq_timeline_cleanup). Errors name the JSON path and the file
 * (VODQ_ERR_MEDIA for unreadable media). */
enum vodq_rc vodq_timeline_probe(struct vodq_timeline *tl, struct vodq_err *err);

/* Seconds of source a video clip plays (out - in), using the probed source
 * duration when out is not given; < 0 when unknown. Images: their duration. */
double vodq_clip_source_span_s(const struct vodq_clip *c);

/* Number of output frames clip c lasts at the output rate (after speed),
 * rounded to the nearest frame; -1 when unknown (unprobed open-ended clip). */
int64_t vodq_clip_frames(const struct vodq_clip *c, const struct vodq_output_spec *out);

/* Frames of clip c that hold its last picture ("freeze"; part of
 * vodq_clip_frames). */
int64_t vodq_clip_freeze_frames(const struct vodq_clip *c, const struct vodq_output_spec *out);

/* Number of output frames of the transition after clip c (0 = cut). */
int64_t vodq_transition_frames(const struct vodq_clip *c, const struct vodq_output_spec *out);

/* Output frame at which clip j of an overlay track tr appears: its "start",
 * or the end of the previous clip of the track; -1 when unknown. */
int64_t vodq_clip_start_frame(const struct vodq_track *tr, size_t j,
                              const struct vodq_output_spec *out);

/* Total output frames of the timeline: the main track's clips minus its
 * transition overlaps (overlay tracks never make it longer);
 * -1 when a clip's length is unknown (open-ended video clip, not probed). */
int64_t vodq_timeline_frames(const struct vodq_timeline *tl);

/* Exact output duration in seconds (frames / fps); < 0 when unknown. */
double vodq_timeline_duration_s(const struct vodq_timeline *tl);

/* Frees what *tl owns and zeroes it; safe on a zeroed or partly filled one. */
void vodq_timeline_cleanup(struct vodq_timeline *tl);

struct AVFormatContext;

/* Index of the best video stream of an opened file that is a moving
 * picture: a cover image attached to a sound file (attached picture) only
 * when still_ok (image clips and stickers); -1 when there is none. */
int vodq_timeline_video_stream(const struct AVFormatContext *fmt, bool still_ok);

/* Returns the static name of an enum value ("contain", "top-right", ...). */
const char *vodq_fit_name(enum vodq_fit fit);
const char *vodq_anchor_name(enum vodq_anchor anchor);

#endif
