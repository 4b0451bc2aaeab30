/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfs.h - the I/O method table every byte of VexDB goes through.
 *
 * The storage engine never calls the OS directly: it opens files, reads,
 * writes, syncs, renames and lists through a vex_vfs, a table of function
 * pointers in the shape of SQLite's sqlite3_vfs/sqlite3_io_methods. Four
 * implementations sit behind it: the real one (vfs_posix.c), an in-memory
 * file system for tests (vfs_mem.c), a fault injector that fails the Nth
 * call (vfs_fault.c) and a power-loss simulator (vfs_crash.c); the last
 * two wrap any other vfs. This is the bottom layer (io uses only util);
 * storage builds on it. Internal, not part of the public API.
 *
 * Conventions for every function below:
 *  - The return value is a VexDB status code: VEX_OK, VEX_NOTFOUND (ENOENT),
 *    VEX_EXISTS (EEXIST), VEX_FULL (ENOSPC, EDQUOT), VEX_BUSY (lock held),
 *    VEX_NOMEM, VEX_INVALID (bad arguments), VEX_CORRUPT (a file shorter
 *    than the caller needed, vx_file_read_exact only), VEX_IOERR
 *    (everything else).
 *  - `err` may be NULL. When it is not, every failure records a message
 *    that names the path and, for data transfers, the offset:
 *    "000042.vseg: pwrite at offset 4096: No space left on device".
 *    A success leaves the message alone.
 *  - Paths are NUL-terminated and used as given (the posix vfs passes them
 *    to the OS; the in-memory one normalises repeated and trailing '/').
 *    Strings passed in are only borrowed for the duration of the call.
 *  - Transfers never stop half-way silently: the posix vfs loops over
 *    EINTR and partial transfers; a write that fails may have written a
 *    prefix of the buffer (as the OS may), and says so by failing.
 *
 * Threading: a vex_vfs may be used from any number of threads at once. A
 * vex_file may be used by several threads at once for read, write, size,
 * sync and mmap (positioned I/O has no shared file offset); truncate
 * concurrently with writes to the same range has an unspecified result,
 * as in POSIX. close must not race with any other call on the same file.
 */
#ifndef VEX_IO_VFS_H
#define VEX_IO_VFS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"
#include "vexdb.h"

typedef struct vex_vfs vex_vfs;
typedef struct vex_file vex_file;

/* open flags: exactly one of READONLY / READWRITE, plus any of the rest */
enum {
    VX_FILE_READONLY = 1 << 0,
    VX_FILE_READWRITE = 1 << 1,
    VX_FILE_CREATE = 1 << 2,   /* create when missing (needs READWRITE) */
    VX_FILE_EXCL = 1 << 3,     /* with CREATE: VEX_EXISTS when present */
    VX_FILE_TRUNCATE = 1 << 4, /* cut to 0 bytes (needs READWRITE) */
};

/* sync modes */
enum {
    VEX_SYNC_FULL = 0, /* fsync: data and all metadata */
    VEX_SYNC_DATA = 1, /* fdatasync: data and the metadata needed to read it */
};

/* what exists() found */
enum {
    VEX_VFS_NONE = 0,
    VEX_VFS_FILE = 1,
    VEX_VFS_DIR = 2,
};

/* Called once per directory entry ("." and ".." excluded) in an
 * unspecified order; `name` is the bare name, valid during the call only.
 * A non-zero return stops the listing and becomes list()'s return value. */
typedef int (*vex_vfs_list_fn)(void *ctx, const char *name, int kind);

/* An open file. Implementations embed this as their first member. `path`
 * is the implementation's copy of the path the file was opened with (used
 * in messages); it lives as long as the handle. */
struct vex_file {
    vex_vfs *vfs;
    const char *path;
};

typedef struct vex_vfs_methods {
    /* Open `path`. On VEX_OK *out is a new handle the caller owns and must
     * close (also after errors from other calls on it). On failure *out is
     * NULL. Files are opened close-on-exec. */
    int (*open)(vex_vfs *vfs, const char *path, int flags, vex_file **out,
                vex_err *err);
    /* Release the handle, its lock and its memory. Always frees `f`, even
     * when it reports an error (a close error means buffered data may be
     * lost: treat it like a failed sync). NULL is a no-op. */
    int (*close)(vex_file *f, vex_err *err);
    /* Read up to `n` bytes at `off` into `buf`. *n_read < n only when the
     * end of the file was reached (0 at or past the end). */
    int (*read)(vex_file *f, void *buf, size_t n, uint64_t off, size_t *n_read,
                vex_err *err);
    /* Write all `n` bytes at `off`, growing the file as needed; a hole
     * between the old end and `off` reads as zeros. Append = write at the
     * size. On failure a prefix of the buffer may have been written. */
    int (*write)(vex_file *f, const void *buf, size_t n, uint64_t off,
                 vex_err *err);
    int (*size)(vex_file *f, uint64_t *size, vex_err *err);
    /* Set the size; growing adds zeros. */
    int (*truncate)(vex_file *f, uint64_t size, vex_err *err);
    /* VEX_SYNC_FULL (fsync) or VEX_SYNC_DATA (fdatasync). After a failed
     * sync the state of the data on disk is unknown: the caller must not
     * retry and assume success (see STYLE.md, sticky errors). */
    int (*sync)(vex_file *f, int mode, vex_err *err);
    /* Map the whole file read-only. On VEX_OK *addr and *len describe it
     * until munmap (an empty file gives NULL and 0). A mapping must not
     * outlive its handle, and under the in-memory vfs it does not show
     * later writes: map only files that no longer change (segments). */
    int (*mmap)(vex_file *f, const void **addr, size_t *len, vex_err *err);
    int (*munmap)(vex_file *f, const void *addr, size_t len, vex_err *err);
    /* Advisory exclusive lock on the file, not blocking: VEX_BUSY when any
     * other handle (in this process or another) holds it. Released by
     * unlock or close. Locks are per handle, not per process. */
    int (*lock)(vex_file *f, vex_err *err);
    int (*unlock)(vex_file *f, vex_err *err);

    /* Delete a file or an empty directory. Handles already open on a
     * deleted file keep working until closed. */
    int (*remove)(vex_vfs *vfs, const char *path, vex_err *err);
    /* Atomically rename a file, replacing `to` if it exists: at every
     * moment `to` names either the old or the new file. Not durable until
     * sync_dir of both directories. */
    int (*rename)(vex_vfs *vfs, const char *from, const char *to, vex_err *err);
    /* fsync a directory: makes creates, renames and removes of its
     * entries durable. */
    int (*sync_dir)(vex_vfs *vfs, const char *path, vex_err *err);
    int (*list)(vex_vfs *vfs, const char *dir, vex_vfs_list_fn fn, void *ctx,
                vex_err *err);
    /* Create a directory (the parent must exist); VEX_EXISTS if present. */
    int (*mkdir)(vex_vfs *vfs, const char *path, vex_err *err);
    /* *kind = VEX_VFS_NONE, VEX_VFS_FILE or VEX_VFS_DIR; VEX_OK in all
     * three cases. */
    int (*exists)(vex_vfs *vfs, const char *path, int *kind, vex_err *err);
    /* Free the vfs. Every file must be closed first. A wrapper does not
     * destroy the vfs it wraps. */
    void (*destroy)(vex_vfs *vfs);
    /* A hint about [addr, addr + len) inside a mapping of f (mmap):
     * VEX_ADVICE_COLD, the range will be read rarely and at random, so
     * drop its pages from this process (the next access reads them back
     * from the file) and read no more than asked. May do nothing; never
     * changes what the mapping reads. NULL in a vfs whose mappings are
     * private copies (dropping their pages would lose them). */
    void (*advise)(vex_file *f, const void *addr, size_t len, int advice);
    /* Make `to` (which must not exist: VEX_EXISTS) a hard link of the file
     * `from`: VEX_UNSUPPORTED when the two are on different file systems
     * or the file system has no hard links. The directory is not synced.
     * NULL in a vfs without hard links (callers copy instead). */
    int (*link)(vex_vfs *vfs, const char *from, const char *to, vex_err *err);
    /* The operating system's descriptor of f, for I/O the table does not
     * model (several reads submitted at once through io_uring, io/batch.h),
     * or -1. NULL in a vfs whose files are not OS files (in memory) or
     * whose reads must go through its own methods (the fault and crash
     * wrappers): their batches are read one call at a time. */
    int (*os_fd)(vex_file *f);
} vex_vfs_methods;

#define VEX_ADVICE_COLD 1

/* `user` is the implementation's per-instance state. */
struct vex_vfs {
    const char *name;
    const vex_vfs_methods *methods;
    void *user;
};

/* ---- calling through the table ---------------------------------------- */

static inline int vex_vfs_open(vex_vfs *v, const char *path, int flags,
                               vex_file **out, vex_err *err)
{
    return v->methods->open(v, path, flags, out, err);
}
static inline int vex_file_close(vex_file *f, vex_err *err)
{
    return f ? f->vfs->methods->close(f, err) : VEX_OK;
}
static inline int vex_file_read(vex_file *f, void *buf, size_t n, uint64_t off,
                                size_t *n_read, vex_err *err)
{
    return f->vfs->methods->read(f, buf, n, off, n_read, err);
}
/* Read exactly `n` bytes; a file that ends first is VEX_CORRUPT
 * ("<path>: short read at offset X: N of M bytes"). */
int vx_file_read_exact(vex_file *f, void *buf, size_t n, uint64_t off,
                       vex_err *err);
static inline int vex_file_write(vex_file *f, const void *buf, size_t n,
                                 uint64_t off, vex_err *err)
{
    return f->vfs->methods->write(f, buf, n, off, err);
}
static inline int vex_file_size(vex_file *f, uint64_t *size, vex_err *err)
{
    return f->vfs->methods->size(f, size, err);
}
static inline int vex_file_truncate(vex_file *f, uint64_t size, vex_err *err)
{
    return f->vfs->methods->truncate(f, size, err);
}
static inline int vex_file_sync(vex_file *f, int mode, vex_err *err)
{
    return f->vfs->methods->sync(f, mode, err);
}
static inline int vex_file_mmap(vex_file *f, const void **addr, size_t *len,
                                vex_err *err)
{
    return f->vfs->methods->mmap(f, addr, len, err);
}
static inline int vex_file_munmap(vex_file *f, const void *addr, size_t len,
                                  vex_err *err)
{
    return f->vfs->methods->munmap(f, addr, len, err);
}
static inline void vex_file_advise(vex_file *f, const void *addr, size_t len,
                                   int advice)
{
    if (f->vfs->methods->advise)
        f->vfs->methods->advise(f, addr, len, advice);
}
static inline int vex_file_lock(vex_file *f, vex_err *err)
{
    return f->vfs->methods->lock(f, err);
}
static inline int vex_file_unlock(vex_file *f, vex_err *err)
{
    return f->vfs->methods->unlock(f, err);
}
static inline int vex_vfs_remove(vex_vfs *v, const char *path, vex_err *err)
{
    return v->methods->remove(v, path, err);
}
static inline int vex_vfs_rename(vex_vfs *v, const char *from, const char *to,
                                 vex_err *err)
{
    return v->methods->rename(v, from, to, err);
}
static inline int vex_vfs_sync_dir(vex_vfs *v, const char *path, vex_err *err)
{
    return v->methods->sync_dir(v, path, err);
}
static inline int vex_vfs_list(vex_vfs *v, const char *dir, vex_vfs_list_fn fn,
                               void *ctx, vex_err *err)
{
    return v->methods->list(v, dir, fn, ctx, err);
}
static inline int vex_vfs_mkdir(vex_vfs *v, const char *path, vex_err *err)
{
    return v->methods->mkdir(v, path, err);
}
static inline int vex_vfs_exists(vex_vfs *v, const char *path, int *kind,
                                 vex_err *err)
{
    return v->methods->exists(v, path, kind, err);
}
static inline void vex_vfs_destroy(vex_vfs *v)
{
    if (v)
        v->methods->destroy(v);
}

/* ---- implementations ---------------------------------------------------- */

/* The real file system (vfs_posix.c). `alloc` is copied (NULL: libc); the
 * instance holds only the allocator. */
int vx_vfs_posix_create(const vex_allocator *alloc, vex_vfs **out);

/* An empty in-memory file system (vfs_mem.c) whose root is both "/" and
 * "." (so "a/b" and "/a/b" name the same file). */
int vx_vfs_mem_create(const vex_allocator *alloc, vex_vfs **out);
/* Open handles and live mappings, for leak checks in tests. */
void vx_vfs_mem_counts(vex_vfs *v, uint64_t *n_open, uint64_t *n_maps);

/* ---- fault injection (vfs_fault.c) -------------------------------------
 *
 * A wrapper that forwards every call to `base` and counts calls per
 * method. When armed with a config, the calls of the methods selected by
 * `mask` are numbered 1, 2, ... and call number `fail_at` fails (and, if
 * `persistent`, every selected call after it too) with the chosen kind:
 *  - VEX_FAULT_IOERR: nothing is done, VEX_IOERR (an EIO);
 *  - VEX_FAULT_FULL: nothing is done, VEX_FULL (an ENOSPC);
 *  - VEX_FAULT_SHORT_WRITE: a write forwards the first half of its buffer
 *    (n / 2 bytes) then fails with VEX_FULL, as a write that ran out of
 *    space half-way; other methods fail as VEX_FAULT_IOERR;
 *  - VEX_FAULT_SYNC: a sync (file or directory) is not forwarded and fails
 *    with VEX_IOERR: whether the data reached the disk is unknown, and the
 *    wrapper takes the worst case (under the crash vfs, it did not); other
 *    methods fail as VEX_FAULT_IOERR.
 * close, munmap and unlock always release their resource in `base` first:
 * an injected fault there is reported after the fact, never leaks.
 * The message says "injected" and names the path, offset and call number.
 * A sweep: for N = 1, 2, ... arm {mask, N}, run the operation, check its
 * status, stop when stats.n_faults stays 0 (the operation needed < N
 * selected calls). Thread-safe (counters under a mutex). */
enum {
    VEX_FAULT_M_OPEN,
    VEX_FAULT_M_CLOSE,
    VEX_FAULT_M_READ,
    VEX_FAULT_M_WRITE,
    VEX_FAULT_M_SIZE,
    VEX_FAULT_M_TRUNCATE,
    VEX_FAULT_M_SYNC,
    VEX_FAULT_M_MMAP,
    VEX_FAULT_M_MUNMAP,
    VEX_FAULT_M_LOCK,
    VEX_FAULT_M_UNLOCK,
    VEX_FAULT_M_REMOVE,
    VEX_FAULT_M_RENAME,
    VEX_FAULT_M_SYNC_DIR,
    VEX_FAULT_M_LIST,
    VEX_FAULT_M_MKDIR,
    VEX_FAULT_M_EXISTS,
    VEX_FAULT_N_METHODS
};
#define VEX_FAULT_BIT(m) (1u << (m))
#define VEX_FAULT_ALL    ((1u << VEX_FAULT_N_METHODS) - 1)

enum {
    VEX_FAULT_IOERR = 0,
    VEX_FAULT_FULL = 1,
    VEX_FAULT_SHORT_WRITE = 2,
    VEX_FAULT_SYNC = 3,
};

typedef struct vex_fault_config {
    uint32_t mask;    /* VEX_FAULT_BIT()s of the methods that may fail */
    uint64_t fail_at; /* 1-based number of the selected call; 0 = never */
    int persistent;   /* fail every selected call from fail_at on */
    int kind;         /* VEX_FAULT_* */
} vex_fault_config;

typedef struct vex_fault_stats {
    uint64_t n_calls[VEX_FAULT_N_METHODS]; /* all calls since creation */
    uint64_t n_selected; /* selected calls since the last vx_vfs_fault_set */
    uint64_t n_faults;   /* faults injected since the last vx_vfs_fault_set */
} vex_fault_stats;

/* Wrap `base` (borrowed: it must outlive the wrapper). Starts disarmed. */
int vx_vfs_fault_create(vex_vfs *base, const vex_allocator *alloc,
                        vex_vfs **out);
/* Arm (or with fail_at 0 disarm) and reset n_selected and n_faults. */
void vx_vfs_fault_set(vex_vfs *v, const vex_fault_config *cfg);
void vx_vfs_fault_stats(vex_vfs *v, vex_fault_stats *out);

/* ---- power-loss simulation (vfs_crash.c) --------------------------------
 * A wrapper over `base` (the "disk") that keeps unsynced file data and
 * unsynced directory changes to itself until vx_vfs_crash_now() decides
 * what a power loss leaves on `base`. The model (numbered rules) is in the
 * header comment of vfs_crash.c; storage tests rely on it. */
enum {
    VEX_CRASH_KEEP_ALL = 0,        /* everything written reached the disk */
    VEX_CRASH_DROP_UNSYNCED = 1,   /* only synced data and entries survive */
    VEX_CRASH_GARBLE_UNSYNCED = 2, /* unsynced sectors: old, new or garbage */
};

/* Wrap `base` (borrowed). `seed` drives GARBLE_UNSYNCED. */
int vx_vfs_crash_create(vex_vfs *base, const vex_allocator *alloc,
                        uint64_t seed, vex_vfs **out);
/* Simulate the power loss: write the surviving state to `base`, forget
 * everything unsynced, and invalidate every open handle of the wrapper
 * (their calls fail with VEX_IOERR; they must still be closed). The
 * wrapper then starts afresh from `base`. */
int vx_vfs_crash_now(vex_vfs *v, int mode, vex_err *err);

/* ---- helpers shared by the implementations (vfs.c) --------------------- */

/* errno -> status code (ENOSPC/EDQUOT -> FULL, ENOENT/ENOTDIR -> NOTFOUND,
 * EEXIST/ENOTEMPTY -> EXISTS, ENOMEM -> NOMEM, EWOULDBLOCK -> BUSY,
 * others -> IOERR) */
int vx_vfs_errno_rc(int e);

/* strerror into a caller buffer (thread-safe). */
const char *vx_vfs_strerror(int e, char *buf, size_t size);

/* Copy `path` with repeated '/', a leading "/" or "./" and trailing '/'
 * removed ("" is the root). VEX_INVALID for a ".." component. On VEX_OK
 * *out is owned by the caller (vx_mem_free). */
int vx_vfs_path_norm(const vex_mem *m, const char *path, char **out);
/* Length of the parent part of a normalised path ("a/b/c" -> 3 for "a/b";
 * "a" -> 0 for the root). */
size_t vx_vfs_path_parent_len(const char *norm);

char *vx_vfs_strdup(const vex_mem *m, const char *s);

#endif
