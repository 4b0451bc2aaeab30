/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.h - the index method table.
 *
 * The index layer has three levels. At the bottom, every index kind (flat
 * and HNSW; a disk-resident kind would be one more) plugs in behind this
 * method table, the way SQLite's VFS plugs in behind sqlite3_io_methods.
 * In the middle, the internal handle interface (index/ix.h, implemented
 * in handle.c) owns a kind's instance, its allocator and its worker pool;
 * it is the only way storage and engine reach an index. It trusts its
 * arguments (the caller validates each user call once with the
 * vx_ix_check_* functions) and reports every failure into a vex_err the
 * caller supplies. On top, the public vex_index_* functions (handle.c,
 * include/vexdb.h) validate the user's arguments (dimension, finiteness,
 * zero vectors under cosine, padding bits, k, search parameters) and call
 * the middle level with the handle's own message.
 *
 * An index implementation may therefore assume valid arguments, reports
 * into the `err` of each call (never into a message it keeps, which
 * concurrent calls would share), and does its own locking, because the
 * right granularity differs per kind (one rwlock for flat, per-node locks
 * for HNSW).
 */
#ifndef VEX_INDEX_H
#define VEX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "index/blob.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"
#include "vexdb.h"

/* Largest number of vectors one in-memory index holds. */
#define VEX_INDEX_MAX_VECTORS (UINT64_C(1) << 40)

typedef struct vex_index_config {
    vex_elem elem;
    vex_metric metric;
    uint32_t dim;
    size_t vec_bytes; /* vex_vector_size(elem, dim) */
    uint64_t capacity;
    /* HNSW, resolved (no zeros): */
    uint32_t hnsw_m, hnsw_ef_construction, hnsw_ef_search;
    uint64_t hnsw_seed;
    /* quantization, resolved: quant 0 = none; quant_m 0 only when not
     * PQ/OPQ; quant_refine the default refine (0 without a quantizer) */
    uint32_t quant, quant_m, quant_bits;
    float quant_refine;
} vex_index_config;

/* One search call's options: the internal form of vex_search_params
 * plus the cut. Built once per user call (vx_ix_search_opts_init, then
 * the caller's fields, or vx_ix_check_params from public params) and
 * handed to every source unchanged; nothing below re-checks it. */
/* The work one search did, for explain (vex_search_stats.explain):
 * added to by the index and the sources when a caller asks for it. */
typedef struct vx_work {
    uint64_t distances; /* distances computed (to vectors or codes) */
    uint64_t visited;   /* graph nodes expanded by a walk */
    uint64_t scanned;   /* rows an exact pass examined */
} vx_work;

/* How far a filtered walk may widen its beam by default: filter_max_ef 0
 * means this many times its ef (the planner sizes its walks within it). */
#define VX_FILTER_EF_GROWTH 16

typedef struct vex_search_opts {
    unsigned n_threads; /* 0 = the whole pool */
    unsigned ef;        /* 0 = the index default; 0 for flat */
    vex_filter_fn filter;
    void *filter_ctx;
    unsigned filter_max_ef; /* 0 = VX_FILTER_EF_GROWTH x ef */
    float refine;           /* 0 = the index default (quantized only) */
    /* HNSW k-NN: the caller already holds k results, the worst at this
     * distance; the beam beyond its k nearest stops growing past it (see
     * the beam in hnsw.c). INFINITY (the default) = no cut. Flat ignores
     * it: an exact scan has nothing to prune. */
    float cut;
    /* k-NN only: when not NULL, the search adds its work here (NULL, the
     * default, costs nothing) */
    vx_work *work;
} vex_search_opts;

static inline int vex_accept(const vex_search_opts *so, uint64_t id)
{
    return so->filter == NULL || so->filter(id, so->filter_ctx) != 0;
}

/* Graph statistics for tests and `vex_index_check`. */
typedef struct vex_graph_stats {
    uint64_t nodes, deleted, free_slots;
    uint64_t links;       /* level-0 links */
    uint64_t reciprocal;  /* level-0 links whose target links back */
    uint64_t unreachable; /* live nodes not reachable from the entry */
    uint32_t max_level;
    uint32_t min_degree, max_degree; /* level 0, live nodes */
} vex_graph_stats;

/* Callback of the scan method: one live vector; `vec` is valid during the
 * call only. */
typedef int (*vex_scan_fn)(void *ctx, uint64_t id, const void *vec);

/* Callback of the links method: the links of live node `id` (whose top
 * level is `top`) at level `level`, as the ids of live nodes; `links` is
 * valid during the call only. A non-zero return stops the walk. */
typedef int (*vex_links_fn)(void *ctx, uint64_t id, unsigned top,
                            unsigned level, const uint64_t *links, size_t n);

typedef struct vex_index_methods {
    const char *name;
    /* `mem` and `pool` outlive the instance; `err` receives this call's
     * failure only and is not kept. Every method that can fail takes the
     * `err` of its call (never NULL): concurrent calls on one instance
     * report into their callers' messages, never into a shared one. */
    int (*create)(const vex_mem *mem, vex_pool *pool, vex_err *err,
                  const vex_index_config *cfg, void **out);
    void (*destroy)(void *ix);
    /* Make room for `n` vectors in total. */
    int (*reserve)(void *ix, uint64_t n, vex_err *err);
    /* Add n vectors, on at most max_threads threads of the pool (0: all
     * it has). */
    int (*add)(void *ix, const uint64_t *ids, const void *vecs, size_t n,
               unsigned max_threads, vex_err *err);
    int (*remove)(void *ix, uint64_t id, vex_err *err);
    int (*get)(void *ix, uint64_t id, void *vec_out, vex_err *err);
    uint64_t (*count)(void *ix);
    uint64_t (*memory)(void *ix);
    int (*search)(void *ix, const void *query, size_t k,
                  const vex_search_opts *so, vex_hit *hits, size_t *n_hits,
                  vex_err *err);
    int (*search_batch)(void *ix, const void *queries, size_t n_queries,
                        size_t k, const vex_search_opts *so, vex_hit *hits,
                        size_t *n_hits, vex_err *err);
    int (*range_search)(void *ix, const void *query, float radius,
                        const vex_search_opts *so, vex_hit *hits,
                        size_t capacity, uint64_t *n_total, vex_err *err);
    /* Verify internal invariants; VEX_CORRUPT with a message if broken.
     * `stats` may be NULL; kinds without a graph leave it zeroed. */
    int (*check)(void *ix, vex_graph_stats *stats, vex_err *err);
    /* Write the index as a blob (index/blob.h) into buf[0..size). Sets
     * *needed to the blob's size; when buf is NULL or size is smaller,
     * writes nothing and returns VEX_FULL (with a message). The index is
     * quiet while it is copied: no add or remove runs (HNSW lets
     * searches run meanwhile; flat locks them out). */
    int (*serialize)(void *ix, unsigned char *buf, uint64_t size,
                     uint64_t *needed, vex_err *err);
    /* Create an instance from a parsed blob. With borrow != 0 the instance
     * may keep pointers into buf, which then outlives it; otherwise it
     * copies. Every structural invariant is checked: VEX_CORRUPT. */
    int (*open)(const vex_mem *mem, vex_pool *pool, vex_err *err,
                const vex_index_config *cfg, const vex_blob_info *info,
                const unsigned char *buf, int borrow, void **out);
    /* Call fn(ctx, id, vector) for every live vector, in slot order, under
     * the index's read lock (fn must not call into the index). A non-zero
     * return from fn stops the scan and becomes scan's return value. */
    int (*scan)(void *ix, vex_scan_fn fn, void *ctx);
    /* Train the quantizer (cfg->quant != 0, untrained) on n float32 rows,
     * or on the index's own vectors when sample is NULL, and encode every
     * vector; see vex_index_train. */
    int (*train)(void *ix, const float *sample, size_t n, vex_err *err);
    /* Bytes per code, 0 when unquantized. */
    size_t (*code_size)(void *ix);
    /* After a run of adds: finish the maintenance adds amortise over many
     * calls (HNSW: the reachability pass, so that every live node can be
     * reached from the entry point), under the same rules as add. */
    int (*settle)(void *ix, vex_err *err);
    /* Graph kinds: call fn for every level of every live node, in slot
     * order, under the index's read lock (fn must not call into the
     * index), and set *entry to the entry point's id (VEX_NOTFOUND when
     * the index is empty). The caller settles first if it needs every
     * node reachable. NULL for kinds without a graph. Used to copy a graph
     * built here into another store (the PostgreSQL extension's pages). */
    int (*links)(void *ix, vex_links_fn fn, void *ctx, uint64_t *entry,
                 vex_err *err);
    /* Exact distances from `query` (with its vx_exact_query_aux `qaux`)
     * to the stored vectors of ids[0..n), read where they lie: the bits
     * vx_exact_block gives, without copying the vectors out (an exact
     * plan over a segment's matching rows). At most VX_IX_SCORE_MAX ids
     * a call. VEX_NOTFOUND naming the first id not in the index. NULL for
     * kinds that do not keep full vectors addressable (then get). */
    int (*score)(void *ix, const void *query, float qaux, const uint64_t *ids,
                 size_t n, float *dist, vex_err *err);
} vex_index_methods;

#define VX_IX_SCORE_MAX 256

/* Whether a vector is acceptable for an index of this configuration:
 * float32 components finite with a finite squared norm (non-zero under
 * cosine), bit vectors with zero padding bits. VEX_INVALID with the reason
 * in `why` otherwise. Shared by input validation and by index loaders. */
int vx_vector_check(const vex_index_config *c, const void *v, char *why,
                    size_t why_size);

/* Exact distances as the flat index computes them, for callers that keep
 * vectors of their own (the memtable): the same vector gets the same bits
 * from either. vx_exact_block scores the query against `cnt` vectors
 * stored back to back at `base` (cfg->vec_bytes apart); `aux` holds each
 * vector's vx_exact_vec_aux() (read only for cosine; may be NULL
 * otherwise) and `qaux` the query's vx_exact_query_aux(). No allocation;
 * blocks of any size. */
struct vex_simd_table;
float vx_exact_query_aux(const vex_index_config *cfg,
                         const struct vex_simd_table *s, const void *q);
float vx_exact_vec_aux(const vex_index_config *cfg,
                       const struct vex_simd_table *s, const void *v);
void vx_exact_block(const vex_index_config *cfg, const struct vex_simd_table *s,
                    const void *q, float qaux, const unsigned char *base,
                    size_t cnt, const float *aux, float *dist);
/* The same distances for `cnt` vectors anywhere (x[j] each, aux[j] its
 * vx_exact_vec_aux): bit for bit what vx_exact_block gives the same
 * vectors (the four-vector kernels sum in the batch kernels' order). */
void vx_exact_ptrs(const vex_index_config *cfg, const struct vex_simd_table *s,
                   const void *q, float qaux, const unsigned char *const *x,
                   size_t cnt, const float *aux, float *dist);

extern const vex_index_methods vx_flat_methods;
extern const vex_index_methods vx_hnsw_methods;

#endif
