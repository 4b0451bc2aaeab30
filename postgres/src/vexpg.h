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

#endif
