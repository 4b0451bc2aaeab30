/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_hnsw_deletes.c - how HNSW recall holds up under deletes.
 *
 * Builds an HNSW index over a dataset, then deletes a growing share of it
 * (10%, 30%, 50%, cumulative, ids chosen by a seeded shuffle) and after
 * each step measures recall@10 at several ef against the exact neighbours
 * among the survivors (flat index), next to a fresh HNSW built from the
 * survivors alone. Finally every deleted id is re-inserted and the index
 * is compared with a fresh build of everything. Recall is by distance: a
 * hit counts when it is within the exact k-th distance (relative 1e-5).
 * Prints one JSON object per line. Uses only the public API plus the vex
 * tool's dataset readers.
 *
 * usage: bench_hnsw_deletes BASE.fvecs QUERY.fvecs l2|cosine [M] [EFC]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "readers.h"
#include "vexdb.h"

#define K 10

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static vex_index *make(vex_index_kind kind, vex_metric m, uint32_t dim,
                       uint32_t M, uint32_t efc)
{
    vex_index_options o;
    vex_index *ix = NULL;
    vex_index_options_init(&o);
    o.kind = kind;
    o.metric = m;
    o.dim = dim;
    if (kind == VEX_INDEX_HNSW) {
        o.hnsw_m = M;
        o.hnsw_ef_construction = efc;
    }
    if (vex_index_create(&o, &ix) != VEX_OK) {
        fprintf(stderr, "create: %s\n", vex_index_errmsg(ix));
        exit(1);
    }
    return ix;
}

static void add_live(vex_index *ix, const vexio_vectors *b,
                     const unsigned char *dead)
{
    uint64_t i;
    uint64_t *ids = malloc(b->n * sizeof *ids);
    float *v = malloc(b->n * b->dim * sizeof *v);
    size_t m = 0;
    for (i = 0; i < b->n; i++) {
        if (dead[i])
            continue;
        ids[m] = i;
        memcpy(v + m * b->dim, b->data + i * b->dim, b->dim * sizeof *v);
        m++;
    }
    if (vex_index_add(ix, ids, v, m) != VEX_OK) {
        fprintf(stderr, "add: %s\n", vex_index_errmsg(ix));
        exit(1);
    }
    free(ids);
    free(v);
}

/* recall@K of ix against the exact k-th distances kth[], and its QPS */
static double measure(vex_index *ix, const vexio_vectors *q, const float *kth,
                      uint32_t ef, double *qps)
{
    vex_search_params p;
    vex_hit hits[K];
    size_t nh, j;
    uint64_t i, ok = 0;
    double t0 = now();
    vex_search_params_init(&p);
    p.n_threads = 1;
    p.ef_search = ef;
    for (i = 0; i < q->n; i++) {
        vex_index_search(ix, q->data + i * q->dim, K, &p, hits, &nh);
        for (j = 0; j < nh; j++)
            ok += hits[j].distance <=
                  kth[i] + 1e-5f * (kth[i] > 0 ? kth[i] : -kth[i]) + 1e-6f;
    }
    *qps = (double)q->n / (now() - t0);
    return (double)ok / (double)(q->n * K);
}

static void exact_kth(const vexio_vectors *b, const vexio_vectors *q,
                      const unsigned char *dead, vex_metric m, float *kth)
{
    vex_index *f = make(VEX_INDEX_FLAT, m, b->dim, 0, 0);
    vex_hit *hits = malloc(q->n * K * sizeof *hits);
    size_t *nh = malloc(q->n * sizeof *nh);
    uint64_t i;
    add_live(f, b, dead);
    vex_index_search_batch(f, q->data, q->n, K, NULL, hits, nh);
    for (i = 0; i < q->n; i++)
        kth[i] = hits[i * K + nh[i] - 1].distance;
    vex_index_free(f);
    free(hits);
    free(nh);
}

static void report(const char *stage, double share, vex_index *ix,
                   vex_index *fresh, const vexio_vectors *q, const float *kth,
                   const char *dataset)
{
    static const uint32_t efs[] = {32, 64, 128};
    size_t e;
    for (e = 0; e < sizeof efs / sizeof efs[0]; e++) {
        double qa, qf, ra = measure(ix, q, kth, efs[e], &qa);
        double rf = measure(fresh, q, kth, efs[e], &qf);
        printf("{\"bench\":\"hnsw_deletes\",\"dataset\":\"%s\",\"stage\":"
               "\"%s\",\"deleted_share\":%.2f,\"ef\":%u,\"recall\":%.4f,"
               "\"recall_fresh_build\":%.4f,\"recall_diff\":%.4f,"
               "\"qps_1t\":%.0f,\"qps_1t_fresh_build\":%.0f}\n",
               dataset, stage, share, efs[e], ra, rf, ra - rf, qa, qf);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    static const double shares[] = {0.10, 0.30, 0.50};
    vexio_vectors b = {0}, q = {0};
    vexio_error err;
    vex_metric m;
    unsigned char *dead;
    uint64_t *order, i, done = 0;
    float *kth;
    uint32_t M = argc > 4 ? (uint32_t)atoi(argv[4]) : 16;
    uint32_t efc = argc > 5 ? (uint32_t)atoi(argv[5]) : 200;
    vex_index *ix, *fresh;
    size_t s;
    const char *name;

    if (argc < 4 || vex_metric_parse(argv[3], &m) != VEX_OK) {
        fprintf(stderr, "usage: %s BASE QUERY l2|cosine [M] [EFC]\n", argv[0]);
        return 2;
    }
    if (vexio_read_vectors(argv[1], VEXIO_AUTO, 0, &b, &err) != VEX_OK ||
        vexio_read_vectors(argv[2], VEXIO_AUTO, 0, &q, &err) != VEX_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    dead = calloc(b.n, 1);
    order = malloc(b.n * sizeof *order);
    kth = malloc(q.n * sizeof *kth);
    /* seeded shuffle: which ids die first */
    {
        uint64_t x = 20261122;
        for (i = 0; i < b.n; i++)
            order[i] = i;
        for (i = b.n - 1; i > 0; i--) {
            uint64_t j, t;
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            j = (x >> 33) % (i + 1);
            t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    ix = make(VEX_INDEX_HNSW, m, b.dim, M, efc);
    add_live(ix, &b, dead);
    for (s = 0; s < sizeof shares / sizeof shares[0]; s++) {
        uint64_t target = (uint64_t)(shares[s] * (double)b.n);
        double t0 = now();
        for (; done < target; done++) {
            dead[order[done]] = 1;
            if (vex_index_remove(ix, order[done]) != VEX_OK) {
                fprintf(stderr, "remove: %s\n", vex_index_errmsg(ix));
                return 1;
            }
        }
        fprintf(stderr, "deleted %.0f%% (%.2f s incl. repair)\n",
                shares[s] * 100, now() - t0);
        exact_kth(&b, &q, dead, m, kth);
        fresh = make(VEX_INDEX_HNSW, m, b.dim, M, efc);
        add_live(fresh, &b, dead);
        report("after_delete", shares[s], ix, fresh, &q, kth, name);
        vex_index_free(fresh);
    }
    /* re-insert everything deleted */
    for (i = 0; i < done; i++) {
        uint64_t id = order[i];
        dead[id] = 0;
        if (vex_index_add(ix, &id, b.data + id * b.dim, 1) != VEX_OK) {
            fprintf(stderr, "re-add: %s\n", vex_index_errmsg(ix));
            return 1;
        }
    }
    if (vex_index_check(ix) != VEX_OK) {
        fprintf(stderr, "check: %s\n", vex_index_errmsg(ix));
        return 1;
    }
    exact_kth(&b, &q, dead, m, kth);
    fresh = make(VEX_INDEX_HNSW, m, b.dim, M, efc);
    add_live(fresh, &b, dead);
    report("reinserted", 0.0, ix, fresh, &q, kth, name);
    vex_index_free(fresh);
    vex_index_free(ix);
    vexio_vectors_free(&b);
    vexio_vectors_free(&q);
    free(dead);
    free(order);
    free(kth);
    return 0;
}
