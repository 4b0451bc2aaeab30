/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan.c - the filtered-search planner (plan.h). The cost rule between an
 * exact scan of the matches and a filtered walk was measured with
 * bench/filter_bench.py (BENCHMARKS.md, "Filtered search"); above ~90%
 * matches a wider plain walk beats the hook.
 */
#include "storage/plan.h"

vx_plan vx_plan_choose(uint64_t rows, uint64_t matches, int has_graph, size_t k,
                       size_t ef, unsigned walk_cost, size_t max_k)
{
    vx_plan p;
    int known = matches != VX_PLAN_MATCHES_UNKNOWN;
    if (ef < k)
        ef = k;
    p.candidates = k;
    p.width = ef;
    p.want = known && matches < k ? (size_t)matches : k;
    if (!has_graph ||
        (known && (matches <= VX_PLAN_SCAN_MIN ||
                   (double)matches * (double)matches <=
                       (double)walk_cost * (double)ef * (double)rows))) {
        p.kind = VX_PLAN_SCAN;
    } else if (known && matches * 10 >= rows * 9) {
        /* enough candidates that about k of them match: k * (n - m) / m
         * extra, doubled for the spread, plus a margin for tiny k */
        double extra = (double)k * (double)(rows - matches) /
                       (double)(matches ? matches : 1) * 2.0;
        size_t kk = k + (size_t)extra + 8;
        p.kind = VX_PLAN_POST;
        if (kk > max_k)
            kk = max_k;
        if (kk > rows)
            kk = (size_t)rows;
        p.candidates = kk;
    } else {
        p.kind = VX_PLAN_GRAPH;
        if (known) {
            /* matches > VX_PLAN_SCAN_MIN here, so no division by zero */
            double w = (double)ef * (double)rows / (double)matches;
            p.width = w >= (double)max_k ? max_k : (size_t)w;
        }
    }
    return p;
}

int vx_plan_walk_costs_more(const vx_plan_fb *fb, uint64_t matches,
                            size_t width)
{
    uint64_t w = atomic_load_explicit(&fb->walks, memory_order_relaxed);
    uint64_t f = atomic_load_explicit(&fb->fallbacks, memory_order_relaxed);
    uint64_t d = atomic_load_explicit(&fb->distances, memory_order_relaxed);
    uint64_t ws = atomic_load_explicit(&fb->width, memory_order_relaxed);
    double cost;
    if (w < VX_PLAN_FEEDBACK_MIN || ws == 0)
        return 0;
    cost = (double)width * ((double)d / (double)ws) * VX_PLAN_DIST_RATIO +
           (double)matches * ((double)f / (double)w);
    return cost >= (double)matches;
}

void vx_plan_fb_add(vx_plan_fb *fb, uint64_t distances, size_t width,
                    int fell_back)
{
    atomic_fetch_add_explicit(&fb->distances, distances, memory_order_relaxed);
    atomic_fetch_add_explicit(&fb->width, width, memory_order_relaxed);
    atomic_fetch_add_explicit(&fb->fallbacks, (uint64_t)(fell_back != 0),
                              memory_order_relaxed);
    /* walks last: a reader that sees the count sees about as much of the
     * rest (relaxed: an estimate either way) */
    atomic_fetch_add_explicit(&fb->walks, 1, memory_order_relaxed);
}
