/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_snapshots.c - concurrency of the storage engine: searcher threads,
 * writer threads (inserts, upserts, deletes) and a maintenance thread
 * forcing flushes and compactions run together for a bounded time, on a
 * flat collection (exact search) and an HNSW one (background indexing).
 *
 * The oracle. Every write is bracketed by two ticks of a global logical
 * clock: `begin` before the call and `ack` after it returns, and each id
 * keeps its history of versions. A search is bracketed the same way,
 * [s0, s1]. Whatever snapshot the search used lies inside its bracket, so:
 *  - every hit must be a version that may have been visible inside the
 *    bracket (begun before s1, not replaced by a write acknowledged
 *    before s0), with the exact distance to that version's vector;
 *  - under exact search, every version surely visible for the whole
 *    bracket (acknowledged before s0, its successor begun after s1) that
 *    is nearer than the k-th hit must be among the hits.
 * Vectors carry their id and version in components 0 and 1, so a hit
 * names the version it came from. After the run the database is closed,
 * reopened and compared with the final model exactly.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM       16
#define N_IDS     1200
#define N_WRITERS 3
#define N_READERS 3
#define K         10
#define MAX_VERS  4096

typedef struct ver {
    uint32_t n;     /* version number (1..); 0 = deleted */
    uint64_t begin; /* clock before the write call */
    uint64_t ack;   /* clock after it returned (0 while in flight) */
} ver;

typedef struct hist {
    ver v[MAX_VERS];
    uint32_t count;
} hist;

static hist *H;
static pthread_mutex_t H_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t clk;
static _Atomic int stop;
static _Atomic uint64_t n_searches, n_writes, n_checked_hits;
static vex_collection *C;
static int exact;

static void vec_of(uint64_t id, uint32_t version, float *v)
{
    vex_rng r;
    vex_rng_seed(&r, id * 1000003u + version);
    v[0] = (float)id;
    v[1] = (float)version;
    for (int i = 2; i < DIM; i++)
        v[i] = (float)(vex_rng_next(&r) >> 40) / (float)(1 << 24) * 4.0f;
}

static float l2(const float *a, const float *b)
{
    float s = 0;
    for (int i = 0; i < DIM; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

static uint64_t tick(void)
{
    return atomic_fetch_add(&clk, 1) + 1;
}

/* Writer w owns ids with id % N_WRITERS == w. */
static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    vex_rng r;
    float v[DIM];
    vex_rng_seed(&r, test_seed(77 + (uint64_t)w));
    while (!atomic_load(&stop)) {
        uint64_t id = (vex_rng_next(&r) % (N_IDS / N_WRITERS)) * N_WRITERS + w;
        hist *h = &H[id];
        uint32_t last, next;
        int live, rc, op = (int)(vex_rng_next(&r) % 10);
        ver *e;
        pthread_mutex_lock(&H_mu);
        if (h->count == MAX_VERS) {
            pthread_mutex_unlock(&H_mu);
            continue;
        }
        last = h->count ? h->v[h->count - 1].n : 0;
        live = last != 0;
        next = (uint32_t)h->count + 1;
        e = &h->v[h->count];
        e->n = (live && op < 3) ? 0 : next;
        e->begin = tick();
        e->ack = 0;
        h->count++;
        pthread_mutex_unlock(&H_mu);
        if (e->n == 0) {
            rc = vex_delete(C, id);
        } else {
            vec_of(id, e->n, v);
            rc = live ? vex_upsert(C, id, v) : vex_insert(C, id, v);
        }
        CHECK_MSG(rc == VEX_OK, "write of id %llu: %s: %s",
                  (unsigned long long)id, vex_status_name(rc),
                  vex_collection_errmsg(C));
        pthread_mutex_lock(&H_mu);
        e->ack = tick();
        pthread_mutex_unlock(&H_mu);
        atomic_fetch_add(&n_writes, 1);
    }
    return NULL;
}

/* The version of `id` numbered `n`, or NULL. H_mu held. */
static const ver *find_ver(const hist *h, uint32_t n, uint32_t *at)
{
    for (uint32_t i = 0; i < h->count; i++)
        if (h->v[i].n == n) {
            *at = i;
            return &h->v[i];
        }
    return NULL;
}

static void check_search(const float *q, const vex_hit *hits, size_t nh,
                         const float *vecs, uint64_t s0, uint64_t s1)
{
    pthread_mutex_lock(&H_mu);
    for (size_t i = 0; i < nh; i++) {
        const float *v = vecs + i * DIM;
        uint64_t id = hits[i].id;
        uint32_t at = 0;
        const ver *e;
        float want[DIM];
        CHECK_MSG(id < N_IDS && v[0] == (float)id,
                  "hit %zu: id %llu, vector "
                  "of %g",
                  i, (unsigned long long)id, v[0]);
        if (id >= N_IDS)
            continue;
        e = find_ver(&H[id], (uint32_t)v[1], &at);
        CHECK_MSG(e != NULL, "hit id %llu version %g never written",
                  (unsigned long long)id, v[1]);
        if (e == NULL)
            continue;
        vec_of(id, e->n, want);
        CHECK(memcmp(want, v, sizeof want) == 0);
        CHECK_MSG(fabsf(hits[i].distance - l2(q, want)) <=
                      1e-4f * (1 + l2(q, want)),
                  "hit %llu: distance %g, exact %g", (unsigned long long)id,
                  hits[i].distance, l2(q, want));
        /* may have been visible in [s0, s1] */
        CHECK_MSG(e->begin <= s1,
                  "id %llu: version %u begun at %llu, after "
                  "the search ended at %llu",
                  (unsigned long long)id, e->n, (unsigned long long)e->begin,
                  (unsigned long long)s1);
        if (at + 1 < H[id].count) {
            const ver *nx = &H[id].v[at + 1];
            CHECK_MSG(nx->ack == 0 || nx->ack >= s0,
                      "id %llu: version %u was replaced (ack %llu) before "
                      "the search began at %llu",
                      (unsigned long long)id, e->n, (unsigned long long)nx->ack,
                      (unsigned long long)s0);
        }
        atomic_fetch_add(&n_checked_hits, 1);
    }
    if (exact) {
        float kth = nh == K ? hits[K - 1].distance : INFINITY;
        for (uint64_t id = 0; id < N_IDS; id++) {
            const hist *h = &H[id];
            for (uint32_t i = 0; i < h->count; i++) {
                const ver *e = &h->v[i];
                float want[DIM], d;
                int stable, found = 0;
                if (e->n == 0 || e->ack == 0 || e->ack > s0)
                    continue;
                stable = i + 1 == h->count || h->v[i + 1].begin > s1;
                if (!stable)
                    continue;
                vec_of(id, e->n, want);
                d = l2(q, want);
                if (d >= kth * (1 - 1e-5f))
                    continue;
                for (size_t j = 0; j < nh; j++)
                    found |= hits[j].id == id;
                CHECK_MSG(found,
                          "id %llu version %u (distance %g) was visible for "
                          "the whole search but is missing (k-th %g)",
                          (unsigned long long)id, e->n, d, kth);
            }
        }
    }
    pthread_mutex_unlock(&H_mu);
}

static void *reader(void *arg)
{
    vex_rng r;
    float q[DIM], vecs[K * DIM];
    vex_hit hits[K];
    vex_search_params sp;
    vex_rng_seed(&r, test_seed(900 + (uint64_t)(intptr_t)arg));
    vex_search_params_init(&sp);
    if (!exact)
        sp.ef_search = 64;
    while (!atomic_load(&stop)) {
        size_t nh = 0;
        uint64_t s0, s1;
        int rc;
        q[0] = (float)(vex_rng_next(&r) % N_IDS);
        q[1] = (float)(vex_rng_next(&r) % 8);
        for (int i = 2; i < DIM; i++)
            q[i] = (float)(vex_rng_next(&r) >> 40) / (float)(1 << 24) * 4.0f;
        s0 = tick();
        rc = vex_search(C, q, K, &sp, hits, vecs, &nh);
        s1 = tick();
        CHECK_MSG(rc == VEX_OK, "search: %s: %s", vex_status_name(rc),
                  vex_collection_errmsg(C));
        if (rc == VEX_OK)
            check_search(q, hits, nh, vecs, s0, s1);
        atomic_fetch_add(&n_searches, 1);
    }
    return NULL;
}

static void *maintainer(void *arg)
{
    int i = 0;
    (void)arg;
    while (!atomic_load(&stop)) {
        int rc = (i++ % 3 == 2) ? vex_compact(C) : vex_flush(C);
        CHECK_MSG(rc == VEX_OK, "maintenance: %s: %s", vex_status_name(rc),
                  vex_collection_errmsg(C));
        usleep(20000);
    }
    return NULL;
}

static void run(vex_index_kind kind, double seconds)
{
    char dir[] = "/tmp/vex_test_snap_XXXXXX";
    vex_db_options o;
    vex_collection_config cfg;
    vex_db *db = NULL;
    pthread_t w[N_WRITERS], r[N_READERS], m;
    vex_stats st;
    float v[DIM];
    uint64_t live = 0;
    CHECK(mkdtemp(dir) != NULL);
    H = calloc(N_IDS, sizeof *H);
    atomic_store(&clk, 0);
    atomic_store(&stop, 0);
    atomic_store(&n_writes, 0);
    atomic_store(&n_searches, 0);
    atomic_store(&n_checked_hits, 0);
    exact = kind == VEX_INDEX_FLAT;
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.durability = VEX_DURABILITY_NONE;
    o.memtable_bytes = 1 << 20; /* 64 B vectors: 16384 rows */
    o.memtable_exact_rows = 500;
    o.compact_min_merge = 2;
    CHECK_RC(vex_db_open(dir, &o, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = kind;
    if (kind == VEX_INDEX_HNSW)
        cfg.hnsw_ef_search = 64;
    CHECK_RC(vex_collection_create(db, "s", &cfg, &C), VEX_OK);
    for (int i = 0; i < N_WRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < N_READERS; i++)
        pthread_create(&r[i], NULL, reader, (void *)(intptr_t)i);
    pthread_create(&m, NULL, maintainer, NULL);
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&stop, 1);
    for (int i = 0; i < N_WRITERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < N_READERS; i++)
        pthread_join(r[i], NULL);
    pthread_join(m, NULL);
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(C, &st), VEX_OK);
    fprintf(stderr,
            "%s: %llu writes, %llu searches, %llu hits checked; %llu "
            "flushes, %llu compactions, %u segments\n",
            exact ? "flat" : "hnsw", (unsigned long long)atomic_load(&n_writes),
            (unsigned long long)atomic_load(&n_searches),
            (unsigned long long)atomic_load(&n_checked_hits),
            (unsigned long long)st.flushes, (unsigned long long)st.compactions,
            st.segments);
    CHECK(atomic_load(&n_searches) > 0 && atomic_load(&n_writes) > 0);
    CHECK_RC(vex_db_close(db), VEX_OK);
    /* the final state after reopening is the model's last versions */
    db = NULL;
    C = NULL;
    CHECK_RC(vex_db_open(dir, &o, &db), VEX_OK);
    CHECK_RC(vex_collection_open(db, "s", &C), VEX_OK);
    for (uint64_t id = 0; C && id < N_IDS; id++) {
        uint32_t n = H[id].count ? H[id].v[H[id].count - 1].n : 0;
        int rc = vex_get(C, id, v);
        CHECK_RC(rc, n ? VEX_OK : VEX_NOTFOUND);
        if (n && rc == VEX_OK) {
            float want[DIM];
            vec_of(id, n, want);
            CHECK(memcmp(want, v, sizeof v) == 0);
            live++;
        }
    }
    if (C)
        CHECK_EQ_INT(vex_collection_count(C), live);
    vex_db_close(db);
    free(H);
    {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
}

static double seconds(void)
{
    const char *s = getenv("VEX_STRESS_SECONDS");
    return s ? atof(s) : 2.0;
}

static void test_stress_flat(void)
{
    run(VEX_INDEX_FLAT, seconds());
}

static void test_stress_hnsw(void)
{
    run(VEX_INDEX_HNSW, seconds());
}

int main(void)
{
    TEST_RUN(test_stress_flat);
    TEST_RUN(test_stress_hnsw);
    return TEST_EXIT();
}
