/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_simd.c - every kernel of every table this machine can run, checked
 * against the scalar reference (simd_scalar.c), plus the dispatcher.
 *
 * Inputs sit at the very end of exactly-sized heap blocks, offset from a
 * 64-byte boundary by 0..3 floats or 0..63 bytes, so a kernel that reads
 * past the end trips ASan and one that assumes alignment faults. Floats are
 * compared with a tolerance scaled by the sum of |terms| (only summation
 * order may differ); integers, packing and float16 conversions must match
 * exactly (any NaN matches any NaN). Outputs are surrounded by canaries.
 *
 * Usage: test_simd            all cases
 *        test_simd --dispatch only the dispatcher cases (used by the ctest
 *                             entries that set VEX_SIMD=...)
 */
#include <float.h>
#include <stdint.h>

#include "simd/simd.h"
#include "simd/simd_impl.h"
#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

static const vex_simd_table *g_ref;
static const vex_simd_table *g_tabs[4];
static int g_n_tabs;

/* dimensions for the batch and packed kernels */
static const size_t k_dims[] = {1,   2,   3,   7,   8,   9,   15,   16,   17,
                                31,  32,  33,  63,  64,  65,  100,  127,  128,
                                129, 255, 256, 257, 384, 768, 1023, 1024, 1100};
#define N_DIMS (sizeof k_dims / sizeof k_dims[0])

/* ---- helpers ----------------------------------------------------------- */

/* `bytes` bytes starting `off` bytes past a 64-byte boundary, ending at
 * the end of the heap block. Free with free(*base). */
static void *alloc_at(size_t off, size_t bytes, void **base)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, off + bytes + (off + bytes == 0)) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    *base = p;
    return (char *)p + off;
}

static void fill_f32(vex_rng *r, float *x, size_t n, int kind)
{
    size_t i;
    for (i = 0; i < n; i++) {
        double v = vex_rng_normal(r);
        if (kind == 1) /* magnitudes 1e-10 .. 1e10 mixed */
            v *= pow(10.0, vex_rng_double(r) * 20.0 - 10.0);
        else if (kind == 2) /* large but no overflow: |x| < ~1e17 */
            v = (vex_rng_double(r) * 2.0 - 1.0) * 1e17;
        x[i] = (float)v;
    }
}

static void fill_bytes(vex_rng *r, uint8_t *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        x[i] = (uint8_t)vex_rng_next(r);
}

/* |got - ref| <= 1e-5 * scale (+ tiny); infinities must agree exactly. */
static int close_f(double got, double ref, double scale)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got))
        return got == ref;
    return fabs(got - ref) <= 1e-5 * scale + 1e-30;
}

static double sum_abs_prod(const float *a, const float *b, size_t n)
{
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += fabs((double)a[i] * (double)b[i]);
    return s;
}

static double sum_sq_diff(const float *a, const float *b, size_t n)
{
    double s = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return s;
}

/* cosine error: dot's relative error plus the norms' */
static double cos_scale(const float *a, const float *b, size_t n)
{
    double na = sum_abs_prod(a, a, n), nb = sum_abs_prod(b, b, n);
    if (na == 0 || nb == 0)
        return 0;
    return sum_abs_prod(a, b, n) / sqrt(na * nb) + 1.0 + 0.1;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int half_is_nan(uint16_t h)
{
    return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
}

/* ---- float32, pairs ---------------------------------------------------- */

static void check_f32_pair(const vex_simd_table *t, const float *a,
                           const float *b, size_t n)
{
    double s_l2 = sum_sq_diff(a, b, n), s_dot = sum_abs_prod(a, b, n);
    double s_na = sum_abs_prod(a, a, n);
    float got, ref;
    got = t->l2sq_f32(a, b, n);
    ref = g_ref->l2sq_f32(a, b, n);
    CHECK_MSG(close_f(got, ref, s_l2), "%s l2sq n=%zu got %.9g ref %.9g",
              t->name, n, got, ref);
    got = t->dot_f32(a, b, n);
    ref = g_ref->dot_f32(a, b, n);
    CHECK_MSG(close_f(got, ref, s_dot), "%s dot n=%zu got %.9g ref %.9g",
              t->name, n, got, ref);
    got = t->norm2_f32(a, n);
    ref = g_ref->norm2_f32(a, n);
    CHECK_MSG(close_f(got, ref, s_na), "%s norm2 n=%zu got %.9g ref %.9g",
              t->name, n, got, ref);
    got = t->cosine_f32(a, b, n);
    ref = g_ref->cosine_f32(a, b, n);
    CHECK_MSG(close_f(got, ref, cos_scale(a, b, n) + 0.1),
              "%s cosine n=%zu got %.9g ref %.9g", t->name, n, got, ref);
}

static void test_f32_pairs(void)
{
    vex_rng r;
    int ti, kind;
    size_t n;
    vex_rng_seed(&r, test_seed(11));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        float z = 0;
        CHECK(t->l2sq_f32(&z, &z, 0) == 0 && t->dot_f32(&z, &z, 0) == 0);
        CHECK(t->norm2_f32(&z, 0) == 0 && t->cosine_f32(&z, &z, 0) == 0);
        for (kind = 0; kind < 3; kind++) {
            for (n = 1; n <= 1100; n++) {
                void *ba, *bb;
                float *a = alloc_at((n % 4) * 4, n * 4, &ba);
                float *b = alloc_at(((n / 4) % 4) * 4, n * 4, &bb);
                fill_f32(&r, a, n, kind);
                fill_f32(&r, b, n, kind);
                check_f32_pair(t, a, b, n);
                free(ba);
                free(bb);
            }
        }
    }
}

static void test_f32_extremes(void)
{
    enum { N = 1100 };
    static float a[N], b[N], zero[N];
    int ti;
    size_t n, i;
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        for (n = 1; n <= N; n += (n < 40 ? 1 : 37)) {
            /* every term overflows or the sum does in any order: +inf */
            for (i = 0; i < n; i++) {
                a[i] = 2e19f; /* square 4e38 > FLT_MAX */
                b[i] = -2e19f;
            }
            CHECK(isinf(t->l2sq_f32(a, b, n)) && t->l2sq_f32(a, b, n) > 0);
            CHECK(isinf(t->dot_f32(a, a, n)) && t->dot_f32(a, a, n) > 0);
            CHECK(isinf(t->dot_f32(a, b, n)) && t->dot_f32(a, b, n) < 0);
            CHECK(isinf(t->norm2_f32(a, n)));
            /* zero vectors: cosine is 0 for two, 1 for one */
            CHECK(t->cosine_f32(zero, zero, n) == 0.0f);
            CHECK(t->cosine_f32(zero, a, n) == 1.0f);
            CHECK(t->cosine_f32(a, zero, n) == 1.0f);
            CHECK(t->l2sq_f32(zero, zero, n) == 0.0f);
            /* parallel and opposite (clamped into [0, 2]) */
            for (i = 0; i < n; i++) {
                a[i] = (float)(i % 7) + 1.0f;
                b[i] = -3.0f * a[i];
            }
            CHECK(fabsf(t->cosine_f32(a, a, n)) <= 1e-6f);
            CHECK(fabsf(t->cosine_f32(a, b, n) - 2.0f) <= 1e-6f);
            CHECK(t->cosine_f32(a, a, n) >= 0.0f);
            CHECK(t->cosine_f32(a, b, n) <= 2.0f);
            /* denormal-range products: only the absolute slack applies */
            for (i = 0; i < n; i++)
                a[i] = b[i] = 1e-23f;
            CHECK(close_f(t->dot_f32(a, b, n), g_ref->dot_f32(a, b, n), 0));
        }
    }
}

/* ---- float32, batch ---------------------------------------------------- */

/* Four scattered vectors (graph search): each against the reference, and
 * bit-identical to the same vector scored by the batch kernel. */
static void test_f32_x4(void)
{
    vex_rng r;
    int ti, l2;
    size_t di;
    vex_rng_seed(&r, test_seed(13));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        for (di = 0; di < N_DIMS; di++) {
            size_t n = k_dims[di], j;
            void *bq, *bx[4];
            float *q = alloc_at(4 * vex_rng_below(&r, 4), n * 4, &bq);
            const float *xp[4];
            float out[4], one;
            for (j = 0; j < 4; j++) {
                float *x = alloc_at(4 * vex_rng_below(&r, 4), n * 4, &bx[j]);
                fill_f32(&r, x, n, (int)(j % 3));
                xp[j] = x;
            }
            if (di % 2) /* repeated pointers are allowed */
                xp[3] = xp[1];
            fill_f32(&r, q, n, 0);
            for (l2 = 0; l2 < 2; l2++) {
                (l2 ? t->l2sq_f32_x4 : t->dot_f32_x4)(q, xp, n, out);
                for (j = 0; j < 4; j++) {
                    float ref = l2 ? g_ref->l2sq_f32(q, xp[j], n)
                                   : g_ref->dot_f32(q, xp[j], n);
                    double sc = l2 ? sum_sq_diff(q, xp[j], n)
                                   : sum_abs_prod(q, xp[j], n);
                    CHECK_MSG(close_f(out[j], ref, sc),
                              "%s %s_x4 n=%zu j=%zu got %.9g ref %.9g", t->name,
                              l2 ? "l2sq" : "dot", n, j, out[j], ref);
                    (l2 ? t->l2sq_f32_batch : t->dot_f32_batch)(q, xp[j], n, 1,
                                                                n, &one);
                    CHECK_MSG(memcmp(&one, &out[j], sizeof one) == 0,
                              "%s %s_x4 n=%zu j=%zu: %.9g but batch %.9g",
                              t->name, l2 ? "l2sq" : "dot", n, j, out[j], one);
                }
            }
            free(bq);
            for (j = 0; j < 4; j++)
                free(bx[j]);
        }
    }
}

/* CRC32C: the standard check value, then every table against the scalar
 * one on all lengths 0..300 from unaligned starts, and chaining. */
static void test_crc32c(void)
{
    static const char check[] = "123456789";
    unsigned char buf[320];
    vex_rng r;
    int ti;
    size_t i, n, off;
    vex_rng_seed(&r, test_seed(14));
    for (i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)vex_rng_next(&r);
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        CHECK_MSG((~t->crc32c_update(~0u, check, 9)) == 0xE3069283u,
                  "%s crc32c check value", t->name);
        CHECK((~t->crc32c_update(~0u, buf, 0)) == 0);
        for (n = 0; n <= 300; n++) {
            off = n % 13;
            uint32_t want = g_ref->crc32c_update(~0u, buf + off, n);
            uint32_t got = t->crc32c_update(~0u, buf + off, n);
            uint32_t split =
                t->crc32c_update(t->crc32c_update(~0u, buf + off, n / 3),
                                 buf + off + n / 3, n - n / 3);
            CHECK_MSG(got == want && split == want, "%s crc32c n=%zu", t->name,
                      n);
        }
    }
}

static void test_f32_batch(void)
{
    vex_rng r;
    int ti, l2;
    size_t di, ci;
    static const size_t counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 37};
    vex_rng_seed(&r, test_seed(12));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        for (di = 0; di < N_DIMS; di++) {
            size_t n = k_dims[di];
            for (ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
                size_t count = counts[ci], j;
                size_t stride = n + vex_rng_below(&r, 6) * (ci & 1);
                size_t total = (count - 1) * stride + n;
                void *bq, *bx;
                float *q = alloc_at(4 * vex_rng_below(&r, 4), n * 4, &bq);
                float *x = alloc_at(4 * vex_rng_below(&r, 4), total * 4, &bx);
                float out[40];
                fill_f32(&r, q, n, (int)(ci % 3));
                fill_f32(&r, x, total, (int)(ci % 3));
                for (l2 = 0; l2 < 2; l2++) {
                    for (j = 0; j < 40; j++)
                        out[j] = -12345.0f;
                    if (l2)
                        t->l2sq_f32_batch(q, x, stride, count, n, out);
                    else
                        t->dot_f32_batch(q, x, stride, count, n, out);
                    for (j = 0; j < count; j++) {
                        const float *xj = x + j * stride;
                        float ref = l2 ? g_ref->l2sq_f32(q, xj, n)
                                       : g_ref->dot_f32(q, xj, n);
                        double sc =
                            l2 ? sum_sq_diff(q, xj, n) : sum_abs_prod(q, xj, n);
                        CHECK_MSG(close_f(out[j], ref, sc),
                                  "%s %s_batch n=%zu count=%zu j=%zu got %.9g "
                                  "ref %.9g",
                                  t->name, l2 ? "l2sq" : "dot", n, count, j,
                                  out[j], ref);
                    }
                    for (; j < 40; j++)
                        CHECK(out[j] == -12345.0f);
                    /* each vector scored alone gives the same bits */
                    for (j = 0; j < count; j++) {
                        float one;
                        if (l2)
                            t->l2sq_f32_batch(q, x + j * stride, stride, 1, n,
                                              &one);
                        else
                            t->dot_f32_batch(q, x + j * stride, stride, 1, n,
                                             &one);
                        CHECK_MSG(memcmp(&one, &out[j], sizeof one) == 0,
                                  "%s %s_batch n=%zu count=%zu j=%zu depends "
                                  "on position: %.9g alone vs %.9g",
                                  t->name, l2 ? "l2sq" : "dot", n, count, j,
                                  one, out[j]);
                    }
                }
                free(bq);
                free(bx);
            }
        }
    }
}

/* ---- float32, packed --------------------------------------------------- */

#define CANARY 0x7fbadbadu /* a NaN no kernel produces */

static void test_f32_packed(void)
{
    vex_rng r;
    int ti, trial;
    size_t di;
    vex_rng_seed(&r, test_seed(13));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        for (di = 0; di < N_DIMS; di++) {
            size_t n = k_dims[di];
            for (trial = 0; trial < 4; trial++) {
                size_t nq = 1 + vex_rng_below(&r, 13);
                size_t count = 1 + vex_rng_below(&r, 50);
                size_t xs = n + vex_rng_below(&r, 4);
                size_t qs = n + vex_rng_below(&r, 4);
                size_t os = count + vex_rng_below(&r, 6);
                size_t psz = vex_simd_pack_size(t->panel, count, n);
                size_t osz = nq * os + 8, i, j;
                void *bx, *bq, *bp, *bg, *bo;
                float *x =
                    alloc_at(4 * (trial & 3), ((count - 1) * xs + n) * 4, &bx);
                float *q = alloc_at(4 * ((trial + 1) & 3),
                                    ((nq - 1) * qs + n) * 4, &bq);
                float *pk = alloc_at(0, psz * 4, &bp);
                float *pg = alloc_at(0, psz * 4, &bg);
                float *out = alloc_at(0, osz * 4, &bo);
                fill_f32(&r, x, (count - 1) * xs + n, trial % 2);
                fill_f32(&r, q, (nq - 1) * qs + n, trial % 2);
                for (i = 0; i < psz; i++)
                    pk[i] = u2f(CANARY);
                t->pack_f32(x, xs, count, n, pk);
                vx_pack_f32_generic(t->panel, x, xs, count, n, pg);
                CHECK_MSG(memcmp(pk, pg, psz * 4) == 0,
                          "%s pack n=%zu count=%zu", t->name, n, count);
                for (i = 0; i < osz; i++)
                    out[i] = u2f(CANARY);
                t->dots_f32_packed(q, qs, nq, pk, count, n, out, os);
                for (i = 0; i < nq; i++) {
                    for (j = 0; j < os; j++) {
                        float got = out[i * os + j];
                        if (j < count) {
                            const float *qi = q + i * qs, *xj = x + j * xs;
                            float ref = g_ref->dot_f32(qi, xj, n);
                            CHECK_MSG(
                                close_f(got, ref, sum_abs_prod(qi, xj, n)),
                                "%s packed n=%zu nq=%zu count=%zu i=%zu "
                                "j=%zu got %.9g ref %.9g",
                                t->name, n, nq, count, i, j, got, ref);
                        } else {
                            CHECK_MSG(f2u(got) == CANARY,
                                      "%s packed wrote past count: n=%zu "
                                      "count=%zu i=%zu j=%zu",
                                      t->name, n, count, i, j);
                        }
                    }
                }
                for (i = nq * os; i < osz; i++)
                    CHECK(f2u(out[i]) == CANARY);
                free(bx);
                free(bq);
                free(bp);
                free(bg);
                free(bo);
            }
        }
    }
}

/* ---- 8-bit integers ------------------------------------------------------ */

static void check_bytes(const vex_simd_table *t, const uint8_t *a,
                        const uint8_t *b, size_t n)
{
    const int8_t *sa = (const int8_t *)a, *sb = (const int8_t *)b;
    uint32_t gu, ru;
    int32_t gi, ri;
    gu = t->l2sq_u8(a, b, n);
    ru = g_ref->l2sq_u8(a, b, n);
    CHECK_MSG(gu == ru, "%s l2sq_u8 n=%zu %u vs %u", t->name, n, gu, ru);
    gu = t->dot_u8(a, b, n);
    ru = g_ref->dot_u8(a, b, n);
    CHECK_MSG(gu == ru, "%s dot_u8 n=%zu %u vs %u", t->name, n, gu, ru);
    gu = t->l2sq_i8(sa, sb, n);
    ru = g_ref->l2sq_i8(sa, sb, n);
    CHECK_MSG(gu == ru, "%s l2sq_i8 n=%zu %u vs %u", t->name, n, gu, ru);
    gi = t->dot_i8(sa, sb, n);
    ri = g_ref->dot_i8(sa, sb, n);
    CHECK_MSG(gi == ri, "%s dot_i8 n=%zu %d vs %d", t->name, n, gi, ri);
}

static void test_int8(void)
{
    enum { BIG = 65536 };
    vex_rng r;
    int ti, k;
    size_t n, i;
    static uint8_t a[BIG], b[BIG];
    static const uint8_t pat[][2] = {{255, 255},   {255, 0},     {0, 255},
                                     {0x80, 0x7f}, {0x80, 0x80}, {0x7f, 0x7f},
                                     {0x7f, 0x80}, {0, 0}};
    vex_rng_seed(&r, test_seed(14));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        check_bytes(t, a, b, 0);
        for (n = 1; n <= 1100; n++) {
            void *ba, *bb;
            uint8_t *x = alloc_at(n % 64, n, &ba);
            uint8_t *y = alloc_at((n * 13 + 7) % 64, n, &bb);
            fill_bytes(&r, x, n);
            fill_bytes(&r, y, n);
            check_bytes(t, x, y, n);
            free(ba);
            free(bb);
        }
        /* overflow limits at the largest dimension (and one less) */
        for (k = 0; k < (int)(sizeof pat / sizeof pat[0]); k++) {
            memset(a, pat[k][0], BIG);
            memset(b, pat[k][1], BIG);
            check_bytes(t, a, b, BIG);
            check_bytes(t, a, b, BIG - 1);
        }
        /* known values: u8 255 vs 0, i8 -128 vs 127, i8 -128 vs -128 */
        memset(a, 255, BIG);
        memset(b, 0, BIG);
        CHECK(t->l2sq_u8(a, b, BIG) == 4261478400u);
        CHECK(t->dot_u8(a, a, BIG) == 4261478400u);
        memset(a, 0x80, BIG);
        memset(b, 0x7f, BIG);
        CHECK(t->l2sq_i8((int8_t *)a, (int8_t *)b, BIG) == 4261478400u);
        CHECK(t->dot_i8((int8_t *)a, (int8_t *)b, BIG) == -1065353216);
        CHECK(t->dot_i8((int8_t *)a, (int8_t *)a, BIG) == 1073741824);
        for (i = 0; i < BIG; i++) {
            a[i] = (uint8_t)vex_rng_next(&r);
            b[i] = (uint8_t)vex_rng_next(&r);
        }
        check_bytes(t, a, b, BIG);
    }
}

/* ---- bits -------------------------------------------------------------- */

static void test_bits(void)
{
    vex_rng r;
    int ti;
    size_t n, i, ci;
    static const size_t counts[] = {1, 2, 3, 5, 17};
    vex_rng_seed(&r, test_seed(15));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        uint8_t z[64] = {0};
        CHECK(t->hamming(z, z, 0) == 0 && t->jaccard(z, z, 0) == 0.0f);
        for (n = 1; n <= 1100; n++) {
            void *ba, *bb;
            uint8_t *x = alloc_at(n % 64, n, &ba);
            uint8_t *y = alloc_at((n * 13 + 7) % 64, n, &bb);
            uint64_t gh, rh;
            float gj, rj;
            fill_bytes(&r, x, n);
            fill_bytes(&r, y, n);
            if (n % 3 == 0) /* sparse bits too */
                for (i = 0; i < n; i++)
                    x[i] &= y[i] & (uint8_t)vex_rng_next(&r);
            gh = t->hamming(x, y, n);
            rh = g_ref->hamming(x, y, n);
            CHECK_MSG(gh == rh, "%s hamming n=%zu", t->name, n);
            gj = t->jaccard(x, y, n);
            rj = g_ref->jaccard(x, y, n);
            CHECK_MSG(gj == rj, "%s jaccard n=%zu %.9g vs %.9g", t->name, n, gj,
                      rj);
            memset(x, 0, n);
            memset(y, 0, n);
            CHECK(t->jaccard(x, y, n) == 0.0f && t->hamming(x, y, n) == 0);
            memset(x, 0xff, n);
            CHECK(t->jaccard(x, y, n) == 1.0f && t->hamming(x, y, n) == 8 * n);
            free(ba);
            free(bb);
        }
        /* batch */
        for (n = 1; n <= 300; n += (n < 70 ? 1 : 23)) {
            for (ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
                size_t count = counts[ci], stride = n + (ci & 1) * (n % 5);
                size_t total = (count - 1) * stride + n, j;
                void *bq, *bx;
                uint8_t *q = alloc_at(n % 61, n, &bq);
                uint8_t *x = alloc_at((n + ci) % 64, total, &bx);
                uint32_t out[20];
                fill_bytes(&r, q, n);
                fill_bytes(&r, x, total);
                for (j = 0; j < 20; j++)
                    out[j] = 0xdeadbeefu;
                t->hamming_batch(q, x, stride, count, n, out);
                for (j = 0; j < count; j++)
                    CHECK_MSG(out[j] == (uint32_t)g_ref->hamming(
                                            q, x + j * stride, n),
                              "%s hamming_batch n=%zu count=%zu j=%zu", t->name,
                              n, count, j);
                for (; j < 20; j++)
                    CHECK(out[j] == 0xdeadbeefu);
                free(bq);
                free(bx);
            }
        }
    }
}

/* ---- 4-bit PQ fast scan ------------------------------------------------- */

/* Every m from 1 to 40 and the limits 255/256, 0..3 blocks, inputs
 * unaligned at the end of exact-size blocks, output canaries; then
 * all-0xff tables at m = VEX_PQ4_MAX_M (the largest sum, 65280). The
 * expected value is recomputed here from the layout in simd.h, so the
 * scalar table is checked too, not just compared with itself. */
static void test_pq4_scan(void)
{
    vex_rng r;
    int ti;
    size_t m, nb, i, b, v, j;
    vex_rng_seed(&r, test_seed(16));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        for (m = 1; m <= 256; m += (m < 40 ? 1 : m < 255 ? 215 : 1)) {
            for (nb = 0; nb <= 3; nb++) {
                void *bc, *bl;
                size_t ncode = nb * m * 16;
                uint8_t *codes = alloc_at((m * 7 + nb) % 64, ncode, &bc);
                uint8_t *lut = alloc_at((m * 3 + 1) % 64, m * 16, &bl);
                uint16_t out[3 * 32 + 8];
                fill_bytes(&r, codes, ncode);
                fill_bytes(&r, lut, m * 16);
                if (m == 256 && nb == 1)
                    memset(lut, 0xff, m * 16);
                for (i = 0; i < sizeof out / sizeof out[0]; i++)
                    out[i] = 0xbeef;
                t->pq4_scan(codes, nb, lut, m, out);
                for (b = 0; b < nb; b++) {
                    for (v = 0; v < 32; v++) {
                        uint32_t want = 0;
                        for (j = 0; j < m; j++) {
                            uint8_t byte = codes[b * m * 16 + j * 16 + v % 16];
                            want +=
                                lut[j * 16 + (v < 16 ? byte & 15 : byte >> 4)];
                        }
                        CHECK_MSG(out[b * 32 + v] == want,
                                  "%s pq4_scan m=%zu nb=%zu b=%zu v=%zu: %u "
                                  "vs %u",
                                  t->name, m, nb, b, v, out[b * 32 + v], want);
                    }
                }
                for (i = nb * 32; i < sizeof out / sizeof out[0]; i++)
                    CHECK(out[i] == 0xbeef);
                if (m == 256 && nb == 1)
                    CHECK(out[0] == 65280 && out[31] == 65280);
                free(bc);
                free(bl);
            }
        }
    }
}

/* ---- float16 ------------------------------------------------------------- */

/* SQ8 asymmetric kernels against the scalar reference: every n up to 300
 * (tails of every width), unaligned tables and codes, codes over the whole
 * byte range; float sums in another order agree within a few ulps of the
 * sum of the absolute terms. */
static void test_sq8_asym(void)
{
    vex_rng r;
    int ti;
    size_t n, i;
    vex_rng_seed(&r, test_seed(21));
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        CHECK(t->sq8_l2 != NULL && t->sq8_dot != NULL);
        for (n = 0; n <= 300; n++) {
            void *b0, *b1, *bc;
            float *t0 = alloc_at(4 * (n % 5), n * 4, &b0);
            float *t1 = alloc_at(4 * ((n + 2) % 7), n * 4, &b1);
            uint8_t *c = alloc_at((n * 13 + 3) % 64, n, &bc);
            double abs_l2 = 0, abs_dot = 0;
            float gl, rl, gd, rd;
            for (i = 0; i < n; i++) {
                double e;
                t0[i] = (float)(vex_rng_double(&r) * 8.0 - 4.0);
                t1[i] = (float)(vex_rng_double(&r) * 0.05);
                c[i] = (uint8_t)vex_rng_next(&r);
                e = (double)t0[i] - (double)t1[i] * c[i];
                abs_l2 += e * e;
                abs_dot += fabs((double)t0[i] * c[i]);
            }
            gl = t->sq8_l2(t0, t1, c, n);
            rl = g_ref->sq8_l2(t0, t1, c, n);
            gd = t->sq8_dot(t0, c, n);
            rd = g_ref->sq8_dot(t0, c, n);
            CHECK_MSG(fabs((double)gl - rl) <= 1e-5 * abs_l2 + 1e-6,
                      "%s sq8_l2 n=%zu %g vs %g", t->name, n, (double)gl,
                      (double)rl);
            CHECK_MSG(fabs((double)gd - rd) <= 1e-5 * abs_dot + 1e-6,
                      "%s sq8_dot n=%zu %g vs %g", t->name, n, (double)gd,
                      (double)rd);
            if (n == 0)
                CHECK(gl == 0.0f && gd == 0.0f);
            free(b0);
            free(b1);
            free(bc);
        }
    }
}

static void test_f16_to_f32(void)
{
    enum { N = 65536 };
    static uint16_t h[N + 8];
    static float got[N + 8], ref[N + 8];
    int ti;
    size_t i, off, n;
    for (i = 0; i < N; i++)
        h[i] = (uint16_t)i;
    g_ref->f16_to_f32(h, ref, N);
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        size_t bad = 0;
        t->f16_to_f32(h, got, N);
        for (i = 0; i < N; i++) {
            int ok = isnan(ref[i]) ? isnan(got[i]) && (f2u(got[i]) >> 31) ==
                                                          (f2u(ref[i]) >> 31)
                                   : f2u(got[i]) == f2u(ref[i]);
            if (!ok && bad++ < 5)
                CHECK_MSG(0, "%s f16_to_f32 %04zx: %08x vs %08x", t->name, i,
                          f2u(got[i]), f2u(ref[i]));
        }
        CHECK_EQ_INT(bad, 0);
        /* tails and unaligned starts: exact-sized blocks, canary after */
        for (off = 0; off < 4; off++) {
            for (n = 0; n <= 40; n++) {
                void *bs;
                uint16_t *src = alloc_at(2 * off, 2 * n, &bs);
                float dst[48];
                memcpy(src, h + 0x3c00 + 3 * n + off, 2 * n);
                for (i = 0; i < 48; i++)
                    dst[i] = -7.0f;
                t->f16_to_f32(src, dst + off, n);
                for (i = 0; i < 48; i++) {
                    if (i < off || i >= off + n)
                        CHECK(dst[i] == -7.0f);
                    else
                        CHECK(f2u(dst[i]) ==
                              f2u(vx_f16_to_f32_one(src[i - off])));
                }
                free(bs);
            }
        }
    }
}

static void check_f32_to_f16(const vex_simd_table *t, const float *src,
                             size_t n, size_t *bad)
{
    uint16_t got[256], ref[256];
    size_t i;
    t->f32_to_f16(src, got, n);
    g_ref->f32_to_f16(src, ref, n);
    for (i = 0; i < n; i++) {
        int ok = half_is_nan(ref[i])
                     ? half_is_nan(got[i]) && (got[i] >> 15) == (ref[i] >> 15)
                     : got[i] == ref[i];
        if (!ok && (*bad)++ < 5)
            CHECK_MSG(0, "%s f32_to_f16 %08x: %04x vs %04x", t->name,
                      f2u(src[i]), got[i], ref[i]);
    }
}

static void test_f32_to_f16(void)
{
    float buf[256];
    int ti;
    size_t k, fill, bad;
    uint32_t h, u;
    vex_rng r;
    for (ti = 0; ti < g_n_tabs; ti++) {
        const vex_simd_table *t = g_tabs[ti];
        bad = 0;
        fill = 0;
        /* around every half value: exact, ties below and above, +-1 ulp */
        for (h = 0; h < 0x10000u; h++) {
            uint32_t x = f2u(vx_f16_to_f32_one((uint16_t)h));
            uint32_t nx = f2u(vx_f16_to_f32_one((uint16_t)(h + 1)));
            uint32_t mid;
            if ((h >> 10) & 0x1fu) /* normal (or inf/NaN): half an ulp up */
                mid = x + 0x1000u;
            else /* subnormal: the exact midpoint is a normal float */
                mid = f2u((float)(((double)u2f(x) + (double)u2f(nx)) / 2));
            buf[fill++] = u2f(x);
            buf[fill++] = u2f(mid);
            buf[fill++] = u2f(mid - 1);
            buf[fill++] = u2f(mid + 1);
            if (fill + 4 > 256) {
                check_f32_to_f16(t, buf, fill, &bad);
                fill = 0;
            }
        }
        /* a sweep of all float bit patterns, and odd tail lengths */
        for (u = 0, k = 0; k < 1048576; k++, u += 4093u) {
            buf[fill++] = u2f(u);
            if (fill == 256 || k % 1000 == 999) {
                check_f32_to_f16(t, buf, fill, &bad);
                fill = 0;
            }
        }
        /* specials: overflow edge, tiny subnormal rounding, NaN payloads */
        {
            static const uint32_t sp[] = {
                0x477fe000u, 0x477fefffu, 0x477ff000u, 0x477fffffu, 0x47800000u,
                0x7f7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                0xffbfffffu, 0x7fffffffu, 0x33000000u, 0x33000001u, 0x32ffffffu,
                0x33800000u, 0x33c00000u, 0x00000001u, 0x80000001u, 0x007fffffu,
                0x38800000u, 0x387fc000u, 0x387fe000u, 0x80000000u};
            for (k = 0; k < sizeof sp / sizeof sp[0]; k++)
                buf[k] = u2f(sp[k]);
            check_f32_to_f16(t, buf, k, &bad);
        }
        vex_rng_seed(&r, test_seed(16));
        for (k = 0; k < 2000; k++) {
            size_t n = 1 + vex_rng_below(&r, 200), i;
            for (i = 0; i < n; i++)
                buf[i] = u2f((uint32_t)vex_rng_next(&r));
            check_f32_to_f16(t, buf, n, &bad);
        }
        CHECK_EQ_INT(bad, 0);
    }
}

/* ---- dispatch ------------------------------------------------------------ */

static const char *best_name(void)
{
    if (vx_simd_table_avx512())
        return "avx512";
    if (vx_simd_table_avx2())
        return "avx2";
    if (vx_simd_table_neon())
        return "neon";
    return "scalar";
}

/* Must run first: the choice made from VEX_SIMD on first use. */
static void test_dispatch_env(void)
{
    const char *env = getenv("VEX_SIMD");
    const char *want = best_name();
    if (env && strcmp(env, "auto") != 0 && vex_simd_supported(env))
        want = env;
    CHECK_MSG(strcmp(vex_simd_name(), want) == 0, "VEX_SIMD=%s: got %s want %s",
              env ? env : "(unset)", vex_simd_name(), want);
    fprintf(stderr, "     VEX_SIMD=%s -> %s\n", env ? env : "(unset)",
            vex_simd_name());
}

static void test_dispatch_force(void)
{
    static const char *names[] = {"scalar", "avx2", "avx512", "neon"};
    size_t i;
    CHECK(vx_simd() != NULL);
    CHECK_RC(vex_simd_force("scalar"), VEX_OK);
    CHECK(strcmp(vex_simd_name(), "scalar") == 0);
    CHECK(vx_simd() == vx_simd_table_scalar());
    CHECK_RC(vex_simd_force("bogus"), VEX_INVALID);
    CHECK_RC(vex_simd_force(""), VEX_INVALID);
    CHECK_RC(vex_simd_force("AVX2"), VEX_INVALID);
    CHECK(strcmp(vex_simd_name(), "scalar") == 0);
    for (i = 0; i < 4; i++) {
        const vex_simd_table *t = vx_simd_table_by_name(names[i]);
        CHECK_EQ_INT(vex_simd_supported(names[i]), t != NULL);
        if (t) {
            CHECK_RC(vex_simd_force(names[i]), VEX_OK);
            CHECK(strcmp(vex_simd_name(), names[i]) == 0);
            CHECK(strcmp(t->name, names[i]) == 0);
        } else {
            CHECK_RC(vex_simd_force("scalar"), VEX_OK);
            CHECK_RC(vex_simd_force(names[i]), VEX_UNSUPPORTED);
            CHECK(strcmp(vex_simd_name(), "scalar") == 0);
        }
    }
    CHECK(!vex_simd_supported("bogus") && !vex_simd_supported(NULL));
    CHECK(vx_simd_table_by_name(NULL) == NULL);
    CHECK_RC(vex_simd_force(NULL), VEX_OK);
    CHECK(strcmp(vex_simd_name(), best_name()) == 0);
    CHECK_RC(vex_simd_force("scalar"), VEX_OK);
    CHECK_RC(vex_simd_force("auto"), VEX_OK);
    CHECK(strcmp(vex_simd_name(), best_name()) == 0);
}

int main(int argc, char **argv)
{
    const vex_simd_table *all[3];
    int i;
    TEST_RUN(test_dispatch_env);
    TEST_RUN(test_dispatch_force);
    if (argc > 1 && strcmp(argv[1], "--dispatch") == 0)
        return TEST_EXIT();

    g_ref = vx_simd_table_scalar();
    all[0] = vx_simd_table_avx2();
    all[1] = vx_simd_table_avx512();
    all[2] = vx_simd_table_neon();
    for (i = 0; i < 3; i++)
        if (all[i])
            g_tabs[g_n_tabs++] = all[i];
    g_tabs[g_n_tabs++] = g_ref; /* the reference against itself: sanity */
    fprintf(stderr, "     tables under test:");
    for (i = 0; i < g_n_tabs; i++)
        fprintf(stderr, " %s", g_tabs[i]->name);
    fputc('\n', stderr);

    TEST_RUN(test_f32_pairs);
    TEST_RUN(test_f32_extremes);
    TEST_RUN(test_f32_batch);
    TEST_RUN(test_f32_x4);
    TEST_RUN(test_sq8_asym);
    TEST_RUN(test_crc32c);
    TEST_RUN(test_f32_packed);
    TEST_RUN(test_int8);
    TEST_RUN(test_bits);
    TEST_RUN(test_pq4_scan);
    TEST_RUN(test_f16_to_f32);
    TEST_RUN(test_f32_to_f16);
    return TEST_EXIT();
}
