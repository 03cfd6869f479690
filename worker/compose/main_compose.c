/* main_compose.c: vodq-compose, renders a timeline JSON to an MP4 file with
 * the in-process engine. */
#include "worker/compose/compose.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"

#include <cjson/cJSON.h>
#include <libavutil/avutil.h>
#include <libavutil/log.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* LeakSanitizer (VODQ_SANITIZE builds): libx265 3.5 keeps blocks per
 * encoder it opens (third-party, not ours). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libx265.so\n";
}

static volatile sig_atomic_t cancelled;

struct cli {
    bool tty;
    double last;
    int64_t last_pct;
};

static void on_signal(int sig)
{
    (void)sig;
    cancelled = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum vodq_rc cli_progress(void *opaque, int64_t done, int64_t total, const char *extra)
{
    struct cli *c = opaque;
    double t = now_s();
    long long frames = 0;
    double fps = 0;
    const char *p;

    if (total <= 0)
        return VODQ_OK;
    if (done < total && t - c->last < (c->tty ? 0.2 : 1.0))
        return VODQ_OK;
    c->last = t;
    if (extra && (p = strstr(extra, "\"frames\":")) != NULL)
        frames = strtoll(p + 9, NULL, 10);
    if (extra && (p = strstr(extra, "\"fps\":")) != NULL)
        fps = strtod(p + 6, NULL);
    int pct = (int)(done * 100 / total);
    if (c->tty) {
        char bar[41];
        int n = pct * 40 / 100;
        memset(bar, '#', (size_t)n);
        memset(bar + n, '.', (size_t)(40 - n));
        bar[40] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %7.2f/%.2f s  %lld frames  %.1f fps ", bar, pct,
                (double)done / 1000, (double)total / 1000, frames, fps);
        if (done >= total)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "progress %d%% %.2f/%.2f s frames=%lld fps=%.1f\n", pct,
                (double)done / 1000, (double)total / 1000, frames, fps);
    }
    fflush(stderr);
    return VODQ_OK;
}

static enum vodq_ctl cli_control(void *opaque)
{
    (void)opaque;
    return cancelled ? VODQ_CTL_CANCEL : VODQ_CTL_RUN;
}

static enum vodq_ctl cli_wait(void *opaque, int timeout_ms)
{
    usleep((useconds_t)timeout_ms * 1000);
    return cli_control(opaque);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vodq-compose [options] TIMELINE.json OUT.mp4\n"
            "       vodq-compose --probe\n"
            "Renders a timeline (JSON) to an MP4 file in process (libav*).\n"
            "  --encoder NAME        video encoder: auto (NVENC, VAAPI, then software) or an\n"
            "                        FFmpeg encoder name (libx264, h264_nvenc, ...); overrides\n"
            "                        the timeline's output.encoder\n"
            "  --json                print the result as JSON on stdout\n"
            "  --print-ffmpeg-args   print the equivalent ffmpeg command line, one argument\n"
            "                        per line, and exit without rendering\n"
            "  --probe               print the encoder probe (JSON) and exit\n"
            "  --version             print the version and exit\n"
            "  --help                this text\n"
            "SIGINT/SIGTERM cancel the render and remove the partial file.\n"
            "Exit status: 0 success, 1 failure, 2 usage, 3 cancelled.\n");
}

static int print_ffmpeg_args(const char *tl_path, const char *out, const char *encoder)
{
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_err err = {0};
    enum vodq_rc rc;
    int status = 1;

    memset(&tl, 0, sizeof(tl));
    memset(&plan, 0, sizeof(plan));
    rc = vodq_timeline_load_file(tl_path, &tl, &err);
    if (rc == VODQ_OK)
        rc = vodq_timeline_probe(&tl, &err);
    if (rc == VODQ_OK)
        rc = vodq_plan_build(&tl, &plan, &err);
    if (rc != VODQ_OK) {
        fprintf(stderr, "vodq-compose: %s: %s\n", tl_path, err.msg);
    } else {
        char **a = vodq_plan_ffmpeg_args(&plan, encoder, out);
        if (a == NULL) {
            fprintf(stderr, "vodq-compose: out of memory\n");
        } else {
            for (char **p = a; *p; p++) {
                printf("%s\n", *p);
                free(*p);
            }
            free(a);
            status = 0;
        }
    }
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
    return status;
}

int main(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *encoder = NULL;
    bool json = false, ffargs = false, probe = false;
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("vodq-compose %s (%s)\n", VODQ_VERSION, av_version_info());
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--print-ffmpeg-args") == 0) {
            ffargs = true;
        } else if (strcmp(a, "--probe") == 0) {
            probe = true;
        } else if (strcmp(a, "--encoder") == 0 && i + 1 < argc) {
            encoder = argv[++i];
        } else if (strncmp(a, "--encoder=", 10) == 0) {
            encoder = a + 10;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "vodq-compose: unknown option %s (see --help)\n", a);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "vodq-compose: too many arguments: %s (see --help)\n", a);
            return 2;
        }
    }
    av_log_set_level(getenv("VODQ_AV_LOG") ? AV_LOG_INFO : AV_LOG_QUIET);
    if (probe) {
        char *s = vodq_compose_capabilities_json();
        if (s == NULL)
            return 1;
        printf("%s\n", s);
        free(s);
        return 0;
    }
    if (npos != 2) {
        usage(stderr);
        return 2;
    }
    if (ffargs)
        return print_ffmpeg_args(pos[0], pos[1], encoder);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    cJSON *spec = cJSON_CreateObject();
    char *spec_json = NULL;
    if (spec == NULL || cJSON_AddStringToObject(spec, "timeline_file", pos[0]) == NULL ||
        cJSON_AddStringToObject(spec, "output", pos[1]) == NULL ||
        (encoder && cJSON_AddStringToObject(spec, "encoder", encoder) == NULL) ||
        (spec_json = cJSON_PrintUnformatted(spec)) == NULL) {
        fprintf(stderr, "vodq-compose: out of memory\n");
        cJSON_Delete(spec);
        return 1;
    }
    cJSON_Delete(spec);

    struct cli c = {isatty(STDERR_FILENO) == 1, 0, -1};
    struct vodq_task_io io;
    struct vodq_task_result res = {NULL};
    struct vodq_err err = {0};
    memset(&io, 0, sizeof(io));
    io.opaque = &c;
    io.progress = cli_progress;
    io.control = cli_control;
    io.wait = cli_wait;
    io.job_id = "";
    io.attempt = 1;
    enum vodq_rc rc = vodq_compose_run(spec_json, &io, &res, &err);
    free(spec_json);
    if (rc == VODQ_ERR_CANCELLED) {
        fprintf(stderr, "%svodq-compose: cancelled; no output written\n", c.tty ? "\n" : "");
        return 3;
    }
    if (rc != VODQ_OK) {
        fprintf(stderr, "%svodq-compose: %s\n", c.tty ? "\n" : "", err.msg);
        return 1;
    }
    if (json)
        printf("%s\n", res.result_json);
    else
        fprintf(stderr, "wrote %s\n", pos[1]);
    free(res.result_json);
    return 0;
}
