/* fuzz_redis_url.c: vodq_redis_url_parse on any text: never crashes, and an
 * error never shows the password. */
#include "shared/redis.h"
#include "tests/fuzz/fuzz.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    if (!s)
        return 0;
    struct vodq_redis_url u;
    struct vodq_err err = {0};
    if (vodq_redis_url_parse(s, &u, &err) == VODQ_OK) {
        if (u.port < 1 || u.port > 65535 || u.db < 0 || u.db > 100000 ||
            (u.kind == VODQ_REDIS_SENTINEL &&
             (u.n_sentinels < 1 || u.n_sentinels > VODQ_REDIS_MAX_SENTINELS || !u.master[0])) ||
            (u.kind == VODQ_REDIS_UNIX && u.path[0] != '/') ||
            (u.kind != VODQ_REDIS_UNIX && !u.host[0]))
            abort();
    } else if (strlen(err.msg) >= sizeof(err.msg)) {
        abort();
    }
    free(s);
    return 0;
}
