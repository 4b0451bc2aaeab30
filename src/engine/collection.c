/*
 * collection.c - one collection: its write path (log, memtables, freeze),
 * its background work (indexing, flush, compaction), its recovery on open,
 * and search and get over snapshots.
 *
 * State. A collection is a list of memtables (storage/memtable.h: the
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
 *  3. Locks, in order: the write queue's `wlock` is only held to queue;
 *     `apply_mu` serialises everything that changes rows or the version
 *     (the write leader, freeze, flush and compaction installs); `ver_mu`
 *     guards (cur, visible_seq) and is held for a few instructions.
 *     Readers take only ver_mu, to copy a snapshot (V2).
 *  4. A segment file is written and synced before the manifest that names
 *     it is published; log files are dropped only after a publish whose
 *     flushed_seq covers them; under VEX_DURABILITY_NONE the log is synced
 *     before any publish, so a manifest never holds the effect of a write
 *     whose log record could still be lost (state stays a prefix of the
 *     history).
 *  5. Frozen memtables are flushed oldest first, one flush at a time
 *     (flush_mu); one compaction at a time (compact_mu).
 *
 * Write path (LevelDB's writer queue). Each commit enqueues a request and
 * waits. The request at the head is the leader: it takes the whole queue
 * (GROUP) or only itself (FULL, NONE), checks each request's operations
 * in order against the state plus the effects of the requests before it
 * (an overlay map; a request that fails is rolled out of the overlay and
 * fails alone), writes all accepted operations as ONE log record, which
 * vx_wal_append syncs (GROUP, FULL), applies them to the active memtable at
 * the record's sequence number and publishes that number (V1). Appending
 * a row is a copy: graph insertion happens later, on a background thread
 * (vx_mt_index_to), so an acknowledgement never waits for the index.
 *
 * Flow control. When the active memtable reaches memtable_bytes it is
 * frozen (a new log file starts, so its records can be dropped after its
 * flush) and a flush is scheduled. When max_frozen_memtables are waiting,
 * the next write waits for a flush, or fails with VEX_BUSY
 * (VEX_STALL_BUSY).
 *
 * Metadata. A row may carry a metadata record (meta/value.h): the
 * memtable keeps it decoded, segments keep its encoding per key (META
 * section), the log carries it in operation kinds 4 and 5. A collection
 * schema (meta/schema.h, its blob in the manifest) is checked in the
 * writer's thread before a request is queued. A metadata-only update is
 * a new row with the old vector: the leader logs it as an upsert with
 * metadata and the vector it finds (encode_group), never as a reference
 * to the old row, which a compaction may drop before the log record is
 * flushed (invariant 2 would then be broken on replay).
 *
 * Sticky errors: a failed log write or sync, a failure to apply an
 * operation that is already logged, a failed flush, and a manifest
 * publish whose outcome is unknown leave the on-disk or in-memory state
 * uncertain; the collection then refuses every later write with the
 * original status and message until it is reopened (recovery from the
 * files is the repair). A failed compaction that did publish nothing is
 * not sticky: its output file is removed and the inputs stay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "engine/engine.h"
#include "engine/jobs.h"
#include "engine/meta_api.h"
#include "index/index.h"
#include "meta/filter.h"
#include "meta/schema.h"
#include "meta/value.h"
#include "simd/simd.h"
#include "storage/compact.h"
#include "storage/manifest.h"
#include "storage/memtable.h"
#include "storage/segment.h"
#include "storage/version.h"
#include "storage/wal.h"
#include "util/endian.h"
#include "util/idmap.h"
#include "util/topk.h"

/* Log record payload: a header, then operations (docs/FORMAT.md). */
#define REC_MAGIC  0x31504f56u /* "VOP1" little-endian */
#define REC_HEADER 8
#define OP_HEADER  16
/* Kinds 4-6 carry a metadata record (docs/FORMAT.md): insert and upsert
 * with metadata, and a metadata-only update. */
enum {
    OP_INSERT = 1,
    OP_UPSERT = 2,
    OP_DELETE = 3,
    OP_INSERT_M = 4,
    OP_UPSERT_M = 5,
    OP_SETMETA = 6
};

/* Limits of one batch and of one group's log record. */
#define BATCH_MAX_BYTES (16u << 20)
#define GROUP_MAX_BYTES (32u << 20)

/* ---------------------------------------------------------------------
 * Structures
 * ------------------------------------------------------------------- */

typedef struct wreq {
    struct wreq *next;
    /* encoded operations (a batch), or one operation */
    const unsigned char *ops;
    size_t ops_len, n_ops;
    int one_kind;
    uint64_t one_id;
    const void *one_vec;
    const unsigned char *one_meta; /* encoded record (kinds 4-6) */
    size_t one_meta_len;
    size_t n_setmeta; /* OP_SETMETA operations (logged with a vector) */
    int done, rc;
    char msg[VEX_ERRMSG_MAX];
    pthread_cond_t cv;
} wreq;

struct vex_collection {
    vex_db *db;
    vex_mem *mem; /* the database's */
    vex_err err;
    int refs;
    char name[VEX_NAME_MAX + 1];
    char *dir, *wal_dir;
    man_config cfg;
    vex_index_config icfg; /* for vector checks and memtables */
    size_t vec_bytes;
    /* a float-aligned copy of a logged vector that follows variable-length
     * metadata in a record (apply-lock holder only; allocated on use) */
    unsigned char *vec_align;
    /* the metadata schema (NULL: none), its blob for the manifest, and
     * the public view vex_collection_get_config hands out */
    vm_schema *schema;
    unsigned char *schema_blob;
    uint32_t schema_len;
    vex_schema_field *schema_pub;
    char *schema_names;
    unsigned char *vecbuf; /* leader only: the vector a SETMETA keeps */

    /* the version readers snapshot (ver_mu; changed with apply_mu too) */
    pthread_mutex_t ver_mu;
    version *cur;
    uint64_t visible_seq;

    /* apply side (apply_mu) */
    pthread_mutex_t apply_mu;
    pthread_cond_t room_cv;       /* a flush finished / the handle closes */
    uint64_t last_seq;            /* of the last applied log record */
    _Atomic uint64_t flushed_seq; /* the manifest's (read without the lock
                                     by vex_stats_get) */
    uint64_t manifest_no, next_file;
    _Atomic uint64_t n_live;
    pthread_mutex_t flush_mu, compact_mu;
    _Atomic int closing;
    _Atomic int compact_failed; /* automatic compaction paused until a flush */
    uint64_t flush_fails;       /* failed flushes (wakes writers waiting) */
    int flush_rc;               /* of the last failed flush, VEX_OK after one
                                   succeeds */
    char flush_msg[VEX_ERRMSG_MAX];

    /* counters for vex_stats */
    _Atomic uint64_t n_flushes, n_compactions, n_compacted_rows, n_stalls;

    /* write path */
    wal *w;
    pthread_mutex_t wlock;
    wreq *q_head, *q_tail;
    int sticky_rc;
    char sticky_msg[VEX_ERRMSG_MAX];
    vex_idmap overlay; /* leader only: id -> 1 live / 0 gone, this group */
    vex_idmap vecmap;  /* leader only: id -> its vector's offset in rec */
    uint64_t *touched; /* leader only: ids put in the overlay */
    size_t n_touched, cap_touched;
    unsigned char *rec; /* leader only: the group's record */
    size_t rec_cap;
};

/* Counters of one search call (vex_search_stats), shared by its workers. */
typedef struct qstats {
    _Atomic uint32_t sources, exact, graph, post, fallbacks;
    _Atomic uint64_t matched;
} qstats;

/* A snapshot (V2), and the counters of the search using it (or NULL). */
typedef struct snap {
    version *v;
    uint64_t seq;
    qstats *qs;
} snap;

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */

const char *vx_coll_name(const vex_collection *c)
{
    return c->name;
}

void vx_coll_ref(vex_collection *c)
{
    c->refs++;
}
int vx_coll_unref(vex_collection *c)
{
    return --c->refs;
}

static int coll_nomem(vex_collection *c)
{
    return vx_err_set(&c->err, VEX_NOMEM, "out of memory");
}

static int coll_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void snap_take(vex_collection *c, snap *s)
{
    pthread_mutex_lock(&c->ver_mu);
    s->v = c->cur;
    vx_version_ref(s->v);
    s->seq = c->visible_seq;
    s->qs = NULL;
    pthread_mutex_unlock(&c->ver_mu);
}

static void snap_drop(snap *s)
{
    vx_version_unref(s->v);
    s->v = NULL;
}

/* Publish a new current version (apply_mu held); takes over the caller's
 * reference to `v`. */
static void install_version(vex_collection *c, version *v)
{
    version *old;
    pthread_mutex_lock(&c->ver_mu);
    old = c->cur;
    c->cur = v;
    pthread_mutex_unlock(&c->ver_mu);
    vx_version_unref(old);
}

static void publish_seq(vex_collection *c, uint64_t seq)
{
    pthread_mutex_lock(&c->ver_mu);
    c->visible_seq = seq;
    pthread_mutex_unlock(&c->ver_mu);
}

static void make_sticky(vex_collection *c, int rc, const char *what)
{
    char msg[VEX_ERRMSG_MAX];
    vx_err_copy(&c->err, msg, sizeof msg);
    pthread_mutex_lock(&c->wlock);
    if (c->sticky_rc == VEX_OK) {
        c->sticky_rc = rc;
        snprintf(c->sticky_msg, sizeof c->sticky_msg,
                 "%.64s (the collection refuses writes until it is reopened): "
                 "%.380s",
                 what, msg);
    }
    pthread_mutex_unlock(&c->wlock);
    /* writers waiting for room must not wait for a flush that will not
     * come */
    pthread_cond_broadcast(&c->room_cv);
}

static int sticky(vex_collection *c)
{
    int rc;
    pthread_mutex_lock(&c->wlock);
    rc = c->sticky_rc;
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

static int seg_path_of(vex_collection *c, uint64_t number, char **out)
{
    char name[64];
    vx_seg_file_name(name, sizeof name, number);
    *out = vx_path_join(c->mem, c->dir, name);
    return *out ? VEX_OK : coll_nomem(c);
}

/* The collection's index options (kind, element type, metric, dimension,
 * resolved HNSW parameters) for graphs built on the background pool. */
static void index_opts_of(const vex_collection *c, vex_index_options *io)
{
    vex_index_options_init(io);
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

static int memt_new(vex_collection *c, memtable **out)
{
    vex_index_options io;
    index_opts_of(c, &io);
    return vx_mt_create(c->mem, &c->icfg,
                        c->cfg.index_kind == VEX_INDEX_HNSW ? &io : NULL,
                        c->db->bg_pool, &c->err, out);
}

/* A version like `v` with memtables/segments replaced (arrays built by
 * the caller). */
static int version_from(vex_collection *c, memtable *const *mts, uint32_t n_mts,
                        vseg *const *segs, uint32_t n_segs, version **out)
{
    if (vx_version_new(c->mem, mts, n_mts, segs, n_segs, out) != VEX_OK)
        return coll_nomem(c);
    return VEX_OK;
}

/* ---------------------------------------------------------------------
 * Applying operations (apply_mu held, or recovery)
 * ------------------------------------------------------------------- */

/* Whether `id` has a live row now. */
static int state_has(const vex_collection *c, uint64_t id)
{
    const version *v = c->cur;
    uint64_t key;
    for (uint32_t i = v->n_mts; i-- > 0;)
        if (vx_mt_live(v->mts[i], id))
            return 1;
    for (uint32_t i = v->n_segs; i-- > 0;)
        if (vx_vseg_live(v->segs[i], id, &key))
            return 1;
    return 0;
}

/* End the live row of `id` at `seq` wherever it is, the active memtable
 * excepted when `skip_active`. *ended = 1 when there was one. */
static int end_row(vex_collection *c, uint64_t id, uint64_t seq,
                   int skip_active, int *ended)
{
    version *v = c->cur;
    uint64_t key;
    *ended = 0;
    for (uint32_t i = v->n_mts - (skip_active ? 1 : 0); i-- > 0;)
        if (vx_mt_delete(v->mts[i], id, seq)) {
            *ended = 1;
            return VEX_OK;
        }
    for (uint32_t i = v->n_segs; i-- > 0;)
        if (vx_vseg_live(v->segs[i], id, &key)) {
            *ended = 1;
            if (vx_vseg_delete(v->segs[i], key, seq) != VEX_OK)
                return coll_nomem(c);
            return VEX_OK;
        }
    return VEX_OK;
}

/* The vector of the live row of `id` (leader, apply_mu held), for a
 * metadata-only update: a memtable row's in place, a segment row's copied
 * into c->vecbuf. VEX_NOTFOUND when there is none. */
static int live_vector(vex_collection *c, uint64_t id, const void **vec)
{
    version *v = c->cur;
    uint64_t key, row;
    for (uint32_t i = v->n_mts; i-- > 0;)
        if (vx_mt_find(v->mts[i], id, UINT64_MAX - 1, &row)) {
            *vec = mt_row_vec(v->mts[i], row);
            return VEX_OK;
        }
    for (uint32_t i = v->n_segs; i-- > 0;)
        if (vx_vseg_live(v->segs[i], id, &key)) {
            vex_index *ix;
            int rc = vx_vseg_index(v->segs[i], &ix, &c->err);
            if (rc != VEX_OK)
                return rc;
            if (vex_index_get(ix, key, c->vecbuf) != VEX_OK)
                return vx_err_set(&c->err, VEX_CORRUPT,
                                  "%s: id %llu (key %llu) is listed but not "
                                  "in the index",
                                  vx_seg_path(v->segs[i]->s),
                                  (unsigned long long)id,
                                  (unsigned long long)key);
            *vec = c->vecbuf;
            return VEX_OK;
        }
    return vx_err_set(&c->err, VEX_NOTFOUND,
                      "metadata update of id %llu: no such id",
                      (unsigned long long)id);
}

/* `vec` as the float kernels may read it: a vector inside a log record
 * that follows variable-length metadata can sit at any byte offset, so
 * such a vector is copied to c->vec_align (NULL: out of memory). */
static const void *vec_aligned(vex_collection *c, const void *vec)
{
    if ((uintptr_t)vec % sizeof(float) == 0)
        return vec;
    if (c->vec_align == NULL &&
        (c->vec_align = vx_mem_alloc(c->mem, c->vec_bytes)) == NULL)
        return NULL;
    memcpy(c->vec_align, vec, c->vec_bytes);
    return c->vec_align;
}

static int apply_op(vex_collection *c, int kind, uint64_t id, const void *vec,
                    const unsigned char *meta, size_t meta_len, uint64_t seq)
{
    memtable *a = version_active(c->cur);
    vm_record *rec = NULL;
    int rc, ended = 0, ended_here = 0;
    if (kind == OP_DELETE) {
        rc = end_row(c, id, seq, 0, &ended);
        if (ended)
            atomic_fetch_sub(&c->n_live, 1);
        return rc;
    }
    if (vec == NULL) /* OP_SETMETA is logged as OP_UPSERT_M */
        return vx_err_set(&c->err, VEX_INTERNAL,
                          "operation %d on id %llu has no vector", kind,
                          (unsigned long long)id);
    if ((vec = vec_aligned(c, vec)) == NULL)
        return coll_nomem(c);
    if (meta_len > 0) {
        rc = vx_vm_record_decode(meta, meta_len, c->mem, &c->err, &rec);
        if (rc != VEX_OK)
            return rc;
        if (vx_vm_record_n_fields(rec) == 0) {
            vx_vm_record_free(rec, c->mem); /* no fields: store none */
            rec = NULL;
        }
    }
    if (!vx_mt_live(a, id)) {
        rc = end_row(c, id, seq, 1, &ended);
        if (rc != VEX_OK) {
            vx_vm_record_free(rec, c->mem);
            return rc;
        }
    }
    rc = vx_mt_put(a, id, vec, rec, seq, &ended_here);
    if (rc != VEX_OK) {
        vx_vm_record_free(rec, c->mem);
        return vx_err_set(&c->err, rc, "memtable: out of memory");
    }
    if (!ended && !ended_here)
        atomic_fetch_add(&c->n_live, 1);
    return VEX_OK;
}

static int kind_has_vec(int kind)
{
    return kind == OP_INSERT || kind == OP_UPSERT || kind == OP_INSERT_M ||
           kind == OP_UPSERT_M;
}

static int kind_has_meta(int kind)
{
    return kind >= OP_INSERT_M && kind <= OP_SETMETA;
}

/* Bytes of one encoded operation. */
static size_t op_size(size_t vec_bytes, int kind, size_t meta_len)
{
    return OP_HEADER + (kind_has_vec(kind) ? vec_bytes : 0) +
           (kind_has_meta(kind) ? meta_len : 0);
}

/* Decode one operation at p (n bytes left); 0 on damage. The metadata
 * bytes are only located here (decode them with vx_vm_record_decode). */
static size_t op_decode(const vex_collection *c, const unsigned char *p,
                        size_t n, int *kind, uint64_t *id, const void **vec,
                        const unsigned char **meta, size_t *meta_len)
{
    size_t need, ml = 0;
    *kind = 0;
    *id = 0;
    *vec = NULL;
    *meta = NULL;
    *meta_len = 0;
    if (n < OP_HEADER)
        return 0;
    *kind = p[0];
    if (*kind < OP_INSERT || *kind > OP_SETMETA)
        return 0;
    for (int i = 1; i < (kind_has_meta(*kind) ? 4 : 8); i++)
        if (p[i] != 0)
            return 0;
    if (kind_has_meta(*kind)) {
        ml = vex_get_u32le(p + 4);
        if (ml == 0 || ml > VM_MAX_ENCODED)
            return 0;
    }
    *id = vex_get_u64le(p + 8);
    need = op_size(c->vec_bytes, *kind, ml);
    if (n < need)
        return 0;
    if (kind_has_vec(*kind))
        *vec = p + OP_HEADER;
    if (ml) {
        *meta = p + need - ml;
        *meta_len = ml;
    }
    return need;
}

static void op_encode(unsigned char *p, int kind, uint64_t id, const void *vec,
                      size_t vec_bytes, const unsigned char *meta,
                      size_t meta_len)
{
    size_t pos = OP_HEADER;
    memset(p, 0, OP_HEADER);
    p[0] = (unsigned char)kind;
    if (kind_has_meta(kind))
        vex_put_u32le(p + 4, (uint32_t)meta_len);
    vex_put_u64le(p + 8, id);
    if (kind_has_vec(kind)) {
        memcpy(p + pos, vec, vec_bytes);
        pos += vec_bytes;
    }
    if (kind_has_meta(kind) && meta != NULL) /* else the caller writes it */
        memcpy(p + pos, meta, meta_len);
}

/* ---------------------------------------------------------------------
 * Freezing, flow control and the manifest
 * ------------------------------------------------------------------- */

static int active_full(const vex_collection *c)
{
    const memtable *a = version_active(c->cur);
    return mt_rows(a) * c->vec_bytes +
               atomic_load_explicit(&((memtable *)a)->meta_bytes,
                                    memory_order_relaxed) >=
           c->db->opts.memtable_bytes;
}

/* The last write a frozen memtable (or the manifest) covers. */
static uint64_t covered_seq(const vex_collection *c)
{
    const version *v = c->cur;
    return v->n_mts > 1 ? v->mts[v->n_mts - 2]->freeze_seq : c->flushed_seq;
}

/* Freeze the active memtable: a new empty one takes the writes, a new log
 * file starts (so the frozen one's records can go after its flush), and a
 * flush is scheduled. apply_mu held. */
static int freeze(vex_collection *c)
{
    version *v = c->cur, *nv = NULL;
    memtable *fresh = NULL, *old = version_active(v);
    memtable **mts;
    int rc = memt_new(c, &fresh);
    if (rc != VEX_OK)
        return rc;
    mts = vx_mem_alloc(c->mem, (v->n_mts + 1) * sizeof *mts);
    if (mts == NULL) {
        vx_mt_unref(fresh);
        return coll_nomem(c);
    }
    memcpy(mts, v->mts, v->n_mts * sizeof *mts);
    mts[v->n_mts] = fresh;
    rc = version_from(c, mts, v->n_mts + 1, v->segs, v->n_segs, &nv);
    vx_mem_free(c->mem, mts);
    vx_mt_unref(fresh);
    if (rc != VEX_OK)
        return rc;
    old->freeze_seq = c->last_seq;
    atomic_store(&old->frozen, 1);
    install_version(c, nv);
    if (c->w) {
        rc = vx_wal_new_file(c->w, &c->err);
        if (rc != VEX_OK) {
            make_sticky(c, rc, "starting a new log file failed");
            return rc;
        }
        vx_jobs_schedule(c->db->jobs, c, VEXI_JOB_FLUSH);
    }
    return VEX_OK;
}

/* Before a group: make room in the active memtable (apply_mu held; may
 * wait on room_cv, which releases it). */
static int need_room(vex_collection *c)
{
    int counted = 0;
    uint64_t fails;
    for (;;) {
        int rc;
        if (!active_full(c))
            return VEX_OK;
        if (c->cur->n_mts - 1 < c->db->opts.max_frozen_memtables)
            return freeze(c);
        if (!counted) {
            atomic_fetch_add(&c->n_stalls, 1);
            counted = 1;
        }
        if (c->db->opts.write_stall == VEX_STALL_BUSY)
            return vx_err_set(&c->err, VEX_BUSY,
                              "%u frozen memtables are waiting for their "
                              "flush (max_frozen_memtables); retry later",
                              c->cur->n_mts - 1);
        if ((rc = sticky(c)) != VEX_OK)
            return vx_err_set(&c->err, rc, "%s", c->sticky_msg);
        if (atomic_load(&c->closing))
            return vx_err_set(&c->err, VEX_MISUSE, "the collection is closing");
        vx_jobs_schedule(c->db->jobs, c, VEXI_JOB_FLUSH);
        fails = c->flush_fails;
        pthread_cond_wait(&c->room_cv, &c->apply_mu);
        if (c->flush_fails != fails)
            return vx_err_set(&c->err, c->flush_rc,
                              "waiting for room in the memtables: a flush "
                              "failed: %s",
                              c->flush_msg);
    }
}

/* The manifest describing version `v` with `flushed_seq`. Arrays are
 * allocated; free with vx_manifest_free. apply_mu held (delete arrays are
 * stable under it). */
static int build_manifest(vex_collection *c, const version *v, uint64_t number,
                          uint64_t flushed_seq, manifest *m)
{
    memset(m, 0, sizeof *m);
    m->number = number;
    m->config = c->cfg;
    m->next_file = c->next_file;
    m->flushed_seq = flushed_seq;
    m->segs = vx_mem_calloc(c->mem, v->n_segs ? v->n_segs : 1, sizeof *m->segs);
    if (m->segs == NULL)
        return coll_nomem(c);
    if (c->schema_len) {
        m->schema = vx_mem_alloc(c->mem, c->schema_len);
        if (m->schema == NULL) {
            vx_manifest_free(m, c->mem);
            return coll_nomem(c);
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
                return coll_nomem(c);
            }
            for (uint64_t key = 0; key < r->info.n_keys && k < nd; key++)
                if (vseg_del_seq(r, key))
                    ms->deleted[k++] = vx_seg_key_id(r->s, key);
            qsort(ms->deleted, k, sizeof(uint64_t), coll_cmp_u64);
        }
    }
    return VEX_OK;
}

/* Publish `v` as the new manifest (apply_mu held). On VEX_OK the old
 * manifest file is removed and c->manifest_no moves; an ambiguous failure
 * makes the handle sticky. */
static int publish(vex_collection *c, const version *v, uint64_t flushed_seq)
{
    manifest m;
    uint64_t old = c->manifest_no, number;
    int rc, ambiguous = 0;
    if (c->w && c->db->opts.durability == VEX_DURABILITY_NONE) {
        /* invariant 4: nothing in the manifest may outlive its log */
        rc = vx_wal_sync(c->w, &c->err);
        if (rc != VEX_OK) {
            make_sticky(c, rc, "syncing the log failed");
            return rc;
        }
    }
    number = c->next_file++;
    rc = build_manifest(c, v, number, flushed_seq, &m);
    if (rc != VEX_OK)
        return rc;
    rc = vx_manifest_publish(c->db->vfs, c->dir, &m, c->mem, &c->err,
                             &ambiguous);
    vx_manifest_free(&m, c->mem);
    if (rc != VEX_OK) {
        if (ambiguous)
            make_sticky(c, rc, "publishing the manifest failed");
        return rc;
    }
    c->manifest_no = number;
    {
        /* the old manifest; a failure only leaves a file the next open
         * removes */
        char name[64];
        char *p;
        vx_manifest_file_name(name, sizeof name, old);
        p = vx_path_join(c->mem, c->dir, name);
        if (p)
            (void)c->db->vfs->methods->remove(c->db->vfs, p, NULL);
        vx_mem_free(c->mem, p);
    }
    return VEX_OK;
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
    index_opts_of(c, &b->iopts);
    b->vec_bytes = c->vec_bytes;
    b->cancel = &c->closing;
    b->err = &c->err;
}

/* Flush the oldest frozen memtable (flush_mu held). *did = 0 when there
 * was none. */
static int flush_one(vex_collection *c, int *did)
{
    seg_builder b;
    int cancelled = 0;
    memtable *m;
    vseg *out = NULL;
    version *v, *nv = NULL;
    uint64_t s, number;
    int rc;

    *did = 0;
    pthread_mutex_lock(&c->apply_mu);
    v = c->cur;
    if (v->n_mts < 2) {
        pthread_mutex_unlock(&c->apply_mu);
        return VEX_OK;
    }
    if ((rc = sticky(c)) != VEX_OK) {
        pthread_mutex_unlock(&c->apply_mu);
        return vx_err_set(&c->err, rc, "%s", c->sticky_msg);
    }
    m = v->mts[0];
    vx_mt_ref(m);
    s = c->last_seq;
    number = c->next_file++;
    pthread_mutex_unlock(&c->apply_mu);

    builder_of(c, &b);
    rc = vx_compact_flush_build(&b, m, s, number, &out, &cancelled);
    if (rc == VEX_OK && cancelled) {
        /* the collection closes: the frozen memtable stays in the log */
        vx_mt_unref(m);
        return VEX_OK;
    }

    pthread_mutex_lock(&c->apply_mu);
    v = c->cur;
    if (rc == VEX_OK && out) {
        /* V3: rows ended since s are deleted in the segment with their
         * sequence numbers */
        const uint64_t *rk = vx_seg_row_keys(out->s);
        for (uint64_t i = 0; i < out->info.n_rows && rc == VEX_OK; i++) {
            uint64_t e = mt_row_end(m, rk[i]);
            if (e != 0 && vx_vseg_delete(out, rk[i], e) != VEX_OK)
                rc = coll_nomem(c);
        }
    }
    if (rc == VEX_OK) {
        vseg **segs = vx_mem_alloc(c->mem, (v->n_segs + 1) * sizeof *segs);
        if (segs == NULL) {
            rc = coll_nomem(c);
        } else {
            memcpy(segs, v->segs, v->n_segs * sizeof *segs);
            if (out)
                segs[v->n_segs] = out;
            rc = version_from(c, v->mts + 1, v->n_mts - 1, segs,
                              v->n_segs + (out ? 1 : 0), &nv);
            vx_mem_free(c->mem, segs);
        }
    }
    if (rc == VEX_OK) {
        rc = publish(c, nv, m->freeze_seq);
        if (rc == VEX_OK) {
            install_version(c, nv);
            nv = NULL;
            c->flushed_seq = m->freeze_seq;
            c->compact_failed = 0;
            c->flush_rc = VEX_OK;
        }
    }
    if (rc != VEX_OK) {
        /* an ambiguous publish made the handle sticky already: then the
         * file may be named by CURRENT and must stay */
        int keep = sticky(c) != VEX_OK;
        if (out && !keep)
            atomic_store(&out->obsolete, 1);
        if (!keep) {
            /* not sticky: the frozen memtable stays and the next flush
             * tries again; writers waiting for room get the error */
            c->flush_fails++;
            c->flush_rc = rc;
            vx_err_copy(&c->err, c->flush_msg, sizeof c->flush_msg);
        }
    }
    pthread_mutex_unlock(&c->apply_mu);
    vx_version_unref(nv);
    vx_vseg_unref(out); /* the version holds it when published */
    if (rc == VEX_OK) {
        if (c->w)
            (void)vx_wal_drop_before(c->w, m->freeze_seq + 1, NULL);
        atomic_fetch_add(&c->n_flushes, 1);
        *did = 1;
    }
    vx_mt_unref(m);
    pthread_cond_broadcast(&c->room_cv);
    return rc;
}

/* ---------------------------------------------------------------------
 * Compaction (V4; the policy is documented with vex_db_options)
 * ------------------------------------------------------------------- */

/* One compaction (compact_mu held). *did = 0 when the policy found
 * nothing to do (or the collection is closing). */
static int compact_once(vex_collection *c, int all, int *did)
{
    seg_builder b;
    compact_policy policy;
    version *v, *nv = NULL;
    vseg **in = NULL, *out = NULL, **segs = NULL;
    uint32_t *pick = NULL, n_in, k = 0;
    uint64_t s, number;
    int rc, cancelled = 0;

    *did = 0;
    pthread_mutex_lock(&c->apply_mu);
    v = c->cur;
    pick = vx_mem_alloc(c->mem, (v->n_segs ? v->n_segs : 1) * sizeof *pick);
    in = vx_mem_alloc(c->mem, (v->n_segs ? v->n_segs : 1) * sizeof *in);
    if (pick == NULL || in == NULL) {
        pthread_mutex_unlock(&c->apply_mu);
        vx_mem_free(c->mem, pick);
        vx_mem_free(c->mem, in);
        return coll_nomem(c);
    }
    policy.min_merge = c->db->opts.compact_min_merge;
    policy.max_merge = c->db->opts.compact_max_merge;
    policy.deleted_pct = c->db->opts.compact_deleted_pct;
    n_in = vx_compact_pick(v, &policy, all, pick);
    if (n_in == 0 || (rc = sticky(c)) != VEX_OK) {
        pthread_mutex_unlock(&c->apply_mu);
        vx_mem_free(c->mem, pick);
        vx_mem_free(c->mem, in);
        return n_in == 0 ? VEX_OK
                         : vx_err_set(&c->err, rc, "%s", c->sticky_msg);
    }
    for (uint32_t i = 0; i < n_in; i++) {
        in[i] = v->segs[pick[i]];
        vx_vseg_ref(in[i]);
    }
    s = c->last_seq;
    number = c->next_file++;
    pthread_mutex_unlock(&c->apply_mu);

    builder_of(c, &b);
    rc = vx_compact_build(&b, in, n_in, s, number, &out, &cancelled);

    pthread_mutex_lock(&c->apply_mu);
    v = c->cur;
    if (rc == VEX_OK && !cancelled && out) {
        /* V4: deletes since s move to the output */
        for (uint32_t i = 0; i < n_in && rc == VEX_OK; i++)
            for (uint64_t key = 0; key < in[i]->info.n_keys && rc == VEX_OK;
                 key++) {
                uint64_t d = vseg_del_seq(in[i], key), k2;
                if (d > s &&
                    vx_seg_find(out->s, vx_seg_key_id(in[i]->s, key), &k2) &&
                    vx_vseg_delete(out, k2, d) != VEX_OK)
                    rc = coll_nomem(c);
            }
    }
    if (rc == VEX_OK && !cancelled) {
        segs = vx_mem_alloc(c->mem, (v->n_segs + 1) * sizeof *segs);
        if (segs == NULL)
            rc = coll_nomem(c);
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
        rc = version_from(c, v->mts, v->n_mts, segs, k, &nv);
    }
    if (rc == VEX_OK && !cancelled) {
        rc = publish(c, nv, c->flushed_seq);
        if (rc == VEX_OK) {
            install_version(c, nv);
            nv = NULL;
            for (uint32_t i = 0; i < n_in; i++)
                atomic_store(&in[i]->obsolete, 1); /* V5 */
            atomic_fetch_add(&c->n_compactions, 1);
            atomic_fetch_add(&c->n_compacted_rows, out ? out->info.n_rows : 0);
            *did = 1;
        }
    }
    if (out && (rc != VEX_OK || cancelled) && sticky(c) == VEX_OK)
        atomic_store(&out->obsolete, 1); /* not published: remove */
    if (rc != VEX_OK && !all)
        c->compact_failed = 1;
    pthread_mutex_unlock(&c->apply_mu);
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
    if (c == NULL || c->w == NULL)
        return VEX_MISUSE;
    pthread_mutex_lock(&c->compact_mu);
    rc = compact_once(c, 1, &did);
    pthread_mutex_unlock(&c->compact_mu);
    return rc;
}

/* ---------------------------------------------------------------------
 * The write queue
 * ------------------------------------------------------------------- */

/* Iterate the operations of a request. */
typedef struct op_iter {
    const wreq *w;
    size_t pos, i;
    const unsigned char *meta; /* of the last operation (kinds 4-6) */
    size_t meta_len;
} op_iter;

static int op_next(const vex_collection *c, op_iter *it, int *kind,
                   uint64_t *id, const void **vec)
{
    const wreq *w = it->w;
    if (it->i >= w->n_ops)
        return 0;
    if (w->ops == NULL) {
        *kind = w->one_kind;
        *id = w->one_id;
        *vec = w->one_vec;
        it->meta = w->one_meta;
        it->meta_len = w->one_meta_len;
    } else {
        it->pos += op_decode(c, w->ops + it->pos, w->ops_len - it->pos, kind,
                             id, vec, &it->meta, &it->meta_len);
    }
    it->i++;
    return 1;
}

static size_t wreq_bytes(const vex_collection *c, const wreq *w)
{
    if (w->ops)
        return w->ops_len + w->n_setmeta * c->vec_bytes;
    return op_size(c->vec_bytes, w->one_kind, w->one_meta_len) +
           (w->one_kind == OP_SETMETA ? c->vec_bytes : 0);
}

static int touch(vex_collection *c, uint64_t id, int live)
{
    if (c->n_touched == c->cap_touched) {
        size_t cap = c->cap_touched ? c->cap_touched * 2 : 64;
        uint64_t *p = vx_mem_realloc(c->mem, c->touched, cap * sizeof *p);
        if (p == NULL)
            return VEX_NOMEM;
        c->touched = p;
        c->cap_touched = cap;
    }
    if (vx_idmap_put(&c->overlay, id, (uint64_t)live) != VEX_OK)
        return VEX_NOMEM;
    c->touched[c->n_touched++] = id;
    return VEX_OK;
}

static int exists_now(vex_collection *c, uint64_t id)
{
    uint64_t v;
    if (vx_idmap_get(&c->overlay, id, &v))
        return (int)v;
    return state_has(c, id);
}

/* Check a request's operations in order against state + overlay; on
 * success its effects stay in the overlay. */
static int validate(vex_collection *c, wreq *w)
{
    op_iter it = {w, 0, 0, NULL, 0};
    int kind, rc = VEX_OK;
    uint64_t id;
    const void *vec;
    while (rc == VEX_OK && op_next(c, &it, &kind, &id, &vec)) {
        int ex = exists_now(c, id);
        if (kind == OP_SETMETA && !ex) {
            rc = VEX_NOTFOUND;
            snprintf(w->msg, sizeof w->msg,
                     "metadata update of id %llu (operation %zu): no such id",
                     (unsigned long long)id, it.i - 1);
        } else if ((kind == OP_INSERT || kind == OP_INSERT_M) && ex) {
            rc = VEX_EXISTS;
            snprintf(w->msg, sizeof w->msg,
                     "insert of id %llu (operation %zu): the id exists",
                     (unsigned long long)id, it.i - 1);
        } else if (kind == OP_DELETE && !ex) {
            rc = VEX_NOTFOUND;
            snprintf(w->msg, sizeof w->msg,
                     "delete of id %llu (operation %zu): no such id",
                     (unsigned long long)id, it.i - 1);
        } else if (touch(c, id, kind != OP_DELETE) != VEX_OK) {
            rc = VEX_NOMEM;
            snprintf(w->msg, sizeof w->msg, "out of memory");
        }
    }
    if (rc != VEX_OK) {
        /* clear the overlay; the leader re-validates the requests accepted
         * before this one to rebuild it (the state has not changed) */
        for (size_t i = 0; i < c->n_touched; i++)
            vx_idmap_remove(&c->overlay, c->touched[i]);
        c->n_touched = 0;
    }
    return rc;
}

/* Schedule background indexing of the active memtable when its unindexed
 * tail is long enough (apply_mu held). */
#define INDEX_TRIGGER 256
static void maybe_index(vex_collection *c)
{
    memtable *a = version_active(c->cur);
    uint64_t n = mt_rows(a);
    if (a->ix && n > c->db->opts.memtable_exact_rows &&
        n - mt_indexed(a) >= INDEX_TRIGGER)
        vx_jobs_schedule(c->db->jobs, c, VEXI_JOB_INDEX);
}

/* Leader: the group [head .. last]. */
/* Encode the accepted requests of [head .. last] after the record header
 * in c->rec (sized by wreq_bytes). A metadata-only update is logged as an
 * upsert with metadata carrying the record's current vector, taken from
 * an earlier put of the same group (vecmap) or from the state: so replay
 * never needs a row that a compaction may have dropped since (a segment
 * row ended by the update is gone after the next compaction, while the
 * log record may be replayed until the next flush). */
static int encode_group(vex_collection *c, wreq *head, wreq *last,
                        size_t n_setmeta)
{
    size_t pos = REC_HEADER;
    int rc = VEX_OK;
    for (wreq *w = head; rc == VEX_OK; w = w->next) {
        if (w->rc == VEX_OK) {
            op_iter it = {w, 0, 0, NULL, 0};
            int kind;
            uint64_t id, at;
            const void *vec;
            while (rc == VEX_OK && op_next(c, &it, &kind, &id, &vec)) {
                if (kind == OP_SETMETA) {
                    if (vx_idmap_get(&c->vecmap, id, &at))
                        vec = c->rec + at;
                    else if ((rc = live_vector(c, id, &vec)) != VEX_OK)
                        break;
                    kind = OP_UPSERT_M;
                }
                op_encode(c->rec + pos, kind, id, vec, c->vec_bytes, it.meta,
                          it.meta_len);
                if (n_setmeta && kind_has_vec(kind)) {
                    if (vx_idmap_put(&c->vecmap, id, pos + OP_HEADER) != VEX_OK)
                        rc = coll_nomem(c);
                } else if (n_setmeta) {
                    vx_idmap_remove(&c->vecmap, id);
                }
                pos += op_size(c->vec_bytes, kind, it.meta_len);
            }
        }
        if (w == last)
            break;
    }
    if (n_setmeta) {
        /* empty the map again: every id it may hold is in the record */
        size_t p = REC_HEADER;
        while (p < pos) {
            int kind;
            uint64_t id;
            const void *vec;
            const unsigned char *meta;
            size_t meta_len, used;
            used = op_decode(c, c->rec + p, pos - p, &kind, &id, &vec, &meta,
                             &meta_len);
            if (used == 0)
                break;
            vx_idmap_remove(&c->vecmap, id);
            p += used;
        }
    }
    return rc;
}

static void lead(vex_collection *c, wreq *head, wreq *last)
{
    size_t rec_len = REC_HEADER, n_ops = 0, n_setmeta = 0;
    int rc = VEX_OK;
    uint64_t seq = 0;
    wreq *w;

    pthread_mutex_lock(&c->apply_mu);
    rc = sticky(c);
    if (rc != VEX_OK) {
        for (w = head;; w = w->next) {
            w->rc = rc;
            snprintf(w->msg, sizeof w->msg, "%s", c->sticky_msg);
            if (w == last)
                break;
        }
        pthread_mutex_unlock(&c->apply_mu);
        return;
    }
    rc = need_room(c);
    if (rc != VEX_OK)
        goto done;
    /* validate in order; requests that fail drop out of the group */
    for (w = head;; w = w->next) {
        size_t before = c->n_touched;
        w->rc = validate(c, w);
        if (w->rc != VEX_OK && before > 0) {
            /* rebuild the overlay of the accepted requests before w */
            wreq *v;
            c->n_touched = 0;
            for (v = head; v != w; v = v->next)
                if (v->rc == VEX_OK)
                    (void)validate(c, v);
        }
        if (w->rc == VEX_OK) {
            rec_len += wreq_bytes(c, w);
            n_ops += w->n_ops;
            n_setmeta += w->ops ? w->n_setmeta : w->one_kind == OP_SETMETA;
        }
        if (w == last)
            break;
    }
    for (size_t i = 0; i < c->n_touched; i++)
        vx_idmap_remove(&c->overlay, c->touched[i]);
    c->n_touched = 0;
    if (n_ops == 0) {
        pthread_mutex_unlock(&c->apply_mu);
        return;
    }
    if (rec_len > c->rec_cap) {
        unsigned char *p = vx_mem_realloc(c->mem, c->rec, rec_len);
        if (p == NULL) {
            rc = coll_nomem(c);
            goto done;
        }
        c->rec = p;
        c->rec_cap = rec_len;
    }
    vex_put_u32le(c->rec, REC_MAGIC);
    vex_put_u32le(c->rec + 4, (uint32_t)n_ops);
    rc = encode_group(c, head, last, n_setmeta);
    if (rc != VEX_OK)
        goto done;
    rc = vx_wal_append(c->w, c->rec, rec_len, &seq, &c->err);
    if (rc != VEX_OK) {
        make_sticky(c, rc, "writing the log failed");
        goto done;
    }
    /* apply exactly what was logged, as replay will */
    {
        size_t pos = REC_HEADER;
        for (size_t i = 0; i < n_ops && rc == VEX_OK; i++) {
            int kind;
            uint64_t id;
            const void *vec;
            const unsigned char *meta;
            size_t meta_len;
            pos += op_decode(c, c->rec + pos, rec_len - pos, &kind, &id, &vec,
                             &meta, &meta_len);
            rc = apply_op(c, kind, id, vec, meta, meta_len, seq);
        }
    }
    c->last_seq = seq;
    if (rc != VEX_OK) {
        make_sticky(c, rc, "applying a logged write failed");
        goto done;
    }
    publish_seq(c, seq); /* V1 */
    /* the group is durable and visible; freezing a full memtable now lets
     * its flush start before the next write needs the room */
    if (active_full(c) &&
        c->cur->n_mts - 1 < c->db->opts.max_frozen_memtables &&
        freeze(c) != VEX_OK)
        make_sticky(c, VEX_NOMEM, "freezing the memtable failed");
    maybe_index(c);
    pthread_mutex_unlock(&c->apply_mu);
    return;
done:
    pthread_mutex_unlock(&c->apply_mu);
    for (w = head;; w = w->next) {
        if (w->rc == VEX_OK) {
            w->rc = rc;
            vx_err_copy(&c->err, w->msg, sizeof w->msg);
        }
        if (w == last)
            break;
    }
}

/* Enqueue a request and wait until a leader (maybe this thread) ran it. */
static int submit(vex_collection *c, wreq *w)
{
    wreq *last;
    size_t bytes;
    w->next = NULL;
    w->done = 0;
    w->rc = VEX_OK;
    w->msg[0] = '\0';
    pthread_cond_init(&w->cv, NULL);
    pthread_mutex_lock(&c->wlock);
    if (c->q_tail)
        c->q_tail->next = w;
    else
        c->q_head = w;
    c->q_tail = w;
    while (!w->done && w != c->q_head)
        pthread_cond_wait(&w->cv, &c->wlock);
    if (w->done) {
        pthread_mutex_unlock(&c->wlock);
        pthread_cond_destroy(&w->cv);
        if (w->rc != VEX_OK)
            vx_err_set(&c->err, w->rc, "%s", w->msg);
        return w->rc;
    }
    /* leader: take a group */
    last = w;
    bytes = wreq_bytes(c, w);
    if (c->db->opts.durability == VEX_DURABILITY_GROUP) {
        while (last->next &&
               bytes + wreq_bytes(c, last->next) <= GROUP_MAX_BYTES) {
            last = last->next;
            bytes += wreq_bytes(c, last);
        }
    }
    pthread_mutex_unlock(&c->wlock);

    lead(c, w, last);

    pthread_mutex_lock(&c->wlock);
    c->q_head = last->next;
    if (c->q_head == NULL)
        c->q_tail = NULL;
    for (wreq *v = w->next; v != NULL && v != last->next; v = v->next) {
        v->done = 1;
        pthread_cond_signal(&v->cv);
    }
    if (c->q_head)
        pthread_cond_signal(&c->q_head->cv);
    pthread_mutex_unlock(&c->wlock);
    pthread_cond_destroy(&w->cv);
    if (w->rc != VEX_OK)
        vx_err_set(&c->err, w->rc, "%s", w->msg);
    return w->rc;
}

/* ---------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------- */

static int coll_usable(vex_collection *c)
{
    return c != NULL && c->w != NULL;
}

static int check_vec(vex_collection *c, const void *vec, const char *what,
                     size_t pos, uint64_t id, char *msg, size_t msg_size)
{
    char why[160];
    if (vx_vector_check(&c->icfg, vec, why, sizeof why) == VEX_OK)
        return VEX_OK;
    snprintf(msg, msg_size, "%s of id %llu (operation %zu): %s", what,
             (unsigned long long)id, pos, why);
    return VEX_INVALID;
}

static const char *op_name(int kind)
{
    switch (kind) {
    case OP_INSERT:
    case OP_INSERT_M:
        return "insert";
    case OP_UPSERT:
    case OP_UPSERT_M:
        return "upsert";
    case OP_SETMETA:
        return "metadata update";
    default:
        return "delete";
    }
}

/* Check a put's metadata (NULL: none) against the schema, if any. */
static int check_meta(vex_collection *c, const vm_record *rec, int kind,
                      uint64_t id, size_t pos, char *msg, size_t msg_size)
{
    vex_err e;
    int rc;
    if (c->schema == NULL)
        return VEX_OK;
    vx_err_init(&e);
    rc = vx_vm_schema_check(c->schema, rec, &e);
    if (rc != VEX_OK) {
        char why[VEX_ERRMSG_MAX];
        vx_err_copy(&e, why, sizeof why);
        snprintf(msg, msg_size, "%s of id %llu (operation %zu): %.400s",
                 op_name(kind), (unsigned long long)id, pos, why);
    }
    vx_err_destroy(&e);
    return rc;
}

static int write_one(vex_collection *c, int kind, uint64_t id, const void *vec,
                     const vex_meta *meta)
{
    wreq w;
    const vm_record *rec = vx_meta_record(meta);
    unsigned char stack[1024], *enc = NULL;
    size_t enc_len = 0;
    char msg[VEX_ERRMSG_MAX];
    int rc;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if (kind != OP_DELETE && kind != OP_SETMETA) {
        if (vec == NULL)
            return vx_err_set(&c->err, VEX_MISUSE, "vector is NULL");
        if (check_vec(c, vec, op_name(kind), 0, id, msg, sizeof msg) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
    }
    if (kind != OP_DELETE &&
        check_meta(c, rec, kind, id, 0, msg, sizeof msg) != VEX_OK)
        return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
    if (vx_vm_record_n_fields(rec) > 0 || kind == OP_SETMETA) {
        if (kind == OP_INSERT)
            kind = OP_INSERT_M;
        else if (kind == OP_UPSERT)
            kind = OP_UPSERT_M;
        enc_len = vx_vm_record_encoded_size(rec);
        enc = enc_len <= sizeof stack ? stack : vx_mem_alloc(c->mem, enc_len);
        if (enc == NULL)
            return coll_nomem(c);
        vx_vm_record_encode(rec, enc);
    }
    memset(&w, 0, sizeof w);
    w.n_ops = 1;
    w.one_kind = kind;
    w.one_id = id;
    w.one_vec = vec;
    w.one_meta = enc;
    w.one_meta_len = enc_len;
    rc = submit(c, &w);
    if (enc != stack)
        vx_mem_free(c->mem, enc);
    return rc;
}

int vex_insert(vex_collection *c, uint64_t id, const void *vector)
{
    return write_one(c, OP_INSERT, id, vector, NULL);
}

int vex_upsert(vex_collection *c, uint64_t id, const void *vector)
{
    return write_one(c, OP_UPSERT, id, vector, NULL);
}

int vex_delete(vex_collection *c, uint64_t id)
{
    return write_one(c, OP_DELETE, id, NULL, NULL);
}

int vex_insert_meta(vex_collection *c, uint64_t id, const void *vector,
                    const vex_meta *meta)
{
    return write_one(c, OP_INSERT, id, vector, meta);
}

int vex_upsert_meta(vex_collection *c, uint64_t id, const void *vector,
                    const vex_meta *meta)
{
    return write_one(c, OP_UPSERT, id, vector, meta);
}

int vex_update_meta(vex_collection *c, uint64_t id, const vex_meta *meta)
{
    return write_one(c, OP_SETMETA, id, NULL, meta);
}

int vex_flush(vex_collection *c)
{
    int rc = VEX_OK, did = 1;
    uint64_t target;
    if (!coll_usable(c))
        return VEX_MISUSE;
    pthread_mutex_lock(&c->apply_mu);
    rc = sticky(c);
    if (rc != VEX_OK) {
        pthread_mutex_unlock(&c->apply_mu);
        return vx_err_set(&c->err, rc, "%s", c->sticky_msg);
    }
    target = c->last_seq;
    if (target > covered_seq(c))
        rc = freeze(c);
    pthread_mutex_unlock(&c->apply_mu);
    if (rc != VEX_OK)
        return rc;
    pthread_mutex_lock(&c->flush_mu);
    while (rc == VEX_OK && did) {
        pthread_mutex_lock(&c->apply_mu);
        did = c->flushed_seq < target;
        pthread_mutex_unlock(&c->apply_mu);
        if (did)
            rc = flush_one(c, &did);
    }
    pthread_mutex_unlock(&c->flush_mu);
    if (rc == VEX_OK && c->db->opts.durability == VEX_DURABILITY_NONE)
        rc = vx_wal_sync(c->w, &c->err);
    return rc;
}

struct vex_batch {
    vex_mem mem;
    size_t vec_bytes;
    unsigned char *buf;
    size_t len, cap, n;
    size_t logged; /* len plus the vector of every metadata-only update,
                      which the log record carries (bounded by
                      BATCH_MAX_BYTES) */
};

int vex_batch_create(size_t vector_size, const vex_allocator *alloc,
                     vex_batch **out)
{
    vex_mem mem;
    vex_batch *b;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (vector_size == 0 || vector_size > (size_t)VEX_MAX_DIM * 4)
        return VEX_INVALID;
    if (vx_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    b = vx_mem_calloc(&mem, 1, sizeof *b);
    if (b == NULL)
        return VEX_NOMEM;
    b->mem = mem;
    b->vec_bytes = vector_size;
    *out = b;
    return VEX_OK;
}

void vex_batch_free(vex_batch *b)
{
    vex_mem mem;
    if (b == NULL)
        return;
    mem = b->mem;
    vx_mem_free(&mem, b->buf);
    vx_mem_free(&mem, b);
}

size_t vex_batch_count(const vex_batch *b)
{
    return b ? b->n : 0;
}

void vex_batch_clear(vex_batch *b)
{
    if (b) {
        b->len = 0;
        b->logged = 0;
        b->n = 0;
    }
}

static int batch_add(vex_batch *b, int kind, uint64_t id, const void *vec,
                     const vex_meta *meta)
{
    const vm_record *rec = vx_meta_record(meta);
    size_t need, meta_len = 0;
    if (b == NULL || (kind_has_vec(kind) && vec == NULL))
        return VEX_MISUSE;
    if (vx_vm_record_n_fields(rec) > 0 || kind == OP_SETMETA) {
        if (kind == OP_INSERT)
            kind = OP_INSERT_M;
        else if (kind == OP_UPSERT)
            kind = OP_UPSERT_M;
        meta_len = vx_vm_record_encoded_size(rec);
    }
    need = op_size(b->vec_bytes, kind, meta_len);
    if (b->logged + need + (kind == OP_SETMETA ? b->vec_bytes : 0) >
        BATCH_MAX_BYTES)
        return VEX_FULL;
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        unsigned char *p;
        while (cap < b->len + need)
            cap *= 2;
        p = vx_mem_realloc(&b->mem, b->buf, cap);
        if (p == NULL)
            return VEX_NOMEM;
        b->buf = p;
        b->cap = cap;
    }
    op_encode(b->buf + b->len, kind, id, vec, b->vec_bytes, NULL, 0);
    if (meta_len) {
        unsigned char *p = b->buf + b->len + need - meta_len;
        vex_put_u32le(b->buf + b->len + 4, (uint32_t)meta_len);
        vx_vm_record_encode(rec, p);
    }
    b->len += need;
    b->logged += need + (kind == OP_SETMETA ? b->vec_bytes : 0);
    b->n++;
    return VEX_OK;
}

int vex_batch_insert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, OP_INSERT, id, vector, NULL);
}

int vex_batch_upsert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, OP_UPSERT, id, vector, NULL);
}

int vex_batch_delete(vex_batch *b, uint64_t id)
{
    return batch_add(b, OP_DELETE, id, NULL, NULL);
}

int vex_batch_insert_meta(vex_batch *b, uint64_t id, const void *vector,
                          const vex_meta *meta)
{
    return batch_add(b, OP_INSERT, id, vector, meta);
}

int vex_batch_upsert_meta(vex_batch *b, uint64_t id, const void *vector,
                          const vex_meta *meta)
{
    return batch_add(b, OP_UPSERT, id, vector, meta);
}

int vex_batch_update_meta(vex_batch *b, uint64_t id, const vex_meta *meta)
{
    return batch_add(b, OP_SETMETA, id, NULL, meta);
}

int vex_batch_commit(vex_collection *c, const vex_batch *b)
{
    wreq w;
    size_t pos = 0, i = 0, n_setmeta = 0;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if (b == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "batch is NULL");
    if (b->vec_bytes != c->vec_bytes)
        return vx_err_set(&c->err, VEX_INVALID,
                          "the batch holds vectors of %zu bytes, the "
                          "collection's have %zu",
                          b->vec_bytes, c->vec_bytes);
    if (b->n == 0)
        return VEX_OK;
    /* vectors and metadata are checked here, in the caller's thread */
    while (pos < b->len) {
        int kind = 0, rc = VEX_OK;
        uint64_t id = 0;
        const void *vec = NULL;
        const unsigned char *meta;
        size_t meta_len;
        char msg[VEX_ERRMSG_MAX];
        pos += op_decode(c, b->buf + pos, b->len - pos, &kind, &id, &vec, &meta,
                         &meta_len);
        if (kind_has_vec(kind) &&
            check_vec(c, vec, op_name(kind), i, id, msg, sizeof msg) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
        if (kind != OP_DELETE && c->schema) {
            vm_record *rec = NULL;
            if (meta_len)
                rc = vx_vm_record_decode(meta, meta_len, c->mem, &c->err, &rec);
            if (rc == VEX_OK)
                rc = check_meta(c, rec, kind, id, i, msg, sizeof msg);
            vx_vm_record_free(rec, c->mem);
            if (rc != VEX_OK)
                return vx_err_set(&c->err, rc, "%s", msg);
        }
        n_setmeta += kind == OP_SETMETA;
        i++;
    }
    memset(&w, 0, sizeof w);
    w.ops = b->buf;
    w.ops_len = b->len;
    w.n_ops = b->n;
    w.n_setmeta = n_setmeta;
    return submit(c, &w);
}

/* ---------------------------------------------------------------------
 * Background jobs (engine/jobs.c calls in)
 * ------------------------------------------------------------------- */

static void job_flush(vex_collection *c)
{
    int did = 1, rc = VEX_OK;
    pthread_mutex_lock(&c->flush_mu);
    while (rc == VEX_OK && did && !atomic_load(&c->closing))
        rc = flush_one(c, &did);
    pthread_mutex_unlock(&c->flush_mu);
    if (rc == VEX_OK && !atomic_load(&c->closing) &&
        c->db->opts.compact_min_merge | c->db->opts.compact_deleted_pct)
        vx_jobs_schedule(c->db->jobs, c, VEXI_JOB_COMPACT);
}

/* Open (and so verify) the index of every segment of the current version
 * that is not open yet: after a collection opens, the first searches then
 * find them ready instead of paying for the checksum and graph checks. A
 * failure is remembered by the segment and reported by the search that
 * needs it. */
static void warm_segments(vex_collection *c)
{
    snap s;
    vex_err tmp;
    vx_err_init(&tmp);
    snap_take(c, &s);
    for (uint32_t i = 0; i < s.v->n_segs && !atomic_load(&c->closing); i++) {
        vex_index *ix;
        (void)vx_vseg_index(s.v->segs[i], &ix, &tmp);
    }
    snap_drop(&s);
    vx_err_destroy(&tmp);
}

static void job_index(vex_collection *c)
{
    warm_segments(c);
    for (;;) {
        snap s;
        memtable *a;
        uint64_t n;
        int rc;
        if (atomic_load(&c->closing) || sticky(c) != VEX_OK)
            return;
        snap_take(c, &s);
        a = version_active(s.v);
        n = mt_rows(a);
        if (a->ix == NULL || n <= c->db->opts.memtable_exact_rows ||
            mt_indexed(a) >= n) {
            snap_drop(&s);
            return;
        }
        rc = vx_mt_index_to(a, n, &c->closing, &c->err);
        snap_drop(&s);
        if (rc != VEX_OK) {
            make_sticky(c, rc, "indexing the memtable failed");
            return;
        }
    }
}

static void job_compact(vex_collection *c)
{
    int did = 1;
    if (pthread_mutex_trylock(&c->compact_mu) != 0)
        return; /* vex_compact runs; it does the work */
    while (did && !atomic_load(&c->closing) && !c->compact_failed)
        if (compact_once(c, 0, &did) != VEX_OK)
            break;
    pthread_mutex_unlock(&c->compact_mu);
}

void vx_coll_run_job(vex_collection *c, int kind)
{
    if (atomic_load(&c->closing))
        return;
    switch (kind) {
    case VEXI_JOB_FLUSH:
        job_flush(c);
        break;
    case VEXI_JOB_INDEX:
        job_index(c);
        break;
    case VEXI_JOB_COMPACT:
        job_compact(c);
        break;
    }
}

/* ---------------------------------------------------------------------
 * Reads: every one on a snapshot (V2)
 * ------------------------------------------------------------------- */

/* Copy the vector of `id` as of snapshot `s`. */
static int get_snap(vex_collection *c, const snap *s, uint64_t id, void *out)
{
    const version *v = s->v;
    uint64_t row, key;
    for (uint32_t i = v->n_mts; i-- > 0;)
        if (vx_mt_find(v->mts[i], id, s->seq, &row)) {
            memcpy(out, mt_row_vec(v->mts[i], row), c->vec_bytes);
            return VEX_OK;
        }
    for (uint32_t i = v->n_segs; i-- > 0;) {
        vseg *g = v->segs[i];
        vex_index *ix;
        int rc;
        if (!vx_seg_find(g->s, id, &key) || !vseg_visible(g, key, s->seq))
            continue;
        if ((rc = vx_vseg_index(g, &ix, &c->err)) != VEX_OK)
            return rc;
        if (vex_index_get(ix, key, out) != VEX_OK)
            return vx_err_set(&c->err, VEX_CORRUPT,
                              "%s: id %llu (key %llu) is listed but not in "
                              "the index",
                              vx_seg_path(g->s), (unsigned long long)id,
                              (unsigned long long)key);
        return VEX_OK;
    }
    return vx_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                      (unsigned long long)id);
}

int vex_get(vex_collection *c, uint64_t id, void *vector_out)
{
    snap s;
    int rc;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if (vector_out == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "vector_out is NULL");
    snap_take(c, &s);
    rc = get_snap(c, &s, id, vector_out);
    snap_drop(&s);
    return rc;
}

/* Copy the metadata of `id` as of snapshot `s` into `out`. */
static int get_meta_snap(vex_collection *c, const snap *s, uint64_t id,
                         vex_meta *out)
{
    const version *v = s->v;
    const vex_mem *om = vx_meta_mem(out);
    uint64_t row, key;
    for (uint32_t i = v->n_mts; i-- > 0;)
        if (vx_mt_find(v->mts[i], id, s->seq, &row)) {
            const vm_record *rec = mt_row_meta(v->mts[i], row);
            vm_record *copy = NULL;
            if (rec && vx_vm_record_copy(rec, om, &copy) != VEX_OK)
                return coll_nomem(c);
            vx_meta_take(out, copy);
            return VEX_OK;
        }
    for (uint32_t i = v->n_segs; i-- > 0;) {
        vseg *g = v->segs[i];
        vm_record *rec = NULL;
        int rc;
        if (!vx_seg_find(g->s, id, &key) || !vseg_visible(g, key, s->seq))
            continue;
        rc = vx_vseg_record(g, key, om, &rec, &c->err);
        if (rc != VEX_OK)
            return rc;
        vx_meta_take(out, rec);
        return VEX_OK;
    }
    vx_meta_take(out, NULL);
    return vx_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                      (unsigned long long)id);
}

int vex_get_meta(vex_collection *c, uint64_t id, vex_meta *out)
{
    snap s;
    int rc;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if (out == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "out is NULL");
    snap_take(c, &s);
    rc = get_meta_snap(c, &s, id, out);
    snap_drop(&s);
    return rc;
}

uint64_t vex_collection_count(vex_collection *c)
{
    if (!coll_usable(c))
        return 0;
    return atomic_load(&c->n_live);
}

/* A segment's search filter: the snapshot sees the key (V6), and the
 * user's filter accepts its id. */
typedef struct seg_filter {
    const vseg *g;
    uint64_t seq;
    vex_filter_fn user;
    void *user_ctx;
} seg_filter;

static int seg_accept(uint64_t key, void *ctx)
{
    const seg_filter *f = ctx;
    if (!vseg_visible(f->g, key, f->seq))
        return 0;
    return f->user == NULL || f->user(vx_seg_key_id(f->g->s, key), f->user_ctx);
}

/* k-NN of one segment at snapshot seq into `top`. When top is already
 * full (an earlier source), its worst distance is the cut of the graph
 * walk (vx_index_search_cut): the beam stops widening past it. */
static int search_seg(vex_collection *c, vseg *g, uint64_t seq,
                      const void *query, size_t k, const vex_search_params *up,
                      vex_hit *tmp, vex_topk *top)
{
    vex_search_params sp;
    seg_filter sf = {g, seq, up->filter, up->filter_ctx};
    vex_index *ix;
    size_t n = 0;
    int rc = vx_vseg_index(g, &ix, &c->err);
    if (rc != VEX_OK)
        return rc;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    if (g->info.index_kind == VEX_INDEX_HNSW) {
        sp.ef_search = up->ef_search;
        sp.filter_max_ef = up->filter_max_ef;
    }
    sp.refine = up->refine; /* checked against the config */
    /* deletes published after the snapshot have larger sequence numbers,
     * so a segment with no delete array now had none then */
    if (g->info.n_rows != g->info.n_keys || up->filter ||
        atomic_load_explicit(&g->del, memory_order_acquire) != NULL) {
        sp.filter = seg_accept;
        sp.filter_ctx = &sf;
    } else {
        sp.filter_max_ef = 0;
    }
    rc = vx_index_search_cut(ix, query, k, &sp, vex_topk_bound(top), tmp, &n);
    if (rc != VEX_OK)
        return vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                          vex_index_errmsg(ix));
    for (size_t i = 0; i < n; i++)
        vex_topk_push(top, tmp[i].distance, vx_seg_key_id(g->s, tmp[i].id));
    return VEX_OK;
}

/* ---- filtered search (see "Filtered search and scan" in vexdb.h) ---- */

struct vex_filter {
    vex_mem mem;
    vmf_filter *f;
    uint64_t id; /* unique in its database: names its match sets */
};

int vex_filter_parse(vex_collection *c, const char *text, vex_filter **out)
{
    vex_filter *f;
    int rc;
    if (out)
        *out = NULL;
    if (!coll_usable(c) || out == NULL)
        return VEX_MISUSE;
    if (text == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "filter text is NULL");
    f = vx_mem_calloc(c->mem, 1, sizeof *f);
    if (f == NULL)
        return coll_nomem(c);
    f->mem = *c->mem;
    f->id = atomic_fetch_add(&c->db->next_filter_id, 1) + 1;
    rc = vx_vmf_parse(text, strlen(text), c->schema, &f->mem, &c->err, &f->f);
    if (rc != VEX_OK) {
        vx_mem_free(c->mem, f);
        return rc;
    }
    *out = f;
    return VEX_OK;
}

void vex_filter_free(vex_filter *f)
{
    vex_mem mem;
    if (f == NULL)
        return;
    mem = f->mem;
    vx_vmf_free(f->f, &mem);
    vx_mem_free(&mem, f);
}

size_t vex_filter_print(const vex_filter *f, char *buf, size_t size)
{
    if (f == NULL) {
        if (buf && size)
            buf[0] = '\0';
        return 0;
    }
    return vx_vmf_print(f->f, buf, size);
}

/* ---- the public filter builder over the meta layer's (filter.h) ---- */

struct vex_filter_builder {
    vex_mem mem;
    vmf_builder *vb;
    int rc; /* the first failure this wrapper saw (argument checks) */
    char msg[256];
};

int vex_filter_builder_create(const vex_allocator *alloc,
                              vex_filter_builder **out)
{
    vex_mem mem;
    vex_filter_builder *b;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (vx_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    b = vx_mem_calloc(&mem, 1, sizeof *b);
    if (b == NULL)
        return VEX_NOMEM;
    b->mem = mem;
    if (vx_vmf_builder_new(&b->mem, &b->vb) != VEX_OK) {
        vx_mem_free(&mem, b);
        return VEX_NOMEM;
    }
    *out = b;
    return VEX_OK;
}

void vex_filter_builder_free(vex_filter_builder *b)
{
    vex_mem mem;
    if (b == NULL)
        return;
    mem = b->mem;
    vx_vmf_builder_free(b->vb);
    vx_mem_free(&mem, b);
}

static vex_expr *fb_fail(vex_filter_builder *b, const char *what)
{
    if (b->rc == VEX_OK) {
        b->rc = VEX_INVALID;
        snprintf(b->msg, sizeof b->msg, "filter builder: %s", what);
    }
    return NULL;
}

/* A literal as a meta value: 1, or 0 for a type a literal cannot have. */
static int fb_value(const vex_value *v, vm_value *out)
{
    switch (v->type) {
    case VEX_TYPE_BOOL:
        *out = vx_vm_bool(v->b != 0);
        return 1;
    case VEX_TYPE_INT:
        *out = vx_vm_int(v->i);
        return 1;
    case VEX_TYPE_DOUBLE:
        *out = vx_vm_double(v->d);
        return 1;
    case VEX_TYPE_STRING:
        if (v->s == NULL && v->len > 0)
            return 0;
        *out = vx_vm_string(v->s ? v->s : "", v->len);
        return 1;
    default:
        return 0;
    }
}

vex_expr *vex_expr_cmp(vex_filter_builder *b, const char *field, vex_cmp_op op,
                       vex_value v)
{
    vm_value x;
    if (b == NULL)
        return NULL;
    if (field == NULL || (unsigned)op > VEX_CMP_GE || !fb_value(&v, &x))
        return fb_fail(b, "comparison: NULL field, unknown operator or a "
                          "literal of no literal type");
    return (vex_expr *)vx_vmf_cmp(b->vb, field, (vmf_op)op, x);
}

vex_expr *vex_expr_in(vex_filter_builder *b, const char *field,
                      const vex_value *v, size_t n, int negate)
{
    vm_value *xs;
    vex_expr *e = NULL;
    if (b == NULL)
        return NULL;
    if (field == NULL || v == NULL || n == 0 || n > VMF_MAX_LIST)
        return fb_fail(b, "IN: NULL field or values, or not 1..1024 values");
    xs = vx_mem_alloc(&b->mem, n * sizeof *xs);
    if (xs == NULL)
        return fb_fail(b, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!fb_value(&v[i], &xs[i])) {
            vx_mem_free(&b->mem, xs);
            return fb_fail(b, "IN: a value of no literal type");
        }
    e = (vex_expr *)(negate ? vx_vmf_not_in(b->vb, field, xs, n)
                            : vx_vmf_in(b->vb, field, xs, n));
    vx_mem_free(&b->mem, xs);
    return e;
}

vex_expr *vex_expr_between(vex_filter_builder *b, const char *field,
                           vex_value lo, vex_value hi)
{
    vm_value l, h;
    if (b == NULL)
        return NULL;
    if (field == NULL || !fb_value(&lo, &l) || !fb_value(&hi, &h))
        return fb_fail(b, "BETWEEN: NULL field or a bound of no literal "
                          "type");
    return (vex_expr *)vx_vmf_between(b->vb, field, l, h);
}

vex_expr *vex_expr_contains(vex_filter_builder *b, const char *field,
                            const char *const *tags, size_t n, int all)
{
    vm_value *xs;
    vex_expr *e;
    if (b == NULL)
        return NULL;
    if (field == NULL || tags == NULL || n == 0 || n > VMF_MAX_LIST)
        return fb_fail(b, "CONTAINS: NULL field or tags, or not 1..1024 "
                          "tags");
    xs = vx_mem_alloc(&b->mem, n * sizeof *xs);
    if (xs == NULL)
        return fb_fail(b, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (tags[i] == NULL) {
            vx_mem_free(&b->mem, xs);
            return fb_fail(b, "CONTAINS: a NULL tag");
        }
        xs[i] = vx_vm_cstring(tags[i]);
    }
    if (n == 1 && !all)
        e = (vex_expr *)vx_vmf_contains(b->vb, field, xs[0]);
    else if (all)
        e = (vex_expr *)vx_vmf_contains_all(b->vb, field, xs, n);
    else
        e = (vex_expr *)vx_vmf_contains_any(b->vb, field, xs, n);
    vx_mem_free(&b->mem, xs);
    return e;
}

vex_expr *vex_expr_is_null(vex_filter_builder *b, const char *field, int negate)
{
    if (b == NULL)
        return NULL;
    if (field == NULL)
        return fb_fail(b, "IS NULL: NULL field");
    return (vex_expr *)(negate ? vx_vmf_is_not_null(b->vb, field)
                               : vx_vmf_is_null(b->vb, field));
}

vex_expr *vex_expr_and(vex_filter_builder *b, vex_expr *x, vex_expr *y)
{
    return b ? (vex_expr *)vx_vmf_and(b->vb, (vmf_expr *)x, (vmf_expr *)y)
             : NULL;
}

vex_expr *vex_expr_or(vex_filter_builder *b, vex_expr *x, vex_expr *y)
{
    return b ? (vex_expr *)vx_vmf_or(b->vb, (vmf_expr *)x, (vmf_expr *)y)
             : NULL;
}

vex_expr *vex_expr_not(vex_filter_builder *b, vex_expr *x)
{
    return b ? (vex_expr *)vx_vmf_not(b->vb, (vmf_expr *)x) : NULL;
}

int vex_filter_build(vex_collection *c, vex_filter_builder *b,
                     const vex_expr *root, vex_filter **out)
{
    vex_filter *f;
    int rc;
    if (out)
        *out = NULL;
    if (!coll_usable(c) || out == NULL)
        return VEX_MISUSE;
    if (b == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "builder is NULL");
    if (b->rc != VEX_OK)
        return vx_err_set(&c->err, b->rc, "%s", b->msg);
    f = vx_mem_calloc(c->mem, 1, sizeof *f);
    if (f == NULL)
        return coll_nomem(c);
    f->mem = *c->mem;
    f->id = atomic_fetch_add(&c->db->next_filter_id, 1) + 1;
    rc = vx_vmf_build(b->vb, (const vmf_expr *)root, c->schema, &f->mem,
                      &c->err, &f->f);
    if (rc != VEX_OK) {
        vx_mem_free(c->mem, f);
        return rc;
    }
    *out = f;
    return VEX_OK;
}

void vex_search_stats_init(vex_search_stats *st)
{
    if (st == NULL)
        return;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
}

int vex_scan(vex_collection *c, const vex_filter *where,
             int (*fn)(void *ctx, uint64_t id, const vex_meta *meta), void *ctx)
{
    vex_meta *m = NULL;
    snap s;
    int rc;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if (fn == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "fn is NULL");
    rc = vex_meta_create(c->db->opts.allocator, &m);
    if (rc != VEX_OK)
        return coll_nomem(c);
    snap_take(c, &s);
    for (uint32_t i = 0; i < s.v->n_mts && rc == VEX_OK; i++) {
        const memtable *mt = s.v->mts[i];
        uint64_t n = mt_rows(mt);
        for (uint64_t r = 0; r < n && rc == VEX_OK; r++) {
            const vm_record *rec;
            vm_record *copy = NULL;
            if (!mt_visible(mt, r, s.seq))
                continue;
            rec = mt_row_meta(mt, r);
            if (where && !vx_vmf_eval(where->f, rec))
                continue;
            if (rec &&
                vx_vm_record_copy(rec, vx_meta_mem(m), &copy) != VEX_OK) {
                rc = coll_nomem(c);
                break;
            }
            vx_meta_take(m, copy);
            rc = fn(ctx, mt_row_id(mt, r), m);
        }
    }
    for (uint32_t i = 0; i < s.v->n_segs && rc == VEX_OK; i++) {
        vseg *g = s.v->segs[i];
        const uint64_t *ids = vx_seg_ids(g->s), *rk = vx_seg_row_keys(g->s);
        const uint64_t *bits = NULL;
        uint64_t *scratch = NULL, cnt = 0;
        if (g->info.n_rows == 0)
            continue;
        if (where)
            rc = vx_vseg_match(g, where->id, where->f, &bits, &cnt, &scratch,
                               &c->err);
        for (uint64_t j = 0; j < g->info.n_rows && rc == VEX_OK; j++) {
            vm_record *copy = NULL;
            if (!vseg_visible(g, rk[j], s.seq))
                continue;
            if (bits && !((bits[rk[j] >> 6] >> (rk[j] & 63)) & 1))
                continue;
            rc = vx_vseg_record(g, rk[j], vx_meta_mem(m), &copy, &c->err);
            if (rc != VEX_OK) {
                vx_vm_record_free(copy, vx_meta_mem(m));
                break;
            }
            vx_meta_take(m, copy);
            rc = fn(ctx, ids[j], m);
        }
        vx_mem_free(c->mem, scratch);
    }
    snap_drop(&s);
    vex_meta_free(m);
    return rc;
}

/* Plan thresholds (vexdb.h): exact up to max(PLAN_EXACT_MIN, n / 100)
 * matches, post-filtering from 90% of the rows. */
#define PLAN_EXACT_MIN 4096
#define EXACT_BLOCK    64
#define EXACT_STACK    16384 /* bytes of vectors copied out at a time */
#define POST_STACK     256   /* post-filter candidates on the stack */

static int bit_is(const uint64_t *b, uint64_t k)
{
    return (int)((b[k >> 6] >> (k & 63)) & 1);
}

/* A segment key is a candidate when its record matched and the snapshot
 * sees it. */
typedef struct match_ctx {
    const uint64_t *bits;
    const vseg *g;
    uint64_t seq;
} match_ctx;

static int bits_accept(uint64_t key, void *ctx)
{
    const match_ctx *mc = ctx;
    return bit_is(mc->bits, key) && vseg_visible(mc->g, key, mc->seq);
}

/* The exact distance from `query` to every key set in `bits` (through
 * the segment's index: vectors copied out in blocks and scored with the
 * flat kernels, so distances are bit-identical to a flat search). */
static int seg_exact(vex_collection *c, vseg *g, vex_index *ix,
                     const uint64_t *bits, uint64_t seq, const void *query,
                     vex_topk *top)
{
    const vex_simd_table *st = vx_simd();
    /* vectors are copied out in blocks through a stack buffer (no
     * allocation) unless one vector is bigger than it */
    _Alignas(64) unsigned char stack[EXACT_STACK];
    size_t block = EXACT_STACK / c->vec_bytes;
    unsigned char *buf = stack;
    float aux[EXACT_BLOCK], dist[EXACT_BLOCK], qaux;
    uint64_t keys[EXACT_BLOCK], n_keys = g->info.n_keys;
    size_t cnt = 0;
    int f32 = c->icfg.elem == VEX_ELEM_F32;
    if (block > EXACT_BLOCK)
        block = EXACT_BLOCK;
    if (block == 0) {
        block = 1;
        buf = vx_mem_alloc(c->mem, c->vec_bytes);
        if (buf == NULL)
            return coll_nomem(c);
    }
    qaux = f32 ? vx_exact_query_aux(&c->icfg, st, query) : 0.0f;
    for (uint64_t w = 0; w < (n_keys + 63) / 64; w++) {
        uint64_t word = bits[w];
        while (word) {
            uint64_t key = w * 64 + (uint64_t)__builtin_ctzll(word);
            unsigned char *v = buf + cnt * c->vec_bytes;
            word &= word - 1;
            if (!vseg_visible(g, key, seq))
                continue;
            if (vex_index_get(ix, key, v) != VEX_OK) {
                if (buf != stack)
                    vx_mem_free(c->mem, buf);
                return vx_err_set(&c->err, VEX_CORRUPT,
                                  "%s: key %llu is live but not in the index",
                                  vx_seg_path(g->s), (unsigned long long)key);
            }
            aux[cnt] = f32 ? vx_exact_vec_aux(&c->icfg, st, v) : 0.0f;
            keys[cnt++] = key;
            if (cnt == block) {
                vx_exact_block(&c->icfg, st, query, qaux, buf, cnt, aux, dist);
                for (size_t j = 0; j < cnt; j++)
                    vex_topk_push(top, dist[j], vx_seg_key_id(g->s, keys[j]));
                cnt = 0;
            }
        }
    }
    if (cnt) {
        vx_exact_block(&c->icfg, st, query, qaux, buf, cnt, aux, dist);
        for (size_t j = 0; j < cnt; j++)
            vex_topk_push(top, dist[j], vx_seg_key_id(g->s, keys[j]));
    }
    if (buf != stack)
        vx_mem_free(c->mem, buf);
    return VEX_OK;
}

/* k-NN over the rows of segment g visible at the snapshot whose metadata
 * `where` matches: the filter's match set (cached in the segment), then
 * the plan from its size m (deletes not subtracted: an estimate). */
static int search_seg_where(vex_collection *c, vseg *g, const snap *sn,
                            const void *query, size_t k,
                            const vex_search_params *up, vex_hit *tmp,
                            vex_topk *top)
{
    const vex_filter *vf = up->where;
    const uint64_t *bits;
    uint64_t *scratch = NULL, m = 0, n = g->info.n_rows;
    vex_hit post_stack[POST_STACK], *more = NULL;
    vex_index *ix;
    vex_search_params sp;
    match_ctx mc;
    size_t nh = 0, want;
    int rc, plan;
    rc = vx_vseg_match(g, vf->id, vf->f, &bits, &m, &scratch, &c->err);
    if (rc == VEX_OK)
        rc = vx_vseg_index(g, &ix, &c->err);
    if (rc != VEX_OK)
        goto out;
    if (sn->qs)
        atomic_fetch_add(&sn->qs->matched, m);
    if (m == 0)
        goto out;
    mc.bits = bits;
    mc.g = g;
    mc.seq = sn->seq;
    want = k < m ? k : (size_t)m;
    if (g->info.index_kind != VEX_INDEX_HNSW ||
        m <= (n / 100 > PLAN_EXACT_MIN ? n / 100 : PLAN_EXACT_MIN))
        plan = 0;
    else if (m * 10 >= n * 9)
        plan = 2;
    else
        plan = 1;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    if (plan == 0 && g->info.index_kind != VEX_INDEX_HNSW) {
        /* a flat index is exact with the match set as its filter */
        sp.filter = bits_accept;
        sp.filter_ctx = &mc;
        rc = vex_index_search(ix, query, k, &sp, tmp, &nh);
        if (rc != VEX_OK) {
            rc = vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                            vex_index_errmsg(ix));
            goto out;
        }
        for (size_t i = 0; i < nh; i++)
            vex_topk_push(top, tmp[i].distance, vx_seg_key_id(g->s, tmp[i].id));
    } else if (plan == 0) {
        rc = seg_exact(c, g, ix, bits, sn->seq, query, top);
    } else if (plan == 1) {
        sp.ef_search = up->ef_search;
        sp.filter_max_ef = up->filter_max_ef;
        sp.filter = bits_accept;
        sp.filter_ctx = &mc;
        rc = vex_index_search(ix, query, k, &sp, tmp, &nh);
        if (rc != VEX_OK) {
            rc = vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                            vex_index_errmsg(ix));
            goto out;
        }
        if (nh >= want) {
            for (size_t i = 0; i < nh; i++)
                vex_topk_push(top, tmp[i].distance,
                              vx_seg_key_id(g->s, tmp[i].id));
        } else {
            if (sn->qs)
                atomic_fetch_add(&sn->qs->fallbacks, 1);
            rc = seg_exact(c, g, ix, bits, sn->seq, query, top);
        }
    } else {
        /* post-filter: enough candidates that about k of them match */
        seg_filter sf = {g, sn->seq, NULL, NULL};
        double extra = (double)k * (double)(n - m) / (double)m * 2.0;
        size_t kk = k + (size_t)extra + 8, got = 0;
        if (kk > VEX_MAX_K)
            kk = VEX_MAX_K;
        if (kk > n)
            kk = (size_t)n;
        more = kk <= POST_STACK ? post_stack
                                : vx_mem_alloc(c->mem, kk * sizeof *more);
        if (more == NULL) {
            rc = coll_nomem(c);
            goto out;
        }
        sp.ef_search = up->ef_search > kk ? up->ef_search : (uint32_t)kk;
        if (g->info.n_rows != g->info.n_keys ||
            atomic_load_explicit(&g->del, memory_order_acquire) != NULL) {
            sp.filter = seg_accept;
            sp.filter_ctx = &sf;
        }
        rc = vex_index_search(ix, query, kk, &sp, more, &nh);
        if (rc != VEX_OK) {
            rc = vx_err_set(&c->err, rc, "%s: %s", vx_seg_path(g->s),
                            vex_index_errmsg(ix));
            goto out;
        }
        for (size_t i = 0; i < nh; i++)
            got += (size_t)bit_is(bits, more[i].id);
        if (got >= want) {
            for (size_t i = 0; i < nh; i++)
                if (bit_is(bits, more[i].id))
                    vex_topk_push(top, more[i].distance,
                                  vx_seg_key_id(g->s, more[i].id));
        } else {
            if (sn->qs)
                atomic_fetch_add(&sn->qs->fallbacks, 1);
            rc = seg_exact(c, g, ix, bits, sn->seq, query, top);
        }
    }
    if (sn->qs)
        atomic_fetch_add(plan == 0   ? &sn->qs->exact
                         : plan == 1 ? &sn->qs->graph
                                     : &sn->qs->post,
                         1);
out:
    if (more != post_stack)
        vx_mem_free(c->mem, more);
    vx_mem_free(c->mem, scratch);
    return rc;
}

/* Check the arguments common to vex_search and vex_search_batch. */
static int check_search(vex_collection *c, size_t k,
                        const vex_search_params *params)
{
    if (k == 0 || k > VEX_MAX_K)
        return vx_err_set(&c->err, VEX_INVALID, "k is %zu, must be 1..%d", k,
                          VEX_MAX_K);
    if (params->struct_size != sizeof(vex_search_params))
        return vx_err_set(&c->err, VEX_MISUSE,
                          "params.struct_size is %u, expected %zu: fill the "
                          "struct with vex_search_params_init()",
                          params->struct_size, sizeof(vex_search_params));
    if (params->n_threads > VEX_MAX_THREADS)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.n_threads is %u, must be 0..%d",
                          params->n_threads, VEX_MAX_THREADS);
    if (params->ef_search > VEX_MAX_K || params->filter_max_ef > VEX_MAX_K)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.ef_search and filter_max_ef must be "
                          "0..%d",
                          VEX_MAX_K);
    if (params->filter_max_ef && params->filter == NULL &&
        params->where == NULL)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.filter_max_ef is set but there is no "
                          "filter");
    if (params->refine != 0.0f &&
        (c->cfg.quant == 0 ||
         !(params->refine >= 1.0f && params->refine <= 1000.0f)))
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.refine is %g: it must be 0, or 1..1000 "
                          "for a collection with a quantizer",
                          (double)params->refine);
    if (params->filter && params->where)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.filter and params.where cannot be "
                          "combined");
    if ((params->ef_search || params->filter_max_ef) &&
        c->cfg.index_kind == VEX_INDEX_FLAT)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.ef_search and filter_max_ef must be 0 for "
                          "a flat collection, which is exact");
    return VEX_OK;
}

/* Search source i of snapshot s (memtables first, then segments). */
static int search_source(vex_collection *c, const snap *s, uint32_t i,
                         const void *query, size_t k,
                         const vex_search_params *p, vex_hit *tmp,
                         vex_topk *top)
{
    if (i < s->v->n_mts) {
        const memtable *m = s->v->mts[i];
        size_t plan = 0;
        int rc;
        if (mt_rows(m) == 0)
            return VEX_OK;
        if (s->qs)
            atomic_fetch_add(&s->qs->sources, 1);
        if (p->where == NULL)
            return vx_mt_search(m, query, k, s->seq, p->filter, p->filter_ctx,
                                p->ef_search, p->filter_max_ef, tmp, top,
                                &c->err);
        rc = vx_mt_search_where(m, query, k, s->seq, p->where->f, 0,
                                p->ef_search, p->filter_max_ef, tmp, top, &plan,
                                &c->err);
        if (s->qs)
            atomic_fetch_add(plan == MT_PLAN_EXACT   ? &s->qs->exact
                             : plan == MT_PLAN_GRAPH ? &s->qs->graph
                                                     : &s->qs->fallbacks,
                             1);
        return rc;
    }
    i -= s->v->n_mts;
    if (s->v->segs[i]->info.n_rows == 0)
        return VEX_OK;
    if (s->qs)
        atomic_fetch_add(&s->qs->sources, 1);
    if (p->where)
        return search_seg_where(c, s->v->segs[i], s, query, k, p, tmp, top);
    return search_seg(c, s->v->segs[i], s->seq, query, k, p, tmp, top);
}

static uint64_t source_rows(const snap *s, uint32_t i)
{
    if (i < s->v->n_mts)
        return mt_rows(s->v->mts[i]);
    return s->v->segs[i - s->v->n_mts]->info.n_rows;
}

/* Fan-out: one task per source, each into its own top-k. A source of
 * fewer than FANOUT_MIN_ROWS rows is not worth a hand-off to a worker;
 * below two big sources the search stays on the calling thread. */
#define FANOUT_MIN_ROWS 20000
#define FANOUT_STACK    2048 /* hits on the stack: sources x k x 2 */

typedef struct fanout {
    vex_collection *c;
    const snap *s;
    const void *query;
    size_t k;
    const vex_search_params *p;
    vex_hit *space; /* per source: k result slots, then k scratch */
    size_t *counts;
    int *rcs;
} fanout;

static void fanout_task(void *arg, size_t task, unsigned worker)
{
    fanout *f = arg;
    vex_hit *res = f->space + task * 2 * f->k;
    vex_topk top;
    (void)worker;
    vex_topk_init(&top, res, f->k);
    f->rcs[task] = search_source(f->c, f->s, (uint32_t)task, f->query, f->k,
                                 f->p, res + f->k, &top);
    f->counts[task] = top.n;
}

/* k-NN over snapshot s into `top`; `tmp` has room for k hits. */
static int search_snap(vex_collection *c, const snap *s, const void *query,
                       size_t k, const vex_search_params *p, unsigned width,
                       vex_hit *tmp, vex_topk *top)
{
    uint32_t n_src = s->v->n_mts + s->v->n_segs, big = 0;
    int rc = VEX_OK;
    for (uint32_t i = 0; i < n_src; i++)
        big += source_rows(s, i) >= FANOUT_MIN_ROWS;
    if (width > 1 && big >= 2) {
        vex_hit stack_space[FANOUT_STACK];
        size_t stack_counts[64];
        int stack_rcs[64];
        size_t need = (size_t)n_src * 2 * k;
        fanout f = {c, s, query, k, p, stack_space, stack_counts, stack_rcs};
        if (need > FANOUT_STACK || n_src > 64) {
            f.space = vx_mem_alloc(c->mem, need * sizeof *f.space);
            f.counts = vx_mem_alloc(c->mem, n_src * sizeof *f.counts);
            f.rcs = vx_mem_alloc(c->mem, n_src * sizeof *f.rcs);
            if (f.space == NULL || f.counts == NULL || f.rcs == NULL) {
                vx_mem_free(c->mem, f.space);
                vx_mem_free(c->mem, f.counts);
                vx_mem_free(c->mem, f.rcs);
                return coll_nomem(c);
            }
        }
        vx_pool_run(c->db->pool, n_src, width, fanout_task, &f);
        for (uint32_t i = 0; i < n_src; i++) {
            const vex_hit *res = f.space + (size_t)i * 2 * k;
            if (f.rcs[i] != VEX_OK && rc == VEX_OK)
                rc = f.rcs[i];
            for (size_t j = 0; j < f.counts[i]; j++)
                vex_topk_push(top, res[j].distance, res[j].id);
        }
        if (f.space != stack_space) {
            vx_mem_free(c->mem, f.space);
            vx_mem_free(c->mem, f.counts);
            vx_mem_free(c->mem, f.rcs);
        }
        return rc;
    }
    /* One after another, the largest source first: its k results give
     * the smaller sources a cut (see search_seg) that stops their graph
     * walks once nothing nearer can be found, which is most of the cost
     * of many small sources at a large ef. */
    uint32_t first = 0;
    for (uint32_t i = 1; i < n_src; i++)
        if (source_rows(s, i) > source_rows(s, first))
            first = i;
    if (n_src)
        rc = search_source(c, s, first, query, k, p, tmp, top);
    for (uint32_t i = 0; i < n_src && rc == VEX_OK; i++)
        if (i != first)
            rc = search_source(c, s, i, query, k, p, tmp, top);
    return rc;
}

static unsigned search_width(vex_collection *c, const vex_search_params *p)
{
    return vx_pool_width(c->db->pool, p->n_threads);
}

int vex_search(vex_collection *c, const void *query, size_t k,
               const vex_search_params *params, vex_hit *hits,
               void *vectors_out, size_t *n_hits)
{
    vex_search_params dflt;
    vex_hit stack_tmp[256], *tmp = stack_tmp;
    vex_topk top;
    char why[160];
    snap s;
    qstats qs;
    int rc = VEX_OK;

    if (!coll_usable(c))
        return VEX_MISUSE;
    if (n_hits)
        *n_hits = 0;
    if (query == NULL || hits == NULL || n_hits == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "query, hits and n_hits must not be NULL");
    if (params == NULL) {
        vex_search_params_init(&dflt);
        params = &dflt;
    }
    if ((rc = check_search(c, k, params)) != VEX_OK)
        return rc;
    if (vx_vector_check(&c->icfg, query, why, sizeof why) != VEX_OK)
        return vx_err_set(&c->err, VEX_INVALID, "query: %s", why);
    if (params->stats && params->stats->struct_size != sizeof(vex_search_stats))
        return vx_err_set(&c->err, VEX_MISUSE,
                          "params.stats.struct_size is %u, expected %zu: "
                          "fill it with vex_search_stats_init()",
                          params->stats->struct_size, sizeof(vex_search_stats));
    atomic_init(&qs.sources, 0);
    atomic_init(&qs.exact, 0);
    atomic_init(&qs.graph, 0);
    atomic_init(&qs.post, 0);
    atomic_init(&qs.fallbacks, 0);
    atomic_init(&qs.matched, 0);
    if (k > sizeof stack_tmp / sizeof stack_tmp[0]) {
        tmp = vx_mem_alloc(c->mem, k * sizeof *tmp);
        if (tmp == NULL)
            return coll_nomem(c);
    }
    vex_topk_init(&top, hits, k);
    snap_take(c, &s);
    s.qs = params->stats ? &qs : NULL;
    rc = search_snap(c, &s, query, k, params, search_width(c, params), tmp,
                     &top);
    if (params->stats) {
        vex_search_stats *st = params->stats;
        st->sources = atomic_load(&qs.sources);
        st->rows_matched = atomic_load(&qs.matched);
        st->plan_exact = atomic_load(&qs.exact);
        st->plan_graph = atomic_load(&qs.graph);
        st->plan_post = atomic_load(&qs.post);
        st->fallbacks = atomic_load(&qs.fallbacks);
    }
    if (rc == VEX_OK) {
        *n_hits = vx_topk_sort(&top);
        for (size_t i = 0; vectors_out && i < *n_hits && rc == VEX_OK; i++)
            rc = get_snap(c, &s, hits[i].id,
                          (unsigned char *)vectors_out + i * c->vec_bytes);
        for (size_t i = 0; params->meta_out && i < *n_hits && rc == VEX_OK; i++)
            rc = params->meta_out[i] == NULL
                     ? vx_err_set(&c->err, VEX_MISUSE,
                                  "params.meta_out[%zu] is NULL", i)
                     : get_meta_snap(c, &s, hits[i].id, params->meta_out[i]);
        if (rc != VEX_OK)
            *n_hits = 0;
    }
    snap_drop(&s);
    if (tmp != stack_tmp)
        vx_mem_free(c->mem, tmp);
    return rc;
}

/* Batch: queries spread over the pool, each searched on the calling
 * worker over every source of one shared snapshot. */
typedef struct batch_job {
    vex_collection *c;
    const snap *s;
    const unsigned char *queries;
    size_t k;
    const vex_search_params *p;
    vex_hit *hits, *scratch; /* scratch: k per worker */
    size_t *n_hits;
    int *rcs; /* per worker: first failure */
} batch_job;

static void search_batch_task(void *arg, size_t task, unsigned worker)
{
    batch_job *b = arg;
    vex_topk top;
    int rc;
    if (b->rcs[worker] != VEX_OK)
        return;
    vex_topk_init(&top, b->hits + task * b->k, b->k);
    rc = search_snap(b->c, b->s, b->queries + task * b->c->vec_bytes, b->k,
                     b->p, 1, b->scratch + (size_t)worker * b->k, &top);
    b->n_hits[task] = rc == VEX_OK ? vx_topk_sort(&top) : 0;
    if (rc != VEX_OK)
        b->rcs[worker] = rc;
}

int vex_search_batch(vex_collection *c, const void *queries, size_t n_queries,
                     size_t k, const vex_search_params *params, vex_hit *hits,
                     size_t *n_hits)
{
    vex_search_params dflt;
    batch_job b;
    snap s;
    unsigned width;
    char why[160];
    int rc;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if ((queries == NULL && n_queries) || hits == NULL || n_hits == NULL)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "queries, hits and n_hits must not be NULL");
    if (params == NULL) {
        vex_search_params_init(&dflt);
        params = &dflt;
    }
    if ((rc = check_search(c, k, params)) != VEX_OK)
        return rc;
    if (params->meta_out || params->stats)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.%s applies to vex_search only",
                          params->meta_out ? "meta_out" : "stats");
    for (size_t i = 0; i < n_queries; i++)
        if (vx_vector_check(&c->icfg,
                            (const unsigned char *)queries + i * c->vec_bytes,
                            why, sizeof why) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "query %zu: %s", i, why);
    if (n_queries == 0)
        return VEX_OK;
    width = search_width(c, params);
    memset(&b, 0, sizeof b);
    b.c = c;
    b.s = &s;
    b.queries = queries;
    b.k = k;
    b.p = params;
    b.hits = hits;
    b.n_hits = n_hits;
    b.scratch = vx_mem_alloc(c->mem, (size_t)width * k * sizeof *b.scratch);
    b.rcs = vx_mem_calloc(c->mem, width, sizeof *b.rcs);
    if (b.scratch == NULL || b.rcs == NULL) {
        vx_mem_free(c->mem, b.scratch);
        vx_mem_free(c->mem, b.rcs);
        return coll_nomem(c);
    }
    snap_take(c, &s);
    vx_pool_run(c->db->pool, n_queries, width, search_batch_task, &b);
    snap_drop(&s);
    for (unsigned w = 0; w < width && rc == VEX_OK; w++)
        rc = b.rcs[w];
    vx_mem_free(c->mem, b.scratch);
    vx_mem_free(c->mem, b.rcs);
    if (rc != VEX_OK)
        memset(n_hits, 0, n_queries * sizeof *n_hits);
    return rc;
}

void vex_collection_get_config(const vex_collection *c,
                               vex_collection_config *out)
{
    if (out == NULL)
        return;
    vex_collection_config_init(out);
    if (c == NULL)
        return;
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
    if (c->schema) {
        out->schema_fields = c->schema_pub;
        out->n_schema_fields = (uint32_t)vx_vm_schema_n_fields(c->schema);
        out->schema_closed = (uint32_t)vx_vm_schema_closed(c->schema);
    }
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
 * Statistics
 * ------------------------------------------------------------------- */

void vex_stats_init(vex_stats *st)
{
    if (st == NULL)
        return;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
}

typedef struct du_ctx {
    vex_collection *c;
    const char *dir;
    uint64_t bytes;
} du_ctx;

static int du_entry(void *arg, const char *name, int kind)
{
    du_ctx *d = arg;
    vex_vfs *vfs = d->c->db->vfs;
    char *p;
    vex_file *f = NULL;
    uint64_t size = 0;
    if (kind != VEX_VFS_FILE)
        return 0;
    p = vx_path_join(d->c->mem, d->dir, name);
    if (p == NULL)
        return 0;
    if (vfs->methods->open(vfs, p, VX_FILE_READONLY, &f, NULL) == VEX_OK) {
        if (vfs->methods->size(f, &size, NULL) == VEX_OK)
            d->bytes += size;
        vfs->methods->close(f, NULL);
    }
    vx_mem_free(d->c->mem, p);
    return 0;
}

int vex_stats_get(vex_collection *c, vex_stats *st)
{
    snap s;
    du_ctx d;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if (st == NULL || st->struct_size != sizeof *st)
        return vx_err_set(&c->err, VEX_MISUSE,
                          "stats is NULL or not filled by vex_stats_init()");
    vex_stats_init(st);
    snap_take(c, &s);
    st->live_rows = atomic_load(&c->n_live);
    st->memtables = s.v->n_mts;
    st->frozen_memtables = s.v->n_mts - 1;
    for (uint32_t i = 0; i < s.v->n_mts; i++) {
        const memtable *m = s.v->mts[i];
        uint64_t n = mt_rows(m);
        st->memtable_rows += n;
        st->memtable_bytes += vx_mt_memory(m);
        if (m->ix)
            st->unindexed_rows += n - mt_indexed(m);
    }
    st->segments = s.v->n_segs;
    for (uint32_t i = 0; i < s.v->n_segs; i++) {
        const vseg *g = s.v->segs[i];
        st->segment_rows += g->info.n_keys;
        st->deleted_rows += vseg_dead(g);
        st->segment_bytes += g->info.file_size;
    }
    st->last_seq = s.seq;
    snap_drop(&s);
    st->flushed_seq = atomic_load(&c->flushed_seq);
    st->flushes = atomic_load(&c->n_flushes);
    st->compactions = atomic_load(&c->n_compactions);
    st->compacted_rows = atomic_load(&c->n_compacted_rows);
    st->write_stalls = atomic_load(&c->n_stalls);
    d.c = c;
    d.bytes = 0;
    d.dir = c->dir;
    (void)c->db->vfs->methods->list(c->db->vfs, c->dir, du_entry, &d, NULL);
    d.dir = c->wal_dir;
    (void)c->db->vfs->methods->list(c->db->vfs, c->wal_dir, du_entry, &d, NULL);
    st->disk_bytes = d.bytes;
    return VEX_OK;
}

int vex_stats_segments(vex_collection *c, vex_segment_stats *out, size_t cap,
                       size_t *n)
{
    snap s;
    if (!coll_usable(c))
        return VEX_MISUSE;
    if (n == NULL || (out == NULL && cap > 0))
        return vx_err_set(&c->err, VEX_MISUSE,
                          "n is NULL, or out is NULL with cap > 0");
    snap_take(c, &s);
    *n = s.v->n_segs;
    for (size_t i = 0; i < cap && i < s.v->n_segs; i++) {
        const vseg *g = s.v->segs[i];
        out[i].number = g->info.number;
        out[i].rows = g->info.n_keys;
        out[i].live_rows = vseg_live_rows(g);
        out[i].file_bytes = g->info.file_size;
        out[i].index_kind = (vex_index_kind)g->info.index_kind;
    }
    snap_drop(&s);
    return VEX_OK;
}

/* ---------------------------------------------------------------------
 * Open and recovery
 * ------------------------------------------------------------------- */

static int replay_record(void *ctx, uint64_t seq, const void *payload, size_t n)
{
    vex_collection *c = ctx;
    const unsigned char *p = payload;
    size_t pos;
    uint32_t n_ops, i;
    char why[160];
    int kind, rc = VEX_OK;
    uint64_t id;
    const void *vec;
    const unsigned char *meta;
    size_t meta_len;
    if (n < REC_HEADER || vex_get_u32le(p) != REC_MAGIC)
        return vx_err_set(&c->err, VEX_CORRUPT,
                          "%s: log record %llu: bad operation header",
                          c->wal_dir, (unsigned long long)seq);
    n_ops = vex_get_u32le(p + 4);
    for (i = 0, pos = REC_HEADER; i < n_ops; i++) {
        size_t used =
            op_decode(c, p + pos, n - pos, &kind, &id, &vec, &meta, &meta_len);
        if (used == 0)
            return vx_err_set(&c->err, VEX_CORRUPT,
                              "%s: log record %llu: operation %u at byte %zu "
                              "is malformed",
                              c->wal_dir, (unsigned long long)seq, i, pos);
        if (kind == OP_SETMETA)
            return vx_err_set(&c->err, VEX_CORRUPT,
                              "%s: log record %llu: operation %u at byte %zu "
                              "is a metadata update without a vector (never "
                              "logged)",
                              c->wal_dir, (unsigned long long)seq, i, pos);
        if (vec && (vec = vec_aligned(c, vec)) == NULL)
            return coll_nomem(c);
        if (vec && vx_vector_check(&c->icfg, vec, why, sizeof why) != VEX_OK)
            return vx_err_set(&c->err, VEX_CORRUPT,
                              "%s: log record %llu: operation %u: %s",
                              c->wal_dir, (unsigned long long)seq, i, why);
        if (meta_len) {
            vm_record *rec = NULL;
            vex_err e;
            vx_err_init(&e);
            rc = vx_vm_record_decode(meta, meta_len, c->mem, &e, &rec);
            vx_vm_record_free(rec, c->mem);
            if (rc != VEX_OK) {
                char msg[VEX_ERRMSG_MAX];
                vx_err_copy(&e, msg, sizeof msg);
                vx_err_destroy(&e);
                return vx_err_set(&c->err, rc == VEX_NOMEM ? rc : VEX_CORRUPT,
                                  "%s: log record %llu: operation %u at byte "
                                  "%zu: %s",
                                  c->wal_dir, (unsigned long long)seq, i, pos,
                                  msg);
            }
            vx_err_destroy(&e);
        }
        pos += used;
    }
    if (pos != n)
        return vx_err_set(&c->err, VEX_CORRUPT,
                          "%s: log record %llu: %zu bytes after the last of "
                          "%u operations",
                          c->wal_dir, (unsigned long long)seq, n - pos, n_ops);
    /* a full memtable is frozen, as on the write path (its flush runs
     * once the collection is open) */
    if (active_full(c) && (rc = freeze(c)) != VEX_OK)
        return rc;
    for (i = 0, pos = REC_HEADER; i < n_ops && rc == VEX_OK; i++) {
        pos +=
            op_decode(c, p + pos, n - pos, &kind, &id, &vec, &meta, &meta_len);
        rc = apply_op(c, kind, id, vec, meta, meta_len, seq);
    }
    if (rc == VEX_OK) {
        c->last_seq = seq;
        c->visible_seq = seq;
    }
    return rc;
}
/* Files the manifest does not reference are leftovers of interrupted
 * flushes: remove them (only segment and manifest names we made). */
typedef struct orphan_ctx {
    vex_collection *c;
    const manifest *m;
    int removed;
} orphan_ctx;

static int orphan_entry(void *arg, const char *name, int kind)
{
    orphan_ctx *o = arg;
    uint64_t num;
    int keep = 1;
    if (kind != VEX_VFS_FILE)
        return 0;
    if (vx_seg_parse_name(name, &num)) {
        keep = 0;
        for (uint32_t i = 0; i < o->m->n_segments; i++)
            if (o->m->segs[i].number == num)
                keep = 1;
    } else if (vx_manifest_parse_name(name, &num)) {
        keep = num == o->m->number;
    } else if (strcmp(name, "CURRENT.tmp") == 0) {
        keep = 0;
    }
    if (!keep) {
        char *p = vx_path_join(o->c->mem, o->c->dir, name);
        if (p == NULL)
            return coll_nomem(o->c);
        if (o->c->db->vfs->methods->remove(o->c->db->vfs, p, &o->c->err) ==
            VEX_OK)
            o->removed = 1;
        vx_mem_free(o->c->mem, p);
    }
    return 0;
}

/* The segments of manifest `m`, opened, with their deletes, into a first
 * version (with one empty memtable). */
static int open_segments(vex_collection *c, const manifest *m)
{
    vseg **segs;
    memtable *mt = NULL;
    uint32_t n = 0;
    int rc = VEX_OK;
    segs =
        vx_mem_calloc(c->mem, m->n_segments ? m->n_segments : 1, sizeof *segs);
    if (segs == NULL)
        return coll_nomem(c);
    for (uint32_t i = 0; i < m->n_segments && rc == VEX_OK; i++) {
        const man_segment *ms = &m->segs[i];
        vseg *g;
        char *path;
        uint64_t key;
        if ((rc = seg_path_of(c, ms->number, &path)) != VEX_OK)
            break;
        rc = vx_vseg_open(c->db->vfs, path, ms->number, c->mem, c->db->pool,
                          &c->err, &g);
        vx_mem_free(c->mem, path);
        if (rc != VEX_OK)
            break;
        segs[n++] = g;
        if (g->info.n_rows != ms->n_rows ||
            g->info.file_size != ms->file_size || g->info.dim != c->cfg.dim ||
            g->info.elem != c->cfg.elem || g->info.metric != c->cfg.metric) {
            rc = vx_err_set(&c->err, VEX_CORRUPT,
                            "%s: holds %llu rows of dim %u in %llu bytes; "
                            "the manifest says %llu rows of dim %u in %llu",
                            vx_seg_path(g->s),
                            (unsigned long long)g->info.n_rows, g->info.dim,
                            (unsigned long long)g->info.file_size,
                            (unsigned long long)ms->n_rows, c->cfg.dim,
                            (unsigned long long)ms->file_size);
            break;
        }
        for (uint64_t j = 0; j < ms->n_deleted && rc == VEX_OK; j++) {
            if (!vx_seg_find(g->s, ms->deleted[j], &key))
                rc = vx_err_set(&c->err, VEX_CORRUPT,
                                "MANIFEST-%016llx: deleted id %llu is not "
                                "in %s",
                                (unsigned long long)m->number,
                                (unsigned long long)ms->deleted[j],
                                vx_seg_path(g->s));
            else if (vx_vseg_delete(g, key, 1) != VEX_OK)
                rc = coll_nomem(c);
        }
        atomic_fetch_add(&c->n_live, ms->n_rows - ms->n_deleted);
    }
    if (rc == VEX_OK)
        rc = memt_new(c, &mt);
    if (rc == VEX_OK)
        rc = version_from(c, &mt, 1, segs, n, &c->cur);
    vx_mt_unref(mt);
    for (uint32_t i = 0; i < n; i++)
        vx_vseg_unref(segs[i]);
    vx_mem_free(c->mem, segs);
    return rc;
}

/* The manifest's schema blob: decoded strictly, kept for the next
 * manifests, and the public view built (names NUL-terminated). */
static int load_schema(vex_collection *c, manifest *m)
{
    const vm_schema_field *f;
    size_t n, bytes = 0;
    char *p;
    int rc = vx_vm_schema_decode(m->schema, m->schema_len, c->mem, &c->err,
                                 &c->schema);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&c->err, msg, sizeof msg);
        return vx_err_set(&c->err, rc, "%s: manifest %llu: %s", c->dir,
                          (unsigned long long)m->number, msg);
    }
    c->schema_blob = m->schema; /* taken over */
    c->schema_len = m->schema_len;
    m->schema = NULL;
    m->schema_len = 0;
    n = vx_vm_schema_n_fields(c->schema);
    f = vx_vm_schema_fields(c->schema);
    for (size_t i = 0; i < n; i++)
        bytes += f[i].name.len + 1;
    c->schema_pub = vx_mem_calloc(c->mem, n ? n : 1, sizeof *c->schema_pub);
    c->schema_names = vx_mem_alloc(c->mem, bytes ? bytes : 1);
    if (c->schema_pub == NULL || c->schema_names == NULL)
        return coll_nomem(c);
    for (size_t i = 0, at = 0; i < n; i++) {
        p = c->schema_names + at;
        memcpy(p, f[i].name.p, f[i].name.len);
        p[f[i].name.len] = '\0';
        at += f[i].name.len + 1;
        c->schema_pub[i].name = p;
        c->schema_pub[i].type = (vex_type)f[i].type;
        c->schema_pub[i].nullable = f[i].nullable;
    }
    return VEX_OK;
}

static int coll_load(vex_collection *c)
{
    manifest m;
    wal_options wo;
    wal_replay_stats st;
    orphan_ctx oc;
    int rc;

    memset(&m, 0, sizeof m);
    rc = vx_manifest_load(c->db->vfs, c->dir, c->mem, &c->err, &m);
    if (rc == VEX_NOTFOUND)
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: a collection directory without CURRENT", c->dir);
    if (rc != VEX_OK)
        goto out;
    if (strcmp(m.config.name, c->name) != 0) {
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: the manifest names collection \"%s\"", c->dir,
                        m.config.name);
        goto out;
    }
    c->cfg = m.config;
    c->icfg.elem = (vex_elem)c->cfg.elem;
    c->icfg.metric = (vex_metric)c->cfg.metric;
    c->icfg.dim = c->cfg.dim;
    c->vec_bytes = vex_vector_size(c->icfg.elem, c->icfg.dim);
    c->icfg.vec_bytes = c->vec_bytes;
    if (c->vec_bytes == 0 || (c->cfg.index_kind != VEX_INDEX_FLAT &&
                              c->cfg.index_kind != VEX_INDEX_HNSW)) {
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: manifest configuration is invalid", c->dir);
        goto out;
    }
    c->vecbuf = vx_mem_alloc(c->mem, c->vec_bytes);
    if (c->vecbuf == NULL) {
        rc = coll_nomem(c);
        goto out;
    }
    if (m.schema_len && (rc = load_schema(c, &m)) != VEX_OK)
        goto out;
    c->manifest_no = m.number;
    c->next_file = m.next_file;
    atomic_store(&c->flushed_seq, m.flushed_seq);
    c->last_seq = c->visible_seq = m.flushed_seq;
    oc.c = c;
    oc.m = &m;
    oc.removed = 0;
    rc = c->db->vfs->methods->list(c->db->vfs, c->dir, orphan_entry, &oc,
                                   &c->err);
    if (rc == VEX_OK && oc.removed)
        rc = c->db->vfs->methods->sync_dir(c->db->vfs, c->dir, &c->err);
    if (rc == VEX_OK)
        rc = open_segments(c, &m);
    if (rc != VEX_OK)
        goto out;
    rc = vx_wal_replay(c->db->vfs, c->wal_dir, c->flushed_seq + 1,
                       replay_record, c, c->db->opts.allocator, &c->err, &st);
    if (rc != VEX_OK)
        goto out;
    if (st.n_records > 0 && st.next_seq <= c->flushed_seq) {
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: the log ends at record %llu but the manifest "
                        "says records up to %llu are in segments",
                        c->wal_dir, (unsigned long long)st.next_seq - 1,
                        (unsigned long long)c->flushed_seq);
        goto out;
    }
    vx_wal_options_init(&wo);
    wo.max_file_bytes = c->db->opts.wal_file_bytes;
    wo.durability = c->db->opts.durability == VEX_DURABILITY_NONE
                        ? WAL_DURABILITY_NONE
                        : WAL_DURABILITY_FULL;
    rc = vx_wal_open(c->db->vfs, c->wal_dir, &wo, c->db->opts.allocator,
                     &c->err, &c->w);
    if (rc != VEX_OK)
        goto out;
    if (vx_wal_next_seq(c->w) <= c->flushed_seq) {
        /* a log that restarts below the manifest's position would have
         * its records skipped by the next replay */
        rc = vx_err_set(&c->err, VEX_CORRUPT,
                        "%s: the log starts again at record %llu but the "
                        "manifest says records up to %llu are in segments",
                        c->wal_dir, (unsigned long long)vx_wal_next_seq(c->w),
                        (unsigned long long)c->flushed_seq);
        goto out;
    }
out:
    vx_manifest_free(&m, c->mem);
    return rc;
}

/* After open (c registered): start the background work recovery left. */
static void coll_kick(vex_collection *c)
{
    pthread_mutex_lock(&c->apply_mu);
    if (c->cur->n_mts > 1)
        vx_jobs_schedule(c->db->jobs, c, VEXI_JOB_FLUSH);
    /* indexing of the replayed memtable, and warming of the segments */
    vx_jobs_schedule(c->db->jobs, c, VEXI_JOB_INDEX);
    if (c->db->opts.compact_min_merge | c->db->opts.compact_deleted_pct)
        vx_jobs_schedule(c->db->jobs, c, VEXI_JOB_COMPACT);
    pthread_mutex_unlock(&c->apply_mu);
}

int vx_coll_destroy(vex_collection *c)
{
    int rc = VEX_OK, rc2;
    if (c == NULL)
        return VEX_OK;
    /* stop background work first: jobs poll `closing`, writers waiting
     * for room wake up */
    atomic_store(&c->closing, 1);
    pthread_mutex_lock(&c->apply_mu);
    pthread_cond_broadcast(&c->room_cv);
    pthread_mutex_unlock(&c->apply_mu);
    vx_jobs_forget(c->db->jobs, c);
    if (c->w) {
        if (c->db->opts.durability == VEX_DURABILITY_NONE && !c->sticky_rc)
            rc = vx_wal_sync(c->w, &c->err);
        rc2 = vx_wal_close(c->w, &c->err);
        if (rc == VEX_OK)
            rc = rc2;
    }
    vx_version_unref(c->cur);
    vx_idmap_destroy(&c->overlay);
    vx_idmap_destroy(&c->vecmap);
    vx_mem_free(c->mem, c->touched);
    vx_mem_free(c->mem, c->rec);
    vx_mem_free(c->mem, c->vec_align);
    vx_mem_free(c->mem, c->dir);
    vx_mem_free(c->mem, c->wal_dir);
    vx_mem_free(c->mem, c->vecbuf);
    vx_vm_schema_free(c->schema, c->mem);
    vx_mem_free(c->mem, c->schema_blob);
    vx_mem_free(c->mem, c->schema_pub);
    vx_mem_free(c->mem, c->schema_names);
    pthread_mutex_destroy(&c->ver_mu);
    pthread_mutex_destroy(&c->apply_mu);
    pthread_mutex_destroy(&c->flush_mu);
    pthread_mutex_destroy(&c->compact_mu);
    pthread_cond_destroy(&c->room_cv);
    pthread_mutex_destroy(&c->wlock);
    vx_err_destroy(&c->err);
    vx_mem_free(c->mem, c);
    return rc;
}

/* db->mu held. */
int vx_coll_open(vex_db *db, const char *name, vex_collection **out)
{
    vex_collection *c = vx_db_find_open(db, name);
    int rc, kind;
    *out = NULL;
    if (c) {
        vx_coll_ref(c);
        *out = c;
        return VEX_OK;
    }
    c = vx_mem_calloc(&db->mem, 1, sizeof *c);
    if (c == NULL)
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    c->db = db;
    c->mem = &db->mem;
    c->refs = 1;
    vx_err_init(&c->err);
    pthread_mutex_init(&c->ver_mu, NULL);
    pthread_mutex_init(&c->apply_mu, NULL);
    pthread_mutex_init(&c->flush_mu, NULL);
    pthread_mutex_init(&c->compact_mu, NULL);
    pthread_cond_init(&c->room_cv, NULL);
    pthread_mutex_init(&c->wlock, NULL);
    atomic_init(&c->n_live, 0);
    atomic_init(&c->closing, 0);
    vx_idmap_init(&c->overlay, c->mem);
    vx_idmap_init(&c->vecmap, c->mem);
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
    rc = coll_load(c);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&c->err, msg, sizeof msg);
        vx_err_set(&db->err, rc, "collection \"%s\": %s", name, msg);
        goto fail;
    }
    rc = vx_db_register(db, c);
    if (rc != VEX_OK)
        goto fail;
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
