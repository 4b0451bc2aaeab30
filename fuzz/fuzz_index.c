/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_index.c - fuzz target for vex_index_open_buffer(): the input is
 * taken as an index blob as is (the corpus holds valid and damaged blobs
 * from make_index_corpus.c, so the fuzzer starts past the magic and the
 * checksums). The low bit of the last byte chooses whether the borrowed
 * or the VEX_OPEN_COPY open comes first; both run, because that byte is
 * covered by a checksum, so flipping it could never reach the other mode
 * with a blob that opens. An index that opens is exercised
 * (fuzz_index_common.h).
 */
#include "fuzz.h"
#include "fuzz_index_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int first = size > 0 && (data[size - 1] & 1);
    size_t n_seed = size < 64 ? size : 64;
    fz_open_and_run(data, size, first, data + size - n_seed, n_seed);
    fz_open_and_run(data, size, !first, data + size - n_seed, n_seed);
    return 0;
}
