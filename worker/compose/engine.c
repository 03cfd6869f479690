/* engine.c: the in-process render engine (engine.h).
 *
 * Threads: one per input demuxes and decodes (video and audio of that file)
 * into two bounded frame queues; the calling thread runs the filter graph,
 * feeding the source that the graph asks for (failed requests), encodes and
 * muxes. A producer blocks when its queue is full, unless the other queue
 * of the same file is empty and still expected (the consumer may be waiting
 * on it): then the queue grows, up to ENG_QMAX_BYTES of decoded frames, so
 * a badly interleaved file (seconds of sound before its second picture) can
 * neither deadlock the input thread against the graph nor use unbounded
 * memory. A watchdog fails a render that takes no frame from any input for
 * the stall timeout, naming the input and the stream it waited on. */
#include "worker/compose/engine.h"

#include "worker/compose/hw.h"
#include "worker/compose/input.h"
#include "worker/compose/timeline.h"

#include "shared/clock.h"
#include "shared/metrics.h"

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/hwcontext.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
#include <libswscale/swscale.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENG_QCAP 8           /* frames per queue before the producer waits */
#define ENG_QMAX_BYTES (256LL << 20) /* decoded bytes a starved-for queue may grow to */
#define ENG_STALL_S 60.0     /* default watchdog: seconds without progress */
#define ENG_POLL_MS 100      /* control is polled at least this often */
#define ENG_PROGRESS_MS 200  /* progress callback interval */

struct eng_queue {
    AVFrame **f;       /* ring of cap frames; grows while the other stream starves */
    int cap, head, n;
    int64_t bytes;     /* decoded bytes queued */
    bool used; /* the graph reads this stream */
    bool eof;  /* the producer is done with it */
};

struct eng_input {
    const struct vodq_plan_input *pin;
    double out_fps;
    AVRational out_rate; /* the output frame rate (images come at it) */
    AVFormatContext *fmt;
    int vidx, aidx;
    AVCodecContext *vdec, *adec;
    AVBufferRef *hwdev;
    bool hw;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool abort;
    int err;           /* AVERROR of a failure in the thread */
    char errmsg[256];  /* what failed */
    struct eng_queue vq, aq;
    /* producer side */
    double start_s, offset_s, pass_end_s, a_next_s;
    bool vdone, adone;
    int64_t vframes; /* pictures queued (under mu) */
    /* consumer side */
    AVFilterContext *vsrc, *asrc;
    bool vsrc_eof, asrc_eof;
    int64_t vend; /* end (pts + duration, in vtb) of the last picture given to vsrc; 0 none */
    AVRational vtb;
    AVPacket *sub; /* one AMR frame of a multi-frame packet */
};

struct eng {
    const struct vodq_plan *plan;
    const struct vodq_engine_opts *o;
    struct eng_input *in;
    size_t n_in;
    AVFilterGraph *graph;
    AVFilterContext *vsink, *asink;
    AVCodecContext *venc, *aenc;
    AVBufferRef *vaapi_dev, *vaapi_frames;
    AVFormatContext *mux;
    AVStream *vst, *ast;
    AVPacket *pkt;
    AVFrame *frame, *cover;
    char tmp[4096];
    bool tmp_made;
    char encoder[32];
    int64_t max_frames, max_samples, cover_frame;
    int64_t frames, samples, done_ms;
    int64_t published; /* growing: bytes reported to o->written */
    bool vend, aend;
    double t0, last_progress;
    double stall_s;   /* watchdog timeout, seconds */
    double last_act;  /* when a frame last came from an input or the graph */
};

static double eng_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum vodq_rc eng_av(struct vodq_err *err, int ret, const char *what, const char *name)
{
    return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s %s: %s", what, name, av_err2str(ret));
}

/* ---- Frame queues ---- */

static void q_free(struct eng_queue *q)
{
    while (q->n > 0) {
        av_frame_free(&q->f[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    free(q->f);
    q->f = NULL;
    q->cap = q->head = 0;
    q->bytes = 0;
}

static int64_t frame_bytes(const AVFrame *f)
{
    int64_t n = 0;
    for (int i = 0; i < AV_NUM_DATA_POINTERS && f->buf[i]; i++)
        n += (int64_t)f->buf[i]->size;
    return n;
}

/* Doubles q's ring (under the input's lock). Returns false when out of memory. */
static bool q_grow(struct eng_queue *q)
{
    int cap = q->cap ? q->cap * 2 : ENG_QCAP;
    AVFrame **f = calloc((size_t)cap, sizeof(*f));
    if (f == NULL)
        return false;
    for (int i = 0; i < q->n; i++)
        f[i] = q->f[(q->head + i) % q->cap];
    free(q->f);
    q->f = f;
    q->cap = cap;
    q->head = 0;
    return true;
}

static void in_fail(struct eng_input *in, int ret, const char *what);

/* Producer: queues f (taking it). Returns false when aborted or failed. */
static bool q_push(struct eng_input *in, struct eng_queue *q, struct eng_queue *other, AVFrame *f)
{
    int64_t fb = frame_bytes(f);
    bool too_far = false, oom = false;

    pthread_mutex_lock(&in->mu);
    for (;;) {
        if (in->abort)
            break;
        /* The consumer may be waiting on the other stream, which the
         * producer cannot reach without queueing this one first. */
        bool other_starved = other->used && !other->eof && other->n == 0;
        if (q->n < ENG_QCAP)
            break;
        if (other_starved) {
            too_far = q->bytes + fb > ENG_QMAX_BYTES;
            break;
        }
        pthread_cond_wait(&in->cv, &in->mu);
    }
    if (!in->abort && !too_far && q->n == q->cap)
        oom = !q_grow(q);
    if (in->abort || too_far || oom) {
        pthread_mutex_unlock(&in->mu);
        av_frame_free(&f);
        if (too_far)
            in_fail(in, AVERROR(ENOMEM), q == &in->aq ? "sound" : "picture");
        else if (oom)
            in_fail(in, AVERROR(ENOMEM), "decode");
        return false;
    }
    q->f[(q->head + q->n) % q->cap] = f;
    q->n++;
    q->bytes += fb;
    if (q == &in->vq)
        in->vframes++;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
    return true;
}

/* Consumer: waits up to timeout_ms. Returns 1 with *f (or *f = NULL with
 * peek), 0 at the end of the stream, -1 on timeout, or an AVERROR of the
 * producer. peek leaves the frame queued and sets *f to it. */
static int q_pop(struct eng_input *in, struct eng_queue *q, AVFrame **f, int timeout_ms, bool peek)
{
    struct timespec dl;
    int r;

    vodq_deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&in->mu);
    while (q->n == 0 && !q->eof && in->err == 0)
        if (pthread_cond_timedwait(&in->cv, &in->mu, &dl) == ETIMEDOUT)
            break;
    if (q->n > 0) {
        *f = q->f[q->head];
        if (!peek) {
            q->head = (q->head + 1) % q->cap;
            q->n--;
            q->bytes -= frame_bytes(*f);
            pthread_cond_broadcast(&in->cv);
        }
        r = 1;
    } else if (in->err != 0) {
        r = in->err;
    } else {
        r = q->eof ? 0 : -1;
    }
    pthread_mutex_unlock(&in->mu);
    return r;
}

/* ---- Producer: demux + decode ---- */

static void in_fail(struct eng_input *in, int ret, const char *what)
{
    pthread_mutex_lock(&in->mu);
    if (in->err == 0) {
        in->err = ret < 0 ? ret : AVERROR_UNKNOWN;
        if (strcmp(what, "sound") == 0 || strcmp(what, "picture") == 0)
            snprintf(in->errmsg, sizeof(in->errmsg),
                     "%s: badly interleaved: its %s runs more than %lld MiB of decoded data "
                     "ahead of its %s; remux it (ffmpeg -i IN -c copy OUT.mp4)",
                     in->pin->path, what, ENG_QMAX_BYTES >> 20,
                     strcmp(what, "sound") == 0 ? "picture" : "sound");
        else
            snprintf(in->errmsg, sizeof(in->errmsg), "%s %s: %s", what, in->pin->path,
                     av_err2str(in->err));
    }
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
}

/* Marks one stream of the input finished: its queue reaches EOF now, not
 * when the whole file is read (the other stream may still be running). */
static void in_stream_done(struct eng_input *in, struct eng_queue *q, bool *done)
{
    *done = true;
    pthread_mutex_lock(&in->mu);
    q->eof = true;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
}

/* Output time (s) of a decoded frame's timestamp ts in the stream's base. */
static double in_time(struct eng_input *in, int64_t ts, AVRational tb)
{
    return (double)ts * av_q2d(tb) - in->start_s - in->pin->seek_s + in->offset_s;
}

/* Handles one decoded video frame; returns false to stop (abort). */
static bool in_video(struct eng_input *in, AVFrame *fr)
{
    AVStream *st = in->fmt->streams[in->vidx];
    int64_t ts = fr->best_effort_timestamp != AV_NOPTS_VALUE ? fr->best_effort_timestamp : fr->pts;
    double t = in->pin->is_image ? 0 : in_time(in, ts == AV_NOPTS_VALUE ? 0 : ts, st->time_base);
    double fdur = fr->pkt_duration > 0 ? (double)fr->pkt_duration * av_q2d(st->time_base)
                                   : 1.0 / (in->out_fps > 0 ? in->out_fps : 25);
    AVFrame *q;

    if (in->vdone || t < -1e-6) /* before the seek point: -ss drops it */
        return true;
    if (!in->pin->is_image && in->pin->duration_s > 0 && t >= in->pin->duration_s - 1e-9) {
        in_stream_done(in, &in->vq, &in->vdone);
        return true;
    }
    if (t + fdur - in->offset_s > in->pass_end_s)
        in->pass_end_s = t + fdur - in->offset_s;
    q = av_frame_alloc();
    if (q == NULL) {
        in_fail(in, AVERROR(ENOMEM), "decode");
        return false;
    }
    if (fr->format == AV_PIX_FMT_CUDA) {
        int ret = av_hwframe_transfer_data(q, fr, 0);
        if (ret < 0 || (ret = av_frame_copy_props(q, fr)) < 0) {
            av_frame_free(&q);
            in_fail(in, ret, "NVDEC transfer of");
            return false;
        }
    } else {
        av_frame_move_ref(q, fr);
    }
    q->pts = llrint(t / av_q2d(in->vtb));
    q->pict_type = AV_PICTURE_TYPE_NONE;
    if (!q_push(in, &in->vq, &in->aq, q))
        return false;
    if (in->pin->is_image)
        in_stream_done(in, &in->vq, &in->vdone); /* one frame; the graph repeats it */
    return true;
}

static bool in_audio(struct eng_input *in, AVFrame *fr)
{
    AVStream *st = in->fmt->streams[in->aidx];
    int64_t ts = fr->best_effort_timestamp != AV_NOPTS_VALUE ? fr->best_effort_timestamp : fr->pts;
    double t = ts == AV_NOPTS_VALUE ? in->a_next_s : in_time(in, ts, st->time_base);
    int sr = fr->sample_rate, skip = 0, nb = fr->nb_samples;
    AVFrame *q;

    if (in->adone || sr <= 0)
        return true;
    in->a_next_s = t + (double)nb / sr;
    if (t + (double)nb / sr - in->offset_s > in->pass_end_s)
        in->pass_end_s = t + (double)nb / sr - in->offset_s;
    if (in->a_next_s <= 1e-9)
        return true; /* wholly before the seek point */
    if (t < 0)
        skip = (int)lrint(-t * sr);
    if (in->pin->duration_s > 0) {
        if (t >= in->pin->duration_s - 1e-9) {
            in_stream_done(in, &in->aq, &in->adone);
            return true;
        }
        int keep = (int)ceil((in->pin->duration_s - t) * sr - 1e-6);
        if (keep < nb)
            nb = keep;
    }
    if (skip >= nb)
        return true;
    q = av_frame_alloc();
    if (q == NULL) {
        in_fail(in, AVERROR(ENOMEM), "decode");
        return false;
    }
    if (skip > 0) {
        q->format = fr->format;
        q->sample_rate = sr;
        q->nb_samples = nb - skip;
        int ret = av_channel_layout_copy(&q->ch_layout, &fr->ch_layout);
        if (ret >= 0)
            ret = av_frame_get_buffer(q, 0);
        if (ret < 0) {
            av_frame_free(&q);
            in_fail(in, ret, "decode");
            return false;
        }
        av_samples_copy(q->extended_data, fr->extended_data, 0, skip, nb - skip,
                        fr->ch_layout.nb_channels, fr->format);
        t += (double)skip / sr;
    } else {
        av_frame_move_ref(q, fr);
        q->nb_samples = nb;
    }
    q->pts = llrint(t * sr);
    return q_push(in, &in->aq, &in->vq, q);
}

/* Sends pkt (NULL = flush) to dec and handles its frames. */
static bool in_decode(struct eng_input *in, AVCodecContext *dec, const AVPacket *pkt, AVFrame *fr)
{
    int ret = avcodec_send_packet(dec, pkt);
    if (ret < 0 && ret != AVERROR_EOF) {
        in_fail(in, ret, "decode");
        return false;
    }
    for (;;) {
        ret = avcodec_receive_frame(dec, fr);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return true;
        if (ret < 0) {
            in_fail(in, ret, "decode");
            return false;
        }
        bool ok = dec == in->vdec ? in_video(in, fr) : in_audio(in, fr);
        av_frame_unref(fr);
        if (!ok)
            return false;
    }
}

/* ---- AMR: one frame per packet ---- */

/* Bytes after the TOC byte of each AMR frame type (3GPP TS 26.101/26.201;
 * 9..14 reserved, 15 = no data). */
static const uint8_t amr_nb_bytes[16] = {12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0};
static const uint8_t amr_wb_bytes[16] = {17, 23, 32, 36, 40, 46, 50, 58, 60, 5, 0, 0, 0, 0, 0, 0};

/* FFmpeg 5.1's amrnb/amrwb decoders decode only the first frame of a
 * packet, and 3GP files from phones store several 20 ms frames per sample:
 * such packets are cut into single frames (each with its own timestamp)
 * before decoding, so no sound is lost. Other packets go through as they are. */
static bool in_decode_audio(struct eng_input *in, AVPacket *pkt, AVFrame *fr)
{
    enum AVCodecID id = in->adec->codec_id;
    const uint8_t *sizes = id == AV_CODEC_ID_AMR_NB ? amr_nb_bytes : amr_wb_bytes;
    int per = id == AV_CODEC_ID_AMR_NB ? 160 : 320; /* samples per frame */
    AVRational stb = in->fmt->streams[in->aidx]->time_base;

    if ((id != AV_CODEC_ID_AMR_NB && id != AV_CODEC_ID_AMR_WB) || pkt->size < 1 ||
        pkt->size <= 1 + sizes[(pkt->data[0] >> 3) & 15] || in->adec->sample_rate <= 0)
        return in_decode(in, in->adec, pkt, fr);
    if (in->sub == NULL && (in->sub = av_packet_alloc()) == NULL) {
        in_fail(in, AVERROR(ENOMEM), "decode");
        return false;
    }
    AVRational ftb = {1, in->adec->sample_rate};
    for (int off = 0, i = 0; off < pkt->size; i++) {
        int n = 1 + sizes[(pkt->data[off] >> 3) & 15];
        if (n > pkt->size - off)
            n = pkt->size - off;
        int ret = av_packet_ref(in->sub, pkt);
        if (ret < 0) {
            in_fail(in, ret, "decode");
            return false;
        }
        in->sub->data += off;
        in->sub->size = n;
        int64_t d = av_rescale_q((int64_t)i * per, ftb, stb);
        if (pkt->pts != AV_NOPTS_VALUE)
            in->sub->pts = pkt->pts + d;
        if (pkt->dts != AV_NOPTS_VALUE)
            in->sub->dts = pkt->dts + d;
        in->sub->duration = av_rescale_q(per, ftb, stb);
        bool ok = in_decode(in, in->adec, in->sub, fr);
        av_packet_unref(in->sub);
        if (!ok)
            return false;
        off += n;
    }
    return true;
}

static bool in_all_done(const struct eng_input *in)
{
    return (in->vidx < 0 || in->vdone) && (in->aidx < 0 || in->adone);
}

static void *in_thread(void *arg)
{
    struct eng_input *in = arg;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    bool ok = pkt != NULL && fr != NULL;

    if (!ok)
        in_fail(in, AVERROR(ENOMEM), "decode");
    while (ok && !in_all_done(in)) {
        pthread_mutex_lock(&in->mu);
        bool stop = in->abort;
        pthread_mutex_unlock(&in->mu);
        if (stop)
            break;
        int ret = av_read_frame(in->fmt, pkt);
        if (ret == AVERROR_EOF) {
            if (in->vdec && !in->vdone)
                ok = in_decode(in, in->vdec, NULL, fr);
            if (ok && in->adec && !in->adone)
                ok = in_decode(in, in->adec, NULL, fr);
            if (!ok || !in->pin->loop || in_all_done(in) || in->pass_end_s <= 0)
                break;
            /* next pass of a looped input */
            in->offset_s += in->pass_end_s;
            in->pass_end_s = 0;
            ret = avformat_seek_file(in->fmt, -1, INT64_MIN, in->fmt->start_time == AV_NOPTS_VALUE ? 0 : in->fmt->start_time, INT64_MAX, 0);
            if (ret < 0) {
                in_fail(in, ret, "loop seek in");
                break;
            }
            if (in->vdec)
                avcodec_flush_buffers(in->vdec);
            if (in->adec)
                avcodec_flush_buffers(in->adec);
            /* the first pass started at the seek point; later ones at 0 */
            in->offset_s += in->pin->seek_s;
            continue;
        }
        if (ret < 0) {
            in_fail(in, ret, "read");
            break;
        }
        if (pkt->stream_index == in->vidx && !in->vdone)
            ok = in_decode(in, in->vdec, pkt, fr);
        else if (pkt->stream_index == in->aidx && !in->adone)
            ok = in_decode_audio(in, pkt, fr);
        av_packet_unref(pkt);
    }
    pthread_mutex_lock(&in->mu);
    in->vq.eof = in->aq.eof = true;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    return NULL;
}

static enum AVPixelFormat in_get_format(AVCodecContext *ctx, const enum AVPixelFormat *fmts)
{
    for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
        if (*p == AV_PIX_FMT_CUDA && ctx->hw_device_ctx)
            return *p;
    for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
        if (!(av_pix_fmt_desc_get(*p)->flags & AV_PIX_FMT_FLAG_HWACCEL))
            return *p;
    return fmts[0];
}

static bool codec_has_cuda(const AVCodec *c)
{
    for (int i = 0;; i++) {
        const AVCodecHWConfig *cfg = avcodec_get_hw_config(c, i);
        if (cfg == NULL)
            return false;
        if (cfg->device_type == AV_HWDEVICE_TYPE_CUDA &&
            (cfg->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX))
            return true;
    }
}

/* Finds the file's best stream of type and opens its decoder. */
static enum vodq_rc in_open_stream(struct eng_input *in, enum AVMediaType type, int *idx,
                                   AVCodecContext **out, struct vodq_err *err)
{
    int ret;

    *idx = type == AVMEDIA_TYPE_VIDEO ? vodq_timeline_video_stream(in->fmt, in->pin->is_image)
                                      : av_find_best_stream(in->fmt, type, -1, -1, NULL, 0);
    if (*idx < 0)
        return vodq_err_set(err, VODQ_ERR_MEDIA, *idx, "%s: no %s stream", in->pin->path,
                            av_get_media_type_string(type));
    AVStream *st = in->fmt->streams[*idx];
    const AVCodec *c = avcodec_find_decoder(st->codecpar->codec_id);
    AVCodecContext *ctx;

    if (c == NULL)
        return vodq_err_set(err, VODQ_ERR_MEDIA, AVERROR_DECODER_NOT_FOUND,
                            "%s: no decoder for its %s stream", in->pin->path,
                            av_get_media_type_string(st->codecpar->codec_type));
    ctx = avcodec_alloc_context3(c);
    if (ctx == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    *out = ctx;
    if ((ret = avcodec_parameters_to_context(ctx, st->codecpar)) < 0)
        return eng_av(err, ret, "decoder of", in->pin->path);
    ctx->pkt_timebase = st->time_base;
    ctx->thread_count = 0;
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !in->pin->is_image &&
        vodq_hw_cuda_available() && codec_has_cuda(c) &&
        av_hwdevice_ctx_create(&in->hwdev, AV_HWDEVICE_TYPE_CUDA, NULL, NULL, 0) >= 0) {
        ctx->hw_device_ctx = av_buffer_ref(in->hwdev);
        ctx->get_format = in_get_format;
        in->hw = true;
    }
    if ((ret = avcodec_open2(ctx, c, NULL)) < 0)
        return eng_av(err, ret, "open decoder of", in->pin->path);
    return VODQ_OK;
}

static enum vodq_rc in_open(struct eng_input *in, struct vodq_err *err)
{
    const struct vodq_plan_input *p = in->pin;
    int ret;

    in->vidx = in->aidx = -1;
    if ((ret = vodq_input_open(&in->fmt, p->path)) < 0)
        return vodq_err_set(err, ret == AVERROR(ENOENT) ? VODQ_ERR_NOTFOUND : VODQ_ERR_MEDIA,
                            ret, "%s: %s", p->path, av_err2str(ret));
    if ((ret = avformat_find_stream_info(in->fmt, NULL)) < 0)
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s: %s", p->path, av_err2str(ret));
    enum vodq_rc rc;
    if (p->use_video && (rc = in_open_stream(in, AVMEDIA_TYPE_VIDEO, &in->vidx, &in->vdec, err)) != VODQ_OK)
        return rc;
    if (p->use_audio && (rc = in_open_stream(in, AVMEDIA_TYPE_AUDIO, &in->aidx, &in->adec, err)) != VODQ_OK)
        return rc;
    if (in->vidx >= 0)
        in->vtb = p->is_image ? av_inv_q(in->out_rate) : in->fmt->streams[in->vidx]->time_base;
    for (unsigned i = 0; i < in->fmt->nb_streams; i++)
        if ((int)i != in->vidx && (int)i != in->aidx)
            in->fmt->streams[i]->discard = AVDISCARD_ALL;
    in->vq.used = in->vidx >= 0;
    in->aq.used = in->aidx >= 0;
    in->start_s = in->fmt->start_time == AV_NOPTS_VALUE ? 0
                                                        : (double)in->fmt->start_time / AV_TIME_BASE;
    if (p->seek_s > 0 && !p->is_image) {
        int64_t ts = (int64_t)llround((in->start_s + p->seek_s) * AV_TIME_BASE);
        ret = avformat_seek_file(in->fmt, -1, INT64_MIN, ts, ts, 0);
        if (ret < 0)
            return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s: seek to %.3f s: %s", p->path,
                                p->seek_s, av_err2str(ret));
    }
    return VODQ_OK;
}

/* ---- The graph ---- */

static struct eng_input *eng_label(struct eng *e, const char *name, char *kind)
{
    char *end;
    long idx = strtol(name, &end, 10);
    if (end == name || *end != ':' || (end[1] != 'v' && end[1] != 'a') || end[2] != '\0' ||
        idx < 0 || (size_t)idx >= e->n_in)
        return NULL;
    *kind = end[1];
    return &e->in[idx];
}

/* Waits for the first frame of a stream (to know its real format). */
static enum vodq_rc eng_peek(struct eng *e, struct eng_input *in, struct eng_queue *q, AVFrame **f,
                             struct vodq_err *err);

static enum vodq_rc eng_src(struct eng *e, struct eng_input *in, char kind, AVFilterContext **ctx,
                            struct vodq_err *err)
{
    char args[512], name[32];
    AVFrame *f = NULL;
    enum vodq_rc rc = eng_peek(e, in, kind == 'v' ? &in->vq : &in->aq, &f, err);
    int ret;

    if (rc != VODQ_OK)
        return rc;
    snprintf(name, sizeof(name), "in%td%c", in - e->in, kind);
    if (kind == 'v') {
        AVStream *st = in->fmt->streams[in->vidx];
        AVRational sar = f ? f->sample_aspect_ratio : st->codecpar->sample_aspect_ratio;
        AVRational fr = in->pin->is_image ? av_inv_q(in->vtb) : st->avg_frame_rate;
        if (sar.num <= 0 || sar.den <= 0)
            sar = (AVRational){1, 1};
        if (fr.num <= 0 || fr.den <= 0)
            fr = (AVRational){e->plan->out.fps_num, e->plan->out.fps_den};
        snprintf(args, sizeof(args),
                 "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d:frame_rate=%d/%d",
                 f ? f->width : in->vdec->width, f ? f->height : in->vdec->height,
                 f ? f->format : in->vdec->pix_fmt, in->vtb.num, in->vtb.den, sar.num, sar.den,
                 fr.num, fr.den);
        ret = avfilter_graph_create_filter(ctx, avfilter_get_by_name("buffer"), name, args, NULL,
                                           e->graph);
    } else {
        char layout[128];
        const AVChannelLayout *cl = f ? &f->ch_layout : &in->adec->ch_layout;
        AVChannelLayout def;
        if (cl->order == AV_CHANNEL_ORDER_UNSPEC) {
            av_channel_layout_default(&def, cl->nb_channels);
            cl = &def;
        }
        av_channel_layout_describe(cl, layout, sizeof(layout));
        int sr = f ? f->sample_rate : in->adec->sample_rate;
        snprintf(args, sizeof(args), "sample_rate=%d:sample_fmt=%s:channel_layout=%s:time_base=1/%d",
                 sr, av_get_sample_fmt_name(f ? f->format : in->adec->sample_fmt), layout, sr);
        ret = avfilter_graph_create_filter(ctx, avfilter_get_by_name("abuffer"), name, args, NULL,
                                           e->graph);
    }
    if (ret < 0)
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s: filter source (%s): %s",
                            in->pin->path, args, av_err2str(ret));
    return VODQ_OK;
}

static enum vodq_rc eng_graph(struct eng *e, enum AVPixelFormat pix, struct vodq_err *err)
{
    AVFilterInOut *ins = NULL, *outs = NULL;
    enum vodq_rc rc = VODQ_OK;
    int ret;

    e->graph = avfilter_graph_alloc();
    if (e->graph == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    e->graph->nb_threads = 0;
    ret = avfilter_graph_parse2(e->graph, e->plan->filter_complex, &ins, &outs);
    if (ret < 0) {
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, ret, "filter graph: %s", av_err2str(ret));
        goto out;
    }
    for (AVFilterInOut *io = ins; io; io = io->next) {
        char kind = 0;
        struct eng_input *in = eng_label(e, io->name ? io->name : "", &kind);
        AVFilterContext *ctx = NULL;
        if (in == NULL || (kind == 'v' ? in->vidx : in->aidx) < 0) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "filter graph: unexpected input [%s]",
                              io->name ? io->name : "");
            goto out;
        }
        if ((rc = eng_src(e, in, kind, &ctx, err)) != VODQ_OK)
            goto out;
        if (kind == 'v')
            in->vsrc = ctx;
        else
            in->asrc = ctx;
        if ((ret = avfilter_link(ctx, 0, io->filter_ctx, (unsigned)io->pad_idx)) < 0) {
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, ret, "filter graph: link [%s]: %s", io->name,
                              av_err2str(ret));
            goto out;
        }
    }
    for (AVFilterInOut *io = outs; io; io = io->next) {
        bool v = io->name && strcmp(io->name, e->plan->vout_label) == 0;
        bool a = io->name && strcmp(io->name, e->plan->aout_label) == 0;
        AVFilterContext *ctx = NULL;
        if (!v && !a) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "filter graph: unexpected output [%s]",
                              io->name ? io->name : "");
            goto out;
        }
        ret = avfilter_graph_create_filter(&ctx, avfilter_get_by_name(v ? "buffersink" : "abuffersink"),
                                           v ? "vout" : "aout", NULL, NULL, e->graph);
        if (ret >= 0 && v) {
            enum AVPixelFormat fmts[] = {pix, AV_PIX_FMT_NONE};
            ret = av_opt_set_int_list(ctx, "pix_fmts", fmts, AV_PIX_FMT_NONE, AV_OPT_SEARCH_CHILDREN);
        } else if (ret >= 0) {
            enum AVSampleFormat fmts[] = {e->aenc->sample_fmt, AV_SAMPLE_FMT_NONE};
            int rates[] = {e->aenc->sample_rate, -1};
            char layout[64];
            av_channel_layout_describe(&e->aenc->ch_layout, layout, sizeof(layout));
            ret = av_opt_set_int_list(ctx, "sample_fmts", fmts, AV_SAMPLE_FMT_NONE,
                                      AV_OPT_SEARCH_CHILDREN);
            if (ret >= 0)
                ret = av_opt_set_int_list(ctx, "sample_rates", rates, -1, AV_OPT_SEARCH_CHILDREN);
            if (ret >= 0)
                ret = av_opt_set(ctx, "ch_layouts", layout, AV_OPT_SEARCH_CHILDREN);
        }
        if (ret >= 0)
            ret = avfilter_link(io->filter_ctx, (unsigned)io->pad_idx, ctx, 0);
        if (ret < 0) {
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, ret, "filter graph: output [%s]: %s", io->name,
                              av_err2str(ret));
            goto out;
        }
        if (v)
            e->vsink = ctx;
        else
            e->asink = ctx;
    }
    if (e->vsink == NULL || e->asink == NULL) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "filter graph: no [%s] or [%s] output",
                          e->plan->vout_label, e->plan->aout_label);
        goto out;
    }
    if ((ret = avfilter_graph_config(e->graph, NULL)) < 0) {
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, ret, "filter graph: %s", av_err2str(ret));
        goto out;
    }
    av_buffersink_set_frame_size(e->asink, (unsigned)e->aenc->frame_size);
out:
    avfilter_inout_free(&ins);
    avfilter_inout_free(&outs);
    return rc;
}

/* ---- Control ---- */

static enum vodq_rc eng_ctl_rc(enum vodq_ctl c, struct vodq_err *err)
{
    if (c == VODQ_CTL_CANCEL)
        return vodq_err_set(err, VODQ_ERR_CANCELLED, 0, "render cancelled");
    if (c == VODQ_CTL_YIELD)
        return vodq_err_set(err, VODQ_ERR_PAUSED, 0, "render handed back");
    return VODQ_OK;
}

/* The watchdog: fails the render when nothing has come from any input or
 * the graph for e->stall_s seconds while it waits on stream video/audio of
 * in. Time spent paused does not count. */
static enum vodq_rc eng_stalled(struct eng *e, struct eng_input *in, bool video,
                                struct vodq_err *err)
{
    double idle = eng_now() - e->last_act;
    if (idle < e->stall_s)
        return VODQ_OK;
    int idx = video ? in->vidx : in->aidx;
    AVCodecParameters *par = in->fmt->streams[idx]->codecpar;
    return vodq_err_set(err, VODQ_ERR_TIMEOUT, AVERROR(ETIMEDOUT),
                        "%s: no progress for %.0f s waiting for its %s stream (#%d, %s); the "
                        "file may be truncated, badly interleaved or unreadable",
                        in->pin->path, idle, video ? "video" : "audio", idx,
                        avcodec_get_name(par->codec_id));
}

/* Polls control; blocks while paused. */
static enum vodq_rc eng_control(struct eng *e, struct vodq_err *err)
{
    const struct vodq_engine_opts *o = e->o;
    enum vodq_ctl c;

    if (o == NULL || o->control == NULL)
        return VODQ_OK;
    c = o->control(o->opaque);
    if (c == VODQ_CTL_PAUSE)
        e->last_act = INFINITY; /* the watchdog sleeps while paused */
    while (c == VODQ_CTL_PAUSE) {
        if (o->wait) {
            c = o->wait(o->opaque, 500);
        } else {
            usleep(ENG_POLL_MS * 1000);
            c = o->control(o->opaque);
        }
    }
    if (isinf(e->last_act))
        e->last_act = eng_now();
    return eng_ctl_rc(c, err);
}

static enum vodq_rc eng_peek(struct eng *e, struct eng_input *in, struct eng_queue *q, AVFrame **f,
                             struct vodq_err *err)
{
    for (;;) {
        int r = q_pop(in, q, f, ENG_POLL_MS, true);
        if (r == 1) {
            e->last_act = eng_now();
            return VODQ_OK;
        }
        if (r == 0) {
            *f = NULL;
            return VODQ_OK;
        }
        if (r < -1) {
            pthread_mutex_lock(&in->mu);
            vodq_err_set(err, VODQ_ERR_MEDIA, in->err, "%s", in->errmsg);
            pthread_mutex_unlock(&in->mu);
            return VODQ_ERR_MEDIA;
        }
        enum vodq_rc rc = eng_control(e, err);
        if (rc == VODQ_OK)
            rc = eng_stalled(e, in, q == &in->vq, err);
        if (rc != VODQ_OK)
            return rc;
    }
}

static enum vodq_rc eng_progress(struct eng *e, bool final, struct vodq_err *err)
{
    const struct vodq_engine_opts *o = e->o;
    int64_t total = llround(e->plan->duration_s * 1000);
    double now = eng_now();

    if (o == NULL || o->progress == NULL)
        return VODQ_OK;
    if (!final && now - e->last_progress < ENG_PROGRESS_MS / 1000.0)
        return VODQ_OK;
    e->last_progress = now;
    int64_t done = final ? total : e->done_ms;
    if (!final && done >= total)
        done = total - 1;
    double el = now - e->t0;
    enum vodq_rc rc = o->progress(o->opaque, done, total, e->frames,
                                  el > 0 ? (double)e->frames / el : 0);
    if (rc != VODQ_OK)
        return vodq_err_set(err, rc, 0, "progress: %s", vodq_strerror(rc));
    return VODQ_OK;
}

/* ---- Encoding and muxing ---- */

/* Growing output: hands the bytes the muxer produced to the file and tells
 * o->written how many there are (samples are appended and never revisited;
 * only the trailer seeks back, into the header). */
static void eng_written(struct eng *e)
{
    const struct vodq_engine_opts *o = e->o;
    if (o == NULL || !o->growing || o->written == NULL || e->mux->pb == NULL)
        return;
    avio_flush(e->mux->pb);
    int64_t n = avio_tell(e->mux->pb);
    if (n > e->published && e->mux->pb->error >= 0) {
        e->published = n;
        o->written(o->opaque, e->tmp, n);
    }
}

static enum vodq_rc eng_write(struct eng *e, AVCodecContext *enc, AVStream *st, AVFrame *f,
                              struct vodq_err *err)
{
    int ret = avcodec_send_frame(enc, f);
    if (ret >= 0 && f && enc->codec_type == AVMEDIA_TYPE_VIDEO)
        vodq_metric_add(VODQ_M_COMPOSE_FRAMES, 1);
    if (ret < 0 && !(f == NULL && ret == AVERROR_EOF))
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "encode (%s): %s", enc->codec->name,
                            av_err2str(ret));
    for (;;) {
        ret = avcodec_receive_packet(enc, e->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return VODQ_OK;
        if (ret < 0)
            return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "encode (%s): %s", enc->codec->name,
                                av_err2str(ret));
        av_packet_rescale_ts(e->pkt, enc->time_base, st->time_base);
        e->pkt->stream_index = st->index;
        ret = av_interleaved_write_frame(e->mux, e->pkt);
        if (ret < 0)
            return vodq_err_set(err, VODQ_ERR_IO, ret, "write %s: %s", e->tmp, av_err2str(ret));
        eng_written(e);
    }
}

/* The graph promises a constant frame rate in 1/fps; frames are numbered
 * as they come (a concat of a one-frame clip can repeat a timestamp). */
static enum vodq_rc eng_video_frame(struct eng *e, AVFrame *f, struct vodq_err *err)
{
    int64_t pts = e->frames;
    enum vodq_rc rc;

    if (pts >= e->max_frames || e->vend) {
        e->vend = true;
        return VODQ_OK;
    }
    f->pts = pts;
    f->pict_type = AV_PICTURE_TYPE_NONE;
    if (pts == e->cover_frame && e->cover == NULL) {
        e->cover = av_frame_clone(f);
        if (e->cover == NULL)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
    if (e->vaapi_frames) {
        AVFrame *hw = av_frame_alloc();
        int ret = hw ? av_hwframe_get_buffer(e->vaapi_frames, hw, 0) : AVERROR(ENOMEM);
        if (ret >= 0)
            ret = av_hwframe_transfer_data(hw, f, 0);
        if (ret < 0) {
            av_frame_free(&hw);
            return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "upload to VAAPI: %s", av_err2str(ret));
        }
        hw->pts = pts;
        rc = eng_write(e, e->venc, e->vst, hw, err);
        av_frame_free(&hw);
    } else {
        rc = eng_write(e, e->venc, e->vst, f, err);
    }
    if (rc != VODQ_OK)
        return rc;
    e->frames++;
    int64_t ms = av_rescale(pts + 1, 1000LL * e->venc->time_base.num, e->venc->time_base.den);
    if (ms > e->done_ms)
        e->done_ms = ms;
    if (e->frames >= e->max_frames)
        e->vend = true;
    return VODQ_OK;
}

static enum vodq_rc eng_audio_frame(struct eng *e, AVFrame *f, struct vodq_err *err)
{
    int64_t pts = e->samples; /* gapless, like the video */

    if (e->aend || pts >= e->max_samples) {
        e->aend = true;
        return VODQ_OK;
    }
    if (pts + f->nb_samples >= e->max_samples) {
        f->nb_samples = (int)(e->max_samples - pts);
        e->aend = true;
    }
    f->pts = pts;
    e->samples = pts + f->nb_samples;
    return eng_write(e, e->aenc, e->ast, f, err);
}

/* Takes what one sink has; sets vend/aend at the sink's EOF. */
static enum vodq_rc eng_drain_sink(struct eng *e, bool video, struct vodq_err *err)
{
    AVFilterContext *sink = video ? e->vsink : e->asink;
    enum vodq_rc rc = VODQ_OK;
    int ret;

    while ((ret = av_buffersink_get_frame_flags(sink, e->frame, 0)) >= 0) {
        e->last_act = eng_now();
        rc = video ? eng_video_frame(e, e->frame, err) : eng_audio_frame(e, e->frame, err);
        av_frame_unref(e->frame);
        if (rc != VODQ_OK)
            return rc;
    }
    if (ret == AVERROR_EOF)
        *(video ? &e->vend : &e->aend) = true;
    else if (ret != AVERROR(EAGAIN))
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "filter graph (%s): %s",
                            video ? "video" : "audio", av_err2str(ret));
    return VODQ_OK;
}

static enum vodq_rc eng_drain(struct eng *e, struct vodq_err *err)
{
    enum vodq_rc rc = eng_drain_sink(e, true, err);
    return rc != VODQ_OK ? rc : eng_drain_sink(e, false, err);
}

/* Pushes whatever is queued for one stream of in into its filter source. */
/* Gives frame f (NULL = end of stream) to the video or audio source of in.
 * The end of a picture stream is stamped with the end of its last frame (as
 * the ffmpeg command line does), so that fps keeps that frame. */
static int eng_src_add(struct eng_input *in, bool video, AVFrame *f, int flags)
{
    AVFilterContext *src = video ? in->vsrc : in->asrc;
    if (video && f && !in->pin->is_image && f->pts != AV_NOPTS_VALUE && f->pkt_duration > 0 &&
        f->pts + f->pkt_duration > in->vend)
        in->vend = f->pts + f->pkt_duration;
    if (video && f == NULL && in->vend > 0)
        return av_buffersrc_close(src, in->vend, flags);
    return av_buffersrc_add_frame_flags(src, f, flags);
}

static enum vodq_rc eng_push_other(struct eng_input *in, bool video, struct vodq_err *err)
{
    AVFilterContext *src = video ? in->vsrc : in->asrc;
    struct eng_queue *q = video ? &in->vq : &in->aq;
    bool *eof = video ? &in->vsrc_eof : &in->asrc_eof;
    AVFrame *f = NULL;
    int r, ret = 0;

    if (src == NULL || *eof)
        return VODQ_OK;
    while ((r = q_pop(in, q, &f, 0, false)) == 1) {
        ret = eng_src_add(in, video, f, 0);
        av_frame_free(&f);
        if (ret < 0)
            break;
    }
    if (ret == AVERROR_EOF) {
        *eof = true; /* the graph has all it wants from it */
        return VODQ_OK;
    }
    if (ret < 0)
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s: filter input: %s", in->pin->path,
                            av_err2str(ret));
    return VODQ_OK;
}

/* Feeds the source the graph waits for most (or any open one). */
static enum vodq_rc eng_feed(struct eng *e, struct vodq_err *err)
{
    struct eng_input *best = NULL;
    bool video = false;
    unsigned most = 0;

    for (size_t k = 0; k < 2 * e->n_in; k++) {
        struct eng_input *in = &e->in[k / 2];
        bool v = k % 2 == 0;
        AVFilterContext *src = v ? in->vsrc : in->asrc;
        if (src == NULL || (v ? in->vsrc_eof : in->asrc_eof))
            continue;
        unsigned n = av_buffersrc_get_nb_failed_requests(src);
        if (best == NULL || n > most) {
            best = in;
            video = v;
            most = n;
        }
    }
    if (best == NULL)
        return vodq_err_set(err, VODQ_ERR_MEDIA, 0, "filter graph stalled with every input read");
    AVFrame *f = NULL;
    int r = q_pop(best, video ? &best->vq : &best->aq, &f, ENG_POLL_MS / 4, false);
    if (r == -1) {
        /* The producer may be held by the other stream of the same file
         * being full: hand that one's frames to its source (buffered there,
         * as the ffmpeg command line does) so that this one can come. */
        enum vodq_rc rc = eng_push_other(best, !video, err);
        if (rc != VODQ_OK)
            return rc;
        r = q_pop(best, video ? &best->vq : &best->aq, &f, ENG_POLL_MS, false);
    }
    int ret = 0;
    if (r >= 0)
        e->last_act = eng_now();
    else if (r == -1)
        return eng_stalled(e, best, video, err);
    if (r == 1) {
        ret = eng_src_add(best, video, f, AV_BUFFERSRC_FLAG_PUSH);
        av_frame_free(&f);
    } else if (r == 0) {
        ret = eng_src_add(best, video, NULL, AV_BUFFERSRC_FLAG_PUSH);
        if (video)
            best->vsrc_eof = true;
        else
            best->asrc_eof = true;
    } else if (r < -1) {
        pthread_mutex_lock(&best->mu);
        vodq_err_set(err, VODQ_ERR_MEDIA, best->err, "%s", best->errmsg);
        pthread_mutex_unlock(&best->mu);
        return VODQ_ERR_MEDIA;
    }
    if (ret < 0 && ret != AVERROR_EOF)
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "%s: filter input: %s", best->pin->path,
                            av_err2str(ret));
    return VODQ_OK;
}

static enum vodq_rc eng_run(struct eng *e, struct vodq_err *err)
{
    enum vodq_rc rc;

    while (!(e->vend && e->aend)) {
        if ((rc = eng_control(e, err)) != VODQ_OK)
            return rc;
        int ret = avfilter_graph_request_oldest(e->graph);
        if ((rc = eng_drain(e, err)) != VODQ_OK)
            return rc;
        if ((rc = eng_progress(e, false, err)) != VODQ_OK)
            return rc;
        if (e->vend && e->aend)
            break;
        if (ret == AVERROR(EAGAIN)) {
            if ((rc = eng_feed(e, err)) != VODQ_OK)
                return rc;
        } else if (ret == AVERROR_EOF) {
            if ((rc = eng_drain(e, err)) != VODQ_OK)
                return rc;
            break;
        } else if (ret < 0) {
            return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "filter graph: %s", av_err2str(ret));
        }
    }
    if ((rc = eng_write(e, e->venc, e->vst, NULL, err)) != VODQ_OK)
        return rc;
    return eng_write(e, e->aenc, e->ast, NULL, err);
}

static enum vodq_rc eng_open_video(struct eng *e, struct vodq_err *err)
{
    const struct vodq_plan_output *out = &e->plan->out;
    const AVCodec *c = avcodec_find_encoder_by_name(e->encoder);
    AVCodecContext *ctx;
    AVDictionary *d = NULL;
    int ret;

    if (c == NULL)
        return vodq_err_set(err, VODQ_ERR_MEDIA, AVERROR_ENCODER_NOT_FOUND,
                            "encoder %s: not in this FFmpeg build", e->encoder);
    ctx = e->venc = avcodec_alloc_context3(c);
    if (ctx == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    ctx->width = av_buffersink_get_w(e->vsink);
    ctx->height = av_buffersink_get_h(e->vsink);
    ctx->sample_aspect_ratio = (AVRational){1, 1};
    ctx->time_base = (AVRational){out->fps_den, out->fps_num};
    ctx->framerate = (AVRational){out->fps_num, out->fps_den};
    ctx->pix_fmt = av_buffersink_get_format(e->vsink);
    ctx->gop_size = out->gop > 0 ? out->gop : (int)lrint(2.0 * out->fps_num / out->fps_den);
    ctx->thread_count = 0;
    bool sd = strcmp(out->color, "bt601") == 0;
    ctx->color_primaries = sd ? AVCOL_PRI_SMPTE170M : AVCOL_PRI_BT709;
    ctx->color_trc = sd ? AVCOL_TRC_SMPTE170M : AVCOL_TRC_BT709;
    ctx->colorspace = sd ? AVCOL_SPC_SMPTE170M : AVCOL_SPC_BT709;
    ctx->color_range = out->full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    if (out->video_bitrate > 0) {
        ctx->bit_rate = out->video_bitrate;
        if (strcmp(e->encoder, "libx264") == 0 || strcmp(e->encoder, "libx265") == 0) {
            ctx->rc_max_rate = out->video_bitrate;
            ctx->rc_buffer_size = (int)(out->video_bitrate * 2);
        }
    } else if (out->crf >= 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", out->crf);
        if (strstr(e->encoder, "nvenc"))
            av_dict_set(&d, "cq", v, 0);
        else if (strstr(e->encoder, "vaapi"))
            ctx->global_quality = out->crf;
        else
            av_dict_set(&d, "crf", v, 0);
    }
    if (out->preset[0])
        av_dict_set(&d, "preset", out->preset, 0);
    if (strcmp(e->encoder, "libx265") == 0)
        av_dict_set(&d, "x265-params", "log-level=error", 0);
    if (e->mux->oformat->flags & AVFMT_GLOBALHEADER)
        ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (vodq_hw_is_vaapi(e->encoder)) {
        ret = av_hwdevice_ctx_create(&e->vaapi_dev, AV_HWDEVICE_TYPE_VAAPI, NULL, NULL, 0);
        if (ret >= 0 && (e->vaapi_frames = av_hwframe_ctx_alloc(e->vaapi_dev)) == NULL)
            ret = AVERROR(ENOMEM);
        if (ret >= 0) {
            AVHWFramesContext *fc = (AVHWFramesContext *)e->vaapi_frames->data;
            fc->format = AV_PIX_FMT_VAAPI;
            fc->sw_format = AV_PIX_FMT_NV12;
            fc->width = ctx->width;
            fc->height = ctx->height;
            fc->initial_pool_size = 16;
            ret = av_hwframe_ctx_init(e->vaapi_frames);
        }
        if (ret < 0) {
            av_dict_free(&d);
            return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "encoder %s: VAAPI device: %s",
                                e->encoder, av_err2str(ret));
        }
        ctx->pix_fmt = AV_PIX_FMT_VAAPI;
        ctx->hw_frames_ctx = av_buffer_ref(e->vaapi_frames);
    }
    ret = avcodec_open2(ctx, c, &d);
    av_dict_free(&d);
    if (ret < 0)
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "encoder %s: %s", e->encoder,
                            av_err2str(ret));
    e->vst = avformat_new_stream(e->mux, NULL);
    if (e->vst == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    if ((ret = avcodec_parameters_from_context(e->vst->codecpar, ctx)) < 0)
        return eng_av(err, ret, "encoder", e->encoder);
    e->vst->time_base = ctx->time_base;
    e->vst->avg_frame_rate = ctx->framerate;
    if (strcmp(out->vcodec, "hevc") == 0)
        e->vst->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
    return VODQ_OK;
}

static enum vodq_rc eng_open_audio(struct eng *e, struct vodq_err *err)
{
    const struct vodq_plan_output *out = &e->plan->out;
    const AVCodec *c = avcodec_find_encoder_by_name("aac");
    AVCodecContext *ctx;
    int ret;

    if (c == NULL)
        return vodq_err_set(err, VODQ_ERR_MEDIA, 0, "encoder aac: not in this FFmpeg build");
    ctx = e->aenc = avcodec_alloc_context3(c);
    if (ctx == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    ctx->sample_fmt = AV_SAMPLE_FMT_FLTP;
    ctx->sample_rate = out->sample_rate;
    av_channel_layout_default(&ctx->ch_layout, out->channels);
    ctx->bit_rate = out->audio_bitrate;
    ctx->time_base = (AVRational){1, out->sample_rate};
    if (e->mux->oformat->flags & AVFMT_GLOBALHEADER)
        ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((ret = avcodec_open2(ctx, c, NULL)) < 0)
        return eng_av(err, ret, "encoder", "aac");
    return VODQ_OK;
}

/* The audio stream, after the video one. */
static enum vodq_rc eng_audio_stream(struct eng *e, struct vodq_err *err)
{
    AVCodecContext *ctx = e->aenc;
    int ret;

    e->ast = avformat_new_stream(e->mux, NULL);
    if (e->ast == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    if ((ret = avcodec_parameters_from_context(e->ast->codecpar, ctx)) < 0)
        return eng_av(err, ret, "encoder", "aac");
    e->ast->time_base = ctx->time_base;
    return VODQ_OK;
}

/* Writes e->cover as a JPEG to the plan's cover_path (temp + rename). */
static enum vodq_rc eng_cover(struct eng *e, struct vodq_err *err)
{
    const char *path = e->plan->out.cover_path;
    const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *ctx = NULL;
    AVFrame *j = av_frame_alloc();
    struct SwsContext *sws = NULL;
    AVPacket *pkt = av_packet_alloc();
    char tmp[4096];
    enum vodq_rc rc = VODQ_OK;
    int ret = 0, fd = -1;

    if (c == NULL || j == NULL || pkt == NULL || (ctx = avcodec_alloc_context3(c)) == NULL) {
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0, "cover %s: no JPEG encoder", path);
        goto out;
    }
    ctx->width = j->width = e->cover->width;
    ctx->height = j->height = e->cover->height;
    ctx->pix_fmt = AV_PIX_FMT_YUVJ420P;
    j->format = AV_PIX_FMT_YUVJ420P;
    ctx->time_base = e->venc->time_base;
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 3;
    j->quality = ctx->global_quality;
    sws = sws_getContext(e->cover->width, e->cover->height, e->cover->format, j->width,
                         j->height, AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (sws == NULL)
        ret = AVERROR(EINVAL);
    if (ret >= 0)
        ret = avcodec_open2(ctx, c, NULL);
    if (ret >= 0)
        ret = av_frame_get_buffer(j, 0);
    if (ret >= 0)
        ret = sws_scale(sws, (const uint8_t *const *)e->cover->data, e->cover->linesize, 0,
                        e->cover->height, j->data, j->linesize);
    if (ret >= 0) {
        j->pts = 0;
        ret = avcodec_send_frame(ctx, j);
    }
    if (ret >= 0)
        ret = avcodec_send_frame(ctx, NULL);
    if (ret >= 0)
        ret = avcodec_receive_packet(ctx, pkt);
    if (ret < 0) {
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, ret, "cover %s: %s", path, av_err2str(ret));
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s.part-XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "cover %s: %s", path, strerror(errno));
        goto out;
    }
    ssize_t w = write(fd, pkt->data, (size_t)pkt->size);
    if (w != pkt->size || close(fd) != 0 || rename(tmp, path) != 0) {
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "cover %s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&j);
    avcodec_free_context(&ctx);
    return rc;
}

static void eng_cleanup(struct eng *e)
{
    for (size_t i = 0; e->in && i < e->n_in; i++) {
        struct eng_input *in = &e->in[i];
        if (in->started) {
            pthread_mutex_lock(&in->mu);
            in->abort = true;
            pthread_cond_broadcast(&in->cv);
            pthread_mutex_unlock(&in->mu);
            pthread_join(in->th, NULL);
        }
        q_free(&in->vq);
        q_free(&in->aq);
        avcodec_free_context(&in->vdec);
        avcodec_free_context(&in->adec);
        av_packet_free(&in->sub);
        vodq_input_close(&in->fmt);
        av_buffer_unref(&in->hwdev);
        pthread_cond_destroy(&in->cv);
        pthread_mutex_destroy(&in->mu);
    }
    free(e->in);
    avfilter_graph_free(&e->graph);
    avcodec_free_context(&e->venc);
    avcodec_free_context(&e->aenc);
    av_buffer_unref(&e->vaapi_frames);
    av_buffer_unref(&e->vaapi_dev);
    if (e->mux) {
        if (e->mux->pb)
            avio_closep(&e->mux->pb);
        avformat_free_context(e->mux);
    }
    av_packet_free(&e->pkt);
    av_frame_free(&e->frame);
    av_frame_free(&e->cover);
    if (e->tmp_made)
        unlink(e->tmp);
}

static enum vodq_rc eng_setup(struct eng *e, const char *out_path, struct vodq_err *err)
{
    const struct vodq_plan *plan = e->plan;
    const struct vodq_plan_output *out = &plan->out;
    const char *req = e->o && e->o->encoder ? e->o->encoder : out->encoder;
    double fps = (double)out->fps_num / out->fps_den;
    enum vodq_rc rc;
    int ret, fd;

    if (plan->filter_complex == NULL || plan->n_inputs == 0 || out->fps_num <= 0 ||
        out->fps_den <= 0 || plan->duration_s <= 0 || out->sample_rate <= 0 ||
        out->channels <= 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "render plan is incomplete");
    if ((rc = vodq_hw_pick(out->vcodec, req, e->encoder, sizeof(e->encoder), err)) != VODQ_OK)
        return rc;
    e->max_frames = llround(plan->duration_s * fps);
    e->max_samples = llround((double)e->max_frames * out->sample_rate / fps);
    e->cover_frame = -1;
    if (out->cover_path && out->cover_at_s >= 0) {
        e->cover_frame = llround(out->cover_at_s * fps);
        if (e->cover_frame >= e->max_frames)
            e->cover_frame = e->max_frames - 1;
    }
    e->pkt = av_packet_alloc();
    e->frame = av_frame_alloc();
    e->in = calloc(plan->n_inputs, sizeof(*e->in));
    if (e->pkt == NULL || e->frame == NULL || e->in == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    e->n_in = plan->n_inputs;
    for (size_t i = 0; i < e->n_in; i++) {
        struct eng_input *in = &e->in[i];
        in->pin = &plan->inputs[i];
        in->out_fps = fps;
        in->out_rate = (AVRational){out->fps_num, out->fps_den};
        pthread_mutex_init(&in->mu, NULL);
        pthread_cond_init(&in->cv, NULL);
    }
    for (size_t i = 0; i < e->n_in; i++)
        if ((rc = in_open(&e->in[i], err)) != VODQ_OK)
            return rc;
    for (size_t i = 0; i < e->n_in; i++) {
        if (e->in[i].vidx < 0 && e->in[i].aidx < 0)
            continue;
        if ((ret = pthread_create(&e->in[i].th, NULL, in_thread, &e->in[i])) != 0)
            return vodq_err_set(err, VODQ_ERR_OOM, ret, "start decoder thread: %s",
                                strerror(ret));
        e->in[i].started = true;
    }
    /* output: a temporary file in the same folder */
    if (snprintf(e->tmp, sizeof(e->tmp), "%s.part-XXXXXX", out_path) >= (int)sizeof(e->tmp))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "output path too long: %s", out_path);
    fd = mkstemp(e->tmp);
    if (fd < 0)
        return vodq_err_set(err, VODQ_ERR_IO, errno, "output %s: %s", out_path, strerror(errno));
    close(fd);
    e->tmp_made = true;
    ret = avformat_alloc_output_context2(&e->mux, NULL, "mp4", e->tmp);
    if (ret < 0)
        return eng_av(err, ret, "output", out_path);
    if ((rc = eng_open_audio(e, err)) != VODQ_OK)
        return rc;
    if ((rc = eng_graph(e, vodq_hw_is_vaapi(e->encoder) ? AV_PIX_FMT_NV12 : AV_PIX_FMT_YUV420P,
                        err)) != VODQ_OK)
        return rc;
    if ((rc = eng_open_video(e, err)) != VODQ_OK)
        return rc;
    if ((rc = eng_audio_stream(e, err)) != VODQ_OK)
        return rc;
    if ((ret = avio_open(&e->mux->pb, e->tmp, AVIO_FLAG_WRITE)) < 0)
        return vodq_err_set(err, VODQ_ERR_IO, ret, "output %s: %s", out_path, av_err2str(ret));
    AVDictionary *d = NULL;
    if (out->faststart && !(e->o && e->o->growing))
        av_dict_set(&d, "movflags", "+faststart", 0);
    ret = avformat_write_header(e->mux, &d);
    av_dict_free(&d);
    if (ret < 0)
        return vodq_err_set(err, VODQ_ERR_IO, ret, "output %s: %s", out_path, av_err2str(ret));
    eng_written(e);
    return VODQ_OK;
}

enum vodq_rc vodq_engine_render(const struct vodq_plan *plan, const char *out_path,
                                const struct vodq_engine_opts *o, struct vodq_engine_stats *st,
                                struct vodq_err *err)
{
    struct eng e;
    enum vodq_rc rc;

    memset(&e, 0, sizeof(e));
    e.plan = plan;
    e.o = o;
    e.t0 = eng_now();
    e.last_progress = e.t0;
    e.last_act = e.t0;
    e.stall_s = o && o->stall_timeout_s > 0 ? o->stall_timeout_s : ENG_STALL_S;
    if (st)
        memset(st, 0, sizeof(*st));
    rc = eng_setup(&e, out_path, err);
    if (rc == VODQ_OK)
        rc = eng_run(&e, err);
    if (rc == VODQ_OK && e.frames == 0) {
        /* name the input that gave no picture */
        struct eng_input *bad = NULL;
        for (size_t i = 0; i < e.n_in && bad == NULL; i++) {
            pthread_mutex_lock(&e.in[i].mu);
            if (e.in[i].vidx >= 0 && e.in[i].vframes == 0)
                bad = &e.in[i];
            pthread_mutex_unlock(&e.in[i].mu);
        }
        if (bad)
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0,
                              "%s: no picture could be decoded from %.3f s (no keyframe "
                              "before that point, or the video stream is unreadable)",
                              bad->pin->path, bad->pin->seek_s);
        else
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0, "render produced no video frames");
    }
    if (rc == VODQ_OK) {
        int ret = av_write_trailer(e.mux);
        if (ret >= 0)
            ret = avio_closep(&e.mux->pb);
        if (ret < 0)
            rc = vodq_err_set(err, VODQ_ERR_IO, ret, "write %s: %s", out_path, av_err2str(ret));
    }
    if (rc == VODQ_OK && e.cover)
        rc = eng_cover(&e, err);
    if (rc == VODQ_OK && rename(e.tmp, out_path) != 0)
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "rename to %s: %s", out_path, strerror(errno));
    if (rc == VODQ_OK) {
        e.tmp_made = false;
        rc = eng_progress(&e, true, err);
    }
    if (st) {
        st->frames = e.frames;
        st->samples = e.samples;
        st->duration_s = e.venc ? (double)e.frames * plan->out.fps_den / plan->out.fps_num : 0;
        st->width = e.venc ? e.venc->width : 0;
        st->height = e.venc ? e.venc->height : 0;
        snprintf(st->encoder, sizeof(st->encoder), "%s", e.encoder);
        for (size_t i = 0; e.in && i < e.n_in; i++)
            st->hw_decode = st->hw_decode || e.in[i].hw;
        st->cover_written = rc == VODQ_OK && e.cover != NULL;
        st->elapsed_s = eng_now() - e.t0;
        st->fps = st->elapsed_s > 0 ? (double)e.frames / st->elapsed_s : 0;
    }
    eng_cleanup(&e);
    return rc;
}
