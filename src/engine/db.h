/* SPDX-License-Identifier: Apache-2.0 */
/*
 * db.h - internals shared by the database handle (db.c) and collections
 * (collection.c). Not part of the public API.
 *
 * Directory layout (docs/FORMAT.md, "Database directory"):
 *
 *   <db>/VEXDB                       format marker (magic, version, CRC)
 *   <db>/LOCK                        advisory lock of the open writable
 *                                    handle (a read-only one takes none)
 *   <db>/collections/<name>/         one directory per collection:
 *       CURRENT, MANIFEST-<16 hex>   the manifest (storage/manifest.c)
 *       seg-<16 hex>.vseg            segments (storage/segment.c)
 *       wal/wal-<16 hex>.log         the write-ahead log (storage/wal.c)
 *       CREATING / DROPPING          markers of an unfinished create/drop
 *
 * Creating a collection makes its directory with a CREATING marker
 * (durable before anything else), publishes the first manifest, then
 * removes the marker; dropping first makes a DROPPING marker durable, then
 * removes the files and the marker last. A directory that is marked, or
 * empty, is a leftover: it is not a collection, and vex_db_open (or a
 * create of the same name) removes it. No directory is ever renamed.
 */
#ifndef VEX_ENGINE_DB_H
#define VEX_ENGINE_DB_H

#include <pthread.h>
#include <stdatomic.h>

#include "io/vfs.h"
#include "engine/obs.h"
#include "storage/mcache.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"
#include "vexdb.h"

struct vex_db {
    vex_mem mem;
    vex_err err;
    vex_allocator alloc_copy;
    vex_db_options opts;
    vex_vfs *vfs;         /* the one in use */
    vex_vfs *own_vfs;     /* created by us (posix), or NULL when injected */
    char *path;           /* the database directory */
    char *coll_dir;       /* <path>/collections */
    vex_file *lock;       /* LOCK, held while open */
    vex_pool *pool;       /* parallel loops of searches (fan-out, batch) */
    vex_pool *bg_pool;    /* parallel loops of background graph builds, at
                             background priority */
    struct vx_jobs *jobs; /* background threads (engine/jobs.h) */
    pthread_mutex_t mu;   /* guards the open-collections list */
    vex_collection **open;
    size_t n_open, cap_open;
    vx_mcache *mcache; /* filter match sets (storage/mcache.h) */
    /* what is left of opts.diskann_cache_bytes for DiskANN node caches
     * (storage/version.h, vx_vseg_dann) */
    _Atomic uint64_t dann_budget;
    vx_obs obs; /* log hook and health record (engine/obs.h) */
};

/* Collection entry points used by db.c (collection.c). */
int vx_coll_open(vex_db *db, const char *name, vex_collection **out);
/* Free a collection handle unconditionally, syncing its log first;
 * returns the sync/close status. */
int vx_coll_destroy(vex_collection *c);
const char *vx_coll_name(const vex_collection *c);
/* The kept version a read-only handle is pinned at, or 0 (such handles
 * are never returned by a plain open of the name). */
uint64_t vx_coll_at_version(const vex_collection *c);
/* Open a read-only handle at a kept version (db->mu held). */
int vx_coll_open_at(vex_db *db, const char *name, uint64_t at,
                    vex_collection **out);
void vx_coll_ref(vex_collection *c);
/* Drop one reference; returns the new count. */
int vx_coll_unref(vex_collection *c);

/* Registry (db.c; the caller holds db->mu where noted). */
int vx_db_register(vex_db *db, vex_collection *c);             /* mu held */
vex_collection *vx_db_find_open(vex_db *db, const char *name); /* mu held */
/* Drop one reference; the last one unregisters and destroys (takes mu). */
int vx_db_release(vex_db *db, vex_collection *c);

/* Check the format marker file `path` (<db>/VEXDB): size, magic, CRC and
 * version. VEX_CORRUPT / VEX_UNSUPPORTED naming the offset, I/O statuses
 * (VEX_NOTFOUND when it is missing). Reads only. */
int vx_db_marker_check(vex_vfs *vfs, const char *path, vex_err *err);

/* vex_db_verify through `vfs` (verify.c; vex_backup checks its copy
 * with the database's vfs). */
int vx_db_verify_vfs(vex_vfs *vfs, const char *path,
                     const vex_verify_options *opts, vex_verify_report *report);

/* vex_dump_file through `vfs` (dump.c; the fuzz target uses the
 * in-memory vfs). */
int vx_dump_vfs(vex_vfs *vfs, const char *path, const vex_dump_options *opts,
                int (*fn)(void *ctx, const char *line), void *ctx);

#define VX_CREATING "CREATING"
#define VX_DROPPING "DROPPING"

/* *leftover = whether collection directory `dir` is the leftover of an
 * unfinished create or drop (marked, or empty). */
int vx_coll_leftover(vex_vfs *vfs, const char *dir, int *leftover,
                     vex_err *err);

/* Remove a collection directory `dir` (its files, then itself) with the
 * DROPPING marker rules of the header (db.c). */
int vx_db_remove_collection_dir(vex_db *db, const char *dir, vex_err *err);

/* Whether `name` is a valid collection name; on 0 `why` says why. */
int vx_name_ok(const char *name, char *why, size_t why_size);

/* Fill a whole vex_collection_config with its defaults (the init
 * functions write only the caller's part of it; util/abi.h). */
void vx_collection_config_defaults(vex_collection_config *cfg);

/* "<a>/<b>" in freshly allocated memory, or NULL. */
char *vx_path_join(const vex_mem *m, const char *a, const char *b);

/* Remove a directory tree through the vfs (files and subdirectories). */
int vx_rmtree(vex_vfs *vfs, const vex_mem *m, const char *path, vex_err *err);

/* Open with an injected vfs (tests: fault injection, crash simulation). The
 * vfs is borrowed and must outlive the handle. */
int vx_db_open_vfs(const char *path, const vex_db_options *opts, vex_vfs *vfs,
                   vex_db **out);

#endif
