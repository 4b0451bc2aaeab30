/* SPDX-License-Identifier: Apache-2.0 */
/*
 * postings.h - BM25 postings of one set of documents (a segment's keys
 * 0..n_keys-1): an in-memory builder, the serialised blob (docs/FORMAT.md
 * "Text postings"), a strict opener, and BM25 top-k by block-max WAND.
 *
 * A document is a key with a text field (possibly empty); its length is
 * its number of terms. For each term the blob keeps the keys that hold
 * it with their term frequencies, ascending, in blocks of `block` postings
 * (delta + varint coded) with, per block, the last key, the largest term
 * frequency and the smallest document length: together an upper bound of
 * the block's BM25 contribution for ANY collection statistics, which is
 * what lets the blob be written once while scores use statistics of the
 * whole collection (several segments and a memtable). The caller passes
 * those statistics in: the number of documents, their average length and
 * each query term's IDF (vx_bm25_idf over document frequencies summed
 * across sources).
 *
 * BM25 as SQLite FTS5's bm25() computes it (and this module is tested
 * against it):
 *     score(D) = sum over query terms t in D of
 *         idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |D| / avgdl))
 *     idf(t) = ln((N - df + 0.5) / (df + 0.5)), and 1e-6 when that is <= 0
 * with N the number of documents, df the number holding t, |D| the
 * document's length and avgdl the mean length over the N documents. A
 * term repeated in the query counts once per occurrence (weight = idf x
 * occurrences), as FTS5 sums over phrases.
 *
 * Threading: a vt_postings is immutable after open; searches on it may
 * run at once from any threads (each allocates its own cursors). A
 * builder belongs to one thread.
 */
#ifndef VEX_TEXT_POSTINGS_H
#define VEX_TEXT_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "text/text.h"
#include "util/err.h"
#include "util/mem.h"

#define VT_POST_VERSION    1u
#define VT_POST_BLOCK      128u        /* postings per block, by default */
#define VT_POST_MAX_BLOCK  65536u      /* largest block size accepted */
#define VT_NO_TEXT         0xFFFFFFFFu /* doc length of a key without text */
#define VT_MAX_DOC_TERMS   0xFFFFFFF0u /* terms in one document */
#define VT_MAX_QUERY_TERMS 1024u

/* ---- building -------------------------------------------------------- */

typedef struct vt_builder vt_builder;

/* A builder of postings analysed with `a`, blocks of `block` postings
 * (1..VT_POST_MAX_BLOCK). VEX_OK, VEX_INVALID, VEX_NOMEM. */
int vx_post_builder_new(const vex_mem *mem, const vt_analyzer *a,
                        uint32_t block, vt_builder **out, vex_err *err);

/* Adds key's text (text[0..len), valid UTF-8; NULL: the key has no text
 * field). Keys come in ascending order, each once; keys never added have
 * no text. VEX_INVALID (order, UTF-8, too many terms), VEX_NOMEM; after a
 * failure the builder only accepts vx_post_builder_free. */
int vx_post_builder_add(vt_builder *b, uint32_t key, const char *text,
                        size_t len, vex_err *err);

/* Adds a document already analysed: n_terms terms (term i of length
 * lens[i]) in any order, repeats counted (compaction re-adds documents
 * this way without re-analysing them). Same rules as _add. */
int vx_post_builder_add_terms(vt_builder *b, uint32_t key,
                              const char *const *terms, const size_t *lens,
                              size_t n_terms, vex_err *err);

/* Writes the blob for keys 0..n_keys-1 (n_keys above every added key)
 * into a buffer allocated with the builder's allocator (*out, *out_len;
 * free with vx_mem_free). The builder stays usable for nothing but free. */
int vx_post_builder_finish(vt_builder *b, uint32_t n_keys, unsigned char **out,
                           size_t *out_len, vex_err *err);

void vx_post_builder_free(vt_builder *b);

/* ---- reading --------------------------------------------------------- */

typedef struct vt_postings vt_postings;

/* Opens the blob p[0..len) (not copied: it must outlive the handle),
 * checking all of it: checksum, version, sizes, term order, every block
 * decoded and compared with its table entry, every document's length
 * equal to the sum of its term frequencies. `name` and `base` (the
 * blob's offset in its file) go into VEX_CORRUPT messages. */
int vx_post_open(const vex_mem *mem, const void *p, size_t len,
                 const char *name, size_t base, vt_postings **out,
                 vex_err *err);
void vx_post_close(vt_postings *p);

/* The analyzer the blob was built with. */
vt_analyzer vx_post_analyzer(const vt_postings *p);
uint32_t vx_post_n_keys(const vt_postings *p);
/* Keys with a text field, and the sum of their lengths. */
uint32_t vx_post_n_docs(const vt_postings *p);
uint64_t vx_post_total_len(const vt_postings *p);
/* Length of key's document, VT_NO_TEXT when it has none; key < n_keys. */
uint32_t vx_post_doc_len(const vt_postings *p, uint32_t key);
uint32_t vx_post_n_terms(const vt_postings *p);
/* The term numbered i (< n_terms): bytes and length. */
const char *vx_post_term(const vt_postings *p, uint32_t i, size_t *len);
/* The number of term[0..len) or -1 when absent. */
int64_t vx_post_find(const vt_postings *p, const char *term, size_t len);
/* Documents holding term i. */
uint32_t vx_post_df(const vt_postings *p, uint32_t i);

/* Calls fn(ctx, key, tf) for each posting of term i, ascending; stops at
 * and returns fn's first non-zero return. */
int vx_post_each(const vt_postings *p, uint32_t i,
                 int (*fn)(void *ctx, uint32_t key, uint32_t tf), void *ctx);

/* ---- BM25 ------------------------------------------------------------ */

/* FTS5's IDF: ln((n - df + 0.5) / (df + 0.5)), 1e-6 when not positive. */
double vx_bm25_idf(uint64_t n, uint64_t df);

typedef struct vt_bm25 {
    double k1;    /* >= 0 */
    double b;     /* 0..1 */
    double avgdl; /* > 0: mean document length of the collection */
} vt_bm25;

/* One query term: its number in this blob and its weight (its IDF times
 * its occurrences in the query; > 0). */
typedef struct vt_qterm {
    uint32_t term;
    double weight;
} vt_qterm;

typedef struct vt_hit {
    double score;
    uint32_t key;
} vt_hit;

/* Counters a search adds to (never resets). */
typedef struct vt_stats {
    uint64_t postings_read;    /* decoded from blocks */
    uint64_t postings_skipped; /* of the query terms, never decoded */
    uint64_t blocks_read, blocks_skipped;
    uint64_t docs_scored; /* candidates fully scored */
} vt_stats;

/* Keep (1) or leave out (0) key: deletes, snapshots, filters. */
typedef int (*vt_accept_fn)(void *ctx, uint32_t key);

/* The k (1..) best documents holding at least one query term, by score
 * descending then key ascending, into out[0..*n_out). Exact: the same as
 * scoring every document (block-max WAND only skips documents whose
 * bound cannot beat the k-th score). accept may be NULL (all keys).
 * VEX_OK, VEX_INVALID (parameters), VEX_NOMEM. */
int vx_post_search(const vt_postings *p, const vt_bm25 *prm, const vt_qterm *q,
                   size_t nq, size_t k, vt_accept_fn accept, void *actx,
                   vt_hit *out, size_t *n_out, vt_stats *st, vex_err *err);

/* One term's BM25 contribution (weight already includes the IDF). */
static inline double vx_bm25_term(const vt_bm25 *prm, double weight,
                                  uint32_t tf, uint32_t len)
{
    double f = (double)tf;
    return weight * (f * (prm->k1 + 1.0)) /
           (f + prm->k1 * (1.0 - prm->b + prm->b * (double)len / prm->avgdl));
}

#endif
