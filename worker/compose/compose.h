/* compose.h: the compose task executor (executor.h) and the probe record.
 *
 * spec_json: {"timeline": {...} | "timeline_file": "/path.json",
 *             "output": "/path.mp4", "encoder": "auto" | NAME}
 * ("encoder" overrides the timeline's output.encoder). Relative media paths
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

struct vodq_timeline;
struct vodq_plan;

/* The first half of a compose: loads the spec section's timeline (inline
 * ones resolve relative paths against base_dir), probes its media and
 * builds the render plan (plan.h) into caller-zeroed *tl and *plan, which
 * the caller cleans up. A bad timeline or medium sets err->permanent. */
enum vodq_rc vodq_compose_plan(const char *spec_json, const char *base_dir,
                               struct vodq_timeline *tl, struct vodq_plan *plan,
                               struct vodq_err *err);

/* The encoder probe (hw.h) as a new malloc'd JSON object text, or NULL. */
char *vodq_compose_capabilities_json(void);

#endif
