/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexhnsw_build.c - CREATE INDEX ... USING vexhnsw: the graph is built in
 * memory by VexDB's HNSW (src/index/ix.h: vx_ix_add on a worker pool of
 * max_parallel_maintenance_workers + 1 threads, the heuristic links, the
 * reachability pass of vx_ix_settle), copied out with vx_ix_links and
 * written to pages in one pass: elements are laid out page by page in id
 * order first, so every link's (block, offset) is known before a page is
 * written, and each page is written once, whole, as a full-image generic
 * WAL record.
 *
 * Memory: the vectors, the graph and the layout must fit in
 * maintenance_work_mem. When the heap holds more, the rows collected so
 * far are built and written as above, and the rest are added one by one
 * through the insert path (slower, same graph rules).
 *
 * Threads: VexDB's workers never call into PostgreSQL (they only run
 * vx_ix code on malloc'd memory); every vx_ix call is made with all
 * signals blocked, so the threads it starts inherit a full mask and
 * PostgreSQL's signal handlers only ever run on the backend's own thread.
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/generic_xlog.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "postmaster/bgworker_internals.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "vexpg.h"

#include "index/ix.h"

#define VEXBUILD_CHUNK 4096 /* vectors per vx_ix_add between interrupts */
#define VEXBUILD_SEED  0x5645584442ull

typedef struct VexBuild {
    Relation index;
    VexHnswShape shape;
    int efc;
    int max_level;
    int64 heap_tuples, index_tuples;
    /* collected rows (before the flush) */
    float *vecs;
    ItemPointerData *tids;
    int64 n, cap;
    Size limit;
    bool flushed; /* the in-memory part is written; insert the rest */
    MemoryContext tmp;
} VexBuild;

/* The graph as vx_ix_links reports it, in arrays the callback fills
 * without calling into PostgreSQL (malloc, failure = stop). */
typedef struct VexGraph {
    int64 n;
    int m, max_level;
    uint8 *level;
    uint32 *l0; /* n * 2m ids, then l0_n */
    uint16 *l0_n;
    uint32 **up; /* per node: level * (m + 1) words, count first */
    bool bad;
} VexGraph;

static int vexbuild_links_cb(void *ctx, uint64_t id, unsigned top,
                             unsigned level, const uint64_t *links, size_t n)
{
    VexGraph *g = ctx;
    unsigned keep = top > (unsigned)g->max_level ? (unsigned)g->max_level : top;
    uint32 *dst;
    if (id >= (uint64_t)g->n || n > (size_t)(level == 0 ? 2 * g->m : g->m))
        return g->bad = true;
    g->level[id] = (uint8)keep;
    if (level > keep)
        return 0;
    if (level == 0) {
        dst = g->l0 + (size_t)id * 2 * g->m;
        g->l0_n[id] = (uint16)n;
    } else {
        if (g->up[id] == NULL) {
            g->up[id] = malloc(sizeof(uint32) * keep * (g->m + 1));
            if (g->up[id] == NULL)
                return 1;
        }
        dst = g->up[id] + (size_t)(level - 1) * (g->m + 1);
        *dst++ = (uint32)n;
    }
    for (size_t i = 0; i < n; i++) {
        if (links[i] >= (uint64_t)g->n)
            return g->bad = true;
        dst[i] = (uint32)links[i];
    }
    return 0;
}

static void vexgraph_free(VexGraph *g)
{
    if (g->up != NULL)
        for (int64 i = 0; i < g->n; i++)
            free(g->up[i]);
    free(g->up);
    g->up = NULL;
}

static void vexbuild_fail(int rc, const vex_err *e, const char *what)
{
    ereport(ERROR, (errcode(rc == VEX_NOMEM ? ERRCODE_OUT_OF_MEMORY
                                            : ERRCODE_INTERNAL_ERROR),
                    errmsg("vexhnsw build: %s: %s (%s)", what, e->msg,
                           vex_errstr(rc))));
}

/* vx_ix work with every signal blocked (file comment). */
static sigset_t vexbuild_block(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    return old;
}

static void vexbuild_unblock(sigset_t old)
{
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Build the collected rows' graph in memory (vx_ix) and copy it into g. */
static void vexbuild_graph(VexBuild *b, VexGraph *g, uint64 *entry)
{
    vex_index_options o;
    vex_err e;
    vx_ix *ix = NULL;
    int rc;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    sigset_t old;

    vx_ix_options_init(&o);
    o.kind = VEX_INDEX_HNSW;
    o.dim = (uint32_t)b->shape.dim;
    o.metric = b->shape.metric == VEXPG_L2   ? VEX_METRIC_L2
               : b->shape.metric == VEXPG_IP ? VEX_METRIC_IP
                                             : VEX_METRIC_COSINE;
    o.n_threads = (uint32_t)Max(
        1, Min(max_parallel_maintenance_workers + 1, cpus > 0 ? cpus : 1));
    o.capacity = (uint64_t)b->n;
    o.hnsw_m = (uint32_t)b->shape.m;
    o.hnsw_ef_construction = (uint32_t)b->efc;
    o.hnsw_seed = VEXBUILD_SEED;
    vx_err_init(&e);
    PG_TRY();
    {
        old = vexbuild_block();
        rc = vx_ix_create(&o, NULL, &ix, &e);
        vexbuild_unblock(old);
        if (rc != VEX_OK)
            vexbuild_fail(rc, &e, "creating the in-memory index");
        for (int64 at = 0; at < b->n; at += VEXBUILD_CHUNK) {
            size_t cnt = (size_t)Min((int64)VEXBUILD_CHUNK, b->n - at);
            uint64_t ids[VEXBUILD_CHUNK];
            for (size_t i = 0; i < cnt; i++)
                ids[i] = (uint64_t)(at + (int64)i);
            CHECK_FOR_INTERRUPTS();
            old = vexbuild_block();
            rc = vx_ix_add(ix, ids, b->vecs + at * b->shape.dim, cnt, 0, &e);
            vexbuild_unblock(old);
            if (rc != VEX_OK)
                vexbuild_fail(rc, &e, "adding vectors");
        }
        old = vexbuild_block();
        rc = vx_ix_settle(ix, &e);
        if (rc == VEX_OK)
            rc = vx_ix_links(ix, vexbuild_links_cb, g, entry, &e);
        vexbuild_unblock(old);
        if (g->bad)
            elog(ERROR, "vexhnsw build: the in-memory graph has a link out "
                        "of range");
        if (rc != VEX_OK)
            vexbuild_fail(rc, &e, "copying the graph");
    }
    PG_FINALLY();
    {
        vx_ix_free(ix);
        vx_err_destroy(&e);
    }
    PG_END_TRY();
}

static void vexbuild_write_meta(Relation index, ForkNumber fork,
                                const VexBuild *b, struct vq_quantizer *vq,
                                BlockNumber entry_blk, OffsetNumber entry_off,
                                int entry_level, BlockNumber insert_blk)
{
    Buffer buf;
    GenericXLogState *st;
    Page page;
    VexHnswMeta *m;
    bool fresh = RelationGetNumberOfBlocksInFork(index, fork) == 0;
    buf = ReadBufferExtended(index, fork, fresh ? P_NEW : VEXHNSW_METAPAGE,
                             RBM_NORMAL, NULL);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    page = GenericXLogRegisterBuffer(st, buf, GENERIC_XLOG_FULL_IMAGE);
    vexhnsw_init_page(page);
    m = (VexHnswMeta *)PageGetContents(page);
    m->magic = VEXHNSW_MAGIC;
    m->version = VEXHNSW_VERSION;
    m->dim = (uint32)b->shape.dim;
    m->m = (uint16)b->shape.m;
    m->ef_construction = (uint16)b->efc;
    m->metric = (uint16)b->shape.metric;
    m->entry_level = (uint16)entry_level;
    m->entry_blk = entry_blk;
    m->entry_off = entry_off;
    m->unused = 0;
    m->insert_blk = insert_blk;
    m->quant = (uint16)b->shape.quant;
    m->quant_len = 0;
    if (vq != NULL)
        vexhnsw_sq8_store(index, vq, m);
    vexhnsw_meta_extent(page);
    GenericXLogFinish(st);
    UnlockReleaseBuffer(buf);
}

/* Lay the graph's elements out on pages, then write the pages in order
 * and the metapage (file comment). */
static void vexbuild_write(VexBuild *b, const VexGraph *g, uint64 entry)
{
    const VexHnswShape *s = &b->shape;
    Size avail =
        BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(VexHnswPageOpaque));
    Size used = 0;
    BlockNumber cur = 1;
    OffsetNumber next = FirstOffsetNumber;
    BlockNumber *blk =
        palloc_extended(sizeof(BlockNumber) * b->n, MCXT_ALLOC_HUGE);
    OffsetNumber *off =
        palloc_extended(sizeof(OffsetNumber) * b->n, MCXT_ALLOC_HUGE);

    for (int64 i = 0; i < b->n; i++) {
        Size need =
            MAXALIGN(vexhnsw_element_size(s, g->level[i])) + sizeof(ItemIdData);
        if (used + need > avail) {
            cur++;
            next = FirstOffsetNumber;
            used = 0;
        }
        blk[i] = cur;
        off[i] = next++;
        used += need;
    }
    for (int64 i = 0; i < b->n;) {
        Buffer buf = ReadBuffer(b->index, P_NEW);
        GenericXLogState *st;
        Page page;
        if (BufferGetBlockNumber(buf) != blk[i])
            elog(ERROR, "vexhnsw build: expected block %u, got %u", blk[i],
                 BufferGetBlockNumber(buf));
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        st = GenericXLogStart(b->index);
        page = GenericXLogRegisterBuffer(st, buf, GENERIC_XLOG_FULL_IMAGE);
        vexhnsw_init_page(page);
        for (; i < b->n && blk[i] == BufferGetBlockNumber(buf); i++) {
            int lv = g->level[i];
            Size size = vexhnsw_element_size(s, lv);
            VexHnswElement *e = palloc0(size);
            const float *v = b->vecs + i * s->dim;
            e->heaptid = b->tids[i];
            e->level = (uint8)lv;
            vexhnsw_encode(s, v, e);
            for (int l = 0; l <= lv; l++) {
                uint32 *list = vexhnsw_list(s, e, l);
                VexHnswLink *lk = vexhnsw_links(list);
                const uint32 *src;
                uint32 cnt;
                if (l == 0) {
                    src = g->l0 + (size_t)i * 2 * s->m;
                    cnt = g->l0_n[i];
                } else {
                    src = g->up[i] + (size_t)(l - 1) * (s->m + 1);
                    cnt = *src++;
                }
                for (uint32 j = 0; j < cnt; j++) {
                    lk[j].blk = blk[src[j]];
                    lk[j].off = off[src[j]];
                    lk[j].dist = vexhnsw_dist(
                        s->metric, v, b->vecs + (int64)src[j] * s->dim, s->dim);
                }
                *list = cnt;
            }
            if (PageAddItem(page, (Item)e, size, InvalidOffsetNumber, false,
                            false) != off[i])
                elog(ERROR, "vexhnsw build: element %lld not at its offset",
                     (long long)i);
            pfree(e);
        }
        GenericXLogFinish(st);
        UnlockReleaseBuffer(buf);
        CHECK_FOR_INTERRUPTS();
    }
    vexbuild_write_meta(b->index, MAIN_FORKNUM, b, s->vq, blk[entry],
                        off[entry], g->level[entry], cur);
}

/* Build the collected rows' graph in memory and write it (file comment). */
static void vexbuild_flush(VexBuild *b)
{
    VexGraph g;
    uint64 entry = 0;
    const VexHnswShape *s = &b->shape;
    MemoryContext old = MemoryContextSwitchTo(b->tmp);

    b->flushed = true;
    if (b->n == 0) {
        MemoryContextSwitchTo(old);
        return;
    }
    memset(&g, 0, sizeof g);
    g.n = b->n;
    g.m = s->m;
    g.max_level = b->max_level;
    g.level = palloc_extended(b->n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
    g.l0 = palloc_extended(sizeof(uint32) * b->n * 2 * s->m, MCXT_ALLOC_HUGE);
    g.l0_n = palloc_extended(sizeof(uint16) * b->n,
                             MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
    g.up = calloc((size_t)b->n, sizeof(uint32 *));
    if (g.up == NULL)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
                        errmsg("vexhnsw build: out of memory")));
    PG_TRY();
    {
        /* sq8: ranges trained on the rows collected (rows added after a
         * flush are encoded with them, clamped if outside) */
        if (s->quant == VEXHNSW_QUANT_SQ8)
            b->shape.vq = vexhnsw_sq8_train(s, b->vecs, b->n);
        vexbuild_graph(b, &g, &entry);
        vexbuild_write(b, &g, entry);
        b->shape.vq = NULL; /* freed with b->tmp below */
    }
    PG_FINALLY();
    {
        vexgraph_free(&g);
    }
    PG_END_TRY();
    b->index_tuples += b->n;
    b->n = 0;
    MemoryContextSwitchTo(old);
    MemoryContextReset(b->tmp);
}

static void vexbuild_callback(Relation index, ItemPointer tid, Datum *values,
                              bool *isnull, bool alive, void *state)
{
    VexBuild *b = state;
    VexVector *v;
    (void)alive;
    b->heap_tuples++;
    if (isnull[0])
        return;
    v = DatumGetVexVector(values[0]);
    if (v->dim != b->shape.dim)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("expected %d dimensions, not %d", b->shape.dim,
                               v->dim)));
    if (!vexhnsw_vector_ok(b->shape.metric, v))
        return;
    if (b->flushed) {
        MemoryContext old = MemoryContextSwitchTo(b->tmp);
        vexhnsw_insert_vector(index, v, tid);
        b->index_tuples++;
        MemoryContextSwitchTo(old);
        MemoryContextReset(b->tmp);
        return;
    }
    if (b->n == b->cap) {
        b->cap = b->cap == 0 ? 1024 : b->cap * 2;
        b->vecs =
            b->vecs == NULL
                ? palloc_extended(sizeof(float) * b->cap * b->shape.dim,
                                  MCXT_ALLOC_HUGE)
                : repalloc_huge(b->vecs, sizeof(float) * b->cap * b->shape.dim);
        b->tids =
            b->tids == NULL
                ? palloc_extended(sizeof(ItemPointerData) * b->cap,
                                  MCXT_ALLOC_HUGE)
                : repalloc_huge(b->tids, sizeof(ItemPointerData) * b->cap);
    }
    memcpy(b->vecs + b->n * b->shape.dim, v->x, sizeof(float) * b->shape.dim);
    b->tids[b->n++] = *tid;
    /* vectors, tids, graph (2m + a little per node), layout */
    if ((Size)b->n * (sizeof(float) * b->shape.dim + 16 +
                      sizeof(uint32) * 2 * (b->shape.m + 1)) >
        b->limit) {
        ereport(NOTICE,
                (errmsg("vexhnsw graph no longer fits in maintenance_work_mem "
                        "after %lld rows",
                        (long long)b->n),
                 errdetail("The rest are added one by one, which is slower."),
                 errhint("Increase maintenance_work_mem to speed up builds.")));
        vexbuild_flush(b);
    }
}

static void vexbuild_init(VexBuild *b, Relation index)
{
    VexHnswOptions *opt = (VexHnswOptions *)index->rd_options;
    int32 typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
    memset(b, 0, sizeof *b);
    b->index = index;
    if (typmod < 1)
        ereport(
            ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("column does not have dimensions"),
             errhint("Declare it as vexvector(n) to index it with vexhnsw.")));
    vexhnsw_shape_init(&b->shape, typmod, opt != NULL ? opt->m : 16,
                       vexhnsw_metric_of(index),
                       opt != NULL ? opt->quant : VEXHNSW_QUANT_NONE);
    b->efc = opt != NULL ? opt->ef_construction : 64;
    /* the quantizer's blob (8 bytes per dimension and a header) lives on
     * the metapage */
    if (b->shape.quant == VEXHNSW_QUANT_SQ8 &&
        (Size)8 * typmod + 64 > VEXHNSW_BLOB_MAX)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("vexhnsw with quant = sq8 indexes at most %d "
                               "dimensions, not %d",
                               (int)((VEXHNSW_BLOB_MAX - 64) / 8), typmod)));
    if (b->efc < 2 * b->shape.m)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("ef_construction must be at least 2 * m (%d)",
                               2 * b->shape.m)));
    if (MAXALIGN(vexhnsw_element_size(&b->shape, 0)) > VEXHNSW_MAX_ITEM)
        ereport(ERROR,
                (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                 errmsg("vexhnsw cannot index %d dimensions with m = %d: an "
                        "element must fit on a %d-byte page",
                        b->shape.dim, b->shape.m, BLCKSZ)));
    b->max_level = vexhnsw_max_level(&b->shape);
    b->limit = (Size)maintenance_work_mem * 1024;
    b->tmp = AllocSetContextCreate(CurrentMemoryContext, "vexhnsw build",
                                   ALLOCSET_DEFAULT_SIZES);
}

IndexBuildResult *vexhnsw_build(Relation heap, Relation index,
                                IndexInfo *indexInfo)
{
    VexBuild b;
    IndexBuildResult *r;
    if (RelationGetNumberOfBlocks(index) != 0)
        elog(ERROR, "index \"%s\" already contains data",
             RelationGetRelationName(index));
    vexbuild_init(&b, index);
    vexbuild_write_meta(index, MAIN_FORKNUM, &b, NULL, InvalidBlockNumber,
                        InvalidOffsetNumber, 0, InvalidBlockNumber);
    table_index_build_scan(heap, index, indexInfo, true, true,
                           vexbuild_callback, &b, NULL);
    if (!b.flushed)
        vexbuild_flush(&b);
    r = palloc(sizeof *r);
    r->heap_tuples = (double)b.heap_tuples;
    r->index_tuples = (double)b.index_tuples;
    return r;
}

/* An unlogged table's index: the init fork gets an empty metapage. */
void vexhnsw_buildempty(Relation index)
{
    VexBuild b;
    Buffer buf;
    Page page;
    VexHnswMeta *m;
    vexbuild_init(&b, index);
    buf = ReadBufferExtended(index, INIT_FORKNUM, P_NEW, RBM_NORMAL, NULL);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    START_CRIT_SECTION();
    page = BufferGetPage(buf);
    vexhnsw_init_page(page);
    m = (VexHnswMeta *)PageGetContents(page);
    memset(m, 0, sizeof *m);
    m->magic = VEXHNSW_MAGIC;
    m->version = VEXHNSW_VERSION;
    m->dim = (uint32)b.shape.dim;
    m->m = (uint16)b.shape.m;
    m->ef_construction = (uint16)b.efc;
    m->metric = (uint16)b.shape.metric;
    m->entry_blk = InvalidBlockNumber;
    m->insert_blk = InvalidBlockNumber;
    m->quant = (uint16)b.shape.quant;
    vexhnsw_meta_extent(page);
    MarkBufferDirty(buf);
    log_newpage_buffer(buf, true);
    END_CRIT_SECTION();
    UnlockReleaseBuffer(buf);
}
