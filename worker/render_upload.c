/* render_upload.c: compose and upload in one task, overlapped (see
 * render_upload.h).
 *
 * Threads: the calling thread runs the upload engine, which alone calls
 * the task's io (Redis is behind it); a second thread runs the render,
 * whose callbacks only touch the shared state below. The calling thread
 * passes the owner's control state on (every io->control() it makes), the
 * render passes its written bytes and progress back; both under one mutex. */
#include "worker/render_upload.h"

#include "shared/clock.h"
#include "shared/job.h"
#include "worker/compose/compose.h"
#include "worker/compose/engine.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"
#include "worker/upload/upload.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RU_PREFIX "vodq-ru-"
#define RU_BUFFER_MAX ((int64_t)512 << 20)
#define RU_PROGRESS_MS 200

static char work_dir[PATH_MAX] = "";

void vodq_render_upload_set_work_dir(const char *dir)
{
    snprintf(work_dir, sizeof(work_dir), "%s", dir ? dir : "");
}

static const char *ru_work_dir(void)
{
    const char *t = getenv("TMPDIR");
    return work_dir[0] ? work_dir : t && *t ? t : "/tmp";
}

struct ru {
    struct vodq_task_io *io; /* the task's; calling thread only */
    struct vodq_task_io up_io; /* what the upload engine gets */
    const struct vodq_plan *plan;
    struct vodq_engine_opts eo;
    char dir[PATH_MAX];      /* the temporary folder */
    char out[PATH_MAX + 16]; /* the render's path in it */
    int64_t buffer_max;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu: */
    enum vodq_ctl desired;   /* the owner's, as last seen by the calling thread */
    bool stop;               /* the upload is over: the render stops (YIELD) */
    bool held;               /* the render waits for the upload (buffer full) */
    int fd;                  /* the render's temporary file, read-only; -1 before */
    int64_t written;         /* final bytes in it */
    int64_t uploaded;        /* bytes the upload reported done */
    bool render_done;
    enum vodq_rc render_rc;
    struct vodq_err render_err;
    struct vodq_engine_stats st;
    int64_t done_ms, total_ms, frames;
    double fps;
    /* calling thread: */
    struct timespec last_report;
};

static int64_t since_ms(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- the render thread's callbacks ---- */

static enum vodq_rc r_progress(void *opaque, int64_t done_ms, int64_t total_ms, int64_t frames,
                               double fps)
{
    struct ru *r = opaque;
    pthread_mutex_lock(&r->mu);
    r->done_ms = done_ms;
    r->total_ms = total_ms;
    r->frames = frames;
    r->fps = fps;
    pthread_mutex_unlock(&r->mu);
    return VODQ_OK;
}

/* With mu held: what the render should do now. */
static enum vodq_ctl r_state(struct ru *r)
{
    if (r->desired == VODQ_CTL_CANCEL)
        return VODQ_CTL_CANCEL;
    if (r->stop || r->desired == VODQ_CTL_YIELD)
        return VODQ_CTL_YIELD;
    r->held = r->written - r->uploaded > r->buffer_max;
    return r->desired == VODQ_CTL_PAUSE || r->held ? VODQ_CTL_PAUSE : VODQ_CTL_RUN;
}

static enum vodq_ctl r_control(void *opaque)
{
    struct ru *r = opaque;
    pthread_mutex_lock(&r->mu);
    enum vodq_ctl c = r_state(r);
    pthread_mutex_unlock(&r->mu);
    return c;
}

static enum vodq_ctl r_wait(void *opaque, int timeout_ms)
{
    struct ru *r = opaque;
    struct timespec dl;
    vodq_deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&r->mu);
    enum vodq_ctl c = r_state(r);
    while (c == VODQ_CTL_PAUSE && pthread_cond_timedwait(&r->cv, &r->mu, &dl) == 0)
        c = r_state(r);
    c = r_state(r);
    pthread_mutex_unlock(&r->mu);
    return c;
}

static void r_written(void *opaque, const char *tmp_path, int64_t bytes)
{
    struct ru *r = opaque;
    pthread_mutex_lock(&r->mu);
    if (r->fd < 0)
        r->fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (r->fd >= 0) { /* without a descriptor nothing is published; the end fails */
        r->written = bytes;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

static void *r_thread(void *arg)
{
    struct ru *r = arg;
    struct vodq_err e = {0};
    struct vodq_engine_stats st;
    enum vodq_rc rc = vodq_engine_render(r->plan, r->out, &r->eo, &st, &e);
    pthread_mutex_lock(&r->mu);
    struct stat sb;
    if (rc == VODQ_OK && (r->fd < 0 || fstat(r->fd, &sb) != 0))
        rc = vodq_err_set(&e, VODQ_ERR_IO, errno, "render %s: cannot read it back", r->out);
    if (rc == VODQ_OK)
        r->written = (int64_t)sb.st_size;
    r->st = st;
    r->render_rc = rc;
    r->render_err = e;
    r->render_done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- the upload's io: the task's, with the render folded in ---- */

/* Combined progress (calling thread, rate-limited here and by the io). */
static enum vodq_rc ru_report(struct ru *r, bool force)
{
    if (!force && since_ms(&r->last_report) < RU_PROGRESS_MS)
        return VODQ_OK;
    clock_gettime(CLOCK_MONOTONIC, &r->last_report);
    pthread_mutex_lock(&r->mu);
    int64_t total = r->total_ms > 0 ? r->total_ms : llround(r->plan->duration_s * 1000);
    int64_t rendered = r->render_done && r->render_rc == VODQ_OK ? total : r->done_ms;
    int64_t up = r->written > 0 ? (int64_t)((double)rendered * (double)r->uploaded /
                                            (double)r->written)
                                : 0;
    char extra[256];
    snprintf(extra, sizeof(extra),
             "{\"frames\":%" PRId64 ",\"fps\":%.1f,\"bytes_written\":%" PRId64
             ",\"bytes_uploaded\":%" PRId64 ",\"render\":\"%s\"}",
             r->frames, r->fps, r->written, r->uploaded,
             r->render_done ? "done" : r->held ? "held" : "running");
    pthread_mutex_unlock(&r->mu);
    if (!r->io->progress)
        return VODQ_OK;
    return r->io->progress(r->io->opaque, rendered + (up < rendered ? up : rendered), 2 * total,
                           extra);
}

/* Passes the owner's state to the render; a failed render cancels the
 * upload (its multipart upload is aborted: nothing to resume from). */
static enum vodq_ctl ru_pass(struct ru *r, enum vodq_ctl c)
{
    pthread_mutex_lock(&r->mu);
    if (c != r->desired) {
        r->desired = c;
        pthread_cond_broadcast(&r->cv);
    }
    bool failed = r->render_done && r->render_rc != VODQ_OK;
    pthread_mutex_unlock(&r->mu);
    return failed && c != VODQ_CTL_YIELD ? VODQ_CTL_CANCEL : c;
}

static enum vodq_rc u_progress(void *opaque, int64_t done, int64_t total, const char *extra)
{
    struct ru *r = opaque;
    (void)total;
    (void)extra;
    pthread_mutex_lock(&r->mu);
    if (done > r->uploaded) {
        r->uploaded = done;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return ru_report(r, false);
}

static enum vodq_rc u_event(void *opaque, const char *name, const char *json)
{
    struct ru *r = opaque;
    return r->io->event ? r->io->event(r->io->opaque, name, json) : VODQ_OK;
}

static enum vodq_ctl u_control(void *opaque)
{
    struct ru *r = opaque;
    return ru_pass(r, r->io->control ? r->io->control(r->io->opaque) : VODQ_CTL_RUN);
}

static enum vodq_ctl u_wait(void *opaque, int timeout_ms)
{
    struct ru *r = opaque;
    enum vodq_ctl c;
    if (r->io->wait)
        c = r->io->wait(r->io->opaque, timeout_ms);
    else
        c = r->io->control ? r->io->control(r->io->opaque) : VODQ_CTL_RUN;
    ru_report(r, false); /* the render goes on while the upload waits */
    return ru_pass(r, c);
}

static char *u_take_auth(void *opaque)
{
    struct ru *r = opaque;
    return r->io->take_auth ? r->io->take_auth(r->io->opaque) : NULL;
}

static int64_t u_wait_bytes(void *opaque, int64_t want, int timeout_ms, bool *ended, int *fd)
{
    struct ru *r = opaque;
    struct timespec dl;
    vodq_deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&r->mu);
    while (timeout_ms > 0 && r->written < want && !r->render_done &&
           pthread_cond_timedwait(&r->cv, &r->mu, &dl) == 0)
        ;
    int64_t have = r->written;
    *ended = r->render_done && r->render_rc == VODQ_OK;
    *fd = r->fd;
    pthread_mutex_unlock(&r->mu);
    return have; /* a failed render reaches the upload through u_control */
}

/* ---- the spec ---- */

/* Splits the compose section's "upload" into the upload engine's section,
 * the cover's (or NULL) and the buffer bound. */
static enum vodq_rc ru_spec(const cJSON *sec, char **up_json, char **cover_json,
                            int64_t *buffer_max, struct vodq_err *err)
{
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(sec, "upload");
    cJSON *u = cJSON_Duplicate(up, true);
    enum vodq_rc rc = VODQ_OK;
    *up_json = *cover_json = NULL;
    *buffer_max = RU_BUFFER_MAX;
    if (!u)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(sec, "output")) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "compose.output: not used with compose.upload (the render goes to a "
                          "temporary file and is uploaded)");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(u, "file") || cJSON_GetObjectItemCaseSensitive(u, "kind")) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "compose.upload.%s: not used (the render itself is uploaded)",
                          cJSON_GetObjectItemCaseSensitive(u, "file") ? "file" : "kind");
        goto out;
    }
    cJSON *bm = cJSON_DetachItemFromObjectCaseSensitive(u, "buffer_max_bytes");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(u, "part_size");
    double part = cJSON_IsNumber(ps) ? ps->valuedouble : 8 << 20;
    if (bm && (!cJSON_IsNumber(bm) || bm->valuedouble < 2 * part || bm->valuedouble > 1e15)) {
        cJSON_Delete(bm);
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "compose.upload.buffer_max_bytes: must be a number of bytes, at least "
                          "2 x part_size");
        goto out;
    }
    if (bm)
        *buffer_max = (int64_t)bm->valuedouble;
    cJSON_Delete(bm);
    cJSON *cover = cJSON_DetachItemFromObjectCaseSensitive(u, "cover");
    if (cover && !cJSON_IsObject(cover)) {
        cJSON_Delete(cover);
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "compose.upload.cover: must be an object (an upload target, vod or s3)");
        goto out;
    }
    if (cover) {
        cJSON_DeleteItemFromObjectCaseSensitive(cover, "kind");
        cJSON_AddStringToObject(cover, "kind", "image");
        *cover_json = cJSON_PrintUnformatted(cover);
        cJSON_Delete(cover);
    }
    *up_json = cJSON_PrintUnformatted(u);
    if (!*up_json || (cover && !*cover_json))
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
out:
    cJSON_Delete(u);
    if (rc != VODQ_OK) {
        free(*up_json);
        free(*cover_json);
        *up_json = *cover_json = NULL;
        if (err)
            err->permanent = true;
    }
    return rc;
}

/* Adds "file" to a cover section. */
static char *with_file(const char *section, const char *path)
{
    cJSON *o = cJSON_Parse(section);
    char *s = NULL;
    if (o && cJSON_AddStringToObject(o, "file", path))
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ---- temporary folders ---- */

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[PATH_MAX + 256];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Removes the folders of workers that are gone (kill -9): vodq-ru-PID-* of
 * a PID that no longer runs. */
static void sweep(const char *wd)
{
    DIR *d = opendir(wd);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        long pid;
        char tail[8];
        if (sscanf(de->d_name, RU_PREFIX "%ld-%6s", &pid, tail) != 2 || pid <= 0 ||
            pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char p[PATH_MAX + 256];
        snprintf(p, sizeof(p), "%s/%s", wd, de->d_name);
        rm_dir(p);
    }
    if (d)
        closedir(d);
}

/* ---- the task ---- */

static char *ru_result(const struct vodq_engine_stats *st, const char *up_res,
                       const char *cover_res)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "duration", st->duration_s);
    cJSON_AddNumberToObject(o, "frames", (double)st->frames);
    cJSON_AddNumberToObject(o, "width", st->width);
    cJSON_AddNumberToObject(o, "height", st->height);
    cJSON_AddStringToObject(o, "encoder", st->encoder);
    cJSON_AddNumberToObject(o, "fps", st->fps);
    cJSON_AddBoolToObject(o, "hw_decode", st->hw_decode);
    cJSON *u = cJSON_Parse(up_res ? up_res : "{}");
    cJSON *c = cover_res ? cJSON_Parse(cover_res) : cJSON_CreateNull();
    if (u && c) {
        cJSON_AddItemToObject(o, "upload", u);
        cJSON_AddItemToObject(o, "cover", c);
        s = cJSON_PrintUnformatted(o);
    } else {
        cJSON_Delete(u);
        cJSON_Delete(c);
    }
    cJSON_Delete(o);
    return s;
}

/* Points the plan's cover into the folder: when the upload wants one (at
 * the timeline's time or min(1 s, half the duration)), else none. */
static enum vodq_rc ru_cover(struct vodq_plan *plan, const char *dir, bool want,
                             struct vodq_err *err)
{
    free(plan->out.cover_path);
    plan->out.cover_path = NULL;
    if (!want) {
        plan->out.cover_at_s = -1;
        return VODQ_OK;
    }
    if (plan->out.cover_at_s < 0)
        plan->out.cover_at_s = plan->duration_s / 2 < 1.0 ? plan->duration_s / 2 : 1.0;
    size_t n = strlen(dir) + 16;
    if (!(plan->out.cover_path = malloc(n)))
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    snprintf(plan->out.cover_path, n, "%s/cover.jpg", dir);
    return VODQ_OK;
}

static enum vodq_rc ru_run(const cJSON *sec, const char *spec_json, struct vodq_task_io *io,
                           struct vodq_task_result *result, struct vodq_err *err)
{
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct ru *r = calloc(1, sizeof(*r));
    char *up_json = NULL, *cover_json = NULL, *up_res = NULL, *cover_res = NULL;
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(sec, "encoder");
    const char *wd = ru_work_dir();
    void *lease = NULL;
    bool started = false;
    enum vodq_rc rc;

    memset(&tl, 0, sizeof(tl));
    memset(&plan, 0, sizeof(plan));
    if (!r)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    r->fd = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if ((rc = ru_spec(sec, &up_json, &cover_json, &r->buffer_max, err)) != VODQ_OK)
        goto out;
    if (enc && !cJSON_IsString(enc)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.encoder: must be a string");
        err->permanent = true;
        goto out;
    }
    sweep(wd);
    if (io->control && io->control(io->opaque) == VODQ_CTL_CANCEL) {
        /* cancelled while queued with a checkpoint: the upload engine only
         * aborts the multipart upload; nothing is rendered */
        struct vodq_upload_source src = {.opaque = r, .wait_bytes = u_wait_bytes};
        rc = vodq_upload_run_source(up_json, &src, io, NULL, err);
        goto out;
    }
    if ((rc = vodq_compose_plan(spec_json, wd, io, &tl, &plan, &lease, err)) != VODQ_OK)
        goto out;
    if (snprintf(r->dir, sizeof(r->dir), "%s/" RU_PREFIX "%ld-XXXXXX", wd, (long)getpid()) >=
            (int)sizeof(r->dir) ||
        !mkdtemp(r->dir)) {
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "work dir %s: cannot make a folder: %s", wd,
                          strerror(errno));
        r->dir[0] = '\0';
        goto out;
    }
    snprintf(r->out, sizeof(r->out), "%s/render.mp4", r->dir);
    if ((rc = ru_cover(&plan, r->dir, cover_json != NULL, err)) != VODQ_OK)
        goto out;
    /* credentials refreshed while the job was parked replace the spec's */
    char *auth = io->take_auth ? io->take_auth(io->opaque) : NULL;
    if (auth) {
        char *patched = vodq_job_section_with_auth(up_json, auth);
        memset(auth, 0, strlen(auth));
        free(auth);
        if (patched) {
            free(up_json);
            up_json = patched;
        }
    }

    r->io = io;
    r->plan = &plan;
    r->desired = io->control ? io->control(io->opaque) : VODQ_CTL_RUN;
    r->eo = (struct vodq_engine_opts){.opaque = r,
                                      .progress = r_progress,
                                      .control = r_control,
                                      .wait = r_wait,
                                      .encoder = enc ? enc->valuestring : NULL,
                                      .growing = true,
                                      .written = r_written};
    r->up_io = (struct vodq_task_io){.opaque = r,
                                     .progress = u_progress,
                                     .event = u_event,
                                     .control = u_control,
                                     .wait = u_wait,
                                     .take_auth = u_take_auth,
                                     .ckpt = io->ckpt,
                                     .job_id = io->job_id,
                                     .attempt = io->attempt,
                                     .max_attempts = io->max_attempts};
    clock_gettime(CLOCK_MONOTONIC, &r->last_report);
    int ret = pthread_create(&r->th, NULL, r_thread, r);
    if (ret != 0) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, ret, "start the render thread: %s", strerror(ret));
        goto out;
    }
    started = true;
    struct vodq_upload_source src = {.opaque = r, .wait_bytes = u_wait_bytes};
    struct vodq_task_result ures = {0};
    struct vodq_err uerr = {0};
    rc = vodq_upload_run_source(up_json, &src, &r->up_io, &ures, &uerr);
    up_res = ures.result_json;

    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    started = false;
    if (rc == VODQ_ERR_CANCELLED && r->render_rc != VODQ_OK &&
        r->render_rc != VODQ_ERR_CANCELLED && r->render_rc != VODQ_ERR_PAUSED) {
        rc = r->render_rc; /* the render failed, the upload was aborted for it */
        *err = r->render_err;
        if (vodq_compose_fetch_failure(lease, err) != VODQ_OK)
            rc = err->code; /* a source's download failed while it was read */
        if (rc == VODQ_ERR_MEDIA && strstr(err->msg, "encoder"))
            err->permanent = true;
        goto out;
    }
    if (rc != VODQ_OK) {
        *err = uerr;
        vodq_err_prefix(err, "compose.upload");
        goto out;
    }
    ru_report(r, true);
    if (cover_json && r->st.cover_written) {
        char *cs = with_file(cover_json, plan.out.cover_path);
        struct vodq_task_io cio = r->up_io;
        struct vodq_task_result cres = {0};
        cio.ckpt = NULL; /* one PutObject: nothing to resume */
        cio.progress = NULL;
        rc = cs ? vodq_upload_run(cs, &cio, &cres, err)
                : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        free(cs);
        cover_res = cres.result_json;
        if (rc != VODQ_OK) {
            vodq_err_prefix(err, "compose.upload.cover");
            goto out;
        }
    }
    if (result && !(result->result_json = ru_result(&r->st, up_res, cover_res)))
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
out:
    if (started) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
    }
    if (r->fd >= 0)
        close(r->fd);
    if (r->dir[0])
        rm_dir(r->dir);
    if (up_json)
        memset(up_json, 0, strlen(up_json)); /* it holds credentials */
    if (cover_json)
        memset(cover_json, 0, strlen(cover_json));
    free(up_json);
    free(cover_json);
    free(up_res);
    free(cover_res);
    vodq_compose_release(lease);
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return rc;
}

enum vodq_rc vodq_render_upload_run(const char *spec_json, struct vodq_task_io *io,
                                    struct vodq_task_result *result, struct vodq_err *err)
{
    cJSON *sec = cJSON_Parse(spec_json ? spec_json : "");
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(sec, "upload");
    enum vodq_rc rc;
    if (result)
        result->result_json = NULL;
    if (!up) {
        cJSON_Delete(sec);
        return vodq_compose_run(spec_json, io, result, err);
    }
    if (!cJSON_IsObject(up)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "compose.upload: must be an object (an upload section without file)");
        err->permanent = true;
    } else {
        rc = ru_run(sec, spec_json, io, result, err);
    }
    cJSON_Delete(sec);
    return rc;
}
