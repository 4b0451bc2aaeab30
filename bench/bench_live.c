/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_live.c - the storage engine under load (issue 5): searches while a
 * writer streams, ingest with background indexing, compaction. Public API
 * only; JSON lines on stdout, progress on stderr.
 *
 * usage:
 *   bench_live search --data DIR [--rate R] [--seconds S] [--ef LIST]
 *                     [--memtable-mb M] [--n-threads T] [--exact-rows N]
 *                     [--min-merge N] [--dir D]
 *     Loads DIR/glove100_{base,query,groundtruth} (cosine, HNSW M16
 *     efc200), flushes and waits until everything is indexed, then for
 *     each ef runs every query on one thread: first quiescent, then while
 *     a writer thread upserts random base ids with their own vectors
 *     (the data, and so the ground truth, never change) at R per second
 *     (default 1000)
 *     with GROUP durability, which makes memtables, flushes, deletes in
 *     segments and compactions happen under the searches. Both phases
 *     repeat the query set (quiescent for S/4 seconds, under ingest for S)
 *     and report the median pass: QPS, recall@10 (ids in the ground
 *     truth's first 10) and latency percentiles, and their ratios.
 *     --exact-rows and --min-merge set memtable_exact_rows and
 *     compact_min_merge (default: the library's defaults).
 *   bench_live ingest [--n N] [--threads LIST] [--batch B] [--compact 0|1]
 *                     [--dir D]
 *     N x 128 clustered float32 vectors, GROUP durability, B rows per
 *     commit from each of T writer threads; rows/s of the writes, then the
 *     time until every row is flushed and indexed (vex_stats_get polled);
 *     then (unless --compact 0) vex_compact of the resulting segments:
 *     rows/s merged and re-indexed.
 *   bench_live scale [--data DIR] [--threads LIST] [--ef E] [--seconds S]
 *                    [--batch-passes P]
 *     glove loaded and compacted as for search; then T threads call
 *     vex_search (one thread each) for S seconds: total QPS and its ratio
 *     to one thread; then vex_search_batch over every query with 1 and 2
 *     pool threads, interleaved for P passes each (default 5): medians
 *     and their ratio.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "readers.h"
#include "vexdb.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return n ? sorted[i < n ? i : n - 1] : 0;
}

static void die(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "bench_live: %s: %s: %s\n", what, vex_status_name(rc),
            msg ? msg : "");
    exit(1);
}

static void rm_rf(const char *p)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_live: cannot remove %s\n", p);
}

static const char *opt(int argc, char **argv, const char *name,
                       const char *dflt)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

/* Flush, then wait until nothing is frozen or unindexed (a memtable
 * below memtable_exact_rows is not indexed until its flush); returns the
 * seconds it took. */
static double settle(vex_collection *c)
{
    double t0 = now();
    int rc = vex_flush(c);
    if (rc != VEX_OK)
        die("flush", rc, vex_collection_errmsg(c));
    for (;;) {
        vex_stats st;
        vex_stats_init(&st);
        vex_stats_get(c, &st);
        if (st.frozen_memtables == 0 && st.unindexed_rows == 0)
            return now() - t0;
        usleep(20000);
    }
}

/* ------------------------------------------------------------------ */

typedef struct streamer {
    vex_collection *c;
    const float *base;
    uint64_t n;
    uint32_t dim;
    double rate;
    _Atomic int stop;
    uint64_t done;
    double *lat;
    size_t n_lat, cap_lat;
} streamer;

static void *stream_main(void *arg)
{
    streamer *s = arg;
    uint64_t x = 88172645463325252ull;
    double t0 = now();
    while (!atomic_load(&s->stop)) {
        double due = t0 + (double)s->done / s->rate, t = now(), a;
        uint64_t id;
        int rc;
        if (t < due) {
            usleep((useconds_t)((due - t) * 1e6));
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        id = x % s->n;
        a = now();
        rc = vex_upsert(s->c, id, s->base + id * s->dim);
        if (rc != VEX_OK)
            die("upsert", rc, vex_collection_errmsg(s->c));
        if (s->n_lat < s->cap_lat)
            s->lat[s->n_lat++] = now() - a;
        s->done++;
    }
    return NULL;
}

typedef struct pass {
    double qps, recall, p50, p99, p999;
} pass;

static pass run_queries(vex_collection *c, const vexio_vectors *q,
                        const vexio_ids *gt, unsigned ef, double *lat)
{
    vex_search_params sp;
    vex_hit hits[10];
    pass r;
    uint64_t found = 0;
    double t0;
    vex_search_params_init(&sp);
    sp.ef_search = ef;
    sp.n_threads = 1;
    t0 = now();
    for (uint64_t i = 0; i < q->n; i++) {
        size_t nh = 0;
        double a = now();
        int rc = vex_search(c, q->data + i * q->dim, 10, &sp, hits, NULL, &nh);
        lat[i] = now() - a;
        if (rc != VEX_OK)
            die("search", rc, vex_collection_errmsg(c));
        for (size_t j = 0; j < nh; j++)
            for (int g = 0; g < 10; g++)
                if ((int64_t)hits[j].id == gt->ids[i * gt->k + g])
                    found++;
    }
    r.qps = (double)q->n / (now() - t0);
    r.recall = (double)found / (double)(q->n * 10);
    qsort(lat, q->n, sizeof *lat, cmp_dbl);
    r.p50 = pct(lat, q->n, 0.5) * 1e6;
    r.p99 = pct(lat, q->n, 0.99) * 1e6;
    r.p999 = pct(lat, q->n, 0.999) * 1e6;
    return r;
}

/* Read DATA/glove100_<what>.<ext> (fvecs or ivecs) or die. */
static void read_glove(const char *data, const char *what, vexio_vectors *v,
                       vexio_ids *ids)
{
    char path[1024];
    vexio_error err;
    int rc;
    snprintf(path, sizeof path, "%s/glove100_%s.%s", data, what,
             ids ? "ivecs" : "fvecs");
    rc = ids ? vexio_read_ids(path, VEXIO_AUTO, 0, ids, &err)
             : vexio_read_vectors(path, VEXIO_AUTO, 0, v, &err);
    if (rc != VEX_OK)
        die(what, VEX_IOERR, err.msg);
}

/* A fresh database in `dir` with the glove base in collection "glove"
 * (cosine, HNSW M 16, efConstruction 200), loaded in commits of 1,000
 * rows; *t_load is the seconds the commits took. */
static vex_collection *load_glove(const char *dir, const vex_db_options *o,
                                  const vexio_vectors *base, vex_db **db,
                                  double *t_load)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_batch *b = NULL;
    double t0;
    int rc;
    rm_rf(dir);
    if ((rc = vex_db_open(dir, o, db)) != VEX_OK)
        die("open", rc, vex_db_errmsg(*db));
    vex_collection_config_init(&cfg);
    cfg.dim = base->dim;
    cfg.metric = VEX_METRIC_COSINE;
    cfg.hnsw_m = 16;
    cfg.hnsw_ef_construction = 200;
    if ((rc = vex_collection_create(*db, "glove", &cfg, &c)) != VEX_OK)
        die("create", rc, vex_db_errmsg(*db));
    vex_batch_create(base->dim * sizeof(float), NULL, &b);
    t0 = now();
    for (uint64_t i = 0; i < base->n; i++) {
        vex_batch_insert(b, i, base->data + i * base->dim);
        if (vex_batch_count(b) == 1000 || i + 1 == base->n) {
            if ((rc = vex_batch_commit(c, b)) != VEX_OK)
                die("load", rc, vex_collection_errmsg(c));
            vex_batch_clear(b);
        }
    }
    *t_load = now() - t0;
    vex_batch_free(b);
    return c;
}

/* Passes over the query set for `seconds` (at least one): the median
 * pass's numbers, field by field; the worst pass by p99 and the number of
 * passes when asked. */
static pass median_passes(vex_collection *c, const vexio_vectors *q,
                          const vexio_ids *gt, unsigned ef, double *lat,
                          double seconds, pass *worst, uint64_t *n_passes)
{
    pass all[256], med;
    double v[256], t_end = now() + seconds;
    uint64_t n = 0;
    do {
        all[n] = run_queries(c, q, gt, ef, lat);
        if (worst && all[n].p99 > worst->p99)
            *worst = all[n];
        n++;
    } while (now() < t_end && n < 256);
    for (int f = 0; f < 5; f++) {
        for (uint64_t i = 0; i < n; i++)
            v[i] = f == 0   ? all[i].qps
                   : f == 1 ? all[i].recall
                   : f == 2 ? all[i].p50
                   : f == 3 ? all[i].p99
                            : all[i].p999;
        qsort(v, n, sizeof *v, cmp_dbl);
        ((double *)&med)[f] = v[n / 2];
    }
    if (n_passes)
        *n_passes = n;
    return med;
}

static int cmd_search(int argc, char **argv)
{
    const char *data =
        opt(argc, argv, "--data", "../shared/data/glove-100-angular-100k");
    const char *dir = opt(argc, argv, "--dir", "/tmp/vexdb-livebench");
    double rate = atof(opt(argc, argv, "--rate", "1000"));
    double seconds = atof(opt(argc, argv, "--seconds", "20"));
    unsigned mt_mb = (unsigned)atoi(opt(argc, argv, "--memtable-mb", "4"));
    unsigned n_threads = (unsigned)atoi(opt(argc, argv, "--n-threads", "1"));
    long exact_rows = atol(opt(argc, argv, "--exact-rows", "-1"));
    long min_merge = atol(opt(argc, argv, "--min-merge", "-1"));
    char efs[256];
    vexio_vectors base, q;
    vexio_ids gt;
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c;
    double *lat, t0, t_load, t_settle;
    int rc;
    snprintf(efs, sizeof efs, "%s", opt(argc, argv, "--ef", "32,64,128"));
    read_glove(data, "base", &base, NULL);
    read_glove(data, "query", &q, NULL);
    read_glove(data, "groundtruth", NULL, &gt);
    lat = calloc(q.n, sizeof *lat);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.memtable_bytes = (uint64_t)mt_mb << 20;
    o.n_threads = n_threads;
    if (exact_rows >= 0)
        o.memtable_exact_rows = (uint32_t)exact_rows;
    if (min_merge >= 0)
        o.compact_min_merge = (uint32_t)min_merge;
    t0 = now();
    c = load_glove(dir, &o, &base, &db, &t_load);
    if ((rc = vex_flush(c)) != VEX_OK)
        die("flush", rc, vex_collection_errmsg(c));
    if ((rc = vex_compact(c)) != VEX_OK)
        die("compact", rc, vex_collection_errmsg(c));
    t_settle = settle(c) + (now() - t0 - t_load);
    printf("{\"bench\":\"live_load\",\"rows\":%llu,\"load_s\":%.2f,"
           "\"load_to_one_indexed_segment_s\":%.2f}\n",
           (unsigned long long)base.n, t_load, t_settle);
    fflush(stdout);
    for (char *tok = strtok(efs, ","); tok; tok = strtok(NULL, ",")) {
        unsigned ef = (unsigned)atoi(tok);
        pass quiet, busy;
        streamer s;
        vex_stats st;
        double *wl;
        /* the quiescent baseline: one segment, nothing deleted, nothing
         * running in the background */
        if ((rc = vex_flush(c)) != VEX_OK || (rc = vex_compact(c)) != VEX_OK)
            die("settling", rc, vex_collection_errmsg(c));
        settle(c);
        run_queries(c, &q, &gt, ef, lat); /* warm up */
        quiet = median_passes(c, &q, &gt, ef, lat, seconds / 4, NULL, NULL);
        memset(&s, 0, sizeof s);
        s.c = c;
        s.base = base.data;
        s.n = base.n;
        s.dim = base.dim;
        s.rate = rate;
        s.cap_lat = (size_t)(rate * seconds * 2) + 1000;
        s.lat = calloc(s.cap_lat, sizeof *s.lat);
        atomic_init(&s.stop, 0);
        {
            pthread_t th;
            uint64_t passes = 0;
            pass worst = {0, 0, 0, 0, 0};
            pthread_create(&th, NULL, stream_main, &s);
            busy = median_passes(c, &q, &gt, ef, lat, seconds, &worst, &passes);
            atomic_store(&s.stop, 1);
            pthread_join(th, NULL);
            wl = s.lat;
            qsort(wl, s.n_lat, sizeof *wl, cmp_dbl);
            vex_stats_init(&st);
            vex_stats_get(c, &st);
            printf(
                "{\"bench\":\"live_search\",\"ef\":%u,\"quiet\":{\"qps\":%.0f,"
                "\"recall\":%.4f,\"p50_us\":%.0f,\"p99_us\":%.0f,"
                "\"p999_us\":%.0f},\"ingest\":{\"qps\":%.0f,\"recall\":%.4f,"
                "\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,"
                "\"worst_pass_p99_us\":%.0f,\"passes\":%llu},"
                "\"qps_ratio\":%.3f,\"p99_ratio\":%.3f,"
                "\"writer\":{\"rate_target\":%.0f,\"rate\":%.0f,"
                "\"ack_p50_us\":%.0f,\"ack_p99_us\":%.0f},"
                "\"after\":{\"segments\":%u,\"memtables\":%u,"
                "\"deleted_rows\":%llu,\"flushes\":%llu,"
                "\"compactions\":%llu}}\n",
                ef, quiet.qps, quiet.recall, quiet.p50, quiet.p99, quiet.p999,
                busy.qps, busy.recall, busy.p50, busy.p99, busy.p999, worst.p99,
                (unsigned long long)passes, busy.qps / quiet.qps,
                busy.p99 / quiet.p99, rate, (double)s.done / seconds,
                pct(wl, s.n_lat, 0.5) * 1e6, pct(wl, s.n_lat, 0.99) * 1e6,
                st.segments, st.memtables, (unsigned long long)st.deleted_rows,
                (unsigned long long)st.flushes,
                (unsigned long long)st.compactions);
            fflush(stdout);
            free(s.lat);
        }
        settle(c);
    }
    vex_db_close(db);
    rm_rf(dir);
    vexio_vectors_free(&base);
    vexio_vectors_free(&q);
    vexio_ids_free(&gt);
    free(lat);
    return 0;
}

/* ------------------------------------------------------------------ */

/* Concurrent searches: T threads each run the query set on one snapshot
 * per search (vex_search, n_threads 1), on a quiescent collection. */
typedef struct scaler {
    vex_collection *c;
    const vexio_vectors *q;
    unsigned ef;
    double seconds;
    uint64_t done;
} scaler;

static void *scale_main(void *arg)
{
    scaler *s = arg;
    vex_search_params sp;
    vex_hit hits[10];
    double t_end = now() + s->seconds;
    uint64_t i = 0;
    vex_search_params_init(&sp);
    sp.ef_search = s->ef;
    sp.n_threads = 1;
    while (now() < t_end) {
        size_t nh;
        int rc = vex_search(s->c, s->q->data + (i % s->q->n) * s->q->dim, 10,
                            &sp, hits, NULL, &nh);
        if (rc != VEX_OK)
            die("search", rc, vex_collection_errmsg(s->c));
        i++;
    }
    s->done = i;
    return NULL;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* vex_search_batch over every query with 1 and with 2 threads of the
 * pool, interleaved (1, 2, 1, 2, ...) for `passes` passes each; prints
 * the median QPS of each and their ratio. */
static void batch_scale(vex_collection *c, const vexio_vectors *q, unsigned ef,
                        unsigned passes)
{
    vex_hit *hits = malloc(q->n * 10 * sizeof *hits);
    size_t *nh = malloc(q->n * sizeof *nh);
    double qps[2][64];
    if (hits == NULL || nh == NULL)
        die("batch", VEX_NOMEM, "out of memory");
    if (passes > 64)
        passes = 64;
    for (unsigned p = 0; p < passes; p++)
        for (unsigned t = 0; t < 2; t++) {
            vex_search_params sp;
            double t0;
            int rc;
            vex_search_params_init(&sp);
            sp.ef_search = ef;
            sp.n_threads = t + 1;
            t0 = now();
            rc = vex_search_batch(c, q->data, q->n, 10, &sp, hits, nh);
            if (rc != VEX_OK)
                die("search_batch", rc, vex_collection_errmsg(c));
            qps[t][p] = (double)q->n / (now() - t0);
        }
    qsort(qps[0], passes, sizeof(double), dbl_cmp);
    qsort(qps[1], passes, sizeof(double), dbl_cmp);
    printf("{\"bench\":\"live_batch\",\"ef\":%u,\"passes\":%u,"
           "\"qps_1\":%.0f,\"qps_2\":%.0f,\"ratio\":%.2f}\n",
           ef, passes, qps[0][passes / 2], qps[1][passes / 2],
           qps[1][passes / 2] / qps[0][passes / 2]);
    fflush(stdout);
    free(hits);
    free(nh);
}

static int cmd_scale(int argc, char **argv)
{
    const char *data =
        opt(argc, argv, "--data", "../shared/data/glove-100-angular-100k");
    const char *dir = opt(argc, argv, "--dir", "/tmp/vexdb-livebench");
    unsigned ef = (unsigned)atoi(opt(argc, argv, "--ef", "64"));
    double seconds = atof(opt(argc, argv, "--seconds", "5"));
    unsigned passes = (unsigned)atoi(opt(argc, argv, "--batch-passes", "5"));
    char threads[128];
    vexio_vectors base, q;
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c;
    double qps1 = 0, t_load;
    int rc;
    snprintf(threads, sizeof threads, "%s",
             opt(argc, argv, "--threads", "1,2,4,8"));
    read_glove(data, "base", &base, NULL);
    read_glove(data, "query", &q, NULL);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    c = load_glove(dir, &o, &base, &db, &t_load);
    settle(c);
    if ((rc = vex_compact(c)) != VEX_OK)
        die("compact", rc, vex_collection_errmsg(c));
    for (char *tok = strtok(threads, ","); tok; tok = strtok(NULL, ",")) {
        unsigned nt = (unsigned)atoi(tok);
        pthread_t th[64];
        scaler sc[64];
        uint64_t total = 0;
        double t0 = now(), wall, qps;
        if (nt < 1 || nt > 64)
            continue;
        for (unsigned t = 0; t < nt; t++) {
            sc[t].c = c;
            sc[t].q = &q;
            sc[t].ef = ef;
            sc[t].seconds = seconds;
            sc[t].done = 0;
            pthread_create(&th[t], NULL, scale_main, &sc[t]);
        }
        for (unsigned t = 0; t < nt; t++) {
            pthread_join(th[t], NULL);
            total += sc[t].done;
        }
        wall = now() - t0;
        qps = (double)total / wall;
        if (nt == 1)
            qps1 = qps;
        printf(
            "{\"bench\":\"live_scale\",\"ef\":%u,\"threads\":%u,\"cpus\":%ld,"
            "\"qps\":%.0f,\"vs_1_thread\":%.2f}\n",
            ef, nt, sysconf(_SC_NPROCESSORS_ONLN), qps,
            qps1 > 0 ? qps / qps1 : 0.0);
        fflush(stdout);
    }
    batch_scale(c, &q, ef, passes);
    vex_db_close(db);
    rm_rf(dir);
    vexio_vectors_free(&base);
    vexio_vectors_free(&q);
    return 0;
}

/* ------------------------------------------------------------------ */

#define IDIM 128

typedef struct ingester {
    vex_collection *c;
    uint64_t first, n;
    unsigned batch;
} ingester;

static void gen_vec(uint64_t id, float *v)
{
    /* clustered: 1000 centres, each component centre + small noise */
    uint64_t x = (id % 1000) * 0x9E3779B97F4A7C15ull + 1,
             y = id * 0xD1B54A32D192ED03ull + 7;
    for (int i = 0; i < IDIM; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        y ^= y << 13;
        y ^= y >> 7;
        y ^= y << 17;
        v[i] = (float)(x >> 40) / (float)(1 << 24) +
               0.05f * ((float)(y >> 40) / (float)(1 << 24) - 0.5f);
    }
}

static void *ingest_main(void *arg)
{
    ingester *g = arg;
    vex_batch *b = NULL;
    float v[IDIM];
    vex_batch_create(sizeof v, NULL, &b);
    for (uint64_t i = 0; i < g->n; i++) {
        gen_vec(g->first + i, v);
        vex_batch_insert(b, g->first + i, v);
        if (vex_batch_count(b) == g->batch || i + 1 == g->n) {
            int rc = vex_batch_commit(g->c, b);
            if (rc != VEX_OK)
                die("ingest", rc, vex_collection_errmsg(g->c));
            vex_batch_clear(b);
        }
    }
    vex_batch_free(b);
    return NULL;
}

static int cmd_ingest(int argc, char **argv)
{
    const char *dir = opt(argc, argv, "--dir", "/tmp/vexdb-livebench");
    uint64_t n = (uint64_t)atoll(opt(argc, argv, "--n", "1000000"));
    unsigned batch = (unsigned)atoi(opt(argc, argv, "--batch", "1000"));
    int compact = atoi(opt(argc, argv, "--compact", "1"));
    char threads[128];
    snprintf(threads, sizeof threads, "%s",
             opt(argc, argv, "--threads", "1,2"));
    for (char *tok = strtok(threads, ","); tok; tok = strtok(NULL, ",")) {
        unsigned nt = (unsigned)atoi(tok);
        vex_db_options o;
        vex_db *db = NULL;
        vex_collection *c = NULL;
        vex_collection_config cfg;
        pthread_t th[16];
        ingester g[16];
        vex_stats st;
        double t0, t_write, t_indexed, t_compact;
        int rc;
        rm_rf(dir);
        vex_db_options_init(&o);
        o.create_if_missing = 1;
        if ((rc = vex_db_open(dir, &o, &db)) != VEX_OK)
            die("open", rc, vex_db_errmsg(db));
        vex_collection_config_init(&cfg);
        cfg.dim = IDIM;
        cfg.hnsw_m = 16;
        cfg.hnsw_ef_construction = 200;
        if ((rc = vex_collection_create(db, "ingest", &cfg, &c)) != VEX_OK)
            die("create", rc, vex_db_errmsg(db));
        t0 = now();
        for (unsigned t = 0; t < nt; t++) {
            g[t].c = c;
            g[t].first = n / nt * t;
            g[t].n = t + 1 == nt ? n - n / nt * t : n / nt;
            g[t].batch = batch;
            pthread_create(&th[t], NULL, ingest_main, &g[t]);
        }
        for (unsigned t = 0; t < nt; t++)
            pthread_join(th[t], NULL);
        t_write = now() - t0;
        /* everything in segments and indexed */
        if ((rc = vex_flush(c)) != VEX_OK)
            die("flush", rc, vex_collection_errmsg(c));
        settle(c);
        t_indexed = now() - t0;
        vex_stats_init(&st);
        vex_stats_get(c, &st);
        printf("{\"bench\":\"live_ingest\",\"rows\":%llu,\"dim\":%d,"
               "\"writers\":%u,\"batch\":%u,\"durability\":\"group\","
               "\"write_s\":%.2f,\"rows_per_s\":%.0f,\"all_indexed_s\":%.2f,"
               "\"segments\":%u,\"flushes\":%llu,\"compactions\":%llu,"
               "\"write_stalls\":%llu}\n",
               (unsigned long long)n, IDIM, nt, batch, t_write,
               (double)n / t_write, t_indexed, st.segments,
               (unsigned long long)st.flushes,
               (unsigned long long)st.compactions,
               (unsigned long long)st.write_stalls);
        fflush(stdout);
        if (compact && st.segments > 1) {
            uint64_t rows = st.segment_rows;
            t0 = now();
            if ((rc = vex_compact(c)) != VEX_OK)
                die("compact", rc, vex_collection_errmsg(c));
            t_compact = now() - t0;
            printf(
                "{\"bench\":\"live_compact\",\"rows\":%llu,\"segments_in\":%u,"
                "\"seconds\":%.2f,\"rows_per_s\":%.0f}\n",
                (unsigned long long)rows, st.segments, t_compact,
                (double)rows / t_compact);
            fflush(stdout);
        }
        vex_db_close(db);
        rm_rf(dir);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "search") == 0)
        return cmd_search(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "ingest") == 0)
        return cmd_ingest(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "scale") == 0)
        return cmd_scale(argc, argv);
    fprintf(stderr, "usage: bench_live search|ingest|scale [options] (see "
                    "the header of bench/bench_live.c)\n");
    return 2;
}
