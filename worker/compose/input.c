/* input.c: opening a timeline's source for FFmpeg, following a growing
 * download (see input.h). */
#include "worker/compose/input.h"

#include <libavutil/mem.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GR_BUF (64 * 1024)
#define GR_WAIT_MS 200

static struct vodq_compose_resolver res; /* set once at start-up */

void vodq_input_set_resolver(const struct vodq_compose_resolver *r)
{
    if (r)
        res = *r;
    else
        memset(&res, 0, sizeof(res));
}

/* A file being downloaded: read at pos, waiting for bytes past avail. */
struct gr {
    int fd;
    char *path;
    int64_t pos, size, avail;
};

static int gr_read(void *opaque, uint8_t *buf, int size)
{
    struct gr *g = opaque;
    int waited_ms = 0;
    if (g->pos >= g->size)
        return AVERROR_EOF;
    while (g->avail <= g->pos) {
        struct vodq_err e = {0};
        int64_t a = res.grow_wait(res.arg, g->path, g->pos + 1, GR_WAIT_MS, &e);
        if (a < 0)
            return AVERROR(EIO); /* the download failed: grow_error says why */
        if (a == INT64_MAX)
            a = g->size; /* complete */
        if (a > g->avail) {
            g->avail = a;
            waited_ms = 0;
        } else if ((waited_ms += GR_WAIT_MS) >= VODQ_INPUT_STALL_MS) {
            return AVERROR(ETIMEDOUT);
        }
    }
    int64_t n = g->avail - g->pos;
    if (n > size)
        n = size;
    ssize_t r = pread(g->fd, buf, (size_t)n, (off_t)g->pos);
    if (r < 0)
        return AVERROR(errno);
    if (r == 0)
        return AVERROR_EOF;
    g->pos += r;
    return (int)r;
}

static int64_t gr_seek(void *opaque, int64_t off, int whence)
{
    struct gr *g = opaque;
    int64_t p;
    if (whence & AVSEEK_SIZE)
        return g->size;
    switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: p = off; break;
    case SEEK_CUR: p = g->pos + off; break;
    case SEEK_END: p = g->size + off; break;
    default: return AVERROR(EINVAL);
    }
    if (p < 0)
        return AVERROR(EINVAL);
    g->pos = p;
    return p;
}

static void gr_free(AVIOContext *pb)
{
    struct gr *g = pb->opaque;
    if (g) {
        close(g->fd);
        free(g->path);
        free(g);
    }
    av_freep(&pb->buffer);
    avio_context_free(&pb);
}

int vodq_input_open(AVFormatContext **fmt, const char *path)
{
    int64_t size = -1;
    int fd = res.grow_open && res.grow_wait ? res.grow_open(res.arg, path, &size) : -1;
    if (fd < 0)
        return avformat_open_input(fmt, path, NULL, NULL);
    struct gr *g = calloc(1, sizeof(*g));
    unsigned char *buf = av_malloc(GR_BUF);
    AVIOContext *pb = NULL;
    AVFormatContext *s = avformat_alloc_context();
    if (g) {
        g->fd = fd;
        g->size = size;
        g->path = strdup(path);
    }
    if (g && g->path && buf && s)
        pb = avio_alloc_context(buf, GR_BUF, 0, g, gr_read, NULL, gr_seek);
    if (!pb) {
        av_free(buf);
        if (g)
            free(g->path);
        free(g);
        close(fd);
        avformat_free_context(s);
        return AVERROR(ENOMEM);
    }
    s->pb = pb;
    int ret = avformat_open_input(&s, path, NULL, NULL); /* frees s on failure */
    if (ret < 0) {
        gr_free(pb);
        return ret;
    }
    *fmt = s;
    return 0;
}

void vodq_input_close(AVFormatContext **fmt)
{
    AVIOContext *pb = *fmt && ((*fmt)->flags & AVFMT_FLAG_CUSTOM_IO) && (*fmt)->pb &&
                              (*fmt)->pb->read_packet == gr_read
                          ? (*fmt)->pb
                          : NULL;
    avformat_close_input(fmt);
    if (pb)
        gr_free(pb);
}
