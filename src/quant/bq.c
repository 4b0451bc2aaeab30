/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bq.c - binary quantization: one sign bit per dimension, bit d of the
 * code (byte d / 8, bit d % 8, least significant first; unused bits of
 * the last byte are zero) set when x_d - mean_d > 0. With bq_center the
 * mean is trained (per dimension); without it it is zero, which suits
 * data already centred. Codes are scored by Hamming distance with the
 * dispatch table's popcount kernels (VPOPCNTDQ on AVX-512, the pshufb
 * nibble count on AVX2): 32x smaller than float32 and very fast, but a
 * coarse ranking, meant as a first pass whose candidates are reranked
 * with exact distances.
 *
 * Decoding (for inspection and for error measurements) gives
 * mean_d +- scale_d, where scale_d is the trained mean absolute deviation
 * of dimension d from mean_d: the per-dimension value that minimises the
 * L1 reconstruction error given only the sign.
 */
#include <math.h>
#include <string.h>

#include "quant/quant_int.h"
#include "simd/simd.h"

int vx_vq_bq_train(vq_quantizer *q, const float *x, size_t n)
{
    size_t dim = q->p.dim, i, d;
    for (d = 0; d < dim; d++) {
        double m = 0, s = 0;
        if (q->p.bq_center) {
            for (i = 0; i < n; i++)
                m += x[i * dim + d];
            m /= (double)n;
        }
        for (i = 0; i < n; i++)
            s += fabs((double)x[i * dim + d] - m);
        q->a[d] = (float)m;
        q->b[d] = (float)(s / (double)n);
        if (!isfinite(q->b[d]))
            return vx_err_set(&q->err, VEX_INVALID,
                              "train: dimension %zu overflows", d);
    }
    return VEX_OK;
}

void vx_vq_bq_encode(const vq_quantizer *q, const float *x, uint8_t *code)
{
    size_t d;
    memset(code, 0, q->code_size);
    for (d = 0; d < q->p.dim; d++)
        if (x[d] - q->a[d] > 0)
            code[d >> 3] |= (uint8_t)(1u << (d & 7));
}

void vx_vq_bq_decode(const vq_quantizer *q, const uint8_t *code, float *out)
{
    size_t d;
    for (d = 0; d < q->p.dim; d++)
        out[d] = (code[d >> 3] >> (d & 7)) & 1 ? q->a[d] + q->b[d]
                                               : q->a[d] - q->b[d];
}

void vx_vq_bq_scan(const vq_dc *dc, const uint8_t *codes, size_t n, float *out)
{
    enum { CH = 256 };
    const vex_simd_table *t = vx_simd();
    size_t cs = dc->q->code_size, i, j;
    uint32_t h[CH];
    for (i = 0; i < n; i += CH) {
        size_t c = n - i < CH ? n - i : CH;
        t->hamming_batch(dc->qcode, codes + i * cs, cs, c, cs, h);
        for (j = 0; j < c; j++)
            out[i + j] = (float)h[j];
    }
}
