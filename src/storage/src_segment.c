/* SPDX-License-Identifier: Apache-2.0 */
/*
 * src_segment.c - a segment in use (vseg, storage/version.h) as a source
 * (storage/source.h).
 *
 * Refs are the segment's index keys. Every key is in the index (its
 * `indexed` boundary is n_keys), dead keys and deleted rows are filtered
 * by visibility (V6). A metadata filter reaches a segment as its match
 * set (vx_src_accept.bits), never as an expression to evaluate per row. The
 * index is opened in place on first use (vx_vseg_index); filter match sets come
 * from the database's cache (vx_vseg_match). Exact distances to a match set are
 * computed through the index: vectors copied out in blocks and scored with the
 * flat kernels, so they are bit-identical to a flat search's.
 */
#include <math.h>
#include <string.h>

#include "index/ix.h"
#include "util/check.h"
#include "simd/simd.h"
#include "storage/source.h"
#include "storage/version.h"

#define EXACT_BLOCK 64
#define EXACT_STACK 16384 /* bytes of vectors copied out at a time */

static uint64_t seg_src_refs(const void *self)
{
    return ((const vseg *)self)->info.n_rows ? ((const vseg *)self)->info.n_keys
                                             : 0;
}

static uint64_t seg_src_indexed(const void *self)
{
    return ((const vseg *)self)->info.n_keys;
}

static int seg_src_find(const void *self, uint64_t id, uint64_t seq,
                        uint64_t *ref)
{
    const vseg *g = self;
    return vx_seg_find(g->s, id, ref) && vseg_visible(g, *ref, seq);
}

static uint64_t seg_src_id_of(const void *self, uint64_t ref)
{
    return vx_seg_key_id(((const vseg *)self)->s, ref);
}

static int not_in_index(const vseg *g, uint64_t key, vex_err *err)
{
    return vx_err_set(err, VEX_CORRUPT,
                      "%s: id %llu (key %llu) is listed but not in the index",
                      vx_seg_path(g->s),
                      (unsigned long long)vx_seg_key_id(g->s, key),
                      (unsigned long long)key);
}

static int seg_src_vector(void *self, uint64_t ref, void *out, vex_err *err)
{
    return vx_vseg_vector(self, ref, out, err);
}

static int seg_src_record(void *self, uint64_t ref, const vex_mem *mem,
                          vm_record **out, vex_err *err)
{
    return vx_vseg_record(self, ref, mem, out, err);
}

static int seg_src_payload(void *self, uint64_t ref, const void **p,
                           size_t *len, vex_err *err)
{
    const unsigned char *b;
    (void)err; /* checked whole when the segment was opened */
    vx_seg_payload(((const vseg *)self)->s, ref, &b, len);
    *p = b;
    return VEX_OK;
}

static int seg_src_text(void *self, uint64_t ref, const char **p, size_t *len,
                        vex_err *err)
{
    (void)err; /* checked whole when the segment was opened */
    vx_seg_text(((const vseg *)self)->s, ref, p, len);
    return VEX_OK;
}

static int seg_src_has_graph(const void *self)
{
    return ((const vseg *)self)->info.index_kind == VEX_INDEX_HNSW;
}

static int bit_is(const uint64_t *b, uint64_t k)
{
    return (int)((b[k >> 6] >> (k & 63)) & 1);
}

typedef struct seg_hook {
    const vseg *g;
    const vx_src_accept *acc;
} seg_hook;

/* Graph hook: the snapshot sees the key (V6), it is in the match set,
 * and the user's filter accepts its id. */
static int seg_accept(uint64_t key, void *arg)
{
    const seg_hook *h = arg;
    const vx_src_accept *a = h->acc;
    if (a->bits && !bit_is(a->bits, key))
        return 0;
    if (!vseg_visible(h->g, key, a->seq))
        return 0;
    return a->filter == NULL ||
           a->filter(vx_seg_key_id(h->g->s, key), a->filter_ctx);
}

static int seg_src_knn(void *self, const vx_src_query *q,
                       const vx_src_accept *acc, size_t k, float cut,
                       vex_hit *hits, size_t *n, vex_err *err)
{
    vseg *g = self;
    seg_hook h = {g, acc};
    vex_search_opts so;
    vx_ix *ix;
    int rc = vx_vseg_index(g, &ix, err);
    VX_ASSERT(acc->where == NULL); /* a segment filters by its match set */
    *n = 0;
    if (rc != VEX_OK)
        return rc;
    vx_ix_search_opts_init(&so);
    so.n_threads = 1;
    if (g->info.index_kind == VEX_INDEX_HNSW) {
        so.ef = q->ef;
        so.filter_max_ef = q->filter_max_ef;
    }
    so.refine = q->refine;
    so.cut = cut;
    so.work = q->work;
    /* the hook only when something is to be filtered: deletes published
     * after the snapshot have larger sequence numbers, so a segment with
     * no delete array now had none then */
    if (acc->bits || acc->filter || g->info.n_rows != g->info.n_keys ||
        atomic_load_explicit(&g->del, memory_order_acquire) != NULL) {
        so.filter = seg_accept;
        so.filter_ctx = &h;
    } else {
        so.filter_max_ef = 0;
    }
    rc = vx_ix_search(ix, q->vec, k, &so, hits, n, err);
    if (rc != VEX_OK)
        return vx_ix_err_in(err, rc, vx_seg_path(g->s));
    return VEX_OK;
}

/* Where exact_keys gets a key's vector: an in-memory index, or a DiskANN
 * index read through a scratch. */
typedef struct seg_fetch {
    vx_ix *ix;
    vx_dann *dann;
    vx_dann_scratch *sc;
    vx_dann_stats *io;
} seg_fetch;

static int seg_fetch_vector(vseg *g, const seg_fetch *f, uint64_t key,
                            void *out, vex_err *err)
{
    if (f->dann) {
        int rc = vx_dann_vector(f->dann, f->sc, (uint32_t)key, out, f->io, err);
        return rc == VEX_NOTFOUND ? not_in_index(g, key, err)
               : rc != VEX_OK     ? vx_ix_err_in(err, rc, vx_seg_path(g->s))
                                  : VEX_OK;
    }
    if (vx_ix_get(f->ix, key, out, NULL) != VEX_OK)
        return not_in_index(g, key, err);
    return VEX_OK;
}

/* Word w of the keys an exact pass visits: the match set's, or every
 * key below n_keys without one. */
static uint64_t exact_word(const vx_src_accept *acc, uint64_t w,
                           uint64_t n_keys)
{
    if (acc->bits)
        return acc->bits[w];
    return n_keys - w * 64 >= 64 ? ~UINT64_C(0)
                                 : (UINT64_C(1) << (n_keys - w * 64)) - 1;
}

/* Whether an exact pass scores `key` (counted as scanned): visible to the
 * snapshot and accepted by the user's filter. */
static int exact_takes(vseg *g, const vx_src_query *q, const vx_src_accept *acc,
                       uint64_t key)
{
    if (q->work)
        q->work->scanned++;
    return vseg_visible(g, key, acc->seq) &&
           (acc->filter == NULL ||
            acc->filter(vx_seg_key_id(g->s, key), acc->filter_ctx));
}

/* Score keys[0..cnt) and push them into top. */
static int score_push(vseg *g, vx_ix *ix, const vx_src_query *q, float qaux,
                      const uint64_t *keys, size_t cnt, vex_topk *top,
                      vex_err *err)
{
    float dist[VX_IX_SCORE_MAX];
    if (vx_ix_score(ix, q->vec, qaux, keys, cnt, dist, NULL) != VEX_OK) {
        /* damage: name the first key the index lacks */
        size_t j = 0;
        while (j + 1 < cnt &&
               vx_ix_score(ix, q->vec, qaux, &keys[j], 1, dist, NULL) == VEX_OK)
            j++;
        return not_in_index(g, keys[j], err);
    }
    if (q->work)
        q->work->distances += cnt;
    for (size_t j = 0; j < cnt; j++)
        vex_topk_push(top, dist[j], vx_seg_key_id(g->s, keys[j]));
    return VEX_OK;
}

/* exact_keys through the index's score method: keys in blocks, the
 * distances computed where the vectors lie (no copies). */
static int exact_scored(vseg *g, vx_ix *ix, const vx_src_query *q,
                        const vx_src_accept *acc, vex_topk *top, vex_err *err)
{
    const vex_index_config *cfg = vx_ix_config(ix);
    uint64_t keys[VX_IX_SCORE_MAX], n_keys = g->info.n_keys;
    float qaux = cfg->elem == VEX_ELEM_F32
                     ? vx_exact_query_aux(cfg, vx_simd(), q->vec)
                     : 0.0f;
    size_t cnt = 0;
    int rc = VEX_OK;
    for (uint64_t w = 0; w < (n_keys + 63) / 64 && rc == VEX_OK; w++) {
        uint64_t word = exact_word(acc, w, n_keys);
        while (word && rc == VEX_OK) {
            uint64_t key = w * 64 + (uint64_t)__builtin_ctzll(word);
            word &= word - 1;
            if (!exact_takes(g, q, acc, key))
                continue;
            keys[cnt++] = key;
            if (cnt == VX_IX_SCORE_MAX) {
                rc = score_push(g, ix, q, qaux, keys, cnt, top, err);
                cnt = 0;
            }
        }
    }
    if (rc == VEX_OK && cnt)
        rc = score_push(g, ix, q, qaux, keys, cnt, top, err);
    return rc;
}

/* Exact distances to every visible key the accept takes: those set in
 * its match set (all keys without one) that its user filter accepts. */
static int exact_keys(vseg *g, const vex_index_config *cfg, const seg_fetch *f,
                      const vx_src_query *q, const vx_src_accept *acc,
                      vex_topk *top, vex_err *err)
{
    const vex_simd_table *st = vx_simd();
    size_t vb = cfg->vec_bytes;
    /* vectors are copied out in blocks through a stack buffer (no
     * allocation) unless one vector is bigger than it */
    _Alignas(64) unsigned char stack[EXACT_STACK];
    size_t block = EXACT_STACK / vb;
    unsigned char *buf = stack;
    float aux[EXACT_BLOCK], dist[EXACT_BLOCK], qaux;
    uint64_t keys[EXACT_BLOCK], n_keys = g->info.n_keys;
    size_t cnt = 0;
    int f32 = cfg->elem == VEX_ELEM_F32, rc = VEX_OK;
    if (block > EXACT_BLOCK)
        block = EXACT_BLOCK;
    if (block == 0) {
        block = 1;
        buf = vx_mem_alloc(q->mem, vb);
        if (buf == NULL)
            return vx_err_set(err, VEX_NOMEM, "out of memory");
    }
    qaux = f32 ? vx_exact_query_aux(cfg, st, q->vec) : 0.0f;
    for (uint64_t w = 0; w < (n_keys + 63) / 64 && rc == VEX_OK; w++) {
        uint64_t word = exact_word(acc, w, n_keys);
        while (word) {
            uint64_t key = w * 64 + (uint64_t)__builtin_ctzll(word);
            unsigned char *v = buf + cnt * vb;
            word &= word - 1;
            if (!exact_takes(g, q, acc, key))
                continue;
            if ((rc = seg_fetch_vector(g, f, key, v, err)) != VEX_OK)
                break;
            aux[cnt] = f32 ? vx_exact_vec_aux(cfg, st, v) : 0.0f;
            keys[cnt++] = key;
            if (q->work)
                q->work->distances++;
            if (cnt == block) {
                vx_exact_block(cfg, st, q->vec, qaux, buf, cnt, aux, dist);
                for (size_t j = 0; j < cnt; j++)
                    vex_topk_push(top, dist[j], vx_seg_key_id(g->s, keys[j]));
                cnt = 0;
            }
        }
    }
    if (rc == VEX_OK && cnt) {
        vx_exact_block(cfg, st, q->vec, qaux, buf, cnt, aux, dist);
        for (size_t j = 0; j < cnt; j++)
            vex_topk_push(top, dist[j], vx_seg_key_id(g->s, keys[j]));
    }
    if (buf != stack)
        vx_mem_free(q->mem, buf);
    return rc;
}

/* Whether an exact pass over a flat segment scores its m matches where
 * they lie rather than scanning all n rows in order: scoring reads m rows
 * at a cost of FLAT_READ_BYTES more each (a read out of order, prefetched)
 * than the scan's n rows, so it wins while m * (row + FLAT_READ_BYTES) <=
 * n * row. Measured on 128- and 512-byte rows (BENCHMARKS.md, "First
 * query of a filter, and flat segments"): the two cost the same near 20% of the
 * rows for the first and past 30% for the second. */
#define FLAT_READ_BYTES 512u
static int flat_scores(const vseg *g, const vex_index_config *cfg,
                       const vx_src_accept *acc)
{
    uint64_t m = 0, n = g->info.n_keys, words = (n + 63) / 64;
    for (uint64_t w = 0; w < words; w++)
        m += (uint64_t)__builtin_popcountll(acc->bits[w]);
    return (double)m * (double)(cfg->vec_bytes + FLAT_READ_BYTES) <=
           (double)n * (double)cfg->vec_bytes;
}

static int seg_src_exact(void *self, const vx_src_query *q,
                         const vx_src_accept *acc, int tail_only, vex_topk *top,
                         vex_err *err)
{
    vseg *g = self;
    vx_ix *ix;
    vex_hit tmp[64], *hits = tmp;
    size_t n = 0;
    int rc;
    VX_ASSERT(acc->where == NULL);
    if (tail_only) /* every key is in the index */
        return VEX_OK;
    if (g->info.index_kind == VEX_INDEX_HNSW) {
        seg_fetch f = {NULL, NULL, NULL, NULL};
        if ((rc = vx_vseg_index(g, &ix, err)) != VEX_OK)
            return rc;
        if (vx_ix_can_score(ix))
            return exact_scored(g, ix, q, acc, top, err);
        f.ix = ix;
        return exact_keys(g, vx_ix_config(ix), &f, q, acc, top, err);
    }
    /* a flat index is exact: few matches are scored where they lie, many
     * go through its own scan of every row (in order, in blocks) with the
     * accept hook */
    if (acc->bits) {
        if ((rc = vx_vseg_index(g, &ix, err)) != VEX_OK)
            return rc;
        if (vx_ix_can_score(ix) && flat_scores(g, vx_ix_config(ix), acc))
            return exact_scored(g, ix, q, acc, top, err);
    }
    if (q->k > sizeof tmp / sizeof tmp[0] &&
        (hits = vx_mem_alloc(q->mem, q->k * sizeof *hits)) == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    rc = seg_src_knn(self, q, acc, q->k, INFINITY, hits, &n, err);
    for (size_t i = 0; rc == VEX_OK && i < n; i++)
        vex_topk_push(top, hits[i].distance, vx_seg_key_id(g->s, hits[i].id));
    if (hits != tmp)
        vx_mem_free(q->mem, hits);
    return rc;
}

static int src_match(void *self, const vx_src_query *q, const vx_match **out,
                     int *built, vex_err *err)
{
    return vx_vseg_match(self, q->where_key, q->where, out, built, err);
}

static void src_match_release(void *self, const vx_match *m)
{
    vx_vseg_match_release(self, m);
}

static int seg_src_scan(void *self, const vx_src_accept *acc,
                        int (*fn)(void *ctx, uint64_t id, uint64_t ref),
                        void *ctx, vex_err *err)
{
    vseg *g = self;
    const uint64_t *ids = vx_seg_ids(g->s), *rk = vx_seg_row_keys(g->s);
    int rc = 0;
    (void)err;
    VX_ASSERT(acc->where == NULL);
    for (uint64_t j = 0; j < g->info.n_rows && rc == 0; j++) {
        uint64_t key = rk[j];
        if (!vseg_visible(g, key, acc->seq))
            continue;
        if (acc->bits && !bit_is(acc->bits, key))
            continue;
        if (acc->filter && !acc->filter(ids[j], acc->filter_ctx))
            continue;
        rc = fn(ctx, ids[j], key);
    }
    return rc;
}

const vx_source_methods vx_segment_source = {
    .kind = "segment",
    .refs = seg_src_refs,
    .find = seg_src_find,
    .vector = seg_src_vector,
    .record = seg_src_record,
    .indexed = seg_src_indexed,
    .id_of = seg_src_id_of,
    .has_graph = seg_src_has_graph,
    .knn = seg_src_knn,
    .exact = seg_src_exact,
    .match = src_match,
    .match_release = src_match_release,
    .scan = seg_src_scan,
    .payload = seg_src_payload,
    .text = seg_src_text,
};

/* ---- DiskANN segments ---------------------------------------------------
 *
 * The same rows, ids, metadata, payloads, match sets and visibility as
 * any segment; only the index differs: k-NN is vx_dann_search over the
 * file (the accept hook on keys as above), exact distances read each
 * vector from its node page. A filtered walk that finds fewer than k
 * matches is retried with a list four times longer, up to the longest a
 * DiskANN walk takes (4096), before the planner's exact fallback reads
 * every matching row.
 */

#define DANN_DEFAULT_L 100u
#define DANN_MAX_L     4096u
#define DANN_DEFAULT_W 4u

static int dann_accept(void *ctx, uint32_t key)
{
    return seg_accept(key, ctx);
}

static int dann_exact_all(vseg *g, vx_dann *d, const vx_src_query *q,
                          const vx_src_accept *acc, vex_topk *top,
                          vex_err *err);

static int dann_src_knn(void *self, const vx_src_query *q,
                        const vx_src_accept *acc, size_t k, float cut,
                        vex_hit *hits, size_t *n, vex_err *err)
{
    vseg *g = self;
    seg_hook h = {g, acc};
    vx_dann *d;
    vx_dann_scratch *sc;
    vx_dann_stats io;
    unsigned L = q->ef ? q->ef : DANN_DEFAULT_L;
    unsigned W = q->beam_width ? q->beam_width : DANN_DEFAULT_W;
    int hook, rc = vx_vseg_dann(g, &d, err);
    (void)cut; /* the walk is bounded by L, not by the merge's worst */
    VX_ASSERT(acc->where == NULL);
    *n = 0;
    if (rc != VEX_OK)
        return rc;
    if (k > DANN_MAX_L) {
        /* more results than a walk holds: every row exactly */
        vex_topk top;
        vex_topk_init(&top, hits, k);
        rc = dann_exact_all(g, d, q, acc, &top, err);
        if (rc == VEX_OK) {
            /* the top holds ids; knn returns keys */
            size_t m = vx_topk_sort(&top);
            for (size_t i = 0; i < m; i++) {
                uint64_t key = 0;
                vx_seg_find(g->s, hits[i].id, &key);
                hits[i].id = key;
            }
            *n = m;
        }
        return rc;
    }
    if (L < k)
        L = (unsigned)k;
    if (L > DANN_MAX_L)
        L = DANN_MAX_L;
    hook = acc->bits || acc->filter || g->info.n_rows != g->info.n_keys ||
           atomic_load_explicit(&g->del, memory_order_acquire) != NULL;
    if (vx_dann_acquire(d, hook ? DANN_MAX_L : L, W, &sc) != VEX_OK)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    memset(&io, 0, sizeof io);
    for (;;) {
        rc = vx_dann_search(d, sc, q->vec, k, L, W, hook ? dann_accept : NULL,
                            &h, hits, n, &io, err);
        if (rc != VEX_OK || *n >= k || !hook || L >= DANN_MAX_L)
            break;
        L = L * 4 > DANN_MAX_L ? DANN_MAX_L : L * 4;
    }
    vx_dann_release(d, sc);
    if (q->work) {
        q->work->distances += io.pq_distances + io.exact_distances;
        q->work->visited += io.nodes_expanded;
    }
    if (q->io) {
        q->io->reads += io.reads;
        q->io->pages_read += io.pages_read;
        q->io->bytes_read += io.bytes_read;
        q->io->cache_hits += io.cache_hits;
    }
    if (rc != VEX_OK)
        return vx_ix_err_in(err, rc, vx_seg_path(g->s));
    return VEX_OK;
}

static int dann_exact_all(vseg *g, vx_dann *d, const vx_src_query *q,
                          const vx_src_accept *acc, vex_topk *top, vex_err *err)
{
    vex_index_config cfg;
    vx_dann_stats io;
    seg_fetch f = {NULL, d, NULL, &io};
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.elem = VEX_ELEM_F32;
    cfg.metric = (vex_metric)g->info.metric;
    cfg.dim = g->info.dim;
    cfg.vec_bytes = (size_t)g->info.dim * sizeof(float);
    memset(&io, 0, sizeof io);
    if (vx_dann_acquire(d, 1, 1, &f.sc) != VEX_OK)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    rc = exact_keys(g, &cfg, &f, q, acc, top, err);
    vx_dann_release(d, f.sc);
    if (q->io) {
        q->io->reads += io.reads;
        q->io->pages_read += io.pages_read;
        q->io->bytes_read += io.bytes_read;
        q->io->cache_hits += io.cache_hits;
    }
    return rc;
}

static int dann_src_exact(void *self, const vx_src_query *q,
                          const vx_src_accept *acc, int tail_only,
                          vex_topk *top, vex_err *err)
{
    vseg *g = self;
    vx_dann *d;
    int rc;
    VX_ASSERT(acc->where == NULL);
    if (tail_only) /* every key is in the index */
        return VEX_OK;
    if ((rc = vx_vseg_dann(g, &d, err)) != VEX_OK)
        return rc;
    return dann_exact_all(g, d, q, acc, top, err);
}

static int dann_src_has_graph(const void *self)
{
    (void)self;
    return 1;
}

const vx_source_methods vx_dann_segment_source = {
    .kind = "diskann",
    .refs = seg_src_refs,
    .find = seg_src_find,
    .vector = seg_src_vector,
    .record = seg_src_record,
    .indexed = seg_src_indexed,
    .id_of = seg_src_id_of,
    .has_graph = dann_src_has_graph,
    .knn = dann_src_knn,
    .exact = dann_src_exact,
    .match = src_match,
    .match_release = src_match_release,
    .scan = seg_src_scan,
    .payload = seg_src_payload,
    .text = seg_src_text,
};
