/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_quant.c - quantizer micro benchmark (src/quant), one JSON object
 * per line:
 *   {"bench":"encode", ...}  vectors/s of vx_vq_encode, single thread
 *   {"bench":"scan", ...}    codes/s of one query against n codes (the
 *                            distance computer's scan; 4-bit PQ also
 *                            through the fast scan), per SIMD table this
 *                            machine runs, L2-resident block of codes
 *   {"bench":"recall", ...}  recall@10 on glove-100-angular-100k (cosine)
 *                            from the codes alone and after reranking
 *                            refine * 10 candidates with exact distances,
 *                            bytes per vector, training time
 * Encode and scan use seeded synthetic data (dim 128); recall needs the
 * dataset in DATA/glove-100-angular-100k/ (texmex files; skipped with a
 * note when missing). A result counts as correct when its exact cosine
 * similarity is at least the 10th ground-truth similarity (ties do not
 * matter), as ../shared/data/README.md recommends.
 *
 * Usage: bench_quant [--quick] [--data DIR] [--refine F] [--queries N]
 *        (defaults: DIR ../shared/data, refine 4, all 1,000 queries)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/quant.h"
#include "simd/simd.h"
#include "util/rng.h"

static double g_min_time = 0.3;
static volatile float g_sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "bench_quant: out of memory\n");
        exit(1);
    }
    return p;
}

typedef struct qcfg {
    const char *name;
    vq_kind kind;
    uint32_t m, nbits;
    int uniform;
    unsigned flags; /* vx_vq_dc_create */
    int fast;       /* 4-bit fast scan */
} qcfg;

static const qcfg k_cfgs[] = {
    {"sq8", VQ_SQ8, 0, 8, 0, 0, 0},
    {"sq8_uniform_sym", VQ_SQ8, 0, 8, 1, VQ_DC_SYMMETRIC, 0},
    {"bq", VQ_BQ, 0, 8, 0, 0, 0},
    {"pq8", VQ_PQ, 0, 8, 0, 0, 0},
    {"pq4", VQ_PQ, 0, 4, 0, 0, 0},
    {"pq4_fastscan", VQ_PQ, 0, 4, 0, 0, 1},
    {"opq8", VQ_OPQ, 0, 8, 0, 0, 0},
    {"opq4_fastscan", VQ_OPQ, 0, 4, 0, 0, 1},
};
#define N_CFG (sizeof k_cfgs / sizeof k_cfgs[0])

static vq_quantizer *train(const vex_mem *mem, const qcfg *c, uint32_t dim,
                           vex_metric metric, const float *x, size_t n,
                           double *secs)
{
    vq_params p;
    vq_quantizer *q = NULL;
    double t0 = now();
    vx_vq_params_init(&p, c->kind, dim, metric);
    p.pq_m = c->m;
    if (c->kind == VQ_PQ || c->kind == VQ_OPQ)
        p.pq_nbits = c->nbits;
    p.sq8_uniform = c->uniform;
    p.max_train = 20000;
    p.train_iter = 20;
    if (vx_vq_create(mem, &p, &q, NULL) != VEX_OK ||
        vx_vq_train(q, x, n) != VEX_OK) {
        fprintf(stderr, "bench_quant: %s: %s\n", c->name, vx_vq_errmsg(q));
        exit(1);
    }
    *secs = now() - t0;
    return q;
}

/* ---- encode and scan throughput ------------------------------------------ */

static void bench_throughput(const vex_mem *mem, int quick)
{
    enum { DIM = 128 };
    size_t n = quick ? 20000 : 50000, i;
    static const char *tabs[] = {"scalar", "avx2", "avx512", "neon"};
    float *x = xmalloc(sizeof(float) * n * DIM), *out;
    vex_rng r;
    size_t ci, ti;
    vex_rng_seed(&r, 7);
    for (i = 0; i < n * DIM; i++)
        x[i] = (float)vex_rng_normal(&r) * (float)(1 + i % 3);
    out = xmalloc(sizeof(float) * n);
    for (ci = 0; ci < N_CFG; ci++) {
        const qcfg *c = &k_cfgs[ci];
        double ts, t0, el;
        vq_quantizer *q = train(mem, c, DIM, VEX_METRIC_L2, x, n, &ts);
        size_t cs = vx_vq_code_size(q), reps;
        uint8_t *codes = xmalloc(n * cs), *blocks = NULL;
        size_t ncode = n;
        /* encode: the whole set once (at least) */
        t0 = now();
        reps = 0;
        do {
            vx_vq_encode(q, x, n, codes);
            reps++;
        } while ((el = now() - t0) < g_min_time);
        printf("{\"bench\":\"encode\",\"quantizer\":\"%s\",\"dim\":%d,"
               "\"code_bytes\":%zu,\"simd\":\"%s\",\"train_s\":%.3f,"
               "\"vectors_per_s\":%.0f}\n",
               c->name, DIM, cs, vx_simd()->name, ts, (double)(reps * n) / el);
        if (c->fast) {
            blocks = xmalloc(vx_vq_pq4_blocks_size(q, n));
            vx_vq_pq4_pack(q, codes, n, blocks);
        }
        /* scan: about 1 MiB of codes, L2-resident */
        if (ncode * cs > (1u << 20))
            ncode = (1u << 20) / cs;
        for (ti = 0; ti < sizeof tabs / sizeof tabs[0]; ti++) {
            vq_dc *dc = NULL;
            if (vex_simd_force(tabs[ti]) != VEX_OK)
                continue;
            if (vx_vq_dc_create(q, c->flags, &dc) != VEX_OK)
                exit(1);
            vx_vq_dc_set_query(dc, x + (n - 1) * DIM);
            reps = 0;
            t0 = now();
            do {
                if (c->fast)
                    vx_vq_dc_scan_blocks(dc, blocks, ncode, out);
                else
                    vx_vq_dc_scan(dc, codes, ncode, out);
                g_sink += out[reps % ncode];
                reps++;
            } while ((el = now() - t0) < g_min_time);
            printf("{\"bench\":\"scan\",\"quantizer\":\"%s\",\"dim\":%d,"
                   "\"code_bytes\":%zu,\"simd\":\"%s\",\"codes\":%zu,"
                   "\"codes_per_s\":%.0f,\"code_gb_per_s\":%.2f}\n",
                   c->name, DIM, cs, tabs[ti], ncode,
                   (double)(reps * ncode) / el,
                   (double)(reps * ncode * cs) / el / 1e9);
            vx_vq_dc_destroy(dc);
        }
        vex_simd_force("auto");
        fflush(stdout);
        free(blocks);
        free(codes);
        vx_vq_destroy(q);
    }
    free(out);
    free(x);
}

/* ---- recall on glove ---------------------------------------------------- */

/* texmex .fvecs/.ivecs: every record int32 d then d values */
static void *read_vecs(const char *path, size_t *n_out, size_t *d_out)
{
    FILE *f = fopen(path, "rb");
    int32_t d;
    long size;
    size_t n, i;
    unsigned char *buf, *out;
    if (f == NULL)
        return NULL;
    if (fread(&d, 4, 1, f) != 1 || d <= 0 || fseek(f, 0, SEEK_END) != 0 ||
        (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        size % (4 + 4 * (long)d) != 0) {
        fclose(f);
        return NULL;
    }
    n = (size_t)size / (4 + 4 * (size_t)d);
    buf = xmalloc((size_t)size);
    out = xmalloc(n * 4 * (size_t)d);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        free(out);
        return NULL;
    }
    fclose(f);
    for (i = 0; i < n; i++)
        memcpy(out + i * 4 * (size_t)d, buf + i * (4 + 4 * (size_t)d) + 4,
               4 * (size_t)d);
    free(buf);
    *n_out = n;
    *d_out = (size_t)d;
    return out;
}

/* the k smallest of d[0..n): indices into idx, unordered (max-heap) */
static void smallest(const float *d, size_t n, size_t k, uint32_t *idx)
{
    size_t i, h = 0;
    for (i = 0; i < n; i++) {
        size_t j;
        if (h < k) {
            j = h++;
            while (j > 0 && d[idx[(j - 1) / 2]] < d[i]) {
                idx[j] = idx[(j - 1) / 2];
                j = (j - 1) / 2;
            }
            idx[j] = (uint32_t)i;
        } else if (d[i] < d[idx[0]]) {
            j = 0;
            for (;;) {
                size_t l = 2 * j + 1, r = l + 1, m = j;
                float dm = d[i];
                if (l < k && d[idx[l]] > dm)
                    m = l, dm = d[idx[l]];
                if (r < k && d[idx[r]] > dm)
                    m = r;
                if (m == j)
                    break;
                idx[j] = idx[m];
                j = m;
            }
            idx[j] = (uint32_t)i;
        }
    }
}

static void bench_recall(const vex_mem *mem, const char *data, double refine,
                         size_t max_q)
{
    char path[4096];
    float *base, *qs, *gts, *nb, *out;
    size_t nbase, dim, nq, gq, gk, d2, i, j, ci;
    snprintf(path, sizeof path,
             "%s/glove-100-angular-100k/"
             "glove100_base.fvecs",
             data);
    base = read_vecs(path, &nbase, &dim);
    snprintf(path, sizeof path,
             "%s/glove-100-angular-100k/"
             "glove100_query.fvecs",
             data);
    qs = read_vecs(path, &nq, &d2);
    snprintf(path, sizeof path,
             "%s/glove-100-angular-100k/"
             "glove100_groundtruth_sim.fvecs",
             data);
    gts = read_vecs(path, &gq, &gk);
    if (base == NULL || qs == NULL || gts == NULL || d2 != dim || gq != nq ||
        gk < 10) {
        printf("{\"bench\":\"recall\",\"skipped\":\"glove-100-angular-100k "
               "not found under %s\"}\n",
               data);
        free(base);
        free(qs);
        free(gts);
        return;
    }
    if (max_q && nq > max_q)
        nq = max_q;
    /* unit base vectors for the exact rerank (cosine = 1 - dot) */
    nb = xmalloc(sizeof(float) * nbase * dim);
    for (i = 0; i < nbase; i++) {
        double s = 0;
        for (j = 0; j < dim; j++)
            s += (double)base[i * dim + j] * base[i * dim + j];
        for (j = 0; j < dim; j++)
            nb[i * dim + j] = (float)(base[i * dim + j] / sqrt(s));
    }
    out = xmalloc(sizeof(float) * nbase);
    for (ci = 0; ci < N_CFG; ci++) {
        const qcfg *c = &k_cfgs[ci];
        const vex_simd_table *t = vx_simd();
        double ts, hit0 = 0, hitr = 0, t0, tscan = 0;
        vq_quantizer *q =
            train(mem, c, (uint32_t)dim, VEX_METRIC_COSINE, base, nbase, &ts);
        size_t cs = vx_vq_code_size(q), ncand = (size_t)(refine * 10 + 0.5), qi;
        uint8_t *codes = xmalloc(nbase * cs), *blocks = NULL;
        uint32_t *cand = xmalloc(sizeof(uint32_t) * ncand), top[10];
        float *rd = xmalloc(sizeof(float) * ncand);
        vq_dc *dc = NULL;
        double before = 0, after = 0;
        if (vx_vq_encode(q, base, nbase, codes) != VEX_OK)
            exit(1);
        if (c->fast) {
            blocks = xmalloc(vx_vq_pq4_blocks_size(q, nbase));
            vx_vq_pq4_pack(q, codes, nbase, blocks);
        }
        if (vx_vq_dc_create(q, c->flags, &dc) != VEX_OK)
            exit(1);
        for (qi = 0; qi < nq; qi++) {
            const float *qv = qs + qi * dim;
            float thr = gts[qi * gk + 9] - 1e-5f, qn[1024];
            double s = 0;
            t0 = now();
            vx_vq_dc_set_query(dc, qv);
            if (c->fast)
                vx_vq_dc_scan_blocks(dc, blocks, nbase, out);
            else
                vx_vq_dc_scan(dc, codes, nbase, out);
            tscan += now() - t0;
            for (j = 0; j < dim; j++)
                s += (double)qv[j] * qv[j];
            for (j = 0; j < dim; j++)
                qn[j] = (float)(qv[j] / sqrt(s));
            /* without refine: the 10 best codes */
            smallest(out, nbase, 10, top);
            for (j = 0; j < 10; j++)
                hit0 += t->dot_f32(qn, nb + (size_t)top[j] * dim, dim) >= thr;
            /* with refine: rerank ncand by exact cosine */
            smallest(out, nbase, ncand, cand);
            for (j = 0; j < ncand; j++)
                rd[j] = -t->dot_f32(qn, nb + (size_t)cand[j] * dim, dim);
            smallest(rd, ncand, 10, top);
            for (j = 0; j < 10; j++)
                hitr += -rd[top[j]] >= thr;
        }
        if (c->kind == VQ_OPQ)
            vx_vq_opq_errors(q, &before, &after);
        printf("{\"bench\":\"recall\",\"dataset\":\"glove-100-angular-100k\","
               "\"quantizer\":\"%s\",\"m\":%u,\"nbits\":%u,"
               "\"bytes_per_vector\":%zu,\"compression\":%.1f,"
               "\"train_s\":%.2f,\"queries\":%zu,\"recall10\":%.4f,"
               "\"refine\":%.1f,\"recall10_refined\":%.4f,"
               "\"scan_ms_per_query\":%.3f",
               c->name, vx_vq_pq_m(q), vx_vq_pq_nbits(q), cs,
               (double)(dim * 4) / (double)cs, ts, nq, hit0 / (10.0 * nq),
               refine, hitr / (10.0 * nq), tscan * 1e3 / (double)nq);
        if (c->kind == VQ_OPQ)
            printf(",\"pq_mse\":%.6g,\"opq_mse\":%.6g", before, after);
        printf("}\n");
        fflush(stdout);
        vx_vq_dc_destroy(dc);
        free(codes);
        free(blocks);
        free(cand);
        free(rd);
        vx_vq_destroy(q);
    }
    free(out);
    free(nb);
    free(base);
    free(qs);
    free(gts);
}

int main(int argc, char **argv)
{
    const char *data = "../shared/data";
    double refine = 4;
    size_t max_q = 0;
    int quick = 0, i;
    vex_mem mem;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
            g_min_time = 0.1;
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--refine") == 0 && i + 1 < argc) {
            refine = atof(argv[++i]);
        } else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) {
            max_q = (size_t)atol(argv[++i]);
        } else {
            fprintf(stderr,
                    "usage: bench_quant [--quick] [--data DIR] [--refine F] "
                    "[--queries N]\n");
            return 2;
        }
    }
    if (!(refine >= 1 && refine <= 100)) {
        fprintf(stderr, "bench_quant: --refine must be 1..100\n");
        return 2;
    }
    vx_mem_init(&mem, NULL);
    bench_throughput(&mem, quick);
    bench_recall(&mem, data, refine, max_q);
    return 0;
}
