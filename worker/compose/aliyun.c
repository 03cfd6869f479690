/* aliyun.c: Aliyun cloud-editing Timeline -> vodq timeline (aliyun.h).
 *
 * The document is converted twice: a first pass without media (every
 * refusal, every dropped effect and note is found here, before any file is
 * opened), then a second pass with the probe, whose result is kept. Field
 * paths in errors are Aliyun's ("VideoTracks[0].VideoTrackClips[2].In").
 * Known keys are matched case-insensitively (MediaURL / MediaUrl), a key
 * given twice under different case is refused, numbers may be strings. */
#include "worker/compose/aliyun.h"

#include "worker/compose/heif.h"

#include <libavformat/avformat.h>
#include <libavutil/display.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AP_LEN 160 /* JSON paths: SubtitleTracks[3].SubtitleTrackClips[12].FontColor */
#define EPS 1e-6
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum vodq_rc rc_ = (x);                                                                    \
        if (rc_ != VODQ_OK)                                                                        \
            return rc_;                                                                            \
    } while (0)

/* ---- Tables ---- */

/* Transition SubType -> xfade (spec 13.1); fallback = no counterpart. */
struct xf {
    const char *name, *xfade;
    bool fallback;
};
static const struct xf transitions[] = {
    {"directional", "diagtl", false},       {"displacement", "dissolve", true},
    {"windowslice", "hrslice", false},      {"bowTieVertical", "vertopen", false},
    {"bowTieHorizontal", "horzopen", false}, {"simplezoom", "zoomin", false},
    {"linearblur", "hblur", false},         {"waterdrop", "circleopen", true},
    {"glitchmemories", "pixelize", true},   {"polka", "dissolve", true},
    {"perlin", "dissolve", false},          {"directionalwarp", "smoothleft", false},
    {"bounce_up", "slideup", false},        {"bounce_down", "slidedown", false},
    {"wiperight", "wiperight", false},      {"wipeleft", "wipeleft", false},
    {"wipedown", "wipedown", false},        {"wipeup", "wipeup", false},
    {"morph", "dissolve", false},           {"colordistance", "distance", false},
    {"circlecrop", "circlecrop", false},    {"swirl", "radial", true},
    {"dreamy", "fade", false},              {"gridflip", "pixelize", true},
    {"zoomincircles", "circleopen", false}, {"radial", "radial", false},
    {"mosaic", "zoomin", true},             {"undulatingburnout", "circleopen", true},
    {"crosshatch", "dissolve", false},      {"crazyparametricfun", "fade", true},
    {"kaleidoscope", "fade", true},         {"windowblinds", "hlslice", false},
    {"hexagonalize", "pixelize", false},    {"glitchdisplace", "pixelize", true},
    {"dreamyzoom", "zoomin", false},        {"doomscreentransition_up", "vuslice", false},
    {"doomscreentransition_down", "vdslice", false}, {"ripple", "fade", true},
    {"pinwheel", "radial", false},          {"angular", "radial", false},
    {"burn", "fadewhite", false},           {"circle", "circleclose", false},
    {"circleopen", "circleopen", false},    {"colorphase", "fade", false},
    {"crosswarp", "smoothleft", false},     {"cube", "slideleft", true},
    {"directionalwipe", "smoothleft", false}, {"doorway", "horzopen", false},
    {"fade", "fade", false},                {"fadecolor", "fadeblack", false},
    {"fadegrayscale", "fadegrays", false},  {"flyeye", "fade", true},
    {"heart", "circleopen", true},          {"luma", "diagbr", false},
    {"multiplyblend", "fade", false},       {"pixelize", "pixelize", false},
    {"polarfunction", "radial", false},     {"randomsquares", "dissolve", false},
    {"rotatescalefade", "fade", true},      {"squareswire", "diagtl", false},
    {"squeeze", "squeezev", false},         {"swap", "slideleft", false},
    {"wind", "smoothleft", false},
};

/* Aliyun font names (spec 9.4) -> installed font files. */
#define FONT_CJK "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
#define FONT_SANS "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define FONT_SANS_BOLD "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
struct font {
    const char *name, *file;
};
static const struct font fonts[] = {
    {"AlibabaPuHuiTi", FONT_CJK},
    {"Alibaba PuHuiTi", FONT_CJK},
    {"FZFangSong-Z02S", FONT_CJK},
    {"FZHei-B01S", FONT_CJK},
    {"FZKai-Z03S", FONT_CJK},
    {"FZShuSong-Z01S", FONT_CJK},
    {"KaiTi", FONT_CJK},
    {"Microsoft YaHei", FONT_CJK},
    {"Roboto", FONT_SANS},
    {"Roboto Bold", FONT_SANS_BOLD},
    {"SimSun", FONT_CJK},
    {"SiYuan Heiti", FONT_CJK},
    {"SiYuan SimSun", FONT_CJK},
    {"WenQuanYi MicroHei", FONT_CJK},
    {"WenQuanYi Micro Hei", FONT_CJK},
    {"WenQuanYi Zen Hei", FONT_CJK},
    {"WenQuanYi Zen Hei Mono", FONT_CJK},
    {"WenQuanYi Zen Hei Sharp", FONT_CJK},
    {"Yuanti SC", FONT_CJK},
    {"Yuanti SC Bold", FONT_CJK},
    {"Yuanti SC Light", FONT_CJK},
    {"Yuanti SC Regular", FONT_CJK},
};

/* ---- Context ---- */

struct ctx {
    const struct vodq_aliyun_opts *o;
    struct vodq_err *err;
    bool media;      /* second pass: probe allowed, results kept */
    cJSON *dropped;  /* strings */
    cJSON *notes;    /* strings */
    int W, H;        /* output size */
    double fps;
    double canvas_w, canvas_h; /* FECanvas; 0 = none */
    double total;    /* output length (s); < 0 unknown */
    cJSON *spans;    /* ClipId -> [TimelineIn, TimelineOut, "track path"] */
    cJSON *probed;   /* source -> [duration, width, height]: each file is opened once */
    bool quiet;      /* a trial run that only collects spans: lists nothing */
    bool refs_final; /* spans are complete: an unknown ReferenceClipId is an error */
    double factor;   /* AutoSpeed of the track being built: its time is divided by it */
    cJSON *captions, *audio, *subtitles, *vol, *tracks;
};

static enum vodq_rc failf(struct ctx *x, const char *path, const char *fmt, ...)
    VODQ_PRINTF(3, 4);

/* "PATH: message" (VODQ_ERR_INVALID, permanent). */
static enum vodq_rc failf(struct ctx *x, const char *path, const char *fmt, ...)
{
    char what[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    vodq_err_set(x->err, VODQ_ERR_INVALID, 0, "%s: %s", path[0] ? path : "Timeline", what);
    if (x->err)
        x->err->permanent = true;
    return VODQ_ERR_INVALID;
}

static void pathf(char *dst, size_t size, const char *fmt, ...) VODQ_PRINTF(3, 4);
static void pathf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* Adds "PATH: text" to list (first pass only, so nothing is listed twice). */
static void listf(struct ctx *x, cJSON *list, const char *path, const char *fmt, ...)
    VODQ_PRINTF(4, 5);
static void listf(struct ctx *x, cJSON *list, const char *path, const char *fmt, ...)
{
    char what[300], line[AP_LEN + 310];
    va_list ap;

    if (x->media || x->quiet || list == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s: %s", path[0] ? path : "Timeline", what);
    cJSON_AddItemToArray(list, cJSON_CreateString(line));
}

/* A refused construct: an error, or (lenient, droppable) a dropped entry.
 * Returns VODQ_OK when dropped, so the caller skips it. */
static enum vodq_rc refuse(struct ctx *x, bool droppable, const char *path, const char *fmt, ...)
    VODQ_PRINTF(4, 5);
static enum vodq_rc refuse(struct ctx *x, bool droppable, const char *path, const char *fmt, ...)
{
    char what[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (droppable && x->o->lenient) {
        listf(x, x->dropped, path, "%s (dropped)", what);
        return VODQ_OK;
    }
    return failf(x, path, "%s", what);
}

/* ---- Field access ---- */

/* obj[key], matched case-insensitively; JSON null counts as absent. */
static const cJSON *get(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_IsObject(obj) ? cJSON_GetObjectItem(obj, key) : NULL;
    return (it == NULL || cJSON_IsNull(it)) ? NULL : it;
}

static const char *getstr(const cJSON *obj, const char *key)
{
    const cJSON *it = get(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void joinp(char *dst, size_t size, const char *path, const char *key)
{
    if (path[0])
        pathf(dst, size, "%s.%s", path, key);
    else
        pathf(dst, size, "%s", key);
}

/* A number, or a string that is one ("0.5"). *found false when absent. */
static enum vodq_rc num(struct ctx *x, const cJSON *obj, const char *path, const char *key,
                        double *out, bool *found)
{
    const cJSON *it = get(obj, key);
    char p[AP_LEN];

    *found = false;
    if (it == NULL)
        return VODQ_OK;
    joinp(p, sizeof(p), path, key);
    if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) {
        *out = it->valuedouble;
    } else if (cJSON_IsString(it)) {
        char *end;
        errno = 0;
        double v = strtod(it->valuestring, &end);
        while (*end == ' ')
            end++;
        if (it->valuestring[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v))
            return failf(x, p, "must be a number (got \"%.40s\")", it->valuestring);
        *out = v;
    } else {
        return failf(x, p, "must be a number");
    }
    *found = true;
    return VODQ_OK;
}

/* num() with a default and a closed range. */
static enum vodq_rc numr(struct ctx *x, const cJSON *obj, const char *path, const char *key,
                         double def, double lo, double hi, double *out, bool *found)
{
    bool f;
    char p[AP_LEN];

    *out = def;
    TRY(num(x, obj, path, key, out, &f));
    if (found)
        *found = f;
    if (f && (*out < lo || *out > hi)) {
        joinp(p, sizeof(p), path, key);
        return failf(x, p, "%g is outside %g..%g", *out, lo, hi);
    }
    return VODQ_OK;
}

static bool truthy(const cJSON *obj, const char *key)
{
    const cJSON *it = get(obj, key);
    if (cJSON_IsBool(it))
        return cJSON_IsTrue(it);
    if (cJSON_IsString(it))
        return strcasecmp(it->valuestring, "true") == 0;
    return false;
}

/* Position / size value (spec 3.1): v <= 1 a fraction of full, v >= 2
 * pixels (of the FECanvas when there is one, rescaled); (1, 2) refused. */
static enum vodq_rc coord(struct ctx *x, const cJSON *obj, const char *path, const char *key,
                          int full, double canvas, double *out, bool *found)
{
    double v = 0;
    char p[AP_LEN];

    TRY(num(x, obj, path, key, &v, found));
    if (!*found)
        return VODQ_OK;
    joinp(p, sizeof(p), path, key);
    if (fabs(v) <= 1)
        *out = v * full;
    else if (fabs(v) >= 2)
        *out = canvas > 0 ? v * full / canvas : v;
    else
        return failf(x, p, "%g is neither a fraction (0..1) nor a pixel value (>= 2)", v);
    if (fabs(*out) > 8 * 4096)
        return failf(x, p, "%g is too far outside the frame", v);
    return VODQ_OK;
}

/* "#RRGGBB" or "RRGGBB" plus an opacity -> "#RRGGBBAA". */
static enum vodq_rc colour(struct ctx *x, const cJSON *obj, const char *path, const char *key,
                           const char *def, double opacity, char out[10])
{
    const char *s = getstr(obj, key);
    char p[AP_LEN];

    if (get(obj, key) && s == NULL) {
        joinp(p, sizeof(p), path, key);
        return failf(x, p, "must be a colour \"#RRGGBB\"");
    }
    if (s == NULL)
        s = def;
    if (s[0] == '#')
        s++;
    if (strlen(s) != 6 || strspn(s, "0123456789abcdefABCDEF") != 6) {
        joinp(p, sizeof(p), path, key);
        return failf(x, p, "must be a colour \"#RRGGBB\" (got \"%.20s\")", s);
    }
    snprintf(out, 10, "#%s%02x", s, (unsigned)lround(fmin(fmax(opacity, 0), 1) * 255));
    return VODQ_OK;
}

/* ---- Whole-document checks ---- */

/* Template placeholders ("$Video") and keys given twice (MediaURL and
 * MediaUrl): refused anywhere in the document. */
static enum vodq_rc walk(struct ctx *x, const cJSON *node, const char *path, int depth)
{
    char p[AP_LEN];
    const cJSON *it;
    size_t i = 0;

    if (depth > 32)
        return failf(x, path, "nested too deeply");
    if (cJSON_IsString(node) && node->valuestring[0] == '$')
        return failf(x, path,
                     "template placeholder \"%.40s\" not expanded (templates are merged only by "
                     "Aliyun's cloud)",
                     node->valuestring);
    if (cJSON_IsObject(node)) {
        cJSON_ArrayForEach(it, node)
        {
            const cJSON *jt;
            if (it->string == NULL)
                continue;
            for (jt = node->child; jt != it; jt = jt->next)
                if (jt->string && strcasecmp(jt->string, it->string) == 0)
                    return failf(x, path[0] ? path : "Timeline",
                                 "key \"%.40s\" is given twice (also as \"%.40s\")", it->string,
                                 jt->string);
            joinp(p, sizeof(p), path, it->string);
            TRY(walk(x, it, p, depth + 1));
        }
    } else if (cJSON_IsArray(node)) {
        cJSON_ArrayForEach(it, node)
        {
            pathf(p, sizeof(p), "%s[%zu]", path, i++);
            TRY(walk(x, it, p, depth + 1));
        }
    }
    return VODQ_OK;
}

/* ---- Media ---- */

/* The source of a clip: MediaURL/MediaUrl (path or URL) or a mapped
 * MediaId / ImageId / VideoId. */
static enum vodq_rc source(struct ctx *x, const cJSON *clip, const char *path, const char **src)
{
    static const char *const id_keys[] = {"MediaId", "ImageId", "VideoId"};
    const char *url = getstr(clip, "MediaURL");
    const char *idkey = NULL, *id = NULL;
    char p[AP_LEN];

    if (url == NULL)
        url = getstr(clip, "FileURL");
    for (size_t i = 0; i < N_OF(id_keys) && id == NULL; i++) {
        if (get(clip, id_keys[i])) {
            idkey = id_keys[i];
            id = getstr(clip, idkey);
            if (id == NULL || id[0] == '\0') {
                joinp(p, sizeof(p), path, idkey);
                return failf(x, p, "must be a non-empty string");
            }
        }
    }
    if (get(clip, "MediaURL") && (url == NULL || url[0] == '\0')) {
        joinp(p, sizeof(p), path, "MediaURL");
        return failf(x, p, "must be a non-empty string");
    }
    if (url && id) {
        joinp(p, sizeof(p), path, idkey);
        return failf(x, p, "give either MediaURL or %s, not both", idkey);
    }
    if (url) {
        if (strncmp(url, "file://", 7) == 0)
            url += 7;
        *src = url;
        return VODQ_OK;
    }
    if (id == NULL)
        return failf(x, path, "a media reference is required (MediaURL, or a mapped MediaId)");
    const cJSON *m = get(x->o->media_map, id);
    if (cJSON_IsString(m) && m->valuestring[0]) {
        *src = strncmp(m->valuestring, "file://", 7) == 0 ? m->valuestring + 7 : m->valuestring;
        return VODQ_OK;
    }
    joinp(p, sizeof(p), path, idkey);
    return failf(x, p,
                 "\"%.64s\" has no mapping (a %s is resolved by Aliyun's media library; map it "
                 "with media_map, --media-map or `vodqctl media set`)",
                 id, idkey);
}

static enum vodq_rc probe(struct ctx *x, const char *src, const char *path,
                          struct vodq_aliyun_media *m)
{
    char full[4096];

    m->duration_s = -1;
    m->width = m->height = 0;
    if (!x->media || x->o->probe == NULL)
        return VODQ_OK;
    if (src[0] != '/' && strstr(src, "://") == NULL && x->o->base_dir && x->o->base_dir[0])
        snprintf(full, sizeof(full), "%s/%s", x->o->base_dir, src);
    else
        snprintf(full, sizeof(full), "%s", src);
    const cJSON *hit = cJSON_GetObjectItemCaseSensitive(x->probed, full);
    if (cJSON_GetArraySize(hit) == 3) {
        m->duration_s = cJSON_GetArrayItem(hit, 0)->valuedouble;
        m->width = cJSON_GetArrayItem(hit, 1)->valueint;
        m->height = cJSON_GetArrayItem(hit, 2)->valueint;
        return VODQ_OK;
    }
    enum vodq_rc rc = x->o->probe(x->o->probe_opaque, full, m, x->err);
    if (rc == VODQ_OK && x->probed) {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, cJSON_CreateNumber(m->duration_s));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(m->width));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(m->height));
        cJSON_AddItemToObject(x->probed, full, a);
    }
    if (rc != VODQ_OK && x->err) {
        /* a source that cannot be read is permanent; a fetch that failed
         * for a passing reason keeps its verdict */
        vodq_err_prefix(x->err, "%s", path);
        if (rc == VODQ_ERR_MEDIA || rc == VODQ_ERR_INVALID || rc == VODQ_ERR_NOTFOUND)
            x->err->permanent = true;
    }
    return rc;
}

/* ---- Clip timing (spec 11.1) ---- */

struct placed {
    const char *src;
    bool image;
    double in, out;    /* source span (video); out < 0 = to the end */
    double speed;
    double len;        /* timeline length (s); < 0 unknown */
    double freeze;     /* seconds the last frame is held */
    double tl_in;      /* timeline start */
    struct vodq_aliyun_media m;
};

/* TrackShortenMode/TrackExpandMode AutoSpeed: the clip's times on the
 * track (TimelineIn, length, held frames) divided by the track's factor,
 * its speed multiplied (spec 11.3: one factor for every clip [U 14]). */
static enum vodq_rc autospeed(struct ctx *x, const char *path, struct placed *pl)
{
    if (x->factor <= 0 || fabs(x->factor - 1) < 1e-9)
        return VODQ_OK;
    pl->tl_in /= x->factor;
    pl->len /= x->factor;
    pl->freeze /= x->factor;
    if (!pl->image) {
        pl->speed *= x->factor;
        if (pl->speed < 0.25 - EPS || pl->speed > 4 + EPS)
            return failf(x, path, "AutoSpeed would play it at %.3fx, outside vodq's 0.25..4",
                         pl->speed);
    }
    return VODQ_OK;
}

/* Resolves one clip's source span and timeline span; cursor = where the
 * previous clip of the track ended. audio: an AudioTrackClip. */
static enum vodq_rc place(struct ctx *x, const cJSON *clip, const char *path, const char *tpath,
                          double cursor, bool audio, struct placed *pl)
{
    const char *type = getstr(clip, "Type");
    double in = 0, out = -1, maxout = -1, dur = -1, ti = cursor, to = -1;
    bool f_out, f_max, f_dur, f_ti, f_to, f_in;
    char p[AP_LEN];

    memset(pl, 0, sizeof(*pl));
    if (x->factor > 0)
        cursor *= x->factor; /* the track's own (unscaled) time */
    pl->image = !audio && type && (strcasecmp(type, "Image") == 0 ||
                                   strcasecmp(type, "GlobalImage") == 0);
    TRY(source(x, clip, path, &pl->src));
    TRY(numr(x, clip, path, "In", 0, 0, 86400, &in, &f_in));
    TRY(numr(x, clip, path, "Out", -1, 0, 86400, &out, &f_out));
    TRY(numr(x, clip, path, "MaxOut", -1, 0, 86400, &maxout, &f_max));
    TRY(numr(x, clip, path, "Duration", -1, 0, 86400, &dur, &f_dur));
    TRY(numr(x, clip, path, "TimelineIn", cursor, 0, 86400, &ti, &f_ti));
    TRY(numr(x, clip, path, "TimelineOut", -1, 0, 86400, &to, &f_to));
    TRY(numr(x, clip, path, "Speed", 1, 0.1, 100, &pl->speed, NULL));
    /* ReferenceClipId (spec 11.5): the span of the labelled clip of another
     * track, unless TimelineIn and TimelineOut are both given. */
    const char *ref = getstr(clip, "ReferenceClipId");
    bool by_ref = false;
    if (get(clip, "ReferenceClipId") && !(f_ti && f_to)) {
        const cJSON *sp = ref ? cJSON_GetObjectItemCaseSensitive(x->spans, ref) : NULL;
        char rp[AP_LEN];
        joinp(rp, sizeof(rp), path, "ReferenceClipId");
        if (ref == NULL)
            return failf(x, rp, "must be a string");
        if (sp && strcmp(cJSON_GetArrayItem(sp, 2)->valuestring, tpath) == 0)
            return failf(x, rp, "\"%.40s\" labels a clip of the same track (it must be another)",
                         ref);
        if (sp) {
            ti = cJSON_GetArrayItem(sp, 0)->valuedouble;
            to = cJSON_GetArrayItem(sp, 1)->valuedouble;
            f_ti = f_to = by_ref = true;
        } else if (x->refs_final) {
            return failf(x, rp, "\"%.40s\" names no ClipId of a video or audio clip", ref);
        }
    }
    if (f_out && out <= in) {
        joinp(p, sizeof(p), path, "Out");
        return failf(x, p, "%g must be greater than In (%g)", out, in);
    }
    if (f_to && to <= ti) {
        joinp(p, sizeof(p), path, "TimelineOut");
        return failf(x, p, "%g must be greater than TimelineIn (%g)", to, ti);
    }
    if (!pl->image && (pl->speed < 0.25 || pl->speed > 4)) {
        joinp(p, sizeof(p), path, "Speed");
        return failf(x, p, "%g is outside what vodq renders (0.25..4)", pl->speed);
    }
    if (pl->image)
        pl->speed = 1;
    TRY(probe(x, pl->src, path, &pl->m));
    pl->tl_in = ti;
    pl->in = in;
    if (pl->image) {
        if (f_dur)
            pl->len = dur;
        else if (f_out)
            pl->len = out - in;
        else if (f_to)
            pl->len = to - ti;
        else if (type && strcasecmp(type, "GlobalImage") == 0)
            pl->len = 1.0 / x->fps; /* set to the output's length by finish() */
        else
            return failf(x, path,
                         "an Image clip needs Duration (or In and Out, or TimelineOut): its "
                         "length is not defined otherwise");
        pl->out = -1;
        if (f_to && to - ti < pl->len)
            pl->len = to - ti;
        return autospeed(x, path, pl);
    }
    /* Video / audio: out = min(Out, source) or min(source, MaxOut). */
    double srcdur = pl->m.duration_s;
    if (f_out)
        out = srcdur > 0 ? fmin(out, srcdur) : out;
    else if (f_max)
        out = srcdur > 0 ? fmin(srcdur, maxout) : maxout;
    else
        out = srcdur > 0 ? srcdur : -1;
    if (out >= 0 && out <= in) {
        joinp(p, sizeof(p), path, "In");
        return failf(x, p, "%g is past the end of the source (%.3f s): %s", in, out, pl->src);
    }
    pl->out = f_out || f_max ? out : -1;
    pl->len = out >= 0 ? (out - in) / pl->speed : -1;
    /* TimelineOut (or, [U], Duration) sets the length: cut when shorter,
     * hold the last frame when longer. */
    double target = f_to ? to - ti : (f_dur ? dur : -1);
    if (target > 0) {
        if (pl->len < 0 && !x->media) {
            pl->len = target; /* first pass: the source length is not known yet */
        } else if (pl->len < 0) {
            return failf(x, path, "Out is needed: the duration of %s is unknown", pl->src);
        } else if (target < pl->len - EPS) {
            pl->out = in + target * pl->speed;
            pl->len = target;
        } else if (target > pl->len + EPS && by_ref) {
            /* too short for the clip it is aligned to: slowed down to fill */
            pl->speed *= pl->len / target;
            if (pl->speed < 0.25 - EPS) {
                char sp[AP_LEN];
                joinp(sp, sizeof(sp), path, "ReferenceClipId");
                return failf(x, sp, "filling %.3f s needs speed %.3f, below vodq's 0.25", target,
                             pl->speed);
            }
            pl->len = target;
        } else if (target > pl->len + EPS) {
            if (audio) {
                pl->len = target; /* audio: silence after the source ends */
            } else {
                pl->freeze = target - pl->len;
                listf(x, x->notes, path,
                      "TimelineOut leaves %.3f s after the source ends: the last frame is held",
                      pl->freeze);
                pl->len = target;
            }
        }
    }
    if (pl->len < 0 && !x->media)
        pl->len = 1; /* first pass placeholder */
    if (pl->len < 0)
        return failf(x, path, "Out is needed: the duration of %s is unknown", pl->src);
    if (audio && truthy(clip, "LoopMode")) {
        if (x->factor > 0)
            pl->tl_in /= x->factor; /* AutoSpeed leaves looped audio's speed alone [S] */
        return VODQ_OK;
    }
    return autospeed(x, path, pl);
}

/* ---- Effects ---- */

static bool is_cloud_id(const char *s)
{
    return (s[0] == 'O' || s[0] == 'o') && (s[1] == 'T' || s[1] == 'V' || s[1] == 't' ||
                                            s[1] == 'v') &&
           isdigit((unsigned char)s[2]) && strchr(s, '-') != NULL;
}

static const struct xf *find_transition(const char *name)
{
    for (size_t i = 0; i < N_OF(transitions); i++)
        if (strcasecmp(transitions[i].name, name) == 0)
            return &transitions[i];
    return NULL;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A deterministic pick among n for the effect at path: the same seed and
 * document give the same render, whatever else the document holds. */
static size_t pick(struct ctx *x, const char *path, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (size_t)(mix64(h ^ mix64(x->o->seed)) % n);
}

/* Resolves a Transition SubType (name, random, or "a,b" list) to xfade. */
static enum vodq_rc transition_of(struct ctx *x, const cJSON *eff, const char *path,
                                  const char **xfade, bool *dropped)
{
    const char *sub = getstr(eff, "SubType");
    char p[AP_LEN], item[64];
    const struct xf *cand[N_OF(transitions)];
    size_t n = 0;

    *dropped = false;
    joinp(p, sizeof(p), path, "SubType");
    if (sub == NULL || sub[0] == '\0')
        sub = "fade";
    if (strcasecmp(sub, "random") == 0) {
        for (size_t i = 0; i < N_OF(transitions); i++)
            cand[n++] = &transitions[i];
    } else {
        const char *s = sub;
        while (*s) {
            size_t len = strcspn(s, ",");
            const char *a = s, *b = s + len;
            while (a < b && isspace((unsigned char)*a))
                a++;
            while (b > a && isspace((unsigned char)b[-1]))
                b--;
            snprintf(item, sizeof(item), "%.*s", (int)(b - a), a);
            s += len + (s[len] == ',');
            if (item[0] == '\0')
                continue;
            if (is_cloud_id(item)) {
                TRY(refuse(x, true, path,
                           "Transition \"%.40s\" is a paid Aliyun cloud asset (advanced "
                           "transition)",
                           item));
                *dropped = true;
                return VODQ_OK;
            }
            const struct xf *t = find_transition(item);
            if (t == NULL)
                return failf(x, p, "unknown transition \"%.40s\" (see docs/aliyun-timeline.md)",
                             item);
            if (n < N_OF(cand))
                cand[n++] = t;
        }
        if (n == 0)
            return failf(x, p, "empty transition list");
    }
    const struct xf *t = cand[n > 1 ? pick(x, path, n) : 0];
    if (n > 1)
        listf(x, x->notes, path, "Transition \"%.60s\" resolved to \"%s\" (seed %llu)", sub,
              t->name, (unsigned long long)x->o->seed);
    if (t->fallback)
        listf(x, x->notes, path,
              "Transition \"%s\" has no xfade counterpart: rendered as \"%s\"", t->name,
              t->xfade);
    *xfade = t->xfade;
    return VODQ_OK;
}

/* ---- Text (subtitle clips and Text effects) ---- */

static const char *font_file(const char *name)
{
    for (size_t i = 0; i < N_OF(fonts); i++)
        if (strcasecmp(fonts[i].name, name) == 0)
            return fonts[i].file;
    return NULL;
}

/* Content with "\n"/"\N" made line breaks and ASS override blocks
 * ("{\1c&HFF&}") removed; *tags set when some were. */
static char *text_of(const char *s, bool *tags)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1), *d = out;

    *tags = false;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && (s[i + 1] == 'n' || s[i + 1] == 'N')) {
            *d++ = '\n';
            i++;
        } else if (s[i] == '{' && s[i + 1] == '\\' && strchr(s + i, '}')) {
            *tags = true;
            i = (size_t)(strchr(s + i, '}') - s);
        } else {
            *d++ = s[i];
        }
    }
    *d = '\0';
    return out;
}

/* Alignment (spec 9.2) -> anchor; the anchor point of the text box is put
 * at (X, Y) [U, ASS \pos semantics]. */
static enum vodq_rc alignment(struct ctx *x, const cJSON *obj, const char *path, int *col,
                              int *row)
{
    static const char *const names[] = {"TopLeft",    "TopCenter",    "TopRight",
                                        "CenterLeft", "CenterCenter", "CenterRight",
                                        "BottomLeft", "BottomCenter", "BottomRight",
                                        "Left",       "Center",       "Right"};
    const char *a = getstr(obj, "Alignment");
    char p[AP_LEN];

    *col = 0;
    *row = 0;
    if (a == NULL)
        return VODQ_OK; /* [U] default TopLeft */
    for (size_t i = 0; i < N_OF(names); i++)
        if (strcasecmp(a, names[i]) == 0) {
            *col = i < 9 ? (int)i % 3 : (int)i - 9;
            *row = i < 9 ? (int)i / 3 : 0;
            return VODQ_OK;
        }
    joinp(p, sizeof(p), path, "Alignment");
    return failf(x, p, "unknown value \"%.40s\" (TopLeft, TopCenter, ... BottomRight)", a);
}

/* One caption from a Text subtitle clip or Text effect. scale: factor for
 * pixel values (FECanvas or source-to-output). */
static enum vodq_rc text_caption(struct ctx *x, const cJSON *obj, const char *path, double start,
                                 double end, double scale)
{
    static const char *const anchors[3][3] = {{"top-left", "top", "top-right"},
                                              {"left", "center", "right"},
                                              {"bottom-left", "bottom", "bottom-right"}};
    static const char *const ignored[] = {"Angle",   "Spacing",   "LineSpacing", "FontFace",
                                          "TextWidth", "SubtitleEffects"};
    const char *content = getstr(obj, "Content");
    const char *font = getstr(obj, "Font"), *furl = getstr(obj, "FontUrl");
    const char *file = NULL;
    double size = 20, opacity = 1, outline = 0, shadow = 0, X = 0, Y = 0, v;
    bool f, f_fixed, tags;
    int col, row;
    char p[AP_LEN], c1[10], c2[10], c3[10];

    if (content == NULL || content[0] == '\0') {
        joinp(p, sizeof(p), path, "Content");
        return failf(x, p, "required: the text to draw (a non-empty string)");
    }
    /* Cloud-only styling. */
    static const char *const cloud[] = {"EffectColorStyle", "BubbleStyleId",
                                        "AaiMotionInEffect", "AaiMotionOutEffect",
                                        "AaiMotionLoopEffect"};
    for (size_t i = 0; i < N_OF(cloud); i++) {
        const char *s = getstr(obj, cloud[i]);
        if (s) {
            joinp(p, sizeof(p), path, cloud[i]);
            TRY(refuse(x, true, p, "%s \"%.40s\" is an Aliyun cloud asset", cloud[i], s));
        }
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (it->string && strncasecmp(it->string, "Scroll", 6) == 0) {
            joinp(p, sizeof(p), path, it->string);
            TRY(refuse(x, true, p, "scrolling text is not supported by vodq's importer"));
            break;
        }
    }
    for (size_t i = 0; i < N_OF(ignored); i++)
        if (get(obj, ignored[i])) {
            joinp(p, sizeof(p), path, ignored[i]);
            listf(x, x->notes, p, "not rendered (vodq captions have no %s)", ignored[i]);
        }
    if (furl) {
        joinp(p, sizeof(p), path, "FontUrl");
        if (strstr(furl, "://") && strncmp(furl, "file://", 7) != 0)
            TRY(refuse(x, true, p, "remote font \"%.60s\" is not fetched; give a local file",
                       furl));
        else
            file = strncmp(furl, "file://", 7) == 0 ? furl + 7 : furl;
    }
    if (file == NULL && font) {
        file = font_file(font);
        if (file == NULL) {
            joinp(p, sizeof(p), path, "Font");
            TRY(refuse(x, true, p,
                       "font \"%.60s\" has no local mapping (see the font table in "
                       "docs/aliyun-timeline.md)",
                       font));
        }
    }
    TRY(num(x, obj, path, "FixedFontSize", &v, &f_fixed));
    if (f_fixed) {
        size = v;
    } else {
        TRY(num(x, obj, path, "FontSize", &v, &f));
        if (f)
            size = v * scale;
    }
    if (size < 4 || size > 1000) {
        joinp(p, sizeof(p), path, "FontSize");
        return failf(x, p, "%g px is outside 4..1000", size);
    }
    TRY(numr(x, obj, path, "FontColorOpacity", 1, 0, 1, &opacity, NULL));
    TRY(colour(x, obj, path, "FontColor", "#FFFFFF", opacity, c1));
    TRY(numr(x, obj, path, "Outline", 0, 0, 50, &outline, NULL));
    TRY(colour(x, obj, path, "OutlineColour", "#000000", 1, c2));
    TRY(numr(x, obj, path, "Shadow", 0, 0, 100, &shadow, NULL));
    TRY(colour(x, obj, path, "BackColour", "#000000", 1, c3));
    TRY(coord(x, obj, path, "X", x->W, x->canvas_w, &X, &f));
    TRY(coord(x, obj, path, "Y", x->H, x->canvas_h, &Y, &f));
    TRY(alignment(x, obj, path, &col, &row));

    char *text = text_of(content, &tags);
    if (text == NULL)
        return vodq_err_set(x->err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    if (tags)
        listf(x, x->notes, path, "ASS override tags in Content are not rendered (removed)");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "text", text);
    free(text);
    if (file)
        cJSON_AddStringToObject(c, "font", file);
    cJSON_AddNumberToObject(c, "size", (double)lround(size));
    cJSON_AddStringToObject(c, "color", c1);
    double bs = 0;
    enum vodq_rc brc = num(x, obj, path, "BorderStyle", &bs, &f);
    if (brc != VODQ_OK) {
        cJSON_Delete(c);
        return brc;
    }
    if (f && lround(bs) == 3) {
        cJSON *box = cJSON_AddObjectToObject(c, "box");
        cJSON_AddStringToObject(box, "color", c3);
        cJSON_AddNumberToObject(box, "padding", (double)lround(outline * scale));
    } else {
        if (outline > 0) {
            cJSON_AddNumberToObject(c, "outline", (double)lround(fmin(outline * scale, 50)));
            cJSON_AddStringToObject(c, "outline_color", c2);
        }
        if (shadow > 0) {
            cJSON *sh = cJSON_AddObjectToObject(c, "shadow");
            long s = lround(fmin(shadow * scale, 100));
            cJSON_AddNumberToObject(sh, "x", (double)s);
            cJSON_AddNumberToObject(sh, "y", (double)s);
            cJSON_AddStringToObject(sh, "color", c3);
        }
    }
    /* vodq offsets move away from the anchored edges (towards the centre),
     * or right/down on a centred axis. */
    long ox = col == 0 ? lround(X) : col == 1 ? lround(X - x->W / 2.0) : lround(x->W - X);
    long oy = row == 0 ? lround(Y) : row == 1 ? lround(Y - x->H / 2.0) : lround(x->H - Y);
    cJSON_AddStringToObject(c, "anchor", anchors[row][col]);
    cJSON_AddNumberToObject(c, "x", (double)ox);
    cJSON_AddNumberToObject(c, "y", (double)oy);
    cJSON_AddNumberToObject(c, "start", start);
    if (end > start)
        cJSON_AddNumberToObject(c, "end", end);
    cJSON_AddItemToArray(x->captions, c);
    return VODQ_OK;
}

/* ---- Clip effects ---- */

struct fx {
    double volume;            /* product of whole-clip Gains */
    cJSON *ranges;            /* clip-local volume spans (array) */
    double fade_in, fade_out; /* seconds */
    const char *xfade;        /* transition into the next clip; NULL = cut */
    double tdur;              /* its duration */
    const char *fit;          /* from Background; NULL = none */
    char background[10];      /* "#RRGGBBff" */
    bool hflip, vflip;
    int rotate;
    bool crop;
    double crop_v[4]; /* x, y, w, h fractions */
    double freeze;
};

static const char *const unsupported_fx[] = {"ADenoise", "ALoudNorm", "DeWatermark", "KenBurns",
                                             "Zoom",     "Scale",     "Pad",         "Clip",
                                             "AEqualize", "Mosaic",   "Blur"};

/* The refusal common to every effect list: cloud assets and AI services.
 * *handled when the effect was refused-and-dropped or is an error. */
static enum vodq_rc cloud_effect(struct ctx *x, const cJSON *e, const char *path, const char *type,
                                 bool *handled)
{
    const char *sub = getstr(e, "SubType");

    *handled = true;
    if (strncasecmp(type, "AI_", 3) == 0)
        return refuse(x, true, path, "%.40s is an Aliyun cloud AI service", type);
    if (strcasecmp(type, "VFX") == 0 || strcasecmp(type, "Filter") == 0)
        return refuse(x, true, path, "%s \"%.40s\" is an Aliyun cloud asset",
                      strcasecmp(type, "VFX") == 0 ? "VFX" : "Filter", sub ? sub : "");
    for (size_t i = 0; i < N_OF(unsupported_fx); i++)
        if (strcasecmp(type, unsupported_fx[i]) == 0)
            return refuse(x, true, path, "effect %s is not supported by vodq's importer",
                          unsupported_fx[i]);
    *handled = false;
    return VODQ_OK;
}

/* Volume: Gain over the whole clip, or over In..Out (clip-local output
 * seconds [U]) as a volume range. */
static enum vodq_rc volume_fx(struct ctx *x, const cJSON *e, const char *path, double len,
                              struct fx *f)
{
    double gain = 1, a = 0, b = len;
    bool fg, fa, fb;
    char p[AP_LEN];

    if (get(e, "Volume") && !get(e, "Gain")) {
        joinp(p, sizeof(p), path, "Volume");
        return failf(x, p, "a Volume effect takes \"Gain\", not \"Volume\"");
    }
    TRY(numr(x, e, path, "Gain", 1, 0, 10, &gain, &fg));
    TRY(numr(x, e, path, "In", 0, 0, 86400, &a, &fa));
    TRY(numr(x, e, path, "Out", len, 0, 86400, &b, &fb));
    if (!fa && !fb) {
        f->volume *= gain;
        return VODQ_OK;
    }
    if (b <= a) {
        joinp(p, sizeof(p), path, "Out");
        return failf(x, p, "%g must be greater than In (%g)", b, a);
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "start", a);
    cJSON_AddNumberToObject(r, "end", b);
    cJSON_AddNumberToObject(r, "volume", gain);
    cJSON_AddItemToArray(f->ranges, r);
    return VODQ_OK;
}

static enum vodq_rc afade_fx(struct ctx *x, const cJSON *e, const char *path, struct fx *f)
{
    const char *sub = getstr(e, "SubType"), *curve = getstr(e, "Curve");
    double d = 1;
    char p[AP_LEN];

    TRY(numr(x, e, path, "Duration", 1, 0, 600, &d, NULL));
    joinp(p, sizeof(p), path, "SubType");
    if (sub && strcasecmp(sub, "In") == 0)
        f->fade_in = d;
    else if (sub && strcasecmp(sub, "Out") == 0)
        f->fade_out = d;
    else
        return failf(x, p, "must be \"In\" or \"Out\" (got \"%.20s\")", sub ? sub : "");
    if (curve && strcasecmp(curve, "tri") != 0)
        listf(x, x->notes, path, "AFade Curve \"%.20s\" rendered as a linear (tri) fade", curve);
    return VODQ_OK;
}

/* Every effect of a video (audio false) or audio clip; Text effects become
 * captions over the clip's span [t0, t0 + pl->len] (after freezes). main:
 * a clip of vodq's main track (transitions, backgrounds apply). */
static enum vodq_rc clip_effects_(struct ctx *x, const cJSON *clip, const char *path, bool audio,
                                  bool main, bool last, struct placed *pl, struct fx *f);

/* clip_effects_ that frees f->ranges when it fails. */
static enum vodq_rc clip_effects(struct ctx *x, const cJSON *clip, const char *path, bool audio,
                                 bool main, bool last, struct placed *pl, struct fx *f)
{
    enum vodq_rc rc = clip_effects_(x, clip, path, audio, main, last, pl, f);
    if (rc != VODQ_OK) {
        cJSON_Delete(f->ranges);
        f->ranges = NULL;
    }
    return rc;
}

static enum vodq_rc clip_effects_(struct ctx *x, const cJSON *clip, const char *path, bool audio,
                                  bool main, bool last, struct placed *pl, struct fx *f)
{
    const cJSON *arr = get(clip, "Effects"), *e;
    char ep[AP_LEN], p[AP_LEN];
    size_t i = 0;

    memset(f, 0, sizeof(*f));
    f->volume = 1;
    f->ranges = cJSON_CreateArray();
    snprintf(f->background, sizeof(f->background), "#000000ff");
    if (arr == NULL)
        return VODQ_OK;
    if (!cJSON_IsArray(arr)) {
        joinp(p, sizeof(p), path, "Effects");
        return failf(x, p, "must be an array");
    }
    for (int pass = 0; pass < 2; pass++) {
        i = 0;
        cJSON_ArrayForEach(e, arr)
        {
            const char *type = getstr(e, "Type");
            bool handled;
            pathf(ep, sizeof(ep), "%s.Effects[%zu]", path, i++);
            if (!cJSON_IsObject(e))
                return failf(x, ep, "must be an object");
            if (type == NULL) {
                joinp(p, sizeof(p), ep, "Type");
                return failf(x, p, "required (the effect type)");
            }
            if (pass == 1) {
                if (strcasecmp(type, "Text") != 0)
                    continue;
                if (audio)
                    return failf(x, ep, "Text is not an audio effect");
                double t0 = pl->tl_in, t1 = pl->tl_in + pl->len, scale = 1, v;
                bool fnd;
                TRY(num(x, e, ep, "TimelineIn", &t0, &fnd));
                TRY(num(x, e, ep, "TimelineOut", &t1, &fnd));
                if (x->canvas_h > 0)
                    scale = x->H / x->canvas_h;
                else if (pl->m.height > 0)
                    scale = (double)x->H / pl->m.height;
                TRY(num(x, e, ep, "FEHeight", &v, &fnd));
                if (fnd && v > 0)
                    scale = x->H / v;
                TRY(text_caption(x, e, ep, t0, t1, scale));
                continue;
            }
            TRY(cloud_effect(x, e, ep, type, &handled));
            if (handled || strcasecmp(type, "Text") == 0)
                continue;
            if (strcasecmp(type, "Volume") == 0) {
                TRY(volume_fx(x, e, ep, pl->len, f));
            } else if (strcasecmp(type, "AFade") == 0) {
                TRY(afade_fx(x, e, ep, f));
            } else if (audio) {
                joinp(p, sizeof(p), ep, "Type");
                return failf(x, p, "\"%.40s\" is not an effect of audio clips", type);
            } else if (strcasecmp(type, "Transition") == 0 ||
                       strcasecmp(type, "DLTransition") == 0) {
                const char *xf = NULL;
                bool dropped;
                double d = 1;
                TRY(numr(x, e, ep, "Duration", 1, 0.01, 60, &d, NULL));
                TRY(transition_of(x, e, ep, &xf, &dropped));
                if (dropped)
                    continue;
                if (!main) {
                    listf(x, x->notes, ep, "transitions are rendered on the bottom video track "
                                           "only: this one is a cut");
                } else if (last) {
                    listf(x, x->notes, ep, "the last clip of a track has no next clip: ignored");
                } else {
                    f->xfade = xf;
                    f->tdur = d;
                    if (strcasecmp(type, "DLTransition") == 0)
                        listf(x, x->notes, ep,
                              "DLTransition rendered as Transition (the clips overlap)");
                }
            } else if (strcasecmp(type, "Background") == 0) {
                const char *sub = getstr(e, "SubType");
                if (sub && strcasecmp(sub, "Blur") == 0) {
                    f->fit = "blur";
                    if (get(e, "Radius"))
                        listf(x, x->notes, ep, "Radius is not rendered: vodq's blur strength "
                                               "is fixed (1/40 of the short side)");
                } else if (sub && strcasecmp(sub, "Color") == 0) {
                    f->fit = "contain";
                    TRY(colour(x, e, ep, "Color", "#000000", 1, f->background));
                } else {
                    TRY(refuse(x, true, ep, "Background \"%.20s\" is not supported",
                               sub ? sub : ""));
                    continue;
                }
                if (!main) {
                    listf(x, x->notes, ep, "a Background fills the frame around a full-frame "
                                           "clip only: ignored here");
                    f->fit = NULL;
                }
            } else if (strcasecmp(type, "Flip") == 0) {
                const char *d = getstr(e, "Direction");
                if (d && strcasecmp(d, "horizontal") == 0)
                    f->hflip = !f->hflip;
                else if (d && strcasecmp(d, "vertical") == 0)
                    f->vflip = !f->vflip;
                else {
                    joinp(p, sizeof(p), ep, "Direction");
                    return failf(x, p, "must be \"horizontal\" or \"vertical\"");
                }
            } else if (strcasecmp(type, "Rotate") == 0) {
                double deg = 0;
                bool fnd;
                TRY(num(x, e, ep, "Degree", &deg, &fnd));
                long q = lround(deg);
                if (!fnd || fabs(deg - (double)q) > EPS || q % 90 != 0) {
                    joinp(p, sizeof(p), ep, "Degree");
                    return failf(x, p, "must be a multiple of 90 (quarter turns only)");
                }
                f->rotate = (int)(((f->rotate + q) % 360 + 360) % 360);
            } else if (strcasecmp(type, "Crop") == 0) {
                static const char *const k[] = {"X", "Y", "Width", "Height"};
                double v[4] = {0, 0, 1, 1};
                int full[4] = {pl->m.width, pl->m.height, pl->m.width, pl->m.height};
                for (int j = 0; j < 4; j++) {
                    bool fnd;
                    TRY(num(x, e, ep, k[j], &v[j], &fnd));
                    if (v[j] < 0) {
                        joinp(p, sizeof(p), ep, k[j]);
                        return failf(x, p, "must not be negative");
                    }
                    if (v[j] >= 2) { /* pixels of the source [U] */
                        if (full[j] > 0)
                            v[j] /= full[j];
                        else if (x->media) {
                            joinp(p, sizeof(p), ep, k[j]);
                            return failf(x, p, "pixel value, but the size of %s is unknown",
                                         pl->src);
                        } else
                            v[j] = 0.5;
                    } else if (v[j] > 1) {
                        joinp(p, sizeof(p), ep, k[j]);
                        return failf(x, p, "%g is neither a fraction nor a pixel value", v[j]);
                    }
                }
                if (v[2] <= 0 || v[3] <= 0 || v[0] + v[2] > 1 + 1e-4 || v[1] + v[3] > 1 + 1e-4)
                    return failf(x, ep, "the crop rectangle is empty or leaves the picture");
                f->crop = true;
                for (int j = 0; j < 4; j++)
                    f->crop_v[j] = v[j];
                if (f->crop_v[0] + f->crop_v[2] > 1)
                    f->crop_v[2] = 1 - f->crop_v[0];
                if (f->crop_v[1] + f->crop_v[3] > 1)
                    f->crop_v[3] = 1 - f->crop_v[1];
            } else if (strcasecmp(type, "FreezeFrame") == 0) {
                double d = 0;
                TRY(numr(x, e, ep, "Duration", 1, 0, 3600, &d, NULL));
                if (pl->image)
                    continue; /* a still picture is frozen already */
                f->freeze += d;
            } else {
                joinp(p, sizeof(p), ep, "Type");
                return failf(x, p, "unknown effect type \"%.40s\"", type);
            }
        }
        if (pass == 0) {
            pl->freeze += f->freeze;
            pl->len += f->freeze;
        }
    }
    return VODQ_OK;
}

/* Applies fx to a vodq clip object. */
static void put_fx(cJSON *vc, const struct placed *pl, const struct fx *f, bool main)
{
    if (!pl->image) {
        if (f->volume != 1)
            cJSON_AddNumberToObject(vc, "volume", f->volume);
        if (f->fade_in > 0)
            cJSON_AddNumberToObject(vc, "fade_in", f->fade_in);
        if (f->fade_out > 0)
            cJSON_AddNumberToObject(vc, "fade_out", f->fade_out);
        if (cJSON_GetArraySize(f->ranges) > 0)
            cJSON_AddItemToObject(vc, "volume_ranges", cJSON_Duplicate(f->ranges, true));
        if (pl->freeze > EPS)
            cJSON_AddNumberToObject(vc, "freeze", pl->freeze);
    }
    if (f->crop) {
        cJSON *c = cJSON_AddObjectToObject(vc, "crop");
        cJSON_AddNumberToObject(c, "x", f->crop_v[0]);
        cJSON_AddNumberToObject(c, "y", f->crop_v[1]);
        cJSON_AddNumberToObject(c, "width", f->crop_v[2]);
        cJSON_AddNumberToObject(c, "height", f->crop_v[3]);
    }
    if (f->rotate)
        cJSON_AddNumberToObject(vc, "rotate", f->rotate);
    if (f->hflip)
        cJSON_AddBoolToObject(vc, "hflip", true);
    if (f->vflip)
        cJSON_AddBoolToObject(vc, "vflip", true);
    if (main && f->fit) {
        cJSON_ReplaceItemInObject(vc, "fit", cJSON_CreateString(f->fit));
        if (strcmp(f->background, "#000000ff") != 0)
            cJSON_AddStringToObject(vc, "background", f->background);
    }
    if (main && f->xfade) {
        cJSON *t = cJSON_AddObjectToObject(vc, "transition");
        cJSON_AddStringToObject(t, "type", f->xfade);
        cJSON_AddNumberToObject(t, "duration", f->tdur);
    }
}

/* ---- Geometry ---- */

struct box {
    bool any;              /* X, Y, Width or Height given */
    bool has_w, has_h;
    double x, y, w, h;     /* output pixels */
};

static enum vodq_rc box_of(struct ctx *x, const cJSON *clip, const char *path, struct box *b)
{
    bool fx_, fy;

    memset(b, 0, sizeof(*b));
    TRY(coord(x, clip, path, "X", x->W, x->canvas_w, &b->x, &fx_));
    TRY(coord(x, clip, path, "Y", x->H, x->canvas_h, &b->y, &fy));
    TRY(coord(x, clip, path, "Width", x->W, x->canvas_w, &b->w, &b->has_w));
    TRY(coord(x, clip, path, "Height", x->H, x->canvas_h, &b->h, &b->has_h));
    b->any = fx_ || fy || b->has_w || b->has_h;
    if ((b->has_w && b->w < 2) || (b->has_h && b->h < 2))
        return failf(x, path, "Width and Height must be at least 2 pixels");
    return VODQ_OK;
}

/* Full frame: no box, or one covering the frame. */
static bool full_frame(const struct ctx *x, const struct box *b)
{
    if (!b->any)
        return true;
    return fabs(b->x) < 1 && fabs(b->y) < 1 && b->has_w && b->has_h && fabs(b->w - x->W) < 1 &&
           fabs(b->h - x->H) < 1;
}

static enum vodq_rc adapt_fit(struct ctx *x, const cJSON *clip, const char *path,
                              const char **fit)
{
    const char *a = getstr(clip, "AdaptMode");
    char p[AP_LEN];

    *fit = "stretch"; /* Fill, the default [S] */
    if (a == NULL || strcasecmp(a, "Fill") == 0)
        return VODQ_OK;
    if (strcasecmp(a, "Contain") == 0)
        *fit = "contain";
    else if (strcasecmp(a, "Cover") == 0)
        *fit = "cover";
    else {
        joinp(p, sizeof(p), path, "AdaptMode");
        return failf(x, p, "unknown value \"%.20s\" (Contain, Cover, Fill)", a);
    }
    return VODQ_OK;
}

/* ---- Tracks ---- */

/* TRY that also frees the clip's effect spans (f.ranges). */
#define TRYF(x)                                                                                    \
    do {                                                                                           \
        enum vodq_rc rcf_ = (x);                                                                   \
        if (rcf_ != VODQ_OK) {                                                                     \
            cJSON_Delete(f.ranges);                                                                \
            return rcf_;                                                                           \
        }                                                                                          \
    } while (0)

static bool disabled(const cJSON *obj)
{
    return truthy(obj, "Disabled");
}

static cJSON *color_clip(double dur)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", "color");
    cJSON_AddNumberToObject(c, "duration", dur);
    cJSON_AddStringToObject(c, "background", "#000000");
    return c;
}

/* True when every clip of a video track can be a clip of vodq's main track:
 * full frame, opaque, not GlobalImage. */
static enum vodq_rc main_eligible(struct ctx *x, const cJSON *clips, const char *tpath, bool *ok)
{
    const cJSON *c;
    size_t i = 0;
    char p[AP_LEN];

    *ok = true;
    cJSON_ArrayForEach(c, clips)
    {
        struct box b;
        double op = 1;
        const char *type = getstr(c, "Type");
        pathf(p, sizeof(p), "%s.VideoTrackClips[%zu]", tpath, i++);
        TRY(box_of(x, c, p, &b));
        TRY(numr(x, c, p, "Opacity", 1, 0, 1, &op, NULL));
        if (!full_frame(x, &b) || op < 1 || (type && strcasecmp(type, "GlobalImage") == 0))
            *ok = false;
    }
    return VODQ_OK;
}

/* Notes where a clip labelled with ClipId lies, for ReferenceClipId. */
static void record_span(struct ctx *x, const cJSON *clip, const char *tpath, double t0, double t1)
{
    const char *id = getstr(clip, "ClipId");
    cJSON *a;

    if (id == NULL || x->spans == NULL || cJSON_GetObjectItemCaseSensitive(x->spans, id))
        return;
    a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(t0));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(t1));
    cJSON_AddItemToArray(a, cJSON_CreateString(tpath));
    cJSON_AddItemToObject(x->spans, id, a);
}

/* Converts one video (or image) track. main: into vodq's main track
 * (contiguous, gaps filled black); else a picture-in-picture track whose
 * clips carry explicit starts. *end: where the track ends. */
static enum vodq_rc video_track(struct ctx *x, const cJSON *clips, const char *tpath,
                                const char *clipkey, bool main, cJSON *out, double *end)
{
    const cJSON *c;
    size_t i = 0, n = 0, k = 0;
    double cursor = 0, prev_t = 0;
    char p[AP_LEN];

    *end = 0;
    cJSON_ArrayForEach(c, clips)
    {
        k++;
        if (!disabled(c))
            n = k; /* 1 + the index of the last clip that is shown */
    }
    cJSON_ArrayForEach(c, clips)
    {
        struct placed pl;
        struct fx f;
        struct box b;
        const char *type = getstr(c, "Type");
        pathf(p, sizeof(p), "%s.%s[%zu]", tpath, clipkey, i++);
        if (!cJSON_IsObject(c))
            return failf(x, p, "must be an object");
        if (disabled(c)) {
            listf(x, x->notes, p, "Disabled: skipped");
            continue;
        }
        if (type && strncasecmp(type, "AI_", 3) == 0)
            return failf(x, p, "clip type %.40s is an Aliyun cloud AI service", type);
        if (type && strcasecmp(type, "Video") != 0 && strcasecmp(type, "Image") != 0 &&
            strcasecmp(type, "GlobalImage") != 0) {
            char tp[AP_LEN];
            joinp(tp, sizeof(tp), p, "Type");
            return failf(x, tp, "unknown clip type \"%.40s\" (Video, Image)", type);
        }
        if (get(c, "MaskVideoUrl")) {
            char tp[AP_LEN];
            joinp(tp, sizeof(tp), p, "MaskVideoUrl");
            return failf(x, tp, "mask videos are not supported by vodq's importer");
        }
        bool gimg = type && strcasecmp(type, "GlobalImage") == 0;
        TRY(place(x, c, p, tpath, gimg ? 0 : cursor, false, &pl));
        TRY(clip_effects(x, c, p, false, main, i == n, &pl, &f));
        cJSON *vc = cJSON_CreateObject();
        cJSON_AddItemToArray(out, vc);
        if (main) {
            double gap = pl.tl_in - cursor;
            if (prev_t > 0 && gap > 0 && gap <= prev_t + EPS)
                gap = 0; /* TimelineIn written without the transition overlap */
            if (gap > 0.5 / x->fps) {
                cJSON_DetachItemViaPointer(out, vc);
                cJSON_AddItemToArray(out, color_clip(gap));
                cJSON_AddItemToArray(out, vc);
                cursor += gap;
            } else if (gap < -0.5 / x->fps && x->media && !x->quiet) {
                /* (only once lengths are known: the first pass guesses them) */
                cJSON_Delete(f.ranges);
                return failf(x, p,
                             "starts at %.3f s, inside the previous clip (ends %.3f s): clips of "
                             "one track may not overlap (put it on another track)",
                             pl.tl_in, cursor);
            }
            pl.tl_in = cursor;
        }
        cJSON_AddStringToObject(vc, "type", pl.image ? "image" : "video");
        cJSON_AddStringToObject(vc, "src", pl.src);
        if (gimg && !get(c, "Duration") && !get(c, "TimelineOut") && !get(c, "Out"))
            cJSON_AddBoolToObject(vc, "_global", true); /* lasts to the end: finish() */
        if (pl.image) {
            cJSON_AddNumberToObject(vc, "duration", pl.len);
        } else {
            if (pl.in > 0)
                cJSON_AddNumberToObject(vc, "in", pl.in);
            if (pl.out >= 0)
                cJSON_AddNumberToObject(vc, "out", pl.out);
            if (pl.speed != 1)
                cJSON_AddNumberToObject(vc, "speed", pl.speed);
        }
        TRYF(box_of(x, c, p, &b));
        if (main) {
            const char *fit = "contain"; /* no box: scaled into the frame, centred */
            if (b.any)
                TRYF(adapt_fit(x, c, p, &fit));
            cJSON_AddStringToObject(vc, "fit", fit);
        } else {
            const char *fit = NULL;
            double op = 1;
            long w = 0, h = 0;
            if (!b.has_w && !b.has_h && !(b.any)) {
                w = x->W; /* no box: fitted into the frame, centred */
                h = x->H;
                fit = "contain";
            } else if (!b.has_w && !b.has_h) {
                /* only X/Y: natural size [S] */
                w = pl.m.width > 0 ? pl.m.width : (x->media ? 0 : 2);
                h = pl.m.height > 0 ? pl.m.height : (x->media ? 0 : 2);
                if (w == 0 || h == 0) {
                    cJSON_Delete(f.ranges);
                    return failf(x, p, "X/Y without Width/Height: the size of %s is unknown",
                                 pl.src);
                }
            } else {
                if (b.has_w)
                    w = lround(b.w);
                if (b.has_h)
                    h = lround(b.h);
                if (b.has_w && b.has_h)
                    TRYF(adapt_fit(x, c, p, &fit));
            }
            if (pl.tl_in > 0)
                cJSON_AddNumberToObject(vc, "start", pl.tl_in);
            else
                cJSON_AddNumberToObject(vc, "start", 0);
            cJSON_AddStringToObject(vc, "anchor", "top-left");
            cJSON_AddNumberToObject(vc, "x", (double)lround(b.x));
            cJSON_AddNumberToObject(vc, "y", (double)lround(b.y));
            if (w > 0)
                cJSON_AddNumberToObject(vc, "width", (double)(w > 7680 ? 7680 : w));
            if (h > 0)
                cJSON_AddNumberToObject(vc, "height", (double)(h > 4320 ? 4320 : h));
            if (fit && w > 0 && h > 0)
                cJSON_AddStringToObject(vc, "fit", fit);
            TRYF(numr(x, c, p, "Opacity", 1, 0, 1, &op, NULL));
            if (op < 1)
                cJSON_AddNumberToObject(vc, "opacity", op);
        }
        put_fx(vc, &pl, &f, main);
        cJSON_Delete(f.ranges);
        record_span(x, c, tpath, pl.tl_in, pl.tl_in + pl.len);
        if (main) {
            prev_t = f.xfade ? f.tdur : 0;
            cursor = pl.tl_in + pl.len - prev_t;
            *end = cursor + prev_t;
        } else {
            if (!gimg)
                cursor = pl.tl_in + pl.len;
            if (pl.tl_in + pl.len > *end && !(gimg && x->total < 0))
                *end = pl.tl_in + pl.len;
        }
    }
    if (main)
        *end = cursor;
    return VODQ_OK;
}

/* One audio track into x->audio; *end: where its last clip ends. */
static enum vodq_rc audio_track(struct ctx *x, const cJSON *clips, const char *tpath, double *end)
{
    const cJSON *c;
    size_t i = 0;
    double cursor = 0;
    char p[AP_LEN];

    *end = 0;
    cJSON_ArrayForEach(c, clips)
    {
        struct placed pl;
        struct fx f;
        const char *type = getstr(c, "Type");
        bool loop = truthy(c, "LoopMode");
        pathf(p, sizeof(p), "%s.AudioTrackClips[%zu]", tpath, i++);
        if (!cJSON_IsObject(c))
            return failf(x, p, "must be an object");
        if (disabled(c))
            continue;
        if (type && strncasecmp(type, "AI_", 3) == 0)
            return failf(x, p, "clip type %.40s is an Aliyun cloud AI service", type);
        TRY(place(x, c, p, tpath, cursor, true, &pl));
        TRY(clip_effects(x, c, p, true, false, false, &pl, &f));
        cJSON *a = cJSON_CreateObject();
        cJSON_AddItemToArray(x->audio, a);
        cJSON_AddStringToObject(a, "src", pl.src);
        if (pl.in > 0)
            cJSON_AddNumberToObject(a, "in", pl.in);
        if (pl.out >= 0)
            cJSON_AddNumberToObject(a, "out", pl.out);
        if (pl.tl_in > 0)
            cJSON_AddNumberToObject(a, "start", pl.tl_in);
        if (pl.speed != 1)
            cJSON_AddNumberToObject(a, "speed", pl.speed);
        if (loop) {
            cJSON_AddBoolToObject(a, "loop", true);
            if (get(c, "TimelineOut"))
                cJSON_AddNumberToObject(a, "duration", pl.len);
        } else {
            cJSON_AddNumberToObject(a, "duration", pl.len);
        }
        if (f.volume != 1)
            cJSON_AddNumberToObject(a, "volume", f.volume);
        if (f.fade_in > 0)
            cJSON_AddNumberToObject(a, "fade_in", f.fade_in);
        if (f.fade_out > 0)
            cJSON_AddNumberToObject(a, "fade_out", f.fade_out);
        /* Volume spans of an audio clip act on the mix over the same time. */
        const cJSON *r;
        cJSON_ArrayForEach(r, f.ranges)
        {
            cJSON *g = cJSON_CreateObject();
            cJSON_AddNumberToObject(g, "start",
                                    pl.tl_in + cJSON_GetObjectItem(r, "start")->valuedouble);
            cJSON_AddNumberToObject(g, "end", pl.tl_in + cJSON_GetObjectItem(r, "end")->valuedouble);
            cJSON_AddNumberToObject(g, "volume", cJSON_GetObjectItem(r, "volume")->valuedouble);
            cJSON_AddItemToArray(x->vol, g);
            listf(x, x->notes, p, "a Volume span of an audio clip applies to the whole mix "
                                  "over that time");
        }
        cJSON_Delete(f.ranges);
        record_span(x, c, tpath, pl.tl_in, pl.tl_in + pl.len);
        cursor = pl.tl_in + pl.len;
        if (!loop || get(c, "TimelineOut"))
            *end = fmax(*end, cursor);
    }
    return VODQ_OK;
}

/* EffectTrackItems (EffectTracks, or a VideoTrack of Type "Effect"). */
static enum vodq_rc effect_items(struct ctx *x, const cJSON *items, const char *ipath)
{
    const cJSON *e;
    size_t i = 0;
    char p[AP_LEN];

    cJSON_ArrayForEach(e, items)
    {
        const char *type = getstr(e, "Type");
        bool handled;
        pathf(p, sizeof(p), "%s[%zu]", ipath, i++);
        if (!cJSON_IsObject(e))
            return failf(x, p, "must be an object");
        if (type == NULL) {
            char tp[AP_LEN];
            joinp(tp, sizeof(tp), p, "Type");
            return failf(x, tp, "required (the effect type)");
        }
        TRY(cloud_effect(x, e, p, type, &handled));
        if (handled)
            continue;
        if (strcasecmp(type, "Volume") == 0) {
            double t0 = 0, t1 = -1, d = -1, gain = 1;
            bool f1, fd;
            TRY(numr(x, e, p, "TimelineIn", 0, 0, 86400, &t0, NULL));
            TRY(numr(x, e, p, "TimelineOut", -1, 0, 86400, &t1, &f1));
            TRY(numr(x, e, p, "Duration", -1, 0, 86400, &d, &fd));
            TRY(numr(x, e, p, "Gain", 1, 0, 10, &gain, NULL));
            if (!f1)
                t1 = fd ? t0 + d : (x->total > 0 ? x->total : 86400);
            if (t1 <= t0)
                return failf(x, p, "TimelineOut must be greater than TimelineIn");
            cJSON *g = cJSON_CreateObject();
            cJSON_AddNumberToObject(g, "start", t0);
            cJSON_AddNumberToObject(g, "end", t1);
            cJSON_AddNumberToObject(g, "volume", gain);
            cJSON_AddItemToArray(x->vol, g);
        } else {
            char tp[AP_LEN];
            joinp(tp, sizeof(tp), p, "Type");
            return failf(x, tp, "unknown effect type \"%.40s\"", type);
        }
    }
    return VODQ_OK;
}

/* ---- Subtitle tracks ---- */

static enum vodq_rc subtitle_tracks(struct ctx *x, const cJSON *tracks)
{
    const cJSON *t, *c;
    size_t ti = 0;
    char tp[AP_LEN], p[AP_LEN];

    cJSON_ArrayForEach(t, tracks)
    {
        const cJSON *clips = get(t, "SubtitleTrackClips");
        size_t i = 0;
        pathf(tp, sizeof(tp), "SubtitleTracks[%zu]", ti++);
        if (!cJSON_IsObject(t) || (clips && !cJSON_IsArray(clips)))
            return failf(x, tp, "must be an object {\"SubtitleTrackClips\": [...]}");
        if (disabled(t))
            continue;
        cJSON_ArrayForEach(c, clips)
        {
            const char *type = getstr(c, "Type");
            double t0 = 0, t1 = -1;
            bool f;
            pathf(p, sizeof(p), "%s.SubtitleTrackClips[%zu]", tp, i++);
            if (!cJSON_IsObject(c))
                return failf(x, p, "must be an object");
            if (disabled(c))
                continue;
            TRY(numr(x, c, p, "TimelineIn", 0, 0, 86400, &t0, NULL));
            TRY(numr(x, c, p, "TimelineOut", -1, 0, 86400, &t1, &f));
            if (f && t1 <= t0)
                return failf(x, p, "TimelineOut must be greater than TimelineIn");
            if (type && strcasecmp(type, "Subtitle") == 0) {
                const char *src = getstr(c, "FileURL");
                if (src == NULL)
                    src = getstr(c, "SubtitleURL");
                if (src == NULL)
                    TRY(source(x, c, p, &src));
                if (strncmp(src, "file://", 7) == 0)
                    src += 7;
                cJSON *s = cJSON_CreateObject();
                cJSON_AddStringToObject(s, "src", src);
                cJSON_AddNumberToObject(s, "start", t0);
                cJSON_AddItemToArray(x->subtitles, s);
                if (f)
                    listf(x, x->notes, p, "TimelineOut of a subtitle file is not applied (the "
                                          "file's own cue times are)");
            } else if (type == NULL || strcasecmp(type, "Text") == 0) {
                double scale = x->canvas_h > 0 ? x->H / x->canvas_h : 1;
                if (t0 > 0 && x->total > 0 && t0 >= x->total) {
                    listf(x, x->notes, p, "starts after the end of the video: cut");
                    continue;
                }
                TRY(text_caption(x, c, p, t0, t1, scale));
            } else {
                char yp[AP_LEN];
                joinp(yp, sizeof(yp), p, "Type");
                return failf(x, yp, "unknown subtitle clip type \"%.40s\" (Text, Subtitle)",
                             type);
            }
        }
    }
    return VODQ_OK;
}

/* ---- Output ---- */

static enum vodq_rc output_of(struct ctx *x, const cJSON *cfg, cJSON *out)
{
    const char *cp = "OutputMediaConfig";
    double v;
    bool f;
    char p[AP_LEN];

    if (cfg == NULL)
        return VODQ_OK;
    if (!cJSON_IsObject(cfg))
        return failf(x, cp, "must be an object");
    TRY(num(x, cfg, cp, "Bitrate", &v, &f));
    if (f) {
        if (v < 10 || v > 500000)
            return failf(x, "OutputMediaConfig.Bitrate", "%g kbit/s is outside 10..500000", v);
        cJSON_AddNumberToObject(out, "bitrate", (double)llround(v * 1000));
    }
    const cJSON *vid = get(cfg, "Video");
    cJSON *vparsed = NULL;
    if (cJSON_IsString(vid)) /* documented as "String" */
        vid = vparsed = cJSON_Parse(vid->valuestring);
    if (vid && !cJSON_IsObject(vid)) {
        cJSON_Delete(vparsed);
        return failf(x, "OutputMediaConfig.Video", "must be an object");
    }
    if (vid) {
        const char *vp = "OutputMediaConfig.Video";
        enum vodq_rc rc = num(x, vid, vp, "Fps", &v, &f);
        if (rc == VODQ_OK && f) {
            if (v < 1 || v > 240)
                rc = failf(x, "OutputMediaConfig.Video.Fps", "%g is outside 1..240", v);
            else if (fabs(v - round(v)) < EPS) {
                cJSON_AddNumberToObject(out, "fps", round(v));
                x->fps = round(v);
            } else {
                cJSON_AddNumberToObject(out, "fps", v); /* 29.97 and friends; the parser checks */
                x->fps = v;
            }
        }
        if (rc == VODQ_OK)
            rc = num(x, vid, vp, "Crf", &v, &f);
        if (rc == VODQ_OK && f) {
            if (v < 0 || v > 51)
                rc = failf(x, "OutputMediaConfig.Video.Crf", "%g is outside 0..51", v);
            else
                cJSON_AddNumberToObject(out, "crf", round(v));
        }
        const char *s = getstr(vid, "Preset");
        if (rc == VODQ_OK && s)
            cJSON_AddStringToObject(out, "preset", s);
        s = getstr(vid, "Codec");
        if (rc == VODQ_OK && s) {
            if (strcasecmp(s, "H.264") == 0 || strcasecmp(s, "h264") == 0)
                cJSON_AddStringToObject(out, "video_codec", "h264");
            else if (strcasecmp(s, "H.265") == 0 || strcasecmp(s, "h265") == 0 ||
                     strcasecmp(s, "hevc") == 0)
                cJSON_AddStringToObject(out, "video_codec", "hevc");
            else
                rc = failf(x, "OutputMediaConfig.Video.Codec",
                           "unknown codec \"%.20s\" (H.264, H.265)", s);
        }
        cJSON_Delete(vparsed);
        TRY(rc);
    }
    if (get(cfg, "ProduceTemplateId") || get(cfg, "TemplateId")) {
        joinp(p, sizeof(p), cp, get(cfg, "ProduceTemplateId") ? "ProduceTemplateId" : "TemplateId");
        listf(x, x->notes, p, "cloud transcoding template: ignored (vodq encodes H.264/H.265 "
                              "with the settings above)");
    }
    return VODQ_OK;
}

/* Output size: OutputMediaConfig, else the largest material width and
 * height (chosen independently), else 1280x720; even, within Aliyun's
 * limits (128..4096, short side at most 2160). */
static enum vodq_rc output_size(struct ctx *x, const cJSON *doc, const cJSON *cfg)
{
    double w = 0, h = 0;
    bool fw = false, fh = false;

    if (cfg) {
        TRY(num(x, cfg, "OutputMediaConfig", "Width", &w, &fw));
        TRY(num(x, cfg, "OutputMediaConfig", "Height", &h, &fh));
    }
    if ((!fw || !fh) && x->media && x->o->probe) {
        static const char *const tk[][2] = {{"VideoTracks", "VideoTrackClips"},
                                            {"ImageTracks", "ImageTrackClips"}};
        double mw = 0, mh = 0;
        for (size_t k = 0; k < N_OF(tk); k++) {
            const cJSON *t, *c;
            cJSON_ArrayForEach(t, get(doc, tk[k][0]))
            {
                const char *tt = getstr(t, "Type");
                if (tt && strcasecmp(tt, "Effect") == 0)
                    continue;
                cJSON_ArrayForEach(c, get(t, tk[k][1]))
                {
                    const char *src;
                    struct vodq_aliyun_media m;
                    char p[AP_LEN];
                    pathf(p, sizeof(p), "%s", tk[k][0]);
                    TRY(source(x, c, p, &src));
                    TRY(probe(x, src, p, &m));
                    mw = fmax(mw, m.width);
                    mh = fmax(mh, m.height);
                }
            }
        }
        if (!fw && mw > 0)
            w = mw;
        if (!fh && mh > 0)
            h = mh;
    }
    if (w <= 0)
        w = 1280;
    if (h <= 0)
        h = 720;
    if (w < 128 || w > 4096 || h < 128 || h > 4096 || fmin(w, h) > 2160)
        return failf(x, "OutputMediaConfig",
                     "output size %gx%g is outside Aliyun's limits (128..4096 each, the shorter "
                     "side at most 2160)",
                     w, h);
    x->W = 2 * (int)lround(w / 2);
    x->H = 2 * (int)lround(h / 2);
    return VODQ_OK;
}

/* ---- Probe (libavformat) ---- */

enum vodq_rc vodq_aliyun_probe_file(void *opaque, const char *src, struct vodq_aliyun_media *m,
                                    struct vodq_err *err)
{
    AVFormatContext *fmt = NULL;
    char msg[128];
    int ret;

    (void)opaque;
    m->duration_s = -1;
    m->width = m->height = 0;
    if (strstr(src, "://"))
        return VODQ_OK; /* remote: fetched later, length unknown here */
    if (vodq_heif_detect(src)) /* a HEIC/HEIF still: FFmpeg cannot read it */
        return vodq_heif_size(src, &m->width, &m->height, err);
    ret = avformat_open_input(&fmt, src, NULL, NULL);
    if (ret >= 0)
        ret = avformat_find_stream_info(fmt, NULL);
    if (ret < 0) {
        av_strerror(ret, msg, sizeof(msg));
        avformat_close_input(&fmt);
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "cannot open %s: %s", src, msg);
    }
    int vi = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (fmt->duration > 0)
        m->duration_s = (double)fmt->duration / AV_TIME_BASE;
    if (vi >= 0) {
        AVStream *st = fmt->streams[vi];
        AVRational sar = st->codecpar->sample_aspect_ratio;
        const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
        double w = st->codecpar->width, h = st->codecpar->height;
        if (sar.num > 0 && sar.den > 0)
            w = w * sar.num / sar.den;
        if (dm && lround(fabs(av_display_rotation_get((const int32_t *)dm)) / 90) % 2 == 1) {
            double t = w;
            w = h;
            h = t;
        }
        m->width = (int)lround(w);
        m->height = (int)lround(h);
        if (st->duration > 0 && st->duration != AV_NOPTS_VALUE)
            m->duration_s = (double)st->duration * av_q2d(st->time_base);
        if (st->codecpar->codec_id == AV_CODEC_ID_PNG || st->codecpar->codec_id == AV_CODEC_ID_MJPEG ||
            strcmp(fmt->iformat->name, "image2") == 0 || strstr(fmt->iformat->name, "_pipe"))
            if (m->duration_s <= 0.05)
                m->duration_s = -1;
    }
    avformat_close_input(&fmt);
    return VODQ_OK;
}

/* ---- Entry points ---- */

bool vodq_aliyun_detect(const cJSON *doc)
{
    static const char *const keys[] = {"VideoTracks", "AudioTracks", "SubtitleTracks",
                                       "ImageTracks", "EffectTracks"};
    if (!cJSON_IsObject(doc) || cJSON_GetObjectItemCaseSensitive(doc, "version"))
        return false;
    for (size_t i = 0; i < N_OF(keys); i++)
        if (cJSON_GetObjectItem(doc, keys[i]))
            return true;
    return false;
}

void vodq_aliyun_result_cleanup(struct vodq_aliyun_result *r)
{
    if (r == NULL)
        return;
    cJSON_Delete(r->timeline);
    cJSON_Delete(r->dropped);
    cJSON_Delete(r->notes);
    memset(r, 0, sizeof(*r));
}

static enum vodq_rc check_array(struct ctx *x, const cJSON *doc, const char *key, int max)
{
    const cJSON *a = get(doc, key);
    if (a && !cJSON_IsArray(a))
        return failf(x, key, "must be an array");
    if (a && cJSON_GetArraySize(a) > max)
        return failf(x, key, "at most %d tracks (Aliyun's limit)", max);
    return VODQ_OK;
}

/* TrackShortenMode / TrackExpandMode: only "AutoSpeed" exists. */
static enum vodq_rc check_modes(struct ctx *x, const cJSON *t, const char *tp)
{
    static const char *const modes[] = {"TrackShortenMode", "TrackExpandMode"};
    char p[AP_LEN];

    for (size_t i = 0; i < N_OF(modes); i++) {
        const char *m = getstr(t, modes[i]);
        if (get(t, modes[i]) && (m == NULL || strcasecmp(m, "AutoSpeed") != 0)) {
            joinp(p, sizeof(p), tp, modes[i]);
            return failf(x, p, "unknown value (only \"AutoSpeed\")");
        }
    }
    return VODQ_OK;
}

/* The AutoSpeed factor the trial run found for track tp (1 = none). */
static double track_factor(struct ctx *x, const char *tp)
{
    char k[AP_LEN + 2];
    snprintf(k, sizeof(k), "#%s", tp);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(x->spans, k);
    return cJSON_IsNumber(f) && f->valuedouble > 0 ? f->valuedouble : 1;
}

static void note_end(struct ctx *x, const char *tp, double end)
{
    char k[AP_LEN + 2];
    snprintf(k, sizeof(k), "@%s", tp);
    if (x->spans && !cJSON_GetObjectItemCaseSensitive(x->spans, k))
        cJSON_AddNumberToObject(x->spans, k, end);
}

/* Trial run: the factor of every AutoSpeed track against the main one. */
static enum vodq_rc set_factors(struct ctx *x, const cJSON *doc, double main_end)
{
    static const char *const kinds[] = {"VideoTracks", "AudioTracks"};
    char tp[AP_LEN], k[AP_LEN + 2];

    for (size_t kind = 0; kind < 2; kind++) {
        const cJSON *t;
        size_t ti = 0;
        cJSON_ArrayForEach(t, get(doc, kinds[kind]))
        {
            pathf(tp, sizeof(tp), "%s[%zu]", kinds[kind], ti++);
            bool shorten = get(t, "TrackShortenMode") != NULL;
            bool expand = get(t, "TrackExpandMode") != NULL;
            if (!shorten && !expand)
                continue;
            if (truthy(t, "MainTrack"))
                continue;
            if (main_end <= 0) {
                x->quiet = false;
                listf(x, x->notes, tp, "AutoSpeed without a MainTrack: ignored");
                x->quiet = true;
                continue;
            }
            snprintf(k, sizeof(k), "@%s", tp);
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(x->spans, k);
            if (!cJSON_IsNumber(e) || e->valuedouble <= 0)
                continue;
            double f = e->valuedouble / main_end;
            if ((f > 1 + 1e-9 && shorten) || (f < 1 - 1e-9 && expand)) {
                snprintf(k, sizeof(k), "#%s", tp);
                cJSON_AddNumberToObject(x->spans, k, f);
            }
        }
    }
    return VODQ_OK;
}

/* One conversion pass into *tl. */
static enum vodq_rc convert(struct ctx *x, const cJSON *doc, cJSON *tl)
{
    const cJSON *vt = get(doc, "VideoTracks"), *at = get(doc, "AudioTracks"), *t;
    const cJSON *cfg = x->o->output_config;
    const cJSON *vtracks[128];
    double ends[128], aend = 0, main_end = -1, v;
    size_t nv = 0, ti = 0;
    bool f;
    char tp[AP_LEN];

    static const char *const arrays[] = {"VideoTracks", "AudioTracks", "ImageTracks",
                                         "SubtitleTracks", "EffectTracks"};
    for (size_t i = 0; i < N_OF(arrays); i++)
        TRY(check_array(x, doc, arrays[i], 100));
    if (get(doc, "TemplateId"))
        return failf(x, "TemplateId", "templates are merged only by Aliyun's cloud");
    if (cJSON_GetArraySize(vt) == 0 && cJSON_GetArraySize(at) == 0)
        return failf(x, "Timeline", "Both video tracks and audio tracks are empty");
    const cJSON *canvas = get(doc, "FECanvas");
    if (canvas) {
        TRY(numr(x, canvas, "FECanvas", "Width", 0, 2, 16384, &x->canvas_w, NULL));
        TRY(numr(x, canvas, "FECanvas", "Height", 0, 2, 16384, &x->canvas_h, NULL));
    }
    TRY(output_size(x, doc, cfg));
    cJSON *out = cJSON_AddObjectToObject(tl, "output");
    cJSON_AddNumberToObject(out, "width", x->W);
    cJSON_AddNumberToObject(out, "height", x->H);
    x->fps = 30;
    TRY(output_of(x, cfg, out));

    /* Video tracks: the picture ones, in stacking order; Effect ones. */
    cJSON_ArrayForEach(t, vt)
    {
        const char *type = getstr(t, "Type");
        const cJSON *clips = get(t, "VideoTrackClips");
        pathf(tp, sizeof(tp), "VideoTracks[%zu]", ti++);
        if (!cJSON_IsObject(t) || (clips && !cJSON_IsArray(clips)))
            return failf(x, tp, "must be an object {\"VideoTrackClips\": [...]}");
        TRY(check_modes(x, t, tp));
        if (type && strcasecmp(type, "Effect") == 0) {
            char ip[AP_LEN];
            joinp(ip, sizeof(ip), tp, "VideoTrackClips");
            TRY(effect_items(x, clips, ip));
            continue;
        }
        if (type && strcasecmp(type, "Video") != 0) {
            char p[AP_LEN];
            joinp(p, sizeof(p), tp, "Type");
            return failf(x, p, "unknown track type \"%.20s\" (Effect, or none)", type);
        }
        if (disabled(t) || cJSON_GetArraySize(clips) == 0)
            continue;
        if (nv == N_OF(vtracks))
            return failf(x, "VideoTracks", "too many tracks");
        vtracks[nv++] = t;
    }
    /* Image tracks come above every video track. */
    const cJSON *it_ = get(doc, "ImageTracks");
    size_t n_img = 0;
    cJSON_ArrayForEach(t, it_)
    {
        if (!cJSON_IsObject(t))
            return failf(x, "ImageTracks", "tracks must be objects {\"ImageTrackClips\": [...]}");
        if (cJSON_GetArraySize(get(t, "ImageTrackClips")) > 0)
            n_img++;
    }
    if (n_img > 0 && nv == 0)
        return failf(x, "ImageTracks", "image tracks need at least one video track");
    /* The bottom track becomes vodq's main track when all its clips are
     * full-frame; otherwise a black canvas is and every track is drawn over
     * it. */
    bool bottom_main = false;
    if (nv > 0) {
        size_t k = 0;
        cJSON_ArrayForEach(t, vt)
        {
            if (t == vtracks[0])
                break;
            k++;
        }
        pathf(tp, sizeof(tp), "VideoTracks[%zu]", k);
        TRY(main_eligible(x, get(vtracks[0], "VideoTrackClips"), tp, &bottom_main));
    }
    if (nv - (bottom_main ? 1 : 0) + n_img > 8)
        return failf(x, "VideoTracks",
                     "vodq draws at most 8 tracks over the bottom one (%zu video and %zu image "
                     "tracks here)",
                     nv, n_img);

    cJSON *tracks = cJSON_AddArrayToObject(tl, "tracks");
    cJSON *main_clips = cJSON_CreateArray();
    cJSON *mt = cJSON_CreateObject();
    cJSON_AddItemToObject(mt, "clips", main_clips);
    cJSON_AddItemToArray(tracks, mt);
    double total = 0;
    int main_idx = -1; /* the MainTrack: video track index, or 1000 + audio index */
    for (size_t k = 0; k < nv; k++) {
        size_t idx = 0;
        cJSON_ArrayForEach(t, vt)
        {
            if (t == vtracks[k])
                break;
            idx++;
        }
        pathf(tp, sizeof(tp), "VideoTracks[%zu]", idx);
        cJSON *clips;
        if (k == 0 && bottom_main) {
            clips = main_clips;
        } else {
            cJSON *pt = cJSON_CreateObject();
            clips = cJSON_AddArrayToObject(pt, "clips");
            cJSON_AddItemToArray(tracks, pt);
        }
        x->factor = track_factor(x, tp);
        TRY(video_track(x, get(vtracks[k], "VideoTrackClips"), tp, "VideoTrackClips",
                        k == 0 && bottom_main, clips, &ends[k]));
        x->factor = 1;
        note_end(x, tp, ends[k]);
        total = fmax(total, ends[k]);
        if (main_idx < 0 && truthy(vtracks[k], "MainTrack")) {
            main_idx = (int)k;
            main_end = ends[k];
        }
    }
    ti = 0;
    cJSON_ArrayForEach(t, at)
    {
        const cJSON *clips = get(t, "AudioTrackClips");
        double e = 0;
        pathf(tp, sizeof(tp), "AudioTracks[%zu]", ti++);
        if (!cJSON_IsObject(t) || (clips && !cJSON_IsArray(clips)))
            return failf(x, tp, "must be an object {\"AudioTrackClips\": [...]}");
        if (disabled(t))
            continue;
        TRY(check_modes(x, t, tp));
        x->factor = track_factor(x, tp);
        TRY(audio_track(x, clips, tp, &e));
        x->factor = 1;
        note_end(x, tp, e);
        aend = fmax(aend, e);
        if (main_idx < 0 && truthy(t, "MainTrack")) {
            main_idx = 1000;
            main_end = e;
        }
    }
    if (x->quiet)
        TRY(set_factors(x, doc, main_idx >= 0 ? main_end : -1));
    if (nv == 0)
        total = aend; /* audio only: as long as the longest audio track */
    if (main_idx >= 0)
        total = main_end;
    double maxd = -1;
    TRY(num(x, doc, "", "MaxDuration", &v, &f));
    if (f && v > 0)
        maxd = v;
    if (cfg) {
        TRY(num(x, cfg, "OutputMediaConfig", "MaxDuration", &v, &f));
        if (f && v > 0)
            maxd = maxd > 0 ? fmin(maxd, v) : v;
    }
    if (maxd > 0 && maxd < total)
        total = maxd;
    if (total <= 0)
        return failf(x, "Timeline", "the output would be empty");
    x->total = total;

    /* Image tracks over everything (explicit starts); TimelineOut defaults
     * to the end of the video. */
    ti = 0;
    cJSON_ArrayForEach(t, it_)
    {
        const cJSON *clips = get(t, "ImageTrackClips"), *c;
        size_t i = 0;
        pathf(tp, sizeof(tp), "ImageTracks[%zu]", ti++);
        if (cJSON_GetArraySize(clips) == 0)
            continue;
        cJSON *pt = cJSON_CreateObject();
        cJSON *pclips = cJSON_AddArrayToObject(pt, "clips");
        cJSON_AddItemToArray(tracks, pt);
        cJSON_ArrayForEach(c, clips)
        {
            char p[AP_LEN];
            double t0 = 0, t1 = total;
            struct box b;
            const char *src;
            pathf(p, sizeof(p), "%s.ImageTrackClips[%zu]", tp, i++);
            if (!cJSON_IsObject(c))
                return failf(x, p, "must be an object");
            TRY(source(x, c, p, &src));
            TRY(numr(x, c, p, "TimelineIn", 0, 0, 86400, &t0, NULL));
            TRY(numr(x, c, p, "TimelineOut", total, 0, 86400, &t1, NULL));
            if (t1 > total)
                t1 = total;
            if (t0 >= total || t1 <= t0) {
                listf(x, x->notes, p, "outside the video's time: not shown");
                continue;
            }
            TRY(box_of(x, c, p, &b));
            if (get(c, "Effects") && cJSON_GetArraySize(get(c, "Effects")) > 0) {
                char ep[AP_LEN];
                joinp(ep, sizeof(ep), p, "Effects");
                TRY(refuse(x, true, ep, "effects on legacy image-track clips are not supported"));
            }
            cJSON *vc = cJSON_CreateObject();
            cJSON_AddItemToArray(pclips, vc);
            cJSON_AddStringToObject(vc, "type", "image");
            cJSON_AddStringToObject(vc, "src", src);
            cJSON_AddNumberToObject(vc, "duration", t1 - t0);
            cJSON_AddNumberToObject(vc, "start", t0);
            cJSON_AddStringToObject(vc, "anchor", "top-left");
            cJSON_AddNumberToObject(vc, "x", (double)lround(b.x));
            cJSON_AddNumberToObject(vc, "y", (double)lround(b.y));
            if (b.has_w)
                cJSON_AddNumberToObject(vc, "width", (double)lround(b.w));
            if (b.has_h)
                cJSON_AddNumberToObject(vc, "height", (double)lround(b.h));
            if (!b.has_w && !b.has_h) {
                cJSON_AddNumberToObject(vc, "width", x->W);
                cJSON_AddNumberToObject(vc, "height", x->H);
                cJSON_AddStringToObject(vc, "fit", "contain");
            }
        }
        if (cJSON_GetArraySize(pclips) == 0)
            cJSON_DeleteItemFromArray(tracks, cJSON_GetArraySize(tracks) - 1);
    }

    /* The main track: the bottom video track (padded black to the end), or
     * a black canvas as long as the output. */
    double have = bottom_main ? ends[0] : 0;
    if (have < total - 0.5 / x->fps)
        cJSON_AddItemToArray(main_clips, color_clip(total - have));
    if (cJSON_GetArraySize(main_clips) == 0)
        cJSON_AddItemToArray(main_clips, color_clip(total));
    cJSON_AddNumberToObject(out, "max_duration", total);

    ti = 0;
    cJSON_ArrayForEach(t, get(doc, "EffectTracks"))
    {
        char ip[AP_LEN];
        pathf(ip, sizeof(ip), "EffectTracks[%zu].EffectTrackItems", ti++);
        const cJSON *items = get(t, "EffectTrackItems");
        if (!cJSON_IsObject(t) || (items && !cJSON_IsArray(items)))
            return failf(x, ip, "must be an array of effect items");
        TRY(effect_items(x, items, ip));
    }
    TRY(subtitle_tracks(x, get(doc, "SubtitleTracks")));
    return VODQ_OK;
}

/* Once the output length is known: GlobalImage clips last to the end, and
 * what starts after the end is cut (Aliyun cuts it; vodq's parser would
 * refuse it). */
static void finish(struct ctx *x, cJSON *tl)
{
    cJSON *tracks = cJSON_GetObjectItem(tl, "tracks"), *caps = x->captions;
    double half = 0.5 / x->fps;

    for (int t = cJSON_GetArraySize(tracks) - 1; t >= 0; t--) {
        cJSON *clips = cJSON_GetObjectItem(cJSON_GetArrayItem(tracks, t), "clips");
        for (int i = cJSON_GetArraySize(clips) - 1; i >= 0; i--) {
            cJSON *c = cJSON_GetArrayItem(clips, i);
            const cJSON *st = cJSON_GetObjectItem(c, "start");
            double start = cJSON_IsNumber(st) ? st->valuedouble : 0;
            if (cJSON_GetObjectItem(c, "_global")) {
                cJSON_DeleteItemFromObject(c, "_global");
                cJSON_ReplaceItemInObject(c, "duration",
                                          cJSON_CreateNumber(fmax(x->total - start, 1 / x->fps)));
            }
            if (t > 0 && start >= x->total - half)
                cJSON_DeleteItemFromArray(clips, i);
        }
        if (t > 0 && cJSON_GetArraySize(clips) == 0)
            cJSON_DeleteItemFromArray(tracks, t);
    }
    for (int i = cJSON_GetArraySize(caps) - 1; i >= 0; i--) {
        const cJSON *st = cJSON_GetObjectItem(cJSON_GetArrayItem(caps, i), "start");
        if (cJSON_IsNumber(st) && st->valuedouble >= x->total - half)
            cJSON_DeleteItemFromArray(caps, i);
    }
}

/* True when some object of node has the key (any case). */
static bool has_key(const cJSON *node, const char *key, int depth)
{
    const cJSON *it;

    if (depth > 32)
        return false;
    cJSON_ArrayForEach(it, node)
    {
        if (it->string && strcasecmp(it->string, key) == 0)
            return true;
        if ((cJSON_IsObject(it) || cJSON_IsArray(it)) && has_key(it, key, depth + 1))
            return true;
    }
    return false;
}

/* One conversion: a fresh context and timeline. */
static enum vodq_rc run_once(const cJSON *doc, const struct vodq_aliyun_opts *o, bool media,
                             cJSON *dropped, cJSON *notes, cJSON *spans, cJSON *probed,
                             bool quiet, bool final, cJSON **tl_out, struct vodq_err *err)
{
    struct ctx x;
    cJSON *tl = cJSON_CreateObject();
    enum vodq_rc rc;

    memset(&x, 0, sizeof(x));
    x.o = o;
    x.err = err;
    x.media = media;
    x.dropped = dropped;
    x.notes = notes;
    x.spans = spans;
    x.probed = probed;
    x.quiet = quiet;
    x.refs_final = final;
    x.factor = 1;
    x.total = -1;
    x.fps = 30;
    if (tl == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    cJSON_AddNumberToObject(tl, "version", 1);
    x.captions = cJSON_CreateArray();
    x.audio = cJSON_CreateArray();
    x.subtitles = cJSON_CreateArray();
    x.vol = cJSON_CreateArray();
    rc = convert(&x, doc, tl);
    if (rc == VODQ_OK)
        finish(&x, tl);
    /* Optional lists, only when they have items (the parser's limits apply). */
    cJSON *lists[] = {x.captions, x.audio, x.subtitles, x.vol};
    const char *names[] = {"captions", "audio", "subtitles", "volume_ranges"};
    for (size_t i = 0; i < N_OF(lists); i++) {
        if (rc == VODQ_OK && cJSON_GetArraySize(lists[i]) > 0)
            cJSON_AddItemToObject(tl, names[i], lists[i]);
        else
            cJSON_Delete(lists[i]);
    }
    if (rc != VODQ_OK) {
        cJSON_Delete(tl);
        return rc;
    }
    *tl_out = tl;
    return VODQ_OK;
}

/* One pass; with ReferenceClipIds, a quiet run first learns where every
 * labelled clip lies (later clips of a track re-flow after a referencing
 * one in the real run). */
static enum vodq_rc run_pass(const cJSON *doc, const struct vodq_aliyun_opts *o, bool media,
                             cJSON *dropped, cJSON *notes, cJSON **tl_out, struct vodq_err *err)
{
    cJSON *spans = NULL, *scratch = NULL, *probed = cJSON_CreateObject();
    enum vodq_rc rc = VODQ_OK;

    if (probed == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    if (has_key(doc, "ReferenceClipId", 0) || has_key(doc, "TrackShortenMode", 0) ||
        has_key(doc, "TrackExpandMode", 0)) {
        spans = cJSON_CreateObject();
        if (spans == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
        else
            rc = run_once(doc, o, media, dropped, notes, spans, probed, true, false, &scratch,
                          err);
        cJSON_Delete(scratch);
    }
    if (rc == VODQ_OK)
        rc = run_once(doc, o, media, dropped, notes, spans, probed, false, true, tl_out, err);
    cJSON_Delete(spans);
    cJSON_Delete(probed);
    return rc;
}

enum vodq_rc vodq_aliyun_import(const cJSON *doc, const struct vodq_aliyun_opts *opts,
                                struct vodq_aliyun_result *r, struct vodq_err *err)
{
    struct vodq_aliyun_opts none;
    struct ctx x;
    cJSON *parsed = NULL, *first = NULL;
    enum vodq_rc rc;

    memset(r, 0, sizeof(*r));
    memset(&none, 0, sizeof(none));
    if (opts == NULL)
        opts = &none;
    memset(&x, 0, sizeof(x));
    x.o = opts;
    x.err = err;
    if (cJSON_IsString(doc)) { /* the API carries the Timeline as a JSON string */
        doc = parsed = cJSON_Parse(doc->valuestring);
        if (parsed == NULL)
            return failf(&x, "Timeline", "the string does not hold valid JSON");
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(parsed);
        return failf(&x, "Timeline", "must be a JSON object");
    }
    if (opts->media_map && !cJSON_IsObject(opts->media_map)) {
        cJSON_Delete(parsed);
        return failf(&x, "media_map", "must be an object {\"MediaId\": \"path or URL\"}");
    }
    r->dropped = cJSON_CreateArray();
    r->notes = cJSON_CreateArray();
    if (r->dropped == NULL || r->notes == NULL) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
        goto fail;
    }
    rc = walk(&x, doc, "", 0);
    if (rc == VODQ_OK && opts->output_config)
        rc = walk(&x, opts->output_config, "OutputMediaConfig", 0);
    /* Pass 1: no media; finds every refusal, drop and note. */
    if (rc == VODQ_OK)
        rc = run_pass(doc, opts, false, r->dropped, r->notes, &first, err);
    cJSON_Delete(first);
    /* Pass 2: with the probe; its timeline is the result. */
    if (rc == VODQ_OK)
        rc = run_pass(doc, opts, true, r->dropped, r->notes, &r->timeline, err);
fail:
    cJSON_Delete(parsed);
    if (rc != VODQ_OK)
        vodq_aliyun_result_cleanup(r);
    return rc;
}
