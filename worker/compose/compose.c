/* compose.c: the compose task executor (compose.h). */
#include "worker/compose/compose.h"

#include "worker/compose/aliyun.h"
#include "worker/compose/engine.h"
#include "worker/compose/hw.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *vodq_compose_capabilities_json(void)
{
    return vodq_hw_probe_json();
}

static enum vodq_rc cmp_progress(void *opaque, int64_t done_ms, int64_t total_ms, int64_t frames,
                                 double fps)
{
    struct vodq_task_io *io = opaque;
    char extra[96];

    if (io->progress == NULL)
        return VODQ_OK;
    snprintf(extra, sizeof(extra), "{\"frames\":%lld,\"fps\":%.1f}", (long long)frames, fps);
    return io->progress(io->opaque, done_ms, total_ms, extra);
}

static enum vodq_ctl cmp_control(void *opaque)
{
    struct vodq_task_io *io = opaque;
    return io->control ? io->control(io->opaque) : VODQ_CTL_RUN;
}

static enum vodq_ctl cmp_wait(void *opaque, int timeout_ms)
{
    struct vodq_task_io *io = opaque;
    return io->wait ? io->wait(io->opaque, timeout_ms) : cmp_control(opaque);
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

/* The folder of path (malloc'd). */
static char *cmp_dir(const char *path)
{
    char *d = strdup(path), *r;
    if (d == NULL)
        return NULL;
    r = strdup(dirname(d));
    free(d);
    return r;
}

/* Imports an Aliyun Timeline (doc) with the spec's options into the vodq
 * timeline text *text; what lenient dropped and the approximations go to
 * *dropped / *notes. */
static enum vodq_rc cmp_aliyun(const cJSON *spec, const cJSON *doc, const char *base_dir,
                               char **text, cJSON **dropped, cJSON **notes, struct vodq_err *err)
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
        o.probe = vodq_aliyun_probe_file;
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
 * its top-level keys), imported first. *vodq_text (when not NULL) receives
 * the vodq timeline text of an import. */
static enum vodq_rc cmp_timeline(const cJSON *spec, const char *output, struct vodq_timeline *tl,
                                 char **vodq_text, cJSON **dropped, cJSON **notes,
                                 struct vodq_err *err)
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
            dir = cmp_dir(file->valuestring);
        } else {
            dir = cmp_dir(output);
        }
        if (ali && !cJSON_IsObject(ali) && !cJSON_IsString(ali))
            rc = cmp_invalid(err, "compose.aliyun_timeline: must be an object or a JSON string");
        else if (dir == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, ENOMEM, "out of memory");
        else
            rc = cmp_aliyun(spec, doc ? doc : ali ? ali : inl, dir, &text, dropped, notes, err);
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
                          "compose: exactly one of \"timeline\" (object), \"timeline_file\" "
                          "(string) or \"aliyun_timeline\" is required");
    }
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

enum vodq_rc vodq_compose_run(const char *spec_json, struct vodq_task_io *io,
                              struct vodq_task_result *result, struct vodq_err *err)
{
    cJSON *spec = cJSON_Parse(spec_json ? spec_json : "");
    struct vodq_timeline tl;
    struct vodq_plan plan;
    struct vodq_engine_stats st;
    struct vodq_engine_opts o = {io, cmp_progress, cmp_control, cmp_wait, NULL};
    const cJSON *out, *enc;
    cJSON *dropped = NULL, *notes = NULL;
    enum vodq_rc rc;

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
    rc = cmp_timeline(spec, out->valuestring, &tl, NULL, &dropped, &notes, err);
    if (rc == VODQ_OK && io && io->event) {
        /* What the Aliyun import dropped (lenient) or approximated. */
        const cJSON *lists[] = {dropped, notes};
        const char *kinds[] = {"dropped", "approximated"};
        for (size_t l = 0; l < 2 && rc == VODQ_OK; l++) {
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
                if (evs && io->event(io->opaque, "warning", evs) == VODQ_ERR_FENCED)
                    rc = vodq_err_set(err, VODQ_ERR_FENCED, 0, "lease lost");
                free(evs);
                if (rc != VODQ_OK)
                    break;
            }
        }
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
    rc = vodq_engine_render(&plan, out->valuestring, &o, &st, err);
    if (rc == VODQ_ERR_MEDIA && err && strstr(err->msg, "encoder") != NULL)
        err->permanent = true;
    if (rc == VODQ_OK && result) {
        result->result_json = cmp_result(out->valuestring, &st, &plan, dropped, notes);
        if (result->result_json == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
out:
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
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
    char *text = NULL, *pretty = NULL;

    memset(&tl, 0, sizeof(tl));
    if (!cJSON_IsObject(spec)) {
        cmp_invalid(err, "compose: spec is not a JSON object");
    } else if (cmp_timeline(spec, cJSON_IsString(out) ? out->valuestring : "./out.mp4", &tl,
                            &text, &dropped, &notes, err) == VODQ_OK) {
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
    vodq_timeline_cleanup(&tl);
    cJSON_Delete(dropped);
    cJSON_Delete(notes);
    cJSON_Delete(spec);
    return pretty;
}
