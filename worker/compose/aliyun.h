/* aliyun.h: imports an Alibaba Cloud (Aliyun) cloud-editing Timeline
 * (ApsaraVideo VOD ProduceEditingProjectVideo / IMS SubmitMediaProducingJob)
 * into a vodq timeline (docs/timeline.md), which the ordinary parser,
 * planner and engine then render. docs/aliyun-timeline.md lists, field by
 * field, what is supported, approximated (and how) or refused.
 *
 * The import checks the whole document before any media is read: what only
 * Aliyun's cloud resolves (a MediaId without a mapping, template
 * placeholders, AI_* clips and effects, VFX and Filter presets, paid
 * transitions, fonts without a local mapping) fails with the JSON path and
 * the value, e.g. "VideoTracks[0].VideoTrackClips[2].Effects[1]: VFX
 * \"heartbeat\" is an Aliyun cloud asset". With lenient set, refused
 * effects are dropped instead and listed in result->dropped. Only then are
 * the sources probed (when opts->probe is given) for what Aliyun's timing
 * rules need: source durations (Out defaults, back-to-back placement) and
 * sizes (default output size, natural-size placement). */
#ifndef VODQ_COMPOSE_ALIYUN_H
#define VODQ_COMPOSE_ALIYUN_H

#include "shared/err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* What a probe learnt about one source; unknown values stay < 0 / 0. */
struct vodq_aliyun_media {
    double duration_s; /* < 0 unknown (images: < 0) */
    int width, height; /* display size; 0 unknown */
};

struct vodq_aliyun_opts {
    const cJSON *media_map;     /* {"MediaId": "path or URL", ...} or NULL */
    const cJSON *output_config; /* OutputMediaConfig / ProduceConfig object, or NULL */
    bool lenient;               /* drop refused effects instead of failing */
    uint64_t seed;              /* picks "random" and listed transitions */
    const char *base_dir;       /* folder relative media paths resolve against (probe) */
    /* Learns a source's duration and size; NULL = nothing is probed (the
     * import then needs explicit Out / Duration / output size). */
    enum vodq_rc (*probe)(void *opaque, const char *src, struct vodq_aliyun_media *m,
                          struct vodq_err *err);
    void *probe_opaque;
};

struct vodq_aliyun_result {
    cJSON *timeline; /* the vodq timeline (owned) */
    cJSON *dropped;  /* array of strings: what lenient dropped (owned) */
    cJSON *notes;    /* array of strings: approximations made (owned) */
};

/* True when doc looks like an Aliyun Timeline: an object with one of the
 * top-level keys VideoTracks, AudioTracks, SubtitleTracks, ImageTracks,
 * EffectTracks (and no vodq "version"). */
bool vodq_aliyun_detect(const cJSON *doc);

/* Converts doc (the Timeline object, or a string holding it) into
 * result->timeline. On failure result is empty and err->msg names the JSON
 * path (VODQ_ERR_INVALID, permanent). */
enum vodq_rc vodq_aliyun_import(const cJSON *doc, const struct vodq_aliyun_opts *opts,
                                struct vodq_aliyun_result *result, struct vodq_err *err);

void vodq_aliyun_result_cleanup(struct vodq_aliyun_result *result);

/* A probe for opts->probe that opens local files with libavformat (headers
 * only; HEIF/HEIC stills with libheif, heif.h); URLs are left unknown (the
 * compose task's own probe fetches them first). opaque: unused. */
enum vodq_rc vodq_aliyun_probe_file(void *opaque, const char *src, struct vodq_aliyun_media *m,
                                    struct vodq_err *err);

#endif
