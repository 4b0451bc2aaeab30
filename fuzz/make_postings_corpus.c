/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_postings_corpus.c - writes the seed corpus of fuzz_postings to
 * fuzz/corpus/postings/: blobs built from small seeded texts (empty,
 * one document, block sizes 1, 4 and 128, stemmed with stop words,
 * keys without text), each prefixed with the flags byte 0 (as is) and 1
 * (re-sealed), plus a truncated and a field-damaged copy. Built with the
 * fuzz targets, run by hand once:
 *     build/fuzz/make_postings_corpus fuzz/corpus/postings
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (argc != 2) {
        fprintf(stderr, "usage: make_postings_corpus DIR\n");
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
    return 0;
}
