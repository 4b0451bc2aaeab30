/*
 * meta_api.h - the engine's view of the public vex_meta handle
 * (meta_api.c): the record it holds, and a way to replace it. Internal;
 * the vx_ prefix keeps these out of the exported symbols.
 */
#ifndef VEX_ENGINE_META_API_H
#define VEX_ENGINE_META_API_H

#include "meta/value.h"
#include "vexdb.h"

/* The record the handle holds (NULL when it has no fields). */
const vm_record *vx_meta_record(const vex_meta *m);

/* Replace the handle's record with `rec`, which was allocated with the
 * handle's allocator (vx_meta_mem) and now belongs to the handle (NULL:
 * clear it). */
void vx_meta_take(vex_meta *m, vm_record *rec);

/* The handle's allocator. */
const vex_mem *vx_meta_mem(const vex_meta *m);

#endif
