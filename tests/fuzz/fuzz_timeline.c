/* fuzz_timeline.c: the timeline parser (worker/compose/timeline.c) on any
 * bytes; relative paths resolve under a directory that does not exist. */
#include "tests/fuzz/fuzz.h"
#include "worker/compose/timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vodq_timeline tl;
    struct vodq_err err = {0};
    memset(&tl, 0, sizeof(tl));
    if (vodq_timeline_parse((const char *)data, size, "/nonexistent-vodq-fuzz", &tl, &err) ==
        VODQ_OK) {
        (void)vodq_timeline_frames(&tl);
        (void)vodq_timeline_duration_s(&tl);
    }
    vodq_timeline_cleanup(&tl);
    return 0;
}
