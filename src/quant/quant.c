/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quant.c - the vq_quantizer handle: parameters, training sample,
 * dispatch to the kinds (sq8.c, bq.c, pq.c, opq.c), distance computers
 * and the quantizer blob (bytes in docs/FORMAT.md, "Quantizer blob").
 *
 * Input vectors go through one transform before any kind sees them
 * (vx_vq_transform): normalisation under cosine, the rotation of OPQ, zero
 * padding of PQ/OPQ to M * dsub dimensions. Training, encoding and
 * queries all use it, so a kind only ever deals with its own space.
 */
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "quant/quant_int.h"
#include "simd/simd.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rd.h"
#include "util/rng.h"

/* ---- parameters and handle --------------------------------------------- */

void vx_vq_params_init(vq_params *p, vq_kind kind, uint32_t dim,
                       vex_metric metric)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->dim = dim;
    p->metric = metric;
    p->pq_nbits = 8;
    p->bq_center = 1;
    p->seed = 1;
    p->max_train = 65536;
    p->train_iter = 25;
    p->opq_iter = 8;
}

static int is_pq(vq_kind k)
{
    return k == VQ_PQ || k == VQ_OPQ;
}

/* Checks p and derives the PQ geometry (m, dsub) into q. */
static int quant_check_params(const vq_params *p, vex_err *err, uint32_t *m_out,
                              uint32_t *dsub_out)
{
    uint32_t m = 0;
    if (p->kind < VQ_SQ8 || p->kind > VQ_OPQ)
        return vx_err_set(err, VEX_INVALID, "unknown quantizer kind %d",
                          (int)p->kind);
    if (p->dim < 1 || p->dim > VEX_MAX_DIM)
        return vx_err_set(err, VEX_INVALID, "dim %u out of range 1..%d", p->dim,
                          VEX_MAX_DIM);
    if (p->kind == VQ_OPQ && p->dim > VQ_OPQ_MAX_DIM)
        return vx_err_set(err, VEX_INVALID, "OPQ dim %u > %d", p->dim,
                          VQ_OPQ_MAX_DIM);
    if (p->metric != VEX_METRIC_L2 && p->metric != VEX_METRIC_IP &&
        p->metric != VEX_METRIC_COSINE)
        return vx_err_set(err, VEX_INVALID,
                          "metric %d: quantizers support L2, IP and cosine",
                          (int)p->metric);
    if (p->train_iter < 1 || p->train_iter > 1000)
        return vx_err_set(err, VEX_INVALID,
                          "train_iter %u out of range 1..1000", p->train_iter);
    if (p->opq_iter < 1 || p->opq_iter > 100)
        return vx_err_set(err, VEX_INVALID, "opq_iter %u out of range 1..100",
                          p->opq_iter);
    if (p->sq8_uniform != 0 && p->sq8_uniform != 1)
        return vx_err_set(err, VEX_INVALID, "sq8_uniform must be 0 or 1");
    if (p->bq_center != 0 && p->bq_center != 1)
        return vx_err_set(err, VEX_INVALID, "bq_center must be 0 or 1");
    if (is_pq(p->kind)) {
        uint32_t maxm;
        if (p->pq_nbits != 8 && p->pq_nbits != 4)
            return vx_err_set(err, VEX_INVALID, "pq_nbits %u: must be 8 or 4",
                              p->pq_nbits);
        maxm = p->pq_nbits == 4 ? VQ_PQ4_MAX_M : VQ_PQ_MAX_M;
        if (maxm > p->dim)
            maxm = p->dim;
        m = p->pq_m;
        if (m == 0) {
            m = (p->dim + (p->pq_nbits == 8 ? 7 : 3)) /
                (p->pq_nbits == 8 ? 8 : 4);
            if (m > maxm)
                m = maxm;
        }
        if (m < 1 || m > maxm)
            return vx_err_set(
                err, VEX_INVALID,
                "pq_m %u out of range 1..%u for dim %u and %u bits", m, maxm,
                p->dim, p->pq_nbits);
        *dsub_out = (p->dim + m - 1) / m;
    } else {
        if (p->pq_m != 0)
            return vx_err_set(err, VEX_INVALID, "pq_m is for PQ and OPQ only");
        *dsub_out = 0;
    }
    *m_out = m;
    return VEX_OK;
}

static void set_geometry(vq_quantizer *q, uint32_t m, uint32_t dsub)
{
    const vq_params *p = &q->p;
    q->m = m;
    q->dsub = dsub;
    q->pdim = m * dsub;
    q->nbits = is_pq(p->kind) ? p->pq_nbits : p->kind == VQ_BQ ? 1 : 8;
    q->ksub = is_pq(p->kind) ? 1u << q->nbits : 0;
    switch (p->kind) {
    case VQ_SQ8:
        q->code_size = p->dim;
        break;
    case VQ_BQ:
        q->code_size = (p->dim + 7) / 8;
        break;
    default:
        q->code_size = q->nbits == 8 ? m : (m + 1) / 2;
        break;
    }
}

/* Arrays of a kind, allocated at create so training cannot half-fail. */
static int alloc_arrays(vq_quantizer *q)
{
    const vq_params *p = &q->p;
    if (p->kind == VQ_SQ8 || p->kind == VQ_BQ) {
        q->a = vx_mem_calloc(&q->mem, p->dim, sizeof(float));
        q->b = vx_mem_calloc(&q->mem, p->dim, sizeof(float));
        return q->a && q->b ? VEX_OK : VEX_NOMEM;
    }
    q->cent =
        vx_mem_calloc(&q->mem, (size_t)q->m * q->ksub * q->dsub, sizeof(float));
    if (q->cent == NULL)
        return VEX_NOMEM;
    if (p->kind == VQ_OPQ) {
        q->rot = vx_mem_calloc(&q->mem, (size_t)p->dim * p->dim, sizeof(float));
        if (q->rot == NULL)
            return VEX_NOMEM;
    }
    return VEX_OK;
}

static int create(const vex_mem *mem, const vq_params *p, vq_quantizer **out,
                  vex_err *err)
{
    vq_quantizer *q;
    uint32_t m = 0, dsub = 0;
    int rc;
    if (out)
        *out = NULL;
    if (mem == NULL || p == NULL || out == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_vq_create: NULL argument");
    if ((rc = quant_check_params(p, err, &m, &dsub)) != VEX_OK)
        return rc;
    q = vx_mem_calloc(mem, 1, sizeof *q);
    if (q == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    q->mem = *mem;
    vx_err_init(&q->err);
    q->p = *p;
    set_geometry(q, m, dsub);
    if (alloc_arrays(q) != VEX_OK) {
        vx_vq_destroy(q);
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    }
    *out = q;
    return VEX_OK;
}

int vx_vq_create(const vex_mem *mem, const vq_params *p, vq_quantizer **out,
                 vex_err *err)
{
    return create(mem, p, out, err);
}

void vx_vq_destroy(vq_quantizer *q)
{
    if (q == NULL)
        return;
    vx_mem_free(&q->mem, q->a);
    vx_mem_free(&q->mem, q->b);
    vx_mem_free(&q->mem, q->cent);
    vx_mem_free(&q->mem, q->rot);
    vx_err_destroy(&q->err);
    vx_mem_free(&q->mem, q);
}

const char *vx_vq_errmsg(vq_quantizer *q)
{
    return q ? q->err.msg : "";
}

vq_kind vx_vq_get_kind(const vq_quantizer *q)
{
    return q->p.kind;
}

uint32_t vx_vq_dim(const vq_quantizer *q)
{
    return q->p.dim;
}

vex_metric vx_vq_metric(const vq_quantizer *q)
{
    return q->p.metric;
}

int vx_vq_is_trained(const vq_quantizer *q)
{
    return q->trained;
}

uint32_t vx_vq_pq_m(const vq_quantizer *q)
{
    return q->m;
}

uint32_t vx_vq_pq_nbits(const vq_quantizer *q)
{
    return is_pq(q->p.kind) ? q->nbits : 0;
}

size_t vx_vq_code_size(const vq_quantizer *q)
{
    return q->code_size;
}

int vx_vq_opq_errors(vq_quantizer *q, double *before, double *after)
{
    if (q == NULL || before == NULL || after == NULL)
        return VEX_INVALID;
    if (q->p.kind != VQ_OPQ || !q->trained)
        return vx_err_set(&q->err, VEX_INVALID,
                          "reconstruction errors: not a trained OPQ");
    *before = q->err_before;
    *after = q->err_after;
    return VEX_OK;
}

/* ---- the transform ------------------------------------------------------- */

size_t vx_vq_buf_floats(const vq_quantizer *q)
{
    return (size_t)q->p.dim + q->pdim;
}

static const float *transform(const vq_quantizer *q, const float *x, float *buf,
                              int rotate);

const float *vx_vq_transform(const vq_quantizer *q, const float *x, float *buf)
{
    return transform(q, x, buf, 1);
}

/* rotate = 0: normalise and pad only (OPQ's training input, whose
 * rotation does not exist yet) */
static const float *transform(const vq_quantizer *q, const float *x, float *buf,
                              int rotate)
{
    const vex_simd_table *t = vx_simd();
    size_t dim = q->p.dim, i, j;
    const float *v = x;
    if (q->p.metric == VEX_METRIC_COSINE) {
        float n2 = t->norm2_f32(x, dim), inv;
        if (!(n2 > 0) || !isfinite(n2))
            return NULL;
        inv = 1.0f / sqrtf(n2);
        for (i = 0; i < dim; i++)
            buf[i] = x[i] * inv;
        v = buf;
    }
    if (!is_pq(q->p.kind))
        return v;
    if (q->rot && rotate) { /* y_j = sum_i v_i R[i][j] */
        float *y = buf + dim;
        memset(y, 0, q->pdim * sizeof *y);
        for (i = 0; i < dim; i++) {
            const float *r = q->rot + i * dim;
            float vi = v[i];
            for (j = 0; j < dim; j++)
                y[j] += vi * r[j];
        }
        return y;
    }
    if (q->pdim == dim)
        return v;
    memcpy(buf + dim, v, dim * sizeof *buf);
    memset(buf + 2 * dim, 0, (q->pdim - dim) * sizeof *buf);
    return buf + dim;
}

static int check_finite(vq_quantizer *q, const float *x, size_t n,
                        const char *what)
{
    size_t i, total = n * q->p.dim;
    for (i = 0; i < total; i++)
        if (!isfinite(x[i]))
            return vx_err_set(&q->err, VEX_INVALID,
                              "%s: vector %zu has a non-finite value", what,
                              i / q->p.dim);
    return VEX_OK;
}

/* ---- training ------------------------------------------------------------ */

int vx_vq_train(vq_quantizer *q, const float *x, size_t n)
{
    int rc = VEX_OK;
    size_t dim, ns, i, rowf, need, sz;
    size_t *idx = NULL;
    float *xs = NULL, *buf = NULL;
    vex_rng r;
    if (q == NULL)
        return VEX_INVALID;
    dim = q->p.dim;
    if (x == NULL)
        return vx_err_set(&q->err, VEX_INVALID, "train: NULL vectors");
    if (q->trained)
        return vx_err_set(&q->err, VEX_INVALID, "train: already trained");
    need = is_pq(q->p.kind) ? q->ksub : 1;
    if (n < need)
        return vx_err_set(&q->err, VEX_INVALID,
                          "train: %zu vectors, need at least %zu", n, need);
    if (vex_mul_overflow(n, dim, &sz))
        return vx_err_set(&q->err, VEX_INVALID, "train: size overflow");
    if ((rc = check_finite(q, x, n, "train")) != VEX_OK)
        return rc;
    ns = n;
    if (q->p.max_train != 0 && q->p.max_train < n)
        ns = q->p.max_train < need ? need : q->p.max_train;
    /* rows in the space of the kind: OPQ learns its rotation on the
     * normalised rows, PQ trains on padded ones */
    rowf = q->p.kind == VQ_PQ ? q->pdim : dim;
    xs = vx_mem_calloc(&q->mem, ns, rowf * sizeof *xs);
    buf = vx_mem_calloc(&q->mem, vx_vq_buf_floats(q), sizeof *buf);
    if (ns < n)
        idx = vx_mem_calloc(&q->mem, n, sizeof *idx);
    if (xs == NULL || buf == NULL || (ns < n && idx == NULL)) {
        rc = vx_err_set(&q->err, VEX_NOMEM, "train: out of memory");
        goto cleanup;
    }
    vex_rng_seed(&r, q->p.seed ^ 0x5eed5a3b1e5ULL);
    if (idx)
        for (i = 0; i < n; i++)
            idx[i] = i;
    for (i = 0; i < ns; i++) {
        const float *row, *v;
        if (idx) { /* partial Fisher-Yates: a uniform sample */
            size_t j = i + (size_t)vex_rng_below(&r, n - i), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        row = x + (idx ? idx[i] : i) * dim;
        v = row;
        if (q->p.metric == VEX_METRIC_COSINE || q->p.kind == VQ_PQ) {
            v = transform(q, row, buf, 0);
            if (v == NULL) {
                rc = vx_err_set(&q->err, VEX_INVALID,
                                "train: vector %zu is zero (cosine)",
                                idx ? idx[i] : i);
                goto cleanup;
            }
        }
        memcpy(xs + i * rowf, v, rowf * sizeof *xs);
    }
    switch (q->p.kind) {
    case VQ_SQ8:
        rc = vx_vq_sq8_train(q, xs, ns);
        break;
    case VQ_BQ:
        rc = vx_vq_bq_train(q, xs, ns);
        break;
    case VQ_PQ:
        rc = vx_vq_pq_train(q, xs, ns, q->p.train_iter, 0);
        break;
    case VQ_OPQ:
        rc = vx_vq_opq_train(q, xs, ns);
        break;
    }
    if (rc == VEX_OK)
        q->trained = 1;
cleanup:
    vx_mem_free(&q->mem, idx);
    vx_mem_free(&q->mem, xs);
    vx_mem_free(&q->mem, buf);
    return rc;
}

/* ---- encode / decode ------------------------------------------------------
 */

int vx_vq_encode(vq_quantizer *q, const float *x, size_t n, uint8_t *codes)
{
    float *buf = NULL;
    size_t i, dim;
    int rc = VEX_OK;
    if (q == NULL)
        return VEX_INVALID;
    if (!q->trained)
        return vx_err_set(&q->err, VEX_INVALID, "encode: not trained");
    if ((x == NULL || codes == NULL) && n > 0)
        return vx_err_set(&q->err, VEX_INVALID, "encode: NULL argument");
    if ((rc = check_finite(q, x, n, "encode")) != VEX_OK)
        return rc;
    dim = q->p.dim;
    buf = vx_mem_calloc(&q->mem, vx_vq_buf_floats(q) + q->ksub, sizeof *buf);
    if (buf == NULL)
        return vx_err_set(&q->err, VEX_NOMEM, "encode: out of memory");
    for (i = 0; i < n; i++) {
        const float *v = vx_vq_transform(q, x + i * dim, buf);
        uint8_t *c = codes + i * q->code_size;
        if (v == NULL) {
            rc = vx_err_set(&q->err, VEX_INVALID,
                            "encode: vector %zu is zero (cosine)", i);
            break;
        }
        switch (q->p.kind) {
        case VQ_SQ8:
            vx_vq_sq8_encode(q, v, c);
            break;
        case VQ_BQ:
            vx_vq_bq_encode(q, v, c);
            break;
        default:
            vx_vq_pq_encode(q, v, c, buf + vx_vq_buf_floats(q));
            break;
        }
    }
    vx_mem_free(&q->mem, buf);
    return rc;
}

int vx_vq_decode(vq_quantizer *q, const uint8_t *codes, size_t n, float *out)
{
    float *buf = NULL;
    size_t i, j, k, dim;
    if (q == NULL)
        return VEX_INVALID;
    if (!q->trained)
        return vx_err_set(&q->err, VEX_INVALID, "decode: not trained");
    if ((out == NULL || codes == NULL) && n > 0)
        return vx_err_set(&q->err, VEX_INVALID, "decode: NULL argument");
    dim = q->p.dim;
    if (is_pq(q->p.kind)) {
        buf = vx_mem_calloc(&q->mem, q->pdim, sizeof *buf);
        if (buf == NULL)
            return vx_err_set(&q->err, VEX_NOMEM, "decode: out of memory");
    }
    for (i = 0; i < n; i++) {
        const uint8_t *c = codes + i * q->code_size;
        float *o = out + i * dim;
        switch (q->p.kind) {
        case VQ_SQ8:
            vx_vq_sq8_decode(q, c, o);
            break;
        case VQ_BQ:
            vx_vq_bq_decode(q, c, o);
            break;
        default:
            vx_vq_pq_decode(q, c, buf);
            if (q->rot == NULL) {
                memcpy(o, buf, dim * sizeof *o);
                break;
            }
            /* x = y R^T: x_i = sum_j y_j R[i][j] (R orthogonal) */
            for (j = 0; j < dim; j++) {
                const float *r = q->rot + j * dim;
                double s = 0;
                for (k = 0; k < dim; k++)
                    s += (double)buf[k] * r[k];
                o[j] = (float)s;
            }
            break;
        }
    }
    vx_mem_free(&q->mem, buf);
    return VEX_OK;
}

/* ---- distance computers ----------------------------------------------------
 */

int vx_vq_dc_create(vq_quantizer *q, unsigned flags, vq_dc **out)
{
    vq_dc *dc;
    size_t tabn = 0;
    if (out)
        *out = NULL;
    if (q == NULL || out == NULL)
        return VEX_INVALID;
    if (!q->trained)
        return vx_err_set(&q->err, VEX_INVALID, "distance: not trained");
    if (flags & ~VQ_DC_SYMMETRIC)
        return vx_err_set(&q->err, VEX_INVALID, "distance: unknown flags %#x",
                          flags);
    if ((flags & VQ_DC_SYMMETRIC) &&
        (q->p.kind != VQ_SQ8 || !q->p.sq8_uniform ||
         q->p.metric == VEX_METRIC_IP))
        return vx_err_set(&q->err, VEX_INVALID,
                          "distance: the symmetric path needs SQ8 with a "
                          "uniform step and L2 or cosine");
    dc = vx_mem_calloc(&q->mem, 1, sizeof *dc);
    if (dc == NULL)
        goto nomem;
    dc->q = q;
    dc->flags = flags;
    dc->buf = vx_mem_calloc(&q->mem, vx_vq_buf_floats(q), sizeof(float));
    if (dc->buf == NULL)
        goto nomem;
    if (q->p.kind == VQ_SQ8)
        tabn = 2 * (size_t)q->p.dim;
    else if (is_pq(q->p.kind))
        tabn = (size_t)q->m * q->ksub;
    if (tabn) {
        dc->tab = vx_mem_calloc(&q->mem, tabn, sizeof(float));
        if (dc->tab == NULL)
            goto nomem;
    }
    if (q->p.kind == VQ_SQ8 || q->p.kind == VQ_BQ) {
        dc->qcode = vx_mem_calloc(&q->mem, q->code_size, 1);
        if (dc->qcode == NULL)
            goto nomem;
    }
    if (is_pq(q->p.kind) && q->nbits == 4) {
        dc->lut4 = vx_mem_calloc(&q->mem, (size_t)q->m * 16, 1);
        if (dc->lut4 == NULL)
            goto nomem;
    }
    *out = dc;
    return VEX_OK;
nomem:
    vx_vq_dc_destroy(dc);
    return vx_err_set(&q->err, VEX_NOMEM, "distance: out of memory");
}

void vx_vq_dc_destroy(vq_dc *dc)
{
    const vex_mem *m;
    if (dc == NULL)
        return;
    m = &dc->q->mem;
    vx_mem_free(m, dc->buf);
    vx_mem_free(m, dc->tab);
    vx_mem_free(m, dc->qcode);
    vx_mem_free(m, dc->lut4);
    vx_mem_free(m, dc);
}

int vx_vq_dc_set_query(vq_dc *dc, const float *query)
{
    vq_quantizer *q;
    const float *v;
    size_t i;
    if (dc == NULL || query == NULL)
        return VEX_INVALID;
    q = dc->q;
    for (i = 0; i < q->p.dim; i++)
        if (!isfinite(query[i]))
            return vx_err_set(&q->err, VEX_INVALID,
                              "query: dimension %zu is not finite", i);
    v = vx_vq_transform(q, query, dc->buf);
    if (v == NULL)
        return vx_err_set(&q->err, VEX_INVALID, "query: zero (cosine)");
    dc->qv = v;
    switch (q->p.kind) {
    case VQ_SQ8:
        vx_vq_sq8_set_query(dc, v);
        break;
    case VQ_BQ:
        vx_vq_bq_encode(q, v, dc->qcode);
        break;
    default:
        vx_vq_pq_set_query(dc, v);
        break;
    }
    return VEX_OK;
}

float vx_vq_dc_distance(const vq_dc *dc, const uint8_t *code)
{
    float d;
    switch (dc->q->p.kind) {
    case VQ_SQ8:
        return vx_vq_sq8_distance(dc, code);
    case VQ_BQ:
        return (float)vx_simd()->hamming(dc->qcode, code, dc->q->code_size);
    default:
        vx_vq_pq_scan(dc, code, 1, &d);
        return d;
    }
}

void vx_vq_dc_scan(const vq_dc *dc, const uint8_t *codes, size_t n, float *out)
{
    switch (dc->q->p.kind) {
    case VQ_SQ8:
        vx_vq_sq8_scan(dc, codes, n, out);
        break;
    case VQ_BQ:
        vx_vq_bq_scan(dc, codes, n, out);
        break;
    default:
        vx_vq_pq_scan(dc, codes, n, out);
        break;
    }
}

/* ---- the quantizer blob (docs/FORMAT.md) ----------------------------------
 */

#define BLOB_MAGIC   "VEXQUANT"
#define BLOB_VERSION 1u
#define BLOB_HDR     64u
#define BLOB_MIN     (BLOB_HDR + 4u)
#define FLAG_UNIFORM 1u /* SQ8: one step for all dimensions */
#define FLAG_CENTER  2u /* BQ: centred */

/* Payload bytes of a quantizer's arrays. */
static size_t payload_size(const vq_quantizer *q)
{
    size_t dim = q->p.dim;
    switch (q->p.kind) {
    case VQ_SQ8:
    case VQ_BQ:
        return 8 * dim;
    case VQ_PQ:
        return 4 * (size_t)q->m * q->ksub * q->dsub;
    case VQ_OPQ:
        return 16 + 4 * dim * dim + 4 * (size_t)q->m * q->ksub * q->dsub;
    }
    return 0;
}

size_t vx_vq_blob_size(const vq_quantizer *q)
{
    if (q == NULL || !q->trained)
        return 0;
    return BLOB_MIN + payload_size(q);
}

static unsigned char *put_f32s(unsigned char *p, const float *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++, p += 4) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        vex_put_u32le(p, u);
    }
    return p;
}

static unsigned char *put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    vex_put_u64le(p, u);
    return p + 8;
}

int vx_vq_serialize(vq_quantizer *q, void *buf, size_t size)
{
    unsigned char *b = buf, *p;
    size_t total, nc;
    uint32_t flags = 0;
    if (q == NULL)
        return VEX_INVALID;
    if (!q->trained)
        return vx_err_set(&q->err, VEX_INVALID, "serialize: not trained");
    total = vx_vq_blob_size(q);
    if (buf == NULL || size < total)
        return vx_err_set(&q->err, VEX_INVALID,
                          "serialize: buffer of %zu bytes, need %zu", size,
                          total);
    if (q->p.kind == VQ_SQ8 && q->p.sq8_uniform)
        flags |= FLAG_UNIFORM;
    if (q->p.kind == VQ_BQ && q->p.bq_center)
        flags |= FLAG_CENTER;
    memset(b, 0, BLOB_HDR);
    memcpy(b, BLOB_MAGIC, 8);
    vex_put_u32le(b + 8, BLOB_VERSION);
    vex_put_u32le(b + 12, BLOB_HDR);
    vex_put_u64le(b + 16, total);
    vex_put_u32le(b + 24, (uint32_t)q->p.kind);
    vex_put_u32le(b + 28, q->p.dim);
    vex_put_u32le(b + 32, (uint32_t)q->p.metric);
    vex_put_u32le(b + 36, flags);
    vex_put_u32le(b + 40, q->m);
    vex_put_u32le(b + 44, q->nbits);
    vex_put_u32le(b + 48, q->dsub);
    p = b + BLOB_HDR;
    nc = (size_t)q->m * q->ksub * q->dsub;
    switch (q->p.kind) {
    case VQ_SQ8:
    case VQ_BQ:
        p = put_f32s(p, q->a, q->p.dim);
        p = put_f32s(p, q->b, q->p.dim);
        break;
    case VQ_PQ:
        p = put_f32s(p, q->cent, nc);
        break;
    case VQ_OPQ:
        p = put_f64(p, q->err_before);
        p = put_f64(p, q->err_after);
        p = put_f32s(p, q->rot, (size_t)q->p.dim * q->p.dim);
        p = put_f32s(p, q->cent, nc);
        break;
    }
    vex_put_u32le(p, vex_crc32c(b, total - 4));
    return VEX_OK;
}

/* Reads n floats into v; returns n, or the index of the first one that is
 * not finite (which ends at vx_rd_off(in)). Lengths are checked by the
 * caller; a read past the end leaves zeros and the reader failed. */
static size_t get_f32s(vx_rd *in, float *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        v[i] = vx_rd_f32(in, "truncated payload");
        if (!isfinite(v[i]))
            return i;
    }
    return n;
}

/* As get_f32s for n floats; VEX_CORRUPT naming the first bad one. */
static int get_finite(vx_rd *in, float *v, size_t n, vex_err *err,
                      const char *what)
{
    size_t k = get_f32s(in, v, n);
    if (k == n)
        return VEX_OK;
    return VX_CORRUPT(err, "quantizer blob: offset %zu: %s %zu is not finite",
                      vx_rd_off(in) - 4, what, k);
}

/* An OPQ error report: finite and not negative. */
static int get_report(vx_rd *in, double *v, vex_err *err)
{
    size_t at = vx_rd_off(in);
    *v = vx_rd_f64(in, "truncated payload");
    if (!isfinite(*v) || *v < 0)
        return VX_CORRUPT(err, "quantizer blob: offset %zu: bad error report",
                          at);
    return VEX_OK;
}

int vx_vq_deserialize(const vex_mem *mem, const void *buf, size_t size,
                      vq_quantizer **out, vex_err *err)
{
    const unsigned char *b = buf, *magic;
    vq_quantizer *q = NULL;
    vq_params p;
    uint32_t version, hdr, kind, dim, metric, flags, m, nbits, dsub, md, dd;
    uint64_t total;
    size_t i, j, nc, at;
    vx_rd in;
    int rc = VEX_OK;
    if (out)
        *out = NULL;
    if (mem == NULL || out == NULL || (buf == NULL && size > 0))
        return vx_err_set(err, VEX_INVALID, "deserialize: NULL argument");
    if (size < BLOB_MIN)
        return VX_CORRUPT(err,
                          "quantizer blob: offset %zu: truncated: %zu bytes, "
                          "a blob has at least %u",
                          size, size, BLOB_MIN);
    /* the header (the length checked above covers it) */
    in = vx_rd_new(b, size - 4);
    magic = vx_rd_take(&in, 8, NULL);
    version = vx_rd_u32(&in, NULL);
    hdr = vx_rd_u32(&in, NULL);
    total = vx_rd_u64(&in, NULL);
    kind = vx_rd_u32(&in, NULL);
    dim = vx_rd_u32(&in, NULL);
    metric = vx_rd_u32(&in, NULL);
    flags = vx_rd_u32(&in, NULL);
    m = vx_rd_u32(&in, NULL);
    nbits = vx_rd_u32(&in, NULL);
    dsub = vx_rd_u32(&in, NULL);
    if (memcmp(magic, BLOB_MAGIC, 8) != 0)
        return VX_CORRUPT(err, "quantizer blob: offset 0: bad magic");
    if (total != size)
        return VX_CORRUPT(err,
                          "quantizer blob: offset 16: total size %llu but %zu "
                          "bytes given",
                          (unsigned long long)total, size);
    if (vex_get_u32le(b + size - 4) != vex_crc32c(b, size - 4))
        return VX_CORRUPT(err, "quantizer blob: offset %zu: checksum mismatch",
                          size - 4);
    if (version != BLOB_VERSION)
        return vx_err_set(err, version == 0 ? VEX_CORRUPT : VEX_UNSUPPORTED,
                          "quantizer blob: offset 8: format version %u, this "
                          "build reads version %u",
                          version, BLOB_VERSION);
    if (hdr != BLOB_HDR)
        return VX_CORRUPT(err,
                          "quantizer blob: offset 12: header size %u, "
                          "expected %u",
                          hdr, BLOB_HDR);
    if (kind < VQ_SQ8 || kind > VQ_OPQ)
        return VX_CORRUPT(err, "quantizer blob: offset 24: unknown kind %u",
                          kind);
    if (dim < 1 || dim > VEX_MAX_DIM ||
        (kind == VQ_OPQ && dim > VQ_OPQ_MAX_DIM))
        return VX_CORRUPT(err,
                          "quantizer blob: offset 28: dimension %u out of "
                          "range",
                          dim);
    if (metric != VEX_METRIC_L2 && metric != VEX_METRIC_IP &&
        metric != VEX_METRIC_COSINE)
        return VX_CORRUPT(err, "quantizer blob: offset 32: unknown metric %u",
                          metric);
    if (flags & ~(kind == VQ_SQ8  ? FLAG_UNIFORM
                  : kind == VQ_BQ ? FLAG_CENTER
                                  : 0u))
        return VX_CORRUPT(err, "quantizer blob: offset 36: unknown flags %#x",
                          flags);
    if (!vx_rd_zero(&in, BLOB_HDR - vx_rd_pos(&in),
                    "reserved byte is not zero"))
        return VX_CORRUPT(err, "quantizer blob: offset %zu: %s",
                          vx_rd_fail_off(&in), vx_rd_what(&in));
    vx_vq_params_init(&p, (vq_kind)kind, dim, (vex_metric)metric);
    p.sq8_uniform = (flags & FLAG_UNIFORM) != 0;
    p.bq_center = (flags & FLAG_CENTER) != 0;
    if (is_pq((vq_kind)kind)) {
        if (nbits != 4 && nbits != 8)
            return VX_CORRUPT(
                err, "quantizer blob: offset 44: %u bits per code", nbits);
        if (m < 1 || m > dim || m > (nbits == 4 ? VQ_PQ4_MAX_M : VQ_PQ_MAX_M))
            return VX_CORRUPT(err,
                              "quantizer blob: offset 40: M = %u out of range "
                              "for dimension %u",
                              m, dim);
        if (dsub != (dim + m - 1) / m)
            return VX_CORRUPT(err,
                              "quantizer blob: offset 48: sub-dimension %u, "
                              "expected %u",
                              dsub, (dim + m - 1) / m);
        p.pq_m = m;
        p.pq_nbits = nbits;
    } else {
        if (m != 0)
            return VX_CORRUPT(err,
                              "quantizer blob: offset 40: M = %u for a kind "
                              "without subquantizers",
                              m);
        if (nbits != (kind == VQ_BQ ? 1u : 8u))
            return VX_CORRUPT(
                err, "quantizer blob: offset 44: %u bits per code", nbits);
        if (dsub != 0)
            return VX_CORRUPT(err,
                              "quantizer blob: offset 48: sub-dimension %u for "
                              "a kind without subquantizers",
                              dsub);
    }
    if ((rc = create(mem, &p, &q, err)) != VEX_OK)
        goto cleanup;
    if (size != BLOB_MIN + payload_size(q)) {
        rc = VX_CORRUPT(err,
                        "quantizer blob: offset 16: total size %zu, the "
                        "header's fields give %zu",
                        size, BLOB_MIN + payload_size(q));
        goto cleanup;
    }
    /* the payload: exactly what the header's fields give (checked above) */
    nc = (size_t)q->m * q->ksub * q->dsub;
    switch (q->p.kind) {
    case VQ_SQ8:
    case VQ_BQ:
        if ((rc = get_finite(&in, q->a, dim, err, "offset/mean")) != 0 ||
            (rc = get_finite(&in, q->b, dim, err, "step/scale")) != 0)
            goto cleanup;
        for (i = 0; i < dim; i++) {
            at = BLOB_HDR + 4 * ((size_t)dim + i);
            if (q->b[i] < 0) {
                rc = VX_CORRUPT(err,
                                "quantizer blob: offset %zu: negative "
                                "step/scale",
                                at);
                goto cleanup;
            }
            if (p.sq8_uniform && q->b[i] != q->b[0]) {
                rc = VX_CORRUPT(err,
                                "quantizer blob: offset %zu: steps differ "
                                "under the uniform flag",
                                at);
                goto cleanup;
            }
        }
        break;
    case VQ_OPQ:
        if ((rc = get_report(&in, &q->err_before, err)) != 0 ||
            (rc = get_report(&in, &q->err_after, err)) != 0 ||
            (rc = get_finite(&in, q->rot, (size_t)dim * dim, err,
                             "rotation entry")) != 0)
            goto cleanup;
        /* fall through */
    case VQ_PQ:
        at = vx_rd_off(&in);
        if ((rc = get_finite(&in, q->cent, nc, err, "centroid value")) != 0)
            goto cleanup;
        /* the padded coordinates are zero (quant.h: padding) */
        for (i = 0; i < nc; i++) {
            md = (uint32_t)((i / ((size_t)q->ksub * dsub)) * dsub);
            dd = (uint32_t)(i % dsub);
            if (md + dd >= dim && q->cent[i] != 0.0f) {
                j = at + 4 * i;
                rc = VX_CORRUPT(err,
                                "quantizer blob: offset %zu: padding "
                                "coordinate is not zero",
                                j);
                goto cleanup;
            }
        }
        break;
    }
    if (!vx_rd_end(&in, "payload shorter than the blob")) {
        rc = VX_CORRUPT(err, "quantizer blob: offset %zu: %s",
                        vx_rd_fail_off(&in), vx_rd_what(&in));
        goto cleanup;
    }
    q->trained = 1;
    *out = q;
    q = NULL;
cleanup:
    vx_vq_destroy(q);
    return rc;
}
