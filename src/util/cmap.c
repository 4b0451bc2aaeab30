/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmap.c - single-writer, lock-free-reader hash map (see cmap.h).
 */
#include "util/cmap.h"

#include "util/hash.h"
#include "vexdb.h"

void vx_cmap_init(vex_cmap *m, const vex_mem *mem)
{
    m->mem = mem;
    atomic_init(&m->table, NULL);
    m->count = 0;
}

static void table_free(const vex_mem *mem, vex_cmap_table *t)
{
    while (t) {
        vex_cmap_table *next = t->retired;
        vx_mem_free(mem, t->keys);
        vx_mem_free(mem, (void *)t->vals);
        vx_mem_free(mem, t);
        t = next;
    }
}

void vx_cmap_destroy(vex_cmap *m)
{
    table_free(m->mem, atomic_load_explicit(&m->table, memory_order_relaxed));
    atomic_init(&m->table, NULL);
    m->count = 0;
}

/* Store into a table no reader can see yet, or a fresh slot (the writer
 * publishes the value last). */
static void slot_put(vex_cmap_table *t, uint64_t key, uint64_t v1)
{
    size_t mask = t->cap - 1, h = vex_hash_u64(key) & mask;
    for (;;) {
        uint64_t cur = atomic_load_explicit(&t->vals[h], memory_order_relaxed);
        if (cur == 0) {
            t->keys[h] = key;
            atomic_store_explicit(&t->vals[h], v1, memory_order_release);
            return;
        }
        if (t->keys[h] == key) {
            atomic_store_explicit(&t->vals[h], v1, memory_order_release);
            return;
        }
        h = (h + 1) & mask;
    }
}

static int cmap_grow(vex_cmap *m, size_t cap)
{
    vex_cmap_table *old = atomic_load_explicit(&m->table, memory_order_relaxed);
    vex_cmap_table *t = vx_mem_calloc(m->mem, 1, sizeof *t);
    if (t == NULL)
        return VEX_NOMEM;
    t->cap = cap;
    t->keys = vx_mem_alloc(m->mem, cap * sizeof *t->keys);
    t->vals = vx_mem_calloc(m->mem, cap, sizeof *t->vals);
    if (t->keys == NULL || t->vals == NULL) {
        table_free(m->mem, t);
        return VEX_NOMEM;
    }
    if (old) {
        for (size_t i = 0; i < old->cap; i++) {
            uint64_t v =
                atomic_load_explicit(&old->vals[i], memory_order_relaxed);
            if (v)
                slot_put(t, old->keys[i], v);
        }
    }
    t->retired = old;
    atomic_store_explicit(&m->table, t, memory_order_release);
    return VEX_OK;
}

int vx_cmap_reserve(vex_cmap *m, size_t n)
{
    vex_cmap_table *t = atomic_load_explicit(&m->table, memory_order_relaxed);
    size_t cap = 16;
    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 4)
            return VEX_NOMEM;
        cap *= 2;
    }
    if (t && t->cap >= cap)
        return VEX_OK;
    return cmap_grow(m, cap);
}

int vx_cmap_put(vex_cmap *m, uint64_t key, uint64_t val)
{
    vex_cmap_table *t = atomic_load_explicit(&m->table, memory_order_relaxed);
    uint64_t old;
    if (val == UINT64_MAX)
        return VEX_INVALID;
    if (t && vx_cmap_get(m, key, &old)) {
        slot_put(t, key, val + 1);
        return VEX_OK;
    }
    if (t == NULL || (m->count + 1) * 2 > t->cap) {
        int rc = vx_cmap_reserve(m, m->count + 1 > 8 ? (m->count + 1) * 2 : 8);
        if (rc != VEX_OK)
            return rc;
        t = atomic_load_explicit(&m->table, memory_order_relaxed);
    }
    slot_put(t, key, val + 1);
    m->count++;
    return VEX_OK;
}

int vx_cmap_get(const vex_cmap *m, uint64_t key, uint64_t *val)
{
    vex_cmap_table *t =
        atomic_load_explicit(&((vex_cmap *)m)->table, memory_order_acquire);
    size_t mask, h;
    if (t == NULL)
        return 0;
    mask = t->cap - 1;
    h = vex_hash_u64(key) & mask;
    for (;;) {
        uint64_t v = atomic_load_explicit(&t->vals[h], memory_order_acquire);
        if (v == 0)
            return 0;
        if (t->keys[h] == key) {
            if (val)
                *val = v - 1;
            return 1;
        }
        h = (h + 1) & mask;
    }
}

size_t vx_cmap_memory(const vex_cmap *m)
{
    size_t b = 0;
    for (vex_cmap_table *t = atomic_load_explicit(&((vex_cmap *)m)->table,
                                                  memory_order_relaxed);
         t; t = t->retired)
        b += sizeof *t + t->cap * (sizeof(uint64_t) * 2);
    return b;
}
