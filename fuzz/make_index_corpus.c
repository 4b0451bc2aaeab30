/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_index_corpus.c - writes the seed corpora of the index fuzzers:
 * fuzz/corpus/index/ (blobs: each base index of fz_build_base valid, plus
 * truncated, padded, bit-flipped and re-sealed structurally damaged ones)
 * and fuzz/corpus/index_mutate/ (edit lists for fuzz_index_mutate: each
 * base untouched, and edits of interesting fields with and without
 * re-sealing). Built with the fuzz targets, run by hand once:
 *     build/fuzz/make_index_corpus fuzz/corpus
 * Crashers found by fuzzing are added next to the seeds under crash-*
 * names. The blobs depend only on the library's build algorithm, so a
 * change there changes the seeds (they stay valid inputs either way).
 */
#include <stdio.h>

#include "fuzz_index_common.h"
#include "index/blob.h"

static const char *dir;

static void put(const char *sub, const char *name, const void *p, size_t n)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    f = fopen(path, "wb");
    fz_check(f != NULL && fwrite(p, 1, n, f) == n && fclose(f) == 0);
}

int main(int argc, char **argv)
{
    static const char *names[FZ_N_BASES] = {
        "hnsw_l2",      "hnsw_cosine", "hnsw_hamming", "flat_l2",
        "flat_jaccard", "hnsw_empty",  "hnsw_sq8",     "flat_pq4"};
    unsigned char *blob[FZ_N_BASES], *b;
    uint64_t size[FZ_N_BASES];
    vex_blob_info info;
    vex_err err;
    char name[64];
    int i;
    if (argc != 2) {
        fprintf(stderr, "usage: make_index_corpus CORPUS-DIR\n");
        return 2;
    }
    dir = argv[1];
    for (i = 0; i < FZ_N_BASES; i++) {
        unsigned char in[4];
        fz_check(fz_build_base(i, &blob[i], &size[i]) == VEX_OK);
        snprintf(name, sizeof name, "valid_%s.blob", names[i]);
        put("index", name, blob[i], (size_t)size[i]);
        in[0] = (unsigned char)(i << 2);
        snprintf(name, sizeof name, "base_%s", names[i]);
        put("index_mutate", name, in, 1);
        in[0] = (unsigned char)(i << 2 | 3);
        snprintf(name, sizeof name, "base_%s_resealed_copy", names[i]);
        put("index_mutate", name, in, 1);
    }
    /* damaged blobs of the first HNSW base */
    b = malloc((size_t)size[0] + 1);
    memcpy(b, blob[0], (size_t)size[0]);
    put("index", "trunc_header.blob", b, 200);
    put("index", "trunc_section.blob", b, (size_t)size[0] - 1);
    b[size[0]] = 0;
    put("index", "trailing_byte.blob", b, (size_t)size[0] + 1);
    b[380] ^= 1;
    put("index", "header_crc.blob", b, (size_t)size[0]);
    b[380] ^= 1;
    b[size[0] - 1] ^= 0x10;
    put("index", "section_crc.blob", b, (size_t)size[0]);
    b[size[0] - 1] ^= 0x10;
    vx_err_init(&err);
    fz_check(vx_blob_parse(b, size[0], &info, &err) == VEX_OK);
    vx_err_destroy(&err);
    {
        /* re-sealed: level-0 link of slot 0 out of range, entry point and
         * live count wrong, a level too high */
        const vex_blob_section *s = vx_blob_find(&info, VEX_SEC_SLOTS);
        const vex_blob_section *lv = vx_blob_find(&info, VEX_SEC_LEVELS);
        vex_blob_info bad = info;
        uint32_t far = 1000, *lk = (uint32_t *)(void *)(b + s->offset + 16 + 4);
        lk[1] = far;
        vx_blob_finish(&bad, b);
        put("index", "sealed_bad_link.blob", b, (size_t)size[0]);
        memcpy(b, blob[0], (size_t)size[0]);
        bad.entry = info.n_slots;
        vx_blob_finish(&bad, b);
        put("index", "sealed_bad_entry.blob", b, (size_t)size[0]);
        bad = info;
        bad.n_live++;
        vx_blob_finish(&bad, b);
        put("index", "sealed_bad_n_live.blob", b, (size_t)size[0]);
        bad = info;
        b[lv->offset + 1] = 30;
        vx_blob_finish(&bad, b);
        put("index", "sealed_bad_level.blob", b, (size_t)size[0]);
    }
    {
        /* edit lists: (offset lo, hi, xor) after the flags byte */
        static const unsigned char entry_sealed[] = {1, 72, 0, 0x01};
        static const unsigned char n_live_sealed[] = {1, 40, 0, 0x02};
        static const unsigned char m_sealed[] = {1, 48, 0, 0x07};
        static const unsigned char slot_sealed[] = {1,    0x00, 0x02, 0x40,
                                                    0x94, 0x01, 0x20};
        static const unsigned char flat_sealed[] = {(3 << 2) | 1, 0x90, 0x01,
                                                    0x80};
        static const unsigned char unsealed[] = {2, 0x90, 0x01, 0x80};
        put("index_mutate", "entry_sealed", entry_sealed, sizeof entry_sealed);
        put("index_mutate", "n_live_sealed", n_live_sealed,
            sizeof n_live_sealed);
        put("index_mutate", "m_sealed", m_sealed, sizeof m_sealed);
        put("index_mutate", "slots_sealed", slot_sealed, sizeof slot_sealed);
        put("index_mutate", "flat_vector_sealed", flat_sealed,
            sizeof flat_sealed);
        put("index_mutate", "unsealed_flip", unsealed, sizeof unsealed);
    }
    free(b);
    for (i = 0; i < FZ_N_BASES; i++)
        free(blob[i]);
    return 0;
}
