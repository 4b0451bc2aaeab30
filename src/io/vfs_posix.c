/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfs_posix.c - the real vfs: POSIX files (open/pread/pwrite/fsync/
 * fdatasync/ftruncate/mmap/flock/rename/unlink/opendir). Every descriptor
 * is opened O_CLOEXEC, every call is retried on EINTR, partial transfers
 * are looped over, and each failure becomes a status code plus a message
 * naming the path, the call and the offset. The instance holds only the
 * allocator (the method table is const), so there is no mutable global.
 *
 * Locks use flock(LOCK_EX | LOCK_NB), not fcntl(F_SETLK): fcntl locks
 * belong to the process, so a second handle in the same process would get
 * the lock too, and closing any descriptor of the file drops them all
 * (the trap SQLite works around with its inode table). flock locks belong
 * to the open file description, which is the per-handle rule vfs.h
 * promises, and a forked child that opens the file itself sees VEX_BUSY.
 */
#include "io/vfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct posix_vfs {
    vex_vfs base;
    vex_mem mem;
} posix_vfs;

typedef struct posix_file {
    vex_file base; /* first */
    int fd;
    char *path;
} posix_file;

static const vex_mem *pmem(vex_vfs *v)
{
    return &((posix_vfs *)v->user)->mem;
}

/* Record "<path>: <what>: <strerror>" and return the mapped code. */
static int sys_fail(vex_err *err, int e, const char *path, const char *what)
{
    char buf[128];
    return vx_err_set(err, vx_vfs_errno_rc(e), "%s: %s: %s", path, what,
                      vx_vfs_strerror(e, buf, sizeof buf));
}

static int sys_fail_at(vex_err *err, int e, const char *path, const char *what,
                       uint64_t off)
{
    char buf[128];
    return vx_err_set(err, vx_vfs_errno_rc(e), "%s: %s at offset %llu: %s",
                      path, what, (unsigned long long)off,
                      vx_vfs_strerror(e, buf, sizeof buf));
}

static int posix_open(vex_vfs *v, const char *path, int flags, vex_file **out,
                      vex_err *err)
{
    int rc = VEX_OK, oflags = O_CLOEXEC, fd = -1;
    int rw = flags & (VX_FILE_READONLY | VX_FILE_READWRITE);
    posix_file *f = NULL;

    *out = NULL;
    if ((rw != VX_FILE_READONLY && rw != VX_FILE_READWRITE) ||
        (rw == VX_FILE_READONLY &&
         (flags & (VX_FILE_CREATE | VX_FILE_TRUNCATE))) ||
        ((flags & VX_FILE_EXCL) && !(flags & VX_FILE_CREATE))) {
        rc = vx_err_set(err, VEX_INVALID, "%s: open: bad flags 0x%x", path,
                        (unsigned)flags);
        goto cleanup;
    }
    oflags |= rw == VX_FILE_READWRITE ? O_RDWR : O_RDONLY;
    if (flags & VX_FILE_CREATE)
        oflags |= O_CREAT;
    if (flags & VX_FILE_EXCL)
        oflags |= O_EXCL;
    if (flags & VX_FILE_TRUNCATE)
        oflags |= O_TRUNC;
    f = vx_mem_calloc(pmem(v), 1, sizeof *f);
    if (f == NULL || (f->path = vx_vfs_strdup(pmem(v), path)) == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: open: out of memory", path);
        goto cleanup;
    }
    do
        fd = open(path, oflags, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        rc = sys_fail(err, errno, path, "open");
        goto cleanup;
    }
    f->fd = fd;
    f->base.vfs = v;
    f->base.path = f->path;
    *out = &f->base;
    f = NULL;
cleanup:
    if (f) {
        vx_mem_free(pmem(v), f->path);
        vx_mem_free(pmem(v), f);
    }
    return rc;
}

static int posix_close(vex_file *file, vex_err *err)
{
    posix_file *f = (posix_file *)file;
    const vex_mem *m;
    int rc = VEX_OK;
    if (f == NULL)
        return VEX_OK;
    m = pmem(file->vfs);
    /* Not retried on EINTR: on Linux the descriptor is gone either way. */
    if (close(f->fd) != 0 && errno != EINTR)
        rc = sys_fail(err, errno, f->path, "close");
    vx_mem_free(m, f->path);
    vx_mem_free(m, f);
    return rc;
}

static int posix_read(vex_file *file, void *buf, size_t n, uint64_t off,
                      size_t *n_read, vex_err *err)
{
    posix_file *f = (posix_file *)file;
    size_t done = 0;
    *n_read = 0;
    while (done < n) {
        ssize_t r =
            pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return sys_fail_at(err, errno, f->path, "pread", off + done);
        }
        if (r == 0)
            break; /* end of file */
        done += (size_t)r;
    }
    *n_read = done;
    return VEX_OK;
}

static int posix_write(vex_file *file, const void *buf, size_t n, uint64_t off,
                       vex_err *err)
{
    posix_file *f = (posix_file *)file;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(f->fd, (const char *)buf + done, n - done,
                           (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return sys_fail_at(err, errno, f->path, "pwrite", off + done);
        }
        if (r == 0) /* should not happen for regular files; do not spin */
            return sys_fail_at(err, ENOSPC, f->path, "pwrite", off + done);
        done += (size_t)r;
    }
    return VEX_OK;
}

static int posix_size(vex_file *file, uint64_t *size, vex_err *err)
{
    posix_file *f = (posix_file *)file;
    struct stat st;
    *size = 0;
    if (fstat(f->fd, &st) != 0)
        return sys_fail(err, errno, f->path, "fstat");
    *size = (uint64_t)st.st_size;
    return VEX_OK;
}

static int posix_truncate(vex_file *file, uint64_t size, vex_err *err)
{
    posix_file *f = (posix_file *)file;
    int r;
    do
        r = ftruncate(f->fd, (off_t)size);
    while (r != 0 && errno == EINTR);
    if (r != 0)
        return sys_fail_at(err, errno, f->path, "ftruncate", size);
    return VEX_OK;
}

static int posix_sync(vex_file *file, int mode, vex_err *err)
{
    posix_file *f = (posix_file *)file;
    int r;
    do
        r = mode == VEX_SYNC_DATA ? fdatasync(f->fd) : fsync(f->fd);
    while (r != 0 && errno == EINTR);
    if (r != 0)
        return sys_fail(err, errno, f->path,
                        mode == VEX_SYNC_DATA ? "fdatasync" : "fsync");
    return VEX_OK;
}

static int posix_mmap(vex_file *file, const void **addr, size_t *len,
                      vex_err *err)
{
    posix_file *f = (posix_file *)file;
    uint64_t size;
    void *p;
    int rc;
    *addr = NULL;
    *len = 0;
    rc = posix_size(file, &size, err);
    if (rc != VEX_OK)
        return rc;
    if (size == 0)
        return VEX_OK;
    if (size > SIZE_MAX)
        return vx_err_set(err, VEX_FULL, "%s: mmap: file too large", f->path);
    p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED)
        return sys_fail(err, errno, f->path, "mmap");
    *addr = p;
    *len = (size_t)size;
    return VEX_OK;
}

static int posix_munmap(vex_file *file, const void *addr, size_t len,
                        vex_err *err)
{
    if (addr == NULL)
        return VEX_OK;
    if (munmap((void *)(uintptr_t)addr, len) != 0)
        return sys_fail(err, errno, file->path, "munmap");
    return VEX_OK;
}

/* madvise on the whole pages inside the range (a partial page at either
 * end may hold hot data of a neighbouring section). Failures are ignored:
 * advice changes no result. */
static void posix_advise(vex_file *file, const void *addr, size_t len,
                         int advice)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)addr + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)addr + len) / page * page;
    (void)file;
    if (advice != VEX_ADVICE_COLD || addr == NULL || hi <= lo)
        return;
    (void)madvise((void *)lo, hi - lo, MADV_RANDOM);
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static int posix_lock(vex_file *file, vex_err *err)
{
    posix_file *f = (posix_file *)file;
    int r;
    do
        r = flock(f->fd, LOCK_EX | LOCK_NB);
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        if (errno == EWOULDBLOCK)
            return vx_err_set(err, VEX_BUSY,
                              "%s: lock: held by another handle or process",
                              f->path);
        return sys_fail(err, errno, f->path, "flock");
    }
    return VEX_OK;
}

static int posix_unlock(vex_file *file, vex_err *err)
{
    posix_file *f = (posix_file *)file;
    int r;
    do
        r = flock(f->fd, LOCK_UN);
    while (r != 0 && errno == EINTR);
    if (r != 0)
        return sys_fail(err, errno, f->path, "flock(LOCK_UN)");
    return VEX_OK;
}

static int posix_remove(vex_vfs *v, const char *path, vex_err *err)
{
    (void)v;
    if (unlink(path) == 0)
        return VEX_OK;
    if (errno == EISDIR || errno == EPERM) { /* Linux: EISDIR; POSIX: EPERM */
        if (rmdir(path) == 0)
            return VEX_OK;
        return sys_fail(err, errno, path, "rmdir");
    }
    return sys_fail(err, errno, path, "unlink");
}

static int posix_rename(vex_vfs *v, const char *from, const char *to,
                        vex_err *err)
{
    char buf[128];
    (void)v;
    if (rename(from, to) == 0)
        return VEX_OK;
    return vx_err_set(err, vx_vfs_errno_rc(errno), "rename %s -> %s: %s", from,
                      to, vx_vfs_strerror(errno, buf, sizeof buf));
}

static int posix_link(vex_vfs *v, const char *from, const char *to,
                      vex_err *err)
{
    char buf[128];
    int rc;
    (void)v;
    if (link(from, to) == 0)
        return VEX_OK;
    rc = errno == EXDEV || errno == EPERM || errno == EMLINK
             ? VEX_UNSUPPORTED
             : vx_vfs_errno_rc(errno);
    return vx_err_set(err, rc, "link %s -> %s: %s", from, to,
                      vx_vfs_strerror(errno, buf, sizeof buf));
}

static int posix_sync_dir(vex_vfs *v, const char *path, vex_err *err)
{
    int fd, r, rc = VEX_OK;
    (void)v;
    do
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return sys_fail(err, errno, path, "open directory");
    do
        r = fsync(fd);
    while (r != 0 && errno == EINTR);
    if (r != 0)
        rc = sys_fail(err, errno, path, "fsync directory");
    close(fd);
    return rc;
}

static int posix_list(vex_vfs *v, const char *dir, vex_vfs_list_fn fn,
                      void *ctx, vex_err *err)
{
    const vex_mem *m = pmem(v);
    size_t dlen = strlen(dir);
    char *full = NULL;
    size_t full_cap = 0;
    struct dirent *de;
    int rc = VEX_OK, fd;
    DIR *d = NULL;

    /* opendir has no close-on-exec flag: open the fd ourselves */
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        rc = sys_fail(err, errno, dir, "opendir");
        goto cleanup;
    }
    d = fdopendir(fd);
    if (d == NULL) {
        rc = sys_fail(err, errno, dir, "fdopendir");
        close(fd);
        goto cleanup;
    }
    for (;;) {
        struct stat st;
        size_t need;
        int kind;
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = sys_fail(err, errno, dir, "readdir");
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        need = dlen + strlen(de->d_name) + 2;
        if (need > full_cap) {
            char *p = vx_mem_realloc(m, full, need);
            if (p == NULL) {
                rc = vx_err_set(err, VEX_NOMEM, "%s: list: out of memory", dir);
                goto cleanup;
            }
            full = p;
            full_cap = need;
        }
        memcpy(full, dir, dlen);
        full[dlen] = '/';
        strcpy(full + dlen + 1, de->d_name);
        if (stat(full, &st) != 0)
            continue; /* removed meanwhile */
        kind = S_ISDIR(st.st_mode) ? VEX_VFS_DIR : VEX_VFS_FILE;
        rc = fn(ctx, de->d_name, kind);
        if (rc != 0)
            break;
    }
cleanup:
    if (d)
        closedir(d);
    vx_mem_free(m, full);
    return rc;
}

static int posix_mkdir(vex_vfs *v, const char *path, vex_err *err)
{
    (void)v;
    if (mkdir(path, 0755) != 0)
        return sys_fail(err, errno, path, "mkdir");
    return VEX_OK;
}

static int posix_exists(vex_vfs *v, const char *path, int *kind, vex_err *err)
{
    struct stat st;
    (void)v;
    *kind = VEX_VFS_NONE;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return VEX_OK;
        return sys_fail(err, errno, path, "stat");
    }
    *kind = S_ISDIR(st.st_mode) ? VEX_VFS_DIR : VEX_VFS_FILE;
    return VEX_OK;
}

static void posix_destroy(vex_vfs *v)
{
    posix_vfs *p = v->user;
    vex_mem m = p->mem;
    vx_mem_free(&m, p);
}

static int posix_os_fd(vex_file *f)
{
    return ((posix_file *)f)->fd;
}

static const vex_vfs_methods posix_methods = {
    posix_open,     posix_close,  posix_read,    posix_write,    posix_size,
    posix_truncate, posix_sync,   posix_mmap,    posix_munmap,   posix_lock,
    posix_unlock,   posix_remove, posix_rename,  posix_sync_dir, posix_list,
    posix_mkdir,    posix_exists, posix_destroy, posix_advise,   posix_link,
    posix_os_fd,
};

int vx_vfs_posix_create(const vex_allocator *alloc, vex_vfs **out)
{
    vex_mem m;
    posix_vfs *p;
    int rc;
    *out = NULL;
    rc = vx_mem_init(&m, alloc);
    if (rc != VEX_OK)
        return rc;
    p = vx_mem_calloc(&m, 1, sizeof *p);
    if (p == NULL)
        return VEX_NOMEM;
    p->mem = m;
    p->base.name = "posix";
    p->base.methods = &posix_methods;
    p->base.user = p;
    *out = &p->base;
    return VEX_OK;
}
