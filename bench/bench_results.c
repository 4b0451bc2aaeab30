/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_results.c - what reading search hits with their metadata costs
 * through a reused vex_results handle (vex_search_results with
 * VEX_WITH_META) against the older form, vex_search with
 * params.meta_out (k caller-created vex_meta handles), on the same data
 * and queries; plus plain vex_search as the floor, the other projections,
 * and a range search returning about as many hits.
 *
 * One HNSW collection of N x DIM random vectors, each with metadata
 * {year int, lang string, title string, tags [2 tags]}: all but the last
 * N/10 flushed into one segment, the rest in the memtable. Single-thread
 * searches (params.n_threads = 1), k = K. Phases, each run on every one
 * of Q queries in turn after a warm-up:
 *
 *   plain          vex_search, ids and distances only
 *   meta_out       vex_search + params.meta_out, then "year" and "lang"
 *                  of every hit read with vex_meta_find/vex_meta_field
 *   results_meta   vex_search_results(VEX_WITH_META), then the same two
 *                  fields with vex_results_field
 *   results_ids    vex_search_results(0)
 *   results_all    vex_search_results(VEX_WITH_ALL), the two fields read
 *   range_meta     vex_range_search(VEX_WITH_META) with a radius giving
 *                  about K hits (the median K-th distance of the plain
 *                  phase), limit 10 * K, the two fields read
 *
 * ROUNDS rounds over the queries, after the memtable's background graph
 * is complete. Prints one JSON object per phase (its
 * median round): {"phase", "us_per_query",
 * "allocs_per_query", "hits_per_query"}; allocations are those of the
 * database's allocator, the vex_meta handles' and the results handle's
 * (all counted by one allocator). Public API only.
 *
 * usage: bench_results [N] [DIM] [Q] [K] [DIR] [PHASE]
 * (PHASE: run and print only that phase, e.g. under perf)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_rng.h"
#include "vexdb.h"

static atomic_long n_allocs;

static void *c_alloc(void *u, size_t n)
{
    (void)u;
    atomic_fetch_add(&n_allocs, 1);
    return malloc(n);
}
static void *c_realloc(void *u, void *p, size_t n)
{
    (void)u;
    atomic_fetch_add(&n_allocs, 1);
    return realloc(p, n);
}
static void c_free(void *u, void *p)
{
    (void)u;
    free(p);
}
static const vex_allocator counting = {c_alloc, c_realloc, c_free, NULL};

/* CPU time of the calling thread, which runs every search
 * (params.n_threads = 1): other processes on a shared machine do not
 * inflate it as they do wall time. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_results: %s: %s\n", what, vex_errstr(rc));
    exit(1);
}

static void rand_vec(uint64_t *s, float *v, unsigned dim)
{
    for (unsigned j = 0; j < dim; j++)
        v[j] = (float)(rng_next(s) >> 40) / (float)(1 << 24);
}

#define ROUNDS 5

enum { PLAIN, META_OUT, RES_META, RES_IDS, RES_ALL, RANGE_META, N_PHASES };
static const char *names[] = {"plain",       "meta_out",    "results_meta",
                              "results_ids", "results_all", "range_meta"};

typedef struct ctx {
    vex_collection *c;
    size_t k;
    vex_hit *hits;
    vex_meta **metas;
    vex_results *r;
    float radius;
    long sink; /* read fields land here so they are not optimised away */
} ctx;

static void read_meta(ctx *x, const vex_meta *m)
{
    size_t i;
    vex_field f;
    if (vex_meta_find(m, "year", &i) == VEX_OK &&
        vex_meta_field(m, i, &f) == VEX_OK)
        x->sink += f.i;
    if (vex_meta_find(m, "lang", &i) == VEX_OK &&
        vex_meta_field(m, i, &f) == VEX_OK)
        x->sink += (long)f.len;
}

static void read_results(ctx *x)
{
    vex_field f;
    for (size_t i = 0; i < vex_results_count(x->r); i++) {
        if (vex_results_field(x->r, i, "year", &f) == VEX_OK)
            x->sink += f.i;
        if (vex_results_field(x->r, i, "lang", &f) == VEX_OK)
            x->sink += (long)f.len;
    }
}

/* One query of a phase; returns its hits. */
static size_t run(ctx *x, int phase, const float *q)
{
    vex_search_params sp;
    size_t n = 0;
    int rc = VEX_OK;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    switch (phase) {
    case PLAIN:
        rc = vex_search(x->c, q, x->k, &sp, x->hits, NULL, &n);
        break;
    case META_OUT:
        sp.meta_out = x->metas;
        rc = vex_search(x->c, q, x->k, &sp, x->hits, NULL, &n);
        for (size_t i = 0; i < n; i++)
            read_meta(x, x->metas[i]);
        break;
    case RES_META:
    case RES_IDS:
    case RES_ALL:
        rc = vex_search_results(x->c, q, x->k, &sp,
                                phase == RES_META  ? VEX_WITH_META
                                : phase == RES_ALL ? VEX_WITH_ALL
                                                   : 0,
                                x->r);
        if (phase != RES_IDS)
            read_results(x);
        n = vex_results_count(x->r);
        break;
    case RANGE_META:
        rc = vex_range_search(x->c, q, x->radius, 10 * x->k, &sp, VEX_WITH_META,
                              x->r);
        read_results(x);
        n = vex_results_count(x->r);
        break;
    }
    if (rc != VEX_OK)
        die(vex_collection_errmsg(x->c), rc);
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    unsigned dim = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 64;
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
    size_t k = argc > 4 ? strtoul(argv[4], NULL, 10) : 10;
    const char *dir = argc > 5 ? argv[5] : "/tmp/vex_bench_results";
    const char *only = argc > 6 ? argv[6] : NULL;
    static const char *langs[] = {"en", "de", "fr", "ja"};
    vex_db_options o;
    vex_collection_config cfg;
    vex_db *db = NULL;
    vex_meta *m = NULL;
    float *v, *qs, *kth;
    uint64_t seed = 42;
    char cmd[512];
    ctx x;
    double us[N_PHASES][ROUNDS], allocs[N_PHASES], hpq[N_PHASES];
    vex_stats st;
    int rc;

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = VEX_DURABILITY_NONE;
    o.allocator = &counting;
    o.memtable_bytes = 256u << 20; /* flushes are ours */
    if ((rc = vex_db_open(dir, &o, &db)) != VEX_OK)
        die(vex_db_errmsg(db), rc);
    vex_collection_config_init(&cfg);
    cfg.dim = dim;
    memset(&x, 0, sizeof x);
    x.k = k;
    if ((rc = vex_collection_create(db, "c", &cfg, &x.c)) != VEX_OK)
        die(vex_db_errmsg(db), rc);
    v = malloc(dim * sizeof *v);
    qs = malloc(nq * dim * sizeof *qs);
    kth = malloc(nq * sizeof *kth);
    x.hits = malloc(k * sizeof *x.hits);
    x.metas = calloc(k, sizeof *x.metas);
    if (!v || !qs || !kth || !x.hits || !x.metas)
        die("out of memory", VEX_NOMEM);
    if (vex_meta_create(NULL, &m) != VEX_OK)
        die("meta", VEX_NOMEM);
    for (size_t i = 0; i < n; i++) {
        char title[64];
        const char *tags[2] = {"alpha", i % 3 ? "beta" : "gamma"};
        int len = snprintf(title, sizeof title, "document number %zu", i);
        rand_vec(&seed, v, dim);
        vex_meta_set_int(m, "year", 2000 + (int64_t)(i % 25));
        vex_meta_set_string(m, "lang", langs[i % 4], 2);
        vex_meta_set_string(m, "title", title, (size_t)len);
        vex_meta_set_tags(m, "tags", tags, 2);
        if ((rc = vex_insert_meta(x.c, i, v, m)) != VEX_OK)
            die(vex_collection_errmsg(x.c), rc);
        if (i + 1 == n - n / 10 && (rc = vex_flush(x.c)) != VEX_OK)
            die(vex_collection_errmsg(x.c), rc);
    }
    vex_meta_free(m);
    /* wait for the memtable's background graph, so every phase searches
     * the same structures */
    do {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        vex_stats_init(&st);
        if ((rc = vex_stats_get(x.c, &st)) != VEX_OK)
            die("stats", rc);
    } while (st.unindexed_rows > 0);
    for (size_t i = 0; i < k; i++)
        if (vex_meta_create(&counting, &x.metas[i]) != VEX_OK)
            die("meta", VEX_NOMEM);
    if (vex_results_create(&counting, &x.r) != VEX_OK)
        die("results", VEX_NOMEM);
    for (size_t i = 0; i < nq * dim; i += dim)
        rand_vec(&seed, qs + i, dim);
    /* the radius: the median k-th distance */
    for (size_t i = 0; i < nq; i++) {
        size_t got = run(&x, PLAIN, qs + i * dim);
        kth[i] = got ? x.hits[got - 1].distance : 0.0f;
    }
    qsort(kth, nq, sizeof *kth, cmp_float);
    x.radius = kth[nq / 2];
    /* every phase on each query in turn, in rotated order (so the
     * drifts of a shared machine and the first touch of a query's data
     * hit all phases alike), in ROUNDS rounds over the queries;
     * each phase's median round is printed */
    for (int p = 0; p < N_PHASES; p++)
        for (size_t i = 0; i < 20 && i < nq; i++) /* warm-up */
            run(&x, p, qs + i * dim);
    for (int round = 0; round < ROUNDS; round++) {
        long a[N_PHASES] = {0};
        size_t total[N_PHASES] = {0};
        for (int p = 0; p < N_PHASES; p++)
            us[p][round] = 0;
        for (size_t i = 0; i < nq; i++)
            for (int j = 0; j < N_PHASES; j++) {
                /* rotated, so each phase is as often the first to touch
                 * a query's part of the graph (the cache misses) */
                int p = (int)((i + (size_t)j) % N_PHASES);
                double t0;
                long a0;
                if (only && strcmp(only, names[p]) != 0)
                    continue;
                a0 = atomic_load(&n_allocs);
                t0 = now();
                total[p] += run(&x, p, qs + i * dim);
                us[p][round] += now() - t0;
                a[p] += atomic_load(&n_allocs) - a0;
            }
        for (int p = 0; p < N_PHASES; p++) {
            us[p][round] *= 1e6 / (double)nq;
            allocs[p] = (double)a[p] / (double)nq;
            hpq[p] = (double)total[p] / (double)nq;
        }
    }
    for (int p = 0; p < N_PHASES; p++) {
        if (only && strcmp(only, names[p]) != 0)
            continue;
        qsort(us[p], ROUNDS, sizeof us[p][0], cmp_double);
        printf("{\"phase\":\"%s\",\"n\":%zu,\"dim\":%u,\"k\":%zu,"
               "\"cpu_us_per_query\":%.2f,\"allocs_per_query\":%.2f,"
               "\"hits_per_query\":%.2f}\n",
               names[p], n, dim, k, us[p][ROUNDS / 2], allocs[p], hpq[p]);
    }
    fprintf(stderr, "(sink %ld)\n", x.sink);
    vex_results_free(x.r);
    for (size_t i = 0; i < k; i++)
        vex_meta_free(x.metas[i]);
    free(x.metas);
    free(x.hits);
    free(v);
    free(qs);
    free(kth);
    if ((rc = vex_db_close(db)) != VEX_OK)
        die("close", rc);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
