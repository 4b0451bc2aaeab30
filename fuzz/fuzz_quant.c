/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_quant.c - fuzz target for the quantizer blob decoder,
 * vx_vq_deserialize (src/quant/quant.c, bytes in docs/FORMAT.md). Byte 0 of
 * the input is flags, the rest is the blob:
 *  - bit 0 set: the blob is re-sealed first (the total size at offset 16
 *    and the trailing CRC32C are recomputed), so damaged fields get past
 *    the checksum and the checks behind it are what is fuzzed.
 * Checked: the status is VEX_OK, VEX_CORRUPT or VEX_UNSUPPORTED, never a
 * crash; a blob that decodes serialises back to exactly the same bytes
 * (the format is canonical), and the quantizer is exercised: a distance
 * computer scores and decodes codes taken from the input, 4-bit ones
 * also through the fast scan.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "quant/quant.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void exercise(vq_quantizer *q, const uint8_t *data, size_t size)
{
    enum { NC = 40 };
    size_t cs = vx_vq_code_size(q), dim = vx_vq_dim(q), i;
    uint8_t *codes = calloc(NC, cs), *blocks = NULL;
    float *vec = calloc(dim, sizeof(float)), *dec = calloc(dim, sizeof(float));
    float out[NC];
    vq_dc *dc = NULL;
    if (codes == NULL || vec == NULL || dec == NULL)
        goto cleanup;
    for (i = 0; i < NC * cs; i++)
        codes[i] = size ? data[i % size] : 0;
    for (i = 0; i < dim; i++)
        vec[i] = (float)((int)(i % 7) - 3) + 0.5f;
    if (vx_vq_dc_create(q, 0, &dc) != VEX_OK)
        goto cleanup;
    if (vx_vq_dc_set_query(dc, vec) == VEX_OK) {
        vx_vq_dc_scan(dc, codes, NC, out);
        (void)vx_vq_dc_distance(dc, codes);
        if (vx_vq_pq4_blocks_size(q, NC) > 0) {
            blocks = malloc(vx_vq_pq4_blocks_size(q, NC));
            if (blocks && vx_vq_pq4_pack(q, codes, NC, blocks) == VEX_OK)
                vx_vq_dc_scan_blocks(dc, blocks, NC, out);
        }
    }
    check(vx_vq_decode(q, codes, 1, dec) == VEX_OK);
    (void)vx_vq_encode(q, vec, 1, codes);
cleanup:
    vx_vq_dc_destroy(dc);
    free(blocks);
    free(codes);
    free(vec);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_mem mem;
    vq_quantizer *q = NULL;
    unsigned char *b, *again;
    size_t n;
    int rc;
    if (size < 1)
        return 0;
    n = size - 1;
    b = malloc(n ? n : 1);
    if (b == NULL)
        return 0;
    if (n)
        memcpy(b, data + 1, n);
    if ((data[0] & 1) && n >= 68) {
        vex_put_u64le(b + 16, n);
        vex_put_u32le(b + n - 4, vex_crc32c(b, n - 4));
    }
    vx_mem_init(&mem, NULL);
    rc = vx_vq_deserialize(&mem, b, n, &q, NULL);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    check((rc == VEX_OK) == (q != NULL));
    if (rc == VEX_OK) {
        check(vx_vq_blob_size(q) == n);
        again = malloc(n);
        if (again) {
            check(vx_vq_serialize(q, again, n) == VEX_OK);
            check(memcmp(again, b, n) == 0);
            free(again);
        }
        exercise(q, b, n);
        vx_vq_destroy(q);
    }
    free(b);
    return 0;
}
