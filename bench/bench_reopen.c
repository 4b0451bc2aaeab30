/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_reopen.c - search latency right after a database is reopened,
 * against before it was closed (issue 15, "close keeps the index").
 *
 * Each pass loads the first N vectors of a real dataset into a fresh
 * HNSW collection (all in the memtable, as an application that never
 * called vex_flush), waits until the background has indexed them, and
 * measures the median single-thread query latency over the query file
 * (k = 10, default ef). Then it closes the database, reopens it, runs one
 * query (the first after reopening: it may wait for a segment's index
 * check) and the whole query file again. Both closes are measured in the
 * same pass, interleaved: flush_on_close = 1 (the default: the memtable
 * becomes an indexed segment) and 0 (the fast close: rows replayed from
 * the log into a memtable and searched exactly until re-indexed). It also
 * reports how many of the hits before and after the reopen agree.
 *
 * Prints one JSON object per pass and mode, then one summary object per
 * mode (medians over passes). Uses only include/vexdb.h plus the vector
 * file readers of tools/vex.
 *
 * usage: bench_reopen [--base F.fvecs] [--queries Q.fvecs] [--n N]
 *                     [--metric l2|cosine] [--passes P] [--dir DIR]
 * Defaults: ../shared/data/glove-100-angular-100k (cosine), N 60000,
 * P 5, DIR /tmp/vexdb-reopenbench.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "readers.h"
#include "bench_stats.h"
#include "vexdb.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "bench_reopen: %s: %s: %s\n", what, vex_status_name(rc),
            msg ? msg : "");
    exit(1);
}

#define K 10

typedef struct run {
    double before_ms, close_ms, open_ms, first_ms, after_ms, agree;
} run;

/* Median latency of the query file; hits (nq x K) into `hits`. */
static double query_all(vex_collection *c, const vexio_vectors *q,
                        vex_hit *hits, double *lat)
{
    vex_search_params sp;
    size_t n;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    for (uint64_t i = 0; i < q->n; i++) {
        double t0 = now_ms();
        int rc =
            vex_search(c, q->data + i * q->dim, K, &sp, hits + i * K, NULL, &n);
        lat[i] = now_ms() - t0;
        if (rc != VEX_OK)
            die("search", rc, vex_collection_errmsg(c));
    }
    return bench_median(lat, (int)q->n);
}

static vex_db *open_db(const char *dir, int create, int flush_on_close)
{
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    vex_db_options_init(&o);
    o.create_if_missing = create;
    o.durability = VEX_DURABILITY_NONE; /* the load is not what is measured */
    o.flush_on_close = flush_on_close;
    o.compact_min_merge = 0;
    if ((rc = vex_db_open(dir, &o, &db)) != VEX_OK)
        die("open", rc, vex_db_errmsg(db));
    return db;
}

static run one(const char *dir, const vexio_vectors *base, uint64_t n,
               vex_metric metric, const vexio_vectors *q, int flush_on_close)
{
    run r;
    char cmd[1200];
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_batch *b = NULL;
    vex_stats st;
    vex_hit *h0 = malloc(q->n * K * sizeof *h0);
    vex_hit *h1 = malloc(q->n * K * sizeof *h1);
    double *lat = malloc(q->n * sizeof *lat);
    size_t vb = base->dim * sizeof(float), same = 0;
    int rc;

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        die("rm", VEX_IOERR, dir);
    vex_db *db = open_db(dir, 1, flush_on_close);
    vex_collection_config_init(&cfg);
    cfg.dim = base->dim;
    cfg.metric = metric;
    if ((rc = vex_collection_create(db, "c", &cfg, &c)) != VEX_OK)
        die("create", rc, vex_db_errmsg(db));
    if ((rc = vex_batch_create(vb, NULL, &b)) != VEX_OK)
        die("batch", rc, NULL);
    for (uint64_t i = 0; i < n; i++) {
        vex_batch_insert(b, i, base->data + i * base->dim);
        if (vex_batch_count(b) == 1000 || i + 1 == n) {
            if ((rc = vex_batch_commit(c, b)) != VEX_OK)
                die("commit", rc, vex_collection_errmsg(c));
            vex_batch_clear(b);
        }
    }
    vex_batch_free(b);
    /* steady state before the close: everything indexed */
    vex_stats_init(&st);
    do {
        usleep(20000);
        if ((rc = vex_stats_get(c, &st)) != VEX_OK)
            die("stats", rc, vex_collection_errmsg(c));
    } while (st.unindexed_rows > 0);
    r.before_ms = query_all(c, q, h0, lat);

    double t0 = now_ms();
    if ((rc = vex_db_close(db)) != VEX_OK)
        die("close", rc, NULL);
    r.close_ms = now_ms() - t0;

    t0 = now_ms();
    db = open_db(dir, 0, flush_on_close);
    if ((rc = vex_collection_open(db, "c", &c)) != VEX_OK)
        die("reopen", rc, vex_db_errmsg(db));
    r.open_ms = now_ms() - t0;
    vex_search_params sp;
    size_t nh;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    t0 = now_ms();
    if ((rc = vex_search(c, q->data, K, &sp, h1, NULL, &nh)) != VEX_OK)
        die("search", rc, vex_collection_errmsg(c));
    r.first_ms = now_ms() - t0;
    r.after_ms = query_all(c, q, h1, lat);
    for (uint64_t i = 0; i < q->n; i++)
        for (int a = 0; a < K; a++)
            for (int z = 0; z < K; z++)
                if (h0[i * K + a].id == h1[i * K + z].id) {
                    same++;
                    break;
                }
    r.agree = (double)same / (double)(q->n * K);
    vex_db_close(db);
    free(h0);
    free(h1);
    free(lat);
    return r;
}

int main(int argc, char **argv)
{
    const char *base_path =
        "../shared/data/glove-100-angular-100k/glove100_base.fvecs";
    const char *query_path =
        "../shared/data/glove-100-angular-100k/glove100_query.fvecs";
    const char *dir = "/tmp/vexdb-reopenbench";
    vex_metric metric = VEX_METRIC_COSINE;
    uint64_t n = 60000;
    int passes = 5;
    vexio_vectors base, q;
    vexio_error err;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--base"))
            base_path = argv[i + 1];
        else if (!strcmp(argv[i], "--queries"))
            query_path = argv[i + 1];
        else if (!strcmp(argv[i], "--n"))
            n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--passes"))
            passes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--metric")) {
            if (vex_metric_parse(argv[i + 1], &metric) != VEX_OK)
                die("--metric", VEX_INVALID, argv[i + 1]);
        } else
            die(argv[i], VEX_INVALID, "unknown option");
    }
    if (vexio_read_vectors(base_path, VEXIO_AUTO, n, &base, &err) != 0)
        die(base_path, VEX_IOERR, err.msg);
    if (vexio_read_vectors(query_path, VEXIO_AUTO, 0, &q, &err) != 0)
        die(query_path, VEX_IOERR, err.msg);
    if (base.n < n)
        n = base.n;
    if (passes < 1 || passes > 100)
        die("--passes", VEX_INVALID, "1..100");

    run *rs[2];
    rs[0] = calloc((size_t)passes, sizeof(run));
    rs[1] = calloc((size_t)passes, sizeof(run));
    for (int p = 0; p < passes; p++)
        for (int m = 0; m < 2; m++) { /* interleaved: flush, fast, ... */
            int flush = m == 0;
            run r = one(dir, &base, n, metric, &q, flush);
            rs[m][p] = r;
            printf("{\"bench\":\"reopen\",\"pass\":%d,\"flush_on_close\":%d,"
                   "\"n\":%llu,\"dim\":%u,\"queries\":%llu,"
                   "\"before_ms\":%.4f,\"close_ms\":%.1f,\"open_ms\":%.2f,"
                   "\"first_query_ms\":%.3f,\"after_ms\":%.4f,"
                   "\"after_over_before\":%.2f,\"hits_agree\":%.4f}\n",
                   p, flush, (unsigned long long)n, base.dim,
                   (unsigned long long)q.n, r.before_ms, r.close_ms, r.open_ms,
                   r.first_ms, r.after_ms, r.after_ms / r.before_ms, r.agree);
            fflush(stdout);
        }
    for (int m = 0; m < 2; m++) {
        double v[6][100];
        for (int p = 0; p < passes; p++) {
            v[0][p] = rs[m][p].before_ms;
            v[1][p] = rs[m][p].close_ms;
            v[2][p] = rs[m][p].open_ms;
            v[3][p] = rs[m][p].first_ms;
            v[4][p] = rs[m][p].after_ms;
            v[5][p] = rs[m][p].after_ms / rs[m][p].before_ms;
        }
        printf("{\"bench\":\"reopen_summary\",\"flush_on_close\":%d,"
               "\"passes\":%d,\"before_ms\":%.4f,\"close_ms\":%.1f,"
               "\"open_ms\":%.2f,\"first_query_ms\":%.3f,\"after_ms\":%.4f,"
               "\"after_over_before\":%.2f}\n",
               m == 0, passes, bench_median(v[0], passes),
               bench_median(v[1], passes), bench_median(v[2], passes),
               bench_median(v[3], passes), bench_median(v[4], passes),
               bench_median(v[5], passes));
    }
    free(rs[0]);
    free(rs[1]);
    vexio_vectors_free(&base);
    vexio_vectors_free(&q);
    return 0;
}
