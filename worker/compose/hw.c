/* hw.c: encoder probe (hw.h). */
#include "worker/compose/hw.h"

#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
#include <libavutil/opt.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define HW_N 6

static const char *const hw_names[HW_N] = {"h264_nvenc", "h264_vaapi", "libx264",
                                           "hevc_nvenc", "hevc_vaapi", "libx265"};

struct hw_probe {
    bool cuda, vaapi;
    char cuda_msg[160], vaapi_msg[160];
    bool tried[HW_N]; /* opened once (hw_enc_ok) */
    bool ok[HW_N];
    char msg[HW_N][200];
};

static struct hw_probe probe;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

bool vodq_hw_is_vaapi(const char *encoder)
{
    return encoder && strstr(encoder, "_vaapi") != NULL;
}

static bool is_nvenc(const char *encoder)
{
    return strstr(encoder, "_nvenc") != NULL;
}

/* Opens encoder name on a 256x256 frame and encodes it; returns 0 or an
 * AVERROR with msg filled. */
static int hw_try(const char *name, char *msg, size_t size)
{
    const AVCodec *c = avcodec_find_encoder_by_name(name);
    AVCodecContext *ctx = NULL;
    AVBufferRef *dev = NULL, *frames = NULL;
    AVFrame *f = NULL, *hwf = NULL;
    AVPacket *pkt = NULL;
    AVDictionary *opts = NULL;
    int ret;

    if (c == NULL) {
        snprintf(msg, size, "encoder not in this FFmpeg build");
        return AVERROR_ENCODER_NOT_FOUND;
    }
    if (is_nvenc(name)) {
        ret = av_hwdevice_ctx_create(&dev, AV_HWDEVICE_TYPE_CUDA, NULL, NULL, 0);
        if (ret < 0) {
            snprintf(msg, size, "no CUDA device: %s", av_err2str(ret));
            return ret;
        }
    } else if (vodq_hw_is_vaapi(name)) {
        ret = av_hwdevice_ctx_create(&dev, AV_HWDEVICE_TYPE_VAAPI, NULL, NULL, 0);
        if (ret < 0) {
            snprintf(msg, size, "no VAAPI device: %s", av_err2str(ret));
            return ret;
        }
    }
    ctx = avcodec_alloc_context3(c);
    f = av_frame_alloc();
    pkt = av_packet_alloc();
    if (ctx == NULL || f == NULL || pkt == NULL) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    ctx->width = f->width = 256;
    ctx->height = f->height = 256;
    ctx->time_base = (AVRational){1, 25};
    ctx->framerate = (AVRational){25, 1};
    ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    f->format = AV_PIX_FMT_YUV420P;
    if (vodq_hw_is_vaapi(name)) {
        frames = av_hwframe_ctx_alloc(dev);
        if (frames == NULL) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        AVHWFramesContext *fc = (AVHWFramesContext *)frames->data;
        fc->format = AV_PIX_FMT_VAAPI;
        fc->sw_format = AV_PIX_FMT_NV12;
        fc->width = fc->height = 256;
        fc->initial_pool_size = 4;
        if ((ret = av_hwframe_ctx_init(frames)) < 0)
            goto fail;
        ctx->pix_fmt = AV_PIX_FMT_VAAPI;
        ctx->hw_frames_ctx = av_buffer_ref(frames);
        f->format = AV_PIX_FMT_NV12;
    } else if (dev != NULL) {
        ctx->hw_device_ctx = av_buffer_ref(dev);
    }
    if (strcmp(name, "libx265") == 0)
        av_dict_set(&opts, "x265-params", "log-level=none", 0);
    ret = avcodec_open2(ctx, c, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        goto fail;
    if ((ret = av_frame_get_buffer(f, 0)) < 0)
        goto fail;
    for (int p = 0; p < 4 && f->data[p]; p++)
        memset(f->data[p], 128, (size_t)f->linesize[p] * (p ? 128 : 256));
    f->pts = 0;
    if (frames) {
        hwf = av_frame_alloc();
        if (hwf == NULL) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        if ((ret = av_hwframe_get_buffer(frames, hwf, 0)) < 0 ||
            (ret = av_hwframe_transfer_data(hwf, f, 0)) < 0)
            goto fail;
        hwf->pts = 0;
    }
    if ((ret = avcodec_send_frame(ctx, hwf ? hwf : f)) < 0 || (ret = avcodec_send_frame(ctx, NULL)) < 0)
        goto fail;
    ret = avcodec_receive_packet(ctx, pkt);
    if (ret == 0)
        msg[0] = '\0';
fail:
    if (ret < 0)
        snprintf(msg, size, "%s", av_err2str(ret));
    av_packet_free(&pkt);
    av_frame_free(&hwf);
    av_frame_free(&f);
    avcodec_free_context(&ctx);
    av_buffer_unref(&frames);
    av_buffer_unref(&dev);
    return ret;
}

/* The devices, probed once. */
static void hw_probe_devices(void)
{
    AVBufferRef *dev = NULL;
    int ret;

    ret = av_hwdevice_ctx_create(&dev, AV_HWDEVICE_TYPE_CUDA, NULL, NULL, 0);
    probe.cuda = ret >= 0;
    if (ret < 0)
        snprintf(probe.cuda_msg, sizeof(probe.cuda_msg), "%s", av_err2str(ret));
    av_buffer_unref(&dev);
    ret = av_hwdevice_ctx_create(&dev, AV_HWDEVICE_TYPE_VAAPI, NULL, NULL, 0);
    probe.vaapi = ret >= 0;
    if (ret < 0)
        snprintf(probe.vaapi_msg, sizeof(probe.vaapi_msg), "%s", av_err2str(ret));
    av_buffer_unref(&dev);
}

static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;

/* Opens encoder i once (a render that picks libx264 never pays for
 * opening libx265); returns whether it works. */
static bool hw_enc_ok(int i)
{
    pthread_once(&probe_once, hw_probe_devices);
    pthread_mutex_lock(&probe_mu);
    if (!probe.tried[i]) {
        /* no device, no need to try: FFmpeg's answer is the device's */
        bool nv = is_nvenc(hw_names[i]), va = vodq_hw_is_vaapi(hw_names[i]);
        if ((nv && !probe.cuda) || (va && !probe.vaapi))
            snprintf(probe.msg[i], sizeof(probe.msg[i]), "no %s device: %s", nv ? "CUDA" : "VAAPI",
                     nv ? probe.cuda_msg : probe.vaapi_msg);
        else
            probe.ok[i] = hw_try(hw_names[i], probe.msg[i], sizeof(probe.msg[i])) >= 0;
        probe.tried[i] = true;
    }
    bool ok = probe.ok[i];
    pthread_mutex_unlock(&probe_mu);
    return ok;
}

static const struct hw_probe *hw_get(void)
{
    for (int i = 0; i < HW_N; i++)
        hw_enc_ok(i);
    return &probe;
}

bool vodq_hw_cuda_available(void)
{
    pthread_once(&probe_once, hw_probe_devices);
    return probe.cuda;
}

char *vodq_hw_probe_json(void)
{
    const struct hw_probe *p = hw_get();
    cJSON *root = cJSON_CreateObject();
    cJSON *gpu = cJSON_AddObjectToObject(root, "gpu");
    cJSON *enc = cJSON_AddObjectToObject(root, "encoders");
    cJSON *h264 = cJSON_AddArrayToObject(enc, "h264");
    cJSON *hevc = cJSON_AddArrayToObject(enc, "hevc");
    cJSON *details = cJSON_AddObjectToObject(root, "details");
    char *s = NULL;

    if (root == NULL || gpu == NULL || enc == NULL || h264 == NULL || hevc == NULL ||
        details == NULL)
        goto out;
    cJSON_AddBoolToObject(gpu, "cuda", p->cuda);
    cJSON_AddBoolToObject(gpu, "vaapi", p->vaapi);
    cJSON_AddBoolToObject(root, "nvdec", p->cuda);
    if (!p->cuda)
        cJSON_AddStringToObject(details, "cuda", p->cuda_msg);
    if (!p->vaapi)
        cJSON_AddStringToObject(details, "vaapi", p->vaapi_msg);
    for (int i = 0; i < HW_N; i++) {
        if (p->ok[i])
            cJSON_AddItemToArray(i < 3 ? h264 : hevc, cJSON_CreateString(hw_names[i]));
        else
            cJSON_AddStringToObject(details, hw_names[i], p->msg[i]);
    }
    /* capability tags (a compose spec may "require" them; the queue routes by them):
     * nvenc/vaapi/x264/x265 when such an encoder opened, nvdec and cuda_filters when a
     * CUDA device opened (NVDEC decoding and the CUDA scale/overlay filters need no
     * NVENC: an H100/H200 has them) */
    cJSON *tags = cJSON_AddArrayToObject(root, "tags");
    if (tags == NULL)
        goto out;
    bool nvenc = false, vaapi = false;
    for (int i = 0; i < HW_N; i++) {
        nvenc |= p->ok[i] && strstr(hw_names[i], "nvenc") != NULL;
        vaapi |= p->ok[i] && strstr(hw_names[i], "vaapi") != NULL;
    }
    if (nvenc)
        cJSON_AddItemToArray(tags, cJSON_CreateString("nvenc"));
    if (p->cuda) {
        cJSON_AddItemToArray(tags, cJSON_CreateString("nvdec"));
        cJSON_AddItemToArray(tags, cJSON_CreateString("cuda_filters"));
    }
    if (vaapi)
        cJSON_AddItemToArray(tags, cJSON_CreateString("vaapi"));
    for (int i = 0; i < HW_N; i++)
        if (p->ok[i] && !strncmp(hw_names[i], "lib", 3))
            cJSON_AddItemToArray(tags, cJSON_CreateString(hw_names[i] + 3));
    s = cJSON_PrintUnformatted(root);
out:
    cJSON_Delete(root);
    return s;
}

enum vodq_rc vodq_hw_pick(const char *codec, const char *requested, char *name, size_t size,
                          struct vodq_err *err)
{
    const struct hw_probe *p = &probe;
    int base;

    if (codec == NULL || (strcmp(codec, "h264") != 0 && strcmp(codec, "hevc") != 0))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "video codec '%s': must be h264 or hevc",
                            codec ? codec : "(null)");
    base = strcmp(codec, "h264") == 0 ? 0 : 3;
    if (requested == NULL || requested[0] == '\0' || strcmp(requested, "auto") == 0) {
        for (int i = base; i < base + 3; i++)
            if (hw_enc_ok(i)) {
                snprintf(name, size, "%s", hw_names[i]);
                return VODQ_OK;
            }
        return vodq_err_set(err, VODQ_ERR_MEDIA, 0, "no usable %s encoder: %s: %s", codec,
                            hw_names[base + 2], p->msg[base + 2]);
    }
    for (int i = 0; i < HW_N; i++)
        if (strcmp(requested, hw_names[i]) == 0) {
            if (!hw_enc_ok(i))
                return vodq_err_set(err, VODQ_ERR_MEDIA, 0, "encoder %s cannot be used: %s",
                                    requested, p->msg[i]);
            snprintf(name, size, "%s", requested);
            return VODQ_OK;
        }
    char msg[200];
    int ret = hw_try(requested, msg, sizeof(msg));
    if (ret < 0)
        return vodq_err_set(err, VODQ_ERR_MEDIA, ret, "encoder %s cannot be used: %s", requested,
                            msg);
    snprintf(name, size, "%s", requested);
    return VODQ_OK;
}
