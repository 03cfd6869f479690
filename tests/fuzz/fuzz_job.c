/* fuzz_job.c: the job spec parser and validator (shared/job.c) on any
 * bytes, and the helpers that read specs back. */
#include "shared/job.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct vodq_job_defaults d = {.max_attempts = 3, .backoff_base_ms = 1000,
                                        .backoff_max_ms = 60000, .max_spec_bytes = 1 << 20};
    struct vodq_job_spec s;
    struct vodq_err err = {0};
    memset(&s, 0, sizeof(s));
    /* len-based: the exact-size input, no NUL */
    if (vodq_job_spec_parse((const char *)data, size, &d, &s, &err) == VODQ_OK) {
        if (!s.json || s.max_attempts < 1 || !vodq_job_id_valid(s.id))
            abort();
        /* the normalised spec parses again to the same */
        struct vodq_job_spec again;
        memset(&again, 0, sizeof(again));
        if (vodq_job_spec_parse(s.json, strlen(s.json), &d, &again, &err) != VODQ_OK ||
            strcmp(again.json, s.json) != 0)
            abort();
        char *sec = vodq_job_spec_section(s.json, vodq_job_spec_type_name(&s), NULL);
        free(sec);
        vodq_job_spec_cleanup(&again);
    }
    vodq_job_spec_cleanup(&s);
    char *c = fuzz_cstr(data, size);
    if (c) {
        char buf[64];
        vodq_json_get_string(c, "id", buf, sizeof(buf));
        vodq_json_get_number(c, "ms", 0);
        vodq_json_get_true(c, "permanent");
        free(c);
    }
    return 0;
}
