/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qcodes.h - quantized codes of an index, shared by flat and
 * HNSW.
 *
 * A quantized index keeps, next to its full vectors, one code per slot
 * (slot numbering is the kind's own: flat's dense rows, HNSW's level-0
 * slots) and the quantizer (src/quant) that made them. Searches rank by
 * code distances through a distance computer (vq_dc, one per search
 * context, created with the context, so searches do not allocate) and
 * rerank the best ceil(refine * k) with full vectors; that part lives in
 * each kind, which knows how to reach a slot's vector. This file owns the
 * code array (growth, copy on write of a borrowed blob), training, and the
 * two blob sections (quantizer, codes) with their checks.
 *
 * Block copy (4-bit PQ/OPQ, for a kind that asks with vx_qc_use_blocks: flat,
 * which scans every code; HNSW reads single codes and does not ask). The
 * codes again, interleaved by 32 for the fast scan (vx_vq_pq4_pack; layout at
 * pq4_scan in simd/simd.h), scored with vx_vq_dc_scan_blocks. It lives in
 * memory only: the blob keeps the plain codes (its format does not
 * change) and the copy is rebuilt by vx_qc_train (filled by the vx_qc_encode
 * that follows) and vx_qc_blob_open, always owned, even when the codes are
 * borrowed. Invariant: when blocks != NULL, blocks_cap >= cap and lane i
 * of the copy holds code i for every slot the kind has encoded or moved
 * (vx_qc_encode and vx_qc_move write both forms; vx_qc_reserve grows both);
 * lanes past the kind's count are stale, which is harmless because
 * vx_vq_dc_scan_blocks returns only the first n distances. blocks == NULL on
 * a trained store is consistent too (searches use the plain codes): the
 * copy is an accelerator, never the only place a code lives.
 *
 * Locking: none here; the kind calls in under its own lock (writes
 * exclusive, searches shared). Errors go to the `err` of the call that
 * failed (the caller's, through the kind), never to a stored one.
 */
#ifndef VEX_INDEX_QCODES_H
#define VEX_INDEX_QCODES_H

#include <stddef.h>
#include <stdint.h>

#include "index/blob.h"
#include "quant/quant.h"
#include "util/err.h"
#include "util/mem.h"

struct vex_index_config;

typedef struct vex_qcodes {
    const vex_mem *mem;
    vq_params params;
    vq_quantizer *q; /* untrained until vx_qc_train succeeds */
    int trained;
    size_t code_size;
    unsigned char *codes; /* cap * code_size; NULL until trained */
    uint64_t cap;         /* codes allocated */
    uint64_t want;        /* slots the kind has room for */
    int borrowed;         /* codes point into a caller's blob */
    /* block copy (see the top of this file) */
    int use_blocks;        /* the kind asked for it (vx_qc_use_blocks) */
    unsigned char *blocks; /* blocks_cap / 32 blocks; NULL when none */
    uint64_t blocks_cap;   /* slots, a multiple of 32 */
    size_t block_bytes;    /* bytes of one block of 32 codes (M * 16) */
} vex_qcodes;

/* A new code store for cfg (cfg->quant != 0), untrained. */
int vx_qc_create(const vex_mem *mem, vex_err *err,
                 const struct vex_index_config *cfg, vex_qcodes **out);
void vx_qc_destroy(vex_qcodes *qc); /* NULL-safe */

/* Keep a block copy of 4-bit PQ/OPQ codes from the next vx_qc_train or
 * vx_qc_blob_open on (nothing for other quantizers). Call before either. A
 * kind that asks must write codes only through vx_qc_encode and vx_qc_move
 * (HNSW copies codes into qc->codes itself, one reason it does not ask). */
void vx_qc_use_blocks(vex_qcodes *qc);

/* The kind has room for `cap` slots; codes (and the block copy) follow
 * once trained. A borrowed code array is copied here (copy on first
 * write). All or nothing as far as the kind can tell: on failure the
 * capacity it may use (cap) is unchanged. */
int vx_qc_reserve(vex_qcodes *qc, uint64_t cap, vex_err *err);

/* Train on n vectors at x (contiguous float32 rows) and allocate codes for
 * at least n_slots slots. On failure the store stays untrained.
 * Afterwards the kind encodes its slots (vx_qc_encode). */
int vx_qc_train(vex_qcodes *qc, const float *x, size_t n, uint64_t n_slots,
                vex_err *err);

/* Back to untrained (a failed encode right after training). */
void vx_qc_untrain(vex_qcodes *qc);

/* Encode n vectors (contiguous rows) into slots slot..slot+n-1 (and their
 * lanes of the block copy); a no-op until trained. */
int vx_qc_encode(vex_qcodes *qc, uint64_t slot, const float *x, size_t n,
                 vex_err *err);

static inline const unsigned char *qc_code(const vex_qcodes *qc, uint64_t slot)
{
    return qc->codes + slot * qc->code_size;
}

/* The block holding slots slot..slot+31 of the block copy; slot must be a
 * multiple of 32 and qc->blocks not NULL. */
static inline const unsigned char *qc_block(const vex_qcodes *qc, uint64_t slot)
{
    return qc->blocks + (size_t)(slot / 32) * qc->block_bytes;
}

/* Copy slot src's code over dst's (flat's remove), in both forms. */
void vx_qc_move(vex_qcodes *qc, uint64_t dst, uint64_t src);

/* Candidates to rerank for k hits: ceil(refine * k), refine = the search's
 * or the default, at least k, at most VEX_MAX_K. */
size_t vx_qc_candidates(float refine, float dflt, size_t k);

/* Blob: append the quantizer and codes sections (when trained) to info,
 * n_slots codes; then, once laid out, write them into buf. */
void vx_qc_blob_sections(const vex_qcodes *qc, vex_blob_info *info,
                         uint64_t n_slots);
int vx_qc_blob_write(vex_qcodes *qc, const vex_blob_info *info,
                     unsigned char *buf, uint64_t n_slots, vex_err *err);
/* Load the sections of a blob: a trained store when present (the
 * quantizer must match the header's quant fields and dimension; the codes
 * section must hold exactly n_slots codes), VEX_CORRUPT otherwise. With
 * borrow the codes stay in buf. */
int vx_qc_blob_open(vex_qcodes *qc, const vex_blob_info *info,
                    const unsigned char *buf, uint64_t n_slots, int borrow,
                    vex_err *err);

/* Bytes held (codes, block copy, quantizer tables estimate). */
uint64_t vx_qc_memory(const vex_qcodes *qc);

/* Most rows a kind hands to vx_qc_train when training on its own vectors
 * (an evenly spaced subsample); the quantizer's own default cap. */
#define QC_TRAIN_MAX 65536

#endif
