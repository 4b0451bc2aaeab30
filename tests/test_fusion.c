/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fusion.c - fusing ranked lists (text/fusion.h): reciprocal rank
 * fusion and weighted normalised scores against values worked out by
 * hand, a seeded comparison with a direct computation over random lists,
 * and the refusals.
 */
#include "test.h"

#include "text/fusion.h"
#include "util/rng.h"

static void test_rrf_by_hand(void)
{
    vex_mem m;
    /* vector leg: distances; text leg: BM25 scores */
    vt_ranked vec[3] = {{10, 0.1}, {20, 0.2}, {30, 0.5}};
    vt_ranked txt[3] = {{30, 9.0}, {40, 4.0}, {10, 1.0}};
    vt_list l[2] = {{vec, 3, 1, 1.0}, {txt, 3, 0, 1.0}};
    vt_ranked out[8];
    size_t n = 0;
    vx_mem_init(&m, NULL);
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 60.0, l, 2, 8, out, &n, NULL), VEX_OK);
    /* 10: 1/61 + 1/63; 30: 1/63 + 1/61; 20: 1/62; 40: 1/62 */
    CHECK_EQ_INT(n, 4);
    CHECK(out[0].id == 10 && out[1].id == 30); /* tie: smaller id first */
    CHECK(out[0].score == out[1].score);
    CHECK(fabs(out[0].score - (1.0 / 61 + 1.0 / 63)) < 1e-15);
    CHECK(out[2].id == 20 && out[3].id == 40);
    CHECK(fabs(out[2].score - 1.0 / 62) < 1e-15);
    /* k cuts; a weight of 0 silences a list */
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 60.0, l, 2, 1, out, &n, NULL), VEX_OK);
    CHECK_EQ_INT(n, 1);
    l[0].weight = 0.0;
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 0.0, l, 2, 8, out, &n, NULL), VEX_OK);
    CHECK_EQ_INT(n, 4);
    CHECK(out[0].id == 30 && out[0].score == 1.0);
    CHECK(out[1].id == 40 && out[1].score == 0.5);
}

static void test_weighted_by_hand(void)
{
    vex_mem m;
    vt_ranked vec[3] = {{10, 0.1}, {20, 0.2}, {30, 0.5}};
    vt_ranked txt[3] = {{30, 9.0}, {40, 4.0}, {10, 1.0}};
    vt_ranked same[2] = {{50, 2.0}, {60, 2.0}};
    vt_list l[3] = {{vec, 3, 1, 0.5}, {txt, 3, 0, 0.5}, {same, 2, 0, 0.25}};
    vt_ranked out[8];
    size_t n = 0;
    vx_mem_init(&m, NULL);
    CHECK_RC(vx_fuse(&m, VT_FUSE_WEIGHTED, 60.0, l, 3, 8, out, &n, NULL),
             VEX_OK);
    /* vec norms: 10 -> 1, 20 -> 0.75, 30 -> 0; txt: 30 -> 1, 40 -> 0.375,
     * 10 -> 0; same: all 1 */
    CHECK_EQ_INT(n, 6);
    CHECK(out[0].id == 10 && fabs(out[0].score - 0.5) < 1e-15);
    CHECK(out[1].id == 30 && fabs(out[1].score - 0.5) < 1e-15);
    CHECK(out[2].id == 20 && fabs(out[2].score - 0.375) < 1e-15);
    CHECK(out[3].id == 50 && fabs(out[3].score - 0.25) < 1e-15);
    CHECK(out[4].id == 60 && fabs(out[4].score - 0.25) < 1e-15);
    CHECK(out[5].id == 40 && fabs(out[5].score - 0.1875) < 1e-15);
}

static void test_random_lists(void)
{
    vex_mem m;
    vex_rng r;
    unsigned trial;
    vx_mem_init(&m, NULL);
    vex_rng_seed(&r, test_seed(9));
    for (trial = 0; trial < 200; trial++) {
        vt_ranked a[40], b[40], out[80];
        double want[100];
        size_t na = (size_t)vex_rng_below(&r, 40),
               nb = (size_t)vex_rng_below(&r, 40);
        size_t i, n = 0, k = 1 + (size_t)vex_rng_below(&r, 80);
        int method = trial % 2 ? VT_FUSE_RRF : VT_FUSE_WEIGHTED;
        double rk = (double)vex_rng_below(&r, 100);
        unsigned char used[100];
        vt_list l[2];
        memset(used, 0, sizeof used);
        for (i = 0; i < na; i++) { /* distinct ids, rising distances */
            uint64_t id;
            do
                id = vex_rng_below(&r, 100);
            while (used[id] & 1);
            used[id] |= 1;
            a[i].id = id;
            a[i].score = i ? a[i - 1].score + vex_rng_double(&r) : 0.0;
        }
        for (i = 0; i < nb; i++) {
            uint64_t id;
            do
                id = vex_rng_below(&r, 100);
            while (used[id] & 2);
            used[id] |= 2;
            b[i].id = id;
            b[i].score = i ? b[i - 1].score - vex_rng_double(&r) : 10.0;
        }
        l[0].items = a;
        l[0].n = na;
        l[0].lower_is_better = 1;
        l[0].weight = vex_rng_double(&r);
        l[1].items = b;
        l[1].n = nb;
        l[1].lower_is_better = 0;
        l[1].weight = vex_rng_double(&r);
        memset(want, 0, sizeof want);
        for (i = 0; i < na; i++) {
            double span = a[na - 1].score - a[0].score;
            want[a[i].id] +=
                method == VT_FUSE_RRF ? l[0].weight / (rk + (double)i + 1)
                : span == 0
                    ? l[0].weight
                    : l[0].weight * ((a[na - 1].score - a[i].score) / span);
        }
        for (i = 0; i < nb; i++) {
            double span = b[0].score - b[nb - 1].score;
            want[b[i].id] +=
                method == VT_FUSE_RRF ? l[1].weight / (rk + (double)i + 1)
                : span == 0
                    ? l[1].weight
                    : l[1].weight * ((b[i].score - b[nb - 1].score) / span);
        }
        CHECK_RC(vx_fuse(&m, method, rk, l, 2, k, out, &n, NULL), VEX_OK);
        {
            size_t in_union = 0;
            for (i = 0; i < 100; i++)
                in_union += used[i] != 0;
            CHECK_EQ_INT(n, in_union < k ? in_union : k);
        }
        for (i = 0; i < n; i++) {
            CHECK(used[out[i].id] != 0);
            CHECK(fabs(out[i].score - want[out[i].id]) <= 1e-12);
            if (i > 0)
                CHECK(out[i - 1].score > out[i].score ||
                      (out[i - 1].score == out[i].score &&
                       out[i - 1].id < out[i].id));
        }
        /* nothing left out scores above the last kept */
        if (n == k)
            for (i = 0; i < 100; i++) {
                size_t j;
                int kept = 0;
                for (j = 0; j < n; j++)
                    kept |= out[j].id == i;
                if (used[i] && !kept)
                    CHECK(want[i] <= out[n - 1].score + 1e-12);
            }
    }
}

static void test_refusals(void)
{
    vex_mem m;
    vt_ranked twice[2] = {{7, 2.0}, {7, 1.0}};
    vt_ranked unordered[2] = {{1, 1.0}, {2, 2.0}};
    vt_ranked nan_s[1] = {{1, NAN}};
    vt_list l = {twice, 2, 0, 1.0};
    vt_ranked out[4];
    size_t n;
    vex_err e;
    vx_mem_init(&m, NULL);
    vx_err_init(&e);
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 60, &l, 1, 4, out, &n, &e), VEX_INVALID);
    CHECK(strstr(e.msg, "id 7 twice") != NULL);
    l.items = unordered;
    CHECK_RC(vx_fuse(&m, VT_FUSE_WEIGHTED, 60, &l, 1, 4, out, &n, &e),
             VEX_INVALID);
    CHECK(strstr(e.msg, "out of order") != NULL);
    l.lower_is_better = 1; /* now in order */
    CHECK_RC(vx_fuse(&m, VT_FUSE_WEIGHTED, 60, &l, 1, 4, out, &n, &e), VEX_OK);
    l.items = nan_s;
    l.n = 1;
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 60, &l, 1, 4, out, &n, &e), VEX_INVALID);
    l.items = unordered;
    l.n = 2;
    l.weight = -1.0;
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 60, &l, 1, 4, out, &n, &e), VEX_INVALID);
    l.weight = 1.0;
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, -1, &l, 1, 4, out, &n, &e), VEX_INVALID);
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 60, &l, 1, 0, out, &n, &e), VEX_INVALID);
    CHECK_RC(vx_fuse(&m, 3, 60, &l, 1, 4, out, &n, &e), VEX_INVALID);
    CHECK_RC(vx_fuse(&m, VT_FUSE_RRF, 60, NULL, 0, 4, out, &n, &e), VEX_OK);
    CHECK_EQ_INT(n, 0);
    vx_err_destroy(&e);
}

int main(void)
{
    TEST_RUN(test_rrf_by_hand);
    TEST_RUN(test_weighted_by_hand);
    TEST_RUN(test_random_lists);
    TEST_RUN(test_refusals);
    return TEST_EXIT();
}
