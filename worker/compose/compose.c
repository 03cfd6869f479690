/* compose.c: the compose task executor (compose.h). */
#include "worker/compose/compose.h"

#include "worker/compose/engine.h"
#include "worker/compose/hw.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct vodq_compose_resolver g_resolver; /* set once at start-up */

/* Share of the progress bar the fetch of remote sources takes, percent. */
#define FETCH_SHARE 20

/* What the engine's callbacks get: the task's io, and whether a fetch took
 * the first FETCH_SHARE percent of the progress. */
struct cmp_ctx {
    struct vodq_task_io *io;
    bool fetched;
    struct vodq_task_io fio; /* the io the resolver sees (progress rescaled) */
};

void vodq_compose_set_resolver(const struct vodq_compose_resolver *r)
{
    if (r)
        g_resolver = *r;
    else
        memset(&g_resolver, 0, sizeof(g_resolver));
}

char *vodq_compose_capabilities_json(void)
{
    return vodq_hw_probe_json();
}

static enum vodq_rc cmp_progress(void *opaque, int64_t done_ms, int64_t total_ms, int64_t frames,
                                 double fps)
{
    struct cmp_ctx *c = opaque;
    struct vodq_task_io *io = c->io;
    char extra[160];

    if (io->progress == NULL)
        return VODQ_OK;
    if (c->fetched && total_ms > 0) { /* the render is the last 100 - FETCH_SHARE percent */
        snprintf(extra, sizeof(extra),
                 "{\"frames\":%lld,\"fps\":%.1f,\"render_ms\":%lld,\"render_total_ms\":%lld}",
                 (long long)frames, fps, (long long)done_ms, (long long)total_ms);
        return io->progress(io->opaque,
                            total_ms * FETCH_SHARE + done_ms * (100 - FETCH_SHARE),
                            total_ms * 100, extra);
    }
    snprintf(extra, sizeof(extra), "{\"frames\":%lld,\"fps\":%.1f}", (long long)frames, fps);
    return io->progress(io->opaque, done_ms, total_ms, extra);
}

static enum vodq_ctl cmp_control(void *opaque)
{
    struct cmp_ctx *c = opaque;
    return c->io->control ? c->io->control(c->io->opaque) : VODQ_CTL_RUN;
}

static enum vodq_ctl cmp_wait(void *opaque, int timeout_ms)
{
    struct cmp_ctx *c = opaque;
    return c->io->wait ? c->io->wait(c->io->opaque, timeout_ms) : cmp_control(opaque);
}

/* ---- Remote sources ---- */

/* The resolver's io: bytes fetched become the first FETCH_SHARE percent. */
static enum vodq_rc fetch_progress(void *opaque, int64_t done, int64_t total, const char *extra)
{
    struct cmp_ctx *c = opaque;
    char x[128];
    (void)extra;
    if (c->io->progress == NULL || total <= 0)
        return VODQ_OK;
    c->fetched = true;
    snprintf(x, sizeof(x), "{\"phase\":\"fetch\",\"fetched\":%lld,\"fetch_total\":%lld}",
             (long long)done, (long long)total);
    return c->io->progress(c->io->opaque, done * FETCH_SHARE, total * 100, x);
}

static enum vodq_rc fetch_event(void *opaque, const char *name, const char *json)
{
    struct cmp_ctx *c = opaque;
    return c->io->event ? c->io->event(c->io->opaque, name, json) : VODQ_OK;
}

/* A source string of the timeline that is a URL, and its JSON path. */
struct url_ref {
    char **s;
    char path[96]; /* "tracks[T].clips[I].src" */
};

/* Collects every source string of tl that is a URL. */
static size_t url_refs(struct vodq_timeline *tl, struct url_ref *refs, size_t cap)
{
    size_t n = 0;
#define ADD(p, ...)                                                                               \
    do {                                                                                          \
        if ((p) && strstr((p), "://") && n < cap) {                                               \
            refs[n].s = &(p);                                                                     \
            snprintf(refs[n++].path, sizeof(refs[0].path), __VA_ARGS__);                          \
        }                                                                                         \
    } while (0)
    for (size_t t = 0; t < tl->n_tracks; t++)
        for (size_t i = 0; i < tl->tracks[t].n_clips; i++)
            ADD(tl->tracks[t].clips[i].src, "tracks[%zu].clips[%zu].src", t, i);
    for (size_t i = 0; i < tl->n_overlays; i++)
        ADD(tl->overlays[i].src, "overlays[%zu].src", i);
    for (size_t i = 0; i < tl->n_captions; i++)
        ADD(tl->captions[i].font, "captions[%zu].font", i);
    ADD(tl->music.src, "music.src");
#undef ADD
    return n;
}

static size_t count_srcs(const struct vodq_timeline *tl)
{
    size_t n = tl->n_overlays + tl->n_captions + 1;
    for (size_t t = 0; t < tl->n_tracks; t++)
        n += tl->tracks[t].n_clips;
    return n;
}

/* Replaces every URL source of tl by a local file from the resolver. The
 * same URL used twice is fetched once. *lease is for the resolver's release. */
static enum vodq_rc resolve_urls(struct cmp_ctx *c, const cJSON *spec, struct vodq_timeline *tl,
                                 void **lease, struct vodq_err *err)
{
    size_t cap = count_srcs(tl), n, nu = 0;
    struct url_ref *refs = calloc(cap, sizeof(*refs));
    const char **urls = calloc(cap, sizeof(*urls));
    char **paths = calloc(cap, sizeof(*paths));
    size_t *which = calloc(cap, sizeof(*which));
    char *inputs = NULL;
    enum vodq_rc rc = VODQ_OK;

    *lease = NULL;
    if (!refs || !urls || !paths || !which) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto out;
    }
    n = url_refs(tl, refs, cap);
    if (n == 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < nu && strcmp(urls[j], *refs[i].s) != 0)
            j++;
        if (j == nu)
            urls[nu++] = *refs[i].s;
        which[i] = j;
    }
    if (g_resolver.resolve == NULL) {
        size_t q = strcspn(urls[0], "?#");
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "source %.*s: remote sources are not supported here", (int)q, urls[0]);
        goto out;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(spec, "inputs");
    if (in && !(inputs = cJSON_PrintUnformatted(in))) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto out;
    }
    c->fio = *c->io;
    c->fio.opaque = c;
    c->fio.progress = fetch_progress;
    c->fio.event = fetch_event;
    c->fio.control = c->io->control ? cmp_control : NULL;
    c->fio.wait = c->io->wait ? cmp_wait : NULL;
    c->fio.take_auth = NULL;
    rc = g_resolver.resolve(g_resolver.arg, inputs, urls, nu, paths, lease, &c->fio, err);
    if (rc != VODQ_OK) {
        /* name the JSON path of the (first) source the error is about */
        for (size_t i = 0; err && i < n; i++) {
            size_t q = strcspn(*refs[i].s, "?#");
            char shown[512];
            snprintf(shown, sizeof(shown), "%.*s:", (int)(q < 400 ? q : 400), *refs[i].s);
            if (strstr(err->msg, shown)) {
                vodq_err_prefix(err, "%s", refs[i].path);
                break;
            }
        }
        goto out;
    }
    /* the timeline owns its strings: swap each URL for its file */
    for (size_t i = 0; i < n; i++) {
        char *p = strdup(paths[which[i]]);
        if (!p) {
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
            goto out;
        }
        free(*refs[i].s);
        *refs[i].s = p;
    }
out:
    if (inputs) { /* holds credentials */
        memset(inputs, 0, strlen(inputs));
        free(inputs);
    }
    for (size_t i = 0; paths && i < nu; i++)
        free(paths[i]);
    free(refs);
    free(urls);
    free(paths);
    free(which);
    return rc;
}

/* ---- Temp files of killed renders ---- */

/* True for NAME.part-XXXXXX (mkstemp's six characters). */
static bool is_partial(const char *name, const char *prefix)
{
    const char *p = strstr(name, ".part-");
    if (!p || strlen(p) != 12 || p == name)
        return false;
    return prefix == NULL ||
           ((size_t)(p - name) == strlen(prefix) && strncmp(name, prefix, strlen(prefix)) == 0);
}

/* Removes the partial files in dir (of base only when base is set). */
static int sweep(const char *dir, const char *base, int min_age_s)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (!is_partial(de->d_name, base))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (min_age_s > 0 && now - st.st_mtime < min_age_s)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    return n;
}

int vodq_compose_sweep_partials(const char *dir, int min_age_s)
{
    return sweep(dir, NULL, min_age_s);
}

/* Removes what an earlier, killed attempt at writing path left behind. */
static void sweep_for(const char *path)
{
    char *d = strdup(path), *b = strdup(path);
    if (d && b)
        sweep(dirname(d), basename(b), 0);
    free(d);
    free(b);
}

/* Loads the timeline named or embedded in spec into *tl. */
static enum vodq_rc cmp_timeline(const cJSON *spec, const char *output, struct vodq_timeline *tl,
                                 struct vodq_err *err)
{
    const cJSON *inl = cJSON_GetObjectItemCaseSensitive(spec, "timeline");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "timeline_file");
    enum vodq_rc rc;

    if (cJSON_IsString(file) && inl == NULL) {
        rc = vodq_timeline_load_file(file->valuestring, tl, err);
    } else if (cJSON_IsObject(inl) && file == NULL) {
        char *text = cJSON_PrintUnformatted(inl);
        char *dir = strdup(output);
        if (text == NULL || dir == NULL) {
            free(text);
            free(dir);
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        }
        rc = vodq_timeline_parse(text, strlen(text), dirname(dir), tl, err);
        free(text);
        free(dir);
    } else {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "compose: exactly one of \"timeline\" (object) or \"timeline_file\" "
                          "(string) is required");
    }
    return rc;
}

static char *cmp_result(const char *output, const struct vodq_engine_stats *st,
                        const struct vodq_plan *plan)
{
    cJSON *r = cJSON_CreateObject();
    char *s;

    if (r == NULL)
        return NULL;
    cJSON_AddStringToObject(r, "output", output);
    cJSON_AddNumberToObject(r, "duration", st->duration_s);
    cJSON_AddNumberToObject(r, "frames", (double)st->frames);
    cJSON_AddNumberToObject(r, "width", st->width);
    cJSON_AddNumberToObject(r, "height", st->height);
    cJSON_AddStringToObject(r, "encoder", st->encoder);
    if (st->cover_written)
        cJSON_AddStringToObject(r, "cover", plan->out.cover_path);
    else
        cJSON_AddNullToObject(r, "cover");
    cJSON_AddNumberToObject(r, "fps", st->fps);
    cJSON_AddBoolToObject(r, "hw_decode", st->hw_decode);
    s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}

enum vodq_rc vodq_compose_run(const char *spec_json, struct vodq_task_io *io,
                              struct vodq_task_result *result, struct vodq_err *err)
{
    cJSON *spec = cJSON_Parse(spec_json ? spec_json : "");
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_engine_stats st;
    struct cmp_ctx ctx;
    struct vodq_engine_opts o = {&ctx, cmp_progress, cmp_control, cmp_wait, NULL};
    const cJSON *out, *enc;
    void *lease = NULL;
    enum vodq_rc rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.io = io;

    memset(&tl, 0, sizeof(tl));
    memset(&plan, 0, sizeof(plan));
    if (result)
        result->result_json = NULL;
    if (!cJSON_IsObject(spec)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose: spec is not a JSON object");
        if (err)
            err->permanent = true;
        goto out;
    }
    out = cJSON_GetObjectItemCaseSensitive(spec, "output");
    enc = cJSON_GetObjectItemCaseSensitive(spec, "encoder");
    if (!cJSON_IsString(out) || out->valuestring[0] == '\0') {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.output: a file path is required");
        if (err)
            err->permanent = true;
        goto out;
    }
    if (enc != NULL && !cJSON_IsString(enc)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.encoder: must be a string");
        if (err)
            err->permanent = true;
        goto out;
    }
    o.encoder = enc ? enc->valuestring : NULL;
    rc = cmp_timeline(spec, out->valuestring, &tl, err);
    if (rc == VODQ_OK) {
        rc = resolve_urls(&ctx, spec, &tl, &lease, err);
        if (rc != VODQ_OK)
            goto out; /* err->permanent as the fetch decided */
    }
    if (rc == VODQ_OK)
        rc = vodq_timeline_probe(&tl, err);
    if (rc == VODQ_OK)
        rc = vodq_plan_build(&tl, &plan, err);
    if (rc != VODQ_OK) {
        /* the timeline or its media: retrying cannot help */
        if (err && (rc == VODQ_ERR_INVALID || rc == VODQ_ERR_MEDIA || rc == VODQ_ERR_NOTFOUND))
            err->permanent = true;
        goto out;
    }
    /* a killed earlier attempt left its temp files: they are ours to remove */
    sweep_for(out->valuestring);
    if (plan.out.cover_path)
        sweep_for(plan.out.cover_path);
    rc = vodq_engine_render(&plan, out->valuestring, &o, &st, err);
    if (rc == VODQ_ERR_MEDIA && err && strstr(err->msg, "encoder") != NULL)
        err->permanent = true;
    if (rc == VODQ_OK && result) {
        result->result_json = cmp_result(out->valuestring, &st, &plan);
        if (result->result_json == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
out:
    if (lease && g_resolver.release)
        g_resolver.release(g_resolver.arg, lease);
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
    /* the inputs hold credentials: wipe them before the memory is freed */
    const cJSON *in = spec ? cJSON_GetObjectItemCaseSensitive(spec, "inputs") : NULL;
    for (cJSON *it = cJSON_IsObject(in) ? in->child : NULL; it; it = it->next)
        if (cJSON_IsString(it) && it->valuestring)
            memset(it->valuestring, 0, strlen(it->valuestring));
    cJSON_Delete(spec);
    return rc;
}
