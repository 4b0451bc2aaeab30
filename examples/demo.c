/*
 * demo.c - the README's first command: a tour of the public API.
 *
 * Generates a seeded, clustered dataset (so neighbours mean something),
 * builds an exact index, runs single, batch and range searches, shows that
 * remove and re-add work, and prints results and timings. Uses only
 * include/vexdb.h. Usage: vex-demo [n] [dim] (defaults 200000 x 128).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vexdb.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a seeded generator so every run shows the same data */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float gauss(uint64_t *s)
{
    double u1 = ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(next_u64(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* n points around 64 cluster centres */
static float *clustered(uint64_t *seed, size_t n, size_t dim,
                        const float *centres)
{
    float *v = malloc(n * dim * sizeof *v);
    size_t i, d;
    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        const float *c = centres + (next_u64(seed) % 64) * dim;
        for (d = 0; d < dim; d++)
            v[i * dim + d] = c[d] + 0.35f * gauss(seed);
    }
    return v;
}

static int fail(vex_index *ix, const char *what, int rc)
{
    fprintf(stderr, "demo: %s failed: %s (%s)\n", what, vex_errstr(rc),
            ix ? vex_index_errmsg(ix) : "");
    return 1;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    size_t dim = argc > 2 ? strtoul(argv[2], NULL, 10) : 128;
    const size_t nq = 1000, k = 10;
    uint64_t seed = 20261122, *ids = NULL, total;
    float *centres = NULL, *base = NULL, *queries = NULL;
    vex_hit *hits = NULL;
    size_t *n_hits = NULL, i, nh;
    vex_index_options opts;
    vex_search_params one;
    vex_index *ix = NULL;
    double t0, t_build, t_single, t_batch;
    int rc, status = 1;

    if (n < 10 || dim < 1 || dim > VEX_MAX_DIM) {
        fprintf(stderr, "usage: vex-demo [n >= 10] [dim 1..%d]\n", VEX_MAX_DIM);
        return 2;
    }
    printf("VexDB %s demo: %zu x %zu float32 vectors, L2, kernels: %s\n",
           vex_version(), n, dim, vex_simd_name());

    centres = malloc(64 * dim * sizeof *centres);
    ids = malloc(n * sizeof *ids);
    hits = malloc(nq * k * sizeof *hits);
    n_hits = malloc(nq * sizeof *n_hits);
    if (!centres || !ids || !hits || !n_hits)
        goto out;
    for (i = 0; i < 64 * dim; i++)
        centres[i] = 2.0f * gauss(&seed);
    base = clustered(&seed, n, dim, centres);
    queries = clustered(&seed, nq, dim, centres);
    if (!base || !queries)
        goto out;
    for (i = 0; i < n; i++)
        ids[i] = 1000 + i; /* ids are the caller's own 64-bit keys */

    vex_index_options_init(&opts);
    opts.kind = VEX_INDEX_FLAT;
    opts.metric = VEX_METRIC_L2;
    opts.dim = (uint32_t)dim;
    opts.capacity = n;
    rc = vex_index_create(&opts, &ix);
    if (rc != VEX_OK) {
        status = fail(ix, "vex_index_create", rc);
        goto out;
    }
    t0 = now();
    rc = vex_index_add(ix, ids, base, n);
    t_build = now() - t0;
    if (rc != VEX_OK) {
        status = fail(ix, "vex_index_add", rc);
        goto out;
    }
    printf("added %" PRIu64 " vectors in %.3f s, index memory %.1f MiB\n",
           vex_index_count(ix), t_build,
           (double)vex_index_memory(ix) / (1024.0 * 1024.0));

    /* one query on one thread, nearest first */
    vex_search_params_init(&one);
    one.n_threads = 1;
    rc = vex_index_search(ix, queries, k, &one, hits, &nh);
    if (rc != VEX_OK) {
        status = fail(ix, "vex_index_search", rc);
        goto out;
    }
    printf("\nnearest %zu to query 0:\n", nh);
    for (i = 0; i < nh; i++)
        printf("  %2zu. id %-8" PRIu64 " distance %.4f\n", i + 1, hits[i].id,
               hits[i].distance);

    t0 = now();
    for (i = 0; i < 100; i++) {
        rc = vex_index_search(ix, queries + i * dim, k, &one, hits, &nh);
        if (rc != VEX_OK) {
            status = fail(ix, "vex_index_search", rc);
            goto out;
        }
    }
    t_single = (now() - t0) / 100;

    t0 = now();
    rc = vex_index_search_batch(ix, queries, nq, k, NULL, hits, n_hits);
    t_batch = now() - t0;
    if (rc != VEX_OK) {
        status = fail(ix, "vex_index_search_batch", rc);
        goto out;
    }
    printf("\nsingle query, 1 thread: %.2f ms (%.2f GB/s of vectors read)\n",
           t_single * 1e3, (double)n * dim * 4 / t_single / 1e9);
    printf("batch of %zu queries, all threads: %.3f s, %.0f queries/s\n", nq,
           t_batch, (double)nq / t_batch);

    /* range search: how many vectors are within the 10th distance? */
    rc = vex_index_range_search(ix, queries, hits[k - 1].distance, NULL, NULL,
                                0, &total);
    if (rc != VEX_OK) {
        status = fail(ix, "vex_index_range_search", rc);
        goto out;
    }
    printf("range search: %" PRIu64 " vectors within distance %.4f of query "
           "0\n",
           total, hits[k - 1].distance);

    /* writes: remove the best hit, search again, put it back */
    {
        uint64_t best = hits[0].id;
        rc = vex_index_remove(ix, best);
        if (rc == VEX_OK)
            rc = vex_index_search(ix, queries, 1, NULL, hits, &nh);
        if (rc != VEX_OK) {
            status = fail(ix, "remove/search", rc);
            goto out;
        }
        printf("after removing id %" PRIu64 ", the nearest is id %" PRIu64 "\n",
               best, hits[0].id);
        rc = vex_index_add(ix, &best, base + (best - 1000) * dim, 1);
        if (rc != VEX_OK) {
            status = fail(ix, "re-add", rc);
            goto out;
        }
        /* adding it twice is an error with a message */
        rc = vex_index_add(ix, &best, base + (best - 1000) * dim, 1);
        printf("adding id %" PRIu64 " twice: %s: %s\n", best,
               vex_status_name(rc), vex_index_errmsg(ix));
    }
    status = 0;
out:
    if (status == 1 && ix == NULL && (!centres || !base))
        fprintf(stderr, "demo: out of memory\n");
    vex_index_free(ix);
    free(centres);
    free(base);
    free(queries);
    free(ids);
    free(hits);
    free(n_hits);
    return status;
}
