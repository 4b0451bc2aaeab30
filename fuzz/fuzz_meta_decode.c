/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_meta_decode.c - fuzz target for the metadata decoders
 * (src/meta/value.c vx_vm_record_decode, src/meta/schema.c
 * vx_vm_schema_decode). Byte 0 of the input is flags, the rest the payload:
 *  - bit 0 clear: the payload is a record encoding. Checked: decode
 *    returns VEX_OK, VEX_CORRUPT or VEX_UNSUPPORTED; on success the record
 *    re-encodes to exactly the payload (the encoding is canonical), a deep
 *    copy is equal, every field is found by name, and schema validation
 *    and a filter evaluation run on it without trouble.
 *  - bit 0 set: the payload is a schema blob; with bit 1 set its length
 *    field and CRC are recomputed first, so the checks behind the checksum
 *    are what is fuzzed. Checked: the same statuses; on success it
 *    re-encodes to exactly the (re-sealed) payload.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meta/filter.h"
#include "meta/schema.h"
#include "meta/value.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void fuzz_record(const vex_mem *mem, const uint8_t *p, size_t n)
{
    static const char text[] = "year >= 2020 AND lang IN ('de', 'en') OR NOT "
                               "tags CONTAINS ANY ('x', 'y') OR a IS NULL";
    vm_record *r = NULL, *c = NULL;
    vmf_filter *f = NULL;
    unsigned char *buf;
    size_t i;
    int rc = vx_vm_record_decode(p, n, mem, NULL, &r);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    if (rc != VEX_OK) {
        check(r == NULL);
        return;
    }
    check(vx_vm_record_encoded_size(r) == n);
    buf = malloc(n ? n : 1);
    check(buf != NULL);
    check(vx_vm_record_encode(r, buf) == n && memcmp(buf, p, n) == 0);
    free(buf);
    check(vx_vm_record_copy(r, mem, &c) == VEX_OK && vx_vm_record_equal(r, c));
    for (i = 0; i < vx_vm_record_n_fields(r); i++) {
        const vm_field *fd = &vx_vm_record_fields(r)[i];
        check(vx_vm_record_get(r, fd->name.p, fd->name.len) == &fd->v);
    }
    check(vx_vmf_parse(text, sizeof text - 1, NULL, mem, NULL, &f) == VEX_OK);
    check(vx_vmf_eval(f, r) == vx_vmf_eval(f, c));
    vx_vmf_free(f, mem);
    vx_vm_record_free(c, mem);
    vx_vm_record_free(r, mem);
}

static void fuzz_schema(const vex_mem *mem, const uint8_t *p, size_t n,
                        int reseal)
{
    unsigned char *b = malloc(n ? n : 1), *e;
    vm_schema *s = NULL;
    int rc;
    check(b != NULL);
    if (n)
        memcpy(b, p, n);
    if (reseal && n >= 24) {
        vex_put_u32le(b + 16, (uint32_t)n);
        vex_put_u32le(b + n - 4, vex_crc32c(b, n - 4));
    }
    rc = vx_vm_schema_decode(b, n, mem, NULL, &s);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    if (rc == VEX_OK) {
        check(vx_vm_schema_encoded_size(s) == n);
        e = malloc(n);
        check(e != NULL);
        check(vx_vm_schema_encode(s, e) == n && memcmp(e, b, n) == 0);
        free(e);
        vx_vm_schema_free(s, mem);
    } else {
        check(s == NULL);
    }
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_mem mem;
    if (size < 1)
        return 0;
    vx_mem_init(&mem, NULL);
    if (data[0] & 1)
        fuzz_schema(&mem, data + 1, size - 1, (data[0] & 2) != 0);
    else
        fuzz_record(&mem, data + 1, size - 1);
    return 0;
}
