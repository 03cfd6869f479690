/* main_upload.c: vodq-upload, the standalone upload CLI.
 *
 * Builds an upload spec from the command line, runs the upload engine
 * (vodq_upload_run) with a struct vodq_task_io that draws a progress bar
 * (plain lines when stderr is not a terminal), keeps the checkpoint in a
 * JSON file (--checkpoint) and reads refreshed credentials from a file
 * (--auth-file). SIGINT/SIGTERM pause: parts in flight finish, the
 * checkpoint is kept, and the same command resumes; a second signal quits
 * at once (the checkpoint is still consistent). */
#include "shared/clock.h"
#include "shared/err.h"

#include "worker/executor.h"
#include "worker/upload/ckpt_file.h"
#include "worker/upload/upload.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Exit statuses (documented in usage()). */
enum {
    EXIT_DONE = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_PAUSED = 3,
    EXIT_AUTH = 4,
    EXIT_CANCELLED = 5,
};

#define DEFAULT_PART_SIZE (8 << 20)
#define DEFAULT_PARALLEL 4
#define DEFAULT_WAIT_AUTH_S 300

static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    (void)sig;
    if (++g_signals >= 2)
        _exit(130);
}

struct cli {
    bool tty;          /* stderr is a terminal: draw a bar */
    bool quiet;        /* no progress at all */
    bool cancel;       /* --cancel: abort the checkpointed upload */
    const char *auth_file;
    char *auth_seen;   /* last content read from auth_file */
    int64_t started_ms;
    int64_t last_draw_ms;
    int last_pct;
    struct vodq_ckpt_file *ck;
};

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: vodq-upload FILE TARGET [options]\n"
            "\n"
            "Uploads FILE to Aliyun VOD (OSS protocol) or to an S3-compatible store.\n"
            "\n"
            "VOD target:\n"
            "  --vod-address B64      base64 UploadAddress (or env VODQ_VOD_ADDRESS)\n"
            "  --vod-auth B64         base64 UploadAuth (or env VODQ_VOD_AUTH, or --auth-file)\n"
            "  --image                upload as an image: one PutObject\n"
            "  --v1                   sign with OSS V1 instead of V4\n"
            "  --region R             OSS region for V4 (default: UploadAuth Region, else from the endpoint)\n"
            "S3 target:\n"
            "  --s3 s3://bucket/key   object to write\n"
            "  --region R             or env AWS_REGION, AWS_DEFAULT_REGION; default us-east-1\n"
            "  --access-key K         or env VODQ_S3_ACCESS_KEY, then AWS_ACCESS_KEY_ID\n"
            "  --secret-key S         or env VODQ_S3_SECRET_KEY, then AWS_SECRET_ACCESS_KEY\n"
            "  --session-token T      or env VODQ_S3_SESSION_TOKEN, then AWS_SESSION_TOKEN\n"
            "Both:\n"
            "  --endpoint URL         S3 endpoint (or env AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL);\n"
            "                         for VOD, overrides the address's Endpoint\n"
            "  --path-style           http://host/bucket/key instead of http://bucket.host/key\n"
            "                         (always so for an S3 endpoint whose host is an IP address)\n"
            "  --part-size N          bytes, K/M/G suffixes allowed (default %d MiB; S3 minimum 5 MiB)\n"
            "  --parallel N           parts in flight (default %d)\n"
            "  --content-type T       default from the file extension\n"
            "  --checkpoint FILE      keep the part list here; running again resumes\n"
            "  --cancel               abort the upload recorded in --checkpoint and delete it\n"
            "  --auth-file FILE       polled for new credentials when the current ones expire; also\n"
            "                         the first credentials when none are given otherwise\n"
            "                         (VOD: base64 UploadAuth; S3: JSON {\"access_key\",\"secret_key\",\"session_token\"})\n"
            "  --wait-auth S          seconds to wait for new credentials (default %d)\n"
            "  --max-attempts N       per request (default 6)   --retry-base-ms N (default 250)\n"
            "  --timeout S            fail a request that makes no progress for S seconds (default 20)\n"
            "  --limit-rate N         upload at most N bytes/s (K/M/G suffixes allowed)\n"
            "  --json                 print the result as JSON on stdout\n"
            "  --quiet                no progress output\n"
            "  --help, --version\n"
            "\n"
            "Exit status: 0 the object is complete and verified; 1 failed; 2 usage error;\n"
            "3 paused by a signal (checkpoint kept); 4 credentials expired and none arrived\n"
            "(checkpoint kept); 5 cancelled.\n",
            DEFAULT_PART_SIZE >> 20, DEFAULT_PARALLEL, DEFAULT_WAIT_AUTH_S);
}

/* "8M", "262144", "5MiB" -> bytes; -1 when malformed. */
static int64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    int64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1 << 10;
    else if (*end == 'm' || *end == 'M')
        mul = 1 << 20;
    else if (*end == 'g' || *end == 'G')
        mul = 1 << 30;
    if (mul != 1) {
        end++;
        if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
            end += strlen(end);
    }
    if (*end)
        return -1;
    return (int64_t)v * mul;
}

static int64_t parse_int(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0) {
        fprintf(stderr, "vodq-upload: %s: not a number: %s\n", opt, s);
        exit(EXIT_USAGE);
    }
    return v;
}

/* Reads a small file into a new trimmed string; NULL if unreadable or empty. */
static char *read_small(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, fp) : 0;
    fclose(fp);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (!n) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- struct vodq_task_io for a terminal ---- */

static enum vodq_rc io_progress(void *opaque, int64_t done, int64_t total, const char *extra)
{
    struct cli *c = opaque;
    (void)extra;
    if (c->quiet)
        return VODQ_OK;
    int64_t now = vodq_mono_ms();
    int pct = total > 0 ? (int)(done * 100 / total) : 100;
    double mib = (double)done / 1048576.0, tmib = (double)total / 1048576.0;
    double secs = (double)(now - c->started_ms) / 1000.0;
    double rate = secs > 0.05 ? mib / secs : 0.0;
    if (c->tty) {
        if (now - c->last_draw_ms < 100 && done != total)
            return VODQ_OK;
        c->last_draw_ms = now;
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %3d%%  %.1f/%.1f MiB  %.1f MiB/s ", bar, pct, mib, tmib, rate);
        if (done == total)
            fputc('\n', stderr);
    } else {
        /* Plain lines: every 10% and at the end. */
        if (pct / 10 == c->last_pct / 10 && done != total)
            return VODQ_OK;
        if (done == total && c->last_pct == 100)
            return VODQ_OK;
        fprintf(stderr, "progress %" PRId64 "/%" PRId64 " bytes %d%% %.1f MiB/s\n", done, total,
                pct, rate);
    }
    c->last_pct = pct;
    return VODQ_OK;
}

static enum vodq_rc io_event(void *opaque, const char *name, const char *json)
{
    struct cli *c = opaque;
    if (c->tty && !c->quiet)
        fputc('\n', stderr);
    fprintf(stderr, "event %s %s\n", name, json);
    return VODQ_OK;
}

static enum vodq_ctl io_control(void *opaque)
{
    struct cli *c = opaque;
    if (c->cancel)
        return VODQ_CTL_CANCEL;
    return g_signals ? VODQ_CTL_YIELD : VODQ_CTL_RUN;
}

static char *io_take_auth(void *opaque)
{
    struct cli *c = opaque;
    if (!c->auth_file)
        return NULL;
    char *now = read_small(c->auth_file);
    if (!now)
        return NULL;
    if (c->auth_seen && strcmp(now, c->auth_seen) == 0) {
        free(now);
        return NULL;
    }
    free(c->auth_seen);
    c->auth_seen = strdup(now);
    return now;
}

static enum vodq_ctl io_wait(void *opaque, int timeout_ms)
{
    struct cli *c = opaque;
    int64_t end = vodq_mono_ms() + timeout_ms;
    while (!g_signals && vodq_mono_ms() < end) {
        /* wake early when the auth file changes */
        if (c->auth_file) {
            char *a = read_small(c->auth_file);
            bool changed = a && (!c->auth_seen || strcmp(a, c->auth_seen) != 0);
            free(a);
            if (changed)
                break;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return io_control(opaque);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    enum {
        O_VOD_ADDR = 256, O_VOD_AUTH, O_IMAGE, O_V1, O_S3, O_ENDPOINT, O_REGION, O_AK, O_SK,
        O_VERSION, O_TOKEN, O_PATH, O_PART, O_PAR, O_CKPT, O_AUTHF, O_WAIT, O_JSON, O_QUIET, O_CTYPE,
        O_MAXATT, O_RETRY, O_TIMEOUT, O_CANCEL, O_RATE, O_HELP,
    };
    static const struct option longopts[] = {
        {"vod-address", required_argument, NULL, O_VOD_ADDR},
        {"vod-auth", required_argument, NULL, O_VOD_AUTH},
        {"image", no_argument, NULL, O_IMAGE},
        {"v1", no_argument, NULL, O_V1},
        {"s3", required_argument, NULL, O_S3},
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"region", required_argument, NULL, O_REGION},
        {"access-key", required_argument, NULL, O_AK},
        {"secret-key", required_argument, NULL, O_SK},
        {"session-token", required_argument, NULL, O_TOKEN},
        {"path-style", no_argument, NULL, O_PATH},
        {"part-size", required_argument, NULL, O_PART},
        {"parallel", required_argument, NULL, O_PAR},
        {"checkpoint", required_argument, NULL, O_CKPT},
        {"auth-file", required_argument, NULL, O_AUTHF},
        {"wait-auth", required_argument, NULL, O_WAIT},
        {"json", no_argument, NULL, O_JSON},
        {"quiet", no_argument, NULL, O_QUIET},
        {"content-type", required_argument, NULL, O_CTYPE},
        {"max-attempts", required_argument, NULL, O_MAXATT},
        {"retry-base-ms", required_argument, NULL, O_RETRY},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"cancel", no_argument, NULL, O_CANCEL},
        {"limit-rate", required_argument, NULL, O_RATE},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *vod_addr = getenv("VODQ_VOD_ADDRESS"), *vod_auth = getenv("VODQ_VOD_AUTH");
    const char *s3 = NULL, *endpoint = NULL, *region = NULL, *ctype = NULL;
    const char *ak = getenv("VODQ_S3_ACCESS_KEY"), *sk = getenv("VODQ_S3_SECRET_KEY");
    const char *tok = getenv("VODQ_S3_SESSION_TOKEN");
    const char *ckpt_path = NULL;
    bool image = false, v1 = false, path_style = false, json = false;
    int64_t part_size = -1, parallel = -1, wait_auth = -1, max_att = -1, retry_ms = -1,
            timeout = -1, rate = -1;
    struct cli c;
    memset(&c, 0, sizeof(c));
    c.last_pct = -10;

    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case O_VOD_ADDR: vod_addr = optarg; break;
        case O_VOD_AUTH: vod_auth = optarg; break;
        case O_IMAGE: image = true; break;
        case O_V1: v1 = true; break;
        case O_S3: s3 = optarg; break;
        case O_ENDPOINT: endpoint = optarg; break;
        case O_REGION: region = optarg; break;
        case O_AK: ak = optarg; break;
        case O_SK: sk = optarg; break;
        case O_TOKEN: tok = optarg; break;
        case O_PATH: path_style = true; break;
        case O_PART:
            part_size = parse_size(optarg);
            if (part_size <= 0) {
                fprintf(stderr, "vodq-upload: --part-size: not a size: %s\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case O_PAR: parallel = parse_int("--parallel", optarg); break;
        case O_CKPT: ckpt_path = optarg; break;
        case O_AUTHF: c.auth_file = optarg; break;
        case O_WAIT: wait_auth = parse_int("--wait-auth", optarg); break;
        case O_JSON: json = true; break;
        case O_QUIET: c.quiet = true; break;
        case O_CTYPE: ctype = optarg; break;
        case O_MAXATT: max_att = parse_int("--max-attempts", optarg); break;
        case O_RETRY: retry_ms = parse_int("--retry-base-ms", optarg); break;
        case O_TIMEOUT: timeout = parse_int("--timeout", optarg); break;
        case O_CANCEL: c.cancel = true; break;
        case O_RATE:
            rate = parse_size(optarg);
            if (rate <= 0) {
                fprintf(stderr, "vodq-upload: --limit-rate: not a rate in bytes/s: %s\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case O_HELP:
        case 'h': usage(stdout); return EXIT_DONE;
        case O_VERSION: printf("vodq-upload %s (%s)\n", VODQ_VERSION, curl_version()); return EXIT_DONE;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "vodq-upload: give exactly one FILE (see --help)\n");
        return EXIT_USAGE;
    }
    const char *file = argv[optind];
    bool is_vod = vod_addr || (!s3 && (vod_auth || c.auth_file));
    if (is_vod == (s3 != NULL)) {
        fprintf(stderr, "vodq-upload: give either --vod-address/--vod-auth or --s3 (see --help)\n");
        return EXIT_USAGE;
    }
    if (c.cancel && !ckpt_path) {
        fprintf(stderr, "vodq-upload: --cancel needs --checkpoint FILE\n");
        return EXIT_USAGE;
    }
    /* The auth file's current content counts as seen: only a change is a refresh. */
    cJSON *fauth = NULL; /* S3 credentials from the auth file, when not given otherwise */
    if (c.auth_file) {
        c.auth_seen = read_small(c.auth_file);
        if (is_vod && !vod_auth)
            vod_auth = c.auth_seen;
        if (!is_vod && c.auth_seen && (!ak || !sk) && (fauth = cJSON_Parse(c.auth_seen))) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(fauth, "access_key");
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(fauth, "secret_key");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(fauth, "session_token");
            if (!ak && cJSON_IsString(a))
                ak = a->valuestring;
            if (!sk && cJSON_IsString(k))
                sk = k->valuestring;
            if (!tok && cJSON_IsString(t))
                tok = t->valuestring;
        }
    }
    /* the AWS CLI/SDK variables come last: after vodq's own, the flags and the auth file */
    if (!is_vod) {
        ak = ak ? ak : getenv("AWS_ACCESS_KEY_ID");
        sk = sk ? sk : getenv("AWS_SECRET_ACCESS_KEY");
        tok = tok ? tok : getenv("AWS_SESSION_TOKEN");
        region = region ? region : getenv("AWS_REGION");
        region = region ? region : getenv("AWS_DEFAULT_REGION");
        endpoint = endpoint ? endpoint : getenv("AWS_ENDPOINT_URL_S3");
        endpoint = endpoint ? endpoint : getenv("AWS_ENDPOINT_URL");
    }

    cJSON *spec = cJSON_CreateObject();
    cJSON_AddStringToObject(spec, "file", file);
    cJSON_AddStringToObject(spec, "kind", image ? "image" : "video");
    if (ctype)
        cJSON_AddStringToObject(spec, "content_type", ctype);
    if (is_vod) {
        cJSON *v = cJSON_AddObjectToObject(spec, "vod");
        cJSON_AddStringToObject(v, "upload_address", vod_addr ? vod_addr : "");
        cJSON_AddStringToObject(v, "upload_auth", vod_auth ? vod_auth : "");
        if (endpoint)
            cJSON_AddStringToObject(v, "endpoint", endpoint);
        if (region)
            cJSON_AddStringToObject(v, "region", region);
        cJSON_AddStringToObject(v, "signature", v1 ? "v1" : "v4");
        cJSON_AddBoolToObject(v, "path_style", path_style);
    } else {
        cJSON *v = cJSON_AddObjectToObject(spec, "s3");
        cJSON_AddStringToObject(v, "url", s3);
        if (endpoint)
            cJSON_AddStringToObject(v, "endpoint", endpoint);
        if (region)
            cJSON_AddStringToObject(v, "region", region);
        if (ak)
            cJSON_AddStringToObject(v, "access_key", ak);
        if (sk)
            cJSON_AddStringToObject(v, "secret_key", sk);
        if (tok && *tok)
            cJSON_AddStringToObject(v, "session_token", tok);
        cJSON_AddBoolToObject(v, "path_style", path_style);
    }
    cJSON_AddNumberToObject(spec, "part_size", (double)(part_size > 0 ? part_size : DEFAULT_PART_SIZE));
    cJSON_AddNumberToObject(spec, "parallel", (double)(parallel >= 0 ? parallel : DEFAULT_PARALLEL));
    cJSON_AddNumberToObject(spec, "wait_auth_s",
                            (double)(wait_auth >= 0 ? wait_auth : DEFAULT_WAIT_AUTH_S));
    if (max_att >= 0)
        cJSON_AddNumberToObject(spec, "max_attempts", (double)max_att);
    if (retry_ms >= 0)
        cJSON_AddNumberToObject(spec, "retry_base_ms", (double)retry_ms);
    if (timeout >= 0)
        cJSON_AddNumberToObject(spec, "timeout_s", (double)timeout);
    if (rate > 0)
        cJSON_AddNumberToObject(spec, "max_send_bps", (double)rate);
    char *spec_json = cJSON_PrintUnformatted(spec);
    cJSON_Delete(spec);
    cJSON_Delete(fauth);

    struct vodq_err err = {0};
    if (ckpt_path && vodq_ckpt_file_open(ckpt_path, &c.ck, &err) != VODQ_OK) {
        fprintf(stderr, "vodq-upload: error: %s\n", err.msg);
        free(spec_json);
        return EXIT_FAILED;
    }
    if (c.cancel && vodq_ckpt_file_count(c.ck) == 0) {
        fprintf(stderr, "vodq-upload: nothing to cancel: no checkpoint in %s\n", ckpt_path);
        vodq_ckpt_file_free(c.ck);
        free(spec_json);
        return EXIT_FAILED;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    c.tty = isatty(STDERR_FILENO) == 1;
    c.started_ms = vodq_mono_ms();
    struct vodq_task_io io = {
        .opaque = &c,
        .progress = io_progress,
        .event = io_event,
        .control = io_control,
        .wait = io_wait,
        .take_auth = io_take_auth,
        .ckpt = c.ck ? vodq_ckpt_file_ckpt(c.ck) : NULL,
    };
    struct vodq_task_result result = {0};
    enum vodq_rc rc = vodq_upload_run(spec_json, &io, &result, &err);
    free(spec_json);
    int status = EXIT_DONE;
    if (rc == VODQ_OK) {
        if (json) {
            printf("%s\n", result.result_json ? result.result_json : "{}");
        } else {
            cJSON *r = cJSON_Parse(result.result_json ? result.result_json : "{}");
            const cJSON *loc = cJSON_GetObjectItemCaseSensitive(r, "location");
            const cJSON *etag = cJSON_GetObjectItemCaseSensitive(r, "etag");
            const cJSON *crc = cJSON_GetObjectItemCaseSensitive(r, "crc64");
            printf("uploaded %s to %s (etag %s%s%s)\n", file,
                   cJSON_IsString(loc) ? loc->valuestring : "?",
                   cJSON_IsString(etag) ? etag->valuestring : "?",
                   cJSON_IsString(crc) ? ", crc64 " : "", cJSON_IsString(crc) ? crc->valuestring : "");
            cJSON_Delete(r);
        }
    } else {
        if (c.tty && !c.quiet)
            fputc('\n', stderr);
        switch (rc) {
        case VODQ_ERR_PAUSED: status = EXIT_PAUSED; break;
        case VODQ_ERR_AUTH: status = EXIT_AUTH; break;
        case VODQ_ERR_CANCELLED: status = EXIT_CANCELLED; break;
        default: status = EXIT_FAILED; break;
        }
        if (rc == VODQ_ERR_PAUSED)
            fprintf(stderr, "vodq-upload: paused: %s%s\n", err.msg,
                    ckpt_path ? "; run the same command again to resume" : "");
        else if (rc == VODQ_ERR_CANCELLED)
            fprintf(stderr, "vodq-upload: cancelled: the multipart upload was aborted\n");
        else
            fprintf(stderr, "vodq-upload: error: %s\n", err.msg);
    }
    free(result.result_json);
    free(c.auth_seen);
    vodq_ckpt_file_free(c.ck);
    return status;
}
