/* plan.c: turn a validated, probed timeline into a render plan: the list of
 * inputs and ONE filter graph (ffmpeg -filter_complex syntax) that renders
 * the whole timeline, plus the ffmpeg command line that renders the same
 * plan for reference comparisons.
 *
 * Graph layout (labels in brackets):
 *
 *   per clip k:  [I:v] setpts, fps, fit (scale+pad/crop, colour matrix
 *                conversion), format, eq, setsar, tpad, trim -> [vK]
 *                [I:a] atrim, asetpts, atempo.., volume, aresample, aformat,
 *                apad, atrim -> [aK]       (or anullsrc when silent)
 *   joining:     each [vK] is split into head / middle / tail; only the
 *                frames inside a transition go through xfade; all the
 *                pieces are concatenated once -> [vjoin]
 *                [a0][a1] acrossfade or concat -> ... -> [ajoin]
 *   on top:      overlay per sticker (one decoded frame, repeated by the
 *                overlay filter), drawtext per caption
 *   music:       atrim/concat loop, afade, volume, adelay, amix with the clips
 *   ends:        format, setparams (colour tags) -> [vout]
 *                [loudnorm], aformat, apad, atrim -> [aout]
 *
 * Frame accounting: clip k lasts N_k = round(len_k * fps) output frames and
 * transition k overlaps T_k frames, so the output has sum(N) - sum(T) frames
 * and the audio the same time in samples; every clip is padded (tpad/apad)
 * and cut (trim/atrim) to its exact length, so A/V end together. Every
 * filter used keeps a bounded number of frames (no reverse, no unbounded
 * fifo; loop holds one frame). */
#include "worker/compose/plan.h"

#include "worker/compose/timeline.h"

#include <libavutil/pixdesc.h>
#include <libavutil/pixfmt.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- A growing string ---- */

struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) VODQ_PRINTF(2, 3);

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
}

/* Appends s escaped for a filter option value inside a filtergraph: first
 * the option level (\ ' : and white space), then the graph level
 * (\ ' [ ] , ;), so any UTF-8 text survives both av_get_token passes. */
static void sb_escaped(struct sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool lvl1 =
            c == '\\' || c == '\'' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (lvl1)
            sb_printf(b, "\\\\"); /* the level-1 backslash, escaped for level 2 */
        if (c == '\\' || c == '\'' || c == '[' || c == ']' || c == ',' || c == ';')
            sb_printf(b, "\\%c", c);
        else
            sb_printf(b, "%c", c);
    }
}

/* ---- Helpers ---- */

static double fps_of(const struct vodq_output_spec *o)
{
    return (double)o->fps_num / o->fps_den;
}

/* Seconds of n output frames. */
static double frames_s(const struct vodq_output_spec *o, int64_t n)
{
    return (double)n * o->fps_den / o->fps_num;
}

/* Audio samples of n output frames. */
static int64_t frames_samples(const struct vodq_output_spec *o, int64_t n)
{
    return (int64_t)llround((double)n * o->sample_rate * o->fps_den / o->fps_num);
}

static int even(double v)
{
    int n = 2 * (int)lround(v / 2);
    return n < 2 ? 2 : n;
}

static const char *layout_of(const struct vodq_output_spec *o)
{
    return o->channels == 1 ? "mono" : "stereo";
}

/* swscale names of the output matrix and the FFmpeg tags written. */
static const char *out_matrix(const struct vodq_output_spec *o)
{
    return strcmp(o->color, "bt601") == 0 ? "bt601" : "bt709";
}

static const char *out_tag(const struct vodq_output_spec *o)
{
    return strcmp(o->color, "bt601") == 0 ? "smpte170m" : "bt709";
}

static const char *range_name(bool full)
{
    return full ? "pc" : "tv";
}

static bool pix_is_rgb(int pix_fmt)
{
    const AVPixFmtDescriptor *d = pix_fmt >= 0 ? av_pix_fmt_desc_get(pix_fmt) : NULL;
    return d && ((d->flags & AV_PIX_FMT_FLAG_RGB) || (d->flags & AV_PIX_FMT_FLAG_PAL) ||
                 d->nb_components < 3);
}

static bool pix_is_jpeg(int pix_fmt)
{
    return pix_fmt == AV_PIX_FMT_YUVJ420P || pix_fmt == AV_PIX_FMT_YUVJ422P ||
           pix_fmt == AV_PIX_FMT_YUVJ444P || pix_fmt == AV_PIX_FMT_YUVJ440P ||
           pix_fmt == AV_PIX_FMT_YUVJ411P;
}

/* Colour conversion to the output matrix and range, in two steps:
 *  - inside the fitting scale filter: RGB sources are converted to YUV with
 *    the output matrix; YUV sources only get their range converted (swscale
 *    is exact there, but loses 2 levels of luma when it changes matrices);
 *  - after it (sb_matrix), YUV sources whose matrix differs from the output
 *    (SD BT.601 into HD BT.709 and the like) go through the colorspace filter,
 *    a matrix-only conversion, so they are converted, not merely relabelled
 *    (issue 6 item 3).
 * The source matrix comes from its tag, or by size when untagged (SD =
 * BT.601, HD = BT.709; JPEG = BT.601 full range), never from frame side data,
 * so the engine and the ffmpeg command line render identically. */
static const char *src_matrix(const struct vodq_media_info *in)
{
    switch (in->color_space) {
    case AVCOL_SPC_BT709:
        return "bt709";
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
        return "bt470bg";
    case AVCOL_SPC_SMPTE240M:
        return "smpte240m";
    case AVCOL_SPC_FCC:
        return "fcc";
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
        return "bt2020ncl";
    default:
        return (in->height >= 720 && !pix_is_jpeg(in->pix_fmt)) ? "bt709" : "bt470bg";
    }
}

static const char *dst_matrix(const struct vodq_output_spec *o)
{
    return strcmp(o->color, "bt601") == 0 ? "bt470bg" : "bt709";
}

static bool src_full_range(const struct vodq_media_info *in)
{
    if (in->color_range == AVCOL_RANGE_JPEG)
        return true;
    if (in->color_range == AVCOL_RANGE_MPEG)
        return false;
    return pix_is_jpeg(in->pix_fmt);
}

/* Options appended to a scale filter's arguments. */
static void sb_scale_color(struct sbuf *b, const struct vodq_media_info *in,
                           const struct vodq_output_spec *o)
{
    if (pix_is_rgb(in->pix_fmt))
        sb_printf(b, ":out_color_matrix=%s:out_range=%s", out_matrix(o), range_name(o->full_range));
    else
        sb_printf(b, ":in_range=%s:out_range=%s", range_name(src_full_range(in)),
                  range_name(o->full_range));
}

/* ",format=yuv420p" plus the matrix conversion a YUV source needs. */
static void sb_matrix(struct sbuf *b, const struct vodq_media_info *in,
                      const struct vodq_output_spec *o)
{
    const char *from = src_matrix(in), *to = dst_matrix(o), *tag = out_tag(o);
    const char *r = range_name(o->full_range);

    sb_printf(b, ",format=yuv420p");
    if (pix_is_rgb(in->pix_fmt) || strcmp(from, to) == 0)
        return;
    /* Same primaries and transfer on both sides: a matrix-only conversion. */
    sb_printf(b,
              ",colorspace=ispace=%s:space=%s:iprimaries=%s:primaries=%s:itrc=%s:trc=%s:"
              "irange=%s:range=%s",
              from, to, tag, tag, tag, tag, r, r);
}

/* 0xRRGGBBAA, the colour syntax of pad, drawtext, color... */
static void sb_color(struct sbuf *b, struct vodq_rgba c)
{
    sb_printf(b, "0x%02X%02X%02X%02X", c.r, c.g, c.b, c.a);
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_input(struct vodq_plan *plan, size_t cap, const char *path)
{
    struct vodq_plan_input *in;

    if (plan->n_inputs >= cap)
        return -1;
    in = &plan->inputs[plan->n_inputs];
    memset(in, 0, sizeof(*in));
    in->path = dupstr(path);
    if (in->path == NULL)
        return -1;
    return (int)plan->n_inputs++;
}

/* ---- Clips ---- */

/* Display size of a probed source after SAR and rotation. */
static void display_size(const struct vodq_media_info *in, double *dw, double *dh)
{
    double w = (double)in->width * in->sar_num / (in->sar_den ? in->sar_den : 1);
    double h = in->height;

    if (in->rotation == 90 || in->rotation == 270) {
        double t = w;
        w = h;
        h = t;
    }
    *dw = w > 0 ? w : 1;
    *dh = h > 0 ? h : 1;
}

static void sb_rotation(struct sbuf *b, const struct vodq_media_info *in)
{
    if (in->mirror) /* EXIF orientations 2, 4, 5, 7: mirrored first */
        sb_printf(b, "hflip,");
    if (in->rotation == 90)
        sb_printf(b, "transpose=clock,");
    else if (in->rotation == 270)
        sb_printf(b, "transpose=cclock,");
    else if (in->rotation == 180)
        sb_printf(b, "hflip,vflip,");
}

/* Scaled size of a dw x dh picture that covers (cover) or fits inside
 * (contain) the W x H canvas, even, aspect kept. */
static void fit_size(double dw, double dh, int W, int H, bool cover, int *sw, int *sh)
{
    double s = cover ? fmax(W / dw, H / dh) : fmin(W / dw, H / dh);

    *sw = even(dw * s);
    *sh = even(dh * s);
    if (cover ? *sw < W : *sw > W)
        *sw = W;
    if (cover ? *sh < H : *sh > H)
        *sh = H;
}

/* "scale=w=..:h=.." with colour conversion, leaving yuv420p. */
static void sb_scale(struct sbuf *b, int w, int h, const struct vodq_media_info *in,
                     const struct vodq_output_spec *o)
{
    double dw, dh;

    display_size(in, &dw, &dh);
    if (dw == w && dh == h && in->sar_num == in->sar_den && in->pix_fmt == AV_PIX_FMT_YUV420P &&
        src_full_range(in) == o->full_range) {
        /* Already the right size, format and range: a swscale pass would
         * only copy the picture (about 5 ms a 1080p frame). */
        sb_printf(b, "null");
    } else {
        sb_printf(b, "scale=w=%d:h=%d", w, h);
        sb_scale_color(b, in, o);
    }
    sb_matrix(b, in, o);
}

/* Fit the picture of clip k to the output canvas; leaves yuv420p, SAR 1. */
static void sb_fit(struct sbuf *b, const struct vodq_clip *c, size_t k,
                   const struct vodq_output_spec *o)
{
    double dw, dh;
    int W = o->width, H = o->height, sw, sh, cw, ch;

    display_size(&c->info, &dw, &dh);
    switch (c->fit) {
    case VODQ_FIT_STRETCH:
        sb_scale(b, W, H, &c->info, o);
        break;
    case VODQ_FIT_COVER:
        fit_size(dw, dh, W, H, true, &cw, &ch);
        sb_scale(b, cw, ch, &c->info, o);
        sb_printf(b, ",crop=w=%d:h=%d:x=%d:y=%d", W, H, (cw - W) / 2, (ch - H) / 2);
        break;
    case VODQ_FIT_BLUR: {
        /* The contained picture over a blurred, cropped cover copy; the box
         * radius stays within what boxblur allows on the chroma planes. */
        int bs = W < H ? W : H;
        int r = bs / 40;
        if (r > bs / 4 - 1)
            r = bs / 4 - 1;
        if (r < 1)
            r = 1;
        fit_size(dw, dh, W, H, true, &cw, &ch);
        fit_size(dw, dh, W, H, false, &sw, &sh);
        sb_printf(b, "split=2[c%zubg][c%zufg];[c%zubg]", k, k, k);
        sb_scale(b, cw, ch, &c->info, o);
        sb_printf(b, ",crop=w=%d:h=%d:x=%d:y=%d,boxblur=%d:1[c%zubb];[c%zufg]", W, H, (cw - W) / 2,
                  (ch - H) / 2, r, k, k);
        sb_scale(b, sw, sh, &c->info, o);
        sb_printf(b, "[c%zufs];[c%zubb][c%zufs]overlay=x=%d:y=%d:format=yuv420,format=yuv420p", k,
                  k, k, (W - sw) / 2, (H - sh) / 2);
        break;
    }
    case VODQ_FIT_CONTAIN:
    default:
        fit_size(dw, dh, W, H, false, &sw, &sh);
        sb_scale(b, sw, sh, &c->info, o);
        if (sw != W || sh != H) {
            /* FFmpeg 5.1's pad turns its colour into YUV with BT.601
             * coefficients whatever the frame's matrix; a grey is the same in
             * every matrix, any other colour is padded in RGB (gbrp) and the
             * frame converted back with the output matrix. */
            bool grey = c->background.r == c->background.g && c->background.g == c->background.b;
            if (!grey)
                sb_printf(b, ",scale=in_color_matrix=%s:in_range=%s,format=gbrp", out_matrix(o),
                          range_name(o->full_range));
            sb_printf(b, ",pad=w=%d:h=%d:x=%d:y=%d:color=", W, H, (W - sw) / 2, (H - sh) / 2);
            sb_color(b, c->background);
            if (!grey)
                sb_printf(b, ",scale=out_color_matrix=%s:out_range=%s,format=yuv420p",
                          out_matrix(o), range_name(o->full_range));
        }
        break;
    }
    if (c->brightness != 0 || c->contrast != 1 || c->saturation != 1)
        sb_printf(b, ",eq=brightness=%.4f:contrast=%.4f:saturation=%.4f", c->brightness,
                  c->contrast, c->saturation);
    sb_printf(b, ",setsar=1");
}

/* Picture-in-picture size of clip c: its width from scale or width_px
 * (else its own), height from its display aspect; even, within the frame. */
static void pip_size(const struct vodq_clip *c, const struct vodq_output_spec *o, int *w, int *h)
{
    double dw, dh;

    display_size(&c->info, &dw, &dh);
    if (c->scale > 0)
        *w = even(o->width * c->scale);
    else if (c->width_px > 0)
        *w = even(c->width_px);
    else if (c->height_px > 0)
        *w = even(c->height_px * dw / dh);
    else
        *w = even(dw);
    *h = c->height_px > 0 ? even(c->height_px) : even(*w * dh / dw);
    if (*w > o->width)
        *w = o->width;
    if (*h > o->height)
        *h = o->height;
}

/* Surround to the output's channels with normalised coefficients: swresample
 * leaves float rematrixing unnormalised, so a 5.1 downmix (centre and
 * surrounds at -3 dB on top of the fronts) would be up to 7.6 dB louder than
 * its sources and clip. rematrix_maxval=1 scales the matrix so that no
 * output channel can exceed full scale, as FFmpeg does for integer formats. */
static void sb_downmix(struct sbuf *g, const struct vodq_media_info *mi,
                       const struct vodq_output_spec *o)
{
    if (mi->channels > o->channels)
        sb_printf(g, ",aresample=rematrix_maxval=1,aformat=channel_layouts=%s", layout_of(o));
}

/* atempo accepts 0.5..2 per instance here; chain for 0.25..4. */
static void sb_atempo(struct sbuf *b, double speed)
{
    while (speed > 2.0 + 1e-9) {
        sb_printf(b, ",atempo=2");
        speed /= 2;
    }
    while (speed < 0.5 - 1e-9) {
        sb_printf(b, ",atempo=0.5");
        speed /= 0.5;
    }
    if (fabs(speed - 1.0) > 1e-9)
        sb_printf(b, ",atempo=%.6f", speed);
}

/* The picture of clip c: fitted to the canvas (main track) or scaled to its
 * picture-in-picture size, colour-converted, adjusted; yuv420p, or yuva420p
 * for a PIP clip drawn with opacity. */
static void sb_picture(struct sbuf *g, const struct vodq_clip *c0, size_t k,
                       const struct vodq_output_spec *o)
{
    struct vodq_clip edited;
    const struct vodq_clip *c = c0;

    sb_rotation(g, &c0->info);
    if (c0->has_crop || c0->rotate || c0->hflip || c0->vflip) {
        /* Crop, rotate, mirror; the fit then sees the edited picture's
         * display size (square pixels after the edits' own arithmetic). */
        double dw, dh;
        display_size(&c0->info, &dw, &dh);
        edited = *c0;
        if (c0->has_crop) {
            sb_printf(g, "crop=w=iw*%.6f:h=ih*%.6f:x=iw*%.6f:y=ih*%.6f,", c0->crop_w, c0->crop_h,
                      c0->crop_x, c0->crop_y);
            dw *= c0->crop_w;
            dh *= c0->crop_h;
        }
        if (c0->rotate == 90 || c0->rotate == 270) {
            double t = dw;
            dw = dh;
            dh = t;
            sb_printf(g, "transpose=%s,", c0->rotate == 90 ? "clock" : "cclock");
        } else if (c0->rotate == 180) {
            sb_printf(g, "hflip,vflip,");
        }
        if (c0->hflip)
            sb_printf(g, "hflip,");
        if (c0->vflip)
            sb_printf(g, "vflip,");
        edited.info.width = (int)lround(dw) > 0 ? (int)lround(dw) : 1;
        edited.info.height = (int)lround(dh) > 0 ? (int)lround(dh) : 1;
        edited.info.rotation = 0;
        edited.info.sar_num = edited.info.sar_den = 1;
        edited.info.pix_fmt = -1; /* never take the no-scale shortcut */
        sb_printf(g, "setsar=1,");
        c = &edited;
    }
    if (!c->pip) {
        sb_fit(g, c, k, o);
        return;
    }
    int w, h;
    pip_size(c, o, &w, &h);
    if (c->width_px > 0 && c->height_px > 0 && c->fit != VODQ_FIT_STRETCH) {
        /* A box: cover crops what overflows, contain pads it transparent. */
        double dw, dh;
        int sw, sh;
        display_size(&c->info, &dw, &dh);
        fit_size(dw, dh, w, h, c->fit == VODQ_FIT_COVER, &sw, &sh);
        sb_scale(g, sw, sh, &c->info, o);
        if (c->fit == VODQ_FIT_COVER)
            sb_printf(g, ",crop=w=%d:h=%d:x=%d:y=%d", w, h, (sw - w) / 2, (sh - h) / 2);
        else if (sw != w || sh != h)
            sb_printf(g, ",format=yuva420p,pad=w=%d:h=%d:x=%d:y=%d:color=black@0", w, h,
                      (w - sw) / 2, (h - sh) / 2);
    } else {
        sb_scale(g, w, h, &c->info, o);
    }
    if (c->brightness != 0 || c->contrast != 1 || c->saturation != 1)
        sb_printf(g, ",eq=brightness=%.4f:contrast=%.4f:saturation=%.4f", c->brightness,
                  c->contrast, c->saturation);
    sb_printf(g, ",setsar=1");
    if (c->opacity < 1)
        sb_printf(g, ",format=yuva420p,lut=a=val*%.4f", c->opacity);
}

/* volume=G over each span (seconds of the chain's own time). */
static void sb_vol_ranges(struct sbuf *g, const struct vodq_vol_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_printf(g, ",volume=%.4f:enable='between(t,%.6f,%.6f)'", r[i].volume, r[i].start_s,
                  r[i].end_s);
}

/* Adds clip c's input and its chains: exactly n output frames labelled
 * [vlabel] and, when alabel is given, exactly as much sound labelled
 * [alabel] (silence when the clip has none). A PIP clip's sound is only
 * produced when it has some; *sound tells. */
static int add_clip(struct vodq_plan *plan, size_t cap, struct sbuf *g, const struct vodq_clip *c,
                    size_t k, const struct vodq_output_spec *o, const char *vlabel,
                    const char *alabel, bool *sound)
{
    int64_t n = vodq_clip_frames(c, o);
    int64_t ns = frames_samples(o, n);
    double F = fps_of(o);
    int idx;
    struct vodq_plan_input *in;

    *sound = false;
    if (c->type == VODQ_CLIP_COLOR) {
        /* A solid colour made in RGB, converted with the output matrix. */
        sb_printf(g, "color=c=");
        sb_color(g, c->background);
        sb_printf(g,
                  ":s=%dx%d:r=%d/%d,format=gbrp,scale=out_color_matrix=%s:out_range=%s,"
                  "format=yuv420p,setsar=1,trim=end_frame=%lld[%s];\n",
                  o->width, o->height, o->fps_num, o->fps_den, out_matrix(o),
                  range_name(o->full_range), (long long)n, vlabel);
        if (alabel) {
            sb_printf(g, "anullsrc=r=%d:cl=%s,atrim=end_sample=%lld[%s];\n", o->sample_rate,
                      layout_of(o), (long long)ns, alabel);
            *sound = true;
        }
        return 0;
    }
    idx = add_input(plan, cap, c->src);
    if (idx < 0)
        return -1;
    in = &plan->inputs[idx];
    in->use_video = true;
    if (c->type == VODQ_CLIP_IMAGE) {
        /* One decoded frame, fitted once, repeated by loop (holds 1 frame). */
        in->is_image = true;
        in->duration_s = 0.5 / F; /* exactly one frame at the output rate */
        sb_printf(g, "[%d:v]", idx);
        sb_picture(g, c, k, o);
        sb_printf(g, ",loop=loop=-1:size=1:start=0,settb=expr=%d/%d,setpts=N,fps=%d/%d", o->fps_den,
                  o->fps_num, o->fps_num, o->fps_den);
        sb_printf(g, ",trim=end_frame=%lld[%s];\n", (long long)n, vlabel);
        if (alabel && !c->pip) {
            sb_printf(g, "anullsrc=r=%d:cl=%s,atrim=end_sample=%lld[%s];\n", o->sample_rate,
                      layout_of(o), (long long)ns, alabel);
            *sound = true;
        }
        return 0;
    }

    /* Video clip. The source span covers exactly n output frames. */
    double span = (double)(n - vodq_clip_freeze_frames(c, o)) / F * c->speed;
    double in_s = c->in_s, seek, lead = 0;
    const struct vodq_media_info *mi = &c->info;
    if (c->in_s > 0 && mi->near_s > 0) {
        /* The frame nearest "in" on the source's own timestamps (probed;
         * variable frame rates have no grid): seek half the gap to the
         * frame before it early, so that exactly that frame comes first. */
        double gap = mi->near_gap_s > 0 ? mi->near_gap_s
                     : mi->fps_num > 0  ? (double)mi->fps_den / mi->fps_num
                                        : 0.04;
        in_s = mi->near_s;
        seek = in_s - gap / 2;
        if (seek < 0)
            seek = 0;
        lead = in_s - seek;
        in->duration_s = lead + span + 2.0 * gap + 0.1;
    } else if (c->in_s > 0 && mi->fps_num > 0 && mi->fps_den > 0) {
        /* Start on the source frame nearest "in": seek half a frame early so
         * that timestamp rounding never drops the wanted frame. */
        double sf = (double)mi->fps_num / mi->fps_den;
        in_s = round(c->in_s * sf) / sf;
        seek = in_s - 0.5 / sf;
        if (seek < 0)
            seek = 0;
        lead = in_s - seek;
        in->duration_s = lead + span + 2.0 / sf;
    } else {
        seek = in_s;
        in->duration_s = span + 0.1;
    }
    in->seek_s = seek;
    in->use_audio = alabel && mi->has_audio && !c->mute && c->volume > 0;

    /* Frames before the seek point (an engine that seeks to the keyframe
     * before seek_s may pass them with negative timestamps) are dropped by
     * trim=start=0, as the ffmpeg command line's accurate seek does.
     * Interlaced sources are deinterlaced first (bwdif, one frame per frame,
     * or per field when the output rate is about twice the source's). */
    sb_printf(g, "[%d:v]", idx);
    if (mi->interlaced) {
        double sf = mi->fps_num > 0 ? (double)mi->fps_num / mi->fps_den : 25;
        sb_printf(g, "bwdif=mode=%s:parity=%s:deint=interlaced,",
                  F / c->speed > 1.5 * sf ? "send_field" : "send_frame", mi->tff ? "tff" : "bff");
    }
    if (seek > 0)
        sb_printf(g, "trim=start=0,");
    /* Timestamps stay relative to the seek point (minus the lead to the
     * wanted frame), not to the first frame: a picture that starts after
     * the sound keeps its delay; fps=start_time=0 fills it with the first
     * frame and drops what comes before the wanted frame. */
    if (c->speed != 1 && lead > 0)
        /* microsecond time base first: dividing coarse timestamps would round
         * neighbouring frames onto the same pts */
        sb_printf(g, "settb=expr=AVTB,setpts=(PTS-%.6f/TB)/%.6f,", lead, c->speed);
    else if (c->speed != 1)
        sb_printf(g, "settb=expr=AVTB,setpts=PTS/%.6f,", c->speed);
    else if (lead > 0)
        sb_printf(g, "setpts=PTS-%.6f/TB,", lead);
    sb_printf(g, "fps=%d/%d:start_time=0,", o->fps_num, o->fps_den);
    sb_picture(g, c, k, o);
    if (vodq_clip_freeze_frames(c, o) > 0) /* the held frame is the span's last */
        sb_printf(g, ",trim=end_frame=%lld", (long long)(n - vodq_clip_freeze_frames(c, o)));
    sb_printf(g, ",tpad=stop_mode=clone:stop=-1,trim=end_frame=%lld[%s];\n", (long long)n, vlabel);

    if (in->use_audio) {
        /* Timestamps stay relative to the seek point (not to the first
         * sample): a sound track that starts after the pictures keeps its
         * delay, filled with silence by aresample first_pts=0. */
        sb_printf(g, "[%d:a]atrim=start=%.6f:end=%.6f,asetpts=PTS-%.6f/TB,aresample=%d:first_pts=0",
                  idx, lead, lead + span, lead, o->sample_rate);
        sb_downmix(g, mi, o);
        sb_atempo(g, c->speed);
        if (c->volume != 1)
            sb_printf(g, ",volume=%.4f", c->volume);
        sb_vol_ranges(g, c->vol, c->n_vol);
        if (c->fade_in_s > 0)
            sb_printf(g, ",afade=t=in:st=0:d=%.6f", fmin(c->fade_in_s, (double)n / F));
        if (c->fade_out_s > 0) {
            double len = (double)(n - vodq_clip_freeze_frames(c, o)) / F;
            double d = fmin(c->fade_out_s, len);
            sb_printf(g, ",afade=t=out:st=%.6f:d=%.6f", len - d, d);
        }
        sb_printf(g,
                  ",aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s,"
                  "apad,atrim=end_sample=%lld[%s];\n",
                  o->sample_rate, layout_of(o), (long long)ns, alabel);
        *sound = true;
    } else if (alabel && !c->pip) {
        sb_printf(g, "anullsrc=r=%d:cl=%s,atrim=end_sample=%lld[%s];\n", o->sample_rate,
                  layout_of(o), (long long)ns, alabel);
        *sound = true;
    }
    return 0;
}

/* ---- Overlays and captions ---- */

/* overlay/drawtext position expressions for an anchor; ww/hh name the item
 * size variables (w/h for overlay, text_w/text_h for drawtext), WW/HH the
 * frame size ones; pad keeps a caption's box inside the frame. */
static void sb_axis(struct sbuf *b, const char *var, int pos, int off, const char *full,
                    const char *item, int pad)
{
    if (pos == 0) { /* left / top */
        sb_printf(b, "%s=%d", var, off + pad);
        return;
    }
    if (pos == 1) /* centred: the offset moves right / down */
        sb_printf(b, "%s=(%s-%s)/2", var, full, item);
    else /* right / bottom: the offset moves left / up */
        sb_printf(b, "%s=%s-%s", var, full, item);
    off = pos == 1 ? off : -(off + pad);
    if (off != 0)
        sb_printf(b, "%+d", off); /* never "--5", which expressions would misread */
}

static void sb_position(struct sbuf *b, enum vodq_anchor a, int x, int y, const char *WW,
                        const char *HH, const char *ww, const char *hh, int pad)
{
    sb_axis(b, "x", (int)a % 3, x, WW, ww, pad);
    sb_printf(b, ":");
    sb_axis(b, "y", (int)a / 3, y, HH, hh, pad);
}

static void sb_enable(struct sbuf *b, double start, double end)
{
    if (end >= 0)
        sb_printf(b, ":enable='between(t,%.6f,%.6f)'", start, end);
    else if (start > 0)
        sb_printf(b, ":enable='gte(t,%.6f)'", start);
}

static int add_overlay(struct vodq_plan *plan, size_t cap, struct sbuf *g,
                       const struct vodq_overlay *ov, size_t i, const char *main_in,
                       const char *main_out, const struct vodq_output_spec *o)
{
    int idx = add_input(plan, cap, ov->src);
    int w = 0;
    double end;

    if (idx < 0)
        return -1;
    plan->inputs[idx].is_image = true;
    plan->inputs[idx].use_video = true;
    plan->inputs[idx].duration_s = 0.5 / fps_of(o); /* one frame; overlay repeats it */
    if (ov->scale > 0)
        w = even(o->width * ov->scale);
    else if (ov->width_px > 0)
        w = ov->width_px;
    sb_printf(g, "[%d:v]", idx);
    sb_rotation(g, &ov->info);
    sb_printf(g, "format=rgba");
    if (ov->opacity < 1)
        sb_printf(g, ",colorchannelmixer=aa=%.4f", ov->opacity);
    /* Convert to YUV here with the output matrix; overlay's own automatic
     * conversion would use BT.601 whatever the output is. */
    if (w > 0)
        sb_printf(g, ",scale=w=%d:h=-2", w);
    else
        sb_printf(g, ",scale=w=iw:h=ih");
    sb_printf(g, ":out_color_matrix=%s:out_range=%s,format=yuva420p[ov%zu];\n", out_matrix(o),
              range_name(o->full_range), i);
    end = ov->duration_s > 0 ? ov->start_s + ov->duration_s : -1;
    sb_printf(g, "[%s][ov%zu]overlay=", main_in, i);
    sb_position(g, ov->anchor, ov->x, ov->y, "W", "H", "w", "h", 0);
    sb_printf(g, ":format=yuv420:eof_action=repeat");
    sb_enable(g, ov->start_s, end);
    sb_printf(g, "[%s];\n", main_out);
    return 0;
}

static bool is_grey(struct vodq_rgba c)
{
    return c.r == c.g && c.g == c.b;
}

static void add_caption(struct sbuf *g, const struct vodq_caption *c, const char *main_in,
                        const char *main_out, const struct vodq_output_spec *o)
{
    int pad = c->has_box ? c->box_padding : 0;
    /* FFmpeg 5.1's drawtext converts its colours with BT.601 coefficients
     * whatever the frame's matrix: non-grey colours are drawn in RGB (gbrp)
     * and the frame converted back with the output matrix. */
    bool rgb = !is_grey(c->color) || (c->outline > 0 && !is_grey(c->outline_color)) ||
               (c->has_shadow && !is_grey(c->shadow_color)) ||
               (c->has_box && !is_grey(c->box_color));

    sb_printf(g, "[%s]", main_in);
    if (rgb)
        sb_printf(g, "scale=in_color_matrix=%s:in_range=%s,format=gbrp,", out_matrix(o),
                  range_name(o->full_range));
    sb_printf(g, "drawtext=fontfile=");
    sb_escaped(g, c->font);
    sb_printf(g, ":expansion=none:text=");
    sb_escaped(g, c->text);
    sb_printf(g, ":fontsize=%d:fontcolor=", c->size);
    sb_color(g, c->color);
    if (c->outline > 0) {
        sb_printf(g, ":borderw=%d:bordercolor=", c->outline);
        sb_color(g, c->outline_color);
    }
    if (c->has_shadow) {
        sb_printf(g, ":shadowx=%d:shadowy=%d:shadowcolor=", c->shadow_x, c->shadow_y);
        sb_color(g, c->shadow_color);
    }
    if (c->has_box) {
        sb_printf(g, ":box=1:boxborderw=%d:boxcolor=", c->box_padding);
        sb_color(g, c->box_color);
    }
    sb_printf(g, ":");
    sb_position(g, c->anchor, c->x, c->y, "w", "h", "text_w", "text_h", pad);
    sb_enable(g, c->start_s, c->end_s);
    if (rgb)
        sb_printf(g, ",scale=out_color_matrix=%s:out_range=%s,format=yuv420p", out_matrix(o),
                  range_name(o->full_range));
    sb_printf(g, "[%s];\n", main_out);
}

/* ---- Music ---- */

#define MUSIC_MAX_REPEATS 100

/* Adds the music inputs and a chain ending in [music] that lasts at most
 * total_s from timeline time music.start. Returns 0, or -1 with err set. */
static int add_music(struct vodq_plan *plan, size_t cap, struct sbuf *g, const struct vodq_music *m,
                     const char *mpath, const char *label, double total_s,
                     const struct vodq_output_spec *o, struct vodq_err *err)
{
    double speed = m->speed > 0 ? m->speed : 1;
    double need = total_s - m->start_s;
    double seg = (m->out_s >= 0 ? m->out_s : m->info.duration_s) - m->in_s;

    if (m->duration_s > 0 && m->duration_s < need)
        need = m->duration_s;
    /* From here on: seg in timeline seconds (after the tempo change). */
    need *= speed;
    double len;
    int64_t len_samples;
    int reps = 1;

    if (m->loop && seg > 0)
        len = need;
    else
        len = seg > 0 ? fmin(seg, need) : need;
    len_samples = (int64_t)llround(len * o->sample_rate);
    if (m->loop && seg > 0 && (m->in_s > 0 || m->out_s >= 0)) {
        /* A trimmed segment loops as repeated inputs (each seeked and cut),
         * so nothing is buffered in memory. */
        reps = (int)ceil(need / seg);
        if (reps > MUSIC_MAX_REPEATS) {
            vodq_err_set(err, VODQ_ERR_INVALID, 0,
                         "%s.out: the looped segment (%.3f s) would repeat %d times to fill "
                         "%.3f s; at most %d",
                         mpath, seg, reps, need, MUSIC_MAX_REPEATS);
            if (err)
                err->permanent = true;
            return -1;
        }
        for (int r = 0; r < reps; r++) {
            int idx = add_input(plan, cap, m->src);
            if (idx < 0)
                goto oom;
            plan->inputs[idx].use_audio = true;
            plan->inputs[idx].seek_s = m->in_s;
            plan->inputs[idx].duration_s = seg;
            sb_printf(g,
                      "[%d:a]atrim=duration=%.6f,asetpts=PTS-STARTPTS,aresample=%d:rematrix_maxval=1,"
                      "aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s[%s_%d];\n",
                      idx, seg, o->sample_rate, o->sample_rate, layout_of(o), label, r);
        }
        for (int r = 0; r < reps; r++)
            sb_printf(g, "[%s_%d]", label, r);
        sb_printf(g, "concat=n=%d:v=0:a=1,", reps);
    } else {
        int idx = add_input(plan, cap, m->src);
        if (idx < 0)
            goto oom;
        plan->inputs[idx].use_audio = true;
        plan->inputs[idx].seek_s = m->in_s;
        if (m->loop) {
            plan->inputs[idx].loop = true;
            plan->inputs[idx].duration_s = len + 0.1;
        } else {
            plan->inputs[idx].duration_s = len + 0.1;
        }
        sb_printf(g, "[%d:a]asetpts=PTS-STARTPTS,", idx);
    }
    /* rematrix_maxval=1: a surround source is downmixed with normalised
     * coefficients (sb_downmix) */
    sb_printf(g, "aresample=%d:rematrix_maxval=1,aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s",
              o->sample_rate, o->sample_rate, layout_of(o));
    if (speed != 1) {
        sb_atempo(g, speed);
        len /= speed;
        len_samples = (int64_t)llround(len * o->sample_rate);
    }
    sb_printf(g, ",atrim=end_sample=%lld", (long long)len_samples);
    if (m->fade_in_s > 0)
        sb_printf(g, ",afade=t=in:st=0:d=%.6f", fmin(m->fade_in_s, len));
    if (m->fade_out_s > 0) {
        double d = fmin(m->fade_out_s, len);
        sb_printf(g, ",afade=t=out:st=%.6f:d=%.6f", len - d, d);
    }
    if (m->volume != 1)
        sb_printf(g, ",volume=%.4f", m->volume);
    if (m->start_s > 0)
        sb_printf(g, ",adelay=delays=%lldS:all=1", (long long)llround(m->start_s * o->sample_rate));
    sb_printf(g, "[%s];\n", label);
    return 0;
oom:
    vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    return -1;
}

/* ---- Joining the clips ---- */

/* Video: each clip is cut into head (the frames inside the transition from
 * the previous clip), middle and tail (inside the transition to the next);
 * only head and tail go through xfade, and everything is concatenated once.
 * xfade in FFmpeg 5.1 has no yuv420p, so a whole-clip xfade would convert
 * every frame to yuv444p and back; this way only the overlap is. The split
 * branches drop what they do not keep as it arrives, so nothing piles up. */
static void join_video(struct sbuf *g, const struct vodq_track *tr,
                       const struct vodq_output_spec *o)
{
    size_t segs = 0;

    for (size_t k = 0; k < tr->n_clips; k++) {
        int64_t n = vodq_clip_frames(&tr->clips[k], o);
        int64_t tin = k ? vodq_transition_frames(&tr->clips[k - 1], o) : 0;
        int64_t tout = vodq_transition_frames(&tr->clips[k], o);
        int64_t mid = n - tin - tout;
        int branches = (tin > 0) + (mid > 0) + (tout > 0);

        if (branches == 1 && mid > 0) {
            sb_printf(g, "[v%zu]null[m%zu];\n", k, k);
            continue;
        }
        if (branches > 1)
            sb_printf(g, "[v%zu]split=%d", k, branches);
        else
            sb_printf(g, "[v%zu]null", k);
        if (tin > 0)
            sb_printf(g, "[hh%zu]", k);
        if (mid > 0)
            sb_printf(g, "[mm%zu]", k);
        if (tout > 0)
            sb_printf(g, "[tt%zu]", k);
        sb_printf(g, ";\n");
        if (tin > 0)
            sb_printf(g, "[hh%zu]trim=end_frame=%lld[h%zu];\n", k, (long long)tin, k);
        if (mid > 0)
            sb_printf(g, "[mm%zu]trim=start_frame=%lld:end_frame=%lld,setpts=PTS-STARTPTS[m%zu];\n",
                      k, (long long)tin, (long long)tin + (long long)mid, k);
        if (tout > 0)
            sb_printf(g, "[tt%zu]trim=start_frame=%lld,setpts=PTS-STARTPTS[t%zu];\n", k,
                      (long long)(n - tout), k);
    }
    for (size_t k = 0; k < tr->n_clips; k++) {
        int64_t tout = vodq_transition_frames(&tr->clips[k], o);
        if (tout > 0)
            sb_printf(
                g, "[t%zu][h%zu]xfade=transition=%s:duration=%.6f:offset=0,format=yuv420p[x%zu];\n",
                k, k + 1, tr->clips[k].transition.type, frames_s(o, tout), k);
    }
    for (size_t k = 0; k < tr->n_clips; k++) {
        int64_t n = vodq_clip_frames(&tr->clips[k], o);
        int64_t tin = k ? vodq_transition_frames(&tr->clips[k - 1], o) : 0;
        int64_t tout = vodq_transition_frames(&tr->clips[k], o);
        if (n - tin - tout > 0) {
            sb_printf(g, "[m%zu]", k);
            segs++;
        }
        if (tout > 0) {
            sb_printf(g, "[x%zu]", k);
            segs++;
        }
    }
    /* concat works in microseconds; back to 1/fps for the encoder. */
    sb_printf(g, "concat=n=%zu:v=1:a=0,settb=expr=%d/%d[vjoin];\n", segs, o->fps_den, o->fps_num);
}

/* Audio: acrossfade where a transition overlaps two clips, concat for cuts
 * (cheap either way: crossfades hold only the overlap). */
static void join_audio(struct sbuf *g, const struct vodq_track *tr,
                       const struct vodq_output_spec *o)
{
    char cur[32] = "a0", next[32];

    for (size_t k = 1; k < tr->n_clips; k++) {
        int64_t t = vodq_transition_frames(&tr->clips[k - 1], o);
        snprintf(next, sizeof(next), "ja%zu", k);
        if (t > 0)
            sb_printf(g, "[%s][a%zu]acrossfade=ns=%lld:c1=tri:c2=tri[%s];\n", cur, k,
                      (long long)frames_samples(o, t), next);
        else
            sb_printf(g, "[%s][a%zu]concat=n=2:v=0:a=1[%s];\n", cur, k, next);
        snprintf(cur, sizeof(cur), "%s", next);
    }
    sb_printf(g, "[%s]anull[ajoin];\n", cur);
}

/* ---- Plan ---- */

static void copy_output(struct vodq_plan_output *po, const struct vodq_output_spec *o)
{
    po->width = o->width;
    po->height = o->height;
    po->fps_num = o->fps_num;
    po->fps_den = o->fps_den;
    snprintf(po->vcodec, sizeof(po->vcodec), "%s", o->video_codec);
    snprintf(po->encoder, sizeof(po->encoder), "%s", o->encoder);
    po->crf = o->bitrate > 0 ? -1 : o->crf;
    po->video_bitrate = o->bitrate;
    po->gop = o->gop > 0 ? o->gop : (int)lround(2.0 * o->fps_num / o->fps_den);
    snprintf(po->preset, sizeof(po->preset), "%s", o->preset);
    snprintf(po->acodec, sizeof(po->acodec), "%s", o->audio_codec);
    po->audio_bitrate = o->audio_bitrate;
    po->sample_rate = o->sample_rate;
    po->channels = o->channels;
    snprintf(po->color, sizeof(po->color), "%s", o->color);
    po->full_range = o->full_range;
    po->faststart = o->faststart;
    po->cover_at_s = o->cover_path ? o->cover_at_s : -1;
}

enum vodq_rc vodq_plan_build(const struct vodq_timeline *tl, struct vodq_plan *plan,
                             struct vodq_err *err)
{
    struct sbuf g = {0};
    const struct vodq_output_spec *o = &tl->output;
    const struct vodq_track *tr;
    size_t cap, reps = 0;
    int64_t total_frames;
    char cur[64], next[64];

    memset(plan, 0, sizeof(*plan));
    if (tl->n_tracks == 0 || tl->tracks[0].n_clips == 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "timeline: no clips");
    if (!tl->probed)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "timeline: not probed (call vodq_timeline_probe before planning)");
    tr = &tl->tracks[0];
    total_frames = vodq_timeline_frames(tl);
    if (total_frames <= 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "timeline: duration unknown or empty");
    plan->duration_s = frames_s(o, total_frames);

    if (tl->music.src)
        reps = MUSIC_MAX_REPEATS;
    reps += tl->n_audio * MUSIC_MAX_REPEATS;
    cap = tl->n_overlays + reps + 1;
    for (size_t t = 0; t < tl->n_tracks; t++)
        cap += tl->tracks[t].n_clips;
    plan->inputs = calloc(cap, sizeof(*plan->inputs));
    if (plan->inputs == NULL)
        goto oom;
    snprintf(plan->vout_label, sizeof(plan->vout_label), "vout");
    snprintf(plan->aout_label, sizeof(plan->aout_label), "aout");
    copy_output(&plan->out, o);
    if (o->cover_path) {
        plan->out.cover_path = strdup(o->cover_path);
        if (plan->out.cover_path == NULL)
            goto oom;
    }

    /* Clips of the main track, then join them. */
    for (size_t k = 0; k < tr->n_clips; k++) {
        char vl[64], al[64];
        bool sound;
        snprintf(vl, sizeof(vl), "v%zu", k);
        snprintf(al, sizeof(al), "a%zu", k);
        if (add_clip(plan, cap, &g, &tr->clips[k], k, o, vl, al, &sound) < 0)
            goto oom;
    }
    join_video(&g, tr, o);
    snprintf(cur, sizeof(cur), "vjoin");
    join_audio(&g, tr, o);
    char acur[32];
    snprintf(acur, sizeof(acur), "ajoin");
    size_t n_mix = 1; /* amix inputs: the main track's sound, PIP sounds, music */
    struct sbuf mix = {0};
    sb_printf(&mix, "[ajoin]");

    /* Overlay tracks: each clip drawn over the frame from its start frame;
     * its sound delayed as much and mixed in. */
    for (size_t t = 1; t < tl->n_tracks; t++) {
        for (size_t j = 0; j < tl->tracks[t].n_clips; j++) {
            const struct vodq_clip *c = &tl->tracks[t].clips[j];
            int64_t at = vodq_clip_start_frame(&tl->tracks[t], j, o);
            int64_t n = vodq_clip_frames(c, o);
            char vl[64], al[64];
            bool sound;
            int w, h;
            snprintf(vl, sizeof(vl), "p%zu_%zu", t, j);
            snprintf(al, sizeof(al), "pa%zu_%zu", t, j);
            if (add_clip(plan, cap, &g, c, 10000 * t + j, o, vl, al, &sound) < 0)
                goto oom;
            pip_size(c, o, &w, &h);
            snprintf(next, sizeof(next), "pv%zu_%zu", t, j);
            sb_printf(&g, "[%s]setpts=PTS+%lld[%ss];\n[%s][%ss]overlay=", vl, (long long)at, vl,
                      cur, vl);
            sb_position(&g, c->anchor, c->x, c->y, "W", "H", "w", "h", 0);
            sb_printf(&g, ":format=yuv420:eof_action=pass");
            sb_enable(&g, frames_s(o, at), frames_s(o, at + n));
            sb_printf(&g, "[%s];\n", next);
            snprintf(cur, sizeof(cur), "%s", next);
            if (sound) {
                sb_printf(&g, "[%s]adelay=delays=%lldS:all=1[%sd];\n", al,
                          (long long)frames_samples(o, at), al);
                sb_printf(&mix, "[%sd]", al);
                n_mix++;
            }
        }
    }

    /* Stickers and watermark, then captions, over the joined video. */
    for (size_t i = 0; i < tl->n_overlays; i++) {
        snprintf(next, sizeof(next), "o%zu", i);
        if (add_overlay(plan, cap, &g, &tl->overlays[i], i, cur, next, o) < 0)
            goto oom;
        snprintf(cur, sizeof(cur), "%s", next);
    }
    for (size_t i = 0; i < tl->n_captions; i++) {
        snprintf(next, sizeof(next), "t%zu", i);
        add_caption(&g, &tl->captions[i], cur, next, o);
        snprintf(cur, sizeof(cur), "%s", next);
    }
    for (size_t i = 0; i < tl->n_subtitles; i++) {
        /* libass draws in RGB here too, for the same BT.601 reason as
         * drawtext; a start moves the file's time 0. */
        const struct vodq_subtitle *su = &tl->subtitles[i];
        snprintf(next, sizeof(next), "sub%zu", i);
        sb_printf(&g, "[%s]scale=in_color_matrix=%s:in_range=%s,format=gbrp,", cur, out_matrix(o),
                  range_name(o->full_range));
        if (su->start_s > 0)
            sb_printf(&g, "setpts=PTS-%.6f/TB,", su->start_s);
        sb_printf(&g, "subtitles=filename=");
        sb_escaped(&g, su->src);
        if (su->start_s > 0)
            sb_printf(&g, ",setpts=PTS+%.6f/TB", su->start_s);
        sb_printf(&g, ",scale=out_color_matrix=%s:out_range=%s,format=yuv420p[%s];\n",
                  out_matrix(o), range_name(o->full_range), next);
        snprintf(cur, sizeof(cur), "%s", next);
    }
    sb_printf(&g,
              "[%s]trim=end_frame=%lld,format=yuv420p,setparams=range=%s:color_primaries=%s:"
              "color_trc=%s:colorspace=%s[%s];\n",
              cur, (long long)total_frames, o->full_range ? "pc" : "tv", out_tag(o), out_tag(o), out_tag(o),
              plan->vout_label);

    /* Audio: clips' sound, PIP clips' and music under it, loudness, exact
     * length. amix sums (normalize=0): every source keeps its level. */
    if (tl->music.src) {
        if (add_music(plan, cap, &g, &tl->music, "music", "music", plan->duration_s, o, err) < 0) {
            free(mix.s);
            goto fail;
        }
        sb_printf(&mix, "[music]");
        n_mix++;
    }
    for (size_t i = 0; i < tl->n_audio; i++) {
        char ap[32], al[32];
        if (tl->audio[i].start_s >= plan->duration_s)
            continue; /* starts after the end: cut entirely */
        snprintf(ap, sizeof(ap), "audio[%zu]", i);
        snprintf(al, sizeof(al), "au%zu", i);
        if (add_music(plan, cap, &g, &tl->audio[i], ap, al, plan->duration_s, o, err) < 0) {
            free(mix.s);
            goto fail;
        }
        sb_printf(&mix, "[%s]", al);
        n_mix++;
    }
    if (n_mix > 1) {
        sb_printf(&g, "%samix=inputs=%zu:duration=first:dropout_transition=0:normalize=0[mix];\n",
                  mix.s ? mix.s : "", n_mix);
        snprintf(acur, sizeof(acur), "mix");
    }
    if (mix.oom)
        g.oom = true;
    free(mix.s);
    sb_printf(&g, "[%s]anull", acur);
    sb_vol_ranges(&g, tl->vol, tl->n_vol);
    sb_printf(&g, ",");
    if (o->has_loudness)
        sb_printf(&g, "loudnorm=I=%.1f:TP=-1.5:LRA=11,", o->loudness_lufs);
    sb_printf(&g,
              "aresample=%d,aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s,apad,"
              "atrim=end_sample=%lld[%s]",
              o->sample_rate, o->sample_rate, layout_of(o),
              (long long)frames_samples(o, total_frames), plan->aout_label);
    if (g.oom)
        goto oom;
    plan->filter_complex = g.s;
    return VODQ_OK;
oom:
    vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
fail:
    free(g.s);
    vodq_plan_cleanup(plan);
    return err ? err->code : VODQ_ERR_OOM;
}

void vodq_plan_cleanup(struct vodq_plan *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; plan->inputs && i < plan->n_inputs; i++)
        free(plan->inputs[i].path);
    free(plan->inputs);
    free(plan->filter_complex);
    free(plan->out.cover_path);
    memset(plan, 0, sizeof(*plan));
}

/* ---- ffmpeg command line ---- */

struct argv {
    char **v;
    size_t n, cap;
    bool oom;
};

/* Appends a printf-formatted argument; on failure marks a->oom. */
__attribute__((format(printf, 2, 0))) static void vpush(struct argv *a, const char *fmt, va_list ap)
{
    char *s = NULL;

    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        char **v = realloc(a->v, cap * sizeof(*v));
        if (v == NULL) {
            a->oom = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    if (vasprintf(&s, fmt, ap) < 0 || s == NULL) {
        a->oom = true;
        return;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void arg(struct argv *a, const char *fmt, ...) VODQ_PRINTF(2, 3);

static void arg(struct argv *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vpush(a, fmt, ap);
    va_end(ap);
}

/* Appends an option and its printf-formatted value. */
static void opt(struct argv *a, const char *name, const char *fmt, ...) VODQ_PRINTF(3, 4);

static void opt(struct argv *a, const char *name, const char *fmt, ...)
{
    va_list ap;

    arg(a, "%s", name);
    va_start(ap, fmt);
    vpush(a, fmt, ap);
    va_end(ap);
}

char **vodq_plan_ffmpeg_args(const struct vodq_plan *plan, const char *encoder,
                             const char *out_path)
{
    struct argv a = {0};
    const struct vodq_plan_output *o = &plan->out;
    const char *enc = encoder && encoder[0] ? encoder : o->encoder;
    const char *tag = strcmp(o->color, "bt601") == 0 ? "smpte170m" : "bt709";

    if (strcmp(enc, "auto") == 0)
        enc = strcmp(o->vcodec, "hevc") == 0 ? "libx265" : "libx264";
    arg(&a, "ffmpeg");
    arg(&a, "-hide_banner");
    arg(&a, "-nostdin");
    arg(&a, "-y");
    for (size_t i = 0; i < plan->n_inputs; i++) {
        const struct vodq_plan_input *in = &plan->inputs[i];
        arg(&a, "-noautorotate"); /* the graph rotates explicitly */
        if (in->is_image) {
            opt(&a, "-loop", "1");
            opt(&a, "-framerate", "%d/%d", o->fps_num, o->fps_den);
        }
        if (in->loop)
            opt(&a, "-stream_loop", "-1");
        if (in->seek_s > 0)
            opt(&a, "-ss", "%.6f", in->seek_s);
        if (in->duration_s > 0)
            opt(&a, "-t", "%.6f", in->duration_s);
        opt(&a, "-i", "%s", in->path);
    }
    opt(&a, "-filter_complex", "%s", plan->filter_complex ? plan->filter_complex : "");
    opt(&a, "-map", "[%s]", plan->vout_label);
    opt(&a, "-map", "[%s]", plan->aout_label);
    opt(&a, "-fps_mode", "passthrough");
    opt(&a, "-c:v", "%s", enc);
    if (o->preset[0])
        opt(&a, "-preset", "%s", o->preset);
    if (o->video_bitrate > 0)
        opt(&a, "-b:v", "%lld", (long long)o->video_bitrate);
    else if (o->crf >= 0) {
        if (strstr(enc, "nvenc")) {
            opt(&a, "-rc", "vbr");
            opt(&a, "-cq", "%d", o->crf);
            opt(&a, "-b:v", "0");
        } else if (strstr(enc, "vaapi")) {
            opt(&a, "-qp", "%d", o->crf);
        } else {
            opt(&a, "-crf", "%d", o->crf);
        }
    }
    if (o->gop > 0)
        opt(&a, "-g", "%d", o->gop);
    opt(&a, "-pix_fmt", "yuv420p");
    opt(&a, "-color_primaries", "%s", tag);
    opt(&a, "-color_trc", "%s", tag);
    opt(&a, "-colorspace", "%s", tag);
    opt(&a, "-color_range", "%s", o->full_range ? "pc" : "tv");
    if (strcmp(o->vcodec, "hevc") == 0)
        opt(&a, "-tag:v", "hvc1");
    opt(&a, "-c:a", "%s", o->acodec[0] ? o->acodec : "aac");
    opt(&a, "-b:a", "%lld", (long long)o->audio_bitrate);
    opt(&a, "-ar", "%d", o->sample_rate);
    opt(&a, "-ac", "%d", o->channels);
    if (o->faststart)
        opt(&a, "-movflags", "+faststart");
    opt(&a, "-t", "%.6f", plan->duration_s);
    arg(&a, "%s", out_path);
    if (a.oom) {
        for (size_t i = 0; i < a.n; i++)
            free(a.v[i]);
        free(a.v);
        return NULL;
    }
    return a.v;
}
