/* input.h: opening a timeline's source file for FFmpeg, following a file
 * that a progressive download is still writing.
 *
 * A path the compose resolver handed over while its download runs
 * (vodq_compose_resolver.grow_open gives a descriptor of the growing file)
 * is read through a custom AVIOContext whose reads wait, bounded, for the
 * bytes not yet written (grow_wait); seeks are free and a seek past the
 * downloaded bytes just waits on the next read. Any other path opens as
 * avformat_open_input() would. */
#ifndef VODQ_COMPOSE_INPUT_H
#define VODQ_COMPOSE_INPUT_H

#include "worker/compose/compose.h"

#include <libavformat/avformat.h>

/* The resolver whose progressive sources inputs follow (copied; NULL: none).
 * Set by vodq_compose_set_resolver(). */
void vodq_input_set_resolver(const struct vodq_compose_resolver *r);

/* As avformat_open_input(fmt, path, NULL, NULL): 0 or an AVERROR. A read
 * of a growing file fails with AVERROR(EIO) when its download failed (the
 * resolver's grow_error then says why) and AVERROR(ETIMEDOUT) when no byte
 * arrived for VODQ_INPUT_STALL_MS. */
int vodq_input_open(AVFormatContext **fmt, const char *path);

/* As avformat_close_input(), also freeing what vodq_input_open() added. */
void vodq_input_close(AVFormatContext **fmt);

#define VODQ_INPUT_STALL_MS 120000

#endif
