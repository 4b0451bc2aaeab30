/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.h - read snapshots: reference-counted versions of a collection.
 *
 * A version is an immutable list of the collection's memtables (oldest
 * first; the last is the active one) and segments (oldest first). A
 * reader takes a SNAPSHOT: the current version with one more reference,
 * plus the sequence number of the last applied write at that moment. It
 * then searches the version's memtables and segments with that sequence
 * number and no lock at all: rows appended or ended later, and segment
 * rows deleted later, carry larger sequence numbers and stay invisible.
 * Writers and background jobs publish a new version with one pointer swap
 * under a short mutex; the old one lives until its last reader releases
 * it, and a segment file replaced by a compaction is removed only when
 * the last version that lists it is gone.
 *
 * The protocol (numbered so code can cite it):
 *  V1. Every write is applied under the collection's apply lock and gets
 *      the sequence number of its log record. The rows it appends carry
 *      that number as add_seq; the rows it ends carry it as end_seq; the
 *      segment rows it deletes carry it in their segment's delete array.
 *      Only after the whole group is applied does `visible_seq` move to
 *      it, so a snapshot sees a group entirely or not at all.
 *  V2. (version, visible_seq) change together under `ver_mu`, and a
 *      snapshot copies both under it: any row visible at the snapshot's
 *      sequence number is in a memtable or segment of the snapshot's
 *      version.
 *  V3. A flush replaces a frozen memtable by a segment holding the same
 *      rows; rows ended after the flush began are deleted in the new
 *      segment at install, under the apply lock, with their original
 *      sequence numbers (so older snapshots still see them in the old
 *      version's memtable and newer ones see them deleted).
 *  V4. A compaction replaces input segments by one output holding the
 *      rows live at its start sequence S; deletes of input rows after S
 *      are carried over to the output at install, under the apply lock,
 *      with their sequence numbers. Between S and install only deletes
 *      can touch input segments (new rows go to memtables).
 *  V5. Versions, memtables and segments are reference counted; a version
 *      holds one reference on each of its members. A segment marked
 *      obsolete (replaced by a published manifest) removes its file when
 *      its last reference goes; a crash before that leaves an orphan the
 *      next open removes.
 *  V6. A segment row is visible at S when its key is live at birth (not
 *      a dead key) and its delete sequence is 0 or > S. Delete sequences
 *      are written once (0 -> seq) by the apply-lock holder.
 *
 * Threading: vseg_* readers (vseg_visible, vx_vseg_index) from any thread;
 * vx_vseg_delete by the apply-lock holder; versions are immutable after
 * vx_version_new returns, and ref/unref are atomic.
 */
#ifndef VEX_STORAGE_VERSION_H
#define VEX_STORAGE_VERSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "index/diskann.h"
#include "io/vfs.h"
#include "storage/memtable.h"
#include "meta/column.h"
#include "meta/filter.h"
#include "meta/value.h"
#include "storage/mcache.h"
#include "storage/segment.h"
#include "storage/source.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"

/* A segment in use: the mapped file, its delete state and its index. */

typedef struct vseg {
    _Atomic int refs;
    const vex_mem *mem;
    vex_vfs *vfs;
    vex_pool *pool;
    seg *s;
    seg_info info;
    /* per-key delete sequence numbers, allocated on the first delete and
     * published with release; NULL: nothing deleted */
    _Atomic(_Atomic uint64_t *) del;
    _Atomic uint64_t n_deleted;
    _Atomic int obsolete; /* remove the file with the last reference */
    pthread_mutex_t open_lock;
    _Atomic(vx_ix *) ix; /* opened on first use */
    /* the META section's columns, opened (checked strictly) on the first
     * metadata read (open_lock) and published with release */
    _Atomic(vm_colset *) cols;
    /* the database's cache of filter match sets (storage/mcache.h);
     * NULL: every set is built per use */
    vx_mcache *mcache;
    int ix_rc;
    char ix_msg[VEX_ERRMSG_MAX];
    /* A DiskANN segment (info.index_kind VEX_INDEX_DISKANN) has this
     * instead of `ix`: opened on first use (open_lock), its node cache
     * taken from the database's budget (`budget`, NULL: none) and given
     * back (dann_cache bytes) with the last reference. */
    _Atomic(vx_dann *) dann;
    _Atomic uint64_t *budget;
    uint64_t dann_cache;
} vseg;

/* The database-wide things a segment in use shares: where its filter
 * match sets go (NULL: built per use) and what is left of the DiskANN
 * node-cache budget (vex_db_options.diskann_cache_bytes; NULL: none). */
typedef struct vseg_env {
    vx_mcache *mcache;
    _Atomic uint64_t *dann_budget;
} vseg_env;

/* Open the segment file `path` (number `number`) as a vseg with one
 * reference, sharing what `env` holds (NULL: nothing shared). */
int vx_vseg_open(vex_vfs *vfs, const char *path, uint64_t number,
                 const vex_mem *mem, vex_pool *pool, const vseg_env *env,
                 vex_err *err, vseg **out);
void vx_vseg_ref(vseg *v);
void vx_vseg_unref(vseg *v);

/* Mark key deleted at `seq` (apply-lock holder; a key is deleted once).
 * VEX_NOMEM when the delete array cannot be allocated. */
int vx_vseg_delete(vseg *v, uint64_t key, uint64_t seq);

/* The delete sequence of `key` (0: not deleted). */
static inline uint64_t vseg_del_seq(const vseg *v, uint64_t key)
{
    _Atomic uint64_t *d =
        atomic_load_explicit(&((vseg *)v)->del, memory_order_acquire);
    return d ? atomic_load_explicit(&d[key], memory_order_acquire) : 0;
}

/* V6: the row of `key` visible at `seq`. */
static inline int vseg_visible(const vseg *v, uint64_t key, uint64_t seq)
{
    uint64_t d;
    if (!vx_seg_key_live(v->s, key))
        return 0;
    d = vseg_del_seq(v, key);
    return d == 0 || d > seq;
}

/* 1 and *key when `id` has a row here that is live now (apply-lock
 * holder's view: deleted at any sequence counts as gone). */
int vx_vseg_live(const vseg *v, uint64_t id, uint64_t *key);

/* The segment's index, opened in place from the mapping on first use
 * (verifying its checksum and every invariant), on the database's pool.
 * A failure is remembered and returned again. */
int vx_vseg_index(vseg *v, vx_ix **out, vex_err *err);

/* A DiskANN segment's index, opened (header, codes, key table and page
 * checksums read and checked; the node cache filled from the budget) on
 * the first call; a failure is remembered as vx_vseg_index's is. */
int vx_vseg_dann(vseg *v, vx_dann **out, vex_err *err);

/* Open whichever index the segment has (vx_vseg_index or vx_vseg_dann):
 * what warming a segment after an open or a flush does. */
int vx_vseg_warm(vseg *v, vex_err *err);

/* Copy key's vector (vec_bytes) into `out`, from either kind of index.
 * VEX_CORRUPT when a live key is missing from the index. */
int vx_vseg_vector(vseg *v, uint64_t key, void *out, vex_err *err);

/* Bytes a DiskANN segment holds in memory (0 for the other kinds, and
 * before its index is opened); *cache gets the node cache's part. */
uint64_t vx_vseg_dann_resident(const vseg *v, uint64_t *cache);

/* The segment's metadata columns (meta/column.h), opened on the first
 * call (under open_lock, checked strictly) and kept until the segment is
 * freed; *out NULL when the segment has no META section. Damage is
 * VEX_CORRUPT naming the file and the section's offset (not remembered:
 * the next call tries again). */
int vx_vseg_colset(vseg *v, const vm_colset **out, vex_err *err);

/* The metadata of `key` as a new record owned by the caller (free with
 * vx_vm_record_free on `mem`); *out NULL when the key has none. */
int vx_vseg_record(vseg *v, uint64_t key, const vex_mem *mem, vm_record **out,
                   vex_err *err);

/* The keys filter `f` matches, among the keys live at birth (deletes are
 * not applied: check vseg_visible), as a bitmap of n_keys bits with its
 * population count, computed over the metadata columns
 * (vx_vm_colset_eval). `key` (the filter's canonical text) names the
 * filter: the set is looked up in, or built and put into, the database's
 * match cache (v->mcache), so repeated searches with one filter build it
 * once (*built says whether this call built it). *out is referenced: hand
 * it back with vx_vseg_match_release. */
int vx_vseg_match(vseg *v, const vx_mkey *key, const vmf_filter *f,
                  const vx_match **out, int *built, vex_err *err);
void vx_vseg_match_release(vseg *v, const vx_match *m);

/* Live rows now (rows alive at birth minus deleted). */
static inline uint64_t vseg_live_rows(const vseg *v)
{
    return v->info.n_rows -
           atomic_load_explicit(&((vseg *)v)->n_deleted, memory_order_relaxed);
}

/* Keys that hold no live row now: dead at birth, or deleted. */
static inline uint64_t vseg_dead(const vseg *v)
{
    return v->info.n_keys - vseg_live_rows(v);
}

typedef struct version {
    _Atomic int refs;
    const vex_mem *mem;
    uint32_t n_mts, n_segs;
    memtable **mts; /* oldest first; mts[n_mts - 1] is the active one */
    vseg **segs;    /* oldest first */
    /* the same members as read sources (storage/source.h), newest first:
     * the active memtable, the frozen ones, then the segments from the
     * newest; so a lookup by id stops at the first source that has the
     * id at the snapshot */
    vx_source *src;
    uint32_t n_src;
} version;

/* A new version with one reference, taking a reference on every member.
 * VEX_NOMEM. */
int vx_version_new(const vex_mem *mem, memtable *const *mts, uint32_t n_mts,
                   vseg *const *segs, uint32_t n_segs, version **out);
void vx_version_ref(version *v);
void vx_version_unref(version *v);

static inline memtable *version_active(const version *v)
{
    return v->mts[v->n_mts - 1];
}

#endif
