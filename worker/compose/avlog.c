/* avlog.c: FFmpeg's log messages through vodq's logger (av_log_set_callback). */
#include "worker/compose/avlog.h"

#include "shared/log.h"

#include <libavutil/log.h>

#include <stdio.h>
#include <string.h>

/* One FFmpeg line being assembled on this thread: FFmpeg may log a line in
 * several calls, and the "[h264 @ 0x...]" prefix only on the first. */
static _Thread_local char line[1024];
static _Thread_local size_t line_len;
static _Thread_local int print_prefix = 1;

static enum vodq_log_level map_level(int av_level)
{
    if (av_level <= AV_LOG_ERROR)
        return VODQ_LOG_ERROR;
    if (av_level <= AV_LOG_WARNING)
        return VODQ_LOG_WARN;
    return VODQ_LOG_DEBUG;
}

static void av_callback(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > av_log_get_level())
        return;
    if (level > AV_LOG_INFO && !vodq_log_enabled(VODQ_LOG_DEBUG))
        return;
    enum vodq_log_level lv = map_level(level);
    if (!vodq_log_enabled(lv)) {
        print_prefix = 1; /* a dropped line still ends; keep the state right */
        line_len = 0;
        return;
    }
    char part[1024];
    av_log_format_line2(avcl, level, fmt, vl, part, sizeof(part), &print_prefix);
    size_t n = strlen(part);
    if (n > sizeof(line) - 1 - line_len)
        n = sizeof(line) - 1 - line_len;
    memcpy(line + line_len, part, n);
    line_len += n;
    line[line_len] = '\0';
    if (line_len > 0 && (line[line_len - 1] == '\n' || line_len == sizeof(line) - 1)) {
        vodq_log(lv, "ffmpeg: %s", line);
        line_len = 0;
    }
}

void vodq_compose_log_init(void)
{
    av_log_set_callback(av_callback);
}
