/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fusion.h - fusing ranked lists of ids (a hybrid search's vector leg and
 * keyword leg) into one ranking: reciprocal rank fusion, or a weighted sum
 * of min-max normalised scores. Pure functions; any thread.
 *
 * Reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009):
 *     fused(d) = sum over lists L holding d of  w_L / (k + rank_L(d))
 * with ranks from 1 and k = 60 by default; scores are ignored, so lists
 * of distances and of BM25 scores mix without calibration.
 * Weighted: each list's scores are mapped to [0, 1] with its best score 1
 * and its worst 0 (every score 1 when they are all equal; a list of
 * distances, lower_is_better, is mapped the other way), then
 *     fused(d) = sum over lists L holding d of  w_L * norm_L(d).
 * A document missing from a list gets nothing from it. Ties in the fused
 * score go to the smaller id.
 */
#ifndef VEX_TEXT_FUSION_H
#define VEX_TEXT_FUSION_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"

enum { VT_FUSE_RRF = 1, VT_FUSE_WEIGHTED = 2 };

typedef struct vt_ranked {
    uint64_t id;
    double score;
} vt_ranked;

/* One input list, best first, each id at most once. */
typedef struct vt_list {
    const vt_ranked *items;
    size_t n;
    int lower_is_better; /* scores are distances (weighted fusion) */
    double weight;       /* >= 0 */
} vt_list;

/* Fuses lists[0..n_lists) into the k best (id, fused score), best first,
 * into out[0..*n_out). `rrf_k` (>= 0) is RRF's constant. VEX_OK,
 * VEX_INVALID (method, k 0, a weight or rrf_k negative or not finite, a
 * NaN score, an id twice in one list, lists not in order), VEX_NOMEM. */
int vx_fuse(const vex_mem *mem, int method, double rrf_k, const vt_list *lists,
            size_t n_lists, size_t k, vt_ranked *out, size_t *n_out,
            vex_err *err);

#endif
