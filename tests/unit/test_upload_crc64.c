/* test_upload_crc64.c: CRC-64/XZ as OSS sends it (spec §7.6 vectors), the
 * incremental update, and vodq_crc64_combine() against the CRC of the
 * concatenation for many split points and lengths. */
#include "worker/upload/crc64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char EMERG[] = "This is a test of the emergency broadcast system.";

static void test_vectors(void **state)
{
    (void)state;
    assert_true(vodq_crc64_update(0, "123456789", 9) == UINT64_C(0x995dc9bbdf1939fa));
    char dec[32];
    snprintf(dec, sizeof(dec), "%llu", (unsigned long long)vodq_crc64_update(0, "123456789", 9));
    assert_string_equal(dec, "11051210869376104954"); /* x-oss-hash-crc64ecma form */
    assert_int_equal(strlen(EMERG), 49);
    assert_true(vodq_crc64_update(0, EMERG, 49) == UINT64_C(0x27db187fc15bbc72));
    assert_true(vodq_crc64_update(0, "", 0) == 0);
    assert_true(vodq_crc64_update(0, NULL, 0) == 0);
}

/* Byte-at-a-time (the table's tail loop) equals one call (slicing by 8),
 * from every alignment. */
static void test_incremental(void **state)
{
    (void)state;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++) {
        uint64_t whole = vodq_crc64_update(0, buf + off, sizeof(buf) - off);
        uint64_t step = 0;
        for (size_t i = off; i < sizeof(buf); i++)
            step = vodq_crc64_update(step, buf + i, 1);
        assert_true(whole == step);
        uint64_t two = vodq_crc64_update(vodq_crc64_update(0, buf + off, 13), buf + off + 13,
                                         sizeof(buf) - off - 13);
        assert_true(whole == two);
    }
}

/* The C SDK's check: each vector split at (len+1)>>1, and combine(c, x, 0) == c. */
static void test_combine_vectors(void **state)
{
    (void)state;
    const char *v[] = {"123456789", EMERG};
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(v[k]), h = (len + 1) >> 1;
        uint64_t c1 = vodq_crc64_update(0, v[k], h);
        uint64_t c2 = vodq_crc64_update(0, v[k] + h, len - h);
        assert_true(vodq_crc64_combine(c1, c2, len - h) == vodq_crc64_update(0, v[k], len));
        assert_true(vodq_crc64_combine(c1, 0x1234, 0) == c1);
    }
    /* the naive a^b is wrong: it must not be what combine returns */
    uint64_t a = vodq_crc64_update(0, "1234", 4), b = vodq_crc64_update(0, "56789", 5);
    assert_true(vodq_crc64_combine(a, b, 5) != (a ^ b));
    assert_true(vodq_crc64_combine(a, b, 5) == UINT64_C(0x995dc9bbdf1939fa));
}

/* Parts like an upload's: combine over many pieces of varied sizes equals
 * the CRC of the whole buffer (part sizes up to 1 MiB + odd tails). */
static void test_combine_parts(void **state)
{
    (void)state;
    size_t total = (3u << 20) + 12345;
    unsigned char *buf = malloc(total);
    assert_non_null(buf);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < total; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    uint64_t whole = vodq_crc64_update(0, buf, total);
    const size_t part_sizes[] = {1, 7, 8, 100, 102400, 1u << 20, 999999};
    for (size_t s = 0; s < sizeof(part_sizes) / sizeof(part_sizes[0]); s++) {
        size_t ps = part_sizes[s];
        if (ps < 1000)
            ps = ps * 4099 + 1; /* keep the number of parts small */
        uint64_t acc = 0;
        for (size_t off = 0; off < total; off += ps) {
            size_t n = total - off < ps ? total - off : ps;
            acc = vodq_crc64_combine(acc, vodq_crc64_update(0, buf + off, n), n);
        }
        assert_true(acc == whole);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_combine_vectors),
        cmocka_unit_test(test_combine_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
