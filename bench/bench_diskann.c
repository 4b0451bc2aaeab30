/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_diskann.c - the disk-resident DiskANN index (src/index/diskann.c)
 * on a texmex dataset: build time, memory held, and per list size L the
 * recall@10, QPS, latency and I/O per query, cold (the file's pages
 * dropped from the page cache with posix_fadvise(DONTNEED) before each
 * pass) and warm, in interleaved passes (cold, warm, cold, warm, ...)
 * reported as medians. One JSON line per (L, mode).
 *
 *   bench_diskann [--data DIR] [--file F] [--R 48] [--Lb 100] [--W 4]
 *                 [--Ls 20,40,60,100] [--cache-mb 0] [--passes 3]
 *                 [--threads 2] [--queries N]
 *
 * DIR holds <P>_base.fvecs, <P>_query.fvecs, <P>_groundtruth.ivecs
 * (default ../shared/data/glove-100-angular-100k; cosine when the name
 * contains "angular", else L2). F is where the index is written (default
 * /tmp/vex_bench.dann); the build uses --threads pool threads, searches
 * one thread. The memory figure is what the open index holds
 * (vx_dann_resident_bytes: codes, keys, page checksums, quantizer, cache)
 * against the float32 vectors' size.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index/diskann.h"
#include "io/vfs.h"
#include "bench_data.h"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_diskann: %s: %s\n", what, msg);
    exit(1);
}

typedef struct pass_res {
    double qps, recall, pages, bytes, cache_hits, p50_us, p99_us, hops;
} pass_res;

static pass_res run_pass(vx_dann *d, const vexio_vectors *q,
                         const vexio_ids *gt, uint32_t L, uint32_t W, size_t nq)
{
    vx_dann_scratch *s = NULL;
    vx_dann_stats st;
    double *lat = malloc(nq * sizeof *lat), t0;
    size_t hits_ok = 0;
    pass_res r;
    memset(&st, 0, sizeof st);
    if (vx_dann_scratch_create(d, L, W, &s) != VEX_OK)
        die("scratch", "out of memory");
    t0 = bench_now();
    for (size_t i = 0; i < nq; i++) {
        vex_hit hits[10];
        size_t nh = 0;
        double a = bench_now();
        if (vx_dann_search(d, s, q->data + i * q->dim, 10, L, W, NULL, NULL,
                           hits, &nh, &st, NULL) != VEX_OK)
            die("search", "failed");
        lat[i] = bench_now() - a;
        for (size_t j = 0; j < nh; j++)
            for (uint32_t t = 0; t < 10 && t < gt->k; t++)
                if ((uint64_t)gt->ids[i * gt->k + t] == hits[j].id) {
                    hits_ok++;
                    break;
                }
    }
    r.qps = (double)nq / (bench_now() - t0);
    r.recall = (double)hits_ok / (double)(nq * 10);
    r.pages = (double)st.pages_read / (double)nq;
    r.bytes = (double)st.bytes_read / (double)nq;
    r.cache_hits = (double)st.cache_hits / (double)nq;
    r.hops = (double)st.hops / (double)nq;
    qsort(lat, nq, sizeof *lat, bench_cmp_double);
    r.p50_us = lat[nq / 2] * 1e6;
    r.p99_us = lat[(size_t)((double)nq * 0.99)] * 1e6;
    vx_dann_scratch_free(d, s);
    free(lat);
    return r;
}

int main(int argc, char **argv)
{
    const char *dir = "../shared/data/glove-100-angular-100k";
    const char *file = "/tmp/vex_bench.dann";
    const char *Ls = "20,40,60,100";
    uint32_t R = 48, Lb = 100, W = 4;
    unsigned threads = 2;
    int passes = 3;
    uint64_t cache_mb = 0;
    size_t nq_max = 0;
    char path[1200];
    vexio_vectors base, q;
    vexio_ids gt;
    vex_mem mem;
    vex_vfs *vfs = NULL;
    vex_file *f = NULL;
    vex_pool *pool = NULL;
    vx_dann_params p;
    vx_dann *d = NULL;
    vex_err err;
    uint32_t *keys;
    uint64_t len = 0;
    double t_build;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--data"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--file"))
            file = argv[i + 1];
        else if (!strcmp(argv[i], "--R"))
            R = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--Lb"))
            Lb = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--W"))
            W = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--Ls"))
            Ls = argv[i + 1];
        else if (!strcmp(argv[i], "--cache-mb"))
            cache_mb = (uint64_t)atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--passes"))
            passes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries"))
            nq_max = (size_t)atoll(argv[i + 1]);
        else
            die(argv[i], "unknown option");
    }
    if (passes < 1 || passes > 99)
        die("--passes", "1..99");
    if (!bench_load(dir, &base, &q, &gt, path, sizeof path))
        die("data", path);
    if (nq_max == 0 || nq_max > q.n)
        nq_max = q.n;
    vx_mem_init(&mem, NULL);
    vx_err_init(&err);
    if (vx_vfs_posix_create(NULL, &vfs) != VEX_OK ||
        vex_vfs_open(vfs, file,
                     VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE, &f,
                     &err) != VEX_OK)
        die(file, err.msg);
    if (vx_pool_create(&mem, threads, &pool) != VEX_OK)
        die("pool", "cannot start");
    keys = malloc(base.n * sizeof *keys);
    for (uint64_t i = 0; i < base.n; i++)
        keys[i] = (uint32_t)i;
    vx_dann_params_init(&p);
    p.metric = strstr(dir, "angular") ? VEX_METRIC_COSINE : VEX_METRIC_L2;
    p.R = R;
    p.L = Lb;
    t_build = bench_now();
    if (vx_dann_write(&mem, pool, base.data, keys, base.n, base.dim, &p, f, 0,
                      &len, &err) != VEX_OK ||
        vex_file_sync(f, 0, &err) != VEX_OK)
        die("build", err.msg);
    t_build = bench_now() - t_build;
    if (vx_dann_open(&mem, f, 0, len, cache_mb << 20, &d, &err) != VEX_OK)
        die("open", err.msg);
    printf("{\"bench\":\"diskann\",\"data\":\"%s\",\"n\":%llu,\"dim\":%u,"
           "\"metric\":\"%s\",\"R\":%u,\"L_build\":%u,\"build_s\":%.1f,"
           "\"file_bytes\":%llu,\"resident_bytes\":%llu,"
           "\"resident_share_of_f32\":%.4f,\"cache_mb\":%llu}\n",
           dir, (unsigned long long)base.n, base.dim, vex_metric_name(p.metric),
           R, Lb, t_build, (unsigned long long)len,
           (unsigned long long)vx_dann_resident_bytes(d),
           (double)vx_dann_resident_bytes(d) / ((double)base.n * base.dim * 4),
           (unsigned long long)cache_mb);
    fflush(stdout);
    for (const char *c = Ls; *c;) {
        uint32_t L = (uint32_t)strtoul(c, (char **)&c, 10);
        double cq[99], wq[99];
        pass_res cold = {0}, warm = {0};
        if (*c == ',')
            c++;
        for (int ps = 0; ps < passes; ps++) {
            bench_drop_cache(file);
            cold = run_pass(d, &q, &gt, L, W, nq_max);
            cq[ps] = cold.qps;
            warm = run_pass(d, &q, &gt, L, W, nq_max);
            wq[ps] = warm.qps;
        }
        for (int m = 0; m < 2; m++) {
            pass_res *r = m ? &warm : &cold;
            printf("{\"bench\":\"diskann\",\"mode\":\"%s\",\"L\":%u,\"W\":%u,"
                   "\"recall10\":%.4f,\"qps_median\":%.1f,\"p50_us\":%.0f,"
                   "\"p99_us\":%.0f,\"pages_per_query\":%.1f,"
                   "\"bytes_per_query\":%.0f,\"cache_hits_per_query\":%.1f,"
                   "\"hops_per_query\":%.1f,\"passes\":%d}\n",
                   m ? "warm" : "cold", L, W, r->recall,
                   bench_median(m ? wq : cq, passes), r->p50_us, r->p99_us,
                   r->pages, r->bytes, r->cache_hits, r->hops, passes);
        }
        fflush(stdout);
    }
    vx_dann_close(d);
    vex_file_close(f, NULL);
    unlink(file);
    vx_pool_destroy(pool);
    vfs->methods->destroy(vfs);
    vexio_vectors_free(&base);
    vexio_vectors_free(&q);
    vexio_ids_free(&gt);
    free(keys);
    vx_err_destroy(&err);
    return 0;
}
