/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_columns_corpus.c - writes the seed corpus of fuzz_meta_columns to
 * fuzz/corpus/meta_columns/: column blobs (each prefixed with its row
 * count, as the target reads it) of seeded records that reach every
 * encoding: low- and high-cardinality strings, tags, sorted and random
 * int64, bools, doubles (plain and byte-stream-split), nulls, fields of
 * two types under one name, rows without metadata. Built with the tests,
 * run by hand once:
 *     build/fuzz/make_columns_corpus fuzz/corpus/meta_columns
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/column.h"
#include "util/endian.h"
#include "util/rng.h"

static const char *dir;

static void put(const char *name, uint32_t n, const unsigned char *p,
                size_t len)
{
    char path[4096];
    unsigned char hdr[4];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vex_put_u32le(hdr, n);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(hdr, 1, 4, f) != 4 ||
        (len && fwrite(p, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static vm_field fld(const char *name, vm_value v)
{
    vm_field f;
    f.name.p = name;
    f.name.len = (uint32_t)strlen(name);
    f.v = v;
    return f;
}

int main(int argc, char **argv)
{
    static const char *const words[] = {"a", "b", "c", "de",
                                        "\xc3\xa9t\xc3\xa9"};
    static const uint32_t sizes[] = {1, 9, 70, 1030};
    vex_mem mem;
    vex_rng rng;
    if (argc != 2) {
        fprintf(stderr, "usage: make_columns_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    vx_mem_init(&mem, NULL);
    vex_rng_seed(&rng, 42);
    for (int mode = 0; mode < 2; mode++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            uint32_t n = sizes[z];
            vm_record **recs = calloc(n, sizeof *recs);
            unsigned char *blob = NULL;
            size_t len = 0;
            char name[64];
            for (uint32_t r = 0; r < n; r++) {
                vm_field f[8];
                vm_str tags[3];
                size_t k = 0;
                char uniq[32];
                if (mode == 1 && r % 9 == 4)
                    continue; /* no metadata */
                snprintf(uniq, sizeof uniq, "u%u", r * 7919u);
                f[k++] = fld("b", vx_vm_bool(r % 3 == 0));
                f[k++] = fld("d", mode ? vx_vm_double((double)r * 0.5)
                                       : vx_vm_double(vex_rng_normal(&rng)));
                f[k++] =
                    fld("i", mode ? vx_vm_int((int64_t)r / 16)
                                  : vx_vm_int((int64_t)vex_rng_next(&rng)));
                f[k++] = fld("s", vx_vm_cstring(words[r % 5]));
                for (int j = 0; j < 3; j++)
                    tags[j].p = words[(r + (uint32_t)j) % 5],
                    tags[j].len = (uint32_t)strlen(tags[j].p);
                f[k++] = fld("t", vx_vm_tags(tags, r % 4));
                f[k++] = fld("u", vx_vm_cstring(uniq));
                f[k++] = fld("x", r % 2 ? vx_vm_null() : vx_vm_cstring("two"));
                if (vx_vm_record_new(f, k, &mem, NULL, &recs[r]) != VEX_OK) {
                    fprintf(stderr, "record %u\n", r);
                    return 1;
                }
            }
            if (vx_vm_colset_build((const vm_record *const *)recs, n,
                                   vx_vm_colset_zstd() ? VM_BUILD_ZSTD : 0,
                                   &mem, NULL, &blob, &len) != VEX_OK) {
                fprintf(stderr, "build failed\n");
                return 1;
            }
            snprintf(name, sizeof name, "%s_%u", mode ? "ordered" : "random",
                     n);
            put(name, n, blob, len);
            if (len > 20) {
                snprintf(name, sizeof name, "%s_%u_cut",
                         mode ? "ordered" : "random", n);
                put(name, n, blob, len / 2);
            }
            vx_mem_free(&mem, blob);
            for (uint32_t r = 0; r < n; r++)
                vx_vm_record_free(recs[r], &mem);
            free(recs);
        }
    return 0;
}
