/* SPDX-License-Identifier: Apache-2.0 */
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

float vx_cosine_from_parts(float dot, float na2, float nb2)
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
    return vx_cosine_from_parts(dot, na, nb);
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

void vx_pack_f32_generic(size_t panel, const float *x, size_t stride,
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
    vx_pack_f32_generic(SCALAR_PANEL, x, stride, count, n, packed);
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

float vx_jaccard_from_counts(uint64_t inter, uint64_t uni)
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
    return vx_jaccard_from_counts(inter, uni);
}

static void scalar_hamming_batch(const uint8_t *q, const uint8_t *base,
                                 size_t stride, size_t count, size_t n,
                                 uint32_t *out)
{
    size_t j;
    for (j = 0; j < count; j++)
        out[j] = (uint32_t)scalar_hamming(q, base + j * stride, n);
}

float vx_f16_to_f32_one(uint16_t h)
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

uint16_t vx_f32_to_f16_one(float f)
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
        dst[i] = vx_f16_to_f32_one(src[i]);
}

static void scalar_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        dst[i] = vx_f32_to_f16_one(src[i]);
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

/* CRC32C, one byte per step from a 256-entry table (generated from the
 * reflected polynomial 0x82F63B78). Only the fallback: x86 and arm64 have
 * crc32 instructions. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu,
    0x35f1141cu, 0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu,
    0x6be22838u, 0x9989ab3bu, 0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u,
    0x5e133c24u, 0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu,
    0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u, 0x9a879fa0u,
    0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u,
    0x33ed7d2au, 0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u,
    0xaa64d611u, 0x580f5512u, 0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu,
    0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau, 0x30e349b1u, 0xc288cab2u,
    0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu, 0x1642ae59u,
    0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu,
    0xb3109ebfu, 0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u,
    0x67dafa54u, 0x95b17957u, 0xcba24573u, 0x39c9c670u, 0x2a993584u,
    0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu, 0xed03a29bu, 0x1f682198u,
    0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u, 0x96bf4dccu,
    0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u,
    0x0f36e6f7u, 0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u,
    0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u, 0xeb1fcbadu,
    0x197448aeu, 0x0a24bb5au, 0xf84f3859u, 0x2c855cb2u, 0xdeeedfb1u,
    0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu, 0x90a324fau,
    0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu,
    0xceb018deu, 0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu,
    0x63cd4b8fu, 0x91a6c88cu, 0x456cac67u, 0xb7072f64u, 0xa457dc90u,
    0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
    0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu, 0x92a8fc17u,
    0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu,
    0x0b21572cu, 0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u,
    0xa24bb5a6u, 0x502036a5u, 0x4370c551u, 0xb11b4652u, 0x65d122b9u,
    0x97baa1bau, 0x84ea524eu, 0x7681d14du, 0x2892ed69u, 0xdaf96e6au,
    0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u, 0x0e330a81u,
    0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u,
    0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au,
    0x1e6dcdeeu, 0xec064eedu, 0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u,
    0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu,
    0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu, 0x8ecee914u,
    0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u,
    0x07198540u, 0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u,
    0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au,
    0x115b2b19u, 0x020bd8edu, 0xf0605beeu, 0x24aa3f05u, 0xd6c1bc06u,
    0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u,
    0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au,
    0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u,
    0x988c474du, 0x6ae7c44eu, 0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u,
    0xad7d5351u,
};

uint32_t vx_crc32c_update_scalar(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;
    for (i = 0; i < n; i++)
        crc = crc32c_table[(crc ^ b[i]) & 0xffu] ^ (crc >> 8);
    return crc;
}

/* The reference for the 4-bit fast scan (layout in simd.h). */
/* The reference SQ8 asymmetric kernels: one multiply-add per dimension,
 * summed left to right. */
float vx_sq8_l2_scalar(const float *t0, const float *t1, const uint8_t *c,
                       size_t n)
{
    float s = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        float e = t0[i] - t1[i] * (float)c[i];
        s += e * e;
    }
    return s;
}

float vx_sq8_dot_scalar(const float *t, const uint8_t *c, size_t n)
{
    float s = 0;
    size_t i;
    for (i = 0; i < n; i++)
        s += t[i] * (float)c[i];
    return s;
}

void vx_pq4_scan_scalar(const uint8_t *codes, size_t n_blocks,
                        const uint8_t *lut, size_t m, uint16_t *out)
{
    size_t b, v, j;
    for (b = 0; b < n_blocks; b++) {
        const uint8_t *c = codes + b * m * 16;
        for (v = 0; v < 32; v++) {
            uint32_t s = 0;
            for (j = 0; j < m; j++) {
                uint8_t byte = c[j * 16 + (v & 15)];
                s += lut[j * 16 + (v < 16 ? byte & 15 : byte >> 4)];
            }
            out[b * 32 + v] = (uint16_t)s;
        }
    }
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
    vx_crc32c_update_scalar,
    vx_pq4_scan_scalar,
    vx_sq8_l2_scalar,
    vx_sq8_dot_scalar,
};

const vex_simd_table *vx_simd_table_scalar(void)
{
    return &scalar_table;
}
