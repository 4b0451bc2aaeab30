/*
 * test_segment.c - immutable segment files (src/storage/segment.h): round
 * trips on the in-memory and the posix vfs (0, 1 and 1000 rows; no blob
 * and blobs of 0, 1, 63, 4097 bytes and one over the 4 MiB write chunk),
 * every header field, id and lookup checked; a real HNSW blob opened in
 * place from the mapping; file names; rejected inputs (unsorted and
 * duplicate ids, an existing path, a wrong file number); damage: the file
 * cut at every byte of the header page and a stride over the rest, runs
 * of zeroed bytes and single flipped bits everywhere in the header page
 * and at a stride over the sections, each one VEX_CORRUPT from seg_open
 * with the file name and "offset" in the message, or (inside the INDEX
 * section only) from seg_index; re-sealed headers with a newer version,
 * an unknown section kind and bad section bounds; an I/O fault sweep over
 * seg_write (every call, every fault kind: right status, no file left,
 * nothing leaked) and seg_open, an out-of-memory sweep of seg_open; and
 * threads calling seg_find and seg_index on one segment at once (the
 * first seg_index calls race to verify the checksum).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "io/vfs.h"
#include "storage/segment.h"
#include "test.h"
#include "test_alloc.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rng.h"
#include "vexdb.h"

static vex_err g_err;

static int err_has(const char *s)
{
    char msg[VEX_ERRMSG_MAX];
    vex_err_copy(&g_err, msg, sizeof msg);
    if (strstr(msg, s) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, s);
        return 0;
    }
    return 1;
}

/* ids 5, 8, 11, ... (gaps of 3, so id + 1 is always absent) */
static uint64_t *make_ids(uint64_t n)
{
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids), i;
    for (i = 0; i < n; i++)
        ids[i] = 5 + 3 * i;
    return ids;
}

static unsigned char *make_blob(uint64_t n, uint64_t seed)
{
    unsigned char *b = malloc(n ? n : 1);
    vex_rng r;
    uint64_t i;
    vex_rng_seed(&r, seed);
    for (i = 0; i < n; i++)
        b[i] = (unsigned char)vex_rng_next(&r);
    return b;
}

static void seg_path_of(char *out, size_t size, const char *dir, uint64_t num)
{
    char name[SEG_NAME_LEN + 1];
    CHECK_RC(seg_file_name(name, sizeof name, num), VEX_OK);
    snprintf(out, size, "%s/%s", dir, name);
}

static long read_all(vex_vfs *v, const char *path, unsigned char *buf,
                     size_t cap)
{
    vex_file *f = NULL;
    size_t got = 0;
    if (vex_vfs_open(v, path, VEX_OPEN_READONLY, &f, NULL) != VEX_OK)
        return -1;
    if (vex_file_read(f, buf, cap, 0, &got, NULL) != VEX_OK)
        got = 0;
    vex_file_close(f, NULL);
    return (long)got;
}

static void write_all(vex_vfs *v, const char *path, const unsigned char *buf,
                      size_t n)
{
    vex_file *f = NULL;
    CHECK_RC(
        vex_vfs_open(v, path,
                     VEX_OPEN_READWRITE | VEX_OPEN_CREATE | VEX_OPEN_TRUNCATE,
                     &f, &g_err),
        VEX_OK);
    if (f && n)
        CHECK_RC(vex_file_write(f, buf, n, 0, &g_err), VEX_OK);
    vex_file_close(f, NULL);
}

static int file_kind(vex_vfs *v, const char *path)
{
    int kind = -1;
    CHECK_RC(vex_vfs_exists(v, path, &kind, &g_err), VEX_OK);
    return kind;
}

static void fill_info(seg_write_info *wi, uint64_t num, const uint64_t *ids,
                      uint64_t n, const void *blob, uint64_t blob_size)
{
    memset(wi, 0, sizeof *wi);
    wi->number = num;
    wi->dim = 17;
    wi->elem = VEX_ELEM_F32;
    wi->metric = VEX_METRIC_COSINE;
    wi->index_kind = VEX_INDEX_HNSW;
    wi->n_rows = n;
    wi->min_seq = 1000 + num;
    wi->max_seq = 2000 + num;
    wi->ids = ids;
    wi->index_blob = blob;
    wi->blob_size = blob_size;
}

/* ---- round trips ------------------------------------------------------- */

/* Write, reopen, compare everything. blob_size < 0: no INDEX section. */
static void roundtrip_one(vex_vfs *v, const char *dir, uint64_t num,
                          uint64_t n_rows, long long blob_size)
{
    char path[512];
    uint64_t *ids = make_ids(n_rows), i, row, size;
    unsigned char *blob =
        blob_size >= 0 ? make_blob((uint64_t)blob_size, num) : NULL;
    seg_write_info wi;
    seg_info info;
    seg *s = NULL;
    const void *p;

    seg_path_of(path, sizeof path, dir, num);
    fill_info(&wi, num, ids, n_rows, blob,
              blob_size >= 0 ? (uint64_t)blob_size : 0);
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_OK);
    CHECK_RC(seg_open(v, path, num, NULL, &g_err, &s), VEX_OK);
    if (s == NULL)
        goto cleanup;
    seg_get_info(s, &info);
    CHECK_EQ_INT(info.number, num);
    CHECK_EQ_INT(info.n_rows, n_rows);
    CHECK_EQ_INT(info.min_seq, 1000 + num);
    CHECK_EQ_INT(info.max_seq, 2000 + num);
    CHECK_EQ_INT(info.dim, 17);
    CHECK_EQ_INT(info.elem, VEX_ELEM_F32);
    CHECK_EQ_INT(info.metric, VEX_METRIC_COSINE);
    CHECK_EQ_INT(info.index_kind, VEX_INDEX_HNSW);
    CHECK(info.file_size >= 4096);
    CHECK(strcmp(seg_path(s), path) == 0);
    CHECK(n_rows == 0 || memcmp(seg_ids(s), ids, n_rows * 8) == 0);
    CHECK((uintptr_t)seg_ids(s) % 8 == 0);
    for (i = 0; i < n_rows; i++) {
        row = UINT64_MAX;
        CHECK(seg_find(s, ids[i], &row) == 1);
        CHECK_EQ_INT(row, i);
        CHECK(seg_find(s, ids[i] + 1, &row) == 0);
    }
    CHECK(seg_find(s, 0, &row) == 0); /* below the minimum (5) */
    CHECK(seg_find(s, 4, NULL) == 0); /* just below */
    CHECK(seg_find(s, UINT64_MAX, &row) == 0);
    if (n_rows) {
        CHECK(seg_find(s, ids[n_rows - 1] + 3, &row) == 0); /* above max */
        CHECK(seg_find(s, ids[0], NULL) == 1);
    }
    if (blob_size < 0) {
        CHECK_RC(seg_index(s, &p, &size, &g_err), VEX_NOTFOUND);
        CHECK(p == NULL && size == 0);
    } else {
        int k;
        for (k = 0; k < 2; k++) { /* verified, then cached */
            CHECK_RC(seg_index(s, &p, &size, &g_err), VEX_OK);
            CHECK_EQ_INT(size, blob_size);
            CHECK((uintptr_t)p % 64 == 0);
            CHECK(size == 0 || memcmp(p, blob, (size_t)size) == 0);
        }
        CHECK_EQ_INT(info.file_size,
                     (4096 + n_rows * 8 + 4095) / 4096 * 4096 + blob_size);
    }
    /* a second handle on the same file */
    {
        seg *s2 = NULL;
        CHECK_RC(seg_open(v, path, num, NULL, &g_err, &s2), VEX_OK);
        CHECK(s2 && seg_find(s2, 5, NULL) == (n_rows > 0));
        seg_close(s2);
    }
cleanup:
    seg_close(s);
    free(ids);
    free(blob);
}

static void roundtrip(vex_vfs *v, const char *dir)
{
    static const long long blobs[] = {-1, 0, 1, 63, 4097};
    static const uint64_t rows[] = {0, 1, 1000};
    uint64_t num = 1;
    size_t i, j;
    for (i = 0; i < sizeof rows / sizeof *rows; i++)
        for (j = 0; j < sizeof blobs / sizeof *blobs; j++)
            roundtrip_one(v, dir, num++, rows[i], blobs[j]);
    /* more than one write chunk of ids and of blob, big file numbers */
    roundtrip_one(v, dir, 0x123456789abcdef0ull, 600000, (9ll << 20) + 12345);
    roundtrip_one(v, dir, UINT64_MAX, 3, 100);
}

static void test_roundtrip_mem(void)
{
    vex_vfs *v = NULL;
    uint64_t n_open, n_maps;
    CHECK_RC(vex_vfs_mem_create(NULL, &v), VEX_OK);
    CHECK_RC(vex_vfs_mkdir(v, "d", &g_err), VEX_OK);
    roundtrip(v, "d");
    vex_vfs_mem_counts(v, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    CHECK_EQ_INT(n_maps, 0);
    vex_vfs_destroy(v);
}

static int rm_cb(void *ctx, const char *name, int kind)
{
    char p[1024];
    (void)kind;
    snprintf(p, sizeof p, "%s/%s", (const char *)ctx, name);
    return unlink(p) == 0 ? 0 : VEX_IOERR;
}

static void test_roundtrip_posix(void)
{
    char dir[] = "/tmp/vex_test_seg_XXXXXX";
    vex_vfs *v = NULL;
    CHECK_RC(vex_vfs_posix_create(NULL, &v), VEX_OK);
    if (v == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(v);
        return;
    }
    roundtrip(v, dir);
    CHECK_RC(vex_vfs_list(v, dir, rm_cb, dir, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    vex_vfs_destroy(v);
}

/* The use the engine makes of it: a real HNSW blob opened in place. */
static void test_real_index(void)
{
    enum { N = 500, D = 8 };
    static float vecs[N * D], got[D];
    uint64_t ids[N], i, size = 0, needed = 0;
    vex_index_options o;
    vex_open_options oo;
    vex_index *idx = NULL, *idx2 = NULL;
    vex_vfs *v = NULL;
    unsigned char *blob = NULL;
    seg_write_info wi;
    seg *s = NULL;
    const void *p = NULL;
    vex_rng r;
    vex_rng_seed(&r, test_seed(7));
    for (i = 0; i < N * D; i++)
        vecs[i] = (float)vex_rng_double(&r);
    for (i = 0; i < N; i++)
        ids[i] = 100 + 2 * i;
    vex_index_options_init(&o);
    o.kind = VEX_INDEX_HNSW;
    o.dim = D;
    o.n_threads = 1;
    CHECK_RC(vex_index_create(&o, &idx), VEX_OK);
    CHECK_RC(vex_index_add(idx, ids, vecs, N), VEX_OK);
    CHECK_RC(vex_index_serialize(idx, NULL, 0, &needed), VEX_FULL);
    blob = malloc(needed);
    CHECK_RC(vex_index_serialize(idx, blob, needed, NULL), VEX_OK);
    CHECK_RC(vex_vfs_posix_create(NULL, &v), VEX_OK);
    {
        char dir[] = "/tmp/vex_test_seg_XXXXXX", path[512];
        CHECK(mkdtemp(dir) != NULL);
        seg_path_of(path, sizeof path, dir, 42);
        fill_info(&wi, 42, ids, N, blob, needed);
        CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_OK);
        CHECK_RC(seg_open(v, path, 42, NULL, &g_err, &s), VEX_OK);
        if (s)
            CHECK_RC(seg_index(s, &p, &size, &g_err), VEX_OK);
        CHECK_EQ_INT(size, needed);
        vex_open_options_init(&oo);
        oo.n_threads = 1;
        if (p)
            CHECK_RC(vex_index_open_buffer(p, size, &oo, &idx2), VEX_OK);
        if (idx2) {
            CHECK_EQ_INT(vex_index_count(idx2), N);
            CHECK_RC(vex_index_get(idx2, 100 + 2 * 77, got), VEX_OK);
            CHECK(memcmp(got, vecs + 77 * D, sizeof got) == 0);
            CHECK_RC(vex_index_check(idx2), VEX_OK);
        }
        vex_index_free(idx2);
        seg_close(s);
        CHECK_RC(vex_vfs_list(v, dir, rm_cb, dir, &g_err), VEX_OK);
        CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    }
    vex_vfs_destroy(v);
    vex_index_free(idx);
    free(blob);
}

/* ---- names ------------------------------------------------------------- */

static void test_names(void)
{
    char buf[64];
    uint64_t n = 7;
    static const char *bad[] = {
        "",
        "seg-.vseg",
        "seg-000000000000002a.vse",
        "seg-000000000000002A.vseg",
        "seg-000000000000002a.vsegx",
        "seg-00000000000002a.vseg",
        "seg-0000000000000002a.vseg",
        "Seg-000000000000002a.vseg",
        "seg-00000000000g002a.vseg",
        "wal-000000000000002a.log",
        "seg-000000000000002a.vseg.tmp",
    };
    size_t i;
    CHECK_RC(seg_file_name(buf, sizeof buf, 42), VEX_OK);
    CHECK(strcmp(buf, "seg-000000000000002a.vseg") == 0);
    CHECK_EQ_INT(strlen(buf), SEG_NAME_LEN);
    CHECK(seg_parse_name(buf, &n) == 1);
    CHECK_EQ_INT(n, 42);
    CHECK_RC(seg_file_name(buf, SEG_NAME_LEN + 1, UINT64_MAX), VEX_OK);
    CHECK(strcmp(buf, "seg-ffffffffffffffff.vseg") == 0);
    CHECK(seg_parse_name(buf, &n) == 1);
    CHECK(n == UINT64_MAX);
    CHECK(seg_parse_name("seg-0000000000000000.vseg", &n) == 1);
    CHECK_EQ_INT(n, 0);
    CHECK_RC(seg_file_name(buf, SEG_NAME_LEN, 1), VEX_INVALID);
    CHECK(buf[0] == '\0');
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        n = 7;
        CHECK_MSG(seg_parse_name(bad[i], &n) == 0, "%s", bad[i]);
        CHECK_EQ_INT(n, 7);
    }
}

/* ---- rejected input ---------------------------------------------------- */

static void test_reject(void)
{
    vex_vfs *v = NULL;
    uint64_t ids[4] = {1, 2, 3, 4}, n_open, n_maps;
    unsigned char blob[100] = {1, 2, 3};
    seg_write_info wi;
    seg *s = NULL;
    const char *path = "seg-0000000000000009.vseg";
    CHECK_RC(vex_vfs_mem_create(NULL, &v), VEX_OK);

    fill_info(&wi, 9, ids, 4, blob, sizeof blob);
    ids[2] = 2; /* duplicate */
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_INVALID);
    CHECK(err_has("not strictly ascending at row 2"));
    CHECK_EQ_INT(file_kind(v, path), VEX_VFS_NONE);
    ids[2] = 1; /* descending */
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_INVALID);
    CHECK_EQ_INT(file_kind(v, path), VEX_VFS_NONE);
    ids[2] = 3;
    wi.n_rows = SEG_MAX_ROWS + 1;
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_INVALID);
    wi.n_rows = 4;
    wi.index_blob = NULL; /* a size without a blob */
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_INVALID);
    wi.index_blob = blob;
    wi.ids = NULL;
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_INVALID);
    wi.ids = ids;
    CHECK_RC(seg_write(NULL, path, &wi, NULL, &g_err), VEX_INVALID);
    CHECK_RC(seg_write(v, path, NULL, NULL, &g_err), VEX_INVALID);
    CHECK_EQ_INT(file_kind(v, path), VEX_VFS_NONE);

    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_OK);
    /* an existing path is refused and left alone */
    wi.n_rows = 2;
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_EXISTS);
    CHECK_RC(seg_open(v, path, 9, NULL, &g_err, &s), VEX_OK);
    if (s) {
        seg_info info;
        seg_get_info(s, &info);
        CHECK_EQ_INT(info.n_rows, 4);
        seg_close(s);
        s = NULL;
    }
    /* a renamed (or foreign) file */
    CHECK_RC(seg_open(v, path, 10, NULL, &g_err, &s), VEX_CORRUPT);
    CHECK(s == NULL);
    CHECK(err_has("seg-0000000000000009.vseg"));
    CHECK(err_has("offset 16"));
    CHECK(err_has("expected 10"));
    /* missing file, bad arguments */
    CHECK_RC(seg_open(v, "seg-0000000000000001.vseg", 1, NULL, &g_err, &s),
             VEX_NOTFOUND);
    CHECK_RC(seg_open(v, NULL, 1, NULL, &g_err, &s), VEX_INVALID);
    CHECK_RC(seg_open(v, path, 9, NULL, &g_err, NULL), VEX_INVALID);
    seg_close(NULL);
    vex_vfs_mem_counts(v, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    CHECK_EQ_INT(n_maps, 0);
    vex_vfs_destroy(v);
}

/* ---- damage ------------------------------------------------------------ */

/* The segment the damage tests start from: 100 rows (ids 4096..4895,
 * padding 4896..8191), a 4097-byte blob at 8192..12288. */
#define DMG_NUM   0x2a
#define DMG_NAME  "seg-000000000000002a.vseg"
#define DMG_ROWS  100
#define DMG_BLOB  4097
#define IDX_START 8192

typedef struct dmg {
    vex_vfs *v;
    char path[512];
    unsigned char *good, *bad;
    size_t size;
    uint64_t n_cases, n_index_only;
} dmg;

static int dmg_setup(dmg *d, vex_vfs *v, const char *dir)
{
    uint64_t *ids = make_ids(DMG_ROWS);
    unsigned char *blob = make_blob(DMG_BLOB, 99);
    seg_write_info wi;
    memset(d, 0, sizeof *d);
    d->v = v;
    seg_path_of(d->path, sizeof d->path, dir, DMG_NUM);
    fill_info(&wi, DMG_NUM, ids, DMG_ROWS, blob, DMG_BLOB);
    CHECK_RC(seg_write(v, d->path, &wi, NULL, &g_err), VEX_OK);
    free(ids);
    free(blob);
    d->good = malloc(1 << 16);
    d->bad = malloc(1 << 16);
    d->size = (size_t)read_all(v, d->path, d->good, 1 << 16);
    CHECK_EQ_INT(d->size, IDX_START + DMG_BLOB);
    return d->size == IDX_START + DMG_BLOB;
}

/* Open d->bad[0..n): damage outside the INDEX section must be VEX_CORRUPT
 * from seg_open, damage only inside it VEX_CORRUPT from seg_index. */
static void dmg_check(dmg *d, size_t n, int index_only, const char *what,
                      size_t at)
{
    seg *s = NULL;
    const void *p;
    uint64_t size;
    int rc;
    d->n_cases++;
    write_all(d->v, d->path, d->bad, n);
    rc = seg_open(d->v, d->path, DMG_NUM, NULL, &g_err, &s);
    if (index_only) {
        d->n_index_only++;
        CHECK_MSG(rc == VEX_OK, "%s at %zu: seg_open %d", what, at, rc);
        if (s) {
            CHECK_MSG(seg_index(s, &p, &size, &g_err) == VEX_CORRUPT,
                      "%s at %zu: seg_index", what, at);
            CHECK(p == NULL);
            /* remembered, with the same message */
            CHECK_RC(seg_index(s, &p, &size, &g_err), VEX_CORRUPT);
            CHECK(err_has("index section checksum"));
        }
    } else {
        CHECK_MSG(rc == VEX_CORRUPT, "%s at %zu: seg_open %d (%s)", what, at,
                  rc, vex_status_name(rc));
        CHECK(s == NULL);
    }
    CHECK(err_has(DMG_NAME));
    CHECK(err_has("offset"));
    seg_close(s);
}

/* Does bad differ from good anywhere outside [IDX_START, size)? */
static int dmg_index_only(const dmg *d)
{
    return memcmp(d->bad, d->good, IDX_START) == 0;
}

static void damage(vex_vfs *v, const char *dir)
{
    dmg d;
    size_t off, cut, len;
    static const size_t lens[] = {1, 2, 3, 8, 64, 600};
    if (!dmg_setup(&d, v, dir))
        goto cleanup;
    /* truncation: every byte of the header page, then a stride */
    for (cut = 0; cut < d.size; cut += cut < 4200 ? 1 : 37) {
        memcpy(d.bad, d.good, d.size);
        dmg_check(&d, cut, 0, "cut", cut);
    }
    dmg_check(&d, d.size - 1, 0, "cut", d.size - 1);
    /* one extra byte, zero or not */
    memcpy(d.bad, d.good, d.size);
    d.bad[d.size] = 0;
    dmg_check(&d, d.size + 1, 0, "extend", d.size);
    /* runs of zeroed bytes */
    for (off = 0; off < d.size; off += off < 4200 ? 1 : 29) {
        size_t k;
        for (k = 0; k < sizeof lens / sizeof *lens; k++) {
            len = lens[k];
            if (off + len > d.size)
                len = d.size - off;
            memcpy(d.bad, d.good, d.size);
            memset(d.bad + off, 0, len);
            if (memcmp(d.bad, d.good, d.size) == 0)
                continue; /* zero already (padding) */
            dmg_check(&d, d.size, dmg_index_only(&d), "zero", off);
            if (off >= 4200 && k >= 1)
                break; /* the stride needs fewer lengths */
        }
    }
    /* single flipped bits */
    for (off = 0; off < d.size; off += off < 4200 ? 1 : 13) {
        memcpy(d.bad, d.good, d.size);
        d.bad[off] ^= (unsigned char)(1u << (off % 8));
        dmg_check(&d, d.size, off >= IDX_START, "flip", off);
    }
    CHECK(d.n_index_only > 100);
    /* still fine when restored */
    memcpy(d.bad, d.good, d.size);
    {
        seg *s = NULL;
        write_all(v, d.path, d.good, d.size);
        CHECK_RC(seg_open(v, d.path, DMG_NUM, NULL, &g_err, &s), VEX_OK);
        seg_close(s);
    }
    if (test_case_failed_)
        fprintf(stderr, "%llu damage cases\n", (unsigned long long)d.n_cases);
cleanup:
    free(d.good);
    free(d.bad);
}

static void test_damage_mem(void)
{
    vex_vfs *v = NULL;
    uint64_t n_open, n_maps;
    CHECK_RC(vex_vfs_mem_create(NULL, &v), VEX_OK);
    damage(v, ".");
    vex_vfs_mem_counts(v, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    CHECK_EQ_INT(n_maps, 0);
    vex_vfs_destroy(v);
}

static void test_damage_posix(void)
{
    char dir[] = "/tmp/vex_test_seg_XXXXXX";
    vex_vfs *v = NULL;
    CHECK_RC(vex_vfs_posix_create(NULL, &v), VEX_OK);
    if (v == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        vex_vfs_destroy(v);
        return;
    }
    damage(v, dir);
    CHECK_RC(vex_vfs_list(v, dir, rm_cb, dir, &g_err), VEX_OK);
    CHECK_RC(vex_vfs_remove(v, dir, &g_err), VEX_OK);
    vex_vfs_destroy(v);
}

/* Header edits with the checksum recomputed, so the checks behind it are
 * what is tested. */
static int resealed(dmg *d, size_t hsize, const char *what)
{
    seg *s = NULL;
    int rc;
    vex_put_u32le(d->bad + hsize - 4, vex_crc32c(d->bad, hsize - 4));
    write_all(d->v, d->path, d->bad, d->size);
    rc = seg_open(d->v, d->path, DMG_NUM, NULL, &g_err, &s);
    CHECK_MSG(s == NULL, "%s opened", what);
    CHECK(err_has(DMG_NAME));
    CHECK(err_has("offset"));
    seg_close(s);
    memcpy(d->bad, d->good, d->size);
    return rc;
}

static void test_resealed(void)
{
    vex_vfs *v = NULL;
    dmg d;
    CHECK_RC(vex_vfs_mem_create(NULL, &v), VEX_OK);
    if (!dmg_setup(&d, v, "."))
        goto cleanup;
    memcpy(d.bad, d.good, d.size);
    vex_put_u32le(d.bad + 8, 2); /* a newer version */
    CHECK_RC(resealed(&d, 512, "version 2"), VEX_UNSUPPORTED);
    CHECK(err_has("newer"));
    /* a newer version with a longer header (CRC in its last 4 bytes) */
    vex_put_u32le(d.bad + 8, 2);
    vex_put_u32le(d.bad + 12, 1024);
    CHECK_RC(resealed(&d, 1024, "version 2, 1024"), VEX_UNSUPPORTED);
    vex_put_u32le(d.bad + 8, 0);
    CHECK_RC(resealed(&d, 512, "version 0"), VEX_CORRUPT);
    vex_put_u32le(d.bad + 12, 1024); /* version 1 with another size */
    CHECK_RC(resealed(&d, 1024, "size 1024"), VEX_CORRUPT);
    vex_put_u32le(d.bad + 80 + 24, 9); /* unknown kind */
    CHECK_RC(resealed(&d, 512, "kind 9"), VEX_UNSUPPORTED);
    CHECK(err_has("unknown kind 9"));
    vex_put_u32le(d.bad + 80 + 24, SEG_SEC_IDS); /* repeated kind */
    CHECK_RC(resealed(&d, 512, "repeat"), VEX_CORRUPT);
    CHECK(err_has("repeats kind 1"));
    vex_put_u64le(d.bad + 80 + 24 + 8, IDX_START + 64); /* misaligned */
    CHECK_RC(resealed(&d, 512, "misaligned"), VEX_CORRUPT);
    vex_put_u64le(d.bad + 80 + 8, 0); /* ids over the header */
    CHECK_RC(resealed(&d, 512, "ids at 0"), VEX_CORRUPT);
    vex_put_u64le(d.bad + 80 + 24 + 8, 4096); /* overlapping */
    CHECK_RC(resealed(&d, 512, "overlap"), VEX_CORRUPT);
    vex_put_u64le(d.bad + 80 + 24 + 16, DMG_BLOB + 1); /* past the end */
    CHECK_RC(resealed(&d, 512, "past end"), VEX_CORRUPT);
    vex_put_u64le(d.bad + 80 + 24 + 16, DMG_BLOB - 1); /* a trailing byte */
    CHECK_RC(resealed(&d, 512, "trailing"), VEX_CORRUPT);
    vex_put_u64le(d.bad + 40, DMG_ROWS + 1); /* ids length != rows * 8 */
    CHECK_RC(resealed(&d, 512, "rows"), VEX_CORRUPT);
    vex_put_u64le(d.bad + 40, SEG_MAX_ROWS + 1);
    CHECK_RC(resealed(&d, 512, "too many rows"), VEX_CORRUPT);
    vex_put_u32le(d.bad + 72, 17);
    CHECK_RC(resealed(&d, 512, "17 sections"), VEX_CORRUPT);
    vex_put_u32le(d.bad + 72, 1); /* INDEX entry left in the table */
    CHECK_RC(resealed(&d, 512, "unused entry"), VEX_CORRUPT);
    d.bad[470] = 1; /* reserved */
    CHECK_RC(resealed(&d, 512, "reserved"), VEX_CORRUPT);
    CHECK(err_has("offset 470"));
    memcpy(d.bad + 80, d.good + 80 + 24, 24); /* only the INDEX section */
    memset(d.bad + 80 + 24, 0, 24);
    memset(d.bad + 4096, 0, 8 * DMG_ROWS); /* (else: non-zero padding) */
    vex_put_u32le(d.bad + 72, 1);
    CHECK_RC(resealed(&d, 512, "no ids"), VEX_CORRUPT);
    CHECK(err_has("no ids section"));
    /* ids out of order with the section CRC re-sealed too */
    vex_put_u64le(d.bad + 4096 + 8 * 50, 5 + 3 * 49);
    vex_put_u32le(d.bad + 80 + 4, vex_crc32c(d.bad + 4096, 8 * DMG_ROWS));
    CHECK_RC(resealed(&d, 512, "ids order"), VEX_CORRUPT);
    CHECK(err_has("offset 4496"));
    free(d.good);
    free(d.bad);
cleanup:
    vex_vfs_destroy(v);
}

/* ---- I/O faults and out of memory ------------------------------------ */

static void fault_sweep_write(int kind, int persistent)
{
    uint64_t nth, *ids = make_ids(3000);
    unsigned char *blob = make_blob(10000, 5);
    int done = 0;
    for (nth = 1; !done && nth < 200; nth++) {
        vex_vfs *m = NULL, *f = NULL;
        vex_fault_config cfg = {VEX_FAULT_ALL, nth, persistent, kind};
        vex_fault_stats fs;
        seg_write_info wi;
        uint64_t n_open, n_maps;
        seg *s = NULL;
        int rc;
        CHECK_RC(vex_vfs_mem_create(NULL, &m), VEX_OK);
        CHECK_RC(vex_vfs_fault_create(m, NULL, &f), VEX_OK);
        fill_info(&wi, 3, ids, 3000, blob, 10000);
        vex_vfs_fault_set(f, &cfg);
        rc = seg_write(f, DMG_NAME, &wi, NULL, &g_err);
        vex_vfs_fault_stats(f, &fs);
        if (fs.n_faults == 0) {
            done = 1;
            CHECK_RC(rc, VEX_OK);
        } else {
            int want = kind == VEX_FAULT_FULL ? VEX_FULL : VEX_IOERR;
            CHECK_MSG(
                rc == want || (kind == VEX_FAULT_SHORT_WRITE && rc == VEX_FULL),
                "nth %llu kind %d rc %d", (unsigned long long)nth, kind, rc);
            CHECK(err_has(DMG_NAME));
            CHECK(err_has("injected"));
            /* The partial file is gone, unless the cleanup remove was
             * itself failed (persistent faults): then it stays for the
             * engine's orphan sweep. */
            if (!persistent)
                CHECK_MSG(file_kind(m, DMG_NAME) == VEX_VFS_NONE,
                          "nth %llu kind %d: file left",
                          (unsigned long long)nth, kind);
        }
        vex_vfs_mem_counts(m, &n_open, &n_maps);
        CHECK_EQ_INT(n_open, 0);
        CHECK_EQ_INT(n_maps, 0);
        if (rc == VEX_OK) { /* what was written reads back */
            CHECK_RC(seg_open(m, DMG_NAME, 3, NULL, &g_err, &s), VEX_OK);
            CHECK(s && seg_find(s, 5 + 3 * 2999, NULL) == 1);
            seg_close(s);
        }
        vex_vfs_destroy(f);
        vex_vfs_destroy(m);
    }
    CHECK(done);
    free(ids);
    free(blob);
}

static void test_fault_write(void)
{
    int kind;
    for (kind = VEX_FAULT_IOERR; kind <= VEX_FAULT_SYNC; kind++)
        fault_sweep_write(kind, 0);
    fault_sweep_write(VEX_FAULT_IOERR, 1);
}

static int open_scenario(vex_vfs *m, vex_vfs *f, fail_alloc *fa,
                         vex_fault_stats *fs)
{
    vex_allocator a = {fa_alloc, fa_realloc, fa_free, fa};
    vex_mem mem;
    seg *s = NULL;
    const void *p;
    uint64_t size, n_open, n_maps;
    int rc;
    vex_mem_init(&mem, &a);
    rc = seg_open(f, DMG_NAME, DMG_NUM, &mem, &g_err, &s);
    if (f != m) { /* faults in seg_close are not reported: stop here */
        vex_fault_config off = {0, 0, 0, 0};
        vex_vfs_fault_stats(f, fs);
        vex_vfs_fault_set(f, &off);
    }
    if (rc == VEX_OK) {
        CHECK(seg_find(s, 5, NULL) == 1);
        CHECK_RC(seg_index(s, &p, &size, &g_err), VEX_OK);
        seg_close(s);
    } else {
        CHECK(s == NULL);
    }
    vex_vfs_mem_counts(m, &n_open, &n_maps);
    CHECK_EQ_INT(n_open, 0);
    CHECK_EQ_INT(n_maps, 0);
    CHECK_EQ_INT(fa->live, 0);
    return rc;
}

static void test_fault_open(void)
{
    vex_vfs *m = NULL, *f = NULL;
    fail_alloc fa;
    uint64_t nth;
    long budget;
    int done = 0, rc = VEX_NOMEM;
    dmg d;
    pthread_mutex_init(&fa.lock, NULL);
    CHECK_RC(vex_vfs_mem_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_vfs_fault_create(m, NULL, &f), VEX_OK);
    if (!dmg_setup(&d, m, "."))
        goto cleanup;
    for (nth = 1; !done && nth < 100; nth++) {
        vex_fault_config cfg = {VEX_FAULT_ALL, nth, 0, VEX_FAULT_IOERR};
        vex_fault_stats fs;
        fa.budget = -1;
        fa.live = 0;
        vex_vfs_fault_set(f, &cfg);
        rc = open_scenario(m, f, &fa, &fs);
        if (fs.n_faults == 0) {
            done = 1;
            CHECK_RC(rc, VEX_OK);
        } else {
            CHECK_MSG(rc == VEX_IOERR, "nth %llu rc %d",
                      (unsigned long long)nth, rc);
        }
    }
    CHECK(done);
    rc = VEX_NOMEM;
    for (budget = 0; budget < 100 && rc != VEX_OK; budget++) {
        fa.budget = budget;
        fa.live = 0;
        rc = open_scenario(m, m, &fa, NULL);
        CHECK_MSG(rc == VEX_OK || rc == VEX_NOMEM, "budget %ld: rc %d", budget,
                  rc);
    }
    CHECK_RC(rc, VEX_OK);
    free(d.good);
    free(d.bad);
cleanup:
    vex_vfs_destroy(f);
    vex_vfs_destroy(m);
    pthread_mutex_destroy(&fa.lock);
}

/* ---- threads ----------------------------------------------------------- */

#define N_THREADS 8
#define T_ROWS    20000

typedef struct thr {
    seg *s;
    atomic_int *go;
    int id, bad_index; /* expect seg_index to fail */
    int errors;
} thr;

static void *thr_run(void *arg)
{
    thr *t = arg;
    vex_rng r;
    vex_err err;
    int i;
    vex_err_init(&err);
    vex_rng_seed(&r, test_seed(11) + (uint64_t)t->id);
    while (!atomic_load(t->go))
        ;
    for (i = 0; i < 20000; i++) {
        uint64_t id = vex_rng_below(&r, 5 + 3 * T_ROWS + 10), row = 0;
        int want = id >= 5 && (id - 5) % 3 == 0 && (id - 5) / 3 < T_ROWS;
        int got = seg_find(t->s, id, &row);
        if (got != want || (got && row != (id - 5) / 3))
            t->errors++;
        if (i % 1000 == 0) {
            const void *p = NULL;
            uint64_t size = 0;
            int rc = seg_index(t->s, &p, &size, &err);
            if (t->bad_index ? rc != VEX_CORRUPT
                             : rc != VEX_OK || size != 70000)
                t->errors++;
        }
    }
    vex_err_destroy(&err);
    return NULL;
}

static void threads_on(vex_vfs *v, int bad_index)
{
    uint64_t *ids = make_ids(T_ROWS);
    unsigned char *blob = make_blob(70000, 3);
    const char *path =
        bad_index ? "seg-0000000000000002.vseg" : "seg-0000000000000001.vseg";
    uint64_t num = bad_index ? 2 : 1;
    seg_write_info wi;
    seg *s = NULL;
    pthread_t th[N_THREADS];
    thr t[N_THREADS];
    atomic_int go;
    int i;
    atomic_init(&go, 0);
    fill_info(&wi, num, ids, T_ROWS, blob, 70000);
    CHECK_RC(seg_write(v, path, &wi, NULL, &g_err), VEX_OK);
    if (bad_index) { /* damage the blob: open succeeds, index fails */
        static unsigned char buf[1 << 20];
        long n = read_all(v, path, buf, sizeof buf);
        CHECK(n > 0);
        buf[n - 100] ^= 0x40;
        write_all(v, path, buf, (size_t)n);
    }
    CHECK_RC(seg_open(v, path, num, NULL, &g_err, &s), VEX_OK);
    if (s == NULL)
        goto cleanup;
    for (i = 0; i < N_THREADS; i++) {
        t[i].s = s;
        t[i].go = &go;
        t[i].id = i;
        t[i].bad_index = bad_index;
        t[i].errors = 0;
        CHECK(pthread_create(&th[i], NULL, thr_run, &t[i]) == 0);
    }
    atomic_store(&go, 1);
    for (i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(t[i].errors, 0);
    }
    seg_close(s);
cleanup:
    free(ids);
    free(blob);
}

static void test_concurrent(void)
{
    vex_vfs *v = NULL;
    CHECK_RC(vex_vfs_mem_create(NULL, &v), VEX_OK);
    threads_on(v, 0);
    threads_on(v, 1);
    vex_vfs_destroy(v);
}

int main(void)
{
    vex_err_init(&g_err);
    TEST_RUN(test_roundtrip_mem);
    TEST_RUN(test_roundtrip_posix);
    TEST_RUN(test_real_index);
    TEST_RUN(test_names);
    TEST_RUN(test_reject);
    TEST_RUN(test_damage_mem);
    TEST_RUN(test_damage_posix);
    TEST_RUN(test_resealed);
    TEST_RUN(test_fault_write);
    TEST_RUN(test_fault_open);
    TEST_RUN(test_concurrent);
    vex_err_destroy(&g_err);
    return TEST_EXIT();
}
