/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hybrid.c - keyword (BM25) and hybrid search of a collection: the
 * vex_search_params.text path of vx_coll_search_run.
 *
 * The keyword leg is one vx_bm25_multi (text/bm25.h) over every source of
 * the search's snapshot: each memtable (active and frozen) through its
 * keyword index with the snapshot's visibility as the `live` predicate,
 * each segment through its postings with the keys deleted at or before
 * the snapshot's sequence number as its deleted list. So the statistics
 * (N, the mean length, each term's document frequency) are those of the
 * live records of the snapshot, however they are spread over memtables
 * and segments. A metadata filter (params.where: a segment's match set,
 * a memtable row's metadata) and the user's id filter (params.filter)
 * select results without changing the statistics.
 *
 * The vector leg is the ordinary k-NN (vx_coll_search_run without the
 * text) for `text_candidates` results; the two lists are then fused
 * (text/fusion.h). Both legs read the same snapshot.
 *
 * Allocates per call: the legs' result lists, each segment's deleted
 * list (a pass over its delete array, O(keys) when it has deletes).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/coll_int.h"
#include "storage/source.h"
#include "text/bm25.h"
#include "text/fusion.h"
#include "util/abi.h"

/* One source of the keyword leg and what its predicates need. */
typedef struct hy_src {
    const vx_source *src;
    const memtable *mt;   /* a memtable source, or NULL */
    vseg *vs;             /* a segment source, or NULL */
    const void *live[2];  /* vx_mt_text_live's context: mt, &seq */
    const uint64_t *bits; /* a segment's match set, or NULL */
    const vx_match *match;
    const vmf_filter *where; /* a memtable's filter, per row */
    vex_filter_fn filter;
    void *filter_ctx;
    uint32_t *deleted;
    size_t n_deleted;
} hy_src;

static int hy_accept(void *ctx, uint64_t ref)
{
    const hy_src *h = ctx;
    if (h->bits && !(h->bits[ref >> 6] >> (ref & 63) & 1u))
        return 0;
    if (h->where && !vx_vmf_eval(h->where, mt_row_meta(h->mt, ref)))
        return 0;
    return h->filter == NULL ||
           h->filter(h->src->m->id_of(h->src->self, ref), h->filter_ctx) != 0;
}

/* A segment's keys deleted at or before `seq` that hold a text. */
static int hy_deleted(vex_collection *c, hy_src *h, const vt_postings *p,
                      uint64_t seq)
{
    uint32_t n_keys = vx_post_n_keys(p);
    uint64_t n = atomic_load_explicit(&h->vs->n_deleted, memory_order_acquire);
    size_t cap = 0;
    if (n == 0)
        return VEX_OK;
    for (uint32_t k = 0; k < n_keys; k++) {
        uint64_t d = vseg_del_seq(h->vs, k);
        if (d == 0 || d > seq || vx_post_doc_len(p, k) == VT_NO_TEXT)
            continue;
        if (h->n_deleted == cap) {
            size_t nc = cap ? 2 * cap : 64;
            uint32_t *q =
                vx_mem_realloc(c->mem, h->deleted, nc * sizeof *h->deleted);
            if (q == NULL)
                return vx_coll_nomem(c);
            h->deleted = q;
            cap = nc;
        }
        h->deleted[h->n_deleted++] = k;
    }
    return VEX_OK;
}

/* The keyword leg: the k best live records holding a query term, as
 * (id, BM25 score) best first into out[0..*n). */
static int text_leg(vex_collection *c, const vx_snap *s,
                    const vex_search_params *p, size_t k, vt_ranked *out,
                    size_t *n, vt_stats *st, vt_qinfo *info)
{
    uint32_t n_src = s->v->n_src, used = 0;
    hy_src *hs = vx_mem_calloc(c->mem, n_src ? n_src : 1, sizeof *hs);
    vt_src *vs = vx_mem_calloc(c->mem, n_src ? n_src : 1, sizeof *vs);
    vt_mhit *mh = vx_mem_alloc(c->mem, k * sizeof *mh);
    vt_bm25 prm;
    size_t nh = 0;
    int rc = VEX_OK;
    *n = 0;
    if (hs == NULL || vs == NULL || mh == NULL) {
        rc = vx_coll_nomem(c);
        goto out;
    }
    for (uint32_t i = 0; i < n_src && rc == VEX_OK; i++) {
        const vx_source *src = &s->v->src[i];
        hy_src *h = &hs[used];
        vt_src *v = &vs[used];
        h->src = src;
        h->filter = p->filter;
        h->filter_ctx = p->filter_ctx;
        if (src->m == &vx_memtable_source) {
            h->mt = src->self;
            if (h->mt->mi == NULL || vx_mi_rows(h->mt->mi) == 0)
                continue;
            h->live[0] = h->mt;
            h->live[1] = &s->seq;
            h->where = p->where ? p->where->f : NULL;
            v->mi = h->mt->mi;
            v->live = vx_mt_text_live;
            v->live_ctx = (void *)h->live;
        } else {
            const vt_postings *post;
            h->vs = src->self;
            post = vx_seg_postings(h->vs->s);
            if (post == NULL)
                continue;
            if (p->where) {
                int built = 0;
                rc = vx_vseg_match(h->vs, &p->where->key, p->where->f,
                                   &h->match, &built, &c->err);
                if (rc != VEX_OK)
                    break;
                h->bits = h->match->bits;
            }
            if ((rc = hy_deleted(c, h, post, s->seq)) != VEX_OK)
                break;
            v->p = post;
            v->deleted = h->deleted;
            v->n_deleted = h->n_deleted;
        }
        if (h->bits || h->where || h->filter) {
            v->accept = hy_accept;
            v->actx = h;
        }
        used++;
    }
    if (rc == VEX_OK && used > 0) {
        prm.k1 = p->bm25_k1;
        prm.b = p->bm25_b;
        prm.avgdl = 1.0;
        rc =
            vx_bm25_multi(c->mem, &c->analyzer, vs, used, p->text,
                          strlen(p->text), &prm, k, mh, &nh, st, info, &c->err);
        if (rc != VEX_OK) {
            char msg[VEX_ERRMSG_MAX];
            vx_err_copy(&c->err, msg, sizeof msg);
            rc = vx_err_set(&c->err, rc, "params.text: %s", msg);
        }
    }
    for (size_t i = 0; rc == VEX_OK && i < nh; i++) {
        const vx_source *src = hs[mh[i].src].src;
        out[i].id = src->m->id_of(src->self, mh[i].key);
        out[i].score = mh[i].score;
    }
    if (rc == VEX_OK)
        *n = nh;
out:
    for (uint32_t i = 0; hs && i < n_src; i++) {
        if (hs[i].match)
            vx_vseg_match_release(hs[i].vs, hs[i].match);
        vx_mem_free(c->mem, hs[i].deleted);
    }
    vx_mem_free(c->mem, hs);
    vx_mem_free(c->mem, vs);
    vx_mem_free(c->mem, mh);
    return rc;
}

int vx_coll_text_check(vex_collection *c, const void *query, size_t k,
                       const vex_search_params *p)
{
    vex_err e;
    int rc;
    (void)k;
    if (!c->cfg.text)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.text: collection \"%s\" has no text field "
                          "(create it with vex_collection_config.text = 1)",
                          c->name);
    vx_err_init(&e);
    rc = vx_text_check_utf8(p->text, strlen(p->text), "params.text", &e);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&e, msg, sizeof msg);
        vx_err_destroy(&e);
        return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
    }
    vx_err_destroy(&e);
    if (!(p->bm25_k1 >= 0.0f && p->bm25_k1 <= 100.0f) ||
        !(p->bm25_b >= 0.0f && p->bm25_b <= 1.0f))
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.bm25_k1 is %g and bm25_b %g: k1 must be "
                          "0..100 and b 0..1",
                          (double)p->bm25_k1, (double)p->bm25_b);
    if (query == NULL)
        return VEX_OK; /* keyword only: nothing is fused */
    if (p->fusion != VEX_FUSION_RRF && p->fusion != VEX_FUSION_SUM)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.fusion is %u: VEX_FUSION_RRF (1) or "
                          "VEX_FUSION_SUM (2)",
                          p->fusion);
    if (!(p->rrf_k >= 0.0f && p->rrf_k <= 1e6f))
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.rrf_k is %g, must be 0..1e6",
                          (double)p->rrf_k);
    if (!(p->vector_weight >= 0.0f && isfinite(p->vector_weight)) ||
        !(p->text_weight >= 0.0f && isfinite(p->text_weight)) ||
        (p->vector_weight == 0.0f && p->text_weight == 0.0f))
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.vector_weight %g and text_weight %g: each "
                          "finite and >= 0, not both 0",
                          (double)p->vector_weight, (double)p->text_weight);
    if (p->text_candidates != 0 &&
        (p->text_candidates < k || p->text_candidates > VEX_MAX_K))
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.text_candidates is %u, must be 0 or "
                          "k..%d (k is %zu)",
                          p->text_candidates, VEX_MAX_K, k);
    return VEX_OK;
}

int vx_coll_hybrid_run(vex_collection *c, vx_snap *s, const void *query,
                       size_t k, const vex_search_params *p, vex_hit *hits,
                       size_t *n_hits)
{
    size_t cand = k, nv = 0, nt = 0, nf = 0;
    vex_hit *vh = NULL, *tmp = NULL;
    vt_ranked *vl = NULL, *tl = NULL, *fused = NULL;
    vex_search_stats vst;
    vt_stats ts;
    vt_qinfo info;
    int rc = VEX_OK;
    *n_hits = 0;
    memset(&ts, 0, sizeof ts);
    memset(&info, 0, sizeof info);
    vex_search_stats_init(&vst);
    if (query) {
        cand = p->text_candidates ? p->text_candidates : k > 100 ? k : 100;
        if (cand > VEX_MAX_K)
            cand = VEX_MAX_K;
    }
    tl = vx_mem_alloc(c->mem, cand * sizeof *tl);
    if (tl == NULL)
        return vx_coll_nomem(c);
    if (query) {
        vex_search_params pv = *p;
        vh = vx_mem_alloc(c->mem, cand * sizeof *vh);
        tmp = vx_mem_alloc(c->mem, cand * sizeof *tmp);
        vl = vx_mem_alloc(c->mem, cand * sizeof *vl);
        fused = vx_mem_alloc(c->mem, k * sizeof *fused);
        if (vh == NULL || tmp == NULL || vl == NULL || fused == NULL) {
            rc = vx_coll_nomem(c);
            goto out;
        }
        pv.text = NULL;
        pv.stats = &vst;
        if (p->stats && p->stats->struct_size >=
                            VX_SIZE_UPTO(vex_search_stats, n_explain)) {
            vst.explain = p->stats->explain;
            vst.explain_cap = p->stats->explain_cap;
        }
        rc = vx_coll_search_run(c, s, query, cand, &pv, vh, tmp, &nv);
        if (rc != VEX_OK)
            goto out;
        for (size_t i = 0; i < nv; i++) {
            vl[i].id = vh[i].id;
            vl[i].score = vh[i].distance;
        }
    }
    rc = text_leg(c, s, p, cand, tl, &nt, &ts, &info);
    if (rc != VEX_OK)
        goto out;
    if (query) {
        vt_list lists[2];
        lists[0].items = vl;
        lists[0].n = nv;
        lists[0].lower_is_better = 1;
        lists[0].weight = p->vector_weight;
        lists[1].items = tl;
        lists[1].n = nt;
        lists[1].lower_is_better = 0;
        lists[1].weight = p->text_weight;
        rc = vx_fuse(c->mem,
                     p->fusion == VEX_FUSION_SUM ? VT_FUSE_WEIGHTED
                                                 : VT_FUSE_RRF,
                     p->rrf_k, lists, 2, k, fused, &nf, &c->err);
        if (rc != VEX_OK)
            goto out;
        for (size_t i = 0; i < nf; i++) {
            hits[i].id = fused[i].id;
            hits[i].distance = (float)-fused[i].score;
        }
        *n_hits = nf;
    } else {
        for (size_t i = 0; i < nt && i < k; i++) {
            hits[i].id = tl[i].id;
            hits[i].distance = (float)-tl[i].score;
        }
        *n_hits = nt < k ? nt : k;
    }
    if (p->stats) {
        vst.legs = VEX_LEG_TEXT | (query ? VEX_LEG_VECTOR : 0u);
        vst.postings_read = ts.postings_read;
        vst.postings_skipped = ts.postings_skipped;
        vst.text_docs_scored = ts.docs_scored;
        vst.text_docs = info.n_docs;
        vst.vector_hits = (uint32_t)nv;
        vst.text_hits = (uint32_t)nt;
        if (!query) { /* no source ran a vector plan */
            vst.explain = NULL;
            vst.explain_cap = 0;
            vst.n_explain = 0;
            if (p->stats->struct_size >=
                VX_SIZE_UPTO(vex_search_stats, n_explain)) {
                vst.explain = p->stats->explain;
                vst.explain_cap = p->stats->explain_cap;
            }
        }
        vx_abi_out(&VX_ABI_SEARCH_STATS, p->stats, &vst);
    }
out:
    vx_mem_free(c->mem, vh);
    vx_mem_free(c->mem, tmp);
    vx_mem_free(c->mem, vl);
    vx_mem_free(c->mem, tl);
    vx_mem_free(c->mem, fused);
    return rc;
}
