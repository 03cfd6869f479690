/* compose.h: the compose task executor (executor.h) and the probe record.
 *
 * spec_json: {"timeline": {...} | "timeline_file": "/path.json" |
 *             "aliyun_timeline": {...} or "json string",
 *             "output": "/path.mp4", "encoder": "auto" | NAME,
 *             Aliyun import (docs/aliyun-timeline.md): "format": "auto" | "vodq" |
 *             "aliyun", "output_media_config" | "produce_config": {...},
 *             "media_map": {"MediaId": "path or URL"}, "media_map_file": path,
 *             "inputs": {...} credentials for s3:// and oss:// sources (fetch.h),
 *             "lenient": bool, "seed": N, "stall_timeout": seconds}
 * ("encoder" overrides the timeline's output.encoder; "stall_timeout", 1..86400,
 * fails a render that makes no progress that long, default 60 s). Relative media paths
 * resolve against the timeline file's folder, or the output's folder for an
 * inline timeline. A bad timeline fails with err->permanent set and the JSON
 * path in the message. Progress: milliseconds of output, extra
 * {"frames":N,"fps":F}. Result: {"output":..,"duration":s,"frames":N,
 * "width":W,"height":H,"encoder":"libx264","cover":path|null}, plus
 * "dropped" and "notes" (arrays of strings) after an Aliyun import, each also
 * sent as a "warning" event {"source":"aliyun_timeline","kind":..,"message":..}. */
#ifndef VODQ_COMPOSE_COMPOSE_H
#define VODQ_COMPOSE_COMPOSE_H

#include "shared/err.h"
#include "worker/executor.h"

/* Maps the remote sources of a timeline (http://, https://, s3://, oss://)
 * to local files: fills paths[i] for urls[i] (new strings, caller frees) and
 * *lease, released with release(arg, lease) once the render is over.
 * inputs_json is the spec's "inputs" object text or NULL. It reports
 * progress through io (done/total bytes, extra {"phase":"fetch"}) and polls
 * io->control. On failure nothing is held and err names the URL without its
 * query string. worker/upload/fetch.c provides one (vodq_fetch_resolve); the
 * compose code itself never includes libcurl. */
struct vodq_compose_resolver {
    void *arg;
    enum vodq_rc (*resolve)(void *arg, const char *inputs_json, const char *const *urls,
                            size_t n, char **paths, void **lease, struct vodq_task_io *io,
                            struct vodq_err *err);
    void (*release)(void *arg, void *lease);
    /* Progressive sources (each may be NULL): a path resolve returned may
     * still be downloading; see vodq_fetch_grow_open, _wait and _error. The
     * compose reads such a file through worker/compose/input.c. */
    int (*grow_open)(void *arg, const char *path, int64_t *size);
    int64_t (*grow_wait)(void *arg, const char *path, int64_t need, int timeout_ms,
                         struct vodq_err *err);
    enum vodq_rc (*grow_error)(void *arg, void *lease, struct vodq_err *err);
};

/* Sets the resolver every later compose uses (copied; NULL = none: a timeline
 * with URL sources then fails). Call once at start-up, before any compose runs. */
void vodq_compose_set_resolver(const struct vodq_compose_resolver *r);

/* VODQ_OK, or (err filled) the failure of a progressive download of lease
 * (vodq_compose_plan's): a render that read a growing source and failed
 * reports this instead of its read error. */
enum vodq_rc vodq_compose_fetch_failure(void *lease, struct vodq_err *err);

/* Removes OUT.part-XXXXXX temp files that a killed render left behind in
 * folder dir when they were last modified more than min_age_s ago (0: any
 * age). Returns the number removed. Best effort; never follows links. */
int vodq_compose_sweep_partials(const char *dir, int min_age_s);

/* Runs a compose task; a vodq_exec_run_fn. */
enum vodq_rc vodq_compose_run(const char *spec_json, struct vodq_task_io *io,
                              struct vodq_task_result *result, struct vodq_err *err);

struct vodq_timeline;
struct vodq_plan;

/* The first half of a compose: loads the spec section's timeline (inline
 * ones resolve relative paths against base_dir), fetches its remote sources
 * through the resolver (progress and control through io, borrowed;
 * io->roots confines every path), probes its media and builds
 * the render plan (plan.h) into caller-zeroed *tl and *plan, which the
 * caller cleans up. *lease holds the fetched files in the cache until
 * vodq_compose_release(*lease), also on failure. A bad timeline or medium
 * sets err->permanent. */
enum vodq_rc vodq_compose_plan(const char *spec_json, const char *base_dir,
                               struct vodq_task_io *io, struct vodq_timeline *tl,
                               struct vodq_plan *plan, void **lease, struct vodq_err *err);

/* Lets the cache evict what vodq_compose_plan() fetched; NULL is a no-op. */
void vodq_compose_release(void *lease);

/* The vodq timeline a compose spec renders (after an Aliyun import, with
 * "dropped" and "notes" beside it: {"timeline":..,"dropped":[..],"notes":[..]}),
 * as new malloc'd pretty JSON; NULL with err set (the import's error). */
char *vodq_compose_print_timeline(const char *spec_json, struct vodq_err *err);

/* Sets the stall timeout (seconds) of tasks whose spec gives none; <= 0 =
 * the engine's default (60 s). Call before any task runs. */
void vodq_compose_set_stall_timeout(double seconds);

/* The encoder probe (hw.h) as a new malloc'd JSON object text, or NULL. */
char *vodq_compose_capabilities_json(void);

#endif
