/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_stats.c - `vex stats DB [COLLECTION...]`: the configuration and
 * state of a database's collections (vex_collection_get_config,
 * vex_stats_get, vex_stats_segments): dimension, metric, index, quantizer
 * and schema; rows live and awaiting compaction, memtables, unindexed
 * rows, segments and sizes on disk (for people: KiB, MiB, ...).
 * Opening a collection replays its log, so this also checks that it
 * opens; nothing is written (no flush, no compaction: background
 * compaction is turned off for this handle).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

typedef struct names {
    char **v;
    int n, cap;
} names;

static int add_name(void *ctx, const char *name)
{
    names *ns = ctx;
    if (ns->n == ns->cap) {
        int cap = ns->cap ? ns->cap * 2 : 16;
        char **v = realloc(ns->v, (size_t)cap * sizeof *v);
        if (v == NULL)
            return VEX_NOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n] = strdup(name);
    if (ns->v[ns->n] == NULL)
        return VEX_NOMEM;
    ns->n++;
    return 0;
}

static int print_one(vex_db *db, const char *name, int json, int segments)
{
    vex_collection *c = NULL;
    vex_stats st;
    vex_segment_stats *segs = NULL;
    vex_collection_config cfg;
    size_t n_segs = 0;
    char h1[32], h2[32], h3[32];
    int rc = vex_collection_open(db, name, &c);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex stats: %s: %s\n", name, vex_db_errmsg(db));
        return VEX_EXIT_FAIL;
    }
    vex_collection_get_config(c, &cfg);
    vex_stats_init(&st);
    rc = vex_stats_get(c, &st);
    if (rc == VEX_OK && segments) {
        rc = vex_stats_segments(c, NULL, 0, &n_segs);
        segs = calloc(n_segs ? n_segs : 1, sizeof *segs);
        if (rc == VEX_OK && segs)
            rc = vex_stats_segments(c, segs, n_segs, &n_segs);
    }
    if (rc != VEX_OK) {
        fprintf(stderr, "vex stats: %s: %s\n", name, vex_collection_errmsg(c));
        free(segs);
        vex_collection_close(c);
        return VEX_EXIT_FAIL;
    }
    if (json) {
        printf("{\"collection\":");
        vex_cli_json_string(stdout, name);
        printf(",\"live_rows\":%" PRIu64 ",\"deleted_rows\":%" PRIu64
               ",\"memtables\":%u,\"frozen_memtables\":%u,\"memtable_rows\":"
               "%" PRIu64 ",\"memtable_bytes\":%" PRIu64
               ",\"unindexed_rows\":%" PRIu64
               ",\"segments\":%u,\"segment_rows\":%" PRIu64
               ",\"segment_bytes\":%" PRIu64 ",\"disk_bytes\":%" PRIu64
               ",\"last_seq\":%" PRIu64 ",\"flushed_seq\":%" PRIu64,
               st.live_rows, st.deleted_rows, st.memtables, st.frozen_memtables,
               st.memtable_rows, st.memtable_bytes, st.unindexed_rows,
               st.segments, st.segment_rows, st.segment_bytes, st.disk_bytes,
               st.last_seq, st.flushed_seq);
        printf(",\"diskann_segments\":%u,\"diskann_resident_bytes\":%" PRIu64
               ",\"diskann_cache_bytes\":%" PRIu64,
               st.diskann_segments, st.diskann_resident_bytes,
               st.diskann_cache_bytes);
        if (segments) {
            printf(",\"segment_list\":[");
            for (size_t i = 0; i < n_segs; i++)
                printf("%s{\"number\":%" PRIu64 ",\"rows\":%" PRIu64
                       ",\"live_rows\":%" PRIu64 ",\"bytes\":%" PRIu64
                       ",\"index\":\"%s\"}",
                       i ? "," : "", segs[i].number, segs[i].rows,
                       segs[i].live_rows, segs[i].file_bytes,
                       vex_cli_index_name(segs[i].index_kind));
            printf("]");
        }
        printf(",\"dim\":%u,\"elem\":\"%s\",\"metric\":\"%s\",\"index\":"
               "\"%s\",\"quant\":\"%s\",",
               cfg.dim, vex_elem_name(cfg.elem), vex_metric_name(cfg.metric),
               vex_cli_index_name(cfg.index_kind),
               vex_cli_quant_name(cfg.quant));
        vex_cli_schema_json(stdout, &cfg);
        printf("}\n");
    } else {
        printf("%s:\n", name);
        printf("  vectors          %u x %s, metric %s\n", cfg.dim,
               vex_elem_name(cfg.elem), vex_metric_name(cfg.metric));
        printf("  index            %s", vex_cli_index_name(cfg.index_kind));
        if (cfg.index_kind == VEX_INDEX_HNSW)
            printf(" (M %u, ef_construction %u, ef_search %u)", cfg.hnsw_m,
                   cfg.hnsw_ef_construction, cfg.hnsw_ef_search);
        printf(", quantizer %s\n", vex_cli_quant_name(cfg.quant));
        if (cfg.diskann_min_rows)
            printf("  diskann          segments of %" PRIu64
                   "+ rows (R %u, L %u, alpha %g, %u code bytes)\n",
                   cfg.diskann_min_rows, cfg.diskann_r, cfg.diskann_l,
                   (double)cfg.diskann_alpha, cfg.diskann_pq_m);
        printf("  schema           ");
        vex_cli_schema_print(stdout, &cfg);
        printf("\n  live rows        %" PRIu64 "\n", st.live_rows);
        printf("  deleted rows     %" PRIu64 " (awaiting compaction)\n",
               st.deleted_rows);
        printf("  memtables        %u (%u frozen), %" PRIu64
               " rows, %s, %" PRIu64 " unindexed\n",
               st.memtables, st.frozen_memtables, st.memtable_rows,
               vex_cli_human_bytes(st.memtable_bytes, h1, sizeof h1),
               st.unindexed_rows);
        printf("  segments         %u, %" PRIu64 " rows, %s\n", st.segments,
               st.segment_rows,
               vex_cli_human_bytes(st.segment_bytes, h2, sizeof h2));
        if (st.diskann_segments)
            printf(
                "  diskann memory   %u segments, %s resident (%s node "
                "cache)\n",
                st.diskann_segments,
                vex_cli_human_bytes(st.diskann_resident_bytes, h1, sizeof h1),
                vex_cli_human_bytes(st.diskann_cache_bytes, h3, sizeof h3));
        printf("  on disk          %s (%" PRIu64 " bytes)\n",
               vex_cli_human_bytes(st.disk_bytes, h3, sizeof h3),
               st.disk_bytes);
        printf("  log              last write %" PRIu64
               ", in segments up to %" PRIu64 "\n",
               st.last_seq, st.flushed_seq);
        for (size_t i = 0; segments && i < n_segs; i++)
            printf("    seg-%016" PRIx64 ".vseg  %s  %" PRIu64 " rows, %" PRIu64
                   " live, %s\n",
                   segs[i].number, vex_cli_index_name(segs[i].index_kind),
                   segs[i].rows, segs[i].live_rows,
                   vex_cli_human_bytes(segs[i].file_bytes, h1, sizeof h1));
    }
    free(segs);
    vex_collection_close(c);
    return VEX_EXIT_OK;
}

static int run_stats(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                     int n_pos)
{
    vex_db *db = NULL;
    names ns = {NULL, 0, 0};
    int json = vals[vex_args_index(cmd, "json")].given;
    int segments = vals[vex_args_index(cmd, "segments")].given;
    int rc, status = VEX_EXIT_OK;
    /* read-only: works beside an application that holds the database
     * open, and writes nothing (no recovery, no flush, no compaction) */
    if (vex_cli_db_open("stats", pos[0], VEX_CLI_READ, &db) != VEX_OK)
        return VEX_EXIT_FAIL;
    if (n_pos == 1) {
        rc = vex_collection_list(db, add_name, &ns);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex stats: %s\n",
                    rc == VEX_NOMEM ? "out of memory" : vex_db_errmsg(db));
            status = VEX_EXIT_FAIL;
        }
        for (int i = 0; i < ns.n; i++) {
            if (print_one(db, ns.v[i], json, segments) != VEX_EXIT_OK)
                status = VEX_EXIT_FAIL;
            free(ns.v[i]);
        }
        free(ns.v);
    } else {
        for (int i = 1; i < n_pos; i++)
            if (print_one(db, pos[i], json, segments) != VEX_EXIT_OK)
                status = VEX_EXIT_FAIL;
    }
    if (vex_db_close(db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

static const vex_opt stats_opts[] = {
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "one JSON object per collection"},
    {"segments", VEX_OPT_FLAG, NULL, 0, 0, 0, "list every segment too"},
};

const vex_cmd vex_cmd_stats = {
    "stats",
    "show the state of a database's collections",
    "DB [COLLECTION...]",
    1,
    VEX_MAX_POS,
    stats_opts,
    sizeof stats_opts / sizeof stats_opts[0],
    "Opens the database read-only (reading each collection's log; it works\n"
    "while an application holds the database open, and shows the state as\n"
    "of its open) and prints, per collection (all of them when none is\n"
    "named): dimension, metric, index, quantizer, schema, live rows, rows "
    "deleted or overwritten awaiting compaction,\n"
    "memtables and their unindexed rows, segments and their sizes, and\n"
    "bytes on disk. Writes nothing.\n",
    run_stats,
};
