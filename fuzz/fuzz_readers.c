/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_readers.c - fuzz target for the vex tool's dataset readers
 * (tools/vex/readers.h). Each input is decoded from memory as every format
 * (fvecs, bvecs, ivecs, npy, and by sniffing), as vectors, as ids, with and
 * without a record limit, and probed. A failure must leave a message and
 * zeroed outputs; a success must give sane sizes, and every decoded value is
 * read so the sanitizers see any short allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "readers.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void one_format(const uint8_t *data, size_t size, vexio_format fmt,
                       uint64_t limit)
{
    vexio_vectors v;
    vexio_ids ids;
    vexio_info info;
    vexio_error err;
    volatile float fsum = 0;
    volatile uint64_t isum = 0; /* unsigned: ids may be any int64 */
    uint64_t i;
    int rc;

    rc = vexio_read_vectors_mem(data, size, "fuzz", fmt, limit, &v, &err);
    if (rc == VEX_OK) {
        check(v.n >= 1 && v.dim >= 1 && v.dim <= VEX_MAX_DIM && v.data);
        check(limit == 0 || v.n <= limit);
        check(v.n * v.dim <= (uint64_t)size); /* at most one value per byte */
        for (i = 0; i < v.n * v.dim; i++)
            fsum += v.data[i];
    } else {
        check(err.msg[0] != '\0' && v.data == NULL && v.n == 0);
    }
    vexio_vectors_free(&v);

    rc = vexio_read_ids_mem(data, size, "fuzz", fmt, limit, &ids, &err);
    if (rc == VEX_OK) {
        check(ids.n >= 1 && ids.k >= 1 && ids.k <= VEX_MAX_DIM && ids.ids);
        check(ids.n * ids.k * 4 <= (uint64_t)size);
        for (i = 0; i < ids.n * ids.k; i++)
            isum += (uint64_t)ids.ids[i];
    } else {
        check(err.msg[0] != '\0' && ids.ids == NULL && ids.n == 0);
    }
    vexio_ids_free(&ids);

    if (limit == 0) {
        rc = vexio_probe_mem(data, size, "fuzz", fmt, &info, &err);
        if (rc == VEX_OK)
            check(info.n >= 1 && info.dim >= 1 && info.file_size == size &&
                  info.data_offset <= size);
        else
            check(err.msg[0] != '\0');
    }
    (void)fsum;
    (void)isum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const vexio_format fmts[] = {VEXIO_AUTO, VEXIO_FVECS, VEXIO_BVECS,
                                        VEXIO_IVECS, VEXIO_NPY};
    size_t i;
    for (i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        one_format(data, size, fmts[i], 0);
        one_format(data, size, fmts[i], 1 + (size & 3));
    }
    return 0;
}
