/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter_int.h - what filter.c (builder, normalizer, layout, printer,
 * evaluator) and filter_parse.c (lexer and parser) share: the expression
 * tree kept in a builder's arena and the constructors both use, so the
 * text and the C builder produce trees through the same checks. Private
 * to src/meta.
 */
#ifndef VEX_META_FILTER_INT_H
#define VEX_META_FILTER_INT_H

#include "meta/filter.h"

/* An expression in a builder's arena. Leaves hold their field and
 * literals (copied into the arena); AND/OR hold n >= 1 kids, NOT one.
 * depth, n_nodes and n_lits describe the subtree (kept below the limits,
 * which is what makes the recursive passes over a tree safe). */
struct vmf_expr {
    uint8_t kind;
    uint8_t op;
    uint32_t pos;     /* field (leaves), NOT or '(' position; VMF_NO_POS */
    uint32_t lit_pos; /* first literal (leaves); VMF_NO_POS */
    uint32_t depth;
    uint32_t n_nodes;
    uint32_t n_lits;
    uint32_t n;
    vm_str field;
    vmf_expr **kids;
    vm_value *lits;
};

typedef struct vmf_chunk vmf_chunk;

struct vmf_builder {
    vex_mem mem;
    vmf_chunk *chunks;
    int rc;                   /* first failure, VEX_OK if none */
    char msg[VEX_ERRMSG_MAX]; /* its message */
};

/* Arena allocation (8-byte aligned); NULL after recording VEX_NOMEM. */
void *vx_vmfi_alloc(vmf_builder *b, size_t size);

/* Record a failure (the first one wins) and return NULL. With pos !=
 * VMF_NO_POS the message reads "filter: at offset <pos>: <fmt>", else
 * "filter: <fmt>". */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void *
vx_vmfi_fail(vmf_builder *b, int rc, uint32_t pos, const char *fmt, ...);

/* Leaf of `kind` on `field` with n literals (copied; checked for the
 * kind). */
vmf_expr *vx_vmfi_leaf(vmf_builder *b, int kind, int op, vm_str field,
                       uint32_t pos, const vm_value *lits, size_t n,
                       uint32_t lit_pos);

/* AND/OR of n kids (the array is copied), or NOT of kids[0] (n == 1). */
vmf_expr *vx_vmfi_node(vmf_builder *b, int kind, vmf_expr *const *kids,
                       size_t n, uint32_t pos);

/* Literal classes: a comparison needs the field's value and the literal
 * in the same class. */
enum { VMF_CLS_NONE = 0, VMF_CLS_NUM, VMF_CLS_STR, VMF_CLS_BOOL };
int vx_vmfi_class(int type);

/* Parse text into an expression of builder b (NULL after a failure,
 * which the builder holds). */
vmf_expr *vx_vmfi_parse(vmf_builder *b, const char *text, size_t len);

/* Locale-independent double <-> text (the C library's strtod and printf
 * follow LC_NUMERIC, which a host program may have changed). */
double vx_vmfi_strtod(const char *s, size_t len);
size_t vx_vmfi_fmt_double(double d, char *out, size_t size);

extern const char *const vx_vmfi_keywords[];
extern const size_t vx_vmfi_n_keywords;

#endif
