/* SPDX-License-Identifier: Apache-2.0 */
/*
 * golden.h - the contents of the golden databases (tests/fixtures/):
 * which collections, which writes in which order, and so what every
 * record must read back as. tests/make_golden.c writes a database from
 * this script with the library of its day; tests/test_golden.c opens
 * every committed one with today's library and checks it against the same
 * script. A release that changes an on-disk format adds a fixture
 * written by it (docs/TESTING.md), so every older format keeps opening.
 *
 * The script, per collection (ids 0..299):
 *   phase 1  insert 0..199 (metadata on even ids, a payload on multiples
 *            of 3), then flush: segment 1
 *   phase 2  upsert 150..249 with second-version vectors, delete 0..19,
 *            then flush: segment 2 (150..199 now overwritten in segment 1)
 *   phase 3  update the metadata of 30..39 (one batch), insert 250..299,
 *            delete 240..244, left in the log (the database is closed
 *            with flush_on_close = 0)
 * Expected: ids 20..299 except 240..244.
 */
#ifndef VEX_TESTS_GOLDEN_H
#define VEX_TESTS_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vexdb.h"

#define GOLDEN_IDS 300

typedef struct golden_coll {
    const char *name;
    vex_index_kind index;
    vex_metric metric;
    vex_elem elem;
    uint32_t dim;
    vex_quant quant;
    vex_compression compression;
    int schema; /* 1: g int nullable, s string nullable */
} golden_coll;

static const golden_coll golden_colls[] = {
    {"flat", VEX_INDEX_FLAT, VEX_METRIC_L2, VEX_ELEM_F32, 8, VEX_QUANT_NONE,
     VEX_COMPRESS_NONE, 1},
    {"hnsw", VEX_INDEX_HNSW, VEX_METRIC_COSINE, VEX_ELEM_F32, 12,
     VEX_QUANT_NONE, VEX_COMPRESS_NONE, 0},
    {"sq8", VEX_INDEX_HNSW, VEX_METRIC_L2, VEX_ELEM_F32, 16, VEX_QUANT_SQ8,
     VEX_COMPRESS_NONE, 0},
    {"bits", VEX_INDEX_FLAT, VEX_METRIC_HAMMING, VEX_ELEM_BIT, 64,
     VEX_QUANT_NONE, VEX_COMPRESS_NONE, 0},
    {"zstd", VEX_INDEX_FLAT, VEX_METRIC_L2, VEX_ELEM_F32, 8, VEX_QUANT_NONE,
     VEX_COMPRESS_ZSTD, 0},
};
#define GOLDEN_N_COLLS (sizeof golden_colls / sizeof golden_colls[0])

static inline int golden_live(uint64_t id)
{
    return id >= 20 && id < GOLDEN_IDS && !(id >= 240 && id < 245);
}

/* Which version of its vector and metadata record `id` holds at the end. */
static inline int golden_version(uint64_t id)
{
    return id >= 150 && id < 250 ? 2 : 1;
}

/* The vector of `id` at `version` (vex_vector_size bytes into out). */
static inline void golden_vector(const golden_coll *g, uint64_t id, int version,
                                 void *out)
{
    uint64_t x = id * 0x9e3779b97f4a7c15u + (uint64_t)version * 0x51ed27u;
    if (g->elem == VEX_ELEM_BIT) {
        unsigned char *b = out;
        for (uint32_t i = 0; i < g->dim / 8; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[i] = (unsigned char)x;
        }
        return;
    }
    float *v = out;
    for (uint32_t d = 0; d < g->dim; d++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* exact in float32: multiples of 1/64 in [-8, 8) */
        v[d] = (float)(int)(x % 1024) / 64.0f - 8.0f;
    }
    if (g->metric == VEX_METRIC_COSINE && v[0] == 0.0f)
        v[0] = 1.0f;
}

/* The metadata of `id` at the end: "g" (int) and "s" (string) on even
 * ids, version 2 adds a tag list "t"; ids 30..39 were updated to
 * {"g": 100 + id}. Empty (no fields) on odd ids. */
static inline void golden_meta(uint64_t id, int version, int updated,
                               vex_meta *m)
{
    char s[32];
    vex_meta_clear(m);
    if (updated) {
        vex_meta_set_int(m, "g", 100 + (int64_t)id);
        return;
    }
    if (id % 2)
        return;
    snprintf(s, sizeof s, "rec-%llu-v%d", (unsigned long long)id, version);
    vex_meta_set_int(m, "g", (int64_t)(id % 7));
    vex_meta_set_string(m, "s", s, strlen(s));
    if (version == 2) {
        const char *tags[2] = {"two", id % 4 ? "x" : "y"};
        vex_meta_set_tags(m, "t", tags, 2);
    }
}

/* The payload of `id` (multiples of 3 only; else length 0). */
static inline size_t golden_payload(uint64_t id, int version, char *buf,
                                    size_t cap)
{
    if (id % 3)
        return 0;
    return (size_t)snprintf(buf, cap, "payload of %llu, version %d",
                            (unsigned long long)id, version);
}

#endif
