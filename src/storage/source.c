/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source.c - the planned k-NN over one source (source.h): the only place
 * that decides how a filtered search runs, for every source kind.
 */
#include "storage/source.h"

#include <math.h>

#include "index/index.h"
#include "storage/plan.h"

#define POST_STACK 256 /* POST candidates on the stack */

/* An exact pass over the matching rows; with q->work, *found gets the
 * visible matches it computed distances to. */
static int exact_found(const vx_source *s, const vx_src_query *q,
                       const vx_src_accept *acc, vex_topk *top, uint64_t *found,
                       vex_err *err)
{
    uint64_t d0 = q->work ? q->work->distances : 0;
    int rc = s->m->exact(s->self, q, acc, 0, top, err);
    /* a source without a match set (a memtable) computes distances to
     * rows before testing the filter: its matches are not counted */
    if (q->work)
        *found =
            s->m->match ? q->work->distances - d0 : VX_PLAN_MATCHES_UNKNOWN;
    return rc;
}

static void push_hits(const vx_source *s, const vex_hit *h, size_t n,
                      const uint64_t *bits, vex_topk *top)
{
    for (size_t i = 0; i < n; i++)
        if (bits == NULL || ((bits[h[i].id >> 6] >> (h[i].id & 63)) & 1))
            vex_topk_push(top, h[i].distance, s->m->id_of(s->self, h[i].id));
}

/* No metadata filter: the index walk, cut by what earlier sources hold,
 * and the rows the index does not reach. */
static int search_plain(const vx_source *s, const vx_src_query *q, vex_hit *tmp,
                        vex_topk *top, vex_err *err)
{
    vx_src_accept acc = {q->seq,    s->m->indexed(s->self), NULL, NULL,
                         q->filter, q->filter_ctx};
    size_t n = 0;
    int rc =
        s->m->knn(s->self, q, &acc, q->k, vex_topk_bound(top), tmp, &n, err);
    if (rc != VEX_OK)
        return rc;
    push_hits(s, tmp, n, NULL, top);
    return s->m->exact(s->self, q, &acc, 1, top, err);
}

/* The planner's feedback of a match set: a set is shared and read-only
 * for the searches holding it except this part, whose atomics they add to
 * (the set lives on the heap, so writing through it is sound). */
static vx_plan_fb *match_fb(const vx_match *m)
{
    return (vx_plan_fb *)&m->fb;
}

int vx_source_search(const vx_source *s, const vx_src_query *q, vex_hit *tmp,
                     vex_topk *top, vx_src_stats *st, vex_err *err)
{
    const vx_match *match = NULL;
    vx_src_accept acc = {q->seq, s->m->indexed(s->self), NULL, q->where, NULL,
                         NULL};
    uint64_t rows = s->m->refs(s->self), m = VX_PLAN_MATCHES_UNKNOWN;
    vex_hit post_stack[POST_STACK], *more = NULL;
    vx_plan plan;
    size_t n = 0, ef, bound;
    unsigned walk_cost;
    int rc = VEX_OK;

    st->searched = 0;
    st->plan = -1;
    st->fell_back = 0;
    st->built = 0;
    st->matched = 0;
    st->rows = rows;
    st->graph = acc.indexed > 0 && s->m->has_graph(s->self);
    st->found = 0;
    st->counted = 0;
    st->ef = 0;
    st->walk_cost = 0;
    st->width = 0;
    st->by_feedback = 0;
    if (rows == 0)
        return VEX_OK;
    st->searched = 1;
    if (q->where == NULL)
        return search_plain(s, q, tmp, top, err);

    if (s->m->match) {
        rc = s->m->match(s->self, q, &match, &st->built, err);
        if (rc != VEX_OK)
            return rc;
        m = match->count;
        st->matched = m;
        st->counted = 1;
        acc.bits = match->bits;
        acc.where = NULL; /* the bits say it */
        if (m == 0)
            goto out;
    }
    ef = q->ef ? q->ef : q->ef_default;
    if (ef < q->k)
        ef = q->k;
    /* the widest beam a filtered walk may take (its widening's bound) */
    bound = q->filter_max_ef ? q->filter_max_ef : VX_FILTER_EF_GROWTH * ef;
    if (bound > VEX_MAX_K)
        bound = VEX_MAX_K;
    walk_cost = s->m == &vx_dann_segment_source ? VX_PLAN_WALK_COST_DISK
                                                : VX_PLAN_WALK_COST;
    plan = vx_plan_choose(rows, m, acc.indexed > 0 && s->m->has_graph(s->self),
                          q->k, ef, walk_cost, VEX_MAX_K);
    if (plan.width > bound)
        plan.width = bound;
    st->ef = ef;
    st->walk_cost = walk_cost;
    if (plan.kind == VX_PLAN_GRAPH && match &&
        vx_plan_walk_costs_more(match_fb(match), m, plan.width)) {
        plan.kind = VX_PLAN_SCAN; /* this filter's walks cost more here */
        st->by_feedback = 1;
    }
    st->plan = (int)plan.kind;
    switch (plan.kind) {
    case VX_PLAN_SCAN:
        rc = exact_found(s, q, &acc, top, &st->found, err);
        break;
    case VX_PLAN_GRAPH: {
        /* a beam wide enough that about ef of it matches (within the
         * bound, which the walk's widening on too few matches keeps) */
        vx_src_query wide = *q;
        vx_work wk = {0, 0, 0};
        st->width = plan.width;
        if (plan.width > ef) {
            wide.ef = (unsigned)plan.width;
            wide.filter_max_ef = (unsigned)bound;
        }
        wide.work = &wk;
        rc = s->m->knn(s->self, &wide, &acc, q->k, INFINITY, tmp, &n, err);
        if (q->work) {
            q->work->distances += wk.distances;
            q->work->visited += wk.visited;
            q->work->scanned += wk.scanned;
        }
        if (rc != VEX_OK)
            break;
        if (match)
            vx_plan_fb_add(match_fb(match), wk.distances, plan.width,
                           n < plan.want);
        if (n >= plan.want) {
            push_hits(s, tmp, n, NULL, top);
            st->found = n;
            rc = s->m->exact(s->self, q, &acc, 1, top, err);
        } else {
            /* the walk found too few matches: every row exactly */
            st->fell_back = 1;
            rc = exact_found(s, q, &acc, top, &st->found, err);
        }
        break;
    }
    case VX_PLAN_POST: {
        /* only with a counted match set (the planner needs m) */
        /* visibility only in the walk, the match set afterwards */
        vx_src_accept vis = {q->seq, acc.indexed, NULL, NULL, NULL, NULL};
        vx_src_query wide = *q;
        size_t got = 0;
        more = plan.candidates <= POST_STACK
                   ? post_stack
                   : vx_mem_alloc(q->mem, plan.candidates * sizeof *more);
        if (more == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "out of memory");
            break;
        }
        if (wide.ef < plan.candidates)
            wide.ef = (unsigned)plan.candidates;
        wide.filter_max_ef = 0;
        rc = s->m->knn(s->self, &wide, &vis, plan.candidates, INFINITY, more,
                       &n, err);
        if (rc != VEX_OK)
            break;
        for (size_t i = 0; i < n; i++)
            got +=
                (size_t)((acc.bits[more[i].id >> 6] >> (more[i].id & 63)) & 1);
        if (got >= plan.want) {
            push_hits(s, more, n, acc.bits, top);
            st->found = got;
            rc = s->m->exact(s->self, q, &acc, 1, top, err);
        } else {
            st->fell_back = 1;
            rc = exact_found(s, q, &acc, top, &st->found, err);
        }
        break;
    }
    }
out:
    if (more != post_stack)
        vx_mem_free(q->mem, more);
    if (match)
        s->m->match_release(s->self, match);
    return rc;
}
