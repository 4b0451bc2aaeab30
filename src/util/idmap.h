/* SPDX-License-Identifier: Apache-2.0 */
/*
 * idmap.h - hash map from 64-bit user ids to 64-bit values (slots).
 *
 * Open addressing with linear probing and backward-shift deletion, so there
 * are no tombstones and lookups stay short after many removals. Any 64-bit
 * key is allowed (0 and UINT64_MAX included): emptiness is marked in the
 * value array, which stores value + 1. Values must be < UINT64_MAX.
 * Not thread-safe; the owner locks.
 */
#ifndef VEX_UTIL_IDMAP_H
#define VEX_UTIL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/mem.h"

typedef struct vex_idmap {
    const vex_mem *mem;
    uint64_t *keys;
    uint64_t *vals; /* value + 1; 0 = empty */
    size_t cap;     /* power of two, or 0 */
    size_t count;
} vex_idmap;

void vx_idmap_init(vex_idmap *m, const vex_mem *mem);
void vx_idmap_destroy(vex_idmap *m);

/* Make room for `n` keys in total without rehashing. VEX_NOMEM. */
int vx_idmap_reserve(vex_idmap *m, size_t n);

/* 1 and *val set if present, else 0. */
int vx_idmap_get(const vex_idmap *m, uint64_t key, uint64_t *val);

/* Insert or replace. VEX_NOMEM if growing fails (the map is unchanged). */
int vx_idmap_put(vex_idmap *m, uint64_t key, uint64_t val);

/* 1 if the key was present and is now gone, else 0. */
int vx_idmap_remove(vex_idmap *m, uint64_t key);

size_t vx_idmap_memory(const vex_idmap *m);

#endif
