/* crc64.h: CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all
 * ones), the checksum OSS sends as x-oss-hash-crc64ecma (in decimal).
 *
 * vodq_crc64_update(0, "123456789", 9) == 0x995dc9bbdf1939fa. */
#ifndef VODQ_UPLOAD_CRC64_H
#define VODQ_UPLOAD_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* Returns the CRC of the bytes so far (crc, 0 to start) followed by buf[0..n).
 * Table driven (slicing by 8); thread-safe. */
uint64_t vodq_crc64_update(uint64_t crc, const void *buf, size_t n);

/* Returns the CRC of A||B from crc_a = crc(A), crc_b = crc(B) and len_b =
 * the length of B in bytes (zlib's GF(2) matrix method, O(log len_b)).
 * combine(a, b, 0) == a. */
uint64_t vodq_crc64_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b);

#endif
