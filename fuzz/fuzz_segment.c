/*
 * fuzz_segment.c - fuzz target for the segment reader (src/storage/
 * segment.c), format version 3 (and 2). Input: byte 0 is flags, the rest is a
 * segment file. Flags: bit 0 re-seals the header CRC (bytes 508..511)
 * after bit 1 has re-sealed the CRC of every section-table entry (at
 * 88 + 24 * i, n_sections at 80) whose bounds lie inside the file, so
 * damaged fields get past the checksums and the structural and key
 * checks behind them are what is fuzzed; bit 2 opens with a wrong
 * expected file number. The file is written to an in-memory vfs as
 * seg-<number>.vseg, the number taken from bytes 16..23 of its header (1
 * when shorter), and opened with seg_open. Checked: the status is OK,
 * CORRUPT or UNSUPPORTED and nothing leaks; an opened segment has the
 * input's size, n_rows <= n_keys, strictly ascending ids that seg_find
 * finds at their row keys (and their successors absent unless the next
 * id), every row key live and mapping back to its id through
 * seg_key_id and the KEYIDS array, exactly n_rows live keys, every dead
 * key's id 0, nothing live at or past n_keys; seg_index either fails
 * (CORRUPT, the same on a second call) or returns a 64-aligned region
 * inside the file whose bytes are all read; every key's metadata bytes
 * (META section) lie inside the file, exist only for live keys, and
 * either decode with the strict record decoder or are refused by it as
 * CORRUPT/UNSUPPORTED, without leaks. Then the writer must take
 * back what the reader accepted: seg_write of the opened segment's
 * fields, arrays and metadata (and blob, unless its checksum failed)
 * succeeds, and the result opens with the same fields, arrays, metadata
 * and blob.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/vfs.h"
#include "meta/value.h"
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
    n_sec = vex_get_u32le(b + 80);
    for (i = 0; sections && i < n_sec && i < SEG_MAX_SECTIONS; i++) {
        unsigned char *e = b + 88 + 24 * i;
        uint64_t off = vex_get_u64le(e + 8), len = vex_get_u64le(e + 16);
        if (off <= n && len <= n - off)
            vex_put_u32le(e + 4, vex_crc32c(b + off, (size_t)len));
    }
    vex_put_u32le(b + 508, vex_crc32c(b, 508));
}

/* The accessors agree with each other and stay inside the file. */
static void walk(seg *s, size_t size)
{
    seg_info info;
    const uint64_t *ids, *rk, *ki;
    uint64_t i, key, n, nk, n_live = 0;

    seg_get_info(s, &info);
    check(info.file_size == size);
    n = info.n_rows;
    nk = info.n_keys;
    check(n <= nk && nk <= (size - 4096) / 8);
    ids = seg_ids(s);
    rk = seg_row_keys(s);
    ki = seg_key_ids(s);
    check((uintptr_t)ids % 8 == 0 && (uintptr_t)rk % 8 == 0 &&
          (uintptr_t)ki % 8 == 0);
    for (i = 0; i < n; i++) {
        check(i == 0 || ids[i] > ids[i - 1]);
        key = UINT64_MAX;
        check(seg_find(s, ids[i], &key) == 1 && key == rk[i] && key < nk);
        check(seg_key_live(s, key) == 1);
        check(seg_key_id(s, key) == ids[i] && ki[key] == ids[i]);
        if (ids[i] != UINT64_MAX && (i + 1 == n || ids[i + 1] != ids[i] + 1))
            check(seg_find(s, ids[i] + 1, NULL) == 0);
    }
    if (n == 0 || ids[0] > 0)
        check(seg_find(s, 0, NULL) == 0);
    for (i = 0; i < nk; i++) {
        int live = seg_key_live(s, i);
        check(live == 0 || live == 1);
        check(seg_key_id(s, i) == ki[i]);
        check(live || ki[i] == 0);
        n_live += (uint64_t)live;
    }
    check(n_live == n);
    check(seg_key_live(s, nk) == 0 && seg_key_id(s, nk) == 0);
    check(seg_key_live(s, UINT64_MAX) == 0);
}

/* The META section: per-key bytes inside the file, only for live keys,
 * decoded strictly. Builds the offsets array a rewrite needs (*offs,
 * n_keys + 1, NULL when no key has metadata; *data points at key 0's). */
static void walk_meta(seg *s, const unsigned char *file, size_t size,
                      uint64_t **offs)
{
    seg_info info;
    uint64_t k, total = 0;
    int any = 0;
    vex_mem mem;
    seg_get_info(s, &info);
    *offs = NULL;
    check(vex_mem_init(&mem, NULL) == VEX_OK);
    for (k = 0; k <= info.n_keys; k++) {
        const unsigned char *p = NULL;
        size_t len = 99;
        int has = seg_key_meta(s, k, &p, &len);
        vm_record *r = NULL;
        int rc;
        check(has == 0 || has == 1);
        if (!has) {
            check(p == NULL && len == 0);
            continue;
        }
        check(k < info.n_keys && seg_key_live(s, k));
        check(len > 0 && len <= SEG_MAX_META);
        (void)file;
        check(seg_meta_offset(s, k) + len <= size);
        rc = vm_record_decode(p, len, &mem, NULL, &r);
        check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
        check((rc == VEX_OK) == (r != NULL));
        if (r) {
            unsigned char *again = malloc(len);
            check(vm_record_encoded_size(r) == len);
            if (again) {
                vm_record_encode(r, again);
                check(memcmp(again, p, len) == 0); /* canonical */
                free(again);
            }
        }
        vm_record_free(r, &mem);
        any = 1;
    }
    if (!any)
        return;
    *offs = malloc((info.n_keys + 1) * sizeof **offs);
    check(*offs != NULL);
    (*offs)[0] = 0;
    for (k = 0; k < info.n_keys; k++) {
        const unsigned char *p;
        size_t len;
        seg_key_meta(s, k, &p, &len);
        total += len;
        (*offs)[k + 1] = total;
    }
}

/* The INDEX section: *rc of seg_index (stable across calls); *blob and
 * *bsize when VEX_OK, every byte read. */
static void index_of(seg *s, size_t size, int *rc, const unsigned char **blob,
                     uint64_t *bsize)
{
    const void *vp = NULL;
    uint64_t i;
    volatile unsigned sum = 0;
    int rc2;
    *rc = seg_index(s, &vp, bsize, NULL);
    rc2 = seg_index(s, &vp, bsize, NULL);
    check(*rc == rc2);
    check(*rc == VEX_OK || *rc == VEX_CORRUPT || *rc == VEX_NOTFOUND);
    *blob = vp;
    if (*rc != VEX_OK) {
        check(vp == NULL && *bsize == 0);
        return;
    }
    check((uintptr_t)vp % 64 == 0 && *bsize <= size - 4096);
    for (i = 0; i < *bsize; i++)
        sum += (*blob)[i];
    (void)sum;
}

/* seg_write of what `s` holds, reopened: the same segment. */
static void rewrite(vex_vfs *v, seg *s, const unsigned char *blob,
                    uint64_t bsize, int has_blob, const uint64_t *moffs)
{
    unsigned char *mdata = NULL;
    seg_write_info wi;
    seg_info a, b;
    seg *s2 = NULL;
    const void *p2 = NULL;
    uint64_t size2 = 0, number;
    char path[SEG_NAME_LEN + 1];
    int rc;
    seg_get_info(s, &a);
    number = a.number ^ 0x100; /* another name in the same vfs */
    memset(&wi, 0, sizeof wi);
    wi.number = number;
    wi.dim = a.dim;
    wi.elem = a.elem;
    wi.metric = a.metric;
    wi.index_kind = a.index_kind;
    wi.n_rows = a.n_rows;
    wi.n_keys = a.n_keys;
    wi.min_seq = a.min_seq;
    wi.max_seq = a.max_seq;
    wi.ids = seg_ids(s);
    wi.row_keys = seg_row_keys(s);
    wi.key_ids = seg_key_ids(s);
    wi.index_blob = has_blob ? blob : NULL;
    wi.blob_size = has_blob ? bsize : 0;
    if (has_blob && blob == NULL) /* an empty blob: any non-NULL pointer */
        wi.index_blob = &wi;
    if (moffs) {
        /* the records gathered back to back, as a writer would */
        mdata = malloc(moffs[a.n_keys] ? moffs[a.n_keys] : 1);
        check(mdata != NULL);
        for (uint64_t k = 0; k < a.n_keys; k++) {
            const unsigned char *p;
            size_t len;
            if (seg_key_meta(s, k, &p, &len))
                memcpy(mdata + moffs[k], p, len);
        }
        wi.meta_offs = moffs;
        wi.meta_data = mdata;
    }
    check(seg_file_name(path, sizeof path, number) == VEX_OK);
    rc = seg_write(v, path, &wi, NULL, NULL);
    check(rc == VEX_OK);
    check(seg_open(v, path, number, NULL, NULL, &s2) == VEX_OK);
    seg_get_info(s2, &b);
    check(a.dim == b.dim && a.elem == b.elem && a.metric == b.metric &&
          a.index_kind == b.index_kind && a.n_rows == b.n_rows &&
          a.n_keys == b.n_keys && a.min_seq == b.min_seq &&
          a.max_seq == b.max_seq && b.number == number);
    check(a.n_rows == 0 ||
          (memcmp(seg_ids(s), seg_ids(s2), a.n_rows * 8) == 0 &&
           memcmp(seg_row_keys(s), seg_row_keys(s2), a.n_rows * 8) == 0));
    check(a.n_keys == 0 ||
          memcmp(seg_key_ids(s), seg_key_ids(s2), a.n_keys * 8) == 0);
    for (uint64_t k = 0; k < a.n_keys; k++) {
        const unsigned char *p, *q;
        size_t lp, lq;
        int h1 = seg_key_meta(s, k, &p, &lp), h2 = seg_key_meta(s2, k, &q, &lq);
        check(h1 == h2 && lp == lq && (lp == 0 || memcmp(p, q, lp) == 0));
    }
    rc = seg_index(s2, &p2, &size2, NULL);
    check(has_blob ? rc == VEX_OK && size2 == bsize &&
                         (bsize == 0 || memcmp(p2, blob, bsize) == 0)
                   : rc == VEX_NOTFOUND);
    seg_close(s2);
    free(mdata);
    check(vex_vfs_remove(v, path, NULL) == VEX_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_vfs *v = NULL;
    vex_file *f = NULL;
    seg *s = NULL;
    unsigned char *b = NULL;
    const unsigned char *blob = NULL;
    uint64_t number = 1, n_open, n_maps, bsize = 0;
    char path[SEG_NAME_LEN + 1];
    size_t n;
    int flags, rc, irc;

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
        uint64_t *moffs = NULL;
        check(!(flags & 4));
        walk(s, n);
        walk_meta(s, b, n, &moffs);
        index_of(s, n, &irc, &blob, &bsize);
        if (irc != VEX_CORRUPT)
            rewrite(v, s, blob, bsize, irc == VEX_OK, moffs);
        free(moffs);
        seg_close(s);
    }
    vex_vfs_mem_counts(v, &n_open, &n_maps);
    check(n_open == 0 && n_maps == 0);
cleanup:
    vex_vfs_destroy(v);
    free(b);
    return 0;
}
