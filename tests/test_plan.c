/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_plan.c - the filtered-search planner (storage/plan.h) on its own:
 * the plan at and around each threshold of the cost rule, sources
 * without a graph or without a match count, GRAPH's beam width, POST's
 * candidate count and its bounds, and the number of matches below which
 * a plan falls back.
 */
#include <string.h>

#include "storage/plan.h"
#include "test.h"

#define MAX_K 100000

static void test_thresholds(void)
{
    /* n = 1,000,000 at ef 64: the scan limit is sqrt(32 * 64 * n),
     * 45,254.8 */
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 0, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K).kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 45254, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 45255, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_GRAPH);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 899999, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_GRAPH);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 900000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_POST);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 1000000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_POST);
    /* a wider beam costs the walk more: the limit grows with sqrt(ef)
     * (ef 256: 90,509.6) */
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 90509, 1, 10, 256, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 90510, 1, 10, 256, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_GRAPH);
    /* ef below k counts as k: ef 0 and ef 64 plan alike for k 64 */
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 45254, 1, 64, 0, VX_PLAN_WALK_COST, MAX_K).kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 45255, 1, 64, 0, VX_PLAN_WALK_COST, MAX_K).kind,
        VX_PLAN_GRAPH);
    /* the scan's share shrinks as n grows: 14% of 100k rows at ef 64
     * (limit 14,310.8), 4.5% of 1M */
    CHECK_EQ_INT(
        vx_plan_choose(100000, 14310, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K).kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(100000, 14311, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K).kind,
        VX_PLAN_GRAPH);
    /* never a walk for VX_PLAN_SCAN_MIN matches or fewer, even where the
     * cost rule would walk (n = 100k at k = ef = 1: limit 1,788.9) */
    CHECK_EQ_INT(
        vx_plan_choose(100000, 2000, 1, 1, 1, VX_PLAN_WALK_COST, MAX_K).kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(vx_plan_choose(100000, VX_PLAN_SCAN_MIN, 1, 1, 1,
                                VX_PLAN_WALK_COST, MAX_K)
                     .kind,
                 VX_PLAN_SCAN);
    CHECK_EQ_INT(vx_plan_choose(100000, VX_PLAN_SCAN_MIN + 1, 1, 1, 1,
                                VX_PLAN_WALK_COST, MAX_K)
                     .kind,
                 VX_PLAN_GRAPH);
    /* a disk-resident graph: a scanned row is a page read, the limit is
     * sqrt(2 * ef * n), 11,313.7 for 1M rows at ef 64 */
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 11313, 1, 10, 64, VX_PLAN_WALK_COST_DISK, MAX_K)
            .kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 11314, 1, 10, 64, VX_PLAN_WALK_COST_DISK, MAX_K)
            .kind,
        VX_PLAN_GRAPH);
    /* a source smaller than the scan limit is always scanned */
    CHECK_EQ_INT(
        vx_plan_choose(3000, 3000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K).kind,
        VX_PLAN_SCAN);
}

static void test_graph_width(void)
{
    vx_plan p;
    /* 10% of 1M at ef 64: a beam of 640, of which about 64 match */
    p = vx_plan_choose(1000000, 100000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.kind, VX_PLAN_GRAPH);
    CHECK_EQ_INT(p.width, 640);
    /* 50%: twice ef */
    p = vx_plan_choose(1000000, 500000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.width, 128);
    /* bounded by max_k */
    p = vx_plan_choose(1000000, 50000, 1, 10, 64, VX_PLAN_WALK_COST, 1000);
    CHECK_EQ_INT(p.kind, VX_PLAN_GRAPH);
    CHECK_EQ_INT(p.width, 1000);
    /* matches unknown: ef itself (k when ef is smaller) */
    p = vx_plan_choose(1000000, VX_PLAN_MATCHES_UNKNOWN, 1, 10, 64,
                       VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.width, 64);
    p = vx_plan_choose(1000000, VX_PLAN_MATCHES_UNKNOWN, 1, 100, 64,
                       VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.width, 100);
}

static void test_no_graph_or_count(void)
{
    /* no graph: always exact, whatever the matches */
    CHECK_EQ_INT(
        vx_plan_choose(1000000, 500000, 0, 10, 64, VX_PLAN_WALK_COST, MAX_K)
            .kind,
        VX_PLAN_SCAN);
    CHECK_EQ_INT(vx_plan_choose(1000000, VX_PLAN_MATCHES_UNKNOWN, 0, 10, 64,
                                VX_PLAN_WALK_COST, MAX_K)
                     .kind,
                 VX_PLAN_SCAN);
    /* matches unknown with a graph: the filtered walk, wanting k */
    {
        vx_plan p = vx_plan_choose(1000000, VX_PLAN_MATCHES_UNKNOWN, 1, 10, 64,
                                   VX_PLAN_WALK_COST, MAX_K);
        CHECK_EQ_INT(p.kind, VX_PLAN_GRAPH);
        CHECK_EQ_INT(p.want, 10);
    }
}

static void test_candidates_and_want(void)
{
    vx_plan p;
    /* all rows match: k + 8 candidates */
    p = vx_plan_choose(1000000, 1000000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.candidates, 18);
    CHECK_EQ_INT(p.want, 10);
    /* 90%: 10 + 10 * 100000 / 900000 * 2 + 8 = 20 (truncated) */
    p = vx_plan_choose(1000000, 900000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.candidates, 20);
    /* bounded by max_k */
    p = vx_plan_choose(100000000, 95000000, 1, 5000, 5000, VX_PLAN_WALK_COST,
                       5100);
    CHECK_EQ_INT(p.kind, VX_PLAN_POST);
    CHECK_EQ_INT(p.candidates, 5100);
    /* want is min(k, m) */
    p = vx_plan_choose(1000000, 3, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.want, 3);
    p = vx_plan_choose(1000000, 50000, 1, 10, 64, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.want, 10);
    CHECK_EQ_INT(p.candidates, 10);
}

static void test_large_k_scans(void)
{
    /* a k (and so a beam) near the source's size: scoring every match
     * costs less than any walk, so even when all rows match it scans
     * (POST's candidates can then never exceed the rows) */
    vx_plan p =
        vx_plan_choose(5000, 5000, 1, 4999, 0, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.kind, VX_PLAN_SCAN);
    CHECK_EQ_INT(p.want, 4999);
    p = vx_plan_choose(20000, 19000, 1, 19000, 0, VX_PLAN_WALK_COST, MAX_K);
    CHECK_EQ_INT(p.kind, VX_PLAN_SCAN);
}

static void test_feedback(void)
{
    vx_plan_fb fb;
    memset(&fb, 0, sizeof fb);
    /* nothing recorded: no opinion */
    CHECK_EQ_INT(vx_plan_walk_costs_more(&fb, 10, 1000), 0);
    /* walks of 20 distances per entry at width 100: 100 * 20 * 3 = 6,000
     * scanned rows' worth; not before VX_PLAN_FEEDBACK_MIN walks */
    for (int i = 0; i < VX_PLAN_FEEDBACK_MIN - 1; i++)
        vx_plan_fb_add(&fb, 2000, 100, 0);
    CHECK_EQ_INT(vx_plan_walk_costs_more(&fb, 5000, 100), 0);
    vx_plan_fb_add(&fb, 2000, 100, 0);
    CHECK_EQ_INT(vx_plan_walk_costs_more(&fb, 6000, 100), 1);
    CHECK_EQ_INT(vx_plan_walk_costs_more(&fb, 6001, 100), 0);
    /* the cost scales with the width asked for */
    CHECK_EQ_INT(vx_plan_walk_costs_more(&fb, 6001, 200), 1);
    /* fallbacks: with half of 32 walks redone exactly, a walk costs
     * 6,000 + m / 2, so up to m = 12,000 the scan is cheaper */
    for (int i = 0; i < VX_PLAN_FEEDBACK_MIN; i++)
        vx_plan_fb_add(&fb, 2000, 100, 1);
    CHECK_EQ_INT(vx_plan_walk_costs_more(&fb, 12000, 100), 1);
    CHECK_EQ_INT(vx_plan_walk_costs_more(&fb, 12001, 100), 0);
}

int main(void)
{
    TEST_RUN(test_thresholds);
    TEST_RUN(test_no_graph_or_count);
    TEST_RUN(test_candidates_and_want);
    TEST_RUN(test_graph_width);
    TEST_RUN(test_large_k_scans);
    TEST_RUN(test_feedback);
    return TEST_EXIT();
}
