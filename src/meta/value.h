/* SPDX-License-Identifier: Apache-2.0 */
/*
 * value.h - typed metadata values and a record's metadata (the meta
 * layer; uses only src/util). A record's metadata is a small set of
 * (field name, value) pairs kept sorted by name (bytewise), each name at
 * most once. Values are int64, double, string (bytes, valid UTF-8), bool,
 * tags (a list of strings) or null. A vm_record is one allocation that
 * owns copies of every name and byte it holds (deep copy on creation); it
 * is immutable afterwards, so several threads may read it at once.
 *
 * The binary encoding (vx_vm_record_encode/decode, docs/FORMAT.md "Record
 * metadata encoding") is what the write-ahead log and the memtable store:
 * little-endian, length-prefixed, versioned and canonical (a buffer that
 * decodes re-encodes to the same bytes). The decoder treats its input as
 * hostile: every length is checked against the buffer and the limits
 * below, and any damage is VEX_CORRUPT with the byte offset.
 *
 * Errors: `err` may be NULL everywhere; a success leaves it alone.
 * Internal symbols use the vm_ prefix (hidden from the shared library).
 */
#ifndef VEX_META_VALUE_H
#define VEX_META_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"

/* ---- limits (each checked by vx_vm_record_new and the decoder) ---------- */
#define VM_MAX_NAME    64u      /* bytes in a field name (at least 1) */
#define VM_MAX_FIELDS  256u     /* fields in one record */
#define VM_MAX_STRING  65536u   /* bytes in one string value */
#define VM_MAX_TAG     256u     /* bytes in one tag */
#define VM_MAX_TAGS    1024u    /* tags in one record (all tag fields) */
#define VM_MAX_ENCODED 1048576u /* bytes of one record's encoding */

/* Encoding version written by vx_vm_record_encode (byte 0 of the encoding). */
#define VM_RECORD_VERSION 1u

/* Type codes; the numbers are part of the encoding and the schema blob. */
typedef enum vm_type {
    VM_NULL = 0,
    VM_BOOL = 1,
    VM_INT = 2,
    VM_DOUBLE = 3,
    VM_STRING = 4,
    VM_TAGS = 5
} vm_type;
#define VM_TYPE_MAX 5

/* Bytes with a length; not NUL-terminated in general. */
typedef struct vm_str {
    const char *p;
    uint32_t len;
} vm_str;

/* A value. A string and a tag list point at bytes owned by someone else
 * (the caller when building, the record once inside one). */
typedef struct vm_value {
    vm_type type;
    union {
        int b; /* 0 or 1 */
        int64_t i;
        double d; /* never NaN */
        vm_str s;
        struct {
            const vm_str *v;
            uint32_t n;
        } tags;
    } u;
} vm_value;

typedef struct vm_field {
    vm_str name;
    vm_value v;
} vm_field;

/* Opaque: one block holding the sorted field array and every byte. */
typedef struct vm_record vm_record;

/* -1, 0 or 1 comparing a and b bytewise, a proper prefix first: the order
 * of field names in records and schemas and of strings in filters and
 * column dictionaries. */
int vx_vm_str_cmp(const vm_str *a, const vm_str *b);

/* ---- value constructors (no allocation, nothing copied) ----------- */
vm_value vx_vm_null(void);
vm_value vx_vm_bool(int b);
vm_value vx_vm_int(int64_t i);
vm_value vx_vm_double(double d);
vm_value vx_vm_string(const char *p, size_t len);
vm_value vx_vm_cstring(const char *s); /* strlen(s) bytes */
vm_value vx_vm_tags(const vm_str *tags, size_t n);

/* "null", "bool", "int64", "double", "string", "tags" ("?" otherwise). */
const char *vx_vm_type_name(int type);

/* 1 when p[0..len) is valid UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0. */
int vx_vm_utf8_valid(const void *p, size_t len);

/* Length of the longest valid UTF-8 prefix of p[0..len) that ends on a
 * character boundary: len when all of it is valid, else the offset of
 * the first byte of the first invalid sequence. */
size_t vx_vm_utf8_prefix(const void *p, size_t len);

/* 1 when `p[0..len)` may be a field name: 1..VM_MAX_NAME bytes of valid
 * UTF-8 without control characters (bytes < 0x20 and 0x7F). */
int vx_vm_name_valid(const void *p, size_t len);

/* Check one value against the per-value limits (string length and UTF-8,
 * tag count and lengths, no NaN, bool 0/1, known type). VEX_INVALID with
 * a message naming `what` (e.g. `field "year"`) otherwise. */
int vx_vm_value_check(const vm_value *v, const char *what, vex_err *err);

/* Values equal in type and content (doubles by bits, so -0.0 != 0.0 and
 * the comparison is exact; tags in order). */
int vx_vm_value_same(const vm_value *a, const vm_value *b);

/* ---- records ------------------------------------------------------ */

/* Build a record from `n` fields (only read; names need not be sorted):
 * every name and value is checked (vx_vm_name_valid, vx_vm_value_check), names
 * must be distinct, and the record must respect VM_MAX_FIELDS,
 * VM_MAX_TAGS and VM_MAX_ENCODED. VEX_INVALID with a message naming the
 * field, VEX_NOMEM. On success *out owns a deep copy (free with
 * vx_vm_record_free); on failure *out is NULL. n == 0 gives an empty record. */
int vx_vm_record_new(const vm_field *fields, size_t n, const vex_mem *mem,
                     vex_err *err, vm_record **out);

/* Deep copy (VEX_NOMEM only). */
int vx_vm_record_copy(const vm_record *r, const vex_mem *mem, vm_record **out);

void vx_vm_record_free(vm_record *r, const vex_mem *mem); /* NULL: no-op */

/* Fields in name order; the pointers live as long as the record. A NULL
 * record is an empty one. */
size_t vx_vm_record_n_fields(const vm_record *r);
const vm_field *vx_vm_record_fields(const vm_record *r);

/* The value of field `name` (len bytes), or NULL when absent. */
const vm_value *vx_vm_record_get(const vm_record *r, const char *name,
                                 size_t len);

/* Same fields with the same values (vx_vm_value_same). */
int vx_vm_record_equal(const vm_record *a, const vm_record *b);

/* Bytes vx_vm_record_encode writes for `r`. */
size_t vx_vm_record_encoded_size(const vm_record *r);

/* Write the encoding into buf[0..vx_vm_record_encoded_size(r)); returns the
 * number of bytes written. */
size_t vx_vm_record_encode(const vm_record *r, unsigned char *buf);

/* Parse `len` untrusted bytes (only read) into a new record. VEX_CORRUPT
 * ("record metadata: <what> at offset N") for any damage, truncation,
 * trailing bytes, broken limit or non-canonical form; VEX_UNSUPPORTED for
 * a newer version; VEX_NOMEM. Allocates at most one block no larger than
 * a small multiple of `len`. On failure *out is NULL. */
int vx_vm_record_decode(const unsigned char *buf, size_t len,
                        const vex_mem *mem, vex_err *err, vm_record **out);

#endif
