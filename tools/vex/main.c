/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - entry point of the vex command-line tool: finds the command,
 * parses its options (args.c) and runs it; `vex --help`, `vex help CMD`,
 * `vex CMD --help` and `vex --version`; the index-building helpers of
 * cli.h (the others are in cliutil.c). Results go
 * to stdout, messages to stderr; exit 0 on success, 1 when the work failed,
 * 2 for a bad command line. The tool uses only the public API (vexdb.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vexdb.h"

/* One command per line, so that adding one is a one-line change. */
/* clang-format off */
static const vex_cmd *const commands[] = {
    &vex_cmd_backup,
    &vex_cmd_bench,
    &vex_cmd_collections,
    &vex_cmd_compact,
    &vex_cmd_count,
    &vex_cmd_create,
    &vex_cmd_delete,
    &vex_cmd_drop,
    &vex_cmd_dump,
    &vex_cmd_export,
    &vex_cmd_flush,
    &vex_cmd_gen,
    &vex_cmd_get,
    &vex_cmd_import,
    &vex_cmd_metrics,
    &vex_cmd_info,
    &vex_cmd_search,
    &vex_cmd_stats,
    &vex_cmd_verify,
};
/* clang-format on */
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int vex_cli_build_flat(const char *cmd, const float *data, uint64_t n,
                       uint32_t dim, vex_metric metric, uint32_t n_threads,
                       vex_index **out)
{
    vex_index_options o;
    vex_index_options_init(&o);
    o.kind = VEX_INDEX_FLAT;
    o.elem = VEX_ELEM_F32;
    o.metric = metric;
    o.dim = dim;
    o.n_threads = n_threads;
    return vex_cli_build(cmd, &o, data, n, out);
}

int vex_cli_build(const char *cmd, const vex_index_options *opts,
                  const float *data, uint64_t n, vex_index **out)
{
    enum { CHUNK = 16384 };
    vex_index_options o = *opts;
    vex_index *idx = NULL;
    uint64_t *ids = NULL, i;
    uint32_t dim = opts->dim;
    int rc, progress = vex_cli_progress_enabled();

    *out = NULL;
    o.capacity = n;
    rc = vex_index_create(&o, &idx);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex %s: cannot create the index: %s\n", cmd,
                idx ? vex_index_errmsg(idx) : vex_errstr(rc));
        goto cleanup;
    }
    ids = malloc(CHUNK * sizeof *ids);
    if (!ids) {
        rc = VEX_NOMEM;
        fprintf(stderr, "vex %s: out of memory\n", cmd);
        goto cleanup;
    }
    for (i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? (size_t)(n - i) : CHUNK, j;
        for (j = 0; j < m; j++)
            ids[j] = i + j;
        rc = vex_index_add(idx, ids, data + i * dim, m);
        if (rc != VEX_OK) {
            vex_cli_progress(progress, "", 0, 0, 1);
            fprintf(stderr,
                    "vex %s: adding base vectors %" PRIu64 "..%" PRIu64
                    " failed: %s\n",
                    cmd, i, i + m - 1, vex_index_errmsg(idx));
            goto cleanup;
        }
        vex_cli_progress(progress, "adding vectors", i + m, n, 0);
    }
    vex_cli_progress(progress, "", 0, 0, 1);
    *out = idx;
    idx = NULL;
cleanup:
    vex_index_free(idx);
    free(ids);
    return rc;
}

int vex_cli_exact_knn(const char *cmd, vex_index *idx, const float *queries,
                      uint64_t nq, uint32_t dim, uint32_t k, int64_t *ids)
{
    enum { BATCH = 1024 };
    vex_search_params sp;
    vex_hit *hits = NULL;
    size_t *n_hits = NULL;
    uint64_t i;
    int rc = VEX_OK, progress = vex_cli_progress_enabled();

    vex_search_params_init(&sp);
    sp.n_threads = 0;
    hits = malloc((size_t)BATCH * k * sizeof *hits);
    n_hits = malloc(BATCH * sizeof *n_hits);
    if (!hits || !n_hits) {
        rc = VEX_NOMEM;
        fprintf(stderr, "vex %s: out of memory for the ground truth\n", cmd);
        goto cleanup;
    }
    for (i = 0; i < nq; i += BATCH) {
        size_t m = nq - i < BATCH ? (size_t)(nq - i) : BATCH, j, h;
        rc = vex_index_search_batch(idx, queries + i * dim, m, k, &sp, hits,
                                    n_hits);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex %s: exact search failed: %s\n", cmd,
                    vex_index_errmsg(idx));
            goto cleanup;
        }
        for (j = 0; j < m; j++) {
            if (n_hits[j] != k) {
                rc = VEX_INTERNAL;
                fprintf(stderr,
                        "vex %s: exact search of query %" PRIu64
                        " gave %zu hits, %" PRIu32 " wanted\n",
                        cmd, i + j, n_hits[j], k);
                goto cleanup;
            }
            for (h = 0; h < k; h++)
                ids[(i + j) * k + h] = (int64_t)hits[j * k + h].id;
        }
        vex_cli_progress(progress, "exact ground truth", i + m, nq, 0);
    }
    vex_cli_progress(progress, "", 0, 0, 1);
cleanup:
    free(hits);
    free(n_hits);
    return rc;
}

static void main_help(FILE *out)
{
    size_t i;
    fprintf(out, "usage: vex COMMAND [options]\n\n"
                 "The VexDB command-line tool.\n\ncommands:\n");
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n  vex help COMMAND    or   vex COMMAND --help   for its "
                 "options\n"
                 "  vex --version       versions of the tool and library\n"
                 "\nExit status: 0 success, 1 failure, 2 bad command line.\n");
}

static const vex_cmd *find_command(const char *name)
{
    size_t i;
    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* vex --version: the tool's and the library's versions, the SIMD kernels
 * in use and runnable here, and the optional features compiled in (and
 * those left out, so a user can tell why a zstd collection is refused). */
static void print_version(void)
{
    static const char *const simd[] = {"scalar", "avx2", "avx512", "neon"};
    uint32_t have = vex_features();
    printf("vex %s (libvexdb %s)\n", VEX_VERSION_STRING, vex_version());
    printf("simd: %s (this CPU runs:", vex_simd_name());
    for (size_t i = 0; i < sizeof simd / sizeof *simd; i++)
        if (vex_simd_supported(simd[i]))
            printf(" %s", simd[i]);
    printf(")\nfeatures:");
    for (uint32_t bit = 1; bit != 0; bit <<= 1)
        if ((have & bit) && vex_feature_name(bit))
            printf(" %s", vex_feature_name(bit));
    if (have == 0)
        printf(" none");
    printf("\n");
    int missing = 0;
    for (uint32_t bit = 1; bit != 0; bit <<= 1)
        if (!(have & bit) && vex_feature_name(bit))
            printf("%s %s",
                   missing++ ? "," : "built without:", vex_feature_name(bit));
    if (missing)
        printf("\n");
    if (!(have & VEX_FEATURE_ZSTD))
        printf("(VEX_COMPRESS_ZSTD collections cannot be created or opened "
               "by this build)\n");
}

int main(int argc, char **argv)
{
    const vex_cmd *cmd;
    vex_optval vals[VEX_MAX_OPTS];
    char *pos[VEX_MAX_POS];
    int n_pos = 0, rc;

    if (argc < 2) {
        main_help(stderr);
        return VEX_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        main_help(stdout);
        return VEX_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        print_version();
        return VEX_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc == 2) {
            main_help(stdout);
            return VEX_EXIT_OK;
        }
        cmd = find_command(argv[2]);
        if (!cmd || argc > 3) {
            fprintf(stderr,
                    "vex help: unknown command '%s' (see 'vex --help')\n",
                    argc > 3 ? argv[3] : argv[2]);
            return VEX_EXIT_USAGE;
        }
        vex_args_help(cmd, stdout);
        return VEX_EXIT_OK;
    }
    cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "vex: unknown %s '%s' (see 'vex --help')\n",
                argv[1][0] == '-' ? "option" : "command", argv[1]);
        return VEX_EXIT_USAGE;
    }
    rc = vex_args_parse(cmd, argc - 2, argv + 2, vals, pos, &n_pos);
    if (rc < 0) {
        vex_args_help(cmd, stdout);
        return VEX_EXIT_OK;
    }
    if (rc != VEX_EXIT_OK)
        return rc;
    return cmd->run(cmd, vals, pos, n_pos);
}
