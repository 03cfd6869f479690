/* compose.c: the compose task executor (compose.h). */
#include "worker/compose/compose.h"

#include "worker/compose/engine.h"
#include "worker/compose/hw.h"
#include "worker/compose/plan.h"
#include "worker/compose/timeline.h"

#include <cjson/cJSON.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    struct vodq_engine_opts o = {io, cmp_progress, cmp_control, cmp_wait, NULL, default_stall_s};
    const cJSON *out, *enc, *stall;
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
    rc = cmp_timeline(spec, out->valuestring, &tl, err);
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
        result->result_json = cmp_result(out->valuestring, &st, &plan);
        if (result->result_json == NULL)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
out:
    vodq_plan_cleanup(&plan);
    vodq_timeline_cleanup(&tl);
    cJSON_Delete(spec);
    return rc;
}
