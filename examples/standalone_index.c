/* SPDX-License-Identifier: Apache-2.0 */
/*
 * standalone_index.c - vex_index, the in-memory index, for programs that
 * want nearest-neighbour search without a database directory: build an
 * HNSW index, search it, serialise it to a buffer and open it again.
 * Uses only <vexdb.h>.
 *
 * Usage: standalone_index
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <vexdb.h>

#define DIM 16
#define N   2000

/* splitmix64: seeded, so every run builds the same data */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(void)
{
    static uint64_t ids[N];
    static float vecs[N][DIM];
    uint64_t seed = 42;
    for (size_t i = 0; i < N; i++) {
        ids[i] = 10 * i; /* any 64-bit ids */
        for (size_t j = 0; j < DIM; j++)
            vecs[i][j] = (float)(next_u64(&seed) >> 40) / (float)(1 << 24);
    }

    /* An HNSW index of 16-dimensional float vectors, squared L2. */
    vex_index_options opt;
    vex_index_options_init(&opt);
    opt.kind = VEX_INDEX_HNSW;
    opt.metric = VEX_METRIC_L2;
    opt.dim = DIM;
    opt.n_threads = 1;
    vex_index *idx = NULL;
    int rc = vex_index_create(&opt, &idx);
    if (rc != VEX_OK) {
        fprintf(stderr, "create: %s\n",
                idx ? vex_index_errmsg(idx) : "no memory");
        vex_index_free(idx);
        return 1;
    }
    if (vex_index_add(idx, ids, vecs, N) != VEX_OK) {
        fprintf(stderr, "add: %s\n", vex_index_errmsg(idx));
        vex_index_free(idx);
        return 1;
    }

    /* Search with the vector of id 770 itself: it should come first. */
    vex_hit hits[5];
    size_t n_hits = 0;
    rc = vex_index_search(idx, vecs[77], 5, NULL, hits, &n_hits);
    int ok = rc == VEX_OK && n_hits == 5 && hits[0].id == 770;
    printf("%llu vectors, %llu bytes; nearest to id 770:",
           (unsigned long long)vex_index_count(idx),
           (unsigned long long)vex_index_memory(idx));
    for (size_t i = 0; i < n_hits; i++)
        printf(" %llu", (unsigned long long)hits[i].id);
    printf("\n");

    /* Serialise into one checksummed buffer (ask for the size first), and
     * open a copy from it: the same searches give the same results. */
    uint64_t size = 0;
    vex_index_serialize(idx, NULL, 0, &size);
    void *buf = malloc(size);
    vex_index *copy = NULL;
    if (buf && vex_index_serialize(idx, buf, size, &size) == VEX_OK &&
        vex_index_open_buffer(buf, size, NULL, &copy) == VEX_OK) {
        vex_hit again[5];
        size_t n_again = 0;
        ok = ok && vex_index_search(copy, vecs[77], 5, NULL, again, &n_again) ==
                       VEX_OK;
        for (size_t i = 0; ok && i < n_hits; i++)
            ok = n_again == n_hits && again[i].id == hits[i].id;
        printf("serialised: %llu bytes, reopened and searched: %s\n",
               (unsigned long long)size, ok ? "same hits" : "DIFFERENT");
    } else {
        fprintf(stderr, "serialize/open: %s\n",
                copy ? vex_index_errmsg(copy) : vex_index_errmsg(idx));
        ok = 0;
    }
    vex_index_free(copy); /* before its buffer */
    free(buf);
    vex_index_free(idx);
    return ok ? 0 : 1;
}
