/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flat.c - exact (brute-force) index.
 *
 * Compares every query with every stored vector, so results are exact; the
 * work is making that run at memory speed. Layout: vectors back to back in
 * one 64-byte aligned array (no padding between them, because for a scan
 * that reads everything, padding is pure bandwidth loss), the user ids in a
 * parallel array, and one float of per-vector auxiliary data: |x|^2 for L2
 * (used by the batch path) and 1/|x| for cosine (so a cosine distance costs
 * one dot product, not three). An id -> slot hash map serves get and
 * remove; remove moves the last vector into the hole, so the arrays stay
 * dense and scans never skip.
 *
 * Single query (flat_search): the scan goes block by block (FLAT_BLOCK
 * vectors) through a one-to-many SIMD kernel into a distance buffer on the
 * stack, then a tight loop compares each distance with the current k-th
 * best and only the rare winner touches the heap. With n_threads > 1 and
 * enough data, the slot range is split into one chunk per worker, each
 * worker keeps its own heap, and the heaps are merged.
 *
 * Batch (flat_search_batch): queries are split into tasks of up to
 * FLAT_TASK_QUERIES. A task walks the data once, block by block; each block
 * is packed once into dimension-major panels, and a register-blocked
 * kernel computes the dot products of all the task's queries against it
 * (the GEMM formulation FAISS gets from BLAS). For L2 the ranking value is
 * |x|^2 - 2 q.x (|q|^2 is the same for every x); for cosine -q.x / |x|.
 * That form loses a little precision to cancellation, so each query keeps
 * k + slack candidates and they are re-scored with the exact single-query
 * kernel: a batch returns exactly the distances a single search returns.
 * Binary vectors have no packed kernel; their tasks use the one-to-many
 * kernels, still reading each block once for all of the task's queries.
 *
 * Scratch memory. Searches must not allocate per query. Each worker of a
 * call borrows a flat_ctx (heaps, packed block, tile) from a free list kept
 * by the index; a context grows only when a call needs more than any call
 * before it, so a steady workload allocates nothing.
 *
 * Quantized (cfg.quant): next to the vectors, one code per slot
 * (index/qcodes.h), moved with its vector on remove. A single query of a
 * trained index scans the codes block by block with the quantizer's
 * distance computer, keeps the nearest ceil(refine * k) slots in a heap,
 * and reranks those with the exact kernel on the full vectors, which are
 * touched only then; with n_threads > 1 and enough data the code scan is
 * split over workers like the exact one. 4-bit PQ/OPQ codes are scanned
 * through qcodes' block copy with the fast-scan kernel (8-bit lookup
 * tables in registers, vx_vq_dc_scan_blocks): its distances are approximate,
 * which only changes which candidates are reranked; the other codes go
 * through the float-table loop (vx_vq_dc_scan). Batch queries of a quantized
 * index are spread over the workers, each one such search (no packed
 * kernel for codes yet); range searches stay exact on the full vectors.
 *
 * Locking. One rwlock: searches share it, add/remove hold it exclusively.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "index/index.h"
#include "index/qcodes.h"
#include "simd/simd.h"
#include "util/check.h"
#include "util/idmap.h"
#include "util/topk.h"

#define FLAT_BLOCK        256   /* vectors per single-query block */
#define FLAT_PARALLEL_MIN 32768 /* below this a query stays on 1 thread */
#define FLAT_TASK_QUERIES 256   /* queries per batch task */
#define FLAT_GROUP        64    /* queries per packed-kernel call */
#define FLAT_PACK_BYTES   (256 * 1024) /* target size of one packed block */

typedef struct flat_ctx {
    struct flat_ctx *next;
    vex_hit *heap; /* heap storage */
    size_t heap_cap;
    vex_topk *tks; /* one heap header per query of a batch task */
    size_t tks_cap;
    float *qaux; /* per query: 1/|q| for cosine */
    size_t qaux_cap;
    float *packed; /* 64-byte aligned */
    size_t packed_cap;
    float *tile;
    size_t tile_cap;
    vq_dc *dc; /* quantized: this context's distance computer */
    size_t bytes;
} flat_ctx;

typedef struct flat_index {
    const vex_mem *mem;
    vex_pool *pool;
    vex_index_config cfg;
    pthread_rwlock_t lock;
    unsigned char *vecs;
    uint64_t *ids;
    float *aux;
    uint64_t n, cap;
    /* vecs and ids point into a caller's blob (vex_index_open_buffer, a
     * mapped segment): read in place until the first write copies them */
    int borrowed;
    vex_idmap map;
    pthread_mutex_t ctx_lock;
    flat_ctx *free_ctx;
    uint64_t ctx_bytes;
    vex_qcodes *qc; /* NULL unless quantized */
} flat_index;

static int flat_each(void *ix, vex_scan_fn fn, void *ctx)
{
    flat_index *f = ix;
    int rc = 0;
    pthread_rwlock_rdlock(&f->lock);
    for (uint64_t i = 0; i < f->n && rc == 0; i++)
        rc = fn(ctx, f->ids[i], f->vecs + i * f->cfg.vec_bytes);
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* ---------------------------------------------------------------------
 * Distances
 * ------------------------------------------------------------------- */

static inline float cos_dist(float dot, float qinv, float xinv)
{
    float d = 1.0f - dot * (qinv * xinv);
    return d < 0.0f ? 0.0f : (d > 2.0f ? 2.0f : d);
}

static inline const float *flat_vec_f32(const flat_index *f, uint64_t slot)
{
    return (const float *)(f->vecs + slot * f->cfg.vec_bytes);
}

/* Per-query precomputation: 1/|q| for cosine, 0 otherwise. */
static float flat_query_aux(const flat_index *f, const vex_simd_table *s,
                            const void *q)
{
    return vx_exact_query_aux(&f->cfg, s, q);
}

float vx_exact_query_aux(const vex_index_config *cfg, const vex_simd_table *s,
                         const void *q)
{
    if (cfg->metric == VEX_METRIC_COSINE)
        return 1.0f / sqrtf(s->norm2_f32(q, cfg->dim));
    return 0.0f;
}

float vx_exact_vec_aux(const vex_index_config *cfg, const vex_simd_table *s,
                       const void *v)
{
    if (cfg->metric == VEX_METRIC_COSINE)
        return 1.0f / sqrtf(s->norm2_f32(v, cfg->dim));
    return 0.0f;
}

void vx_exact_block(const vex_index_config *cfg, const vex_simd_table *s,
                    const void *q, float qaux, const unsigned char *base,
                    size_t cnt, const float *aux, float *dist)
{
    const size_t dim = cfg->dim, vb = cfg->vec_bytes;
    size_t j;
    switch (cfg->metric) {
    case VEX_METRIC_L2:
        s->l2sq_f32_batch(q, (const float *)base, dim, cnt, dim, dist);
        break;
    case VEX_METRIC_IP:
        s->dot_f32_batch(q, (const float *)base, dim, cnt, dim, dist);
        for (j = 0; j < cnt; j++)
            dist[j] = -dist[j];
        break;
    case VEX_METRIC_COSINE:
        s->dot_f32_batch(q, (const float *)base, dim, cnt, dim, dist);
        for (j = 0; j < cnt; j++)
            dist[j] = cos_dist(dist[j], qaux, aux[j]);
        break;
    case VEX_METRIC_HAMMING: {
        uint32_t hd[FLAT_BLOCK];
        size_t done = 0;
        while (done < cnt) {
            size_t m = cnt - done < FLAT_BLOCK ? cnt - done : FLAT_BLOCK;
            s->hamming_batch(q, base + done * vb, vb, m, vb, hd);
            for (j = 0; j < m; j++)
                dist[done + j] = (float)hd[j];
            done += m;
        }
        break;
    }
    case VEX_METRIC_JACCARD:
        for (j = 0; j < cnt; j++)
            dist[j] = s->jaccard(q, base + j * vb, vb);
        break;
    }
}

void vx_exact_ptrs(const vex_index_config *cfg, const vex_simd_table *s,
                   const void *q, float qaux, const unsigned char *const *x,
                   size_t cnt, const float *aux, float *dist)
{
    const size_t dim = cfg->dim, vb = cfg->vec_bytes;
    size_t i, j;
    if (cfg->metric == VEX_METRIC_HAMMING) {
        for (j = 0; j < cnt; j++)
            dist[j] = (float)s->hamming(q, x[j], vb);
        return;
    }
    if (cfg->metric == VEX_METRIC_JACCARD) {
        for (j = 0; j < cnt; j++)
            dist[j] = s->jaccard(q, x[j], vb);
        return;
    }
    for (i = 0; i < cnt; i += 4) {
        /* a short last group repeats its last vector (x4 allows it) */
        const float *p[4];
        float d4[4];
        size_t g = cnt - i < 4 ? cnt - i : 4;
        for (j = 0; j < 4; j++)
            p[j] = (const float *)x[i + (j < g ? j : g - 1)];
        if (cfg->metric == VEX_METRIC_L2)
            s->l2sq_f32_x4(q, p, dim, d4);
        else
            s->dot_f32_x4(q, p, dim, d4);
        for (j = 0; j < g; j++)
            dist[i + j] = cfg->metric == VEX_METRIC_L2 ? d4[j]
                          : cfg->metric == VEX_METRIC_IP
                              ? -d4[j]
                              : cos_dist(d4[j], qaux, aux[i + j]);
    }
}

/* Exact distances of the query to slots [b, b + cnt) into dist[]. Every
 * path of the index (single, batch re-scoring, range) goes through here, so
 * a vector always gets the same distance. */
static void flat_block_dist(const flat_index *f, const vex_simd_table *s,
                            const void *q, float qaux, uint64_t b, size_t cnt,
                            float *dist)
{
    vx_exact_block(&f->cfg, s, q, qaux, f->vecs + b * f->cfg.vec_bytes, cnt,
                   f->aux ? f->aux + b : NULL, dist);
}

/* Scan slots [lo, hi) into a top-k heap. */
static void flat_scan_knn(const flat_index *f, const vex_simd_table *s,
                          const vex_search_opts *so, const void *q, float qaux,
                          uint64_t lo, uint64_t hi, vex_topk *t)
{
    float dist[FLAT_BLOCK];
    uint64_t b;
    for (b = lo; b < hi; b += FLAT_BLOCK) {
        size_t j, cnt = hi - b < FLAT_BLOCK ? (size_t)(hi - b) : FLAT_BLOCK;
        float bound;
        flat_block_dist(f, s, q, qaux, b, cnt, dist);
        bound = vex_topk_bound(t);
        for (j = 0; j < cnt; j++) {
            if (dist[j] <= bound && vex_accept(so, f->ids[b + j])) {
                vex_topk_push(t, dist[j], f->ids[b + j]);
                bound = vex_topk_bound(t);
            }
        }
    }
}

/* Scan slots [lo, hi) for distances <= radius: count them all, keep the
 * nearest in t. */
static uint64_t flat_scan_range(const flat_index *f, const vex_simd_table *s,
                                const vex_search_opts *so, const void *q,
                                float qaux, float radius, uint64_t lo,
                                uint64_t hi, vex_topk *t)
{
    float dist[FLAT_BLOCK];
    uint64_t b, total = 0;
    for (b = lo; b < hi; b += FLAT_BLOCK) {
        size_t j, cnt = hi - b < FLAT_BLOCK ? (size_t)(hi - b) : FLAT_BLOCK;
        flat_block_dist(f, s, q, qaux, b, cnt, dist);
        for (j = 0; j < cnt; j++) {
            if (dist[j] <= radius && vex_accept(so, f->ids[b + j])) {
                total++;
                vex_topk_push(t, dist[j], f->ids[b + j]);
            }
        }
    }
    return total;
}

/* ---------------------------------------------------------------------
 * Scratch contexts
 * ------------------------------------------------------------------- */

static void flat_ctx_free(const vex_mem *m, flat_ctx *c)
{
    if (c == NULL)
        return;
    vx_mem_free(m, c->heap);
    vx_mem_free(m, c->tks);
    vx_mem_free(m, c->qaux);
    vx_mem_free_aligned(m, c->packed);
    vx_mem_free(m, c->tile);
    vx_vq_dc_destroy(c->dc);
    vx_mem_free(m, c);
}

/* Grow a plain array to hold at least `need` elements. */
static int flat_grow(const vex_mem *m, void **p, size_t *cap, size_t need,
                     size_t elem, size_t *bytes)
{
    void *np;
    size_t sz;
    if (*cap >= need)
        return VEX_OK;
    if (vex_mul_overflow(need, elem, &sz))
        return VEX_NOMEM;
    np = vx_mem_realloc(m, *p, sz);
    if (np == NULL)
        return VEX_NOMEM;
    *bytes += (need - *cap) * elem;
    *p = np;
    *cap = need;
    return VEX_OK;
}

typedef struct ctx_need {
    size_t heap, tks, qaux, packed, tile;
} ctx_need;

static int ctx_reserve(const vex_mem *m, flat_ctx *c, const ctx_need *n)
{
    int rc = flat_grow(m, (void **)&c->heap, &c->heap_cap, n->heap,
                       sizeof(vex_hit), &c->bytes);
    if (rc == VEX_OK)
        rc = flat_grow(m, (void **)&c->tks, &c->tks_cap, n->tks,
                       sizeof(vex_topk), &c->bytes);
    if (rc == VEX_OK)
        rc = flat_grow(m, (void **)&c->qaux, &c->qaux_cap, n->qaux,
                       sizeof(float), &c->bytes);
    if (rc == VEX_OK)
        rc = flat_grow(m, (void **)&c->tile, &c->tile_cap, n->tile,
                       sizeof(float), &c->bytes);
    if (rc == VEX_OK && c->packed_cap < n->packed) {
        float *p = vx_mem_alloc_aligned(m, n->packed * sizeof(float), 64);
        if (p == NULL) {
            rc = VEX_NOMEM;
        } else {
            vx_mem_free_aligned(m, c->packed);
            c->bytes += (n->packed - c->packed_cap) * sizeof(float);
            c->packed = p;
            c->packed_cap = n->packed;
        }
    }
    return rc;
}

/* Borrow `count` contexts sized for `need`. On failure none is borrowed. */
static int flat_ctx_acquire(flat_index *f, unsigned count, const ctx_need *need,
                            flat_ctx **out)
{
    unsigned i;
    int rc = VEX_OK;
    pthread_mutex_lock(&f->ctx_lock);
    for (i = 0; i < count; i++) {
        out[i] = f->free_ctx;
        if (out[i])
            f->free_ctx = out[i]->next;
    }
    pthread_mutex_unlock(&f->ctx_lock);
    for (i = 0; i < count && rc == VEX_OK; i++) {
        size_t before;
        if (out[i] == NULL) {
            out[i] = vx_mem_calloc(f->mem, 1, sizeof(flat_ctx));
            if (out[i] == NULL) {
                rc = VEX_NOMEM;
                break;
            }
            out[i]->bytes = sizeof(flat_ctx);
            pthread_mutex_lock(&f->ctx_lock);
            f->ctx_bytes += sizeof(flat_ctx);
            pthread_mutex_unlock(&f->ctx_lock);
        }
        before = out[i]->bytes;
        rc = ctx_reserve(f->mem, out[i], need);
        pthread_mutex_lock(&f->ctx_lock);
        f->ctx_bytes += out[i]->bytes - before;
        pthread_mutex_unlock(&f->ctx_lock);
    }
    if (rc != VEX_OK) {
        /* give back what we took; contexts stay valid, just not grown */
        pthread_mutex_lock(&f->ctx_lock);
        for (i = 0; i < count; i++) {
            if (out[i]) {
                out[i]->next = f->free_ctx;
                f->free_ctx = out[i];
                out[i] = NULL;
            }
        }
        pthread_mutex_unlock(&f->ctx_lock);
    }
    return rc;
}

static void flat_ctx_release(flat_index *f, unsigned count, flat_ctx **ctx)
{
    unsigned i;
    pthread_mutex_lock(&f->ctx_lock);
    for (i = 0; i < count; i++) {
        ctx[i]->next = f->free_ctx;
        f->free_ctx = ctx[i];
    }
    pthread_mutex_unlock(&f->ctx_lock);
}

/* ---------------------------------------------------------------------
 * Life cycle and writes
 * ------------------------------------------------------------------- */

static int flat_create(const vex_mem *mem, vex_pool *pool, vex_err *err,
                       const vex_index_config *cfg, void **out)
{
    flat_index *f = vx_mem_calloc(mem, 1, sizeof *f);
    if (f == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory creating index");
    f->mem = mem;
    f->pool = pool;
    f->cfg = *cfg;
    pthread_rwlock_init(&f->lock, NULL);
    pthread_mutex_init(&f->ctx_lock, NULL);
    vx_idmap_init(&f->map, mem);
    if (cfg->quant) {
        int rc = vx_qc_create(mem, err, cfg, &f->qc);
        if (rc != VEX_OK) {
            vx_idmap_destroy(&f->map);
            pthread_mutex_destroy(&f->ctx_lock);
            pthread_rwlock_destroy(&f->lock);
            vx_mem_free(mem, f);
            return rc;
        }
        vx_qc_use_blocks(f->qc); /* 4-bit codes: the fast scan (qscan_range) */
    }
    *out = f;
    return VEX_OK;
}

static void flat_destroy(void *ix)
{
    flat_index *f = ix;
    flat_ctx *c, *next;
    if (f == NULL)
        return;
    for (c = f->free_ctx; c; c = next) {
        next = c->next;
        flat_ctx_free(f->mem, c);
    }
    vx_idmap_destroy(&f->map);
    if (!f->borrowed) {
        vx_mem_free_aligned(f->mem, f->vecs);
        vx_mem_free(f->mem, f->ids);
    }
    vx_mem_free(f->mem, f->aux);
    vx_qc_destroy(f->qc);
    pthread_mutex_destroy(&f->ctx_lock);
    pthread_rwlock_destroy(&f->lock);
    vx_mem_free(f->mem, f);
}

static int flat_has_aux(const flat_index *f)
{
    return f->cfg.metric == VEX_METRIC_L2 || f->cfg.metric == VEX_METRIC_COSINE;
}

/* Copy a borrowed index's vectors and ids into memory of its own (copy on
 * first write). Caller holds the lock exclusively. */
static int flat_thaw(flat_index *f)
{
    size_t n = f->n ? (size_t)f->n : 1;
    unsigned char *vecs;
    uint64_t *ids;
    if (!f->borrowed)
        return VEX_OK;
    vecs = vx_mem_alloc_aligned(f->mem, n * f->cfg.vec_bytes, 64);
    ids = vx_mem_alloc(f->mem, n * sizeof *ids);
    if (vecs == NULL || ids == NULL) {
        vx_mem_free_aligned(f->mem, vecs);
        vx_mem_free(f->mem, ids);
        return VEX_NOMEM;
    }
    if (f->n) {
        memcpy(vecs, f->vecs, (size_t)f->n * f->cfg.vec_bytes);
        memcpy(ids, f->ids, (size_t)f->n * sizeof *ids);
    }
    f->vecs = vecs;
    f->ids = ids;
    f->cap = n;
    f->borrowed = 0;
    return VEX_OK;
}

/* Make room for `need` vectors (a borrowed index is copied first).
 * All-or-nothing. Caller holds the lock. */
static int flat_reserve(flat_index *f, uint64_t need)
{
    uint64_t cap;
    unsigned char *vecs = NULL;
    uint64_t *ids = NULL;
    float *aux = NULL;
    size_t vbytes;
    if (flat_thaw(f) != VEX_OK)
        return VEX_NOMEM;
    if (need <= f->cap)
        return VEX_OK;
    cap = f->cap ? f->cap : 64;
    /* geometric growth for streams of small adds, but a big add gets
     * exactly what it needs (no 2x slack after one bulk load) */
    cap = cap < (UINT64_C(1) << 20) ? cap * 2 : cap + cap / 2;
    if (cap < need)
        cap = need;
    if (cap > VEX_INDEX_MAX_VECTORS)
        cap = VEX_INDEX_MAX_VECTORS;
    if (cap > SIZE_MAX / sizeof(uint64_t) ||
        vex_mul_overflow((size_t)cap, f->cfg.vec_bytes, &vbytes))
        return VEX_NOMEM;
    vecs = vx_mem_alloc_aligned(f->mem, vbytes, 64);
    ids = vx_mem_realloc(f->mem, f->ids, (size_t)cap * sizeof(uint64_t));
    if (ids)
        f->ids = ids;
    if (flat_has_aux(f)) {
        aux = vx_mem_realloc(f->mem, f->aux, (size_t)cap * sizeof(float));
        if (aux)
            f->aux = aux;
    }
    if (vecs == NULL || ids == NULL || (flat_has_aux(f) && aux == NULL)) {
        /* the grown ids/aux arrays are kept (still valid, just larger
         * than cap says); only the vector array decides the capacity */
        vx_mem_free_aligned(f->mem, vecs);
        return VEX_NOMEM;
    }
    if (f->n)
        memcpy(vecs, f->vecs, (size_t)f->n * f->cfg.vec_bytes);
    vx_mem_free_aligned(f->mem, f->vecs);
    f->vecs = vecs;
    f->cap = cap;
    return VEX_OK;
}

static void flat_set_aux(flat_index *f, uint64_t slot)
{
    const vex_simd_table *s = vx_simd();
    float n2;
    if (!flat_has_aux(f))
        return;
    n2 = s->norm2_f32(flat_vec_f32(f, slot), f->cfg.dim);
    f->aux[slot] = f->cfg.metric == VEX_METRIC_L2 ? n2 : 1.0f / sqrtf(n2);
}

static int flat_add(void *ix, const uint64_t *ids, const void *vecs, size_t n,
                    unsigned max_threads, vex_err *err)
{
    (void)max_threads; /* a copy per vector: no threads to share */
    flat_index *f = ix;
    const unsigned char *src = vecs;
    size_t i;
    int rc;
    uint64_t slot;

    pthread_rwlock_wrlock(&f->lock);
    if (n > VEX_INDEX_MAX_VECTORS - f->n) {
        rc = vx_err_set(err, VEX_FULL,
                        "adding %zu vectors would exceed the limit of %llu", n,
                        (unsigned long long)VEX_INDEX_MAX_VECTORS);
        goto done;
    }
    rc = flat_reserve(f, f->n + n);
    if (rc == VEX_OK)
        rc = vx_idmap_reserve(&f->map, (size_t)(f->n + n));
    if (rc == VEX_OK && f->qc)
        rc = vx_qc_reserve(f->qc, f->n + n, err);
    if (rc != VEX_OK) {
        rc = vx_err_set(err, VEX_NOMEM,
                        "out of memory growing the index to %llu vectors",
                        (unsigned long long)(f->n + n));
        goto done;
    }
    /* Ids first: the map has room, so puts cannot fail; a duplicate undoes
     * the puts made so far. */
    for (i = 0; i < n; i++) {
        if (vx_idmap_get(&f->map, ids[i], &slot)) {
            size_t j;
            if (slot >= f->n)
                rc = vx_err_set(err, VEX_EXISTS,
                                "id %llu at position %zu repeats position "
                                "%llu of the same call",
                                (unsigned long long)ids[i], i,
                                (unsigned long long)(slot - f->n));
            else
                rc = vx_err_set(err, VEX_EXISTS,
                                "id %llu at position %zu is already in the "
                                "index",
                                (unsigned long long)ids[i], i);
            for (j = 0; j < i; j++)
                vx_idmap_remove(&f->map, ids[j]);
            goto done;
        }
        vx_idmap_put(&f->map, ids[i], f->n + i);
    }
    if (f->qc) {
        rc = vx_qc_encode(f->qc, f->n, vecs, n, err);
        if (rc != VEX_OK) {
            for (i = 0; i < n; i++)
                vx_idmap_remove(&f->map, ids[i]);
            goto done;
        }
    }
    memcpy(f->vecs + f->n * f->cfg.vec_bytes, src, n * f->cfg.vec_bytes);
    memcpy(f->ids + f->n, ids, n * sizeof(uint64_t));
    for (i = 0; i < n; i++)
        flat_set_aux(f, f->n + i);
    f->n += n;
    rc = VEX_OK;
done:
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

static int flat_reserve_api(void *ix, uint64_t n, vex_err *err)
{
    flat_index *f = ix;
    int rc;
    pthread_rwlock_wrlock(&f->lock);
    rc = flat_reserve(f, n);
    if (rc == VEX_OK)
        rc = vx_idmap_reserve(&f->map, (size_t)n);
    pthread_rwlock_unlock(&f->lock);
    if (rc != VEX_OK)
        rc = vx_err_set(err, rc, "out of memory reserving %llu vectors",
                        (unsigned long long)n);
    return rc;
}

static int flat_remove(void *ix, uint64_t id, vex_err *err)
{
    flat_index *f = ix;
    uint64_t slot, last;
    int rc = VEX_OK;
    pthread_rwlock_wrlock(&f->lock);
    if (!vx_idmap_get(&f->map, id, &slot)) {
        rc = vx_err_set(err, VEX_NOTFOUND, "id %llu is not in the index",
                        (unsigned long long)id);
        goto done;
    }
    last = f->n - 1;
    /* a borrowed blob is never written: copy vectors, ids and codes */
    if (slot != last &&
        (flat_thaw(f) != VEX_OK ||
         (f->qc && vx_qc_reserve(f->qc, f->cap, err) != VEX_OK))) {
        rc = vx_err_set(err, VEX_NOMEM,
                        "out of memory copying the index before a remove");
        goto done;
    }
    if (slot != last) {
        memcpy(f->vecs + slot * f->cfg.vec_bytes,
               f->vecs + last * f->cfg.vec_bytes, f->cfg.vec_bytes);
        f->ids[slot] = f->ids[last];
        if (flat_has_aux(f))
            f->aux[slot] = f->aux[last];
        if (f->qc)
            vx_qc_move(f->qc, slot, last);
        vx_idmap_put(&f->map, f->ids[slot], slot); /* key exists: no grow */
    }
    vx_idmap_remove(&f->map, id);
    f->n--;
done:
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

static int flat_get(void *ix, uint64_t id, void *vec_out, vex_err *err)
{
    flat_index *f = ix;
    uint64_t slot;
    int rc = VEX_OK;
    pthread_rwlock_rdlock(&f->lock);
    if (vx_idmap_get(&f->map, id, &slot))
        memcpy(vec_out, f->vecs + slot * f->cfg.vec_bytes, f->cfg.vec_bytes);
    else
        rc = vx_err_set(err, VEX_NOTFOUND, "id %llu is not in the index",
                        (unsigned long long)id);
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* The score method: exact distances to the stored vectors of ids[0..n),
 * read in their slots (vx_exact_ptrs: the bits flat_block_dist gives the
 * same vectors). */
static int flat_score(void *ix, const void *query, float qaux,
                      const uint64_t *ids, size_t n, float *dist, vex_err *err)
{
    flat_index *f = ix;
    const unsigned char *x[VX_IX_SCORE_MAX];
    float aux[VX_IX_SCORE_MAX];
    int rc = VEX_OK, has_aux;
    VX_ASSERT(n <= VX_IX_SCORE_MAX);
    pthread_rwlock_rdlock(&f->lock);
    has_aux = f->aux != NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t slot;
        if (!vx_idmap_get(&f->map, ids[i], &slot)) {
            rc = vx_err_set(err, VEX_NOTFOUND, "id %llu is not in the index",
                            (unsigned long long)ids[i]);
            break;
        }
        x[i] = f->vecs + slot * f->cfg.vec_bytes;
        for (size_t l = 0; l < f->cfg.vec_bytes && l < 256; l += 64)
            __builtin_prefetch(x[i] + l, 0, 3);
        aux[i] = has_aux ? f->aux[slot] : 0.0f;
    }
    if (rc == VEX_OK)
        vx_exact_ptrs(&f->cfg, vx_simd(), query, qaux, x, n,
                      has_aux ? aux : NULL, dist);
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

static uint64_t flat_count(void *ix)
{
    flat_index *f = ix;
    uint64_t n;
    pthread_rwlock_rdlock(&f->lock);
    n = f->n;
    pthread_rwlock_unlock(&f->lock);
    return n;
}

static uint64_t flat_memory(void *ix)
{
    flat_index *f = ix;
    uint64_t b;
    pthread_rwlock_rdlock(&f->lock);
    /* what searches read, borrowed or not; but the full vectors of a
     * quantized index read in place from a blob are not counted: only
     * reranks touch them (a mapped segment leaves them on disk) */
    b = sizeof *f + f->cap * sizeof(uint64_t) +
        (flat_has_aux(f) ? f->cap * sizeof(float) : 0) +
        vx_idmap_memory(&f->map) + (f->qc ? vx_qc_memory(f->qc) : 0);
    if (!(f->qc && f->borrowed))
        b += f->cap * f->cfg.vec_bytes;
    pthread_rwlock_unlock(&f->lock);
    pthread_mutex_lock(&f->ctx_lock);
    b += f->ctx_bytes;
    pthread_mutex_unlock(&f->ctx_lock);
    return b;
}

/* ---------------------------------------------------------------------
 * Single query: k-NN and range, optionally split over workers
 * ------------------------------------------------------------------- */

typedef struct scan_job {
    const flat_index *f;
    const vex_simd_table *s;
    const vex_search_opts *so;
    const void *q;
    float qaux;
    float radius;
    int range;
    uint64_t chunk;
    vex_topk *tk;     /* one per worker */
    uint64_t *totals; /* one per worker (range) */
} scan_job;

static void scan_task(void *arg, size_t task, unsigned worker)
{
    scan_job *j = arg;
    uint64_t lo = task * j->chunk;
    uint64_t hi = lo + j->chunk < j->f->n ? lo + j->chunk : j->f->n;
    if (j->range)
        j->totals[worker] += flat_scan_range(j->f, j->s, j->so, j->q, j->qaux,
                                             j->radius, lo, hi, &j->tk[worker]);
    else
        flat_scan_knn(j->f, j->s, j->so, j->q, j->qaux, lo, hi, &j->tk[worker]);
}

/* Runs a k-NN (range == 0) or range scan; the nearest `cap` hits go to
 * `hits` sorted. Caller holds the read lock. */
static int flat_scan(flat_index *f, const void *q, const vex_search_opts *so,
                     int range, float radius, vex_hit *hits, size_t cap,
                     size_t *n_hits, uint64_t *n_total, vex_err *err)
{
    const vex_simd_table *s = vx_simd();
    float qaux = flat_query_aux(f, s, q);
    unsigned width = vx_pool_width(f->pool, so->n_threads), w;
    vex_topk tk[VEX_MAX_THREADS];
    uint64_t totals[VEX_MAX_THREADS];
    flat_ctx *ctx[VEX_MAX_THREADS];
    scan_job job;
    vex_topk out;
    int rc;

    if (f->n < FLAT_PARALLEL_MIN || width == 1) {
        vex_topk_init(&out, hits, cap);
        if (range)
            *n_total =
                flat_scan_range(f, s, so, q, qaux, radius, 0, f->n, &out);
        else
            flat_scan_knn(f, s, so, q, qaux, 0, f->n, &out);
        *n_hits = vx_topk_sort(&out);
        return VEX_OK;
    }

    {
        ctx_need need = {0};
        need.heap = cap;
        /* worker 0 keeps its heap in the caller's array */
        rc = width > 1 ? flat_ctx_acquire(f, width - 1, &need, ctx) : VEX_OK;
        if (rc != VEX_OK)
            return vx_err_set(err, rc, "out of memory for search scratch");
    }
    vex_topk_init(&tk[0], hits, cap);
    for (w = 1; w < width; w++)
        vex_topk_init(&tk[w], ctx[w - 1]->heap, cap);
    memset(totals, 0, sizeof(totals[0]) * width);
    job.f = f;
    job.s = s;
    job.so = so;
    job.q = q;
    job.qaux = qaux;
    job.radius = radius;
    job.range = range;
    job.chunk = (f->n + width - 1) / width;
    job.chunk = (job.chunk + FLAT_BLOCK - 1) / FLAT_BLOCK * FLAT_BLOCK;
    job.tk = tk;
    job.totals = totals;
    vx_pool_run(f->pool, (size_t)((f->n + job.chunk - 1) / job.chunk), width,
                scan_task, &job);
    for (w = 1; w < width; w++)
        vx_topk_merge(&tk[0], &tk[w]);
    if (range) {
        *n_total = 0;
        for (w = 0; w < width; w++)
            *n_total += totals[w];
    }
    flat_ctx_release(f, width - 1, ctx);
    *n_hits = vx_topk_sort(&tk[0]);
    return VEX_OK;
}

/* Quantized k-NN: rank every vector by its code, keep the nearest
 * candidates (their slot numbers in the heaps' id field), rerank them on
 * the full vectors. With n_threads > 1 and enough data the code scan is
 * split into one chunk per worker, each with its own context (distance
 * computer and candidate heap), and the heaps are merged before the
 * rerank, as for the exact scan. Caller holds the read lock; the index is
 * trained. */
typedef struct qscan_job {
    const flat_index *f;
    const vex_search_opts *so;
    flat_ctx **ctx;
    vex_topk *tk;
    uint64_t chunk;
} qscan_job;

/* The fast scan reads whole blocks of 32 codes, so a scan block must start
 * on one: lo is 0 or a multiple of the chunk, which is a multiple of
 * FLAT_BLOCK, and b steps by FLAT_BLOCK. Only the last block of the index
 * can be partial, and vx_vq_dc_scan_blocks returns just its first cnt
 * distances. */
_Static_assert(FLAT_BLOCK % 32 == 0, "scan blocks start on pq4 blocks");

static void qscan_range(const flat_index *f, const vex_search_opts *so,
                        const vq_dc *dc, uint64_t lo, uint64_t hi, vex_topk *t)
{
    float dist[FLAT_BLOCK];
    uint64_t b;
    for (b = lo; b < hi; b += FLAT_BLOCK) {
        size_t j, cnt = hi - b < FLAT_BLOCK ? (size_t)(hi - b) : FLAT_BLOCK;
        float bound;
        /* 4-bit codes: approximate distances from the 8-bit tables of the
         * block copy (one shuffle looks up 16-32 codes; the float-table
         * loop has to unpack nibbles one by one); the rerank below makes
         * the returned distances exact */
        if (f->qc->blocks)
            vx_vq_dc_scan_blocks(dc, qc_block(f->qc, b), cnt, dist);
        else
            vx_vq_dc_scan(dc, qc_code(f->qc, b), cnt, dist);
        bound = vex_topk_bound(t);
        for (j = 0; j < cnt; j++) {
            if (dist[j] <= bound && vex_accept(so, f->ids[b + j])) {
                vex_topk_push(t, dist[j], b + j);
                bound = vex_topk_bound(t);
            }
        }
    }
}

static void qscan_task(void *arg, size_t task, unsigned worker)
{
    qscan_job *j = arg;
    uint64_t lo = task * j->chunk;
    uint64_t hi = lo + j->chunk < j->f->n ? lo + j->chunk : j->f->n;
    qscan_range(j->f, j->so, j->ctx[worker]->dc, lo, hi, &j->tk[worker]);
}

static int flat_search_quant(flat_index *f, const void *q, size_t k,
                             const vex_search_opts *so, vex_hit *hits,
                             size_t *n_hits, vex_err *err)
{
    const vex_simd_table *s = vx_simd();
    size_t r = vx_qc_candidates(so->refine, f->cfg.quant_refine, k), i, m;
    unsigned width = vx_pool_width(f->pool, so->n_threads), w;
    ctx_need need = {0};
    flat_ctx *ctx[VEX_MAX_THREADS];
    vex_topk tk[VEX_MAX_THREADS], out;
    float qaux;
    int rc;
    if (f->n < FLAT_PARALLEL_MIN)
        width = 1;
    need.heap = r;
    rc = flat_ctx_acquire(f, width, &need, ctx); /* none taken on failure */
    if (rc == VEX_OK) {
        for (w = 0; w < width && rc == VEX_OK; w++)
            if (ctx[w]->dc == NULL)
                rc = vx_vq_dc_create(f->qc->q, 0, &ctx[w]->dc);
        if (rc != VEX_OK)
            flat_ctx_release(f, width, ctx);
    }
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "out of memory for search scratch");
    for (w = 0; w < width && rc == VEX_OK; w++) {
        rc = vx_vq_dc_set_query(ctx[w]->dc, q); /* validated by the handle */
        vex_topk_init(&tk[w], ctx[w]->heap, r);
    }
    if (rc != VEX_OK) {
        flat_ctx_release(f, width, ctx);
        return vx_err_set(err, rc, "query: %s", vx_vq_errmsg(f->qc->q));
    }
    if (width == 1) {
        qscan_range(f, so, ctx[0]->dc, 0, f->n, &tk[0]);
    } else {
        qscan_job job;
        job.f = f;
        job.so = so;
        job.ctx = ctx;
        job.tk = tk;
        job.chunk = (f->n + width - 1) / width;
        job.chunk = (job.chunk + FLAT_BLOCK - 1) / FLAT_BLOCK * FLAT_BLOCK;
        vx_pool_run(f->pool, (size_t)((f->n + job.chunk - 1) / job.chunk),
                    width, qscan_task, &job);
        for (w = 1; w < width; w++)
            vx_topk_merge(&tk[0], &tk[w]);
    }
    m = vx_topk_sort(&tk[0]);
    qaux = flat_query_aux(f, s, q);
    vex_topk_init(&out, hits, k);
    for (i = 0; i < m; i++) {
        uint64_t sl = tk[0].h[i].id;
        float d;
        flat_block_dist(f, s, q, qaux, sl, 1, &d);
        vex_topk_push(&out, d, f->ids[sl]);
    }
    *n_hits = vx_topk_sort(&out);
    flat_ctx_release(f, width, ctx);
    return VEX_OK;
}

/* Batch of a quantized index: queries spread over the workers, each a
 * single-threaded quantized search (its own context). */
typedef struct qbatch_job {
    flat_index *f;
    const vex_search_opts *so;
    const unsigned char *queries;
    size_t k;
    vex_hit *hits;
    size_t *n_hits;
    vex_err *err;
    _Atomic int rc;
} qbatch_job;

static void qbatch_task(void *arg, size_t task, unsigned worker)
{
    qbatch_job *j = arg;
    vex_search_opts one = *j->so;
    int rc;
    (void)worker;
    one.n_threads = 1;
    rc = flat_search_quant(j->f, j->queries + task * j->f->cfg.vec_bytes, j->k,
                           &one, j->hits + task * j->k, &j->n_hits[task],
                           j->err);
    if (rc != VEX_OK)
        atomic_store(&j->rc, rc);
}

static int flat_quantized(const flat_index *f)
{
    return f->qc != NULL && f->qc->trained;
}

static int flat_search(void *ix, const void *query, size_t k,
                       const vex_search_opts *so, vex_hit *hits, size_t *n_hits,
                       vex_err *err)
{
    flat_index *f = ix;
    int rc;
    pthread_rwlock_rdlock(&f->lock);
    if (so->work) { /* a scan of every vector (quantized: of every code) */
        so->work->scanned += f->n;
        so->work->distances += f->n;
    }
    if (flat_quantized(f))
        rc = flat_search_quant(f, query, k, so, hits, n_hits, err);
    else
        rc = flat_scan(f, query, so, 0, 0.0f, hits, k, n_hits, NULL, err);
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

static int flat_range_search(void *ix, const void *query, float radius,
                             const vex_search_opts *so, vex_hit *hits,
                             size_t capacity, uint64_t *n_total, vex_err *err)
{
    flat_index *f = ix;
    size_t n_hits;
    int rc;
    pthread_rwlock_rdlock(&f->lock);
    rc = flat_scan(f, query, so, 1, radius, hits, capacity, &n_hits, n_total,
                   err);
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* ---------------------------------------------------------------------
 * Batch
 * ------------------------------------------------------------------- */

typedef struct batch_job {
    flat_index *f;
    const vex_simd_table *s;
    const vex_search_opts *so;
    const unsigned char *queries;
    size_t nq, k, kk; /* kk = k + slack candidates per query */
    size_t per_task;
    size_t block; /* vectors per packed block */
    int packed;   /* use the packed dot-product path */
    flat_ctx **ctx;
    vex_hit *hits;
    size_t *n_hits;
} batch_job;

/* Re-score the candidates of one query (slots in .id) exactly and write
 * the best k by (distance, id) to out. */
static size_t batch_rescore(const batch_job *j, const void *q, float qaux,
                            vex_topk *cand, vex_hit *out)
{
    vex_topk best;
    size_t c;
    vex_topk_init(&best, out, j->k);
    for (c = 0; c < cand->n; c++) {
        uint64_t slot = cand->h[c].id;
        float d;
        flat_block_dist(j->f, j->s, q, qaux, slot, 1, &d);
        vex_topk_push(&best, d, j->f->ids[slot]);
    }
    return vx_topk_sort(&best);
}

static void flat_batch_task(void *arg, size_t task, unsigned worker)
{
    batch_job *j = arg;
    const flat_index *f = j->f;
    const vex_simd_table *s = j->s;
    flat_ctx *c = j->ctx[worker];
    const size_t dim = f->cfg.dim, vb = f->cfg.vec_bytes;
    size_t q0 = task * j->per_task;
    size_t nt = j->nq - q0 < j->per_task ? j->nq - q0 : j->per_task;
    size_t i, jj, kk = j->packed ? j->kk : j->k;
    uint64_t b;

    for (i = 0; i < nt; i++) {
        const void *q = j->queries + (q0 + i) * vb;
        vex_topk_init(&c->tks[i], c->heap + i * kk, kk);
        c->qaux[i] = flat_query_aux(f, s, q);
    }
    for (b = 0; b < f->n; b += j->block) {
        size_t cnt = f->n - b < j->block ? (size_t)(f->n - b) : j->block;
        if (j->packed) {
            const float *qf = (const float *)(j->queries + q0 * vb);
            s->pack_f32(flat_vec_f32(f, b), dim, cnt, dim, c->packed);
            for (i = 0; i < nt; i += FLAT_GROUP) {
                size_t g, gq = nt - i < FLAT_GROUP ? nt - i : FLAT_GROUP;
                s->dots_f32_packed(qf + i * dim, dim, gq, c->packed, cnt, dim,
                                   c->tile, j->block);
                for (g = 0; g < gq; g++) {
                    const float *row = c->tile + g * j->block;
                    vex_topk *t = &c->tks[i + g];
                    float bound = vex_topk_bound(t), a;
                    for (jj = 0; jj < cnt; jj++) {
                        switch (f->cfg.metric) {
                        case VEX_METRIC_L2:
                            a = f->aux[b + jj] - 2.0f * row[jj];
                            break;
                        case VEX_METRIC_COSINE:
                            a = -row[jj] * f->aux[b + jj];
                            break;
                        default:
                            a = -row[jj];
                            break;
                        }
                        if (a <= bound && vex_accept(j->so, f->ids[b + jj])) {
                            vex_topk_push(t, a, b + jj); /* slot */
                            bound = vex_topk_bound(t);
                        }
                    }
                }
            }
        } else {
            for (i = 0; i < nt; i++) {
                const void *q = j->queries + (q0 + i) * vb;
                vex_topk *t = &c->tks[i];
                size_t done = 0;
                while (done < cnt) {
                    size_t m = cnt - done < j->block ? cnt - done : j->block;
                    float bound;
                    flat_block_dist(f, s, q, c->qaux[i], b + done, m, c->tile);
                    bound = vex_topk_bound(t);
                    for (jj = 0; jj < m; jj++) {
                        if (c->tile[jj] <= bound &&
                            vex_accept(j->so, f->ids[b + done + jj])) {
                            vex_topk_push(t, c->tile[jj],
                                          f->ids[b + done + jj]);
                            bound = vex_topk_bound(t);
                        }
                    }
                    done += m;
                }
            }
        }
    }
    for (i = 0; i < nt; i++) {
        vex_hit *out = j->hits + (q0 + i) * j->k;
        if (j->packed) {
            j->n_hits[q0 + i] = batch_rescore(j, j->queries + (q0 + i) * vb,
                                              c->qaux[i], &c->tks[i], out);
        } else {
            size_t m = vx_topk_sort(&c->tks[i]);
            memcpy(out, c->tks[i].h, m * sizeof(vex_hit));
            j->n_hits[q0 + i] = m;
        }
    }
}

static int flat_search_batch(void *ix, const void *queries, size_t n_queries,
                             size_t k, const vex_search_opts *so, vex_hit *hits,
                             size_t *n_hits, vex_err *err)
{
    flat_index *f = ix;
    unsigned width = vx_pool_width(f->pool, so->n_threads);
    flat_ctx *ctx[VEX_MAX_THREADS];
    batch_job job;
    ctx_need need;
    size_t i, n_tasks;
    int rc = VEX_OK;

    pthread_rwlock_rdlock(&f->lock);
    /* Few queries: the blocked path would not amortise its packing; split
     * each query's scan over the workers instead. */
    if (flat_quantized(f)) {
        qbatch_job qj;
        qj.f = f;
        qj.so = so;
        qj.queries = queries;
        qj.k = k;
        qj.hits = hits;
        qj.n_hits = n_hits;
        qj.err = err;
        atomic_init(&qj.rc, VEX_OK);
        vx_pool_run(f->pool, n_queries, width, qbatch_task, &qj);
        rc = atomic_load(&qj.rc);
        goto done;
    }
    if (n_queries < 4 * (size_t)width || f->n < FLAT_BLOCK) {
        for (i = 0; i < n_queries && rc == VEX_OK; i++)
            rc = flat_scan(
                f, (const unsigned char *)queries + i * f->cfg.vec_bytes, so, 0,
                0.0f, hits + i * k, k, &n_hits[i], NULL, err);
        goto done;
    }

    job.f = f;
    job.s = vx_simd();
    job.so = so;
    job.queries = queries;
    job.nq = n_queries;
    job.k = k;
    /* slack: candidates beyond k that absorb the rounding of the packed
     * form; a handful suffices, more for large k */
    job.kk = k + 16 + k / 4;
    job.packed = f->cfg.elem == VEX_ELEM_F32;
    job.per_task = (n_queries + width - 1) / width;
    if (job.per_task > FLAT_TASK_QUERIES)
        job.per_task = FLAT_TASK_QUERIES;
    n_tasks = (n_queries + job.per_task - 1) / job.per_task;
    if (n_tasks < width)
        width = (unsigned)n_tasks;
    if (job.packed) {
        size_t panel = job.s->panel;
        job.block = FLAT_PACK_BYTES / (f->cfg.dim * sizeof(float));
        job.block = job.block / 64 * 64;
        if (job.block < 64)
            job.block = 64;
        if (job.block > 2048)
            job.block = 2048;
        need.packed = vex_simd_pack_size(panel, job.block, f->cfg.dim);
        need.tile = FLAT_GROUP * job.block;
        need.heap = job.per_task * job.kk;
    } else {
        job.block = FLAT_BLOCK;
        need.packed = 0;
        need.tile = job.block;
        need.heap = job.per_task * k;
    }
    need.tks = job.per_task;
    need.qaux = job.per_task;
    rc = flat_ctx_acquire(f, width, &need, ctx);
    if (rc != VEX_OK) {
        rc = vx_err_set(err, rc, "out of memory for batch scratch");
        goto done;
    }
    job.ctx = ctx;
    job.hits = hits;
    job.n_hits = n_hits;
    vx_pool_run(f->pool, n_tasks, width, flat_batch_task, &job);
    flat_ctx_release(f, width, ctx);
done:
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* Every slot's id maps back to it, and the map holds nothing else. */
static int flat_check(void *ix, vex_graph_stats *stats, vex_err *err)
{
    flat_index *f = ix;
    uint64_t i, slot;
    int rc = VEX_OK;
    if (stats)
        memset(stats, 0, sizeof *stats);
    pthread_rwlock_rdlock(&f->lock);
    if (f->map.count != f->n)
        rc = vx_err_set(err, VEX_CORRUPT,
                        "flat index: %llu vectors but %zu ids mapped",
                        (unsigned long long)f->n, f->map.count);
    for (i = 0; i < f->n && rc == VEX_OK; i++) {
        if (!vx_idmap_get(&f->map, f->ids[i], &slot) || slot != i)
            rc = vx_err_set(err, VEX_CORRUPT,
                            "flat index: id %llu of slot %llu does not map "
                            "back to it",
                            (unsigned long long)f->ids[i],
                            (unsigned long long)i);
    }
    if (stats)
        stats->nodes = f->n;
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* ---------------------------------------------------------------------
 * Serialisation: vectors and ids (aux and the id map are rebuilt)
 * ------------------------------------------------------------------- */

static int flat_serialize(void *ix, unsigned char *buf, uint64_t size,
                          uint64_t *needed, vex_err *err)
{
    flat_index *f = ix;
    vex_blob_info info;
    uint64_t total;
    int rc = VEX_OK;
    memset(&info, 0, sizeof info);
    pthread_rwlock_wrlock(&f->lock);
    info.kind = VEX_INDEX_FLAT;
    info.elem = f->cfg.elem;
    info.metric = f->cfg.metric;
    info.dim = f->cfg.dim;
    info.n_slots = f->n;
    info.n_live = f->n;
    info.n_sections = 2;
    info.sec[0].id = VEX_SEC_VECTORS;
    info.sec[0].length = f->n * f->cfg.vec_bytes;
    info.sec[1].id = VEX_SEC_IDS;
    info.sec[1].length = f->n * sizeof(uint64_t);
    if (f->qc) {
        info.quant = f->cfg.quant;
        info.quant_bits = f->cfg.quant_bits;
        info.quant_m = f->cfg.quant_m;
        info.quant_refine = f->cfg.quant_refine;
        vx_qc_blob_sections(f->qc, &info, f->n);
    }
    total = vx_blob_layout(&info);
    *needed = total;
    if (buf == NULL || size < total) {
        rc = vx_err_set(err, VEX_FULL,
                        "the serialised index needs %llu bytes, the buffer "
                        "has %llu",
                        (unsigned long long)total, (unsigned long long)size);
    } else {
        memset(buf, 0, (size_t)total);
        if (f->n) {
            memcpy(buf + info.sec[0].offset, f->vecs,
                   (size_t)info.sec[0].length);
            memcpy(buf + info.sec[1].offset, f->ids,
                   (size_t)info.sec[1].length);
        }
        if (f->qc)
            rc = vx_qc_blob_write(f->qc, &info, buf, f->n, err);
        if (rc == VEX_OK)
            vx_blob_finish(&info, buf);
    }
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* With borrow the vectors and ids are used in place (copied on the first
 * write, flat_thaw); else copied. Every vector is read once either way,
 * to check it and rebuild the per-vector data and the id map. */
static int flat_open(const vex_mem *mem, vex_pool *pool, vex_err *err,
                     const vex_index_config *cfg, const vex_blob_info *info,
                     const unsigned char *buf, int borrow, void **out)
{
    const vex_blob_section *sv = vx_blob_find(info, VEX_SEC_VECTORS);
    const vex_blob_section *si = vx_blob_find(info, VEX_SEC_IDS);
    flat_index *f = NULL;
    uint64_t n = info->n_slots, i, slot;
    int rc;
    if (n != info->n_live || n > VEX_INDEX_MAX_VECTORS || !sv || !si ||
        sv->length / cfg->vec_bytes != n || sv->length % cfg->vec_bytes ||
        si->length != n * sizeof(uint64_t))
        return vx_err_set(err, VEX_CORRUPT,
                          "flat blob: %llu vectors do not match the vector "
                          "and id sections",
                          (unsigned long long)n);
    rc = flat_create(mem, pool, err, cfg, (void **)&f);
    if (rc != VEX_OK)
        return rc;
    if (borrow) {
        f->borrowed = 1;
        f->vecs = (unsigned char *)(uintptr_t)(buf + sv->offset);
        f->ids = (uint64_t *)(uintptr_t)(buf + si->offset);
        f->cap = n;
        rc = VEX_OK;
        if (flat_has_aux(f)) {
            f->aux = vx_mem_alloc(mem, (n ? n : 1) * sizeof(float));
            rc = f->aux ? VEX_OK : VEX_NOMEM;
        }
    } else {
        rc = flat_reserve(f, n);
    }
    if (rc == VEX_OK)
        rc = vx_idmap_reserve(&f->map, (size_t)n);
    if (rc != VEX_OK) {
        rc = vx_err_set(err, VEX_NOMEM, "out of memory opening the index");
        goto fail;
    }
    if (n && !borrow) {
        memcpy(f->vecs, buf + sv->offset, (size_t)sv->length);
        memcpy(f->ids, buf + si->offset, (size_t)si->length);
    }
    for (i = 0; i < n; i++) {
        char why[160];
        if (vx_vector_check(cfg, f->vecs + i * cfg->vec_bytes, why,
                            sizeof why) != VEX_OK) {
            rc = vx_err_set(err, VEX_CORRUPT, "flat blob: vector %llu: %s",
                            (unsigned long long)i, why);
            goto fail;
        }
        if (vx_idmap_get(&f->map, f->ids[i], &slot)) {
            rc = vx_err_set(err, VEX_CORRUPT,
                            "flat blob: id %llu is stored twice (vectors "
                            "%llu and %llu)",
                            (unsigned long long)f->ids[i],
                            (unsigned long long)slot, (unsigned long long)i);
            goto fail;
        }
        vx_idmap_put(&f->map, f->ids[i], i);
        flat_set_aux(f, i);
    }
    f->n = n;
    if (f->qc)
        rc = vx_qc_blob_open(f->qc, info, buf, n, borrow, err);
    else if (vx_blob_find(info, VEX_SEC_QUANTIZER) ||
             vx_blob_find(info, VEX_SEC_CODES))
        rc = vx_err_set(err, VEX_CORRUPT,
                        "flat blob: quantizer sections without a quantizer "
                        "in the header");
    if (rc != VEX_OK)
        goto fail;
    *out = f;
    return VEX_OK;
fail:
    flat_destroy(f);
    return rc;
}

/* ---------------------------------------------------------------------
 * Quantizer training
 * ------------------------------------------------------------------- */

static int flat_train(void *ix, const float *sample, size_t n, vex_err *err)
{
    flat_index *f = ix;
    int rc;
    pthread_rwlock_wrlock(&f->lock);
    if (sample == NULL) { /* the rows are contiguous: train on them */
        sample = (const float *)f->vecs;
        n = (size_t)f->n;
    }
    rc = vx_qc_train(f->qc, sample, n, f->cap, err);
    if (rc == VEX_OK) {
        rc = vx_qc_encode(f->qc, 0, (const float *)f->vecs, (size_t)f->n, err);
        if (rc != VEX_OK)
            vx_qc_untrain(f->qc);
    }
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

static size_t flat_code_size(void *ix)
{
    flat_index *f = ix;
    return f->qc ? f->qc->code_size : 0;
}

/* The settle method: a flat index has no maintenance to finish. */
static int flat_settle(void *ix, vex_err *err)
{
    (void)ix;
    (void)err;
    return VEX_OK;
}

const vex_index_methods vx_flat_methods = {
    "flat",      flat_create,    flat_destroy,      flat_reserve_api,
    flat_add,    flat_remove,    flat_get,          flat_count,
    flat_memory, flat_search,    flat_search_batch, flat_range_search,
    flat_check,  flat_serialize, flat_open,         flat_each,
    flat_train,  flat_code_size, flat_settle,       NULL,
    flat_score,
};
