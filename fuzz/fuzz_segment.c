/*
 * fuzz_segment.c - fuzz target for the segment reader (src/storage/
 * segment.c). Input: byte 0 is flags, the rest is a segment file.
 * Flags: bit 0 re-seals the header CRC (bytes 508..511) after bit 1 has
 * re-sealed the CRC of every section-table entry whose bounds lie inside
 * the file, so damaged fields get past the checksums and the structural
 * checks behind them are what is fuzzed; bit 2 opens with a wrong
 * expected file number. The file is written to an in-memory vfs as
 * seg-<number>.vseg, the number taken from bytes 16..23 of its header (1
 * when shorter), and opened with seg_open. Checked: the status is OK,
 * CORRUPT or UNSUPPORTED and nothing leaks; an opened segment has the
 * input's size, strictly ascending ids that seg_find finds at their rows
 * (and their successors absent unless the next id), and seg_index either
 * fails (CORRUPT, the same on a second call) or returns a 64-aligned
 * region inside the file whose bytes are all read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/vfs.h"
#include "storage/segment.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void reseal(unsigned char *b, size_t n, int sections)
{
    uint32_t i, n_sec;
    if (n < 512)
        return;
    n_sec = vex_get_u32le(b + 72);
    for (i = 0; sections && i < n_sec && i < SEG_MAX_SECTIONS; i++) {
        unsigned char *e = b + 80 + 24 * i;
        uint64_t off = vex_get_u64le(e + 8), len = vex_get_u64le(e + 16);
        if (off <= n && len <= n - off)
            vex_put_u32le(e + 4, vex_crc32c(b + off, (size_t)len));
    }
    vex_put_u32le(b + 508, vex_crc32c(b, 508));
}

static void walk(seg *s, size_t size)
{
    seg_info info;
    const uint64_t *ids;
    const unsigned char *p = NULL;
    const void *vp = NULL;
    uint64_t i, row, n, bsize = 0;
    volatile unsigned sum = 0;
    int rc, rc2;

    seg_get_info(s, &info);
    check(info.file_size == size);
    check(info.n_rows <= (size - 4096) / 8);
    n = info.n_rows;
    ids = seg_ids(s);
    check(n == 0 || ((uintptr_t)ids % 8 == 0));
    for (i = 0; i < n; i++) {
        check(i == 0 || ids[i] > ids[i - 1]);
        row = UINT64_MAX;
        check(seg_find(s, ids[i], &row) == 1 && row == i);
        if (ids[i] != UINT64_MAX && (i + 1 == n || ids[i + 1] != ids[i] + 1))
            check(seg_find(s, ids[i] + 1, NULL) == 0);
    }
    if (n == 0 || ids[0] > 0)
        check(seg_find(s, 0, NULL) == 0);
    rc = seg_index(s, &vp, &bsize, NULL);
    rc2 = seg_index(s, &vp, &bsize, NULL);
    check(rc == rc2);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_NOTFOUND);
    if (rc != VEX_OK) {
        check(vp == NULL && bsize == 0);
        return;
    }
    p = vp;
    check((uintptr_t)p % 64 == 0 && bsize <= size - 4096);
    for (i = 0; i < bsize; i++)
        sum += p[i];
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_vfs *v = NULL;
    vex_file *f = NULL;
    seg *s = NULL;
    unsigned char *b = NULL;
    uint64_t number = 1, n_open, n_maps;
    char path[SEG_NAME_LEN + 1];
    size_t n;
    int flags, rc;

    if (size < 1)
        return 0;
    flags = data[0];
    n = size - 1;
    b = malloc(n ? n : 1);
    if (b == NULL)
        return 0;
    if (n)
        memcpy(b, data + 1, n);
    if (flags & 3)
        reseal(b, n, flags & 2);
    if (n >= 24)
        number = vex_get_u64le(b + 16);
    if (vex_vfs_mem_create(NULL, &v) != VEX_OK)
        goto cleanup;
    check(seg_file_name(path, sizeof path, number) == VEX_OK);
    check(seg_parse_name(path, NULL) == 1);
    check(vex_vfs_open(v, path, VEX_OPEN_READWRITE | VEX_OPEN_CREATE, &f,
                       NULL) == VEX_OK);
    if (n)
        check(vex_file_write(f, b, n, 0, NULL) == VEX_OK);
    vex_file_close(f, NULL);
    rc = seg_open(v, path, flags & 4 ? number ^ 1 : number, NULL, NULL, &s);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    check((rc == VEX_OK) == (s != NULL));
    if (s) {
        check(!(flags & 4));
        walk(s, n);
        seg_close(s);
    }
    vex_vfs_mem_counts(v, &n_open, &n_maps);
    check(n_open == 0 && n_maps == 0);
cleanup:
    vex_vfs_destroy(v);
    free(b);
    return 0;
}
