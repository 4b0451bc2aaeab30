/*
 * collection.c - one collection: its write path (log, memtable, flush),
 * its recovery on open, and search and get over memtable + segments.
 *
 * State. A collection is a memtable (an in-memory vex_index: flat while
 * small, HNSW past memtable_exact_rows when the collection's index is
 * HNSW) plus a list of immutable segments, oldest first, each with a set
 * of deleted ids. The manifest (storage/manifest.c) records the segments,
 * their deleted sets and `flushed_seq`, the last log record contained in
 * them; the write-ahead log (storage/wal.c) holds every commit after it.
 *
 * Invariants:
 *  1. A live id is in exactly one place: the memtable, or one segment
 *     whose deleted set does not hold it. An upsert or delete of an id
 *     that lives in a segment adds the id to that segment's deleted set,
 *     so searches never need to compare versions.
 *  2. Every change to the state is first a log record: the state after
 *     replaying the log from flushed_seq + 1 over the manifest's state
 *     equals the state before the crash (up to the last durable record).
 *  3. Only the leader of the write queue changes the state (below), so
 *     validation sees a stable state; readers take `state` shared and the
 *     leader takes it exclusively only to apply a group or swap in a
 *     flushed segment.
 *  4. A segment file is written and synced before the manifest that names
 *     it is published; log files are dropped only after that publish.
 *     Deleted sets are part of each manifest, so an old manifest never
 *     resurrects deleted rows and a new one never loses them.
 *
 * Write path (LevelDB's writer queue). Each commit enqueues a request and
 * waits. The request at the head is the leader: it takes the whole queue
 * (GROUP) or only itself (FULL, NONE), checks each request's operations
 * in order against the state plus the effects of the requests before it
 * (an overlay map; a request that fails is rolled out of the overlay and
 * fails alone), writes all accepted operations as ONE log record, which
 * wal_append syncs (GROUP, FULL), applies them, possibly flushes, and
 * wakes the group. So a group of writers shares one fsync and a record
 * is always all-or-nothing across a crash.
 *
 * Sticky errors: a failed log write or sync, a failure to apply an
 * operation that is already logged, and a manifest publish whose outcome
 * is unknown leave the on-disk or in-memory state uncertain; the
 * collection then refuses every later write with the original status and
 * message until it is reopened (recovery from the files is the repair).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "engine/engine.h"
#include "index/index.h"
#include "storage/manifest.h"
#include "storage/segment.h"
#include "storage/wal.h"
#include "util/endian.h"
#include "util/idmap.h"
#include "util/topk.h"

/* Log record payload: a header, then operations (docs/FORMAT.md). */
#define REC_MAGIC  0x31504f56u /* "VOP1" little-endian */
#define REC_HEADER 8
#define OP_HEADER  16
enum { OP_INSERT = 1, OP_UPSERT = 2, OP_DELETE = 3 };

/* Limits of one batch and of one group's log record. */
#define BATCH_MAX_BYTES (16u << 20)
#define GROUP_MAX_BYTES (32u << 20)

/* ---------------------------------------------------------------------
 * Structures
 * ------------------------------------------------------------------- */

typedef struct seg_ref {
    seg *s;
    seg_info info;
    vex_idmap deleted; /* ids deleted or overwritten since it was written */
    pthread_mutex_t open_lock;
    vex_index *ix; /* opened on first use */
    int ix_rc;     /* a remembered failure to open it */
    char ix_msg[VEX_ERRMSG_MAX];
} seg_ref;

enum { WR_COMMIT = 1, WR_FLUSH = 2 };

typedef struct wreq {
    struct wreq *next;
    int type;
    /* WR_COMMIT: encoded operations (a batch), or one operation */
    const unsigned char *ops;
    size_t ops_len, n_ops;
    int one_kind;
    uint64_t one_id;
    const void *one_vec;
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
    vex_index_config icfg; /* for vector checks */
    size_t vec_bytes, op_bytes;

    /* state: readers shared, the leader exclusive while changing it */
    pthread_rwlock_t state;
    vex_index *memt;
    int memt_hnsw;
    vex_idmap memt_ids; /* ids in the memtable */
    seg_ref **segs;     /* oldest first */
    uint32_t n_segs, cap_segs;
    uint64_t n_live;
    uint64_t last_seq;    /* of the last applied log record */
    uint64_t flushed_seq; /* the manifest's */
    uint64_t manifest_no, next_file;
    int dirty; /* changes since the last publish */

    /* write path */
    wal *w;
    pthread_mutex_t wlock;
    wreq *q_head, *q_tail;
    int sticky_rc;
    char sticky_msg[VEX_ERRMSG_MAX];
    vex_idmap overlay; /* leader only: id -> 1 live / 0 gone, this group */
    uint64_t *touched; /* leader only: ids put in the overlay */
    size_t n_touched, cap_touched;
    unsigned char *rec; /* leader only: the group's record */
    size_t rec_cap;
};

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */

const char *vexi_coll_name(const vex_collection *c)
{
    return c->name;
}

void vexi_coll_ref(vex_collection *c)
{
    c->refs++;
}
int vexi_coll_unref(vex_collection *c)
{
    return --c->refs;
}

static int coll_nomem(vex_collection *c)
{
    return vex_err_set(&c->err, VEX_NOMEM, "out of memory");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void seg_ref_free(vex_collection *c, seg_ref *r)
{
    if (r == NULL)
        return;
    vex_index_free(r->ix);
    seg_close(r->s);
    vex_idmap_destroy(&r->deleted);
    pthread_mutex_destroy(&r->open_lock);
    vex_mem_free(c->mem, r);
}

/* The index of a segment, opened in place from its mapping on first use
 * (that verifies the section's checksum and every graph invariant, which
 * is O(size): opening a database stays cheap). */
static int seg_ref_index(vex_collection *c, seg_ref *r, vex_index **out,
                         vex_err *err)
{
    int rc;
    pthread_mutex_lock(&r->open_lock);
    if (r->ix == NULL && r->ix_rc == VEX_OK) {
        const void *blob = NULL;
        uint64_t size = 0;
        vex_open_options oo;
        vex_index_options io;
        vex_err tmp;
        vex_err_init(&tmp);
        rc = seg_index(r->s, &blob, &size, &tmp);
        if (rc == VEX_OK) {
            vex_open_options_init(&oo);
            oo.n_threads = 1;
            oo.allocator = c->db->opts.allocator;
            rc = vex_index_open_buffer(blob, size, &oo, &r->ix);
            if (rc != VEX_OK)
                vex_err_set(&tmp, rc, "%s: index section: %s", seg_path(r->s),
                            r->ix ? vex_index_errmsg(r->ix) : "out of memory");
        }
        if (rc == VEX_OK) {
            vex_index_get_options(r->ix, &io);
            if (io.dim != c->cfg.dim || (uint32_t)io.elem != c->cfg.elem ||
                (uint32_t)io.metric != c->cfg.metric ||
                vex_index_count(r->ix) != r->info.n_rows)
                rc = vex_err_set(
                    &tmp, VEX_CORRUPT,
                    "%s: index section holds %llu vectors of dim "
                    "%u, the segment header says %llu of dim %u",
                    seg_path(r->s), (unsigned long long)vex_index_count(r->ix),
                    io.dim, (unsigned long long)r->info.n_rows, c->cfg.dim);
        }
        if (rc != VEX_OK) {
            vex_index_free(r->ix);
            r->ix = NULL;
            r->ix_rc = rc;
            vex_err_copy(&tmp, r->ix_msg, sizeof r->ix_msg);
        }
        vex_err_destroy(&tmp);
    }
    rc = r->ix_rc;
    *out = r->ix;
    pthread_mutex_unlock(&r->open_lock);
    if (rc != VEX_OK)
        vex_err_set(err, rc, "%s", r->ix_msg);
    return rc;
}

/* The segment (index into c->segs) holding live `id`, or -1. */
static int seg_locate(const vex_collection *c, uint64_t id)
{
    uint64_t row, v;
    for (uint32_t i = c->n_segs; i-- > 0;) {
        seg_ref *r = c->segs[i];
        if (seg_find(r->s, id, &row) && !vex_idmap_get(&r->deleted, id, &v))
            return (int)i;
    }
    return -1;
}

static int state_has(const vex_collection *c, uint64_t id)
{
    uint64_t v;
    return vex_idmap_get(&c->memt_ids, id, &v) || seg_locate(c, id) >= 0;
}

static int memt_new(vex_collection *c, int hnsw, vex_index **out)
{
    vex_index_options io;
    int rc;
    vex_index_options_init(&io);
    io.kind = hnsw ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
    io.elem = (vex_elem)c->cfg.elem;
    io.metric = (vex_metric)c->cfg.metric;
    io.dim = c->cfg.dim;
    io.n_threads = hnsw ? vex_pool_size(c->db->pool) : 1;
    io.allocator = c->db->opts.allocator;
    if (hnsw) {
        io.hnsw_m = c->cfg.hnsw_m;
        io.hnsw_ef_construction = c->cfg.hnsw_ef_construction;
        io.hnsw_ef_search = c->cfg.hnsw_ef_search;
        io.hnsw_seed = c->cfg.hnsw_seed;
    }
    rc = vex_index_create(&io, out);
    if (rc != VEX_OK) {
        vex_err_set(&c->err, rc, "memtable: %s",
                    *out ? vex_index_errmsg(*out) : "out of memory");
        vex_index_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------------
 * Applying operations (leader or recovery only)
 * ------------------------------------------------------------------- */

static int apply_put(vex_collection *c, uint64_t id, const void *vec)
{
    uint64_t v;
    int rc, where;
    if (vex_idmap_get(&c->memt_ids, id, &v)) {
        rc = vex_index_remove(c->memt, id);
        if (rc != VEX_OK)
            return vex_err_set(&c->err, rc, "memtable: %s",
                               vex_index_errmsg(c->memt));
        c->n_live--;
    } else if ((where = seg_locate(c, id)) >= 0) {
        rc = vex_idmap_put(&c->segs[where]->deleted, id, 0);
        if (rc != VEX_OK)
            return coll_nomem(c);
        c->n_live--;
    }
    rc = vex_idmap_put(&c->memt_ids, id, 0);
    if (rc != VEX_OK)
        return coll_nomem(c);
    rc = vex_index_add(c->memt, &id, vec, 1);
    if (rc != VEX_OK) {
        vex_idmap_remove(&c->memt_ids, id);
        return vex_err_set(&c->err, rc, "memtable: %s",
                           vex_index_errmsg(c->memt));
    }
    c->n_live++;
    c->dirty = 1;
    return VEX_OK;
}

static int apply_delete(vex_collection *c, uint64_t id)
{
    uint64_t v;
    int rc, where;
    if (vex_idmap_get(&c->memt_ids, id, &v)) {
        rc = vex_index_remove(c->memt, id);
        if (rc != VEX_OK)
            return vex_err_set(&c->err, rc, "memtable: %s",
                               vex_index_errmsg(c->memt));
        vex_idmap_remove(&c->memt_ids, id);
        c->n_live--;
    } else if ((where = seg_locate(c, id)) >= 0) {
        rc = vex_idmap_put(&c->segs[where]->deleted, id, 0);
        if (rc != VEX_OK)
            return coll_nomem(c);
        c->n_live--;
    }
    c->dirty = 1;
    return VEX_OK;
}

/* Puts of ids new to the memtable are gathered into runs and added with
 * one vex_index_add call, which builds an HNSW memtable in parallel on the
 * pool; a put of an id already in the memtable, or a delete, ends the run
 * (the operations must apply in order). */
typedef struct applier {
    vex_collection *c;
    uint64_t *ids;
    unsigned char *vecs;
    size_t n, cap;
} applier;

static int run_flush(applier *a)
{
    vex_collection *c = a->c;
    int rc;
    if (a->n == 0)
        return VEX_OK;
    rc = vex_index_add(c->memt, a->ids, a->vecs, a->n);
    if (rc != VEX_OK) {
        for (size_t i = 0; i < a->n; i++)
            vex_idmap_remove(&c->memt_ids, a->ids[i]);
        c->n_live -= a->n;
        rc =
            vex_err_set(&c->err, rc, "memtable: %s", vex_index_errmsg(c->memt));
    }
    a->n = 0;
    return rc;
}

static int run_put(applier *a, uint64_t id, const void *vec)
{
    vex_collection *c = a->c;
    uint64_t v;
    int where;
    if (vex_idmap_get(&c->memt_ids, id, &v)) {
        int rc = run_flush(a);
        return rc == VEX_OK ? apply_put(c, id, vec) : rc;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        uint64_t *ids = vex_mem_realloc(c->mem, a->ids, cap * sizeof *ids);
        unsigned char *vecs;
        if (ids == NULL)
            return coll_nomem(c);
        a->ids = ids;
        vecs = vex_mem_realloc(c->mem, a->vecs, cap * c->vec_bytes);
        if (vecs == NULL)
            return coll_nomem(c);
        a->vecs = vecs;
        a->cap = cap;
    }
    if ((where = seg_locate(c, id)) >= 0) {
        if (vex_idmap_put(&c->segs[where]->deleted, id, 0) != VEX_OK)
            return coll_nomem(c);
        c->n_live--;
    }
    if (vex_idmap_put(&c->memt_ids, id, 0) != VEX_OK)
        return coll_nomem(c);
    a->ids[a->n] = id;
    memcpy(a->vecs + a->n * c->vec_bytes, vec, c->vec_bytes);
    a->n++;
    c->n_live++;
    c->dirty = 1;
    return VEX_OK;
}

static int run_op(applier *a, int kind, uint64_t id, const void *vec)
{
    int rc;
    if (kind != OP_DELETE)
        return run_put(a, id, vec);
    rc = run_flush(a);
    return rc == VEX_OK ? apply_delete(a->c, id) : rc;
}

static void applier_free(applier *a)
{
    vex_mem_free(a->c->mem, a->ids);
    vex_mem_free(a->c->mem, a->vecs);
}

/* Decode one operation at p (n bytes left); 0 on damage. */
static size_t op_decode(const vex_collection *c, const unsigned char *p,
                        size_t n, int *kind, uint64_t *id, const void **vec)
{
    size_t need;
    *kind = 0;
    *id = 0;
    *vec = NULL;
    if (n < OP_HEADER)
        return 0;
    *kind = p[0];
    for (int i = 1; i < 8; i++)
        if (p[i] != 0)
            return 0;
    *id = vex_get_u64le(p + 8);
    if (*kind == OP_DELETE) {
        *vec = NULL;
        return OP_HEADER;
    }
    if (*kind != OP_INSERT && *kind != OP_UPSERT)
        return 0;
    need = OP_HEADER + c->vec_bytes;
    if (n < need)
        return 0;
    *vec = p + OP_HEADER;
    return need;
}

static void op_encode(unsigned char *p, int kind, uint64_t id, const void *vec,
                      size_t vec_bytes)
{
    memset(p, 0, OP_HEADER);
    p[0] = (unsigned char)kind;
    vex_put_u64le(p + 8, id);
    if (kind != OP_DELETE)
        memcpy(p + OP_HEADER, vec, vec_bytes);
}

/* ---------------------------------------------------------------------
 * Memtable: exact -> HNSW, and flush
 * ------------------------------------------------------------------- */

typedef struct gather {
    uint64_t *ids;
    unsigned char *vecs; /* NULL: ids only */
    size_t n, vec_bytes;
} gather;

static int gather_one(void *ctx, uint64_t id, const void *vec)
{
    gather *g = ctx;
    g->ids[g->n] = id;
    if (g->vecs)
        memcpy(g->vecs + g->n * g->vec_bytes, vec, g->vec_bytes);
    g->n++;
    return 0;
}

/* Past memtable_exact_rows an HNSW collection's memtable becomes a graph,
 * built in parallel on the database's pool from the flat one. */
static int maybe_grow_memtable(vex_collection *c)
{
    gather g = {0};
    vex_index *hn = NULL, *old;
    uint64_t n = vex_index_count(c->memt);
    int rc;
    if (c->memt_hnsw || c->cfg.index_kind != VEX_INDEX_HNSW ||
        c->db->opts.memtable_exact_rows == 0 ||
        n <= c->db->opts.memtable_exact_rows)
        return VEX_OK;
    g.ids = vex_mem_alloc(c->mem, n * sizeof *g.ids);
    g.vecs = vex_mem_alloc(c->mem, n * c->vec_bytes);
    g.vec_bytes = c->vec_bytes;
    if (g.ids == NULL || g.vecs == NULL) {
        rc = coll_nomem(c);
        goto out;
    }
    vexi_index_scan(c->memt, gather_one, &g);
    rc = memt_new(c, 1, &hn);
    if (rc == VEX_OK) {
        rc = vex_index_add(hn, g.ids, g.vecs, g.n);
        if (rc != VEX_OK)
            vex_err_set(&c->err, rc, "memtable: %s", vex_index_errmsg(hn));
    }
    if (rc != VEX_OK) {
        vex_index_free(hn);
        goto out;
    }
    pthread_rwlock_wrlock(&c->state);
    old = c->memt;
    c->memt = hn;
    c->memt_hnsw = 1;
    pthread_rwlock_unlock(&c->state);
    vex_index_free(old);
out:
    vex_mem_free(c->mem, g.ids);
    vex_mem_free(c->mem, g.vecs);
    return rc;
}

static void make_sticky(vex_collection *c, int rc, const char *what)
{
    char msg[VEX_ERRMSG_MAX];
    vex_err_copy(&c->err, msg, sizeof msg);
    pthread_mutex_lock(&c->wlock);
    if (c->sticky_rc == VEX_OK) {
        c->sticky_rc = rc;
        snprintf(c->sticky_msg, sizeof c->sticky_msg,
                 "%.64s (the collection refuses writes until it is reopened): "
                 "%.380s",
                 what, msg);
    }
    pthread_mutex_unlock(&c->wlock);
}

/* The manifest describing the current state plus `extra` (NULL or a new
 * segment). Arrays are allocated; free with manifest_free. */
static int build_manifest(vex_collection *c, const seg_ref *extra,
                          uint64_t number, manifest *m)
{
    uint32_t n = c->n_segs + (extra ? 1 : 0);
    memset(m, 0, sizeof *m);
    m->number = number;
    m->config = c->cfg;
    m->next_file = c->next_file;
    m->flushed_seq = c->last_seq;
    m->segs = vex_mem_calloc(c->mem, n ? n : 1, sizeof *m->segs);
    if (m->segs == NULL)
        return coll_nomem(c);
    m->n_segments = n;
    for (uint32_t i = 0; i < n; i++) {
        const seg_ref *r = i < c->n_segs ? c->segs[i] : extra;
        man_segment *ms = &m->segs[i];
        ms->number = r->info.number;
        ms->n_rows = r->info.n_rows;
        ms->file_size = r->info.file_size;
        ms->min_seq = r->info.min_seq;
        ms->max_seq = r->info.max_seq;
        ms->n_deleted = r->deleted.count;
        if (ms->n_deleted) {
            size_t k = 0;
            ms->deleted =
                vex_mem_alloc(c->mem, ms->n_deleted * sizeof(uint64_t));
            if (ms->deleted == NULL) {
                manifest_free(m, c->mem);
                return coll_nomem(c);
            }
            for (size_t j = 0; j < r->deleted.cap; j++)
                if (r->deleted.vals[j])
                    ms->deleted[k++] = r->deleted.keys[j];
            qsort(ms->deleted, k, sizeof(uint64_t), cmp_u64);
        }
    }
    return VEX_OK;
}

static int seg_path_of(vex_collection *c, uint64_t number, char **out)
{
    char name[64];
    seg_file_name(name, sizeof name, number);
    *out = vexi_path_join(c->mem, c->dir, name);
    return *out ? VEX_OK : coll_nomem(c);
}

/* Write the memtable to a segment and publish a manifest with it (and
 * with the current deleted sets); then swap in an empty memtable and drop
 * the log it covered. Leader (or recovery) only. */
static int do_flush(vex_collection *c)
{
    gather g = {0};
    unsigned char *blob = NULL;
    uint64_t blob_size = 0, n, old_manifest = c->manifest_no;
    seg_ref *r = NULL;
    char *path = NULL;
    manifest m;
    seg_write_info wi;
    vex_index *fresh = NULL, *old;
    int rc, ambiguous = 0, wrote = 0;

    if (!c->dirty)
        return VEX_OK;
    n = vex_index_count(c->memt);
    if (n > 0) {
        g.ids = vex_mem_alloc(c->mem, n * sizeof *g.ids);
        if (g.ids == NULL)
            return coll_nomem(c);
        vexi_index_scan(c->memt, gather_one, &g);
        qsort(g.ids, g.n, sizeof *g.ids, cmp_u64);
        rc = vex_index_serialize(c->memt, NULL, 0, &blob_size);
        if (rc != VEX_FULL && rc != VEX_OK) {
            rc = vex_err_set(&c->err, rc, "memtable: %s",
                             vex_index_errmsg(c->memt));
            goto fail;
        }
        blob = vex_mem_alloc_aligned(c->mem, blob_size, 64);
        if (blob == NULL) {
            rc = coll_nomem(c);
            goto fail;
        }
        rc = vex_index_serialize(c->memt, blob, blob_size, &blob_size);
        if (rc != VEX_OK) {
            rc = vex_err_set(&c->err, rc, "memtable: %s",
                             vex_index_errmsg(c->memt));
            goto fail;
        }
        memset(&wi, 0, sizeof wi);
        wi.number = c->next_file++;
        wi.dim = c->cfg.dim;
        wi.elem = c->cfg.elem;
        wi.metric = c->cfg.metric;
        wi.index_kind = c->memt_hnsw ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
        wi.n_rows = g.n;
        wi.min_seq = c->flushed_seq + 1;
        wi.max_seq = c->last_seq;
        wi.ids = g.ids;
        wi.index_blob = blob;
        wi.blob_size = blob_size;
        if ((rc = seg_path_of(c, wi.number, &path)) != VEX_OK)
            goto fail;
        rc = seg_write(c->db->vfs, path, &wi, c->mem, &c->err);
        if (rc != VEX_OK)
            goto fail;
        wrote = 1;
        vex_mem_free_aligned(c->mem, blob);
        blob = NULL;
        r = vex_mem_calloc(c->mem, 1, sizeof *r);
        if (r == NULL) {
            rc = coll_nomem(c);
            goto fail;
        }
        pthread_mutex_init(&r->open_lock, NULL);
        vex_idmap_init(&r->deleted, c->mem);
        rc = seg_open(c->db->vfs, path, wi.number, c->mem, &c->err, &r->s);
        if (rc != VEX_OK)
            goto fail;
        seg_get_info(r->s, &r->info);
    }
    rc = memt_new(c, 0, &fresh);
    if (rc != VEX_OK)
        goto fail;
    if (c->n_segs + 1 > c->cap_segs) {
        uint32_t cap = c->cap_segs ? c->cap_segs * 2 : 8;
        seg_ref **p = vex_mem_realloc(c->mem, c->segs, cap * sizeof *p);
        if (p == NULL) {
            rc = coll_nomem(c);
            goto fail;
        }
        c->segs = p;
        c->cap_segs = cap;
    }
    c->manifest_no = c->next_file++;
    rc = build_manifest(c, r, c->manifest_no, &m);
    if (rc != VEX_OK)
        goto fail;
    rc = manifest_publish(c->db->vfs, c->dir, &m, c->mem, &c->err, &ambiguous);
    manifest_free(&m, c->mem);
    if (rc != VEX_OK) {
        if (ambiguous) {
            /* the files may name either state: keep the segment file, the
             * next open decides from CURRENT */
            wrote = 0;
            make_sticky(c, rc, "publishing the manifest failed");
        }
        c->manifest_no = old_manifest;
        goto fail;
    }
    /* published: the new state is durable */
    pthread_rwlock_wrlock(&c->state);
    if (r)
        c->segs[c->n_segs++] = r;
    old = c->memt;
    c->memt = fresh;
    c->memt_hnsw = 0;
    vex_idmap_destroy(&c->memt_ids);
    vex_idmap_init(&c->memt_ids, c->mem);
    c->flushed_seq = c->last_seq;
    c->dirty = 0;
    pthread_rwlock_unlock(&c->state);
    vex_index_free(old);
    {
        /* cleanup: the old manifest and the covered log; failures only
         * leave files the next open removes or skips */
        char name[64];
        char *p;
        manifest_file_name(name, sizeof name, old_manifest);
        p = vexi_path_join(c->mem, c->dir, name);
        if (p)
            (void)c->db->vfs->methods->remove(c->db->vfs, p, NULL);
        vex_mem_free(c->mem, p);
    }
    /* Start a new log file so that every record the segment covers can
     * go (the current file is never deleted). A failure here leaves the
     * published state intact but the log unusable: sticky. */
    rc = wal_new_file(c->w, &c->err);
    if (rc != VEX_OK) {
        make_sticky(c, rc, "starting a new log file after a flush failed");
        vex_mem_free(c->mem, g.ids);
        vex_mem_free(c->mem, path);
        return rc;
    }
    (void)wal_drop_before(c->w, c->last_seq + 1, NULL);
    vex_mem_free(c->mem, g.ids);
    vex_mem_free(c->mem, path);
    return VEX_OK;
fail:
    vex_index_free(fresh);
    if (r)
        seg_ref_free(c, r);
    if (wrote && path)
        (void)c->db->vfs->methods->remove(c->db->vfs, path, NULL);
    vex_mem_free_aligned(c->mem, blob);
    vex_mem_free(c->mem, g.ids);
    vex_mem_free(c->mem, path);
    return rc;
}

static int memtable_full(const vex_collection *c)
{
    return (uint64_t)vex_index_count(c->memt) * c->vec_bytes >=
           c->db->opts.memtable_bytes;
}

/* ---------------------------------------------------------------------
 * The write queue
 * ------------------------------------------------------------------- */

/* Iterate the operations of a request. */
typedef struct op_iter {
    const wreq *w;
    size_t pos, i;
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
    } else {
        it->pos +=
            op_decode(c, w->ops + it->pos, w->ops_len - it->pos, kind, id, vec);
    }
    it->i++;
    return 1;
}

static size_t wreq_bytes(const vex_collection *c, const wreq *w)
{
    if (w->ops)
        return w->ops_len;
    return OP_HEADER + (w->one_kind == OP_DELETE ? 0 : c->vec_bytes);
}

static int touch(vex_collection *c, uint64_t id, int live)
{
    if (c->n_touched == c->cap_touched) {
        size_t cap = c->cap_touched ? c->cap_touched * 2 : 64;
        uint64_t *p = vex_mem_realloc(c->mem, c->touched, cap * sizeof *p);
        if (p == NULL)
            return VEX_NOMEM;
        c->touched = p;
        c->cap_touched = cap;
    }
    if (vex_idmap_put(&c->overlay, id, (uint64_t)live) != VEX_OK)
        return VEX_NOMEM;
    c->touched[c->n_touched++] = id;
    return VEX_OK;
}

static int exists_now(vex_collection *c, uint64_t id)
{
    uint64_t v;
    if (vex_idmap_get(&c->overlay, id, &v))
        return (int)v;
    return state_has(c, id);
}

/* Check a request's operations in order against state + overlay; on
 * success its effects stay in the overlay. */
static int validate(vex_collection *c, wreq *w)
{
    op_iter it = {w, 0, 0};
    int kind, rc = VEX_OK;
    uint64_t id;
    const void *vec;
    while (rc == VEX_OK && op_next(c, &it, &kind, &id, &vec)) {
        int ex = exists_now(c, id);
        if (kind == OP_INSERT && ex) {
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
            vex_idmap_remove(&c->overlay, c->touched[i]);
        c->n_touched = 0;
    }
    return rc;
}

/* Leader: the group [head .. last]. */
static void lead(vex_collection *c, wreq *head, wreq *last)
{
    size_t rec_len = REC_HEADER, n_ops = 0;
    int rc = VEX_OK;
    uint64_t seq = 0;
    wreq *w;

    pthread_mutex_lock(&c->wlock);
    rc = c->sticky_rc;
    pthread_mutex_unlock(&c->wlock);
    if (rc != VEX_OK) {
        for (w = head;; w = w->next) {
            w->rc = rc;
            snprintf(w->msg, sizeof w->msg, "%s", c->sticky_msg);
            if (w == last)
                break;
        }
        return;
    }
    if (head->type == WR_FLUSH) {
        rc = do_flush(c);
        head->rc = rc;
        if (rc != VEX_OK)
            vex_err_copy(&c->err, head->msg, sizeof head->msg);
        return;
    }
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
        }
        if (w == last)
            break;
    }
    for (size_t i = 0; i < c->n_touched; i++)
        vex_idmap_remove(&c->overlay, c->touched[i]);
    c->n_touched = 0;
    if (n_ops == 0)
        return;
    if (rec_len > c->rec_cap) {
        unsigned char *p = vex_mem_realloc(c->mem, c->rec, rec_len);
        if (p == NULL) {
            rc = coll_nomem(c);
            goto done;
        }
        c->rec = p;
        c->rec_cap = rec_len;
    }
    vex_put_u32le(c->rec, REC_MAGIC);
    vex_put_u32le(c->rec + 4, (uint32_t)n_ops);
    {
        size_t pos = REC_HEADER;
        for (w = head;; w = w->next) {
            if (w->rc == VEX_OK) {
                if (w->ops) {
                    memcpy(c->rec + pos, w->ops, w->ops_len);
                    pos += w->ops_len;
                } else {
                    op_encode(c->rec + pos, w->one_kind, w->one_id, w->one_vec,
                              c->vec_bytes);
                    pos += wreq_bytes(c, w);
                }
            }
            if (w == last)
                break;
        }
    }
    rc = wal_append(c->w, c->rec, rec_len, &seq, &c->err);
    if (rc != VEX_OK) {
        make_sticky(c, rc, "writing the log failed");
        goto done;
    }
    pthread_rwlock_wrlock(&c->state);
    {
        applier ap = {c, NULL, NULL, 0, 0};
        for (w = head; rc == VEX_OK; w = w->next) {
            if (w->rc == VEX_OK) {
                op_iter it = {w, 0, 0};
                int kind;
                uint64_t id;
                const void *vec;
                while (rc == VEX_OK && op_next(c, &it, &kind, &id, &vec))
                    rc = run_op(&ap, kind, id, vec);
            }
            if (w == last)
                break;
        }
        if (rc == VEX_OK)
            rc = run_flush(&ap);
        applier_free(&ap);
    }
    c->last_seq = seq;
    pthread_rwlock_unlock(&c->state);
    if (rc != VEX_OK) {
        make_sticky(c, rc, "applying a logged write failed");
        goto done;
    }
    /* the group is durable and applied; growing or flushing the memtable
     * is maintenance whose failure must not fail these writes */
    rc = maybe_grow_memtable(c);
    if (rc == VEX_OK && memtable_full(c))
        rc = do_flush(c);
    if (rc != VEX_OK)
        make_sticky(c, rc, "flushing the memtable failed");
    return;
done:
    for (w = head;; w = w->next) {
        if (w->rc == VEX_OK) {
            w->rc = rc;
            vex_err_copy(&c->err, w->msg, sizeof w->msg);
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
            vex_err_set(&c->err, w->rc, "%s", w->msg);
        return w->rc;
    }
    /* leader: take a group */
    last = w;
    bytes = w->type == WR_COMMIT ? wreq_bytes(c, w) : 0;
    if (w->type == WR_COMMIT &&
        c->db->opts.durability == VEX_DURABILITY_GROUP) {
        while (last->next && last->next->type == WR_COMMIT &&
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
        vex_err_set(&c->err, w->rc, "%s", w->msg);
    return w->rc;
}

/* ---------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------- */

static int usable(vex_collection *c)
{
    return c != NULL && c->w != NULL;
}

static int check_vec(vex_collection *c, const void *vec, const char *what,
                     size_t pos, uint64_t id, char *msg, size_t msg_size)
{
    char why[160];
    if (vex_vector_check(&c->icfg, vec, why, sizeof why) == VEX_OK)
        return VEX_OK;
    snprintf(msg, msg_size, "%s of id %llu (operation %zu): %s", what,
             (unsigned long long)id, pos, why);
    return VEX_INVALID;
}

static int write_one(vex_collection *c, int kind, uint64_t id, const void *vec)
{
    wreq w;
    if (!usable(c))
        return VEX_MISUSE;
    if (kind != OP_DELETE) {
        char msg[VEX_ERRMSG_MAX];
        if (vec == NULL)
            return vex_err_set(&c->err, VEX_MISUSE, "vector is NULL");
        if (check_vec(c, vec, kind == OP_INSERT ? "insert" : "upsert", 0, id,
                      msg, sizeof msg) != VEX_OK)
            return vex_err_set(&c->err, VEX_INVALID, "%s", msg);
    }
    memset(&w, 0, sizeof w);
    w.type = WR_COMMIT;
    w.n_ops = 1;
    w.one_kind = kind;
    w.one_id = id;
    w.one_vec = vec;
    return submit(c, &w);
}

int vex_insert(vex_collection *c, uint64_t id, const void *vector)
{
    return write_one(c, OP_INSERT, id, vector);
}

int vex_upsert(vex_collection *c, uint64_t id, const void *vector)
{
    return write_one(c, OP_UPSERT, id, vector);
}

int vex_delete(vex_collection *c, uint64_t id)
{
    return write_one(c, OP_DELETE, id, NULL);
}

int vex_flush(vex_collection *c)
{
    wreq w;
    int rc;
    if (!usable(c))
        return VEX_MISUSE;
    memset(&w, 0, sizeof w);
    w.type = WR_FLUSH;
    rc = submit(c, &w);
    return rc;
}

struct vex_batch {
    vex_mem mem;
    size_t vec_bytes;
    unsigned char *buf;
    size_t len, cap, n;
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
    if (vex_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    b = vex_mem_calloc(&mem, 1, sizeof *b);
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
    vex_mem_free(&mem, b->buf);
    vex_mem_free(&mem, b);
}

size_t vex_batch_count(const vex_batch *b)
{
    return b ? b->n : 0;
}

void vex_batch_clear(vex_batch *b)
{
    if (b) {
        b->len = 0;
        b->n = 0;
    }
}

static int batch_add(vex_batch *b, int kind, uint64_t id, const void *vec)
{
    size_t need;
    if (b == NULL || (kind != OP_DELETE && vec == NULL))
        return VEX_MISUSE;
    need = OP_HEADER + (kind == OP_DELETE ? 0 : b->vec_bytes);
    if (b->len + need > BATCH_MAX_BYTES)
        return VEX_FULL;
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        unsigned char *p;
        while (cap < b->len + need)
            cap *= 2;
        p = vex_mem_realloc(&b->mem, b->buf, cap);
        if (p == NULL)
            return VEX_NOMEM;
        b->buf = p;
        b->cap = cap;
    }
    op_encode(b->buf + b->len, kind, id, vec, b->vec_bytes);
    b->len += need;
    b->n++;
    return VEX_OK;
}

int vex_batch_insert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, OP_INSERT, id, vector);
}

int vex_batch_upsert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, OP_UPSERT, id, vector);
}

int vex_batch_delete(vex_batch *b, uint64_t id)
{
    return batch_add(b, OP_DELETE, id, NULL);
}

int vex_batch_commit(vex_collection *c, const vex_batch *b)
{
    wreq w;
    size_t pos = 0, i = 0;
    if (!usable(c))
        return VEX_MISUSE;
    if (b == NULL)
        return vex_err_set(&c->err, VEX_MISUSE, "batch is NULL");
    if (b->vec_bytes != c->vec_bytes)
        return vex_err_set(&c->err, VEX_INVALID,
                           "the batch holds vectors of %zu bytes, the "
                           "collection's have %zu",
                           b->vec_bytes, c->vec_bytes);
    if (b->n == 0)
        return VEX_OK;
    /* vectors are checked here, in the caller's thread */
    while (pos < b->len) {
        int kind = 0;
        uint64_t id = 0;
        const void *vec = NULL;
        char msg[VEX_ERRMSG_MAX];
        pos += op_decode(c, b->buf + pos, b->len - pos, &kind, &id, &vec);
        if (kind != OP_DELETE &&
            check_vec(c, vec, kind == OP_INSERT ? "insert" : "upsert", i, id,
                      msg, sizeof msg) != VEX_OK)
            return vex_err_set(&c->err, VEX_INVALID, "%s", msg);
        i++;
    }
    memset(&w, 0, sizeof w);
    w.type = WR_COMMIT;
    w.ops = b->buf;
    w.ops_len = b->len;
    w.n_ops = b->n;
    return submit(c, &w);
}

/* ---------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------- */

/* Copy the vector of live `id` (state lock held shared). */
static int get_locked(vex_collection *c, uint64_t id, void *out)
{
    uint64_t v;
    int where, rc;
    vex_index *ix;
    if (vex_idmap_get(&c->memt_ids, id, &v)) {
        rc = vex_index_get(c->memt, id, out);
        if (rc != VEX_OK)
            return vex_err_set(&c->err, rc, "memtable: %s",
                               vex_index_errmsg(c->memt));
        return VEX_OK;
    }
    where = seg_locate(c, id);
    if (where < 0)
        return vex_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                           (unsigned long long)id);
    rc = seg_ref_index(c, c->segs[where], &ix, &c->err);
    if (rc != VEX_OK)
        return rc;
    rc = vex_index_get(ix, id, out);
    if (rc != VEX_OK)
        return vex_err_set(&c->err, VEX_CORRUPT,
                           "%s: id %llu is listed but not in the index",
                           seg_path(c->segs[where]->s), (unsigned long long)id);
    return VEX_OK;
}

int vex_get(vex_collection *c, uint64_t id, void *vector_out)
{
    int rc;
    if (!usable(c))
        return VEX_MISUSE;
    if (vector_out == NULL)
        return vex_err_set(&c->err, VEX_MISUSE, "vector_out is NULL");
    pthread_rwlock_rdlock(&c->state);
    rc = get_locked(c, id, vector_out);
    pthread_rwlock_unlock(&c->state);
    return rc;
}

uint64_t vex_collection_count(vex_collection *c)
{
    uint64_t n;
    if (!usable(c))
        return 0;
    pthread_rwlock_rdlock(&c->state);
    n = c->n_live;
    pthread_rwlock_unlock(&c->state);
    return n;
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
    return vex_err_copy((vex_err *)&c->err, buf, size);
}

/* A segment's search filter: not deleted there, and the user's filter. */
typedef struct seg_filter {
    const vex_idmap *deleted;
    vex_filter_fn user;
    void *user_ctx;
} seg_filter;

static int seg_accept(uint64_t id, void *ctx)
{
    const seg_filter *f = ctx;
    uint64_t v;
    if (f->deleted->count && vex_idmap_get(f->deleted, id, &v))
        return 0;
    return f->user == NULL || f->user(id, f->user_ctx);
}

/* Search one source into `tmp` and merge into the top-k heap. */
static int search_source(vex_collection *c, vex_index *ix, int is_hnsw,
                         const seg_ref *r, const void *query, size_t k,
                         const vex_search_params *up, vex_hit *tmp,
                         vex_topk *top)
{
    vex_search_params sp;
    seg_filter sf;
    size_t n = 0;
    int rc;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    if (is_hnsw) {
        sp.ef_search = up->ef_search;
        sp.filter_max_ef = up->filter_max_ef;
    }
    if (r && r->deleted.count) {
        sf.deleted = &r->deleted;
        sf.user = up->filter;
        sf.user_ctx = up->filter_ctx;
        sp.filter = seg_accept;
        sp.filter_ctx = &sf;
    } else {
        sp.filter = up->filter;
        sp.filter_ctx = up->filter_ctx;
    }
    if (sp.filter == NULL)
        sp.filter_max_ef = 0;
    rc = vex_index_search(ix, query, k, &sp, tmp, &n);
    if (rc != VEX_OK)
        return vex_err_set(&c->err, rc, "%s: %s",
                           r ? seg_path(r->s) : "memtable",
                           vex_index_errmsg(ix));
    for (size_t i = 0; i < n; i++)
        vex_topk_push(top, tmp[i].distance, tmp[i].id);
    return VEX_OK;
}

int vex_search(vex_collection *c, const void *query, size_t k,
               const vex_search_params *params, vex_hit *hits,
               void *vectors_out, size_t *n_hits)
{
    vex_search_params dflt;
    vex_hit stack_tmp[256], *tmp = stack_tmp;
    vex_topk top;
    char why[160];
    int rc = VEX_OK;

    if (!usable(c))
        return VEX_MISUSE;
    if (n_hits)
        *n_hits = 0;
    if (query == NULL || hits == NULL || n_hits == NULL)
        return vex_err_set(&c->err, VEX_MISUSE,
                           "query, hits and n_hits must not be NULL");
    if (k == 0 || k > VEX_MAX_K)
        return vex_err_set(&c->err, VEX_INVALID, "k is %zu, must be 1..%d", k,
                           VEX_MAX_K);
    if (params == NULL) {
        vex_search_params_init(&dflt);
        params = &dflt;
    }
    if (params->struct_size != sizeof(vex_search_params))
        return vex_err_set(&c->err, VEX_MISUSE,
                           "params.struct_size is %u, expected %zu: fill the "
                           "struct with vex_search_params_init()",
                           params->struct_size, sizeof(vex_search_params));
    if (params->n_threads > 1)
        return vex_err_set(&c->err, VEX_INVALID,
                           "params.n_threads is %u: a collection search runs "
                           "on the calling thread (0 or 1)",
                           params->n_threads);
    if (params->ef_search > VEX_MAX_K || params->filter_max_ef > VEX_MAX_K)
        return vex_err_set(&c->err, VEX_INVALID,
                           "params.ef_search and filter_max_ef must be "
                           "0..%d",
                           VEX_MAX_K);
    if (params->filter_max_ef && params->filter == NULL)
        return vex_err_set(&c->err, VEX_INVALID,
                           "params.filter_max_ef is set but there is no "
                           "filter");
    if ((params->ef_search || params->filter_max_ef) &&
        c->cfg.index_kind == VEX_INDEX_FLAT)
        return vex_err_set(&c->err, VEX_INVALID,
                           "params.ef_search and filter_max_ef must be 0 for "
                           "a flat collection, which is exact");
    if (vex_vector_check(&c->icfg, query, why, sizeof why) != VEX_OK)
        return vex_err_set(&c->err, VEX_INVALID, "query: %s", why);
    if (k > sizeof stack_tmp / sizeof stack_tmp[0]) {
        tmp = vex_mem_alloc(c->mem, k * sizeof *tmp);
        if (tmp == NULL)
            return coll_nomem(c);
    }
    vex_topk_init(&top, hits, k);
    pthread_rwlock_rdlock(&c->state);
    if (vex_index_count(c->memt) > 0)
        rc = search_source(c, c->memt, c->memt_hnsw, NULL, query, k, params,
                           tmp, &top);
    for (uint32_t i = 0; i < c->n_segs && rc == VEX_OK; i++) {
        seg_ref *r = c->segs[i];
        vex_index *ix;
        if (r->info.n_rows == r->deleted.count)
            continue;
        rc = seg_ref_index(c, r, &ix, &c->err);
        if (rc == VEX_OK)
            rc = search_source(c, ix, r->info.index_kind == VEX_INDEX_HNSW, r,
                               query, k, params, tmp, &top);
    }
    if (rc == VEX_OK) {
        *n_hits = vex_topk_sort(&top);
        for (size_t i = 0; vectors_out && i < *n_hits && rc == VEX_OK; i++)
            rc = get_locked(c, hits[i].id,
                            (unsigned char *)vectors_out + i * c->vec_bytes);
        if (rc != VEX_OK)
            *n_hits = 0;
    }
    pthread_rwlock_unlock(&c->state);
    if (tmp != stack_tmp)
        vex_mem_free(c->mem, tmp);
    return rc;
}

/* ---------------------------------------------------------------------
 * Open and recovery
 * ------------------------------------------------------------------- */

/* Replay: one log record = a header and whole operations. The record is
 * checked completely before any of it is applied (a record is atomic). */
static int replay_record(void *ctx, uint64_t seq, const void *payload, size_t n)
{
    vex_collection *c = ctx;
    const unsigned char *p = payload;
    applier ap = {c, NULL, NULL, 0, 0};
    size_t pos;
    uint32_t n_ops, i;
    char why[160];
    int kind, rc = VEX_OK;
    uint64_t id;
    const void *vec;
    if (n < REC_HEADER || vex_get_u32le(p) != REC_MAGIC)
        return vex_err_set(&c->err, VEX_CORRUPT,
                           "%s: log record %llu: bad operation header",
                           c->wal_dir, (unsigned long long)seq);
    n_ops = vex_get_u32le(p + 4);
    for (i = 0, pos = REC_HEADER; i < n_ops; i++) {
        size_t used = op_decode(c, p + pos, n - pos, &kind, &id, &vec);
        if (used == 0)
            return vex_err_set(&c->err, VEX_CORRUPT,
                               "%s: log record %llu: operation %u at byte %zu "
                               "is malformed",
                               c->wal_dir, (unsigned long long)seq, i, pos);
        if (vec && vex_vector_check(&c->icfg, vec, why, sizeof why) != VEX_OK)
            return vex_err_set(&c->err, VEX_CORRUPT,
                               "%s: log record %llu: operation %u: %s",
                               c->wal_dir, (unsigned long long)seq, i, why);
        pos += used;
    }
    if (pos != n)
        return vex_err_set(&c->err, VEX_CORRUPT,
                           "%s: log record %llu: %zu bytes after the last of "
                           "%u operations",
                           c->wal_dir, (unsigned long long)seq, n - pos, n_ops);
    for (i = 0, pos = REC_HEADER; i < n_ops && rc == VEX_OK; i++) {
        pos += op_decode(c, p + pos, n - pos, &kind, &id, &vec);
        rc = run_op(&ap, kind, id, vec);
    }
    if (rc == VEX_OK)
        rc = run_flush(&ap);
    applier_free(&ap);
    if (rc == VEX_OK)
        c->last_seq = seq;
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
    if (seg_parse_name(name, &num)) {
        keep = 0;
        for (uint32_t i = 0; i < o->m->n_segments; i++)
            if (o->m->segs[i].number == num)
                keep = 1;
    } else if (manifest_parse_name(name, &num)) {
        keep = num == o->m->number;
    } else if (strcmp(name, "CURRENT.tmp") == 0) {
        keep = 0;
    }
    if (!keep) {
        char *p = vexi_path_join(o->c->mem, o->c->dir, name);
        if (p == NULL)
            return coll_nomem(o->c);
        if (o->c->db->vfs->methods->remove(o->c->db->vfs, p, &o->c->err) ==
            VEX_OK)
            o->removed = 1;
        vex_mem_free(o->c->mem, p);
    }
    return 0;
}

static int open_segments(vex_collection *c, const manifest *m)
{
    c->segs = vex_mem_calloc(c->mem, m->n_segments + 8, sizeof *c->segs);
    if (c->segs == NULL)
        return coll_nomem(c);
    c->cap_segs = m->n_segments + 8;
    for (uint32_t i = 0; i < m->n_segments; i++) {
        const man_segment *ms = &m->segs[i];
        seg_ref *r;
        char *path;
        uint64_t row;
        int rc = seg_path_of(c, ms->number, &path);
        if (rc != VEX_OK)
            return rc;
        r = vex_mem_calloc(c->mem, 1, sizeof *r);
        if (r == NULL) {
            vex_mem_free(c->mem, path);
            return coll_nomem(c);
        }
        pthread_mutex_init(&r->open_lock, NULL);
        vex_idmap_init(&r->deleted, c->mem);
        c->segs[c->n_segs++] = r;
        rc = seg_open(c->db->vfs, path, ms->number, c->mem, &c->err, &r->s);
        vex_mem_free(c->mem, path);
        if (rc != VEX_OK)
            return rc;
        seg_get_info(r->s, &r->info);
        if (r->info.n_rows != ms->n_rows ||
            r->info.file_size != ms->file_size || r->info.dim != c->cfg.dim ||
            r->info.elem != c->cfg.elem || r->info.metric != c->cfg.metric)
            return vex_err_set(&c->err, VEX_CORRUPT,
                               "%s: holds %llu rows of dim %u in %llu bytes; "
                               "the manifest says %llu rows of dim %u in %llu",
                               seg_path(r->s),
                               (unsigned long long)r->info.n_rows, r->info.dim,
                               (unsigned long long)r->info.file_size,
                               (unsigned long long)ms->n_rows, c->cfg.dim,
                               (unsigned long long)ms->file_size);
        if (vex_idmap_reserve(&r->deleted, ms->n_deleted) != VEX_OK)
            return coll_nomem(c);
        for (uint64_t j = 0; j < ms->n_deleted; j++) {
            if (!seg_find(r->s, ms->deleted[j], &row))
                return vex_err_set(&c->err, VEX_CORRUPT,
                                   "MANIFEST-%016llx: deleted id %llu is not "
                                   "in %s",
                                   (unsigned long long)m->number,
                                   (unsigned long long)ms->deleted[j],
                                   seg_path(r->s));
            vex_idmap_put(&r->deleted, ms->deleted[j], 0);
        }
        c->n_live += ms->n_rows - ms->n_deleted;
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
    rc = manifest_load(c->db->vfs, c->dir, c->mem, &c->err, &m);
    if (rc == VEX_NOTFOUND)
        rc = vex_err_set(&c->err, VEX_CORRUPT,
                         "%s: a collection directory without CURRENT", c->dir);
    if (rc != VEX_OK)
        goto out;
    if (strcmp(m.config.name, c->name) != 0) {
        rc = vex_err_set(&c->err, VEX_CORRUPT,
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
        rc = vex_err_set(&c->err, VEX_CORRUPT,
                         "%s: manifest configuration is invalid", c->dir);
        goto out;
    }
    c->manifest_no = m.number;
    c->next_file = m.next_file;
    c->flushed_seq = c->last_seq = m.flushed_seq;
    oc.c = c;
    oc.m = &m;
    oc.removed = 0;
    rc = c->db->vfs->methods->list(c->db->vfs, c->dir, orphan_entry, &oc,
                                   &c->err);
    if (rc == VEX_OK && oc.removed)
        rc = c->db->vfs->methods->sync_dir(c->db->vfs, c->dir, &c->err);
    if (rc == VEX_OK)
        rc = open_segments(c, &m);
    if (rc == VEX_OK)
        rc = memt_new(c, 0, &c->memt);
    if (rc != VEX_OK)
        goto out;
    rc = wal_replay(c->db->vfs, c->wal_dir, c->flushed_seq + 1, replay_record,
                    c, c->db->opts.allocator, &c->err, &st);
    if (rc != VEX_OK)
        goto out;
    if (st.n_records > 0 && st.next_seq <= c->flushed_seq) {
        rc = vex_err_set(&c->err, VEX_CORRUPT,
                         "%s: the log ends at record %llu but the manifest "
                         "says records up to %llu are in segments",
                         c->wal_dir, (unsigned long long)st.next_seq - 1,
                         (unsigned long long)c->flushed_seq);
        goto out;
    }
    wal_options_init(&wo);
    wo.max_file_bytes = c->db->opts.wal_file_bytes;
    wo.durability = c->db->opts.durability == VEX_DURABILITY_NONE
                        ? WAL_DURABILITY_NONE
                        : WAL_DURABILITY_FULL;
    rc = wal_open(c->db->vfs, c->wal_dir, &wo, c->db->opts.allocator, &c->err,
                  &c->w);
    if (rc != VEX_OK)
        goto out;
    if (wal_next_seq(c->w) <= c->flushed_seq) {
        /* a log that restarts below the manifest's position would have
         * its records skipped by the next replay */
        rc = vex_err_set(&c->err, VEX_CORRUPT,
                         "%s: the log starts again at record %llu but the "
                         "manifest says records up to %llu are in segments",
                         c->wal_dir, (unsigned long long)wal_next_seq(c->w),
                         (unsigned long long)c->flushed_seq);
        goto out;
    }
    rc = maybe_grow_memtable(c);
out:
    manifest_free(&m, c->mem);
    return rc;
}

int vexi_coll_destroy(vex_collection *c)
{
    int rc = VEX_OK, rc2;
    if (c == NULL)
        return VEX_OK;
    if (c->w) {
        if (c->db->opts.durability == VEX_DURABILITY_NONE && !c->sticky_rc)
            rc = wal_sync(c->w, &c->err);
        rc2 = wal_close(c->w, &c->err);
        if (rc == VEX_OK)
            rc = rc2;
    }
    for (uint32_t i = 0; i < c->n_segs; i++)
        seg_ref_free(c, c->segs[i]);
    vex_mem_free(c->mem, c->segs);
    vex_index_free(c->memt);
    vex_idmap_destroy(&c->memt_ids);
    vex_idmap_destroy(&c->overlay);
    vex_mem_free(c->mem, c->touched);
    vex_mem_free(c->mem, c->rec);
    vex_mem_free(c->mem, c->dir);
    vex_mem_free(c->mem, c->wal_dir);
    pthread_rwlock_destroy(&c->state);
    pthread_mutex_destroy(&c->wlock);
    vex_err_destroy(&c->err);
    vex_mem_free(c->mem, c);
    return rc;
}

/* db->mu held. */
int vexi_coll_open(vex_db *db, const char *name, vex_collection **out)
{
    vex_collection *c = vexi_db_find_open(db, name);
    int rc, kind;
    *out = NULL;
    if (c) {
        vexi_coll_ref(c);
        *out = c;
        return VEX_OK;
    }
    c = vex_mem_calloc(&db->mem, 1, sizeof *c);
    if (c == NULL)
        return vex_err_set(&db->err, VEX_NOMEM, "out of memory");
    c->db = db;
    c->mem = &db->mem;
    c->refs = 1;
    vex_err_init(&c->err);
    pthread_rwlock_init(&c->state, NULL);
    pthread_mutex_init(&c->wlock, NULL);
    vex_idmap_init(&c->memt_ids, c->mem);
    vex_idmap_init(&c->overlay, c->mem);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->dir = vexi_path_join(c->mem, db->coll_dir, name);
    c->wal_dir = c->dir ? vexi_path_join(c->mem, c->dir, "wal") : NULL;
    if (c->dir == NULL || c->wal_dir == NULL) {
        rc = vex_err_set(&db->err, VEX_NOMEM, "out of memory");
        goto fail;
    }
    rc = db->vfs->methods->exists(db->vfs, c->dir, &kind, &db->err);
    if (rc == VEX_OK && kind == VEX_VFS_DIR) {
        int leftover = 0;
        rc = vexi_coll_leftover(db->vfs, c->dir, &leftover, &db->err);
        if (rc == VEX_OK && leftover)
            kind = VEX_VFS_NONE;
    }
    if (rc == VEX_OK && kind != VEX_VFS_DIR)
        rc = vex_err_set(&db->err, VEX_NOTFOUND, "no collection \"%s\"", name);
    if (rc != VEX_OK)
        goto fail;
    rc = coll_load(c);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vex_err_copy(&c->err, msg, sizeof msg);
        vex_err_set(&db->err, rc, "collection \"%s\": %s", name, msg);
        goto fail;
    }
    rc = vexi_db_register(db, c);
    if (rc != VEX_OK)
        goto fail;
    *out = c;
    return VEX_OK;
fail:
    vexi_coll_destroy(c);
    return rc;
}

int vex_collection_close(vex_collection *c)
{
    if (c == NULL)
        return VEX_OK;
    return vexi_db_release(c->db, c);
}
