/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simd_impl.h - helpers shared by the kernel files (not part of the simd
 * interface). Finishing steps are shared so that every ISA returns exactly
 * the same value for the same partial sums.
 */
#ifndef VEX_SIMD_IMPL_H
#define VEX_SIMD_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "simd/simd.h"

/* 1 - dot / sqrt(na2 * nb2), clamped to [0, 2]; 0 if both norms are zero,
 * 1 if one is. */
float vx_cosine_from_parts(float dot, float na2, float nb2);
/* 1 - inter / uni, 0 when uni == 0 */
float vx_jaccard_from_counts(uint64_t inter, uint64_t uni);
float vx_f16_to_f32_one(uint16_t h);
uint16_t vx_f32_to_f16_one(float f);
/* Reference packing for any panel width (see simd.h pack_f32). */
void vx_pack_f32_generic(size_t panel, const float *x, size_t stride,
                         size_t count, size_t n, float *packed);

/* The ISA tables, each defined in its own file compiled with its own
 * target flags (only present when CMake compiled that file in; the
 * dispatcher checks the CPU before handing one out). */
extern const vex_simd_table vx_simd_avx2_table;
extern const vex_simd_table vx_simd_avx512_table;
extern const vex_simd_table vex_simd_neon_table;

/* Table-driven CRC32C state update (see simd.h crc32c_update). */
uint32_t vx_crc32c_update_scalar(uint32_t crc, const void *p, size_t n);
/* SSE4.2 crc32 version (simd_avx2.c; the avx512 table shares it). */
uint32_t vx_crc32c_update_sse42(uint32_t crc, const void *p, size_t n);

/* Scalar pq4_scan, shared by tables without their own (NEON). */
void vx_pq4_scan_scalar(const uint8_t *codes, size_t n_blocks,
                        const uint8_t *lut, size_t m, uint16_t *out);

/* Scalar SQ8 asymmetric kernels, shared by tables without their own
 * (NEON). */
float vx_sq8_l2_scalar(const float *t0, const float *t1, const uint8_t *c,
                       size_t n);
float vx_sq8_dot_scalar(const float *t, const uint8_t *c, size_t n);

#endif
