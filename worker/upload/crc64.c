/* crc64.c: CRC-64/XZ as OSS uses it (see crc64.h). */
#include "worker/upload/crc64.h"

#include <pthread.h>
#include <string.h>

#define POLY UINT64_C(0xC96C5795D7870F42) /* ECMA-182, reflected */

static uint64_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        tab[0][i] = c;
    }
    for (int i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
}

static uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

uint64_t vodq_crc64_update(uint64_t crc, const void *buf, size_t n)
{
    pthread_once(&tab_once, tab_init);
    const unsigned char *p = buf;
    crc = ~crc;
    while (n >= 8) { /* slicing by 8 */
        crc ^= load_le64(p);
        crc = tab[7][crc & 0xff] ^ tab[6][(crc >> 8) & 0xff] ^ tab[5][(crc >> 16) & 0xff] ^
              tab[4][(crc >> 24) & 0xff] ^ tab[3][(crc >> 32) & 0xff] ^ tab[2][(crc >> 40) & 0xff] ^
              tab[1][(crc >> 48) & 0xff] ^ tab[0][crc >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- Combine: zlib's crc32_combine, widened to 64 bits ----
 * A CRC register update over one zero bit is a linear map over GF(2);
 * mat[n] is the image of bit n. Squaring the operator doubles the number
 * of zero bits it applies, so len_b zero BYTES cost O(log len_b) squarings. */

static uint64_t gf2_times(const uint64_t *mat, uint64_t vec)
{
    uint64_t sum = 0;
    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint64_t *sq, const uint64_t *mat)
{
    for (int n = 0; n < 64; n++)
        sq[n] = gf2_times(mat, mat[n]);
}

uint64_t vodq_crc64_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b)
{
    uint64_t even[64], odd[64];
    if (len_b == 0)
        return crc_a;
    /* operator for one zero bit */
    odd[0] = POLY;
    uint64_t row = 1;
    for (int n = 1; n < 64; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd); /* two zero bits */
    gf2_square(odd, even); /* four zero bits */
    /* apply len_b zero bytes to crc_a (the first squaring below gives one byte) */
    do {
        gf2_square(even, odd);
        if (len_b & 1)
            crc_a = gf2_times(even, crc_a);
        len_b >>= 1;
        if (!len_b)
            break;
        gf2_square(odd, even);
        if (len_b & 1)
            crc_a = gf2_times(odd, crc_a);
        len_b >>= 1;
    } while (len_b);
    return crc_a ^ crc_b;
}
