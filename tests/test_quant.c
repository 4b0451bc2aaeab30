/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_quant.c - the quantizers of src/quant through quant.h and kmeans.h:
 * k-means (determinism across thread counts, inertia against random
 * centres, empty clusters), SQ8 error bounds and distances, BQ codes,
 * PQ/OPQ distances against decoded vectors, recall with reranking on
 * seeded clustered data, the 4-bit fast scan against the float tables
 * and its lane writes and reads (vx_vq_pq4_set/get) against vx_vq_pq4_pack,
 * OPQ's rotation (Procrustes) and error reduction, every SIMD table
 * against the scalar one, the blob (round trip, every byte flip, every
 * truncation, forged fields, unknown version), argument checks, and an
 * out-of-memory sweep. Sizes are small so the binary runs in seconds.
 */
#include <float.h>
#include <stdint.h>

#include "quant/kmeans.h"
#include "quant/quant.h"
#include "quant/quant_int.h"
#include "simd/simd.h"
#include "test.h"
#include "test_alloc.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rng.h"
#include "vexdb.h"

static vex_mem g_mem;
/* training effort of make(); cases that check arithmetic rather than
 * quality turn it down (the ASan build runs at -O0) */
static unsigned g_train_iter = 12, g_opq_iter = 6;

/* ---- data --------------------------------------------------------------- */

/* n points around nc centres in dim dims: centre N(0, 1), noise
 * N(0, sigma), each dimension scaled by 1 + d % 5 so ranges differ. */
static float *gen_clustered(vex_rng *r, size_t n, size_t dim, size_t nc,
                            double sigma)
{
    float *c = malloc(nc * dim * sizeof *c), *x = malloc(n * dim * sizeof *x);
    size_t i, d;
    for (i = 0; i < nc * dim; i++)
        c[i] = (float)vex_rng_normal(r);
    for (i = 0; i < n; i++) {
        size_t k = (size_t)vex_rng_below(r, nc);
        for (d = 0; d < dim; d++)
            x[i * dim + d] =
                (float)((c[k * dim + d] + sigma * vex_rng_normal(r)) *
                        (1.0 + (double)(d % 5)));
    }
    free(c);
    return x;
}

static double l2d(const float *a, const float *b, size_t n)
{
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static double dotd(const float *a, const float *b, size_t n)
{
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static double ref_dist(vex_metric m, const float *q, const float *x, size_t n)
{
    if (m == VEX_METRIC_L2)
        return l2d(q, x, n);
    if (m == VEX_METRIC_IP)
        return -dotd(q, x, n);
    return 1.0 - dotd(q, x, n) / sqrt(dotd(q, q, n));
}

/* indices of the k smallest of d[0..n) (ties by index), into out */
static void smallest_k(const double *d, size_t n, size_t k, size_t *out)
{
    size_t i, j;
    for (i = 0; i < k; i++)
        out[i] = SIZE_MAX;
    for (i = 0; i < n; i++) {
        for (j = k; j > 0; j--) {
            size_t o = out[j - 1];
            if (o != SIZE_MAX && d[o] <= d[i])
                break;
            if (j < k)
                out[j] = o;
        }
        if (j < k)
            out[j] = i;
    }
}

static vq_quantizer *make(vq_kind kind, uint32_t dim, vex_metric metric,
                          uint32_t m, uint32_t nbits, const float *x, size_t n)
{
    vq_params p;
    vq_quantizer *q = NULL;
    vx_vq_params_init(&p, kind, dim, metric);
    p.pq_m = m;
    if (nbits)
        p.pq_nbits = nbits;
    p.seed = test_seed(7);
    p.train_iter = g_train_iter;
    p.opq_iter = g_opq_iter;
    p.max_train = 2000; /* keeps training in the test's time budget */
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, NULL), VEX_OK);
    if (q && x)
        CHECK_RC(vx_vq_train(q, x, n), VEX_OK);
    return q;
}

/* ---- k-means ------------------------------------------------------------ */

static double inertia_of(const float *x, size_t n, size_t dim, const float *c,
                         size_t k)
{
    double s = 0;
    size_t i, j;
    for (i = 0; i < n; i++) {
        double best = DBL_MAX;
        for (j = 0; j < k; j++) {
            double d = l2d(x + i * dim, c + j * dim, dim);
            best = d < best ? d : best;
        }
        s += best;
    }
    return s;
}

static void test_kmeans(void)
{
    enum { N = 3000, D = 8, K = 32 };
    vex_rng r;
    float *x, c1[K * D], c2[K * D], c3[K * D], rnd[K * D];
    double in1, in2, inr;
    vq_kmeans_params p;
    vex_pool *pool = NULL;
    vex_err err;
    size_t i;
    vx_err_init(&err);
    vex_rng_seed(&r, test_seed(1));
    x = gen_clustered(&r, N, D, 40, 0.3);
    vx_vq_kmeans_params_init(&p, K);
    p.seed = 42;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c1, &in1), VEX_OK);
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c2, &in2), VEX_OK);
    CHECK(memcmp(c1, c2, sizeof c1) == 0 && in1 == in2);
    /* same result with 2 threads */
    CHECK_RC(vx_pool_create(&g_mem, 2, &pool), VEX_OK);
    p.pool = pool;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c3, &in2), VEX_OK);
    CHECK(memcmp(c1, c3, sizeof c1) == 0 && in1 == in2);
    /* another seed gives other centroids */
    p.seed = 43;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c3, &in2), VEX_OK);
    CHECK(memcmp(c1, c3, sizeof c1) != 0);
    /* the reported inertia is the real one, and well below K random
     * points as centres */
    CHECK(fabs(in1 - inertia_of(x, N, D, c1, K)) <= 1e-3 * in1);
    for (i = 0; i < K; i++)
        memcpy(rnd + i * D, x + vex_rng_below(&r, N) * D, sizeof(float) * D);
    inr = inertia_of(x, N, D, rnd, K);
    CHECK_MSG(in1 < 0.6 * inr, "inertia %g vs random %g", in1, inr);
    /* more iterations never make it worse than 1 iteration */
    p.seed = 42;
    p.max_iter = 1;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c3, &in2), VEX_OK);
    CHECK(in1 <= in2);
    /* subsample */
    p.max_iter = 10;
    p.max_train = 500;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c3, &in2), VEX_OK);
    CHECK(inertia_of(x, N, D, c3, K) < 0.7 * inr);
    /* arguments */
    p.max_train = 0;
    p.k = N + 1;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c3, NULL), VEX_INVALID);
    CHECK(strstr(err.msg, "training points") != NULL);
    p.k = 0;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c3, NULL), VEX_INVALID);
    p.k = K;
    p.max_iter = 1001;
    CHECK_RC(vx_vq_kmeans(&g_mem, NULL, x, N, D, &p, c3, NULL), VEX_INVALID);
    p.max_iter = 5;
    x[17] = NAN;
    CHECK_RC(vx_vq_kmeans(&g_mem, &err, x, N, D, &p, c3, NULL), VEX_INVALID);
    vx_pool_destroy(pool);
    vx_err_destroy(&err);
    free(x);
}

/* Few distinct points: every centroid still owns points when there are
 * at least k distinct ones, and nothing turns NaN when there are fewer. */
static void test_kmeans_empty(void)
{
    enum { N = 1000, D = 4, K = 20 };
    vex_rng r;
    float x[N * D], c[K * D];
    uint32_t asg[N];
    float scratch[K];
    int seen[K];
    size_t i, j, distinct;
    vq_kmeans_params p;
    vex_rng_seed(&r, test_seed(2));
    for (distinct = 8; distinct <= 24; distinct += 16) {
        for (i = 0; i < N; i++)
            for (j = 0; j < D; j++)
                x[i * D + j] = (float)((i % distinct) * (j + 1));
        vx_vq_kmeans_params_init(&p, K);
        CHECK_RC(vx_vq_kmeans(&g_mem, NULL, x, N, D, &p, c, NULL), VEX_OK);
        for (i = 0; i < K * D; i++)
            CHECK(isfinite(c[i]));
        vx_vq_kmeans_assign(x, N, D, c, K, asg, NULL, scratch, NULL, 0);
        memset(seen, 0, sizeof seen);
        for (i = 0; i < N; i++)
            seen[asg[i]] = 1;
        if (distinct >= K)
            for (i = 0; i < K; i++)
                CHECK_MSG(seen[i], "cluster %zu empty", i);
    }
}

/* ---- SQ8 ------------------------------------------------------------------
 */

static void test_sq8_bounds(void)
{
    enum { N = 500, D = 37 };
    vex_rng r;
    float *x, dec[D];
    uint8_t code[D];
    int uni;
    size_t i, d;
    vex_rng_seed(&r, test_seed(3));
    x = gen_clustered(&r, N, D, 10, 0.5);
    for (d = 0; d < N; d++) /* one constant dimension */
        x[d * D + 5] = 2.5f;
    for (uni = 0; uni <= 1; uni++) {
        vq_params p;
        vq_quantizer *q = NULL;
        double worst = 0;
        vx_vq_params_init(&p, VQ_SQ8, D, VEX_METRIC_L2);
        p.sq8_uniform = uni;
        CHECK_RC(vx_vq_create(&g_mem, &p, &q, NULL), VEX_OK);
        CHECK_RC(vx_vq_train(q, x, N), VEX_OK);
        CHECK(vx_vq_code_size(q) == D);
        for (i = 0; i < N; i++) {
            CHECK_RC(vx_vq_encode(q, x + i * D, 1, code), VEX_OK);
            CHECK_RC(vx_vq_decode(q, code, 1, dec), VEX_OK);
            for (d = 0; d < D; d++) {
                double step = q->b[d], e = fabs(dec[d] - x[i * D + d]);
                double lim = step / 2 * (1 + 1e-4) + 1e-6 * fabs(x[i * D + d]);
                CHECK_MSG(e <= lim, "uniform %d vec %zu dim %zu err %g step %g",
                          uni, i, d, e, step);
                if (step > 0 && e / step > worst)
                    worst = e / step;
            }
        }
        CHECK(worst > 0.4); /* the bound is tight, not vacuous */
        if (uni)
            for (d = 1; d < D; d++)
                CHECK(q->b[d] == q->b[0]);
        /* outside the range: clamped to the nearest end */
        memcpy(dec, x, sizeof dec);
        dec[0] = 1e30f;
        dec[1] = -1e30f;
        CHECK_RC(vx_vq_encode(q, dec, 1, code), VEX_OK);
        CHECK(code[0] == 255 && code[1] == 0);
        vx_vq_destroy(q);
    }
    free(x);
}

/* asymmetric distances equal the exact distance to the decoded vector;
 * symmetric ones s^2 |a - b|^2 (L2) or half that (cosine) */
static void test_sq8_distances(void)
{
    enum { N = 300, D = 19 };
    static const vex_metric ms[] = {VEX_METRIC_L2, VEX_METRIC_IP,
                                    VEX_METRIC_COSINE};
    vex_rng r;
    float *x, dec[N * D], qd[D], qn[D], out[N];
    uint8_t codes[N * D], qc[D];
    size_t mi, i, d;
    vex_rng_seed(&r, test_seed(4));
    x = gen_clustered(&r, N + 1, D, 5, 0.5);
    for (mi = 0; mi < 3; mi++) {
        vex_metric m = ms[mi];
        const float *qv = x + N * D;
        vq_params p;
        vq_quantizer *q = NULL;
        vq_dc *dc = NULL, *sym = NULL;
        vx_vq_params_init(&p, VQ_SQ8, D, m);
        p.sq8_uniform = 1;
        CHECK_RC(vx_vq_create(&g_mem, &p, &q, NULL), VEX_OK);
        CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_INVALID); /* untrained */
        CHECK_RC(vx_vq_train(q, x, N), VEX_OK);
        CHECK_RC(vx_vq_encode(q, x, N, codes), VEX_OK);
        CHECK_RC(vx_vq_decode(q, codes, N, dec), VEX_OK);
        CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_OK);
        CHECK_RC(vx_vq_dc_set_query(dc, qv), VEX_OK);
        vx_vq_dc_scan(dc, codes, N, out);
        for (i = 0; i < N; i++) {
            double want = ref_dist(m, qv, dec + i * D, D);
            float one = vx_vq_dc_distance(dc, codes + i * D);
            CHECK_MSG(fabs(out[i] - want) <= 1e-4 * (1 + fabs(want)),
                      "metric %d code %zu: %g vs %g", (int)m, i, out[i], want);
            CHECK(one == out[i]);
        }
        if (m == VEX_METRIC_IP) {
            CHECK_RC(vx_vq_dc_create(q, VQ_DC_SYMMETRIC, &sym), VEX_INVALID);
        } else {
            double nq = sqrt(dotd(qv, qv, D));
            for (d = 0; d < D; d++)
                qn[d] = m == VEX_METRIC_COSINE ? (float)(qv[d] / nq) : qv[d];
            CHECK_RC(vx_vq_dc_create(q, VQ_DC_SYMMETRIC, &sym), VEX_OK);
            CHECK_RC(vx_vq_dc_set_query(sym, qv), VEX_OK);
            vx_vq_sq8_encode(q, qn, qc);
            vx_vq_sq8_decode(q, qc, qd);
            vx_vq_dc_scan(sym, codes, N, out);
            for (i = 0; i < N; i++) {
                double want = l2d(qd, dec + i * D, D) *
                              (m == VEX_METRIC_COSINE ? 0.5 : 1.0);
                CHECK_MSG(fabs(out[i] - want) <= 1e-3 * (1 + want),
                          "sym metric %d code %zu: %g vs %g", (int)m, i, out[i],
                          want);
                CHECK(vx_vq_dc_distance(sym, codes + i * D) == out[i]);
            }
        }
        vx_vq_dc_destroy(sym);
        vx_vq_dc_destroy(dc);
        vx_vq_destroy(q);
    }
    /* per-dimension steps: no symmetric path */
    {
        vq_quantizer *q = make(VQ_SQ8, D, VEX_METRIC_L2, 0, 0, x, N);
        vq_dc *dc = NULL;
        CHECK_RC(vx_vq_dc_create(q, VQ_DC_SYMMETRIC, &dc), VEX_INVALID);
        CHECK(strstr(vx_vq_errmsg(q), "uniform") != NULL);
        CHECK_RC(vx_vq_dc_create(q, 4, &dc), VEX_INVALID);
        vx_vq_destroy(q);
    }
    free(x);
}

/* ---- BQ -------------------------------------------------------------------
 */

static void test_bq(void)
{
    enum { N = 400, D = 45 };
    vex_rng r;
    float *x, dec[D], out[N];
    uint8_t codes[N * 6];
    size_t i, d, cs;
    int center;
    vex_rng_seed(&r, test_seed(5));
    x = gen_clustered(&r, N + 1, D, 6, 0.4);
    for (center = 0; center <= 1; center++) {
        vq_params p;
        vq_quantizer *q = NULL;
        vq_dc *dc = NULL;
        double mean[D] = {0};
        vx_vq_params_init(&p, VQ_BQ, D, VEX_METRIC_L2);
        p.bq_center = center;
        CHECK_RC(vx_vq_create(&g_mem, &p, &q, NULL), VEX_OK);
        CHECK_RC(vx_vq_train(q, x, N), VEX_OK);
        cs = vx_vq_code_size(q);
        CHECK(cs == 6);
        CHECK_RC(vx_vq_encode(q, x, N, codes), VEX_OK);
        for (i = 0; i < N; i++)
            for (d = 0; d < D; d++)
                mean[d] += x[i * D + d] / N;
        for (i = 0; i < N; i++) {
            for (d = 0; d < D; d++) {
                int bit = (codes[i * cs + d / 8] >> (d % 8)) & 1;
                double c = center ? mean[d] : 0;
                if (fabs(x[i * D + d] - c) > 1e-4)
                    CHECK(bit == (x[i * D + d] > c));
            }
            CHECK((codes[i * cs + 5] >> 5) == 0); /* padding bits */
        }
        CHECK_RC(vx_vq_decode(q, codes, 1, dec), VEX_OK);
        for (d = 0; d < D; d++)
            CHECK((dec[d] > q->a[d]) == ((codes[d / 8] >> (d % 8)) & 1));
        CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_OK);
        CHECK_RC(vx_vq_dc_set_query(dc, x + N * D), VEX_OK);
        vx_vq_dc_scan(dc, codes, N, out);
        for (i = 0; i < N; i++) {
            uint8_t qc[6];
            uint32_t h = 0;
            size_t b;
            CHECK_RC(vx_vq_encode(q, x + N * D, 1, qc), VEX_OK);
            for (b = 0; b < cs; b++)
                h += (uint32_t)__builtin_popcount(qc[b] ^ codes[i * cs + b]);
            CHECK(out[i] == (float)h);
            CHECK(vx_vq_dc_distance(dc, codes + i * cs) == out[i]);
        }
        vx_vq_dc_destroy(dc);
        vx_vq_destroy(q);
    }
    free(x);
}

/* ---- PQ / OPQ ------------------------------------------------------------ */

/* distance computers agree with the exact distance from the query to
 * the decoded vector, for every metric, 8 and 4 bits, PQ and OPQ, and
 * M that does and does not divide the dimension */
static void test_pq_adc(void)
{
    enum { N = 600, D = 22 };
    static const vex_metric ms[] = {VEX_METRIC_L2, VEX_METRIC_IP,
                                    VEX_METRIC_COSINE};
    static const uint32_t cfg[][3] = {{VQ_PQ, 11, 8}, {VQ_PQ, 4, 8},
                                      {VQ_PQ, 7, 4},  {VQ_PQ, 22, 4},
                                      {VQ_OPQ, 5, 8}, {VQ_OPQ, 11, 4}};
    vex_rng r;
    float *x, *dec, out[N];
    uint8_t *codes;
    size_t mi, ci, i;
    vex_rng_seed(&r, test_seed(6));
    x = gen_clustered(&r, N + 1, D, 8, 0.5);
    dec = malloc(sizeof(float) * N * D);
    codes = malloc(N * D);
    g_train_iter = 3;
    g_opq_iter = 2;
    for (ci = 0; ci < sizeof cfg / sizeof cfg[0]; ci++) {
        for (mi = 0; mi < 3; mi++) {
            vq_quantizer *q = make((vq_kind)cfg[ci][0], D, ms[mi], cfg[ci][1],
                                   cfg[ci][2], x, N);
            vq_dc *dc = NULL;
            size_t cs = vx_vq_code_size(q);
            double tol = ms[mi] == VEX_METRIC_L2 ? 1e-3 : 1e-4;
            CHECK(vx_vq_pq_m(q) == cfg[ci][1] &&
                  vx_vq_pq_nbits(q) == cfg[ci][2]);
            CHECK(cs == (cfg[ci][2] == 8 ? cfg[ci][1] : (cfg[ci][1] + 1) / 2));
            CHECK_RC(vx_vq_encode(q, x, N, codes), VEX_OK);
            CHECK_RC(vx_vq_decode(q, codes, N, dec), VEX_OK);
            CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_OK);
            CHECK_RC(vx_vq_dc_set_query(dc, x + N * D), VEX_OK);
            vx_vq_dc_scan(dc, codes, N, out);
            for (i = 0; i < N; i++) {
                double want = ref_dist(ms[mi], x + N * D, dec + i * D, D);
                CHECK_MSG(fabs(out[i] - want) <= tol * (1 + fabs(want)),
                          "kind %u M %u bits %u metric %d code %zu: %g vs %g",
                          cfg[ci][0], cfg[ci][1], cfg[ci][2], (int)ms[mi], i,
                          out[i], want);
                CHECK(vx_vq_dc_distance(dc, codes + i * cs) == out[i]);
            }
            vx_vq_dc_destroy(dc);
            vx_vq_destroy(q);
        }
    }
    g_train_iter = 12;
    g_opq_iter = 6;
    free(x);
    free(dec);
    free(codes);
}

/* the fast scan is within M * step / 2 of the float tables */
static void test_pq4_fast_scan(void)
{
    enum { N = 1000, D = 24, NQ = 5 };
    vex_rng r;
    float *x, out[N], fast[N];
    uint8_t codes[N * 12], *blocks;
    size_t i, qi;
    int kind;
    vex_rng_seed(&r, test_seed(8));
    x = gen_clustered(&r, N + NQ, D, 10, 0.5);
    for (kind = VQ_PQ; kind <= VQ_OPQ; kind++) {
        vq_quantizer *q = make((vq_kind)kind, D, VEX_METRIC_L2, 0, 4, x, N);
        vq_dc *dc = NULL;
        CHECK(vx_vq_pq_m(q) == 6);
        CHECK_RC(vx_vq_encode(q, x, N, codes), VEX_OK);
        blocks = malloc(vx_vq_pq4_blocks_size(q, N));
        CHECK(vx_vq_pq4_blocks_size(q, N) == 32 * 6 * 16);
        CHECK_RC(vx_vq_pq4_pack(q, codes, N, blocks), VEX_OK);
        CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_OK);
        for (qi = 0; qi < NQ; qi++) {
            double lim, worst = 0;
            CHECK_RC(vx_vq_dc_set_query(dc, x + (N + qi) * D), VEX_OK);
            vx_vq_dc_scan(dc, codes, N, out);
            for (i = 0; i < N; i++)
                fast[i] = -1;
            vx_vq_dc_scan_blocks(dc, blocks, N - 3, fast); /* partial block */
            lim = 6 * dc->lut_scale / 2 * 1.001 + 1e-4;
            for (i = 0; i < N - 3; i++) {
                double e = fabs(fast[i] - out[i]);
                worst = e > worst ? e : worst;
                CHECK_MSG(e <= lim, "code %zu: %g vs %g (lim %g)", i, fast[i],
                          out[i], lim);
            }
            CHECK(fast[N - 3] == -1 && fast[N - 1] == -1);
            CHECK(worst > 0); /* really quantised */
        }
        free(blocks);
        vx_vq_dc_destroy(dc);
        vx_vq_destroy(q);
    }
    /* 8-bit codes have no fast scan */
    {
        vq_quantizer *q = make(VQ_PQ, D, VEX_METRIC_L2, 6, 8, x, N);
        CHECK(vx_vq_pq4_blocks_size(q, N) == 0);
        CHECK_RC(vx_vq_pq4_pack(q, codes, N, codes), VEX_INVALID);
        vx_vq_destroy(q);
    }
    free(x);
}

/* Lane writes (vx_vq_pq4_set) give what vx_vq_pq4_pack gives, whatever the
 * order and whatever the lane held before; vx_vq_pq4_get reads codes back.
 * Odd M leaves the last byte's high nibble unused: set ignores it and get
 * returns 0 there. Untrained quantizers suffice (only M matters). */
static void test_pq4_lanes(void)
{
    enum { N = 77, D = 24 };
    static const uint32_t ms[] = {6, 5, 1};
    vex_rng r;
    size_t mi, i;
    vex_rng_seed(&r, test_seed(12));
    for (mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
        int kind;
        for (kind = VQ_PQ; kind <= VQ_OPQ; kind++) {
            vq_quantizer *q =
                make((vq_kind)kind, D, VEX_METRIC_L2, ms[mi], 4, NULL, 0);
            size_t cs = vx_vq_code_size(q), bs = vx_vq_pq4_blocks_size(q, N);
            uint8_t *codes = malloc(N * cs), *junk = malloc(N * cs);
            uint8_t *want = malloc(bs), *got = malloc(bs), back[8];
            size_t perm[N];
            CHECK(cs == (ms[mi] + 1) / 2 && bs == 3 * ms[mi] * 16);
            for (i = 0; i < N * cs; i++) {
                codes[i] = (uint8_t)vex_rng_next(&r);
                junk[i] = (uint8_t)vex_rng_next(&r);
            }
            CHECK_RC(vx_vq_pq4_pack(q, codes, N, want), VEX_OK);
            /* lanes in a shuffled order, each first holding another
             * code, so that set must clear what was there */
            for (i = 0; i < N; i++)
                perm[i] = i;
            for (i = N - 1; i > 0; i--) {
                size_t j = (size_t)(vex_rng_next(&r) % (i + 1)), t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            memset(got, 0, bs);
            for (i = 0; i < N; i++)
                vx_vq_pq4_set(q, got, perm[i], junk + perm[i] * cs);
            for (i = 0; i < N; i++)
                vx_vq_pq4_set(q, got, perm[i], codes + perm[i] * cs);
            CHECK(memcmp(got, want, bs) == 0);
            for (i = 0; i < N; i++) {
                uint8_t c[8];
                memcpy(c, codes + i * cs, cs);
                if (ms[mi] & 1)
                    c[cs - 1] &= 0x0f;
                memset(back, 0xee, sizeof back);
                vx_vq_pq4_get(q, want, i, back);
                CHECK_MSG(memcmp(back, c, cs) == 0, "M %u lane %zu", ms[mi], i);
            }
            /* a single lane rewritten: only its nibbles change */
            memcpy(got, want, bs);
            vx_vq_pq4_set(q, got, 40, junk);
            vx_vq_pq4_get(q, got, 40, back);
            {
                uint8_t j[8];
                memcpy(j, junk, cs);
                if (ms[mi] & 1)
                    j[cs - 1] &= 0x0f;
                CHECK(memcmp(back, j, cs) == 0);
            }
            vx_vq_pq4_set(q, got, 40, codes + 40 * cs);
            CHECK(memcmp(got, want, bs) == 0);
            free(codes);
            free(junk);
            free(want);
            free(got);
            vx_vq_destroy(q);
        }
    }
}

/* recall@10 after reranking refine * 10 candidates with exact distances */
static double recall_refine(vq_quantizer *q, const float *base, size_t n,
                            const float *qs, size_t nq, size_t dim,
                            size_t refine, int fast)
{
    size_t cs = vx_vq_code_size(q), qi, i, j, hit = 0, nc = 10 * refine;
    uint8_t *codes = malloc(n * cs), *blocks = NULL;
    float *ad = malloc(n * sizeof *ad);
    double *dd = malloc(n * sizeof *dd), *ed = malloc(n * sizeof *ed);
    size_t *cand = malloc(nc * sizeof *cand), truth[10], top[10];
    vq_dc *dc = NULL;
    CHECK_RC(vx_vq_encode(q, base, n, codes), VEX_OK);
    if (fast) {
        blocks = malloc(vx_vq_pq4_blocks_size(q, n));
        CHECK_RC(vx_vq_pq4_pack(q, codes, n, blocks), VEX_OK);
    }
    CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_OK);
    for (qi = 0; qi < nq; qi++) {
        const float *qv = qs + qi * dim;
        double rer[100];
        for (i = 0; i < n; i++)
            ed[i] = l2d(qv, base + i * dim, dim);
        smallest_k(ed, n, 10, truth);
        CHECK_RC(vx_vq_dc_set_query(dc, qv), VEX_OK);
        if (fast)
            vx_vq_dc_scan_blocks(dc, blocks, n, ad);
        else
            vx_vq_dc_scan(dc, codes, n, ad);
        for (i = 0; i < n; i++)
            dd[i] = ad[i];
        smallest_k(dd, n, nc, cand);
        for (i = 0; i < nc; i++)
            rer[i] = ed[cand[i]];
        smallest_k(rer, nc, 10, top);
        for (i = 0; i < 10; i++)
            for (j = 0; j < 10; j++)
                hit += cand[top[i]] == truth[j];
    }
    vx_vq_dc_destroy(dc);
    free(codes);
    free(blocks);
    free(ad);
    free(dd);
    free(ed);
    free(cand);
    return (double)hit / (double)(nq * 10);
}

static void test_recall(void)
{
    enum { N = 4000, D = 32, NQ = 40 };
    vex_rng r;
    float *x;
    vq_quantizer *q;
    double rc1, rc4;
    vex_rng_seed(&r, test_seed(9));
    x = gen_clustered(&r, N + NQ, D, 50, 0.4);
    /* PQ 8-bit, M = 8 (16x smaller than float32) */
    q = make(VQ_PQ, D, VEX_METRIC_L2, 8, 8, x, N);
    rc1 = recall_refine(q, x, N, x + N * D, NQ, D, 1, 0);
    rc4 = recall_refine(q, x, N, x + N * D, NQ, D, 4, 0);
    fprintf(stderr, "     pq8 M=8: recall@10 %.3f, refine x4 %.3f\n", rc1, rc4);
    CHECK(rc4 >= 0.9 && rc4 >= rc1);
    vx_vq_destroy(q);
    /* PQ 4-bit, M = 16, through the fast scan */
    q = make(VQ_PQ, D, VEX_METRIC_L2, 16, 4, x, N);
    rc1 = recall_refine(q, x, N, x + N * D, NQ, D, 1, 1);
    rc4 = recall_refine(q, x, N, x + N * D, NQ, D, 4, 1);
    fprintf(stderr, "     pq4 M=16 fast scan: recall@10 %.3f, x4 %.3f\n", rc1,
            rc4);
    CHECK(rc4 >= 0.9);
    vx_vq_destroy(q);
    /* OPQ 8-bit, M = 8 */
    q = make(VQ_OPQ, D, VEX_METRIC_L2, 8, 8, x, N);
    rc1 = recall_refine(q, x, N, x + N * D, NQ, D, 1, 0);
    rc4 = recall_refine(q, x, N, x + N * D, NQ, D, 4, 0);
    fprintf(stderr, "     opq8 M=8: recall@10 %.3f, refine x4 %.3f\n", rc1,
            rc4);
    CHECK(rc4 >= 0.9);
    vx_vq_destroy(q);
    /* SQ8: close to exact even without reranking */
    q = make(VQ_SQ8, D, VEX_METRIC_L2, 0, 0, x, N);
    rc1 = recall_refine(q, x, N, x + N * D, NQ, D, 1, 0);
    rc4 = recall_refine(q, x, N, x + N * D, NQ, D, 2, 0);
    fprintf(stderr, "     sq8: recall@10 %.3f, refine x2 %.3f\n", rc1, rc4);
    CHECK(rc1 >= 0.9 && rc4 >= 0.99);
    vx_vq_destroy(q);
    /* BQ: a first pass; with refine x10 most neighbours come back */
    q = make(VQ_BQ, D, VEX_METRIC_L2, 0, 0, x, N);
    rc1 = recall_refine(q, x, N, x + N * D, NQ, D, 1, 0);
    rc4 = recall_refine(q, x, N, x + N * D, NQ, D, 10, 0);
    fprintf(stderr, "     bq: recall@10 %.3f, refine x10 %.3f\n", rc1, rc4);
    CHECK(rc4 >= 0.8 && rc4 > rc1);
    vx_vq_destroy(q);
    free(x);
}

/* Procrustes recovers a known rotation; R is orthogonal even when the
 * matrix is rank deficient */
static void test_procrustes(void)
{
    enum { D = 12, N = 200 };
    vex_rng r;
    double a[D * D], m[D * D], x[N * D];
    float rot[D * D];
    size_t i, j, k, rank;
    vex_rng_seed(&r, test_seed(10));
    /* a random orthogonal matrix: Gram-Schmidt of a Gaussian one */
    for (i = 0; i < D * D; i++)
        a[i] = vex_rng_normal(&r);
    for (i = 0; i < D; i++) {
        for (j = 0; j < i; j++) {
            double p = 0;
            for (k = 0; k < D; k++)
                p += a[i * D + k] * a[j * D + k];
            for (k = 0; k < D; k++)
                a[i * D + k] -= p * a[j * D + k];
        }
        {
            double nrm = 0;
            for (k = 0; k < D; k++)
                nrm += a[i * D + k] * a[i * D + k];
            for (k = 0; k < D; k++)
                a[i * D + k] /= sqrt(nrm);
        }
    }
    for (rank = D; rank >= D - 5; rank -= 5) {
        /* X: N x D with only `rank` non-zero columns; M = X^T (X A) */
        for (i = 0; i < N * D; i++)
            x[i] = (i % D) < rank ? vex_rng_normal(&r) : 0;
        for (i = 0; i < D; i++)
            for (j = 0; j < D; j++) {
                double s = 0;
                size_t n, l;
                for (n = 0; n < N; n++) {
                    double y = 0;
                    for (l = 0; l < D; l++)
                        y += x[n * D + l] * a[l * D + j];
                    s += x[n * D + i] * y;
                }
                m[i * D + j] = s;
            }
        CHECK_RC(vx_vq_procrustes(&g_mem, m, D, rot), VEX_OK);
        for (i = 0; i < D; i++)
            for (j = 0; j < D; j++) {
                double s = 0;
                for (k = 0; k < D; k++)
                    s += (double)rot[i * D + k] * rot[j * D + k];
                CHECK_MSG(fabs(s - (i == j)) < 1e-5,
                          "rank %zu R R^T[%zu][%zu] %g", rank, i, j, s);
                if (rank == D)
                    CHECK_MSG(fabs(rot[i * D + j] - a[i * D + j]) < 1e-5,
                              "R[%zu][%zu] %g vs %g", i, j, rot[i * D + j],
                              a[i * D + j]);
            }
    }
}

/* on correlated data OPQ's rotation lowers the reconstruction error */
static void test_opq_error(void)
{
    enum { N = 3000, D = 16, NM = 4 };
    vex_rng r;
    float *x = malloc(sizeof(float) * N * D),
          *dec = malloc(sizeof(float) * N * D);
    double mix[D * D], before, after, measured = 0;
    uint8_t *codes = malloc(N * D);
    vq_quantizer *q;
    size_t i, j, k;
    vex_rng_seed(&r, test_seed(11));
    for (i = 0; i < D * D; i++)
        mix[i] = vex_rng_normal(&r);
    for (i = 0; i < N; i++) {
        double z[D];
        for (k = 0; k < D; k++) /* a few strong directions */
            z[k] = vex_rng_normal(&r) * (k < 4 ? 4.0 : 0.3);
        for (j = 0; j < D; j++) {
            double s = 0;
            for (k = 0; k < D; k++)
                s += z[k] * mix[k * D + j];
            x[i * D + j] = (float)s;
        }
    }
    q = make(VQ_OPQ, D, VEX_METRIC_L2, NM, 4, x, N);
    CHECK_RC(vx_vq_opq_errors(q, &before, &after), VEX_OK);
    CHECK_RC(vx_vq_encode(q, x, N, codes), VEX_OK);
    CHECK_RC(vx_vq_decode(q, codes, N, dec), VEX_OK);
    for (i = 0; i < N; i++)
        measured += l2d(x + i * D, dec + i * D, D) / N;
    fprintf(stderr, "     opq: mse before %.4f after %.4f (measured %.4f)\n",
            before, after, measured);
    CHECK_MSG(after < 0.8 * before, "before %g after %g", before, after);
    /* the report is the real error of the final codes */
    CHECK(fabs(measured - after) <= 0.02 * after);
    vx_vq_destroy(q);
    /* under cosine too (the rotation is learned on normalised input) */
    q = make(VQ_OPQ, D, VEX_METRIC_COSINE, NM, 4, x, N);
    CHECK_RC(vx_vq_opq_errors(q, &before, &after), VEX_OK);
    fprintf(stderr, "     opq cosine: mse before %.4f after %.4f\n", before,
            after);
    CHECK(before > 0.01 && after < 0.8 * before);
    vx_vq_destroy(q);
    q = make(VQ_PQ, D, VEX_METRIC_L2, NM, 4, x, N);
    CHECK_RC(vx_vq_opq_errors(q, &before, &after), VEX_INVALID);
    vx_vq_destroy(q);
    free(x);
    free(dec);
    free(codes);
}

/* ---- SIMD tables: every path against the scalar table ---------------------
 */

static void test_simd_paths(void)
{
    enum { N = 777, D = 33, NT = 3 };
    static const char *names[NT] = {"scalar", "avx2", "avx512"};
    vex_rng r;
    float *x, res[NT][5][N];
    uint8_t c_sq[N * D], c_bq[N * 5], c_pq4[N * 6], c_pq8[N * 11], *blocks;
    vq_quantizer *sq, *bq, *pq4, *pq8;
    int ti, have[NT] = {0}, k;
    size_t i;
    vex_rng_seed(&r, test_seed(12));
    x = gen_clustered(&r, N + 1, D, 9, 0.5);
    CHECK_RC(vex_simd_force("scalar"), VEX_OK);
    {
        vq_params p;
        vx_vq_params_init(&p, VQ_SQ8, D, VEX_METRIC_L2);
        p.sq8_uniform = 1;
        sq = NULL;
        CHECK_RC(vx_vq_create(&g_mem, &p, &sq, NULL), VEX_OK);
        CHECK_RC(vx_vq_train(sq, x, N), VEX_OK);
    }
    bq = make(VQ_BQ, D, VEX_METRIC_L2, 0, 0, x, N);
    pq4 = make(VQ_PQ, D, VEX_METRIC_L2, 11, 4, x, N);
    pq8 = make(VQ_PQ, D, VEX_METRIC_L2, 11, 8, x, N);
    CHECK_RC(vx_vq_encode(sq, x, N, c_sq), VEX_OK);
    CHECK_RC(vx_vq_encode(bq, x, N, c_bq), VEX_OK);
    CHECK_RC(vx_vq_encode(pq4, x, N, c_pq4), VEX_OK);
    CHECK_RC(vx_vq_encode(pq8, x, N, c_pq8), VEX_OK);
    blocks = malloc(vx_vq_pq4_blocks_size(pq4, N));
    CHECK_RC(vx_vq_pq4_pack(pq4, c_pq4, N, blocks), VEX_OK);
    for (ti = 0; ti < NT; ti++) {
        vq_dc *a = NULL, *s = NULL, *b = NULL, *p4 = NULL, *p8 = NULL;
        if (vex_simd_force(names[ti]) != VEX_OK)
            continue;
        have[ti] = 1;
        CHECK_RC(vx_vq_dc_create(sq, 0, &a), VEX_OK);
        CHECK_RC(vx_vq_dc_create(sq, VQ_DC_SYMMETRIC, &s), VEX_OK);
        CHECK_RC(vx_vq_dc_create(bq, 0, &b), VEX_OK);
        CHECK_RC(vx_vq_dc_create(pq4, 0, &p4), VEX_OK);
        CHECK_RC(vx_vq_dc_create(pq8, 0, &p8), VEX_OK);
        CHECK_RC(vx_vq_dc_set_query(a, x + N * D), VEX_OK);
        CHECK_RC(vx_vq_dc_set_query(s, x + N * D), VEX_OK);
        CHECK_RC(vx_vq_dc_set_query(b, x + N * D), VEX_OK);
        CHECK_RC(vx_vq_dc_set_query(p4, x + N * D), VEX_OK);
        CHECK_RC(vx_vq_dc_set_query(p8, x + N * D), VEX_OK);
        vx_vq_dc_scan(a, c_sq, N, res[ti][0]);
        vx_vq_dc_scan(s, c_sq, N, res[ti][1]);
        vx_vq_dc_scan(b, c_bq, N, res[ti][2]);
        vx_vq_dc_scan_blocks(p4, blocks, N, res[ti][3]);
        vx_vq_dc_scan(p8, c_pq8, N, res[ti][4]);
        vx_vq_dc_destroy(a);
        vx_vq_dc_destroy(s);
        vx_vq_dc_destroy(b);
        vx_vq_dc_destroy(p4);
        vx_vq_dc_destroy(p8);
    }
    CHECK(have[0]);
    for (ti = 1; ti < NT; ti++) {
        if (!have[ti])
            continue;
        fprintf(stderr, "     %s checked against scalar\n", names[ti]);
        for (i = 0; i < N; i++) {
            for (k = 0; k < 5; k++) {
                float g = res[ti][k][i], w = res[0][k][i];
                /* integer paths (symmetric SQ8, Hamming) are exact; the
                 * fast scan's integer sums are exact but its tables come
                 * from float kernels; float paths within rounding */
                int exact = k == 1 || k == 2;
                CHECK_MSG(
                    exact ? g == w : fabsf(g - w) <= 1e-3f * (1 + fabsf(w)),
                    "%s path %d code %zu: %g vs %g", names[ti], k, i, g, w);
            }
        }
    }
    CHECK_RC(vex_simd_force("auto"), VEX_OK);
    vx_vq_destroy(sq);
    vx_vq_destroy(bq);
    vx_vq_destroy(pq4);
    vx_vq_destroy(pq8);
    free(blocks);
    free(x);
}

/* ---- serialisation ---------------------------------------------------------
 */

static void reseal(uint8_t *b, size_t n)
{
    vex_put_u32le(b + n - 4, vex_crc32c(b, n - 4));
}

static void check_blob(vq_quantizer *q, const float *x, size_t n, size_t dim)
{
    size_t bs = vx_vq_blob_size(q), cs = vx_vq_code_size(q), i;
    uint8_t *blob = malloc(bs), *blob2 = malloc(bs), *c1 = malloc(n * cs),
            *c2 = malloc(n * cs);
    float d1[64], d2[64];
    vq_quantizer *q2 = NULL;
    vq_dc *a = NULL, *b = NULL;
    vex_err err;
    int bit;
    vx_err_init(&err);
    CHECK(bs > 68);
    CHECK_RC(vx_vq_serialize(q, blob, bs - 1), VEX_INVALID);
    CHECK_RC(vx_vq_serialize(q, blob, bs), VEX_OK);
    CHECK_RC(vx_vq_deserialize(&g_mem, blob, bs, &q2, &err), VEX_OK);
    if (q2 == NULL)
        goto cleanup;
    CHECK(vx_vq_get_kind(q2) == vx_vq_get_kind(q) && vx_vq_dim(q2) == dim &&
          vx_vq_metric(q2) == vx_vq_metric(q) && vx_vq_code_size(q2) == cs);
    CHECK(vx_vq_blob_size(q2) == bs);
    CHECK_RC(vx_vq_serialize(q2, blob2, bs), VEX_OK);
    CHECK(memcmp(blob, blob2, bs) == 0);
    CHECK_RC(vx_vq_encode(q, x, n, c1), VEX_OK);
    CHECK_RC(vx_vq_encode(q2, x, n, c2), VEX_OK);
    CHECK(memcmp(c1, c2, n * cs) == 0);
    CHECK_RC(vx_vq_dc_create(q, 0, &a), VEX_OK);
    CHECK_RC(vx_vq_dc_create(q2, 0, &b), VEX_OK);
    CHECK_RC(vx_vq_dc_set_query(a, x), VEX_OK);
    CHECK_RC(vx_vq_dc_set_query(b, x), VEX_OK);
    vx_vq_dc_scan(a, c1, n < 64 ? n : 64, d1);
    vx_vq_dc_scan(b, c1, n < 64 ? n : 64, d2);
    CHECK(memcmp(d1, d2, sizeof(float) * (n < 64 ? n : 64)) == 0);
    vx_vq_dc_destroy(a);
    vx_vq_dc_destroy(b);
    vx_vq_destroy(q2);
    q2 = NULL;
    /* every single-byte change, two patterns per byte */
    for (i = 0; i < bs; i++) {
        for (bit = 0; bit < 2; bit++) {
            uint8_t old = blob[i];
            int rc;
            blob[i] ^= bit ? 0xff : (uint8_t)(1u << (i % 8));
            rc = vx_vq_deserialize(&g_mem, blob, bs, &q2, &err);
            CHECK_MSG(rc == VEX_CORRUPT && q2 == NULL,
                      "flip at %zu of %zu: rc %d", i, bs, rc);
            CHECK(strstr(err.msg, "offset") != NULL);
            vx_vq_destroy(q2);
            q2 = NULL;
            blob[i] = old;
        }
    }
    /* every truncation */
    for (i = 0; i < bs; i++) {
        CHECK_RC(vx_vq_deserialize(&g_mem, blob, i, &q2, &err), VEX_CORRUPT);
        CHECK(q2 == NULL);
    }
    /* a newer version, properly sealed: unsupported, not corrupt */
    memcpy(blob2, blob, bs);
    vex_put_u32le(blob2 + 8, 2);
    reseal(blob2, bs);
    CHECK_RC(vx_vq_deserialize(&g_mem, blob2, bs, &q2, &err), VEX_UNSUPPORTED);
    /* forged fields behind a valid checksum */
    {
        static const size_t offs[] = {12, 24, 28, 32, 36, 40, 44, 48, 52, 60};
        static const uint32_t vals[] = {65, 9, 0, 7, 0x80, 70000, 3, 999, 1, 1};
        size_t k;
        for (k = 0; k < sizeof offs / sizeof offs[0]; k++) {
            memcpy(blob2, blob, bs);
            vex_put_u32le(blob2 + offs[k], vals[k]);
            reseal(blob2, bs);
            CHECK_MSG(vx_vq_deserialize(&g_mem, blob2, bs, &q2, &err) ==
                          VEX_CORRUPT,
                      "forged field at %zu", offs[k]);
        }
        /* a NaN in the payload */
        memcpy(blob2, blob, bs);
        vex_put_u32le(blob2 + bs - 8, 0x7fc00000u);
        reseal(blob2, bs);
        CHECK_RC(vx_vq_deserialize(&g_mem, blob2, bs, &q2, &err), VEX_CORRUPT);
        CHECK(strstr(err.msg, "finite") != NULL);
    }
cleanup:
    vx_err_destroy(&err);
    free(blob);
    free(blob2);
    free(c1);
    free(c2);
}

static void test_serialize(void)
{
    enum { N = 400, D = 10 };
    vex_rng r;
    float *x;
    vq_quantizer *q;
    vq_params p;
    vex_rng_seed(&r, test_seed(13));
    x = gen_clustered(&r, N, D, 6, 0.5);
    q = make(VQ_SQ8, D, VEX_METRIC_L2, 0, 0, x, N);
    check_blob(q, x, N, D);
    vx_vq_destroy(q);
    vx_vq_params_init(&p, VQ_SQ8, D, VEX_METRIC_COSINE);
    p.sq8_uniform = 1;
    q = NULL;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, NULL), VEX_OK);
    CHECK_RC(vx_vq_train(q, x, N), VEX_OK);
    check_blob(q, x, N, D);
    vx_vq_destroy(q);
    q = make(VQ_BQ, D, VEX_METRIC_IP, 0, 0, x, N);
    check_blob(q, x, N, D);
    vx_vq_destroy(q);
    q = make(VQ_PQ, D, VEX_METRIC_L2, 3, 8, x, N); /* padded: 3 x 4 */
    check_blob(q, x, N, D);
    vx_vq_destroy(q);
    q = make(VQ_PQ, D, VEX_METRIC_IP, 5, 4, x, N);
    check_blob(q, x, N, D);
    vx_vq_destroy(q);
    q = make(VQ_OPQ, D, VEX_METRIC_L2, 4, 4, x, N);
    check_blob(q, x, N, D);
    vx_vq_destroy(q);
    /* untrained: nothing to write */
    q = make(VQ_PQ, D, VEX_METRIC_L2, 5, 4, NULL, 0);
    CHECK(vx_vq_blob_size(q) == 0);
    CHECK_RC(vx_vq_serialize(q, x, sizeof(float) * N), VEX_INVALID);
    vx_vq_destroy(q);
    free(x);
}

/* ---- arguments
 * ---------------------------------------------------------------- */

static void test_invalid(void)
{
    enum { N = 300, D = 8 };
    vex_rng r;
    float *x, z[D] = {0};
    uint8_t codes[N * D];
    vq_params p;
    vq_quantizer *q = NULL;
    vq_dc *dc = NULL;
    vex_err err;
    vx_err_init(&err);
    vex_rng_seed(&r, test_seed(14));
    x = gen_clustered(&r, N, D, 4, 0.5);
    vx_vq_params_init(&p, VQ_PQ, D, VEX_METRIC_L2);
    p.pq_m = 9; /* > dim */
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    CHECK(q == NULL && strstr(err.msg, "pq_m") != NULL);
    p.pq_m = 0;
    p.pq_nbits = 6;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    p.pq_nbits = 8;
    p.metric = VEX_METRIC_HAMMING;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    p.metric = VEX_METRIC_L2;
    p.dim = 0;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    p.dim = D;
    p.train_iter = 0;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    p.train_iter = 10;
    p.kind = (vq_kind)9;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    vx_vq_params_init(&p, VQ_SQ8, D, VEX_METRIC_L2);
    p.pq_m = 2;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    vx_vq_params_init(&p, VQ_OPQ, VQ_OPQ_MAX_DIM + 1, VEX_METRIC_L2);
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_INVALID);
    /* default M */
    vx_vq_params_init(&p, VQ_PQ, 100, VEX_METRIC_L2);
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_OK);
    CHECK(vx_vq_pq_m(q) == 13 && vx_vq_code_size(q) == 13);
    vx_vq_destroy(q);
    p.pq_nbits = 4;
    CHECK_RC(vx_vq_create(&g_mem, &p, &q, &err), VEX_OK);
    CHECK(vx_vq_pq_m(q) == 25 && vx_vq_code_size(q) == 13);
    vx_vq_destroy(q);
    /* life cycle */
    q = make(VQ_PQ, D, VEX_METRIC_COSINE, 4, 8, NULL, 0);
    CHECK_RC(vx_vq_encode(q, x, 1, codes), VEX_INVALID);
    CHECK_RC(vx_vq_decode(q, codes, 1, x), VEX_INVALID);
    CHECK_RC(vx_vq_train(q, x, 255), VEX_INVALID); /* < 256 */
    CHECK(strstr(vx_vq_errmsg(q), "at least") != NULL);
    x[3] = INFINITY;
    CHECK_RC(vx_vq_train(q, x, N), VEX_INVALID);
    x[3] = 1;
    memcpy(x + 5 * D, z, sizeof z);
    CHECK_RC(vx_vq_train(q, x, N), VEX_INVALID); /* zero vector, cosine */
    x[5 * D] = 1;
    CHECK_RC(vx_vq_train(q, x, N), VEX_OK);
    CHECK_RC(vx_vq_train(q, x, N), VEX_INVALID); /* twice */
    CHECK_RC(vx_vq_encode(q, z, 1, codes), VEX_INVALID);
    CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_OK);
    CHECK_RC(vx_vq_dc_set_query(dc, z), VEX_INVALID);
    z[0] = NAN;
    CHECK_RC(vx_vq_dc_set_query(dc, z), VEX_INVALID);
    vx_vq_dc_destroy(dc);
    vx_vq_destroy(q);
    vx_vq_destroy(NULL);
    vx_vq_dc_destroy(NULL);
    vx_err_destroy(&err);
    free(x);
}

/* ---- out of memory
 * ----------------------------------------------------------- */

static int oom_scenario(fail_alloc *fa, vq_kind kind, uint32_t nbits,
                        const float *x, size_t n, size_t dim)
{
    vex_allocator a = {fa_alloc, fa_realloc, fa_free, fa};
    vex_mem mem;
    vq_params p;
    vq_quantizer *q = NULL, *q2 = NULL;
    vq_dc *dc = NULL;
    uint8_t codes[64 * 16], blob[8192];
    float dec[64 * 16], d[64];
    int rc;
    vex_pool *pool = NULL;
    vx_mem_init(&mem, &a);
    vx_vq_params_init(&p, kind, (uint32_t)dim, VEX_METRIC_COSINE);
    p.pq_nbits = nbits;
    p.train_iter = 3;
    p.opq_iter = 2;
    p.max_train = n - 10; /* the sampling path too */
    rc = vx_pool_create(&mem, 2, &pool);
    if (rc == VEX_OK) {
        p.pool = pool;
        rc = vx_vq_create(&mem, &p, &q, NULL);
    }
    if (rc == VEX_OK)
        rc = vx_vq_train(q, x, n);
    if (rc == VEX_OK)
        rc = vx_vq_encode(q, x, 64, codes);
    if (rc == VEX_OK)
        rc = vx_vq_decode(q, codes, 64, dec);
    if (rc == VEX_OK)
        rc = vx_vq_dc_create(q, 0, &dc);
    if (rc == VEX_OK) {
        rc = vx_vq_dc_set_query(dc, x);
        vx_vq_dc_scan(dc, codes, 64, d);
    }
    if (rc == VEX_OK && vx_vq_blob_size(q) <= sizeof blob) {
        rc = vx_vq_serialize(q, blob, sizeof blob);
        if (rc == VEX_OK)
            rc = vx_vq_deserialize(&mem, blob, vx_vq_blob_size(q), &q2, NULL);
    }
    if (rc != VEX_OK && rc != VEX_NOMEM)
        fprintf(stderr, "     oom scenario: %s\n", q ? vx_vq_errmsg(q) : "?");
    vx_vq_dc_destroy(dc);
    vx_vq_destroy(q2);
    vx_vq_destroy(q);
    vx_pool_destroy(pool);
    return rc;
}

static void test_oom_sweep(void)
{
    enum { N = 300, D = 8 };
    static const uint32_t kinds[][2] = {
        {VQ_SQ8, 8}, {VQ_BQ, 8}, {VQ_PQ, 8}, {VQ_PQ, 4}, {VQ_OPQ, 4}};
    vex_rng r;
    float *x;
    fail_alloc fa;
    size_t ki;
    vex_rng_seed(&r, test_seed(15));
    x = gen_clustered(&r, N, D, 4, 0.5);
    pthread_mutex_init(&fa.lock, NULL);
    for (ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++) {
        long budget;
        int rc = VEX_NOMEM;
        for (budget = 0; budget < 2000 && rc != VEX_OK; budget++) {
            fa.budget = budget;
            fa.live = 0;
            rc =
                oom_scenario(&fa, (vq_kind)kinds[ki][0], kinds[ki][1], x, N, D);
            CHECK_MSG(rc == VEX_OK || rc == VEX_NOMEM,
                      "kind %u budget %ld: rc %d", kinds[ki][0], budget, rc);
            CHECK_MSG(fa.live == 0, "kind %u budget %ld: %ld leaked",
                      kinds[ki][0], budget, fa.live);
        }
        CHECK_MSG(rc == VEX_OK, "kind %u never succeeded", kinds[ki][0]);
        CHECK(budget > 5);
    }
    pthread_mutex_destroy(&fa.lock);
    free(x);
}

int main(void)
{
    vx_mem_init(&g_mem, NULL);
    TEST_RUN(test_kmeans);
    TEST_RUN(test_kmeans_empty);
    TEST_RUN(test_sq8_bounds);
    TEST_RUN(test_sq8_distances);
    TEST_RUN(test_bq);
    TEST_RUN(test_pq_adc);
    TEST_RUN(test_pq4_fast_scan);
    TEST_RUN(test_pq4_lanes);
    TEST_RUN(test_recall);
    TEST_RUN(test_procrustes);
    TEST_RUN(test_opq_error);
    TEST_RUN(test_simd_paths);
    TEST_RUN(test_serialize);
    TEST_RUN(test_invalid);
    TEST_RUN(test_oom_sweep);
    return TEST_EXIT();
}
