/* seed_flow.c: the Aliyun short-video SDK's "export and upload" flow
 * (AliyunIVodCompose) on vodq, with the public library only.
 *
 *   1. compose the timeline twice on one session (the second export wins);
 *   2. upload the session's last export (no path: the session remembers it)
 *      and a cover image;
 *   3. when an upload's credentials expire (token_expired), hand it new
 *      ones from the callback (refreshWithUploadAuth); the upload resumes
 *      with the same upload id;
 *   4. release the session.
 *
 * Jobs are followed with the non-blocking watch (a descriptor and a step
 * function), as an event loop would; here the loop is a plain poll().
 *
 * Build against an installed vodq:
 *   cc -o seed_flow seed_flow.c $(pkg-config --cflags --libs vodq)
 * Run:
 *   seed_flow REDIS_URL SESSION TIMELINE.json EXPORT_DIR COVER.jpg
 * Where the uploads go comes from the environment (never the command line,
 * which other users can read):
 *   S3:  VODQ_S3_URL (s3://bucket/prefix), AWS_ENDPOINT_URL, AWS_REGION,
 *        AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   VOD: VOD_VIDEO_ADDRESS, VOD_COVER_ADDRESS, VOD_UPLOAD_AUTH (base64),
 *        VOD_ENDPOINT (optional override), and VOD_REFRESHED_AUTH: what the
 *        token-expired callback sends (a real application asks VOD's
 *        RefreshUploadVideo for it).
 * Exit status: 0 every job succeeded, 1 a job failed, 2 usage. */
#include <vodq/vodq.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct app {
    struct vodq_client *c;
    const char *refreshed_auth; /* VOD: the credentials to send on token_expired */
    int refreshes;              /* how many times they were sent */
    char result[1024];          /* the last completed job's result */
};

static void on_progress(void *opaque, const char *id, double percent, const char *data)
{
    (void)opaque;
    (void)data;
    fprintf(stderr, "%s: %.0f%%\n", id, percent);
}

static void on_event(void *opaque, const char *id, const char *name, const char *data)
{
    struct app *a = opaque;
    (void)data;
    fprintf(stderr, "%s: %s\n", id, name);
    if (strcmp(name, "token_expired") == 0 && a->refreshed_auth) {
        struct vodq_err err = {0};
        if (vodq_job_refresh_auth(a->c, id, a->refreshed_auth, &err) == VODQ_OK)
            a->refreshes++;
        else
            fprintf(stderr, "%s: refresh-auth: %s\n", id, err.msg);
    }
}

static void on_completed(void *opaque, const char *id, const char *result)
{
    struct app *a = opaque;
    snprintf(a->result, sizeof(a->result), "%s", result);
    printf("%s completed %s\n", id, result);
}

static void on_failed(void *opaque, const char *id, const char *state, const char *code,
                      const char *message)
{
    (void)opaque;
    printf("%s %s code=%s: %s\n", id, state, code, message);
}

/* Follows job id to its end with the non-blocking watch. Returns 0 when it
 * succeeded. */
static int follow(struct app *a, const char *id)
{
    struct vodq_callbacks cb = {.opaque = a,
                                .on_progress = on_progress,
                                .on_event = on_event,
                                .on_completed = on_completed,
                                .on_failed = on_failed};
    struct vodq_err err = {0};
    struct vodq_watch *w = vodq_watch_new(a->c, id, &cb, &err);
    if (!w) {
        fprintf(stderr, "watch %s: %s\n", id, err.msg);
        return 1;
    }
    int st;
    while ((st = vodq_watch_step(w, &err)) != 1) {
        if (st < 0)
            fprintf(stderr, "watch %s: %s (retrying)\n", id, err.msg);
        struct pollfd p = {.fd = vodq_watch_fd(w), .events = POLLIN};
        poll(&p, p.fd >= 0 ? 1 : 0, vodq_watch_timeout_ms(w));
    }
    vodq_watch_free(w);
    return err.code == VODQ_OK ? 0 : 1;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* Fills o for an upload to S3 key name under VODQ_S3_URL, or to VOD with
 * the address in the environment variable vod_address. */
static void target(struct vodq_upload_opts *o, char *url, size_t cap, const char *name,
                   const char *vod_address)
{
    const char *s3 = getenv("VODQ_S3_URL");
    if (s3) {
        snprintf(url, cap, "%s/%s", s3, name);
        o->s3_url = url;
        o->endpoint = getenv("AWS_ENDPOINT_URL");
        o->region = getenv("AWS_REGION");
        o->access_key = getenv("AWS_ACCESS_KEY_ID");
        o->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
        o->session_token = getenv("AWS_SESSION_TOKEN");
        o->path_style = o->endpoint != NULL; /* MinIO, Swift, Ceph */
    } else {
        o->upload_address = getenv(vod_address);
        o->upload_auth = getenv("VOD_UPLOAD_AUTH");
        o->endpoint = getenv("VOD_ENDPOINT");
        o->path_style = o->endpoint != NULL;
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: seed_flow REDIS_URL SESSION TIMELINE.json EXPORT_DIR COVER.jpg\n"
                        "(vodq %s)\n",
                vodq_version());
        return 2;
    }
    const char *session = argv[2];
    struct app a = {.refreshed_auth = getenv("VOD_REFRESHED_AUTH")};
    struct vodq_err err = {0};
    char *timeline = read_file(argv[3]);
    if (!timeline) {
        fprintf(stderr, "seed_flow: cannot read %s\n", argv[3]);
        return 2;
    }
    a.c = vodq_client_open(argv[1], NULL, &err);
    if (!a.c) {
        fprintf(stderr, "seed_flow: %s\n", err.msg);
        free(timeline);
        return 1;
    }
    int failed = 0;
    char id[129], out[4096];
    /* 1. compose twice: the session's last export is the second */
    for (int i = 1; i <= 2 && !failed; i++) {
        snprintf(out, sizeof(out), "%s/export-%d.mp4", argv[4], i);
        if (vodq_session_compose(a.c, session, timeline, out, id, sizeof(id), &err) != VODQ_OK) {
            fprintf(stderr, "compose: %s\n", err.msg);
            failed = 1;
        } else {
            failed = follow(&a, id);
        }
    }
    /* 2. the last export (path NULL), then the cover (an image: one PUT) */
    char url[2048];
    struct vodq_upload_opts video = {.part_size = 5 << 20};
    target(&video, url, sizeof(url), "video.mp4", "VOD_VIDEO_ADDRESS");
    if (!failed &&
        vodq_session_upload(a.c, session, NULL, &video, id, sizeof(id), &err) != VODQ_OK) {
        fprintf(stderr, "upload video: %s\n", err.msg);
        failed = 1;
    } else if (!failed) {
        failed = follow(&a, id);
    }
    char url2[2048];
    struct vodq_upload_opts cover = {.image = true};
    target(&cover, url2, sizeof(url2), "cover.jpg", "VOD_COVER_ADDRESS");
    if (!failed &&
        vodq_session_upload(a.c, session, argv[5], &cover, id, sizeof(id), &err) != VODQ_OK) {
        fprintf(stderr, "upload cover: %s\n", err.msg);
        failed = 1;
    } else if (!failed) {
        failed = follow(&a, id);
    }
    /* 4. release: the session's hash goes; the jobs keep their retention */
    if (vodq_session_release(a.c, session, 0, &err) != VODQ_OK) {
        fprintf(stderr, "release: %s\n", err.msg);
        failed = 1;
    }
    printf("refreshes %d\n", a.refreshes);
    vodq_client_close(a.c);
    free(timeline);
    return failed;
}
