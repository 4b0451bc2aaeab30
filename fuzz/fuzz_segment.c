/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_segment.c - fuzz target for the segment reader (src/storage/
 * segment.c), format version 4 (and 3, 2). Input: byte 0 is flags, the rest is
 * a segment file. Flags: bit 0 re-seals the header CRC (bytes 508..511) after
 * bit 1 has re-sealed the CRC of every section-table entry (at 88 + 24 * i,
 * n_sections at 80) whose bounds lie inside the file, so damaged fields get
 * past the checksums and the structural and key checks behind them are what is
 * fuzzed; bit 2 opens with a wrong expected file number. The file is written to
 * an in-memory vfs as seg-<number>.vseg, the number taken from bytes 16..23 of
 * its header (1 when shorter), and opened with vx_seg_open. Checked: the status
 * is OK, CORRUPT or UNSUPPORTED and nothing leaks; an opened segment has the
 * input's size, n_rows <= n_keys, strictly ascending ids that vx_seg_find
 * finds at their row keys (and their successors absent unless the next
 * id), every row key live and mapping back to its id through
 * vx_seg_key_id and the KEYIDS array, exactly n_rows live keys, every dead
 * key's id 0, nothing live at or past n_keys; vx_seg_index either fails
 * (CORRUPT, the same on a second call) or returns a 64-aligned region
 * inside the file whose bytes are all read; the META section lies inside
 * the file, and its metadata columns either open (vx_vm_colset_open, n_keys
 * rows) and rebuild every live key's record, or are refused as
 * CORRUPT/UNSUPPORTED, without leaks; every key's payload lies inside
 * the file, at most VEX_MAX_PAYLOAD bytes, none for a dead key or a key
 * past n_keys, and every byte is read. Then the writer must take
 * back what the reader accepted: vx_seg_write of the opened segment's
 * fields, arrays, metadata and payloads (and blob, unless its checksum
 * failed) succeeds, and the result opens with the same fields, arrays,
 * metadata, payloads and blob. A DiskANN segment (format 6) is not
 * rewritten (its writer builds a graph); its index is opened through the
 * file, checked, searched and every vector read instead (walk_dann).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "index/diskann.h"
#include "io/vfs.h"
#include "meta/column.h"
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

    vx_seg_get_info(s, &info);
    check(info.file_size == size);
    n = info.n_rows;
    nk = info.n_keys;
    check(n <= nk && nk <= (size - 4096) / 8);
    ids = vx_seg_ids(s);
    rk = vx_seg_row_keys(s);
    ki = vx_seg_key_ids(s);
    check((uintptr_t)ids % 8 == 0 && (uintptr_t)rk % 8 == 0 &&
          (uintptr_t)ki % 8 == 0);
    for (i = 0; i < n; i++) {
        check(i == 0 || ids[i] > ids[i - 1]);
        key = UINT64_MAX;
        check(vx_seg_find(s, ids[i], &key) == 1 && key == rk[i] && key < nk);
        check(vx_seg_key_live(s, key) == 1);
        check(vx_seg_key_id(s, key) == ids[i] && ki[key] == ids[i]);
        if (ids[i] != UINT64_MAX && (i + 1 == n || ids[i + 1] != ids[i] + 1))
            check(vx_seg_find(s, ids[i] + 1, NULL) == 0);
    }
    if (n == 0 || ids[0] > 0)
        check(vx_seg_find(s, 0, NULL) == 0);
    for (i = 0; i < nk; i++) {
        int live = vx_seg_key_live(s, i);
        check(live == 0 || live == 1);
        check(vx_seg_key_id(s, i) == ki[i]);
        check(live || ki[i] == 0);
        n_live += (uint64_t)live;
    }
    check(n_live == n);
    check(vx_seg_key_live(s, nk) == 0 && vx_seg_key_id(s, nk) == 0);
    check(vx_seg_key_live(s, UINT64_MAX) == 0);
}

/* The META section: inside the file; its columns open strictly or are
 * refused, and when they open every live key's record rebuilds. Returns
 * the section (NULL when there is none) for the rewrite. */
static const unsigned char *walk_meta(seg *s, size_t size, size_t *mlen)
{
    seg_info info;
    vex_mem mem;
    vm_colset *cs = NULL;
    const unsigned char *p = NULL;
    uint64_t off = 0;
    int rc;
    vx_seg_get_info(s, &info);
    check(vx_mem_init(&mem, NULL) == VEX_OK);
    *mlen = 0;
    if (!vx_seg_meta(s, &p, mlen, &off)) {
        check(p == NULL && *mlen == 0);
        return NULL;
    }
    check(off >= 4096 && off + *mlen <= size);
    if (info.n_keys > UINT32_MAX)
        return p;
    rc = vx_vm_colset_open(p, *mlen, (uint32_t)info.n_keys, &mem, NULL, &cs);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    for (uint64_t k = 0; cs && k < info.n_keys; k++) {
        vm_record *r = NULL;
        if (!vx_seg_key_live(s, k))
            continue;
        rc = vx_vm_colset_record(cs, (uint32_t)k, &mem, NULL, &r);
        check(rc == VEX_OK || rc == VEX_CORRUPT);
        vx_vm_record_free(r, &mem);
    }
    vx_vm_colset_close(cs);
    return p;
}

/* The PAYLOAD section: each key's payload inside the file and read. */
static void walk_payloads(seg *s, size_t size)
{
    seg_info info;
    volatile unsigned sum = 0;
    uint64_t total = 0;
    vx_seg_get_info(s, &info);
    for (uint64_t k = 0; k <= info.n_keys; k++) {
        const unsigned char *p;
        size_t len;
        vx_seg_payload(s, k, &p, &len);
        check((p == NULL) == (len == 0) && len <= VEX_MAX_PAYLOAD);
        check(len == 0 || (k < info.n_keys && vx_seg_key_live(s, k)));
        for (size_t i = 0; i < len; i++)
            sum += p[i];
        total += len;
    }
    check(total == vx_seg_payload_bytes(s) && total <= size);
    (void)sum;
}

/* The TEXT and POSTINGS sections: each key's text inside the file, the
 * postings agreeing on which keys have one, a BM25 query of every term. */
static void walk_texts(seg *s, size_t size)
{
    seg_info info;
    const vt_postings *post = vx_seg_postings(s);
    uint64_t total = 0;
    vx_seg_get_info(s, &info);
    for (uint64_t k = 0; k <= info.n_keys; k++) {
        const char *p;
        size_t len;
        vx_seg_text(s, k, &p, &len);
        check((p == NULL) == (len == 0) && len <= VT_MAX_TEXT);
        check(len == 0 || (k < info.n_keys && vx_seg_key_live(s, k)));
        check(vx_text_check_utf8(p, len, "text", NULL) == VEX_OK);
        if (post != NULL && k < info.n_keys)
            check((len > 0) ==
                  (vx_post_doc_len(post, (uint32_t)k) != VT_NO_TEXT));
        total += len;
    }
    check(total == vx_seg_text_bytes(s) && total <= size);
    if (post != NULL && vx_post_n_docs(post) > 0) {
        vt_bm25 prm = {1.2, 0.75, 1.0};
        uint32_t t;
        prm.avgdl =
            vx_post_total_len(post) > 0
                ? (double)vx_post_total_len(post) / (double)vx_post_n_docs(post)
                : 1.0;
        for (t = 0; t < vx_post_n_terms(post) && t < 64; t++) {
            vt_qterm q = {t, 1.0};
            vt_hit h[4];
            size_t nh;
            check(vx_post_search(post, &prm, &q, 1, 4, NULL, NULL, h, &nh, NULL,
                                 NULL) == VEX_OK);
            for (size_t i = 0; i < nh; i++)
                check(vx_seg_key_live(s, h[i].key));
        }
    }
}

/* The INDEX section: *rc of vx_seg_index (stable across calls); *blob and
 * *bsize when VEX_OK, every byte read. */
static void index_of(seg *s, size_t size, int *rc, const unsigned char **blob,
                     uint64_t *bsize)
{
    const void *vp = NULL;
    uint64_t i;
    volatile unsigned sum = 0;
    int rc2;
    *rc = vx_seg_index(s, &vp, bsize, NULL);
    rc2 = vx_seg_index(s, &vp, bsize, NULL);
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

/* A DiskANN segment (format 6): its index opens from the section through
 * the file (with a cache of two pages) or is refused as CORRUPT or
 * UNSUPPORTED; an opened one holds n_keys vectors of the segment's
 * dimension, passes or fails vx_dann_check, and answers a search and a
 * read of every key's vector (each OK or CORRUPT), without leaks. */
static void walk_dann(seg *s)
{
    seg_info info;
    uint64_t off, len;
    vex_mem mem;
    vx_dann *d = NULL;
    vx_dann_check_stats cs;
    int rc;
    vx_seg_get_info(s, &info);
    vx_seg_index_range(s, &off, &len);
    check(vx_mem_init(&mem, NULL) == VEX_OK);
    rc = vx_dann_open(&mem, vx_seg_file(s), off, len, 2 * VX_DANN_PAGE, &d,
                      NULL);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    if (rc != VEX_OK)
        return;
    check(vx_dann_count(d) >= VX_DANN_MIN_ROWS);
    rc = vx_dann_check(d, &cs, NULL);
    check(rc == VEX_OK || rc == VEX_CORRUPT);
    if (rc == VEX_OK)
        check(cs.nodes == vx_dann_count(d) && cs.unreachable <= cs.nodes);
    if (vx_dann_dim(d) <= 4096 && vx_dann_count(d) <= 100000) {
        vx_dann_scratch *sc = NULL;
        float *q = calloc(vx_dann_dim(d), sizeof *q);
        if (q && vx_dann_acquire(d, 32, 4, &sc) == VEX_OK) {
            vex_hit hits[8];
            size_t nh = 0;
            q[0] = 1.0f;
            rc = vx_dann_search(d, sc, q, 8, 32, 4, NULL, NULL, hits, &nh, NULL,
                                NULL);
            check(rc == VEX_OK || rc == VEX_CORRUPT);
            check(nh <= 8);
            for (size_t i = 0; rc == VEX_OK && i < nh; i++)
                check(hits[i].id < vx_dann_count(d) || !vx_dann_dense_keys(d));
            if (vx_dann_dense_keys(d)) {
                float *vec = malloc(vx_dann_dim(d) * sizeof *vec);
                for (uint64_t k = 0; vec && k < vx_dann_count(d); k++) {
                    rc = vx_dann_vector(d, sc, (uint32_t)k, vec, NULL, NULL);
                    check(rc == VEX_OK || rc == VEX_CORRUPT);
                }
                free(vec);
            }
            vx_dann_release(d, sc);
        }
        free(q);
    }
    vx_dann_close(d);
}

/* vx_seg_write of what `s` holds, reopened: the same segment. */
static void rewrite(vex_vfs *v, seg *s, const unsigned char *blob,
                    uint64_t bsize, int has_blob, const unsigned char *meta,
                    size_t mlen)
{
    seg_write_info wi;
    seg_info a, b;
    seg *s2 = NULL;
    const void *p2 = NULL;
    uint64_t size2 = 0, number;
    char path[SEG_NAME_LEN + 1];
    const unsigned char **pay = NULL, **text = NULL;
    uint32_t *pay_len = NULL, *text_len = NULL;
    vt_analyzer an;
    int rc;
    vx_seg_get_info(s, &a);
    if (vx_seg_postings(s) != NULL) {
        size_t len;
        const char *t;
        an = vx_post_analyzer(vx_seg_postings(s));
        text = malloc((a.n_keys ? a.n_keys : 1) * sizeof *text);
        text_len = malloc((a.n_keys ? a.n_keys : 1) * sizeof *text_len);
        check(text != NULL && text_len != NULL);
        for (uint64_t k = 0; k < a.n_keys; k++) {
            vx_seg_text(s, k, &t, &len);
            text[k] = (const unsigned char *)t;
            text_len[k] = (uint32_t)len;
        }
    }
    number = a.number ^ 0x100; /* another name in the same vfs */
    if (vx_seg_payload_bytes(s) > 0) {
        size_t len;
        pay = malloc(a.n_keys * sizeof *pay);
        pay_len = malloc(a.n_keys * sizeof *pay_len);
        check(pay != NULL && pay_len != NULL);
        for (uint64_t k = 0; k < a.n_keys; k++) {
            vx_seg_payload(s, k, &pay[k], &len);
            pay_len[k] = (uint32_t)len;
        }
    }
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
    wi.ids = vx_seg_ids(s);
    wi.row_keys = vx_seg_row_keys(s);
    wi.key_ids = vx_seg_key_ids(s);
    wi.index_blob = has_blob ? blob : NULL;
    wi.blob_size = has_blob ? bsize : 0;
    if (has_blob && blob == NULL) /* an empty blob: any non-NULL pointer */
        wi.index_blob = &wi;
    wi.meta = meta;
    wi.meta_len = meta ? mlen : 0;
    wi.pay = pay;
    wi.pay_len = pay_len;
    wi.text = text;
    wi.text_len = text_len;
    wi.analyzer = text ? &an : NULL;
    check(vx_seg_file_name(path, sizeof path, number) == VEX_OK);
    rc = vx_seg_write(v, path, &wi, NULL, NULL);
    check(rc == VEX_OK);
    check(vx_seg_open(v, path, number, NULL, NULL, &s2) == VEX_OK);
    vx_seg_get_info(s2, &b);
    check(a.dim == b.dim && a.elem == b.elem && a.metric == b.metric &&
          a.index_kind == b.index_kind && a.n_rows == b.n_rows &&
          a.n_keys == b.n_keys && a.min_seq == b.min_seq &&
          a.max_seq == b.max_seq && b.number == number);
    check(a.n_rows == 0 ||
          (memcmp(vx_seg_ids(s), vx_seg_ids(s2), a.n_rows * 8) == 0 &&
           memcmp(vx_seg_row_keys(s), vx_seg_row_keys(s2), a.n_rows * 8) == 0));
    check(a.n_keys == 0 ||
          memcmp(vx_seg_key_ids(s), vx_seg_key_ids(s2), a.n_keys * 8) == 0);
    {
        const unsigned char *p, *q;
        size_t lp, lq;
        uint64_t o1, o2;
        int h1 = vx_seg_meta(s, &p, &lp, &o1),
            h2 = vx_seg_meta(s2, &q, &lq, &o2);
        check(h1 == h2 && lp == lq && (lp == 0 || memcmp(p, q, lp) == 0));
        check(vx_seg_payload_bytes(s) == vx_seg_payload_bytes(s2));
        for (uint64_t k = 0; k < a.n_keys; k++) {
            vx_seg_payload(s, k, &p, &lp);
            vx_seg_payload(s2, k, &q, &lq);
            check(lp == lq && (lp == 0 || memcmp(p, q, lp) == 0));
        }
        check(vx_seg_text_bytes(s) == vx_seg_text_bytes(s2));
        check((vx_seg_postings(s) == NULL) == (vx_seg_postings(s2) == NULL));
        for (uint64_t k = 0; k < a.n_keys; k++) {
            const char *x, *y;
            vx_seg_text(s, k, &x, &lp);
            vx_seg_text(s2, k, &y, &lq);
            check(lp == lq && (lp == 0 || memcmp(x, y, lp) == 0));
        }
        if (vx_seg_postings(s) != NULL)
            check(vx_post_n_docs(vx_seg_postings(s)) ==
                  vx_post_n_docs(vx_seg_postings(s2)));
    }
    free(pay);
    free(pay_len);
    free(text);
    free(text_len);
    rc = vx_seg_index(s2, &p2, &size2, NULL);
    check(has_blob ? rc == VEX_OK && size2 == bsize &&
                         (bsize == 0 || memcmp(p2, blob, bsize) == 0)
                   : rc == VEX_NOTFOUND);
    vx_seg_close(s2);
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
    if (vx_vfs_mem_create(NULL, &v) != VEX_OK)
        goto cleanup;
    check(vx_seg_file_name(path, sizeof path, number) == VEX_OK);
    check(vx_seg_parse_name(path, NULL) == 1);
    check(vex_vfs_open(v, path, VX_FILE_READWRITE | VX_FILE_CREATE, &f, NULL) ==
          VEX_OK);
    if (n)
        check(vex_file_write(f, b, n, 0, NULL) == VEX_OK);
    vex_file_close(f, NULL);
    rc = vx_seg_open(v, path, flags & 4 ? number ^ 1 : number, NULL, NULL, &s);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    check((rc == VEX_OK) == (s != NULL));
    if (s) {
        const unsigned char *meta;
        size_t mlen = 0;
        check(!(flags & 4));
        walk(s, n);
        meta = walk_meta(s, n, &mlen);
        walk_payloads(s, n);
        walk_texts(s, n);
        index_of(s, n, &irc, &blob, &bsize);
        if (vx_seg_kind(s) == VEX_INDEX_DISKANN)
            walk_dann(s); /* its writer builds a graph: no rewrite */
        else if (irc != VEX_CORRUPT)
            rewrite(v, s, blob, bsize, irc == VEX_OK, meta, mlen);
        vx_seg_close(s);
    }
    vx_vfs_mem_counts(v, &n_open, &n_maps);
    check(n_open == 0 && n_maps == 0);
cleanup:
    vex_vfs_destroy(v);
    free(b);
    return 0;
}
