/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hnsw_reach.c - a diagnostic, not a test: for each segment file named on
 * the command line, open its index in place and list the graph nodes that
 * no search reaches.
 *
 *     hnsw_reach DIR/seg-0000000000000034.vseg ...
 *
 * Per segment it prints the header facts (rows, keys: a flush writes every
 * row of its memtable as a key, a compaction only the live ones), the
 * index check's verdict and graph statistics, and then two measurements
 * through the index's own search: one search with k = nodes + 10 and a
 * beam as wide (which returns every node reachable from where the search
 * lands), and, per node, a search for the node's own vector (k 10, ef
 * 400). Every node either misses is listed with its key, its user id and
 * whether the segment holds it live. Internal headers: it reads segment
 * files without opening a database (which would replay logs and may
 * compact). Exit status 1 when some live node is unreachable.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/ix.h"
#include "io/vfs.h"
#include "storage/segment.h"
#include "util/mem.h"

typedef struct keyset {
    uint64_t *keys;
    unsigned char *vecs;
    size_t n, cap, vb;
} keyset;

static int collect(void *ctx, uint64_t id, const void *vec)
{
    keyset *k = ctx;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1024;
        uint64_t *nk = realloc(k->keys, cap * sizeof *nk);
        unsigned char *nv = realloc(k->vecs, cap * k->vb);
        if (nk == NULL || nv == NULL) {
            free(nk ? nk : k->keys);
            free(nv ? nv : k->vecs);
            k->keys = NULL;
            k->vecs = NULL;
            return 1;
        }
        k->keys = nk;
        k->vecs = nv;
        k->cap = cap;
    }
    k->keys[k->n] = id;
    memcpy(k->vecs + k->n * k->vb, vec, k->vb);
    k->n++;
    return 0;
}

static int has_key(const vex_hit *h, size_t n, uint64_t key)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].id == key)
            return 1;
    return 0;
}

static const char *msg_of(vex_err *e)
{
    static char buf[VEX_ERRMSG_MAX];
    vx_err_copy(e, buf, sizeof buf);
    return buf;
}

static int one_segment(vex_vfs *vfs, const vex_mem *mem, const char *path)
{
    seg *s = NULL;
    seg_info info;
    vx_ix *ix = NULL;
    const void *blob;
    uint64_t size;
    vex_graph_stats st;
    vex_err err;
    keyset ks = {NULL, NULL, 0, 0, 0};
    vex_hit *all = NULL, self[10];
    size_t n_all = 0, miss_all = 0, miss_self = 0, live_missed = 0;
    int rc, bad = 0;

    const char *base = strrchr(path, '/');
    uint64_t number = 0;
    vx_err_init(&err);
    base = base ? base + 1 : path;
    if (!vx_seg_parse_name(base, &number)) {
        printf("%s: not a segment file name (seg-<16 hex digits>.vseg)\n",
               path);
        return 1;
    }
    rc = vx_seg_open(vfs, path, number, mem, &err, &s);
    if (rc == VEX_OK)
        rc = vx_seg_index(s, &blob, &size, &err);
    if (rc == VEX_OK)
        rc = vx_ix_open_buffer(blob, size, NULL, NULL, &ix, &err);
    if (rc != VEX_OK) {
        printf("%s: %s: %s\n", path, vex_status_name(rc), msg_of(&err));
        goto out;
    }
    vx_seg_get_info(s, &info);
    printf("%s: %" PRIu64 " rows, %" PRIu64 " keys (%s), index %s\n", path,
           info.n_rows, info.n_keys,
           info.n_rows == info.n_keys ? "every key live"
                                      : "dead keys: a flushed memtable",
           vx_ix_kind(ix) == VEX_INDEX_HNSW ? "hnsw" : "flat");
    if (vx_ix_kind(ix) != VEX_INDEX_HNSW)
        goto out;
    rc = vx_ix_graph_stats(ix, &st, &err);
    printf("  check: %s%s%s\n", vex_status_name(rc), rc ? ": " : "",
           rc ? msg_of(&err) : "");
    printf("  nodes %" PRIu64 ", unreachable on level 0 from the entry "
           "%" PRIu64 ", max level %u, degree %u..%u\n",
           st.nodes, st.unreachable, st.max_level, st.min_degree,
           st.max_degree);
    ks.vb = vx_ix_config(ix)->vec_bytes;
    if (vx_ix_scan(ix, collect, &ks) != 0 || ks.keys == NULL) {
        printf("  out of memory\n");
        goto out;
    }
    all = malloc((ks.n + 10) * sizeof *all);
    if (all == NULL)
        goto out;
    for (size_t i = 0; i < ks.n; i++) {
        vex_search_opts so;
        size_t n_self = 0;
        int in_all;
        vx_ix_search_opts_init(&so);
        so.n_threads = 1;
        if (i == 0) { /* one search that must return everything */
            so.ef = (unsigned)(ks.n + 10);
            rc = vx_ix_search(ix, ks.vecs, ks.n + 10, &so, all, &n_all, &err);
            if (rc != VEX_OK) {
                printf("  search: %s\n", msg_of(&err));
                goto out;
            }
            printf("  one search with k = %zu returns %zu\n", ks.n + 10, n_all);
        }
        so.ef = 400;
        rc =
            vx_ix_search(ix, ks.vecs + i * ks.vb, 10, &so, self, &n_self, &err);
        if (rc != VEX_OK) {
            printf("  search: %s\n", msg_of(&err));
            goto out;
        }
        in_all = has_key(all, n_all, ks.keys[i]);
        if (!in_all || !has_key(self, n_self, ks.keys[i])) {
            int live = vx_seg_key_live(s, ks.keys[i]);
            miss_all += !in_all;
            miss_self += !has_key(self, n_self, ks.keys[i]);
            live_missed += live;
            printf("  key %" PRIu64 " (id %" PRIu64 ", %s): %s%s\n", ks.keys[i],
                   vx_seg_key_id(s, ks.keys[i]),
                   live ? "live in the segment" : "dead in the segment",
                   in_all ? "" : "missing from the k = n + 10 search; ",
                   has_key(self, n_self, ks.keys[i])
                       ? "found by its own vector"
                       : "not found by its own vector");
        }
    }
    printf("  missed: %zu by the full search, %zu by their own vector, %zu "
           "of them live in the segment\n",
           miss_all, miss_self, live_missed);
    bad = st.unreachable > 0 || live_missed > 0;
out:
    free(all);
    free(ks.keys);
    free(ks.vecs);
    vx_ix_free(ix);
    if (s)
        vx_seg_close(s);
    vx_err_destroy(&err);
    return bad;
}

int main(int argc, char **argv)
{
    vex_vfs *vfs = NULL;
    vex_mem mem;
    int bad = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s SEGMENT.vseg ...\n", argv[0]);
        return 2;
    }
    vx_mem_init(&mem, NULL);
    if (vx_vfs_posix_create(NULL, &vfs) != VEX_OK) {
        fprintf(stderr, "cannot create the posix vfs\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        bad |= one_segment(vfs, &mem, argv[i]);
    vfs->methods->destroy(vfs);
    return bad;
}
