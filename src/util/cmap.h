/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmap.h - a hash map from 64-bit keys to 64-bit values for ONE writer and
 * any number of lock-free readers.
 *
 * The memtable uses it for id -> newest row: the write path (one thread
 * at a time, serialised by the caller) inserts and updates, and searches
 * and gets read it concurrently without taking any lock.
 *
 * How. Open addressing with linear probing; a slot is (key, value + 1),
 * value 0 meaning empty. The writer stores the key first and then the value
 * with release; a reader loads the value with acquire and only then reads
 * the key, so it never sees a half-written slot. Keys are never removed
 * (the memtable never forgets an id; it ends rows instead), so probe
 * chains never shrink under a reader. Growing builds a new table, copies,
 * and publishes it with one release store; the old table cannot be freed
 * while a reader may still be probing it, so it is kept on a retired list
 * until vx_cmap_destroy (the tables sum to less than twice the final one).
 *
 * Threading: vx_cmap_put/reserve by one thread at a time (the caller's
 * lock); vx_cmap_get from any thread at any time, also during a put;
 * init/destroy with no other call running. Values must be < UINT64_MAX.
 */
#ifndef VEX_UTIL_CMAP_H
#define VEX_UTIL_CMAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mem.h"

typedef struct vex_cmap_table {
    struct vex_cmap_table *retired; /* older tables, kept for readers */
    size_t cap;                     /* power of two */
    uint64_t *keys;
    _Atomic uint64_t *vals; /* value + 1; 0 = empty */
} vex_cmap_table;

typedef struct vex_cmap {
    const vex_mem *mem;
    _Atomic(vex_cmap_table *) table; /* NULL until the first put */
    size_t count;                    /* writer's */
} vex_cmap;

void vx_cmap_init(vex_cmap *m, const vex_mem *mem);
void vx_cmap_destroy(vex_cmap *m);

/* Room for `n` keys in total without growing. VEX_NOMEM. Writer only. */
int vx_cmap_reserve(vex_cmap *m, size_t n);

/* Insert or replace. VEX_NOMEM when growing fails (the map is unchanged).
 * Writer only. */
int vx_cmap_put(vex_cmap *m, uint64_t key, uint64_t val);

/* 1 and *val when present, else 0. Any thread, lock-free. */
int vx_cmap_get(const vex_cmap *m, uint64_t key, uint64_t *val);

/* Bytes held, retired tables included. Writer only. */
size_t vx_cmap_memory(const vex_cmap *m);

#endif
