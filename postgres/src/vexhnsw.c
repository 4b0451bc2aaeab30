/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexhnsw.c - the vexhnsw index access method: its handler, options and
 * settings, the page and element readers (every element read from a page
 * is checked before use: ERRCODE_INDEX_CORRUPTED, never a wild read), the
 * insert path and the planner's cost estimate.
 *
 * Insert (aminsert), one element q of random level L:
 *   1. descend greedily from the entry point through levels above L;
 *   2. on each level min(L, top) .. 0, walk the graph with a beam of
 *      ef_construction (vexwalk_batch) and choose q's links among the
 *      results by the HNSW heuristic (a candidate is kept only if it is
 *      nearer to q than to every link already kept);
 *   3. write q's element on a page with room: over a free slot or in the
 *      free space of a page the free space map names (VACUUM freed it),
 *      else the last page used, else a new page (vexhnsw_place);
 *   4. add q to each chosen neighbour's list at that level: appended while
 *      the list has room; a full list is chosen again by the heuristic
 *      among its links and q (vexhnsw_link_prune: the vectors are read
 *      without holding the list's page lock, and the result is written
 *      only if the list is unchanged, else q replaces the farthest link
 *      when nearer, which needs no vectors since every link stores its
 *      distance); when no list took q, the nearest neighbour takes it in
 *      place of its farthest link, so every element has an in-link (a far
 *      outlier otherwise would have none and no search could reach it);
 *   5. make q the entry point when its level is above the current top.
 * Under quant = sq8 the element holds SQ8 codes (vexhnsw_encode) and
 * every distance is to the decoded codes (vexhnsw_elem_vec); scans turn
 * them into lower bounds (vexhnsw_lower_bound) for the executor's
 * recheck. Inserts hold the update lock in share mode throughout (see
 * vexhnsw_insert_vector).
 * Each page change is one GenericXLog record taken under that page's
 * exclusive lock; no backend holds two element-page locks at once, so
 * inserts, scans and vacuum cannot deadlock on buffers. A reader may see
 * q's element before any list names it (harmless) and a list naming q
 * only after q is on its page (step 3 precedes step 4).
 */
#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/genam.h"
#include "access/reloptions.h"
#include "catalog/index.h"
#include "commands/vacuum.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"

#include "vexpg.h"

#include "quant/quant.h"
#include "simd/simd.h"

int vexhnsw_ef_search = 40;
int vexhnsw_max_scan_tuples = 20000;
static relopt_kind vexhnsw_relopt_kind;
static relopt_enum_elt_def vexhnsw_quant_values[] = {
    {"none", VEXHNSW_QUANT_NONE},
    {"sq8", VEXHNSW_QUANT_SQ8},
    {(const char *)NULL, 0},
};

void _PG_init(void);
void _PG_init(void)
{
    vexhnsw_relopt_kind = add_reloption_kind();
    add_int_reloption(vexhnsw_relopt_kind, "m",
                      "Links per node on the upper levels (2m on level 0)", 16,
                      2, 100, AccessExclusiveLock);
    add_int_reloption(vexhnsw_relopt_kind, "ef_construction",
                      "Beam width while building and inserting", 64, 4, 1000,
                      AccessExclusiveLock);
    add_enum_reloption(
        vexhnsw_relopt_kind, "quant", "What an element stores of its vector",
        vexhnsw_quant_values, VEXHNSW_QUANT_NONE,
        "Valid values are \"none\" and \"sq8\".", AccessExclusiveLock);
    DefineCustomIntVariable(
        "vexdb.ef_search", "Beam width of vexhnsw index scans",
        "Larger finds more of the true nearest neighbours, slower.",
        &vexhnsw_ef_search, 40, 1, 1000, PGC_USERSET, 0, NULL, NULL, NULL);
    DefineCustomIntVariable(
        "vexdb.max_scan_tuples",
        "Most tuples a vexhnsw scan returns before it ends",
        "A filtered query keeps the scan going past ef_search until LIMIT "
        "rows pass the filter or this many were returned.",
        &vexhnsw_max_scan_tuples, 20000, 1, INT_MAX, PGC_USERSET, 0, NULL, NULL,
        NULL);
    MarkGUCPrefixReserved("vexdb");
}

/* ---- distances ---- */

float vexhnsw_dist(int metric, const float *a, const float *b, int dim)
{
    const vex_simd_table *s = vx_simd();
    switch (metric) {
    case VEXPG_L2:
        return s->l2sq_f32(a, b, (size_t)dim);
    case VEXPG_IP:
        return -s->dot_f32(a, b, (size_t)dim);
    default:
        return s->cosine_f32(a, b, (size_t)dim);
    }
}

double vexhnsw_dist_out(int metric, float d)
{
    return metric == VEXPG_L2 ? sqrt((double)d) : (double)d;
}

/* Whether the index takes v: under cosine a zero vector has no direction
 * (VexDB refuses it), so it is left out of the index like a NULL. */
bool vexhnsw_vector_ok(int metric, const VexVector *v)
{
    return metric != VEXPG_COSINE ||
           vx_simd()->norm2_f32(v->x, (size_t)v->dim) > 0.0f;
}

/* ---- metapage and pages ---- */

void vexhnsw_init_page(Page page)
{
    VexHnswPageOpaque *op;
    PageInit(page, BLCKSZ, sizeof(VexHnswPageOpaque));
    op = (VexHnswPageOpaque *)PageGetSpecialPointer(page);
    op->flags = 0;
    op->page_id = VEXHNSW_PAGE_ID;
}

static void vexhnsw_check_meta(Relation index, const VexHnswMeta *m)
{
    if (m->magic != VEXHNSW_MAGIC)
        ereport(ERROR,
                (errcode(ERRCODE_INDEX_CORRUPTED),
                 errmsg("index \"%s\" is not a vexhnsw index (bad magic)",
                        RelationGetRelationName(index))));
    if (m->version != 1 && m->version != VEXHNSW_VERSION)
        ereport(ERROR,
                (errcode(ERRCODE_INDEX_CORRUPTED),
                 errmsg("index \"%s\" has page format version %u, this build "
                        "reads %d: REINDEX it",
                        RelationGetRelationName(index), m->version,
                        VEXHNSW_VERSION)));
    if (m->dim < 1 || m->dim > VEXVECTOR_MAX_DIM || m->m < 2 || m->m > 100 ||
        m->metric < VEXPG_L2 || m->metric > VEXPG_COSINE ||
        m->entry_level > VEXHNSW_MAX_LEVEL || m->quant > VEXHNSW_QUANT_SQ8 ||
        m->quant_len > VEXHNSW_BLOB_MAX ||
        (m->quant == VEXHNSW_QUANT_NONE && m->quant_len != 0))
        ereport(ERROR,
                (errcode(ERRCODE_INDEX_CORRUPTED),
                 errmsg("index \"%s\": metapage out of range (dim %u, m %u, "
                        "metric %u, entry level %u, quant %u, blob %u bytes)",
                        RelationGetRelationName(index), m->dim, m->m, m->metric,
                        m->entry_level, m->quant, m->quant_len)));
}

/* After a change of a metapage (the registered copy): version 2 and
 * pd_lower past the blob, so that every field is outside the page's hole
 * (which full-page images and generic WAL leave out). */
void vexhnsw_meta_extent(Page page)
{
    VexHnswMeta *m = (VexHnswMeta *)PageGetContents(page);
    Size end = (char *)m->quant_blob + m->quant_len - (char *)page;
    m->version = VEXHNSW_VERSION;
    if (((PageHeader)page)->pd_lower < end)
        ((PageHeader)page)->pd_lower = (LocationIndex)end;
}

/* A copy of the metapage, checked: meta is the m of a VexHnswMetaBuf
 * (room for the quantizer's blob). */
void vexhnsw_read_meta(Relation index, VexHnswMeta *meta)
{
    Buffer buf = ReadBuffer(index, VEXHNSW_METAPAGE);
    const VexHnswMeta *pm;
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    pm = (const VexHnswMeta *)PageGetContents(BufferGetPage(buf));
    memcpy(meta, pm, offsetof(VexHnswMeta, quant_blob));
    if (meta->quant_len <= VEXHNSW_BLOB_MAX)
        memcpy(meta->quant_blob, pm->quant_blob, meta->quant_len);
    UnlockReleaseBuffer(buf);
    vexhnsw_check_meta(index, meta);
}

/* VexDB's allocator interface over palloc, in the context current when
 * the quantizer was made (freed with it, also on error). */
static void *vexhnsw_vq_alloc(void *user, size_t size)
{
    return MemoryContextAllocExtended((MemoryContext)user, Max(size, 1),
                                      MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void *vexhnsw_vq_realloc(void *user, void *ptr, size_t size)
{
    if (ptr == NULL)
        return vexhnsw_vq_alloc(user, size);
    return repalloc_huge(ptr, Max(size, 1));
}

static void vexhnsw_vq_free(void *user, void *ptr)
{
    (void)user;
    if (ptr != NULL)
        pfree(ptr);
}

static void vexhnsw_vq_mem(vex_mem *mem)
{
    vex_allocator a;
    a.alloc = vexhnsw_vq_alloc;
    a.realloc = vexhnsw_vq_realloc;
    a.free = vexhnsw_vq_free;
    a.user = CurrentMemoryContext;
    if (vx_mem_init(mem, &a) != VEX_OK)
        elog(ERROR, "vexhnsw: allocator refused");
}

static vex_metric vexhnsw_vex_metric(int metric)
{
    return metric == VEXPG_L2   ? VEX_METRIC_L2
           : metric == VEXPG_IP ? VEX_METRIC_IP
                                : VEX_METRIC_COSINE;
}

void vexhnsw_shape_init(VexHnswShape *s, int dim, int m, int metric, int quant)
{
    s->dim = dim;
    s->m = m;
    s->metric = metric;
    s->quant = quant;
    s->payload = vexhnsw_payload_size(quant, dim);
    s->vq = NULL;
    s->scratch =
        quant == VEXHNSW_QUANT_SQ8 ? palloc(sizeof(float) * (Size)dim) : NULL;
}

/* The shape of the index the metapage describes; under sq8 the quantizer
 * read from the metapage's blob (checked by vx_vq_deserialize: magic,
 * checksum, every field), allocated in the current memory context. */
void vexhnsw_shape(Relation index, const VexHnswMeta *meta, VexHnswShape *s)
{
    vexhnsw_shape_init(s, (int)meta->dim, meta->m, meta->metric, meta->quant);
    if (meta->quant == VEXHNSW_QUANT_SQ8 && meta->quant_len > 0) {
        vex_mem mem;
        vex_err e;
        int rc;
        vexhnsw_vq_mem(&mem);
        vx_err_init(&e);
        rc = vx_vq_deserialize(&mem, meta->quant_blob, meta->quant_len, &s->vq,
                               &e);
        if (rc == VEX_OK &&
            (vx_vq_get_kind(s->vq) != VQ_SQ8 || vx_vq_dim(s->vq) != meta->dim ||
             vx_vq_metric(s->vq) != vexhnsw_vex_metric(meta->metric))) {
            rc = VEX_CORRUPT;
            snprintf(e.msg, sizeof e.msg, "kind, dimension or metric differ");
        }
        if (rc != VEX_OK) {
            char msg[sizeof e.msg];
            memcpy(msg, e.msg, sizeof msg);
            vx_err_destroy(&e);
            ereport(ERROR,
                    (errcode(rc == VEX_NOMEM ? ERRCODE_OUT_OF_MEMORY
                                             : ERRCODE_INDEX_CORRUPTED),
                     errmsg("index \"%s\": the metapage's sq8 quantizer: %s",
                            RelationGetRelationName(index), msg)));
        }
        vx_err_destroy(&e);
    }
}

/* The element's vector: its floats, or under sq8 its codes decoded into
 * s->scratch (valid until the next call with the same shape). A free
 * slot has no vector: NULL. */
const float *vexhnsw_elem_vec(const VexHnswShape *s, const VexHnswElement *e)
{
    if (e->flags & VEXHNSW_FREE)
        return NULL;
    if (s->quant == VEXHNSW_QUANT_NONE)
        return e->vec;
    if (s->vq == NULL || vx_vq_decode(s->vq, ((const VexHnswSq8 *)e->vec)->code,
                                      1, s->scratch) != VEX_OK)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("vexhnsw: an sq8 element in an index whose "
                               "metapage has no quantizer")));
    return s->scratch;
}

/* Fill e's payload from x (dim floats). Under sq8: the codes, the error
 * of their decoded vector against x (x / |x| under cosine, the space the
 * quantizer works in) computed in double and rounded up, and |x|. */
void vexhnsw_encode(const VexHnswShape *s, const float *x, VexHnswElement *e)
{
    VexHnswSq8 *p = (VexHnswSq8 *)e->vec;
    double err = 0, nn = 0, scale = 1;
    if (s->quant == VEXHNSW_QUANT_NONE) {
        memcpy(e->vec, x, sizeof(float) * (Size)s->dim);
        return;
    }
    if (s->vq == NULL || vx_vq_encode(s->vq, x, 1, p->code) != VEX_OK ||
        vx_vq_decode(s->vq, p->code, 1, s->scratch) != VEX_OK)
        ereport(ERROR,
                (errcode(ERRCODE_DATA_EXCEPTION),
                 errmsg("vexhnsw: could not encode a vector: %s",
                        s->vq != NULL ? vx_vq_errmsg(s->vq) : "no quantizer")));
    for (int i = 0; i < s->dim; i++)
        nn += (double)x[i] * x[i];
    if (s->metric == VEXPG_COSINE && nn > 0)
        scale = 1.0 / sqrt(nn);
    for (int i = 0; i < s->dim; i++) {
        double d = (double)x[i] * scale - (double)s->scratch[i];
        err += d * d;
    }
    p->err = (float)(sqrt(err) * (1 + 1e-6) + 1e-30);
    p->norm = (float)(sqrt(nn) * (1 + 1e-6));
    for (int i = s->dim; i < (int)TYPEALIGN(4, (Size)s->dim); i++)
        p->code[i] = 0;
}

/* A trained sq8 quantizer for the shape: on n vectors x (a seeded
 * subsample of at most 65,536, VexDB's default), or with n = 0 on fixed
 * ranges (the first insert into an index built empty; see
 * docs/postgres.md). Allocated in the current memory context. */
struct vq_quantizer *vexhnsw_sq8_train(const VexHnswShape *s, const float *x,
                                       int64 n)
{
    vq_params p;
    vq_quantizer *q = NULL;
    vex_mem mem;
    vex_err e;
    float *tmp = NULL;
    int rc;
    vexhnsw_vq_mem(&mem);
    vx_err_init(&e);
    vx_vq_params_init(&p, VQ_SQ8, (uint32_t)s->dim,
                      vexhnsw_vex_metric(s->metric));
    rc = vx_vq_create(&mem, &p, &q, &e);
    if (rc == VEX_OK && n == 0) {
        /* +-a on each axis: the range [-a, a] in every dimension; a = 1
         * under cosine (unit vectors), else twice the largest component
         * of x (the row being inserted) */
        float a = 1;
        if (s->metric != VEXPG_COSINE) {
            a = 0;
            for (int i = 0; i < s->dim; i++)
                a = Max(a, fabsf(x[i]));
            a = a > 0 ? 2 * a : 1;
        }
        tmp = palloc0_array(float, (Size)2 * s->dim * s->dim);
        for (int i = 0; i < s->dim; i++) {
            tmp[(Size)(2 * i) * s->dim + i] = a;
            tmp[(Size)(2 * i + 1) * s->dim + i] = -a;
        }
        x = tmp;
        n = 2 * s->dim;
    }
    if (rc == VEX_OK)
        rc = vx_vq_train(q, x, (size_t)n);
    if (rc != VEX_OK) {
        char msg[sizeof e.msg];
        snprintf(msg, sizeof msg, "%s", q != NULL ? vx_vq_errmsg(q) : e.msg);
        vx_err_destroy(&e);
        ereport(ERROR,
                (errcode(rc == VEX_NOMEM ? ERRCODE_OUT_OF_MEMORY
                                         : ERRCODE_DATA_EXCEPTION),
                 errmsg("vexhnsw: training the sq8 quantizer: %s", msg)));
    }
    vx_err_destroy(&e);
    if (tmp != NULL)
        pfree(tmp);
    return q;
}

/* Write q's blob into metapage contents m; returns its size. */
Size vexhnsw_sq8_store(Relation index, struct vq_quantizer *q, VexHnswMeta *m)
{
    Size n = vx_vq_blob_size(q);
    if (n == 0 || n > VEXHNSW_BLOB_MAX ||
        vx_vq_serialize(q, m->quant_blob, n) != VEX_OK)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("index \"%s\": the sq8 quantizer (%zu bytes) "
                               "does not fit on the metapage (%zu bytes)",
                               RelationGetRelationName(index), (size_t)n,
                               (size_t)VEXHNSW_BLOB_MAX)));
    m->quant_len = (uint16)n;
    return n;
}

/* Under sq8, a lower bound of the operator's value for element e whose
 * decoded vector is y and whose internal distance to the query q (norm
 * qnorm) is d. Triangle inequality with the element's stored error err:
 * L2, |q - x| >= |q - y| - err; inner product, -q.x >= -q.y - |q| err;
 * cosine, against y as decoded (not renormalised, which would move it by
 * up to err again), 1 - q.x/|q||x| >= 1 - q.y/|q| - err. Each bound also
 * gives up a float32 rounding allowance (r per component, of the kernel
 * that computed d and of the operator the executor recomputes), so it
 * holds for the values PostgreSQL compares: the executor refuses a row
 * whose value is below the one the index returned. Rejected: one error
 * for every element (the index's largest, so that the bounds keep the
 * order of the distances): on a 1M set the largest error is several
 * times the typical one, and the executor, which reads rows until the
 * next bound passes the LIMIT's last distance, read so many more that
 * QPS fell 2-4x (BENCHMARKS.md). */
double vexhnsw_lower_bound(const VexHnswShape *s, const VexHnswElement *e,
                           const float *y, const float *q, double qnorm,
                           float d)
{
    const VexHnswSq8 *p = (const VexHnswSq8 *)e->vec;
    double r = (double)(s->dim + 8) * 1.2e-7, err = p->err, lb;
    switch (s->metric) {
    case VEXPG_L2:
        lb = (sqrt(Max((double)d, 0.0)) * (1 - r) - err) * (1 - r);
        return Max(lb, 0.0);
    case VEXPG_IP:
        return (double)d - qnorm * err -
               2 * r * qnorm * ((double)p->norm + err);
    default:
        if (!(qnorm > 0)) /* a zero query: every distance is 1 */
            return 1 - 1e-6;
        lb = 1 - (double)vx_simd()->dot_f32(q, y, (size_t)s->dim) / qnorm -
             err - 4 * r * (1 + err) - 1e-6;
        return Max(lb, 0.0);
    }
}

/* The metric of the index's operator class (support function 1). */
int vexhnsw_metric_of(Relation index)
{
    FmgrInfo *f = index_getprocinfo(index, 1, 1);
    int metric = DatumGetInt32(FunctionCall1(f, PointerGetDatum(NULL)));
    if (metric < VEXPG_L2 || metric > VEXPG_COSINE)
        elog(ERROR, "vexhnsw: operator class support function returned %d",
             metric);
    return metric;
}

/* The highest level whose element fits on a page. */
int vexhnsw_max_level(const VexHnswShape *s)
{
    int l = 0;
    while (l < VEXHNSW_MAX_LEVEL &&
           MAXALIGN(vexhnsw_element_size(s, l + 1)) <= VEXHNSW_MAX_ITEM)
        l++;
    return l;
}

static void vexhnsw_corrupt(Relation index, BlockNumber blk, OffsetNumber off,
                            const char *what)
{
    ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                    errmsg("index \"%s\": element (%u,%u): %s",
                           RelationGetRelationName(index), blk, off, what)));
}

/* The element at `off` of element page `page` (block blk), checked: the
 * page is an element page, the line pointer is in use, the size matches
 * the element's level. Its link lists are checked when read
 * (vexhnsw_get_list). The caller holds a lock. */
VexHnswElement *vexhnsw_get_element(Relation index, const VexHnswShape *s,
                                    Page page, BlockNumber blk,
                                    OffsetNumber off)
{
    ItemId iid;
    VexHnswElement *e;
    VexHnswPageOpaque *op;
    if (blk == VEXHNSW_METAPAGE || PageIsNew(page) ||
        PageGetSpecialSize(page) != MAXALIGN(sizeof(VexHnswPageOpaque)))
        vexhnsw_corrupt(index, blk, off, "not an element page");
    op = (VexHnswPageOpaque *)PageGetSpecialPointer(page);
    if (op->page_id != VEXHNSW_PAGE_ID)
        vexhnsw_corrupt(index, blk, off, "not an element page");
    if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
        vexhnsw_corrupt(index, blk, off, "no such item on the page");
    iid = PageGetItemId(page, off);
    if (!ItemIdIsNormal(iid))
        vexhnsw_corrupt(index, blk, off, "unused line pointer");
    e = (VexHnswElement *)PageGetItem(page, iid);
    if (ItemIdGetLength(iid) < VEXHNSW_STUB_SIZE)
        vexhnsw_corrupt(index, blk, off, "size does not match its level");
    if ((e->flags & ~(VEXHNSW_DELETED | VEXHNSW_FREE | VEXHNSW_REPAIRED)) ||
        ((e->flags & VEXHNSW_REPAIRED) && !(e->flags & VEXHNSW_DELETED)))
        vexhnsw_corrupt(index, blk, off, "unknown flags");
    if (e->flags & VEXHNSW_FREE) {
        if (e->flags != (VEXHNSW_DELETED | VEXHNSW_FREE) || e->level != 0 ||
            ItemIdGetLength(iid) != VEXHNSW_STUB_SIZE)
            vexhnsw_corrupt(index, blk, off, "malformed free slot");
        return e;
    }
    if (e->level > VEXHNSW_MAX_LEVEL ||
        ItemIdGetLength(iid) != vexhnsw_element_size(s, e->level))
        vexhnsw_corrupt(index, blk, off, "size does not match its level");
    if (s->quant == VEXHNSW_QUANT_SQ8) {
        const VexHnswSq8 *p = (const VexHnswSq8 *)e->vec;
        if (!(p->err >= 0 && p->err < INFINITY && p->norm >= 0 &&
              p->norm < INFINITY))
            vexhnsw_corrupt(index, blk, off, "sq8 error or norm out of range");
    }
    return e;
}

/* The level-l list of element e (l <= e->level), checked: its count is
 * within its capacity and every link names a block past the metapage. */
uint32 *vexhnsw_get_list(Relation index, const VexHnswShape *s,
                         VexHnswElement *e, BlockNumber blk, OffsetNumber off,
                         int l)
{
    uint32 *list;
    VexHnswLink *lk;
    if ((e->flags & VEXHNSW_FREE) || l > e->level)
        vexhnsw_corrupt(index, blk, off, "no such link list");
    list = vexhnsw_list(s, e, l);
    lk = vexhnsw_links(list);
    if (*list > (uint32)vexhnsw_cap(s, l))
        vexhnsw_corrupt(index, blk, off, "link count over capacity");
    for (uint32 i = 0; i < *list; i++)
        if (lk[i].blk == VEXHNSW_METAPAGE || lk[i].blk == InvalidBlockNumber ||
            lk[i].off < FirstOffsetNumber)
            vexhnsw_corrupt(index, blk, off, "link to no element");
    return list;
}

/* ---- insert ---- */

static int vexhnsw_random_level(const VexHnswShape *s)
{
    double u = pg_prng_double(&pg_global_prng_state);
    double l = -log(1.0 - u) / log((double)s->m);
    int max = vexhnsw_max_level(s);
    return l >= max ? max : (int)l;
}

typedef struct VexCand {
    float d;
    int idx; /* into the walk's nodes */
} VexCand;

/* The HNSW heuristic over the walk's results (sorted nearest first): at
 * most `cap` of them, each nearer to q than to every one kept before it.
 * Returns how many; their node indexes in sel. */
static int vexhnsw_select(const VexWalk *w, const int *res, int n, int cap,
                          int *sel)
{
    int k = 0;
    for (int i = 0; i < n && k < cap; i++) {
        const VexWalkNode *c = &w->nodes[res[i]];
        bool keep = true;
        for (int j = 0; j < k && keep; j++) {
            const VexWalkNode *s = &w->nodes[sel[j]];
            if (vexhnsw_dist(w->shape.metric, c->vec, s->vec, w->shape.dim) <
                c->d)
                keep = false;
        }
        if (keep)
            sel[k++] = res[i];
    }
    return k;
}

/* The most bytes an element placed on element page `page` can take: the
 * free space plus a free slot's header when the page has a free slot
 * (reused with its line pointer), else the free space less a new line
 * pointer. The caller holds a lock. */
Size vexhnsw_page_room(Relation index, const VexHnswShape *s, Page page,
                       BlockNumber blk)
{
    OffsetNumber max;
    if (PageIsNew(page))
        return 0;
    max = PageGetMaxOffsetNumber(page);
    for (OffsetNumber o = FirstOffsetNumber; o <= max; o++)
        if (vexhnsw_get_element(index, s, page, blk, o)->flags & VEXHNSW_FREE)
            return PageGetExactFreeSpace(page) + MAXALIGN(VEXHNSW_STUB_SIZE);
    return PageGetFreeSpace(page);
}

/* Put element e (size bytes) on page blk if it has room: in place of a
 * free slot (PageIndexTupleOverwrite keeps every other line pointer, so
 * no link changes meaning) when the page has one and room for the
 * difference, else as a new item. Returns whether it did; sets *off and
 * *room (the page's room afterwards, vexhnsw_page_room). */
static bool vexhnsw_place_on(Relation index, const VexHnswShape *s,
                             BlockNumber blk, VexHnswElement *e, Size size,
                             OffsetNumber *off, Size *room)
{
    Buffer buf = ReadBuffer(index, blk);
    Page page;
    GenericXLogState *st;
    OffsetNumber max, stub = InvalidOffsetNumber;
    bool done = false;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    page = BufferGetPage(buf);
    *room = 0;
    if (PageIsNew(page)) {
        UnlockReleaseBuffer(buf);
        return false;
    }
    max = PageGetMaxOffsetNumber(page);
    for (OffsetNumber o = FirstOffsetNumber; o <= max; o++)
        if (vexhnsw_get_element(index, s, page, blk, o)->flags & VEXHNSW_FREE) {
            stub = o;
            break;
        }
    if (stub != InvalidOffsetNumber &&
        PageGetExactFreeSpace(page) + MAXALIGN(VEXHNSW_STUB_SIZE) >=
            MAXALIGN(size)) {
        st = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(st, buf, 0);
        if (!PageIndexTupleOverwrite(page, stub, (Item)e, size))
            elog(ERROR, "vexhnsw: could not reuse slot (%u,%u)", blk, stub);
        *room = vexhnsw_page_room(index, s, page, blk);
        GenericXLogFinish(st);
        *off = stub;
        done = true;
    } else if (PageGetFreeSpace(page) >= MAXALIGN(size)) {
        st = GenericXLogStart(index);
        page = GenericXLogRegisterBuffer(st, buf, 0);
        *off =
            PageAddItem(page, (Item)e, size, InvalidOffsetNumber, false, false);
        if (*off == InvalidOffsetNumber)
            elog(ERROR, "vexhnsw: could not add an element to block %u", blk);
        *room = vexhnsw_page_room(index, s, page, blk);
        GenericXLogFinish(st);
        done = true;
    } else
        *room = vexhnsw_page_room(index, s, page, blk);
    UnlockReleaseBuffer(buf);
    return done;
}

/* Put element e (size bytes) on a page with room: one PostgreSQL's free
 * space map names (VACUUM records there the room free slots left, a hint
 * checked under the page's lock and corrected on every use), else the
 * hinted page, else a new page. Sets *blk, *off. */
static void vexhnsw_place(Relation index, const VexHnswShape *s,
                          const VexHnswMeta *meta, VexHnswElement *e, Size size,
                          BlockNumber *blk, OffsetNumber *off)
{
    BlockNumber hint = meta->insert_blk, nblocks, b;
    Buffer buf;
    GenericXLogState *st;
    Page page;
    Size room;
    nblocks = RelationGetNumberOfBlocks(index);
    b = GetPageWithFreeSpace(index, MAXALIGN(size));
    for (int tries = 0; b != InvalidBlockNumber && tries < 8; tries++) {
        bool ok = b != VEXHNSW_METAPAGE && b < nblocks &&
                  vexhnsw_place_on(index, s, b, e, size, off, &room);
        if (b == VEXHNSW_METAPAGE || b >= nblocks)
            room = 0;
        if (ok) {
            RecordPageWithFreeSpace(index, b, room);
            *blk = b;
            return;
        }
        b = RecordAndGetPageWithFreeSpace(index, b, room, MAXALIGN(size));
    }
    if (hint != InvalidBlockNumber && hint != VEXHNSW_METAPAGE &&
        hint < nblocks &&
        vexhnsw_place_on(index, s, hint, e, size, off, &room)) {
        *blk = hint;
        return;
    }
    LockRelationForExtension(index, ExclusiveLock);
    buf = ReadBuffer(index, P_NEW);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    UnlockRelationForExtension(index, ExclusiveLock);
    st = GenericXLogStart(index);
    page = GenericXLogRegisterBuffer(st, buf, GENERIC_XLOG_FULL_IMAGE);
    vexhnsw_init_page(page);
    *off = PageAddItem(page, (Item)e, size, InvalidOffsetNumber, false, false);
    if (*off == InvalidOffsetNumber)
        elog(ERROR, "vexhnsw: could not add an element to a new page");
    GenericXLogFinish(st);
    *blk = BufferGetBlockNumber(buf);
    UnlockReleaseBuffer(buf);

    /* the hint (a hint only: a lost update costs one page read) */
    buf = ReadBuffer(index, VEXHNSW_METAPAGE);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    page = GenericXLogRegisterBuffer(st, buf, 0);
    ((VexHnswMeta *)PageGetContents(page))->insert_blk = *blk;
    GenericXLogFinish(st);
    UnlockReleaseBuffer(buf);
}

/* Add link (to, d) to the level-l list of element (blk, off): appended
 * when there is room, else in place of the farthest link if nearer, or
 * with `force` in place of the farthest link whatever its distance.
 * Returns whether the list links `to` afterwards. */
static bool vexhnsw_link_back(Relation index, const VexHnswShape *s,
                              BlockNumber blk, OffsetNumber off, int l,
                              BlockNumber to_blk, OffsetNumber to_off, float d,
                              bool force)
{
    Buffer buf = ReadBuffer(index, blk);
    GenericXLogState *st;
    Page page;
    VexHnswElement *e;
    uint32 *list;
    VexHnswLink *lk;
    int worst = -1;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    page = GenericXLogRegisterBuffer(st, buf, 0);
    e = vexhnsw_get_element(index, s, page, blk, off);
    if ((e->flags & VEXHNSW_FREE) || l > e->level) {
        GenericXLogAbort(st);
        UnlockReleaseBuffer(buf);
        return false;
    }
    list = vexhnsw_get_list(index, s, e, blk, off, l);
    lk = vexhnsw_links(list);
    for (uint32 i = 0; i < *list; i++) {
        if (lk[i].blk == to_blk && lk[i].off == to_off) {
            GenericXLogAbort(st);
            UnlockReleaseBuffer(buf);
            return true;
        }
        if (worst < 0 || lk[i].dist > lk[worst].dist)
            worst = (int)i;
    }
    if (*list < (uint32)vexhnsw_cap(s, l))
        worst = (int)(*list)++;
    else if (worst < 0 || (!force && !(d < lk[worst].dist))) {
        GenericXLogAbort(st);
        UnlockReleaseBuffer(buf);
        return false;
    }
    lk[worst].blk = to_blk;
    lk[worst].off = to_off;
    lk[worst].unused = 0;
    lk[worst].dist = d;
    GenericXLogFinish(st);
    UnlockReleaseBuffer(buf);
    return true;
}

static int vexhnsw_link_cmp(const void *a, const void *b)
{
    float x = ((const VexHnswLink *)a)->dist,
          y = ((const VexHnswLink *)b)->dist;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Step 4 for one neighbour (blk, off) at level l: q (to, at distance d,
 * vector to_vec) joins its list. With room it is appended; a full list is
 * re-chosen by the HNSW heuristic over its links and q (vectors read one
 * element at a time, no lock held), and written only if the list did not
 * change meanwhile (else the nearest-replaces-farthest rule applies).
 * Returns whether the list links q afterwards. */
static bool vexhnsw_link_prune(Relation index, const VexHnswShape *s,
                               BlockNumber blk, OffsetNumber off, int l,
                               BlockNumber to_blk, OffsetNumber to_off, float d,
                               const float *to_vec)
{
    int cap = vexhnsw_cap(s, l), n, k = 0;
    VexHnswLink *cur = palloc(sizeof(VexHnswLink) * (cap + 1));
    VexHnswLink *cand = palloc(sizeof(VexHnswLink) * (cap + 1));
    VexHnswLink *keep = palloc(sizeof(VexHnswLink) * (cap + 1));
    float *vecs = palloc(sizeof(float) * s->dim * (cap + 1));
    float **kv = palloc(sizeof(float *) * (cap + 1));
    bool has_q = false, same;
    Buffer buf;
    GenericXLogState *st;
    VexHnswElement *e;
    uint32 *list;

    n = vexhnsw_read_links(index, s, blk, off, l, cur);
    if (n < cap)
        return vexhnsw_link_back(index, s, blk, off, l, to_blk, to_off, d,
                                 false);
    for (int i = 0; i < n; i++)
        if (cur[i].blk == to_blk && cur[i].off == to_off)
            return true;
    memcpy(cand, cur, sizeof(VexHnswLink) * n);
    cand[n].blk = to_blk;
    cand[n].off = to_off;
    cand[n].unused = 0;
    cand[n].dist = d;
    /* while choosing, a candidate's `unused` field holds its row in vecs */
    for (int i = 0; i <= n; i++) {
        cand[i].unused = (uint16)i;
        if (i < n)
            vexhnsw_read_vector(index, s, cand[i].blk, cand[i].off,
                                vecs + (Size)i * s->dim);
        else
            memcpy(vecs + (Size)i * s->dim, to_vec, sizeof(float) * s->dim);
    }
    qsort(cand, n + 1, sizeof(VexHnswLink), vexhnsw_link_cmp);
    for (int i = 0; i <= n && k < cap; i++) {
        const float *cv = vecs + (Size)cand[i].unused * s->dim;
        bool ok = true;
        for (int j = 0; j < k && ok; j++)
            ok = !(vexhnsw_dist(s->metric, cv, kv[j], s->dim) < cand[i].dist);
        if (!ok)
            continue;
        kv[k] = (float *)cv;
        keep[k++] = cand[i];
        has_q |= cand[i].blk == to_blk && cand[i].off == to_off;
    }
    if (!has_q)
        return false;

    buf = ReadBuffer(index, blk);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    e = vexhnsw_get_element(index, s, GenericXLogRegisterBuffer(st, buf, 0),
                            blk, off);
    if ((e->flags & VEXHNSW_FREE) || l > e->level) {
        GenericXLogAbort(st);
        UnlockReleaseBuffer(buf);
        return false;
    }
    list = vexhnsw_get_list(index, s, e, blk, off, l);
    same = *list == (uint32)n;
    for (int i = 0; same && i < n; i++)
        same = vexhnsw_links(list)[i].blk == cur[i].blk &&
               vexhnsw_links(list)[i].off == cur[i].off;
    if (!same) {
        GenericXLogAbort(st);
        UnlockReleaseBuffer(buf);
        return vexhnsw_link_back(index, s, blk, off, l, to_blk, to_off, d,
                                 false);
    }
    for (int i = 0; i < k; i++) {
        keep[i].unused = 0;
        vexhnsw_links(list)[i] = keep[i];
    }
    *list = (uint32)k;
    GenericXLogFinish(st);
    UnlockReleaseBuffer(buf);
    return true;
}

/* Make (blk, off) of `level` the entry point if the index is empty or its
 * top is lower. Returns whether it did. */
static bool vexhnsw_set_entry(Relation index, BlockNumber blk, OffsetNumber off,
                              int level, bool only_if_empty)
{
    Buffer buf = ReadBuffer(index, VEXHNSW_METAPAGE);
    GenericXLogState *st;
    VexHnswMeta *m;
    bool done = false;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    m = (VexHnswMeta *)PageGetContents(GenericXLogRegisterBuffer(st, buf, 0));
    if (m->entry_blk == InvalidBlockNumber ||
        (!only_if_empty && level > m->entry_level)) {
        m->entry_blk = blk;
        m->entry_off = off;
        m->entry_level = (uint16)level;
        done = true;
        GenericXLogFinish(st);
    } else
        GenericXLogAbort(st);
    UnlockReleaseBuffer(buf);
    return done;
}

/* Under sq8, an index built on no rows has no quantizer yet: the first
 * insert trains one on fixed ranges (vexhnsw_sq8_train) and stores it on
 * the metapage, unless another backend did first. */
static void vexhnsw_train_first(Relation index, const VexHnswShape *s,
                                const float *x)
{
    Buffer buf = ReadBuffer(index, VEXHNSW_METAPAGE);
    GenericXLogState *st;
    VexHnswMeta *m;
    Page page;
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    st = GenericXLogStart(index);
    page = GenericXLogRegisterBuffer(st, buf, 0);
    m = (VexHnswMeta *)PageGetContents(page);
    if (m->quant == VEXHNSW_QUANT_SQ8 && m->quant_len == 0) {
        vexhnsw_sq8_store(index, vexhnsw_sq8_train(s, x, 0), m);
        vexhnsw_meta_extent(page);
        GenericXLogFinish(st);
    } else
        GenericXLogAbort(st);
    UnlockReleaseBuffer(buf);
}

static void vexhnsw_insert_graph(Relation index, const VexVector *v,
                                 ItemPointer tid);

/* One element into the graph. Inserts hold the update lock (a page lock
 * on the metapage's number, not a buffer lock) in share mode from start
 * to end; VACUUM takes it exclusively once, to wait for every insert that
 * could still link to an element it is about to free (vexhnsw_vacuum.c). */
void vexhnsw_insert_vector(Relation index, const VexVector *v, ItemPointer tid)
{
    LockPage(index, VEXHNSW_METAPAGE, ShareLock);
    vexhnsw_insert_graph(index, v, tid);
    UnlockPage(index, VEXHNSW_METAPAGE, ShareLock);
}

/* The steps in the file comment. */
static void vexhnsw_insert_graph(Relation index, const VexVector *v,
                                 ItemPointer tid)
{
    VexHnswMetaBuf mbuf;
    VexHnswMeta *meta = &mbuf.m;
    VexHnswShape s;
    int level, top, cap0;
    Size size;
    VexHnswElement *e;
    BlockNumber blk, ep_blk;
    OffsetNumber off, ep_off;
    float ep_d;
    int **sel, *n_sel;
    VexWalk *walks;
    int n_levels;

    vexhnsw_read_meta(index, meta);
    vexhnsw_shape(index, meta, &s);
    if (v->dim != s.dim)
        ereport(ERROR,
                (errcode(ERRCODE_DATA_EXCEPTION),
                 errmsg("expected %d dimensions, not %d", s.dim, v->dim)));
    if (s.quant == VEXHNSW_QUANT_SQ8 && s.vq == NULL) {
        vexhnsw_train_first(index, &s, v->x);
        vexhnsw_read_meta(index, meta);
        vexhnsw_shape(index, meta, &s);
    }
    level = vexhnsw_random_level(&s);
    size = vexhnsw_element_size(&s, level);
    e = palloc0(size);
    e->heaptid = *tid;
    e->level = (uint8)level;
    vexhnsw_encode(&s, v->x, e);

    if (meta->entry_blk == InvalidBlockNumber) {
        /* the first element: no links to choose */
        vexhnsw_place(index, &s, meta, e, size, &blk, &off);
        if (vexhnsw_set_entry(index, blk, off, level, true))
            return;
        /* another backend's element became the entry meanwhile: link ours
         * like any other (its element is found again below) */
        vexhnsw_read_meta(index, meta);
        {
            float d = vexhnsw_element_dist(index, &s, v->x, meta->entry_blk,
                                           meta->entry_off);
            Buffer buf;
            GenericXLogState *st;
            VexHnswElement *me;
            uint32 *list;
            vexhnsw_link_back(index, &s, meta->entry_blk, meta->entry_off, 0,
                              blk, off, d, true);
            buf = ReadBuffer(index, blk);
            LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
            st = GenericXLogStart(index);
            me = vexhnsw_get_element(
                index, &s, GenericXLogRegisterBuffer(st, buf, 0), blk, off);
            list = vexhnsw_list(&s, me, 0);
            vexhnsw_links(list)[0].blk = meta->entry_blk;
            vexhnsw_links(list)[0].off = meta->entry_off;
            vexhnsw_links(list)[0].dist = d;
            *list = 1;
            GenericXLogFinish(st);
            UnlockReleaseBuffer(buf);
        }
        return;
    }

    /* 1. greedy descent to level `level` + 1 */
    top = meta->entry_level;
    ep_blk = meta->entry_blk;
    ep_off = meta->entry_off;
    ep_d = vexhnsw_element_dist(index, &s, v->x, ep_blk, ep_off);
    for (int l = top; l > level; l--)
        vexhnsw_greedy(index, &s, v->x, l, &ep_blk, &ep_off, &ep_d);

    /* 2. a beam walk and a selection per level */
    n_levels = Min(level, top) + 1;
    walks = palloc0(sizeof(VexWalk) * n_levels);
    sel = palloc0(sizeof(int *) * n_levels);
    n_sel = palloc0(sizeof(int) * n_levels);
    cap0 = Max(meta->ef_construction, 2 * s.m);
    {
        int *seeds = NULL, n_seeds = 0;
        VexWalk *prev = NULL;
        for (int l = n_levels - 1; l >= 0; l--) {
            VexWalk *w = &walks[l];
            int *res = palloc(sizeof(int) * cap0);
            int n;
            vexwalk_init(w, index, &s, v->x, l, true);
            if (prev == NULL)
                vexwalk_visit(w, ep_blk, ep_off);
            else
                for (int i = 0; i < n_seeds; i++)
                    vexwalk_visit(w, prev->nodes[seeds[i]].blk,
                                  prev->nodes[seeds[i]].off);
            n = vexwalk_batch(w, meta->ef_construction, res);
            sel[l] = palloc(sizeof(int) * vexhnsw_cap(&s, l));
            n_sel[l] = vexhnsw_select(w, res, n, vexhnsw_cap(&s, l), sel[l]);
            seeds = res;
            n_seeds = n;
            prev = w;
            if (n == 0) /* only deleted elements seen: seed below anyway */
            {
                seeds = palloc(sizeof(int));
                seeds[0] = 0;
                n_seeds = w->n > 0 ? 1 : 0;
            }
        }
    }
    for (int l = 0; l < n_levels; l++) {
        uint32 *list = vexhnsw_list(&s, e, l);
        VexHnswLink *lk = vexhnsw_links(list);
        for (int i = 0; i < n_sel[l]; i++) {
            const VexWalkNode *nd = &walks[l].nodes[sel[l][i]];
            lk[i].blk = nd->blk;
            lk[i].off = nd->off;
            lk[i].dist = nd->d;
        }
        *list = (uint32)n_sel[l];
    }

    /* 3. on a page; 4. linked back; 5. the entry point */
    vexhnsw_place(index, &s, meta, e, size, &blk, &off);
    for (int l = 0; l < n_levels; l++) {
        bool linked = false;
        for (int i = 0; i < n_sel[l]; i++) {
            const VexWalkNode *nd = &walks[l].nodes[sel[l][i]];
            linked |= vexhnsw_link_prune(index, &s, nd->blk, nd->off, l, blk,
                                         off, nd->d, v->x);
        }
        /* No list took q (every chosen neighbour's links are nearer): the
         * nearest takes it in place of its farthest link, so q has an
         * in-link and searches can reach it. */
        if (!linked && n_sel[l] > 0) {
            const VexWalkNode *nd = &walks[l].nodes[sel[l][0]];
            vexhnsw_link_back(index, &s, nd->blk, nd->off, l, blk, off, nd->d,
                              true);
        }
    }
    if (level > top)
        vexhnsw_set_entry(index, blk, off, level, false);
    for (int l = 0; l < n_levels; l++)
        vexwalk_free(&walks[l]);
}

bool vexhnsw_insert(Relation index, Datum *values, bool *isnull,
                    ItemPointer heap_tid, Relation heap,
                    IndexUniqueCheck checkUnique, bool indexUnchanged,
                    IndexInfo *indexInfo)
{
    MemoryContext ctx, old;
    VexVector *v;
    (void)heap, (void)checkUnique, (void)indexUnchanged, (void)indexInfo;
    if (isnull[0])
        return false;
    ctx = AllocSetContextCreate(CurrentMemoryContext, "vexhnsw insert",
                                ALLOCSET_DEFAULT_SIZES);
    old = MemoryContextSwitchTo(ctx);
    v = DatumGetVexVector(values[0]);
    if (vexhnsw_vector_ok(vexhnsw_metric_of(index), v))
        vexhnsw_insert_vector(index, v, heap_tid);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(ctx);
    return false;
}

/* ---- planner ---- */

/* Only ordered scans use the index (a vexhnsw index answers no WHERE
 * clause). An element reached costs a distance and an index tuple visit;
 * the start-up cost is the first batch (about ef_search * 2m elements
 * reached); the total is a walk of the whole graph, each element reached
 * and expanded (reading its links) with every index page read at random.
 * Under a LIMIT the planner charges the share of the total the LIMIT
 * needs given the WHERE clause's selectivity, so the more selective the
 * filter, the more of the graph a scan walks, and past a point the exact
 * plan (sequential scan and a top-N sort) is cheaper and chosen. */
static void vexhnsw_costestimate(PlannerInfo *root, IndexPath *path,
                                 double loop_count, Cost *startup, Cost *total,
                                 Selectivity *selectivity, double *correlation,
                                 double *pages)
{
    GenericCosts costs;
    double tuples, per_elem, first;
    VexHnswOptions *opt;
    int m = 16;
    Relation index;
    memset(&costs, 0, sizeof costs);
    if (path->indexorderbys == NIL) {
        *startup = get_float8_infinity();
        *total = get_float8_infinity();
        *selectivity = 0;
        *correlation = 0;
        *pages = 0;
        return;
    }
    index = index_open(path->indexinfo->indexoid, NoLock);
    opt = (VexHnswOptions *)index->rd_options;
    if (opt != NULL)
        m = opt->m;
    index_close(index, NoLock);
    genericcostestimate(root, path, loop_count, &costs);
    tuples = Max(path->indexinfo->tuples, 1.0);
    per_elem = cpu_operator_cost * 4 + cpu_index_tuple_cost;
    first = Min(tuples, (double)vexhnsw_ef_search * 2 * m);
    *startup = first * per_elem;
    *total = *startup + tuples * per_elem * 4 +
             costs.numIndexPages * random_page_cost;
    *selectivity = 1.0;
    *correlation = 0;
    *pages = costs.numIndexPages;
}

static bytea *vexhnsw_options(Datum reloptions, bool validate)
{
    static const relopt_parse_elt tab[] = {
        {"m", RELOPT_TYPE_INT, offsetof(VexHnswOptions, m)},
        {"ef_construction", RELOPT_TYPE_INT,
         offsetof(VexHnswOptions, ef_construction)},
        {"quant", RELOPT_TYPE_ENUM, offsetof(VexHnswOptions, quant)},
    };
    return (bytea *)build_reloptions(reloptions, validate, vexhnsw_relopt_kind,
                                     sizeof(VexHnswOptions), tab,
                                     lengthof(tab));
}

static bool vexhnsw_validate(Oid opclassoid)
{
    (void)opclassoid;
    return true;
}

PG_FUNCTION_INFO_V1(vexhnsw_handler);
Datum vexhnsw_handler(PG_FUNCTION_ARGS)
{
    IndexAmRoutine *am = makeNode(IndexAmRoutine);
    (void)fcinfo;
    am->amstrategies = 0;
    am->amsupport = 1;
    am->amoptsprocnum = 0;
    am->amcanorder = false;
    am->amcanorderbyop = true;
    am->amcanbackward = false;
    am->amcanunique = false;
    am->amcanmulticol = false;
    am->amoptionalkey = true;
    am->amsearcharray = false;
    am->amsearchnulls = false;
    am->amstorage = false;
    am->amclusterable = false;
    am->ampredlocks = false;
    am->amcanparallel = false;
    am->amcaninclude = false;
    am->amusemaintenanceworkmem = true;
    am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
    am->amkeytype = InvalidOid;

    am->ambuild = vexhnsw_build;
    am->ambuildempty = vexhnsw_buildempty;
    am->aminsert = vexhnsw_insert;
    am->ambulkdelete = vexhnsw_bulkdelete;
    am->amvacuumcleanup = vexhnsw_vacuumcleanup;
    am->amcanreturn = NULL;
    am->amcostestimate = vexhnsw_costestimate;
    am->amoptions = vexhnsw_options;
    am->amproperty = NULL;
    am->ambuildphasename = NULL;
    am->amvalidate = vexhnsw_validate;
    am->amadjustmembers = NULL;
    am->ambeginscan = vexhnsw_beginscan;
    am->amrescan = vexhnsw_rescan;
    am->amgettuple = vexhnsw_gettuple;
    am->amgetbitmap = NULL;
    am->amendscan = vexhnsw_endscan;
    am->ammarkpos = NULL;
    am->amrestrpos = NULL;
    am->amestimateparallelscan = NULL;
    am->aminitparallelscan = NULL;
    am->amparallelrescan = NULL;
    PG_RETURN_POINTER(am);
}

/* Support function 1 of each operator class: its metric. */
PG_FUNCTION_INFO_V1(vexhnsw_metric_l2);
Datum vexhnsw_metric_l2(PG_FUNCTION_ARGS)
{
    (void)fcinfo;
    PG_RETURN_INT32(VEXPG_L2);
}

PG_FUNCTION_INFO_V1(vexhnsw_metric_ip);
Datum vexhnsw_metric_ip(PG_FUNCTION_ARGS)
{
    (void)fcinfo;
    PG_RETURN_INT32(VEXPG_IP);
}

PG_FUNCTION_INFO_V1(vexhnsw_metric_cosine);
Datum vexhnsw_metric_cosine(PG_FUNCTION_ARGS)
{
    (void)fcinfo;
    PG_RETURN_INT32(VEXPG_COSINE);
}
