/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sq8.c - 8-bit scalar quantization: each dimension maps its trained
 * [min, max] range onto 256 levels, code = round((x - min) / step),
 * decoded value min + code * step, so |decode(encode(x)) - x| <= step / 2
 * inside the range (values outside are clamped to it).
 *
 * Two ways to score a query against codes:
 *  - asymmetric (default): the float query against the decoded code,
 *    folded so that each dimension costs one multiply-add: for L2,
 *    (q_i - min_i) - step_i * c_i squared; for inner product,
 *    bias + sum (-q_i step_i) c_i with bias = -sum q_i min_i. No rounding
 *    of the query, so this is the more accurate path;
 *  - symmetric (VQ_DC_SYMMETRIC, uniform step only): the query is encoded
 *    too and the dispatch table's u8 L2 kernel (VNNI dpwssd on AVX-512)
 *    works on the two codes: with one step s for every dimension,
 *    decode(a) - decode(b) = s (a - b) exactly, so the distance is
 *    s^2 * l2sq_u8(a, b). Per-dimension steps would need a weighted sum,
 *    which no integer kernel does; that is why the fast path needs
 *    sq8_uniform. Inner product has no such identity (the minimums leave
 *    a code-dependent term), so the symmetric path is L2 and cosine only;
 *    cosine uses |a - b|^2 / 2 = 1 - a.b for unit vectors.
 */
#include <math.h>
#include <string.h>

#include "quant/quant_int.h"
#include "simd/simd.h"

int vx_vq_sq8_train(vq_quantizer *q, const float *x, size_t n)
{
    size_t dim = q->p.dim, i, d;
    float smax = 0;
    for (d = 0; d < dim; d++) {
        q->a[d] = x[d];
        q->b[d] = x[d]; /* max for now */
    }
    for (i = 1; i < n; i++)
        for (d = 0; d < dim; d++) {
            float v = x[i * dim + d];
            if (v < q->a[d])
                q->a[d] = v;
            if (v > q->b[d])
                q->b[d] = v;
        }
    for (d = 0; d < dim; d++) {
        /* in double: max - min of finite floats can overflow a float */
        double range = (double)q->b[d] - (double)q->a[d];
        float step = (float)(range / 255.0);
        if (!isfinite(step))
            return vx_err_set(&q->err, VEX_INVALID,
                              "train: dimension %zu has a range too wide "
                              "for 8-bit codes",
                              d);
        q->b[d] = step;
        if (step > smax)
            smax = step;
    }
    if (q->p.sq8_uniform)
        for (d = 0; d < dim; d++)
            q->b[d] = smax;
    return VEX_OK;
}

void vx_vq_sq8_encode(const vq_quantizer *q, const float *x, uint8_t *code)
{
    size_t d;
    for (d = 0; d < q->p.dim; d++) {
        float step = q->b[d], v;
        if (!(step > 0)) {
            code[d] = 0;
            continue;
        }
        v = (x[d] - q->a[d]) / step;
        if (!(v > 0)) /* also catches -0 and values below the range */
            v = 0;
        if (v > 255)
            v = 255;
        code[d] = (uint8_t)(v + 0.5f);
    }
}

void vx_vq_sq8_decode(const vq_quantizer *q, const uint8_t *code, float *out)
{
    size_t d;
    for (d = 0; d < q->p.dim; d++)
        out[d] = q->a[d] + q->b[d] * (float)code[d];
}

void vx_vq_sq8_set_query(vq_dc *dc, const float *qv)
{
    const vq_quantizer *q = dc->q;
    size_t dim = q->p.dim, d;
    float *t0 = dc->tab, *t1 = dc->tab + dim;
    double bias = 0;
    if (dc->flags & VQ_DC_SYMMETRIC) {
        float s = q->b[0];
        vx_vq_sq8_encode(q, qv, dc->qcode);
        dc->scale = s * s * (q->p.metric == VEX_METRIC_COSINE ? 0.5f : 1.0f);
        return;
    }
    if (q->p.metric == VEX_METRIC_L2) {
        for (d = 0; d < dim; d++) {
            t0[d] = qv[d] - q->a[d];
            t1[d] = q->b[d];
        }
        dc->bias = 0;
        return;
    }
    for (d = 0; d < dim; d++) {
        t0[d] = -qv[d] * q->b[d];
        bias -= (double)qv[d] * q->a[d];
    }
    if (q->p.metric == VEX_METRIC_COSINE)
        bias += 1.0;
    dc->bias = (float)bias;
}

/* The asymmetric sums run on the dispatch table's sq8_l2 / sq8_dot
 * kernels (scalar reference in simd_scalar.c): the codes are widened to
 * float in registers, 16 or 32 per step, which is what makes the float
 * query path about as fast as the symmetric u8 one without rounding the
 * query. */
static float asym_l2(const float *t0, const float *t1, const uint8_t *c,
                     size_t dim)
{
    return vx_simd()->sq8_l2(t0, t1, c, dim);
}

static float asym_ip(const float *t0, const uint8_t *c, size_t dim)
{
    return vx_simd()->sq8_dot(t0, c, dim);
}

float vx_vq_sq8_distance(const vq_dc *dc, const uint8_t *code)
{
    const vq_quantizer *q = dc->q;
    size_t dim = q->p.dim;
    if (dc->flags & VQ_DC_SYMMETRIC)
        return dc->scale * (float)vx_simd()->l2sq_u8(dc->qcode, code, dim);
    if (q->p.metric == VEX_METRIC_L2)
        return asym_l2(dc->tab, dc->tab + dim, code, dim);
    return dc->bias + asym_ip(dc->tab, code, dim);
}

void vx_vq_sq8_scan(const vq_dc *dc, const uint8_t *codes, size_t n, float *out)
{
    const vq_quantizer *q = dc->q;
    const vex_simd_table *t = vx_simd();
    size_t dim = q->p.dim, i;
    if (dc->flags & VQ_DC_SYMMETRIC) {
        for (i = 0; i < n; i++)
            out[i] =
                dc->scale * (float)t->l2sq_u8(dc->qcode, codes + i * dim, dim);
        return;
    }
    if (q->p.metric == VEX_METRIC_L2) {
        for (i = 0; i < n; i++)
            out[i] = t->sq8_l2(dc->tab, dc->tab + dim, codes + i * dim, dim);
        return;
    }
    for (i = 0; i < n; i++)
        out[i] = dc->bias + t->sq8_dot(dc->tab, codes + i * dim, dim);
}
