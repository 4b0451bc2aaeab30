/*
 * index.h - the index method table.
 *
 * Every index kind (flat and HNSW; a disk-resident kind would be one more) plugs in behind this
 * table, the way SQLite's VFS plugs in behind sqlite3_io_methods. The
 * public handle (src/index/handle.c) sits in front: it validates
 * options and inputs once for every kind (dimension, finiteness, zero
 * vectors under cosine, padding bits, k), owns the allocator, the error
 * message and the worker pool, and then calls into the table. An index
 * implementation may therefore assume valid arguments, and does its own
 * locking, because the right granularity differs per kind (one rwlock for
 * flat, per-node locks for HNSW).
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

/* One search call's parameters, validated by the engine. */
typedef struct vex_search_opts {
    unsigned n_threads; /* 0 = the whole pool */
    unsigned ef;        /* 0 = the index default; 0 for flat */
    vex_filter_fn filter;
    void *filter_ctx;
    unsigned filter_max_ef; /* 0 = 16 x ef */
    float refine;           /* 0 = the index default (quantized only) */
    /* HNSW k-NN: the caller already holds k results, the worst at this
     * distance; the beam beyond its k nearest stops growing past it (see
     * the beam in hnsw.c). INFINITY (the default) = no cut. Flat ignores
     * it: an exact scan has nothing to prune. */
    float cut;
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

typedef struct vex_index_methods {
    const char *name;
    /* `mem`, `pool` and `err` outlive the instance. */
    int (*create)(const vex_mem *mem, vex_pool *pool, vex_err *err,
                  const vex_index_config *cfg, void **out);
    void (*destroy)(void *ix);
    /* Make room for `n` vectors in total. */
    int (*reserve)(void *ix, uint64_t n);
    int (*add)(void *ix, const uint64_t *ids, const void *vecs, size_t n);
    int (*remove)(void *ix, uint64_t id);
    int (*get)(void *ix, uint64_t id, void *vec_out);
    uint64_t (*count)(void *ix);
    uint64_t (*memory)(void *ix);
    int (*search)(void *ix, const void *query, size_t k,
                  const vex_search_opts *so, vex_hit *hits, size_t *n_hits);
    int (*search_batch)(void *ix, const void *queries, size_t n_queries,
                        size_t k, const vex_search_opts *so, vex_hit *hits,
                        size_t *n_hits);
    int (*range_search)(void *ix, const void *query, float radius,
                        const vex_search_opts *so, vex_hit *hits,
                        size_t capacity, uint64_t *n_total);
    /* Verify internal invariants; VEX_CORRUPT with a message if broken.
     * `stats` may be NULL; kinds without a graph leave it zeroed. */
    int (*check)(void *ix, vex_graph_stats *stats);
    /* Write the index as a blob (index/blob.h) into buf[0..size). Sets
     * *needed to the blob's size; when buf is NULL or size is smaller,
     * writes nothing and returns VEX_FULL (with a message). The index is
     * quiet while it is copied: no add or remove runs (HNSW lets
     * searches run meanwhile; flat locks them out). */
    int (*serialize)(void *ix, unsigned char *buf, uint64_t size,
                     uint64_t *needed);
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
    int (*train)(void *ix, const float *sample, size_t n);
    /* Bytes per code, 0 when unquantized. */
    size_t (*code_size)(void *ix);
} vex_index_methods;

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

extern const vex_index_methods vx_flat_methods;
extern const vex_index_methods vx_hnsw_methods;

/* ---- the public handle (index/handle.c), internal entry points ---- */

/* Run the index's invariant check and return its graph statistics. */
int vx_index_graph_stats(vex_index *ix, vex_graph_stats *stats);

/* The option checks of vex_index_create(), reporting into `e`. */
int vx_check_index_options(const vex_index_options *o, vex_err *e);

/* Resolve adaptive (0) HNSW parameters of `o` into c->hnsw_* (the rule is
 * documented with vex_index_options). */
void vx_hnsw_defaults(vex_index_config *c, const vex_index_options *o);

/* Resolve the quantization options of `o` (already checked) into
 * c->quant* (the rule is documented with vex_index_options). */
void vx_quant_defaults(vex_index_config *c, const vex_index_options *o);

/* Train a quantized index on its own vectors unless it is trained
 * already; an index with too few vectors for its quantizer stays
 * untrained (and is searched at full precision): VEX_OK then too. No-op
 * without a quantizer. */
int vx_index_train_own(vex_index *ix);

/* Call fn for every live vector of the index (see the scan method in
 * index/index.h). */
int vx_index_scan(vex_index *ix, vex_scan_fn fn, void *ctx);

/* vex_index_create / vex_index_open_buffer on a pool the caller owns and
 * keeps alive until vex_index_free (the database's: memtables and
 * segments then start no threads of their own). opts->n_threads is then
 * only the width of the index's parallel loops. */
int vx_index_create(const vex_index_options *opts, vex_pool *pool,
                    vex_index **out);
int vx_index_open_buffer(const void *buf, uint64_t size,
                         const vex_open_options *opts, vex_pool *pool,
                         vex_index **out);

/* vex_index_search with a cut (vex_search_opts.cut): the caller already
 * holds k results, the worst at distance `cut` (INFINITY: none), so an
 * HNSW search may stop widening its beam past it. Hits beyond the cut may
 * still be returned; the caller's merge drops them. */
int vx_index_search_cut(vex_index *ix, const void *query, size_t k,
                        const vex_search_params *params, float cut,
                        vex_hit *hits, size_t *n_hits);

#endif
