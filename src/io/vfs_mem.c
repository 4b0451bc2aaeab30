/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfs_mem.c - an in-memory file system behind the vfs method table, for
 * tests and as the "disk" under the fault and crash wrappers. It is a flat
 * map from normalised paths to nodes (growable byte buffers or explicit
 * directories, made with mkdir; the root "" always exists), guarded by one
 * mutex, so every call is atomic with respect to the others and the vfs
 * may be shared by threads. Nodes are reference counted like inodes: a
 * file removed or replaced by rename while open stays readable and
 * writable through its handles until the last one closes, as on POSIX.
 * Locks live in the node, so they follow the file across renames (flock
 * semantics) and a second handle on the same path gets VEX_BUSY.
 *
 * mmap returns a private copy of the file taken under the mutex, freed by
 * munmap. Handing out a pointer into the buffer was rejected: a later
 * write that grows the file reallocates the buffer and would leave the
 * mapping dangling, and forbidding growth while mapped would fail writes
 * the real vfs allows. The difference from POSIX is that writes made after
 * the mmap are not visible through it; VexDB maps only immutable segment
 * files, where the two cannot be told apart. Renaming directories is not
 * supported (VEX_UNSUPPORTED): storage only renames files. Performance is
 * not a goal (lookups are linear in the number of paths).
 */
#include "io/vfs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct mnode {
    int is_dir;
    unsigned refs; /* 1 while it has a name, +1 per open handle */
    unsigned char *data;
    size_t len, cap; /* bytes in [len, cap) are always zero */
    const void *lock_owner;
} mnode;

typedef struct mentry {
    char *path; /* normalised */
    mnode *node;
} mentry;

typedef struct mem_vfs {
    vex_vfs base;
    vex_mem mem;
    pthread_mutex_t mu;
    mentry *ents;
    size_t n_ents, cap_ents;
    uint64_t n_open, n_maps;
} mem_vfs;

typedef struct mem_file {
    vex_file base; /* first */
    char *path;
    mnode *node;
    int writable;
} mem_file;

static mem_vfs *mv(vex_vfs *v)
{
    return v->user;
}

static void node_unref(mem_vfs *m, mnode *n)
{
    if (n && --n->refs == 0) {
        vx_mem_free(&m->mem, n->data);
        vx_mem_free(&m->mem, n);
    }
}

/* index of `norm` in the map, or -1 */
static long mem_find(mem_vfs *m, const char *norm)
{
    size_t i;
    for (i = 0; i < m->n_ents; i++)
        if (strcmp(m->ents[i].path, norm) == 0)
            return (long)i;
    return -1;
}

/* VEX_VFS_NONE/FILE/DIR for a normalised path; the root is a directory */
static int mem_kind_of(mem_vfs *m, const char *norm)
{
    long i;
    if (norm[0] == '\0')
        return VEX_VFS_DIR;
    i = mem_find(m, norm);
    if (i < 0)
        return VEX_VFS_NONE;
    return m->ents[i].node->is_dir ? VEX_VFS_DIR : VEX_VFS_FILE;
}

static int parent_is_dir(mem_vfs *m, char *norm)
{
    size_t pl = vx_vfs_path_parent_len(norm);
    char saved = norm[pl];
    int k;
    norm[pl] = '\0';
    k = mem_kind_of(m, norm);
    norm[pl] = saved;
    return k == VEX_VFS_DIR;
}

/* Add an entry; takes ownership of `path` on success. */
static int add_entry(mem_vfs *m, char *path, mnode *node)
{
    if (m->n_ents == m->cap_ents) {
        size_t cap = m->cap_ents ? m->cap_ents * 2 : 16;
        mentry *e = vx_mem_realloc(&m->mem, m->ents, cap * sizeof *e);
        if (e == NULL)
            return VEX_NOMEM;
        m->ents = e;
        m->cap_ents = cap;
    }
    m->ents[m->n_ents].path = path;
    m->ents[m->n_ents].node = node;
    m->n_ents++;
    return VEX_OK;
}

static void mem_drop_entry(mem_vfs *m, size_t i)
{
    vx_mem_free(&m->mem, m->ents[i].path);
    node_unref(m, m->ents[i].node);
    m->ents[i] = m->ents[--m->n_ents];
}

/* Make room for `need` bytes (zero-filled past len). */
static int mem_node_reserve(mem_vfs *m, mnode *n, uint64_t need)
{
    size_t cap;
    unsigned char *p;
    if (need <= n->cap)
        return VEX_OK;
    if (need > SIZE_MAX / 2)
        return VEX_FULL;
    cap = n->cap ? n->cap : 64;
    while (cap < need)
        cap *= 2;
    p = vx_mem_realloc(&m->mem, n->data, cap);
    if (p == NULL)
        return VEX_NOMEM;
    memset(p + n->cap, 0, cap - n->cap);
    n->data = p;
    n->cap = cap;
    return VEX_OK;
}

static int mem_open(vex_vfs *v, const char *path, int flags, vex_file **out,
                    vex_err *err)
{
    mem_vfs *m = mv(v);
    int rw = flags & (VX_FILE_READONLY | VX_FILE_READWRITE);
    char *norm = NULL;
    mem_file *f = NULL;
    mnode *node = NULL;
    int rc = VEX_OK, locked = 0;
    long i;

    *out = NULL;
    if ((rw != VX_FILE_READONLY && rw != VX_FILE_READWRITE) ||
        (rw == VX_FILE_READONLY &&
         (flags & (VX_FILE_CREATE | VX_FILE_TRUNCATE))) ||
        ((flags & VX_FILE_EXCL) && !(flags & VX_FILE_CREATE))) {
        rc = vx_err_set(err, VEX_INVALID, "%s: open: bad flags 0x%x", path,
                        (unsigned)flags);
        goto cleanup;
    }
    rc = vx_vfs_path_norm(&m->mem, path, &norm);
    if (rc != VEX_OK) {
        rc = vx_err_set(err, rc, "%s: open: bad path", path);
        goto cleanup;
    }
    f = vx_mem_calloc(&m->mem, 1, sizeof *f);
    if (f == NULL || (f->path = vx_vfs_strdup(&m->mem, path)) == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: open: out of memory", path);
        goto cleanup;
    }
    pthread_mutex_lock(&m->mu);
    locked = 1;
    i = norm[0] ? mem_find(m, norm) : -2;
    if (i == -2 || (i >= 0 && m->ents[i].node->is_dir)) {
        rc = vx_err_set(err, VEX_IOERR, "%s: open: Is a directory", path);
        goto cleanup;
    }
    if (i >= 0) {
        if ((flags & VX_FILE_EXCL)) {
            rc = vx_err_set(err, VEX_EXISTS, "%s: open: File exists", path);
            goto cleanup;
        }
        node = m->ents[i].node;
        if ((flags & VX_FILE_TRUNCATE) && node->len > 0) {
            memset(node->data, 0, node->len);
            node->len = 0;
        }
    } else {
        if (!(flags & VX_FILE_CREATE) || !parent_is_dir(m, norm)) {
            rc = vx_err_set(err, VEX_NOTFOUND,
                            "%s: open: No such file or directory", path);
            goto cleanup;
        }
        node = vx_mem_calloc(&m->mem, 1, sizeof *node);
        if (node == NULL || add_entry(m, norm, node) != VEX_OK) {
            vx_mem_free(&m->mem, node);
            rc = vx_err_set(err, VEX_NOMEM, "%s: open: out of memory", path);
            goto cleanup;
        }
        norm = NULL; /* owned by the entry */
        node->refs = 1;
    }
    node->refs++;
    m->n_open++;
    f->base.vfs = v;
    f->base.path = f->path;
    f->node = node;
    f->writable = rw == VX_FILE_READWRITE;
    *out = &f->base;
    f = NULL;
cleanup:
    if (locked)
        pthread_mutex_unlock(&m->mu);
    if (f) {
        vx_mem_free(&m->mem, f->path);
        vx_mem_free(&m->mem, f);
    }
    vx_mem_free(&m->mem, norm);
    return rc;
}

static int mem_close(vex_file *file, vex_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_vfs *m;
    (void)err;
    if (f == NULL)
        return VEX_OK;
    m = mv(file->vfs);
    pthread_mutex_lock(&m->mu);
    if (f->node->lock_owner == f)
        f->node->lock_owner = NULL;
    node_unref(m, f->node);
    m->n_open--;
    pthread_mutex_unlock(&m->mu);
    vx_mem_free(&m->mem, f->path);
    vx_mem_free(&m->mem, f);
    return VEX_OK;
}

static int mem_read(vex_file *file, void *buf, size_t n, uint64_t off,
                    size_t *n_read, vex_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_vfs *m = mv(file->vfs);
    size_t got = 0;
    (void)err;
    pthread_mutex_lock(&m->mu);
    if (off < f->node->len) {
        got = f->node->len - (size_t)off;
        if (got > n)
            got = n;
        memcpy(buf, f->node->data + off, got);
    }
    pthread_mutex_unlock(&m->mu);
    *n_read = got;
    return VEX_OK;
}

static int mem_write(vex_file *file, const void *buf, size_t n, uint64_t off,
                     vex_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_vfs *m = mv(file->vfs);
    int rc = VEX_OK;
    if (!f->writable)
        return vx_err_set(err, VEX_IOERR,
                          "%s: pwrite at offset %llu: not open for writing",
                          f->path, (unsigned long long)off);
    if (n == 0)
        return VEX_OK;
    if (off > UINT64_MAX - n)
        return vx_err_set(err, VEX_FULL,
                          "%s: pwrite at offset %llu: File too large", f->path,
                          (unsigned long long)off);
    pthread_mutex_lock(&m->mu);
    rc = mem_node_reserve(m, f->node, off + n);
    if (rc == VEX_OK) {
        memcpy(f->node->data + off, buf, n);
        if (off + n > f->node->len)
            f->node->len = (size_t)(off + n);
    }
    pthread_mutex_unlock(&m->mu);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s: pwrite at offset %llu: %s", f->path,
                          (unsigned long long)off,
                          rc == VEX_NOMEM ? "out of memory" : "File too large");
    return VEX_OK;
}

static int mem_size(vex_file *file, uint64_t *size, vex_err *err)
{
    mem_vfs *m = mv(file->vfs);
    (void)err;
    pthread_mutex_lock(&m->mu);
    *size = ((mem_file *)file)->node->len;
    pthread_mutex_unlock(&m->mu);
    return VEX_OK;
}

static int mem_truncate(vex_file *file, uint64_t size, vex_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_vfs *m = mv(file->vfs);
    mnode *n = f->node;
    int rc = VEX_OK;
    if (!f->writable)
        return vx_err_set(err, VEX_IOERR,
                          "%s: ftruncate at offset %llu: not open for "
                          "writing",
                          f->path, (unsigned long long)size);
    pthread_mutex_lock(&m->mu);
    if (size < n->len) {
        memset(n->data + size, 0, n->len - (size_t)size);
        n->len = (size_t)size;
    } else {
        rc = mem_node_reserve(m, n, size);
        if (rc == VEX_OK)
            n->len = (size_t)size;
    }
    pthread_mutex_unlock(&m->mu);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s: ftruncate at offset %llu: failed",
                          f->path, (unsigned long long)size);
    return VEX_OK;
}

static int mem_sync(vex_file *file, int mode, vex_err *err)
{
    (void)file;
    (void)mode;
    (void)err;
    return VEX_OK;
}

static int mem_mmap(vex_file *file, const void **addr, size_t *len,
                    vex_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_vfs *m = mv(file->vfs);
    unsigned char *copy = NULL;
    int rc = VEX_OK;
    *addr = NULL;
    *len = 0;
    pthread_mutex_lock(&m->mu);
    if (f->node->len > 0) {
        copy = vx_mem_alloc(&m->mem, f->node->len);
        if (copy == NULL) {
            rc = VEX_NOMEM;
        } else {
            memcpy(copy, f->node->data, f->node->len);
            *addr = copy;
            *len = f->node->len;
            m->n_maps++;
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s: mmap: out of memory", f->path);
    return VEX_OK;
}

static int mem_munmap(vex_file *file, const void *addr, size_t len,
                      vex_err *err)
{
    mem_vfs *m = mv(file->vfs);
    (void)len;
    (void)err;
    if (addr == NULL)
        return VEX_OK;
    pthread_mutex_lock(&m->mu);
    m->n_maps--;
    pthread_mutex_unlock(&m->mu);
    vx_mem_free(&m->mem, (void *)(uintptr_t)addr);
    return VEX_OK;
}

static int mem_lock(vex_file *file, vex_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_vfs *m = mv(file->vfs);
    int rc = VEX_OK;
    pthread_mutex_lock(&m->mu);
    if (f->node->lock_owner != NULL && f->node->lock_owner != f)
        rc = VEX_BUSY;
    else
        f->node->lock_owner = f;
    pthread_mutex_unlock(&m->mu);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s: lock: held by another handle", f->path);
    return VEX_OK;
}

static int mem_unlock(vex_file *file, vex_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_vfs *m = mv(file->vfs);
    (void)err;
    pthread_mutex_lock(&m->mu);
    if (f->node->lock_owner == f)
        f->node->lock_owner = NULL;
    pthread_mutex_unlock(&m->mu);
    return VEX_OK;
}

/* Normalise `path` or record why not. */
static int norm_or_fail(mem_vfs *m, const char *path, const char *what,
                        char **norm, vex_err *err)
{
    int rc = vx_vfs_path_norm(&m->mem, path, norm);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s: %s: %s", path, what,
                          rc == VEX_NOMEM ? "out of memory" : "bad path");
    return VEX_OK;
}

static int has_children(mem_vfs *m, const char *norm)
{
    size_t i, n = strlen(norm);
    for (i = 0; i < m->n_ents; i++) {
        const char *p = m->ents[i].path;
        if (n == 0 || (strncmp(p, norm, n) == 0 && p[n] == '/'))
            return 1;
    }
    return 0;
}

static int mem_remove(vex_vfs *v, const char *path, vex_err *err)
{
    mem_vfs *m = mv(v);
    char *norm = NULL;
    int rc;
    long i;
    rc = norm_or_fail(m, path, "unlink", &norm, err);
    if (rc != VEX_OK)
        return rc;
    pthread_mutex_lock(&m->mu);
    i = norm[0] ? mem_find(m, norm) : -1;
    if (i < 0)
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "%s: unlink: No such file or directory", path);
    else if (m->ents[i].node->is_dir && has_children(m, norm))
        rc =
            vx_err_set(err, VEX_EXISTS, "%s: rmdir: Directory not empty", path);
    else
        mem_drop_entry(m, (size_t)i);
    pthread_mutex_unlock(&m->mu);
    vx_mem_free(&m->mem, norm);
    return rc;
}

static int mem_rename(vex_vfs *v, const char *from, const char *to,
                      vex_err *err)
{
    mem_vfs *m = mv(v);
    char *nf = NULL, *nt = NULL;
    int rc = VEX_OK, locked = 0;
    long i, j;
    if ((rc = norm_or_fail(m, from, "rename", &nf, err)) != VEX_OK ||
        (rc = norm_or_fail(m, to, "rename", &nt, err)) != VEX_OK)
        goto cleanup;
    pthread_mutex_lock(&m->mu);
    locked = 1;
    i = nf[0] ? mem_find(m, nf) : -1;
    if (i < 0) {
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "rename %s -> %s: No such file or directory", from, to);
        goto cleanup;
    }
    if (m->ents[i].node->is_dir) {
        rc = vx_err_set(err, VEX_UNSUPPORTED,
                        "rename %s -> %s: directories cannot be renamed in "
                        "the in-memory vfs",
                        from, to);
        goto cleanup;
    }
    if (strcmp(nf, nt) == 0)
        goto cleanup;
    if (nt[0] == '\0' || !parent_is_dir(m, nt)) {
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "rename %s -> %s: No such file or directory", from, to);
        goto cleanup;
    }
    j = mem_find(m, nt);
    if (j >= 0 && m->ents[j].node->is_dir) {
        rc = vx_err_set(err, VEX_IOERR, "rename %s -> %s: Is a directory", from,
                        to);
        goto cleanup;
    }
    if (j >= 0) { /* replace: the old file lives on in open handles */
        node_unref(m, m->ents[j].node);
        m->ents[j].node = m->ents[i].node;
        vx_mem_free(&m->mem, m->ents[i].path);
        m->ents[i] = m->ents[--m->n_ents];
    } else {
        vx_mem_free(&m->mem, m->ents[i].path);
        m->ents[i].path = nt;
        nt = NULL;
    }
cleanup:
    if (locked)
        pthread_mutex_unlock(&m->mu);
    vx_mem_free(&m->mem, nf);
    vx_mem_free(&m->mem, nt);
    return rc;
}

static int mem_sync_dir(vex_vfs *v, const char *path, vex_err *err)
{
    mem_vfs *m = mv(v);
    char *norm = NULL;
    int rc, k;
    rc = norm_or_fail(m, path, "fsync directory", &norm, err);
    if (rc != VEX_OK)
        return rc;
    pthread_mutex_lock(&m->mu);
    k = mem_kind_of(m, norm);
    pthread_mutex_unlock(&m->mu);
    vx_mem_free(&m->mem, norm);
    if (k != VEX_VFS_DIR)
        return vx_err_set(err, VEX_NOTFOUND,
                          "%s: open directory: No such file or directory",
                          path);
    return VEX_OK;
}

typedef struct name_kind {
    char *name;
    int kind;
} name_kind;

static int mem_cmp_name_kind(const void *a, const void *b)
{
    return strcmp(((const name_kind *)a)->name, ((const name_kind *)b)->name);
}

static int mem_list(vex_vfs *v, const char *dir, vex_vfs_list_fn fn, void *ctx,
                    vex_err *err)
{
    mem_vfs *m = mv(v);
    name_kind *names = NULL;
    size_t n_names = 0, i, dl;
    char *norm = NULL;
    int rc;

    rc = norm_or_fail(m, dir, "opendir", &norm, err);
    if (rc != VEX_OK)
        return rc;
    dl = strlen(norm);
    /* Copy the names under the mutex, call back without it, so callbacks
     * may use the vfs. */
    pthread_mutex_lock(&m->mu);
    if (mem_kind_of(m, norm) != VEX_VFS_DIR) {
        pthread_mutex_unlock(&m->mu);
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "%s: opendir: No such file or directory", dir);
        goto cleanup;
    }
    names = vx_mem_calloc(&m->mem, m->n_ents ? m->n_ents : 1, sizeof *names);
    for (i = 0; names && i < m->n_ents; i++) {
        const char *p = m->ents[i].path, *rest;
        if (dl > 0 && (strncmp(p, norm, dl) != 0 || p[dl] != '/'))
            continue;
        rest = dl > 0 ? p + dl + 1 : p;
        if (strchr(rest, '/'))
            continue; /* deeper */
        names[n_names].kind =
            m->ents[i].node->is_dir ? VEX_VFS_DIR : VEX_VFS_FILE;
        names[n_names].name = vx_vfs_strdup(&m->mem, rest);
        if (names[n_names++].name == NULL) {
            rc = VEX_NOMEM;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (names == NULL || rc != VEX_OK) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: list: out of memory", dir);
        goto cleanup;
    }
    qsort(names, n_names, sizeof *names, mem_cmp_name_kind);
    for (i = 0; i < n_names; i++) {
        rc = fn(ctx, names[i].name, names[i].kind);
        if (rc != 0)
            break;
    }
cleanup:
    for (i = 0; i < n_names; i++)
        vx_mem_free(&m->mem, names[i].name);
    vx_mem_free(&m->mem, names);
    vx_mem_free(&m->mem, norm);
    return rc;
}

static int mem_mkdir(vex_vfs *v, const char *path, vex_err *err)
{
    mem_vfs *m = mv(v);
    char *norm = NULL;
    mnode *node = NULL;
    int rc;
    rc = norm_or_fail(m, path, "mkdir", &norm, err);
    if (rc != VEX_OK)
        return rc;
    pthread_mutex_lock(&m->mu);
    if (mem_kind_of(m, norm) != VEX_VFS_NONE) {
        rc = vx_err_set(err, VEX_EXISTS, "%s: mkdir: File exists", path);
    } else if (!parent_is_dir(m, norm)) {
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "%s: mkdir: No such file or directory", path);
    } else {
        node = vx_mem_calloc(&m->mem, 1, sizeof *node);
        if (node == NULL || add_entry(m, norm, node) != VEX_OK) {
            vx_mem_free(&m->mem, node);
            rc = vx_err_set(err, VEX_NOMEM, "%s: mkdir: out of memory", path);
        } else {
            node->is_dir = 1;
            node->refs = 1;
            norm = NULL;
        }
    }
    pthread_mutex_unlock(&m->mu);
    vx_mem_free(&m->mem, norm);
    return rc;
}

static int mem_exists(vex_vfs *v, const char *path, int *kind, vex_err *err)
{
    mem_vfs *m = mv(v);
    char *norm = NULL;
    int rc;
    *kind = VEX_VFS_NONE;
    rc = norm_or_fail(m, path, "stat", &norm, err);
    if (rc != VEX_OK)
        return rc;
    pthread_mutex_lock(&m->mu);
    *kind = mem_kind_of(m, norm);
    pthread_mutex_unlock(&m->mu);
    vx_mem_free(&m->mem, norm);
    return VEX_OK;
}

static void mem_destroy(vex_vfs *v)
{
    mem_vfs *m = mv(v);
    vex_mem mem = m->mem;
    while (m->n_ents > 0)
        mem_drop_entry(m, m->n_ents - 1);
    vx_mem_free(&mem, m->ents);
    pthread_mutex_destroy(&m->mu);
    vx_mem_free(&mem, m);
}

static const vex_vfs_methods mem_methods = {
    mem_open,     mem_close,  mem_read,    mem_write,    mem_size,
    mem_truncate, mem_sync,   mem_mmap,    mem_munmap,   mem_lock,
    mem_unlock,   mem_remove, mem_rename,  mem_sync_dir, mem_list,
    mem_mkdir,    mem_exists, mem_destroy, NULL, /* advise: a mapping is a
                                                    private copy */
    NULL,                                        /* link: none, callers copy */
    NULL,                                        /* os_fd: not OS files */
};

int vx_vfs_mem_create(const vex_allocator *alloc, vex_vfs **out)
{
    vex_mem mem;
    mem_vfs *m;
    int rc;
    *out = NULL;
    rc = vx_mem_init(&mem, alloc);
    if (rc != VEX_OK)
        return rc;
    m = vx_mem_calloc(&mem, 1, sizeof *m);
    if (m == NULL)
        return VEX_NOMEM;
    m->mem = mem;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        vx_mem_free(&mem, m);
        return VEX_INTERNAL;
    }
    m->base.name = "mem";
    m->base.methods = &mem_methods;
    m->base.user = m;
    *out = &m->base;
    return VEX_OK;
}

void vx_vfs_mem_counts(vex_vfs *v, uint64_t *n_open, uint64_t *n_maps)
{
    mem_vfs *m = mv(v);
    pthread_mutex_lock(&m->mu);
    *n_open = m->n_open;
    *n_maps = m->n_maps;
    pthread_mutex_unlock(&m->mu);
}
