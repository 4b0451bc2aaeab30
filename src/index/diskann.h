/* SPDX-License-Identifier: Apache-2.0 */
/*
 * diskann.h - a disk-resident graph index (DiskANN): the Vamana graph
 * (vamana.h) and the full vectors in 4 KiB pages of a file, product-
 * quantized codes of every vector in memory for navigation. Issue 21's
 * index; the segment kind, the compaction choice and the public option
 * build on this module.
 *
 * Layout (docs/FORMAT.md, "DiskANN index"): a header page, then the
 * quantizer blob, the codes, the node -> key table and a CRC32C per node
 * page (all read into memory at open), then the node pages. A node record
 * is its link count, R link slots and its vector; as many records as fit
 * share a page (a record larger than a page takes several whole pages).
 * Nodes are stored in breadth-first order from the medoid, so a search's
 * first hops, and a graph neighbourhood generally, share pages; and the
 * first pages are the BFS levels nearest the entry point, which is what
 * the optional cache holds (a prefix of the node pages, read at open).
 *
 * Search: a beam search over PQ distances from the medoid; each hop
 * expands the W nearest unexpanded candidates at once, reading their
 * pages (each page once per hop, each read checked against its CRC), then
 * computes every expanded node's exact distance from the vector in its
 * record: the results are the k nearest expanded nodes by exact
 * distance. A filter decides which keys may be results; every node still
 * guides the walk.
 *
 * Metrics: L2 (squared) and cosine (the graph and the codes are built
 * on unit vectors; node records keep the vectors as given, and exact
 * distances are 1 - cosine computed from them). The file offsets of the index
 * are relative to where it starts in its file (`off`), so it can be a section
 * of another file.
 *
 * Threading: vx_dann_write is single-caller (it uses the pool). An open
 * index may be searched from any number of threads at once, each with
 * its own scratch; reads go through the vfs file's pread, which is
 * thread-safe.
 */
#ifndef VEX_INDEX_DISKANN_H
#define VEX_INDEX_DISKANN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "io/vfs.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"
#include "vexdb.h"

#define VX_DANN_PAGE 4096u
/* Fewest vectors an index is built from (its quantizer trains on them). */
#define VX_DANN_MIN_ROWS 16u

typedef struct vx_dann_params {
    vex_metric metric; /* VEX_METRIC_L2 or VEX_METRIC_COSINE */
    uint32_t R;        /* degree bound, 4..256; default 48 */
    uint32_t L;        /* build list size, R..4096; default 100 */
    float alpha;       /* second pass, 1..2; default 1.2 */
    uint64_t seed;
    unsigned n_threads; /* 0 = the whole pool */
    /* PQ subquantizers for navigation; 0 = ceil(dim / 4) (8-bit codes of
     * dim / 4 bytes, 1/16 of the float32 vector), at most dim */
    uint32_t pq_m;
    /* the graph build stops with VEX_BUSY when it turns non-zero (NULL:
     * never); nothing is written then */
    const _Atomic int *cancel;
} vx_dann_params;

void vx_dann_params_init(vx_dann_params *p);

/* Build the index of n vectors (dim floats each, back to back; keys[i] is
 * the caller's key of vector i, returned by searches) and write it to f
 * at offset `off` (a multiple of 4096); *len gets its size (a multiple of
 * 4096). Needs n >= 16 (the quantizer trains on the vectors: 8-bit codes
 * from 256 vectors, 4-bit below). Writes only: the caller syncs. Errors:
 * VEX_INVALID (parameters, non-finite or, under cosine, zero vectors),
 * VEX_NOMEM, I/O errors. */
int vx_dann_write(const vex_mem *mem, vex_pool *pool, const float *vecs,
                  const uint32_t *keys, size_t n, uint32_t dim,
                  const vx_dann_params *p, vex_file *f, uint64_t off,
                  uint64_t *len, vex_err *err);

typedef struct vx_dann vx_dann;

/* Open the index at [off, off + len) of f (borrowed: it must stay open
 * while the index is), reading the header, the quantizer, the codes, the
 * key table and the page checksums into memory, every part checked, and
 * up to cache_bytes of the first node pages (0: none). VEX_CORRUPT (with
 * the offset), VEX_UNSUPPORTED (a newer version), VEX_NOMEM, I/O errors. */
int vx_dann_open(const vex_mem *mem, vex_file *f, uint64_t off, uint64_t len,
                 uint64_t cache_bytes, vx_dann **out, vex_err *err);
void vx_dann_close(vx_dann *d);

uint64_t vx_dann_count(const vx_dann *d);
uint32_t vx_dann_dim(const vx_dann *d);
/* Bytes held in memory: codes, keys, checksums, quantizer, cache. */
uint64_t vx_dann_resident_bytes(const vx_dann *d);
/* Node pages in the file, and how many of them the cache holds. */
uint64_t vx_dann_pages(const vx_dann *d, uint64_t *cached);

/* What one search did. */
typedef struct vx_dann_stats {
    uint64_t hops;           /* beam steps */
    uint64_t nodes_expanded; /* node records used */
    uint64_t pages_read;     /* pages read from the file */
    uint64_t reads;          /* reads submitted (a record's pages are one) */
    uint64_t bytes_read;
    uint64_t cache_hits; /* pages served by the cache */
    uint64_t pq_distances;
    uint64_t exact_distances;
} vx_dann_stats;

/* Which keys may be results: non-zero = yes. */
typedef int (*vx_dann_accept_fn)(void *ctx, uint32_t key);

typedef struct vx_dann_scratch vx_dann_scratch;
/* Scratch for searches with list size up to L and beam width up to W
 * (1..64). */
int vx_dann_scratch_create(const vx_dann *d, uint32_t L, uint32_t W,
                           vx_dann_scratch **out);
void vx_dann_scratch_free(const vx_dann *d, vx_dann_scratch *s);

/* The k nearest accepted keys to q (dim floats): hits[i].id is the key.
 * L (>= k) bounds the candidate list, W the nodes expanded per hop.
 * *n_hits may be below k when fewer accepted nodes were met. Adds to *st
 * when not NULL. No allocation. VEX_CORRUPT when a page fails its
 * checksum or holds an impossible record (message with the offset), I/O
 * errors, VEX_INVALID (a non-finite or, under cosine, zero query). */
int vx_dann_search(const vx_dann *d, vx_dann_scratch *s, const float *q,
                   size_t k, uint32_t L, uint32_t W, vx_dann_accept_fn accept,
                   void *ctx, vex_hit *hits, size_t *n_hits, vx_dann_stats *st,
                   vex_err *err);

/* Whether the keys are exactly 0..n-1 (a segment's): then vx_dann_vector
 * can find a node by key. */
int vx_dann_dense_keys(const vx_dann *d);

/* A scratch for list size up to L (at most 4096) and beam width up to W,
 * reused from those vx_dann_release handed back when one is big enough,
 * else new (the only allocation of a search path, until the free list
 * holds one scratch per concurrent searcher). Thread-safe. VEX_INVALID,
 * VEX_NOMEM. */
int vx_dann_acquire(vx_dann *d, uint32_t L, uint32_t W, vx_dann_scratch **out);
/* Hand a scratch back for reuse (NULL-safe). Thread-safe. */
void vx_dann_release(vx_dann *d, vx_dann_scratch *s);

/* Copy the stored vector of `key` (dense keys only: VEX_NOTFOUND
 * otherwise) into out[0..dim): one read of its node's pages (or the
 * cache), checked against their CRCs; adds the read to *st when not NULL.
 * VEX_CORRUPT, I/O errors. */
int vx_dann_vector(const vx_dann *d, vx_dann_scratch *s, uint32_t key,
                   float *out, vx_dann_stats *st, vex_err *err);

/* What vx_dann_check found. */
typedef struct vx_dann_check_stats {
    uint64_t nodes, links, unreachable;
    uint32_t min_degree, max_degree;
} vx_dann_check_stats;

/* Read every node page and check it: its CRC, each record's link count
 * (<= R), links (to other nodes of the index) and vector (finite); then
 * count the nodes the entry point does not reach. Memory: n * (R + 2)
 * 4-byte words for the walk. VEX_CORRUPT with the node, VEX_NOMEM, I/O
 * errors. For `vex verify`. */
int vx_dann_check(const vx_dann *d, vx_dann_check_stats *st, vex_err *err);

#endif
