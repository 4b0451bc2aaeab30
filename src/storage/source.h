/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source.h - the read side of a collection's data: one method table that
 * every kind of row container implements, and the one planned k-NN over
 * it.
 *
 * A snapshot (storage/version.h) reads its memtables and segments only
 * through this interface: looking a row up by id, copying its vector and
 * metadata, k-NN through its index, exact distances, a filter's match
 * set, a scan of the visible rows, a row's payload. The engine's get, get_meta,
 * scan, search and stats loop over a version's sources without knowing their
 * kind, and filtered search is planned in one place (vx_source_search,
 * with storage/plan.h), so a plan and a fallback mean the same for every
 * kind. A disk-resident segment or a keyword index is one more
 * implementation of vx_source_methods (SQLite's sqlite3_module is the
 * model), not new branches across the engine.
 *
 * Rows are named inside a source by a REF (a memtable's row number, a
 * segment's key); refs are dense from 0 below `refs()`, so a match set is
 * a bitmap over them. Every read takes the snapshot's sequence number and
 * sees exactly the rows visible at it (protocol V1-V6).
 *
 * Threading: all methods are readers, safe from any thread for as long as
 * the caller holds the version that lists the source; none takes a lock
 * a writer holds for long, and the search path allocates nothing in
 * steady state (a POST plan wider than its stack buffer allocates its
 * candidate array).
 */
#ifndef VEX_STORAGE_SOURCE_H
#define VEX_STORAGE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "index/diskann.h"
#include "meta/filter.h"
#include "meta/value.h"
#include "storage/mcache.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/topk.h"
#include "vexdb.h"

/* Which rows a k-NN or scan accepts, besides visibility at `seq`. */
typedef struct vx_src_accept {
    uint64_t seq;
    uint64_t indexed;        /* the source's `indexed` boundary, read once */
    const uint64_t *bits;    /* a match set over refs, or NULL */
    const vmf_filter *where; /* evaluated per row (no bits), or NULL */
    vex_filter_fn filter;    /* the user's, on ids, or NULL */
    void *filter_ctx;
} vx_src_accept;

/* One k-NN query against a snapshot; validated once by the caller. */
typedef struct vx_src_query {
    const void *vec;
    size_t k;
    uint64_t seq;
    unsigned ef, filter_max_ef; /* graph sources; 0 = defaults */
    unsigned ef_default;        /* what ef 0 stands for (the planner's) */
    float refine;               /* quantized sources; 0 = default */
    vex_filter_fn filter;       /* the user's id filter, or NULL */
    void *filter_ctx;
    const vmf_filter *where;  /* a compiled metadata filter, or NULL */
    const vx_mkey *where_key; /* its canonical text (names match sets) */
    const vex_mem *mem;       /* for the rare buffer too big for the stack */
    /* explain: when not NULL, the index walks and exact passes add their
     * work here (index/index.h) */
    struct vx_work *work;
    unsigned beam_width; /* DiskANN segments: reads per step; 0 = 4 */
    /* DiskANN segments add their reads here when not NULL */
    vx_dann_stats *io;
} vx_src_query;

/* What one source search did (vx_source_search). */
typedef struct vx_src_stats {
    int searched;     /* 0: the source held no rows */
    int plan;         /* vx_plan_kind with `where`, -1 without */
    int fell_back;    /* a GRAPH or POST plan redone exactly */
    int built;        /* the match set was built, not found cached */
    uint64_t matched; /* rows the filter matched (sources that count) */
    /* for explain: the planner's inputs and what the plan found */
    uint64_t rows;      /* refs of the source */
    int graph;          /* an index graph reaches some of its rows */
    int counted;        /* `matched` was counted (a match set: segments) */
    uint64_t found;     /* filtered: matching rows the plan found (the walk's
                           matching hits, or the exact pass's visible matches
                           when q->work counts them); 0 without a filter */
    size_t ef;          /* the effective ef the planner weighed */
    unsigned walk_cost; /* its VX_PLAN_WALK_COST constant */
    size_t width;       /* GRAPH: the walk's beam width */
    int by_feedback;    /* SCAN chosen from the match set's walk feedback */
} vx_src_stats;

typedef struct vx_source_methods {
    const char *kind; /* "memtable", "segment": for messages */
    /* Refs in use (rows appended to a memtable, keys of a segment): the
     * size of a match set and the measure of a source's cost. */
    uint64_t (*refs)(const void *self);
    /* The ref of `id`'s row visible at `seq`: 1, or 0 when none is. */
    int (*find)(const void *self, uint64_t id, uint64_t seq, uint64_t *ref);
    /* Copy the row's vector into `out`. */
    int (*vector)(void *self, uint64_t ref, void *out, vex_err *err);
    /* The row's metadata, a copy on `mem` (*out NULL: none). */
    int (*record)(void *self, uint64_t ref, const vex_mem *mem, vm_record **out,
                  vex_err *err);
    /* Refs below this are reached by knn, the rest only by exact (a
     * memtable's graph lags its rows; a segment indexes all). Read once
     * per search into vx_src_accept.indexed, so that knn and a tail scan
     * split the rows at the same place. */
    uint64_t (*indexed)(const void *self);
    uint64_t (*id_of)(const void *self, uint64_t ref);
    /* Whether knn is an approximate graph walk (worth planning for). */
    int (*has_graph)(const void *self);
    /* k-NN through the source's index over refs below acc->indexed, visible
     * and accepted: up to k hits (distance, ref) into hits[0..*n), nearest
     * first. `cut` as vex_search_opts.cut (INFINITY: none). */
    int (*knn)(void *self, const vx_src_query *q, const vx_src_accept *acc,
               size_t k, float cut, vex_hit *hits, size_t *n, vex_err *err);
    /* Exact distances to every visible, accepted row, pushed into `top`
     * as (distance, id); with `tail_only`, only refs from acc->indexed on,
     * which knn does not reach (a memtable's unindexed tail; nothing for a
     * segment). */
    int (*exact)(void *self, const vx_src_query *q, const vx_src_accept *acc,
                 int tail_only, vex_topk *top, vex_err *err);
    /* The match set of q->where (rows live at birth; visibility is
     * checked per row), referenced: release with match_release. NULL
     * when the source does not count matches (a memtable evaluates its
     * filter per row instead). */
    int (*match)(void *self, const vx_src_query *q, const vx_match **out,
                 int *built, vex_err *err);
    void (*match_release)(void *self, const vx_match *m);
    /* fn(ctx, id, ref) for every visible, accepted row, in ref order
     * (a non-zero return stops the scan and is returned). */
    int (*scan)(void *self, const vx_src_accept *acc,
                int (*fn)(void *ctx, uint64_t id, uint64_t ref), void *ctx,
                vex_err *err);
    /* The row's payload: *p (valid while the caller holds the version
     * listing the source) and *len; *len 0 and *p NULL when it has none. */
    int (*payload)(void *self, uint64_t ref, const void **p, size_t *len,
                   vex_err *err);
    /* The row's text, as payload (*len 0 and *p NULL: none). */
    int (*text)(void *self, uint64_t ref, const char **p, size_t *len,
                vex_err *err);
} vx_source_methods;

typedef struct vx_source {
    const vx_source_methods *m;
    void *self;
} vx_source;

/* The implementations (storage/memtable.c, storage/src_segment.c, and
 * storage/src_dann.c for DiskANN segments). */
extern const vx_source_methods vx_memtable_source;
extern const vx_source_methods vx_segment_source;
extern const vx_source_methods vx_dann_segment_source;

/* k-NN of `q` over source `s` into `top` (as user ids; `tmp` has room
 * for k hits): without a where filter, the index walk (cut by top's
 * worst distance when top is full) plus the rows it does not reach;
 * with one, the plan storage/plan.h chooses from the source's rows, its
 * match count (when it counts) and its graph, redone exactly when it
 * yields fewer than min(k, matches). *st says what ran. */
int vx_source_search(const vx_source *s, const vx_src_query *q, vex_hit *tmp,
                     vex_topk *top, vx_src_stats *st, vex_err *err);

#endif
