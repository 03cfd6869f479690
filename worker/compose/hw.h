/* hw.h: which video encoders this machine can really use.
 *
 * The probe opens every candidate encoder (h264_nvenc, hevc_nvenc with a
 * CUDA device; h264_vaapi, hevc_vaapi with a VAAPI device; libx264,
 * libx265) on a tiny frame and encodes it; a failure keeps FFmpeg's own
 * answer. The result is computed once per process and cached. */
#ifndef VODQ_COMPOSE_HW_H
#define VODQ_COMPOSE_HW_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Returns the probe as a new malloc'd JSON object text:
 * {"gpu":{"cuda":B,"vaapi":B},"nvdec":B,
 *  "encoders":{"h264":[names...],"hevc":[names...]},
 *  "details":{"h264_nvenc":"FFmpeg's answer",...}}
 * (encoders lists the usable ones, best first; details has every encoder
 * that failed). NULL only when out of memory. */
char *vodq_hw_probe_json(void);

/* True when a CUDA device opens (NVDEC decoding is then tried). */
bool vodq_hw_cuda_available(void);

/* Picks the video encoder for codec ("h264" or "hevc"): requested "auto"
 * (or NULL / "") takes NVENC, then VAAPI, then software; a named encoder is
 * opened on a test frame and must work. Writes the name to name (size
 * bytes). Errors name the encoder and quote FFmpeg's answer. */
enum vodq_rc vodq_hw_pick(const char *codec, const char *requested, char *name, size_t size,
                          struct vodq_err *err);

/* True for the VAAPI encoders (frames must be uploaded to the device). */
bool vodq_hw_is_vaapi(const char *encoder);

#endif
