/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_diskann_threads.c - DiskANN segments under concurrent use
 * (labelled concurrency: the TSan job runs it).
 *
 * Searches from several threads (their scratches come from the segment's
 * free list, the index opens lazily under its lock, the node cache is
 * taken from the database's budget) while a writer deletes and upserts
 * and compactions replace the DiskANN segment by a new one: every
 * search succeeds, returns only ids that exist, and at the end the
 * collection holds exactly what the writer left.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/rng.h"
#include "vecgen.h"
#include "vexdb.h"

#define DIM     8
#define N       1200
#define READERS 3

static char tmp_root[256];
static vex_collection *g_c;
static float *g_v;
static atomic_int g_stop;
static atomic_int g_bad;

static void *reader(void *arg)
{
    vex_rng r;
    vex_rng_seed(&r, (uint64_t)(uintptr_t)arg);
    while (!atomic_load(&g_stop)) {
        vex_search_params p;
        vex_hit hits[10];
        size_t n = 0;
        const float *q = g_v + vex_rng_below(&r, N) * DIM;
        vex_search_params_init(&p);
        p.ef_search = 40;
        p.beam_width = 1 + (uint32_t)vex_rng_below(&r, 8);
        if (vex_search(g_c, q, 10, &p, hits, NULL, &n) != VEX_OK || n == 0)
            atomic_fetch_add(&g_bad, 1);
        for (size_t i = 0; i < n; i++)
            if (hits[i].id == 0 || hits[i].id > N)
                atomic_fetch_add(&g_bad, 1);
    }
    return NULL;
}

static void test_concurrent(void)
{
    char path[512];
    vex_db_options o;
    vex_collection_config cfg;
    vex_db *db = NULL;
    pthread_t th[READERS];
    vex_rng r;
    uint8_t live[N + 1];
    uint64_t want = N;
    vex_rng_seed(&r, test_seed(17));
    g_v = vecgen_clustered(&r, N, DIM, 2);
    snprintf(path, sizeof path, "%s/db", tmp_root);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    o.diskann_cache_bytes = 64 << 10;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.diskann_min_rows = 200;
    cfg.diskann_r = 16;
    cfg.diskann_l = 32;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &g_c), VEX_OK);
    for (uint64_t id = 1; id <= N; id++) {
        CHECK_RC(vex_insert(g_c, id, g_v + (id - 1) * DIM), VEX_OK);
        live[id] = 1;
    }
    CHECK_RC(vex_flush(g_c), VEX_OK);
    CHECK_RC(vex_compact(g_c), VEX_OK);
    atomic_store(&g_stop, 0);
    for (int t = 0; t < READERS; t++)
        pthread_create(&th[t], NULL, reader, (void *)(uintptr_t)(t + 1));
    /* the writer: deletes, re-inserts, flushes and compactions that write
     * a new DiskANN segment each time */
    for (int round = 0; round < 4; round++) {
        for (int j = 0; j < 60; j++) {
            uint64_t id = 1 + vex_rng_below(&r, N);
            if (live[id]) {
                CHECK_RC(vex_delete(g_c, id), VEX_OK);
                live[id] = 0;
                want--;
            } else {
                CHECK_RC(vex_insert(g_c, id, g_v + (id - 1) * DIM), VEX_OK);
                live[id] = 1;
                want++;
            }
        }
        CHECK_RC(vex_flush(g_c), VEX_OK);
        CHECK_RC(vex_compact(g_c), VEX_OK);
    }
    atomic_store(&g_stop, 1);
    for (int t = 0; t < READERS; t++)
        pthread_join(th[t], NULL);
    CHECK_EQ_INT(atomic_load(&g_bad), 0);
    CHECK_EQ_INT(vex_collection_count(g_c), want);
    {
        vex_stats st;
        vex_stats_init(&st);
        CHECK_RC(vex_stats_get(g_c, &st), VEX_OK);
        CHECK_EQ_INT(st.diskann_segments, 1);
        CHECK(st.diskann_cache_bytes <= (64 << 10) / 2);
    }
    for (uint64_t id = 1; id <= N; id += 7) {
        float back[DIM];
        CHECK_RC(vex_get(g_c, id, back), live[id] ? VEX_OK : VEX_NOTFOUND);
    }
    CHECK_RC(vex_collection_close(g_c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    free(g_v);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_dann_thr_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_concurrent);
    rm_rf(tmp_root);
    return TEST_EXIT();
}
