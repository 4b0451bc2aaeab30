/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_dann_db.c - a collection's segment kinds at the memory they hold:
 * DiskANN segments (searched from the file) against HNSW segments on PQ
 * or SQ8 codes and on float32 vectors, through the public API, on a
 * texmex dataset.
 *
 *   bench_dann_db --kind diskann|hnsw-pq|hnsw-sq8|hnsw [--data DIR]
 *                 [--db PATH] [--rebuild] [--efs 40,80,120] [--W 4]
 *                 [--passes 3] [--cache-mb 0] [--queries N] [--pq-m M]
 *                 [--R 64] [--L 100]
 *
 * The collection (PATH/c, default /tmp/vex_bench_dann_<kind>) is built
 * once (insert_many, flush, compact: one segment of every row) and kept
 * for later runs unless --rebuild. DIR defaults to
 * ../shared/data/glove-100-angular-100k (cosine when the name contains
 * "angular", else L2). Memory held: for DiskANN, vex_stats'
 * diskann_resident_bytes (codes, key tables, page checksums, quantizer,
 * node cache); for HNSW, the graph and codes the search walks
 * (vex_metrics_text's segment_graph + segment_codes parts; the float32
 * vectors of an HNSW-on-codes segment are read only to rerank, and those
 * of plain HNSW are counted as they are walked), both against the
 * float32 vectors' bytes. Searches are single-thread, k = 10; per ef,
 * a cold pass (every file of the collection dropped from the page cache
 * with posix_fadvise(DONTNEED) first) and a warm one, interleaved,
 * medians of --passes. One JSON line per (ef, mode) on stdout.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_data.h"
#include "vexdb.h"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_dann_db: %s: %s\n", what, msg ? msg : "");
    exit(1);
}

static const char *opt(int argc, char **argv, const char *name,
                       const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

static int flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

/* The value of metric family `fam` with part="part" in the metrics text. */
static double metric_part(const char *text, const char *fam, const char *part)
{
    double sum = 0;
    char key[128];
    snprintf(key, sizeof key, "part=\"%s\"", part);
    for (const char *l = text; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if (n > strlen(fam) && strncmp(l, fam, strlen(fam)) == 0 &&
            l[strlen(fam)] == '{') {
            const char *k = strstr(l, key);
            const char *v = memchr(l, ' ', n);
            if (k && k < l + n && v)
                sum += strtod(v + 1, NULL);
        }
        l = e ? e + 1 : NULL;
    }
    return sum;
}

static void drop_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[1024];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        bench_drop_cache(p);
    }
    if (d)
        closedir(d);
}

typedef struct pass_res {
    double qps, recall, p50_us, p99_us, reads, kib, hits;
} pass_res;

static pass_res run_pass(vex_collection *c, const vexio_vectors *q,
                         const vexio_ids *gt, size_t nq, uint32_t ef,
                         uint32_t W, int dann)
{
    double *lat = malloc(nq * sizeof *lat), t0;
    size_t ok = 0;
    uint64_t reads = 0, bytes = 0, hits = 0;
    pass_res r;
    t0 = bench_now();
    for (size_t i = 0; i < nq; i++) {
        vex_search_params p;
        vex_search_stats st;
        vex_hit h[10];
        size_t n = 0;
        double a = bench_now();
        int rc;
        vex_search_params_init(&p);
        vex_search_stats_init(&st);
        p.ef_search = ef;
        p.beam_width = dann ? W : 0;
        p.stats = &st;
        rc = vex_search(c, q->data + i * q->dim, 10, &p, h, NULL, &n);
        if (rc != VEX_OK)
            die("search", vex_collection_errmsg(c));
        lat[i] = bench_now() - a;
        reads += st.io_reads;
        bytes += st.io_bytes;
        hits += st.io_cache_hits;
        for (size_t j = 0; j < n; j++)
            for (size_t g = 0; g < 10; g++)
                ok += h[j].id == (uint64_t)gt->ids[i * gt->k + g];
    }
    r.qps = (double)nq / (bench_now() - t0);
    r.recall = (double)ok / (double)(nq * 10);
    r.reads = (double)reads / (double)nq;
    r.kib = (double)bytes / 1024.0 / (double)nq;
    r.hits = (double)hits / (double)nq;
    qsort(lat, nq, sizeof *lat, bench_cmp_double);
    r.p50_us = lat[nq / 2] * 1e6;
    r.p99_us = lat[(size_t)((double)nq * 0.99)] * 1e6;
    free(lat);
    return r;
}

int main(int argc, char **argv)
{
    const char *kind = opt(argc, argv, "--kind", "diskann");
    const char *dir =
        opt(argc, argv, "--data", "../shared/data/glove-100-angular-100k");
    char dbdefault[256], coll_dir[600], err[1200];
    const char *dbpath;
    uint32_t W = (uint32_t)atoi(opt(argc, argv, "--W", "4"));
    int passes = atoi(opt(argc, argv, "--passes", "3"));
    uint64_t cache = strtoull(opt(argc, argv, "--cache-mb", "0"), NULL, 10)
                     << 20;
    uint32_t efs[16], n_efs = 0;
    int dann = strcmp(kind, "diskann") == 0,
        rebuild = flag(argc, argv, "--rebuild");
    vexio_vectors base = {0, 0, NULL}, query = {0, 0, NULL};
    vexio_ids gt = {0, 0, NULL};
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_metric metric =
        strstr(dir, "angular") ? VEX_METRIC_COSINE : VEX_METRIC_L2;
    double build_s = -1, mem = 0;
    size_t nq;
    int rc;

    snprintf(dbdefault, sizeof dbdefault, "/tmp/vex_bench_dann_%s", kind);
    dbpath = opt(argc, argv, "--db", dbdefault);
    {
        char *s = strdup(opt(argc, argv, "--efs", "40,80,120")), *t;
        for (t = strtok(s, ","); t && n_efs < 16; t = strtok(NULL, ","))
            efs[n_efs++] = (uint32_t)atoi(t);
        free(s);
    }
    if (!dann && strcmp(kind, "hnsw-pq") && strcmp(kind, "hnsw-sq8") &&
        strcmp(kind, "hnsw"))
        die("--kind", "diskann, hnsw-pq, hnsw-sq8 or hnsw");
    if (passes < 1 || passes > 99 || W < 1 || W > 64 || n_efs == 0)
        die("options", "--passes 1..99, --W 1..64, --efs a list");
    if (!bench_load(dir, &base, &query, &gt, err, sizeof err))
        die("data", err);
    nq = query.n;
    if (atoi(opt(argc, argv, "--queries", "0")) > 0 &&
        (size_t)atoi(opt(argc, argv, "--queries", "0")) < nq)
        nq = (size_t)atoi(opt(argc, argv, "--queries", "0"));
    if (gt.k < 10 || gt.n < nq)
        die("ground truth", "fewer than 10 neighbours or queries");

    if (rebuild) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dbpath);
        if (system(cmd) != 0)
            die(dbpath, "cannot remove");
    }
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    o.memtable_bytes = UINT64_C(4) << 30;
    o.diskann_cache_bytes = cache;
    o.durability = VEX_DURABILITY_NONE;
    if ((rc = vex_db_open(dbpath, &o, &db)) != VEX_OK)
        die(dbpath, vex_db_errmsg(db));
    rc = vex_collection_open(db, "c", &c);
    if (rc == VEX_NOTFOUND) {
        vex_collection_config cfg;
        uint64_t *ids = malloc(base.n * sizeof *ids);
        size_t done = 0;
        double t0 = bench_now();
        vex_collection_config_init(&cfg);
        cfg.dim = base.dim;
        cfg.metric = metric;
        cfg.hnsw_m = 16;
        cfg.hnsw_ef_construction = 200;
        if (dann) {
            /* the memtable needs no graph: its rows go to the DiskANN
             * segment at the compaction */
            cfg.index_kind = VEX_INDEX_FLAT;
            cfg.hnsw_m = cfg.hnsw_ef_construction = 0;
            cfg.diskann_min_rows = 1;
            cfg.diskann_r = (uint32_t)atoi(opt(argc, argv, "--R", "64"));
            cfg.diskann_l = (uint32_t)atoi(opt(argc, argv, "--L", "100"));
            cfg.diskann_pq_m = (uint32_t)atoi(opt(argc, argv, "--pq-m", "0"));
        } else if (strcmp(kind, "hnsw-pq") == 0) {
            cfg.quant = VEX_QUANT_PQ;
            cfg.quant_m = (uint32_t)atoi(opt(argc, argv, "--pq-m", "0"));
        } else if (strcmp(kind, "hnsw-sq8") == 0) {
            cfg.quant = VEX_QUANT_SQ8;
        }
        if ((rc = vex_collection_create(db, "c", &cfg, &c)) != VEX_OK)
            die("create", vex_db_errmsg(db));
        for (uint64_t i = 0; i < base.n; i++)
            ids[i] = i;
        for (uint64_t at = 0; at < base.n; at += 10000) {
            size_t n = base.n - at < 10000 ? (size_t)(base.n - at) : 10000;
            rc = vex_insert_many(c, n, ids + at, base.data + at * base.dim,
                                 NULL, NULL, &done);
            if (rc != VEX_OK)
                die("insert", vex_collection_errmsg(c));
        }
        free(ids);
        if ((rc = vex_flush(c)) != VEX_OK || (rc = vex_compact(c)) != VEX_OK)
            die("flush/compact", vex_collection_errmsg(c));
        build_s = bench_now() - t0;
    } else if (rc != VEX_OK) {
        die("open", vex_db_errmsg(db));
    }
    snprintf(coll_dir, sizeof coll_dir, "%s/collections/c", dbpath);
    /* warm the index once so that its memory is counted */
    {
        vex_hit h[10];
        size_t n;
        vex_search_params p;
        vex_search_params_init(&p);
        p.beam_width = dann ? W : 0;
        if (vex_search(c, query.data, 10, &p, h, NULL, &n) != VEX_OK)
            die("search", vex_collection_errmsg(c));
    }
    if (dann) {
        vex_stats st;
        vex_stats_init(&st);
        vex_stats_get(c, &st);
        if (st.diskann_segments != 1)
            die("collection", "not one DiskANN segment");
        mem = (double)st.diskann_resident_bytes;
    } else {
        char *text = NULL;
        size_t len;
        if (vex_metrics_text(db, &text, &len) != VEX_OK)
            die("metrics", vex_db_errmsg(db));
        mem = metric_part(text, "vex_memory_bytes", "segment_graph") +
              metric_part(text, "vex_memory_bytes", "segment_codes");
        if (strcmp(kind, "hnsw") == 0)
            mem += metric_part(text, "vex_memory_bytes", "segment_vectors");
        vex_metrics_free(db, text);
    }

    for (uint32_t e = 0; e < n_efs; e++) {
        pass_res cold[99], warm[99];
        double v[99];
        for (int p = 0; p < passes; p++) {
            drop_dir(coll_dir);
            cold[p] = run_pass(c, &query, &gt, nq, efs[e], W, dann);
            warm[p] = run_pass(c, &query, &gt, nq, efs[e], W, dann);
        }
        for (int m = 0; m < 2; m++) {
            pass_res *r = m ? warm : cold, med = r[passes - 1];
            for (int p = 0; p < passes; p++)
                v[p] = r[p].qps;
            med.qps = bench_median(v, passes);
            printf("{\"bench\":\"dann_db\",\"kind\":\"%s\",\"n\":%" PRIu64
                   ",\"dim\":%u,\"ef\":%u,\"W\":%u,\"mode\":\"%s\","
                   "\"recall\":%.4f,\"qps\":%.0f,\"p50_us\":%.0f,"
                   "\"p99_us\":%.0f,\"reads_per_q\":%.1f,\"kib_per_q\":%.1f,"
                   "\"cache_hits_per_q\":%.1f,\"resident_bytes\":%.0f,"
                   "\"vector_bytes\":%" PRIu64
                   ",\"resident_pct\":%.2f,\"build_s\":%.1f}\n",
                   kind, base.n, base.dim, efs[e], W, m ? "warm" : "cold",
                   med.recall, med.qps, med.p50_us, med.p99_us, med.reads,
                   med.kib, med.hits, mem, base.n * base.dim * 4,
                   100.0 * mem / (double)(base.n * base.dim * 4), build_s);
            fflush(stdout);
        }
    }
    vex_collection_close(c);
    vex_db_close(db);
    vexio_vectors_free(&base);
    vexio_vectors_free(&query);
    vexio_ids_free(&gt);
    return 0;
}
