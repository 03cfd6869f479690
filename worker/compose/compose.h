/* compose.h: the compose task executor (executor.h) and the probe record.
 *
 * spec_json: {"timeline": {...} | "timeline_file": "/path.json",
 *             "output": "/path.mp4", "encoder": "auto" | NAME,
 *             "stall_timeout": seconds}
 * ("encoder" overrides the timeline's output.encoder; "stall_timeout", 1..86400,
 * fails a render that makes no progress that long, default 60 s). Relative media paths
 * resolve against the timeline file's folder, or the output's folder for an
 * inline timeline. A bad timeline fails with err->permanent set and the JSON
 * path in the message. Progress: milliseconds of output, extra
 * {"frames":N,"fps":F}. Result: {"output":..,"duration":s,"frames":N,
 * "width":W,"height":H,"encoder":"libx264","cover":path|null}. */
#ifndef VODQ_COMPOSE_COMPOSE_H
#define VODQ_COMPOSE_COMPOSE_H

#include "shared/err.h"
#include "worker/executor.h"

/* Runs a compose task; a vodq_exec_run_fn. */
enum vodq_rc vodq_compose_run(const char *spec_json, struct vodq_task_io *io,
                              struct vodq_task_result *result, struct vodq_err *err);

/* Sets the stall timeout (seconds) of tasks whose spec gives none; <= 0 =
 * the engine's default (60 s). Call before any task runs. */
void vodq_compose_set_stall_timeout(double seconds);

/* The encoder probe (hw.h) as a new malloc'd JSON object text, or NULL. */
char *vodq_compose_capabilities_json(void);

#endif
