/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mem.h - the per-handle allocator.
 *
 * Every handle owns a vex_mem built from the user's vex_allocator (or the C
 * library's functions). All allocations of the library go through it, which
 * is what lets the tests fail the Nth allocation and check that every path
 * returns VEX_NOMEM without leaking. Aligned allocations (SIMD data) are
 * carved out of a slightly larger block with the original pointer stored
 * just before the aligned address.
 */
#ifndef VEX_UTIL_MEM_H
#define VEX_UTIL_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "vexdb.h"

typedef struct vex_mem {
    vex_allocator a;
} vex_mem;

/* Fill `m` from a user allocator, or libc's when `user` is NULL. Returns
 * VEX_INVALID when the allocator is only partly filled in. */
int vx_mem_init(vex_mem *m, const vex_allocator *user);

void *vx_mem_alloc(const vex_mem *m, size_t size);
void *vx_mem_calloc(const vex_mem *m, size_t count, size_t size);
void *vx_mem_realloc(const vex_mem *m, void *ptr, size_t size);
void vx_mem_free(const vex_mem *m, void *ptr);

/* `align` is a power of two <= 4096. Free with vx_mem_free_aligned. */
void *vx_mem_alloc_aligned(const vex_mem *m, size_t size, size_t align);
void vx_mem_free_aligned(const vex_mem *m, void *ptr);

/* a * b without overflow: returns 0 and sets *out, or -1 on overflow. */
static inline int vex_mul_overflow(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

#endif
