/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fusion.c - reciprocal rank fusion and weighted score fusion (fusion.h).
 * The lists are short (a k-NN and a BM25 top-k), so the union is gathered
 * in one array, sorted by id to add up each document's shares, and sorted
 * again by fused score: O(n log n) in the total length, no hash table.
 */
#include "text/fusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One list's share for one document. */
typedef struct fu_share {
    uint64_t id;
    double score;
    size_t list;
} fu_share;

/* By id, then list: the shares of a document are summed in list order,
 * so a fused score is the same bits whatever order qsort leaves. */
static int fu_by_id(const void *x, const void *y)
{
    const fu_share *a = x, *b = y;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return a->list < b->list ? -1 : a->list > b->list;
}

static int fu_by_score(const void *x, const void *y)
{
    const vt_ranked *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Checks one list: order, scores, weight. */
static int fu_check(const vt_list *l, size_t li, vex_err *err)
{
    size_t i;
    if (!(l->weight >= 0.0) || !isfinite(l->weight))
        return vx_err_set(err, VEX_INVALID,
                          "fusion: list %zu: weight must be finite and >= 0",
                          li);
    if (l->n > 0 && l->items == NULL)
        return vx_err_set(err, VEX_INVALID, "fusion: list %zu: no items", li);
    for (i = 0; i < l->n; i++) {
        double s = l->items[i].score;
        if (isnan(s))
            return vx_err_set(err, VEX_INVALID,
                              "fusion: list %zu: item %zu has a NaN score", li,
                              i);
        if (i > 0 && (l->lower_is_better ? s < l->items[i - 1].score
                                         : s > l->items[i - 1].score))
            return vx_err_set(err, VEX_INVALID,
                              "fusion: list %zu: item %zu out of order", li, i);
    }
    return VEX_OK;
}

int vx_fuse(const vex_mem *mem, int method, double rrf_k, const vt_list *lists,
            size_t n_lists, size_t k, vt_ranked *out, size_t *n_out,
            vex_err *err)
{
    fu_share *all = NULL;
    size_t total = 0, i, j, n = 0, li;
    int rc;
    *n_out = 0;
    if (method != VT_FUSE_RRF && method != VT_FUSE_WEIGHTED)
        return vx_err_set(err, VEX_INVALID, "fusion: unknown method %d",
                          method);
    if (k == 0)
        return vx_err_set(err, VEX_INVALID, "fusion: k must be at least 1");
    if (!(rrf_k >= 0.0) || !isfinite(rrf_k))
        return vx_err_set(err, VEX_INVALID,
                          "fusion: rrf k must be finite and >= 0");
    for (li = 0; li < n_lists; li++) {
        rc = fu_check(&lists[li], li, err);
        if (rc != VEX_OK)
            return rc;
        if (lists[li].n > SIZE_MAX / sizeof *all - total)
            return vx_err_set(err, VEX_NOMEM, "fusion: out of memory");
        total += lists[li].n;
    }
    if (total == 0)
        return VEX_OK;
    all = vx_mem_alloc(mem, total * sizeof *all);
    if (all == NULL)
        return vx_err_set(err, VEX_NOMEM, "fusion: out of memory");
    for (li = 0; li < n_lists; li++) {
        const vt_list *l = &lists[li];
        double best = 0.0, worst = 0.0, span;
        size_t start = n;
        if (l->n > 0) {
            best = l->items[0].score;
            worst = l->items[l->n - 1].score;
        }
        span = fabs(best - worst);
        for (i = 0; i < l->n; i++) {
            double share;
            if (method == VT_FUSE_RRF)
                share = l->weight / (rrf_k + (double)(i + 1));
            else if (span == 0.0 || !isfinite(span))
                share = l->weight;
            else
                share = l->weight * (fabs(l->items[i].score - worst) / span);
            all[n].id = l->items[i].id;
            all[n].list = li;
            all[n++].score = share;
        }
        /* an id twice in one list is the caller's mistake */
        qsort(all + start, n - start, sizeof *all, fu_by_id);
        for (i = start + 1; i < n; i++)
            if (all[i].id == all[i - 1].id) {
                unsigned long long dup = (unsigned long long)all[i].id;
                vx_mem_free(mem, all);
                return vx_err_set(err, VEX_INVALID,
                                  "fusion: list %zu holds id %llu twice", li,
                                  dup);
            }
    }
    qsort(all, n, sizeof *all, fu_by_id);
    for (i = 0, j = 0; i < n; j++) {
        size_t e = i + 1;
        double s = all[i].score;
        while (e < n && all[e].id == all[i].id)
            s += all[e++].score;
        all[j].id = all[i].id;
        all[j].score = s;
        i = e;
    }
    /* the fused ranking */
    {
        vt_ranked *res = (vt_ranked *)vx_mem_alloc(mem, j * sizeof *res);
        if (res == NULL) {
            vx_mem_free(mem, all);
            return vx_err_set(err, VEX_NOMEM, "fusion: out of memory");
        }
        for (i = 0; i < j; i++) {
            res[i].id = all[i].id;
            res[i].score = all[i].score;
        }
        qsort(res, j, sizeof *res, fu_by_score);
        if (j > k)
            j = k;
        memcpy(out, res, j * sizeof *out);
        vx_mem_free(mem, res);
    }
    *n_out = j;
    vx_mem_free(mem, all);
    return VEX_OK;
}
