/* fuzz_vodauth.c: VOD UploadAddress and UploadAuth decoding
 * (worker/upload/vodauth.c). The first byte picks address or auth and
 * whether the rest is given as base64 text as is, or is JSON that the
 * harness encodes first (so that the JSON side is reached). */
#include "tests/fuzz/fuzz.h"
#include "worker/upload/vodauth.h"

static char *b64(const uint8_t *u, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(n / 3 * 4 + 5), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16 | (i + 1 < n ? (uint32_t)u[i + 1] << 8 : 0) |
                     (i + 2 < n ? u[i + 2] : 0);
        *p++ = a[v >> 18];
        *p++ = a[(v >> 12) & 63];
        *p++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
        *p++ = i + 2 < n ? a[v & 63] : '=';
    }
    *p = '\0';
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    char *text = mode & 2 ? fuzz_cstr(data + 1, size - 1) : b64(data + 1, size - 1);
    if (!text)
        return 0;
    struct vodq_err err = {0};
    if (mode & 1) {
        struct vodq_vod_auth a;
        if (vodq_vod_auth_decode(text, &a, &err) == VODQ_OK &&
            (!a.access_key_id || !a.access_key_secret))
            abort();
        vodq_vod_auth_cleanup(&a);
    } else {
        struct vodq_vod_address a;
        if (vodq_vod_address_decode(text, &a, &err) == VODQ_OK && (!a.endpoint || !a.bucket))
            abort();
        vodq_vod_address_cleanup(&a);
    }
    int64_t t;
    vodq_vod_parse_utc(text, &t);
    free(text);
    return 0;
}
