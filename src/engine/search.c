/*
 * search.c - k-NN search of a collection: vex_search and
 * vex_search_batch over a snapshot's sources (memtables and segments),
 * with the user's filter callback or a compiled metadata filter
 * (vex_search_params.where) planned per segment, and the fan-out of
 * sources over the database's pool.
 */
#include <string.h>

#include "engine/coll_int.h"
#include "simd/simd.h"
#include "storage/segment.h"
#include "util/topk.h"

/* A segment's search filter: the snapshot sees the key (V6), and the
 * user's filter accepts its id. */
typedef struct seg_filter {
    const vseg *g;
    uint64_t seq;
    vex_filter_fn user;
    void *user_ctx;
} seg_filter;

static int seg_accept(uint64_t key, void *ctx)
{
    const seg_filter *f = ctx;
    if (!vseg_visible(f->g, key, f->seq))
        return 0;
    return f->user == NULL || f->user(vx_seg_key_id(f->g->s, key), f->user_ctx);
}

/* k-NN of one segment at snapshot seq into `top`. When top is already
 * full (an earlier source), its worst distance is the cut of the graph
 * walk (vx_index_search_cut): the beam stops widening past it. */
static int search_seg(vex_collection *c, vseg *g, uint64_t seq,
                      const void *query, size_t k, const vex_search_params *up,
                      vex_hit *tmp, vex_topk *top)
{
    vex_search_params sp;
    seg_filter sf = {g, seq, up->filter, up->filter_ctx};
    vex_index *ix;
    size_t n = 0;
    int rc = vx_vseg_index(g, &ix, &c->err);
    if (rc != VEX_OK)
        return rc;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    if (g->info.index_kind == VEX_INDEX_HNSW) {
        sp.ef_search = up->ef_search;
        sp.filter_max_ef = up->filter_max_ef;
    }
    sp.refine = up->refine; /* checked against the config */
    /* deletes published after the snapshot have larger sequence numbers,
     * so a segment with no delete array now had none then */
    if (g->info.n_rows != g->info.n_keys || up->filter ||
        atomic_load_explicit(&g->del, memory_order_acquire) != NULL) {
        sp.filter = seg_accept;
        sp.filter_ctx = &sf;
    } else {
        sp.filter_max_ef = 0;
    }
    rc = vx_index_search_cut(ix, query, k, &sp, vex_topk_bound(top), tmp, &n);
    if (rc != VEX_OK)
        return vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                          vex_index_errmsg(ix));
    for (size_t i = 0; i < n; i++)
        vex_topk_push(top, tmp[i].distance, vx_seg_key_id(g->s, tmp[i].id));
    return VEX_OK;
}

void vex_search_stats_init(vex_search_stats *st)
{
    if (st == NULL)
        return;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
}

/* Plan thresholds (vexdb.h): exact up to max(PLAN_EXACT_MIN, n / 100)
 * matches, post-filtering from 90% of the rows. */
#define PLAN_EXACT_MIN 4096
#define EXACT_BLOCK    64
#define EXACT_STACK    16384 /* bytes of vectors copied out at a time */
#define POST_STACK     256   /* post-filter candidates on the stack */

static int bit_is(const uint64_t *b, uint64_t k)
{
    return (int)((b[k >> 6] >> (k & 63)) & 1);
}

/* A segment key is a candidate when its record matched and the snapshot
 * sees it. */
typedef struct match_ctx {
    const uint64_t *bits;
    const vseg *g;
    uint64_t seq;
} match_ctx;

static int bits_accept(uint64_t key, void *ctx)
{
    const match_ctx *mc = ctx;
    return bit_is(mc->bits, key) && vseg_visible(mc->g, key, mc->seq);
}

/* The exact distance from `query` to every key set in `bits` (through
 * the segment's index: vectors copied out in blocks and scored with the
 * flat kernels, so distances are bit-identical to a flat search). */
static int seg_exact(vex_collection *c, vseg *g, vex_index *ix,
                     const uint64_t *bits, uint64_t seq, const void *query,
                     vex_topk *top)
{
    const vex_simd_table *st = vx_simd();
    /* vectors are copied out in blocks through a stack buffer (no
     * allocation) unless one vector is bigger than it */
    _Alignas(64) unsigned char stack[EXACT_STACK];
    size_t block = EXACT_STACK / c->vec_bytes;
    unsigned char *buf = stack;
    float aux[EXACT_BLOCK], dist[EXACT_BLOCK], qaux;
    uint64_t keys[EXACT_BLOCK], n_keys = g->info.n_keys;
    size_t cnt = 0;
    int f32 = c->icfg.elem == VEX_ELEM_F32;
    if (block > EXACT_BLOCK)
        block = EXACT_BLOCK;
    if (block == 0) {
        block = 1;
        buf = vx_mem_alloc(c->mem, c->vec_bytes);
        if (buf == NULL)
            return vx_coll_nomem(c);
    }
    qaux = f32 ? vx_exact_query_aux(&c->icfg, st, query) : 0.0f;
    for (uint64_t w = 0; w < (n_keys + 63) / 64; w++) {
        uint64_t word = bits[w];
        while (word) {
            uint64_t key = w * 64 + (uint64_t)__builtin_ctzll(word);
            unsigned char *v = buf + cnt * c->vec_bytes;
            word &= word - 1;
            if (!vseg_visible(g, key, seq))
                continue;
            if (vex_index_get(ix, key, v) != VEX_OK) {
                if (buf != stack)
                    vx_mem_free(c->mem, buf);
                return vx_err_set(&c->err, VEX_CORRUPT,
                                  "%s: key %llu is live but not in the index",
                                  vx_seg_path(g->s), (unsigned long long)key);
            }
            aux[cnt] = f32 ? vx_exact_vec_aux(&c->icfg, st, v) : 0.0f;
            keys[cnt++] = key;
            if (cnt == block) {
                vx_exact_block(&c->icfg, st, query, qaux, buf, cnt, aux, dist);
                for (size_t j = 0; j < cnt; j++)
                    vex_topk_push(top, dist[j], vx_seg_key_id(g->s, keys[j]));
                cnt = 0;
            }
        }
    }
    if (cnt) {
        vx_exact_block(&c->icfg, st, query, qaux, buf, cnt, aux, dist);
        for (size_t j = 0; j < cnt; j++)
            vex_topk_push(top, dist[j], vx_seg_key_id(g->s, keys[j]));
    }
    if (buf != stack)
        vx_mem_free(c->mem, buf);
    return VEX_OK;
}

/* k-NN over the rows of segment g visible at the snapshot whose metadata
 * `where` matches: the filter's match set (cached in the segment), then
 * the plan from its size m (deletes not subtracted: an estimate). */
static int search_seg_where(vex_collection *c, vseg *g, const vx_snap *sn,
                            const void *query, size_t k,
                            const vex_search_params *up, vex_hit *tmp,
                            vex_topk *top)
{
    const vex_filter *vf = up->where;
    const vx_match *match = NULL;
    const uint64_t *bits = NULL;
    int built = 0;
    uint64_t m = 0, n = g->info.n_rows;
    vex_hit post_stack[POST_STACK], *more = NULL;
    vex_index *ix;
    vex_search_params sp;
    match_ctx mc;
    size_t nh = 0, want;
    int rc, plan;
    rc = vx_vseg_match(g, vf->id, vf->f, &match, &built, &c->err);
    if (rc == VEX_OK && built && sn->qs)
        atomic_fetch_add(&sn->qs->built, 1);
    if (rc == VEX_OK) {
        bits = match->bits;
        m = match->count;
    }
    if (rc == VEX_OK)
        rc = vx_vseg_index(g, &ix, &c->err);
    if (rc != VEX_OK)
        goto out;
    if (sn->qs)
        atomic_fetch_add(&sn->qs->matched, m);
    if (m == 0)
        goto out;
    mc.bits = bits;
    mc.g = g;
    mc.seq = sn->seq;
    want = k < m ? k : (size_t)m;
    if (g->info.index_kind != VEX_INDEX_HNSW ||
        m <= (n / 100 > PLAN_EXACT_MIN ? n / 100 : PLAN_EXACT_MIN))
        plan = 0;
    else if (m * 10 >= n * 9)
        plan = 2;
    else
        plan = 1;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    if (plan == 0 && g->info.index_kind != VEX_INDEX_HNSW) {
        /* a flat index is exact with the match set as its filter */
        sp.filter = bits_accept;
        sp.filter_ctx = &mc;
        rc = vex_index_search(ix, query, k, &sp, tmp, &nh);
        if (rc != VEX_OK) {
            rc = vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                            vex_index_errmsg(ix));
            goto out;
        }
        for (size_t i = 0; i < nh; i++)
            vex_topk_push(top, tmp[i].distance, vx_seg_key_id(g->s, tmp[i].id));
    } else if (plan == 0) {
        rc = seg_exact(c, g, ix, bits, sn->seq, query, top);
    } else if (plan == 1) {
        sp.ef_search = up->ef_search;
        sp.filter_max_ef = up->filter_max_ef;
        sp.filter = bits_accept;
        sp.filter_ctx = &mc;
        rc = vex_index_search(ix, query, k, &sp, tmp, &nh);
        if (rc != VEX_OK) {
            rc = vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                            vex_index_errmsg(ix));
            goto out;
        }
        if (nh >= want) {
            for (size_t i = 0; i < nh; i++)
                vex_topk_push(top, tmp[i].distance,
                              vx_seg_key_id(g->s, tmp[i].id));
        } else {
            if (sn->qs)
                atomic_fetch_add(&sn->qs->fallbacks, 1);
            rc = seg_exact(c, g, ix, bits, sn->seq, query, top);
        }
    } else {
        /* post-filter: enough candidates that about k of them match */
        seg_filter sf = {g, sn->seq, NULL, NULL};
        double extra = (double)k * (double)(n - m) / (double)m * 2.0;
        size_t kk = k + (size_t)extra + 8, got = 0;
        if (kk > VEX_MAX_K)
            kk = VEX_MAX_K;
        if (kk > n)
            kk = (size_t)n;
        more = kk <= POST_STACK ? post_stack
                                : vx_mem_alloc(c->mem, kk * sizeof *more);
        if (more == NULL) {
            rc = vx_coll_nomem(c);
            goto out;
        }
        sp.ef_search = up->ef_search > kk ? up->ef_search : (uint32_t)kk;
        if (g->info.n_rows != g->info.n_keys ||
            atomic_load_explicit(&g->del, memory_order_acquire) != NULL) {
            sp.filter = seg_accept;
            sp.filter_ctx = &sf;
        }
        rc = vex_index_search(ix, query, kk, &sp, more, &nh);
        if (rc != VEX_OK) {
            rc = vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                            vex_index_errmsg(ix));
            goto out;
        }
        for (size_t i = 0; i < nh; i++)
            got += (size_t)bit_is(bits, more[i].id);
        if (got >= want) {
            for (size_t i = 0; i < nh; i++)
                if (bit_is(bits, more[i].id))
                    vex_topk_push(top, more[i].distance,
                                  vx_seg_key_id(g->s, more[i].id));
        } else {
            if (sn->qs)
                atomic_fetch_add(&sn->qs->fallbacks, 1);
            rc = seg_exact(c, g, ix, bits, sn->seq, query, top);
        }
    }
    if (sn->qs)
        atomic_fetch_add(plan == 0   ? &sn->qs->exact
                         : plan == 1 ? &sn->qs->graph
                                     : &sn->qs->post,
                         1);
out:
    if (more != post_stack)
        vx_mem_free(c->mem, more);
    vx_vseg_match_release(g, match);
    return rc;
}

/* Check the arguments common to vex_search and vex_search_batch. */
static int check_search(vex_collection *c, size_t k,
                        const vex_search_params *params)
{
    if (k == 0 || k > VEX_MAX_K)
        return vx_err_set(&c->err, VEX_INVALID, "k is %zu, must be 1..%d", k,
                          VEX_MAX_K);
    if (params->struct_size != sizeof(vex_search_params))
        return vx_err_set(&c->err, VEX_MISUSE,
                          "params.struct_size is %u, expected %zu: fill the "
                          "struct with vex_search_params_init()",
                          params->struct_size, sizeof(vex_search_params));
    if (params->n_threads > VEX_MAX_THREADS)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.n_threads is %u, must be 0..%d",
                          params->n_threads, VEX_MAX_THREADS);
    if (params->ef_search > VEX_MAX_K || params->filter_max_ef > VEX_MAX_K)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.ef_search and filter_max_ef must be "
                          "0..%d",
                          VEX_MAX_K);
    if (params->filter_max_ef && params->filter == NULL &&
        params->where == NULL)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.filter_max_ef is set but there is no "
                          "filter");
    if (params->refine != 0.0f &&
        (c->cfg.quant == 0 ||
         !(params->refine >= 1.0f && params->refine <= 1000.0f)))
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.refine is %g: it must be 0, or 1..1000 "
                          "for a collection with a quantizer",
                          (double)params->refine);
    if (params->filter && params->where)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.filter and params.where cannot be "
                          "combined");
    if ((params->ef_search || params->filter_max_ef) &&
        c->cfg.index_kind == VEX_INDEX_FLAT)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.ef_search and filter_max_ef must be 0 for "
                          "a flat collection, which is exact");
    return VEX_OK;
}

/* Search source i of snapshot s (memtables first, then segments). */
static int search_source(vex_collection *c, const vx_snap *s, uint32_t i,
                         const void *query, size_t k,
                         const vex_search_params *p, vex_hit *tmp,
                         vex_topk *top)
{
    if (i < s->v->n_mts) {
        const memtable *m = s->v->mts[i];
        size_t plan = 0;
        int rc;
        if (mt_rows(m) == 0)
            return VEX_OK;
        if (s->qs)
            atomic_fetch_add(&s->qs->sources, 1);
        if (p->where == NULL)
            return vx_mt_search(m, query, k, s->seq, p->filter, p->filter_ctx,
                                p->ef_search, p->filter_max_ef, tmp, top,
                                &c->err);
        rc = vx_mt_search_where(m, query, k, s->seq, p->where->f, 0,
                                p->ef_search, p->filter_max_ef, tmp, top, &plan,
                                &c->err);
        if (s->qs)
            atomic_fetch_add(plan == MT_PLAN_EXACT   ? &s->qs->exact
                             : plan == MT_PLAN_GRAPH ? &s->qs->graph
                                                     : &s->qs->fallbacks,
                             1);
        return rc;
    }
    i -= s->v->n_mts;
    if (s->v->segs[i]->info.n_rows == 0)
        return VEX_OK;
    if (s->qs)
        atomic_fetch_add(&s->qs->sources, 1);
    if (p->where)
        return search_seg_where(c, s->v->segs[i], s, query, k, p, tmp, top);
    return search_seg(c, s->v->segs[i], s->seq, query, k, p, tmp, top);
}

static uint64_t source_rows(const vx_snap *s, uint32_t i)
{
    if (i < s->v->n_mts)
        return mt_rows(s->v->mts[i]);
    return s->v->segs[i - s->v->n_mts]->info.n_rows;
}

/* Fan-out: one task per source, each into its own top-k. A source of
 * fewer than FANOUT_MIN_ROWS rows is not worth a hand-off to a worker;
 * below two big sources the search stays on the calling thread. */
#define FANOUT_MIN_ROWS 20000
#define FANOUT_STACK    2048 /* hits on the stack: sources x k x 2 */

typedef struct fanout {
    vex_collection *c;
    const vx_snap *s;
    const void *query;
    size_t k;
    const vex_search_params *p;
    vex_hit *space; /* per source: k result slots, then k scratch */
    size_t *counts;
    int *rcs;
} fanout;

static void fanout_task(void *arg, size_t task, unsigned worker)
{
    fanout *f = arg;
    vex_hit *res = f->space + task * 2 * f->k;
    vex_topk top;
    (void)worker;
    vex_topk_init(&top, res, f->k);
    f->rcs[task] = search_source(f->c, f->s, (uint32_t)task, f->query, f->k,
                                 f->p, res + f->k, &top);
    f->counts[task] = top.n;
}

/* k-NN over snapshot s into `top`; `tmp` has room for k hits. */
static int search_snap(vex_collection *c, const vx_snap *s, const void *query,
                       size_t k, const vex_search_params *p, unsigned width,
                       vex_hit *tmp, vex_topk *top)
{
    uint32_t n_src = s->v->n_mts + s->v->n_segs, big = 0;
    int rc = VEX_OK;
    for (uint32_t i = 0; i < n_src; i++)
        big += source_rows(s, i) >= FANOUT_MIN_ROWS;
    if (width > 1 && big >= 2) {
        vex_hit stack_space[FANOUT_STACK];
        size_t stack_counts[64];
        int stack_rcs[64];
        size_t need = (size_t)n_src * 2 * k;
        fanout f = {c, s, query, k, p, stack_space, stack_counts, stack_rcs};
        if (need > FANOUT_STACK || n_src > 64) {
            f.space = vx_mem_alloc(c->mem, need * sizeof *f.space);
            f.counts = vx_mem_alloc(c->mem, n_src * sizeof *f.counts);
            f.rcs = vx_mem_alloc(c->mem, n_src * sizeof *f.rcs);
            if (f.space == NULL || f.counts == NULL || f.rcs == NULL) {
                vx_mem_free(c->mem, f.space);
                vx_mem_free(c->mem, f.counts);
                vx_mem_free(c->mem, f.rcs);
                return vx_coll_nomem(c);
            }
        }
        vx_pool_run(c->db->pool, n_src, width, fanout_task, &f);
        for (uint32_t i = 0; i < n_src; i++) {
            const vex_hit *res = f.space + (size_t)i * 2 * k;
            if (f.rcs[i] != VEX_OK && rc == VEX_OK)
                rc = f.rcs[i];
            for (size_t j = 0; j < f.counts[i]; j++)
                vex_topk_push(top, res[j].distance, res[j].id);
        }
        if (f.space != stack_space) {
            vx_mem_free(c->mem, f.space);
            vx_mem_free(c->mem, f.counts);
            vx_mem_free(c->mem, f.rcs);
        }
        return rc;
    }
    /* One after another, the largest source first: its k results give
     * the smaller sources a cut (see search_seg) that stops their graph
     * walks once nothing nearer can be found, which is most of the cost
     * of many small sources at a large ef. */
    uint32_t first = 0;
    for (uint32_t i = 1; i < n_src; i++)
        if (source_rows(s, i) > source_rows(s, first))
            first = i;
    if (n_src)
        rc = search_source(c, s, first, query, k, p, tmp, top);
    for (uint32_t i = 0; i < n_src && rc == VEX_OK; i++)
        if (i != first)
            rc = search_source(c, s, i, query, k, p, tmp, top);
    return rc;
}

static unsigned search_width(vex_collection *c, const vex_search_params *p)
{
    return vx_pool_width(c->db->pool, p->n_threads);
}

int vex_search(vex_collection *c, const void *query, size_t k,
               const vex_search_params *params, vex_hit *hits,
               void *vectors_out, size_t *n_hits)
{
    vex_search_params dflt;
    vex_hit stack_tmp[256], *tmp = stack_tmp;
    vex_topk top;
    char why[160];
    vx_snap s;
    vx_qstats qs;
    int rc = VEX_OK;

    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (n_hits)
        *n_hits = 0;
    if (query == NULL || hits == NULL || n_hits == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "query, hits and n_hits must not be NULL");
    if (params == NULL) {
        vex_search_params_init(&dflt);
        params = &dflt;
    }
    if ((rc = check_search(c, k, params)) != VEX_OK)
        return rc;
    if (vx_vector_check(&c->icfg, query, why, sizeof why) != VEX_OK)
        return vx_err_set(&c->err, VEX_INVALID, "query: %s", why);
    if (params->stats && params->stats->struct_size != sizeof(vex_search_stats))
        return vx_err_set(&c->err, VEX_MISUSE,
                          "params.stats.struct_size is %u, expected %zu: "
                          "fill it with vex_search_stats_init()",
                          params->stats->struct_size, sizeof(vex_search_stats));
    atomic_init(&qs.sources, 0);
    atomic_init(&qs.exact, 0);
    atomic_init(&qs.graph, 0);
    atomic_init(&qs.post, 0);
    atomic_init(&qs.fallbacks, 0);
    atomic_init(&qs.matched, 0);
    atomic_init(&qs.built, 0);
    if (k > sizeof stack_tmp / sizeof stack_tmp[0]) {
        tmp = vx_mem_alloc(c->mem, k * sizeof *tmp);
        if (tmp == NULL)
            return vx_coll_nomem(c);
    }
    vex_topk_init(&top, hits, k);
    vx_coll_snap_take(c, &s);
    s.qs = params->stats ? &qs : NULL;
    rc = search_snap(c, &s, query, k, params, search_width(c, params), tmp,
                     &top);
    if (params->stats) {
        vex_search_stats *st = params->stats;
        st->sources = atomic_load(&qs.sources);
        st->rows_matched = atomic_load(&qs.matched);
        st->plan_exact = atomic_load(&qs.exact);
        st->plan_graph = atomic_load(&qs.graph);
        st->plan_post = atomic_load(&qs.post);
        st->fallbacks = atomic_load(&qs.fallbacks);
        st->match_sets_built = atomic_load(&qs.built);
    }
    if (rc == VEX_OK) {
        *n_hits = vx_topk_sort(&top);
        for (size_t i = 0; vectors_out && i < *n_hits && rc == VEX_OK; i++)
            rc = vx_coll_get_snap(c, &s, hits[i].id,
                                  (unsigned char *)vectors_out +
                                      i * c->vec_bytes);
        for (size_t i = 0; params->meta_out && i < *n_hits && rc == VEX_OK; i++)
            rc = params->meta_out[i] == NULL
                     ? vx_err_set(&c->err, VEX_MISUSE,
                                  "params.meta_out[%zu] is NULL", i)
                     : vx_coll_get_meta_snap(c, &s, hits[i].id,
                                             params->meta_out[i]);
        if (rc != VEX_OK)
            *n_hits = 0;
    }
    vx_coll_snap_drop(&s);
    if (tmp != stack_tmp)
        vx_mem_free(c->mem, tmp);
    return rc;
}

/* Batch: queries spread over the pool, each searched on the calling
 * worker over every source of one shared snapshot. */
typedef struct batch_job {
    vex_collection *c;
    const vx_snap *s;
    const unsigned char *queries;
    size_t k;
    const vex_search_params *p;
    vex_hit *hits, *scratch; /* scratch: k per worker */
    size_t *n_hits;
    int *rcs; /* per worker: first failure */
} batch_job;

static void search_batch_task(void *arg, size_t task, unsigned worker)
{
    batch_job *b = arg;
    vex_topk top;
    int rc;
    if (b->rcs[worker] != VEX_OK)
        return;
    vex_topk_init(&top, b->hits + task * b->k, b->k);
    rc = search_snap(b->c, b->s, b->queries + task * b->c->vec_bytes, b->k,
                     b->p, 1, b->scratch + (size_t)worker * b->k, &top);
    b->n_hits[task] = rc == VEX_OK ? vx_topk_sort(&top) : 0;
    if (rc != VEX_OK)
        b->rcs[worker] = rc;
}

int vex_search_batch(vex_collection *c, const void *queries, size_t n_queries,
                     size_t k, const vex_search_params *params, vex_hit *hits,
                     size_t *n_hits)
{
    vex_search_params dflt;
    batch_job b;
    vx_snap s;
    unsigned width;
    char why[160];
    int rc;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if ((queries == NULL && n_queries) || hits == NULL || n_hits == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "queries, hits and n_hits must not be NULL");
    if (params == NULL) {
        vex_search_params_init(&dflt);
        params = &dflt;
    }
    if ((rc = check_search(c, k, params)) != VEX_OK)
        return rc;
    if (params->meta_out || params->stats)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.%s applies to vex_search only",
                          params->meta_out ? "meta_out" : "stats");
    for (size_t i = 0; i < n_queries; i++)
        if (vx_vector_check(&c->icfg,
                            (const unsigned char *)queries + i * c->vec_bytes,
                            why, sizeof why) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "query %zu: %s", i, why);
    if (n_queries == 0)
        return VEX_OK;
    width = search_width(c, params);
    memset(&b, 0, sizeof b);
    b.c = c;
    b.s = &s;
    b.queries = queries;
    b.k = k;
    b.p = params;
    b.hits = hits;
    b.n_hits = n_hits;
    b.scratch = vx_mem_alloc(c->mem, (size_t)width * k * sizeof *b.scratch);
    b.rcs = vx_mem_calloc(c->mem, width, sizeof *b.rcs);
    if (b.scratch == NULL || b.rcs == NULL) {
        vx_mem_free(c->mem, b.scratch);
        vx_mem_free(c->mem, b.rcs);
        return vx_coll_nomem(c);
    }
    vx_coll_snap_take(c, &s);
    vx_pool_run(c->db->pool, n_queries, width, search_batch_task, &b);
    vx_coll_snap_drop(&s);
    for (unsigned w = 0; w < width && rc == VEX_OK; w++)
        rc = b.rcs[w];
    vx_mem_free(c->mem, b.scratch);
    vx_mem_free(c->mem, b.rcs);
    if (rc != VEX_OK)
        memset(n_hits, 0, n_queries * sizeof *n_hits);
    return rc;
}
