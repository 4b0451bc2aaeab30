/*
 * test_quant_index.c - quantized indexes through the public API (issue
 * 6): option and parameter checks, training semantics, recall of flat and
 * HNSW searches on codes with refine against exact search for every
 * quantizer and metric, full-precision distances in the results, adds,
 * removes and searches after training, serialisation round trips (copied
 * and borrowed) and the loaders' defences against damaged quantizer and
 * code sections (re-sealed with vex_blob_finish so that the checks behind
 * the checksums are what must catch them). Collections with a quantizer:
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
#include "storage/segment.h"
#include "storage/version.h"
#include "test.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rng.h"
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
    {VEX_QUANT_OPQ, 8, 8, 10.0f, 0.95},
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
 * 32k vectors) and a batch spread over them give what one thread gives. */
static void test_parallel(void)
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
    o.quant_m = 8;
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
            vex_err_init(&e);
            CHECK_RC(vex_blob_parse(b, size, &info, &e), VEX_OK);
            sq = vex_blob_find(&info, VEX_SEC_QUANTIZER);
            sc = vex_blob_find(&info, VEX_SEC_CODES);
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
                    vex_blob_finish(&i2, d);
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
                    memcpy(d, b, size);
                    i2.quant_m = info.quant_m + 1;
                    if (info.quant == VEX_QUANT_SQ8 ||
                        info.quant == VEX_QUANT_BQ)
                        i2.quant = info.quant == VEX_QUANT_SQ8 ? VEX_QUANT_BQ
                                                               : VEX_QUANT_SQ8;
                    vex_blob_finish(&i2, d);
                    CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                    i2 = info;
                    memcpy(d, b, size);
                    i2.quant_refine = 0.0f;
                    vex_blob_finish(&i2, d);
                    CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                    /* codes section a code short */
                    i2 = info;
                    memcpy(d, b, size);
                    i2.sec[sc - info.sec].length -= 1;
                    vex_blob_finish(&i2, d);
                    CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                    /* the quantizer section dropped, codes kept */
                    i2 = info;
                    memcpy(d, b, size);
                    i2.sec[sq - info.sec].id = 77;
                    vex_blob_finish(&i2, d);
                    CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                    /* a version-1 header (no quantizer) with the sections */
                    i2 = info;
                    memcpy(d, b, size);
                    i2.quant = 0;
                    vex_blob_finish(&i2, d);
                    CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                    /* version 2, the development layout: refused as such */
                    memcpy(d, b, size);
                    vex_put_u32le(d + 8, 2);
                    vex_put_u32le(d + 380, vex_crc32c(d, 380));
                    CHECK(open_rc(d, size, 0) == VEX_UNSUPPORTED);
                    /* HNSW keeps its vectors in a section of their own:
                     * without it, or a vector short, the blob is refused */
                    if (kind == VEX_INDEX_HNSW) {
                        const vex_blob_section *sv =
                            vex_blob_find(&info, VEX_SEC_VECTORS);
                        CHECK(sv != NULL &&
                              sv->length == (uint64_t)1000 * DIM * 4);
                        if (sv) {
                            i2 = info;
                            memcpy(d, b, size);
                            i2.sec[sv - info.sec].id = 78;
                            vex_blob_finish(&i2, d);
                            CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                            i2 = info;
                            memcpy(d, b, size);
                            i2.sec[sv - info.sec].length -= DIM * 4;
                            vex_blob_finish(&i2, d);
                            CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                            /* a non-finite vector behind a valid CRC */
                            i2 = info;
                            memcpy(d, b, size);
                            memcpy(d + sv->offset + 4 * 17, &(float){NAN}, 4);
                            vex_blob_finish(&i2, d);
                            CHECK(open_rc(d, size, 0) == VEX_CORRUPT);
                        }
                    }
                }
                free(d);
            }
            vex_err_destroy(&e);
            free(b);
            vex_index_free(ix);
        }
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

    vex_err_init(&err);
    CHECK(seg_path_of(name, path, sizeof path) == 0);
    CHECK_RC(vex_mem_init(&mem, NULL), VEX_OK);
    CHECK_RC(vex_vfs_posix_create(NULL, &vfs), VEX_OK);
    CHECK(seg_parse_name(strrchr(path, '/') + 1, &number) == 1);
    CHECK_RC(vseg_open(vfs, path, number, &mem, NULL, &err, &v), VEX_OK);
    if (v == NULL)
        goto done;
    CHECK_RC(vseg_index(v, &ix, &err), VEX_OK);
    CHECK_RC(seg_index(v->s, &blob, &size, &err), VEX_OK);
    CHECK(vex_blob_cold_range(blob, size, &off, &len) == 1);
    CHECK(len == (uint64_t)vex_index_count(ix) * DIM * sizeof(float));
    /* counted before anything else reads the blob (vex_blob_parse below
     * checks every section's CRC, which maps every page again) */
    rc = pages_present((const unsigned char *)blob + off, (size_t)len, &present,
                       &total);
    CHECK(vex_blob_parse(blob, size, &info, &err) == VEX_OK);
    if (rc != 0) {
        fprintf(stderr, "     (skipped the residency check: no "
                        "/proc/self/pagemap)\n");
    } else {
        sc = vex_blob_find(&info, VEX_SEC_CODES);
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
        CHECK_RC(vex_index_get(ex, seg_key_id(v->s, got[i].id), x), VEX_OK);
        for (j = 0; j < DIM; j++)
            d += (g_queries[j] - x[j]) * (g_queries[j] - x[j]);
        CHECK_MSG(fabsf(d - got[i].distance) <= 1e-4f * d + 1e-5f,
                  "hit %zu: distance %g, exact %g", i, (double)got[i].distance,
                  (double)d);
    }
    CHECK(ng > 0 && got[0].distance >= want[0].distance - 1e-5f);
done:
    if (v)
        vseg_unref(v);
    if (vfs)
        vfs->methods->destroy(vfs);
    vex_err_destroy(&err);
}

/* The index blob of the only segment file of collection `name`: file
 * bytes in *file (malloc), blob offset and parsed header. 0 on success. */
static int seg_blob(const char *name, unsigned char **file, size_t *fsize,
                    size_t *off, vex_blob_info *info)
{
    char dir[512], path[1024];
    DIR *d;
    struct dirent *e;
    FILE *f;
    int found = 0;
    size_t at;
    vex_err err;
    snprintf(dir, sizeof dir, "%s/collections/%s", g_root, name);
    d = opendir(dir);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "seg-", 4) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    if (found != 1 || (f = fopen(path, "rb")) == NULL)
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
        vex_err_init(&err);
        if (total <= *fsize - at &&
            vex_blob_parse(*file + at, total, info, &err) == VEX_OK) {
            vex_err_destroy(&err);
            *off = at;
            return 0;
        }
        vex_err_destroy(&err);
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

    snprintf(g_root, sizeof g_root, "/tmp/vex_test_qcoll_XXXXXX");
    if (mkdtemp(g_root) == NULL) {
        CHECK(0);
        return;
    }
    rmdir(g_root);
    db = open_db(1);
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
    sq = vex_blob_find(&info, VEX_SEC_QUANTIZER);
    CHECK(info.quant == VEX_QUANT_SQ8 && sq != NULL &&
          vex_blob_find(&info, VEX_SEC_CODES) != NULL);

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
        char dir[512], path[1024];
        DIR *d;
        struct dirent *e;
        snprintf(dir, sizeof dir, "%s/collections/q", g_root);
        d = opendir(dir);
        path[0] = '\0';
        while (d && (e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "seg-", 4) == 0)
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (d)
            closedir(d);
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
    snprintf(g_root, sizeof g_root, "/tmp/vex_test_qcoll_XXXXXX");
    if (mkdtemp(g_root) == NULL) {
        CHECK(0);
        return;
    }
    rmdir(g_root);
    db = open_db(1);
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
              vex_blob_find(&info, VEX_SEC_QUANTIZER) != NULL);
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
    TEST_RUN(test_collection);
    TEST_RUN(test_collection_flat_pq);
    free(g_data);
    free(g_queries);
    return TEST_EXIT();
}
