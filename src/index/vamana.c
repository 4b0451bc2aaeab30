/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vamana.c - the Vamana graph (see vamana.h for the design).
 *
 * How this differs from the paper's description:
 *  - The initial graph is not random: the first pass starts from an empty
 *    graph and every node links to what a search over the nodes linked so
 *    far finds (the order is random, so early nodes are a uniform sample).
 *    With the back links this gives the same kind of graph as a random
 *    R-regular start but converges in the one alpha = 1 pass; a random
 *    start spends its first pass undoing random links.
 *  - Candidates for pruning are the nodes the search expanded (the
 *    paper's visited set V) plus the node's current links, as in the
 *    paper; the search list L bounds V.
 *  - Lists may grow past R by back links up to about 1.3 R (the build's
 *    slack, as DiskANN's reference build does) before a back link prunes
 *    the target's list to R with the pass's alpha: most back links then
 *    cost an append, not a prune. A last pass prunes every list still
 *    over R, so the finished graph keeps the bound.
 *  - Prune candidates carry the distances the search computed.
 *
 * Link lists live in one array of n * (R + 1) words: word 0 is the count.
 * Writers hold the node's stripe and store the links before the count;
 * readers load the count, then the links (acquire/release), so a reader
 * sees a complete older or newer list.
 */
#include "index/vamana.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "simd/simd.h"
#include "util/rng.h"

#define VAM_STRIPES  256
#define VAM_TASK     64 /* nodes per pool task */
#define VAM_EXPANDED 0x80000000u

struct vx_vamana {
    vex_mem mem;
    const vex_simd_table *s;
    vex_metric metric;
    uint32_t n, dim, R, medoid;
    uint32_t cap;  /* list slots: R, or R with build slack (vam_slack) */
    float *vecs;   /* n * dim, normalised for cosine */
    uint32_t *adj; /* n * (R + 1) */
    pthread_mutex_t stripes[VAM_STRIPES];
};

struct vx_vamana_scratch {
    uint32_t cap;   /* list entries */
    vx_cand *list;  /* cap */
    uint16_t *seen; /* n, generation stamps */
    uint16_t gen;
    float *qbuf; /* dim: the unit query of a cosine search */
    /* build only: expanded nodes, candidates of a prune, chosen links */
    vx_cand *expanded; /* with their distances to the query */
    uint32_t n_expanded;
    vx_cand *pool;
    uint32_t *chosen, *linked;
};

void vx_vamana_params_init(vx_vamana_params *p)
{
    memset(p, 0, sizeof *p);
    p->metric = VEX_METRIC_L2;
    p->R = 64;
    p->L = 100;
    p->alpha = 1.2f;
    p->seed = 1;
}

static inline uint32_t vam_ld(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void vam_st(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint32_t *vam_list(const vx_vamana *g, uint32_t i)
{
    return g->adj + (size_t)i * (g->cap + 1);
}

static inline const float *vam_vec(const vx_vamana *g, uint32_t i)
{
    return g->vecs + (size_t)i * g->dim;
}

static inline float vam_dist(const vx_vamana *g, const float *a, const float *b)
{
    return g->s->l2sq_f32(a, b, g->dim);
}

uint32_t vx_vamana_count(const vx_vamana *g)
{
    return g->n;
}

uint32_t vx_vamana_medoid(const vx_vamana *g)
{
    return g->medoid;
}

const uint32_t *vx_vamana_links(const vx_vamana *g, uint32_t i, uint32_t *n)
{
    const uint32_t *l = vam_list(g, i);
    *n = vam_ld(l);
    return l + 1;
}

/* ---- scratch --------------------------------------------------------- */

static int vam_scratch_make(const vx_vamana *g, uint32_t L, int build,
                            vx_vamana_scratch **out)
{
    vx_vamana_scratch *s = vx_mem_calloc(&g->mem, 1, sizeof *s);
    *out = NULL;
    if (s == NULL)
        return VEX_NOMEM;
    s->cap = L;
    s->list = vx_mem_alloc(&g->mem, ((size_t)L + 1) * sizeof *s->list);
    s->seen = vx_mem_calloc(&g->mem, g->n, sizeof *s->seen);
    s->qbuf = vx_mem_alloc(&g->mem, (size_t)g->dim * sizeof *s->qbuf);
    if (build) {
        /* a search expands at most every list entry once per improvement;
         * bound the record by the node count */
        size_t cap = g->n < (size_t)L * 4 ? g->n : (size_t)L * 4;
        s->expanded = vx_mem_alloc(&g->mem, cap * sizeof *s->expanded);
        /* a prune's candidates: the expanded nodes, the R nearest of the
         * list and the node's own R links */
        s->pool = vx_mem_alloc(&g->mem, (cap + (size_t)g->R + g->cap + 1) *
                                            sizeof *s->pool);
        s->chosen = vx_mem_alloc(&g->mem, (g->R + 1) * sizeof *s->chosen);
        s->linked = vx_mem_alloc(&g->mem, (g->R + 1) * sizeof *s->linked);
    }
    if (s->list == NULL || s->seen == NULL || s->qbuf == NULL ||
        (build && (s->expanded == NULL || s->pool == NULL ||
                   s->chosen == NULL || s->linked == NULL))) {
        vx_vamana_scratch_free(g, s);
        return VEX_NOMEM;
    }
    *out = s;
    return VEX_OK;
}

int vx_vamana_scratch_create(const vx_vamana *g, uint32_t L,
                             vx_vamana_scratch **out)
{
    if (L == 0 || L > 4096) {
        *out = NULL;
        return VEX_INVALID;
    }
    return vam_scratch_make(g, L, 0, out);
}

void vx_vamana_scratch_free(const vx_vamana *g, vx_vamana_scratch *s)
{
    if (s == NULL)
        return;
    vx_mem_free(&g->mem, s->list);
    vx_mem_free(&g->mem, s->seen);
    vx_mem_free(&g->mem, s->qbuf);
    vx_mem_free(&g->mem, s->expanded);
    vx_mem_free(&g->mem, s->pool);
    vx_mem_free(&g->mem, s->chosen);
    vx_mem_free(&g->mem, s->linked);
    vx_mem_free(&g->mem, s);
}

static uint16_t vam_new_gen(const vx_vamana *g, vx_vamana_scratch *s)
{
    if (++s->gen == 0) {
        memset(s->seen, 0, (size_t)g->n * sizeof *s->seen);
        s->gen = 1;
    }
    return s->gen;
}

/* ---- greedy search --------------------------------------------------- */

uint32_t vx_cand_insert(vx_cand *list, uint32_t *n, uint32_t cap, float d,
                        uint32_t id)
{
    uint32_t lo = 0, hi = *n;
    if (*n == cap && d >= list[cap - 1].d)
        return cap;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (list[mid].d <= d)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (*n < cap)
        (*n)++;
    memmove(&list[lo + 1], &list[lo], (size_t)(*n - 1 - lo) * sizeof *list);
    list[lo].d = d;
    list[lo].id = id;
    return lo;
}

/* Greedy search for q with list size L from the medoid; `skip` (a node
 * being linked) is never a result. Records expanded nodes when the
 * scratch has room. Returns the list length (sorted, ids with the
 * expanded bit cleared). */
static uint32_t vam_greedy(const vx_vamana *g, vx_vamana_scratch *s,
                           const float *q, uint32_t L, uint32_t skip,
                           uint64_t *n_dist)
{
    uint16_t gen = vam_new_gen(g, s);
    uint32_t n = 0, i = 0,
             exp_cap = s->expanded ? (g->n < L * 4 ? g->n : L * 4) : 0;
    uint64_t nd = 1;
    s->n_expanded = 0;
    s->seen[g->medoid] = gen;
    if (skip < g->n)
        s->seen[skip] = gen;
    if (g->medoid != skip)
        vx_cand_insert(s->list, &n, L, vam_dist(g, q, vam_vec(g, g->medoid)),
                       g->medoid);
    else
        nd = 0;
    while (i < n) {
        const uint32_t *lk;
        uint32_t cnt, j, node, best = n;
        if (s->list[i].id & VAM_EXPANDED) {
            i++;
            continue;
        }
        node = s->list[i].id;
        if (s->n_expanded < exp_cap)
            s->expanded[s->n_expanded++] = s->list[i];
        s->list[i].id |= VAM_EXPANDED;
        lk = vam_list(g, node);
        cnt = vam_ld(lk);
        if (cnt > g->cap)
            cnt = g->cap;
        for (j = 0; j < cnt; j++) {
            uint32_t x = vam_ld(&lk[1 + j]), at;
            if (x >= g->n || s->seen[x] == gen)
                continue;
            s->seen[x] = gen;
            nd++;
            at = vx_cand_insert(s->list, &n, L, vam_dist(g, q, vam_vec(g, x)),
                                x);
            if (at < best)
                best = at;
        }
        /* continue from the nearest unexpanded entry */
        i = best < i ? best : i + 1;
    }
    for (i = 0; i < n; i++)
        s->list[i].id &= ~VAM_EXPANDED;
    if (n_dist)
        *n_dist += nd;
    return n;
}

size_t vx_vamana_search(const vx_vamana *g, vx_vamana_scratch *s,
                        const float *q, size_t k, uint32_t L, vex_hit *hits,
                        uint64_t *n_dist)
{
    const float *qq = q;
    uint32_t n, i;
    if (L > s->cap)
        L = s->cap;
    if (k > L)
        k = L;
    if (g->n == 0 || k == 0)
        return 0;
    if (g->metric == VEX_METRIC_COSINE) {
        /* the graph holds unit vectors: search for the unit query */
        float nrm = g->s->norm2_f32(q, g->dim);
        float inv = nrm > 0 ? 1.0f / sqrtf(nrm) : 0.0f;
        for (i = 0; i < g->dim; i++)
            s->qbuf[i] = q[i] * inv;
        qq = s->qbuf;
    }
    n = vam_greedy(g, s, qq, L, UINT32_MAX, n_dist);
    if (k > n)
        k = n;
    for (i = 0; i < k; i++) {
        hits[i].id = s->list[i].id;
        hits[i].distance = g->metric == VEX_METRIC_COSINE
                               ? s->list[i].d * 0.5f /* |a-b|^2 = 2 - 2cos */
                               : s->list[i].d;
    }
    return k;
}

/* ---- build ----------------------------------------------------------- */

static int vx_cand_cmp(const void *a, const void *b)
{
    const vx_cand *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Robust prune: from cands (sorted by distance to p, p itself and
 * duplicates absent), choose at most R links: the nearest remaining one,
 * then drop every candidate v it covers (alpha * d(chosen, v) <= d(p, v)).
 * Writes the choice to out; returns its count. */
static uint32_t vam_prune(const vx_vamana *g, vx_cand *cands, uint32_t nc,
                          float alpha, uint32_t *out)
{
    uint32_t k = 0, i, j;
    for (i = 0; i < nc && k < g->R; i++) {
        const float *c;
        if (cands[i].id == UINT32_MAX)
            continue;
        out[k++] = cands[i].id;
        c = vam_vec(g, cands[i].id);
        for (j = i + 1; j < nc; j++)
            if (cands[j].id != UINT32_MAX &&
                alpha * vam_dist(g, c, vam_vec(g, cands[j].id)) <= cands[j].d)
                cands[j].id = UINT32_MAX;
    }
    return k;
}

/* Sort and deduplicate nc candidates of node p (p itself dropped). */
static uint32_t vam_sort_unique(vx_cand *c, uint32_t nc, uint32_t p)
{
    uint32_t i, k = 0;
    qsort(c, nc, sizeof *c, vx_cand_cmp);
    for (i = 0; i < nc; i++)
        if (c[i].id != p && (k == 0 || c[k - 1].id != c[i].id))
            c[k++] = c[i];
    /* an id's distance is the same wherever it was computed (the same
     * kernel on the same vectors), so its copies are adjacent */
    return k;
}

static void vam_write(uint32_t *lk, const uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        vam_st(&lk[1 + i], ids[i]);
    vam_st(&lk[0], n);
}

/* Add `from` to `to`'s list; prune with alpha when full. */
static void vam_link_back(const vx_vamana *g, vx_vamana_scratch *s, uint32_t to,
                          uint32_t from, float alpha)
{
    pthread_mutex_t *mu = (pthread_mutex_t *)&g->stripes[to % VAM_STRIPES];
    uint32_t *lk = vam_list(g, to), cnt, i, nc;
    const float *tv = vam_vec(g, to);
    pthread_mutex_lock(mu);
    cnt = vam_ld(lk);
    for (i = 0; i < cnt; i++)
        if (vam_ld(&lk[1 + i]) == from)
            break;
    if (i < cnt) {
        pthread_mutex_unlock(mu);
        return;
    }
    if (cnt < g->cap) { /* room, slack included: no prune yet */
        vam_st(&lk[1 + cnt], from);
        vam_st(&lk[0], cnt + 1);
        pthread_mutex_unlock(mu);
        return;
    }
    for (i = 0; i < cnt; i++) {
        uint32_t x = vam_ld(&lk[1 + i]);
        s->pool[i].id = x;
        s->pool[i].d = vam_dist(g, tv, vam_vec(g, x));
    }
    s->pool[cnt].id = from;
    s->pool[cnt].d = vam_dist(g, tv, vam_vec(g, from));
    nc = vam_sort_unique(s->pool, cnt + 1, to);
    /* pruned to R, not to the slack: the list has room again for a
     * while */
    nc = vam_prune(g, s->pool, nc, alpha, s->chosen);
    vam_write(lk, s->chosen, nc);
    pthread_mutex_unlock(mu);
}

/* Link node p: search for it, prune the expanded nodes and its current
 * links, write its list, link back. */
static void vam_link(const vx_vamana *g, vx_vamana_scratch *s, uint32_t L,
                     uint32_t p, float alpha)
{
    pthread_mutex_t *mu = (pthread_mutex_t *)&g->stripes[p % VAM_STRIPES];
    uint32_t *lk = vam_list(g, p), nc = 0, cnt, i, k;
    const float *pv = vam_vec(g, p);
    uint32_t nl = vam_greedy(g, s, pv, L, p, NULL);
    /* V: every expanded node (the list's entries too, which a short
     * search may not have expanded) */
    for (i = 0; i < s->n_expanded; i++) {
        s->pool[nc++] = s->expanded[i]; /* the search's own distance */
    }
    for (i = 0; i < nl && i < g->R; i++)
        s->pool[nc++] = s->list[i];
    pthread_mutex_lock(mu);
    cnt = vam_ld(lk);
    for (i = 0; i < cnt; i++) {
        uint32_t x = vam_ld(&lk[1 + i]);
        s->pool[nc].id = x;
        s->pool[nc++].d = vam_dist(g, pv, vam_vec(g, x));
    }
    nc = vam_sort_unique(s->pool, nc, p);
    k = vam_prune(g, s->pool, nc, alpha, s->chosen);
    vam_write(lk, s->chosen, k);
    /* the choice is copied before the back links reuse the scratch */
    memcpy(s->linked, s->chosen, (size_t)k * sizeof *s->chosen);
    pthread_mutex_unlock(mu);
    for (i = 0; i < k; i++)
        vam_link_back(g, s, s->linked[i], p, alpha);
}

/* Prune node p's list to R if back links grew it into the slack. */
static void vam_trim(const vx_vamana *g, vx_vamana_scratch *s, uint32_t p,
                     float alpha)
{
    uint32_t *lk = vam_list(g, p), cnt = vam_ld(lk), nc;
    const float *pv = vam_vec(g, p);
    if (cnt <= g->R)
        return;
    for (uint32_t i = 0; i < cnt; i++) {
        s->pool[i].id = vam_ld(&lk[1 + i]);
        s->pool[i].d = vam_dist(g, pv, vam_vec(g, s->pool[i].id));
    }
    nc = vam_sort_unique(s->pool, cnt, p);
    nc = vam_prune(g, s->pool, nc, alpha, s->chosen);
    vam_write(lk, s->chosen, nc);
}

typedef struct vam_job {
    const vx_vamana *g;
    vx_vamana_scratch **scratch;
    const uint32_t *order;
    size_t n;
    uint32_t L;
    float alpha;
    const _Atomic int *cancel;
} vam_job;

static void vam_task(void *arg, size_t task, unsigned worker)
{
    const vam_job *j = arg;
    size_t i = task * VAM_TASK, end = i + VAM_TASK < j->n ? i + VAM_TASK : j->n;
    for (; i < end && !(j->cancel && atomic_load(j->cancel)); i++)
        vam_link(j->g, j->scratch[worker], j->L, j->order[i], j->alpha);
}

/* Mark and queue what is reachable from queue[head..*tail). */
static void vam_grow(const vx_vamana *g, uint8_t *seen, uint32_t *queue,
                     uint32_t head, uint32_t *tail)
{
    while (head < *tail) {
        const uint32_t *lk = vam_list(g, queue[head++]);
        uint32_t cnt = vam_ld(lk);
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t x = vam_ld(&lk[1 + i]);
            if (!seen[x]) {
                seen[x] = 1;
                queue[(*tail)++] = x;
            }
        }
    }
}

/* The farthest link of node b (position in its list). */
static uint32_t vam_farthest(const vx_vamana *g, uint32_t b)
{
    const uint32_t *lk = vam_list(g, b);
    uint32_t cnt = vam_ld(lk), far = 0;
    float fd = -1;
    for (uint32_t i = 0; i < cnt; i++) {
        float d = vam_dist(g, vam_vec(g, b), vam_vec(g, lk[1 + i]));
        if (d > fd) {
            fd = d;
            far = i;
        }
    }
    return far;
}

/* Pruning in parallel (and, rarely, alone) can drop a node's last
 * in-link. After the passes, walk from the medoid and link every node the
 * walk misses from the nearest reachable node a search for it finds (a
 * free place in that node's list, else the place of its farthest link t,
 * which the stranded node then links to, so nothing reachable before
 * becomes unreachable), and grow the walk from it. Single-threaded. */
static int vam_connect(vx_vamana *g, vx_vamana_scratch *s)
{
    uint8_t *seen = vx_mem_calloc(&g->mem, g->n, 1);
    uint32_t *queue = vx_mem_alloc(&g->mem, (size_t)g->n * sizeof *queue);
    uint32_t tail = 0;
    if (seen == NULL || queue == NULL) {
        vx_mem_free(&g->mem, seen);
        vx_mem_free(&g->mem, queue);
        return VEX_NOMEM;
    }
    queue[tail++] = g->medoid;
    seen[g->medoid] = 1;
    vam_grow(g, seen, queue, 0, &tail);
    for (uint32_t u = 0; u < g->n && tail < g->n; u++) {
        uint32_t nl, b = g->medoid, head, *lb, *lu, cb, cu, t;
        if (seen[u])
            continue;
        nl = vam_greedy(g, s, vam_vec(g, u), s->cap, u, NULL);
        for (uint32_t i = 0; i < nl; i++)
            if (seen[s->list[i].id]) {
                b = s->list[i].id;
                break;
            }
        lb = vam_list(g, b);
        cb = vam_ld(lb);
        if (cb < g->R) {
            vam_st(&lb[1 + cb], u);
            vam_st(&lb[0], cb + 1);
        } else {
            uint32_t far = vam_farthest(g, b), i;
            t = vam_ld(&lb[1 + far]);
            lu = vam_list(g, u);
            cu = vam_ld(lu);
            for (i = 0; i < cu && vam_ld(&lu[1 + i]) != t; i++)
                ;
            if (i == cu && cu < g->R) {
                vam_st(&lu[1 + cu], t);
                vam_st(&lu[0], cu + 1);
            } else if (i == cu) {
                vam_st(&lu[1 + vam_farthest(g, u)], t);
            }
            vam_st(&lb[1 + far], u);
        }
        head = tail;
        seen[u] = 1;
        queue[tail++] = u;
        vam_grow(g, seen, queue, head, &tail);
    }
    vx_mem_free(&g->mem, seen);
    vx_mem_free(&g->mem, queue);
    return VEX_OK;
}

static void vam_trim_task(void *arg, size_t task, unsigned worker)
{
    const vam_job *j = arg;
    size_t i = task * VAM_TASK, end = i + VAM_TASK < j->n ? i + VAM_TASK : j->n;
    for (; i < end; i++)
        vam_trim(j->g, j->scratch[worker], (uint32_t)i, j->alpha);
}

void vx_vamana_free(vx_vamana *g)
{
    vex_mem mem;
    if (g == NULL)
        return;
    mem = g->mem;
    for (int i = 0; i < VAM_STRIPES; i++)
        pthread_mutex_destroy(&g->stripes[i]);
    vx_mem_free_aligned(&mem, g->vecs);
    vx_mem_free(&mem, g->adj);
    vx_mem_free(&mem, g);
}

/* The node nearest the centroid. */
static uint32_t vam_medoid(const vx_vamana *g, double *acc, float *cen)
{
    uint32_t best = 0, i, d;
    float bd = INFINITY;
    memset(acc, 0, (size_t)g->dim * sizeof *acc);
    for (i = 0; i < g->n; i++)
        for (d = 0; d < g->dim; d++)
            acc[d] += vam_vec(g, i)[d];
    for (d = 0; d < g->dim; d++)
        cen[d] = (float)(acc[d] / g->n);
    for (i = 0; i < g->n; i++) {
        float x = vam_dist(g, cen, vam_vec(g, i));
        if (x < bd) {
            bd = x;
            best = i;
        }
    }
    return best;
}

int vx_vamana_build(const vex_mem *mem, vex_pool *pool, const float *vecs,
                    size_t n, uint32_t dim, const vx_vamana_params *p,
                    vx_vamana **out, vex_err *err)
{
    vx_vamana *g;
    vx_vamana_scratch *scratch[VEX_MAX_THREADS];
    unsigned width, w;
    uint32_t *order = NULL;
    double *acc = NULL;
    float *cen = NULL;
    vex_rng rng;
    int rc = VEX_OK;
    *out = NULL;
    if (p->metric != VEX_METRIC_L2 && p->metric != VEX_METRIC_COSINE)
        return vx_err_set(err, VEX_INVALID,
                          "vamana: metric %s is not supported (l2, cosine)",
                          vex_metric_name(p->metric));
    if (p->R < 4 || p->R > 256 || p->L < p->R || p->L > 4096)
        return vx_err_set(err, VEX_INVALID,
                          "vamana: R %u must be 4..256 and L %u R..4096", p->R,
                          p->L);
    if (!(p->alpha >= 1.0f && p->alpha <= 2.0f))
        return vx_err_set(err, VEX_INVALID, "vamana: alpha %g must be 1..2",
                          (double)p->alpha);
    if (n == 0 || n >= UINT32_MAX / 2 || dim == 0 || dim > VEX_MAX_DIM)
        return vx_err_set(err, VEX_INVALID,
                          "vamana: %zu vectors of %u dimensions", n, dim);
    g = vx_mem_calloc(mem, 1, sizeof *g);
    if (g == NULL)
        return vx_err_set(err, VEX_NOMEM, "vamana: out of memory");
    g->mem = *mem;
    g->s = vx_simd();
    g->metric = p->metric;
    g->n = (uint32_t)n;
    g->dim = dim;
    g->R = p->R;
    g->cap = p->R + (3 * p->R + 9) / 10; /* build slack: about 1.3 R */
    for (int i = 0; i < VAM_STRIPES; i++)
        pthread_mutex_init(&g->stripes[i], NULL);
    g->vecs = vx_mem_alloc_aligned(mem, n * dim * sizeof(float), 64);
    g->adj = vx_mem_calloc(mem, n * (g->cap + 1), sizeof *g->adj);
    order = vx_mem_alloc(mem, n * sizeof *order);
    acc = vx_mem_alloc(mem, dim * sizeof *acc);
    cen = vx_mem_alloc(mem, dim * sizeof *cen);
    if (g->vecs == NULL || g->adj == NULL || order == NULL || acc == NULL ||
        cen == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "vamana: out of memory for %zu nodes",
                        n);
        goto done;
    }
    memcpy(g->vecs, vecs, n * dim * sizeof(float));
    if (p->metric == VEX_METRIC_COSINE)
        for (size_t i = 0; i < n; i++) {
            float *v = g->vecs + i * dim;
            float nrm = g->s->norm2_f32(v, dim);
            if (nrm > 0) {
                float inv = 1.0f / sqrtf(nrm);
                for (uint32_t d = 0; d < dim; d++)
                    v[d] *= inv;
            }
        }
    g->medoid = vam_medoid(g, acc, cen);
    width = pool ? vx_pool_width(pool, p->n_threads) : 1;
    if (n < 4 * VAM_TASK)
        width = 1;
    memset(scratch, 0, sizeof scratch);
    for (w = 0; w < width && rc == VEX_OK; w++)
        if (vam_scratch_make(g, p->L, 1, &scratch[w]) != VEX_OK)
            rc = vx_err_set(err, VEX_NOMEM,
                            "vamana: out of memory for "
                            "build scratch");
    if (rc == VEX_OK) {
        vex_rng_seed(&rng, p->seed);
        for (size_t i = 0; i < n; i++)
            order[i] = (uint32_t)i;
        for (int pass = 0; pass < 2; pass++) {
            vam_job job = {g,        scratch, order,
                           n,        p->L,    pass == 0 ? 1.0f : p->alpha,
                           p->cancel};
            for (size_t i = n - 1; i > 0; i--) { /* a new order per pass */
                size_t j = (size_t)vex_rng_below(&rng, i + 1);
                uint32_t t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            if (width == 1)
                for (size_t i = 0;
                     i < n && !(p->cancel && atomic_load(p->cancel)); i++)
                    vam_link(g, scratch[0], p->L, order[i], job.alpha);
            else
                vx_pool_run(pool, (n + VAM_TASK - 1) / VAM_TASK, width,
                            vam_task, &job);
        }
        if (p->cancel && atomic_load(p->cancel))
            rc = vx_err_set(err, VEX_BUSY, "vamana: cancelled");
        /* lists that grew into the slack are pruned to R */
        if (rc == VEX_OK) {
            vam_job job = {g, scratch, NULL, n, p->L, p->alpha, p->cancel};
            if (width == 1)
                for (size_t i = 0; i < n; i++)
                    vam_trim(g, scratch[0], (uint32_t)i, p->alpha);
            else
                vx_pool_run(pool, (n + VAM_TASK - 1) / VAM_TASK, width,
                            vam_trim_task, &job);
        }
        if (rc == VEX_OK && vam_connect(g, scratch[0]) != VEX_OK)
            rc = vx_err_set(err, VEX_NOMEM,
                            "vamana: out of memory for the reachability pass");
    }
    for (w = 0; w < VEX_MAX_THREADS; w++)
        vx_vamana_scratch_free(g, scratch[w]);
done:
    vx_mem_free(mem, order);
    vx_mem_free(mem, acc);
    vx_mem_free(mem, cen);
    if (rc != VEX_OK) {
        vx_vamana_free(g);
        return rc;
    }
    *out = g;
    return VEX_OK;
}

int vx_vamana_unreachable(const vx_vamana *g, const vex_mem *mem,
                          uint32_t *count)
{
    uint8_t *seen = vx_mem_calloc(mem, g->n, 1);
    uint32_t *queue = vx_mem_alloc(mem, (size_t)g->n * sizeof *queue);
    uint32_t head = 0, tail = 0, reached;
    if (seen == NULL || queue == NULL) {
        vx_mem_free(mem, seen);
        vx_mem_free(mem, queue);
        return VEX_NOMEM;
    }
    queue[tail++] = g->medoid;
    seen[g->medoid] = 1;
    while (head < tail) {
        uint32_t cnt;
        const uint32_t *lk = vx_vamana_links(g, queue[head++], &cnt);
        for (uint32_t i = 0; i < cnt; i++)
            if (!seen[lk[i]]) {
                seen[lk[i]] = 1;
                queue[tail++] = lk[i];
            }
    }
    reached = tail;
    vx_mem_free(mem, seen);
    vx_mem_free(mem, queue);
    *count = g->n - reached;
    return VEX_OK;
}
