/* test_job.c: job spec parsing and validation (every error names the JSON
 * path of the bad field and says what is wrong), ids, the state machine,
 * retry backoff, and the JSON helpers of shared/job.c. */
#include "shared/job.h"

#include <cjson/cJSON.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const struct vodq_job_defaults defs = {
    .max_attempts = 3,
    .backoff_base_ms = 1000,
    .backoff_max_ms = 60000,
    .max_spec_bytes = 1 << 20,
};

#define SLEEP_OK "\"type\":\"sleep\",\"sleep\":{\"ms\":5}"

/* One spec that must be rejected: the error starts with "<path>: " and
 * contains want. */
struct bad {
    const char *spec, *path, *want;
};

/* Parses spec and expects VODQ_ERR_INVALID with a message that starts with
 * "<path>: " and contains want. */
static void expect_bad(const char *spec, const char *path, const char *want)
{
    struct vodq_job_spec s;
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_job_spec_parse(spec, strlen(spec), &defs, &s, &err);
    size_t pl = strlen(path);
    bool had_json = s.json != NULL;
    vodq_job_spec_cleanup(&s);
    if (rc != VODQ_ERR_INVALID || err.code != VODQ_ERR_INVALID || strncmp(err.msg, path, pl) != 0 ||
        strncmp(err.msg + pl, ": ", 2) != 0 || !strstr(err.msg, want))
        fail_msg("spec %s: got rc %d msg \"%s\"; wanted path \"%s\" and \"%s\"", spec, rc,
                 err.msg, path, want);
    assert_false(had_json);
}

static void expect_bad_list(const struct bad *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_bad(b[i].spec, b[i].path, b[i].want);
}
#define EXPECT_BAD(list) expect_bad_list(list, sizeof(list) / sizeof(*(list)))

/* Expects the spec before + value + after to be rejected for each value. */
static void expect_bad_values(const char *before, const char *const *values, size_t n,
                              const char *after, const char *path, const char *want)
{
    for (size_t i = 0; i < n; i++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "%s%s%s", before, values[i], after);
        expect_bad(spec, path, want);
    }
}
#define EXPECT_BAD_VALUES(before, values, after, path, want)                                       \
    expect_bad_values(before, values, sizeof(values) / sizeof(*(values)), after, path, want)

/* Parses spec and expects success; the caller cleans up *s. */
static void parse_ok(const char *spec, struct vodq_job_spec *s)
{
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_job_spec_parse(spec, strlen(spec), &defs, s, &err);
    if (rc != VODQ_OK)
        fail_msg("spec %s: rc %d \"%s\"", spec, rc, err.msg);
    assert_non_null(s->json);
}

static void test_spec_not_json(void **state)
{
    (void)state;
    static const struct bad b[] = {
        {"", "spec", "not valid JSON"},
        {"{\"type\":", "spec", "not valid JSON"},
        {"type=sleep", "spec", "not valid JSON"},
        {"{\"type\":\"sleep\",}", "spec", "not valid JSON"},
        {"[1,2]", "spec", "must be a JSON object"},
        {"\"sleep\"", "spec", "must be a JSON object"},
        {"42", "spec", "must be a JSON object"},
        {"null", "spec", "must be a JSON object"},
    };
    EXPECT_BAD(b);
}

static void test_spec_type(void **state)
{
    (void)state;
    static const struct bad b[] = {
        {"{\"sleep\":{\"ms\":1}}", "type", "missing"},
        {"{}", "type", "missing"},
        {"{\"type\":5,\"sleep\":{\"ms\":1}}", "type", "must be a string"},
        {"{\"type\":null,\"sleep\":{\"ms\":1}}", "type", "must be a string"},
        {"{\"type\":[\"sleep\"],\"sleep\":{\"ms\":1}}", "type", "must be a string"},
        {"{\"type\":\"transcode\",\"transcode\":{}}", "type", "unknown task type 'transcode'"},
        {"{\"type\":\"Sleep\",\"sleep\":{\"ms\":1}}", "type", "unknown task type 'Sleep'"},
        {"{\"type\":\"\",\"sleep\":{\"ms\":1}}", "type", "unknown task type"},
        /* the version, and fields nobody knows (the message lists what is allowed) */
        {"{\"version\":2," SLEEP_OK "}", "version", "must be an integer 1..1"},
        {"{\"version\":\"1\"," SLEEP_OK "}", "version", "must be an integer"},
        {"{" SLEEP_OK ",\"colour\":\"red\"}", "colour", "unknown field"},
        {"{" SLEEP_OK ",\"Type\":\"sleep\"}", "Type", "unknown field"},
        {"{" SLEEP_OK ",\"prio\":1}", "prio", "allowed: version, id, type"},
        {"{\"type\":\"sleep\",\"sleep\":{\"ms\":5,\"seconds\":1}}", "sleep.seconds",
         "unknown field"},
        {"{\"type\":\"sleep\",\"sleep\":{\"ms\":5,\"x\":1}}", "sleep.x",
         "allowed: ms, fail_times, permanent"},
    };
    EXPECT_BAD(b);
    struct vodq_job_spec s;
    parse_ok("{\"version\":1," SLEEP_OK "}", &s);
    vodq_job_spec_cleanup(&s);
}

static void test_spec_sleep(void **state)
{
    (void)state;
    static const struct bad b[] = {
        {"{\"type\":\"sleep\"}", "sleep", "missing"},
        {"{\"type\":\"sleep\",\"sleep\":5}", "sleep", "must be an object"},
        {"{\"type\":\"sleep\",\"sleep\":[]}", "sleep", "must be an object"},
        {"{\"type\":\"sleep\",\"sleep\":{}}", "sleep.ms", "missing"},
    };
    EXPECT_BAD(b);
    static const char *const bad_ms[] = {"-1", "1.5",  "\"100\"", "86400001",
                                         "1e12", "true", "{}",     "[]"};
    EXPECT_BAD_VALUES("{\"type\":\"sleep\",\"sleep\":{\"ms\":", bad_ms, "}}", "sleep.ms",
                      "must be an integer 0..86400000");
    static const char *const bad_ft[] = {"-1", "1001", "\"2\"", "0.5"};
    EXPECT_BAD_VALUES("{\"type\":\"sleep\",\"sleep\":{\"ms\":1,\"fail_times\":", bad_ft, "}}",
                      "sleep.fail_times", "must be an integer 0..1000");
    struct vodq_job_spec s;
    parse_ok("{\"type\":\"sleep\",\"sleep\":{\"ms\":0,\"fail_times\":1000,\"permanent\":true}}",
             &s);
    assert_int_equal(s.type, VODQ_TASK_SLEEP);
    vodq_job_spec_cleanup(&s);
    parse_ok("{\"type\":\"sleep\",\"sleep\":{\"ms\":86400000,\"fail_times\":0}}", &s);
    vodq_job_spec_cleanup(&s);
}

/* sleep.ms is required: null is no value, as absent is. */
static void test_spec_sleep_ms_null(void **state)
{
    (void)state;
    expect_bad("{\"type\":\"sleep\",\"sleep\":{\"ms\":null}}", "sleep.ms", "missing");
}

/* fair claiming: priority 0..9 and tenant (docs/protocol.md §17) */
static void test_spec_priority_tenant(void **state)
{
    (void)state;
    static const char *const bad_prio[] = {"-1", "10", "\"9\"", "1.5", "true"};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"priority\":", bad_prio, "}", "priority",
                      "must be an integer 0..9");
    static const char *const bad_ten[] = {"\"\"", "\"a:b\"", "\"a b\"", "7", "[\"a\"]",
                                          "\"x12345678901234567890123456789012345678901234567890"
                                          "01234567890123\""};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"tenant\":", bad_ten, "}", "tenant",
                      "must be a string of 1-64 characters");
    expect_bad("{" SLEEP_OK ",\"then\":[{" SLEEP_OK ",\"priority\":12}]}", "then[0]: priority",
               "0..9");
    struct vodq_job_spec s;
    parse_ok("{" SLEEP_OK ",\"priority\":9,\"tenant\":\"acme-1.eu_x\"}", &s);
    assert_int_equal(s.priority, 9);
    assert_string_equal(s.tenant, "acme-1.eu_x");
    vodq_job_spec_cleanup(&s);
    parse_ok("{" SLEEP_OK "}", &s);
    assert_int_equal(s.priority, 0);
    assert_string_equal(s.tenant, "");
    vodq_job_spec_cleanup(&s);
}

static void test_spec_attempts_timeout_backoff(void **state)
{
    (void)state;
    static const char *const bad_att[] = {"0", "1001", "\"3\"", "-1", "2.5"};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"max_attempts\":", bad_att, "}", "max_attempts",
                      "must be an integer 1..1000");
    static const char *const bad_to[] = {"-1", "604800001", "\"10\"", "0.1"};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"timeout_ms\":", bad_to, "}", "timeout_ms",
                      "must be an integer 0..604800000");
    static const char *const bad_bo[] = {"5", "[100]", "\"fast\"", "true"};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"backoff\":", bad_bo, "}", "backoff", "must be an object");
    static const char *const bad_base[] = {"-1", "\"100\"", "86400001", "1.5"};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"backoff\":{\"base_ms\":", bad_base, "}}", "backoff.base_ms",
                      "must be an integer 0..86400000");
    static const char *const bad_max[] = {"-5", "604800001", "{}"};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"backoff\":{\"max_ms\":", bad_max, "}}", "backoff.max_ms",
                      "must be an integer 0..604800000");

    struct vodq_job_spec s;
    parse_ok("{" SLEEP_OK ",\"max_attempts\":1000,\"timeout_ms\":604800000,"
             "\"backoff\":{\"base_ms\":10,\"max_ms\":100}}",
             &s);
    assert_int_equal(s.max_attempts, 1000);
    assert_int_equal(s.timeout_ms, 604800000);
    assert_int_equal(s.backoff_base_ms, 10);
    assert_int_equal(s.backoff_max_ms, 100);
    vodq_job_spec_cleanup(&s);

    /* absent or null: the defaults */
    parse_ok("{" SLEEP_OK ",\"max_attempts\":null,\"backoff\":null}", &s);
    assert_int_equal(s.max_attempts, defs.max_attempts);
    assert_int_equal(s.timeout_ms, 0);
    assert_int_equal(s.backoff_base_ms, defs.backoff_base_ms);
    assert_int_equal(s.backoff_max_ms, defs.backoff_max_ms);
    vodq_job_spec_cleanup(&s);
    parse_ok("{" SLEEP_OK ",\"backoff\":{\"base_ms\":7}}", &s);
    assert_int_equal(s.backoff_base_ms, 7);
    assert_int_equal(s.backoff_max_ms, defs.backoff_max_ms);
    assert_int_equal(s.max_attempts, 3);
    vodq_job_spec_cleanup(&s);
}

/* "id": null asks for a made id: the normalised spec has one "id" key, and it
 * parses again to the same job (found by fuzz_job: it used to keep both). */
static void test_spec_id_null(void **state)
{
    (void)state;
    struct vodq_job_spec s, again;
    parse_ok("{\"id\":null," SLEEP_OK "}", &s);
    assert_false(s.id_given);
    const char *first = strstr(s.json, "\"id\"");
    assert_non_null(first);
    assert_null(strstr(first + 1, "\"id\""));
    parse_ok(s.json, &again);
    assert_string_equal(again.id, s.id);
    assert_string_equal(again.json, s.json);
    vodq_job_spec_cleanup(&again);
    vodq_job_spec_cleanup(&s);
}

/* vodq_json_has looks for a member, not for text: an upload section whose key
 * is named "file" has no file (it used to be found by strstr). */
static void test_json_has(void **state)
{
    (void)state;
    assert_true(vodq_json_has("{\"file\":\"/a.mp4\"}", "file"));
    assert_false(vodq_json_has("{\"s3\":{\"key\":\"file\"}}", "file"));
    assert_false(vodq_json_has("{\"s3\":{\"file\":\"x\"}}", "file"));
    assert_false(vodq_json_has("{\"file\":null}", "file"));
    assert_false(vodq_json_has("not json", "file"));
}

/* A rejected spec still reports its id when the id itself is usable. */
static void expect_rejected_id(const char *spec, const char *want_id)
{
    struct vodq_job_spec s;
    struct vodq_err err = {0};
    assert_int_equal(vodq_job_spec_parse(spec, strlen(spec), &defs, &s, &err), VODQ_ERR_INVALID);
    assert_string_equal(s.id, want_id);
    assert_int_equal(s.id_given, want_id[0] != '\0');
    assert_null(s.json);
    vodq_job_spec_cleanup(&s);
}

static void test_spec_id_session(void **state)
{
    (void)state;
    static const char *const bad_ids[] = {"\"a b\"", "\"a/b\"",   "\"job\\n1\"", "\"\"",
                                          "5",       "[\"x\"]",   "\"a{b}\"",    "\"a+b\""};
    EXPECT_BAD_VALUES("{\"id\":", bad_ids, "," SLEEP_OK "}", "id",
                      "must be a string of 1-128 characters [A-Za-z0-9_.:-]");
    static const char *const bad_sessions[] = {"\"s 1\"", "\"\"", "12", "{\"id\":\"s\"}"};
    EXPECT_BAD_VALUES("{" SLEEP_OK ",\"session\":", bad_sessions, "}", "session",
                      "must be a string of 1-128 characters [A-Za-z0-9_.:-]");

    char long_id[VODQ_ID_MAX + 2];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(strlen(long_id), 129);
    char spec[512];
    snprintf(spec, sizeof(spec), "{\"id\":\"%s\"," SLEEP_OK "}", long_id);
    expect_bad(spec, "id", "1-128 characters");
    expect_rejected_id(spec, "");

    /* 128 characters is the most */
    long_id[VODQ_ID_MAX] = '\0';
    snprintf(spec, sizeof(spec), "{\"id\":\"%s\"," SLEEP_OK ",\"session\":\"%s\"}", long_id,
             long_id);
    struct vodq_job_spec s;
    parse_ok(spec, &s);
    assert_string_equal(s.id, long_id);
    assert_string_equal(s.session, long_id);
    vodq_job_spec_cleanup(&s);
    parse_ok("{" SLEEP_OK "}", &s);
    assert_string_equal(s.session, "");
    vodq_job_spec_cleanup(&s);

    /* rejected for another reason: the id is still reported */
    expect_rejected_id("{\"id\":\"job-7\",\"type\":\"transcode\"}", "job-7");
    expect_rejected_id("{\"id\":\"job-8\"," SLEEP_OK ",\"colour\":1}", "job-8");
    expect_rejected_id("{\"id\":\"job-9\",\"type\":\"sleep\",\"sleep\":{\"ms\":-1}}", "job-9");
    expect_rejected_id("{\"id\":\"job.10:x_y-z\",\"type\":\"upload\",\"upload\":{}}",
                       "job.10:x_y-z");
    expect_rejected_id("{\"id\":\"bad id\",\"type\":\"transcode\"}", "");
    expect_rejected_id("{\"type\":\"transcode\"}", "");

    assert_true(vodq_job_id_valid("A-z_0.9:x"));
    assert_false(vodq_job_id_valid(NULL));
    assert_false(vodq_job_id_valid(""));
    assert_false(vodq_job_id_valid("a+b"));
    assert_false(vodq_job_id_valid("\xc3\xa9"));
}

static void test_spec_compose_upload(void **state)
{
    (void)state;
    static const struct bad b[] = {
        {"{\"type\":\"compose\"}", "compose", "missing"},
        {"{\"type\":\"compose\",\"compose\":\"x\"}", "compose", "must be an object"},
        {"{\"type\":\"compose\",\"compose\":{\"output\":\"/tmp/o.mp4\"}}", "compose.timeline",
         "missing"},
        {"{\"type\":\"compose\",\"compose\":{\"timeline\":[],\"output\":\"/tmp/o.mp4\"}}",
         "compose.timeline", "must be an object"},
        {"{\"type\":\"compose\",\"compose\":{\"timeline_file\":3,\"output\":\"o.mp4\"}}",
         "compose.timeline_file", "must be a string"},
        {"{\"type\":\"compose\",\"compose\":{\"aliyun_timeline\":{},\"media_map_file\":\"/etc/x\","
         "\"output\":\"o.mp4\"}}",
         "compose", "media_map_file and output_media_config_file are vodq-compose options"},
        {"{\"type\":\"compose\",\"compose\":{\"aliyun_timeline\":5,\"output\":\"o.mp4\"}}",
         "compose.aliyun_timeline", "must be an object or a JSON string"},
        {"{\"type\":\"compose\",\"compose\":{\"aliyun_timeline\":{},\"timeline\":{},"
         "\"output\":\"o.mp4\"}}",
         "compose", "give one of timeline, timeline_file, aliyun_timeline"},
        {"{\"type\":\"compose\",\"compose\":{\"timeline\":{}}}", "compose.output", "missing"},
        {"{\"type\":\"compose\",\"compose\":{\"timeline\":{},\"output\":\"\"}}", "compose.output",
         "missing"},
        {"{\"type\":\"compose\",\"compose\":{\"timeline\":{},\"output\":7}}", "compose.output",
         "missing"},
        /* render and upload in one task */
        {"{\"type\":\"compose\",\"compose\":{\"timeline\":{},\"upload\":{}}}",
         "compose.upload", "needs a target"},
        {"{\"type\":\"compose\",\"compose\":{\"timeline\":{},\"upload\":7}}",
         "compose.upload", "needs a target"},
        {"{\"type\":\"compose\",\"compose\":{\"timeline\":{},\"output\":\"o.mp4\","
         "\"upload\":{\"s3\":{}}}}",
         "compose.output", "not used with compose.upload"},
        {"{\"type\":\"upload\"}", "upload", "missing"},
        {"{\"type\":\"upload\",\"upload\":{\"file\":\"a.mp4\"}}", "upload",
         "needs a target, upload.vod or upload.s3"},
        {"{\"type\":\"upload\",\"upload\":{\"s3\":{}}}", "upload.file",
         "missing (or give a session"},
        {"{\"type\":\"upload\",\"upload\":{\"vod\":{}}}", "upload.file", "missing"},
        {"{\"type\":\"upload\",\"upload\":{\"s3\":{},\"file\":5}}", "upload.file",
         "must be a string"},
        /* the section of another type */
        {"{" SLEEP_OK ",\"compose\":{}}", "compose", "not allowed in a job of type sleep"},
        {"{" SLEEP_OK ",\"upload\":null}", "upload", "not allowed in a job of type sleep"},
        {"{\"type\":\"upload\",\"upload\":{\"s3\":{},\"file\":\"a\"},\"sleep\":{\"ms\":1}}",
         "sleep", "not allowed in a job of type upload"},
    };
    EXPECT_BAD(b);
    struct vodq_job_spec s;
    parse_ok("{\"type\":\"compose\","
             "\"compose\":{\"timeline\":{\"tracks\":[]},\"output\":\"o.mp4\"}}",
             &s);
    assert_int_equal(s.type, VODQ_TASK_COMPOSE);
    vodq_job_spec_cleanup(&s);
    parse_ok("{\"type\":\"compose\",\"compose\":{\"aliyun_timeline\":\"{\\\"VideoTracks\\\":[]}\","
             "\"output\":\"o.mp4\"}}",
             &s);
    assert_int_equal(s.type, VODQ_TASK_COMPOSE);
    vodq_job_spec_cleanup(&s);
    parse_ok("{\"type\":\"compose\","
             "\"compose\":{\"timeline_file\":\"t.json\",\"output\":\"o.mp4\"}}",
             &s);
    vodq_job_spec_cleanup(&s);
    parse_ok("{\"type\":\"compose\","
             "\"compose\":{\"timeline_file\":\"t.json\",\"upload\":{\"vod\":{}}}}",
             &s); /* no output: the render is uploaded */
    assert_int_equal(s.type, VODQ_TASK_COMPOSE);
    vodq_job_spec_cleanup(&s);
    parse_ok("{\"type\":\"upload\",\"upload\":{\"s3\":{},\"file\":\"a.mp4\"}}", &s);
    assert_int_equal(s.type, VODQ_TASK_UPLOAD);
    vodq_job_spec_cleanup(&s);
    /* a session stands in for the file (its last export) */
    parse_ok("{\"type\":\"upload\",\"session\":\"s1\",\"upload\":{\"vod\":{}}}", &s);
    vodq_job_spec_cleanup(&s);
}

static void test_spec_then(void **state)
{
    (void)state;
    expect_bad("{" SLEEP_OK ",\"then\":{}}", "then", "must be an array");
    char spec[1024];
    int n = snprintf(spec, sizeof(spec), "{" SLEEP_OK ",\"then\":[");
    for (int i = 0; i < 17; i++)
        n += snprintf(spec + n, sizeof(spec) - (size_t)n, "%s{" SLEEP_OK "}", i ? "," : "");
    snprintf(spec + n, sizeof(spec) - (size_t)n, "]}");
    expect_bad(spec, "then", "at most 16");
    expect_bad("{" SLEEP_OK ",\"then\":[{\"id\":\"x\"," SLEEP_OK "}]}", "then[0]",
               "id and session are set by the parent job");
    expect_bad("{" SLEEP_OK ",\"then\":[{" SLEEP_OK "},"
               "{\"type\":\"sleep\",\"sleep\":{\"ms\":-1}}]}",
               "then[1]: sleep.ms", "must be an integer");
    /* a compose followed by the upload of its export, without a file */
    struct vodq_job_spec s;
    parse_ok("{\"type\":\"compose\",\"compose\":{\"timeline\":{},\"output\":\"o.mp4\"},"
             "\"then\":[{\"type\":\"upload\",\"upload\":{\"s3\":{}}}]}",
             &s);
    /* the parent's session is not written into the child */
    cJSON *root = cJSON_Parse(s.json);
    assert_non_null(root);
    cJSON *child = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "then"), 0);
    assert_non_null(child);
    assert_null(cJSON_GetObjectItem(child, "session"));
    assert_null(cJSON_GetObjectItem(child, "id"));
    cJSON_Delete(root);
    vodq_job_spec_cleanup(&s);
    /* a compose with "upload" leaves no export (and no cover file): a child upload
     * without a file, or with "$cover", is refused at submit naming then[i] */
#define CU "{\"type\":\"compose\",\"compose\":{\"timeline\":{},\"upload\":{\"s3\":{}}},"
    expect_bad(CU "\"then\":[{" SLEEP_OK "},{\"type\":\"upload\",\"upload\":{\"s3\":{}}}]}",
               "then[1].upload.file", "compose.upload leaves no export");
    expect_bad(CU "\"then\":[{\"type\":\"upload\",\"upload\":{\"s3\":{},"
                  "\"file\":\"$cover\"}}]}",
               "then[0].upload.file", "\"$cover\" has no file");
    /* with a file of its own it is an ordinary upload */
    parse_ok(CU "\"then\":[{\"type\":\"upload\",\"upload\":{\"s3\":{},\"file\":\"/d/x.mp4\"}}]}",
             &s);
    vodq_job_spec_cleanup(&s);
#undef CU
}

static void test_spec_too_big(void **state)
{
    (void)state;
    size_t big = 10u << 20;
    char *text = malloc(big + 1);
    assert_non_null(text);
    const char *head = "{\"type\":\"sleep\",\"sleep\":{\"ms\":1},\"meta\":{\"x\":\"";
    size_t hl = strlen(head);
    memcpy(text, head, hl);
    memset(text + hl, 'a', big - hl - 3);
    memcpy(text + big - 3, "\"}}", 4);
    assert_int_equal(strlen(text), big);

    struct vodq_job_spec s;
    struct vodq_err err = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum vodq_rc rc = vodq_job_spec_parse(text, big, &defs, &s, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_int_equal(rc, VODQ_ERR_INVALID);
    assert_null(s.json);
    if (strncmp(err.msg, "spec: ", 6) != 0 || !strstr(err.msg, "10485760 bytes") ||
        !strstr(err.msg, "1048576"))
        fail_msg("10 MB spec: \"%s\"", err.msg);
    /* rejected on its size alone, before any parsing: parsing these 10 MB
     * takes about 140 ms here (-O2), the size check microseconds */
    if (ms > 20.0)
        fail_msg("10 MB spec took %.2f ms to reject", ms);
    vodq_job_spec_cleanup(&s);

    /* exactly at the limit is parsed (and valid) */
    size_t lim = defs.max_spec_bytes;
    memset(text + hl, 'a', lim - hl - 3);
    memcpy(text + lim - 3, "\"}}", 4);
    rc = vodq_job_spec_parse(text, lim, &defs, &s, &err);
    if (rc != VODQ_OK)
        fail_msg("spec of max_spec_bytes: %s", err.msg);
    vodq_job_spec_cleanup(&s);
    free(text);
}

/* len is honoured: the text need not end in NUL, trailing bytes are ignored. */
static void test_spec_len(void **state)
{
    (void)state;
    const char *text = "{" SLEEP_OK "}GARBAGE";
    struct vodq_job_spec s;
    struct vodq_err err = {0};
    assert_int_equal(vodq_job_spec_parse(text, strlen(text) - 7, &defs, &s, &err), VODQ_OK);
    assert_int_equal(s.type, VODQ_TASK_SLEEP);
    vodq_job_spec_cleanup(&s);
    /* trailing white space (a file's last newline) is fine */
    const char *nl = "{" SLEEP_OK "}\n \t\r\n";
    assert_int_equal(vodq_job_spec_parse(nl, strlen(nl), &defs, &s, &err), VODQ_OK);
    vodq_job_spec_cleanup(&s);
}

/* Bytes after the JSON value make the spec invalid JSON, as a JSON parser
 * in any other language says: nothing may be silently ignored. */
static void test_spec_trailing_garbage(void **state)
{
    (void)state;
    static const struct bad b[] = {
        {"{" SLEEP_OK "}GARBAGE", "spec", "not valid JSON"},
        {"{" SLEEP_OK "}{\"type\":\"upload\"}", "spec", "not valid JSON"},
        {"{" SLEEP_OK "} x", "spec", "not valid JSON"},
    };
    EXPECT_BAD(b);
}

static void test_spec_valid_generated_id(void **state)
{
    (void)state;
    struct vodq_job_spec s;
    parse_ok("{\"type\":\"sleep\",\"sleep\":{\"ms\":5,\"fail_times\":2},\"meta\":{\"k\":\"v\"}}",
             &s);
    assert_false(s.id_given);
    assert_int_equal(strlen(s.id), 26);
    assert_true(vodq_job_id_valid(s.id));
    assert_int_equal(s.type, VODQ_TASK_SLEEP);
    assert_int_equal(s.max_attempts, 3);
    /* the normalised JSON carries the id and everything given */
    cJSON *root = cJSON_Parse(s.json);
    assert_non_null(root);
    cJSON *id = cJSON_GetObjectItem(root, "id");
    assert_true(cJSON_IsString(id));
    assert_string_equal(id->valuestring, s.id);
    assert_string_equal(cJSON_GetObjectItem(root, "type")->valuestring, "sleep");
    cJSON *sl = cJSON_GetObjectItem(root, "sleep");
    assert_int_equal(cJSON_GetObjectItem(sl, "ms")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(sl, "fail_times")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "meta"), "k")->valuestring,
                        "v");
    cJSON_Delete(root);
    char got[64];
    assert_true(vodq_json_get_string(s.json, "id", got, sizeof(got)));
    assert_string_equal(got, s.id);
    /* normalised means parseable again, to the same id */
    struct vodq_job_spec again;
    parse_ok(s.json, &again);
    assert_true(again.id_given);
    assert_string_equal(again.id, s.id);
    vodq_job_spec_cleanup(&again);

    /* two submissions without id get two ids */
    struct vodq_job_spec other;
    parse_ok("{" SLEEP_OK "}", &other);
    assert_string_not_equal(other.id, s.id);
    vodq_job_spec_cleanup(&other);
    vodq_job_spec_cleanup(&s);
    assert_null(s.json);
    vodq_job_spec_cleanup(NULL);
}

static void test_spec_valid_given_id(void **state)
{
    (void)state;
    struct vodq_job_spec s;
    parse_ok("{\"id\":\"order-42:a_b.c\"," SLEEP_OK "}", &s);
    assert_true(s.id_given);
    assert_string_equal(s.id, "order-42:a_b.c");
    char got[64];
    assert_true(vodq_json_get_string(s.json, "id", got, sizeof(got)));
    assert_string_equal(got, "order-42:a_b.c");
    vodq_job_spec_cleanup(&s);
    /* "id": null means none given */
    parse_ok("{\"id\":null," SLEEP_OK "}", &s);
    assert_false(s.id_given);
    assert_int_equal(strlen(s.id), 26);
    vodq_job_spec_cleanup(&s);
}

/* The client library's spec builders make specs that validate as they are. */
static void test_spec_builders(void **state)
{
    (void)state;
    struct vodq_job_spec s;
    char *txt = vodq_job_spec_compose("sess-1", "{\"tracks\":[]}", "/exports/o.mp4");
    assert_non_null(txt);
    parse_ok(txt, &s);
    assert_int_equal(s.type, VODQ_TASK_COMPOSE);
    assert_string_equal(s.session, "sess-1");
    char *sec = vodq_job_spec_section(s.json, "compose", NULL);
    char out[64];
    assert_true(vodq_json_get_string(sec, "output", out, sizeof(out)));
    assert_string_equal(out, "/exports/o.mp4");
    free(sec);
    vodq_job_spec_cleanup(&s);
    free(txt);
    txt = vodq_job_spec_compose(NULL, "{}", "o.mp4");
    parse_ok(txt, &s);
    assert_string_equal(s.session, "");
    vodq_job_spec_cleanup(&s);
    free(txt);
    /* a timeline that is not a JSON object gives no spec */
    assert_null(vodq_job_spec_compose("s", "[1]", "o.mp4"));
    assert_null(vodq_job_spec_compose("s", "{bad", "o.mp4"));
    assert_null(vodq_job_spec_compose("s", NULL, "o.mp4"));

    txt = vodq_job_spec_upload("sess-2", "/exports/a.mp4", "ADDR", "AUTH", false);
    assert_non_null(txt);
    parse_ok(txt, &s);
    assert_int_equal(s.type, VODQ_TASK_UPLOAD);
    assert_string_equal(s.session, "sess-2");
    sec = vodq_job_spec_section(s.json, "upload", NULL);
    assert_true(vodq_json_get_string(sec, "file", out, sizeof(out)));
    assert_string_equal(out, "/exports/a.mp4");
    assert_true(vodq_json_get_string(sec, "kind", out, sizeof(out)));
    assert_string_equal(out, "video");
    free(sec);
    vodq_job_spec_cleanup(&s);
    free(txt);
    /* no path: the session's last export (and without a session, the error says so) */
    txt = vodq_job_spec_upload("sess-3", NULL, "ADDR", "AUTH", true);
    parse_ok(txt, &s);
    sec = vodq_job_spec_section(s.json, "upload", NULL);
    assert_false(vodq_json_get_string(sec, "file", out, sizeof(out)));
    assert_true(vodq_json_get_string(sec, "kind", out, sizeof(out)));
    assert_string_equal(out, "image");
    free(sec);
    vodq_job_spec_cleanup(&s);
    free(txt);
    txt = vodq_job_spec_upload(NULL, NULL, "ADDR", "AUTH", false);
    expect_bad(txt, "upload.file", "missing");
    free(txt);
}

static void test_instance_id(void **state)
{
    (void)state;
    char a[128], b[128];
    vodq_job_instance_id(a, sizeof(a), "worker-", "my-name");
    assert_string_equal(a, "my-name");
    vodq_job_instance_id(a, sizeof(a), "worker-", "");
    vodq_job_instance_id(b, sizeof(b), "worker-", NULL);
    assert_memory_equal(a, "worker-", 7);
    assert_memory_equal(b, "worker-", 7);
    /* prefix + host + pid + random: two instances in one process differ */
    char pid[32];
    snprintf(pid, sizeof(pid), "-%d-", (int)getpid());
    assert_non_null(strstr(a, pid));
    assert_string_not_equal(a, b);
}

/* compose.require: capability tags route the job (issue 11 point 4); a "then" child gets
 * its lane and tags when the parent is validated. */
static void test_spec_require(void **state)
{
    (void)state;
#define CO(extra) "{\"type\":\"compose\",\"compose\":{\"output\":\"/o.mp4\",\"timeline\":{}" extra "}}"
    struct bad b[] = {
        {CO(",\"require\":\"nvenc\""), "compose.require", "array of capability tags"},
        {CO(",\"require\":[\"nvdec\",\"h100\"]"), "compose.require[1]", "unknown tag"},
        {CO(",\"require\":[3]"), "compose.require[0]", "unknown tag"},
    };
    EXPECT_BAD(b);
    struct vodq_job_spec s;
    struct vodq_err err = {0};
    const char *cpu = CO(",\"require\":[\"x264\"]");
    assert_int_equal(vodq_job_spec_parse(cpu, strlen(cpu), &defs, &s, &err), VODQ_OK);
    assert_int_equal(s.lane, VODQ_TASK_COMPOSE);
    assert_string_equal(s.require, "x264");
    vodq_job_spec_cleanup(&s);
    const char *h200 = CO(",\"require\":[\"nvdec\",\"cuda_filters\",\"nvdec\"]");
    assert_int_equal(vodq_job_spec_parse(h200, strlen(h200), &defs, &s, &err), VODQ_OK);
    assert_int_equal(s.lane, VODQ_TASK_COMPOSE_GPU);
    assert_string_equal(s.require, "nvdec,cuda_filters");
    vodq_job_spec_cleanup(&s);
    const char *enc = CO(",\"encoder\":\"h264_nvenc\"");
    assert_int_equal(vodq_job_spec_parse(enc, strlen(enc), &defs, &s, &err), VODQ_OK);
    assert_int_equal(s.lane, VODQ_TASK_COMPOSE_GPU);
    assert_string_equal(s.require, "nvenc");
    vodq_job_spec_cleanup(&s);
    /* a GPU compose child of "then": lane and tags written into the child for step.lua */
    const char *par = "{" SLEEP_OK ",\"then\":[" CO(",\"require\":[\"nvdec\"]") "]}";
    assert_int_equal(vodq_job_spec_parse(par, strlen(par), &defs, &s, &err), VODQ_OK);
    if (!strstr(s.json, "\"lane\":\"compose_gpu\"") || !strstr(s.json, "\"require\":\"nvdec\""))
        fail_msg("then child without its lane and tags: %s", s.json);
    /* the normalised spec passes validation again (it comes back through the stream) */
    struct vodq_job_spec again;
    assert_int_equal(vodq_job_spec_parse(s.json, strlen(s.json), &defs, &again, &err), VODQ_OK);
    vodq_job_spec_cleanup(&again);
    vodq_job_spec_cleanup(&s);
#undef CO
}

/* fan-in: a group of member specs, nested, with then jobs */
static void test_spec_group(void **state)
{
    (void)state;
    struct vodq_job_spec s;
    parse_ok("{\"type\":\"group\",\"group\":{\"jobs\":[{" SLEEP_OK "},{\"type\":\"group\","
             "\"group\":{\"jobs\":[{" SLEEP_OK "}]},\"then\":[{" SLEEP_OK "}]}],"
             "\"fail_fast\":true,\"then_on\":\"all_ended\"},"
             "\"then\":[{\"type\":\"upload\",\"upload\":{\"file\":\"$member:1\",\"s3\":{}}}]}",
             &s);
    assert_true(s.group);
    assert_string_equal(vodq_job_spec_type_name(&s), "group");
    assert_string_equal(vodq_job_spec_lane_name(&s), "group");
    /* the members and then jobs carry their lanes for the Lua scripts */
    if (!strstr(s.json, "\"lane\":\"sleep\"") || !strstr(s.json, "\"lane\":\"group\"") ||
        !strstr(s.json, "\"lane\":\"upload\""))
        fail_msg("members without their lanes: %s", s.json);
    struct vodq_job_spec again; /* the normalised spec passes again */
    parse_ok(s.json, &again);
    vodq_job_spec_cleanup(&again);
    vodq_job_spec_cleanup(&s);
    static const struct bad b[] = {
        {"{\"type\":\"group\"}", "group", "missing"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[]}}", "group.jobs", "1-100"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":{}}}", "group.jobs", "1-100"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{" SLEEP_OK "}],\"x\":1}}", "group.x",
         "unknown field"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{" SLEEP_OK "}],\"fail_fast\":1}}",
         "group.fail_fast", "true or false"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{" SLEEP_OK "}],\"then_on\":\"x\"}}",
         "group.then_on", "all_ended"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{\"id\":\"a\"," SLEEP_OK "}]}}",
         "group.jobs[0]", "set by the group"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{" SLEEP_OK "},{\"type\":\"sleep\"}]}}",
         "group.jobs[1]: sleep", "missing"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{\"type\":\"group\",\"group\":{\"jobs\":"
         "[{\"type\":\"sleep\",\"sleep\":{\"ms\":-1}}]}}]}}",
         "group.jobs[0]: group.jobs[0]: sleep.ms", "must be an integer"},
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{" SLEEP_OK "}]},\"delay_ms\":5}", "group",
         "for its members"},
        {"{\"type\":\"group\",\"sleep\":{\"ms\":1},\"group\":{\"jobs\":[{" SLEEP_OK "}]}}",
         "sleep", "not allowed in a job of type group"},
        {"{" SLEEP_OK ",\"group\":{}}", "group", "not allowed in a job of type sleep"},
        /* a group without a session: its then uploads name their file */
        {"{\"type\":\"group\",\"group\":{\"jobs\":[{" SLEEP_OK "}]},"
         "\"then\":[{\"type\":\"upload\",\"upload\":{\"s3\":{}}}]}",
         "then[0]: upload.file", "missing"},
    };
    expect_bad_list(b, sizeof(b) / sizeof(b[0]));
    /* nesting is bounded */
    char deep[4096] = "";
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"type\":\"group\",\"group\":{\"jobs\":[");
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{" SLEEP_OK "}");
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "]}}");
    expect_bad(deep, "group.jobs[0]", "nested more than 8 levels deep");
    /* a session is given to the members for the check: an upload without a file passes */
    parse_ok("{\"type\":\"group\",\"session\":\"s1\",\"group\":{\"jobs\":[{\"type\":\"upload\","
             "\"upload\":{\"s3\":{}}}]}}",
             &s);
    if (strstr(strstr(s.json, "\"jobs\""), "\"session\""))
        fail_msg("the group's session was written into a member: %s", s.json);
    vodq_job_spec_cleanup(&s);
}

static void test_state_names(void **state)
{
    (void)state;
    static const char *names[VODQ_JOB__COUNT] = {
        "submitted", "queued",    "active", "paused",    "waiting_auth", "waiting_session",
        "delayed",   "succeeded", "dead",   "cancelled", "rejected", "waiting_members",
    };
    for (int i = 0; i < VODQ_JOB__COUNT; i++) {
        assert_string_equal(vodq_job_state_name(i), names[i]);
        assert_int_equal(vodq_job_state_parse(names[i]), i);
        bool term = i == VODQ_JOB_SUCCEEDED || i == VODQ_JOB_DEAD || i == VODQ_JOB_CANCELLED ||
                    i == VODQ_JOB_REJECTED;
        assert_int_equal(vodq_job_state_terminal(i), term);
    }
    assert_null(vodq_job_state_name(VODQ_JOB__COUNT));
    assert_null(vodq_job_state_name((enum vodq_job_state)-1));
    assert_int_equal(vodq_job_state_parse("Queued"), VODQ_JOB__COUNT);
    assert_int_equal(vodq_job_state_parse("failed"), VODQ_JOB__COUNT);
    assert_int_equal(vodq_job_state_parse(NULL), VODQ_JOB__COUNT);

    assert_string_equal(vodq_task_type_name(VODQ_TASK_SLEEP), "sleep");
    assert_string_equal(vodq_task_type_name(VODQ_TASK_COMPOSE), "compose");
    assert_string_equal(vodq_task_type_name(VODQ_TASK_UPLOAD), "upload");
    assert_null(vodq_task_type_name(VODQ_TASK__COUNT));
    for (int t = 0; t < VODQ_TASK_COMPOSE_GPU; t++)
        assert_int_equal(vodq_task_type_parse(vodq_task_type_name(t)), t);
    /* compose_gpu is a lane, not a type a spec may name */
    assert_string_equal(vodq_task_type_name(VODQ_TASK_COMPOSE_GPU), "compose_gpu");
    assert_int_equal(vodq_task_type_parse("compose_gpu"), VODQ_TASK__COUNT);
    assert_string_equal(vodq_task_section(VODQ_TASK_COMPOSE_GPU), "compose");
    assert_string_equal(vodq_task_section(VODQ_TASK_UPLOAD), "upload");
    assert_int_equal(vodq_task_type_parse("transcode"), VODQ_TASK__COUNT);
    assert_int_equal(vodq_task_type_parse(NULL), VODQ_TASK__COUNT);
}

static void test_gpu_lane(void **state)
{
    (void)state;
    struct vodq_job_defaults d = {3, 1000, 60000, 1 << 20};
    struct vodq_job_spec sp;
    struct vodq_err err = {0};
    const char *cpu = "{\"type\":\"compose\",\"compose\":{\"timeline_file\":\"/t.json\","
                      "\"output\":\"/o.mp4\"}}";
    assert_int_equal(vodq_job_spec_parse(cpu, strlen(cpu), &d, &sp, &err), VODQ_OK);
    assert_int_equal(sp.lane, VODQ_TASK_COMPOSE);
    vodq_job_spec_cleanup(&sp);
    const char *gpu[] = {
        "{\"type\":\"compose\",\"compose\":{\"timeline_file\":\"/t.json\",\"output\":\"/o.mp4\","
        "\"encoder\":\"h264_nvenc\"}}",
        "{\"type\":\"compose\",\"compose\":{\"timeline_file\":\"/t.json\",\"output\":\"/o.mp4\","
        "\"gpu\":true}}",
        "{\"type\":\"compose\",\"compose\":{\"timeline\":{\"output\":{\"encoder\":\"hevc_vaapi\"}},"
        "\"output\":\"/o.mp4\"}}",
    };
    for (size_t i = 0; i < sizeof(gpu) / sizeof(gpu[0]); i++) {
        assert_int_equal(vodq_job_spec_parse(gpu[i], strlen(gpu[i]), &d, &sp, &err), VODQ_OK);
        assert_int_equal(sp.type, VODQ_TASK_COMPOSE);
        assert_int_equal(sp.lane, VODQ_TASK_COMPOSE_GPU);
        vodq_job_spec_cleanup(&sp);
    }
    const char *up = "{\"type\":\"upload\",\"upload\":{\"file\":\"/x\",\"s3\":{}}}";
    assert_int_equal(vodq_job_spec_parse(up, strlen(up), &d, &sp, &err), VODQ_OK);
    assert_int_equal(sp.lane, VODQ_TASK_UPLOAD);
    vodq_job_spec_cleanup(&sp);
}

static void test_section_with_auth(void **state)
{
    (void)state;
    char *v = vodq_job_section_with_auth(
        "{\"file\":\"/f\",\"vod\":{\"upload_address\":\"A\",\"upload_auth\":\"OLD\"}}", "NEW");
    assert_non_null(v);
    assert_non_null(strstr(v, "\"upload_auth\":\"NEW\""));
    assert_null(strstr(v, "OLD"));
    assert_non_null(strstr(v, "\"upload_address\":\"A\""));
    free(v);
    char *s3 = vodq_job_section_with_auth(
        "{\"s3\":{\"url\":\"s3://b/k\",\"access_key\":\"a1\",\"secret_key\":\"s1\"}}",
        "{\"access_key\":\"a2\",\"secret_key\":\"s2\",\"session_token\":\"t2\"}");
    assert_non_null(s3);
    assert_non_null(strstr(s3, "\"access_key\":\"a2\""));
    assert_non_null(strstr(s3, "\"secret_key\":\"s2\""));
    assert_non_null(strstr(s3, "\"session_token\":\"t2\""));
    assert_null(strstr(s3, "s1"));
    free(s3);
    /* S3 credentials must be a JSON object; a target-less section is refused */
    assert_null(vodq_job_section_with_auth("{\"s3\":{\"url\":\"s3://b/k\"}}", "not json"));
    assert_null(vodq_job_section_with_auth("{\"file\":\"/f\"}", "X"));
    assert_null(vodq_job_section_with_auth("nope", "X"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Decodes the 10 time characters of an id (Crockford base32) to ms. */
static int64_t id_time(const char *id)
{
    static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
    int64_t t = 0;
    for (int i = 0; i < 10; i++) {
        const char *p = strchr(b32, id[i]);
        assert_non_null(p);
        t = t * 32 + (p - b32);
    }
    return t;
}

static void test_ids(void **state)
{
    (void)state;
    enum { N = 10000 };
    char(*ids)[32] = calloc(N, sizeof(*ids));
    assert_non_null(ids);
    int64_t t0 = vodq_now_ms();
    for (int i = 0; i < N; i++) {
        vodq_job_id_new(ids[i], sizeof(ids[i]));
        assert_int_equal(strlen(ids[i]), 26);
        assert_true(vodq_job_id_valid(ids[i]));
        for (int k = 0; k < 26; k++)
            if (!strchr("0123456789abcdefghjkmnpqrstvwxyz", ids[i][k]))
                fail_msg("id %s: character '%c' not in the alphabet", ids[i], ids[i][k]);
        /* ids drawn later never sort before earlier ones on their time part */
        if (i > 0)
            assert_true(strncmp(ids[i - 1], ids[i], 10) <= 0);
    }
    int64_t t1 = vodq_now_ms();
    /* the time part is the creation time in ms */
    assert_true(id_time(ids[0]) >= t0 && id_time(ids[0]) <= t1);
    assert_true(id_time(ids[N - 1]) >= t0 && id_time(ids[N - 1]) <= t1);
    qsort(ids, N, sizeof(*ids), cmp_str);
    for (int i = 1; i < N; i++)
        if (!strcmp(ids[i - 1], ids[i]))
            fail_msg("duplicate id %s", ids[i]);
    free(ids);

    /* an id made later sorts after one made earlier */
    char a[32], b[32];
    vodq_job_id_new(a, sizeof(a));
    struct timespec ts = {0, 3 * 1000 * 1000};
    nanosleep(&ts, NULL);
    vodq_job_id_new(b, sizeof(b));
    assert_true(strcmp(a, b) < 0);
    assert_true(id_time(b) - id_time(a) >= 2);

    /* a small buffer gets a truncated, terminated id */
    char small[8];
    vodq_job_id_new(small, sizeof(small));
    assert_int_equal(strlen(small), 7);
}

static void test_hash_json(void **state)
{
    (void)state;
    const char *f[] = {"id",    "state",         "progress",   "attempts", "spec", "result",
                       "auth",  "fence",         "created_at", "note",     "progress_data"};
    const char *v[] = {"j1",
                       "active",
                       "42.5",
                       "2",
                       "{\"type\":\"sleep\",\"sleep\":{\"ms\":1}}",
                       "not json {",
                       "{\"AccessKeySecret\":\"TOPSECRET\"}",
                       "abc",
                       "1700000000123",
                       NULL,
                       ""};
    size_t n = sizeof(f) / sizeof(*f);
    char *out = vodq_job_hash_json(f, v, n);
    assert_non_null(out);
    assert_null(strstr(out, "TOPSECRET"));
    assert_null(strstr(out, "auth"));
    cJSON *o = cJSON_Parse(out);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring, "j1");
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "active");
    /* numeric fields are numbers; one that is not a number stays a string */
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "progress")));
    assert_true(cJSON_GetObjectItem(o, "progress")->valuedouble == 42.5);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "attempts")));
    assert_int_equal(cJSON_GetObjectItem(o, "attempts")->valueint, 2);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "created_at")));
    assert_true(cJSON_GetObjectItem(o, "created_at")->valuedouble == 1700000000123.0);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "fence")));
    assert_string_equal(cJSON_GetObjectItem(o, "fence")->valuestring, "abc");
    /* spec is inlined as JSON; bad JSON in result stays a string */
    cJSON *spec = cJSON_GetObjectItem(o, "spec");
    assert_true(cJSON_IsObject(spec));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "sleep"), "ms")->valueint, 1);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "result")));
    assert_string_equal(cJSON_GetObjectItem(o, "result")->valuestring, "not json {");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "progress_data")));
    /* NULL value becomes "" and error is always present */
    assert_string_equal(cJSON_GetObjectItem(o, "note")->valuestring, "");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "error")));
    assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, "");
    cJSON_Delete(o);
    free(out);

    /* an empty hash still has the contract fields */
    out = vodq_job_hash_json(NULL, NULL, 0);
    assert_non_null(out);
    o = cJSON_Parse(out);
    assert_non_null(o);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "progress")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "attempts")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "error")));
    cJSON_Delete(o);
    free(out);
}

static void test_spec_section(void **state)
{
    (void)state;
    const char *spec = "{\"type\":\"upload\",\"upload\":{\"s3\":{\"bucket\":\"b\"}}}";
    char *sec = vodq_job_spec_section(spec, "upload", NULL);
    assert_non_null(sec);
    cJSON *o = cJSON_Parse(sec);
    assert_non_null(o);
    assert_null(cJSON_GetObjectItem(o, "file"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "s3"), "bucket")->valuestring,
                        "b");
    cJSON_Delete(o);
    free(sec);
    /* set_file adds a file when there is none... */
    sec = vodq_job_spec_section(spec, "upload", "/exports/a.mp4");
    char file[64];
    assert_true(vodq_json_get_string(sec, "file", file, sizeof(file)));
    assert_string_equal(file, "/exports/a.mp4");
    free(sec);
    /* ...and keeps one that is given */
    sec = vodq_job_spec_section("{\"upload\":{\"file\":\"mine.mp4\"}}", "upload", "other.mp4");
    assert_true(vodq_json_get_string(sec, "file", file, sizeof(file)));
    assert_string_equal(file, "mine.mp4");
    free(sec);
    assert_null(vodq_job_spec_section("not json", "upload", NULL));
    assert_null(vodq_job_spec_section(spec, "compose", NULL));
    assert_null(vodq_job_spec_section("{\"upload\":5}", "upload", "f"));
    assert_null(vodq_job_spec_section("{\"upload\":[]}", "upload", NULL));
}

static void test_json_get(void **state)
{
    (void)state;
    const char *j = "{\"s\":\"hello\",\"n\":12.5,\"b\":true,\"u\":\"\\u00e9t\\u00e9\"}";
    char buf[16];
    assert_true(vodq_json_get_string(j, "s", buf, sizeof(buf)));
    assert_string_equal(buf, "hello");
    assert_true(vodq_json_get_true(j, "b"));
    assert_false(vodq_json_get_true(j, "s"));
    assert_false(vodq_json_get_true(j, "missing"));
    assert_false(vodq_json_get_true("not json", "b"));
    assert_true(vodq_json_get_string(j, "u", buf, sizeof(buf)));
    assert_string_equal(buf, "\xc3\xa9t\xc3\xa9");
    /* truncated to the buffer, still terminated */
    char small[4];
    assert_true(vodq_json_get_string(j, "s", small, sizeof(small)));
    assert_string_equal(small, "hel");
    /* absent, not a string, not JSON, NULL: false and "" */
    strcpy(buf, "stale");
    assert_false(vodq_json_get_string(j, "missing", buf, sizeof(buf)));
    assert_string_equal(buf, "");
    strcpy(buf, "stale");
    assert_false(vodq_json_get_string(j, "n", buf, sizeof(buf)));
    assert_string_equal(buf, "");
    strcpy(buf, "stale");
    assert_false(vodq_json_get_string("{bad", "s", buf, sizeof(buf)));
    assert_string_equal(buf, "");
    assert_false(vodq_json_get_string(NULL, "s", buf, sizeof(buf)));
    assert_string_equal(buf, "");
    /* case-sensitive keys */
    assert_false(vodq_json_get_string(j, "S", buf, sizeof(buf)));

    assert_true(vodq_json_get_number(j, "n", -1) == 12.5);
    assert_true(vodq_json_get_number(j, "s", -1) == -1);
    assert_true(vodq_json_get_number(j, "b", -2) == -2);
    assert_true(vodq_json_get_number(j, "none", 7) == 7);
    assert_true(vodq_json_get_number("[", "n", 3) == 3);
    assert_true(vodq_json_get_number(NULL, "n", 4) == 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_not_json),
        cmocka_unit_test(test_spec_type),
        cmocka_unit_test(test_spec_sleep),
        cmocka_unit_test(test_spec_require),
        cmocka_unit_test(test_spec_sleep_ms_null),
        cmocka_unit_test(test_spec_id_null),
        cmocka_unit_test(test_json_has),
        cmocka_unit_test(test_spec_attempts_timeout_backoff),
        cmocka_unit_test(test_spec_id_session),
        cmocka_unit_test(test_spec_compose_upload),
        cmocka_unit_test(test_spec_then),
        cmocka_unit_test(test_spec_group),
        cmocka_unit_test(test_spec_too_big),
        cmocka_unit_test(test_spec_len),
        cmocka_unit_test(test_spec_trailing_garbage),
        cmocka_unit_test(test_spec_valid_generated_id),
        cmocka_unit_test(test_spec_valid_given_id),
        cmocka_unit_test(test_spec_builders),
        cmocka_unit_test(test_instance_id),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_gpu_lane),
        cmocka_unit_test(test_section_with_auth),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_spec_priority_tenant),
        cmocka_unit_test(test_hash_json),
        cmocka_unit_test(test_spec_section),
        cmocka_unit_test(test_json_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
