/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan.h - the filtered-search planner: which way one source (a memtable
 * or a segment) answers a k-NN query restricted to the rows a metadata
 * filter matches.
 *
 * A pure function of what the source knows: its rows n, the rows the
 * filter matches m (or "unknown" when counting them would cost as much as
 * the search: a memtable evaluates its filter row by row during the walk
 * instead), whether it has a graph, and k. Every source kind calls it,
 * so plans mean the same everywhere and the thresholds live in one place
 * (documented for users with vex_search_stats in vexdb.h):
 *
 *   SCAN   exact distances to the matching rows: no graph, or few
 *          enough matches that scoring them all costs less than the walk
 *          (below);
 *   POST   a graph walk without the filter for enough candidates that
 *          about k of them match, the filter applied afterwards: most
 *          rows match (m >= 90% of n), so the filter hook would only
 *          slow the walk;
 *   GRAPH  the walk with the filter as its hook, between the two (and
 *          whenever m is unknown), with a beam of ef * n / m entries so
 *          that about ef of them match (a walk passes through rejected
 *          nodes and keeps them in its beam).
 *
 * The choice between SCAN and GRAPH compares costs in distances. A scan
 * computes m. A walk whose beam is ef * n / m wide computes about
 * ef * n / m times the distances per beam entry (the new neighbours of
 * each expanded node, M0 in a dense graph, ~32), each a random access
 * where the scan's run in row order: measured on glove-100k the two meet
 * near m = 13k (BENCHMARKS.md, "Filtered search"), which is
 *     m * m <= VX_PLAN_WALK_COST * ef * n
 * with VX_PLAN_WALK_COST 32. So the scan's share shrinks as n grows (4.5%
 * of 1M rows at ef 64, 14% of 100k), as its cost grows with m and the
 * walk's with n / m only; below VX_PLAN_SCAN_MIN matches it always
 * scans. A disk-resident source (DiskANN) weighs its walk with
 * VX_PLAN_WALK_COST_DISK instead.
 *
 * A GRAPH or POST plan that yields fewer than min(k, m) matches (k when m
 * is unknown) is redone as SCAN by the caller; that is reported as a
 * fallback, besides the plan, for every source kind alike.
 */
#ifndef VEX_STORAGE_PLAN_H
#define VEX_STORAGE_PLAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define VX_PLAN_SCAN_MIN  4096
#define VX_PLAN_WALK_COST 32
/* DiskANN segments: a scanned row costs a node-page read, as a walk's
 * step does, so the walk's distances per beam entry (its neighbours'
 * PQ codes, in memory) cost next to nothing and its reads, about two per
 * beam entry, are what counts: the scan's limit is much lower */
#define VX_PLAN_WALK_COST_DISK  2
#define VX_PLAN_MATCHES_UNKNOWN UINT64_MAX

typedef enum vx_plan_kind {
    VX_PLAN_SCAN = 0,
    VX_PLAN_GRAPH = 1,
    VX_PLAN_POST = 2
} vx_plan_kind;

typedef struct vx_plan {
    vx_plan_kind kind;
    /* POST: how many candidates to ask the walk for (at least k; about
     * k * n / m with a margin, at most max_k and n) */
    size_t candidates;
    /* GRAPH: the beam width to ask the walk for (ef * n / m, at least
     * ef, at most max_k; ef when m is unknown) */
    size_t width;
    /* the fewest matches the plan must yield not to fall back:
     * min(k, m), or k when m is unknown */
    size_t want;
} vx_plan;

/* Feedback: what the filtered walks of one match set (one filter on one
 * segment) have cost, kept with the set in the match cache and shared by
 * every search that uses it (relaxed atomics: an estimate, not a
 * ledger). The rule above sees only m, n and ef; a filter whose matches
 * sit apart from the queries' neighbourhoods (correlated with the
 * vectors) makes walks that find too few matches and are redone
 * exactly, which the rule cannot know. After VX_PLAN_FEEDBACK_MIN walks
 * a set's measured cost decides instead: distances per beam entry times
 * the entry width times VX_PLAN_DIST_RATIO (a walk's distance, a random
 * access, against a scanned row's, in row order: 73 against 22 ns
 * measured on glove-100k), plus the share of walks that fell back times
 * m. A set whose walks cost more than its scan is scanned from then on
 * (so it collects no more walks: a scan is exact, the safe side). */
typedef struct vx_plan_fb {
    _Atomic uint64_t walks, fallbacks, distances, width;
} vx_plan_fb;

#define VX_PLAN_FEEDBACK_MIN 16
#define VX_PLAN_DIST_RATIO   3

/* Whether the walks recorded in fb cost more than scanning `matches`
 * rows, for a walk `width` wide (0 while fewer than
 * VX_PLAN_FEEDBACK_MIN walks are recorded). */
int vx_plan_walk_costs_more(const vx_plan_fb *fb, uint64_t matches,
                            size_t width);

/* Record one walk: its distances, its beam width, and whether it fell
 * back. */
void vx_plan_fb_add(vx_plan_fb *fb, uint64_t distances, size_t width,
                    int fell_back);

/* The plan for a source of `rows` rows of which `matches` match
 * (VX_PLAN_MATCHES_UNKNOWN: not counted), with or without a graph, for
 * k results with a beam of `ef` (the effective efSearch, at least k);
 * `walk_cost` is VX_PLAN_WALK_COST, or VX_PLAN_WALK_COST_DISK for a
 * disk-resident graph; `max_k` bounds POST's candidates and GRAPH's
 * width (VEX_MAX_K). */
vx_plan vx_plan_choose(uint64_t rows, uint64_t matches, int has_graph, size_t k,
                       size_t ef, unsigned walk_cost, size_t max_k);

#endif
