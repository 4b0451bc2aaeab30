/*
 * index.h - the index method table.
 *
 * Every index kind (flat today; HNSW and Vamana later) plugs in behind this
 * table, the way SQLite's VFS plugs in behind sqlite3_io_methods. The engine
 * layer (src/engine/index_api.c) owns the public handle: it validates
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
} vex_index_config;

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
    int (*search)(void *ix, const void *query, size_t k, unsigned n_threads,
                  vex_hit *hits, size_t *n_hits);
    int (*search_batch)(void *ix, const void *queries, size_t n_queries,
                        size_t k, unsigned n_threads, vex_hit *hits,
                        size_t *n_hits);
    int (*range_search)(void *ix, const void *query, float radius,
                        unsigned n_threads, vex_hit *hits, size_t capacity,
                        uint64_t *n_total);
} vex_index_methods;

extern const vex_index_methods vex_flat_methods;

#endif
