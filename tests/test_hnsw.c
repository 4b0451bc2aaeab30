/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hnsw.c - the HNSW index through the public API: recall against the
 * flat index on seeded clustered data for every metric, graph invariants
 * (vex_index_check and the graph statistics), deletes with repair and
 * re-inserts, concurrent inserts and searches, and option validation.
 */
#include <pthread.h>

#include "engine/engine.h"
#include "index/ix.h"
#include "simd/simd.h"
#include "test.h"
#include "test_alloc.h"
#include "util/rng.h"
#include "vexdb.h"

/* Points around 50 gaussian centres: real data is clustered, and uniform
 * noise in many dimensions makes every neighbour equally far. */
static float *gen_clustered(vex_rng *r, size_t n, size_t dim, uint64_t salt)
{
    float *v = malloc(n * dim * sizeof *v), *c = malloc(50 * dim * sizeof *c);
    vex_rng cr;
    size_t i, d;
    vex_rng_seed(&cr, 777 + salt);
    for (i = 0; i < 50 * dim; i++)
        c[i] = (float)vex_rng_normal(&cr) * 3.0f;
    for (i = 0; i < n; i++) {
        const float *ci = c + vex_rng_below(r, 50) * dim;
        for (d = 0; d < dim; d++)
            v[i * dim + d] = ci[d] + (float)vex_rng_normal(r);
    }
    free(c);
    return v;
}

static vex_index *make(vex_index_kind kind, vex_elem e, vex_metric m,
                       uint32_t dim, uint32_t threads, uint32_t M)
{
    vex_index_options o;
    vex_index *ix = NULL;
    vex_index_options_init(&o);
    o.kind = kind;
    o.elem = e;
    o.metric = m;
    o.dim = dim;
    o.n_threads = threads;
    if (kind == VEX_INDEX_HNSW) {
        o.hnsw_m = M;
        o.hnsw_ef_construction = 100;
        o.hnsw_seed = 42;
    }
    if (vex_index_create(&o, &ix) != VEX_OK) {
        fprintf(stderr, "create: %s\n", vex_index_errmsg(ix));
        vex_index_free(ix);
        return NULL;
    }
    return ix;
}

/* recall@k of `ix` against exact results of `flat` over nq queries: a hit
 * counts when its distance is within the k-th exact distance. */
static double recall(vex_index *ix, vex_index *flat, const void *qs, size_t vb,
                     size_t nq, size_t k, uint32_t ef)
{
    vex_hit *a = malloc(k * sizeof *a), *b = malloc(k * sizeof *b);
    vex_search_params p;
    size_t i, j, na, nb, ok = 0, total = 0;
    vex_search_params_init(&p);
    p.ef_search = ef;
    for (i = 0; i < nq; i++) {
        const void *q = (const unsigned char *)qs + i * vb;
        if (vex_index_search(ix, q, k, &p, a, &na) != VEX_OK ||
            vex_index_search(flat, q, k, NULL, b, &nb) != VEX_OK)
            return -1;
        for (j = 0; j < na; j++)
            ok += a[j].distance <= b[nb - 1].distance * (1 + 1e-5f) + 1e-6f;
        total += nb;
    }
    free(a);
    free(b);
    return (double)ok / (double)total;
}

/* Pruning can leave a node with no in-links on level 0 (the paper's and
 * hnswlib's graphs have that property); the reachability pass links every
 * such node, and vex_index_check (which runs a pending pass first, as a
 * serialisation does) reports any live node still unreachable from the
 * entry point. That holds for every metric: reachability is a property
 * of the links. */
static void check_graph(vex_index *ix, uint64_t nodes)
{
    vex_graph_stats st;
    int rc = vex_index_check(ix);
    CHECK_MSG(rc == VEX_OK, "vex_index_check: %s", vex_index_errmsg(ix));
    CHECK_RC(vx_ix_graph_stats(ix, &st, NULL), VEX_OK);
    CHECK_EQ_INT(st.nodes, nodes);
    CHECK_MSG(st.unreachable == 0, "%llu of %llu unreachable",
              (unsigned long long)st.unreachable, (unsigned long long)nodes);
    CHECK(st.min_degree >= 1 || nodes <= 1);
}

static void recall_case(vex_metric m, size_t dim, size_t n, double want,
                        uint32_t threads)
{
    vex_rng r;
    size_t nq = 100, i;
    float *base, *qs;
    uint64_t *ids = malloc(n * sizeof *ids);
    vex_index *h =
        make(VEX_INDEX_HNSW, VEX_ELEM_F32, m, (uint32_t)dim, threads, 12);
    vex_index *f = make(VEX_INDEX_FLAT, VEX_ELEM_F32, m, (uint32_t)dim, 1, 0);
    double rc10, rc100;
    vex_rng_seed(&r, test_seed(31) + m);
    base = gen_clustered(&r, n, dim, m);
    qs = gen_clustered(&r, nq, dim, m);
    for (i = 0; i < n; i++)
        ids[i] = i * 7 + 3;
    CHECK_RC(vex_index_add(h, ids, base, n), VEX_OK);
    CHECK_RC(vex_index_add(f, ids, base, n), VEX_OK);
    CHECK_EQ_INT(vex_index_count(h), n);
    check_graph(h, n);
    rc10 = recall(h, f, qs, dim * 4, nq, 10, 16);
    rc100 = recall(h, f, qs, dim * 4, nq, 10, 200);
    CHECK_MSG(rc100 >= want, "%s dim %zu threads %u: recall %.4f < %.4f",
              vex_metric_name(m), dim, threads, rc100, want);
    CHECK_MSG(rc100 >= rc10, "ef 200 (%.4f) below ef 16 (%.4f)", rc100, rc10);
    fprintf(stderr,
            "  %s dim %zu n %zu threads %u: recall@10 %.4f (ef 16) "
            "%.4f (ef 200)\n",
            vex_metric_name(m), dim, n, threads, rc10, rc100);
    vex_index_free(h);
    vex_index_free(f);
    free(base);
    free(qs);
    free(ids);
}

static void test_recall_f32(void)
{
    recall_case(VEX_METRIC_L2, 24, 8000, 0.97, 1);
    recall_case(VEX_METRIC_IP, 17, 8000, 0.85, 2); /* see vexdb.h */
    recall_case(VEX_METRIC_COSINE, 40, 8000, 0.97, 2);
    recall_case(VEX_METRIC_L2, 100, 20000, 0.97, 2); /* parallel build */
}

static void test_recall_bits(void)
{
    enum { N = 6000, DIM = 256, NQ = 50 };
    vex_rng r;
    size_t vb = DIM / 8, i;
    unsigned char *base = malloc(N * vb), *qs = malloc(NQ * vb);
    uint64_t ids[N];
    vex_metric m;
    vex_rng_seed(&r, test_seed(4));
    /* flip few bits of 40 prototypes, so neighbourhoods exist */
    for (i = 0; i < N + NQ; i++) {
        unsigned char *v = i < N ? base + i * vb : qs + (i - N) * vb;
        vex_rng pr;
        size_t b;
        vex_rng_seed(&pr, vex_rng_below(&r, 40));
        for (b = 0; b < vb; b++)
            v[b] = (unsigned char)vex_rng_next(&pr);
        for (b = 0; b < 20; b++) {
            size_t bit = vex_rng_below(&r, DIM);
            v[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        }
        if (i < N)
            ids[i] = i;
    }
    for (m = VEX_METRIC_HAMMING; m <= VEX_METRIC_JACCARD; m++) {
        vex_index *h = make(VEX_INDEX_HNSW, VEX_ELEM_BIT, m, DIM, 2, 16);
        vex_index *f = make(VEX_INDEX_FLAT, VEX_ELEM_BIT, m, DIM, 1, 0);
        double rc;
        CHECK_RC(vex_index_add(h, ids, base, N), VEX_OK);
        CHECK_RC(vex_index_add(f, ids, base, N), VEX_OK);
        check_graph(h, N);
        rc = recall(h, f, qs, vb, NQ, 10, 200);
        CHECK_MSG(rc >= 0.95, "%s recall %.4f", vex_metric_name(m), rc);
        vex_index_free(h);
        vex_index_free(f);
    }
    free(base);
    free(qs);
}

/* Deleting a share of the data keeps recall (measured against a flat
 * index holding only the survivors) close to a fresh build's; re-inserts
 * come back. */
static void test_deletes_keep_recall(void)
{
    enum { N = 12000, D = 32, NQ = 100 };
    static const double shares[] = {0.1, 0.3, 0.5};
    vex_rng r;
    float *base, *qs;
    uint64_t ids[N];
    size_t i, si;
    vex_rng_seed(&r, test_seed(77));
    base = gen_clustered(&r, N, D, 1);
    qs = gen_clustered(&r, NQ, D, 1);
    for (i = 0; i < N; i++)
        ids[i] = i;
    for (si = 0; si < 3; si++) {
        vex_index *h =
            make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, D, 2, 12);
        vex_index *f =
            make(VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_L2, D, 1, 0);
        vex_index *fresh =
            make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, D, 2, 12);
        size_t n_del = (size_t)(shares[si] * N), live = 0;
        double r_del, r_fresh;
        vex_hit hit;
        size_t nh;
        CHECK_RC(vex_index_add(h, ids, base, N), VEX_OK);
        /* delete every k-th so the survivors are spread out */
        for (i = 0; i < N; i++) {
            if ((i * n_del) / N != ((i + 1) * n_del) / N) {
                CHECK_RC(vex_index_remove(h, ids[i]), VEX_OK);
            } else {
                CHECK_RC(vex_index_add(f, &ids[i], base + i * D, 1), VEX_OK);
                CHECK_RC(vex_index_add(fresh, &ids[i], base + i * D, 1),
                         VEX_OK);
                live++;
            }
        }
        CHECK_EQ_INT(vex_index_count(h), live);
        check_graph(h, live);
        r_del = recall(h, f, qs, D * 4, NQ, 10, 40);
        r_fresh = recall(fresh, f, qs, D * 4, NQ, 10, 40);
        fprintf(stderr,
                "  deleted %.0f%%: recall@10 %.4f, fresh build %.4f "
                "(ef 40)\n",
                shares[si] * 100, r_del, r_fresh);
        CHECK_MSG(r_del >= r_fresh - 0.01,
                  "after deleting %.0f%%: %.4f vs "
                  "fresh %.4f",
                  shares[si] * 100, r_del, r_fresh);
        /* deleted ids are never returned; re-insert them all */
        for (i = 0; i < N; i++) {
            if ((i * n_del) / N != ((i + 1) * n_del) / N) {
                CHECK_RC(vex_index_search(h, base + i * D, 1, NULL, &hit, &nh),
                         VEX_OK);
                CHECK(nh == 1 && hit.id != ids[i]);
                CHECK_RC(vex_index_add(h, &ids[i], base + i * D, 1), VEX_OK);
            }
        }
        CHECK_EQ_INT(vex_index_count(h), N);
        check_graph(h, N);
        CHECK_RC(vex_index_search(h, base, 1, NULL, &hit, &nh), VEX_OK);
        CHECK(nh == 1 && hit.id == ids[0] && hit.distance == 0.0f);
        vex_index_free(h);
        vex_index_free(f);
        vex_index_free(fresh);
    }
    free(base);
    free(qs);
}

static void test_delete_everything(void)
{
    float v[3][2] = {{0, 0}, {1, 0}, {0, 1}};
    uint64_t ids[3] = {1, 2, 3};
    vex_hit hits[3];
    size_t n;
    vex_index *h = make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, 2, 1, 4);
    CHECK_RC(vex_index_search(h, v[0], 3, NULL, hits, &n), VEX_OK);
    CHECK_EQ_INT(n, 0); /* empty */
    CHECK_RC(vex_index_add(h, ids, v, 3), VEX_OK);
    CHECK_RC(vex_index_remove(h, 1), VEX_OK);
    CHECK_RC(vex_index_remove(h, 2), VEX_OK);
    CHECK_RC(vex_index_remove(h, 3), VEX_OK);
    CHECK_RC(vex_index_remove(h, 3), VEX_NOTFOUND);
    CHECK_RC(vex_index_check(h), VEX_OK);
    CHECK_RC(vex_index_search(h, v[0], 3, NULL, hits, &n), VEX_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_RC(vex_index_add(h, ids, v, 3), VEX_OK);
    CHECK_RC(vex_index_search(h, v[2], 3, NULL, hits, &n), VEX_OK);
    CHECK(n == 3 && hits[0].id == 3 && hits[0].distance == 0.0f);
    CHECK_RC(vex_index_check(h), VEX_OK);
    vex_index_free(h);
}

typedef struct conc {
    vex_index *ix;
    const float *data;
    size_t first, n, dim;
    int writer, failures;
} conc;

static void *conc_main(void *p)
{
    conc *c = p;
    size_t i;
    for (i = 0; i < c->n; i++) {
        if (c->writer) {
            uint64_t id = c->first + i;
            if (vex_index_add(c->ix, &id, c->data + id * c->dim, 1) != VEX_OK)
                c->failures++;
        } else {
            vex_hit hits[10];
            size_t nh;
            /* a stored vector (added before the writers started) is its own
             * nearest, and a full k comes back: a search that walked into a
             * node being added before it had its level-0 links returned
             * that node alone */
            if (vex_index_search(c->ix, c->data + (i % 500) * c->dim, 10, NULL,
                                 hits, &nh) != VEX_OK ||
                nh != 10 || hits[0].id != i % 500)
                c->failures++;
        }
    }
    return NULL;
}

static void test_concurrent_insert_and_search(void)
{
    enum { N = 6000, D = 16 };
    vex_rng r;
    float *data;
    uint64_t ids[500];
    pthread_t th[4];
    conc c[4];
    size_t i;
    vex_index *h = make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, D, 2, 8);
    vex_rng_seed(&r, test_seed(12));
    data = gen_clustered(&r, N, D, 5);
    for (i = 0; i < 500; i++)
        ids[i] = i;
    CHECK_RC(vex_index_add(h, ids, data, 500), VEX_OK);
    for (i = 0; i < 4; i++) {
        c[i].ix = h;
        c[i].data = data;
        c[i].dim = D;
        c[i].writer = i < 2;
        c[i].first = 500 + i * (N - 500) / 2;
        c[i].n = i < 2 ? (N - 500) / 2 : 3000;
        c[i].failures = 0;
        pthread_create(&th[i], NULL, conc_main, &c[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(c[i].failures, 0);
    }
    CHECK_EQ_INT(vex_index_count(h), N);
    check_graph(h, N);
    vex_index_free(h);
    free(data);
}

static int accept_mod(uint64_t id, void *ctx)
{
    return id % *(const uint64_t *)ctx == 0;
}

/* Filtered HNSW search: only accepted ids come back; recall against the
 * exact filtered answer holds for a moderate filter, and a selective one
 * still returns k hits thanks to the widening beam. */
static void test_filter(void)
{
    enum { N = 10000, D = 24, NQ = 50, K = 10 };
    vex_rng r;
    float *base, *qs;
    uint64_t ids[N], mods[2] = {3, 97};
    size_t i, j, mi;
    vex_index *h = make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, D, 2, 12);
    vex_index *f = make(VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_L2, D, 1, 0);
    vex_rng_seed(&r, test_seed(41));
    base = gen_clustered(&r, N, D, 3);
    qs = gen_clustered(&r, NQ, D, 3);
    for (i = 0; i < N; i++)
        ids[i] = i;
    CHECK_RC(vex_index_add(h, ids, base, N), VEX_OK);
    CHECK_RC(vex_index_add(f, ids, base, N), VEX_OK);
    for (mi = 0; mi < 2; mi++) {
        vex_search_params p;
        size_t ok = 0, got = 0;
        vex_search_params_init(&p);
        p.filter = accept_mod;
        p.filter_ctx = &mods[mi];
        p.ef_search = 64;
        /* ~1% pass the second filter: the default bound (16 x ef = 1024
         * nodes) finds ~10 of them, so this test allows a wider beam */
        p.filter_max_ef = mi == 1 ? 8192 : 0;
        for (i = 0; i < NQ; i++) {
            vex_hit a[K], b[K];
            size_t na, nb;
            vex_search_params fp = p;
            fp.ef_search = 0;
            fp.filter_max_ef = 0;
            CHECK_RC(vex_index_search(h, qs + i * D, K, &p, a, &na), VEX_OK);
            CHECK_RC(vex_index_search(f, qs + i * D, K, &fp, b, &nb), VEX_OK);
            CHECK_EQ_INT(na, K);
            for (j = 0; j < na; j++) {
                CHECK(a[j].id % mods[mi] == 0);
                ok += a[j].distance <= b[nb - 1].distance * (1 + 1e-5f);
            }
            got += nb;
        }
        fprintf(stderr, "  filter 1/%llu: recall@10 %.4f\n",
                (unsigned long long)mods[mi], (double)ok / (double)got);
        CHECK_MSG((double)ok / (double)got >= 0.95, "filter 1/%llu recall %.4f",
                  (unsigned long long)mods[mi], (double)ok / (double)got);
    }
    {
        vex_search_params p;
        vex_hit a[K];
        size_t na;
        vex_search_params_init(&p);
        p.filter_max_ef = 10; /* without a filter: refused */
        CHECK_RC(vex_index_search(h, qs, K, &p, a, &na), VEX_INVALID);
        p.filter = accept_mod;
        p.filter_ctx = &mods[1];
        p.filter_max_ef = VEX_MAX_K + 1;
        CHECK_RC(vex_index_search(h, qs, K, &p, a, &na), VEX_INVALID);
    }
    vex_index_free(h);
    vex_index_free(f);
    free(base);
    free(qs);
}

static void test_options(void)
{
    vex_index_options o;
    vex_index *ix = NULL;
    vex_search_params p;
    float v[4] = {1, 2, 3, 4};
    uint64_t id = 9;
    vex_hit hit;
    size_t n;
    vex_index_options_init(&o);
    o.dim = 4;
    o.hnsw_m = 16; /* flat index with an HNSW option */
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "hnsw_") != NULL);
    vex_index_free(ix);
    o.kind = VEX_INDEX_HNSW;
    o.hnsw_m = 1;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.hnsw_m = 0;
    o.hnsw_ef_construction = VEX_MAX_K + 1;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.hnsw_ef_construction = 0;
    CHECK_RC(vex_index_create(&o, &ix), VEX_OK);
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_OK);
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_EXISTS);
    vex_search_params_init(&p);
    p.ef_search = VEX_MAX_K + 1;
    CHECK_RC(vex_index_search(ix, v, 1, &p, &hit, &n), VEX_INVALID);
    p.ef_search = 1; /* below k is raised to k */
    CHECK_RC(vex_index_search(ix, v, 1, &p, &hit, &n), VEX_OK);
    CHECK(n == 1 && hit.id == 9);
    vex_index_free(ix);
    /* ef_search on a flat index is refused: flat is exact */
    vex_index_options_init(&o);
    o.dim = 4;
    CHECK_RC(vex_index_create(&o, &ix), VEX_OK);
    CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_OK);
    CHECK_RC(vex_index_search(ix, v, 1, &p, &hit, &n), VEX_INVALID);
    CHECK(strstr(vex_index_errmsg(ix), "ef_search") != NULL);
    vex_index_free(ix);
}

static void test_deterministic_single_thread(void)
{
    enum { N = 3000, D = 8 };
    vex_rng r;
    float *data;
    uint64_t ids[N];
    vex_hit a[10], b[10];
    size_t na, nb, i, j;
    vex_index *x = make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, D, 1, 8);
    vex_index *y = make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, D, 1, 8);
    vex_rng_seed(&r, test_seed(2));
    data = gen_clustered(&r, N, D, 9);
    for (i = 0; i < N; i++)
        ids[i] = i;
    CHECK_RC(vex_index_add(x, ids, data, N), VEX_OK);
    CHECK_RC(vex_index_add(y, ids, data, N), VEX_OK);
    for (i = 0; i < 50; i++) {
        CHECK_RC(vex_index_search(x, data + i * D, 10, NULL, a, &na), VEX_OK);
        CHECK_RC(vex_index_search(y, data + i * D, 10, NULL, b, &nb), VEX_OK);
        CHECK_EQ_INT(na, nb);
        for (j = 0; j < na && j < nb; j++) /* fields: the struct has padding */
            CHECK(a[j].id == b[j].id && a[j].distance == b[j].distance);
    }
    vex_index_free(x);
    vex_index_free(y);
    free(data);
}

/* Adds one at a time from empty: the first nodes may all be on level 0,
 * before the upper arena exists (UBSan caught NULL + 0 there). */
static void test_single_adds(void)
{
    vex_index *ix = make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, 4, 1, 4);
    float v[4];
    uint64_t id;
    if (ix == NULL)
        return;
    for (id = 0; id < 40; id++) {
        v[0] = (float)id;
        v[1] = v[2] = v[3] = 1.0f;
        CHECK_RC(vex_index_add(ix, &id, v, 1), VEX_OK);
    }
    CHECK_RC(vex_index_check(ix), VEX_OK);
    CHECK_EQ_INT(vex_index_count(ix), 40);
    vex_index_free(ix);
}

/* Every allocation of an HNSW life (create, parallel add, removes with a
 * repair, searches, batch, serialise and open) fails in turn: each
 * failure comes back as VEX_NOMEM, nothing leaks, and an index whose add
 * failed is still consistent. */
static int oom_scenario(fail_alloc *fa, const float *base)
{
    enum { N = 400, D = 8 };
    vex_allocator a = {fa_alloc, fa_realloc, fa_free, fa};
    vex_index_options o;
    vex_open_options oo;
    vex_index *ix = NULL, *jx = NULL;
    uint64_t ids[N], need = 0;
    vex_hit hits[5 * 4];
    size_t nh[4], i;
    void *blob = NULL;
    int rc;
    for (i = 0; i < N; i++)
        ids[i] = i;
    vex_index_options_init(&o);
    o.kind = VEX_INDEX_HNSW;
    o.dim = D;
    o.n_threads = 2;
    o.hnsw_m = 6;
    o.allocator = &a;
    rc = vex_index_create(&o, &ix);
    if (rc == VEX_OK) {
        rc = vex_index_add(ix, ids, base, N);
        if (rc != VEX_OK) {
            /* a failed add leaves the index as it was: consistent */
            long saved = fa->budget;
            fa->budget = -1;
            CHECK_RC(vex_index_check(ix), VEX_OK);
            fa->budget = saved;
        }
    }
    for (i = 0; i < N / 8 && rc == VEX_OK; i++)
        rc = vex_index_remove(ix, ids[i * 8]);
    if (rc == VEX_OK)
        rc = vex_index_search(ix, base, 5, NULL, hits, nh);
    if (rc == VEX_OK)
        rc = vex_index_search_batch(ix, base, 4, 5, NULL, hits, nh);
    if (rc == VEX_OK) {
        vex_index_serialize(ix, NULL, 0, &need);
        blob = aligned_alloc(64, (need + 63) / 64 * 64);
        rc = vex_index_serialize(ix, blob, need, &need);
    }
    if (rc == VEX_OK) {
        vex_open_options_init(&oo);
        oo.allocator = &a;
        oo.n_threads = 1;
        rc = vex_index_open_buffer(blob, need, &oo, &jx);
    }
    if (rc != VEX_OK && ix != NULL)
        CHECK(vex_index_errmsg(ix)[0] != '\0' ||
              (jx && vex_index_errmsg(jx)[0] != '\0'));
    vex_index_free(jx);
    vex_index_free(ix);
    free(blob);
    return rc;
}

static void test_oom_sweep(void)
{
    vex_rng r;
    float *base;
    fail_alloc fa;
    long budget;
    int rc = VEX_NOMEM;
    vex_rng_seed(&r, test_seed(5));
    base = gen_clustered(&r, 400, 8, 11);
    pthread_mutex_init(&fa.lock, NULL);
    for (budget = 0; budget < 5000 && rc != VEX_OK; budget++) {
        fa.budget = budget;
        fa.live = 0;
        rc = oom_scenario(&fa, base);
        CHECK_MSG(rc == VEX_OK || rc == VEX_NOMEM, "budget %ld: rc %d (%s)",
                  budget, rc, vex_status_name(rc));
        CHECK_MSG(fa.live == 0, "budget %ld: %ld allocations leaked", budget,
                  fa.live);
    }
    CHECK_MSG(rc == VEX_OK, "never succeeded");
    CHECK(budget > 20);
    fprintf(stderr, "  succeeded with %ld allocations allowed\n", budget - 1);
    pthread_mutex_destroy(&fa.lock);
    free(base);
}

/* The cut a collection passes to its later sources: a search that knows
 * the caller already holds k results within `cut` prunes its beam past
 * it. Two sources searched one after the other with the cut must find
 * what they find without it (to within a point of recall), an infinite or
 * NaN cut changes nothing, and a cut nothing can beat still returns k
 * hits (the unpruned head of the beam). */
/* A search with a cut through the internal interface (index/ix.h), as a
 * collection searches its later sources: params checked once, then the
 * cut, which may be INFINITY or NaN (no cut). */
static int cut_search(vex_index *ix, const float *q, size_t k,
                      const vex_search_params *p, float cut, vex_hit *hits,
                      size_t *n)
{
    vex_search_opts so;
    int rc = vx_ix_check_params(ix, p, &so, NULL);
    if (rc != VEX_OK)
        return rc;
    so.cut = cut;
    return vx_ix_search(ix, q, k, &so, hits, n, NULL);
}

static void test_search_cut(void)
{
    const size_t dim = 48, nbig = 4000, nsmall = 1000, nq = 200, k = 10;
    vex_rng r;
    float *base, *qs;
    uint64_t *ids = malloc((nbig + nsmall) * sizeof *ids);
    vex_index *big =
        make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, dim, 1, 12);
    vex_index *small =
        make(VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, dim, 1, 12);
    vex_index *all =
        make(VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_L2, dim, 1, 0);
    vex_search_params p;
    size_t found_cut = 0, found_plain = 0, total = 0;
    vex_rng_seed(&r, test_seed(4242));
    base = gen_clustered(&r, nbig + nsmall, dim, 9);
    qs = gen_clustered(&r, nq, dim, 9);
    for (size_t i = 0; i < nbig + nsmall; i++)
        ids[i] = i;
    CHECK_RC(vex_index_add(big, ids, base, nbig), VEX_OK);
    CHECK_RC(vex_index_add(small, ids + nbig, base + nbig * dim, nsmall),
             VEX_OK);
    CHECK_RC(vex_index_add(all, ids, base, nbig + nsmall), VEX_OK);
    vex_search_params_init(&p);
    p.ef_search = 40;
    for (size_t q = 0; q < nq; q++) {
        const float *qv = qs + q * dim;
        vex_hit exact[10], hb[10], hs[10], hc[10], tmp[10];
        size_t ne, nb, ns, nc, nt;
        float cut;
        CHECK_RC(vex_index_search(all, qv, k, NULL, exact, &ne), VEX_OK);
        CHECK_RC(vex_index_search(big, qv, k, &p, hb, &nb), VEX_OK);
        CHECK_RC(vex_index_search(small, qv, k, &p, hs, &ns), VEX_OK);
        cut = hb[nb - 1].distance;
        CHECK_RC(cut_search(small, qv, k, &p, cut, hc, &nc), VEX_OK);
        CHECK_EQ_INT(nc, k); /* the head of the beam is never pruned */
        /* no cut: the same as the public call, bit for bit */
        CHECK_RC(cut_search(small, qv, k, &p, INFINITY, tmp, &nt), VEX_OK);
        CHECK_EQ_INT(nt, ns);
        for (size_t i = 0; i < nt && i < ns; i++)
            CHECK(tmp[i].id == hs[i].id && tmp[i].distance == hs[i].distance);
        CHECK_RC(cut_search(small, qv, k, &p, NAN, tmp, &nt), VEX_OK);
        CHECK_EQ_INT(nt, ns);
        /* a cut nothing beats still yields k hits */
        CHECK_RC(cut_search(small, qv, k, &p, -1.0f, tmp, &nt), VEX_OK);
        CHECK_EQ_INT(nt, k);
        /* recall of the merged results, with and without the cut */
        for (size_t i = 0; i < ne; i++) {
            int in_cut = 0, in_plain = 0;
            for (size_t j = 0; j < nb; j++)
                in_cut |= in_plain |= hb[j].id == exact[i].id;
            for (size_t j = 0; j < ns; j++)
                in_plain |= hs[j].id == exact[i].id &&
                            hs[j].distance <= exact[ne - 1].distance;
            for (size_t j = 0; j < nc; j++)
                in_cut |= hc[j].id == exact[i].id &&
                          hc[j].distance <= exact[ne - 1].distance;
            found_cut += in_cut;
            found_plain += in_plain;
        }
        total += ne;
    }
    fprintf(stderr,
            "  two sources, recall@10 %.4f without the cut, %.4f "
            "with it\n",
            (double)found_plain / (double)total,
            (double)found_cut / (double)total);
    CHECK_MSG(found_plain >= total * 95 / 100, "recall %zu/%zu", found_plain,
              total);
    CHECK_MSG(found_cut + total / 100 >= found_plain,
              "the cut lost recall: %zu vs %zu of %zu", found_cut, found_plain,
              total);
    vex_index_free(big);
    vex_index_free(small);
    vex_index_free(all);
    free(base);
    free(qs);
    free(ids);
}

/* One case of test_score: every id of `h` scored against what the flat
 * index `f` (same vectors) returns for it, bit for bit. */
static void score_case(vex_index *h, vex_index *f, const void *q, size_t n,
                       const char *what)
{
    const vex_index_config *cfg = vx_ix_config(h);
    vex_hit *all = malloc(n * sizeof *all);
    uint64_t ids[VX_IX_SCORE_MAX];
    float dist[VX_IX_SCORE_MAX];
    float qaux = cfg->elem == VEX_ELEM_F32
                     ? vx_exact_query_aux(cfg, vx_simd(), q)
                     : 0.0f;
    size_t got, i, bad = 0;
    CHECK_RC(vex_index_search(f, q, n, NULL, all, &got), VEX_OK);
    CHECK_EQ_INT(got, n);
    /* in blocks of every size from 1 up, so groups of four start
     * anywhere and end short */
    for (i = 0; i < n;) {
        size_t cnt = (i % VX_IX_SCORE_MAX) + 1, j;
        if (cnt > n - i)
            cnt = n - i;
        for (j = 0; j < cnt; j++)
            ids[j] = all[i + j].id;
        CHECK_RC(vx_ix_score(h, q, qaux, ids, cnt, dist, NULL), VEX_OK);
        for (j = 0; j < cnt; j++)
            bad += memcmp(&dist[j], &all[i + j].distance, sizeof(float)) != 0;
        i += cnt;
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu distances differ from flat's", what,
              bad, n);
    free(all);
}

/* The score method (an exact plan over a segment's matches) of HNSW and
 * of flat gives each vector exactly the distance the flat index's search
 * gives it, for every metric,
 * odd dimensions and a query that is not 64-byte aligned; an id not in
 * the index is VEX_NOTFOUND. */
static void test_score(void)
{
    static const size_t dims[] = {1, 7, 33, 100};
    enum { N = 700 };
    vex_rng r;
    uint64_t ids[N];
    size_t i, d;
    int m;
    vex_rng_seed(&r, test_seed(91));
    for (i = 0; i < N; i++)
        ids[i] = i * 3 + 1;
    for (d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (m = VEX_METRIC_L2; m <= VEX_METRIC_COSINE; m++) {
            size_t dim = dims[d];
            float *base = gen_clustered(&r, N, dim, (uint64_t)m);
            float *qbuf = malloc((dim + 1) * sizeof *qbuf);
            vex_index *h = make(VEX_INDEX_HNSW, VEX_ELEM_F32, (vex_metric)m,
                                (uint32_t)dim, 2, 8);
            vex_index *f = make(VEX_INDEX_FLAT, VEX_ELEM_F32, (vex_metric)m,
                                (uint32_t)dim, 1, 0);
            char what[64];
            uint64_t missing[3] = {1, 2, 4};
            float dist[3];
            for (size_t j = 0; j < dim; j++)
                qbuf[1 + j] = (float)vex_rng_normal(&r);
            CHECK_RC(vex_index_add(h, ids, base, N), VEX_OK);
            CHECK_RC(vex_index_add(f, ids, base, N), VEX_OK);
            snprintf(what, sizeof what, "%s dim %zu",
                     vex_metric_name((vex_metric)m), dim);
            score_case(h, f, qbuf + 1, N, what);
            /* ids 1 and 4 exist, 2 does not */
            CHECK_RC(vx_ix_score(h, qbuf + 1, 0.0f, missing, 3, dist, NULL),
                     VEX_NOTFOUND);
            /* the flat index's own score (a flat segment's exact plan),
             * also after removals have moved vectors between slots */
            score_case(f, f, qbuf + 1, N, what);
            for (i = 0; i < N; i += 7)
                CHECK_RC(vex_index_remove(f, ids[i]), VEX_OK);
            score_case(f, f, qbuf + 1, N - (N + 6) / 7, what);
            CHECK_RC(vx_ix_score(f, qbuf + 1, 0.0f, missing, 3, dist, NULL),
                     VEX_NOTFOUND);
            vex_index_free(h);
            vex_index_free(f);
            free(base);
            free(qbuf);
        }
    /* bit vectors: Hamming and Jaccard */
    for (m = VEX_METRIC_HAMMING; m <= VEX_METRIC_JACCARD; m++) {
        enum { DIM = 72 };
        unsigned char *base = malloc(N * DIM / 8), q[DIM / 8 + 1];
        vex_index *h =
            make(VEX_INDEX_HNSW, VEX_ELEM_BIT, (vex_metric)m, DIM, 1, 8);
        vex_index *f =
            make(VEX_INDEX_FLAT, VEX_ELEM_BIT, (vex_metric)m, DIM, 1, 0);
        for (i = 0; i < N * DIM / 8; i++)
            base[i] = (unsigned char)vex_rng_next(&r);
        for (i = 0; i < sizeof q; i++)
            q[i] = (unsigned char)vex_rng_next(&r);
        CHECK_RC(vex_index_add(h, ids, base, N), VEX_OK);
        CHECK_RC(vex_index_add(f, ids, base, N), VEX_OK);
        score_case(h, f, q + 1, N, vex_metric_name((vex_metric)m));
        score_case(f, f, q + 1, N, vex_metric_name((vex_metric)m));
        vex_index_free(h);
        vex_index_free(f);
        free(base);
    }
}

int main(void)
{
    TEST_RUN(test_single_adds);
    TEST_RUN(test_recall_f32);
    TEST_RUN(test_recall_bits);
    TEST_RUN(test_deletes_keep_recall);
    TEST_RUN(test_delete_everything);
    TEST_RUN(test_concurrent_insert_and_search);
    TEST_RUN(test_filter);
    TEST_RUN(test_search_cut);
    TEST_RUN(test_score);
    TEST_RUN(test_options);
    TEST_RUN(test_deterministic_single_thread);
    TEST_RUN(test_oom_sweep);
    return TEST_EXIT();
}
