/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meta_api.h - the engine's view of the public vex_meta handle
 * (meta_api.c): the record it holds, and a way to replace it. Internal;
 * the vx_ prefix keeps these out of the exported symbols.
 */
#ifndef VEX_ENGINE_META_API_H
#define VEX_ENGINE_META_API_H

#include "meta/value.h"
#include "util/mem.h"
#include "vexdb.h"

/* The record the handle holds (NULL when it has no fields). */
const vm_record *vx_meta_record(const vex_meta *m);

/* Replace the handle's record with `rec`, which was allocated with the
 * handle's allocator (vx_meta_mem) and now belongs to the handle (NULL:
 * clear it). */
void vx_meta_take(vex_meta *m, vm_record *rec);

/* The handle's allocator. */
const vex_mem *vx_meta_mem(const vex_meta *m);

/* Views for a results set (engine/results.c): a handle allocated on
 * `mem` whose records are allocated on `rec_mem`, an arena that the
 * results set resets as a whole, so a view never frees a record:
 * vx_meta_view_set replaces the record without freeing the old one. Free
 * a view with vx_meta_view_free on the same `mem`, never vex_meta_free.
 * Callers only read a view (it is handed out as const vex_meta *). */
int vx_meta_view_new(const vex_mem *mem, const vex_mem *rec_mem,
                     vex_meta **out);
void vx_meta_view_set(vex_meta *m, vm_record *rec);
void vx_meta_view_free(vex_meta *m, const vex_mem *mem);

#endif
