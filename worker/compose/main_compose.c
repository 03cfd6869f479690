/* main_compose.c: vodq-compose, renders a timeline JSON to an MP4 file with
 * the in-process engine. */
#include "worker/compose/compose.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"
#include "worker/upload/fetch.h"

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
    if (extra && (p = strstr(extra, "\"fetched\":")) != NULL) {
        long long got = strtoll(p + 10, NULL, 10);
        p = strstr(extra, "\"fetch_total\":");
        long long all = p ? strtoll(p + 14, NULL, 10) : 0;
        fprintf(stderr, "%sfetching sources %.1f/%.1f MB%s", c->tty ? "\r" : "", got / 1e6,
                all / 1e6, c->tty && got < all ? " " : "\n");
        fflush(stderr);
        return VODQ_OK;
    }
    if (extra && (p = strstr(extra, "\"frames\":")) != NULL)
        frames = strtoll(p + 9, NULL, 10);
    if (extra && (p = strstr(extra, "\"fps\":")) != NULL)
        fps = strtod(p + 6, NULL);
    int pct = (int)(done * 100 / total);
    /* after a fetch, done/total are scaled; the seconds come apart */
    if (extra && (p = strstr(extra, "\"render_ms\":")) != NULL) {
        done = strtoll(p + 12, NULL, 10);
        p = strstr(extra, "\"render_total_ms\":");
        total = p ? strtoll(p + 18, NULL, 10) : total;
    }
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

/* The fetcher is made on first use: only a timeline naming URLs needs the cache. */
struct lazy_fetch {
    struct vodq_fetch_opts o;
    struct vodq_fetch *f;
};

static enum vodq_rc lazy_resolve(void *arg, const char *inputs_json, const char *const *urls,
                                 size_t n, char **paths, void **lease, struct vodq_task_io *io,
                                 struct vodq_err *err)
{
    struct lazy_fetch *l = arg;
    if (l->f == NULL && (l->f = vodq_fetch_new(&l->o, err)) == NULL)
        return err->code;
    return vodq_fetch_resolve(l->f, inputs_json, urls, n, paths, lease, io, err);
}

static void lazy_release(void *arg, void *lease)
{
    struct lazy_fetch *l = arg;
    vodq_fetch_release(l->f, lease);
}

static int lazy_grow_open(void *arg, const char *path, int64_t *size)
{
    struct lazy_fetch *l = arg;
    return l->f ? vodq_fetch_grow_open(l->f, path, size) : -1;
}

static int64_t lazy_grow_wait(void *arg, const char *path, int64_t need, int timeout_ms,
                              struct vodq_err *err)
{
    struct lazy_fetch *l = arg;
    return l->f ? vodq_fetch_grow_wait(l->f, path, need, timeout_ms, err) : INT64_MAX;
}

static enum vodq_rc lazy_grow_error(void *arg, void *lease, struct vodq_err *err)
{
    struct lazy_fetch *l = arg;
    return l->f ? vodq_fetch_grow_error(l->f, lease, err) : VODQ_OK;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vodq-compose [options] TIMELINE.json OUT.mp4\n"
            "       vodq-compose [options] --print-timeline TIMELINE.json\n"
            "       vodq-compose --probe\n"
            "Renders a timeline (JSON) to an MP4 file in process (libav*). The timeline is\n"
            "vodq's own (docs/timeline.md) or an Aliyun cloud-editing Timeline\n"
            "(docs/aliyun-timeline.md), told apart by its top-level keys.\n"
            "  --format F            auto (default), vodq or aliyun\n"
            "  --print-timeline      print the vodq timeline the file becomes (after an Aliyun\n"
            "                        import, with what was dropped and approximated) and exit\n"
            "  --media-map FILE      Aliyun import: JSON object MediaId -> path or URL\n"
            "  --output-config FILE  Aliyun import: OutputMediaConfig / ProduceConfig JSON\n"
            "  --lenient             Aliyun import: drop cloud-only effects (listed) instead of\n"
            "                        failing\n"
            "  --seed N              Aliyun import: picks random and listed transitions (0)\n"
            "  --encoder NAME        video encoder: auto (NVENC, VAAPI, then software) or an\n"
            "                        FFmpeg encoder name (libx264, h264_nvenc, ...); overrides\n"
            "                        the timeline's output.encoder\n"
            "  --stall-timeout S     fail when the render makes no progress for S seconds\n"
            "                        (default 60)\n"
            "  --json                print the result as JSON on stdout\n"
            "  --print-ffmpeg-args   print the equivalent ffmpeg command line, one argument\n"
            "                        per line, and exit without rendering\n"
            "  --probe               print the encoder probe (JSON) and exit\n"
            "  --cache-dir DIR       where remote sources (http(s)://, s3://, oss://) are\n"
            "                        cached (env VODQ_CACHE_DIR; default\n"
            "                        $XDG_CACHE_HOME/vodq or ~/.cache/vodq)\n"
            "  --cache-max-bytes N   evict least recently used files above this (default 10 GiB)\n"
            "  --inputs FILE.json    credentials for s3:// and oss:// sources, as the job\n"
            "                        spec's compose.inputs: {\"endpoint\",\"region\",\"path_style\",\n"
            "                        \"access_key\",\"secret_key\",\"session_token\"} or\n"
            "                        {\"endpoint\",\"upload_auth\"}; defaults from the env\n"
            "                        VODQ_INPUTS_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY,\n"
            "                        _SESSION_TOKEN, _PATH_STYLE=1\n"
            "  --fetch-stall-s S     a source request with no byte moving this long fails (20)\n"
            "  --fetch-attempts N    attempts per source request, first included (6)\n"
            "  --fetch-range-bytes N sources above this are fetched in parallel ranges of this\n"
            "                        size (8 MiB)\n"
            "  --no-progressive      render a remote source only once it is all downloaded\n"
            "                        (default: MP4 with the moov first, MPEG-TS, WebM/MKV,\n"
            "                        MP3, WAV, FLAC and Ogg are decoded while they download)\n"
            "  --version             print the version and exit\n"
            "  --help                this text\n"
            "SIGINT/SIGTERM cancel the render and remove the partial file.\n"
            "Exit status: 0 success, 1 failure, 2 usage, 3 cancelled.\n");
}

/* The vodq timeline the spec renders (an Aliyun one imported), parsed with
 * the timeline file's folder as base. */
static enum vodq_rc load_any(const char *spec_json, const char *tl_path, struct vodq_timeline *tl,
                             struct vodq_err *err)
{
    char *text = vodq_compose_print_timeline(spec_json, err), *dir = strdup(tl_path), *slash;
    cJSON *j = text ? cJSON_Parse(text) : NULL, *inner;
    char *flat = NULL;
    enum vodq_rc rc;

    free(text);
    inner = cJSON_GetObjectItemCaseSensitive(j, "timeline"); /* after an import */
    if (inner == NULL)
        inner = j;
    if (j == NULL || dir == NULL || (flat = cJSON_PrintUnformatted(inner)) == NULL) {
        rc = err && err->code != VODQ_OK ? err->code
                                         : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    } else {
        slash = strrchr(dir, '/');
        if (slash == NULL)
            snprintf(dir, strlen(dir) + 1, ".");
        else if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        rc = vodq_timeline_parse(flat, strlen(flat), dir, tl, err);
    }
    cJSON_Delete(j);
    free(flat);
    free(dir);
    return rc;
}

static int print_ffmpeg_args(const char *spec_json, const char *tl_path, const char *out,
                             const char *encoder)
{
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_err err = {0};
    enum vodq_rc rc;
    int status = 1;

    memset(&tl, 0, sizeof(tl));
    memset(&plan, 0, sizeof(plan));
    rc = load_any(spec_json, tl_path, &tl, &err);
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
    const char *pos[2] = {NULL, NULL}, *encoder = NULL, *cache_dir = getenv("VODQ_CACHE_DIR"),
               *inputs_file = NULL, *format = NULL, *map = NULL, *ocfg = NULL;
    long long cache_max = 0, stall_s = 0, attempts = 0, range_bytes = 0;
    bool json = false, ffargs = false, probe = false, print_tl = false, lenient = false,
         no_progressive = false;
    double seed = -1;
    double stall = 0;
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
        } else if (strcmp(a, "--print-timeline") == 0) {
            print_tl = true;
        } else if (strcmp(a, "--lenient") == 0) {
            lenient = true;
        } else if (strcmp(a, "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(a, "--media-map") == 0 && i + 1 < argc) {
            map = argv[++i];
        } else if (strcmp(a, "--output-config") == 0 && i + 1 < argc) {
            ocfg = argv[++i];
        } else if (strcmp(a, "--seed") == 0 && i + 1 < argc) {
            char *end;
            seed = strtod(argv[++i], &end);
            if (*end || seed < 0 || seed != (double)(long long)seed) {
                fprintf(stderr, "vodq-compose: --seed: not a non-negative integer: %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--encoder") == 0 && i + 1 < argc) {
            encoder = argv[++i];
        } else if (strncmp(a, "--encoder=", 10) == 0) {
            encoder = a + 10;
        } else if (strcmp(a, "--cache-dir") == 0 && i + 1 < argc) {
            cache_dir = argv[++i];
        } else if (strcmp(a, "--no-progressive") == 0) {
            no_progressive = true;
        } else if (strcmp(a, "--inputs") == 0 && i + 1 < argc) {
            inputs_file = argv[++i];
        } else if ((strcmp(a, "--cache-max-bytes") == 0 || strcmp(a, "--fetch-stall-s") == 0 ||
                    strcmp(a, "--fetch-attempts") == 0 || strcmp(a, "--fetch-range-bytes") == 0) &&
                   i + 1 < argc) {
            char *end;
            long long v = strtoll(argv[i + 1], &end, 10);
            if (*end || v <= 0) {
                fprintf(stderr, "vodq-compose: %s: not a positive number: %s\n", a, argv[i + 1]);
                return 2;
            }
            *(a[2] == 'c' ? &cache_max
              : a[8] == 's' ? &stall_s
              : a[8] == 'r' ? &range_bytes
                            : &attempts) = v;
            i++;
        } else if (strcmp(a, "--stall-timeout") == 0 && i + 1 < argc) {
            char *end;
            stall = strtod(argv[++i], &end);
            if (end == argv[i] || *end != '\0' || !(stall >= 1 && stall <= 86400)) {
                fprintf(stderr, "vodq-compose: --stall-timeout: seconds, 1..86400\n");
                return 2;
            }
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
    if (npos != 2 && !(print_tl && npos == 1)) {
        usage(stderr);
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Remote sources: the fetcher (worker/upload/fetch.c) is the resolver. */
    char defdir[4096];
    if (cache_dir == NULL || !*cache_dir) {
        const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (x && *x)
            snprintf(defdir, sizeof(defdir), "%s/vodq", x);
        else if (home && *home)
            snprintf(defdir, sizeof(defdir), "%s/.cache/vodq", home);
        else
            snprintf(defdir, sizeof(defdir), "/tmp/vodq-cache-%u", (unsigned)getuid());
        cache_dir = defdir;
    }
    const char *ps = getenv("VODQ_INPUTS_PATH_STYLE");
    struct vodq_fetch_opts fo = {
        .cache_dir = cache_dir,
        .cache_max_bytes = cache_max,
        .max_attempts = (int)attempts,
        .range_bytes = range_bytes,
        .stall_timeout_ms = (long)stall_s * 1000,
        .no_progressive = no_progressive,
        .endpoint = getenv("VODQ_INPUTS_ENDPOINT"),
        .region = getenv("VODQ_INPUTS_REGION"),
        .path_style = ps && (strcmp(ps, "1") == 0 || strcmp(ps, "true") == 0),
        .access_key = getenv("VODQ_INPUTS_ACCESS_KEY"),
        .secret_key = getenv("VODQ_INPUTS_SECRET_KEY"),
        .session_token = getenv("VODQ_INPUTS_SESSION_TOKEN"),
    };
    struct lazy_fetch lf = {fo, NULL};
    struct vodq_compose_resolver r = {&lf,           lazy_resolve,   lazy_release,
                                      lazy_grow_open, lazy_grow_wait, lazy_grow_error};
    vodq_compose_set_resolver(&r);
    cJSON *inputs = NULL;
    if (inputs_file) {
        FILE *fi = fopen(inputs_file, "r");
        char buf[65536];
        size_t got = fi ? fread(buf, 1, sizeof(buf) - 1, fi) : 0;
        if (fi)
            fclose(fi);
        buf[got] = '\0';
        inputs = fi ? cJSON_Parse(buf) : NULL;
        memset(buf, 0, sizeof(buf)); /* credentials */
        if (!cJSON_IsObject(inputs)) {
            fprintf(stderr, "vodq-compose: --inputs %s: %s\n", inputs_file,
                    fi ? "not a JSON object" : strerror(errno));
            cJSON_Delete(inputs);
            return 2;
        }
    }

    cJSON *spec = cJSON_CreateObject();
    char *spec_json = NULL;
    if (inputs)
        cJSON_AddItemToObject(spec, "inputs", inputs);
    if (spec == NULL || cJSON_AddStringToObject(spec, "timeline_file", pos[0]) == NULL ||
        cJSON_AddStringToObject(spec, "output", pos[1] ? pos[1] : "./out.mp4") == NULL ||
        (encoder && cJSON_AddStringToObject(spec, "encoder", encoder) == NULL) ||
        (format && cJSON_AddStringToObject(spec, "format", format) == NULL) ||
        (map && cJSON_AddStringToObject(spec, "media_map_file", map) == NULL) ||
        (ocfg && cJSON_AddStringToObject(spec, "output_media_config_file", ocfg) == NULL) ||
        (lenient && cJSON_AddBoolToObject(spec, "lenient", true) == NULL) ||
        (seed >= 0 && cJSON_AddNumberToObject(spec, "seed", seed) == NULL) ||
        (stall > 0 && cJSON_AddNumberToObject(spec, "stall_timeout", stall) == NULL) ||
        (spec_json = cJSON_PrintUnformatted(spec)) == NULL) {
        fprintf(stderr, "vodq-compose: out of memory\n");
        cJSON_Delete(spec);
        return 1;
    }
    cJSON_Delete(spec);
    if (print_tl) {
        struct vodq_err perr = {0};
        char *s = vodq_compose_print_timeline(spec_json, &perr);
        free(spec_json);
        if (s == NULL) {
            fprintf(stderr, "vodq-compose: %s\n", perr.msg);
            return 1;
        }
        printf("%s\n", s);
        free(s);
        return 0;
    }
    if (ffargs) {
        int st = print_ffmpeg_args(spec_json, pos[0], pos[1], encoder);
        free(spec_json);
        return st;
    }

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
    memset(spec_json, 0, strlen(spec_json)); /* may hold credentials */
    free(spec_json);
    vodq_compose_set_resolver(NULL);
    vodq_fetch_free(lf.f);
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
