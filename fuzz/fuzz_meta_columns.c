/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_meta_columns.c - fuzz target for the metadata column decoder
 * (src/meta/column.c vx_vm_colset_open). Input: 4 bytes little-endian, the
 * number of rows the caller expects (taken modulo 65536 so that the
 * decoder's per-row work stays small), then the blob. Checked: open
 * returns VEX_OK, VEX_CORRUPT or VEX_UNSUPPORTED; on success a few
 * filters evaluate (the match count agrees with the bitmap), every row
 * rebuilds into a record or is refused as VEX_CORRUPT, and building
 * columns from the rebuilt records and opening them again works.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meta/column.h"
#include "meta/filter.h"
#include "util/endian.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const texts[] = {
        "i > 0 OR s IN ('a', 'b') OR t CONTAINS 'a' OR d <= 1.5",
        "NOT (i BETWEEN -3 AND 3) AND b = true", "s >= 'b' AND x IS NULL",
        "t CONTAINS ALL ('a', 'c') OR NOT t CONTAINS ANY ('b')"};
    vex_mem mem;
    vm_colset *cs = NULL;
    uint32_t n_rows;
    int rc;
    if (size < 4)
        return 0;
    vx_mem_init(&mem, NULL);
    n_rows = vex_get_u32le(data) % 65536;
    rc = vx_vm_colset_open(data + 4, size - 4, n_rows, &mem, NULL, &cs);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    if (rc != VEX_OK)
        return 0;
    {
        size_t words = ((size_t)n_rows + 63) / 64;
        uint64_t *bits = malloc((words ? words : 1) * 8);
        vm_record **recs = calloc(n_rows ? n_rows : 1, sizeof *recs);
        int all_rows = 1;
        check(bits != NULL && recs != NULL);
        for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
            vmf_filter *f = NULL;
            uint64_t cnt = 0, pop = 0;
            check(vx_vmf_parse(texts[t], strlen(texts[t]), NULL, &mem, NULL,
                               &f) == VEX_OK);
            check(vx_vm_colset_eval(cs, f, bits, &cnt, NULL) == VEX_OK);
            for (size_t w = 0; w < words; w++)
                pop += (uint64_t)__builtin_popcountll(bits[w]);
            check(pop == cnt && cnt <= n_rows);
            vx_vmf_free(f, &mem);
        }
        for (uint32_t r = 0; r < n_rows; r++) {
            rc = vx_vm_colset_record(cs, r, &mem, NULL, &recs[r]);
            check(rc == VEX_OK || rc == VEX_CORRUPT);
            all_rows &= rc == VEX_OK;
        }
        if (all_rows) {
            unsigned char *blob = NULL;
            size_t len = 0;
            vm_colset *again = NULL;
            check(vx_vm_colset_build((const vm_record *const *)recs, n_rows,
                                     vx_vm_colset_zstd() ? VM_BUILD_ZSTD : 0,
                                     &mem, NULL, &blob, &len) == VEX_OK);
            check(vx_vm_colset_open(blob, len, n_rows, &mem, NULL, &again) ==
                  VEX_OK);
            vx_vm_colset_close(again);
            vx_mem_free(&mem, blob);
        }
        for (uint32_t r = 0; r < n_rows; r++)
            vx_vm_record_free(recs[r], &mem);
        free(recs);
        free(bits);
    }
    vx_vm_colset_close(cs);
    return 0;
}
