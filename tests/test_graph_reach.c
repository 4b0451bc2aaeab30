/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_graph_reach.c - every live record of an HNSW collection can be
 * found by a search, through the public API.
 *
 * A collection with small graph parameters (hnsw_m 8, ef_construction
 * 64) takes inserts, upserts, deletes and re-inserts in rounds, each
 * flushed to a segment, then a compaction merges them, and one more round
 * is flushed beside it. Every graph is built deterministically: one
 * worker thread, no automatic compaction, and memtables searched exactly
 * until their flush inserts them (in steps of 1024 rows, so that the last
 * step of a memtable or of a compaction is short, as in the database of
 * issue 26 where such a step left a node no search reached). Then every
 * live record must be found by a search for its own stored vector (k 10,
 * ef 400), and one search with k = count + 10 must return every live
 * record. Seeds from VEX_TEST_SEED.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM       24
#define N_CENTRES 12
#define MAX_ID    20000

static char tmp_root[256];

typedef struct model {
    uint8_t live[MAX_ID];
    uint64_t next_id;
} model;

static void gen(vex_rng *r, const float *centres, float *v)
{
    const float *c = centres + vex_rng_below(r, N_CENTRES) * DIM;
    for (size_t d = 0; d < DIM; d++)
        v[d] = c[d] + 0.25f * (float)vex_rng_normal(r);
}

/* A live id at random (the model has at least one). */
static uint64_t pick_live(vex_rng *r, const model *m)
{
    for (;;) {
        uint64_t id = 1 + vex_rng_below(r, m->next_id - 1);
        if (m->live[id])
            return id;
    }
}

/* One round: inserts (every fifth one re-inserting a deleted id), then
 * upserts of live ids, then deletes; n_rows rows reach the memtable
 * (deletes add none). */
static void round_of(vex_collection *c, vex_rng *r, const float *centres,
                     model *m, size_t n_rows, size_t n_upsert, size_t n_delete)
{
    float v[DIM];
    size_t i, reinserted = 0;
    for (i = n_upsert; i < n_rows; i++) {
        uint64_t id = m->next_id;
        /* every fifth insert brings back a deleted id */
        if (i % 5 == 0 && reinserted < n_delete)
            for (uint64_t t = 1; t < m->next_id; t++)
                if (!m->live[t]) {
                    id = t;
                    reinserted++;
                    break;
                }
        if (id == m->next_id)
            m->next_id++;
        gen(r, centres, v);
        CHECK_RC(vex_insert(c, id, v), VEX_OK);
        m->live[id] = 1;
    }
    for (i = 0; i < n_delete; i++) {
        uint64_t id = pick_live(r, m);
        CHECK_RC(vex_delete(c, id), VEX_OK);
        m->live[id] = 0;
    }
    for (i = 0; i < n_upsert; i++) {
        uint64_t id = pick_live(r, m);
        gen(r, centres, v);
        CHECK_RC(vex_upsert(c, id, v), VEX_OK);
    }
}

/* Every live record by its own vector, and all of them in one search. */
static void check_all_found(vex_collection *c, const model *m, const char *when)
{
    uint64_t count = vex_collection_count(c), n_live = 0, missed = 0, id;
    vex_search_params p;
    vex_hit hits[10], *all;
    vex_rng r;
    uint8_t *seen;
    size_t nh, i;
    float v[DIM];
    for (id = 1; id < m->next_id; id++)
        n_live += m->live[id];
    CHECK_EQ_INT(count, n_live);
    vex_search_params_init(&p);
    p.ef_search = 400;
    for (id = 1; id < m->next_id; id++) {
        int found = 0;
        if (!m->live[id])
            continue;
        CHECK_RC(vex_get(c, id, v), VEX_OK);
        CHECK_RC(vex_search(c, v, 10, &p, hits, NULL, &nh), VEX_OK);
        for (i = 0; i < nh; i++)
            found |= hits[i].id == id;
        if (!found && missed++ < 5)
            fprintf(stderr, "%s: id %llu not found by its own vector\n", when,
                    (unsigned long long)id);
    }
    CHECK_MSG(missed == 0,
              "%s: %llu of %llu live records not found by their "
              "own vector",
              when, (unsigned long long)missed, (unsigned long long)n_live);

    all = malloc((count + 10) * sizeof *all);
    seen = calloc(MAX_ID, 1);
    if (all == NULL || seen == NULL) {
        CHECK(!"out of memory");
        free(all);
        free(seen);
        return;
    }
    p.ef_search = (uint32_t)(count + 10);
    vex_rng_seed(&r, count);
    CHECK_RC(vex_get(c, pick_live(&r, m), v), VEX_OK);
    CHECK_RC(vex_search(c, v, count + 10, &p, all, NULL, &nh), VEX_OK);
    CHECK_MSG(nh == count, "%s: one search with k = %llu returned %zu of %llu",
              when, (unsigned long long)count + 10, nh,
              (unsigned long long)count);
    for (i = 0; i < nh; i++)
        if (all[i].id < MAX_ID)
            seen[all[i].id] = 1;
    for (id = 1, missed = 0; id < m->next_id; id++)
        if (m->live[id] && !seen[id] && missed++ < 5)
            fprintf(stderr,
                    "%s: id %llu missing from the k = count + 10 "
                    "search\n",
                    when, (unsigned long long)id);
    CHECK(missed == 0);
    free(all);
    free(seen);
}

static void scenario(uint64_t seed)
{
    char path[300];
    vex_db_options o;
    vex_collection_config cfg;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_rng r;
    float centres[N_CENTRES * DIM];
    model *m = calloc(1, sizeof *m);
    int rc;
    if (m == NULL) {
        CHECK(!"out of memory");
        return;
    }
    m->next_id = 1;
    vex_rng_seed(&r, seed);
    for (size_t i = 0; i < N_CENTRES * DIM; i++)
        centres[i] = 2.0f * (float)vex_rng_normal(&r);
    snprintf(path, sizeof path, "%s/db-%llu", tmp_root,
             (unsigned long long)seed);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = VEX_DURABILITY_NONE;
    o.n_threads = 1; /* graph builds one node at a time */
    o.background_threads = 1;
    o.compact_min_merge = 0; /* compactions only when asked */
    o.compact_deleted_pct = 0;
    o.memtable_exact_rows = 1000000; /* memtables indexed by their flush */
    rc = vex_db_open(path, &o, &db);
    CHECK_RC(rc, VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.hnsw_m = 8;
    cfg.hnsw_ef_construction = 64;
    cfg.hnsw_seed = seed;
    if (rc == VEX_OK)
        CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    if (c == NULL)
        goto out;
    /* three memtables of 1100 rows: flushes insert 1024, then 76 */
    for (int k = 0; k < 3; k++) {
        round_of(c, &r, centres, m, 1100, 120, k ? 150 : 0);
        CHECK_RC(vex_flush(c), VEX_OK);
    }
    check_all_found(c, m, "after the flushes");
    /* one segment of ~2.9k live rows: steps of 1024, then a short one */
    CHECK_RC(vex_compact(c), VEX_OK);
    check_all_found(c, m, "after the compaction");
    round_of(c, &r, centres, m, 1090, 200, 300);
    CHECK_RC(vex_flush(c), VEX_OK);
    check_all_found(c, m, "after the last flush");
out:
    if (c)
        CHECK_RC(vex_collection_close(c), VEX_OK);
    if (db)
        CHECK_RC(vex_db_close(db), VEX_OK);
    rm_rf(path);
    free(m);
}

static void test_every_record_found(void)
{
    uint64_t base = test_seed(26);
    for (uint64_t s = 0; s < 3; s++)
        scenario(base + s);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_reach_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    TEST_RUN(test_every_record_found);
    rm_rf(tmp_root);
    return TEST_EXIT();
}
