/* timeline.c: parse and validate the compose timeline JSON (docs/timeline.md).
 *
 * Every value is checked here, before a single frame is decoded, and every
 * error names the JSON path of the field it is about. Unknown fields are
 * rejected too: a typo ("volumne") would otherwise be silently ignored. */
#include "worker/compose/timeline.h"

#include "worker/compose/input.h"

#include <cjson/cJSON.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PATH_MAX_LEN 128 /* JSON paths are short: tracks[0].clips[12].transition.type */

/* ---- Enum tables ---- */

static const char *const fit_names[] = {"contain", "cover", "blur", "stretch"};
static const char *const anchor_names[] = {"top-left",    "top",    "top-right",
                                           "left",        "center", "right",
                                           "bottom-left", "bottom", "bottom-right"};
static const char *const clip_type_names[] = {"video", "image", "color"};
static const char *const vcodec_names[] = {"h264", "hevc"};
static const char *const acodec_names[] = {"aac"};
static const char *const color_names[] = {"bt709", "bt601"};
static const char *const range_names[] = {"limited", "full"};

/* The xfade transitions of FFmpeg 5.1 (ffmpeg -h filter=xfade), less "custom". */
static const char *const transition_names[] = {
    "fade",     "wipeleft",   "wiperight",   "wipeup",    "wipedown",   "slideleft",  "slideright",
    "slideup",  "slidedown",  "circlecrop",  "rectcrop",  "distance",   "fadeblack",  "fadewhite",
    "radial",   "smoothleft", "smoothright", "smoothup",  "smoothdown", "circleopen", "circleclose",
    "vertopen", "vertclose",  "horzopen",    "horzclose", "dissolve",   "pixelize",   "diagtl",
    "diagtr",   "diagbl",     "diagbr",      "hlslice",   "hrslice",    "vuslice",    "vdslice",
    "hblur",    "fadegrays",  "wipetl",      "wipetr",    "wipebl",     "wipebr",     "squeezeh",
    "squeezev", "zoomin",     "fadefast",    "fadeslow"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *vodq_fit_name(enum vodq_fit fit)
{
    return (unsigned)fit < N_OF(fit_names) ? fit_names[fit] : "?";
}

const char *vodq_anchor_name(enum vodq_anchor anchor)
{
    return (unsigned)anchor < N_OF(anchor_names) ? anchor_names[anchor] : "?";
}

/* ---- Field helpers: each takes the JSON path of the enclosing object ---- */

/* snprintf for JSON paths: truncation only shortens an error message. */
static void pathf(char *dst, size_t size, const char *fmt, ...) VODQ_PRINTF(3, 4);

static void pathf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

/* Joins an object path and a key: "" + "output" = "output",
 * "tracks[0]" + "speed" = "tracks[0].speed". */
static void join(char *dst, size_t size, const char *path, const char *key)
{
    if (!path[0])
        pathf(dst, size, "%s", key);
    else
        pathf(dst, size, "%s.%s", path, key);
}

static enum vodq_rc bad(struct vodq_err *err, const char *path, const char *key, const char *fmt,
                        ...) VODQ_PRINTF(4, 5);

/* Sets a VODQ_ERR_INVALID error "path.key: <message>" (permanent). */
static enum vodq_rc bad(struct vodq_err *err, const char *path, const char *key, const char *fmt,
                        ...)
{
    char where[PATH_MAX_LEN + 32];
    char what[200];
    va_list ap;

    join(where, sizeof(where), path, key ? key : "");
    if (key == NULL || !key[0])
        pathf(where, sizeof(where), "%s", path[0] ? path : "timeline");
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: %s", where, what);
    if (err)
        err->permanent = true;
    return VODQ_ERR_INVALID;
}

static void list_names(char *dst, size_t size, const char *const *names, size_t n)
{
    size_t used = 0;

    dst[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = snprintf(dst + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Rejects keys of obj that are not in allowed[]. */
static enum vodq_rc check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                               size_t n, struct vodq_err *err)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, obj)
    {
        size_t i;
        for (i = 0; i < n; i++)
            if (it->string && strcmp(it->string, allowed[i]) == 0)
                break;
        if (i == n) {
            char list[400];
            list_names(list, sizeof(list), allowed, n);
            return bad(err, path, it->string ? it->string : "?", "unknown field (allowed: %s)",
                       list);
        }
    }
    return VODQ_OK;
}

/* A key given as JSON null counts as absent (the default applies). */
static const cJSON *field(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (it == NULL || cJSON_IsNull(it)) ? NULL : it;
}

static enum vodq_rc get_num(const cJSON *obj, const char *path, const char *key, double def,
                            double lo, double hi, double *out, struct vodq_err *err)
{
    const cJSON *it = field(obj, key);

    if (it == NULL) {
        *out = def;
        return VODQ_OK;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return bad(err, path, key, "must be a number");
    if (it->valuedouble < lo || it->valuedouble > hi)
        return bad(err, path, key, "must be between %g and %g", lo, hi);
    *out = it->valuedouble;
    return VODQ_OK;
}

/* Like get_num, for a value that must be > lo (an open lower bound). */
static enum vodq_rc get_pos(const cJSON *obj, const char *path, const char *key, double def,
                            double hi, double *out, struct vodq_err *err)
{
    const cJSON *it = field(obj, key);

    if (it == NULL) {
        *out = def;
        return VODQ_OK;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return bad(err, path, key, "must be a number");
    if (it->valuedouble <= 0 || it->valuedouble > hi)
        return bad(err, path, key, "must be greater than 0 and at most %g", hi);
    *out = it->valuedouble;
    return VODQ_OK;
}

static enum vodq_rc get_int(const cJSON *obj, const char *path, const char *key, int64_t def,
                            int64_t lo, int64_t hi, int64_t *out, struct vodq_err *err)
{
    const cJSON *it = field(obj, key);

    if (it == NULL) {
        *out = def;
        return VODQ_OK;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
        it->valuedouble != floor(it->valuedouble))
        return bad(err, path, key, "must be an integer between %lld and %lld", (long long)lo,
                   (long long)hi);
    if (it->valuedouble < (double)lo || it->valuedouble > (double)hi)
        return bad(err, path, key, "must be an integer between %lld and %lld", (long long)lo,
                   (long long)hi);
    *out = (int64_t)it->valuedouble;
    return VODQ_OK;
}

static enum vodq_rc get_int32(const cJSON *obj, const char *path, const char *key, int def, int lo,
                              int hi, int *out, struct vodq_err *err)
{
    int64_t v = def;
    enum vodq_rc rc = get_int(obj, path, key, def, lo, hi, &v, err);

    if (rc == VODQ_OK)
        *out = (int)v;
    return rc;
}

static enum vodq_rc get_bool(const cJSON *obj, const char *path, const char *key, bool def,
                             bool *out, struct vodq_err *err)
{
    const cJSON *it = field(obj, key);

    if (it == NULL) {
        *out = def;
        return VODQ_OK;
    }
    if (!cJSON_IsBool(it))
        return bad(err, path, key, "must be true or false");
    *out = cJSON_IsTrue(it);
    return VODQ_OK;
}

/* A string among names[]; *out = index. def < 0: required. */
static enum vodq_rc get_enum(const cJSON *obj, const char *path, const char *key,
                             const char *const *names, size_t n, int def, int *out,
                             struct vodq_err *err)
{
    const cJSON *it = field(obj, key);
    char list[600];

    list_names(list, sizeof(list), names, n);
    if (it == NULL) {
        if (def < 0)
            return bad(err, path, key, "required (one of: %s)", list);
        *out = def;
        return VODQ_OK;
    }
    if (cJSON_IsString(it)) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(it->valuestring, names[i]) == 0) {
                *out = (int)i;
                return VODQ_OK;
            }
        return bad(err, path, key, "unknown value \"%.40s\" (allowed: %s)", it->valuestring, list);
    }
    return bad(err, path, key, "must be a string (one of: %s)", list);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "#RRGGBB" or "#RRGGBBAA". */
static enum vodq_rc get_color(const cJSON *obj, const char *path, const char *key,
                              struct vodq_rgba def, struct vodq_rgba *out, struct vodq_err *err)
{
    const cJSON *it = field(obj, key);
    uint8_t v[4] = {0, 0, 0, 255};
    size_t len;

    if (it == NULL) {
        *out = def;
        return VODQ_OK;
    }
    if (!cJSON_IsString(it))
        goto fail;
    len = strlen(it->valuestring);
    if (it->valuestring[0] != '#' || (len != 7 && len != 9))
        goto fail;
    for (size_t i = 0; i < (len - 1) / 2; i++) {
        int hi = hexval(it->valuestring[1 + 2 * i]), lo = hexval(it->valuestring[2 + 2 * i]);
        if (hi < 0 || lo < 0)
            goto fail;
        v[i] = (uint8_t)(hi * 16 + lo);
    }
    out->r = v[0];
    out->g = v[1];
    out->b = v[2];
    out->a = v[3];
    return VODQ_OK;
fail:
    return bad(err, path, key, "must be a colour \"#RRGGBB\" or \"#RRGGBBAA\"");
}

/* A string of 1..max bytes made of [A-Za-z0-9_.-] (preset, encoder). */
static enum vodq_rc get_word(const cJSON *obj, const char *path, const char *key, const char *def,
                             char *out, size_t size, struct vodq_err *err)
{
    const cJSON *it = field(obj, key);
    const char *s = def;

    if (it != NULL) {
        if (!cJSON_IsString(it))
            return bad(err, path, key, "must be a string");
        s = it->valuestring;
        if (!s[0] || strlen(s) >= size)
            return bad(err, path, key, "must be 1 to %zu characters", size - 1);
        for (const char *p = s; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
                return bad(err, path, key, "may contain only letters, digits, '_', '-' and '.'");
    }
    snprintf(out, size, "%s", s);
    return VODQ_OK;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        int n;
        if (*p < 0x80)
            n = 0;
        else if ((*p & 0xE0) == 0xC0 && *p >= 0xC2)
            n = 1;
        else if ((*p & 0xF0) == 0xE0)
            n = 2;
        else if ((*p & 0xF8) == 0xF0 && *p <= 0xF4)
            n = 3;
        else
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

/* True for the URL schemes a source may use (fetched before probing). */
static bool remote_scheme(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0 ||
           strncmp(s, "s3://", 5) == 0 || strncmp(s, "oss://", 6) == 0;
}

/* A file path (string), resolved against base_dir and checked with stat;
 * a source (must_exist) may also be a URL, kept as it is. */
static enum vodq_rc get_file(const cJSON *obj, const char *path, const char *key,
                             const char *base_dir, bool must_exist, char **out,
                             struct vodq_err *err)
{
    const cJSON *it = field(obj, key);
    const char *s;
    struct stat st;
    size_t n;
    char *full;

    if (it == NULL)
        return bad(err, path, key, "required");
    if (!cJSON_IsString(it) || !it->valuestring[0])
        return bad(err, path, key, "must be a non-empty file path");
    s = it->valuestring;
    if (strstr(s, "://") && must_exist && remote_scheme(s)) {
        /* a remote source: kept as given, fetched by the executor's resolver */
        *out = strdup(s);
        return *out ? VODQ_OK : vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    }
    if (strstr(s, "://") && must_exist)
        return bad(err, path, key,
                   "must be a local file path or an http(s)://, s3:// or oss:// URL (got %.60s)",
                   s);
    if (strstr(s, "://"))
        return bad(err, path, key, "must be a local file path, not a URL (%.60s)", s);
    if (s[0] == '/' || base_dir == NULL || !base_dir[0]) {
        full = strdup(s);
    } else {
        n = strlen(base_dir) + strlen(s) + 2;
        full = malloc(n);
        if (full)
            snprintf(full, n, "%s/%s", base_dir, s);
    }
    if (full == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    if (must_exist) {
        if (stat(full, &st) != 0) {
            int e = errno;
            bad(err, path, key, "file not found: %.150s (%s)", full, strerror(e));
            free(full);
            return VODQ_ERR_INVALID;
        }
        if (!S_ISREG(st.st_mode)) {
            bad(err, path, key, "not a regular file: %.150s", full);
            free(full);
            return VODQ_ERR_INVALID;
        }
    }
    *out = full;
    return VODQ_OK;
}

/* An optional sub-object obj[key]: *sub = NULL when absent, else checked to
 * be an object with only the allowed keys; sp receives its JSON path. */
static enum vodq_rc get_object(const cJSON *obj, const char *path, const char *key,
                               const char *const *keys, size_t n, const char *shape, char *sp,
                               size_t sp_size, const cJSON **sub, struct vodq_err *err)
{
    *sub = field(obj, key);
    join(sp, sp_size, path, key);
    if (*sub == NULL)
        return VODQ_OK;
    if (!cJSON_IsObject(*sub))
        return bad(err, sp, NULL, "must be an object %s", shape);
    return check_keys(*sub, sp, keys, n, err);
}

/* ---- Sections ---- */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum vodq_rc rc_ = (x);                                                                    \
        if (rc_ != VODQ_OK)                                                                        \
            return rc_;                                                                            \
    } while (0)

static const struct vodq_rgba black = {0, 0, 0, 255};
static const struct vodq_rgba white = {255, 255, 255, 255};

static enum vodq_rc parse_transition(const cJSON *obj, const char *path, struct vodq_clip *c,
                                     struct vodq_err *err)
{
    static const char *const keys[] = {"type", "duration"};
    int t;

    if (!cJSON_IsObject(obj))
        return bad(err, path, NULL, "must be an object {\"type\": ..., \"duration\": ...}");
    TRY(check_keys(obj, path, keys, N_OF(keys), err));
    TRY(get_enum(obj, path, "type", transition_names, N_OF(transition_names), 0, &t, err));
    snprintf(c->transition.type, sizeof(c->transition.type), "%s", transition_names[t]);
    TRY(get_pos(obj, path, "duration", 0.5, 60, &c->transition.duration_s, err));
    return VODQ_OK;
}

/* The clip's optional "transition". */
static enum vodq_rc parse_opt_transition(const cJSON *obj, const char *path, struct vodq_clip *c,
                                         struct vodq_err *err)
{
    const cJSON *tr = field(obj, "transition");
    char tpath[PATH_MAX_LEN];

    if (tr == NULL)
        return VODQ_OK;
    join(tpath, sizeof(tpath), path, "transition");
    return parse_transition(tr, tpath, c, err);
}

/* Appends n names to list (of room entries) at *len. */
static void add_keys(const char **list, size_t *len, size_t room, const char *const *names,
                     size_t n)
{
    for (size_t i = 0; i < n && *len < room; i++)
        list[(*len)++] = names[i];
}

/* Rejects a key present in obj from names[], with the reason given. */
static enum vodq_rc reject_keys(const cJSON *obj, const char *path, const char *const *names,
                                size_t n, const char *why, struct vodq_err *err)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, obj)
    {
        for (size_t i = 0; i < n; i++)
            if (it->string && strcmp(it->string, names[i]) == 0)
                return bad(err, path, it->string, "%s", why);
    }
    return VODQ_OK;
}

static enum vodq_rc parse_anchor_xy(const cJSON *obj, const char *path, enum vodq_anchor def,
                                    enum vodq_anchor *anchor, int *x, int *y, struct vodq_err *err);

/* Size and opacity of a picture drawn over the frame (overlays, PIP clips). */
static enum vodq_rc parse_size_opacity(const cJSON *obj, const char *path, double *scale,
                                       int *width_px, double *opacity, struct vodq_err *err)
{
    if (field(obj, "scale") && field(obj, "width"))
        return bad(err, path, "scale", "give either scale or width, not both");
    TRY(get_pos(obj, path, "scale", *scale, 1, scale, err));
    TRY(get_int32(obj, path, "width", 0, 2, 7680, width_px, err));
    if (*width_px > 0)
        *scale = 0;
    return get_num(obj, path, "opacity", 1, 0, 1, opacity, err);
}

/* "volume_ranges": [{"start", "end", "volume"}], at most 100. */
static enum vodq_rc parse_vol_ranges(const cJSON *obj, const char *path,
                                     struct vodq_vol_range **out, size_t *n, struct vodq_err *err)
{
    static const char *const keys[] = {"start", "end", "volume"};
    const cJSON *arr = field(obj, "volume_ranges"), *it;
    char p[PATH_MAX_LEN], ip[PATH_MAX_LEN];

    if (arr == NULL)
        return VODQ_OK;
    join(p, sizeof(p), path, "volume_ranges");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > 100)
        return bad(err, p, NULL, "must be an array of at most 100 {\"start\", \"end\", \"volume\"}");
    *out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(**out));
    if (*out == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        struct vodq_vol_range *r = &(*out)[*n];
        pathf(ip, sizeof(ip), "%s[%zu]", p, *n);
        (*n)++;
        if (!cJSON_IsObject(it))
            return bad(err, ip, NULL, "must be an object {\"start\", \"end\", \"volume\"}");
        TRY(check_keys(it, ip, keys, N_OF(keys), err));
        if (!field(it, "end"))
            return bad(err, ip, "end", "required (seconds)");
        TRY(get_num(it, ip, "start", 0, 0, 86400, &r->start_s, err));
        TRY(get_num(it, ip, "end", 0, 0, 86400, &r->end_s, err));
        if (r->end_s <= r->start_s)
            return bad(err, ip, "end", "must be greater than start (%g)", r->start_s);
        TRY(get_num(it, ip, "volume", 0, 0, 10, &r->volume, err));
    }
    return VODQ_OK;
}

/* Crop, rotate and mirror (any clip with a picture). */
static enum vodq_rc parse_edits(const cJSON *obj, const char *path, struct vodq_clip *c,
                                struct vodq_err *err)
{
    static const char *const crop_keys[] = {"x", "y", "width", "height"};
    const cJSON *sub;
    char sp[PATH_MAX_LEN];
    int64_t rot = 0;

    TRY(get_object(obj, path, "crop", crop_keys, N_OF(crop_keys),
                   "{\"x\", \"y\", \"width\", \"height\"} (fractions of the picture)", sp,
                   sizeof(sp), &sub, err));
    if (sub) {
        c->has_crop = true;
        TRY(get_num(sub, sp, "x", 0, 0, 1, &c->crop_x, err));
        TRY(get_num(sub, sp, "y", 0, 0, 1, &c->crop_y, err));
        TRY(get_pos(sub, sp, "width", 1, 1, &c->crop_w, err));
        TRY(get_pos(sub, sp, "height", 1, 1, &c->crop_h, err));
        if (c->crop_x + c->crop_w > 1 + 1e-9)
            return bad(err, sp, "width", "x + width must be at most 1");
        if (c->crop_y + c->crop_h > 1 + 1e-9)
            return bad(err, sp, "height", "y + height must be at most 1");
    }
    TRY(get_int(obj, path, "rotate", 0, 0, 270, &rot, err));
    if (rot % 90 != 0)
        return bad(err, path, "rotate", "must be 0, 90, 180 or 270 (degrees clockwise)");
    c->rotate = (int)rot;
    TRY(get_bool(obj, path, "hflip", false, &c->hflip, err));
    return get_bool(obj, path, "vflip", false, &c->vflip, err);
}

/* A clip of the main track (pip false) or of an overlay track (pip true). */
static enum vodq_rc parse_clip(const cJSON *obj, const char *path, const char *base_dir, bool pip,
                               struct vodq_clip *c, struct vodq_err *err)
{
    static const char *const common_keys[] = {"type", "src", "brightness", "contrast",
                                              "saturation"};
    static const char *const video_keys[] = {"in", "out", "speed", "volume", "mute"};
    static const char *const image_keys[] = {"duration"};
    static const char *const main_keys[] = {"fit", "background", "transition"};
    static const char *const main_only_keys[] = {"background", "transition"};
    static const char *const pip_keys[] = {"start", "anchor",  "x",     "y",
                                           "scale", "width",   "opacity", "height"};
    static const char *const pip_fit_key[] = {"fit"};
    static const char *const edit_keys[] = {"crop", "rotate", "hflip", "vflip"};
    static const char *const video_edit_keys[] = {"freeze", "fade_in", "fade_out",
                                                  "volume_ranges"};
    static const char *const color_keys[] = {"type", "duration", "background", "transition"};
    const char *keys[48];
    size_t n_keys = 0;
    int t, fit;

    c->out_s = -1;
    c->speed = 1;
    c->volume = 1;
    c->contrast = 1;
    c->saturation = 1;
    c->pip = pip;
    c->start_s = -1;
    c->opacity = 1;
    if (!cJSON_IsObject(obj))
        return bad(err, path, NULL, "must be an object");
    TRY(get_enum(obj, path, "type", clip_type_names, N_OF(clip_type_names), 0, &t, err));
    c->type = (enum vodq_clip_type)t;
    if (c->type == VODQ_CLIP_COLOR) {
        if (pip)
            return bad(err, path, "type", "\"color\" clips are only for the main track (tracks[0])");
        TRY(check_keys(obj, path, color_keys, N_OF(color_keys), err));
        if (!field(obj, "duration"))
            return bad(err, path, "duration", "required for color clips (seconds, > 0)");
        TRY(get_pos(obj, path, "duration", 0, 86400, &c->image_duration_s, err));
        TRY(get_color(obj, path, "background", black, &c->background, err));
        return parse_opt_transition(obj, path, c, err);
    }
    if (c->type == VODQ_CLIP_VIDEO)
        TRY(reject_keys(obj, path, image_keys, N_OF(image_keys),
                        "not allowed for video clips (trim with \"in\" and \"out\"; \"speed\" "
                        "scales it)",
                        err));
    else
        TRY(reject_keys(obj, path, video_keys, N_OF(video_keys), "not allowed for image clips",
                        err));
    if (pip)
        TRY(reject_keys(obj, path, main_only_keys, N_OF(main_only_keys),
                        "only for clips of the main track (tracks[0])", err));
    else
        TRY(reject_keys(obj, path, pip_keys, N_OF(pip_keys),
                        "only for clips of overlay tracks (tracks[1] and above)", err));
    add_keys(keys, &n_keys, N_OF(keys), common_keys, N_OF(common_keys));
    if (c->type == VODQ_CLIP_VIDEO)
        add_keys(keys, &n_keys, N_OF(keys), video_keys, N_OF(video_keys));
    else
        add_keys(keys, &n_keys, N_OF(keys), image_keys, N_OF(image_keys));
    if (pip) {
        add_keys(keys, &n_keys, N_OF(keys), pip_keys, N_OF(pip_keys));
        add_keys(keys, &n_keys, N_OF(keys), pip_fit_key, N_OF(pip_fit_key));
    } else
        add_keys(keys, &n_keys, N_OF(keys), main_keys, N_OF(main_keys));
    add_keys(keys, &n_keys, N_OF(keys), edit_keys, N_OF(edit_keys));
    if (c->type == VODQ_CLIP_VIDEO)
        add_keys(keys, &n_keys, N_OF(keys), video_edit_keys, N_OF(video_edit_keys));
    TRY(check_keys(obj, path, keys, n_keys, err));

    TRY(get_file(obj, path, "src", base_dir, true, &c->src, err));
    if (c->type == VODQ_CLIP_VIDEO) {
        TRY(get_num(obj, path, "in", 0, 0, 86400, &c->in_s, err));
        if (field(obj, "out")) {
            TRY(get_num(obj, path, "out", -1, 0, 86400, &c->out_s, err));
            if (c->out_s <= c->in_s)
                return bad(err, path, "out", "must be greater than in (%g)", c->in_s);
        }
        TRY(get_num(obj, path, "speed", 1, 0.25, 4, &c->speed, err));
        TRY(get_num(obj, path, "volume", 1, 0, 10, &c->volume, err));
        TRY(get_bool(obj, path, "mute", false, &c->mute, err));
        TRY(get_num(obj, path, "freeze", 0, 0, 3600, &c->freeze_s, err));
        TRY(get_num(obj, path, "fade_in", 0, 0, 600, &c->fade_in_s, err));
        TRY(get_num(obj, path, "fade_out", 0, 0, 600, &c->fade_out_s, err));
        TRY(parse_vol_ranges(obj, path, &c->vol, &c->n_vol, err));
    } else {
        if (!field(obj, "duration"))
            return bad(err, path, "duration", "required for image clips (seconds, > 0)");
        TRY(get_pos(obj, path, "duration", 0, 3600, &c->image_duration_s, err));
    }
    TRY(get_num(obj, path, "brightness", 0, -1, 1, &c->brightness, err));
    TRY(get_num(obj, path, "contrast", 1, 0, 2, &c->contrast, err));
    TRY(get_num(obj, path, "saturation", 1, 0, 3, &c->saturation, err));
    TRY(parse_edits(obj, path, c, err));
    if (pip) {
        if (field(obj, "start"))
            TRY(get_num(obj, path, "start", 0, 0, 86400, &c->start_s, err));
        TRY(parse_anchor_xy(obj, path, VODQ_ANCHOR_TOP_RIGHT, &c->anchor, &c->x, &c->y, err));
        c->scale = 0.3;
        TRY(parse_size_opacity(obj, path, &c->scale, &c->width_px, &c->opacity, err));
        TRY(get_int32(obj, path, "height", 0, 2, 4320, &c->height_px, err));
        if (c->height_px > 0 && field(obj, "scale"))
            return bad(err, path, "height", "give height with width, or alone, not with scale");
        if (c->height_px > 0 && c->width_px == 0)
            c->scale = 0;
        if (field(obj, "fit") && (c->width_px == 0 || c->height_px == 0))
            return bad(err, path, "fit",
                       "only for clips of the main track (tracks[0]), or with width and height");
        TRY(get_enum(obj, path, "fit", fit_names, N_OF(fit_names), VODQ_FIT_STRETCH, &fit, err));
        if (fit == VODQ_FIT_BLUR)
            return bad(err, path, "fit", "\"blur\" is only for clips of the main track");
        c->fit = (enum vodq_fit)fit;
        return VODQ_OK;
    }
    TRY(get_enum(obj, path, "fit", fit_names, N_OF(fit_names), VODQ_FIT_CONTAIN, &fit, err));
    c->fit = (enum vodq_fit)fit;
    TRY(get_color(obj, path, "background", black, &c->background, err));
    return parse_opt_transition(obj, path, c, err);
}

static enum vodq_rc parse_tracks(const cJSON *arr, const char *base_dir, struct vodq_timeline *tl,
                                 struct vodq_err *err)
{
    static const char *const track_keys[] = {"clips"};

    if (arr == NULL)
        return bad(err, "", "tracks", "required (an array of tracks; tracks[0] is the main one)");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return bad(err, "", "tracks", "must be a non-empty array of tracks");
    if (cJSON_GetArraySize(arr) > 9)
        return bad(err, "", "tracks", "at most 9 tracks (the main one and 8 overlay tracks)");
    tl->tracks = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*tl->tracks));
    if (tl->tracks == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    tl->n_tracks = (size_t)cJSON_GetArraySize(arr);
    for (size_t ti = 0; ti < tl->n_tracks; ti++) {
        const cJSON *tobj = cJSON_GetArrayItem(arr, (int)ti), *clips, *it;
        struct vodq_track *tr = &tl->tracks[ti];
        char tpath[PATH_MAX_LEN], cpath[PATH_MAX_LEN];
        size_t n;

        pathf(tpath, sizeof(tpath), "tracks[%zu]", ti);
        if (!cJSON_IsObject(tobj))
            return bad(err, tpath, NULL, "must be an object {\"clips\": [...]}");
        TRY(check_keys(tobj, tpath, track_keys, N_OF(track_keys), err));
        clips = field(tobj, "clips");
        if (clips == NULL || !cJSON_IsArray(clips) || cJSON_GetArraySize(clips) == 0)
            return bad(err, tpath, "clips", "must be a non-empty array of clips");
        n = (size_t)cJSON_GetArraySize(clips);
        if (n > 1000)
            return bad(err, tpath, "clips", "at most 1000 clips per track");
        tr->clips = calloc(n, sizeof(*tr->clips));
        if (tr->clips == NULL)
            return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
        tr->n_clips = 0;
        cJSON_ArrayForEach(it, clips)
        {
            pathf(cpath, sizeof(cpath), "%s.clips[%zu]", tpath, tr->n_clips);
            tr->n_clips++; /* count it first: cleanup frees a partly parsed clip */
            TRY(parse_clip(it, cpath, base_dir, ti > 0, &tr->clips[tr->n_clips - 1], err));
        }
        if (tr->clips[n - 1].transition.type[0]) {
            pathf(cpath, sizeof(cpath), "%s.clips[%zu]", tpath, n - 1);
            return bad(err, cpath, "transition",
                       "the last clip has no next clip to transition into");
        }
    }
    return VODQ_OK;
}

static enum vodq_rc parse_anchor_xy(const cJSON *obj, const char *path, enum vodq_anchor def,
                                    enum vodq_anchor *anchor, int *x, int *y, struct vodq_err *err)
{
    int a;

    TRY(get_enum(obj, path, "anchor", anchor_names, N_OF(anchor_names), (int)def, &a, err));
    *anchor = (enum vodq_anchor)a;
    TRY(get_int32(obj, path, "x", 0, -7680, 7680, x, err));
    TRY(get_int32(obj, path, "y", 0, -7680, 7680, y, err));
    return VODQ_OK;
}

static enum vodq_rc parse_overlay(const cJSON *obj, const char *path, const char *base_dir,
                                  struct vodq_overlay *o, struct vodq_err *err)
{
    static const char *const keys[] = {"type",  "src",   "anchor",  "x",     "y",
                                       "scale", "width", "opacity", "start", "duration"};
    static const char *const types[] = {"image"};
    int t;

    o->duration_s = -1;
    if (!cJSON_IsObject(obj))
        return bad(err, path, NULL, "must be an object");
    TRY(check_keys(obj, path, keys, N_OF(keys), err));
    TRY(get_enum(obj, path, "type", types, N_OF(types), 0, &t, err));
    TRY(get_file(obj, path, "src", base_dir, true, &o->src, err));
    TRY(parse_anchor_xy(obj, path, VODQ_ANCHOR_TOP_RIGHT, &o->anchor, &o->x, &o->y, err));
    o->scale = 0; /* neither scale nor width: the image's own size */
    TRY(parse_size_opacity(obj, path, &o->scale, &o->width_px, &o->opacity, err));
    TRY(get_num(obj, path, "start", 0, 0, 86400, &o->start_s, err));
    if (field(obj, "duration"))
        TRY(get_pos(obj, path, "duration", -1, 86400, &o->duration_s, err));
    return VODQ_OK;
}

static enum vodq_rc parse_caption(const cJSON *obj, const char *path, struct vodq_caption *c,
                                  struct vodq_err *err)
{
    static const char *const keys[] = {
        "text",   "font", "size", "color", "outline", "outline_color", "shadow", "box",
        "anchor", "x",    "y",    "start", "end"};
    static const char *const shadow_keys[] = {"x", "y", "color"};
    static const char *const box_keys[] = {"color", "padding"};
    static const struct vodq_rgba shadow_def = {0, 0, 0, 255};
    static const struct vodq_rgba box_def = {0, 0, 0, 128};
    const cJSON *it, *sub;
    char sp[PATH_MAX_LEN];

    c->end_s = -1;
    if (!cJSON_IsObject(obj))
        return bad(err, path, NULL, "must be an object");
    TRY(check_keys(obj, path, keys, N_OF(keys), err));
    it = field(obj, "text");
    if (it == NULL)
        return bad(err, path, "text", "required");
    if (!cJSON_IsString(it) || !it->valuestring[0])
        return bad(err, path, "text", "must be a non-empty string");
    if (strlen(it->valuestring) > 4096)
        return bad(err, path, "text", "at most 4096 bytes");
    if (!utf8_valid(it->valuestring))
        return bad(err, path, "text", "must be valid UTF-8");
    c->text = strdup(it->valuestring);
    if (c->text == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    if (field(obj, "font")) {
        TRY(get_file(obj, path, "font", NULL, true, &c->font, err));
    } else {
        struct stat st;
        const char *f = stat(VODQ_TIMELINE_DEFAULT_FONT, &st) == 0 ? VODQ_TIMELINE_DEFAULT_FONT
                                                                   : VODQ_TIMELINE_FALLBACK_FONT;
        c->font = strdup(f);
        if (c->font == NULL)
            return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    }
    TRY(get_int32(obj, path, "size", 48, 4, 1000, &c->size, err));
    TRY(get_color(obj, path, "color", white, &c->color, err));
    TRY(get_int32(obj, path, "outline", 0, 0, 50, &c->outline, err));
    TRY(get_color(obj, path, "outline_color", black, &c->outline_color, err));
    TRY(get_object(obj, path, "shadow", shadow_keys, N_OF(shadow_keys), "{\"x\", \"y\", \"color\"}",
                   sp, sizeof(sp), &sub, err));
    if (sub) {
        c->has_shadow = true;
        TRY(get_int32(sub, sp, "x", 2, -100, 100, &c->shadow_x, err));
        TRY(get_int32(sub, sp, "y", 2, -100, 100, &c->shadow_y, err));
        TRY(get_color(sub, sp, "color", shadow_def, &c->shadow_color, err));
    }
    TRY(get_object(obj, path, "box", box_keys, N_OF(box_keys), "{\"color\", \"padding\"}", sp,
                   sizeof(sp), &sub, err));
    if (sub) {
        c->has_box = true;
        TRY(get_color(sub, sp, "color", box_def, &c->box_color, err));
        TRY(get_int32(sub, sp, "padding", 10, 0, 500, &c->box_padding, err));
    }
    TRY(parse_anchor_xy(obj, path, VODQ_ANCHOR_BOTTOM, &c->anchor, &c->x, &c->y, err));
    TRY(get_num(obj, path, "start", 0, 0, 86400, &c->start_s, err));
    if (field(obj, "end")) {
        TRY(get_num(obj, path, "end", -1, 0, 86400, &c->end_s, err));
        if (c->end_s <= c->start_s)
            return bad(err, path, "end", "must be greater than start (%g)", c->start_s);
    }
    return VODQ_OK;
}

static enum vodq_rc parse_music(const cJSON *obj, const char *path, const char *base_dir,
                                struct vodq_music *m, struct vodq_err *err)
{
    static const char *const keys[] = {"src",     "in",       "out",      "start", "loop",
                                       "volume",  "fade_in",  "fade_out", "duration",
                                       "speed"};

    if (!cJSON_IsObject(obj))
        return bad(err, path, NULL, "must be an object");
    TRY(check_keys(obj, path, keys, N_OF(keys), err));
    TRY(get_file(obj, path, "src", base_dir, true, &m->src, err));
    TRY(get_num(obj, path, "in", 0, 0, 86400, &m->in_s, err));
    m->out_s = -1;
    if (field(obj, "out")) {
        TRY(get_num(obj, path, "out", -1, 0, 86400, &m->out_s, err));
        if (m->out_s <= m->in_s)
            return bad(err, path, "out", "must be greater than in (%g)", m->in_s);
    }
    TRY(get_num(obj, path, "start", 0, 0, 86400, &m->start_s, err));
    TRY(get_bool(obj, path, "loop", false, &m->loop, err));
    TRY(get_num(obj, path, "volume", 1, 0, 10, &m->volume, err));
    TRY(get_num(obj, path, "fade_in", 0, 0, 600, &m->fade_in_s, err));
    TRY(get_num(obj, path, "fade_out", 0, 0, 600, &m->fade_out_s, err));
    m->duration_s = -1;
    if (field(obj, "duration"))
        TRY(get_pos(obj, path, "duration", -1, 86400, &m->duration_s, err));
    return get_num(obj, path, "speed", 1, 0.25, 4, &m->speed, err);
}

static enum vodq_rc parse_fps(const cJSON *obj, const char *path, struct vodq_output_spec *o,
                              struct vodq_err *err)
{
    const cJSON *it = field(obj, "fps");
    const char *msg = "must be an integer 1..240, 23.976, 29.97, 59.94 or \"num/den\"";

    o->fps_num = 30;
    o->fps_den = 1;
    if (it == NULL)
        return VODQ_OK;
    if (cJSON_IsNumber(it)) {
        double v = it->valuedouble;
        if (v == floor(v) && v >= 1 && v <= 240) {
            o->fps_num = (int)v;
            return VODQ_OK;
        }
        if (fabs(v - 23.976) < 1e-3 || fabs(v - 29.97) < 1e-3 || fabs(v - 59.94) < 1e-3) {
            o->fps_num = (int)lround(v * 1.001) * 1000;
            o->fps_den = 1001;
            return VODQ_OK;
        }
        return bad(err, path, "fps", "%s", msg);
    }
    if (cJSON_IsString(it)) {
        char *end;
        long num, den;
        errno = 0;
        num = strtol(it->valuestring, &end, 10);
        if (end == it->valuestring || *end != '/' || errno)
            return bad(err, path, "fps", "%s", msg);
        const char *d = end + 1;
        den = strtol(d, &end, 10);
        if (end == d || *end || errno || num < 1 || den < 1 || num > 240000 || den > 100000 ||
            (double)num / (double)den > 240 || (double)num / (double)den < 1)
            return bad(err, path, "fps", "%s (between 1 and 240 frames per second)", msg);
        o->fps_num = (int)num;
        o->fps_den = (int)den;
        return VODQ_OK;
    }
    return bad(err, path, "fps", "%s", msg);
}

/* An even integer 16..hi (picture sizes); *out keeps its default when absent. */
static enum vodq_rc get_even(const cJSON *obj, const char *path, const char *key, int hi, int *out,
                             struct vodq_err *err)
{
    const cJSON *it = field(obj, key);

    if (it == NULL)
        return VODQ_OK;
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 16 ||
        it->valuedouble > hi || ((int)it->valuedouble) % 2)
        return bad(err, path, key, "must be an even integer between 16 and %d", hi);
    *out = (int)it->valuedouble;
    return VODQ_OK;
}

static enum AVCodecID idx_codec(const char *name)
{
    return strcmp(name, "hevc") == 0 ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264;
}

static enum vodq_rc parse_output(const cJSON *obj, const char *base_dir, struct vodq_output_spec *o,
                                 struct vodq_err *err)
{
    static const char *const keys[] = {
        "width",    "height", "fps",         "video_codec",   "crf",           "bitrate",
        "gop",      "preset", "encoder",     "audio_codec",   "audio_bitrate", "sample_rate",
        "channels", "color",  "color_range", "loudness_lufs", "faststart",     "cover",
        "max_duration"};
    static const char *const cover_keys[] = {"at", "path"};
    const char *path = "output";
    const cJSON *it;
    int idx = 0;
    int64_t v = 0;

    /* Defaults first, so that an absent "output" gives a complete spec. */
    o->width = 1280;
    o->height = 720;
    o->fps_num = 30;
    o->fps_den = 1;
    snprintf(o->video_codec, sizeof(o->video_codec), "h264");
    o->crf = 23;
    snprintf(o->preset, sizeof(o->preset), "medium");
    snprintf(o->encoder, sizeof(o->encoder), "auto");
    snprintf(o->audio_codec, sizeof(o->audio_codec), "aac");
    o->audio_bitrate = 128000;
    o->sample_rate = 48000;
    o->channels = 2;
    snprintf(o->color, sizeof(o->color), "bt709");
    o->faststart = true;
    o->cover_at_s = -1;
    if (obj == NULL)
        return VODQ_OK;
    if (!cJSON_IsObject(obj))
        return bad(err, path, NULL, "must be an object");
    TRY(check_keys(obj, path, keys, N_OF(keys), err));
    TRY(get_even(obj, path, "width", 7680, &o->width, err));
    TRY(get_even(obj, path, "height", 4320, &o->height, err));
    TRY(parse_fps(obj, path, o, err));
    TRY(get_enum(obj, path, "video_codec", vcodec_names, N_OF(vcodec_names), 0, &idx, err));
    snprintf(o->video_codec, sizeof(o->video_codec), "%s", vcodec_names[idx]);
    TRY(get_int32(obj, path, "crf", 23, 0, 51, &o->crf, err));
    TRY(get_int(obj, path, "bitrate", 0, 10000, 500000000, &o->bitrate, err));
    TRY(get_int32(obj, path, "gop", 0, 0, 10000, &o->gop, err));
    TRY(get_word(obj, path, "preset", "medium", o->preset, sizeof(o->preset), err));
    TRY(get_word(obj, path, "encoder", "auto", o->encoder, sizeof(o->encoder), err));
    if (strcmp(o->encoder, "auto") != 0) {
        /* Whether it can open (a GPU present) is the engine's probe; whether
         * this FFmpeg build has it, and for which codec, is known now. */
        const AVCodec *enc = avcodec_find_encoder_by_name(o->encoder);
        enum AVCodecID want = idx_codec(o->video_codec);
        if (enc == NULL || enc->type != AVMEDIA_TYPE_VIDEO)
            return bad(err, path, "encoder", "unknown video encoder \"%s\" in this FFmpeg build",
                       o->encoder);
        if (enc->id != want)
            return bad(err, path, "encoder", "%s does not encode %s (output.video_codec)",
                       o->encoder, o->video_codec);
    }
    TRY(get_enum(obj, path, "audio_codec", acodec_names, N_OF(acodec_names), 0, &idx, err));
    snprintf(o->audio_codec, sizeof(o->audio_codec), "%s", acodec_names[idx]);
    TRY(get_int(obj, path, "audio_bitrate", 128000, 8000, 1024000, &o->audio_bitrate, err));
    it = field(obj, "sample_rate");
    if (it) {
        static const int rates[] = {8000,  11025, 16000, 22050, 24000,
                                    32000, 44100, 48000, 88200, 96000};
        size_t i;
        for (i = 0; i < N_OF(rates); i++)
            if (cJSON_IsNumber(it) && it->valuedouble == rates[i])
                break;
        if (i == N_OF(rates))
            return bad(err, path, "sample_rate",
                       "must be one of 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, "
                       "88200, 96000");
        o->sample_rate = rates[i];
    }
    TRY(get_int(obj, path, "channels", 2, 1, 2, &v, err));
    o->channels = (int)v;
    TRY(get_enum(obj, path, "color", color_names, N_OF(color_names), 0, &idx, err));
    snprintf(o->color, sizeof(o->color), "%s", color_names[idx]);
    TRY(get_enum(obj, path, "color_range", range_names, N_OF(range_names), 0, &idx, err));
    o->full_range = idx == 1;
    it = field(obj, "loudness_lufs");
    if (it) {
        TRY(get_num(obj, path, "loudness_lufs", -23, -70, -5, &o->loudness_lufs, err));
        o->has_loudness = true;
    }
    TRY(get_bool(obj, path, "faststart", true, &o->faststart, err));
    TRY(get_num(obj, path, "max_duration", 0, 0, 86400, &o->max_duration_s, err));
    char cp[PATH_MAX_LEN];
    TRY(get_object(obj, path, "cover", cover_keys, N_OF(cover_keys),
                   "{\"at\": seconds, \"path\": file}", cp, sizeof(cp), &it, err));
    if (it) {
        TRY(get_num(it, cp, "at", 0, 0, 86400, &o->cover_at_s, err));
        TRY(get_file(it, cp, "path", base_dir, false, &o->cover_path, err));
    }
    return VODQ_OK;
}

/* ---- Duration arithmetic (shared with plan.c through the header) ---- */

double vodq_clip_source_span_s(const struct vodq_clip *c)
{
    if (c->type != VODQ_CLIP_VIDEO)
        return c->image_duration_s;
    if (c->out_s >= 0)
        return c->out_s - c->in_s;
    if (c->info.probed && c->info.duration_s > 0)
        return c->info.duration_s - c->in_s;
    return -1;
}

int64_t vodq_clip_frames(const struct vodq_clip *c, const struct vodq_output_spec *out)
{
    double span = vodq_clip_source_span_s(c);
    double speed = c->type != VODQ_CLIP_VIDEO ? 1.0 : c->speed;

    if (span < 0)
        return -1;
    return llround(span / speed * out->fps_num / out->fps_den) + vodq_clip_freeze_frames(c, out);
}

int64_t vodq_clip_freeze_frames(const struct vodq_clip *c, const struct vodq_output_spec *out)
{
    return c->type == VODQ_CLIP_VIDEO ? llround(c->freeze_s * out->fps_num / out->fps_den) : 0;
}

int64_t vodq_transition_frames(const struct vodq_clip *c, const struct vodq_output_spec *out)
{
    if (!c->transition.type[0])
        return 0;
    int64_t n = llround(c->transition.duration_s * out->fps_num / out->fps_den);
    return n < 1 ? 1 : n;
}

int64_t vodq_timeline_frames(const struct vodq_timeline *tl)
{
    int64_t total = 0;

    if (tl->n_tracks == 0)
        return -1;
    for (size_t i = 0; i < tl->tracks[0].n_clips; i++) {
        const struct vodq_clip *c = &tl->tracks[0].clips[i];
        int64_t n = vodq_clip_frames(c, &tl->output);
        if (n < 0)
            return -1;
        total += n - vodq_transition_frames(c, &tl->output);
    }
    if (tl->output.max_duration_s > 0) {
        int64_t cap = llround(tl->output.max_duration_s * tl->output.fps_num / tl->output.fps_den);
        if (cap >= 1 && cap < total)
            total = cap;
    }
    return total;
}

int64_t vodq_clip_start_frame(const struct vodq_track *tr, size_t j,
                              const struct vodq_output_spec *out)
{
    int64_t at = 0;

    /* Walk back to the nearest clip with an explicit start. */
    size_t i = j;
    while (i > 0 && tr->clips[i].start_s < 0)
        i--;
    if (tr->clips[i].start_s >= 0)
        at = llround(tr->clips[i].start_s * out->fps_num / out->fps_den);
    for (; i < j; i++) {
        int64_t n = vodq_clip_frames(&tr->clips[i], out);
        if (n < 0)
            return -1;
        at += n;
    }
    return at;
}

double vodq_timeline_duration_s(const struct vodq_timeline *tl)
{
    int64_t n = vodq_timeline_frames(tl);

    if (n < 0 || tl->output.fps_num <= 0)
        return -1;
    return (double)n * tl->output.fps_den / tl->output.fps_num;
}

/* Checks what needs every clip length: clips at least one frame long, each
 * transition no longer than either clip, a clip not eaten by the transitions
 * on both of its sides, and times inside the timeline. Clips whose length is
 * still unknown (open-ended, unprobed) are skipped. */
static enum vodq_rc check_lengths(const struct vodq_timeline *tl, struct vodq_err *err)
{
    const struct vodq_track *tr = &tl->tracks[0];
    const struct vodq_output_spec *o = &tl->output;
    double total;
    char path[PATH_MAX_LEN];

    for (size_t i = 0; i < tr->n_clips; i++) {
        const struct vodq_clip *c = &tr->clips[i];
        int64_t n = vodq_clip_frames(c, o), tin = 0, tout = vodq_transition_frames(c, o);

        pathf(path, sizeof(path), "tracks[0].clips[%zu]", i);
        if (i > 0)
            tin = vodq_transition_frames(&tr->clips[i - 1], o);
        if (n < 0)
            continue;
        if (n < 1)
            return bad(err, path, c->type == VODQ_CLIP_IMAGE ? "duration" : "out",
                       "the clip is shorter than one output frame");
        if (tout > n)
            return bad(err, path, "transition.duration", "%g s is longer than the clip (%g s)",
                       c->transition.duration_s, (double)n * o->fps_den / o->fps_num);
        if (i + 1 < tr->n_clips && tout > 0) {
            int64_t next = vodq_clip_frames(&tr->clips[i + 1], o);
            if (next >= 0 && tout > next)
                return bad(err, path, "transition.duration",
                           "%g s is longer than the next clip (%g s)", c->transition.duration_s,
                           (double)next * o->fps_den / o->fps_num);
        }
        if (tin + tout > n)
            return bad(err, path, "transition.duration",
                       "the transitions into and out of this clip (%g s + %g s) overlap; the "
                       "clip lasts %g s",
                       (double)tin * o->fps_den / o->fps_num,
                       (double)tout * o->fps_den / o->fps_num, (double)n * o->fps_den / o->fps_num);
    }
    /* Overlay tracks: every clip at least a frame long, starting inside
     * the timeline. */
    int64_t total_frames = vodq_timeline_frames(tl);
    for (size_t t = 1; t < tl->n_tracks; t++) {
        for (size_t i = 0; i < tl->tracks[t].n_clips; i++) {
            const struct vodq_clip *c = &tl->tracks[t].clips[i];
            int64_t n = vodq_clip_frames(c, o), at = vodq_clip_start_frame(&tl->tracks[t], i, o);
            pathf(path, sizeof(path), "tracks[%zu].clips[%zu]", t, i);
            if (n >= 0 && n < 1)
                return bad(err, path, c->type == VODQ_CLIP_IMAGE ? "duration" : "out",
                           "the clip is shorter than one output frame");
            if (at >= 0 && total_frames >= 0 && at >= total_frames)
                return bad(err, path, "start", "%g s is past the end of the timeline (%g s)",
                           (double)at * o->fps_den / o->fps_num,
                           (double)total_frames * o->fps_den / o->fps_num);
        }
    }
    total = vodq_timeline_duration_s(tl);
    if (total < 0)
        return VODQ_OK;
    for (size_t i = 0; i < tl->n_overlays; i++) {
        pathf(path, sizeof(path), "overlays[%zu]", i);
        if (tl->overlays[i].start_s >= total)
            return bad(err, path, "start", "%g is past the end of the timeline (%g s)",
                       tl->overlays[i].start_s, total);
    }
    for (size_t i = 0; i < tl->n_captions; i++) {
        pathf(path, sizeof(path), "captions[%zu]", i);
        if (tl->captions[i].start_s >= total)
            return bad(err, path, "start", "%g is past the end of the timeline (%g s)",
                       tl->captions[i].start_s, total);
    }
    if (tl->music.src && tl->music.start_s >= total)
        return bad(err, "music", "start", "%g is past the end of the timeline (%g s)",
                   tl->music.start_s, total);
    if (tl->output.cover_path && tl->output.cover_at_s >= total)
        return bad(err, "output.cover", "at", "%g is past the end of the timeline (%g s)",
                   tl->output.cover_at_s, total);
    return VODQ_OK;
}

/* ---- Optional top-level arrays (overlays, captions) ---- */

typedef enum vodq_rc (*item_fn)(const cJSON *obj, const char *path, const char *base_dir,
                                void *item, struct vodq_err *err);

static enum vodq_rc parse_overlay_item(const cJSON *obj, const char *path, const char *base_dir,
                                       void *item, struct vodq_err *err)
{
    return parse_overlay(obj, path, base_dir, item, err);
}

static enum vodq_rc parse_audio_item(const cJSON *obj, const char *path, const char *base_dir,
                                     void *item, struct vodq_err *err)
{
    ((struct vodq_music *)item)->out_s = -1;
    return parse_music(obj, path, base_dir, item, err);
}

static enum vodq_rc parse_subtitle_item(const cJSON *obj, const char *path, const char *base_dir,
                                        void *item, struct vodq_err *err)
{
    static const char *const keys[] = {"src", "start"};
    struct vodq_subtitle *sub = item;

    if (!cJSON_IsObject(obj))
        return bad(err, path, NULL, "must be an object {\"src\", \"start\"}");
    TRY(check_keys(obj, path, keys, N_OF(keys), err));
    TRY(get_file(obj, path, "src", base_dir, true, &sub->src, err));
    return get_num(obj, path, "start", 0, 0, 86400, &sub->start_s, err);
}

static enum vodq_rc parse_caption_item(const cJSON *obj, const char *path, const char *base_dir,
                                       void *item, struct vodq_err *err)
{
    (void)base_dir; /* fonts are absolute or system paths */
    return parse_caption(obj, path, item, err);
}

/* Parses root[key], an optional array of at most max objects, into a new
 * zeroed array of elem-byte items; *n counts the items started, so that
 * cleanup frees a partly parsed one. */
static enum vodq_rc parse_list(const cJSON *root, const char *key, int max, size_t elem,
                               const char *base_dir, item_fn fn, void **out, size_t *n,
                               struct vodq_err *err)
{
    const cJSON *arr = field(root, key), *it;
    char p[PATH_MAX_LEN];

    if (arr == NULL)
        return VODQ_OK;
    if (!cJSON_IsArray(arr))
        return bad(err, "", key, "must be an array");
    if (cJSON_GetArraySize(arr) > max)
        return bad(err, "", key, "at most %d items", max);
    *out = calloc((size_t)cJSON_GetArraySize(arr) + 1, elem);
    if (*out == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        pathf(p, sizeof(p), "%s[%zu]", key, *n);
        (*n)++;
        TRY(fn(it, p, base_dir, (char *)*out + (*n - 1) * elem, err));
    }
    return VODQ_OK;
}

/* ---- Entry points ---- */

static enum vodq_rc parse_root(const cJSON *root, const char *base_dir, struct vodq_timeline *tl,
                               struct vodq_err *err)
{
    static const char *const keys[] = {"version", "tracks", "overlays",  "captions",
                                       "music",   "output", "audio",     "subtitles",
                                       "volume_ranges"};
    const cJSON *it;
    int64_t version = 0;

    if (!cJSON_IsObject(root))
        return bad(err, "", NULL, "must be a JSON object");
    TRY(check_keys(root, "", keys, N_OF(keys), err));
    if (!field(root, "version"))
        return bad(err, "", "version", "required (this build reads version 1)");
    TRY(get_int(root, "", "version", 1, 1, VODQ_TIMELINE_VERSION, &version, err));
    tl->version = (int)version;
    /* Output first: clip checks need the frame rate. */
    TRY(parse_output(field(root, "output"), base_dir, &tl->output, err));
    TRY(parse_tracks(field(root, "tracks"), base_dir, tl, err));

    TRY(parse_list(root, "overlays", 64, sizeof(*tl->overlays), base_dir, parse_overlay_item,
                   (void **)&tl->overlays, &tl->n_overlays, err));
    TRY(parse_list(root, "captions", 1000, sizeof(*tl->captions), base_dir, parse_caption_item,
                   (void **)&tl->captions, &tl->n_captions, err));
    it = field(root, "music");
    if (it)
        TRY(parse_music(it, "music", base_dir, &tl->music, err));
    TRY(parse_list(root, "audio", 256, sizeof(*tl->audio), base_dir, parse_audio_item,
                   (void **)&tl->audio, &tl->n_audio, err));
    TRY(parse_list(root, "subtitles", 16, sizeof(*tl->subtitles), base_dir, parse_subtitle_item,
                   (void **)&tl->subtitles, &tl->n_subtitles, err));
    TRY(parse_vol_ranges(root, "", &tl->vol, &tl->n_vol, err));
    return check_lengths(tl, err);
}

enum vodq_rc vodq_timeline_parse(const char *json, size_t len, const char *base_dir,
                                 struct vodq_timeline *tl, struct vodq_err *err)
{
    cJSON *root;
    const char *end = NULL;
    enum vodq_rc rc;

    memset(tl, 0, sizeof(*tl));
    tl->music.out_s = -1;
    tl->output.cover_at_s = -1;
    if (base_dir && base_dir[0]) {
        tl->base_dir = strdup(base_dir);
        if (tl->base_dir == NULL)
            return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    }
    if (json == NULL || len == 0)
        return bad(err, "", NULL, "empty document");
    root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (root == NULL) {
        size_t off = end ? (size_t)(end - json) : 0;
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "timeline: invalid JSON near byte %zu", off);
        if (err)
            err->permanent = true;
        return rc;
    }
    rc = parse_root(root, base_dir, tl, err);
    cJSON_Delete(root);
    return rc;
}

enum vodq_rc vodq_timeline_load_file(const char *path, struct vodq_timeline *tl,
                                     struct vodq_err *err)
{
    FILE *f;
    char *buf = NULL, *dir = NULL, *slash;
    long size;
    enum vodq_rc rc;

    memset(tl, 0, sizeof(*tl));
    f = fopen(path, "rb");
    if (f == NULL)
        return vodq_err_set(err, errno == ENOENT ? VODQ_ERR_NOTFOUND : VODQ_ERR_IO, errno,
                            "timeline %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "timeline %s: cannot read", path);
        goto fail;
    }
    if (size > 16L * 1024 * 1024) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "timeline %s: larger than 16 MiB", path);
        goto fail;
    }
    buf = malloc((size_t)size + 1);
    dir = strdup(path);
    if (buf == NULL || dir == NULL) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
        goto fail;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "timeline %s: short read", path);
        goto fail;
    }
    buf[size] = '\0';
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, strlen(dir) + 1, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    rc = vodq_timeline_parse(buf, (size_t)size, dir, tl, err);
fail:
    fclose(f);
    free(buf);
    free(dir);
    return rc;
}

/* ---- Probe: stream parameters from the container headers ---- */

int vodq_timeline_video_stream(const struct AVFormatContext *fmt, bool still_ok)
{
    int best = -1;

    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
            continue;
        if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) {
            if (still_ok && best < 0)
                best = (int)i;
            continue;
        }
        /* a moving picture wins over a cover; the default-flagged or
         * larger one over the others */
        if (best < 0 || (fmt->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC) ||
            (st->disposition & AV_DISPOSITION_DEFAULT &&
             !(fmt->streams[best]->disposition & AV_DISPOSITION_DEFAULT)) ||
            (int64_t)st->codecpar->width * st->codecpar->height >
                (int64_t)fmt->streams[best]->codecpar->width * fmt->streams[best]->codecpar->height)
            best = (int)i;
    }
    return best;
}

static unsigned rd16(const uint8_t *p, bool le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, bool le)
{
    return le ? (uint32_t)rd16(p, true) | (uint32_t)rd16(p + 2, true) << 16
              : (uint32_t)rd16(p, false) << 16 | rd16(p + 2, false);
}

/* The EXIF orientation (1..8) of a JPEG file from its APP1 segment; 0 when
 * it has none. FFmpeg 5.1 exposes it only on decoded frames, and the plan
 * needs it before decoding. */
static int jpeg_exif_orientation(const char *file)
{
    uint8_t buf[65536 + 4];
    FILE *f = fopen(file, "rb");
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    size_t pos = 2;

    if (f)
        fclose(f);
    if (n < 4 || buf[0] != 0xFF || buf[1] != 0xD8)
        return 0;
    while (pos + 4 <= n && buf[pos] == 0xFF) {
        unsigned marker = buf[pos + 1], len = rd16(buf + pos + 2, false);
        const uint8_t *seg = buf + pos + 4;
        if (marker == 0xDA || marker == 0xD9 || len < 2)
            break; /* image data: no EXIF before it */
        if (marker == 0xE1 && len >= 8 + 14 && pos + 2 + len <= n &&
            memcmp(seg, "Exif\0\0", 6) == 0) {
            const uint8_t *t = seg + 6; /* TIFF header */
            size_t tlen = len - 2 - 6;
            bool le = t[0] == 'I' && t[1] == 'I';
            if (!le && !(t[0] == 'M' && t[1] == 'M'))
                return 0;
            uint32_t ifd = rd32(t + 4, le);
            if (ifd + 2 > tlen)
                return 0;
            unsigned cnt = rd16(t + ifd, le);
            for (unsigned i = 0; i < cnt && ifd + 2 + 12 * (i + 1) <= tlen; i++) {
                const uint8_t *ent = t + ifd + 2 + 12 * i;
                if (rd16(ent, le) == 0x0112 && rd16(ent + 2, le) == 3) {
                    unsigned v = rd16(ent + 8, le);
                    return v >= 1 && v <= 8 ? (int)v : 0;
                }
            }
            return 0;
        }
        pos += 2 + len;
    }
    return 0;
}

/* Rotation (clockwise) and mirroring of EXIF orientations 1..8: the
 * picture is flipped horizontally first, then rotated. */
static void exif_to_rotation(int o, struct vodq_media_info *info)
{
    static const int rot[9] = {0, 0, 0, 180, 180, 270, 90, 90, 270};
    static const bool mir[9] = {false, false, true, false, true, true, false, true, false};

    if (o >= 1 && o <= 8) {
        info->rotation = rot[o];
        info->mirror = mir[o];
    }
}

/* Finds, on the video stream's own packet timestamps, the frame nearest
 * want_s (seconds from the file's start) and the gap to the frame before
 * it: variable-frame-rate sources have no grid to snap to. Reads packets
 * (no decoding) from the keyframe before want_s - 1 s to want_s + 1 s. */
static void probe_near_frame(AVFormatContext *fmt, int vi, double want_s,
                             struct vodq_media_info *info)
{
    AVStream *st = fmt->streams[vi];
    double start = fmt->start_time == AV_NOPTS_VALUE ? 0 : (double)fmt->start_time / AV_TIME_BASE;
    double tb = av_q2d(st->time_base), ts[512];
    int64_t seek = (int64_t)llround((start + fmax(0, want_s - 1.0)) * AV_TIME_BASE);
    AVPacket *pkt = av_packet_alloc();
    size_t n = 0;

    if (pkt == NULL)
        return;
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        fmt->streams[i]->discard = (int)i == vi ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    if (avformat_seek_file(fmt, -1, INT64_MIN, seek, seek, 0) < 0 && want_s > 30)
        goto out;
    while (n < sizeof(ts) / sizeof(ts[0]) && av_read_frame(fmt, pkt) >= 0) {
        int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
        int64_t d = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
        bool mine = pkt->stream_index == vi;
        av_packet_unref(pkt);
        if (!mine || t == AV_NOPTS_VALUE)
            continue;
        ts[n++] = (double)t * tb - start;
        if ((double)d * tb - start > want_s + 1.0)
            break;
    }
    if (n == 0)
        goto out;
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (fabs(ts[i] - want_s) < fabs(ts[best] - want_s) - 1e-9 ||
            (fabs(fabs(ts[i] - want_s) - fabs(ts[best] - want_s)) <= 1e-9 && ts[i] < ts[best]))
            best = i;
    info->near_s = ts[best];
    info->near_gap_s = 0;
    for (size_t i = 0; i < n; i++) {
        double g = ts[best] - ts[i];
        if (g > 1e-9 && (info->near_gap_s == 0 || g < info->near_gap_s))
            info->near_gap_s = g;
    }
out:
    av_packet_free(&pkt);
}

/* Probes file for the timeline field at JSON path 'path'. near_s > 0: also
 * find the video frame nearest that source time; -2: an image (a cover
 * picture attached to a sound file will do); -1: neither. */
static enum vodq_rc probe_file(const char *file, const char *path, bool want_video, bool want_audio,
                               double near_s, struct vodq_media_info *info, struct vodq_err *err)
{
    AVFormatContext *fmt = NULL;
    int ret, vi, ai;
    enum vodq_rc rc = VODQ_OK;
    char msg[128];

    memset(info, 0, sizeof(*info));
    info->duration_s = -1;
    info->near_s = -1;
    info->pix_fmt = -1;
    info->sar_num = info->sar_den = 1;
    ret = vodq_input_open(&fmt, file);
    if (ret < 0) {
        av_strerror(ret, msg, sizeof(msg));
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s: cannot open %s: %s", path, file, msg);
        goto fail;
    }
    ret = avformat_find_stream_info(fmt, NULL);
    if (ret < 0) {
        av_strerror(ret, msg, sizeof(msg));
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s: cannot read streams of %s: %s", path, file,
                          msg);
        goto fail;
    }
    /* A still cover attached to a sound file is no video: it is refused
     * for video clips (it would give one frame, then nothing) and used as
     * the picture of image clips and stickers. */
    vi = vodq_timeline_video_stream(fmt, !want_audio && near_s < -1.5);
    ai = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    info->has_video = vi >= 0;
    info->has_audio = ai >= 0;
    if (ai >= 0)
        info->channels = fmt->streams[ai]->codecpar->ch_layout.nb_channels;
    if (want_video && vi < 0) {
        if (vodq_timeline_video_stream(fmt, true) >= 0)
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0,
                              "%s: %s has no video: its only picture is a still cover image "
                              "attached to its sound, not a moving picture (use it as "
                              "\"music\", or the picture in an image clip)",
                              path, file);
        else
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0, "%s: no video stream in %s", path, file);
        goto fail;
    }
    if (want_audio && ai < 0) {
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0, "%s: no audio stream in %s", path, file);
        goto fail;
    }
    if (fmt->duration > 0)
        info->duration_s = (double)fmt->duration / AV_TIME_BASE;
    if (vi >= 0) {
        AVStream *st = fmt->streams[vi];
        AVCodecParameters *par = st->codecpar;
        const uint8_t *dm;
        AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;

        if (want_video && st->duration > 0 && st->duration != AV_NOPTS_VALUE) {
            /* The stream's real extent from the file's start (the origin of
             * in/out): a stream that starts later ends later too. */
            info->duration_s = (double)st->duration * av_q2d(st->time_base);
            if (st->start_time != AV_NOPTS_VALUE && fmt->start_time != AV_NOPTS_VALUE)
                info->duration_s += fmax(0, (double)st->start_time * av_q2d(st->time_base) -
                                                (double)fmt->start_time / AV_TIME_BASE);
        }
        info->width = par->width;
        info->height = par->height;
        if (par->width <= 0 || par->height <= 0) {
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0,
                              "%s: no readable picture in %s (unknown size)", path, file);
            goto fail;
        }
        if (par->sample_aspect_ratio.num > 0 && par->sample_aspect_ratio.den > 0) {
            av_reduce(&info->sar_num, &info->sar_den, par->sample_aspect_ratio.num,
                      par->sample_aspect_ratio.den, 1 << 16);
        }
        if (fr.num > 0 && fr.den > 0) {
            info->fps_num = fr.num;
            info->fps_den = fr.den;
        }
        info->pix_fmt = par->format;
        info->color_space = par->color_space;
        info->color_range = par->color_range;
        info->color_primaries = par->color_primaries;
        info->color_trc = par->color_trc;
        dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
        if (dm) {
            /* The ffmpeg CLI's convention (cmdutils get_rotation): clockwise
             * degrees, snapped to the nearest quarter turn. */
            double theta = -av_display_rotation_get((const int32_t *)dm);
            int q = (int)lround(theta / 90.0);
            info->rotation = ((q % 4) + 4) % 4 * 90;
        }
        if (par->codec_id == AV_CODEC_ID_MJPEG && dm == NULL)
            exif_to_rotation(jpeg_exif_orientation(file), info);
        info->interlaced = par->field_order > AV_FIELD_PROGRESSIVE;
        info->tff = par->field_order == AV_FIELD_TT || par->field_order == AV_FIELD_TB;
        if (near_s > 0)
            probe_near_frame(fmt, vi, near_s, info);
    }
    info->probed = true;
fail:
    vodq_input_close(&fmt);
    return rc;
}

static enum vodq_rc probe_music(struct vodq_music *m, const char *mp, struct vodq_err *err)
{
    char sp[PATH_MAX_LEN];

    join(sp, sizeof(sp), mp, "src");
    TRY(probe_file(m->src, sp, false, true, -1, &m->info, err));
    if (m->info.duration_s > 0 && m->in_s >= m->info.duration_s)
        return bad(err, mp, "in", "%g is past the end of the source (%.3f s): %s", m->in_s,
                   m->info.duration_s, m->src);
    if (m->info.duration_s <= 0 && (m->loop || m->in_s > 0) && m->out_s < 0)
        return bad(err, mp, "out", "required: the duration of %s is unknown", m->src);
    if (m->out_s > 0 && m->info.duration_s > 0 && m->out_s > m->info.duration_s + 0.05)
        return bad(err, mp, "out", "%g is past the end of the source (%.3f s): %s", m->out_s,
                   m->info.duration_s, m->src);
    return VODQ_OK;
}

enum vodq_rc vodq_timeline_probe(struct vodq_timeline *tl, struct vodq_err *err)
{
    char path[PATH_MAX_LEN];

    for (size_t t = 0; t < tl->n_tracks; t++) {
        for (size_t i = 0; i < tl->tracks[t].n_clips; i++) {
            struct vodq_clip *c = &tl->tracks[t].clips[i];
            if (c->type == VODQ_CLIP_COLOR)
                continue;
            pathf(path, sizeof(path), "tracks[%zu].clips[%zu].src", t, i);
            TRY(probe_file(c->src, path, true, false,
                           c->type == VODQ_CLIP_IMAGE ? -2 : c->in_s > 0 ? c->in_s : -1,
                           &c->info, err));
            if (c->type == VODQ_CLIP_VIDEO && c->info.duration_s > 0) {
                double end = c->out_s >= 0 ? c->out_s : c->in_s;
                /* One source frame of slack: container durations are rounded. */
                double slack =
                    c->info.fps_num > 0 ? (double)c->info.fps_den / c->info.fps_num : 0.05;
                pathf(path, sizeof(path), "tracks[%zu].clips[%zu]", t, i);
                if (c->in_s >= c->info.duration_s)
                    return bad(err, path, "in", "%g is past the end of the source (%.3f s): %s",
                               c->in_s, c->info.duration_s, c->src);
                if (end > c->info.duration_s + slack)
                    return bad(err, path, "out", "%g is past the end of the source (%.3f s): %s",
                               end, c->info.duration_s, c->src);
            } else if (c->type == VODQ_CLIP_VIDEO && c->out_s < 0) {
                pathf(path, sizeof(path), "tracks[%zu].clips[%zu]", t, i);
                return bad(err, path, "out", "required: the duration of %s is unknown", c->src);
            }
        }
    }
    for (size_t i = 0; i < tl->n_overlays; i++) {
        pathf(path, sizeof(path), "overlays[%zu].src", i);
        TRY(probe_file(tl->overlays[i].src, path, true, false, -2, &tl->overlays[i].info, err));
    }
    if (tl->music.src)
        TRY(probe_music(&tl->music, "music", err));
    for (size_t i = 0; i < tl->n_audio; i++) {
        pathf(path, sizeof(path), "audio[%zu]", i);
        TRY(probe_music(&tl->audio[i], path, err));
    }
    TRY(check_lengths(tl, err));
    tl->probed = true;
    return VODQ_OK;
}

void vodq_timeline_cleanup(struct vodq_timeline *tl)
{
    if (tl == NULL)
        return;
    for (size_t t = 0; t < tl->n_tracks; t++) {
        for (size_t i = 0; i < tl->tracks[t].n_clips; i++) {
            free(tl->tracks[t].clips[i].src);
            free(tl->tracks[t].clips[i].vol);
        }
        free(tl->tracks[t].clips);
    }
    free(tl->tracks);
    for (size_t i = 0; i < tl->n_overlays; i++)
        free(tl->overlays[i].src);
    free(tl->overlays);
    for (size_t i = 0; i < tl->n_captions; i++) {
        free(tl->captions[i].text);
        free(tl->captions[i].font);
    }
    free(tl->captions);
    free(tl->music.src);
    for (size_t i = 0; i < tl->n_audio; i++)
        free(tl->audio[i].src);
    free(tl->audio);
    for (size_t i = 0; i < tl->n_subtitles; i++)
        free(tl->subtitles[i].src);
    free(tl->subtitles);
    free(tl->vol);
    free(tl->output.cover_path);
    free(tl->base_dir);
    memset(tl, 0, sizeof(*tl));
}
