/* compose.c: the compose task executor (compose.h). */
#include "worker/compose/compose.h"

#include "shared/clock.h"

#include "worker/compose/aliyun.h"
#include "worker/compose/engine.h"
#include "worker/compose/hw.h"
#include "worker/compose/input.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
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
    int64_t t0_ms;           /* when the compose started (monotonic) */
    int64_t ttff_ms;         /* from then to the first frame the render made; 0 before */
    const cJSON *spec;       /* the compose section ("inputs" for fetches at import) */
    void *import_leases[64]; /* cache entries an Aliyun import fetched to probe */
    size_t n_import_leases;
};

void vodq_compose_set_resolver(const struct vodq_compose_resolver *r)
{
    if (r)
        g_resolver = *r;
    else
        memset(&g_resolver, 0, sizeof(g_resolver));
    vodq_input_set_resolver(r);
}

enum vodq_rc vodq_compose_fetch_failure(void *lease, struct vodq_err *err)
{
    if (!lease || !g_resolver.grow_error)
        return VODQ_OK;
    return g_resolver.grow_error(g_resolver.arg, lease, err);
}

/* The worker's default watchdog (compose-stall-timeout-s); 0 = the engine's. */
static double default_stall_s;

void vodq_compose_set_stall_timeout(double seconds)
{
    default_stall_s = seconds > 0 ? seconds : 0;
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

    if (frames > 0 && c->ttff_ms == 0)
        c->ttff_ms = vodq_mono_ms() - c->t0_ms;
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

/* Sets up c->fio, the io the resolver sees, and *inputs, the text of the
 * spec's "inputs" (credentials: free it with free_inputs). */
static enum vodq_rc fetch_setup(struct cmp_ctx *c, const cJSON *spec, char **inputs,
                                struct vodq_err *err)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(spec, "inputs");
    *inputs = NULL;
    if (in && !(*inputs = cJSON_PrintUnformatted(in)))
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    c->fio = *c->io;
    c->fio.opaque = c;
    c->fio.progress = fetch_progress;
    c->fio.event = fetch_event;
    c->fio.control = c->io->control ? cmp_control : NULL;
    c->fio.wait = c->io->wait ? cmp_wait : NULL;
    c->fio.take_auth = NULL;
    return VODQ_OK;
}

static void free_inputs(char *inputs)
{
    if (inputs) { /* holds credentials */
        memset(inputs, 0, strlen(inputs));
        free(inputs);
    }
}

/* The Aliyun importer's probe: a URL source is fetched into the cache first
 * (the lease is held until the compose's own fetch has the file), so that a
 * URL clip without Out gets the media's duration like a local one. Without
 * a resolver a URL stays unknown (the importer then asks for Out). */
static enum vodq_rc cmp_aliyun_probe(void *opaque, const char *src, struct vodq_aliyun_media *m,
                                     struct vodq_err *err)
{
    struct cmp_ctx *c = opaque;
    char *inputs = NULL, *path = NULL;
    void *lease = NULL;
    enum vodq_rc rc;

    if (strstr(src, "://") == NULL || g_resolver.resolve == NULL || c == NULL ||
        c->n_import_leases == sizeof(c->import_leases) / sizeof(c->import_leases[0]))
        return vodq_aliyun_probe_file(NULL, src, m, err);
    if ((rc = fetch_setup(c, c->spec, &inputs, err)) != VODQ_OK)
        return rc;
    const char *urls[1] = {src};
    rc = g_resolver.resolve(g_resolver.arg, inputs, urls, 1, &path, &lease, &c->fio, err);
    free_inputs(inputs);
    if (rc != VODQ_OK)
        return rc;
    c->import_leases[c->n_import_leases++] = lease;
    rc = vodq_aliyun_probe_file(NULL, path, m, err);
    free(path);
    return rc;
}

static void release_import_leases(struct cmp_ctx *c)
{
    for (size_t i = 0; i < c->n_import_leases; i++)
        if (c->import_leases[i] && g_resolver.release)
            g_resolver.release(g_resolver.arg, c->import_leases[i]);
    c->n_import_leases = 0;
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
    if ((rc = fetch_setup(c, spec, &inputs, err)) != VODQ_OK)
        goto out;
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
    free_inputs(inputs);
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

static enum vodq_rc cmp_invalid(struct vodq_err *err, const char *msg)
{
    vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s", msg);
    if (err)
        err->permanent = true;
    return VODQ_ERR_INVALID;
}

/* A JSON file of at most 16 MiB, parsed; NULL with err set. */
static cJSON *cmp_read_json(const char *path, const char *what, struct vodq_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    cJSON *j = NULL;

    if (f == NULL) {
        vodq_err_set(err, errno == ENOENT ? VODQ_ERR_NOTFOUND : VODQ_ERR_IO, errno, "%s %s: %s",
                     what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(16u << 20);
    if (buf)
        n = fread(buf, 1, (16u << 20) - 1, f);
    if (buf == NULL)
        vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    else if (ferror(f) || n == (16u << 20) - 1)
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s %s: unreadable or larger than 16 MiB", what,
                     path);
    else if ((j = cJSON_ParseWithLength(buf, n)) == NULL)
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s %s: invalid JSON", what, path);
    if (j == NULL && err)
        err->permanent = err->code == VODQ_ERR_INVALID || err->code == VODQ_ERR_NOTFOUND;
    fclose(f);
    free(buf);
    return j;
}

/* Imports an Aliyun Timeline (doc) with the spec's options into the vodq
 * timeline text *text; what lenient dropped and the approximations go to
 * *dropped / *notes. */
static enum vodq_rc cmp_aliyun(struct cmp_ctx *ctx, const cJSON *spec, const cJSON *doc,
                               const char *base_dir, char **text, cJSON **dropped, cJSON **notes,
                               struct vodq_err *err)
{
    const cJSON *omc = cJSON_GetObjectItemCaseSensitive(spec, "output_media_config");
    const cJSON *pc = cJSON_GetObjectItemCaseSensitive(spec, "produce_config");
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(spec, "media_map");
    const cJSON *mapf = cJSON_GetObjectItemCaseSensitive(spec, "media_map_file");
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(spec, "lenient");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(spec, "seed");
    struct vodq_aliyun_opts o;
    struct vodq_aliyun_result r;
    cJSON *cfg_parsed = NULL, *map_file = NULL;
    enum vodq_rc rc;

    memset(&o, 0, sizeof(o));
    if (omc && pc)
        return cmp_invalid(err, "compose: give output_media_config or produce_config, not both");
    if (pc)
        omc = pc;
    const cJSON *omcf = cJSON_GetObjectItemCaseSensitive(spec, "output_media_config_file");
    if (cJSON_IsString(omcf) && omc == NULL) {
        omc = cfg_parsed = cmp_read_json(omcf->valuestring, "output media config", err);
        if (omc == NULL)
            return err ? err->code : VODQ_ERR_INVALID;
    } else if (cJSON_IsString(omc)) { /* the API carries it as a JSON string */
        omc = cfg_parsed = cJSON_Parse(omc->valuestring);
    }
    if (omc && !cJSON_IsObject(omc)) {
        cJSON_Delete(cfg_parsed);
        return cmp_invalid(err, "compose.output_media_config: must be an object");
    }
    if (len && !cJSON_IsBool(len))
        rc = cmp_invalid(err, "compose.lenient: must be true or false");
    else if (seed && (!cJSON_IsNumber(seed) || seed->valuedouble < 0))
        rc = cmp_invalid(err, "compose.seed: must be a non-negative integer");
    else if (map && !cJSON_IsObject(map))
        rc = cmp_invalid(err, "compose.media_map: must be an object {\"MediaId\": \"path or URL\"}");
    else if (mapf && !cJSON_IsString(mapf))
        rc = cmp_invalid(err, "compose.media_map_file: must be a string");
    else
        rc = VODQ_OK;
    if (rc == VODQ_OK && cJSON_IsString(mapf)) {
        map_file = cmp_read_json(mapf->valuestring, "media map", err);
        if (map_file == NULL)
            rc = err ? err->code : VODQ_ERR_INVALID;
        else if (!cJSON_IsObject(map_file))
            rc = cmp_invalid(err, "media map: must be a JSON object {\"MediaId\": \"path or URL\"}");
        else if (map) {
            /* the spec's own entries win over the file's */
            const cJSON *it;
            cJSON_ArrayForEach(it, map)
            {
                cJSON_DeleteItemFromObject(map_file, it->string);
                cJSON_AddItemToObject(map_file, it->string, cJSON_Duplicate(it, true));
            }
        }
        map = map_file;
    }
    if (rc == VODQ_OK) {
        o.media_map = map;
        o.output_config = omc;
        o.lenient = cJSON_IsTrue(len);
        o.seed = seed ? (uint64_t)seed->valuedouble : 0;
        o.base_dir = base_dir;
        o.probe = cmp_aliyun_probe;
        o.probe_opaque = ctx;
        rc = vodq_aliyun_import(doc, &o, &r, err);
    }
    if (rc == VODQ_OK) {
        *text = cJSON_PrintUnformatted(r.timeline);
        if (*text == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
        *dropped = r.dropped;
        *notes = r.notes;
        r.dropped = r.notes = NULL;
        vodq_aliyun_result_cleanup(&r);
    }
    cJSON_Delete(cfg_parsed);
    cJSON_Delete(map_file);
    if (rc != VODQ_OK && err && rc == VODQ_ERR_INVALID)
        err->permanent = true;
    return rc;
}

/* Loads the timeline named or embedded in spec into *tl: a vodq timeline,
 * or an Aliyun one ("aliyun_timeline", "format": "aliyun", or detected by
 * its top-level keys), imported first; relative paths of an inline one
 * resolve against base_dir. *vodq_text (when not NULL) receives
 * the vodq timeline text of an import. */
static enum vodq_rc cmp_timeline(struct cmp_ctx *ctx, const cJSON *spec, const char *base_dir,
                                 struct vodq_timeline *tl, char **vodq_text, cJSON **dropped,
                                 cJSON **notes, struct vodq_err *err)
{
    const cJSON *inl = cJSON_GetObjectItemCaseSensitive(spec, "timeline");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "timeline_file");
    const cJSON *ali = cJSON_GetObjectItemCaseSensitive(spec, "aliyun_timeline");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(spec, "format");
    const char *format = cJSON_IsString(fmt) ? fmt->valuestring : "auto";
    enum vodq_rc rc;

    if (fmt && (!cJSON_IsString(fmt) || (strcmp(format, "auto") != 0 &&
                                         strcmp(format, "aliyun") != 0 &&
                                         strcmp(format, "vodq") != 0)))
        return cmp_invalid(err, "compose.format: must be \"auto\", \"vodq\" or \"aliyun\"");
    if ((ali != NULL) + (inl != NULL) + (file != NULL) == 1 &&
        (ali || (cJSON_IsString(file) && strcmp(format, "vodq") != 0) ||
         (cJSON_IsObject(inl) && (strcmp(format, "aliyun") == 0 ||
                                  (strcmp(format, "auto") == 0 && vodq_aliyun_detect(inl)))))) {
        cJSON *doc = NULL;
        char *dir, *text = NULL;
        if (cJSON_IsString(file)) {
            doc = cmp_read_json(file->valuestring, "timeline", err);
            if (doc == NULL)
                return err ? err->code : VODQ_ERR_INVALID;
            if (strcmp(format, "auto") == 0 && !vodq_aliyun_detect(doc)) {
                cJSON_Delete(doc); /* a vodq timeline file */
                return vodq_timeline_load_file(file->valuestring, tl, err);
            }
            char *fd = strdup(file->valuestring);
            dir = fd ? strdup(dirname(fd)) : NULL;
            free(fd);
        } else {
            dir = strdup(base_dir);
        }
        if (ali && !cJSON_IsObject(ali) && !cJSON_IsString(ali))
            rc = cmp_invalid(err, "compose.aliyun_timeline: must be an object or a JSON string");
        else if (dir == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
        else
            rc = cmp_aliyun(ctx, spec, doc ? doc : ali ? ali : inl, dir, &text, dropped, notes,
                            err);
        if (rc == VODQ_OK)
            rc = vodq_timeline_parse(text, strlen(text), dir, tl, err);
        if (rc == VODQ_OK && vodq_text)
            *vodq_text = text;
        else
            free(text);
        free(dir);
        cJSON_Delete(doc);
        return rc;
    }
    if (cJSON_IsString(file) && inl == NULL && ali == NULL) {
        rc = vodq_timeline_load_file(file->valuestring, tl, err);
    } else if (cJSON_IsObject(inl) && file == NULL && ali == NULL) {
        char *text = cJSON_PrintUnformatted(inl);
        if (text == NULL)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        rc = vodq_timeline_parse(text, strlen(text), base_dir, tl, err);
        free(text);
    } else {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                          "compose: exactly one of \"timeline\" (object), \"timeline_file\" "
                          "(string) or \"aliyun_timeline\" is required");
    }
    return rc;
}

/* Every local path the job reads or writes must lie inside the worker's
 * path roots (shared/roots.h); the first that does not fails the job. */
static enum vodq_rc cmp_check_roots(const struct vodq_roots *roots, const struct vodq_timeline *tl,
                                    struct vodq_err *err)
{
    char where[64];
    enum vodq_rc rc = VODQ_OK;
    if (roots == NULL || roots->n == 0)
        return VODQ_OK;
    for (size_t t = 0; rc == VODQ_OK && t < tl->n_tracks; t++) {
        for (size_t i = 0; rc == VODQ_OK && i < tl->tracks[t].n_clips; i++) {
            snprintf(where, sizeof(where), "tracks[%zu].clips[%zu].src", t, i);
            rc = vodq_roots_check(roots, where, tl->tracks[t].clips[i].src, VODQ_ROOTS_READ, NULL,
                                  0, err);
        }
    }
    for (size_t i = 0; rc == VODQ_OK && i < tl->n_overlays; i++) {
        snprintf(where, sizeof(where), "overlays[%zu].src", i);
        rc = vodq_roots_check(roots, where, tl->overlays[i].src, VODQ_ROOTS_READ, NULL, 0, err);
    }
    for (size_t i = 0; rc == VODQ_OK && i < tl->n_captions; i++) {
        const char *f = tl->captions[i].font;
        /* the built-in default fonts are system files, not the job's */
        if (f == NULL || !strcmp(f, VODQ_TIMELINE_DEFAULT_FONT) ||
            !strcmp(f, VODQ_TIMELINE_FALLBACK_FONT))
            continue;
        snprintf(where, sizeof(where), "captions[%zu].font", i);
        rc = vodq_roots_check(roots, where, f, VODQ_ROOTS_READ, NULL, 0, err);
    }
    if (rc == VODQ_OK && tl->music.src != NULL)
        rc = vodq_roots_check(roots, "music.src", tl->music.src, VODQ_ROOTS_READ, NULL, 0, err);
    if (rc == VODQ_OK && tl->output.cover_path != NULL)
        rc = vodq_roots_check(roots, "output.cover", tl->output.cover_path, VODQ_ROOTS_WRITE, NULL,
                              0, err);
    return rc;
}

static char *cmp_result(const char *output, const struct vodq_engine_stats *st,
                        const struct vodq_plan *plan, cJSON *dropped, cJSON *notes)
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
    if (dropped)
        cJSON_AddItemReferenceToObject(r, "dropped", dropped);
    if (notes)
        cJSON_AddItemReferenceToObject(r, "notes", notes);
    s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}

/* What an Aliyun import dropped (lenient) or approximated, one warning
 * event each. */
static enum vodq_rc cmp_import_warnings(struct vodq_task_io *io, const cJSON *dropped,
                                        const cJSON *notes, struct vodq_err *err)
{
    const cJSON *lists[] = {dropped, notes};
    const char *kinds[] = {"dropped", "approximated"};
    if (io == NULL || io->event == NULL)
        return VODQ_OK;
    for (size_t l = 0; l < 2; l++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, lists[l])
        {
            cJSON *ev = cJSON_CreateObject();
            char *evs;
            cJSON_AddStringToObject(ev, "source", "aliyun_timeline");
            cJSON_AddStringToObject(ev, "kind", kinds[l]);
            cJSON_AddStringToObject(ev, "message", it->valuestring);
            evs = cJSON_PrintUnformatted(ev);
            cJSON_Delete(ev);
            enum vodq_rc rc = evs ? io->event(io->opaque, "warning", evs) : VODQ_OK;
            free(evs);
            if (rc == VODQ_ERR_FENCED)
                return vodq_err_set(err, VODQ_ERR_FENCED, 0, "lease lost");
        }
    }
    return VODQ_OK;
}

/* The first half of a compose: the timeline (its file checked against the
 * roots), its remote sources fetched (*lease then holds them in the cache),
 * every local path checked against the roots, probe and plan. A bad
 * timeline or medium is permanent; a fetch failure is as the fetch decided. */
static enum vodq_rc cmp_plan(struct cmp_ctx *ctx, const cJSON *spec, const char *base_dir,
                             struct vodq_timeline *tl, struct vodq_plan *plan, void **lease,
                             cJSON **dropped, cJSON **notes, struct vodq_err *err)
{
    const struct vodq_roots *roots = ctx->io ? ctx->io->roots : NULL;
    enum vodq_rc rc = VODQ_OK;

    /* files the spec names are read only inside the roots */
    static const char *const named[] = {"timeline_file", "media_map_file",
                                        "output_media_config_file"};
    for (size_t i = 0; rc == VODQ_OK && i < sizeof(named) / sizeof(named[0]); i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(spec, named[i]);
        char what[48];
        snprintf(what, sizeof(what), "compose.%s", named[i]);
        if (cJSON_IsString(f))
            rc = vodq_roots_check(roots, what, f->valuestring, VODQ_ROOTS_READ, NULL, 0, err);
    }
    ctx->spec = spec;
    if (rc == VODQ_OK)
        rc = cmp_timeline(ctx, spec, base_dir, tl, NULL, dropped, notes, err);
    if (rc == VODQ_OK)
        rc = cmp_import_warnings(ctx->io, *dropped, *notes, err);
    if (rc == VODQ_OK) {
        rc = resolve_urls(ctx, spec, tl, lease, err);
        release_import_leases(ctx); /* the compose's own lease holds the files now */
        if (rc != VODQ_OK)
            return rc;
    }
    release_import_leases(ctx);
    if (rc == VODQ_OK)
        rc = cmp_check_roots(roots, tl, err);
    if (rc == VODQ_OK)
        rc = vodq_timeline_probe(tl, err);
    if (rc != VODQ_OK && vodq_compose_fetch_failure(*lease, err) != VODQ_OK)
        return err->code; /* a source's download failed while it was probed */
    if (rc == VODQ_OK)
        rc = vodq_plan_build(tl, plan, err);
    /* the timeline or its media: retrying cannot help */
    if (err && (rc == VODQ_ERR_INVALID || rc == VODQ_ERR_MEDIA || rc == VODQ_ERR_NOTFOUND))
        err->permanent = true;
    return rc;
}

enum vodq_rc vodq_compose_plan(const char *spec_json, const char *base_dir,
                               struct vodq_task_io *io, struct vodq_timeline *tl,
                               struct vodq_plan *plan, void **lease, struct vodq_err *err)
{
    cJSON *spec = cJSON_Parse(spec_json ? spec_json : "");
    struct cmp_ctx ctx;
    enum vodq_rc rc;

    cJSON *dropped = NULL, *notes = NULL;
    memset(&ctx, 0, sizeof(ctx));
    ctx.io = io;
    *lease = NULL;
    if (!cJSON_IsObject(spec)) {
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose: spec is not a JSON object");
        if (err)
            err->permanent = true;
    } else {
        rc = cmp_plan(&ctx, spec, base_dir, tl, plan, lease, &dropped, &notes, err);
    }
    cJSON_Delete(dropped);
    cJSON_Delete(notes);
    cJSON_Delete(spec);
    return rc;
}

void vodq_compose_release(void *lease)
{
    if (lease && g_resolver.release)
        g_resolver.release(g_resolver.arg, lease);
}

enum vodq_rc vodq_compose_run(const char *spec_json, struct vodq_task_io *io,
                              struct vodq_task_result *result, struct vodq_err *err)
{
    cJSON *spec = cJSON_Parse(spec_json ? spec_json : "");
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_engine_stats st;
    struct cmp_ctx ctx;
    struct vodq_engine_opts o = {.opaque = &ctx, .progress = cmp_progress,
                                 .control = cmp_control, .wait = cmp_wait,
                                 .stall_timeout_s = default_stall_s};
    const cJSON *out, *enc, *stall;
    void *lease = NULL;
    cJSON *dropped = NULL, *notes = NULL;
    enum vodq_rc rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.io = io;
    ctx.t0_ms = vodq_mono_ms();

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
    stall = cJSON_GetObjectItemCaseSensitive(spec, "stall_timeout");
    if (stall != NULL && !cJSON_IsNull(stall)) {
        if (!cJSON_IsNumber(stall) || !(stall->valuedouble >= 1 && stall->valuedouble <= 86400)) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                              "compose.stall_timeout: must be a number of seconds, 1..86400");
            if (err)
                err->permanent = true;
            goto out;
        }
        o.stall_timeout_s = stall->valuedouble;
    }
    /* the output is checked before anything is read */
    rc = vodq_roots_check(io ? io->roots : NULL, "compose.output", out->valuestring,
                          VODQ_ROOTS_WRITE, NULL, 0, err);
    if (rc != VODQ_OK)
        goto out;
    char *dir = strdup(out->valuestring);
    rc = dir ? cmp_plan(&ctx, spec, dirname(dir), &tl, &plan, &lease, &dropped, &notes, err)
             : vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    free(dir);
    if (rc != VODQ_OK)
        goto out;
    /* a killed earlier attempt left its temp files: they are ours to remove */
    sweep_for(out->valuestring);
    if (plan.out.cover_path)
        sweep_for(plan.out.cover_path);
    rc = vodq_engine_render(&plan, out->valuestring, &o, &st, err);
    if (rc != VODQ_OK && rc != VODQ_ERR_CANCELLED && rc != VODQ_ERR_PAUSED && err &&
        vodq_compose_fetch_failure(lease, err) != VODQ_OK)
        rc = err->code; /* a source's download failed while it was read */
    else if (rc == VODQ_ERR_MEDIA && err && strstr(err->msg, "encoder") != NULL)
        err->permanent = true;
    if (rc == VODQ_OK && result) {
        result->result_json = cmp_result(out->valuestring, &st, &plan, dropped, notes);
        cJSON *rj = result->result_json ? cJSON_Parse(result->result_json) : NULL;
        if (rj && cJSON_AddNumberToObject(rj, "ttff_ms", (double)ctx.ttff_ms)) {
            char *t = cJSON_PrintUnformatted(rj);
            if (t) {
                free(result->result_json);
                result->result_json = t;
            }
        }
        cJSON_Delete(rj);
        if (result->result_json == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
out:
    vodq_compose_release(lease);
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
    /* the inputs hold credentials: wipe them before the memory is freed */
    const cJSON *in = spec ? cJSON_GetObjectItemCaseSensitive(spec, "inputs") : NULL;
    for (cJSON *it = cJSON_IsObject(in) ? in->child : NULL; it; it = it->next)
        if (cJSON_IsString(it) && it->valuestring)
            memset(it->valuestring, 0, strlen(it->valuestring));
    cJSON_Delete(spec);
    cJSON_Delete(dropped);
    cJSON_Delete(notes);
    return rc;
}

char *vodq_compose_print_timeline(const char *spec_json, struct vodq_err *err)
{
    cJSON *spec = cJSON_Parse(spec_json ? spec_json : "");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(spec, "output");
    cJSON *dropped = NULL, *notes = NULL, *j;
    struct vodq_timeline tl;
    char *text = NULL, *pretty = NULL, *od = strdup(cJSON_IsString(out) ? out->valuestring : "./out.mp4");
    const char *base_dir = od ? dirname(od) : ".";
    struct vodq_task_io io;
    struct cmp_ctx ctx; /* URL sources of an Aliyun import are fetched to probe them */

    memset(&io, 0, sizeof(io));
    memset(&ctx, 0, sizeof(ctx));
    ctx.io = &io;
    ctx.spec = spec;
    memset(&tl, 0, sizeof(tl));
    if (!cJSON_IsObject(spec)) {
        cmp_invalid(err, "compose: spec is not a JSON object");
    } else if (cmp_timeline(&ctx, spec, base_dir, &tl, &text, &dropped, &notes, err) == VODQ_OK) {
        if (text == NULL) {
            /* a vodq timeline: print what was given */
            const cJSON *inl = cJSON_GetObjectItemCaseSensitive(spec, "timeline");
            const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "timeline_file");
            j = inl ? cJSON_Duplicate(inl, true)
                    : cmp_read_json(file->valuestring, "timeline", err);
        } else {
            j = cJSON_Parse(text);
        }
        if (j && (dropped || notes)) {
            /* shown next to the timeline, for the reader; not timeline fields */
            cJSON *wrap = cJSON_CreateObject();
            cJSON_AddItemToObject(wrap, "timeline", j);
            if (dropped)
                cJSON_AddItemReferenceToObject(wrap, "dropped", dropped);
            if (notes)
                cJSON_AddItemReferenceToObject(wrap, "notes", notes);
            j = wrap;
        }
        pretty = j ? cJSON_Print(j) : NULL;
        cJSON_Delete(j);
        if (pretty == NULL && err && err->code == VODQ_OK)
            vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
    }
    free(text);
    release_import_leases(&ctx);
    vodq_timeline_cleanup(&tl);
    cJSON_Delete(dropped);
    cJSON_Delete(notes);
    cJSON_Delete(spec);
    free(od);
    return pretty;
}
