/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_index_mutate.c - corruption fuzzer for index blobs. Small valid
 * blobs (fz_build_base: HNSW with tombstones and free slots, cosine,
 * hamming, flat, empty) are built once; the input picks one and damages
 * it. Input: byte 0 is flags (bit 0: re-seal the checksums afterwards,
 * bit 1: open with VEX_OPEN_COPY, bits 2-7: which blob, modulo the number
 * of blobs), then up to 64 edits of 3 bytes (offset low, offset high, XOR
 * mask; the offset is taken modulo the blob size). Re-sealing recomputes
 * every section CRC and re-encodes the header with vx_blob_finish(), with
 * the header's fields (not its section table, which must stay in bounds
 * for the CRCs to be computed) decoded from the edited bytes, so damaged
 * counts, entry points and parameters get past the checksums and the
 * structural checks behind them are what is fuzzed.
 */
#include "fuzz.h"
#include "fuzz_index_common.h"
#include "index/blob.h"
#include "util/endian.h"

static unsigned char *base_blob[FZ_N_BASES];
static uint64_t base_size[FZ_N_BASES];
static vex_blob_info base_info[FZ_N_BASES];

static void init_bases(void)
{
    static int done;
    int i;
    if (done)
        return;
    done = 1;
    for (i = 0; i < FZ_N_BASES; i++) {
        vex_err err;
        fz_check(fz_build_base(i, &base_blob[i], &base_size[i]) == VEX_OK);
        vx_err_init(&err);
        fz_check(vx_blob_parse(base_blob[i], base_size[i], &base_info[i],
                               &err) == VEX_OK);
        vx_err_destroy(&err);
    }
}

/* Header fields from edited bytes; the section table stays as built. */
static void reseal(unsigned char *b, const vex_blob_info *orig)
{
    vex_blob_info info = *orig;
    info.kind = vex_get_u32le(b + 16);
    info.elem = vex_get_u32le(b + 20);
    info.metric = vex_get_u32le(b + 24);
    info.dim = vex_get_u32le(b + 28);
    info.n_slots = vex_get_u64le(b + 32);
    info.n_live = vex_get_u64le(b + 40);
    info.m = vex_get_u32le(b + 48);
    info.ef_construction = vex_get_u32le(b + 52);
    info.ef_search = vex_get_u32le(b + 56);
    info.seed = vex_get_u64le(b + 64);
    info.entry = vex_get_u64le(b + 72);
    info.slot_bytes = vex_get_u64le(b + 80);
    info.upper_len = vex_get_u64le(b + 88);
    vx_blob_finish(&info, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *b;
    uint64_t n;
    size_t i;
    int which;
    if (size < 1)
        return 0;
    init_bases();
    which = (data[0] >> 2) % FZ_N_BASES;
    n = base_size[which];
    b = malloc((size_t)n);
    fz_check(b != NULL);
    memcpy(b, base_blob[which], (size_t)n);
    for (i = 1; i + 3 <= size && i < 1 + 3 * 64; i += 3)
        b[(data[i] | (size_t)data[i + 1] << 8) % n] ^= data[i + 2];
    if (data[0] & 1)
        reseal(b, &base_info[which]);
    fz_open_and_run(b, (size_t)n, data[0] & 2, data + 1, size - 1);
    free(b);
    return 0;
}
