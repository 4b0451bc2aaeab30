/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vamana.c - the Vamana graph (src/index/vamana.c): recall against
 * exact search for L2 and cosine, single-threaded and on a pool; the
 * degree bound; every node reachable from the medoid; the same graph from
 * the same seed single-threaded; bad parameters; a one-node graph;
 * allocation failures.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/vamana.h"
#include "simd/simd.h"
#include "test.h"
#include "vecgen.h"
#include "test_alloc.h"
#include "util/rng.h"

static vex_mem g_mem;

/* recall@k: a hit counts when within the k-th exact distance. */
static double recall(const vx_vamana *g, const float *base, size_t n,
                     const float *qs, size_t nq, size_t dim, vex_metric m,
                     uint32_t L, double *dist_per_query)
{
    enum { K = 10 };
    vx_vamana_scratch *s = NULL;
    float *d = malloc(n * sizeof *d);
    size_t ok = 0;
    uint64_t nd = 0;
    CHECK_RC(vx_vamana_scratch_create(g, L, &s), VEX_OK);
    for (size_t qi = 0; qi < nq; qi++) {
        const float *q = qs + qi * dim;
        vex_hit hits[K];
        float kth;
        size_t nh = vx_vamana_search(g, s, q, K, L, hits, &nd);
        for (size_t i = 0; i < n; i++)
            d[i] = vecgen_dist(m, q, base + i * dim, dim);
        /* the K-th smallest by partial selection */
        for (size_t a = 0; a < K; a++)
            for (size_t b = a + 1; b < n; b++)
                if (d[b] < d[a]) {
                    float t = d[a];
                    d[a] = d[b];
                    d[b] = t;
                }
        kth = d[K - 1];
        CHECK_EQ_INT(nh, K);
        for (size_t i = 0; i < nh; i++) {
            float e = vecgen_dist(m, q, base + hits[i].id * dim, dim);
            ok += e <= kth * (1 + 1e-4f) + 1e-5f;
            CHECK_MSG(fabsf(e - hits[i].distance) <= 1e-3f * (1 + fabsf(e)),
                      "hit %llu: reported %g, exact %g",
                      (unsigned long long)hits[i].id, (double)hits[i].distance,
                      (double)e);
        }
    }
    vx_vamana_scratch_free(g, s);
    free(d);
    if (dist_per_query)
        *dist_per_query = (double)nd / (double)nq;
    return (double)ok / (double)(nq * K);
}

static void check_shape(const vx_vamana *g, uint32_t R)
{
    uint32_t un = 99, cnt, max = 0;
    for (uint32_t i = 0; i < vx_vamana_count(g); i++) {
        const uint32_t *lk = vx_vamana_links(g, i, &cnt);
        CHECK(cnt <= R);
        max = cnt > max ? cnt : max;
        for (uint32_t j = 0; j < cnt; j++) {
            CHECK(lk[j] < vx_vamana_count(g) && lk[j] != i);
            for (uint32_t t = 0; t < j; t++)
                CHECK(lk[t] != lk[j]);
        }
    }
    CHECK(max >= R / 2);
    CHECK_RC(vx_vamana_unreachable(g, &g_mem, &un), VEX_OK);
    CHECK_EQ_INT(un, 0);
}

static void recall_case(vex_metric m, size_t n, size_t dim, unsigned threads)
{
    vex_rng r;
    vex_pool *pool = NULL;
    vx_vamana_params p;
    vx_vamana *g = NULL;
    float *base, *qs;
    double rec, dq;
    vex_rng_seed(&r, test_seed(5) + dim);
    base = vecgen_clustered(&r, n, dim, dim);
    qs = vecgen_clustered(&r, 100, dim, dim);
    if (threads > 1)
        CHECK_RC(vx_pool_create(&g_mem, threads, &pool), VEX_OK);
    vx_vamana_params_init(&p);
    p.metric = m;
    p.R = 32;
    p.L = 64;
    CHECK_RC(
        vx_vamana_build(&g_mem, pool, base, n, (uint32_t)dim, &p, &g, NULL),
        VEX_OK);
    if (g) {
        check_shape(g, p.R);
        rec = recall(g, base, n, qs, 100, dim, m, 64, &dq);
        fprintf(stderr,
                "  %s n %zu dim %zu threads %u: recall@10 %.4f (L 64, %.0f "
                "distances per query)\n",
                vex_metric_name(m), n, dim, threads, rec, dq);
        CHECK(rec >= 0.95);
        CHECK(dq < (double)n / 4); /* a graph search, not a scan */
    }
    vx_vamana_free(g);
    vx_pool_destroy(pool);
    free(base);
    free(qs);
}

static void test_recall(void)
{
    recall_case(VEX_METRIC_L2, 6000, 24, 1);
    recall_case(VEX_METRIC_COSINE, 6000, 33, 1);
    recall_case(VEX_METRIC_L2, 10000, 17, 2);
    recall_case(VEX_METRIC_COSINE, 8000, 64, 2);
}

static void test_deterministic(void)
{
    vex_rng r;
    vx_vamana_params p;
    vx_vamana *a = NULL, *b = NULL;
    float *base;
    uint32_t ca, cb;
    vex_rng_seed(&r, 3);
    base = vecgen_clustered(&r, 2000, 12, 1);
    vx_vamana_params_init(&p);
    p.R = 16;
    p.L = 32;
    p.seed = 99;
    CHECK_RC(vx_vamana_build(&g_mem, NULL, base, 2000, 12, &p, &a, NULL),
             VEX_OK);
    CHECK_RC(vx_vamana_build(&g_mem, NULL, base, 2000, 12, &p, &b, NULL),
             VEX_OK);
    CHECK_EQ_INT(vx_vamana_medoid(a), vx_vamana_medoid(b));
    for (uint32_t i = 0; i < 2000; i++) {
        const uint32_t *la = vx_vamana_links(a, i, &ca);
        const uint32_t *lb = vx_vamana_links(b, i, &cb);
        CHECK(ca == cb && memcmp(la, lb, ca * sizeof *la) == 0);
    }
    vx_vamana_free(a);
    vx_vamana_free(b);
    free(base);
}

static void test_edges(void)
{
    vx_vamana_params p;
    vx_vamana *g = NULL;
    vx_vamana_scratch *s = NULL;
    vex_err err;
    float one[3] = {1, 2, 3}, v[8] = {0};
    vex_hit h[4];
    vx_err_init(&err);
    vx_vamana_params_init(&p);
    p.R = 8;
    p.L = 8;
    /* one node: the medoid, found by itself */
    CHECK_RC(vx_vamana_build(&g_mem, NULL, one, 1, 3, &p, &g, &err), VEX_OK);
    CHECK_RC(vx_vamana_scratch_create(g, 8, &s), VEX_OK);
    CHECK_EQ_INT(vx_vamana_search(g, s, one, 4, 8, h, NULL), 1);
    CHECK(h[0].id == 0 && h[0].distance == 0);
    vx_vamana_scratch_free(g, s);
    vx_vamana_free(g);
    /* bad parameters, with messages */
    p.metric = VEX_METRIC_IP;
    CHECK_RC(vx_vamana_build(&g_mem, NULL, v, 2, 4, &p, &g, &err), VEX_INVALID);
    CHECK(strstr(err.msg, "not supported") != NULL);
    CHECK(g == NULL);
    vx_vamana_params_init(&p);
    p.R = 2;
    CHECK_RC(vx_vamana_build(&g_mem, NULL, v, 2, 4, &p, &g, &err), VEX_INVALID);
    vx_vamana_params_init(&p);
    p.L = 10; /* below R */
    CHECK_RC(vx_vamana_build(&g_mem, NULL, v, 2, 4, &p, &g, &err), VEX_INVALID);
    vx_vamana_params_init(&p);
    p.alpha = 0.5f;
    CHECK_RC(vx_vamana_build(&g_mem, NULL, v, 2, 4, &p, &g, &err), VEX_INVALID);
    vx_vamana_params_init(&p);
    CHECK_RC(vx_vamana_build(&g_mem, NULL, v, 0, 4, &p, &g, &err), VEX_INVALID);
    vx_err_destroy(&err);
}

/* Every allocation of a build fails in turn: VEX_NOMEM, nothing leaked. */
static void test_oom(void)
{
    vex_rng r;
    vx_vamana_params p;
    float *base;
    int done = 0;
    vex_rng_seed(&r, 8);
    base = vecgen_clustered(&r, 300, 8, 2);
    vx_vamana_params_init(&p);
    p.R = 8;
    p.L = 16;
    for (long budget = 0; !done && budget < 100; budget++) {
        fail_alloc fa = {PTHREAD_MUTEX_INITIALIZER, budget, 0};
        vex_allocator al = {fa_alloc, fa_realloc, fa_free, &fa};
        vex_mem m;
        vx_vamana *g = NULL;
        int rc;
        CHECK_RC(vx_mem_init(&m, &al), VEX_OK);
        rc = vx_vamana_build(&m, NULL, base, 300, 8, &p, &g, NULL);
        CHECK(rc == VEX_OK || rc == VEX_NOMEM);
        CHECK(rc == VEX_OK || g == NULL);
        done = rc == VEX_OK;
        vx_vamana_free(g);
        CHECK_MSG(fa.live == 0, "budget %ld: %ld blocks leaked", budget,
                  fa.live);
    }
    CHECK(done);
    free(base);
}

int main(void)
{
    vx_mem_init(&g_mem, NULL);
    TEST_RUN(test_recall);
    TEST_RUN(test_deterministic);
    TEST_RUN(test_edges);
    TEST_RUN(test_oom);
    return TEST_EXIT();
}
