/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quant.h - vector quantizers: SQ8, binary (BQ), PQ (8- and 4-bit) and OPQ
 * behind one handle, vq_quantizer. Internal module (prefix vq_), not part
 * of the public API; the engine will store a quantizer per segment.
 *
 * Layer: quant, above util and simd (includes nothing else). The public
 * header is included only for status codes, vex_metric and
 * vex_allocator.
 *
 * Life cycle: vx_vq_params_init -> adjust -> vx_vq_create -> vx_vq_train (once)
 * -> vx_vq_encode / vx_vq_decode / distance computers / vx_vq_serialize; or
 * vx_vq_deserialize, which gives a trained quantizer. vx_vq_destroy frees it.
 *
 * Distances are those of vexdb.h between the query and the *decoded*
 * vector (what vx_vq_decode returns), for the quantizer's metric:
 *   VEX_METRIC_L2      squared L2
 *   VEX_METRIC_IP      -dot
 *   VEX_METRIC_COSINE  1 - dot(q / |q|, decoded), where the quantizer saw
 *                      x / |x| at training and encoding: cosine is inner
 *                      product on normalised input. Decoded vectors are
 *                      close to, not exactly, unit length; the value is
 *                      not renormalised (that would cost a norm per code).
 * Binary codes (BQ) are the exception: their distance is the Hamming
 * distance between the query's signs and the code, whatever the metric
 * (the metric only decides whether input is normalised first). BQ is a
 * first pass; rerank its candidates with exact distances.
 *
 * Threading: a trained quantizer is read-only: vx_vq_encode, vx_vq_decode,
 * vx_vq_code_size, vx_vq_serialize and vx_vq_dc_create may be called from any
 * number of threads at once. vx_vq_train must not run concurrently with
 * anything on the same handle. A distance computer (vq_dc) belongs to one
 * thread at a time; create one per thread. The error message of a handle
 * (vx_vq_errmsg) is the last failure of any thread.
 *
 * Hot paths (vx_vq_dc_set_query, vx_vq_dc_distance, vx_vq_dc_scan,
 * vx_vq_dc_scan_blocks) never allocate: everything they need was allocated
 * by vx_vq_dc_create.
 */
#ifndef VEX_QUANT_H
#define VEX_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"
#include "vexdb.h"

typedef enum vq_kind {
    VQ_SQ8 = 1, /* 8-bit scalar, per-dimension ranges: dim bytes */
    VQ_BQ = 2,  /* 1 bit per dimension: ceil(dim / 8) bytes */
    VQ_PQ = 3,  /* product quantizer: M codes of 8 or 4 bits */
    VQ_OPQ = 4  /* PQ after a learned rotation */
} vq_kind;

/* Largest M (subquantizers) and default sub-dimension of PQ/OPQ. */
#define VQ_PQ_MAX_M    4096
#define VQ_PQ4_MAX_M   256 /* = VEX_PQ4_MAX_M: the fast scan's u16 sums */
#define VQ_OPQ_MAX_DIM 2048

typedef struct vq_params {
    vq_kind kind;
    uint32_t dim;      /* 1..VEX_MAX_DIM (OPQ: ..VQ_OPQ_MAX_DIM) */
    vex_metric metric; /* L2, IP or COSINE; default L2 */

    /* PQ/OPQ. pq_m = 0 picks the default: M = ceil(dim / 8) for 8-bit
     * codes, ceil(dim / 4) for 4-bit (either way dim / 2 bits per vector,
     * 16x smaller than float32 rounded up), capped at VQ_PQ4_MAX_M for
     * 4-bit. When M does not divide dim, vectors are padded with zeros to
     * M * ceil(dim / M) dimensions: zero dimensions cost nothing in the
     * distances (their centroids are 0) and any M from 1 to dim works,
     * which matters for dimensions like 100 or 1 + 2^k. */
    uint32_t pq_m;
    uint32_t pq_nbits; /* 8 (default) or 4 */

    /* SQ8: one step for all dimensions (the largest range / 255, each
     * dimension keeping its own minimum). Needed for the symmetric fast
     * path (VQ_DC_SYMMETRIC), which works in code space with the u8
     * kernels. Default 0: per-dimension steps, better precision. */
    int sq8_uniform;
    /* BQ: subtract the trained mean before taking signs. Default 1. */
    int bq_center;

    /* training */
    uint64_t seed;       /* default 1 */
    size_t max_train;    /* 0 = all vectors; default 65536 (a seeded
                            subsample of at most this many) */
    unsigned train_iter; /* k-means iterations, 1..1000; default 25 */
    unsigned opq_iter;   /* OPQ alternations, 1..100; default 8 */
    vex_pool *pool;      /* borrowed, NULL = single-threaded training */
    unsigned n_threads;  /* cap on pool threads, 0 = whole pool */
} vq_params;

typedef struct vq_quantizer vq_quantizer;
typedef struct vq_dc vq_dc;

/* Defaults (above) for a kind, dimension and metric. */
void vx_vq_params_init(vq_params *p, vq_kind kind, uint32_t dim,
                       vex_metric metric);

/*
 * A new, untrained quantizer with its own copy of *p (pool borrowed) and
 * its allocator `mem` (copied). Returns VEX_OK, VEX_INVALID (out-of-range
 * parameter; message in `err` when not NULL) or VEX_NOMEM. *out is NULL on
 * failure. Free with vx_vq_destroy.
 */
int vx_vq_create(const vex_mem *mem, const vq_params *p, vq_quantizer **out,
                 vex_err *err);
void vx_vq_destroy(vq_quantizer *q); /* NULL-safe */

/* The last error message of a handle ("" if none). */
const char *vx_vq_errmsg(vq_quantizer *q);

vq_kind vx_vq_get_kind(const vq_quantizer *q);
uint32_t vx_vq_dim(const vq_quantizer *q);
vex_metric vx_vq_metric(const vq_quantizer *q);
int vx_vq_is_trained(const vq_quantizer *q);
/* M and bits per sub-code of PQ/OPQ; 0 for other kinds. */
uint32_t vx_vq_pq_m(const vq_quantizer *q);
uint32_t vx_vq_pq_nbits(const vq_quantizer *q);

/*
 * Trains on n vectors (row i at x + i * dim; not retained). Needs at
 * least 1 vector for SQ8/BQ, 256 (8-bit) or 16 (4-bit) for PQ/OPQ.
 * Returns VEX_OK, VEX_INVALID (trained already, too few vectors,
 * non-finite values, zero vector under cosine), VEX_NOMEM. Not
 * thread-safe on the handle; may use the pool of the params.
 */
int vx_vq_train(vq_quantizer *q, const float *x, size_t n);

/* Bytes per code. Valid before training too. */
size_t vx_vq_code_size(const vq_quantizer *q);

/*
 * Encodes n vectors into n * vx_vq_code_size() bytes at `codes`
 * (caller-owned). Values outside the trained range are clamped (SQ8).
 * Allocates a small per-call buffer (not a hot path). Returns VEX_OK,
 * VEX_INVALID (untrained, non-finite input, zero vector under cosine),
 * VEX_NOMEM. Thread-safe.
 */
int vx_vq_encode(vq_quantizer *q, const float *x, size_t n, uint8_t *codes);

/*
 * Reconstructs n codes into n * dim floats at `out` (caller-owned): the
 * vectors the distances are computed against (under cosine, in the
 * normalised space). Returns VEX_OK, VEX_INVALID, VEX_NOMEM. Thread-safe.
 */
int vx_vq_decode(vq_quantizer *q, const uint8_t *codes, size_t n, float *out);

/*
 * OPQ: mean squared reconstruction error per vector on the training
 * sample, of plain PQ (rotation = identity, same M, bits, iterations and
 * seed; the first round of OPQ training) and of the final OPQ. VEX_INVALID
 * for other kinds or before training.
 */
int vx_vq_opq_errors(vq_quantizer *q, double *before, double *after);

/* ---- distance computers ------------------------------------------------ */

/* Flags of vx_vq_dc_create. */
#define VQ_DC_SYMMETRIC                                                        \
    1u /* SQ8 (uniform step, L2 or cosine): quantise                           \
          the query too and use the u8 kernels; the                            \
          distance is between the two decoded vectors                          \
          (cosine: |a - b|^2 / 2, equal to 1 - a.b on                          \
          unit vectors) */

/*
 * A distance computer for q: all scratch a query needs (rotated and
 * padded query, distance tables, query code, 4-bit lookup tables), so
 * that the calls below do not allocate. Returns VEX_OK, VEX_INVALID
 * (untrained, unknown flag, symmetric path not available for this
 * quantizer), VEX_NOMEM. The computer borrows q, which must outlive it.
 */
int vx_vq_dc_create(vq_quantizer *q, unsigned flags, vq_dc **out);
void vx_vq_dc_destroy(vq_dc *dc); /* NULL-safe */

/*
 * Prepares for a query of dim floats (read, not retained): SQ8 folds
 * ranges and query, BQ takes its signs, PQ/OPQ rotate and build the
 * M x 2^bits table of distances from the query to every centroid (and,
 * for 4-bit, the 8-bit fast-scan tables). Returns VEX_OK or VEX_INVALID
 * (non-finite value; zero query under cosine).
 */
int vx_vq_dc_set_query(vq_dc *dc, const float *query);

/* Distance from the query to one code (see the top of this file). */
float vx_vq_dc_distance(const vq_dc *dc, const uint8_t *code);

/* out[i] = distance to the code at codes + i * code_size, i < n. */
void vx_vq_dc_scan(const vq_dc *dc, const uint8_t *codes, size_t n, float *out);

/* ---- 4-bit PQ/OPQ fast scan ---------------------------------------------
 * Codes rearranged in blocks of 32 (layout: simd.h pq4_scan) are scored
 * with 8-bit lookup tables held in registers. The distances are
 * approximate: each table is quantised to 256 levels with one step for
 * all M tables, so each differs from vx_vq_dc_distance by at most
 * M * step / 2 where step = (largest table range) / 255. Use them to pick
 * candidates, then rerank. */

/* Bytes of the block form of n codes (n rounded up to 32). */
size_t vx_vq_pq4_blocks_size(const vq_quantizer *q, size_t n);
/* Rearranges n codes into the block form at `blocks`; padding codes of
 * the last block are zero. VEX_INVALID unless q is 4-bit PQ/OPQ. */
int vx_vq_pq4_pack(vq_quantizer *q, const uint8_t *codes, size_t n,
                   uint8_t *blocks);
/* Writes one code (the plain form vx_vq_encode gives) into lane i of the
 * block form, leaving the other lanes as they are: block i / 32 must be
 * allocated (vx_vq_pq4_blocks_size(q, i + 1) bytes at least). This is how a
 * block copy follows single writes (an index's adds and moves) without
 * repacking; the result equals vx_vq_pq4_pack of the same codes. No checks:
 * q must be 4-bit PQ/OPQ (vx_vq_pq4_blocks_size(q, 1) > 0). */
void vx_vq_pq4_set(const vq_quantizer *q, uint8_t *blocks, size_t i,
                   const uint8_t *code);
/* The inverse: the plain code of lane i into code (vx_vq_code_size bytes;
 * an odd M's unused high nibble is 0). Same preconditions. */
void vx_vq_pq4_get(const vq_quantizer *q, const uint8_t *blocks, size_t i,
                   uint8_t *code);
/* out[i] = approximate distance of code i, i < n. */
void vx_vq_dc_scan_blocks(const vq_dc *dc, const uint8_t *blocks, size_t n,
                          float *out);

/* ---- serialisation (bytes in docs/FORMAT.md, "Quantizer blob") ------ */

/* Bytes of the blob of a trained quantizer (0 if untrained). */
size_t vx_vq_blob_size(const vq_quantizer *q);
/* Writes the blob into buf (size >= vx_vq_blob_size). VEX_INVALID if
 * untrained or the buffer is too small. Thread-safe. */
int vx_vq_serialize(vq_quantizer *q, void *buf, size_t size);
/*
 * A trained quantizer from a blob (copied; buf is not retained). Every
 * field is checked: VEX_CORRUPT (bad magic, size, checksum, field or
 * non-finite value; the message names the byte offset), VEX_UNSUPPORTED
 * (a format version other than 1), VEX_NOMEM; the message goes to `err`
 * when not NULL. The result has no training pool and is ready to use.
 */
int vx_vq_deserialize(const vex_mem *mem, const void *buf, size_t size,
                      vq_quantizer **out, vex_err *err);

#endif
