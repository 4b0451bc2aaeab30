/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simd_avx2.c - AVX2 kernels (with FMA, F16C and POPCNT).
 *
 * Compiled with exactly those target flags; simd_dispatch.c only hands this
 * table out after cpuid and XCR0 say the CPU and OS can run them. Float
 * tails use vmaskmovps, which reads no element outside its mask (and does
 * not fault there), so nothing is read past the end; byte kernels finish
 * their tails with scalar code. Float sums use several independent
 * accumulators, so results differ from simd_scalar.c only by summation
 * order; integer kernels are exact (see the overflow notes at each one).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "simd/simd.h"
#include "simd/simd_impl.h"

#define AVX2_PANEL 8   /* vectors per packed panel = floats per ymm */
#define AVX2_KC    256 /* dims per slice of dots_f32_packed (L1 blocking) */

#define AVX2_INLINE static inline __attribute__((always_inline))

/* tail_tab + 8 - rem holds rem all-ones words then zeros (rem in 0..8) */
static const int32_t tail_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                     0,  0,  0,  0,  0,  0,  0,  0};

AVX2_INLINE __m256i tail_mask(size_t rem)
{
    return _mm256_loadu_si256((const __m256i *)(tail_tab + 8 - rem));
}

AVX2_INLINE float hsum(__m256 v)
{
    __m128 x =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* Four horizontal sums at once: three hadds and one fold. */
AVX2_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

AVX2_INLINE uint32_t hsum_epi32(__m256i v)
{
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(x);
}

AVX2_INLINE uint64_t hsum_epi64(__m256i v)
{
    __m128i x = _mm_add_epi64(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi64(x, _mm_unpackhi_epi64(x, x));
    return (uint64_t)_mm_cvtsi128_si64(x);
}

/* ---- float32, one pair ------------------------------------------------ */

/* Four accumulators hide FMA latency (4-5 cycles at 2 per cycle). */
static float avx2_l2sq_f32(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, d;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 =
            _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8),
                                  _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16),
                                  _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24),
                                  _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= n; i += 8) {
        d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
                          _mm256_maskload_ps(b + i, m));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* Same shape as l2sq. */
static float avx2_dot_f32(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 =
            _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
                             _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16),
                             _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24),
                             _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 =
            _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m),
                             _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* One pass, three sums with two chains each (six independent FMAs). */
static float avx2_cosine_f32(const float *a, const float *b, size_t n)
{
    __m256 d0 = _mm256_setzero_ps(), d1 = d0, a0 = d0, a1 = d0, b0 = d0,
           b1 = d0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 x0 = _mm256_loadu_ps(a + i), y0 = _mm256_loadu_ps(b + i);
        __m256 x1 = _mm256_loadu_ps(a + i + 8), y1 = _mm256_loadu_ps(b + i + 8);
        d0 = _mm256_fmadd_ps(x0, y0, d0);
        a0 = _mm256_fmadd_ps(x0, x0, a0);
        b0 = _mm256_fmadd_ps(y0, y0, b0);
        d1 = _mm256_fmadd_ps(x1, y1, d1);
        a1 = _mm256_fmadd_ps(x1, x1, a1);
        b1 = _mm256_fmadd_ps(y1, y1, b1);
    }
    for (; i < n; i += 8) {
        __m256i m = tail_mask(n - i >= 8 ? 8 : n - i);
        __m256 x = _mm256_maskload_ps(a + i, m),
               y = _mm256_maskload_ps(b + i, m);
        d0 = _mm256_fmadd_ps(x, y, d0);
        a0 = _mm256_fmadd_ps(x, x, a0);
        b0 = _mm256_fmadd_ps(y, y, b0);
    }
    return vx_cosine_from_parts(hsum(_mm256_add_ps(d0, d1)),
                                hsum(_mm256_add_ps(a0, a1)),
                                hsum(_mm256_add_ps(b0, b1)));
}

static float avx2_norm2_f32(const float *a, size_t n)
{
    return avx2_dot_f32(a, a, n);
}

/* ---- float32, one query against many ---------------------------------- */

/* Vectors to prefetch ahead: about 4 KiB of data (see simd_avx512.c). */
static size_t avx2_prefetch_ahead(size_t stride)
{
    size_t bytes = stride * sizeof(float), v;
    if (bytes == 0)
        return 1;
    v = 4096 / bytes;
    return v < 4 ? 4 : v > 32 ? 32 : v;
}

/* Four vectors per iteration, two accumulators each: eight FMA chains, the
 * query block loaded once per four data blocks (from L1), one shared
 * hsum4 for the four results; 13 of the 16 ymm registers. Prefetch runs
 * ~4 KiB ahead, one line per data line, clamped to the last vector. */
AVX2_INLINE void batch4(const float *q, const float *x0, const float *x1,
                        const float *x2, const float *x3, size_t stride,
                        const float *pf, size_t n, int l2, float *out)
{
    const int pf_on = pf != NULL; /* constant per call site once inlined */
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    size_t d = 0;
#define STEP(acc0, acc1, acc2, acc3, LOAD)                                     \
    do {                                                                       \
        __m256 qv = LOAD(q);                                                   \
        __m256 v0 = LOAD(x0), v1 = LOAD(x1), v2 = LOAD(x2), v3 = LOAD(x3);     \
        if (l2) {                                                              \
            v0 = _mm256_sub_ps(v0, qv);                                        \
            v1 = _mm256_sub_ps(v1, qv);                                        \
            v2 = _mm256_sub_ps(v2, qv);                                        \
            v3 = _mm256_sub_ps(v3, qv);                                        \
            acc0 = _mm256_fmadd_ps(v0, v0, acc0);                              \
            acc1 = _mm256_fmadd_ps(v1, v1, acc1);                              \
            acc2 = _mm256_fmadd_ps(v2, v2, acc2);                              \
            acc3 = _mm256_fmadd_ps(v3, v3, acc3);                              \
        } else {                                                               \
            acc0 = _mm256_fmadd_ps(v0, qv, acc0);                              \
            acc1 = _mm256_fmadd_ps(v1, qv, acc1);                              \
            acc2 = _mm256_fmadd_ps(v2, qv, acc2);                              \
            acc3 = _mm256_fmadd_ps(v3, qv, acc3);                              \
        }                                                                      \
    } while (0)
#define LOADA(p) _mm256_loadu_ps((p) + d)
#define LOADB(p) _mm256_loadu_ps((p) + d + 8)
#define LOADM(p) _mm256_maskload_ps((p) + d, m)
    for (; d + 16 <= n; d += 16) {
        if (pf_on) {
            _mm_prefetch((const char *)(pf + d), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + stride + d), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 2 * stride + d), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 3 * stride + d), _MM_HINT_T0);
        }
        STEP(a0, a1, a2, a3, LOADA);
        STEP(b0, b1, b2, b3, LOADB);
    }
    for (; d < n; d += 8) {
        __m256i m = tail_mask(n - d >= 8 ? 8 : n - d);
        if (pf_on) {
            _mm_prefetch((const char *)(pf + d), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + stride + d), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 2 * stride + d), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 3 * stride + d), _MM_HINT_T0);
        }
        STEP(a0, a1, a2, a3, LOADM);
    }
#undef STEP
#undef LOADA
#undef LOADB
#undef LOADM
    _mm_storeu_ps(out, hsum4(_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1),
                             _mm256_add_ps(a2, b2), _mm256_add_ps(a3, b3)));
}

AVX2_INLINE void batch_f32(const float *q, const float *base, size_t stride,
                           size_t count, size_t n, int l2, float *out)
{
    size_t j = 0, ahead = avx2_prefetch_ahead(stride);
    for (; j + 4 <= count; j += 4) {
        size_t jp = j + ahead < count - 4 ? j + ahead : count - 4;
        const float *x0 = base + j * stride;
        batch4(q, x0, x0 + stride, x0 + 2 * stride, x0 + 3 * stride, stride,
               base + jp * stride, n, l2, out + j);
    }
    if (j < count) {
        /* The last 1-3 vectors go through batch4 too, padded with copies
         * of the last one: each lane of batch4 sums in the same order
         * whatever its slot, so a vector's distance never depends on its
         * position or on the count (the flat index relies on that). */
        const float *x[4];
        float tmp[4];
        size_t r;
        for (r = 0; r < 4; r++)
            x[r] = base + (j + r < count ? j + r : count - 1) * stride;
        batch4(q, x[0], x[1], x[2], x[3], 0, NULL, n, l2, tmp);
        for (r = 0; j + r < count; r++)
            out[j + r] = tmp[r];
    }
}

static void avx2_l2sq_f32_batch(const float *q, const float *base,
                                size_t stride, size_t count, size_t n,
                                float *out)
{
    batch_f32(q, base, stride, count, n, 1, out);
}

static void avx2_dot_f32_batch(const float *q, const float *base, size_t stride,
                               size_t count, size_t n, float *out)
{
    batch_f32(q, base, stride, count, n, 0, out);
}

/* ---- float32, many queries against a packed block --------------------- */

/* One 8-lane gather per dimension (masked for the partial last panel);
 * packing is amortised over every query of the block. */
static void avx2_pack_f32(const float *x, size_t stride, size_t count, size_t n,
                          float *packed)
{
    size_t p, d, n_panels = (count + AVX2_PANEL - 1) / AVX2_PANEL;
    __m256i idx;
    if (stride > (size_t)INT32_MAX / AVX2_PANEL) {
        vx_pack_f32_generic(AVX2_PANEL, x, stride, count, n, packed);
        return;
    }
    idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                             _mm256_set1_epi32((int)stride));
    for (p = 0; p < n_panels; p++) {
        const float *src = x + p * AVX2_PANEL * stride;
        float *dst = packed + p * n * AVX2_PANEL;
        size_t lanes = count - p * AVX2_PANEL;
        if (lanes >= AVX2_PANEL) {
            for (d = 0; d < n; d++)
                _mm256_store_ps(dst + d * AVX2_PANEL,
                                _mm256_i32gather_ps(src + d, idx, 4));
        } else {
            __m256 m = _mm256_castsi256_ps(tail_mask(lanes));
            for (d = 0; d < n; d++)
                _mm256_store_ps(dst + d * AVX2_PANEL,
                                _mm256_mask_i32gather_ps(_mm256_setzero_ps(),
                                                         src + d, idx, m, 4));
        }
    }
}

/* Register-blocked micro-kernel: MR queries x NR panels (up to 6 x 2 = 6
 * queries x 16 vectors), the classic 6x16 SGEMM shape for 16 ymm
 * registers: 12 accumulators, two panel rows, one broadcast. 12 FMAs per
 * 8 loads keeps both FMA ports busy. Lanes past `count` are masked off
 * the stores. */
AVX2_INLINE void micro(const float *q, size_t q_stride, int mr, int nr,
                       const float *pk, size_t n, size_t kc, int add,
                       float *out, size_t out_stride, size_t lanes0,
                       size_t lanes1)
{
    __m256 acc[6][2];
    const float *qr[6];
    size_t d;
    int i;
#pragma GCC unroll 6
    for (i = 0; i < mr; i++) {
        float *o = out + (size_t)i * out_stride;
        qr[i] = q + (size_t)i * q_stride;
        acc[i][0] = add ? _mm256_maskload_ps(o, tail_mask(lanes0))
                        : _mm256_setzero_ps();
        acc[i][1] = add && nr > 1
                        ? _mm256_maskload_ps(o + AVX2_PANEL, tail_mask(lanes1))
                        : _mm256_setzero_ps();
    }
    for (d = 0; d < kc; d++) {
        __m256 x0 = _mm256_load_ps(pk + d * AVX2_PANEL);
        __m256 x1 = nr > 1 ? _mm256_load_ps(pk + (n + d) * AVX2_PANEL) : x0;
#pragma GCC unroll 6
        for (i = 0; i < mr; i++) {
            __m256 qv = _mm256_broadcast_ss(qr[i] + d);
            acc[i][0] = _mm256_fmadd_ps(qv, x0, acc[i][0]);
            if (nr > 1)
                acc[i][1] = _mm256_fmadd_ps(qv, x1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (i = 0; i < mr; i++) {
        float *o = out + (size_t)i * out_stride;
        if (lanes0 == AVX2_PANEL)
            _mm256_storeu_ps(o, acc[i][0]);
        else
            _mm256_maskstore_ps(o, tail_mask(lanes0), acc[i][0]);
        if (nr > 1) {
            if (lanes1 == AVX2_PANEL)
                _mm256_storeu_ps(o + AVX2_PANEL, acc[i][1]);
            else
                _mm256_maskstore_ps(o + AVX2_PANEL, tail_mask(lanes1),
                                    acc[i][1]);
        }
    }
}

AVX2_INLINE size_t panel_lanes(size_t count, size_t p)
{
    size_t lanes = count - p * AVX2_PANEL;
    return lanes >= AVX2_PANEL ? AVX2_PANEL : lanes;
}

/* One slice of AVX2_KC dims: panel pairs outside (a pair's slice, AVX2_KC * 64
 * bytes = 16 KiB, stays in L1), query blocks of 6 inside; `add`
 * accumulates onto the previous slices' sums. */
AVX2_INLINE void dots_chunk(const float *q, size_t q_stride, size_t nq,
                            const float *packed, size_t count, size_t n,
                            size_t kc, int add, float *out, size_t out_stride)
{
    size_t p, i, n_panels = (count + AVX2_PANEL - 1) / AVX2_PANEL;
    for (p = 0; p < n_panels; p += 2) {
        const float *pk = packed + p * n * AVX2_PANEL;
        float *o = out + p * AVX2_PANEL;
        size_t l0 = panel_lanes(count, p);
        if (p + 1 < n_panels) {
            size_t l1 = panel_lanes(count, p + 1);
            for (i = 0; i + 6 <= nq; i += 6)
                micro(q + i * q_stride, q_stride, 6, 2, pk, n, kc, add,
                      o + i * out_stride, out_stride, l0, l1);
            switch (nq - i) {
#define CASE(r)                                                                \
    case r:                                                                    \
        micro(q + i * q_stride, q_stride, r, 2, pk, n, kc, add,                \
              o + i * out_stride, out_stride, l0, l1);                         \
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
                micro(q + i * q_stride, q_stride, 6, 1, pk, n, kc, add,
                      o + i * out_stride, out_stride, l0, 0);
            switch (nq - i) {
#define CASE(r)                                                                \
    case r:                                                                    \
        micro(q + i * q_stride, q_stride, r, 1, pk, n, kc, add,                \
              o + i * out_stride, out_stride, l0, 0);                          \
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

/* K-blocked over slices of AVX2_KC dims so the panel slice stays in L1 for
 * large n; partial sums round-trip through `out` once per slice. */
static void avx2_dots_f32_packed(const float *q, size_t q_stride, size_t nq,
                                 const float *packed, size_t count, size_t n,
                                 float *out, size_t out_stride)
{
    size_t k0 = 0;
    do {
        size_t kc = n - k0 < AVX2_KC ? n - k0 : AVX2_KC;
        dots_chunk(q + k0, q_stride, nq, packed + k0 * AVX2_PANEL, count, n, kc,
                   k0 > 0, out, out_stride);
        k0 += kc;
    } while (k0 < n);
}

/* ---- 8-bit integers ---------------------------------------------------- */

/* |a - b| fits a byte (two saturating subtractions); widened to 16 bits
 * (in-lane unpack, order does not matter for a sum) it is squared and
 * pair-summed by vpmaddwd. Exact: 16 lanes gain at most 2 * 255^2 per
 * step, so for n <= 65536 no lane exceeds 2^31; the total (< 2^32) is
 * summed modulo 2^32. maddubs is avoided: it saturates. */
AVX2_INLINE uint32_t l2sq_bytes(const uint8_t *a, const uint8_t *b, size_t n,
                                uint8_t flip)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, z = s0;
    __m256i f = _mm256_set1_epi8((char)flip);
    uint32_t s;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x =
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a + i)), f);
        __m256i y =
            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + i)), f);
        __m256i d =
            _mm256_or_si256(_mm256_subs_epu8(x, y), _mm256_subs_epu8(y, x));
        __m256i lo = _mm256_unpacklo_epi8(d, z);
        __m256i hi = _mm256_unpackhi_epi8(d, z);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(lo, lo));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(hi, hi));
    }
    s = hsum_epi32(_mm256_add_epi32(s0, s1));
    for (; i < n; i++) {
        int32_t d = (int32_t)(a[i] ^ flip) - (int32_t)(b[i] ^ flip);
        s += (uint32_t)(d * d);
    }
    return s;
}

static uint32_t avx2_l2sq_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    return l2sq_bytes(a, b, n, 0);
}

/* x ^ 0x80 maps int8 to uint8 preserving differences. */
static uint32_t avx2_l2sq_i8(const int8_t *a, const int8_t *b, size_t n)
{
    return l2sq_bytes((const uint8_t *)a, (const uint8_t *)b, n, 0x80);
}

/* Zero-extend both to 16 bits, vpmaddwd: 16 products per instruction,
 * exact (255^2 * 2 fits int32; lanes stay < 2^31 for n <= 65536). */
static uint32_t avx2_dot_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, z = s0;
    uint32_t s;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i y = _mm256_loadu_si256((const __m256i *)(b + i));
        s0 =
            _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_unpacklo_epi8(x, z),
                                                   _mm256_unpacklo_epi8(y, z)));
        s1 =
            _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_unpackhi_epi8(x, z),
                                                   _mm256_unpackhi_epi8(y, z)));
    }
    s = hsum_epi32(_mm256_add_epi32(s0, s1));
    for (; i < n; i++)
        s += (uint32_t)a[i] * (uint32_t)b[i];
    return s;
}

/* Sign-extend both to 16 bits, vpmaddwd; (-128)^2 * 2 fits int32. */
static int32_t avx2_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    int32_t s;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x0 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i x1 = _mm256_cvtepi8_epi16(
            _mm_loadu_si128((const __m128i *)(a + i + 16)));
        __m256i y0 =
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i y1 = _mm256_cvtepi8_epi16(
            _mm_loadu_si128((const __m128i *)(b + i + 16)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(x0, y0));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(x1, y1));
    }
    s = (int32_t)hsum_epi32(_mm256_add_epi32(s0, s1));
    for (; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

/* ---- bits ------------------------------------------------------------- */

/* Nibble-LUT popcount: two pshufb lookups count 32 bytes, vpsadbw folds the
 * byte counts into four 64-bit lanes; tail by 64-bit popcnt, then bytes. */
AVX2_INLINE __m256i popcnt_bytes(__m256i x)
{
    const __m256i lut =
        _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1,
                         1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(x, low);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    __m256i c = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                                _mm256_shuffle_epi8(lut, hi));
    return _mm256_sad_epu8(c, _mm256_setzero_si256());
}

AVX2_INLINE uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t avx2_hamming(const uint8_t *a, const uint8_t *b, size_t n)
{
    __m256i s = _mm256_setzero_si256();
    uint64_t r;
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        s = _mm256_add_epi64(
            s, popcnt_bytes(_mm256_xor_si256(
                   _mm256_loadu_si256((const __m256i *)(a + i)),
                   _mm256_loadu_si256((const __m256i *)(b + i)))));
    r = hsum_epi64(s);
    for (; i + 8 <= n; i += 8)
        r += (uint64_t)_mm_popcnt_u64(load64(a + i) ^ load64(b + i));
    for (; i < n; i++)
        r += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] ^ b[i]));
    return r;
}

static float avx2_jaccard(const uint8_t *a, const uint8_t *b, size_t n)
{
    __m256i si = _mm256_setzero_si256(), su = si;
    uint64_t inter, uni;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i y = _mm256_loadu_si256((const __m256i *)(b + i));
        si = _mm256_add_epi64(si, popcnt_bytes(_mm256_and_si256(x, y)));
        su = _mm256_add_epi64(su, popcnt_bytes(_mm256_or_si256(x, y)));
    }
    inter = hsum_epi64(si);
    uni = hsum_epi64(su);
    for (; i + 8 <= n; i += 8) {
        uint64_t x = load64(a + i), y = load64(b + i);
        inter += (uint64_t)_mm_popcnt_u64(x & y);
        uni += (uint64_t)_mm_popcnt_u64(x | y);
    }
    for (; i < n; i++) {
        inter += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] & b[i]));
        uni += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] | b[i]));
    }
    return vx_jaccard_from_counts(inter, uni);
}

/* Pairwise kernel per vector with a prefetch ~1 KiB ahead. */
static void avx2_hamming_batch(const uint8_t *q, const uint8_t *base,
                               size_t stride, size_t count, size_t n,
                               uint32_t *out)
{
    size_t j, ahead = stride ? 1024 / stride + 1 : 1;
    for (j = 0; j < count; j++) {
        size_t jp = j + ahead < count ? j + ahead : count - 1;
        _mm_prefetch((const char *)(base + jp * stride), _MM_HINT_T0);
        out[j] = (uint32_t)avx2_hamming(q, base + j * stride, n);
    }
}

/* ---- float16 ------------------------------------------------------------ */

/* F16C: 8 halves per instruction; the tail goes through a small buffer so
 * nothing outside the arrays is touched. Exact, like the reference. */
static void avx2_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                      (const __m128i *)(src + i))));
    if (i < n) {
        uint16_t h[8] = {0};
        float f[8];
        memcpy(h, src + i, (n - i) * sizeof h[0]);
        _mm256_storeu_ps(f,
                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
        memcpy(dst + i, f, (n - i) * sizeof f[0]);
    }
}

/* Hardware round-to-nearest-even, as the reference (inf on overflow, NaN
 * kept quiet). */
static void avx2_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                         _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        float f[8] = {0};
        uint16_t h[8];
        memcpy(f, src + i, (n - i) * sizeof f[0]);
        _mm_storeu_si128(
            (__m128i *)h,
            _mm256_cvtps_ph(_mm256_loadu_ps(f), _MM_FROUND_TO_NEAREST_INT));
        memcpy(dst + i, h, (n - i) * sizeof h[0]);
    }
}

/* Four scattered vectors at once (graph search): the four load streams
 * miss in parallel and share one horizontal reduction. Same lanes and
 * order as the batch kernel, so a vector gets the same bits either way. */
static void avx2_l2sq_f32_x4(const float *q, const float *const *x, size_t n,
                             float *out)
{
    batch4(q, x[0], x[1], x[2], x[3], 0, NULL, n, 1, out);
}

static void avx2_dot_f32_x4(const float *q, const float *const *x, size_t n,
                            float *out)
{
    batch4(q, x[0], x[1], x[2], x[3], 0, NULL, n, 0, out);
}

/* crc32 on 8 bytes per instruction (3-cycle latency, one chain: ~2.5
 * bytes/cycle, far above the rate storage code needs). */
uint32_t vx_crc32c_update_sse42(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c = _mm_crc32_u64(c, w);
        b += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *b++);
    return (uint32_t)c;
}

/* ---- 4-bit PQ fast scan ------------------------------------------------ */

/* Two subquantizers per ymm: lane 0 holds subquantizer j's 16 code bytes
 * and table, lane 1 those of j + 1, so one vpshufb per nibble looks up 32
 * entries. The bytes are zero-extended to 16 bits as they are added (a
 * u8 sum would wrap after two terms); the two lanes are folded at the
 * end. An odd last subquantizer gets a zero upper lane: its table is all
 * zero there, so it adds nothing. */
AVX2_INLINE void pq4_step(__m256i cv, __m256i lv, __m256i *a)
{
    const __m256i low4 = _mm256_set1_epi8(0x0f), z = _mm256_setzero_si256();
    __m256i lo = _mm256_shuffle_epi8(lv, _mm256_and_si256(cv, low4));
    __m256i hi = _mm256_shuffle_epi8(
        lv, _mm256_and_si256(_mm256_srli_epi16(cv, 4), low4));
    a[0] = _mm256_add_epi16(a[0], _mm256_unpacklo_epi8(lo, z));
    a[1] = _mm256_add_epi16(a[1], _mm256_unpackhi_epi8(lo, z));
    a[2] = _mm256_add_epi16(a[2], _mm256_unpacklo_epi8(hi, z));
    a[3] = _mm256_add_epi16(a[3], _mm256_unpackhi_epi8(hi, z));
}

/* SQ8 asymmetric: 16 codes per step widened u8 -> i32 -> f32 (exact), two
 * accumulators to cover the FMA latency; the tail of n % 8 goes scalar. */
static float avx2_sq8_l2(const float *t0, const float *t1, const uint8_t *c,
                         size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    float s;
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(c + i));
        __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 c1 =
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
        __m256 e0 = _mm256_fnmadd_ps(_mm256_loadu_ps(t1 + i), c0,
                                     _mm256_loadu_ps(t0 + i));
        __m256 e1 = _mm256_fnmadd_ps(_mm256_loadu_ps(t1 + i + 8), c1,
                                     _mm256_loadu_ps(t0 + i + 8));
        s0 = _mm256_fmadd_ps(e0, e0, s0);
        s1 = _mm256_fmadd_ps(e1, e1, s1);
    }
    if (i + 8 <= n) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(c + i));
        __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 e0 = _mm256_fnmadd_ps(_mm256_loadu_ps(t1 + i), c0,
                                     _mm256_loadu_ps(t0 + i));
        s0 = _mm256_fmadd_ps(e0, e0, s0);
        i += 8;
    }
    s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        float e = t0[i] - t1[i] * (float)c[i];
        s += e * e;
    }
    return s;
}

static float avx2_sq8_dot(const float *t, const uint8_t *c, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    float s;
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(c + i));
        __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 c1 =
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(t + i), c0, s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(t + i + 8), c1, s1);
    }
    if (i + 8 <= n) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(c + i));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(t + i),
                             _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), s0);
        i += 8;
    }
    s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += t[i] * (float)c[i];
    return s;
}

static void avx2_pq4_scan(const uint8_t *codes, size_t n_blocks,
                          const uint8_t *lut, size_t m, uint16_t *out)
{
    size_t b, j;
    int k;
    for (b = 0; b < n_blocks; b++) {
        const uint8_t *c = codes + b * m * 16;
        __m256i a[4];
        for (k = 0; k < 4; k++)
            a[k] = _mm256_setzero_si256();
        for (j = 0; j + 2 <= m; j += 2)
            pq4_step(_mm256_loadu_si256((const __m256i *)(c + j * 16)),
                     _mm256_loadu_si256((const __m256i *)(lut + j * 16)), a);
        if (j < m)
            pq4_step(_mm256_set_m128i(
                         _mm_setzero_si128(),
                         _mm_loadu_si128((const __m128i *)(c + j * 16))),
                     _mm256_set_m128i(
                         _mm_setzero_si128(),
                         _mm_loadu_si128((const __m128i *)(lut + j * 16))),
                     a);
        for (k = 0; k < 4; k++)
            _mm_storeu_si128((__m128i *)(out + b * 32 + k * 8),
                             _mm_add_epi16(_mm256_castsi256_si128(a[k]),
                                           _mm256_extracti128_si256(a[k], 1)));
    }
}

const vex_simd_table vx_simd_avx2_table = {
    "avx2",
    avx2_l2sq_f32,
    avx2_dot_f32,
    avx2_cosine_f32,
    avx2_norm2_f32,
    avx2_l2sq_f32_batch,
    avx2_dot_f32_batch,
    AVX2_PANEL,
    avx2_pack_f32,
    avx2_dots_f32_packed,
    avx2_l2sq_u8,
    avx2_dot_u8,
    avx2_l2sq_i8,
    avx2_dot_i8,
    avx2_hamming,
    avx2_jaccard,
    avx2_hamming_batch,
    avx2_f16_to_f32,
    avx2_f32_to_f16,
    avx2_l2sq_f32_x4,
    avx2_dot_f32_x4,
    vx_crc32c_update_sse42,
    avx2_pq4_scan,
    avx2_sq8_l2,
    avx2_sq8_dot,
};
