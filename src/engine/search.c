/* SPDX-License-Identifier: Apache-2.0 */
/*
 * search.c - k-NN search of a collection: vex_search and
 * vex_search_batch over a snapshot's sources (storage/source.h), with the
 * user's filter callback or a compiled metadata filter
 * (vex_search_params.where), and the fan-out of sources over the
 * database's pool. The arguments are checked once per call here; each
 * source is searched with vx_source_search, which plans filtered
 * searches (storage/plan.h) the same way for every source kind.
 */
#include <string.h>

#include <inttypes.h>
#include <stdio.h>

#include "engine/coll_int.h"
#include "storage/plan.h"
#include "storage/source.h"
#include "util/abi.h"
#include "util/topk.h"

void vex_search_stats_init_size(vex_search_stats *st, size_t size)
{
    vex_search_stats full;
    if (st == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    vx_abi_init(&VX_ABI_SEARCH_STATS, st, size, &full);
}

void(vex_search_stats_init)(vex_search_stats *st)
{
    vex_search_stats_init_size(st, VX_ABI_SEARCH_STATS.ends[0]);
}

_Static_assert(VEX_FIELD_NAME_MAX == VM_MAX_NAME,
               "the public field name limit is the meta layer's");

/* Whether any record of snapshot `s` has (or had) a field of this name:
 * a memtable's name set, a segment's metadata columns. A segment whose
 * columns cannot be opened counts as having it (the search reports that
 * damage itself). */
static int snap_has_field(const vx_snap *s, const char *p, size_t len)
{
    for (uint32_t i = 0; i < s->v->n_mts; i++)
        if (vx_mt_has_field(s->v->mts[i], p, len))
            return 1;
    for (uint32_t i = 0; i < s->v->n_segs; i++) {
        const vm_colset *cs = NULL;
        uint32_t n;
        if (vx_vseg_colset(s->v->segs[i], &cs, NULL) != VEX_OK)
            return 1;
        n = cs ? vx_vm_colset_columns(cs) : 0;
        for (uint32_t j = 0; j < n; j++) {
            vm_str name;
            int type, enc;
            uint32_t present;
            vx_vm_colset_column(cs, j, &name, &type, &enc, &present);
            if (name.len == len && memcmp(name.p, p, len) == 0)
                return 1;
        }
    }
    return 0;
}

/* vex_search_stats.unknown_fields/unknown_field: the distinct fields the
 * filter names that the schema does not declare and no record of the
 * snapshot has. */
static void unknown_fields(const vex_collection *c, const vx_snap *s,
                           const vex_filter *where, vex_search_stats *st)
{
    const vmf_node *nd = vx_vmf_nodes(where->f);
    size_t n = vx_vmf_n_nodes(where->f);
    for (size_t i = 0; i < n; i++) {
        const vm_str *f = &nd[i].field;
        int dup = 0;
        if (nd[i].kind == VMF_AND || nd[i].kind == VMF_OR ||
            nd[i].kind == VMF_NOT)
            continue;
        for (size_t j = 0; j < i && !dup; j++)
            dup = nd[j].kind != VMF_AND && nd[j].kind != VMF_OR &&
                  nd[j].kind != VMF_NOT && nd[j].field.len == f->len &&
                  memcmp(nd[j].field.p, f->p, f->len) == 0;
        if (dup || (c->schema && vx_vm_schema_find(c->schema, f->p, f->len)) ||
            snap_has_field(s, f->p, f->len))
            continue;
        if (st->unknown_fields++ == 0) {
            size_t len =
                f->len < VEX_FIELD_NAME_MAX ? f->len : VEX_FIELD_NAME_MAX;
            memcpy(st->unknown_field, f->p, len);
            st->unknown_field[len] = '\0';
        }
    }
}

/* Check the arguments common to vex_search and vex_search_batch. */
static int search_check(vex_collection *c, size_t k,
                        const vex_search_params *params)
{
    if (k == 0 || k > VEX_MAX_K)
        return vx_err_set(&c->err, VEX_INVALID, "k is %zu, must be 1..%d", k,
                          VEX_MAX_K);
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
        c->cfg.index_kind == VEX_INDEX_FLAT && c->cfg.dann_min_rows == 0)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.ef_search and filter_max_ef must be 0 for "
                          "a flat collection, which is exact");
    if (params->beam_width > 64 ||
        (params->beam_width && c->cfg.dann_min_rows == 0))
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.beam_width is %u: it must be 0, or 1..64 "
                          "for a collection with DiskANN segments",
                          params->beam_width);
    return VEX_OK;
}

/* Explain: why the planner chose what source i ran (plan.h's rules). */
static void explain_reason(const vx_src_stats *st, int filtered, char *out,
                           size_t size)
{
    uint64_t n = st->rows, m = st->matched;
    if (!filtered)
        snprintf(out, size, "no filter: %s",
                 st->graph ? "graph walk, and exact over rows it does not reach"
                           : "exact scan (no graph)");
    else if (st->plan < 0)
        snprintf(out, size, "filter matches none of %" PRIu64 " rows: skipped",
                 n);
    else if (st->plan == VX_PLAN_SCAN && !st->graph)
        snprintf(out, size, "no graph: exact over the matching rows");
    else if (st->plan == VX_PLAN_SCAN && m <= VX_PLAN_SCAN_MIN)
        snprintf(out, size,
                 "filter matches %" PRIu64 " of %" PRIu64 " rows (<= %d): "
                 "exact",
                 m, n, VX_PLAN_SCAN_MIN);
    else if (st->plan == VX_PLAN_SCAN && st->by_feedback)
        snprintf(out, size,
                 "filter matches %" PRIu64 " of %" PRIu64
                 " rows; its walks here cost more than scoring them: exact",
                 m, n);
    else if (st->plan == VX_PLAN_SCAN)
        snprintf(out, size,
                 "filter matches %" PRIu64 " of %" PRIu64 " rows (m*m <= "
                 "%u*ef*rows, ef %zu): exact",
                 m, n, st->walk_cost, st->ef);
    else if (st->plan == VX_PLAN_POST)
        snprintf(out, size,
                 "filter matches %" PRIu64 " of %" PRIu64
                 " rows (>= 90%%): graph walk, then the filter",
                 m, n);
    else if (st->counted)
        snprintf(out, size,
                 "filter matches %" PRIu64 " of %" PRIu64 " rows (m*m > "
                 "%u*ef*rows, ef %zu; < 90%%): graph walk through "
                 "non-matching rows, beam %zu",
                 m, n, st->walk_cost, st->ef, st->width);
    else
        snprintf(out, size,
                 "matches not counted (a memtable tests rows as the walk "
                 "meets them): graph walk through non-matching rows");
    if (st->fell_back) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "; found too few, redone exactly");
    }
}

static void explain_fill(const vx_snap *s, uint32_t i, const vx_src_stats *st,
                         const vx_work *w, int filtered, uint64_t ns,
                         vex_source_explain *e)
{
    const vx_source *src = &s->v->src[i];
    memset(e, 0, sizeof *e);
    e->kind = src->m->kind;
    if (src->m == &vx_segment_source || src->m == &vx_dann_segment_source)
        e->segment = ((const vseg *)src->self)->info.number;
    e->rows = st->rows;
    e->searched = st->searched;
    e->est_matches = UINT64_MAX;
    e->matches = UINT64_MAX;
    if (!st->searched)
        return;
    e->plan = st->plan < 0 ? (filtered ? VEX_PLAN_EXACT : VEX_PLAN_UNFILTERED)
              : st->plan == VX_PLAN_SCAN  ? VEX_PLAN_EXACT
              : st->plan == VX_PLAN_GRAPH ? VEX_PLAN_GRAPH
                                          : VEX_PLAN_POST;
    e->fell_back = st->fell_back;
    e->has_graph = st->graph;
    if (filtered && st->counted)
        e->est_matches = st->matched;
    if (filtered && st->found != VX_PLAN_MATCHES_UNKNOWN)
        e->matches = st->found;
    e->distances = w->distances;
    e->nodes_visited = w->visited;
    e->rows_scanned = w->scanned;
    e->time_ns = ns;
    explain_reason(st, filtered, e->reason, sizeof e->reason);
}

/* Search source i of snapshot s; its counters into s->qs. */
static int search_source(vex_collection *c, const vx_snap *s, uint32_t i,
                         const vx_src_query *q, vex_hit *tmp, vex_topk *top)
{
    vx_src_query qs = *q;
    vx_src_stats st;
    vx_work w = {0, 0, 0};
    vx_dann_stats io;
    int explain = s->qs && s->qs->ex && i < s->qs->ex_cap;
    uint64_t t0 = explain ? vx_now_ns() : 0;
    int rc;
    qs.seq = s->seq;
    if (explain)
        qs.work = &w;
    memset(&io, 0, sizeof io);
    qs.io = &io;
    rc = vx_source_search(&s->v->src[i], &qs, tmp, top, &st, &c->err);
    if (explain)
        explain_fill(s, i, &st, &w, q->where != NULL, vx_now_ns() - t0,
                     &s->qs->ex[i]);
    if (s->qs && st.searched) {
        vx_qstats *x = s->qs;
        atomic_fetch_add(&x->sources, 1);
        atomic_fetch_add(&x->matched, st.matched);
        if (st.plan < 0)
            atomic_fetch_add(&x->plain, 1);
        if (st.plan >= 0)
            atomic_fetch_add(st.plan == VX_PLAN_SCAN    ? &x->exact
                             : st.plan == VX_PLAN_GRAPH ? &x->graph
                                                        : &x->post,
                             1);
        if (st.fell_back)
            atomic_fetch_add(&x->fallbacks, 1);
        if (st.built)
            atomic_fetch_add(&x->built, 1);
        if (io.reads | io.cache_hits) {
            atomic_fetch_add(&x->io_reads, io.reads);
            atomic_fetch_add(&x->io_pages, io.pages_read);
            atomic_fetch_add(&x->io_bytes, io.bytes_read);
            atomic_fetch_add(&x->io_cache_hits, io.cache_hits);
        }
    }
    return rc;
}

static uint64_t source_rows(const vx_snap *s, uint32_t i)
{
    const vx_source *src = &s->v->src[i];
    return src->m->refs(src->self);
}

/* The query of a call, checked: what every source is searched with (the
 * snapshot's sequence number is set per source). */
static void query_of(vex_collection *c, const void *vec, size_t k,
                     const vex_search_params *p, vx_src_query *q)
{
    memset(q, 0, sizeof *q);
    q->vec = vec;
    q->k = k;
    q->ef = p->ef_search;
    q->ef_default = c->cfg.hnsw_ef_search;
    q->filter_max_ef = p->filter_max_ef;
    q->refine = p->refine;
    q->beam_width = p->beam_width;
    q->filter = p->filter;
    q->filter_ctx = p->filter_ctx;
    if (p->where) {
        q->where = p->where->f;
        q->where_key = &p->where->key;
    }
    q->mem = c->mem;
}

/* Fan-out: one task per source, each into its own top-k. A source of
 * fewer than FANOUT_MIN_ROWS rows is not worth a hand-off to a worker;
 * below two big sources the search stays on the calling thread. */
#define FANOUT_MIN_ROWS 20000
#define FANOUT_STACK    2048 /* hits on the stack: sources x k x 2 */

typedef struct fanout {
    vex_collection *c;
    const vx_snap *s;
    const vx_src_query *q;
    size_t k;
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
    f->rcs[task] =
        search_source(f->c, f->s, (uint32_t)task, f->q, res + f->k, &top);
    f->counts[task] = top.n;
}

/* k-NN over snapshot s into `top`; `tmp` has room for k hits. */
static int search_snap(vex_collection *c, const vx_snap *s,
                       const vx_src_query *q, unsigned width, vex_hit *tmp,
                       vex_topk *top)
{
    uint32_t n_src = s->v->n_src, big = 0;
    size_t k = q->k;
    int rc = VEX_OK;
    for (uint32_t i = 0; i < n_src; i++)
        big += source_rows(s, i) >= FANOUT_MIN_ROWS;
    if (width > 1 && big >= 2) {
        vex_hit stack_space[FANOUT_STACK];
        size_t stack_counts[64];
        int stack_rcs[64];
        size_t need = (size_t)n_src * 2 * k;
        fanout f = {c, s, q, k, stack_space, stack_counts, stack_rcs};
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
     * the smaller sources a cut (vex_search_opts.cut) that stops their graph
     * walks once nothing nearer can be found, which is most of the cost
     * of many small sources at a large ef. */
    uint32_t first = 0;
    for (uint32_t i = 1; i < n_src; i++)
        if (source_rows(s, i) > source_rows(s, first))
            first = i;
    if (n_src)
        rc = search_source(c, s, first, q, tmp, top);
    for (uint32_t i = 0; i < n_src && rc == VEX_OK; i++)
        if (i != first)
            rc = search_source(c, s, i, q, tmp, top);
    return rc;
}

static unsigned search_width(vex_collection *c, const vex_search_params *p)
{
    return vx_pool_width(c->db->pool, p->n_threads);
}

int vx_coll_search_check(vex_collection *c, const void *query, size_t k,
                         const vex_search_params **params,
                         vex_search_params *buf)
{
    char why[160];
    int rc;
    if ((rc = vx_search_params_take(params, buf, &c->err)) != VEX_OK ||
        (rc = search_check(c, k, *params)) != VEX_OK)
        return rc;
    if ((*params)->text &&
        (rc = vx_coll_text_check(c, query, k, *params)) != VEX_OK)
        return rc;
    if (query == NULL && (*params)->text == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "query is NULL (a NULL query vector needs "
                          "params.text: a keyword search)");
    if (query && vx_vector_check(&c->icfg, query, why, sizeof why) != VEX_OK)
        return vx_err_set(&c->err, VEX_INVALID, "query: %s", why);
    if ((*params)->stats &&
        (rc = vx_abi_check(&VX_ABI_SEARCH_STATS, (*params)->stats->struct_size,
                           &c->err)) != VEX_OK)
        return rc;
    return VEX_OK;
}

static void srch_qstats_init(vx_qstats *qs)
{
    qs->ex = NULL;
    qs->ex_cap = 0;
    atomic_init(&qs->sources, 0);
    atomic_init(&qs->plain, 0);
    atomic_init(&qs->exact, 0);
    atomic_init(&qs->graph, 0);
    atomic_init(&qs->post, 0);
    atomic_init(&qs->fallbacks, 0);
    atomic_init(&qs->matched, 0);
    atomic_init(&qs->built, 0);
    atomic_init(&qs->io_reads, 0);
    atomic_init(&qs->io_pages, 0);
    atomic_init(&qs->io_bytes, 0);
    atomic_init(&qs->io_cache_hits, 0);
}

/* The plans of a search's sources into the collection's metrics. */
static void srch_count_plans(vex_collection *c, vx_qstats *qs)
{
    vx_metrics *m = &c->met;
    vx_count(m, VX_C_PLAN_UNFILTERED, atomic_load(&qs->plain));
    vx_count(m, VX_C_PLAN_EXACT, atomic_load(&qs->exact));
    vx_count(m, VX_C_PLAN_GRAPH, atomic_load(&qs->graph));
    vx_count(m, VX_C_PLAN_POST, atomic_load(&qs->post));
    vx_count(m, VX_C_FALLBACKS, atomic_load(&qs->fallbacks));
}

void vx_coll_search_done(vex_collection *c, int kind, size_t n_queries,
                         uint64_t t0, int rc)
{
    vx_metrics *m;
    if (!vx_coll_usable(c))
        return;
    m = &c->met;
    vx_count(m, VX_C_SEARCH_KNN + kind, n_queries);
    if (rc != VEX_OK)
        vx_count(m, VX_C_SEARCH_ERRORS, 1);
    vx_hist_time(m, VX_H_SEARCH_KNN + kind, t0);
}

int vx_coll_search_run(vex_collection *c, vx_snap *s, const void *query,
                       size_t k, const vex_search_params *params, vex_hit *hits,
                       vex_hit *tmp, size_t *n_hits)
{
    vex_topk top;
    vx_qstats qs;
    vx_src_query q;
    int rc;
    *n_hits = 0;
    if (params->text)
        return vx_coll_hybrid_run(c, s, query, k, params, hits, n_hits);
    srch_qstats_init(&qs);
    if (params->stats && params->stats->struct_size >=
                             VX_SIZE_UPTO(vex_search_stats, n_explain)) {
        qs.ex = params->stats->explain;
        qs.ex_cap = params->stats->explain_cap;
    }
    vex_topk_init(&top, hits, k);
    /* counted always: the metrics count the plans (count_plans) */
    s->qs = &qs;
    query_of(c, query, k, params, &q);
    rc = search_snap(c, s, &q, search_width(c, params), tmp, &top);
    s->qs = NULL;
    srch_count_plans(c, &qs);
    if (params->stats) {
        vex_search_stats full, *st = &full;
        vex_search_stats_init(st);
        st->sources = atomic_load(&qs.sources);
        st->rows_matched = atomic_load(&qs.matched);
        st->plan_exact = atomic_load(&qs.exact);
        st->plan_graph = atomic_load(&qs.graph);
        st->plan_post = atomic_load(&qs.post);
        st->fallbacks = atomic_load(&qs.fallbacks);
        st->match_sets_built = atomic_load(&qs.built);
        st->io_reads = atomic_load(&qs.io_reads);
        st->io_pages = atomic_load(&qs.io_pages);
        st->io_bytes = atomic_load(&qs.io_bytes);
        st->io_cache_hits = atomic_load(&qs.io_cache_hits);
        st->unknown_fields = 0;
        st->unknown_field[0] = '\0';
        /* the caller's inputs go back unchanged; the count of sources */
        st->explain = qs.ex;
        st->explain_cap = qs.ex_cap;
        st->n_explain = s->v->n_src;
        if (rc == VEX_OK && params->where)
            unknown_fields(c, s, params->where, st);
        st->legs = VEX_LEG_VECTOR;
        if (rc == VEX_OK)
            st->vector_hits = (uint32_t)top.n;
        vx_abi_out(&VX_ABI_SEARCH_STATS, params->stats, st);
    }
    if (rc == VEX_OK)
        *n_hits = vx_topk_sort(&top);
    return rc;
}

static int srch_one(vex_collection *c, const void *query, size_t k,
                    const vex_search_params *params, vex_hit *hits,
                    void *vectors_out, size_t *n_hits)
{
    vex_search_params dflt, pbuf;
    vex_hit stack_tmp[256], *tmp = stack_tmp;
    vx_snap s;
    int rc = VEX_OK;

    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (n_hits)
        *n_hits = 0;
    if (hits == NULL || n_hits == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "hits and n_hits must not be NULL");
    if (params == NULL) {
        vex_search_params_init(&dflt);
        params = &dflt;
    }
    if ((rc = vx_coll_search_check(c, query, k, &params, &pbuf)) != VEX_OK)
        return rc;
    if (k > sizeof stack_tmp / sizeof stack_tmp[0]) {
        tmp = vx_mem_alloc(c->mem, k * sizeof *tmp);
        if (tmp == NULL)
            return vx_coll_nomem(c);
    }
    vx_coll_snap_take(c, &s);
    rc = vx_coll_search_run(c, &s, query, k, params, hits, tmp, n_hits);
    if (rc == VEX_OK) {
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

int vex_search(vex_collection *c, const void *query, size_t k,
               const vex_search_params *params, vex_hit *hits,
               void *vectors_out, size_t *n_hits)
{
    uint64_t t0 = vx_now_ns();
    int rc = srch_one(c, query, k, params, hits, vectors_out, n_hits);
    vx_coll_search_done(c, 0, 1, t0, rc);
    return rc;
}

/* Batch: queries spread over the pool, each searched on the calling
 * worker over every source of one shared snapshot. */
typedef struct search_batch_job {
    vex_collection *c;
    const vx_snap *s;
    const unsigned char *queries;
    size_t k;
    const vx_src_query *q;
    vex_hit *hits, *scratch; /* scratch: k per worker */
    size_t *n_hits;
    int *rcs; /* per worker: first failure */
} search_batch_job;

static void search_batch_task(void *arg, size_t task, unsigned worker)
{
    search_batch_job *b = arg;
    vx_src_query q = *b->q;
    vex_topk top;
    int rc;
    if (b->rcs[worker] != VEX_OK)
        return;
    vex_topk_init(&top, b->hits + task * b->k, b->k);
    q.vec = b->queries + task * b->c->vec_bytes;
    rc = search_snap(b->c, b->s, &q, 1, b->scratch + (size_t)worker * b->k,
                     &top);
    b->n_hits[task] = rc == VEX_OK ? vx_topk_sort(&top) : 0;
    if (rc != VEX_OK)
        b->rcs[worker] = rc;
}

static int srch_batch(vex_collection *c, const void *queries, size_t n_queries,
                      size_t k, const vex_search_params *params, vex_hit *hits,
                      size_t *n_hits)
{
    vex_search_params dflt, pbuf;
    search_batch_job b;
    vx_src_query q;
    vx_qstats qs;
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
    if ((rc = vx_search_params_take(&params, &pbuf, &c->err)) != VEX_OK ||
        (rc = search_check(c, k, params)) != VEX_OK)
        return rc;
    if (params->meta_out || params->stats || params->text)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.%s applies to vex_search only",
                          params->meta_out ? "meta_out"
                          : params->stats  ? "stats"
                                           : "text");
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
    query_of(c, NULL, k, params, &q);
    b.q = &q;
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
    srch_qstats_init(&qs);
    s.qs = &qs;
    vx_pool_run(c->db->pool, n_queries, width, search_batch_task, &b);
    s.qs = NULL;
    srch_count_plans(c, &qs);
    vx_coll_snap_drop(&s);
    for (unsigned w = 0; w < width && rc == VEX_OK; w++)
        rc = b.rcs[w];
    vx_mem_free(c->mem, b.scratch);
    vx_mem_free(c->mem, b.rcs);
    if (rc != VEX_OK)
        memset(n_hits, 0, n_queries * sizeof *n_hits);
    return rc;
}

int vex_search_batch(vex_collection *c, const void *queries, size_t n_queries,
                     size_t k, const vex_search_params *params, vex_hit *hits,
                     size_t *n_hits)
{
    uint64_t t0 = vx_now_ns();
    int rc = srch_batch(c, queries, n_queries, k, params, hits, n_hits);
    vx_coll_search_done(c, 2, n_queries, t0, rc);
    return rc;
}
