/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_manifest.c - fuzz target for the collection manifest decoder and
 * CURRENT reader (src/storage/manifest.c). Byte 0 of the input is flags,
 * the rest is the payload:
 *  - bit 1 clear: the payload is a MANIFEST file. With bit 0 set it is
 *    re-sealed first (the length field at offset 16 and the trailing CRC
 *    are recomputed), so damaged counts and fields get past the checksum
 *    and the checks behind it are what is fuzzed. Checked: decode returns
 *    VEX_OK, VEX_CORRUPT or VEX_UNSUPPORTED and never crashes; when it
 *    succeeds, encoding the result succeeds and gives back exactly the
 *    payload (the format is canonical), and decoding that again gives an
 *    equal manifest.
 *  - bit 1 set: the payload is a CURRENT file, loaded with vx_manifest_load
 *    from an in-memory directory that also holds one valid manifest
 *    (number 3). Checked: the status is VEX_OK only when the result is
 *    that manifest, otherwise VEX_CORRUPT.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/vfs.h"
#include "storage/manifest.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "vexdb.h"

#include <stdio.h>

#define check(ok) check_at((ok), __LINE__)
static void check_at(int ok, int line)
{
    if (!ok) {
        fprintf(stderr, "fuzz_manifest.c:%d: check failed\n", line);
        abort();
    }
}

static int same(const manifest *a, const manifest *b)
{
    uint32_t i;
    if (a->number != b->number || a->next_file != b->next_file ||
        a->flushed_seq != b->flushed_seq || a->n_segments != b->n_segments ||
        a->as_of_seq != b->as_of_seq || a->publish_unix != b->publish_unix ||
        a->schema_len != b->schema_len ||
        (a->schema_len && memcmp(a->schema, b->schema, a->schema_len) != 0) ||
        memcmp(&a->config, &b->config, sizeof a->config) != 0)
        return 0;
    for (i = 0; i < a->n_segments; i++) {
        const man_segment *s = &a->segs[i], *t = &b->segs[i];
        if (s->number != t->number || s->n_rows != t->n_rows ||
            s->file_size != t->file_size || s->min_seq != t->min_seq ||
            s->max_seq != t->max_seq || s->n_deleted != t->n_deleted ||
            (s->n_deleted &&
             memcmp(s->deleted, t->deleted, s->n_deleted * 8) != 0))
            return 0;
    }
    return 1;
}

static void fuzz_decode(const vex_mem *mem, const uint8_t *data, size_t size,
                        int reseal)
{
    unsigned char *b = NULL, *e = NULL;
    size_t en = 0;
    manifest m, m2;
    int rc;
    b = malloc(size ? size : 1);
    if (b == NULL)
        return;
    if (size)
        memcpy(b, data, size);
    if (reseal && size >= 28) {
        vex_put_u64le(b + 16, size);
        vex_put_u32le(b + size - 4, vex_crc32c(b, size - 4));
    }
    rc = vx_manifest_decode(b, size, "MANIFEST-fuzz", mem, NULL, &m);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    if (rc == VEX_OK) {
        check(vx_manifest_encode(&m, mem, NULL, &e, &en) == VEX_OK);
        check(en == size && memcmp(e, b, size) == 0);
        check(vx_manifest_decode(e, en, "again", mem, NULL, &m2) == VEX_OK);
        check(same(&m, &m2));
        vx_manifest_free(&m2, mem);
        vx_mem_free(mem, e);
        vx_manifest_free(&m, mem);
    }
    free(b);
}

static void fuzz_current(const vex_mem *mem, const uint8_t *data, size_t size)
{
    vex_vfs *v = NULL;
    vex_file *f = NULL;
    manifest m, got;
    int rc;
    memset(&m, 0, sizeof m);
    m.number = 3;
    m.next_file = 4;
    strcpy(m.config.name, "fuzz");
    m.config.dim = 8;
    m.config.elem = VEX_ELEM_F32;
    m.config.metric = VEX_METRIC_L2;
    m.config.index_kind = VEX_INDEX_FLAT;
    if (vx_vfs_mem_create(NULL, &v) != VEX_OK)
        return;
    check(vex_vfs_mkdir(v, "c", NULL) == VEX_OK);
    check(vx_manifest_publish(v, "c", &m, mem, NULL, NULL) == VEX_OK);
    check(vex_vfs_open(v, "c/CURRENT", VX_FILE_READWRITE | VX_FILE_TRUNCATE, &f,
                       NULL) == VEX_OK);
    if (size)
        check(vex_file_write(f, data, size, 0, NULL) == VEX_OK);
    check(vex_file_close(f, NULL) == VEX_OK);
    rc = vx_manifest_load(v, "c", mem, NULL, &got);
    if (rc == VEX_OK) {
        check(same(&got, &m));
        vx_manifest_free(&got, mem);
    } else {
        check(rc == VEX_CORRUPT);
    }
    vex_vfs_destroy(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_mem mem;
    if (size < 1 || vx_mem_init(&mem, NULL) != VEX_OK)
        return 0;
    if (data[0] & 2)
        fuzz_current(&mem, data + 1, size - 1);
    else
        fuzz_decode(&mem, data + 1, size - 1, data[0] & 1);
    return 0;
}
