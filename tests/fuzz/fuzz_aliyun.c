/* fuzz_aliyun.c: the Aliyun Timeline importer (worker/compose/aliyun.c) on
 * any bytes, strict and lenient, with a small MediaId map and an
 * OutputMediaConfig; no media is probed. What it makes must be a JSON
 * object that the vodq timeline parser then reads (relative media paths
 * resolve under a directory that does not exist, so the parser stops at
 * the first file; that is fine). */
#include "tests/fuzz/fuzz.h"
#include "worker/compose/aliyun.h"
#include "worker/compose/timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
    cJSON *map = cJSON_Parse("{\"abc\":\"a.mp4\",\"img\":\"i.png\"}");
    cJSON *cfg = cJSON_Parse("{\"Width\":640,\"Height\":360,\"Video\":{\"Fps\":25}}");

    if (doc == NULL || map == NULL || cfg == NULL)
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        struct vodq_aliyun_opts o;
        struct vodq_aliyun_result r;
        struct vodq_err err = {0};
        memset(&o, 0, sizeof(o));
        o.media_map = map;
        o.output_config = pass ? cfg : NULL;
        o.lenient = pass == 1;
        o.seed = size;
        if (vodq_aliyun_import(doc, &o, &r, &err) == VODQ_OK) {
            char *text = cJSON_PrintUnformatted(r.timeline);
            struct vodq_timeline tl;
            if (text == NULL || r.dropped == NULL || r.notes == NULL)
                abort();
            memset(&tl, 0, sizeof(tl));
            (void)vodq_timeline_parse(text, strlen(text), "/nonexistent-vodq-fuzz", &tl, &err);
            vodq_timeline_cleanup(&tl);
            free(text);
        } else if (err.msg[0] == '\0' || r.timeline != NULL) {
            abort(); /* a failure always says why and leaves nothing behind */
        }
        vodq_aliyun_result_cleanup(&r);
    }
out:
    cJSON_Delete(doc);
    cJSON_Delete(map);
    cJSON_Delete(cfg);
    return 0;
}
