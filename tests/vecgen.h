/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vecgen.h - seeded vector data for the graph index tests: clustered
 * Gaussian vectors (40 centres of spread 3, unit noise), and the exact
 * distances the indexes report (squared L2; 1 - cosine similarity),
 * computed in double.
 */
#ifndef VEX_TEST_VECGEN_H
#define VEX_TEST_VECGEN_H

#include <math.h>
#include <stdlib.h>

#include "util/rng.h"
#include "vexdb.h"

/* n vectors of dim floats (malloc'd; the caller frees); the centres
 * depend on salt only, the points on r. */
static inline float *vecgen_clustered(vex_rng *r, size_t n, size_t dim,
                                      uint64_t salt)
{
    float *v = malloc(n * dim * sizeof *v), *c = malloc(40 * dim * sizeof *c);
    vex_rng cr;
    vex_rng_seed(&cr, 91 + salt);
    for (size_t i = 0; i < 40 * dim; i++)
        c[i] = (float)vex_rng_normal(&cr) * 3.0f;
    for (size_t i = 0; i < n; i++) {
        const float *ci = c + vex_rng_below(r, 40) * dim;
        for (size_t d = 0; d < dim; d++)
            v[i * dim + d] = ci[d] + (float)vex_rng_normal(r);
    }
    free(c);
    return v;
}

/* The exact distance of metric m (L2 or cosine) between a and b. */
static inline float vecgen_dist(vex_metric m, const float *a, const float *b,
                                size_t dim)
{
    double s = 0, na = 0, nb = 0;
    for (size_t i = 0; i < dim; i++) {
        s += m == VEX_METRIC_L2 ? (double)(a[i] - b[i]) * (a[i] - b[i])
                                : (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return m == VEX_METRIC_L2 ? (float)s : (float)(1.0 - s / sqrt(na * nb));
}

#endif
