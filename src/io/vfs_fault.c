/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfs_fault.c - a fault-injecting vfs that wraps any other (see the
 * contract in vfs.h): it forwards each call, counts it per method, and
 * fails the Nth call of the selected methods (or every one from the Nth
 * when persistent) with an EIO, an ENOSPC, a short write or a failed
 * sync. Storage tests sweep N from 1 until their operation succeeds and
 * check the status and the state after every failure (SQLite's
 * test_vfs.c is the model). Part of the io layer, used only by tests.
 */
#include "io/vfs.h"

#include <pthread.h>

typedef struct fault_vfs {
    vex_vfs base;
    vex_mem mem;
    vex_vfs *inner;
    pthread_mutex_t mu;
    vex_fault_config cfg;
    vex_fault_stats stats;
} fault_vfs;

typedef struct fault_file {
    vex_file base; /* first; base.path is the inner file's path */
    vex_file *inner;
} fault_file;

static const char *const method_names[VEX_FAULT_N_METHODS] = {
    "open",      "close",  "pread",  "pwrite",          "size",
    "ftruncate", "fsync",  "mmap",   "munmap",          "lock",
    "unlock",    "unlink", "rename", "fsync directory", "list",
    "mkdir",     "stat",
};

static fault_vfs *fv(vex_vfs *v)
{
    return v->user;
}

/* Count a call of method `m`; return the fault kind to inject, or -1. */
static int tick(fault_vfs *f, int m, uint64_t *call_no)
{
    int kind = -1;
    pthread_mutex_lock(&f->mu);
    f->stats.n_calls[m]++;
    if (f->cfg.mask & VEX_FAULT_BIT(m)) {
        uint64_t n = ++f->stats.n_selected;
        *call_no = n;
        if (f->cfg.fail_at != 0 &&
            (n == f->cfg.fail_at ||
             (f->cfg.persistent && n > f->cfg.fail_at))) {
            f->stats.n_faults++;
            kind = f->cfg.kind;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return kind;
}

/* The status an injected fault of `kind` reports from method `m`, with a
 * message naming the path (and offset when `off` is not UINT64_MAX). */
static int inject(vex_err *err, int kind, int m, const char *path, uint64_t off,
                  uint64_t call_no)
{
    int rc = kind == VEX_FAULT_FULL ||
                     (kind == VEX_FAULT_SHORT_WRITE && m == VEX_FAULT_M_WRITE)
                 ? VEX_FULL
                 : VEX_IOERR;
    const char *why = rc == VEX_FULL ? "No space left on device (injected)"
                                     : "Input/output error (injected)";
    if (off != UINT64_MAX)
        return vx_err_set(err, rc, "%s: %s at offset %llu: %s, call %llu", path,
                          method_names[m], (unsigned long long)off, why,
                          (unsigned long long)call_no);
    return vx_err_set(err, rc, "%s: %s: %s, call %llu", path, method_names[m],
                      why, (unsigned long long)call_no);
}

static int fault_open(vex_vfs *v, const char *path, int flags, vex_file **out,
                      vex_err *err)
{
    fault_vfs *f = fv(v);
    fault_file *ff = NULL;
    vex_file *inner = NULL;
    uint64_t no = 0;
    int kind, rc;
    *out = NULL;
    kind = tick(f, VEX_FAULT_M_OPEN, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_OPEN, path, UINT64_MAX, no);
    ff = vx_mem_calloc(&f->mem, 1, sizeof *ff);
    if (ff == NULL)
        return vx_err_set(err, VEX_NOMEM, "%s: open: out of memory", path);
    rc = vex_vfs_open(f->inner, path, flags, &inner, err);
    if (rc != VEX_OK) {
        vx_mem_free(&f->mem, ff);
        return rc;
    }
    ff->inner = inner;
    ff->base.vfs = v;
    ff->base.path = inner->path;
    *out = &ff->base;
    return VEX_OK;
}

static int fault_close(vex_file *file, vex_err *err)
{
    fault_file *ff = (fault_file *)file;
    fault_vfs *f;
    uint64_t no = 0;
    int kind, rc;
    if (ff == NULL)
        return VEX_OK;
    f = fv(file->vfs);
    kind = tick(f, VEX_FAULT_M_CLOSE, &no);
    rc = vex_file_close(ff->inner, err);
    if (rc == VEX_OK && kind >= 0) /* path is gone with inner: no name */
        rc = inject(err, kind, VEX_FAULT_M_CLOSE, "(closed file)", UINT64_MAX,
                    no);
    vx_mem_free(&f->mem, ff);
    return rc;
}

static int fault_read(vex_file *file, void *buf, size_t n, uint64_t off,
                      size_t *n_read, vex_err *err)
{
    fault_file *ff = (fault_file *)file;
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_READ, &no);
    *n_read = 0;
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_READ, file->path, off, no);
    return vex_file_read(ff->inner, buf, n, off, n_read, err);
}

static int fault_write(vex_file *file, const void *buf, size_t n, uint64_t off,
                       vex_err *err)
{
    fault_file *ff = (fault_file *)file;
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_WRITE, &no);
    if (kind == VEX_FAULT_SHORT_WRITE && n / 2 > 0) {
        int rc = vex_file_write(ff->inner, buf, n / 2, off, err);
        if (rc != VEX_OK)
            return rc;
        return inject(err, kind, VEX_FAULT_M_WRITE, file->path, off + n / 2,
                      no);
    }
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_WRITE, file->path, off, no);
    return vex_file_write(ff->inner, buf, n, off, err);
}

static int fault_size(vex_file *file, uint64_t *size, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_SIZE, &no);
    *size = 0;
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_SIZE, file->path, UINT64_MAX, no);
    return vex_file_size(((fault_file *)file)->inner, size, err);
}

static int fault_truncate(vex_file *file, uint64_t size, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_TRUNCATE, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_TRUNCATE, file->path, size, no);
    return vex_file_truncate(((fault_file *)file)->inner, size, err);
}

static int fault_sync(vex_file *file, int mode, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_SYNC, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_SYNC, file->path, UINT64_MAX, no);
    return vex_file_sync(((fault_file *)file)->inner, mode, err);
}

static int fault_mmap(vex_file *file, const void **addr, size_t *len,
                      vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_MMAP, &no);
    *addr = NULL;
    *len = 0;
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_MMAP, file->path, UINT64_MAX, no);
    return vex_file_mmap(((fault_file *)file)->inner, addr, len, err);
}

static void fault_advise(vex_file *file, const void *addr, size_t len,
                         int advice)
{
    vex_file_advise(((fault_file *)file)->inner, addr, len, advice);
}

static int fault_munmap(vex_file *file, const void *addr, size_t len,
                        vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_MUNMAP, &no);
    int rc = vex_file_munmap(((fault_file *)file)->inner, addr, len, err);
    if (rc == VEX_OK && kind >= 0)
        rc = inject(err, kind, VEX_FAULT_M_MUNMAP, file->path, UINT64_MAX, no);
    return rc;
}

static int fault_lock(vex_file *file, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_LOCK, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_LOCK, file->path, UINT64_MAX, no);
    return vex_file_lock(((fault_file *)file)->inner, err);
}

static int fault_unlock(vex_file *file, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(file->vfs), VEX_FAULT_M_UNLOCK, &no);
    int rc = vex_file_unlock(((fault_file *)file)->inner, err);
    if (rc == VEX_OK && kind >= 0)
        rc = inject(err, kind, VEX_FAULT_M_UNLOCK, file->path, UINT64_MAX, no);
    return rc;
}

static int fault_remove(vex_vfs *v, const char *path, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(v), VEX_FAULT_M_REMOVE, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_REMOVE, path, UINT64_MAX, no);
    return vex_vfs_remove(fv(v)->inner, path, err);
}

static int fault_rename(vex_vfs *v, const char *from, const char *to,
                        vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(v), VEX_FAULT_M_RENAME, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_RENAME, from, UINT64_MAX, no);
    return vex_vfs_rename(fv(v)->inner, from, to, err);
}

static int fault_sync_dir(vex_vfs *v, const char *path, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(v), VEX_FAULT_M_SYNC_DIR, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_SYNC_DIR, path, UINT64_MAX, no);
    return vex_vfs_sync_dir(fv(v)->inner, path, err);
}

static int fault_list(vex_vfs *v, const char *dir, vex_vfs_list_fn fn,
                      void *ctx, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(v), VEX_FAULT_M_LIST, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_LIST, dir, UINT64_MAX, no);
    return vex_vfs_list(fv(v)->inner, dir, fn, ctx, err);
}

static int fault_mkdir(vex_vfs *v, const char *path, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(v), VEX_FAULT_M_MKDIR, &no);
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_MKDIR, path, UINT64_MAX, no);
    return vex_vfs_mkdir(fv(v)->inner, path, err);
}

static int fault_exists(vex_vfs *v, const char *path, int *k, vex_err *err)
{
    uint64_t no = 0;
    int kind = tick(fv(v), VEX_FAULT_M_EXISTS, &no);
    *k = VEX_VFS_NONE;
    if (kind >= 0)
        return inject(err, kind, VEX_FAULT_M_EXISTS, path, UINT64_MAX, no);
    return vex_vfs_exists(fv(v)->inner, path, k, err);
}

static void fault_destroy(vex_vfs *v)
{
    fault_vfs *f = fv(v);
    vex_mem mem = f->mem;
    pthread_mutex_destroy(&f->mu);
    vx_mem_free(&mem, f);
}

static const vex_vfs_methods fault_methods = {
    fault_open,   fault_close,    fault_read,
    fault_write,  fault_size,     fault_truncate,
    fault_sync,   fault_mmap,     fault_munmap,
    fault_lock,   fault_unlock,   fault_remove,
    fault_rename, fault_sync_dir, fault_list,
    fault_mkdir,  fault_exists,   fault_destroy,
    fault_advise, NULL, /* link: none, so callers copy through the injected
                           calls */
    NULL,               /* os_fd: reads go through the injected calls */
};

int vx_vfs_fault_create(vex_vfs *base, const vex_allocator *alloc,
                        vex_vfs **out)
{
    vex_mem mem;
    fault_vfs *f;
    int rc;
    *out = NULL;
    if (base == NULL)
        return VEX_INVALID;
    rc = vx_mem_init(&mem, alloc);
    if (rc != VEX_OK)
        return rc;
    f = vx_mem_calloc(&mem, 1, sizeof *f);
    if (f == NULL)
        return VEX_NOMEM;
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        vx_mem_free(&mem, f);
        return VEX_INTERNAL;
    }
    f->mem = mem;
    f->inner = base;
    f->base.name = "fault";
    f->base.methods = &fault_methods;
    f->base.user = f;
    *out = &f->base;
    return VEX_OK;
}

void vx_vfs_fault_set(vex_vfs *v, const vex_fault_config *cfg)
{
    fault_vfs *f = fv(v);
    pthread_mutex_lock(&f->mu);
    f->cfg = *cfg;
    f->stats.n_selected = 0;
    f->stats.n_faults = 0;
    pthread_mutex_unlock(&f->mu);
}

void vx_vfs_fault_stats(vex_vfs *v, vex_fault_stats *out)
{
    fault_vfs *f = fv(v);
    pthread_mutex_lock(&f->mu);
    *out = f->stats;
    pthread_mutex_unlock(&f->mu);
}
