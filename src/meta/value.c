/* SPDX-License-Identifier: Apache-2.0 */
/*
 * value.c - typed metadata values, records and their canonical binary
 * encoding (interface in value.h, bytes in docs/FORMAT.md "Record metadata
 * encoding"). Part of the meta layer; depends on src/util only.
 *
 * A record is one block: the vm_record header, the field array sorted by
 * name, the tag arrays, then every name, string and tag byte. Building a
 * record and decoding one both count first (names, tags, bytes), check
 * every limit, allocate once and fill, so a record never holds a pointer
 * outside its own block and freeing it is one call.
 *
 * The decoder is strict on purpose: the encoding is stored in log records,
 * so anything the encoder would not have written (unsorted or duplicate
 * names, a bool other than 0/1, NaN, a reserved byte set, bytes after the
 * last field, a wrong total length) is damage, not something to repair.
 */
#include "meta/value.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/endian.h"
#include "util/rd.h"
#include "util/utf8.h"

#define ENC_HDR 8u /* version, reserved, n_fields (u16), total length (u32) */

struct vm_record {
    size_t n;        /* fields */
    size_t enc_size; /* bytes of the encoding */
    vm_field *f;     /* n fields sorted by name, inside this block */
};

/* ---- values ---------------------------------------------------------- */

vm_value vx_vm_null(void)
{
    vm_value v;
    memset(&v, 0, sizeof v);
    v.type = VM_NULL;
    return v;
}

vm_value vx_vm_bool(int b)
{
    vm_value v = vx_vm_null();
    v.type = VM_BOOL;
    v.u.b = b != 0;
    return v;
}

vm_value vx_vm_int(int64_t i)
{
    vm_value v = vx_vm_null();
    v.type = VM_INT;
    v.u.i = i;
    return v;
}

vm_value vx_vm_double(double d)
{
    vm_value v = vx_vm_null();
    v.type = VM_DOUBLE;
    v.u.d = d;
    return v;
}

vm_value vx_vm_string(const char *p, size_t len)
{
    vm_value v = vx_vm_null();
    v.type = VM_STRING;
    v.u.s.p = p;
    /* Longer than any limit: vx_vm_value_check rejects it. */
    v.u.s.len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    return v;
}

vm_value vx_vm_cstring(const char *s)
{
    return vx_vm_string(s, strlen(s));
}

vm_value vx_vm_tags(const vm_str *tags, size_t n)
{
    vm_value v = vx_vm_null();
    v.type = VM_TAGS;
    v.u.tags.v = tags;
    v.u.tags.n = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    return v;
}

const char *vx_vm_type_name(int type)
{
    switch (type) {
    case VM_NULL:
        return "null";
    case VM_BOOL:
        return "bool";
    case VM_INT:
        return "int64";
    case VM_DOUBLE:
        return "double";
    case VM_STRING:
        return "string";
    case VM_TAGS:
        return "tags";
    default:
        return "?";
    }
}

int vx_vm_utf8_valid(const void *p, size_t len)
{
    return vx_vm_utf8_prefix(p, len) == len;
}

size_t vx_vm_utf8_prefix(const void *p, size_t len)
{
    const unsigned char *s = p;
    size_t i = 0, n;
    uint32_t cp;
    while (i < len) {
        if ((n = vx_utf8_decode(s + i, len - i, &cp)) == 0)
            return i;
        i += n;
    }
    return len;
}

int vx_vm_name_valid(const void *p, size_t len)
{
    const unsigned char *s = p;
    size_t i;
    if (len == 0 || len > VM_MAX_NAME)
        return 0;
    for (i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] == 0x7F)
            return 0;
    return vx_vm_utf8_valid(p, len);
}

int vx_vm_value_check(const vm_value *v, const char *what, vex_err *err)
{
    uint32_t k;
    switch (v->type) {
    case VM_NULL:
    case VM_INT:
        return VEX_OK;
    case VM_BOOL:
        if (v->u.b != 0 && v->u.b != 1)
            return vx_err_set(err, VEX_INVALID, "%s: bool must be 0 or 1",
                              what);
        return VEX_OK;
    case VM_DOUBLE:
        if (isnan(v->u.d))
            return vx_err_set(err, VEX_INVALID, "%s: double is NaN", what);
        return VEX_OK;
    case VM_STRING:
        if (v->u.s.len > VM_MAX_STRING)
            return vx_err_set(err, VEX_INVALID,
                              "%s: string of %lu bytes (at most %u)", what,
                              (unsigned long)v->u.s.len, VM_MAX_STRING);
        if (v->u.s.len > 0 && v->u.s.p == NULL)
            return vx_err_set(err, VEX_INVALID, "%s: string bytes are NULL",
                              what);
        if (!vx_vm_utf8_valid(v->u.s.p, v->u.s.len))
            return vx_err_set(err, VEX_INVALID, "%s: string is not valid UTF-8",
                              what);
        return VEX_OK;
    case VM_TAGS:
        if (v->u.tags.n > VM_MAX_TAGS)
            return vx_err_set(err, VEX_INVALID, "%s: %lu tags (at most %u)",
                              what, (unsigned long)v->u.tags.n, VM_MAX_TAGS);
        if (v->u.tags.n > 0 && v->u.tags.v == NULL)
            return vx_err_set(err, VEX_INVALID, "%s: tag array is NULL", what);
        for (k = 0; k < v->u.tags.n; k++) {
            const vm_str *t = &v->u.tags.v[k];
            if (t->len > VM_MAX_TAG)
                return vx_err_set(
                    err, VEX_INVALID, "%s: tag %lu has %lu bytes (at most %u)",
                    what, (unsigned long)k, (unsigned long)t->len, VM_MAX_TAG);
            if ((t->len > 0 && t->p == NULL) || !vx_vm_utf8_valid(t->p, t->len))
                return vx_err_set(err, VEX_INVALID,
                                  "%s: tag %lu is not valid UTF-8", what,
                                  (unsigned long)k);
        }
        return VEX_OK;
    default:
        return vx_err_set(err, VEX_INVALID, "%s: unknown value type %d", what,
                          (int)v->type);
    }
}

static int str_same(const vm_str *a, const vm_str *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

int vx_vm_value_same(const vm_value *a, const vm_value *b)
{
    uint32_t k;
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case VM_NULL:
        return 1;
    case VM_BOOL:
        return a->u.b == b->u.b;
    case VM_INT:
        return a->u.i == b->u.i;
    case VM_DOUBLE:
        return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case VM_STRING:
        return str_same(&a->u.s, &b->u.s);
    case VM_TAGS:
        if (a->u.tags.n != b->u.tags.n)
            return 0;
        for (k = 0; k < a->u.tags.n; k++)
            if (!str_same(&a->u.tags.v[k], &b->u.tags.v[k]))
                return 0;
        return 1;
    default:
        return 0;
    }
}

/* ---- record blocks --------------------------------------------------- */

int vx_vm_str_cmp(const vm_str *a, const vm_str *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

static size_t value_align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Bytes of the encoding of one field. */
static size_t field_enc_size(const vm_field *f)
{
    size_t n = 2 + f->name.len;
    uint32_t k;
    switch (f->v.type) {
    case VM_BOOL:
        return n + 1;
    case VM_INT:
    case VM_DOUBLE:
        return n + 8;
    case VM_STRING:
        return n + 4 + f->v.u.s.len;
    case VM_TAGS:
        n += 2;
        for (k = 0; k < f->v.u.tags.n; k++)
            n += 2 + f->v.u.tags.v[k].len;
        return n;
    default:
        return n;
    }
}

/* One block for n fields, n_tags tag slots and n_bytes bytes (all already
 * bounded by the limits, so the sum cannot overflow). */
static vm_record *value_block_alloc(size_t n, size_t n_tags, size_t n_bytes,
                                    const vex_mem *mem, vm_str **tags,
                                    char **bytes)
{
    size_t off_f = value_align8(sizeof(vm_record));
    size_t off_g = off_f + value_align8(n * sizeof(vm_field));
    size_t off_b = off_g + value_align8(n_tags * sizeof(vm_str));
    unsigned char *p = vx_mem_alloc(mem, off_b + n_bytes);
    vm_record *r = (vm_record *)p;
    if (p == NULL)
        return NULL;
    r->n = n;
    r->enc_size = 0;
    r->f = (vm_field *)(p + off_f);
    *tags = (vm_str *)(p + off_g);
    *bytes = (char *)(p + off_b);
    return r;
}

/* Copy f (already checked) into slot `dst`, taking tag slots and bytes
 * from the cursors. */
static void field_copy(vm_field *dst, const vm_field *f, vm_str **tags,
                       char **bytes)
{
    uint32_t k;
    dst->name.p = *bytes;
    dst->name.len = f->name.len;
    memcpy(*bytes, f->name.p, f->name.len);
    *bytes += f->name.len;
    dst->v = f->v;
    if (f->v.type == VM_STRING) {
        dst->v.u.s.p = *bytes;
        if (f->v.u.s.len)
            memcpy(*bytes, f->v.u.s.p, f->v.u.s.len);
        *bytes += f->v.u.s.len;
    } else if (f->v.type == VM_TAGS) {
        vm_str *t = *tags;
        dst->v.u.tags.v = t;
        for (k = 0; k < f->v.u.tags.n; k++) {
            t[k].p = *bytes;
            t[k].len = f->v.u.tags.v[k].len;
            if (t[k].len)
                memcpy(*bytes, f->v.u.tags.v[k].p, t[k].len);
            *bytes += t[k].len;
        }
        *tags += f->v.u.tags.n;
    }
}

int vx_vm_record_new(const vm_field *fields, size_t n, const vex_mem *mem,
                     vex_err *err, vm_record **out)
{
    size_t i, j, n_tags = 0, n_bytes = 0, enc = ENC_HDR;
    vm_record *r;
    vm_str *tags;
    char *bytes, what[VM_MAX_NAME + 16];
    int rc;

    *out = NULL;
    if (n > VM_MAX_FIELDS)
        return vx_err_set(err, VEX_INVALID, "metadata: %lu fields (at most %u)",
                          (unsigned long)n, VM_MAX_FIELDS);
    for (i = 0; i < n; i++) {
        const vm_field *f = &fields[i];
        if (f->name.p == NULL || !vx_vm_name_valid(f->name.p, f->name.len))
            return vx_err_set(
                err, VEX_INVALID,
                "metadata: field %lu: name must be 1..%u bytes of "
                "UTF-8 without control characters",
                (unsigned long)i, VM_MAX_NAME);
        snprintf(what, sizeof what, "field \"%.*s\"", (int)f->name.len,
                 f->name.p);
        if ((rc = vx_vm_value_check(&f->v, what, err)) != VEX_OK)
            return rc;
        for (j = 0; j < i; j++)
            if (vx_vm_str_cmp(&fields[j].name, &f->name) == 0)
                return vx_err_set(err, VEX_INVALID, "metadata: %s given twice",
                                  what);
        n_bytes += f->name.len;
        if (f->v.type == VM_STRING)
            n_bytes += f->v.u.s.len;
        if (f->v.type == VM_TAGS) {
            uint32_t k;
            n_tags += f->v.u.tags.n;
            if (n_tags > VM_MAX_TAGS)
                return vx_err_set(err, VEX_INVALID,
                                  "metadata: more than %u tags in one record",
                                  VM_MAX_TAGS);
            for (k = 0; k < f->v.u.tags.n; k++)
                n_bytes += f->v.u.tags.v[k].len;
        }
        enc += field_enc_size(f);
        if (enc > VM_MAX_ENCODED)
            return vx_err_set(err, VEX_INVALID,
                              "metadata: encoding longer than %u bytes",
                              VM_MAX_ENCODED);
    }
    r = value_block_alloc(n, n_tags, n_bytes, mem, &tags, &bytes);
    if (r == NULL)
        return vx_err_set(err, VEX_NOMEM, "metadata: out of memory");
    r->enc_size = enc;
    /* Insertion sort by name (n <= VM_MAX_FIELDS, names distinct). */
    for (i = 0; i < n; i++) {
        vm_field tmp;
        field_copy(&tmp, &fields[i], &tags, &bytes);
        for (j = i; j > 0 && vx_vm_str_cmp(&r->f[j - 1].name, &tmp.name) > 0;
             j--)
            r->f[j] = r->f[j - 1];
        r->f[j] = tmp;
    }
    *out = r;
    return VEX_OK;
}

int vx_vm_record_copy(const vm_record *r, const vex_mem *mem, vm_record **out)
{
    return vx_vm_record_new(vx_vm_record_fields(r), vx_vm_record_n_fields(r),
                            mem, NULL, out);
}

void vx_vm_record_free(vm_record *r, const vex_mem *mem)
{
    vx_mem_free(mem, r);
}

size_t vx_vm_record_n_fields(const vm_record *r)
{
    return r ? r->n : 0;
}

const vm_field *vx_vm_record_fields(const vm_record *r)
{
    return r ? r->f : NULL;
}

const vm_value *vx_vm_record_get(const vm_record *r, const char *name,
                                 size_t len)
{
    vm_str key;
    size_t lo = 0, hi;
    if (r == NULL)
        return NULL;
    key.p = name;
    key.len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = vx_vm_str_cmp(&r->f[mid].name, &key);
        if (c == 0)
            return &r->f[mid].v;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int vx_vm_record_equal(const vm_record *a, const vm_record *b)
{
    size_t i, n = vx_vm_record_n_fields(a);
    if (n != vx_vm_record_n_fields(b))
        return 0;
    for (i = 0; i < n; i++)
        if (!str_same(&a->f[i].name, &b->f[i].name) ||
            !vx_vm_value_same(&a->f[i].v, &b->f[i].v))
            return 0;
    return 1;
}

/* ---- encoding -------------------------------------------------------- */

size_t vx_vm_record_encoded_size(const vm_record *r)
{
    return r ? r->enc_size : ENC_HDR;
}

static void put_u16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

size_t vx_vm_record_encode(const vm_record *r, unsigned char *buf)
{
    size_t i, n = vx_vm_record_n_fields(r), pos = ENC_HDR;
    size_t total = vx_vm_record_encoded_size(r);
    buf[0] = VM_RECORD_VERSION;
    buf[1] = 0;
    put_u16(buf + 2, (unsigned)n);
    vex_put_u32le(buf + 4, (uint32_t)total);
    for (i = 0; i < n; i++) {
        const vm_field *f = &r->f[i];
        uint64_t bits;
        uint32_t k;
        buf[pos++] = (unsigned char)f->name.len;
        memcpy(buf + pos, f->name.p, f->name.len);
        pos += f->name.len;
        buf[pos++] = (unsigned char)f->v.type;
        switch (f->v.type) {
        case VM_BOOL:
            buf[pos++] = (unsigned char)f->v.u.b;
            break;
        case VM_INT:
            vex_put_u64le(buf + pos, (uint64_t)f->v.u.i);
            pos += 8;
            break;
        case VM_DOUBLE:
            memcpy(&bits, &f->v.u.d, 8);
            vex_put_u64le(buf + pos, bits);
            pos += 8;
            break;
        case VM_STRING:
            vex_put_u32le(buf + pos, f->v.u.s.len);
            pos += 4;
            if (f->v.u.s.len)
                memcpy(buf + pos, f->v.u.s.p, f->v.u.s.len);
            pos += f->v.u.s.len;
            break;
        case VM_TAGS:
            put_u16(buf + pos, f->v.u.tags.n);
            pos += 2;
            for (k = 0; k < f->v.u.tags.n; k++) {
                const vm_str *t = &f->v.u.tags.v[k];
                put_u16(buf + pos, t->len);
                pos += 2;
                if (t->len)
                    memcpy(buf + pos, t->p, t->len);
                pos += t->len;
            }
            break;
        default:
            break;
        }
    }
    return pos;
}

/* The first failure of a decoding walk as VEX_CORRUPT. */
static int rec_corrupt(const vx_rd *in, vex_err *err)
{
    return VX_CORRUPT(err, "record metadata: %s at offset %zu", vx_rd_what(in),
                      vx_rd_fail_off(in));
}

/* One pass over the n fields of an encoding, `in` just after the header.
 * With r == NULL it checks everything and counts tags and bytes; with r
 * set (a block sized by the first pass) it fills the block and checks
 * nothing more. Failures are left in `in` (sticky); the counts are valid
 * when it is still ok. */
static void decode_walk(vx_rd *in, size_t n, vm_record *r, vm_str *tags,
                        char *bytes, size_t *n_tags_out, size_t *n_bytes_out)
{
    size_t i, n_tags = 0, n_bytes = 0;
    vm_str prev = {NULL, 0};
    for (i = 0; i < n && vx_rd_ok(in); i++) {
        vm_field f;
        size_t start = vx_rd_pos(in), at, k;
        unsigned type;
        memset(&f, 0, sizeof f);
        f.name.len = vx_rd_u8(in, "truncated field name length");
        f.name.p =
            (const char *)vx_rd_take(in, f.name.len, "truncated field name");
        if (!vx_rd_ok(in))
            return;
        if (!r && !vx_vm_name_valid(f.name.p, f.name.len)) {
            vx_rd_fail_at(in, start, "invalid field name");
            return;
        }
        if (!r && i > 0 && vx_vm_str_cmp(&prev, &f.name) >= 0) {
            vx_rd_fail_at(in, start, "field names not in ascending order");
            return;
        }
        prev = f.name;
        type = vx_rd_u8(in, "truncated value type");
        if (!vx_rd_ok(in))
            return;
        f.v.type = (vm_type)type;
        at = vx_rd_pos(in);
        switch (type) {
        case VM_NULL:
            break;
        case VM_BOOL:
            f.v.u.b = vx_rd_u8(in, "truncated bool");
            if (f.v.u.b > 1)
                vx_rd_fail_at(in, at, "bool not 0 or 1");
            break;
        case VM_INT:
        case VM_DOUBLE: {
            uint64_t bits = vx_rd_u64(in, "truncated number");
            if (type == VM_INT) {
                memcpy(&f.v.u.i, &bits, 8); /* two's complement */
            } else {
                memcpy(&f.v.u.d, &bits, 8);
                if (isnan(f.v.u.d))
                    vx_rd_fail_at(in, at, "double is NaN");
            }
            break;
        }
        case VM_STRING:
            f.v.u.s.len = vx_rd_u32(in, "truncated string length");
            if (f.v.u.s.len > VM_MAX_STRING) {
                vx_rd_fail_at(in, at, "string longer than the limit");
                return;
            }
            at = vx_rd_pos(in);
            f.v.u.s.p =
                (const char *)vx_rd_take(in, f.v.u.s.len, "truncated string");
            if (vx_rd_ok(in) && !r && !vx_vm_utf8_valid(f.v.u.s.p, f.v.u.s.len))
                vx_rd_fail_at(in, at, "string is not valid UTF-8");
            n_bytes += f.v.u.s.len;
            break;
        case VM_TAGS: {
            size_t cnt = vx_rd_u16(in, "truncated tag count");
            if (n_tags + cnt > VM_MAX_TAGS) {
                vx_rd_fail_at(in, at, "more tags than the limit");
                return;
            }
            if (r) {
                f.v.u.tags.v = tags;
                f.v.u.tags.n = (uint32_t)cnt;
            }
            for (k = 0; k < cnt && vx_rd_ok(in); k++) {
                const unsigned char *t;
                size_t tl;
                at = vx_rd_pos(in);
                tl = vx_rd_u16(in, "truncated tag length");
                if (tl > VM_MAX_TAG) {
                    vx_rd_fail_at(in, at, "tag longer than the limit");
                    return;
                }
                at = vx_rd_pos(in);
                t = vx_rd_take(in, tl, "truncated tag");
                if (!vx_rd_ok(in))
                    return;
                if (!r && !vx_vm_utf8_valid(t, tl)) {
                    vx_rd_fail_at(in, at, "tag is not valid UTF-8");
                    return;
                }
                if (r) {
                    if (tl)
                        memcpy(bytes, t, tl);
                    tags[k].p = bytes;
                    tags[k].len = (uint32_t)tl;
                    bytes += tl;
                }
                n_bytes += tl;
            }
            if (r)
                tags += cnt;
            n_tags += cnt;
            break;
        }
        default:
            vx_rd_fail_at(in, at - 1, "unknown value type");
            break;
        }
        if (!vx_rd_ok(in))
            return;
        n_bytes += f.name.len;
        if (r) {
            vm_field *dst = &r->f[i];
            dst->name.p = bytes;
            dst->name.len = f.name.len;
            memcpy(bytes, f.name.p, f.name.len);
            bytes += f.name.len;
            dst->v = f.v;
            if (type == VM_STRING) {
                dst->v.u.s.p = bytes;
                if (f.v.u.s.len)
                    memcpy(bytes, f.v.u.s.p, f.v.u.s.len);
                bytes += f.v.u.s.len;
            }
        }
    }
    vx_rd_end(in, "bytes after the last field");
    *n_tags_out = n_tags;
    *n_bytes_out = n_bytes;
}

int vx_vm_record_decode(const unsigned char *buf, size_t len,
                        const vex_mem *mem, vex_err *err, vm_record **out)
{
    size_t n, n_tags = 0, n_bytes = 0, total;
    vm_record *r = NULL;
    vm_str *tags;
    char *bytes;
    unsigned version;
    vx_rd in = vx_rd_new(buf, len);

    *out = NULL;
    if (len < ENC_HDR)
        return VX_CORRUPT(
            err, "record metadata: truncated header at offset %zu", len);
    version = vx_rd_u8(&in, NULL);
    if (version > VM_RECORD_VERSION)
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "record metadata: version %u is newer than this "
                          "library (%u)",
                          version, VM_RECORD_VERSION);
    if (version != VM_RECORD_VERSION)
        vx_rd_fail_at(&in, 0, "bad version");
    if (vx_rd_u8(&in, NULL) != 0)
        vx_rd_fail_at(&in, 1, "reserved byte not zero");
    n = vx_rd_u16(&in, NULL);
    if (n > VM_MAX_FIELDS)
        vx_rd_fail_at(&in, 2, "more fields than the limit");
    total = vx_rd_u32(&in, NULL);
    if (total > VM_MAX_ENCODED)
        vx_rd_fail_at(&in, 4, "length larger than the limit");
    if (total != len)
        vx_rd_fail_at(&in, 4, "length does not match the buffer");
    decode_walk(&in, n, NULL, NULL, NULL, &n_tags, &n_bytes);
    if (!vx_rd_ok(&in))
        return rec_corrupt(&in, err);
    r = value_block_alloc(n, n_tags, n_bytes, mem, &tags, &bytes);
    if (r == NULL)
        return vx_err_set(err, VEX_NOMEM, "record metadata: out of memory");
    r->enc_size = len;
    in = vx_rd_new(buf, len);
    vx_rd_skip(&in, ENC_HDR, NULL);
    decode_walk(&in, n, r, tags, bytes, &n_tags, &n_bytes);
    if (!vx_rd_ok(&in)) { /* the first pass checked everything */
        vx_vm_record_free(r, mem);
        return rec_corrupt(&in, err);
    }
    *out = r;
    return VEX_OK;
}
