/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_flat.c - the flat index through the public API: exactness against a
 * double-precision brute force, agreement of the single, parallel and batch
 * paths, range search, writes, validation and an out-of-memory sweep.
 */
#include <pthread.h>

#include "test.h"
#include "test_alloc.h"
#include "util/rng.h"
#include "vexdb.h"

/* ---- helpers ---------------------------------------------------------- */

static float *gen_f32(vex_rng *r, size_t n, size_t dim)
{
    float *v = malloc(n * dim * sizeof *v);
    size_t i;
    for (i = 0; i < n * dim; i++)
        v[i] = (float)vex_rng_normal(r);
    return v;
}

static unsigned char *gen_bits(vex_rng *r, size_t n, size_t dim)
{
    size_t vb = (dim + 7) / 8, i;
    unsigned char *v = malloc(n * vb);
    for (i = 0; i < n * vb; i++)
        v[i] = (unsigned char)vex_rng_next(r);
    if (dim % 8)
        for (i = 0; i < n; i++)
            v[i * vb + vb - 1] &= (unsigned char)((1u << (dim % 8)) - 1);
    return v;
}

static double ref_dist(vex_metric m, const void *a, const void *b, size_t dim)
{
    size_t i;
    if (m == VEX_METRIC_HAMMING || m == VEX_METRIC_JACCARD) {
        const unsigned char *x = a, *y = b;
        unsigned long inter = 0, uni = 0, diff = 0;
        for (i = 0; i < dim; i++) {
            int bx = (x[i / 8] >> (i % 8)) & 1, by = (y[i / 8] >> (i % 8)) & 1;
            inter += bx & by;
            uni += bx | by;
            diff += bx ^ by;
        }
        if (m == VEX_METRIC_HAMMING)
            return (double)diff;
        return uni ? 1.0 - (double)inter / (double)uni : 0.0;
    } else {
        const float *x = a, *y = b;
        double s = 0, nx = 0, ny = 0;
        for (i = 0; i < dim; i++) {
            if (m == VEX_METRIC_L2)
                s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            else
                s += (double)x[i] * y[i];
            nx += (double)x[i] * x[i];
            ny += (double)y[i] * y[i];
        }
        if (m == VEX_METRIC_L2)
            return s;
        if (m == VEX_METRIC_IP)
            return -s;
        return 1.0 - s / (sqrt(nx) * sqrt(ny));
    }
}

typedef struct ref_hit {
    double d;
    uint64_t id;
} ref_hit;

static int ref_cmp(const void *a, const void *b)
{
    const ref_hit *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static vex_index *make_index(vex_elem e, vex_metric m, uint32_t dim,
                             uint32_t threads)
{
    vex_index_options o;
    vex_index *ix = NULL;
    int rc;
    vex_index_options_init(&o);
    o.elem = e;
    o.metric = m;
    o.dim = dim;
    o.n_threads = threads;
    rc = vex_index_create(&o, &ix);
    if (rc != VEX_OK) {
        fprintf(stderr, "create: %s\n", vex_index_errmsg(ix));
        vex_index_free(ix);
        return NULL;
    }
    return ix;
}

/* Checks hits against brute force: same distances (to float rounding) rank
 * by rank, and the same ids wherever the reference has no near-tie. */
static void check_against_ref(vex_metric m, const void *base,
                              const uint64_t *ids, size_t n, size_t vb,
                              size_t dim, const void *q, const vex_hit *hits,
                              size_t n_hits, size_t k)
{
    ref_hit *ref = malloc(n * sizeof *ref);
    size_t i, want = k < n ? k : n;
    for (i = 0; i < n; i++) {
        ref[i].d = ref_dist(m, (const unsigned char *)base + i * vb, q, dim);
        ref[i].id = ids[i];
    }
    qsort(ref, n, sizeof *ref, ref_cmp);
    CHECK_EQ_INT(n_hits, want);
    for (i = 0; i < n_hits && i < want; i++) {
        double tol = 1e-4 * (1.0 + fabs(ref[i].d));
        int tie = (i > 0 && ref[i].d - ref[i - 1].d < 2 * tol) ||
                  (i + 1 < n && ref[i + 1].d - ref[i].d < 2 * tol);
        CHECK_MSG(fabs(hits[i].distance - ref[i].d) <= tol,
                  "rank %zu: %g vs %g", i, hits[i].distance, ref[i].d);
        if (!tie)
            CHECK_MSG(hits[i].id == ref[i].id, "rank %zu: id %llu vs %llu", i,
                      (unsigned long long)hits[i].id,
                      (unsigned long long)ref[i].id);
        if (i > 0)
            CHECK(hits[i - 1].distance < hits[i].distance ||
                  (hits[i - 1].distance == hits[i].distance &&
                   hits[i - 1].id < hits[i].id));
    }
    free(ref);
}

/* ---- exactness --------------------------------------------------------- */

static void exact_case(vex_elem e, vex_metric m, size_t dim, size_t n, size_t k)
{
    vex_rng r;
    size_t vb = e == VEX_ELEM_F32 ? dim * 4 : (dim + 7) / 8, i, nq = 7;
    void *base, *qs;
    uint64_t *ids = malloc(n * sizeof *ids);
    vex_hit *hits = malloc(k * sizeof *hits);
    vex_index *ix = make_index(e, m, (uint32_t)dim, 1);
    size_t n_hits;
    vex_rng_seed(&r, test_seed(11) + dim * 31 + m);
    if (e == VEX_ELEM_F32) {
        base = gen_f32(&r, n, dim);
        qs = gen_f32(&r, nq, dim);
    } else {
        base = gen_bits(&r, n, dim);
        qs = gen_bits(&r, nq, dim);
    }
    for (i = 0; i < n; i++)
        ids[i] = vex_rng_next(&r); /* arbitrary 64-bit ids */
    CHECK(ix != NULL);
    if (ix == NULL)
        goto out;
    CHECK_RC(vex_index_add(ix, ids, base, n), VEX_OK);
    CHECK_EQ_INT(vex_index_count(ix), n);
    for (i = 0; i < nq; i++) {
        const void *q = (const unsigned char *)qs + i * vb;
        CHECK_RC(vex_index_search(ix, q, k, NULL, hits, &n_hits), VEX_OK);
        check_against_ref(m, base, ids, n, vb, dim, q, hits, n_hits, k);
    }
out:
    vex_index_free(ix);
    free(base);
    free(qs);
    free(ids);
    free(hits);
}

static void test_exact_all_metrics(void)
{
    static const size_t dims[] = {1, 3, 16, 17, 100, 129};
    size_t i;
    for (i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        exact_case(VEX_ELEM_F32, VEX_METRIC_L2, dims[i], 700, 10);
        exact_case(VEX_ELEM_F32, VEX_METRIC_IP, dims[i], 700, 10);
        if (dims[i] > 1) /* 1-d cosine has only two directions: all ties */
            exact_case(VEX_ELEM_F32, VEX_METRIC_COSINE, dims[i], 700, 10);
        exact_case(VEX_ELEM_BIT, VEX_METRIC_HAMMING, dims[i] * 8 + 3, 700, 10);
        exact_case(VEX_ELEM_BIT, VEX_METRIC_JACCARD, dims[i] * 8 + 3, 700, 10);
    }
    /* k larger than the index */
    exact_case(VEX_ELEM_F32, VEX_METRIC_L2, 8, 5, 10);
}

/* ---- single vs parallel vs batch --------------------------------------- */

static void paths_case(vex_metric m, size_t dim, size_t n, size_t nq, size_t k)
{
    vex_rng r;
    float *base, *qs;
    uint64_t *ids = malloc(n * sizeof *ids);
    vex_hit *single = malloc(nq * k * sizeof *single);
    vex_hit *par = malloc(nq * k * sizeof *par);
    vex_hit *batch = malloc(nq * k * sizeof *batch);
    size_t *nb = malloc(nq * sizeof *nb), ns, np, i, j;
    vex_search_params one, all;
    vex_index *ix = make_index(VEX_ELEM_F32, m, (uint32_t)dim, 3);
    vex_rng_seed(&r, test_seed(5) + m);
    base = gen_f32(&r, n, dim);
    qs = gen_f32(&r, nq, dim);
    for (i = 0; i < n; i++)
        ids[i] = i * 3 + 1;
    vex_search_params_init(&one);
    one.n_threads = 1;
    vex_search_params_init(&all);
    CHECK_RC(vex_index_add(ix, ids, base, n), VEX_OK);
    CHECK_RC(vex_index_search_batch(ix, qs, nq, k, &all, batch, nb), VEX_OK);
    for (i = 0; i < nq; i++) {
        CHECK_RC(
            vex_index_search(ix, qs + i * dim, k, &one, single + i * k, &ns),
            VEX_OK);
        CHECK_RC(vex_index_search(ix, qs + i * dim, k, &all, par + i * k, &np),
                 VEX_OK);
        CHECK_EQ_INT(ns, k);
        CHECK_EQ_INT(np, k);
        CHECK_EQ_INT(nb[i], k);
        for (j = 0; j < k; j++) {
            const vex_hit *s = &single[i * k + j], *p = &par[i * k + j],
                          *b = &batch[i * k + j];
            CHECK_MSG(s->id == p->id && s->distance == p->distance,
                      "parallel differs at q%zu rank %zu", i, j);
            CHECK_MSG(s->id == b->id && s->distance == b->distance,
                      "batch differs at q%zu rank %zu: %llu %.9g vs %llu %.9g",
                      i, j, (unsigned long long)s->id, s->distance,
                      (unsigned long long)b->id, b->distance);
        }
    }
    vex_index_free(ix);
    free(base);
    free(qs);
    free(ids);
    free(single);
    free(par);
    free(batch);
    free(nb);
}

static void test_paths_agree(void)
{
    /* n above the parallel threshold, nq above the batch threshold */
    paths_case(VEX_METRIC_L2, 33, 40000, 40, 10);
    paths_case(VEX_METRIC_IP, 64, 40000, 37, 5);
    paths_case(VEX_METRIC_COSINE, 100, 40000, 50, 20);
    paths_case(VEX_METRIC_L2, 7, 3000, 300, 1);
}

/* ---- filters ------------------------------------------------------------- */

/* accept ids divisible by *ctx */
static int accept_mod(uint64_t id, void *ctx)
{
    return id % *(const uint64_t *)ctx == 0;
}

/* Every path stays exact under a filter: the k nearest accepted vectors. */
static void test_filter_exact(void)
{
    enum { N = 40000, D = 20, NQ = 30, K = 7 };
    vex_rng r;
    float *base, *qs, *acc = malloc((size_t)N * D * sizeof *acc);
    uint64_t ids[N], acc_ids[N], mod = 13, total;
    vex_hit hits[NQ * K], one[K];
    size_t nb[NQ], n1, i, n_acc = 0, j;
    vex_search_params p;
    vex_index *ix = make_index(VEX_ELEM_F32, VEX_METRIC_L2, D, 2);
    vex_rng_seed(&r, test_seed(17));
    base = gen_f32(&r, N, D);
    qs = gen_f32(&r, NQ, D);
    for (i = 0; i < N; i++) {
        ids[i] = i;
        if (i % mod == 0) {
            memcpy(acc + n_acc * D, base + i * D, D * sizeof(float));
            acc_ids[n_acc++] = i;
        }
    }
    CHECK_RC(vex_index_add(ix, ids, base, N), VEX_OK);
    vex_search_params_init(&p);
    p.filter = accept_mod;
    p.filter_ctx = &mod;
    CHECK_RC(vex_index_search_batch(ix, qs, NQ, K, &p, hits, nb), VEX_OK);
    for (i = 0; i < NQ; i++) {
        CHECK_RC(vex_index_search(ix, qs + i * D, K, &p, one, &n1), VEX_OK);
        check_against_ref(VEX_METRIC_L2, acc, acc_ids, n_acc, D * 4, D,
                          qs + i * D, one, n1, K);
        check_against_ref(VEX_METRIC_L2, acc, acc_ids, n_acc, D * 4, D,
                          qs + i * D, hits + i * K, nb[i], K);
        for (j = 0; j < n1; j++)
            CHECK(one[j].id % mod == 0);
    }
    /* range: only accepted vectors are counted */
    CHECK_RC(vex_index_range_search(ix, qs, INFINITY, &p, NULL, 0, &total),
             VEX_OK);
    CHECK_EQ_INT(total, n_acc);
    /* a filter that accepts nothing */
    mod = N + 1;
    CHECK_RC(vex_index_search(ix, qs, K, &p, one, &n1), VEX_OK);
    CHECK_EQ_INT(n1, 1); /* only id 0 */
    /* filter_max_ef belongs to HNSW */
    p.filter_max_ef = 100;
    CHECK_RC(vex_index_search(ix, qs, K, &p, one, &n1), VEX_INVALID);
    vex_index_free(ix);
    free(base);
    free(qs);
    free(acc);
}

/* ---- range -------------------------------------------------------------- */

static void test_range(void)
{
    enum { N = 50000, D = 24 };
    vex_rng r;
    float *base, *q;
    uint64_t *ids = malloc(N * sizeof *ids), total, total_par;
    vex_hit hits[64];
    size_t i, expect = 0;
    double radius = 30.0;
    vex_search_params one;
    vex_index *ix = make_index(VEX_ELEM_F32, VEX_METRIC_L2, D, 2);
    vex_rng_seed(&r, test_seed(9));
    base = gen_f32(&r, N, D);
    q = gen_f32(&r, 1, D);
    for (i = 0; i < N; i++) {
        ids[i] = i;
        if (ref_dist(VEX_METRIC_L2, base + i * D, q, D) <= radius)
            expect++;
    }
    CHECK(expect > 64); /* the capacity case below needs more than 64 */
    vex_search_params_init(&one);
    one.n_threads = 1;
    CHECK_RC(vex_index_add(ix, ids, base, N), VEX_OK);
    CHECK_RC(
        vex_index_range_search(ix, q, (float)radius, &one, hits, 64, &total),
        VEX_OK);
    /* float vs double may move a point sitting on the boundary */
    CHECK_MSG(total + 2 >= expect && total <= expect + 2, "%llu vs %zu",
              (unsigned long long)total, expect);
    for (i = 0; i < 64; i++)
        CHECK(hits[i].distance <= radius);
    check_against_ref(VEX_METRIC_L2, base, ids, N, D * 4, D, q, hits, 64, 64);
    CHECK_RC(
        vex_index_range_search(ix, q, (float)radius, NULL, NULL, 0, &total_par),
        VEX_OK);
    CHECK_EQ_INT(total_par, total);
    CHECK_RC(vex_index_range_search(ix, q, -1.0f, NULL, hits, 64, &total),
             VEX_OK);
    CHECK_EQ_INT(total, 0);
    CHECK_RC(vex_index_range_search(ix, q, NAN, NULL, hits, 64, &total),
             VEX_INVALID);
    vex_index_free(ix);
    free(base);
    free(q);
    free(ids);
}

/* ---- writes ---------------------------------------------------------------
 */

static void test_add_remove_get(void)
{
    enum { D = 5 };
    float v[4][D] = {
        {1, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 0, 1, 0}};
    uint64_t ids[4] = {UINT64_MAX, 0, 42, 7};
    uint64_t dup[2] = {100, 100};
    float out[D];
    vex_hit hits[4];
    size_t n;
    vex_index *ix = make_index(VEX_ELEM_F32, VEX_METRIC_L2, D, 1);

    CHECK_RC(vex_index_add(ix, ids, v, 4), VEX_OK);
    CHECK_RC(vex_index_add(ix, &ids[2], v[0], 1), VEX_EXISTS);
    CHECK(strstr(vex_index_errmsg(ix), "42") != NULL);
    CHECK_RC(vex_index_add(ix, dup, v, 2), VEX_EXISTS);
    CHECK(strstr(vex_index_errmsg(ix), "repeats") != NULL);
    CHECK_EQ_INT(vex_index_count(ix), 4); /* failed adds are atomic */
    CHECK_RC(vex_index_get(ix, 100, out), VEX_NOTFOUND);

    CHECK_RC(vex_index_get(ix, 42, out), VEX_OK);
    CHECK(memcmp(out, v[2], sizeof out) == 0);
    CHECK_RC(vex_index_remove(ix, UINT64_MAX), VEX_OK); /* moves the last */
    CHECK_RC(vex_index_remove(ix, UINT64_MAX), VEX_NOTFOUND);
    CHECK_EQ_INT(vex_index_count(ix), 3);
    CHECK_RC(vex_index_get(ix, 7, out), VEX_OK);
    CHECK(memcmp(out, v[3], sizeof out) == 0);
    CHECK_RC(vex_index_search(ix, v[0], 4, NULL, hits, &n), VEX_OK);
    CHECK_EQ_INT(n, 3);
    CHECK(hits[0].id == 0 || hits[0].id == 42 || hits[0].id == 7);
    CHECK(hits[0].distance == 2.0f); /* v[0] itself was removed */
    /* re-insert the removed id */
    CHECK_RC(vex_index_add(ix, &ids[0], v[0], 1), VEX_OK);
    CHECK_RC(vex_index_search(ix, v[0], 1, NULL, hits, &n), VEX_OK);
    CHECK(n == 1 && hits[0].id == UINT64_MAX && hits[0].distance == 0.0f);
    /* remove everything, search an empty index */
    CHECK_RC(vex_index_remove(ix, 0), VEX_OK);
    CHECK_RC(vex_index_remove(ix, 42), VEX_OK);
    CHECK_RC(vex_index_remove(ix, 7), VEX_OK);
    CHECK_RC(vex_index_remove(ix, UINT64_MAX), VEX_OK);
    CHECK_RC(vex_index_search(ix, v[0], 4, NULL, hits, &n), VEX_OK);
    CHECK_EQ_INT(n, 0);
    vex_index_free(ix);
}

static void test_many_removes_stay_exact(void)
{
    enum { N = 5000, D = 12 };
    vex_rng r;
    float *base, *q;
    uint64_t ids[N], live_ids[N];
    float *live = malloc((size_t)N * D * sizeof *live);
    vex_hit hits[10];
    size_t n_hits, i, n_live = 0;
    vex_index *ix = make_index(VEX_ELEM_F32, VEX_METRIC_L2, D, 1);
    vex_rng_seed(&r, test_seed(21));
    base = gen_f32(&r, N, D);
    q = gen_f32(&r, 1, D);
    for (i = 0; i < N; i++)
        ids[i] = i;
    CHECK_RC(vex_index_add(ix, ids, base, N), VEX_OK);
    for (i = 0; i < N; i++) {
        if (i % 3 != 0) {
            CHECK_RC(vex_index_remove(ix, i), VEX_OK);
        } else {
            memcpy(live + n_live * D, base + i * D, D * sizeof(float));
            live_ids[n_live++] = i;
        }
    }
    CHECK_EQ_INT(vex_index_count(ix), n_live);
    CHECK_RC(vex_index_search(ix, q, 10, NULL, hits, &n_hits), VEX_OK);
    check_against_ref(VEX_METRIC_L2, live, live_ids, n_live, D * 4, D, q, hits,
                      n_hits, 10);
    vex_index_free(ix);
    free(base);
    free(q);
    free(live);
}

/* ---- validation ------------------------------------------------------------
 */

static void test_validation(void)
{
    vex_index_options o;
    vex_index *ix = NULL;
    float v[3] = {1, 2, 3}, z[3] = {0, 0, 0};
    uint64_t id = 1;
    vex_hit hits[2];
    size_t n;
    vex_search_params p;
    unsigned char bits[2] = {0xff, 0x10};

    CHECK_RC(vex_index_create(NULL, &ix), VEX_MISUSE);
    CHECK_RC(vex_index_create(&o, NULL), VEX_MISUSE);

    vex_index_options_init(&o);
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID); /* dim 0 */
    CHECK(ix != NULL && strstr(vex_index_errmsg(ix), "dim") != NULL);
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_MISUSE); /* failed handle */
    vex_index_free(ix);

    o.dim = VEX_MAX_DIM + 1;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.dim = 3;
    o.metric = VEX_METRIC_HAMMING;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "hamming") != NULL);
    vex_index_free(ix);
    o.metric = (vex_metric)99;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.metric = VEX_METRIC_L2;
    o.struct_size = 8;
    CHECK_RC(vex_index_create(&o, &ix), VEX_MISUSE);
    CHECK(strstr(vex_index_errmsg(ix), "struct_size") != NULL);
    vex_index_free(ix);
    vex_index_options_init(&o);
    o.dim = 3;
    o.n_threads = VEX_MAX_THREADS + 1;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);

    ix = make_index(VEX_ELEM_F32, VEX_METRIC_COSINE, 3, 2);
    v[1] = NAN;
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "NaN") != NULL);
    v[1] = INFINITY;
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "infinite") != NULL);
    v[1] = 3e38f; /* finite, but its square is not */
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "overflow") != NULL);
    v[1] = 2;
    CHECK_RC(vex_index_add(ix, &id, z, 1), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "zero") != NULL);
    CHECK_EQ_INT(vex_index_count(ix), 0);
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_OK);
    CHECK_RC(vex_index_search(ix, v, 0, NULL, hits, &n), VEX_INVALID);
    CHECK_RC(vex_index_search(ix, v, VEX_MAX_K + 1, NULL, hits, &n),
             VEX_INVALID);
    CHECK_RC(vex_index_search(ix, z, 1, NULL, hits, &n), VEX_INVALID);
    CHECK_RC(vex_index_search(ix, NULL, 1, NULL, hits, &n), VEX_MISUSE);
    vex_search_params_init(&p);
    p.n_threads = 3; /* the pool has 2 */
    CHECK_RC(vex_index_search(ix, v, 1, &p, hits, &n), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "n_threads") != NULL);
    p.struct_size = 4;
    CHECK_RC(vex_index_search(ix, v, 1, &p, hits, &n), VEX_MISUSE);
    {
        char buf[8];
        size_t len = vex_index_errmsg_copy(ix, buf, sizeof buf);
        CHECK(len > 7 && strlen(buf) == 7);
    }
    vex_index_free(ix);

    /* bit vectors: 12 bits, so the top 4 bits of byte 1 must be zero */
    ix = make_index(VEX_ELEM_BIT, VEX_METRIC_HAMMING, 12, 1);
    CHECK_RC(vex_index_add(ix, &id, bits, 1), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "padding") != NULL);
    bits[1] = 0x0f;
    CHECK_RC(vex_index_add(ix, &id, bits, 1), VEX_OK);
    vex_index_free(ix);

    CHECK(vex_vector_size(VEX_ELEM_BIT, 12) == 2);
    CHECK(vex_vector_size(VEX_ELEM_F32, 0) == 0);
    {
        vex_metric m;
        vex_elem e;
        CHECK_RC(vex_metric_parse("cosine", &m), VEX_OK);
        CHECK(m == VEX_METRIC_COSINE);
        CHECK_RC(vex_metric_parse("euclid", &m), VEX_INVALID);
        CHECK_RC(vex_elem_parse("bit", &e), VEX_OK);
        CHECK(strcmp(vex_metric_name(VEX_METRIC_JACCARD), "jaccard") == 0);
    }
}

/* ---- out of memory
 * ------------------------------------------------------------ */

/* One scenario that allocates in every phase. Returns the first failing
 * status (VEX_OK when everything succeeded). */
static int oom_scenario(fail_alloc *fa, const float *base, const float *qs)
{
    enum { N = 3000, D = 16, NQ = 20 };
    vex_allocator a = {fa_alloc, fa_realloc, fa_free, fa};
    vex_index_options o;
    vex_index *ix = NULL;
    uint64_t ids[N];
    vex_hit hits[NQ * 5];
    size_t nh[NQ], i;
    int rc;
    vex_search_params p;
    for (i = 0; i < N; i++)
        ids[i] = i;
    vex_index_options_init(&o);
    o.dim = D;
    o.n_threads = 2;
    o.allocator = &a;
    vex_search_params_init(&p);
    rc = vex_index_create(&o, &ix);
    if (rc == VEX_OK)
        rc = vex_index_add(ix, ids, base, N / 2);
    if (rc == VEX_OK)
        rc = vex_index_add(ix, ids + N / 2, base + N / 2 * D, N - N / 2);
    if (rc == VEX_OK)
        rc = vex_index_search_batch(ix, qs, NQ, 5, &p, hits, nh);
    if (rc == VEX_OK)
        rc = vex_index_search(ix, qs, 5, &p, hits, nh);
    if (rc != VEX_OK && ix != NULL)
        CHECK(vex_index_errmsg(ix)[0] != '\0');
    vex_index_free(ix);
    return rc;
}

static void test_oom_sweep(void)
{
    vex_rng r;
    float *base, *qs;
    fail_alloc fa;
    long budget;
    int rc = VEX_NOMEM;
    vex_rng_seed(&r, test_seed(3));
    base = gen_f32(&r, 3000, 16);
    qs = gen_f32(&r, 20, 16);
    pthread_mutex_init(&fa.lock, NULL);
    for (budget = 0; budget < 1000 && rc != VEX_OK; budget++) {
        fa.budget = budget;
        fa.live = 0;
        rc = oom_scenario(&fa, base, qs);
        CHECK_MSG(rc == VEX_OK || rc == VEX_NOMEM, "budget %ld: rc %d", budget,
                  rc);
        CHECK_MSG(fa.live == 0, "budget %ld: %ld allocations leaked", budget,
                  fa.live);
    }
    CHECK_MSG(rc == VEX_OK, "never succeeded");
    CHECK(budget > 5); /* the sweep really failed some allocations */
    pthread_mutex_destroy(&fa.lock);
    free(base);
    free(qs);
}

/* ---- concurrency ------------------------------------------------------------
 */

typedef struct conc_arg {
    vex_index *ix;
    const float *qs;
    int writer;
    int failures;
} conc_arg;

static void *conc_main(void *p)
{
    conc_arg *a = p;
    int i;
    for (i = 0; i < 200; i++) {
        if (a->writer) {
            float v[8] = {(float)i, 1, 2, 3, 4, 5, 6, 7};
            uint64_t id = 1000000 + (uint64_t)i;
            if (vex_index_add(a->ix, &id, v, 1) != VEX_OK)
                a->failures++;
            if (i % 2 && vex_index_remove(a->ix, id) != VEX_OK)
                a->failures++;
        } else {
            vex_hit hits[5];
            size_t n;
            if (vex_index_search(a->ix, a->qs + (i % 10) * 8, 5, NULL, hits,
                                 &n) != VEX_OK ||
                n != 5)
                a->failures++;
        }
    }
    return NULL;
}

static void test_concurrent_search_and_write(void)
{
    enum { N = 2000 };
    vex_rng r;
    float *base, *qs;
    uint64_t ids[N];
    size_t i;
    pthread_t th[4];
    conc_arg args[4];
    vex_index *ix = make_index(VEX_ELEM_F32, VEX_METRIC_L2, 8, 2);
    vex_rng_seed(&r, test_seed(8));
    base = gen_f32(&r, N, 8);
    qs = gen_f32(&r, 10, 8);
    for (i = 0; i < N; i++)
        ids[i] = i;
    CHECK_RC(vex_index_add(ix, ids, base, N), VEX_OK);
    for (i = 0; i < 4; i++) {
        args[i].ix = ix;
        args[i].qs = qs;
        args[i].writer = i == 0;
        args[i].failures = 0;
        pthread_create(&th[i], NULL, conc_main, &args[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].failures, 0);
    }
    CHECK_EQ_INT(vex_index_count(ix), N + 100);
    vex_index_free(ix);
    free(base);
    free(qs);
}

int main(void)
{
    TEST_RUN(test_exact_all_metrics);
    TEST_RUN(test_paths_agree);
    TEST_RUN(test_filter_exact);
    TEST_RUN(test_range);
    TEST_RUN(test_add_remove_get);
    TEST_RUN(test_many_removes_stay_exact);
    TEST_RUN(test_validation);
    TEST_RUN(test_oom_sweep);
    TEST_RUN(test_concurrent_search_and_write);
    return TEST_EXIT();
}
