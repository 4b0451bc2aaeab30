/* SPDX-License-Identifier: Apache-2.0 */
/*
 * batch.h - several reads of one file submitted at once.
 *
 * A disk-resident index reads a handful of pages per step of a search
 * and waits for all of them; one pread after another pays each read's
 * latency in turn, which is what a cold SSD cannot afford. A batch
 * reader submits a step's reads together through io_uring when the build
 * has liburing (VEX_HAVE_URING) and the kernel allows a ring (containers
 * may not: then it falls back), and the file is an OS file (the vfs's
 * os_fd method); otherwise it reads them one call at a time through the
 * vfs, which is also how the fault and crash wrappers see every read.
 *
 * Threading: a reader belongs to one thread at a time (a search's
 * scratch owns one); the file may be shared.
 */
#ifndef VEX_IO_BATCH_H
#define VEX_IO_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "io/vfs.h"
#include "util/err.h"
#include "util/mem.h"

typedef struct vx_read_req {
    void *buf;
    size_t n;
    uint64_t off;
} vx_read_req;

typedef struct vx_batch_reader vx_batch_reader;

/* A reader of f (borrowed) for batches of up to `depth` reads (1..256).
 * VEX_NOMEM; never fails for want of io_uring (it falls back). */
int vx_batch_reader_create(const vex_mem *mem, vex_file *f, unsigned depth,
                           vx_batch_reader **out);
void vx_batch_reader_free(vx_batch_reader *br);

/* "io_uring" or "pread". */
const char *vx_batch_reader_kind(const vx_batch_reader *br);

/* Read every request exactly (n of them, any number: batches of `depth`
 * are submitted in turn). A read that ends before its n bytes is
 * VEX_CORRUPT, as vx_file_read_exact says; I/O errors as the vfs maps
 * them. */
int vx_batch_read(vx_batch_reader *br, const vx_read_req *reqs, unsigned n,
                  vex_err *err);

#endif
