/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - what the vex tool's command files share: the command table
 * entries each file defines, and small helpers for timing and messages.
 */
#ifndef VEX_TOOLS_CLI_H
#define VEX_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "args.h"
#include "readers.h"
#include "vexdb.h"

extern const vex_cmd vex_cmd_bench;
extern const vex_cmd vex_cmd_gen;
extern const vex_cmd vex_cmd_info;
extern const vex_cmd vex_cmd_search;
extern const vex_cmd vex_cmd_stats;
extern const vex_cmd vex_cmd_collections;
extern const vex_cmd vex_cmd_compact;
extern const vex_cmd vex_cmd_count;
extern const vex_cmd vex_cmd_create;
extern const vex_cmd vex_cmd_delete;
extern const vex_cmd vex_cmd_drop;
extern const vex_cmd vex_cmd_export;
extern const vex_cmd vex_cmd_flush;
extern const vex_cmd vex_cmd_get;
extern const vex_cmd vex_cmd_import;
extern const vex_cmd vex_cmd_verify;
extern const vex_cmd vex_cmd_dump;
extern const vex_cmd vex_cmd_backup;
extern const vex_cmd vex_cmd_metrics;

/* seconds on CLOCK_MONOTONIC */
double vex_cli_now(void);

/* whether progress may be drawn on stderr (it is a terminal) */
int vex_cli_progress_enabled(void);

/* "\r<what> NN%" on stderr when enabled; done != 0 clears the line */
void vex_cli_progress(int enabled, const char *what, uint64_t i, uint64_t n,
                      int done);

/* The number of threads a handle with n_threads == 0 gets: the online
 * CPUs, capped at VEX_MAX_THREADS. */
unsigned vex_cli_online_cpus(void);

/* Print a JSON string literal (quotes and escapes included). */
void vex_cli_json_string(FILE *out, const char *s);

/* Create a flat index of n float32 vectors (ids 0..n-1), adding them in
 * chunks. On failure prints "vex CMD: ..." to stderr and returns the
 * status; *out is NULL then. */
int vex_cli_build_flat(const char *cmd, const float *data, uint64_t n,
                       uint32_t dim, vex_metric metric, uint32_t n_threads,
                       vex_index **out);

/* The same for any options (kind, metric, dim, threads and index
 * parameters filled in by the caller; capacity is set to n). */
int vex_cli_build(const char *cmd, const vex_index_options *opts,
                  const float *data, uint64_t n, vex_index **out);

/* Exact k nearest base ids of nq queries with the flat index's batch
 * search, all threads, into ids[nq * k]. Needs k <= count of idx. Prints
 * its own error message. */
int vex_cli_exact_knn(const char *cmd, vex_index *idx, const float *queries,
                      uint64_t nq, uint32_t dim, uint32_t k, int64_t *ids);

/* `vex bench --filter` / `--collection` (cmd_bench_filter.c): search
 * through a collection built from base vectors (and a metadata TSV), with
 * or without a filter; --serve answers passes on request. */
typedef struct vex_bench_filter_args {
    const char *base_path, *query_path, *gt_path, *meta_path, *filter, *db_path;
    vex_metric metric;
    int hnsw, json, serve;
    int collection;       /* several segments as they fill, compacted */
    uint32_t memtable_mb; /* with collection: the memtable size, 0 default */
    uint32_t k, M, ef_construction;
    uint64_t seed, max_queries;
    unsigned threads, repeat;
    const uint32_t *ef; /* n_ef values (0: the collection's default) */
    size_t n_ef;
} vex_bench_filter_args;

int vex_bench_filter(const vex_bench_filter_args *a);

/* What cmd_bench.c lends cmd_bench_filter.c: per query, the largest
 * distance a correct hit may have (from the ground truth's first k ids,
 * see `vex help bench`); recall@k counted against those thresholds; the
 * resident set size now (0 where unknown); latency percentiles. */
int vex_bench_thresholds(const vexio_vectors *base, const vexio_vectors *q,
                         const vexio_ids *gt, vex_metric m, uint32_t k,
                         double *thr);
double vex_bench_recall(const vex_hit *hits, const size_t *n_hits,
                        const double *thr, uint64_t nq, uint32_t k,
                        uint64_t n_base);
int64_t vex_bench_rss_now(void);
/* Sort n latencies and take their nearest-rank p50 and p99. */
void vex_bench_latency(double *lat, uint64_t n, double *p50, double *p99);

#endif
