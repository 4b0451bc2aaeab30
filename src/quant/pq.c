/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pq.c - product quantization (Jegou, Douze, Schmid 2011): the padded
 * vector is cut into M sub-vectors of dsub dimensions and each is
 * replaced by the index of its nearest of 2^bits centroids, trained by
 * k-means per subspace. A query is scored against codes through a table
 * of its distances to every centroid of every subspace (asymmetric
 * distance computation, ADC): M lookups and adds per code.
 *
 * How this differs from the paper and from FAISS, and why:
 *  - Dimensions that M does not divide are padded with zeros instead of
 *    refusing the M (FAISS refuses): the padded coordinates are zero in
 *    every training vector, so their centroid coordinates are zero and
 *    they add nothing to any distance; the cost is a few wasted floats
 *    per centroid. See quant.h for the default M.
 *  - 4-bit codes keep two subspaces per byte (subspace 2j in the low
 *    nibble of byte j), the same density as FAISS's fast-scan layout but
 *    in the plain row-per-vector form, so vx_vq_dc_distance, encode and
 *    decode work on single codes. The fast scan needs codes interleaved
 *    by blocks of 32 (vx_vq_pq4_pack, layout in simd.h); keeping both forms
 *    costs a copy at pack time and nothing per query.
 *  - The fast-scan tables are quantised to 8 bits with one step for all
 *    subspaces and each table's own minimum, so the sums stay in 16 bits
 *    (M <= 256) and the float distance is bias + step * sum; FAISS does
 *    the same. The error bound is in quant.h.
 *  - Inner product tables hold -q.c so that every kind scores "smaller is
 *    closer", like vexdb.h's distances.
 */
#include <math.h>
#include <string.h>

#include "quant/kmeans.h"
#include "quant/quant_int.h"
#include "simd/simd.h"

int vx_vq_pq_train(vq_quantizer *q, const float *x, size_t n, unsigned iters,
                   int warm)
{
    size_t m, i, M = q->m, dsub = q->dsub, pdim = q->pdim, ksub = q->ksub;
    float *sub;
    int rc = VEX_OK;
    sub = vx_mem_calloc(&q->mem, n, dsub * sizeof *sub);
    if (sub == NULL)
        return vx_err_set(&q->err, VEX_NOMEM, "train: out of memory");
    for (m = 0; m < M && rc == VEX_OK; m++) {
        vq_kmeans_params kp;
        float *cent = q->cent + m * ksub * dsub;
        for (i = 0; i < n; i++)
            memcpy(sub + i * dsub, x + i * pdim + m * dsub, dsub * sizeof *sub);
        vx_vq_kmeans_params_init(&kp, ksub);
        kp.max_iter = iters;
        kp.seed = q->p.seed + 0x9e3779b97f4a7c15ULL * (m + 1);
        kp.pool = q->p.pool;
        kp.n_threads = q->p.n_threads;
        kp.init = warm ? cent : NULL;
        rc = vx_vq_kmeans(&q->mem, &q->err, sub, n, dsub, &kp, cent, NULL);
    }
    vx_mem_free(&q->mem, sub);
    return rc;
}

void vx_vq_pq_encode(const vq_quantizer *q, const float *x, uint8_t *code,
                     float *dist)
{
    const vex_simd_table *t = vx_simd();
    size_t m, c, dsub = q->dsub, ksub = q->ksub;
    if (q->nbits == 4)
        memset(code, 0, q->code_size);
    for (m = 0; m < q->m; m++) {
        size_t best = 0;
        t->l2sq_f32_batch(x + m * dsub, q->cent + m * ksub * dsub, dsub, ksub,
                          dsub, dist);
        for (c = 1; c < ksub; c++)
            if (dist[c] < dist[best])
                best = c;
        if (q->nbits == 8)
            code[m] = (uint8_t)best;
        else
            code[m >> 1] |= (uint8_t)(best << ((m & 1) * 4));
    }
}

static size_t sub_code(const vq_quantizer *q, const uint8_t *code, size_t m)
{
    return q->nbits == 8 ? code[m] : (code[m >> 1] >> ((m & 1) * 4)) & 15u;
}

void vx_vq_pq_decode(const vq_quantizer *q, const uint8_t *code, float *out)
{
    size_t m, dsub = q->dsub;
    for (m = 0; m < q->m; m++)
        memcpy(out + m * dsub,
               q->cent + (m * q->ksub + sub_code(q, code, m)) * dsub,
               dsub * sizeof *out);
}

void vx_vq_pq_set_query(vq_dc *dc, const float *qv)
{
    const vex_simd_table *t = vx_simd();
    const vq_quantizer *q = dc->q;
    size_t m, c, M = q->m, dsub = q->dsub, ksub = q->ksub;
    int l2 = q->p.metric == VEX_METRIC_L2;
    for (m = 0; m < M; m++) {
        float *tab = dc->tab + m * ksub;
        const float *cent = q->cent + m * ksub * dsub;
        if (l2) {
            t->l2sq_f32_batch(qv + m * dsub, cent, dsub, ksub, dsub, tab);
        } else {
            t->dot_f32_batch(qv + m * dsub, cent, dsub, ksub, dsub, tab);
            for (c = 0; c < ksub; c++)
                tab[c] = -tab[c];
        }
    }
    dc->bias = q->p.metric == VEX_METRIC_COSINE ? 1.0f : 0.0f;
    if (q->nbits == 4) { /* 8-bit fast-scan tables (see the file comment) */
        float range = 0, step, bias = dc->bias;
        for (m = 0; m < M; m++) {
            const float *tab = dc->tab + m * 16;
            float lo = tab[0], hi = tab[0];
            for (c = 1; c < 16; c++) {
                lo = tab[c] < lo ? tab[c] : lo;
                hi = tab[c] > hi ? tab[c] : hi;
            }
            if (hi - lo > range)
                range = hi - lo;
        }
        step = range > 0 ? range / 255.0f : 1.0f;
        for (m = 0; m < M; m++) {
            const float *tab = dc->tab + m * 16;
            float lo = tab[0];
            for (c = 1; c < 16; c++)
                lo = tab[c] < lo ? tab[c] : lo;
            bias += lo;
            for (c = 0; c < 16; c++) {
                float v = (tab[c] - lo) / step + 0.5f;
                /* a NaN (distances that overflow float32: inf - inf, or
                 * inf / inf) is 0, never converted: a float out of the
                 * range of uint8_t has no defined conversion */
                dc->lut4[m * 16 + c] =
                    (uint8_t)(v >= 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f);
            }
        }
        dc->lut_bias = bias;
        dc->lut_scale = step;
    }
}

float vx_vq_pq_distance(const vq_dc *dc, const uint8_t *code)
{
    float d;
    vx_vq_pq_scan(dc, code, 1, &d);
    return d;
}

/* 8-bit codes: four codes at a time, so four independent add chains
 * hide the latency of the table loads. */
static void scan8(const vq_dc *dc, const uint8_t *codes, size_t n, float *out)
{
    const float *tab = dc->tab;
    size_t M = dc->q->m, i = 0, m;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * M, *c1 = c0 + M, *c2 = c1 + M,
                      *c3 = c2 + M;
        float s0 = dc->bias, s1 = dc->bias, s2 = dc->bias, s3 = dc->bias;
        for (m = 0; m < M; m++) {
            const float *tm = tab + m * 256;
            s0 += tm[c0[m]];
            s1 += tm[c1[m]];
            s2 += tm[c2[m]];
            s3 += tm[c3[m]];
        }
        out[i] = s0;
        out[i + 1] = s1;
        out[i + 2] = s2;
        out[i + 3] = s3;
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * M;
        float s = dc->bias;
        for (m = 0; m < M; m++)
            s += tab[m * 256 + c[m]];
        out[i] = s;
    }
}

static void scan4(const vq_dc *dc, const uint8_t *codes, size_t n, float *out)
{
    const float *tab = dc->tab;
    size_t M = dc->q->m, cs = dc->q->code_size, i, j;
    for (i = 0; i < n; i++) {
        const uint8_t *c = codes + i * cs;
        float s = dc->bias;
        for (j = 0; j + 1 < M; j += 2) {
            s += tab[j * 16 + (c[j >> 1] & 15u)];
            s += tab[(j + 1) * 16 + (c[j >> 1] >> 4)];
        }
        if (j < M)
            s += tab[j * 16 + (c[j >> 1] & 15u)];
        out[i] = s;
    }
}

void vx_vq_pq_scan(const vq_dc *dc, const uint8_t *codes, size_t n, float *out)
{
    if (dc->q->nbits == 8)
        scan8(dc, codes, n, out);
    else
        scan4(dc, codes, n, out);
}

/* ---- 4-bit fast scan --------------------------------------------------- */

static int is_pq4(const vq_quantizer *q)
{
    return (q->p.kind == VQ_PQ || q->p.kind == VQ_OPQ) && q->nbits == 4;
}

size_t vx_vq_pq4_blocks_size(const vq_quantizer *q, size_t n)
{
    if (!is_pq4(q))
        return 0;
    return (n + 31) / 32 * (size_t)q->m * 16;
}

int vx_vq_pq4_pack(vq_quantizer *q, const uint8_t *codes, size_t n,
                   uint8_t *blocks)
{
    size_t i, m, M;
    if (q == NULL)
        return VEX_INVALID;
    if (!is_pq4(q))
        return vx_err_set(&q->err, VEX_INVALID,
                          "pq4_pack: not a 4-bit PQ/OPQ quantizer");
    if ((codes == NULL || blocks == NULL) && n > 0)
        return vx_err_set(&q->err, VEX_INVALID, "pq4_pack: NULL argument");
    M = q->m;
    memset(blocks, 0, vx_vq_pq4_blocks_size(q, n));
    for (i = 0; i < n; i++) {
        const uint8_t *c = codes + i * q->code_size;
        uint8_t *b = blocks + (i / 32) * M * 16;
        size_t v = i % 32;
        for (m = 0; m < M; m++) {
            unsigned sc = (c[m >> 1] >> ((m & 1) * 4)) & 15u;
            b[m * 16 + (v & 15)] |= (uint8_t)(v < 16 ? sc : sc << 4);
        }
    }
    return VEX_OK;
}

void vx_vq_pq4_set(const vq_quantizer *q, uint8_t *blocks, size_t i,
                   const uint8_t *code)
{
    size_t m, M = q->m, v = i % 32;
    uint8_t *b = blocks + (i / 32) * M * 16 + (v & 15);
    unsigned shift = v < 16 ? 0 : 4, keep = v < 16 ? 0xf0u : 0x0fu;
    for (m = 0; m < M; m++) {
        unsigned sc = (code[m >> 1] >> ((m & 1) * 4)) & 15u;
        b[m * 16] = (uint8_t)((b[m * 16] & keep) | (sc << shift));
    }
}

void vx_vq_pq4_get(const vq_quantizer *q, const uint8_t *blocks, size_t i,
                   uint8_t *code)
{
    size_t m, M = q->m, v = i % 32;
    const uint8_t *b = blocks + (i / 32) * M * 16 + (v & 15);
    unsigned shift = v < 16 ? 0 : 4;
    memset(code, 0, q->code_size);
    for (m = 0; m < M; m++) {
        unsigned sc = (b[m * 16] >> shift) & 15u;
        code[m >> 1] |= (uint8_t)(sc << ((m & 1) * 4));
    }
}

void vx_vq_dc_scan_blocks(const vq_dc *dc, const uint8_t *blocks, size_t n,
                          float *out)
{
    enum { CHB = 32 }; /* blocks per kernel call: 2 KiB of sums */
    const vex_simd_table *t = vx_simd();
    size_t M = dc->q->m, nb = (n + 31) / 32, b, i;
    uint16_t sums[CHB * 32];
    for (b = 0; b < nb; b += CHB) {
        size_t cb = nb - b < CHB ? nb - b : CHB;
        size_t lo = b * 32, hi = (b + cb) * 32 < n ? (b + cb) * 32 : n;
        t->pq4_scan(blocks + b * M * 16, cb, dc->lut4, M, sums);
        for (i = lo; i < hi; i++)
            out[i] = dc->lut_bias + dc->lut_scale * (float)sums[i - lo];
    }
}
