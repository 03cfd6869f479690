/* fuzz_xml.c: the S3/OSS XML reply parsers (worker/upload/xml.c); the first
 * byte picks the parser. */
#include "tests/fuzz/fuzz.h"
#include "worker/upload/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct vodq_err err = {0};
    switch (data[0] % 5) {
    case 0: {
        char code[64], msg[256], rid[64];
        vodq_xml_error_rid(body, len, code, sizeof(code), msg, sizeof(msg), rid, sizeof(rid));
        break;
    }
    case 1: {
        char *id = NULL;
        vodq_xml_upload_id(body, len, &id, &err);
        free(id);
        break;
    }
    case 2: {
        char *loc = NULL, *etag = NULL;
        vodq_xml_complete_result(body, len, &loc, &etag, &err);
        free(loc);
        free(etag);
        break;
    }
    case 3: {
        struct vodq_xml_parts p;
        if (vodq_xml_list_parts(body, len, &p, &err) == VODQ_OK && p.n && !p.parts)
            abort();
        vodq_xml_parts_cleanup(&p);
        break;
    }
    default: {
        struct vodq_xml_uploads u;
        vodq_xml_list_uploads(body, len, &u, &err);
        vodq_xml_uploads_cleanup(&u);
        break;
    }
    }
    return 0;
}
