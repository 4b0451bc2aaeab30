/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meta_api.c - the public vex_meta handle: a builder and reader of one
 * record's metadata over the meta layer's immutable vm_record. Each
 * change builds a new record (vx_vm_record_new checks names, values and
 * limits and deep-copies) and swaps it in, so a failed change leaves the
 * handle as it was, and the engine can copy the record as it is. A change
 * costs O(fields), which with at most 256 fields is cheaper than keeping
 * a second, mutable representation in step with the record.
 */
#include <string.h>

#include "engine/meta_api.h"
#include "util/err.h"
#include "util/mem.h"

struct vex_meta {
    vex_mem mem;
    vex_err err;
    vm_record *rec; /* NULL: no fields */
};

const char *vex_type_name(vex_type t)
{
    return vx_vm_type_name((int)t);
}

int vex_meta_create(const vex_allocator *alloc, vex_meta **out)
{
    vex_mem mem;
    vex_meta *m;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (vx_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    m = vx_mem_calloc(&mem, 1, sizeof *m);
    if (m == NULL)
        return VEX_NOMEM;
    m->mem = mem;
    vx_err_init(&m->err);
    *out = m;
    return VEX_OK;
}

void vex_meta_free(vex_meta *m)
{
    vex_mem mem;
    if (m == NULL)
        return;
    mem = m->mem;
    vx_vm_record_free(m->rec, &mem);
    vx_err_destroy(&m->err);
    vx_mem_free(&mem, m);
}

void vex_meta_clear(vex_meta *m)
{
    if (m)
        vx_meta_take(m, NULL);
}

int vx_meta_view_new(const vex_mem *mem, const vex_mem *rec_mem, vex_meta **out)
{
    vex_meta *m = vx_mem_calloc(mem, 1, sizeof *m);
    *out = NULL;
    if (m == NULL)
        return VEX_NOMEM;
    m->mem = *rec_mem;
    vx_err_init(&m->err);
    *out = m;
    return VEX_OK;
}

void vx_meta_view_set(vex_meta *m, vm_record *rec)
{
    m->rec = rec;
}

void vx_meta_view_free(vex_meta *m, const vex_mem *mem)
{
    if (m == NULL)
        return;
    vx_err_destroy(&m->err);
    vx_mem_free(mem, m);
}

const vm_record *vx_meta_record(const vex_meta *m)
{
    return m ? m->rec : NULL;
}

void vx_meta_take(vex_meta *m, vm_record *rec)
{
    vx_vm_record_free(m->rec, &m->mem);
    m->rec = rec;
}

const vex_mem *vx_meta_mem(const vex_meta *m)
{
    return &m->mem;
}

/* The record with field `name` set to `v` (or removed when v is NULL). */
static int meta_put(vex_meta *m, const char *name, const vm_value *v)
{
    size_t n, len, k = 0;
    const vm_field *f;
    vm_field stack[32], *fs = stack;
    vm_record *rec = NULL;
    int rc, found = 0;
    if (m == NULL)
        return VEX_MISUSE;
    if (name == NULL)
        return vx_err_set(&m->err, VEX_MISUSE, "field name is NULL");
    len = strlen(name);
    n = vx_vm_record_n_fields(m->rec);
    f = vx_vm_record_fields(m->rec);
    if (n + 1 > sizeof stack / sizeof stack[0]) {
        fs = vx_mem_alloc(&m->mem, (n + 1) * sizeof *fs);
        if (fs == NULL)
            return vx_err_set(&m->err, VEX_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (f[i].name.len == len && memcmp(f[i].name.p, name, len) == 0) {
            found = 1;
            if (v == NULL)
                continue;
            fs[k] = f[i];
            fs[k++].v = *v;
        } else {
            fs[k++] = f[i];
        }
    }
    if (v == NULL && !found) {
        rc = vx_err_set(&m->err, VEX_NOTFOUND, "no field \"%.64s\"", name);
        goto out;
    }
    if (v != NULL && !found) {
        fs[k].name.p = name;
        fs[k].name.len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
        fs[k++].v = *v;
    }
    rc = vx_vm_record_new(fs, k, &m->mem, &m->err, &rec);
    if (rc == VEX_OK)
        vx_meta_take(m, rec);
out:
    if (fs != stack)
        vx_mem_free(&m->mem, fs);
    return rc;
}

int vex_meta_set_null(vex_meta *m, const char *name)
{
    vm_value v = vx_vm_null();
    return meta_put(m, name, &v);
}

int vex_meta_set_bool(vex_meta *m, const char *name, int value)
{
    vm_value v = vx_vm_bool(value != 0);
    return meta_put(m, name, &v);
}

int vex_meta_set_int(vex_meta *m, const char *name, int64_t value)
{
    vm_value v = vx_vm_int(value);
    return meta_put(m, name, &v);
}

int vex_meta_set_double(vex_meta *m, const char *name, double value)
{
    vm_value v = vx_vm_double(value);
    return meta_put(m, name, &v);
}

int vex_meta_set_string(vex_meta *m, const char *name, const char *s,
                        size_t len)
{
    vm_value v;
    if (m == NULL)
        return VEX_MISUSE;
    if (s == NULL && len > 0)
        return vx_err_set(&m->err, VEX_MISUSE, "string is NULL");
    if (len > VM_MAX_STRING)
        return vx_err_set(&m->err, VEX_INVALID,
                          "field \"%.64s\": string of %zu bytes, at most %u",
                          name ? name : "", len, VM_MAX_STRING);
    v = vx_vm_string(s ? s : "", len);
    return meta_put(m, name, &v);
}

int vex_meta_set_tags(vex_meta *m, const char *name, const char *const *tags,
                      size_t n_tags)
{
    vm_str stack[64], *t = stack;
    vm_value v;
    int rc;
    if (m == NULL)
        return VEX_MISUSE;
    if (tags == NULL && n_tags > 0)
        return vx_err_set(&m->err, VEX_MISUSE, "tags is NULL");
    if (n_tags > VM_MAX_TAGS)
        return vx_err_set(&m->err, VEX_INVALID,
                          "field \"%.64s\": %zu tags, at most %u",
                          name ? name : "", n_tags, VM_MAX_TAGS);
    if (n_tags > sizeof stack / sizeof stack[0]) {
        t = vx_mem_alloc(&m->mem, n_tags * sizeof *t);
        if (t == NULL)
            return vx_err_set(&m->err, VEX_NOMEM, "out of memory");
    }
    rc = VEX_OK;
    for (size_t i = 0; i < n_tags && rc == VEX_OK; i++) {
        size_t len;
        if (tags[i] == NULL) {
            rc = vx_err_set(&m->err, VEX_MISUSE, "tag %zu is NULL", i);
            break;
        }
        len = strlen(tags[i]);
        if (len > VM_MAX_TAG)
            rc = vx_err_set(&m->err, VEX_INVALID,
                            "field \"%.64s\": tag %zu has %zu bytes, at "
                            "most %u",
                            name ? name : "", i, len, VM_MAX_TAG);
        t[i].p = tags[i];
        t[i].len = (uint32_t)len;
    }
    if (rc == VEX_OK) {
        v = vx_vm_tags(t, n_tags);
        rc = meta_put(m, name, &v);
    }
    if (t != stack)
        vx_mem_free(&m->mem, t);
    return rc;
}

int vex_meta_remove(vex_meta *m, const char *name)
{
    return meta_put(m, name, NULL);
}

size_t vex_meta_count(const vex_meta *m)
{
    return m ? vx_vm_record_n_fields(m->rec) : 0;
}

int vex_meta_field(const vex_meta *m, size_t i, vex_field *out)
{
    const vm_field *f;
    if (m == NULL || out == NULL)
        return VEX_MISUSE;
    memset(out, 0, sizeof *out);
    if (i >= vx_vm_record_n_fields(m->rec))
        return VEX_NOTFOUND;
    f = &vx_vm_record_fields(m->rec)[i];
    out->name = f->name.p;
    out->name_len = f->name.len;
    out->type = (vex_type)f->v.type;
    switch (f->v.type) {
    case VM_BOOL:
        out->b = f->v.u.b;
        break;
    case VM_INT:
        out->i = f->v.u.i;
        break;
    case VM_DOUBLE:
        out->d = f->v.u.d;
        break;
    case VM_STRING:
        out->s = f->v.u.s.p;
        out->len = f->v.u.s.len;
        break;
    case VM_TAGS:
        out->n_tags = f->v.u.tags.n;
        break;
    default:
        break;
    }
    return VEX_OK;
}

int vex_meta_find(const vex_meta *m, const char *name, size_t *i)
{
    const vm_value *v;
    if (m == NULL || name == NULL || i == NULL)
        return VEX_MISUSE;
    v = vx_vm_record_get(m->rec, name, strlen(name));
    if (v == NULL)
        return VEX_NOTFOUND;
    /* the value lives inside its field: recover the field's number */
    {
        const vm_field *f = vx_vm_record_fields(m->rec);
        for (size_t k = 0; k < vx_vm_record_n_fields(m->rec); k++)
            if (&f[k].v == v) {
                *i = k;
                return VEX_OK;
            }
    }
    return VEX_NOTFOUND;
}

int vex_meta_tag(const vex_meta *m, size_t i, size_t j, const char **p,
                 size_t *len)
{
    const vm_field *f;
    if (m == NULL || p == NULL || len == NULL)
        return VEX_MISUSE;
    *p = NULL;
    *len = 0;
    if (i >= vx_vm_record_n_fields(m->rec))
        return VEX_NOTFOUND;
    f = &vx_vm_record_fields(m->rec)[i];
    if (f->v.type != VM_TAGS)
        return VEX_INVALID;
    if (j >= f->v.u.tags.n)
        return VEX_NOTFOUND;
    *p = f->v.u.tags.v[j].p;
    *len = f->v.u.tags.v[j].len;
    return VEX_OK;
}

const char *vex_meta_errmsg(const vex_meta *m)
{
    return m ? m->err.msg : "";
}
