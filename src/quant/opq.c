/* SPDX-License-Identifier: Apache-2.0 */
/*
 * opq.c - optimized product quantization (Ge, He, Ke, Sun 2013, the
 * non-parametric variant): a rotation R (dim x dim, orthogonal) learned
 * so that PQ of x R loses less than PQ of x. Training alternates
 *   1. PQ on Y = X R (a few Lloyd iterations, warm-started), and
 *   2. R = argmin over orthogonal R of |X R - decode(encode(Y))|_F, the
 *      orthogonal Procrustes problem, solved by R = U V^T from the SVD
 *      X^T Yhat = U S V^T;
 * then a final PQ training on X R with the full iteration count.
 *
 * Differences from the paper / FAISS, and why:
 *  - R starts as the identity, not a random rotation: the first PQ is then
 *    plain PQ with the same parameters and seed, and its reconstruction
 *    error is the "before" that vx_vq_opq_errors reports; the report costs
 *    nothing extra. FAISS starts from a random rotation, which helps when
 *    dimensions are ordered by variance (PCA output) and not otherwise.
 *  - The SVD is a one-sided Jacobi (Hestenes) on the dim x dim matrix, in
 *    double: simple, accurate for the small singular values Procrustes
 *    needs (no X^T X squaring), O(dim^3) per sweep, fine up to
 *    VQ_OPQ_MAX_DIM. Singular vectors of zero singular values (rank
 *    deficient X^T Yhat, e.g. fewer vectors than dimensions) are completed
 *    to an orthonormal basis by Gram-Schmidt, so R is always orthogonal.
 *  - The rotation is applied as a dense matrix-vector product per encoded
 *    vector and per query (dim^2 multiply-adds); queries are far fewer
 *    than scanned codes, so this is noise next to the scan.
 */
#include <math.h>
#include <string.h>

#include "quant/quant_int.h"
#include "simd/simd.h"

#define OPQ_PQ_ITER 4 /* Lloyd iterations per alternation */

/* ---- SVD and Procrustes ----------------------------------------------------
 */

static double dotd(const double *a, const double *b, size_t n)
{
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

int vx_vq_procrustes(const vex_mem *mem, double *mat, size_t d, float *rot)
{
    double *u, *v, *sv;
    size_t i, j, k, sweep;
    double smax = 0;
    u = vx_mem_calloc(mem, d * d, sizeof *u);
    v = vx_mem_calloc(mem, d * d, sizeof *v);
    sv = vx_mem_calloc(mem, d, sizeof *sv);
    if (u == NULL || v == NULL || sv == NULL) {
        vx_mem_free(mem, u);
        vx_mem_free(mem, v);
        vx_mem_free(mem, sv);
        return VEX_NOMEM;
    }
    /* column-major copies: u = mat, v = I */
    for (i = 0; i < d; i++)
        for (j = 0; j < d; j++)
            u[j * d + i] = mat[i * d + j];
    for (i = 0; i < d; i++)
        v[i * d + i] = 1;
    for (sweep = 0; sweep < 60; sweep++) {
        int rotated = 0;
        for (j = 0; j + 1 < d; j++) {
            for (k = j + 1; k < d; k++) {
                double *up = u + j * d, *uq = u + k * d;
                double *vp = v + j * d, *vq = v + k * d;
                double al = dotd(up, up, d), be = dotd(uq, uq, d);
                double ga = dotd(up, uq, d), zeta, t, c, s;
                if (ga == 0 || fabs(ga) <= 1e-15 * sqrt(al * be))
                    continue;
                rotated = 1;
                zeta = (be - al) / (2 * ga);
                t = (zeta >= 0 ? 1.0 : -1.0) /
                    (fabs(zeta) + sqrt(1 + zeta * zeta));
                c = 1 / sqrt(1 + t * t);
                s = c * t;
                for (i = 0; i < d; i++) {
                    double a = up[i], b = uq[i];
                    up[i] = c * a - s * b;
                    uq[i] = s * a + c * b;
                    a = vp[i];
                    b = vq[i];
                    vp[i] = c * a - s * b;
                    vq[i] = s * a + c * b;
                }
            }
        }
        if (!rotated)
            break;
    }
    for (j = 0; j < d; j++) {
        sv[j] = sqrt(dotd(u + j * d, u + j * d, d));
        if (sv[j] > smax)
            smax = sv[j];
    }
    for (j = 0; j < d; j++) {
        if (sv[j] > 1e-10 * smax && sv[j] > 0) {
            for (i = 0; i < d; i++)
                u[j * d + i] /= sv[j];
        } else {
            sv[j] = 0; /* completed below */
        }
    }
    /* complete the null columns of U with basis vectors orthogonalised
     * (twice, for accuracy) against every column kept so far */
    for (j = 0, k = 0; j < d; j++) {
        double *uj = u + j * d, nrm = 0;
        size_t l, pass;
        if (sv[j] > 0)
            continue;
        for (; k < d && nrm < 0.5; k++) {
            memset(uj, 0, d * sizeof *uj);
            uj[k] = 1;
            for (pass = 0; pass < 2; pass++)
                for (l = 0; l < d; l++) {
                    double pr;
                    if (l == j || sv[l] == 0)
                        continue;
                    pr = dotd(u + l * d, uj, d);
                    for (i = 0; i < d; i++)
                        uj[i] -= pr * u[l * d + i];
                }
            nrm = sqrt(dotd(uj, uj, d));
        }
        for (i = 0; i < d; i++)
            uj[i] /= nrm;
        sv[j] = -1; /* kept: later completions orthogonalise against it */
    }
    /* R[i][j] = sum_k U[i][k] V[j][k] */
    for (i = 0; i < d; i++)
        for (j = 0; j < d; j++) {
            double s = 0;
            for (k = 0; k < d; k++)
                s += u[k * d + i] * v[k * d + j];
            rot[i * d + j] = (float)s;
        }
    vx_mem_free(mem, u);
    vx_mem_free(mem, v);
    vx_mem_free(mem, sv);
    return VEX_OK;
}

/* ---- training ------------------------------------------------------------ */

/* Y = X R, padded to pdim */
static void rotate_all(const vq_quantizer *q, const float *x, size_t n,
                       float *y)
{
    size_t r, i, j, dim = q->p.dim, pdim = q->pdim;
    for (r = 0; r < n; r++) {
        const float *xr = x + r * dim;
        float *yr = y + r * pdim;
        memset(yr, 0, pdim * sizeof *yr);
        for (i = 0; i < dim; i++) {
            const float *rr = q->rot + i * dim;
            float xi = xr[i];
            for (j = 0; j < dim; j++)
                yr[j] += xi * rr[j];
        }
    }
}

/* Mean squared reconstruction error of the PQ on rows y; when mat is not
 * NULL, also accumulates X^T Yhat into it (dim x dim). */
static double pq_pass(vq_quantizer *q, const float *x, const float *y, size_t n,
                      float *yhat, uint8_t *code, float *dist, double *mat)
{
    const vex_simd_table *t = vx_simd();
    size_t r, i, j, dim = q->p.dim, pdim = q->pdim;
    double e = 0;
    if (mat)
        memset(mat, 0, dim * dim * sizeof *mat);
    for (r = 0; r < n; r++) {
        const float *yr = y + r * pdim;
        vx_vq_pq_encode(q, yr, code, dist);
        vx_vq_pq_decode(q, code, yhat);
        e += t->l2sq_f32(yr, yhat, pdim);
        if (mat) {
            const float *xr = x + r * dim;
            for (i = 0; i < dim; i++) {
                double xi = xr[i], *mi = mat + i * dim;
                if (xi == 0)
                    continue;
                for (j = 0; j < dim; j++)
                    mi[j] += xi * yhat[j];
            }
        }
    }
    return e / (double)n;
}

int vx_vq_opq_train(vq_quantizer *q, const float *x, size_t n)
{
    size_t dim = q->p.dim, pdim = q->pdim, i;
    float *y = NULL, *yhat = NULL, *dist = NULL;
    uint8_t *code = NULL;
    double *mat = NULL;
    unsigned it;
    int rc = VEX_OK;
    y = vx_mem_calloc(&q->mem, n, pdim * sizeof *y);
    yhat = vx_mem_calloc(&q->mem, pdim, sizeof *yhat);
    dist = vx_mem_calloc(&q->mem, q->ksub, sizeof *dist);
    code = vx_mem_calloc(&q->mem, q->code_size, 1);
    mat = vx_mem_calloc(&q->mem, dim * dim, sizeof *mat);
    if (!y || !yhat || !dist || !code || !mat) {
        rc = vx_err_set(&q->err, VEX_NOMEM, "train: out of memory");
        goto cleanup;
    }
    memset(q->rot, 0, dim * dim * sizeof *q->rot);
    for (i = 0; i < dim; i++)
        q->rot[i * dim + i] = 1;
    rotate_all(q, x, n, y);
    if ((rc = vx_vq_pq_train(q, y, n, q->p.train_iter, 0)) != VEX_OK)
        goto cleanup;
    for (it = 0; it < q->p.opq_iter; it++) {
        double e = pq_pass(q, x, y, n, yhat, code, dist, mat);
        if (it == 0)
            q->err_before = e;
        if ((rc = vx_vq_procrustes(&q->mem, mat, dim, q->rot)) != VEX_OK) {
            rc = vx_err_set(&q->err, rc, "train: out of memory");
            goto cleanup;
        }
        rotate_all(q, x, n, y);
        if ((rc = vx_vq_pq_train(
                 q, y, n,
                 it + 1 == q->p.opq_iter ? q->p.train_iter : OPQ_PQ_ITER, 1)) !=
            VEX_OK)
            goto cleanup;
    }
    q->err_after = pq_pass(q, x, y, n, yhat, code, dist, NULL);
cleanup:
    vx_mem_free(&q->mem, y);
    vx_mem_free(&q->mem, yhat);
    vx_mem_free(&q->mem, dist);
    vx_mem_free(&q->mem, code);
    vx_mem_free(&q->mem, mat);
    return rc;
}
