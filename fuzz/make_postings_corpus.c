/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_postings_corpus.c - writes the seed corpus of fuzz_postings to
 * fuzz/corpus/postings/: blobs built from small seeded texts (empty,
 * one document, block sizes 1, 4 and 128, stemmed with stop words,
 * keys without text), each prefixed with the flags byte 0 (as is) and 1
 * (re-sealed), plus a truncated and a field-damaged copy. With a second
 * directory it also writes seeds for fuzz_segment: a format-5 segment
 * with TEXT and POSTINGS sections (as is, and with a text byte and a
 * postings byte damaged, re-sealed). Built with the fuzz targets, run by
 * hand once:
 *     build/fuzz/make_postings_corpus fuzz/corpus/postings fuzz/corpus/segment
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/vfs.h"
#include "storage/segment.h"
#include "text/postings.h"
#include "util/rng.h"

static const char *dir;

static void put(const char *name, int flags, const unsigned char *p, size_t n)
{
    char path[4096];
    FILE *f;
    unsigned char fl = (unsigned char)flags;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(&fl, 1, 1, f) != 1 ||
        (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static const char *const words[] = {
    "running", "runner", "the",        "cat", "Crème", "brûlée",    "ΑΘΗΝΑ",
    "Москва",  "of",     "connection", "x86", "a",     "databases", "vector",
};

/* A format-5 segment of 9 keys (7 live) with texts, as fuzz_segment
 * seeds: flags byte, then the file. */
static int segment_seeds(const char *segdir)
{
    static const char *const texts[9] = {"running cats",
                                         "",
                                         "Crème brûlée",
                                         "ΑΘΗΝΑ and Москва",
                                         "x86 x86",
                                         "the vector database",
                                         "a",
                                         "dead key text",
                                         "connection"};
    uint64_t ids[7] = {3, 4, 9, 10, 12, 20, 21};
    uint64_t row_keys[7] = {0, 1, 2, 3, 4, 5, 8};
    uint64_t key_ids[9] = {3, 4, 9, 10, 12, 20, 0, 0, 21};
    const unsigned char *tp[9];
    uint32_t tl[9];
    vt_analyzer an = {VT_STEM_PORTER, VT_STOP_ENGLISH};
    seg_write_info wi;
    vex_vfs *v = NULL;
    vex_file *f = NULL;
    uint64_t size = 0;
    unsigned char *b;
    char path[SEG_NAME_LEN + 1];
    int i;
    for (i = 0; i < 9; i++) {
        tp[i] = (const unsigned char *)texts[i];
        tl[i] = (uint32_t)strlen(texts[i]);
    }
    memset(&wi, 0, sizeof wi);
    wi.number = 5;
    wi.dim = 4;
    wi.elem = VEX_ELEM_F32;
    wi.metric = VEX_METRIC_L2;
    wi.index_kind = VEX_INDEX_FLAT;
    wi.n_rows = 7;
    wi.n_keys = 9;
    wi.ids = ids;
    wi.row_keys = row_keys;
    wi.key_ids = key_ids;
    wi.text = tp;
    wi.text_len = tl;
    wi.analyzer = &an;
    if (vx_vfs_mem_create(NULL, &v) != VEX_OK ||
        vx_seg_file_name(path, sizeof path, 5) != VEX_OK ||
        vx_seg_write(v, path, &wi, NULL, NULL) != VEX_OK ||
        vex_vfs_open(v, path, VX_FILE_READONLY, &f, NULL) != VEX_OK ||
        vex_file_size(f, &size, NULL) != VEX_OK)
        return 1;
    b = malloc((size_t)size);
    if (b == NULL || vx_file_read_exact(f, b, (size_t)size, 0, NULL) != VEX_OK)
        return 1;
    vex_file_close(f, NULL);
    vex_vfs_destroy(v);
    dir = segdir;
    put("text_v5", 0, b, (size_t)size);
    b[4096 * 4 + 8 * 10 + 3] ^= 0x40; /* a text byte (TEXT at 16384) */
    put("text_v5_text_damaged", 3, b, (size_t)size);
    b[4096 * 4 + 8 * 10 + 3] ^= 0x40;
    b[4096 * 5 + 20] ^= 1; /* the postings' term count */
    put("text_v5_postings_damaged", 3, b, (size_t)size);
    free(b);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        uint32_t n_keys, block;
        vt_analyzer a;
    } kinds[] = {
        {"empty", 0, 128, {0, 0}},      {"one", 1, 128, {0, 0}},
        {"block1", 12, 1, {0, 0}},      {"block4", 40, 4, {0, 0}},
        {"block128", 300, 128, {0, 0}}, {"stem_stop", 40, 4, {1, 1}},
    };
    vex_mem m;
    size_t i;
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: make_postings_corpus DIR [SEGMENT_DIR]\n");
        return 2;
    }
    dir = argv[1];
    vx_mem_init(&m, NULL);
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        vt_builder *b = NULL;
        unsigned char *blob = NULL;
        size_t len = 0;
        uint32_t k;
        vex_rng r;
        char name[64], text[512];
        vex_rng_seed(&r, 1000 + i);
        if (vx_post_builder_new(&m, &kinds[i].a, kinds[i].block, &b, NULL))
            return 1;
        for (k = 0; k < kinds[i].n_keys; k++) {
            unsigned n = (unsigned)vex_rng_below(&r, 12), j;
            size_t pos = 0;
            if (k % 5 == 4)
                continue; /* no text */
            for (j = 0; j < n; j++)
                pos += (size_t)snprintf(text + pos, sizeof text - pos, "%s ",
                                        words[vex_rng_below(&r, 14)]);
            if (vx_post_builder_add(b, k, text, pos, NULL) != VEX_OK)
                return 1;
        }
        if (vx_post_builder_finish(b, kinds[i].n_keys, &blob, &len, NULL))
            return 1;
        vx_post_builder_free(b);
        snprintf(name, sizeof name, "%s", kinds[i].name);
        put(name, 0, blob, len);
        snprintf(name, sizeof name, "%s_resealed", kinds[i].name);
        put(name, 1, blob, len);
        snprintf(name, sizeof name, "%s_truncated", kinds[i].name);
        put(name, 0, blob, len / 2);
        if (len > 60) {
            blob[len / 2] ^= 0x5a;
            snprintf(name, sizeof name, "%s_damaged", kinds[i].name);
            put(name, 1, blob, len);
        }
        vx_mem_free(&m, blob);
    }
    return argc == 3 ? segment_seeds(argv[2]) : 0;
}
