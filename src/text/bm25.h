/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bm25.h - a BM25 query over several sets of postings at once, with
 * statistics of the whole collection: the keyword leg of a collection
 * whose rows live in several segments (each its own postings) and may
 * have been deleted or replaced since a segment was written.
 *
 * The collection-wide statistics are those of the LIVE documents only:
 * N, the total length and each query term's document frequency are
 * summed over the sources, minus what their deleted keys held (counted
 * through the postings, so a source with d deleted keys costs O(d) block
 * lookups per query term, never a scan). So a collection scores every
 * document exactly as one set of postings holding only its live
 * documents would: scores do not depend on how rows happen to be split
 * into segments, nor on deletes not yet compacted away (test_bm25).
 *
 * Threading: a pure function of its arguments; any thread.
 */
#ifndef VEX_TEXT_BM25_H
#define VEX_TEXT_BM25_H

#include <stddef.h>
#include <stdint.h>

#include "text/memindex.h"
#include "text/postings.h"

/* One source taking part in a query: a set of postings (p) or a
 * memtable's in-memory index (mi), the other NULL. */
typedef struct vt_src {
    const vt_postings *p;
    /* With p: keys of p no longer live (deleted, or replaced by a newer
     * row elsewhere), strictly ascending, below p's n_keys; may be NULL
     * with n_deleted 0. They count in no statistic and are never
     * returned. */
    const uint32_t *deleted;
    size_t n_deleted;
    const vt_memindex *mi;
    /* With mi: the rows the query's snapshot sees (NULL: all); rows it
     * refuses count in no statistic and are never returned. */
    vt_row_fn live;
    void *live_ctx;
    /* Further selection on keys or rows (a metadata filter): rows it
     * refuses still count in the statistics, as in a filtered SQL query;
     * NULL: every live key. */
    vt_row_fn accept;
    void *actx;
} vt_src;

/* One result: the source (index into the array given) and its key. */
typedef struct vt_mhit {
    double score;
    uint32_t src;
    uint64_t key; /* a key of p, or a row of mi */
} vt_mhit;

/* What the statistics of a query came to (for callers and tests). */
typedef struct vt_qinfo {
    uint64_t n_docs;    /* live documents, all sources */
    uint64_t total_len; /* their summed length */
    size_t n_terms;     /* distinct query terms held by a live document */
} vt_qinfo;

/* BM25 top-k of the text query[0..qlen) (analysed with `a`, which every
 * source must have been built with) over srcs[0..n_src): results by
 * score descending, then source, then key, into out[0..*n_out). `prm`
 * gives k1 and b (its avgdl is ignored: computed here). Terms repeated in
 * the query weigh once per occurrence. A query without a term any live
 * document holds returns no results and VEX_OK. VEX_INVALID (query not
 * UTF-8, more than VT_MAX_QUERY_TERMS terms, k 0, parameters, a deleted
 * list out of order or range), VEX_CORRUPT (a source built with another
 * analyzer), VEX_NOMEM. `st` (may be NULL) is added to; `info` (may be
 * NULL) is set. */
int vx_bm25_multi(const vex_mem *mem, const vt_analyzer *a, const vt_src *srcs,
                  size_t n_src, const char *query, size_t qlen,
                  const vt_bm25 *prm, size_t k, vt_mhit *out, size_t *n_out,
                  vt_stats *st, vt_qinfo *info, vex_err *err);

/* *count: how many of keys[0..n) (strictly ascending) hold term i of p,
 * found by skipping through its blocks (only the blocks that may hold
 * one are decoded). VEX_OK or VEX_NOMEM. */
int vx_post_count_keys(const vt_postings *p, uint32_t term,
                       const uint32_t *keys, size_t n, uint64_t *count);

#endif
