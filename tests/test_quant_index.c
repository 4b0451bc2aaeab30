/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_quant_index.c - quantized indexes through the public API:
 * option and parameter checks, training semantics, recall of flat and
 * HNSW searches on codes with refine against exact search for every
 * quantizer and metric, full-precision distances in the results, adds,
 * removes and searches after training, serialisation round trips (copied
 * and borrowed) and the loaders' defences against damaged quantizer and
 * code sections (re-sealed with vx_blob_finish so that the checks behind
 * the checksums are what must catch them). Flat on 4-bit PQ/OPQ codes
 * (the fast scan over qcodes' block copy): recall against the plain ADC
 * path on the same codes, and identical answers to a fresh index after
 * adds, removes, reopen and writes after reopen (so a block copy that
 * misses one write fails). Collections with a quantizer:
 * the configuration persisted and resolved, refine checked, codebooks and
 * codes in the segments written by flush and compaction, kept across
 * reopen, and a damaged codebook in a segment file reported as
 * VEX_CORRUPT.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/blob.h"
#include "io/vfs.h"
#include "quant/quant.h"
#include "storage/segment.h"
#include "storage/version.h"
#include "test.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rng.h"
#include "util/topk.h"
#include "vexdb.h"

#define DIM 32
#define N   3000
#define NQ  40
#define K   10

static float *g_data, *g_queries;

/* Clustered data: 40 gaussian clusters, so quantizers have structure to
 * learn and nearest neighbours are not all ties. */
static void make_data(void)
{
    vex_rng r;
    float centres[40][DIM];
    size_t i, j;
    vex_rng_seed(&r, test_seed(7));
    g_data = malloc(sizeof(float) * N * DIM);
    g_queries = malloc(sizeof(float) * NQ * DIM);
    for (i = 0; i < 40; i++)
        for (j = 0; j < DIM; j++)
            centres[i][j] = (float)(vex_rng_double(&r) * 4.0 - 2.0);
    for (i = 0; i < N + NQ; i++) {
        float *v = i < N ? g_data + i * DIM : g_queries + (i - N) * DIM;
        size_t c = (size_t)(vex_rng_next(&r) % 40);
        for (j = 0; j < DIM; j++)
            v[j] = centres[c][j] + (float)(vex_rng_double(&r) - 0.5);
    }
}

static vex_index *make_index(vex_index_kind kind, vex_metric metric,
                             vex_quant quant, uint32_t m, uint32_t bits)
{
    vex_index_options o;
    vex_index *ix = NULL;
    vex_index_options_init(&o);
    o.kind = kind;
    o.metric = metric;
    o.dim = DIM;
    o.n_threads = 1;
    o.quant = quant;
    o.quant_m = m;
    o.quant_bits = bits;
    if (kind == VEX_INDEX_HNSW)
        o.hnsw_seed = 3;
    CHECK_RC(vex_index_create(&o, &ix), VEX_OK);
    return ix;
}

static void add_all(vex_index *ix, size_t n)
{
    uint64_t *ids = malloc(sizeof(uint64_t) * n);
    size_t i;
    for (i = 0; i < n; i++)
        ids[i] = i + 1;
    CHECK_RC(vex_index_add(ix, ids, g_data, n), VEX_OK);
    free(ids);
}

/* recall@K of ix (refine r) against the exact flat index ex; checks that
 * every returned distance is the exact distance of its id. */
static double recall(vex_index *ix, vex_index *ex, float r, int hnsw_ef)
{
    vex_search_params p;
    vex_hit got[K], want[K];
    size_t ng, nw, q, i, hit = 0;
    vex_search_params_init(&p);
    p.refine = r;
    p.ef_search = (uint32_t)hnsw_ef;
    for (q = 0; q < NQ; q++) {
        const float *qv = g_queries + q * DIM;
        CHECK_RC(vex_index_search(ix, qv, K, &p, got, &ng), VEX_OK);
        CHECK_RC(vex_index_search(ex, qv, K, NULL, want, &nw), VEX_OK);
        CHECK(ng == K && nw == K);
        /* a hit counts when it is as near as the exact k-th (ties) */
        float bound = want[nw - 1].distance +
                      1e-5f * fabsf(want[nw - 1].distance) + 1e-6f;
        for (i = 0; i < ng; i++) {
            if (got[i].distance <= bound)
                hit++;
            if (i > 0)
                CHECK(got[i - 1].distance <= got[i].distance);
        }
    }
    return (double)hit / (double)(NQ * K);
}

/* The distance of each hit equals the exact index's distance of the same
 * vector to the query (bit for bit: same kernels). */
static void check_exact_distances(vex_index *ix, vex_index *ex, float r)
{
    vex_search_params p;
    vex_hit got[K], all[N];
    size_t ng, na, i, j;
    vex_search_params_init(&p);
    p.refine = r;
    CHECK_RC(vex_index_search(ix, g_queries, K, &p, got, &ng), VEX_OK);
    CHECK_RC(vex_index_search(ex, g_queries, N, NULL, all, &na), VEX_OK);
    for (i = 0; i < ng; i++) {
        for (j = 0; j < na && all[j].id != got[i].id; j++)
            ;
        CHECK(j < na);
        if (j < na)
            CHECK_MSG(fabsf(all[j].distance - got[i].distance) <=
                          1e-5f * (1.0f + fabsf(all[j].distance)),
                      "id %llu: %g vs exact %g", (unsigned long long)got[i].id,
                      (double)got[i].distance, (double)all[j].distance);
    }
}

static void test_options(void)
{
    vex_index_options o;
    vex_index *ix = NULL;
    vex_search_params p;
    vex_hit h[K];
    size_t n;

    vex_index_options_init(&o);
    CHECK(o.quant == VEX_QUANT_NONE && o.quant_m == 0 && o.quant_bits == 0 &&
          o.quant_refine == 0.0f);
    o.dim = 64;
    o.elem = VEX_ELEM_BIT;
    o.metric = VEX_METRIC_HAMMING;
    o.quant = VEX_QUANT_SQ8;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    vex_index_options_init(&o);
    o.dim = 64;
    o.quant = VEX_QUANT_SQ8;
    o.quant_m = 8;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.quant = VEX_QUANT_PQ;
    o.quant_bits = 5;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.quant_bits = 4;
    o.quant_m = 65;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.quant_m = 0;
    o.quant_refine = 0.5f;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.quant = VEX_QUANT_NONE;
    o.quant_bits = 0;
    o.quant_refine = 2.0f;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);
    o.quant = (vex_quant)9;
    o.quant_refine = 0.0f;
    CHECK_RC(vex_index_create(&o, &ix), VEX_INVALID);
    vex_index_free(ix);

    /* refine on an unquantized index is rejected, not ignored */
    ix = make_index(VEX_INDEX_FLAT, VEX_METRIC_L2, VEX_QUANT_NONE, 0, 0);
    add_all(ix, 100);
    vex_search_params_init(&p);
    p.refine = 2.0f;
    CHECK_RC(vex_index_search(ix, g_queries, K, &p, h, &n), VEX_INVALID);
    CHECK_RC(vex_index_train(ix, NULL, 0), VEX_MISUSE);
    CHECK(vex_index_code_size(ix) == 0);
    vex_index_free(ix);

    /* resolved defaults are reported */
    ix = make_index(VEX_INDEX_HNSW, VEX_METRIC_L2, VEX_QUANT_PQ, 0, 0);
    vex_index_get_options(ix, &o);
    CHECK(o.quant_m == DIM / 8 && o.quant_bits == 8 && o.quant_refine == 10.0f);
    CHECK(vex_index_code_size(ix) == DIM / 8);
    vex_search_params_init(&p);
    p.refine = 1001.0f;
    add_all(ix, 10);
    CHECK_RC(vex_index_search(ix, g_queries, K, &p, h, &n), VEX_INVALID);
    p.refine = 0.9f;
    CHECK_RC(vex_index_search(ix, g_queries, K, &p, h, &n), VEX_INVALID);
    /* too few vectors for PQ: nothing changes */
    CHECK_RC(vex_index_train(ix, NULL, 0), VEX_INVALID);
    CHECK_RC(vex_index_train(ix, g_data, 0), VEX_MISUSE);
    vex_index_free(ix);
    ix = make_index(VEX_INDEX_FLAT, VEX_METRIC_L2, VEX_QUANT_SQ8, 0, 0);
    vex_index_get_options(ix, &o);
    CHECK(o.quant_refine == 2.0f && o.quant_m == 0 && o.quant_bits == 0);
    CHECK(vex_index_code_size(ix) == DIM);
    CHECK_RC(vex_index_train(ix, g_data, 500), VEX_OK);
    CHECK_RC(vex_index_train(ix, g_data, 500), VEX_MISUSE);
    vex_index_free(ix);
}

typedef struct qcase {
    vex_quant quant;
    uint32_t m, bits;
    float refine;
    double min_recall;
} qcase;

static const qcase CASES[] = {
    {VEX_QUANT_SQ8, 0, 0, 2.0f, 0.97},  {VEX_QUANT_BQ, 0, 0, 20.0f, 0.85},
    {VEX_QUANT_PQ, 8, 8, 10.0f, 0.95},  {VEX_QUANT_PQ, 16, 4, 10.0f, 0.9},
    {VEX_QUANT_OPQ, 8, 8, 10.0f, 0.95}, {VEX_QUANT_OPQ, 16, 4, 10.0f, 0.9},
};

static void test_recall(void)
{
    static const vex_metric metrics[] = {VEX_METRIC_L2, VEX_METRIC_IP,
                                         VEX_METRIC_COSINE};
    size_t c, mi, ki;
    for (mi = 0; mi < 3; mi++) {
        vex_index *ex =
            make_index(VEX_INDEX_FLAT, metrics[mi], VEX_QUANT_NONE, 0, 0);
        add_all(ex, N);
        for (ki = 0; ki < 2; ki++) {
            vex_index_kind kind = ki ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
            for (c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
                const qcase *qc = &CASES[c];
                vex_index *ix =
                    make_index(kind, metrics[mi], qc->quant, qc->m, qc->bits);
                double r0, r;
                add_all(ix, N);
                /* untrained: full precision, exact for flat */
                r0 = recall(ix, ex, qc->refine, 0);
                if (kind == VEX_INDEX_FLAT)
                    CHECK(r0 == 1.0);
                CHECK_RC(vex_index_train(ix, NULL, 0), VEX_OK);
                r = recall(ix, ex, qc->refine, kind == VEX_INDEX_HNSW ? 64 : 0);
                CHECK_MSG(r >= qc->min_recall,
                          "%s metric %s quant %d m %u bits %u refine %g: "
                          "recall %.3f < %.2f",
                          kind == VEX_INDEX_HNSW ? "hnsw" : "flat",
                          vex_metric_name(metrics[mi]), (int)qc->quant, qc->m,
                          qc->bits, (double)qc->refine, r, qc->min_recall);
                check_exact_distances(ix, ex, qc->refine);
                vex_index_free(ix);
            }
        }
        vex_index_free(ex);
    }
}

/* Adds after training are encoded; removes move codes with vectors. */
static void test_writes_after_train(void)
{
    size_t ki;
    for (ki = 0; ki < 2; ki++) {
        vex_index_kind kind = ki ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
        vex_index *ix = make_index(kind, VEX_METRIC_L2, VEX_QUANT_SQ8, 0, 0);
        vex_index *ex =
            make_index(VEX_INDEX_FLAT, VEX_METRIC_L2, VEX_QUANT_NONE, 0, 0);
        uint64_t ids[N];
        size_t i;
        vex_hit h[K];
        size_t n;
        for (i = 0; i < N; i++)
            ids[i] = i + 1;
        /* train on a sample before any vector is in */
        CHECK_RC(vex_index_train(ix, g_data + 1000 * DIM, 1000), VEX_OK);
        for (i = 0; i < N; i += 500) {
            CHECK_RC(vex_index_add(ix, ids + i, g_data + i * DIM, 500), VEX_OK);
            CHECK_RC(vex_index_add(ex, ids + i, g_data + i * DIM, 500), VEX_OK);
        }
        for (i = 0; i < N; i += 3) {
            CHECK_RC(vex_index_remove(ix, ids[i]), VEX_OK);
            CHECK_RC(vex_index_remove(ex, ids[i]), VEX_OK);
        }
        CHECK(recall(ix, ex, 4.0f, 0) >= 0.97);
        /* a stored vector finds itself at distance 0 */
        CHECK_RC(vex_index_search(ix, g_data + 1 * DIM, 1, NULL, h, &n),
                 VEX_OK);
        CHECK(n == 1 && h[0].id == 2 && h[0].distance == 0.0f);
        CHECK_RC(vex_index_search(ix, g_data + 0 * DIM, K, NULL, h, &n),
                 VEX_OK);
        for (i = 0; i < n; i++)
            CHECK(h[i].id != 1);
        vex_index_free(ix);
        vex_index_free(ex);
    }
}

/* Parallel paths: a single query's code scan split over workers (past
 * 32k vectors) and a batch spread over them give what one thread gives.
 * Ties in code distance (frequent with the fast scan's integer sums) are
 * broken by slot, so the candidates are the same however the scan is
 * split. */
static void parallel_case(uint32_t m, uint32_t bits)
{
    enum { BIGN = 40000 };
    vex_index_options o;
    vex_index *ix = NULL;
    vex_search_params p1, p0;
    float *x = malloc(sizeof(float) * BIGN * DIM);
    uint64_t *ids = malloc(sizeof(uint64_t) * BIGN);
    vex_hit a[K], b[K], *bh = malloc(sizeof(vex_hit) * NQ * K);
    size_t na, nb, nbh[NQ], i, q;
    vex_rng r;
    vex_rng_seed(&r, test_seed(9));
    for (i = 0; i < BIGN; i++) {
        size_t j;
        ids[i] = i;
        for (j = 0; j < DIM; j++)
            x[i * DIM + j] = g_data[(i % N) * DIM + j] +
                             (float)(vex_rng_double(&r) - 0.5) * 0.1f;
    }
    vex_index_options_init(&o);
    o.dim = DIM;
    o.n_threads = 2;
    o.quant = VEX_QUANT_PQ;
    o.quant_m = m;
    o.quant_bits = bits;
    CHECK_RC(vex_index_create(&o, &ix), VEX_OK);
    CHECK_RC(vex_index_add(ix, ids, x, BIGN), VEX_OK);
    CHECK_RC(vex_index_train(ix, x, 5000), VEX_OK);
    vex_search_params_init(&p1);
    p1.n_threads = 1;
    vex_search_params_init(&p0);
    CHECK_RC(vex_index_search_batch(ix, g_queries, NQ, K, &p0, bh, nbh),
             VEX_OK);
    for (q = 0; q < NQ; q++) {
        CHECK_RC(vex_index_search(ix, g_queries + q * DIM, K, &p1, a, &na),
                 VEX_OK);
        CHECK_RC(vex_index_search(ix, g_queries + q * DIM, K, &p0, b, &nb),
                 VEX_OK);
        CHECK(na == K && nb == K && nbh[q] == K);
        for (i = 0; i < K && i < na && i < nb; i++) {
            CHECK(a[i].id == b[i].id && a[i].distance == b[i].distance);
            CHECK(a[i].id == bh[q * K + i].id &&
                  a[i].distance == bh[q * K + i].distance);
        }
    }
    vex_index_free(ix);
    free(x);
    free(ids);
    free(bh);
}

/* 8-bit codes, and 4-bit ones through flat's fast scan, whose chunks must
 * start on 32-row blocks (40000 rows: a partial last block). */
static void test_parallel(void)
{
    parallel_case(8, 8);
    parallel_case(16, 4);
}

static unsigned char *blob_of(vex_index *ix, uint64_t *size)
{
    uint64_t need = 0;
    unsigned char *b;
    CHECK_RC(vex_index_serialize(ix, NULL, 0, &need), VEX_FULL);
    b = aligned_alloc(64, (need + 63) / 64 * 64);
    CHECK_RC(vex_index_serialize(ix, b, need, size), VEX_OK);
    return b;
}

static void same_results(vex_index *a, vex_index *b)
{
    vex_hit ha[K], hb[K];
    size_t na, nb, q, i;
    for (q = 0; q < NQ; q++) {
        CHECK_RC(vex_index_search(a, g_queries + q * DIM, K, NULL, ha, &na),
                 VEX_OK);
        CHECK_RC(vex_index_search(b, g_queries + q * DIM, K, NULL, hb, &nb),
                 VEX_OK);
        CHECK(na == nb);
        for (i = 0; i < na && i < nb; i++)
            CHECK(ha[i].id == hb[i].id && ha[i].distance == hb[i].distance);
    }
}

static int open_rc(const unsigned char *b, uint64_t size, uint32_t flags)
{
    vex_open_options oo;
    vex_index *ix = NULL;
    int rc;
    vex_open_options_init(&oo);
    oo.n_threads = 1;
    oo.flags = flags;
    rc = vex_index_open_buffer(b, size, &oo, &ix);
    if (rc != VEX_OK)
        CHECK(strlen(vex_index_errmsg(ix)) > 0);
    vex_index_free(ix);
    return rc;
}

/* open_rc of b's bytes copied to d under the header `info` (edited by the
 * caller), re-sealed so that only the checks behind the CRCs can refuse */
static int resealed_rc(const unsigned char *b, uint64_t size, unsigned char *d,
                       vex_blob_info info)
{
    memcpy(d, b, size);
    vx_blob_finish(&info, d);
    return open_rc(d, size, 0);
}

static void test_serialize(void)
{
    static const vex_quant qs[] = {VEX_QUANT_SQ8, VEX_QUANT_BQ, VEX_QUANT_PQ,
                                   VEX_QUANT_OPQ};
    size_t ki, qi;
    for (ki = 0; ki < 2; ki++) {
        for (qi = 0; qi < 4; qi++) {
            vex_index_kind kind = ki ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
            vex_index *ix = make_index(kind, VEX_METRIC_COSINE, qs[qi], 0, 0),
                      *back = NULL;
            vex_open_options oo;
            vex_index_options o1, o2;
            vex_blob_info info;
            vex_err e;
            uint64_t size;
            unsigned char *b;
            const vex_blob_section *sq, *sc;
            int flags;

            add_all(ix, 1000);
            /* untrained: a version-3 blob without codes */
            b = blob_of(ix, &size);
            CHECK(b[8] == 3);
            vex_open_options_init(&oo);
            oo.n_threads = 1;
            CHECK_RC(vex_index_open_buffer(b, size, &oo, &back), VEX_OK);
            same_results(ix, back);
            vex_index_get_options(ix, &o1);
            vex_index_get_options(back, &o2);
            CHECK(o1.quant == o2.quant && o1.quant_m == o2.quant_m &&
                  o1.quant_bits == o2.quant_bits &&
                  o1.quant_refine == o2.quant_refine);
            /* the reopened index can still be trained */
            CHECK_RC(vex_index_train(back, NULL, 0), VEX_OK);
            vex_index_free(back);
            free(b);

            CHECK_RC(vex_index_train(ix, NULL, 0), VEX_OK);
            b = blob_of(ix, &size);
            for (flags = 0; flags < 2; flags++) {
                oo.flags = flags ? VEX_OPEN_COPY : 0;
                back = NULL;
                CHECK_RC(vex_index_open_buffer(b, size, &oo, &back), VEX_OK);
                same_results(ix, back);
                CHECK(vex_index_code_size(back) == vex_index_code_size(ix));
                {
                    /* written again byte for byte: an HNSW index built
                     * here (vectors in its slots) and one opened from its
                     * blob (vectors apart) write the same layout */
                    uint64_t s2 = 0;
                    unsigned char *b2 = blob_of(back, &s2);
                    CHECK(s2 == size && memcmp(b2, b, (size_t)size) == 0);
                    free(b2);
                }
                CHECK_RC(vex_index_train(back, NULL, 0), VEX_MISUSE);
                same_results(ix, back); /* a refused train changes nothing */
                /* writes after open (copy on write of borrowed codes) */
                {
                    uint64_t id = 5000;
                    vex_hit h;
                    size_t n;
                    CHECK_RC(vex_index_add(back, &id, g_data + 2000 * DIM, 1),
                             VEX_OK);
                    CHECK_RC(vex_index_search(back, g_data + 2000 * DIM, 1,
                                              NULL, &h, &n),
                             VEX_OK);
                    CHECK(n == 1 && h.id == 5000);
                }
                vex_index_free(back);
            }

            /* damage behind valid checksums */
            vx_err_init(&e);
            CHECK_RC(vx_blob_parse(b, size, &info, &e), VEX_OK);
            sq = vx_blob_find(&info, VEX_SEC_QUANTIZER);
            sc = vx_blob_find(&info, VEX_SEC_CODES);
            CHECK(sq != NULL && sc != NULL);
            if (sq && sc) {
                unsigned char *d = malloc(size);
                uint64_t off;
                /* every 7th byte of the quantizer section flipped: the
                 * quantizer's own checks reject it */
                for (off = 0; off < sq->length; off += 7) {
                    vex_blob_info i2 = info;
                    memcpy(d, b, size);
                    d[sq->offset + off] ^= 0x20;
                    vx_blob_finish(&i2, d);
                    CHECK_MSG(open_rc(d, size, 0) == VEX_CORRUPT,
                              "quantizer byte %llu", (unsigned long long)off);
                }
                /* section flipped without resealing: the CRC */
                memcpy(d, b, size);
                d[sq->offset + 3] ^= 1;
                CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                /* header quantizer fields that disagree with the section */
                {
                    vex_blob_info i2 = info;
                    i2.quant_m = info.quant_m + 1;
                    if (info.quant == VEX_QUANT_SQ8 ||
                        info.quant == VEX_QUANT_BQ)
                        i2.quant = info.quant == VEX_QUANT_SQ8 ? VEX_QUANT_BQ
                                                               : VEX_QUANT_SQ8;
                    CHECK(resealed_rc(b, size, d, i2) == VEX_CORRUPT);
                    i2 = info;
                    i2.quant_refine = 0.0f;
                    CHECK(resealed_rc(b, size, d, i2) == VEX_CORRUPT);
                    /* codes section a code short */
                    i2 = info;
                    i2.sec[sc - info.sec].length -= 1;
                    CHECK(resealed_rc(b, size, d, i2) == VEX_CORRUPT);
                    /* the quantizer section dropped, codes kept */
                    i2 = info;
                    i2.sec[sq - info.sec].id = 77;
                    CHECK(resealed_rc(b, size, d, i2) == VEX_CORRUPT);
                    /* a version-1 header (no quantizer) with the sections */
                    i2 = info;
                    i2.quant = 0;
                    CHECK(resealed_rc(b, size, d, i2) == VEX_CORRUPT);
                    /* version 2, the development layout: refused as such */
                    memcpy(d, b, size);
                    vex_put_u32le(d + 8, 2);
                    vex_put_u32le(d + 380, vex_crc32c(d, 380));
                    CHECK(open_rc(d, size, 0) == VEX_UNSUPPORTED);
                    /* HNSW keeps its vectors in a section of their own:
                     * without it, or a vector short, the blob is refused */
                    if (kind == VEX_INDEX_HNSW) {
                        const vex_blob_section *sv =
                            vx_blob_find(&info, VEX_SEC_VECTORS);
                        CHECK(sv != NULL &&
                              sv->length == (uint64_t)1000 * (DIM + 1) * 4);
                        if (sv) {
                            i2 = info;
                            i2.sec[sv - info.sec].id = 78;
                            CHECK(resealed_rc(b, size, d, i2) == VEX_CORRUPT);
                            i2 = info;
                            i2.sec[sv - info.sec].length -= DIM * 4;
                            CHECK(resealed_rc(b, size, d, i2) == VEX_CORRUPT);
                            /* a non-finite vector behind a valid CRC */
                            i2 = info;
                            memcpy(d, b, size);
                            memcpy(d + sv->offset + 4 * 17, &(float){NAN}, 4);
                            vx_blob_finish(&i2, d);
                            CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                        }
                    }
                }
                free(d);
            }
            vx_err_destroy(&e);
            free(b);
            vex_index_free(ix);
        }
    }
}

/* ---- flat on 4-bit codes: the fast scan ------------------------------ */

/* The sections of a serialised index this file looks into. */
typedef struct blob_view {
    unsigned char *b;
    uint64_t size;
    vex_blob_info info;
    const vex_blob_section *vecs, *ids, *quant, *codes;
} blob_view;

static int blob_view_of(vex_index *ix, blob_view *v)
{
    vex_err e;
    int rc;
    memset(v, 0, sizeof *v);
    v->b = blob_of(ix, &v->size);
    vx_err_init(&e);
    rc = vx_blob_parse(v->b, v->size, &v->info, &e);
    CHECK_RC(rc, VEX_OK);
    vx_err_destroy(&e);
    if (rc != VEX_OK)
        return 0;
    v->vecs = vx_blob_find(&v->info, VEX_SEC_VECTORS);
    v->ids = vx_blob_find(&v->info, VEX_SEC_IDS);
    v->quant = vx_blob_find(&v->info, VEX_SEC_QUANTIZER);
    v->codes = vx_blob_find(&v->info, VEX_SEC_CODES);
    CHECK(v->vecs && v->ids && v->quant && v->codes);
    return v->vecs && v->ids && v->quant && v->codes;
}

/* recall@K (counted like recall()) of the plain ADC path on ix's codes:
 * every code scored with the float tables (vx_vq_dc_scan, what flat used for
 * 4-bit codes before the fast scan), the nearest ceil(r * K) by (code
 * distance, slot) reranked by their exact distance from ex. The ids of ix
 * must be 1..N, as add_all gives them. */
static double adc_recall(vex_index *ix, vex_index *ex, float r)
{
    blob_view v;
    vex_mem mem;
    vq_quantizer *q = NULL;
    vq_dc *dc = NULL;
    size_t nc = (size_t)ceilf(r * K), n, q_i, i, hit = 0;
    float *adc = malloc(sizeof(float) * N), *exact = malloc(sizeof(float) * N);
    vex_hit *cand = malloc(sizeof(vex_hit) * nc),
            *all = malloc(sizeof(vex_hit) * N);
    double res = 0;
    vx_mem_init(&mem, NULL);
    if (!blob_view_of(ix, &v))
        goto done;
    n = (size_t)v.info.n_slots;
    CHECK(n == N);
    CHECK_RC(vx_vq_deserialize(&mem, v.b + v.quant->offset,
                               (size_t)v.quant->length, &q, NULL),
             VEX_OK);
    if (q == NULL || n != N)
        goto done;
    CHECK_RC(vx_vq_dc_create(q, 0, &dc), VEX_OK);
    for (q_i = 0; q_i < NQ; q_i++) {
        const float *qv = g_queries + q_i * DIM;
        vex_topk tc, tb;
        vex_hit best[K];
        size_t na, nb;
        float bound;
        CHECK_RC(vx_vq_dc_set_query(dc, qv), VEX_OK);
        vx_vq_dc_scan(dc, v.b + v.codes->offset, n, adc);
        vex_topk_init(&tc, cand, nc);
        for (i = 0; i < n; i++)
            vex_topk_push(&tc, adc[i], i);
        CHECK_RC(vex_index_search(ex, qv, N, NULL, all, &na), VEX_OK);
        for (i = 0; i < na; i++)
            exact[all[i].id - 1] = all[i].distance;
        vex_topk_init(&tb, best, K);
        for (i = 0; i < tc.n; i++) {
            uint64_t id = vex_get_u64le(v.b + v.ids->offset + 8 * tc.h[i].id);
            vex_topk_push(&tb, exact[id - 1], id);
        }
        nb = vx_topk_sort(&tb);
        bound =
            all[K - 1].distance + 1e-5f * fabsf(all[K - 1].distance) + 1e-6f;
        for (i = 0; i < nb; i++)
            hit += best[i].distance <= bound;
    }
    res = (double)hit / (double)(NQ * K);
done:
    vx_vq_dc_destroy(dc);
    vx_vq_destroy(q);
    free(v.b);
    free(adc);
    free(exact);
    free(cand);
    free(all);
    return res;
}

/* Flat on 4-bit PQ/OPQ codes ranks candidates with the fast scan's
 * approximate distances: recall after the rerank must stay within a small
 * margin of the plain ADC path's on the same codes (and is printed next
 * to 8-bit PQ at the same code size), and the returned distances are the
 * exact ones. */
static void test_pq4_recall(void)
{
    static const vex_metric metrics[] = {VEX_METRIC_L2, VEX_METRIC_IP,
                                         VEX_METRIC_COSINE};
    static const float refines[] = {1.0f, 2.0f, 5.0f};
    size_t mi, qi, ri;
    for (mi = 0; mi < 3; mi++) {
        vex_index *ex =
            make_index(VEX_INDEX_FLAT, metrics[mi], VEX_QUANT_NONE, 0, 0);
        vex_index *p8 =
            make_index(VEX_INDEX_FLAT, metrics[mi], VEX_QUANT_PQ, DIM / 4, 8);
        add_all(ex, N);
        add_all(p8, N);
        CHECK_RC(vex_index_train(p8, NULL, 0), VEX_OK);
        for (qi = 0; qi < 2; qi++) {
            vex_quant quant = qi ? VEX_QUANT_OPQ : VEX_QUANT_PQ;
            /* M = DIM / 2 at 4 bits: DIM / 4 bytes, as p8 */
            vex_index *ix =
                make_index(VEX_INDEX_FLAT, metrics[mi], quant, DIM / 2, 4);
            add_all(ix, N);
            CHECK_RC(vex_index_train(ix, NULL, 0), VEX_OK);
            CHECK(vex_index_code_size(ix) == vex_index_code_size(p8));
            for (ri = 0; ri < 3; ri++) {
                float r = refines[ri];
                double fast = recall(ix, ex, r, 0), adc = adc_recall(ix, ex, r);
                double r8 = recall(p8, ex, r, 0);
                fprintf(stderr,
                        "     flat %s %s4 M=%d refine %g: recall@%d fast "
                        "scan %.3f, float ADC %.3f; pq8 M=%d %.3f\n",
                        vex_metric_name(metrics[mi]), qi ? "opq" : "pq",
                        DIM / 2, (double)r, K, fast, adc, DIM / 4, r8);
                /* the 8-bit tables cost at most a few candidates (seen:
                 * within 0.01 either way; test_recall checks the absolute
                 * recall at refine 10) */
                CHECK_MSG(fast >= adc - 0.03, "fast %.3f adc %.3f", fast, adc);
            }
            check_exact_distances(ix, ex, 2.0f);
            vex_index_free(ix);
        }
        vex_index_free(p8);
        vex_index_free(ex);
    }
}

/* Same ids and the same distances from both, for `nq` queries at q. */
static void same_results_q(vex_index *a, vex_index *b, const float *q,
                           size_t nq, float refine)
{
    vex_search_params p;
    vex_hit ha[K], hb[K];
    size_t na, nb, i, j;
    vex_search_params_init(&p);
    p.refine = refine;
    for (i = 0; i < nq; i++) {
        CHECK_RC(vex_index_search(a, q + i * DIM, K, &p, ha, &na), VEX_OK);
        CHECK_RC(vex_index_search(b, q + i * DIM, K, &p, hb, &nb), VEX_OK);
        CHECK_MSG(na == nb, "query %zu refine %g: %zu vs %zu hits", i,
                  (double)refine, na, nb);
        for (j = 0; j < na && j < nb; j++)
            CHECK_MSG(ha[j].id == hb[j].id && ha[j].distance == hb[j].distance,
                      "query %zu refine %g hit %zu: id %llu (%g) vs %llu (%g)",
                      i, (double)refine, j, (unsigned long long)ha[j].id,
                      (double)ha[j].distance, (unsigned long long)hb[j].id,
                      (double)hb[j].distance);
    }
}

/* a and b answer alike: the test queries, and the vectors of every 5th
 * slot of a (from its blob) as queries, at refine 1 (candidates = K, so a
 * stale code of one slot shows) and 4. */
static void same_answers(vex_index *a, vex_index *b)
{
    blob_view v;
    size_t n, i, nq = 0;
    float *qs;
    same_results_q(a, b, g_queries, NQ, 4.0f);
    if (!blob_view_of(a, &v)) {
        free(v.b);
        return;
    }
    n = (size_t)v.info.n_slots;
    qs = malloc(sizeof(float) * DIM * (n / 5 + 1));
    for (i = 0; i < n; i += 5)
        memcpy(qs + DIM * nq++, v.b + v.vecs->offset + i * DIM * sizeof(float),
               DIM * sizeof(float));
    same_results_q(a, b, qs, nq, 1.0f);
    same_results_q(a, b, qs, nq, 4.0f);
    free(qs);
    free(v.b);
}

/* A fresh flat index with ix's quantizer (trained on the same sample) and
 * ix's vectors in ix's slot order, taken from its blob. */
static vex_index *rebuild(vex_index *ix, vex_metric metric, vex_quant quant,
                          const float *sample, size_t n_sample)
{
    blob_view v;
    vex_index *fresh = make_index(VEX_INDEX_FLAT, metric, quant, DIM / 2, 4);
    CHECK_RC(vex_index_train(fresh, sample, n_sample), VEX_OK);
    if (blob_view_of(ix, &v)) {
        size_t n = (size_t)v.info.n_slots, i;
        uint64_t *ids = malloc(sizeof(uint64_t) * (n + 1));
        float *x = malloc(sizeof(float) * DIM * (n + 1));
        for (i = 0; i < n; i++)
            ids[i] = vex_get_u64le(v.b + v.ids->offset + 8 * i);
        memcpy(x, v.b + v.vecs->offset, n * DIM * sizeof(float));
        CHECK_RC(vex_index_add(fresh, ids, x, n), VEX_OK);
        free(ids);
        free(x);
    }
    free(v.b);
    return fresh;
}

/* The block copy follows every write. A trained flat pq4/opq4 index
 * grown by small adds (odd sizes, so writes straddle 32-row blocks and
 * the code arrays grow several times), then removes (each moves the last
 * slot into the hole) and more adds, must answer exactly like a fresh
 * index built from its surviving vectors in the same slot order with the
 * same quantizer: the fresh one packs its codes once, the mutated one got
 * them lane by lane. Then the same after serialise -> open (copied and
 * borrowed: the block copy is rebuilt from the blob's plain codes) and
 * after writes to the reopened index. */
static void test_pq4_writes(void)
{
    size_t qi;
    for (qi = 0; qi < 2; qi++) {
        vex_quant quant = qi ? VEX_QUANT_OPQ : VEX_QUANT_PQ;
        vex_metric metric = qi ? VEX_METRIC_COSINE : VEX_METRIC_L2;
        vex_index *ix = make_index(VEX_INDEX_FLAT, metric, quant, DIM / 2, 4);
        vex_index *fresh, *back;
        const float *sample = g_data + 1000 * DIM;
        uint64_t *ids = malloc(sizeof(uint64_t) * N);
        float *moved = malloc(sizeof(float) * N * DIM);
        vex_open_options oo;
        blob_view v0, v1;
        size_t i, step;
        int flags;
        vex_rng r;
        memset(&v0, 0, sizeof v0);
        memset(&v1, 0, sizeof v1);
        vex_rng_seed(&r, test_seed(21));
        for (i = 0; i < N; i++)
            ids[i] = i + 1;
        CHECK_RC(vex_index_train(ix, sample, 1000), VEX_OK);
        for (i = 0; i < 2000; i += step) {
            step = 1 + (size_t)(vex_rng_next(&r) % 97);
            if (i + step > 2000)
                step = 2000 - i;
            CHECK_RC(vex_index_add(ix, ids + i, g_data + i * DIM, step),
                     VEX_OK);
        }
        /* removes in a scattered order, including the last slot */
        for (i = 0; i < 2000; i += 3)
            CHECK_RC(vex_index_remove(ix, ids[(i * 7) % 2000]), VEX_OK);
        CHECK_RC(vex_index_remove(ix, ids[1999]), VEX_OK);
        /* new vectors (shifted copies) under new ids, then more removes */
        for (i = 0; i < N; i++) {
            size_t j;
            for (j = 0; j < DIM; j++)
                moved[i * DIM + j] = g_data[i * DIM + j] + 0.05f;
        }
        CHECK_RC(vex_index_add(ix, ids + 2000, moved + 2000 * DIM, 700),
                 VEX_OK);
        for (i = 2000; i < 2700; i += 4)
            CHECK_RC(vex_index_remove(ix, ids[i]), VEX_OK);
        CHECK_RC(vex_index_check(ix), VEX_OK);

        fresh = rebuild(ix, metric, quant, sample, 1000);
        /* the same quantizer and the same plain codes in the same order */
        if (blob_view_of(ix, &v0) && blob_view_of(fresh, &v1)) {
            CHECK(v0.quant->length == v1.quant->length &&
                  memcmp(v0.b + v0.quant->offset, v1.b + v1.quant->offset,
                         (size_t)v0.quant->length) == 0);
            CHECK(v0.codes->length == v1.codes->length &&
                  memcmp(v0.b + v0.codes->offset, v1.b + v1.codes->offset,
                         (size_t)v0.codes->length) == 0);
        }
        free(v1.b);
        same_answers(ix, fresh);

        /* reopen: the block copy rebuilt from the plain codes */
        vex_open_options_init(&oo);
        oo.n_threads = 1;
        for (flags = 0; flags < 2; flags++) {
            uint64_t id;
            if (v0.b == NULL)
                break;
            oo.flags = flags ? VEX_OPEN_COPY : 0;
            back = NULL;
            CHECK_RC(vex_index_open_buffer(v0.b, v0.size, &oo, &back), VEX_OK);
            if (back == NULL)
                continue;
            same_answers(ix, back);
            same_answers(back, fresh);
            /* writes after open: growth past the blob's size, moves */
            for (i = 2700; i < 2900; i += 50)
                CHECK_RC(vex_index_add(back, ids + i, moved + i * DIM, 50),
                         VEX_OK);
            /* i = 1 mod 3: ids the first removes left (7 is invertible
             * mod 2000, and ids[1999] is 7 * 857) */
            for (i = 1; i < 2000; i += 9) {
                id = ids[(i * 7) % 2000];
                CHECK_RC(vex_index_remove(back, id), VEX_OK);
            }
            {
                vex_index *fresh2 = rebuild(back, metric, quant, sample, 1000);
                same_answers(back, fresh2);
                vex_index_free(fresh2);
            }
            vex_index_free(back);
        }
        free(v0.b);
        vex_index_free(fresh);
        vex_index_free(ix);
        free(ids);
        free(moved);
    }
}

/* ---- collections --------------------------------------------------- */

static char g_root[256];

static vex_db *open_db(int create)
{
    vex_db_options o;
    vex_db *db = NULL;
    vex_db_options_init(&o);
    o.create_if_missing = create;
    o.n_threads = 2;
    o.compact_min_merge = 0; /* merges only when the test asks */
    CHECK_RC(vex_db_open(g_root, &o, &db), VEX_OK);
    return db;
}

/* A new database in a new temporary directory (g_root), or NULL. */
static vex_db *fresh_db(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/vex_test_qcoll_XXXXXX");
    if (mkdtemp(g_root) == NULL) {
        CHECK(0);
        return NULL;
    }
    rmdir(g_root);
    return open_db(1);
}

/* recall of collection search against the exact index, and exact
 * distances in the results */
static double coll_recall(vex_collection *c, vex_index *ex, float refine)
{
    vex_search_params p;
    vex_hit got[K], want[K];
    size_t ng, nw, q, i, hit = 0;
    vex_search_params_init(&p);
    p.refine = refine;
    for (q = 0; q < NQ; q++) {
        float bound;
        CHECK_RC(vex_search(c, g_queries + q * DIM, K, &p, got, NULL, &ng),
                 VEX_OK);
        CHECK_RC(vex_index_search(ex, g_queries + q * DIM, K, NULL, want, &nw),
                 VEX_OK);
        if (ng != K || nw != K) {
            CHECK(0);
            continue;
        }
        bound =
            want[K - 1].distance + 1e-5f * fabsf(want[K - 1].distance) + 1e-6f;
        for (i = 0; i < ng; i++)
            hit += got[i].distance <= bound;
    }
    return (double)hit / (double)(NQ * K);
}

/* Whole pages of [p, p + len) mapped into this process now (bit 63 of
 * /proc/self/pagemap), into *present of *total; -1 without pagemap. */
static int pages_present(const void *p, size_t len, size_t *present,
                         size_t *total)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)p + len) / page * page, a;
    FILE *f = fopen("/proc/self/pagemap", "rb");
    *present = *total = 0;
    if (f == NULL)
        return -1;
    for (a = lo; a < hi; a += page) {
        uint64_t e = 0;
        if (fseek(f, (long)(a / page * 8), SEEK_SET) != 0 ||
            fread(&e, 8, 1, f) != 1) {
            fclose(f);
            return -1;
        }
        *present += (size_t)(e >> 63);
        (*total)++;
    }
    fclose(f);
    return 0;
}

/* The segment file of collection `name` (the only one) in path. */
static int seg_path_of(const char *name, char *path, size_t size)
{
    char dir[512];
    DIR *d;
    struct dirent *e;
    int found = 0;
    snprintf(dir, sizeof dir, "%s/collections/%s", g_root, name);
    d = opendir(dir);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "seg-", 4) == 0) {
            snprintf(path, size, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    return found == 1 ? 0 : -1;
}

/* A quantized segment opened from its mapped file: once the index is
 * open, its full vectors (read only to rerank) are no longer mapped into
 * the process, the codes are; a search reads the vectors back from the
 * file and returns exact distances. */
static void check_cold_vectors(const char *name, vex_index *ex)
{
    char path[1024];
    vex_vfs *vfs = NULL;
    vex_mem mem;
    vex_err err;
    vseg *v = NULL;
    vex_index *ix = NULL;
    const void *blob = NULL;
    uint64_t size = 0, off = 0, len = 0, number = 0;
    size_t present = 0, total = 0, cp = 0, ct = 0;
    int rc;
    vex_blob_info info;
    const vex_blob_section *sc;
    vex_hit got[K], want[K];
    size_t ng = 0, nw = 0, i;
    vex_search_params p;

    vx_err_init(&err);
    CHECK(seg_path_of(name, path, sizeof path) == 0);
    CHECK_RC(vx_mem_init(&mem, NULL), VEX_OK);
    CHECK_RC(vx_vfs_posix_create(NULL, &vfs), VEX_OK);
    CHECK(vx_seg_parse_name(strrchr(path, '/') + 1, &number) == 1);
    CHECK_RC(vx_vseg_open(vfs, path, number, &mem, NULL, NULL, &err, &v),
             VEX_OK);
    if (v == NULL)
        goto done;
    CHECK_RC(vx_vseg_index(v, &ix, &err), VEX_OK);
    CHECK_RC(vx_seg_index(v->s, &blob, &size, &err), VEX_OK);
    CHECK(vx_blob_cold_range(blob, size, &off, &len) == 1);
    CHECK(len == (uint64_t)vex_index_count(ix) * (DIM + 1) * sizeof(float));
    /* counted before anything else reads the blob (vx_blob_parse below
     * checks every section's CRC, which maps every page again) */
    rc = pages_present((const unsigned char *)blob + off, (size_t)len, &present,
                       &total);
    CHECK(vx_blob_parse(blob, size, &info, &err) == VEX_OK);
    if (rc != 0) {
        fprintf(stderr, "     (skipped the residency check: no "
                        "/proc/self/pagemap)\n");
    } else {
        sc = vx_blob_find(&info, VEX_SEC_CODES);
        CHECK(sc != NULL);
        if (sc)
            pages_present((const unsigned char *)blob + sc->offset,
                          (size_t)sc->length, &cp, &ct);
        fprintf(stderr,
                "     after open: %zu of %zu vector pages mapped, %zu of "
                "%zu code pages\n",
                present, total, cp, ct);
        CHECK(total >= 50 && present == 0);
        CHECK(ct > 0 && cp == ct);
    }
    /* the vectors read back from the file: exact distances */
    vex_search_params_init(&p);
    p.refine = 2.0f;
    CHECK_RC(vex_index_search(ix, g_queries, K, &p, got, &ng), VEX_OK);
    CHECK_RC(vex_index_search(ex, g_queries, K, NULL, want, &nw), VEX_OK);
    CHECK(ng == K && nw == K);
    for (i = 0; i < ng; i++) {
        float x[DIM], d = 0.0f;
        size_t j;
        /* the segment's index holds keys; ex holds the user ids */
        CHECK_RC(vex_index_get(ex, vx_seg_key_id(v->s, got[i].id), x), VEX_OK);
        for (j = 0; j < DIM; j++)
            d += (g_queries[j] - x[j]) * (g_queries[j] - x[j]);
        CHECK_MSG(fabsf(d - got[i].distance) <= 1e-4f * d + 1e-5f,
                  "hit %zu: distance %g, exact %g", i, (double)got[i].distance,
                  (double)d);
    }
    CHECK(ng > 0 && got[0].distance >= want[0].distance - 1e-5f);
done:
    if (v)
        vx_vseg_unref(v);
    if (vfs)
        vfs->methods->destroy(vfs);
    vx_err_destroy(&err);
}

/* The index blob of the only segment file of collection `name`: file
 * bytes in *file (malloc), blob offset and parsed header. 0 on success. */
static int seg_blob(const char *name, unsigned char **file, size_t *fsize,
                    size_t *off, vex_blob_info *info)
{
    char path[1024];
    FILE *f;
    size_t at;
    vex_err err;
    if (seg_path_of(name, path, sizeof path) != 0 ||
        (f = fopen(path, "rb")) == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    *fsize = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *file = malloc(*fsize);
    if (fread(*file, 1, *fsize, f) != *fsize) {
        fclose(f);
        return -1;
    }
    fclose(f);
    for (at = 4096; at + 384 <= *fsize; at += 4096) {
        uint64_t total;
        if (memcmp(*file + at, "VEXINDEX", 8) != 0)
            continue;
        memcpy(&total, *file + at + 96, 8); /* little-endian host */
        vx_err_init(&err);
        if (total <= *fsize - at &&
            vx_blob_parse(*file + at, total, info, &err) == VEX_OK) {
            vx_err_destroy(&err);
            *off = at;
            return 0;
        }
        vx_err_destroy(&err);
    }
    return -1;
}

static void test_collection(void)
{
    vex_db *db;
    vex_collection *c = NULL, *plain = NULL;
    vex_collection_config cfg, got;
    vex_index *ex;
    vex_search_params p;
    vex_hit h[K];
    size_t n, i, fsize, off;
    unsigned char *file = NULL;
    vex_blob_info info;
    double r_before;
    const vex_blob_section *sq;
    FILE *f;
    char cmd[512];

    db = fresh_db();
    if (db == NULL)
        return;
    ex = make_index(VEX_INDEX_FLAT, VEX_METRIC_L2, VEX_QUANT_NONE, 0, 0);

    /* bad configurations are refused */
    vex_collection_config_init(&cfg);
    CHECK(cfg.quant == VEX_QUANT_NONE);
    cfg.dim = DIM;
    cfg.quant = VEX_QUANT_SQ8;
    cfg.quant_m = 4;
    CHECK_RC(vex_collection_create(db, "bad", &cfg, NULL), VEX_INVALID);
    cfg.quant_m = 0;
    cfg.quant_refine = 0.5f;
    CHECK_RC(vex_collection_create(db, "bad", &cfg, NULL), VEX_INVALID);
    cfg.quant = VEX_QUANT_NONE;
    cfg.quant_refine = 0.0f;
    CHECK_RC(vex_collection_create(db, "plain", &cfg, &plain), VEX_OK);
    vex_search_params_init(&p);
    p.refine = 2.0f;
    CHECK_RC(vex_search(plain, g_queries, K, &p, h, NULL, &n), VEX_INVALID);

    /* HNSW collection on SQ8 codes */
    cfg.quant = VEX_QUANT_SQ8;
    CHECK_RC(vex_collection_create(db, "q", &cfg, &c), VEX_OK);
    vex_collection_get_config(c, &got);
    CHECK(got.quant == VEX_QUANT_SQ8 && got.quant_refine == 2.0f);
    for (i = 0; i < N; i++) {
        uint64_t id = i + 1;
        CHECK_RC(vex_insert(c, id, g_data + i * DIM), VEX_OK);
        if (i < N / 2)
            CHECK_RC(vex_index_add(ex, &id, g_data + i * DIM, 1), VEX_OK);
        if (i == N / 2 - 1)
            CHECK_RC(vex_flush(c), VEX_OK); /* segment 1 */
    }
    for (i = N / 2; i < N; i++) { /* the second half, with a third deleted */
        uint64_t id = i + 1;
        if (i % 3 == 0)
            CHECK_RC(vex_delete(c, id), VEX_OK);
        else
            CHECK_RC(vex_index_add(ex, &id, g_data + i * DIM, 1), VEX_OK);
    }
    CHECK_RC(vex_flush(c), VEX_OK); /* segment 2 */
    CHECK(coll_recall(c, ex, 4.0f) >= 0.97);
    CHECK_RC(vex_compact(c), VEX_OK); /* one merged segment */
    r_before = coll_recall(c, ex, 4.0f);
    CHECK_MSG(r_before >= 0.97, "recall after compaction %.3f", r_before);
    p.refine = 1001.0f;
    CHECK_RC(vex_search(c, g_queries, K, &p, h, NULL, &n), VEX_INVALID);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* the merged segment holds a codebook and codes; its full vectors
     * stay on disk once opened */
    check_cold_vectors("q", ex);
    CHECK(seg_blob("q", &file, &fsize, &off, &info) == 0);
    sq = vx_blob_find(&info, VEX_SEC_QUANTIZER);
    CHECK(info.quant == VEX_QUANT_SQ8 && sq != NULL &&
          vx_blob_find(&info, VEX_SEC_CODES) != NULL);

    /* reopen: configuration and results kept */
    db = open_db(0);
    if (db == NULL)
        goto done;
    CHECK_RC(vex_collection_open(db, "q", &c), VEX_OK);
    vex_collection_get_config(c, &got);
    CHECK(got.quant == VEX_QUANT_SQ8 && got.quant_refine == 2.0f &&
          got.quant_m == 0 && got.quant_bits == 0);
    CHECK(coll_recall(c, ex, 4.0f) == r_before);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* a damaged codebook in the segment file: VEX_CORRUPT, not a crash */
    if (sq) {
        char path[1024] = "";
        CHECK(seg_path_of("q", path, sizeof path) == 0);
        file[off + sq->offset + 40] ^= 0x10;
        f = fopen(path, "wb");
        CHECK(f != NULL && fwrite(file, 1, fsize, f) == fsize);
        if (f)
            fclose(f);
        db = open_db(0);
        if (db) {
            int rc = vex_collection_open(db, "q", &c);
            if (rc == VEX_OK)
                rc = vex_search(c, g_queries, K, NULL, h, NULL, &n);
            CHECK_RC(rc, VEX_CORRUPT);
            vex_db_close(db);
        }
    }
done:
    free(file);
    vex_index_free(ex);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_root);
}

/* A flat collection on 4-bit PQ codes (cosine), through flush. */
static void test_collection_flat_pq(void)
{
    vex_db *db;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_index *ex;
    size_t i;
    char cmd[512];
    db = fresh_db();
    if (db == NULL)
        return;
    ex = make_index(VEX_INDEX_FLAT, VEX_METRIC_COSINE, VEX_QUANT_NONE, 0, 0);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.metric = VEX_METRIC_COSINE;
    cfg.index_kind = VEX_INDEX_FLAT;
    cfg.quant = VEX_QUANT_PQ;
    cfg.quant_bits = 4;
    CHECK_RC(vex_collection_create(db, "p", &cfg, &c), VEX_OK);
    for (i = 0; i < N; i++) {
        uint64_t id = i + 1;
        CHECK_RC(vex_insert(c, id, g_data + i * DIM), VEX_OK);
        CHECK_RC(vex_index_add(ex, &id, g_data + i * DIM, 1), VEX_OK);
    }
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK(coll_recall(c, ex, 10.0f) >= 0.9);
    CHECK_RC(vex_db_close(db), VEX_OK);
    db = open_db(0);
    if (db) {
        vex_collection_config got;
        CHECK_RC(vex_collection_open(db, "p", &c), VEX_OK);
        vex_collection_get_config(c, &got);
        CHECK(got.quant == VEX_QUANT_PQ && got.quant_bits == 4 &&
              got.quant_m == DIM / 4 && got.quant_refine == 10.0f);
        CHECK(coll_recall(c, ex, 10.0f) >= 0.9);
        vex_db_close(db);
    }
    {
        unsigned char *file = NULL;
        size_t fsize, off;
        vex_blob_info info;
        CHECK(seg_blob("p", &file, &fsize, &off, &info) == 0);
        CHECK(info.quant == VEX_QUANT_PQ &&
              vx_blob_find(&info, VEX_SEC_QUANTIZER) != NULL);
        free(file);
    }
    vex_index_free(ex);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_root);
}

int main(void)
{
    make_data();
    TEST_RUN(test_options);
    TEST_RUN(test_recall);
    TEST_RUN(test_writes_after_train);
    TEST_RUN(test_serialize);
    TEST_RUN(test_parallel);
    TEST_RUN(test_pq4_recall);
    TEST_RUN(test_pq4_writes);
    TEST_RUN(test_collection);
    TEST_RUN(test_collection_flat_pq);
    free(g_data);
    free(g_queries);
    return TEST_EXIT();
}
