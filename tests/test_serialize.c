/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_serialize.c - index serialisation through the public API
 * (vex_index_serialize, vex_index_open_buffer): round trips of flat and
 * HNSW indexes for every metric, with deletes and empty, compared field by
 * field with the original (hits, vectors, options, and the re-serialised
 * bytes); the borrowed mode (flat and HNSW) and copy on write; the
 * copying modes; the too-small buffer; and the loaders' defences: every header
 * byte flipped, section bytes flipped, every truncation, trailing bytes, and
 * structural damage crafted behind valid checksums (the blob is re-sealed with
 * vx_blob_finish from the private index/blob.h) so that the checks behind
 * the CRCs are what must catch it. Each corrupt case must give
 * VEX_CORRUPT (or VEX_UNSUPPORTED) with a message, never a crash.
 */
#include <stdint.h>

#include "index/blob.h"
#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define NQ 12

typedef struct spec {
    vex_index_kind kind;
    vex_elem elem;
    vex_metric metric;
    uint32_t dim;
} spec;

static const spec SPECS[] = {
    {VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_L2, 12},
    {VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_IP, 12},
    {VEX_INDEX_FLAT, VEX_ELEM_F32, VEX_METRIC_COSINE, 12},
    {VEX_INDEX_FLAT, VEX_ELEM_BIT, VEX_METRIC_HAMMING, 77},
    {VEX_INDEX_FLAT, VEX_ELEM_BIT, VEX_METRIC_JACCARD, 77},
    {VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_L2, 12},
    {VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_IP, 12},
    {VEX_INDEX_HNSW, VEX_ELEM_F32, VEX_METRIC_COSINE, 12},
    {VEX_INDEX_HNSW, VEX_ELEM_BIT, VEX_METRIC_HAMMING, 77},
    {VEX_INDEX_HNSW, VEX_ELEM_BIT, VEX_METRIC_JACCARD, 77},
};

static uint64_t id_of(size_t i)
{
    return (uint64_t)i * 7919 + 3;
}

/* n random vectors of the spec's type (bit vectors with zero padding). */
static void *gen_vectors(const spec *s, size_t n, uint64_t seed)
{
    size_t vb = vex_vector_size(s->elem, s->dim), i, j;
    unsigned char *v = malloc(n * vb + 1);
    vex_rng r;
    vex_rng_seed(&r, seed);
    for (i = 0; i < n; i++) {
        unsigned char *x = v + i * vb;
        if (s->elem == VEX_ELEM_F32) {
            float *f = (float *)(void *)x;
            for (j = 0; j < s->dim; j++)
                f[j] = (float)vex_rng_normal(&r);
        } else {
            for (j = 0; j < vb; j++)
                x[j] = (unsigned char)vex_rng_next(&r);
            if (s->dim % 8)
                x[vb - 1] &= (unsigned char)((1u << (s->dim % 8)) - 1);
        }
    }
    return v;
}

/* An index of n vectors (ids id_of(i)) with the first n_remove removed. */
static vex_index *build(const spec *s, size_t n, size_t n_remove,
                        uint32_t hnsw_m)
{
    vex_index_options o;
    vex_index *ix = NULL;
    void *v = gen_vectors(s, n, 1000 + s->metric * 10 + s->kind);
    uint64_t *ids = malloc((n + 1) * sizeof *ids);
    size_t i;
    vex_index_options_init(&o);
    o.kind = s->kind;
    o.elem = s->elem;
    o.metric = s->metric;
    o.dim = s->dim;
    o.n_threads = 1;
    if (s->kind == VEX_INDEX_HNSW) {
        o.hnsw_m = hnsw_m;
        o.hnsw_ef_construction = 60;
        o.hnsw_ef_search = 40;
        o.hnsw_seed = 7;
    }
    for (i = 0; i < n; i++)
        ids[i] = id_of(i);
    if (vex_index_create(&o, &ix) != VEX_OK ||
        (n && vex_index_add(ix, ids, v, n) != VEX_OK)) {
        fprintf(stderr, "build: %s\n", vex_index_errmsg(ix));
        vex_index_free(ix);
        ix = NULL;
    }
    for (i = 0; ix && i < n_remove; i++)
        CHECK_RC(vex_index_remove(ix, id_of(i * 3 % n)), VEX_OK);
    free(v);
    free(ids);
    return ix;
}

/* The index's blob in a fresh 64-byte aligned buffer. */
static unsigned char *blob_of(vex_index *ix, uint64_t *size)
{
    void *buf = NULL;
    uint64_t need = 0;
    CHECK_RC(vex_index_serialize(ix, NULL, 0, &need), VEX_FULL);
    CHECK(need >= VEX_BLOB_HEADER);
    if (posix_memalign(&buf, 64, (size_t)need) != 0)
        return NULL;
    CHECK_RC(vex_index_serialize(ix, buf, need, size), VEX_OK);
    CHECK(*size == need);
    return buf;
}

static unsigned char *aligned_copy(const unsigned char *b, uint64_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? (size_t)size : 1) != 0)
        return NULL;
    memcpy(p, b, (size_t)size);
    return p;
}

static vex_index *open_blob(const void *buf, uint64_t size, uint32_t flags,
                            int *rc_out)
{
    vex_open_options oo;
    vex_index *ix = NULL;
    int rc;
    vex_open_options_init(&oo);
    oo.n_threads = 1;
    oo.flags = flags;
    rc = vex_index_open_buffer(buf, size, &oo, &ix);
    if (rc_out)
        *rc_out = rc;
    if (rc != VEX_OK) {
        CHECK(ix != NULL);
        if (rc_out == NULL)
            fprintf(stderr, "open: %s: %s\n", vex_status_name(rc),
                    vex_index_errmsg(ix));
        vex_index_free(ix);
        return NULL;
    }
    return ix;
}

/* Both indexes give the same hits (fields compared) for NQ queries at
 * several k. */
static void same_hits(const spec *s, vex_index *a, vex_index *b)
{
    static const size_t ks[] = {1, 10, 500};
    void *q = gen_vectors(s, NQ, 555);
    size_t vb = vex_vector_size(s->elem, s->dim), i, j, t;
    vex_hit *ha = malloc(500 * sizeof *ha), *hb = malloc(500 * sizeof *hb);
    for (t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        for (i = 0; i < NQ; i++) {
            const void *qi = (const unsigned char *)q + i * vb;
            size_t na = 0, nb = 0;
            CHECK_RC(vex_index_search(a, qi, ks[t], NULL, ha, &na), VEX_OK);
            CHECK_RC(vex_index_search(b, qi, ks[t], NULL, hb, &nb), VEX_OK);
            CHECK_EQ_INT(na, nb);
            for (j = 0; j < na && j < nb; j++) {
                CHECK_EQ_INT(ha[j].id, hb[j].id);
                CHECK(memcmp(&ha[j].distance, &hb[j].distance, sizeof(float)) ==
                      0);
            }
        }
    }
    free(ha);
    free(hb);
    free(q);
}

/* Same count, options, and stored vector for every id 0..n. */
static void same_content(const spec *s, vex_index *a, vex_index *b, size_t n)
{
    size_t vb = vex_vector_size(s->elem, s->dim), i;
    unsigned char *va = malloc(vb), *vbuf = malloc(vb);
    vex_index_options oa, ob;
    CHECK_EQ_INT(vex_index_count(a), vex_index_count(b));
    vex_index_get_options(a, &oa);
    vex_index_get_options(b, &ob);
    CHECK_EQ_INT(oa.kind, ob.kind);
    CHECK_EQ_INT(oa.elem, ob.elem);
    CHECK_EQ_INT(oa.metric, ob.metric);
    CHECK_EQ_INT(oa.dim, ob.dim);
    CHECK_EQ_INT(oa.n_threads, ob.n_threads);
    CHECK_EQ_INT(oa.hnsw_m, ob.hnsw_m);
    CHECK_EQ_INT(oa.hnsw_ef_construction, ob.hnsw_ef_construction);
    CHECK_EQ_INT(oa.hnsw_ef_search, ob.hnsw_ef_search);
    CHECK_EQ_INT(oa.hnsw_seed, ob.hnsw_seed);
    for (i = 0; i < n; i++) {
        int ra = vex_index_get(a, id_of(i), va);
        int rb = vex_index_get(b, id_of(i), vbuf);
        CHECK_EQ_INT(ra, rb);
        if (ra == VEX_OK && rb == VEX_OK)
            CHECK(memcmp(va, vbuf, vb) == 0);
    }
    free(va);
    free(vbuf);
}

/* Open `blob` with `flags`, compare with `orig`, and check that
 * serialising the opened index gives the same bytes. */
static void check_reopen(const spec *s, vex_index *orig,
                         const unsigned char *blob, uint64_t size, size_t n,
                         uint32_t flags)
{
    vex_index *ix = open_blob(blob, size, flags, NULL);
    unsigned char *again;
    uint64_t size2 = 0;
    CHECK(ix != NULL);
    if (ix == NULL)
        return;
    CHECK_RC(vex_index_check(ix), VEX_OK);
    same_content(s, orig, ix, n);
    same_hits(s, orig, ix);
    again = blob_of(ix, &size2);
    CHECK(again && size2 == size && memcmp(again, blob, (size_t)size) == 0);
    free(again);
    vex_index_free(ix);
}

static void test_round_trip(void)
{
    size_t si, variant;
    for (si = 0; si < sizeof SPECS / sizeof SPECS[0]; si++) {
        const spec *s = &SPECS[si];
        /* full; removals past the HNSW repair share (free slots and
         * tombstones both stored); empty */
        static const size_t n_of[] = {300, 300, 0}, rm_of[] = {0, 45, 0};
        for (variant = 0; variant < 3; variant++) {
            size_t n = n_of[variant];
            vex_index *ix = build(s, n, rm_of[variant], 8);
            unsigned char *blob;
            uint64_t size = 0;
            CHECK(ix != NULL);
            if (ix == NULL)
                continue;
            CHECK_EQ_INT(vex_index_count(ix), n - rm_of[variant]);
            blob = blob_of(ix, &size);
            check_reopen(s, ix, blob, size, n, 0);
            check_reopen(s, ix, blob, size, n, VEX_OPEN_COPY);
            free(blob);
            vex_index_free(ix);
        }
    }
}

/* Borrowed (flat and HNSW): usable at once, copy on the first write
 * (a remove first or an add first), the caller's bytes untouched. */
static void test_borrowed_cow(void)
{
    static const size_t which[] = {0, 2, 3, 5, 7};
    size_t wi, order;
    for (wi = 0; wi < sizeof which / sizeof which[0]; wi++) {
        for (order = 0; order < 2; order++) {
            const spec *s = &SPECS[which[wi]];
            vex_index *orig = build(s, 300, 10, 8), *ix;
            unsigned char *blob, *copy, *v;
            uint64_t size = 0, new_id = 999999999;
            size_t n = 0;
            vex_hit h[5];
            if (orig == NULL)
                continue;
            blob = blob_of(orig, &size);
            copy = aligned_copy(blob, size);
            ix = open_blob(blob, size, 0, NULL);
            CHECK(ix != NULL);
            if (ix) {
                same_hits(s, orig, ix);
                v = gen_vectors(s, 1, 4242);
                /* id_of(100): a middle row (flat moves its last row in) */
                if (order == 0)
                    CHECK_RC(vex_index_remove(ix, id_of(100)), VEX_OK);
                CHECK_RC(vex_index_add(ix, &new_id, v, 1), VEX_OK);
                if (order == 1)
                    CHECK_RC(vex_index_remove(ix, id_of(100)), VEX_OK);
                CHECK_RC(vex_index_remove(ix, id_of(100)), VEX_NOTFOUND);
                CHECK_RC(vex_index_search(ix, v, 5, NULL, h, &n), VEX_OK);
                CHECK(n == 5 && h[0].id == new_id && h[0].distance == 0.0f);
                CHECK_EQ_INT(vex_index_count(ix), 300 - 10 + 1 - 1);
                CHECK_RC(vex_index_check(ix), VEX_OK);
                CHECK(memcmp(blob, copy, (size_t)size) == 0);
                free(v);
                vex_index_free(ix);
            }
            CHECK(memcmp(blob, copy, (size_t)size) == 0);
            free(copy);
            free(blob);
            vex_index_free(orig);
        }
    }
}

/* VEX_OPEN_COPY and an unaligned buffer copy: the source can go at once. */
static void test_copy_modes(void)
{
    size_t si;
    for (si = 0; si < sizeof SPECS / sizeof SPECS[0]; si++) {
        const spec *s = &SPECS[si];
        vex_index *orig = build(s, 200, 20, 8), *a, *b;
        unsigned char *blob, *big;
        uint64_t size = 0;
        if (orig == NULL)
            continue;
        blob = blob_of(orig, &size);
        if (posix_memalign((void **)&big, 64, (size_t)size + 64) != 0)
            big = NULL;
        CHECK(big != NULL);
        if (big == NULL)
            break;
        memcpy(big + 8, blob, (size_t)size); /* buf + 8: not 64-aligned */
        a = open_blob(blob, size, VEX_OPEN_COPY, NULL);
        b = open_blob(big + 8, size, 0, NULL);
        CHECK(a != NULL && b != NULL);
        memset(blob, 0xA5, (size_t)size);
        memset(big, 0x5A, (size_t)size + 64);
        free(blob);
        free(big);
        if (a && b) {
            same_hits(s, orig, a);
            same_hits(s, orig, b);
            same_content(s, orig, a, 200);
            same_content(s, orig, b, 200);
            CHECK_RC(vex_index_check(a), VEX_OK);
            CHECK_RC(vex_index_check(b), VEX_OK);
        }
        vex_index_free(a);
        vex_index_free(b);
        vex_index_free(orig);
    }
}

static void test_too_small(void)
{
    vex_index *ix = build(&SPECS[5], 100, 0, 8);
    unsigned char *buf;
    uint64_t need = 0, need2 = 0, i;
    size_t ok = 1;
    if (ix == NULL)
        return;
    CHECK_RC(vex_index_serialize(ix, NULL, 0, &need), VEX_FULL);
    CHECK(need > VEX_BLOB_HEADER);
    CHECK(strstr(vex_index_errmsg(ix), "bytes") != NULL);
    buf = malloc((size_t)need);
    memset(buf, 0xC3, (size_t)need);
    CHECK_RC(vex_index_serialize(ix, buf, need - 1, &need2), VEX_FULL);
    CHECK_EQ_INT(need2, need);
    for (i = 0; i < need; i++)
        ok &= buf[i] == 0xC3;
    CHECK(ok);
    CHECK_RC(vex_index_serialize(ix, buf, 10, NULL), VEX_FULL);
    CHECK_RC(vex_index_serialize(ix, NULL, 10, &need2), VEX_MISUSE);
    CHECK_RC(vex_index_serialize(ix, buf, need, NULL), VEX_OK);
    free(buf);
    vex_index_free(ix);
}

/* Open `b` (copied to an aligned buffer) in both modes; it must fail with
 * one of the two codes and a message that mentions `want` (when given). */
static void expect_fail(const unsigned char *b, uint64_t size, int code1,
                        int code2, const char *want, const char *what)
{
    unsigned char *p = aligned_copy(b, size);
    int mode;
    for (mode = 0; mode < 2; mode++) {
        vex_open_options oo;
        vex_index *ix = NULL;
        int rc;
        vex_open_options_init(&oo);
        oo.n_threads = 1;
        oo.flags = mode ? VEX_OPEN_COPY : 0;
        rc = vex_index_open_buffer(p, size, &oo, &ix);
        CHECK_MSG(rc == code1 || rc == code2, "%s: got %s (%s)", what,
                  vex_status_name(rc), ix ? vex_index_errmsg(ix) : "");
        CHECK(ix != NULL);
        if (ix) {
            const char *m = vex_index_errmsg(ix);
            CHECK_MSG(m[0] != '\0' && strstr(m, "blob") != NULL, "%s: '%s'",
                      what, m);
            if (want)
                CHECK_MSG(strstr(m, want) != NULL, "%s: '%s' lacks '%s'", what,
                          m, want);
            CHECK_RC(vex_index_check(ix), VEX_MISUSE);
        }
        vex_index_free(ix);
    }
    free(p);
}

static void test_header_flips(void)
{
    size_t si, i;
    for (si = 0; si < sizeof SPECS / sizeof SPECS[0]; si += 5) {
        vex_index *ix = build(&SPECS[si], 40, 0, 4);
        unsigned char *blob;
        uint64_t size = 0;
        if (ix == NULL)
            continue;
        blob = blob_of(ix, &size);
        for (i = 0; i < VEX_BLOB_HEADER; i++) {
            char what[64];
            blob[i] ^= 0xFF;
            snprintf(what, sizeof what, "header byte %zu", i);
            expect_fail(blob, size, VEX_CORRUPT, VEX_UNSUPPORTED, NULL, what);
            blob[i] ^= 0xFF;
        }
        free(blob);
        vex_index_free(ix);
    }
}

static void test_section_flips(void)
{
    size_t si, t;
    vex_rng r;
    vex_rng_seed(&r, test_seed(99));
    for (si = 0; si < sizeof SPECS / sizeof SPECS[0]; si++) {
        vex_index *ix = build(&SPECS[si], 60, 5, 4);
        unsigned char *blob;
        uint64_t size = 0;
        vex_blob_info info;
        vex_err err;
        if (ix == NULL)
            continue;
        blob = blob_of(ix, &size);
        vx_err_init(&err);
        CHECK_RC(vx_blob_parse(blob, size, &info, &err), VEX_OK);
        vx_err_destroy(&err);
        for (t = 0; t < 40; t++) {
            const vex_blob_section *sec =
                &info.sec[vex_rng_below(&r, info.n_sections)];
            uint64_t at;
            unsigned char x = (unsigned char)(1 + vex_rng_below(&r, 255));
            char what[80];
            if (sec->length == 0)
                continue;
            at = sec->offset + vex_rng_below(&r, sec->length);
            snprintf(what, sizeof what, "spec %zu byte %llu ^ 0x%02x", si,
                     (unsigned long long)at, x);
            blob[at] ^= x;
            expect_fail(blob, size, VEX_CORRUPT, VEX_CORRUPT, "checksum", what);
            blob[at] ^= x;
        }
        free(blob);
        vex_index_free(ix);
    }
}

static void test_truncation(void)
{
    size_t si;
    for (si = 0; si < sizeof SPECS / sizeof SPECS[0]; si += 5) {
        vex_index *ix = build(&SPECS[si], 80, 0, 4);
        unsigned char *blob, *longer;
        uint64_t size = 0, len;
        if (ix == NULL)
            continue;
        blob = blob_of(ix, &size);
        for (len = 0; len < size; len++) {
            char what[64];
            if (!(len < 8 || len % 97 == 0 || len == 383 || len == 384 ||
                  len + 8 >= size))
                continue;
            snprintf(what, sizeof what, "truncated to %llu",
                     (unsigned long long)len);
            expect_fail(blob, len, VEX_CORRUPT, VEX_CORRUPT, NULL, what);
        }
        longer = malloc((size_t)size + 1);
        memcpy(longer, blob, (size_t)size);
        longer[size] = 0;
        expect_fail(longer, size + 1, VEX_CORRUPT, VEX_CORRUPT, "bytes",
                    "one trailing byte");
        free(longer);
        free(blob);
        vex_index_free(ix);
    }
}

/* ---- crafted damage behind valid checksums ---------------------------- */

typedef struct crafted {
    unsigned char *b;
    uint64_t size;
    vex_blob_info info;
} crafted;

static void craft_begin(crafted *c, vex_index *ix)
{
    vex_err err;
    c->b = blob_of(ix, &c->size);
    vx_err_init(&err);
    CHECK_RC(vx_blob_parse(c->b, c->size, &c->info, &err), VEX_OK);
    vx_err_destroy(&err);
}

static unsigned char *sec_ptr(crafted *c, uint32_t id)
{
    const vex_blob_section *s = vx_blob_find(&c->info, id);
    CHECK(s != NULL);
    return s ? c->b + s->offset : NULL;
}

/* Re-seal (all CRCs valid again), expect VEX_CORRUPT naming `want`, and
 * restore the original bytes from `orig`. */
static void craft_expect(crafted *c, const unsigned char *orig,
                         const vex_blob_info *orig_info, const char *want,
                         const char *what)
{
    vx_blob_finish(&c->info, c->b);
    expect_fail(c->b, c->size, VEX_CORRUPT, VEX_CORRUPT, want, what);
    memcpy(c->b, orig, (size_t)c->size);
    c->info = *orig_info;
}

static uint32_t *links0(crafted *c, uint32_t slot, size_t vec_bytes)
{
    return (uint32_t *)(void *)(sec_ptr(c, VEX_SEC_SLOTS) +
                                slot * c->info.slot_bytes + vec_bytes + 4);
}

static void test_crafted_hnsw(void)
{
    const spec *s = &SPECS[5];
    size_t vb = vex_vector_size(s->elem, s->dim);
    vex_index *ix = build(s, 200, 0, 4);
    crafted c;
    vex_blob_info info0;
    unsigned char *orig, *lv, *state;
    uint64_t *uoff, *ids;
    uint32_t *lk, sl, hi = UINT32_MAX, hi2 = UINT32_MAX;
    float nan = NAN;
    if (ix == NULL)
        return;
    craft_begin(&c, ix);
    orig = aligned_copy(c.b, c.size);
    info0 = c.info;
    /* an unchanged re-seal still opens */
    vx_blob_finish(&c.info, c.b);
    CHECK(memcmp(c.b, orig, (size_t)c.size) == 0);

    lk = links0(&c, 0, vb);
    CHECK(lk[0] >= 1);
    lk[1] = (uint32_t)c.info.n_slots + 5;
    craft_expect(&c, orig, &info0, "out of range", "link out of range");

    lk = links0(&c, 0, vb);
    lk[0] = 2 * c.info.m + 1;
    craft_expect(&c, orig, &info0, "links, at most", "link count > 2M");

    lv = sec_ptr(&c, VEX_SEC_LEVELS);
    lv[3] = 25;
    craft_expect(&c, orig, &info0, "level 25", "level above max");

    state = sec_ptr(&c, VEX_SEC_STATE);
    state[3] = 3;
    craft_expect(&c, orig, &info0, "state 3", "state 3");

    /* two nodes with exactly one upper level */
    lv = sec_ptr(&c, VEX_SEC_LEVELS);
    for (sl = 0; sl < c.info.n_slots; sl++) {
        if (lv[sl] == 1 && hi == UINT32_MAX)
            hi = sl;
        else if (lv[sl] == 1 && hi2 == UINT32_MAX)
            hi2 = sl;
    }
    CHECK(hi2 != UINT32_MAX);
    if (hi2 != UINT32_MAX) {
        uoff = (uint64_t *)(void *)sec_ptr(&c, VEX_SEC_UPPER_OFF);
        uoff[hi] = c.info.upper_len;
        craft_expect(&c, orig, &info0, "upper links", "upper off past arena");

        uoff = (uint64_t *)(void *)sec_ptr(&c, VEX_SEC_UPPER_OFF);
        uoff[hi2] = uoff[hi]; /* links valid for both: only sharing */
        craft_expect(&c, orig, &info0, "overlap", "upper blocks overlap");
    }

    ids = (uint64_t *)(void *)sec_ptr(&c, VEX_SEC_IDS);
    ids[7] = ids[2];
    craft_expect(&c, orig, &info0, "is live in slots", "duplicate live id");

    c.info.entry = c.info.n_slots;
    craft_expect(&c, orig, &info0, "entry point", "entry out of range");
    c.info.entry = ((uint64_t)(lv[0] + 1) << 32) | 0;
    craft_expect(&c, orig, &info0, "entry point", "entry on wrong level");
    c.info.entry = UINT64_MAX;
    craft_expect(&c, orig, &info0, "entry point", "no entry, live nodes");

    c.info.n_live++;
    craft_expect(&c, orig, &info0, "live vectors", "n_live disagrees");

    c.info.slot_bytes += 64;
    craft_expect(&c, orig, &info0, "slots of", "slot size");

    /* vectors are checked like inserts; deleted nodes' too */
    memcpy(sec_ptr(&c, VEX_SEC_SLOTS) + 5 * c.info.slot_bytes + 4, &nan, 4);
    craft_expect(&c, orig, &info0, "NaN", "NaN vector");

    free(orig);
    free(c.b);
    vex_index_free(ix);
}

/* Cosine keeps 1/|x| next to each vector; it must be usable. */
static void test_crafted_hnsw_cosine(void)
{
    const spec *s = &SPECS[7];
    size_t vb = vex_vector_size(s->elem, s->dim);
    vex_index *ix = build(s, 50, 0, 4);
    crafted c;
    vex_blob_info info0;
    unsigned char *orig;
    float bad[] = {-1.0f, 0.0f, INFINITY, NAN}, zero[12] = {0};
    size_t i;
    if (ix == NULL)
        return;
    craft_begin(&c, ix);
    orig = aligned_copy(c.b, c.size);
    info0 = c.info;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(sec_ptr(&c, VEX_SEC_SLOTS) + 2 * c.info.slot_bytes + vb, &bad[i],
               4);
        craft_expect(&c, orig, &info0, "inverse norm", "cosine aux");
    }
    memcpy(sec_ptr(&c, VEX_SEC_SLOTS) + 2 * c.info.slot_bytes, zero,
           sizeof zero);
    craft_expect(&c, orig, &info0, "zero vector", "cosine zero vector");
    free(orig);
    free(c.b);
    vex_index_free(ix);
}

/* A live node no search can reach: every level-0 link to it removed (a
 * valid blob, so the open accepts it), which vex_index_check must report,
 * as a graph written by the code of issue 26 could have had; the search
 * for its own vector shows why it matters. */
static void test_crafted_unreachable(void)
{
    const spec *s = &SPECS[5];
    size_t vb = vex_vector_size(s->elem, s->dim), nh = 0, i;
    vex_index *ix = build(s, 300, 0, 4), *o;
    crafted c;
    uint32_t sl, victim, removed = 0, ep;
    uint64_t vid;
    int rc;
    float q[12];
    vex_hit hits[310];
    char msg[512];
    if (ix == NULL)
        return;
    CHECK_RC(vex_index_check(ix), VEX_OK);
    craft_begin(&c, ix);
    ep = (uint32_t)c.info.entry;
    /* a node of level 0 only (no descent lands on it), not the entry */
    for (victim = 17; victim == ep || sec_ptr(&c, VEX_SEC_LEVELS)[victim];)
        victim++;
    vid = ((const uint64_t *)(const void *)sec_ptr(&c, VEX_SEC_IDS))[victim];
    for (sl = 0; sl < c.info.n_slots; sl++) {
        uint32_t *lk = links0(&c, sl, vb), j, k = 0;
        for (j = 0; j < lk[0]; j++)
            if (lk[1 + j] != victim)
                lk[1 + k++] = lk[1 + j];
        removed += lk[0] - k;
        for (j = k; j < lk[0]; j++)
            lk[1 + j] = 0;
        lk[0] = k;
    }
    CHECK(removed >= 1);
    vx_blob_finish(&c.info, c.b);
    o = open_blob(c.b, c.size, 0, &rc);
    CHECK_RC(rc, VEX_OK);
    if (o != NULL) {
        CHECK_RC(vex_index_check(o), VEX_CORRUPT);
        vex_index_errmsg_copy(o, msg, sizeof msg);
        CHECK_MSG(strstr(msg, "unreachable from the entry point") != NULL, "%s",
                  msg);
        /* the node's own vector, with a beam as wide as the index */
        memcpy(q, sec_ptr(&c, VEX_SEC_SLOTS) + victim * c.info.slot_bytes,
               sizeof q);
        {
            vex_search_params p;
            vex_search_params_init(&p);
            p.ef_search = 310;
            CHECK_RC(vex_index_search(o, q, 310, &p, hits, &nh), VEX_OK);
        }
        CHECK(nh < 300);
        for (i = 0; i < nh; i++)
            CHECK(hits[i].id != vid);
        vex_index_free(o);
    }
    free(c.b);
    vex_index_free(ix);
}

static void test_crafted_flat(void)
{
    const spec *s = &SPECS[2];
    vex_index *ix = build(s, 50, 0, 0);
    crafted c;
    vex_blob_info info0;
    unsigned char *orig;
    uint64_t *ids;
    float nan = NAN, zero[12] = {0};
    if (ix == NULL)
        return;
    craft_begin(&c, ix);
    orig = aligned_copy(c.b, c.size);
    info0 = c.info;

    memcpy(sec_ptr(&c, VEX_SEC_VECTORS) + 3 * 48 + 8, &nan, 4);
    craft_expect(&c, orig, &info0, "NaN", "flat NaN");

    memcpy(sec_ptr(&c, VEX_SEC_VECTORS) + 4 * 48, zero, sizeof zero);
    craft_expect(&c, orig, &info0, "zero vector", "flat zero under cosine");

    ids = (uint64_t *)(void *)sec_ptr(&c, VEX_SEC_IDS);
    ids[9] = ids[4];
    craft_expect(&c, orig, &info0, "stored twice", "flat duplicate id");

    c.info.n_live--;
    craft_expect(&c, orig, &info0, "do not match", "flat n_live");

    c.info.m = 4;
    craft_expect(&c, orig, &info0, "graph parameters", "flat with M");

    c.info.metric = VEX_METRIC_HAMMING;
    craft_expect(&c, orig, &info0, "header", "metric of another elem");

    free(orig);
    free(c.b);
    vex_index_free(ix);
}

static void test_open_options(void)
{
    vex_index *ix = build(&SPECS[0], 10, 0, 0), *o = NULL;
    unsigned char *blob;
    uint64_t size = 0;
    vex_open_options oo;
    if (ix == NULL)
        return;
    blob = blob_of(ix, &size);

    /* below the first release's size (never initialised), and above this
     * library's (a newer header): both refused, the handle explains */
    vex_open_options_init(&oo);
    oo.struct_size = 8;
    CHECK_RC(vex_index_open_buffer(blob, size, &oo, &o), VEX_MISUSE);
    CHECK(o && strstr(vex_index_errmsg(o), "struct_size"));
    CHECK_EQ_INT(vex_index_count(o), 0);
    CHECK_RC(vex_index_check(o), VEX_MISUSE);
    vex_index_free(o);
    vex_open_options_init(&oo);
    oo.struct_size = sizeof oo + 8;
    CHECK_RC(vex_index_open_buffer(blob, size, &oo, &o), VEX_MISUSE);
    CHECK(o && strstr(vex_index_errmsg(o), "newer"));
    vex_index_free(o);

    vex_open_options_init(&oo);
    oo.flags = 2;
    CHECK_RC(vex_index_open_buffer(blob, size, &oo, &o), VEX_INVALID);
    CHECK(o && strstr(vex_index_errmsg(o), "flags"));
    vex_index_free(o);

    vex_open_options_init(&oo);
    oo.n_threads = VEX_MAX_THREADS + 1;
    CHECK_RC(vex_index_open_buffer(blob, size, &oo, &o), VEX_INVALID);
    CHECK(o && vex_index_errmsg(o)[0] != '\0');
    vex_index_free(o);

    vex_open_options_init(&oo);
    CHECK_RC(vex_index_open_buffer(NULL, size, &oo, &o), VEX_MISUSE);
    CHECK(o && strstr(vex_index_errmsg(o), "NULL"));
    vex_index_free(o);

    CHECK_RC(vex_index_open_buffer(blob, size, &oo, NULL), VEX_MISUSE);
    /* NULL options mean defaults */
    CHECK_RC(vex_index_open_buffer(blob, size, NULL, &o), VEX_OK);
    CHECK_EQ_INT(vex_index_count(o), 10);
    vex_index_free(o);

    free(blob);
    vex_index_free(ix);
}

int main(void)
{
    TEST_RUN(test_round_trip);
    TEST_RUN(test_borrowed_cow);
    TEST_RUN(test_copy_modes);
    TEST_RUN(test_too_small);
    TEST_RUN(test_header_flips);
    TEST_RUN(test_section_flips);
    TEST_RUN(test_truncation);
    TEST_RUN(test_crafted_hnsw);
    TEST_RUN(test_crafted_hnsw_cosine);
    TEST_RUN(test_crafted_unreachable);
    TEST_RUN(test_crafted_flat);
    TEST_RUN(test_open_options);
    return TEST_EXIT();
}
