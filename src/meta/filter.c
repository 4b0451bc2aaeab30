/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter.c - compiled metadata filters (interface in filter.h, language
 * in docs/FILTERS.md): the builder and its arena, the normalizer and type
 * checker, the layout into one block, the canonical printer, structural
 * equality and the evaluator. The parser is in filter_parse.c; both build
 * trees through vx_vmfi_leaf/vx_vmfi_node (filter_int.h). Meta layer.
 *
 * Normalization (vx_vmf_build) and why each rule is exact under the
 * three-valued semantics (a leaf is UNKNOWN when the field is missing,
 * null, or of another class than the literal; never otherwise):
 *  1. NOT is pushed to the leaves: NOT NOT a = a; De Morgan for AND/OR
 *     (Kleene logic keeps it); NOT (x op v) = x op' v with the opposite
 *     operator, NOT (x IN l) = x NOT IN l, NOT (x IS NULL) = x IS NOT NULL.
 *     Each pair is UNKNOWN in the same cases and complementary otherwise
 *     (values are never NaN, so the order on numbers is total). NOT stays
 *     only over BETWEEN and CONTAINS/ANY/ALL, which have no complement
 *     node.
 *  2. Nested AND in AND and OR in OR are flattened.
 *  3. IN, NOT IN, CONTAINS ANY and CONTAINS ALL lists are sorted
 *     (numbers by value, an int before an equal double; strings
 *     bytewise) and exact duplicates dropped; evaluation binary-searches
 *     them.
 * The order of AND/OR operands is kept (it is the short-circuit order).
 *
 * Layout: nodes in pre-order (root at 0), the kid index lists, the
 * literals and every byte (field names, strings) in one allocation, so
 * vx_vmf_eval touches one block and never allocates. All recursion is
 * bounded by VMF_MAX_DEPTH, enforced when a tree node is made.
 */
#include "meta/filter_int.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vmf_chunk {
    vmf_chunk *next;
    size_t cap, used;
    unsigned char data[];
};

struct vmf_filter {
    uint32_t n_nodes, n_kids, n_lits;
    vmf_node *nodes;
    uint32_t *kids;
    vm_value *lits;
};

/* ---- arena and failures ---------------------------------------------- */

#define CHUNK_SIZE 16384u

void *vx_vmfi_alloc(vmf_builder *b, size_t size)
{
    vmf_chunk *c = b->chunks;
    void *p;
    size = (size + 7) & ~(size_t)7;
    if (size == 0)
        size = 8;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        c = vx_mem_alloc(&b->mem, sizeof(vmf_chunk) + cap);
        if (c == NULL)
            return vx_vmfi_fail(b, VEX_NOMEM, VMF_NO_POS, "out of memory");
        c->cap = cap;
        c->used = 0;
        /* A big private chunk goes behind the current one, so the
         * current one keeps serving small requests. */
        if (b->chunks && cap > CHUNK_SIZE) {
            c->next = b->chunks->next;
            b->chunks->next = c;
        } else {
            c->next = b->chunks;
            b->chunks = c;
        }
    }
    p = c->data + c->used;
    c->used += size;
    return p;
}

void *vx_vmfi_fail(vmf_builder *b, int rc, uint32_t pos, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->rc != VEX_OK)
        return NULL;
    b->rc = rc;
    if (pos != VMF_NO_POS)
        n = snprintf(b->msg, sizeof b->msg,
                     "filter: at offset %lu: ", (unsigned long)pos);
    else
        n = snprintf(b->msg, sizeof b->msg, "filter: ");
    if (n < 0 || (size_t)n >= sizeof b->msg)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(b->msg + n, sizeof b->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return NULL;
}

int vx_vmf_builder_new(const vex_mem *mem, vmf_builder **out)
{
    vmf_builder *b = vx_mem_alloc(mem, sizeof *b);
    *out = NULL;
    if (b == NULL)
        return VEX_NOMEM;
    b->mem = *mem;
    b->chunks = NULL;
    b->rc = VEX_OK;
    b->msg[0] = '\0';
    *out = b;
    return VEX_OK;
}

void vx_vmf_builder_free(vmf_builder *b)
{
    vmf_chunk *c, *next;
    vex_mem mem;
    if (b == NULL)
        return;
    mem = b->mem;
    for (c = b->chunks; c; c = next) {
        next = c->next;
        vx_mem_free(&mem, c);
    }
    vx_mem_free(&mem, b);
}

/* ---- tree constructors ------------------------------------------------ */

int vx_vmfi_class(int type)
{
    switch (type) {
    case VM_INT:
    case VM_DOUBLE:
        return VMF_CLS_NUM;
    case VM_STRING:
        return VMF_CLS_STR;
    case VM_BOOL:
        return VMF_CLS_BOOL;
    default:
        return VMF_CLS_NONE;
    }
}

static const char *class_name(int cls)
{
    return cls == VMF_CLS_NUM   ? "a number"
           : cls == VMF_CLS_STR ? "a string"
                                : "a bool";
}

static const char *const op_text[] = {"=", "!=", "<", "<=", ">", ">="};

static const char *kind_text(int kind)
{
    switch (kind) {
    case VMF_IN:
        return "IN";
    case VMF_NOT_IN:
        return "NOT IN";
    case VMF_BETWEEN:
        return "BETWEEN";
    case VMF_CONTAINS:
        return "CONTAINS";
    case VMF_CONTAINS_ANY:
        return "CONTAINS ANY";
    case VMF_CONTAINS_ALL:
        return "CONTAINS ALL";
    case VMF_IS_NULL:
        return "IS NULL";
    case VMF_IS_NOT_NULL:
        return "IS NOT NULL";
    default:
        return "comparison";
    }
}

static vm_str arena_str(vmf_builder *b, vm_str s)
{
    vm_str r = {NULL, 0};
    char *p = vx_vmfi_alloc(b, s.len ? s.len : 1);
    if (p == NULL)
        return r;
    if (s.len)
        memcpy(p, s.p, s.len);
    r.p = p;
    r.len = s.len;
    return r;
}

vmf_expr *vx_vmfi_leaf(vmf_builder *b, int kind, int op, vm_str field,
                       uint32_t pos, const vm_value *lits, size_t n,
                       uint32_t lit_pos)
{
    vmf_expr *e;
    size_t i, lo = 1, hi = 1;
    int cls = VMF_CLS_NONE;

    if (b->rc != VEX_OK)
        return NULL;
    if (field.p == NULL || !vx_vm_name_valid(field.p, field.len))
        return vx_vmfi_fail(b, VEX_INVALID, pos,
                            "invalid field name (1..%u bytes of UTF-8 without "
                            "control characters)",
                            VM_MAX_NAME);
    switch (kind) {
    case VMF_CMP:
        if (op < VMF_EQ || op > VMF_GE)
            return vx_vmfi_fail(b, VEX_INVALID, pos, "unknown operator %d", op);
        break;
    case VMF_IN:
    case VMF_NOT_IN:
    case VMF_CONTAINS_ANY:
    case VMF_CONTAINS_ALL:
        hi = VMF_MAX_LIST;
        break;
    case VMF_BETWEEN:
        lo = hi = 2;
        break;
    case VMF_CONTAINS:
        break;
    case VMF_IS_NULL:
    case VMF_IS_NOT_NULL:
        lo = hi = 0;
        break;
    default:
        return vx_vmfi_fail(b, VEX_INVALID, pos, "unknown condition kind %d",
                            kind);
    }
    if (n < lo || n > hi) {
        if (n > VMF_MAX_LIST)
            return vx_vmfi_fail(
                b, VEX_INVALID, pos,
                "field \"%.*s\": more than %u values in one list",
                (int)field.len, field.p, VMF_MAX_LIST);
        return vx_vmfi_fail(b, VEX_INVALID, pos,
                            "field \"%.*s\": %s takes %lu value%s, not %lu",
                            (int)field.len, field.p, kind_text(kind),
                            (unsigned long)lo, lo == 1 ? "" : "s",
                            (unsigned long)n);
    }
    if (n > 0 && lits == NULL)
        return vx_vmfi_fail(b, VEX_INVALID, pos, "field \"%.*s\": no values",
                            (int)field.len, field.p);
    for (i = 0; i < n; i++) {
        const vm_value *v = &lits[i];
        int c = vx_vmfi_class(v->type);
        if (v->type == VM_NULL)
            return vx_vmfi_fail(b, VEX_INVALID, lit_pos,
                                "field \"%.*s\": NULL is not a value; use IS "
                                "NULL or IS NOT NULL",
                                (int)field.len, field.p);
        if (c == VMF_CLS_NONE)
            return vx_vmfi_fail(b, VEX_INVALID, lit_pos,
                                "field \"%.*s\": a %s cannot be a literal",
                                (int)field.len, field.p,
                                vx_vm_type_name(v->type));
        if (v->type == VM_DOUBLE && !isfinite(v->u.d))
            return vx_vmfi_fail(b, VEX_INVALID, lit_pos,
                                "field \"%.*s\": double literal is not finite",
                                (int)field.len, field.p);
        if (v->type == VM_STRING && (v->u.s.len > VM_MAX_STRING ||
                                     (v->u.s.len > 0 && v->u.s.p == NULL) ||
                                     !vx_vm_utf8_valid(v->u.s.p, v->u.s.len)))
            return vx_vmfi_fail(b, VEX_INVALID, lit_pos,
                                "field \"%.*s\": string literal must be valid "
                                "UTF-8 of at most %u bytes",
                                (int)field.len, field.p, VM_MAX_STRING);
        if (v->type == VM_BOOL && v->u.b != 0 && v->u.b != 1)
            return vx_vmfi_fail(b, VEX_INVALID, lit_pos,
                                "field \"%.*s\": bool literal must be 0 or 1",
                                (int)field.len, field.p);
        if (i == 0)
            cls = c;
        else if (c != cls)
            return vx_vmfi_fail(b, VEX_INVALID, lit_pos,
                                "field \"%.*s\": %s mixes %s and %s",
                                (int)field.len, field.p, kind_text(kind),
                                class_name(cls), class_name(c));
    }
    if (kind == VMF_CMP && op >= VMF_LT && cls == VMF_CLS_BOOL)
        return vx_vmfi_fail(
            b, VEX_INVALID, lit_pos,
            "'%s' cannot order bools; use = or !=", op_text[op]);
    if (kind == VMF_BETWEEN && cls == VMF_CLS_BOOL)
        return vx_vmfi_fail(b, VEX_INVALID, lit_pos,
                            "BETWEEN needs two numbers or two strings");
    if ((kind == VMF_CONTAINS || kind == VMF_CONTAINS_ANY ||
         kind == VMF_CONTAINS_ALL) &&
        cls != VMF_CLS_STR)
        return vx_vmfi_fail(b, VEX_INVALID, lit_pos, "%s takes strings, not %s",
                            kind_text(kind), class_name(cls));

    e = vx_vmfi_alloc(b, sizeof *e);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof *e);
    e->kind = (uint8_t)kind;
    e->op = kind == VMF_CMP ? (uint8_t)op : 0;
    e->pos = pos;
    e->lit_pos = lit_pos;
    e->depth = 1;
    e->n_nodes = 1;
    e->n_lits = (uint32_t)n;
    e->n = (uint32_t)n;
    e->field = arena_str(b, field);
    if (e->field.p == NULL)
        return NULL;
    if (n) {
        e->lits = vx_vmfi_alloc(b, n * sizeof(vm_value));
        if (e->lits == NULL)
            return NULL;
        for (i = 0; i < n; i++) {
            e->lits[i] = lits[i];
            if (lits[i].type == VM_STRING) {
                vm_str s = arena_str(b, lits[i].u.s);
                if (s.p == NULL)
                    return NULL;
                e->lits[i].u.s = s;
            }
        }
    }
    return e;
}

vmf_expr *vx_vmfi_node(vmf_builder *b, int kind, vmf_expr *const *kids,
                       size_t n, uint32_t pos)
{
    vmf_expr *e;
    size_t i;
    uint32_t depth = 0, nodes = 1, lits = 0;

    if (b->rc != VEX_OK)
        return NULL;
    if (kind != VMF_AND && kind != VMF_OR && kind != VMF_NOT)
        return vx_vmfi_fail(b, VEX_INVALID, pos, "unknown operator kind %d",
                            kind);
    if (n == 0 || (kind == VMF_NOT && n != 1) || kids == NULL)
        return vx_vmfi_fail(b, VEX_INVALID, pos, "%s needs %s",
                            kind == VMF_NOT   ? "NOT"
                            : kind == VMF_AND ? "AND"
                                              : "OR",
                            kind == VMF_NOT ? "one operand" : "operands");
    if (n > VMF_MAX_NODES)
        return vx_vmfi_fail(b, VEX_INVALID, pos,
                            "more than %u conditions and operators",
                            VMF_MAX_NODES);
    for (i = 0; i < n; i++) {
        if (kids[i] == NULL)
            return vx_vmfi_fail(b, VEX_INVALID, pos, "operand %lu is NULL",
                                (unsigned long)i);
        if (kids[i]->depth > depth)
            depth = kids[i]->depth;
        /* Each kid is within the limits, so these sums stay far below
         * UINT32_MAX before the checks below. */
        nodes += kids[i]->n_nodes;
        lits += kids[i]->n_lits;
        if (nodes > VMF_MAX_NODES)
            return vx_vmfi_fail(b, VEX_INVALID, pos,
                                "more than %u conditions and operators",
                                VMF_MAX_NODES);
        if (lits > VMF_MAX_LITERALS)
            return vx_vmfi_fail(b, VEX_INVALID, pos,
                                "more than %u values in one filter",
                                VMF_MAX_LITERALS);
    }
    if (depth + 1 > VMF_MAX_DEPTH)
        return vx_vmfi_fail(b, VEX_INVALID, pos,
                            "nesting deeper than %u levels", VMF_MAX_DEPTH);
    e = vx_vmfi_alloc(b, sizeof *e);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof *e);
    e->kind = (uint8_t)kind;
    e->pos = pos;
    e->lit_pos = VMF_NO_POS;
    e->depth = depth + 1;
    e->n_nodes = nodes;
    e->n_lits = lits;
    e->n = (uint32_t)n;
    e->kids = vx_vmfi_alloc(b, n * sizeof(vmf_expr *));
    if (e->kids == NULL)
        return NULL;
    memcpy(e->kids, kids, n * sizeof(vmf_expr *));
    return e;
}

/* ---- the public builder ---------------------------------------------- */

static vm_str cfield(vmf_builder *b, const char *field)
{
    vm_str s = {NULL, 0};
    if (field == NULL)
        return s;
    s.p = field;
    s.len = (uint32_t)strnlen(field, VM_MAX_NAME + 1);
    (void)b;
    return s;
}

vmf_expr *vx_vmf_cmp(vmf_builder *b, const char *field, vmf_op op, vm_value v)
{
    return vx_vmfi_leaf(b, VMF_CMP, (int)op, cfield(b, field), VMF_NO_POS, &v,
                        1, VMF_NO_POS);
}

vmf_expr *vx_vmf_eq(vmf_builder *b, const char *field, vm_value v)
{
    return vx_vmf_cmp(b, field, VMF_EQ, v);
}

vmf_expr *vx_vmf_ne(vmf_builder *b, const char *field, vm_value v)
{
    return vx_vmf_cmp(b, field, VMF_NE, v);
}

vmf_expr *vx_vmf_lt(vmf_builder *b, const char *field, vm_value v)
{
    return vx_vmf_cmp(b, field, VMF_LT, v);
}

vmf_expr *vx_vmf_le(vmf_builder *b, const char *field, vm_value v)
{
    return vx_vmf_cmp(b, field, VMF_LE, v);
}

vmf_expr *vx_vmf_gt(vmf_builder *b, const char *field, vm_value v)
{
    return vx_vmf_cmp(b, field, VMF_GT, v);
}

vmf_expr *vx_vmf_ge(vmf_builder *b, const char *field, vm_value v)
{
    return vx_vmf_cmp(b, field, VMF_GE, v);
}

vmf_expr *vx_vmf_in(vmf_builder *b, const char *field, const vm_value *v,
                    size_t n)
{
    return vx_vmfi_leaf(b, VMF_IN, 0, cfield(b, field), VMF_NO_POS, v, n,
                        VMF_NO_POS);
}

vmf_expr *vx_vmf_not_in(vmf_builder *b, const char *field, const vm_value *v,
                        size_t n)
{
    return vx_vmfi_leaf(b, VMF_NOT_IN, 0, cfield(b, field), VMF_NO_POS, v, n,
                        VMF_NO_POS);
}

vmf_expr *vx_vmf_between(vmf_builder *b, const char *field, vm_value lo,
                         vm_value hi)
{
    vm_value v[2];
    v[0] = lo;
    v[1] = hi;
    return vx_vmfi_leaf(b, VMF_BETWEEN, 0, cfield(b, field), VMF_NO_POS, v, 2,
                        VMF_NO_POS);
}

vmf_expr *vx_vmf_contains(vmf_builder *b, const char *field, vm_value tag)
{
    return vx_vmfi_leaf(b, VMF_CONTAINS, 0, cfield(b, field), VMF_NO_POS, &tag,
                        1, VMF_NO_POS);
}

vmf_expr *vx_vmf_contains_any(vmf_builder *b, const char *field,
                              const vm_value *tags, size_t n)
{
    return vx_vmfi_leaf(b, VMF_CONTAINS_ANY, 0, cfield(b, field), VMF_NO_POS,
                        tags, n, VMF_NO_POS);
}

vmf_expr *vx_vmf_contains_all(vmf_builder *b, const char *field,
                              const vm_value *tags, size_t n)
{
    return vx_vmfi_leaf(b, VMF_CONTAINS_ALL, 0, cfield(b, field), VMF_NO_POS,
                        tags, n, VMF_NO_POS);
}

vmf_expr *vx_vmf_is_null(vmf_builder *b, const char *field)
{
    return vx_vmfi_leaf(b, VMF_IS_NULL, 0, cfield(b, field), VMF_NO_POS, NULL,
                        0, VMF_NO_POS);
}

vmf_expr *vx_vmf_is_not_null(vmf_builder *b, const char *field)
{
    return vx_vmfi_leaf(b, VMF_IS_NOT_NULL, 0, cfield(b, field), VMF_NO_POS,
                        NULL, 0, VMF_NO_POS);
}

vmf_expr *vx_vmf_and(vmf_builder *b, vmf_expr *x, vmf_expr *y)
{
    vmf_expr *k[2];
    k[0] = x;
    k[1] = y;
    return vx_vmfi_node(b, VMF_AND, k, 2, VMF_NO_POS);
}

vmf_expr *vx_vmf_or(vmf_builder *b, vmf_expr *x, vmf_expr *y)
{
    vmf_expr *k[2];
    k[0] = x;
    k[1] = y;
    return vx_vmfi_node(b, VMF_OR, k, 2, VMF_NO_POS);
}

vmf_expr *vx_vmf_not(vmf_builder *b, vmf_expr *x)
{
    return vx_vmfi_node(b, VMF_NOT, &x, 1, VMF_NO_POS);
}

vmf_expr *vx_vmf_and_n(vmf_builder *b, vmf_expr *const *xs, size_t n)
{
    return vx_vmfi_node(b, VMF_AND, xs, n, VMF_NO_POS);
}

vmf_expr *vx_vmf_or_n(vmf_builder *b, vmf_expr *const *xs, size_t n)
{
    return vx_vmfi_node(b, VMF_OR, xs, n, VMF_NO_POS);
}

/* ---- value comparison (shared by sorting and evaluation) ------------ */

/* -1, 0, 1 comparing int64 i with a non-NaN double d exactly (no
 * rounding of i to double: 2^53 + 1 > 2^53 as a double). */
static int cmp_int_double(int64_t i, double d)
{
    int64_t t;
    double frac;
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    t = (int64_t)d; /* in range: truncation toward zero */
    if (i != t)
        return i < t ? -1 : 1;
    frac = d - (double)t; /* exact */
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int vmf_cmp_num(const vm_value *a, const vm_value *b)
{
    if (a->type == VM_INT && b->type == VM_INT)
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    if (a->type == VM_DOUBLE && b->type == VM_DOUBLE)
        return a->u.d < b->u.d ? -1 : a->u.d > b->u.d;
    if (a->type == VM_INT)
        return cmp_int_double(a->u.i, b->u.d);
    return -cmp_int_double(b->u.i, a->u.d);
}

/* Compare a record value with a literal: 1 and *c set when they are in
 * the same class, else 0 (the leaf is UNKNOWN). */
static int cmp_value(const vm_value *v, const vm_value *lit, int *c)
{
    int cls = vx_vmfi_class(lit->type);
    if (vx_vmfi_class(v->type) != cls)
        return 0;
    if (cls == VMF_CLS_NUM)
        *c = vmf_cmp_num(v, lit);
    else if (cls == VMF_CLS_STR)
        *c = vx_vm_str_cmp(&v->u.s, &lit->u.s);
    else
        *c = v->u.b - lit->u.b;
    return 1;
}

/* Total order of the literals of one list (one class), for sorting. */
static int lit_order(const void *pa, const void *pb)
{
    const vm_value *a = pa, *b = pb;
    int c = 0;
    uint64_t x, y;
    cmp_value(a, b, &c);
    if (c != 0)
        return c;
    if (a->type != b->type)
        return a->type == VM_INT ? -1 : 1;
    if (a->type != VM_DOUBLE)
        return 0;
    memcpy(&x, &a->u.d, 8); /* -0.0 and 0.0 */
    memcpy(&y, &b->u.d, 8);
    return x < y ? -1 : x > y;
}

/* ---- normalization and type checking -------------------------------- */

static int is_andor(const vmf_expr *e)
{
    return e->kind == VMF_AND || e->kind == VMF_OR;
}

static int eff_kind(const vmf_expr *e, int neg)
{
    if (!neg)
        return e->kind;
    return e->kind == VMF_AND ? VMF_OR : VMF_AND;
}

static const vmf_expr *strip_not(const vmf_expr *e, int *neg)
{
    while (e->kind == VMF_NOT) {
        e = e->kids[0];
        *neg = !*neg;
    }
    return e;
}

static vmf_expr *norm(vmf_builder *b, const vmf_expr *e, int neg,
                      const vm_schema *s);

static size_t filter_flat_count(const vmf_expr *e, int neg, int kind)
{
    size_t i, n = 0;
    e = strip_not(e, &neg);
    if (!is_andor(e) || eff_kind(e, neg) != kind)
        return 1;
    for (i = 0; i < e->n; i++)
        n += filter_flat_count(e->kids[i], neg, kind);
    return n;
}

static int flat_fill(vmf_builder *b, const vmf_expr *e, int neg, int kind,
                     const vm_schema *s, vmf_expr **out, size_t *at)
{
    size_t i;
    e = strip_not(e, &neg);
    if (!is_andor(e) || eff_kind(e, neg) != kind) {
        out[*at] = norm(b, e, neg, s);
        return out[(*at)++] != NULL;
    }
    for (i = 0; i < e->n; i++)
        if (!flat_fill(b, e->kids[i], neg, kind, s, out, at))
            return 0;
    return 1;
}

static vmf_expr *type_check(vmf_builder *b, const vmf_expr *e,
                            const vm_schema *s)
{
    const vm_schema_field *f;
    int fcls, lcls;
    if (s == NULL)
        return (vmf_expr *)e;
    f = vx_vm_schema_find(s, e->field.p, e->field.len);
    if (f == NULL) {
        if (vx_vm_schema_closed(s))
            return vx_vmfi_fail(b, VEX_INVALID, e->pos,
                                "field \"%.*s\" is not in the schema",
                                (int)e->field.len, e->field.p);
        return (vmf_expr *)e;
    }
    if (e->kind == VMF_IS_NULL || e->kind == VMF_IS_NOT_NULL)
        return (vmf_expr *)e;
    if (e->kind == VMF_CONTAINS || e->kind == VMF_CONTAINS_ANY ||
        e->kind == VMF_CONTAINS_ALL) {
        if (f->type != VM_TAGS)
            return vx_vmfi_fail(b, VEX_INVALID, e->pos,
                                "field \"%.*s\" is %s; %s needs a tags field",
                                (int)e->field.len, e->field.p,
                                vx_vm_type_name(f->type), kind_text(e->kind));
        return (vmf_expr *)e;
    }
    if (f->type == VM_TAGS)
        return vx_vmfi_fail(b, VEX_INVALID, e->pos,
                            "field \"%.*s\" is tags; use CONTAINS, CONTAINS "
                            "ANY or CONTAINS ALL",
                            (int)e->field.len, e->field.p);
    fcls = vx_vmfi_class(f->type);
    lcls = vx_vmfi_class(e->lits[0].type);
    if (fcls != lcls)
        return vx_vmfi_fail(b, VEX_INVALID, e->lit_pos,
                            "field \"%.*s\" is %s, cannot compare it with %s",
                            (int)e->field.len, e->field.p,
                            vx_vm_type_name(f->type), class_name(lcls));
    return (vmf_expr *)e;
}

static vmf_expr *norm_leaf(vmf_builder *b, const vmf_expr *e, int neg,
                           const vm_schema *s)
{
    static const uint8_t neg_op[] = {VMF_NE, VMF_EQ, VMF_GE,
                                     VMF_GT, VMF_LE, VMF_LT};
    vmf_expr *c;
    if (type_check(b, e, s) == NULL)
        return NULL;
    c = vx_vmfi_alloc(b, sizeof *c);
    if (c == NULL)
        return NULL;
    *c = *e;
    if (e->kind == VMF_IN || e->kind == VMF_NOT_IN ||
        e->kind == VMF_CONTAINS_ANY || e->kind == VMF_CONTAINS_ALL) {
        uint32_t i, k = 0;
        c->lits = vx_vmfi_alloc(b, e->n * sizeof(vm_value));
        if (c->lits == NULL)
            return NULL;
        memcpy(c->lits, e->lits, e->n * sizeof(vm_value));
        qsort(c->lits, e->n, sizeof(vm_value), lit_order);
        for (i = 0; i < e->n; i++)
            if (k == 0 || !vx_vm_value_same(&c->lits[k - 1], &c->lits[i]))
                c->lits[k++] = c->lits[i];
        c->n = c->n_lits = k;
    }
    if (!neg)
        return c;
    switch (e->kind) {
    case VMF_CMP:
        c->op = neg_op[e->op];
        return c;
    case VMF_IN:
        c->kind = VMF_NOT_IN;
        return c;
    case VMF_NOT_IN:
        c->kind = VMF_IN;
        return c;
    case VMF_IS_NULL:
        c->kind = VMF_IS_NOT_NULL;
        return c;
    case VMF_IS_NOT_NULL:
        c->kind = VMF_IS_NULL;
        return c;
    default:
        return vx_vmfi_node(b, VMF_NOT, &c, 1, e->pos);
    }
}

static vmf_expr *norm(vmf_builder *b, const vmf_expr *e, int neg,
                      const vm_schema *s)
{
    vmf_expr **kids, *r;
    size_t n, at = 0;
    int kind;
    e = strip_not(e, &neg);
    if (!is_andor(e))
        return norm_leaf(b, e, neg, s);
    kind = eff_kind(e, neg);
    n = filter_flat_count(e, neg, kind);
    kids = vx_vmfi_alloc(b, n * sizeof *kids);
    if (kids == NULL)
        return NULL;
    for (size_t i = 0; i < e->n; i++)
        if (!flat_fill(b, e->kids[i], neg, kind, s, kids, &at))
            return NULL;
    r = vx_vmfi_node(b, kind, kids, n, e->pos);
    return r;
}

/* ---- layout --------------------------------------------------------- */

typedef struct layout {
    vmf_filter *f;
    uint32_t next_node, next_kid, next_lit;
    char *bytes;
} layout;

static void count_tree(const vmf_expr *e, size_t *nodes, size_t *kids,
                       size_t *lits, size_t *bytes)
{
    size_t i;
    (*nodes)++;
    if (e->kind == VMF_AND || e->kind == VMF_OR || e->kind == VMF_NOT) {
        *kids += e->n;
        for (i = 0; i < e->n; i++)
            count_tree(e->kids[i], nodes, kids, lits, bytes);
        return;
    }
    *bytes += e->field.len;
    *lits += e->n;
    for (i = 0; i < e->n; i++)
        if (e->lits[i].type == VM_STRING)
            *bytes += e->lits[i].u.s.len;
}

static uint32_t lay(layout *l, const vmf_expr *e)
{
    uint32_t idx = l->next_node++, i;
    vmf_node *nd = &l->f->nodes[idx];
    memset(nd, 0, sizeof *nd);
    nd->kind = e->kind;
    nd->op = e->op;
    nd->pos = e->pos;
    nd->n = e->n;
    if (e->kind == VMF_AND || e->kind == VMF_OR || e->kind == VMF_NOT) {
        uint32_t first = l->next_kid;
        nd->first = first;
        l->next_kid += e->n;
        for (i = 0; i < e->n; i++) {
            uint32_t k = lay(l, e->kids[i]);
            l->f->kids[first + i] = k;
        }
        return idx;
    }
    nd->field.p = l->bytes;
    nd->field.len = e->field.len;
    memcpy(l->bytes, e->field.p, e->field.len);
    l->bytes += e->field.len;
    nd->first = l->next_lit;
    for (i = 0; i < e->n; i++) {
        vm_value *v = &l->f->lits[l->next_lit++];
        *v = e->lits[i];
        if (v->type == VM_STRING) {
            v->u.s.p = l->bytes;
            if (v->u.s.len)
                memcpy(l->bytes, e->lits[i].u.s.p, v->u.s.len);
            l->bytes += v->u.s.len;
        }
    }
    return idx;
}

static size_t filter_align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

int vx_vmf_build(vmf_builder *b, const vmf_expr *root, const vm_schema *schema,
                 const vex_mem *mem, vex_err *err, vmf_filter **out)
{
    size_t nodes = 0, kids = 0, lits = 0, bytes = 0, o_nodes, o_kids, o_lits,
           o_bytes;
    vmf_expr *n;
    unsigned char *blk;
    layout l;
    int had;

    *out = NULL;
    if (b->rc == VEX_OK && root == NULL)
        vx_vmfi_fail(b, VEX_INVALID, VMF_NO_POS, "no expression");
    had = b->rc != VEX_OK;
    n = had ? NULL : norm(b, root, 0, schema);
    if (n == NULL) {
        int rc = b->rc;
        if (err)
            vx_err_set(err, rc, "%s", b->msg);
        /* A type error found here is a property of this expression and
         * schema, not of the builder: later builds may succeed. */
        if (!had) {
            b->rc = VEX_OK;
            b->msg[0] = '\0';
        }
        return rc;
    }
    count_tree(n, &nodes, &kids, &lits, &bytes);
    o_nodes = filter_align8(sizeof(vmf_filter));
    o_kids = o_nodes + filter_align8(nodes * sizeof(vmf_node));
    o_lits = o_kids + filter_align8(kids * sizeof(uint32_t));
    o_bytes = o_lits + filter_align8(lits * sizeof(vm_value));
    blk = vx_mem_alloc(mem, o_bytes + bytes);
    if (blk == NULL) {
        if (err)
            vx_err_set(err, VEX_NOMEM, "filter: out of memory");
        return VEX_NOMEM;
    }
    l.f = (vmf_filter *)blk;
    l.f->n_nodes = (uint32_t)nodes;
    l.f->n_kids = (uint32_t)kids;
    l.f->n_lits = (uint32_t)lits;
    l.f->nodes = (vmf_node *)(blk + o_nodes);
    l.f->kids = (uint32_t *)(blk + o_kids);
    l.f->lits = (vm_value *)(blk + o_lits);
    l.bytes = (char *)(blk + o_bytes);
    l.next_node = l.next_kid = l.next_lit = 0;
    lay(&l, n);
    *out = l.f;
    return VEX_OK;
}

int vx_vmf_parse(const char *text, size_t len, const vm_schema *schema,
                 const vex_mem *mem, vex_err *err, vmf_filter **out)
{
    vmf_builder *b = NULL;
    vmf_expr *e;
    int rc;
    *out = NULL;
    if (vx_vmf_builder_new(mem, &b) != VEX_OK) {
        if (err)
            vx_err_set(err, VEX_NOMEM, "filter: out of memory");
        return VEX_NOMEM;
    }
    e = vx_vmfi_parse(b, text, len);
    rc = vx_vmf_build(b, e, schema, mem, err, out);
    vx_vmf_builder_free(b);
    return rc;
}

void vx_vmf_free(vmf_filter *f, const vex_mem *mem)
{
    vx_mem_free(mem, f);
}

size_t vx_vmf_n_nodes(const vmf_filter *f)
{
    return f->n_nodes;
}

const vmf_node *vx_vmf_nodes(const vmf_filter *f)
{
    return f->nodes;
}

const vm_value *vx_vmf_literals(const vmf_filter *f)
{
    return f->lits;
}

const uint32_t *vx_vmf_kids(const vmf_filter *f)
{
    return f->kids;
}

/* ---- equality -------------------------------------------------------- */

static int node_equal(const vmf_filter *a, uint32_t x, const vmf_filter *b,
                      uint32_t y)
{
    const vmf_node *p = &a->nodes[x], *q = &b->nodes[y];
    uint32_t i;
    if (p->kind != q->kind || p->op != q->op || p->n != q->n)
        return 0;
    if (p->kind == VMF_AND || p->kind == VMF_OR || p->kind == VMF_NOT) {
        for (i = 0; i < p->n; i++)
            if (!node_equal(a, a->kids[p->first + i], b, b->kids[q->first + i]))
                return 0;
        return 1;
    }
    if (vx_vm_str_cmp(&p->field, &q->field) != 0)
        return 0;
    for (i = 0; i < p->n; i++)
        if (!vx_vm_value_same(&a->lits[p->first + i], &b->lits[q->first + i]))
            return 0;
    return 1;
}

int vx_vmf_equal(const vmf_filter *a, const vmf_filter *b)
{
    return node_equal(a, 0, b, 0);
}

/* ---- printing ------------------------------------------------------- */

typedef struct writer {
    char *buf;
    size_t size, len;
} writer;

static void put(writer *w, const char *s, size_t n)
{
    if (w->len < w->size) {
        size_t room = w->size - w->len;
        memcpy(w->buf + w->len, s, n < room ? n : room);
    }
    w->len += n;
}

static void puts_(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

const char *const vx_vmfi_keywords[] = {"AND",     "OR",       "NOT",  "IN",
                                        "BETWEEN", "CONTAINS", "ANY",  "ALL",
                                        "IS",      "NULL",     "TRUE", "FALSE"};
const size_t vx_vmfi_n_keywords =
    sizeof vx_vmfi_keywords / sizeof vx_vmfi_keywords[0];

static int is_keyword(const char *p, size_t n)
{
    size_t k, i;
    for (k = 0; k < vx_vmfi_n_keywords; k++) {
        const char *kw = vx_vmfi_keywords[k];
        if (strlen(kw) != n)
            continue;
        for (i = 0; i < n; i++) {
            char c = p[i];
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            if (c != kw[i])
                break;
        }
        if (i == n)
            return 1;
    }
    return 0;
}

static int filter_is_ident_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int filter_is_ident_char(int c)
{
    return filter_is_ident_start(c) || (c >= '0' && c <= '9');
}

static void print_field(writer *w, const vm_str *f)
{
    uint32_t i;
    int bare = f->len > 0 && filter_is_ident_start((unsigned char)f->p[0]) &&
               !is_keyword(f->p, f->len);
    for (i = 0; bare && i < f->len; i++)
        bare = filter_is_ident_char((unsigned char)f->p[i]);
    if (bare) {
        put(w, f->p, f->len);
        return;
    }
    put(w, "\"", 1);
    for (i = 0; i < f->len; i++) {
        if (f->p[i] == '"')
            put(w, "\"", 1);
        put(w, &f->p[i], 1);
    }
    put(w, "\"", 1);
}

static void print_string(writer *w, const vm_str *s)
{
    uint32_t i;
    put(w, "'", 1);
    for (i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->p[i];
        char esc[8];
        switch (c) {
        case '\'':
            put(w, "\\'", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                put(w, esc, 6);
            } else {
                put(w, (const char *)&s->p[i], 1);
            }
        }
    }
    put(w, "'", 1);
}

static void print_value(writer *w, const vm_value *v)
{
    char num[64];
    switch (v->type) {
    case VM_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->u.i);
        puts_(w, num);
        break;
    case VM_DOUBLE:
        vx_vmfi_fmt_double(v->u.d, num, sizeof num);
        puts_(w, num);
        break;
    case VM_STRING:
        print_string(w, &v->u.s);
        break;
    case VM_BOOL:
        puts_(w, v->u.b ? "TRUE" : "FALSE");
        break;
    default:
        puts_(w, "NULL"); /* not reachable: no such literal */
        break;
    }
}

static void print_list(writer *w, const vmf_filter *f, const vmf_node *nd)
{
    uint32_t i;
    put(w, "(", 1);
    for (i = 0; i < nd->n; i++) {
        if (i)
            put(w, ", ", 2);
        print_value(w, &f->lits[nd->first + i]);
    }
    put(w, ")", 1);
}

static int prec(int kind)
{
    return kind == VMF_OR ? 1 : kind == VMF_AND ? 2 : kind == VMF_NOT ? 3 : 4;
}

static void print_node(writer *w, const vmf_filter *f, uint32_t idx,
                       int min_prec)
{
    const vmf_node *nd = &f->nodes[idx];
    const vm_value *lit;
    uint32_t i;
    int paren = prec(nd->kind) < min_prec;
    if (paren)
        put(w, "(", 1);
    switch (nd->kind) {
    case VMF_AND:
    case VMF_OR:
        for (i = 0; i < nd->n; i++) {
            if (i)
                puts_(w, nd->kind == VMF_AND ? " AND " : " OR ");
            print_node(w, f, f->kids[nd->first + i], prec(nd->kind) + 1);
        }
        break;
    case VMF_NOT:
        puts_(w, "NOT ");
        print_node(w, f, f->kids[nd->first], 3);
        break;
    default:
        lit = &f->lits[nd->first]; /* a leaf: first indexes lits */
        print_field(w, &nd->field);
        switch (nd->kind) {
        case VMF_CMP:
            put(w, " ", 1);
            puts_(w, op_text[nd->op]);
            put(w, " ", 1);
            print_value(w, lit);
            break;
        case VMF_IN:
        case VMF_NOT_IN:
        case VMF_CONTAINS_ANY:
        case VMF_CONTAINS_ALL:
            put(w, " ", 1);
            puts_(w, kind_text(nd->kind));
            put(w, " ", 1);
            print_list(w, f, nd);
            break;
        case VMF_BETWEEN:
            puts_(w, " BETWEEN ");
            print_value(w, &lit[0]);
            puts_(w, " AND ");
            print_value(w, &lit[1]);
            break;
        case VMF_CONTAINS:
            puts_(w, " CONTAINS ");
            print_value(w, lit);
            break;
        default:
            put(w, " ", 1);
            puts_(w, kind_text(nd->kind));
            break;
        }
    }
    if (paren)
        put(w, ")", 1);
}

size_t vx_vmf_print(const vmf_filter *f, char *buf, size_t size)
{
    writer w;
    w.buf = buf;
    w.size = size ? size - 1 : 0;
    w.len = 0;
    print_node(&w, f, 0, 0);
    if (size)
        buf[w.len < w.size ? w.len : w.size] = '\0';
    return w.len;
}

/* ---- locale-independent numbers --------------------------------------- */

static const char *decimal_point(void)
{
    const struct lconv *lc = localeconv();
    return lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point
                                                           : ".";
}

double vx_vmfi_strtod(const char *s, size_t len)
{
    /* s is a checked literal of at most 400 bytes: [-]digits[.digits][e..] */
    char buf[512];
    const char *dp = decimal_point();
    size_t i, o = 0, dl = strlen(dp);
    for (i = 0; i < len && o + dl + 1 < sizeof buf; i++) {
        if (s[i] == '.') {
            memcpy(buf + o, dp, dl);
            o += dl;
        } else {
            buf[o++] = s[i];
        }
    }
    buf[o] = '\0';
    return strtod(buf, NULL);
}

size_t vx_vmfi_fmt_double(double d, char *out, size_t size)
{
    char tmp[64];
    const char *dp = decimal_point();
    size_t dl = strlen(dp), n = 0, i;
    int prec_;
    for (prec_ = 15; prec_ <= 17; prec_++) {
        char *q;
        snprintf(tmp, sizeof tmp, "%.*g", prec_, d);
        if (dl != 1 || dp[0] != '.') {
            q = strstr(tmp, dp);
            if (q) {
                *q = '.';
                memmove(q + 1, q + dl, strlen(q + dl) + 1);
            }
        }
        if (vx_vmfi_strtod(tmp, strlen(tmp)) == d &&
            signbit(vx_vmfi_strtod(tmp, strlen(tmp))) == signbit(d))
            break;
    }
    n = strlen(tmp);
    for (i = 0; i < n; i++)
        if (tmp[i] == '.' || tmp[i] == 'e' || tmp[i] == 'n' || tmp[i] == 'i')
            break;
    if (i == n && n + 2 < sizeof tmp) {
        memcpy(tmp + n, ".0", 3);
        n += 2;
    }
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(out, tmp, c);
        out[c] = '\0';
    }
    return n;
}

/* ---- evaluation ------------------------------------------------------- */

static int tags_has(const vm_value *v, const vm_str *t)
{
    uint32_t i;
    for (i = 0; i < v->u.tags.n; i++)
        if (vx_vm_str_cmp(&v->u.tags.v[i], t) == 0)
            return 1;
    return 0;
}

/* Is some literal of the sorted list lits[0..n) equal to v? (v in the
 * list's class.) */
static int list_has(const vm_value *lits, uint32_t n, const vm_value *v)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = 0;
        cmp_value(&lits[mid], v, &c);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int eval_leaf_value(const vmf_filter *f, const vmf_node *nd,
                           const vm_value *v)
{
    const vm_value *lit = &f->lits[nd->first];
    int c = 0, c2 = 0;
    uint32_t i;
    int missing = v == NULL || v->type == VM_NULL;
    switch (nd->kind) {
    case VMF_IS_NULL:
        return missing ? VMF_TRUE : VMF_FALSE;
    case VMF_IS_NOT_NULL:
        return missing ? VMF_FALSE : VMF_TRUE;
    default:
        break;
    }
    if (missing)
        return VMF_UNKNOWN;
    switch (nd->kind) {
    case VMF_CMP:
        if (!cmp_value(v, lit, &c))
            return VMF_UNKNOWN;
        switch (nd->op) {
        case VMF_EQ:
            return c == 0;
        case VMF_NE:
            return c != 0;
        case VMF_LT:
            return c < 0;
        case VMF_LE:
            return c <= 0;
        case VMF_GT:
            return c > 0;
        default:
            return c >= 0;
        }
    case VMF_IN:
    case VMF_NOT_IN:
        if (vx_vmfi_class(v->type) != vx_vmfi_class(lit->type))
            return VMF_UNKNOWN;
        return list_has(lit, nd->n, v) == (nd->kind == VMF_IN);
    case VMF_BETWEEN:
        if (!cmp_value(v, &lit[0], &c) || !cmp_value(v, &lit[1], &c2))
            return VMF_UNKNOWN;
        return c >= 0 && c2 <= 0;
    case VMF_CONTAINS:
        if (v->type != VM_TAGS)
            return VMF_UNKNOWN;
        return tags_has(v, &lit->u.s);
    case VMF_CONTAINS_ANY:
        if (v->type != VM_TAGS)
            return VMF_UNKNOWN;
        for (i = 0; i < v->u.tags.n; i++) {
            vm_value t;
            t.type = VM_STRING;
            t.u.s = v->u.tags.v[i];
            if (list_has(lit, nd->n, &t))
                return VMF_TRUE;
        }
        return VMF_FALSE;
    case VMF_CONTAINS_ALL:
        if (v->type != VM_TAGS)
            return VMF_UNKNOWN;
        for (i = 0; i < nd->n; i++)
            if (!tags_has(v, &lit[i].u.s))
                return VMF_FALSE;
        return VMF_TRUE;
    default:
        return VMF_UNKNOWN;
    }
}

static int eval_leaf(const vmf_filter *f, const vmf_node *nd,
                     const vm_record *r)
{
    return eval_leaf_value(f, nd,
                           vx_vm_record_get(r, nd->field.p, nd->field.len));
}

int vx_vmf_eval_leaf(const vmf_filter *f, uint32_t node, const vm_value *v)
{
    return eval_leaf_value(f, &f->nodes[node], v);
}

static int eval_node(const vmf_filter *f, uint32_t idx, const vm_record *r)
{
    const vmf_node *nd = &f->nodes[idx];
    uint32_t i;
    int res, k;
    switch (nd->kind) {
    case VMF_AND:
        res = VMF_TRUE;
        for (i = 0; i < nd->n; i++) {
            k = eval_node(f, f->kids[nd->first + i], r);
            if (k == VMF_FALSE)
                return VMF_FALSE;
            if (k == VMF_UNKNOWN)
                res = VMF_UNKNOWN;
        }
        return res;
    case VMF_OR:
        res = VMF_FALSE;
        for (i = 0; i < nd->n; i++) {
            k = eval_node(f, f->kids[nd->first + i], r);
            if (k == VMF_TRUE)
                return VMF_TRUE;
            if (k == VMF_UNKNOWN)
                res = VMF_UNKNOWN;
        }
        return res;
    case VMF_NOT:
        k = eval_node(f, f->kids[nd->first], r);
        return k == VMF_UNKNOWN ? VMF_UNKNOWN : !k;
    default:
        return eval_leaf(f, nd, r);
    }
}

int vx_vmf_eval3(const vmf_filter *f, const vm_record *r)
{
    return eval_node(f, 0, r);
}

int vx_vmf_eval(const vmf_filter *f, const vm_record *r)
{
    return eval_node(f, 0, r) == VMF_TRUE;
}
