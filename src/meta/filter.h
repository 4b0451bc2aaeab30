/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter.h - the metadata filter language (meta layer; uses src/util and
 * meta/value.h, meta/schema.h). The language, its semantics, limits and
 * error messages are described in docs/FILTERS.md; in short:
 *
 *     year >= 2020 AND lang IN ('en', 'de') AND NOT tags CONTAINS 'draft'
 *
 * Two ways in, one result: vx_vmf_parse compiles text, and the builder
 * (vmf_builder + vx_vmf_eq/vx_vmf_in/vx_vmf_and/...) constructs the same
 * expression from C without formatting strings. Both produce an
 * expression tree in the builder's arena that vx_vmf_build type-checks
 * (against a schema, when one is given), normalizes (NOT pushed down to
 * the leaves, nested AND/OR flattened, IN and CONTAINS ANY/ALL lists
 * sorted and deduplicated) and lays out as a compact node array: a
 * vmf_filter, one immutable allocation that any number of threads may
 * evaluate at once. Equivalent text and builder calls give filters that
 * vx_vmf_equal calls equal and vx_vmf_print prints identically, and
 * parse(print(f)) is equal to f.
 *
 * vx_vmf_eval never allocates. Evaluation is three-valued (SQL): a leaf on a
 * missing or null field, or on a value of another type than its literal,
 * is UNKNOWN; NOT UNKNOWN is UNKNOWN; a record matches when the whole
 * filter is TRUE. So `x != 5` and `NOT x = 5` both skip records without x.
 *
 * Errors: `err` may be NULL; a success leaves it alone. Parse errors read
 * "filter: at offset N: expected ..., found ...", N a byte offset into the
 * text. Internal symbols: vmf_ prefix (hidden from the shared library).
 */
#ifndef VEX_META_FILTER_H
#define VEX_META_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "meta/schema.h"
#include "meta/value.h"

/* ---- limits (docs/FILTERS.md "Limits") ------------------------------ */
#define VMF_MAX_TEXT     1048576u /* bytes of filter text */
#define VMF_MAX_DEPTH    64u      /* nesting of parentheses, NOT, AND/OR */
#define VMF_MAX_NODES    4096u    /* conditions + AND/OR/NOT nodes */
#define VMF_MAX_LIST     1024u    /* values in one IN / ANY / ALL list */
#define VMF_MAX_LITERALS 65536u   /* values in the whole filter */

#define VMF_NO_POS UINT32_MAX /* position of builder-made nodes */

typedef enum vmf_kind {
    VMF_AND = 1,
    VMF_OR,
    VMF_NOT, /* after normalization only over BETWEEN and CONTAINS* */
    VMF_CMP,
    VMF_IN,
    VMF_NOT_IN,
    VMF_BETWEEN, /* lits[0] <= x AND x <= lits[1] */
    VMF_CONTAINS,
    VMF_CONTAINS_ANY,
    VMF_CONTAINS_ALL,
    VMF_IS_NULL,
    VMF_IS_NOT_NULL
} vmf_kind;

typedef enum vmf_op {
    VMF_EQ = 0,
    VMF_NE,
    VMF_LT,
    VMF_LE,
    VMF_GT,
    VMF_GE
} vmf_op;

/* Results of vx_vmf_eval3. */
#define VMF_FALSE   0
#define VMF_TRUE    1
#define VMF_UNKNOWN 2

/* One node of a compiled filter (read-only for users of the module, e.g.
 * a planner). AND/OR: kids[first .. first + n) are node indices; NOT: one
 * kid; leaves: lits[first .. first + n) are the literals (CMP and
 * CONTAINS 1, BETWEEN 2, IS [NOT] NULL 0). */
typedef struct vmf_node {
    uint8_t kind; /* vmf_kind */
    uint8_t op;   /* vmf_op, CMP only */
    uint32_t pos; /* byte offset of the field (leaves) in the text */
    uint32_t first, n;
    vm_str field; /* leaves */
} vmf_node;

typedef struct vmf_filter vmf_filter;

/* ---- text ------------------------------------------------------------- */

/* Compile `len` bytes of filter text (only read; need not be
 * NUL-terminated). With `schema`, fields and literal types are checked
 * against it. VEX_INVALID with a positioned message for any syntax,
 * limit or type error; VEX_NOMEM. On success *out owns the filter (free
 * with vx_vmf_free); on failure *out is NULL. */
int vx_vmf_parse(const char *text, size_t len, const vm_schema *schema,
                 const vex_mem *mem, vex_err *err, vmf_filter **out);

void vx_vmf_free(vmf_filter *f, const vex_mem *mem); /* NULL: no-op */

/* The canonical text of `f`, like snprintf: writes at most size - 1 bytes
 * and a NUL when size > 0, returns the full length. */
size_t vx_vmf_print(const vmf_filter *f, char *buf, size_t size);

/* Same structure, fields and literals (positions ignored). */
int vx_vmf_equal(const vmf_filter *a, const vmf_filter *b);

/* ---- evaluation ------------------------------------------------------- */

/* 1 when record `r` (NULL = no fields) matches, else 0. No allocation;
 * thread-safe on a shared filter. */
int vx_vmf_eval(const vmf_filter *f, const vm_record *r);

/* VMF_TRUE, VMF_FALSE or VMF_UNKNOWN for the whole filter. */
int vx_vmf_eval3(const vmf_filter *f, const vm_record *r);

/* Leaf `node` (a node index of vx_vmf_nodes, not AND/OR/NOT) applied to the
 * field's value v (NULL: the field is missing): VMF_TRUE, VMF_FALSE or
 * VMF_UNKNOWN, exactly as vx_vmf_eval3 decides it for a record holding v.
 * For evaluators over other layouts (meta/column.c). */
int vx_vmf_eval_leaf(const vmf_filter *f, uint32_t node, const vm_value *v);

/* The node array (root first: nodes[0]). */
size_t vx_vmf_n_nodes(const vmf_filter *f);
const vmf_node *vx_vmf_nodes(const vmf_filter *f);
const vm_value *vx_vmf_literals(const vmf_filter *f);
const uint32_t *vx_vmf_kids(const vmf_filter *f);

/* ---- builder ------------------------------------------------------- */

/* A builder owns an arena that holds the expressions made with it (field
 * names and string literals are copied in). Constructors return NULL on
 * a failure (invalid argument, limit, out of memory), which the builder
 * remembers: every later constructor given a NULL expression returns NULL
 * too, and vx_vmf_build reports the first failure. Expressions may be shared
 * between several parents. Not thread-safe. */
typedef struct vmf_builder vmf_builder;
typedef struct vmf_expr vmf_expr;

int vx_vmf_builder_new(const vex_mem *mem, vmf_builder **out);
void vx_vmf_builder_free(vmf_builder *b); /* NULL: no-op */

/* `field` is a NUL-terminated field name. Literals: VM_INT, VM_DOUBLE,
 * VM_STRING, VM_BOOL (only with = and !=, IN, NOT IN). */
vmf_expr *vx_vmf_cmp(vmf_builder *b, const char *field, vmf_op op, vm_value v);
vmf_expr *vx_vmf_eq(vmf_builder *b, const char *field, vm_value v);
vmf_expr *vx_vmf_ne(vmf_builder *b, const char *field, vm_value v);
vmf_expr *vx_vmf_lt(vmf_builder *b, const char *field, vm_value v);
vmf_expr *vx_vmf_le(vmf_builder *b, const char *field, vm_value v);
vmf_expr *vx_vmf_gt(vmf_builder *b, const char *field, vm_value v);
vmf_expr *vx_vmf_ge(vmf_builder *b, const char *field, vm_value v);
/* n in 1..VMF_MAX_LIST values, all numbers, all strings or all bools. */
vmf_expr *vx_vmf_in(vmf_builder *b, const char *field, const vm_value *v,
                    size_t n);
vmf_expr *vx_vmf_not_in(vmf_builder *b, const char *field, const vm_value *v,
                        size_t n);
/* lo and hi both numbers or both strings. */
vmf_expr *vx_vmf_between(vmf_builder *b, const char *field, vm_value lo,
                         vm_value hi);
vmf_expr *vx_vmf_contains(vmf_builder *b, const char *field, vm_value tag);
/* tags: n in 1..VMF_MAX_LIST strings. */
vmf_expr *vx_vmf_contains_any(vmf_builder *b, const char *field,
                              const vm_value *tags, size_t n);
vmf_expr *vx_vmf_contains_all(vmf_builder *b, const char *field,
                              const vm_value *tags, size_t n);
vmf_expr *vx_vmf_is_null(vmf_builder *b, const char *field);
vmf_expr *vx_vmf_is_not_null(vmf_builder *b, const char *field);
vmf_expr *vx_vmf_and(vmf_builder *b, vmf_expr *x, vmf_expr *y);
vmf_expr *vx_vmf_or(vmf_builder *b, vmf_expr *x, vmf_expr *y);
vmf_expr *vx_vmf_not(vmf_builder *b, vmf_expr *x);
/* n >= 1 expressions. */
vmf_expr *vx_vmf_and_n(vmf_builder *b, vmf_expr *const *xs, size_t n);
vmf_expr *vx_vmf_or_n(vmf_builder *b, vmf_expr *const *xs, size_t n);

/* Type-check `root` (against `schema` when not NULL), normalize it and
 * lay it out as a filter allocated from `mem`. Returns the builder's
 * first failure if it had one (VEX_INVALID, VEX_NOMEM), else VEX_INVALID
 * for a type error, VEX_NOMEM. The builder stays usable and owns `root`.
 * On failure *out is NULL. */
int vx_vmf_build(vmf_builder *b, const vmf_expr *root, const vm_schema *schema,
                 const vex_mem *mem, vex_err *err, vmf_filter **out);

#endif
