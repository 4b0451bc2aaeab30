/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_golden.c - every committed golden database (tests/fixtures/db-*,
 * written by tests/make_golden.c with the release named in the
 * directory) opens with today's library and reads back exactly what
 * tests/golden.h says was written: the live ids, every vector bit for
 * bit, every metadata field, every payload; each record is found by a
 * search for its own vector; a count by filter sees the updated
 * metadata; and the database takes new writes and reopens. Each
 * fixture is copied first (opening replays the log and may write).
 * In a build without zstd the "zstd" collection must be refused by name.
 *
 * Usage: test_golden FIXTURES_DIR
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "vexdb.h"

static char tmp_root[256];

/* The same fields with the same values (fields come in name order). */
static int meta_equal(const vex_meta *a, const vex_meta *b)
{
    size_t n = vex_meta_count(a);
    if (n != vex_meta_count(b))
        return 0;
    for (size_t i = 0; i < n; i++) {
        vex_field x, y;
        if (vex_meta_field(a, i, &x) != VEX_OK ||
            vex_meta_field(b, i, &y) != VEX_OK || x.type != y.type ||
            x.name_len != y.name_len || memcmp(x.name, y.name, x.name_len))
            return 0;
        switch (x.type) {
        case VEX_TYPE_INT:
            if (x.i != y.i)
                return 0;
            break;
        case VEX_TYPE_STRING:
            if (x.len != y.len || memcmp(x.s, y.s, x.len))
                return 0;
            break;
        case VEX_TYPE_TAGS:
            if (x.n_tags != y.n_tags)
                return 0;
            for (size_t j = 0; j < x.n_tags; j++) {
                const char *p, *q;
                size_t pl, ql;
                if (vex_meta_tag(a, i, j, &p, &pl) != VEX_OK ||
                    vex_meta_tag(b, i, j, &q, &ql) != VEX_OK || pl != ql ||
                    memcmp(p, q, pl))
                    return 0;
            }
            break;
        default:
            return 0; /* the script writes no other types */
        }
    }
    return 1;
}

static void check_coll(vex_collection *c, const golden_coll *g)
{
    vex_meta *want = NULL, *got = NULL;
    vex_search_params p;
    vex_filter *f = NULL;
    unsigned char vec[64], back[64];
    char pay[64], pay_back[64];
    uint64_t n_live = 0, n = 0;
    size_t vs = vex_vector_size(g->elem, g->dim);
    CHECK_RC(vex_meta_create(NULL, &want), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &got), VEX_OK);
    if (want == NULL || got == NULL)
        return;
    vex_search_params_init(&p);
    if (g->index == VEX_INDEX_HNSW)
        p.ef_search = 200;
    for (uint64_t id = 0; id < GOLDEN_IDS && !test_case_failed_; id++) {
        int live = golden_live(id), ver = golden_version(id);
        int rc = vex_get(c, id, back);
        CHECK_MSG(rc == (live ? VEX_OK : VEX_NOTFOUND), "%s: id %llu: %s",
                  g->name, (unsigned long long)id, vex_errstr(rc));
        if (!live || rc != VEX_OK)
            continue;
        n_live++;
        golden_vector(g, id, ver, vec);
        CHECK_MSG(memcmp(vec, back, vs) == 0, "%s: id %llu: vector differs",
                  g->name, (unsigned long long)id);
        golden_meta(id, ver, id >= 30 && id < 40, want);
        CHECK_RC(vex_get_meta(c, id, got), VEX_OK);
        CHECK_MSG(meta_equal(want, got), "%s: id %llu: metadata differs",
                  g->name, (unsigned long long)id);
        size_t pl = golden_payload(id, ver, pay, sizeof pay), bl = 0;
        rc = vex_get_payload(c, id, pay_back, sizeof pay_back, &bl);
        CHECK_RC(rc, VEX_OK);
        CHECK_MSG(bl == pl && memcmp(pay, pay_back, pl) == 0,
                  "%s: id %llu: payload differs", g->name,
                  (unsigned long long)id);
        /* found by its own vector */
        vex_hit hits[10];
        size_t nh = 0, k = g->index == VEX_INDEX_FLAT ? 1 : 10;
        int found = 0;
        CHECK_RC(vex_search(c, vec, k, &p, hits, NULL, &nh), VEX_OK);
        for (size_t i = 0; i < nh; i++)
            found |= hits[i].id == id;
        CHECK_MSG(found, "%s: id %llu not found by its own vector", g->name,
                  (unsigned long long)id);
    }
    CHECK_EQ_INT(n_live, GOLDEN_IDS - 25);
    CHECK_EQ_INT(vex_collection_count(c), GOLDEN_IDS - 25);
    CHECK_RC(vex_filter_parse(c, "g >= 100", &f), VEX_OK);
    CHECK_RC(vex_count_where(c, f, &n), VEX_OK);
    CHECK_EQ_INT(n, 10);
    vex_filter_free(f);
    vex_meta_free(want);
    vex_meta_free(got);
}

static void check_fixture(const char *fixtures, const char *name)
{
    char cmd[1400], copy[600];
    vex_db_options o;
    vex_db *db = NULL;
    int zstd = (vex_features() & VEX_FEATURE_ZSTD) != 0;
    snprintf(copy, sizeof copy, "%s/%s", tmp_root, name);
    snprintf(cmd, sizeof cmd, "cp -R '%s/%s' '%s'", fixtures, name, copy);
    CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
    fprintf(stderr, "  %s\n", name);
    vex_db_options_init(&o);
    o.background_threads = 1;
    CHECK_RC(vex_db_open(copy, &o, &db), VEX_OK);
    if (db == NULL)
        return;
    for (size_t i = 0; i < GOLDEN_N_COLLS; i++) {
        const golden_coll *g = &golden_colls[i];
        vex_collection *c = NULL;
        int rc = vex_collection_open(db, g->name, &c);
        if (g->compression == VEX_COMPRESS_ZSTD && !zstd) {
            CHECK_RC(rc, VEX_UNSUPPORTED);
            CHECK(strstr(vex_db_errmsg(db), "zstd") != NULL);
            continue;
        }
        CHECK_MSG(rc == VEX_OK, "%s/%s: %s", name, g->name, vex_db_errmsg(db));
        if (c == NULL)
            continue;
        check_coll(c, g);
        /* it takes a new write */
        unsigned char vec[64];
        golden_vector(g, 1000, 1, vec);
        CHECK_RC(vex_insert(c, 1000, vec), VEX_OK);
        CHECK_RC(vex_collection_close(c), VEX_OK);
    }
    CHECK_RC(vex_db_close(db), VEX_OK);
    /* and reopens with it (flushed by the close) */
    db = NULL;
    CHECK_RC(vex_db_open(copy, &o, &db), VEX_OK);
    for (size_t i = 0; db && i < GOLDEN_N_COLLS; i++) {
        vex_collection *c = NULL;
        if (golden_colls[i].compression == VEX_COMPRESS_ZSTD && !zstd)
            continue;
        CHECK_RC(vex_collection_open(db, golden_colls[i].name, &c), VEX_OK);
        if (c) {
            CHECK_EQ_INT(vex_collection_count(c), GOLDEN_IDS - 25 + 1);
            vex_collection_close(c);
        }
    }
    vex_db_close(db);
}

static const char *g_fixtures;

static void test_fixtures(void)
{
    DIR *d = opendir(g_fixtures);
    struct dirent *e;
    int n = 0;
    CHECK_MSG(d != NULL, "%s: cannot list", g_fixtures);
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "db-", 3) == 0) {
            check_fixture(g_fixtures, e->d_name);
            n++;
        }
    if (d)
        closedir(d);
    CHECK_MSG(n > 0, "no fixtures db-* in %s", g_fixtures);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_golden FIXTURES_DIR\n");
        return 2;
    }
    g_fixtures = argv[1];
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_golden_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    TEST_RUN(test_fixtures);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}
