/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_compression.c - every build reads every database it can, and
 * refuses by name the one it cannot.
 *
 * vex_collection_config.compression is stored with the collection:
 *   - default VEX_COMPRESS_NONE writes uncompressed metadata columns even
 *     in a build with zstd (so a build without zstd reads them);
 *   - VEX_COMPRESS_ZSTD in a build with zstd writes smaller segments for
 *     compressible metadata, survives a reopen and a compaction, and is
 *     reported by vex_collection_get_config; in a build without zstd
 *     creating one is VEX_UNSUPPORTED and leaves nothing behind;
 *   - a collection whose manifest says zstd (made here through the
 *     manifest layer, so both kinds of build run this case) opens in a
 *     build with zstd and is refused at open, naming zstd, without it;
 *   - get-or-create compares a non-default compression;
 *   - vex_features / vex_feature_name agree with the build.
 * CI runs the suite in both kinds of build (the ASan job has no zstd).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/vfs.h"
#include "storage/manifest.h"
/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "vexdb.h"

#define DIM 8
#define N   4000

static char tmp_root[256];
#ifdef VEX_HAVE_ZSTD_TEST /* CMake: the library was built with zstd */
static const int have_zstd = 1;
#else
static const int have_zstd = 0;
#endif
#ifdef VEX_HAVE_URING_TEST /* CMake: the library was built with liburing */
static const int have_uring = 1;
#else
static const int have_uring = 0;
#endif

static vex_db *open_db(const char *name)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.background_threads = 1;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

static int msg_has(const char *msg, const char *frag)
{
    if (strstr(msg, frag))
        return 1;
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, frag);
    return 0;
}

/* N records whose metadata compresses well: distinct, long, similar
 * strings (stored plain or as a dictionary of distinct values, either way
 * mostly the same bytes) and an ordered double. */
static void fill(vex_collection *c)
{
    vex_meta *m = NULL;
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    float v[DIM];
    char s[96];
    CHECK(m != NULL);
    for (uint64_t id = 0; id < N && m; id++) {
        for (int d = 0; d < DIM; d++)
            v[d] = (float)((id * 31 + (uint64_t)d * 7) % 97) / 97.0f;
        vex_meta_clear(m);
        snprintf(s, sizeof s,
                 "archive/section-%02u/document-%06llu/revision-final.txt",
                 (unsigned)(id % 7), (unsigned long long)id);
        vex_meta_set_string(m, "path", s, strlen(s));
        vex_meta_set_double(m, "t", (double)id * 0.25);
        CHECK_RC(vex_upsert_meta(c, id, v, m), VEX_OK);
    }
    vex_meta_free(m);
}

/* Every record's metadata comes back as written. */
static void check_records(vex_collection *c)
{
    vex_meta *m = NULL;
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    char want[96];
    CHECK(m != NULL);
    for (uint64_t id = 0; id < N && m; id += 97) {
        size_t i = 0;
        vex_field f;
        memset(&f, 0, sizeof f);
        CHECK_RC(vex_get_meta(c, id, m), VEX_OK);
        snprintf(want, sizeof want,
                 "archive/section-%02u/document-%06llu/revision-final.txt",
                 (unsigned)(id % 7), (unsigned long long)id);
        CHECK_RC(vex_meta_find(m, "path", &i), VEX_OK);
        CHECK_RC(vex_meta_field(m, i, &f), VEX_OK);
        CHECK(f.type == VEX_TYPE_STRING && f.len == strlen(want) &&
              memcmp(f.s, want, f.len) == 0);
    }
    vex_meta_free(m);
}

static uint64_t segment_bytes(vex_collection *c)
{
    vex_stats st;
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    return st.segment_bytes;
}

static void test_features(void)
{
    uint32_t f = vex_features();
    CHECK_EQ_INT((f & VEX_FEATURE_ZSTD) != 0, have_zstd);
    CHECK_EQ_INT((f & VEX_FEATURE_IO_URING) != 0, have_uring);
    CHECK(strcmp(vex_feature_name(VEX_FEATURE_ZSTD), "zstd") == 0);
    CHECK(strcmp(vex_feature_name(VEX_FEATURE_IO_URING), "io_uring") == 0);
    CHECK(vex_feature_name(0) == NULL);
    CHECK(vex_feature_name(0x80000000u) == NULL);
    CHECK(vex_feature_name(VEX_FEATURE_ZSTD | VEX_FEATURE_IO_URING) == NULL);
    /* no bit set that has no name */
    CHECK((f & ~(VEX_FEATURE_ZSTD | VEX_FEATURE_IO_URING)) == 0);
}

static void test_default_and_zstd(void)
{
    vex_db *db = open_db("both");
    vex_collection_config cfg, got;
    vex_collection *plain = NULL, *z = NULL;
    uint64_t plain_bytes, z_bytes;
    int rc;
    if (db == NULL)
        return;
    vex_collection_config_init(&cfg);
    CHECK_EQ_INT(cfg.compression, VEX_COMPRESS_NONE);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "plain", &cfg, &plain), VEX_OK);
    cfg.compression = VEX_COMPRESS_ZSTD;
    rc = vex_collection_create(db, "z", &cfg, &z);
    if (!have_zstd) {
        CHECK_RC(rc, VEX_UNSUPPORTED);
        CHECK(msg_has(vex_db_errmsg(db), "built without zstd"));
        CHECK(z == NULL);
        CHECK_RC(vex_collection_open(db, "z", &z), VEX_NOTFOUND);
    } else {
        CHECK_RC(rc, VEX_OK);
    }
    cfg.compression = (vex_compression)7;
    CHECK_RC(vex_collection_create(db, "bad", &cfg, NULL), VEX_INVALID);
    CHECK(msg_has(vex_db_errmsg(db), "compression 7"));
    if (plain == NULL) {
        vex_db_close(db);
        return;
    }
    fill(plain);
    CHECK_RC(vex_flush(plain), VEX_OK);
    plain_bytes = segment_bytes(plain);
    CHECK(plain_bytes > 0);
    vex_collection_config_init(&got);
    vex_collection_get_config(plain, &got);
    CHECK_EQ_INT(got.compression, VEX_COMPRESS_NONE);
    if (z) {
        fill(z);
        CHECK_RC(vex_flush(z), VEX_OK);
        z_bytes = segment_bytes(z);
        /* the same rows: the compressed metadata is much smaller (the
         * uncompressed strings alone are about 200 KB) */
        CHECK_MSG(z_bytes + 100000 < plain_bytes,
                  "zstd segment %llu bytes, plain %llu",
                  (unsigned long long)z_bytes, (unsigned long long)plain_bytes);
        check_records(z);
        vex_collection_close(z);
        z = NULL;
    }
    check_records(plain);
    vex_collection_close(plain);
    vex_db_close(db);

    /* reopened: the setting is stored; a compaction keeps it */
    db = open_db("both");
    CHECK_RC(vex_collection_open(db, "plain", &plain), VEX_OK);
    if (plain) {
        check_records(plain);
        vex_collection_close(plain);
    }
    if (have_zstd) {
        uint64_t before;
        CHECK_RC(vex_collection_open(db, "z", &z), VEX_OK);
        if (z) {
            vex_collection_config_init(&got);
            vex_collection_get_config(z, &got);
            CHECK_EQ_INT(got.compression, VEX_COMPRESS_ZSTD);
            before = segment_bytes(z);
            fill(z); /* overwrite every row: the compaction rewrites all */
            CHECK_RC(vex_flush(z), VEX_OK);
            CHECK_RC(vex_compact(z), VEX_OK);
            CHECK_MSG(segment_bytes(z) < before + before / 4,
                      "compacted %llu bytes, one segment was %llu",
                      (unsigned long long)segment_bytes(z),
                      (unsigned long long)before);
            check_records(z);
            vex_collection_close(z);
        }
    }
    vex_db_close(db);
}

static void test_get_or_create(void)
{
    vex_db *db = open_db("ooc");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    int created = 0;
    if (db == NULL)
        return;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    CHECK_RC(vex_collection_open_or_create(db, "c", &cfg, &c, &created),
             VEX_OK);
    vex_collection_close(c);
    c = NULL;
    /* asking for zstd on an uncompressed collection names the difference
     * (in a build without zstd the request itself is refused first) */
    cfg.compression = VEX_COMPRESS_ZSTD;
    if (have_zstd) {
        CHECK_RC(vex_collection_open_or_create(db, "c", &cfg, &c, &created),
                 VEX_INVALID);
        CHECK(msg_has(vex_db_errmsg(db), "compression none, asked for zstd"));
    } else {
        CHECK_RC(vex_collection_open_or_create(db, "c", &cfg, &c, &created),
                 VEX_UNSUPPORTED);
    }
    CHECK(c == NULL);
    vex_db_close(db);
}

/* Rewrite collection `name`'s current manifest with compression 1, as a
 * build with zstd would have written it. */
static void mark_zstd(const char *db_name, const char *name)
{
    char dir[600];
    vex_vfs *vfs = NULL;
    vex_mem mem;
    vex_err err;
    manifest m;
    int amb = 0;
    vx_mem_init(&mem, NULL);
    vx_err_init(&err);
    CHECK_RC(vx_vfs_posix_create(NULL, &vfs), VEX_OK);
    if (vfs == NULL)
        return;
    snprintf(dir, sizeof dir, "%s/%s/collections/%s", tmp_root, db_name, name);
    CHECK_RC(vx_manifest_load(vfs, dir, &mem, &err, &m), VEX_OK);
    m.config.compression = 1;
    m.number = m.next_file++;
    CHECK_RC(vx_manifest_publish(vfs, dir, &m, &mem, &err, &amb), VEX_OK);
    vx_manifest_free(&m, &mem);
    vex_vfs_destroy(vfs);
    vx_err_destroy(&err);
}

static void test_open_refused_without_zstd(void)
{
    vex_db *db = open_db("marked");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    int rc;
    if (db == NULL)
        return;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "m", &cfg, &c), VEX_OK);
    if (c) {
        fill(c);
        vex_collection_close(c); /* flushes */
        c = NULL;
    }
    vex_db_close(db);
    mark_zstd("marked", "m");
    db = open_db("marked");
    rc = vex_collection_open(db, "m", &c);
    if (have_zstd) {
        CHECK_RC(rc, VEX_OK);
        if (c) {
            vex_collection_config got;
            vex_collection_config_init(&got);
            vex_collection_get_config(c, &got);
            CHECK_EQ_INT(got.compression, VEX_COMPRESS_ZSTD);
            check_records(c);
            vex_collection_close(c);
        }
    } else {
        CHECK_RC(rc, VEX_UNSUPPORTED);
        CHECK(c == NULL);
        CHECK(msg_has(vex_db_errmsg(db), "collection \"m\" compresses"));
        CHECK(msg_has(vex_db_errmsg(db), "built without zstd"));
    }
    vex_db_close(db);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_compression_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    fprintf(stderr, "  (this build %s zstd)\n",
            have_zstd ? "has" : "does not have");
    TEST_RUN(test_features);
    TEST_RUN(test_default_and_zstd);
    TEST_RUN(test_get_or_create);
    TEST_RUN(test_open_refused_without_zstd);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}
