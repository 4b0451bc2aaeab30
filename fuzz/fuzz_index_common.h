/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_index_common.h - what the two index fuzz targets (fuzz_index.c,
 * fuzz_index_mutate.c) do with a blob once they have one: open it from a
 * 64-byte aligned copy, borrowed or with VEX_OPEN_COPY, and when it opens,
 * exercise it: vex_index_check, searches at k = 1..10 with a finite query
 * of the right dimension made from the input, a serialise round trip that
 * must reproduce an index of the same size, one add and one remove, then
 * free. A failed open must leave a message. Any crash, leak or abort is a
 * finding.
 */
#ifndef VEX_FUZZ_INDEX_COMMON_H
#define VEX_FUZZ_INDEX_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "vexdb.h"

static inline void fz_check(int ok)
{
    if (!ok)
        abort();
}

/* A query (or vector) of the index's type built from `seed` bytes: f32
 * components are small finite values (never all zero, for cosine), bit
 * vectors keep their padding bits zero. */
static inline void fz_vector(const vex_index_options *o, const uint8_t *seed,
                             size_t n_seed, unsigned char *out, size_t vb)
{
    size_t i;
    if (o->elem == VEX_ELEM_F32) {
        float *f = (float *)(void *)out;
        for (i = 0; i < o->dim; i++) {
            uint8_t b = n_seed ? seed[i % n_seed] : (uint8_t)i;
            f[i] = ((float)b - 127.5f) / 16.0f;
        }
    } else {
        for (i = 0; i < vb; i++)
            out[i] = n_seed ? seed[i % n_seed] : (uint8_t)i;
        if (o->dim % 8)
            out[vb - 1] &= (unsigned char)((1u << (o->dim % 8)) - 1);
    }
}

static inline void fz_exercise(vex_index *ix, const uint8_t *seed,
                               size_t n_seed)
{
    vex_index_options o;
    vex_hit hits[10];
    unsigned char *q, *blob = NULL;
    size_t vb, n_hits, k;
    uint64_t count = vex_index_count(ix), need = 0, id;
    int rc;

    vex_index_get_options(ix, &o);
    vb = vex_vector_size(o.elem, o.dim);
    fz_check(vb > 0);
    q = malloc(vb);
    fz_check(q != NULL);
    (void)vex_index_check(ix);
    fz_vector(&o, seed, n_seed, q, vb);
    for (k = 1; k <= 10; k++) {
        rc = vex_index_search(ix, q, k, NULL, hits, &n_hits);
        fz_check(rc == VEX_OK && n_hits <= k && n_hits <= count);
    }
    if (o.quant != VEX_QUANT_NONE) { /* codes, then a rerank */
        vex_search_params p;
        vex_search_params_init(&p);
        p.refine = 3.0f;
        rc = vex_index_search(ix, q, 5, &p, hits, &n_hits);
        fz_check(rc == VEX_OK && n_hits <= 5 && n_hits <= count);
    }
    /* round trip: same count back */
    rc = vex_index_serialize(ix, NULL, 0, &need);
    fz_check(rc == VEX_FULL && need >= 384);
    if (posix_memalign((void **)&blob, 64, (size_t)need) == 0) {
        vex_index *again = NULL;
        fz_check(vex_index_serialize(ix, blob, need, NULL) == VEX_OK);
        rc = vex_index_open_buffer(blob, need, NULL, &again);
        fz_check(rc == VEX_OK && vex_index_count(again) == count);
        vex_index_free(again);
        free(blob);
    }
    /* one add, one remove (copy on write when borrowed) */
    id = 0x7fffffffffffULL + (n_seed ? seed[0] : 0);
    rc = vex_index_add(ix, &id, q, 1);
    fz_check(rc == VEX_OK || rc == VEX_EXISTS || rc == VEX_INVALID);
    if (rc == VEX_OK) {
        fz_check(vex_index_search(ix, q, 1, NULL, hits, &n_hits) == VEX_OK);
        fz_check(vex_index_remove(ix, id) == VEX_OK);
    }
    (void)vex_index_check(ix);
    free(q);
}

/* Open data[0..size) from an aligned copy and exercise it. The input is
 * owned by the caller; the copy is what the index may borrow. */
static inline void fz_open_and_run(const uint8_t *data, size_t size, int copy,
                                   const uint8_t *seed, size_t n_seed)
{
    vex_open_options oo;
    vex_index *ix = NULL;
    void *buf = NULL;
    int rc;
    if (posix_memalign(&buf, 64, size ? size : 1) != 0)
        return;
    memcpy(buf, data, size);
    vex_open_options_init(&oo);
    oo.n_threads = 1;
    oo.flags = copy ? VEX_OPEN_COPY : 0;
    rc = vex_index_open_buffer(buf, size, &oo, &ix);
    fz_check(ix != NULL);
    if (rc == VEX_OK)
        fz_exercise(ix, seed, n_seed);
    else
        fz_check(
            vex_index_errmsg(ix)[0] != '\0' &&
            (rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED || rc == VEX_NOMEM));
    vex_index_free(ix);
    free(buf);
}

/* The small valid indexes the mutation fuzzer and the corpus generator
 * start from, built deterministically (one thread, fixed seed and data). */
#define FZ_N_BASES 8

static inline int fz_build_base(int which, unsigned char **blob, uint64_t *size)
{
    static const struct {
        vex_index_kind kind;
        vex_elem elem;
        vex_metric metric;
        uint32_t dim, m, n, n_remove;
        vex_quant quant; /* trained on the base's vectors */
        uint32_t quant_m, quant_bits;
    } b[FZ_N_BASES] = {
        {VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, 4, 4, 32, 6,
         VEX_QUANT_NONE, 0, 0},
        {VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_COSINE, 5, 3, 24, 0,
         VEX_QUANT_NONE, 0, 0},
        {VEX_INDEX_HNSW, VEX_ELEM_BIT, VEX_METRIC_HAMMING, 20, 2, 30, 2,
         VEX_QUANT_NONE, 0, 0},
        {VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_L2, 4, 0, 20, 2,
         VEX_QUANT_NONE, 0, 0},
        {VEX_INDEX_FLAT, VEX_ELEM_BIT, VEX_METRIC_JACCARD, 13, 0, 15, 0,
         VEX_QUANT_NONE, 0, 0},
        {VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_IP, 3, 2, 0, 0,
         VEX_QUANT_NONE, 0, 0},
        {VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, 4, 4, 32, 4,
         VEX_QUANT_SQ8, 0, 0},
        {VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_COSINE, 6, 0, 24, 2,
         VEX_QUANT_PQ, 3, 4},
    };
    vex_index_options o;
    vex_index *ix = NULL;
    unsigned char v[64];
    uint64_t id, need = 0, x = 0x9e3779b97f4a7c15ULL;
    uint32_t i, j;
    int rc;
    *blob = NULL;
    vex_index_options_init(&o);
    o.kind = b[which].kind;
    o.elem = b[which].elem;
    o.metric = b[which].metric;
    o.dim = b[which].dim;
    o.n_threads = 1;
    if (o.kind == VEX_INDEX_HNSW) {
        o.hnsw_m = b[which].m;
        o.hnsw_ef_construction = 16;
        o.hnsw_ef_search = 8;
        o.hnsw_seed = 5;
    }
    o.quant = b[which].quant;
    o.quant_m = b[which].quant_m;
    o.quant_bits = b[which].quant_bits;
    rc = vex_index_create(&o, &ix);
    for (i = 0; i < b[which].n && rc == VEX_OK; i++) {
        uint8_t seed[8];
        for (j = 0; j < 8; j++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            seed[j] = (uint8_t)(x >> 56);
        }
        fz_vector(&o, seed, 8, v, vex_vector_size(o.elem, o.dim));
        id = 100 + 3 * (uint64_t)i;
        rc = vex_index_add(ix, &id, v, 1);
    }
    for (i = 0; i < b[which].n_remove && rc == VEX_OK; i++)
        rc = vex_index_remove(ix, 100 + 6 * (uint64_t)i);
    if (rc == VEX_OK && o.quant != VEX_QUANT_NONE)
        rc = vex_index_train(ix, NULL, 0);
    if (rc == VEX_OK)
        rc = vex_index_serialize(ix, NULL, 0, &need) == VEX_FULL ? VEX_OK
                                                                 : VEX_INTERNAL;
    if (rc == VEX_OK && posix_memalign((void **)blob, 64, (size_t)need) != 0)
        rc = VEX_NOMEM;
    if (rc == VEX_OK)
        rc = vex_index_serialize(ix, *blob, need, size);
    vex_index_free(ix);
    if (rc != VEX_OK) {
        free(*blob);
        *blob = NULL;
    }
    return rc;
}

#endif
