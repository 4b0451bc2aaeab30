/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_diskann.c - fuzz target for the DiskANN index reader
 * (src/index/diskann.c, bytes in docs/FORMAT.md): vx_dann_open over the
 * input as a file, then searches, with and without a page cache. Byte 0
 * of the input is flags, the rest is the index:
 *  - bit 0: re-seal the header (its CRC32C), so damaged header fields get
 *    past the checksum and the field checks behind it are what is fuzzed;
 *  - bit 1: also re-seal the codes, the key table, every node page's
 *    checksum and the checksum table, so damaged node records reach the
 *    record decoding of a search.
 * Checked: the status is VEX_OK, VEX_CORRUPT, VEX_UNSUPPORTED or VEX_NOMEM
 * (a header may ask for more memory than there is), never a crash; hits
 * are at most k, sorted, with keys from the key table.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "index/diskann.h"
#include "io/vfs.h"
#include "util/crc32c.h"
#include "util/endian.h"

#include <stdio.h>

#define check(ok) check_at((ok), __LINE__)
static void check_at(int ok, int line)
{
    if (!ok) {
        fprintf(stderr, "fuzz_diskann.c:%d: check failed\n", line);
        abort();
    }
}

static void reseal(unsigned char *b, size_t n, int all)
{
    if (n < VX_DANN_PAGE)
        return;
    if (all) {
        uint64_t codes_off = vex_get_u64le(b + 64),
                 codes_len = vex_get_u64le(b + 72);
        uint64_t keys_off = vex_get_u64le(b + 80),
                 crcs_off = vex_get_u64le(b + 88),
                 nodes_off = vex_get_u64le(b + 96),
                 n_pages = vex_get_u64le(b + 104), nn = vex_get_u64le(b + 24);
        if (codes_off <= n && codes_len <= n - codes_off)
            vex_put_u32le(b + 112, vex_crc32c(b + codes_off, codes_len));
        if (keys_off <= n && nn <= (n - keys_off) / 4)
            vex_put_u32le(b + 116, vex_crc32c(b + keys_off, nn * 4));
        if (crcs_off <= n && n_pages <= (n - crcs_off) / 4 && nodes_off <= n &&
            n_pages <= (n - nodes_off) / VX_DANN_PAGE) {
            for (uint64_t i = 0; i < n_pages; i++)
                vex_put_u32le(
                    b + crcs_off + 4 * i,
                    vex_crc32c(b + nodes_off + i * VX_DANN_PAGE, VX_DANN_PAGE));
            vex_put_u32le(b + 120, vex_crc32c(b + crcs_off, n_pages * 4));
        }
    }
    vex_put_u32le(b + VX_DANN_PAGE - 4, vex_crc32c(b, VX_DANN_PAGE - 4));
}

static void search_all(vx_dann *d)
{
    vx_dann_scratch *s = NULL;
    uint32_t dim = vx_dann_dim(d);
    float *q = malloc((size_t)dim * sizeof *q);
    vex_hit hits[8];
    if (q == NULL || vx_dann_scratch_create(d, 16, 3, &s) != VEX_OK) {
        free(q);
        return;
    }
    for (int t = 0; t < 3; t++) {
        size_t nh = 99;
        int rc;
        for (uint32_t i = 0; i < dim; i++)
            q[i] = (float)((int)((i + (uint32_t)t) % 5) - 2) + 0.25f;
        rc = vx_dann_search(d, s, q, 8, 16, 3, NULL, NULL, hits, &nh, NULL,
                            NULL);
        check(rc == VEX_OK || rc == VEX_CORRUPT);
        if (rc == VEX_OK) {
            check(nh <= 8);
            for (size_t i = 1; i < nh; i++)
                check(hits[i].distance >= hits[i - 1].distance);
        }
    }
    vx_dann_scratch_free(d, s);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_mem mem;
    vex_vfs *vfs = NULL;
    vex_file *f = NULL;
    unsigned char *b;
    size_t n;
    if (size < 1 || size > (1u << 22))
        return 0;
    n = size - 1;
    b = malloc(n ? n : 1);
    if (b == NULL)
        return 0;
    memcpy(b, data + 1, n);
    if (data[0] & 3)
        reseal(b, n, data[0] & 2);
    vx_mem_init(&mem, NULL);
    check(vx_vfs_mem_create(NULL, &vfs) == VEX_OK);
    check(vex_vfs_open(vfs, "/i", VX_FILE_READWRITE | VX_FILE_CREATE, &f,
                       NULL) == VEX_OK);
    check(n == 0 || vex_file_write(f, b, n, 0, NULL) == VEX_OK);
    for (int cache = 0; cache < 2; cache++) {
        vx_dann *d = NULL;
        int rc =
            vx_dann_open(&mem, f, 0, n, cache ? 2 * VX_DANN_PAGE : 0, &d, NULL);
        check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED ||
              rc == VEX_NOMEM);
        check((rc == VEX_OK) == (d != NULL));
        if (d)
            search_all(d);
        vx_dann_close(d);
    }
    vex_file_close(f, NULL);
    vfs->methods->destroy(vfs);
    free(b);
    return 0;
}
