/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_delete_where.c - deleting by filter against deleting the same
 * rows one call at a time (and in one vex_batch), and counting by filter.
 *
 * One flat collection of N x DIM random vectors, each with "bucket" =
 * id % 100, of which the first 80% are flushed into two segments and the
 * rest stay in the memtable; the filter is `bucket < PCT` (PCT% of the
 * rows, spread over segments and memtable). Each method starts from its
 * own freshly loaded database (GROUP durability, the default) and deletes
 * exactly those rows:
 *
 *   delete_where   one vex_delete_where call (one log record, one sync)
 *   delete_loop    vex_delete for each matching id, in id order, from
 *                  one thread (one commit and one sync each)
 *   delete_batch   one vex_batch of all the deletes, one vex_batch_commit
 *                  (the ids known in advance, as a program that has them)
 *   count_where    vex_count_where of the same filter, before the delete
 *
 * Prints one JSON object per method: {"method", "rows", "ms",
 * "rows_per_s"}; every method is checked to delete (count) exactly the
 * matching rows. Public API only.
 *
 * usage: bench_delete_where [N] [DIM] [PCT] [DIR]
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
    fprintf(stderr, "bench_delete_where: %s: %s\n", what, vex_errstr(rc));
    exit(1);
}

static size_t g_n, g_dim;
static int g_pct;
static char g_dir[400];

/* A fresh database `name` loaded with the rows. */
static void load(const char *name, vex_db **dbp, vex_collection **cp)
{
    char path[512], cmd[600];
    vex_db_options o;
    vex_collection_config cfg;
    vex_batch *b = NULL;
    vex_meta *m = NULL;
    float *v = malloc(g_dim * sizeof *v);
    uint64_t s = 42;
    int rc;
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        die("rm", VEX_IOERR);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    if ((rc = vex_db_open(path, &o, dbp)) != VEX_OK)
        die("open", rc);
    vex_collection_config_init(&cfg);
    cfg.dim = (uint32_t)g_dim;
    cfg.index_kind = VEX_INDEX_FLAT;
    if ((rc = vex_collection_create(*dbp, "c", &cfg, cp)) != VEX_OK)
        die("create", rc);
    if (vex_batch_create(g_dim * sizeof(float), NULL, &b) != VEX_OK ||
        vex_meta_create(NULL, &m) != VEX_OK || v == NULL)
        die("alloc", VEX_NOMEM);
    for (size_t id = 0; id < g_n; id++) {
        for (size_t d = 0; d < g_dim; d++)
            v[d] = (float)(rng_next(&s) >> 40) / (float)(1 << 24);
        vex_meta_clear(m);
        vex_meta_set_int(m, "bucket", (int64_t)(id % 100));
        vex_batch_insert_meta(b, id, v, m);
        if (vex_batch_count(b) == 1000 || id + 1 == g_n) {
            if ((rc = vex_batch_commit(*cp, b)) != VEX_OK)
                die("load", rc);
            vex_batch_clear(b);
        }
        if (id + 1 == g_n * 4 / 10 || id + 1 == g_n * 8 / 10)
            if ((rc = vex_flush(*cp)) != VEX_OK)
                die("flush", rc);
    }
    vex_batch_free(b);
    vex_meta_free(m);
    free(v);
}

static void report(const char *method, uint64_t rows, double sec)
{
    printf("{\"method\": \"%s\", \"n\": %zu, \"dim\": %zu, \"pct\": %d, "
           "\"rows\": %llu, \"ms\": %.3f, \"rows_per_s\": %.0f}\n",
           method, g_n, g_dim, g_pct, (unsigned long long)rows, sec * 1e3,
           (double)rows / sec);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    vex_db *db;
    vex_collection *c;
    vex_filter *f = NULL;
    char text[64];
    uint64_t n = 0, want;
    double t;
    int rc;
    g_n = argc > 1 ? (size_t)atol(argv[1]) : 50000;
    g_dim = argc > 2 ? (size_t)atol(argv[2]) : 32;
    g_pct = argc > 3 ? atoi(argv[3]) : 10;
    snprintf(g_dir, sizeof g_dir, "%s", argc > 4 ? argv[4] : "/tmp");
    if (g_n < 100 || g_dim == 0 || g_pct < 1 || g_pct > 100) {
        fprintf(stderr, "usage: bench_delete_where [N] [DIM] [PCT] [DIR]\n");
        return 2;
    }
    want = 0;
    for (size_t id = 0; id < g_n; id++)
        want += (int)(id % 100) < g_pct;
    snprintf(text, sizeof text, "bucket < %d", g_pct);

    /* count_where, then delete_where */
    load("bench_delete_where", &db, &c);
    if ((rc = vex_filter_parse(c, text, &f)) != VEX_OK)
        die("parse", rc);
    t = now();
    if ((rc = vex_count_where(c, f, &n)) != VEX_OK || n != want)
        die("count_where", rc ? rc : VEX_INTERNAL);
    report("count_where", n, now() - t);
    t = now();
    if ((rc = vex_delete_where(c, f, &n)) != VEX_OK || n != want)
        die("delete_where", rc ? rc : VEX_INTERNAL);
    report("delete_where", n, now() - t);
    vex_filter_free(f);
    vex_db_close(db);

    /* the same rows, one vex_delete each */
    load("bench_delete_where", &db, &c);
    t = now();
    n = 0;
    for (size_t id = 0; id < g_n; id++)
        if ((int)(id % 100) < g_pct) {
            if ((rc = vex_delete(c, id)) != VEX_OK)
                die("delete", rc);
            n++;
        }
    report("delete_loop", n, now() - t);
    if (vex_collection_count(c) != g_n - want)
        die("delete_loop count", VEX_INTERNAL);
    vex_db_close(db);

    /* the same rows in one batch */
    load("bench_delete_where", &db, &c);
    {
        vex_batch *b = NULL;
        t = now();
        if (vex_batch_create(g_dim * sizeof(float), NULL, &b) != VEX_OK)
            die("batch", VEX_NOMEM);
        for (size_t id = 0; id < g_n; id++)
            if ((int)(id % 100) < g_pct &&
                (rc = vex_batch_delete(b, id)) != VEX_OK)
                die("batch_delete", rc);
        if ((rc = vex_batch_commit(c, b)) != VEX_OK)
            die("batch_commit", rc);
        report("delete_batch", vex_batch_count(b), now() - t);
        vex_batch_free(b);
    }
    if (vex_collection_count(c) != g_n - want)
        die("delete_batch count", VEX_INTERNAL);
    vex_db_close(db);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/bench_delete_where'", g_dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
