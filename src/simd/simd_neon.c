/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simd_neon.c - NEON kernels for aarch64 (Advanced SIMD is part of the
 * base ISA there, so no run-time check is needed).
 *
 * Modest on purpose: the f32 pair and batch kernels, the 8-bit kernels and
 * hamming are NEON; packing, the packed multi-query kernel, jaccard,
 * hamming_batch and float16 conversions forward to the scalar table (they
 * are correct everywhere, and the scalar packed kernel auto-vectorises).
 * Built only on aarch64 (CMake), and guarded here as well. It cannot be
 * run on the x86 development machines; test_simd checks it against the
 * scalar reference on any aarch64 build.
 */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "simd/simd.h"
#include "simd/simd_impl.h"

/* Must equal the scalar table's panel, since packing forwards to it
 * (test_simd compares pack_f32 with vx_pack_f32_generic(t->panel)). */
#define NEON_PANEL 8

/* ---- float32 ------------------------------------------------------------ */

/* Four accumulators hide the FMA latency (4 cycles, 2 pipes). */
static float neon_l2sq_f32(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    float s;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        float32x4_t d3 =
            vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
        s2 = vfmaq_f32(s2, d2, d2);
        s3 = vfmaq_f32(s3, d3, d3);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        s0 = vfmaq_f32(s0, d, d);
    }
    s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

static float neon_dot_f32(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    float s;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* One pass, three sums, loads shared. */
static float neon_cosine_f32(const float *a, const float *b, size_t n)
{
    float32x4_t d = vdupq_n_f32(0), na = d, nb = d;
    float sd, sa, sb;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(a + i), y = vld1q_f32(b + i);
        d = vfmaq_f32(d, x, y);
        na = vfmaq_f32(na, x, x);
        nb = vfmaq_f32(nb, y, y);
    }
    sd = vaddvq_f32(d);
    sa = vaddvq_f32(na);
    sb = vaddvq_f32(nb);
    for (; i < n; i++) {
        sd += a[i] * b[i];
        sa += a[i] * a[i];
        sb += b[i] * b[i];
    }
    return vx_cosine_from_parts(sd, sa, sb);
}

static float neon_norm2_f32(const float *a, size_t n)
{
    return neon_dot_f32(a, a, n);
}

/* Pairwise kernel per vector with a prefetch a few vectors ahead (clamped
 * to the last vector). */
static void neon_l2sq_f32_batch(const float *q, const float *base,
                                size_t stride, size_t count, size_t n,
                                float *out)
{
    size_t j;
    for (j = 0; j < count; j++) {
        size_t jp = j + 4 < count ? j + 4 : count - 1;
        __builtin_prefetch(base + jp * stride);
        out[j] = neon_l2sq_f32(q, base + j * stride, n);
    }
}

static void neon_dot_f32_batch(const float *q, const float *base, size_t stride,
                               size_t count, size_t n, float *out)
{
    size_t j;
    for (j = 0; j < count; j++) {
        size_t jp = j + 4 < count ? j + 4 : count - 1;
        __builtin_prefetch(base + jp * stride);
        out[j] = neon_dot_f32(q, base + j * stride, n);
    }
}

static void neon_pack_f32(const float *x, size_t stride, size_t count, size_t n,
                          float *packed)
{
    vx_simd_table_scalar()->pack_f32(x, stride, count, n, packed);
}

static void neon_dots_f32_packed(const float *q, size_t q_stride, size_t nq,
                                 const float *packed, size_t count, size_t n,
                                 float *out, size_t out_stride)
{
    vx_simd_table_scalar()->dots_f32_packed(q, q_stride, nq, packed, count, n,
                                            out, out_stride);
}

/* ---- 8-bit integers -------------------------------------------------------
 */

/* |a - b| (vabd) then a widening multiply to u16 and a pairwise
 * accumulate into u32 lanes: exact, lanes stay < 2^31 for n <= 65536. */
static uint32_t neon_l2sq_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32x4_t s0 = vdupq_n_u32(0), s1 = s0;
    uint32_t s;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8x16_t d = vabdq_u8(vld1q_u8(a + i), vld1q_u8(b + i));
        s0 = vpadalq_u16(s0, vmull_u8(vget_low_u8(d), vget_low_u8(d)));
        s1 = vpadalq_u16(s1, vmull_high_u8(d, d));
    }
    s = vaddvq_u32(vaddq_u32(s0, s1));
    for (; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        s += (uint32_t)(d * d);
    }
    return s;
}

static uint32_t neon_dot_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32x4_t s0 = vdupq_n_u32(0), s1 = s0;
    uint32_t s;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8x16_t x = vld1q_u8(a + i), y = vld1q_u8(b + i);
        s0 = vpadalq_u16(s0, vmull_u8(vget_low_u8(x), vget_low_u8(y)));
        s1 = vpadalq_u16(s1, vmull_high_u8(x, y));
    }
    s = vaddvq_u32(vaddq_u32(s0, s1));
    for (; i < n; i++)
        s += (uint32_t)a[i] * (uint32_t)b[i];
    return s;
}

/* vabd of int8 is |a - b| in 0..255, read as uint8. */
static uint32_t neon_l2sq_i8(const int8_t *a, const int8_t *b, size_t n)
{
    uint32x4_t s0 = vdupq_n_u32(0), s1 = s0;
    uint32_t s;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8x16_t d =
            vreinterpretq_u8_s8(vabdq_s8(vld1q_s8(a + i), vld1q_s8(b + i)));
        s0 = vpadalq_u16(s0, vmull_u8(vget_low_u8(d), vget_low_u8(d)));
        s1 = vpadalq_u16(s1, vmull_high_u8(d, d));
    }
    s = vaddvq_u32(vaddq_u32(s0, s1));
    for (; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        s += (uint32_t)(d * d);
    }
    return s;
}

/* Widening multiply to s16 ((-128)^2 fits) and pairwise accumulate. */
static int32_t neon_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0;
    int32_t s;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        int8x16_t x = vld1q_s8(a + i), y = vld1q_s8(b + i);
        s0 = vpadalq_s16(s0, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
        s1 = vpadalq_s16(s1, vmull_high_s8(x, y));
    }
    s = vaddvq_s32(vaddq_s32(s0, s1));
    for (; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

/* ---- bits ------------------------------------------------------------- */

/* vcnt per byte, pairwise-accumulated into u16 lanes (flushed to u64
 * before they can overflow), so the inner loop is three instructions. */
static uint64_t neon_hamming(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64x2_t s64 = vdupq_n_u64(0);
    uint64_t s;
    size_t i = 0;
    while (i + 16 <= n) {
        uint16x8_t s16 = vdupq_n_u16(0);
        size_t k;
        /* each u16 lane gains at most 16 per step: 4096 steps fit */
        for (k = 0; k < 4096 && i + 16 <= n; k++, i += 16)
            s16 = vpadalq_u8(
                s16, vcntq_u8(veorq_u8(vld1q_u8(a + i), vld1q_u8(b + i))));
        s64 = vpadalq_u32(s64, vpaddlq_u16(s16));
    }
    s = vaddvq_u64(s64);
    for (; i < n; i++) {
        unsigned x = (unsigned)(a[i] ^ b[i]);
        s += (uint64_t)__builtin_popcount(x);
    }
    return s;
}

static float neon_jaccard(const uint8_t *a, const uint8_t *b, size_t n)
{
    return vx_simd_table_scalar()->jaccard(a, b, n);
}

static void neon_hamming_batch(const uint8_t *q, const uint8_t *base,
                               size_t stride, size_t count, size_t n,
                               uint32_t *out)
{
    size_t j;
    for (j = 0; j < count; j++)
        out[j] = (uint32_t)neon_hamming(q, base + j * stride, n);
}

static void neon_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    vx_simd_table_scalar()->f16_to_f32(src, dst, n);
}

static void neon_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
    vx_simd_table_scalar()->f32_to_f16(src, dst, n);
}

/* Four vectors one after another: not the tuned path on NEON. */
static void neon_l2sq_f32_x4(const float *q, const float *const *x, size_t n,
                             float *out)
{
    size_t j;
    for (j = 0; j < 4; j++)
        out[j] = neon_l2sq_f32(q, x[j], n);
}

static void neon_dot_f32_x4(const float *q, const float *const *x, size_t n,
                            float *out)
{
    size_t j;
    for (j = 0; j < 4; j++)
        out[j] = neon_dot_f32(q, x[j], n);
}

const vex_simd_table vex_simd_neon_table = {
    "neon",
    neon_l2sq_f32,
    neon_dot_f32,
    neon_cosine_f32,
    neon_norm2_f32,
    neon_l2sq_f32_batch,
    neon_dot_f32_batch,
    NEON_PANEL,
    neon_pack_f32,
    neon_dots_f32_packed,
    neon_l2sq_u8,
    neon_dot_u8,
    neon_l2sq_i8,
    neon_dot_i8,
    neon_hamming,
    neon_jaccard,
    neon_hamming_batch,
    neon_f16_to_f32,
    neon_f32_to_f16,
    neon_l2sq_f32_x4,
    neon_dot_f32_x4,
    vx_crc32c_update_scalar,
    vx_pq4_scan_scalar, /* no NEON version yet (tbl would do it) */
    vx_sq8_l2_scalar,   /* no NEON versions yet (vmovl + vcvtq would) */
    vx_sq8_dot_scalar,
};

#endif /* __aarch64__ */
