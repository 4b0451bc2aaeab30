/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_manifest.c - the collection manifest (src/storage/manifest.h):
 * encode/decode round trips (0, 1 and many segments, seeded deleted-id
 * lists, UINT64_MAX everywhere it is allowed); publish and load on the
 * in-memory and the posix vfs; every VEX_INVALID case of encode; decode
 * of truncated, zeroed, bit-flipped and re-sealed damaged buffers
 * (VEX_CORRUPT naming the file and offset, never a crash); CURRENT damage;
 * an I/O fault sweep of publish (every call, every fault kind, transient
 * and persistent) checking the status, the ambiguous flag, leaks and that
 * the disk holds the old or the new manifest; power losses (crash vfs:
 * keep, drop, garble) at every vfs call of a sequence of publishes; and
 * an allocation-failure sweep.
 */
#include <unistd.h>

#include "io/vfs.h"
#include "storage/manifest.h"
/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rng.h"
#include "vexdb.h"

static vex_err g_err;

/* ---- a counting allocator that can fail the Nth allocation ---------- */

typedef struct counting {
    long live;
    long n_allocs;
    long fail_at; /* 0 = never */
} counting;

static void *c_alloc(void *user, size_t n)
{
    counting *c = user;
    void *p;
    if (c->fail_at && ++c->n_allocs == c->fail_at)
        return NULL;
    p = malloc(n);
    if (p)
        c->live++;
    return p;
}

static void *c_realloc(void *user, void *ptr, size_t n)
{
    counting *c = user;
    void *p;
    if (c->fail_at && ++c->n_allocs == c->fail_at)
        return NULL;
    p = realloc(ptr, n);
    if (p && ptr == NULL)
        c->live++;
    return p;
}

static void c_free(void *user, void *ptr)
{
    counting *c = user;
    if (ptr)
        c->live--;
    free(ptr);
}

static counting g_count;
static vex_mem g_mem;

static void mem_init(void)
{
    vex_allocator a = {c_alloc, c_realloc, c_free, &g_count};
    memset(&g_count, 0, sizeof g_count);
    CHECK_RC(vx_mem_init(&g_mem, &a), VEX_OK);
}

/* ---- generated manifests -------------------------------------------- */

/* A valid manifest numbered `number` with n_segs segments; seg numbers and
 * contents from `seed`. Arrays from g_mem (vx_manifest_free frees them). */
static void gen(manifest *m, uint64_t seed, uint64_t number, uint32_t n_segs)
{
    vex_rng r;
    uint32_t i;
    memset(m, 0, sizeof *m);
    vex_rng_seed(&r, seed);
    m->number = number;
    snprintf(m->config.name, sizeof m->config.name, "coll_%llu-x.y",
             (unsigned long long)seed);
    m->config.dim = 1 + (uint32_t)vex_rng_below(&r, VEX_MAX_DIM);
    if (seed & 1) {
        m->config.elem = VEX_ELEM_BIT;
        m->config.metric = VEX_METRIC_HAMMING + (uint32_t)(seed >> 1 & 1);
        m->config.index_kind = VEX_INDEX_FLAT;
    } else {
        m->config.elem = VEX_ELEM_F32;
        m->config.metric = VEX_METRIC_L2 + (uint32_t)(seed % 3);
        m->config.index_kind = VEX_INDEX_HNSW;
        m->config.hnsw_m = 2 + (uint32_t)vex_rng_below(&r, 255);
        m->config.hnsw_ef_construction = (uint32_t)vex_rng_below(&r, 1000);
        m->config.hnsw_ef_search = (uint32_t)vex_rng_below(&r, 1000);
        m->config.hnsw_seed = vex_rng_next(&r);
    }
    m->config.created_unix = 1700000000 + seed;
    m->next_file = number + n_segs + 1 + vex_rng_below(&r, 5);
    m->flushed_seq = 1000 * (n_segs + 1) + vex_rng_below(&r, 100);
    m->n_segments = n_segs;
    m->segs = n_segs ? vx_mem_calloc(&g_mem, n_segs, sizeof *m->segs) : NULL;
    for (i = 0; i < n_segs; i++) {
        man_segment *s = &m->segs[i];
        uint64_t k, id = vex_rng_below(&r, 10);
        s->number = number + 1 + i; /* distinct, below next_file */
        s->n_rows = vex_rng_below(&r, 500);
        s->file_size = 4096 + vex_rng_next(&r) % (1ull << 40);
        s->min_seq = 1000 * i + 1;
        s->max_seq = s->min_seq + vex_rng_below(&r, 999);
        s->n_deleted = s->n_rows ? vex_rng_below(&r, s->n_rows / 3 + 1) : 0;
        if (s->n_deleted)
            s->deleted =
                vx_mem_alloc(&g_mem, (size_t)s->n_deleted * sizeof(uint64_t));
        for (k = 0; k < s->n_deleted; k++) {
            id += 1 + vex_rng_below(&r, 1000);
            s->deleted[k] = id;
        }
    }
}

static int same(const manifest *a, const manifest *b)
{
    uint32_t i;
    if (a->number != b->number || a->next_file != b->next_file ||
        a->flushed_seq != b->flushed_seq || a->n_segments != b->n_segments ||
        a->as_of_seq != b->as_of_seq || a->publish_unix != b->publish_unix ||
        memcmp(&a->config, &b->config, sizeof a->config) != 0)
        return 0;
    for (i = 0; i < a->n_segments; i++) {
        const man_segment *s = &a->segs[i], *t = &b->segs[i];
        if (s->number != t->number || s->n_rows != t->n_rows ||
            s->file_size != t->file_size || s->min_seq != t->min_seq ||
            s->max_seq != t->max_seq || s->n_deleted != t->n_deleted)
            return 0;
        if (s->n_deleted &&
            memcmp(s->deleted, t->deleted, s->n_deleted * 8) != 0)
            return 0;
    }
    return 1;
}

static int err_has(const char *s)
{
    char msg[VEX_ERRMSG_MAX];
    vx_err_copy(&g_err, msg, sizeof msg);
    if (strstr(msg, s) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, s);
        return 0;
    }
    return 1;
}

/* encode, decode, compare, re-encode byte for byte */
static void roundtrip(const manifest *m)
{
    unsigned char *b = NULL, *b2 = NULL;
    size_t n = 0, n2 = 0;
    manifest d;
    CHECK_RC(vx_manifest_encode(m, &g_mem, &g_err, &b, &n), VEX_OK);
    if (b == NULL)
        return;
    CHECK_RC(vx_manifest_decode(b, n, "MANIFEST-x", &g_mem, &g_err, &d),
             VEX_OK);
    CHECK(same(m, &d));
    CHECK_RC(vx_manifest_encode(&d, &g_mem, &g_err, &b2, &n2), VEX_OK);
    CHECK(n2 == n && b2 && memcmp(b, b2, n) == 0);
    vx_manifest_free(&d, &g_mem);
    CHECK(d.segs == NULL && d.n_segments == 0 && d.number == 0);
    vx_mem_free(&g_mem, b);
    vx_mem_free(&g_mem, b2);
}

static void test_roundtrip(void)
{
    manifest m;
    uint64_t seed;
    uint64_t big_del[3] = {0, UINT64_MAX - 1, UINT64_MAX};
    man_segment seg;
    mem_init();
    for (seed = 1; seed <= 40; seed++) {
        uint32_t n = seed <= 2 ? (uint32_t)seed - 1 : (uint32_t)(seed * 7);
        gen(&m, seed, seed * 3, n);
        if (seed % 3 == 0) { /* format 3: the history block */
            m.as_of_seq = m.flushed_seq + seed % 4;
            m.publish_unix = 1700000000 + seed;
        }
        roundtrip(&m);
        vx_manifest_free(&m, &g_mem);
    }
    /* big numbers */
    gen(&m, 2, UINT64_MAX - 2, 0);
    m.next_file = UINT64_MAX;
    m.flushed_seq = UINT64_MAX;
    m.config.hnsw_seed = UINT64_MAX;
    m.config.created_unix = UINT64_MAX;
    m.config.hnsw_m = 256;
    m.config.hnsw_ef_construction = VEX_MAX_K;
    m.config.hnsw_ef_search = VEX_MAX_K;
    memset(m.config.name, 'z', MAN_NAME_MAX); /* exactly 64 */
    m.config.name[MAN_NAME_MAX] = '\0';
    m.config.dim = VEX_MAX_DIM;
    memset(&seg, 0, sizeof seg);
    seg.number = UINT64_MAX - 1;
    seg.n_rows = UINT64_MAX;
    seg.file_size = UINT64_MAX;
    seg.min_seq = UINT64_MAX;
    seg.max_seq = UINT64_MAX;
    seg.n_deleted = 3;
    seg.deleted = big_del;
    m.n_segments = 1;
    m.segs = &seg;
    roundtrip(&m);
    CHECK_EQ_INT(g_count.live, 0);
}

/* ---- names ---------------------------------------------------------- */

static void test_names(void)
{
    char b[MAN_FILE_NAME_SIZE];
    uint64_t v = 0;
    CHECK_RC(vx_manifest_file_name(b, sizeof b, 0x1a), VEX_OK);
    CHECK(strcmp(b, "MANIFEST-000000000000001a") == 0);
    CHECK_RC(vx_manifest_file_name(b, sizeof b, UINT64_MAX), VEX_OK);
    CHECK(strcmp(b, "MANIFEST-ffffffffffffffff") == 0);
    CHECK_RC(vx_manifest_file_name(b, sizeof b - 1, 1), VEX_INVALID);
    CHECK(b[0] == '\0');
    CHECK(vx_manifest_parse_name("MANIFEST-ffffffffffffffff", &v) &&
          v == UINT64_MAX);
    CHECK(vx_manifest_parse_name("MANIFEST-000000000000001a", &v) && v == 0x1a);
    CHECK(!vx_manifest_parse_name("MANIFEST-000000000000001A", &v));
    CHECK(!vx_manifest_parse_name("MANIFEST-000000000000001", &v));
    CHECK(!vx_manifest_parse_name("MANIFEST-000000000000001a0", &v));
    CHECK(!vx_manifest_parse_name("MANIFEST-000000000000001a.tmp", &v));
    CHECK(!vx_manifest_parse_name("manifest-000000000000001a", &v));
    CHECK(!vx_manifest_parse_name("CURRENT", &v));
    CHECK(!vx_manifest_parse_name("", &v));
}

/* ---- validation on encode ------------------------------------------- */

static void expect_invalid(const manifest *m, const char *what)
{
    unsigned char *b = (unsigned char *)1;
    size_t n = 1;
    int rc = vx_manifest_encode(m, &g_mem, &g_err, &b, &n);
    CHECK_MSG(rc == VEX_INVALID, "%s: rc %d", what, rc);
    CHECK(b == NULL && n == 0);
}

static void test_encode_invalid(void)
{
    manifest m, t;
    man_segment segs[3];
    uint64_t del[3];
    unsigned char *b = NULL;
    size_t n = 0;
    int i;
    mem_init();
    gen(&m, 4, 10, 3);
    memcpy(segs, m.segs, sizeof segs);
    m.segs[1].n_rows = 10;
    m.segs[1].n_deleted = 3;
    del[0] = 5;
    del[1] = 6;
    del[2] = 9;
    vx_mem_free(&g_mem, m.segs[1].deleted);
    m.segs[1].deleted = del;
    memcpy(segs, m.segs, sizeof segs);
    t = m;
    t.segs = segs;
    CHECK_RC(vx_manifest_encode(&t, &g_mem, &g_err, &b, &n), VEX_OK);
    vx_mem_free(&g_mem, b);

#define CASE(stmt, what)                                                       \
    do {                                                                       \
        t = m;                                                                 \
        memcpy(segs, m.segs, sizeof segs);                                     \
        t.segs = segs;                                                         \
        del[0] = 5;                                                            \
        del[1] = 6;                                                            \
        del[2] = 9;                                                            \
        stmt;                                                                  \
        expect_invalid(&t, what);                                              \
    } while (0)

    CASE(t.config.name[0] = '\0', "empty name");
    CASE(t.config.name[0] = '.', "leading dot");
    CASE(t.config.name[2] = '/', "slash");
    CASE(t.config.name[2] = ' ', "space");
    CASE(t.config.name[2] = (char)0xc3, "non-ascii");
    CASE(memset(t.config.name, 'a', sizeof t.config.name), "65 bytes");
    CASE(t.config.dim = 0, "dim 0");
    CASE(t.config.dim = VEX_MAX_DIM + 1, "dim too big");
    CASE(t.config.elem = 0, "elem 0");
    CASE(t.config.elem = 3, "elem 3");
    CASE(t.config.metric = 0, "metric 0");
    CASE(t.config.metric = 6, "metric 6");
    CASE(t.config.metric = VEX_METRIC_HAMMING, "f32 hamming");
    CASE((t.config.elem = VEX_ELEM_BIT, t.config.metric = VEX_METRIC_L2),
         "bit l2");
    CASE(t.config.index_kind = 0, "kind 0");
    CASE(t.config.index_kind = 3, "kind 3");
    CASE(t.config.hnsw_m = 1, "m 1");
    CASE(t.config.hnsw_m = 257, "m 257");
    CASE(t.config.hnsw_ef_construction = VEX_MAX_K + 1, "efc");
    CASE(t.config.hnsw_ef_search = VEX_MAX_K + 1, "efs");
    CASE((t.config.index_kind = VEX_INDEX_FLAT, t.config.hnsw_m = 0,
          t.config.hnsw_ef_construction = 0, t.config.hnsw_ef_search = 0),
         "flat with seed");
    CASE(t.next_file = t.number, "number == next_file");
    CASE(t.next_file = segs[2].number, "segment number == next_file");
    CASE(segs[0].number = t.number, "segment number == manifest number");
    CASE(segs[2].number = segs[0].number, "duplicate segment numbers");
    CASE(segs[1].n_rows = 2, "n_deleted > n_rows");
    CASE(del[1] = 5, "duplicate deleted id");
    CASE(del[2] = 1, "unsorted deleted ids");
    CASE(segs[1].deleted = NULL, "NULL deleted");
    CASE(t.segs = NULL, "NULL segs");
    CASE(t.n_segments = MAN_MAX_SEGMENTS + 1, "too many segments");
    CASE(segs[0].min_seq = segs[0].max_seq + 1, "min_seq > max_seq");
    CASE(t.flushed_seq = segs[2].max_seq - 1, "max_seq > flushed_seq");
#undef CASE
    CHECK_RC(vx_manifest_encode(NULL, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, NULL, &n), VEX_INVALID);
    m.segs[1].deleted = NULL;
    vx_manifest_free(&m, &g_mem);
    /* every valid name character and a name made only of them */
    gen(&m, 2, 1, 0);
    snprintf(m.config.name, sizeof m.config.name, "%s",
             "AZaz09_.-b"); /* '.' allowed inside */
    roundtrip(&m);
    for (i = 0; i < 64; i++)
        m.config.name[i] = "ab-_.9"[i % 6];
    m.config.name[64] = '\0';
    roundtrip(&m);
    CHECK_EQ_INT(g_count.live, 0);
}

/* ---- decoding damage ------------------------------------------------ */

/* Give segment s n_rows rows and n_del deleted ids 10, 20, ... */
static void set_deleted(man_segment *s, uint64_t n_rows, uint64_t n_del)
{
    uint64_t k;
    vx_mem_free(&g_mem, s->deleted);
    s->n_rows = n_rows;
    s->n_deleted = n_del;
    s->deleted = vx_mem_alloc(&g_mem, (size_t)n_del * sizeof(uint64_t));
    for (k = 0; k < n_del; k++)
        s->deleted[k] = 10 * (k + 1);
}

static void reseal(unsigned char *b, size_t n)
{
    vex_put_u64le(b + 16, n);
    vex_put_u32le(b + n - 4, vex_crc32c(b, n - 4));
}

static void expect_corrupt(const unsigned char *b, size_t n, const char *what)
{
    manifest d;
    int rc;
    memset(&d, 0xab, sizeof d);
    rc = vx_manifest_decode(b, n, "MANIFEST-00000000000000aa", &g_mem, &g_err,
                            &d);
    CHECK_MSG(rc == VEX_CORRUPT, "%s: rc %d", what, rc);
    if (rc == VEX_OK)
        vx_manifest_free(&d, &g_mem);
    CHECK(d.segs == NULL && d.n_segments == 0);
    CHECK(err_has("MANIFEST-00000000000000aa") && err_has("offset"));
}

static void test_decode_damage(void)
{
    manifest m, d;
    unsigned char *b = NULL, *c;
    size_t n = 0, i, bit, stride;
    mem_init();
    gen(&m, 6, 5, 3);
    set_deleted(&m.segs[0], 50, 3);
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    c = malloc(n);
    /* truncated at every length, zeroed */
    for (i = 0; i < n; i++)
        expect_corrupt(b, i, "truncated");
    memset(c, 0, n);
    expect_corrupt(c, n, "zeroed");
    CHECK_RC(vx_manifest_decode(NULL, 0, NULL, &g_mem, &g_err, &d),
             VEX_CORRUPT);
    CHECK(err_has("manifest"));
    /* every bit */
    for (bit = 0; bit < n * 8; bit++) {
        memcpy(c, b, n);
        c[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        expect_corrupt(c, n, "bit flip");
    }
    /* re-sealed damage: valid length and checksum, bad fields */
#define SEALED(stmt, what)                                                     \
    do {                                                                       \
        memcpy(c, b, n);                                                       \
        stmt;                                                                  \
        reseal(c, n);                                                          \
        expect_corrupt(c, n, what);                                            \
    } while (0)
    SEALED(c[0] = 'W', "magic");
    SEALED(vex_put_u32le(c + 8, 0), "version 0");
    SEALED(vex_put_u32le(c + 12, 1), "reserved 12");
    SEALED(vex_put_u32le(c + 52, 1), "reserved 52");
    SEALED(vex_put_u32le(c + 48, 2), "n_segments smaller");
    SEALED(vex_put_u32le(c + 48, 0xffffffff), "n_segments huge");
    SEALED(vex_put_u64le(c + 56, UINT64_MAX), "total deleted huge");
    SEALED(vex_put_u64le(c + 32, 5), "next_file == number");
    SEALED(c[64] = 0, "empty name");
    SEALED(c[64 + 63] = 'x', "byte after the name");
    SEALED(c[64] = '.', "dot name");
    SEALED(vex_put_u32le(c + 64 + 64, 0), "dim 0");
    SEALED(vex_put_u32le(c + 64 + 68, 9), "elem");
    SEALED(vex_put_u32le(c + 64 + 72, 9), "metric");
    SEALED(vex_put_u32le(c + 64 + 76, 9), "kind");
    SEALED(vex_put_u32le(c + 64 + 80, 1), "m");
    SEALED(vex_put_u32le(c + 64 + 92, 1), "reserved cfg");
    SEALED(c[64 + 120] = 1, "reserved cfg tail");
    SEALED(vex_put_u64le(c + 192 + 48, 6), "duplicate segment number");
    SEALED(vex_put_u64le(c + 192, 5), "segment number == manifest");
    SEALED(vex_put_u64le(c + 192 + 24, UINT64_MAX), "min_seq > max_seq");
    SEALED(vex_put_u64le(c + 40, 0), "max_seq > flushed_seq");
    SEALED(vex_put_u64le(c + 192 + 8, 0), "n_deleted > n_rows");
    SEALED(vex_put_u64le(c + 192 + 40, m.segs[0].n_deleted + 1),
           "n_deleted moved between segments");
#undef SEALED
    /* a deleted-id list out of order, and a newer version */
    memcpy(c, b, n);
    vex_put_u64le(c + 192 + 3 * 48 + 8, 10);
    reseal(c, n);
    expect_corrupt(c, n, "ids not ascending");
    CHECK(err_has("not ascending"));
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 6);
    reseal(c, n);
    CHECK_RC(vx_manifest_decode(c, n, "M", &g_mem, &g_err, &d),
             VEX_UNSUPPORTED);
    CHECK(err_has("newer"));
    /* version 5 needs a text field at offset 12: 1, stemmer, stop words */
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 5);
    reseal(c, n);
    expect_corrupt(c, n, "text configuration");
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 5);
    vex_put_u32le(c + 12, 0x00020101u);
    reseal(c, n);
    expect_corrupt(c, n, "text configuration");
    memcpy(c, b, n);
    vex_put_u32le(c + 12, 0x00000101u); /* a text field in version 4 */
    reseal(c, n);
    expect_corrupt(c, n, "reserved");
    /* version 2 needs a schema; version 1 has none */
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 2);
    reseal(c, n);
    expect_corrupt(c, n, "version 2 without a schema");
    CHECK(err_has("schema length 0"));
    memcpy(c, b, n);
    vex_put_u32le(c + 64 + 112, 4);
    reseal(c, n);
    expect_corrupt(c, n, "version 1 with a schema length");
    free(c);
    /* a schema blob round trips (opaque bytes) and makes version 2; a
     * length that does not fit the file is damage */
    {
        unsigned char *b2 = NULL, blob[5] = {1, 2, 3, 4, 5};
        size_t n2 = 0;
        m.schema = blob;
        m.schema_len = 5;
        CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b2, &n2), VEX_OK);
        m.schema = NULL;
        m.schema_len = 0;
        CHECK_EQ_INT(n2, n + 5);
        if (b2) {
            CHECK_EQ_INT(vex_get_u32le(b2 + 8), 2);
            CHECK_RC(vx_manifest_decode(b2, n2, "M", &g_mem, &g_err, &d),
                     VEX_OK);
            CHECK(d.schema_len == 5 && d.schema &&
                  memcmp(d.schema, blob, 5) == 0);
            vx_manifest_free(&d, &g_mem);
            vex_put_u32le(b2 + 64 + 112, 6);
            reseal(b2, n2);
            expect_corrupt(b2, n2, "schema length past the end");
            vx_mem_free(&g_mem, b2);
        }
    }
    vx_mem_free(&g_mem, b);
    vx_manifest_free(&m, &g_mem);
    /* a big one, a stride of bits */
    gen(&m, 8, 5, 300);
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    CHECK(n > 20000);
    c = malloc(n);
    stride = 8 * n / 3000 + 1;
    for (bit = 0; bit < n * 8; bit += stride) {
        memcpy(c, b, n);
        c[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        expect_corrupt(c, n, "bit flip big");
    }
    for (i = 0; i < n; i += 97)
        expect_corrupt(b, i, "truncated big");
    memcpy(c, b, n);
    memset(c + n / 2, 0, 512);
    expect_corrupt(c, n, "zeroed sector");
    free(c);
    vx_mem_free(&g_mem, b);
    vx_manifest_free(&m, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

/* ---- publish and load --------------------------------------------------- */

static void path_of(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void write_all(vex_vfs *v, const char *path, const void *buf, size_t n)
{
    vex_file *f = NULL;
    CHECK_RC(vex_vfs_open(v, path,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE,
                          &f, &g_err),
             VEX_OK);
    if (f && n)
        CHECK_RC(vex_file_write(f, buf, n, 0, &g_err), VEX_OK);
    vex_file_close(f, NULL);
}

static long read_all(vex_vfs *v, const char *path, unsigned char *buf,
                     size_t cap)
{
    vex_file *f = NULL;
    size_t got = 0;
    if (vex_vfs_open(v, path, VX_FILE_READONLY, &f, NULL) != VEX_OK)
        return -1;
    if (vex_file_read(f, buf, cap, 0, &got, NULL) != VEX_OK)
        got = 0;
    vex_file_close(f, NULL);
    return (long)got;
}

static int file_exists(vex_vfs *v, const char *dir, const char *name)
{
    char p[512];
    int kind = VEX_VFS_NONE;
    path_of(p, sizeof p, dir, name);
    vex_vfs_exists(v, p, &kind, NULL);
    return kind == VEX_VFS_FILE;
}

/* Load and compare with `want` (NULL: expect VEX_NOTFOUND). */
static int load_is(vex_vfs *v, const char *dir, const manifest *want)
{
    manifest d;
    int rc = vx_manifest_load(v, dir, &g_mem, &g_err, &d), ok;
    ok = want == NULL ? rc == VEX_NOTFOUND : rc == VEX_OK && same(&d, want);
    vx_manifest_free(&d, &g_mem);
    return ok;
}

static void publish_load(vex_vfs *v, const char *dir)
{
    manifest a, b, d;
    int amb = 7;
    mem_init();
    gen(&a, 10, 1, 0);
    gen(&b, 11, 9, 20);
    CHECK_RC(vx_manifest_load(v, dir, &g_mem, &g_err, &d), VEX_NOTFOUND);
    CHECK(err_has("CURRENT"));
    CHECK_RC(vx_manifest_publish(v, dir, &a, &g_mem, &g_err, &amb), VEX_OK);
    CHECK_EQ_INT(amb, 0);
    CHECK(load_is(v, dir, &a));
    CHECK_RC(vx_manifest_publish(v, dir, &b, &g_mem, &g_err, NULL), VEX_OK);
    CHECK(load_is(v, dir, &b));
    CHECK(file_exists(v, dir, "MANIFEST-0000000000000001")); /* kept */
    CHECK(file_exists(v, dir, "MANIFEST-0000000000000009"));
    CHECK(!file_exists(v, dir, "CURRENT.tmp"));
    /* a number in use: VEX_EXISTS, nothing changes, the file stays */
    amb = 7;
    CHECK_RC(vx_manifest_publish(v, dir, &a, &g_mem, &g_err, &amb), VEX_EXISTS);
    CHECK_EQ_INT(amb, 0);
    CHECK(err_has("MANIFEST-0000000000000001"));
    CHECK(file_exists(v, dir, "MANIFEST-0000000000000001"));
    CHECK(load_is(v, dir, &b));
    /* an invalid manifest is refused before any I/O */
    b.next_file = b.number;
    CHECK_RC(vx_manifest_publish(v, dir, &b, &g_mem, &g_err, &amb),
             VEX_INVALID);
    CHECK_EQ_INT(amb, 0);
    vx_manifest_free(&a, &g_mem);
    vx_manifest_free(&b, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

/* Format 3: the history block (as_of_seq, publish_unix) after the
 * schema; written only when set, so manifests without it keep format 1/2
 * bytes. */
static void test_history_block(void)
{
    manifest m, d;
    unsigned char *b = NULL, *c;
    size_t n = 0;
    mem_init();
    gen(&m, 4, 9, 2); /* seed 4: no history block */
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    CHECK(b && vex_get_u32le(b + 8) == 1);
    vx_mem_free(&g_mem, b);
    m.as_of_seq = m.flushed_seq + 5;
    m.publish_unix = 1234567;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    if (b == NULL)
        return;
    CHECK_EQ_INT(vex_get_u32le(b + 8), 3);
    CHECK_EQ_INT(vex_get_u64le(b + n - 20), m.flushed_seq + 5);
    CHECK_EQ_INT(vex_get_u64le(b + n - 12), 1234567);
    CHECK_RC(vx_manifest_decode(b, n, "M", &g_mem, &g_err, &d), VEX_OK);
    CHECK_EQ_INT(d.as_of_seq, m.flushed_seq + 5);
    CHECK_EQ_INT(d.publish_unix, 1234567);
    vx_manifest_free(&d, &g_mem);
    c = malloc(n);
    /* as_of_seq below flushed_seq */
    memcpy(c, b, n);
    vex_put_u64le(c + n - 20, m.flushed_seq - 1);
    reseal(c, n);
    expect_corrupt(c, n, "as_of_seq below flushed_seq");
    CHECK(err_has("as_of_seq"));
    /* format 3 claimed by a manifest without the block, and format 1
     * claimed by one with it: the sizes do not add up */
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 1);
    reseal(c, n);
    expect_corrupt(c, n, "format 1 with a history block");
    free(c);
    vx_mem_free(&g_mem, b);
    m.as_of_seq = m.flushed_seq - 1;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK(err_has("as_of_seq"));
    vx_manifest_free(&m, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

/* Format 4: the compression field at header offset 52, written only for a
 * compressed collection (so every other manifest keeps its format 1..3
 * bytes and older readers keep reading it). */
static void test_compression_field(void)
{
    manifest m, d;
    unsigned char *b = NULL, *c;
    size_t n = 0;
    int rc;
    mem_init();
    gen(&m, 4, 9, 2);
    m.config.compression = 1;
    /* format 4 always carries the history block */
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK(err_has("history block"));
    m.as_of_seq = m.flushed_seq + 1;
    m.publish_unix = 99;
    roundtrip(&m);
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    if (b == NULL)
        return;
    CHECK_EQ_INT(vex_get_u32le(b + 8), 4);
    CHECK_EQ_INT(vex_get_u32le(b + 52), 1);
    c = malloc(n);
    /* an unknown compression is unsupported, not damage */
    memcpy(c, b, n);
    vex_put_u32le(c + 52, 2);
    reseal(c, n);
    rc = vx_manifest_decode(c, n, "M", &g_mem, &g_err, &d);
    CHECK_RC(rc, VEX_UNSUPPORTED);
    CHECK(err_has("compression 2 at offset 52"));
    if (rc == VEX_OK)
        vx_manifest_free(&d, &g_mem);
    /* format 4 with no compression is never written */
    memcpy(c, b, n);
    vex_put_u32le(c + 52, 0);
    reseal(c, n);
    expect_corrupt(c, n, "format 4 without compression");
    /* format 3 keeps offset 52 reserved */
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 3);
    reseal(c, n);
    expect_corrupt(c, n, "format 3 with a compression field");
    CHECK(err_has("offset 52"));
    free(c);
    vx_mem_free(&g_mem, b);
    /* an uncompressed collection's manifest stays format 3 */
    m.config.compression = 0;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    CHECK(b && vex_get_u32le(b + 8) == 3 && vex_get_u32le(b + 52) == 0);
    vx_mem_free(&g_mem, b);
    m.config.compression = 2;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK(err_has("unknown compression 2"));
    vx_manifest_free(&m, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

/* Format 5: the extension block (its length at header offset 12), with
 * the DiskANN entry, written only for a collection with DiskANN
 * segments. */
static void test_extension_block(void)
{
    manifest m, d;
    unsigned char *b = NULL, *c;
    size_t n = 0;
    int rc;
    uint32_t at;
    mem_init();
    gen(&m, 3, 9, 2);
    m.config.elem = VEX_ELEM_F32;
    m.config.metric = VEX_METRIC_L2;
    m.config.dann_min_rows = 1000;
    m.config.dann_r = 64;
    m.config.dann_l = 100;
    m.config.dann_alpha = 1.2f;
    m.config.dann_pq_m = m.config.dim < 8 ? 1 : m.config.dim / 4;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK(err_has("history block"));
    m.as_of_seq = m.flushed_seq + 1;
    m.publish_unix = 99;
    roundtrip(&m);
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    if (b == NULL)
        return;
    CHECK_EQ_INT(vex_get_u32le(b + 8), 5);
    CHECK_EQ_INT(vex_get_u32le(b + 12), 32);
    CHECK_EQ_INT(vex_get_u32le(b + 52), 0);
    rc = vx_manifest_decode(b, n, "M", &g_mem, &g_err, &d);
    CHECK_RC(rc, VEX_OK);
    if (rc == VEX_OK) {
        CHECK_EQ_INT(d.config.dann_min_rows, 1000);
        CHECK_EQ_INT(d.config.dann_r, 64);
        CHECK_EQ_INT(d.config.dann_l, 100);
        CHECK(d.config.dann_alpha == 1.2f);
        vx_manifest_free(&d, &g_mem);
    }
    at = (uint32_t)n - 4 - 32; /* the block: before the CRC */
    c = malloc(n);
    /* an unknown entry kind is unsupported, not damage */
    memcpy(c, b, n);
    vex_put_u32le(c + at, 9);
    reseal(c, n);
    CHECK_RC(vx_manifest_decode(c, n, "M", &g_mem, &g_err, &d),
             VEX_UNSUPPORTED);
    CHECK(err_has("extension entry kind 9"));
    /* out-of-range settings, a wrong entry length, a block length that
     * does not add up */
    memcpy(c, b, n);
    vex_put_u32le(c + at + 16, 2); /* R */
    reseal(c, n);
    expect_corrupt(c, n, "DiskANN R 2");
    CHECK(err_has("diskann_r not 4..256"));
    memcpy(c, b, n);
    vex_put_u64le(c + at + 8, 0); /* min_rows */
    reseal(c, n);
    expect_corrupt(c, n, "DiskANN min_rows 0");
    memcpy(c, b, n);
    vex_put_u32le(c + at + 4, 20);
    reseal(c, n);
    expect_corrupt(c, n, "DiskANN entry of 20 bytes");
    memcpy(c, b, n);
    vex_put_u32le(c + 12, 24);
    reseal(c, n);
    expect_corrupt(c, n, "block length 24");
    /* format 4 keeps offset 12 reserved */
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 4);
    reseal(c, n);
    expect_corrupt(c, n, "format 4 with an extension length");
    free(c);
    vx_mem_free(&g_mem, b);
    /* inconsistent settings are refused by the encoder */
    m.config.metric = VEX_METRIC_IP;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    m.config.metric = VEX_METRIC_L2;
    m.config.dann_min_rows = 0;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK(err_has("without diskann_min_rows"));
    vx_manifest_free(&m, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

/* Format 5's text entry (kind 2 of the extension block), written only
 * for a collection with a text field (with or without compression), and
 * after a DiskANN entry when both are set. */
static void test_text_field(void)
{
    manifest m, d;
    unsigned char *b = NULL, *c;
    size_t n = 0;
    uint32_t at;
    mem_init();
    gen(&m, 3, 9, 2);
    m.config.text = 1;
    m.config.text_stemmer = 1;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK(err_has("history block"));
    m.as_of_seq = m.flushed_seq + 1;
    m.publish_unix = 7;
    roundtrip(&m);
    m.config.text_stopwords = 1;
    m.config.compression = 1;
    roundtrip(&m);
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    if (b == NULL)
        return;
    CHECK_EQ_INT(vex_get_u32le(b + 8), 5);
    CHECK_EQ_INT(vex_get_u32le(b + 12), 16);
    CHECK_EQ_INT(vex_get_u32le(b + 52), 1);
    CHECK_RC(vx_manifest_decode(b, n, "M", &g_mem, &g_err, &d), VEX_OK);
    CHECK(d.config.text == 1 && d.config.text_stemmer == 1 &&
          d.config.text_stopwords == 1 && d.config.compression == 1);
    vx_manifest_free(&d, &g_mem);
    at = (uint32_t)n - 4 - 16;
    c = malloc(n);
    memcpy(c, b, n);
    vex_put_u32le(c + at + 8, 2); /* a stemmer 0 or 1 */
    reseal(c, n);
    expect_corrupt(c, n, "text stemmer 2");
    CHECK(err_has("text entry"));
    memcpy(c, b, n);
    vex_put_u32le(c + at + 4, 4); /* its length */
    reseal(c, n);
    expect_corrupt(c, n, "text entry of 4 bytes");
    memcpy(c, b, n);
    vex_put_u32le(c + 8, 4); /* format 4 keeps offset 12 reserved */
    reseal(c, n);
    expect_corrupt(c, n, "format 4 with an extension block");
    free(c);
    vx_mem_free(&g_mem, b);
    /* with DiskANN settings too: both entries, DiskANN's first */
    m.config.elem = VEX_ELEM_F32;
    m.config.metric = VEX_METRIC_L2;
    m.config.quant = m.config.quant_m = m.config.quant_bits = 0;
    m.config.quant_refine = 0;
    m.config.dann_min_rows = 5;
    m.config.dann_r = 16;
    m.config.dann_l = 32;
    m.config.dann_alpha = 1.5f;
    m.config.dann_pq_m = 1;
    roundtrip(&m);
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_OK);
    if (b) {
        CHECK_EQ_INT(vex_get_u32le(b + 12), 48);
        at = (uint32_t)n - 4 - 48;
        CHECK_EQ_INT(vex_get_u32le(b + at), 1);
        CHECK_EQ_INT(vex_get_u32le(b + at + 32), 2);
        c = malloc(n);
        memcpy(c, b, n); /* the two entries swapped: out of order */
        memcpy(c + at, b + at + 32, 16);
        memcpy(c + at + 16, b + at, 32);
        reseal(c, n);
        expect_corrupt(c, n, "entries out of order");
        CHECK(err_has("out of order"));
        free(c);
        vx_mem_free(&g_mem, b);
    }
    m.config.dann_min_rows = 0;
    m.config.dann_r = m.config.dann_l = m.config.dann_pq_m = 0;
    m.config.dann_alpha = 0;
    m.config.text = 0; /* a stemmer without a text field */
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    CHECK(err_has("text field 0"));
    m.config.text = 2;
    CHECK_RC(vx_manifest_encode(&m, &g_mem, &g_err, &b, &n), VEX_INVALID);
    vx_manifest_free(&m, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

static void test_publish_mem(void)
{
    vex_vfs *v = NULL;
    uint64_t n_open, n_maps;
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "c", &g_err), VEX_OK);
    publish_load(v, "c");
    vx_vfs_mem_counts(v, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    vex_vfs_destroy(v);
}

static int rm_cb(void *ctx, const char *name, int kind)
{
    char p[1024];
    (void)kind;
    snprintf(p, sizeof p, "%s/%s", (const char *)ctx, name);
    return unlink(p) == 0 ? 0 : VEX_IOERR;
}

static void test_publish_posix(void)
{
    char dir[] = "/tmp/vex_test_manifest_XXXXXX";
    vex_vfs *v = NULL;
    CHECK_RC(vx_vfs_posix_create(NULL, &v), VEX_OK);
    if (v == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(v);
        return;
    }
    publish_load(v, dir);
    CHECK_RC(vex_vfs_list(v, dir, rm_cb, dir, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    vex_vfs_destroy(v);
}

/* ---- CURRENT and manifest damage ---------------------------------------- */

static void test_current_damage(void)
{
    vex_vfs *v = NULL;
    manifest a, d;
    static unsigned char man[65536];
    unsigned char cur[64], c2[64];
    long n, mn, i;
    mem_init();
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "c", &g_err), VEX_OK);
    gen(&a, 12, 3, 4);
    CHECK_RC(vx_manifest_publish(v, "c", &a, &g_mem, &g_err, NULL), VEX_OK);
    n = read_all(v, "c/CURRENT", cur, sizeof cur);
    CHECK_EQ_INT(n, 35);
    CHECK(memcmp(cur, "MANIFEST-0000000000000003 ", 26) == 0 &&
          cur[34] == '\n');
    /* garbled CURRENT: every byte changed, every length */
    for (i = 0; i < n; i++) {
        memcpy(c2, cur, (size_t)n);
        c2[i] ^= (unsigned char)(i & 1 ? 0x01 : 0x20);
        write_all(v, "c/CURRENT", c2, (size_t)n);
        CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_CORRUPT);
        CHECK(err_has("CURRENT") && err_has("offset"));
        write_all(v, "c/CURRENT", cur, (size_t)i);
        CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_CORRUPT);
        CHECK(err_has("CURRENT") && err_has("offset"));
    }
    memcpy(c2, cur, (size_t)n);
    c2[n] = '\n';
    write_all(v, "c/CURRENT", c2, (size_t)n + 1);
    CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_CORRUPT);
    write_all(v, "c/CURRENT", cur, (size_t)n);
    CHECK(load_is(v, "c", &a));
    /* the manifest it names is damaged, or missing */
    mn = read_all(v, "c/MANIFEST-0000000000000003", man, sizeof man);
    CHECK(mn > 200);
    man[100] ^= 4;
    write_all(v, "c/MANIFEST-0000000000000003", man, (size_t)mn);
    CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_CORRUPT);
    CHECK(err_has("c/MANIFEST-0000000000000003") && err_has("offset"));
    man[100] ^= 4;
    write_all(v, "c/MANIFEST-0000000000000003", man, 0);
    CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_CORRUPT);
    CHECK(err_has("MANIFEST-0000000000000003") && err_has("offset"));
    CHECK_RC(vex_vfs_remove(v, "c/MANIFEST-0000000000000003", &g_err), VEX_OK);
    CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_CORRUPT);
    CHECK(err_has("missing") && err_has("MANIFEST-0000000000000003"));
    /* an intact manifest under another number's name (a copy), and a
     * CURRENT naming it with a valid checksum: the number disagrees */
    write_all(v, "c/MANIFEST-0000000000000004", man, (size_t)mn);
    memcpy(c2, "MANIFEST-0000000000000004", 25);
    snprintf((char *)c2 + 25, 11, " %08x\n", (unsigned)vex_crc32c(c2, 25));
    write_all(v, "c/CURRENT", c2, 35);
    CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_CORRUPT);
    CHECK(err_has("MANIFEST-0000000000000004") && err_has("name"));
    /* no CURRENT: not a collection, even with manifests around */
    CHECK_RC(vex_vfs_remove(v, "c/CURRENT", &g_err), VEX_OK);
    CHECK_RC(vx_manifest_load(v, "c", &g_mem, &g_err, &d), VEX_NOTFOUND);
    vx_manifest_free(&a, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
    vex_vfs_destroy(v);
}

/* ---- I/O faults --------------------------------------------------------- */

/* Publish `next` over `prev` (NULL: a first publish) with call N failing,
 * N = 1, 2, ... until the publish succeeds. */
static void fault_sweep(int kind, int persistent, int first)
{
    uint64_t nth;
    int done = 0;
    manifest prev, next;
    long base_live;
    mem_init();
    gen(&prev, 20, 2, 5);
    gen(&next, 21, 8, 7);
    base_live = g_count.live;
    for (nth = 1; !done && nth < 100; nth++) {
        vex_vfs *m = NULL, *f = NULL;
        vex_fault_config cfg = {VEX_FAULT_ALL, nth, persistent, kind};
        vex_fault_stats fs;
        uint64_t n_open, n_maps;
        int rc, amb = 7, ok_old, ok_new;
        CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
        CHECK_RC(vex_vfs_mkdir(m, "c", &g_err), VEX_OK);
        if (!first)
            CHECK_RC(vx_manifest_publish(m, "c", &prev, &g_mem, &g_err, NULL),
                     VEX_OK);
        CHECK_RC(vx_vfs_fault_create(m, NULL, &f), VEX_OK);
        vx_vfs_fault_set(f, &cfg);
        rc = vx_manifest_publish(f, "c", &next, &g_mem, &g_err, &amb);
        vx_vfs_fault_stats(f, &fs);
        if (fs.n_faults == 0) {
            done = 1;
            CHECK_RC(rc, VEX_OK);
            CHECK_EQ_INT(amb, 0);
        } else {
            int want = kind == VEX_FAULT_FULL ? VEX_FULL : VEX_IOERR;
            int reached_rename = fs.n_calls[VEX_FAULT_M_RENAME] > 0;
            CHECK_MSG(
                rc == want || (kind == VEX_FAULT_SHORT_WRITE && rc == VEX_FULL),
                "nth %llu kind %d rc %d", (unsigned long long)nth, kind, rc);
            CHECK(err_has("injected") && err_has("step "));
            CHECK_MSG(amb == reached_rename, "nth %llu kind %d amb %d",
                      (unsigned long long)nth, kind, amb);
            if (!amb && !persistent) { /* cleaned up */
                CHECK(!file_exists(m, "c", "MANIFEST-0000000000000008"));
                CHECK(!file_exists(m, "c", "CURRENT.tmp"));
            }
        }
        vx_vfs_mem_counts(m, &n_open, &n_maps);
        CHECK_EQ_INT(n_open, 0);
        CHECK_MSG(g_count.live == base_live,
                  "nth %llu kind %d first %d persistent %d live %ld",
                  (unsigned long long)nth, kind, first, persistent,
                  g_count.live - base_live);
        /* through the base vfs: the old or the new one, never a mix */
        ok_old = load_is(m, "c", first ? NULL : &prev);
        ok_new = load_is(m, "c", &next);
        CHECK_MSG(ok_old || ok_new, "nth %llu kind %d: load failed",
                  (unsigned long long)nth, kind);
        if (rc == VEX_OK)
            CHECK(ok_new);
        else if (!amb)
            CHECK_MSG(ok_old, "nth %llu kind %d: not the old manifest",
                      (unsigned long long)nth, kind);
        vex_vfs_destroy(f);
        vex_vfs_destroy(m);
    }
    CHECK(done);
    vx_manifest_free(&prev, &g_mem);
    vx_manifest_free(&next, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

static void test_fault_sweep(void)
{
    int kind;
    for (kind = VEX_FAULT_IOERR; kind <= VEX_FAULT_SYNC; kind++) {
        fault_sweep(kind, 0, 0);
        fault_sweep(kind, 0, 1);
    }
    fault_sweep(VEX_FAULT_IOERR, 1, 0);
    fault_sweep(VEX_FAULT_FULL, 1, 1);
}

/* ---- power loss --------------------------------------------------------- */

#define N_VERSIONS 4

/* Remove every MANIFEST-* that CURRENT does not name, and CURRENT.tmp
 * (what the engine's orphan sweep does before publishing). */
typedef struct sweep {
    vex_vfs *v;
    const char *dir;
    uint64_t keep;
} sweep;

static int sweep_cb(void *ctx, const char *name, int kind)
{
    sweep *s = ctx;
    uint64_t num;
    char p[256];
    (void)kind;
    if ((vx_manifest_parse_name(name, &num) && num != s->keep) ||
        strcmp(name, "CURRENT.tmp") == 0) {
        path_of(p, sizeof p, s->dir, name);
        CHECK_RC(vex_vfs_remove(s->v, p, &g_err), VEX_OK);
    }
    return 0;
}

/* Publish versions 1..N_VERSIONS over a crash vfs; every vfs call from
 * number `stop_at` on fails (the process stops there; 0 = never) or, with
 * `sync_only`, only sync call number stop_at fails (not forwarded) and the
 * caller stops publishing after the failure; then power loss in `mode`. */
static void crash_case(const manifest *v, int mode, uint64_t seed,
                       uint64_t stop_at, int sync_only, int *all_done)
{
    vex_vfs *m = NULL, *c = NULL, *f = NULL;
    vex_fault_config cfg = {VEX_FAULT_ALL, stop_at, 1, VEX_FAULT_IOERR};
    vex_fault_stats fs;
    manifest d, nx;
    sweep sw;
    int acked = 0, attempted = 0, i, rc, j, found = -1;
    if (sync_only) {
        cfg.mask = VEX_FAULT_BIT(VEX_FAULT_M_SYNC) |
                   VEX_FAULT_BIT(VEX_FAULT_M_SYNC_DIR);
        cfg.persistent = 0;
        cfg.kind = VEX_FAULT_SYNC;
    }
    CHECK_RC(vx_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(m, "c", &g_err), VEX_OK);
    CHECK_RC(vx_vfs_crash_create(m, NULL, seed, &c), VEX_OK);
    /* Touch the directory through the crash vfs first: crash_now on a
     * wrapper that has touched nothing calls qsort(NULL, 0, ...), which
     * UBSan reports (vfs_crash.c, vx_vfs_crash_now). */
    CHECK_RC(vex_vfs_sync_dir(c, "c", &g_err), VEX_OK);
    CHECK_RC(vx_vfs_fault_create(c, NULL, &f), VEX_OK);
    vx_vfs_fault_set(f, &cfg);
    for (i = 0; i < N_VERSIONS; i++) {
        attempted = i + 1;
        rc = vx_manifest_publish(f, "c", &v[i], &g_mem, &g_err, NULL);
        if (rc != VEX_OK)
            break;
        acked = i + 1;
    }
    vx_vfs_fault_stats(f, &fs);
    *all_done = fs.n_faults == 0;
    CHECK_RC(vx_vfs_crash_now(c, mode, &g_err), VEX_OK);
    vex_vfs_destroy(f);
    vex_vfs_destroy(c);
    /* reopen on the disk */
    rc = vx_manifest_load(m, "c", &g_mem, &g_err, &d);
    if (rc == VEX_NOTFOUND) {
        CHECK_MSG(acked == 0, "mode %d stop %llu sync %d: lost %d versions",
                  mode, (unsigned long long)stop_at, sync_only, acked);
    } else {
        CHECK_MSG(rc == VEX_OK, "mode %d stop %llu sync %d: rc %d", mode,
                  (unsigned long long)stop_at, sync_only, rc);
        for (j = 0; rc == VEX_OK && j < N_VERSIONS; j++)
            if (same(&d, &v[j]))
                found = j + 1;
        CHECK_MSG(found >= acked && found >= 1 && found <= attempted,
                  "mode %d stop %llu sync %d: loaded version %d, acked %d, "
                  "attempted %d",
                  mode, (unsigned long long)stop_at, sync_only, found, acked,
                  attempted);
        /* the collection goes on: sweep orphans, publish the next one */
        if (rc == VEX_OK) {
            sw.v = m;
            sw.dir = "c";
            sw.keep = d.number;
            CHECK_RC(vex_vfs_list(m, "c", sweep_cb, &sw, &g_err), VEX_OK);
            gen(&nx, 99, d.next_file, 2);
            CHECK_RC(vx_manifest_publish(m, "c", &nx, &g_mem, &g_err, NULL),
                     VEX_OK);
            CHECK(load_is(m, "c", &nx));
            vx_manifest_free(&nx, &g_mem);
        }
        vx_manifest_free(&d, &g_mem);
    }
    vex_vfs_destroy(m);
}

static void test_crash(void)
{
    manifest v[N_VERSIONS];
    uint64_t stop, seed;
    int i, done, n_cases = 0;
    mem_init();
    for (i = 0; i < N_VERSIONS; i++)
        gen(&v[i], 30 + (uint64_t)i, 1 + 10 * (uint64_t)i, (uint32_t)i * 3);
    for (stop = 1, done = 0; !done && stop < 500; stop++) {
        crash_case(v, VEX_CRASH_KEEP_ALL, 1, stop, 0, &done);
        crash_case(v, VEX_CRASH_DROP_UNSYNCED, 1, stop, 0, &done);
        for (seed = 1; seed <= 6; seed++)
            crash_case(v, VEX_CRASH_GARBLE_UNSYNCED, stop * 100 + seed, stop, 0,
                       &done);
        n_cases++;
    }
    CHECK(done && n_cases > 40);
    for (stop = 1, done = 0; !done && stop < 100; stop++) {
        crash_case(v, VEX_CRASH_KEEP_ALL, 1, stop, 1, &done);
        crash_case(v, VEX_CRASH_DROP_UNSYNCED, 1, stop, 1, &done);
        for (seed = 1; seed <= 6; seed++)
            crash_case(v, VEX_CRASH_GARBLE_UNSYNCED, stop * 100 + seed, stop, 1,
                       &done);
    }
    CHECK(done);
    /* crash after everything succeeded */
    crash_case(v, VEX_CRASH_DROP_UNSYNCED, 1, 0, 0, &done);
    crash_case(v, VEX_CRASH_GARBLE_UNSYNCED, 7, 0, 0, &done);
    for (i = 0; i < N_VERSIONS; i++)
        vx_manifest_free(&v[i], &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
}

/* ---- allocation failures ------------------------------------------------ */

static void test_oom(void)
{
    vex_vfs *v = NULL;
    manifest a, d;
    unsigned char *b = NULL;
    size_t n = 0;
    long k, base_live;
    int done = 0, rc;
    mem_init();
    CHECK_RC(vx_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "c", &g_err), VEX_OK);
    gen(&a, 40, 4, 6);
    CHECK_RC(vx_manifest_publish(v, "c", &a, &g_mem, &g_err, NULL), VEX_OK);
    CHECK_RC(vx_manifest_encode(&a, &g_mem, &g_err, &b, &n), VEX_OK);
    base_live = g_count.live;
    for (k = 1; !done && k < 200; k++) {
        unsigned char *e = NULL;
        size_t en = 0;
        g_count.n_allocs = 0;
        g_count.fail_at = k;
        rc = vx_manifest_decode(b, n, "M", &g_mem, &g_err, &d);
        if (rc == VEX_OK)
            vx_manifest_free(&d, &g_mem);
        else
            CHECK_RC(rc, VEX_NOMEM);
        rc = vx_manifest_load(v, "c", &g_mem, &g_err, &d);
        if (rc == VEX_OK)
            vx_manifest_free(&d, &g_mem);
        else
            CHECK_RC(rc, VEX_NOMEM);
        rc = vx_manifest_encode(&a, &g_mem, &g_err, &e, &en);
        if (rc == VEX_OK)
            vx_mem_free(&g_mem, e);
        else
            CHECK_RC(rc, VEX_NOMEM);
        done = g_count.n_allocs < k;
        g_count.fail_at = 0;
        CHECK_EQ_INT(g_count.live, base_live);
    }
    CHECK(done);
    vx_mem_free(&g_mem, b);
    vx_manifest_free(&a, &g_mem);
    CHECK_EQ_INT(g_count.live, 0);
    vex_vfs_destroy(v);
}

int main(void)
{
    vx_err_init(&g_err);
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_names);
    TEST_RUN(test_encode_invalid);
    TEST_RUN(test_decode_damage);
    TEST_RUN(test_history_block);
    TEST_RUN(test_compression_field);
    TEST_RUN(test_extension_block);
    TEST_RUN(test_text_field);
    TEST_RUN(test_publish_mem);
    TEST_RUN(test_publish_posix);
    TEST_RUN(test_current_damage);
    TEST_RUN(test_fault_sweep);
    TEST_RUN(test_crash);
    TEST_RUN(test_oom);
    vx_err_destroy(&g_err);
    return TEST_EXIT();
}
