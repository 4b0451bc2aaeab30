/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coll_int.h - the collection handle's private structures, shared by the
 * files that implement it (collection.c is the map; see its header for
 * the invariants and the state diagram).
 *
 *   collection.c   lifecycle: open, close, references, state, snapshots
 *   recovery.c     loading the manifest, orphans, segments, log replay
 *   apply.c        applying logged operations to the memtables/segments
 *   write.c        the writer queue, group commit, single-record writes
 *   batch.c        vex_batch: operations encoded ahead of a commit
 *   install.c      freezes and flow control, flush, compaction, manifest
 *                  publish and version install, background jobs
 *   read.c         get, get_meta, scan
 *   search.c       k-NN over a snapshot's sources, batch search
 *   filter_api.c   vex_filter and the filter builder
 *   stats.c        vex_stats, per-segment stats
 *   logrec.[ch]    the log record codec
 *
 * Locks, in order (never take an earlier one while holding a later one):
 * bg.flush_mu / bg.compact_mu (one flush, one compaction at a time), then
 * apply.mu, then one of the two leaf locks, each held for a few
 * instructions and never with the other: wq.mu (to queue, to hand a
 * group over, to set the sticky error) and ver.mu (to copy or swap the
 * snapshot). Each sub-struct below says
 * which lock guards it. Fields of the identity part are set while the
 * collection opens and never change afterwards: they are read without a
 * lock.
 */
#ifndef VEX_ENGINE_COLL_INT_H
#define VEX_ENGINE_COLL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/db.h"
#include "index/ix.h"
#include "meta/filter.h"
#include "meta/schema.h"
#include "storage/manifest.h"
#include "storage/memtable.h"
#include "storage/version.h"
#include "storage/wal.h"
#include "text/text.h"
#include "util/check.h"
#include "util/idmap.h"
#include "vexdb.h"

/* Limits of one batch (and one chunk of vex_insert_many) and of one
 * group's log record: a request larger than a group (a batch whose
 * metadata updates carry large payloads) fails with VEX_FULL. */
#define VX_BATCH_MAX_BYTES ((size_t)VEX_BATCH_MAX_BYTES)
#define VX_GROUP_MAX_BYTES ((size_t)32 << 20)

/* The collection's state (transitions in collection.c's header). */
typedef enum vx_coll_state {
    VX_COLL_OPENING = 0, /* loading and replaying; not yet registered */
    VX_COLL_OPEN,        /* takes writes */
    VX_COLL_ERROR,       /* sticky: refuses writes until reopened */
    VX_COLL_CLOSING      /* jobs cancelled, writers woken; being freed */
} vx_coll_state;

/* One request in the writer queue: a batch's encoded operations, or one
 * operation. Lives on the stack of the thread that waits for it. */
typedef struct vx_wreq {
    struct vx_wreq *next;
    const unsigned char *ops; /* encoded operations (a batch), or NULL */
    size_t ops_len, n_ops;
    int one_kind;
    uint64_t one_id;
    const void *one_vec;
    const unsigned char *one_meta; /* encoded record (kinds 4-8) */
    size_t one_meta_len;
    const unsigned char *one_pay; /* payload (kinds 7-10) */
    size_t one_pay_len;
    const char *one_txt; /* text (kinds 9, 10) */
    size_t one_txt_len;
    size_t n_setmeta; /* metadata-only updates (logged with a vector) */
    /* a delete by filter (vex_delete_where): the leader evaluates it
     * alone, at the state it logs after, and sets n_deleted */
    const vex_filter *where;
    uint64_t n_deleted;
    size_t bytes; /* logged size, exact once the leader validated it */
    int done, rc;
    char msg[VEX_ERRMSG_MAX];
    pthread_cond_t cv;
} vx_wreq;

struct vex_collection {
    /* ---- identity: set while opening, read-only afterwards ---- */
    vex_db *db;
    vex_mem *mem; /* the database's */
    char name[VEX_NAME_MAX + 1];
    char *dir, *wal_dir;
    man_config cfg;
    vex_index_config icfg; /* for vector checks and memtables */
    /* the text field's analysis (cfg.text, text_stemmer, text_stopwords) */
    vt_analyzer analyzer;
    size_t vec_bytes;
    /* the metadata schema (NULL: none), its blob for the manifests, and
     * the public view vex_collection_get_config hands out */
    vm_schema *schema;
    unsigned char *schema_blob;
    uint32_t schema_len;
    vex_schema_field *schema_pub;
    char *schema_names;
    wal *w; /* the log: opened last while opening; has its own lock */
    /* a read-only handle pinned at a kept version (vex_collection_open_at),
     * or 0 */
    uint64_t at_version;

    vex_err err; /* the handle's message; has its own mutex */
    int refs;    /* db->mu */

    /* ---- life: the state and the sticky error ---- */
    struct {
        /* vx_coll_state; stored under wq.mu (with release), loaded
         * without a lock (acquire) */
        _Atomic int state;
        /* set exactly when the state becomes CLOSING: the cancel flag
         * storage routines (flush and compaction builds, memtable
         * indexing) poll between steps */
        _Atomic int cancel;
        /* why the state is ERROR; written once, under wq.mu, before the
         * state is */
        int sticky_rc;
        char sticky_msg[VEX_ERRMSG_MAX];
    } life;

    /* ---- the version readers snapshot (ver.mu; changed only by a
     * holder of apply.mu, so apply.mu holders read it without ver.mu) */
    struct {
        vx_mutex mu;
        version *cur;
        uint64_t visible_seq;
    } ver;

    /* ---- the apply side (apply.mu): rows, freezes, installs ---- */
    struct {
        vx_mutex mu;
        pthread_cond_t room_cv; /* a flush finished / the handle closes */
        uint64_t last_seq;      /* of the last applied log record */
        /* the manifest's (stored under apply.mu; read without it by
         * vex_stats_get) */
        _Atomic uint64_t flushed_seq;
        uint64_t manifest_no, next_file;
        /* as_of_seq of the current manifest: a clean close publishes one
         * more manifest when last_seq has moved past it, so the next open
         * can tell a lost log tail from a short one */
        uint64_t published_as_of;
        /* a flush that failed without making the handle sticky: writers
         * waiting for room give up with its status and message */
        uint64_t flush_fails;
        int flush_rc; /* of the last failed flush, VEX_OK after a success */
        char flush_msg[VEX_ERRMSG_MAX];
        /* a float-aligned copy of a logged vector that follows
         * variable-length metadata in a record (allocated on use) */
        unsigned char *vec_align;
        /* read-only handles: the next refresh must reload everything
         * (an incremental replay failed part-way through a record) */
        int ro_stale;
        /* replay stops before this record (a handle at a version: its
         * as_of_seq + 1), 0 = at the end of the log */
        uint64_t stop_seq;
    } apply;

    /* ---- versions kept for point-in-time reads (writable handles,
     * manifest_retention >= 2; apply.mu): the manifests published before
     * the current one, oldest first, at most retention - 1 ---- */
    struct {
        struct vx_kept *v;
        uint32_t n, cap;
    } keep;

    /* ---- the write leader's scratch (apply.mu holder) ---- */
    struct {
        vex_idmap overlay; /* id -> 1 live / 0 gone, this group */
        vex_idmap vecmap;  /* id -> its vector's offset in rec */
        uint64_t *touched; /* ids put in the overlay */
        size_t n_touched, cap_touched;
        unsigned char *rec; /* the group's record */
        size_t rec_cap;
        unsigned char *vecbuf; /* the vector a metadata update keeps */
        /* most deletes one delete by filter may log; 0 = what one log
         * record holds (write.c); lowered only by tests */
        uint64_t where_max;
    } lead;

    /* ---- the writer queue (wq.mu) ---- */
    struct {
        vx_mutex mu;
        vx_wreq *head, *tail;
    } wq;

    /* ---- background work ---- */
    struct {
        vx_mutex flush_mu;   /* one flush at a time, oldest first */
        vx_mutex compact_mu; /* one compaction at a time */
        /* automatic compaction paused after a failure, until a flush
         * succeeds (atomic: set under apply.mu, polled without it) */
        _Atomic int compact_failed;
        /* the running flush's and compaction's progress (vex_stats):
         * output rows in the index so far, of all; 0 and 0 when none
         * runs (written by the build, read without a lock) */
        _Atomic uint64_t flush_done, flush_total;
        _Atomic uint64_t compact_done, compact_total;
        /* when the write path last published a group (vx_now_ns; 0:
         * never): background indexing narrows while writes arrive */
        _Atomic uint64_t last_write_ns;
        /* memtable index chunks the background linked narrowed, and at
         * the pool's full width (for tests) */
        _Atomic uint64_t index_narrow, index_wide;
    } bg;

    /* ---- counters (atomic, no lock) ---- */
    struct {
        _Atomic uint64_t n_live;
        _Atomic uint64_t n_flushes, n_compactions, n_compacted_rows, n_stalls;
    } counts;

    /* ---- metrics (relaxed atomics, no lock; engine/obs.h) ---- */
    vx_metrics met;
};

/* A compiled filter (filter_api.c). */
struct vex_filter {
    vex_mem mem;
    vex_db *db; /* its match sets are in db->mcache */
    vmf_filter *f;
    /* its canonical text (vex_filter_print), which names its match sets
     * in the database's cache: handles with the same text share them */
    vx_mkey key;
    char *text;
};

/* Counters of one search call (vex_search_stats), shared by its workers. */
typedef struct vx_qstats {
    _Atomic uint32_t sources, plain, exact, graph, post, fallbacks, built;
    _Atomic uint64_t matched;
    /* DiskANN segments' reads (vex_search_stats.io_*) */
    _Atomic uint64_t io_reads, io_pages, io_bytes, io_cache_hits;
    /* explain: the caller's entries (source i writes entry i), or NULL */
    vex_source_explain *ex;
    uint32_t ex_cap;
} vx_qstats;

/* A snapshot (V2), and the counters of the search using it (or NULL). */
typedef struct vx_snap {
    version *v;
    uint64_t seq;
    vx_qstats *qs;
} vx_snap;

/* A kept older manifest version: what its files are. */
typedef struct vx_kept {
    uint64_t number, flushed_seq;
    uint64_t *segs; /* segment numbers */
    uint32_t n_segs;
} vx_kept;

/* ---- collection.c ---- */
int vx_coll_nomem(vex_collection *c);
/* Whether background compactions have anything to do for `c`: the
 * size-tiered or deleted-rows policy is on, or the collection has
 * DiskANN segments to convert (install.c schedules them). */
int vx_coll_compacts(const vex_collection *c);
/* Whether the handle can be used at all (not NULL, open). */
int vx_coll_usable(const vex_collection *c);
void vx_coll_snap_take(vex_collection *c, vx_snap *s);
void vx_coll_snap_drop(vx_snap *s);
/* Publish a new current version (apply.mu held); takes over the caller's
 * reference to `v`. */
void vx_coll_install_version(vex_collection *c, version *v);
/* OPEN -> ERROR with `rc` and "what: <the handle's message>"; wakes
 * writers waiting for room. No-op unless OPEN. */
void vx_coll_fail(vex_collection *c, int rc, const char *what);
/* VEX_OK, or the status that made the collection sticky (then its
 * message is c->life.sticky_msg, stable from then on). */
int vx_coll_sticky(const vex_collection *c);
/* The state now (a hint unless the caller holds wq.mu). */
vx_coll_state vx_coll_state_now(const vex_collection *c);
/* The collection's index options for graphs built on the background
 * pool. */
void vx_coll_index_opts(const vex_collection *c, vex_index_options *io);
int vx_coll_memtable_new(vex_collection *c, memtable **out);
int vx_coll_version_from(vex_collection *c, memtable *const *mts,
                         uint32_t n_mts, vseg *const *segs, uint32_t n_segs,
                         version **out);

/* VEX_OK when the handle may be written: VEX_MISUSE for a closed or
 * NULL handle, VEX_READONLY with a message naming `what` on a read-only
 * database. */
int vx_coll_writable(vex_collection *c, const char *what);
/* Whether the collection belongs to a read-only database. */
#define VX_COLL_RO(c) ((c)->db->opts.read_only)

/* ---- apply.c (apply.mu held, or recovery before the handle is
 * shared) ---- */
#define VX_ASSERT_APPLY(c)                                                     \
    VX_ASSERT(vx_mutex_held(&(c)->apply.mu) ||                                 \
              vx_coll_state_now(c) == VX_COLL_OPENING)
int vx_coll_has_id(const vex_collection *c, uint64_t id);
int vx_coll_live_row(vex_collection *c, uint64_t id, const void **vec,
                     const unsigned char **pay, size_t *pay_len,
                     const char **txt, size_t *txt_len);
const void *vx_coll_vec_aligned(vex_collection *c, const void *vec);
struct vx_op;
int vx_coll_apply_op(vex_collection *c, const struct vx_op *op, uint64_t seq);

/* ---- install.c ---- */
int vx_coll_active_full(const vex_collection *c);
int vx_coll_freeze(vex_collection *c);
int vx_coll_need_room(vex_collection *c);
int vx_coll_close_mark(vex_collection *c);

/* ---- write.c ---- */
int vx_coll_submit(vex_collection *c, vx_wreq *w);
int vx_coll_check_vec(vex_collection *c, const void *vec, const char *what,
                      size_t pos, uint64_t id, char *msg, size_t msg_size);
int vx_coll_check_meta(vex_collection *c, const vm_record *rec, int kind,
                       uint64_t id, size_t pos, char *msg, size_t msg_size);
/* A caller's vex_record of any accepted struct_size (util/abi.h): left
 * alone when of this header's size, else copied over zeros into *buf and
 * *r pointed there. VEX_MISUSE for a size out of range. */
int vx_record_take(const vex_record **r, vex_record *buf, vex_err *err);
/* A record's text arguments: VEX_OK, or VEX_INVALID with msg (a text
 * on a collection without a text field, too long, NULL with a length,
 * not valid UTF-8). */
int vx_coll_check_text(const vex_collection *c, const char *txt, size_t len,
                       const char *what, size_t pos, uint64_t id, char *msg,
                       size_t msg_size);
/* A record's payload arguments: VEX_OK, or VEX_INVALID with msg. */
int vx_coll_check_payload(const void *pay, size_t len, const char *what,
                          size_t pos, uint64_t id, char *msg, size_t msg_size);

/* ---- search.c ---- */
/* Check a k-NN call's k, params (stats included) and query; the message
 * in c->err. *params (not NULL) of an older struct_size is replaced by
 * its full copy in *buf (util/abi.h). */
int vx_coll_search_check(vex_collection *c, const void *query, size_t k,
                         const vex_search_params **params,
                         vex_search_params *buf);
/* The k nearest records to `query` (checked) over snapshot s into
 * hits[0..*n_hits), nearest first; `tmp` has room for k hits; fills
 * params->stats when set. */
int vx_coll_search_run(vex_collection *c, vx_snap *s, const void *query,
                       size_t k, const vex_search_params *params, vex_hit *hits,
                       vex_hit *tmp, size_t *n_hits);

/* hybrid.c: params.text checked (VEX_INVALID naming the problem), and
 * the keyword or hybrid search of it over snapshot s (called by
 * vx_coll_search_run), which fills params->stats. */
int vx_coll_text_check(vex_collection *c, const void *query, size_t k,
                       const vex_search_params *p);
int vx_coll_hybrid_run(vex_collection *c, vx_snap *s, const void *query,
                       size_t k, const vex_search_params *p, vex_hit *hits,
                       size_t *n_hits);

/* Metrics of a search call that started at t0 (vx_now_ns) and ended with
 * rc: n_queries of `kind` (0, 1, 2: knn, range, batch) and its time (the
 * plans its sources ran are counted by vx_coll_search_run). A no-op for
 * an unusable handle. */
void vx_coll_search_done(vex_collection *c, int kind, size_t n_queries,
                         uint64_t t0, int rc);

/* ---- read.c ---- */
/* The source holding `id`'s row visible at snapshot s and its ref, or
 * NULL. */
const vx_source *vx_coll_find_row(const vx_snap *s, uint64_t id, uint64_t *ref);
int vx_coll_get_snap(vex_collection *c, const vx_snap *s, uint64_t id,
                     void *out);
int vx_coll_get_meta_snap(vex_collection *c, const vx_snap *s, uint64_t id,
                          vex_meta *out);
/* Called for each scanned row; a non-zero return stops the scan and is
 * returned. */
typedef int (*vx_coll_row_fn)(void *ctx, const vx_source *src, uint64_t id,
                              uint64_t ref);
int vx_coll_scan_snap(vex_collection *c, const vx_snap *s,
                      const vex_filter *where, vx_coll_row_fn fn, void *ctx);

/* ---- recovery.c ---- */
/* Load the collection (state OPENING): for a writable database, recovery
 * (orphans removed, log opened for appending); for a read-only one, a
 * consistent snapshot of the files, written nothing. */
int vx_coll_load(vex_collection *c);
/* Free the kept-versions list. */
void vx_coll_keep_free(vex_collection *c);
/* After a publish that replaced manifest `old_number` (flushed_seq
 * `old_flushed`, segments of version `old_v`) by one for version `nv`
 * (apply.mu held): keep the old one, and remove the files of the versions
 * that leave the window (install.c calls it). */
void vx_coll_keep_push(vex_collection *c, uint64_t old_number,
                       uint64_t old_flushed, const version *old_v,
                       const version *nv);
/* The oldest flushed_seq a kept version needs the log after (UINT64_MAX
 * when none is kept). */
uint64_t vx_coll_keep_min_flushed(const vex_collection *c);

#endif
