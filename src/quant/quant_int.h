/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quant_int.h - what the files of src/quant share and nobody else sees:
 * the handle layouts and the per-kind entry points that quant.c
 * dispatches to. Not an interface; include quant/quant.h instead.
 */
#ifndef VEX_QUANT_INT_H
#define VEX_QUANT_INT_H

#include "quant/quant.h"

struct vq_quantizer {
    vex_mem mem;
    vex_err err;
    vq_params p;
    int trained;
    uint32_t m, nbits, ksub, dsub, pdim; /* PQ/OPQ; pdim = m * dsub */
    size_t code_size;
    float *a, *b; /* SQ8: vmin, step; BQ: mean, scale (dim each) */
    float *cent;  /* PQ/OPQ: m * ksub * dsub, subquantizer-major */
    float *rot;   /* OPQ: dim x dim row-major, rotated y = x R */
    double err_before, err_after; /* OPQ training report */
};

struct vq_dc {
    vq_quantizer *q;
    unsigned flags;
    float *buf;      /* vx_vq_buf_floats(q): the transformed query */
    const float *qv; /* into buf (or the caller's query, never kept) */
    float *tab;      /* SQ8: 2 * dim; PQ/OPQ: m * ksub */
    uint8_t *qcode;  /* SQ8 symmetric, BQ */
    uint8_t *lut4;   /* 4-bit PQ/OPQ: m * 16 */
    float bias, scale, lut_bias, lut_scale;
};

/* Floats of scratch vx_vq_transform needs. */
size_t vx_vq_buf_floats(const vq_quantizer *q);
/* x in the space codes live in: normalised (cosine), rotated (OPQ) and
 * zero-padded to pdim (PQ/OPQ). Returns x itself when nothing applies,
 * else a pointer into buf; NULL for a zero vector under cosine. */
const float *vx_vq_transform(const vq_quantizer *q, const float *x, float *buf);

/* per kind: x is already transformed; n vectors */
int vx_vq_sq8_train(vq_quantizer *q, const float *x, size_t n);
void vx_vq_sq8_encode(const vq_quantizer *q, const float *x, uint8_t *code);
void vx_vq_sq8_decode(const vq_quantizer *q, const uint8_t *code, float *out);
void vx_vq_sq8_set_query(vq_dc *dc, const float *qv);
float vx_vq_sq8_distance(const vq_dc *dc, const uint8_t *code);
void vx_vq_sq8_scan(const vq_dc *dc, const uint8_t *codes, size_t n,
                    float *out);

int vx_vq_bq_train(vq_quantizer *q, const float *x, size_t n);
void vx_vq_bq_encode(const vq_quantizer *q, const float *x, uint8_t *code);
void vx_vq_bq_decode(const vq_quantizer *q, const uint8_t *code, float *out);
void vx_vq_bq_scan(const vq_dc *dc, const uint8_t *codes, size_t n, float *out);

/* PQ on n rows of pdim floats (already transformed and padded). `warm`:
 * start Lloyd from the current centroids instead of k-means++. */
int vx_vq_pq_train(vq_quantizer *q, const float *x, size_t n, unsigned iters,
                   int warm);
void vx_vq_pq_encode(const vq_quantizer *q, const float *x, uint8_t *code,
                     float *dist_scratch /* ksub floats */);
void vx_vq_pq_decode(const vq_quantizer *q, const uint8_t *code, float *out);
void vx_vq_pq_set_query(vq_dc *dc, const float *qv);
float vx_vq_pq_distance(const vq_dc *dc, const uint8_t *code);
void vx_vq_pq_scan(const vq_dc *dc, const uint8_t *codes, size_t n, float *out);

/* OPQ training on n normalised rows of dim floats; fills rot, cent and
 * the error report. */
int vx_vq_opq_train(vq_quantizer *q, const float *x, size_t n);

/* Thin SVD-based orthogonal Procrustes: R (d x d row-major) = U V^T for
 * M = U S V^T, M d x d row-major (double). Overwrites M. Allocates
 * from mem. Exposed for tests. */
int vx_vq_procrustes(const vex_mem *mem, double *mat, size_t d, float *rot);

#endif
