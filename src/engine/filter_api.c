/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter_api.c - the public filter API: vex_filter_parse compiles text,
 * and the vex_filter_builder functions build the same expressions in C,
 * both through the meta layer's filter module (meta/filter.h) against the
 * collection's schema; a vex_filter carries the compiled filter and its
 * canonical text, which names its match sets in the database's cache.
 */
#include <stdio.h>
#include <string.h>

#include "engine/coll_int.h"
#include "meta/filter.h"

/* Wrap compiled filter `cf` (allocated on c->mem; taken over) into a
 * handle. Its cache key is its canonical text: a collection's schema
 * decides what a text compiles to and a segment belongs to one
 * collection, so (segment, text) names one match set. */
static int filter_wrap(vex_collection *c, vmf_filter *cf, vex_filter **out)
{
    vex_filter *f = vx_mem_calloc(c->mem, 1, sizeof *f);
    size_t n = vx_vmf_print(cf, NULL, 0);
    if (f == NULL || (f->text = vx_mem_alloc(c->mem, n + 1)) == NULL) {
        vx_mem_free(c->mem, f);
        vx_vmf_free(cf, c->mem);
        return vx_coll_nomem(c);
    }
    f->mem = *c->mem;
    f->db = c->db;
    f->f = cf;
    vx_vmf_print(cf, f->text, n + 1);
    vx_mkey_init(&f->key, f->text, n);
    *out = f;
    return VEX_OK;
}

int vex_filter_parse(vex_collection *c, const char *text, vex_filter **out)
{
    vmf_filter *cf = NULL;
    int rc;
    if (out)
        *out = NULL;
    if (!vx_coll_usable(c) || out == NULL)
        return VEX_MISUSE;
    if (text == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "filter text is NULL");
    rc = vx_vmf_parse(text, strlen(text), c->schema, c->mem, &c->err, &cf);
    if (rc != VEX_OK)
        return rc;
    return filter_wrap(c, cf, out);
}

void vex_filter_free(vex_filter *f)
{
    vex_mem mem;
    if (f == NULL)
        return;
    mem = f->mem;
    vx_mcache_release_key(f->db->mcache, &f->key);
    vx_vmf_free(f->f, &mem);
    vx_mem_free(&mem, f->text);
    vx_mem_free(&mem, f);
}

size_t vex_filter_print(const vex_filter *f, char *buf, size_t size)
{
    if (f == NULL) {
        if (buf && size)
            buf[0] = '\0';
        return 0;
    }
    return vx_vmf_print(f->f, buf, size);
}

/* ---- the public filter builder over the meta layer's (filter.h) ---- */

struct vex_filter_builder {
    vex_mem mem;
    vmf_builder *vb;
    int rc; /* the first failure this wrapper saw (argument checks) */
    char msg[256];
};

int vex_filter_builder_create(const vex_allocator *alloc,
                              vex_filter_builder **out)
{
    vex_mem mem;
    vex_filter_builder *b;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (vx_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    b = vx_mem_calloc(&mem, 1, sizeof *b);
    if (b == NULL)
        return VEX_NOMEM;
    b->mem = mem;
    if (vx_vmf_builder_new(&b->mem, &b->vb) != VEX_OK) {
        vx_mem_free(&mem, b);
        return VEX_NOMEM;
    }
    *out = b;
    return VEX_OK;
}

void vex_filter_builder_free(vex_filter_builder *b)
{
    vex_mem mem;
    if (b == NULL)
        return;
    mem = b->mem;
    vx_vmf_builder_free(b->vb);
    vx_mem_free(&mem, b);
}

static vex_expr *fb_fail(vex_filter_builder *b, const char *what)
{
    if (b->rc == VEX_OK) {
        b->rc = VEX_INVALID;
        snprintf(b->msg, sizeof b->msg, "filter builder: %s", what);
    }
    return NULL;
}

/* A literal as a meta value: 1, or 0 for a type a literal cannot have. */
static int fb_value(const vex_value *v, vm_value *out)
{
    switch (v->type) {
    case VEX_TYPE_BOOL:
        *out = vx_vm_bool(v->b != 0);
        return 1;
    case VEX_TYPE_INT:
        *out = vx_vm_int(v->i);
        return 1;
    case VEX_TYPE_DOUBLE:
        *out = vx_vm_double(v->d);
        return 1;
    case VEX_TYPE_STRING:
        if (v->s == NULL && v->len > 0)
            return 0;
        *out = vx_vm_string(v->s ? v->s : "", v->len);
        return 1;
    default:
        return 0;
    }
}

vex_expr *vex_expr_cmp(vex_filter_builder *b, const char *field, vex_cmp_op op,
                       vex_value v)
{
    vm_value x;
    if (b == NULL)
        return NULL;
    if (field == NULL || (unsigned)op > VEX_CMP_GE || !fb_value(&v, &x))
        return fb_fail(b, "comparison: NULL field, unknown operator or a "
                          "literal of no literal type");
    return (vex_expr *)vx_vmf_cmp(b->vb, field, (vmf_op)op, x);
}

vex_expr *vex_expr_in(vex_filter_builder *b, const char *field,
                      const vex_value *v, size_t n, int negate)
{
    vm_value *xs;
    vex_expr *e = NULL;
    if (b == NULL)
        return NULL;
    if (field == NULL || v == NULL || n == 0 || n > VMF_MAX_LIST)
        return fb_fail(b, "IN: NULL field or values, or not 1..1024 values");
    xs = vx_mem_alloc(&b->mem, n * sizeof *xs);
    if (xs == NULL)
        return fb_fail(b, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!fb_value(&v[i], &xs[i])) {
            vx_mem_free(&b->mem, xs);
            return fb_fail(b, "IN: a value of no literal type");
        }
    e = (vex_expr *)(negate ? vx_vmf_not_in(b->vb, field, xs, n)
                            : vx_vmf_in(b->vb, field, xs, n));
    vx_mem_free(&b->mem, xs);
    return e;
}

vex_expr *vex_expr_between(vex_filter_builder *b, const char *field,
                           vex_value lo, vex_value hi)
{
    vm_value l, h;
    if (b == NULL)
        return NULL;
    if (field == NULL || !fb_value(&lo, &l) || !fb_value(&hi, &h))
        return fb_fail(b, "BETWEEN: NULL field or a bound of no literal "
                          "type");
    return (vex_expr *)vx_vmf_between(b->vb, field, l, h);
}

vex_expr *vex_expr_contains(vex_filter_builder *b, const char *field,
                            const char *const *tags, size_t n, int all)
{
    vm_value *xs;
    vex_expr *e;
    if (b == NULL)
        return NULL;
    if (field == NULL || tags == NULL || n == 0 || n > VMF_MAX_LIST)
        return fb_fail(b, "CONTAINS: NULL field or tags, or not 1..1024 "
                          "tags");
    xs = vx_mem_alloc(&b->mem, n * sizeof *xs);
    if (xs == NULL)
        return fb_fail(b, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (tags[i] == NULL) {
            vx_mem_free(&b->mem, xs);
            return fb_fail(b, "CONTAINS: a NULL tag");
        }
        xs[i] = vx_vm_cstring(tags[i]);
    }
    if (n == 1 && !all)
        e = (vex_expr *)vx_vmf_contains(b->vb, field, xs[0]);
    else if (all)
        e = (vex_expr *)vx_vmf_contains_all(b->vb, field, xs, n);
    else
        e = (vex_expr *)vx_vmf_contains_any(b->vb, field, xs, n);
    vx_mem_free(&b->mem, xs);
    return e;
}

vex_expr *vex_expr_is_null(vex_filter_builder *b, const char *field, int negate)
{
    if (b == NULL)
        return NULL;
    if (field == NULL)
        return fb_fail(b, "IS NULL: NULL field");
    return (vex_expr *)(negate ? vx_vmf_is_not_null(b->vb, field)
                               : vx_vmf_is_null(b->vb, field));
}

vex_expr *vex_expr_and(vex_filter_builder *b, vex_expr *x, vex_expr *y)
{
    return b ? (vex_expr *)vx_vmf_and(b->vb, (vmf_expr *)x, (vmf_expr *)y)
             : NULL;
}

vex_expr *vex_expr_or(vex_filter_builder *b, vex_expr *x, vex_expr *y)
{
    return b ? (vex_expr *)vx_vmf_or(b->vb, (vmf_expr *)x, (vmf_expr *)y)
             : NULL;
}

vex_expr *vex_expr_not(vex_filter_builder *b, vex_expr *x)
{
    return b ? (vex_expr *)vx_vmf_not(b->vb, (vmf_expr *)x) : NULL;
}

int vex_filter_build(vex_collection *c, vex_filter_builder *b,
                     const vex_expr *root, vex_filter **out)
{
    vmf_filter *cf = NULL;
    int rc;
    if (out)
        *out = NULL;
    if (!vx_coll_usable(c) || out == NULL)
        return VEX_MISUSE;
    if (b == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "builder is NULL");
    if (b->rc != VEX_OK)
        return vx_err_set(&c->err, b->rc, "%s", b->msg);
    rc = vx_vmf_build(b->vb, (const vmf_expr *)root, c->schema, c->mem, &c->err,
                      &cf);
    if (rc != VEX_OK)
        return rc;
    return filter_wrap(c, cf, out);
}
