/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simd_avx512.c - AVX-512 kernels (F, BW, DQ, VL, VNNI, VPOPCNTDQ; F16C and
 * FMA for conversions and fused multiply-add).
 *
 * Compiled with exactly those target flags; simd_dispatch.c only hands this
 * table out after cpuid and XCR0 say the CPU and OS can run all of them.
 * Every kernel handles any length: full 512-bit blocks, then one masked
 * block for the tail (masked loads never touch bytes outside the mask, so
 * nothing is read past the end). Float sums use several independent
 * accumulators, so results differ from simd_scalar.c only by summation
 * order; integer kernels are exact (see the overflow notes at each one).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "simd/simd.h"
#include "simd/simd_impl.h"

#define AVX512_PANEL 16  /* vectors per packed panel = floats per zmm */
#define AVX512_KC    192 /* dims per slice of dots_f32_packed (L1 blocking) */

#define AVX512_INLINE static inline __attribute__((always_inline))

AVX512_INLINE __mmask16 mask16(size_t rem)
{
    return (__mmask16)((1u << rem) - 1u); /* rem < 16 */
}

AVX512_INLINE __mmask64 mask64(size_t rem)
{
    return rem >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rem) - 1u);
}

/* Sum of each of four vectors, as the four lanes of an xmm: two 256-bit
 * and two 128-bit folds shared across the four, then one in-lane fold;
 * about half the shuffles of four separate reductions. */
AVX512_INLINE __m128 hsum4_512(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44),
                              _mm512_shuffle_f32x4(a, b, 0xee));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44),
                              _mm512_shuffle_f32x4(c, d, 0xee));
    __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88),
                             _mm512_shuffle_f32x4(ab, cd, 0xdd));
    x = _mm512_add_ps(x, _mm512_permute_ps(x, _MM_SHUFFLE(2, 3, 0, 1)));
    x = _mm512_add_ps(x, _mm512_permute_ps(x, _MM_SHUFFLE(1, 0, 3, 2)));
    x = _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), x);
    return _mm512_castps512_ps128(x);
}

/* Horizontal sum modulo 2^32. _mm512_reduce_add_epi32 is not used: GCC
 * implements it with signed vector adds, and the u8 sums legitimately
 * pass 2^31 (UBSan flags that). */
AVX512_INLINE uint32_t hsum_u32(__m512i v)
{
    __m256i x = _mm256_add_epi32(_mm512_castsi512_si256(v),
                                 _mm512_extracti64x4_epi64(v, 1));
    __m128i y = _mm_add_epi32(_mm256_castsi256_si128(x),
                              _mm256_extracti128_si256(x, 1));
    y = _mm_add_epi32(y, _mm_shuffle_epi32(y, _MM_SHUFFLE(1, 0, 3, 2)));
    y = _mm_add_epi32(y, _mm_shuffle_epi32(y, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(y);
}

/* ---- float32, one pair ------------------------------------------------ */

/* Four accumulators hide the 4-cycle FMA latency at 2 FMAs per cycle. */
static float avx512_l2sq_f32(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, d;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 d0 =
            _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16),
                                  _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32),
                                  _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48),
                                  _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= n; i += 16) {
        d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __mmask16 m = mask16(n - i);
        d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
                          _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* Same shape as l2sq: four independent FMA chains, masked tail. */
static float avx512_dot_f32(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 =
            _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16),
                             _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32),
                             _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48),
                             _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 =
            _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = mask16(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
                             _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* One pass, three sums (dot, |a|^2, |b|^2) two chains each: six
 * independent FMA chains, and a and b are loaded once. */
static float avx512_cosine_f32(const float *a, const float *b, size_t n)
{
    __m512 d0 = _mm512_setzero_ps(), d1 = d0, a0 = d0, a1 = d0, b0 = d0,
           b1 = d0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
        __m512 x1 = _mm512_loadu_ps(a + i + 16),
               y1 = _mm512_loadu_ps(b + i + 16);
        d0 = _mm512_fmadd_ps(x0, y0, d0);
        a0 = _mm512_fmadd_ps(x0, x0, a0);
        b0 = _mm512_fmadd_ps(y0, y0, b0);
        d1 = _mm512_fmadd_ps(x1, y1, d1);
        a1 = _mm512_fmadd_ps(x1, x1, a1);
        b1 = _mm512_fmadd_ps(y1, y1, b1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        __m512 x = _mm512_maskz_loadu_ps(m, a + i);
        __m512 y = _mm512_maskz_loadu_ps(m, b + i);
        d0 = _mm512_fmadd_ps(x, y, d0);
        a0 = _mm512_fmadd_ps(x, x, a0);
        b0 = _mm512_fmadd_ps(y, y, b0);
    }
    return vx_cosine_from_parts(_mm512_reduce_add_ps(_mm512_add_ps(d0, d1)),
                                _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)),
                                _mm512_reduce_add_ps(_mm512_add_ps(b0, b1)));
}

/* Reuses dot: a single stream, four chains. */
static float avx512_norm2_f32(const float *a, size_t n)
{
    return avx512_dot_f32(a, a, n);
}

/* ---- float32, one query against many ---------------------------------- */

/* Vectors to prefetch ahead: about 4 KiB of data, at least one vector. At
 * ~15 GB/s per core and ~100 ns memory latency ~1.5 KiB must be in flight;
 * 4 KiB also covers the page-crossing gaps of the hardware prefetcher. */
static size_t avx512_prefetch_ahead(size_t stride)
{
    size_t bytes = stride * sizeof(float), v;
    if (bytes == 0)
        return 1;
    v = 4096 / bytes;
    return v < 4 ? 4 : v > 32 ? 32 : v;
}

/* Four vectors per iteration, two accumulators each (eight FMA chains):
 * each query block is loaded once for four data blocks, the chains hide
 * FMA latency, and one shared hsum4_512 replaces four horizontal reductions.
 * The query stays in L1 (one load per four data loads), which for any
 * dimension is as good as pinning it in registers and leaves the
 * registers to the accumulators. Software prefetch runs ~4 KiB ahead,
 * one line per data line, clamped to the last vector so no pointer leaves
 * the array. */
AVX512_INLINE void batch4_512(const float *q, const float *x0, const float *x1,
                              const float *x2, const float *x3, size_t stride,
                              const float *pf, size_t n, int l2, float *out)
{
    const int pf_on = pf != NULL; /* constant per call site once inlined */
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    size_t d = 0;
#define STEP(acc0, acc1, acc2, acc3, LOAD)                                     \
    do {                                                                       \
        __m512 qv = LOAD(q);                                                   \
        __m512 v0 = LOAD(x0), v1 = LOAD(x1), v2 = LOAD(x2), v3 = LOAD(x3);     \
        if (l2) {                                                              \
            v0 = _mm512_sub_ps(v0, qv);                                        \
            v1 = _mm512_sub_ps(v1, qv);                                        \
            v2 = _mm512_sub_ps(v2, qv);                                        \
            v3 = _mm512_sub_ps(v3, qv);                                        \
            acc0 = _mm512_fmadd_ps(v0, v0, acc0);                              \
            acc1 = _mm512_fmadd_ps(v1, v1, acc1);                              \
            acc2 = _mm512_fmadd_ps(v2, v2, acc2);                              \
            acc3 = _mm512_fmadd_ps(v3, v3, acc3);                              \
        } else {                                                               \
            acc0 = _mm512_fmadd_ps(v0, qv, acc0);                              \
            acc1 = _mm512_fmadd_ps(v1, qv, acc1);                              \
            acc2 = _mm512_fmadd_ps(v2, qv, acc2);                              \
            acc3 = _mm512_fmadd_ps(v3, qv, acc3);                              \
        }                                                                      \
    } while (0)
#define PF()                                                                   \
    do {                                                                       \
        if (!pf_on)                                                            \
            break;                                                             \
        _mm_prefetch((const char *)(pf + d), _MM_HINT_T0);                     \
        _mm_prefetch((const char *)(pf + stride + d), _MM_HINT_T0);            \
        _mm_prefetch((const char *)(pf + 2 * stride + d), _MM_HINT_T0);        \
        _mm_prefetch((const char *)(pf + 3 * stride + d), _MM_HINT_T0);        \
    } while (0)
#define LOADA(p) _mm512_loadu_ps((p) + d)
#define LOADB(p) _mm512_loadu_ps((p) + d + 16)
#define LOADM(p) _mm512_maskz_loadu_ps(m, (p) + d)
    for (; d + 32 <= n; d += 32) {
        PF();
        STEP(a0, a1, a2, a3, LOADA);
        if (pf_on) {
            _mm_prefetch((const char *)(pf + d + 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + stride + d + 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 2 * stride + d + 16), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 3 * stride + d + 16), _MM_HINT_T0);
        }
        STEP(b0, b1, b2, b3, LOADB);
    }
    for (; d < n; d += 16) {
        __mmask16 m = n - d >= 16 ? (__mmask16)0xffff : mask16(n - d);
        PF();
        STEP(a0, a1, a2, a3, LOADM);
    }
#undef STEP
#undef PF
#undef LOADA
#undef LOADB
#undef LOADM
    _mm_storeu_ps(out, hsum4_512(_mm512_add_ps(a0, b0), _mm512_add_ps(a1, b1),
                                 _mm512_add_ps(a2, b2), _mm512_add_ps(a3, b3)));
}

AVX512_INLINE void batch_f32_512(const float *q, const float *base,
                                 size_t stride, size_t count, size_t n, int l2,
                                 float *out)
{
    size_t j = 0, ahead = avx512_prefetch_ahead(stride);
    for (; j + 4 <= count; j += 4) {
        size_t jp = j + ahead < count - 4 ? j + ahead : count - 4;
        const float *x0 = base + j * stride;
        batch4_512(q, x0, x0 + stride, x0 + 2 * stride, x0 + 3 * stride, stride,
                   base + jp * stride, n, l2, out + j);
    }
    if (j < count) {
        /* The last 1-3 vectors go through batch4_512 too, padded with copies
         * of the last one: each lane of batch4_512 sums in the same order
         * whatever its slot, so a vector's distance never depends on its
         * position or on the count (the flat index relies on that). */
        const float *x[4];
        float tmp[4];
        size_t r;
        for (r = 0; r < 4; r++)
            x[r] = base + (j + r < count ? j + r : count - 1) * stride;
        batch4_512(q, x[0], x[1], x[2], x[3], 0, NULL, n, l2, tmp);
        for (r = 0; j + r < count; r++)
            out[j + r] = tmp[r];
    }
}

static void avx512_l2sq_f32_batch(const float *q, const float *base,
                                  size_t stride, size_t count, size_t n,
                                  float *out)
{
    batch_f32_512(q, base, stride, count, n, 1, out);
}

static void avx512_dot_f32_batch(const float *q, const float *base,
                                 size_t stride, size_t count, size_t n,
                                 float *out)
{
    batch_f32_512(q, base, stride, count, n, 0, out);
}

/* ---- float32, many queries against a packed block --------------------- */

/* Packing is done once per block and amortised over every query, so it
 * favours simplicity: one 16-lane gather per dimension (masked for the
 * last, partial panel, whose missing lanes become zero). Falls back to the
 * generic packer when lane offsets would not fit the gather's int32
 * indices. */
static void avx512_pack_f32(const float *x, size_t stride, size_t count,
                            size_t n, float *packed)
{
    size_t p, d, n_panels = (count + AVX512_PANEL - 1) / AVX512_PANEL;
    __m512i idx;
    if (stride > (size_t)INT32_MAX / AVX512_PANEL) {
        vx_pack_f32_generic(AVX512_PANEL, x, stride, count, n, packed);
        return;
    }
    idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)stride));
    for (p = 0; p < n_panels; p++) {
        const float *src = x + p * AVX512_PANEL * stride;
        float *dst = packed + p * n * AVX512_PANEL;
        size_t lanes = count - p * AVX512_PANEL;
        if (lanes >= AVX512_PANEL) {
            for (d = 0; d < n; d++)
                _mm512_store_ps(dst + d * AVX512_PANEL,
                                _mm512_i32gather_ps(idx, src + d, 4));
        } else {
            __mmask16 m = mask16(lanes);
            for (d = 0; d < n; d++)
                _mm512_store_ps(dst + d * AVX512_PANEL,
                                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m,
                                                         idx, src + d, 4));
        }
    }
}

/* Register-blocked micro-kernel: MR queries x NR panels (up to 6 x 2, i.e.
 * 6 queries x 32 vectors) with all MR*NR accumulators in zmm registers.
 * Per dimension it loads NR panel rows and broadcasts MR query scalars
 * (folded into the FMA as {1to16} memory operands) for MR*NR FMAs: 12
 * FMAs per 8 loads keeps both FMA ports busy without saturating the load
 * ports, so it runs near FMA peak while the panels sit in L1/L2. Lanes
 * past `count` are masked off the stores. */
AVX512_INLINE void micro_512(const float *q, size_t q_stride, int mr, int nr,
                             const float *pk, size_t n, size_t kc, int add,
                             float *out, size_t out_stride, __mmask16 m0,
                             __mmask16 m1)
{
    __m512 acc[6][2];
    const float *qr[6];
    size_t d;
    int i;
#pragma GCC unroll 6
    for (i = 0; i < mr; i++) {
        float *o = out + (size_t)i * out_stride;
        qr[i] = q + (size_t)i * q_stride;
        acc[i][0] = add ? _mm512_maskz_loadu_ps(m0, o) : _mm512_setzero_ps();
        acc[i][1] = add && nr > 1 ? _mm512_maskz_loadu_ps(m1, o + AVX512_PANEL)
                                  : _mm512_setzero_ps();
    }
    for (d = 0; d < kc; d++) {
        __m512 x0 = _mm512_load_ps(pk + d * AVX512_PANEL);
        __m512 x1 = nr > 1 ? _mm512_load_ps(pk + (n + d) * AVX512_PANEL) : x0;
#pragma GCC unroll 6
        for (i = 0; i < mr; i++) {
            __m512 qv = _mm512_set1_ps(qr[i][d]);
            acc[i][0] = _mm512_fmadd_ps(qv, x0, acc[i][0]);
            if (nr > 1)
                acc[i][1] = _mm512_fmadd_ps(qv, x1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (i = 0; i < mr; i++) {
        float *o = out + (size_t)i * out_stride;
        if (m0 == 0xffff)
            _mm512_storeu_ps(o, acc[i][0]);
        else
            _mm512_mask_storeu_ps(o, m0, acc[i][0]);
        if (nr > 1) {
            if (m1 == 0xffff)
                _mm512_storeu_ps(o + AVX512_PANEL, acc[i][1]);
            else
                _mm512_mask_storeu_ps(o + AVX512_PANEL, m1, acc[i][1]);
        }
    }
}

AVX512_INLINE __mmask16 lanes_mask(size_t count, size_t p)
{
    size_t lanes = count - p * AVX512_PANEL;
    return lanes >= AVX512_PANEL ? (__mmask16)0xffff : mask16(lanes);
}

/* One slice of AVX512_KC dimensions: panel pairs on the outside so the pair's
 * slice (AVX512_KC * 128 bytes = 24 KiB) stays in L1 while every query block of
 * 6 streams over it. `add` accumulates onto the previous slices' sums. */
AVX512_INLINE void dots_chunk_512(const float *q, size_t q_stride, size_t nq,
                                  const float *packed, size_t count, size_t n,
                                  size_t kc, int add, float *out,
                                  size_t out_stride)
{
    size_t p, i, n_panels = (count + AVX512_PANEL - 1) / AVX512_PANEL;
    for (p = 0; p < n_panels; p += 2) {
        const float *pk = packed + p * n * AVX512_PANEL;
        float *o = out + p * AVX512_PANEL;
        __mmask16 m0 = lanes_mask(count, p);
        if (p + 1 < n_panels) {
            __mmask16 m1 = lanes_mask(count, p + 1);
            for (i = 0; i + 6 <= nq; i += 6)
                micro_512(q + i * q_stride, q_stride, 6, 2, pk, n, kc, add,
                          o + i * out_stride, out_stride, m0, m1);
            switch (nq - i) {
#define CASE(r)                                                                \
    case r:                                                                    \
        micro_512(q + i * q_stride, q_stride, r, 2, pk, n, kc, add,            \
                  o + i * out_stride, out_stride, m0, m1);                     \
        break;
                CASE(1)
                CASE(2)
                CASE(3)
                CASE(4)
                CASE(5)
#undef CASE
            default:
                break;
            }
        } else {
            for (i = 0; i + 6 <= nq; i += 6)
                micro_512(q + i * q_stride, q_stride, 6, 1, pk, n, kc, add,
                          o + i * out_stride, out_stride, m0, 0);
            switch (nq - i) {
#define CASE(r)                                                                \
    case r:                                                                    \
        micro_512(q + i * q_stride, q_stride, r, 1, pk, n, kc, add,            \
                  o + i * out_stride, out_stride, m0, 0);                      \
        break;
                CASE(1)
                CASE(2)
                CASE(3)
                CASE(4)
                CASE(5)
#undef CASE
            default:
                break;
            }
        }
    }
}

/* K-blocked over slices of AVX512_KC dims: without it a panel pair for
 * n >= 384 overflows L1 and the kernel drops to L2 speed; the partial
 * sums round-trip through `out` once per slice (12 loads and stores per
 * 12 * AVX512_KC FMAs). */
static void avx512_dots_f32_packed(const float *q, size_t q_stride, size_t nq,
                                   const float *packed, size_t count, size_t n,
                                   float *out, size_t out_stride)
{
    size_t k0 = 0;
    do {
        size_t kc = n - k0 < AVX512_KC ? n - k0 : AVX512_KC;
        dots_chunk_512(q + k0, q_stride, nq, packed + k0 * AVX512_PANEL, count,
                       n, kc, k0 > 0, out, out_stride);
        k0 += kc;
    } while (k0 < n);
}

/* ---- 8-bit integers ---------------------------------------------------- */

/* |a - b| fits a byte (two saturating subtractions); widened to 16 bits it
 * is squared and pair-summed by one VNNI dpwssd per 32 bytes. Exact: each
 * 32-bit lane gains at most 2 * 255^2 per step, so for n <= 65536 no lane
 * exceeds 2^31 and the final sum (< 2^32) is taken modulo 2^32. */
AVX512_INLINE uint32_t l2sq_bytes_512(const uint8_t *a, const uint8_t *b,
                                      size_t n, __m512i flip)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, z = s0;
    size_t i;
    for (i = 0; i < n; i += 64) {
        __mmask64 m = mask64(n - i);
        __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), flip);
        __m512i y = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, b + i), flip);
        __m512i d =
            _mm512_or_si512(_mm512_subs_epu8(x, y), _mm512_subs_epu8(y, x));
        __m512i lo = _mm512_unpacklo_epi8(d, z);
        __m512i hi = _mm512_unpackhi_epi8(d, z);
        s0 = _mm512_dpwssd_epi32(s0, lo, lo);
        s1 = _mm512_dpwssd_epi32(s1, hi, hi);
    }
    return hsum_u32(_mm512_add_epi32(s0, s1));
}

static uint32_t avx512_l2sq_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    return l2sq_bytes_512(a, b, n, _mm512_setzero_si512());
}

/* x ^ 0x80 maps int8 to uint8 preserving order and differences. */
static uint32_t avx512_l2sq_i8(const int8_t *a, const int8_t *b, size_t n)
{
    return l2sq_bytes_512((const uint8_t *)a, (const uint8_t *)b, n,
                          _mm512_set1_epi8((char)0x80));
}

/* dpbusd multiplies u8 by s8, 64 products per instruction. For u8 x u8,
 * b = (b ^ 0x80) + 128 with b ^ 0x80 read as s8, so
 * a.b = dpbusd(a, b ^ 0x80) + 128 * sum(a), and sum(a) is one more dpbusd
 * against ones. Lanes cannot overflow for n <= 65536 (|per lane| < 2^31)
 * and the result (< 2^32) is assembled modulo 2^32, hence exact. */
static uint32_t avx512_dot_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    __m512i s = _mm512_setzero_si512(), sa = s;
    __m512i flip = _mm512_set1_epi8((char)0x80), ones = _mm512_set1_epi8(1);
    size_t i;
    for (i = 0; i < n; i += 64) {
        __mmask64 m = mask64(n - i);
        __m512i x = _mm512_maskz_loadu_epi8(m, a + i); /* 0 past the end */
        __m512i y = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, b + i), flip);
        s = _mm512_dpbusd_epi32(s, x, y);
        sa = _mm512_dpbusd_epi32(sa, x, ones);
    }
    return hsum_u32(s) + 128u * hsum_u32(sa);
}

/* The mirror trick for s8 x s8: a = (a ^ 0x80) - 128 with a ^ 0x80 read
 * as u8, so a.b = dpbusd(a ^ 0x80, b) - 128 * sum(b). */
static int32_t avx512_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    __m512i s = _mm512_setzero_si512(), sb = s;
    __m512i flip = _mm512_set1_epi8((char)0x80), ones = _mm512_set1_epi8(1);
    uint32_t r;
    size_t i;
    for (i = 0; i < n; i += 64) {
        __mmask64 m = mask64(n - i);
        __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), flip);
        __m512i y = _mm512_maskz_loadu_epi8(m, b + i);
        s = _mm512_dpbusd_epi32(s, x, y);
        sb = _mm512_dpbusd_epi32(sb, ones, y);
    }
    r = hsum_u32(s) - 128u * hsum_u32(sb);
    return (int32_t)r;
}

/* ---- bits ------------------------------------------------------------- */

/* VPOPCNTDQ counts 8 words per instruction; two accumulators, one masked
 * tail load. */
static uint64_t avx512_hamming(const uint8_t *a, const uint8_t *b, size_t n)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        s0 = _mm512_add_epi64(
            s0, _mm512_popcnt_epi64(_mm512_xor_si512(
                    _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i))));
        s1 = _mm512_add_epi64(s1, _mm512_popcnt_epi64(_mm512_xor_si512(
                                      _mm512_loadu_si512(a + i + 64),
                                      _mm512_loadu_si512(b + i + 64))));
    }
    for (; i < n; i += 64) {
        __mmask64 m = mask64(n - i);
        s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_xor_si512(
                                      _mm512_maskz_loadu_epi8(m, a + i),
                                      _mm512_maskz_loadu_epi8(m, b + i))));
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(s0, s1));
}

/* Both counts from one pair of loads. */
static float avx512_jaccard(const uint8_t *a, const uint8_t *b, size_t n)
{
    __m512i si = _mm512_setzero_si512(), su = si;
    size_t i;
    for (i = 0; i < n; i += 64) {
        __mmask64 m = mask64(n - i);
        __m512i x = _mm512_maskz_loadu_epi8(m, a + i);
        __m512i y = _mm512_maskz_loadu_epi8(m, b + i);
        si = _mm512_add_epi64(si, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
        su = _mm512_add_epi64(su, _mm512_popcnt_epi64(_mm512_or_si512(x, y)));
    }
    return vx_jaccard_from_counts((uint64_t)_mm512_reduce_add_epi64(si),
                                  (uint64_t)_mm512_reduce_add_epi64(su));
}

/* Codes of up to 64 bytes (512 bits, the common case) keep the query in
 * one register and take one masked load per vector; longer codes use the
 * pairwise kernel. Prefetch runs a few vectors ahead either way. */
static void avx512_hamming_batch(const uint8_t *q, const uint8_t *base,
                                 size_t stride, size_t count, size_t n,
                                 uint32_t *out)
{
    size_t j, ahead = stride ? 1024 / stride + 1 : 1;
    if (n <= 64) {
        __mmask64 m = mask64(n);
        __m512i qv = _mm512_maskz_loadu_epi8(m, q);
        for (j = 0; j < count; j++) {
            size_t jp = j + ahead < count ? j + ahead : count - 1;
            __m512i x = _mm512_maskz_loadu_epi8(m, base + j * stride);
            _mm_prefetch((const char *)(base + jp * stride), _MM_HINT_T0);
            out[j] = (uint32_t)_mm512_reduce_add_epi64(
                _mm512_popcnt_epi64(_mm512_xor_si512(qv, x)));
        }
        return;
    }
    for (j = 0; j < count; j++) {
        size_t jp = j + ahead < count ? j + ahead : count - 1;
        _mm_prefetch((const char *)(base + jp * stride), _MM_HINT_T0);
        out[j] = (uint32_t)avx512_hamming(q, base + j * stride, n);
    }
}

/* ---- float16 ------------------------------------------------------------ */

/* 16 halves per conversion instruction, masked tail; the hardware
 * conversion is exact, as is the scalar reference. */
static void avx512_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(
                                      (const __m256i *)(src + i))));
    if (i < n) {
        __mmask16 m = mask16(n - i);
        _mm512_mask_storeu_ps(
            dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

/* Round-to-nearest-even in hardware, which is also what the scalar
 * reference computes (overflow to inf, NaN kept quiet). */
static void avx512_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i),
                                            _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        __mmask16 m = mask16(n - i);
        _mm256_mask_storeu_epi16(
            dst + i, m,
            _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i),
                            _MM_FROUND_TO_NEAREST_INT));
    }
}

/* Four scattered vectors at once (graph search): the four load streams
 * miss in parallel and share one horizontal reduction. Same lanes and
 * order as the batch kernel, so a vector gets the same bits either way. */
static void avx512_l2sq_f32_x4(const float *q, const float *const *x, size_t n,
                               float *out)
{
    batch4_512(q, x[0], x[1], x[2], x[3], 0, NULL, n, 1, out);
}

static void avx512_dot_f32_x4(const float *q, const float *const *x, size_t n,
                              float *out)
{
    batch4_512(q, x[0], x[1], x[2], x[3], 0, NULL, n, 0, out);
}

/* ---- 4-bit PQ fast scan ------------------------------------------------ */

/* Four subquantizers per zmm (vpshufb looks up within each 128-bit lane,
 * so lane k holds subquantizer j + k's codes and table); the last 1..3
 * come in through a masked load that reads only their bytes and zeroes
 * the rest, and a zero table adds nothing. vpermb (VBMI) is not needed:
 * the tables have 16 entries, which is what one lane's vpshufb covers,
 * and the dispatcher does not check for VBMI. Folding the four lanes at
 * the end gives the same sums as the reference. */
AVX512_INLINE void pq4_step512(__m512i cv, __m512i lv, __m512i *a)
{
    const __m512i low4 = _mm512_set1_epi8(0x0f), z = _mm512_setzero_si512();
    __m512i lo = _mm512_shuffle_epi8(lv, _mm512_and_si512(cv, low4));
    __m512i hi = _mm512_shuffle_epi8(
        lv, _mm512_and_si512(_mm512_srli_epi16(cv, 4), low4));
    a[0] = _mm512_add_epi16(a[0], _mm512_unpacklo_epi8(lo, z));
    a[1] = _mm512_add_epi16(a[1], _mm512_unpackhi_epi8(lo, z));
    a[2] = _mm512_add_epi16(a[2], _mm512_unpacklo_epi8(hi, z));
    a[3] = _mm512_add_epi16(a[3], _mm512_unpackhi_epi8(hi, z));
}

/* SQ8 asymmetric: 32 codes per step in two accumulators, then one masked
 * step for the last 1..31 (masked loads never touch bytes past n). */
static float avx512_sq8_l2(const float *t0, const float *t1, const uint8_t *c,
                           size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)(c + i))));
        __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)(c + i + 16))));
        __m512 e0 = _mm512_fnmadd_ps(_mm512_loadu_ps(t1 + i), c0,
                                     _mm512_loadu_ps(t0 + i));
        __m512 e1 = _mm512_fnmadd_ps(_mm512_loadu_ps(t1 + i + 16), c1,
                                     _mm512_loadu_ps(t0 + i + 16));
        s0 = _mm512_fmadd_ps(e0, e0, s0);
        s1 = _mm512_fmadd_ps(e1, e1, s1);
    }
    for (; i < n; i += 16) {
        size_t r = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << r) - 1u);
        __m512 cv = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
        __m512 e = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, t1 + i), cv,
                                    _mm512_maskz_loadu_ps(m, t0 + i));
        s0 = _mm512_fmadd_ps(e, e, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static float avx512_sq8_dot(const float *t, const uint8_t *c, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)(c + i))));
        __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)(c + i + 16))));
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(t + i), c0, s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(t + i + 16), c1, s1);
    }
    for (; i < n; i += 16) {
        size_t r = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << r) - 1u);
        __m512 cv = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, t + i), cv, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void avx512_pq4_scan(const uint8_t *codes, size_t n_blocks,
                            const uint8_t *lut, size_t m, uint16_t *out)
{
    size_t b, j;
    int k;
    for (b = 0; b < n_blocks; b++) {
        const uint8_t *c = codes + b * m * 16;
        __m512i a[4];
        for (k = 0; k < 4; k++)
            a[k] = _mm512_setzero_si512();
        for (j = 0; j + 4 <= m; j += 4)
            pq4_step512(_mm512_loadu_si512(c + j * 16),
                        _mm512_loadu_si512(lut + j * 16), a);
        if (j < m) {
            __mmask64 mk = mask64((m - j) * 16);
            pq4_step512(_mm512_maskz_loadu_epi8(mk, c + j * 16),
                        _mm512_maskz_loadu_epi8(mk, lut + j * 16), a);
        }
        for (k = 0; k < 4; k++) {
            __m256i h = _mm256_add_epi16(_mm512_castsi512_si256(a[k]),
                                         _mm512_extracti64x4_epi64(a[k], 1));
            _mm_storeu_si128((__m128i *)(out + b * 32 + k * 8),
                             _mm_add_epi16(_mm256_castsi256_si128(h),
                                           _mm256_extracti128_si256(h, 1)));
        }
    }
}

const vex_simd_table vx_simd_avx512_table = {
    "avx512",
    avx512_l2sq_f32,
    avx512_dot_f32,
    avx512_cosine_f32,
    avx512_norm2_f32,
    avx512_l2sq_f32_batch,
    avx512_dot_f32_batch,
    AVX512_PANEL,
    avx512_pack_f32,
    avx512_dots_f32_packed,
    avx512_l2sq_u8,
    avx512_dot_u8,
    avx512_l2sq_i8,
    avx512_dot_i8,
    avx512_hamming,
    avx512_jaccard,
    avx512_hamming_batch,
    avx512_f16_to_f32,
    avx512_f32_to_f16,
    avx512_l2sq_f32_x4,
    avx512_dot_f32_x4,
    vx_crc32c_update_sse42,
    avx512_pq4_scan,
    avx512_sq8_l2,
    avx512_sq8_dot,
};
