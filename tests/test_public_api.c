/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_public_api.c - a program that sees only include/vexdb.h and links the
 * shared library, the way users do: every status code has a name and text,
 * the SIMD choice can be read and forced, and a handle goes through its
 * whole life.
 */
#include "test.h"
#include "vexdb.h"

static void test_status_codes_complete(void)
{
    int rc;
    /* codes are dense from 0 and each has its own text */
    for (rc = VEX_OK; rc <= VEX_READONLY; rc++) {
        CHECK(strcmp(vex_errstr(rc), "unknown status code") != 0);
        CHECK(strncmp(vex_status_name(rc), "VEX_", 4) == 0);
        CHECK(strcmp(vex_status_name(rc), "VEX_?") != 0);
    }
    CHECK(strcmp(vex_errstr(VEX_READONLY + 1), "unknown status code") == 0);
}

static void test_simd_control(void)
{
    const char *initial = vex_simd_name();
    CHECK(initial != NULL && initial[0] != '\0');
    CHECK(vex_simd_supported("scalar"));
    CHECK(!vex_simd_supported("no-such-isa"));
    CHECK_RC(vex_simd_force("no-such-isa"), VEX_INVALID);
    CHECK(strcmp(vex_simd_name(), initial) == 0); /* unchanged */
    CHECK_RC(vex_simd_force("scalar"), VEX_OK);
    CHECK(strcmp(vex_simd_name(), "scalar") == 0);
    CHECK_RC(vex_simd_force("auto"), VEX_OK);
}

static void test_lifecycle(void)
{
    vex_index_options o;
    vex_index *ix = NULL;
    float v[2][4] = {{1, 2, 3, 4}, {4, 3, 2, 1}};
    uint64_t ids[2] = {10, 20};
    vex_hit hits[2];
    size_t n;
    vex_index_options_init(&o);
    o.dim = 4;
    o.n_threads = 1;
    CHECK_RC(vex_index_create(&o, &ix), VEX_OK);
    CHECK_RC(vex_index_add(ix, ids, v, 2), VEX_OK);
    CHECK_RC(vex_index_search(ix, v[1], 2, NULL, hits, &n), VEX_OK);
    CHECK(n == 2 && hits[0].id == 20 && hits[0].distance == 0.0f &&
          hits[1].id == 10 && hits[1].distance == 20.0f);
    CHECK(vex_index_memory(ix) > 0);
    vex_index_get_options(ix, &o);
    CHECK(o.dim == 4 && o.metric == VEX_METRIC_L2);
    vex_index_free(ix);
    vex_index_free(NULL);
    /* calls on a NULL handle are misuse, not crashes */
    CHECK_RC(vex_index_add(NULL, ids, v, 1), VEX_MISUSE);
    CHECK_RC(vex_index_search(NULL, v[0], 1, NULL, hits, &n), VEX_MISUSE);
    CHECK_RC(vex_index_remove(NULL, 1), VEX_MISUSE);
    CHECK(vex_index_count(NULL) == 0);
    CHECK(vex_index_errmsg(NULL) != NULL);
}

int main(void)
{
    TEST_RUN(test_status_codes_complete);
    TEST_RUN(test_simd_control);
    TEST_RUN(test_lifecycle);
    return TEST_EXIT();
}
