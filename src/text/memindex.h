/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memindex.h - an in-memory, append-only keyword index of rows (a
 * memtable's): the text of each row added is analysed at once and its
 * terms appended to per-term postings, so a BM25 query never tokenizes
 * stored texts. Rows are numbered by the caller (strictly ascending, not
 * necessarily dense: rows without text are simply not added). Which rows
 * a query sees is the caller's predicate (`live`: a snapshot's
 * visibility), so one index serves every snapshot of a multi-version
 * memtable; it takes part in a query as one vt_src of vx_bm25_multi
 * (bm25.h).
 *
 * No blocks and no pruning: a memtable is small, so a query walks the
 * query terms' postings whole (and the row lengths once, for the
 * statistics of the live rows).
 *
 * Threading: one writer (vx_mi_add) and any number of readers at once; a
 * reader-writer lock is held by the writer only to append one row's
 * postings (after analysing its text unlocked) and by a reader for one
 * statistics pass or one search.
 */
#ifndef VEX_TEXT_MEMINDEX_H
#define VEX_TEXT_MEMINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "text/postings.h"

typedef struct vt_memindex vt_memindex;

/* A predicate on row numbers (visibility, a filter): 1 keeps the row. */
typedef int (*vt_row_fn)(void *ctx, uint64_t row);

/* An empty index analysing with `a`. VEX_OK, VEX_INVALID, VEX_NOMEM. */
int vx_mi_create(const vex_mem *mem, const vt_analyzer *a, vt_memindex **out,
                 vex_err *err);
void vx_mi_free(vt_memindex *mi);

/* Writer. Adds row's text (valid UTF-8, at most VT_MAX_TEXT bytes; rows
 * strictly ascending). VEX_INVALID (order, UTF-8, size) or VEX_NOMEM
 * leave the index as it was. */
int vx_mi_add(vt_memindex *mi, uint64_t row, const char *text, size_t len,
              vex_err *err);

vt_analyzer vx_mi_analyzer(const vt_memindex *mi);
/* Rows added, and bytes held. Any thread. */
uint64_t vx_mi_rows(const vt_memindex *mi);
uint64_t vx_mi_memory(const vt_memindex *mi);

/* Reader. Adds to *docs and *total the live rows and their summed
 * length, and to df[i] the live rows holding term i (terms[i], lens[i];
 * i < nt). `live` (NULL: every row) must be a snapshot predicate. */
int vx_mi_stats(const vt_memindex *mi, const char *const *terms,
                const size_t *lens, size_t nt, vt_row_fn live, void *lctx,
                uint64_t *docs, uint64_t *total, uint64_t *df);

/* Reader. BM25 top-k of the live, accepted rows holding a term with
 * weight[i] > 0, scored with prm (avgdl of the whole collection) by
 * score descending then row: rows into out_row[0..*n_out), scores into
 * out_score (k entries each). A score sums the terms' contributions in
 * the order of terms[], as vx_post_search does, so a row scores the same
 * bits here as in a set of postings. VEX_OK or VEX_NOMEM. Counts every
 * posting read in st (may be NULL). */
int vx_mi_search(const vt_memindex *mi, const vt_bm25 *prm,
                 const char *const *terms, const size_t *lens,
                 const double *weight, size_t nt, size_t k, vt_row_fn live,
                 void *lctx, vt_row_fn accept, void *actx, uint64_t *out_row,
                 double *out_score, size_t *n_out, vt_stats *st);

#endif
