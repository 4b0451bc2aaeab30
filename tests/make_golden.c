/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_golden.c - writes a golden database (tests/golden.h says what) with
 * this build of the library, for tests/fixtures/. Run by hand when a
 * release changes an on-disk format, with a build that has zstd:
 *   build/tests/make_golden tests/fixtures/db-<version>
 * (the directory must not exist). Exit 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "golden.h"
#include "vexdb.h"

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "make_golden: %s: %s\n", what, msg);
    return 1;
}

/* Insert (or upsert) record `id` at `version` as the script says. */
static int put(vex_collection *c, const golden_coll *g, vex_meta *m,
               uint64_t id, int version, int upsert)
{
    unsigned char vec[64];
    char pay[64];
    vex_record r;
    vex_record_init(&r);
    golden_vector(g, id, version, vec);
    golden_meta(id, version, 0, m);
    r.id = id;
    r.vector = vec;
    r.meta = m;
    r.payload = pay;
    r.payload_len = golden_payload(id, version, pay, sizeof pay);
    if ((upsert ? vex_upsert_record(c, &r) : vex_insert_record(c, &r)) !=
        VEX_OK)
        return fail(g->name, vex_collection_errmsg(c));
    return 0;
}

static int write_coll(vex_db *db, const golden_coll *g, vex_meta *m)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_schema_field fields[2] = {{"g", VEX_TYPE_INT, 1},
                                  {"s", VEX_TYPE_STRING, 1}};
    vex_batch *b = NULL;
    vex_collection_config_init(&cfg);
    cfg.dim = g->dim;
    cfg.elem = g->elem;
    cfg.metric = g->metric;
    cfg.index_kind = g->index;
    cfg.quant = g->quant;
    cfg.compression = g->compression;
    if (g->index == VEX_INDEX_HNSW) {
        cfg.hnsw_m = 8;
        cfg.hnsw_ef_construction = 64;
        cfg.hnsw_seed = 7;
    }
    if (g->schema) {
        cfg.schema_fields = fields;
        cfg.n_schema_fields = 2;
    }
    if (vex_collection_create(db, g->name, &cfg, &c) != VEX_OK)
        return fail(g->name, vex_db_errmsg(db));
    /* phase 1 */
    for (uint64_t id = 0; id < 200; id++)
        if (put(c, g, m, id, 1, 0))
            return 1;
    if (vex_flush(c) != VEX_OK)
        return fail(g->name, vex_collection_errmsg(c));
    /* phase 2 */
    for (uint64_t id = 150; id < 250; id++)
        if (put(c, g, m, id, 2, 1))
            return 1;
    for (uint64_t id = 0; id < 20; id++)
        if (vex_delete(c, id) != VEX_OK)
            return fail(g->name, vex_collection_errmsg(c));
    if (vex_flush(c) != VEX_OK)
        return fail(g->name, vex_collection_errmsg(c));
    /* phase 3: left in the log */
    if (vex_batch_create(vex_vector_size(g->elem, g->dim), NULL, &b) != VEX_OK)
        return fail(g->name, "batch");
    for (uint64_t id = 30; id < 40; id++) {
        golden_meta(id, 1, 1, m);
        if (vex_batch_update_meta(b, id, m) != VEX_OK)
            return fail(g->name, "batch update");
    }
    if (vex_batch_commit(c, b) != VEX_OK)
        return fail(g->name, vex_collection_errmsg(c));
    vex_batch_free(b);
    for (uint64_t id = 250; id < 300; id++)
        if (put(c, g, m, id, 1, 0))
            return 1;
    for (uint64_t id = 240; id < 245; id++)
        if (vex_delete(c, id) != VEX_OK)
            return fail(g->name, vex_collection_errmsg(c));
    return vex_collection_close(c) == VEX_OK ? 0 : fail(g->name, "close");
}

int main(int argc, char **argv)
{
    vex_db_options o;
    vex_db *db = NULL;
    vex_meta *m = NULL;
    struct stat st;
    int bad = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: make_golden DIR (DIR must not exist)\n");
        return 2;
    }
    if (stat(argv[1], &st) == 0)
        return fail(argv[1], "exists (a fixture is written once)");
    if (!(vex_features() & VEX_FEATURE_ZSTD))
        return fail("zstd", "golden databases are written by a build with "
                            "zstd (the \"zstd\" collection needs it)");
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.flush_on_close = 0;
    o.wal_file_bytes = 64 << 10;
    o.compact_min_merge = 0; /* no automatic merging: two segments stay */
    o.compact_deleted_pct = 0;
    if (vex_db_open(argv[1], &o, &db) != VEX_OK)
        return fail(argv[1], db ? vex_db_errmsg(db) : "out of memory");
    if (vex_meta_create(NULL, &m) != VEX_OK)
        return fail("meta", "out of memory");
    for (size_t i = 0; i < GOLDEN_N_COLLS && !bad; i++)
        bad = write_coll(db, &golden_colls[i], m);
    vex_meta_free(m);
    if (vex_db_close(db) != VEX_OK)
        return fail(argv[1], "close");
    if (!bad)
        printf("wrote %s with vexdb %s\n", argv[1], vex_version());
    return bad;
}
