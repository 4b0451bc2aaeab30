/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_rng.h - the seeded generator of the benchmarks that use only the
 * public API (and so may be built against an older library to compare):
 * splitmix64, one 64-bit value a call from the state *s.
 */
#ifndef VEX_BENCH_RNG_H
#define VEX_BENCH_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
