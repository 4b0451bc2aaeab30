/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_bulk.c - ingest rate of the three ways to load records into a
 * collection: a loop of vex_insert_record (one commit per record), vex_batch
 * (records queued, committed whenever the batch is full, VEX_FULL), and
 * vex_insert_many (one call over arrays, committed in 16 MiB chunks).
 * Each mode loads its own fresh collection of n records (dim d float32,
 * each with a payload of p bytes, 0 for none) into a new database under
 * a temporary directory, with the durability given, and the time counts
 * from the first call to the last acknowledgement (flushes the memtable
 * triggers in the background run concurrently, as in real use; the
 * database is closed outside the timing).
 *
 * Usage: bench_bulk [--n N] [--loop-n N] [--dim D] [--payload P]
 *                   [--durability none|group|full] [--dir D]
 * Defaults: n 100000, loop-n 20000 (the loop is slower by orders of
 * magnitude under a syncing mode), dim 128, payload 64, group.
 * Output: one JSON object per mode on stdout:
 *   {"bench":"bulk","mode":"many","n":...,"dim":...,"payload":...,
 *    "durability":"group","seconds":...,"rows_per_s":...,"mb_per_s":...}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vexdb.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "bench_bulk: %s: %s: %s\n", what, vex_status_name(rc),
            msg ? msg : "");
    exit(1);
}

typedef struct data {
    size_t n, dim, pay;
    uint64_t *ids;
    float *vecs;
    unsigned char *pays;
    vex_payload *pl;
} data;

static vex_collection *fresh(vex_db *db, const char *name, size_t dim)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    int rc;
    vex_collection_config_init(&cfg);
    cfg.dim = (uint32_t)dim;
    rc = vex_collection_create(db, name, &cfg, &c);
    if (rc != VEX_OK)
        die("vex_collection_create", rc, vex_db_errmsg(db));
    return c;
}

static void rec_of(const data *d, size_t i, vex_record *r)
{
    vex_record_init(r);
    r->id = d->ids[i];
    r->vector = d->vecs + i * d->dim;
    r->payload = d->pay ? d->pays + i * d->pay : NULL;
    r->payload_len = d->pay;
}

static double run_loop(vex_collection *c, const data *d, size_t n)
{
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        vex_record r;
        int rc;
        rec_of(d, i, &r);
        if ((rc = vex_insert_record(c, &r)) != VEX_OK)
            die("vex_insert_record", rc, vex_collection_errmsg(c));
    }
    return now_s() - t0;
}

static double run_batch(vex_collection *c, const data *d, size_t n)
{
    vex_batch *b = NULL;
    double t0;
    int rc = vex_batch_create(d->dim * sizeof(float), NULL, &b);
    if (rc != VEX_OK)
        die("vex_batch_create", rc, NULL);
    t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        vex_record r;
        rec_of(d, i, &r);
        rc = vex_batch_insert_record(b, &r);
        if (rc == VEX_FULL) { /* the documented signal: commit, go on */
            if ((rc = vex_batch_commit(c, b)) != VEX_OK)
                die("vex_batch_commit", rc, vex_collection_errmsg(c));
            vex_batch_clear(b);
            rc = vex_batch_insert_record(b, &r);
        }
        if (rc != VEX_OK)
            die("vex_batch_insert_record", rc, vex_batch_errmsg(b));
    }
    if ((rc = vex_batch_commit(c, b)) != VEX_OK)
        die("vex_batch_commit", rc, vex_collection_errmsg(c));
    t0 = now_s() - t0;
    vex_batch_free(b);
    return t0;
}

static double run_many(vex_collection *c, const data *d, size_t n)
{
    size_t done = 0;
    double t0 = now_s();
    int rc = vex_insert_many(c, n, d->ids, d->vecs, NULL, d->pay ? d->pl : NULL,
                             &done);
    if (rc != VEX_OK || done != n)
        die("vex_insert_many", rc, vex_collection_errmsg(c));
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    data d = {100000, 128, 64, NULL, NULL, NULL, NULL};
    size_t loop_n = 20000;
    const char *dur_name = "group", *dir = NULL;
    char tmpl[] = "/tmp/vex_bench_bulk_XXXXXX", cmd[600];
    vex_durability dur = VEX_DURABILITY_GROUP;
    static const char *modes[] = {"loop", "batch", "many"};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            d.n = (size_t)strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--loop-n") == 0)
            loop_n = (size_t)strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dim") == 0)
            d.dim = (size_t)strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--payload") == 0)
            d.pay = (size_t)strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--durability") == 0) {
            dur_name = argv[i + 1];
            dur = strcmp(dur_name, "none") == 0   ? VEX_DURABILITY_NONE
                  : strcmp(dur_name, "full") == 0 ? VEX_DURABILITY_FULL
                                                  : VEX_DURABILITY_GROUP;
        } else {
            fprintf(stderr, "bench_bulk: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (loop_n > d.n)
        loop_n = d.n;
    if (dir == NULL && (dir = mkdtemp(tmpl)) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    d.ids = malloc(d.n * sizeof *d.ids);
    d.vecs = malloc(d.n * d.dim * sizeof(float));
    d.pays = malloc(d.n * (d.pay ? d.pay : 1));
    d.pl = malloc(d.n * sizeof *d.pl);
    if (!d.ids || !d.vecs || !d.pays || !d.pl)
        return 1;
    srand(42);
    for (size_t i = 0; i < d.n; i++) {
        d.ids[i] = i * 2654435761u % 1000000007u;
        for (size_t j = 0; j < d.dim; j++)
            d.vecs[i * d.dim + j] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t j = 0; j < d.pay; j++)
            d.pays[i * d.pay + j] = (unsigned char)('a' + (i + j) % 26);
        d.pl[i].data = d.pays + i * d.pay;
        d.pl[i].len = d.pay;
    }
    for (int m = 0; m < 3; m++) {
        vex_db_options o;
        vex_db *db = NULL;
        vex_collection *c;
        char path[512];
        size_t n = m == 0 ? loop_n : d.n;
        double secs;
        int rc;
        snprintf(path, sizeof path, "%s/%s", dir, modes[m]);
        vex_db_options_init(&o);
        o.create_if_missing = 1;
        o.durability = dur;
        if ((rc = vex_db_open(path, &o, &db)) != VEX_OK)
            die("vex_db_open", rc, vex_db_errmsg(db));
        c = fresh(db, "c", d.dim);
        secs = m == 0   ? run_loop(c, &d, n)
               : m == 1 ? run_batch(c, &d, n)
                        : run_many(c, &d, n);
        printf("{\"bench\":\"bulk\",\"mode\":\"%s\",\"n\":%zu,\"dim\":%zu,"
               "\"payload\":%zu,\"durability\":\"%s\",\"seconds\":%.4f,"
               "\"rows_per_s\":%.0f,\"mb_per_s\":%.1f}\n",
               modes[m], n, d.dim, d.pay, dur_name, secs, (double)n / secs,
               (double)n * (double)(d.dim * 4 + d.pay) / secs / 1e6);
        fflush(stdout);
        vex_collection_close(c);
        vex_db_close(db);
    }
    if (strncmp(dir, "/tmp/vex_bench_bulk_", 20) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_bulk: cannot remove %s\n", dir);
    }
    free(d.ids);
    free(d.vecs);
    free(d.pays);
    free(d.pl);
    return 0;
}
