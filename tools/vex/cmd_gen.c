/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_gen.c - `vex gen`: writes a seeded synthetic dataset, PREFIX_base.fvecs,
 * PREFIX_query.fvecs and the exact PREFIX_groundtruth.ivecs (computed with
 * the library's flat index, batch search). The vectors are gaussian
 * clusters, not uniform noise: uniform data in high dimension has nearly
 * equal distances to everything, which makes recall numbers meaningless.
 * Centres are N(0, 1) per component; each cluster has its own spread in
 * [0.3, 0.7); queries come from the same mixture with a separate stream of
 * the same seed, so they are near but not in the base. The generator is
 * splitmix64 with Box-Muller normals, written here because the tool may
 * only use the public API; the same seed gives the same files on every
 * machine (given the same libm).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "readers.h"
#include "vexdb.h"

typedef struct gen_rng {
    uint64_t state;
    int have_spare;
    double spare;
} gen_rng;

static uint64_t gen_next(gen_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in (0, 1) */
static double gen_uniform(gen_rng *r)
{
    return ((double)(gen_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double gen_normal(gen_rng *r)
{
    double u, v, m;
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    u = gen_uniform(r);
    v = gen_uniform(r);
    m = sqrt(-2.0 * log(u));
    r->spare = m * sin(6.283185307179586 * v);
    r->have_spare = 1;
    return m * cos(6.283185307179586 * v);
}

static void gen_points(gen_rng *r, const float *centres, const float *spread,
                       uint32_t n_centres, uint32_t dim, uint64_t n, float *out)
{
    uint64_t i;
    uint32_t j;
    for (i = 0; i < n; i++) {
        uint32_t c = (uint32_t)(gen_next(r) % n_centres);
        const float *ctr = centres + (size_t)c * dim;
        for (j = 0; j < dim; j++)
            out[i * dim + j] = (float)(ctr[j] + spread[c] * gen_normal(r));
    }
}

static int run_gen(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                   int n_pos)
{
    uint64_t n = vals[vex_args_index(cmd, "n")].u;
    uint32_t dim = (uint32_t)vals[vex_args_index(cmd, "dim")].u;
    const vex_optval *seed_v = &vals[vex_args_index(cmd, "seed")];
    const vex_optval *q_v = &vals[vex_args_index(cmd, "queries")];
    const vex_optval *k_v = &vals[vex_args_index(cmd, "k")];
    const vex_optval *m_v = &vals[vex_args_index(cmd, "metric")];
    const vex_optval *t_v = &vals[vex_args_index(cmd, "threads")];
    const char *prefix = vals[vex_args_index(cmd, "out")].str;
    uint64_t seed = seed_v->given ? seed_v->u : 1;
    uint64_t nq = q_v->given ? q_v->u : 100;
    uint32_t k = k_v->given ? (uint32_t)k_v->u : (n < 100 ? (uint32_t)n : 100);
    uint32_t n_threads = t_v->given ? (uint32_t)t_v->u : 0, n_centres, c, j;
    vex_metric metric = VEX_METRIC_L2;
    float *base = NULL, *queries = NULL, *centres = NULL, *spread = NULL;
    int64_t *gt = NULL;
    vex_index *idx = NULL;
    char path_base[4096], path_query[4096], path_gt[4096];
    vexio_error err;
    gen_rng rng;
    double t0;
    int status = VEX_EXIT_FAIL;
    (void)pos;
    (void)n_pos;

    if (m_v->given && (vex_metric_parse(m_v->str, &metric) != VEX_OK ||
                       (metric != VEX_METRIC_L2 && metric != VEX_METRIC_IP &&
                        metric != VEX_METRIC_COSINE))) {
        fprintf(stderr,
                "vex gen: --metric must be l2, ip or cosine, not '%s'\n",
                m_v->str);
        return VEX_EXIT_USAGE;
    }
    if (k > n) {
        fprintf(stderr, "vex gen: --k %" PRIu32 " exceeds --n %" PRIu64 "\n", k,
                n);
        return VEX_EXIT_USAGE;
    }
    if ((size_t)snprintf(path_base, sizeof path_base, "%s_base.fvecs",
                         prefix) >= sizeof path_base ||
        (size_t)snprintf(path_query, sizeof path_query, "%s_query.fvecs",
                         prefix) >= sizeof path_query ||
        (size_t)snprintf(path_gt, sizeof path_gt, "%s_groundtruth.ivecs",
                         prefix) >= sizeof path_gt) {
        fprintf(stderr, "vex gen: --out prefix is too long\n");
        return VEX_EXIT_USAGE;
    }

    n_centres = (uint32_t)sqrt((double)n);
    if (n_centres < 1)
        n_centres = 1;
    if (n_centres > 4096)
        n_centres = 4096;
    base = malloc((size_t)n * dim * sizeof(float));
    queries = malloc((size_t)nq * dim * sizeof(float));
    centres = malloc((size_t)n_centres * dim * sizeof(float));
    spread = malloc((size_t)n_centres * sizeof(float));
    gt = malloc((size_t)nq * k * sizeof(int64_t));
    if (!base || !queries || !centres || !spread || !gt) {
        fprintf(stderr,
                "vex gen: out of memory for %" PRIu64 " x %" PRIu32
                " vectors\n",
                n, dim);
        goto cleanup;
    }
    t0 = vex_cli_now();
    memset(&rng, 0, sizeof rng);
    rng.state = seed;
    for (c = 0; c < n_centres; c++) {
        spread[c] = (float)(0.3 + 0.4 * gen_uniform(&rng));
        for (j = 0; j < dim; j++)
            centres[(size_t)c * dim + j] = (float)gen_normal(&rng);
    }
    gen_points(&rng, centres, spread, n_centres, dim, n, base);
    memset(&rng, 0, sizeof rng);
    rng.state = seed ^ 0x5851f42d4c957f2dULL; /* the query stream */
    gen_points(&rng, centres, spread, n_centres, dim, nq, queries);

    if (vexio_write_fvecs(path_base, dim, n, base, &err) != VEX_OK ||
        vexio_write_fvecs(path_query, dim, nq, queries, &err) != VEX_OK) {
        fprintf(stderr, "vex gen: %s\n", err.msg);
        goto cleanup;
    }
    if (vex_cli_build_flat("gen", base, n, dim, metric, n_threads, &idx) !=
        VEX_OK)
        goto cleanup;
    if (vex_cli_exact_knn("gen", idx, queries, nq, dim, k, gt) != VEX_OK)
        goto cleanup;
    if (vexio_write_ivecs(path_gt, k, nq, gt, &err) != VEX_OK) {
        fprintf(stderr, "vex gen: %s\n", err.msg);
        goto cleanup;
    }
    printf("wrote %s (%" PRIu64 " x %" PRIu32 ")\n", path_base, n, dim);
    printf("wrote %s (%" PRIu64 " x %" PRIu32 ")\n", path_query, nq, dim);
    printf("wrote %s (%" PRIu64 " x %" PRIu32
           ", exact %s neighbours, nearest first)\n",
           path_gt, nq, k, vex_metric_name(metric));
    printf("seed %" PRIu64 ", %" PRIu32 " gaussian clusters, %.2f s\n", seed,
           n_centres, vex_cli_now() - t0);
    status = VEX_EXIT_OK;
cleanup:
    vex_index_free(idx);
    free(base);
    free(queries);
    free(centres);
    free(spread);
    free(gt);
    return status;
}

static const vex_opt gen_opts[] = {
    {"n", VEX_OPT_UINT, "N", 1, 1, INT32_MAX, "number of base vectors"},
    {"dim", VEX_OPT_UINT, "D", 1, 1, VEX_MAX_DIM, "dimension"},
    {"queries", VEX_OPT_UINT, "Q", 0, 1, 100000000,
     "number of query vectors (default 100)"},
    {"seed", VEX_OPT_UINT, "S", 0, 0, UINT64_MAX, "random seed (default 1)"},
    {"out", VEX_OPT_STRING, "PREFIX", 1, 0, 0,
     "writes PREFIX_base.fvecs, PREFIX_query.fvecs, PREFIX_groundtruth.ivecs"},
    {"metric", VEX_OPT_STRING, "l2|ip|cosine", 0, 0, 0,
     "metric of the ground truth (default l2)"},
    {"k", VEX_OPT_UINT, "K", 0, 1, VEX_MAX_K,
     "neighbours per query in the ground truth (default min(100, N))"},
    {"threads", VEX_OPT_UINT, "T", 0, 0, VEX_MAX_THREADS,
     "threads for the exact search (default 0 = all CPUs)"},
};

const vex_cmd vex_cmd_gen = {
    "gen",
    "write a seeded synthetic dataset with exact ground truth",
    "",
    0,
    0,
    gen_opts,
    sizeof gen_opts / sizeof gen_opts[0],
    "The vectors are gaussian clusters (about sqrt(N) of them, at most 4096),\n"
    "not uniform noise. The ground truth lists, for each query, the ids\n"
    "(0-based record numbers of the base file) of its K nearest base vectors,\n"
    "nearest first, found by exact search with the flat index; ids must fit\n"
    "in int32. The same seed always gives the same files.\n"
    "\nexample: vex gen --n 1000000 --dim 128 --queries 1000 --out "
    "/tmp/synth\n",
    run_gen,
};
