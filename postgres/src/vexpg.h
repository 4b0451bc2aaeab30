/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexpg.h - shared declarations of the PostgreSQL extension vexdb: the
 * vexvector type (vexvector.c), the distance every operator and the index
 * use, and the vexhnsw access method's page layout (vexhnsw*.c; the bytes
 * are described in docs/postgres.md, "On-page format").
 */
#ifndef VEXPG_H
#define VEXPG_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

/* ---- the type ---- */

#define VEXVECTOR_MAX_DIM 16000

typedef struct VexVector {
    int32 vl_len_; /* varlena header (do not touch directly) */
    int16 dim;
    int16 unused; /* zero */
    float x[FLEXIBLE_ARRAY_MEMBER];
} VexVector;

#define VEXVECTOR_SIZE(dim)      (offsetof(VexVector, x) + sizeof(float) * (dim))
#define DatumGetVexVector(x)     ((VexVector *)PG_DETOAST_DATUM(x))
#define PG_GETARG_VEXVECTOR_P(n) DatumGetVexVector(PG_GETARG_DATUM(n))

VexVector *vexvector_new(int dim);

/* Metrics, as the operator classes' support function 1 returns them. */
#define VEXPG_L2     1 /* <->: Euclidean distance */
#define VEXPG_IP     2 /* <#>: negative inner product */
#define VEXPG_COSINE 3 /* <=>: 1 - cosine similarity */

/* The value of the operator of `metric` on a and b (dim components):
 * VexDB's SIMD kernels, so the operators and the index agree bit for
 * bit. */
double vexpg_distance(int metric, const float *a, const float *b, int dim);

/* ---- the vexhnsw access method: pages ----
 *
 * Block 0 is the metapage (VexHnswMeta in its contents); every other block
 * is an element page: standard page layout, one VexHnswElement per line
 * pointer, VexHnswPageOpaque as special space. An element holds its heap
 * TID, its level, its vector and, for each level 0..level, a link list of
 * fixed capacity (2m on level 0, m above) whose entries are (block,
 * offset, distance) of other elements. Every change goes through generic
 * WAL (GenericXLog), so crash recovery and replicas see whole changes. */

#define VEXHNSW_MAGIC     0x48584556u /* "VEXH" little-endian */
#define VEXHNSW_VERSION   2 /* 1 (no quantization, no free slots) is read too */
#define VEXHNSW_METAPAGE  0
#define VEXHNSW_MAX_LEVEL 15
#define VEXHNSW_PAGE_ID   0xFE58
#define VEXHNSW_DELETED   0x01 /* element flag: its heap tuple is dead */
#define VEXHNSW_FREE      0x02 /* element flag: a free slot (with DELETED) */
#define VEXHNSW_REPAIRED  0x04 /* tombstone flag: a VACUUM cleanup saw it */

/* The `quant` option: what an element stores of its vector. */
#define VEXHNSW_QUANT_NONE 0 /* float32 components */
#define VEXHNSW_QUANT_SQ8  1 /* VexDB's SQ8 codes, one byte per component */

typedef struct VexHnswMeta {
    uint32 magic;
    uint32 version;
    uint32 dim;
    uint16 m;
    uint16 ef_construction;
    uint16 metric;         /* VEXPG_* */
    uint16 entry_level;    /* valid when entry_blk is */
    BlockNumber entry_blk; /* InvalidBlockNumber: empty index */
    OffsetNumber entry_off;
    uint16 unused;
    BlockNumber insert_blk; /* hint: last page that took an element */
    /* version 2 (zero in a version 1 metapage, which PageInit zeroed) */
    uint16 quant;     /* VEXHNSW_QUANT_* */
    uint16 quant_len; /* bytes of quant_blob; 0: not trained yet */
    uint8 quant_blob[FLEXIBLE_ARRAY_MEMBER]; /* vx_vq_serialize's blob */
} VexHnswMeta;

/* The most bytes quant_blob can hold on the metapage. */
#define VEXHNSW_BLOB_MAX                                                       \
    (BLCKSZ - MAXALIGN(SizeOfPageHeaderData) -                                 \
     MAXALIGN(sizeof(VexHnswPageOpaque)) - offsetof(VexHnswMeta, quant_blob))

/* A copy of the metapage with room for the blob. */
typedef union VexHnswMetaBuf {
    VexHnswMeta m;
    char bytes[BLCKSZ];
} VexHnswMetaBuf;

typedef struct VexHnswPageOpaque {
    uint16 flags;   /* zero */
    uint16 page_id; /* VEXHNSW_PAGE_ID */
} VexHnswPageOpaque;

typedef struct VexHnswLink {
    BlockNumber blk;
    OffsetNumber off;
    uint16 unused;
    float dist; /* internal distance to the owner (vexhnsw_dist) */
} VexHnswLink;

typedef struct VexHnswElement {
    ItemPointerData heaptid;
    uint8 level;
    uint8 flags; /* VEXHNSW_DELETED, VEXHNSW_FREE, VEXHNSW_REPAIRED */
    float vec[FLEXIBLE_ARRAY_MEMBER];
    /* vec is the payload: quant none, dim float32; sq8, VexHnswSq8;
     * then for l in 0..level: uint32 count; VexHnswLink links[cap(l)].
     * A free slot (VEXHNSW_FREE) is the header alone. */
} VexHnswElement;

/* The payload of an element under quant = sq8. */
typedef struct VexHnswSq8 {
    float err;  /* |x - decoded| (cosine: of x / |x|), rounded up */
    float norm; /* |x| */
    uint8 code[FLEXIBLE_ARRAY_MEMBER]; /* dim bytes, padded to 4 */
} VexHnswSq8;

#define VEXHNSW_STUB_SIZE offsetof(VexHnswElement, vec)

typedef struct VexHnswOptions {
    int32 vl_len_;
    int m;
    int ef_construction;
    int quant; /* VEXHNSW_QUANT_* */
} VexHnswOptions;

struct vq_quantizer;

/* The facts of one index a search or write needs. */
typedef struct VexHnswShape {
    int dim, m, metric;
    int quant;               /* VEXHNSW_QUANT_* */
    Size payload;            /* bytes of an element's payload */
    struct vq_quantizer *vq; /* sq8 once trained, else NULL */
    float *scratch;          /* dim floats: a decoded payload */
} VexHnswShape;

static inline Size vexhnsw_payload_size(int quant, int dim)
{
    return quant == VEXHNSW_QUANT_SQ8
               ? offsetof(VexHnswSq8, code) + TYPEALIGN(4, (Size)dim)
               : sizeof(float) * (Size)dim;
}

static inline int vexhnsw_cap(const VexHnswShape *s, int level)
{
    return level == 0 ? 2 * s->m : s->m;
}

static inline Size vexhnsw_list_bytes(const VexHnswShape *s, int level)
{
    return sizeof(uint32) + sizeof(VexHnswLink) * (Size)vexhnsw_cap(s, level);
}

static inline Size vexhnsw_element_size(const VexHnswShape *s, int level)
{
    Size n = offsetof(VexHnswElement, vec) + s->payload;
    for (int l = 0; l <= level; l++)
        n += vexhnsw_list_bytes(s, l);
    return n;
}

/* The count word of level l's list; the links follow it. */
static inline uint32 *vexhnsw_list(const VexHnswShape *s, VexHnswElement *e,
                                   int level)
{
    char *p = (char *)e->vec + s->payload;
    for (int l = 0; l < level; l++)
        p += vexhnsw_list_bytes(s, l);
    return (uint32 *)p;
}

static inline VexHnswLink *vexhnsw_links(uint32 *list)
{
    return (VexHnswLink *)(list + 1);
}

/* The largest element a page takes. */
#define VEXHNSW_MAX_ITEM                                                       \
    (BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)) -            \
     MAXALIGN(sizeof(VexHnswPageOpaque)))

/* Internal distance (orders like the operator; L2 is squared). */
float vexhnsw_dist(int metric, const float *a, const float *b, int dim);
/* The operator's value of an internal distance. */
double vexhnsw_dist_out(int metric, float d);

/* GUCs */
extern int vexhnsw_ef_search;
extern int vexhnsw_max_scan_tuples;

/* vexhnsw.c */
void vexhnsw_read_meta(Relation index, VexHnswMeta *meta); /* a MetaBuf's m */
void vexhnsw_meta_extent(Page page);
Size vexhnsw_page_room(Relation index, const VexHnswShape *s, Page page,
                       BlockNumber blk);
void vexhnsw_shape(Relation index, const VexHnswMeta *meta, VexHnswShape *s);
void vexhnsw_shape_init(VexHnswShape *s, int dim, int m, int metric, int quant);
const float *vexhnsw_elem_vec(const VexHnswShape *s, const VexHnswElement *e);
void vexhnsw_encode(const VexHnswShape *s, const float *x, VexHnswElement *e);
struct vq_quantizer *vexhnsw_sq8_train(const VexHnswShape *s, const float *x,
                                       int64 n);
Size vexhnsw_sq8_store(Relation index, struct vq_quantizer *vq, VexHnswMeta *m);
double vexhnsw_lower_bound(const VexHnswShape *s, const VexHnswElement *e,
                           const float *y, const float *q, double qnorm,
                           float d);
void vexhnsw_init_page(Page page);
VexHnswElement *vexhnsw_get_element(Relation index, const VexHnswShape *s,
                                    Page page, BlockNumber blk,
                                    OffsetNumber off);
uint32 *vexhnsw_get_list(Relation index, const VexHnswShape *s,
                         VexHnswElement *e, BlockNumber blk, OffsetNumber off,
                         int l);
int vexhnsw_metric_of(Relation index);
int vexhnsw_max_level(const VexHnswShape *s);
bool vexhnsw_insert(Relation index, Datum *values, bool *isnull,
                    ItemPointer heap_tid, Relation heap,
                    IndexUniqueCheck checkUnique, bool indexUnchanged,
                    struct IndexInfo *indexInfo);
bool vexhnsw_vector_ok(int metric, const VexVector *v);
void vexhnsw_insert_vector(Relation index, const VexVector *v, ItemPointer tid);

/* vexhnsw_build.c */
IndexBuildResult *vexhnsw_build(Relation heap, Relation index,
                                struct IndexInfo *indexInfo);
void vexhnsw_buildempty(Relation index);

/* vexhnsw_scan.c: the graph walk shared by scans and inserts */
typedef struct VexWalkNode {
    BlockNumber blk;
    OffsetNumber off;
    uint8 flags; /* VEXHNSW_DELETED, WALK_EXPANDED, WALK_RETURNED */
    uint8 level;
    ItemPointerData heaptid;
    float d;
    double lb;  /* sq8: vexhnsw_lower_bound of d */
    float *vec; /* keep_vec only */
} VexWalkNode;

#define WALK_EXPANDED 0x10
#define WALK_RETURNED 0x20

typedef struct VexWalk {
    Relation index;
    VexHnswShape shape;
    const float *q;
    double qnorm; /* |q| */
    bool want_lb; /* sq8: compute lower bounds (scans) */
    int level;
    bool keep_vec;
    VexWalkNode *nodes;
    int n, cap;
    struct HTAB *seen;
} VexWalk;

void vexwalk_init(VexWalk *w, Relation index, const VexHnswShape *s,
                  const float *q, int level, bool keep_vec);
int vexwalk_visit(VexWalk *w, BlockNumber blk, OffsetNumber off);
int vexwalk_batch(VexWalk *w, int ef, int *out);
void vexwalk_free(VexWalk *w);
void vexhnsw_greedy(Relation index, const VexHnswShape *s, const float *q,
                    int level, BlockNumber *blk, OffsetNumber *off, float *d);
int vexhnsw_read_links(Relation index, const VexHnswShape *s, BlockNumber blk,
                       OffsetNumber off, int l, VexHnswLink *out);
void vexhnsw_read_vector(Relation index, const VexHnswShape *s, BlockNumber blk,
                         OffsetNumber off, float *out);
float vexhnsw_element_dist(Relation index, const VexHnswShape *s,
                           const float *q, BlockNumber blk, OffsetNumber off);
IndexScanDesc vexhnsw_beginscan(Relation index, int nkeys, int norderbys);
void vexhnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
                    ScanKey orderbys, int norderbys);
bool vexhnsw_gettuple(IndexScanDesc scan, ScanDirection dir);
void vexhnsw_endscan(IndexScanDesc scan);

/* vexhnsw_vacuum.c */
IndexBulkDeleteResult *vexhnsw_bulkdelete(IndexVacuumInfo *info,
                                          IndexBulkDeleteResult *stats,
                                          IndexBulkDeleteCallback callback,
                                          void *callback_state);
IndexBulkDeleteResult *vexhnsw_vacuumcleanup(IndexVacuumInfo *info,
                                             IndexBulkDeleteResult *stats);

#endif
