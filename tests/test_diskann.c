/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_diskann.c - the disk-resident graph index (src/index/diskann.c):
 * written into a real file at an offset after other bytes, opened, and
 * searched with pread: recall against exact search for L2 and cosine,
 * with and without the page cache (which must save reads), beam widths,
 * a filter; memory held against the vectors' size; damaged bytes in the
 * header, the in-memory sections and a node page (VEX_CORRUPT naming the
 * offset, never a crash), a newer version (VEX_UNSUPPORTED); bad
 * parameters.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/diskann.h"
#include "io/vfs.h"
#include "test.h"
#include "vecgen.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rng.h"

static vex_mem g_mem;
static vex_vfs *g_vfs;
static char g_dir[256];

static int accept_even(void *ctx, uint32_t key)
{
    (void)ctx;
    return key % 2 == 0;
}

typedef struct built {
    vex_file *f;
    uint64_t off, len;
    float *base;
    uint32_t *keys;
    size_t n, dim;
    vex_metric metric;
} built;

/* Build n vectors (keys 1000 + i) into a new file at offset 8192, after
 * 8192 bytes of something else. */
static int build(built *b, const char *name, size_t n, size_t dim, vex_metric m,
                 uint64_t seed)
{
    char path[512];
    vex_rng r;
    vx_dann_params p;
    unsigned char junk[8192];
    vex_err err;
    int rc;
    memset(b, 0, sizeof *b);
    vex_rng_seed(&r, seed);
    b->n = n;
    b->dim = dim;
    b->metric = m;
    b->off = 8192;
    b->base = vecgen_clustered(&r, n, dim, seed);
    b->keys = malloc(n * sizeof *b->keys);
    for (size_t i = 0; i < n; i++)
        b->keys[i] = (uint32_t)(1000 + i);
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    CHECK_RC(vex_vfs_open(g_vfs, path,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE,
                          &b->f, NULL),
             VEX_OK);
    memset(junk, 0xa5, sizeof junk);
    CHECK_RC(vex_file_write(b->f, junk, sizeof junk, 0, NULL), VEX_OK);
    vx_dann_params_init(&p);
    p.metric = m;
    p.R = 32;
    p.L = 64;
    vx_err_init(&err);
    rc = vx_dann_write(&g_mem, NULL, b->base, b->keys, n, (uint32_t)dim, &p,
                       b->f, b->off, &b->len, &err);
    CHECK_MSG(rc == VEX_OK, "write: %s", err.msg);
    CHECK(b->len % VX_DANN_PAGE == 0 && b->len > 0);
    vx_err_destroy(&err);
    return rc;
}

static void unbuild(built *b)
{
    vex_file_close(b->f, NULL);
    free(b->base);
    free(b->keys);
}

/* recall@10 over nq queries; reads per query into *pages */
static double recall(const built *b, vx_dann *d, const float *qs, size_t nq,
                     uint32_t L, uint32_t W, int filtered, double *pages,
                     double *hits_per_q)
{
    enum { K = 10 };
    vx_dann_scratch *s = NULL;
    vx_dann_stats st;
    float *dist = malloc(b->n * sizeof *dist);
    size_t ok = 0, total = 0;
    memset(&st, 0, sizeof st);
    CHECK_RC(vx_dann_scratch_create(d, L, W, &s), VEX_OK);
    for (size_t qi = 0; qi < nq; qi++) {
        const float *q = qs + qi * b->dim;
        vex_hit hits[K];
        size_t nh = 0, m = 0;
        float kth;
        vex_err err;
        vx_err_init(&err);
        CHECK_RC(vx_dann_search(d, s, q, K, L, W, filtered ? accept_even : NULL,
                                NULL, hits, &nh, &st, &err),
                 VEX_OK);
        vx_err_destroy(&err);
        for (size_t i = 0; i < b->n; i++)
            if (!filtered || b->keys[i] % 2 == 0)
                dist[m++] =
                    vecgen_dist(b->metric, q, b->base + i * b->dim, b->dim);
        for (size_t a = 0; a < K; a++)
            for (size_t c = a + 1; c < m; c++)
                if (dist[c] < dist[a]) {
                    float t = dist[a];
                    dist[a] = dist[c];
                    dist[c] = t;
                }
        kth = dist[K - 1];
        CHECK_EQ_INT(nh, K);
        for (size_t i = 0; i < nh; i++) {
            size_t row = hits[i].id - 1000;
            float e = vecgen_dist(b->metric, q, b->base + row * b->dim, b->dim);
            CHECK(hits[i].id >= 1000 && row < b->n);
            CHECK(!filtered || hits[i].id % 2 == 0);
            CHECK_MSG(fabsf(e - hits[i].distance) <= 1e-3f * (1 + fabsf(e)),
                      "reported %g, exact %g", (double)hits[i].distance,
                      (double)e);
            CHECK(i == 0 || hits[i].distance >= hits[i - 1].distance);
            ok += e <= kth * (1 + 1e-4f) + 1e-5f;
        }
        total += K;
    }
    vx_dann_scratch_free(d, s);
    free(dist);
    *pages = (double)st.pages_read / (double)nq;
    if (hits_per_q)
        *hits_per_q = (double)st.cache_hits / (double)nq;
    return (double)ok / (double)total;
}

static void recall_case(vex_metric m, size_t n, size_t dim)
{
    built b;
    vx_dann *d = NULL, *dc = NULL;
    vex_rng r;
    float *qs;
    double rec, pages, pages_c, hits_c;
    uint64_t cached;
    if (build(&b, "r.dann", n, dim, m, 3 + dim) != VEX_OK)
        return;
    vex_rng_seed(&r, 77);
    qs = vecgen_clustered(&r, 100, dim, 3 + dim);
    CHECK_RC(vx_dann_open(&g_mem, b.f, b.off, b.len, 0, &d, NULL), VEX_OK);
    CHECK_RC(
        vx_dann_open(&g_mem, b.f, b.off, b.len, 64 * VX_DANN_PAGE, &dc, NULL),
        VEX_OK);
    if (d && dc) {
        double raw = (double)n * (double)dim * 4;
        CHECK_EQ_INT(vx_dann_count(d), n);
        rec = recall(&b, d, qs, 100, 64, 4, 0, &pages, NULL);
        fprintf(stderr,
                "  %s n %zu dim %zu: recall@10 %.4f (L 64, W 4), %.1f pages "
                "read per query, resident %.1f%% of the vectors\n",
                vex_metric_name(m), n, dim, rec, pages,
                100.0 * (double)vx_dann_resident_bytes(d) / raw);
        CHECK(rec >= 0.95);
        CHECK(pages > 1 && pages < (double)vx_dann_pages(d, NULL) / 4);
        /* the cache holds the first pages: the same results, fewer reads */
        rec = recall(&b, dc, qs, 100, 64, 4, 0, &pages_c, &hits_c);
        vx_dann_pages(dc, &cached);
        fprintf(stderr,
                "    with %llu pages cached: recall %.4f, %.1f read and %.1f "
                "from the cache per query\n",
                (unsigned long long)cached, rec, pages_c, hits_c);
        CHECK(rec >= 0.95 && cached == 64);
        CHECK(hits_c >= 1 && pages_c < pages);
        /* a wider beam: fewer hops, the same quality */
        rec = recall(&b, d, qs, 100, 64, 8, 0, &pages, NULL);
        CHECK(rec >= 0.95);
        /* filtered: only accepted keys, still the nearest of them */
        rec = recall(&b, d, qs, 100, 96, 4, 1, &pages, NULL);
        fprintf(stderr, "    filter 1/2: recall %.4f\n", rec);
        CHECK(rec >= 0.9);
    }
    vx_dann_close(d);
    vx_dann_close(dc);
    free(qs);
    unbuild(&b);
}

static void test_recall(void)
{
    recall_case(VEX_METRIC_L2, 5000, 48);
    recall_case(VEX_METRIC_COSINE, 4000, 96);
    recall_case(VEX_METRIC_L2, 300, 1100); /* a record spans pages */
}

/* Flip one byte at `at` (relative to the index), then restore it. */
static void flip(built *b, uint64_t at, unsigned char *was)
{
    unsigned char c;
    CHECK_RC(vx_file_read_exact(b->f, &c, 1, b->off + at, NULL), VEX_OK);
    *was = c;
    c ^= 0x10;
    CHECK_RC(vex_file_write(b->f, &c, 1, b->off + at, NULL), VEX_OK);
}

static void unflip(built *b, uint64_t at, unsigned char was)
{
    CHECK_RC(vex_file_write(b->f, &was, 1, b->off + at, NULL), VEX_OK);
}

static void test_damage(void)
{
    built b;
    vx_dann *d = NULL;
    vx_dann_scratch *s = NULL;
    unsigned char hdr[VX_DANN_PAGE], was;
    vex_hit hits[10];
    size_t nh;
    vex_err err;
    uint64_t codes_off, nodes_off;
    if (build(&b, "d.dann", 400, 8, VEX_METRIC_L2, 5) != VEX_OK)
        return;
    vx_err_init(&err);
    CHECK_RC(vx_file_read_exact(b.f, hdr, sizeof hdr, b.off, NULL), VEX_OK);
    codes_off = vex_get_u64le(hdr + 64);
    nodes_off = vex_get_u64le(hdr + 96);
    /* every byte of the header's fields: VEX_CORRUPT, never a crash */
    for (uint64_t at = 0; at < 128; at++) {
        int rc;
        flip(&b, at, &was);
        rc = vx_dann_open(&g_mem, b.f, b.off, b.len, 0, &d, &err);
        CHECK_MSG(rc == VEX_CORRUPT, "header byte %llu: %s",
                  (unsigned long long)at, vex_status_name(rc));
        CHECK(d == NULL);
        unflip(&b, at, was);
    }
    CHECK(strstr(err.msg, "checksum") != NULL);
    /* a newer version with a valid checksum: VEX_UNSUPPORTED */
    {
        unsigned char h2[VX_DANN_PAGE];
        memcpy(h2, hdr, sizeof h2);
        vex_put_u32le(h2 + 8, 2);
        vex_put_u32le(h2 + VX_DANN_PAGE - 4, vex_crc32c(h2, VX_DANN_PAGE - 4));
        CHECK_RC(vex_file_write(b.f, h2, sizeof h2, b.off, NULL), VEX_OK);
        CHECK_RC(vx_dann_open(&g_mem, b.f, b.off, b.len, 0, &d, &err),
                 VEX_UNSUPPORTED);
        CHECK_RC(vex_file_write(b.f, hdr, sizeof hdr, b.off, NULL), VEX_OK);
    }
    /* the codes (read at open) */
    flip(&b, codes_off + 3, &was);
    CHECK_RC(vx_dann_open(&g_mem, b.f, b.off, b.len, 0, &d, &err), VEX_CORRUPT);
    CHECK(strstr(err.msg, "codes") != NULL);
    unflip(&b, codes_off + 3, was);
    /* a length that does not match the header */
    CHECK_RC(
        vx_dann_open(&g_mem, b.f, b.off, b.len - VX_DANN_PAGE, 0, &d, &err),
        VEX_CORRUPT);
    /* a node page (page 0 holds the medoid: every search reads it): the
     * open succeeds (pages are checked when read), the search fails */
    flip(&b, nodes_off + 100, &was);
    CHECK_RC(vx_dann_open(&g_mem, b.f, b.off, b.len, 0, &d, &err), VEX_OK);
    if (d) {
        CHECK_RC(vx_dann_scratch_create(d, 32, 4, &s), VEX_OK);
        CHECK_RC(vx_dann_search(d, s, b.base, 10, 32, 4, NULL, NULL, hits, &nh,
                                NULL, &err),
                 VEX_CORRUPT);
        CHECK(strstr(err.msg, "node page 0") != NULL);
        vx_dann_scratch_free(d, s);
        vx_dann_close(d);
        d = NULL;
    }
    /* ... and a cache over it refuses at open */
    CHECK_RC(
        vx_dann_open(&g_mem, b.f, b.off, b.len, 4 * VX_DANN_PAGE, &d, &err),
        VEX_CORRUPT);
    unflip(&b, nodes_off + 100, was);
    /* restored: searches work again */
    CHECK_RC(vx_dann_open(&g_mem, b.f, b.off, b.len, 0, &d, &err), VEX_OK);
    if (d) {
        CHECK_RC(vx_dann_scratch_create(d, 32, 4, &s), VEX_OK);
        CHECK_RC(vx_dann_search(d, s, b.base, 10, 32, 4, NULL, NULL, hits, &nh,
                                NULL, &err),
                 VEX_OK);
        CHECK(nh == 10 && hits[0].id == 1000 && hits[0].distance == 0);
        vx_dann_scratch_free(d, s);
        vx_dann_close(d);
    }
    vx_err_destroy(&err);
    unbuild(&b);
}

static void test_params(void)
{
    built b;
    vx_dann_params p;
    float v[16 * 4];
    uint32_t keys[16];
    uint64_t len;
    vex_err err;
    vx_err_init(&err);
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 64; i++)
        v[i] = (float)i;
    for (uint32_t i = 0; i < 16; i++)
        keys[i] = i;
    CHECK_RC(vex_vfs_open(g_vfs, "/tmp/../tmp/vex_dann_params.tmp",
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE,
                          &b.f, NULL),
             VEX_OK);
    vx_dann_params_init(&p);
    p.R = 8;
    p.L = 16;
    CHECK_RC(
        vx_dann_write(&g_mem, NULL, v, keys, 15, 4, &p, b.f, 0, &len, &err),
        VEX_INVALID); /* too few */
    CHECK(strstr(err.msg, "at least 16") != NULL);
    CHECK_RC(
        vx_dann_write(&g_mem, NULL, v, keys, 16, 4, &p, b.f, 100, &len, &err),
        VEX_INVALID); /* misaligned */
    p.metric = VEX_METRIC_IP;
    CHECK_RC(
        vx_dann_write(&g_mem, NULL, v, keys, 16, 4, &p, b.f, 0, &len, &err),
        VEX_INVALID);
    vx_dann_params_init(&p);
    p.R = 8;
    p.L = 16;
    v[5] = NAN;
    CHECK_RC(
        vx_dann_write(&g_mem, NULL, v, keys, 16, 4, &p, b.f, 0, &len, &err),
        VEX_INVALID);
    CHECK(strstr(err.msg, "non-finite") != NULL);
    v[5] = 5;
    /* the smallest index: 16 vectors, 4-bit codes */
    CHECK_RC(
        vx_dann_write(&g_mem, NULL, v, keys, 16, 4, &p, b.f, 0, &len, &err),
        VEX_OK);
    vex_file_close(b.f, NULL);
    unlink("/tmp/vex_dann_params.tmp");
    vx_err_destroy(&err);
}

int main(void)
{
    vx_mem_init(&g_mem, NULL);
    if (vx_vfs_posix_create(NULL, &g_vfs) != VEX_OK)
        return 2;
    snprintf(g_dir, sizeof g_dir, "/tmp/vex_test_dann_XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 2;
    TEST_RUN(test_recall);
    TEST_RUN(test_damage);
    TEST_RUN(test_params);
    rm_rf(g_dir);
    g_vfs->methods->destroy(g_vfs);
    return TEST_EXIT();
}
