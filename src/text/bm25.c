/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bm25.c - BM25 over several sets of postings with collection-wide
 * statistics of the live documents (bm25.h).
 *
 * A query runs in three steps: the query text is analysed into distinct
 * terms with their occurrence counts; the statistics are summed over the
 * sources, each source's deleted keys taken off (their lengths from the
 * length table, their share of each term's document frequency counted
 * through the postings, vx_post_count_keys); then every source runs its
 * own block-max WAND top-k with the same term weights and the results
 * are merged. Each source returns its own k best, so the merge is exact.
 */
#include "text/bm25.h"

#include <stdlib.h>
#include <string.h>

typedef struct bm_term {
    size_t off, len; /* in the query's term arena */
    uint32_t count;  /* occurrences in the query */
    uint64_t df;     /* live documents holding it, all sources */
} bm_term;

typedef struct bm_query {
    const vex_mem *mem;
    char *arena;
    size_t used, cap;
    bm_term *terms;
    size_t n;
} bm_query;

static int bm_on_term(void *ctx, const char *t, size_t len)
{
    bm_query *q = ctx;
    size_t i;
    for (i = 0; i < q->n; i++)
        if (q->terms[i].len == len &&
            memcmp(q->arena + q->terms[i].off, t, len) == 0) {
            q->terms[i].count++;
            return 0;
        }
    if (q->n == VT_MAX_QUERY_TERMS)
        return VEX_FULL;
    if (q->used + len > q->cap)
        return VEX_FULL; /* cannot happen: the arena bounds every term */
    memcpy(q->arena + q->used, t, len);
    q->terms[q->n].off = q->used;
    q->terms[q->n].len = len;
    q->terms[q->n].count = 1;
    q->terms[q->n].df = 0;
    q->used += len;
    q->n++;
    return 0;
}

typedef struct bm_acc {
    const vt_src *s;
} bm_acc;

static int bm_accept(void *ctx, uint32_t key)
{
    const vt_src *s = ((const bm_acc *)ctx)->s;
    size_t lo = 0, hi = s->n_deleted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->deleted[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n_deleted && s->deleted[lo] == key)
        return 0;
    return s->accept == NULL || s->accept(s->actx, (uint64_t)key);
}

static int bm_mhit_order(const void *x, const void *y)
{
    const vt_mhit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->src != b->src)
        return a->src < b->src ? -1 : 1;
    return a->key < b->key ? -1 : a->key > b->key;
}

/* Checks the sources; sums the live statistics into q and *info. */
/* A memindex source's share of the statistics. */
static int bm_mi_stats(const vt_src *src, bm_query *q, vt_qinfo *info,
                       vex_err *err)
{
    const char **terms = vx_mem_alloc(q->mem, (q->n + 1) * sizeof *terms);
    size_t *lens = vx_mem_alloc(q->mem, (q->n + 1) * sizeof *lens);
    uint64_t *df = vx_mem_calloc(q->mem, q->n + 1, sizeof *df);
    size_t t;
    int rc = VEX_OK;
    if (terms == NULL || lens == NULL || df == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "bm25: out of memory");
    } else {
        for (t = 0; t < q->n; t++) {
            terms[t] = q->arena + q->terms[t].off;
            lens[t] = q->terms[t].len;
        }
        rc = vx_mi_stats(src->mi, terms, lens, q->n, src->live, src->live_ctx,
                         &info->n_docs, &info->total_len, df);
        for (t = 0; t < q->n; t++)
            q->terms[t].df += df[t];
    }
    vx_mem_free(q->mem, terms);
    vx_mem_free(q->mem, lens);
    vx_mem_free(q->mem, df);
    return rc;
}

static int bm_stats(const vt_analyzer *a, const vt_src *srcs, size_t n_src,
                    bm_query *q, vt_qinfo *info, vex_err *err)
{
    size_t s, t, i;
    int rc;
    for (s = 0; s < n_src; s++) {
        const vt_postings *p = srcs[s].p;
        vt_analyzer pa;
        uint64_t docs, total;
        if ((p == NULL) == (srcs[s].mi == NULL))
            return vx_err_set(err, VEX_INVALID,
                              "bm25: source %zu needs postings or an "
                              "in-memory index, not both",
                              s);
        pa = p ? vx_post_analyzer(p) : vx_mi_analyzer(srcs[s].mi);
        if (pa.stemmer != a->stemmer || pa.stopwords != a->stopwords)
            return VX_CORRUPT(err,
                              "bm25: source %zu was built with another "
                              "analyzer",
                              s);
        if (p == NULL) {
            rc = bm_mi_stats(&srcs[s], q, info, err);
            if (rc != VEX_OK)
                return rc;
            continue;
        }
        docs = vx_post_n_docs(p);
        total = vx_post_total_len(p);
        for (i = 0; i < srcs[s].n_deleted; i++) {
            uint32_t key = srcs[s].deleted[i], len;
            if (key >= vx_post_n_keys(p) ||
                (i > 0 && key <= srcs[s].deleted[i - 1]))
                return vx_err_set(err, VEX_INVALID,
                                  "bm25: source %zu: deleted key %zu out of "
                                  "order or range",
                                  s, i);
            len = vx_post_doc_len(p, key);
            if (len != VT_NO_TEXT) {
                docs--;
                total -= len;
            }
        }
        info->n_docs += docs;
        info->total_len += total;
        for (t = 0; t < q->n; t++) {
            int64_t ti =
                vx_post_find(p, q->arena + q->terms[t].off, q->terms[t].len);
            uint64_t gone = 0;
            if (ti < 0)
                continue;
            rc = vx_post_count_keys(p, (uint32_t)ti, srcs[s].deleted,
                                    srcs[s].n_deleted, &gone);
            if (rc != VEX_OK)
                return rc == VEX_NOMEM
                           ? vx_err_set(err, rc, "bm25: out of memory")
                           : VX_CORRUPT(err, "bm25: source %zu damaged", s);
            q->terms[t].df += vx_post_df(p, (uint32_t)ti) - gone;
        }
    }
    for (t = 0; t < q->n; t++)
        info->n_terms += q->terms[t].df > 0;
    return VEX_OK;
}

/* Runs source s with the global weights; appends its hits to all. */
/* A memindex source's top k with the global weights. */
static int bm_mi_run(const vt_src *src, uint32_t s, const bm_query *q,
                     const double *w, const vt_bm25 *prm, size_t k,
                     vt_mhit *all, size_t *n_all, vt_stats *st, vex_err *err)
{
    const char **terms = vx_mem_alloc(q->mem, (q->n + 1) * sizeof *terms);
    size_t *lens = vx_mem_alloc(q->mem, (q->n + 1) * sizeof *lens);
    uint64_t *rows = vx_mem_alloc(q->mem, k * sizeof *rows);
    double *scores = vx_mem_alloc(q->mem, k * sizeof *scores);
    size_t t, n = 0;
    int rc = VEX_NOMEM;
    if (terms && lens && rows && scores) {
        for (t = 0; t < q->n; t++) {
            terms[t] = q->arena + q->terms[t].off;
            lens[t] = q->terms[t].len;
        }
        rc = vx_mi_search(src->mi, prm, terms, lens, w, q->n, k, src->live,
                          src->live_ctx, src->accept, src->actx, rows, scores,
                          &n, st);
        for (t = 0; t < n; t++) {
            all[*n_all].score = scores[t];
            all[*n_all].src = s;
            all[(*n_all)++].key = rows[t];
        }
    }
    vx_mem_free(q->mem, terms);
    vx_mem_free(q->mem, lens);
    vx_mem_free(q->mem, rows);
    vx_mem_free(q->mem, scores);
    return rc == VEX_OK ? VEX_OK
                        : vx_err_set(err, VEX_NOMEM, "bm25: out of memory");
}

static int bm_run(const vt_src *src, uint32_t s, const bm_query *q,
                  const double *w, const vt_bm25 *prm, size_t k, vt_qterm *qt,
                  vt_hit *tmp, vt_mhit *all, size_t *n_all, vt_stats *st,
                  vex_err *err)
{
    size_t t, nq = 0, nh = 0, i;
    bm_acc acc;
    int rc;
    if (src->mi != NULL)
        return bm_mi_run(src, s, q, w, prm, k, all, n_all, st, err);
    for (t = 0; t < q->n; t++) {
        int64_t ti;
        if (w[t] <= 0.0)
            continue;
        ti = vx_post_find(src->p, q->arena + q->terms[t].off, q->terms[t].len);
        if (ti < 0)
            continue;
        qt[nq].term = (uint32_t)ti;
        qt[nq++].weight = w[t];
    }
    if (nq == 0)
        return VEX_OK;
    acc.s = src;
    rc = vx_post_search(src->p, prm, qt, nq, k, bm_accept, &acc, tmp, &nh, st,
                        err);
    if (rc != VEX_OK)
        return rc;
    for (i = 0; i < nh; i++) {
        all[*n_all].score = tmp[i].score;
        all[*n_all].src = s;
        all[(*n_all)++].key = tmp[i].key;
    }
    return VEX_OK;
}

int vx_bm25_multi(const vex_mem *mem, const vt_analyzer *a, const vt_src *srcs,
                  size_t n_src, const char *query, size_t qlen,
                  const vt_bm25 *prm, size_t k, vt_mhit *out, size_t *n_out,
                  vt_stats *st, vt_qinfo *info, vex_err *err)
{
    bm_query q;
    vt_qinfo inf;
    vt_bm25 p2;
    double *w = NULL;
    vt_qterm *qt = NULL;
    vt_hit *tmp = NULL;
    vt_mhit *all = NULL;
    size_t t, s, n_all = 0;
    int rc;
    *n_out = 0;
    memset(&inf, 0, sizeof inf);
    memset(&q, 0, sizeof q);
    if (info != NULL)
        *info = inf;
    if (k == 0 || !(prm->k1 >= 0.0) || !(prm->b >= 0.0 && prm->b <= 1.0) ||
        prm->k1 > 1e6 || n_src > UINT32_MAX)
        return vx_err_set(err, VEX_INVALID, "bm25: parameters out of range");
    rc = vx_text_check_utf8(query, qlen, "bm25: query", err);
    if (rc != VEX_OK)
        return rc;
    q.mem = mem;
    q.cap = qlen * 2 + 16;
    q.arena = vx_mem_alloc(mem, q.cap);
    q.terms = vx_mem_alloc(mem, VT_MAX_QUERY_TERMS * sizeof *q.terms);
    if (q.arena == NULL || q.terms == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "bm25: out of memory");
        goto done;
    }
    rc = vx_text_tokenize(a, query, qlen, bm_on_term, &q, err);
    if (rc == VEX_FULL) {
        rc = vx_err_set(err, VEX_INVALID,
                        "bm25: query has more than %u "
                        "distinct terms",
                        VT_MAX_QUERY_TERMS);
        goto done;
    }
    if (rc != VEX_OK)
        goto done;
    rc = bm_stats(a, srcs, n_src, &q, &inf, err);
    if (info != NULL)
        *info = inf;
    if (rc != VEX_OK || inf.n_terms == 0)
        goto done; /* no live document holds a query term */
    p2 = *prm;
    p2.avgdl = (double)inf.total_len / (double)inf.n_docs;
    if (k > SIZE_MAX / sizeof *all / (n_src ? n_src : 1)) {
        rc = vx_err_set(err, VEX_NOMEM, "bm25: out of memory");
        goto done;
    }
    w = vx_mem_alloc(mem, q.n * sizeof *w);
    qt = vx_mem_alloc(mem, q.n * sizeof *qt);
    tmp = vx_mem_alloc(mem, k * sizeof *tmp);
    all = vx_mem_alloc(mem, (n_src ? n_src : 1) * k * sizeof *all);
    if (w == NULL || qt == NULL || tmp == NULL || all == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "bm25: out of memory");
        goto done;
    }
    for (t = 0; t < q.n; t++)
        w[t] = q.terms[t].df == 0
                   ? 0.0
                   : vx_bm25_idf(inf.n_docs, q.terms[t].df) * q.terms[t].count;
    for (s = 0; s < n_src && rc == VEX_OK; s++)
        rc = bm_run(&srcs[s], (uint32_t)s, &q, w, &p2, k, qt, tmp, all, &n_all,
                    st, err);
    if (rc != VEX_OK)
        goto done;
    qsort(all, n_all, sizeof *all, bm_mhit_order);
    if (n_all > k)
        n_all = k;
    memcpy(out, all, n_all * sizeof *out);
    *n_out = n_all;
done:
    vx_mem_free(mem, q.arena);
    vx_mem_free(mem, q.terms);
    vx_mem_free(mem, w);
    vx_mem_free(mem, qt);
    vx_mem_free(mem, tmp);
    vx_mem_free(mem, all);
    return rc;
}
