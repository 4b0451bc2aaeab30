/*
 * simd_scalar.c - portable reference versions of every distance kernel.
 *
 * These define what each kernel computes; the ISA-specific versions are
 * tested against them. They are written for clarity first, but the float
 * loops keep four independent accumulators so that the compiler can
 * vectorise them and they remain usable on machines without a faster set.
 */
#include <math.h>
#include <string.h>

#include "simd/simd.h"
#include "simd/simd_impl.h"

static float scalar_l2sq_f32(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
        float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

static float scalar_dot_f32(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float scalar_norm2_f32(const float *a, size_t n)
{
    return scalar_dot_f32(a, a, n);
}

float vex_cosine_from_parts(float dot, float na2, float nb2)
{
    double denom;
    float c;
    if (na2 == 0.0f && nb2 == 0.0f)
        return 0.0f;
    if (na2 == 0.0f || nb2 == 0.0f)
        return 1.0f;
    denom = sqrt((double)na2) * sqrt((double)nb2);
    c = (float)((double)dot / denom);
    if (c > 1.0f)
        c = 1.0f;
    else if (c < -1.0f)
        c = -1.0f;
    return 1.0f - c;
}

static float scalar_cosine_f32(const float *a, const float *b, size_t n)
{
    float dot = 0, na = 0, nb = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    return vex_cosine_from_parts(dot, na, nb);
}

static void scalar_l2sq_f32_batch(const float *q, const float *base,
                                  size_t stride, size_t count, size_t n,
                                  float *out)
{
    size_t j;
    for (j = 0; j < count; j++)
        out[j] = scalar_l2sq_f32(q, base + j * stride, n);
}

static void scalar_dot_f32_batch(const float *q, const float *base,
                                 size_t stride, size_t count, size_t n,
                                 float *out)
{
    size_t j;
    for (j = 0; j < count; j++)
        out[j] = scalar_dot_f32(q, base + j * stride, n);
}

#define SCALAR_PANEL 8

void vex_pack_f32_generic(size_t panel, const float *x, size_t stride,
                          size_t count, size_t n, float *packed)
{
    size_t p, d, l, n_panels = (count + panel - 1) / panel;
    for (p = 0; p < n_panels; p++) {
        float *dst = packed + p * n * panel;
        for (d = 0; d < n; d++) {
            for (l = 0; l < panel; l++) {
                size_t j = p * panel + l;
                dst[d * panel + l] = j < count ? x[j * stride + d] : 0.0f;
            }
        }
    }
}

static void scalar_pack_f32(const float *x, size_t stride, size_t count,
                            size_t n, float *packed)
{
    vex_pack_f32_generic(SCALAR_PANEL, x, stride, count, n, packed);
}

static void scalar_dots_f32_packed(const float *q, size_t q_stride, size_t nq,
                                   const float *packed, size_t count, size_t n,
                                   float *out, size_t out_stride)
{
    size_t i, p, d, l, n_panels = (count + SCALAR_PANEL - 1) / SCALAR_PANEL;
    for (i = 0; i < nq; i++) {
        const float *qi = q + i * q_stride;
        for (p = 0; p < n_panels; p++) {
            const float *src = packed + p * n * SCALAR_PANEL;
            float acc[SCALAR_PANEL] = {0};
            for (d = 0; d < n; d++)
                for (l = 0; l < SCALAR_PANEL; l++)
                    acc[l] += qi[d] * src[d * SCALAR_PANEL + l];
            for (l = 0; l < SCALAR_PANEL && p * SCALAR_PANEL + l < count; l++)
                out[i * out_stride + p * SCALAR_PANEL + l] = acc[l];
        }
    }
}

static uint32_t scalar_l2sq_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32_t s = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        s += (uint32_t)(d * d);
    }
    return s;
}

static uint32_t scalar_dot_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32_t s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += (uint32_t)a[i] * (uint32_t)b[i];
    return s;
}

static uint32_t scalar_l2sq_i8(const int8_t *a, const int8_t *b, size_t n)
{
    uint32_t s = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        s += (uint32_t)(d * d);
    }
    return s;
}

static int32_t scalar_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static unsigned popcount8(uint8_t x)
{
    unsigned c = 0;
    while (x) {
        x &= (uint8_t)(x - 1);
        c++;
    }
    return c;
}

static uint64_t scalar_hamming(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += popcount8(a[i] ^ b[i]);
    return s;
}

float vex_jaccard_from_counts(uint64_t inter, uint64_t uni)
{
    if (uni == 0)
        return 0.0f;
    return (float)(1.0 - (double)inter / (double)uni);
}

static float scalar_jaccard(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t inter = 0, uni = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        inter += popcount8(a[i] & b[i]);
        uni += popcount8(a[i] | b[i]);
    }
    return vex_jaccard_from_counts(inter, uni);
}

static void scalar_hamming_batch(const uint8_t *q, const uint8_t *base,
                                 size_t stride, size_t count, size_t n,
                                 uint32_t *out)
{
    size_t j;
    for (j = 0; j < count; j++)
        out[j] = (uint32_t)scalar_hamming(q, base + j * stride, n);
}

float vex_f16_to_f32_one(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400u) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) |
                   ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + (127 - 15)) << 23) | (man << 13);
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t vex_f32_to_f16_one(float f)
{
    uint32_t x, sign, exp, man;
    memcpy(&x, &f, sizeof x);
    sign = (x >> 16) & 0x8000u;
    exp = (x >> 23) & 0xffu;
    man = x & 0x7fffffu;
    if (exp == 0xff) /* inf or NaN (keep a quiet NaN) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    if (exp > 127 + 15) /* overflow */
        return (uint16_t)(sign | 0x7c00u);
    if (exp >= 127 - 14) { /* normal half */
        uint32_t h = ((exp - (127 - 15)) << 10) | (man >> 13);
        uint32_t rest = man & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
            h++; /* may carry into the exponent, up to inf: correct */
        return (uint16_t)(sign | h);
    }
    if (exp >= 127 - 25) { /* subnormal half */
        uint32_t m = man | 0x800000u;
        unsigned shift = (unsigned)(127 - 14 - (int)exp) + 13;
        uint32_t h = m >> shift;
        uint32_t rest = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    return (uint16_t)sign; /* underflow to signed zero */
}

static void scalar_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        dst[i] = vex_f16_to_f32_one(src[i]);
}

static void scalar_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        dst[i] = vex_f32_to_f16_one(src[i]);
}

static void scalar_l2sq_f32_x4(const float *q, const float *const *x, size_t n,
                               float *out)
{
    size_t j;
    for (j = 0; j < 4; j++)
        out[j] = scalar_l2sq_f32(q, x[j], n);
}

static void scalar_dot_f32_x4(const float *q, const float *const *x, size_t n,
                              float *out)
{
    size_t j;
    for (j = 0; j < 4; j++)
        out[j] = scalar_dot_f32(q, x[j], n);
}

static const vex_simd_table scalar_table = {
    "scalar",
    scalar_l2sq_f32,
    scalar_dot_f32,
    scalar_cosine_f32,
    scalar_norm2_f32,
    scalar_l2sq_f32_batch,
    scalar_dot_f32_batch,
    SCALAR_PANEL,
    scalar_pack_f32,
    scalar_dots_f32_packed,
    scalar_l2sq_u8,
    scalar_dot_u8,
    scalar_l2sq_i8,
    scalar_dot_i8,
    scalar_hamming,
    scalar_jaccard,
    scalar_hamming_batch,
    scalar_f16_to_f32,
    scalar_f32_to_f16,
    scalar_l2sq_f32_x4,
    scalar_dot_f32_x4,
};

const vex_simd_table *vex_simd_table_scalar(void)
{
    return &scalar_table;
}
