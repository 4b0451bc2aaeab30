/* SPDX-License-Identifier: Apache-2.0 */
/*
 * endian.h - explicit little-endian stores and loads for on-disk bytes.
 *
 * Headers of every file VexDB writes are encoded field by field through
 * these, never by casting a buffer to a struct, so their layout does not
 * depend on the compiler's padding and a hostile buffer cannot produce an
 * unaligned access. Bulk arrays (vectors, links) are stored in the host's
 * order and used in place; vex_host_is_le() lets readers refuse them on a
 * big-endian host.
 */
#ifndef VEX_UTIL_ENDIAN_H
#define VEX_UTIL_ENDIAN_H

#include <stdint.h>
#include <string.h>

static inline void vex_put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void vex_put_u64le(unsigned char *p, uint64_t v)
{
    vex_put_u32le(p, (uint32_t)v);
    vex_put_u32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t vex_get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t vex_get_u64le(const unsigned char *p)
{
    return (uint64_t)vex_get_u32le(p) | (uint64_t)vex_get_u32le(p + 4) << 32;
}

static inline int vex_host_is_le(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

#endif
