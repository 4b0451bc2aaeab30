/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simd.h - distance kernels and their run-time dispatch table.
 *
 * The simd layer sits at the bottom of the library next to util and io: it
 * knows nothing about indexes. Every kernel exists as a portable scalar
 * reference (simd_scalar.c) and in ISA-specific versions (simd_avx2.c,
 * simd_avx512.c, simd_neon.c), each compiled with its own target flags.
 * vx_simd() returns the table chosen once per process from the CPU's
 * features (overridable with VEX_SIMD=... or vex_simd_force()); this table
 * is the only global mutable state in the library.
 *
 * Contracts shared by all kernels:
 *   - any length n >= 0 (n = 0 gives 0), tails handled, no alignment needed;
 *   - inputs are never written, and never read past their length;
 *   - float results may differ from the scalar reference only by summation
 *     order (the tests bound the difference relative to the magnitudes);
 *     integer results are exact;
 *   - integer kernels are exact for n <= VEX_MAX_DIM (65536): u8/i8 squared
 *     L2 and u8 dot fit in uint32, i8 dot in int32.
 *
 * New kernels go at the end of the table (the tables are initialised by
 * position) and need all three of scalar, AVX2 and AVX-512 versions plus
 * a case in tests/test_simd.c; a NEON table without its own version
 * points at the scalar one (simd_impl.h exports it).
 */
#ifndef VEX_SIMD_H
#define VEX_SIMD_H

#include <stddef.h>
#include <stdint.h>

typedef struct vex_simd_table {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */

    /* ---- float32, one pair ---- */
    float (*l2sq_f32)(const float *a, const float *b, size_t n);
    float (*dot_f32)(const float *a, const float *b, size_t n);
    /* Cosine distance 1 - a.b / (|a| |b|) in one pass; 0 if both are zero,
     * 1 if exactly one is zero. */
    float (*cosine_f32)(const float *a, const float *b, size_t n);
    /* sum a_i^2 */
    float (*norm2_f32)(const float *a, size_t n);

    /* ---- float32, one query against `count` vectors ----
     * Vector j starts at base + j * stride (stride in floats, >= n).
     * out[j] receives the distance or dot product. Prefetches ahead.
     * out[j] depends only on q and vector j, bit for bit: not on j, count
     * or the other vectors (so a vector scored alone or in a block gets
     * the same value; the flat index relies on this). */
    void (*l2sq_f32_batch)(const float *q, const float *base, size_t stride,
                           size_t count, size_t n, float *out);
    void (*dot_f32_batch)(const float *q, const float *base, size_t stride,
                          size_t count, size_t n, float *out);

    /* ---- float32, many queries against a block of vectors (GEMM-like) ----
     * pack_f32 rearranges `count` vectors (row j at x + j * stride) into
     * `packed`, in panels of `panel` vectors stored dimension-major: panel p,
     * dimension d, lane l is packed[(p * n + d) * panel + l], and lanes past
     * `count` in the last panel are zero. `packed` must have room for
     * pack_f32_size(count, n) floats and be 64-byte aligned.
     * dots_f32_packed computes out[i * out_stride + j] = q_i . x_j for
     * i < nq (query i at q + i * q_stride) and j < count. */
    size_t panel;
    void (*pack_f32)(const float *x, size_t stride, size_t count, size_t n,
                     float *packed);
    void (*dots_f32_packed)(const float *q, size_t q_stride, size_t nq,
                            const float *packed, size_t count, size_t n,
                            float *out, size_t out_stride);

    /* ---- 8-bit integers (SQ8 codes) ---- */
    uint32_t (*l2sq_u8)(const uint8_t *a, const uint8_t *b, size_t n);
    uint32_t (*dot_u8)(const uint8_t *a, const uint8_t *b, size_t n);
    uint32_t (*l2sq_i8)(const int8_t *a, const int8_t *b, size_t n);
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, size_t n);

    /* ---- packed bits, n in BYTES ---- */
    uint64_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t n);
    /* 1 - popcount(a & b) / popcount(a | b); 0 when both are all zero. */
    float (*jaccard)(const uint8_t *a, const uint8_t *b, size_t n);
    /* out[j] = hamming(q, base + j * stride, n), stride in bytes */
    void (*hamming_batch)(const uint8_t *q, const uint8_t *base, size_t stride,
                          size_t count, size_t n, uint32_t *out);

    /* ---- float16 storage form (IEEE 754 binary16, as uint16_t) ----
     * f16_to_f32 is exact (subnormals, inf, NaN preserved). f32_to_f16
     * rounds to nearest even, overflows to inf, keeps NaN a NaN. */
    void (*f16_to_f32)(const uint16_t *src, float *dst, size_t n);
    void (*f32_to_f16)(const float *src, uint16_t *dst, size_t n);

    /* ---- float32, one query against four scattered vectors ----
     * out[j] = l2sq / dot of q and x[j], j < 4 (graph search gathers a
     * node's neighbours; computing four at once overlaps their cache
     * misses). The x[j] may repeat. */
    void (*l2sq_f32_x4)(const float *q, const float *const *x, size_t n,
                        float *out);
    void (*dot_f32_x4)(const float *q, const float *const *x, size_t n,
                       float *out);

    /* ---- checksums ----
     * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) state update:
     * callers start from 0xFFFFFFFF and invert at the end; vex_crc32c()
     * in util/crc32c.h does both. Hardware crc32 where the ISA has it. */
    uint32_t (*crc32c_update)(uint32_t crc, const void *p, size_t n);

    /* ---- 4-bit product quantization, fast scan (src/quant/pq.c) ----
     * Sums of 8-bit table entries over the codes of blocks of 32 vectors.
     * `codes` holds n_blocks blocks of m * 16 bytes; in block b, byte
     * j * 16 + i (i < 16) holds the code of vector i for subquantizer j in
     * its low nibble and that of vector i + 16 in its high nibble. `lut`
     * holds m * 16 bytes, entry j * 16 + c for code c of subquantizer j.
     * out[b * 32 + v] = sum over j < m of lut[j * 16 + code(b, v, j)].
     * Exact (wraps nowhere) for m <= VEX_PQ4_MAX_M; the tables are tiny
     * and live in registers, one shuffle looks up 16 or 32 codes. */
    void (*pq4_scan)(const uint8_t *codes, size_t n_blocks, const uint8_t *lut,
                     size_t m, uint16_t *out);

    /* ---- SQ8 codes against a float query (src/quant/sq8.c) ----
     * The asymmetric SQ8 distances with the query folded into tables:
     * sq8_l2 = sum over i < n of (t0[i] - t1[i] * c[i])^2 and
     * sq8_dot = sum over i < n of t[i] * c[i]. The codes are widened to
     * float in registers (no query rounding, unlike the u8 kernels); the
     * ISA versions sum in a different order than the scalar one, so they
     * agree to float rounding, not bit for bit. Any n, any alignment. */
    float (*sq8_l2)(const float *t0, const float *t1, const uint8_t *c,
                    size_t n);
    float (*sq8_dot)(const float *t, const uint8_t *c, size_t n);
} vex_simd_table;

/* Largest subquantizer count of pq4_scan: 256 * 255 < 65536. */
#define VEX_PQ4_MAX_M 256

/* Bytes-independent size helper for pack_f32: floats needed to pack
 * `count` vectors of n dims with panel width `panel`. */
static inline size_t vex_simd_pack_size(size_t panel, size_t count, size_t n)
{
    return ((count + panel - 1) / panel) * panel * n;
}

/* The table in use. Chosen on first call (thread-safe); never NULL. */
const vex_simd_table *vx_simd(void);

/* Individual tables, or NULL when not compiled in / not runnable here.
 * Tests compare every table against the scalar one. */
const vex_simd_table *vx_simd_table_scalar(void);
const vex_simd_table *vx_simd_table_avx2(void);
const vex_simd_table *vx_simd_table_avx512(void);
const vex_simd_table *vx_simd_table_neon(void);

/* Look up a table by name if it can run here, else NULL. */
const vex_simd_table *vx_simd_table_by_name(const char *name);

#endif /* VEX_SIMD_H */
