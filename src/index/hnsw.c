/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hnsw.c - hierarchical navigable small world graph index.
 *
 * The algorithm is Malkov & Yashunin's (TPAMI 2018): nodes get a random
 * level with P(level >= l) = M^-l; each level is a proximity graph whose
 * links are chosen by the "heuristic" (a candidate is linked only if it is
 * closer to the new node than to every neighbour already chosen), and a
 * search descends greedily through the upper levels and then runs a beam
 * search of width ef on level 0. Where this code differs from the paper
 * and from hnswlib, and why:
 *
 * 1. Level from (seed, id). A node's level is a hash of the seed and its
 *    id, not a draw from a shared generator, so a single-threaded build is
 *    reproducible whatever else happens, and parallel builds need no
 *    shared random state.
 *
 * 2. A sorted beam instead of two heaps. The paper keeps a min-heap of
 *    candidates and a max-heap of results. Here one array of at most ef
 *    entries, sorted by distance, with an "expanded" bit per entry, is both
 *    (as in DiskANN's search): the next node to expand is the first
 *    unexpanded entry, and a new node enters by binary search and a short
 *    memmove. It is bounded (no growth, no allocation), keeps everything in
 *    one or two cache lines' reach, and drops candidates that can no longer
 *    matter, which the unbounded candidate heap keeps.
 *
 * 3. Level-0 slots. Each node's level-0 data sits in one fixed-size slot:
 *    the vector first (64-byte aligned, so SIMD loads never split a line
 *    at its start), then one float of per-vector data (1/|x| for cosine,
 *    so cosine costs one dot product and the stored vector stays the
 *    user's), then the link count and up to 2M neighbour slots. Expanding
 *    a node reads its links and the neighbours' vectors from these slots;
 *    there are no pointers to chase. Upper levels, which only ~1/M of the
 *    nodes have, live in one separate arena addressed by offset, so the
 *    whole index is a few flat arrays (which is what makes it
 *    serialisable without pointer fix-ups).
 *
 * 4. Two-phase expansion, four distances at a time, prefetch. Expanding a
 *    node first walks its links, marks the unvisited ones, fetches the
 *    whole vectors of the first PREFETCH_AHEAD and the first line of the
 *    rest; then distances are computed four at a time (the x4 kernels
 *    share one horizontal reduction and put four independent misses in
 *    flight), each group fetching the vectors of the next PREFETCH_AHEAD
 *    neighbours. A neighbour that enters the beam may be expanded soon, so
 *    its link lines are fetched at that moment. Measured on glove-100
 *    (M 16, ef 48, one thread): the link prefetch on entry gave +30% QPS,
 *    whole-vector prefetch of the first group another +10%, grouping by
 *    four and fetching two groups ahead a few % more; fetching one
 *    neighbour ahead instead of two lost ~15%.
 *
 * 5. Generation-stamped visited table: a uint16 per slot per search
 *    context; a search bumps the generation instead of clearing, and clears
 *    only when the counter wraps (every 65535 searches).
 *
 * 6. No stranded nodes. Pruning can leave a node with no in-links, which
 *    no search can then reach (hnswlib loses ~0.1-0.3% of nodes so, and
 *    with them the last points of recall). connect_unreachable() walks
 *    level 0 from the entry point and links every live node it did not
 *    reach from a reachable one without cutting any other path, so that
 *    afterwards every live node is reachable. An add runs it only after
 *    every n/64 (at least 256) nodes added, since the walk is O(n M);
 *    so whatever must hold it runs it when nodes were added since
 *    (hnsw_settle): a repair, a serialisation (every graph written has
 *    every live node reachable), vex_index_check (which reports a live
 *    node that is not as VEX_CORRUPT) and the settle method, which a
 *    memtable calls after each run of adds.
 *
 * Concurrency. One rwlock guards the arrays' shape: adding vectors takes
 * it exclusively only to grow arrays and claim slots, then shared while
 * linking; searches take it shared. Links are changed under striped
 * per-node mutexes; readers take no node lock. Every link word and count
 * is read with acquire and written with release atomics (plain moves on
 * x86), so a reader always sees a node's vector before it can reach the
 * node through a link, and sees each link word whole. A reader may see a
 * list in the middle of a rewrite; every word is still a valid slot, so
 * at worst it explores a slightly different neighbour set. Rejected: a
 * per-node rwlock (hnswlib's approach is a mutex per node too, but readers
 * locking costs ~10% of search time for no correctness gain here).
 *
 * Quantized (cfg.quant). The graph is built on the full vectors
 * (links as good as unquantized), and each slot also has a code
 * (index/qcodes.h, a separate array indexed by slot). A k-NN search of a
 * trained index descends and runs its beam on code distances from the
 * context's distance computer, with a beam of at least ceil(refine * k),
 * then takes the beam's first ceil(refine * k) live, accepted nodes,
 * computes their full-precision distances and returns the k nearest by
 * those. Range searches stay on full vectors. An index opened from a
 * blob keeps its vectors apart from the level-0 slots (hnsw_layout), so
 * a walk on codes reads only link blocks and codes; an index built in
 * memory keeps them in the slots until it is trained (hnsw_go_apart).
 *
 * Deletes. Removing an id marks its slot deleted: searches still walk
 * through it (it keeps the graph connected) but never return it. When the
 * deleted share passes HNSW_REPAIR_SHARE, the graph is repaired: every
 * live node that links to a deleted node keeps its live links and fills
 * the freed places from the live nodes one hop behind its deleted ones
 * (nearest first, admitted by the heuristic, see repair_node(); further
 * through deleted nodes only when that finds none, so no live node is
 * left without links), the entry
 * point moves to a live node if needed, the deleted slots go to a free
 * list for reuse, and a reachability pass relinks any node the repair
 * stranded. See hnsw_repair().
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"
#include "index/qcodes.h"
#include "simd/simd.h"
#include "util/check.h"
#include "util/idmap.h"
#include "util/rng.h"

#define HNSW_MAX_LEVEL    24
#define HNSW_STRIPES      4096 /* node lock stripes */
#define HNSW_SERIAL_START 1024 /* nodes linked one by one before going wide */
#define HNSW_TASK         64   /* vectors per parallel build task */
#define HNSW_REPAIR_SHARE 0.10 /* repair when this share is deleted */
#define HNSW_CONNECT_MIN                                                       \
    256 /* adds this large end with a reachability pass                        \
         */
#define PREFETCH_AHEAD 8
#define EXPANDED       0x80000000u /* beam entry flag, in the slot word */
#define NO_EP          UINT64_MAX

typedef struct cand {
    float d;
    uint32_t slot; /* high bit: expanded (beam only) */
} cand;

/* The sorted beam (see 2. above). `keep` and `cut` prune a search whose
 * caller already holds results (a collection searching its sources one
 * after another): once the beam holds `keep` entries, a newcomer must
 * also be nearer than the larger of `cut` and the keep-th entry, and
 * entries past both are not expanded. The first `keep` entries are never
 * pruned, so the walk can always cross far nodes toward near ones; what
 * is pruned could not enter the caller's results. keep UINT32_MAX: off. */
typedef struct beam {
    cand *a;
    uint32_t n, cap, cur, keep;
    float cut;
} beam;

typedef struct hnsw_ctx {
    struct hnsw_ctx *next;
    uint16_t *visited;
    size_t visited_cap;
    uint16_t gen;
    cand *beam;   /* cap beam_cap */
    cand *sel;    /* selection scratch, cap M0 + 2 */
    cand *pool2;  /* second candidate list (repair, pruning), cap sel_cap */
    uint32_t *nb; /* neighbour scratch, cap M0 + 1 */
    vq_dc *dc;    /* quantized: distance computer on codes */
    size_t beam_cap, sel_cap;
    size_t bytes;
    /* the walk's work since the search began (vex_search_opts.work) */
    uint64_t n_visit, n_dist;
} hnsw_ctx;

typedef struct hnsw {
    const vex_mem *mem;
    vex_pool *pool;
    vex_index_config cfg;
    uint32_t M, M0, efc, efs;
    double level_mult;
    uint64_t seed;
    /* aux_off: of the aux float from the vector's start (vec_ptr), in
     * the slot or in the vector row; vec_stride: bytes per row of vecs */
    size_t slot_bytes, aux_off, links_off, vec_stride;

    pthread_rwlock_t lock;
    pthread_mutex_t stripes[HNSW_STRIPES];
    pthread_mutex_t ep_lock;
    _Atomic uint64_t ep; /* (level << 32) | slot, or NO_EP */

    unsigned char *slots; /* cap * slot_bytes */
    /* The apart layout (hnsw_layout) of a trained quantized index: the
     * full vectors in cap rows of vec_stride bytes (the vector, then its
     * aux float), apart from the slots (which then hold the link block
     * only), so that a walk on the codes never touches them and only
     * reranks do: a mapped segment keeps them on disk. Until trained, an
     * index built here keeps the vector in the slot next to its links (a
     * build walks full vectors and reads both together: BENCHMARKS.md,
     * "Quantization", build times); training moves them apart
     * (hnsw_go_apart). A quantized blob is always written apart, and
     * opened apart. */
    int apart;
    unsigned char *vecs; /* NULL unless apart */
    uint64_t *ids;
    uint8_t *levels;
    uint8_t *deleted; /* 1 = deleted, awaiting repair; 2 = free */
    uint64_t *upper_off;
    uint32_t *upper; /* arena of upper-level link blocks */
    uint64_t upper_len, upper_cap;
    uint32_t n, cap; /* slots in use (incl. deleted), allocated */
    uint32_t n_deleted, n_free;
    uint32_t linking; /* adds between claim and link; blocks repair */
    /* nodes linked since the last connect_unreachable pass */
    _Atomic uint64_t since_connect;
    uint32_t *free_slots; /* cap n_free_cap */
    uint32_t free_cap;
    vex_idmap map;

    pthread_mutex_t ctx_lock;
    hnsw_ctx *free_ctx;
    uint64_t ctx_bytes;
    int borrowed;   /* arrays point into a caller's blob (vex_index_open_buffer)
                     */
    vex_qcodes *qc; /* NULL unless quantized */
    /* the blob it was opened from in place (else NULL) and the end of its
     * last section: only for the offsets in hnsw_verify_loaded's messages */
    const unsigned char *blob_base;
    uint64_t blob_size;
} hnsw;

/* ---------------------------------------------------------------------
 * Slots, links, distances
 * ------------------------------------------------------------------- */

static inline unsigned char *slot_ptr(const hnsw *h, uint32_t s)
{
    return h->slots + (size_t)s * h->slot_bytes;
}

/* The stored vector of slot s: in the slot, or apart (quantized). */
static inline unsigned char *vec_ptr(const hnsw *h, uint32_t s)
{
    if (h->apart)
        return h->vecs + (size_t)s * h->vec_stride;
    return slot_ptr(h, s);
}

static inline float slot_aux(const hnsw *h, uint32_t s)
{
    float a;
    memcpy(&a, vec_ptr(h, s) + h->aux_off, sizeof a); /* slot or row */
    return a;
}

/* Link block of slot s at level l: word 0 is the count, then the links. */
static inline uint32_t *links_of(const hnsw *h, uint32_t s, unsigned l)
{
    if (l == 0)
        return (uint32_t *)(slot_ptr(h, s) + h->links_off);
    return h->upper + h->upper_off[s] + (size_t)(l - 1) * (h->M + 1);
}

static inline uint32_t ld(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void st(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint32_t max_links(const hnsw *h, unsigned l)
{
    return l == 0 ? h->M0 : h->M;
}

static inline float cos_from_dot(float dot, float qa, float xa)
{
    float d = 1.0f - dot * (qa * xa);
    return d < 0.0f ? 0.0f : d;
}

/* Distance from a query (with its precomputed aux) to a stored vector. */
static inline float dist_q(const hnsw *h, const vex_simd_table *s,
                           const void *q, float qaux, uint32_t slot)
{
    const unsigned char *x = vec_ptr(h, slot);
    switch (h->cfg.metric) {
    case VEX_METRIC_L2:
        return s->l2sq_f32(q, (const float *)x, h->cfg.dim);
    case VEX_METRIC_IP:
        return -s->dot_f32(q, (const float *)x, h->cfg.dim);
    case VEX_METRIC_COSINE:
        return cos_from_dot(s->dot_f32(q, (const float *)x, h->cfg.dim), qaux,
                            slot_aux(h, slot));
    case VEX_METRIC_HAMMING:
        return (float)s->hamming(q, x, h->cfg.vec_bytes);
    case VEX_METRIC_JACCARD:
        return s->jaccard(q, x, h->cfg.vec_bytes);
    }
    return 0.0f;
}

static inline float query_aux(const hnsw *h, const vex_simd_table *s,
                              const void *q)
{
    if (h->cfg.metric == VEX_METRIC_COSINE)
        return 1.0f / sqrtf(s->norm2_f32(q, h->cfg.dim));
    return 0.0f;
}

/* Distance between two stored vectors. */
static inline float dist_nodes(const hnsw *h, const vex_simd_table *s,
                               uint32_t a, uint32_t b)
{
    return dist_q(h, s, vec_ptr(h, a), slot_aux(h, a), b);
}

/* The lines of a stored vector and its aux (lines = those of aux_off +
 * 4 bytes; a row of vecs need not start on a line: its last byte too). */
static inline void prefetch_vec(const hnsw *h, uint32_t slot, size_t lines)
{
    const char *p = (const char *)vec_ptr(h, slot);
    size_t i;
    for (i = 0; i < lines; i++)
        __builtin_prefetch(p + 64 * i, 0, 3);
    if (h->apart)
        __builtin_prefetch(p + h->vec_stride - 1, 0, 3);
}

/* The lines of the link block of slot s at level l (a packed slot starts
 * anywhere in a line: its first and last bytes and every 64 between). */
static inline void prefetch_links(const hnsw *h, uint32_t s, unsigned l)
{
    const char *lp = (const char *)links_of(h, s, l);
    size_t o, lb = (1 + (size_t)max_links(h, l)) * 4;
    for (o = 0; o < lb; o += 64)
        __builtin_prefetch(lp + o, 0, 3);
    __builtin_prefetch(lp + lb - 1, 0, 3);
}

/* ---------------------------------------------------------------------
 * The beam
 * ------------------------------------------------------------------- */

static inline void beam_init(beam *b, cand *store, uint32_t cap)
{
    b->a = store;
    b->n = 0;
    b->cap = cap;
    b->cur = 0;
    b->keep = UINT32_MAX;
    b->cut = INFINITY;
}

/* The distance beyond which the beam's cut prunes (see beam). */
static inline float beam_cut(const beam *b)
{
    float kth = b->a[b->keep - 1].d;
    return kth > b->cut ? kth : b->cut;
}

/* Worst distance a newcomer must beat, INFINITY while not full. */
static inline float beam_bound(const beam *b)
{
    float w = b->n < b->cap ? INFINITY : b->a[b->n - 1].d;
    if (b->n >= b->keep) {
        float c = beam_cut(b);
        if (c < w)
            w = c;
    }
    return w;
}

static inline void beam_insert(beam *b, float d, uint32_t slot)
{
    uint32_t lo = 0, hi = b->n, pos;
    if (b->n == b->cap) {
        if (d >= b->a[b->n - 1].d)
            return;
        b->n--; /* the worst falls off */
        hi = b->n;
    }
    while (lo < hi) { /* first entry with a larger distance */
        uint32_t mid = (lo + hi) >> 1;
        if (b->a[mid].d <= d)
            lo = mid + 1;
        else
            hi = mid;
    }
    pos = lo;
    memmove(&b->a[pos + 1], &b->a[pos], (b->n - pos) * sizeof(cand));
    b->a[pos].d = d;
    b->a[pos].slot = slot;
    b->n++;
    if (pos < b->cur)
        b->cur = pos;
}

/* Next unexpanded entry (marked expanded), or -1. */
static inline int64_t beam_next(beam *b)
{
    while (b->cur < b->n && (b->a[b->cur].slot & EXPANDED))
        b->cur++;
    if (b->cur == b->n)
        return -1;
    if (b->cur >= b->keep && b->a[b->cur].d > beam_cut(b))
        return -1; /* sorted: every later entry is past the cut too */
    b->a[b->cur].slot |= EXPANDED;
    return b->a[b->cur].slot & ~EXPANDED;
}

/* ---------------------------------------------------------------------
 * Search contexts
 * ------------------------------------------------------------------- */

static void hnsw_ctx_free(const vex_mem *m, hnsw_ctx *c)
{
    if (c == NULL)
        return;
    vx_mem_free(m, c->visited);
    vx_mem_free(m, c->beam);
    vx_mem_free(m, c->sel);
    vx_mem_free(m, c->pool2);
    vx_mem_free(m, c->nb);
    vx_vq_dc_destroy(c->dc);
    vx_mem_free(m, c);
}

static int ctx_fit(hnsw *h, hnsw_ctx *c, size_t beam_cap)
{
    size_t sel_cap = 2 * (size_t)h->M0 + 2, before = c->bytes;
    if (c->visited_cap < h->cap) {
        uint16_t *v = vx_mem_calloc(h->mem, h->cap, sizeof *v);
        if (v == NULL)
            return VEX_NOMEM;
        vx_mem_free(h->mem, c->visited);
        c->bytes += (h->cap - c->visited_cap) * sizeof *v;
        c->visited = v;
        c->visited_cap = h->cap;
        c->gen = 0;
    }
    if (c->beam_cap < beam_cap) {
        cand *b = vx_mem_alloc(h->mem, beam_cap * sizeof *b);
        if (b == NULL)
            return VEX_NOMEM;
        vx_mem_free(h->mem, c->beam);
        c->bytes += (beam_cap - c->beam_cap) * sizeof *b;
        c->beam = b;
        c->beam_cap = beam_cap;
    }
    if (c->sel_cap < sel_cap) {
        cand *s = vx_mem_alloc(h->mem, sel_cap * sizeof *s);
        cand *p = vx_mem_alloc(h->mem, sel_cap * sizeof *p);
        uint32_t *nb = vx_mem_alloc(h->mem, sel_cap * sizeof *nb);
        if (s == NULL || p == NULL || nb == NULL) {
            vx_mem_free(h->mem, s);
            vx_mem_free(h->mem, p);
            vx_mem_free(h->mem, nb);
            return VEX_NOMEM;
        }
        vx_mem_free(h->mem, c->sel);
        vx_mem_free(h->mem, c->pool2);
        vx_mem_free(h->mem, c->nb);
        c->bytes += (sel_cap - c->sel_cap) * (2 * sizeof(cand) + 4);
        c->sel = s;
        c->pool2 = p;
        c->nb = nb;
        c->sel_cap = sel_cap;
    }
    pthread_mutex_lock(&h->ctx_lock);
    h->ctx_bytes += c->bytes - before;
    pthread_mutex_unlock(&h->ctx_lock);
    return VEX_OK;
}

/* Borrow `count` contexts able to run beams of beam_cap. Caller holds the
 * rwlock (shared or exclusive), so h->cap is stable. */
static int hnsw_ctx_acquire(hnsw *h, unsigned count, size_t beam_cap,
                            hnsw_ctx **out)
{
    unsigned i;
    int rc = VEX_OK;
    pthread_mutex_lock(&h->ctx_lock);
    for (i = 0; i < count; i++) {
        out[i] = h->free_ctx;
        if (out[i])
            h->free_ctx = out[i]->next;
    }
    pthread_mutex_unlock(&h->ctx_lock);
    for (i = 0; i < count && rc == VEX_OK; i++) {
        if (out[i] == NULL) {
            out[i] = vx_mem_calloc(h->mem, 1, sizeof(hnsw_ctx));
            if (out[i] == NULL) {
                rc = VEX_NOMEM;
                break;
            }
            out[i]->bytes = sizeof(hnsw_ctx);
            pthread_mutex_lock(&h->ctx_lock);
            h->ctx_bytes += sizeof(hnsw_ctx);
            pthread_mutex_unlock(&h->ctx_lock);
        }
        rc = ctx_fit(h, out[i], beam_cap);
    }
    if (rc != VEX_OK) {
        pthread_mutex_lock(&h->ctx_lock);
        for (i = 0; i < count; i++) {
            if (out[i]) {
                out[i]->next = h->free_ctx;
                h->free_ctx = out[i];
                out[i] = NULL;
            }
        }
        pthread_mutex_unlock(&h->ctx_lock);
    }
    return rc;
}

static void hnsw_ctx_release(hnsw *h, unsigned count, hnsw_ctx **ctx)
{
    unsigned i;
    pthread_mutex_lock(&h->ctx_lock);
    for (i = 0; i < count; i++) {
        ctx[i]->next = h->free_ctx;
        h->free_ctx = ctx[i];
    }
    pthread_mutex_unlock(&h->ctx_lock);
}

static inline uint16_t ctx_new_visit(hnsw_ctx *c)
{
    if (++c->gen == 0) {
        memset(c->visited, 0, c->visited_cap * sizeof *c->visited);
        c->gen = 1;
    }
    return c->gen;
}

/* ---------------------------------------------------------------------
 * Graph search
 * ------------------------------------------------------------------- */

/* Greedy descent on level l from *cur (distance *curd). */
static void greedy(const hnsw *h, const vex_simd_table *s, const void *q,
                   float qaux, unsigned l, uint32_t *cur, float *curd)
{
    int changed = 1;
    while (changed) {
        const uint32_t *lk = links_of(h, *cur, l);
        uint32_t cnt = ld(lk), i;
        changed = 0;
        for (i = 0; i < cnt; i++) {
            uint32_t nb = ld(&lk[1 + i]);
            float d = dist_q(h, s, q, qaux, nb);
            if (d < *curd) {
                *curd = d;
                *cur = nb;
                changed = 1;
            }
        }
    }
}

/* Beam search on level l; the beam arrives seeded with entry points (they
 * must be marked visited by the caller) and leaves holding the nearest
 * nodes found, sorted. */
static void search_level(const hnsw *h, const vex_simd_table *s, hnsw_ctx *c,
                         uint16_t gen, const void *q, float qaux, unsigned l,
                         beam *b)
{
    const size_t lines = (h->aux_off + sizeof(float) + 63) / 64;
    const int f32 = h->cfg.elem == VEX_ELEM_F32;
    void (*x4)(const float *, const float *const *, size_t, float *) =
        h->cfg.metric == VEX_METRIC_L2 ? s->l2sq_f32_x4 : s->dot_f32_x4;
    uint32_t *nb = c->nb;
    int64_t cur;
    while ((cur = beam_next(b)) >= 0) {
        const uint32_t *lk = links_of(h, (uint32_t)cur, l);
        uint32_t cnt = ld(lk), i, m = 0;
        c->n_visit++;
        /* pass 1: unvisited neighbours; the first group's vectors are
         * fetched whole, the others' first lines */
        for (i = 0; i < cnt; i++) {
            uint32_t x = ld(&lk[1 + i]);
            if (c->visited[x] == gen)
                continue;
            c->visited[x] = gen;
            if (m < PREFETCH_AHEAD)
                prefetch_vec(h, x, lines);
            else
                __builtin_prefetch(vec_ptr(h, x), 0, 3);
            nb[m++] = x;
        }
        c->n_dist += m;
        /* pass 2: distances four at a time, fetching the next group */
        for (i = 0; i < m; i += 4) {
            uint32_t g = m - i < 4 ? m - i : 4, j;
            float d4[4];
            for (j = i + 4; j < i + 4 + PREFETCH_AHEAD && j < m; j++)
                prefetch_vec(h, nb[j], lines);
            if (f32) {
                const float *xp[4];
                for (j = 0; j < 4; j++)
                    xp[j] =
                        (const float *)vec_ptr(h, nb[i + (j < g ? j : g - 1)]);
                x4(q, xp, h->cfg.dim, d4);
                for (j = 0; j < g; j++) {
                    if (h->cfg.metric == VEX_METRIC_IP)
                        d4[j] = -d4[j];
                    else if (h->cfg.metric == VEX_METRIC_COSINE)
                        d4[j] =
                            cos_from_dot(d4[j], qaux, slot_aux(h, nb[i + j]));
                }
            } else {
                for (j = 0; j < g; j++)
                    d4[j] = dist_q(h, s, q, qaux, nb[i + j]);
            }
            for (j = 0; j < g; j++) {
                if (d4[j] < beam_bound(b)) {
                    /* it may be expanded soon: fetch its link lines now */
                    prefetch_links(h, nb[i + j], l);
                    beam_insert(b, d4[j], nb[i + j]);
                }
            }
        }
    }
}

/* Entry point for a search: descend greedily to level `stop` + 1 ... and
 * return the entry slot for level `stop`. */
static uint32_t descend(const hnsw *h, const vex_simd_table *s, const void *q,
                        float qaux, uint64_t ep, unsigned stop, float *d_out)
{
    uint32_t cur = (uint32_t)ep;
    unsigned top = (unsigned)(ep >> 32), l;
    float d = dist_q(h, s, q, qaux, cur);
    for (l = top; l > stop; l--)
        greedy(h, s, q, qaux, l, &cur, &d);
    *d_out = d;
    return cur;
}

/* ---------------------------------------------------------------------
 * Linking
 * ------------------------------------------------------------------- */

/* The heuristic of the paper (Algorithm 4 without extension): walk the
 * candidates nearest first and keep one only if it is nearer to the base
 * than to every one kept so far. Fewer candidates than `max` are all
 * kept, as in hnswlib: pruning a short list only loses links. Candidates
 * must be sorted by distance to the base; output goes to `out`. */
static uint32_t select_heuristic(const hnsw *h, const vex_simd_table *s,
                                 const cand *cands, uint32_t n, uint32_t max,
                                 cand *out)
{
    uint32_t i, k = 0;
    if (n <= max) {
        memcpy(out, cands, n * sizeof *cands);
        return n;
    }
    for (i = 0; i < n && k < max; i++) {
        uint32_t e = cands[i].slot & ~EXPANDED, j;
        int good = 1;
        for (j = 0; j < k; j++) {
            if (dist_nodes(h, s, e, out[j].slot) < cands[i].d) {
                good = 0;
                break;
            }
        }
        if (good) {
            out[k].d = cands[i].d;
            out[k].slot = e;
            k++;
        }
    }
    return k;
}

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static inline pthread_mutex_t *stripe(hnsw *h, uint32_t slot)
{
    return &h->stripes[slot & (HNSW_STRIPES - 1)];
}

/* Write a link list (count last, so readers never see a count beyond the
 * written words). Caller holds the node's stripe. */
static void write_links(uint32_t *lk, const cand *sel, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++)
        st(&lk[1 + i], sel[i].slot);
    st(&lk[0], n);
}

/* Add `from` to the level-l links of `to`, pruning with the heuristic when
 * the list is full. Returns whether `from` is in the list afterwards. */
static int link_back(hnsw *h, const vex_simd_table *s, hnsw_ctx *c, uint32_t to,
                     uint32_t from, float d, unsigned l)
{
    uint32_t *lk, cnt, i, max = max_links(h, l), k;
    int kept = 1;
    pthread_mutex_lock(stripe(h, to));
    lk = links_of(h, to, l);
    cnt = ld(lk);
    for (i = 0; i < cnt; i++)
        if (ld(&lk[1 + i]) == from)
            goto out;
    if (cnt < max) {
        st(&lk[1 + cnt], from);
        st(&lk[0], cnt + 1);
        goto out;
    }
    for (i = 0; i < cnt; i++) {
        c->pool2[i].slot = ld(&lk[1 + i]);
        c->pool2[i].d = dist_nodes(h, s, to, c->pool2[i].slot);
    }
    c->pool2[cnt].slot = from;
    c->pool2[cnt].d = d;
    qsort(c->pool2, cnt + 1, sizeof(cand), cand_cmp);
    k = select_heuristic(h, s, c->pool2, cnt + 1, max, c->sel);
    for (i = 0, kept = 0; i < k && !kept; i++)
        kept = c->sel[i].slot == from;
    write_links(lk, c->sel, k);
out:
    pthread_mutex_unlock(stripe(h, to));
    return kept;
}

/* Link one claimed slot into the graph. Caller holds the rwlock shared.
 *
 * Two passes, so that a search running beside the insert never walks
 * into the new node before it has its links: first, top down, each level's
 * neighbours are chosen and written into the node's own lists (nothing
 * points to the node yet, so no search can reach it); then the neighbours
 * link back to it, level 0 first. A search that reaches the node through
 * any link-back finds its lists on every level complete. (Writing each
 * level's link-backs right after its own list, as before, let a search
 * descend onto the node at an upper level while its level-0 list was still
 * empty: that search returned the new node alone.) Single-threaded, the
 * graph is the same either way: a level's search reads only that level's
 * lists, which the link-backs of the levels above do not touch. */
static void insert_slot(hnsw *h, const vex_simd_table *s, hnsw_ctx *c,
                        uint32_t slot)
{
    const void *q = vec_ptr(h, slot);
    float qaux = slot_aux(h, slot), d;
    unsigned level = h->levels[slot], top, l;
    uint64_t ep = atomic_load(&h->ep);
    uint32_t cur;
    beam b;

    if (ep == NO_EP) {
        pthread_mutex_lock(&h->ep_lock);
        ep = atomic_load(&h->ep);
        if (ep == NO_EP) {
            atomic_store(&h->ep, ((uint64_t)level << 32) | slot);
            pthread_mutex_unlock(&h->ep_lock);
            return;
        }
        pthread_mutex_unlock(&h->ep_lock);
    }
    top = (unsigned)(ep >> 32);
    cur = descend(h, s, q, qaux, ep, level < top ? level : top, &d);
    for (l = level < top ? level : top;; l--) {
        uint16_t gen = ctx_new_visit(c);
        uint32_t k, i;
        beam_init(&b, c->beam, h->efc);
        c->visited[cur] = gen;
        c->visited[slot] = gen; /* never link to itself */
        beam_insert(&b, d, cur);
        search_level(h, s, c, gen, q, qaux, l, &b);
        for (i = 0; i < b.n; i++)
            b.a[i].slot &= ~EXPANDED;
        k = select_heuristic(h, s, b.a, b.n, max_links(h, l), c->sel);
        pthread_mutex_lock(stripe(h, slot));
        write_links(links_of(h, slot, l), c->sel, k);
        pthread_mutex_unlock(stripe(h, slot));
        /* next level down starts from the nearest found here */
        cur = b.a[0].slot;
        d = b.a[0].d;
        if (l == 0)
            break;
    }
    /* second pass: the neighbours link back, level 0 first. The node's
     * lists are read back under its stripe (link_back reuses c->sel); only
     * this insert has written them, as nothing could reach the node. */
    for (l = 0; l <= (level < top ? level : top); l++) {
        uint32_t *lk, k, i;
        pthread_mutex_lock(stripe(h, slot));
        lk = links_of(h, slot, l);
        k = ld(lk);
        for (i = 0; i < k; i++)
            c->nb[i] = ld(&lk[1 + i]);
        pthread_mutex_unlock(stripe(h, slot));
        for (i = 0; i < k; i++)
            link_back(h, s, c, c->nb[i], slot, dist_nodes(h, s, slot, c->nb[i]),
                      l);
    }
    if (level > top) {
        pthread_mutex_lock(&h->ep_lock);
        ep = atomic_load(&h->ep);
        if (level > (unsigned)(ep >> 32))
            atomic_store(&h->ep, ((uint64_t)level << 32) | slot);
        pthread_mutex_unlock(&h->ep_lock);
    }
}

/* ---------------------------------------------------------------------
 * Life cycle, growth, slot claims
 * ------------------------------------------------------------------- */

static void hnsw_destroy(void *ix);

/* Bytes of a packed slot of the apart layout: the level-0 link block. */
static inline size_t packed_slot_bytes(const hnsw *h)
{
    return (1 + (size_t)h->M0) * 4;
}

/* Slot layout (see vecs). Link words are read and written atomically:
 * keep them 4-aligned when a bit vector's size is not a multiple of 4. */
static void hnsw_layout(hnsw *h, int apart)
{
    h->apart = apart;
    if (apart) {
        /* each row of vecs the vector and its aux (a walk on full vectors
         * reads both together); a slot the link block alone, packed (a
         * walk on codes reads links and codes, nothing else). Only float
         * vectors are quantized: vec_bytes is a multiple of 4. */
        h->aux_off = h->cfg.vec_bytes;
        h->vec_stride = h->cfg.vec_bytes + sizeof(float);
        h->links_off = 0;
        h->slot_bytes = packed_slot_bytes(h);
    } else {
        h->aux_off = (h->cfg.vec_bytes + 3) / 4 * 4;
        h->vec_stride = 0;
        h->links_off = h->aux_off + sizeof(float);
        h->slot_bytes = (h->links_off + packed_slot_bytes(h) + 63) / 64 * 64;
    }
}

static int hnsw_create(const vex_mem *mem, vex_pool *pool, vex_err *err,
                       const vex_index_config *cfg, void **out)
{
    hnsw *h = vx_mem_calloc(mem, 1, sizeof *h);
    pthread_rwlockattr_t attr;
    size_t i;
    if (h == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory creating index");
    h->mem = mem;
    h->pool = pool;
    h->cfg = *cfg;
    h->M = cfg->hnsw_m;
    h->M0 = 2 * cfg->hnsw_m;
    h->efc = cfg->hnsw_ef_construction;
    h->efs = cfg->hnsw_ef_search;
    h->seed = cfg->hnsw_seed;
    h->level_mult = 1.0 / log((double)h->M);
    hnsw_layout(h, 0);
    /* writers first: a steady stream of searches must not starve an add */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    for (i = 0; i < HNSW_STRIPES; i++)
        pthread_mutex_init(&h->stripes[i], NULL);
    pthread_mutex_init(&h->ep_lock, NULL);
    pthread_mutex_init(&h->ctx_lock, NULL);
    atomic_init(&h->ep, NO_EP);
    atomic_init(&h->since_connect, 0);
    vx_idmap_init(&h->map, mem);
    *out = h;
    if (cfg->quant) {
        int rc = vx_qc_create(mem, err, cfg, &h->qc);
        if (rc != VEX_OK) {
            hnsw_destroy(h);
            *out = NULL;
            return rc;
        }
    }
    return VEX_OK;
}

static void hnsw_destroy(void *ix)
{
    hnsw *h = ix;
    hnsw_ctx *c, *next;
    size_t i;
    if (h == NULL)
        return;
    for (c = h->free_ctx; c; c = next) {
        next = c->next;
        hnsw_ctx_free(h->mem, c);
    }
    vx_idmap_destroy(&h->map);
    if (!h->borrowed) {
        vx_mem_free_aligned(h->mem, h->slots);
        vx_mem_free_aligned(h->mem, h->vecs);
        vx_mem_free(h->mem, h->ids);
        vx_mem_free(h->mem, h->levels);
        vx_mem_free(h->mem, h->deleted);
        vx_mem_free(h->mem, h->upper_off);
        vx_mem_free(h->mem, h->upper);
    }
    vx_mem_free(h->mem, h->free_slots);
    vx_qc_destroy(h->qc);
    for (i = 0; i < HNSW_STRIPES; i++)
        pthread_mutex_destroy(&h->stripes[i]);
    pthread_mutex_destroy(&h->ep_lock);
    pthread_mutex_destroy(&h->ctx_lock);
    pthread_rwlock_destroy(&h->lock);
    vx_mem_free(h->mem, h);
}

/* Copy a borrowed index's arrays into memory of our own, so that it can
 * change (copy on first write). Exclusive lock held. */
static int hnsw_thaw(hnsw *h)
{
    unsigned char *slots = NULL, *vecs = NULL;
    uint64_t *ids = NULL, *upper_off = NULL;
    uint8_t *levels = NULL, *deleted = NULL;
    uint32_t *upper = NULL;
    size_t n = h->n ? h->n : 1, words = h->upper_len ? h->upper_len : 1;
    if (!h->borrowed)
        return VEX_OK;
    slots = vx_mem_alloc_aligned(h->mem, n * h->slot_bytes, 64);
    ids = vx_mem_alloc(h->mem, n * sizeof *ids);
    upper_off = vx_mem_alloc(h->mem, n * sizeof *upper_off);
    levels = vx_mem_alloc(h->mem, n);
    deleted = vx_mem_alloc(h->mem, n);
    upper = vx_mem_alloc(h->mem, words * sizeof *upper);
    if (h->apart)
        vecs = vx_mem_alloc_aligned(h->mem, n * h->vec_stride, 64);
    if (!slots || !ids || !upper_off || !levels || !deleted || !upper ||
        (h->apart && !vecs)) {
        vx_mem_free_aligned(h->mem, slots);
        vx_mem_free_aligned(h->mem, vecs);
        vx_mem_free(h->mem, ids);
        vx_mem_free(h->mem, upper_off);
        vx_mem_free(h->mem, levels);
        vx_mem_free(h->mem, deleted);
        vx_mem_free(h->mem, upper);
        return VEX_NOMEM;
    }
    memcpy(slots, h->slots, (size_t)h->n * h->slot_bytes);
    if (vecs)
        memcpy(vecs, h->vecs, (size_t)h->n * h->vec_stride);
    memcpy(ids, h->ids, (size_t)h->n * sizeof *ids);
    memcpy(upper_off, h->upper_off, (size_t)h->n * sizeof *upper_off);
    memcpy(levels, h->levels, h->n);
    memcpy(deleted, h->deleted, h->n);
    memcpy(upper, h->upper, (size_t)h->upper_len * sizeof *upper);
    h->slots = slots;
    h->vecs = vecs;
    h->ids = ids;
    h->upper_off = upper_off;
    h->levels = levels;
    h->deleted = deleted;
    h->upper = upper;
    h->cap = (uint32_t)n;
    h->upper_cap = words;
    h->borrowed = 0;
    return VEX_OK;
}

/* Grow the per-slot arrays to hold `need` slots. All-or-nothing for the
 * slot array, which alone defines the capacity. Exclusive lock held. */
static int hnsw_grow(hnsw *h, uint64_t need)
{
    uint64_t cap = h->cap ? h->cap : 64;
    unsigned char *slots, *vecs = NULL;
    void *p;
    size_t bytes, vbytes = 0;
    if (h->borrowed && hnsw_thaw(h) != VEX_OK)
        return VEX_NOMEM;
    if (need <= h->cap)
        return VEX_OK;
    if (need > UINT32_MAX / 2)
        return VEX_FULL;
    /* geometric growth, but a bulk add gets exactly what it needs */
    cap = cap < (1u << 20) ? cap * 2 : cap + cap / 2;
    if (cap < need)
        cap = need;
    if (cap > UINT32_MAX / 2)
        cap = UINT32_MAX / 2;
    if (vex_mul_overflow((size_t)cap, h->slot_bytes, &bytes) ||
        (h->apart && vex_mul_overflow((size_t)cap, h->vec_stride, &vbytes)))
        return VEX_NOMEM;
#define GROW(field, type)                                                      \
    do {                                                                       \
        p = vx_mem_realloc(h->mem, h->field, (size_t)cap * sizeof(type));      \
        if (p == NULL)                                                         \
            return VEX_NOMEM;                                                  \
        h->field = p;                                                          \
    } while (0)
    GROW(ids, uint64_t);
    GROW(levels, uint8_t);
    GROW(deleted, uint8_t);
    GROW(upper_off, uint64_t);
    GROW(free_slots, uint32_t);
#undef GROW
    if (h->apart) {
        vecs = vx_mem_alloc_aligned(h->mem, vbytes, 64);
        if (vecs == NULL)
            return VEX_NOMEM;
    }
    slots = vx_mem_alloc_aligned(h->mem, bytes, 64);
    if (slots == NULL) {
        vx_mem_free_aligned(h->mem, vecs);
        return VEX_NOMEM;
    }
    if (h->n) {
        memcpy(slots, h->slots, (size_t)h->n * h->slot_bytes);
        if (vecs)
            memcpy(vecs, h->vecs, (size_t)h->n * h->vec_stride);
    }
    vx_mem_free_aligned(h->mem, h->slots);
    vx_mem_free_aligned(h->mem, h->vecs);
    h->slots = slots;
    h->vecs = vecs;
    h->cap = (uint32_t)cap;
    return VEX_OK;
}

static int hnsw_reserve(void *ix, uint64_t n, vex_err *err)
{
    hnsw *h = ix;
    int rc;
    pthread_rwlock_wrlock(&h->lock);
    rc = hnsw_grow(h, n);
    if (rc == VEX_OK)
        rc = vx_idmap_reserve(&h->map, (size_t)n);
    pthread_rwlock_unlock(&h->lock);
    if (rc != VEX_OK)
        rc = vx_err_set(err, rc, "cannot reserve %llu vectors: %s",
                        (unsigned long long)n, vex_errstr(rc));
    return rc;
}

/* Level of a node: a hash of (seed, id) made uniform, then the paper's
 * -ln(U) * mL. */
static unsigned level_for(const hnsw *h, uint64_t id)
{
    uint64_t x = h->seed ^ (id * 0x9e3779b97f4a7c15ULL);
    double u = (double)(vex_splitmix64(&x) >> 11) * (1.0 / 9007199254740992.0);
    double l = -log(u > 0 ? u : 1e-300) * h->level_mult;
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (unsigned)l;
}

/* Room for `words` more uint32 in the upper arena. Exclusive lock held. */
static int upper_reserve(hnsw *h, uint64_t words)
{
    uint64_t cap = h->upper_cap ? h->upper_cap : 1024;
    uint32_t *p;
    if (h->upper_len + words <= h->upper_cap)
        return VEX_OK;
    while (cap < h->upper_len + words)
        cap *= 2;
    if (cap > SIZE_MAX / sizeof(uint32_t))
        return VEX_NOMEM;
    p = vx_mem_realloc(h->mem, h->upper, (size_t)cap * sizeof(uint32_t));
    if (p == NULL)
        return VEX_NOMEM;
    h->upper = p;
    h->upper_cap = cap;
    return VEX_OK;
}

static void set_aux(hnsw *h, uint32_t slot)
{
    float a = 0.0f;
    if (h->cfg.metric == VEX_METRIC_COSINE)
        a = 1.0f / sqrtf(vx_simd()->norm2_f32((const float *)vec_ptr(h, slot),
                                              h->cfg.dim));
    memcpy(vec_ptr(h, slot) + h->aux_off, &a, sizeof a);
}

/* Claim slots for n vectors: check ids, grow, copy, give each its level
 * and empty link lists. All-or-nothing. Exclusive lock held. On success
 * the claimed slots are in out[0..n). */
static int claim_slots(hnsw *h, const uint64_t *ids, const void *vecs, size_t n,
                       uint32_t *out, vex_err *err)
{
    const unsigned char *src = vecs;
    uint64_t fresh, upper_words = 0, slot;
    unsigned char *codes = NULL;
    size_t i;
    int rc;

    fresh = n > h->n_free ? n - h->n_free : 0;
    rc = hnsw_grow(h, (uint64_t)h->n + fresh);
    if (rc == VEX_OK)
        rc = vx_idmap_reserve(&h->map, h->map.count + n);
    for (i = 0; i < n && rc == VEX_OK; i++)
        upper_words += (uint64_t)level_for(h, ids[i]) * (h->M + 1);
    if (rc == VEX_OK)
        rc = upper_reserve(h, upper_words);
    if (rc == VEX_OK && h->qc)
        rc = vx_qc_reserve(h->qc, (uint64_t)h->n + fresh, err);
    if (rc != VEX_OK)
        return vx_err_set(err, rc,
                          "cannot grow the index by %zu "
                          "vectors: %s",
                          n, vex_errstr(rc));
    /* ids: the map has room, so puts cannot fail; undo on a duplicate */
    for (i = 0; i < n; i++) {
        if (vx_idmap_get(&h->map, ids[i], &slot)) {
            size_t j;
            rc = slot >= UINT32_MAX
                     ? vx_err_set(err, VEX_EXISTS,
                                  "id %llu at position %zu repeats position "
                                  "%llu of the same call",
                                  (unsigned long long)ids[i], i,
                                  (unsigned long long)(slot - UINT32_MAX))
                     : vx_err_set(err, VEX_EXISTS,
                                  "id %llu at position %zu is already in "
                                  "the index",
                                  (unsigned long long)ids[i], i);
            for (j = 0; j < i; j++)
                vx_idmap_remove(&h->map, ids[j]);
            return rc;
        }
        /* provisional value marks "this call, position i" */
        vx_idmap_put(&h->map, ids[i], (uint64_t)UINT32_MAX + i);
    }
    /* codes before any slot is taken, so a failure changes nothing */
    if (h->qc && h->qc->trained) {
        size_t cb;
        if (vex_mul_overflow(n, h->qc->code_size, &cb) ||
            (codes = vx_mem_alloc(h->mem, cb ? cb : 1)) == NULL)
            rc = vx_err_set(err, VEX_NOMEM, "out of memory encoding");
        else
            rc = vx_vq_encode(h->qc->q, vecs, n, codes);
        if (rc != VEX_OK) {
            if (codes)
                vx_err_set(err, rc, "encoding: %s", vx_vq_errmsg(h->qc->q));
            vx_mem_free(h->mem, codes);
            for (i = 0; i < n; i++)
                vx_idmap_remove(&h->map, ids[i]);
            return rc;
        }
    }
    for (i = 0; i < n; i++) {
        uint32_t sl;
        unsigned level = level_for(h, ids[i]);
        if (h->n_free > 0) {
            sl = h->free_slots[--h->n_free];
        } else {
            sl = h->n++;
        }
        memcpy(vec_ptr(h, sl), src + i * h->cfg.vec_bytes, h->cfg.vec_bytes);
        set_aux(h, sl);
        if (codes)
            memcpy(h->qc->codes + (size_t)sl * h->qc->code_size,
                   codes + i * h->qc->code_size, h->qc->code_size);
        st(links_of(h, sl, 0), 0);
        h->ids[sl] = ids[i];
        h->deleted[sl] = 0;
        /* A reused slot gets a new upper block: the arena only grows (the
         * old block's words are lost until a rebuild; they are few, since
         * only ~1/M of the nodes have upper levels). */
        h->levels[sl] = (uint8_t)level;
        h->upper_off[sl] = h->upper_len;
        h->upper_len += (uint64_t)level * (h->M + 1);
        if (level > 0) /* the arena may not exist yet (NULL + 0 is UB) */
            memset(h->upper + h->upper_off[sl], 0,
                   (size_t)level * (h->M + 1) * sizeof(uint32_t));
        vx_idmap_put(&h->map, ids[i], sl);
        out[i] = sl;
    }
    vx_mem_free(h->mem, codes);
    return VEX_OK;
}

/* ---------------------------------------------------------------------
 * Adding: claim exclusively, link in parallel under the shared lock
 * ------------------------------------------------------------------- */

typedef struct link_job {
    hnsw *h;
    const vex_simd_table *s;
    hnsw_ctx **ctx;
    const uint32_t *slots;
    size_t first, n;
} link_job;

static void link_task(void *arg, size_t task, unsigned worker)
{
    link_job *j = arg;
    size_t i = j->first + task * HNSW_TASK;
    size_t end = i + HNSW_TASK < j->n ? i + HNSW_TASK : j->n;
    for (; i < end; i++)
        insert_slot(j->h, j->s, j->ctx[worker], j->slots[i]);
}

/* Grow the level-0 reachable set: mark and queue every node reachable
 * from queue[head..*tail) (already marked), through deleted nodes too, as
 * searches go. Each node is queued once, so the queue needs n entries. */
static void reach_grow(const hnsw *h, uint8_t *seen, uint32_t *queue,
                       uint32_t head, uint32_t *tail)
{
    while (head < *tail) {
        const uint32_t *lk = links_of(h, queue[head++], 0);
        uint32_t cnt = ld(lk), i;
        for (i = 0; i < cnt; i++) {
            uint32_t x = ld(&lk[1 + i]);
            if (!seen[x]) {
                seen[x] = 1;
                queue[(*tail)++] = x;
            }
        }
    }
}

/* The reachable node to link stranded node u from: its nearest reachable
 * out-neighbour (the link then becomes reciprocal), else the nearest node
 * a level-0 beam search for u's vector finds from the entry point (every
 * node it finds is reachable). Live nodes first, then tombstones (which
 * searches walk through); the entry point at worst. */
static uint32_t reach_anchor(const hnsw *h, const vex_simd_table *s,
                             hnsw_ctx *c, const uint8_t *seen, uint32_t u,
                             uint32_t ep)
{
    const uint32_t *lk = links_of(h, u, 0);
    uint32_t cnt = ld(lk), i, best = UINT32_MAX, pass;
    float bd = INFINITY;
    for (i = 0; i < cnt; i++) {
        uint32_t x = ld(&lk[1 + i]);
        float d;
        if (!seen[x] || h->deleted[x] != 0)
            continue;
        d = dist_nodes(h, s, u, x);
        if (d < bd) {
            bd = d;
            best = x;
        }
    }
    if (best == UINT32_MAX) {
        const void *q = vec_ptr(h, u);
        float qaux = slot_aux(h, u);
        uint16_t gen = ctx_new_visit(c);
        beam b;
        beam_init(&b, c->beam, h->efc);
        c->visited[ep] = gen;
        c->visited[u] = gen;
        beam_insert(&b, dist_q(h, s, q, qaux, ep), ep);
        search_level(h, s, c, gen, q, qaux, 0, &b);
        /* sorted nearest first: a live node, else any non-free one */
        for (pass = 0; pass < 2 && best == UINT32_MAX; pass++)
            for (i = 0; i < b.n && best == UINT32_MAX; i++) {
                uint32_t x = b.a[i].slot & ~EXPANDED;
                if (seen[x] && h->deleted[x] <= pass)
                    best = x;
            }
    }
    return best == UINT32_MAX ? ep : best;
}

/* Make stranded node u a level-0 link of reachable node b without
 * stranding anything else: when b's list is full, u takes the place of
 * b's farthest link t, and t becomes a link of u (u's list gives up its
 * own farthest link if full). Every path that went b -> t now goes
 * b -> u -> t, and no path from the entry point went through u (it was
 * unreachable), so the reachable set only grows. Searches run beside
 * this (no add does: connect_unreachable's caller), so the order matters:
 * t is linked from u BEFORE b's link to t is replaced by u, else a search
 * between the two steps could not reach t (nor what only t leads to). */
static void reach_link(hnsw *h, const vex_simd_table *s, uint32_t b, uint32_t u)
{
    uint32_t *lk, cnt, i, far = 0, t;
    float fd = -INFINITY;
    pthread_mutex_lock(stripe(h, b));
    lk = links_of(h, b, 0);
    cnt = ld(lk);
    for (i = 0; i < cnt && ld(&lk[1 + i]) != u; i++)
        ;
    if (i < cnt) { /* already linked (nothing to do) */
        pthread_mutex_unlock(stripe(h, b));
        return;
    }
    if (cnt < h->M0) {
        st(&lk[1 + cnt], u);
        st(&lk[0], cnt + 1);
        pthread_mutex_unlock(stripe(h, b));
        return;
    }
    for (i = 0; i < cnt; i++) {
        float d = dist_nodes(h, s, b, ld(&lk[1 + i]));
        if (d > fd) {
            fd = d;
            far = i;
        }
    }
    t = ld(&lk[1 + far]);
    pthread_mutex_unlock(stripe(h, b));

    pthread_mutex_lock(stripe(h, u));
    lk = links_of(h, u, 0);
    cnt = ld(lk);
    for (i = 0; i < cnt && ld(&lk[1 + i]) != t; i++)
        ;
    if (i == cnt && cnt < h->M0) {
        st(&lk[1 + cnt], t);
        st(&lk[0], cnt + 1);
    } else if (i == cnt) {
        fd = -INFINITY;
        for (i = 0; i < cnt; i++) {
            float d = dist_nodes(h, s, u, ld(&lk[1 + i]));
            if (d > fd) {
                fd = d;
                far = i;
            }
        }
        st(&lk[1 + far], t);
    }
    pthread_mutex_unlock(stripe(h, u));

    /* only now may b stop pointing at t. No add links beside the pass,
     * but the list is read again rather than trusted (cheap, and safe if
     * that ever changes): replace t where it is now; if it is gone, take
     * a free place or the farthest link, as above. */
    pthread_mutex_lock(stripe(h, b));
    lk = links_of(h, b, 0);
    cnt = ld(lk);
    for (i = 0; i < cnt && ld(&lk[1 + i]) != t; i++)
        ;
    if (i < cnt) {
        st(&lk[1 + i], u);
    } else if (cnt < h->M0) {
        st(&lk[1 + cnt], u);
        st(&lk[0], cnt + 1);
    } else {
        fd = -INFINITY;
        for (i = 0; i < cnt; i++) {
            float d = dist_nodes(h, s, b, ld(&lk[1 + i]));
            if (d > fd) {
                fd = d;
                far = i;
            }
        }
        st(&lk[1 + far], u);
    }
    pthread_mutex_unlock(stripe(h, b));
}

/* Pruning can leave a node with no in-links on level 0 (later inserts
 * prune it out of every list that had it), or in a small island whose
 * in-links all come from unreachable nodes, and then no search can reach
 * it: hnswlib's graphs lose ~0.1-0.3% of their nodes this way, which caps
 * recall. This pass walks level 0 breadth first from the entry point
 * (through deleted nodes too, as searches go) and links every live node
 * it did not reach from a reachable one (reach_anchor, reach_link), then
 * extends the walk from that node, so that when it returns every live
 * node is reachable from the entry point. Measured on a collection with
 * deletes, upserts and small memtables: an earlier form (one walk, each
 * stranded node linked from a reachable out-neighbour, or skipped when it
 * had none, at the cost of the anchor's farthest link) left nodes
 * stranded by the link it gave up and islands with no reachable
 * out-neighbour. Caller holds the rwlock, and no add links meanwhile (an
 * add runs it after its own linking only when it is the one add linking;
 * a node another add has claimed but not yet linked would look stranded,
 * and linking it here would race that add's own writes). On
 * success the pending count (since_connect) is not touched: callers
 * decide. VEX_NOMEM if its scratch cannot be had (nothing changed). */
static int connect_unreachable(hnsw *h, const vex_simd_table *s, hnsw_ctx *c)
{
    uint64_t ep = atomic_load(&h->ep);
    uint8_t *seen;
    uint32_t *queue, tail = 0, sl;
    if (ep == NO_EP || h->n == 0)
        return VEX_OK;
    seen = vx_mem_calloc(h->mem, h->n, 1);
    queue = vx_mem_alloc(h->mem, (size_t)h->n * sizeof *queue);
    if (seen == NULL || queue == NULL) {
        vx_mem_free(h->mem, seen);
        vx_mem_free(h->mem, queue);
        return VEX_NOMEM;
    }
    queue[tail++] = (uint32_t)ep;
    seen[(uint32_t)ep] = 1;
    reach_grow(h, seen, queue, 0, &tail);
    for (sl = 0; sl < h->n; sl++) {
        uint32_t b, head;
        if (seen[sl] || h->deleted[sl] != 0)
            continue;
        b = reach_anchor(h, s, c, seen, sl, (uint32_t)ep);
        reach_link(h, s, b, sl);
        head = tail;
        seen[sl] = 1;
        queue[tail++] = sl;
        reach_grow(h, seen, queue, head, &tail);
    }
    vx_mem_free(h->mem, seen);
    vx_mem_free(h->mem, queue);
    return VEX_OK;
}

/* Run the reachability pass if nodes were linked since the last one, so
 * that what is serialised, checked or searched next has every live node
 * reachable. Caller holds the rwlock (shared suffices: it then keeps any
 * add from claiming) and no add is linking. VEX_NOMEM if scratch cannot
 * be had (the pass stays pending). */
static int hnsw_settle(hnsw *h)
{
    hnsw_ctx *c;
    uint64_t since;
    int rc;
    if (atomic_load(&h->ep) == NO_EP ||
        (since = atomic_exchange(&h->since_connect, 0)) == 0)
        return VEX_OK;
    rc = hnsw_ctx_acquire(h, 1, h->efc, &c);
    if (rc == VEX_OK) {
        rc = connect_unreachable(h, vx_simd(), c);
        hnsw_ctx_release(h, 1, &c);
    }
    if (rc != VEX_OK)
        atomic_fetch_add(&h->since_connect, since);
    return rc;
}

/* One level of slot s through fn: its links to live nodes, as ids.
 * `buf` holds M0 ids. */
static int links_level(const hnsw *h, uint32_t s, unsigned l, uint64_t *buf,
                       vex_links_fn fn, void *ctx)
{
    const uint32_t *lk = links_of(h, s, l);
    uint32_t cnt = ld(lk), n = 0;
    for (uint32_t i = 0; i < cnt && i < max_links(h, l); i++) {
        uint32_t t = ld(&lk[1 + i]);
        if (t < h->n && h->deleted[t] == 0)
            buf[n++] = h->ids[t];
    }
    return fn(ctx, h->ids[s], h->levels[s], l, buf, n);
}

/* The links method (index/index.h): every level of every live node. */
static int hnsw_links(void *ix, vex_links_fn fn, void *ctx, uint64_t *entry,
                      vex_err *err)
{
    hnsw *h = ix;
    int rc = VEX_OK;
    uint64_t ep, *buf = vx_mem_alloc(h->mem, (size_t)h->M0 * sizeof *buf);
    if (buf == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory for a link list");
    pthread_rwlock_rdlock(&h->lock);
    ep = atomic_load(&h->ep);
    if (ep == NO_EP || h->map.count == 0) {
        rc = vx_err_set(err, VEX_NOTFOUND, "the index is empty");
        goto done;
    }
    *entry = h->ids[(uint32_t)ep];
    for (uint32_t s = 0; s < h->n; s++) {
        if (h->deleted[s] != 0)
            continue;
        for (unsigned l = 0; l <= h->levels[s]; l++)
            if (links_level(h, s, l, buf, fn, ctx) != 0) {
                rc = vx_err_set(err, VEX_INVALID, "the link walk was stopped");
                goto done;
            }
    }
done:
    pthread_rwlock_unlock(&h->lock);
    vx_mem_free(h->mem, buf);
    return rc;
}

/* The settle method (index/index.h): after a run of adds. */
static int hnsw_settle_m(void *ix, vex_err *err)
{
    hnsw *h = ix;
    int rc = VEX_OK;
    if (atomic_load(&h->since_connect) == 0)
        return VEX_OK;
    pthread_rwlock_rdlock(&h->lock);
    if (h->linking == 0)
        rc = hnsw_settle(h);
    pthread_rwlock_unlock(&h->lock);
    if (rc != VEX_OK)
        rc = vx_err_set(err, rc, "out of memory for the reachability pass");
    return rc;
}

static int repair_due(const hnsw *h)
{
    uint64_t total = h->map.count + h->n_deleted;
    return h->n_deleted > 0 && h->linking == 0 &&
           (double)h->n_deleted >= HNSW_REPAIR_SHARE * (double)total;
}

static void hnsw_repair(hnsw *h);

static int hnsw_add(void *ix, const uint64_t *ids, const void *vecs, size_t n,
                    unsigned max_threads, vex_err *err)
{
    hnsw *h = ix;
    unsigned width = vx_pool_width(h->pool, max_threads);
    hnsw_ctx *ctx[VEX_MAX_THREADS];
    uint32_t *slots;
    uint64_t live_before;
    size_t serial;
    link_job job;
    int rc;

    slots = vx_mem_alloc(h->mem, n * sizeof *slots);
    if (slots == NULL)
        return vx_err_set(err, VEX_NOMEM,
                          "out of memory adding %zu "
                          "vectors",
                          n);
    if (n < 2 * HNSW_TASK)
        width = 1;
    pthread_rwlock_wrlock(&h->lock);
    live_before = h->map.count;
    rc = claim_slots(h, ids, vecs, n, slots, err);
    if (rc == VEX_OK)
        h->linking++; /* no repair may free slots until we are linked */
    pthread_rwlock_unlock(&h->lock);
    if (rc != VEX_OK) {
        vx_mem_free(h->mem, slots);
        return rc;
    }

    /* Scratch is sized under the shared lock: another add may have grown
     * the arrays between our claim and now. */
    pthread_rwlock_rdlock(&h->lock);
    rc = hnsw_ctx_acquire(h, width, h->efc, ctx);
    if (rc != VEX_OK) {
        /* Cannot link: withdraw the claim. The slots become tombstones
         * (unreachable, never returned) that the next repair frees. */
        pthread_rwlock_unlock(&h->lock);
        pthread_rwlock_wrlock(&h->lock);
        for (serial = 0; serial < n; serial++) {
            vx_idmap_remove(&h->map, h->ids[slots[serial]]);
            h->deleted[slots[serial]] = 1;
            h->n_deleted++;
        }
        h->linking--;
        pthread_rwlock_unlock(&h->lock);
        vx_mem_free(h->mem, slots);
        return vx_err_set(err, rc, "out of memory for build scratch");
    }
    job.h = h;
    job.s = vx_simd();
    job.ctx = ctx;
    job.slots = slots;
    job.n = n;
    /* A graph grown wide from nothing starts poorly connected: link the
     * first nodes one at a time. */
    serial = live_before >= HNSW_SERIAL_START
                 ? 0
                 : (size_t)(HNSW_SERIAL_START - live_before);
    if (serial > n)
        serial = n;
    for (job.first = 0; job.first < serial; job.first++)
        insert_slot(h, job.s, ctx[0], slots[job.first]);
    if (serial < n)
        vx_pool_run(h->pool, (n - serial + HNSW_TASK - 1) / HNSW_TASK, width,
                    link_task, &job);
    /* a reachability pass per HNSW_CONNECT_MIN nodes added (and at least
     * n / 64, so its O(n M) walk stays a small share of linking) */
    {
        uint64_t since = atomic_fetch_add(&h->since_connect, n) + n;
        uint64_t due =
            h->n / 64 > HNSW_CONNECT_MIN ? h->n / 64 : HNSW_CONNECT_MIN;
        /* only when no other add is linking (h->linking changes under the
         * exclusive lock, so it holds still here): another add's claimed
         * nodes have no in-links yet and look stranded, and the pass would
         * link them early and have their own insert overwrite what it
         * wrote into their lists, stranding whatever it moved there, and
         * race that insert's link-backs into duplicates. Deferred, the
         * pass runs with the next add that links alone, or at the settle
         * that precedes every serialisation and check. */
        if (since >= due && h->linking == 1) {
            since = atomic_exchange(&h->since_connect, 0);
            /* out of memory: the pass only moves; serialising retries */
            if (since && connect_unreachable(h, job.s, ctx[0]) != VEX_OK)
                atomic_fetch_add(&h->since_connect, since);
        }
    }
    hnsw_ctx_release(h, width, ctx);
    pthread_rwlock_unlock(&h->lock);

    pthread_rwlock_wrlock(&h->lock);
    h->linking--;
    if (repair_due(h))
        hnsw_repair(h);
    pthread_rwlock_unlock(&h->lock);
    vx_mem_free(h->mem, slots);
    return VEX_OK;
}

/* ---------------------------------------------------------------------
 * Searching
 * ------------------------------------------------------------------- */

/* Beam width for a search: ef (or the default), at least k, widened by the
 * share of deleted nodes that will be skipped in the results. */
static uint32_t beam_width(const hnsw *h, size_t k, unsigned ef)
{
    uint64_t w = ef ? ef : h->efs, live = h->map.count;
    if (w < k)
        w = k;
    if (h->n_deleted && live)
        w += (w * h->n_deleted + live - 1) / live;
    return w > VEX_MAX_K ? VEX_MAX_K : (uint32_t)w;
}

static int hit_less(const vex_hit *a, const vex_hit *b)
{
    return a->distance < b->distance ||
           (a->distance == b->distance && a->id < b->id);
}

/* The widest beam a search may use: the width itself, or with a filter
 * its bound on extra work (filter_max_ef, default 16 x width). */
static uint32_t beam_max(const vex_search_opts *so, uint32_t width)
{
    uint64_t w = width;
    if (so->filter)
        w = so->filter_max_ef ? so->filter_max_ef
                              : VX_FILTER_EF_GROWTH * (uint64_t)width;
    if (w < width)
        w = width;
    return w > VEX_MAX_K ? VEX_MAX_K : (uint32_t)w;
}

/* One beam search of the given width on level 0; then the k nearest live,
 * accepted nodes of the beam, or all within `radius` when radius is not
 * NaN (then *n_total counts them). Returns the number of hits. */
static size_t search_once(const hnsw *h, const vex_simd_table *s, hnsw_ctx *c,
                          const vex_search_opts *so, const void *q, float qaux,
                          uint32_t cur, float d, uint32_t also, size_t k,
                          uint32_t width, float radius, vex_hit *hits,
                          uint64_t *n_total)
{
    uint32_t i;
    size_t m = 0;
    uint16_t gen = ctx_new_visit(c);
    beam b;
    if (n_total)
        *n_total = 0;
    beam_init(&b, c->beam, width);
    if (so->cut < INFINITY && k < width) {
        /* the unpruned head: k, or a quarter of the beam when wider, so
         * the walk toward a source's own near region keeps most of the
         * breadth the caller's ef asked for */
        b.keep = (uint32_t)(k > width / 4 ? k : width / 4);
        b.cut = so->cut;
    }
    c->visited[cur] = gen;
    beam_insert(&b, d, cur);
    if (also != UINT32_MAX && also != cur) {
        c->visited[also] = gen;
        beam_insert(&b, dist_q(h, s, q, qaux, also), also);
    }
    search_level(h, s, c, gen, q, qaux, 0, &b);
    for (i = 0; i < b.n; i++) {
        uint32_t sl = b.a[i].slot & ~EXPANDED;
        vex_hit x;
        size_t j;
        if (n_total && !(b.a[i].d <= radius))
            break;
        if (h->deleted[sl] || !vex_accept(so, h->ids[sl]))
            continue;
        if (n_total)
            (*n_total)++;
        if (m == k)
            continue;
        x.id = h->ids[sl];
        x.distance = b.a[i].d;
        /* insertion sort by (distance, id): ties come out in id order */
        for (j = m; j > 0 && hit_less(&x, &hits[j - 1]); j--)
            hits[j] = hits[j - 1];
        hits[j] = x;
        m++;
        if (!n_total && m == k)
            break;
    }
    return m;
}

/* ---- quantized search: the same walk on code distances ---- */

static inline float qdist(const hnsw *h, const vq_dc *dc, uint32_t slot)
{
    return vx_vq_dc_distance(dc, qc_code(h->qc, slot));
}

static void greedy_q(const hnsw *h, const vq_dc *dc, unsigned l, uint32_t *cur,
                     float *curd)
{
    int changed = 1;
    while (changed) {
        const uint32_t *lk = links_of(h, *cur, l);
        uint32_t cnt = ld(lk), i;
        changed = 0;
        for (i = 0; i < cnt; i++) {
            uint32_t nb = ld(&lk[1 + i]);
            float d = qdist(h, dc, nb);
            if (d < *curd) {
                *curd = d;
                *cur = nb;
                changed = 1;
            }
        }
    }
}

/* search_level on codes: codes are small (a line or two), so all of a
 * node's unvisited neighbours' codes are fetched before the first
 * distance, and a node entering the beam has its link lines fetched. */
static void search_level_q(const hnsw *h, hnsw_ctx *c, uint16_t gen,
                           const vq_dc *dc, beam *b)
{
    const size_t cs = h->qc->code_size;
    uint32_t *nb = c->nb;
    int64_t cur;
    while ((cur = beam_next(b)) >= 0) {
        const uint32_t *lk = links_of(h, (uint32_t)cur, 0);
        uint32_t cnt = ld(lk), i, m = 0;
        c->n_visit++;
        for (i = 0; i < cnt; i++) {
            uint32_t x = ld(&lk[1 + i]);
            const char *cp;
            if (c->visited[x] == gen)
                continue;
            c->visited[x] = gen;
            cp = (const char *)qc_code(h->qc, x);
            __builtin_prefetch(cp, 0, 3);
            if (cs > 64)
                __builtin_prefetch(cp + 64, 0, 3);
            nb[m++] = x;
        }
        c->n_dist += m;
        for (i = 0; i < m; i++) {
            float d = qdist(h, dc, nb[i]);
            if (d < beam_bound(b)) {
                prefetch_links(h, nb[i], 0);
                beam_insert(b, d, nb[i]);
            }
        }
    }
}

/* A quantized k-NN walk of the given width, then the rerank of the
 * beam's first `r` live, accepted nodes on full vectors. */
static size_t search_once_q(const hnsw *h, const vex_simd_table *s, hnsw_ctx *c,
                            const vex_search_opts *so, const void *q,
                            uint32_t cur, float d, uint32_t also, size_t k,
                            size_t r, uint32_t width, vex_hit *hits)
{
    uint32_t i;
    size_t m = 0, seen = 0;
    uint16_t gen = ctx_new_visit(c);
    float qaux = query_aux(h, s, q);
    beam b;
    beam_init(&b, c->beam, width);
    c->visited[cur] = gen;
    beam_insert(&b, d, cur);
    if (also != UINT32_MAX && also != cur) {
        c->visited[also] = gen;
        beam_insert(&b, qdist(h, c->dc, also), also);
    }
    search_level_q(h, c, gen, c->dc, &b);
    for (i = 0; i < b.n && seen < r; i++) {
        uint32_t sl = b.a[i].slot & ~EXPANDED;
        vex_hit x;
        size_t j;
        if (h->deleted[sl] || !vex_accept(so, h->ids[sl]))
            continue;
        seen++;
        x.id = h->ids[sl];
        x.distance = dist_q(h, s, q, qaux, sl);
        if (m == k && !hit_less(&x, &hits[k - 1]))
            continue;
        if (m < k)
            m++;
        for (j = m - 1; j > 0 && hit_less(&x, &hits[j - 1]); j--)
            hits[j] = hits[j - 1];
        hits[j] = x;
    }
    return m;
}

/* The quantized counterpart of search_one (k-NN only). */
static size_t search_one_q(const hnsw *h, const vex_simd_table *s, hnsw_ctx *c,
                           const vex_search_opts *so, const void *q, size_t k,
                           uint32_t width, vex_hit *hits)
{
    uint64_t ep = atomic_load(&h->ep);
    size_t r = vx_qc_candidates(so->refine, h->cfg.quant_refine, k), m;
    uint32_t cur, max, l;
    float d;
    if (ep == NO_EP || vx_vq_dc_set_query(c->dc, q) != VEX_OK)
        return 0; /* the query was validated: set_query cannot fail */
    if (width < r)
        width = (uint32_t)r;
    max = beam_max(so, width);
    cur = (uint32_t)ep;
    d = qdist(h, c->dc, cur);
    for (l = (unsigned)(ep >> 32); l > 0; l--)
        greedy_q(h, c->dc, l, &cur, &d);
    m = search_once_q(h, s, c, so, q, cur, d, UINT32_MAX, k, r, width, hits);
    /* fewer than k: again from the entry point too (see search_one), and
     * with a filter wider each time */
    while (m < k) {
        int widen = so->filter != NULL && width < max;
        if (widen)
            width = width > max / 4 ? max : width * 4;
        m = search_once_q(h, s, c, so, q, cur, d, (uint32_t)ep, k, r, width,
                          hits);
        if (!widen)
            break;
    }
    return m;
}

static int hnsw_quantized(const hnsw *h)
{
    return h->qc != NULL && h->qc->trained;
}

/* Beam capacity a search needs: the quantized walk is at least
 * ceil(refine * k) wide. */
static uint32_t search_cap(const hnsw *h, const vex_search_opts *so,
                           uint32_t width, size_t k)
{
    if (hnsw_quantized(h)) {
        size_t r = vx_qc_candidates(so->refine, h->cfg.quant_refine, k);
        if (width < r)
            width = (uint32_t)r;
    }
    return beam_max(so, width);
}

/* Give each context a distance computer (quantized index). */
static int ctx_dcs(hnsw *h, unsigned count, hnsw_ctx **ctx)
{
    unsigned i;
    if (!hnsw_quantized(h))
        return VEX_OK;
    for (i = 0; i < count; i++)
        if (ctx[i]->dc == NULL &&
            vx_vq_dc_create(h->qc->q, 0, &ctx[i]->dc) != VEX_OK)
            return VEX_NOMEM;
    return VEX_OK;
}

/* A search: descend to level 0, beam search; with a filter that left
 * fewer than k hits, widen the beam four times and search again, up to
 * beam_max (the bound on extra work). Shared lock held; the context's beam
 * holds beam_max(so, width) entries. */
static size_t search_one(const hnsw *h, const vex_simd_table *s, hnsw_ctx *c,
                         const vex_search_opts *so, const void *q, size_t k,
                         uint32_t width, float radius, vex_hit *hits,
                         uint64_t *n_total)
{
    uint64_t ep = atomic_load(&h->ep);
    uint32_t cur, max = beam_max(so, width);
    size_t m;
    float qaux, d;
    if (n_total)
        *n_total = 0;
    if (hnsw_quantized(h) && n_total == NULL)
        return search_one_q(h, s, c, so, q, k, width, hits);
    if (ep == NO_EP)
        return 0;
    qaux = query_aux(h, s, q);
    cur = descend(h, s, q, qaux, ep, 0, &d);
    m = search_once(h, s, c, so, q, qaux, cur, d, UINT32_MAX, k, width, radius,
                    hits, n_total);
    /* Fewer than k: search again, seeded with the level-0 entry point as
     * well. Links are directed, and the reachability pass makes every live
     * node reachable from the entry point only: the node the descent lands
     * on may lead to a part of level 0 alone (seen with sparse graphs and
     * many rows filtered out: 10 of 49 nodes). With a filter, the beam
     * also widens four times each round up to beam_max. A search that
     * finds k the first time (nearly all) pays nothing; nor does one with
     * a cut (fewer than k is then the point: a later source of a
     * collection search) or a range search, unless filtered. */
    while (m < k &&
           (so->filter != NULL || (!(so->cut < INFINITY) && n_total == NULL))) {
        int widen = so->filter != NULL && width < max;
        if (widen)
            width = width > max / 4 ? max : width * 4;
        m = search_once(h, s, c, so, q, qaux, cur, d, (uint32_t)ep, k, width,
                        radius, hits, n_total);
        if (!widen)
            break;
    }
    return m;
}

static int hnsw_search(void *ix, const void *query, size_t k,
                       const vex_search_opts *so, vex_hit *hits, size_t *n_hits,
                       vex_err *err)
{
    hnsw *h = ix;
    hnsw_ctx *c;
    uint32_t width;
    int rc;
    /* so->n_threads is not used: one graph walk is sequential */
    pthread_rwlock_rdlock(&h->lock);
    width = beam_width(h, k, so->ef);
    rc = hnsw_ctx_acquire(h, 1, search_cap(h, so, width, k), &c);
    if (rc == VEX_OK && (rc = ctx_dcs(h, 1, &c)) != VEX_OK)
        hnsw_ctx_release(h, 1, &c);
    if (rc == VEX_OK) {
        c->n_visit = c->n_dist = 0;
        *n_hits =
            search_one(h, vx_simd(), c, so, query, k, width, NAN, hits, NULL);
        if (so->work) {
            so->work->visited += c->n_visit;
            so->work->distances += c->n_dist;
        }
        hnsw_ctx_release(h, 1, &c);
    } else {
        rc = vx_err_set(err, rc, "out of memory for search scratch");
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

typedef struct search_job {
    const hnsw *h;
    const vex_simd_table *s;
    const vex_search_opts *so;
    hnsw_ctx **ctx;
    const unsigned char *queries;
    size_t k;
    uint32_t width;
    vex_hit *hits;
    size_t *n_hits;
} search_job;

static void search_task(void *arg, size_t task, unsigned worker)
{
    search_job *j = arg;
    j->n_hits[task] = search_one(j->h, j->s, j->ctx[worker], j->so,
                                 j->queries + task * j->h->cfg.vec_bytes, j->k,
                                 j->width, NAN, j->hits + task * j->k, NULL);
}

static int hnsw_search_batch(void *ix, const void *queries, size_t n_queries,
                             size_t k, const vex_search_opts *so, vex_hit *hits,
                             size_t *n_hits, vex_err *err)
{
    hnsw *h = ix;
    unsigned width = vx_pool_width(h->pool, so->n_threads);
    hnsw_ctx *ctx[VEX_MAX_THREADS];
    search_job job;
    int rc;
    if (width > n_queries)
        width = (unsigned)n_queries;
    pthread_rwlock_rdlock(&h->lock);
    job.width = beam_width(h, k, so->ef);
    rc = hnsw_ctx_acquire(h, width, search_cap(h, so, job.width, k), ctx);
    if (rc == VEX_OK && (rc = ctx_dcs(h, width, ctx)) != VEX_OK)
        hnsw_ctx_release(h, width, ctx);
    if (rc == VEX_OK) {
        job.h = h;
        job.s = vx_simd();
        job.so = so;
        job.ctx = ctx;
        job.queries = queries;
        job.k = k;
        job.hits = hits;
        job.n_hits = n_hits;
        vx_pool_run(h->pool, n_queries, width, search_task, &job);
        hnsw_ctx_release(h, width, ctx);
    } else {
        rc = vx_err_set(err, rc, "out of memory for search scratch");
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

/* Approximate: the nodes within the radius among those a beam search of
 * width max(ef, capacity) finds. */
static int hnsw_range_search(void *ix, const void *query, float radius,
                             const vex_search_opts *so, vex_hit *hits,
                             size_t capacity, uint64_t *n_total, vex_err *err)
{
    hnsw *h = ix;
    hnsw_ctx *c;
    uint32_t width;
    int rc;
    pthread_rwlock_rdlock(&h->lock);
    width = beam_width(h, capacity > 0 ? capacity : 1,
                       so->ef > capacity ? so->ef : (unsigned)capacity);
    rc = hnsw_ctx_acquire(h, 1, beam_max(so, width), &c);
    if (rc == VEX_OK) {
        search_one(h, vx_simd(), c, so, query, capacity, width, radius, hits,
                   n_total);
        hnsw_ctx_release(h, 1, &c);
    } else {
        rc = vx_err_set(err, rc, "out of memory for search scratch");
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

/* ---------------------------------------------------------------------
 * Removing and repairing
 * ------------------------------------------------------------------- */

typedef struct repair_job {
    hnsw *h;
    const vex_simd_table *s;
    hnsw_ctx **ctx;
    cand **buf;
    size_t buf_cap;
} repair_job;

#define REPAIR_CHUNK 256

/* Relink every level of live node `sl` that points at a deleted node. */
/* Relink every level of live node `sl` that points at a deleted node. The
 * live links stay (they were chosen by the heuristic already); the freed
 * places go to live nodes reached through the deleted ones (so their
 * in-links come back), nearest first, each admitted by the heuristic
 * against the links kept. Only the nearest 2 * free + 4 such candidates
 * are tried: a full heuristic re-selection over all of them cost ~10x
 * more (measured: 36 s to repair 10% of glove-100 against ~4 s) for no
 * recall difference. Places still free are filled with the nearest
 * remaining candidates, so degrees do not shrink with every repair. */
static void repair_node(repair_job *j, hnsw_ctx *c, cand *buf, uint32_t sl)
{
    hnsw *h = j->h;
    unsigned l;
    for (l = 0; l <= h->levels[sl]; l++) {
        uint32_t *lk = links_of(h, sl, l), cnt = ld(lk), i, m = 0, k = 0;
        uint32_t head = 0, max = max_links(h, l), tries, t;
        uint16_t gen;
        int dirty = 0;
        for (i = 0; i < cnt && !dirty; i++)
            dirty = h->deleted[ld(&lk[1 + i])] != 0;
        if (!dirty)
            continue;
        gen = ctx_new_visit(c);
        c->visited[sl] = gen;
        /* keep the live links; queue the deleted ones (tail of buf) */
        for (i = 0; i < cnt; i++) {
            uint32_t x = ld(&lk[1 + i]);
            if (c->visited[x] == gen)
                continue;
            c->visited[x] = gen;
            if (!h->deleted[x]) {
                c->sel[k].slot = x;
                c->sel[k++].d = 0; /* not needed by the check below */
            } else if (head + 1 < j->buf_cap) {
                buf[j->buf_cap - 1 - head++].slot = x;
            }
        }
        /* live nodes one hop behind the deleted ones. Not further: chains
         * of deleted nodes grow the set geometrically (at 10% deleted it
         * reached thousands of candidates per node and the repair took
         * longer than a rebuild), and a deleted node two hops away is
         * repaired around by its own in-neighbours. */
        for (i = 0; i < head; i++) {
            uint32_t x = buf[j->buf_cap - 1 - i].slot, xc;
            const uint32_t *xl;
            if (h->levels[x] < l)
                continue;
            xl = links_of(h, x, l);
            xc = ld(xl);
            for (t = 0; t < xc; t++) {
                uint32_t y = ld(&xl[1 + t]);
                if (c->visited[y] == gen || h->deleted[y])
                    continue;
                c->visited[y] = gen;
                if (m + head < j->buf_cap)
                    buf[m++].slot = y;
            }
        }
        /* Every neighbour deleted, and every neighbour of theirs deleted
         * or already ours: the node would be left without links (a dead
         * end no walk can leave). Only then look further, breadth first
         * through the deleted nodes, until some live node turns up; rare
         * enough that the chains' cost does not matter. */
        for (i = 0; k + m == 0 && i < head; i++) {
            uint32_t x = buf[j->buf_cap - 1 - i].slot, xc;
            const uint32_t *xl;
            if (h->levels[x] < l)
                continue;
            xl = links_of(h, x, l);
            xc = ld(xl);
            for (t = 0; t < xc && m + head + 1 < j->buf_cap; t++) {
                uint32_t y = ld(&xl[1 + t]);
                if (c->visited[y] == gen)
                    continue;
                c->visited[y] = gen;
                if (!h->deleted[y])
                    buf[m++].slot = y;
                else
                    buf[j->buf_cap - 1 - head++].slot = y;
            }
        }
        for (i = 0; i < m; i++)
            buf[i].d = dist_nodes(h, j->s, sl, buf[i].slot);
        qsort(buf, m, sizeof(cand), cand_cmp);
        tries = 4 * (max - k) + 8;
        for (i = 0; i < m && k < max && i < tries; i++) {
            uint32_t e = buf[i].slot, r;
            int good = 1;
            for (r = 0; r < k && good; r++)
                good = dist_nodes(h, j->s, e, c->sel[r].slot) >= buf[i].d;
            if (good) {
                c->sel[k++] = buf[i];
                buf[i].slot |= EXPANDED; /* taken */
            }
        }
        for (i = 0; i < m && k < max; i++)
            if (!(buf[i].slot & EXPANDED))
                c->sel[k++] = buf[i];
        pthread_mutex_lock(stripe(h, sl));
        write_links(lk, c->sel, k);
        pthread_mutex_unlock(stripe(h, sl));
    }
}

static void repair_task(void *arg, size_t task, unsigned worker)
{
    repair_job *j = arg;
    uint32_t sl = (uint32_t)(task * REPAIR_CHUNK), end;
    end = sl + REPAIR_CHUNK < j->h->n ? sl + REPAIR_CHUNK : j->h->n;
    for (; sl < end; sl++)
        if (j->h->deleted[sl] == 0)
            repair_node(j, j->ctx[worker], j->buf[worker], sl);
}

/* Unlink deleted nodes: relink their live in-neighbours, move the entry
 * point, free the slots. Exclusive lock held, no add is linking. If
 * scratch memory cannot be had, the repair is skipped (deleted nodes stay
 * as tombstones, which is correct, only slower) and retried later. */
static void hnsw_repair(hnsw *h)
{
    unsigned width = vx_pool_width(h->pool, 0), w;
    hnsw_ctx *ctx[VEX_MAX_THREADS];
    cand *buf[VEX_MAX_THREADS];
    repair_job job;
    uint64_t ep;
    uint32_t sl, best = UINT32_MAX;
    int rc;

    job.buf_cap = (size_t)h->M0 * (h->M0 + 1) + 2; /* one hop */
    /* beams of efc: the reachability pass at the end may search */
    if (hnsw_ctx_acquire(h, width, h->efc, ctx) != VEX_OK)
        return;
    rc = VEX_OK;
    for (w = 0; w < width; w++) {
        buf[w] = rc == VEX_OK ? vx_mem_alloc(h->mem, job.buf_cap * sizeof(cand))
                              : NULL;
        if (buf[w] == NULL)
            rc = VEX_NOMEM;
    }
    if (rc == VEX_OK) {
        job.h = h;
        job.s = vx_simd();
        job.ctx = ctx;
        job.buf = buf;
        vx_pool_run(h->pool, (h->n + REPAIR_CHUNK - 1) / REPAIR_CHUNK, width,
                    repair_task, &job);
        /* entry point: keep it if live, else the live node of top level */
        ep = atomic_load(&h->ep);
        if (ep != NO_EP && h->deleted[(uint32_t)ep]) {
            for (sl = 0; sl < h->n; sl++)
                if (h->deleted[sl] == 0 &&
                    (best == UINT32_MAX || h->levels[sl] > h->levels[best]))
                    best = sl;
            atomic_store(&h->ep,
                         best == UINT32_MAX
                             ? NO_EP
                             : ((uint64_t)h->levels[best] << 32) | best);
        }
        for (sl = 0; sl < h->n; sl++) {
            if (h->deleted[sl] == 1) {
                h->deleted[sl] = 2;
                h->free_slots[h->n_free++] = sl;
            }
        }
        h->n_deleted = 0;
        /* relinking may strand some; without scratch for the pass, it
         * stays pending for the next add or the serialisation */
        if (connect_unreachable(h, job.s, ctx[0]) == VEX_OK)
            atomic_store(&h->since_connect, 0);
        else
            atomic_fetch_add(&h->since_connect, 1);
    }
    for (w = 0; w < width; w++)
        vx_mem_free(h->mem, buf[w]);
    hnsw_ctx_release(h, width, ctx);
}

static int hnsw_remove(void *ix, uint64_t id, vex_err *err)
{
    hnsw *h = ix;
    uint64_t slot;
    int rc = VEX_OK;
    pthread_rwlock_wrlock(&h->lock);
    if (!vx_idmap_get(&h->map, id, &slot)) {
        rc = vx_err_set(err, VEX_NOTFOUND, "id %llu is not in the index",
                        (unsigned long long)id);
    } else if (hnsw_thaw(h) != VEX_OK) {
        rc = vx_err_set(err, VEX_NOMEM,
                        "out of memory copying the opened index before "
                        "its first change");
    } else {
        h->deleted[slot] = 1;
        h->n_deleted++;
        vx_idmap_remove(&h->map, id);
        if (repair_due(h))
            hnsw_repair(h);
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

static int hnsw_get(void *ix, uint64_t id, void *vec_out, vex_err *err)
{
    hnsw *h = ix;
    uint64_t slot;
    int rc = VEX_OK;
    pthread_rwlock_rdlock(&h->lock);
    if (vx_idmap_get(&h->map, id, &slot))
        memcpy(vec_out, vec_ptr(h, (uint32_t)slot), h->cfg.vec_bytes);
    else
        rc = vx_err_set(err, VEX_NOTFOUND, "id %llu is not in the index",
                        (unsigned long long)id);
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

/* The score method (index.h): slots first (the id map), then the
 * distances, with the vectors of the next group fetched ahead. */
static int hnsw_score(void *ix, const void *query, float qaux,
                      const uint64_t *ids, size_t n, float *dist, vex_err *err)
{
    hnsw *h = ix;
    const unsigned char *x[VX_IX_SCORE_MAX];
    float aux[VX_IX_SCORE_MAX];
    const size_t lines = (h->aux_off + sizeof(float) + 63) / 64;
    size_t i, j;
    int rc = VEX_OK;
    VX_ASSERT(n <= VX_IX_SCORE_MAX);
    pthread_rwlock_rdlock(&h->lock);
    for (i = 0; i < n; i++) {
        uint64_t slot;
        if (!vx_idmap_get(&h->map, ids[i], &slot)) {
            rc = vx_err_set(err, VEX_NOTFOUND, "id %llu is not in the index",
                            (unsigned long long)ids[i]);
            break;
        }
        x[i] = vec_ptr(h, (uint32_t)slot);
        if (i < PREFETCH_AHEAD)
            prefetch_vec(h, (uint32_t)slot, lines);
    }
    for (i = 0; rc == VEX_OK && i < n; i += 4) {
        size_t g = n - i < 4 ? n - i : 4;
        for (j = i + PREFETCH_AHEAD; j < i + 4 + PREFETCH_AHEAD && j < n; j++)
            for (size_t l = 0; l < lines; l++)
                __builtin_prefetch(x[j] + 64 * l, 0, 3);
        for (j = i; j < i + g; j++)
            memcpy(&aux[j], x[j] + h->aux_off, sizeof aux[j]);
        vx_exact_ptrs(&h->cfg, vx_simd(), query, qaux, x + i, g, aux + i,
                      dist + i);
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

static int hnsw_scan(void *ix, vex_scan_fn fn, void *ctx)
{
    hnsw *h = ix;
    int rc = 0;
    pthread_rwlock_rdlock(&h->lock);
    for (uint32_t s = 0; s < h->n && rc == 0; s++)
        if (h->deleted[s] == 0)
            rc = fn(ctx, h->ids[s], vec_ptr(h, s));
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

static uint64_t hnsw_count(void *ix)
{
    hnsw *h = ix;
    uint64_t n;
    pthread_rwlock_rdlock(&h->lock);
    n = h->map.count;
    pthread_rwlock_unlock(&h->lock);
    return n;
}

static uint64_t hnsw_memory(void *ix)
{
    hnsw *h = ix;
    uint64_t b;
    pthread_rwlock_rdlock(&h->lock);
    b = sizeof *h +
        (uint64_t)h->cap * (h->slot_bytes + sizeof(uint64_t) * 2 + 2 + 4) +
        h->upper_cap * sizeof(uint32_t) + vx_idmap_memory(&h->map) +
        (h->qc ? vx_qc_memory(h->qc) : 0);
    /* quantized: the full vectors are ours unless read in place */
    if (h->apart && !h->borrowed)
        b += (uint64_t)h->cap * h->vec_stride;
    pthread_rwlock_unlock(&h->lock);
    pthread_mutex_lock(&h->ctx_lock);
    b += h->ctx_bytes;
    pthread_mutex_unlock(&h->ctx_lock);
    return b;
}

/* ---------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------- */

static int hnsw_check(void *ix, vex_graph_stats *st_out, vex_err *err)
{
    hnsw *h = ix;
    vex_graph_stats st;
    uint32_t sl, first = 0, *queue = NULL;
    uint8_t *seen = NULL;
    uint64_t ep, head = 0, tail = 0;
    int rc = VEX_OK;

    memset(&st, 0, sizeof st);
    st.min_degree = UINT32_MAX;
    pthread_rwlock_wrlock(&h->lock); /* a quiet graph */
    /* what a serialisation would write: nodes linked since the last
     * reachability pass get it first (an add between its claim and its
     * linking is not quiet: its nodes have no links yet) */
    if (h->linking == 0 && (rc = hnsw_settle(h)) != VEX_OK)
        rc = vx_err_set(err, rc, "out of memory for the reachability pass");
    ep = atomic_load(&h->ep);
    for (sl = 0; sl < h->n && rc == VEX_OK; sl++) {
        unsigned l;
        if (h->deleted[sl] == 2) {
            st.free_slots++;
            continue;
        }
        if (h->deleted[sl])
            st.deleted++;
        else
            st.nodes++;
        if (h->levels[sl] > st.max_level)
            st.max_level = h->levels[sl];
        for (l = 0; l <= h->levels[sl] && rc == VEX_OK; l++) {
            const uint32_t *lk = links_of(h, sl, l);
            uint32_t cnt = ld(lk), i, j;
            if (cnt > max_links(h, l)) {
                rc = vx_err_set(err, VEX_CORRUPT,
                                "hnsw: node %u level %u has %u links, more "
                                "than %u",
                                sl, l, cnt, max_links(h, l));
                break;
            }
            if (l == 0 && !h->deleted[sl]) {
                st.min_degree = cnt < st.min_degree ? cnt : st.min_degree;
                st.max_degree = cnt > st.max_degree ? cnt : st.max_degree;
            }
            for (i = 0; i < cnt && rc == VEX_OK; i++) {
                uint32_t x = ld(&lk[1 + i]);
                if (x >= h->n || x == sl || h->deleted[x] == 2 ||
                    h->levels[x] < l) {
                    rc = vx_err_set(err, VEX_CORRUPT,
                                    "hnsw: node %u level %u links to %u, "
                                    "which is %s",
                                    sl, l, x,
                                    x >= h->n          ? "out of range"
                                    : x == sl          ? "itself"
                                    : h->levels[x] < l ? "not on that level"
                                                       : "a free slot");
                    break;
                }
                for (j = 0; j < i; j++)
                    if (ld(&lk[1 + j]) == x)
                        rc = vx_err_set(err, VEX_CORRUPT,
                                        "hnsw: node %u level %u links to %u "
                                        "twice",
                                        sl, l, x);
                if (l == 0 && !h->deleted[sl]) {
                    const uint32_t *xl = links_of(h, x, 0);
                    uint32_t xc = ld(xl), t;
                    st.links++;
                    for (t = 0; t < xc; t++)
                        if (ld(&xl[1 + t]) == sl) {
                            st.reciprocal++;
                            break;
                        }
                }
            }
        }
    }
    if (rc == VEX_OK && ep != NO_EP &&
        (h->deleted[(uint32_t)ep] == 2 || (uint32_t)ep >= h->n ||
         h->levels[(uint32_t)ep] != (ep >> 32)))
        rc = vx_err_set(err, VEX_CORRUPT, "hnsw: bad entry point %u",
                        (uint32_t)ep);
    if (rc == VEX_OK && ep == NO_EP && st.nodes > 0)
        rc = vx_err_set(err, VEX_CORRUPT, "hnsw: %llu nodes but no entry point",
                        (unsigned long long)st.nodes);
    /* reachability on level 0 from the entry, through deleted nodes too */
    if (rc == VEX_OK && ep != NO_EP) {
        queue = vx_mem_alloc(h->mem, (size_t)h->n * sizeof *queue);
        seen = vx_mem_calloc(h->mem, h->n, 1);
        if (queue == NULL || seen == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "out of memory checking");
        } else {
            queue[tail++] = (uint32_t)ep;
            seen[(uint32_t)ep] = 1;
            while (head < tail) {
                const uint32_t *lk = links_of(h, queue[head++], 0);
                uint32_t cnt = ld(lk), i;
                for (i = 0; i < cnt; i++) {
                    uint32_t x = ld(&lk[1 + i]);
                    if (!seen[x]) {
                        seen[x] = 1;
                        queue[tail++] = x;
                    }
                }
            }
            for (sl = 0; sl < h->n; sl++)
                if (h->deleted[sl] == 0 && !seen[sl] && st.unreachable++ == 0)
                    first = sl;
        }
    }
    /* searches start at the entry point: a live node it cannot reach on
     * level 0 is a record no search returns */
    if (rc == VEX_OK && st.unreachable > 0 && h->linking == 0)
        rc = vx_err_set(err, VEX_CORRUPT,
                        "hnsw: %llu live node%s unreachable from the entry "
                        "point on level 0 (the first: slot %u, id %llu)",
                        (unsigned long long)st.unreachable,
                        st.unreachable == 1 ? " is" : "s are", first,
                        (unsigned long long)h->ids[first]);
    if (rc == VEX_OK && st.nodes != h->map.count)
        rc = vx_err_set(err, VEX_CORRUPT,
                        "hnsw: %llu live nodes but %zu ids mapped",
                        (unsigned long long)st.nodes, h->map.count);
    if (st.min_degree == UINT32_MAX)
        st.min_degree = 0;
    pthread_rwlock_unlock(&h->lock);
    vx_mem_free(h->mem, queue);
    vx_mem_free(h->mem, seen);
    if (st_out)
        *st_out = st;
    return rc;
}

/* ---------------------------------------------------------------------
 * Serialisation (layout in docs/FORMAT.md, container in index/blob.h)
 * ------------------------------------------------------------------- */

static int hnsw_serialize(void *ix, unsigned char *buf, uint64_t size,
                          uint64_t *needed, vex_err *err)
{
    hnsw *h = ix;
    vex_blob_info info;
    uint64_t total;
    int rc = VEX_OK;
    memset(&info, 0, sizeof info);
    /* A quiet graph: under the shared lock no add can claim slots or
     * repair (both need the lock exclusively), and `linking` (changed only
     * under the exclusive lock) says whether an add is still linking. If
     * none is, searches may go on while the arrays are copied (a frozen
     * memtable is written out while it is being searched); else wait for
     * the graph to settle under the exclusive lock. */
    pthread_rwlock_rdlock(&h->lock);
    if (h->linking) {
        pthread_rwlock_unlock(&h->lock);
        pthread_rwlock_wrlock(&h->lock);
    }
    /* nodes linked since the last reachability pass: run it, so that
     * every graph written has every live node reachable */
    if (h->linking == 0 && (rc = hnsw_settle(h)) != VEX_OK) {
        pthread_rwlock_unlock(&h->lock);
        return vx_err_set(err, rc,
                          "out of memory linking unreachable nodes before "
                          "serialising");
    }
    info.kind = VEX_INDEX_HNSW;
    info.elem = h->cfg.elem;
    info.metric = h->cfg.metric;
    info.dim = h->cfg.dim;
    info.n_slots = h->n;
    info.n_live = h->map.count;
    info.m = h->M;
    info.ef_construction = h->efc;
    info.ef_search = h->efs;
    info.seed = h->seed;
    info.entry = atomic_load(&h->ep);
    /* a quantized index is written in the apart layout */
    info.slot_bytes = h->qc ? packed_slot_bytes(h) : h->slot_bytes;
    info.upper_len = h->upper_len;
    info.n_sections = 6;
    info.sec[0].id = VEX_SEC_SLOTS;
    info.sec[0].length = (uint64_t)h->n * info.slot_bytes;
    info.sec[1].id = VEX_SEC_IDS;
    info.sec[1].length = (uint64_t)h->n * sizeof(uint64_t);
    info.sec[2].id = VEX_SEC_LEVELS;
    info.sec[2].length = h->n;
    info.sec[3].id = VEX_SEC_STATE;
    info.sec[3].length = h->n;
    info.sec[4].id = VEX_SEC_UPPER_OFF;
    info.sec[4].length = (uint64_t)h->n * sizeof(uint64_t);
    info.sec[5].id = VEX_SEC_UPPER;
    info.sec[5].length = h->upper_len * sizeof(uint32_t);
    if (h->qc) {
        info.quant = h->cfg.quant;
        info.quant_bits = h->cfg.quant_bits;
        info.quant_m = h->cfg.quant_m;
        info.quant_refine = h->cfg.quant_refine;
        info.sec[6].id = VEX_SEC_VECTORS;
        info.sec[6].length =
            (uint64_t)h->n * (h->cfg.vec_bytes + sizeof(float));
        info.n_sections = 7;
        vx_qc_blob_sections(h->qc, &info, h->n);
    }
    total = vx_blob_layout(&info);
    *needed = total;
    if (buf == NULL || size < total) {
        rc = vx_err_set(err, VEX_FULL,
                        "the serialised index needs %llu bytes, the buffer "
                        "has %llu",
                        (unsigned long long)total, (unsigned long long)size);
    } else {
        memset(buf, 0, (size_t)total); /* alignment gaps */
        if (h->n && h->qc && !h->apart) {
            /* built here: split each slot into its link block and its
             * vector row */
            size_t pb = packed_slot_bytes(h), vb = h->cfg.vec_bytes;
            unsigned char *so = buf + info.sec[0].offset,
                          *vo = buf + info.sec[6].offset;
            for (uint32_t sl = 0; sl < h->n; sl++) {
                const unsigned char *p = slot_ptr(h, sl);
                memcpy(so + (size_t)sl * pb, p + h->links_off, pb);
                memcpy(vo + (size_t)sl * (vb + 4), p, vb);
                memcpy(vo + (size_t)sl * (vb + 4) + vb, p + h->aux_off, 4);
            }
        } else if (h->n) {
            memcpy(buf + info.sec[0].offset, h->slots,
                   (size_t)info.sec[0].length);
            if (h->qc)
                memcpy(buf + info.sec[6].offset, h->vecs,
                       (size_t)info.sec[6].length);
        }
        if (h->n) { /* a new empty index has no arrays (memcpy of NULL) */
            memcpy(buf + info.sec[1].offset, h->ids,
                   (size_t)info.sec[1].length);
            memcpy(buf + info.sec[2].offset, h->levels, h->n);
            memcpy(buf + info.sec[3].offset, h->deleted, h->n);
            memcpy(buf + info.sec[4].offset, h->upper_off,
                   (size_t)info.sec[4].length);
        }
        if (info.sec[5].length)
            memcpy(buf + info.sec[5].offset, h->upper,
                   (size_t)info.sec[5].length);
        if (h->qc)
            rc = vx_qc_blob_write(h->qc, &info, buf, h->n, err);
        if (rc == VEX_OK)
            vx_blob_finish(&info, buf);
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

/* The section `id`, which must be exactly `length` bytes. */
static const unsigned char *section(const vex_blob_info *info,
                                    const unsigned char *buf, uint32_t id,
                                    uint64_t length, int *rc, vex_err *err)
{
    const vex_blob_section *s = vx_blob_find(info, id);
    if (*rc != VEX_OK)
        return NULL;
    if (s == NULL || s->length != length) {
        *rc = vx_err_set(err, VEX_CORRUPT,
                         "hnsw blob: section %u is %s (expected %llu "
                         "bytes)",
                         id, s ? "the wrong size" : "missing",
                         (unsigned long long)length);
        return NULL;
    }
    return buf + s->offset;
}

/* Check every structural invariant that search and repair rely on, so a
 * hostile blob can at worst give poor results, never a wild access. */
/* " at offset N" (in the blob) for a byte of a blob opened in place, so
 * that a caller that knows where the blob sits (a segment file: the
 * index section's offset) can name the damaged byte; "" otherwise. */
static const char *blob_at(const hnsw *h, const void *p, char *buf, size_t n)
{
    const unsigned char *q = p;
    buf[0] = '\0';
    if (h->blob_base != NULL && q >= h->blob_base &&
        q < h->blob_base + h->blob_size)
        snprintf(buf, n, " at offset %llu",
                 (unsigned long long)(q - h->blob_base));
    return buf;
}

static int hnsw_verify_loaded(hnsw *h, uint64_t n_live, uint64_t entry,
                              vex_err *err)
{
    uint32_t sl, l, i;
    uint64_t live = 0;
    char at[48];
    for (sl = 0; sl < h->n; sl++) {
        uint8_t lv = h->levels[sl], st_ = h->deleted[sl];
        if (lv > HNSW_MAX_LEVEL || st_ > 2)
            return vx_err_set(
                err, VEX_CORRUPT,
                "hnsw blob: slot %u has level %u and state %u "
                "(at most %d and 2)%s",
                sl, lv, st_, HNSW_MAX_LEVEL,
                blob_at(h,
                        lv > HNSW_MAX_LEVEL ? &h->levels[sl] : &h->deleted[sl],
                        at, sizeof at));
        if (st_ == 0)
            live++;
        if (h->upper_off[sl] > h->upper_len ||
            (uint64_t)lv * (h->M + 1) > h->upper_len - h->upper_off[sl])
            return vx_err_set(err, VEX_CORRUPT,
                              "hnsw blob: slot %u: upper links at word "
                              "%llu run past the %llu words stored%s",
                              sl, (unsigned long long)h->upper_off[sl],
                              (unsigned long long)h->upper_len,
                              blob_at(h, &h->upper_off[sl], at, sizeof at));
    }
    /* Upper link blocks of nodes in use must not share words: a write to
     * one node's list would otherwise change another's count, which later
     * reads trust. (Free slots' old blocks are never used again.) */
    if (h->upper_len) {
        uint8_t *used = vx_mem_calloc(h->mem, h->upper_len / 8 + 1, 1);
        int rc = VEX_OK;
        if (used == NULL)
            return vx_err_set(err, VEX_NOMEM,
                              "out of memory checking the index");
        for (sl = 0; sl < h->n && rc == VEX_OK; sl++) {
            uint64_t w = h->upper_off[sl],
                     end = w + (uint64_t)h->levels[sl] * (h->M + 1);
            if (h->deleted[sl] == 2)
                continue;
            for (; w < end; w++) {
                if (used[w / 8] & (1u << (w % 8))) {
                    rc = vx_err_set(
                        err, VEX_CORRUPT,
                        "hnsw blob: slot %u: upper links at "
                        "word %llu overlap another node's%s",
                        sl, (unsigned long long)w,
                        blob_at(h, &h->upper_off[sl], at, sizeof at));
                    break;
                }
                used[w / 8] |= (uint8_t)(1u << (w % 8));
            }
        }
        vx_mem_free(h->mem, used);
        if (rc != VEX_OK)
            return rc;
    }
    for (sl = 0; sl < h->n; sl++) {
        char why[160];
        if (h->deleted[sl] == 2)
            continue;
        /* searches compute distances to deleted nodes too */
        if (vx_vector_check(&h->cfg, vec_ptr(h, sl), why, sizeof why) != VEX_OK)
            return vx_err_set(err, VEX_CORRUPT, "hnsw blob: slot %u: %s%s", sl,
                              why, blob_at(h, vec_ptr(h, sl), at, sizeof at));
        if (h->cfg.metric == VEX_METRIC_COSINE &&
            !(isfinite(slot_aux(h, sl)) && slot_aux(h, sl) > 0.0f))
            return vx_err_set(err, VEX_CORRUPT,
                              "hnsw blob: slot %u: inverse norm %g is not "
                              "finite and positive%s",
                              sl, (double)slot_aux(h, sl),
                              blob_at(h, vec_ptr(h, sl), at, sizeof at));
        for (l = 0; l <= h->levels[sl]; l++) {
            const uint32_t *lk = links_of(h, sl, l);
            if (lk[0] > max_links(h, l))
                return vx_err_set(err, VEX_CORRUPT,
                                  "hnsw blob: slot %u level %u has %u "
                                  "links, at most %u%s",
                                  sl, l, lk[0], max_links(h, l),
                                  blob_at(h, lk, at, sizeof at));
            for (i = 0; i < lk[0]; i++) {
                uint32_t x = lk[1 + i], t;
                /* the same rules vex_index_check applies: no self-links,
                 * no link twice (lists are short: the quadratic scan is
                 * cheaper than a marker array) */
                for (t = 0; t < i && x != sl; t++)
                    if (lk[1 + t] == x)
                        break;
                if (x == sl || t < i)
                    return vx_err_set(err, VEX_CORRUPT,
                                      "hnsw blob: slot %u level %u links "
                                      "to %u %s%s",
                                      sl, l, x, x == sl ? "(itself)" : "twice",
                                      blob_at(h, &lk[1 + i], at, sizeof at));
                if (x >= h->n || h->deleted[x] == 2 || h->levels[x] < l)
                    return vx_err_set(err, VEX_CORRUPT,
                                      "hnsw blob: slot %u level %u links "
                                      "to %u, which is %s%s",
                                      sl, l, x,
                                      x >= h->n ? "out of range"
                                      : h->deleted[x] == 2
                                          ? "a free slot"
                                          : "not on that level",
                                      blob_at(h, &lk[1 + i], at, sizeof at));
            }
        }
    }
    if (live != n_live)
        return vx_err_set(err, VEX_CORRUPT,
                          "hnsw blob: header says %llu live vectors, the "
                          "state section has %llu at offset 40",
                          (unsigned long long)n_live, (unsigned long long)live);
    /* no entry point exactly when nothing is live */
    if (entry == NO_EP
            ? live > 0
            : ((uint32_t)entry >= h->n || h->deleted[(uint32_t)entry] == 2 ||
               (entry >> 32) != h->levels[(uint32_t)entry]))
        return vx_err_set(err, VEX_CORRUPT,
                          "hnsw blob: bad entry point 0x%llx at offset 72",
                          (unsigned long long)entry);
    return VEX_OK;
}

static int hnsw_open(const vex_mem *mem, vex_pool *pool, vex_err *err,
                     const vex_index_config *cfg, const vex_blob_info *info,
                     const unsigned char *buf, int borrow, void **out)
{
    hnsw *h = NULL;
    const unsigned char *p[7];
    uint64_t n = info->n_slots;
    uint32_t sl;
    int rc = hnsw_create(mem, pool, err, cfg, (void **)&h);
    if (rc != VEX_OK)
        return rc;
    hnsw_layout(h, cfg->quant != 0); /* what serialize writes */
    if (n > UINT32_MAX / 2 || info->slot_bytes != h->slot_bytes ||
        info->upper_len > SIZE_MAX / 8) {
        rc = vx_err_set(err, VEX_CORRUPT,
                        "hnsw blob: %llu slots of %llu bytes do not fit "
                        "dimension %u with M %u",
                        (unsigned long long)n,
                        (unsigned long long)info->slot_bytes, cfg->dim, h->M);
        goto fail;
    }
    p[0] = section(info, buf, VEX_SEC_SLOTS, n * h->slot_bytes, &rc, err);
    p[1] = section(info, buf, VEX_SEC_IDS, n * 8, &rc, err);
    p[2] = section(info, buf, VEX_SEC_LEVELS, n, &rc, err);
    p[3] = section(info, buf, VEX_SEC_STATE, n, &rc, err);
    p[4] = section(info, buf, VEX_SEC_UPPER_OFF, n * 8, &rc, err);
    p[5] = section(info, buf, VEX_SEC_UPPER, info->upper_len * 4, &rc, err);
    p[6] = NULL;
    if (h->qc)
        p[6] = section(info, buf, VEX_SEC_VECTORS, n * h->vec_stride, &rc, err);
    else if (rc == VEX_OK && vx_blob_find(info, VEX_SEC_VECTORS))
        rc = vx_err_set(err, VEX_CORRUPT,
                        "hnsw blob: a vectors section in an unquantized "
                        "index (its vectors are in the slots)");
    if (rc != VEX_OK)
        goto fail;
    h->n = (uint32_t)n;
    h->upper_len = info->upper_len;
    h->free_slots = vx_mem_alloc(mem, (n ? n : 1) * sizeof(uint32_t));
    if (h->free_slots == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "out of memory opening the index");
        goto fail;
    }
    /* borrowing: point at the blob (it outlives us); else copy it */
    h->borrowed = 1;
    if (borrow) { /* for the offsets of hnsw_verify_loaded's messages */
        h->blob_base = buf;
        for (uint32_t k = 0; k < info->n_sections; k++)
            if (info->sec[k].offset + info->sec[k].length > h->blob_size)
                h->blob_size = info->sec[k].offset + info->sec[k].length;
    }
    h->slots = (unsigned char *)p[0];
    h->vecs = (unsigned char *)(uintptr_t)p[6];
    h->ids = (uint64_t *)(uintptr_t)p[1];
    h->levels = (uint8_t *)(uintptr_t)p[2];
    h->deleted = (uint8_t *)(uintptr_t)p[3];
    h->upper_off = (uint64_t *)(uintptr_t)p[4];
    h->upper = (uint32_t *)(uintptr_t)p[5];
    h->cap = (uint32_t)n;
    h->upper_cap = h->upper_len;
    if (!borrow && hnsw_thaw(h) != VEX_OK) {
        rc = vx_err_set(err, VEX_NOMEM, "out of memory copying the index");
        goto fail;
    }
    for (sl = 0; sl < h->n; sl++) {
        if (h->deleted[sl] == 2)
            h->free_slots[h->n_free++] = sl;
        else if (h->deleted[sl] == 1)
            h->n_deleted++;
    }
    rc = hnsw_verify_loaded(h, info->n_live, info->entry, err);
    if (rc == VEX_OK && h->qc)
        rc = vx_qc_blob_open(h->qc, info, buf, n, borrow, err);
    else if (rc == VEX_OK && (vx_blob_find(info, VEX_SEC_QUANTIZER) ||
                              vx_blob_find(info, VEX_SEC_CODES)))
        rc = vx_err_set(err, VEX_CORRUPT,
                        "hnsw blob: quantizer sections without a quantizer "
                        "in the header");
    if (rc != VEX_OK)
        goto fail;
    rc = vx_idmap_reserve(&h->map, (size_t)info->n_live);
    for (sl = 0; sl < h->n && rc == VEX_OK; sl++) {
        uint64_t prev;
        if (h->deleted[sl] != 0)
            continue;
        if (vx_idmap_get(&h->map, h->ids[sl], &prev)) {
            rc = vx_err_set(err, VEX_CORRUPT,
                            "hnsw blob: id %llu is live in slots %llu and "
                            "%u",
                            (unsigned long long)h->ids[sl],
                            (unsigned long long)prev, sl);
            break;
        }
        rc = vx_idmap_put(&h->map, h->ids[sl], sl);
    }
    if (rc == VEX_NOMEM)
        vx_err_set(err, rc, "out of memory building the id map");
    if (rc != VEX_OK)
        goto fail;
    atomic_store(&h->ep, info->entry);
    *out = h;
    return VEX_OK;
fail:
    hnsw_destroy(h);
    return rc;
}

/* ---------------------------------------------------------------------
 * Quantizer training
 * ------------------------------------------------------------------- */

/* Once trained, searches walk the codes: move the vectors out of the
 * slots (see vecs), so that a walk reads packed link blocks. Exclusive
 * lock held. Out of memory leaves the index as it was (the layout is only
 * a matter of speed). */
static void hnsw_go_apart(hnsw *h)
{
    /* the inline layout, to read the old slots */
    const unsigned char *old = h->slots;
    size_t old_bytes = h->slot_bytes, old_links = h->links_off,
           old_aux = h->aux_off;
    size_t cap = h->cap ? h->cap : 1, pb, bytes, vbytes;
    unsigned char *slots, *vecs;
    if (h->apart || h->borrowed)
        return;
    hnsw_layout(h, 1);
    pb = h->slot_bytes;
    if (vex_mul_overflow(cap, pb, &bytes) ||
        vex_mul_overflow(cap, h->vec_stride, &vbytes) ||
        (slots = vx_mem_alloc_aligned(h->mem, bytes, 64)) == NULL) {
        hnsw_layout(h, 0);
        return;
    }
    if ((vecs = vx_mem_alloc_aligned(h->mem, vbytes, 64)) == NULL) {
        vx_mem_free_aligned(h->mem, slots);
        hnsw_layout(h, 0);
        return;
    }
    for (uint32_t sl = 0; sl < h->n; sl++) {
        const unsigned char *p = old + (size_t)sl * old_bytes;
        memcpy(slots + (size_t)sl * pb, p + old_links, pb);
        memcpy(vecs + (size_t)sl * h->vec_stride, p, h->cfg.vec_bytes);
        memcpy(vecs + (size_t)sl * h->vec_stride + h->aux_off, p + old_aux,
               sizeof(float));
    }
    vx_mem_free_aligned(h->mem, h->slots);
    h->slots = slots;
    h->vecs = vecs;
}

/* Train on the sample, or on an evenly spaced subsample of at most
 * QC_TRAIN_MAX live vectors gathered from the slots; then encode every
 * slot in use (deleted ones too: searches walk through them). */
static int hnsw_train(void *ix, const float *sample, size_t n, vex_err *err)
{
    hnsw *h = ix;
    float *buf = NULL;
    uint32_t sl;
    int rc = VEX_OK;
    pthread_rwlock_wrlock(&h->lock);
    if (h->qc->trained) {
        rc = vx_err_set(err, VEX_MISUSE, "the quantizer is trained already");
        goto done;
    }
    if (sample == NULL) {
        uint64_t live = h->map.count, step, i = 0;
        size_t take = live < QC_TRAIN_MAX ? (size_t)live : QC_TRAIN_MAX;
        step = take ? (live + take - 1) / take : 1;
        buf = vx_mem_alloc(h->mem, (take ? take : 1) * h->cfg.vec_bytes);
        if (buf == NULL) {
            rc = vx_err_set(err, VEX_NOMEM,
                            "out of memory for the training sample");
            goto done;
        }
        n = 0;
        for (sl = 0; sl < h->n && n < take; sl++) {
            if (h->deleted[sl] != 0)
                continue;
            if (i++ % step == 0)
                memcpy(buf + n++ * h->cfg.dim, vec_ptr(h, sl),
                       h->cfg.vec_bytes);
        }
        sample = buf;
    }
    rc = vx_qc_train(h->qc, sample, n, h->cap, err);
    if (rc != VEX_OK)
        goto done;
    for (sl = 0; sl < h->n && rc == VEX_OK; sl++)
        if (h->deleted[sl] != 2)
            rc = vx_qc_encode(h->qc, sl, (const float *)vec_ptr(h, sl), 1, err);
    if (rc != VEX_OK) /* no search saw the codes: the write lock is held */
        vx_qc_untrain(h->qc);
    else
        hnsw_go_apart(h);
done:
    pthread_rwlock_unlock(&h->lock);
    vx_mem_free(h->mem, buf);
    return rc;
}

static size_t hnsw_code_size(void *ix)
{
    hnsw *h = ix;
    return h->qc ? h->qc->code_size : 0;
}

const vex_index_methods vx_hnsw_methods = {
    "hnsw",      hnsw_create,    hnsw_destroy,      hnsw_reserve,
    hnsw_add,    hnsw_remove,    hnsw_get,          hnsw_count,
    hnsw_memory, hnsw_search,    hnsw_search_batch, hnsw_range_search,
    hnsw_check,  hnsw_serialize, hnsw_open,         hnsw_scan,
    hnsw_train,  hnsw_code_size, hnsw_settle_m,     hnsw_links,
    hnsw_score,
};
