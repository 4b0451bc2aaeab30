/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema.c - the optional metadata schema (interface in schema.h, bytes
 * in docs/FORMAT.md "Schema blob"): construction, record validation and a
 * CRC32C-sealed canonical blob with a strict loader. Meta layer.
 *
 * A schema is one block (header, declarations sorted by name, name bytes)
 * like a record, and the blob is canonical: names ascending, unused bits
 * zero, so decode(encode(s)) == s and encode(decode(b)) == b.
 */
#include "meta/schema.h"

#include <stdio.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rd.h"

#define SCH_MAGIC    0x48435356u /* "VSCH" little-endian */
#define SCH_HDR      20u
#define SCH_CLOSED   1u /* header flag */
#define SCH_NULLABLE 1u /* field flag */

struct vm_schema {
    size_t n;
    int closed;
    vm_schema_field *f;
};

static vm_schema *schema_block_alloc(size_t n, size_t n_bytes,
                                     const vex_mem *mem, char **bytes)
{
    size_t off_f = (sizeof(vm_schema) + 7) & ~(size_t)7;
    size_t off_b = off_f + n * sizeof(vm_schema_field);
    unsigned char *p = vx_mem_alloc(mem, off_b + n_bytes);
    vm_schema *s = (vm_schema *)p;
    if (p == NULL)
        return NULL;
    s->n = n;
    s->closed = 0;
    s->f = (vm_schema_field *)(p + off_f);
    *bytes = (char *)(p + off_b);
    return s;
}

int vx_vm_schema_new(const vm_schema_field *fields, size_t n, int closed,
                     const vex_mem *mem, vex_err *err, vm_schema **out)
{
    size_t i, j, n_bytes = 0;
    vm_schema *s;
    char *bytes;

    *out = NULL;
    if (n > VM_SCHEMA_MAX_FIELDS)
        return vx_err_set(err, VEX_INVALID, "schema: %lu fields (at most %u)",
                          (unsigned long)n, VM_SCHEMA_MAX_FIELDS);
    for (i = 0; i < n; i++) {
        const vm_schema_field *f = &fields[i];
        if (f->name.p == NULL || !vx_vm_name_valid(f->name.p, f->name.len))
            return vx_err_set(err, VEX_INVALID,
                              "schema: field %lu: name must be 1..%u bytes of "
                              "UTF-8 without control characters",
                              (unsigned long)i, VM_MAX_NAME);
        if (f->type < VM_BOOL || f->type > VM_TAGS)
            return vx_err_set(err, VEX_INVALID,
                              "schema: field \"%.*s\": unknown type %d",
                              (int)f->name.len, f->name.p, (int)f->type);
        if (f->nullable != 0 && f->nullable != 1)
            return vx_err_set(err, VEX_INVALID,
                              "schema: field \"%.*s\": nullable must be 0 or 1",
                              (int)f->name.len, f->name.p);
        for (j = 0; j < i; j++)
            if (vx_vm_str_cmp(&fields[j].name, &f->name) == 0)
                return vx_err_set(err, VEX_INVALID,
                                  "schema: field \"%.*s\" declared twice",
                                  (int)f->name.len, f->name.p);
        n_bytes += f->name.len;
    }
    s = schema_block_alloc(n, n_bytes, mem, &bytes);
    if (s == NULL)
        return vx_err_set(err, VEX_NOMEM, "schema: out of memory");
    s->closed = closed != 0;
    for (i = 0; i < n; i++) {
        vm_schema_field tmp = fields[i];
        memcpy(bytes, tmp.name.p, tmp.name.len);
        tmp.name.p = bytes;
        bytes += tmp.name.len;
        for (j = i; j > 0 && vx_vm_str_cmp(&s->f[j - 1].name, &tmp.name) > 0;
             j--)
            s->f[j] = s->f[j - 1];
        s->f[j] = tmp;
    }
    *out = s;
    return VEX_OK;
}

void vx_vm_schema_free(vm_schema *s, const vex_mem *mem)
{
    vx_mem_free(mem, s);
}

size_t vx_vm_schema_n_fields(const vm_schema *s)
{
    return s->n;
}

const vm_schema_field *vx_vm_schema_fields(const vm_schema *s)
{
    return s->f;
}

int vx_vm_schema_closed(const vm_schema *s)
{
    return s->closed;
}

const vm_schema_field *vx_vm_schema_find(const vm_schema *s, const char *name,
                                         size_t len)
{
    vm_str key;
    size_t lo = 0, hi = s->n;
    key.p = name;
    key.len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = vx_vm_str_cmp(&s->f[mid].name, &key);
        if (c == 0)
            return &s->f[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int vx_vm_schema_check(const vm_schema *s, const vm_record *r, vex_err *err)
{
    const vm_field *rf = vx_vm_record_fields(r);
    size_t nr = vx_vm_record_n_fields(r), i = 0, j = 0;
    /* Merge the two sorted lists, so the first error in name order is
     * the one reported. */
    while (i < s->n || j < nr) {
        int c = i == s->n ? 1
                : j == nr ? -1
                          : vx_vm_str_cmp(&s->f[i].name, &rf[j].name);
        if (c < 0) { /* declared, absent from the record */
            const vm_schema_field *f = &s->f[i++];
            if (!f->nullable)
                return vx_err_set(err, VEX_INVALID,
                                  "metadata: field \"%.*s\": required but "
                                  "missing",
                                  (int)f->name.len, f->name.p);
        } else if (c > 0) { /* in the record only */
            const vm_field *v = &rf[j++];
            if (s->closed)
                return vx_err_set(
                    err, VEX_INVALID,
                    "metadata: field \"%.*s\" is not in the schema",
                    (int)v->name.len, v->name.p);
        } else {
            const vm_schema_field *f = &s->f[i++];
            const vm_field *v = &rf[j++];
            if (v->v.type == VM_NULL) {
                if (!f->nullable)
                    return vx_err_set(err, VEX_INVALID,
                                      "metadata: field \"%.*s\": required but "
                                      "null",
                                      (int)f->name.len, f->name.p);
            } else if (v->v.type != f->type) {
                return vx_err_set(
                    err, VEX_INVALID,
                    "metadata: field \"%.*s\": expected %s, got %s",
                    (int)f->name.len, f->name.p, vx_vm_type_name(f->type),
                    vx_vm_type_name(v->v.type));
            }
        }
    }
    return VEX_OK;
}

int vx_vm_schema_equal(const vm_schema *a, const vm_schema *b)
{
    size_t i;
    if (a->n != b->n || a->closed != b->closed)
        return 0;
    for (i = 0; i < a->n; i++)
        if (vx_vm_str_cmp(&a->f[i].name, &b->f[i].name) != 0 ||
            a->f[i].type != b->f[i].type ||
            a->f[i].nullable != b->f[i].nullable)
            return 0;
    return 1;
}

/* ---- blob --------------------------------------------------------------- */

size_t vx_vm_schema_encoded_size(const vm_schema *s)
{
    size_t i, n = SCH_HDR + 4;
    for (i = 0; i < s->n; i++)
        n += 3 + s->f[i].name.len;
    return n;
}

size_t vx_vm_schema_encode(const vm_schema *s, unsigned char *buf)
{
    size_t i, pos = SCH_HDR, total = vx_vm_schema_encoded_size(s);
    vex_put_u32le(buf, SCH_MAGIC);
    vex_put_u32le(buf + 4, VM_SCHEMA_VERSION);
    vex_put_u32le(buf + 8, s->closed ? SCH_CLOSED : 0);
    vex_put_u32le(buf + 12, (uint32_t)s->n);
    vex_put_u32le(buf + 16, (uint32_t)total);
    for (i = 0; i < s->n; i++) {
        const vm_schema_field *f = &s->f[i];
        buf[pos++] = (unsigned char)f->type;
        buf[pos++] = f->nullable ? SCH_NULLABLE : 0;
        buf[pos++] = (unsigned char)f->name.len;
        memcpy(buf + pos, f->name.p, f->name.len);
        pos += f->name.len;
    }
    vex_put_u32le(buf + pos, vex_crc32c(buf, pos));
    return pos + 4;
}

int vx_vm_schema_decode(const unsigned char *buf, size_t len,
                        const vex_mem *mem, vex_err *err, vm_schema **out)
{
    uint32_t version, flags, total;
    size_t n, i, n_bytes = 0;
    vm_schema *s;
    char *bytes;
    vm_str prev = {NULL, 0};
    vx_rd in;

    *out = NULL;
    if (len < SCH_HDR + 4)
        return VX_CORRUPT(err, "schema: truncated header at offset %zu", len);
    in = vx_rd_new(buf, len - 4); /* the fields end where the CRC starts */
    if (vx_rd_u32(&in, NULL) != SCH_MAGIC)
        return VX_CORRUPT(err, "schema: bad magic at offset 0");
    version = vx_rd_u32(&in, NULL);
    if (version > VM_SCHEMA_VERSION)
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "schema: version %lu is newer than this library (%u)",
                          (unsigned long)version, VM_SCHEMA_VERSION);
    if (version != VM_SCHEMA_VERSION)
        return VX_CORRUPT(err, "schema: bad version at offset 4");
    flags = vx_rd_u32(&in, NULL);
    n = vx_rd_u32(&in, NULL);
    total = vx_rd_u32(&in, NULL);
    if (total != len)
        return VX_CORRUPT(err, "schema: length does not match the buffer at "
                               "offset 16");
    if (vex_get_u32le(buf + len - 4) != vex_crc32c(buf, len - 4))
        return VX_CORRUPT(err, "schema: checksum mismatch at offset %zu",
                          len - 4);
    if (flags & ~SCH_CLOSED)
        vx_rd_fail_at(&in, 8, "unknown flags");
    if (n > VM_SCHEMA_MAX_FIELDS)
        vx_rd_fail_at(&in, 12, "more fields than the limit");
    /* Validate everything before allocating. */
    for (i = 0; i < n && vx_rd_ok(&in); i++) {
        vm_str name;
        size_t start = vx_rd_pos(&in);
        unsigned type, fflags;
        if (vx_rd_left(&in) < 3) { /* name the field's start */
            vx_rd_fail(&in, "truncated field");
            break;
        }
        type = vx_rd_u8(&in, NULL);
        fflags = vx_rd_u8(&in, NULL);
        name.len = vx_rd_u8(&in, NULL);
        if (type < VM_BOOL || type > VM_TAGS)
            vx_rd_fail_at(&in, start, "unknown field type");
        if (fflags & ~SCH_NULLABLE)
            vx_rd_fail_at(&in, start + 1, "unknown field flags");
        name.p =
            (const char *)vx_rd_take(&in, name.len, "truncated field name");
        if (!vx_rd_ok(&in))
            break;
        if (!vx_vm_name_valid(name.p, name.len))
            vx_rd_fail_at(&in, start + 3, "invalid field name");
        else if (i > 0 && vx_vm_str_cmp(&prev, &name) >= 0)
            vx_rd_fail_at(&in, start, "field names not in ascending order");
        prev = name;
        n_bytes += name.len;
    }
    vx_rd_end(&in, "bytes after the last field");
    if (!vx_rd_ok(&in))
        return VX_CORRUPT(err, "schema: %s at offset %zu", vx_rd_what(&in),
                          vx_rd_fail_off(&in));
    s = schema_block_alloc(n, n_bytes, mem, &bytes);
    if (s == NULL)
        return vx_err_set(err, VEX_NOMEM, "schema: out of memory");
    s->closed = (flags & SCH_CLOSED) != 0;
    /* the same walk again, over checked bytes */
    in = vx_rd_new(buf, len - 4);
    vx_rd_skip(&in, SCH_HDR, NULL);
    for (i = 0; i < n; i++) {
        vm_schema_field *f = &s->f[i];
        f->type = (vm_type)vx_rd_u8(&in, NULL);
        f->nullable = vx_rd_u8(&in, NULL) & SCH_NULLABLE;
        f->name.len = vx_rd_u8(&in, NULL);
        vx_rd_copy(&in, bytes, f->name.len, NULL);
        f->name.p = bytes;
        bytes += f->name.len;
    }
    *out = s;
    return VEX_OK;
}
