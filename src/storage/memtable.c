/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtable.c - the multi-version in-memory rows of a collection (see
 * memtable.h for the model and its invariants).
 *
 * Layout. Rows live in chunks of MT_CHUNK rows, each chunk a struct of
 * arrays (ids, sequence numbers, links, per-vector aux and a 64-byte
 * aligned vector block), so the exact scan of the unindexed tail runs the
 * flat index's block kernels over contiguous vectors (vx_exact_block: a
 * vector scores the same bits here as in a flat segment). The chunk
 * directory doubles when full; the old directory stays on a retired list
 * until the memtable is freed, because a reader may still be indexing it.
 * Nothing on the read path locks or allocates.
 */
#include "storage/memtable.h"

#include <string.h>

#include "index/ix.h"
#include "meta/filter.h"
#include "simd/simd.h"
#include "storage/source.h"
#include "util/check.h"

#define MT_EXACT_BLOCK 256

static void dir_free(const vex_mem *mem, mt_dir *d)
{
    while (d) {
        mt_dir *next = d->retired;
        vx_mem_free(mem, d);
        d = next;
    }
}

int vx_mt_create(const vex_mem *mem, const vex_index_config *cfg,
                 const vex_index_options *hnsw, const vt_analyzer *text,
                 vex_pool *pool, vex_err *err, memtable **out)
{
    memtable *m;
    mt_dir *d;
    int rc;
    *out = NULL;
    m = vx_mem_calloc(mem, 1, sizeof *m);
    d = vx_mem_calloc(mem, 1, sizeof *d + 8 * sizeof(mt_chunk *));
    if (m == NULL || d == NULL) {
        vx_mem_free(mem, m);
        vx_mem_free(mem, d);
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    }
    m->mem = mem;
    m->cfg = *cfg;
    atomic_init(&m->refs, 1);
    d->cap = 8;
    atomic_init(&m->dir, d);
    atomic_init(&m->n_rows, 0);
    atomic_init(&m->n_indexed, 0);
    atomic_init(&m->n_live, 0);
    atomic_init(&m->meta_bytes, 0);
    atomic_init(&m->pay_bytes, 0);
    atomic_init(&m->txt_bytes, 0);
    atomic_init(&m->frozen, 0);
    vx_cmap_init(&m->ids, mem);
    pthread_mutex_init(&m->index_mu, NULL);
    if (text && (rc = vx_mi_create(mem, text, &m->mi, err)) != VEX_OK) {
        vx_mt_unref(m);
        return rc;
    }
    if (hnsw) {
        rc = vx_ix_create(hnsw, pool, &m->ix, err);
        if (rc != VEX_OK) {
            vx_ix_err_in(err, rc, "memtable index");
            vx_mt_unref(m);
            return rc;
        }
    }
    *out = m;
    return VEX_OK;
}

void vx_mt_ref(memtable *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void vx_mt_unref(memtable *m)
{
    mt_dir *d;
    if (m == NULL ||
        atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    d = atomic_load_explicit(&m->dir, memory_order_relaxed);
    for (uint64_t c = 0, n = atomic_load(&m->n_rows); c * MT_CHUNK < n; c++) {
        for (uint64_t r = 0; r < MT_CHUNK && c * MT_CHUNK + r < n; r++) {
            vx_vm_record_free(d->chunks[c]->meta[r], m->mem);
            vx_mem_free(m->mem, d->chunks[c]->pay[r]);
            vx_mem_free(m->mem, d->chunks[c]->txt[r]);
        }
        vx_mem_free_aligned(m->mem, d->chunks[c]->vecs);
        vx_mem_free(m->mem, d->chunks[c]);
    }
    /* the chunk a put made room in before it failed (mt_room): no rows */
    {
        uint64_t n = atomic_load(&m->n_rows);
        size_t next = (size_t)((n + MT_CHUNK - 1) >> MT_CHUNK_SHIFT);
        if (next < d->cap && d->chunks[next] != NULL) {
            vx_mem_free_aligned(m->mem, d->chunks[next]->vecs);
            vx_mem_free(m->mem, d->chunks[next]);
        }
    }
    dir_free(m->mem, d);
    vx_ix_free(m->ix);
    vx_mi_free(m->mi);
    vx_cmap_destroy(&m->ids);
    pthread_mutex_destroy(&m->index_mu);
    vx_mem_free(m->mem, m);
}

/* Make sure row `row` has a chunk (writer). */
static int mt_room(memtable *m, uint64_t row)
{
    mt_dir *d = atomic_load_explicit(&m->dir, memory_order_relaxed);
    size_t ci = (size_t)(row >> MT_CHUNK_SHIFT);
    mt_chunk *ch;
    if ((row & (MT_CHUNK - 1)) != 0)
        return VEX_OK;
    /* a put that failed after making room (out of memory later on) left
     * the chunk in place, without rows: it is this row's */
    if (ci < d->cap && d->chunks[ci] != NULL)
        return VEX_OK;
    if (ci >= d->cap) {
        mt_dir *nd = vx_mem_calloc(
            m->mem, 1, sizeof *nd + 2 * d->cap * sizeof(mt_chunk *));
        if (nd == NULL)
            return VEX_NOMEM;
        nd->cap = 2 * d->cap;
        memcpy(nd->chunks, d->chunks, d->cap * sizeof(mt_chunk *));
        nd->retired = d;
        atomic_store_explicit(&m->dir, nd, memory_order_release);
        d = nd;
    }
    ch = vx_mem_calloc(m->mem, 1, sizeof *ch);
    if (ch == NULL)
        return VEX_NOMEM;
    ch->vecs = vx_mem_alloc_aligned(m->mem, MT_CHUNK * m->cfg.vec_bytes, 64);
    if (ch->vecs == NULL) {
        vx_mem_free(m->mem, ch);
        return VEX_NOMEM;
    }
    /* published by the release store of n_rows that covers it */
    d->chunks[ci] = ch;
    return VEX_OK;
}

int vx_mt_live(const memtable *m, uint64_t id)
{
    uint64_t row;
    return vx_cmap_get(&m->ids, id, &row) && mt_row_end(m, row) == 0;
}

/* FNV-1a, never 0 (the empty slot). */
static uint64_t name_hash(const char *p, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * UINT64_C(0x100000001b3);
    return h ? h : 1;
}

/* Writer: add the names of `meta`'s fields to the set. */
static void names_add(memtable *m, const vm_record *meta)
{
    size_t n = vx_vm_record_n_fields(meta);
    const vm_field *f = vx_vm_record_fields(meta);
    if (atomic_load_explicit(&m->names_full, memory_order_relaxed))
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = name_hash(f[i].name.p, f[i].name.len), x;
        uint32_t at = (uint32_t)h & (MT_NAME_SLOTS - 1);
        while ((x = atomic_load_explicit(&m->names[at],
                                         memory_order_relaxed)) != 0 &&
               x != h)
            at = (at + 1) & (MT_NAME_SLOTS - 1);
        if (x == h)
            continue;
        if (m->n_names >= MT_NAME_SLOTS / 4 * 3) {
            atomic_store_explicit(&m->names_full, 1, memory_order_release);
            return;
        }
        atomic_store_explicit(&m->names[at], h, memory_order_release);
        m->n_names++;
    }
}

int vx_mt_has_field(const memtable *m, const char *name, size_t len)
{
    memtable *w = (memtable *)m;
    uint64_t h = name_hash(name, len), x;
    uint32_t at = (uint32_t)h & (MT_NAME_SLOTS - 1);
    if (atomic_load_explicit(&w->names_full, memory_order_acquire))
        return 1;
    for (uint32_t probes = 0; probes < MT_NAME_SLOTS; probes++) {
        x = atomic_load_explicit(&w->names[at], memory_order_acquire);
        if (x == h)
            return 1;
        if (x == 0)
            return 0;
        at = (at + 1) & (MT_NAME_SLOTS - 1);
    }
    return 1;
}

int vx_mt_put(memtable *m, uint64_t id, const void *vec, vm_record *meta,
              const void *pay, size_t pay_len, const char *txt, size_t txt_len,
              uint64_t seq, int *ended)
{
    uint64_t row = atomic_load_explicit(&m->n_rows, memory_order_relaxed);
    uint64_t prev = MT_NONE;
    unsigned char *pcopy = NULL;
    char *tcopy = NULL;
    mt_chunk *ch;
    unsigned r;
    int rc;
    *ended = 0;
    VX_ASSERT(pay_len <= VEX_MAX_PAYLOAD && (pay_len == 0 || pay != NULL));
    /* V1: rows are appended in sequence order by the one writer */
    VX_ASSERT(seq > 0 && seq >= m->max_seq);
    VX_ASSERT(atomic_load_explicit(&m->frozen, memory_order_relaxed) == 0);
    rc = mt_room(m, row);
    if (rc == VEX_OK)
        rc = vx_cmap_reserve(&m->ids, m->ids.count + 1);
    if (rc == VEX_OK && pay_len > 0) {
        if ((pcopy = vx_mem_alloc(m->mem, pay_len)) == NULL)
            rc = VEX_NOMEM;
        else
            memcpy(pcopy, pay, pay_len);
    }
    if (rc == VEX_OK && txt_len > 0) {
        VX_ASSERT(m->mi != NULL && txt != NULL && txt_len <= VT_MAX_TEXT);
        if ((tcopy = vx_mem_alloc(m->mem, txt_len)) == NULL)
            rc = VEX_NOMEM;
        else
            memcpy(tcopy, txt, txt_len);
        /* last: a failure leaves the index as it was, and nothing after
         * it fails (the text was checked before it was logged; a
         * failure here is out of memory) */
        if (rc == VEX_OK && vx_mi_add(m->mi, row, txt, txt_len, NULL) != VEX_OK)
            rc = VEX_NOMEM;
    }
    if (rc != VEX_OK) {
        vx_mem_free(m->mem, pcopy);
        vx_mem_free(m->mem, tcopy);
        return rc;
    }
    ch = mt_chunk_of(m, row);
    r = (unsigned)(row & (MT_CHUNK - 1));
    if (vx_cmap_get(&m->ids, id, &prev) && mt_row_end(m, prev) == 0) {
        atomic_store_explicit(
            &mt_chunk_of(m, prev)->end_seq[prev & (MT_CHUNK - 1)], seq,
            memory_order_release);
        atomic_fetch_sub_explicit(&m->n_live, 1, memory_order_relaxed);
        *ended = 1;
    }
    ch->id[r] = id;
    ch->add_seq[r] = seq;
    atomic_store_explicit(&ch->end_seq[r], 0, memory_order_relaxed);
    ch->prev[r] = prev;
    ch->meta[r] = meta;
    ch->pay[r] = pcopy;
    ch->pay_len[r] = (uint32_t)pay_len;
    ch->txt[r] = tcopy;
    ch->txt_len[r] = (uint32_t)txt_len;
    if (txt_len)
        atomic_fetch_add_explicit(&m->txt_bytes, txt_len, memory_order_relaxed);
    if (pay_len)
        atomic_fetch_add_explicit(&m->pay_bytes, pay_len, memory_order_relaxed);
    if (meta)
        names_add(m, meta);
    if (meta)
        atomic_fetch_add_explicit(&m->meta_bytes,
                                  vx_vm_record_encoded_size(meta),
                                  memory_order_relaxed);
    memcpy(ch->vecs + (size_t)r * m->cfg.vec_bytes, vec, m->cfg.vec_bytes);
    ch->aux[r] = m->cfg.elem == VEX_ELEM_F32
                     ? vx_exact_vec_aux(&m->cfg, vx_simd(), vec)
                     : 0.0f;
    (void)vx_cmap_put(&m->ids, id, row); /* reserved above */
    if (m->min_seq == 0)
        m->min_seq = seq;
    m->max_seq = seq;
    atomic_fetch_add_explicit(&m->n_live, 1, memory_order_relaxed);
    atomic_store_explicit(&m->n_rows, row + 1, memory_order_release);
    return VEX_OK;
}

int vx_mt_delete(memtable *m, uint64_t id, uint64_t seq)
{
    uint64_t row;
    if (!vx_cmap_get(&m->ids, id, &row) || mt_row_end(m, row) != 0)
        return 0;
    atomic_store_explicit(&mt_chunk_of(m, row)->end_seq[row & (MT_CHUNK - 1)],
                          seq, memory_order_release);
    atomic_fetch_sub_explicit(&m->n_live, 1, memory_order_relaxed);
    if (m->min_seq == 0)
        m->min_seq = seq;
    m->max_seq = seq;
    return 1;
}

int vx_mt_find(const memtable *m, uint64_t id, uint64_t seq, uint64_t *row)
{
    uint64_t r;
    if (!vx_cmap_get(&m->ids, id, &r))
        return 0;
    /* the map may name a row appended after this reader's n_rows; walk
     * back until a row visible at seq (rows are complete once in the
     * map: the writer fills a row before putting it there) */
    while (r != MT_NONE) {
        if (mt_visible(m, r, seq)) {
            *row = r;
            return 1;
        }
        r = mt_chunk_of(m, r)->prev[r & (MT_CHUNK - 1)];
    }
    return 0;
}

/* ---- the memtable as a source (storage/source.h) ----------------------
 *
 * Refs are row numbers. The graph covers rows [0, acc->indexed) (the
 * caller reads the boundary once per search: vx_mt_source's `indexed`),
 * the exact tail the rows from there on, so the two never both return a
 * row. A memtable does not count filter matches: it evaluates the filter
 * on each candidate's record (no allocation), in the graph hook and in
 * the scans. */

static uint64_t mt_src_refs(const void *self)
{
    return mt_rows(self);
}

static uint64_t mt_src_indexed(const void *self)
{
    const memtable *m = self;
    return m->ix ? mt_indexed(m) : 0;
}

static int mt_src_find(const void *self, uint64_t id, uint64_t seq,
                       uint64_t *ref)
{
    return vx_mt_find(self, id, seq, ref);
}

static uint64_t mt_src_id_of(const void *self, uint64_t ref)
{
    return mt_row_id(self, ref);
}

static int mt_src_vector(void *self, uint64_t ref, void *out, vex_err *err)
{
    const memtable *m = self;
    (void)err;
    memcpy(out, mt_row_vec(m, ref), m->cfg.vec_bytes);
    return VEX_OK;
}

static int mt_src_record(void *self, uint64_t ref, const vex_mem *mem,
                         vm_record **out, vex_err *err)
{
    const vm_record *rec = mt_row_meta(self, ref);
    *out = NULL;
    if (rec && vx_vm_record_copy(rec, mem, out) != VEX_OK)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    return VEX_OK;
}

static int mt_src_payload(void *self, uint64_t ref, const void **p, size_t *len,
                          vex_err *err)
{
    (void)err;
    *p = mt_row_pay(self, ref, len);
    return VEX_OK;
}

static int mt_src_text(void *self, uint64_t ref, const char **p, size_t *len,
                       vex_err *err)
{
    (void)err;
    *p = mt_row_txt(self, ref, len);
    return VEX_OK;
}

int vx_mt_text_live(void *ctx, uint64_t row)
{
    void *const *x = ctx;
    const memtable *m = x[0];
    return row < mt_rows(m) && mt_visible(m, row, *(const uint64_t *)x[1]);
}

static int mt_src_has_graph(const void *self)
{
    return ((const memtable *)self)->ix != NULL;
}

/* Whether row r (visible at the snapshot) is accepted. */
static int row_accepted(const memtable *m, const vx_src_accept *a, uint64_t r)
{
    if (a->where && !vx_vmf_eval(a->where, mt_row_meta(m, r)))
        return 0;
    return a->filter == NULL || a->filter(mt_row_id(m, r), a->filter_ctx) != 0;
}

typedef struct mt_hook {
    const memtable *m;
    const vx_src_accept *acc;
} mt_hook;

/* Graph hook: indexed rows the snapshot sees and the filter accepts. */
static int mt_accept(uint64_t row, void *arg)
{
    const mt_hook *h = arg;
    return row < h->acc->indexed && mt_visible(h->m, row, h->acc->seq) &&
           row_accepted(h->m, h->acc, row);
}

static int mt_src_knn(void *self, const vx_src_query *q,
                      const vx_src_accept *acc, size_t k, float cut,
                      vex_hit *hits, size_t *n, vex_err *err)
{
    const memtable *m = self;
    mt_hook h = {m, acc};
    vex_search_opts so;
    int rc;
    *n = 0;
    if (m->ix == NULL || acc->indexed == 0)
        return VEX_OK;
    vx_ix_search_opts_init(&so);
    so.n_threads = 1;
    so.ef = q->ef;
    so.filter_max_ef = q->filter_max_ef;
    so.filter = mt_accept;
    so.filter_ctx = &h;
    so.cut = cut;
    so.work = q->work;
    rc = vx_ix_search(m->ix, q->vec, k, &so, hits, n, err);
    if (rc != VEX_OK)
        return vx_ix_err_in(err, rc, "memtable");
    return VEX_OK;
}

static int mt_src_exact(void *self, const vx_src_query *q,
                        const vx_src_accept *acc, int tail_only, vex_topk *top,
                        vex_err *err)
{
    const memtable *m = self;
    const vex_simd_table *s = vx_simd();
    uint64_t n = mt_rows(m), lo = tail_only ? acc->indexed : 0;
    float dist[MT_EXACT_BLOCK];
    float qaux;
    (void)err;
    if (lo >= n)
        return VEX_OK;
    qaux = m->cfg.elem == VEX_ELEM_F32 ? vx_exact_query_aux(&m->cfg, s, q->vec)
                                       : 0.0f;
    if (q->work) { /* every row of the range gets its distance */
        q->work->scanned += n - lo;
        q->work->distances += n - lo;
    }
    for (uint64_t b = lo; b < n;) {
        mt_chunk *ch = mt_chunk_of(m, b);
        unsigned r = (unsigned)(b & (MT_CHUNK - 1));
        size_t cnt = MT_CHUNK - r;
        float bound;
        if (cnt > MT_EXACT_BLOCK)
            cnt = MT_EXACT_BLOCK;
        if (cnt > n - b)
            cnt = (size_t)(n - b);
        vx_exact_block(&m->cfg, s, q->vec, qaux,
                       ch->vecs + (size_t)r * m->cfg.vec_bytes, cnt,
                       ch->aux + r, dist);
        bound = vex_topk_bound(top);
        for (size_t j = 0; j < cnt; j++) {
            uint64_t end;
            if (dist[j] > bound || ch->add_seq[r + j] > acc->seq)
                continue;
            end =
                atomic_load_explicit(&ch->end_seq[r + j], memory_order_acquire);
            if (end != 0 && end <= acc->seq)
                continue;
            if (acc->where && !vx_vmf_eval(acc->where, ch->meta[r + j]))
                continue;
            if (acc->filter && !acc->filter(ch->id[r + j], acc->filter_ctx))
                continue;
            vex_topk_push(top, dist[j], ch->id[r + j]);
            bound = vex_topk_bound(top);
        }
        b += cnt;
    }
    return VEX_OK;
}

static int mt_src_scan(void *self, const vx_src_accept *acc,
                       int (*fn)(void *ctx, uint64_t id, uint64_t ref),
                       void *ctx, vex_err *err)
{
    const memtable *m = self;
    uint64_t n = mt_rows(m);
    int rc = 0;
    (void)err;
    for (uint64_t r = 0; r < n && rc == 0; r++)
        if (mt_visible(m, r, acc->seq) && row_accepted(m, acc, r))
            rc = fn(ctx, mt_row_id(m, r), r);
    return rc;
}

const vx_source_methods vx_memtable_source = {
    .kind = "memtable",
    .refs = mt_src_refs,
    .find = mt_src_find,
    .vector = mt_src_vector,
    .record = mt_src_record,
    .indexed = mt_src_indexed,
    .id_of = mt_src_id_of,
    .has_graph = mt_src_has_graph,
    .knn = mt_src_knn,
    .exact = mt_src_exact,
    .match = NULL, /* evaluated per row */
    .match_release = NULL,
    .scan = mt_src_scan,
    .payload = mt_src_payload,
    .text = mt_src_text,
};

int vx_mt_index_to(memtable *m, uint64_t upto, const _Atomic int *cancel,
                   _Atomic uint64_t *done, vx_mt_width_fn width,
                   void *width_ctx, vex_err *err)
{
    uint64_t keys[MT_CHUNK];
    uint64_t at;
    int rc = VEX_OK;
    if (m->ix == NULL)
        return VEX_OK;
    pthread_mutex_lock(&m->index_mu);
    at = mt_indexed(m);
    if (upto > mt_rows(m))
        upto = mt_rows(m);
    while (at < upto) {
        mt_chunk *ch = mt_chunk_of(m, at);
        unsigned r = (unsigned)(at & (MT_CHUNK - 1));
        size_t cnt = MT_CHUNK - r;
        if (cnt > upto - at)
            cnt = (size_t)(upto - at);
        for (size_t j = 0; j < cnt; j++)
            keys[j] = at + j;
        rc = vx_ix_add(m->ix, keys, ch->vecs + (size_t)r * m->cfg.vec_bytes,
                       cnt, width ? width(width_ctx) : 0, err);
        if (rc != VEX_OK) {
            vx_ix_err_in(err, rc, "indexing the memtable");
            break;
        }
        at += cnt;
        atomic_store_explicit(&m->n_indexed, at, memory_order_release);
        if (done)
            atomic_store_explicit(done, at, memory_order_relaxed);
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed))
            break;
    }
    /* the graph's reachability pass, which adds run only now and then:
     * every row the graph holds can then be found by a search. Out of
     * memory it stays pending (the flush's serialisation runs it or
     * fails), which is no reason to fail the indexing. */
    if (rc == VEX_OK)
        (void)vx_ix_settle(m->ix, NULL);
    pthread_mutex_unlock(&m->index_mu);
    return rc;
}

uint64_t vx_mt_memory(const memtable *m)
{
    uint64_t n = mt_rows(m);
    uint64_t chunks = (n + MT_CHUNK - 1) / MT_CHUNK;
    return chunks * (sizeof(mt_chunk) + MT_CHUNK * m->cfg.vec_bytes) +
           vx_cmap_memory(&m->ids) + (m->ix ? vx_ix_memory(m->ix) : 0) +
           atomic_load_explicit(&((memtable *)m)->meta_bytes,
                                memory_order_relaxed) +
           atomic_load_explicit(&((memtable *)m)->pay_bytes,
                                memory_order_relaxed) +
           atomic_load_explicit(&((memtable *)m)->txt_bytes,
                                memory_order_relaxed) +
           (m->mi ? vx_mi_memory(m->mi) : 0);
}
