/* sleep.c: the sleep diagnostic task (tests, benchmarks, health checks). */
#include "worker/sleep.h"

#include "shared/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void nap(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

enum vodq_rc vodq_sleep_run(const char *spec_json, struct vodq_task_io *io,
                            struct vodq_task_result *result, struct vodq_err *err)
{
    int64_t ms = (int64_t)vodq_json_get_number(spec_json, "ms", -1);
    int fail_times = (int)vodq_json_get_number(spec_json, "fail_times", 0);
    bool permanent = vodq_json_get_true(spec_json, "permanent");
    if (ms < 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "sleep.ms: missing");
    int64_t slept = 0;
    while (slept < ms) {
        enum vodq_ctl c = io->control(io->opaque);
        if (c == VODQ_CTL_CANCEL)
            return vodq_err_set(err, VODQ_ERR_CANCELLED, 0, "cancelled");
        if (c == VODQ_CTL_YIELD)
            return vodq_err_set(err, VODQ_ERR_PAUSED, 0, "handed back after %lld ms",
                                (long long)slept);
        if (c == VODQ_CTL_PAUSE) {
            io->wait(io->opaque, 1000);
            continue;
        }
        int64_t step = ms - slept < 50 ? ms - slept : 50;
        int64_t t0 = vodq_now_ms();
        nap(step);
        slept += vodq_now_ms() - t0;
        if (slept > ms)
            slept = ms;
        if (io->progress(io->opaque, slept, ms, NULL) == VODQ_ERR_FENCED)
            return vodq_err_set(err, VODQ_ERR_FENCED, 0, "lease lost");
    }
    if (io->attempt <= fail_times) {
        vodq_err_set(err, VODQ_ERR_IO, 0, "sleep: failing attempt %d of the first %d, as asked",
                     io->attempt, fail_times);
        err->permanent = permanent;
        return VODQ_ERR_IO;
    }
    /* "output": a path the task pretends to have written (tests of session exports) */
    char out[1024] = "", buf[1200];
    vodq_json_get_string(spec_json, "output", out, sizeof(out));
    if (out[0])
        snprintf(buf, sizeof(buf), "{\"slept_ms\":%lld,\"output\":\"%s\"}", (long long)ms, out);
    else
        snprintf(buf, sizeof(buf), "{\"slept_ms\":%lld}", (long long)ms);
    result->result_json = strdup(buf);
    return VODQ_OK;
}

bool vodq_sleep_instant(const char *spec_json, char **result_json)
{
    /* specs come normalised (cJSON, no spaces): a cheap test first, so that a sleep that
     * takes time costs no parse here */
    if (!strstr(spec_json, "\"ms\":0") || strstr(spec_json, "\"fail_times\":"))
        return false;
    /* the usual no-op: one "sleep" object in the whole spec, exactly {"ms":0}, and no
     * "output" or "then": no parse at all */
    static const char noop[] = "\"sleep\":{\"ms\":0}";
    const char *sec0 = strstr(spec_json, "\"sleep\":{");
    if (sec0 && !strncmp(sec0, noop, sizeof(noop) - 1) && !strstr(sec0 + 1, "\"sleep\":{") &&
        !strstr(spec_json, "\"then\"") && !strstr(spec_json, "\"output\"")) {
        *result_json = strdup("{\"slept_ms\":0}");
        return *result_json != NULL;
    }
    char *sec = vodq_job_spec_section(spec_json, "sleep", NULL);
    bool inst = sec && vodq_json_get_number(sec, "ms", -1) == 0;
    if (inst) {
        char out[1024] = "", buf[1200];
        if (strstr(sec, "\"output\""))
            vodq_json_get_string(sec, "output", out, sizeof(out));
        if (out[0])
            snprintf(buf, sizeof(buf), "{\"slept_ms\":0,\"output\":\"%s\"}", out);
        else
            snprintf(buf, sizeof(buf), "{\"slept_ms\":0}");
        *result_json = strdup(buf);
        inst = *result_json != NULL;
    }
    free(sec);
    return inst;
}
