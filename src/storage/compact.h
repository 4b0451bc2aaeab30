/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compact.h - building segments: flushes and compactions (see compact.c).
 *
 * Threading: every function may run on any thread, alongside writers and
 * readers of the same collection: inputs are snapshots (a frozen memtable
 * and the rows visible at sequence `s`; segments and their deletes as of
 * `s`), outputs are new files that nothing references until the caller
 * installs them.
 */
#ifndef VEX_STORAGE_COMPACT_H
#define VEX_STORAGE_COMPACT_H

#include <stdatomic.h>
#include <stdint.h>

#include "index/diskann.h"
#include "io/vfs.h"
#include "storage/memtable.h"
#include "storage/version.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"

/* Where and how to build: the collection's directory, allocator, pool
 * and index configuration (iopts: kind of merged segments, elem, metric,
 * dim, resolved HNSW parameters, allocator, n_threads = pool width). */
typedef struct seg_builder {
    vex_vfs *vfs;
    const char *dir;
    const vex_mem *mem;
    vex_pool *pool;
    vx_mcache *mcache;             /* where the output's filter match sets go */
    _Atomic uint64_t *dann_budget; /* the DiskANN node-cache budget left */
    /* DiskANN: a compaction whose output holds at least dann_min_rows
     * rows (and VX_DANN_MIN_ROWS) writes a DiskANN segment built with
     * `dann` (metric, R, L, alpha, pq_m, seed set); 0 = never */
    uint64_t dann_min_rows;
    vx_dann_params dann;
    vex_index_options iopts;
    size_t vec_bytes;
    unsigned meta_flags; /* VM_BUILD_* for the metadata columns */
    /* the text field's analyzer: the rows' texts and their postings are
     * written (segment format 5) when some row has a text; NULL: the
     * collection has no text field */
    const vt_analyzer *text;
    const _Atomic int *cancel; /* polled between steps; may be NULL */
    /* the build's progress, for vex_stats (may be NULL): rows of the
     * output in its index so far, and of all its rows */
    _Atomic uint64_t *done, *total;
    vex_err *err;
} seg_builder;

/* The size-tiered policy (vex_db_options.compact_*). */
typedef struct compact_policy {
    uint32_t min_merge, max_merge, deleted_pct;
    uint64_t dann_min_rows; /* the collection's; 0 = no DiskANN */
} compact_policy;

/* Segment `number` from frozen memtable `m` with the rows visible at `s`
 * (the memtable's graph is completed and written as it is, keyed by row
 * number; rows dead at `s` become dead keys; a flat memtable gets a flat
 * index of all its rows). *out NULL when no row is visible (no file).
 * Completing the graph polls b->cancel: when it turns non-zero, returns
 * VEX_OK with *out NULL and *cancelled = 1 (nothing written). */
int vx_compact_flush_build(const seg_builder *b, memtable *m, uint64_t s,
                           uint64_t number, vseg **out, int *cancelled);

/* The inputs of the next compaction of version `v`: indexes into
 * v->segs, ascending, written to pick[] (room for v->n_segs); returns how
 * many (0: nothing to do). Rules, first match wins: with `all`, every
 * segment (if more than one, or one with dead rows, or one that should
 * be a DiskANN segment and is not); a segment whose dead rows reach
 * deleted_pct% of its keys, alone; a segment of another kind holding at
 * least dann_min_rows live rows (a flush writes the memtable's graph as
 * it is), alone, to become a DiskANN segment; the oldest max_merge
 * segments of the smallest size tier holding min_merge of them (tier t:
 * [4^t, 4^(t+1)) MiB, tier 0 below 4 MiB). */
uint32_t vx_compact_pick(const version *v, const compact_policy *p, int all,
                         uint32_t *pick);

/* Segment `number` merging the rows of `in` visible at `s`, ordered by
 * id and re-indexed from scratch (keys 0..n-1). *out NULL when no row
 * survives. When b->cancel turns non-zero, stops between steps with
 * VEX_OK, *out NULL and *cancelled = 1 (nothing left on disk). */
int vx_compact_build(const seg_builder *b, vseg *const *in, uint32_t n_in,
                     uint64_t s, uint64_t number, vseg **out, int *cancelled);

#endif
