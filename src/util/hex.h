/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hex.h - the fixed-width lowercase hex numbers in VexDB's file names
 * (wal-<16 hex>.log, seg-<16 hex>.vseg, MANIFEST-<16 hex>).
 */
#ifndef VEX_UTIL_HEX_H
#define VEX_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Parse exactly n_digits (<= 16) lowercase hex digits at p into *out;
 * 1 on success, 0 (and *out untouched) on any other character. */
static inline int vex_parse_hex(const char *p, size_t n_digits, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n_digits; i++) {
        char c = p[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 1;
}

#endif
