/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vamana.h - the Vamana graph of DiskANN (Subramanya et al., NeurIPS
 * 2019), built in memory over float32 vectors: the graph a disk-resident
 * segment stores next to its vectors (issue 21; the node file, PQ
 * navigation and the segment source build on this).
 *
 * The graph is flat (one level): every node has at most R out-links, and
 * searches start at the medoid (the vector nearest the centroid). The
 * build makes two passes over the nodes in a seeded random order, the
 * first with alpha = 1 and the second with the caller's alpha > 1: each
 * node's links are chosen by robust pruning among the nodes a greedy
 * search for its own vector visited, and every chosen neighbour links
 * back (pruned the same way when that overflows R). Both passes run on
 * the pool, nodes in parallel, each link list under a striped mutex;
 * searches read lists without the lock (words written with relaxed
 * atomic stores, the count last, as in the HNSW code), so a list read
 * mid-update is an older or a newer one, never torn. A single-threaded
 * build is deterministic for a seed.
 *
 * Distances: L2 (squared) and cosine (the vectors are normalised into the
 * graph's own copy and searched by L2, which orders them the same way).
 * Inner product is refused: robust pruning needs a metric in which the
 * triangle-like rule "alpha * d(p*, v) <= d(p, v)" means something.
 *
 * Threading: build and free are single-caller; any number of threads may
 * search a built graph at once, each with its own scratch.
 */
#ifndef VEX_INDEX_VAMANA_H
#define VEX_INDEX_VAMANA_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"
#include "vexdb.h"

typedef struct vx_vamana_params {
    vex_metric metric;  /* VEX_METRIC_L2 or VEX_METRIC_COSINE */
    uint32_t R;         /* out-degree bound, 4..256 */
    uint32_t L;         /* build search list size, >= R, <= 4096 */
    float alpha;        /* second pass pruning, 1.0..2.0 */
    uint64_t seed;      /* the order of the passes */
    unsigned n_threads; /* 0 = the whole pool */
    /* polled between nodes: when it turns non-zero the build stops and
     * returns VEX_BUSY ("cancelled"); NULL = never */
    const _Atomic int *cancel;
} vx_vamana_params;

/* Defaults of the DiskANN paper for in-memory builds: R 64, L 100,
 * alpha 1.2, L2. */
void vx_vamana_params_init(vx_vamana_params *p);

typedef struct vx_vamana vx_vamana;

/* A search's candidate: distance and node (a flag bit may ride on id). */
typedef struct vx_cand {
    float d;
    uint32_t id;
} vx_cand;

/* Insert (d, id) into list, sorted by d, holding *n entries of at most
 * cap (list has room for cap): returns its position, or cap when it is
 * not nearer than the last of a full list. Ties keep insertion order. */
uint32_t vx_cand_insert(vx_cand *list, uint32_t *n, uint32_t cap, float d,
                        uint32_t id);

/* Build the graph of the n vectors (n >= 1, dim >= 1, stored back to
 * back, read only during the build; the graph keeps its own copy for
 * searching). VEX_INVALID for bad parameters, VEX_NOMEM. */
int vx_vamana_build(const vex_mem *mem, vex_pool *pool, const float *vecs,
                    size_t n, uint32_t dim, const vx_vamana_params *p,
                    vx_vamana **out, vex_err *err);
void vx_vamana_free(vx_vamana *g);

uint32_t vx_vamana_count(const vx_vamana *g);
uint32_t vx_vamana_medoid(const vx_vamana *g);
/* Node i's out-links: *n of them at the returned array (valid while the
 * graph lives and is not being built). */
const uint32_t *vx_vamana_links(const vx_vamana *g, uint32_t i, uint32_t *n);

/* Search scratch for lists of up to L entries (one per thread). */
typedef struct vx_vamana_scratch vx_vamana_scratch;
int vx_vamana_scratch_create(const vx_vamana *g, uint32_t L,
                             vx_vamana_scratch **out);
void vx_vamana_scratch_free(const vx_vamana *g, vx_vamana_scratch *s);

/* The k nearest of q (k <= L) by a greedy search with list size L from
 * the medoid: hits[i].id is the node number, .distance the metric's
 * distance (squared L2; 1 - cosine similarity). Returns the count, and
 * the distance computations made in *n_dist when not NULL. No
 * allocation. */
size_t vx_vamana_search(const vx_vamana *g, vx_vamana_scratch *s,
                        const float *q, size_t k, uint32_t L, vex_hit *hits,
                        uint64_t *n_dist);

/* Nodes a search from the medoid cannot reach (by a walk over the links,
 * not a search): 0 for a connected graph. VEX_NOMEM. */
int vx_vamana_unreachable(const vx_vamana *g, const vex_mem *mem,
                          uint32_t *count);

#endif
