/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_filter.c - fuzz target for the filter language (src/meta/filter.h,
 * filter_parse.c). Byte 0 of the input is flags, the rest is filter text:
 *  - bit 0: compile against a closed schema (year int64, score double,
 *    lang string, draft bool, tags tags); bit 1: an open one; neither: no
 *    schema.
 * Checked: vx_vmf_parse returns VEX_OK or VEX_INVALID (never a crash, never
 * another status), with a "filter: " message on failure. When it
 * compiles, the canonical print parses again (with the same schema) to an
 * equal filter that prints identically; printing into short buffers
 * agrees with the full print; and vx_vmf_eval gives the same result for both
 * filters on a few fixed records (one of them empty).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meta/filter.h"
#include "meta/schema.h"
#include "meta/value.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static vm_str S(const char *s)
{
    vm_str r;
    r.p = s;
    r.len = (uint32_t)strlen(s);
    return r;
}

static vex_mem g_mem;
static vm_schema *g_closed, *g_open;
static vm_record *g_recs[3];

static void setup(void)
{
    vm_schema_field sf[5];
    vm_field rf[6];
    vm_str tags[2];
    static const char *const names[5] = {"year", "score", "lang", "draft",
                                         "tags"};
    static const vm_type types[5] = {VM_INT, VM_DOUBLE, VM_STRING, VM_BOOL,
                                     VM_TAGS};
    int i;
    vx_mem_init(&g_mem, NULL);
    for (i = 0; i < 5; i++) {
        sf[i].name = S(names[i]);
        sf[i].type = types[i];
        sf[i].nullable = i != 0;
    }
    check(vx_vm_schema_new(sf, 5, 1, &g_mem, NULL, &g_closed) == VEX_OK);
    check(vx_vm_schema_new(sf, 5, 0, &g_mem, NULL, &g_open) == VEX_OK);
    tags[0] = S("draft");
    tags[1] = S("a");
    rf[0].name = S("year");
    rf[0].v = vx_vm_int(2021);
    rf[1].name = S("score");
    rf[1].v = vx_vm_double(0.5);
    rf[2].name = S("lang");
    rf[2].v = vx_vm_cstring("de");
    rf[3].name = S("draft");
    rf[3].v = vx_vm_bool(1);
    rf[4].name = S("tags");
    rf[4].v = vx_vm_tags(tags, 2);
    rf[5].name = S("a");
    rf[5].v = vx_vm_null();
    check(vx_vm_record_new(rf, 6, &g_mem, NULL, &g_recs[0]) == VEX_OK);
    rf[0].v = vx_vm_cstring("2021");
    rf[1].v = vx_vm_int(-7);
    rf[2].v = vx_vm_tags(tags, 1);
    check(vx_vm_record_new(rf, 3, &g_mem, NULL, &g_recs[1]) == VEX_OK);
    check(vx_vm_record_new(NULL, 0, &g_mem, NULL, &g_recs[2]) == VEX_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    const vm_schema *schema = NULL;
    vmf_filter *f = NULL, *g = NULL;
    char *p1 = NULL, *p2 = NULL, small[16];
    size_t n1, n2, i;
    vex_err err;
    int rc;

    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 1)
        return 0;
    if (data[0] & 1)
        schema = g_closed;
    else if (data[0] & 2)
        schema = g_open;
    vx_err_init(&err);
    rc = vx_vmf_parse((const char *)data + 1, size - 1, schema, &g_mem, &err,
                      &f);
    check(rc == VEX_OK || rc == VEX_INVALID);
    if (rc != VEX_OK) {
        check(f == NULL && strncmp(err.msg, "filter: ", 8) == 0);
        goto cleanup;
    }
    n1 = vx_vmf_print(f, NULL, 0);
    p1 = malloc(n1 + 1);
    check(p1 != NULL);
    check(vx_vmf_print(f, p1, n1 + 1) == n1 && strlen(p1) == n1);
    check(vx_vmf_print(f, small, sizeof small) == n1);
    check(strlen(small) == (n1 < sizeof small ? n1 : sizeof small - 1));
    check(memcmp(small, p1, strlen(small)) == 0);
    rc = vx_vmf_parse(p1, n1, schema, &g_mem, &err, &g);
    check(rc == VEX_OK);
    check(vx_vmf_equal(f, g));
    n2 = vx_vmf_print(g, NULL, 0);
    p2 = malloc(n2 + 1);
    check(p2 != NULL);
    vx_vmf_print(g, p2, n2 + 1);
    check(n1 == n2 && memcmp(p1, p2, n1) == 0);
    for (i = 0; i < 3; i++) {
        int r = vx_vmf_eval3(f, g_recs[i]);
        check(r == VMF_TRUE || r == VMF_FALSE || r == VMF_UNKNOWN);
        check(r == vx_vmf_eval3(g, g_recs[i]));
        check(vx_vmf_eval(f, g_recs[i]) == (r == VMF_TRUE));
    }
cleanup:
    free(p1);
    free(p2);
    vx_vmf_free(f, &g_mem);
    vx_vmf_free(g, &g_mem);
    vx_err_destroy(&err);
    return 0;
}
