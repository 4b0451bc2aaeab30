/* SPDX-License-Identifier: Apache-2.0 */
/*
 * idmap.c - id -> slot hash map (see idmap.h).
 */
#include "util/idmap.h"

#include "util/hash.h"
#include "vexdb.h"

void vx_idmap_init(vex_idmap *m, const vex_mem *mem)
{
    m->mem = mem;
    m->keys = NULL;
    m->vals = NULL;
    m->cap = 0;
    m->count = 0;
}

void vx_idmap_destroy(vex_idmap *m)
{
    vx_mem_free(m->mem, m->keys);
    vx_mem_free(m->mem, m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->count = 0;
}

static int idmap_rehash(vex_idmap *m, size_t new_cap)
{
    uint64_t *keys = vx_mem_alloc(m->mem, new_cap * sizeof *keys);
    uint64_t *vals = vx_mem_calloc(m->mem, new_cap, sizeof *vals);
    size_t i, mask = new_cap - 1;
    if (keys == NULL || vals == NULL) {
        vx_mem_free(m->mem, keys);
        vx_mem_free(m->mem, vals);
        return VEX_NOMEM;
    }
    for (i = 0; i < m->cap; i++) {
        size_t h;
        if (m->vals[i] == 0)
            continue;
        h = vex_hash_u64(m->keys[i]) & mask;
        while (vals[h] != 0)
            h = (h + 1) & mask;
        keys[h] = m->keys[i];
        vals[h] = m->vals[i];
    }
    vx_mem_free(m->mem, m->keys);
    vx_mem_free(m->mem, m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = new_cap;
    return VEX_OK;
}

int vx_idmap_reserve(vex_idmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 16;
    /* keep the load factor <= 0.5: probes stay short with linear probing */
    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 4 / sizeof(uint64_t))
            return VEX_NOMEM;
        cap *= 2;
    }
    if (cap == m->cap)
        return VEX_OK;
    return idmap_rehash(m, cap);
}

int vx_idmap_get(const vex_idmap *m, uint64_t key, uint64_t *val)
{
    size_t mask, h;
    if (m->cap == 0)
        return 0;
    mask = m->cap - 1;
    for (h = vex_hash_u64(key) & mask; m->vals[h] != 0; h = (h + 1) & mask) {
        if (m->keys[h] == key) {
            *val = m->vals[h] - 1;
            return 1;
        }
    }
    return 0;
}

int vx_idmap_put(vex_idmap *m, uint64_t key, uint64_t val)
{
    size_t mask, h;
    int rc = vx_idmap_reserve(m, m->count + 1);
    if (rc != VEX_OK)
        return rc;
    mask = m->cap - 1;
    for (h = vex_hash_u64(key) & mask; m->vals[h] != 0; h = (h + 1) & mask) {
        if (m->keys[h] == key) {
            m->vals[h] = val + 1;
            return VEX_OK;
        }
    }
    m->keys[h] = key;
    m->vals[h] = val + 1;
    m->count++;
    return VEX_OK;
}

int vx_idmap_remove(vex_idmap *m, uint64_t key)
{
    size_t mask, h, j;
    if (m->cap == 0)
        return 0;
    mask = m->cap - 1;
    for (h = vex_hash_u64(key) & mask;; h = (h + 1) & mask) {
        if (m->vals[h] == 0)
            return 0;
        if (m->keys[h] == key)
            break;
    }
    /* Backward-shift deletion: move later members of the probe run into
     * the hole when their home slot is not between the hole and them. */
    j = h;
    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (m->vals[j] == 0)
            break;
        home = vex_hash_u64(m->keys[j]) & mask;
        if (((j - home) & mask) >= ((j - h) & mask)) {
            m->keys[h] = m->keys[j];
            m->vals[h] = m->vals[j];
            h = j;
        }
    }
    m->vals[h] = 0;
    m->count--;
    return 1;
}

size_t vx_idmap_memory(const vex_idmap *m)
{
    return m->cap * 2 * sizeof(uint64_t);
}
