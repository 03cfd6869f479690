/* heif.h: HEIF/HEIC (and AVIF) still images through libheif, the only file
 * that includes libheif's headers.
 *
 * FFmpeg 5.1 has no HEIF demuxer: its mov demuxer sees an iPhone photo's
 * HEVC tiles but not the image items, grid or transforms. libheif decodes
 * the primary image with its grid tiles assembled and its transformations
 * (irot rotation, imir mirror, clap crop) applied; the picture is written as
 * an 8-bit PAM file (RGB, or RGBA with an alpha plane), which the engine then
 * reads like any still (FFmpeg's image2 demuxer). */
#ifndef VODQ_COMPOSE_HEIF_H
#define VODQ_COMPOSE_HEIF_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>

/* True when the file at path starts like a HEIF file (an ISO BMFF ftyp box
 * whose brands libheif reads: heic, heix, mif1, avif, ...). False for every
 * other file and for files that cannot be read. */
bool vodq_heif_detect(const char *path);

/* Size of the primary image as displayed (after its transformations);
 * VODQ_ERR_MEDIA naming the file when libheif cannot read it. */
enum vodq_rc vodq_heif_size(const char *path, int *width, int *height, struct vodq_err *err);

/* Decodes the primary image of path and writes it as a PAM file in dir
 * (NULL = $TMPDIR or /tmp) under a new unique name, stored in out (size
 * bytes); the caller removes it. Errors name the file and say what libheif
 * found wrong (VODQ_ERR_MEDIA), or the I/O failure (VODQ_ERR_IO). */
enum vodq_rc vodq_heif_to_pam(const char *path, const char *dir, char *out, size_t size,
                              struct vodq_err *err);

#endif
