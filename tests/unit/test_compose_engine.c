/* test_compose_engine.c: the render engine through the compose executor
 * (compose.c -> timeline -> plan -> engine.c), on media generated with the
 * ffmpeg command line: the output decodes (read back with libavformat) with
 * the asked size, rate, duration and BT.709 tags and a sound track; pause
 * holds progress; cancel and yield leave no file; a missing and a corrupt
 * input fail naming the file; an input that stops delivering data trips the
 * stall watchdog, which names the file and the stream it waited on. */
#include "worker/compose/compose.h"
#include "worker/compose/engine.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"

#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* LeakSanitizer (VODQ_SANITIZE builds): libx265 3.5 keeps one parameter
 * block per encoder it opens (third-party, not ours). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libx265.so\n";
}

static char dir[256];

static int setup(void **state)
{
    (void)state;
    av_log_set_level(AV_LOG_QUIET);
    snprintf(dir, sizeof(dir), "/tmp/vodq-engine-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && ffmpeg -hide_banner -nostdin -loglevel error -y "
             "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=44100 "
             "-t 2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac a.mp4 && "
             "ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i color=blue:size=200x100 "
             "-frames:v 1 p.png && head -c 20000 /dev/urandom > x.mp4 && "
             "ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i testsrc2=size=160x120:rate=25 "
             "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 8 -c:v libx264 -preset ultrafast "
             "-c:a aac -f mpegts s.ts",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- a task_io that records what the engine did ---- */

struct rec {
    int controls;         /* control() calls */
    int pause_after;      /* control returns PAUSE from this call on (0 = never) */
    int waits_to_resume;  /* wait() calls before RUN again */
    int cancel_after;     /* control returns cancel_ctl from this call on (0 = never) */
    enum vodq_ctl cancel_ctl;
    bool paused;
    int waits;
    int progress_calls, progress_while_paused;
    int64_t last_done, total;
    bool backwards, full_before_end;
    char extra[128];
};

static enum vodq_rc rec_progress(void *opaque, int64_t done, int64_t total, const char *extra)
{
    struct rec *r = opaque;
    r->progress_calls++;
    if (r->paused)
        r->progress_while_paused++;
    if (done < r->last_done)
        r->backwards = true;
    r->last_done = done;
    r->total = total;
    if (extra)
        snprintf(r->extra, sizeof(r->extra), "%s", extra);
    return VODQ_OK;
}

static enum vodq_ctl rec_control(void *opaque)
{
    struct rec *r = opaque;
    r->controls++;
    if (r->cancel_after > 0 && r->controls >= r->cancel_after)
        return r->cancel_ctl;
    if (r->pause_after > 0 && r->controls >= r->pause_after && r->waits < r->waits_to_resume) {
        r->paused = true;
        return VODQ_CTL_PAUSE;
    }
    return VODQ_CTL_RUN;
}

static enum vodq_ctl rec_wait(void *opaque, int timeout_ms)
{
    struct rec *r = opaque;
    (void)timeout_ms;
    usleep(20000);
    r->waits++;
    if (r->waits >= r->waits_to_resume) {
        r->paused = false;
        return VODQ_CTL_RUN;
    }
    return VODQ_CTL_PAUSE;
}

static enum vodq_rc run(const char *timeline, const char *out, struct rec *r, char **result,
                        struct vodq_err *err)
{
    char spec[4096], outp[512];
    struct vodq_task_io io;
    struct vodq_task_result res = {NULL};

    memset(&io, 0, sizeof(io));
    io.opaque = r;
    io.progress = rec_progress;
    io.control = rec_control;
    io.wait = rec_wait;
    io.job_id = "";
    io.attempt = 1;
    snprintf(outp, sizeof(outp), "%s/%s", dir, out);
    snprintf(spec, sizeof(spec), "{\"timeline\": %s, \"output\": \"%s\"}", timeline, outp);
    enum vodq_rc rc = vodq_compose_run(spec, &io, &res, err);
    if (result)
        *result = res.result_json;
    else
        free(res.result_json);
    return rc;
}

static const char *TL_MAIN =
    "{\"version\":1,\"tracks\":[{\"clips\":["
    "{\"type\":\"video\",\"src\":\"a.mp4\",\"in\":0.5,\"out\":1.5},"
    "{\"type\":\"image\",\"src\":\"p.png\",\"duration\":0.6},"
    "{\"type\":\"video\",\"src\":\"a.mp4\"}]}],"
    "\"output\":{\"width\":320,\"height\":240,\"fps\":25,\"preset\":\"ultrafast\"}}";

/* Files in dir whose name starts with prefix. */
static int count_files(const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void test_render(void **state)
{
    struct rec r = {0};
    struct vodq_err err = {0};
    char *result = NULL, path[512];
    (void)state;

    enum vodq_rc rc = run(TL_MAIN, "out.mp4", &r, &result, &err);
    if (rc != VODQ_OK)
        print_error("render: %s\n", err.msg);
    assert_int_equal(rc, VODQ_OK);
    assert_non_null(result);
    assert_non_null(strstr(result, "\"frames\":90"));
    assert_non_null(strstr(result, "\"encoder\":\"libx264\""));
    assert_non_null(strstr(result, "\"width\":320"));
    free(result);
    assert_false(r.backwards);
    assert_int_equal(r.total, 3600);
    assert_int_equal(r.last_done, 3600); /* 100 % at the end */
    assert_non_null(strstr(r.extra, "\"frames\":90"));
    assert_int_equal(count_files("out.mp4.part"), 0);

    /* read it back */
    snprintf(path, sizeof(path), "%s/out.mp4", dir);
    AVFormatContext *fmt = NULL;
    assert_int_equal(avformat_open_input(&fmt, path, NULL, NULL), 0);
    assert_true(avformat_find_stream_info(fmt, NULL) >= 0);
    int v = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int a = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    assert_true(v >= 0);
    assert_true(a >= 0);
    AVStream *vs = fmt->streams[v], *as = fmt->streams[a];
    assert_int_equal(vs->codecpar->codec_id, AV_CODEC_ID_H264);
    assert_int_equal(vs->codecpar->width, 320);
    assert_int_equal(vs->codecpar->height, 240);
    assert_int_equal(vs->avg_frame_rate.num * 1, 25 * vs->avg_frame_rate.den);
    assert_int_equal(vs->codecpar->color_primaries, AVCOL_PRI_BT709);
    assert_int_equal(vs->codecpar->color_trc, AVCOL_TRC_BT709);
    assert_int_equal(vs->codecpar->color_space, AVCOL_SPC_BT709);
    assert_int_equal(vs->codecpar->color_range, AVCOL_RANGE_MPEG);
    assert_int_equal(as->codecpar->codec_id, AV_CODEC_ID_AAC);
    /* count the packets and find where each stream ends */
    AVPacket *pkt = av_packet_alloc();
    int64_t vframes = 0, vend = 0, aend = 0;
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == v) {
            vframes++;
            int64_t e = av_rescale_q(pkt->pts + pkt->duration, vs->time_base, (AVRational){1, 1000000});
            if (e > vend)
                vend = e;
        } else if (pkt->stream_index == a) {
            int64_t e = av_rescale_q(pkt->pts + pkt->duration, as->time_base, (AVRational){1, 1000000});
            if (e > aend)
                aend = e;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    assert_int_equal(vframes, 90); /* 1 + 0.6 + 2 s at 25 fps */
    assert_true(llabs(vend - 3600000) <= 40000);
    assert_true(llabs(aend - 3600000) <= 40000);
}

static void test_pause(void **state)
{
    struct rec r = {0};
    struct vodq_err err = {0};
    (void)state;

    r.pause_after = 30;
    r.waits_to_resume = 8;
    enum vodq_rc rc = run(TL_MAIN, "paused.mp4", &r, NULL, &err);
    if (rc != VODQ_OK)
        print_error("render: %s\n", err.msg);
    assert_int_equal(rc, VODQ_OK);
    assert_int_equal(r.waits, 8); /* it waited while paused, then went on */
    assert_int_equal(r.progress_while_paused, 0);
    assert_int_equal(r.last_done, r.total);
    assert_int_equal(count_files("paused.mp4"), 1);
}

static void test_cancel(void **state)
{
    struct rec r = {0};
    struct vodq_err err = {0};
    (void)state;

    r.cancel_after = 40;
    r.cancel_ctl = VODQ_CTL_CANCEL;
    assert_int_equal(run(TL_MAIN, "cancel.mp4", &r, NULL, &err), VODQ_ERR_CANCELLED);
    assert_true(r.last_done < r.total || r.total == 0);
    assert_int_equal(count_files("cancel.mp4"), 0); /* neither the output nor its temp file */

    memset(&r, 0, sizeof(r));
    r.cancel_after = 40;
    r.cancel_ctl = VODQ_CTL_YIELD;
    assert_int_equal(run(TL_MAIN, "yield.mp4", &r, NULL, &err), VODQ_ERR_PAUSED);
    assert_int_equal(count_files("yield.mp4"), 0);
}

static void test_missing_input(void **state)
{
    struct rec r = {0};
    struct vodq_err err = {0};
    (void)state;

    enum vodq_rc rc = run("{\"version\":1,\"tracks\":[{\"clips\":["
                          "{\"type\":\"video\",\"src\":\"nothere.mp4\"}]}],"
                          "\"output\":{\"width\":320,\"height\":240,\"fps\":25}}",
                          "missing.mp4", &r, NULL, &err);
    assert_int_not_equal(rc, VODQ_OK);
    assert_true(err.permanent);
    assert_non_null(strstr(err.msg, "nothere.mp4"));
    assert_int_equal(count_files("missing.mp4"), 0);
}

static void test_corrupt_input(void **state)
{
    struct rec r = {0};
    struct vodq_err err = {0};
    (void)state;

    enum vodq_rc rc = run("{\"version\":1,\"tracks\":[{\"clips\":["
                          "{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":0.5},"
                          "{\"type\":\"video\",\"src\":\"x.mp4\"}]}],"
                          "\"output\":{\"width\":320,\"height\":240,\"fps\":25}}",
                          "corrupt.mp4", &r, NULL, &err);
    assert_int_not_equal(rc, VODQ_OK);
    assert_non_null(strstr(err.msg, "x.mp4"));
    assert_int_equal(count_files("corrupt.mp4"), 0);
}

static void test_bad_spec(void **state)
{
    struct vodq_task_io io;
    struct vodq_task_result res = {NULL};
    struct vodq_err err = {0};
    (void)state;

    memset(&io, 0, sizeof(io));
    assert_int_equal(vodq_compose_run("{\"timeline\":{}}", &io, &res, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "output"));
    assert_true(err.permanent);
    assert_null(res.result_json);
    memset(&err, 0, sizeof(err));
    char spec[512];
    snprintf(spec, sizeof(spec),
             "{\"output\":\"%s/bad.mp4\",\"timeline\":{\"version\":1,\"tracks\":[{\"clips\":["
             "{\"type\":\"video\",\"src\":\"a.mp4\",\"speed\":9}]}]}}",
             dir);
    assert_int_equal(vodq_compose_run(spec, &io, &res, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "tracks[0].clips[0].speed"));
    assert_true(err.permanent);    memset(&err, 0, sizeof(err));
    snprintf(spec, sizeof(spec),
             "{\"output\":\"%s/bad.mp4\",\"stall_timeout\":0,\"timeline\":{\"version\":1,"
             "\"tracks\":[{\"clips\":[{\"type\":\"video\",\"src\":\"a.mp4\"}]}]}}",
             dir);
    assert_int_equal(vodq_compose_run(spec, &io, &res, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "compose.stall_timeout"));
    assert_true(err.permanent);
}

/* An input that stops delivering data (a FIFO whose writer sends the first
 * half of the file, then nothing for 4 s): with a 1 s stall timeout the
 * render fails with VODQ_ERR_TIMEOUT well before the writer gives up,
 * naming the file and the stream it waited on, and leaves no output. */
static void test_stall(void **state)
{
    char json[512], fifo[300], cmd[1400], out[300];
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_err err = {0};
    struct stat st;
    struct timespec t0, t1;
    (void)state;

    memset(&tl, 0, sizeof(tl));
    memset(&plan, 0, sizeof(plan));
    snprintf(json, sizeof(json),
             "{\"version\":1,\"tracks\":[{\"clips\":[{\"type\":\"video\",\"src\":\"s.ts\"}]}],"
             "\"output\":{\"width\":160,\"height\":120,\"fps\":25,\"preset\":\"ultrafast\"}}");
    assert_int_equal(vodq_timeline_parse(json, strlen(json), dir, &tl, &err), VODQ_OK);
    assert_int_equal(vodq_timeline_probe(&tl, &err), VODQ_OK);
    assert_int_equal(vodq_plan_build(&tl, &plan, &err), VODQ_OK);
    /* the engine reads the same file through a FIFO that stalls halfway */
    snprintf(fifo, sizeof(fifo), "%s/stall.ts", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(out, sizeof(out), "%s/s.ts", dir);
    assert_int_equal(stat(out, &st), 0);
    free(plan.inputs[0].path);
    plan.inputs[0].path = strdup(fifo);
    assert_non_null(plan.inputs[0].path);
    snprintf(cmd, sizeof(cmd), "(head -c %lld '%s'; sleep 4) > '%s'", (long long)st.st_size / 2,
             out, fifo);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    struct vodq_engine_opts o = {0};
    o.stall_timeout_s = 1;
    snprintf(out, sizeof(out), "%s/stall.mp4", dir);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum vodq_rc rc = vodq_engine_render(&plan, out, &o, NULL, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int status = 0;
    waitpid(pid, &status, 0);
    if (rc != VODQ_ERR_TIMEOUT)
        print_error("render: %d %s\n", rc, err.msg);
    assert_int_equal(rc, VODQ_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "stall.ts"));
    assert_non_null(strstr(err.msg, "no progress for"));
    assert_true(strstr(err.msg, "video stream (#") || strstr(err.msg, "audio stream (#"));
    /* the watchdog fired (about 1 s after the data stopped); the writer's
     * 4 s only bound the join of the blocked input thread */
    assert_true((double)(t1.tv_sec - t0.tv_sec) < 30);
    assert_int_equal(count_files("stall.mp4"), 0);
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),         cmocka_unit_test(test_pause),
        cmocka_unit_test(test_cancel),         cmocka_unit_test(test_missing_input),
        cmocka_unit_test(test_corrupt_input),  cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_stall),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
