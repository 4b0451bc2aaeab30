/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_filter_first.c - what the first search with a new filter costs
 * over the searches after it: the first one on a segment evaluates the
 * filter over every row to build the segment's match set (cached, so the
 * searches after it reuse the set), the cost issue 19 asks to keep small.
 *
 * One flat collection of N x DIM random vectors, flushed and compacted
 * into one segment, each record with metadata
 *     a = id % 100 (int), b = random 0..999 (int), c = random [0, 1)
 *     (double), s = "s" + id % 7 (string), e = id % 3 == 0 (bool)
 * Per family of filters, R filters of the same shape that no search has
 * used (`a < 1`, `a < 2`, ...), each searched twice (k 10): the first
 * search builds the match set, the second reuses it. Times are the
 * calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that other
 * processes on a shared machine do not count; medians over the R filters.
 *
 * Prints one JSON object per family: {"family", "rows", "first_ms",
 * "repeat_ms", "build_ms" (first - repeat), "ns_per_row" (build_ms over
 * the rows)}. Public API only, so the same file builds against an older
 * library to compare: cc -O2 -Iinclude bench/bench_filter_first.c
 * OLD/libvexdb.a -lpthread -lm (plus -lzstd -luring when it has them).
 *
 * usage: bench_filter_first [N] [DIM] [R] [DIR]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_rng.h"
#include "bench_stats.h"
#include "vexdb.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_filter_first: %s: %s\n", what, msg);
    exit(1);
}

/* The CPU seconds of one search of c with filter f. */
static double timed_search(vex_collection *c, const vex_filter *f,
                           const float *q)
{
    vex_hit hits[10];
    size_t nh;
    vex_search_params sp;
    double t;
    vex_search_params_init(&sp);
    sp.where = f;
    t = cpu_now();
    if (vex_search(c, q, 10, &sp, hits, NULL, &nh) != VEX_OK)
        die("search", vex_collection_errmsg(c));
    return cpu_now() - t;
}

/* Families: filter text in which each '#' stands for the filter's number
 * (1..R), so that every filter of a family is new. */
static const struct {
    const char *name, *fmt;
} families[] = {
    {"int_lt", "b < #"},
    {"int_eq", "a = #"},
    {"int_between", "b BETWEEN # AND 6#"},
    {"int_in", "a IN (#, 77, 91)"},
    {"double_lt", "c < 0.00#"},
    {"string_eq", "s = 's#'"},
    {"and", "a < # AND b >= 1#"},
    {"bool_and", "e = true AND b < 1#"},
};

/* text = fmt with each '#' replaced by the decimal r */
static void fill(char *text, size_t size, const char *fmt, size_t r)
{
    size_t o = 0;
    for (; *fmt && o + 24 < size; fmt++)
        if (*fmt == '#')
            o += (size_t)snprintf(text + o, size - o, "%zu", r);
        else
            text[o++] = *fmt;
    text[o] = '\0';
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    size_t dim = argc > 2 ? strtoul(argv[2], NULL, 10) : 32;
    size_t reps = argc > 3 ? strtoul(argv[3], NULL, 10) : 50;
    const char *dir = argc > 4 ? argv[4] : "bench_filter_first.db";
    uint64_t seed = 2026, *ids = malloc(n * sizeof *ids);
    float *vecs = malloc(n * dim * sizeof *vecs), *q = malloc(dim * sizeof *q);
    vex_meta **metas = calloc(n, sizeof *metas);
    double *first = malloc(reps * sizeof *first),
           *again = malloc(reps * sizeof *again);
    vex_db_options dopt;
    vex_collection_config cfg;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    size_t done = 0;
    char cmd[512];

    if (!ids || !vecs || !q || !metas || !first || !again || reps == 0 ||
        dim == 0 || n == 0)
        die("arguments", "usage: bench_filter_first [N] [DIM] [R] [DIR]");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        die("rm", dir);
    vex_db_options_init(&dopt);
    dopt.create_if_missing = 1;
    if (vex_db_open(dir, &dopt, &db) != VEX_OK)
        die("open", db ? vex_db_errmsg(db) : "out of memory");
    vex_collection_config_init(&cfg);
    cfg.dim = (uint32_t)dim;
    cfg.metric = VEX_METRIC_L2;
    cfg.index_kind = VEX_INDEX_FLAT;
    if (vex_collection_create(db, "t", &cfg, &c) != VEX_OK)
        die("create", vex_db_errmsg(db));
    for (size_t i = 0; i < n; i++) {
        char s[8];
        ids[i] = i;
        for (size_t d = 0; d < dim; d++)
            vecs[i * dim + d] = (float)(rng_next(&seed) >> 40) / (1 << 24);
        if (vex_meta_create(NULL, &metas[i]) != VEX_OK)
            die("meta", "out of memory");
        snprintf(s, sizeof s, "s%d", (int)(i % 7));
        vex_meta_set_int(metas[i], "a", (int64_t)(i % 100));
        vex_meta_set_int(metas[i], "b", (int64_t)(rng_next(&seed) % 1000));
        vex_meta_set_double(metas[i], "c",
                            (double)(rng_next(&seed) >> 11) /
                                9007199254740992.0);
        vex_meta_set_string(metas[i], "s", s, strlen(s));
        vex_meta_set_bool(metas[i], "e", i % 3 == 0);
    }
    if (vex_insert_many(c, n, ids, vecs, (const vex_meta *const *)metas, NULL,
                        &done) != VEX_OK ||
        vex_flush(c) != VEX_OK || vex_compact(c) != VEX_OK)
        die("load", vex_collection_errmsg(c));
    for (size_t d = 0; d < dim; d++)
        q[d] = 0.5f;
    timed_search(c, NULL, q); /* the segment is opened */
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        for (size_t r = 0; r < reps; r++) {
            char text[128];
            vex_filter *flt = NULL;
            fill(text, sizeof text, families[f].fmt, r + 1);
            if (vex_filter_parse(c, text, &flt) != VEX_OK)
                die(text, vex_collection_errmsg(c));
            first[r] = timed_search(c, flt, q);
            again[r] = timed_search(c, flt, q);
            vex_filter_free(flt);
        }
        {
            double f1 = bench_median(first, (int)reps) * 1e3,
                   f2 = bench_median(again, (int)reps) * 1e3;
            printf("{\"family\": \"%s\", \"rows\": %zu, \"first_ms\": %.4f, "
                   "\"repeat_ms\": %.4f, \"build_ms\": %.4f, "
                   "\"ns_per_row\": %.2f}\n",
                   families[f].name, n, f1, f2, f1 - f2,
                   (f1 - f2) * 1e6 / (double)n);
            fflush(stdout);
        }
    }
    for (size_t i = 0; i < n; i++)
        vex_meta_free(metas[i]);
    if (vex_db_close(db) != VEX_OK)
        die("close", "failed");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        die("rm", dir);
    free(ids);
    free(vecs);
    free(q);
    free(metas);
    free(first);
    free(again);
    return 0;
}
