/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hash.h - the 64-bit mixing function of the id hash maps (idmap, cmap).
 */
#ifndef VEX_UTIL_HASH_H
#define VEX_UTIL_HASH_H

#include <stdint.h>

/* splitmix64's finaliser: user ids are often sequential, so mix well */
static inline uint64_t vex_hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
