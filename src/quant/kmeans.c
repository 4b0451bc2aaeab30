/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmeans.c - k-means++ seeding and Lloyd iterations (see kmeans.h).
 *
 * Differences from the textbook algorithm, and why:
 *  - Determinism across thread counts: the parallel loops (distance
 *    updates of the seeding and the assignment step) write one result per
 *    point; every reduction (the seeding's D^2 total, centroid sums,
 *    inertia) runs on the calling thread in point order, in double.
 *    Per-thread partial sums would be faster to reduce but their result
 *    would change with the thread count.
 *  - The Lloyd assignment uses the packed many-to-many dot kernel (GEMM
 *    form, see assign_gemm); the seeding and vx_vq_kmeans_assign use the
 *    one-to-many kernels and exact differences.
 *  - Empty clusters are split from a populated one (as FAISS does) rather
 *    than re-seeded from a random point: a random point is usually a
 *    member of a big cluster anyway, and the split keeps the inertia from
 *    jumping.
 */
#include "quant/kmeans.h"

#include <math.h>
#include <string.h>

#include "quant/quant_int.h"
#include "simd/simd.h"
#include "util/rng.h"
#include "vexdb.h"

#define CHUNK 256 /* points per parallel task */

void vx_vq_kmeans_params_init(vq_kmeans_params *p, size_t k)
{
    memset(p, 0, sizeof *p);
    p->k = k;
    p->max_iter = 25;
    p->seed = 1;
}

/* ---- assignment ------------------------------------------------------- */

typedef struct assign_job {
    const float *x, *c;
    size_t n, dim, k;
    uint32_t *assign;
    float *dist;
    float *scratch;
} assign_job;

static void assign_range(const assign_job *j, size_t lo, size_t hi, float *d)
{
    const vex_simd_table *t = vx_simd();
    size_t i, c;
    for (i = lo; i < hi; i++) {
        uint32_t best = 0;
        float bd;
        t->l2sq_f32_batch(j->x + i * j->dim, j->c, j->dim, j->k, j->dim, d);
        bd = d[0];
        for (c = 1; c < j->k; c++)
            if (d[c] < bd) {
                bd = d[c];
                best = (uint32_t)c;
            }
        j->assign[i] = best;
        if (j->dist)
            j->dist[i] = bd;
    }
}

static void assign_task(void *arg, size_t task, unsigned worker)
{
    const assign_job *j = arg;
    size_t lo = task * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    assign_range(j, lo, hi, j->scratch + (size_t)worker * j->k);
}

void vx_vq_kmeans_assign(const float *x, size_t n, size_t dim, const float *c,
                         size_t k, uint32_t *assign, float *dist,
                         float *scratch, vex_pool *pool, unsigned n_threads)
{
    assign_job j;
    j.x = x;
    j.c = c;
    j.n = n;
    j.dim = dim;
    j.k = k;
    j.assign = assign;
    j.dist = dist;
    j.scratch = scratch;
    if (pool == NULL || n <= CHUNK)
        assign_range(&j, 0, n, scratch);
    else
        vx_pool_run(pool, (n + CHUNK - 1) / CHUNK, n_threads, assign_task, &j);
}

/* ---- k-means++ seeding ------------------------------------------------ */

typedef struct seed_job {
    const float *x, *c; /* c: the newest centre */
    size_t n, dim;
    float *d2;  /* squared distance to the nearest centre so far */
    float *tmp; /* n floats: distances to the newest centre */
} seed_job;

/* One one-to-many call per range (the points are the "base"): far fewer
 * calls than one per point and centre. */
static void seed_range(const seed_job *j, size_t lo, size_t hi)
{
    size_t i;
    vx_simd()->l2sq_f32_batch(j->c, j->x + lo * j->dim, j->dim, hi - lo, j->dim,
                              j->tmp + lo);
    for (i = lo; i < hi; i++)
        if (j->tmp[i] < j->d2[i])
            j->d2[i] = j->tmp[i];
}

static void seed_task(void *arg, size_t task, unsigned worker)
{
    const seed_job *j = arg;
    size_t lo = task * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    (void)worker;
    seed_range(j, lo, hi);
}

static void seed_update(seed_job *j, vex_pool *pool, unsigned n_threads)
{
    if (pool == NULL || j->n <= CHUNK)
        seed_range(j, 0, j->n);
    else
        vx_pool_run(pool, (j->n + CHUNK - 1) / CHUNK, n_threads, seed_task, j);
}

static void kmeanspp(const float *x, size_t n, size_t dim, size_t k, vex_rng *r,
                     float *d2, float *tmp, float *c, vex_pool *pool,
                     unsigned n_threads)
{
    seed_job j;
    size_t i, ci, pick;
    pick = (size_t)vex_rng_below(r, n);
    memcpy(c, x + pick * dim, dim * sizeof *c);
    for (i = 0; i < n; i++)
        d2[i] = INFINITY;
    j.x = x;
    j.n = n;
    j.dim = dim;
    j.d2 = d2;
    j.tmp = tmp;
    for (ci = 1; ci < k; ci++) {
        double total = 0, target, acc = 0;
        j.c = c + (ci - 1) * dim;
        seed_update(&j, pool, n_threads);
        for (i = 0; i < n; i++)
            total += d2[i];
        if (!(total > 0)) { /* all points already coincide with centres */
            pick = (size_t)vex_rng_below(r, n);
        } else {
            target = vex_rng_double(r) * total;
            pick = n - 1;
            for (i = 0; i < n; i++) {
                acc += d2[i];
                if (acc > target && d2[i] > 0) {
                    pick = i;
                    break;
                }
            }
        }
        memcpy(c + ci * dim, x + pick * dim, dim * sizeof *c);
    }
}

/* ---- assignment in GEMM form (training) ---------------------------------
 * |x - c|^2 = |x|^2 - 2 x.c + |c|^2: the centroids are packed once per
 * iteration and the packed many-to-many dot kernel scores CHUNK points
 * against all of them (the flat index's batch path), which beats k
 * one-to-many calls by a wide margin when the subspaces are small (PQ's
 * 2..16 floats: per-call overhead dominates the one-to-many kernel).
 * Cancellation costs some low bits when points sit far from the origin
 * relative to their spread; k-means only needs the argmin, and the
 * inertia is clamped at zero per point. The chunks are fixed, so the
 * result does not depend on the thread count. */

typedef struct gemm_job {
    const float *x;
    size_t n, dim, k;
    const float *packed, *cnorm;
    float *dots; /* CHUNK * k per worker */
    uint32_t *assign;
    float *dist;
} gemm_job;

static void gemm_task(void *arg, size_t task, unsigned worker)
{
    const gemm_job *j = arg;
    const vex_simd_table *t = vx_simd();
    size_t lo = task * CHUNK, hi = lo + CHUNK < j->n ? lo + CHUNK : j->n;
    float *dots = j->dots + (size_t)worker * CHUNK * j->k;
    size_t i, c;
    t->dots_f32_packed(j->x + lo * j->dim, j->dim, hi - lo, j->packed, j->k,
                       j->dim, dots, j->k);
    for (i = lo; i < hi; i++) {
        const float *d = dots + (i - lo) * j->k;
        float best = j->cnorm[0] - 2 * d[0], xn, v;
        uint32_t bi = 0;
        for (c = 1; c < j->k; c++) {
            v = j->cnorm[c] - 2 * d[c];
            if (v < best) {
                best = v;
                bi = (uint32_t)c;
            }
        }
        xn = t->norm2_f32(j->x + i * j->dim, j->dim);
        j->assign[i] = bi;
        j->dist[i] = xn + best > 0 ? xn + best : 0;
    }
}

static void assign_gemm(gemm_job *j, float *packed, float *cnorm,
                        const float *c, vex_pool *pool, unsigned n_threads)
{
    const vex_simd_table *t = vx_simd();
    size_t ci, n_tasks = (j->n + CHUNK - 1) / CHUNK;
    t->pack_f32(c, j->dim, j->k, j->dim, packed);
    for (ci = 0; ci < j->k; ci++)
        cnorm[ci] = t->norm2_f32(c + ci * j->dim, j->dim);
    j->packed = packed;
    j->cnorm = cnorm;
    if (pool == NULL || n_tasks == 1) {
        size_t task;
        for (task = 0; task < n_tasks; task++)
            gemm_task(j, task, 0);
    } else {
        vx_pool_run(pool, n_tasks, n_threads, gemm_task, j);
    }
}

/* ---- Lloyd ------------------------------------------------------------ */

/* Split a cluster for each empty one (see the file comment). */
static void fix_empty(float *c, size_t k, size_t dim, size_t *count, vex_rng *r)
{
    size_t ci, cj, d, total = 0;
    for (ci = 0; ci < k; ci++)
        total += count[ci] > 1 ? count[ci] - 1 : 0;
    for (ci = 0; ci < k; ci++) {
        uint64_t target;
        if (count[ci] != 0 || total == 0)
            continue;
        target = vex_rng_below(r, total);
        for (cj = 0; cj < k; cj++) {
            size_t w = count[cj] > 1 ? count[cj] - 1 : 0;
            if (target < w)
                break;
            target -= w;
        }
        if (cj == k)
            continue; /* cannot happen: total counts the weights */
        for (d = 0; d < dim; d++) {
            float v = c[cj * dim + d], eps = fabsf(v) / 1024.0f + 1e-7f;
            c[ci * dim + d] = (d & 1) ? v + eps : v - eps;
            c[cj * dim + d] = (d & 1) ? v - eps : v + eps;
        }
        total -= count[cj] > 1 ? count[cj] - 1 : 0;
        count[ci] = count[cj] / 2;
        count[cj] -= count[ci];
        total += count[ci] > 1 ? count[ci] - 1 : 0;
        total += count[cj] > 1 ? count[cj] - 1 : 0;
    }
}

int vx_vq_kmeans(const vex_mem *mem, vex_err *err, const float *x, size_t n,
                 size_t dim, const vq_kmeans_params *p, float *centroids,
                 double *inertia)
{
    int rc = VEX_OK;
    float *xs = NULL, *d2 = NULL, *scratch = NULL, *packed = NULL;
    float *cnorm = NULL;
    gemm_job gj;
    double *sum = NULL;
    size_t *count = NULL, *idx = NULL;
    uint32_t *asg = NULL, *prev = NULL;
    const float *xt = x;
    size_t nt = n, i, d, ci, k, width, sz;
    unsigned it;
    vex_rng r;

    if (mem == NULL || x == NULL || p == NULL || centroids == NULL)
        return vx_err_set(err, VEX_INVALID, "kmeans: NULL argument");
    k = p->k;
    if (dim == 0 || k == 0)
        return vx_err_set(err, VEX_INVALID, "kmeans: dim and k must be >= 1");
    if (p->max_iter > 1000)
        return vx_err_set(err, VEX_INVALID, "kmeans: max_iter %u > 1000",
                          p->max_iter);
    if (p->max_train != 0 && p->max_train < nt)
        nt = p->max_train;
    if (nt < k)
        return vx_err_set(err, VEX_INVALID,
                          "kmeans: %zu training points for k = %zu clusters",
                          nt, k);
    if (vex_mul_overflow(n, dim, &sz) || sz > SIZE_MAX / sizeof(float) ||
        vex_mul_overflow(k, dim, &sz) || sz > SIZE_MAX / sizeof(double))
        return vx_err_set(err, VEX_INVALID, "kmeans: size overflow");
    for (i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return vx_err_set(err, VEX_INVALID,
                              "kmeans: point %zu has a non-finite value",
                              i / dim);
    vex_rng_seed(&r, p->seed);

    if (nt < n) { /* partial Fisher-Yates over an index array */
        idx = vx_mem_calloc(mem, n, sizeof *idx);
        xs = vx_mem_calloc(mem, nt * dim, sizeof *xs);
        if (idx == NULL || xs == NULL)
            goto nomem;
        for (i = 0; i < n; i++)
            idx[i] = i;
        for (i = 0; i < nt; i++) {
            size_t j = i + (size_t)vex_rng_below(&r, n - i), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            memcpy(xs + i * dim, x + idx[i] * dim, dim * sizeof *xs);
        }
        xt = xs;
    }
    width = p->pool ? vx_pool_width(p->pool, p->n_threads) : 1;
    d2 = vx_mem_calloc(mem, nt, sizeof *d2);
    asg = vx_mem_calloc(mem, nt, sizeof *asg);
    prev = vx_mem_calloc(mem, nt, sizeof *prev);
    scratch = vx_mem_calloc(mem, width * CHUNK, k * sizeof *scratch);
    sum = vx_mem_calloc(mem, k * dim, sizeof *sum);
    count = vx_mem_calloc(mem, k, sizeof *count);
    cnorm = vx_mem_calloc(mem, k, sizeof *cnorm);
    if (vex_mul_overflow(vex_simd_pack_size(vx_simd()->panel, k, dim),
                         sizeof *packed, &sz) == 0)
        packed = vx_mem_alloc_aligned(mem, sz, 64);
    if (!d2 || !asg || !prev || !scratch || !sum || !count || !cnorm || !packed)
        goto nomem;
    gj.x = xt;
    gj.n = nt;
    gj.dim = dim;
    gj.k = k;
    gj.dots = scratch;
    gj.assign = asg;
    gj.dist = d2;

    /* prev (n uint32) doubles as the seeding's n-float scratch */
    if (p->init == NULL)
        kmeanspp(xt, nt, dim, k, &r, d2, (float *)prev, centroids, p->pool,
                 p->n_threads);
    else if (p->init != centroids)
        memcpy(centroids, p->init, k * dim * sizeof *centroids);
    memset(prev, 0, nt * sizeof *prev);
    for (it = 0;; it++) {
        int changed = 0;
        assign_gemm(&gj, packed, cnorm, centroids, p->pool, p->n_threads);
        for (i = 0; i < nt && !changed; i++)
            changed = asg[i] != prev[i];
        if (it == p->max_iter || (it > 0 && !changed))
            break;
        memcpy(prev, asg, nt * sizeof *prev);
        memset(sum, 0, k * dim * sizeof *sum);
        memset(count, 0, k * sizeof *count);
        for (i = 0; i < nt; i++) {
            const float *row = xt + i * dim;
            double *s = sum + (size_t)asg[i] * dim;
            for (d = 0; d < dim; d++)
                s[d] += row[d];
            count[asg[i]]++;
        }
        for (ci = 0; ci < k; ci++)
            if (count[ci])
                for (d = 0; d < dim; d++)
                    centroids[ci * dim + d] =
                        (float)(sum[ci * dim + d] / (double)count[ci]);
        fix_empty(centroids, k, dim, count, &r);
    }
    if (inertia) {
        double s = 0;
        for (i = 0; i < nt; i++)
            s += d2[i];
        *inertia = s;
    }
    goto cleanup;
nomem:
    rc = vx_err_set(err, VEX_NOMEM, "kmeans: out of memory");
cleanup:
    vx_mem_free(mem, idx);
    vx_mem_free(mem, xs);
    vx_mem_free(mem, d2);
    vx_mem_free(mem, asg);
    vx_mem_free(mem, prev);
    vx_mem_free(mem, scratch);
    vx_mem_free(mem, sum);
    vx_mem_free(mem, count);
    vx_mem_free(mem, cnorm);
    vx_mem_free_aligned(mem, packed);
    return rc;
}
