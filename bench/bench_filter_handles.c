/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_filter_handles.c - what a filtered search costs with long-lived
 * and with per-query filter handles, before and after many handles were
 * parsed, used once and freed (the usual pattern of a program that
 * parses its filter per request). Every handle is parsed from the same
 * text.
 *
 * One flat collection of N x DIM random vectors, each with "bucket" =
 * id % 1000, flushed into one segment; the filter is `bucket < 100`
 * (10% of the rows). Phases, each timed over Q queries (single thread):
 *
 *   first      the first handle, parsed once, used Q times
 *   churn      H handles parsed, used once and freed (not timed)
 *   long       a new handle parsed once after the churn, used Q times
 *   fresh      a handle parsed, used once and freed, per query
 *
 * Prints one JSON object per phase: {"phase", "ms_per_query", "built"}
 * with `built` the segments whose match set the phase's searches built
 * (vex_search_stats.match_sets_built; -1 when the library predates it).
 * Public API only, so the same file builds against an older library to
 * compare: cc -O2 -Iinclude bench/bench_filter_handles.c OLD/libvexdb.a
 * -lpthread -lm.
 *
 * usage: bench_filter_handles [N] [DIM] [Q] [H] [DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_rng.h"
#include "vexdb.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_filter_handles: %s: %s\n", what, vex_errstr(rc));
    exit(1);
}

/* One search with filter f; returns the match sets it built (or -1). */
static long search_once(vex_collection *c, const vex_filter *f, const float *q)
{
    vex_hit hits[10];
    size_t nh;
    vex_search_params sp;
    vex_search_stats st;
    int rc;
    vex_search_params_init(&sp);
    vex_search_stats_init(&st);
    sp.n_threads = 1;
    sp.where = f;
    sp.stats = &st;
    if ((rc = vex_search(c, q, 10, &sp, hits, NULL, &nh)) != VEX_OK)
        die(vex_collection_errmsg(c), rc);
#ifdef VEX_BENCH_NO_BUILT_STAT
    return 0;
#else
    return (long)st.match_sets_built;
#endif
}

static void report(const char *phase, double secs, size_t q, long built)
{
#ifdef VEX_BENCH_NO_BUILT_STAT
    built = -1;
#endif
    printf("{\"bench\": \"filter_handles\", \"phase\": \"%s\", "
           "\"ms_per_query\": %.4f, \"built\": %ld}\n",
           phase, secs * 1e3 / (double)q, built);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 30000;
    unsigned dim = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 64;
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
    size_t nh = argc > 4 ? strtoul(argv[4], NULL, 10) : 400;
    const char *dir = argc > 5 ? argv[5] : "/tmp/vexdb-filter-handles";
    const char *text = "bucket < 100";
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_batch *b = NULL;
    vex_meta *m = NULL;
    vex_filter *f = NULL;
    float *vecs, *qs;
    uint64_t seed = 42;
    char cmd[600];
    double t;
    long built;
    int rc;

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    vecs = malloc(n * dim * sizeof *vecs);
    qs = malloc(nq * dim * sizeof *qs);
    if (vecs == NULL || qs == NULL)
        return 1;
    for (size_t i = 0; i < n * dim; i++)
        vecs[i] = (float)(rng_next(&seed) >> 11) * 0x1p-53f;
    for (size_t i = 0; i < nq * dim; i++)
        qs[i] = (float)(rng_next(&seed) >> 11) * 0x1p-53f;

    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 1;
    o.compact_min_merge = 0;
    if ((rc = vex_db_open(dir, &o, &db)) != VEX_OK)
        die("open", rc);
    vex_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.index_kind = VEX_INDEX_FLAT;
    if ((rc = vex_collection_create(db, "c", &cfg, &c)) != VEX_OK)
        die(vex_db_errmsg(db), rc);
    if (vex_batch_create(dim * sizeof(float), NULL, &b) != VEX_OK ||
        vex_meta_create(NULL, &m) != VEX_OK)
        die("batch", VEX_NOMEM);
    for (size_t i = 0; i < n; i++) {
        vex_meta_clear(m);
        vex_meta_set_int(m, "bucket", (int64_t)(i % 1000));
        if ((rc = vex_batch_insert_meta(b, i, vecs + i * dim, m)) != VEX_OK)
            die("batch insert", rc);
        if (vex_batch_count(b) == 1000 || i + 1 == n) {
            if ((rc = vex_batch_commit(c, b)) != VEX_OK)
                die(vex_collection_errmsg(c), rc);
            vex_batch_clear(b);
        }
    }
    if ((rc = vex_flush(c)) != VEX_OK)
        die(vex_collection_errmsg(c), rc);

    if ((rc = vex_filter_parse(c, text, &f)) != VEX_OK)
        die(vex_collection_errmsg(c), rc);
    built = 0;
    t = now();
    for (size_t i = 0; i < nq; i++)
        built += search_once(c, f, qs + i * dim);
    report("first", now() - t, nq, built);
    vex_filter_free(f);

    for (size_t i = 0; i < nh; i++) {
        if ((rc = vex_filter_parse(c, text, &f)) != VEX_OK)
            die(vex_collection_errmsg(c), rc);
        (void)search_once(c, f, qs + (i % nq) * dim);
        vex_filter_free(f);
    }

    if ((rc = vex_filter_parse(c, text, &f)) != VEX_OK)
        die(vex_collection_errmsg(c), rc);
    built = 0;
    t = now();
    for (size_t i = 0; i < nq; i++)
        built += search_once(c, f, qs + i * dim);
    report("long", now() - t, nq, built);
    vex_filter_free(f);

    built = 0;
    t = now();
    for (size_t i = 0; i < nq; i++) {
        if ((rc = vex_filter_parse(c, text, &f)) != VEX_OK)
            die(vex_collection_errmsg(c), rc);
        built += search_once(c, f, qs + i * dim);
        vex_filter_free(f);
    }
    report("fresh", now() - t, nq, built);

    vex_meta_free(m);
    vex_batch_free(b);
    vex_collection_close(c);
    vex_db_close(db);
    free(vecs);
    free(qs);
    system(cmd);
    return 0;
}
