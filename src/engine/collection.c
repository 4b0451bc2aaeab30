/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collection.c - the collection handle: its life (open, references,
 * state, close), snapshots, and the helpers the other collection files
 * share. The handle's structures are in coll_int.h, which also maps the
 * files that implement the rest (write path, batches, installs,
 * recovery, reads, search, filters, stats).
 *
 * Data. A collection is a list of memtables (storage/memtable.h: the
 * active one takes new rows; frozen ones wait for their flush) and a list
 * of immutable segments, each with per-row delete sequence numbers; the
 * lists form a reference-counted version (storage/version.h, protocol
 * V1-V6). The manifest (storage/manifest.c) records the segments, their
 * deleted ids and `flushed_seq`, the last log record whose effects are
 * all in segments; the write-ahead log (storage/wal.c) holds every commit
 * after it.
 *
 * Invariants:
 *  1. A live id has exactly one live row: in a memtable, or in one
 *     segment. An upsert or delete of an id ends its row where it lives
 *     (end_seq in a memtable, a delete sequence in a segment).
 *  2. Every change to the rows is first a log record: replaying the log
 *     from flushed_seq + 1 over the manifest's state gives the state
 *     before the crash (up to the last durable record). Replay is
 *     idempotent over deletes the manifest already holds, so a manifest
 *     may carry deletes newer than its flushed_seq (it always carries all
 *     deletes applied when it was built).
 *  3. Locks, in the order of coll_int.h: bg.flush_mu / bg.compact_mu,
 *     apply.mu (everything that changes rows or the version: the write
 *     leader, freezes, flush and compaction installs), then the leaf
 *     locks wq.mu and ver.mu, each held for a few instructions. Readers
 *     take only ver.mu, to copy a snapshot (V2). Functions that need a
 *     lock assert it (VX_ASSERT_HELD, active in debug builds).
 *  4. A segment file is written and synced before the manifest that names
 *     it is published; log files are dropped only after a publish whose
 *     flushed_seq covers them; under VEX_DURABILITY_NONE the log is synced
 *     before any publish, so a manifest never holds the effect of a write
 *     whose log record could still be lost (state stays a prefix of the
 *     history).
 *  5. Frozen memtables are flushed oldest first, one flush at a time
 *     (bg.flush_mu); one compaction at a time (bg.compact_mu).
 *
 * States (life.state, vx_coll_state; stored under wq.mu, read without a
 * lock):
 *
 *   OPENING --vx_coll_open, after loading and registering--> OPEN
 *   OPENING --a load failure--> freed (vx_coll_destroy)
 *   OPEN    --vx_coll_fail--> ERROR
 *   OPEN, ERROR --vx_coll_destroy--> CLOSING --> freed
 *
 * OPEN takes reads and writes. ERROR ("sticky") takes reads but refuses
 * every write with the status and message that caused it
 * (life.sticky_rc/msg, written once before the state) until the
 * collection is reopened, because the on-disk or in-memory state is
 * uncertain and recovery from the files is the repair. vx_coll_fail is
 * called on: a failed log write or sync, a failure to apply an operation
 * that is already logged, a failure to start a new log file at a freeze,
 * a failure to index a memtable in the background, and a manifest publish
 * whose outcome is unknown (ambiguous). Not sticky, because nothing
 * uncertain is left: a failed flush that published nothing (the frozen
 * memtable stays and the next flush retries; writers waiting for room get
 * its error, apply.flush_rc), and a failed compaction that published
 * nothing (its output file is removed, the inputs stay, and automatic
 * compaction pauses until the next flush, bg.compact_failed). CLOSING
 * sets life.cancel, which background builds poll, and wakes writers
 * waiting for room; vx_jobs_forget then waits for running jobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/jobs.h"
#include "storage/segment.h"
#include "util/abi.h"

/* ---------------------------------------------------------------------
 * References, state, snapshots
 * ------------------------------------------------------------------- */

const char *vx_coll_name(const vex_collection *c)
{
    return c->name;
}

uint64_t vx_coll_at_version(const vex_collection *c)
{
    return c->at_version;
}

void vx_coll_ref(vex_collection *c)
{
    c->refs++;
}
int vx_coll_unref(vex_collection *c)
{
    return --c->refs;
}

/* Move to state `to` (wq.mu held): only the transitions of the header's
 * diagram. */
static void set_state(vex_collection *c, vx_coll_state to)
{
    int from = atomic_load_explicit(&c->life.state, memory_order_relaxed);
    VX_ASSERT_HELD(&c->wq.mu);
    VX_ASSERT((from == VX_COLL_OPENING && to == VX_COLL_OPEN) ||
              (from == VX_COLL_OPEN && to == VX_COLL_ERROR) ||
              ((from == VX_COLL_OPEN || from == VX_COLL_ERROR) &&
               to == VX_COLL_CLOSING));
    (void)from;
    if (to == VX_COLL_CLOSING)
        atomic_store(&c->life.cancel, 1);
    atomic_store_explicit(&c->life.state, (int)to, memory_order_release);
}

int vx_coll_compacts(const vex_collection *c)
{
    return c->db->opts.compact_min_merge || c->db->opts.compact_deleted_pct ||
           c->cfg.dann_min_rows;
}

int vx_coll_nomem(vex_collection *c)
{
    return vx_err_set(&c->err, VEX_NOMEM, "out of memory");
}

void vx_coll_snap_take(vex_collection *c, vx_snap *s)
{
    vx_mutex_lock(&c->ver.mu);
    s->v = c->ver.cur;
    vx_version_ref(s->v);
    s->seq = c->ver.visible_seq;
    s->qs = NULL;
    vx_mutex_unlock(&c->ver.mu);
}

void vx_coll_snap_drop(vx_snap *s)
{
    vx_version_unref(s->v);
    s->v = NULL;
}

/* Publish a new current version (apply.mu held, or recovery); takes over the
 * caller's reference to `v`. */
void vx_coll_install_version(vex_collection *c, version *v)
{
    version *old;
    VX_ASSERT_APPLY(c);
    VX_ASSERT(v != NULL && v->n_mts >= 1);
    vx_mutex_lock(&c->ver.mu);
    old = c->ver.cur;
    c->ver.cur = v;
    vx_mutex_unlock(&c->ver.mu);
    vx_version_unref(old);
}

void vx_coll_fail(vex_collection *c, int rc, const char *what)
{
    char msg[VEX_ERRMSG_MAX];
    int became = 0;
    VX_ASSERT(rc != VEX_OK);
    vx_err_copy(&c->err, msg, sizeof msg);
    vx_mutex_lock(&c->wq.mu);
    if (atomic_load_explicit(&c->life.state, memory_order_relaxed) ==
        VX_COLL_OPEN) {
        became = 1;
        VX_ASSERT(c->life.sticky_rc == VEX_OK);
        c->life.sticky_rc = rc;
        snprintf(c->life.sticky_msg, sizeof c->life.sticky_msg,
                 "%.64s (the collection refuses writes until it is reopened): "
                 "%.380s",
                 what, msg);
        set_state(c, VX_COLL_ERROR);
    }
    vx_mutex_unlock(&c->wq.mu);
    if (became)
        vx_log(&c->db->obs, VEX_LOG_WARNING, c->name, "sticky error (%s): %s",
               vex_status_name(rc), c->life.sticky_msg);
    /* writers waiting for room must not wait for a flush that will not
     * come */
    pthread_cond_broadcast(&c->apply.room_cv);
}

int vx_coll_sticky(const vex_collection *c)
{
    /* sticky_rc is written before the release store of ERROR and never
     * again; CLOSING keeps it */
    int st = atomic_load_explicit(&c->life.state, memory_order_acquire);
    return st == VX_COLL_ERROR || st == VX_COLL_CLOSING ? c->life.sticky_rc
                                                        : VEX_OK;
}

vx_coll_state vx_coll_state_now(const vex_collection *c)
{
    return (vx_coll_state)atomic_load_explicit(&c->life.state,
                                               memory_order_acquire);
}

int vx_coll_usable(const vex_collection *c)
{
    int st;
    if (c == NULL)
        return 0;
    st = atomic_load_explicit(&c->life.state, memory_order_acquire);
    return st == VX_COLL_OPEN || st == VX_COLL_ERROR;
}

/* The collection's index options (kind, element type, metric, dimension,
 * resolved HNSW parameters) for graphs built on the background pool. */
void vx_coll_index_opts(const vex_collection *c, vex_index_options *io)
{
    vx_ix_options_init(io);
    io->kind = (vex_index_kind)c->cfg.index_kind;
    io->elem = (vex_elem)c->cfg.elem;
    io->metric = (vex_metric)c->cfg.metric;
    io->dim = c->cfg.dim;
    io->n_threads = vx_pool_size(c->db->bg_pool);
    io->allocator = c->db->opts.allocator;
    io->hnsw_m = c->cfg.hnsw_m;
    io->hnsw_ef_construction = c->cfg.hnsw_ef_construction;
    io->hnsw_ef_search = c->cfg.hnsw_ef_search;
    io->hnsw_seed = c->cfg.hnsw_seed;
    /* quantization: memtable graphs get it too but stay
     * untrained (full vectors) until their flush trains them */
    io->quant = (vex_quant)c->cfg.quant;
    io->quant_m = c->cfg.quant_m;
    io->quant_bits = c->cfg.quant_bits;
    io->quant_refine = c->cfg.quant_refine;
}

int vx_coll_memtable_new(vex_collection *c, memtable **out)
{
    vex_index_options io;
    vx_coll_index_opts(c, &io);
    return vx_mt_create(
        c->mem, &c->icfg, c->cfg.index_kind == VEX_INDEX_HNSW ? &io : NULL,
        c->cfg.text ? &c->analyzer : NULL, c->db->bg_pool, &c->err, out);
}

/* A version like `v` with memtables/segments replaced (arrays built by
 * the caller). */
int vx_coll_version_from(vex_collection *c, memtable *const *mts,
                         uint32_t n_mts, vseg *const *segs, uint32_t n_segs,
                         version **out)
{
    if (vx_version_new(c->mem, mts, n_mts, segs, n_segs, out) != VEX_OK)
        return vx_coll_nomem(c);
    return VEX_OK;
}

/* ---------------------------------------------------------------------
 * Configuration and messages
 * ------------------------------------------------------------------- */

void vex_collection_get_config_size(const vex_collection *c,
                                    vex_collection_config *user, size_t size)
{
    vex_collection_config full, *out = &full;
    if (user == NULL)
        return;
    vex_collection_config_init_size(user, size);
    if (c == NULL || vx_abi_check(&VX_ABI_COLLECTION_CONFIG, user->struct_size,
                                  NULL) != VEX_OK)
        return;
    vx_collection_config_defaults(out);
    out->dim = c->cfg.dim;
    out->elem = (vex_elem)c->cfg.elem;
    out->metric = (vex_metric)c->cfg.metric;
    out->index_kind = (vex_index_kind)c->cfg.index_kind;
    out->hnsw_m = c->cfg.hnsw_m;
    out->hnsw_ef_construction = c->cfg.hnsw_ef_construction;
    out->hnsw_ef_search = c->cfg.hnsw_ef_search;
    out->hnsw_seed = c->cfg.hnsw_seed;
    out->quant = (vex_quant)c->cfg.quant;
    out->quant_m = c->cfg.quant_m;
    out->quant_bits = c->cfg.quant_bits;
    out->quant_refine = c->cfg.quant_refine;
    out->compression = (vex_compression)c->cfg.compression;
    out->diskann_min_rows = c->cfg.dann_min_rows;
    out->diskann_r = c->cfg.dann_r;
    out->diskann_l = c->cfg.dann_l;
    out->diskann_alpha = c->cfg.dann_alpha;
    out->diskann_pq_m = c->cfg.dann_pq_m;
    out->text = c->cfg.text ? 1u : 0u;
    out->text_stemmer = c->cfg.text_stemmer;
    out->text_stopwords = c->cfg.text_stopwords;
    if (c->schema) {
        out->schema_fields = c->schema_pub;
        out->n_schema_fields = (uint32_t)vx_vm_schema_n_fields(c->schema);
        out->schema_closed = (uint32_t)vx_vm_schema_closed(c->schema);
    }
    vx_abi_out(&VX_ABI_COLLECTION_CONFIG, user, out);
}

void(vex_collection_get_config)(const vex_collection *c,
                                vex_collection_config *out)
{
    vex_collection_get_config_size(c, out, VX_ABI_COLLECTION_CONFIG.ends[0]);
}

const char *vex_collection_errmsg(const vex_collection *c)
{
    return c ? c->err.msg : "collection handle is NULL";
}

size_t vex_collection_errmsg_copy(const vex_collection *c, char *buf,
                                  size_t size)
{
    if (c == NULL) {
        if (buf && size)
            buf[0] = '\0';
        return 0;
    }
    return vx_err_copy((vex_err *)&c->err, buf, size);
}

/* ---------------------------------------------------------------------
 * Open and close (recovery itself is in recovery.c)
 * ------------------------------------------------------------------- */

int vx_coll_writable(vex_collection *c, const char *what)
{
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (VX_COLL_RO(c))
        return vx_err_set(&c->err, VEX_READONLY,
                          "%s on collection \"%s\": the database is open "
                          "read-only (vex_db_options.read_only)",
                          what, c->name);
    return VEX_OK;
}

/* After open (c registered): start the background work recovery left. A
 * read-only handle only indexes its replayed memtable and warms its
 * segments (both in memory): it never flushes or compacts. */
static void coll_kick(vex_collection *c)
{
    if (VX_COLL_RO(c)) {
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_INDEX);
        return;
    }
    vx_mutex_lock(&c->apply.mu);
    if (c->ver.cur->n_mts > 1)
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_FLUSH);
    /* indexing of the replayed memtable, and warming of the segments */
    vx_jobs_schedule(c->db->jobs, c, VX_JOB_INDEX);
    if (vx_coll_compacts(c))
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_COMPACT);
    vx_mutex_unlock(&c->apply.mu);
}

int vx_coll_destroy(vex_collection *c)
{
    int rc = VEX_OK, rc2;
    if (c == NULL)
        return VEX_OK;
    /* a clean close leaves the index on disk (vex_db_options.
     * flush_on_close): the memtables become segments with their graphs,
     * so the next open searches as before. Not for a collection in ERROR
     * (its state is uncertain; recovery from the files is the repair) or
     * one that never opened. A failed flush loses nothing (the rows stay
     * in the log) and is reported by the close. */
    if (c->db->opts.flush_on_close && !c->db->opts.read_only &&
        atomic_load(&c->life.state) == VX_COLL_OPEN)
        rc = vex_flush(c);
    /* stop background work first: jobs poll life.cancel, writers waiting
     * for room wake up */
    vx_mutex_lock(&c->wq.mu);
    if (vx_coll_usable(c))
        set_state(c, VX_COLL_CLOSING);
    else /* a failed open: nothing runs yet, but builds must not start */
        atomic_store(&c->life.cancel, 1);
    vx_mutex_unlock(&c->wq.mu);
    vx_mutex_lock(&c->apply.mu);
    pthread_cond_broadcast(&c->apply.room_cv);
    vx_mutex_unlock(&c->apply.mu);
    vx_jobs_forget(c->db->jobs, c);
    /* a clean close records how far the log reaches (install.c) */
    if (c->w && !c->db->opts.read_only && rc == VEX_OK &&
        atomic_load(&c->life.state) == VX_COLL_CLOSING) {
        rc2 = vx_coll_close_mark(c);
        if (rc == VEX_OK)
            rc = rc2;
    }
    if (c->w) {
        if (c->db->opts.durability == VEX_DURABILITY_NONE &&
            !c->life.sticky_rc) {
            rc2 = vx_wal_sync(c->w, &c->err);
            if (rc == VEX_OK)
                rc = rc2;
        }
        rc2 = vx_wal_close(c->w, &c->err);
        if (rc == VEX_OK)
            rc = rc2;
    }
    vx_version_unref(c->ver.cur);
    vx_coll_keep_free(c);
    vx_idmap_destroy(&c->lead.overlay);
    vx_idmap_destroy(&c->lead.vecmap);
    vx_mem_free(c->mem, c->lead.touched);
    vx_mem_free(c->mem, c->lead.rec);
    vx_mem_free(c->mem, c->apply.vec_align);
    vx_mem_free(c->mem, c->dir);
    vx_mem_free(c->mem, c->wal_dir);
    vx_mem_free(c->mem, c->lead.vecbuf);
    vx_vm_schema_free(c->schema, c->mem);
    vx_mem_free(c->mem, c->schema_blob);
    vx_mem_free(c->mem, c->schema_pub);
    vx_mem_free(c->mem, c->schema_names);
    vx_mutex_destroy(&c->ver.mu);
    vx_mutex_destroy(&c->apply.mu);
    vx_mutex_destroy(&c->bg.flush_mu);
    vx_mutex_destroy(&c->bg.compact_mu);
    pthread_cond_destroy(&c->apply.room_cv);
    vx_mutex_destroy(&c->wq.mu);
    vx_err_destroy(&c->err);
    vx_mem_free(c->mem, c);
    return rc;
}

static int coll_open(vex_db *db, const char *name, uint64_t at,
                     vex_collection **out);

/* db->mu held. */
int vx_coll_open(vex_db *db, const char *name, vex_collection **out)
{
    vex_collection *c = vx_db_find_open(db, name);
    *out = NULL;
    if (c) {
        vx_coll_ref(c);
        *out = c;
        return VEX_OK;
    }
    return coll_open(db, name, 0, out);
}

int vx_coll_open_at(vex_db *db, const char *name, uint64_t at,
                    vex_collection **out)
{
    *out = NULL;
    return coll_open(db, name, at, out);
}

/* A new handle (db->mu held), at a kept version when `at` != 0. */
static int coll_open(vex_db *db, const char *name, uint64_t at,
                     vex_collection **out)
{
    vex_collection *c;
    int rc, kind;
    c = vx_mem_calloc(&db->mem, 1, sizeof *c);
    if (c == NULL)
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    c->db = db;
    c->mem = &db->mem;
    c->refs = 1;
    c->at_version = at;
    vx_err_init(&c->err);
    vx_mutex_init(&c->ver.mu);
    vx_mutex_init(&c->apply.mu);
    vx_mutex_init(&c->bg.flush_mu);
    vx_mutex_init(&c->bg.compact_mu);
    pthread_cond_init(&c->apply.room_cv, NULL);
    vx_mutex_init(&c->wq.mu);
    atomic_init(&c->counts.n_live, 0);
    atomic_init(&c->life.cancel, 0);
    atomic_init(&c->life.state, VX_COLL_OPENING);
    vx_idmap_init(&c->lead.overlay, c->mem);
    vx_idmap_init(&c->lead.vecmap, c->mem);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->dir = vx_path_join(c->mem, db->coll_dir, name);
    c->wal_dir = c->dir ? vx_path_join(c->mem, c->dir, "wal") : NULL;
    if (c->dir == NULL || c->wal_dir == NULL) {
        rc = vx_err_set(&db->err, VEX_NOMEM, "out of memory");
        goto fail;
    }
    rc = db->vfs->methods->exists(db->vfs, c->dir, &kind, &db->err);
    if (rc == VEX_OK && kind == VEX_VFS_DIR) {
        int leftover = 0;
        rc = vx_coll_leftover(db->vfs, c->dir, &leftover, &db->err);
        if (rc == VEX_OK && leftover)
            kind = VEX_VFS_NONE;
    }
    if (rc == VEX_OK && kind != VEX_VFS_DIR)
        rc = vx_err_set(&db->err, VEX_NOTFOUND, "no collection \"%s\"", name);
    if (rc != VEX_OK)
        goto fail;
    rc = vx_coll_load(c);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&c->err, msg, sizeof msg);
        vx_err_set(&db->err, rc, "collection \"%s\": %s", name, msg);
        goto fail;
    }
    rc = vx_db_register(db, c);
    if (rc != VEX_OK)
        goto fail;
    vx_mutex_lock(&c->wq.mu);
    set_state(c, VX_COLL_OPEN);
    vx_mutex_unlock(&c->wq.mu);
    coll_kick(c);
    *out = c;
    return VEX_OK;
fail:
    vx_coll_destroy(c);
    return rc;
}

int vex_collection_close(vex_collection *c)
{
    if (c == NULL)
        return VEX_OK;
    return vx_db_release(c->db, c);
}
