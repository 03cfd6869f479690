/* test_compose_plan.c: the render plan builder.
 *
 * The real check: every plan's filter graph is parsed and configured with
 * libavfilter (buffer/abuffer sources on its open "I:v"/"I:a" inputs and
 * sinks on vout/aout, as the engine does), then run on synthetic frames that
 * follow the plan's input contract (seek, duration, one frame for images).
 * The output must have exactly the planned number of video frames, with
 * continuous timestamps, and exactly the planned number of audio samples.
 * Pixels are checked where a feature puts them (letterbox, trims). One test
 * also renders a plan with the ffmpeg command line from
 * vodq_plan_ffmpeg_args and reads the result back. */
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#include <math.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

/* ---- Synthetic media: what a probe would have found ---- */

struct fake_media {
    const char *name;
    int w, h, pix_fmt;
    int fps;         /* 0 = a still image */
    int sample_rate; /* 0 = no audio */
    double duration_s;
    int color_space; /* AVCOL_SPC_* tag */
    int rotation;
    double audio_start_s; /* the sound track starts this late */
    int color_trc;        /* AVCOL_TRC_* tag; 0 = untagged */
    int color_primaries;  /* AVCOL_PRI_* tag; 0 = untagged */
};

static const struct fake_media media[] = {
    {"a.mp4", 320, 240, AV_PIX_FMT_YUV420P, 25, 44100, 4.0, AVCOL_SPC_UNSPECIFIED, 0, 0, 0, 0},
    {"b.mp4", 640, 360, AV_PIX_FMT_YUV420P, 30, 0, 3.0, AVCOL_SPC_BT709, 0, 0, 0, 0},
    {"sd.mp4", 720, 576, AV_PIX_FMT_YUV420P, 25, 48000, 3.0, AVCOL_SPC_BT470BG, 0, 0, 0, 0},
    {"hd.mp4", 1280, 720, AV_PIX_FMT_YUV420P, 50, 48000, 2.0, AVCOL_SPC_UNSPECIFIED, 0, 0, 0, 0},
    {"phone.mp4", 320, 180, AV_PIX_FMT_YUV420P, 30, 48000, 2.0, AVCOL_SPC_BT709, 90, 0, 0, 0},
    {"photo.png", 200, 100, AV_PIX_FMT_RGB24, 0, 0, -1, AVCOL_SPC_UNSPECIFIED, 0, 0, 0, 0},
    {"photo.jpg", 200, 150, AV_PIX_FMT_YUVJ420P, 0, 0, -1, AVCOL_SPC_UNSPECIFIED, 0, 0, 0, 0},
    {"logo.png", 64, 32, AV_PIX_FMT_RGBA, 0, 0, -1, AVCOL_SPC_UNSPECIFIED, 0, 0, 0, 0},
    {"music.m4a", 0, 0, AV_PIX_FMT_NONE, 0, 44100, 3.0, AVCOL_SPC_UNSPECIFIED, 0, 0, 0, 0},
    {"late.mp4", 320, 240, AV_PIX_FMT_YUV420P, 25, 48000, 3.0, AVCOL_SPC_UNSPECIFIED, 0, 0.25, 0, 0},
    {"pq.mp4", 320, 240, AV_PIX_FMT_YUV420P10LE, 25, 0, 2.0, AVCOL_SPC_BT2020_NCL, 0, 0,
     AVCOL_TRC_SMPTE2084, AVCOL_PRI_BT2020},
    {"hlg.mp4", 320, 240, AV_PIX_FMT_YUV420P10LE, 25, 0, 2.0, AVCOL_SPC_UNSPECIFIED, 0, 0,
     AVCOL_TRC_ARIB_STD_B67, AVCOL_PRI_UNSPECIFIED},
};

static char tmpdir[256];

/* Feed like an engine that seeks to the keyframe before seek_s and passes
 * the frames and samples before it with negative timestamps. */
static bool sloppy_seek;
#define SLOPPY_FRAMES 5

static const struct fake_media *media_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof(media) / sizeof(media[0]); i++)
        if (strcmp(media[i].name, base) == 0)
            return &media[i];
    return NULL;
}

static void fake_info(const char *path, struct vodq_media_info *info)
{
    const struct fake_media *m = media_of(path);

    assert_non_null(m);
    memset(info, 0, sizeof(*info));
    info->probed = true;
    info->has_video = m->w > 0;
    info->has_audio = m->sample_rate > 0;
    info->duration_s = m->duration_s;
    info->width = m->w;
    info->height = m->h;
    info->sar_num = info->sar_den = 1;
    info->fps_num = m->fps;
    info->fps_den = m->fps ? 1 : 0;
    info->pix_fmt = m->pix_fmt;
    info->color_space = m->color_space;
    info->color_trc = m->color_trc;
    info->color_primaries = m->color_primaries;
    info->rotation = m->rotation;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vodq-plan-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(media) / sizeof(media[0]); i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", tmpdir, media[i].name);
        FILE *f = fopen(p, "wb");
        if (f == NULL)
            return -1;
        fputs("x", f);
        fclose(f);
    }
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Parses json (paths relative to tmpdir), fills the probe results from the
 * table above and builds the plan. */
static void build(const char *json, struct vodq_timeline *tl, struct vodq_plan *plan)
{
    struct vodq_err err = {0};

    if (vodq_timeline_parse(json, strlen(json), tmpdir, tl, &err) != VODQ_OK) {
        print_error("parse: %s\n", err.msg);
        fail();
    }
    for (size_t t = 0; t < tl->n_tracks; t++)
        for (size_t i = 0; i < tl->tracks[t].n_clips; i++)
            fake_info(tl->tracks[t].clips[i].src, &tl->tracks[t].clips[i].info);
    for (size_t i = 0; i < tl->n_overlays; i++)
        fake_info(tl->overlays[i].src, &tl->overlays[i].info);
    if (tl->music.src)
        fake_info(tl->music.src, &tl->music.info);
    tl->probed = true;
    if (vodq_plan_build(tl, plan, &err) != VODQ_OK) {
        print_error("plan: %s\n", err.msg);
        fail();
    }
    assert_non_null(plan->filter_complex);
}

/* ---- Running a plan in process, like the engine ---- */

struct run_result {
    int64_t vframes;     /* video frames out */
    int64_t samples;     /* audio samples out (per channel) */
    int64_t last_pts;    /* of the last video frame, in 1/fps */
    bool pts_continuous; /* video frame k had pts k */
    int w, h, fmt;       /* of the video frames */
    int channels, sample_rate;
    int64_t first_sound; /* index of the first audible output sample, -1 none */
    uint8_t first_y[4];  /* first frame: luma at (2,2), (w/2,h/2), (w-3,2), (w/2, h-3) */
    uint8_t mid_y[4];    /* the same for the frame at mid_frame */
    int64_t mid_frame;
    enum AVColorSpace colorspace; /* of the last frame */
    enum AVColorRange range;
};

/* Luma value of source frame j: distinct per frame, so that a trim shows
 * which source frame came first. */
static int frame_luma(int64_t j)
{
    return 16 + (int)(j % 50) * 4;
}

static void sample_y(const AVFrame *f, uint8_t out[4])
{
    int xs[4] = {2, f->width / 2, f->width - 3, f->width / 2};
    int ys[4] = {2, f->height / 2, 2, f->height - 3};
    for (int i = 0; i < 4; i++)
        out[i] = f->data[0][ys[i] * f->linesize[0] + xs[i]];
}

static void drain(AVFilterContext *vsink, AVFilterContext *asink, AVFrame *f, AVRational ftb,
                  struct run_result *r)
{
    int ret;

    while ((ret = av_buffersink_get_frame(vsink, f)) >= 0) {
        AVRational tb = av_buffersink_get_time_base(vsink);
        int64_t pts = av_rescale_q(f->pts, tb, ftb);
        if (pts != r->vframes)
            r->pts_continuous = false;
        if (r->vframes == 0) {
            r->w = f->width;
            r->h = f->height;
            r->fmt = f->format;
            sample_y(f, r->first_y);
        }
        if (r->vframes == r->mid_frame)
            sample_y(f, r->mid_y);
        r->colorspace = f->colorspace;
        r->range = f->color_range;
        r->last_pts = pts;
        r->vframes++;
        av_frame_unref(f);
    }
    assert_true(ret == AVERROR(EAGAIN) || ret == AVERROR_EOF);
    while ((ret = av_buffersink_get_frame(asink, f)) >= 0) {
        const float *s0 = (const float *)f->extended_data[0];
        for (int i = 0; r->first_sound < 0 && i < f->nb_samples; i++)
            if (fabsf(s0[i]) > 1e-3f)
                r->first_sound = r->samples + i;
        r->samples += f->nb_samples;
        r->channels = f->ch_layout.nb_channels;
        r->sample_rate = f->sample_rate;
        av_frame_unref(f);
    }
    assert_true(ret == AVERROR(EAGAIN) || ret == AVERROR_EOF);
}

/* Pushes input idx's frames, as the engine would after seeking: source
 * frame j (time j/fps) is sent when j/fps >= seek_s with its time relative
 * to the seek point (j/fps - seek_s, in 1/(1000 fps)), for
 * at most duration_s; images send one frame; loops repeat the source. */
static void feed_video(AVFilterContext *src, const struct vodq_plan_input *in,
                       const struct fake_media *m, AVFilterContext *vsink, AVFilterContext *asink,
                       AVRational ftb, struct run_result *r)
{
    AVFrame *f = av_frame_alloc();
    AVFrame *out = av_frame_alloc();
    int64_t first = (int64_t)ceil(in->seek_s * (m->fps ? m->fps : 1) - 1e-9), n;
    int64_t early = sloppy_seek && m->fps && first >= SLOPPY_FRAMES ? SLOPPY_FRAMES : 0;

    assert_non_null(f);
    if (m->fps == 0)
        n = 1;
    else {
        double avail = in->loop ? 1e9 : m->duration_s - in->seek_s;
        double d = in->duration_s > 0 ? fmin(in->duration_s, avail) : avail;
        n = (int64_t)ceil(d * m->fps - 1e-9);
    }
    for (int64_t j = -early; j < n; j++) {
        f->width = m->w;
        f->height = m->h;
        f->format = m->pix_fmt;
        assert_int_equal(av_frame_get_buffer(f, 0), 0);
        const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(m->pix_fmt);
        if (d->flags & AV_PIX_FMT_FLAG_RGB) {
            for (int y = 0; y < m->h; y++)
                memset(f->data[0] + y * f->linesize[0], 200, (size_t)f->linesize[0]);
        } else {
            int cw = AV_CEIL_RSHIFT(m->w, d->log2_chroma_w);
            int ch = AV_CEIL_RSHIFT(m->h, d->log2_chroma_h);
            for (int y = 0; y < m->h; y++)
                memset(f->data[0] + y * f->linesize[0], frame_luma(first + j), (size_t)m->w);
            for (int p = 1; p < 3; p++)
                for (int y = 0; y < ch; y++)
                    memset(f->data[p] + y * f->linesize[p], 128, (size_t)cw);
        }
        int fpsv = m->fps ? m->fps : (int)(ftb.den / ftb.num);
        f->pts = llround(((double)(first + j) / fpsv - in->seek_s) * fpsv * 1000);
        assert_int_equal(av_buffersrc_add_frame(src, f), 0);
        av_frame_unref(f);
        drain(vsink, asink, out, ftb, r);
    }
    assert_int_equal(av_buffersrc_add_frame(src, NULL), 0);
    drain(vsink, asink, out, ftb, r);
    av_frame_free(&f);
    av_frame_free(&out);
}

static void feed_audio(AVFilterContext *src, const struct vodq_plan_input *in,
                       const struct fake_media *m, AVFilterContext *vsink, AVFilterContext *asink,
                       AVRational ftb, struct run_result *r)
{
    AVFrame *f = av_frame_alloc();
    AVFrame *out = av_frame_alloc();
    double avail = in->loop ? 1e9 : m->duration_s - in->seek_s;
    double d = in->duration_s > 0 ? fmin(in->duration_s, avail) : avail;
    /* a late sound track starts at its own time after the seek point */
    double late = m->audio_start_s > in->seek_s ? m->audio_start_s - in->seek_s : 0;
    int64_t total = (int64_t)llround((d - late) * m->sample_rate), sent = 0;
    int64_t first = (int64_t)llround(late * m->sample_rate);
    if (sloppy_seek && in->seek_s >= 0.2 && late == 0) {
        first = -(int64_t)llround(0.2 * m->sample_rate); /* 0.2 s before the seek point */
        total -= first;
    }

    while (sent < total) {
        int n = total - sent > 1024 ? 1024 : (int)(total - sent);
        f->nb_samples = n;
        f->format = AV_SAMPLE_FMT_FLTP;
        f->sample_rate = m->sample_rate;
        av_channel_layout_default(&f->ch_layout, 2);
        assert_int_equal(av_frame_get_buffer(f, 0), 0);
        for (int c = 0; c < 2; c++) {
            float *s = (float *)f->data[c];
            for (int i = 0; i < n; i++)
                s[i] = 0.25f * sinf((float)(sent + i) * 0.0627f);
        }
        f->pts = first + sent;
        assert_int_equal(av_buffersrc_add_frame(src, f), 0);
        av_frame_unref(f);
        sent += n;
        drain(vsink, asink, out, ftb, r);
    }
    assert_int_equal(av_buffersrc_add_frame(src, NULL), 0);
    drain(vsink, asink, out, ftb, r);
    av_frame_free(&f);
    av_frame_free(&out);
}

/* Configures plan's graph and runs it; returns the graph (caller frees) so
 * that tests can inspect filter options. */
static AVFilterGraph *run_plan(const struct vodq_plan *plan, struct run_result *r)
{
    AVFilterGraph *graph = avfilter_graph_alloc();
    AVFilterInOut *ins = NULL, *outs = NULL;
    AVFilterContext *vsrc[64] = {0}, *asrc[64] = {0}, *vsink = NULL, *asink = NULL;
    AVRational ftb = {plan->out.fps_den, plan->out.fps_num};
    int ret;

    int64_t mid = r->mid_frame;
    memset(r, 0, sizeof(*r));
    r->mid_frame = mid > 0 ? mid : -1;
    r->first_sound = -1;
    r->pts_continuous = true;
    assert_non_null(graph);
    assert_true(plan->n_inputs <= 64);
    ret = avfilter_graph_parse2(graph, plan->filter_complex, &ins, &outs);
    if (ret < 0)
        print_error("graph: %s\n", plan->filter_complex);
    assert_int_equal(ret, 0);

    for (AVFilterInOut *io = ins; io; io = io->next) {
        char kind = 0, args[256], name[32];
        int idx = -1;
        assert_int_equal(sscanf(io->name, "%d:%c", &idx, &kind), 2);
        assert_true(idx >= 0 && (size_t)idx < plan->n_inputs);
        const struct vodq_plan_input *in = &plan->inputs[idx];
        const struct fake_media *m = media_of(in->path);
        assert_non_null(m);
        AVFilterContext *ctx;
        snprintf(name, sizeof(name), "in%d%c", idx, kind);
        if (kind == 'v') {
            assert_true(in->use_video);
            int fps = m->fps ? m->fps : plan->out.fps_num;
            snprintf(args, sizeof(args),
                     "video_size=%dx%d:pix_fmt=%d:time_base=1/%d:pixel_aspect=1/1:frame_rate=%d/1",
                     m->w, m->h, m->pix_fmt, fps * 1000, fps);
            ret = avfilter_graph_create_filter(&ctx, avfilter_get_by_name("buffer"), name, args,
                                               NULL, graph);
            vsrc[idx] = ctx;
        } else {
            assert_int_equal(kind, 'a');
            assert_true(in->use_audio);
            snprintf(args, sizeof(args),
                     "sample_rate=%d:sample_fmt=fltp:channel_layout=stereo:time_base=1/%d",
                     m->sample_rate, m->sample_rate);
            ret = avfilter_graph_create_filter(&ctx, avfilter_get_by_name("abuffer"), name, args,
                                               NULL, graph);
            asrc[idx] = ctx;
        }
        assert_int_equal(ret, 0);
        assert_int_equal(avfilter_link(ctx, 0, io->filter_ctx, (unsigned)io->pad_idx), 0);
    }
    /* Inputs the plan marks used must be referenced by the graph. */
    for (size_t i = 0; i < plan->n_inputs; i++) {
        assert_true(plan->inputs[i].use_video == (vsrc[i] != NULL));
        assert_true(plan->inputs[i].use_audio == (asrc[i] != NULL));
    }
    for (AVFilterInOut *io = outs; io; io = io->next) {
        AVFilterContext *ctx;
        if (strcmp(io->name, plan->vout_label) == 0) {
            ret = avfilter_graph_create_filter(&ctx, avfilter_get_by_name("buffersink"), "vout",
                                               NULL, NULL, graph);
            vsink = ctx;
        } else {
            assert_string_equal(io->name, plan->aout_label);
            ret = avfilter_graph_create_filter(&ctx, avfilter_get_by_name("abuffersink"), "aout",
                                               NULL, NULL, graph);
            asink = ctx;
        }
        assert_int_equal(ret, 0);
        assert_int_equal(avfilter_link(io->filter_ctx, (unsigned)io->pad_idx, ctx, 0), 0);
    }
    avfilter_inout_free(&ins);
    avfilter_inout_free(&outs);
    assert_non_null(vsink);
    assert_non_null(asink);
    ret = avfilter_graph_config(graph, NULL);
    if (ret < 0)
        print_error("graph: %s\n", plan->filter_complex);
    assert_int_equal(ret, 0);

    for (size_t i = 0; i < plan->n_inputs; i++) {
        const struct fake_media *m = media_of(plan->inputs[i].path);
        if (vsrc[i])
            feed_video(vsrc[i], &plan->inputs[i], m, vsink, asink, ftb, r);
        if (asrc[i])
            feed_audio(asrc[i], &plan->inputs[i], m, vsink, asink, ftb, r);
    }
    /* Sources inside the graph (anullsrc) are finite; pull until EOF. */
    AVFrame *f = av_frame_alloc();
    for (int guard = 0; guard < 100000; guard++) {
        int64_t v = r->vframes, s = r->samples;
        ret = avfilter_graph_request_oldest(graph);
        drain(vsink, asink, f, ftb, r);
        if (ret == AVERROR_EOF && v == r->vframes && s == r->samples)
            break;
    }
    av_frame_free(&f);
    return graph;
}

/* Runs the plan and checks the frame and sample counts it promised. */
static AVFilterGraph *run_exact(const struct vodq_plan *plan, struct run_result *r)
{
    AVFilterGraph *g = run_plan(plan, r);
    int64_t want_frames = llround(plan->duration_s * plan->out.fps_num / plan->out.fps_den);
    int64_t want_samples = llround((double)want_frames * plan->out.sample_rate * plan->out.fps_den /
                                   plan->out.fps_num);

    if (r->vframes != want_frames || r->samples != want_samples)
        print_error("frames %lld/%lld samples %lld/%lld\n%s\n", (long long)r->vframes,
                    (long long)want_frames, (long long)r->samples, (long long)want_samples,
                    plan->filter_complex);
    assert_int_equal(r->vframes, want_frames);
    assert_true(r->pts_continuous);
    assert_int_equal(r->last_pts, want_frames - 1);
    assert_int_equal(r->samples, want_samples);
    assert_int_equal(r->w, plan->out.width);
    assert_int_equal(r->h, plan->out.height);
    assert_int_equal(r->fmt, AV_PIX_FMT_YUV420P);
    assert_int_equal(r->sample_rate, plan->out.sample_rate);
    assert_int_equal(r->channels, plan->out.channels);
    return g;
}

static bool has(const struct vodq_plan *plan, const char *needle)
{
    bool ok = strstr(plan->filter_complex, needle) != NULL;
    if (!ok)
        print_error("\"%s\" not in graph:\n%s\n", needle, plan->filter_complex);
    return ok;
}

static void done(struct vodq_timeline *tl, struct vodq_plan *plan, AVFilterGraph *g)
{
    avfilter_graph_free(&g);
    vodq_plan_cleanup(plan);
    vodq_timeline_cleanup(tl);
}

#define OUT_SMALL        "\"output\":{\"width\":160,\"height\":90,\"fps\":25,\"sample_rate\":48000}"
#define TLO(clips, rest) "{\"version\":1,\"tracks\":[{\"clips\":[" clips "]}]," rest "}"

/* ---- Features ---- */

static void test_concat_trims(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {.mid_frame = 20};

    /* in=1.04 is source frame 26 of a.mp4 (25 fps); b.mp4 has no audio. */
    build(TLO("{\"src\":\"a.mp4\",\"in\":1.04,\"out\":2.04,\"fit\":\"stretch\"},"
              "{\"src\":\"b.mp4\",\"in\":0.5,\"out\":1.5}",
              OUT_SMALL),
          &tl, &plan);
    assert_float_equal(plan.duration_s, 2.0, 1e-9);
    assert_int_equal(plan.n_inputs, 2);
    assert_true(plan.inputs[0].use_video && plan.inputs[0].use_audio);
    assert_true(plan.inputs[1].use_video && !plan.inputs[1].use_audio);
    /* seek half a source frame early, cut by frame count in the graph */
    assert_float_equal(plan.inputs[0].seek_s, 1.04 - 0.02, 1e-9);
    assert_true(plan.inputs[0].duration_s >= 1.0);
    assert_true(has(&plan, "trim=end_frame=25[v0]"));
    assert_true(has(&plan, "concat=n=2:v=1:a=0"));
    assert_true(has(&plan, "concat=n=2:v=0:a=1"));
    assert_true(has(&plan, "anullsrc=r=48000:cl=stereo,atrim=end_sample=48000[a1]"));
    assert_string_equal(plan.vout_label, "vout");
    assert_string_equal(plan.aout_label, "aout");
    AVFilterGraph *g = run_exact(&plan, &r);
    /* first output frame is source frame 26, frame 20 is source frame 46 */
    assert_int_equal(r.first_y[1], frame_luma(26));
    assert_int_equal(r.mid_y[1], frame_luma(46));
    assert_int_equal(r.colorspace, AVCOL_SPC_BT709);
    assert_int_equal(r.range, AVCOL_RANGE_MPEG);
    int64_t sound = r.first_sound;
    avfilter_graph_free(&g);

    /* The same output when the engine passes what precedes the seek point. */
    sloppy_seek = true;
    g = run_exact(&plan, &r);
    sloppy_seek = false;
    assert_int_equal(r.first_y[1], frame_luma(26));
    assert_int_equal(r.mid_y[1], frame_luma(46));
    assert_true(llabs(r.first_sound - sound) <= 1);
    done(&tl, &plan, g);
}

static void test_fit_modes(void **state)
{
    (void)state;
    static const struct {
        const char *fit, *needle;
        bool letterbox;
    } cases[] = {
        {"contain", "pad=w=160:h=90:x=20:y=0:color=0x204060FF", true},
        {"cover", "crop=w=160:h=90", false},
        {"blur", "boxblur=", false},
        {"stretch", "scale=w=160:h=90", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vodq_timeline tl;
        struct vodq_plan plan;
        struct run_result r = {0};
        char json[512];
        /* a.mp4 is 4:3 in a 16:9 frame */
        snprintf(json, sizeof(json),
                 TLO("{\"src\":\"a.mp4\",\"out\":1,\"fit\":\"%s\",\"background\":\"#204060\"}",
                     OUT_SMALL),
                 cases[i].fit);
        build(json, &tl, &plan);
        assert_true(has(&plan, cases[i].needle));
        assert_true(has(&plan, "setsar=1"));
        AVFilterGraph *g = run_exact(&plan, &r);
        /* column 2 is background (Y of #204060 is about 66) for contain, picture otherwise */
        if (cases[i].letterbox) {
            assert_true(r.first_y[0] > 60 && r.first_y[0] < 72);
            assert_int_equal(r.first_y[1], frame_luma(0));
        } else {
            assert_int_equal(r.first_y[0], frame_luma(0));
            assert_int_equal(r.first_y[2], frame_luma(0));
        }
        done(&tl, &plan, g);
    }
}

/* A source already at the output size, format and range is not rescaled. */
static void test_no_needless_scale(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"b.mp4\",\"out\":0.5},{\"src\":\"b.mp4\",\"out\":0.5,\"fit\":\"cover\"}",
              "\"output\":{\"width\":640,\"height\":360,\"fps\":30}"),
          &tl, &plan);
    assert_true(has(&plan, "[0:v]fps=30/1:start_time=0,null,format=yuv420p,setsar=1"));
    assert_true(has(&plan, "[1:v]fps=30/1:start_time=0,null,format=yuv420p,crop="));
    assert_null(strstr(plan.filter_complex, "scale="));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

static void test_transition(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"a.mp4\",\"out\":2,\"transition\":{\"type\":\"dissolve\",\"duration\":"
              "0.4}},{\"src\":\"b.mp4\",\"out\":1,\"transition\":{\"type\":\"slideleft\","
              "\"duration\":0.2}},{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1}",
              OUT_SMALL),
          &tl, &plan);
    assert_float_equal(plan.duration_s, 2 + 1 + 1 - 0.4 - 0.2, 1e-9);
    /* only the overlapping frames go through xfade (it has no yuv420p in 5.1) */
    assert_true(has(&plan, "[v0]split=2[mm0][tt0]"));
    assert_true(has(&plan, "[tt0]trim=start_frame=40,setpts=PTS-STARTPTS[t0]"));
    assert_true(has(&plan, "[v1]split=3[hh1][mm1][tt1]"));
    assert_true(has(&plan, "[hh1]trim=end_frame=10[h1]"));
    assert_true(has(&plan, "[mm1]trim=start_frame=10:end_frame=20,setpts=PTS-STARTPTS[m1]"));
    assert_true(has(&plan, "[t0][h1]xfade=transition=dissolve:duration=0.400000:offset=0,"
                           "format=yuv420p[x0]"));
    assert_true(has(&plan, "[t1][h2]xfade=transition=slideleft:duration=0.200000:offset=0"));
    assert_true(has(&plan, "[m0][x0][m1][x1][m2]concat=n=5:v=1:a=0"));
    assert_true(has(&plan, "acrossfade=ns=19200"));
    assert_true(has(&plan, "acrossfade=ns=9600"));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

/* A clip wholly inside its two transitions has no middle segment. */
static void test_clip_inside_transitions(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"a.mp4\",\"out\":1,\"transition\":{\"type\":\"fade\",\"duration\":0.4}},"
              "{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1,\"transition\":{\"type\":"
              "\"wipeup\",\"duration\":0.6}},{\"src\":\"b.mp4\",\"out\":1}",
              OUT_SMALL),
          &tl, &plan);
    assert_float_equal(plan.duration_s, 2.0, 1e-9);
    assert_true(has(&plan, "[v1]split=2[hh1][tt1]"));
    assert_true(has(&plan, "[m0][x0][x1][m2]concat=n=4:v=1:a=0"));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

static void test_every_transition_type(void **state)
{
    (void)state;
    static const char *const types[] = {"fade",      "dissolve",  "wipeleft",   "wiperight",
                                        "wipeup",    "wipedown",  "slideleft",  "slideright",
                                        "slideup",   "slidedown", "circleopen", "circleclose",
                                        "fadeblack", "radial",    "pixelize",   "zoomin"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct vodq_timeline tl;
        struct vodq_plan plan;
        struct run_result r = {0};
        char json[512];
        snprintf(json, sizeof(json),
                 TLO("{\"src\":\"a.mp4\",\"out\":0.6,\"transition\":{\"type\":\"%s\",\"duration\":"
                     "0.2}},{\"src\":\"b.mp4\",\"out\":0.6}",
                     OUT_SMALL),
                 types[i]);
        build(json, &tl, &plan);
        AVFilterGraph *g = run_exact(&plan, &r);
        assert_int_equal(r.vframes, 25);
        done(&tl, &plan, g);
    }
}

static void test_speed(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {.mid_frame = 10};

    build(TLO("{\"src\":\"a.mp4\",\"out\":2,\"speed\":2,\"fit\":\"stretch\"},"
              "{\"src\":\"a.mp4\",\"in\":1,\"out\":1.5,\"speed\":0.25}",
              OUT_SMALL),
          &tl, &plan);
    /* 2 s at 2x = 1 s; 0.5 s at 0.25x = 2 s */
    assert_float_equal(plan.duration_s, 3.0, 1e-9);
    assert_true(has(&plan, "settb=expr=AVTB,setpts=PTS/2.000000,fps=25/1:start_time=0"));
    assert_true(has(&plan, "atempo=2"));
    assert_true(has(&plan, "atempo=0.5,atempo=0.5"));
    AVFilterGraph *g = run_exact(&plan, &r);
    /* at 2x, output frame 10 shows source frame 20 */
    assert_int_equal(r.mid_y[1], frame_luma(20));
    done(&tl, &plan, g);
}

static void test_images(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1.2,\"fit\":\"blur\"},"
              "{\"type\":\"image\",\"src\":\"photo.jpg\",\"duration\":0.8,\"fit\":\"cover\"}",
              OUT_SMALL),
          &tl, &plan);
    assert_float_equal(plan.duration_s, 2.0, 1e-9);
    assert_true(plan.inputs[0].is_image && plan.inputs[1].is_image);
    assert_true(plan.inputs[0].duration_s > 0 && plan.inputs[0].duration_s < 0.04);
    assert_false(plan.inputs[0].use_audio);
    assert_true(has(&plan, "loop=loop=-1:size=1"));
    /* RGB picture: converted with the output matrix; JPEG: full range BT.601 */
    assert_true(has(&plan, "out_color_matrix=bt709:out_range=tv"));
    assert_true(has(&plan, "in_range=pc:out_range=tv,format=yuv420p,colorspace=ispace=bt470bg:"
                           "space=bt709"));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

static void test_colour_conversion(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"sd.mp4\",\"out\":0.4},{\"src\":\"hd.mp4\",\"out\":0.4},"
              "{\"src\":\"phone.mp4\",\"out\":0.4}",
              OUT_SMALL),
          &tl, &plan);
    /* SD tagged BT.470BG: converted; untagged HD: BT.709 by size */
    assert_true(has(&plan, "[0:v]fps=25/1:start_time=0,scale=w=112:h=90:"
                           "in_range=tv:out_range=tv,format=yuv420p,colorspace=ispace=bt470bg:"
                           "space=bt709:iprimaries=bt709:primaries=bt709:itrc=bt709:trc=bt709"));
    assert_true(has(&plan, "[1:v]fps=25/1:start_time=0,scale=w=160:h=90:"
                           "in_range=tv:out_range=tv,format=yuv420p,setsar=1"));
    /* a phone video turned 90 degrees is rotated and contained upright */
    assert_true(has(&plan, "transpose=clock,scale=w=50:h=90"));
    assert_true(has(&plan, "setparams=range=tv:color_primaries=bt709:color_trc=bt709:"
                           "colorspace=bt709"));
    AVFilterGraph *g = run_exact(&plan, &r);
    assert_int_equal(r.colorspace, AVCOL_SPC_BT709);
    done(&tl, &plan, g);

    /* bt601 output, full range */
    build(TLO("{\"src\":\"hd.mp4\",\"out\":0.4}",
              "\"output\":{\"width\":160,\"height\":90,\"fps\":25,\"color\":\"bt601\","
              "\"color_range\":\"full\"}"),
          &tl, &plan);
    assert_true(has(&plan, "in_range=tv:out_range=pc,format=yuv420p,colorspace=ispace=bt709:"
                           "space=bt470bg:iprimaries=smpte170m:primaries=smpte170m"));
    assert_true(has(&plan, "setparams=range=pc:color_primaries=smpte170m"));
    g = run_exact(&plan, &r);
    assert_int_equal(r.colorspace, AVCOL_SPC_SMPTE170M);
    assert_int_equal(r.range, AVCOL_RANGE_JPEG);
    done(&tl, &plan, g);
}

/* HDR (PQ, HLG) sources are tone-mapped to SDR first, with their tags
 * given to zscale (untagged primaries and matrix: BT.2020); SDR sources are not. */
static void test_hdr_tone_map(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"pq.mp4\",\"out\":0.4},{\"src\":\"hlg.mp4\",\"out\":0.4},"
              "{\"src\":\"b.mp4\",\"out\":0.4}",
              OUT_SMALL),
          &tl, &plan);
    assert_true(has(&plan, "[0:v]fps=25/1:start_time=0,zscale=tin=smpte2084:pin=9:min=9:"
                           "rin=limited:t=linear:npl=100:p=9,format=gbrpf32le,zscale=p=bt709,"
                           "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=limited,"
                           "format=yuv420p,"));
    assert_true(has(&plan, "[1:v]fps=25/1:start_time=0,zscale=tin=arib-std-b67:pin=9:min=9:"));
    assert_false(has(&plan, "[2:v]fps=30/1:start_time=0,zscale"));
    /* after the tone map the picture is SDR BT.709: no colorspace pass */
    assert_false(has(&plan, "colorspace=ispace=bt2020ncl"));
    AVFilterGraph *g = run_exact(&plan, &r);
    assert_int_equal(r.colorspace, AVCOL_SPC_BT709);
    done(&tl, &plan, g);

    /* bt601 output: the tone map writes its matrix and range directly */
    build(TLO("{\"src\":\"pq.mp4\",\"out\":0.4}",
              "\"output\":{\"width\":160,\"height\":90,\"fps\":25,\"color\":\"bt601\","
              "\"color_range\":\"full\"}"),
          &tl, &plan);
    assert_true(has(&plan, "zscale=t=bt709:m=smpte170m:r=full,format=yuv420p,"));
    assert_false(has(&plan, "colorspace=ispace"));
    g = run_exact(&plan, &r);
    assert_int_equal(r.range, AVCOL_RANGE_JPEG);
    done(&tl, &plan, g);
}

static void test_audio_options(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"a.mp4\",\"out\":1,\"volume\":0.5},{\"src\":\"a.mp4\",\"out\":1,"
              "\"mute\":true},{\"src\":\"sd.mp4\",\"out\":1,\"volume\":0}",
              "\"output\":{\"width\":160,\"height\":90,\"fps\":25,\"sample_rate\":44100,"
              "\"channels\":1}"),
          &tl, &plan);
    assert_true(plan.inputs[0].use_audio);
    assert_false(plan.inputs[1].use_audio); /* muted: silence instead */
    assert_false(plan.inputs[2].use_audio); /* volume 0 too */
    assert_true(has(&plan, "volume=0.5000"));
    assert_true(has(&plan, "anullsrc=r=44100:cl=mono"));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

/* A sound track that starts after the pictures keeps its delay. */
static void test_late_audio_keeps_sync(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"late.mp4\",\"out\":2},{\"src\":\"a.mp4\",\"out\":1}", OUT_SMALL), &tl,
          &plan);
    AVFilterGraph *g = run_exact(&plan, &r);
    assert_true(llabs(r.first_sound - 12000) <= 2); /* 0.25 s at 48 kHz */
    done(&tl, &plan, g);

    build(TLO("{\"src\":\"a.mp4\",\"out\":1}", OUT_SMALL), &tl, &plan);
    g = run_exact(&plan, &r);
    assert_true(r.first_sound >= 0 && r.first_sound < 4);
    done(&tl, &plan, g);
}

static void test_caption_text_survives(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "你好 world",
        "a:b\\c'd [e] f,g;h %{pts} 100%",
        " lead and trail ",
        "第一行\n第二行",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct vodq_timeline tl;
        struct vodq_plan plan;
        struct run_result r = {0};
        char json[1024];
        char esc[256];
        size_t n = 0;
        /* JSON-escape the text */
        for (const char *p = texts[i]; *p && n + 3 < sizeof(esc); p++) {
            if (*p == '\\' || *p == '"')
                esc[n++] = '\\';
            if (*p == '\n') {
                esc[n++] = '\\';
                esc[n++] = 'n';
                continue;
            }
            esc[n++] = *p;
        }
        esc[n] = '\0';
        snprintf(json, sizeof(json),
                 TLO("{\"src\":\"a.mp4\",\"out\":1}",
                     "\"captions\":[{\"text\":\"%s\",\"size\":16,\"outline\":1,\"shadow\":{},"
                     "\"box\":{\"padding\":4},\"start\":0.2,\"end\":0.8}]," OUT_SMALL),
                 esc);
        build(json, &tl, &plan);
        assert_true(has(&plan, "drawtext=fontfile="));
        assert_true(has(&plan, ":enable='between(t,0.200000,0.800000)'"));
        AVFilterGraph *g = run_exact(&plan, &r);
        /* the drawtext filter holds exactly the text of the timeline */
        bool found = false;
        for (unsigned f = 0; f < g->nb_filters; f++) {
            AVFilterContext *ctx = g->filters[f];
            if (strcmp(ctx->filter->name, "drawtext") != 0)
                continue;
            uint8_t *val = NULL, *font = NULL;
            assert_int_equal(av_opt_get(ctx, "text", AV_OPT_SEARCH_CHILDREN, &val), 0);
            assert_int_equal(av_opt_get(ctx, "fontfile", AV_OPT_SEARCH_CHILDREN, &font), 0);
            assert_string_equal((char *)val, texts[i]);
            assert_string_equal((char *)font, tl.captions[0].font);
            av_free(val);
            av_free(font);
            found = true;
        }
        assert_true(found);
        done(&tl, &plan, g);
    }
}

static void test_overlays(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"a.mp4\",\"out\":2,\"fit\":\"stretch\"}",
              "\"overlays\":[{\"src\":\"logo.png\",\"anchor\":\"top-right\",\"x\":0,\"y\":0,"
              "\"scale\":0.25,\"opacity\":0.5},{\"src\":\"logo.png\",\"anchor\":\"bottom-left\","
              "\"width\":20,\"start\":0.5,\"duration\":1},{\"src\":\"logo.png\",\"anchor\":"
              "\"center\",\"x\":-5,\"y\":7,\"width\":10},{\"src\":\"logo.png\",\"anchor\":"
              "\"bottom-right\",\"x\":-3,\"y\":2,\"width\":10}]," OUT_SMALL),
          &tl, &plan);
    assert_int_equal(plan.n_inputs, 5);
    assert_true(plan.inputs[1].is_image && plan.inputs[2].is_image);
    assert_true(has(&plan, "colorchannelmixer=aa=0.5000"));
    assert_true(has(&plan, "scale=w=40:h=-2"));
    assert_true(has(&plan, "overlay=x=W-w:y=0"));
    assert_true(has(&plan, "overlay=x=0:y=H-h"));
    assert_true(has(&plan, "enable='between(t,0.500000,1.500000)'"));
    assert_true(has(&plan, "overlay=x=(W-w)/2-5:y=(H-h)/2+7"));
    assert_true(has(&plan, "overlay=x=W-w+3:y=H-h-2"));
    AVFilterGraph *g = run_exact(&plan, &r);
    /* top-right corner carries the sticker (lighter than the frame), top-left does not */
    assert_int_equal(r.first_y[0], frame_luma(0));
    assert_true(r.first_y[2] != frame_luma(0));
    done(&tl, &plan, g);
}

/* Overlay tracks: picture in picture, placed in time, sound mixed in. */
static void test_overlay_tracks(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {.mid_frame = 15};

    build("{\"version\":1,\"tracks\":[{\"clips\":[{\"src\":\"a.mp4\",\"out\":2,\"fit\":"
          "\"stretch\"}]},{\"clips\":[{\"src\":\"b.mp4\",\"out\":0.5,\"start\":0.6,"
          "\"scale\":0.25,\"anchor\":\"top-right\"},{\"src\":\"sd.mp4\",\"out\":0.4,"
          "\"opacity\":0.5,\"anchor\":\"bottom-left\",\"x\":4,\"y\":4}]},{\"clips\":[{"
          "\"type\":\"image\",\"src\":\"photo.png\",\"duration\":3,\"width\":40,"
          "\"anchor\":\"center\"}]}]," OUT_SMALL "}",
          &tl, &plan);
    assert_float_equal(plan.duration_s, 2.0, 1e-9); /* the main track decides */
    assert_int_equal(plan.n_inputs, 4);
    assert_false(plan.inputs[1].use_audio); /* b.mp4 has no sound: nothing to mix */
    assert_true(plan.inputs[2].use_audio);
    assert_true(has(&plan, "scale=w=40:h=22"));
    assert_true(has(&plan, "[p1_0]setpts=PTS+15[p1_0s]"));
    assert_true(has(&plan, "[p1_1]setpts=PTS+28[p1_1s]")); /* after the first: 15 + 13 */
    assert_true(has(&plan, "overlay=x=W-w:y=0:format=yuv420:eof_action=pass:"
                           "enable='between(t,0.600000,1.120000)'"));
    assert_true(has(&plan, "format=yuva420p,lut=a=val*0.5000"));
    assert_true(has(&plan, "[pa1_1]adelay=delays=53760S:all=1[pa1_1d]"));
    assert_true(has(&plan, "[ajoin][pa1_1d]amix=inputs=2:duration=first"));
    AVFilterGraph *g = run_exact(&plan, &r);
    /* before 0.6 s the top-right corner is the main picture; at frame 15 the
     * PIP (b.mp4 frame 0) is there, the top-left is still main */
    assert_int_equal(r.first_y[2], frame_luma(0));
    assert_int_equal(r.mid_y[0], frame_luma(15));
    assert_int_equal(r.mid_y[2], frame_luma(0));
    done(&tl, &plan, g);
}

static void test_music(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    /* a trimmed segment looped: repeated inputs, no buffering */
    build(TLO("{\"src\":\"a.mp4\",\"out\":3},{\"src\":\"b.mp4\",\"out\":2}",
              "\"music\":{\"src\":\"music.m4a\",\"in\":0.5,\"out\":1.5,\"loop\":true,\"start\":"
              "0.4,\"volume\":0.5,\"fade_in\":1,\"fade_out\":0.5}," OUT_SMALL),
          &tl, &plan);
    assert_int_equal(plan.n_inputs, 2 + 5); /* (5 - 0.4) s / 1 s -> 5 repeats */
    for (size_t i = 2; i < plan.n_inputs; i++) {
        assert_true(plan.inputs[i].use_audio && !plan.inputs[i].use_video);
        assert_float_equal(plan.inputs[i].seek_s, 0.5, 1e-9);
        assert_float_equal(plan.inputs[i].duration_s, 1.0, 1e-9);
    }
    assert_true(has(&plan, "concat=n=5:v=0:a=1"));
    assert_true(has(&plan, "afade=t=in:st=0:d=1.000000"));
    assert_true(has(&plan, "afade=t=out:st=4.100000:d=0.500000"));
    assert_true(has(&plan, "adelay=delays=19200S:all=1"));
    assert_true(has(&plan, "amix=inputs=2:duration=first"));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);

    /* the whole file looped: one input read in a loop; loudness normalised */
    build(TLO("{\"src\":\"a.mp4\",\"out\":4},{\"src\":\"b.mp4\",\"out\":3}",
              "\"music\":{\"src\":\"music.m4a\",\"loop\":true},"
              "\"output\":{\"width\":160,\"height\":90,\"fps\":25,\"loudness_lufs\":-16}"),
          &tl, &plan);
    assert_int_equal(plan.n_inputs, 3);
    assert_true(plan.inputs[2].loop);
    assert_true(plan.inputs[2].duration_s >= 7.0);
    assert_true(has(&plan, "loudnorm=I=-16.0"));
    g = run_exact(&plan, &r);
    done(&tl, &plan, g);

    /* a short song, not looped, ends early; the mix keeps the clips' length */
    build(TLO("{\"src\":\"a.mp4\",\"out\":4}", "\"music\":{\"src\":\"music.m4a\"}," OUT_SMALL), &tl,
          &plan);
    assert_false(plan.inputs[1].loop);
    g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

static void test_ntsc_rate(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"a.mp4\",\"out\":1.5,\"transition\":{\"type\":\"fade\",\"duration\":"
              "0.3}},{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1},{\"src\":\"b.mp4\","
              "\"out\":1}",
              "\"output\":{\"width\":160,\"height\":90,\"fps\":\"30000/1001\"}"),
          &tl, &plan);
    /* 45 + 30 + 30 - 9 frames */
    assert_float_equal(plan.duration_s, 96.0 * 1001 / 30000, 1e-9);
    assert_true(has(&plan, "fps=30000/1001"));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

static void test_everything_at_once(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct run_result r = {0};

    build(TLO("{\"src\":\"a.mp4\",\"in\":0.5,\"out\":2,\"fit\":\"contain\",\"brightness\":0.1,"
              "\"contrast\":1.2,\"saturation\":0.5,\"transition\":{\"type\":\"fade\",\"duration\":"
              "0.5}},{\"src\":\"sd.mp4\",\"out\":2,\"speed\":1.5,\"fit\":\"blur\"},"
              "{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1,\"fit\":\"cover\","
              "\"transition\":{\"type\":\"circleclose\",\"duration\":0.4}},"
              "{\"src\":\"phone.mp4\",\"out\":1,\"fit\":\"contain\"}",
              "\"overlays\":[{\"src\":\"logo.png\",\"scale\":0.2,\"opacity\":0.8}],"
              "\"captions\":[{\"text\":\"字幕 caption\",\"size\":14,\"start\":0.5,\"end\":2},"
              "{\"text\":\"watermark\",\"size\":10,\"anchor\":\"center\"}],"
              "\"music\":{\"src\":\"music.m4a\",\"loop\":true,\"volume\":0.3,\"fade_out\":1},"
              "\"output\":{\"width\":192,\"height\":108,\"fps\":30,\"loudness_lufs\":-14}"),
          &tl, &plan);
    assert_true(has(&plan, "eq=brightness=0.1000:contrast=1.2000:saturation=0.5000"));
    AVFilterGraph *g = run_exact(&plan, &r);
    done(&tl, &plan, g);
}

/* ---- Plan contract checks ---- */

static void test_plan_errors_and_cleanup(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_err err = {0};
    const char *json = TLO("{\"src\":\"a.mp4\",\"out\":1}", OUT_SMALL);

    assert_int_equal(vodq_timeline_parse(json, strlen(json), tmpdir, &tl, &err), VODQ_OK);
    assert_int_equal(vodq_plan_build(&tl, &plan, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "vodq_timeline_probe"));
    assert_null(plan.filter_complex);
    vodq_plan_cleanup(&plan); /* safe on a zeroed plan, twice */
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);

    /* a tiny looped segment would need too many inputs */
    json = TLO("{\"src\":\"a.mp4\",\"out\":4},{\"src\":\"a.mp4\",\"out\":4},"
               "{\"src\":\"a.mp4\",\"out\":4}",
               "\"music\":{\"src\":\"music.m4a\",\"in\":0,\"out\":0.1,\"loop\":true}");
    assert_int_equal(vodq_timeline_parse(json, strlen(json), tmpdir, &tl, &err), VODQ_OK);
    fake_info(tl.tracks[0].clips[0].src, &tl.tracks[0].clips[0].info);
    fake_info(tl.tracks[0].clips[1].src, &tl.tracks[0].clips[1].info);
    fake_info(tl.tracks[0].clips[2].src, &tl.tracks[0].clips[2].info);
    fake_info(tl.music.src, &tl.music.info);
    tl.probed = true;
    assert_int_equal(vodq_plan_build(&tl, &plan, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "music.out"));
    assert_null(plan.inputs);
    vodq_timeline_cleanup(&tl);
}

static size_t argv_find(char **a, const char *s)
{
    for (size_t i = 0; a[i]; i++)
        if (strcmp(a[i], s) == 0)
            return i;
    return (size_t)-1;
}

static void free_argv(char **a)
{
    for (size_t i = 0; a[i]; i++)
        free(a[i]);
    free(a);
}

static void test_ffmpeg_args(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_plan plan;
    char **a;
    size_t i;

    build(TLO("{\"src\":\"a.mp4\",\"in\":1,\"out\":2},{\"type\":\"image\",\"src\":\"photo.png\","
              "\"duration\":1}",
              "\"music\":{\"src\":\"music.m4a\",\"loop\":true},"
              "\"output\":{\"width\":320,\"height\":180,\"fps\":25,\"crf\":20,\"gop\":50,"
              "\"preset\":\"veryfast\",\"audio_bitrate\":96000,\"cover\":{\"at\":0.5,"
              "\"path\":\"c.jpg\"}}"),
          &tl, &plan);
    assert_int_equal(plan.out.width, 320);
    assert_int_equal(plan.out.gop, 50);
    assert_int_equal(plan.out.crf, 20);
    assert_float_equal(plan.out.cover_at_s, 0.5, 1e-9);
    assert_non_null(strstr(plan.out.cover_path, "c.jpg"));
    a = vodq_plan_ffmpeg_args(&plan, NULL, "/tmp/out.mp4");
    assert_non_null(a);
    assert_string_equal(a[0], "ffmpeg");
    assert_true(argv_find(a, "-y") != (size_t)-1);
    i = argv_find(a, "-ss");
    assert_true(i != (size_t)-1);
    assert_string_equal(a[i + 1], "0.980000");
    assert_true(argv_find(a, "-loop") != (size_t)-1);
    assert_true(argv_find(a, "-stream_loop") != (size_t)-1);
    i = argv_find(a, "-filter_complex");
    assert_string_equal(a[i + 1], plan.filter_complex);
    i = argv_find(a, "-map");
    assert_string_equal(a[i + 1], "[vout]");
    assert_string_equal(a[i + 3], "[aout]");
    assert_string_equal(a[argv_find(a, "-c:v") + 1], "libx264");
    assert_string_equal(a[argv_find(a, "-preset") + 1], "veryfast");
    assert_string_equal(a[argv_find(a, "-crf") + 1], "20");
    assert_string_equal(a[argv_find(a, "-g") + 1], "50");
    assert_string_equal(a[argv_find(a, "-pix_fmt") + 1], "yuv420p");
    assert_string_equal(a[argv_find(a, "-color_primaries") + 1], "bt709");
    assert_string_equal(a[argv_find(a, "-colorspace") + 1], "bt709");
    assert_string_equal(a[argv_find(a, "-color_range") + 1], "tv");
    assert_string_equal(a[argv_find(a, "-b:a") + 1], "96000");
    assert_string_equal(a[argv_find(a, "-ar") + 1], "48000");
    assert_string_equal(a[argv_find(a, "-movflags") + 1], "+faststart");
    i = argv_find(a, "/tmp/out.mp4");
    assert_true(i != (size_t)-1 && a[i + 1] == NULL);
    assert_string_equal(a[i - 1], "2.000000"); /* -t duration */
    free_argv(a);

    /* an encoder name given by the caller, and a bitrate */
    plan.out.video_bitrate = 2000000;
    a = vodq_plan_ffmpeg_args(&plan, "h264_nvenc", "/tmp/o.mp4");
    assert_string_equal(a[argv_find(a, "-c:v") + 1], "h264_nvenc");
    assert_string_equal(a[argv_find(a, "-b:v") + 1], "2000000");
    assert_true(argv_find(a, "-crf") == (size_t)-1);
    free_argv(a);
    done(&tl, &plan, NULL);

    /* hevc: libx265 with the hvc1 tag; bt601 tags */
    build(TLO("{\"src\":\"a.mp4\",\"out\":1}",
              "\"output\":{\"video_codec\":\"hevc\",\"color\":\"bt601\",\"faststart\":false}"),
          &tl, &plan);
    a = vodq_plan_ffmpeg_args(&plan, "auto", "/tmp/o.mp4");
    assert_string_equal(a[argv_find(a, "-c:v") + 1], "libx265");
    assert_string_equal(a[argv_find(a, "-tag:v") + 1], "hvc1");
    assert_string_equal(a[argv_find(a, "-color_trc") + 1], "smpte170m");
    assert_true(argv_find(a, "-movflags") == (size_t)-1);
    free_argv(a);
    done(&tl, &plan, NULL);
}

/* The ffmpeg command line renders a real plan, and the result has the
 * planned frame count and duration. */
static void test_ffmpeg_cli_renders_plan(void **state)
{
    (void)state;
    char dir[300], cmd[4096], out[400], tlpath[400];
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_err err = {0};
    AVFormatContext *fmt = NULL;
    pid_t pid;
    int status;

    if (system("ffmpeg -hide_banner -version >/dev/null 2>&1") != 0)
        skip();
    snprintf(dir, sizeof(dir), "%s/cli", tmpdir);
    snprintf(
        cmd, sizeof(cmd),
        "mkdir -p '%s' && cd '%s' && "
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=160x120:r=25:d=2 "
        "-f lavfi -i sine=f=440:r=44100:d=2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p "
        "-c:a aac -shortest a.mp4 && "
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=blue:s=80x60 -frames:v 1 "
        "p.png && "
        "printf '%%s' '{\"version\":1,\"tracks\":[{\"clips\":[{\"src\":\"a.mp4\",\"in\":0.4,"
        "\"out\":1.6,\"transition\":{\"type\":\"fade\",\"duration\":0.4}},{\"type\":\"image\","
        "\"src\":\"p.png\",\"duration\":1,\"fit\":\"blur\"}]}],\"captions\":[{\"text\":\"你好\","
        "\"size\":20}],\"overlays\":[{\"src\":\"p.png\",\"width\":20}],\"output\":{\"width\":"
        "192,\"height\":108,\"fps\":25,\"preset\":\"ultrafast\"}}' > t.json",
        dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(tlpath, sizeof(tlpath), "%s/t.json", dir);
    assert_int_equal(vodq_timeline_load_file(tlpath, &tl, &err), VODQ_OK);
    assert_int_equal(vodq_timeline_probe(&tl, &err), VODQ_OK);
    assert_int_equal(vodq_plan_build(&tl, &plan, &err), VODQ_OK);
    assert_float_equal(plan.duration_s, 1.8, 1e-9);
    snprintf(out, sizeof(out), "%s/out.mp4", dir);
    char **a = vodq_plan_ffmpeg_args(&plan, NULL, out);
    assert_non_null(a);
    /* quiet: append -loglevel error before the output name */
    size_t n = 0;
    while (a[n])
        n++;
    char **b = calloc(n + 3, sizeof(*b));
    assert_non_null(b);
    memcpy(b, a, (n - 1) * sizeof(*b));
    b[n - 1] = "-loglevel";
    b[n] = "error";
    b[n + 1] = a[n - 1];
    assert_int_equal(posix_spawnp(&pid, "ffmpeg", NULL, NULL, b, environ), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(b);
    free_argv(a);

    assert_int_equal(avformat_open_input(&fmt, out, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(fmt, NULL) >= 0);
    int vi = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int ai = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    assert_true(vi >= 0 && ai >= 0);
    AVStream *vs = fmt->streams[vi], *as = fmt->streams[ai];
    assert_int_equal(vs->codecpar->width, 192);
    assert_int_equal(vs->codecpar->color_primaries, AVCOL_PRI_BT709);
    assert_int_equal(vs->codecpar->color_space, AVCOL_SPC_BT709);
    assert_int_equal(vs->nb_frames, 45);
    double vd = vs->duration * av_q2d(vs->time_base), ad = as->duration * av_q2d(as->time_base);
    assert_float_equal(vd, 1.8, 0.04);
    assert_float_equal(ad, vd, 0.04); /* A/V end within one frame */
    avformat_close_input(&fmt);
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat_trims),
        cmocka_unit_test(test_fit_modes),
        cmocka_unit_test(test_no_needless_scale),
        cmocka_unit_test(test_transition),
        cmocka_unit_test(test_clip_inside_transitions),
        cmocka_unit_test(test_every_transition_type),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_colour_conversion),
        cmocka_unit_test(test_hdr_tone_map),
        cmocka_unit_test(test_audio_options),
        cmocka_unit_test(test_late_audio_keeps_sync),
        cmocka_unit_test(test_caption_text_survives),
        cmocka_unit_test(test_overlays),
        cmocka_unit_test(test_overlay_tracks),
        cmocka_unit_test(test_music),
        cmocka_unit_test(test_ntsc_rate),
        cmocka_unit_test(test_everything_at_once),
        cmocka_unit_test(test_plan_errors_and_cleanup),
        cmocka_unit_test(test_ffmpeg_args),
        cmocka_unit_test(test_ffmpeg_cli_renders_plan),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
