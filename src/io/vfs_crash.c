/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfs_crash.c - a power-loss simulator that wraps any vfs (the idea of
 * SQLite's test6.c, redone for files and directories). The wrapped vfs is
 * the "disk"; the wrapper keeps, in memory, the current state of every
 * path the program has touched and, separately, the state a power loss
 * would leave. vx_vfs_crash_now() then writes what survives to the disk
 * and starts afresh, so a test can reopen its database on the wrapped vfs
 * (or keep using the wrapper) and check recovery. Part of the io layer,
 * used only by tests; all state is per instance, under one mutex.
 *
 * The model. A "file" is an inode with contents; a directory holds
 * entries (name -> file or directory). Each has a current state (what
 * reads see) and a durable state (what survives a crash).
 *
 *  1. Reads, sizes, listings and exists() see the current state: every
 *     write, truncate, create, rename, remove and mkdir made so far.
 *  2. write and truncate change a file's current contents only. The
 *     512-byte sectors they touch become "unsynced" (a truncate touches
 *     the sectors between the old and the new size).
 *  3. sync (VEX_SYNC_FULL or VEX_SYNC_DATA alike) of a handle makes the
 *     file's current contents and size durable and clears its unsynced
 *     sectors. It does not make the file's name durable.
 *  4. create (open with VX_FILE_CREATE of a missing file), rename,
 *     remove and mkdir change the current entries of the directories
 *     involved (rename: both). sync_dir(D) makes all current entries of D
 *     durable: each name in D then durably names the file or directory it
 *     names now (or nothing). Nothing else makes an entry durable; in
 *     particular a new file whose data was synced but whose directory was
 *     not is lost under DROP_UNSYNCED, and a rename without sync_dir of
 *     the directory may be undone.
 *  5. Paths never touched through the wrapper keep what the disk has;
 *     a file or directory first touched is loaded from the disk with its
 *     current and durable states equal.
 *  6. vx_vfs_crash_now(mode) decides, per path the wrapper touched:
 *     KEEP_ALL: the current state survives, entries and contents.
 *     DROP_UNSYNCED: the durable state survives, entries and contents.
 *     GARBLE_UNSYNCED: for each directory, by a seeded coin, either all its
 *       current entries or all its durable entries survive (so a rename
 *       within one directory is atomic: the old or the new name, never
 *       both, never neither). For each surviving file, the size is either
 *       its durable or its current size (a coin); every unsynced sector
 *       becomes its durable bytes, its current bytes, or random garbage
 *       (one in three each); every other byte is durable (= current).
 *     In every mode, an entry whose parent directory does not survive is
 *     gone too, and bytes of a synced file that is durably named are
 *     intact: garbage appears only inside unsynced sectors.
 *  7. A file that ends up named twice (a rename across two directories of
 *     which only one was synced) survives as two independent copies.
 *  8. After crash_now the disk holds exactly the survivors; the wrapper
 *     forgets everything, its open handles fail every call with VEX_IOERR
 *     (close still frees them), locks are released, and the next calls
 *     load from the disk again (rule 5).
 *  9. The disk is written only by crash_now: until then it holds the
 *     state at creation or at the last crash. Destroying the wrapper
 *     without crash_now leaves the disk untouched; crash_now(KEEP_ALL)
 *     writes everything.
 *
 * Paths are compared after removing repeated '/', "." components and a
 * trailing '/', but a leading '/' is kept: "a" and "/a" are different
 * paths (as on the real file system), so sync_dir(".") and not "/" covers
 * the entries of relative paths.
 *
 * Simplifications: renaming a directory is VEX_UNSUPPORTED (storage
 * renames only files); files are held whole in memory (tests use small
 * ones); lookups are linear in the number of touched paths.
 */
#include "io/vfs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

#define SECTOR 512u

typedef struct cnode {
    int is_dir;
    int from_disk;      /* loaded from the disk and not yet modified */
    unsigned char *cur; /* bytes in [cur_len, cur_cap) are zero */
    size_t cur_len, cur_cap;
    unsigned char *dur;
    size_t dur_len;
    unsigned char *dirty; /* one flag per sector of cur */
    size_t n_dirty;
    const void *lock_owner;
    unsigned char *out; /* survivor contents during crash_now */
    size_t out_len;
    int out_done;
    struct cnode *next; /* every node of the instance */
} cnode;

typedef struct centry {
    char *key;
    cnode *cur, *dur;
    int disk_kind; /* what the disk had when loaded */
    cnode *disk_node;
    cnode *surv; /* during crash_now */
} centry;

typedef struct crash_vfs {
    vex_vfs base;
    vex_mem mem;
    vex_vfs *disk;
    pthread_mutex_t mu;
    uint64_t seed;
    vex_rng rng;
    centry *ents;
    size_t n_ents, cap_ents;
    cnode *nodes;
    uint64_t epoch;
} crash_vfs;

typedef struct crash_file {
    vex_file base; /* first */
    char *path;
    cnode *node;
    int writable;
    uint64_t epoch;
} crash_file;

static crash_vfs *cv(vex_vfs *v)
{
    return v->user;
}

/* ---- keys: normalised paths that keep a leading '/' ------------------ */

static int make_key(crash_vfs *c, const char *path, char **out)
{
    char *norm = NULL, *k;
    size_t n;
    int rc = vx_vfs_path_norm(&c->mem, path, &norm);
    *out = NULL;
    if (rc != VEX_OK)
        return rc;
    if (path[0] != '/') {
        *out = norm;
        return VEX_OK;
    }
    n = strlen(norm);
    k = vx_mem_alloc(&c->mem, n + 2);
    if (k == NULL) {
        vx_mem_free(&c->mem, norm);
        return VEX_NOMEM;
    }
    k[0] = '/';
    memcpy(k + 1, norm, n + 1);
    vx_mem_free(&c->mem, norm);
    *out = k;
    return VEX_OK;
}

static int is_root(const char *key)
{
    return key[0] == '\0' || strcmp(key, "/") == 0;
}

/* length of the parent key ("/a" -> 1 for "/", "a" -> 0 for "") */
static size_t parent_len(const char *key)
{
    const char *s = strrchr(key, '/');
    if (s == NULL)
        return 0;
    return s == key ? 1 : (size_t)(s - key);
}

static int is_child_of(const char *key, const char *dir)
{
    size_t pl = parent_len(key);
    return !is_root(key) && strlen(dir) == pl && strncmp(key, dir, pl) == 0;
}

static const char *disk_path(const char *key)
{
    return key[0] ? key : ".";
}

/* ---- nodes and entries ------------------------------------------------ */

static cnode *node_new(crash_vfs *c, int is_dir)
{
    cnode *n = vx_mem_calloc(&c->mem, 1, sizeof *n);
    if (n) {
        n->is_dir = is_dir;
        n->next = c->nodes;
        c->nodes = n;
    }
    return n;
}

static int crash_node_reserve(crash_vfs *c, cnode *n, uint64_t need)
{
    size_t cap, sectors;
    unsigned char *p;
    if (need > SIZE_MAX / 4)
        return VEX_FULL;
    if (need > n->cur_cap) {
        cap = n->cur_cap ? n->cur_cap : 512;
        while (cap < need)
            cap *= 2;
        p = vx_mem_realloc(&c->mem, n->cur, cap);
        if (p == NULL)
            return VEX_NOMEM;
        memset(p + n->cur_cap, 0, cap - n->cur_cap);
        n->cur = p;
        n->cur_cap = cap;
    }
    sectors = (size_t)(need + SECTOR - 1) / SECTOR;
    if (sectors > n->n_dirty) {
        p = vx_mem_realloc(&c->mem, n->dirty, sectors);
        if (p == NULL)
            return VEX_NOMEM;
        memset(p + n->n_dirty, 0, sectors - n->n_dirty);
        n->dirty = p;
        n->n_dirty = sectors;
    }
    return VEX_OK;
}

/* Mark the sectors of [lo, hi) unsynced (room reserved by the caller). */
static void mark_dirty(cnode *n, uint64_t lo, uint64_t hi)
{
    uint64_t s;
    for (s = lo / SECTOR; s * SECTOR < hi && s < n->n_dirty; s++)
        n->dirty[s] = 1;
}

static long crash_find(crash_vfs *c, const char *key)
{
    size_t i;
    for (i = 0; i < c->n_ents; i++)
        if (strcmp(c->ents[i].key, key) == 0)
            return (long)i;
    return -1;
}

/* Read a whole file of the disk into a new node (rule 5). */
static int load_file(crash_vfs *c, const char *key, cnode *n, vex_err *err)
{
    vex_file *f = NULL;
    uint64_t size = 0;
    int rc = vex_vfs_open(c->disk, disk_path(key), VX_FILE_READONLY, &f, err);
    if (rc != VEX_OK)
        goto cleanup;
    if ((rc = vex_file_size(f, &size, err)) != VEX_OK)
        goto cleanup;
    if ((rc = crash_node_reserve(c, n, size)) != VEX_OK)
        goto cleanup;
    if ((rc = vx_file_read_exact(f, n->cur, (size_t)size, 0, err)) != VEX_OK)
        goto cleanup;
    n->cur_len = (size_t)size;
    n->dur = vx_mem_alloc(&c->mem, n->cur_len);
    if (n->dur == NULL) {
        rc = VEX_NOMEM;
        goto cleanup;
    }
    if (n->cur_len)
        memcpy(n->dur, n->cur, n->cur_len);
    n->dur_len = n->cur_len;
cleanup:
    vex_file_close(f, NULL);
    if (rc == VEX_NOMEM)
        vx_err_set(err, rc, "%s: out of memory", key);
    return rc;
}

/* The entry for `key`, loading it from the disk on first touch. Takes a
 * copy of the key. Caller holds c->mu. Roots are never entries. */
static int get_entry(crash_vfs *c, const char *key, centry **out, vex_err *err)
{
    centry *e;
    cnode *n = NULL;
    int kind = VEX_VFS_NONE, rc;
    long i = crash_find(c, key);
    *out = NULL;
    if (i >= 0) {
        *out = &c->ents[i];
        return VEX_OK;
    }
    rc = vex_vfs_exists(c->disk, disk_path(key), &kind, err);
    if (rc != VEX_OK)
        return rc;
    if (c->n_ents == c->cap_ents) {
        size_t cap = c->cap_ents ? c->cap_ents * 2 : 16;
        centry *p = vx_mem_realloc(&c->mem, c->ents, cap * sizeof *p);
        if (p == NULL)
            return vx_err_set(err, VEX_NOMEM, "%s: out of memory", key);
        c->ents = p;
        c->cap_ents = cap;
    }
    if (kind != VEX_VFS_NONE) {
        n = node_new(c, kind == VEX_VFS_DIR);
        if (n == NULL)
            return vx_err_set(err, VEX_NOMEM, "%s: out of memory", key);
        n->from_disk = 1;
        if (kind == VEX_VFS_FILE && (rc = load_file(c, key, n, err)) != VEX_OK)
            return rc; /* n stays on the node list, freed at reset */
    }
    e = &c->ents[c->n_ents];
    memset(e, 0, sizeof *e);
    e->key = vx_vfs_strdup(&c->mem, key);
    if (e->key == NULL)
        return vx_err_set(err, VEX_NOMEM, "%s: out of memory", key);
    e->cur = e->dur = e->disk_node = n;
    e->disk_kind = kind;
    c->n_ents++;
    *out = e;
    return VEX_OK;
}

/* Current kind of `key` (VEX_VFS_*), loading it. */
static int crash_kind_of(crash_vfs *c, const char *key, int *kind, vex_err *err)
{
    centry *e;
    int rc;
    *kind = VEX_VFS_NONE;
    if (is_root(key)) {
        *kind = VEX_VFS_DIR;
        return VEX_OK;
    }
    rc = get_entry(c, key, &e, err);
    if (rc == VEX_OK && e->cur)
        *kind = e->cur->is_dir ? VEX_VFS_DIR : VEX_VFS_FILE;
    return rc;
}

static int parent_kind(crash_vfs *c, const char *key, int *kind, vex_err *err)
{
    size_t pl = parent_len(key);
    char *p = vx_mem_alloc(&c->mem, pl + 1);
    int rc;
    if (p == NULL)
        return vx_err_set(err, VEX_NOMEM, "%s: out of memory", key);
    memcpy(p, key, pl);
    p[pl] = '\0';
    rc = crash_kind_of(c, p, kind, err);
    vx_mem_free(&c->mem, p);
    return rc;
}

typedef struct load_ctx {
    crash_vfs *c;
    const char *dir;
    vex_err *err;
} load_ctx;

static int load_child(void *ctx, const char *name, int kind)
{
    load_ctx *l = ctx;
    size_t dl = strlen(l->dir), nl = strlen(name);
    char *key = vx_mem_alloc(&l->c->mem, dl + nl + 2);
    centry *e;
    int rc;
    (void)kind;
    if (key == NULL)
        return vx_err_set(l->err, VEX_NOMEM, "%s: out of memory", l->dir);
    memcpy(key, l->dir, dl);
    if (dl > 0 && l->dir[dl - 1] != '/')
        key[dl++] = '/';
    memcpy(key + dl, name, nl + 1);
    rc = get_entry(l->c, key, &e, l->err);
    vx_mem_free(&l->c->mem, key);
    return rc;
}

/* Load every child the disk has under `key` (a directory in the current
 * state) unless the directory was created by the wrapper. */
static int load_children(crash_vfs *c, const char *key, vex_err *err)
{
    load_ctx l;
    long i = crash_find(c, key);
    if (i >= 0 && (c->ents[i].cur == NULL || !c->ents[i].cur->from_disk))
        return VEX_OK;
    l.c = c;
    l.dir = key;
    l.err = err;
    return vex_vfs_list(c->disk, disk_path(key), load_child, &l, err);
}

/* ---- files ------------------------------------------------------------ */

static int stale(crash_file *f, vex_err *err)
{
    if (f->epoch != cv(f->base.vfs)->epoch)
        return vx_err_set(err, VEX_IOERR,
                          "%s: handle invalidated by a simulated crash",
                          f->path);
    return VEX_OK;
}

static int crash_open(vex_vfs *v, const char *path, int flags, vex_file **out,
                      vex_err *err)
{
    crash_vfs *c = cv(v);
    int rw = flags & (VX_FILE_READONLY | VX_FILE_READWRITE);
    crash_file *f = NULL;
    char *key = NULL;
    centry *e;
    int rc = VEX_OK, locked = 0, pk;

    *out = NULL;
    if ((rw != VX_FILE_READONLY && rw != VX_FILE_READWRITE) ||
        (rw == VX_FILE_READONLY &&
         (flags & (VX_FILE_CREATE | VX_FILE_TRUNCATE))) ||
        ((flags & VX_FILE_EXCL) && !(flags & VX_FILE_CREATE))) {
        rc = vx_err_set(err, VEX_INVALID, "%s: open: bad flags 0x%x", path,
                        (unsigned)flags);
        goto cleanup;
    }
    f = vx_mem_calloc(&c->mem, 1, sizeof *f);
    if (f == NULL || (f->path = vx_vfs_strdup(&c->mem, path)) == NULL ||
        (rc = make_key(c, path, &key)) != VEX_OK) {
        rc = vx_err_set(err, rc == VEX_INVALID ? rc : VEX_NOMEM, "%s: open: %s",
                        path, rc == VEX_INVALID ? "bad path" : "out of memory");
        goto cleanup;
    }
    pthread_mutex_lock(&c->mu);
    locked = 1;
    if (is_root(key)) {
        rc = vx_err_set(err, VEX_IOERR, "%s: open: Is a directory", path);
        goto cleanup;
    }
    if ((rc = get_entry(c, key, &e, err)) != VEX_OK)
        goto cleanup;
    if (e->cur && e->cur->is_dir) {
        rc = vx_err_set(err, VEX_IOERR, "%s: open: Is a directory", path);
        goto cleanup;
    }
    if (e->cur) {
        if (flags & VX_FILE_EXCL) {
            rc = vx_err_set(err, VEX_EXISTS, "%s: open: File exists", path);
            goto cleanup;
        }
        if ((flags & VX_FILE_TRUNCATE) && e->cur->cur_len > 0) {
            cnode *n = e->cur;
            mark_dirty(n, 0, n->cur_len);
            memset(n->cur, 0, n->cur_len);
            n->cur_len = 0;
            n->from_disk = 0;
        }
    } else {
        if (!(flags & VX_FILE_CREATE)) {
            rc = vx_err_set(err, VEX_NOTFOUND,
                            "%s: open: No such file or directory", path);
            goto cleanup;
        }
        if ((rc = parent_kind(c, key, &pk, err)) != VEX_OK)
            goto cleanup;
        e = &c->ents[crash_find(c, key)]; /* parent_kind may move the array */
        if (pk != VEX_VFS_DIR) {
            rc = vx_err_set(err, VEX_NOTFOUND,
                            "%s: open: No such file or directory", path);
            goto cleanup;
        }
        if ((e->cur = node_new(c, 0)) == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "%s: open: out of memory", path);
            goto cleanup;
        }
    }
    f->base.vfs = v;
    f->base.path = f->path;
    f->node = e->cur;
    f->writable = rw == VX_FILE_READWRITE;
    f->epoch = c->epoch;
    *out = &f->base;
    f = NULL;
cleanup:
    if (locked)
        pthread_mutex_unlock(&c->mu);
    if (f) {
        vx_mem_free(&c->mem, f->path);
        vx_mem_free(&c->mem, f);
    }
    vx_mem_free(&c->mem, key);
    return rc;
}

static int crash_close(vex_file *file, vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c;
    (void)err;
    if (f == NULL)
        return VEX_OK;
    c = cv(file->vfs);
    pthread_mutex_lock(&c->mu);
    if (f->epoch == c->epoch && f->node->lock_owner == f)
        f->node->lock_owner = NULL;
    pthread_mutex_unlock(&c->mu);
    vx_mem_free(&c->mem, f->path);
    vx_mem_free(&c->mem, f);
    return VEX_OK;
}

static int crash_read(vex_file *file, void *buf, size_t n, uint64_t off,
                      size_t *n_read, vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    int rc;
    *n_read = 0;
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc == VEX_OK && off < f->node->cur_len) {
        size_t got = f->node->cur_len - (size_t)off;
        if (got > n)
            got = n;
        memcpy(buf, f->node->cur + off, got);
        *n_read = got;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int crash_write(vex_file *file, const void *buf, size_t n, uint64_t off,
                       vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    int rc;
    if (n == 0)
        return VEX_OK;
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc != VEX_OK)
        goto cleanup;
    if (!f->writable) {
        rc = vx_err_set(err, VEX_IOERR,
                        "%s: pwrite at offset %llu: not open for writing",
                        f->path, (unsigned long long)off);
        goto cleanup;
    }
    if (off > UINT64_MAX - n ||
        (rc = crash_node_reserve(c, f->node, off + n)) != VEX_OK) {
        rc = vx_err_set(err, rc == VEX_NOMEM ? rc : VEX_FULL,
                        "%s: pwrite at offset %llu: %s", f->path,
                        (unsigned long long)off,
                        rc == VEX_NOMEM ? "out of memory" : "File too large");
        goto cleanup;
    }
    memcpy(f->node->cur + off, buf, n);
    mark_dirty(f->node, off > f->node->cur_len ? f->node->cur_len : off,
               off + n);
    if (off + n > f->node->cur_len)
        f->node->cur_len = (size_t)(off + n);
    f->node->from_disk = 0;
cleanup:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int crash_size(vex_file *file, uint64_t *size, vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    int rc;
    *size = 0;
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc == VEX_OK)
        *size = f->node->cur_len;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int crash_truncate(vex_file *file, uint64_t size, vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    cnode *n = f->node;
    int rc;
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc != VEX_OK)
        goto cleanup;
    if (!f->writable) {
        rc = vx_err_set(err, VEX_IOERR,
                        "%s: ftruncate at offset %llu: not open for writing",
                        f->path, (unsigned long long)size);
        goto cleanup;
    }
    if ((rc = crash_node_reserve(c, n, size)) != VEX_OK) {
        rc = vx_err_set(err, rc, "%s: ftruncate at offset %llu: failed",
                        f->path, (unsigned long long)size);
        goto cleanup;
    }
    if (size < n->cur_len) {
        mark_dirty(n, size, n->cur_len);
        memset(n->cur + size, 0, n->cur_len - (size_t)size);
    } else {
        mark_dirty(n, n->cur_len, size);
    }
    n->cur_len = (size_t)size;
    n->from_disk = 0;
cleanup:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int crash_sync(vex_file *file, int mode, vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    cnode *n = f->node;
    int rc;
    (void)mode; /* rule 3: fsync and fdatasync alike */
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc == VEX_OK) {
        unsigned char *d = vx_mem_realloc(&c->mem, n->dur, n->cur_len);
        if (d == NULL) {
            rc =
                vx_err_set(err, VEX_NOMEM, "%s: fsync: out of memory", f->path);
        } else {
            if (n->cur_len)
                memcpy(d, n->cur, n->cur_len);
            n->dur = d;
            n->dur_len = n->cur_len;
            if (n->n_dirty)
                memset(n->dirty, 0, n->n_dirty);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int crash_mmap(vex_file *file, const void **addr, size_t *len,
                      vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    int rc;
    *addr = NULL;
    *len = 0;
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc == VEX_OK && f->node->cur_len > 0) {
        unsigned char *p = vx_mem_alloc(&c->mem, f->node->cur_len);
        if (p == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "%s: mmap: out of memory", f->path);
        } else {
            memcpy(p, f->node->cur, f->node->cur_len);
            *addr = p;
            *len = f->node->cur_len;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int crash_munmap(vex_file *file, const void *addr, size_t len,
                        vex_err *err)
{
    (void)len;
    (void)err;
    vx_mem_free(&cv(file->vfs)->mem, (void *)(uintptr_t)addr);
    return VEX_OK;
}

static int crash_lock(vex_file *file, vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    int rc;
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc == VEX_OK) {
        if (f->node->lock_owner && f->node->lock_owner != f)
            rc = vx_err_set(err, VEX_BUSY, "%s: lock: held by another handle",
                            f->path);
        else
            f->node->lock_owner = f;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int crash_unlock(vex_file *file, vex_err *err)
{
    crash_file *f = (crash_file *)file;
    crash_vfs *c = cv(file->vfs);
    int rc;
    pthread_mutex_lock(&c->mu);
    rc = stale(f, err);
    if (rc == VEX_OK && f->node->lock_owner == f)
        f->node->lock_owner = NULL;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- directories ------------------------------------------------------ */

/* Lock, make the key, find the entry (not a root). */
static int begin(crash_vfs *c, const char *path, const char *what, char **key,
                 vex_err *err)
{
    int rc = make_key(c, path, key);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s: %s: %s", path, what,
                          rc == VEX_NOMEM ? "out of memory" : "bad path");
    pthread_mutex_lock(&c->mu);
    return VEX_OK;
}

static int has_current_children(crash_vfs *c, const char *key, int *yes,
                                vex_err *err)
{
    size_t i;
    int rc = load_children(c, key, err);
    *yes = 0;
    for (i = 0; rc == VEX_OK && i < c->n_ents; i++)
        if (c->ents[i].cur && is_child_of(c->ents[i].key, key))
            *yes = 1;
    return rc;
}

static int crash_remove(vex_vfs *v, const char *path, vex_err *err)
{
    crash_vfs *c = cv(v);
    char *key = NULL;
    centry *e;
    int rc, busy = 0;
    if ((rc = begin(c, path, "unlink", &key, err)) != VEX_OK)
        return rc;
    if (is_root(key)) {
        rc = vx_err_set(err, VEX_IOERR, "%s: unlink: Is the root", path);
        goto cleanup;
    }
    if ((rc = get_entry(c, key, &e, err)) != VEX_OK)
        goto cleanup;
    if (e->cur == NULL) {
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "%s: unlink: No such file or directory", path);
        goto cleanup;
    }
    if (e->cur->is_dir) {
        if ((rc = has_current_children(c, key, &busy, err)) != VEX_OK)
            goto cleanup;
        /* the entries array may have moved: find e again */
        e = &c->ents[crash_find(c, key)];
        if (busy) {
            rc = vx_err_set(err, VEX_EXISTS, "%s: rmdir: Directory not empty",
                            path);
            goto cleanup;
        }
    }
    e->cur = NULL;
cleanup:
    pthread_mutex_unlock(&c->mu);
    vx_mem_free(&c->mem, key);
    return rc;
}

static int crash_rename(vex_vfs *v, const char *from, const char *to,
                        vex_err *err)
{
    crash_vfs *c = cv(v);
    char *kf = NULL, *kt = NULL;
    centry *ef, *et;
    int rc, pk;
    if ((rc = make_key(c, to, &kt)) != VEX_OK)
        return vx_err_set(err, rc, "rename %s -> %s: bad path", from, to);
    if ((rc = begin(c, from, "rename", &kf, err)) != VEX_OK) {
        vx_mem_free(&c->mem, kt);
        return rc;
    }
    if (is_root(kf) || is_root(kt)) {
        rc = vx_err_set(err, VEX_IOERR, "rename %s -> %s: root", from, to);
        goto cleanup;
    }
    if ((rc = get_entry(c, kf, &ef, err)) != VEX_OK ||
        (rc = get_entry(c, kt, &et, err)) != VEX_OK ||
        (rc = parent_kind(c, kt, &pk, err)) != VEX_OK)
        goto cleanup;
    ef = &c->ents[crash_find(c, kf)]; /* get_entry may have moved the array */
    et = &c->ents[crash_find(c, kt)];
    if (ef->cur == NULL || pk != VEX_VFS_DIR) {
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "rename %s -> %s: No such file or directory", from, to);
        goto cleanup;
    }
    if (ef->cur->is_dir) {
        rc = vx_err_set(err, VEX_UNSUPPORTED,
                        "rename %s -> %s: directories cannot be renamed in "
                        "the crash vfs",
                        from, to);
        goto cleanup;
    }
    if (et->cur && et->cur->is_dir) {
        rc = vx_err_set(err, VEX_IOERR, "rename %s -> %s: Is a directory", from,
                        to);
        goto cleanup;
    }
    if (ef != et) {
        et->cur = ef->cur;
        ef->cur = NULL;
    }
cleanup:
    pthread_mutex_unlock(&c->mu);
    vx_mem_free(&c->mem, kf);
    vx_mem_free(&c->mem, kt);
    return rc;
}

static int crash_sync_dir(vex_vfs *v, const char *path, vex_err *err)
{
    crash_vfs *c = cv(v);
    char *key = NULL;
    size_t i;
    int rc, k;
    if ((rc = begin(c, path, "fsync directory", &key, err)) != VEX_OK)
        return rc;
    if ((rc = crash_kind_of(c, key, &k, err)) != VEX_OK)
        goto cleanup;
    if (k != VEX_VFS_DIR) {
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "%s: open directory: No such file or directory", path);
        goto cleanup;
    }
    for (i = 0; i < c->n_ents; i++) /* rule 4 */
        if (is_child_of(c->ents[i].key, key))
            c->ents[i].dur = c->ents[i].cur;
cleanup:
    pthread_mutex_unlock(&c->mu);
    vx_mem_free(&c->mem, key);
    return rc;
}

typedef struct crash_name_kind {
    char *name;
    int kind;
} crash_name_kind;

static int crash_cmp_name_kind(const void *a, const void *b)
{
    return strcmp(((const crash_name_kind *)a)->name,
                  ((const crash_name_kind *)b)->name);
}

static int crash_list(vex_vfs *v, const char *dir, vex_vfs_list_fn fn,
                      void *ctx, vex_err *err)
{
    crash_vfs *c = cv(v);
    crash_name_kind *names = NULL;
    size_t n_names = 0, i;
    char *key = NULL;
    int rc, k;
    if ((rc = begin(c, dir, "opendir", &key, err)) != VEX_OK)
        return rc;
    if ((rc = crash_kind_of(c, key, &k, err)) != VEX_OK) {
        pthread_mutex_unlock(&c->mu);
        goto cleanup;
    }
    if (k != VEX_VFS_DIR) {
        pthread_mutex_unlock(&c->mu);
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "%s: opendir: No such file or directory", dir);
        goto cleanup;
    }
    rc = load_children(c, key, err);
    if (rc == VEX_OK) {
        names = vx_mem_calloc(&c->mem, c->n_ents + 1, sizeof *names);
        if (names == NULL)
            rc = VEX_NOMEM;
    }
    for (i = 0; rc == VEX_OK && i < c->n_ents; i++) {
        const centry *e = &c->ents[i];
        if (e->cur == NULL || !is_child_of(e->key, key))
            continue;
        names[n_names].kind = e->cur->is_dir ? VEX_VFS_DIR : VEX_VFS_FILE;
        names[n_names].name =
            vx_vfs_strdup(&c->mem, e->key + parent_len(e->key) +
                                       (e->key[parent_len(e->key)] == '/'));
        if (names[n_names++].name == NULL)
            rc = VEX_NOMEM;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == VEX_NOMEM)
        rc = vx_err_set(err, rc, "%s: list: out of memory", dir);
    if (rc != VEX_OK)
        goto cleanup;
    qsort(names, n_names, sizeof *names, crash_cmp_name_kind);
    for (i = 0; i < n_names; i++)
        if ((rc = fn(ctx, names[i].name, names[i].kind)) != 0)
            break;
cleanup:
    for (i = 0; i < n_names; i++)
        vx_mem_free(&c->mem, names[i].name);
    vx_mem_free(&c->mem, names);
    vx_mem_free(&c->mem, key);
    return rc;
}

static int crash_mkdir(vex_vfs *v, const char *path, vex_err *err)
{
    crash_vfs *c = cv(v);
    char *key = NULL;
    centry *e;
    int rc, pk;
    if ((rc = begin(c, path, "mkdir", &key, err)) != VEX_OK)
        return rc;
    if (is_root(key)) {
        rc = vx_err_set(err, VEX_EXISTS, "%s: mkdir: File exists", path);
        goto cleanup;
    }
    if ((rc = parent_kind(c, key, &pk, err)) != VEX_OK ||
        (rc = get_entry(c, key, &e, err)) != VEX_OK)
        goto cleanup;
    if (e->cur) {
        rc = vx_err_set(err, VEX_EXISTS, "%s: mkdir: File exists", path);
    } else if (pk != VEX_VFS_DIR) {
        rc = vx_err_set(err, VEX_NOTFOUND,
                        "%s: mkdir: No such file or directory", path);
    } else if ((e->cur = node_new(c, 1)) == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: mkdir: out of memory", path);
    }
cleanup:
    pthread_mutex_unlock(&c->mu);
    vx_mem_free(&c->mem, key);
    return rc;
}

static int crash_exists(vex_vfs *v, const char *path, int *kind, vex_err *err)
{
    crash_vfs *c = cv(v);
    char *key = NULL;
    int rc;
    *kind = VEX_VFS_NONE;
    if ((rc = begin(c, path, "stat", &key, err)) != VEX_OK)
        return rc;
    rc = crash_kind_of(c, key, kind, err);
    pthread_mutex_unlock(&c->mu);
    vx_mem_free(&c->mem, key);
    return rc;
}

/* ---- the crash -------------------------------------------------------- */

static void reset(crash_vfs *c)
{
    size_t i;
    cnode *n, *next;
    for (i = 0; i < c->n_ents; i++)
        vx_mem_free(&c->mem, c->ents[i].key);
    c->n_ents = 0;
    for (n = c->nodes; n; n = next) {
        next = n->next;
        vx_mem_free(&c->mem, n->cur);
        vx_mem_free(&c->mem, n->dur);
        vx_mem_free(&c->mem, n->dirty);
        vx_mem_free(&c->mem, n->out);
        vx_mem_free(&c->mem, n);
    }
    c->nodes = NULL;
    c->epoch++;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const centry *)a)->key, ((const centry *)b)->key);
}

/* The GARBLE coin of a directory: a hash of the seed, the crash number
 * and the directory's key, so it is the same for all its entries. */
static int dir_coin(crash_vfs *c, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ c->seed ^ (c->epoch << 32);
    size_t i;
    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    return (int)(vex_splitmix64(&h) & 1);
}

/* Rule 6 for one file: fill n->out. */
static int survivor_bytes(crash_vfs *c, cnode *n, int mode)
{
    size_t len, i;
    if (n->out_done)
        return VEX_OK;
    n->out_done = 1;
    if (mode == VEX_CRASH_KEEP_ALL)
        len = n->cur_len;
    else if (mode == VEX_CRASH_DROP_UNSYNCED)
        len = n->dur_len;
    else
        len = (vex_rng_next(&c->rng) & 1) ? n->cur_len : n->dur_len;
    n->out = vx_mem_calloc(&c->mem, len ? len : 1, 1);
    if (n->out == NULL)
        return VEX_NOMEM;
    n->out_len = len;
    if (mode == VEX_CRASH_KEEP_ALL) {
        if (len)
            memcpy(n->out, n->cur, len);
        return VEX_OK;
    }
    if (len && n->dur_len)
        memcpy(n->out, n->dur, len < n->dur_len ? len : n->dur_len);
    if (mode == VEX_CRASH_DROP_UNSYNCED)
        return VEX_OK;
    for (i = 0; i * SECTOR < len; i++) {
        size_t lo = i * SECTOR, hi = lo + SECTOR < len ? lo + SECTOR : len, j;
        uint64_t pick;
        if (i >= n->n_dirty || !n->dirty[i])
            continue;
        pick = vex_rng_below(&c->rng, 3);
        if (pick == 1) { /* new bytes (zeros past cur_len) */
            for (j = lo; j < hi; j++)
                n->out[j] = j < n->cur_len ? n->cur[j] : 0;
        } else if (pick == 2) { /* garbage */
            for (j = lo; j < hi; j++)
                n->out[j] = (unsigned char)vex_rng_next(&c->rng);
        } /* else the durable bytes, already there */
    }
    return VEX_OK;
}

static int rm_tree(vex_vfs *disk, const char *path, vex_err *err);

typedef struct tree_ctx {
    vex_vfs *disk;
    const char *dir;
    vex_err *err;
} tree_ctx;

static int rm_child(void *ctx, const char *name, int kind)
{
    tree_ctx *t = ctx;
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s/%s", t->dir, name);
    (void)kind;
    if (n < 0 || (size_t)n >= sizeof buf)
        return vx_err_set(t->err, VEX_INVALID, "%s: path too long", t->dir);
    return rm_tree(t->disk, buf, t->err);
}

/* Remove a file or a directory and everything under it from the disk. */
static int rm_tree(vex_vfs *disk, const char *path, vex_err *err)
{
    int kind, rc = vex_vfs_exists(disk, path, &kind, err);
    tree_ctx t;
    if (rc != VEX_OK || kind == VEX_VFS_NONE)
        return rc;
    if (kind == VEX_VFS_DIR) {
        t.disk = disk;
        t.dir = path;
        t.err = err;
        rc = vex_vfs_list(disk, path, rm_child, &t, err);
        if (rc != VEX_OK)
            return rc;
    }
    return vex_vfs_remove(disk, path, err);
}

static int write_disk_file(vex_vfs *disk, const char *path, const cnode *n,
                           vex_err *err)
{
    vex_file *f = NULL;
    int rc = vex_vfs_open(disk, path,
                          VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE,
                          &f, err);
    if (rc == VEX_OK && n->out_len > 0)
        rc = vex_file_write(f, n->out, n->out_len, 0, err);
    if (rc == VEX_OK)
        rc = vex_file_sync(f, VEX_SYNC_FULL, err);
    if (f) {
        int rc2 = vex_file_close(f, err);
        if (rc == VEX_OK)
            rc = rc2;
    }
    return rc;
}

int vx_vfs_crash_now(vex_vfs *v, int mode, vex_err *err)
{
    crash_vfs *c = cv(v);
    size_t i;
    int rc = VEX_OK;
    if (mode != VEX_CRASH_KEEP_ALL && mode != VEX_CRASH_DROP_UNSYNCED &&
        mode != VEX_CRASH_GARBLE_UNSYNCED)
        return vx_err_set(err, VEX_INVALID, "crash: unknown mode %d", mode);
    pthread_mutex_lock(&c->mu);
    /* parents sort before their children */
    if (c->n_ents > 1)
        qsort(c->ents, c->n_ents, sizeof *c->ents, cmp_entry);
    for (i = 0; i < c->n_ents; i++) {
        centry *e = &c->ents[i];
        size_t pl = parent_len(e->key);
        if (mode == VEX_CRASH_KEEP_ALL)
            e->surv = e->cur;
        else if (mode == VEX_CRASH_DROP_UNSYNCED)
            e->surv = e->dur;
        else
            e->surv = dir_coin(c, e->key, pl) ? e->cur : e->dur;
        if (e->surv) { /* a parent the wrapper touched must survive */
            size_t j;
            for (j = 0; j < i; j++)
                if (strlen(c->ents[j].key) == pl &&
                    strncmp(c->ents[j].key, e->key, pl) == 0 &&
                    (c->ents[j].surv == NULL || !c->ents[j].surv->is_dir))
                    e->surv = NULL;
        }
        if (e->surv && !e->surv->is_dir && rc == VEX_OK)
            rc = survivor_bytes(c, e->surv, mode);
    }
    if (rc != VEX_OK) {
        rc = vx_err_set(err, rc, "crash: out of memory");
        goto cleanup;
    }
    /* children first: remove what the disk has and must not keep */
    for (i = c->n_ents; i-- > 0 && rc == VEX_OK;) {
        centry *e = &c->ents[i];
        int keep = e->surv && e->disk_kind != VEX_VFS_NONE &&
                   e->surv->is_dir == (e->disk_kind == VEX_VFS_DIR) &&
                   (!e->surv->is_dir || e->surv == e->disk_node);
        if (e->disk_kind != VEX_VFS_NONE && !keep)
            rc = rm_tree(c->disk, disk_path(e->key), err);
    }
    /* parents first: create and write the survivors */
    for (i = 0; i < c->n_ents && rc == VEX_OK; i++) {
        centry *e = &c->ents[i];
        int k;
        if (e->surv == NULL)
            continue;
        if (e->surv->is_dir) {
            rc = vex_vfs_exists(c->disk, disk_path(e->key), &k, err);
            if (rc == VEX_OK && k == VEX_VFS_NONE)
                rc = vex_vfs_mkdir(c->disk, disk_path(e->key), err);
        } else if (!(e->surv == e->disk_node && e->surv->from_disk &&
                     e->disk_kind == VEX_VFS_FILE &&
                     e->surv->cur_len == e->surv->out_len)) {
            rc = write_disk_file(c->disk, disk_path(e->key), e->surv, err);
        }
    }
cleanup:
    reset(c); /* rule 8, also after a failure: the "machine" rebooted */
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void crash_destroy(vex_vfs *v)
{
    crash_vfs *c = cv(v);
    vex_mem mem = c->mem;
    reset(c);
    vx_mem_free(&mem, c->ents);
    pthread_mutex_destroy(&c->mu);
    vx_mem_free(&mem, c);
}

static const vex_vfs_methods crash_methods = {
    crash_open,     crash_close,  crash_read,    crash_write,    crash_size,
    crash_truncate, crash_sync,   crash_mmap,    crash_munmap,   crash_lock,
    crash_unlock,   crash_remove, crash_rename,  crash_sync_dir, crash_list,
    crash_mkdir,    crash_exists, crash_destroy, NULL, /* advise: a mapping is a
                                                          private copy */
    NULL, /* link: none, callers copy */
    NULL, /* os_fd: reads go through the crash model */
};

int vx_vfs_crash_create(vex_vfs *base, const vex_allocator *alloc,
                        uint64_t seed, vex_vfs **out)
{
    vex_mem mem;
    crash_vfs *c;
    int rc;
    *out = NULL;
    if (base == NULL)
        return VEX_INVALID;
    rc = vx_mem_init(&mem, alloc);
    if (rc != VEX_OK)
        return rc;
    c = vx_mem_calloc(&mem, 1, sizeof *c);
    if (c == NULL)
        return VEX_NOMEM;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        vx_mem_free(&mem, c);
        return VEX_INTERNAL;
    }
    c->mem = mem;
    c->disk = base;
    c->seed = seed;
    vex_rng_seed(&c->rng, seed);
    c->base.name = "crash";
    c->base.methods = &crash_methods;
    c->base.user = c;
    *out = &c->base;
    return VEX_OK;
}
