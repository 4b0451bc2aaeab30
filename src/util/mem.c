/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mem.c - the per-handle allocator (see mem.h).
 */
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

static void *libc_alloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}

static void *libc_realloc(void *user, void *ptr, size_t size)
{
    (void)user;
    return realloc(ptr, size);
}

static void libc_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

int vx_mem_init(vex_mem *m, const vex_allocator *user)
{
    if (user == NULL ||
        (user->alloc == NULL && user->realloc == NULL && user->free == NULL)) {
        m->a.alloc = libc_alloc;
        m->a.realloc = libc_realloc;
        m->a.free = libc_free;
        m->a.user = NULL;
        return VEX_OK;
    }
    if (user->alloc == NULL || user->realloc == NULL || user->free == NULL)
        return VEX_INVALID;
    m->a = *user;
    return VEX_OK;
}

void *vx_mem_alloc(const vex_mem *m, size_t size)
{
    return m->a.alloc(m->a.user, size ? size : 1);
}

void *vx_mem_calloc(const vex_mem *m, size_t count, size_t size)
{
    size_t total;
    void *p;
    if (vex_mul_overflow(count, size, &total))
        return NULL;
    p = vx_mem_alloc(m, total);
    if (p)
        memset(p, 0, total);
    return p;
}

void *vx_mem_realloc(const vex_mem *m, void *ptr, size_t size)
{
    if (ptr == NULL)
        return vx_mem_alloc(m, size);
    return m->a.realloc(m->a.user, ptr, size ? size : 1);
}

void vx_mem_free(const vex_mem *m, void *ptr)
{
    if (ptr)
        m->a.free(m->a.user, ptr);
}

void *vx_mem_alloc_aligned(const vex_mem *m, size_t size, size_t align)
{
    unsigned char *raw, *p;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (size > SIZE_MAX - align - sizeof(void *))
        return NULL;
    raw = vx_mem_alloc(m, size + align + sizeof(void *));
    if (raw == NULL)
        return NULL;
    p = (unsigned char *)(((uintptr_t)(raw + sizeof(void *)) + align - 1) &
                          ~(uintptr_t)(align - 1));
    memcpy(p - sizeof(void *), &raw, sizeof(void *));
    return p;
}

void vx_mem_free_aligned(const vex_mem *m, void *ptr)
{
    void *raw;
    if (ptr == NULL)
        return;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof(void *));
    vx_mem_free(m, raw);
}
