/* SPDX-License-Identifier: Apache-2.0 */
/*
 * batch.c - several reads of one file at once (see batch.h).
 *
 * io_uring: one ring per reader, sized to its depth, created once (a ring
 * costs a system call and locked memory; a search's scratch keeps its
 * reader). A batch is submitted with one io_uring_submit and reaped with
 * io_uring_wait_cqe; a read that comes back short (a signal, the end of
 * the file) or failed is finished, or read again once, with the vfs's own
 * exact read, which says precisely what a short file or an I/O error is.
 * A ring that loses entries (not all submitted or reaped) is given up
 * for plain reads.
 */
#include "io/batch.h"

#include <errno.h>
#include <string.h>

#ifdef VEX_HAVE_URING
#include <liburing.h>
#endif

struct vx_batch_reader {
    vex_mem mem;
    vex_file *f;
    unsigned depth;
    int fd;
#ifdef VEX_HAVE_URING
    int have_ring;
    struct io_uring ring;
#endif
};

int vx_batch_reader_create(const vex_mem *mem, vex_file *f, unsigned depth,
                           vx_batch_reader **out)
{
    vx_batch_reader *br;
    *out = NULL;
    if (depth == 0 || depth > 256)
        return VEX_INVALID;
    br = vx_mem_calloc(mem, 1, sizeof *br);
    if (br == NULL)
        return VEX_NOMEM;
    br->mem = *mem;
    br->f = f;
    br->depth = depth;
    br->fd = f->vfs->methods->os_fd ? f->vfs->methods->os_fd(f) : -1;
#ifdef VEX_HAVE_URING
    if (br->fd >= 0 && io_uring_queue_init(depth, &br->ring, 0) == 0)
        br->have_ring = 1;
#endif
    *out = br;
    return VEX_OK;
}

void vx_batch_reader_free(vx_batch_reader *br)
{
    vex_mem mem;
    if (br == NULL)
        return;
    mem = br->mem;
#ifdef VEX_HAVE_URING
    if (br->have_ring)
        io_uring_queue_exit(&br->ring);
#endif
    vx_mem_free(&mem, br);
}

const char *vx_batch_reader_kind(const vx_batch_reader *br)
{
#ifdef VEX_HAVE_URING
    if (br->have_ring)
        return "io_uring";
#else
    (void)br;
#endif
    return "pread";
}

#ifdef VEX_HAVE_URING
static int batch_uring(vx_batch_reader *br, const vx_read_req *reqs, unsigned n,
                       vex_err *err)
{
    unsigned i, done = 0;
    int rc = VEX_OK, sub;
    size_t got[256];
    for (i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&br->ring);
        /* the ring holds depth entries and nothing else is queued */
        io_uring_prep_read(sqe, br->fd, reqs[i].buf, (unsigned)reqs[i].n,
                           reqs[i].off);
        io_uring_sqe_set_data64(sqe, i);
        got[i] = 0;
    }
    sub = io_uring_submit(&br->ring);
    if (sub < 0)
        sub = 0;
    while (done < (unsigned)sub) {
        struct io_uring_cqe *cqe;
        int w = io_uring_wait_cqe(&br->ring, &cqe);
        if (w == -EINTR)
            continue;
        if (w < 0)
            break; /* nothing to wait for: what is missing is read below */
        i = (unsigned)io_uring_cqe_get_data64(cqe);
        /* a failed read (res < 0) keeps got 0: read again below, where
         * the vfs reports its error */
        if (cqe->res >= 0 && i < n)
            got[i] = (size_t)cqe->res;
        io_uring_cqe_seen(&br->ring, cqe);
        done++;
    }
    if ((unsigned)sub != n || done != (unsigned)sub) {
        /* the ring misbehaves (entries left unsubmitted or unreaped): stop
         * using it; this and every later batch read plainly */
        io_uring_queue_exit(&br->ring);
        br->have_ring = 0;
    }
    /* short or failed reads: finished (or failed, with the vfs's message)
     * by the vfs's exact read */
    for (i = 0; i < n && rc == VEX_OK; i++)
        if (got[i] < reqs[i].n)
            rc = vx_file_read_exact(br->f, (char *)reqs[i].buf + got[i],
                                    reqs[i].n - got[i], reqs[i].off + got[i],
                                    err);
    return rc;
}
#endif

int vx_batch_read(vx_batch_reader *br, const vx_read_req *reqs, unsigned n,
                  vex_err *err)
{
    int rc = VEX_OK;
    while (n > 0 && rc == VEX_OK) {
        unsigned m = n < br->depth ? n : br->depth;
#ifdef VEX_HAVE_URING
        if (br->have_ring && m > 1) {
            rc = batch_uring(br, reqs, m, err);
        } else
#endif
        {
            for (unsigned i = 0; i < m && rc == VEX_OK; i++)
                rc = vx_file_read_exact(br->f, reqs[i].buf, reqs[i].n,
                                        reqs[i].off, err);
        }
        reqs += m;
        n -= m;
    }
    return rc;
}
