/* compose.h: the compose task executor (executor.h) and the probe record.
 *
 * spec_json: {"timeline": {...} | "timeline_file": "/path.json" |
 *             "aliyun_timeline": {...} or "json string",
 *             "output": "/path.mp4", "encoder": "auto" | NAME,
 *             Aliyun import (docs/aliyun-timeline.md): "format": "auto" | "vodq" |
 *             "aliyun", "output_media_config" | "produce_config": {...},
 *             "media_map": {"MediaId": "path or URL"}, "media_map_file": path,
 *             "lenient": bool, "seed": N}
 * ("encoder" overrides the timeline's output.encoder). Relative media paths
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

/* Runs a compose task; a vodq_exec_run_fn. */
enum vodq_rc vodq_compose_run(const char *spec_json, struct vodq_task_io *io,
                              struct vodq_task_result *result, struct vodq_err *err);

/* The vodq timeline a compose spec renders (after an Aliyun import, with
 * "dropped" and "notes" beside it: {"timeline":..,"dropped":[..],"notes":[..]}),
 * as new malloc'd pretty JSON; NULL with err set (the import's error). */
char *vodq_compose_print_timeline(const char *spec_json, struct vodq_err *err);

/* The encoder probe (hw.h) as a new malloc'd JSON object text, or NULL. */
char *vodq_compose_capabilities_json(void);

#endif
