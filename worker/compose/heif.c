/* heif.c: HEIF/HEIC stills through libheif (heif.h). */
#include "worker/compose/heif.h"

#include <libheif/heif.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool vodq_heif_detect(const char *path)
{
    uint8_t head[64];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return false;
    n = fread(head, 1, sizeof(head), f);
    fclose(f);
    if (n < 12 || memcmp(head + 4, "ftyp", 4) != 0)
        return false;
    enum heif_filetype_result r = heif_check_filetype(head, (int)n);
    return r == heif_filetype_yes_supported || r == heif_filetype_yes_unsupported;
}

/* Opens path and its primary image handle. */
static enum vodq_rc heif_open(const char *path, struct heif_context **ctx,
                              struct heif_image_handle **h, struct vodq_err *err)
{
    struct heif_error e;

    *h = NULL;
    *ctx = heif_context_alloc();
    if (*ctx == NULL)
        return vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    e = heif_context_read_from_file(*ctx, path, NULL);
    if (e.code == heif_error_Ok)
        e = heif_context_get_primary_image_handle(*ctx, h);
    if (e.code != heif_error_Ok)
        return vodq_err_set(err, VODQ_ERR_MEDIA, 0, "%s: cannot read the HEIF image: %s", path,
                            e.message ? e.message : "unknown error");
    return VODQ_OK;
}

static void heif_close(struct heif_context *ctx, struct heif_image_handle *h)
{
    if (h)
        heif_image_handle_release(h);
    if (ctx)
        heif_context_free(ctx);
}

enum vodq_rc vodq_heif_size(const char *path, int *width, int *height, struct vodq_err *err)
{
    struct heif_context *ctx;
    struct heif_image_handle *h;
    enum vodq_rc rc = heif_open(path, &ctx, &h, err);

    if (rc == VODQ_OK) {
        *width = heif_image_handle_get_width(h);
        *height = heif_image_handle_get_height(h);
        if (*width <= 0 || *height <= 0)
            rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0, "%s: the HEIF image has no size", path);
    }
    heif_close(ctx, h);
    return rc;
}

/* Writes the interleaved 8-bit picture (channels 3 or 4) as PAM to f. */
static bool write_pam(FILE *f, const uint8_t *px, int stride, int w, int h, int channels)
{
    if (fprintf(f, "P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL 255\nTUPLTYPE %s\nENDHDR\n", w, h,
                channels, channels == 4 ? "RGB_ALPHA" : "RGB") < 0)
        return false;
    for (int y = 0; y < h; y++)
        if (fwrite(px + (size_t)y * (size_t)stride, (size_t)channels, (size_t)w, f) != (size_t)w)
            return false;
    return true;
}

enum vodq_rc vodq_heif_to_pam(const char *path, const char *dir, char *out, size_t size,
                              struct vodq_err *err)
{
    struct heif_context *ctx;
    struct heif_image_handle *h;
    struct heif_image *img = NULL;
    enum vodq_rc rc = heif_open(path, &ctx, &h, err);
    FILE *f = NULL;
    int fd = -1;

    out[0] = '\0';
    if (rc != VODQ_OK)
        goto done;
    bool alpha = heif_image_handle_has_alpha_channel(h) != 0;
    /* NULL options: the transformations (irot, imir, clap) are applied */
    struct heif_error e =
        heif_decode_image(h, &img, heif_colorspace_RGB,
                          alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, NULL);
    if (e.code != heif_error_Ok) {
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0, "%s: cannot decode the HEIF image: %s", path,
                          e.message ? e.message : "unknown error");
        goto done;
    }
    int stride = 0;
    const uint8_t *px = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    int w = heif_image_get_width(img, heif_channel_interleaved);
    int ht = heif_image_get_height(img, heif_channel_interleaved);
    if (px == NULL || w <= 0 || ht <= 0 ||
        heif_image_get_bits_per_pixel_range(img, heif_channel_interleaved) != 8) {
        rc = vodq_err_set(err, VODQ_ERR_MEDIA, 0, "%s: the HEIF image decoded to no picture",
                          path);
        goto done;
    }
    if (dir == NULL || dir[0] == '\0')
        dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    if ((size_t)snprintf(out, size, "%s/vodq-heif-XXXXXX.pam", dir) >= size) {
        out[0] = '\0';
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "temporary folder name too long: %s", dir);
        goto done;
    }
    fd = mkstemps(out, 4);
    if (fd < 0 || (f = fdopen(fd, "wb")) == NULL) {
        int en = errno;
        rc = vodq_err_set(err, VODQ_ERR_IO, en, "%s: cannot create a temporary file in %s: %s",
                          path, dir, strerror(en));
        if (fd >= 0) {
            close(fd);
            unlink(out);
        }
        out[0] = '\0';
        goto done;
    }
    bool ok = write_pam(f, px, stride, w, ht, alpha ? 4 : 3);
    if (fclose(f) != 0)
        ok = false;
    if (!ok) {
        int en = errno;
        rc = vodq_err_set(err, VODQ_ERR_IO, en, "%s: cannot write the decoded picture to %s: %s",
                          path, out, strerror(en));
        unlink(out);
        out[0] = '\0';
    }
done:
    if (img)
        heif_image_release(img);
    heif_close(ctx, h);
    return rc;
}
