/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_obs.c - what the metrics cost a search (engine/obs.h): searches
 * are counted on the search path (a clock read before and after, one
 * histogram bucket, a handful of relaxed atomic adds), so the cost is a
 * fixed few tens of nanoseconds per call against the search itself.
 *
 * Measured two ways, interleaved over passes, medians reported:
 *   1. `instr_ns`: a loop doing exactly what one vex_search adds (the
 *      vx_coll_search_done call with its two clock reads, and the five
 *      plan counters of count_plans) on the same collection, per call;
 *   2. `search_ns`: vex_search per query on an HNSW collection of N
 *      seeded random vectors (one segment, indexed), single thread,
 *      and `search2_ns`: the same queries with the instrumentation done
 *      twice per query (one extra copy of 1. after each search), so
 *      search2 - search is the cost of the instrumentation measured
 *      inside the search loop, caches and all.
 * Overhead = instr_ns / (search_ns - instr_ns) (the metrics' share of a
 * search), and the A/B form (search2 - search) / search.
 *
 * Usage: bench_obs [N] [DIM] [PASSES]   (defaults 20000 64 7)
 * Prints one JSON line on stdout and a summary on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/obs.h"
#include "util/rng.h"
#include "vexdb.h"

#define NQ 2000
#define K  10

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* What one vex_search adds to the search: the done call (clock reads,
 * counters, histogram) and the plan counters. */
static void instrument_once(vex_collection *c)
{
    uint64_t t0 = vx_now_ns();
    vx_count(&c->met, VX_C_PLAN_UNFILTERED, 1);
    vx_count(&c->met, VX_C_PLAN_EXACT, 0);
    vx_count(&c->met, VX_C_PLAN_GRAPH, 0);
    vx_count(&c->met, VX_C_PLAN_POST, 0);
    vx_count(&c->met, VX_C_FALLBACKS, 0);
    vx_coll_search_done(c, 0, 1, t0, VEX_OK);
}

static double pass_search(vex_collection *c, const float *q, int dim, int extra)
{
    vex_hit hits[K];
    size_t n;
    uint64_t t0 = vx_now_ns();
    vex_search_params p;
    vex_search_params_init(&p);
    p.n_threads = 1;
    for (int i = 0; i < NQ; i++) {
        if (vex_search(c, q + (size_t)i * dim, K, &p, hits, NULL, &n) !=
            VEX_OK) {
            fprintf(stderr, "search failed: %s\n", vex_collection_errmsg(c));
            exit(1);
        }
        if (extra)
            instrument_once(c);
    }
    return (double)(vx_now_ns() - t0) / NQ;
}

static double pass_instr(vex_collection *c)
{
    uint64_t t0 = vx_now_ns();
    for (int i = 0; i < NQ * 10; i++)
        instrument_once(c);
    return (double)(vx_now_ns() - t0) / (NQ * 10);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    int dim = argc > 2 ? atoi(argv[2]) : 64;
    int passes = argc > 3 ? atoi(argv[3]) : 7;
    char dir[] = "/tmp/vex_bench_obs_XXXXXX";
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_rng rng;
    float *data, *q;
    double s1[64], s2[64], in[64];
    if (passes < 1 || passes > 64 || dim < 1 || n < K) {
        fprintf(stderr, "usage: bench_obs [N] [DIM] [PASSES<=64]\n");
        return 2;
    }
    if (mkdtemp(dir) == NULL)
        return 2;
    data = malloc(n * (size_t)dim * sizeof *data);
    q = malloc((size_t)NQ * dim * sizeof *q);
    if (data == NULL || q == NULL)
        return 2;
    vex_rng_seed(&rng, 42);
    for (size_t i = 0; i < n * (size_t)dim; i++)
        data[i] = (float)vex_rng_double(&rng);
    for (size_t i = 0; i < (size_t)NQ * dim; i++)
        q[i] = (float)vex_rng_double(&rng);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = VEX_DURABILITY_NONE;
    o.memtable_bytes = (uint64_t)1 << 30;
    vex_collection_config_init(&cfg);
    cfg.dim = (uint32_t)dim;
    cfg.index_kind = VEX_INDEX_HNSW;
    if (vex_db_open(dir, &o, &db) != VEX_OK ||
        vex_collection_create(db, "b", &cfg, &c) != VEX_OK) {
        fprintf(stderr, "open failed: %s\n", vex_db_errmsg(db));
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        if (vex_insert(c, i, data + i * (size_t)dim) != VEX_OK)
            return 1;
    if (vex_flush(c) != VEX_OK)
        return 1;
    (void)pass_search(c, q, dim, 0); /* warm: the segment's index opens */
    for (int p = 0; p < passes; p++) {
        if (p & 1) {
            s2[p] = pass_search(c, q, dim, 1);
            s1[p] = pass_search(c, q, dim, 0);
        } else {
            s1[p] = pass_search(c, q, dim, 0);
            s2[p] = pass_search(c, q, dim, 1);
        }
        in[p] = pass_instr(c);
    }
    double m1 = median(s1, passes), m2 = median(s2, passes),
           mi = median(in, passes);
    double share = mi / (m1 - mi), ab = (m2 - m1) / m1;
    printf("{\"bench\":\"obs\",\"n\":%llu,\"dim\":%d,\"passes\":%d,"
           "\"search_ns\":%.0f,\"search2_ns\":%.0f,\"instr_ns\":%.1f,"
           "\"overhead\":%.5f,\"overhead_ab\":%.5f}\n",
           (unsigned long long)n, dim, passes, m1, m2, mi, share, ab);
    fprintf(stderr,
            "HNSW %llu x %d, k=%d, 1 thread: search %.0f ns, with a second "
            "copy of the metrics %.0f ns; metrics alone %.1f ns per search "
            "= %.3f%% of a search (A/B: %.3f%%)\n",
            (unsigned long long)n, dim, K, m1, m2, mi, 100 * share, 100 * ab);
    vex_collection_close(c);
    vex_db_close(db);
    free(data);
    free(q);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
