/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema.h - the optional metadata schema of a collection (meta layer;
 * uses src/util and meta/value.h only). A schema maps field names to a
 * type (bool, int64, double, string, tags) and says whether each field is
 * nullable (may be missing or null) or required (present and not null).
 * It is either closed (a record may hold only the fields it names) or
 * open (other fields are allowed and untyped).
 *
 * Records are validated with vx_vm_schema_check; filters are type-checked
 * against a schema by vx_vmf_parse/vx_vmf_build (filter.h). The schema blob
 * (vx_vm_schema_encode/decode, docs/FORMAT.md "Schema blob") is versioned and
 * carries a CRC32C, for the collection manifest; the loader is strict.
 *
 * A vm_schema is one immutable allocation; several threads may read it.
 * Errors: `err` may be NULL; a success leaves it alone.
 */
#ifndef VEX_META_SCHEMA_H
#define VEX_META_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "meta/value.h"

#define VM_SCHEMA_VERSION    1u
#define VM_SCHEMA_MAX_FIELDS VM_MAX_FIELDS

typedef struct vm_schema_field {
    vm_str name;  /* vx_vm_name_valid */
    vm_type type; /* VM_BOOL .. VM_TAGS (not VM_NULL) */
    int nullable; /* 0: required (present, not null); 1: may be absent */
} vm_schema_field;

typedef struct vm_schema vm_schema;

/* Build a schema from `n` field declarations (only read, any order; names
 * distinct). `closed`: 1 rejects record fields the schema does not name
 * (and filter fields likewise), 0 allows them. VEX_INVALID with a message
 * naming the field, VEX_NOMEM. On failure *out is NULL. */
int vx_vm_schema_new(const vm_schema_field *fields, size_t n, int closed,
                     const vex_mem *mem, vex_err *err, vm_schema **out);

void vx_vm_schema_free(vm_schema *s, const vex_mem *mem); /* NULL: no-op */

/* Declarations sorted by name; they live as long as the schema. */
size_t vx_vm_schema_n_fields(const vm_schema *s);
const vm_schema_field *vx_vm_schema_fields(const vm_schema *s);
int vx_vm_schema_closed(const vm_schema *s);

/* The declaration of `name` (len bytes), or NULL. */
const vm_schema_field *vx_vm_schema_find(const vm_schema *s, const char *name,
                                         size_t len);

/* Validate a record (NULL = no fields). VEX_INVALID naming the first
 * offending field in name order: `metadata: field "year": expected int64,
 * got string`, `... field "year": required but missing`, `... required
 * but null`, `... field "foo" is not in the schema` (closed schemas).
 * An int64 value is not accepted for a double field (no silent
 * conversion). */
int vx_vm_schema_check(const vm_schema *s, const vm_record *r, vex_err *err);

int vx_vm_schema_equal(const vm_schema *a, const vm_schema *b);

size_t vx_vm_schema_encoded_size(const vm_schema *s);
/* Writes vx_vm_schema_encoded_size(s) bytes; returns that number. */
size_t vx_vm_schema_encode(const vm_schema *s, unsigned char *buf);

/* Strict loader for `len` untrusted bytes: VEX_CORRUPT ("schema: <what>
 * at offset N") for damage, a bad checksum, trailing bytes, unsorted or
 * duplicate names, unknown types or flags; VEX_UNSUPPORTED for a newer
 * version; VEX_NOMEM. On failure *out is NULL. */
int vx_vm_schema_decode(const unsigned char *buf, size_t len,
                        const vex_mem *mem, vex_err *err, vm_schema **out);

#endif
