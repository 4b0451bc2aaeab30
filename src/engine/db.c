/* SPDX-License-Identifier: Apache-2.0 */
/*
 * db.c - the database handle: the directory, its lock and format marker,
 * options, the worker pools, job threads and match cache it owns, and
 * the sweep of leftovers of unfinished creates and drops at open. The
 * catalog of collections (create, open, drop, list, the registry of open
 * handles) is in catalog.c; the collections themselves in collection.c;
 * the layout is in db.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/db.h"
#include "engine/jobs.h"
#include "engine/engine.h"
#include "index/ix.h"
#include "meta/schema.h"
#include "util/abi.h"
#include "storage/manifest.h"
#include "util/crc32c.h"
#include "util/endian.h"

#define MARKER_NAME    "VEXDB"
#define MARKER_MAGIC   "VEXDB\0\0\0"
#define MARKER_VERSION 1
#define MARKER_SIZE    32

/* ---------------------------------------------------------------------
 * Small helpers shared with collection.c
 * ------------------------------------------------------------------- */

char *vx_path_join(const vex_mem *m, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = vx_mem_alloc(m, la + lb + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

int vx_name_ok(const char *name, char *why, size_t why_size)
{
    size_t n = strlen(name);
    if (n == 0 || n > VEX_NAME_MAX) {
        snprintf(why, why_size, "a name has 1..%d characters, not %zu",
                 VEX_NAME_MAX, n);
        return 0;
    }
    if (name[0] == '.') {
        snprintf(why, why_size, "a name must not start with '.'");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
                 ch == '.';
        if (!ok) {
            snprintf(why, why_size,
                     "character %zu (0x%02x) is not one of A-Z a-z 0-9 _ - .",
                     i, ch);
            return 0;
        }
    }
    return 1;
}

typedef struct rm_ctx {
    vex_vfs *vfs;
    const vex_mem *mem;
    const char *dir;
    vex_err *err;
} rm_ctx;

static int rm_entry(void *arg, const char *name, int kind)
{
    rm_ctx *r = arg;
    char *p = vx_path_join(r->mem, r->dir, name);
    int rc;
    if (p == NULL)
        return vx_err_set(r->err, VEX_NOMEM, "out of memory");
    if (kind == VEX_VFS_DIR)
        rc = vx_rmtree(r->vfs, r->mem, p, r->err);
    else
        rc = r->vfs->methods->remove(r->vfs, p, r->err);
    vx_mem_free(r->mem, p);
    return rc;
}

int vx_rmtree(vex_vfs *vfs, const vex_mem *m, const char *path, vex_err *err)
{
    rm_ctx r = {vfs, m, path, err};
    int rc = vfs->methods->list(vfs, path, rm_entry, &r, err);
    if (rc == VEX_OK)
        rc = vfs->methods->remove(vfs, path, err);
    return rc;
}

/* ---------------------------------------------------------------------
 * The marker file
 * ------------------------------------------------------------------- */

int vx_db_marker_check(vex_vfs *vfs, const char *path, vex_err *err)
{
    unsigned char b[MARKER_SIZE];
    vex_file *f = NULL;
    uint64_t size;
    int rc = vfs->methods->open(vfs, path, VX_FILE_READONLY, &f, err);
    if (rc != VEX_OK)
        return rc;
    rc = vfs->methods->size(f, &size, err);
    if (rc == VEX_OK && size != MARKER_SIZE)
        rc = vx_err_set(err, VEX_CORRUPT,
                        "%s: size %llu at offset 0, expected %d", path,
                        (unsigned long long)size, MARKER_SIZE);
    if (rc == VEX_OK)
        rc = vx_file_read_exact(f, b, sizeof b, 0, err);
    vfs->methods->close(f, NULL);
    if (rc != VEX_OK)
        return rc;
    if (memcmp(b, MARKER_MAGIC, 8) != 0)
        return vx_err_set(err, VEX_CORRUPT,
                          "%s: bad magic at offset 0: not a VexDB database",
                          path);
    if (vex_get_u32le(b + 28) != vex_crc32c(b, 28))
        return vx_err_set(err, VEX_CORRUPT,
                          "%s: checksum mismatch at offset 28", path);
    if (vex_get_u32le(b + 8) > MARKER_VERSION)
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "%s: format version %u at offset 8 is newer than "
                          "this library's %d",
                          path, vex_get_u32le(b + 8), MARKER_VERSION);
    if (vex_get_u32le(b + 8) == 0)
        return vx_err_set(err, VEX_CORRUPT, "%s: format version 0 at offset 8",
                          path);
    return VEX_OK;
}

typedef struct list_probe {
    int n_other;
} list_probe;

static int probe_entry(void *arg, const char *name, int kind)
{
    list_probe *p = arg;
    (void)kind;
    if (strcmp(name, "LOCK") != 0 && strcmp(name, MARKER_NAME ".tmp") != 0 &&
        strcmp(name, "collections") != 0)
        p->n_other++;
    return 0;
}

/* Turn an empty directory into a database: collections/, then the marker
 * (written to a temporary name, synced, renamed), then the directory sync
 * that makes both durable. The marker is the commit point: a directory
 * with a LOCK and an empty collections/ but no marker is still "empty". */
static int marker_create(vex_db *db, const char *path)
{
    unsigned char b[MARKER_SIZE];
    vex_file *f = NULL;
    char *tmp = NULL;
    int rc, kind;
    memset(b, 0, sizeof b);
    memcpy(b, MARKER_MAGIC, 8);
    vex_put_u32le(b + 8, MARKER_VERSION);
    vex_put_u32le(b + 12, 0);
    vex_put_u64le(b + 16, (uint64_t)time(NULL));
    vex_put_u32le(b + 28, vex_crc32c(b, 28));
    rc = db->vfs->methods->exists(db->vfs, db->coll_dir, &kind, &db->err);
    if (rc == VEX_OK && kind == VEX_VFS_NONE)
        rc = db->vfs->methods->mkdir(db->vfs, db->coll_dir, &db->err);
    if (rc != VEX_OK)
        return rc;
    tmp = vx_path_join(&db->mem, db->path, MARKER_NAME ".tmp");
    if (tmp == NULL)
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    rc = db->vfs->methods->open(
        db->vfs, tmp, VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE, &f,
        &db->err);
    if (rc == VEX_OK) {
        rc = db->vfs->methods->write(f, b, sizeof b, 0, &db->err);
        if (rc == VEX_OK)
            rc = db->vfs->methods->sync(f, VEX_SYNC_FULL, &db->err);
        int rc2 = db->vfs->methods->close(f, &db->err);
        if (rc == VEX_OK)
            rc = rc2;
    }
    if (rc == VEX_OK)
        rc = db->vfs->methods->rename(db->vfs, tmp, path, &db->err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->sync_dir(db->vfs, db->path, &db->err);
    vx_mem_free(&db->mem, tmp);
    return rc;
}

/* ---------------------------------------------------------------------
 * Open and close
 * ------------------------------------------------------------------- */

static void db_options_defaults(vex_db_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->create_if_missing = 0;
    opts->durability = VEX_DURABILITY_GROUP;
    opts->n_threads = 0;
    opts->memtable_bytes = UINT64_C(64) << 20;
    opts->background_threads = 2;
    opts->max_frozen_memtables = 2;
    opts->write_stall = VEX_STALL_WAIT;
    opts->compact_min_merge = 4;
    opts->compact_max_merge = 16;
    opts->compact_deleted_pct = 30;
    opts->match_cache_bytes = UINT64_C(64) << 20;
    opts->memtable_exact_rows = 256;
    opts->wal_file_bytes = UINT64_C(64) << 20;
    opts->allocator = NULL;
    opts->flush_on_close = 1;
}

void vex_db_options_init_size(vex_db_options *opts, size_t size)
{
    vex_db_options full;
    if (opts == NULL)
        return;
    db_options_defaults(&full);
    vx_abi_init(&VX_ABI_DB_OPTIONS, opts, size, &full);
}

void(vex_db_options_init)(vex_db_options *opts)
{
    vex_db_options_init_size(opts, VX_ABI_DB_OPTIONS.ends[0]);
}

static int check_db_options(vex_db *db, const vex_db_options *o)
{
    vex_err *e = &db->err;
    if (o->create_if_missing != 0 && o->create_if_missing != 1)
        return vx_err_set(e, VEX_INVALID, "create_if_missing is %d, not 0/1",
                          o->create_if_missing);
    if (o->flush_on_close != 0 && o->flush_on_close != 1)
        return vx_err_set(e, VEX_INVALID, "flush_on_close is %d, not 0/1",
                          o->flush_on_close);
    if (o->read_only != 0 && o->read_only != 1)
        return vx_err_set(e, VEX_INVALID, "read_only is %d, not 0/1",
                          o->read_only);
    if (o->manifest_retention > 1000)
        return vx_err_set(e, VEX_INVALID,
                          "manifest_retention is %u, must be 0..1000",
                          o->manifest_retention);
    if (o->read_only && o->create_if_missing)
        return vx_err_set(e, VEX_INVALID,
                          "create_if_missing and read_only exclude each "
                          "other: a read-only open creates nothing");
    if (o->durability != VEX_DURABILITY_GROUP &&
        o->durability != VEX_DURABILITY_FULL &&
        o->durability != VEX_DURABILITY_NONE)
        return vx_err_set(e, VEX_INVALID, "unknown durability %d",
                          (int)o->durability);
    if (o->n_threads > VEX_MAX_THREADS)
        return vx_err_set(e, VEX_INVALID, "n_threads is %u, must be 0..%d",
                          o->n_threads, VEX_MAX_THREADS);
    if (o->memtable_bytes < (UINT64_C(1) << 20) ||
        o->memtable_bytes > (UINT64_C(64) << 30))
        return vx_err_set(e, VEX_INVALID,
                          "memtable_bytes is %llu, must be 1 MiB .. 64 GiB",
                          (unsigned long long)o->memtable_bytes);
    if (o->background_threads < 1 || o->background_threads > 16)
        return vx_err_set(&db->err, VEX_INVALID,
                          "background_threads is %u, must be 1..16",
                          o->background_threads);
    if (o->max_frozen_memtables < 1 || o->max_frozen_memtables > 64)
        return vx_err_set(&db->err, VEX_INVALID,
                          "max_frozen_memtables is %u, must be 1..64",
                          o->max_frozen_memtables);
    if (o->write_stall != VEX_STALL_WAIT && o->write_stall != VEX_STALL_BUSY)
        return vx_err_set(&db->err, VEX_INVALID,
                          "write_stall is %d, must be VEX_STALL_WAIT or "
                          "VEX_STALL_BUSY",
                          (int)o->write_stall);
    if (o->compact_min_merge == 1 || o->compact_min_merge > 64)
        return vx_err_set(&db->err, VEX_INVALID,
                          "compact_min_merge is %u, must be 0 (off) or 2..64",
                          o->compact_min_merge);
    if (o->compact_max_merge < 2 || o->compact_max_merge > 256 ||
        o->compact_max_merge < o->compact_min_merge)
        return vx_err_set(&db->err, VEX_INVALID,
                          "compact_max_merge is %u, must be 2..256 and at "
                          "least compact_min_merge (%u)",
                          o->compact_max_merge, o->compact_min_merge);
    if (o->compact_deleted_pct > 100)
        return vx_err_set(&db->err, VEX_INVALID,
                          "compact_deleted_pct is %u, must be 0..100",
                          o->compact_deleted_pct);
    if (o->match_cache_bytes > (UINT64_C(1) << 40))
        return vx_err_set(&db->err, VEX_INVALID,
                          "match_cache_bytes is %llu, must be 0..2^40",
                          (unsigned long long)o->match_cache_bytes);
    if (o->diskann_cache_bytes > (UINT64_C(1) << 40))
        return vx_err_set(&db->err, VEX_INVALID,
                          "diskann_cache_bytes is %llu, must be 0..2^40",
                          (unsigned long long)o->diskann_cache_bytes);
    if (o->memtable_exact_rows > 1000000)
        return vx_err_set(e, VEX_INVALID,
                          "memtable_exact_rows is %u, must be 0..1000000",
                          o->memtable_exact_rows);
    if (o->wal_file_bytes < (UINT64_C(64) << 10) ||
        o->wal_file_bytes > (UINT64_C(1) << 40))
        return vx_err_set(e, VEX_INVALID,
                          "wal_file_bytes is %llu, must be 64 KiB .. 1 TiB",
                          (unsigned long long)o->wal_file_bytes);
    if (o->allocator &&
        (o->allocator->alloc || o->allocator->realloc || o->allocator->free) &&
        !(o->allocator->alloc && o->allocator->realloc && o->allocator->free))
        return vx_err_set(e, VEX_INVALID,
                          "allocator must set alloc, realloc and free "
                          "together");
    return VEX_OK;
}

/* Whether collection directory `dir` is a leftover of an interrupted
 * create or drop: it holds CREATING or DROPPING, or nothing at all. */
typedef struct marker_probe {
    int n, marked;
} marker_probe;

static int probe_marker(void *arg, const char *name, int kind)
{
    marker_probe *p = arg;
    (void)kind;
    p->n++;
    if (strcmp(name, VX_CREATING) == 0 || strcmp(name, VX_DROPPING) == 0)
        p->marked = 1;
    return 0;
}

int vx_coll_leftover(vex_vfs *vfs, const char *dir, int *leftover, vex_err *err)
{
    marker_probe p = {0, 0};
    int rc = vfs->methods->list(vfs, dir, probe_marker, &p, err);
    *leftover = rc == VEX_OK && (p.marked || p.n == 0);
    return rc;
}

/* Remove a collection directory: everything but the DROPPING marker,
 * then the marker, then the directory, so that a crash half-way leaves a
 * directory that is still marked (or gone). */
typedef struct drop_ctx {
    rm_ctx r;
    int has_marker;
} drop_ctx;

static int db_drop_entry(void *arg, const char *name, int kind)
{
    drop_ctx *d = arg;
    if (strcmp(name, VX_DROPPING) == 0) {
        d->has_marker = 1;
        return 0;
    }
    return rm_entry(&d->r, name, kind);
}

int vx_db_remove_collection_dir(vex_db *db, const char *dir, vex_err *err)
{
    drop_ctx d = {{db->vfs, &db->mem, dir, err}, 0};
    int rc = db->vfs->methods->list(db->vfs, dir, db_drop_entry, &d, err);
    if (rc == VEX_OK && d.has_marker) {
        char *m = vx_path_join(&db->mem, dir, VX_DROPPING);
        if (m == NULL)
            return vx_err_set(err, VEX_NOMEM, "out of memory");
        rc = db->vfs->methods->remove(db->vfs, m, err);
        vx_mem_free(&db->mem, m);
    }
    if (rc == VEX_OK)
        rc = db->vfs->methods->remove(db->vfs, dir, err);
    if (rc == VEX_OK)
        rc = db->vfs->methods->sync_dir(db->vfs, db->coll_dir, err);
    return rc;
}

/* On open: finish interrupted creates and drops. */
typedef struct sweep_ctx {
    vex_db *db;
    int rc;
} sweep_ctx;

static int sweep_entry(void *arg, const char *name, int kind)
{
    sweep_ctx *sc = arg;
    vex_db *db = sc->db;
    char *p;
    int rc, leftover = 0;
    if (kind != VEX_VFS_DIR)
        return 0;
    p = vx_path_join(&db->mem, db->coll_dir, name);
    if (p == NULL)
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    rc = vx_coll_leftover(db->vfs, p, &leftover, &db->err);
    if (rc == VEX_OK && leftover)
        rc = vx_db_remove_collection_dir(db, p, &db->err);
    vx_mem_free(&db->mem, p);
    return rc;
}

/* Make a new directory's entry durable: sync its parent ("." for a
 * relative path without '/'). */
static int sync_parent(vex_db *db, const char *path)
{
    size_t n = strlen(path);
    char *parent;
    int rc;
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0)
        return db->vfs->methods->sync_dir(db->vfs, ".", &db->err);
    parent = vx_mem_alloc(&db->mem, n + 1);
    if (parent == NULL)
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    memcpy(parent, path, n);
    parent[n] = '\0';
    rc = db->vfs->methods->sync_dir(db->vfs, parent, &db->err);
    vx_mem_free(&db->mem, parent);
    return rc;
}

/* The part of opening a database shared by both modes: the pools, the
 * match cache and the job threads. */
static int db_start(vex_db *db, const vex_db_options *o)
{
    unsigned n_threads = o->n_threads ? o->n_threads : vx_cpu_count();
    int rc = vx_pool_create(&db->mem, n_threads, &db->pool);
    if (rc != VEX_OK)
        rc = vx_err_set(&db->err, rc, "cannot start %u worker threads%s",
                        n_threads, rc == VEX_NOMEM ? ": out of memory" : "");
    if (rc == VEX_OK) {
        rc = vx_pool_create_ex(&db->mem, n_threads, 1, &db->bg_pool);
        if (rc != VEX_OK)
            rc =
                vx_err_set(&db->err, rc, "cannot start %u worker threads%s",
                           n_threads, rc == VEX_NOMEM ? ": out of memory" : "");
    }
    atomic_init(&db->dann_budget, o->diskann_cache_bytes);
    if (rc == VEX_OK && vx_mcache_create(&db->mem, (size_t)o->match_cache_bytes,
                                         &db->mcache) != VEX_OK)
        rc = vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    if (rc == VEX_OK) {
        rc = vx_jobs_start(&db->mem, o->background_threads, &db->jobs);
        if (rc != VEX_OK)
            rc =
                vx_err_set(&db->err, rc, "cannot start %u background threads%s",
                           o->background_threads,
                           rc == VEX_NOMEM ? ": out of memory" : "");
    }
    return rc;
}

/* A read-only open: the directory must be a database already (its marker
 * checked, its collections/ present). Nothing is created, locked or
 * removed: the LOCK of a writer is not touched, and the leftovers of an
 * unfinished create or drop are skipped by the catalog (a marked or
 * empty collection directory is not a collection) instead of swept. */
static int db_setup_ro(vex_db *db, const char *path, const char *marker)
{
    int rc, kind;
    rc = db->vfs->methods->exists(db->vfs, path, &kind, &db->err);
    if (rc != VEX_OK)
        return rc;
    if (kind == VEX_VFS_NONE)
        return vx_err_set(&db->err, VEX_NOTFOUND,
                          "%s: no such database (a read-only open creates "
                          "nothing)",
                          path);
    if (kind == VEX_VFS_FILE)
        return vx_err_set(&db->err, VEX_INVALID,
                          "%s is a file, not a database directory", path);
    rc = db->vfs->methods->exists(db->vfs, marker, &kind, &db->err);
    if (rc != VEX_OK)
        return rc;
    if (kind != VEX_VFS_FILE)
        return vx_err_set(&db->err, VEX_NOTFOUND,
                          "%s holds no VexDB database (no %s file; a "
                          "read-only open creates nothing)",
                          path, MARKER_NAME);
    rc = vx_db_marker_check(db->vfs, marker, &db->err);
    if (rc != VEX_OK)
        return rc;
    rc = db->vfs->methods->exists(db->vfs, db->coll_dir, &kind, &db->err);
    if (rc == VEX_OK && kind != VEX_VFS_DIR)
        rc = vx_err_set(&db->err, VEX_CORRUPT,
                        "%s is missing or not a directory", db->coll_dir);
    return rc;
}

static int db_setup(vex_db *db, const char *path, const vex_db_options *o)
{
    char *lock_path = NULL, *marker = NULL;
    int rc, kind;
    list_probe probe = {0};

    db->path = vx_path_join(&db->mem, path, "");
    if (db->path == NULL)
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    db->path[strlen(path)] = '\0'; /* a plain copy */
    db->coll_dir = vx_path_join(&db->mem, path, "collections");
    lock_path = vx_path_join(&db->mem, path, "LOCK");
    marker = vx_path_join(&db->mem, path, MARKER_NAME);
    if (db->coll_dir == NULL || lock_path == NULL || marker == NULL) {
        rc = vx_err_set(&db->err, VEX_NOMEM, "out of memory");
        goto out;
    }
    if (o->read_only) {
        rc = db_setup_ro(db, path, marker);
        if (rc == VEX_OK)
            rc = db_start(db, o);
        goto out;
    }
    rc = db->vfs->methods->exists(db->vfs, path, &kind, &db->err);
    if (rc != VEX_OK)
        goto out;
    if (kind == VEX_VFS_FILE) {
        rc = vx_err_set(&db->err, VEX_INVALID,
                        "%s is a file, not a database directory", path);
        goto out;
    }
    if (kind == VEX_VFS_NONE) {
        if (!o->create_if_missing) {
            rc = vx_err_set(&db->err, VEX_NOTFOUND,
                            "%s: no such database (set create_if_missing "
                            "to create one)",
                            path);
            goto out;
        }
        rc = db->vfs->methods->mkdir(db->vfs, path, &db->err);
        if (rc == VEX_OK)
            rc = sync_parent(db, path);
        if (rc != VEX_OK)
            goto out;
    }
    rc = db->vfs->methods->open(db->vfs, lock_path,
                                VX_FILE_READWRITE | VX_FILE_CREATE, &db->lock,
                                &db->err);
    if (rc != VEX_OK)
        goto out;
    rc = db->vfs->methods->lock(db->lock, &db->err);
    if (rc == VEX_BUSY) {
        rc = vx_err_set(&db->err, VEX_BUSY,
                        "%s is open in another handle or process", path);
        goto out;
    }
    if (rc != VEX_OK)
        goto out;
    rc = db->vfs->methods->exists(db->vfs, marker, &kind, &db->err);
    if (rc != VEX_OK)
        goto out;
    if (kind == VEX_VFS_FILE) {
        rc = vx_db_marker_check(db->vfs, marker, &db->err);
    } else {
        rc = db->vfs->methods->list(db->vfs, path, probe_entry, &probe,
                                    &db->err);
        if (rc == VEX_OK && probe.n_other > 0)
            rc = vx_err_set(&db->err, VEX_INVALID,
                            "%s is not empty and holds no VexDB database "
                            "(no %s file)",
                            path, MARKER_NAME);
        if (rc == VEX_OK)
            rc = marker_create(db, marker);
    }
    if (rc != VEX_OK)
        goto out;
    rc = db->vfs->methods->exists(db->vfs, db->coll_dir, &kind, &db->err);
    if (rc == VEX_OK && kind != VEX_VFS_DIR)
        rc = vx_err_set(&db->err, VEX_CORRUPT,
                        "%s is missing or not a directory", db->coll_dir);
    if (rc == VEX_OK) {
        sweep_ctx sc = {db, VEX_OK};
        rc = db->vfs->methods->list(db->vfs, db->coll_dir, sweep_entry, &sc,
                                    &db->err);
    }
    if (rc == VEX_OK)
        rc = db_start(db, o);
out:
    vx_mem_free(&db->mem, lock_path);
    vx_mem_free(&db->mem, marker);
    return rc;
}

int vx_db_open_vfs(const char *path, const vex_db_options *opts, vex_vfs *vfs,
                   vex_db **out)
{
    vex_db_options full;
    vex_mem mem;
    vex_db *db;
    int rc, sized = 1;

    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    db_options_defaults(&full);
    if (opts != NULL)
        sized = vx_abi_in(&VX_ABI_DB_OPTIONS, opts, &full, NULL) == VEX_OK;
    if (!sized || vx_mem_init(&mem, full.allocator) != VEX_OK)
        vx_mem_init(&mem, NULL);
    db = vx_mem_calloc(&mem, 1, sizeof *db);
    if (db == NULL)
        return VEX_NOMEM;
    db->mem = mem;
    vx_err_init(&db->err);
    pthread_mutex_init(&db->mu, NULL);
    vx_obs_init(&db->obs);
    *out = db;
    if (!sized)
        return vx_abi_check(&VX_ABI_DB_OPTIONS, opts->struct_size, &db->err);
    opts = &full;
    rc = check_db_options(db, opts);
    if (rc != VEX_OK)
        return rc;
    db->opts = *opts;
    if (opts->allocator) {
        db->alloc_copy = *opts->allocator;
        db->opts.allocator = &db->alloc_copy;
    }
    if (path == NULL || path[0] == '\0')
        return vx_err_set(&db->err, VEX_MISUSE, "path is NULL or empty");
    if (vfs == NULL) {
        rc = vx_vfs_posix_create(db->opts.allocator, &db->own_vfs);
        if (rc != VEX_OK)
            return vx_err_set(&db->err, rc, "cannot create the posix vfs%s",
                              rc == VEX_NOMEM ? ": out of memory" : "");
        vfs = db->own_vfs;
    }
    db->vfs = vfs;
    return db_setup(db, path, &db->opts);
}

int vex_db_open(const char *path, const vex_db_options *opts, vex_db **out)
{
    return vx_db_open_vfs(path, opts, NULL, out);
}

int vex_db_close(vex_db *db)
{
    vex_mem mem;
    int rc = VEX_OK;
    if (db == NULL)
        return VEX_OK;
    for (size_t i = 0; i < db->n_open; i++) {
        int rc2 = vx_coll_destroy(db->open[i]);
        if (rc == VEX_OK)
            rc = rc2;
    }
    vx_mem_free(&db->mem, db->open);
    vx_jobs_stop(db->jobs);
    vx_mcache_destroy(db->mcache);
    vx_pool_destroy(db->bg_pool);
    vx_pool_destroy(db->pool);
    if (db->lock)
        db->vfs->methods->close(db->lock, NULL); /* releases the lock */
    if (db->own_vfs)
        db->own_vfs->methods->destroy(db->own_vfs);
    vx_mem_free(&db->mem, db->path);
    vx_mem_free(&db->mem, db->coll_dir);
    pthread_mutex_destroy(&db->mu);
    vx_obs_destroy(&db->obs);
    vx_err_destroy(&db->err);
    mem = db->mem;
    vx_mem_free(&mem, db);
    return rc;
}

const char *vex_db_errmsg(const vex_db *db)
{
    if (db == NULL)
        return "database handle is NULL";
    return db->err.msg;
}

size_t vex_db_errmsg_copy(const vex_db *db, char *buf, size_t size)
{
    if (db == NULL) {
        if (buf && size)
            buf[0] = '\0';
        return 0;
    }
    return vx_err_copy((vex_err *)&db->err, buf, size);
}
