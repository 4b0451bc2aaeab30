/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rng.h - small, fast, seedable random numbers (xoshiro256** seeded with
 * splitmix64). Every random choice in the library takes its seed from
 * options so that a failure reproduces exactly. Header-only.
 */
#ifndef VEX_UTIL_RNG_H
#define VEX_UTIL_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct vex_rng {
    uint64_t s[4];
} vex_rng;

static inline uint64_t vex_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void vex_rng_seed(vex_rng *r, uint64_t seed)
{
    int i;
    for (i = 0; i < 4; i++)
        r->s[i] = vex_splitmix64(&seed);
}

static inline uint64_t vex_rng_next(vex_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* uniform in [0, 1) */
static inline double vex_rng_double(vex_rng *r)
{
    return (double)(vex_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform in [0, n), n > 0 (slightly biased for huge n; fine for tests) */
static inline uint64_t vex_rng_below(vex_rng *r, uint64_t n)
{
    return vex_rng_next(r) % n;
}

/* standard normal (Box-Muller; one of the pair is dropped) */
static inline double vex_rng_normal(vex_rng *r)
{
    double u1 = vex_rng_double(r), u2 = vex_rng_double(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
