/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.h - CRC32C (Castagnoli) checksums for everything VexDB writes.
 *
 * The computation lives in the SIMD dispatch table (hardware crc32 where
 * the CPU has it, a table otherwise), so this header only fixes the
 * conventions: vex_crc32c(p, n) is the standard CRC32C of n bytes
 * (initial value and final XOR 0xFFFFFFFF; "123456789" gives 0xE3069283),
 * and vex_crc32c_extend continues a checksum over more bytes.
 */
#ifndef VEX_UTIL_CRC32C_H
#define VEX_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#include "simd/simd.h"

static inline uint32_t vex_crc32c_extend(uint32_t crc, const void *p, size_t n)
{
    return ~vx_simd()->crc32c_update(~crc, p, n);
}

static inline uint32_t vex_crc32c(const void *p, size_t n)
{
    return vex_crc32c_extend(0, p, n);
}

#endif
