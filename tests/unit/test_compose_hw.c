/* test_compose_hw.c: the encoder probe. On a machine without a GPU: libx264
 * opens, h264_nvenc is reported unavailable with FFmpeg's own answer,
 * forcing h264_nvenc fails naming it, and auto picks libx264. With a CUDA
 * device NVDEC is reported; NVENC only where it opens (not on an H100/H200,
 * which have no NVENC): then auto must pick h264_nvenc. */
#include "worker/compose/hw.h"

#include <cjson/cJSON.h>
#include <libavutil/log.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* LeakSanitizer (VODQ_SANITIZE builds): libx265 3.5 keeps one parameter
 * block per encoder it opens (third-party, not ours). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libx265.so\n";
}

static cJSON *probe_json(void)
{
    char *s = vodq_hw_probe_json();
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static bool listed(const cJSON *j, const char *codec, const char *name)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "encoders"), codec);
    const cJSON *it;
    assert_true(cJSON_IsArray(arr));
    cJSON_ArrayForEach(it, arr)
        if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0)
            return true;
    return false;
}

static void test_probe_shape(void **state)
{
    (void)state;
    cJSON *j = probe_json();
    const cJSON *gpu = cJSON_GetObjectItemCaseSensitive(j, "gpu");
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(gpu, "cuda")));
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(gpu, "vaapi")));
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "nvdec")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "details")));
    assert_true(listed(j, "h264", "libx264")); /* Debian's FFmpeg has it */
    assert_true(listed(j, "hevc", "libx265"));
    cJSON_Delete(j);
}

static void test_nvenc(void **state)
{
    char name[32] = "";
    struct vodq_err err = {0};
    (void)state;
    cJSON *j = probe_json();
    bool cuda = cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "gpu"), "cuda"));
    assert_true(cuda == vodq_hw_cuda_available());
    if (!cuda) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "details"), "h264_nvenc");
        assert_false(listed(j, "h264", "h264_nvenc"));
        assert_true(cJSON_IsString(d));
        assert_true(strlen(d->valuestring) > 5); /* FFmpeg's answer, not empty */
        assert_int_equal(vodq_hw_pick("h264", "h264_nvenc", name, sizeof(name), &err),
                         VODQ_ERR_MEDIA);
        assert_non_null(strstr(err.msg, "h264_nvenc"));
        assert_non_null(strstr(err.msg, d->valuestring));
    } else if (listed(j, "h264", "h264_nvenc")) {
        assert_int_equal(vodq_hw_pick("h264", "h264_nvenc", name, sizeof(name), &err), VODQ_OK);
        assert_string_equal(name, "h264_nvenc");
    } else {
        /* a CUDA device without NVENC (H100, H200): NVDEC only */
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "nvdec")));
        assert_int_equal(vodq_hw_pick("h264", "h264_nvenc", name, sizeof(name), &err),
                         VODQ_ERR_MEDIA);
        assert_non_null(strstr(err.msg, "h264_nvenc"));
    }
    cJSON_Delete(j);
}

static void test_pick(void **state)
{
    char name[32] = "";
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(vodq_hw_pick("h264", "libx264", name, sizeof(name), &err), VODQ_OK);
    assert_string_equal(name, "libx264");
    assert_int_equal(vodq_hw_pick("h264", "auto", name, sizeof(name), &err), VODQ_OK);
    char *probe = vodq_hw_probe_json();
    assert_non_null(probe);
    if (strstr(probe, "\"h264\":[\"h264_nvenc\"") != NULL)
        assert_string_equal(name, "h264_nvenc");
    else if (!strstr(name, "vaapi"))
        assert_string_equal(name, "libx264");
    free(probe);
    assert_int_equal(vodq_hw_pick("hevc", NULL, name, sizeof(name), &err), VODQ_OK);
    assert_true(strstr(name, "hevc") != NULL || strcmp(name, "libx265") == 0);
    /* an encoder this build lacks, and a codec that is not offered */
    assert_int_equal(vodq_hw_pick("h264", "h264_nosuch", name, sizeof(name), &err), VODQ_ERR_MEDIA);
    assert_non_null(strstr(err.msg, "h264_nosuch"));
    assert_int_equal(vodq_hw_pick("vp9", "auto", name, sizeof(name), &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "vp9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_shape),
        cmocka_unit_test(test_nvenc),
        cmocka_unit_test(test_pick),
    };
    av_log_set_level(AV_LOG_QUIET);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
