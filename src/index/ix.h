/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ix.h - the internal index interface: what storage and engine call.
 *
 * A vx_ix is an in-memory index (flat or HNSW) with its allocator and
 * worker pool, the same object as the public vex_index underneath (the
 * public functions in handle.c are a thin wrapper over these). The
 * differences from the public API, and the reasons:
 *
 *  1. Errors go to the caller. Every function that can fail takes a
 *     `vex_err *err` for that call's message (NULL: not wanted). Nothing
 *     is written into the handle, so concurrent searches of one index each
 *     get their own message (the public handle's message is shared, and
 *     reading it back after a failure races with the next caller).
 *  2. Nothing is validated twice. A user call validates its query, k and
 *     search parameters once, with vx_ix_check_vector / vx_ix_check_k /
 *     vx_ix_check_params (or the engine's own equivalents against its
 *     collection's configuration); vx_ix_add, vx_ix_search,
 *     vx_ix_search_batch and vx_ix_range then trust their arguments, so a
 *     search fanned out over many sources costs one check, not one per
 *     source. Violating a precondition is a bug of the caller (asserted in
 *     debug builds), not an error return. Bytes from files are not
 *     arguments: vx_ix_open_buffer checks a blob completely.
 *  3. A failed create or open frees what it made and leaves *out NULL (a
 *     public handle survives its failure to explain it).
 *  4. The pool may be the caller's (the database's), so memtables and
 *     segments start no threads of their own.
 *
 * Threading is the public handle's (vexdb.h): searches, gets, counts and
 * scans from any thread; add, remove, train and serialize exclusive of
 * each other (HNSW lets searches run beside an add).
 */
#ifndef VEX_INDEX_IX_H
#define VEX_INDEX_IX_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "index/index.h"
#include "util/err.h"
#include "util/pool.h"
#include "vexdb.h"

typedef struct vex_index vx_ix;

/* ---- configuration ---- */

/* vex_index_options_init: the defaults. */
void vx_ix_options_init(vex_index_options *o);

/* The option checks of vex_index_create: VEX_MISUSE or VEX_INVALID with a
 * message naming the field. */
int vx_ix_check_options(const vex_index_options *o, vex_err *err);

/* Check `o` and resolve it into *cfg: elem, metric, dim, vec_bytes,
 * capacity, the adaptive HNSW parameters (kind HNSW only; zero for flat)
 * and the quantizer's (the rules are documented with vex_index_options).
 * This is what an index created from `o` would use. */
int vx_ix_resolve(const vex_index_options *o, vex_index_config *cfg,
                  vex_err *err);

/* ---- life cycle ---- */

/* A new empty index. `pool` is the caller's, kept alive until
 * vx_ix_free (opts->n_threads is then only the width of the index's
 * parallel loops); NULL: the index starts its own. On failure *out is
 * NULL. */
int vx_ix_create(const vex_index_options *opts, vex_pool *pool, vx_ix **out,
                 vex_err *err);

/* An index from a serialised blob, as vex_index_open_buffer (a 64-aligned
 * buffer without VEX_OPEN_COPY is used in place and must outlive the
 * index). The blob is untrusted: every structural invariant and vector is
 * checked (VEX_CORRUPT). `opts` may be NULL. On failure *out is NULL. */
int vx_ix_open_buffer(const void *buf, uint64_t size,
                      const vex_open_options *opts, vex_pool *pool, vx_ix **out,
                      vex_err *err);

/* NULL-safe. */
void vx_ix_free(vx_ix *ix);

/* ---- facts (no failure) ---- */

vex_index_kind vx_ix_kind(const vx_ix *ix);
/* The resolved configuration; valid for the index's lifetime. */
const vex_index_config *vx_ix_config(const vx_ix *ix);
uint64_t vx_ix_count(const vx_ix *ix);
/* Bytes held, the handle included. */
uint64_t vx_ix_memory(const vx_ix *ix);

/* ---- validation, once per user call ---- */

/* 1..VEX_MAX_K. */
int vx_ix_check_k(size_t k, vex_err *err);

/* Whether `v` is a valid vector for `cfg` (vx_vector_check); the message
 * names it as "<what> <pos>: <reason>". */
int vx_ix_check_vector(const vex_index_config *cfg, const void *v,
                       const char *what, size_t pos, vex_err *err);

/* A caller's search parameters of any accepted struct_size (util/abi.h):
 * when *params is NULL or of this header's size it is left alone;
 * otherwise its known fields are copied over defaults into *buf and
 * *params points there. VEX_MISUSE for a size out of range. */
int vx_search_params_take(const vex_search_params **params,
                          vex_search_params *buf, vex_err *err);

/* Public search parameters (NULL: defaults) checked against index `ix`
 * and turned into *so (cut: none). */
int vx_ix_check_params(const vx_ix *ix, const vex_search_params *p,
                       vex_search_opts *so, vex_err *err);

/* ---- writes ---- */

/* Add n vectors (valid for the index's configuration: the caller checked
 * them, or they come from an index that did) on at most max_threads
 * threads of the index's pool (0: all of them). VEX_EXISTS for an id
 * already present, VEX_FULL past VEX_INDEX_MAX_VECTORS, VEX_NOMEM. */
int vx_ix_add(vx_ix *ix, const uint64_t *ids, const void *vecs, size_t n,
              unsigned max_threads, vex_err *err);
int vx_ix_remove(vx_ix *ix, uint64_t id, vex_err *err);

/* After a run of adds (a memtable brought up to date): finish what adds
 * amortise (HNSW: link every live node no search could reach from the
 * entry point; serialising and checking do it too). Same threading as
 * add. VEX_NOMEM (the work stays pending). */
int vx_ix_settle(vx_ix *ix, vex_err *err);

/* vex_index_train without its argument checks (a quantized index;
 * sample NULL with n 0 = its own vectors; sample rows valid). */
int vx_ix_train(vx_ix *ix, const float *sample, size_t n, vex_err *err);

/* Train a quantized index on its own vectors unless it is trained
 * already; an index with too few vectors for its quantizer stays
 * untrained (and is searched at full precision): VEX_OK then too, with
 * nothing written to err. No-op without a quantizer. */
int vx_ix_train_own(vx_ix *ix, vex_err *err);

/* ---- reads ---- */

/* Copy the vector of `id` into vec_out (vec_bytes). VEX_NOTFOUND. */
int vx_ix_get(vx_ix *ix, uint64_t id, void *vec_out, vex_err *err);

/* Exact distances to the stored vectors of ids[0..n), n at most
 * VX_IX_SCORE_MAX (the score method in index/index.h); only when
 * vx_ix_can_score. `qaux` is vx_exact_query_aux of the query. */
int vx_ix_score(vx_ix *ix, const void *query, float qaux, const uint64_t *ids,
                size_t n, float *dist, vex_err *err);
int vx_ix_can_score(const vx_ix *ix);

/* The blob of the index into buf[0..size), as vex_index_serialize:
 * *needed (not NULL) is its size; VEX_FULL when buf is NULL or short. */
int vx_ix_serialize(vx_ix *ix, void *buf, uint64_t size, uint64_t *needed,
                    vex_err *err);

/* Call fn for every live vector (the scan method in index/index.h). */
int vx_ix_scan(vx_ix *ix, vex_scan_fn fn, void *ctx);

/* Copy out an HNSW graph: fn for every level of every live node, the
 * entry point's id in *entry (the links method in index/index.h; settle
 * first for a graph with every node reachable). VEX_MISUSE for a kind
 * without a graph, VEX_NOTFOUND when empty, VEX_NOMEM; same threading as
 * scan. */
int vx_ix_links(vx_ix *ix, vex_links_fn fn, void *ctx, uint64_t *entry,
                vex_err *err);

/* Run the index's invariant check (VEX_CORRUPT) and return its graph
 * statistics (`stats` may be NULL; zeroed for flat). */
int vx_ix_graph_stats(vx_ix *ix, vex_graph_stats *stats, vex_err *err);

/* ---- searches: no validation (point 2 above) ---- */

/* Defaults: whole pool, index ef and refine, no filter, no cut. */
static inline void vx_ix_search_opts_init(vex_search_opts *so)
{
    memset(so, 0, sizeof *so);
    so->cut = INFINITY;
}

/* k-NN of one query: k in 1..VEX_MAX_K, the query valid, `so` within the
 * ranges vx_ix_check_params enforces (ef, filter_max_ef <= VEX_MAX_K;
 * n_threads <= the pool; refine 0 or 1..1000; cut NaN = none); fields that
 * do not apply to the kind are ignored (ef for flat, refine without a
 * quantizer, cut for flat). Hits sorted nearest first into hits[0..k),
 * their count in *n_hits. With a cut, hits beyond it may be missing or
 * present; the caller's merge decides. Allocates nothing in steady state. */
int vx_ix_search(vx_ix *ix, const void *query, size_t k,
                 const vex_search_opts *so, vex_hit *hits, size_t *n_hits,
                 vex_err *err);

/* vx_ix_search for n_queries back-to-back queries (n_queries >= 1, the
 * sizes checked for overflow by the caller); hits[i * k ...], n_hits[i]. */
int vx_ix_search_batch(vx_ix *ix, const void *queries, size_t n_queries,
                       size_t k, const vex_search_opts *so, vex_hit *hits,
                       size_t *n_hits, vex_err *err);

/* Every vector within `radius` (not NaN), the nearest `capacity` of them
 * into hits, how many there are in *n_total (vex_index_range_search; an
 * HNSW index takes capacity <= VEX_MAX_K). */
int vx_ix_range(vx_ix *ix, const void *query, float radius,
                const vex_search_opts *so, vex_hit *hits, size_t capacity,
                uint64_t *n_total, vex_err *err);

/* After a failed call that reported into `err`: put `what` (where it
 * happened: "memtable", "compaction index") in front of the message, so
 * it reads "what: message". Returns rc. Not for hot paths' success. */
static inline int vx_ix_err_in(vex_err *err, int rc, const char *what)
{
    char msg[VEX_ERRMSG_MAX];
    if (err == NULL)
        return rc;
    vx_err_copy(err, msg, sizeof msg);
    return vx_err_set(err, rc, "%s: %s", what, msg);
}

#endif
