/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_plan.c - the filtered-search planner (storage/plan.h) on its own:
 * the plan at and around each threshold, sources without a graph or
 * without a match count, POST's candidate count and its bounds, and the
 * number of matches below which a plan falls back.
 */
#include "storage/plan.h"
#include "test.h"

#define MAX_K 100000

static void test_thresholds(void)
{
    /* n = 1,000,000: the scan limit is n / 100 = 10,000 */
    CHECK_EQ_INT(vx_plan_choose(1000000, 0, 1, 10, MAX_K).kind, VX_PLAN_SCAN);
    CHECK_EQ_INT(vx_plan_choose(1000000, 10000, 1, 10, MAX_K).kind,
                 VX_PLAN_SCAN);
    CHECK_EQ_INT(vx_plan_choose(1000000, 10001, 1, 10, MAX_K).kind,
                 VX_PLAN_GRAPH);
    CHECK_EQ_INT(vx_plan_choose(1000000, 899999, 1, 10, MAX_K).kind,
                 VX_PLAN_GRAPH);
    CHECK_EQ_INT(vx_plan_choose(1000000, 900000, 1, 10, MAX_K).kind,
                 VX_PLAN_POST);
    CHECK_EQ_INT(vx_plan_choose(1000000, 1000000, 1, 10, MAX_K).kind,
                 VX_PLAN_POST);
    /* small sources: the scan limit is VX_PLAN_SCAN_MIN */
    CHECK_EQ_INT(vx_plan_choose(100000, VX_PLAN_SCAN_MIN, 1, 10, MAX_K).kind,
                 VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(100000, VX_PLAN_SCAN_MIN + 1, 1, 10, MAX_K).kind,
        VX_PLAN_GRAPH);
    /* a source smaller than the scan limit is always scanned */
    CHECK_EQ_INT(vx_plan_choose(3000, 3000, 1, 10, MAX_K).kind, VX_PLAN_SCAN);
}

static void test_no_graph_or_count(void)
{
    /* no graph: always exact, whatever the matches */
    CHECK_EQ_INT(vx_plan_choose(1000000, 500000, 0, 10, MAX_K).kind,
                 VX_PLAN_SCAN);
    CHECK_EQ_INT(
        vx_plan_choose(1000000, VX_PLAN_MATCHES_UNKNOWN, 0, 10, MAX_K).kind,
        VX_PLAN_SCAN);
    /* matches unknown with a graph: the filtered walk, wanting k */
    {
        vx_plan p =
            vx_plan_choose(1000000, VX_PLAN_MATCHES_UNKNOWN, 1, 10, MAX_K);
        CHECK_EQ_INT(p.kind, VX_PLAN_GRAPH);
        CHECK_EQ_INT(p.want, 10);
    }
}

static void test_candidates_and_want(void)
{
    vx_plan p;
    /* all rows match: k + 8 candidates */
    p = vx_plan_choose(1000000, 1000000, 1, 10, MAX_K);
    CHECK_EQ_INT(p.candidates, 18);
    CHECK_EQ_INT(p.want, 10);
    /* 90%: 10 + 10 * 100000 / 900000 * 2 + 8 = 20 (truncated) */
    p = vx_plan_choose(1000000, 900000, 1, 10, MAX_K);
    CHECK_EQ_INT(p.candidates, 20);
    /* bounded by max_k */
    p = vx_plan_choose(1000000, 950000, 1, 5000, 5100);
    CHECK_EQ_INT(p.kind, VX_PLAN_POST);
    CHECK_EQ_INT(p.candidates, 5100);
    /* want is min(k, m) */
    p = vx_plan_choose(1000000, 3, 1, 10, MAX_K);
    CHECK_EQ_INT(p.want, 3);
    p = vx_plan_choose(1000000, 50000, 1, 10, MAX_K);
    CHECK_EQ_INT(p.want, 10);
    CHECK_EQ_INT(p.candidates, 10);
}

static void test_post_bounded_by_rows(void)
{
    /* POST on a source with fewer rows than candidates: at most n */
    vx_plan p = vx_plan_choose(5000, 5000, 1, 4999, MAX_K);
    CHECK_EQ_INT(p.kind, VX_PLAN_POST); /* 5,000 > VX_PLAN_SCAN_MIN */
    CHECK_EQ_INT(p.candidates, 5000);
    p = vx_plan_choose(20000, 19000, 1, 19000, MAX_K);
    CHECK_EQ_INT(p.kind, VX_PLAN_POST);
    CHECK_EQ_INT(p.candidates, 20000);
}

int main(void)
{
    TEST_RUN(test_thresholds);
    TEST_RUN(test_no_graph_or_count);
    TEST_RUN(test_candidates_and_want);
    TEST_RUN(test_post_bounded_by_rows);
    return TEST_EXIT();
}
