/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexhnsw_scan.c - the graph walk on PostgreSQL pages and the ordered index
 * scan built on it (ORDER BY emb <-> $1 LIMIT k).
 *
 * A walk (VexWalk) remembers every element it has reached on one level:
 * its distance to the query, whether it was expanded (its links followed)
 * and whether the scan returned it. vexwalk_batch(ef) is the HNSW beam
 * search of width ef, resumable: it starts from every element reached and
 * not yet expanded, and its result is the ef nearest elements not yet
 * returned. An insert runs one batch per level (ef_construction).
 *
 * The scan returns the first batch (ef = vexdb.ef_search: the standard
 * HNSW search), and when the executor wants more rows, because a WHERE
 * clause rejected some, runs further batches with a doubled width from
 * where the walk stopped, so a filtered query keeps producing rows until
 * its LIMIT is met (or vexdb.max_scan_tuples rows were returned, or the
 * graph is exhausted) instead of ending after ef_search candidates.
 *
 * Order: PostgreSQL trusts an ordering scan's order. A later batch can
 * reach an element nearer than one already returned; such an element is
 * dropped (not returned out of order), so the rows always come in
 * ascending distance; the first batch is exactly the HNSW search. Rejected:
 * returning late finds with xs_recheckorderby, since the executor requires
 * the index's value to be a lower bound of the true one, which a late
 * find's true distance violates.
 *
 * Quantized indexes (quant = sq8): the walk ranks elements by the
 * distance to their decoded codes, and the scan returns each row with a
 * lower bound of its true distance (vexhnsw_lower_bound: the distance to
 * the decoded vector less the element's stored reconstruction error and a
 * rounding allowance), the rows of a batch in
 * ascending bound, and xs_recheckorderby set. PostgreSQL's executor then
 * computes the operator on the heap row (the full vector) and holds rows in its
 * reorder queue until no later row can come before them: the rerank on full
 * vectors, with no copy of them in the index.
 *
 * Locks: one buffer share lock at a time, held while an element is read
 * and its distance computed, released before the next read.
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "vexpg.h"

#include "simd/simd.h"

typedef struct VexSeen {
    uint64 key;
    int idx;
} VexSeen;

static uint64 vexwalk_key(BlockNumber blk, OffsetNumber off)
{
    return ((uint64)blk << 16) | off;
}

void vexwalk_init(VexWalk *w, Relation index, const VexHnswShape *s,
                  const float *q, int level, bool keep_vec)
{
    HASHCTL ctl;
    memset(w, 0, sizeof *w);
    w->index = index;
    w->shape = *s;
    w->q = q;
    w->qnorm = sqrt((double)vx_simd()->norm2_f32(q, (size_t)s->dim));
    w->level = level;
    w->keep_vec = keep_vec;
    w->cap = 256;
    w->nodes = palloc(sizeof(VexWalkNode) * w->cap);
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(uint64);
    ctl.entrysize = sizeof(VexSeen);
    ctl.hcxt = CurrentMemoryContext;
    w->seen = hash_create("vexhnsw walk", 256, &ctl,
                          HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

void vexwalk_free(VexWalk *w)
{
    if (w->seen != NULL)
        hash_destroy(w->seen);
    w->seen = NULL;
}

/* Reach element (blk, off): its distance and facts. Returns its node
 * index, or -1 when it was reached before. */
int vexwalk_visit(VexWalk *w, BlockNumber blk, OffsetNumber off)
{
    uint64 key = vexwalk_key(blk, off);
    bool found;
    VexSeen *e = hash_search(w->seen, &key, HASH_ENTER, &found);
    VexWalkNode *nd;
    Buffer buf;
    VexHnswElement *el;
    const float *vec;
    if (found)
        return -1;
    if (w->n == w->cap) {
        w->cap *= 2;
        w->nodes = repalloc(w->nodes, sizeof(VexWalkNode) * w->cap);
    }
    e->idx = w->n;
    nd = &w->nodes[w->n++];
    buf = ReadBuffer(w->index, blk);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    el = vexhnsw_get_element(w->index, &w->shape, BufferGetPage(buf), blk, off);
    vec = vexhnsw_elem_vec(&w->shape, el);
    nd->blk = blk;
    nd->off = off;
    nd->flags = el->flags & VEXHNSW_DELETED;
    nd->level = el->level;
    nd->heaptid = el->heaptid;
    nd->vec = NULL;
    nd->lb = 0;
    if (vec == NULL) { /* a free slot: no vector, no links */
        nd->d = INFINITY;
        UnlockReleaseBuffer(buf);
        return e->idx;
    }
    nd->d = vexhnsw_dist(w->shape.metric, w->q, vec, w->shape.dim);
    if (w->want_lb)
        nd->lb = vexhnsw_lower_bound(&w->shape, el, vec, w->q, w->qnorm, nd->d);
    if (w->keep_vec) {
        nd->vec = palloc(sizeof(float) * w->shape.dim);
        memcpy(nd->vec, vec, sizeof(float) * w->shape.dim);
    }
    UnlockReleaseBuffer(buf);
    return e->idx;
}

/* A copy of the level-l links of (blk, off); their count. */
int vexhnsw_read_links(Relation index, const VexHnswShape *s, BlockNumber blk,
                       OffsetNumber off, int l, VexHnswLink *out)
{
    Buffer buf = ReadBuffer(index, blk);
    VexHnswElement *el;
    int n = 0;
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    el = vexhnsw_get_element(index, s, BufferGetPage(buf), blk, off);
    if (!(el->flags & VEXHNSW_FREE) && l <= el->level) {
        uint32 *list = vexhnsw_get_list(index, s, el, blk, off, l);
        n = (int)*list;
        memcpy(out, vexhnsw_links(list), sizeof(VexHnswLink) * n);
    }
    UnlockReleaseBuffer(buf);
    return n;
}

void vexhnsw_read_vector(Relation index, const VexHnswShape *s, BlockNumber blk,
                         OffsetNumber off, float *out)
{
    Buffer buf = ReadBuffer(index, blk);
    VexHnswElement *el;
    const float *vec;
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    el = vexhnsw_get_element(index, s, BufferGetPage(buf), blk, off);
    vec = vexhnsw_elem_vec(s, el);
    if (vec != NULL)
        memcpy(out, vec, sizeof(float) * s->dim);
    else /* a free slot */
        memset(out, 0, sizeof(float) * s->dim);
    UnlockReleaseBuffer(buf);
}

float vexhnsw_element_dist(Relation index, const VexHnswShape *s,
                           const float *q, BlockNumber blk, OffsetNumber off)
{
    Buffer buf = ReadBuffer(index, blk);
    VexHnswElement *el;
    float d;
    const float *vec;
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    el = vexhnsw_get_element(index, s, BufferGetPage(buf), blk, off);
    vec = vexhnsw_elem_vec(s, el);
    d = vec != NULL ? vexhnsw_dist(s->metric, q, vec, s->dim) : INFINITY;
    UnlockReleaseBuffer(buf);
    return d;
}

/* Greedy descent on one upper level: move to the nearest link while it is
 * nearer than where we stand. */
void vexhnsw_greedy(Relation index, const VexHnswShape *s, const float *q,
                    int level, BlockNumber *blk, OffsetNumber *off, float *d)
{
    VexHnswLink *lk = palloc(sizeof(VexHnswLink) * vexhnsw_cap(s, level));
    bool moved = true;
    while (moved) {
        int n = vexhnsw_read_links(index, s, *blk, *off, level, lk);
        moved = false;
        CHECK_FOR_INTERRUPTS();
        for (int i = 0; i < n; i++) {
            float di = vexhnsw_element_dist(index, s, q, lk[i].blk, lk[i].off);
            if (di < *d) {
                *d = di;
                *blk = lk[i].blk;
                *off = lk[i].off;
                moved = true;
            }
        }
    }
    pfree(lk);
}

/* ---- binary heaps of (distance, node) ---- */

typedef struct VexHeap {
    float *d;
    int *idx;
    int n;
    bool max; /* max-heap (the beam's farthest on top) or min-heap */
} VexHeap;

static void vexheap_init(VexHeap *h, int cap, bool max)
{
    h->d = palloc(sizeof(float) * (cap + 1));
    h->idx = palloc(sizeof(int) * (cap + 1));
    h->n = 0;
    h->max = max;
}

static inline bool vexheap_above(const VexHeap *h, int a, int b)
{
    return h->max ? h->d[a] > h->d[b] : h->d[a] < h->d[b];
}

static inline void vexheap_swap(VexHeap *h, int a, int b)
{
    float td = h->d[a];
    int ti = h->idx[a];
    h->d[a] = h->d[b];
    h->idx[a] = h->idx[b];
    h->d[b] = td;
    h->idx[b] = ti;
}

static void vexheap_push(VexHeap *h, float d, int idx)
{
    int i = h->n++;
    h->d[i] = d;
    h->idx[i] = idx;
    while (i > 0 && vexheap_above(h, i, (i - 1) / 2)) {
        vexheap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static int vexheap_pop(VexHeap *h)
{
    int top = h->idx[0], i = 0;
    h->n--;
    h->d[0] = h->d[h->n];
    h->idx[0] = h->idx[h->n];
    for (;;) {
        int l = 2 * i + 1, r = l + 1, b = i;
        if (l < h->n && vexheap_above(h, l, b))
            b = l;
        if (r < h->n && vexheap_above(h, r, b))
            b = r;
        if (b == i)
            break;
        vexheap_swap(h, i, b);
        i = b;
    }
    return top;
}

static int vexnode_cmp(const void *a, const void *b, void *arg)
{
    const VexWalkNode *n = arg;
    float da = n[*(const int *)a].d, db = n[*(const int *)b].d;
    return da < db ? -1 : da > db ? 1 : 0;
}

/* The resumable beam search (file comment): out receives the node
 * indexes of the at most ef nearest live elements not yet returned,
 * nearest first; returns their count. */
int vexwalk_batch(VexWalk *w, int ef, int *out)
{
    VexHeap cand, beam;
    int cap = Max(w->n, 16);
    int n_out;
    VexHnswLink *lk = palloc(sizeof(VexHnswLink) * vexhnsw_cap(&w->shape, 0));

    vexheap_init(&cand, cap, false);
    vexheap_init(&beam, ef + 1, true);
    for (int i = 0; i < w->n; i++) {
        VexWalkNode *nd = &w->nodes[i];
        if (!(nd->flags & WALK_EXPANDED))
            vexheap_push(&cand, nd->d, i);
        if (!(nd->flags & (WALK_RETURNED | VEXHNSW_DELETED))) {
            vexheap_push(&beam, nd->d, i);
            if (beam.n > ef)
                vexheap_pop(&beam);
        }
    }
    while (cand.n > 0) {
        int c;
        int n;
        if (beam.n >= ef && cand.d[0] > beam.d[0])
            break;
        c = vexheap_pop(&cand);
        w->nodes[c].flags |= WALK_EXPANDED;
        CHECK_FOR_INTERRUPTS();
        n = vexhnsw_read_links(w->index, &w->shape, w->nodes[c].blk,
                               w->nodes[c].off, w->level, lk);
        for (int i = 0; i < n; i++) {
            int v = vexwalk_visit(w, lk[i].blk, lk[i].off);
            VexWalkNode *nd;
            if (v < 0)
                continue;
            nd = &w->nodes[v];
            if (beam.n >= ef && !(nd->d < beam.d[0]))
                continue; /* stays unexpanded for a later batch */
            if (cand.n + 1 >= cap) {
                cap *= 2;
                cand.d = repalloc(cand.d, sizeof(float) * (cap + 1));
                cand.idx = repalloc(cand.idx, sizeof(int) * (cap + 1));
            }
            vexheap_push(&cand, nd->d, v);
            if (!(nd->flags & VEXHNSW_DELETED)) {
                vexheap_push(&beam, nd->d, v);
                if (beam.n > ef)
                    vexheap_pop(&beam);
            }
        }
    }
    n_out = beam.n;
    memcpy(out, beam.idx, sizeof(int) * n_out);
    qsort_arg(out, n_out, sizeof(int), vexnode_cmp, w->nodes);
    pfree(cand.d);
    pfree(cand.idx);
    pfree(beam.d);
    pfree(beam.idx);
    pfree(lk);
    return n_out;
}

/* ---- the ordered scan ---- */

static int vexscan_lb_cmp(const void *a, const void *b, void *arg)
{
    const VexWalkNode *n = arg;
    double x = n[*(const int *)a].lb, y = n[*(const int *)b].lb;
    return x < y ? -1 : x > y ? 1 : 0;
}

typedef struct VexScan {
    MemoryContext ctx;
    bool started, done;
    VexHnswShape shape;
    float *q;
    VexWalk walk;
    int ef;
    int *res, n_res, pos;
    double last; /* the last value returned */
    int64 returned;
} VexScan;

IndexScanDesc vexhnsw_beginscan(Relation index, int nkeys, int norderbys)
{
    IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
    VexScan *so = palloc0(sizeof(VexScan));
    so->ctx = AllocSetContextCreate(CurrentMemoryContext, "vexhnsw scan",
                                    ALLOCSET_DEFAULT_SIZES);
    scan->opaque = so;
    /* the AM provides the ORDER BY value arrays (as GiST does) */
    scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
    scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
    return scan;
}

void vexhnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
                    ScanKey orderbys, int norderbys)
{
    VexScan *so = scan->opaque;
    MemoryContextReset(so->ctx);
    so->started = so->done = false;
    so->walk.seen = NULL;
    so->n_res = so->pos = 0;
    if (keys && scan->numberOfKeys > 0)
        memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
    if (orderbys && scan->numberOfOrderBys > 0)
        memmove(scan->orderByData, orderbys,
                scan->numberOfOrderBys * sizeof(ScanKeyData));
    (void)nkeys, (void)norderbys;
}

/* The first call: the query, the descent, the walk on level 0. */
static void vexhnsw_scan_start(IndexScanDesc scan)
{
    VexScan *so = scan->opaque;
    VexHnswMetaBuf mbuf;
    VexHnswMeta *meta = &mbuf.m;
    BlockNumber blk;
    OffsetNumber off;
    float d;
    so->started = true;
    if (scan->numberOfOrderBys == 0)
        elog(ERROR, "vexhnsw: an index scan needs ORDER BY a distance");
    vexhnsw_read_meta(scan->indexRelation, meta);
    vexhnsw_shape(scan->indexRelation, meta, &so->shape);
    if (meta->entry_blk == InvalidBlockNumber) {
        so->done = true;
        return;
    }
    so->q = palloc0(sizeof(float) * so->shape.dim);
    /* A NULL query orders nothing: every row's distance is NULL; walk from
     * the origin so the scan still returns the indexed rows. */
    if (!(scan->orderByData[0].sk_flags & SK_ISNULL)) {
        VexVector *v = DatumGetVexVector(scan->orderByData[0].sk_argument);
        if (v->dim != so->shape.dim)
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("expected %d dimensions, not %d",
                                   so->shape.dim, v->dim)));
        memcpy(so->q, v->x, sizeof(float) * so->shape.dim);
    }
    blk = meta->entry_blk;
    off = meta->entry_off;
    d = vexhnsw_element_dist(scan->indexRelation, &so->shape, so->q, blk, off);
    for (int l = meta->entry_level; l > 0; l--)
        vexhnsw_greedy(scan->indexRelation, &so->shape, so->q, l, &blk, &off,
                       &d);
    vexwalk_init(&so->walk, scan->indexRelation, &so->shape, so->q, 0, false);
    so->walk.want_lb = so->shape.quant == VEXHNSW_QUANT_SQ8;
    vexwalk_visit(&so->walk, blk, off);
    so->ef = vexhnsw_ef_search;
    so->last = -INFINITY;
    so->returned = 0;
}

bool vexhnsw_gettuple(IndexScanDesc scan, ScanDirection dir)
{
    VexScan *so = scan->opaque;
    MemoryContext old = MemoryContextSwitchTo(so->ctx);
    bool null_query, lossy;
    (void)dir;
    if (!so->started)
        vexhnsw_scan_start(scan);
    null_query = (scan->orderByData[0].sk_flags & SK_ISNULL) != 0;
    lossy = so->shape.quant == VEXHNSW_QUANT_SQ8 && !null_query;
    for (;;) {
        while (so->pos < so->n_res) {
            VexWalkNode *nd = &so->walk.nodes[so->res[so->pos++]];
            double key = lossy ? nd->lb : (double)nd->d;
            nd->flags |= WALK_RETURNED;
            if (key < so->last)
                continue; /* a late find: dropped to keep the order */
            so->last = key;
            so->returned++;
            scan->xs_heaptid = nd->heaptid;
            scan->xs_recheck = false;
            /* sq8: the value is a lower bound; the executor recomputes the
             * operator on the heap row and reorders (file comment) */
            scan->xs_recheckorderby = lossy;
            scan->xs_orderbyvals[0] = Float8GetDatum(
                lossy ? nd->lb : vexhnsw_dist_out(so->shape.metric, nd->d));
            scan->xs_orderbynulls[0] = null_query;
            MemoryContextSwitchTo(old);
            return true;
        }
        if (so->done || so->returned >= vexhnsw_max_scan_tuples)
            break;
        so->res = palloc(sizeof(int) * so->ef);
        so->n_res = vexwalk_batch(&so->walk, so->ef, so->res);
        so->pos = 0;
        if (lossy)
            qsort_arg(so->res, so->n_res, sizeof(int), vexscan_lb_cmp,
                      so->walk.nodes);
        if (so->n_res == 0)
            so->done = true;
        so->ef = (int)Min((int64)so->ef * 2, (int64)INT_MAX / 2);
    }
    MemoryContextSwitchTo(old);
    return false;
}

void vexhnsw_endscan(IndexScanDesc scan)
{
    VexScan *so = scan->opaque;
    MemoryContextDelete(so->ctx);
    pfree(so);
    scan->opaque = NULL;
}
