/* SPDX-License-Identifier: Apache-2.0 */
/*
 * readers.h - dataset readers and writers for the vex tool: texmex .fvecs,
 * .bvecs and .ivecs files and numpy .npy arrays, read into float32 vectors
 * (vexio_vectors) or 64-bit ground-truth ids (vexio_ids). Files are treated
 * as hostile input: every malformed or truncated file gives a status code
 * and a message naming the file, the record and the byte offset, never an
 * out-of-bounds read. Each reader has a file version and a memory version
 * (the fuzzer and the tests use the latter). These sit above the public API
 * (they use only the status codes and limits of vexdb.h) and below the
 * tool's commands.
 *
 * Accepted inputs
 *   .fvecs   records of int32 d, then d float32         -> vectors, info
 *   .bvecs   records of int32 d, then d uint8           -> vectors, info
 *   .ivecs   records of int32 d, then d int32           -> ids, info
 *   .npy     versions 1.0, 2.0, 3.0; C order; little-endian or 1-byte dtypes
 *            vectors: <f4, <f8, |u1, |i1 (converted to float32)
 *            ids:     <i4, <i8
 *            a 2-D array (n, d) is n rows of d; a 1-D array (d,) is read as
 *            one row of d (a single query vector); 0-D or >2-D arrays and
 *            fortran_order True are rejected.
 * Every record of a texmex file must have the dimension of record 0, in
 * 1..VEX_MAX_DIM; npy shapes must have d in 1..VEX_MAX_DIM, n >= 1, and
 * the data must fill the rest of the file exactly. Files must be regular
 * files (their size is checked against the records before reading).
 *
 * Limit: a `limit` > 0 reads only the first `limit` records; the records
 * after them are not read and not validated (npy: the shape is still
 * checked against the file size).
 *
 * Status codes are vexdb.h's: VEX_CORRUPT (malformed data), VEX_UNSUPPORTED
 * (a valid file this reader does not handle: dtype, order, version),
 * VEX_INVALID (wrong kind of file for the request, unknown extension),
 * VEX_IOERR, VEX_NOMEM. Output structs need no initialisation: they are
 * zeroed on entry, and on failure anything allocated is freed.
 */
#ifndef VEX_TOOLS_READERS_H
#define VEX_TOOLS_READERS_H

#include <stddef.h>
#include <stdint.h>

typedef enum vexio_format {
    VEXIO_AUTO = 0, /* from the file name's extension, else npy magic */
    VEXIO_FVECS = 1,
    VEXIO_BVECS = 2,
    VEXIO_IVECS = 3,
    VEXIO_NPY = 4
} vexio_format;

#define VEXIO_ERRMSG_MAX 512

/* A message buffer owned by the caller; "" after a success. */
typedef struct vexio_error {
    char msg[VEXIO_ERRMSG_MAX];
} vexio_error;

/* n rows of dim floats, row-major; data owned, free with vexio_vectors_free */
typedef struct vexio_vectors {
    uint32_t dim;
    uint64_t n;
    float *data;
} vexio_vectors;

/* n rows of k ids, row-major; ids owned, free with vexio_ids_free */
typedef struct vexio_ids {
    uint32_t k;
    uint64_t n;
    int64_t *ids;
} vexio_ids;

/* What a file holds, as found by vexio_probe (which validates every record
 * but keeps nothing). */
typedef struct vexio_info {
    vexio_format format;
    const char *dtype; /* static string: "float32", "uint8", "int32", ... */
    uint32_t dim;
    uint64_t n;
    uint64_t data_offset; /* where the first record's data starts */
    uint64_t file_size;
} vexio_info;

/* "fvecs", "bvecs", "ivecs", "npy", "auto" */
const char *vexio_format_name(vexio_format f);

/* The format the file name's extension names, or VEXIO_AUTO if none. */
vexio_format vexio_format_from_name(const char *path);

int vexio_read_vectors(const char *path, vexio_format fmt, uint64_t limit,
                       vexio_vectors *out, vexio_error *err);
int vexio_read_ids(const char *path, vexio_format fmt, uint64_t limit,
                   vexio_ids *out, vexio_error *err);
int vexio_probe(const char *path, vexio_format fmt, vexio_info *out,
                vexio_error *err);

/* The same over a memory buffer; `name` is used in messages and, with
 * VEXIO_AUTO, for the extension. `buf` may be NULL when len is 0. */
int vexio_read_vectors_mem(const void *buf, size_t len, const char *name,
                           vexio_format fmt, uint64_t limit, vexio_vectors *out,
                           vexio_error *err);
int vexio_read_ids_mem(const void *buf, size_t len, const char *name,
                       vexio_format fmt, uint64_t limit, vexio_ids *out,
                       vexio_error *err);
int vexio_probe_mem(const void *buf, size_t len, const char *name,
                    vexio_format fmt, vexio_info *out, vexio_error *err);

void vexio_vectors_free(vexio_vectors *v);
void vexio_ids_free(vexio_ids *ids);

/* Write n records of dim floats as .fvecs, or n records of k ids as .ivecs
 * (each id must fit in int32). The file is created or truncated. Returns
 * VEX_OK, VEX_INVALID (bad dim or id), VEX_IOERR. */
int vexio_write_fvecs(const char *path, uint32_t dim, uint64_t n,
                      const float *data, vexio_error *err);
int vexio_write_ivecs(const char *path, uint32_t k, uint64_t n,
                      const int64_t *ids, vexio_error *err);

#endif
