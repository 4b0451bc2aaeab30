/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmeans.h - k-means clustering for the quantizers (src/quant).
 *
 * Lloyd's algorithm with k-means++ seeding (Arthur and Vassilvitskii 2007),
 * squared L2, float32 points in row-major arrays. Every random choice comes
 * from the seed in the parameters, and the result does not depend on the
 * number of threads: only the assignment step runs in parallel (each point
 * on its own), and every sum is taken in a fixed order on the calling
 * thread. The result does depend on the SIMD table in use (float sums in
 * another order), like every float computation in the library.
 *
 * Layer: quant; includes util and simd only.
 */
#ifndef VEX_QUANT_KMEANS_H
#define VEX_QUANT_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"

typedef struct vq_kmeans_params {
    size_t k;           /* clusters, 1..n (after subsampling) */
    unsigned max_iter;  /* Lloyd iterations, 0..1000; default 25. Stops
                           earlier when no assignment changes */
    uint64_t seed;      /* default 1 */
    size_t max_train;   /* 0 = train on all n points; otherwise a seeded
                           uniform subsample of min(n, max_train) points
                           (>= k) without replacement; default 0 */
    vex_pool *pool;     /* NULL = the calling thread only. Borrowed: must
                           outlive the call */
    unsigned n_threads; /* cap on pool threads, 0 = the whole pool */
    const float *init;  /* k * dim starting centroids (warm start, no
                           k-means++), may be the output array itself;
                           NULL (default) = k-means++ */
} vq_kmeans_params;

/* Defaults for k clusters (above). */
void vx_vq_kmeans_params_init(vq_kmeans_params *p, size_t k);

/*
 * Clusters the n points of dim floats at x (row i at x + i * dim) into
 * p->k centroids written to `centroids` (k * dim floats, caller-owned).
 * Empty clusters are refilled by splitting a cluster chosen at random with
 * probability proportional to its size (the two halves are the old
 * centroid nudged by +-1/1024 of each coordinate), so every centroid ends
 * up owning points when there are at least k distinct points.
 * `inertia` (optional) receives the sum of squared distances from the
 * training points to their nearest final centroid.
 *
 * Returns VEX_OK, VEX_INVALID (n < k, k == 0, dim == 0, max_iter > 1000,
 * NULL pointers, non-finite input; message in `err` when not NULL) or
 * VEX_NOMEM. Allocates scratch from `mem` and frees it before returning.
 * Thread-safety: reentrant; x and centroids must not overlap.
 */
int vx_vq_kmeans(const vex_mem *mem, vex_err *err, const float *x, size_t n,
                 size_t dim, const vq_kmeans_params *p, float *centroids,
                 double *inertia);

/*
 * Nearest of k centroids for each of n points: assign[i] (ties go to the
 * lower index) and, when `dist` is not NULL, dist[i] = its squared
 * distance. `scratch` holds k floats per thread the pool may use
 * (vx_pool_width(pool, n_threads) * k; k floats when pool is NULL).
 * Does not allocate. Reentrant.
 */
void vx_vq_kmeans_assign(const float *x, size_t n, size_t dim, const float *c,
                         size_t k, uint32_t *assign, float *dist,
                         float *scratch, vex_pool *pool, unsigned n_threads);

#endif
