/* SPDX-License-Identifier: Apache-2.0 */
/*
 * install.c - how a collection's versions change outside the write path:
 * freezing a full memtable and making room for writers (flow control),
 * flushing the oldest frozen memtable into a segment, compacting
 * segments, publishing the manifest that describes a new version and
 * installing that version for readers, and the background jobs that run
 * flushes, memtable indexing and compactions (engine/jobs.c calls
 * vx_coll_run_job).
 *
 * Flow control. When the active memtable reaches memtable_bytes it is
 * frozen (a new log file starts, so its records can be dropped after its
 * flush) and a flush is scheduled. When max_frozen_memtables are waiting,
 * the next write waits for a flush, or fails with VEX_BUSY
 * (VEX_STALL_BUSY).
 *
 * Installs follow invariants 3-5 of collection.c: a build runs without
 * apply.mu on a snapshot of its inputs; apply.mu is taken again to carry
 * over rows ended since the build's sequence number (V3, V4), publish the
 * manifest and install the version; the replaced inputs become obsolete
 * and their files go with the last snapshot that uses them (V5).
 *
 * Observability (engine/obs.h): a flush or compaction logs its start and
 * finish (rows, bytes, time) at info level and records its histogram and
 * counters; a failure is counted and logged once (job_failed: at error
 * level, and for a background job into vex_db_health), after apply.mu is
 * released; a best-effort step that fails (removing a replaced manifest,
 * flushed log files) is a warning (best_effort_failed). Stalls are timed
 * around need_room.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/coll_int.h"
#include "engine/jobs.h"
#include "meta/column.h"
#include "storage/compact.h"
#include "storage/segment.h"

int vx_coll_active_full(const vex_collection *c)
{
    const memtable *a = version_active(c->ver.cur);
    return mt_rows(a) * c->vec_bytes +
               atomic_load_explicit(&((memtable *)a)->meta_bytes,
                                    memory_order_relaxed) +
               atomic_load_explicit(&((memtable *)a)->pay_bytes,
                                    memory_order_relaxed) +
               atomic_load_explicit(&((memtable *)a)->txt_bytes,
                                    memory_order_relaxed) >=
           c->db->opts.memtable_bytes;
}

/* The last write a frozen memtable (or the manifest) covers. */
static uint64_t covered_seq(const vex_collection *c)
{
    const version *v = c->ver.cur;
    return v->n_mts > 1 ? v->mts[v->n_mts - 2]->freeze_seq
                        : c->apply.flushed_seq;
}

/* Freeze the active memtable: a new empty one takes the writes, a new log
 * file starts (so the frozen one's records can go after its flush), and a
 * flush is scheduled. apply.mu held. */
int vx_coll_freeze(vex_collection *c)
{
    version *v = c->ver.cur, *nv = NULL;
    memtable *fresh = NULL, *old = version_active(v);
    memtable **mts;
    int rc;
    VX_ASSERT_APPLY(c);
    rc = vx_coll_memtable_new(c, &fresh);
    if (rc != VEX_OK)
        return rc;
    mts = vx_mem_alloc(c->mem, (v->n_mts + 1) * sizeof *mts);
    if (mts == NULL) {
        vx_mt_unref(fresh);
        return vx_coll_nomem(c);
    }
    memcpy(mts, v->mts, v->n_mts * sizeof *mts);
    mts[v->n_mts] = fresh;
    rc = vx_coll_version_from(c, mts, v->n_mts + 1, v->segs, v->n_segs, &nv);
    vx_mem_free(c->mem, mts);
    vx_mt_unref(fresh);
    if (rc != VEX_OK)
        return rc;
    old->freeze_seq = c->apply.last_seq;
    atomic_store(&old->frozen, 1);
    vx_coll_install_version(c, nv);
    if (c->w) {
        rc = vx_wal_new_file(c->w, &c->err);
        if (rc != VEX_OK) {
            vx_coll_fail(c, rc, "starting a new log file failed");
            return rc;
        }
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_FLUSH);
    }
    return VEX_OK;
}

/* Before a group: make room in the active memtable (apply.mu held; may
 * wait on room_cv, which releases it). */
static int need_room(vex_collection *c)
{
    int counted = 0;
    uint64_t fails;
    VX_ASSERT_HELD(&c->apply.mu);
    for (;;) {
        int rc;
        if (!vx_coll_active_full(c))
            return VEX_OK;
        if (c->ver.cur->n_mts - 1 < c->db->opts.max_frozen_memtables)
            return vx_coll_freeze(c);
        if (!counted) {
            atomic_fetch_add(&c->counts.n_stalls, 1);
            counted = 1;
        }
        if (c->db->opts.write_stall == VEX_STALL_BUSY)
            return vx_err_set(&c->err, VEX_BUSY,
                              "%u frozen memtables are waiting for their "
                              "flush (max_frozen_memtables); retry later",
                              c->ver.cur->n_mts - 1);
        if ((rc = vx_coll_sticky(c)) != VEX_OK)
            return vx_err_set(&c->err, rc, "%s", c->life.sticky_msg);
        if (atomic_load(&c->life.cancel))
            return vx_err_set(&c->err, VEX_MISUSE, "the collection is closing");
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_FLUSH);
        fails = c->apply.flush_fails;
        vx_cond_wait(&c->apply.room_cv, &c->apply.mu);
        if (c->apply.flush_fails != fails)
            return vx_err_set(&c->err, c->apply.flush_rc,
                              "waiting for room in the memtables: a flush "
                              "failed: %s",
                              c->apply.flush_msg);
    }
}

int vx_coll_need_room(vex_collection *c)
{
    uint64_t stalls = atomic_load(&c->counts.n_stalls), t0 = vx_now_ns();
    int rc = need_room(c);
    if (atomic_load(&c->counts.n_stalls) != stalls) {
        /* a stall (counted once per write by need_room) */
        uint64_t ns = vx_now_ns() - t0;
        vx_hist_add(&c->met.h[VX_H_STALL], ns, VX_UNIT_TIME);
        vx_log(&c->db->obs, VEX_LOG_WARNING, c->name,
               "a write stalled %.3f ms (%s): frozen memtables wait for "
               "their flush",
               (double)ns / 1e6, rc == VEX_OK ? "resumed" : vex_errstr(rc));
    }
    return rc;
}

/* A flush or compaction failed with rc (the message in c->err): counted,
 * and logged once, at error level; a background job's failure also goes
 * into the health record. Called without apply.mu. */
static void job_failed(vex_collection *c, int bg, const char *what, int rc,
                       const char *msg, int counter)
{
    vx_count(&c->met, counter, 1);
    if (bg) {
        vx_count(&c->met, VX_C_BG_ERRORS, 1);
        vx_obs_bg_error(&c->db->obs, c->name, rc, what, msg);
    } else {
        vx_log(&c->db->obs, VEX_LOG_ERROR, c->name, "%s failed (%s): %s", what,
               vex_status_name(rc), msg);
    }
}

/* A best-effort step failed (the next open repairs what it leaves):
 * logged once as a warning. */
static void best_effort_failed(vex_collection *c, const char *what,
                               const vex_err *e)
{
    char msg[VEX_ERRMSG_MAX];
    vx_err_copy((vex_err *)e, msg, sizeof msg);
    vx_log(&c->db->obs, VEX_LOG_WARNING, c->name,
           "%s failed (left for the next open to remove): %s", what, msg);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The manifest describing version `v` with `flushed_seq`. Arrays are
 * allocated; free with vx_manifest_free. apply.mu held (delete arrays are
 * stable under it). */
static int build_manifest(vex_collection *c, const version *v, uint64_t number,
                          uint64_t flushed_seq, manifest *m)
{
    VX_ASSERT_HELD(&c->apply.mu);
    memset(m, 0, sizeof *m);
    m->number = number;
    m->config = c->cfg;
    m->next_file = c->apply.next_file;
    m->flushed_seq = flushed_seq;
    /* the point in time it describes (format 3): every delete applied up
     * to last_seq is in its lists (apply.mu held) */
    m->as_of_seq = c->apply.last_seq;
    m->publish_unix = (uint64_t)time(NULL);
    m->segs = vx_mem_calloc(c->mem, v->n_segs ? v->n_segs : 1, sizeof *m->segs);
    if (m->segs == NULL)
        return vx_coll_nomem(c);
    if (c->schema_len) {
        m->schema = vx_mem_alloc(c->mem, c->schema_len);
        if (m->schema == NULL) {
            vx_manifest_free(m, c->mem);
            return vx_coll_nomem(c);
        }
        memcpy(m->schema, c->schema_blob, c->schema_len);
        m->schema_len = c->schema_len;
    }
    m->n_segments = v->n_segs;
    for (uint32_t i = 0; i < v->n_segs; i++) {
        const vseg *r = v->segs[i];
        man_segment *ms = &m->segs[i];
        uint64_t nd = atomic_load(&((vseg *)r)->n_deleted);
        ms->number = r->info.number;
        ms->n_rows = r->info.n_rows;
        ms->file_size = r->info.file_size;
        ms->min_seq = r->info.min_seq;
        ms->max_seq = r->info.max_seq;
        ms->n_deleted = nd;
        if (nd) {
            uint64_t k = 0;
            ms->deleted = vx_mem_alloc(c->mem, nd * sizeof(uint64_t));
            if (ms->deleted == NULL) {
                vx_manifest_free(m, c->mem);
                return vx_coll_nomem(c);
            }
            for (uint64_t key = 0; key < r->info.n_keys && k < nd; key++)
                if (vseg_del_seq(r, key))
                    ms->deleted[k++] = vx_seg_key_id(r->s, key);
            qsort(ms->deleted, k, sizeof(uint64_t), cmp_u64);
        }
    }
    return VEX_OK;
}

/* Remove manifest (is_seg = 0) or segment file `number`, best effort: a
 * failure only leaves a file the next open removes. */
static void remove_file(vex_collection *c, uint64_t number, int is_seg)
{
    char name[64];
    char *p;
    vex_err e;
    if (is_seg)
        vx_seg_file_name(name, sizeof name, number);
    else
        vx_manifest_file_name(name, sizeof name, number);
    p = vx_path_join(c->mem, c->dir, name);
    vx_err_init(&e);
    if (p && c->db->vfs->methods->remove(c->db->vfs, p, &e) != VEX_OK)
        best_effort_failed(c, "removing a replaced file", &e);
    vx_err_destroy(&e);
    vx_mem_free(c->mem, p);
}

/* Publish `v` as the new manifest (apply.mu held). On VEX_OK the old
 * manifest file is removed and c->apply.manifest_no moves; an ambiguous failure
 * makes the handle vx_coll_sticky. */
static int publish(vex_collection *c, const version *v, uint64_t flushed_seq)
{
    manifest m;
    uint64_t old = c->apply.manifest_no, number;
    int rc, ambiguous = 0;
    VX_ASSERT_HELD(&c->apply.mu);
    VX_ASSERT(flushed_seq <= c->apply.last_seq);
    if (c->w && c->db->opts.durability == VEX_DURABILITY_NONE) {
        /* invariant 4: nothing in the manifest may outlive its log */
        rc = vx_wal_sync(c->w, &c->err);
        if (rc != VEX_OK) {
            vx_coll_fail(c, rc, "syncing the log failed");
            return rc;
        }
    }
    number = c->apply.next_file++;
    rc = build_manifest(c, v, number, flushed_seq, &m);
    if (rc != VEX_OK)
        return rc;
    rc = vx_manifest_publish(c->db->vfs, c->dir, &m, c->mem, &c->err,
                             &ambiguous);
    vx_manifest_free(&m, c->mem);
    if (rc != VEX_OK) {
        if (ambiguous)
            vx_coll_fail(c, rc, "publishing the manifest failed");
        return rc;
    }
    c->apply.manifest_no = number;
    c->apply.published_as_of = c->apply.last_seq;
    if (c->db->opts.manifest_retention >= 2) {
        /* kept for point-in-time reads; the oldest may leave */
        vx_coll_keep_push(c, old, c->apply.flushed_seq, c->ver.cur, v);
    } else {
        /* the old manifest; a failure only leaves a file the next open
         * removes */
        remove_file(c, old, 0);
    }
    return VEX_OK;
}

/* A clean close's mark: when records were logged since the current
 * manifest was published, sync the log and publish the same version again
 * with as_of_seq = last_seq. The next open then knows how far the log must
 * reach, so a newest log file that is missing or cut short (or a damaged
 * record that a torn tail would otherwise explain) is VEX_CORRUPT instead
 * of silently lost commits. Called by the close when nothing else runs. */
int vx_coll_close_mark(vex_collection *c)
{
    int rc = VEX_OK;
    vx_mutex_lock(&c->apply.mu);
    if (c->w && !c->life.sticky_rc &&
        c->apply.last_seq > c->apply.published_as_of) {
        rc = vx_wal_sync(c->w, &c->err);
        if (rc != VEX_OK)
            vx_coll_fail(c, rc, "syncing the log failed");
        else
            rc = publish(c, c->ver.cur, atomic_load(&c->apply.flushed_seq));
    }
    vx_mutex_unlock(&c->apply.mu);
    return rc;
}

/* ---------------------------------------------------------------------
 * Versions kept for point-in-time reads (manifest_retention >= 2)
 * ------------------------------------------------------------------- */

static int has_seg(const uint64_t *segs, uint32_t n, uint64_t number)
{
    for (uint32_t i = 0; i < n; i++)
        if (segs[i] == number)
            return 1;
    return 0;
}

void vx_coll_keep_free(vex_collection *c)
{
    for (uint32_t i = 0; i < c->keep.n; i++)
        vx_mem_free(c->mem, c->keep.v[i].segs);
    vx_mem_free(c->mem, c->keep.v);
    c->keep.v = NULL;
    c->keep.n = c->keep.cap = 0;
}

uint64_t vx_coll_keep_min_flushed(const vex_collection *c)
{
    uint64_t m = UINT64_MAX;
    for (uint32_t i = 0; i < c->keep.n; i++)
        if (c->keep.v[i].flushed_seq < m)
            m = c->keep.v[i].flushed_seq;
    return m;
}

void vx_coll_keep_push(vex_collection *c, uint64_t old_number,
                       uint64_t old_flushed, const version *old_v,
                       const version *nv)
{
    uint32_t max = c->db->opts.manifest_retention - 1;
    vx_kept k;
    VX_ASSERT_HELD(&c->apply.mu);
    memset(&k, 0, sizeof k);
    k.number = old_number;
    k.flushed_seq = old_flushed;
    k.segs = vx_mem_calloc(c->mem, old_v->n_segs ? old_v->n_segs : 1, 8);
    if (c->keep.v == NULL) {
        c->keep.v = vx_mem_calloc(c->mem, max + 1, sizeof *c->keep.v);
        c->keep.cap = c->keep.v ? max + 1 : 0;
    }
    if (k.segs == NULL || c->keep.v == NULL) {
        /* out of memory: the old version is not kept (its manifest file
         * goes; its segments stay until the next open's orphan sweep) */
        vx_mem_free(c->mem, k.segs);
        remove_file(c, old_number, 0);
        return;
    }
    for (uint32_t i = 0; i < old_v->n_segs; i++)
        k.segs[i] = old_v->segs[i]->info.number;
    k.n_segs = old_v->n_segs;
    c->keep.v[c->keep.n++] = k;
    while (c->keep.n > max) {
        /* the oldest leaves the window: its manifest, and each of its
         * segments that no newer kept version and not the new current one
         * names (a snapshot still reading one keeps its mapping) */
        vx_kept *o = &c->keep.v[0];
        remove_file(c, o->number, 0);
        for (uint32_t i = 0; i < o->n_segs; i++) {
            int used = 0;
            for (uint32_t j = 1; j < c->keep.n && !used; j++)
                used =
                    has_seg(c->keep.v[j].segs, c->keep.v[j].n_segs, o->segs[i]);
            for (uint32_t j = 0; j < nv->n_segs && !used; j++)
                used = nv->segs[j]->info.number == o->segs[i];
            if (!used)
                remove_file(c, o->segs[i], 1);
        }
        vx_mem_free(c->mem, o->segs);
        memmove(c->keep.v, c->keep.v + 1, (c->keep.n - 1) * sizeof *c->keep.v);
        c->keep.n--;
    }
}

/* ---------------------------------------------------------------------
 * Flush: the oldest frozen memtable becomes a segment (V3)
 * ------------------------------------------------------------------- */

/* How this collection builds segments (storage/compact.h). */
static void builder_of(vex_collection *c, seg_builder *b)
{
    memset(b, 0, sizeof *b);
    b->vfs = c->db->vfs;
    b->dir = c->dir;
    b->mem = c->mem;
    b->pool = c->db->bg_pool;
    b->mcache = c->db->mcache;
    b->dann_budget = &c->db->dann_budget;
    vx_coll_index_opts(c, &b->iopts);
    b->dann_min_rows = c->cfg.dann_min_rows;
    vx_dann_params_init(&b->dann);
    b->dann.metric = (vex_metric)c->cfg.metric;
    b->dann.R = c->cfg.dann_r;
    b->dann.L = c->cfg.dann_l;
    b->dann.alpha = c->cfg.dann_alpha;
    b->dann.pq_m = c->cfg.dann_pq_m;
    b->dann.seed = c->cfg.hnsw_seed ? c->cfg.hnsw_seed : 1;
    b->vec_bytes = c->vec_bytes;
    /* compressed metadata only when the collection asked for it (opening
     * refuses such a collection in a build without zstd) */
    b->meta_flags = c->cfg.compression == VEX_COMPRESS_ZSTD ? VM_BUILD_ZSTD : 0;
    b->text = c->cfg.text ? &c->analyzer : NULL;
    b->cancel = &c->life.cancel;
    b->err = &c->err;
}

/* A build is over: vex_stats reports no flush or compaction running. */
static void progress_end(_Atomic uint64_t *done, _Atomic uint64_t *total)
{
    atomic_store_explicit(total, 0, memory_order_relaxed);
    atomic_store_explicit(done, 0, memory_order_relaxed);
}

/* Flush the oldest frozen memtable (bg.flush_mu held); `bg`: for a
 * background job (else vex_flush). *did = 0 when there was none. */
static int flush_one(vex_collection *c, int bg, int *did)
{
    seg_builder b;
    int cancelled = 0, failed = 0;
    memtable *m;
    vseg *out = NULL;
    version *v, *nv = NULL;
    uint64_t s, number, t0, rows = 0, bytes = 0, seg_no = 0;
    char msg[VEX_ERRMSG_MAX];
    int rc;

    *did = 0;
    VX_ASSERT_HELD(&c->bg.flush_mu);
    vx_mutex_lock(&c->apply.mu);
    v = c->ver.cur;
    if (v->n_mts < 2) {
        vx_mutex_unlock(&c->apply.mu);
        return VEX_OK;
    }
    if ((rc = vx_coll_sticky(c)) != VEX_OK) {
        vx_mutex_unlock(&c->apply.mu);
        return vx_err_set(&c->err, rc, "%s", c->life.sticky_msg);
    }
    m = v->mts[0];
    vx_mt_ref(m);
    s = c->apply.last_seq;
    number = c->apply.next_file++;
    vx_mutex_unlock(&c->apply.mu);

    t0 = vx_now_ns();
    vx_log(&c->db->obs, VEX_LOG_INFO, c->name,
           "flush started%s: memtable of %" PRIu64 " rows, %" PRIu64 " bytes",
           bg ? "" : " (vex_flush)", mt_rows(m), vx_mt_memory(m));
    builder_of(c, &b);
    b.done = &c->bg.flush_done;
    b.total = &c->bg.flush_total;
    rc = vx_compact_flush_build(&b, m, s, number, &out, &cancelled);
    progress_end(&c->bg.flush_done, &c->bg.flush_total);
    if (rc == VEX_OK && cancelled) {
        /* the collection closes: the frozen memtable stays in the log */
        vx_mt_unref(m);
        return VEX_OK;
    }

    vx_mutex_lock(&c->apply.mu);
    v = c->ver.cur;
    if (rc == VEX_OK && out) {
        /* V3: rows ended since s are deleted in the segment with their
         * sequence numbers */
        const uint64_t *rk = vx_seg_row_keys(out->s);
        for (uint64_t i = 0; i < out->info.n_rows && rc == VEX_OK; i++) {
            uint64_t e = mt_row_end(m, rk[i]);
            if (e != 0 && vx_vseg_delete(out, rk[i], e) != VEX_OK)
                rc = vx_coll_nomem(c);
        }
    }
    if (rc == VEX_OK) {
        vseg **segs = vx_mem_alloc(c->mem, (v->n_segs + 1) * sizeof *segs);
        if (segs == NULL) {
            rc = vx_coll_nomem(c);
        } else {
            memcpy(segs, v->segs, v->n_segs * sizeof *segs);
            if (out)
                segs[v->n_segs] = out;
            rc = vx_coll_version_from(c, v->mts + 1, v->n_mts - 1, segs,
                                      v->n_segs + (out ? 1 : 0), &nv);
            vx_mem_free(c->mem, segs);
        }
    }
    if (rc == VEX_OK) {
        rc = publish(c, nv, m->freeze_seq);
        if (rc == VEX_OK) {
            vx_coll_install_version(c, nv);
            nv = NULL;
            c->apply.flushed_seq = m->freeze_seq;
            c->bg.compact_failed = 0;
            c->apply.flush_rc = VEX_OK;
        }
    }
    if (rc != VEX_OK) {
        /* an ambiguous publish made the handle vx_coll_sticky already: then the
         * file may be named by CURRENT and must stay */
        int keep = vx_coll_sticky(c) != VEX_OK;
        if (out && !keep)
            atomic_store(&out->obsolete, 1);
        if (!keep) {
            /* not vx_coll_sticky: the frozen memtable stays and the next flush
             * tries again; writers waiting for room get the error */
            c->apply.flush_fails++;
            c->apply.flush_rc = rc;
            vx_err_copy(&c->err, c->apply.flush_msg, sizeof c->apply.flush_msg);
        }
        failed = 1;
        vx_err_copy(&c->err, msg, sizeof msg);
    } else if (out) {
        rows = out->info.n_rows;
        bytes = out->info.file_size;
        seg_no = out->info.number;
    }
    vx_mutex_unlock(&c->apply.mu);
    if (failed) {
        atomic_store(&c->met.flush_failing, 1);
        job_failed(c, bg, "flush", rc, msg, VX_C_FLUSH_ERRORS);
    }
    vx_version_unref(nv);
    vx_vseg_unref(out); /* the version holds it when published */
    if (rc == VEX_OK) {
        if (c->w) {
            /* the log after the oldest kept version's flush stays */
            uint64_t keep_from;
            vx_mutex_lock(&c->apply.mu);
            keep_from = vx_coll_keep_min_flushed(c);
            vx_mutex_unlock(&c->apply.mu);
            if (keep_from > m->freeze_seq)
                keep_from = m->freeze_seq;
            vex_err e;
            vx_err_init(&e);
            if (vx_wal_drop_before(c->w, keep_from + 1, &e) != VEX_OK)
                best_effort_failed(c, "removing flushed log files", &e);
            vx_err_destroy(&e);
        }
        atomic_fetch_add(&c->counts.n_flushes, 1);
        vx_hist_time(&c->met, VX_H_FLUSH, t0);
        vx_count(&c->met, VX_C_FLUSH_ROWS, rows);
        vx_count(&c->met, VX_C_FLUSH_BYTES, bytes);
        if (atomic_exchange(&c->met.flush_failing, 0))
            vx_log(&c->db->obs, VEX_LOG_INFO, c->name, "flush retry succeeded");
        vx_obs_bg_ok(&c->db->obs);
        vx_log(&c->db->obs, VEX_LOG_INFO, c->name,
               "flush finished: segment %" PRIu64 ", %" PRIu64 " rows, %" PRIu64
               " bytes, %.3f ms",
               seg_no, rows, bytes, (double)(vx_now_ns() - t0) / 1e6);
        *did = 1;
    }
    vx_mt_unref(m);
    pthread_cond_broadcast(&c->apply.room_cv);
    return rc;
}

/* ---------------------------------------------------------------------
 * Compaction (V4; the policy is documented with vex_db_options)
 * ------------------------------------------------------------------- */

/* One compaction (bg.compact_mu held). *did = 0 when the policy found
 * nothing to do (or the collection is closing). */
static int compact_once(vex_collection *c, int all, int *did)
{
    seg_builder b;
    compact_policy policy;
    version *v, *nv = NULL;
    vseg **in = NULL, *out = NULL, **segs = NULL;
    uint32_t *pick = NULL, n_in, k = 0;
    uint64_t s, number, t0, bytes_in = 0, bytes_out = 0, rows_out = 0;
    int rc, cancelled = 0, bg = !all;
    char msg[VEX_ERRMSG_MAX];

    *did = 0;
    VX_ASSERT_HELD(&c->bg.compact_mu);
    vx_mutex_lock(&c->apply.mu);
    v = c->ver.cur;
    pick = vx_mem_alloc(c->mem, (v->n_segs ? v->n_segs : 1) * sizeof *pick);
    in = vx_mem_alloc(c->mem, (v->n_segs ? v->n_segs : 1) * sizeof *in);
    if (pick == NULL || in == NULL) {
        vx_mutex_unlock(&c->apply.mu);
        vx_mem_free(c->mem, pick);
        vx_mem_free(c->mem, in);
        rc = vx_coll_nomem(c);
        vx_err_copy(&c->err, msg, sizeof msg);
        job_failed(c, bg, "compaction", rc, msg, VX_C_COMPACT_ERRORS);
        return rc;
    }
    policy.min_merge = c->db->opts.compact_min_merge;
    policy.max_merge = c->db->opts.compact_max_merge;
    policy.deleted_pct = c->db->opts.compact_deleted_pct;
    policy.dann_min_rows = c->cfg.dann_min_rows;
    n_in = vx_compact_pick(v, &policy, all, pick);
    if (n_in == 0 || (rc = vx_coll_sticky(c)) != VEX_OK) {
        vx_mutex_unlock(&c->apply.mu);
        vx_mem_free(c->mem, pick);
        vx_mem_free(c->mem, in);
        return n_in == 0 ? VEX_OK
                         : vx_err_set(&c->err, rc, "%s", c->life.sticky_msg);
    }
    for (uint32_t i = 0; i < n_in; i++) {
        in[i] = v->segs[pick[i]];
        vx_vseg_ref(in[i]);
        bytes_in += in[i]->info.file_size;
    }
    s = c->apply.last_seq;
    number = c->apply.next_file++;
    vx_mutex_unlock(&c->apply.mu);

    t0 = vx_now_ns();
    vx_log(&c->db->obs, VEX_LOG_INFO, c->name,
           "compaction started%s: %u segments, %" PRIu64 " bytes",
           bg ? "" : " (vex_compact)", n_in, bytes_in);

    builder_of(c, &b);
    b.done = &c->bg.compact_done;
    b.total = &c->bg.compact_total;
    rc = vx_compact_build(&b, in, n_in, s, number, &out, &cancelled);
    progress_end(&c->bg.compact_done, &c->bg.compact_total);

    vx_mutex_lock(&c->apply.mu);
    v = c->ver.cur;
    if (rc == VEX_OK && !cancelled && out) {
        /* V4: deletes since s move to the output */
        for (uint32_t i = 0; i < n_in && rc == VEX_OK; i++)
            for (uint64_t key = 0; key < in[i]->info.n_keys && rc == VEX_OK;
                 key++) {
                uint64_t d = vseg_del_seq(in[i], key), k2;
                if (d > s &&
                    vx_seg_find(out->s, vx_seg_key_id(in[i]->s, key), &k2) &&
                    vx_vseg_delete(out, k2, d) != VEX_OK)
                    rc = vx_coll_nomem(c);
            }
    }
    if (rc == VEX_OK && !cancelled) {
        segs = vx_mem_alloc(c->mem, (v->n_segs + 1) * sizeof *segs);
        if (segs == NULL)
            rc = vx_coll_nomem(c);
    }
    if (rc == VEX_OK && !cancelled) {
        int placed = 0;
        for (uint32_t i = 0; i < v->n_segs; i++) {
            int is_in = 0;
            for (uint32_t j = 0; j < n_in; j++)
                is_in |= v->segs[i] == in[j];
            if (!is_in)
                segs[k++] = v->segs[i];
            else if (!placed && out) {
                segs[k++] = out;
                placed = 1;
            }
        }
        rc = vx_coll_version_from(c, v->mts, v->n_mts, segs, k, &nv);
    }
    if (rc == VEX_OK && !cancelled) {
        rc = publish(c, nv, c->apply.flushed_seq);
        if (rc == VEX_OK) {
            vx_coll_install_version(c, nv);
            nv = NULL;
            /* V5; with kept versions, their window removes the files */
            for (uint32_t i = 0; i < n_in; i++)
                if (c->db->opts.manifest_retention < 2)
                    atomic_store(&in[i]->obsolete, 1);
            atomic_fetch_add(&c->counts.n_compactions, 1);
            atomic_fetch_add(&c->counts.n_compacted_rows,
                             out ? out->info.n_rows : 0);
            rows_out = out ? out->info.n_rows : 0;
            bytes_out = out ? out->info.file_size : 0;
            *did = 1;
        }
    }
    if (out && (rc != VEX_OK || cancelled) && vx_coll_sticky(c) == VEX_OK)
        atomic_store(&out->obsolete, 1); /* not published: remove */
    if (rc != VEX_OK && !all)
        c->bg.compact_failed = 1;
    if (rc != VEX_OK)
        vx_err_copy(&c->err, msg, sizeof msg);
    vx_mutex_unlock(&c->apply.mu);
    if (rc != VEX_OK) {
        job_failed(c, bg, "compaction", rc, msg, VX_C_COMPACT_ERRORS);
    } else if (*did) {
        vx_hist_time(&c->met, VX_H_COMPACT, t0);
        vx_count(&c->met, VX_C_COMPACT_ROWS, rows_out);
        vx_count(&c->met, VX_C_COMPACT_BYTES_IN, bytes_in);
        vx_count(&c->met, VX_C_COMPACT_BYTES_OUT, bytes_out);
        vx_obs_bg_ok(&c->db->obs);
        vx_log(&c->db->obs, VEX_LOG_INFO, c->name,
               "compaction finished: %u segments of %" PRIu64
               " bytes into %" PRIu64 " rows, %" PRIu64 " bytes, %.3f ms",
               n_in, bytes_in, rows_out, bytes_out,
               (double)(vx_now_ns() - t0) / 1e6);
    }
    vx_version_unref(nv);
    vx_vseg_unref(out);
    for (uint32_t i = 0; i < n_in; i++)
        vx_vseg_unref(in[i]);
    vx_mem_free(c->mem, segs);
    vx_mem_free(c->mem, pick);
    vx_mem_free(c->mem, in);
    return rc;
}

int vex_compact(vex_collection *c)
{
    int rc, did;
    if ((rc = vx_coll_writable(c, "compact")) != VEX_OK)
        return rc;
    vx_mutex_lock(&c->bg.compact_mu);
    rc = compact_once(c, 1, &did);
    vx_mutex_unlock(&c->bg.compact_mu);
    return rc;
}

int vex_flush(vex_collection *c)
{
    int rc = VEX_OK, did = 1;
    uint64_t target;
    if ((rc = vx_coll_writable(c, "flush")) != VEX_OK)
        return rc;
    vx_mutex_lock(&c->apply.mu);
    rc = vx_coll_sticky(c);
    if (rc != VEX_OK) {
        vx_mutex_unlock(&c->apply.mu);
        return vx_err_set(&c->err, rc, "%s", c->life.sticky_msg);
    }
    target = c->apply.last_seq;
    if (target > covered_seq(c))
        rc = vx_coll_freeze(c);
    vx_mutex_unlock(&c->apply.mu);
    if (rc != VEX_OK)
        return rc;
    vx_mutex_lock(&c->bg.flush_mu);
    while (rc == VEX_OK && did) {
        vx_mutex_lock(&c->apply.mu);
        did = c->apply.flushed_seq < target;
        vx_mutex_unlock(&c->apply.mu);
        if (did)
            rc = flush_one(c, 0, &did);
    }
    vx_mutex_unlock(&c->bg.flush_mu);
    if (rc == VEX_OK && c->db->opts.durability == VEX_DURABILITY_NONE)
        rc = vx_wal_sync(c->w, &c->err);
    return rc;
}

/* ---------------------------------------------------------------------
 * Background jobs (engine/jobs.c calls in)
 * ------------------------------------------------------------------- */

static void job_flush(vex_collection *c)
{
    int did = 1, rc = VEX_OK;
    vx_mutex_lock(&c->bg.flush_mu);
    while (rc == VEX_OK && did && !atomic_load(&c->life.cancel))
        rc = flush_one(c, 1, &did);
    vx_mutex_unlock(&c->bg.flush_mu);
    if (rc == VEX_OK && !atomic_load(&c->life.cancel) && vx_coll_compacts(c))
        vx_jobs_schedule(c->db->jobs, c, VX_JOB_COMPACT);
}

/* Open (and so verify) the index of every segment of the current version
 * that is not open yet: after a collection opens, the first searches then
 * find them ready instead of paying for the checksum and graph checks. A
 * failure is remembered by the segment and reported by the search that
 * needs it. */
static void warm_segments(vex_collection *c)
{
    vx_snap s;
    vex_err tmp;
    vx_err_init(&tmp);
    vx_coll_snap_take(c, &s);
    for (uint32_t i = 0; i < s.v->n_segs && !atomic_load(&c->life.cancel);
         i++) {
        if (vx_vseg_warm(s.v->segs[i], &tmp) != VEX_OK) {
            char msg[VEX_ERRMSG_MAX];
            vx_err_copy(&tmp, msg, sizeof msg);
            vx_log(&c->db->obs, VEX_LOG_WARNING, c->name,
                   "damaged segment %" PRIu64
                   " (searches that need it fail): %s",
                   s.v->segs[i]->info.number, msg);
        }
    }
    vx_coll_snap_drop(&s);
    vx_err_destroy(&tmp);
}

/* Rows a later round of job_index needs before it indexes them: fewer
 * stay in the exact tail until the write path schedules the job again
 * (at 256 rows too, write.c). Each round ends with the graph's
 * reachability pass (vx_mt_index_to), O(rows): rounds of a few rows under
 * a steady trickle of writes would spend most of their time in it. */
#define INDEX_ROUND_MIN 256

/* vx_mt_width_fn of the background indexer (engine/jobs.h) */
static unsigned index_width(void *ctx)
{
    vex_collection *c = ctx;
    unsigned pool = vx_pool_width(c->db->bg_pool, 0);
    unsigned w = vx_jobs_index_width(
        pool, vx_cpu_count(), vx_now_ns(),
        atomic_load_explicit(&c->bg.last_write_ns, memory_order_relaxed));
    atomic_fetch_add_explicit(w && w < pool ? &c->bg.index_narrow
                                            : &c->bg.index_wide,
                              1, memory_order_relaxed);
    return w;
}

static void job_index(vex_collection *c)
{
    warm_segments(c);
    for (int round = 0;; round++) {
        vx_snap s;
        memtable *a;
        uint64_t n;
        int rc;
        if (atomic_load(&c->life.cancel) || vx_coll_sticky(c) != VEX_OK)
            return;
        vx_coll_snap_take(c, &s);
        a = version_active(s.v);
        n = mt_rows(a);
        if (a->ix == NULL || n <= c->db->opts.memtable_exact_rows ||
            mt_indexed(a) >= n ||
            (round > 0 && n - mt_indexed(a) < INDEX_ROUND_MIN)) {
            vx_coll_snap_drop(&s);
            return;
        }
        rc = vx_mt_index_to(a, n, &c->life.cancel, NULL, index_width, c,
                            &c->err);
        vx_coll_snap_drop(&s);
        if (rc != VEX_OK) {
            char msg[VEX_ERRMSG_MAX];
            vx_err_copy(&c->err, msg, sizeof msg);
            vx_coll_fail(c, rc, "indexing the memtable failed");
            vx_count(&c->met, VX_C_BG_ERRORS, 1);
            vx_obs_bg_error(&c->db->obs, c->name, rc, "memtable indexing", msg);
            return;
        }
        vx_log(&c->db->obs, VEX_LOG_DEBUG, c->name,
               "memtable indexed up to row %" PRIu64, n);
    }
}

static void job_compact(vex_collection *c)
{
    int did = 1;
    if (vx_mutex_trylock(&c->bg.compact_mu) != 0)
        return; /* vex_compact runs; it does the work */
    while (did && !atomic_load(&c->life.cancel) && !c->bg.compact_failed)
        if (compact_once(c, 0, &did) != VEX_OK)
            break;
    vx_mutex_unlock(&c->bg.compact_mu);
}

void vx_coll_run_job(vex_collection *c, int kind)
{
    if (atomic_load(&c->life.cancel))
        return;
    switch (kind) {
    case VX_JOB_FLUSH:
        job_flush(c);
        break;
    case VX_JOB_INDEX:
        job_index(c);
        break;
    case VX_JOB_COMPACT:
        job_compact(c);
        break;
    }
}
