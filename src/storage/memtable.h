/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtable.h - the in-memory, multi-version part of a collection.
 *
 * A memtable is an append-only array of rows (id, vector, add_seq,
 * end_seq). A row is visible to a reader whose snapshot sequence number is
 * S when add_seq <= S and (end_seq == 0 or end_seq > S): an upsert or a
 * delete never changes a row's vector, it ends the row at the sequence
 * number of the operation (and an upsert appends a new row). So a reader
 * holding a snapshot sees exactly the rows of its moment, without locks,
 * while the write path appends and ends rows.
 *
 * Rows are numbered from 0 in order of appending; the number is the row's
 * KEY in the memtable's index. An HNSW memtable indexes rows in the
 * background (vx_mt_index_to): rows [0, n_indexed) are in the graph and the
 * unindexed tail is searched exactly, so a write is searchable at once
 * and never waits for graph insertion. A flat memtable has no index.
 * When a memtable is flushed, its graph is written out unchanged, keyed
 * by row number; ended rows become dead keys of the segment (see
 * storage/segment.h).
 *
 * Invariants:
 *  1. Rows are appended with non-decreasing add_seq; n_rows is published
 *     with release after the row is complete, and chunk directories are
 *     published with release before n_rows covers them.
 *  2. end_seq goes from 0 to a value > add_seq once and never changes
 *     again.
 *  3. ids maps an id to its newest row; row.prev links to the previous
 *     row of the same id in this memtable (MT_NONE at the first), so the
 *     row visible at any S is found by walking back from the newest.
 *  4. Rows [0, n_indexed) are in the index; n_indexed only grows.
 *
 * Threading: one writer at a time calls vx_mt_put, vx_mt_delete and mt_freeze
 * (the collection's write path); vx_mt_index_to from any thread (calls
 * are serialised inside: a background job and a flush may both ask); readers
 * call vx_memtable_source's methods, vx_mt_find, mt_row_* and the counters from
 * any thread at any time. The structure is freed by vx_mt_unref when the last
 * reference (one per version that lists it) goes.
 */
#ifndef VEX_STORAGE_MEMTABLE_H
#define VEX_STORAGE_MEMTABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "index/ix.h"
#include "meta/filter.h"
#include "meta/value.h"
#include "text/memindex.h"
#include "util/cmap.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"
#include "util/topk.h"
#include "vexdb.h"

#define MT_CHUNK_SHIFT 10
#define MT_CHUNK       (1u << MT_CHUNK_SHIFT)
#define MT_NONE        UINT64_MAX
/* Slots of a memtable's set of metadata field names (hashes); at most
 * 3/4 of them are filled, after which every name counts as seen. */
#define MT_NAME_SLOTS 512u

typedef struct mt_chunk {
    uint64_t id[MT_CHUNK];
    uint64_t add_seq[MT_CHUNK];
    _Atomic uint64_t end_seq[MT_CHUNK];
    uint64_t prev[MT_CHUNK];
    float aux[MT_CHUNK];          /* vx_exact_vec_aux of each vector */
    vm_record *meta[MT_CHUNK];    /* the row's metadata (owned), or NULL */
    unsigned char *pay[MT_CHUNK]; /* the row's payload (owned), or NULL */
    uint32_t pay_len[MT_CHUNK];   /* its length (0: none) */
    char *txt[MT_CHUNK];          /* the row's text (owned), or NULL */
    uint32_t txt_len[MT_CHUNK];   /* its length (0: none) */
    unsigned char *vecs;          /* MT_CHUNK vectors, 64-byte aligned */
} mt_chunk;

typedef struct mt_dir {
    struct mt_dir *retired; /* older directories, kept for readers */
    size_t cap;
    mt_chunk *chunks[];
} mt_dir;

typedef struct memtable {
    const vex_mem *mem;
    vex_index_config cfg; /* elem, metric, dim, vec_bytes */
    _Atomic int refs;
    _Atomic(mt_dir *) dir;
    _Atomic uint64_t n_rows;
    _Atomic uint64_t n_indexed;
    _Atomic uint64_t n_live;     /* rows not ended */
    _Atomic uint64_t meta_bytes; /* encoded size of the rows' metadata */
    _Atomic uint64_t pay_bytes;  /* bytes of the rows' payloads */
    _Atomic uint64_t txt_bytes;  /* bytes of the rows' texts */
    /* the keyword index of the rows' texts (text/memindex.h), keyed by
     * row; NULL for a collection without a text field. A row's text is
     * added before the row is published (invariant 1): readers see only
     * rows below n_rows through their `live` predicate. */
    vt_memindex *mi;
    vex_cmap ids;              /* id -> newest row */
    vx_ix *ix;                 /* HNSW keyed by row, or NULL (flat) */
    uint64_t min_seq, max_seq; /* of the operations applied to it */
    uint64_t freeze_seq;       /* last write applied before it was frozen: its
                                  flush covers the log up to here */
    _Atomic int frozen;        /* no more rows will be appended */
    /* the metadata field names of its rows, as 64-bit hashes (0 = empty
     * slot) in an open-addressing set: the writer adds a name before the
     * row holding it is published (invariant 1), readers probe it without
     * locks (vx_mt_has_field); names_full: more names than the set holds,
     * so every name counts as seen */
    _Atomic uint64_t names[MT_NAME_SLOTS];
    uint32_t n_names; /* writer only */
    _Atomic int names_full;
    pthread_mutex_t index_mu; /* one vx_mt_index_to at a time */
} memtable;

/* Create an empty memtable. `hnsw` NULL: flat (never indexed); else the
 * index options of its graph (kind HNSW; the memtable sets dim, elem,
 * metric and the allocator). `cfg` gives elem, metric, dim, vec_bytes.
 * `text` NULL: rows have no text; else the analyzer of its keyword
 * index. */
int vx_mt_create(const vex_mem *mem, const vex_index_config *cfg,
                 const vex_index_options *hnsw, const vt_analyzer *text,
                 vex_pool *pool, vex_err *err, memtable **out);

void vx_mt_ref(memtable *m);
void vx_mt_unref(memtable *m);

/* Writer. Append a row for `id` at `seq` with metadata `meta` (NULL:
 * none), a copy of the payload [pay, pay + pay_len) (0: none; at most
 * VEX_MAX_PAYLOAD) and a copy of the text [txt, txt + txt_len) (0: none;
 * valid UTF-8 of at most VT_MAX_TEXT, only with a keyword index), ending its
 * current live row in this memtable if there is one (*ended set to 1 then). On
 * VEX_OK the memtable owns `meta` (it is freed with the memtable, with m->mem);
 * on VEX_NOMEM the caller keeps it. The record and the payload are published
 * with the row (invariant 1), so readers may use them without locks for as long
 * as they hold the memtable. */
int vx_mt_put(memtable *m, uint64_t id, const void *vec, vm_record *meta,
              const void *pay, size_t pay_len, const char *txt, size_t txt_len,
              uint64_t seq, int *ended);
/* Reader. 0 when no row of the memtable (ended ones included) has ever
 * had a metadata field named by these `len` bytes; 1 when one has, or
 * (rarely: hashes, or more than 3/4 * MT_NAME_SLOTS names) might have.
 * Lock-free; any thread. */
int vx_mt_has_field(const memtable *m, const char *name, size_t len);
/* Writer. End the live row of `id` at `seq`: 1 if there was one. */
int vx_mt_delete(memtable *m, uint64_t id, uint64_t seq);
/* Writer. 1 when `id` has a live (not ended) row here. */
int vx_mt_live(const memtable *m, uint64_t id);

static inline uint64_t mt_rows(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->n_rows, memory_order_acquire);
}
static inline uint64_t mt_indexed(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->n_indexed,
                                memory_order_acquire);
}

static inline mt_chunk *mt_chunk_of(const memtable *m, uint64_t row)
{
    mt_dir *d =
        atomic_load_explicit(&((memtable *)m)->dir, memory_order_acquire);
    return d->chunks[row >> MT_CHUNK_SHIFT];
}
static inline uint64_t mt_row_id(const memtable *m, uint64_t row)
{
    return mt_chunk_of(m, row)->id[row & (MT_CHUNK - 1)];
}
static inline uint64_t mt_row_end(const memtable *m, uint64_t row)
{
    return atomic_load_explicit(
        &mt_chunk_of(m, row)->end_seq[row & (MT_CHUNK - 1)],
        memory_order_acquire);
}
static inline const void *mt_row_vec(const memtable *m, uint64_t row)
{
    return mt_chunk_of(m, row)->vecs +
           (row & (MT_CHUNK - 1)) * m->cfg.vec_bytes;
}
/* The row's metadata, or NULL (row < mt_rows()). */
static inline const vm_record *mt_row_meta(const memtable *m, uint64_t row)
{
    return mt_chunk_of(m, row)->meta[row & (MT_CHUNK - 1)];
}
/* The row's payload and its length (NULL, 0: none; row < mt_rows()). */
static inline const unsigned char *mt_row_pay(const memtable *m, uint64_t row,
                                              size_t *len)
{
    mt_chunk *c = mt_chunk_of(m, row);
    *len = c->pay_len[row & (MT_CHUNK - 1)];
    return c->pay[row & (MT_CHUNK - 1)];
}
/* The row's text and its length (NULL, 0: none; row < mt_rows()). */
static inline const char *mt_row_txt(const memtable *m, uint64_t row,
                                     size_t *len)
{
    mt_chunk *c = mt_chunk_of(m, row);
    *len = c->txt_len[row & (MT_CHUNK - 1)];
    return c->txt[row & (MT_CHUNK - 1)];
}
/* Visible at snapshot `seq` (row < mt_rows()). */
static inline int mt_visible(const memtable *m, uint64_t row, uint64_t seq)
{
    mt_chunk *c = mt_chunk_of(m, row);
    unsigned r = (unsigned)(row & (MT_CHUNK - 1));
    uint64_t end;
    if (c->add_seq[r] > seq)
        return 0;
    end = atomic_load_explicit(&c->end_seq[r], memory_order_acquire);
    return end == 0 || end > seq;
}

/* Reader. The row of `id` visible at `seq`: 1 and *row, else 0. */
int vx_mt_find(const memtable *m, uint64_t id, uint64_t seq, uint64_t *row);

/* Reader. Searches, record reads and scans go through the memtable's
 * source methods (vx_memtable_source, storage/source.h). */

/* Threads of the index's pool the indexer may use for its next chunk (0:
 * all), asked before each chunk. */
typedef unsigned (*vx_mt_width_fn)(void *ctx);

/* Indexer. Add rows [n_indexed, upto) to the graph (in parallel on the
 * index's pool, on as many of its threads as `width` allows; NULL: all),
 * then publish n_indexed = upto. `cancel` (may be NULL) is polled between
 * chunks: when it reads non-zero the call stops early with VEX_OK, having
 * published what it added. `done` (may be NULL) gets the rows in the
 * graph after each chunk (a flush's progress). No-op for a flat one. */
int vx_mt_index_to(memtable *m, uint64_t upto, const _Atomic int *cancel,
                   _Atomic uint64_t *done, vx_mt_width_fn width,
                   void *width_ctx, vex_err *err);

/* The keyword index's predicate of rows visible at the snapshot
 * sequence number *(const uint64_t *)ctx[1] of memtable ctx[0]: a
 * vt_row_fn for vx_bm25_multi (text/bm25.h); rows not yet published
 * (a put in progress) are never visible. */
int vx_mt_text_live(void *ctx, uint64_t row);

/* Bytes held (rows, map, graph, metadata, payloads, texts). */
uint64_t vx_mt_memory(const memtable *m);

#endif
